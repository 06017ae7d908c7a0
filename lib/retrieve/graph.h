/* graph.h - the random-walk graph source "rp3beta" (Paudel, Christoffel, Neumann and
 * Bernstein, "Updatable, accurate, diverse, and scalable recommendations for interactive
 * applications", ACM TiiS 2017).
 *
 * The model. On the bipartite user-item graph of the positive interaction matrix X
 * (interactions.h, weights as given), with alpha = RECSYS_OPT_RP3_ALPHA:
 *     P_ui[u][j] = (X[u][j] / sum_j' X[u][j'])^alpha   (user -> item transitions)
 *     P_iu[i][u] = (X[u][i] / sum_u' X[u'][i])^alpha   (item -> user transitions)
 *     W[i][j]    = (sum_u P_iu[i][u] * P_ui[u][j]) / pop(j)^beta,   W[i][i] = 0
 * where pop(j) = sum_u X[u][j] is the item's (weighted) degree and beta = RECSYS_OPT_RP3_BETA.
 * Each row of W keeps its k largest entries (RECSYS_OPT_RP3_K; ties by item index). The
 * reference implementation (Dacrema et al. 2019) can also divide each kept row by its sum
 * (normalize_similarity); RECSYS__RP3_NORMALIZE selects that. With 0/1 weights this is
 * exactly the reference RP3beta; with weights the walk follows them (alpha = 0 ignores them).
 *
 * The source. A user with positive items j and weights w_j (recsys__user_positives, the model
 * now) is served score(i) = sum_j (w_j / sum_j' w_j')^alpha * W[j][i], the user's row of P_ui
 * times W (alpha of the build). Everything else (what is skipped, limits, ties, anonymous
 * users, threads, determinism) is as for itemknn (item2item.h). */
#ifndef RECSYS_RETRIEVE_GRAPH_H
#define RECSYS_RETRIEVE_GRAPH_H
#include "item2item.h"

/* 1: each row of W is divided by its sum after the top-k cut. Off: on ml-100k (protocol
 * variant ALL, validation NDCG@10, best of the same alpha x beta x k grid) rows as they are
 * scored 0.1891 against 0.1812 normalised. */
#define RECSYS__RP3_NORMALIZE 0

/* The refresh builder (slot RECSYS__DERIVED_RP3, source "rp3beta"). The state is NULL when
 * there are no positive interactions. */
struct recsys__builder;
extern const struct recsys__builder recsys__rp3_builder;

/* Fills the "rp3beta" source's vtable (ctx and destroy NULL). RECSYS_E_INVALID_ARG for NULL. */
recsys_status recsys__source_rp3beta(const recsys__mem *m, recsys_source_vtable *out);

/* Builds an rp3beta state directly (the builder's work, for tests and tools): alpha >= 0,
 * beta >= 0, k >= 1, threads as RECSYS_OPT_TRAIN_THREADS. *out is NULL when there are no
 * positive interactions. */
recsys_status recsys__rp3_build(const recsys__mem *m, const recsys__model *model, double alpha,
                                double beta, size_t k, int threads, void **out);
void recsys__rp3_free(const recsys__mem *m, void *state);

/* Row item of W in an rp3beta state (its k strongest two-step destinations, removed items
 * left out), as recsys__itemknn_similar(). */
recsys_status recsys__rp3_similar(const void *state, uint32_t item, size_t k,
                                  uint32_t *out_items, float *out_scores, size_t *n);

#endif
