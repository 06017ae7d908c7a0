/* item2item.h - item-based collaborative filtering ("itemknn"), and the sparse item x item
 * machinery it shares with the graph source (graph.h).
 *
 * The model. Over the item columns x_i of the positive interaction matrix (interactions.h,
 * weights as given), the similarity of two items is the cosine with shrinkage
 *     sim(i, j) = (x_i . x_j) / (||x_i|| ||x_j|| + shrink)        (RECSYS_OPT_ITEMKNN_SHRINK)
 * and every item j keeps its k most similar items N_k(j) (RECSYS_OPT_ITEMKNN_K; ties by item
 * index ascending; zero similarities and the item itself are never kept). A user with
 * positive items j and weights w_j is served
 *     score(i) = sum over the user's items j with i in N_k(j) of w_j * sim(j, i),
 * i.e. each of the user's items spreads its weight over its own neighbour list. (The
 * reproducibility code of Dacrema et al. 2019 cuts the other side, the neighbourhood of the
 * item being scored. On ml-100k, EVAL_PROTOCOL.md variant ALL, this orientation scored as well
 * or better (validation NDCG@10 0.1804 against 0.1691 at k = 100, shrink = 10; 0.1827 against
 * 0.1815 at each one's best grid point), needs one list per item instead of two, and bounds
 * a request's work by (user's items) x k, where the other side walks reverse lists that grow
 * with popularity.)
 *
 * The source. retrieve reads q->derived->state[RECSYS__DERIVED_ITEMKNN] (nothing when NULL),
 * the requesting user's current positive items (recsys__user_positives: the model now, not at
 * build time), accumulates the scores above in a map sized by the work (never by the
 * catalog), and adds the best recsys_query_limit(q) by score (ties by item index), skipping
 * items the request excludes, items removed since the build, and, when RECSYS_OPT_FILTER_SEEN
 * is on, the user's own positive items (the "seen" filter would drop them anyway, so they
 * would only take the source's room). Anonymous and unknown users get nothing.
 *
 * The build. Co-occurrences come from the CSC/CSR pair (for item i: its users, then their
 * items), accumulated in a dense per-thread row, then a partial selection of the top k.
 * Items are spread over RECSYS_OPT_TRAIN_THREADS threads (0 = every core) when the work is
 * large enough to pay; the result does not depend on the thread count (each row is computed
 * alone, in a fixed order). Worker threads never allocate; each gets 20 bytes of scratch per
 * catalog slot (a dense row, the touched list, the row's candidates). The state is immutable
 * after the build and read by many threads at once. */
#ifndef RECSYS_RETRIEVE_ITEM2ITEM_H
#define RECSYS_RETRIEVE_ITEM2ITEM_H
#include "../model/context.h"
#include "interactions.h"

/* ------------------------------------------------------------ shared sparse machinery */

/* A sparse item x item matrix by rows: row r's entries are [off[r], end(r)) with end(r) =
 * off[r] + len[r] when len is set (rows with room to grow: [off[r], off[r + 1]) is the
 * capacity), else off[r + 1]. */
typedef struct recsys__itemrows {
    size_t nrows;
    size_t nnz;
    size_t *off;   /* nrows + 1 */
    uint32_t *col; /* column (item) index */
    float *w;      /* weight > 0 */
    uint32_t *len; /* NULL: rows are packed */
} recsys__itemrows;

static inline size_t recsys__itemrows_end(const recsys__itemrows *r, size_t row)
{
    return r->len ? r->off[row] + r->len[row] : r->off[row + 1];
}

void recsys__item2item_rows_free(const recsys__mem *m, recsys__itemrows *r);

/* How a row's accumulated value acc(i, j) = sum_u a(i, u) * b(u, j) becomes its weight. */
typedef enum recsys__i2i_mode {
    RECSYS__I2I_COSINE = 1, /* acc / (norm[i] * norm[j] + shrink) */
    RECSYS__I2I_SCALED = 2  /* acc * scale[j] */
} recsys__i2i_mode;

