/* features.h - feature enrichment of stage 4: one fixed vector of numbers per candidate, the
 * input of the learned rankers ("linear": linear.h, "ltr": ltr.h) and of their training.
 *
 * What. recsys__features_compute() fills a float matrix, row-major, c->n rows of RECSYS__NFEAT
 * columns, row i describing candidate c->v[i] for request q. The layout is fixed: a column
 * never moves within a release, and a model saved by the learned rankers records the layout
 * (RECSYS__NFEAT and recsys__features_fingerprint()) so that a model of another layout is
 * refused rather than misread. NaN means "missing" where missing means something (the trees
 * of "ltr" learn a default direction for it; "linear" turns it into 0 plus an indicator);
 * elsewhere an absent signal is 0. The columns:
 *
 * Provenance (from the merger, recsys__prov), for each built-in source in the fixed order
 * content, search, campaign, popular, trending, itemknn, rp3beta, session, ease, ials,
 * vector (matched by the name in c->source_names; RECSYS__FEAT_SRC_FIRST + 2 * k):
 *   src_<name>_score  its normalised score (0..1) for the candidate; 0 when it did not
 *                     propose it (or did not run)
 *   src_<name>_rr     its reciprocal rank 1 / (1 + rank), rank 0-based in its list; 0 when
 *                     it did not propose it
 *   n_sources         how many sources proposed it (built-in and host: its provenance
 *                     entries); 0 for a set without provenance
 *   host_score        the sum of the normalised scores of the sources that are not built-in
 *                     (the host's own, whatever their names)
 *   merged_score      the candidate's score as the ranker receives it (the merged score:
 *                     weighted mean of the normalised source scores)
 *   merged_rr         1 / (1 + position) of the candidate in the merged list: the set sorted
 *                     by merged_score descending, ties by item id ascending (bytewise), as
 *                     the pipeline would sort it
 * Personal relevance:
 *   emb_cosine        cosine of q->user_vec and q->item_vec(q, item) (-1..1); NaN when
 *                     either is missing or either has norm 0
 *   lt_category       long-term category affinity (-1..1), stated interests included, and
 *   lt_tag            long-term tag affinity (-1..1): exactly the blend ranker's numbers
 *                     (affinity.h); NaN for an anonymous or unknown user
 *   session_category  category and tag affinity within the current session (affinity.h);
 *   session_tag       NaN for an anonymous or unknown user and when the user has no current
 *                     session (no event within RECSYS_OPT_SESSION_GAP_S of q->now)
 * Item:
 *   popularity        log1p of the item's long-window counter decayed to q->now
 *                     (RECSYS_OPT_POPULAR_HALF_LIFE_DAYS), a negative count taken as 0
 *   trending          the same for the short-window counter (RECSYS_OPT_TRENDING_HALF_LIFE_H)
 *   age_days          (q->now - item->created) / 86400, at least 0; NaN when created is 0
 *                     (unknown)
 *   price_rel         the item's numeric attribute "price" divided by the mean "price" of the
 *                     user's recent positive items (below); NaN when the item has no finite
 *                     price >= 0, when no recent positive item has one, when their mean is 0,
 *                     and for an anonymous or unknown user
 *   rating            the item's numeric attribute "rating"; NaN when absent (or not a number)
 * The user's recent items. The recent positive items are at most RECSYS__FEAT_RECENT distinct
 * items: walking the history newest first, an item's latest event of non-zero weight decides
 * (recsys__event_weight > 0: positive; a dislike: negative; a skip: neither; at most
 * RECSYS__FEAT_SCAN distinct items are walked), then the profile's recent views and purchases
 * not decided by the history. The disliked items are at most RECSYS__FEAT_NEGATIVE: those
 * the history walk found negative (newest first), then the profile's negative list. Removed
 * items are skipped. Two items are similar by the cosine of their vectors (q->item_vec) when
 * both have one, else by the Jaccard overlap of their facet sets (category and tags: |A and B|
 * / |A or B|, 0 when both are empty):
 *   recent_similar    how many recent positive items other than the candidate itself have a
 *                     similarity >= RECSYS__FEAT_SIMILAR (0..RECSYS__FEAT_RECENT); NaN for an
 *                     anonymous or unknown user
 *   negative_sim      the largest similarity to a disliked item, at least 0; 0 without any;
 *                     NaN for an anonymous or unknown user
 * The user:
 *   anonymous         1 when the request names no user (q->user_id NULL or empty), else 0
 *   unknown_user      1 when it names a user the model does not know, else 0
 * A candidate whose item is not in the catalog (cannot happen after the filters) gets NaN for
 * every item column (emb_cosine to rating, recent_similar, negative_sim).
 *
 * Cost. One pass: O(n log n) for the merged order, then per candidate O(P + T log A +
 * T log F + R + N + (R + N) d) for P provenance entries, T tags, A affinities, F facets of
 * the user's recent and disliked items (R <= RECSYS__FEAT_RECENT and N <=
 * RECSYS__FEAT_NEGATIVE of them; one sorted table of which of them hold each facet gives a
 * candidate's overlap with all of them at once) and vectors of d floats. At most one
 * allocation per request (the scratch: affinities, the merged order, that facet table, the
 * source map), none per candidate, and no call into the host. recsys__features_scratch() /
 * recsys__features_compute_in() let a caller that allocates anyway (a ranker's rows) make it
 * one block for both. Measured (tests/test_features, cost_for_1000_candidates: 3000 items,
 * a user with 200 events, 4 sources): about 0.6 ms of CPU per request of 1000 candidates
 * with 32-d vectors, 0.35 ms without vectors.
 *
 * Threads. Reads the request, the candidate set and the model (the caller holds the engine's
 * shared lock); q->item_vec must be safe to call from the request's thread. */
