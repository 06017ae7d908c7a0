/* vector.c - the faiss index over item vectors and the "vector" source (see vector.h).
 * faiss is reached through its C API only (lib/retrieve/faiss_bridge.cc implements the
 * functions used here); the C API headers need C11 and define a global idx_t and OK. */
#include "vector.h"
#include "ials.h"
#include "interactions.h"
#include "topk.h"
#include "../core/error.h"
#include "../core/options.h"
#include "../model/derived.h"

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>

/* IVF: lists = 4 sqrt(N), at most N / MIN_PER_LIST; training sample TRAIN_PER_LIST per list. */
#define IVF_LISTS_PER_SQRT 4.0
#define IVF_MIN_PER_LIST 39
#define IVF_TRAIN_PER_LIST 64
#define FACTORY_MAX 256

typedef struct vector_state {
    FaissIndex *index;
    size_t n, dim;
    uint32_t *item; /* faiss label -> catalog index */
    bool ials;
    char factory[FACTORY_MAX];
} vector_state;

static const char *faiss_msg(void)
{
    const char *e = faiss_get_last_error();
    return e ? e : "unknown faiss error";
}

static void state_free(const recsys__mem *m, vector_state *s)
{
    if (!s)
        return;
    if (s->index)
        faiss_Index_free(s->index);
    recsys__free(m, s->item);
    recsys__free(m, s);
}

/* ------------------------------------------------------------------ gathering vectors */

/* The vectors to index: n rows of dim floats (copied) and their items. */
typedef struct gathered {
    float *v;
    uint32_t *item;
    size_t n, dim;
    bool ials;
} gathered;

static bool all_zero(const float *v, size_t k)
{
    for (size_t j = 0; j < k; j++)
        if (v[j] != 0)
            return false;
    return true;
}

static bool all_finite(const float *v, size_t k)
{
    for (size_t j = 0; j < k; j++)
        if (!isfinite(v[j]))
            return false;
    return true;
}

static recsys_status gather_ials(const recsys__mem *m, const recsys__catalog *c,
                                 const void *ials, gathered *g)
{
    const float *f;
    size_t nf, k;
    RECSYS_TRY(recsys__ials_item_factors(ials, &f, &nf, &k));
    size_t n = RECSYS_MIN(nf, c->ids.n), cnt = 0;
    for (uint32_t i = 0; i < n; i++)
        cnt += recsys__catalog_get(c, i) && !all_zero(f + (size_t)i * k, k);
    if (cnt == 0)
        return RECSYS_OK;
    g->v = recsys__alloc(m, cnt * k * sizeof *g->v);
    g->item = g->v ? recsys__alloc(m, cnt * sizeof *g->item) : NULL;
    if (!g->item)
        return RECSYS_E_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const float *row = f + (size_t)i * k;
        if (!recsys__catalog_get(c, i) || all_zero(row, k))
            continue;
        memcpy(g->v + g->n * k, row, k * sizeof *row);
        g->item[g->n++] = i;
    }
    g->dim = k;
    g->ials = true;
    return RECSYS_OK;
}

static recsys_status gather_embeddings(const recsys__mem *m, const recsys__catalog *c,
                                       gathered *g)
{
    size_t dim = 0, cnt = 0;
    for (uint32_t i = 0; i < c->ids.n; i++) {
        const recsys_item *it = recsys__catalog_get(c, i);
        const recsys__embedding *e = it ? recsys__item_embedding(it, "default") : NULL;
        if (!e || e->dim == 0)
            continue;
        if (dim && e->dim != dim)
            return RECSYS_OK; /* mixed dimensions: nothing to index */
        dim = e->dim;
        cnt++;
    }
    if (cnt == 0)
        return RECSYS_OK;
    g->v = recsys__alloc(m, cnt * dim * sizeof *g->v);
    g->item = g->v ? recsys__alloc(m, cnt * sizeof *g->item) : NULL;
    if (!g->item)
        return RECSYS_E_NOMEM;
    for (uint32_t i = 0; i < c->ids.n; i++) {
        const recsys_item *it = recsys__catalog_get(c, i);
        const recsys__embedding *e = it ? recsys__item_embedding(it, "default") : NULL;
        if (!e || e->dim == 0 || !all_finite(e->v, dim))
            continue;
        memcpy(g->v + g->n * dim, e->v, dim * sizeof *e->v);
        g->item[g->n++] = i;
    }
    g->dim = dim;
    return RECSYS_OK;
}

