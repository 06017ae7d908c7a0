/* intent.c - query understanding: the rule parser, the LLM fallback and its validation, the
 * constraints' expression and JSON, and the pipeline's stage 1 hook (see intent.h). */
#include "intent.h"
#include "prompt.h"
#include "../core/error.h"
#include "../core/options.h"
#include "../core/utf8.h"
#include "../model/derived.h"
#include "../model/context.h"
#include "../model/json_read.h"
#include "../model/json_write.h"
#include "../text/bm25.h"
#include "../text/tokenize.h"

#define INTENT_SCHEMA \
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{" \
    "\"category\":{\"type\":[\"string\",\"null\"]}," \
    "\"ranges\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"additionalProperties\":" \
    "false,\"required\":[\"attribute\"],\"properties\":{\"attribute\":{\"type\":\"string\"}," \
    "\"min\":{\"type\":\"number\"},\"max\":{\"type\":\"number\"}}}}," \
    "\"equals\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"additionalProperties\":" \
    "false,\"required\":[\"attribute\",\"value\"],\"properties\":{\"attribute\":{\"type\":" \
    "\"string\"},\"value\":{\"type\":[\"boolean\",\"string\"]},\"negate\":{\"type\":" \
    "\"boolean\"}}}}," \
    "\"require_tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}," \
    "\"exclude_tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}," \
    "\"terms\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}"

const char *const RECSYS__INTENT_SCHEMA = INTENT_SCHEMA;

/* The versioned template (prompt.h): change the version with the wording or the schema. */
static const recsys__llm_template TPL = {
    .version = "intent/1",
    .task = RECSYS_LLM_INTENT,
    .system =
        "You read a shopper's request and turn it into search constraints over one catalog. "
        RECSYS__LLM_DATA_RULE
        " Use only the categories, tags and attribute names listed in the vocabulary; leave out "
        "anything you cannot map to them. Reply with one JSON object and nothing else: "
        "{\"category\":\"...\"|null,\"ranges\":[{\"attribute\":\"...\",\"min\":n,\"max\":n}],"
        "\"equals\":[{\"attribute\":\"...\",\"value\":true}],\"require_tags\":[\"...\"],"
        "\"exclude_tags\":[\"...\"],\"terms\":[\"words of the query left over\"]}.",
    .instruction = "Read the shopper's query as constraints over the catalog's vocabulary.",
    .schema = INTENT_SCHEMA,
    .max_tokens = 300,
    .temperature = 0.0,
};

/* ============================================================ facets */

void recsys__facet_free(const recsys__mem *m, recsys__facet *f)
{
    if (!f)
        return;
    recsys__free(m, f->name);
    for (size_t i = 0; i < f->nvalues; i++)
        recsys__free(m, f->values[i]);
    recsys__free(m, f->values);
    memset(f, 0, sizeof *f);
}

recsys_status recsys__facet_copy(const recsys__mem *m, const recsys__facet *src,
                                 recsys__facet *dst)
{
    recsys__facet f = *src;
    f.name = NULL;
    f.values = NULL;
    f.nvalues = 0;
    if (src->name && !(f.name = recsys__strdup(m, src->name)))
        return RECSYS_E_NOMEM;
    if (src->nvalues && !(f.values = recsys__calloc(m, src->nvalues, sizeof *f.values))) {
        recsys__facet_free(m, &f);
        return RECSYS_E_NOMEM;
    }
    for (size_t i = 0; i < src->nvalues; i++) {
        if (!(f.values[i] = recsys__strdup(m, src->values[i]))) {
            recsys__facet_free(m, &f);
            return RECSYS_E_NOMEM;
        }
        f.nvalues++;
    }
    *dst = f;
    return RECSYS_OK;
}

recsys_status recsys__facet_key(const recsys__mem *m, const recsys__facet *f, char **out)
{
    char buf[RECSYS__INTENT_VALUE_MAX + 8];
    if (f->kind == RECSYS__FACET_CATEGORY)
        snprintf(buf, sizeof buf, "category");
    else if (f->kind == RECSYS__FACET_TAG)
        snprintf(buf, sizeof buf, "tag:%s", f->name ? f->name : "");
    else
        snprintf(buf, sizeof buf, "%s", f->name ? f->name : "");
    *out = recsys__strdup(m, buf);
    return *out ? RECSYS_OK : RECSYS_E_NOMEM;
}

/* ============================================================ constraints */

void recsys__intent_init(recsys__intent *in)
{
    memset(in, 0, sizeof *in);
}

static void attr_free(const recsys__mem *m, recsys__intent_attr *a)
{
    recsys__free(m, a->name);
    recsys__free(m, a->sval);
    memset(a, 0, sizeof *a);
}

void recsys__intent_free(const recsys__mem *m, recsys__intent *in)
{
    if (!in)
        return;
    recsys__free(m, in->category);
    for (size_t i = 0; i < in->nxcats; i++)
        recsys__free(m, in->xcats[i]);
    for (size_t i = 0; i < in->nattrs; i++)
        attr_free(m, &in->attrs[i]);
    for (size_t i = 0; i < in->ntags; i++)
        recsys__free(m, in->tags[i]);
    for (size_t i = 0; i < in->nxtags; i++)
        recsys__free(m, in->xtags[i]);
    for (size_t i = 0; i < in->nterms; i++)
        recsys__free(m, in->terms[i]);
    recsys__intent_init(in);
}

bool recsys__intent_empty(const recsys__intent *in)
{
    return !in->category && !in->nxcats && !in->nattrs && !in->ntags && !in->nxtags;
}

static size_t find_str(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], s))
            return i;
    return SIZE_MAX;
}

static size_t find_attr(const recsys__intent *in, const char *name)
{
    for (size_t i = 0; i < in->nattrs; i++)
        if (!strcmp(in->attrs[i].name, name))
            return i;
    return SIZE_MAX;
}

bool recsys__intent_has_facet(const recsys__intent *in, const recsys__facet *f)
{
    switch (f->kind) {
    case RECSYS__FACET_CATEGORY: return in->category != NULL || in->nxcats > 0;
    case RECSYS__FACET_TAG:
        return f->name && (find_str(in->tags, in->ntags, f->name) != SIZE_MAX ||
                           find_str(in->xtags, in->nxtags, f->name) != SIZE_MAX);
    case RECSYS__FACET_ATTR: return f->name && find_attr(in, f->name) != SIZE_MAX;
    default: return false;
    }
}

/* Appends a copy of s to v unless present or full. */
static recsys_status add_str(const recsys__mem *m, char **v, size_t *n, const char *s)
{
    if (find_str(v, *n, s) != SIZE_MAX || *n >= RECSYS__INTENT_LIST_MAX)
        return RECSYS_OK;
    if (!(v[*n] = recsys__strdup(m, s)))
        return RECSYS_E_NOMEM;
    (*n)++;
    return RECSYS_OK;
}

static void del_str(const recsys__mem *m, char **v, size_t *n, const char *s)
{
    size_t i = find_str(v, *n, s);
    if (i == SIZE_MAX)
        return;
    recsys__free(m, v[i]);
    memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof *v);
    (*n)--;
}

static recsys_status attr_copy(const recsys__mem *m, const recsys__intent_attr *s,
                               recsys__intent_attr *d)
{
    *d = *s;
    d->name = recsys__strdup(m, s->name);
    d->sval = s->sval ? recsys__strdup(m, s->sval) : NULL;
    if (!d->name || (s->sval && !d->sval)) {
        attr_free(m, d);
        return RECSYS_E_NOMEM;
    }
    return RECSYS_OK;
}

recsys_status recsys__intent_copy(const recsys__mem *m, const recsys__intent *src,
                                  recsys__intent *dst)
{
    recsys__intent t;
    recsys__intent_init(&t);
    t.ambiguous = src->ambiguous;
    t.dont_care = src->dont_care;
    t.llm = src->llm;
    recsys_status st = RECSYS_OK;
    if (src->category && !(t.category = recsys__strdup(m, src->category)))
        st = RECSYS_E_NOMEM;
    for (size_t i = 0; st == RECSYS_OK && i < src->nxcats; i++)
        st = add_str(m, t.xcats, &t.nxcats, src->xcats[i]);
    for (size_t i = 0; st == RECSYS_OK && i < src->nattrs; i++)
        if ((st = attr_copy(m, &src->attrs[i], &t.attrs[i])) == RECSYS_OK)
            t.nattrs++;
    for (size_t i = 0; st == RECSYS_OK && i < src->ntags; i++)
        st = add_str(m, t.tags, &t.ntags, src->tags[i]);
    for (size_t i = 0; st == RECSYS_OK && i < src->nxtags; i++)
        st = add_str(m, t.xtags, &t.nxtags, src->xtags[i]);
    for (size_t i = 0; st == RECSYS_OK && i < src->nterms; i++)
        st = add_str(m, t.terms, &t.nterms, src->terms[i]);
    if (st != RECSYS_OK) {
        recsys__intent_free(m, &t);
        return st;
    }
    *dst = t;
    return RECSYS_OK;
}

/* True when the range [lo, hi] (with strictness) holds no number. */
static bool range_empty(const recsys__intent_attr *a)
{
    return a->lo > a->hi || (a->lo == a->hi && (a->lo_strict || a->hi_strict));
}

/* Applies constraint s onto d (same attribute). */
static recsys_status attr_merge(const recsys__mem *m, recsys__intent_attr *d,
                                const recsys__intent_attr *s)
{
    if (d->type == RECSYS__ATTR_NUM && s->type == RECSYS__ATTR_NUM) {
        recsys__intent_attr t = *d;
        if (s->lo > -INFINITY) {
            t.lo = s->lo;
            t.lo_strict = s->lo_strict;
        }
        if (s->hi < INFINITY) {
            t.hi = s->hi;
            t.hi_strict = s->hi_strict;
        }
        if (range_empty(&t)) { /* the new word contradicts the old: the new one wins */
            t.lo = s->lo;
            t.lo_strict = s->lo_strict;
            t.hi = s->hi;
            t.hi_strict = s->hi_strict;
        }
        *d = t;
        return RECSYS_OK;
    }
    recsys__intent_attr n;
    RECSYS_TRY(attr_copy(m, s, &n));
    attr_free(m, d);
    *d = n;
    return RECSYS_OK;
}

