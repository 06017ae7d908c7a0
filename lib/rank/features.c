/* features.c - the feature vector of every candidate of a request (see features.h). */
#include "features.h"
#include "affinity.h"
#include "../core/error.h"
#include "../core/options.h"
#include <stdalign.h>
#include <xxhash.h>

const char *const recsys__feature_sources[RECSYS__FEAT_NSRC] = {
    "content", "search", "campaign", "popular", "trending", "itemknn",
    "rp3beta", "session", "ease",    "ials",    "vector",
};

/* ------------------------------------------------------------ the layout table */

/* X(id, name, doc, kind, scale, may be NaN), in column order. */
#define SRC_FEATURES(X, UP, lo)                                                              \
    X(UP##_SCORE, "src_" lo "_score",                                                        \
      "normalised score (0..1) of source '" lo "'; 0 when it did not propose the item",      \
      BOUNDED, 0, false)                                                                     \
    X(UP##_RR, "src_" lo "_rr", "1/(1+rank) in the list of source '" lo "'; 0 when absent",  \
      BOUNDED, 0, false)
#define FEATURES(X)                                                                          \
    SRC_FEATURES(X, CONTENT, "content")                                                      \
    SRC_FEATURES(X, SEARCH, "search")                                                        \
    SRC_FEATURES(X, CAMPAIGN, "campaign")                                                    \
    SRC_FEATURES(X, POPULAR, "popular")                                                      \
    SRC_FEATURES(X, TRENDING, "trending")                                                    \
    SRC_FEATURES(X, ITEMKNN, "itemknn")                                                      \
    SRC_FEATURES(X, RP3BETA, "rp3beta")                                                      \
    SRC_FEATURES(X, SESSION, "session")                                                      \
    SRC_FEATURES(X, EASE, "ease")                                                            \
    SRC_FEATURES(X, IALS, "ials")                                                            \
    SRC_FEATURES(X, VECTOR, "vector")                                                        \
    X(NSOURCES, "n_sources", "how many sources proposed the item", DIV, 4, false)            \
    X(HOST_SCORE, "host_score", "sum of the normalised scores of the host's own sources",    \
      LOG, 1, false)                                                                         \
    X(MERGED_SCORE, "merged_score", "the merged source score (0..1)", BOUNDED, 0, false)     \
    X(MERGED_RR, "merged_rr", "1/(1+position) in the merged list", BOUNDED, 0, false)        \
    X(EMB_COSINE, "emb_cosine", "cosine of the user's and the item's vectors", BOUNDED, 0,   \
      true)                                                                                  \
    X(LT_CATEGORY, "lt_category", "long-term category affinity (-1..1)", BOUNDED, 0, true)   \
    X(LT_TAG, "lt_tag", "long-term tag affinity (-1..1)", BOUNDED, 0, true)                  \
    X(SESSION_CATEGORY, "session_category", "category affinity in the current session",      \
      BOUNDED, 0, true)                                                                      \
    X(SESSION_TAG, "session_tag", "tag affinity in the current session", BOUNDED, 0, true)   \
    X(POPULARITY, "popularity", "log1p of the decayed long-window interaction count", DIV,   \
      8, false)                                                                              \
    X(TRENDING, "trending", "log1p of the decayed short-window interaction count", DIV, 4,   \
      false)                                                                                 \
    X(AGE_DAYS, "age_days", "days since the item was created", LOG, 365, true)               \
    X(PRICE_REL, "price_rel", "price over the mean price of the user's recent positives",    \
      LOG, 1, true)                                                                          \
    X(RATING, "rating", "the item's numeric attribute 'rating'", DIV, 5, true)               \
    X(RECENT_SIMILAR, "recent_similar", "recent positive items similar to the item", DIV,    \
      RECSYS__FEAT_RECENT, true)                                                             \
    X(NEGATIVE_SIM, "negative_sim", "largest similarity to an item the user disliked",       \
      BOUNDED, 0, true)                                                                      \
    X(ANONYMOUS, "anonymous", "1 when the request names no user", BOUNDED, 0, false)         \
    X(UNKNOWN_USER, "unknown_user", "1 when the request names a user the model does not know", \
      BOUNDED, 0, false)

