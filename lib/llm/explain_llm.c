/* explain_llm.c - LLM explanations: the prompt, strict parsing of the reply and the check of
 * every explanation against the item and the user's history (see explain_llm.h). */
#include "explain_llm.h"
#include "../core/error.h"
#include "../model/context.h"
#include "../text/tokenize.h"
#include <jansson.h>
#include <xxhash.h>

/* ============================================================ words */

/* A word of a text: a maximal run of ASCII letters and digits and bytes >= 0x80 (the
 * tokenizer's notion, without stopwords or stemming: claims are compared word for word). */
typedef struct word {
    uint32_t off, len;
    bool upper;      /* starts with an ASCII capital */
    bool sent_start; /* first word of the text or of a sentence */
} word;

static bool word_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c >= 0x80;
}

/* The words of s[0..max) (at most cap; the rest ignored). */
static size_t words_of(const char *s, size_t max, word *w, size_t cap)
{
    size_t n = 0;
    bool start = true;
    for (size_t i = 0; i < max && s[i] && n < cap;) {
        unsigned char c = (unsigned char)s[i];
        if (!word_byte(c)) {
            if (c == '.' || c == '!' || c == '?' || c == ':')
                start = true;
            i++;
            continue;
        }
        size_t j = i;
        while (j < max && s[j] && word_byte((unsigned char)s[j]))
            j++;
        w[n].off = (uint32_t)i;
        w[n].len = (uint32_t)(j - i);
        w[n].upper = c >= 'A' && c <= 'Z';
        w[n].sent_start = start;
        start = false;
        n++;
        i = j;
    }
    return n;
}

#define PHRASE_BYTES 256

/* Hash of the words idx[0..n) of s, lowercased and joined by one space; false when the
 * phrase is longer than PHRASE_BYTES. */
static bool phrase_hash(const char *s, const word *w, const uint32_t *idx, size_t n,
                        uint64_t *out)
{
    char buf[PHRASE_BYTES];
    size_t len = 0;
    for (size_t k = 0; k < n; k++) {
        const word *x = &w[idx[k]];
        if (len + x->len + 1 > sizeof buf)
            return false;
        if (k)
            buf[len++] = ' ';
        for (uint32_t b = 0; b < x->len; b++) {
            char c = s[x->off + b];
            buf[len++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
    }
    *out = XXH3_64bits(buf, len);
    return true;
}

/* ============================================================ hash sets */

/* The vocabulary looked for: phrase hash -> how it must match. */
typedef struct ventry {
    uint64_t h;
    uint8_t used;
    uint8_t nwords;
    uint8_t ci;       /* case-insensitive (facets, titles of 3+ words) */
    uint8_t casemask; /* short titles: bit k = word k starts with a capital */
} ventry;

typedef struct vtab {
    ventry *v;
    size_t cap, n; /* cap a power of two */
} vtab;

static recsys_status vtab_init(const recsys__mem *m, vtab *t, size_t expect)
{
    size_t cap = 64;
    while (cap < expect * 2 + 16)
        cap *= 2;
    t->v = recsys__calloc(m, cap, sizeof *t->v);
    t->cap = cap;
    t->n = 0;
    return t->v ? RECSYS_OK : RECSYS_E_NOMEM;
}

static ventry *vtab_find(const vtab *t, uint64_t h)
{
    for (size_t i = (size_t)h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        if (!t->v[i].used)
            return NULL;
        if (t->v[i].h == h)
            return &t->v[i];
    }
}

/* Adds a phrase; a phrase already there becomes case-insensitive if either is. The table
 * was sized for every insertion (never grows). */
static void vtab_add(vtab *t, uint64_t h, size_t nwords, bool ci, uint8_t casemask)
{
    if (t->n * 2 >= t->cap)
        return;
    ventry *e = vtab_find(t, h);
    if (e) {
        if (ci)
            e->ci = 1;
        return;
    }
    size_t i = (size_t)h & (t->cap - 1);
    while (t->v[i].used)
        i = (i + 1) & (t->cap - 1);
    t->v[i] = (ventry){ h, 1, (uint8_t)nwords, ci, casemask };
    t->n++;
}

/* A growing set of hashes (an item's own phrases). */
typedef struct hset {
    const recsys__mem *m;
    uint64_t *v; /* 0 = empty (a zero hash is stored as 1) */
    size_t cap, n;
    bool oom;
} hset;

static uint64_t hkey(uint64_t h)
{
    return h ? h : 1;
}

static bool hset_has(const hset *s, uint64_t h)
{
    h = hkey(h);
    if (!s->cap)
        return false;
    for (size_t i = (size_t)h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->v[i])
            return false;
        if (s->v[i] == h)
            return true;
    }
}

static void hset_put_raw(uint64_t *v, size_t cap, uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);
    while (v[i] && v[i] != h)
        i = (i + 1) & (cap - 1);
    v[i] = h;
}

