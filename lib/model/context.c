/* context.c - what plug-ins see of a request (recsys_query_*) and of the candidate set they
 * work on (recsys_candidates_*), plus the internal helpers behind them. */
#include "context.h"
#include "../core/error.h"
#include "../core/options.h"

/* ------------------------------------------------------------ candidate sets */

void recsys__cands_init(recsys_candidates *c, const recsys__mem *m, const recsys_query *q,
                        size_t limit)
{
    memset(c, 0, sizeof *c);
    c->mem = m;
    c->q = q;
    c->limit = limit;
}

void recsys__cands_free(recsys_candidates *c)
{
    recsys__free(c->mem, c->v);
    recsys__free(c->mem, c->prov);
    recsys__free(c->mem, c->map);
    recsys__free(c->mem, c->order);
    recsys__free(c->mem, c->gather);
    memset(c, 0, sizeof *c);
}

static size_t map_slot(const recsys_candidates *c, uint32_t item)
{
    size_t mask = c->mapcap - 1;
    size_t i = ((size_t)item * 0x9E3779B1u) & mask;
    while (c->map[i] && (uint32_t)(c->map[i] >> 32) != item)
        i = (i + 1) & mask;
    return i;
}

static recsys_status map_grow(recsys_candidates *c)
{
    size_t ncap = c->mapcap ? c->mapcap * 2 : 64;
    uint64_t *nm = recsys__calloc(c->mem, ncap, sizeof *nm);
    if (!nm)
        return RECSYS_E_NOMEM;
    uint64_t *old = c->map;
    size_t oldcap = c->mapcap;
    c->map = nm;
    c->mapcap = ncap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i])
            c->map[map_slot(c, (uint32_t)(old[i] >> 32))] = old[i];
    recsys__free(c->mem, old);
    return RECSYS_OK;
}

recsys_status recsys__cands_reserve(recsys_candidates *c, size_t n)
{
    while (n * 2 > c->mapcap)
        RECSYS_TRY(map_grow(c));
    return RECSYS_GROW(c->mem, c->v, c->cap, n);
}

recsys_status recsys__cands_put(recsys_candidates *c, uint32_t item, size_t *pos)
{
    if ((c->n + 1) * 2 > c->mapcap)
        RECSYS_TRY(map_grow(c));
    size_t at = map_slot(c, item);
    if (c->map[at]) {
        *pos = (size_t)(uint32_t)c->map[at] - 1;
        return RECSYS_OK;
    }
    if (c->limit && c->n >= c->limit)
        return recsys__err(RECSYS_E_BUDGET, "candidate limit of %zu reached", c->limit);
    RECSYS_TRY(RECSYS_GROW(c->mem, c->v, c->cap, c->n + 1));
    recsys__cand *cd = &c->v[c->n];
    memset(cd, 0, sizeof *cd);
    cd->item = item;
    c->map[at] = ((uint64_t)item << 32) | (uint64_t)(c->n + 1);
    *pos = c->n++;
    return RECSYS_OK;
}

size_t recsys__cands_find(const recsys_candidates *c, uint32_t item)
{
    if (!c->mapcap)
        return SIZE_MAX;
    uint64_t e = c->map[map_slot(c, item)];
    return e ? (size_t)(uint32_t)e - 1 : SIZE_MAX;
}

recsys_status recsys__cands_add(recsys_candidates *c, uint32_t item, double score)
{
    if (!isfinite(score))
        return recsys__err(RECSYS_E_INVALID_ARG, "candidate score is not finite");
    size_t n = c->n, pos;
    RECSYS_TRY(recsys__cands_put(c, item, &pos));
    if (pos == n || score > c->v[pos].score) /* new, or a better score for a repeated item */
        c->v[pos].score = score;
    return RECSYS_OK;
}

void recsys__cands_settle(recsys_candidates *c)
{
    size_t w = 0;
    for (size_t i = 0; i < c->n; i++)
        if (!c->v[i].dropped)
            c->v[w++] = c->v[i];
    c->n = w;
    if (c->order_set) { /* set_order ran on the settled set: indices are < n */
        for (size_t j = 0; j < c->norder; j++)
            c->gather[j] = c->v[c->order[j]];
        if (c->norder)
            memcpy(c->v, c->gather, c->norder * sizeof *c->v);
        c->n = c->norder;
        c->order_set = false;
    }
    if (c->mapcap) { /* positions changed: the map is only needed while a source adds */
        recsys__free(c->mem, c->map);
        c->map = NULL;
        c->mapcap = 0;
    }
}

/* ------------------------------------------------------------ query helpers */

