/* ials.c - implicit ALS training, fold-in and the "ials" source (see ials.h). */
#include "ials.h"
#include "topk.h"
#include "../core/error.h"
#include "../core/options.h"
#include "../model/derived.h"

#define IALS_MAX_FACTORS 1024
#define IALS_MAX_THREADS 256
/* Rows a worker takes from the shared counter at a time. */
#define SOLVE_UNIT_ROWS 8
/* Gramian: at most this many partial sums (fixed by the matrix size, never by the thread
 * count), each of at least GRAM_MIN_CHUNK rows, together at most GRAM_PARTIAL_BYTES. */
#define GRAM_MAX_CHUNKS 32
#define GRAM_MIN_CHUNK 256
#define GRAM_PARTIAL_BYTES ((size_t)32 << 20)
/* Rows added in float before they are flushed into a chunk's double partial sum. */
#define GRAM_FLUSH_ROWS 64

typedef struct ials_state {
    size_t nitems, nusers, k;
    double reg;
    double alpha;   /* training alpha; < 0 for an imported state (the request's is used) */
    float *items;   /* nitems x k */
    float *users;   /* nusers x k, NULL when imported */
    double *gram;   /* k x k: Y^T Y + reg I of the final item factors */
    uint8_t *has;   /* nitems: the item has a factor */
} ials_state;

/* ------------------------------------------------------------------ small kernels */
/* Plain C, written in blocks of 8 so that the compiler's vectoriser handles them at -O2
 * (a loop of constant trip count 8 over restrict pointers), with a scalar tail. */