static void hset_add(hset *s, uint64_t h)
{
    h = hkey(h);
    if (s->oom)
        return;
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        uint64_t *v = recsys__calloc(s->m, cap, sizeof *v);
        if (!v) {
            s->oom = true;
            return;
        }
        for (size_t i = 0; i < s->cap; i++)
            if (s->v[i])
                hset_put_raw(v, cap, s->v[i]);
        recsys__free(s->m, s->v);
        s->v = v;
        s->cap = cap;
    }
    if (!hset_has(s, h)) {
        hset_put_raw(s->v, s->cap, h);
        s->n++;
    }
}

static void hset_clear(hset *s)
{
    if (s->v)
        memset(s->v, 0, s->cap * sizeof *s->v);
    s->n = 0;
}

/* Every phrase of up to maxw words of s[0..max) into s. */
static void hset_add_text(hset *set, const char *s, size_t max, size_t maxw, word *w,
                          size_t wcap)
{
    if (!s || !*s)
        return;
    size_t n = words_of(s, max, w, wcap);
    uint32_t idx[RECSYS__EXPLAIN_LLM_PHRASE_WORDS];
    for (size_t i = 0; i < n; i++) {
        for (size_t l = 1; l <= maxw && i + l <= n; l++) {
            for (size_t k = 0; k < l; k++)
                idx[k] = (uint32_t)(i + k);
            uint64_t h;
            if (!phrase_hash(s, w, idx, l, &h))
                break;
            hset_add(set, h);
        }
    }
}

/* ============================================================ the checker */

#define WORDS_MAX 1024 /* words of one text considered */
#define OWN_DESC_MAX 4000 /* bytes of a description searched for the item's own phrases */

typedef struct checker {
    const recsys__mem *m;
    const recsys_query *q;
    const recsys__llm_hist *hist;
    vtab vocab;
    hset own;
    word *w; /* WORDS_MAX scratch */
} checker;

