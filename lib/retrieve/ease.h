/* ease.h - EASE, the closed-form item-item linear model (Steck 2019), and the "ease"
 * candidate source that reads it.
 *
 * Model. Over the positive user x item matrix X (interactions.h, weighted cells), with
 * G = X^T X + lambda I and P = G^-1, the weights are B = -P / diag(P) column by column
 * (B_ij = -P_ij / P_jj) with diag(B) = 0: the least-squares solution of X ~ X B under
 * diag(B) = 0 with L2 weight lambda.
 *
 * Only the n items with at least one positive interaction take part: an item with an empty
 * column has zero weights to and from every other item (for lambda > 0 the dense solution
 * says exactly that), so leaving it out changes no score, makes lambda = 0 usable and keeps
 * the dense n x n matrix as small as the data allows. RECSYS_OPT_EASE_MAX_ITEMS bounds that
 * n: above it the build fails with RECSYS_E_UNSUPPORTED and a message giving the item
 * count, the limit and the memory the matrix would take (n^2 floats).
 *
 * Building. G is accumulated sparsely, one user's positive items at a time (sum over users
 * of n_u^2 / 2 updates, upper triangle only), then factorised and inverted in place with
 * LAPACK's spotrf_/spotri_ (OpenBLAS, which runs them on its own thread pool at its own
 * configured thread count: OPENBLAS_NUM_THREADS; the library never changes it, and
 * RECSYS_OPT_TRAIN_THREADS does not apply). Memory: the n x n float matrix, computed in
 * place, plus O(n). Time: O(n^3) for the inverse; measured here (2 cores, OpenBLAS 0.3.21):
 * 1682 items 0.05 s, 5000 items 0.8 s (95 MiB), 10000 items 8.3 s (381 MiB), 20000 items
 * about a minute (1.5 GiB).
 *
 * Serving. For the requesting user's current positive items j with weights w_j
 * (recsys__user_positives), an item's score is s_i = sum_j w_j B_ji; the best
 * recsys_query_limit(q) (ties: lower item index first) are proposed. Items the request
 * excludes, removed items, items added after the build, items without interactions at build
 * time and the user's own positive items are not proposed. An anonymous or unknown user, a
 * user without a positive item known to the model, or no state gives nothing. A request
 * allocates O(n + limit + the user's positives).
 *
 * The state is immutable after it is built and may be read by any number of threads. */
#ifndef RECSYS_RETRIEVE_EASE_H
#define RECSYS_RETRIEVE_EASE_H
#include "interactions.h"
#include "../model/context.h"

/* The refresh builder (slot RECSYS__DERIVED_EASE, read by the "ease" source). Reads
 * RECSYS_OPT_EASE_LAMBDA and RECSYS_OPT_EASE_MAX_ITEMS; leaves the state NULL when the
 * matrix has no positive cell. */
struct recsys__builder;
extern const struct recsys__builder recsys__ease_builder;

/* The "ease" source (fills *out like the other built-in sources: ctx and destroy NULL). */
recsys_status recsys__source_ease(const recsys__mem *m, recsys_source_vtable *out);

/* Trains on x. *out (free with recsys__ease_free) is NULL when x has no positive cell.
 * Returns RECSYS_OK; RECSYS_E_INVALID_ARG (NULL, lambda negative or not finite, or G not
 * positive definite: lambda 0 with linearly dependent columns); RECSYS_E_UNSUPPORTED (more
 * than max_items items with interactions); RECSYS_E_NOMEM. Nothing is left allocated on
 * failure. progress prints a line on stderr before the factorisation. */
recsys_status recsys__ease_train(const recsys__mem *m, const recsys__interactions *x,
                                 double lambda, size_t max_items, bool progress, void **out);
void recsys__ease_free(const recsys__mem *m, void *state);

/* The weight B_ij between catalog items i and j (0 when either took no part). */
float recsys__ease_weight(const void *state, uint32_t i, uint32_t j);
/* How many items took part (the matrix is that many squared). */
size_t recsys__ease_items(const void *state);

#endif
