/* prompt.c - templates, item cards, the profile block and data quoting (see prompt.h). */
#include "prompt.h"
#include "../core/options.h"
#include "../model/context.h"

/* ============================================================ templates */

const recsys__llm_template recsys__llm_tpl_rerank = {
    .version = "rerank/1",
    .task = RECSYS_LLM_RERANK,
    .system =
        "You re-rank recommendation candidates for one user. " RECSYS__LLM_DATA_RULE
        " Reply with one JSON object and nothing else: {\"order\":[handles, best first]}, "
        "using only handles from the data, each at most once.",
    .instruction = "Order the candidates in the data block from best to worst for this user.",
    .schema = "{\"type\":\"object\",\"properties\":{\"order\":{\"type\":\"array\","
              "\"items\":{\"type\":\"integer\",\"minimum\":1}}},\"required\":[\"order\"],"
              "\"additionalProperties\":false}",
    .max_tokens = 256,
    .temperature = 0.0,
};

const recsys__llm_template recsys__llm_tpl_explain = {
    .version = "explain/1",
    .task = RECSYS_LLM_EXPLAIN,
    .system =
        "You explain to a user, in one short sentence per item, why each recommended item "
        "suits them. " RECSYS__LLM_DATA_RULE
        " Every claim must be backed by evidence from the data: an attribute of that item "
        "(kind \"attribute\", its name and value exactly as shown, e.g. name \"category\", "
        "\"tag\", \"title\", \"provider\" or an attribute name) or an item of the user's "
        "history (kind \"history\", its \"h\" handle). Mention no number, category, tag or "
        "title the item does not have. Do not praise an item that is not available. Reply "
        "with one JSON object and nothing else: {\"explanations\":[{\"handle\":1,\"text\":"
        "\"...\",\"evidence\":[{\"kind\":\"attribute\",\"name\":\"...\",\"value\":\"...\"},"
        "{\"kind\":\"history\",\"item\":\"h1\"}]}]}.",
    .instruction = "Explain each recommended item in the data block to this user.",
    .schema =
        "{\"type\":\"object\",\"properties\":{\"explanations\":{\"type\":\"array\",\"items\":"
        "{\"type\":\"object\",\"properties\":{\"handle\":{\"type\":\"integer\",\"minimum\":1},"
        "\"text\":{\"type\":\"string\",\"maxLength\":300},\"evidence\":{\"type\":\"array\","
        "\"maxItems\":3,\"items\":{\"type\":\"object\",\"properties\":{\"kind\":{\"enum\":"
        "[\"attribute\",\"history\"]},\"name\":{\"type\":\"string\"},\"value\":{\"type\":"
        "[\"string\",\"number\",\"boolean\"]},\"item\":{\"type\":\"string\"}},\"required\":"
        "[\"kind\"]}}},\"required\":[\"handle\",\"text\",\"evidence\"]}}},\"required\":"
        "[\"explanations\"]}",
    .max_tokens = 1024,
    .temperature = 0.2,
};

/* ============================================================ quoting */