/* Adds the title variants of a title (see explain_llm.h) to the vocabulary. */
static void add_title(checker *k, const char *title)
{
    word w[RECSYS__EXPLAIN_LLM_PHRASE_WORDS + 4];
    size_t n = words_of(title, RECSYS__LLM_TITLE_MAX, w, RECSYS_ARRAY_LEN(w));
    if (n == 0 || n > RECSYS__EXPLAIN_LLM_PHRASE_WORDS + 2)
        return;
    /* the words before a trailing "(...)" */
    size_t core = n;
    size_t tl = strlen(title);
    while (tl > 0 && title[tl - 1] == ' ')
        tl--;
    if (tl > 0 && title[tl - 1] == ')') {
        const char *open = NULL;
        for (size_t i = tl; i > 0; i--)
            if (title[i - 1] == '(') {
                open = title + i - 1;
                break;
            }
        if (open) {
            core = 0;
            while (core < n && w[core].off < (uint32_t)(open - title))
                core++;
        }
    }
    uint32_t idx[RECSYS__EXPLAIN_LLM_PHRASE_WORDS + 4];
    uint32_t variants[3][RECSYS__EXPLAIN_LLM_PHRASE_WORDS + 4];
    size_t vn[3] = { 0, 0, 0 };
    for (size_t i = 0; i < n; i++)
        variants[0][vn[0]++] = (uint32_t)i;
    for (size_t i = 0; i < core; i++)
        variants[1][vn[1]++] = (uint32_t)i;
    /* "Usual Suspects, The" -> "The Usual Suspects" */
    if (core >= 2) {
        const word *last = &w[core - 1];
        const char *p = title + last->off;
        bool article = (last->len == 3 && strncasecmp(p, "the", 3) == 0) ||
                       (last->len == 1 && (*p == 'a' || *p == 'A')) ||
                       (last->len == 2 && strncasecmp(p, "an", 2) == 0);
        size_t before = last->off;
        while (before > 0 && title[before - 1] == ' ')
            before--;
        if (article && before > 0 && title[before - 1] == ',') {
            variants[2][vn[2]++] = (uint32_t)(core - 1);
            for (size_t i = 0; i + 1 < core; i++)
                variants[2][vn[2]++] = (uint32_t)i;
            vn[1]--; /* "Usual Suspects" without the article */
        }
    }
    for (int v = 0; v < 3; v++) {
        size_t len = vn[v];
        if (len == 0 || len > RECSYS__EXPLAIN_LLM_PHRASE_WORDS)
            continue;
        if (len == 1 && w[variants[v][0]].len < 4)
            continue;
        bool digits = true;
        for (size_t j = 0; j < len && digits; j++) {
            const word *x = &w[variants[v][j]];
            for (uint32_t b = 0; b < x->len && digits; b++)
                digits = title[x->off + b] >= '0' && title[x->off + b] <= '9';
        }
        if (digits)
            continue;
        memcpy(idx, variants[v], len * sizeof *idx);
        uint64_t h;
        if (!phrase_hash(title, w, idx, len, &h))
            continue;
        uint8_t mask = 0;
        for (size_t j = 0; j < len && j < 8; j++)
            mask |= (uint8_t)(w[idx[j]].upper << j);
        vtab_add(&k->vocab, h, len, len >= 3, mask);
    }
}

static void add_facet(checker *k, const char *name)
{
    word w[RECSYS__EXPLAIN_LLM_PHRASE_WORDS + 1];
    size_t n = words_of(name, RECSYS__TEXT_MAX, w, RECSYS_ARRAY_LEN(w));
    if (n == 0 || n > RECSYS__EXPLAIN_LLM_PHRASE_WORDS)
        return;
    uint32_t idx[RECSYS__EXPLAIN_LLM_PHRASE_WORDS];
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)i;
    uint64_t h;
    if (phrase_hash(name, w, idx, n, &h))
        vtab_add(&k->vocab, h, n, true, 0);
}

static recsys_status checker_init(checker *k, const recsys__mem *m, const recsys_query *q,
                                  const uint32_t *items, size_t n, const recsys__llm_hist *hist)
{
    memset(k, 0, sizeof *k);
    k->m = m;
    k->q = q;
    k->hist = hist;
    k->own.m = m;
    const recsys__catalog *c = &q->model->catalog;
    bool all = c->live <= RECSYS__EXPLAIN_LLM_TITLE_SCAN;
    size_t titles = all ? c->ids.n : n + (hist ? hist->n : 0);
    size_t expect = c->facets.ids.n + 3 * titles;
    k->w = recsys__alloc(m, WORDS_MAX * sizeof *k->w);
    if (!k->w || vtab_init(m, &k->vocab, expect) != RECSYS_OK)
        return RECSYS_E_NOMEM;
    for (size_t f = 0; f < c->facets.ids.n; f++) {
        const char *name = c->facets.ids.names[f];
        if (name && strlen(name) > 2) /* "c:<category>" or "t:<tag>" */
            add_facet(k, name + 2);
    }
    if (all) {
        for (size_t i = 0; i < c->ids.n; i++)
            if (c->items[i])
                add_title(k, c->items[i]->title);
    } else {
        for (size_t i = 0; i < n; i++) {
            const recsys_item *it = recsys__catalog_get(c, items[i]);
            if (it)
                add_title(k, it->title);
        }
        for (size_t i = 0; hist && i < hist->n; i++) {
            const recsys_item *it = recsys__catalog_get(c, hist->item[i]);
            if (it)
                add_title(k, it->title);
        }
    }
    return RECSYS_OK;
}

