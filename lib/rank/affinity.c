/* affinity.c - long-term and session facet affinities of one request (see affinity.h). */
#include "affinity.h"
#include "../core/error.h"
#include "../core/options.h"
#include "../text/tokenize.h"

/* The event each profile list counts as (indexed by RECSYS_LIST_*; 0 unused). */
static const int32_t list_event[4] = { 0, RECSYS_EVENT_VIEW, RECSYS_EVENT_PURCHASE,
                                       RECSYS_EVENT_DISLIKE };

/* ------------------------------------------------------------ sparse facet vectors */

/* Appends (facet, w) unless it says nothing; the caller sized the vector (see bytes). */
static void fvec_push(recsys__fvec *f, uint32_t facet, double w)
{
    if (facet == RECSYS_IDS_NONE || w == 0 || !isfinite(w) || f->n >= f->cap)
        return;
    f->v[f->n++] = (recsys__facet_w){ facet, w };
}

static void fvec_push_item(recsys__fvec *f, const recsys_item *it, double w)
{
    fvec_push(f, it->category_facet, w);
    for (uint32_t t = 0; t < it->ntags; t++)
        fvec_push(f, it->tag_facets ? it->tag_facets[t] : RECSYS_IDS_NONE, w);
}

static int cmp_facet(const void *a, const void *b)
{
    const recsys__facet_w *x = a, *y = b;
    return (x->facet > y->facet) - (x->facet < y->facet);
}

/* Sorts, sums duplicates and finds the largest absolute value. */
static void fvec_finish(recsys__fvec *f)
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
static double fvec_get(const recsys__fvec *f, uint32_t facet)
{
    if (facet == RECSYS_IDS_NONE || f->maxabs <= 0 || f->n == 0)
        return 0;
    /* branch-free halving (a conditional move per step): the comparisons of a search over
     * hundreds of facets are unpredictable, and candidates make thousands of lookups */
    const recsys__facet_w *base = f->v;
    size_t n = f->n;
    while (n > 1) {
        size_t half = n / 2;
        base = base[half].facet <= facet ? base + half : base;
        n -= half;
    }
    return base->facet == facet ? base->w / f->maxabs : 0;
}

static double clamp1(double x)
{
    return x > 1 ? 1 : x < -1 ? -1 : x;
}

/* ------------------------------------------------------------ sizes */

/* Facet entries an item adds (its category and every tag). */
static size_t item_entries(const recsys_item *it)
{
    return it ? 1 + (size_t)it->ntags : 0;
}

static double session_gap(const recsys_query *q)
{
    double gap = recsys__query_opt(q, RECSYS_OPT_SESSION_GAP_S);
    return gap >= 1 ? gap : 1;
}

/* The first history event of the current session, or false when there is none. */
static bool session_start(const recsys_query *q, size_t *start)
{
    const recsys__user *u = q->user;
    double gap = session_gap(q);
    if (u->nhist == 0 || (double)(q->now - u->hist[u->nhist - 1].ts) > gap)
        return false; /* the last session is over */
    size_t s = u->nhist - 1;
    while (s > 0 && (double)(u->hist[s].ts - u->hist[s - 1].ts) <= gap)
        s--;
    *start = s;
    return true;
}

static const recsys_item *hist_item(const recsys__catalog *c, const recsys__hist *h)
{
    return h->item == RECSYS_IDS_NONE ? NULL : recsys__catalog_get(c, h->item);
}

typedef struct aff_sizes {
    size_t lt, ss, memo; /* entries, entries, bytes */
    bool in_session;
    size_t start;
} aff_sizes;

/* Entry counts of q's user (false on overflow). */
static bool sizes_of(const recsys_query *q, aff_sizes *s)
{
    const recsys__user *u = q->user;
    const recsys__catalog *c = &q->model->catalog;
    memset(s, 0, sizeof *s);
    s->lt = u->naff;
    for (int l = RECSYS_LIST_RECENT_VIEWS; l <= RECSYS_LIST_NEGATIVE; l++)
        for (uint32_t j = 0; j < u->nlists[l]; j++)
            s->lt += item_entries(recsys__catalog_get(c, u->lists[l][j]));
    s->in_session = session_start(q, &s->start);
    if (s->in_session)
        for (size_t k = s->start; k < u->nhist; k++)
            s->ss += item_entries(hist_item(c, &u->hist[k]));
    s->memo = u->ninterests ? c->facets.ids.n : 0;
    /* entries are bounded by memory already held, so only the byte total can overflow */
    return s->lt <= SIZE_MAX / 2 / sizeof(recsys__facet_w) &&
           s->ss <= SIZE_MAX / 2 / sizeof(recsys__facet_w) &&
           (s->lt + s->ss) * sizeof(recsys__facet_w) <= SIZE_MAX - s->memo;
}

