/* derived.h - the state recsys_refresh() builds from the model and swaps in atomically.
 * Immutable once published; requests read the one that was current when they started.
 *
 * One general mechanism: each kind of derived state (a text index, a neighbour table, a factor
 * model...) has a slot and a builder. The engine's refresh runs the builder of every slot that
 * an enabled source needs (under the shared lock: requests go on), then publishes the new set.
 * A source reads its state as q->derived->state[slot] and must cope with NULL (not built). */
#ifndef RECSYS_MODEL_DERIVED_H
#define RECSYS_MODEL_DERIVED_H
#include "model.h"

typedef enum recsys__derived_slot {
    RECSYS__DERIVED_BM25 = 0, /* lib/text/bm25.h: text index over the catalog */
    RECSYS__DERIVED_ITEMKNN,  /* lib/retrieve/item2item.h: item-item neighbours */
    RECSYS__DERIVED_RP3,      /* lib/retrieve/graph.h: RP3beta item-item transitions */
    RECSYS__DERIVED_EASE,     /* lib/retrieve/ease.h: the EASE item-item weight matrix */
    RECSYS__DERIVED_IALS,     /* lib/retrieve/ials.h: implicit ALS factors */
    RECSYS__DERIVED_VECTOR,   /* lib/retrieve/vector.h: the faiss index over item vectors */
    RECSYS__DERIVED_SLOTS
} recsys__derived_slot;

/* What a builder gets: the engine's allocator, the model (read-only: builders run under the
 * engine's shared lock), the option values by table slot (lib/core/options.h), the engine's
 * seed (for any random initialisation: builds are deterministic for a seed), and whether to
 * show progress (true only when stderr is a terminal). */
typedef struct recsys__build_ctx {
    const recsys__mem *mem;
    const recsys__model *model;
    const double *opt;
    uint64_t seed;
    bool progress;
    const char *const *str_opt; /* string option values by table slot (NULL = the default) */
    void *const *built;         /* state[] of this refresh so far, by slot */
} recsys__build_ctx;

/* Builders run in slot order, so a builder may read the state of a lower slot that was built
 * in the same refresh through ctx->built (e.g. the vector index over iALS item factors). */
/* Builds one slot's state. *out may be set to NULL (nothing to build, e.g. no events). */
#define RECSYS__BUILDER_SOURCES 4

typedef struct recsys__builder {
    int slot;
    /* the built-in sources that read it (unused entries NULL): built only when one of them is
     * enabled */
    const char *sources[RECSYS__BUILDER_SOURCES];
    recsys_status (*build)(const recsys__build_ctx *ctx, void **out);
    void (*free)(const recsys__mem *m, void *state);
    bool personal; /* learnt from users' events: dropped when a user is forgotten */
} recsys__builder;

typedef struct recsys__derived {
    uint64_t generation;         /* 1, 2, ... one per refresh */
    size_t nitems;               /* catalog slots when built (later items are not in it) */
    void *state[RECSYS__DERIVED_SLOTS];
    const recsys__builder *builder[RECSYS__DERIVED_SLOTS]; /* who built each (frees it) */
} recsys__derived;

#endif
