/* enrich.c - the enrichment prompt, the strict reply parser, the vocabulary check, the content
 * hash and the cache record (see enrich.h). */
#include "enrich.h"
#include "prompt.h"
#include "../core/error.h"
#include "../core/utf8.h"
#include "../model/json_read.h"
#include <xxhash.h>

/* ============================================================ configuration */

static int rule_cmp(const void *a, const void *b)
{
    return strcmp(((const recsys__enrich_attr_rule *)a)->name,
                  ((const recsys__enrich_attr_rule *)b)->name);
}

static const recsys__enrich_attr_rule *rule_find(const recsys__enrich_cfg *cfg, const char *name)
{
    recsys__enrich_attr_rule key = { .name = (char *)name };
    return cfg->nattrs ? bsearch(&key, cfg->attrs, cfg->nattrs, sizeof key, rule_cmp) : NULL;
}

static recsys_status add_rule(const recsys__mem *m, recsys__enrich_cfg *cfg, size_t *cap,
                              const char *name, size_t len, unsigned types)
{
    RECSYS_TRY(RECSYS_GROW(m, cfg->attrs, *cap, cfg->nattrs + 1));
    char *s = recsys__strndup(m, name, len);
    if (!s)
        return RECSYS_E_NOMEM;
    cfg->attrs[cfg->nattrs].name = s;
    cfg->attrs[cfg->nattrs++].types = types;
    return RECSYS_OK;
}

#define ALL_TYPES ((1u << RECSYS__ATTR_NUM) | (1u << RECSYS__ATTR_STR) | (1u << RECSYS__ATTR_BOOL))

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* "name[:num|str|bool],..." into cfg->attrs (unsorted). */
static recsys_status parse_attr_list(const recsys__mem *m, const recsys__catalog *c,
                                     const char *list, recsys__enrich_cfg *cfg)
{
    size_t cap = 0;
    const char *p = list;
    for (size_t k = 1;; k++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && is_space(*p)) {
            p++;
            len--;
        }
        while (len && is_space(p[len - 1]))
            len--;
        const char *colon = memchr(p, ':', len);
        size_t nlen = colon ? (size_t)(colon - p) : len;
        while (nlen && is_space(p[nlen - 1]))
            nlen--;
        if (nlen == 0 || nlen > RECSYS_ID_MAX_BYTES || !recsys__utf8_valid(p, nlen))
            return recsys__err(RECSYS_E_INVALID_ARG, "option %d (enrich.attributes): entry %zu "
                               "has no valid name (expected name[:num|str|bool], comma-"
                               "separated)", RECSYS_OPT_ENRICH_ATTRIBUTES, k);
        char name[RECSYS_ID_MAX_BYTES + 1];
        memcpy(name, p, nlen);
        name[nlen] = '\0';
        unsigned types = 0;
        if (colon) {
            const char *t = colon + 1;
            size_t tlen = len - nlen - (size_t)(t - (p + nlen));
            while (tlen && is_space(*t)) {
                t++;
                tlen--;
            }
            if (tlen == 3 && !memcmp(t, "num", 3))
                types = 1u << RECSYS__ATTR_NUM;
            else if (tlen == 3 && !memcmp(t, "str", 3))
                types = 1u << RECSYS__ATTR_STR;
            else if (tlen == 4 && !memcmp(t, "bool", 4))
                types = 1u << RECSYS__ATTR_BOOL;
            else
                return recsys__err(RECSYS_E_INVALID_ARG, "option %d (enrich.attributes): entry "
                                   "%zu has an unknown type (expected num, str or bool)",
                                   RECSYS_OPT_ENRICH_ATTRIBUTES, k);
        } else {
            types = recsys__catalog_attr_types(c, name);
            if (!types)
                types = ALL_TYPES;
        }
        for (size_t i = 0; i < cfg->nattrs; i++)
            if (strlen(cfg->attrs[i].name) == nlen && !memcmp(cfg->attrs[i].name, p, nlen))
                return recsys__err(RECSYS_E_INVALID_ARG, "option %d (enrich.attributes): "
                                   "attribute '%.*s' is listed twice",
                                   RECSYS_OPT_ENRICH_ATTRIBUTES, recsys__utf8_quote_len(name),
                                   name);
        if (cfg->nattrs >= RECSYS__LIST_MAX)
            return recsys__err(RECSYS_E_INVALID_ARG, "option %d (enrich.attributes): more than "
                               "%d attributes", RECSYS_OPT_ENRICH_ATTRIBUTES, RECSYS__LIST_MAX);
        RECSYS_TRY(add_rule(m, cfg, &cap, p, nlen, types));
        if (!end)
            return RECSYS_OK;
        p = end + 1;
    }
}

