/* linear.c - FTRL-Proximal logistic regression and the "linear" ranker (see linear.h). */
#include "linear.h"
#include "../core/error.h"
#include "../core/options.h"
#include <stdalign.h>
#include <xxhash.h>

struct recsys__linear {
    const recsys__mem *m;
    pthread_rwlock_t lock; /* shared: predict, save; exclusive: update, set_params, assign */
    recsys__linear_params p;
    uint64_t changes; /* bumped by every change of state (recsys__linear_changes) */
    uint64_t updates;
    double z[RECSYS__LINEAR_DIM];
    double n[RECSYS__LINEAR_DIM];
    /* the outcome heads (multi-objective ranking): the same model per objective */
    uint64_t hupdates[RECSYS__NOBJ];
    double hz[RECSYS__NOBJ][RECSYS__LINEAR_DIM];
    double hn[RECSYS__NOBJ][RECSYS__LINEAR_DIM];
};

/* Per column, what the value is multiplied by after its kind's transform: 1, 1 / scale or
 * 1 / log1p(scale) (filled once: the divisions and logarithms of the constants are not
 * repeated for every row). */
static double xmul[RECSYS__NFEAT];
static pthread_once_t xmul_once = PTHREAD_ONCE_INIT;

static void xmul_init(void)
{
    for (size_t f = 0; f < RECSYS__NFEAT; f++) {
        const recsys__feature_info *fi = &recsys__feature_table[f];
        xmul[f] = fi->kind == RECSYS__FEAT_DIV   ? 1.0 / fi->scale
                : fi->kind == RECSYS__FEAT_LOG   ? 1.0 / log1p(fi->scale)
                                                 : 1.0;
    }
}

static void rd(const recsys__linear *lm)
{
    pthread_rwlock_rdlock((pthread_rwlock_t *)&lm->lock);
}

static void wr(recsys__linear *lm)
{
    pthread_rwlock_wrlock(&lm->lock);
}

static void unlock(const recsys__linear *lm)
{
    pthread_rwlock_unlock((pthread_rwlock_t *)&lm->lock);
}

/* ------------------------------------------------------------ parameters */

void recsys__linear_params_from_opt(const double *opt, recsys__linear_params *p)
{
    p->alpha = opt[recsys__opt_slot(RECSYS_OPT_RANK_LINEAR_ALPHA)];
    p->beta = 1.0;
    p->l1 = opt[recsys__opt_slot(RECSYS_OPT_RANK_LINEAR_L1)];
    p->l2 = opt[recsys__opt_slot(RECSYS_OPT_RANK_LINEAR_L2)];
}

/* False when a parameter is out of range (NaN fails every test), with a message that names
 * it, its value and the range (prefix: what was being done). */
static bool params_ok(const recsys__linear_params *p, recsys_status code, const char *prefix)
{
    const struct {
        const char *name;
        double v, lo;
        bool open; /* lo itself is out */
    } f[] = { { "alpha", p->alpha, 0, true }, { "beta", p->beta, 0, false },
              { "l1", p->l1, 0, false },      { "l2", p->l2, 0, false } };
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(f); i++) {
        bool in = (f[i].open ? f[i].v > f[i].lo : f[i].v >= f[i].lo) &&
                  f[i].v <= RECSYS__LINEAR_MAX_PARAM;
        if (!in) {
            recsys__err(code, "%s: parameter %s is %g (expected %s 0 and at most %g)", prefix,
                        f[i].name, f[i].v, f[i].open ? "above" : "at least",
                        RECSYS__LINEAR_MAX_PARAM);
            return false;
        }
    }
    return true;
}

static recsys_status check_params(const recsys__linear_params *p)
{
    if (!p)
        return recsys__err(RECSYS_E_INVALID_ARG, "linear model: parameters are NULL");
    return params_ok(p, RECSYS_E_INVALID_ARG, "linear model") ? RECSYS_OK
                                                               : RECSYS_E_INVALID_ARG;
}