recsys_status recsys__intent_merge(const recsys__mem *m, recsys__intent *dst,
                                   const recsys__intent *src)
{
    recsys__intent t; /* built aside: dst is unchanged on failure */
    RECSYS_TRY(recsys__intent_copy(m, dst, &t));
    recsys_status st = RECSYS_OK;
    if (src->category) {
        char *c = recsys__strdup(m, src->category);
        if (!c)
            st = RECSYS_E_NOMEM;
        else {
            recsys__free(m, t.category);
            t.category = c;
            del_str(m, t.xcats, &t.nxcats, c);
        }
    }
    for (size_t i = 0; st == RECSYS_OK && i < src->nxcats; i++) {
        if (t.category && !strcmp(t.category, src->xcats[i])) {
            if (src->category && !strcmp(src->category, src->xcats[i]))
                continue; /* src names it and excludes it: its naming wins (as in a parse) */
            recsys__free(m, t.category); /* "not a laptop" after "a laptop" */
            t.category = NULL;
        }
        st = add_str(m, t.xcats, &t.nxcats, src->xcats[i]);
    }
    for (size_t i = 0; st == RECSYS_OK && i < src->nattrs; i++) {
        size_t at = find_attr(&t, src->attrs[i].name);
        if (at != SIZE_MAX)
            st = attr_merge(m, &t.attrs[at], &src->attrs[i]);
        else if (t.nattrs < RECSYS__INTENT_LIST_MAX &&
                 (st = attr_copy(m, &src->attrs[i], &t.attrs[t.nattrs])) == RECSYS_OK)
            t.nattrs++;
    }
    for (size_t i = 0; st == RECSYS_OK && i < src->ntags; i++) {
        del_str(m, t.xtags, &t.nxtags, src->tags[i]);
        st = add_str(m, t.tags, &t.ntags, src->tags[i]);
    }
    for (size_t i = 0; st == RECSYS_OK && i < src->nxtags; i++) {
        del_str(m, t.tags, &t.ntags, src->xtags[i]);
        st = add_str(m, t.xtags, &t.nxtags, src->xtags[i]);
    }
    for (size_t i = 0; st == RECSYS_OK && i < src->nterms; i++)
        st = add_str(m, t.terms, &t.nterms, src->terms[i]);
    if (st != RECSYS_OK) {
        recsys__intent_free(m, &t);
        return st;
    }
    t.ambiguous |= src->ambiguous;
    t.llm |= src->llm;
    t.dont_care |= src->dont_care;
    recsys__intent_free(m, dst);
    *dst = t;
    return RECSYS_OK;
}

/* ============================================================ word lists */

static bool in_list(const char *w, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(w, list[i]))
            return true;
    return false;
}
#define IN(w, list) in_list((w), (list), RECSYS_ARRAY_LEN(list))

static const char *const NEGATIONS[] = { "no", "not", "non", "without", "excluding", "except",
                                         "avoid", "never", "don't", "dont", "nothing",
                                         "exclude", "isn't", "shouldn't", "mustn't" };
static const char *const ARTICLES[] = { "a", "an", "any", "the", "some" };
static const char *const YES[] = { "yes", "yeah", "yep", "yup", "sure", "definitely",
                                   "absolutely", "please", "ok", "okay", "need", "must",
                                   "want", "required", "y", "course", "do", "would",
                                   "important", "essential", "necessary", "indeed" };
static const char *const NO[] = { "no", "nope", "nah", "not", "don't", "dont", "never",
                                  "without", "n", "neither", "none", "doesn't", "doesnt",
                                  "nothing", "skip" };
static const char *const CARELESS[] = { "any", "anything", "either", "whatever", "whichever",
                                        "indifferent", "unimportant", "irrelevant" };
static const char *const CARE_NOUNS[] = { "matter", "matters", "care", "preference",
                                          "important", "mind", "fussed", "bothered" };
static const char *const FILLERS[] = {
    "want", "wants", "need", "needs", "looking", "look", "find", "show", "get", "buy",
    "buying", "recommend", "recommendation", "suggest", "something", "thing", "one", "ones",
    "good", "great", "best", "nice", "please", "would", "like", "could", "should", "really",
    "very", "just", "also", "any", "anything", "around", "approximately", "roughly",
    "ideally", "preferably", "maybe", "hi", "hello", "hey", "thanks", "thank", "yes", "yeah",
    "ok", "okay", "sure", "i'm", "im", "i'd", "it's", "much", "many", "lot", "lots", "kind",
    "sort", "type", "use", "using", "go", "going", "do", "make", "got", "has", "had",
    "able", "enough", "well", "quite", "pretty", "too", "still", "life", "less", "more",
    "least", "most", "max", "maximum", "min", "minimum", "between", "up", "within", "under",
    "over", "below", "above", "cheaper", "lighter", "heavier", "greater", "bigger", "larger",
    "longer", "higher", "lower", "fewer", "smaller", "shorter", "starting", "tops", "plus",
    "priced", "costing", "weighing", "usd", "dollar", "dollars", "buck", "bucks", "euro",
    "euros", "eur", "gbp", "pounds", "hours", "hour", "hrs", "gb", "kg", "and", "or",
    "either", "whatever", "definitely", "absolutely", "nope", "nah", "yep", "don't", "dont",
    "excluding", "except", "avoid", "never", "non", "without", "important", "matter",
    "matters", "care", "preference", "mind", "budget", "cost", "costs", "price", "prices" };

static const char *const LT_WORDS[] = { "under", "below", "beneath", "less", "fewer", "cheaper",
                                        "lighter", "smaller", "shorter", "lower", "<" };
static const char *const GT_WORDS[] = { "over", "above", "exceeding", "more", "greater",
                                        "bigger", "larger", "longer", "heavier", "higher",
                                        "beyond", "pricier", ">" };
static const char *const AFTER_GE[] = { "more", "higher", "above", "greater", "better", "up",
                                        "over", "plus", "minimum", "min" };
static const char *const AFTER_LE[] = { "less", "lower", "under", "below", "fewer", "max",
                                        "maximum", "tops", "cheaper" };

/* A unit word -> its canonical unit ("$" for currency words), or NULL. */
static const char *unit_of(const char *w)
{
    static const struct { const char *w, *u; } T[] = {
        { "h", "h" },    { "hr", "h" },     { "hrs", "h" },      { "hour", "h" },
        { "hours", "h" }, { "gb", "gb" },   { "gig", "gb" },     { "gigs", "gb" },
        { "gigabyte", "gb" }, { "gigabytes", "gb" }, { "tb", "tb" }, { "terabyte", "tb" },
        { "terabytes", "tb" }, { "kg", "kg" }, { "kgs", "kg" },   { "kilo", "kg" },
        { "kilos", "kg" }, { "kilogram", "kg" }, { "kilograms", "kg" }, { "lb", "lb" },
        { "lbs", "lb" },  { "pound", "lb" }, { "pounds", "lb" }, { "g", "g" },
        { "gram", "g" },  { "grams", "g" },  { "in", "in" },     { "inch", "in" },
        { "inches", "in" }, { "usd", "$" },  { "dollar", "$" },  { "dollars", "$" },
        { "buck", "$" },  { "bucks", "$" },  { "eur", "$" },     { "euro", "$" },
        { "euros", "$" }, { "gbp", "$" },
    };
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(T); i++)
        if (!strcmp(w, T[i].w))
            return T[i].u;
    return NULL;
}

/* Factor from unit `from` to unit `to`, or 0 when they do not convert. */
static double unit_factor(const char *from, const char *to)
{
    if (!strcmp(from, to))
        return 1;
    if (!strcmp(from, "tb") && !strcmp(to, "gb"))
        return 1000;
    if (!strcmp(from, "gb") && !strcmp(to, "tb"))
        return 0.001;
    if (!strcmp(from, "lb") && !strcmp(to, "kg"))
        return 0.45359237;
    if (!strcmp(from, "kg") && !strcmp(to, "lb"))
        return 1 / 0.45359237;
    if (!strcmp(from, "g") && !strcmp(to, "kg"))
        return 0.001;
    return 0;
}

/* A label word's canonical form (plural stripped, synonyms folded) into out. */
static void label_of(const char *w, char out[64])
{
    static const struct { const char *w, *l; } SYN[] = {
        { "memory", "ram" },     { "display", "screen" }, { "runtime", "battery" },
        { "weigh", "weight" },   { "weighs", "weight" },  { "weighing", "weight" },
        { "cost", "price" },     { "costs", "price" },    { "priced", "price" },
        { "budget", "price" },   { "costing", "price" },  { "cheaper", "price" },
        { "pricier", "price" },  { "expensive", "price" }, { "cheap", "price" },
        { "lighter", "weight" }, { "heavier", "weight" }, { "ssd", "storage" },
        { "disk", "storage" },   { "drive", "storage" },  { "rated", "rating" },
        { "stars", "rating" },   { "star", "rating" },    { "graphics", "gpu" },
    };
    snprintf(out, 64, "%s", w);
    out[recsys__tok_stem(out, strlen(out))] = '\0';
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(SYN); i++)
        if (!strcmp(w, SYN[i].w) || !strcmp(out, SYN[i].w)) {
            snprintf(out, 64, "%s", SYN[i].l);
            return;
        }
}

/* ============================================================ lexing */

enum { T_WORD = 1, T_NUM, T_SYM, T_BREAK };
#define TOK_MAX 512
#define WORD_MAX 64

typedef struct tok {
    int kind;
    char w[WORD_MAX]; /* WORD: lowercase; NUM: as written (lowercase); SYM: < <= > >= - + */
    double num;
    char unit[4];     /* NUM: canonical unit ("$" for a currency word) */
    bool cur, plus, used;
} tok;

typedef struct lexed {
    tok *v;
    size_t n, cap;
} lexed;

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}
static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static tok *push(lexed *L, int kind)
{
    if (L->n >= L->cap)
        return NULL;
    tok *t = &L->v[L->n++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    return t;
}

/* Copies s[0..n) lowercased into dst (cap WORD_MAX, cut at a UTF-8 boundary). */
static void copy_word(char dst[WORD_MAX], const char *s, size_t n)
{
    if (n > WORD_MAX - 1) {
        n = WORD_MAX - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++)
        dst[i] = lower(s[i]);
    dst[n] = '\0';
}

/* Reads a word run at s[i..len): letters, digits, bytes >= 0x80 (but not the signs lexed
 * apart) and an apostrophe between letters. Returns its end. */
static size_t word_end(const char *s, size_t i, size_t len)
{
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (is_alpha(c) || is_digit(c))
            i++;
        else if (c >= 0x80) {
            if (i + 2 < len && c == 0xE2 &&
                (((unsigned char)s[i + 1] == 0x82 && (unsigned char)s[i + 2] == 0xAC) ||
                 ((unsigned char)s[i + 1] == 0x89 &&
                  ((unsigned char)s[i + 2] == 0xA4 || (unsigned char)s[i + 2] == 0xA5))))
                break;
            if (i + 1 < len && c == 0xC2 && (unsigned char)s[i + 1] == 0xA3)
                break;
            if (i + 2 < len && c == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
                (unsigned char)s[i + 2] == 0x99) { /* ’ inside a word: don’t */
                i += 3;
                continue;
            }
            i++;
        } else if (c == '\'' && i + 1 < len && is_alpha((unsigned char)s[i + 1]) && i > 0 &&
                   is_alpha((unsigned char)s[i - 1]))
            i++;
        else
            break;
    }
    return i;
}

static void lex_word(lexed *L, const char *s, size_t b, size_t e)
{
    tok *t = push(L, T_WORD);
    if (!t)
        return;
    /* fold the typographic apostrophe to ' */
    char tmp[WORD_MAX * 2];
    size_t k = 0;
    for (size_t i = b; i < e && k < sizeof tmp - 1; i++) {
        if (i + 2 < e && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
            (unsigned char)s[i + 2] == 0x99) {
            tmp[k++] = '\'';
            i += 2;
        } else
            tmp[k++] = s[i];
    }
    copy_word(t->w, tmp, k);
}

