/* factors.c - imported item factors (see factors.h). */
#include "factors.h"

recsys_status recsys__factors_new(const recsys__mem *m, const char *const *ids, const float *v,
                                  size_t n, size_t k, recsys__factors **out)
{
    *out = NULL;
    recsys__factors *f = recsys__calloc(m, 1, sizeof *f);
    if (!f)
        return RECSYS_E_NOMEM;
    f->n = n;
    f->k = k;
    f->ids = recsys__calloc(m, n ? n : 1, sizeof *f->ids);
    f->v = f->ids ? recsys__realloc_array(m, NULL, n ? n * k : 1, sizeof *f->v) : NULL;
    if (!f->v) {
        recsys__factors_free(m, f);
        return RECSYS_E_NOMEM;
    }
    memcpy(f->v, v, n * k * sizeof *f->v);
    for (size_t i = 0; i < n; i++)
        if (!(f->ids[i] = recsys__strdup(m, ids[i]))) {
            recsys__factors_free(m, f);
            return RECSYS_E_NOMEM;
        }
    *out = f;
    return RECSYS_OK;
}

void recsys__factors_free(const recsys__mem *m, recsys__factors *f)
{
    if (!f)
        return;
    for (size_t i = 0; f->ids && i < f->n; i++)
        recsys__free(m, f->ids[i]);
    recsys__free(m, f->ids);
    recsys__free(m, f->v);
    recsys__free(m, f);
}