static recsys_status cfg_fill(const recsys__mem *m, const recsys__catalog *c,
                              const char *attrs_opt, recsys__enrich_cfg *cfg)
{
    if (attrs_opt && attrs_opt[0]) {
        cfg->listed = true;
        RECSYS_TRY(parse_attr_list(m, c, attrs_opt, cfg));
    } else {
        size_t cap = 0;
        for (size_t i = 0; i < c->attr_names.n; i++) {
            const char *name = recsys__ids_name(&c->attr_names, (uint32_t)i);
            unsigned types = i < c->attr_types_cap ? c->attr_types[i] : 0;
            if (name && types)
                RECSYS_TRY(add_rule(m, cfg, &cap, name, strlen(name), types));
        }
    }
    if (cfg->nattrs)
        qsort(cfg->attrs, cfg->nattrs, sizeof *cfg->attrs, rule_cmp);
    if (cfg->max_tags) {
        size_t cap = 0;
        for (size_t i = 0; i < c->facets.ids.n; i++) {
            const char *f = recsys__ids_name(&c->facets.ids, (uint32_t)i);
            if (!f || f[0] != 't' || f[1] != ':')
                continue;
            if (cfg->nvocab == RECSYS__ENRICH_VOCAB_SHOWN) {
                cfg->vocab_more = true;
                break;
            }
            RECSYS_TRY(RECSYS_GROW(m, cfg->vocab, cap, cfg->nvocab + 1));
            if (!(cfg->vocab[cfg->nvocab] = recsys__strdup(m, f + 2)))
                return RECSYS_E_NOMEM;
            cfg->nvocab++;
        }
    }
    return RECSYS_OK;
}

recsys_status recsys__enrich_cfg_build(const recsys__mem *m, const recsys__catalog *c,
                                       const char *attrs_opt, uint32_t max_tags,
                                       uint32_t summary_max, bool new_tags,
                                       recsys__enrich_cfg *out)
{
    memset(out, 0, sizeof *out);
    out->max_tags = max_tags;
    out->summary_max = summary_max;
    out->new_tags = new_tags;
    recsys_status st = cfg_fill(m, c, attrs_opt, out);
    if (st != RECSYS_OK)
        recsys__enrich_cfg_free(m, out);
    return st;
}

void recsys__enrich_cfg_free(const recsys__mem *m, recsys__enrich_cfg *cfg)
{
    for (size_t i = 0; i < cfg->nattrs; i++)
        recsys__free(m, cfg->attrs[i].name);
    recsys__free(m, cfg->attrs);
    for (size_t i = 0; i < cfg->nvocab; i++)
        recsys__free(m, cfg->vocab[i]);
    recsys__free(m, cfg->vocab);
    memset(cfg, 0, sizeof *cfg);
}

/* ============================================================ content hash */

/* One link of the chain: the field's bytes hashed with the previous link as the seed, so
 * field boundaries count (no two item texts hash alike by moving bytes between fields). */
static uint64_t h_bytes(uint64_t h, const void *p, size_t n)
{
    return XXH3_64bits_withSeed(p, n, h);
}

static uint64_t h_str(uint64_t h, const char *str)
{
    return h_bytes(h, str, strlen(str));
}

uint64_t recsys__enrich_hash(const recsys_item *it)
{
    uint64_t h = h_str(0, RECSYS__ENRICH_TEMPLATE);
    h = h_str(h, it->title);
    h = h_str(h, it->description);
    h = h_str(h, it->category);
    h = h_str(h, it->provider);
    h = h_bytes(h, &it->ntags, sizeof it->ntags);
    for (uint32_t i = 0; i < it->ntags; i++)
        h = h_str(h, it->tags[i]);
    h = h_bytes(h, &it->nattrs, sizeof it->nattrs);
    for (uint32_t i = 0; i < it->nattrs; i++) {
        const recsys__attr *a = &it->attrs[i];
        h = h_str(h, a->name);
        h = h_bytes(h, &a->type, sizeof a->type);
        if (a->type == RECSYS__ATTR_STR)
            h = h_str(h, a->str);
        else
            h = h_bytes(h, &a->num, sizeof a->num);
    }
    return h;
}

/* ============================================================ prompt */