recsys_status recsys__linear_new(const recsys__mem *m, const recsys__linear_params *p,
                                 recsys__linear **out)
{
    if (out)
        *out = NULL;
    if (!m || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "linear model: allocator or output is NULL");
    RECSYS_TRY(check_params(p));
    pthread_once(&xmul_once, xmul_init); /* every model is made here: expand() may use it */
    recsys__linear *lm = recsys__calloc(m, 1, sizeof *lm);
    if (!lm)
        return RECSYS_E_NOMEM;
    int rc = pthread_rwlock_init(&lm->lock, NULL);
    if (rc) {
        recsys__free(m, lm);
        return recsys__err(rc == ENOMEM || rc == EAGAIN ? RECSYS_E_NOMEM : RECSYS_E_INTERNAL,
                           "linear model: cannot create its lock (%s)", strerror(rc));
    }
    lm->m = m;
    lm->p = *p;
    *out = lm;
    return RECSYS_OK;
}

void recsys__linear_free(recsys__linear *lm)
{
    if (!lm)
        return;
    pthread_rwlock_destroy(&lm->lock);
    recsys__free(lm->m, lm);
}

recsys_status recsys__linear_set_params(recsys__linear *lm, const recsys__linear_params *p)
{
    if (!lm)
        return recsys__err(RECSYS_E_INVALID_ARG, "linear model: model is NULL");
    RECSYS_TRY(check_params(p));
    wr(lm);
    if (memcmp(&lm->p, p, sizeof *p) != 0) { /* the weights change: a change of state */
        lm->p = *p;
        lm->changes++;
    }
    unlock(lm);
    return RECSYS_OK;
}

void recsys__linear_get_params(const recsys__linear *lm, recsys__linear_params *p)
{
    rd(lm);
    *p = lm->p;
    unlock(lm);
}

uint64_t recsys__linear_updates(const recsys__linear *lm)
{
    rd(lm);
    uint64_t u = lm->updates;
    unlock(lm);
    return u;
}

uint64_t recsys__linear_changes(const recsys__linear *lm)
{
    rd(lm);
    uint64_t c = lm->changes;
    unlock(lm);
    return c;
}

/* ------------------------------------------------------------ inputs and weights */

#define X_CLAMP 4.0

/* The model's inputs for a feature row (see linear.h); xmul_once must have run. */
static void expand(const float *row, double *x)
{
    for (size_t f = 0; f < RECSYS__NFEAT; f++) {
        double v = row[f];
        if (isnan(v)) {
            x[f] = 0;
            x[RECSYS__NFEAT + f] = 1;
            continue;
        }
        if (recsys__feature_table[f].kind == RECSYS__FEAT_LOG)
            v = copysign(log1p(fabs(v)), v);
        v *= xmul[f];
        x[f] = v > X_CLAMP ? X_CLAMP : v < -X_CLAMP ? -X_CLAMP : v;
        x[RECSYS__NFEAT + f] = 0;
    }
    x[RECSYS__LINEAR_BIAS] = 1;
}

/* Weight of input i from zv[i], nv[i] (caller holds the lock). */
static double weight_zn(const recsys__linear *lm, const double *zv, const double *nv, size_t i)
{
    double z = zv[i], l1 = i == RECSYS__LINEAR_BIAS ? 0 : lm->p.l1;
    if (fabs(z) <= l1)
        return 0;
    double sgn = z < 0 ? -1.0 : 1.0;
    double w = -(z - sgn * l1) / ((lm->p.beta + sqrt(nv[i])) / lm->p.alpha + lm->p.l2);
    /* a guard (a trained model stays far inside): a loaded z with n = 0, beta = 0, l2 = 0
     * would divide by zero */
    return w > RECSYS__LINEAR_MAX_W ? RECSYS__LINEAR_MAX_W
         : w < -RECSYS__LINEAR_MAX_W ? -RECSYS__LINEAR_MAX_W : w;
}

/* The weights of the main model (obj < 0) or of head obj (caller holds the lock). */
static void weights_of(const recsys__linear *lm, int obj, double *w)
{
    const double *zv = obj < 0 ? lm->z : lm->hz[obj], *nv = obj < 0 ? lm->n : lm->hn[obj];
    for (size_t i = 0; i < RECSYS__LINEAR_DIM; i++)
        w[i] = weight_zn(lm, zv, nv, i);
}

static void weights_locked(const recsys__linear *lm, double *w)
{
    weights_of(lm, -1, w);
}

void recsys__linear_weights(const recsys__linear *lm, double *w)
{
    rd(lm);
    weights_locked(lm, w);
    unlock(lm);
}