#ifndef RECSYS_RANK_FEATURES_H
#define RECSYS_RANK_FEATURES_H
#include "../model/context.h"

/* Recent positive items, the history walk, disliked items, the similarity threshold. */
#define RECSYS__FEAT_RECENT 20
#define RECSYS__FEAT_SCAN 256
#define RECSYS__FEAT_NEGATIVE 20
#define RECSYS__FEAT_SIMILAR 0.5

/* The built-in sources of the provenance columns, in column order. */
#define RECSYS__FEAT_NSRC 11
extern const char *const recsys__feature_sources[RECSYS__FEAT_NSRC];

enum {
    RECSYS__FEAT_SRC_FIRST = 0,
    RECSYS__FEAT_CONTENT_SCORE = 0,
    RECSYS__FEAT_CONTENT_RR,
    RECSYS__FEAT_SEARCH_SCORE,
    RECSYS__FEAT_SEARCH_RR,
    RECSYS__FEAT_CAMPAIGN_SCORE,
    RECSYS__FEAT_CAMPAIGN_RR,
    RECSYS__FEAT_POPULAR_SCORE,
    RECSYS__FEAT_POPULAR_RR,
    RECSYS__FEAT_TRENDING_SCORE,
    RECSYS__FEAT_TRENDING_RR,
    RECSYS__FEAT_ITEMKNN_SCORE,
    RECSYS__FEAT_ITEMKNN_RR,
    RECSYS__FEAT_RP3BETA_SCORE,
    RECSYS__FEAT_RP3BETA_RR,
    RECSYS__FEAT_SESSION_SCORE,
    RECSYS__FEAT_SESSION_RR,
    RECSYS__FEAT_EASE_SCORE,
    RECSYS__FEAT_EASE_RR,
    RECSYS__FEAT_IALS_SCORE,
    RECSYS__FEAT_IALS_RR,
    RECSYS__FEAT_VECTOR_SCORE,
    RECSYS__FEAT_VECTOR_RR,
    RECSYS__FEAT_NSOURCES,
    RECSYS__FEAT_HOST_SCORE,
    RECSYS__FEAT_MERGED_SCORE,
    RECSYS__FEAT_MERGED_RR,
    RECSYS__FEAT_EMB_COSINE,
    RECSYS__FEAT_LT_CATEGORY,
    RECSYS__FEAT_LT_TAG,
    RECSYS__FEAT_SESSION_CATEGORY,
    RECSYS__FEAT_SESSION_TAG,
    RECSYS__FEAT_POPULARITY,
    RECSYS__FEAT_TRENDING,
    RECSYS__FEAT_AGE_DAYS,
    RECSYS__FEAT_PRICE_REL,
    RECSYS__FEAT_RATING,
    RECSYS__FEAT_RECENT_SIMILAR,
    RECSYS__FEAT_NEGATIVE_SIM,
    RECSYS__FEAT_ANONYMOUS,
    RECSYS__FEAT_UNKNOWN_USER,
    RECSYS__NFEAT /* 40 */
};

/* How a linear model should scale a column (linear.h applies it; trees ignore it):
 * BOUNDED  the value already lies in -1..1 and is used as it is;
 * DIV      the value divided by scale;
 * LOG      sign(x) * log1p(|x|) / log1p(scale), so that scale maps to 1. */
typedef enum recsys__feat_kind {
    RECSYS__FEAT_BOUNDED = 0,
    RECSYS__FEAT_DIV = 1,
    RECSYS__FEAT_LOG = 2
} recsys__feat_kind;

typedef struct recsys__feature_info {
    const char *name; /* snake_case, stable (JSON, docs, model dumps) */
    const char *doc;  /* one line: what the number is */
    int kind;         /* recsys__feat_kind */
    double scale;     /* DIV and LOG: the value that maps to 1 */
    bool nan;         /* may be NaN (missing) */
} recsys__feature_info;

/* Column c's name and description, by column. */
extern const recsys__feature_info recsys__feature_table[RECSYS__NFEAT];
extern const char *const recsys__feature_names[RECSYS__NFEAT];

/* RECSYS__NFEAT, for callers that want a function. */
size_t recsys__features_count(void);
/* Column f's name, or NULL beyond the last. */
const char *recsys__features_name(size_t f);
/* An XXH3-64 of the layout: every column's name, kind and scale, in order. A saved model
 * whose fingerprint differs was made for other columns. */
uint64_t recsys__features_fingerprint(void);

/* Fills out[0 .. c->n * RECSYS__NFEAT) with the feature rows of c's candidates for q. One
 * allocation from c->mem (q->model->mem when c->mem is NULL), freed before returning; none
 * when c is empty. RECSYS_E_INVALID_ARG (a NULL argument, with a message); RECSYS_E_NOMEM
 * (out is then unspecified). */
recsys_status recsys__features_compute(const recsys_query *q, const recsys_candidates *c,
                                       float *out);
/* The scratch memory recsys__features_compute_in needs for (q, c), in bytes (0: none).
 * RECSYS_E_NOMEM when it overflows a size_t; RECSYS_E_INVALID_ARG for a NULL argument. */
recsys_status recsys__features_scratch(const recsys_query *q, const recsys_candidates *c,
                                       size_t *bytes);
/* recsys__features_compute into caller scratch (aligned for a double, at least
 * recsys__features_scratch bytes; it allocates nothing). RECSYS_E_INVALID_ARG; RECSYS_E_INTERNAL
 * when scratch is too small. */
recsys_status recsys__features_compute_in(const recsys_query *q, const recsys_candidates *c,
                                          float *out, void *scratch, size_t bytes);

#endif
