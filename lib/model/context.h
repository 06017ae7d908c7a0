/* context.h - internal helpers for the request context and candidate sets (the public
 * recsys_query_* and recsys_candidates_* views are implemented in context.c). */
#ifndef RECSYS_MODEL_CONTEXT_H
#define RECSYS_MODEL_CONTEXT_H
#include "model.h"

/* An empty set for query q; limit caps recsys__cands_add (0 = none). */
void recsys__cands_init(recsys_candidates *c, const recsys__mem *m, const recsys_query *q,
                        size_t limit);
void recsys__cands_free(recsys_candidates *c);
/* Adds item with score, keeping the higher score for a repeated item. RECSYS_E_BUDGET once
 * limit distinct items are in; RECSYS_E_INVALID_ARG for a non-finite score. */
recsys_status recsys__cands_add(recsys_candidates *c, uint32_t item, double score);
/* Makes room for n candidates without further allocation (the merger knows its total). */
recsys_status recsys__cands_reserve(recsys_candidates *c, size_t n);
/* Adds item with score 0 unless present; *pos is its position either way. Errors as
 * recsys__cands_add. */
recsys_status recsys__cands_put(recsys_candidates *c, uint32_t item, size_t *pos);
/* Position of item in a set still being collected (before settle), or SIZE_MAX. */
size_t recsys__cands_find(const recsys_candidates *c, uint32_t item);
/* Removes dropped candidates (keeping order) and applies an order a diversifier set. */
void recsys__cands_settle(recsys_candidates *c);
/* The effective numeric value of an option for this request, by key (must exist). */
double recsys__query_opt(const recsys_query *q, int32_t key);
/* True when the ascending list v[0..n) holds x (binary search). */
bool recsys__sorted_has(const uint32_t *v, size_t n, uint32_t x);
/* True when item idx is in the request's exclude list. */
bool recsys__query_excluded(const recsys_query *q, uint32_t item);
/* The decayed counters of item idx at q->now with the request's half-lives (0 for an item
 * beyond the counters): what the popular and trending sources rank by, the features and the
 * diversifier's exploration read, and explanations cite. */
double recsys__query_popular_count(const recsys_query *q, uint32_t idx);
double recsys__query_trending_count(const recsys_query *q, uint32_t idx);
/* Minimum decayed short-window activity (sum of event weights, e.g. 3 views) to trend. */
#define RECSYS__TRENDING_MIN_RECENT 3.0
/* The trending score of item idx at q->now (short-window activity above what the long window
 * predicts, in standard deviations); false when the item does not trend. */
bool recsys__query_trending_score(const recsys_query *q, uint32_t idx, double *score);
/* A half-life option in seconds (option value x unit; unit when the value is not > 0). */
double recsys__query_half_life_s(const recsys_query *q, int32_t key, double unit);
/* True unless the request has an allow list (q->include) without item. */
bool recsys__query_included(const recsys_query *q, uint32_t item);

#endif