static double sigmoid(double t)
{
    if (t > 35)
        t = 35;
    else if (t < -35)
        t = -35;
    return 1.0 / (1.0 + exp(-t));
}

static double margin(const double *w, const double *x)
{
    double s = 0;
    for (size_t i = 0; i < RECSYS__LINEAR_DIM; i++)
        s += w[i] * x[i];
    return s;
}

double recsys__linear_predict(const recsys__linear *lm, const float *row)
{
    double out;
    recsys__linear_predict_rows(lm, row, 1, &out);
    return out;
}

void recsys__linear_predict_rows(const recsys__linear *lm, const float *rows, size_t n,
                                 double *out)
{
    double w[RECSYS__LINEAR_DIM], x[RECSYS__LINEAR_DIM];
    recsys__linear_weights(lm, w);
    for (size_t r = 0; r < n; r++) {
        expand(rows + r * RECSYS__NFEAT, x);
        out[r] = sigmoid(margin(w, x));
    }
}

/* ------------------------------------------------------------ learning */

static recsys_status check_weight(double weight, const char *what)
{
    if (!(weight >= 0 && weight <= RECSYS__LINEAR_MAX_WEIGHT))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "linear model: %s %g is out of range (expected 0..%g)", what, weight,
                           RECSYS__LINEAR_MAX_WEIGHT);
    return RECSYS_OK;
}

/* One FTRL-Proximal step of the main model (obj < 0) or of head obj (caller holds the lock
 * exclusively; arguments checked). */
static void learn_obj(recsys__linear *lm, int obj, const float *row, int label, double weight)
{
    if (weight == 0)
        return;
    double *zv = obj < 0 ? lm->z : lm->hz[obj], *nv = obj < 0 ? lm->n : lm->hn[obj];
    double x[RECSYS__LINEAR_DIM], w[RECSYS__LINEAR_DIM];
    expand(row, x);
    weights_of(lm, obj, w);
    double p = sigmoid(margin(w, x));
    double err = weight * (p - (double)label);
    for (size_t i = 0; i < RECSYS__LINEAR_DIM; i++) {
        if (x[i] == 0)
            continue;
        double g = err * x[i];
        double sigma = (sqrt(nv[i] + g * g) - sqrt(nv[i])) / lm->p.alpha;
        double z = zv[i] + (g - sigma * w[i]), n = nv[i] + g * g;
        if (isfinite(z) && isfinite(n)) { /* else the coordinate keeps its state */
            zv[i] = z;
            nv[i] = n;
        }
    }
    if (obj < 0)
        lm->updates++;
    else
        lm->hupdates[obj]++;
    lm->changes++;
}

static void learn_locked(recsys__linear *lm, const float *row, int label, double weight)
{
    learn_obj(lm, -1, row, label, weight);
}

recsys_status recsys__linear_update(recsys__linear *lm, const float *row, int label,
                                    double weight)
{
    if (!lm || !row)
        return recsys__err(RECSYS_E_INVALID_ARG, "linear model: model or row is NULL");
    if (label != 0 && label != 1)
        return recsys__err(RECSYS_E_INVALID_ARG, "linear model: label %d (expected 0 or 1)",
                           label);
    RECSYS_TRY(check_weight(weight, "weight"));
    wr(lm);
    learn_locked(lm, row, label, weight);
    unlock(lm);
    return RECSYS_OK;
}

recsys_status recsys__linear_update_rows(recsys__linear *lm, const float *rows, const float *y,
                                         size_t n, double neg_weight)
{
    if (!lm || (n && (!rows || !y)))
        return recsys__err(RECSYS_E_INVALID_ARG, "linear model: model, rows or labels are NULL");
    RECSYS_TRY(check_weight(neg_weight, "negative weight"));
    for (size_t i = 0; i < n; i++)
        if (!(y[i] >= 0 && y[i] <= RECSYS__LINEAR_MAX_WEIGHT))
            return recsys__err(RECSYS_E_INVALID_ARG,
                               "linear model: label weight %g of row %zu is out of range "
                               "(expected 0..%g)", (double)y[i], i, RECSYS__LINEAR_MAX_WEIGHT);
    wr(lm);
    for (size_t i = 0; i < n; i++)
        learn_locked(lm, rows + i * RECSYS__NFEAT, y[i] > 0, y[i] > 0 ? y[i] : neg_weight);
    unlock(lm);
    return RECSYS_OK;
}

