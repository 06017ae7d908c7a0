/* popular.c - the popular and trending sources (see sources.h). */
#include "sources.h"
#include "topk.h"
#include "../core/error.h"

/* ------------------------------------------------------------ decayed counters */

static double half_life_s(const recsys_query *q, int32_t key, double unit)
{
    double hl = recsys__query_opt(q, key) * unit;
    return hl > 0 ? hl : unit;
}

double recsys__source_popular_count(const recsys_query *q, uint32_t idx)
{
    const recsys__catalog *c = &q->model->catalog;
    if (!c->pop_v || idx >= c->ids.n)
        return 0.0;
    return recsys__decay(c->pop_v[idx], c->pop_ts[idx], q->now,
                         half_life_s(q, RECSYS_OPT_POPULAR_HALF_LIFE_DAYS, 86400.0));
}

double recsys__source_trending_count(const recsys_query *q, uint32_t idx)
{
    const recsys__catalog *c = &q->model->catalog;
    if (!c->trend_v || idx >= c->ids.n)
        return 0.0;
    return recsys__decay(c->trend_v[idx], c->trend_ts[idx], q->now,
                         half_life_s(q, RECSYS_OPT_TRENDING_HALF_LIFE_H, 3600.0));
}

bool recsys__source_trending_score(const recsys_query *q, uint32_t idx, double *score)
{
    double t = recsys__source_trending_count(q, idx);
    if (!(t >= RECSYS__TRENDING_MIN_RECENT))
        return false;
    double p = recsys__source_popular_count(q, idx);
    double ratio = half_life_s(q, RECSYS_OPT_TRENDING_HALF_LIFE_H, 3600.0) /
                   half_life_s(q, RECSYS_OPT_POPULAR_HALF_LIFE_DAYS, 86400.0);
    double e = (p > 0 ? p : 0) * ratio;
    if (!(t > e))
        return false;
    double s = (t - e) / sqrt(e + 1.0);
    if (!isfinite(s) || s <= 0)
        return false;
    if (score)
        *score = s;
    return true;
}

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

/* ------------------------------------------------------------ the two sources */

static bool popular_score(const recsys_query *q, uint32_t idx, double *score)
{
    double v = recsys__source_popular_count(q, idx);
    if (!(v > 1e-9) || !isfinite(v))
        return false;
    *score = v;
    return true;
}

static recsys_status popular_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    RECSYS_UNUSED(ctx);
    return retrieve_top(q, out, popular_score);
}

static recsys_status trending_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    RECSYS_UNUSED(ctx);
    return retrieve_top(q, out, recsys__source_trending_score);
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
