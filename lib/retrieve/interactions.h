/* interactions.h - the user x item matrix of positive interactions that collaborative
 * sources train on, built from the model (users' in-memory histories and profile lists).
 *
 * A cell holds the summed weights of the user's positive events on the item
 * (recsys__event_weight: view 1, like 3, purchase 5, ...); a pair the user disliked or skipped
 * after their last positive event is left out; removed items are left out. Rows are users and
 * columns items, both in the model's dense index spaces, in CSR form with the transpose (CSC)
 * alongside. Immutable once built. */
#ifndef RECSYS_RETRIEVE_INTERACTIONS_H
#define RECSYS_RETRIEVE_INTERACTIONS_H
#include "../model/model.h"

typedef struct recsys__interactions {
    size_t nusers, nitems; /* model.users.ids.n, model.catalog.ids.n when built */
    size_t nnz;
    size_t *row_ptr;   /* nusers + 1: user u's cells are [row_ptr[u], row_ptr[u + 1]) */
    uint32_t *col;     /* item index, ascending within a row */
    float *val;        /* weight > 0 */
    size_t *col_ptr;   /* nitems + 1: item i's cells in the transpose */
    uint32_t *row;     /* user index, ascending within a column */
    float *tval;
} recsys__interactions;

recsys_status recsys__interactions_build(const recsys__mem *m, const recsys__model *model,
                                         recsys__interactions *out);
void recsys__interactions_free(const recsys__mem *m, recsys__interactions *x);

/* One user's positive items now (the same rule, from the current history), for scoring at
 * request time: items ascending, weights > 0. Free both arrays with recsys__free. */
recsys_status recsys__user_positives(const recsys__mem *m, const recsys__model *model,
                                     const recsys__user *u, uint32_t **items, float **weights,
                                     size_t *n);

/* The items a collaborative source works from for this request: the anchor item alone (weight
 * 1) for a "more like this" request, else the requesting user's positives as above (none for
 * an anonymous or unknown user). Free both arrays with recsys__free. */
recsys_status recsys__query_positives(const recsys__mem *m, const recsys_query *q,
                                      uint32_t **items, float **weights, size_t *n);

#endif