#define AS_INFO(id, name, doc, kind, scale, nan)                                             \
    [RECSYS__FEAT_##id] = { name, doc, RECSYS__FEAT_##kind, scale, nan },
#define AS_NAME(id, name, doc, kind, scale, nan) [RECSYS__FEAT_##id] = name,
#define AS_ONE(id, name, doc, kind, scale, nan) +1

const recsys__feature_info recsys__feature_table[RECSYS__NFEAT] = { FEATURES(AS_INFO) };
const char *const recsys__feature_names[RECSYS__NFEAT] = { FEATURES(AS_NAME) };
_Static_assert(0 FEATURES(AS_ONE) == RECSYS__NFEAT, "one table row per feature column");
_Static_assert(RECSYS__FEAT_VECTOR_RR == RECSYS__FEAT_SRC_FIRST + 2 * RECSYS__FEAT_NSRC - 1,
               "two provenance columns per built-in source");

size_t recsys__features_count(void)
{
    return RECSYS__NFEAT;
}

const char *recsys__features_name(size_t f)
{
    return f < RECSYS__NFEAT ? recsys__feature_names[f] : NULL;
}

uint64_t recsys__features_fingerprint(void)
{
    uint64_t h = RECSYS__NFEAT; /* a chain: each column's bytes seeded with the hash so far */
    for (size_t f = 0; f < RECSYS__NFEAT; f++) {
        const recsys__feature_info *fi = &recsys__feature_table[f];
        unsigned char buf[12];
        uint32_t kind = (uint32_t)fi->kind;
        uint64_t scale;
        memcpy(&scale, &fi->scale, sizeof scale);
        for (int b = 0; b < 4; b++)
            buf[b] = (unsigned char)(kind >> (8 * b));
        for (int b = 0; b < 8; b++)
            buf[4 + b] = (unsigned char)(scale >> (8 * b));
        h = XXH3_64bits_withSeed(fi->name, strlen(fi->name), h);
        h = XXH3_64bits_withSeed(buf, sizeof buf, h);
    }
    return h;
}

/* ------------------------------------------------------------ similarity */

/* An item compared by similarity (the candidate, a recent positive or a disliked item): its
 * vector and the inverse of its norm (0: no usable vector), its number of facets. */
typedef struct ref_item {
    const recsys_item *it;
    const float *v;
    double inv; /* 1 / |v|, 0 when v is NULL or zero */
    size_t nf;  /* facets: category and tags */
} ref_item;

/* a . b, accumulated in eight float lanes (one SIMD register: the compiler vectorises the
 * lanes) and summed in double; the relative error stays far below the float the feature is
 * stored in for any dimension the model allows. */
static double dot(const float *a, const float *b, size_t d)
{
    float acc[8] = { 0 };
    size_t i = 0;
    for (; i + 8 <= d; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += a[i + k] * b[i + k];
    double s = 0;
    for (; i < d; i++)
        s += (double)a[i] * b[i];
    for (int k = 0; k < 8; k++)
        s += acc[k];
    return s;
}

static const float *item_vec(const recsys_query *q, uint32_t item)
{
    return q->item_vec && q->vec_dim ? q->item_vec(q, item) : NULL;
}

/* 1 / |v|, or 0 when v is NULL, zero or not finite. */
static double inv_norm(const float *v, size_t d)
{
    double n = v ? sqrt(dot(v, v, d)) : 0;
    return n > 0 && isfinite(n) ? 1.0 / n : 0;
}

/* The i-th facet of an item: 0 its category, then its tags (RECSYS_IDS_NONE: none). */
static uint32_t facet_at(const recsys_item *it, uint32_t i)
{
    if (i == 0)
        return it->category_facet;
    return it->tag_facets ? it->tag_facets[i - 1] : RECSYS_IDS_NONE;
}

static size_t nfacets(const recsys_item *it)
{
    size_t n = 0;
    for (uint32_t i = 0; i <= it->ntags; i++)
        n += facet_at(it, i) != RECSYS_IDS_NONE;
    return n;
}

static void ref_init(const recsys_query *q, ref_item *r, const recsys_item *it)
{
    r->it = it;
    r->v = item_vec(q, it->idx);
    r->inv = inv_norm(r->v, q->vec_dim);
    r->nf = nfacets(it);
}

/* Which of the user's items hold a facet: bit k for pos[k], bit RECSYS__FEAT_RECENT + k for
 * neg[k]. A sorted table of these turns the facet overlap of a candidate with all of them
 * into one lookup per candidate facet. */
typedef struct fmask {
    uint32_t facet;
    uint64_t mask;
} fmask;
_Static_assert(RECSYS__FEAT_RECENT + RECSYS__FEAT_NEGATIVE <= 64, "one mask bit per item");

static int cmp_fmask(const void *a, const void *b)
{
    const fmask *x = a, *y = b;
    return (x->facet > y->facet) - (x->facet < y->facet);
}

/* The mask of facet in t[0..n) (branch-free halving, as affinity.c), 0 when absent. */
static uint64_t fmask_get(const fmask *t, size_t n, uint32_t facet)
{
    if (n == 0 || facet == RECSYS_IDS_NONE)
        return 0;
    while (n > 1) {
        size_t half = n / 2;
        t = t[half].facet <= facet ? t + half : t;
        n -= half;
    }
    return t->facet == facet ? t->mask : 0;
}

/* ------------------------------------------------------------ the request's context */

typedef struct fctx {
    const recsys_query *q;
    const recsys_candidates *c;
    const recsys__catalog *cat;
    const int8_t *srcmap; /* source index -> built-in index, -1 for the host's */
    recsys__affinity aff;
    bool known, anonymous;
    ref_item pos[RECSYS__FEAT_RECENT], neg[RECSYS__FEAT_NEGATIVE];
    size_t npos, nneg;
    fmask *fm; /* the facets of pos and neg, sorted, each once */
    size_t nfm;
    double price_mean; /* NaN: none */
    double user_inv;   /* 1 / |user vector|, 0: none */
    double pop_hl, trend_hl;
} fctx;

static bool has_u32(const uint32_t *v, size_t n, uint32_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

static bool has_ref(const ref_item *v, size_t n, uint32_t idx)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].it->idx == idx)
            return true;
    return false;
}

