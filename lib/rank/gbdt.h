/* gbdt.h - gradient-boosted trees for the learning-to-rank ranker (issue 4): LambdaMART
 * training through XGBoost's C API, and a native evaluator of the trained model.
 *
 * Training (recsys__gbdt_train). XGBoost 1.7 (libxgboost-dev), objective "rank:ndcg",
 * booster "gbtree", tree_method "hist", verbosity 0, from a dense row-major float matrix
 * (NaN = missing), graded relevance labels and query groups (one group per user or request,
 * rows of a group consecutive). The result is XGBoost's JSON model text
 * (XGBoosterSaveModelToBuffer, {"format":"json"}), copied into memory from the caller's
 * allocator: it is what the ranker stores as a blob and what recsys__gbdt_load reads back.
 * Every XGBoost call is checked; a failure gives RECSYS_E_INTERNAL (RECSYS_E_NOMEM when
 * XGBoost ran out of memory) with the call and the first line of XGBGetLastError() in the
 * message, and every DMatrix and Booster is freed on every path.
 *   Labels are whole grades 0..30: XGBoost 1.7 truncates a label to an integer and takes
 * (1 << label) - 1 as its NDCG gain in a C int, so a fraction would be dropped silently and
 * 31 or more would overflow.
 *   Determinism: the model text is byte-identical for the same data, parameters, seed and
 * thread count. XGBoost uses the low 32 bits of the seed (its std::mt19937) for subsample and
 * colsample; LambdaMART's pair sampling in 1.7 is seeded by the iteration and split over
 * OpenMP threads by a static schedule, so another thread count gives another (equally good)
 * model. XGBoost's own "cache_id" is a key of the inplace-prediction config, not of
 * training: 1.7 fails an inplace prediction whose config lacks "cache_id": 0
 * (recsys__gbdt_xgb_predict sets it).
 *
 * The model (recsys__gbdt_load). The JSON is untrusted (it comes back from a store blob) and
 * is checked strictly: at most RECSYS__GBDT_MAX_JSON bytes, duplicate keys rejected, version
 * 1.x or 2.x, booster "gbtree" with one output (num_class 0 or 1, every tree_info 0, no
 * vector leaves), an objective whose prediction is the raw margin (rank:ndcg, rank:pairwise,
 * rank:map, reg:squarederror), a finite base_score, 1..RECSYS__GBDT_MAX_FEATURES features,
 * num_trees equal to the number of trees, and for each tree num_nodes equal to the length of
 * every node array (left_children, right_children, split_indices, split_conditions,
 * default_left, and split_type and parents when present); child indices are -1 (a leaf:
 * both) or strictly greater than their parent's index and below num_nodes (XGBoost's layout,
 * which rules out cycles), no node has two parents, a node's parents entry names the node
 * that points to it, every reached split uses a feature below num_feature and is numerical
 * (split_type 0; categorical splits give RECSYS_E_UNSUPPORTED), and every split condition
 * and leaf value is finite as a float. A malformed model gives RECSYS_E_CORRUPT naming the
 * field and the index; one that is well formed but outside what is listed gives
 * RECSYS_E_UNSUPPORTED. Nodes no path reaches (XGBoost's pruned, "deleted" nodes) are dropped.
 *
 * Prediction (recsys__gbdt_predict) is XGBoost's margin: base_score plus the leaf value of
 * every tree, added in float in tree order exactly as XGBoost's CPU predictor does, so the
 * result equals XGBoosterPredictFromDense (types 0 and 1 are the same for these objectives)
 * bit for bit in practice (the tests require 1e-5). A split sends a row left when
 * x[feature] < condition, and a missing value (NaN) to its default_left side.
 *
 * Layout and speed. Each tree is stored breadth-first in one array of 16-byte nodes
 * {condition or leaf value, column, left, right}; a leaf's two children are itself.
 * Prediction takes blocks of up to RECSYS__GBDT_BLOCK rows. A block's rows are first copied
 * twice side by side on the stack, missing values as +inf in the first copy and as -inf in
 * the second; a split whose missing values go left reads the second copy, so the one compare
 * x < condition decides every case, NaN included, with no branch and no NaN test (+inf is
 * never below a finite condition, -inf always is; real infinities compare the same in both).
 * Then, tree by tree, every row of the block takes exactly `depth of the tree` steps in lock
 * step (a row at a leaf stays there): the rows are independent chains that the core
 * overlaps, and the tree stays in L1 while the block walks it.
 *   Measured with `recsys-bench gbdt` (1000 rows x 100 trees of depth 6, 40 features, 5%
 * missing, one thread each, 2-core AMD EPYC): this layout 0.49 ms p50 against 1.9 ms for
 * XGBoost's inplace prediction of the same model. Variants measured on the same data and
 * rejected: the same walk one row at a time (all steps of a row, then the next) 1.28 ms;
 * the missing-value rule as a compare and an xor inside the step instead of the copy
 * 0.63 ms; with that xor rule, a complete-binary-tree layout (children at 2i+1 and 2i+2,
 * padded to the tree's depth, 8-byte nodes and a leaf array) 0.73 ms against the 0.63 ms of
 * this layout; blocks of 16 to 256 rows all within 5% of each other.
 * QuickScorer's bit vectors were not chosen either: with 100 trees of 64 leaves a row
 * touches about half of the 6300 conditions (~3000 and-operations) against 600 lock-step
 * steps here, and missing values need a second set of masks. The copy is why a model may
 * have at most RECSYS__GBDT_MAX_FEATURES features: one row's two copies must fit the block.
 *
 * Thread safety: a loaded model is immutable; any number of threads may predict with it at
 * once. recsys__gbdt_train keeps nothing between calls (each has its own DMatrix and
 * Booster). A recsys__gbdt_xgb handle is for one thread at a time. */
