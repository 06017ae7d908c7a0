/* diversity.c - the "diversity" diversifier: one greedy framework for MMR, DPP, calibration,
 * exposure caps and exploration slots (see diversify.h for the behaviour and costs). */
#include "diversify.h"
#include "../core/error.h"
#include "../model/context.h" /* recsys__query_popular_count: the one decayed-counter reader */

enum { MODE_REL = 0, MODE_MMR = 1, MODE_DPP = 2 };
enum { AVAIL = 0, PICKED = 1, BLOCKED = 2 };

/* A category of the calibration target: its facet, then its share p. */
typedef struct target {
    uint32_t facet;
    double p;
} target;

typedef struct work {
    const recsys_query *q;
    recsys_candidates *c;
    const recsys__catalog *cat;
    /* settings */
    int mode;
    double lambda, calw, explore_max;
    size_t ccap, pcap, k, M, P, emax, dim, kmax, hcap;
    /* the pool: window candidates 0..M-1, then exploration picks from beyond it */
    size_t *ci;             /* pool -> candidate index */
    const recsys_item **it; /* pool -> item (NULL: removed) */
    double *rel;
    uint8_t *state;
    uint8_t *hasvec;
    double *unit;           /* P x dim, normalised */
    const float **vsrc;     /* P: item_vec's vector (NULL: none) */
    size_t *cidx, *pend;    /* P each: a similarity column's items; its pending cosines */
    double *cval, *cbound;  /* P each: a similarity column; the model's caps on it */
    double *msum;           /* MMR: sum of the similarities to the picks */
    double *psim;           /* page search: P x page similarities (DPP: kernel entries) */
    double *ptot;           /* MMR page search: per pool item, the sum of its psim row */
    double *d2;             /* DPP: conditional variance in S */
    double *chol;           /* DPP: P x kmax rows of the incremental Cholesky factor */
    size_t nchol;
    int32_t *tg;            /* calibration: index into targets, -1 none */
    uint32_t *items;        /* pool -> item, for q->item_sim_pool */
    recsys__simpool *pool;  /* q->item_sim_pool's over the pool, or NULL: q->item_sim */
    /* calibration */
    target *targets;        /* hcap entries; the first G used */
    size_t G;
    double *tcnt;           /* picks per target category */
    double *klin;           /* per step: KL after adding an item of target g */
    double kl_none, kl_cur; /* per step: KL after adding an item of no target; KL now */
    /* selection: candidate indices */
    size_t *expl;           /* exploration picks (emax), best first */
    size_t ne;
    size_t *sel;            /* every pick in order (k); the first ne are expl */
    size_t *selp;           /* the pool index of each pick (k) */
    size_t nsel;
    int method;             /* the method asked for (mode may fall back to MODE_REL) */
    size_t *order;          /* the final order (k) */
    uint8_t *reserved;      /* final positions held by exploration (k) */
} work;

/* ------------------------------------------------------------ options */

static recsys_status opt_count(const recsys_query *q, int32_t key, const char *name,
                               double lo, double hi, size_t *out)
{
    double v = recsys__query_opt(q, key);
    if (!(v >= lo && v <= hi) || v != floor(v))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "diversity: option %" PRId32 " (%s) is %g, expected an integer "
                           "from %g to %g", key, name, v, lo, hi);
    *out = (size_t)v;
    return RECSYS_OK;
}

static recsys_status opt_unit(const recsys_query *q, int32_t key, const char *name, double *out)
{
    double v = recsys__query_opt(q, key);
    if (!(v >= 0 && v <= 1))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "diversity: option %" PRId32 " (%s) is %g, expected 0 to 1", key,
                           name, v);
    *out = v;
    return RECSYS_OK;
}

/* Reads and checks the options; *active is false when every part is off. */
static recsys_status read_options(work *w, size_t *explore_slots, bool *active)
{
    const recsys_query *q = w->q;
    size_t method, window;
    double em;
    RECSYS_TRY(opt_count(q, RECSYS_OPT_DIVERSIFY_METHOD, "diversify.method", 0, 2, &method));
    RECSYS_TRY(opt_unit(q, RECSYS_OPT_DIVERSIFY_LAMBDA, "diversify.lambda", &w->lambda));
    RECSYS_TRY(opt_count(q, RECSYS_OPT_DIVERSIFY_WINDOW, "diversify.window", 1, 1e9, &window));
    RECSYS_TRY(opt_count(q, RECSYS_OPT_DIVERSIFY_CATEGORY_CAP, "diversify.category_cap", 0, 1e9,
                         &w->ccap));
    RECSYS_TRY(opt_count(q, RECSYS_OPT_DIVERSIFY_PROVIDER_CAP, "diversify.provider_cap", 0, 1e9,
                         &w->pcap));
    RECSYS_TRY(opt_unit(q, RECSYS_OPT_DIVERSIFY_CALIBRATION, "diversify.calibration", &w->calw));
    RECSYS_TRY(opt_count(q, RECSYS_OPT_DIVERSIFY_EXPLORE_SLOTS, "diversify.explore_slots", 0,
                         1e9, explore_slots));
    em = recsys__query_opt(q, RECSYS_OPT_DIVERSIFY_EXPLORE_MAX_EVENTS);
    if (!(em >= 0) || !isfinite(em))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "diversity: option %d (diversify.explore_max_events) is %g, expected "
                           "a finite value >= 0", RECSYS_OPT_DIVERSIFY_EXPLORE_MAX_EVENTS, em);
    w->explore_max = em;
    /* lambda 1 is relevance only: the method adds nothing */
    w->mode = w->lambda >= 1 ? MODE_REL : (int)method;
    w->M = window; /* widened and bounded by select */
    *active = w->mode != MODE_REL || w->ccap || w->pcap || w->calw > 0 || *explore_slots;
    return RECSYS_OK;
}