double recsys__query_opt(const recsys_query *q, int32_t key)
{
    int s = recsys__opt_slot(key);
    return s < 0 ? 0.0 : q->opt[s];
}

bool recsys__sorted_has(const uint32_t *v, size_t n, uint32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == x;
}

bool recsys__query_excluded(const recsys_query *q, uint32_t item)
{
    return recsys__sorted_has(q->exclude, q->nexclude, item);
}

bool recsys__query_included(const recsys_query *q, uint32_t item)
{
    return !q->include || recsys__sorted_has(q->include, q->ninclude, item);
}

/* ------------------------------------------------------------ public query views */

RECSYS_API const char *recsys_query_user_id(const recsys_query *q)
{
    return q ? q->user_id : NULL;
}

RECSYS_API const char *recsys_query_text(const recsys_query *q)
{
    return q ? q->text : NULL;
}

RECSYS_API size_t recsys_query_limit(const recsys_query *q)
{
    return q ? q->limit : 0;
}

RECSYS_API int64_t recsys_query_now(const recsys_query *q)
{
    return q ? q->now : 0;
}

RECSYS_API size_t recsys_query_history_count(const recsys_query *q)
{
    return (q && q->user) ? q->user->nhist : 0;
}

RECSYS_API recsys_status recsys_query_history(const recsys_query *q, size_t i,
                                              const recsys_item **item, int32_t *type, int64_t *ts)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(q);
    if (!q->user || i >= q->user->nhist)
        return recsys__err(RECSYS_E_INVALID_ARG, "history index %zu is out of range (%zu events)",
                           i, q->user ? q->user->nhist : (size_t)0);
    const recsys__hist *h = &q->user->hist[i];
    if (item)
        *item = h->item == RECSYS_IDS_NONE ? NULL : recsys__catalog_get(&q->model->catalog, h->item);
    if (type)
        *type = h->type;
    if (ts)
        *ts = h->ts;
    return RECSYS_OK;
}

RECSYS_API const recsys_item *recsys_query_anchor(const recsys_query *q)
{
    if (!q || q->anchor == RECSYS_IDS_NONE)
        return NULL;
    return recsys__catalog_get(&q->model->catalog, q->anchor);
}

RECSYS_API const recsys_item *recsys_query_item(const recsys_query *q, const char *item_id)
{
    if (!q || !item_id)
        return NULL;
    uint32_t idx = recsys__catalog_find(&q->model->catalog, item_id);
    return idx == RECSYS_IDS_NONE ? NULL : recsys__catalog_get(&q->model->catalog, idx);
}

RECSYS_API recsys_status recsys_query_option(const recsys_query *q, int32_t key, double *out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(q);
    RECSYS_CHECK_ARG(out);
    int s = recsys__opt_slot(key);
    if (s < 0)
        return recsys__err(RECSYS_E_UNSUPPORTED, "option %" PRId32 " is unknown", key);
    if (recsys__optdefs[s].type == RECSYS_OPTTYPE_STR)
        return recsys__err(RECSYS_E_INVALID_ARG, "option %" PRId32 " (%s) is a string option",
                           key, recsys__optdefs[s].name);
    *out = q->opt[s];
    return RECSYS_OK;
}

/* ------------------------------------------------------------ public candidate views */

RECSYS_API recsys_status recsys_candidates_add(recsys_candidates *c, const char *item_id,
                                               double score)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(c);
    RECSYS_CHECK_ARG(item_id);
    if (!c->limit) /* only a source's own list (stage 2) takes new candidates */
        return recsys__err(RECSYS_E_STATE, "candidates can be added only by a source; this set "
                                           "is past retrieval (add '%.200s' refused)", item_id);
    uint32_t idx = recsys__catalog_find(&c->q->model->catalog, item_id);
    if (idx == RECSYS_IDS_NONE)
        return recsys__err(RECSYS_E_NOT_FOUND, "candidate '%.200s' is not in the catalog", item_id);
    return recsys__cands_add(c, idx, score);
}

RECSYS_API size_t recsys_candidates_count(const recsys_candidates *c)
{
    return c ? c->n : 0;
}

RECSYS_API const recsys_item *recsys_candidates_item(const recsys_candidates *c, size_t i)
{
    if (!c || i >= c->n)
        return NULL;
    return recsys__catalog_get(&c->q->model->catalog, c->v[i].item);
}

RECSYS_API double recsys_candidates_score(const recsys_candidates *c, size_t i)
{
    return (c && i < c->n) ? c->v[i].score : 0.0;
}

