/* rank.h - items kept in the order of a decayed counter, so a source can read the top
 * without scanning the catalog.
 *
 * Every counter decays with the same half-life, so the order of v * 2^(-(t - ts) / hl) is the
 * same at every time t: it is the order of key = log2(v) + ts / hl. A max-heap on that key,
 * with each item's position, is updated as counters change (O(log n), no allocation: the
 * arrays grow with the catalog) and walked best first for a request. */
#ifndef RECSYS_MODEL_RANK_H
#define RECSYS_MODEL_RANK_H
#include "../core/alloc.h"

typedef struct recsys__rank {
    uint32_t *heap; /* item indices; heap[0] has the largest key */
    uint32_t *pos;  /* item -> heap index + 1, 0 when absent */
    double *key;    /* item -> key (valid while present) */
    size_t n;
} recsys__rank;

/* Grows the per-item arrays from oldcap to cap items (new items absent). */
recsys_status recsys__rank_grow(const recsys__mem *m, recsys__rank *r, size_t oldcap, size_t cap);
void recsys__rank_free(const recsys__mem *m, recsys__rank *r);
/* Sets item's counter: present with key log2(v) + ts / hl when v > 0, else absent. */
void recsys__rank_set(recsys__rank *r, uint32_t item, double v, int64_t ts, double hl);
void recsys__rank_clear(recsys__rank *r);

/* Calls visit(arg, item, key) for items in descending key order (ties: lower item first)
 * until it returns false or every item was visited. Scratch memory from m: O(visited). */
recsys_status recsys__rank_walk(const recsys__rank *r, const recsys__mem *m,
                                bool (*visit)(void *arg, uint32_t item, double key), void *arg);

#endif