/* ------------------------------------------------------------------ building the index */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Trains an untrained index on at most max_train rows of g sampled with seed. */
static recsys_status train(const recsys__mem *m, FaissIndex *ix, const gathered *g,
                           size_t max_train, uint64_t seed)
{
    size_t nt = RECSYS_MIN(g->n, max_train);
    const float *x = g->v;
    float *sample = NULL;
    if (nt < g->n) {
        /* a partial Fisher-Yates shuffle of the row numbers picks nt distinct rows */
        uint32_t *perm = recsys__alloc(m, g->n * sizeof *perm);
        sample = perm ? recsys__alloc(m, nt * g->dim * sizeof *sample) : NULL;
        if (!sample) {
            recsys__free(m, perm);
            return RECSYS_E_NOMEM;
        }
        for (size_t i = 0; i < g->n; i++)
            perm[i] = (uint32_t)i;
        uint64_t s = seed ^ UINT64_C(0x7665637472);
        for (size_t i = 0; i < nt; i++) {
            size_t j = i + (size_t)(splitmix64(&s) % (g->n - i));
            uint32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
            memcpy(sample + i * g->dim, g->v + (size_t)perm[i] * g->dim,
                   g->dim * sizeof *sample);
        }
        recsys__free(m, perm);
        x = sample;
    }
    int rc = faiss_Index_train(ix, (faiss_idx_t)nt, x);
    recsys__free(m, sample);
    if (rc)
        return recsys__err(RECSYS_E_INVALID_ARG, "vector: training the index failed: %s",
                           faiss_msg());
    return RECSYS_OK;
}

static recsys_status build_index(const recsys__build_ctx *c, const gathered *g,
                                 vector_state *s)
{
    const char *user = c->str_opt ? c->str_opt[recsys__opt_slot(RECSYS_OPT_VECTOR_INDEX)]
                                  : NULL;
    size_t exact_max = (size_t)c->opt[recsys__opt_slot(RECSYS_OPT_VECTOR_EXACT_MAX)];
    double nprobe = c->opt[recsys__opt_slot(RECSYS_OPT_VECTOR_NPROBE)];
    size_t lists = 0;
    if (user && *user) {
        if (strlen(user) >= sizeof s->factory)
            return recsys__err(RECSYS_E_INVALID_ARG,
                               "vector: index factory string longer than %zu bytes",
                               sizeof s->factory - 1);
        strcpy(s->factory, user);
    } else if (g->n <= exact_max) {
        strcpy(s->factory, "Flat");
    } else {
        lists = (size_t)(IVF_LISTS_PER_SQRT * sqrt((double)g->n) + 0.5);
        lists = RECSYS_MIN(lists, g->n / IVF_MIN_PER_LIST);
        if (lists < 1)
            lists = 1;
        snprintf(s->factory, sizeof s->factory, "IVF%zu,Flat", lists);
    }
    if (g->dim > INT32_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "vector: dimension %zu too large", g->dim);
    if (faiss_index_factory(&s->index, (int)g->dim, s->factory, METRIC_INNER_PRODUCT)) {
        s->index = NULL;
        return recsys__err(RECSYS_E_INVALID_ARG, "vector: index \"%s\": %s", s->factory,
                           faiss_msg());
    }
    if (!faiss_Index_is_trained(s->index)) {
        size_t max_train = lists ? lists * IVF_TRAIN_PER_LIST : g->n;
        RECSYS_TRY(train(c->mem, s->index, g, max_train, c->seed));
    }
    /* labels 0..n-1: plain add when the index numbers its vectors itself, else explicit ids
     * (an "IDMap," wrapper the host asked for refuses add) */
    if (faiss_Index_add(s->index, (faiss_idx_t)g->n, g->v)) {
        faiss_idx_t *ids = recsys__alloc(c->mem, g->n * sizeof *ids);
        if (!ids)
            return RECSYS_E_NOMEM;
        for (size_t i = 0; i < g->n; i++)
            ids[i] = (faiss_idx_t)i;
        int rc = faiss_Index_add_with_ids(s->index, (faiss_idx_t)g->n, g->v, ids);
        recsys__free(c->mem, ids);
        if (rc)
            return recsys__err(RECSYS_E_INVALID_ARG, "vector: adding to index \"%s\": %s",
                               s->factory, faiss_msg());
    }
    if ((size_t)faiss_Index_ntotal(s->index) != g->n)
        return recsys__err(RECSYS_E_INTERNAL, "vector: index holds %lld of %zu vectors",
                           (long long)faiss_Index_ntotal(s->index), g->n);
    /* nprobe is fixed here, never per request; index types without it ignore the option */
    if (strstr(s->factory, "IVF")) {
        FaissParameterSpace *ps = NULL;
        if (faiss_ParameterSpace_new(&ps))
            return RECSYS_E_NOMEM;
        int rc = faiss_ParameterSpace_set_index_parameter(ps, s->index, "nprobe", nprobe);
        faiss_ParameterSpace_free(ps);
        if (rc)
            return recsys__err(RECSYS_E_INVALID_ARG, "vector: setting nprobe on \"%s\": %s",
                               s->factory, faiss_msg());
    }
    return RECSYS_OK;
}