static float dot(const float *restrict a, const float *restrict b, size_t k)
{
    float acc[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    size_t i = 0;
    for (; i + 8 <= k; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += a[i + l] * b[i + l];
    float tail = 0;
    for (; i < k; i++)
        tail += a[i] * b[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) +
           tail;
}

/* y += a * x */
static void axpy(float *restrict y, const float *restrict x, float a, size_t k)
{
    size_t i = 0;
    for (; i + 8 <= k; i += 8)
        for (int l = 0; l < 8; l++)
            y[i + l] += a * x[i + l];
    for (; i < k; i++)
        y[i] += a * x[i];
}

/* out = G v for a k x k row-major G */
static void matvec(const float *restrict g, const float *restrict v, float *restrict out,
                   size_t k)
{
    for (size_t a = 0; a < k; a++)
        out[a] = dot(g + a * k, v, k);
}

/* In-place Cholesky of the lower triangle of a k x k row-major SPD matrix. */
static bool chol(double *a, size_t k)
{
    for (size_t j = 0; j < k; j++) {
        double *rj = a + j * k;
        double d = rj[j];
        for (size_t l = 0; l < j; l++)
            d -= rj[l] * rj[l];
        if (!(d > 0) || !isfinite(d))
            return false;
        d = sqrt(d);
        rj[j] = d;
        for (size_t i = j + 1; i < k; i++) {
            double *ri = a + i * k;
            double s = ri[j];
            for (size_t l = 0; l < j; l++)
                s -= ri[l] * rj[l];
            ri[j] = s / d;
        }
    }
    return true;
}

/* Solves L L^T x = b in place (b becomes x) with the factor from chol(). */
static void chol_solve(const double *l, double *b, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        double s = b[i];
        for (size_t j = 0; j < i; j++)
            s -= l[i * k + j] * b[j];
        b[i] = s / l[i * k + i];
    }
    for (size_t i = k; i-- > 0;) {
        double s = b[i];
        for (size_t j = i + 1; j < k; j++)
            s -= l[j * k + i] * b[j];
        b[i] = s / l[i * k + i];
    }
}

/* Solves (base + sum_j c_j' y_j y_j^T) x = sum_j (1 + c_j') y_j in double, with
 * c_j' = alpha * val[j] and y_j row idx[j] of y; base is a k x k matrix given in double
 * (based) or float (basef). a (k x k) and b (k) are scratch. When the matrix is not positive
 * definite (reg 0 with too few items), a growing ridge is added until it is. Writes x to
 * out. */
static void solve_exact(const double *based, const float *basef, const float *y,
                        const uint32_t *idx, const float *val, size_t n, double alpha,
                        size_t k, double *a, double *b, float *out)
{
    double ridge = 0, tr = 0;
    for (size_t i = 0; i < k; i++)
        tr += fabs(based ? based[i * k + i] : (double)basef[i * k + i]);
    for (int attempt = 0; attempt < 40; attempt++) {
        for (size_t i = 0; i < k * k; i++)
            a[i] = based ? based[i] : (double)basef[i];
        for (size_t i = 0; i < k; i++) {
            a[i * k + i] += ridge;
            b[i] = 0;
        }
        for (size_t j = 0; j < n; j++) {
            const float *yj = y + (size_t)idx[j] * k;
            double w = alpha * val[j];
            for (size_t r = 0; r < k; r++) {
                double wr = w * yj[r];
                b[r] += (1.0 + w) * yj[r];
                double *ar = a + r * k;
                for (size_t c = 0; c <= r; c++)
                    ar[c] += wr * yj[c];
            }
        }
        if (chol(a, k)) {
            chol_solve(a, b, k);
            for (size_t i = 0; i < k; i++)
                out[i] = isfinite(b[i]) ? (float)b[i] : 0.0f;
            return;
        }
        ridge = ridge > 0 ? ridge * 10 : (tr > 0 ? tr / (double)k * 1e-6 : 1e-6);
    }
    memset(out, 0, k * sizeof *out); /* non-finite input: nothing sensible to solve */
}

/* ------------------------------------------------------------------ training */

typedef enum phase_kind { PHASE_GRAM, PHASE_SOLVE } phase_kind;

typedef struct trainer {
    size_t k;
    float alpha;
    int cg_steps;
    /* per-thread scratch */
    float *scratch;          /* sstride floats per thread (CG vectors: 3k) */
    size_t sstride;          /* padded so that no two threads share a cache line */
    float *gscratch;         /* gstride floats per Gramian thread (<= gram_max_chunks(k)) */
    size_t gstride;
    double *dscratch;        /* dstride doubles per thread (exact solves only) */
    size_t dstride;
    /* the current phase */
    phase_kind kind;
    size_t nunits;
    /* the shared counter on a cache line of its own (the fields around it are read by
     * every thread all the time) */
    _Alignas(64) atomic_size_t next;
    char pad[64 - sizeof(atomic_size_t)];
    /* PHASE_GRAM: partial sums of F^T F over fixed chunks of rows */
    const float *f;
    size_t frows, chunk;
    double *partials;        /* one k x k sum per chunk */
    /* PHASE_SOLVE: rows of x given the other side y and g = Y^T Y + reg I */
    const size_t *ptr;
    const uint32_t *idx;
    const float *val;
    size_t nrows;
    float *x;
    const float *y;
    const float *g;
} trainer;

static void gram_unit(trainer *t, int tid, size_t unit)
{
    size_t k = t->k, kk = k * k;
    float *acc = t->gscratch + (size_t)tid * t->gstride;
    double *part = t->partials + unit * kk;
    size_t lo = unit * t->chunk, hi = RECSYS_MIN(t->frows, lo + t->chunk);
    memset(part, 0, kk * sizeof *part);
    for (size_t r0 = lo; r0 < hi; r0 += GRAM_FLUSH_ROWS) {
        size_t r1 = RECSYS_MIN(hi, r0 + GRAM_FLUSH_ROWS);
        memset(acc, 0, kk * sizeof *acc);
        for (size_t r = r0; r < r1; r++) {
            const float *v = t->f + r * k;
            for (size_t a = 0; a < k; a++)
                if (v[a] != 0)
                    axpy(acc + a * k, v, v[a], k);
        }
        for (size_t i = 0; i < kk; i++)
            part[i] += acc[i];
    }
}

/* CG on one row, warm-started from x (see ials.h). */
static void cg_row(const trainer *t, float *restrict x, const uint32_t *idx, const float *val,
                   size_t n, float *restrict r, float *restrict p, float *restrict ap)
{
    size_t k = t->k;
    const float *y = t->y;
    float alpha = t->alpha;
    /* r = b - A x = sum_j y_j (c_j - (c_j - 1) y_j.x) - G x */
    matvec(t->g, x, ap, k);
    for (size_t i = 0; i < k; i++)
        r[i] = -ap[i];
    for (size_t j = 0; j < n; j++) {
        const float *yj = y + (size_t)idx[j] * k;
        float c1 = alpha * val[j];
        axpy(r, yj, 1.0f + c1 - c1 * dot(yj, x, k), k);
    }
    memcpy(p, r, k * sizeof *p);
    float rs = dot(r, r, k);
    for (int s = 0; s < t->cg_steps; s++) {
        if (!(rs > 1e-20f))
            break;
        matvec(t->g, p, ap, k);
        for (size_t j = 0; j < n; j++) {
            const float *yj = y + (size_t)idx[j] * k;
            axpy(ap, yj, alpha * val[j] * dot(yj, p, k), k);
        }
        float pap = dot(p, ap, k);
        if (!(pap > 0))
            break;
        float a = rs / pap;
        axpy(x, p, a, k);
        axpy(r, ap, -a, k);
        float rs_new = dot(r, r, k);
        float beta = rs_new / rs;
        for (size_t i = 0; i < k; i++)
            p[i] = r[i] + beta * p[i];
        rs = rs_new;
    }
}

static void solve_unit(trainer *t, int tid, size_t unit)
{
    size_t k = t->k;
    size_t lo = unit * SOLVE_UNIT_ROWS, hi = RECSYS_MIN(t->nrows, lo + SOLVE_UNIT_ROWS);
    float *sc = t->scratch + (size_t)tid * t->sstride;
    for (size_t row = lo; row < hi; row++) {
        float *x = t->x + row * k;
        size_t b = t->ptr[row], e = t->ptr[row + 1];
        if (b == e) {
            memset(x, 0, k * sizeof *x);
            continue;
        }
        if (t->cg_steps > 0) {
            cg_row(t, x, t->idx + b, t->val + b, e - b, sc, sc + k, sc + 2 * k);
        } else {
            double *a = t->dscratch + (size_t)tid * t->dstride;
            solve_exact(NULL, t->g, t->y, t->idx + b, t->val + b, e - b, t->alpha, k, a,
                        a + k * k, x);
        }
    }
}

static void work(trainer *t, int tid)
{
    for (;;) {
        size_t u = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (u >= t->nunits)
            return;
        if (t->kind == PHASE_GRAM)
            gram_unit(t, tid, u);
        else
            solve_unit(t, tid, u);
    }
}

typedef struct helper {
    trainer *t;
    int tid;
} helper;

static void *helper_main(void *arg)
{
    helper *h = arg;
    work(h->t, h->tid);
    return NULL;
}

/* Runs the current phase on up to nthreads threads (the caller is thread 0). A helper that
 * cannot be started is simply missing: the others take its units. */
static void run_phase(trainer *t, int nthreads)
{
    pthread_t th[IALS_MAX_THREADS];
    helper hs[IALS_MAX_THREADS];
    atomic_store(&t->next, 0);
    int want = nthreads;
    if ((size_t)want > t->nunits)
        want = t->nunits ? (int)t->nunits : 1;
    int started = 0;
    for (int i = 1; i < want; i++) {
        hs[i] = (helper){ t, i };
        if (pthread_create(&th[i], NULL, helper_main, &hs[i]) != 0)
            break;
        started = i;
    }
    work(t, 0);
    for (int i = 1; i <= started; i++)
        pthread_join(th[i], NULL);
}

/* How many partial sums the Gramian of k factors may use (a function of k only). */
static size_t gram_max_chunks(size_t k)
{
    size_t fit = GRAM_PARTIAL_BYTES / (k * k * sizeof(double));
    return RECSYS_MAX((size_t)1, RECSYS_MIN(fit, (size_t)GRAM_MAX_CHUNKS));
}

/* g (k x k float) = F^T F + reg I; gd (optional, double) the same in double. */
static void gramian(trainer *t, int nthreads, const float *f, size_t rows, double reg,
                    float *g, double *gd)
{
    size_t k = t->k, kk = k * k;
    size_t nchunks = (rows + GRAM_MIN_CHUNK - 1) / GRAM_MIN_CHUNK;
    nchunks = RECSYS_MAX((size_t)1, RECSYS_MIN(nchunks, gram_max_chunks(k)));
    t->kind = PHASE_GRAM;
    t->f = f;
    t->frows = rows;
    t->chunk = (rows + nchunks - 1) / nchunks;
    t->nunits = rows ? (rows + t->chunk - 1) / t->chunk : 0;
    run_phase(t, nthreads);
    for (size_t i = 0; i < kk; i++) {
        double s = 0;
        for (size_t c = 0; c < t->nunits; c++)
            s += t->partials[c * kk + i];
        if (i % (k + 1) == 0)
            s += reg;
        g[i] = (float)s;
        if (gd)
            gd[i] = s;
    }
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Rows with observations get uniform values in +-scale keyed by (seed, side, row); the
 * others zero. */
static void init_factors(float *v, size_t rows, size_t k, const size_t *ptr, uint64_t seed,
                         uint64_t side)
{
    double scale = RECSYS__IALS_INIT_SCALE / sqrt((double)k);
    for (size_t r = 0; r < rows; r++) {
        float *x = v + r * k;
        if (ptr[r] == ptr[r + 1]) {
            memset(x, 0, k * sizeof *x);
            continue;
        }
        uint64_t s = seed ^ (side * UINT64_C(0xD1B54A32D192ED03)) ^
                     ((uint64_t)r * UINT64_C(0x8CB92BA72F3D8DD7));
        splitmix64(&s);
        for (size_t i = 0; i < k; i++) {
            double u = (double)(splitmix64(&s) >> 11) * 0x1.0p-53; /* [0, 1) */
            x[i] = (float)((2.0 * u - 1.0) * scale);
        }
    }
}

/* n floats rounded up to whole cache lines, plus one line of gap */
static size_t pad_floats(size_t n)
{
    return (n + 15) / 16 * 16 + 16;
}

static void state_free(const recsys__mem *m, ials_state *s)
{
    if (!s)
        return;
    recsys__free(m, s->items);
    recsys__free(m, s->users);
    recsys__free(m, s->gram);
    recsys__free(m, s->has);
    recsys__free(m, s);
}

void recsys__ials_free(const recsys__mem *m, void *state)
{
    state_free(m, state);
}

static recsys_status check_params(const recsys__ials_params *p)
{
    if (p->factors < 1 || p->factors > IALS_MAX_FACTORS)
        return recsys__err(RECSYS_E_INVALID_ARG, "factors %zu out of range (1..%d)", p->factors,
                           IALS_MAX_FACTORS);
    if (p->iterations < 1)
        return recsys__err(RECSYS_E_INVALID_ARG, "iterations %d below minimum 1", p->iterations);
    if (!(p->reg >= 0) || !isfinite(p->reg))
        return recsys__err(RECSYS_E_INVALID_ARG, "reg %g is not a finite value >= 0", p->reg);
    if (!(p->alpha >= 0) || !isfinite(p->alpha))
        return recsys__err(RECSYS_E_INVALID_ARG, "alpha %g is not a finite value >= 0",
                           p->alpha);
    if (p->threads < 1 || p->threads > IALS_MAX_THREADS)
        return recsys__err(RECSYS_E_INVALID_ARG, "threads %d out of range (1..%d)", p->threads,
                           IALS_MAX_THREADS);
    if (p->cg_steps < 0)
        return recsys__err(RECSYS_E_INVALID_ARG, "cg_steps %d below minimum 0", p->cg_steps);
    return RECSYS_OK;
}

recsys_status recsys__ials_train(const recsys__mem *m, const recsys__interactions *x,
                                 const recsys__ials_params *p, void **out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "ials_train: out is NULL");
    *out = NULL;
    if (!m || !x || !p)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "ials_train: allocator, matrix or parameters is NULL");
    RECSYS_TRY(check_params(p));
    if (x->nnz == 0)
        return RECSYS_OK;
    size_t k = p->factors, kk = k * k;
    size_t nu = x->nusers, ni = x->nitems;
    int nthreads = p->threads;

    ials_state *s = recsys__calloc(m, 1, sizeof *s);
    if (!s)
        return RECSYS_E_NOMEM;
    s->k = k;
    s->nitems = ni;
    s->nusers = nu;
    s->reg = p->reg;
    s->alpha = p->alpha;
    trainer t;
    memset(&t, 0, sizeof t);
    t.k = k;
    t.alpha = (float)p->alpha;
    t.cg_steps = p->cg_steps;
    t.dstride = p->cg_steps == 0 ? kk + k : 0;
    s->items = recsys__calloc(m, ni ? ni : 1, k * sizeof(float));
    s->users = recsys__calloc(m, nu ? nu : 1, k * sizeof(float));
    s->gram = recsys__calloc(m, kk, sizeof(double));
    s->has = recsys__calloc(m, ni ? ni : 1, 1);
    float *g = recsys__calloc(m, kk, sizeof(float)); /* Gramian + reg I of the other side */
    t.partials = recsys__calloc(m, gram_max_chunks(k), kk * sizeof(double));
    t.sstride = pad_floats(3 * k);
    t.gstride = pad_floats(kk);
    t.scratch = recsys__calloc(m, (size_t)nthreads, t.sstride * sizeof(float));
    /* the Gramian phase never runs more threads than it has chunks */
    t.gscratch = recsys__calloc(m, RECSYS_MIN((size_t)nthreads, gram_max_chunks(k)),
                                t.gstride * sizeof(float));
    if (t.dstride)
        t.dscratch = recsys__calloc(m, (size_t)nthreads, t.dstride * sizeof(double));
    if (!s->items || !s->users || !s->gram || !s->has || !g || !t.partials || !t.scratch ||
        !t.gscratch || (t.dstride && !t.dscratch)) {
        recsys__free(m, g);
        recsys__free(m, t.partials);
        recsys__free(m, t.scratch);
        recsys__free(m, t.gscratch);
        recsys__free(m, t.dscratch);
        state_free(m, s);
        return RECSYS_E_NOMEM;
    }
    for (size_t i = 0; i < ni; i++)
        s->has[i] = x->col_ptr[i + 1] > x->col_ptr[i];
    init_factors(s->users, nu, k, x->row_ptr, p->seed, 1);
    init_factors(s->items, ni, k, x->col_ptr, p->seed, 2);

    for (int it = 0; it < p->iterations; it++) {
        /* users given items */
        gramian(&t, nthreads, s->items, ni, p->reg, g, NULL);
        t.kind = PHASE_SOLVE;
        t.ptr = x->row_ptr;
        t.idx = x->col;
        t.val = x->val;
        t.nrows = nu;
        t.x = s->users;
        t.y = s->items;
        t.g = g;
        t.nunits = (nu + SOLVE_UNIT_ROWS - 1) / SOLVE_UNIT_ROWS;
        run_phase(&t, nthreads);
        /* items given users */
        gramian(&t, nthreads, s->users, nu, p->reg, g, NULL);
        t.kind = PHASE_SOLVE;
        t.ptr = x->col_ptr;
        t.idx = x->row;
        t.val = x->tval;
        t.nrows = ni;
        t.x = s->items;
        t.y = s->users;
        t.g = g;
        t.nunits = (ni + SOLVE_UNIT_ROWS - 1) / SOLVE_UNIT_ROWS;
        run_phase(&t, nthreads);
        if (p->progress)
            fprintf(stderr, "ials: sweep %d/%d\n", it + 1, p->iterations);
    }
    /* the Gramian of the final item factors, kept for fold-in */
    gramian(&t, nthreads, s->items, ni, p->reg, g, s->gram);
    recsys__free(m, g);
    recsys__free(m, t.partials);
    recsys__free(m, t.scratch);
    recsys__free(m, t.gscratch);
    recsys__free(m, t.dscratch);
    *out = s;
    return RECSYS_OK;
}

