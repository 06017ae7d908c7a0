/* linear.h - the "linear" ranker: logistic regression over the feature vector of
 * features.h, learnt online with FTRL-Proximal.
 *
 * The model. p(positive | row) = sigmoid(w . x(row)), x of RECSYS__LINEAR_DIM inputs:
 * - x[f] for each feature column f (f < RECSYS__NFEAT): the value scaled as the feature table
 *   says (recsys__feature_table[f].kind: BOUNDED as it is, DIV divided by scale, LOG
 *   sign(v) log1p(|v|) / log1p(scale)), then clamped to -4..4, so that no raw scale (days,
 *   counts, prices) dominates the per-coordinate learning rates; 0 when the value is NaN;
 * - x[RECSYS__NFEAT + f]: 1 when column f is NaN (missing), else 0;
 * - x[2 * RECSYS__NFEAT]: 1, the bias.
 * Training is FTRL-Proximal (McMahan et al., "Ad Click Prediction: a View from the
 * Trenches", KDD 2013, algorithm 1) with per-coordinate learning rates: per input i it keeps
 * z_i and n_i (the sum of squared gradients); the weight is
 *   w_i = 0 when |z_i| <= l1, else -(z_i - sign(z_i) l1) / ((beta + sqrt(n_i)) / alpha + l2),
 * and an example (x, y, weight) adds g_i = weight (p - y) x_i:
 *   sigma = (sqrt(n_i + g_i^2) - sqrt(n_i)) / alpha, z_i += g_i - sigma w_i, n_i += g_i^2.
 * The bias has no L1 (a sparse bias would only miscalibrate). L1 sets the weight of an input
 * that does not predict the label exactly to zero (the model stays sparse), provided the
 * input's mean is about 0: one that is mostly positive (a missing indicator, a count) also
 * stands in for part of the bias, and keeps a small weight until the bias has caught up. alpha, l1 and l2 come from
 * RECSYS_OPT_RANK_LINEAR_ALPHA / _L1 / _L2, beta is 1. A weight is an importance weight (the
 * RECSYS_OPT_RANK_LABEL_* of the event): weight 2 counts as the example seen twice at once.
 * Weights are clamped to +-RECSYS__LINEAR_MAX_W, and an update that would make a z or n
 * infinite leaves that coordinate as it was (guards: real models stay far inside).
 * All arithmetic is in double, in a fixed order: the same examples give the same bits.
 *
 * Saved form (recsys__linear_save / _load; the engine keeps it as the store blob
 * "ranker.linear"), little endian. Version 2 (the one written), RECSYS__LINEAR_BYTES bytes:
 *   u32 magic "RSLR", u32 version 2, u32 nfeat, u32 dim (= 2 * nfeat + 1),
 *   u64 layout fingerprint (recsys__features_fingerprint), f64 alpha, beta, l1, l2,
 *   u64 updates, f64 z[dim], f64 n[dim]                      (the main model: 64 + 16 dim)
 *   u64 heads (= RECSYS__NOBJ), then per head in RECSYS__OBJ_* order:
 *     u64 updates, f64 z[dim], f64 n[dim]
 *   then u64 XXH3-64 of every byte before it.
 * That is the whole learning state (FTRL needs z, n and the parameters; the weights follow
 * from them, the update counts are kept for the engine and diagnostics), so a loaded model
 * predicts and goes on learning bit for bit as the saved one would have, every head included.
 * Version 1 (written by 0.2 builds before the heads were saved; RECSYS__LINEAR_BYTES_V1
 * bytes) is the same without the heads section: it still loads, with every head untrained
 * (predicting 0.5, 0 updates).
 * _load treats its input as untrusted: a wrong magic, version, length (for its version),
 * checksum, feature count, fingerprint (a model of other columns), head count, a parameter
 * out of range or a z or n of the main model or of a head that is not finite (n negative)
 * gives RECSYS_E_CORRUPT with a message naming it (a head's values as "head 'skip' z[3]"),
 * and nothing is allocated. The form has no slack: a model loaded from a version 2 form
 * saves back to the same bytes. Cost: save and load O(RECSYS__NOBJ * DIM): 9200 bytes with
 * the 40 features of 0.2 (version 1: 1368).
 *
 * Threads. A model carries a read-write lock: predictions and saving take it shared (any
 * number at once), updates, parameter changes and assignment exclusively, so callers need
 * no lock of their own; a prediction sees an update wholly or not at all. Each ranker call
 * reads the weights once, under the lock, for the whole candidate set.
 *
 * Cost. predict O(DIM), update O(DIM); the ranker O(features + n * DIM) with one allocation
 * per request (the feature rows and the features' scratch in one block): about 80 us of CPU
 * per 1000 candidates on top of the features (tests/test_features prints both).
 *
 * Multi-objective ranking (since 0.2). Beside the main model (whose label blends every
 * outcome with the RECSYS_OPT_RANK_LABEL_* weights) a model holds one head per outcome
 * (RECSYS__OBJ_*): the same logistic regression over the same inputs, learnt with the same
 * FTRL parameters, predicting p_k = P(outcome k | shown). recsys__linear_objectives() says
 * which heads an event is a positive of: click (click, view), purchase, watch (watch time or
 * dwell with a value > 0), rating (a like, or a rating >= RECSYS__OBJ_GOOD_RATING), skip,
 * dislike. The heads learn online from the feature log (featlog.h: each shown row is learnt
 * once per head, a positive when that outcome came, else a negative of weight 1 when the row
 * leaves the log); recsys_ranker_train teaches the main model only. The ranker's score is
 *   w_main p + sum_k w_k p_k + RECSYS__LINEAR_TIEBREAK * merged score,
 * the weights RECSYS_OPT_RANK_OBJ_* of the request (so a host sets them per request, and an
 * experiment arm per arm; negative for skip and dislike). With the defaults (w_main 1, every
 * w_k 0) the score is exactly the single-model score above. The heads are in the saved form
 * (version 2), so after a restart the engine ranks with the weights exactly as before it.
 * Replacing the main model keeps the heads learnt online: recsys__linear_assign copies heads
 * only from a model that learnt some (a loaded version 2 model hands its heads over, a
 * version 1 or freshly trained one keeps the destination's), and recsys_ranker_train
 * (lib/engine/train.c) swaps in the trained main model with recsys__linear_assign_main, after
 * saving a form that holds the trained main model and the heads as they were when it saved.
 *
 * Changes. recsys__linear_changes() counts every change of a model's state (an example learnt
 * by the main model or a head, a change of parameters, an assignment): the engine saves the
 * model again when it moved since the last save, whichever part moved. */