/* Lexes a number at s[i..len) (s[i] is a digit); returns the end. */
static size_t lex_number(lexed *L, const char *s, size_t i, size_t len, bool *cur)
{
    char buf[72];
    size_t k = 0, j = i;
    while (j < len && is_digit((unsigned char)s[j]) && k < 64)
        buf[k++] = s[j++];
    while (j + 3 < len && s[j] == ',' && is_digit((unsigned char)s[j + 1]) &&
           is_digit((unsigned char)s[j + 2]) && is_digit((unsigned char)s[j + 3]) &&
           !(j + 4 < len && is_digit((unsigned char)s[j + 4])) && k < 60) {
        memcpy(buf + k, s + j + 1, 3); /* "1,500": a thousands separator */
        k += 3;
        j += 4;
    }
    if (j + 1 < len && s[j] == '.' && is_digit((unsigned char)s[j + 1])) {
        buf[k++] = s[j++];
        while (j < len && is_digit((unsigned char)s[j]) && k < 70)
            buf[k++] = s[j++];
    }
    while (j < len && is_digit((unsigned char)s[j])) /* digits beyond the cap */
        j++;
    buf[k] = '\0';
    double v = strtod(buf, NULL);
    /* letters right after: a unit, "k", a currency word, or the number is part of a word */
    size_t a = j;
    while (a < len && is_alpha((unsigned char)s[a]))
        a++;
    const char *unit = NULL;
    bool curw = false, isk = false;
    if (a > j) {
        char letters[WORD_MAX];
        copy_word(letters, s + j, a - j);
        if (!strcmp(letters, "k"))
            isk = true;
        else if ((unit = unit_of(letters)) && !strcmp(unit, "$")) {
            curw = true;
            unit = NULL;
        } else if (!unit) { /* "4070ti", "2nd": a word */
            size_t e = word_end(s, i, len);
            lex_word(L, s, i, e);
            *cur = false;
            return e;
        }
        j = a;
    }
    tok *t = push(L, T_NUM);
    if (!t)
        return len;
    copy_word(t->w, s + i, j - i);
    t->num = isk ? v * 1000 : v;
    if (unit)
        snprintf(t->unit, sizeof t->unit, "%s", unit);
    t->cur = *cur || curw;
    *cur = false;
    if (j < len && s[j] == '+') {
        t->plus = true;
        j++;
    }
    if (j < len && s[j] == '$') {
        t->cur = true;
        j++;
    } else if (j + 2 < len && (unsigned char)s[j] == 0xE2 && (unsigned char)s[j + 1] == 0x82 &&
               (unsigned char)s[j + 2] == 0xAC) {
        t->cur = true;
        j += 3;
    }
    return j;
}

static recsys_status lex_text(const recsys__mem *m, const char *text, lexed *L)
{
    L->n = 0;
    size_t len = strnlen(text, RECSYS__INTENT_TEXT_MAX);
    while (len > 0 && len == RECSYS__INTENT_TEXT_MAX && ((unsigned char)text[len] & 0xC0) == 0x80)
        len--;
    L->cap = RECSYS_MIN(len + 1, (size_t)TOK_MAX); /* a token takes at least one byte */
    L->v = recsys__calloc(m, L->cap, sizeof *L->v);
    if (!L->v)
        return RECSYS_E_NOMEM;
    bool cur = false;
    size_t i = 0;
    while (i < len && L->n < L->cap) {
        const unsigned char *p = (const unsigned char *)text + i;
        unsigned char c = p[0];
        size_t left = len - i;
        if (c == '$') {
            cur = true;
            i++;
        } else if (left >= 3 && c == 0xE2 && p[1] == 0x82 && p[2] == 0xAC) { /* € */
            cur = true;
            i += 3;
        } else if (left >= 2 && c == 0xC2 && p[1] == 0xA3) { /* £ */
            cur = true;
            i += 2;
        } else if (left >= 3 && c == 0xE2 && p[1] == 0x89 && (p[2] == 0xA4 || p[2] == 0xA5)) {
            tok *t = push(L, T_SYM);
            if (t)
                snprintf(t->w, sizeof t->w, "%s", p[2] == 0xA4 ? "<=" : ">=");
            i += 3;
        } else if (c == '<' || c == '>') {
            tok *t = push(L, T_SYM);
            bool eq = left >= 2 && p[1] == '=';
            if (t)
                snprintf(t->w, sizeof t->w, "%c%s", c, eq ? "=" : "");
            i += eq ? 2 : 1;
        } else if (c == '+') {
            if (L->n && L->v[L->n - 1].kind == T_NUM)
                L->v[L->n - 1].plus = true;
            i++;
        } else if (c == '-' || c == '~') {
            if (c == '-' && L->n && L->v[L->n - 1].kind == T_NUM && left >= 2 &&
                (is_digit(p[1]) || p[1] == '$')) {
                tok *t = push(L, T_SYM);
                if (t)
                    snprintf(t->w, sizeof t->w, "-");
            }
            i++;
        } else if (is_digit(c) || (c == '.' && left >= 2 && is_digit(p[1]))) {
            if (c == '.') {
                i++; /* ".5": read as 5 after the point is rare; skip the point */
                continue;
            }
            i = lex_number(L, text, i, len, &cur);
        } else if (c == '.' || c == ',' || c == ';' || c == '!' || c == '?' || c == ':' ||
                   c == '\n' || c == '(' || c == ')') {
            if (L->n && L->v[L->n - 1].kind != T_BREAK)
                push(L, T_BREAK);
            i++;
        } else if (is_alpha(c) || is_digit(c) || c >= 0x80) {
            size_t e = word_end(text, i, len);
            if (e == i) { /* a lone byte >= 0x80 that starts a sign: skip it */
                i++;
                continue;
            }
            lex_word(L, text, i, e);
            cur = false;
            i = e;
        } else
            i++;
    }
    return RECSYS_OK;
}

/* ============================================================ the catalog's attributes */

typedef struct nattr {
    const char *name;
    unsigned types;
    char unit[4];
    char labels[4][WORD_MAX];
    size_t nlabels;
} nattr;

typedef struct attrs_view {
    nattr *v;
    size_t n;
} attrs_view;

#define ATTR_NAMES_MAX 4096

static recsys_status attrs_load(const recsys__mem *m, const recsys__catalog *c, attrs_view *a)
{
    a->v = NULL;
    a->n = 0;
    size_t n = c->attr_names.n;
    if (n == 0 || n > ATTR_NAMES_MAX)
        return RECSYS_OK;
    a->v = recsys__calloc(m, n, sizeof *a->v);
    if (!a->v)
        return RECSYS_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *name = recsys__ids_name(&c->attr_names, (uint32_t)i);
        if (!name || strlen(name) >= RECSYS__INTENT_VALUE_MAX)
            continue;
        nattr *x = &a->v[a->n];
        x->name = name;
        x->types = c->attr_types[i];
        /* split on _ - . space; the last part may be a unit */
        char parts[8][WORD_MAX];
        size_t np = 0;
        const char *p = name;
        while (*p && np < 8) {
            while (*p == '_' || *p == '-' || *p == '.' || *p == ' ')
                p++;
            const char *b = p;
            while (*p && *p != '_' && *p != '-' && *p != '.' && *p != ' ')
                p++;
            if (p > b)
                copy_word(parts[np++], b, (size_t)(p - b));
        }
        size_t last = np;
        if (np > 1) {
            const char *u = unit_of(parts[np - 1]);
            if (u && strcmp(u, "$") != 0) {
                snprintf(x->unit, sizeof x->unit, "%s", u);
                last = np - 1;
            }
        }
        for (size_t k = 0; k < last && x->nlabels < 4; k++) {
            if (recsys__tok_stopword(parts[k], strlen(parts[k])))
                continue;
            label_of(parts[k], x->labels[x->nlabels++]);
        }
        a->n++;
    }
    return RECSYS_OK;
}

static bool has_label(const nattr *x, const char *label)
{
    for (size_t i = 0; i < x->nlabels; i++)
        if (!strcmp(x->labels[i], label))
            return true;
    return false;
}

static bool any_label(const attrs_view *a, const char *label)
{
    for (size_t i = 0; i < a->n; i++)
        if ((a->v[i].types & (1u << RECSYS__ATTR_NUM)) && has_label(&a->v[i], label))
            return true;
    return false;
}

/* ============================================================ the rule parser */

typedef struct parser {
    const recsys__mem *m;
    const recsys__catalog *c;
    const recsys__facet *only;
    lexed L;
    attrs_view A;
    recsys__intent *out;
} parser;

static bool restricted_to(const parser *P, int kind)
{
    return !P->only || P->only->kind == kind;
}

/* The token before i that is not an article (a, an, any, the), or SIZE_MAX. */
static size_t before_articles(const parser *P, size_t i)
{
    while (i > 0) {
        const tok *t = &P->L.v[i - 1];
        if (t->kind != T_WORD || !IN(t->w, ARTICLES))
            return t->kind == T_WORD ? i - 1 : SIZE_MAX;
        i--;
    }
    return SIZE_MAX;
}

/* True (and the words marked used) when a negation precedes token i: a negation word
 * (NEGATIONS, "don't want any ...") or a two-word one: "anything but" (also everything,
 * something, all), "other than", "rather than", "instead of". */
static bool negated(parser *P, size_t i)
{
    static const char *const VERBS[] = { "want", "need", "like", "have", "include", "be" };
    static const char *const BUT[] = { "anything", "everything", "something", "all" };
    size_t k = before_articles(P, i);
    if (k != SIZE_MAX && IN(P->L.v[k].w, VERBS)) /* "don't want any gaming" */
        k = before_articles(P, k);
    if (k == SIZE_MAX || P->L.v[k].used)
        return false;
    if (IN(P->L.v[k].w, NEGATIONS)) {
        P->L.v[k].used = true;
        return true;
    }
    const tok *w = k > 0 ? &P->L.v[k - 1] : NULL;
    if (!w || w->kind != T_WORD || w->used)
        return false;
    if ((!strcmp(P->L.v[k].w, "but") && IN(w->w, BUT)) ||
        (!strcmp(P->L.v[k].w, "than") && (!strcmp(w->w, "other") || !strcmp(w->w, "rather"))) ||
        (!strcmp(P->L.v[k].w, "of") && !strcmp(w->w, "instead"))) {
        P->L.v[k].used = P->L.v[k - 1].used = true;
        return true;
    }
    return false;
}

/* Sets a numeric constraint on name (intersecting one already there). */
static recsys_status set_range(parser *P, const char *name, double lo, bool lo_strict, double hi,
                               bool hi_strict)
{
    recsys__intent *o = P->out;
    size_t at = find_attr(o, name);
    if (at == SIZE_MAX) {
        if (o->nattrs >= RECSYS__INTENT_LIST_MAX)
            return RECSYS_OK;
        recsys__intent_attr *a = &o->attrs[o->nattrs];
        memset(a, 0, sizeof *a);
        if (!(a->name = recsys__strdup(P->m, name)))
            return RECSYS_E_NOMEM;
        a->type = RECSYS__ATTR_NUM;
        a->lo = -INFINITY;
        a->hi = INFINITY;
        o->nattrs++;
        at = o->nattrs - 1;
    }
    recsys__intent_attr *a = &o->attrs[at], t = *a;
    if (lo > t.lo || (lo == t.lo && lo_strict)) {
        t.lo = lo;
        t.lo_strict = lo_strict;
    }
    if (hi < t.hi || (hi == t.hi && hi_strict)) {
        t.hi = hi;
        t.hi_strict = hi_strict;
    }
    if (range_empty(&t)) { /* "over 10 ... under 5": the later words win, as in a merge */
        t.lo = lo;
        t.lo_strict = lo_strict;
        t.hi = hi;
        t.hi_strict = hi_strict;
    }
    *a = t;
    return RECSYS_OK;
}

