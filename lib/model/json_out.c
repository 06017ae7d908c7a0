/* json_out.c - canonical JSON for items, profiles and the user view.
 *
 * Written directly (not through jansson) so that every byte comes from the caller's
 * recsys__mem. Canonical: fixed key order, attributes sorted by name, empty optional fields
 * left out, numbers in the shortest form that reads back to the same value, in any locale.
 * What json_in.c parses from an item's output is that same item. */
#include "model.h"
#include "../core/error.h"

typedef struct sb {
    const recsys__mem *m;
    char *p;
    size_t n, cap;
    bool oom;
} sb;

static void put(sb *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (RECSYS_GROW(b->m, b->p, b->cap, b->n + n + 1) != RECSYS_OK) {
        b->oom = true;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(sb *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_str(sb *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(b, run, (size_t)(s - run));
        run = s + 1;
        char esc[7] = { '\\', 0 };
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        put(b, esc, n);
    }
    put(b, run, (size_t)(s - run));
    put(b, "\"", 1);
}

/* Appends a number printed by snprintf, with the locale's decimal separator (whatever the
 * host set with setlocale) turned back into '.'. */
static void put_numtext(sb *b, const char *t)
{
    char out[64];
    size_t n = 0;
    bool sep = false;
    for (; *t && n < sizeof out - 1; t++) {
        char c = *t;
        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e' || c == 'E') {
            out[n++] = c;
            sep = false;
        } else if (!sep) { /* '.', ',' or the first byte of a multi-byte separator */
            out[n++] = '.';
            sep = true;
        }
    }
    put(b, out, n);
}

static void put_double(sb *b, double d)
{
    char t[48];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, d);
        if (prec == 17 || strtod(t, NULL) == d)
            break;
    }
    put_numtext(b, t);
}

static void put_float(sb *b, float f)
{
    char t[48];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, (double)f);
        if (prec == 9 || strtof(t, NULL) == f)
            break;
    }
    put_numtext(b, t);
}

static void put_int(sb *b, int64_t v)
{
    char t[32];
    snprintf(t, sizeof t, "%" PRId64, v);
    puts_(b, t);
}

static void put_key(sb *b, const char *key, bool *first)
{
    if (!*first)
        put(b, ",", 1);
    *first = false;
    put_str(b, key);
    put(b, ":", 1);
}

static void put_strv(sb *b, char *const *v, uint32_t n)
{
    put(b, "[", 1);
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            put(b, ",", 1);
        put_str(b, v[i]);
    }
    put(b, "]", 1);
}

static void put_attrs(sb *b, const recsys__attr *a, uint32_t n)
{
    put(b, "{", 1);
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            put(b, ",", 1);
        put_str(b, a[i].name);
        put(b, ":", 1);
        switch (a[i].type) {
        case RECSYS__ATTR_STR: put_str(b, a[i].str ? a[i].str : ""); break;
        case RECSYS__ATTR_BOOL: puts_(b, a[i].num != 0 ? "true" : "false"); break;
        default: put_double(b, a[i].num); break;
        }
    }
    put(b, "}", 1);
}

/* Hands the text over: a host string, or the builder's own buffer. */
static recsys_status finish(sb *b, bool host, char **out, size_t *len)
{
    if (!b->oom && !b->p)
        put(b, "", 0);
    if (b->oom) {
        recsys__free(b->m, b->p);
        return RECSYS_E_NOMEM;
    }
    char *s = b->p;
    if (host) {
        s = recsys__hoststr(b->m, b->p, b->n);
        recsys__free(b->m, b->p);
        if (!s)
            return RECSYS_E_NOMEM;
    }
    *out = s;
    if (len)
        *len = b->n;
    return RECSYS_OK;
}