static void put_attr_value(recsys__jw *b, const recsys__attr *a)
{
    if (a->type == RECSYS__ATTR_STR)
        recsys__llm_quote(b, a->str, RECSYS__ENRICH_VALUE_MAX);
    else if (a->type == RECSYS__ATTR_BOOL)
        recsys__jw_puts(b, a->num != 0 ? "true" : "false");
    else
        recsys__jw_double(b, a->num);
}

recsys_status recsys__enrich_card(const recsys__mem *m, const recsys_item *it, char **out)
{
    recsys__jw b = { .m = m };
    if (it->title[0]) {
        recsys__jw_puts(&b, ",\"title\":");
        recsys__llm_quote(&b, it->title, RECSYS__LLM_TITLE_MAX);
    }
    if (it->category[0]) {
        recsys__jw_puts(&b, ",\"category\":");
        recsys__llm_quote(&b, it->category, RECSYS__LLM_WORD_MAX);
    }
    if (it->ntags) {
        recsys__jw_puts(&b, ",\"tags\":[");
        for (uint32_t i = 0; i < it->ntags && i < 32; i++) {
            if (i)
                recsys__jw_puts(&b, ",");
            recsys__llm_quote(&b, it->tags[i], RECSYS__LLM_WORD_MAX);
        }
        recsys__jw_puts(&b, "]");
    }
    if (it->description[0]) {
        recsys__jw_puts(&b, ",\"description\":");
        recsys__llm_quote(&b, it->description, RECSYS__ENRICH_DESC_MAX);
    }
    if (it->nattrs) {
        recsys__jw_puts(&b, ",\"attributes\":{");
        for (uint32_t i = 0; i < it->nattrs && i < 32; i++) {
            if (i)
                recsys__jw_puts(&b, ",");
            recsys__llm_quote(&b, it->attrs[i].name, RECSYS__LLM_WORD_MAX);
            recsys__jw_puts(&b, ":");
            put_attr_value(&b, &it->attrs[i]);
        }
        recsys__jw_puts(&b, "}");
    }
    recsys__jw_puts(&b, "}");
    return recsys__jw_finish(&b, false, out, NULL);
}

static const char *type_word(unsigned types)
{
    switch (types) {
    case 1u << RECSYS__ATTR_NUM: return "number";
    case 1u << RECSYS__ATTR_STR: return "string";
    case 1u << RECSYS__ATTR_BOOL: return "boolean";
    }
    return "any";
}

static void schema_types(recsys__jw *b, unsigned types)
{
    bool first = true;
    recsys__jw_puts(b, "{\"type\":[");
    static const struct { unsigned bit; const char *name; } t[] = {
        { 1u << RECSYS__ATTR_NUM, "\"number\"" },
        { 1u << RECSYS__ATTR_STR, "\"string\"" },
        { 1u << RECSYS__ATTR_BOOL, "\"boolean\"" },
    };
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(t); i++)
        if (types & t[i].bit) {
            if (!first)
                recsys__jw_puts(b, ",");
            first = false;
            recsys__jw_puts(b, t[i].name);
        }
    recsys__jw_puts(b, ",\"null\"]}");
}

static recsys_status build_system(const recsys__mem *m, const recsys__enrich_cfg *cfg, char **out)
{
    recsys__jw b = { .m = m };
    recsys__jw_puts(&b, "You enrich the items of a recommender's catalog with metadata. "
                        RECSYS__LLM_DATA_RULE " For each item of the data block, named by its "
                        "handle, give");
    if (cfg->max_tags) {
        char line[200];
        snprintf(line, sizeof line, " \"tags\": at most %u short lowercase tags that describe "
                 "it", (unsigned)cfg->max_tags);
        recsys__jw_puts(&b, line);
        if (!cfg->new_tags)
            recsys__jw_puts(&b, ", chosen only from the allowed_tags of the data block");
        recsys__jw_puts(&b, ";");
    }
    if (cfg->summary_max) {
        char line[200];
        snprintf(line, sizeof line, " \"summary\": one factual sentence of at most %u bytes "
                 "that restates only what the item's own text says;",
                 (unsigned)cfg->summary_max);
        recsys__jw_puts(&b, line);
    }
    if (cfg->nattrs)
        recsys__jw_puts(&b, " \"attributes\": values the item's text states, only for the "
                            "names and types of the allowed_attributes of the data block "
                            "(leave out a value the text does not give);");
    recsys__jw_puts(&b, " nothing else. Reply with one JSON object and nothing else: "
                        "{\"items\":[{\"handle\":1");
    if (cfg->max_tags)
        recsys__jw_puts(&b, ",\"tags\":[\"...\"]");
    if (cfg->summary_max)
        recsys__jw_puts(&b, ",\"summary\":\"...\"");
    if (cfg->nattrs)
        recsys__jw_puts(&b, ",\"attributes\":{\"name\":value}");
    recsys__jw_puts(&b, "}]}, one entry per handle.");
    return recsys__jw_finish(&b, false, out, NULL);
}