static recsys_status set_eq(parser *P, const char *name, int32_t type, bool bval, const char *sval,
                            bool negate)
{
    recsys__intent *o = P->out;
    size_t at = find_attr(o, name);
    if (at != SIZE_MAX)
        attr_free(P->m, &o->attrs[at]);
    else if (o->nattrs >= RECSYS__INTENT_LIST_MAX)
        return RECSYS_OK;
    else
        at = o->nattrs++;
    recsys__intent_attr *a = &o->attrs[at];
    memset(a, 0, sizeof *a);
    a->type = type;
    a->bval = bval;
    a->negate = negate;
    a->name = recsys__strdup(P->m, name);
    a->sval = sval ? recsys__strdup(P->m, sval) : NULL;
    if (!a->name || (sval && !a->sval)) {
        attr_free(P->m, a);
        memmove(&o->attrs[at], &o->attrs[at + 1], (o->nattrs - at - 1) * sizeof *o->attrs);
        o->nattrs--;
        return RECSYS_E_NOMEM;
    }
    return RECSYS_OK;
}

/* Looks "<kind>:<s>" up in the facets (kind 'c' or 't'). The query's words are lower case
 * and a catalog's vocabulary need not be ("Horror", "Sci-Fi", "iPhone"): s is tried as
 * written, then case-insensitively (ASCII) through the catalog's folded vocabulary (fold.h).
 * The spelling found, the catalog's own, goes to canon (len + 1 bytes): the filter compares
 * it exactly. */
static bool facet_exists(const recsys__catalog *c, char kind, const char *s, size_t len,
                         char *canon)
{
    char buf[WORD_MAX * 4 + 8];
    if (len + 2 > sizeof buf)
        return false;
    buf[0] = kind;
    buf[1] = ':';
    memcpy(buf + 2, s, len);
    uint32_t f = recsys__ids_find(&c->facets.ids, buf, len + 2);
    if (f == RECSYS_IDS_NONE)
        f = recsys__catalog_fold_facet(c, kind, s, len);
    const char *name = f != RECSYS_IDS_NONE ? recsys__ids_name(&c->facets.ids, f) : NULL;
    if (!name || strlen(name) != len + 2)
        return false;
    memcpy(canon, name + 2, len + 1);
    return true;
}

/* What a run of words is in the catalog: a category, a tag, a bool attribute or the value of
 * a text attribute. */
enum { MATCH_VALUE = 4 };
typedef struct match {
    int kind; /* RECSYS__FACET_*, MATCH_VALUE; 0 none */
    char text[WORD_MAX * 4 + 4]; /* the facet, the bool attribute, the value (catalog's) */
    const char *attr;            /* MATCH_VALUE: the attribute (the catalog's) */
} match;

static bool try_variant(const parser *P, const char *s, match *mt)
{
    size_t len = strlen(s);
    if (!len)
        return false;
    if (len >= sizeof mt->text)
        return false;
    const char *only = P->only ? P->only->name : NULL;
    if (restricted_to(P, RECSYS__FACET_CATEGORY) && facet_exists(P->c, 'c', s, len, mt->text)) {
        mt->kind = RECSYS__FACET_CATEGORY;
        return true;
    }
    if (restricted_to(P, RECSYS__FACET_TAG) && facet_exists(P->c, 't', s, len, mt->text) &&
        (!P->only || (only && !strcmp(only, mt->text)))) {
        mt->kind = RECSYS__FACET_TAG;
        return true;
    }
    if (!restricted_to(P, RECSYS__FACET_ATTR))
        return false;
    /* a bool attribute's name, as written or in another case */
    const char *name = s;
    if (!(recsys__catalog_attr_types(P->c, s) & (1u << RECSYS__ATTR_BOOL))) {
        uint32_t a = recsys__catalog_fold_attr(P->c, s, len);
        name = a != RECSYS_IDS_NONE && (P->c->attr_types[a] & (1u << RECSYS__ATTR_BOOL))
                   ? recsys__ids_name(&P->c->attr_names, a)
                   : NULL;
    }
    if (name && strlen(name) == len && (!P->only || (only && !strcmp(only, name)))) {
        mt->kind = RECSYS__FACET_ATTR;
        memcpy(mt->text, name, len + 1);
        return true;
    }
    /* a text attribute's value: read when exactly one attribute has it */
    recsys__fold_hit hit[2];
    if (recsys__catalog_fold_values(P->c, s, len, hit, 2) != 1)
        return false;
    const char *an = recsys__ids_name(&P->c->attr_names, hit[0].attr);
    if (!an || strlen(hit[0].spelling) != len || (P->only && (!only || strcmp(only, an) != 0)))
        return false;
    mt->kind = MATCH_VALUE;
    mt->attr = an;
    memcpy(mt->text, hit[0].spelling, len + 1);
    return true;
}

/* Tokens i..i+n-1 as one facet, trying each joiner and the plural-stripped last word. */
static bool match_run(const parser *P, size_t i, size_t n, match *mt)
{
    static const char *const JOIN[] = { " ", "-", "_", "" };
    for (size_t k = 0; k < n; k++) {
        const tok *t = &P->L.v[i + k];
        if (t->used || (t->kind != T_WORD && !(t->kind == T_NUM && !t->cur && !t->unit[0])))
            return false;
    }
    /* a facet does not begin or end with a stopword ("for", "a", "the"): skip such runs
     * (most of them; the lookups are the parse's main cost) */
    const tok *first = &P->L.v[i], *last = &P->L.v[i + n - 1];
    if ((first->kind == T_WORD && recsys__tok_stopword(first->w, strlen(first->w))) ||
        (last->kind == T_WORD && recsys__tok_stopword(last->w, strlen(last->w))))
        return false;
    for (int stem = 0; stem < 2; stem++) {
        for (size_t j = 0; j < (n > 1 ? 4u : 1u); j++) {
            char s[WORD_MAX * 4 + 4]; /* 4 words of < WORD_MAX bytes and 3 joiners fit */
            size_t len = 0;
            for (size_t k = 0; k < n; k++) {
                const char *w = P->L.v[i + k].w;
                size_t wl = strlen(w), jl = k ? strlen(JOIN[j]) : 0;
                memcpy(s + len, JOIN[j], jl);
                memcpy(s + len + jl, w, wl);
                len += jl + wl;
            }
            s[len] = '\0';
            if (stem) {
                size_t wl = strlen(P->L.v[i + n - 1].w);
                size_t cut = recsys__tok_stem(s + len - wl, wl);
                if (cut == wl)
                    continue;
                s[len - wl + cut] = '\0';
            }
            if (try_variant(P, s, mt))
                return true;
        }
    }
    return false;
}

static recsys_status facets_pass(parser *P)
{
    recsys__intent *o = P->out;
    for (size_t n = 4; n >= 1; n--) {
        for (size_t i = 0; i + n <= P->L.n; i++) {
            match mt;
            memset(&mt, 0, sizeof mt);
            if (!match_run(P, i, n, &mt))
                continue;
            bool neg = negated(P, i);
            for (size_t k = 0; k < n; k++)
                P->L.v[i + k].used = true;
            if (mt.kind == RECSYS__FACET_CATEGORY && neg) {
                /* "not a tablet", "anything but tablets": excluded (unless also named) */
                if (!o->category || strcmp(o->category, mt.text) != 0)
                    RECSYS_TRY(add_str(P->m, o->xcats, &o->nxcats, mt.text));
            } else if (mt.kind == RECSYS__FACET_CATEGORY) {
                if (o->category && strcmp(o->category, mt.text) != 0) {
                    o->ambiguous = true; /* two categories: the first one stays */
                    continue;
                }
                del_str(P->m, o->xcats, &o->nxcats, mt.text);
                if (!o->category && !(o->category = recsys__strdup(P->m, mt.text)))
                    return RECSYS_E_NOMEM;
            } else if (mt.kind == RECSYS__FACET_TAG) {
                char **v = neg ? o->xtags : o->tags;
                size_t *nv = neg ? &o->nxtags : &o->ntags;
                del_str(P->m, neg ? o->tags : o->xtags, neg ? &o->ntags : &o->nxtags, mt.text);
                RECSYS_TRY(add_str(P->m, v, nv, mt.text));
            } else if (mt.kind == MATCH_VALUE) {
                /* one value per attribute: a named value replaces an excluded one and is
                 * not replaced by an exclusion; two named (or two excluded) values: the
                 * first stays and the request is ambiguous ("lenovo or dell") */
                size_t at = find_attr(o, mt.attr);
                const recsys__intent_attr *x = at != SIZE_MAX ? &o->attrs[at] : NULL;
                if (x && x->type == RECSYS__ATTR_STR && x->sval && !strcmp(x->sval, mt.text))
                    continue;
                if (x && x->type == RECSYS__ATTR_STR && x->negate == neg) {
                    o->ambiguous = true;
                    continue;
                }
                if (x && x->type == RECSYS__ATTR_STR && neg)
                    continue;
                RECSYS_TRY(set_eq(P, mt.attr, RECSYS__ATTR_STR, false, mt.text, neg));
            } else {
                RECSYS_TRY(set_eq(P, mt.text, RECSYS__ATTR_BOOL, !neg, NULL, false));
            }
        }
    }
    return RECSYS_OK;
}

/* ------------------------------------------------------------ numbers */

enum { C_NONE, C_LT, C_LE, C_GT, C_GE };

static int flip(int c)
{
    switch (c) {
    case C_LT: return C_GE;
    case C_LE: return C_GT;
    case C_GT: return C_LE;
    case C_GE: return C_LT;
    default: return c;
    }
}

/* The previous word/sign token before i (skipping "than", "of", "the", "a", "an"), not
 * crossing a break or a number; SIZE_MAX when none. */
static size_t prev_tok(const parser *P, size_t i)
{
    while (i > 0) {
        const tok *t = &P->L.v[i - 1];
        if (t->kind == T_BREAK || t->kind == T_NUM)
            return SIZE_MAX;
        if (t->kind == T_WORD && (!strcmp(t->w, "than") || !strcmp(t->w, "of") ||
                                  !strcmp(t->w, "the") || !strcmp(t->w, "a") ||
                                  !strcmp(t->w, "an") || !strcmp(t->w, "only"))) {
            i--;
            continue;
        }
        return i - 1;
    }
    return SIZE_MAX;
}

static bool word_is(const parser *P, size_t k, const char *w)
{
    return k != SIZE_MAX && k < P->L.n && P->L.v[k].kind != T_BREAK && !strcmp(P->L.v[k].w, w);
}

/* The comparison written before number token i; *implied receives a label a comparative
 * implies ("cheaper" -> price) or "". Marks the words it read as used. */
