/* blend.c - the blend ranker: source score plus long-term and session affinities
 * (see rankers.h). */
#include "rankers.h"
#include "../core/error.h"
#include "../core/options.h"
#include "../text/tokenize.h"

typedef struct facet_w {
    uint32_t facet;
    double w;
} facet_w;

/* A sparse facet vector, sorted by facet, with its largest absolute value. */
typedef struct fvec {
    facet_w *v;
    size_t n, cap;
    double maxabs;
} fvec;

static recsys_status fvec_push(const recsys__mem *m, fvec *f, uint32_t facet, double w)
{
    if (facet == RECSYS_IDS_NONE || w == 0 || !isfinite(w))
        return RECSYS_OK;
    RECSYS_TRY(RECSYS_GROW(m, f->v, f->cap, f->n + 1));
    f->v[f->n++] = (facet_w){ facet, w };
    return RECSYS_OK;
}

static recsys_status fvec_push_item(const recsys__mem *m, fvec *f, const recsys_item *it,
                                    double w)
{
    RECSYS_TRY(fvec_push(m, f, it->category_facet, w));
    for (uint32_t t = 0; t < it->ntags; t++)
        RECSYS_TRY(fvec_push(m, f, it->tag_facets ? it->tag_facets[t] : RECSYS_IDS_NONE, w));
    return RECSYS_OK;
}

static int cmp_facet(const void *a, const void *b)
{
    const facet_w *x = a, *y = b;
    return (x->facet > y->facet) - (x->facet < y->facet);
}

/* Sorts, sums duplicates and finds the largest absolute value. */
static void fvec_finish(fvec *f)
{
    if (f->n > 1)
        qsort(f->v, f->n, sizeof *f->v, cmp_facet);
    size_t w = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (w && f->v[w - 1].facet == f->v[i].facet)
            f->v[w - 1].w += f->v[i].w;
        else
            f->v[w++] = f->v[i];
    }
    f->n = w;
    f->maxabs = 0;
    for (size_t i = 0; i < f->n; i++)
        f->maxabs = RECSYS_MAX(f->maxabs, fabs(f->v[i].w));
}

/* The normalised affinity (-1..1) of facet, 0 when absent. */
static double fvec_get(const fvec *f, uint32_t facet)
{
    if (facet == RECSYS_IDS_NONE || f->maxabs <= 0)
        return 0;
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (f->v[mid].facet < facet)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < f->n && f->v[lo].facet == facet) ? f->v[lo].w / f->maxabs : 0;
}

static double clamp1(double x)
{
    return x > 1 ? 1 : x < -1 ? -1 : x;
}

static bool interest_matches(const recsys__user *u, const char *facet_text)
{
    if (!facet_text || !*facet_text)
        return false;
    for (uint32_t i = 0; i < u->ninterests; i++)
        if (recsys__text_ieq(u->interests[i], facet_text) ||
            recsys__tok_phrase_eq(u->interests[i], facet_text))
            return true;
    return false;
}

/* Long-term vector: decayed event affinities plus the profile's lists. */
static recsys_status long_term(const recsys__mem *m, const recsys_query *q, fvec *f)
{
    const recsys__user *u = q->user;
    const recsys__catalog *c = &q->model->catalog;
    double hl = recsys__query_opt(q, RECSYS_OPT_LONG_HALF_LIFE_DAYS) * 86400.0;
    if (!(hl > 0))
        hl = 86400.0;
    for (size_t k = 0; k < u->naff; k++)
        RECSYS_TRY(fvec_push(m, f, u->aff[k].facet,
                             recsys__decay(u->aff[k].w, u->aff[k].ts, q->now, hl)));
    static const int32_t list_event[4] = { 0, RECSYS_EVENT_VIEW, RECSYS_EVENT_PURCHASE,
                                           RECSYS_EVENT_DISLIKE };
    for (int l = RECSYS_LIST_RECENT_VIEWS; l <= RECSYS_LIST_NEGATIVE; l++) {
        double w = recsys__event_weight(list_event[l], 0);
        for (uint32_t j = 0; j < u->nlists[l]; j++) {
            const recsys_item *it = recsys__catalog_get(c, u->lists[l][j]);
            if (it)
                RECSYS_TRY(fvec_push_item(m, f, it, w));
        }
    }
    fvec_finish(f);
    return RECSYS_OK;
}

/* Session vector: events after the last gap longer than the session gap. */
static recsys_status session(const recsys__mem *m, const recsys_query *q, fvec *f)
{
    const recsys__user *u = q->user;
    const recsys__catalog *c = &q->model->catalog;
    double gap = recsys__query_opt(q, RECSYS_OPT_SESSION_GAP_S);
    if (!(gap >= 1))
        gap = 1;
    if (u->nhist == 0 || (double)(q->now - u->hist[u->nhist - 1].ts) > gap)
        return RECSYS_OK; /* the last session is over */
    size_t start = u->nhist - 1;
    while (start > 0 && (double)(u->hist[start].ts - u->hist[start - 1].ts) <= gap)
        start--;
    double hl = gap / 2;
    for (size_t k = start; k < u->nhist; k++) {
        const recsys__hist *h = &u->hist[k];
        const recsys_item *it =
            h->item == RECSYS_IDS_NONE ? NULL : recsys__catalog_get(c, h->item);
        if (!it)
            continue;
        double w = recsys__decay(recsys__event_weight(h->type, h->value), h->ts, q->now, hl);
        RECSYS_TRY(fvec_push_item(m, f, it, w));
    }
    fvec_finish(f);
    return RECSYS_OK;
}