/* ------------------------------------------------------------ working memory */

typedef struct layout {
    unsigned char *base; /* NULL while measuring */
    size_t off;
    bool overflow;
} layout;

static void *take(layout *l, size_t count, size_t size)
{
    if (!count || !size || l->overflow)
        return NULL;
    size_t start = (l->off + 15) & ~(size_t)15;
    if (start < l->off || count > (SIZE_MAX - start) / size) {
        l->overflow = true;
        return NULL;
    }
    l->off = start + count * size;
    return l->base ? l->base + start : NULL;
}

static void plan(work *w, layout *l)
{
    size_t P = w->M + w->emax;
    w->ci = take(l, P, sizeof *w->ci);
    w->it = take(l, P, sizeof *w->it);
    w->rel = take(l, P, sizeof *w->rel);
    w->state = take(l, P, sizeof *w->state);
    w->hasvec = take(l, w->dim ? P : 0, sizeof *w->hasvec);
    w->unit = take(l, w->dim ? P : 0, w->dim * sizeof *w->unit);
    w->vsrc = take(l, w->dim ? P : 0, sizeof *w->vsrc);
    w->msum = take(l, w->mode == MODE_MMR ? P : 0, sizeof *w->msum);
    w->cidx = take(l, w->mode != MODE_REL ? P : 0, sizeof *w->cidx);
    w->pend = take(l, w->mode != MODE_REL ? P : 0, sizeof *w->pend);
    w->cval = take(l, w->mode != MODE_REL ? P : 0, sizeof *w->cval);
    w->cbound = take(l, w->mode != MODE_REL ? P : 0, sizeof *w->cbound);
    w->psim = take(l, w->mode != MODE_REL ? P : 0, RECSYS__DIVERSIFY_PAGE * sizeof *w->psim);
    w->ptot = take(l, w->mode == MODE_MMR ? P : 0, sizeof *w->ptot);
    w->d2 = take(l, w->mode == MODE_DPP ? P : 0, sizeof *w->d2);
    w->chol = take(l, w->mode == MODE_DPP ? P : 0, w->kmax * sizeof *w->chol);
    w->tg = take(l, w->hcap ? P : 0, sizeof *w->tg);
    w->items = take(l, w->mode != MODE_REL && w->q->item_sim_pool ? P : 0, sizeof *w->items);
    w->targets = take(l, w->hcap, sizeof *w->targets);
    w->tcnt = take(l, w->hcap, sizeof *w->tcnt);
    w->klin = take(l, w->hcap, sizeof *w->klin);
    w->expl = take(l, w->emax, sizeof *w->expl);
    w->sel = take(l, w->k, sizeof *w->sel);
    w->selp = take(l, w->k, sizeof *w->selp);
    w->order = take(l, w->k, sizeof *w->order);
    w->reserved = take(l, w->k, sizeof *w->reserved);
}

/* ------------------------------------------------------------ items, similarity, caps */

static const recsys_item *cand_item(const work *w, size_t ci)
{
    return recsys__catalog_get(w->cat, w->c->v[ci].item);
}

static uint32_t tag_facet(const recsys_item *it, uint32_t t)
{
    return it->tag_facets ? it->tag_facets[t] : RECSYS_IDS_NONE;
}

static bool has_facet(const recsys_item *it, uint32_t f)
{
    if (f == RECSYS_IDS_NONE)
        return false;
    if (it->category_facet == f)
        return true;
    for (uint32_t t = 0; t < it->ntags; t++)
        if (tag_facet(it, t) == f)
            return true;
    return false;
}

static size_t facet_count(const recsys_item *it)
{
    size_t n = it->category_facet != RECSYS_IDS_NONE;
    for (uint32_t t = 0; t < it->ntags; t++)
        n += tag_facet(it, t) != RECSYS_IDS_NONE;
    return n;
}

/* Jaccard index of the facet sets {category} + tags (each a set: tags are distinct and
 * category and tag facets never share an index). */
static double jaccard(const recsys_item *a, const recsys_item *b)
{
    if (!a || !b)
        return 0;
    size_t na = facet_count(a), nb = facet_count(b), inter = has_facet(b, a->category_facet);
    for (uint32_t t = 0; t < a->ntags; t++)
        inter += has_facet(b, tag_facet(a, t));
    size_t uni = na + nb - inter;
    return uni ? (double)inter / (double)uni : 0;
}

/* Four independent sums: without -ffast-math a single accumulator is one long chain of
 * dependent adds (this dot product is most of MMR's and DPP's time). */
static double dot(const double *a, const double *b, size_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t d = 0;
    for (; d + 4 <= n; d += 4) {
        s0 += a[d] * b[d];
        s1 += a[d + 1] * b[d + 1];
        s2 += a[d + 2] * b[d + 2];
        s3 += a[d + 3] * b[d + 3];
    }
    for (; d < n; d++)
        s0 += a[d] * b[d];
    return (s0 + s1) + (s2 + s3);
}

/* dot(a, b[x], n) for x = 0..3 at once, each sum exactly as dot() forms it (the same four
 * partial sums in the same order): one dot is a chain of dependent adds, four fill the
 * floating-point units while one waits. */