static int cmp_before(parser *P, size_t i, char implied[64], bool *range_start)
{
    implied[0] = '\0';
    *range_start = false;
    size_t k = prev_tok(P, i);
    if (k == SIZE_MAX)
        return C_NONE;
    tok *t = &P->L.v[k];
    int c = C_NONE;
    size_t first = k;
    if (!strcmp(t->w, "between") || !strcmp(t->w, "from")) {
        *range_start = true;
        t->used = true;
        return !strcmp(t->w, "from") ? C_GE : C_NONE;
    }
    if (IN(t->w, LT_WORDS))
        c = C_LT;
    else if (IN(t->w, GT_WORDS))
        c = C_GT;
    else if (!strcmp(t->w, "<="))
        c = C_LE;
    else if (!strcmp(t->w, ">="))
        c = C_GE;
    else if (!strcmp(t->w, "least") && k > 0 && word_is(P, k - 1, "at")) {
        c = C_GE;
        first = k - 1;
    } else if (!strcmp(t->w, "most") && k > 0 && word_is(P, k - 1, "at")) {
        c = C_LE;
        first = k - 1;
    } else if (!strcmp(t->w, "min") || !strcmp(t->w, "minimum"))
        c = C_GE;
    else if (!strcmp(t->w, "max") || !strcmp(t->w, "maximum") || !strcmp(t->w, "within"))
        c = C_LE;
    else if (!strcmp(t->w, "to") && k > 0 && word_is(P, k - 1, "up")) {
        c = C_LE;
        first = k - 1;
    } else if (!strcmp(t->w, "at") && k > 0 && word_is(P, k - 1, "starting")) {
        c = C_GE;
        first = k - 1;
    }
    if (c == C_NONE)
        return C_NONE;
    if (!strcmp(t->w, "cheaper") || !strcmp(t->w, "pricier"))
        snprintf(implied, 64, "price");
    else if (!strcmp(t->w, "lighter") || !strcmp(t->w, "heavier"))
        snprintf(implied, 64, "weight");
    for (size_t j = first; j <= k; j++)
        P->L.v[j].used = true;
    if (first > 0 && (word_is(P, first - 1, "no") || word_is(P, first - 1, "not"))) {
        P->L.v[first - 1].used = true;
        c = flip(c);
    }
    return c;
}

/* The comparison written after number token i (after its unit word): or more, +, max... */
static int cmp_after(parser *P, size_t i)
{
    size_t k = i + 1;
    if (k < P->L.n && P->L.v[k].kind == T_WORD && P->L.v[k].used &&
        unit_of(P->L.v[k].w))
        k++;
    if (k >= P->L.n || P->L.v[k].kind != T_WORD)
        return C_NONE;
    tok *t = &P->L.v[k];
    if ((!strcmp(t->w, "or") || !strcmp(t->w, "and")) && k + 1 < P->L.n &&
        P->L.v[k + 1].kind == T_WORD) {
        tok *u = &P->L.v[k + 1];
        if (IN(u->w, AFTER_GE) || IN(u->w, AFTER_LE)) {
            t->used = u->used = true;
            return IN(u->w, AFTER_GE) ? C_GE : C_LE;
        }
        return C_NONE;
    }
    if (!strcmp(t->w, "plus") || !strcmp(t->w, "minimum") || !strcmp(t->w, "min")) {
        t->used = true;
        return C_GE;
    }
    if (!strcmp(t->w, "max") || !strcmp(t->w, "maximum") || !strcmp(t->w, "tops")) {
        t->used = true;
        return C_LE;
    }
    if (!strcmp(t->w, "at") && k + 1 < P->L.n &&
        (word_is(P, k + 1, "most") || word_is(P, k + 1, "least"))) {
        t->used = P->L.v[k + 1].used = true;
        return word_is(P, k + 1, "most") ? C_LE : C_GE;
    }
    return C_NONE;
}

/* A unit word right after number token i is taken into it (marked used). */
static void unit_after(parser *P, size_t i)
{
    tok *t = &P->L.v[i];
    if (i + 1 >= P->L.n || P->L.v[i + 1].kind != T_WORD || P->L.v[i + 1].used)
        return;
    const char *u = unit_of(P->L.v[i + 1].w);
    if (!u || !strcmp(P->L.v[i + 1].w, "in"))
        return; /* "in" alone is the preposition far more often than inches */
    if (!strcmp(u, "$"))
        t->cur = true;
    else if (!t->unit[0])
        snprintf(t->unit, sizeof t->unit, "%s", u);
    else
        return;
    P->L.v[i + 1].used = true;
}

/* The attribute number token i (with unit/currency and a label near it) is about, or NULL;
 * *factor converts the number into the attribute's unit. */
static const nattr *pick_attr(parser *P, size_t i, const char *implied, const tok *other,
                              double *factor)
{
    const tok *t = &P->L.v[i];
    bool cur = t->cur || (other && other->cur);
    const char *unit = t->unit[0] ? t->unit : (other && other->unit[0] ? other->unit : "");
    /* the label: implied by the comparative, else the nearest unused label word within 3 */
    char label[64] = "";
    size_t label_at = SIZE_MAX;
    if (implied[0] && any_label(&P->A, implied))
        snprintf(label, sizeof label, "%s", implied);
    for (size_t d = 1; !label[0] && d <= 3; d++) {
        for (int side = 0; side < 2 && !label[0]; side++) {
            if (side == 0 && d > i)
                continue;
            size_t k = side == 0 ? i - d : i + d;
            if (k >= P->L.n)
                continue;
            /* do not cross a break */
            bool blocked = false;
            for (size_t j = RECSYS_MIN(i, k); j <= RECSYS_MAX(i, k); j++)
                blocked |= P->L.v[j].kind == T_BREAK;
            const tok *w = &P->L.v[k];
            if (blocked || w->kind != T_WORD || w->used)
                continue;
            char l[64];
            label_of(w->w, l);
            if (any_label(&P->A, l)) {
                snprintf(label, sizeof label, "%s", l);
                label_at = k;
            }
        }
    }
    const nattr *best = NULL;
    size_t nbest = 0;
    for (size_t k = 0; k < P->A.n; k++) {
        const nattr *x = &P->A.v[k];
        if (!(x->types & (1u << RECSYS__ATTR_NUM)))
            continue;
        if (cur && !has_label(x, "price"))
            continue;
        if (unit[0] && !(x->unit[0] && unit_factor(unit, x->unit) != 0))
            continue;
        if (label[0] && !has_label(x, label))
            continue;
        if (!cur && !unit[0] && !label[0]) {
            /* a bare number: the restricted facet's attribute, else a price */
            if (P->only ? strcmp(x->name, P->only->name ? P->only->name : "") != 0
                        : !has_label(x, "price"))
                continue;
        }
        if (P->only && strcmp(x->name, P->only->name ? P->only->name : "") != 0)
            continue;
        if (!best || strlen(x->name) < strlen(best->name))
            best = x; /* several: the shortest name ("price" before "price_old") */
        nbest++;
    }
    if (!best)
        return NULL;
    if (nbest > 1 && !(cur && !unit[0] && !label[0]) && !has_label(best, "price"))
        return NULL; /* "16GB" with ram_gb and storage_gb: ambiguous */
    if (label_at != SIZE_MAX)
        P->L.v[label_at].used = true;
    *factor = unit[0] && best->unit[0] ? unit_factor(unit, best->unit) : 1;
    return best;
}

static recsys_status numbers_pass(parser *P)
{
    if (P->only && !(P->only->kind == RECSYS__FACET_ATTR && P->only->type == RECSYS__ATTR_NUM))
        return RECSYS_OK;
    for (size_t i = 0; i < P->L.n; i++) {
        tok *t = &P->L.v[i];
        if (t->kind != T_NUM || t->used)
            continue;
        t->used = true;
        unit_after(P, i);
        char implied[64];
        bool range_start;
        int c = cmp_before(P, i, implied, &range_start);
        /* a second number: between X and Y, from X to Y, X to Y, X-Y */
        size_t k = i + 1;
        while (k < P->L.n && P->L.v[k].kind == T_WORD && P->L.v[k].used && unit_of(P->L.v[k].w))
            k++;
        tok *y = NULL;
        size_t yi = SIZE_MAX;
        if (k + 1 < P->L.n && P->L.v[k + 1].kind == T_NUM && !P->L.v[k + 1].used &&
            ((P->L.v[k].kind == T_SYM && !strcmp(P->L.v[k].w, "-")) ||
             (P->L.v[k].kind == T_WORD &&
              (!strcmp(P->L.v[k].w, "to") || (range_start && !strcmp(P->L.v[k].w, "and")))))) {
            P->L.v[k].used = true;
            yi = k + 1;
            y = &P->L.v[yi];
            y->used = true;
            unit_after(P, yi);
        }
        if (!y && c == C_NONE)
            c = cmp_after(P, i);
        if (!y && c == C_NONE && t->plus)
            c = C_GE;
        double f = 1;
        const nattr *a = pick_attr(P, i, implied, y, &f);
        if (!a) {
            if (!P->only || (!t->unit[0] && !t->cur))
                P->out->ambiguous = true;
            continue;
        }
        double v = t->num * f;
        if (y) {
            double w = y->num * f;
            RECSYS_TRY(set_range(P, a->name, RECSYS_MIN(v, w), false, RECSYS_MAX(v, w), false));
            continue;
        }
        if (c == C_NONE && P->only && P->only->ncuts) {
            /* a bare number answers the question: the bucket that holds it */
            const double *cu = P->only->cuts;
            if (v < cu[0])
                RECSYS_TRY(set_range(P, a->name, -INFINITY, false, cu[0], true));
            else if (P->only->ncuts > 1 && v < cu[1])
                RECSYS_TRY(set_range(P, a->name, cu[0], false, cu[1], true));
            else
                RECSYS_TRY(set_range(P, a->name, cu[P->only->ncuts - 1], false, INFINITY, false));
            continue;
        }
        if (c == C_NONE) {
            bool budget = t->cur || has_label(a, "price") || has_label(a, "weight") ||
                          !strcmp(a->unit, "kg") || !strcmp(a->unit, "lb");
            c = budget ? C_LE : C_GE;
        }
        switch (c) {
        case C_LT: RECSYS_TRY(set_range(P, a->name, -INFINITY, false, v, true)); break;
        case C_LE: RECSYS_TRY(set_range(P, a->name, -INFINITY, false, v, false)); break;
        case C_GT: RECSYS_TRY(set_range(P, a->name, v, true, INFINITY, false)); break;
        default: RECSYS_TRY(set_range(P, a->name, v, false, INFINITY, false)); break;
        }
    }
    return RECSYS_OK;
}

/* ------------------------------------------------------------ answers to a question */

static bool says_dont_care(const parser *P)
{
    for (size_t i = 0; i < P->L.n; i++) {
        const tok *t = &P->L.v[i];
        if (t->kind != T_WORD || t->used) /* "anything but tablets" was a negation */
            continue;
        if (IN(t->w, CARELESS))
            return true;
        if (IN(t->w, CARE_NOUNS)) {
            for (size_t d = 1; d <= 3 && d <= i; d++) {
                const tok *u = &P->L.v[i - d];
                if (u->kind == T_WORD && (IN(u->w, NEGATIONS) || !strcmp(u->w, "doesn't") ||
                                          !strcmp(u->w, "doesnt") || !strcmp(u->w, "no")))
                    return true;
            }
        }
    }
    return false;
}

/* -1 no, +1 yes, 0 neither. */
static int yes_no(const parser *P)
{
    bool yes = false;
    for (size_t i = 0; i < P->L.n; i++) {
        const tok *t = &P->L.v[i];
        if (t->kind != T_WORD)
            continue;
        if (IN(t->w, NO))
            return -1;
        yes |= IN(t->w, YES);
    }
    return yes ? 1 : 0;
}