/* ------------------------------------------------------------------ import and views */

recsys_status recsys__ials_import(const recsys__mem *m, const float *item_factors,
                                  size_t nitems, size_t k, double reg, void **out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "ials import: out is NULL");
    *out = NULL;
    if (!m || (!item_factors && nitems))
        return recsys__err(RECSYS_E_INVALID_ARG, "ials import: allocator or factors is NULL");
    if (k < 1 || k > IALS_MAX_FACTORS)
        return recsys__err(RECSYS_E_INVALID_ARG, "ials import: %zu factors out of range (1..%d)",
                           k, IALS_MAX_FACTORS);
    if (!(reg >= 0) || !isfinite(reg))
        return recsys__err(RECSYS_E_INVALID_ARG, "ials import: reg %g is not a finite value >= 0",
                           reg);
    if (nitems > UINT32_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "ials import: %zu items exceed the index range",
                           nitems);
    for (size_t i = 0; i < nitems * k; i++)
        if (!isfinite(item_factors[i]))
            return recsys__err(RECSYS_E_INVALID_ARG,
                               "ials import: factor %zu of item %zu is not finite", i % k, i / k);
    ials_state *s = recsys__calloc(m, 1, sizeof *s);
    if (!s)
        return RECSYS_E_NOMEM;
    s->k = k;
    s->nitems = nitems;
    s->reg = reg;
    s->alpha = -1;
    s->items = recsys__calloc(m, nitems ? nitems : 1, k * sizeof(float));
    s->gram = recsys__calloc(m, k * k, sizeof(double));
    s->has = recsys__calloc(m, nitems ? nitems : 1, 1);
    if (!s->items || !s->gram || !s->has) {
        state_free(m, s);
        return RECSYS_E_NOMEM;
    }
    if (nitems)
        memcpy(s->items, item_factors, nitems * k * sizeof(float));
    /* Y^T Y in double, summed in row order (an import is done once, on one thread) */
    for (size_t i = 0; i < nitems; i++) {
        const float *y = s->items + i * k;
        for (size_t a = 0; a < k; a++) {
            if (y[a] != 0)
                s->has[i] = 1;
            for (size_t b = 0; b <= a; b++)
                s->gram[a * k + b] += (double)y[a] * y[b];
        }
    }
    for (size_t a = 0; a < k; a++) {
        for (size_t b = 0; b < a; b++)
            s->gram[b * k + a] = s->gram[a * k + b];
        s->gram[a * k + a] += reg;
    }
    *out = s;
    return RECSYS_OK;
}

