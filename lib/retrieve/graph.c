/* graph.c - the rp3beta source and its builder (see graph.h). */
#include "graph.h"
#include "../core/error.h"
#include "../core/options.h"
#include "../model/derived.h"

typedef struct rp3_state {
    const recsys__catalog *cat; /* lives as long as the engine: removed items are skipped */
    double alpha;               /* of the build: the request raises the user's row to it */
    recsys__itemrows w;         /* row i = W[i][.], best first */
} rp3_state;

void recsys__rp3_free(const recsys__mem *m, void *state)
{
    rp3_state *s = state;
    if (!s)
        return;
    recsys__item2item_rows_free(m, &s->w);
    recsys__free(m, s);
}

static inline float powf_alpha(double v, double alpha)
{
    return (float)(alpha == 1.0 ? v : pow(v, alpha));
}

recsys_status recsys__rp3_build(const recsys__mem *m, const recsys__model *model, double alpha,
                                double beta, size_t k, int threads, void **out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "rp3beta: argument 'out' is NULL");
    *out = NULL;
    if (!m || !model)
        return recsys__err(RECSYS_E_INVALID_ARG, "rp3beta: allocator or model is NULL");
    if (k < 1 || !(alpha >= 0) || !(beta >= 0) || !isfinite(alpha) || !isfinite(beta))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "rp3beta: alpha %g, beta %g or k %zu out of range (alpha >= 0, "
                           "beta >= 0, k >= 1)", alpha, beta, k);
    recsys__interactions x;
    RECSYS_TRY(recsys__interactions_build(m, model, &x));
    if (x.nnz == 0) {
        recsys__interactions_free(m, &x);
        return RECSYS_OK;
    }
    recsys_status st = RECSYS_OK;
    rp3_state *s = recsys__calloc(m, 1, sizeof *s);
    float *a = recsys__realloc_array(m, NULL, x.nnz, sizeof *a);
    float *b = recsys__realloc_array(m, NULL, x.nnz, sizeof *b);
    double *scale = recsys__calloc(m, x.nitems, sizeof *scale);
    if (!s || !a || !b || !scale) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    s->cat = &model->catalog;
    s->alpha = alpha;
    /* P_ui^alpha along the rows */
    for (size_t u = 0; u < x.nusers; u++) {
        double sum = 0;
        for (size_t r = x.row_ptr[u]; r < x.row_ptr[u + 1]; r++)
            sum += x.val[r];
        for (size_t r = x.row_ptr[u]; r < x.row_ptr[u + 1]; r++)
            b[r] = powf_alpha(x.val[r] / sum, alpha);
    }
    /* P_iu^alpha along the columns, and the popularity penalty pop(j)^-beta */
    for (size_t i = 0; i < x.nitems; i++) {
        double sum = 0;
        for (size_t c = x.col_ptr[i]; c < x.col_ptr[i + 1]; c++)
            sum += x.tval[c];
        for (size_t c = x.col_ptr[i]; c < x.col_ptr[i + 1]; c++)
            a[c] = powf_alpha(x.tval[c] / sum, alpha);
        scale[i] = sum > 0 ? pow(sum, -beta) : 0.0;
    }
    recsys__i2i_spec spec = {
        .x = &x, .a = a, .b = b, .mode = RECSYS__I2I_SCALED, .scale = scale, .k = k,
        .l1 = RECSYS__RP3_NORMALIZE != 0, .threads = threads,
    };
    st = recsys__item2item_build(m, &spec, &s->w);
done:
    recsys__free(m, a);
    recsys__free(m, b);
    recsys__free(m, scale);
    recsys__interactions_free(m, &x);
    if (st != RECSYS_OK) {
        recsys__rp3_free(m, s);
        return st;
    }
    *out = s;
    return RECSYS_OK;
}

recsys_status recsys__rp3_similar(const void *state, uint32_t item, size_t k,
                                  uint32_t *out_items, float *out_scores, size_t *n)
{
    const rp3_state *s = state;
    return recsys__item2item_row(s ? &s->w : NULL, s ? s->cat : NULL, item, k, out_items,
                                 out_scores, n);
}

static recsys_status rp3_build_state(const recsys__build_ctx *c, void **out)
{
    double k = c->opt[recsys__opt_slot(RECSYS_OPT_RP3_K)];
    return recsys__rp3_build(c->mem, c->model, c->opt[recsys__opt_slot(RECSYS_OPT_RP3_ALPHA)],
                             c->opt[recsys__opt_slot(RECSYS_OPT_RP3_BETA)],
                             k >= 1 ? (size_t)k : 1, recsys__item2item_threads(c->opt), out);
}

const recsys__builder recsys__rp3_builder = {
    RECSYS__DERIVED_RP3, { "rp3beta" }, rp3_build_state, recsys__rp3_free, true,
};

static recsys_status rp3_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    RECSYS_UNUSED(ctx);
    if (!q || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "rp3beta: query or candidate set is NULL");
    const rp3_state *s = q->derived ? q->derived->state[RECSYS__DERIVED_RP3] : NULL;
    return recsys__item2item_retrieve(q, out, s ? &s->w : NULL, true, s ? s->alpha : 1.0);
}

recsys_status recsys__source_rp3beta(const recsys__mem *m, recsys_source_vtable *out)
{
    RECSYS_UNUSED(m);
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "rp3beta: vtable is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->retrieve = rp3_retrieve;
    return RECSYS_OK;
}
