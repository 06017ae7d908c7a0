/* fuse.c - BM25 relative to the best hit plus a weighted positive cosine (see fuse.h). */
#include "fuse.h"

static int by_item(const void *a, const void *b)
{
    const recsys__scored *x = a, *y = b;
    return (x->item > y->item) - (x->item < y->item);
}

recsys_status recsys__fuse_init(recsys__fuse *f, const recsys__mem *m, const uint32_t *items,
                                const float *scores, size_t n)
{
    f->mem = m;
    f->n = 0;
    f->bm = recsys__alloc(m, (n ? n : 1) * sizeof *f->bm);
    if (!f->bm)
        return RECSYS_E_NOMEM;
    for (size_t i = 0; i < n; i++) /* scores are sorted, best first, and positive */
        f->bm[i] = (recsys__scored){ items[i], (double)scores[i] / scores[0] };
    qsort(f->bm, n, sizeof *f->bm, by_item);
    f->n = n;
    return RECSYS_OK;
}

void recsys__fuse_free(recsys__fuse *f)
{
    recsys__free(f->mem, f->bm);
    f->bm = NULL;
    f->n = 0;
}

double recsys__fuse_bm25_walk(const recsys__fuse *f, size_t *cursor, uint32_t item)
{
    size_t j = *cursor;
    while (j < f->n && f->bm[j].item < item)
        j++;
    *cursor = j;
    return j < f->n && f->bm[j].item == item ? f->bm[j].score : 0;
}

recsys_status recsys__fuse_lists(const recsys__mem *m, const uint32_t *items,
                                 const float *scores, size_t n, const recsys__scored *vec,
                                 size_t nv, double w, double fl, recsys__topk *top)
{
    /* open addressing over the vector hits: slot -> index + 1 (0 = empty); a matched hit's
     * index is negated once a BM25 hit took it */
    size_t cap = 16;
    while (cap < 2 * nv)
        cap *= 2;
    int64_t *slot = recsys__calloc(m, cap, sizeof *slot);
    if (!slot)
        return RECSYS_E_NOMEM;
    for (size_t j = 0; j < nv; j++) {
        size_t h = (vec[j].item * UINT32_C(2654435761)) & (cap - 1);
        while (slot[h])
            h = (h + 1) & (cap - 1);
        slot[h] = (int64_t)j + 1;
    }
    for (size_t i = 0; i < n; i++) {
        double cos = NAN;
        size_t h = (items[i] * UINT32_C(2654435761)) & (cap - 1);
        for (; slot[h]; h = (h + 1) & (cap - 1)) {
            size_t j = (size_t)llabs(slot[h]) - 1;
            if (vec[j].item == items[i]) {
                cos = recsys__fuse_above(vec[j].score, fl);
                slot[h] = -(int64_t)(j + 1);
                break;
            }
        }
        double s = recsys__fuse_score((double)scores[i] / scores[0], cos, w);
        if (s > 0)
            recsys__topk_offer(top, items[i], s);
    }
    for (size_t h = 0; h < cap; h++) {
        if (slot[h] <= 0)
            continue; /* empty, or fused above */
        const recsys__scored *v = &vec[slot[h] - 1];
        double s = recsys__fuse_score(0, recsys__fuse_above(v->score, fl), w);
        if (s > 0)
            recsys__topk_offer(top, v->item, s);
    }
    recsys__free(m, slot);
    return RECSYS_OK;
}