static void dot4(const double *a, const double *const b[4], size_t n, double out[4])
{
    const double *p = b[0], *q = b[1], *r = b[2], *t = b[3];
    double p0 = 0, p1 = 0, p2 = 0, p3 = 0, q0 = 0, q1 = 0, q2 = 0, q3 = 0;
    double r0 = 0, r1 = 0, r2 = 0, r3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
    size_t d = 0;
    for (; d + 4 <= n; d += 4) {
        double x0 = a[d], x1 = a[d + 1], x2 = a[d + 2], x3 = a[d + 3];
        p0 += x0 * p[d];
        p1 += x1 * p[d + 1];
        p2 += x2 * p[d + 2];
        p3 += x3 * p[d + 3];
        q0 += x0 * q[d];
        q1 += x1 * q[d + 1];
        q2 += x2 * q[d + 2];
        q3 += x3 * q[d + 3];
        r0 += x0 * r[d];
        r1 += x1 * r[d + 1];
        r2 += x2 * r[d + 2];
        r3 += x3 * r[d + 3];
        t0 += x0 * t[d];
        t1 += x1 * t[d + 1];
        t2 += x2 * t[d + 2];
        t3 += x3 * t[d + 3];
    }
    for (; d < n; d++) {
        p0 += a[d] * p[d];
        q0 += a[d] * q[d];
        r0 += a[d] * r[d];
        t0 += a[d] * t[d];
    }
    out[0] = (p0 + p1) + (p2 + p3);
    out[1] = (q0 + q1) + (q2 + q3);
    out[2] = (r0 + r1) + (r2 + r3);
    out[3] = (t0 + t1) + (t2 + t3);
}

/* The model's similarity of pool items i and j: the value when it knows the pair (true), else
 * false with *cap the bound it proves (1: none). */
static bool model_sim(const work *w, size_t i, size_t j, double *v, double *cap)
{
    *cap = 1;
    *v = NAN;
    if (w->pool)
        *v = w->pool->sim(w->pool, i, j, cap);
    else if (w->q->item_sim)
        *v = w->q->item_sim(w->q, w->c->v[w->ci[i]].item, w->c->v[w->ci[j]].item, cap);
    return *v == *v;
}

static bool vec_pair(const work *w, size_t i, size_t j)
{
    return w->dim && w->hasvec[i] && w->hasvec[j];
}

/* The collaborative similarity when the request's model knows the pair; else the vectors'
 * cosine (or the facets' Jaccard index), held to the bound the model proves. */
static double sim(const work *w, size_t i, size_t j)
{
    double v, cap;
    if (model_sim(w, i, j, &v, &cap))
        return v;
    double f = vec_pair(w, i, j) ? dot(w->unit + i * w->dim, w->unit + j * w->dim, w->dim)
                                 : jaccard(w->it[i], w->it[j]);
    return f > cap ? cap : f;
}

/* out[x] = sim(idx[x], j) for x < n (the pool items idx[], one pick j), the same values: the
 * model's column in one call, the vectors' cosines four at a time (dot4). Uses w->pend and
 * w->cbound. */
static void sim_column(const work *w, size_t j, const size_t *idx, size_t n, double *out)
{
    if (w->pool) {
        w->pool->column(w->pool, j, idx, n, out, w->cbound);
    } else {
        for (size_t x = 0; x < n; x++)
            model_sim(w, idx[x], j, &out[x], &w->cbound[x]);
    }
    size_t np = 0;
    for (size_t x = 0; x < n; x++) {
        size_t i = idx[x];
        if (out[x] == out[x])
            continue; /* the model knows the pair */
        if (vec_pair(w, i, j)) {
            out[x] = w->cbound[x]; /* the cosine below, held to it */
            w->pend[np++] = x;
        } else {
            double f = jaccard(w->it[i], w->it[j]);
            out[x] = f > w->cbound[x] ? w->cbound[x] : f;
        }
    }
    const double *uj = w->unit + j * w->dim;
    size_t p = 0;
    for (; p + 4 <= np; p += 4) {
        const double *b[4];
        double f[4];
        for (int y = 0; y < 4; y++)
            b[y] = w->unit + idx[w->pend[p + y]] * w->dim;
        dot4(uj, b, w->dim, f);
        for (int y = 0; y < 4; y++) {
            double *o = &out[w->pend[p + y]];
            *o = f[y] > *o ? *o : f[y];
        }
    }
    for (; p < np; p++) {
        double *o = &out[w->pend[p]];
        double f = dot(w->unit + idx[w->pend[p]] * w->dim, uj, w->dim);
        *o = f > *o ? *o : f;
    }
}

/* The DPP's kernel entry from a similarity s (see dpp_sim). */
static double dpp_kernel(double s)
{
    double f = sqrt(-expm1(-RECSYS__DPP_SCALE * fabs(s)));
    return s < 0 ? -f : f;
}

/* The DPP's kernel entry S_ij = sign(s) sqrt(1 - exp(-c|s|)), s = sim(i,j), i != j: a pair's
 * log det is then -c|s| (see diversify.h). */
static double dpp_sim(const work *w, size_t i, size_t j)
{
    return dpp_kernel(sim(w, i, j));
}

static bool same_category(const recsys_item *a, const recsys_item *b)
{
    return a && b && a->category_facet != RECSYS_IDS_NONE &&
           a->category_facet == b->category_facet;
}

static bool same_provider(const recsys_item *a, const recsys_item *b)
{
    return a && b && a->provider[0] && strcmp(a->provider, b->provider) == 0;
}

/* True when adding it to the picks list[0..n) (candidate indices) keeps both caps, with the
 * pick at position skip left out (SIZE_MAX: none; a page swap replaces it). */
static bool caps_allow(const work *w, const size_t *list, size_t n, const recsys_item *it,
                       size_t skip)
{
    if (!it || (!w->ccap && !w->pcap))
        return true;
    size_t nc = 0, np = 0;
    for (size_t s = 0; s < n; s++) {
        if (s == skip)
            continue;
        const recsys_item *o = cand_item(w, list[s]);
        nc += same_category(o, it);
        np += same_provider(o, it);
    }
    return !(w->ccap && nc >= w->ccap) && !(w->pcap && np >= w->pcap);
}