bool recsys__linear_label(const double *opt, int32_t type, int *label, double *weight)
{
    int32_t key;
    int y = 1;
    switch (type) {
    case RECSYS_EVENT_CLICK: key = RECSYS_OPT_RANK_LABEL_CLICK; break;
    case RECSYS_EVENT_VIEW: key = RECSYS_OPT_RANK_LABEL_VIEW; break;
    case RECSYS_EVENT_LIKE: key = RECSYS_OPT_RANK_LABEL_LIKE; break;
    case RECSYS_EVENT_ADD_TO_CART: key = RECSYS_OPT_RANK_LABEL_CART; break;
    case RECSYS_EVENT_PURCHASE: key = RECSYS_OPT_RANK_LABEL_PURCHASE; break;
    case RECSYS_EVENT_WATCH_TIME:
    case RECSYS_EVENT_DWELL:
    case RECSYS_EVENT_RATING: key = RECSYS_OPT_RANK_LABEL_WATCH; break;
    case RECSYS_EVENT_IMPRESSION:
    case RECSYS_EVENT_SKIP:
    case RECSYS_EVENT_DISLIKE:
        key = RECSYS_OPT_RANK_LABEL_IMPRESSION;
        y = 0;
        break;
    default: return false; /* a search, or an unknown type */
    }
    *label = y;
    *weight = opt[recsys__opt_slot(key)];
    return true;
}

/* ------------------------------------------------------------ objectives */

const char *const recsys__objective_names[RECSYS__NOBJ] = { "click", "purchase", "watch",
                                                            "rating", "skip", "dislike" };

unsigned recsys__linear_objectives(int32_t type, double value)
{
    switch (type) {
    case RECSYS_EVENT_CLICK:
    case RECSYS_EVENT_VIEW: return 1u << RECSYS__OBJ_CLICK;
    case RECSYS_EVENT_PURCHASE: return 1u << RECSYS__OBJ_PURCHASE;
    case RECSYS_EVENT_WATCH_TIME:
    case RECSYS_EVENT_DWELL: return value > 0 ? 1u << RECSYS__OBJ_WATCH : 0;
    case RECSYS_EVENT_LIKE: return 1u << RECSYS__OBJ_RATING;
    case RECSYS_EVENT_RATING:
        return value >= RECSYS__OBJ_GOOD_RATING ? 1u << RECSYS__OBJ_RATING : 0;
    case RECSYS_EVENT_SKIP: return 1u << RECSYS__OBJ_SKIP;
    case RECSYS_EVENT_DISLIKE: return 1u << RECSYS__OBJ_DISLIKE;
    default: return 0;
    }
}

static recsys_status check_obj(const recsys__linear *lm, int obj, const void *row)
{
    if (!lm || !row)
        return recsys__err(RECSYS_E_INVALID_ARG, "linear model: model or row is NULL");
    if (obj < 0 || obj >= RECSYS__NOBJ)
        return recsys__err(RECSYS_E_INVALID_ARG, "linear model: objective %d (expected 0..%d)",
                           obj, RECSYS__NOBJ - 1);
    return RECSYS_OK;
}

recsys_status recsys__linear_update_objective(recsys__linear *lm, int obj, const float *row,
                                              int label, double weight)
{
    RECSYS_TRY(check_obj(lm, obj, row));
    if (label != 0 && label != 1)
        return recsys__err(RECSYS_E_INVALID_ARG, "linear model: label %d (expected 0 or 1)",
                           label);
    RECSYS_TRY(check_weight(weight, "weight"));
    wr(lm);
    learn_obj(lm, obj, row, label, weight);
    unlock(lm);
    return RECSYS_OK;
}

recsys_status recsys__linear_predict_objective_rows(const recsys__linear *lm, int obj,
                                                    const float *rows, size_t n, double *out)
{
    RECSYS_TRY(check_obj(lm, obj, rows));
    double w[RECSYS__LINEAR_DIM], x[RECSYS__LINEAR_DIM];
    rd(lm);
    weights_of(lm, obj, w);
    unlock(lm);
    for (size_t r = 0; r < n; r++) {
        expand(rows + r * RECSYS__NFEAT, x);
        out[r] = sigmoid(margin(w, x));
    }
    return RECSYS_OK;
}