/* The facet's listed values named in the text (word for word, after normalisation). */
static recsys_status values_pass(parser *P, const char *text)
{
    const recsys__facet *f = P->only;
    for (size_t v = 0; v < f->nvalues; v++) {
        /* find the value's words as a run of the text's words */
        char vw[16][RECSYS__TOK_MAX];
        size_t nv = 0;
        recsys__tok tv;
        recsys__tok_init(&tv, f->values[v]);
        while (nv < 16 && recsys__tok_next_all(&tv, vw[nv]))
            nv++;
        if (!nv)
            continue;
        recsys__tok tt;
        recsys__tok_init(&tt, text);
        char win[16][RECSYS__TOK_MAX], prev[RECSYS__TOK_MAX] = "", w[RECSYS__TOK_MAX];
        size_t nw = 0, seen = 0;
        bool found = false, neg = false;
        while (!found && recsys__tok_next_all(&tt, w) && seen < TOK_MAX) {
            seen++;
            if (nw == nv) { /* slide */
                snprintf(prev, sizeof prev, "%s", win[0]);
                memmove(win, win + 1, (nv - 1) * sizeof win[0]);
                nw--;
            }
            snprintf(win[nw++], RECSYS__TOK_MAX, "%s", w);
            if (nw == nv) {
                found = true;
                for (size_t k = 0; k < nv && found; k++)
                    found = !strcmp(win[k], vw[k]);
                if (found)
                    neg = IN(prev, NEGATIONS);
            }
        }
        if (!found)
            continue;
        if (f->kind == RECSYS__FACET_CATEGORY) {
            if (!neg && !P->out->category &&
                !(P->out->category = recsys__strdup(P->m, f->values[v])))
                return RECSYS_E_NOMEM;
        } else
            RECSYS_TRY(set_eq(P, f->name, RECSYS__ATTR_STR, false, f->values[v], neg));
        if (!neg)
            break;
    }
    return RECSYS_OK;
}

static recsys_status answer_pass(parser *P, const char *text)
{
    const recsys__facet *f = P->only;
    recsys__intent *o = P->out;
    if (says_dont_care(P)) {
        o->dont_care = true;
        return RECSYS_OK;
    }
    if (recsys__intent_has_facet(o, f))
        return RECSYS_OK; /* the facet named itself ("no touchscreen") */
    if ((f->kind == RECSYS__FACET_CATEGORY || (f->kind == RECSYS__FACET_ATTR &&
                                               f->type == RECSYS__ATTR_STR)))
        RECSYS_TRY(values_pass(P, text));
    if (recsys__intent_has_facet(o, f))
        return RECSYS_OK;
    int yn = yes_no(P);
    if (yn && f->kind == RECSYS__FACET_TAG && f->name) {
        RECSYS_TRY(add_str(P->m, yn > 0 ? o->tags : o->xtags, yn > 0 ? &o->ntags : &o->nxtags,
                           f->name));
    } else if (yn && f->kind == RECSYS__FACET_ATTR && f->type == RECSYS__ATTR_BOOL && f->name) {
        RECSYS_TRY(set_eq(P, f->name, RECSYS__ATTR_BOOL, yn > 0, NULL, false));
    }
    return RECSYS_OK;
}

/* ------------------------------------------------------------ terms */

static recsys_status terms_pass(parser *P)
{
    bool words = false;
    for (size_t i = 0; i < P->L.n; i++) {
        tok *t = &P->L.v[i];
        if (t->kind != T_WORD || t->used)
            continue;
        size_t len = strlen(t->w);
        if (len < 2 || recsys__tok_stopword(t->w, len) || IN(t->w, FILLERS) ||
            IN(t->w, NEGATIONS) || IN(t->w, YES) || IN(t->w, NO) || unit_of(t->w) ||
            !recsys__utf8_valid(t->w, len)) /* the parser reads bytes; terms are text */
            continue;
        words = true;
        if (!P->only)
            RECSYS_TRY(add_str(P->m, P->out->terms, &P->out->nterms, t->w));
    }
    /* a restricted answer with words but nothing read is for the LLM */
    if (P->only && words && !P->out->dont_care && !recsys__intent_has_facet(P->out, P->only))
        P->out->ambiguous = true;
    return RECSYS_OK;
}

recsys_status recsys__intent_parse(const recsys__mem *m, const recsys__catalog *c,
                                   const char *text, const recsys__facet *only,
                                   recsys__intent *out)
{
    recsys__intent_init(out);
    parser P;
    memset(&P, 0, sizeof P);
    P.m = m;
    P.c = c;
    P.only = only && only->kind ? only : NULL;
    P.out = out;
    if (!text)
        text = "";
    recsys_status st = lex_text(m, text, &P.L);
    if (st == RECSYS_OK)
        st = attrs_load(m, c, &P.A);
    if (st == RECSYS_OK)
        st = facets_pass(&P);
    if (st == RECSYS_OK)
        st = numbers_pass(&P);
    if (st == RECSYS_OK && P.only)
        st = answer_pass(&P, text);
    if (st == RECSYS_OK)
        st = terms_pass(&P);
    recsys__free(m, P.L.v);
    recsys__free(m, P.A.v);
    if (st != RECSYS_OK)
        recsys__intent_free(m, out);
    return st;
}

/* ============================================================ ambiguity */

#define SCAN_ITEMS_MAX 4096

static bool item_has_word(const recsys_item *it, const char *w)
{
    if (recsys__tok_contains(it->title, w) || recsys__tok_contains(it->description, w) ||
        recsys__tok_contains(it->category, w))
        return true;
    for (uint32_t k = 0; k < it->ntags; k++)
        if (recsys__tok_contains(it->tags[k], w))
            return true;
    return false;
}

recsys_status recsys__intent_check_terms(const recsys__mem *m, const recsys__catalog *c,
                                         const void *bm25, recsys__intent *in)
{
    for (size_t i = 0; i < in->nterms && !in->ambiguous; i++) {
        char norm[RECSYS__TOK_MAX];
        recsys__tok t;
        recsys__tok_init(&t, in->terms[i]);
        if (!recsys__tok_next(&t, norm))
            continue; /* a stopword: nothing to find */
        bool known = false;
        if (bm25) {
            uint32_t *items = NULL;
            float *scores = NULL;
            size_t n = 0;
            RECSYS_TRY(recsys__bm25_search(bm25, norm, 1, m, &items, &scores, &n));
            recsys__free(m, items);
            recsys__free(m, scores);
            known = n > 0;
        } else {
            size_t seen = 0;
            for (uint32_t idx = 0; idx < c->ids.n && seen < SCAN_ITEMS_MAX && !known; idx++) {
                const recsys_item *it = recsys__catalog_get(c, idx);
                if (!it)
                    continue;
                seen++;
                known = item_has_word(it, norm);
            }
        }
        if (!known)
            in->ambiguous = true;
    }
    return RECSYS_OK;
}

/* ============================================================ nearest values */

/* Lowercase, separators (space - _ . /) folded into one space, trimmed. */
static void normalise(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    bool sep = false;
    for (; *s && k + 1 < cap; s++) {
        char ch = *s;
        if (ch == ' ' || ch == '-' || ch == '_' || ch == '.' || ch == '/' || ch == '\t') {
            sep = k > 0;
            continue;
        }
        if (sep && k + 2 < cap)
            out[k++] = ' ';
        sep = false;
        out[k++] = lower(ch);
    }
    out[k] = '\0';
}

/* Levenshtein distance of a and b (both at most RECSYS__INTENT_VALUE_MAX bytes), stopping
 * early beyond limit (returns limit + 1 then). */
static size_t edit_distance(const char *a, const char *b, size_t limit)
{
    size_t la = strlen(a), lb = strlen(b);
    if ((la > lb ? la - lb : lb - la) > limit)
        return limit + 1;
    size_t row[RECSYS__INTENT_VALUE_MAX + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0], best = i;
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t v = diag + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            if (up + 1 < v)
                v = up + 1;
            row[j] = v;
            diag = up;
            if (v < best)
                best = v;
        }
        if (best > limit)
            return limit + 1;
    }
    return row[lb];
}

long recsys__intent_nearest(const char *value, const char *const *vocab, size_t n)
{
    if (!value || strlen(value) >= RECSYS__INTENT_VALUE_MAX)
        return -1;
    char a[RECSYS__INTENT_VALUE_MAX];
    normalise(value, a, sizeof a);
    size_t la = strlen(a);
    if (!la)
        return -1;
    size_t limit = la <= 5 ? 1 : la <= 10 ? 2 : 3;
    long best = -1;
    size_t bestd = limit + 1;
    for (size_t i = 0; i < n; i++) {
        if (!vocab[i] || strlen(vocab[i]) >= RECSYS__INTENT_VALUE_MAX)
            continue;
        char b[RECSYS__INTENT_VALUE_MAX];
        normalise(vocab[i], b, sizeof b);
        if (!b[0])
            continue;
        size_t d = edit_distance(a, b, bestd < limit + 1 ? bestd : limit);
        if (d < bestd) {
            bestd = d;
            best = (long)i;
            if (d == 0)
                break;
        }
    }
    return bestd <= limit ? best : -1;
}

/* ============================================================ LLM replies */

typedef struct vocab {
    const char **cats, **tags, **nums, **bools;
    size_t ncats, ntags, nnums, nbools;
} vocab;

static void vocab_free(const recsys__mem *m, vocab *v)
{
    recsys__free(m, v->cats);
    recsys__free(m, v->tags);
    recsys__free(m, v->nums);
    recsys__free(m, v->bools);
    memset(v, 0, sizeof *v);
}

/* The catalog's categories, tags, numeric and bool attribute names (borrowed strings). */
static recsys_status vocab_load(const recsys__mem *m, const recsys__catalog *c, vocab *v)
{
    memset(v, 0, sizeof *v);
    size_t nf = c->facets.ids.n ? c->facets.ids.n : 1, na = c->attr_names.n ? c->attr_names.n : 1;
    v->cats = recsys__calloc(m, nf, sizeof *v->cats);
    v->tags = recsys__calloc(m, nf, sizeof *v->tags);
    v->nums = recsys__calloc(m, na, sizeof *v->nums);
    v->bools = recsys__calloc(m, na, sizeof *v->bools);
    if (!v->cats || !v->tags || !v->nums || !v->bools) {
        vocab_free(m, v);
        return RECSYS_E_NOMEM;
    }
    for (size_t i = 0; i < c->facets.ids.n; i++) {
        const char *s = recsys__ids_name(&c->facets.ids, (uint32_t)i);
        if (!s || strlen(s) < 3 || strlen(s) >= RECSYS__INTENT_VALUE_MAX)
            continue;
        if (s[0] == 'c')
            v->cats[v->ncats++] = s + 2;
        else
            v->tags[v->ntags++] = s + 2;
    }
    for (size_t i = 0; i < c->attr_names.n; i++) {
        const char *s = recsys__ids_name(&c->attr_names, (uint32_t)i);
        if (!s || strlen(s) >= RECSYS__INTENT_VALUE_MAX)
            continue;
        if (c->attr_types[i] & (1u << RECSYS__ATTR_NUM))
            v->nums[v->nnums++] = s;
        if (c->attr_types[i] & (1u << RECSYS__ATTR_BOOL))
            v->bools[v->nbools++] = s;
    }
    return RECSYS_OK;
}

