/* bm25.c - inverted index with weighted term frequencies, BM25 scoring (see bm25.h). */
#include "bm25.h"
#include "../model/derived.h"
#include "../core/options.h"
#include "tokenize.h"
#include "../core/error.h"

struct recsys__bm25 {
    const recsys__mem *mem;
    const recsys__catalog *cat; /* read at search time to skip removed items */
    recsys__ids terms;          /* term text -> term id */
    uint32_t *post_off;         /* term id -> first posting; nterms + 1 entries */
    uint32_t *post_doc;         /* postings: item index, ascending within a term */
    float *post_tf;             /* postings: weighted term frequency */
    float *doclen;              /* item index -> weighted length (0 when not indexed) */
    size_t nslots;              /* catalog slots at build */
    size_t ndocs;               /* live items at build */
    double avgdl, k1, b;
    /* impact lists (bm25.h): for each term with more than `floor` postings, its best
     * min(df, budget) postings by score, best first; other terms have empty ranges */
    size_t budget, floor;
    uint32_t *imp_off; /* term id -> first entry; nterms + 1 entries */
    uint32_t *imp_doc;
    float *imp_s;      /* the posting's whole BM25 score (idf included) */
};

typedef struct term_w {
    uint32_t term;
    float w;
} term_w;

typedef struct pair {
    uint32_t term, doc;
    float tf;
} pair;

typedef struct build_ctx {
    const recsys__mem *m;
    recsys__bm25 *ix;
    term_w *tmp;
    size_t ntmp, captmp;
    pair *pairs;
    size_t npairs, cappairs;
} build_ctx;

static recsys_status add_field(build_ctx *b, const char *text, float w)
{
    recsys__tok t;
    char buf[RECSYS__TOK_MAX];
    size_t n;
    recsys__tok_init(&t, text);
    while ((n = recsys__tok_next(&t, buf)) > 0) {
        uint32_t id;
        RECSYS_TRY(recsys__ids_intern(&b->ix->terms, buf, n, &id, NULL));
        RECSYS_TRY(RECSYS_GROW(b->m, b->tmp, b->captmp, b->ntmp + 1));
        b->tmp[b->ntmp].term = id;
        b->tmp[b->ntmp].w = w;
        b->ntmp++;
    }
    return RECSYS_OK;
}

static int cmp_term_w(const void *a, const void *b)
{
    const term_w *x = a, *y = b;
    return (x->term > y->term) - (x->term < y->term);
}

static recsys_status add_doc(build_ctx *b, const recsys_item *it, uint32_t idx)
{
    b->ntmp = 0;
    RECSYS_TRY(add_field(b, it->title, RECSYS__BM25_W_TITLE));
    for (uint32_t i = 0; i < it->ntags; i++)
        RECSYS_TRY(add_field(b, it->tags[i], RECSYS__BM25_W_TAG));
    RECSYS_TRY(add_field(b, it->category, RECSYS__BM25_W_CATEGORY));
    RECSYS_TRY(add_field(b, it->description, RECSYS__BM25_W_DESCRIPTION));
    if (b->ntmp > 1)
        qsort(b->tmp, b->ntmp, sizeof *b->tmp, cmp_term_w);
    float len = 0;
    for (size_t i = 0; i < b->ntmp;) {
        size_t j = i;
        float tf = 0;
        while (j < b->ntmp && b->tmp[j].term == b->tmp[i].term)
            tf += b->tmp[j++].w;
        RECSYS_TRY(RECSYS_GROW(b->m, b->pairs, b->cappairs, b->npairs + 1));
        b->pairs[b->npairs++] = (pair){ b->tmp[i].term, idx, tf };
        len += tf;
        i = j;
    }
    b->ix->doclen[idx] = len;
    return RECSYS_OK;
}

/* Turns the (term, doc, tf) pairs, in doc order, into per-term posting lists (a counting
 * sort by term keeps the doc order within each term). */
