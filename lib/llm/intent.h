/* intent.h - a shopper's words become constraints: "a laptop for AI work under $1500" ->
 * category laptop, price < 1500, free-text terms "ai work"; and the constraints become an
 * expression of lib/filter/expr.h's language, so the pipeline filters with the existing rule
 * machinery (one FILTER rule; no second filter engine).
 *
 * Why rules first: the catalog's own facets say what a word can mean (its categories and tags,
 * the names and units of its numeric attributes), so most requests are read without an LLM;
 * the LLM is asked only when the rules leave the request ambiguous (below), and its reply is
 * untrusted input: validated against the schema and the catalog vocabulary, every value
 * mapped to the nearest real one or dropped, never passed through.
 *
 * The rule parser (recsys__intent_parse), over the first RECSYS__INTENT_TEXT_MAX bytes:
 * 1. Lexing: words (ASCII lowercased), numbers ("1500", "1,500", "1.5k", "$1500", "1500$",
 *    "€900", "16GB", "16gb+", "8h"), comparison signs (< <= > >= and the Unicode ≤ ≥).
 * 2. Facets: runs of up to 4 words/numbers are looked up, joined by " ", "-", "_" and
 *    nothing (and with the last word's plural stripped), as a category, a tag, a bool
 *    attribute name of the catalog ("dedicated gpu" -> dedicated_gpu == true), or the value of
 *    a text attribute ("lenovo" -> brand == "Lenovo", "rtx 4060" -> gpu == "RTX 4060").
 *    Longest first; runs that begin or end with a stopword are not looked up. The lookup is
 *    case-insensitive for ASCII letters (the catalog's folded vocabulary, model/fold.h; bytes
 *    >= 0x80 compare as they are: "über" does not find "Über") and the constraint carries the
 *    catalog's own spelling ("iphone" -> "iPhone" in tags), which the filter compares exactly.
 *    Text values: only values some item in the catalog holds now, of at most 4 words, of
 *    text attributes with at most RECSYS__FOLD_VALUES_PER_ATTR (256) distinct values (a
 *    title-like attribute with thousands is never read: a common word that is one title would
 *    be a false constraint; fold.h says why 256); a value two attributes hold ("black" as
 *    color and keyboard) is not read (it stays a term); one value per attribute: a second one
 *    named ("lenovo or dell") keeps the first and makes the request ambiguous. A value the
 *    catalog spells in several cases is written as the spelling most items hold.
 *    A negation right before (no, not, non, without, excluding, except, avoid, never, don't,
 *    "anything but", "other than", "rather than", "instead of", skipping a/an/any/the)
 *    excludes the tag ("without touchscreen"), the category ("not a tablet", "anything but
 *    tablets": category != "tablet"; dropped from the expression when a category is named,
 *    which implies it) or the value ("not lenovo": brand != "Lenovo"; a named value of that
 *    attribute wins over an excluded one), or makes the bool false.
 * 3. Numbers: each number gets an attribute and a comparison.
 *    - Attribute: a currency sign or word ($ € £ usd dollars euros bucks) means the numeric
 *      attribute "price" (or one whose name holds price or cost); a unit (h/hours, gb, tb,
 *      kg, lb, g, in/inch) means the numeric attributes whose name ends in that unit (tb ->
 *      gb x1000, lb -> kg, g -> kg); a label word within 3 words either side ("ram", "battery",
 *      "weight", "screen", and synonyms such as memory -> ram, display -> screen) picks among
 *      them, or picks any numeric attribute whose name holds it when there is no unit; with
 *      neither unit nor label, a "price" attribute. No attribute, or several left: the number
 *      is dropped and the request is ambiguous. Comparative words also name one (cheaper ->
 *      price, lighter/heavier -> weight).
 *    - Comparison: before the number, under/below/less than/cheaper than/lighter than (<),
 *      at most/max/up to/no more than/within (<=), over/above/more than/longer than (>), at
 *      least/min/from/no less than (>=); after it, "+"/or more/and up/minimum (>=), or
 *      less/max/tops (<=); "between X and Y", "from X to Y", "X to Y", "X-Y" (both inclusive).
 *      Without any: a budget reading (<=) for prices and weights, a minimum (>=) for the rest
 *      ("16GB RAM" is at least 16 GB).
 * 4. Terms: the words left that are not fillers (stopwords, "want", "need", "something",
 *    "laptop for" grammar...) are free-text terms, kept for retrieval (the request text).
 *
 * Ambiguous (when the LLM is asked): a number got no attribute, or a term is neither a facet
 * nor a word of the catalog's text (the BM25 index, or the first 4096 items' titles, tags and
 * descriptions when there is no index). In restricted mode (a clarifying answer, below): the
 * answer gave no constraint on the facet, said nothing like "doesn't matter", and has words.
 *
 * Restricted mode (only != NULL): the text answers a question about one facet; only
 * constraints on that facet are read: for a tag or bool attribute, yes/no words (yes, sure,
 * need, please / no, nope, without); for a numeric attribute every number is that attribute,
 * and a bare number picks the question's bucket that holds it; for a text attribute or the
 * category, the facet's listed values named in the answer, and any value of it (or any
 * category, named or negated) the facet lookup above finds. "doesn't matter", "don't care",
 * "any", "no preference" set dont_care.
 *
 * LLM replies (recsys__intent_from_reply): at most RECSYS__INTENT_REPLY_MAX bytes; prose or a
 * code fence around one JSON object is stripped; strict JSON (duplicate keys rejected), the
 * keys of RECSYS__INTENT_SCHEMA only, each of its type: otherwise RECSYS_E_INVALID_ARG and the
 * caller rejects the reply (recsys__llm_reject) and keeps the rules' reading. Values: a
 * category, tag or attribute name is mapped to the nearest of the catalog's (after
 * normalising case and separators: equal, else edit distance <= 1 for up to 5 bytes, 2 up to
 * 10, 3 beyond) or dropped; ranges need a finite min or max with min <= max; equals need a
 * bool attribute and a bool, or (restricted to a text facet) a string mapped to one of the
 * facet's values; terms are kept only when they are words of the user's text; in restricted
 * mode everything but the facet is dropped. Lists are capped at RECSYS__INTENT_LIST_MAX.
 *
 * Prompts: the versioned template "intent/1" (prompt.h's recsys__llm_template; clarify.c has
 * "clarify/1"): the catalog vocabulary (at most 64 categories, 256 tags, 64 attribute names)
 * and the user's text inside the data block, quoted with recsys__llm_quote.
 *
 * Cost: the parse is O(w) hash lookups for w words (at most 4 x 4 x 2 runs per word, each a
 * few probes: the facets as written, then the folded vocabulary, whose value lookups walk
 * the entries of one folded value), plus one pass over the catalog's attribute names
 * (skipped beyond 4096 names); nothing in it grows with the number of items or of distinct
 * values (the folded vocabulary is kept by the catalog as items are put); the ambiguity
 * check is one BM25 term lookup per term; reading a reply is O(reply + v x V) for v values against a
 * vocabulary of V facets (categories and tags, scanned from the interned facets).
 * Thread-safety: reads the catalog only (caller holds the engine lock shared); no global state.
 */
