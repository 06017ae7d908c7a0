/* merge.c - deduplicating, normalising merge of candidate lists with provenance. */
#include "merge.h"
#include "../core/error.h"

/* A provenance entry waiting for its candidate's position to be final. */
typedef struct pending {
    uint32_t pos; /* candidate position in out */
    recsys__prov p;
} pending;

/* Sort positions of a list by score descending, then item ascending (stable ranks). */
typedef struct rank_ctx {
    const recsys_candidates *l;
    size_t pos;
} rank_ctx;

static int by_score(const void *a, const void *b)
{
    const rank_ctx *x = a, *y = b;
    const recsys__cand *cx = &x->l->v[x->pos], *cy = &y->l->v[y->pos];
    if (cx->score != cy->score)
        return cx->score > cy->score ? -1 : 1;
    return cx->item < cy->item ? -1 : cx->item > cy->item;
}

recsys_status recsys__merge(recsys_candidates *out, const recsys_candidates *lists,
                            const double *weights, size_t nlists)
{
    const recsys__mem *m = out->mem;
    size_t total = 0, maxlen = 0;
    double wsum = 0;
    for (size_t k = 0; k < nlists; k++) {
        total += lists[k].n;
        if (lists[k].n > maxlen)
            maxlen = lists[k].n;
        if (lists[k].n)
            wsum += weights[k];
    }
    if (!total)
        return RECSYS_OK;
    pending *pend = recsys__alloc(m, total * sizeof *pend);
    rank_ctx *rk = pend ? recsys__alloc(m, maxlen * sizeof *rk) : NULL;
    if (!rk) {
        recsys__free(m, pend);
        return RECSYS_E_NOMEM;
    }
    /* every list's candidates at most: no allocation inside the loop below */
    recsys_status st = recsys__cands_reserve(out, total);
    size_t np = 0;
    for (size_t k = 0; k < nlists && st == RECSYS_OK; k++) {
        const recsys_candidates *l = &lists[k];
        if (!l->n)
            continue;
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < l->n; i++) {
            rk[i].l = l;
            rk[i].pos = i;
            lo = fmin(lo, l->v[i].score);
            hi = fmax(hi, l->v[i].score);
        }
        /* sources mostly hand their list over best first already: sort only when not */
        bool sorted = true;
        for (size_t i = 1; i < l->n && sorted; i++)
            sorted = by_score(&rk[i - 1], &rk[i]) <= 0;
        if (!sorted)
            qsort(rk, l->n, sizeof *rk, by_score);
        for (size_t r = 0; r < l->n; r++) {
            const recsys__cand *cd = &l->v[rk[r].pos];
            double norm = hi > lo ? (cd->score - lo) / (hi - lo) : 1.0;
            size_t at;
            st = recsys__cands_put(out, cd->item, &at);
            if (st != RECSYS_OK)
                break;
            pending *pe = &pend[np++];
            pe->pos = (uint32_t)at;
            pe->p.source = (uint16_t)k;
            pe->p.raw = (float)cd->score;
            pe->p.norm = (float)norm;
            pe->p.rank = (uint32_t)r;
            out->v[at].score += weights[k] * norm / (wsum > 0 ? wsum : 1.0);
        }
    }
    recsys__free(m, rk);
    /* provenance grouped by candidate: a counting sort by position, stable, so each
     * candidate's entries stay in source order (the lists were walked in source order) */
    recsys__prov *prov = NULL;
    uint32_t *start = NULL;
    if (st == RECSYS_OK) {
        prov = recsys__alloc(m, np * sizeof *prov);
        start = prov ? recsys__calloc(m, out->n + 1, sizeof *start) : NULL;
        if (!start)
            st = RECSYS_E_NOMEM;
    }
    if (st == RECSYS_OK) {
        for (size_t i = 0; i < np; i++)
            start[pend[i].pos + 1]++;
        for (size_t c = 0; c < out->n; c++) {
            out->v[c].prov_off = start[c];
            out->v[c].nprov = (uint16_t)start[c + 1];
            start[c + 1] += start[c];
        }
        for (size_t i = 0; i < np; i++)
            prov[start[pend[i].pos]++] = pend[i].p;
        recsys__free(m, out->prov);
        out->prov = prov;
        out->nprov = out->capprov = np;
        prov = NULL;
    }
    recsys__free(m, prov);
    recsys__free(m, start);
    recsys__free(m, pend);
    return st;
}
