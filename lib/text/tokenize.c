/* tokenize.c - lowercase, split, drop stopwords, strip plurals (see tokenize.h). */
#include "tokenize.h"

/* Sorted, for binary search. Short on purpose: words that carry no topic in a catalog. */
static const char *const stopwords[] = {
    "a",    "about", "an",   "and",   "are",   "as",    "at",   "be",   "been", "but",
    "by",   "can",   "do",   "for",   "from",  "has",   "have", "how",  "i",    "if",
    "in",   "into",  "is",   "it",    "its",   "me",    "my",   "no",   "not",  "of",
    "on",   "or",    "our",  "so",    "some",  "such",  "than", "that", "the",  "their",
    "them", "then",  "there", "these", "they", "this",  "to",   "us",   "was",  "we",
    "were", "what",  "when", "which", "who",   "will",  "with", "you",  "your",
};

static bool is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80;
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool recsys__tok_stopword(const char *w, size_t len)
{
    size_t lo = 0, hi = RECSYS_ARRAY_LEN(stopwords);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *s = stopwords[mid];
        size_t sl = strlen(s);
        int c = memcmp(s, w, sl < len ? sl : len);
        if (c == 0)
            c = (sl > len) - (sl < len);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool ends_with(const char *w, size_t len, const char *suf)
{
    size_t sl = strlen(suf);
    return len >= sl && memcmp(w + len - sl, suf, sl) == 0;
}

size_t recsys__tok_stem(char *w, size_t len)
{
    if (len < 4 || w[len - 1] != 's')
        return len;
    if (ends_with(w, len, "ss") || ends_with(w, len, "us") || ends_with(w, len, "is"))
        return len; /* class, campus, analysis */
    if (len >= 5 && ends_with(w, len, "ies") && w[len - 4] != 'a' && w[len - 4] != 'e') {
        w[len - 3] = 'y'; /* batteries -> battery */
        w[len - 2] = '\0';
        return len - 2;
    }
    if (ends_with(w, len, "sses") || ends_with(w, len, "xes") || ends_with(w, len, "ches") ||
        ends_with(w, len, "shes")) {
        w[len - 2] = '\0'; /* classes -> class, boxes -> box, watches -> watch */
        return len - 2;
    }
    w[len - 1] = '\0'; /* laptops -> laptop, courses -> course */
    return len - 1;
}

/* Reads the next raw word (lowercased, cut to the buffer) and stems it. */
static size_t next_word(recsys__tok *t, char buf[RECSYS__TOK_MAX])
{
    const unsigned char *p = (const unsigned char *)t->p;
    while (*p && !is_word_byte(*p))
        p++;
    if (!*p) {
        t->p = (const char *)p;
        buf[0] = '\0';
        return 0;
    }
    size_t n = 0;
    while (*p && is_word_byte(*p)) {
        if (n < RECSYS__TOK_MAX - 1)
            buf[n++] = ascii_lower((char)*p);
        p++;
    }
    t->p = (const char *)p;
    /* a cut may have split a UTF-8 sequence: back up to its lead byte */
    if (n == RECSYS__TOK_MAX - 1 && ((unsigned char)buf[n - 1] & 0x80)) {
        size_t k = n;
        while (k > 0 && ((unsigned char)buf[k - 1] & 0xC0) == 0x80)
            k--;
        if (k > 0 && ((unsigned char)buf[k - 1] & 0xC0) == 0xC0) {
            unsigned lead = (unsigned char)buf[k - 1];
            size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
            if (n - (k - 1) < need)
                n = k - 1;
        }
    }
    buf[n] = '\0';
    return recsys__tok_stem(buf, n);
}

size_t recsys__tok_next_all(recsys__tok *t, char buf[RECSYS__TOK_MAX])
{
    for (;;) {
        size_t n = next_word(t, buf);
        if (n > 0 || !*t->p)
            return n;
    }
}

size_t recsys__tok_next(recsys__tok *t, char buf[RECSYS__TOK_MAX])
{
    for (;;) {
        size_t n = recsys__tok_next_all(t, buf);
        if (n == 0 || !recsys__tok_stopword(buf, n))
            return n;
    }
}

bool recsys__tok_phrase_eq(const char *a, const char *b)
{
    recsys__tok ta, tb;
    char wa[RECSYS__TOK_MAX], wb[RECSYS__TOK_MAX];
    recsys__tok_init(&ta, a);
    recsys__tok_init(&tb, b);
    size_t words = 0;
    for (;;) {
        size_t na = recsys__tok_next_all(&ta, wa);
        size_t nb = recsys__tok_next_all(&tb, wb);
        if (na != nb || memcmp(wa, wb, na) != 0)
            return false;
        if (na == 0)
            return words > 0;
        words++;
    }
}

bool recsys__tok_contains(const char *text, const char *tok)
{
    if (!tok || !*tok)
        return false;
    size_t tl = strlen(tok);
    recsys__tok t;
    char w[RECSYS__TOK_MAX];
    size_t n;
    recsys__tok_init(&t, text);
    while ((n = recsys__tok_next_all(&t, w)) > 0)
        if (n == tl && memcmp(w, tok, n) == 0)
            return true;
    return false;
}

bool recsys__text_ieq(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    for (; *a && *b; a++, b++)
        if (ascii_lower(*a) != ascii_lower(*b))
            return false;
    return *a == *b;
}