static recsys_status build_prompt(const recsys__mem *m, const recsys__enrich_cfg *cfg,
                                  const char *const *cards, size_t n, char **out)
{
    recsys__jw b = { .m = m };
    recsys__jw_puts(&b, "Enrich each item of the data block as the rules say.\n");
    recsys__llm_data_open(&b);
    if (cfg->max_tags && cfg->nvocab && !cfg->new_tags) {
        recsys__jw_puts(&b, "{\"allowed_tags\":[");
        for (size_t i = 0; i < cfg->nvocab; i++) {
            if (i)
                recsys__jw_puts(&b, ",");
            recsys__llm_quote(&b, cfg->vocab[i], RECSYS__ENRICH_TAG_MAX);
        }
        recsys__jw_puts(&b, cfg->vocab_more ? "],\"more_allowed\":true}\n" : "]}\n");
    }
    if (cfg->nattrs) {
        recsys__jw_puts(&b, "{\"allowed_attributes\":{");
        for (size_t i = 0; i < cfg->nattrs && i < RECSYS__ENRICH_ATTRS_SHOWN; i++) {
            if (i)
                recsys__jw_puts(&b, ",");
            recsys__llm_quote(&b, cfg->attrs[i].name, RECSYS_ID_MAX_BYTES);
            recsys__jw_puts(&b, ":\"");
            recsys__jw_puts(&b, type_word(cfg->attrs[i].types));
            recsys__jw_puts(&b, "\"");
        }
        recsys__jw_puts(&b, "}}\n");
    }
    for (size_t i = 0; i < n; i++) {
        recsys__jw_puts(&b, "{\"handle\":");
        recsys__jw_int(&b, (int64_t)i + 1);
        recsys__jw_puts(&b, cards[i]);
        recsys__jw_puts(&b, "\n");
    }
    recsys__llm_data_close(&b);
    return recsys__jw_finish(&b, false, out, NULL);
}