static recsys_status bad(const char *fmt, const char *what)
{
    return recsys__err(RECSYS_E_INVALID_ARG, fmt, what);
}

/* A JSON array of strings (at most the list cap), or INVALID_ARG. */
static recsys_status str_array(const json_t *a, const char *key)
{
    if (!json_is_array(a))
        return bad("intent reply: \"%s\" is not an array", key);
    if (json_array_size(a) > RECSYS__INTENT_LIST_MAX)
        return bad("intent reply: \"%s\" has too many entries", key);
    size_t i;
    const json_t *x;
    json_array_foreach(a, i, x) if (!recsys__jr_str_of(x))
        return bad("intent reply: an entry of \"%s\" is not a string", key);
    return RECSYS_OK;
}

/* True when the lowercase word w is a word of text (tokenized the same way). */
static bool word_of(const char *text, const char *w)
{
    char norm[RECSYS__TOK_MAX], more[RECSYS__TOK_MAX];
    recsys__tok t;
    recsys__tok_init(&t, w);
    if (!recsys__tok_next(&t, norm) || recsys__tok_next(&t, more) != 0)
        return false; /* one word only (not a stopword) */
    return recsys__tok_contains(text, norm);
}

/* Checks the reply's shape (keys and types); values are validated while read. */
static recsys_status check_shape(const json_t *root)
{
    static const char *const KEYS[] = { "category", "ranges", "equals", "require_tags",
                                        "exclude_tags", "terms" };
    if (!json_is_object(root))
        return bad("intent reply: %s", "not a JSON object");
    RECSYS_TRY(recsys__jr_check_keys(root, KEYS, RECSYS_ARRAY_LEN(KEYS), "intent reply", NULL));
    const json_t *x = json_object_get(root, "category");
    if (x && !json_is_null(x) && !recsys__jr_str_of(x))
        return bad("intent reply: \"%s\" is not a string or null", "category");
    static const char *const RKEYS[] = { "attribute", "min", "max" };
    static const char *const EKEYS[] = { "attribute", "value", "negate" };
    const char *lists[] = { "ranges", "equals" };
    for (size_t l = 0; l < 2; l++) {
        const json_t *a = json_object_get(root, lists[l]);
        if (!a)
            continue;
        if (!json_is_array(a) || json_array_size(a) > RECSYS__INTENT_LIST_MAX)
            return bad("intent reply: \"%s\" is not an array of at most 32 objects", lists[l]);
        size_t i;
        const json_t *e;
        json_array_foreach(a, i, e) {
            if (!json_is_object(e))
                return bad("intent reply: an entry of \"%s\" is not an object", lists[l]);
            RECSYS_TRY(recsys__jr_check_keys(e, l ? EKEYS : RKEYS, 3, "intent reply", lists[l]));
            if (!recsys__jr_str_of(json_object_get(e, "attribute")))
                return bad("intent reply: an entry of \"%s\" has no string \"attribute\"",
                           lists[l]);
            if (l == 0) {
                const json_t *lo = json_object_get(e, "min"), *hi = json_object_get(e, "max");
                if ((lo && !json_is_number(lo)) || (hi && !json_is_number(hi)))
                    return bad("intent reply: \"%s\" bounds must be numbers", lists[l]);
            } else {
                const json_t *v = json_object_get(e, "value"), *ng = json_object_get(e, "negate");
                if (!v || !(json_is_boolean(v) || recsys__jr_str_of(v)))
                    return bad("intent reply: \"%s\" values must be booleans or strings",
                               lists[l]);
                if (ng && !json_is_boolean(ng))
                    return bad("intent reply: \"%s\" negate must be a boolean", lists[l]);
            }
        }
    }
    const char *strs[] = { "require_tags", "exclude_tags", "terms" };
    for (size_t l = 0; l < 3; l++) {
        const json_t *a = json_object_get(root, strs[l]);
        if (a)
            RECSYS_TRY(str_array(a, strs[l]));
    }
    return RECSYS_OK;
}

static bool facet_allows(const recsys__facet *only, int kind, const char *name)
{
    if (!only)
        return true;
    if (only->kind != kind)
        return false;
    return kind == RECSYS__FACET_CATEGORY || (only->name && name && !strcmp(only->name, name));
}

static recsys_status read_reply(const recsys__mem *m, const recsys__catalog *c, const json_t *root,
                                const char *text, const recsys__facet *only, const vocab *V,
                                recsys__intent *o)
{
    const json_t *x = json_object_get(root, "category");
    if (recsys__jr_str_of(x)) {
        long k = recsys__intent_nearest(json_string_value(x), V->cats, V->ncats);
        if (k >= 0 && facet_allows(only, RECSYS__FACET_CATEGORY, NULL) &&
            !(o->category = recsys__strdup(m, V->cats[k])))
            return RECSYS_E_NOMEM;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(root, "ranges"), i, e) {
        long k = recsys__intent_nearest(json_string_value(json_object_get(e, "attribute")),
                                        V->nums, V->nnums);
        const json_t *jlo = json_object_get(e, "min"), *jhi = json_object_get(e, "max");
        double lo = jlo ? json_number_value(jlo) : -INFINITY;
        double hi = jhi ? json_number_value(jhi) : INFINITY;
        if (k < 0 || (!jlo && !jhi) || isnan(lo) || isnan(hi) || (jlo && !isfinite(lo)) ||
            (jhi && !isfinite(hi)) || lo > hi ||
            !facet_allows(only, RECSYS__FACET_ATTR, V->nums[k]))
            continue;
        parser P = { .m = m, .c = c, .out = o };
        RECSYS_TRY(set_range(&P, V->nums[k], lo, false, hi, false));
    }
    json_array_foreach(json_object_get(root, "equals"), i, e) {
        const json_t *v = json_object_get(e, "value"), *ng = json_object_get(e, "negate");
        bool neg = ng && json_is_true(ng);
        const char *an = json_string_value(json_object_get(e, "attribute"));
        parser P = { .m = m, .c = c, .out = o };
        if (json_is_boolean(v)) {
            long k = recsys__intent_nearest(an, V->bools, V->nbools);
            if (k >= 0 && facet_allows(only, RECSYS__FACET_ATTR, V->bools[k]))
                RECSYS_TRY(set_eq(&P, V->bools[k], RECSYS__ATTR_BOOL, json_is_true(v) != neg,
                                  NULL, false));
        } else if (only && only->kind == RECSYS__FACET_ATTR && only->type == RECSYS__ATTR_STR &&
                   recsys__intent_nearest(an, (const char *const *)&only->name, 1) == 0) {
            long k = recsys__intent_nearest(json_string_value(v),
                                            (const char *const *)only->values, only->nvalues);
            if (k >= 0)
                RECSYS_TRY(set_eq(&P, only->name, RECSYS__ATTR_STR, false, only->values[k], neg));
        }
    }
    const char *tl[] = { "require_tags", "exclude_tags" };
    for (size_t l = 0; l < 2; l++) {
        json_array_foreach(json_object_get(root, tl[l]), i, e) {
            long k = recsys__intent_nearest(json_string_value(e), V->tags, V->ntags);
            if (k < 0 || !facet_allows(only, RECSYS__FACET_TAG, V->tags[k]))
                continue;
            char **v = l ? o->xtags : o->tags;
            size_t *nv = l ? &o->nxtags : &o->ntags;
            del_str(m, l ? o->tags : o->xtags, l ? &o->ntags : &o->nxtags, V->tags[k]);
            RECSYS_TRY(add_str(m, v, nv, V->tags[k]));
        }
    }
    if (!only) {
        json_array_foreach(json_object_get(root, "terms"), i, e) {
            char w[RECSYS__INTENT_VALUE_MAX];
            const char *s = json_string_value(e);
            if (strlen(s) >= sizeof w)
                continue;
            normalise(s, w, sizeof w);
            if (w[0] && word_of(text, w))
                RECSYS_TRY(add_str(m, o->terms, &o->nterms, w));
        }
    }
    return RECSYS_OK;
}

recsys_status recsys__intent_from_reply(const recsys__mem *m, const recsys__catalog *c,
                                        const char *reply, size_t len, const char *text,
                                        const recsys__facet *only, recsys__intent *out)
{
    recsys__intent_init(out);
    if (!reply)
        return bad("intent reply: %s", "no text");
    if (len > RECSYS__INTENT_REPLY_MAX)
        return bad("intent reply: %s", "longer than 16384 bytes");
    /* prose or a code fence around the object: from the first '{' to the last '}' */
    const char *b = memchr(reply, '{', len);
    const char *e = NULL;
    for (size_t i = len; i > 0 && !e; i--)
        if (reply[i - 1] == '}')
            e = reply + i;
    if (!b || !e || e <= b)
        return bad("intent reply: %s", "no JSON object");
    json_t *root = NULL;
    RECSYS_TRY(recsys__jr_load(b, (size_t)(e - b), RECSYS__INTENT_REPLY_MAX, "intent reply",
                               &root));
    recsys_status st = check_shape(root);
    vocab V;
    memset(&V, 0, sizeof V);
    if (st == RECSYS_OK)
        st = vocab_load(m, c, &V);
    if (st == RECSYS_OK)
        st = read_reply(m, c, root, text ? text : "", only && only->kind ? only : NULL, &V, out);
    if (st == RECSYS_OK)
        out->llm = true;
    vocab_free(m, &V);
    json_decref(root);
    if (st != RECSYS_OK)
        recsys__intent_free(m, out);
    return st;
}

/* ============================================================ rules, then the LLM */

#define VOCAB_PROMPT_CATS 64
#define VOCAB_PROMPT_TAGS 256
#define VOCAB_PROMPT_ATTRS 64

static void quote_list(recsys__jw *b, const char *key, const char *const *v, size_t n, size_t cap,
                       bool *first)
{
    recsys__jw_key(b, key, first);
    recsys__jw_puts(b, "[");
    for (size_t i = 0; i < n && i < cap; i++) {
        if (i)
            recsys__jw_puts(b, ",");
        recsys__llm_quote(b, v[i], RECSYS__LLM_WORD_MAX);
    }
    recsys__jw_puts(b, "]");
}

static recsys_status build_prompt(const recsys__mem *m, const recsys__catalog *c, const char *text,
                                  const recsys__facet *only, char **out)
{
    vocab V;
    RECSYS_TRY(vocab_load(m, c, &V));
    recsys__jw b = { .m = m };
    recsys__jw_puts(&b, only ? "The query answers a question about one facet of the catalog; "
                               "read it as constraints on that facet only."
                             : TPL.instruction);
    recsys__jw_puts(&b, "\n");
    recsys__llm_data_open(&b);
    bool first = true;
    recsys__jw_puts(&b, "{\"vocabulary\":{");
    quote_list(&b, "categories", V.cats, V.ncats, VOCAB_PROMPT_CATS, &first);
    quote_list(&b, "tags", V.tags, V.ntags, VOCAB_PROMPT_TAGS, &first);
    quote_list(&b, "numeric_attributes", V.nums, V.nnums, VOCAB_PROMPT_ATTRS, &first);
    quote_list(&b, "bool_attributes", V.bools, V.nbools, VOCAB_PROMPT_ATTRS, &first);
    recsys__jw_puts(&b, "}}\n");
    if (only) {
        recsys__jw_puts(&b, "{\"facet\":");
        recsys__llm_quote(&b, only->kind == RECSYS__FACET_CATEGORY ? "category" : only->name,
                          RECSYS__LLM_WORD_MAX);
        recsys__jw_puts(&b, ",\"kind\":\"");
        recsys__jw_puts(&b, only->kind == RECSYS__FACET_TAG ? "tag"
                            : only->kind == RECSYS__FACET_CATEGORY ? "category"
                            : only->type == RECSYS__ATTR_NUM ? "number"
                            : only->type == RECSYS__ATTR_BOOL ? "bool" : "text");
        recsys__jw_puts(&b, "\"");
        if (only->nvalues) {
            bool f2 = false;
            quote_list(&b, "values", (const char *const *)only->values, only->nvalues, 8, &f2);
        }
        recsys__jw_puts(&b, "}\n");
    }
    recsys__jw_puts(&b, "{\"query\":");
    recsys__llm_quote(&b, text, RECSYS__LLM_QUERY_MAX);
    recsys__jw_puts(&b, "}\n");
    recsys__llm_data_close(&b);
    vocab_free(m, &V);
    return recsys__jw_finish(&b, false, out, NULL);
}

