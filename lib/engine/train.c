/* train.c - recsys_ranker_train: learning the built-in rankers from held-out outcomes, and
 * their models' place in the store.
 *
 * Gathering. The outcome events are grouped by user (ids compared bytewise; the order of
 * users is that of their ids, so the data and the model do not depend on the order of the
 * events). For each user the pipeline runs its context, retrieval and filter stages
 * (recsys__pipeline_candidates) exactly as recsys_recommend would for a request naming that
 * user with the engine's options, and every eligible candidate becomes one row: its feature
 * vector (lib/rank/features.h) and its label, the sum of the label weights
 * (RECSYS_OPT_RANK_LABEL_*) of that user's outcome events on it. A user none of whose
 * candidates has a positive label teaches a listwise ranker nothing and is left out; so is
 * an outcome naming an item or a user the engine does not know (counted in the message of
 * the error when nothing is left). The whole gathering holds the engine's lock shared:
 * requests go on, writers wait.
 *
 * Learning. "ltr": LambdaMART (recsys__gbdt_train, RECSYS_OPT_RANK_LTR_TREES / _DEPTH / _ETA,
 * RECSYS_OPT_TRAIN_THREADS, the engine's seed; labels rounded to whole grades, at most
 * RECSYS__GBDT_MAX_LABEL), one query group per user. The model is saved as blob
 * "ranker.ltr" ("RSL1", the feature layout's fingerprint as u64 LE, XGBoost's JSON model
 * text) when the store keeps blobs (before anything changes: a failed save fails the
 * call) and the model replaces the ranker's under the exclusive lock. The model holds trees
 * over aggregate features, no user id and nothing per user, so forgetting a user keeps it.
 *
 * "linear": a fresh FTRL model learns every row once (positives with their label weight, the
 * other candidates as negatives with RECSYS_OPT_RANK_LABEL_IMPRESSION) and replaces the
 * ranker's main model; the outcome heads the ranker learnt online (multi-objective ranking)
 * are kept. It is saved as blob "ranker.linear" (lib/rank/linear.h has the format: the main
 * model and every head) before the ranker changes, then its main model is assigned into the
 * ranker's, which goes on learning online from feedback (lib/rank/featlog.h); recsys_refresh
 * saves the whole model again when any part of it (main model or a head) changed since.
 *
 * Loading. recsys__engine_load_rankers reads the saved models when an engine opens; a model
 * that cannot be read (damaged, or from a release with other features) is not used, and the
 * problem is the engine's warning (RECSYS_OK with a last error), like a damaged vector index. */
#include "engine.h"
#include "blobs.h"
#include "request.h"
#include "../core/error.h"
#include "../rank/features.h"
#include "../rank/ltr.h"
#include <unistd.h>

#define TRAIN_EVENTS_MAX 100000000u

static const char LTR_BLOB[] = "ranker.ltr";
static const char LINEAR_BLOB[] = "ranker.linear";
#define LTR_HEAD 12 /* the saved model's header: magic and feature fingerprint */

typedef struct item_w {
    uint32_t item;
    float w;
} item_w;

typedef struct gather {
    const recsys__mem *m;
    const double *opt;
    item_w *lab;        /* the current user's labels, by item ascending */
    size_t nlab;
    float *x, *y;       /* rows x RECSYS__NFEAT, labels */
    size_t rows, caprows;
    uint32_t *groups;
    size_t ngroups, capgroups;
} gather;

static int cmp_item_w(const void *a, const void *b)
{
    const item_w *x = a, *y = b;
    return (x->item > y->item) - (x->item < y->item);
}

/* The weight an outcome adds to its candidate's label: its RECSYS_OPT_RANK_LABEL_* weight
 * when it is a positive (recsys__linear_label, the online rule), else 0. */
static double label_weight(const double *opt, int32_t type)
{
    int label = 0;
    double w = 0;
    return recsys__linear_label(opt, type, &label, &w) && label ? w : 0;
}

static float label_of(const gather *g, uint32_t item)
{
    size_t lo = 0, hi = g->nlab;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (g->lab[mid].item < item)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < g->nlab && g->lab[lo].item == item ? g->lab[lo].w : 0;
}