static recsys_status build_schema(const recsys__mem *m, const recsys__enrich_cfg *cfg, size_t n,
                                  char **out)
{
    recsys__jw b = { .m = m };
    recsys__jw_puts(&b, "{\"type\":\"object\",\"additionalProperties\":false,\"required\":"
                        "[\"items\"],\"properties\":{\"items\":{\"type\":\"array\","
                        "\"maxItems\":");
    recsys__jw_int(&b, (int64_t)n);
    recsys__jw_puts(&b, ",\"items\":{\"type\":\"object\",\"additionalProperties\":false,"
                        "\"required\":[\"handle\"],\"properties\":{\"handle\":{\"type\":"
                        "\"integer\",\"minimum\":1,\"maximum\":");
    recsys__jw_int(&b, (int64_t)n);
    recsys__jw_puts(&b, "}");
    if (cfg->max_tags) {
        recsys__jw_puts(&b, ",\"tags\":{\"type\":\"array\",\"maxItems\":");
        recsys__jw_int(&b, cfg->max_tags);
        recsys__jw_puts(&b, ",\"items\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":");
        recsys__jw_int(&b, RECSYS__ENRICH_TAG_MAX);
        recsys__jw_puts(&b, "}}");
    }
    if (cfg->summary_max) {
        recsys__jw_puts(&b, ",\"summary\":{\"type\":\"string\",\"maxLength\":");
        recsys__jw_int(&b, cfg->summary_max);
        recsys__jw_puts(&b, "}");
    }
    if (cfg->nattrs) {
        recsys__jw_puts(&b, ",\"attributes\":{\"type\":\"object\",\"additionalProperties\":"
                            "false,\"properties\":{");
        for (size_t i = 0; i < cfg->nattrs; i++) {
            if (i)
                recsys__jw_puts(&b, ",");
            recsys__jw_str(&b, cfg->attrs[i].name);
            recsys__jw_puts(&b, ":");
            schema_types(&b, cfg->attrs[i].types);
        }
        recsys__jw_puts(&b, "}}");
    }
    recsys__jw_puts(&b, "}}}}}");
    return recsys__jw_finish(&b, false, out, NULL);
}

recsys_status recsys__enrich_prompt_build(const recsys__mem *m, const recsys__enrich_cfg *cfg,
                                          const char *const *cards, size_t n,
                                          recsys__enrich_prompt *out)
{
    memset(out, 0, sizeof *out);
    recsys_status st = build_system(m, cfg, &out->system);
    if (st == RECSYS_OK)
        st = build_prompt(m, cfg, cards, n, &out->prompt);
    if (st == RECSYS_OK)
        st = build_schema(m, cfg, n, &out->schema);
    if (st != RECSYS_OK)
        recsys__enrich_prompt_free(m, out);
    return st;
}

void recsys__enrich_prompt_free(const recsys__mem *m, recsys__enrich_prompt *p)
{
    recsys__free(m, p->system);
    recsys__free(m, p->prompt);
    recsys__free(m, p->schema);
    memset(p, 0, sizeof *p);
}

/* ============================================================ reply parser */

/* Removes surrounding white space and one markdown code fence (```json ... ```). */
static void strip_fence(const char **text, size_t *len)
{
    const char *p = *text;
    size_t n = *len;
    while (n && is_space(*p)) {
        p++;
        n--;
    }
    while (n && is_space(p[n - 1]))
        n--;
    if (n >= 6 && !memcmp(p, "```", 3) && !memcmp(p + n - 3, "```", 3)) {
        const char *nl = memchr(p, '\n', n - 3);
        if (nl) {
            n -= (size_t)(nl + 1 - p) + 3;
            p = nl + 1;
            while (n && is_space(p[n - 1]))
                n--;
        }
    }
    *text = p;
    *len = n;
}

/* Marks entry h invalid. The first reason becomes the thread's message (a warning the engine
 * keeps); later ones are dropped. field is the entry's JSON key (untrusted, valid UTF-8) or
 * NULL; why starts with ": ". */
static void invalid(recsys__enrich_reply *r, size_t h, bool *noted, const char *field,
                    const char *why)
{
    if (!*noted) {
        *noted = true;
        if (field)
            recsys__err(RECSYS_E_INVALID_ARG, "enrich reply: handle %zu: field '%.*s'%s", h + 1,
                        recsys__utf8_quote_len(field), field, why);
        else
            recsys__err(RECSYS_E_INVALID_ARG, "enrich reply: handle %zu%s", h + 1, why);
    }
    r->state[h] = RECSYS__ENRICH_INVALID;
}

/* Fills it's gen from entry e. RECSYS_OK; RECSYS_E_INVALID_ARG with *why set (static text)
 * and *field naming the field; RECSYS_E_NOMEM. */
static recsys_status read_entry(const recsys__mem *m, const json_t *e,
                                const recsys__enrich_cfg *cfg, recsys_item *it,
                                const char **why, const char **field)
{
    static const char *const keys[] = { "handle", "tags", "summary", "attributes" };
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)e, key, val) {
        size_t k = 0;
        while (k < RECSYS_ARRAY_LEN(keys) && strcmp(key, keys[k]) != 0)
            k++;
        *field = key;
        if (k == RECSYS_ARRAY_LEN(keys)) {
            *why = " is unknown (expected handle, tags, summary, attributes)";
            return RECSYS_E_INVALID_ARG;
        }
        if (k == 1) { /* tags */
            if (!json_is_array(val) || json_array_size(val) > cfg->max_tags) {
                *why = ": not an array of at most max_tags strings";
                return RECSYS_E_INVALID_ARG;
            }
            for (size_t i = 0; i < json_array_size(val); i++) {
                const char *s = recsys__jr_str_of(json_array_get(val, i));
                size_t n = s ? strlen(s) : 0;
                if (!s || n == 0 || n > RECSYS__ENRICH_TAG_MAX) {
                    *why = ": a tag is not a string of 1..64 bytes of UTF-8";
                    return RECSYS_E_INVALID_ARG;
                }
                recsys_status st = recsys__item_add_gen_tag(m, it, s);
                if (st != RECSYS_OK) {
                    *why = ": a tag was refused";
                    return st;
                }
            }
        } else if (k == 2) { /* summary */
            const char *s = recsys__jr_str_of(val);
            if (!s || strlen(s) > cfg->summary_max) {
                *why = ": not a string within summary_max bytes";
                return RECSYS_E_INVALID_ARG;
            }
            recsys_status st = recsys__item_set_gen_text(m, it, 0, s);
            if (st != RECSYS_OK) {
                *why = ": refused";
                return st;
            }
        } else if (k == 3) { /* attributes */
            if (!json_is_object(val) || json_object_size(val) > RECSYS__LIST_MAX) {
                *why = ": not an object of at most 256 values";
                return RECSYS_E_INVALID_ARG;
            }
            const char *name;
            json_t *v;
            json_object_foreach(val, name, v) {
                size_t nlen = strlen(name);
                if (nlen == 0 || nlen > RECSYS_ID_MAX_BYTES || !recsys__utf8_valid(name, nlen)) {
                    *why = ": a name is not 1..256 bytes of UTF-8";
                    return RECSYS_E_INVALID_ARG;
                }
                int32_t type;
                double num = 0;
                const char *s = NULL;
                if (json_is_null(v))
                    continue;
                if (json_is_number(v)) {
                    type = RECSYS__ATTR_NUM;
                    num = json_number_value(v);
                    if (!isfinite(num)) {
                        *why = ": a number is not finite";
                        return RECSYS_E_INVALID_ARG;
                    }
                } else if (json_is_boolean(v)) {
                    type = RECSYS__ATTR_BOOL;
                    num = json_is_true(v);
                } else if ((s = recsys__jr_str_of(v)) && s[0] &&
                           strlen(s) <= RECSYS__ENRICH_VALUE_MAX) {
                    type = RECSYS__ATTR_STR;
                } else {
                    *why = ": a value is not a number, boolean, null or a string of 1..256 "
                           "bytes";
                    return RECSYS_E_INVALID_ARG;
                }
                recsys_status st = recsys__item_set_gen_attr(m, it, name, type, num, s);
                if (st != RECSYS_OK) {
                    *why = ": a value was refused";
                    return st;
                }
            }
        }
    }
    return RECSYS_OK;
}