recsys_status recsys__json_item(const recsys__mem *m, const recsys_item *it, bool host,
                                char **out, size_t *len)
{
    *out = NULL;
    if (len)
        *len = 0;
    sb b = { m, NULL, 0, 0, false };
    bool first = true;
    put(&b, "{", 1);
    put_key(&b, "item_id", &first);
    put_str(&b, it->id);
    put_key(&b, "title", &first);
    put_str(&b, it->title);
    if (it->description[0]) {
        put_key(&b, "description", &first);
        put_str(&b, it->description);
    }
    put_key(&b, "category", &first);
    put_str(&b, it->category);
    if (it->provider[0]) {
        put_key(&b, "provider", &first);
        put_str(&b, it->provider);
    }
    put_key(&b, "tags", &first);
    put_strv(&b, it->tags, it->ntags);
    if (it->nregions) {
        put_key(&b, "regions", &first);
        put_strv(&b, it->regions, it->nregions);
    }
    put_key(&b, "available", &first);
    puts_(&b, it->available ? "true" : "false");
    if (it->min_age) {
        put_key(&b, "min_age", &first);
        put_int(&b, it->min_age);
    }
    if (it->created) {
        put_key(&b, "created", &first);
        put_int(&b, it->created);
    }
    if (it->nattrs) {
        put_key(&b, "attributes", &first);
        put_attrs(&b, it->attrs, it->nattrs);
    }
    if (it->nembs) {
        put_key(&b, "embeddings", &first);
        put(&b, "{", 1);
        for (uint32_t i = 0; i < it->nembs; i++) {
            if (i)
                put(&b, ",", 1);
            put_str(&b, it->embs[i].name);
            put(&b, ":[", 2);
            for (uint32_t k = 0; k < it->embs[i].dim; k++) {
                if (k)
                    put(&b, ",", 1);
                put_float(&b, it->embs[i].v[k]);
            }
            put(&b, "]", 1);
        }
        put(&b, "}", 1);
    }
    const recsys__generated *g = &it->gen;
    if (g->ntags || g->summary[0] || g->nattrs || g->model[0]) {
        bool gfirst = true;
        put_key(&b, "generated", &first);
        put(&b, "{", 1);
        if (g->ntags) {
            put_key(&b, "tags", &gfirst);
            put_strv(&b, g->tags, g->ntags);
        }
        if (g->summary[0]) {
            put_key(&b, "summary", &gfirst);
            put_str(&b, g->summary);
        }
        if (g->nattrs) {
            put_key(&b, "attributes", &gfirst);
            put_attrs(&b, g->attrs, g->nattrs);
        }
        if (g->model[0]) {
            put_key(&b, "model", &gfirst);
            put_str(&b, g->model);
        }
        put(&b, "}", 1);
    }
    put(&b, "}", 1);
    return finish(&b, host, out, len);
}

static const char *const list_keys[4] = { NULL, "recent_views", "purchased_items",
                                          "negative_feedback" };

/* Item id of a catalog index (ids of removed items stay interned). */
static const char *item_name(const recsys__model *model, uint32_t idx)
{
    if (idx >= model->catalog.ids.n)
        return NULL;
    return recsys__ids_name(&model->catalog.ids, idx);
}

/* The profile's fields, without the closing brace. */
static void put_profile(sb *b, const recsys__model *model, const recsys__user *u)
{
    bool first = true;
    put(b, "{", 1);
    put_key(b, "user_id", &first);
    put_str(b, u->id);
    put_key(b, "interests", &first);
    put_strv(b, u->interests, u->ninterests);
    if (u->age >= 0) {
        put_key(b, "age", &first);
        put_int(b, u->age);
    }
    if (u->region) {
        put_key(b, "region", &first);
        put_str(b, u->region);
    }
    for (int l = RECSYS_LIST_RECENT_VIEWS; l <= RECSYS_LIST_NEGATIVE; l++) {
        if (!u->nlists[l])
            continue;
        put_key(b, list_keys[l], &first);
        put(b, "[", 1);
        bool f = true;
        for (uint32_t i = 0; i < u->nlists[l]; i++) {
            const char *name = item_name(model, u->lists[l][i]);
            if (!name)
                continue;
            if (!f)
                put(b, ",", 1);
            f = false;
            put_str(b, name);
        }
        put(b, "]", 1);
    }
}

recsys_status recsys__json_profile(const recsys__mem *m, const recsys__model *model,
                                   const recsys__user *u, bool host, char **out, size_t *len)
{
    *out = NULL;
    if (len)
        *len = 0;
    sb b = { m, NULL, 0, 0, false };
    put_profile(&b, model, u);
    put(&b, "}", 1);
    return finish(&b, host, out, len);
}

recsys_status recsys__json_user_view(const recsys__mem *m, const recsys__model *model,
                                     const recsys__user *u, int64_t now, char **out, size_t *len)
{
    RECSYS_UNUSED(now);
    *out = NULL;
    if (len)
        *len = 0;
    sb b = { m, NULL, 0, 0, false };
    put_profile(&b, model, u);
    /* history: per event type in type order, the items most recent first */
    puts_(&b, ",\"history\":{");
    bool tfirst = true;
    for (int32_t t = 1; recsys__event_name(t); t++) {
        bool any = false;
        for (size_t i = u->nhist; i-- > 0;) {
            const recsys__hist *h = &u->hist[i];
            const char *name = h->type == t ? item_name(model, h->item) : NULL;
            if (!name)
                continue;
            if (!any)
                put_key(&b, recsys__event_name(t), &tfirst);
            put(&b, any ? "," : "[", 1);
            any = true;
            put_str(&b, name);
        }
        if (any)
            put(&b, "]", 1);
    }
    puts_(&b, "},\"search_history\":[");
    bool f = true;
    for (size_t i = u->nhist; i-- > 0;) {
        if (!u->hist[i].query)
            continue;
        if (!f)
            put(&b, ",", 1);
        f = false;
        put_str(&b, u->hist[i].query);
    }
    puts_(&b, "],\"events\":");
    char t[32];
    snprintf(t, sizeof t, "%" PRIu64, u->nevents);
    puts_(&b, t);
    put(&b, "}", 1);
    return finish(&b, true, out, len);
}
