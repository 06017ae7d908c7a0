/* tokenize.h - the text tokenizer shared by the BM25 index, the content source, the ranker's
 * interest matching and the grounding of explanations.
 *
 * A token is a maximal run of word bytes: ASCII letters and digits, and every byte >= 0x80
 * (so a UTF-8 multibyte run such as "café" or "日本語" stays one word; the input need not be
 * valid UTF-8, nothing is decoded). ASCII letters are lowercased; everything else splits.
 * A small English stopword list is dropped ("the", "for", "and", ...), and a light plural
 * stemmer maps "laptops" -> "laptop", "batteries" -> "battery", "courses" -> "course" (ASCII
 * endings only). Tokens longer than RECSYS__TOK_MAX - 1 bytes are cut at a UTF-8 boundary.
 *
 * No allocation, no global state: safe on any number of threads. */
#ifndef RECSYS_TEXT_TOKENIZE_H
#define RECSYS_TEXT_TOKENIZE_H
#include "../core/deps.h"

#define RECSYS__TOK_MAX 64

/* A cursor over a NUL-terminated text. */
typedef struct recsys__tok {
    const char *p;
} recsys__tok;

static inline void recsys__tok_init(recsys__tok *t, const char *text)
{
    t->p = text ? text : "";
}

/* Writes the next token (normalised, NUL-terminated) into buf and returns its length; 0 at
 * the end of the text. Stopwords are skipped. */
size_t recsys__tok_next(recsys__tok *t, char buf[RECSYS__TOK_MAX]);

/* Like recsys__tok_next but keeps stopwords (used to compare phrases word for word). */
size_t recsys__tok_next_all(recsys__tok *t, char buf[RECSYS__TOK_MAX]);

/* True when the lowercase word w[0..len) is on the stopword list. */
bool recsys__tok_stopword(const char *w, size_t len);

/* Strips a plural ending in place (ASCII endings, words of 4+ bytes); returns the new length. */
size_t recsys__tok_stem(char *w, size_t len);

/* True when a and b are the same phrase word for word after normalisation (case, punctuation,
 * plurals): "Machine Learning" == "machine-learning" == "machine learnings". Two texts without
 * any word are never equal. */
bool recsys__tok_phrase_eq(const char *a, const char *b);

/* True when the normalised token tok (as produced by recsys__tok_next) occurs in text. */
bool recsys__tok_contains(const char *text, const char *tok);

/* ASCII case-insensitive equality of two NUL-terminated strings (bytes >= 0x80 compare
 * exactly). Locale-independent. */
bool recsys__text_ieq(const char *a, const char *b);

#endif
