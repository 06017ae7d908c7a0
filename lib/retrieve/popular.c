/* popular.c - the popular and trending sources (see sources.h). */
#include "sources.h"
#include "topk.h"
#include "../core/error.h"

/* ------------------------------------------------------------ decayed counters */


typedef bool (*score_fn)(const recsys_query *q, uint32_t idx, double *score);

/* Scores every live, non-excluded item with fn, keeps the best limit (a min-heap), and adds
 * them best first. */
static recsys_status retrieve_top(const recsys_query *q, recsys_candidates *out, score_fn fn)
{
    if (!q || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "source: query or candidate set is NULL");
    size_t limit = q->limit;
    const recsys__catalog *c = &q->model->catalog;
    if (limit == 0 || c->ids.n == 0)
        return RECSYS_OK;
    recsys__topk top;
    RECSYS_TRY(recsys__topk_init(&top, out->mem ? out->mem : c->mem, RECSYS_MIN(limit, c->ids.n)));
    for (uint32_t idx = 0; idx < c->ids.n; idx++) {
        double score;
        if (recsys__catalog_get(c, idx) && !recsys__query_excluded(q, idx) && fn(q, idx, &score))
            recsys__topk_offer(&top, idx, score);
    }
    recsys_status st = recsys__topk_emit(&top, out);
    recsys__topk_free(&top);
    return st;
}

/* ------------------------------------------------------------ ranked walk */

/* Rounding slack when comparing a key with one derived from a decayed count. */
#define KEY_EPS 1e-9

typedef struct walk {
    const recsys_query *q;
    score_fn fn;
    recsys__topk *top;
    double hl;         /* the ranked counter's half-life (seconds) */
    double floor_key;  /* stop below this key (-inf: none) */
    bool bound_by_top; /* also stop once nothing left can enter the top (popular) */
} walk;

static bool visit(void *arg, uint32_t item, double key)
{
    walk *w = arg;
    if (key < w->floor_key - KEY_EPS)
        return false;
    if (w->bound_by_top && w->top->n == w->top->cap) {
        /* the worst kept score, as a key: keys and decayed counts share their order */
        double kth = log2(w->top->h[0].score) + (double)w->q->now / w->hl;
        if (key < kth - KEY_EPS)
            return false;
    }
    double score;
    if (!recsys__query_excluded(w->q, item) && w->fn(w->q, item, &score))
        recsys__topk_offer(w->top, item, score);
    return true;
}

/* The same answer as retrieve_top, reading the counter's ranked order (lib/model/rank.h)
 * instead of scoring every item: only items that can still make the cut are visited. */
static recsys_status retrieve_ranked(const recsys_query *q, recsys_candidates *out, score_fn fn,
                                     const recsys__rank *rank, double hl, double floor_key,
                                     bool bound_by_top)
{
    const recsys__catalog *c = &q->model->catalog;
    if (q->limit == 0 || c->ids.n == 0)
        return RECSYS_OK;
    const recsys__mem *m = out->mem ? out->mem : c->mem;
    recsys__topk top;
    RECSYS_TRY(recsys__topk_init(&top, m, RECSYS_MIN(q->limit, c->ids.n)));
    walk w = { q, fn, &top, hl, floor_key, bound_by_top };
    recsys_status st = recsys__rank_walk(rank, m, visit, &w);
    if (st == RECSYS_OK)
        st = recsys__topk_emit(&top, out);
    recsys__topk_free(&top);
    return st;
}

/* True when the request decays with the half-lives the ranked order was keyed with (a
 * request that overrides them is served by a scan). */
static bool ranked_usable(const recsys_query *q)
{
    return q->model->catalog.pop_rank.pos &&
           recsys__query_half_life_s(q, RECSYS_OPT_POPULAR_HALF_LIFE_DAYS, 86400.0) ==
               q->model->pop_half_life_s &&
           recsys__query_half_life_s(q, RECSYS_OPT_TRENDING_HALF_LIFE_H, 3600.0) == q->model->trend_half_life_s;
}

/* ------------------------------------------------------------ the two sources */

static bool popular_score(const recsys_query *q, uint32_t idx, double *score)
{
    double v = recsys__query_popular_count(q, idx);
    if (!(v > 1e-9) || !isfinite(v))
        return false;
    *score = v;
    return true;
}

static recsys_status popular_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    RECSYS_UNUSED(ctx);
    if (!q || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "source: query or candidate set is NULL");
    if (!ranked_usable(q))
        return retrieve_top(q, out, popular_score);
    double hl = q->model->pop_half_life_s;
    /* counts below 1e-9 are not proposed: nothing under that key needs a visit */
    return retrieve_ranked(q, out, popular_score, &q->model->catalog.pop_rank, hl,
                           log2(1e-9) + (double)q->now / hl, true);
}

static recsys_status trending_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    RECSYS_UNUSED(ctx);
    if (!q || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "source: query or candidate set is NULL");
    if (!ranked_usable(q))
        return retrieve_top(q, out, recsys__query_trending_score);
    double hl = q->model->trend_half_life_s;
    /* only items with enough recent activity trend: walk the short window down to the floor */
    return retrieve_ranked(q, out, recsys__query_trending_score, &q->model->catalog.trend_rank,
                           hl, log2(RECSYS__TRENDING_MIN_RECENT) + (double)q->now / hl, false);
}

/* For tests: the same sources by a scan of every item (the reference the ranked walk must
 * equal). */
recsys_status recsys__source_popular_scan(const recsys_query *q, recsys_candidates *out,
                                          bool trending)
{
    return retrieve_top(q, out, trending ? recsys__query_trending_score : popular_score);
}

static recsys_status fill(const recsys__mem *m, recsys_source_vtable *out,
                          recsys_status (*fn)(void *, const recsys_query *, recsys_candidates *))
{
    RECSYS_UNUSED(m);
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "source: vtable is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->retrieve = fn;
    return RECSYS_OK;
}

recsys_status recsys__source_popular(const recsys__mem *m, recsys_source_vtable *out)
{
    return fill(m, out, popular_retrieve);
}

recsys_status recsys__source_trending(const recsys__mem *m, recsys_source_vtable *out)
{
    return fill(m, out, trending_retrieve);
}