/* A finite numeric attribute, else NaN. */
static double num_attr(const recsys_item *it, const char *name)
{
    const recsys__attr *a = recsys__item_attr(it, name);
    return a && a->type == RECSYS__ATTR_NUM && isfinite(a->num) ? a->num : NAN;
}

/* The recent positive and the disliked items (see features.h), and their mean price. */
static void collect_user_items(fctx *x)
{
    const recsys__user *u = x->q->user;
    uint32_t seen[RECSYS__FEAT_SCAN];
    size_t nseen = 0;
    for (size_t k = u->nhist; k > 0 && nseen < RECSYS__FEAT_SCAN &&
                              (x->npos < RECSYS__FEAT_RECENT || x->nneg < RECSYS__FEAT_NEGATIVE);
         k--) {
        const recsys__hist *h = &u->hist[k - 1];
        if (h->item == RECSYS_IDS_NONE || has_u32(seen, nseen, h->item))
            continue;
        double w = recsys__event_weight(h->type, h->value);
        if (w == 0)
            continue; /* impressions and searches say nothing about the item */
        seen[nseen++] = h->item; /* its latest meaningful event decides */
        const recsys_item *it = recsys__catalog_get(x->cat, h->item);
        if (!it)
            continue;
        if (w > 0 && x->npos < RECSYS__FEAT_RECENT)
            ref_init(x->q, &x->pos[x->npos++], it);
        else if (h->type == RECSYS_EVENT_DISLIKE && x->nneg < RECSYS__FEAT_NEGATIVE)
            ref_init(x->q, &x->neg[x->nneg++], it);
    }
    static const int plists[] = { RECSYS_LIST_RECENT_VIEWS, RECSYS_LIST_PURCHASED };
    for (size_t l = 0; l < RECSYS_ARRAY_LEN(plists); l++)
        for (uint32_t j = 0; j < u->nlists[plists[l]] && x->npos < RECSYS__FEAT_RECENT; j++) {
            uint32_t idx = u->lists[plists[l]][j];
            const recsys_item *it = recsys__catalog_get(x->cat, idx);
            if (it && !has_u32(seen, nseen, idx) && !has_ref(x->pos, x->npos, idx))
                ref_init(x->q, &x->pos[x->npos++], it);
        }
    for (uint32_t j = 0; j < u->nlists[RECSYS_LIST_NEGATIVE] && x->nneg < RECSYS__FEAT_NEGATIVE;
         j++) {
        uint32_t idx = u->lists[RECSYS_LIST_NEGATIVE][j];
        const recsys_item *it = recsys__catalog_get(x->cat, idx);
        if (it && !has_ref(x->neg, x->nneg, idx))
            ref_init(x->q, &x->neg[x->nneg++], it);
    }
    double sum = 0;
    size_t n = 0;
    for (size_t i = 0; i < x->npos; i++) {
        double p = num_attr(x->pos[i].it, "price");
        if (p >= 0) {
            sum += p;
            n++;
        }
    }
    x->price_mean = n && sum > 0 ? sum / (double)n : NAN;
}