static recsys_status make_postings(build_ctx *b)
{
    recsys__bm25 *ix = b->ix;
    size_t nterms = ix->terms.n;
    if (b->npairs > UINT32_MAX)
        return recsys__err(RECSYS_E_NOMEM, "bm25: %zu postings exceed the index's limit",
                           b->npairs);
    ix->post_off = recsys__calloc(b->m, nterms + 1, sizeof *ix->post_off);
    ix->post_doc = recsys__calloc(b->m, b->npairs, sizeof *ix->post_doc);
    ix->post_tf = recsys__calloc(b->m, b->npairs, sizeof *ix->post_tf);
    if (!ix->post_off || !ix->post_doc || !ix->post_tf)
        return RECSYS_E_NOMEM;
    for (size_t i = 0; i < b->npairs; i++)
        ix->post_off[b->pairs[i].term + 1]++;
    for (size_t t = 0; t < nterms; t++)
        ix->post_off[t + 1] += ix->post_off[t];
    /* fill using post_off[t] as a cursor, then shift back */
    for (size_t i = 0; i < b->npairs; i++) {
        uint32_t pos = ix->post_off[b->pairs[i].term]++;
        ix->post_doc[pos] = b->pairs[i].doc;
        ix->post_tf[pos] = b->pairs[i].tf;
    }
    for (size_t t = nterms; t > 0; t--)
        ix->post_off[t] = ix->post_off[t - 1];
    ix->post_off[0] = 0;
    return RECSYS_OK;
}

static recsys_status make_impacts(recsys__bm25 *ix, const recsys__mem *m);

recsys_status recsys__bm25_build(const recsys__mem *m, const recsys__catalog *c, double k1,
                                 double b, recsys__bm25 **out)
{
    return recsys__bm25_build_budget(m, c, k1, b, RECSYS__BM25_POSTINGS_BUDGET, out);
}

recsys_status recsys__bm25_build_budget(const recsys__mem *m, const recsys__catalog *c,
                                        double k1, double b, size_t budget, recsys__bm25 **out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "bm25_build: out is NULL");
    *out = NULL;
    if (!m || !c)
        return recsys__err(RECSYS_E_INVALID_ARG, "bm25_build: allocator or catalog is NULL");
    if (!(k1 >= 0 && k1 <= 1e6) || !(b >= 0 && b <= 1))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "bm25_build: k1 %g or b %g out of range (k1 >= 0, 0 <= b <= 1)", k1,
                           b);
    if (budget == 0 || budget > UINT32_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "bm25_build: postings budget %zu out of range",
                           budget);
    recsys__bm25 *ix = recsys__calloc(m, 1, sizeof *ix);
    if (!ix)
        return RECSYS_E_NOMEM;
    ix->mem = m;
    ix->cat = c;
    ix->k1 = k1;
    ix->b = b;
    ix->budget = budget;
    ix->floor = budget < RECSYS__BM25_IMPACT_FLOOR ? budget : RECSYS__BM25_IMPACT_FLOOR;
    ix->nslots = c->ids.n;
    recsys__ids_init(&ix->terms, m);
    build_ctx bc = { .m = m, .ix = ix };
    recsys_status st = RECSYS_OK;
    ix->doclen = recsys__calloc(m, ix->nslots ? ix->nslots : 1, sizeof *ix->doclen);
    if (!ix->doclen)
        st = RECSYS_E_NOMEM;
    double total = 0;
    for (size_t i = 0; st == RECSYS_OK && i < ix->nslots; i++) {
        const recsys_item *it = c->items[i];
        if (!it)
            continue;
        st = add_doc(&bc, it, (uint32_t)i);
        if (st == RECSYS_OK) {
            ix->ndocs++;
            total += ix->doclen[i];
        }
    }
    if (st == RECSYS_OK)
        st = make_postings(&bc);
    recsys__free(m, bc.tmp);
    recsys__free(m, bc.pairs);
    ix->avgdl = ix->ndocs ? total / (double)ix->ndocs : 1.0;
    if (ix->avgdl <= 0)
        ix->avgdl = 1.0;
    if (st == RECSYS_OK)
        st = make_impacts(ix, m);
    if (st != RECSYS_OK) {
        recsys__bm25_free(ix);
        return st;
    }
    *out = ix;
    return RECSYS_OK;
}