static recsys_status vector_build_state(const recsys__build_ctx *c, void **out)
{
    *out = NULL;
    const void *ials = c->built ? c->built[RECSYS__DERIVED_IALS] : NULL;
    gathered g = { 0 };
    vector_state *s = NULL;
    recsys_status st = ials ? gather_ials(c->mem, &c->model->catalog, ials, &g)
                            : gather_embeddings(c->mem, &c->model->catalog, &g);
    if (st != RECSYS_OK || g.n == 0)
        goto done;
    if (!(s = recsys__calloc(c->mem, 1, sizeof *s))) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    s->n = g.n;
    s->dim = g.dim;
    s->ials = g.ials;
    if ((st = build_index(c, &g, s)) != RECSYS_OK)
        goto done;
    s->item = g.item;
    g.item = NULL;
    *out = s;
    s = NULL;
done:
    state_free(c->mem, s);
    recsys__free(c->mem, g.v);
    recsys__free(c->mem, g.item);
    return st;
}

static void vector_free_state(const recsys__mem *m, void *state)
{
    state_free(m, state);
}

/* personal: the index may hold iALS item factors, which are learnt from users' events (an
 * index over embeddings is dropped too when a user is forgotten; the next refresh rebuilds
 * it). */
const recsys__builder recsys__vector_builder = {
    RECSYS__DERIVED_VECTOR, { "vector" }, vector_build_state, vector_free_state, true,
};

recsys_status recsys__vector_info_get(const void *state, recsys__vector_info *out)
{
    if (!state || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "vector_info: NULL argument");
    const vector_state *s = state;
    out->n = s->n;
    out->dim = s->dim;
    out->ials = s->ials;
    out->index = s->factory;
    return RECSYS_OK;
}

/* ------------------------------------------------------------------ search */

/* Raw search into caller buffers of k: labels mapped to items; *n results. */
static recsys_status search_raw(const vector_state *s, const float *v, size_t k, float *dist,
                                faiss_idx_t *lab, uint32_t *items, size_t *n)
{
    *n = 0;
    if (faiss_Index_search(s->index, 1, v, (faiss_idx_t)k, dist, lab))
        return recsys__err(RECSYS_E_INTERNAL, "vector: search failed: %s", faiss_msg());
    for (size_t j = 0; j < k; j++) {
        if (lab[j] < 0 || (size_t)lab[j] >= s->n || !isfinite(dist[j]))
            continue;
        items[*n] = s->item[lab[j]];
        dist[*n] = dist[j];
        ++*n;
    }
    return RECSYS_OK;
}

recsys_status recsys__vector_search(const void *state, const recsys__mem *m, const float *v,
                                    size_t dim, size_t k, uint32_t *items, float *scores,
                                    size_t *n)
{
    if (n)
        *n = 0;
    if (!state || !m || !v || !items || !scores || !n || k == 0)
        return recsys__err(RECSYS_E_INVALID_ARG, "vector_search: NULL argument or k = 0");
    const vector_state *s = state;
    if (dim != s->dim)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "vector_search: query has %zu dimensions, the index %zu", dim,
                           s->dim);
    faiss_idx_t *lab = recsys__alloc(m, k * sizeof *lab);
    if (!lab)
        return RECSYS_E_NOMEM;
    recsys_status st = search_raw(s, v, k, scores, lab, items, n);
    recsys__free(m, lab);
    return st;
}

/* ------------------------------------------------------------------ the source */

static bool sorted_has(const uint32_t *v, size_t n, uint32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == x;
}

/* The query vector: iALS fold-in or the mean of the positives' embeddings. *ok false when
 * no positive has a vector. */