static void checker_free(checker *k)
{
    recsys__free(k->m, k->vocab.v);
    recsys__free(k->m, k->own.v);
    recsys__free(k->m, k->w);
    memset(k, 0, sizeof *k);
}

/* The item's own phrases, and the titles of the history items its evidence cites. */
static void own_phrases(checker *k, const recsys_item *it, const uint32_t *cited, size_t ncited)
{
    const size_t maxw = RECSYS__EXPLAIN_LLM_PHRASE_WORDS;
    hset *s = &k->own;
    hset_clear(s);
    hset_add_text(s, it->title, RECSYS__TEXT_MAX, maxw, k->w, WORDS_MAX);
    hset_add_text(s, it->category, RECSYS__TEXT_MAX, maxw, k->w, WORDS_MAX);
    hset_add_text(s, it->provider, RECSYS__TEXT_MAX, maxw, k->w, WORDS_MAX);
    hset_add_text(s, it->description, OWN_DESC_MAX, maxw, k->w, WORDS_MAX);
    for (uint32_t t = 0; t < it->ntags; t++)
        hset_add_text(s, it->tags[t], RECSYS__TEXT_MAX, maxw, k->w, WORDS_MAX);
    for (uint32_t a = 0; a < it->nattrs; a++)
        if (it->attrs[a].type == RECSYS__ATTR_STR)
            hset_add_text(s, it->attrs[a].str, RECSYS__TEXT_MAX, maxw, k->w, WORDS_MAX);
    for (size_t h = 0; h < ncited; h++) {
        const recsys_item *hi = recsys__catalog_get(&k->q->model->catalog, cited[h]);
        if (hi)
            hset_add_text(s, hi->title, RECSYS__TEXT_MAX, maxw, k->w, WORDS_MAX);
    }
}

/* A number the text states: true when it is one of the item's numeric values at the
 * precision written. */
static bool number_on_item(const recsys_item *it, double v, int decimals)
{
    double tol = 0.5 * pow(10.0, -decimals);
    tol += 1e-9 * RECSYS_MAX(1.0, fabs(v));
    for (uint32_t a = 0; a < it->nattrs; a++)
        if (it->attrs[a].type == RECSYS__ATTR_NUM && fabs(it->attrs[a].num - v) <= tol)
            return true;
    return it->min_age > 0 && decimals == 0 && v == (double)it->min_age;
}

/* Every number in text must be on the item or part of its own words (see the header). */
static bool numbers_ok(checker *k, const recsys_item *it, const char *text)
{
    for (size_t i = 0; text[i];) {
        if (!(text[i] >= '0' && text[i] <= '9')) {
            i++;
            continue;
        }
        /* the run: digits, with ',' + 3 digits groups and one '.' + digits */
        size_t s = i, e = i;
        char num[64];
        size_t nl = 0;
        int decimals = -1;
        while (text[e]) {
            char c = text[e];
            if (c >= '0' && c <= '9') {
                if (nl < sizeof num - 1)
                    num[nl++] = c;
                if (decimals >= 0)
                    decimals++;
                e++;
            } else if (c == ',' && decimals < 0 && text[e + 1] >= '0' && text[e + 1] <= '9' &&
                       text[e + 2] >= '0' && text[e + 2] <= '9' && text[e + 3] >= '0' &&
                       text[e + 3] <= '9' && !(text[e + 4] >= '0' && text[e + 4] <= '9')) {
                e++;
            } else if (c == '.' && decimals < 0 && text[e + 1] >= '0' && text[e + 1] <= '9') {
                if (nl < sizeof num - 1)
                    num[nl++] = '.';
                decimals = 0;
                e++;
            } else {
                break;
            }
        }
        num[nl] = '\0';
        i = e;
        /* the words around it: its own text ("RTX 4070", "(1995)", "13.3") is fine */
        size_t ws = s, we = e;
        while (ws > 0 && word_byte((unsigned char)text[ws - 1]))
            ws--;
        while (text[we] && word_byte((unsigned char)text[we]))
            we++;
        size_t n = words_of(text + ws, we - ws, k->w, 8);
        uint32_t idx[8];
        for (size_t x = 0; x < n; x++)
            idx[x] = (uint32_t)x;
        uint64_t h;
        if (n > 0 && phrase_hash(text + ws, k->w, idx, n, &h) && hset_has(&k->own, h))
            continue;
        double v = strtod(num, NULL);
        if (!isfinite(v) || !number_on_item(it, v, decimals < 0 ? 0 : decimals))
            return false;
    }
    return true;
}