/* Length of the valid UTF-8 sequence at s (1..4), 0 when invalid (overlong, surrogate,
 * > U+10FFFF, truncated). *cp receives the code point. */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2; v = c & 0x1F; min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3; v = c & 0x0F; min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4; v = c & 0x07; min = 0x10000;
    } else {
        return 0;
    }
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80) /* also stops at the NUL */
            return 0;
        v = (v << 6) | (s[k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

static void put_u(recsys__jw *b, uint32_t cp)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = { '\\', 'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
                  hex[cp & 15] };
    recsys__jw_put(b, e, sizeof e);
}

void recsys__llm_quote(recsys__jw *b, const char *text, size_t max_bytes)
{
    recsys__jw_put(b, "\"", 1);
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    size_t used = 0;
    while (*s) {
        uint32_t cp = 0;
        size_t n = utf8_seq(s, &cp);
        size_t take = n ? n : 1;
        if (used + take > max_bytes) {
            recsys__jw_puts(b, "...");
            break;
        }
        used += take;
        if (n == 0) {
            recsys__jw_puts(b, "\xEF\xBF\xBD"); /* U+FFFD */
        } else if (cp == '"') {
            recsys__jw_puts(b, "\\\"");
        } else if (cp == '\\') {
            recsys__jw_puts(b, "\\\\");
        } else if (cp == '\n') {
            recsys__jw_puts(b, "\\n");
        } else if (cp == '\t') {
            recsys__jw_puts(b, "\\t");
        } else if (cp < 0x20 || cp == 0x7F || cp == '<' || cp == '>' || cp == 0x2028 ||
                   cp == 0x2029) {
            put_u(b, cp);
        } else {
            recsys__jw_put(b, (const char *)s, n);
        }
        s += take;
    }
    recsys__jw_put(b, "\"", 1);
}

void recsys__llm_data_open(recsys__jw *b)
{
    recsys__jw_puts(b, RECSYS__LLM_DATA_OPEN "\n");
}

void recsys__llm_data_close(recsys__jw *b)
{
    recsys__jw_puts(b, RECSYS__LLM_DATA_CLOSE "\n");
}

/* ============================================================ cards */

static void key(recsys__jw *b, const char *k, bool *first)
{
    recsys__jw_key(b, k, first); /* keys are ours: plain ASCII */
}

void recsys__llm_card(recsys__jw *b, const recsys_query *q, uint32_t item, size_t handle)
{
    const recsys_item *it = q && q->model ? recsys__catalog_get(&q->model->catalog, item) : NULL;
    bool first = true;
    recsys__jw_puts(b, "{");
    key(b, "handle", &first);
    recsys__jw_int(b, (int64_t)handle);
    if (!it) {
        recsys__jw_puts(b, ",\"available\":false}");
        return;
    }
    if (*it->title) {
        key(b, "title", &first);
        recsys__llm_quote(b, it->title, RECSYS__LLM_TITLE_MAX);
    }
    if (*it->category) {
        key(b, "category", &first);
        recsys__llm_quote(b, it->category, RECSYS__LLM_WORD_MAX);
    }
    if (it->ntags) {
        key(b, "tags", &first);
        recsys__jw_puts(b, "[");
        uint32_t n = RECSYS_MIN(it->ntags, (uint32_t)RECSYS__LLM_CARD_TAGS);
        for (uint32_t t = 0; t < n; t++) {
            if (t)
                recsys__jw_puts(b, ",");
            recsys__llm_quote(b, it->tags[t], RECSYS__LLM_WORD_MAX);
        }
        recsys__jw_puts(b, "]");
    }
    if (*it->description) {
        key(b, "description", &first);
        recsys__llm_quote(b, it->description, RECSYS__LLM_DESC_MAX);
    }
    if (it->nattrs) {
        key(b, "attributes", &first);
        recsys__jw_puts(b, "{");
        uint32_t n = RECSYS_MIN(it->nattrs, (uint32_t)RECSYS__LLM_CARD_ATTRS);
        for (uint32_t k = 0; k < n; k++) {
            const recsys__attr *a = &it->attrs[k];
            if (k)
                recsys__jw_puts(b, ",");
            recsys__llm_quote(b, a->name, RECSYS__LLM_WORD_MAX);
            recsys__jw_puts(b, ":");
            if (a->type == RECSYS__ATTR_NUM)
                recsys__jw_double(b, a->num);
            else if (a->type == RECSYS__ATTR_BOOL)
                recsys__jw_puts(b, a->num != 0 ? "true" : "false");
            else
                recsys__llm_quote(b, a->str, RECSYS__LLM_WORD_MAX);
        }
        recsys__jw_puts(b, "}");
    }
    key(b, "available", &first);
    recsys__jw_puts(b, it->available ? "true" : "false");
    if (*it->provider) {
        key(b, "provider", &first);
        recsys__llm_quote(b, it->provider, RECSYS__LLM_WORD_MAX);
    }
    recsys__jw_puts(b, "}");
}

/* ============================================================ profile */

uint32_t recsys__llm_profile_fields(const recsys_query *q)
{
    int s = recsys__opt_slot(RECSYS_OPT_LLM_PROFILE_FIELDS);
    if (!q || !q->opt || s < 0)
        return RECSYS__LLM_PROFILE_INTERESTS | RECSYS__LLM_PROFILE_HISTORY;
    return (uint32_t)q->opt[s] & 15u;
}

static bool positive(const recsys__hist *h)
{
    switch (h->type) {
    case RECSYS_EVENT_PURCHASE:
    case RECSYS_EVENT_ADD_TO_CART:
    case RECSYS_EVENT_LIKE:
    case RECSYS_EVENT_CLICK:
    case RECSYS_EVENT_VIEW:
        return true;
    case RECSYS_EVENT_RATING:
        return h->value >= 4;
    case RECSYS_EVENT_WATCH_TIME:
    case RECSYS_EVENT_DWELL:
        return h->value > 0;
    default:
        return false;
    }
}

static bool listed(const recsys__llm_hist *h, uint32_t item)
{
    for (size_t k = 0; k < h->n; k++)
        if (h->item[k] == item)
            return true;
    return false;
}

/* Disliked or skipped after position k of the history, or on the negative list. */
static bool turned_down(const recsys__user *u, uint32_t item, size_t k)
{
    for (size_t j = k + 1; j < u->nhist; j++)
        if (u->hist[j].item == item && recsys__event_negative(u->hist[j].type))
            return true;
    return recsys__user_in_list(u, RECSYS_LIST_NEGATIVE, item);
}

/* Collects the history items the profile block lists (see prompt.h). */
static void collect_history(const recsys_query *q, recsys__llm_hist *h)
{
    const recsys__user *u = q->user;
    const recsys__catalog *c = &q->model->catalog;
    h->n = 0;
    for (size_t k = u->nhist; k > 0 && h->n < RECSYS__LLM_HISTORY_MAX; k--) {
        const recsys__hist *e = &u->hist[k - 1];
        if (e->item == RECSYS_IDS_NONE || !positive(e) || !recsys__catalog_get(c, e->item) ||
            listed(h, e->item) || turned_down(u, e->item, k - 1))
            continue;
        h->item[h->n] = e->item;
        h->type[h->n++] = e->type;
    }
    static const struct {
        int list;
        int32_t type;
    } lists[] = { { RECSYS_LIST_PURCHASED, RECSYS_EVENT_PURCHASE },
                  { RECSYS_LIST_RECENT_VIEWS, RECSYS_EVENT_VIEW } };
    for (size_t l = 0; l < RECSYS_ARRAY_LEN(lists); l++) {
        for (uint32_t j = 0; j < u->nlists[lists[l].list] && h->n < RECSYS__LLM_HISTORY_MAX;
             j++) {
            uint32_t idx = u->lists[lists[l].list][j];
            if (!recsys__catalog_get(c, idx) || listed(h, idx) ||
                recsys__user_in_list(u, RECSYS_LIST_NEGATIVE, idx))
                continue;
            h->item[h->n] = idx;
            h->type[h->n++] = lists[l].type;
        }
    }
}

void recsys__llm_profile(recsys__jw *b, const recsys_query *q, uint32_t fields,
                         recsys__llm_hist *hist)
{
    recsys__llm_hist local;
    recsys__llm_hist *h = hist ? hist : &local;
    h->n = 0;
    const recsys__user *u = q && q->model ? q->user : NULL;
    bool first = true;
    recsys__jw_puts(b, "{");
    if (u && (fields & RECSYS__LLM_PROFILE_INTERESTS) && u->ninterests) {
        key(b, "interests", &first);
        recsys__jw_puts(b, "[");
        for (uint32_t i = 0; i < u->ninterests && i < RECSYS__LLM_HISTORY_MAX; i++) {
            if (i)
                recsys__jw_puts(b, ",");
            recsys__llm_quote(b, u->interests[i], RECSYS__LLM_WORD_MAX);
        }
        recsys__jw_puts(b, "]");
    }
    if (u && (fields & RECSYS__LLM_PROFILE_HISTORY)) {
        collect_history(q, h);
        if (h->n) {
            key(b, "history", &first);
            recsys__jw_puts(b, "[");
            for (size_t k = 0; k < h->n; k++) {
                const recsys_item *it = recsys__catalog_get(&q->model->catalog, h->item[k]);
                char hh[48];
                snprintf(hh, sizeof hh, "{\"h\":\"h%zu\",\"title\":", k + 1);
                recsys__jw_puts(b, k ? "," : "");
                recsys__jw_puts(b, hh);
                recsys__llm_quote(b, it->title, RECSYS__LLM_TITLE_MAX);
                recsys__jw_puts(b, ",\"event\":\"");
                recsys__jw_puts(b, recsys__event_name(h->type[k]));
                recsys__jw_puts(b, "\"}");
            }
            recsys__jw_puts(b, "]");
        }
    }
    if (u && (fields & RECSYS__LLM_PROFILE_AGE) && u->age >= 0) {
        key(b, "age", &first);
        recsys__jw_int(b, u->age);
    }
    if (u && (fields & RECSYS__LLM_PROFILE_REGION) && u->region && *u->region) {
        key(b, "region", &first);
        recsys__llm_quote(b, u->region, RECSYS__LLM_WORD_MAX);
    }
    recsys__jw_puts(b, "}");
}

long recsys__llm_hist_handle(const recsys__llm_hist *h, const char *text)
{
    if (!h || !text)
        return -1;
    const char *p = text;
    if (*p == 'h' || *p == 'H')
        p++;
    if (*p < '1' || *p > '9')
        return -1;
    long v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > RECSYS__LLM_HISTORY_MAX)
            return -1;
    }
    if (*p || v < 1 || (size_t)v > h->n)
        return -1;
    return v - 1;
}