/* What recsys__item2item_build computes: for every item i, the k largest positive weights
 * of row i over the items j != i, sorted by weight descending then j ascending. */
typedef struct recsys__i2i_spec {
    const recsys__interactions *x;
    const float *a;       /* per transpose cell (x->row/x->tval order): a(i, u) */
    const float *b;       /* per cell (x->col/x->val order): b(u, j) */
    int mode;             /* recsys__i2i_mode */
    const double *norm;   /* COSINE: per item */
    double shrink;        /* COSINE */
    const double *scale;  /* SCALED: per item */
    size_t k;             /* entries kept per row (>= 1) */
    bool l1;              /* divide each kept row by its sum */
    int threads;          /* 0 = every online core */
} recsys__i2i_spec;

/* Below this many multiply-adds (sum over users of their cell count squared) one thread does
 * the whole build: starting threads and giving each a dense row costs more than it saves. */
#define RECSYS__I2I_PARALLEL_MIN_WORK 4000000.0

/* Builds the rows (x->nitems of them). Returns RECSYS_OK or RECSYS_E_NOMEM (out zeroed). */
recsys_status recsys__item2item_build(const recsys__mem *m, const recsys__i2i_spec *spec,
                                      recsys__itemrows *out);

/* The source's request path over rows (row j = what the user's item j contributes to each
 * item): score(i) = sum over the user's positive items j < rows->nrows of
 * f(w_j) * row_j[i], where f(w) = w when user_alpha is 1 and user_norm is false, else
 * (w / sum of the user's weights if user_norm)^user_alpha. Adds the best
 * recsys_query_limit(q) to out (see the header comment for what is skipped). */
recsys_status recsys__item2item_retrieve(const recsys_query *q, recsys_candidates *out,
                                         const recsys__itemrows *rows, bool user_norm,
                                         double user_alpha);

/* Copies row item of rows, live items only (cat NULL = all), at most k of them, in row
 * order. A NULL rows or an item beyond it gives *n = 0. */
recsys_status recsys__item2item_row(const recsys__itemrows *rows, const recsys__catalog *cat,
                                    uint32_t item, size_t k, uint32_t *out_items,
                                    float *out_scores, size_t *n);

/* The worker threads for a build: RECSYS_OPT_TRAIN_THREADS resolved (0 or opt NULL = the
 * online cores). */
int recsys__item2item_threads(const double *opt);

/* ------------------------------------------------------------ itemknn */

/* The refresh builder (slot RECSYS__DERIVED_ITEMKNN, source "itemknn"). The state is NULL
 * when there are no positive interactions. */
struct recsys__builder;
extern const struct recsys__builder recsys__itemknn_builder;

/* Fills the "itemknn" source's vtable (ctx and destroy NULL). RECSYS_E_INVALID_ARG for NULL. */
recsys_status recsys__source_itemknn(const recsys__mem *m, recsys_source_vtable *out);

/* The items most similar to item in an itemknn state (its neighbour list N_k(item), removed
 * items left out): at most k of them, by similarity descending then index ascending, into
 * the caller's arrays of k entries. A NULL state, an item beyond the state or one without
 * neighbours gives *n = 0. Returns RECSYS_OK, or RECSYS_E_INVALID_ARG for a NULL n (or
 * NULL arrays with k > 0). Thread-safe. */
recsys_status recsys__itemknn_similar(const void *state, uint32_t item, size_t k,
                                      uint32_t *out_items, float *out_scores, size_t *n);

/* The cosine of items a and b without the shrinkage, (x_a . x_b) / (||x_a|| ||x_b||) in 0..1,
 * when the state knows it: one of the two lists N_k(a), N_k(b) holds the pair (1 for a == b).
 * Else NaN, and *cap (when cap is not NULL) receives what the lists prove about it: 0 when
 * a list is shorter than k (it kept every item with a common user, so the pair has none),
 * else the smaller of the two lists' last similarity, unshrunk (the pair was not kept, so
 * it is at most that); 1 when nothing is known (a NULL state, an item beyond it or without
 * interactions). O(k). Thread-safe (reads only; the incremental upkeep makes the lists and
 * bounds approximate until the next refresh, as for the source). */
