/* ease.c - EASE training and the "ease" source (see ease.h). */
#include "ease.h"
#include "topk.h"
#include "../core/error.h"
#include "../core/options.h"
#include "../model/derived.h"

/* LAPACK (Fortran calling convention; Debian's OpenBLAS ships no LAPACKE). The trailing
 * length of the character argument is passed explicitly, as gfortran expects; a C
 * implementation ignores it. */
extern void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info,
                    size_t uplo_len);
extern void spotri_(const char *uplo, const int *n, float *a, const int *lda, int *info,
                    size_t uplo_len);

#define NONE UINT32_MAX
#define TILE 64
/* Smallest pivot^2 / max(diag G) accepted from the factorisation (see below). */
#define PIVOT_MIN 1e-6f

typedef struct ease_state {
    size_t nitems;  /* catalog slots when built */
    size_t n;       /* items that take part */
    uint32_t *slot; /* nitems: catalog index -> row of b, NONE when not taking part */
    uint32_t *item; /* n: row -> catalog index (ascending) */
    float *b;       /* n x n row-major: b[r * n + c] = B between items item[r] and item[c] */
} ease_state;

static void state_free(const recsys__mem *m, ease_state *s)
{
    if (!s)
        return;
    recsys__free(m, s->slot);
    recsys__free(m, s->item);
    recsys__free(m, s->b);
    recsys__free(m, s);
}

void recsys__ease_free(const recsys__mem *m, void *state)
{
    state_free(m, state);
}

float recsys__ease_weight(const void *state, uint32_t i, uint32_t j)
{
    const ease_state *s = state;
    if (!s || i >= s->nitems || j >= s->nitems || s->slot[i] == NONE || s->slot[j] == NONE)
        return 0.0f;
    return s->b[(size_t)s->slot[i] * s->n + s->slot[j]];
}

size_t recsys__ease_items(const void *state)
{
    const ease_state *s = state;
    return s ? s->n : 0;
}

/* Copies the upper triangle of the n x n row-major a onto its lower triangle, tile by tile
 * (a plain loop would read a column per row and miss the cache on large n). */
static void symmetrize_upper(float *a, size_t n)
{
    for (size_t i0 = 0; i0 < n; i0 += TILE)
        for (size_t j0 = i0; j0 < n; j0 += TILE) {
            size_t i1 = RECSYS_MIN(n, i0 + TILE), j1 = RECSYS_MIN(n, j0 + TILE);
            for (size_t i = i0; i < i1; i++)
                for (size_t j = RECSYS_MAX(j0, i + 1); j < j1; j++)
                    a[j * n + i] = a[i * n + j];
        }
}

recsys_status recsys__ease_train(const recsys__mem *m, const recsys__interactions *x,
                                 double lambda, size_t max_items, bool progress, void **out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "ease_train: out is NULL");
    *out = NULL;
    if (!m || !x)
        return recsys__err(RECSYS_E_INVALID_ARG, "ease_train: allocator or matrix is NULL");
    if (!(lambda >= 0) || !isfinite(lambda))
        return recsys__err(RECSYS_E_INVALID_ARG, "lambda %g is not a finite value >= 0", lambda);
    if (x->nnz == 0)
        return RECSYS_OK;
    size_t n = 0;
    for (size_t i = 0; i < x->nitems; i++)
        n += x->col_ptr[i + 1] > x->col_ptr[i];
    double bytes = (double)n * (double)n * sizeof(float);
    if (n > max_items)
        return recsys__err(RECSYS_E_UNSUPPORTED,
                           "%zu items with interactions exceed the limit of %zu "
                           "(retrieve.ease_max_items): the weight matrix would take %.1f MiB "
                           "(items^2 floats); raise the limit or disable the source",
                           n, max_items, bytes / 1048576.0);
    if (n > (size_t)INT_MAX || n > SIZE_MAX / n / sizeof(float))
        return recsys__err(RECSYS_E_UNSUPPORTED, "%zu items with interactions are too many",
                           n);
    ease_state *s = recsys__calloc(m, 1, sizeof *s);
    if (!s)
        return RECSYS_E_NOMEM;
    s->nitems = x->nitems;
    s->n = n;
    s->slot = recsys__alloc(m, (x->nitems ? x->nitems : 1) * sizeof *s->slot);
    s->item = recsys__alloc(m, n * sizeof *s->item);
    float *diag = recsys__alloc(m, n * sizeof *diag);
    s->b = recsys__calloc(m, n * n, sizeof *s->b);
    if (!s->slot || !s->item || !diag || !s->b) {
        recsys__free(m, diag);
        state_free(m, s);
        return RECSYS_E_NOMEM;
    }
    size_t r = 0;
    for (size_t i = 0; i < x->nitems; i++) {
        if (x->col_ptr[i + 1] > x->col_ptr[i]) {
            s->slot[i] = (uint32_t)r;
            s->item[r++] = (uint32_t)i;
        } else {
            s->slot[i] = NONE;
        }
    }
    /* G = X^T X, upper triangle (row-major), one user's items at a time; slots ascend with
     * the items, so the pairs (a <= b) of a row land on or above the diagonal */
    float *g = s->b;
    for (size_t u = 0; u < x->nusers; u++) {
        size_t lo = x->row_ptr[u], hi = x->row_ptr[u + 1];
        for (size_t p = lo; p < hi; p++) {
            float wa = x->val[p];
            float *row = g + (size_t)s->slot[x->col[p]] * n;
            for (size_t q = p; q < hi; q++)
                row[s->slot[x->col[q]]] += wa * x->val[q];
        }
    }
    for (size_t i = 0; i < n; i++)
        g[i * n + i] += (float)lambda;
    if (progress)
        fprintf(stderr, "ease: inverting %zu x %zu (%.1f MiB)\n", n, n, bytes / 1048576.0);
    /* row-major upper = column-major lower */
    float gmax = 0;
    for (size_t i = 0; i < n; i++)
        gmax = RECSYS_MAX(gmax, g[i * n + i]);
    int in = (int)n, info = 0;
    spotrf_("L", &in, g, &in, &info, 1);
    /* In float an exactly singular G (lambda 0, dependent columns) usually leaves a pivot of
     * rounding noise rather than failing: treat a pivot^2 below PIVOT_MIN of the largest
     * diagonal entry as singular too. For lambda > 0 every pivot^2 is at least lambda. */
    for (size_t i = 0; info == 0 && i < n; i++) {
        float d = g[i * n + i];
        if (!(d * d >= PIVOT_MIN * gmax))
            info = (int)i + 1;
    }
    if (info == 0)
        spotri_("L", &in, g, &in, &info, 1);
    if (info != 0) {
        recsys__free(m, diag);
        state_free(m, s);
        if (info < 0)
            return recsys__err(RECSYS_E_INTERNAL, "LAPACK rejected argument %d", -info);
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "X^T X + lambda I is not positive definite (lambda %g, pivot %d): "
                           "set retrieve.ease_lambda above 0",
                           lambda, info);
    }
    symmetrize_upper(g, n);
    for (size_t c = 0; c < n; c++)
        diag[c] = g[c * n + c];
    for (size_t c = 0; c < n; c++)
        if (!(diag[c] > 0) || !isfinite(diag[c])) {
            recsys__free(m, diag);
            state_free(m, s);
            return recsys__err(RECSYS_E_INVALID_ARG,
                               "the inverse of X^T X + lambda I is not usable (lambda %g): "
                               "set retrieve.ease_lambda above 0", lambda);
        }
    for (size_t a = 0; a < n; a++) {
        float *row = g + a * n;
        for (size_t c = 0; c < n; c++)
            row[c] = -row[c] / diag[c];
        row[a] = 0.0f;
    }
    recsys__free(m, diag);
    *out = s;
    return RECSYS_OK;
}