#ifndef RECSYS_RANK_GBDT_H
#define RECSYS_RANK_GBDT_H
#include "../core/alloc.h"

/* Limits: the model text recsys__gbdt_load accepts, the features of a model or a training
 * matrix (bounded by the prediction block's copy of a row, see "Layout and speed"), the
 * boosting rounds and tree depth recsys__gbdt_train accepts, its threads. */
#define RECSYS__GBDT_MAX_JSON ((size_t)256 << 20)
#define RECSYS__GBDT_MAX_FEATURES 2048u
#define RECSYS__GBDT_MAX_TREES 10000
#define RECSYS__GBDT_MAX_DEPTH 16
#define RECSYS__GBDT_MAX_THREADS 256
/* The largest whole label (relevance grade) training accepts. */
#define RECSYS__GBDT_MAX_LABEL 30
/* Rows a prediction block walks each tree with (fewer when 2 x features x 64 floats exceed
 * RECSYS__GBDT_ROW_FLOATS, the block's copy of its rows on the stack: 16 KiB). */
#define RECSYS__GBDT_BLOCK 64
#define RECSYS__GBDT_ROW_FLOATS 4096
_Static_assert(RECSYS__GBDT_ROW_FLOATS >= 2 * RECSYS__GBDT_MAX_FEATURES,
               "a block holds at least one row");

/* Training parameters (recsys__gbdt_params_init gives the defaults in brackets). */
typedef struct recsys__gbdt_params {
    int trees;               /* boosting rounds, 1..RECSYS__GBDT_MAX_TREES [100] */
    int max_depth;           /* 1..RECSYS__GBDT_MAX_DEPTH [6] */
    double eta;              /* learning rate, (0, 1] [0.1] */
    double min_child_weight; /* minimum hessian in a leaf, >= 0 [1] */
    double lambda;           /* L2 weight on leaf values, >= 0 [1] */
    double subsample;        /* rows sampled per tree, (0, 1] [1] */
    double colsample;        /* features sampled per tree (colsample_bytree), (0, 1] [1] */
    int threads;             /* XGBoost's nthread, 1..RECSYS__GBDT_MAX_THREADS [1] */
    uint64_t seed;           /* XGBoost takes the low 32 bits [0] */
    bool progress;           /* a line on stderr every tenth of the trees [false] */
} recsys__gbdt_params;

void recsys__gbdt_params_init(recsys__gbdt_params *p);

/* Trains LambdaMART on x (nrows x nfeat, row-major, NaN = missing, no infinity) with labels
 * (nrows whole grades 0..RECSYS__GBDT_MAX_LABEL) and groups (ngroups sizes, each >= 1,
 * summing to nrows; rows of a group consecutive, groups in order). On success *json (NUL
 * terminated, free with recsys__free(m, ...)) holds *json_len bytes of XGBoost's JSON model.
 * Returns RECSYS_OK, RECSYS_E_INVALID_ARG (a NULL argument, a bad size, value or parameter:
 * the message names it), RECSYS_E_NOMEM, or RECSYS_E_INTERNAL (XGBoost failed: the message
 * has its error). On failure *json is NULL and *json_len 0. */