size_t recsys__affinity_bytes(const recsys_query *q)
{
    if (!q || !q->user)
        return 0;
    aff_sizes s;
    if (!sizes_of(q, &s))
        return SIZE_MAX;
    return (s.lt + s.ss) * sizeof(recsys__facet_w) + s.memo;
}

/* ------------------------------------------------------------ building */

/* Long-term vector: decayed event affinities plus the profile's lists. */
static void long_term(const recsys_query *q, recsys__fvec *f)
{
    const recsys__user *u = q->user;
    const recsys__catalog *c = &q->model->catalog;
    double hl = recsys__query_opt(q, RECSYS_OPT_LONG_HALF_LIFE_DAYS) * 86400.0;
    if (!(hl > 0))
        hl = 86400.0;
    for (size_t k = 0; k < u->naff; k++)
        fvec_push(f, u->aff[k].facet, recsys__decay(u->aff[k].w, u->aff[k].ts, q->now, hl));
    for (int l = RECSYS_LIST_RECENT_VIEWS; l <= RECSYS_LIST_NEGATIVE; l++) {
        double w = recsys__event_weight(list_event[l], 0);
        for (uint32_t j = 0; j < u->nlists[l]; j++) {
            const recsys_item *it = recsys__catalog_get(c, u->lists[l][j]);
            if (it)
                fvec_push_item(f, it, w);
        }
    }
    fvec_finish(f);
}

/* Session vector: events from start on, halved every half gap before now. */
static void session(const recsys_query *q, size_t start, recsys__fvec *f)
{
    const recsys__user *u = q->user;
    const recsys__catalog *c = &q->model->catalog;
    double hl = session_gap(q) / 2;
    for (size_t k = start; k < u->nhist; k++) {
        const recsys__hist *h = &u->hist[k];
        const recsys_item *it = hist_item(c, h);
        if (!it)
            continue;
        double w = recsys__decay(recsys__event_weight(h->type, h->value), h->ts, q->now, hl);
        fvec_push_item(f, it, w);
    }
    fvec_finish(f);
}

recsys_status recsys__affinity_build(recsys__affinity *a, const recsys_query *q, void *buf,
                                     size_t bytes)
{
    memset(a, 0, sizeof *a);
    if (!q || !q->user)
        return RECSYS_OK;
    aff_sizes s;
    if (!sizes_of(q, &s) || bytes < (s.lt + s.ss) * sizeof(recsys__facet_w) + s.memo)
        return recsys__err(RECSYS_E_INTERNAL, "affinity: %zu bytes given, the request needs more",
                           bytes);
    a->u = q->user;
    recsys__facet_w *v = buf;
    a->lt = (recsys__fvec){ v, 0, s.lt, 0 };
    a->ss = (recsys__fvec){ v + s.lt, 0, s.ss, 0 };
    if (s.memo) {
        a->known = (uint8_t *)(v + s.lt + s.ss);
        a->nknown = s.memo;
        memset(a->known, 0, s.memo);
    }
    long_term(q, &a->lt);
    a->in_session = s.in_session;
    if (s.in_session)
        session(q, s.start, &a->ss);
    return RECSYS_OK;
}

/* ------------------------------------------------------------ per item */

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

/* Whether a facet's text matches one of the user's stated interests, through the memo. */
static bool memo_match(recsys__affinity *a, uint32_t facet, const char *text)
{
    if (!a->u || !a->u->ninterests)
        return false;
    if (!a->known || facet >= a->nknown)
        return interest_matches(a->u, text);
    if (!a->known[facet])
        a->known[facet] = interest_matches(a->u, text) ? 2 : 1;
    return a->known[facet] == 2;
}

/* Category and tag affinity of it under f; with a, stated interests add a strong positive. */
static recsys__item_aff item_affinity(const recsys__fvec *f, const recsys_item *it,
                                      recsys__affinity *a)
{
    recsys__item_aff r = { 0, 0 };
    r.category = fvec_get(f, it->category_facet);
    if (a && memo_match(a, it->category_facet, it->category))
        r.category = clamp1(r.category + 1);
    double pos = 0, neg = 0;
    for (uint32_t t = 0; t < it->ntags; t++) {
        uint32_t facet = it->tag_facets ? it->tag_facets[t] : RECSYS_IDS_NONE;
        double v = fvec_get(f, facet);
        if (a && memo_match(a, facet, it->tags[t]))
            v = clamp1(v + 1);
        pos = RECSYS_MAX(pos, v);
        neg = RECSYS_MIN(neg, v);
    }
    r.tag = clamp1(pos + neg);
    return r;
}

recsys__item_aff recsys__affinity_long(recsys__affinity *a, const recsys_item *it)
{
    return item_affinity(&a->lt, it, a);
}

recsys__item_aff recsys__affinity_session(const recsys__affinity *a, const recsys_item *it)
{
    return item_affinity(&a->ss, it, NULL);
}