/* One user's eligible candidates: their rows, when one of them has a positive label. */
static recsys_status gather_user(void *arg, const recsys_query *q, const recsys_candidates *c)
{
    gather *g = arg;
    bool any = false;
    for (size_t i = 0; i < c->n && !any; i++)
        any = label_of(g, c->v[i].item) > 0;
    if (!any)
        return RECSYS_OK;
    RECSYS_TRY(RECSYS_GROW(g->m, g->groups, g->capgroups, g->ngroups + 1));
    size_t cap = g->caprows;
    RECSYS_TRY(RECSYS_GROW(g->m, g->y, cap, g->rows + c->n));
    if (cap > g->caprows) {
        float *nx = recsys__realloc(g->m, g->x, cap * RECSYS__NFEAT * sizeof *nx);
        if (!nx)
            return RECSYS_E_NOMEM;
        g->x = nx;
        g->caprows = cap;
    }
    RECSYS_TRY(recsys__features_compute(q, c, g->x + g->rows * RECSYS__NFEAT));
    for (size_t i = 0; i < c->n; i++) {
        double l = round(label_of(g, c->v[i].item));
        g->y[g->rows + i] = (float)(l > RECSYS__GBDT_MAX_LABEL ? RECSYS__GBDT_MAX_LABEL : l);
    }
    g->rows += c->n;
    g->groups[g->ngroups++] = (uint32_t)c->n;
    return RECSYS_OK;
}

static int cmp_by_user(const void *a, const void *b, void *arg)
{
    const recsys_event *ev = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(ev[i].user_id, ev[j].user_id);
    return c ? c : (i > j) - (i < j);
}

static recsys_status check_outcome(const recsys_event *ev, size_t i)
{
    if (!ev->user_id || !ev->user_id[0])
        return recsys__err(RECSYS_E_INVALID_ARG, "outcome %zu: user_id is empty", i);
    if (!ev->item_id || !ev->item_id[0])
        return recsys__err(RECSYS_E_INVALID_ARG, "outcome %zu: item_id is empty", i);
    if (!recsys__event_name(ev->type) || ev->type == RECSYS_EVENT_SEARCH)
        return recsys__err(RECSYS_E_INVALID_ARG, "outcome %zu: type %" PRId32
                           " is not an event about an item", i, ev->type);
    return RECSYS_OK;
}

/* Gathers the rows of every user of ev[0..n) (lock held shared by the caller). */
static recsys_status gather_all(recsys_engine *e, const recsys_event *ev, const size_t *order,
                                size_t n, gather *g, size_t *unknown)
{
    recsys_status st = RECSYS_OK;
    bool progress = isatty(2);
    size_t users = 0;
    for (size_t a = 0; st == RECSYS_OK && a < n;) {
        size_t b = a;
        const char *user = ev[order[a]].user_id;
        while (b < n && !strcmp(ev[order[b]].user_id, user))
            b++;
        g->nlab = 0;
        for (size_t k = a; k < b; k++) {
            const recsys_event *x = &ev[order[k]];
            uint32_t item = recsys__catalog_find(&e->model.catalog, x->item_id);
            double w = label_weight(g->opt, x->type);
            if (item == RECSYS_IDS_NONE) {
                (*unknown)++;
                continue;
            }
            if (w > 0)
                g->lab[g->nlab++] = (item_w){ item, (float)w };
        }
        qsort(g->lab, g->nlab, sizeof *g->lab, cmp_item_w);
        size_t w = 0; /* sum the weights of one item's outcomes */
        for (size_t k = 0; k < g->nlab; k++) {
            if (w && g->lab[w - 1].item == g->lab[k].item)
                g->lab[w - 1].w += g->lab[k].w;
            else
                g->lab[w++] = g->lab[k];
        }
        g->nlab = w;
        if (g->nlab && recsys__users_find(&e->model.users, user)) {
            recsys_request req;
            memset(&req, 0, sizeof req);
            req.user_id = (char *)user;
            st = recsys__pipeline_candidates(e, &req, gather_user, g);
        } else if (g->nlab) {
            (*unknown)++;
        }
        users++;
        if (progress && (users % 64 == 0 || b == n))
            fprintf(stderr, "\rrecsys: ranker training: gathering user %zu (%zu rows)   ", users,
                    g->rows);
        a = b;
    }
    if (progress)
        fputc('\n', stderr);
    return st;
}

static void gather_free(gather *g)
{
    recsys__free(g->m, g->lab);
    recsys__free(g->m, g->x);
    recsys__free(g->m, g->y);
    recsys__free(g->m, g->groups);
}

