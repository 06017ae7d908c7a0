/* topk.c - a bounded min-heap of (item, score) pairs (see topk.h). */
#include "topk.h"
#include "../core/error.h"

recsys_status recsys__topk_init(recsys__topk *t, const recsys__mem *m, size_t cap)
{
    memset(t, 0, sizeof *t);
    t->mem = m;
    if (cap) {
        t->h = recsys__alloc(m, cap * sizeof *t->h);
        if (!t->h)
            return RECSYS_E_NOMEM;
    }
    t->cap = cap;
    return RECSYS_OK;
}

void recsys__topk_free(recsys__topk *t)
{
    recsys__free(t->mem, t->h);
    t->h = NULL;
    t->n = t->cap = 0;
}

static void sift_down(recsys__scored *h, size_t n, size_t i)
{
    recsys__scored x = h[i];
    for (;;) {
        size_t l = 2 * i + 1, w = i;
        const recsys__scored *low = &x;
        if (l < n && recsys__scored_below(&h[l], low)) {
            w = l;
            low = &h[l];
        }
        if (l + 1 < n && recsys__scored_below(&h[l + 1], low))
            w = l + 1;
        if (w == i)
            break;
        h[i] = h[w];
        i = w;
    }
    h[i] = x;
}

static void sift_up(recsys__scored *h, size_t i)
{
    recsys__scored x = h[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!recsys__scored_below(&x, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

void recsys__topk_offer(recsys__topk *t, uint32_t item, double score)
{
    recsys__scored s = { item, score };
    if (t->n < t->cap) {
        t->h[t->n] = s;
        sift_up(t->h, t->n++);
    } else if (t->cap && recsys__scored_below(&t->h[0], &s)) {
        t->h[0] = s;
        sift_down(t->h, t->n, 0);
    }
}

void recsys__topk_sort(recsys__topk *t)
{
    /* repeatedly move the minimum to the end: best first */
    for (size_t end = t->n; end > 1; end--) {
        recsys__scored x = t->h[0];
        t->h[0] = t->h[end - 1];
        t->h[end - 1] = x;
        sift_down(t->h, end - 1, 0);
    }
}

recsys_status recsys__topk_emit(recsys__topk *t, recsys_candidates *out)
{
    recsys__topk_sort(t);
    recsys_status st = RECSYS_OK;
    for (size_t i = 0; i < t->n && st == RECSYS_OK; i++)
        st = recsys__cands_add(out, t->h[i].item, t->h[i].score);
    if (st == RECSYS_E_BUDGET) { /* a full set is the normal end, not a failure */
        recsys__err_clear();
        st = RECSYS_OK;
    }
    return st;
}
