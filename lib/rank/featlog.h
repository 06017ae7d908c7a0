/* featlog.h - the feature rows of the lists the "linear" ranker ranked, kept until their
 * outcome is known, so that the model learns online from the feedback stream.
 *
 * When a request ranked by "linear" is answered (and impressions are logged), the pipeline
 * puts the feature rows of the items shown, under the request id. A later feedback event
 * naming that request id and one of those items teaches the model that row once:
 * recsys__linear_label() says positive (click, view, like, add-to-cart, purchase, watch time,
 * dwell, rating) or negative (skip, dislike) and with which weight; an impression event
 * teaches nothing (the list's own impressions are the rows). A row that got no outcome by
 * the time its request leaves the log (the oldest goes when RECSYS__FEATLOG_REQUESTS are
 * kept) is learnt as an impression without action: a negative with weight
 * RECSYS_OPT_RANK_LABEL_IMPRESSION. So every shown row is learnt exactly once, whatever
 * happens. Rows still in the log when the engine is freed are not learnt.
 *
 * Memory: at most RECSYS__FEATLOG_REQUESTS requests x (their list) rows of RECSYS__NFEAT
 * floats (1024 lists of 10: 1.6 MB). Lookup scans the kept request ids (an XXH3-64 of the id
 * first), newest first: feedback usually answers a recent list.
 *
 * Threads: its own mutex (requests put under the engine's shared lock, feedback under the
 * exclusive one); model updates go through the model's own lock. */
#ifndef RECSYS_RANK_FEATLOG_H
#define RECSYS_RANK_FEATLOG_H
#include "linear.h"
#include <pthread.h>

#define RECSYS__FEATLOG_REQUESTS 1024

typedef struct recsys__featlog_entry recsys__featlog_entry;

typedef struct recsys__featlog {
    const recsys__mem *mem;
    pthread_mutex_t mu;
    recsys__featlog_entry *v; /* a ring of RECSYS__FEATLOG_REQUESTS, allocated on first put */
    size_t head, n;
    uint64_t learnt_pos, learnt_neg; /* rows learnt (for tests and diagnostics) */
} recsys__featlog;

void recsys__featlog_init(recsys__featlog *fl, const recsys__mem *m);
void recsys__featlog_free(recsys__featlog *fl);
/* Keeps the n rows (rows[i * RECSYS__NFEAT ...] of items[i]) of the list answered under
 * request_id; the oldest list leaves when the log is full, its rows without outcome learnt
 * by lm as negatives with the impression weight of opt. RECSYS_E_NOMEM changes nothing. */
recsys_status recsys__featlog_put(recsys__featlog *fl, recsys__linear *lm, const double *opt,
                                  const char *request_id, const uint32_t *items,
                                  const float *rows, size_t n);
/* An outcome event of type for item in the list answered under request_id: learnt by lm once
 * (see above); nothing when the list or the item is not in the log, or the row was learnt. */
void recsys__featlog_outcome(recsys__featlog *fl, recsys__linear *lm, const double *opt,
                             const char *request_id, uint32_t item, int32_t type);
/* The same with the event's value, which the outcome heads (linear.h, multi-objective) read:
 * a rating teaches the "rating" head only with its value; recsys__featlog_outcome passes NAN
 * (unknown: a watch or dwell still counts, a rating does not). Each head learns a row once
 * as a positive; a row leaving the log teaches every head it was not a positive of a
 * negative of weight 1. */
void recsys__featlog_outcome_value(recsys__featlog *fl, recsys__linear *lm, const double *opt,
                                   const char *request_id, uint32_t item, int32_t type,
                                   double value);

#endif