#ifndef RECSYS_LLM_INTENT_H
#define RECSYS_LLM_INTENT_H
#include "../model/model.h"
#include "guard.h"

#define RECSYS__INTENT_TEXT_MAX 4096    /* bytes of a text the rules read */
#define RECSYS__INTENT_LIST_MAX 32      /* attribute constraints, tags, excluded tags, terms */
#define RECSYS__INTENT_REPLY_MAX 16384  /* bytes of an LLM reply read */
#define RECSYS__INTENT_VALUE_MAX 256    /* longest category, tag or value ever matched */

/* The schema the LLM's reply follows (sent with the call). */
extern const char *const RECSYS__INTENT_SCHEMA;

/* ------------------------------------------------------------ facets */

enum { RECSYS__FACET_CATEGORY = 1, RECSYS__FACET_TAG = 2, RECSYS__FACET_ATTR = 3 };

/* One facet of the catalog (what a clarifying question asks about). */
typedef struct recsys__facet {
    int32_t kind;   /* RECSYS__FACET_*; 0 = none */
    char *name;     /* TAG: the tag; ATTR: the attribute; CATEGORY: NULL */
    int32_t type;   /* ATTR: recsys__attr_type */
    char **values;  /* CATEGORY and text ATTR: the candidates' most common values (at most 3) */
    size_t nvalues;
    double cuts[2]; /* NUM: the question's buckets: < cuts[0], [cuts[0], cuts[1]), >= cuts[1] */
    size_t ncuts;
    double gain;    /* expected information gain in bits (clarify.h) */
} recsys__facet;