#ifndef RECSYS_RANK_LINEAR_H
#define RECSYS_RANK_LINEAR_H
#include "features.h"

#define RECSYS__LINEAR_DIM (2 * RECSYS__NFEAT + 1)
#define RECSYS__LINEAR_BIAS (2 * RECSYS__NFEAT)
#define RECSYS__LINEAR_VERSION 2u
/* Bytes of one head in the saved form, and of the saved form (version 2; version 1). */
#define RECSYS__LINEAR_HEAD_BYTES (8 + 16 * RECSYS__LINEAR_DIM)
#define RECSYS__LINEAR_BYTES                                                                   \
    (64 + 16 * RECSYS__LINEAR_DIM + 8 + RECSYS__NOBJ * RECSYS__LINEAR_HEAD_BYTES + 8)
#define RECSYS__LINEAR_BYTES_V1 (64 + 16 * RECSYS__LINEAR_DIM + 8)
/* Largest parameter (alpha, beta, l1, l2) and largest absolute weight (a guard against a
 * division by zero in a loaded model; trained weights stay far below). */
#define RECSYS__LINEAR_MAX_PARAM 1e9
#define RECSYS__LINEAR_MAX_W 1e6
/* Largest importance weight of one example. */
#define RECSYS__LINEAR_MAX_WEIGHT 1e6
/* The ranker's tie-break: score = p + RECSYS__LINEAR_TIEBREAK * merged score (see below). */
#define RECSYS__LINEAR_TIEBREAK 1e-6