/* No catalog category, tag or title in text that is not the item's (see the header). */
static bool vocabulary_ok(checker *k, const char *text)
{
    size_t n = words_of(text, RECSYS__EXPLAIN_LLM_TEXT_MAX + 1, k->w, WORDS_MAX);
    uint32_t idx[RECSYS__EXPLAIN_LLM_PHRASE_WORDS];
    for (size_t i = 0; i < n; i++) {
        for (size_t l = 1; l <= RECSYS__EXPLAIN_LLM_PHRASE_WORDS && i + l <= n; l++) {
            for (size_t x = 0; x < l; x++)
                idx[x] = (uint32_t)(i + x);
            uint64_t h;
            if (!phrase_hash(text, k->w, idx, l, &h))
                break;
            const ventry *e = vtab_find(&k->vocab, h);
            if (!e || e->nwords != l || hset_has(&k->own, h))
                continue;
            if (e->ci)
                return false;
            uint8_t mask = 0;
            for (size_t x = 0; x < l && x < 8; x++)
                mask |= (uint8_t)(k->w[i + x].upper << x);
            if (mask == e->casemask && !(l == 1 && k->w[i].sent_start))
                return false;
        }
    }
    return true;
}

/* ============================================================ parsing */

typedef struct piece {
    int32_t kind;
    char name[64];
    char value[RECSYS__LLM_TITLE_MAX + 64];
} piece;

static bool json_text(const json_t *j, const char **out)
{
    if (!json_is_string(j))
        return false;
    const char *s = json_string_value(j);
    if (strlen(s) != json_string_length(j)) /* an embedded NUL */
        return false;
    *out = s;
    return true;
}

/* A JSON number or boolean or string as the text the grounding check reads. */
static bool value_text(const json_t *v, char *buf, size_t cap)
{
    const char *s;
    if (json_text(v, &s)) {
        if (strlen(s) >= cap)
            return false;
        memcpy(buf, s, strlen(s) + 1);
        return true;
    }
    if (json_is_true(v) || json_is_false(v)) {
        snprintf(buf, cap, "%s", json_is_true(v) ? "true" : "false");
        return true;
    }
    if (json_is_integer(v)) {
        snprintf(buf, cap, "%" PRId64, (int64_t)json_integer_value(v));
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d))
            return false;
        for (int p = 1; p <= 17; p++) { /* the shortest text that reads back */
            snprintf(buf, cap, "%.*g", p, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        return true;
    }
    return false;
}