/* The user's items as mask bits, in order. */
static const ref_item *ref_by_bit(const fctx *x, size_t bit)
{
    return bit < RECSYS__FEAT_RECENT ? &x->pos[bit] : &x->neg[bit - RECSYS__FEAT_RECENT];
}

/* Fills and sorts x->fm (room for every facet of the user's items), merging duplicates. */
static void build_fmask(fctx *x)
{
    size_t n = 0;
    for (size_t bit = 0; bit < RECSYS__FEAT_RECENT + RECSYS__FEAT_NEGATIVE; bit++) {
        if (bit < RECSYS__FEAT_RECENT ? bit >= x->npos : bit - RECSYS__FEAT_RECENT >= x->nneg)
            continue;
        const recsys_item *it = ref_by_bit(x, bit)->it;
        for (uint32_t i = 0; i <= it->ntags; i++) {
            uint32_t f = facet_at(it, i);
            if (f != RECSYS_IDS_NONE)
                x->fm[n++] = (fmask){ f, UINT64_C(1) << bit };
        }
    }
    if (n > 1)
        qsort(x->fm, n, sizeof *x->fm, cmp_fmask);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w && x->fm[w - 1].facet == x->fm[i].facet)
            x->fm[w - 1].mask |= x->fm[i].mask;
        else
            x->fm[w++] = x->fm[i];
    }
    x->nfm = w;
}

static size_t fmask_entries(const fctx *x)
{
    size_t n = 0;
    for (size_t i = 0; i < x->npos; i++)
        n += x->pos[i].nf;
    for (size_t i = 0; i < x->nneg; i++)
        n += x->neg[i].nf;
    return n;
}

static double half_life(const recsys_query *q, int32_t key, double unit)
{
    double hl = recsys__query_opt(q, key) * unit;
    return hl > 0 ? hl : unit;
}

/* ------------------------------------------------------------ scratch */

/* A candidate in the merged order. */
typedef struct ord {
    double score;
    const char *id;
    size_t pos;
} ord;

typedef struct layout {
    size_t aff;     /* affinity bytes at offset 0 */
    size_t ord_off; /* c->n ord entries */
    size_t fm_off;  /* fmask entries */
    size_t map_off; /* c->nsources int8_t: built-in source index, or -1 */
    size_t total;
} layout;

/* Everything of the request that needs no memory (the user's items), and the layout of the
 * scratch the rest needs. */