/* After pool item j was picked: blocks the pool items of a category / provider at its cap. */
static void block_full(work *w, size_t j)
{
    const recsys_item *it = w->it[j];
    if (!it || (!w->ccap && !w->pcap))
        return;
    size_t nc = 0, np = 0;
    for (size_t s = 0; s < w->nsel; s++) {
        const recsys_item *o = cand_item(w, w->sel[s]);
        nc += same_category(o, it);
        np += same_provider(o, it);
    }
    bool cfull = w->ccap && nc >= w->ccap, pfull = w->pcap && np >= w->pcap;
    if (!cfull && !pfull)
        return;
    for (size_t i = 0; i < w->P; i++)
        if (w->state[i] == AVAIL && ((cfull && same_category(w->it[i], it)) ||
                                     (pfull && same_provider(w->it[i], it))))
            w->state[i] = BLOCKED;
}

/* ------------------------------------------------------------ calibration */

static int cmp_target(const void *a, const void *b)
{
    const target *x = a, *y = b;
    return (x->facet > y->facet) - (x->facet < y->facet);
}

/* Builds p from the user's history into targets[0..G) (sorted by facet). */
static void build_targets(work *w)
{
    const recsys__user *u = w->q->user;
    size_t n = 0;
    for (size_t h = 0; h < w->hcap; h++) {
        const recsys__hist *e = &u->hist[h];
        const recsys_item *it = e->item == RECSYS_IDS_NONE ? NULL
                                                           : recsys__catalog_get(w->cat, e->item);
        double wt = recsys__event_weight(e->type, e->value);
        if (it && it->category_facet != RECSYS_IDS_NONE && wt > 0 && isfinite(wt))
            w->targets[n++] = (target){ it->category_facet, wt };
    }
    if (n > 1)
        qsort(w->targets, n, sizeof *w->targets, cmp_target);
    size_t g = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += w->targets[i].p;
        if (g && w->targets[g - 1].facet == w->targets[i].facet)
            w->targets[g - 1].p += w->targets[i].p;
        else
            w->targets[g++] = w->targets[i];
    }
    w->G = sum > 0 ? g : 0;
    for (size_t i = 0; i < w->G; i++) {
        w->targets[i].p /= sum;
        w->tcnt[i] = 0;
    }
}

static int32_t target_of(const work *w, const recsys_item *it)
{
    if (!it || it->category_facet == RECSYS_IDS_NONE)
        return -1;
    size_t lo = 0, hi = w->G;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (w->targets[mid].facet < it->category_facet)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < w->G && w->targets[lo].facet == it->category_facet ? (int32_t)lo : -1;
}

/* KL(p || q~) terms for the next step: kl_cur (the list now), kl_none (plus an item of no
 * target category) and klin[g] (plus an item of category g). O(G). */
static void calib_step(work *w)
{
    const double a = RECSYS__CALIB_ALPHA;
    double len = (double)w->nsel, next = len + 1;
    double cur = 0, none = 0;
    for (size_t g = 0; g < w->G; g++) {
        double p = w->targets[g].p, n = w->tcnt[g];
        double qc = (len > 0 ? (1 - a) * n / len : 0) + a * p;
        double qo = (1 - a) * n / next + a * p, qn = (1 - a) * (n + 1) / next + a * p;
        cur += p * log(p / qc);
        none += p * log(p / qo);
        w->klin[g] = p * (log(qo) - log(qn)); /* the change when g gains the item */
    }
    w->kl_cur = cur;
    w->kl_none = none;
    for (size_t g = 0; g < w->G; g++)
        w->klin[g] += none;
}

/* ------------------------------------------------------------ the greedy */

/* The method's gain g of pool item i with the calibration term applied (when on). */
static double calibrated(const work *w, size_t i, double g)
{
    if (w->G) {
        double kl = w->tg[i] >= 0 ? w->klin[w->tg[i]] : w->kl_none;
        g = (1 - w->calw) * g - w->calw * (kl - w->kl_cur);
    }
    return g;
}

static double gain(const work *w, size_t i)
{
    double g;
    switch (w->mode) {
    case MODE_MMR:
        g = w->lambda * w->rel[i] -
            (1 - w->lambda) * (w->nsel ? w->msum[i] / (double)w->nsel : 0);
        break;
    case MODE_DPP:
        g = w->lambda * w->rel[i] + (1 - w->lambda) * log(w->d2[i]);
        break;
    default:
        g = w->rel[i];
    }
    return calibrated(w, i, g);
}

/* The pool items not picked (blocked ones too: a page swap may free them) into idx. */
static size_t unpicked(const work *w, size_t *idx)
{
    size_t n = 0;
    for (size_t i = 0; i < w->P; i++)
        if (w->state[i] != PICKED)
            idx[n++] = i;
    return n;
}

/* DPP: the Cholesky step of pick j (Chen et al. Algorithm 1: e_i = (S_ji - <c_j, c_i>) / d_j;
 * c_i += [e_i]; d_i^2 -= e_i^2) for the items idx[0..n) (only the available ones unless
 * blocked_too), whose kernel entries S_ij are kern[0..n). A pick already in the span (forced
 * by exploration) adds nothing. */