recsys_status recsys__gbdt_train(const recsys__mem *m, const float *x, size_t nrows,
                                 size_t nfeat, const float *labels, const uint32_t *groups,
                                 size_t ngroups, const recsys__gbdt_params *p, char **json,
                                 size_t *json_len);

/* A loaded model (immutable). */
typedef struct recsys__gbdt recsys__gbdt;

/* Parses XGBoost's JSON model text json[0..len) (see above). *out is freed with
 * recsys__gbdt_free(m, ...). Returns RECSYS_OK, RECSYS_E_INVALID_ARG (NULL argument, text
 * over RECSYS__GBDT_MAX_JSON), RECSYS_E_CORRUPT (not JSON, or not a consistent model),
 * RECSYS_E_UNSUPPORTED (a model this evaluator does not compute) or RECSYS_E_NOMEM; on
 * failure *out is NULL. jansson's parse allocates with malloc; everything kept comes from m. */
recsys_status recsys__gbdt_load(const recsys__mem *m, const char *json, size_t len,
                                recsys__gbdt **out);
/* Frees a model from recsys__gbdt_load (NULL is fine). */
void recsys__gbdt_free(const recsys__mem *m, recsys__gbdt *g);

/* What a loaded model holds. */
typedef struct recsys__gbdt_info {
    size_t nfeat;      /* features a row must have */
    size_t ntrees;
    size_t nnodes;     /* reachable nodes, all trees */
    size_t max_depth;  /* the deepest leaf (0 for a model of single-leaf trees) */
    float base_score;
    char objective[32];
} recsys__gbdt_info;
void recsys__gbdt_info_get(const recsys__gbdt *g, recsys__gbdt_info *out);

/* Scores nrows rows of x (row-major, nfeat floats each, NaN = missing, +-inf compared as
 * numbers, as XGBoost's inplace prediction does) into out[0..nrows): XGBoost's margin for
 * each row. nfeat must be the model's. Allocates nothing. Returns
 * RECSYS_OK or RECSYS_E_INVALID_ARG (NULL argument with nrows > 0, nfeat not the model's). */
recsys_status recsys__gbdt_predict(const recsys__gbdt *g, const float *x, size_t nrows,
                                   size_t nfeat, float *out);

/* XGBoost's own prediction of a model, the reference the tests and recsys-bench compare the
 * native evaluator with (and time it against). Loads json into a Booster with nthread
 * threads. Returns RECSYS_OK, RECSYS_E_INVALID_ARG, RECSYS_E_NOMEM or RECSYS_E_INTERNAL. */
typedef struct recsys__gbdt_xgb recsys__gbdt_xgb;
recsys_status recsys__gbdt_xgb_load(const recsys__mem *m, const char *json, size_t len,
                                    int nthread, recsys__gbdt_xgb **out);
void recsys__gbdt_xgb_free(const recsys__mem *m, recsys__gbdt_xgb *h);

/* How recsys__gbdt_xgb_predict asks XGBoost. */
typedef enum recsys__gbdt_xgb_kind {
    RECSYS__GBDT_XGB_INPLACE = 0,        /* XGBoosterPredictFromDense, type 0 (value) */
    RECSYS__GBDT_XGB_INPLACE_MARGIN = 1, /* XGBoosterPredictFromDense, type 1 (margin) */
    RECSYS__GBDT_XGB_DMATRIX = 2         /* a DMatrix and XGBoosterPredictFromDMatrix, type 0
                                          * (XGBoost's DMatrix refuses infinite values) */
} recsys__gbdt_xgb_kind;

/* XGBoost's prediction of nrows rows of x (as recsys__gbdt_predict takes them) into out.
 * Not thread-safe for one handle (XGBoost keeps the result in the Booster). Returns
 * RECSYS_OK, RECSYS_E_INVALID_ARG or RECSYS_E_INTERNAL. */
recsys_status recsys__gbdt_xgb_predict(recsys__gbdt_xgb *h, recsys__gbdt_xgb_kind kind,
                                       const float *x, size_t nrows, size_t nfeat, float *out);

#endif