double recsys__itemknn_cosine(const void *state, uint32_t a, uint32_t b, double *cap);

/* recsys__itemknn_cosine over the pairs of one set of distinct items (the diversifier's
 * pool, through q->item_sim_pool): *out's sim(p, i, j, cap) and column(p, j, idx, n, out,
 * cap) equal recsys__itemknn_cosine(state, items[i], items[j], cap) bit for bit (row i read
 * first, then row j, as the function does). Built once in O(n + sum of the items' list
 * lengths) (each list entry looked up in a hash of the set; the lists' cache lines are
 * prefetched for the whole set a pass ahead, as they are cold), it holds per item its norm,
 * list length and last weight, and the pairs of the set each list keeps, by row and by
 * column; a column then costs O(n + its hits), a single pair a scan of the two items' hits
 * in the set (usually a few) instead of two O(k) scans of lists scattered in memory. One
 * allocation from m, O(n + hits) bytes; free it with (*out)->free(m, *out). A NULL state
 * gives a pool that knows nothing (NaN, cap 1), as the function does. Returns RECSYS_OK,
 * RECSYS_E_INVALID_ARG (NULL out, m, or items with n > 0) or RECSYS_E_NOMEM (*out NULL).
 * Building is thread-safe as the function is (the pool is a snapshot of the lists); column
 * writes scratch inside the pool: one thread per pool. */
recsys_status recsys__itemknn_pool(const void *state, const recsys__mem *m,
                                   const uint32_t *items, size_t n, recsys__simpool **out);

/* Keeping the lists current between refreshes (Papagelis et al. 2005, incremental item-based
 * CF). The state keeps the squared column norms and, for every kept pair, the raw dot product
 * x_i . x_j; each row has room for RECSYS__ITEMKNN_ROOM more entries (up to k). When one
 * user's positive weights change from a to b (recsys__user_positives before and after their
 * feedback), every pair (i, j) with a changed item gets x_i . x_j += b_i b_j - a_i a_j in both
 * rows, the changed items' norms follow, their rows are re-weighted, and a pair not in a row
 * enters it when its similarity (from the change alone: a lower bound of the true one) beats
 * the row's last, so a new item gets neighbours from its first interactions. Approximate
 * until the next refresh: a pair dropped from a row at the build is only known from later
 * changes, and the entries (x, j) of rows outside the user's items keep j's old norm. Items
 * added after the build (index >= the state's rows) are left to the refresh. Cost per call:
 * changed items x the user's positive items x k. Never allocates, never fails; the caller
 * holds the engine's lock exclusively (requests read the lists under the shared lock).
 * When the caller could not compute a or b (out of memory), recsys__itemknn_lost() stops
 * the updates of this state: its lists stay as they are until the refresh replaces it. */
#define RECSYS__ITEMKNN_ROOM 4
/* The builder's hooks: positives_changed = recsys__itemknn_observe, lost = _lost. */
struct recsys__builder_hooks;
extern const struct recsys__builder_hooks recsys__itemknn_hooks;
void recsys__itemknn_observe(void *state, const uint32_t *a_items, const float *a_w, size_t na,
                             const uint32_t *b_items, const float *b_w, size_t nb);
void recsys__itemknn_lost(void *state);

/* Builds an itemknn state directly (the builder's work, for tests and tools): k >= 1,
 * shrink >= 0, threads as RECSYS_OPT_TRAIN_THREADS. *out is NULL when x has no cells. */
recsys_status recsys__itemknn_build(const recsys__mem *m, const recsys__model *model,
                                    size_t k, double shrink, int threads, void **out);
void recsys__itemknn_free(const recsys__mem *m, void *state);

#endif
