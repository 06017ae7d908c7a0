/* bm25.h - an inverted index over the catalog's text, scored with BM25.
 *
 * Documents are catalog items; each item's title, tags, category and description are
 * tokenized (tokenize.h) and weighted per field (title and tags 3, category 2, description 1:
 * a term's frequency in a document is the sum of the weights of its occurrences, and the
 * document length the sum over all its terms), the "weighted term frequency" form of BM25F.
 * idf = ln(1 + (N - df + 0.5) / (df + 0.5)), which is never negative.
 *
 * The index is immutable after build and read by many threads at once. It keeps a pointer to
 * the catalog it was built from (which lives as long as the engine): a search skips items
 * removed since the build (NULL catalog slots). Items added or replaced since the build are
 * searched with the text they had at build time, until the next recsys_refresh().
 *
 * Long queries over a large catalog. A search reads every posting of its terms while their
 * total stays within the index's postings budget (RECSYS__BM25_POSTINGS_BUDGET): the answer is
 * then exact. Beyond it, each term reads only its `per` best postings, per = max(budget /
 * terms, floor) with floor = RECSYS__BM25_IMPACT_FLOOR (capped at the budget), from an impact
 * list built with the index (the term's best min(df, budget) postings by score, best first,
 * ties by item index); terms with no more than `per` postings are still read whole. This is
 * the champion-list approximation of Manning, Raghavan & Schuetze (IR, 7.1.3): a document
 * outside a long term's best `per` gets no score from that term, so the answer is the exact
 * one for single-term queries and close to it otherwise, at a cost bounded by about the
 * budget instead of the catalog (a profile query at a million items read ~100k postings).
 * The impact lists cost at most budget entries per term with more than floor postings. */
#ifndef RECSYS_TEXT_BM25_H
#define RECSYS_TEXT_BM25_H
#include "../model/model.h"

typedef struct recsys__bm25 recsys__bm25;

/* Field weights (exposed for tests and explanations). */
#define RECSYS__BM25_W_TITLE 3.0f
#define RECSYS__BM25_W_TAG 3.0f
#define RECSYS__BM25_W_CATEGORY 2.0f
#define RECSYS__BM25_W_DESCRIPTION 1.0f

#define RECSYS__BM25_POSTINGS_BUDGET 8192
#define RECSYS__BM25_IMPACT_FLOOR 256

/* Builds the index over the live items of c with parameters k1 (>= 0) and b (0..1).
 * *out is NULL on failure. Returns RECSYS_OK, RECSYS_E_INVALID_ARG or RECSYS_E_NOMEM. */
recsys_status recsys__bm25_build(const recsys__mem *m, const recsys__catalog *c, double k1,
                                 double b, recsys__bm25 **out);
/* The same with another postings budget (1..UINT32_MAX; tests use small ones). */
recsys_status recsys__bm25_build_budget(const recsys__mem *m, const recsys__catalog *c,
                                        double k1, double b, size_t budget, recsys__bm25 **out);
/* The same search with the accumulator chosen by mode: 0 = by size, within the postings
 * budget (what recsys__bm25_search does), 1 = a dense array, 2 = a map; modes 1 and 2 read
 * every posting (exact; tests compare them). */
recsys_status recsys__bm25_search_mode(const recsys__bm25 *ix, const char *text, size_t limit,
                                       const recsys__mem *m, int mode, uint32_t **items,
                                       float **scores, size_t *n);
void recsys__bm25_free(recsys__bm25 *ix);

/* The refresh builder of the text index (slot RECSYS__DERIVED_BM25, read by "content"). */
struct recsys__builder;
extern const struct recsys__builder recsys__bm25_builder;

/* Scores the live items against text and returns the best limit of them with a positive
 * score, sorted by score descending then item index ascending. *items and *scores are
 * allocated with m (the caller frees both with recsys__free; NULL when *n == 0).
 * Thread-safe on one index. Returns RECSYS_OK, RECSYS_E_INVALID_ARG or RECSYS_E_NOMEM. */
recsys_status recsys__bm25_search(const recsys__bm25 *ix, const char *text, size_t limit,
                                  const recsys__mem *m, uint32_t **items, float **scores,
                                  size_t *n);

/* Number of documents indexed and of distinct terms (for tests and stats). */
size_t recsys__bm25_ndocs(const recsys__bm25 *ix);
size_t recsys__bm25_nterms(const recsys__bm25 *ix);

#endif
