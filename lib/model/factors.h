/* factors.h - latent item factors trained elsewhere (Spark ALS, say) and imported by the host
 * (recsys_ials_import): kept by item id, so that they survive catalog changes and are mapped
 * to catalog indices by each refresh. Immutable once made; the model owns the current set. */
#ifndef RECSYS_MODEL_FACTORS_H
#define RECSYS_MODEL_FACTORS_H
#include "../core/alloc.h"

typedef struct recsys__factors {
    size_t n, k;  /* items, floats per item */
    char **ids;   /* n item ids */
    float *v;     /* n x k, row-major */
} recsys__factors;

/* Copies n ids and n x k factors. Returns RECSYS_OK or RECSYS_E_NOMEM (*out NULL). The caller
 * validated them. */
recsys_status recsys__factors_new(const recsys__mem *m, const char *const *ids, const float *v,
                                  size_t n, size_t k, recsys__factors **out);
void recsys__factors_free(const recsys__mem *m, recsys__factors *f);

#endif
