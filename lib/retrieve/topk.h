/* topk.h - the best k (item, score) pairs of a stream, for candidate sources: a min-heap of
 * capacity k; ties go to the lower item index, so every source orders deterministically. */
#ifndef RECSYS_RETRIEVE_TOPK_H
#define RECSYS_RETRIEVE_TOPK_H
#include "../model/context.h"

typedef struct recsys__scored {
    uint32_t item;
    double score;
} recsys__scored;

typedef struct recsys__topk {
    const recsys__mem *mem;
    recsys__scored *h;
    size_t n, cap;
} recsys__topk;

/* cap 0 keeps nothing (and allocates nothing). */
recsys_status recsys__topk_init(recsys__topk *t, const recsys__mem *m, size_t cap);
void recsys__topk_free(recsys__topk *t);

/* True when (a) ranks below (b): a lower score, or an equal score and a higher item index. */
static inline bool recsys__scored_below(const recsys__scored *a, const recsys__scored *b)
{
    return a->score < b->score || (a->score == b->score && a->item > b->item);
}

/* Offers one pair; kept when the heap has room or it beats the worst kept. */
void recsys__topk_offer(recsys__topk *t, uint32_t item, double score);
/* Orders the kept pairs best first (the heap is consumed: t->h[0..n) is then sorted). */
void recsys__topk_sort(recsys__topk *t);
/* Sorts, then adds the pairs best first to a source's candidate set; a full set
 * (RECSYS_E_BUDGET) is not an error. */
recsys_status recsys__topk_emit(recsys__topk *t, recsys_candidates *out);

#endif