RECSYS_API recsys_status recsys_candidates_source_score(const recsys_candidates *c, size_t i,
                                                       const char *source, double *out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(c);
    RECSYS_CHECK_ARG(source);
    RECSYS_CHECK_ARG(out);
    if (i >= c->n)
        return recsys__err(RECSYS_E_INVALID_ARG, "candidate index %zu is out of range (%zu)", i,
                           c->n);
    const recsys__cand *cd = &c->v[i];
    for (uint16_t k = 0; k < cd->nprov; k++) {
        const recsys__prov *p = &c->prov[cd->prov_off + k];
        if (p->source < c->nsources && strcmp(c->source_names[p->source], source) == 0) {
            *out = p->norm;
            return RECSYS_OK;
        }
    }
    return recsys__err(RECSYS_E_NOT_FOUND, "source '%.64s' did not propose candidate %zu", source, i);
}

RECSYS_API recsys_status recsys_candidates_set_score(recsys_candidates *c, size_t i, double score)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(c);
    if (i >= c->n)
        return recsys__err(RECSYS_E_INVALID_ARG, "candidate index %zu is out of range (%zu)", i,
                           c->n);
    if (!isfinite(score))
        return recsys__err(RECSYS_E_INVALID_ARG, "score for candidate %zu is not finite", i);
    c->v[i].score = score;
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_candidates_drop(recsys_candidates *c, size_t i, const char *reason)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(c);
    if (i >= c->n)
        return recsys__err(RECSYS_E_INVALID_ARG, "candidate index %zu is out of range (%zu)", i,
                           c->n);
    c->v[i].dropped = 1;
    c->v[i].drop_reason = reason;
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_candidates_set_order(recsys_candidates *c, const size_t *order,
                                                     size_t n)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(c);
    if (n && !order)
        return recsys__err(RECSYS_E_INVALID_ARG, "order is NULL");
    if (n > c->n)
        return recsys__err(RECSYS_E_INVALID_ARG, "order has %zu entries for %zu candidates", n,
                           c->n);
    uint8_t *seen = recsys__calloc(c->mem, c->n ? c->n : 1, 1);
    if (!seen)
        return RECSYS_E_NOMEM;
    for (size_t k = 0; k < n; k++) {
        if (order[k] >= c->n || seen[order[k]]) {
            recsys__free(c->mem, seen);
            return recsys__err(RECSYS_E_INVALID_ARG,
                               "order[%zu] = %zu is out of range or repeated", k, order[k]);
        }
        seen[order[k]] = 1;
    }
    recsys__free(c->mem, seen);
    size_t *copy = recsys__alloc(c->mem, (n ? n : 1) * sizeof *copy);
    recsys__cand *gather = copy ? recsys__alloc(c->mem, (n ? n : 1) * sizeof *gather) : NULL;
    if (!gather) {
        recsys__free(c->mem, copy);
        return RECSYS_E_NOMEM;
    }
    if (n)
        memcpy(copy, order, n * sizeof *copy);
    recsys__free(c->mem, c->order);
    recsys__free(c->mem, c->gather);
    c->order = copy;
    c->gather = gather;
    c->norder = n;
    c->order_set = true;
    return RECSYS_OK;
}

/* ------------------------------------------------------------ decayed counters */

double recsys__query_half_life_s(const recsys_query *q, int32_t key, double unit)
{
    double hl = recsys__query_opt(q, key) * unit;
    return hl > 0 ? hl : unit;
}

double recsys__query_popular_count(const recsys_query *q, uint32_t idx)
{
    const recsys__catalog *c = &q->model->catalog;
    if (!c->pop_v || idx >= c->ids.n)
        return 0.0;
    return recsys__decay(c->pop_v[idx], c->pop_ts[idx], q->now,
                         recsys__query_half_life_s(q, RECSYS_OPT_POPULAR_HALF_LIFE_DAYS, 86400.0));
}

double recsys__query_trending_count(const recsys_query *q, uint32_t idx)
{
    const recsys__catalog *c = &q->model->catalog;
    if (!c->trend_v || idx >= c->ids.n)
        return 0.0;
    return recsys__decay(c->trend_v[idx], c->trend_ts[idx], q->now,
                         recsys__query_half_life_s(q, RECSYS_OPT_TRENDING_HALF_LIFE_H, 3600.0));
}

bool recsys__query_trending_score(const recsys_query *q, uint32_t idx, double *score)
{
    double t = recsys__query_trending_count(q, idx);
    if (!(t >= RECSYS__TRENDING_MIN_RECENT))
        return false;
    double p = recsys__query_popular_count(q, idx);
    double ratio = recsys__query_half_life_s(q, RECSYS_OPT_TRENDING_HALF_LIFE_H, 3600.0) /
                   recsys__query_half_life_s(q, RECSYS_OPT_POPULAR_HALF_LIFE_DAYS, 86400.0);
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