static recsys_status learn_ltr(recsys_engine *e, const gather *g, const double *opt)
{
    recsys__gbdt_params p;
    recsys__gbdt_params_init(&p);
    p.trees = (int)opt[recsys__opt_slot(RECSYS_OPT_RANK_LTR_TREES)];
    p.max_depth = (int)opt[recsys__opt_slot(RECSYS_OPT_RANK_LTR_DEPTH)];
    p.eta = opt[recsys__opt_slot(RECSYS_OPT_RANK_LTR_ETA)];
    int threads = (int)opt[recsys__opt_slot(RECSYS_OPT_TRAIN_THREADS)];
    if (threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        threads = c > 0 ? (int)RECSYS_MIN(c, RECSYS__GBDT_MAX_THREADS) : 1;
    }
    p.threads = threads;
    p.seed = e->seed;
    p.progress = isatty(2);
    char *json = NULL;
    size_t len = 0;
    RECSYS_TRY(recsys__gbdt_train(&e->mem, g->x, g->rows, RECSYS__NFEAT, g->y, g->groups,
                                  g->ngroups, &p, &json, &len));
    recsys__gbdt *model = NULL;
    recsys_status st = recsys__ltr_load(&e->mem, json, len, &model);
    if (st == RECSYS_OK && recsys__engine_has_blobs(e)) {
        /* the blob: "RSL1", the feature layout's fingerprint (u64 LE), the model text */
        unsigned char *blob = recsys__alloc(&e->mem, LTR_HEAD + len);
        if (!blob)
            st = RECSYS_E_NOMEM;
        if (blob) {
            uint64_t fp = recsys__features_fingerprint();
            memcpy(blob, "RSL1", 4);
            for (int b = 0; b < 8; b++)
                blob[4 + b] = (unsigned char)(fp >> (8 * b));
            memcpy(blob + LTR_HEAD, json, len);
            st = recsys__engine_blob_put(e, LTR_BLOB, blob, LTR_HEAD + len);
            recsys__free(&e->mem, blob);
        }
    }
    recsys__free(&e->mem, json);
    if (st != RECSYS_OK) {
        recsys__gbdt_free(&e->mem, model);
        return st;
    }
    recsys__wr(e);
    recsys__gbdt *old = e->ltr.model;
    e->ltr.model = model;
    recsys__unlock(e);
    recsys__gbdt_free(&e->mem, old);
    return RECSYS_OK;
}

/* "linear": a fresh model learns every row once, in the gathered order (users by id), a
 * candidate with a positive label as a positive of that weight, the others as negatives of
 * weight RECSYS_OPT_RANK_LABEL_IMPRESSION. Training replaces the main model only: the outcome
 * heads learnt online are kept. When the store keeps blobs, the fresh model takes a copy of
 * the ranker's heads and is saved (the blob holds the trained main model and those heads; a
 * failed save changes nothing); then its main model is assigned into the ranker's. Heads
 * that learnt between the copy and the assignment are not in the blob: the saved change
 * count is then left behind, so the next refresh saves again. */
static recsys_status learn_linear(recsys_engine *e, const gather *g, const double *opt)
{
    recsys__linear_params p;
    recsys__linear_params_from_opt(opt, &p);
    recsys__linear *lm = NULL;
    RECSYS_TRY(recsys__linear_new(&e->mem, &p, &lm));
    recsys_status st = recsys__linear_update_rows(
        lm, g->x, g->y, g->rows, opt[recsys__opt_slot(RECSYS_OPT_RANK_LABEL_IMPRESSION)]);
    void *blob = NULL;
    size_t len = 0;
    uint64_t seen = 0; /* the ranker's change count when its heads were copied */
    bool save = recsys__engine_has_blobs(e);
    if (st == RECSYS_OK && save)
        st = recsys__linear_copy_heads(lm, e->linear, &seen);
    if (st == RECSYS_OK && save)
        st = recsys__linear_save(lm, &e->mem, &blob, &len);
    if (st == RECSYS_OK && blob)
        st = recsys__engine_blob_put(e, LINEAR_BLOB, blob, len);
    recsys__free(&e->mem, blob);
    if (st == RECSYS_OK) {
        uint64_t now = recsys__linear_assign_main(e->linear, lm); /* the model's own lock */
        /* the blob is the ranker's state when nothing changed it between (one change: the
         * assignment) */
        atomic_store(&e->linear_saved, !save || now - 1 == seen ? now : seen);
    }
    recsys__linear_free(lm);
    return st;
}

recsys_status recsys__engine_save_linear(recsys_engine *e)
{
    uint64_t n = recsys__linear_changes(e->linear);
    if (n == atomic_load(&e->linear_saved) || !recsys__engine_has_blobs(e))
        return RECSYS_OK;
    void *blob = NULL;
    size_t len = 0;
    RECSYS_TRY(recsys__linear_save(e->linear, &e->mem, &blob, &len));
    recsys_status st = recsys__engine_blob_put(e, LINEAR_BLOB, blob, len);
    recsys__free(&e->mem, blob);
    if (st == RECSYS_OK)
        atomic_store(&e->linear_saved, n);
    return st;
}

