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
 * searched with the text they had at build time, until the next recsys_refresh(). */
#ifndef RECSYS_TEXT_BM25_H
#define RECSYS_TEXT_BM25_H
#include "../model/model.h"

typedef struct recsys__bm25 recsys__bm25;

/* Field weights (exposed for tests and explanations). */
#define RECSYS__BM25_W_TITLE 3.0f
#define RECSYS__BM25_W_TAG 3.0f
#define RECSYS__BM25_W_CATEGORY 2.0f
#define RECSYS__BM25_W_DESCRIPTION 1.0f

/* Builds the index over the live items of c with parameters k1 (>= 0) and b (0..1).
 * *out is NULL on failure. Returns RECSYS_OK, RECSYS_E_INVALID_ARG or RECSYS_E_NOMEM. */
recsys_status recsys__bm25_build(const recsys__mem *m, const recsys__catalog *c, double k1,
                                 double b, recsys__bm25 **out);
/* The same search with the accumulator chosen by mode: 0 = by size (what
 * recsys__bm25_search does), 1 = a dense array, 2 = a map (tests compare the two). */
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