static void dpp_step(work *w, size_t j, const size_t *idx, size_t n, const double *kern,
                     bool blocked_too)
{
    if (!(w->d2[j] > RECSYS__DPP_EPS) || w->nchol >= w->kmax)
        return;
    double dj = sqrt(w->d2[j]);
    const double *cj = w->chol + j * w->kmax;
    for (size_t x = 0; x < n; x++) {
        size_t i = idx[x];
        if (w->state[i] != AVAIL && !blocked_too)
            continue;
        double *cv = w->chol + i * w->kmax;
        double e = (kern[x] - dot(cj, cv, w->nchol)) / dj;
        cv[w->nchol] = e;
        w->d2[i] -= e * e;
    }
    w->nchol++;
}

/* Appends pool item j to the picks and updates caps, calibration and the method's state. */
static void commit(work *w, size_t j)
{
    w->state[j] = PICKED;
    w->selp[w->nsel] = j;
    w->sel[w->nsel++] = w->ci[j];
    block_full(w, j);
    if (w->G && w->tg[j] >= 0)
        w->tcnt[w->tg[j]] += 1;
    if (w->mode == MODE_REL)
        return;
    /* the similarities to j of every item not picked (blocked ones too: a page swap may free
     * them) go to column (nsel-1) % PAGE of psim, for the page search (MMR: sim; DPP: the
     * kernel entries) */
    double *col = w->psim + (w->nsel - 1) % RECSYS__DIVERSIFY_PAGE;
    size_t n = unpicked(w, w->cidx);
    sim_column(w, j, w->cidx, n, w->cval);
    for (size_t x = 0; x < n; x++) {
        size_t i = w->cidx[x];
        if (w->mode == MODE_MMR) {
            w->msum[i] += w->cval[x];
        } else {
            w->cval[x] = dpp_kernel(w->cval[x]);
        }
        col[i * RECSYS__DIVERSIFY_PAGE] = w->cval[x];
    }
    if (w->mode == MODE_DPP)
        dpp_step(w, j, w->cidx, n, w->cval, false);
}

/* A page search's swap: the pick at position s gives way to pool item b; with caps on, a's
 * place is free again, so who is blocked is re-derived. The method's state is the caller's. */
static void swap_pick(work *w, size_t s, size_t b)
{
    w->state[w->selp[s]] = AVAIL;
    w->state[b] = PICKED;
    w->selp[s] = b;
    w->sel[s] = w->ci[b];
    if (w->ccap || w->pcap)
        for (size_t i = 0; i < w->P; i++)
            if (w->state[i] != PICKED)
                w->state[i] = caps_allow(w, w->sel, w->nsel, w->it[i], SIZE_MAX) ? AVAIL
                                                                        : BLOCKED;
}

/* The pool items whose similarity to the page's pick at t (page sel[p0..nsel)) a page search
 * keeps: the unpicked ones but skip, and the page's other picks (the earlier pages' picks
 * take no part). */
static size_t page_column_items(const work *w, size_t p0, size_t t, size_t skip, size_t *idx)
{
    size_t n = 0;
    for (size_t i = 0; i < w->P; i++)
        if (w->state[i] != PICKED && i != skip)
            idx[n++] = i;
    for (size_t u = p0; u < w->nsel; u++)
        if (u - p0 != t)
            idx[n++] = w->selp[u];
    return n;
}

/* MMR's page search (see diversify.h): swaps of the page sel[p0..nsel) with the window's
 * candidates not picked (under the caps) while one raises the page's objective. */
static void page_search(work *w, size_t p0)
{
    const size_t PG = RECSYS__DIVERSIFY_PAGE;
    size_t B = w->nsel - p0, first = RECSYS_MAX(w->ne, p0 + 1);
    if (B < 2 || first >= w->nsel)
        return;
    double lam = w->lambda, mu = (1 - lam) * 2.0 / (double)(B - 1);
    /* psim[i][t] = sim(i, pick p0+t): commit() stored it for every item not picked when
     * pick t came, so only the page's picks miss their row from their own column on; the
     * earlier pages' picks take no part (their rows are stale and never read) */
    for (size_t u = 0; u < B; u++) {
        size_t i = w->selp[p0 + u];
        for (size_t t = u; t < B; t++)
            w->psim[i * PG + t] = sim(w, i, w->selp[p0 + t]);
    }
    for (size_t round = 0; round < RECSYS__DIVERSIFY_SWAPS; round++) {
        for (size_t x = 0; x < w->P + B; x++) { /* the unpicked items, then the page */
            size_t i = x < w->P ? x : w->selp[p0 + x - w->P];
            if (x < w->P && w->state[i] == PICKED)
                continue;
            double tot = 0;
            for (size_t t = 0; t < B; t++)
                tot += w->selp[p0 + t] == i ? 0 : w->psim[i * PG + t];
            w->ptot[i] = tot;
        }
        double bestd = RECSYS__DIVERSIFY_SWAP_MIN;
        size_t bs = SIZE_MAX, bb = SIZE_MAX;
        for (size_t s = first; s < w->nsel; s++) {
            size_t a = w->selp[s], t = s - p0;
            for (size_t b = 0; b < w->P; b++) {
                if (w->state[b] == PICKED)
                    continue; /* a blocked one too: a pick of its category may make way */
                double d = lam * (w->rel[b] - w->rel[a]) -
                           mu * ((w->ptot[b] - w->psim[b * PG + t]) - w->ptot[a]);
                if (d > bestd && caps_allow(w, w->sel, w->nsel, w->it[b], s)) {
                    bestd = d;
                    bs = s;
                    bb = b;
                }
            }
        }
        if (bs == SIZE_MAX)
            break;
        size_t a = w->selp[bs], t = bs - p0;
        swap_pick(w, bs, bb);
        /* column t is now bb's: for the unpicked items (a among them) and the page's other
         * picks (their msum is never read while they are picked) */
        size_t n = page_column_items(w, p0, t, SIZE_MAX, w->cidx);
        sim_column(w, bb, w->cidx, n, w->cval);
        for (size_t x = 0; x < n; x++) {
            size_t i = w->cidx[x];
            w->msum[i] += w->cval[x] - w->psim[i * PG + t];
            w->psim[i * PG + t] = w->cval[x];
        }
        double ma = 0; /* a is a candidate again: its sum over the picks as they now are */
        for (size_t u = 0; u < w->nsel; u++)
            ma += u < p0 ? sim(w, a, w->selp[u]) : w->psim[a * PG + (u - p0)];
        w->msum[a] = ma;
    }
}