static recsys_status parse_items(const recsys__mem *m, const json_t *items, size_t n,
                                 const recsys__enrich_cfg *cfg, recsys__enrich_reply *out)
{
    bool noted = false;
    for (size_t i = 0; i < json_array_size(items); i++) {
        const json_t *e = json_array_get(items, i);
        const json_t *hv = json_is_object(e) ? json_object_get(e, "handle") : NULL;
        if (!hv || !json_is_integer(hv) || json_integer_value(hv) < 1 ||
            (json_int_t)n < json_integer_value(hv))
            continue; /* names no item: nothing to attribute it to */
        size_t h = (size_t)json_integer_value(hv) - 1;
        if (out->state[h] != RECSYS__ENRICH_MISSING) {
            recsys__item_free(m, out->entry[h]);
            out->entry[h] = NULL;
            invalid(out, h, &noted, NULL, ": given twice");
            continue;
        }
        recsys_item *it = NULL;
        RECSYS_TRY(recsys__item_new(m, "enrich", &it));
        const char *why = NULL, *field = NULL;
        recsys_status st = read_entry(m, e, cfg, it, &why, &field);
        if (st == RECSYS_E_NOMEM) {
            recsys__item_free(m, it);
            return st;
        }
        if (st != RECSYS_OK) {
            invalid(out, h, &noted, field, why ? why : ": refused");
            recsys__item_free(m, it);
            continue;
        }
        out->entry[h] = it;
        out->state[h] = RECSYS__ENRICH_OK;
    }
    return RECSYS_OK;
}

recsys_status recsys__enrich_parse(const recsys__mem *m, const char *text, size_t len, size_t n,
                                   const recsys__enrich_cfg *cfg, recsys__enrich_reply *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0 || n > RECSYS__LIST_MAX)
        return recsys__err(RECSYS_E_INTERNAL, "enrich reply: %zu items asked", n);
    out->state = recsys__calloc(m, n, sizeof *out->state);
    out->entry = out->state ? recsys__calloc(m, n, sizeof *out->entry) : NULL;
    if (!out->entry) {
        recsys__free(m, out->state);
        out->state = NULL;
        return RECSYS_E_NOMEM;
    }
    out->n = n;
    if (!text)
        return recsys__err(RECSYS_E_INVALID_ARG, "enrich reply: no text");
    size_t cap = n * RECSYS__ENRICH_REPLY_PER_ITEM + 1024;
    if (len > cap)
        return recsys__err(RECSYS_E_INVALID_ARG, "enrich reply: %zu bytes; the limit for %zu "
                           "items is %zu", len, n, cap);
    strip_fence(&text, &len);
    json_t *root = NULL;
    RECSYS_TRY(recsys__jr_load(text, len, cap, "enrich reply", &root));
    recsys_status st = RECSYS_OK;
    static const char *const known[] = { "items" };
    const json_t *items = json_is_object(root) ? json_object_get(root, "items") : NULL;
    if (!items || !json_is_array(items))
        st = recsys__err(RECSYS_E_INVALID_ARG, "enrich reply: expected an object "
                         "{\"items\":[...]}");
    else
        st = recsys__jr_check_keys(root, known, 1, "enrich reply", NULL);
    if (st == RECSYS_OK)
        st = parse_items(m, items, n, cfg, out);
    json_decref(root);
    if (st != RECSYS_OK && st != RECSYS_E_NOMEM)
        for (size_t i = 0; i < n; i++) {
            recsys__item_free(m, out->entry[i]);
            out->entry[i] = NULL;
            out->state[i] = RECSYS__ENRICH_MISSING;
        }
    return st;
}