void recsys__facet_free(const recsys__mem *m, recsys__facet *f);
recsys_status recsys__facet_copy(const recsys__mem *m, const recsys__facet *src,
                                 recsys__facet *dst);
/* The facet's public name: "category", "tag:<tag>", or the attribute's name (owned by m). */
recsys_status recsys__facet_key(const recsys__mem *m, const recsys__facet *f, char **out);

/* ------------------------------------------------------------ constraints */

/* One constraint on a custom attribute. */
typedef struct recsys__intent_attr {
    char *name;
    int32_t type;             /* NUM: a range; BOOL, STR: (in)equality */
    double lo, hi;            /* NUM: -INFINITY / INFINITY when open */
    bool lo_strict, hi_strict;
    bool bval;                /* BOOL */
    char *sval;               /* STR */
    bool negate;              /* BOOL, STR: "not equal" */
} recsys__intent_attr;

typedef struct recsys__intent {
    char *category;                               /* or NULL */
    char *xcats[RECSYS__INTENT_LIST_MAX];          /* excluded ("not a tablet"), never category */
    size_t nxcats;
    recsys__intent_attr attrs[RECSYS__INTENT_LIST_MAX];
    size_t nattrs;
    char *tags[RECSYS__INTENT_LIST_MAX];           /* required */
    size_t ntags;
    char *xtags[RECSYS__INTENT_LIST_MAX];          /* excluded */
    size_t nxtags;
    char *terms[RECSYS__INTENT_LIST_MAX];          /* free text, lowercase */
    size_t nterms;
    bool ambiguous; /* the rules could not read everything (see above) */
    bool dont_care; /* restricted: the answer said the facet does not matter */
    bool llm;       /* an LLM reply contributed */
} recsys__intent;

void recsys__intent_init(recsys__intent *in);
void recsys__intent_free(const recsys__mem *m, recsys__intent *in);
/* True when in holds no constraint (terms do not count). */
bool recsys__intent_empty(const recsys__intent *in);
/* True when in constrains facet f. */
bool recsys__intent_has_facet(const recsys__intent *in, const recsys__facet *f);
recsys_status recsys__intent_copy(const recsys__mem *m, const recsys__intent *src,
                                  recsys__intent *dst);
/* Adds src's constraints to dst; a facet src constrains replaces dst's (a numeric bound src
 * sets replaces that bound, and dst's other bound stays unless it contradicts; a required tag
 * is no longer excluded and the reverse); terms are appended (distinct, capped). On failure
 * (NOMEM) dst is unchanged. */
recsys_status recsys__intent_merge(const recsys__mem *m, recsys__intent *dst,
                                   const recsys__intent *src);

/* ------------------------------------------------------------ reading */

/* The rule parser (see above) over text (NULL = ""), restricted to only when not NULL.
 * *out is initialised here; freed with recsys__intent_free on success, empty on failure.
 * RECSYS_OK or RECSYS_E_NOMEM. */
recsys_status recsys__intent_parse(const recsys__mem *m, const recsys__catalog *c,
                                   const char *text, const recsys__facet *only,
                                   recsys__intent *out);
/* Marks in->ambiguous when a term is neither a facet nor a word of the catalog's text: bm25
 * is the engine's text index (a recsys__bm25, NULL when not built). RECSYS_E_NOMEM. */
recsys_status recsys__intent_check_terms(const recsys__mem *m, const recsys__catalog *c,
                                         const void *bm25, recsys__intent *in);
/* Reads an LLM reply (see above) into *out. RECSYS_E_INVALID_ARG (malformed: the message
 * says why), RECSYS_E_NOMEM. text is the user's text (terms must be its words). */