/* DPP, after a page search changed picks: the incremental Cholesky state (d2, chol) redone
 * from scratch over the picks in their order, as commit() builds it. O(k*P*(k + sim)). */
static void dpp_rebuild(work *w)
{
    for (size_t i = 0; i < w->P; i++)
        w->d2[i] = 1.0; /* S_ii */
    w->nchol = 0;
    for (size_t s = 0; s < w->nsel; s++)
        w->state[w->selp[s]] = AVAIL; /* made PICKED again in pick order below */
    for (size_t s = 0; s < w->nsel; s++) {
        size_t j = w->selp[s];
        w->state[j] = PICKED;
        if (!(w->d2[j] > RECSYS__DPP_EPS) || w->nchol >= w->kmax)
            continue;
        size_t n = unpicked(w, w->cidx); /* not picked yet in this order */
        sim_column(w, j, w->cidx, n, w->cval);
        for (size_t x = 0; x < n; x++)
            w->cval[x] = dpp_kernel(w->cval[x]);
        dpp_step(w, j, w->cidx, n, w->cval, true);
    }
}

/* K = S^{-1} of the page's B x B similarity (from psim) by Cholesky; false when S is not
 * (numerically) positive definite. O(B^3). */
static bool page_inverse(const work *w, size_t p0, size_t B, double *K)
{
    enum { PG = RECSYS__DIVERSIFY_PAGE };
    double Lc[PG * PG], y[PG];
    for (size_t a = 0; a < B; a++)
        for (size_t b = 0; b <= a; b++) {
            double s = a == b ? 1.0 : w->psim[w->selp[p0 + a] * PG + b];
            for (size_t t = 0; t < b; t++)
                s -= Lc[a * PG + t] * Lc[b * PG + t];
            if (a == b) {
                if (!(s > RECSYS__DPP_EPS))
                    return false;
                Lc[a * PG + a] = sqrt(s);
            } else {
                Lc[a * PG + b] = s / Lc[b * PG + b];
            }
        }
    for (size_t col = 0; col < B; col++) { /* K e_col: L y = e_col, then L^T x = y */
        for (size_t a = 0; a < B; a++) {
            double s = a == col ? 1.0 : 0.0;
            for (size_t t = 0; t < a; t++)
                s -= Lc[a * PG + t] * y[t];
            y[a] = s / Lc[a * PG + a];
        }
        for (size_t a = B; a-- > 0;) {
            double s = y[a];
            for (size_t t = a + 1; t < B; t++)
                s -= Lc[t * PG + a] * K[t * PG + col];
            K[a * PG + col] = s / Lc[a * PG + a];
        }
    }
    return true;
}

/* DPP's page search (see diversify.h): swaps of the page sel[p0..nsel) with the window's
 * candidates not picked (under the caps) while one raises lambda*sum rel + (1-lambda)*log
 * det S_page. */
static void dpp_page_search(work *w, size_t p0)
{
    enum { PG = RECSYS__DIVERSIFY_PAGE };
    size_t B = w->nsel - p0, first = RECSYS_MAX(w->ne, p0 + 1);
    if (B < 2 || first >= w->nsel)
        return;
    double lam = w->lambda, K[PG * PG], v[PG], base[PG];
    bool swapped = false; /* psim holds the kernel entries commit() stored */
    for (size_t round = 0; round < RECSYS__DIVERSIFY_SWAPS; round++) {
        if (!page_inverse(w, p0, B, K))
            break;
        /* a swap's change is base[t] + lam*rel(b) + (1-lam)*log(cond), cond <= 1 (S_page is
         * positive definite, so is the rest of the page): the bound prunes without a log */
        double maxbase = -INFINITY;
        for (size_t s = first; s < w->nsel; s++) {
            size_t t = s - p0;
            base[t] = (1 - lam) * log(K[t * PG + t]) - lam * w->rel[w->selp[s]];
            maxbase = RECSYS_MAX(maxbase, base[t]);
        }
        double bestd = RECSYS__DIVERSIFY_SWAP_MIN;
        size_t bs = SIZE_MAX, bb = SIZE_MAX;
        for (size_t b = 0; b < w->P; b++) {
            if (w->state[b] == PICKED || !(lam * w->rel[b] + maxbase > bestd))
                continue;
            const double *sb = w->psim + b * PG;
            double qf = 0; /* sb' K sb, and v = K sb */
            for (size_t t = 0; t < B; t++) {
                v[t] = dot(K + t * PG, sb, B);
                qf += sb[t] * v[t];
            }
            for (size_t s = first; s < w->nsel; s++) {
                size_t t = s - p0;
                double ktt = K[t * PG + t], st = sb[t], d = base[t] + lam * w->rel[b];
                if (!(d > bestd))
                    continue;
                /* b's conditional variance given the page without its item t */
                double x = v[t] - st * ktt;
                double cond = 1 - (qf - 2 * st * v[t] + st * st * ktt - x * x / ktt);
                if (!(cond > RECSYS__DPP_EPS))
                    continue;
                d += (1 - lam) * log(cond);
                if (d > bestd && caps_allow(w, w->sel, w->nsel, w->it[b], s)) {
                    bestd = d;
                    bs = s;
                    bb = b;
                }
            }
        }
        if (bs == SIZE_MAX)
            break;
        size_t a = w->selp[bs], t = bs - p0;
        swap_pick(w, bs, bb);
        /* a's row from its own column on: commit() skipped it once a was picked (the columns
         * before came while a was not picked, or were redone by a swap) */
        for (size_t u = t; u < B; u++)
            w->psim[a * PG + u] = dpp_sim(w, a, w->selp[p0 + u]);
        size_t n = page_column_items(w, p0, t, a, w->cidx); /* the rows page_inverse and */
        sim_column(w, bb, w->cidx, n, w->cval);            /* the candidates read */
        for (size_t x = 0; x < n; x++)
            w->psim[w->cidx[x] * PG + t] = dpp_kernel(w->cval[x]);
        swapped = true;
    }
    if (swapped && w->nsel < w->k) /* the greedy goes on: its state must match the picks */
        dpp_rebuild(w);
}

