/* embed.h - the sink an embedder hands its vector to. */
#ifndef RECSYS_TEXT_EMBED_H
#define RECSYS_TEXT_EMBED_H
#include "../core/alloc.h"

#define RECSYS_EMBED_MAX_DIM 4096

struct recsys_vector_sink {
    const recsys__mem *mem;
    float *v;
    size_t dim;
};

void recsys__vector_sink_init(recsys_vector_sink *s, const recsys__mem *m);
void recsys__vector_sink_free(recsys_vector_sink *s);

#endif
