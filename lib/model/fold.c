/* fold.c - the catalog's words folded to ASCII lower case (see fold.h): kept by catalog.c's
 * put and remove, read by the query parser (llm/intent.c). */
#include "model.h"
#include "../core/error.h"

void recsys__fold_init(recsys__fold *f, const recsys__mem *m)
{
    memset(f, 0, sizeof *f);
    recsys__ids_init(&f->keys, m);
    recsys__ids_init(&f->vals, m);
}

void recsys__fold_free(recsys__fold *f, const recsys__mem *m)
{
    recsys__ids_free(&f->keys);
    recsys__ids_free(&f->vals);
    recsys__free(m, f->first);
    recsys__free(m, f->next);
    recsys__free(m, f->live);
    recsys__free(m, f->vattr);
    recsys__free(m, f->nvalues);
    memset(f, 0, sizeof *f);
}

/* prefix ':' + s[0..len) folded into buf (RECSYS__FOLD_TEXT_MAX + 2 bytes); its length, or 0
 * when s is empty or too long to be folded. */
static size_t fold_key(char *buf, char prefix, const char *s, size_t len)
{
    if (!len || len >= RECSYS__FOLD_TEXT_MAX)
        return 0;
    buf[0] = prefix;
    buf[1] = ':';
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        buf[2 + i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
    }
    return len + 2;
}

/* The value entry key "<attr index>:<spelling>" into buf (RECSYS__FOLD_TEXT_MAX + 10 bytes);
 * its length, or 0 when v is not an indexable value (empty, too long, too many words). */