/* Checks one evidence piece; fills p. *cited receives a cited history item (else NONE). */
static bool check_piece(checker *k, const recsys_item *it, const json_t *ev, piece *p,
                        uint32_t *cited)
{
    *cited = RECSYS_IDS_NONE;
    const char *kind;
    if (!json_is_object(ev) || !json_text(json_object_get(ev, "kind"), &kind))
        return false;
    if (strcmp(kind, "attribute") == 0) {
        const char *name;
        if (!json_text(json_object_get(ev, "name"), &name) || !*name ||
            strlen(name) >= sizeof p->name)
            return false;
        if (strcmp(name, "tags") == 0)
            name = "tag";
        if (!value_text(json_object_get(ev, "value"), p->value, sizeof p->value))
            return false;
        p->kind = RECSYS_EVIDENCE_ATTRIBUTE;
        memcpy(p->name, name, strlen(name) + 1);
        return recsys__evidence_grounded(k->q, it, p->kind, p->name, p->value);
    }
    if (strcmp(kind, "history") == 0) {
        const json_t *h = json_object_get(ev, "item");
        char hb[32];
        long at = -1;
        const char *hs;
        if (json_text(h, &hs))
            at = recsys__llm_hist_handle(k->hist, hs);
        else if (json_is_integer(h) && json_integer_value(h) > 0 &&
                 json_integer_value(h) <= RECSYS__LLM_HISTORY_MAX) {
            snprintf(hb, sizeof hb, "%" PRId64, (int64_t)json_integer_value(h));
            at = recsys__llm_hist_handle(k->hist, hb);
        }
        if (at < 0)
            return false;
        const char *tname = recsys__event_name(k->hist->type[at]);
        const char *id = recsys__ids_name(&k->q->model->catalog.ids, k->hist->item[at]);
        if (!tname || !id || strlen(id) >= sizeof p->value)
            return false;
        p->kind = RECSYS_EVIDENCE_HISTORY;
        snprintf(p->name, sizeof p->name, "%s", tname);
        memcpy(p->value, id, strlen(id) + 1);
        *cited = k->hist->item[at];
        if (!recsys__evidence_grounded(k->q, it, p->kind, p->name, p->value))
            return false;
        /* as the template's rule: a shared category alone ("film" for a film) explains
         * nothing; the history item must share a tag (or be the item, or the item has none) */
        const recsys_item *hi = recsys__catalog_get(&k->q->model->catalog, *cited);
        if (!hi || hi == it || it->ntags == 0)
            return hi != NULL;
        for (uint32_t t = 0; t < hi->ntags; t++)
            for (uint32_t u = 0; u < it->ntags; u++)
                if (recsys__text_ieq(hi->tags[t], it->tags[u]))
                    return true;
        return false;
    }
    return false;
}

static bool text_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > RECSYS__EXPLAIN_LLM_TEXT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
            return false;
    return true;
}

/* Checks one entry for item it; on success fills out (allocated with m). Returns RECSYS_OK
 * with *passed set, or RECSYS_E_NOMEM. */
static recsys_status check_entry(checker *k, const recsys_item *it, const json_t *entry,
                                 recsys__explanation *out, bool *passed)
{
    *passed = false;
    const char *text;
    const json_t *evs = json_object_get(entry, "evidence");
    if (!it || !it->available || !json_text(json_object_get(entry, "text"), &text) ||
        !text_ok(text) || !json_is_array(evs) || json_array_size(evs) == 0 ||
        json_array_size(evs) > 16)
        return RECSYS_OK;
    piece pieces[RECSYS__EXPLAIN_MAX_EVIDENCE];
    uint32_t cited[16];
    size_t ncited = 0, nkeep = 0;
    for (size_t e = 0; e < json_array_size(evs); e++) {
        piece p;
        uint32_t c;
        if (!check_piece(k, it, json_array_get(evs, e), &p, &c))
            return RECSYS_OK;
        if (c != RECSYS_IDS_NONE)
            cited[ncited++] = c;
        if (nkeep < RECSYS__EXPLAIN_MAX_EVIDENCE)
            pieces[nkeep++] = p;
    }
    own_phrases(k, it, cited, ncited);
    if (k->own.oom)
        return RECSYS_E_NOMEM;
    if (!numbers_ok(k, it, text) || !vocabulary_ok(k, text))
        return RECSYS_OK;
    out->text = recsys__strdup(k->m, text);
    out->ev = out->text ? recsys__calloc(k->m, nkeep, sizeof *out->ev) : NULL;
    if (!out->ev)
        goto oom;
    for (size_t e = 0; e < nkeep; e++) {
        recsys__evidence *x = &out->ev[out->nev];
        x->kind = pieces[e].kind;
        x->name = recsys__strdup(k->m, pieces[e].name);
        x->value = x->name ? recsys__strdup(k->m, pieces[e].value) : NULL;
        if (!x->value) {
            recsys__free(k->m, x->name);
            x->name = NULL;
            goto oom;
        }
        out->nev++;
    }
    *passed = true;
    return RECSYS_OK;
oom:
    recsys__explanation_free(k->m, out);
    return RECSYS_E_NOMEM;
}