static recsys_status prepare(const recsys_query *q, const recsys_candidates *c, fctx *x,
                             layout *l)
{
    memset(x, 0, sizeof *x);
    memset(l, 0, sizeof *l);
    x->q = q;
    x->c = c;
    x->cat = &q->model->catalog;
    x->known = q->user != NULL;
    x->anonymous = !x->known && (!q->user_id || !q->user_id[0]);
    x->price_mean = NAN;
    if (c->n == 0)
        return RECSYS_OK;
    if (x->known)
        collect_user_items(x);
    size_t aff = recsys__affinity_bytes(x->known ? q : NULL), nfm = fmask_entries(x);
    const size_t al = alignof(max_align_t);
    /* each part is below SIZE_MAX / 4 (the memory behind it exists), except possibly aff */
    if (aff > SIZE_MAX / 4 || c->n > SIZE_MAX / 4 / sizeof(ord) || c->nsources > SIZE_MAX / 4)
        return recsys__err(RECSYS_E_NOMEM, "features: the scratch for %zu candidates overflows",
                           c->n);
    l->aff = aff;
    l->ord_off = (aff + al - 1) / al * al;
    l->fm_off = l->ord_off + (c->n * sizeof(ord) + al - 1) / al * al;
    l->map_off = l->fm_off + nfm * sizeof(fmask);
    l->total = l->map_off + c->nsources;
    return RECSYS_OK;
}

recsys_status recsys__features_scratch(const recsys_query *q, const recsys_candidates *c,
                                       size_t *bytes)
{
    if (!q || !c || !bytes)
        return recsys__err(RECSYS_E_INVALID_ARG, "features: query, candidates or size is NULL");
    fctx x;
    layout l;
    RECSYS_TRY(prepare(q, c, &x, &l));
    *bytes = l.total;
    return RECSYS_OK;
}

/* ------------------------------------------------------------ one row */

static void provenance(const fctx *x, const recsys__cand *cd, float *row)
{
    const recsys_candidates *c = x->c;
    if (!c->prov || cd->nprov == 0 || (size_t)cd->prov_off + cd->nprov > c->nprov)
        return;
    double host = 0;
    for (uint16_t k = 0; k < cd->nprov; k++) {
        const recsys__prov *p = &c->prov[cd->prov_off + k];
        int b = p->source < c->nsources ? x->srcmap[p->source] : -1;
        if (b < 0) {
            host += isfinite(p->norm) ? p->norm : 0;
            continue;
        }
        row[RECSYS__FEAT_SRC_FIRST + 2 * b] = p->norm;
        row[RECSYS__FEAT_SRC_FIRST + 2 * b + 1] = (float)(1.0 / (1.0 + (double)p->rank));
    }
    row[RECSYS__FEAT_NSOURCES] = (float)cd->nprov;
    row[RECSYS__FEAT_HOST_SCORE] = (float)host;
}

/* recent_similar and negative_sim of the candidate me. The similarity of two items is kept
 * as a fraction num / den so that the threshold test costs no division: the cosine of their
 * vectors when both have one, else |shared facets| / |facets of either| (0 / 1 when both
 * have none), the shared facets counted for all of the user's items at once through x->fm. */