void recsys__bm25_free(recsys__bm25 *ix)
{
    if (!ix)
        return;
    const recsys__mem *m = ix->mem;
    recsys__ids_free(&ix->terms);
    recsys__free(m, ix->post_off);
    recsys__free(m, ix->post_doc);
    recsys__free(m, ix->post_tf);
    recsys__free(m, ix->doclen);
    recsys__free(m, ix->imp_off);
    recsys__free(m, ix->imp_doc);
    recsys__free(m, ix->imp_s);
    recsys__free(m, ix);
}

size_t recsys__bm25_ndocs(const recsys__bm25 *ix)
{
    return ix ? ix->ndocs : 0;
}

size_t recsys__bm25_nterms(const recsys__bm25 *ix)
{
    return ix ? ix->terms.n : 0;
}

typedef struct hit {
    uint32_t item;
    float score;
} hit;

static int cmp_hit(const void *a, const void *b)
{
    const hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

/* Moves the k best hits (in cmp_hit order) to h[0..k), in no particular order: quickselect,
 * expected O(n) instead of sorting every hit when only the first k are wanted. */
static void select_best(hit *h, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* the k-th best lies in [lo, hi) */
    uint64_t r = 0x9E3779B97F4A7C15ull ^ n;
    while (hi - lo > 1) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        hit pivot = h[lo + (size_t)(r % (hi - lo))];
        size_t i = lo, j = lo, g = hi; /* [lo,i) better, [i,j) equal, [g,hi) worse */
        while (j < g) {
            int c = cmp_hit(&h[j], &pivot);
            if (c < 0) {
                hit t = h[i];
                h[i++] = h[j];
                h[j++] = t;
            } else if (c > 0) {
                hit t = h[--g];
                h[g] = h[j];
                h[j] = t;
            } else {
                j++;
            }
        }
        if (k <= i)
            hi = i;
        else if (k <= g)
            return; /* the boundary falls among pivot-equal hits: done */
        else
            lo = g;
    }
}

static double idf_of(const recsys__bm25 *ix, uint32_t df)
{
    const double N = (double)ix->ndocs, d = (double)df;
    return log(1.0 + (N - d + 0.5) / (d + 0.5));
}

/* One posting's score: idf times the saturated, length-normalised term frequency. */
static double posting_score(const recsys__bm25 *ix, double idf, uint32_t p)
{
    double tf = ix->post_tf[p];
    double norm = ix->k1 * (1.0 - ix->b + ix->b * ix->doclen[ix->post_doc[p]] / ix->avgdl);
    return idf * tf * (ix->k1 + 1.0) / (tf + norm);
}

/* The impact lists: every term with more than ix->floor postings keeps its best
 * min(df, budget) postings, best first (ties by item index). */
