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
#include "../core/error.h"

typedef enum recsys__derived_slot {
    RECSYS__DERIVED_BM25 = 0, /* lib/text/bm25.h: text index over the catalog */
    RECSYS__DERIVED_ITEMKNN,  /* lib/retrieve/item2item.h: item-item neighbours */
    RECSYS__DERIVED_RP3,      /* lib/retrieve/graph.h: RP3beta item-item transitions */
    RECSYS__DERIVED_EASE,     /* lib/retrieve/ease.h: the EASE item-item weight matrix */
    RECSYS__DERIVED_IALS,     /* lib/retrieve/ials.h: implicit ALS factors */
    RECSYS__DERIVED_VECTOR,   /* lib/retrieve/vector.h: the faiss index over item vectors */
    RECSYS__DERIVED_CONTENT,  /* lib/retrieve/vector.h: the content source's item text vectors */
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
    /* The store's copy of a builder's saved state (its hooks' blob), offered to builders that
     * save one: reads blob name into *data (*len bytes, allocated with mem; the builder frees
     * it with recsys__free). RECSYS_E_NOT_FOUND when there is none; another status (e.g.
     * RECSYS_E_CORRUPT, a damaged blob) with a message when the store failed. NULL when the
     * engine offers nothing (a store without blobs, or a test). */
    recsys_status (*read_saved)(void *arg, const char *name, void **data, size_t *len);
    void *saved_arg;
    /* Where a builder that recovers from a problem it should not hide (a saved blob that
     * could not be read or was damaged: it builds instead) records it with
     * recsys__build_note(); NULL = nowhere. The first note wins. */
    recsys__err_saved *note;
} recsys__build_ctx;

/* Records the thread's current error as the build's note (see note above). */
static inline void recsys__build_note(const recsys__build_ctx *ctx)
{
    if (ctx->note && ctx->note->status == RECSYS_OK && recsys__err_status() != RECSYS_OK)
        recsys__err_save(ctx->note);
}

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

/* What a builder may offer beyond build and free, every member optional (NULL). Kept apart
 * from recsys__builder so that the builders initialised positionally need no change; the
 * engine pairs each builder with its hooks (lib/engine/refresh.c) and a published set keeps
 * them by slot. */
typedef struct recsys__builder_hooks {
    /* Incremental upkeep between refreshes (both or neither). The engine keeps a published
     * state in step with the catalog: under its exclusive lock (no request reads the state
     * meanwhile: requests hold the shared lock for their whole run), it calls reserve(n)
     * before it changes up to n items, then, once the change is committed (stored),
     * item_changed() once per item put or removed. reserve may allocate and fail
     * (RECSYS_E_NOMEM: the state means what it meant; room it already made is harmless);
     * item_changed cannot fail when reserve made room for it (an item may be reported more
     * than once: it reads the item's current value in model, NULL when removed). A request
     * then sees the change without a refresh. */
    recsys_status (*reserve)(const recsys__mem *m, void *state, const recsys__model *model,
                             size_t n);
    void (*item_changed)(const recsys__mem *m, void *state, const recsys__model *model,
                         uint32_t item);
    /* Saving the state in the store (stores without blobs never save). blob[0] names the
     * saved state, blob[1] (NULL = none) the saved state when it holds personal data (learnt
     * from users' events): that one is removed when a user is forgotten. After a build,
     * save() serialises the state into *data (*len bytes, allocated with m; the engine frees
     * it) and picks the name (*which = 0 or 1), or sets *data NULL when there is nothing to
     * save (e.g. the state was read from that blob). The engine then puts it and removes the
     * other name. A build may start from the saved copy (ctx->read_saved) when it still
     * matches what it would build. A failed save or read never fails the build. */
    const char *blob[2];
    recsys_status (*save)(const recsys__mem *m, const void *state, int *which, void **data,
                          size_t *len);
    /* Incremental upkeep from feedback (lib/engine/observe.h): one user's positive items
     * (recsys__user_positives, ascending) went from a to b; called under the exclusive lock
     * once the events are committed; cannot fail. lost() says a change was missed (the engine
     * could not compute a or b): the state stops following until a refresh replaces it. */
    void (*positives_changed)(void *state, const uint32_t *a_items, const float *a_w,
                              size_t na, const uint32_t *b_items, const float *b_w, size_t nb);
    void (*lost)(void *state);
} recsys__builder_hooks;

typedef struct recsys__derived {
    uint64_t generation;         /* 1, 2, ... one per refresh */
    size_t nitems;               /* catalog slots when built (later items are not in it) */
    void *state[RECSYS__DERIVED_SLOTS];
    const recsys__builder *builder[RECSYS__DERIVED_SLOTS]; /* who built each (frees it) */
    const recsys__builder_hooks *hooks[RECSYS__DERIVED_SLOTS]; /* its hooks, or NULL */
    /* Items changed since a refresh began building its replacement: recsys_refresh builds
     * under the shared lock and publishes under the exclusive one, and changes made in
     * between reach this set's item_changed hooks but not the new set's; refresh replays
     * them into the new set before publishing it. pending counts refreshes building (it
     * changes under the shared lock, hence atomic); changed[] grows only while one is, under
     * the exclusive lock, and is emptied by the first change after none is. */
    atomic_int pending;
    uint32_t *changed;
    size_t nchanged, changed_cap;
} recsys__derived;

/* Makes room in every state of d whose hooks have reserve, and in d's change log, for n
 * item changes. Caller holds the engine's lock exclusively. RECSYS_E_NOMEM leaves every
 * state meaning what it meant. */
static inline recsys_status recsys__derived_reserve(const recsys__mem *m, recsys__derived *d,
                                                    const recsys__model *model, size_t n)
{
    if (!d)
        return RECSYS_OK;
    if (atomic_load(&d->pending) > 0 && n > d->changed_cap - d->nchanged)
        RECSYS_TRY(RECSYS_GROW(m, d->changed, d->changed_cap, d->nchanged + n));
    for (int s = 0; s < RECSYS__DERIVED_SLOTS; s++)
        if (d->hooks[s] && d->state[s] && d->hooks[s]->reserve)
            RECSYS_TRY(d->hooks[s]->reserve(m, d->state[s], model, n));
    return RECSYS_OK;
}

/* Reports one committed item change (put or removed) to every state of d whose hooks have
 * item_changed, and logs it while a refresh is building. Cannot fail after
 * recsys__derived_reserve made room for it. Caller holds the engine's lock exclusively. */
static inline void recsys__derived_item_changed(const recsys__mem *m, recsys__derived *d,
                                                const recsys__model *model, uint32_t item)
{
    if (!d)
        return;
    if (atomic_load(&d->pending) == 0)
        d->nchanged = 0;
    else if (d->nchanged < d->changed_cap)
        d->changed[d->nchanged++] = item;
    for (int s = 0; s < RECSYS__DERIVED_SLOTS; s++)
        if (d->hooks[s] && d->state[s] && d->hooks[s]->item_changed)
            d->hooks[s]->item_changed(m, d->state[s], model, item);
}

#endif