static void greedy(work *w)
{
    while (w->nsel < w->k) {
        if (w->G)
            calib_step(w);
        size_t best = SIZE_MAX;
        double bestg = 0, maxd2 = -INFINITY;
        for (size_t i = 0; i < w->P; i++) {
            if (w->state[i] != AVAIL)
                continue;
            if (w->mode == MODE_DPP) {
                maxd2 = RECSYS_MAX(maxd2, w->d2[i]);
                if (!(w->d2[i] > RECSYS__DPP_EPS))
                    continue; /* in the span of the picks: no log-det gain */
                /* d2 <= 1, so the log term is <= 0 and the gain at most its value with a 0
                 * there (the calibration is monotone in it): an item that cannot beat the
                 * best so far needs no logarithm (the same pick, the same ties) */
                if (best != SIZE_MAX && !(calibrated(w, i, w->lambda * w->rel[i]) > bestg))
                    continue;
            }
            double g = gain(w, i);
            if (best == SIZE_MAX || g > bestg) {
                best = i;
                bestg = g;
            }
        }
        if (w->mode == MODE_DPP && !(maxd2 > RECSYS__DPP_EPS)) {
            w->mode = MODE_REL; /* the stop rule: the rest by relevance */
            continue;
        }
        if (best == SIZE_MAX)
            return;
        commit(w, best);
        if (w->G || (w->nsel % RECSYS__DIVERSIFY_PAGE != 0 && w->nsel != w->k))
            continue;
        size_t p0 = (w->nsel - 1) / RECSYS__DIVERSIFY_PAGE * RECSYS__DIVERSIFY_PAGE;
        if (w->mode == MODE_MMR)
            page_search(w, p0);
        else if (w->mode == MODE_DPP)
            dpp_page_search(w, p0);
    }
}

/* ------------------------------------------------------------ the steps of select */

/* Exploration: the best new items of the whole set, under the caps. */
static void find_explore(work *w)
{
    for (size_t i = 0; i < w->c->n && w->ne < w->emax; i++) {
        const recsys_item *it = cand_item(w, i);
        if (it && recsys__query_popular_count(w->q, w->c->v[i].item) <= w->explore_max &&
            caps_allow(w, w->expl, w->ne, it, SIZE_MAX))
            w->expl[w->ne++] = i;
    }
}

/* The pool: the window, then the exploration picks beyond it; relevance and vectors. */
static void build_pool(work *w)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < w->M; i++) {
        lo = RECSYS_MIN(lo, w->c->v[i].score);
        hi = RECSYS_MAX(hi, w->c->v[i].score);
    }
    w->P = w->M;
    for (size_t e = 0; e < w->ne; e++)
        if (w->expl[e] >= w->M)
            w->ci[w->P++] = w->expl[e];
    /* The items and their vectors are cold here (the catalog is large): each pass asks for
     * the cache lines the next one reads, for every item at once, so the misses overlap. */
    for (size_t i = 0; i < w->P; i++) {
        if (i < w->M)
            w->ci[i] = i;
        uint32_t item = w->c->v[w->ci[i]].item;
        if (item < w->cat->ids.n)
            __builtin_prefetch(&w->cat->items[item]);
    }
    for (size_t i = 0; i < w->P; i++) {
        w->it[i] = cand_item(w, w->ci[i]);
        if (w->it[i])
            __builtin_prefetch(w->it[i]);
        double r = hi > lo ? (w->c->v[w->ci[i]].score - lo) / (hi - lo) : 1.0;
        w->rel[i] = r < 0 ? 0 : r > 1 ? 1 : r;
        w->state[i] = AVAIL;
        if (w->msum)
            w->msum[i] = 0;
        if (w->d2)
            w->d2[i] = 1.0; /* S_ii */
    }
    for (size_t i = 0; i < w->P; i++) {
        if (w->tg)
            w->tg[i] = target_of(w, w->it[i]);
        if (!w->dim)
            continue;
        const float *v = w->q->item_vec(w->q, w->c->v[w->ci[i]].item);
        w->vsrc[i] = v;
        for (size_t d = 0; v && d < w->dim; d += 64 / sizeof *v)
            __builtin_prefetch(v + d);
    }
    for (size_t i = 0; i < w->P && w->dim; i++) {
        const float *v = w->vsrc[i];
        double *u = w->unit + i * w->dim;
        for (size_t d = 0; v && d < w->dim; d++)
            u[d] = v[d];
        double nn = v ? dot(u, u, w->dim) : 0;
        w->hasvec[i] = nn > 0 && isfinite(nn);
        double inv = w->hasvec[i] ? 1.0 / sqrt(nn) : 0;
        for (size_t d = 0; v && d < w->dim; d++)
            u[d] *= inv;
    }
}