void recsys__enrich_reply_free(const recsys__mem *m, recsys__enrich_reply *r)
{
    for (size_t i = 0; r->entry && i < r->n; i++)
        recsys__item_free(m, r->entry[i]);
    recsys__free(m, r->entry);
    recsys__free(m, r->state);
    memset(r, 0, sizeof *r);
}

/* ============================================================ vocabulary */

/* Empties it's generated part (the summary and model become the shared ""). */
static void gen_clear(const recsys__mem *m, recsys_item *it)
{
    recsys__generated *g = &it->gen;
    for (uint32_t i = 0; i < g->ntags; i++)
        recsys__free(m, g->tags[i]);
    recsys__free(m, g->tags);
    for (uint32_t i = 0; i < g->nattrs; i++) {
        recsys__free(m, g->attrs[i].name);
        recsys__free(m, g->attrs[i].str);
    }
    recsys__free(m, g->attrs);
    g->tags = NULL;
    g->attrs = NULL;
    g->ntags = g->nattrs = 0;
    /* "" allocates nothing: these cannot fail */
    (void)recsys__item_set_gen_text(m, it, 0, "");
    (void)recsys__item_set_gen_text(m, it, 1, "");
}

/* The catalog's spelling of tag (exact, else ASCII-lowercased), or NULL. buf holds 2 +
 * RECSYS__ENRICH_TAG_MAX + 1 bytes. */
static const char *vocab_tag(const recsys__catalog *c, const char *tag, char *buf)
{
    size_t n = strlen(tag);
    if (n > RECSYS__ENRICH_TAG_MAX)
        return NULL;
    buf[0] = 't';
    buf[1] = ':';
    memcpy(buf + 2, tag, n + 1);
    uint32_t f = recsys__ids_find(&c->facets.ids, buf, n + 2);
    if (f == RECSYS_IDS_NONE) {
        for (size_t i = 2; i < n + 2; i++)
            if (buf[i] >= 'A' && buf[i] <= 'Z')
                buf[i] = (char)(buf[i] - 'A' + 'a');
        f = recsys__ids_find(&c->facets.ids, buf, n + 2);
    }
    return f == RECSYS_IDS_NONE ? NULL : recsys__ids_name(&c->facets.ids, f) + 2;
}

recsys_status recsys__enrich_build(const recsys__mem *m, const recsys__catalog *c,
                                   const recsys__enrich_cfg *cfg, const recsys_item *cur,
                                   const recsys__generated *src, const char *model,
                                   recsys_item **out, uint64_t *dropped)
{
    uint64_t drop = 0;
    recsys_item *it = NULL;
    RECSYS_TRY(recsys__item_clone(m, cur, &it));
    gen_clear(m, it);
    recsys_status st = RECSYS_OK;
    char buf[2 + RECSYS__ENRICH_TAG_MAX + 1];
    for (uint32_t i = 0; st == RECSYS_OK && i < src->ntags; i++) {
        const char *tag = src->tags[i];
        if (i >= cfg->max_tags) {
            drop++;
            continue;
        }
        if (!cfg->new_tags && !(tag = vocab_tag(c, tag, buf))) {
            drop++;
            continue;
        }
        if (!recsys__item_has_tag(it, tag))
            st = recsys__item_add_gen_tag(m, it, tag);
    }
    if (st == RECSYS_OK && src->summary[0]) {
        if (strlen(src->summary) <= cfg->summary_max)
            st = recsys__item_set_gen_text(m, it, 0, src->summary);
        else
            drop++;
    }
    for (uint32_t i = 0; st == RECSYS_OK && i < src->nattrs; i++) {
        const recsys__attr *a = &src->attrs[i];
        const recsys__enrich_attr_rule *r = rule_find(cfg, a->name);
        if (!r || !(r->types & (1u << a->type))) {
            drop++;
            continue;
        }
        st = recsys__item_set_gen_attr(m, it, a->name, a->type, a->num, a->str);
    }
    const char *mod = model ? model : src->model;
    if (st == RECSYS_OK && mod[0])
        st = recsys__item_set_gen_text(m, it, 1, mod);
    if (st != RECSYS_OK) {
        recsys__item_free(m, it);
        return st;
    }
    if (dropped)
        *dropped += drop;
    *out = it;
    return RECSYS_OK;
}