/* ------------------------------------------------------------------ the source */


static recsys_status ease_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    RECSYS_UNUSED(ctx);
    if (!q || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "ease: query or candidate set is NULL");
    const ease_state *s = q->derived ? q->derived->state[RECSYS__DERIVED_EASE] : NULL;
    if (!s || q->limit == 0 || (!q->user && q->anchor == RECSYS_IDS_NONE))
        return RECSYS_OK;
    const recsys__catalog *c = &q->model->catalog;
    const recsys__mem *m = out->mem ? out->mem : c->mem;
    size_t n = s->n;
    uint32_t *pos = NULL;
    float *pw = NULL, *acc = NULL;
    size_t npos = 0;
    recsys__topk top = { 0 };
    recsys_status st = recsys__query_positives(m, q, &pos, &pw, &npos);
    if (st != RECSYS_OK)
        goto done;
    size_t used = 0;
    for (size_t j = 0; j < npos; j++)
        used += pos[j] < s->nitems && s->slot[pos[j]] != NONE;
    if (used == 0)
        goto done;
    if (!(acc = recsys__calloc(m, n, sizeof *acc))) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    for (size_t j = 0; j < npos; j++) {
        if (pos[j] >= s->nitems || s->slot[pos[j]] == NONE)
            continue;
        const float *row = s->b + (size_t)s->slot[pos[j]] * n;
        float w = pw[j];
        for (size_t i = 0; i < n; i++)
            acc[i] += w * row[i];
    }
    if ((st = recsys__topk_init(&top, m, RECSYS_MIN(q->limit, n))) != RECSYS_OK)
        goto done;
    size_t pi = 0;
    for (size_t r = 0; r < n; r++) {
        uint32_t it = s->item[r];
        while (pi < npos && pos[pi] < it)
            pi++;
        if ((pi < npos && pos[pi] == it) || !recsys__catalog_get(c, it) ||
            recsys__query_excluded(q, it) || !isfinite(acc[r]))
            continue;
        recsys__topk_offer(&top, it, acc[r]);
    }
    st = recsys__topk_emit(&top, out);
done:
    recsys__free(m, pos);
    recsys__free(m, pw);
    recsys__free(m, acc);
    recsys__topk_free(&top);
    return st;
}

recsys_status recsys__source_ease(const recsys__mem *m, recsys_source_vtable *out)
{
    RECSYS_UNUSED(m);
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "ease: vtable is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->retrieve = ease_retrieve;
    return RECSYS_OK;
}

/* ------------------------------------------------------------------ refresh builder */

static recsys_status ease_build_state(const recsys__build_ctx *c, void **out)
{
    *out = NULL;
    double lambda = c->opt[recsys__opt_slot(RECSYS_OPT_EASE_LAMBDA)];
    size_t max_items = (size_t)c->opt[recsys__opt_slot(RECSYS_OPT_EASE_MAX_ITEMS)];
    recsys__interactions x;
    RECSYS_TRY(recsys__interactions_build(c->mem, c->model, &x));
    recsys_status st = recsys__ease_train(c->mem, &x, lambda, max_items, c->progress, out);
    recsys__interactions_free(c->mem, &x);
    return st;
}

static void ease_free_state(const recsys__mem *m, void *state)
{
    state_free(m, state);
}

const recsys__builder recsys__ease_builder = {
    RECSYS__DERIVED_EASE, { "ease" }, ease_build_state, ease_free_state, true,
};