typedef struct item_aff {
    double category, tag;
} item_aff;

/* Whether a facet's text matches one of the user's stated interests, remembered per facet for
 * one request: candidates share their categories and tags, and matching is phrase work over
 * every interest (0 = not yet known, 1 = no, 2 = yes). */
typedef struct interest_memo {
    const recsys__user *u;
    uint8_t *known; /* by facet index; NULL: no memo (every lookup computes) */
    size_t n;
} interest_memo;

static bool memo_match(interest_memo *im, uint32_t facet, const char *text)
{
    if (!im->u || !im->u->ninterests)
        return false;
    if (!im->known || facet >= im->n)
        return interest_matches(im->u, text);
    if (!im->known[facet])
        im->known[facet] = interest_matches(im->u, text) ? 2 : 1;
    return im->known[facet] == 2;
}

/* Category and tag affinity of it under f; with im, stated interests add a strong positive. */
static item_aff affinity(const fvec *f, const recsys_item *it, interest_memo *im)
{
    item_aff a = { 0, 0 };
    a.category = fvec_get(f, it->category_facet);
    if (im && memo_match(im, it->category_facet, it->category))
        a.category = clamp1(a.category + 1);
    double pos = 0, neg = 0;
    for (uint32_t t = 0; t < it->ntags; t++) {
        uint32_t facet = it->tag_facets ? it->tag_facets[t] : RECSYS_IDS_NONE;
        double v = fvec_get(f, facet);
        if (im && memo_match(im, facet, it->tags[t]))
            v = clamp1(v + 1);
        pos = RECSYS_MAX(pos, v);
        neg = RECSYS_MIN(neg, v);
    }
    a.tag = clamp1(pos + neg);
    return a;
}

static recsys_status blend_score(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    RECSYS_UNUSED(ctx);
    if (!q || !c)
        return recsys__err(RECSYS_E_INVALID_ARG, "blend: query or candidate set is NULL");
    const recsys__user *u = q->user;
    if (!u || c->n == 0)
        return RECSYS_OK; /* anonymous: the merged source score stands */
    const recsys__mem *m = c->mem ? c->mem : q->model->mem;
    double w_src = recsys__query_opt(q, RECSYS_OPT_RANK_W_SOURCE);
    double w_cat = recsys__query_opt(q, RECSYS_OPT_RANK_W_CATEGORY);
    double w_tag = recsys__query_opt(q, RECSYS_OPT_RANK_W_TAG);
    double w_ses = recsys__query_opt(q, RECSYS_OPT_RANK_W_SESSION);
    fvec lt = { 0 }, ss = { 0 };
    interest_memo im = { u, NULL, 0 };
    recsys_status st = long_term(m, q, &lt);
    if (st == RECSYS_OK)
        st = session(m, q, &ss);
    if (st == RECSYS_OK && u->ninterests) {
        im.n = q->model->catalog.facets.ids.n;
        im.known = recsys__calloc(m, im.n ? im.n : 1, 1);
        if (!im.known)
            st = RECSYS_E_NOMEM;
    }
    const recsys__catalog *cat = &q->model->catalog;
    for (size_t i = 0; i < c->n && st == RECSYS_OK; i++) {
        /* a large catalog is mostly cache misses here: fetch ahead in three steps (the slot,
         * then the item, then its tag facets), so that candidates' misses overlap */
        if (i + 12 < c->n && c->v[i + 12].item < cat->ids.n)
            __builtin_prefetch(&cat->items[c->v[i + 12].item]);
        const recsys_item *ahead = i + 6 < c->n ? recsys__catalog_get(cat, c->v[i + 6].item) : NULL;
        if (ahead) {
            __builtin_prefetch(&ahead->category_facet);
            __builtin_prefetch(&ahead->tag_facets);
        }
        ahead = i + 3 < c->n ? recsys__catalog_get(cat, c->v[i + 3].item) : NULL;
        if (ahead && ahead->tag_facets)
            __builtin_prefetch(ahead->tag_facets);
        const recsys_item *it = recsys__catalog_get(cat, c->v[i].item);
        if (!it)
            continue;
        item_aff l = affinity(&lt, it, &im);
        item_aff s = affinity(&ss, it, NULL);
        double score = w_src * recsys_candidates_score(c, i) + w_cat * l.category +
                       w_tag * l.tag + w_ses * 0.5 * (s.category + s.tag);
        st = recsys_candidates_set_score(c, i, score);
    }
    recsys__free(m, lt.v);
    recsys__free(m, ss.v);
    recsys__free(m, im.known);
    return st;
}

recsys_status recsys__ranker_blend(const recsys__mem *m, recsys_ranker_vtable *out)
{
    RECSYS_UNUSED(m);
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "blend: vtable is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->score = blend_score;
    return RECSYS_OK;
}