typedef struct recsys__linear recsys__linear;

/* The outcome heads (multi-objective ranking, above). */
enum {
    RECSYS__OBJ_CLICK,
    RECSYS__OBJ_PURCHASE,
    RECSYS__OBJ_WATCH,
    RECSYS__OBJ_RATING,
    RECSYS__OBJ_SKIP,
    RECSYS__OBJ_DISLIKE,
    RECSYS__NOBJ
};
#define RECSYS__OBJ_GOOD_RATING 4.0 /* a rating at least this is a positive of "rating" */
extern const char *const recsys__objective_names[RECSYS__NOBJ];

typedef struct recsys__linear_params {
    double alpha; /* > 0 */
    double beta;  /* >= 0 */
    double l1;    /* >= 0 */
    double l2;    /* >= 0; each at most RECSYS__LINEAR_MAX_PARAM */
} recsys__linear_params;

/* The parameters the options give: alpha, l1, l2 from opt (values by table slot,
 * lib/core/options.h), beta 1. */
void recsys__linear_params_from_opt(const double *opt, recsys__linear_params *p);

/* An untrained model (every weight 0: predicts 0.5). RECSYS_E_INVALID_ARG for a NULL
 * argument or a parameter out of range (message names it); RECSYS_E_NOMEM. *out NULL on
 * failure. */
recsys_status recsys__linear_new(const recsys__mem *m, const recsys__linear_params *p,
                                 recsys__linear **out);
/* Frees a model (NULL is fine). No thread may be using it. */
void recsys__linear_free(recsys__linear *lm);

/* Changes the parameters (the weights follow from z and n with the new ones). Errors as
 * recsys__linear_new; the model is unchanged on failure. */
recsys_status recsys__linear_set_params(recsys__linear *lm, const recsys__linear_params *p);
void recsys__linear_get_params(const recsys__linear *lm, recsys__linear_params *p);
/* Examples the main model learnt so far (weight-0 examples and rejected calls not counted). */
uint64_t recsys__linear_updates(const recsys__linear *lm);
/* The model's change count (see "Changes" above): it grows by one with every change of state
 * and never goes back; equal counts of one model mean the same state. */
uint64_t recsys__linear_changes(const recsys__linear *lm);

/* The probability (0..1) that a candidate with feature row row[0..RECSYS__NFEAT) is a
 * positive. 0.5 for an untrained model. */
double recsys__linear_predict(const recsys__linear *lm, const float *row);
/* The same for rows[0 .. n * RECSYS__NFEAT), into out[0..n), reading the weights once. */
void recsys__linear_predict_rows(const recsys__linear *lm, const float *rows, size_t n,
                                 double *out);
/* The current weights w[0..RECSYS__LINEAR_DIM) (inputs as above; the bias last). */
void recsys__linear_weights(const recsys__linear *lm, double *w);

/* Learns one example: label 0 or 1, weight in 0..RECSYS__LINEAR_MAX_WEIGHT (0: nothing
 * happens). RECSYS_E_INVALID_ARG (NULL, a bad label or weight; model unchanged). */
recsys_status recsys__linear_update(recsys__linear *lm, const float *row, int label,
                                    double weight);
/* Learns rows[0 .. n * RECSYS__NFEAT) in order, row i with label y[i] > 0 and weight y[i],
 * or label 0 and weight neg_weight when y[i] is 0 (the training rows of train.c: y is the
 * summed label weight of the outcomes on the candidate). Every y and neg_weight is checked
 * before the first update: RECSYS_E_INVALID_ARG leaves the model unchanged. */
recsys_status recsys__linear_update_rows(recsys__linear *lm, const float *rows, const float *y,
                                         size_t n, double neg_weight);
/* The label and weight an event teaches (online learning from feedback): a click, view,
 * like, add-to-cart, purchase, watch time, dwell or rating is a positive with its
 * RECSYS_OPT_RANK_LABEL_* weight; an impression without action, a skip or a dislike is a
 * negative with the weight RECSYS_OPT_RANK_LABEL_IMPRESSION. False for a search (nothing to
 * learn). opt: values by table slot. */