static void user_item_columns(const fctx *x, const ref_item *me, float *row)
{
    const recsys_query *q = x->q;
    uint8_t shared[RECSYS__FEAT_RECENT + RECSYS__FEAT_NEGATIVE] = { 0 };
    for (uint32_t i = 0; i <= me->it->ntags; i++) {
        uint64_t m = fmask_get(x->fm, x->nfm, facet_at(me->it, i));
        for (; m; m &= m - 1)
            shared[__builtin_ctzll(m)]++;
    }
    int similar = 0;
    double wnum = 0, wden = 1; /* the largest similarity to a disliked item, at least 0 */
    for (size_t bit = 0; bit < RECSYS__FEAT_RECENT + RECSYS__FEAT_NEGATIVE; bit++) {
        bool is_pos = bit < RECSYS__FEAT_RECENT;
        if (is_pos ? bit >= x->npos : bit - RECSYS__FEAT_RECENT >= x->nneg)
            continue;
        const ref_item *r = ref_by_bit(x, bit);
        if (is_pos && r->it == me->it)
            continue; /* the candidate itself */
        double num, den;
        if (me->inv > 0 && r->inv > 0) {
            num = dot(me->v, r->v, q->vec_dim) * me->inv * r->inv;
            den = 1;
        } else {
            num = shared[bit];
            den = me->nf + r->nf > shared[bit] ? (double)(me->nf + r->nf - shared[bit]) : 1;
        }
        if (is_pos)
            similar += num >= RECSYS__FEAT_SIMILAR * den;
        else if (num * wden > wnum * den) {
            wnum = num;
            wden = den;
        }
    }
    row[RECSYS__FEAT_RECENT_SIMILAR] = (float)similar;
    row[RECSYS__FEAT_NEGATIVE_SIM] = (float)(wnum / wden);
}

static void item_columns(fctx *x, const recsys_item *it, float *row)
{
    const recsys_query *q = x->q;
    ref_item me;
    ref_init(q, &me, it);
    row[RECSYS__FEAT_EMB_COSINE] =
        x->user_inv > 0 && me.inv > 0
            ? (float)(dot(q->user_vec, me.v, q->vec_dim) * x->user_inv * me.inv)
            : NAN;
    const recsys__catalog *cat = x->cat;
    double pop = 0, trend = 0;
    if (it->idx < cat->ids.n && cat->pop_v)
        pop = recsys__decay(cat->pop_v[it->idx], cat->pop_ts[it->idx], q->now, x->pop_hl);
    if (it->idx < cat->ids.n && cat->trend_v)
        trend = recsys__decay(cat->trend_v[it->idx], cat->trend_ts[it->idx], q->now,
                              x->trend_hl);
    row[RECSYS__FEAT_POPULARITY] = (float)log1p(pop > 0 ? pop : 0);
    row[RECSYS__FEAT_TRENDING] = (float)log1p(trend > 0 ? trend : 0);
    row[RECSYS__FEAT_AGE_DAYS] =
        it->created ? (float)(q->now > it->created ? (double)(q->now - it->created) / 86400.0
                                                   : 0.0)
                    : NAN;
    row[RECSYS__FEAT_RATING] = (float)num_attr(it, "rating");
    if (!x->known) {
        row[RECSYS__FEAT_LT_CATEGORY] = row[RECSYS__FEAT_LT_TAG] = NAN;
        row[RECSYS__FEAT_SESSION_CATEGORY] = row[RECSYS__FEAT_SESSION_TAG] = NAN;
        row[RECSYS__FEAT_PRICE_REL] = NAN;
        row[RECSYS__FEAT_RECENT_SIMILAR] = row[RECSYS__FEAT_NEGATIVE_SIM] = NAN;
        return;
    }
    recsys__item_aff lt = recsys__affinity_long(&x->aff, it);
    row[RECSYS__FEAT_LT_CATEGORY] = (float)lt.category;
    row[RECSYS__FEAT_LT_TAG] = (float)lt.tag;
    if (x->aff.in_session) {
        recsys__item_aff ss = recsys__affinity_session(&x->aff, it);
        row[RECSYS__FEAT_SESSION_CATEGORY] = (float)ss.category;
        row[RECSYS__FEAT_SESSION_TAG] = (float)ss.tag;
    } else {
        row[RECSYS__FEAT_SESSION_CATEGORY] = row[RECSYS__FEAT_SESSION_TAG] = NAN;
    }
    double price = num_attr(it, "price");
    row[RECSYS__FEAT_PRICE_REL] =
        price >= 0 && x->price_mean > 0 ? (float)(price / x->price_mean) : NAN;
    user_item_columns(x, &me, row);
}