RECSYS_API recsys_status recsys_ranker_train(recsys_engine *e, const char *ranker,
                                             const recsys_event *ev, size_t n)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(ranker);
    RECSYS_CHECK_ARG(ev);
    bool ltr = !strcmp(ranker, "ltr");
    if (!ltr && strcmp(ranker, "linear") != 0)
        return recsys__err(RECSYS_E_INVALID_ARG, "ranker '%.64s' cannot be trained here "
                           "(built-in learned rankers: ltr, linear)", ranker);
    if (n == 0 || n > TRAIN_EVENTS_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "%zu outcomes: expected 1..%u", n,
                           TRAIN_EVENTS_MAX);
    for (size_t i = 0; i < n; i++)
        RECSYS_TRY(check_outcome(&ev[i], i));
    gather g;
    memset(&g, 0, sizeof g);
    g.m = &e->mem;
    double opt[RECSYS_OPT_SLOTS];
    size_t *order = recsys__alloc(&e->mem, n * sizeof *order);
    g.lab = recsys__alloc(&e->mem, n * sizeof *g.lab);
    if (!order || !g.lab) {
        recsys__free(&e->mem, order);
        gather_free(&g);
        return RECSYS_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof *order, cmp_by_user, (void *)ev);
    size_t unknown = 0;
    recsys__rd(e);
    memcpy(opt, e->opts.num, sizeof opt);
    g.opt = opt;
    recsys_status st = gather_all(e, ev, order, n, &g, &unknown);
    recsys__unlock(e);
    recsys__free(&e->mem, order);
    if (st == RECSYS_OK && g.ngroups == 0)
        st = recsys__err(RECSYS_E_INVALID_ARG,
                         "no user has a candidate with a positive outcome to learn from (%zu "
                         "outcomes name an unknown user or item)", unknown);
    if (st == RECSYS_OK)
        st = ltr ? learn_ltr(e, &g, opt) : learn_linear(e, &g, opt);
    gather_free(&g);
    return st;
}

/* Installs the saved linear model data[0..len): assigned into the ranker's (a version 2
 * form with its heads, a version 1 form with none: the ranker's heads stay untrained). */
static recsys_status install_linear(recsys_engine *e, const void *data, size_t len)
{
    recsys__linear *lm = NULL;
    RECSYS_TRY(recsys__linear_load(&e->mem, data, len, &lm));
    recsys__linear_assign(e->linear, lm);
    atomic_store(&e->linear_saved, recsys__linear_changes(e->linear));
    recsys__linear_free(lm);
    return RECSYS_OK;
}

/* Installs the saved ltr model data[0..len) (header checked, then the trees). */
static recsys_status install_ltr(recsys_engine *e, const void *data, size_t len)
{
    const unsigned char *b = data;
    uint64_t fp = 0;
    for (int k = 0; len >= LTR_HEAD && k < 8; k++)
        fp |= (uint64_t)b[4 + k] << (8 * k);
    if (len < LTR_HEAD || memcmp(b, "RSL1", 4) != 0)
        return recsys__err(RECSYS_E_CORRUPT, "it does not start with the ltr model header");
    if (fp != recsys__features_fingerprint())
        return recsys__err(RECSYS_E_UNSUPPORTED, "it was trained on another feature layout "
                                                 "(a model of another release)");
    RECSYS_TRY(recsys__ltr_load(&e->mem, (const char *)b + LTR_HEAD, len - LTR_HEAD,
                                &e->ltr.model));
    return RECSYS_OK;
}

/* Reads blob and installs it; none is fine; a model that cannot be used is a warning
 * (RECSYS_OK and a last error naming the blob): the engine works without it. NOMEM fails. */
static recsys_status load_saved(recsys_engine *e, const char *blob,
                                recsys_status (*install)(recsys_engine *, const void *, size_t))
{
    void *data = NULL;
    size_t len = 0;
    recsys_status st = recsys__engine_blob_get(e, blob, &data, &len);
    if (st == RECSYS_E_NOT_FOUND) {
        recsys__err_clear();
        return RECSYS_OK;
    }
    if (st == RECSYS_OK)
        st = install(e, data, len);
    recsys__free(&e->mem, data);
    if (st == RECSYS_OK || st == RECSYS_E_NOMEM)
        return st;
    char what[96];
    snprintf(what, sizeof what, "the saved ranker model '%s' is not used", blob);
    recsys__err_prefix(what);
    return RECSYS_OK;
}

recsys_status recsys__engine_load_rankers(recsys_engine *e)
{
    recsys__err_clear();
    RECSYS_TRY(load_saved(e, LINEAR_BLOB, install_linear));
    recsys__err_saved w; /* linear's warning, if any: the first one wins */
    recsys__err_save(&w);
    recsys__err_clear();
    recsys_status st = load_saved(e, LTR_BLOB, install_ltr);
    if (st == RECSYS_OK && w.status != RECSYS_OK)
        recsys__err_restore(&w);
    return st;
}