recsys_status recsys__ials_item_factors(const void *state, const float **v, size_t *nitems,
                                        size_t *k)
{
    if (!state || !v || !nitems || !k)
        return recsys__err(RECSYS_E_INVALID_ARG, "ials_item_factors: NULL argument");
    const ials_state *s = state;
    *v = s->items;
    *nitems = s->nitems;
    *k = s->k;
    return RECSYS_OK;
}

recsys_status recsys__ials_user_factors(const void *state, const float **v, size_t *nusers,
                                        size_t *k)
{
    if (!state || !v || !nusers || !k)
        return recsys__err(RECSYS_E_INVALID_ARG, "ials_user_factors: NULL argument");
    const ials_state *s = state;
    *v = s->users;
    *nusers = s->users ? s->nusers : 0;
    *k = s->k;
    return RECSYS_OK;
}

/* ------------------------------------------------------------------ fold-in */

recsys_status recsys__ials_fold_in(const void *state, const recsys__mem *m,
                                   const uint32_t *items, const float *w, size_t n,
                                   double alpha, float *out, size_t *used)
{
    if (used)
        *used = 0;
    if (!state || !m || !out || (n && (!items || !w)))
        return recsys__err(RECSYS_E_INVALID_ARG, "ials_fold_in: NULL argument");
    const ials_state *s = state;
    size_t k = s->k;
    if (alpha < 0)
        alpha = s->alpha;
    if (!(alpha >= 0) || !isfinite(alpha))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "ials_fold_in: no confidence scale (alpha %g) for this state", alpha);
    memset(out, 0, k * sizeof *out);
    size_t nu = 0;
    for (size_t j = 0; j < n; j++)
        if (items[j] < s->nitems && s->has[items[j]] && w[j] > 0 && isfinite(w[j]))
            nu++;
    if (nu == 0)
        return RECSYS_OK;
    uint32_t *idx = recsys__alloc(m, nu * sizeof *idx);
    float *val = idx ? recsys__alloc(m, nu * sizeof *val) : NULL;
    double *a = val ? recsys__alloc(m, (k * k + k) * sizeof *a) : NULL;
    if (!a) {
        recsys__free(m, idx);
        recsys__free(m, val);
        return RECSYS_E_NOMEM;
    }
    nu = 0;
    for (size_t j = 0; j < n; j++)
        if (items[j] < s->nitems && s->has[items[j]] && w[j] > 0 && isfinite(w[j])) {
            idx[nu] = items[j];
            val[nu++] = w[j];
        }
    solve_exact(s->gram, NULL, s->items, idx, val, nu, alpha, k, a, a + k * k, out);
    recsys__free(m, idx);
    recsys__free(m, val);
    recsys__free(m, a);
    if (used)
        *used = nu;
    return RECSYS_OK;
}