static void fill_row(fctx *x, size_t i, float *row)
{
    const recsys__cand *cd = &x->c->v[i];
    for (size_t f = 0; f < RECSYS__NFEAT; f++)
        row[f] = 0;
    provenance(x, cd, row);
    row[RECSYS__FEAT_MERGED_SCORE] = (float)cd->score;
    row[RECSYS__FEAT_ANONYMOUS] = x->anonymous;
    row[RECSYS__FEAT_UNKNOWN_USER] = !x->known && !x->anonymous;
    const recsys_item *it = recsys__catalog_get(x->cat, cd->item);
    if (it) {
        item_columns(x, it, row);
        return;
    }
    for (size_t f = RECSYS__FEAT_EMB_COSINE; f <= RECSYS__FEAT_RATING; f++)
        row[f] = NAN;
    row[RECSYS__FEAT_RECENT_SIMILAR] = row[RECSYS__FEAT_NEGATIVE_SIM] = NAN;
}

/* ------------------------------------------------------------ the merged order */

static int by_merged(const void *a, const void *b)
{
    const ord *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

static void merged_positions(const fctx *x, ord *o, float *out)
{
    const recsys_candidates *c = x->c;
    for (size_t i = 0; i < c->n; i++) {
        const char *id = recsys__ids_name(&x->cat->ids, c->v[i].item);
        o[i] = (ord){ c->v[i].score, id ? id : "", i };
    }
    qsort(o, c->n, sizeof *o, by_merged);
    for (size_t k = 0; k < c->n; k++)
        out[o[k].pos * RECSYS__NFEAT + RECSYS__FEAT_MERGED_RR] = (float)(1.0 / (1.0 + (double)k));
}

/* ------------------------------------------------------------ entry points */

recsys_status recsys__features_compute_in(const recsys_query *q, const recsys_candidates *c,
                                          float *out, void *scratch, size_t bytes)
{
    if (!q || !c || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "features: query, candidates or output is NULL");
    fctx x;
    layout l;
    RECSYS_TRY(prepare(q, c, &x, &l));
    if (c->n == 0)
        return RECSYS_OK;
    if (!scratch || bytes < l.total)
        return recsys__err(RECSYS_E_INTERNAL, "features: %zu bytes of scratch given, %zu needed",
                           bytes, l.total);
    unsigned char *base = scratch;
    RECSYS_TRY(recsys__affinity_build(&x.aff, x.known ? q : NULL, base, l.aff));
    int8_t *map = (int8_t *)(base + l.map_off);
    for (size_t s = 0; s < c->nsources; s++) {
        map[s] = -1;
        const char *name = c->source_names ? c->source_names[s] : NULL;
        for (int b = 0; name && b < RECSYS__FEAT_NSRC && map[s] < 0; b++)
            if (!strcmp(name, recsys__feature_sources[b]))
                map[s] = (int8_t)b;
    }
    x.srcmap = map;
    x.fm = (fmask *)(base + l.fm_off);
    build_fmask(&x);
    x.user_inv = q->user_vec ? inv_norm(q->user_vec, q->vec_dim) : 0;
    x.pop_hl = half_life(q, RECSYS_OPT_POPULAR_HALF_LIFE_DAYS, 86400.0);
    x.trend_hl = half_life(q, RECSYS_OPT_TRENDING_HALF_LIFE_H, 3600.0);
    for (size_t i = 0; i < c->n; i++)
        fill_row(&x, i, out + i * RECSYS__NFEAT);
    merged_positions(&x, (ord *)(base + l.ord_off), out);
    return RECSYS_OK;
}

recsys_status recsys__features_compute(const recsys_query *q, const recsys_candidates *c,
                                       float *out)
{
    size_t bytes = 0;
    RECSYS_TRY(recsys__features_scratch(q, c, &bytes));
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "features: output is NULL");
    if (bytes == 0)
        return RECSYS_OK;
    const recsys__mem *m = c->mem ? c->mem : q->model->mem;
    void *scratch = recsys__alloc(m, bytes);
    if (!scratch)
        return RECSYS_E_NOMEM;
    recsys_status st = recsys__features_compute_in(q, c, out, scratch, bytes);
    recsys__free(m, scratch);
    return st;
}
