/* derived.h - the state recsys_refresh() builds from the catalog and swaps in atomically.
 * Immutable once published; requests read the one that was current when they started. */
#ifndef RECSYS_MODEL_DERIVED_H
#define RECSYS_MODEL_DERIVED_H
#include "model.h"

struct recsys__bm25; /* lib/text/bm25.h */

typedef struct recsys__derived {
    uint64_t generation;        /* 1, 2, ... one per refresh */
    struct recsys__bm25 *bm25;  /* text index over title, description, tags, category */
    size_t nitems;              /* catalog slots when built (later items are not indexed) */
} recsys__derived;

#endif
