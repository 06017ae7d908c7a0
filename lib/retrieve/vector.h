/* vector.h - the faiss index over item vectors and the "vector" candidate source.
 *
 * Vectors. The builder (slot RECSYS__DERIVED_VECTOR) indexes the iALS item factors when this
 * refresh built iALS state (ctx->built[RECSYS__DERIVED_IALS]; rows of zeros, i.e. items
 * without a factor, and removed items are left out), else the live items' "default"
 * embeddings when every item that has one has the same dimension (items without one are left
 * out), else nothing (state NULL). The metric is the inner product.
 *
 * Index. RECSYS_OPT_VECTOR_INDEX, when non-empty, is a faiss index factory string used as
 * given (an invalid one, or one faiss cannot build, fails the build with RECSYS_E_INVALID_ARG
 * and faiss's message). Empty (the default): "Flat" (exact) up to RECSYS_OPT_VECTOR_EXACT_MAX
 * vectors, "IVF<n>,Flat" beyond with n = 4 sqrt(N) lists (at most N / 39, faiss's minimum of
 * training points per list), trained on at most 64 n vectors sampled with the engine's seed.
 * RECSYS_OPT_VECTOR_NPROBE is set at build time (faiss's ParameterSpace "nprobe"; ignored by
 * index types without it) and never per request.
 *
 * Labels. Vectors are added in catalog order with faiss labels 0..N-1 and the state maps a
 * label to its item index. No "IDMap," wrapper is used: faiss 1.7.3's IndexIDMap::search
 * translates labels in an `omp parallel for`, which wakes every OpenMP thread on each single
 * query (DESIGN.md measured 30x worse p99 with two threads). With our own map, a single query
 * to Flat or IVF runs no parallel region at all, so OpenMP's global thread count is never
 * changed here. Training (k-means for IVF) uses faiss's OpenMP threads, during refresh only.
 *
 * Source. The query vector is the iALS fold-in of the request's positives
 * (recsys__query_positives: a "more like this" anchor, else the user's positives) when the
 * index holds iALS factors (the request's derived set must then hold the iALS state of the
 * same refresh), else the mean of the positives' "default" embeddings of the index's
 * dimension. The source searches the best limit + room (excluded, positives, 16 more; doubled
 * while removed items leave fewer than limit), skips items the request excludes, removed
 * items, the anchor, and the user's positives when RECSYS_OPT_FILTER_SEEN is on; scores are
 * inner products, ties go to the lower item index. An anonymous or unknown user without an
 * anchor, positives without a vector, or no state gives nothing.
 *
 * Threads. The state is immutable after the build; any number of requests search it at once
 * (faiss's Flat and IVF search are const and thread-safe). */
#ifndef RECSYS_RETRIEVE_VECTOR_H
#define RECSYS_RETRIEVE_VECTOR_H
#include <stdint.h>
#include "../model/context.h"

/* Extra results searched beyond limit + excluded + positives, for removed items. */
#define RECSYS__VECTOR_ROOM 16

struct recsys__builder;
extern const struct recsys__builder recsys__vector_builder;

/* The "vector" source (ctx and destroy NULL). */
recsys_status recsys__source_vector(const recsys__mem *m, recsys_source_vtable *out);

/* What was built, for tests and diagnostics. Returns RECSYS_E_INVALID_ARG for a NULL state. */
typedef struct recsys__vector_info {
    size_t n;           /* vectors indexed */
    size_t dim;
    bool ials;          /* built on iALS factors (else "default" embeddings) */
    const char *index;  /* the factory string used (lives as long as the state) */
} recsys__vector_info;
recsys_status recsys__vector_info_get(const void *state, recsys__vector_info *out);

/* Searches the state's index for the k best of one query vector of dim floats (scratch from
 * m): items[] and
 * scores[] receive up to k results best first, *n how many. Returns RECSYS_OK,
 * RECSYS_E_INVALID_ARG (NULL, dim not the index's, k = 0) or RECSYS_E_INTERNAL with faiss's
 * message (never an exception). */
recsys_status recsys__vector_search(const void *state, const recsys__mem *m, const float *v,
                                    size_t dim, size_t k, uint32_t *items, float *scores,
                                    size_t *n);

#endif