uint64_t recsys__linear_objective_updates(const recsys__linear *lm, int obj)
{
    if (!lm || obj < 0 || obj >= RECSYS__NOBJ)
        return 0;
    rd(lm);
    uint64_t u = lm->hupdates[obj];
    unlock(lm);
    return u;
}

bool recsys__linear_blend(const double *opt, double w[1 + RECSYS__NOBJ])
{
    static const int32_t keys[1 + RECSYS__NOBJ] = {
        RECSYS_OPT_RANK_OBJ_MAIN,   RECSYS_OPT_RANK_OBJ_CLICK, RECSYS_OPT_RANK_OBJ_PURCHASE,
        RECSYS_OPT_RANK_OBJ_WATCH,  RECSYS_OPT_RANK_OBJ_RATING, RECSYS_OPT_RANK_OBJ_SKIP,
        RECSYS_OPT_RANK_OBJ_DISLIKE,
    };
    bool blend = false;
    for (size_t k = 0; k <= RECSYS__NOBJ; k++) {
        w[k] = opt[recsys__opt_slot(keys[k])];
        blend |= k ? w[k] != 0 : w[k] != 1;
    }
    return blend;
}

/* The learnt state of every head (z, n, update counts), copied out of a model. */
typedef struct heads {
    uint64_t hupdates[RECSYS__NOBJ];
    double hz[RECSYS__NOBJ][RECSYS__LINEAR_DIM];
    double hn[RECSYS__NOBJ][RECSYS__LINEAR_DIM];
} heads;

/* Copies src's heads into dst: always (learnt_only false) or only when src learnt any. Sets
 * *src_changes (when not NULL) to src's change count at the copy. Never holds two locks at
 * once: src's heads are copied out first, to the heap (about 8 KB: kept off the stacks of
 * the host's threads). RECSYS_E_NOMEM (dst unchanged). */
static recsys_status heads_copy(recsys__linear *dst, const recsys__linear *src, bool learnt_only,
                                uint64_t *src_changes)
{
    uint64_t any = 0;
    rd(src);
    for (size_t k = 0; k < RECSYS__NOBJ; k++)
        any += src->hupdates[k];
    if (src_changes)
        *src_changes = src->changes;
    unlock(src);
    if (!any && learnt_only)
        return RECSYS_OK;
    heads *h = recsys__alloc(dst->m, sizeof *h);
    if (!h)
        return RECSYS_E_NOMEM;
    rd(src);
    memcpy(h->hupdates, src->hupdates, sizeof h->hupdates);
    memcpy(h->hz, src->hz, sizeof h->hz);
    memcpy(h->hn, src->hn, sizeof h->hn);
    if (src_changes)
        *src_changes = src->changes;
    unlock(src);
    wr(dst);
    memcpy(dst->hupdates, h->hupdates, sizeof h->hupdates);
    memcpy(dst->hz, h->hz, sizeof h->hz);
    memcpy(dst->hn, h->hn, sizeof h->hn);
    dst->changes++;
    unlock(dst);
    recsys__free(dst->m, h);
    return RECSYS_OK;
}

recsys_status recsys__linear_copy_heads(recsys__linear *dst, const recsys__linear *src,
                                        uint64_t *src_changes)
{
    if (!dst || !src)
        return recsys__err(RECSYS_E_INVALID_ARG, "linear model: model is NULL");
    if (dst == src) {
        if (src_changes)
            *src_changes = recsys__linear_changes(src);
        return RECSYS_OK;
    }
    return heads_copy(dst, src, false, src_changes);
}

uint64_t recsys__linear_assign_main(recsys__linear *dst, const recsys__linear *src)
{
    if (!dst)
        return 0;
    if (!src || dst == src)
        return recsys__linear_changes(dst);
    /* copy out of src first: never two locks at once */
    recsys__linear_params p;
    uint64_t updates;
    double z[RECSYS__LINEAR_DIM], n[RECSYS__LINEAR_DIM];
    rd(src);
    p = src->p;
    updates = src->updates;
    memcpy(z, src->z, sizeof z);
    memcpy(n, src->n, sizeof n);
    unlock(src);
    wr(dst);
    dst->p = p;
    dst->updates = updates;
    memcpy(dst->z, z, sizeof z);
    memcpy(dst->n, n, sizeof n);
    uint64_t c = ++dst->changes;
    unlock(dst);
    return c;
}