bool recsys__linear_label(const double *opt, int32_t type, int *label, double *weight);

/* The heads (bits 1u << RECSYS__OBJ_*) an event of type with value is a positive of. */
unsigned recsys__linear_objectives(int32_t type, double value);
/* Learns one example for head obj (0..RECSYS__NOBJ-1), as recsys__linear_update. */
recsys_status recsys__linear_update_objective(recsys__linear *lm, int obj, const float *row,
                                              int label, double weight);
/* Head obj's probabilities for rows[0 .. n * RECSYS__NFEAT) into out[0..n).
 * RECSYS_E_INVALID_ARG for a bad objective or NULL. */
recsys_status recsys__linear_predict_objective_rows(const recsys__linear *lm, int obj,
                                                    const float *rows, size_t n, double *out);
/* Examples head obj learnt (0 for a bad objective). */
uint64_t recsys__linear_objective_updates(const recsys__linear *lm, int obj);
/* The score's weights from the options (values by slot): w[0] the main model's, w[1 + k]
 * head k's. True when they differ from the defaults (w_main 1, the rest 0). */
bool recsys__linear_blend(const double *opt, double w[1 + RECSYS__NOBJ]);

/* Copies src's parameters and learnt state into dst (the engine swaps a loaded model in
 * without changing the pointer its ranker holds): the main model always, the heads only when
 * src learnt some (else dst keeps its own). Cannot fail (out of memory while copying the
 * heads leaves dst's heads as they were). Never holds both models' locks at once. */
void recsys__linear_assign(recsys__linear *dst, const recsys__linear *src);
/* Copies src's parameters and main model into dst, dst's heads untouched (recsys_ranker_train
 * replaces the main model and keeps the heads learnt online). Returns dst's change count
 * after the copy (the copy is one change: the count before it was one less); dst's count for
 * a NULL src or src == dst, 0 for a NULL dst. */
uint64_t recsys__linear_assign_main(recsys__linear *dst, const recsys__linear *src);
/* Copies every head of src (learnt or not) into dst, dst's main model untouched, and sets
 * *src_changes (when not NULL) to src's change count at the moment of the copy.
 * RECSYS_E_INVALID_ARG (NULL); RECSYS_E_NOMEM (dst unchanged). */
recsys_status recsys__linear_copy_heads(recsys__linear *dst, const recsys__linear *src,
                                        uint64_t *src_changes);

/* The saved form (version 2, see above) in *data (allocated with m, RECSYS__LINEAR_BYTES
 * bytes; the caller frees it with recsys__free), the main model and every head as of one
 * moment (under the model's shared lock). RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. */
recsys_status recsys__linear_save(const recsys__linear *lm, const recsys__mem *m, void **data,
                                  size_t *len);
/* A model from data[0..len) (untrusted; version 2, or version 1 whose heads start
 * untrained). RECSYS_E_CORRUPT with a message (see above); RECSYS_E_INVALID_ARG;
 * RECSYS_E_NOMEM. *out NULL on failure. */
recsys_status recsys__linear_load(const recsys__mem *m, const void *data, size_t len,
                                  recsys__linear **out);

/* The ranker over model (ctx = model, no destroy: the caller owns the model and keeps it
 * alive as long as the ranker; replace its state with recsys__linear_assign). score()
 * computes the features of every candidate and sets its score to
 *   p + RECSYS__LINEAR_TIEBREAK * merged score,
 * p the model's probability. The tie-break keeps the merged order among candidates the model
 * cannot tell apart: an untrained model gives p = 0.5 to all, and the merged order stands;
 * a trained one moves p by far more than 1e-6 for any real difference in features.
 * RECSYS_E_INVALID_ARG (NULL out or model). */
recsys_status recsys__ranker_linear(const recsys__mem *m, recsys__linear *model,
                                    recsys_ranker_vtable *out);

#endif