/* Candidates after the window, by score, under the caps, while the list is short. */
static void fill_beyond(work *w)
{
    for (size_t i = w->M; i < w->c->n && w->nsel < w->k; i++) {
        bool taken = false;
        for (size_t e = 0; e < w->ne && !taken; e++)
            taken = w->expl[e] == i;
        if (!taken && caps_allow(w, w->sel, w->nsel, cand_item(w, i), SIZE_MAX))
            w->sel[w->nsel++] = i;
    }
}

/* The final order: exploration picks at their spread positions, the greedy's elsewhere.
 * Returns true when it is the plain score order of the first min(k, count) candidates. */
static bool assemble(work *w)
{
    size_t L = w->nsel, e = w->ne;
    memset(w->reserved, 0, L);
    for (size_t j = 0; j < e; j++)
        w->reserved[L - 1 - j * L / e] = 1;
    size_t next_e = 0, next_g = e;
    for (size_t pos = 0; pos < L; pos++)
        w->order[pos] = w->reserved[pos] ? w->sel[next_e++] : w->sel[next_g++];
    /* MMR and DPP chose each page's items; the page shows them best score first (candidate
     * index order), around the positions exploration holds: insertion sort, pages of 10 */
    for (size_t p0 = 0; w->method != MODE_REL && p0 < L; p0 += RECSYS__DIVERSIFY_PAGE) {
        size_t p1 = RECSYS_MIN(L, p0 + RECSYS__DIVERSIFY_PAGE);
        for (size_t p = p0; p < p1; p++) {
            for (size_t q = p; !w->reserved[q] && q > p0;) {
                size_t r = q - 1;
                while (r > p0 && w->reserved[r])
                    r--;
                if (w->reserved[r] || w->order[r] <= w->order[q])
                    break;
                size_t tmp = w->order[r];
                w->order[r] = w->order[q];
                w->order[q] = tmp;
                q = r;
            }
        }
    }
    bool identity = L == RECSYS_MIN(w->k, w->c->n);
    for (size_t pos = 0; pos < L && identity; pos++)
        identity = w->order[pos] == pos;
    return identity;
}

bool recsys__diversity_active(const recsys_query *q)
{
    work w;
    memset(&w, 0, sizeof w);
    w.q = q;
    size_t slots = 0;
    bool active = false;
    if (read_options(&w, &slots, &active) != RECSYS_OK) {
        recsys__err_clear();
        return true; /* let select() report the bad option */
    }
    return active;
}

static recsys_status diversity_select(void *ctx, const recsys_query *q, recsys_candidates *c,
                                      size_t n)
{
    RECSYS_UNUSED(ctx);
    if (!q || !c)
        return recsys__err(RECSYS_E_INVALID_ARG, "diversity: query or candidate set is NULL");
    work w;
    memset(&w, 0, sizeof w);
    w.q = q;
    w.c = c;
    size_t slots = 0;
    bool active = false;
    RECSYS_TRY(read_options(&w, &slots, &active));
    if (!active || n == 0 || c->n == 0)
        return RECSYS_OK; /* zero cost: the order stays as it is */
    w.cat = &q->model->catalog;
    w.k = RECSYS_MIN(n, c->n);
    w.M = RECSYS_MIN(c->n, RECSYS_MAX(w.M, n));
    w.emax = RECSYS_MIN(slots, w.k);
    w.dim = (w.mode != MODE_REL && q->item_vec) ? q->vec_dim : 0;
    w.method = w.mode;
    w.kmax = RECSYS_MIN(w.k, w.M + w.emax);
    w.hcap = (w.calw > 0 && q->user) ? q->user->nhist : 0;

    layout l = { NULL, 0, false };
    plan(&w, &l);
    if (l.overflow)
        return recsys__err(RECSYS_E_NOMEM, "diversity: working memory for %zu candidates of "
                                           "dimension %zu overflows", w.M, w.dim);
    const recsys__mem *m = c->mem ? c->mem : q->model->mem;
    l.base = recsys__alloc(m, l.off ? l.off : 1);
    if (!l.base)
        return RECSYS_E_NOMEM;
    l.off = 0;
    plan(&w, &l);

    if (w.hcap)
        build_targets(&w);
    if (!w.G) {
        w.tg = NULL;
        w.calw = 0;
    }
    find_explore(&w);
    build_pool(&w);
    if (w.items) { /* the model's similarity gathered once for the pool's pairs */
        for (size_t i = 0; i < w.P; i++)
            w.items[i] = c->v[w.ci[i]].item;
        recsys_status ps = q->item_sim_pool(q, w.items, w.P, m, &w.pool);
        if (ps != RECSYS_OK) {
            recsys__free(m, l.base);
            return ps;
        }
    }
    for (size_t e = 0; e < w.ne; e++) { /* exploration picks first: the greedy sees them */
        size_t j = w.expl[e] < w.M ? w.expl[e] : SIZE_MAX;
        for (size_t p = w.M; j == SIZE_MAX && p < w.P; p++)
            if (w.ci[p] == w.expl[e])
                j = p;
        commit(&w, j);
    }
    greedy(&w);
    fill_beyond(&w);
    recsys_status st = RECSYS_OK;
    if (!assemble(&w))
        st = recsys_candidates_set_order(c, w.order, w.nsel);
    if (w.pool)
        w.pool->free(m, w.pool);
    recsys__free(m, l.base);
    return st;
}

recsys_status recsys__diversifier_diversity(const recsys__mem *m, recsys_diversifier_vtable *out)
{
    RECSYS_UNUSED(m);
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "diversity: vtable is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->select = diversity_select;
    return RECSYS_OK;
}