recsys_status recsys__explain_llm_parse(const recsys__mem *m, const recsys_query *q,
                                        const uint32_t *items, size_t n,
                                        const recsys__llm_hist *hist, const char *text,
                                        size_t len, recsys__explanation *out, uint8_t *verdict)
{
    static const recsys__llm_hist none = { .n = 0 };
    if (!m || !q || !q->model || (n && (!items || !out || !verdict)))
        return recsys__err(RECSYS_E_INVALID_ARG, "explain.llm: argument NULL");
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        verdict[i] = RECSYS__EXPLAIN_LLM_NONE;
    }
    if (!hist)
        hist = &none;
    if (!text || len > RECSYS__EXPLAIN_LLM_REPLY_MAX)
        return recsys__err(RECSYS_E_CORRUPT, "explain.llm: the reply is missing or too long");
    /* strip prose and code fences: the first '{' to the last '}' */
    const char *open = memchr(text, '{', len), *close = NULL;
    for (size_t i = len; i > 0 && !close; i--)
        if (text[i - 1] == '}')
            close = text + i - 1;
    if (!open || !close || close < open)
        return recsys__err(RECSYS_E_CORRUPT, "explain.llm: no JSON object in the reply");
    json_error_t je;
    json_t *root = json_loadb(open, (size_t)(close - open) + 1, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return recsys__err(RECSYS_E_CORRUPT, "explain.llm: the reply is not JSON: %s", je.text);
    const json_t *list = json_object_get(root, "explanations");
    if (!json_is_object(root) || !json_is_array(list)) {
        json_decref(root);
        return recsys__err(RECSYS_E_CORRUPT,
                           "explain.llm: the reply has no \"explanations\" array");
    }
    checker k;
    recsys_status st = checker_init(&k, m, q, items, n, hist);
    for (size_t e = 0; st == RECSYS_OK && e < json_array_size(list); e++) {
        const json_t *entry = json_array_get(list, e);
        const json_t *h = json_is_object(entry) ? json_object_get(entry, "handle") : NULL;
        if (!json_is_integer(h) || json_integer_value(h) < 1 ||
            (uint64_t)json_integer_value(h) > n)
            continue; /* not one of ours: ignored */
        size_t at = (size_t)json_integer_value(h) - 1;
        if (verdict[at] != RECSYS__EXPLAIN_LLM_NONE)
            continue; /* a repeated handle: the first entry stands */
        const recsys_item *it = recsys__catalog_get(&q->model->catalog, items[at]);
        bool passed;
        st = check_entry(&k, it, entry, &out[at], &passed);
        verdict[at] = passed ? RECSYS__EXPLAIN_LLM_PASSED : RECSYS__EXPLAIN_LLM_FAILED;
    }
    checker_free(&k);
    json_decref(root);
    if (st != RECSYS_OK) {
        for (size_t i = 0; i < n; i++) {
            recsys__explanation_free(m, &out[i]);
            verdict[i] = RECSYS__EXPLAIN_LLM_NONE;
        }
        return RECSYS_E_NOMEM;
    }
    return RECSYS_OK;
}

/* ============================================================ the call */

static recsys_status build_prompt(const recsys__mem *m, const recsys_query *q,
                                  const uint32_t *items, size_t n, recsys__llm_hist *hist,
                                  char **out)
{
    recsys__jw b = { .m = m };
    recsys__jw_puts(&b, recsys__llm_tpl_explain.instruction);
    recsys__jw_puts(&b, "\n");
    recsys__llm_data_open(&b);
    recsys__jw_puts(&b, "{\"profile\":");
    recsys__llm_profile(&b, q, recsys__llm_profile_fields(q), hist);
    recsys__jw_puts(&b, "}\n");
    if (q->text && *q->text) {
        recsys__jw_puts(&b, "{\"query\":");
        recsys__llm_quote(&b, q->text, RECSYS__LLM_QUERY_MAX);
        recsys__jw_puts(&b, "}\n");
    }
    for (size_t i = 0; i < n; i++) {
        recsys__llm_card(&b, q, items[i], i + 1);
        recsys__jw_puts(&b, "\n");
    }
    recsys__llm_data_close(&b);
    return recsys__jw_finish(&b, false, out, NULL);
}