recsys_status recsys__intent_from_reply(const recsys__mem *m, const recsys__catalog *c,
                                        const char *reply, size_t len, const char *text,
                                        const recsys__facet *only, recsys__intent *out);
/* The value of vocab[0..n) nearest to value (the rule above), or -1. */
long recsys__intent_nearest(const char *value, const char *const *vocab, size_t n);

/* How to reach the LLM (all NULL / 0: no LLM). The budget is budget, or when that is NULL
 * the one get_budget(budget_arg) returns, asked only at the first LLM use (the pipeline's
 * request budget starts its deadline then). */
typedef struct recsys__intent_llm {
    recsys__llm_guard *guard;
    const recsys_llm_vtable *vt;
    const double *opt;
    recsys__llm_budget *budget;
    recsys__llm_budget *(*get_budget)(void *arg);
    void *budget_arg;
    const void *bm25; /* the text index for the ambiguity check, or NULL */
} recsys__intent_llm;

/* The budget of llm (see above), or NULL when there is none. */
recsys__llm_budget *recsys__intent_llm_budget(const recsys__intent_llm *llm);

/* Rules, then (when ambiguous and llm->vt is set) the LLM through the guard: a reply that
 * cannot be used is rejected (recsys__llm_reject) and the rules' reading stands; a usable
 * one fills what the rules left open. Only RECSYS_E_NOMEM fails. The ask may let go of the
 * caller's lock (guard.h, recsys__llm_unlock): llm->bm25 is read only before it, c (a struct
 * the caller keeps in place) is read again after it. */
recsys_status recsys__intent_understand(const recsys__mem *m, const recsys__catalog *c,
                                        const char *text, const recsys__facet *only,
                                        const recsys__intent_llm *llm, recsys__intent *out);

/* ------------------------------------------------------------ writing */

/* The constraints as an expression (expr.h): category == "..", category != ".." (each
 * excluded category, when no category is named), attr("x") >= n, attr("b") == true,
 * attr("s") == "..", !(attr("s") == ".."), "t" in tags, "t" not in tags, joined by &&; every
 * name and value a JSON-escaped string literal (a quote or backslash in a value cannot break
 * out of it). *out NULL when there is no constraint; else NUL-terminated, allocated with m.
 * RECSYS_E_NOMEM. */
recsys_status recsys__intent_expr(const recsys__mem *m, const recsys__intent *in, char **out);
/* The constraints as JSON: {"category":..,"exclude_categories":[..],"ranges":[{"attribute",
 * "min","min_inclusive","max","max_inclusive"}],"equals":[{"attribute","value","negate"}],
 * "require_tags":[..],"exclude_tags":[..],"terms":[..],"expression":".."} (every excluded
 * category is listed, also one a required category implies, which the expression leaves out:
 * the shape is recsys_conversation_constraints_json's, documented in recsys.h). host: a
 * string for recsys_string_free. */
recsys_status recsys__intent_json(const recsys__mem *m, const recsys__intent *in, bool host,
                                  char **out, size_t *len);

/* ------------------------------------------------------------ the pipeline's stage 1 */

/* When q->text is set and RECSYS_OPT_LLM_INTENT is on: understands the text (rules; the LLM
 * vt, NULL when none, when ambiguous and the request's LLM budget allows: get_budget(arg),
 * asked only then, is the request's one budget; g the engine's guard) and sets *expr to the
 * constraints' filter expression (lib/filter/expr.h; allocated with m), or NULL when nothing
 * was understood. The pipeline turns it into one FILTER rule of the request. On a plain
 * request the tags the text names are not required (they rank, through the search source
 * reading the same text); the category and excluded categories, ranges, bool attributes,
 * text values (named or excluded) and excluded tags filter. A
 * conversation requires them (the shopper commits to them turn by turn). Read-only on q.
 * Only RECSYS_E_NOMEM fails. */
recsys_status recsys__intent_query_expr(const recsys__mem *m, recsys__llm_guard *g,
                                        const recsys_query *q, const recsys_llm_vtable *vt,
                                        recsys__llm_budget *(*get_budget)(void *arg),
                                        void *arg, char **expr);

#endif