static recsys_status query_vector(const vector_state *s, const recsys_query *q,
                                  const recsys__mem *m, const uint32_t *pos, const float *pw,
                                  size_t npos, float *u, bool *ok)
{
    *ok = false;
    if (s->ials) {
        const void *is = q->derived->state[RECSYS__DERIVED_IALS];
        const float *f;
        size_t nf, k, nusers;
        if (!is || recsys__ials_item_factors(is, &f, &nf, &k) != RECSYS_OK || k != s->dim)
            return RECSYS_OK;
        /* a trained state folds in with its training alpha; an imported one has none */
        RECSYS_TRY(recsys__ials_user_factors(is, &f, &nusers, &k));
        double alpha = f ? -1.0 : recsys__query_opt(q, RECSYS_OPT_IALS_ALPHA);
        size_t used = 0;
        RECSYS_TRY(recsys__ials_fold_in(is, m, pos, pw, npos, alpha, u, &used));
        *ok = used > 0 && all_finite(u, k);
        return RECSYS_OK;
    }
    const recsys__catalog *c = &q->model->catalog;
    size_t used = 0;
    memset(u, 0, s->dim * sizeof *u);
    for (size_t j = 0; j < npos; j++) {
        const recsys_item *it = recsys__catalog_get(c, pos[j]);
        const recsys__embedding *e = it ? recsys__item_embedding(it, "default") : NULL;
        if (!e || e->dim != s->dim || !all_finite(e->v, s->dim))
            continue;
        for (size_t d = 0; d < s->dim; d++)
            u[d] += e->v[d];
        used++;
    }
    if (used == 0)
        return RECSYS_OK;
    for (size_t d = 0; d < s->dim; d++)
        u[d] /= (float)used;
    *ok = true;
    return RECSYS_OK;
}

static recsys_status vector_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    RECSYS_UNUSED(ctx);
    if (!q || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "vector: query or candidate set is NULL");
    const vector_state *s = q->derived ? q->derived->state[RECSYS__DERIVED_VECTOR] : NULL;
    if (!s || q->limit == 0 || (!q->user && q->anchor == RECSYS_IDS_NONE))
        return RECSYS_OK;
    const recsys__catalog *c = &q->model->catalog;
    const recsys__mem *m = out->mem ? out->mem : c->mem;
    uint32_t *pos = NULL, *items = NULL;
    float *pw = NULL, *u = NULL, *dist = NULL;
    faiss_idx_t *lab = NULL;
    recsys__topk top = { 0 };
    size_t npos = 0;
    bool ok = false;
    recsys_status st = recsys__query_positives(m, q, &pos, &pw, &npos);
    if (st != RECSYS_OK || npos == 0)
        goto done;
    if (!(u = recsys__alloc(m, s->dim * sizeof *u))) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    if ((st = query_vector(s, q, m, pos, pw, npos, u, &ok)) != RECSYS_OK || !ok)
        goto done;
    bool skip_pos = q->anchor == RECSYS_IDS_NONE &&
                    recsys__query_opt(q, RECSYS_OPT_FILTER_SEEN) != 0;
    size_t limit = RECSYS_MIN(q->limit, s->n);
    size_t k = limit + q->nexclude + npos + RECSYS__VECTOR_ROOM;
    for (;;) {
        k = RECSYS_MIN(k, s->n);
        recsys__free(m, dist);
        recsys__free(m, lab);
        recsys__free(m, items);
        recsys__topk_free(&top);
        dist = recsys__alloc(m, k * sizeof *dist);
        lab = dist ? recsys__alloc(m, k * sizeof *lab) : NULL;
        items = lab ? recsys__alloc(m, k * sizeof *items) : NULL;
        if (!items) {
            st = RECSYS_E_NOMEM;
            goto done;
        }
        if ((st = recsys__topk_init(&top, m, limit)) != RECSYS_OK)
            goto done;
        size_t got = 0;
        if ((st = search_raw(s, u, k, dist, lab, items, &got)) != RECSYS_OK)
            goto done;
        size_t kept = 0;
        for (size_t j = 0; j < got; j++) {
            uint32_t it = items[j];
            if (it == q->anchor || !recsys__catalog_get(c, it) ||
                recsys__query_excluded(q, it) || (skip_pos && sorted_has(pos, npos, it)))
                continue;
            recsys__topk_offer(&top, it, dist[j]);
            kept++;
        }
        /* removed items (or an approximate index returning fewer) can leave too few */
        if (kept >= limit || k >= s->n)
            break;
        k *= 2;
    }
    st = recsys__topk_emit(&top, out);
done:
    recsys__free(m, pos);
    recsys__free(m, pw);
    recsys__free(m, u);
    recsys__free(m, dist);
    recsys__free(m, lab);
    recsys__free(m, items);
    recsys__topk_free(&top);
    return st;
}

recsys_status recsys__source_vector(const recsys__mem *m, recsys_source_vtable *out)
{
    RECSYS_UNUSED(m);
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "vector: vtable is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->retrieve = vector_retrieve;
    return RECSYS_OK;
}