void recsys__linear_assign(recsys__linear *dst, const recsys__linear *src)
{
    if (!dst || !src || dst == src)
        return;
    (void)recsys__linear_assign_main(dst, src);
    /* the heads (a model trained or loaded has none learnt: dst's are kept then); out of
     * memory leaves dst's heads as they were: a missed copy, not a broken model */
    if (heads_copy(dst, src, true, NULL) != RECSYS_OK)
        recsys__err_clear();
}

/* ------------------------------------------------------------ saved form */

static const unsigned char MAGIC[4] = { 'R', 'S', 'L', 'R' };
#define HDR 64

typedef struct cursor {
    unsigned char *p;
    const unsigned char *r;
    size_t at;
} cursor;

static void put64(cursor *c, uint64_t v)
{
    for (int b = 0; b < 8; b++)
        c->p[c->at++] = (unsigned char)(v >> (8 * b));
}

static void put32(cursor *c, uint32_t v)
{
    for (int b = 0; b < 4; b++)
        c->p[c->at++] = (unsigned char)(v >> (8 * b));
}

static void putf(cursor *c, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    put64(c, v);
}

static uint64_t get64(cursor *c)
{
    uint64_t v = 0;
    for (int b = 0; b < 8; b++)
        v |= (uint64_t)c->r[c->at++] << (8 * b);
    return v;
}

static uint32_t get32(cursor *c)
{
    uint32_t v = 0;
    for (int b = 0; b < 4; b++)
        v |= (uint32_t)c->r[c->at++] << (8 * b);
    return v;
}