recsys__llm_budget *recsys__intent_llm_budget(const recsys__intent_llm *llm)
{
    if (!llm)
        return NULL;
    if (llm->budget)
        return llm->budget;
    return llm->get_budget ? llm->get_budget(llm->budget_arg) : NULL;
}

recsys_status recsys__intent_understand(const recsys__mem *m, const recsys__catalog *c,
                                        const char *text, const recsys__facet *only,
                                        const recsys__intent_llm *llm, recsys__intent *out)
{
    only = only && only->kind ? only : NULL;
    RECSYS_TRY(recsys__intent_parse(m, c, text, only, out));
    if (!llm || !llm->vt || !llm->guard || (!llm->budget && !llm->get_budget))
        return RECSYS_OK;
    if (!only && !out->ambiguous) {
        recsys_status st = recsys__intent_check_terms(m, c, llm->bm25, out);
        if (st != RECSYS_OK) {
            recsys__intent_free(m, out);
            return st;
        }
    }
    if (!out->ambiguous)
        return RECSYS_OK;
    char *prompt = NULL;
    recsys_status st = build_prompt(m, c, text ? text : "", only, &prompt);
    if (st != RECSYS_OK) {
        recsys__intent_free(m, out);
        return st;
    }
    recsys__llm_ask ask = { .task = TPL.task, .system = TPL.system, .prompt = prompt,
                            .schema = TPL.schema, .max_tokens = TPL.max_tokens,
                            .temperature = TPL.temperature };
    char *reply = NULL;
    size_t len = 0;
    recsys__llm_budget *budget = recsys__intent_llm_budget(llm);
    st = budget ? recsys__llm_ask_run(llm->guard, llm->vt, llm->opt, budget, &ask, m, &reply, &len)
                : RECSYS_E_BUDGET;
    recsys__intent got;
    recsys__intent_init(&got);
    if (st == RECSYS_OK) {
        st = recsys__intent_from_reply(m, c, reply, len, text, only, &got);
        if (st == RECSYS_E_INVALID_ARG)
            recsys__llm_reject(llm->guard, budget, &ask);
    }
    if (st == RECSYS_OK) {
        /* the rules' reading wins where both read something */
        st = recsys__intent_merge(m, &got, out);
        if (st == RECSYS_OK) {
            got.ambiguous = out->ambiguous;
            got.llm = true;
            recsys__intent_free(m, out);
            *out = got;
            recsys__intent_init(&got);
        }
    }
    recsys__intent_free(m, &got);
    recsys__free(m, reply);
    recsys__free(m, prompt);
    if (st == RECSYS_E_NOMEM) {
        recsys__intent_free(m, out);
        return st;
    }
    recsys__err_clear(); /* any other failure: go on with the rules' reading */
    return RECSYS_OK;
}

/* ============================================================ expression and JSON */

recsys_status recsys__intent_expr(const recsys__mem *m, const recsys__intent *in, char **out)
{
    *out = NULL;
    if (recsys__intent_empty(in))
        return RECSYS_OK;
    recsys__jw b = { .m = m };
    bool any = false;
#define AND() (any ? recsys__jw_puts(&b, " && ") : (void)0, any = true)
    if (in->category) {
        AND();
        recsys__jw_puts(&b, "category == ");
        recsys__jw_str(&b, in->category);
    }
    for (size_t i = 0; !in->category && i < in->nxcats; i++) { /* implied by a category */
        AND();
        recsys__jw_puts(&b, "category != ");
        recsys__jw_str(&b, in->xcats[i]);
    }
    for (size_t i = 0; i < in->nattrs; i++) {
        const recsys__intent_attr *a = &in->attrs[i];
        if (a->type == RECSYS__ATTR_NUM) {
            if (a->lo > -INFINITY) {
                AND();
                recsys__jw_puts(&b, "attr(");
                recsys__jw_str(&b, a->name);
                recsys__jw_puts(&b, a->lo_strict ? ") > " : ") >= ");
                recsys__jw_double(&b, a->lo);
            }
            if (a->hi < INFINITY) {
                AND();
                recsys__jw_puts(&b, "attr(");
                recsys__jw_str(&b, a->name);
                recsys__jw_puts(&b, a->hi_strict ? ") < " : ") <= ");
                recsys__jw_double(&b, a->hi);
            }
        } else if (a->type == RECSYS__ATTR_BOOL) {
            AND();
            recsys__jw_puts(&b, "attr(");
            recsys__jw_str(&b, a->name);
            recsys__jw_puts(&b, a->bval ? ") == true" : ") == false");
        } else {
            AND();
            recsys__jw_puts(&b, a->negate ? "!(attr(" : "attr(");
            recsys__jw_str(&b, a->name);
            recsys__jw_puts(&b, ") == ");
            recsys__jw_str(&b, a->sval ? a->sval : "");
            if (a->negate)
                recsys__jw_puts(&b, ")");
        }
    }
    for (size_t i = 0; i < in->ntags; i++) {
        AND();
        recsys__jw_str(&b, in->tags[i]);
        recsys__jw_puts(&b, " in tags");
    }
    for (size_t i = 0; i < in->nxtags; i++) {
        AND();
        recsys__jw_str(&b, in->xtags[i]);
        recsys__jw_puts(&b, " not in tags");
    }
#undef AND
    if (!any)
        return RECSYS_OK;
    return recsys__jw_finish(&b, false, out, NULL);
}

static void jw_strs(recsys__jw *b, char *const *v, size_t n)
{
    recsys__jw_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            recsys__jw_puts(b, ",");
        recsys__jw_str(b, v[i]);
    }
    recsys__jw_puts(b, "]");
}

recsys_status recsys__intent_json(const recsys__mem *m, const recsys__intent *in, bool host,
                                  char **out, size_t *len)
{
    char *expr = NULL;
    RECSYS_TRY(recsys__intent_expr(m, in, &expr));
    recsys__jw b = { .m = m };
    recsys__jw_puts(&b, "{\"category\":");
    if (in->category)
        recsys__jw_str(&b, in->category);
    else
        recsys__jw_puts(&b, "null");
    recsys__jw_puts(&b, ",\"exclude_categories\":");
    jw_strs(&b, in->xcats, in->nxcats);
    recsys__jw_puts(&b, ",\"ranges\":[");
    bool first = true;
    for (size_t i = 0; i < in->nattrs; i++) {
        const recsys__intent_attr *a = &in->attrs[i];
        if (a->type != RECSYS__ATTR_NUM)
            continue;
        recsys__jw_puts(&b, first ? "{\"attribute\":" : ",{\"attribute\":");
        first = false;
        recsys__jw_str(&b, a->name);
        if (a->lo > -INFINITY) {
            recsys__jw_puts(&b, ",\"min\":");
            recsys__jw_double(&b, a->lo);
            recsys__jw_puts(&b, a->lo_strict ? ",\"min_inclusive\":false" : ",\"min_inclusive\":true");
        }
        if (a->hi < INFINITY) {
            recsys__jw_puts(&b, ",\"max\":");
            recsys__jw_double(&b, a->hi);
            recsys__jw_puts(&b, a->hi_strict ? ",\"max_inclusive\":false" : ",\"max_inclusive\":true");
        }
        recsys__jw_puts(&b, "}");
    }
    recsys__jw_puts(&b, "],\"equals\":[");
    first = true;
    for (size_t i = 0; i < in->nattrs; i++) {
        const recsys__intent_attr *a = &in->attrs[i];
        if (a->type == RECSYS__ATTR_NUM)
            continue;
        recsys__jw_puts(&b, first ? "{\"attribute\":" : ",{\"attribute\":");
        first = false;
        recsys__jw_str(&b, a->name);
        recsys__jw_puts(&b, ",\"value\":");
        if (a->type == RECSYS__ATTR_BOOL)
            recsys__jw_puts(&b, a->bval ? "true" : "false");
        else
            recsys__jw_str(&b, a->sval ? a->sval : "");
        recsys__jw_puts(&b, a->negate ? ",\"negate\":true}" : ",\"negate\":false}");
    }
    recsys__jw_puts(&b, "],\"require_tags\":");
    jw_strs(&b, in->tags, in->ntags);
    recsys__jw_puts(&b, ",\"exclude_tags\":");
    jw_strs(&b, in->xtags, in->nxtags);
    recsys__jw_puts(&b, ",\"terms\":");
    jw_strs(&b, in->terms, in->nterms);
    recsys__jw_puts(&b, ",\"expression\":");
    if (expr)
        recsys__jw_str(&b, expr);
    else
        recsys__jw_puts(&b, "null");
    recsys__jw_puts(&b, "}");
    recsys__free(m, expr);
    return recsys__jw_finish(&b, host, out, len);
}

/* ============================================================ stage 1 */

recsys_status recsys__intent_query_expr(const recsys__mem *m, recsys__llm_guard *g,
                                        const recsys_query *q, const recsys_llm_vtable *vt,
                                        recsys__llm_budget *(*get_budget)(void *arg),
                                        void *arg, char **expr)
{
    *expr = NULL;
    if (!q->text || !q->text[0] || recsys__query_opt(q, RECSYS_OPT_LLM_INTENT) == 0)
        return RECSYS_OK;
    const recsys__catalog *c = &q->model->catalog;
    recsys__intent_llm llm = { 0 };
    if (vt && get_budget && recsys__query_opt(q, RECSYS_OPT_LLM_CALLS_PER_REQUEST) > 0) {
        llm.guard = g;
        llm.vt = vt;
        llm.opt = q->opt;
        llm.get_budget = get_budget;
        llm.budget_arg = arg;
        llm.bm25 = q->derived ? q->derived->state[RECSYS__DERIVED_BM25] : NULL;
    }
    recsys__intent in;
    RECSYS_TRY(recsys__intent_understand(m, c, q->text, NULL, &llm, &in));
    /* a tag a search names ranks (the search source reads the same text) but does not
     * filter: "gaming laptop" still shows the other laptops when no gaming one is left */
    for (size_t i = 0; i < in.ntags; i++)
        recsys__free(m, in.tags[i]);
    in.ntags = 0;
    recsys_status st = recsys__intent_expr(m, &in, expr);
    recsys__intent_free(m, &in);
    return st;
}