static recsys_status make_impacts(recsys__bm25 *ix, const recsys__mem *m)
{
    size_t nterms = ix->terms.n, total = 0, longest = 0;
    ix->imp_off = recsys__calloc(m, nterms + 1, sizeof *ix->imp_off);
    if (!ix->imp_off)
        return RECSYS_E_NOMEM;
    for (size_t t = 0; t < nterms; t++) {
        size_t df = ix->post_off[t + 1] - ix->post_off[t];
        if (df > ix->floor) {
            total += df < ix->budget ? df : ix->budget;
            longest = df > longest ? df : longest;
        }
        ix->imp_off[t + 1] = (uint32_t)total;
    }
    if (total == 0)
        return RECSYS_OK;
    ix->imp_doc = recsys__alloc(m, total * sizeof *ix->imp_doc);
    ix->imp_s = recsys__alloc(m, total * sizeof *ix->imp_s);
    hit *h = recsys__alloc(m, longest * sizeof *h);
    recsys_status st = (ix->imp_doc && ix->imp_s && h) ? RECSYS_OK : RECSYS_E_NOMEM;
    for (size_t t = 0; st == RECSYS_OK && t < nterms; t++) {
        uint32_t lo = ix->post_off[t], df = ix->post_off[t + 1] - lo, at = ix->imp_off[t];
        size_t keep = ix->imp_off[t + 1] - at;
        if (!keep)
            continue;
        double idf = idf_of(ix, df);
        for (uint32_t i = 0; i < df; i++)
            h[i] = (hit){ ix->post_doc[lo + i], (float)posting_score(ix, idf, lo + i) };
        if (keep < df)
            select_best(h, df, keep);
        qsort(h, keep, sizeof *h, cmp_hit);
        for (size_t i = 0; i < keep; i++) {
            ix->imp_doc[at + i] = h[i].item;
            ix->imp_s[at + i] = h[i].score;
        }
    }
    recsys__free(m, h);
    return st;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

recsys_status recsys__bm25_search(const recsys__bm25 *ix, const char *text, size_t limit,
                                  const recsys__mem *m, uint32_t **items, float **scores,
                                  size_t *n)
{
    return recsys__bm25_search_mode(ix, text, limit, m, 0, items, scores, n);
}

recsys_status recsys__bm25_search_mode(const recsys__bm25 *ix, const char *text, size_t limit,
                                       const recsys__mem *m, int mode, uint32_t **items,
                                       float **scores, size_t *n)
{
    if (!items || !scores || !n)
        return recsys__err(RECSYS_E_INVALID_ARG, "bm25_search: an out pointer is NULL");
    *items = NULL;
    *scores = NULL;
    *n = 0;
    if (!ix || !m)
        return recsys__err(RECSYS_E_INVALID_ARG, "bm25_search: index or allocator is NULL");
    if (!text || limit == 0 || ix->ndocs == 0)
        return RECSYS_OK;

    /* the distinct query terms the index knows */
    uint32_t *qt = NULL;
    size_t nqt = 0, capqt = 0;
    float *acc = NULL;
    uint32_t *keys = NULL;
    uint32_t *touched = NULL;
    hit *hits = NULL;
    recsys_status st = RECSYS_OK;
    recsys__tok t;
    char buf[RECSYS__TOK_MAX];
    size_t len;
    recsys__tok_init(&t, text);
    while ((len = recsys__tok_next(&t, buf)) > 0) {
        uint32_t id = recsys__ids_find(&ix->terms, buf, len);
        if (id == RECSYS_IDS_NONE)
            continue;
        if ((st = RECSYS_GROW(m, qt, capqt, nqt + 1)) != RECSYS_OK)
            goto done;
        qt[nqt++] = id;
    }
    if (nqt == 0)
        goto done;
    qsort(qt, nqt, sizeof *qt, cmp_u32);
    size_t w = 1;
    for (size_t i = 1; i < nqt; i++)
        if (qt[i] != qt[w - 1])
            qt[w++] = qt[i];
    nqt = w;

    /* Per-document sums: a dense array when the postings touch a good share of the catalog,
     * else a map sized by the postings, so that a rare term does not cost an allocation as
     * large as the catalog (at a million items that was 4 MB per request). */
    size_t bound = 0;
    for (size_t k = 0; k < nqt; k++)
        bound += ix->post_off[qt[k] + 1] - ix->post_off[qt[k]];
    /* Over the budget (mode 0 only), each term reads at most its best `per` postings from
     * its impact list (bm25.h); terms with fewer postings are read whole. */
    size_t per = SIZE_MAX;
    if (mode == 0 && bound > ix->budget) {
        per = ix->budget / nqt > ix->floor ? ix->budget / nqt : ix->floor;
        bound = 0;
        for (size_t k = 0; k < nqt; k++) {
            size_t df = ix->post_off[qt[k] + 1] - ix->post_off[qt[k]];
            bound += df > per ? per : df;
        }
    }
    bool dense = mode == 1 || (mode == 0 && bound * 8 >= ix->nslots);
    size_t mask = 0;
    if (dense) {
        acc = recsys__calloc(m, ix->nslots, sizeof *acc);
    } else {
        size_t cap = 16;
        while (cap < 2 * bound)
            cap *= 2;
        mask = cap - 1;
        keys = recsys__calloc(m, cap, sizeof *keys);
        acc = keys ? recsys__alloc(m, cap * sizeof *acc) : NULL;
    }
    if (!acc) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    size_t ntouched = 0, captouched = 0;
    for (size_t k = 0; k < nqt; k++) {
        uint32_t lo = ix->post_off[qt[k]], hi = ix->post_off[qt[k] + 1];
        bool impacts = hi - lo > per; /* then it has an impact list at least per long */
        double idf = idf_of(ix, hi - lo);
        if (impacts) {
            lo = ix->imp_off[qt[k]];
            hi = lo + (uint32_t)per;
        }
        for (uint32_t p = lo; p < hi; p++) {
            uint32_t d = impacts ? ix->imp_doc[p] : ix->post_doc[p];
            double s = impacts ? ix->imp_s[p] : posting_score(ix, idf, p);
            size_t at = d;
            if (!dense) {
                at = ((size_t)d * 0x9E3779B1u) & mask;
                while (keys[at] && keys[at] != d + 1)
                    at = (at + 1) & mask;
                if (!keys[at]) {
                    keys[at] = d + 1;
                    acc[at] = 0.0f;
                }
            }
            if (acc[at] == 0.0f) {
                if ((st = RECSYS_GROW(m, touched, captouched, ntouched + 1)) != RECSYS_OK)
                    goto done;
                touched[ntouched++] = (uint32_t)at;
            }
            acc[at] += (float)s;
        }
    }
    hits = recsys__calloc(m, ntouched ? ntouched : 1, sizeof *hits);
    if (!hits) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    size_t nh = 0;
    for (size_t i = 0; i < ntouched; i++) {
        if (i + 16 < ntouched) { /* the catalog's slots are misses: overlap them */
            size_t ah = touched[i + 16];
            uint32_t da = dense ? (uint32_t)ah : keys[ah] - 1;
            if (da < ix->cat->ids.n)
                __builtin_prefetch(&ix->cat->items[da]);
        }
        size_t at = touched[i];
        uint32_t d = dense ? (uint32_t)at : keys[at] - 1;
        if (acc[at] > 0.0f && recsys__catalog_get(ix->cat, d))
            hits[nh++] = (hit){ d, acc[at] };
    }
    if (nh == 0)
        goto done;
    if (nh > limit) {
        select_best(hits, nh, limit);
        nh = limit;
    }
    qsort(hits, nh, sizeof *hits, cmp_hit);
    uint32_t *oi = recsys__alloc(m, nh * sizeof *oi);
    float *os = recsys__alloc(m, nh * sizeof *os);
    if (!oi || !os) {
        recsys__free(m, oi);
        recsys__free(m, os);
        st = RECSYS_E_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < nh; i++) {
        oi[i] = hits[i].item;
        os[i] = hits[i].score;
    }
    *items = oi;
    *scores = os;
    *n = nh;
done:
    recsys__free(m, qt);
    recsys__free(m, acc);
    recsys__free(m, keys);
    recsys__free(m, touched);
    recsys__free(m, hits);
    return st;
}

/* ---------------------------------------------------------------- refresh builder */

static recsys_status bm25_build_state(const recsys__build_ctx *c, void **out)
{
    recsys__bm25 *ix = NULL;
    RECSYS_TRY(recsys__bm25_build(c->mem, &c->model->catalog,
                                  c->opt[recsys__opt_slot(RECSYS_OPT_BM25_K1)],
                                  c->opt[recsys__opt_slot(RECSYS_OPT_BM25_B)], &ix));
    *out = ix;
    return RECSYS_OK;
}

static void bm25_free_state(const recsys__mem *m, void *state)
{
    (void)m;
    recsys__bm25_free(state);
}

const recsys__builder recsys__bm25_builder = {
    RECSYS__DERIVED_BM25, { "content", "search" }, bm25_build_state, bm25_free_state, false,
};
