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
    double *msim;           /* MMR: max similarity to the picks */
    double *d2;             /* DPP: conditional variance in S */
    double *chol;           /* DPP: P x kmax rows of the incremental Cholesky factor */
    size_t nchol;
    int32_t *tg;            /* calibration: index into targets, -1 none */
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
    size_t nsel;
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
    w->msim = take(l, w->mode == MODE_MMR ? P : 0, sizeof *w->msim);
    w->d2 = take(l, w->mode == MODE_DPP ? P : 0, sizeof *w->d2);
    w->chol = take(l, w->mode == MODE_DPP ? P : 0, w->kmax * sizeof *w->chol);
    w->tg = take(l, w->hcap ? P : 0, sizeof *w->tg);
    w->targets = take(l, w->hcap, sizeof *w->targets);
    w->tcnt = take(l, w->hcap, sizeof *w->tcnt);
    w->klin = take(l, w->hcap, sizeof *w->klin);
    w->expl = take(l, w->emax, sizeof *w->expl);
    w->sel = take(l, w->k, sizeof *w->sel);
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

static double sim(const work *w, size_t i, size_t j)
{
    if (w->dim && w->hasvec[i] && w->hasvec[j])
        return dot(w->unit + i * w->dim, w->unit + j * w->dim, w->dim);
    return jaccard(w->it[i], w->it[j]);
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

/* True when adding it to the picks list[0..n) (candidate indices) keeps both caps. */
static bool caps_allow(const work *w, const size_t *list, size_t n, const recsys_item *it)
{
    if (!it || (!w->ccap && !w->pcap))
        return true;
    size_t nc = 0, np = 0;
    for (size_t s = 0; s < n; s++) {
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

static double gain(const work *w, size_t i)
{
    double g;
    switch (w->mode) {
    case MODE_MMR:
        g = w->lambda * w->rel[i] - (1 - w->lambda) * (w->nsel ? w->msim[i] : 0);
        break;
    case MODE_DPP:
        g = w->lambda * w->rel[i] + (1 - w->lambda) * log(w->d2[i]);
        break;
    default:
        g = w->rel[i];
    }
    if (w->G) {
        double kl = w->tg[i] >= 0 ? w->klin[w->tg[i]] : w->kl_none;
        g = (1 - w->calw) * g - w->calw * (kl - w->kl_cur);
    }
    return g;
}

/* Appends pool item j to the picks and updates caps, calibration and the method's state. */
static void commit(work *w, size_t j)
{
    w->state[j] = PICKED;
    w->sel[w->nsel++] = w->ci[j];
    block_full(w, j);
    if (w->G && w->tg[j] >= 0)
        w->tcnt[w->tg[j]] += 1;
    if (w->mode == MODE_MMR) {
        for (size_t i = 0; i < w->P; i++)
            if (w->state[i] == AVAIL) {
                double s = sim(w, i, j);
                if (s > w->msim[i])
                    w->msim[i] = s;
            }
    } else if (w->mode == MODE_DPP && w->d2[j] > RECSYS__DPP_EPS && w->nchol < w->kmax) {
        /* Chen et al. Algorithm 1: e_i = (S_ji - <c_j, c_i>) / d_j; c_i += [e_i];
         * d_i^2 -= e_i^2. A pick already in the span (forced by exploration) adds nothing. */
        double dj = sqrt(w->d2[j]);
        const double *cj = w->chol + j * w->kmax;
        for (size_t i = 0; i < w->P; i++) {
            if (w->state[i] != AVAIL)
                continue;
            double *cv = w->chol + i * w->kmax;
            double e = (sim(w, i, j) - dot(cj, cv, w->nchol)) / dj;
            cv[w->nchol] = e;
            w->d2[i] -= e * e;
        }
        w->nchol++;
    }
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
    }
}

/* ------------------------------------------------------------ the steps of select */

/* Exploration: the best new items of the whole set, under the caps. */
static void find_explore(work *w)
{
    for (size_t i = 0; i < w->c->n && w->ne < w->emax; i++) {
        const recsys_item *it = cand_item(w, i);
        if (it && recsys__query_popular_count(w->q, w->c->v[i].item) <= w->explore_max &&
            caps_allow(w, w->expl, w->ne, it))
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
    for (size_t i = 0; i < w->P; i++) {
        if (i < w->M)
            w->ci[i] = i;
        w->it[i] = cand_item(w, w->ci[i]);
        double r = hi > lo ? (w->c->v[w->ci[i]].score - lo) / (hi - lo) : 1.0;
        w->rel[i] = r < 0 ? 0 : r > 1 ? 1 : r;
        w->state[i] = AVAIL;
        if (w->tg)
            w->tg[i] = target_of(w, w->it[i]);
        if (w->msim)
            w->msim[i] = -INFINITY;
        if (w->d2)
            w->d2[i] = 1.0; /* S_ii */
        if (!w->dim)
            continue;
        const float *v = w->q->item_vec(w->q, w->c->v[w->ci[i]].item);
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
        if (!taken && caps_allow(w, w->sel, w->nsel, cand_item(w, i)))
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