/* ------------------------------------------------------------------ the source */


static recsys_status ials_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    RECSYS_UNUSED(ctx);
    if (!q || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "ials: query or candidate set is NULL");
    const ials_state *s = q->derived ? q->derived->state[RECSYS__DERIVED_IALS] : NULL;
    if (!s || q->limit == 0 || (!q->user && q->anchor == RECSYS_IDS_NONE))
        return RECSYS_OK;
    const recsys__catalog *c = &q->model->catalog;
    const recsys__mem *m = out->mem ? out->mem : c->mem;
    size_t k = s->k;
    uint32_t *pos = NULL;
    float *pw = NULL;
    size_t npos = 0, used = 0;
    float *u = NULL;
    recsys__topk top = { 0 };
    recsys_status st = recsys__query_positives(m, q, &pos, &pw, &npos);
    if (st != RECSYS_OK)
        goto done;
    if (!(u = recsys__alloc(m, k * sizeof *u))) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    double alpha = s->alpha >= 0 ? s->alpha : recsys__query_opt(q, RECSYS_OPT_IALS_ALPHA);
    if ((st = recsys__ials_fold_in(s, m, pos, pw, npos, alpha, u, &used)) != RECSYS_OK ||
        used == 0)
        goto done;
    size_t n = RECSYS_MIN(s->nitems, c->ids.n);
    if ((st = recsys__topk_init(&top, m, RECSYS_MIN(q->limit, n))) != RECSYS_OK)
        goto done;
    size_t pi = 0;
    for (uint32_t i = 0; i < n; i++) {
        while (pi < npos && pos[pi] < i)
            pi++;
        if (!s->has[i] || (pi < npos && pos[pi] == i) || !recsys__catalog_get(c, i) ||
            recsys__query_excluded(q, i))
            continue;
        double v = dot(s->items + (size_t)i * k, u, k);
        if (isfinite(v))
            recsys__topk_offer(&top, i, v);
    }
    st = recsys__topk_emit(&top, out);