recsys_status recsys__explain_llm(const recsys__mem *m, recsys__llm_guard *g,
                                  const recsys_llm_vtable *vt, recsys__llm_budget *b,
                                  const recsys_query *q, const recsys_candidates *c,
                                  recsys__explanation *out, uint8_t *verdict)
{
    if (!m || !q || !q->model || !c || (c->n && !out) || (vt && (!g || !b)))
        return recsys__err(RECSYS_E_INVALID_ARG, "explain.llm: argument NULL");
    size_t n = c->n, nl = RECSYS_MIN(n, (size_t)RECSYS__EXPLAIN_LLM_ITEMS_MAX);
    uint8_t local[RECSYS__EXPLAIN_LLM_ITEMS_MAX];
    uint8_t *vd = verdict ? verdict : local;
    memset(out, 0, n * sizeof *out);
    memset(vd, 0, verdict ? n : sizeof local);
    recsys_status st = RECSYS_OK;
    uint32_t *items = NULL;
    if (vt && nl > 0) {
        items = recsys__alloc(m, nl * sizeof *items);
        if (!items)
            return RECSYS_E_NOMEM;
        for (size_t i = 0; i < nl; i++)
            items[i] = c->v[i].item;
        recsys__llm_hist hist;
        char *prompt = NULL;
        st = build_prompt(m, q, items, nl, &hist, &prompt);
        if (st == RECSYS_OK) {
            const recsys__llm_template *t = &recsys__llm_tpl_explain;
            recsys__llm_ask ask = { .task = t->task, .system = t->system, .prompt = prompt,
                                    .schema = t->schema,
                                    .max_tokens = (int32_t)RECSYS_MIN(
                                        (size_t)t->max_tokens, 64 + 80 * nl),
                                    .temperature = t->temperature };
            char *reply = NULL;
            size_t rlen = 0;
            recsys__err_saved saved;
            recsys__err_save(&saved);
            st = recsys__llm_ask_run(g, vt, q->opt, b, &ask, m, &reply, &rlen);
            if (st == RECSYS_OK) {
                st = recsys__explain_llm_parse(m, q, items, nl, &hist, reply, rlen, out, vd);
                if (st == RECSYS_E_CORRUPT) {
                    recsys__llm_reject(g, b, &ask);
                    st = RECSYS_OK;
                } else if (st == RECSYS_OK) {
                    recsys__llm_accept(g, &ask);
                    for (size_t i = 0; i < nl; i++)
                        if (vd[i] != RECSYS__EXPLAIN_LLM_NONE)
                            recsys__llm_count_explanation(g, b, vd[i] ==
                                                                    RECSYS__EXPLAIN_LLM_FAILED);
                }
            } else if (st != RECSYS_E_NOMEM) {
                st = RECSYS_OK; /* no LLM this time: templates */
            }
            if (st == RECSYS_OK)
                recsys__err_restore(&saved); /* a fallback is not an error */
            recsys__free(m, reply);
        }
        recsys__free(m, prompt);
    }
    recsys__free(m, items);
    for (size_t i = 0; st == RECSYS_OK && i < n; i++)
        if (i >= nl || vd[i] != RECSYS__EXPLAIN_LLM_PASSED)
            st = recsys__explain_template(m, q, c, i, &out[i]);
    if (st != RECSYS_OK) {
        recsys__err_saved s;
        recsys__err_save(&s);
        for (size_t i = 0; i < n; i++)
            recsys__explanation_free(m, &out[i]);
        recsys__err_restore(&s);
        return st;
    }
    if (verdict)
        for (size_t i = nl; i < n; i++)
            verdict[i] = RECSYS__EXPLAIN_LLM_NONE;
    return RECSYS_OK;
}