bool recsys__enrich_gen_equal(const recsys__generated *a, const recsys__generated *b)
{
    if (a->ntags != b->ntags || a->nattrs != b->nattrs || strcmp(a->summary, b->summary) ||
        strcmp(a->model, b->model))
        return false;
    for (uint32_t i = 0; i < a->ntags; i++)
        if (strcmp(a->tags[i], b->tags[i]))
            return false;
    for (uint32_t i = 0; i < a->nattrs; i++) {
        const recsys__attr *x = &a->attrs[i], *y = &b->attrs[i];
        if (strcmp(x->name, y->name) || x->type != y->type)
            return false;
        if (x->type == RECSYS__ATTR_STR ? strcmp(x->str, y->str) != 0 : x->num != y->num)
            return false;
    }
    return true;
}

/* ============================================================ cache record */

recsys_status recsys__enrich_record_encode(const recsys__mem *m, uint64_t hash,
                                           const recsys_item *it, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    recsys_item *g = NULL;
    RECSYS_TRY(recsys__item_new(m, it->id, &g));
    recsys_status st = RECSYS_OK;
    for (uint32_t i = 0; st == RECSYS_OK && i < it->gen.ntags; i++)
        st = recsys__item_add_gen_tag(m, g, it->gen.tags[i]);
    for (uint32_t i = 0; st == RECSYS_OK && i < it->gen.nattrs; i++) {
        const recsys__attr *a = &it->gen.attrs[i];
        st = recsys__item_set_gen_attr(m, g, a->name, a->type, a->num, a->str);
    }
    if (st == RECSYS_OK)
        st = recsys__item_set_gen_text(m, g, 0, it->gen.summary);
    if (st == RECSYS_OK)
        st = recsys__item_set_gen_text(m, g, 1, it->gen.model);
    char *json = NULL;
    size_t jlen = 0;
    if (st == RECSYS_OK)
        st = recsys__json_item(m, g, false, &json, &jlen);
    recsys__item_free(m, g);
    if (st != RECSYS_OK)
        return st;
    char *rec = recsys__alloc(m, 17 + jlen + 1);
    if (!rec) {
        recsys__free(m, json);
        return RECSYS_E_NOMEM;
    }
    snprintf(rec, 18, "%016" PRIx64 "\n", hash);
    memcpy(rec + 17, json, jlen + 1);
    recsys__free(m, json);
    *out = rec;
    *len = 17 + jlen;
    return RECSYS_OK;
}

recsys_status recsys__enrich_record_decode(const recsys__mem *m, const char *data, size_t len,
                                           const char *id, uint64_t *hash,
                                           recsys_item **gen_item)
{
    *gen_item = NULL;
    *hash = 0;
    uint64_t h = 0;
    bool ok = data && len > 17 && data[16] == '\n';
    for (size_t i = 0; ok && i < 16; i++) {
        char ch = data[i];
        unsigned d = ch >= '0' && ch <= '9' ? (unsigned)(ch - '0')
                     : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10) : 16u;
        ok = d < 16;
        h = h << 4 | d;
    }
    if (!ok)
        return recsys__err(RECSYS_E_CORRUPT, "enrichment record of '%.200s': no hash", id);
    recsys__items_vec v = { 0 };
    recsys_status st = recsys__json_parse_items(m, data + 17, len - 17, SIZE_MAX, &v);
    if (st == RECSYS_OK && (v.n != 1 || strcmp(v.v[0]->id, id) != 0))
        st = recsys__err(RECSYS_E_CORRUPT, "enrichment record of '%.200s' holds another item",
                         id);
    else if (st == RECSYS_E_INVALID_ARG) {
        recsys__err_saved s;
        recsys__err_save(&s);
        st = recsys__err(RECSYS_E_CORRUPT, "enrichment record of '%.200s': %s", id, s.msg);
    }
    if (st == RECSYS_OK) {
        *gen_item = v.v[0];
        v.v[0] = NULL;
        *hash = h;
    }
    recsys__items_vec_free(m, &v);
    return st;
}