done:
    recsys__free(m, pos);
    recsys__free(m, pw);
    recsys__free(m, u);
    recsys__topk_free(&top);
    return st;
}

recsys_status recsys__source_ials(const recsys__mem *m, recsys_source_vtable *out)
{
    RECSYS_UNUSED(m);
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "ials: vtable is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->retrieve = ials_retrieve;
    return RECSYS_OK;
}

/* ------------------------------------------------------------------ refresh builder */

static int train_threads(const double *opt)
{
    double v = opt[recsys__opt_slot(RECSYS_OPT_TRAIN_THREADS)];
    long n = v >= 1 ? (long)v : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return (int)RECSYS_MIN(n, (long)IALS_MAX_THREADS);
}

static recsys_status ials_build_state(const recsys__build_ctx *c, void **out)
{
    *out = NULL;
    recsys__ials_params p = {
        .factors = (size_t)c->opt[recsys__opt_slot(RECSYS_OPT_IALS_FACTORS)],
        .iterations = (int)c->opt[recsys__opt_slot(RECSYS_OPT_IALS_ITERATIONS)],
        .reg = c->opt[recsys__opt_slot(RECSYS_OPT_IALS_REG)],
        .alpha = c->opt[recsys__opt_slot(RECSYS_OPT_IALS_ALPHA)],
        .threads = train_threads(c->opt),
        .cg_steps = RECSYS__IALS_CG_STEPS,
        .seed = c->seed,
        .progress = c->progress,
    };
    const recsys__factors *imp = c->model->ials_import;
    if (imp) { /* the host's factors, by id, over today's catalog; items without one get 0s */
        const recsys__catalog *cat = &c->model->catalog;
        size_t n = cat->ids.n;
        float *v = recsys__calloc(c->mem, n ? n * imp->k : 1, sizeof *v);
        if (!v)
            return RECSYS_E_NOMEM;
        for (size_t i = 0; i < imp->n; i++) {
            uint32_t idx = recsys__catalog_find(cat, imp->ids[i]);
            if (idx != RECSYS_IDS_NONE && recsys__catalog_get(cat, idx))
                memcpy(v + (size_t)idx * imp->k, imp->v + i * imp->k, imp->k * sizeof *v);
        }
        recsys_status st = recsys__ials_import(c->mem, v, n, imp->k, p.reg, out);
        recsys__free(c->mem, v);
        return st;
    }
    recsys__interactions x;
    RECSYS_TRY(recsys__interactions_build(c->mem, c->model, &x));
    recsys_status st = recsys__ials_train(c->mem, &x, &p, out);
    recsys__interactions_free(c->mem, &x);
    return st;
}

static void ials_free_state(const recsys__mem *m, void *state)
{
    state_free(m, state);
}

const recsys__builder recsys__ials_builder = {
    RECSYS__DERIVED_IALS, { "ials" }, ials_build_state, ials_free_state, true,
};