static double getf(cursor *c)
{
    uint64_t v = get64(c);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

/* One model's z[dim] then n[dim]. */
static void put_zn(cursor *c, const double *z, const double *n)
{
    for (size_t i = 0; i < RECSYS__LINEAR_DIM; i++)
        putf(c, z[i]);
    for (size_t i = 0; i < RECSYS__LINEAR_DIM; i++)
        putf(c, n[i]);
}

recsys_status recsys__linear_save(const recsys__linear *lm, const recsys__mem *m, void **data,
                                  size_t *len)
{
    if (data)
        *data = NULL;
    if (len)
        *len = 0;
    if (!lm || !m || !data || !len)
        return recsys__err(RECSYS_E_INVALID_ARG, "linear model: NULL argument to save");
    unsigned char *b = recsys__alloc(m, RECSYS__LINEAR_BYTES);
    if (!b)
        return RECSYS_E_NOMEM;
    cursor c = { b, NULL, 0 };
    memcpy(b, MAGIC, 4);
    c.at = 4;
    put32(&c, RECSYS__LINEAR_VERSION);
    put32(&c, RECSYS__NFEAT);
    put32(&c, RECSYS__LINEAR_DIM);
    put64(&c, recsys__features_fingerprint());
    rd(lm); /* one consistent state: the main model and every head as of one moment */
    putf(&c, lm->p.alpha);
    putf(&c, lm->p.beta);
    putf(&c, lm->p.l1);
    putf(&c, lm->p.l2);
    put64(&c, lm->updates);
    put_zn(&c, lm->z, lm->n);
    put64(&c, RECSYS__NOBJ);
    for (size_t k = 0; k < RECSYS__NOBJ; k++) {
        put64(&c, lm->hupdates[k]);
        put_zn(&c, lm->hz[k], lm->hn[k]);
    }
    unlock(lm);
    put64(&c, XXH3_64bits(b, c.at));
    *data = b;
    *len = c.at;
    return RECSYS_OK;
}

/* Checks one model's z[dim] and n[dim] at the cursor (moved past them): every value finite,
 * n >= 0. RECSYS_E_CORRUPT with a message naming the value (who: "" for the main model,
 * "head 'click' " for a head). */
static recsys_status check_zn(cursor *c, const char *who)
{
    for (size_t i = 0; i < 2 * RECSYS__LINEAR_DIM; i++) {
        double v = getf(c);
        bool is_n = i >= RECSYS__LINEAR_DIM;
        if (!isfinite(v) || (is_n && v < 0))
            return recsys__err(RECSYS_E_CORRUPT, "linear model: %s%s[%zu] is %g (expected a "
                               "finite value%s)", who, is_n ? "n" : "z", i % RECSYS__LINEAR_DIM,
                               v, is_n ? " >= 0" : "");
    }
    return RECSYS_OK;
}

static void get_zn(cursor *c, double *z, double *n)
{
    for (size_t i = 0; i < RECSYS__LINEAR_DIM; i++)
        z[i] = getf(c);
    for (size_t i = 0; i < RECSYS__LINEAR_DIM; i++)
        n[i] = getf(c);
}

/* Offset of the head count in a version 2 form (after the header and the main model). */
#define HEADS_AT (HDR + 16 * RECSYS__LINEAR_DIM)

recsys_status recsys__linear_load(const recsys__mem *m, const void *data, size_t len,
                                  recsys__linear **out)
{
    if (out)
        *out = NULL;
    if (!m || !out || (!data && len))
        return recsys__err(RECSYS_E_INVALID_ARG, "linear model: NULL argument to load");
    const unsigned char *b = data;
    if (len < 8 || memcmp(b, MAGIC, 4) != 0)
        return recsys__err(RECSYS_E_CORRUPT, "linear model: not a saved linear model (%zu bytes, "
                           "no \"RSLR\" magic)", len);
    cursor c = { NULL, b, 4 };
    uint32_t version = get32(&c);
    if (version != 1 && version != RECSYS__LINEAR_VERSION)
        return recsys__err(RECSYS_E_CORRUPT, "linear model: format version %" PRIu32
                           " (this release reads 1 and %u)", version, RECSYS__LINEAR_VERSION);
    size_t want = version == 1 ? (size_t)RECSYS__LINEAR_BYTES_V1 : (size_t)RECSYS__LINEAR_BYTES;
    if (len != want) {
        /* the feature count (and in version 2 the head count) says which length the writer
         * meant */
        uint32_t nfeat = len >= 12 ? get32(&c) : 0;
        if (nfeat != RECSYS__NFEAT && len >= 12)
            return recsys__err(RECSYS_E_CORRUPT, "linear model: made for %" PRIu32
                               " features, this release computes %d", nfeat, (int)RECSYS__NFEAT);
        cursor h = { NULL, b, HEADS_AT };
        uint64_t nobj = version > 1 && len >= HEADS_AT + 16 ? get64(&h) : RECSYS__NOBJ;
        if (nobj != RECSYS__NOBJ)
            return recsys__err(RECSYS_E_CORRUPT, "linear model: %" PRIu64 " outcome heads, this "
                               "release has %d", nobj, (int)RECSYS__NOBJ);
        return recsys__err(RECSYS_E_CORRUPT, "linear model: %zu bytes, expected %zu for format "
                           "version %" PRIu32 " (truncated or padded)", len, want, version);
    }
    cursor t = { NULL, b, len - 8 };
    uint64_t sum = get64(&t);
    if (XXH3_64bits(b, len - 8) != sum)
        return recsys__err(RECSYS_E_CORRUPT, "linear model: checksum mismatch (damaged)");
    uint32_t nfeat = get32(&c), dim = get32(&c);
    uint64_t fp = get64(&c);
    if (nfeat != RECSYS__NFEAT || dim != RECSYS__LINEAR_DIM)
        return recsys__err(RECSYS_E_CORRUPT, "linear model: %" PRIu32 " features and %" PRIu32
                           " inputs, this release computes %d and %d", nfeat, dim,
                           (int)RECSYS__NFEAT, (int)RECSYS__LINEAR_DIM);
    if (fp != recsys__features_fingerprint())
        return recsys__err(RECSYS_E_CORRUPT, "linear model: made for another feature layout "
                           "(fingerprint %016" PRIx64 ", this release's %016" PRIx64 ")", fp,
                           recsys__features_fingerprint());
    recsys__linear_params p;
    p.alpha = getf(&c);
    p.beta = getf(&c);
    p.l1 = getf(&c);
    p.l2 = getf(&c);
    if (!params_ok(&p, RECSYS_E_CORRUPT, "linear model"))
        return RECSYS_E_CORRUPT;
    uint64_t updates = get64(&c);
    size_t zat = c.at;
    RECSYS_TRY(check_zn(&c, ""));
    if (version > 1) {
        uint64_t nobj = get64(&c);
        if (nobj != RECSYS__NOBJ) /* the length matched: a damaged count */
            return recsys__err(RECSYS_E_CORRUPT, "linear model: %" PRIu64 " outcome heads, "
                               "this release has %d", nobj, (int)RECSYS__NOBJ);
        for (size_t k = 0; k < RECSYS__NOBJ; k++) {
            char who[48];
            snprintf(who, sizeof who, "head '%s' ", recsys__objective_names[k]);
            c.at += 8; /* its update count: any value */
            RECSYS_TRY(check_zn(&c, who));
        }
    }
    recsys__linear *lm = NULL;
    RECSYS_TRY(recsys__linear_new(m, &p, &lm));
    lm->updates = updates;
    c.at = zat;
    get_zn(&c, lm->z, lm->n);
    if (version > 1) { /* a version 1 form has no heads: they stay untrained */
        c.at += 8;
        for (size_t k = 0; k < RECSYS__NOBJ; k++) {
            lm->hupdates[k] = get64(&c);
            get_zn(&c, lm->hz[k], lm->hn[k]);
        }
    }
    *out = lm;
    return RECSYS_OK;
}

/* ------------------------------------------------------------ the ranker */

static recsys_status linear_score(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    recsys__linear *lm = ctx;
    if (!lm || !q || !c)
        return recsys__err(RECSYS_E_INVALID_ARG, "linear: model, query or candidates is NULL");
    size_t n = c->n, scratch = 0;
    if (n == 0)
        return RECSYS_OK;
    RECSYS_TRY(recsys__features_scratch(q, c, &scratch));
    const size_t al = alignof(max_align_t);
    if (scratch > SIZE_MAX / 2 || n > (SIZE_MAX / 2 - al) / (RECSYS__NFEAT * sizeof(float)))
        return recsys__err(RECSYS_E_NOMEM, "linear: rows of %zu candidates overflow", n);
    size_t rows = (n * RECSYS__NFEAT * sizeof(float) + al - 1) / al * al;
    const recsys__mem *m = c->mem ? c->mem : q->model->mem;
    unsigned char *block = recsys__alloc(m, rows + scratch);
    if (!block)
        return RECSYS_E_NOMEM;
    float *x = (float *)block;
    recsys_status st = recsys__features_compute_in(q, c, x, block + rows, scratch);
    double bw[1 + RECSYS__NOBJ];
    bool blend = q->opt && recsys__linear_blend(q->opt, bw);
    if (st == RECSYS_OK && !blend) {
        double w[RECSYS__LINEAR_DIM], in[RECSYS__LINEAR_DIM];
        recsys__linear_weights(lm, w);
        for (size_t i = 0; i < n; i++) {
            expand(x + i * RECSYS__NFEAT, in);
            double merged = c->v[i].score;
            c->v[i].score = sigmoid(margin(w, in)) +
                            (isfinite(merged) ? RECSYS__LINEAR_TIEBREAK * merged : 0);
        }
    } else if (st == RECSYS_OK) { /* multi-objective: the weighted sum of the predictions */
        double w[1 + RECSYS__NOBJ][RECSYS__LINEAR_DIM], in[RECSYS__LINEAR_DIM];
        rd(lm);
        for (int k = 0; k <= RECSYS__NOBJ; k++)
            if (bw[k] != 0)
                weights_of(lm, k - 1, w[k]);
        unlock(lm);
        for (size_t i = 0; i < n; i++) {
            expand(x + i * RECSYS__NFEAT, in);
            double s = 0, merged = c->v[i].score;
            for (int k = 0; k <= RECSYS__NOBJ; k++)
                if (bw[k] != 0)
                    s += bw[k] * sigmoid(margin(w[k], in));
            c->v[i].score = s + (isfinite(merged) ? RECSYS__LINEAR_TIEBREAK * merged : 0);
        }
    }
    recsys__free(m, block);
    return st;
}

recsys_status recsys__ranker_linear(const recsys__mem *m, recsys__linear *model,
                                    recsys_ranker_vtable *out)
{
    RECSYS_UNUSED(m);
    if (!out || !model)
        return recsys__err(RECSYS_E_INVALID_ARG, "linear ranker: vtable or model is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->ctx = model;
    out->score = linear_score;
    return RECSYS_OK;
}
