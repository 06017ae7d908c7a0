/* ltr.c - the "ltr" ranker (see ltr.h). */
#include "ltr.h"
#include "features.h"
#include "../core/error.h"

typedef struct ltr_ctx {
    const recsys__mem *m;
    recsys__ltr *h;
} ltr_ctx;

static recsys_status ltr_score(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    recsys__ltr *h = ctx;
    if (!h->model || c->n == 0)
        return RECSYS_OK;
    const recsys__mem *m = c->mem;
    size_t n = c->n;
    float *x = recsys__alloc(m, n * (RECSYS__NFEAT + 1) * sizeof *x);
    if (!x)
        return RECSYS_E_NOMEM;
    float *y = x + n * RECSYS__NFEAT;
    recsys_status st = recsys__features_compute(q, c, x);
    if (st == RECSYS_OK)
        st = recsys__gbdt_predict(h->model, x, n, RECSYS__NFEAT, y);
    for (size_t i = 0; st == RECSYS_OK && i < n; i++)
        c->v[i].score = y[i];
    recsys__free(m, x);
    return st;
}

recsys_status recsys__ranker_ltr(const recsys__mem *m, recsys__ltr *h, recsys_ranker_vtable *out)
{
    RECSYS_UNUSED(m);
    if (!out || !h)
        return recsys__err(RECSYS_E_INVALID_ARG, "ltr ranker: NULL argument");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->ctx = h;
    out->score = ltr_score;
    return RECSYS_OK;
}

recsys_status recsys__ltr_load(const recsys__mem *m, const char *json, size_t len,
                               recsys__gbdt **out)
{
    RECSYS_TRY(recsys__gbdt_load(m, json, len, out));
    recsys__gbdt_info info;
    recsys__gbdt_info_get(*out, &info);
    if (info.nfeat != RECSYS__NFEAT) {
        recsys__gbdt_free(m, *out);
        *out = NULL;
        return recsys__err(RECSYS_E_UNSUPPORTED,
                           "the saved ltr model has %zu features; this release computes %d",
                           info.nfeat, (int)RECSYS__NFEAT);
    }
    return RECSYS_OK;
}
