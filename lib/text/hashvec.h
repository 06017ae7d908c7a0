/* hashvec.h - hashed text vectors: the vectors the content source falls back to when the
 * host supplies no "text" embeddings (the "hashing trick" of Weinberger et al., ICML 2009,
 * with fastText's character n-grams, Bojanowski et al., TACL 2017).
 *
 * Features. An item's text is its title, tags, category and description, in that order and
 * with BM25's field weights (bm25.h: 3, 3, 2, 1); a free text (a user's stated interests) has
 * weight 1. Every token (tokenize.h: lowercased, stopwords dropped, plurals stemmed) is one
 * feature, and a token of RECSYS__HASHVEC_NGRAM_MIN or more bytes adds its character
 * trigrams with boundary marks ("<as", "ast", ..., "er>" for "astronomer"), each weighted
 * RECSYS__HASHVEC_NGRAM_W times what it would weigh as a token (about the token's weight
 * spread over a word's trigrams), so that words sharing a stem ("astronomer", "astronomy")
 * share most of their features where BM25 sees two unrelated terms. A
 * feature's key is XXH3-64 of its bytes (tokens and trigrams with different seeds). At most
 * RECSYS__HASHVEC_FEATURES distinct features of one text count (the first ones, so the
 * title and tags before a long description); the rest are ignored.
 *
 * Weights. A feature's weight is idf * ln(1 + tf) (times RECSYS__HASHVEC_NGRAM_W for a
 * trigram), tf the sum of the field weights of its occurrences (sublinear, as BM25's
 * saturation) and idf BM25's, ln(1 + (N - df + 0.5) / (df + 0.5)), with N the live
 * items and df the items having the feature when the vocabulary was built (a feature no item
 * had then has df 0). Signed hashing puts it in dimension key mod dim with the sign of the
 * key's top bit; the vector is then L2-normalised, so that inner products are cosines.
 *
 * The vocabulary (document frequencies by key) is built once over the catalog (allocates);
 * vectors are then computed from it without allocation, on any number of threads at once
 * (the vocabulary is immutable). */
#ifndef RECSYS_TEXT_HASHVEC_H
#define RECSYS_TEXT_HASHVEC_H
#include "../model/model.h"

#define RECSYS__HASHVEC_FEATURES 256
#define RECSYS__HASHVEC_NGRAM_MIN 5
#define RECSYS__HASHVEC_NGRAM_W 0.2f
#define RECSYS__HASHVEC_DIM_MAX 1024

typedef struct recsys__hashvec recsys__hashvec;

/* Builds the vocabulary of the live items of c for vectors of dim (1..RECSYS__HASHVEC_DIM_MAX)
 * floats. *out is NULL on failure. Returns RECSYS_OK, RECSYS_E_INVALID_ARG or RECSYS_E_NOMEM. */
recsys_status recsys__hashvec_build(const recsys__mem *m, const recsys__catalog *c, size_t dim,
                                    recsys__hashvec **out);
void recsys__hashvec_free(recsys__hashvec *hv);
size_t recsys__hashvec_dim(const recsys__hashvec *hv);
/* Distinct features in the vocabulary (for tests and stats). */
size_t recsys__hashvec_nfeatures(const recsys__hashvec *hv);

/* Writes the vector of item it (dim floats, unit length) into out; false (out all zeros)
 * when its text has no feature of positive weight. */
bool recsys__hashvec_item(const recsys__hashvec *hv, const recsys_item *it, float *out);
/* The same for a NUL-terminated free text (NULL counts as empty). */
bool recsys__hashvec_text(const recsys__hashvec *hv, const char *text, float *out);

#endif
