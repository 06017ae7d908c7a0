/* embed.c - the embedder's vector sink (copies, validates finiteness and size). */
#include "embed.h"
#include "../core/error.h"

void recsys__vector_sink_init(recsys_vector_sink *s, const recsys__mem *m)
{
    memset(s, 0, sizeof *s);
    s->mem = m;
}

void recsys__vector_sink_free(recsys_vector_sink *s)
{
    recsys__free(s->mem, s->v);
    s->v = NULL;
    s->dim = 0;
}

RECSYS_API recsys_status recsys_vector_sink_set(recsys_vector_sink *s, const float *values, size_t dim)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(s);
    RECSYS_CHECK_ARG(values);
    if (dim == 0 || dim > RECSYS_EMBED_MAX_DIM)
        return recsys__err(RECSYS_E_INVALID_ARG, "embedding dimension %zu is not in 1..%d", dim,
                           RECSYS_EMBED_MAX_DIM);
    for (size_t i = 0; i < dim; i++)
        if (!isfinite(values[i]))
            return recsys__err(RECSYS_E_INVALID_ARG, "embedding value %zu is not finite", i);
    float *copy = recsys__memdup(s->mem, values, dim * sizeof *values);
    if (!copy)
        return RECSYS_E_NOMEM;
    recsys__free(s->mem, s->v);
    s->v = copy;
    s->dim = dim;
    return RECSYS_OK;
}