static size_t value_key(char *buf, uint32_t attr, const char *v)
{
    size_t len = strlen(v), words = 1;
    if (!len || len >= RECSYS__FOLD_TEXT_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        words += (v[i] == ' ' || v[i] == '-' || v[i] == '_') && i + 1 < len && i > 0;
    if (words > RECSYS__FOLD_VALUE_WORDS)
        return 0;
    snprintf(buf, 10, "%08x", (unsigned)attr);
    buf[8] = ':';
    memcpy(buf + 9, v, len);
    return len + 9;
}

/* Interns key[0..len) with first = at when it is new (a failure leaves it for the caller's
 * rollback to pop). */
static recsys_status add_key(recsys__fold *f, const recsys__mem *m, const char *key, size_t len,
                             uint32_t at)
{
    uint32_t k;
    bool fresh = false;
    RECSYS_TRY(recsys__ids_intern(&f->keys, key, len, &k, &fresh));
    if (!fresh)
        return RECSYS_OK;
    RECSYS_TRY(RECSYS_GROW(m, f->first, f->first_cap, f->keys.n));
    f->first[k] = at;
    return RECSYS_OK;
}

/* next[] of an entry interned by an add not yet committed; ent[] of a value the bound kept
 * out (the attribute stops being a facet at commit). */
#define UNLINKED (RECSYS_IDS_NONE - 1)
#define FOLD_OVER (RECSYS_IDS_NONE - 1)

static bool is_text(const recsys__attr *a)
{
    return a->type == RECSYS__ATTR_STR && a->str && a->str[0];
}

/* The value entry key of a (value_key) into vkey and the attribute's index into *ai; 0 when
 * a is no text attribute, its value is not indexable or the attribute is no facet (past the
 * bound). */
static size_t entry_key(const recsys__fold *f, const recsys__catalog *c, const recsys__attr *a,
                        char *vkey, uint32_t *ai)
{
    *ai = RECSYS_IDS_NONE;
    if (!is_text(a))
        return 0;
    *ai = recsys__ids_find(&c->attr_names, a->name, strlen(a->name));
    if (*ai >= f->nvalues_cap || f->nvalues[*ai] > RECSYS__FOLD_VALUES_PER_ATTR)
        return 0;
    return value_key(vkey, *ai, a->str);
}

recsys_status recsys__fold_add(recsys__fold *f, const recsys__catalog *c, const recsys_item *it,
                               size_t nfacets, size_t nnames, uint32_t *ent)
{
    const recsys__mem *m = c->mem;
    char key[RECSYS__FOLD_TEXT_MAX + 10];
    size_t nk = f->keys.n, nv = f->vals.n;
    size_t had = f->nvalues_cap;
    recsys_status st = RECSYS_GROW(m, f->nvalues, f->nvalues_cap, c->attr_names.n);
    for (size_t i = had; i < f->nvalues_cap; i++) /* new slots start at zero */
        f->nvalues[i] = 0;
    /* the facets and attribute names this put interned ("c:<category>", "t:<tag>") */
    for (size_t i = nfacets; st == RECSYS_OK && i < c->facets.ids.n; i++) {
        const char *s = recsys__ids_name(&c->facets.ids, (uint32_t)i);
        size_t len = s && strlen(s) > 2 ? fold_key(key, s[0], s + 2, strlen(s) - 2) : 0;
        if (len)
            st = add_key(f, m, key, len, (uint32_t)i);
    }
    for (size_t i = nnames; st == RECSYS_OK && i < c->attr_names.n; i++) {
        const char *s = recsys__ids_name(&c->attr_names, (uint32_t)i);
        size_t len = s ? fold_key(key, 'a', s, strlen(s)) : 0;
        if (len)
            st = add_key(f, m, key, len, (uint32_t)i);
    }
    /* text values: the entry of each (new ones interned, linked at commit) */
    for (uint32_t i = 0; st == RECSYS_OK && i < it->nattrs && i < RECSYS__LIST_MAX; i++) {
        const recsys__attr *a = &it->attrs[i];
        ent[i] = RECSYS_IDS_NONE;
        char vkey[RECSYS__FOLD_TEXT_MAX + 10];
        uint32_t ai;
        size_t vkl = entry_key(f, c, a, vkey, &ai);
        if (!vkl)
            continue;
        if ((ent[i] = recsys__ids_find(&f->vals, vkey, vkl)) != RECSYS_IDS_NONE)
            continue;
        if (f->nvalues[ai] >= RECSYS__FOLD_VALUES_PER_ATTR) {
            ent[i] = FOLD_OVER; /* one value too many: commit ends the facet */
            continue;
        }
        size_t len = fold_key(key, 'v', a->str, strlen(a->str));
        if ((st = add_key(f, m, key, len, RECSYS_IDS_NONE)) != RECSYS_OK)
            break;
        uint32_t e;
        if ((st = recsys__ids_intern(&f->vals, vkey, vkl, &e, NULL)) != RECSYS_OK)
            break;
        /* the three arrays grow together; vals_cap moves only when all three did */
        size_t c1 = f->vals_cap, c2 = f->vals_cap, c3 = f->vals_cap;
        if ((st = recsys__grow(m, (void **)&f->next, &c1, f->vals.n, sizeof *f->next)) !=
                RECSYS_OK ||
            (st = recsys__grow(m, (void **)&f->live, &c2, f->vals.n, sizeof *f->live)) !=
                RECSYS_OK ||
            (st = recsys__grow(m, (void **)&f->vattr, &c3, f->vals.n, sizeof *f->vattr)) !=
                RECSYS_OK)
            break;
        f->vals_cap = RECSYS_MIN(c1, RECSYS_MIN(c2, c3));
        f->next[e] = UNLINKED; /* commit links it */
        f->live[e] = 0;
        f->vattr[e] = ai;
        f->nvalues[ai]++;
        ent[i] = e;
    }
    if (st != RECSYS_OK)
        recsys__fold_rollback(f, nk, nv);
    return st;
}

void recsys__fold_rollback(recsys__fold *f, size_t nkeys, size_t nvals)
{
    while (f->vals.n > nvals) {
        uint32_t e = (uint32_t)f->vals.n - 1;
        if (e < f->vals_cap && f->vattr[e] < f->nvalues_cap && f->next[e] == UNLINKED)
            f->nvalues[f->vattr[e]]--;
        recsys__ids_pop(&f->vals);
    }
    while (f->keys.n > nkeys)
        recsys__ids_pop(&f->keys);
}

void recsys__fold_commit(recsys__fold *f, const recsys__catalog *c, const recsys_item *it,
                         const uint32_t *ent, const recsys_item *old)
{
    char key[RECSYS__FOLD_TEXT_MAX + 10];
    for (uint32_t i = 0; it && i < it->nattrs && i < RECSYS__LIST_MAX; i++) {
        uint32_t e = ent[i];
        if (e == FOLD_OVER) {
            const char *name = it->attrs[i].name;
            uint32_t ai = recsys__ids_find(&c->attr_names, name, strlen(name));
            if (ai < f->nvalues_cap)
                f->nvalues[ai] = RECSYS__FOLD_VALUES_PER_ATTR + 1; /* for good */
            continue;
        }
        if (e == RECSYS_IDS_NONE)
            continue;
        if (f->next[e] == UNLINKED) { /* new: link it under its folded value */
            const char *v = it->attrs[i].str;
            uint32_t k = recsys__ids_find(&f->keys, key, fold_key(key, 'v', v, strlen(v)));
            f->next[e] = k == RECSYS_IDS_NONE ? RECSYS_IDS_NONE : f->first[k];
            if (k != RECSYS_IDS_NONE)
                f->first[k] = e;
        }
        f->live[e]++;
    }
    recsys__fold_release(f, c, old);
}

void recsys__fold_release(recsys__fold *f, const recsys__catalog *c, const recsys_item *old)
{
    for (uint32_t i = 0; old && i < old->nattrs && i < RECSYS__LIST_MAX; i++) {
        char vkey[RECSYS__FOLD_TEXT_MAX + 10];
        uint32_t ai;
        size_t vkl = entry_key(f, c, &old->attrs[i], vkey, &ai);
        uint32_t e = vkl ? recsys__ids_find(&f->vals, vkey, vkl) : RECSYS_IDS_NONE;
        if (e != RECSYS_IDS_NONE && f->next[e] != UNLINKED && f->live[e] > 0)
            f->live[e]--;
    }
}

/* ------------------------------------------------------------ lookups */

static uint32_t find_key(const recsys__catalog *c, char kind, const char *s, size_t len)
{
    char key[RECSYS__FOLD_TEXT_MAX + 2];
    size_t kl = fold_key(key, kind, s, len);
    if (!kl)
        return RECSYS_IDS_NONE;
    uint32_t k = recsys__ids_find(&c->fold.keys, key, kl);
    return k == RECSYS_IDS_NONE ? RECSYS_IDS_NONE : c->fold.first[k];
}

uint32_t recsys__catalog_fold_facet(const recsys__catalog *c, char kind, const char *s,
                                    size_t len)
{
    return kind == 'c' || kind == 't' ? find_key(c, kind, s, len) : RECSYS_IDS_NONE;
}

uint32_t recsys__catalog_fold_attr(const recsys__catalog *c, const char *s, size_t len)
{
    return find_key(c, 'a', s, len);
}

size_t recsys__catalog_fold_values(const recsys__catalog *c, const char *s, size_t len,
                                   recsys__fold_hit *hits, size_t cap)
{
    const recsys__fold *f = &c->fold;
    size_t n = 0;
    uint32_t best[RECSYS__FOLD_HITS_MAX];
    for (uint32_t e = find_key(c, 'v', s, len); e != RECSYS_IDS_NONE && e < f->vals.n;
         e = f->next[e]) {
        uint32_t a = f->vattr[e];
        if (!f->live[e] || a >= f->nvalues_cap || f->nvalues[a] > RECSYS__FOLD_VALUES_PER_ATTR)
            continue;
        size_t h = 0;
        while (h < n && hits[h].attr != a)
            h++;
        if (h == n) {
            if (n >= cap || n >= RECSYS__FOLD_HITS_MAX)
                continue;
            n++;
        } else if (f->live[e] <= f->live[best[h]])
            continue; /* the spelling most items hold */
        best[h] = e;
        hits[h].attr = a;
        hits[h].spelling = recsys__ids_name(&f->vals, e) + 9;
    }
    return n;
}
