/* campaigns_json.c - a campaign's JSON: the strict parser of untrusted text (jansson, in the
 * manner of json_in.c) and the canonical writer (every byte from the caller's recsys__mem, in
 * the manner of json_out.c). What the parser reads from the writer's output is the same
 * campaign. */
#include "campaigns.h"
#include "model.h"
#include "../core/error.h"
#include "../core/utf8.h"
#include <jansson.h>

/* ---------------------------------------------------------------- writing -------------- */

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

/* A JSON string: '"' and '\\' escaped, control bytes as \u00XX; the rest (valid UTF-8) as is. */
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
        char esc[7] = { '\\', (char)c, 0 };
        size_t n = 2;
        if (c < 0x20) {
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

/* The shortest %g form that reads back to d, with the locale's decimal separator (whatever
 * the host set with setlocale) turned back into '.'. */
static void put_double(sb *b, double d)
{
    char t[48], out[48];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, d);
        if (prec == 17 || strtod(t, NULL) == d)
            break;
    }
    size_t n = 0;
    bool sep = false;
    for (const char *p = t; *p && n < sizeof out - 1; p++) {
        char c = *p;
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

static void put_int(sb *b, int64_t v)
{
    char t[32];
    snprintf(t, sizeof t, "%" PRId64, v);
    puts_(b, t);
}

recsys_status recsys__json_campaign(const recsys__mem *m, const recsys__campaign *cp, char **out,
                                    size_t *len)
{
    if (!out || !len || !cp)
        return recsys__err(RECSYS_E_INVALID_ARG, "campaign JSON: an argument is NULL");
    *out = NULL;
    *len = 0;
    sb b = { .m = m };
    puts_(&b, "{\"id\":");
    put_str(&b, cp->id);
    puts_(&b, ",\"items\":[");
    for (uint32_t i = 0; i < cp->nitems; i++) {
        if (i)
            put(&b, ",", 1);
        put_str(&b, cp->item_ids[i]);
    }
    puts_(&b, "],\"boost\":");
    put_double(&b, cp->boost);
    puts_(&b, ",\"start\":");
    put_int(&b, cp->start);
    puts_(&b, ",\"end\":");
    put_int(&b, cp->end);
    puts_(&b, "}");
    if (b.oom) {
        recsys__free(m, b.p);
        return RECSYS_E_NOMEM;
    }
    *out = b.p;
    *len = b.n;
    return RECSYS_OK;
}

/* ---------------------------------------------------------------- parsing -------------- */

#define WHERE_MAX (RECSYS__CAMPAIGN_ID_MAX + 32)

static recsys_status RECSYS_PRINTF(2, 3) failf(const char *where, const char *fmt, ...)
{
    char msg[RECSYS_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return recsys__err(RECSYS_E_INVALID_ARG, "%s: %s", where, msg);
}

/* How many bytes of s to quote in a message: at most 64, never cutting a UTF-8 sequence. */
static int quote_len(const char *s)
{
    size_t n = strlen(s);
    if (n <= 64)
        return (int)n;
    n = 64;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return (int)n;
}

/* The UTF-8 text of a JSON string (no NUL inside), or NULL. */
static const char *str_of(const json_t *v)
{
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    return recsys__utf8_valid(s, json_string_length(v)) ? s : NULL;
}

static const char *const known_keys[] = { "id", "items", "boost", "start", "end" };

static recsys_status check_keys(const json_t *obj, const char *where)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        (void)val;
        if (!recsys__utf8_valid(key, strlen(key)))
            return failf(where, "a field name is not valid UTF-8");
        bool ok = false;
        for (size_t i = 0; i < RECSYS_ARRAY_LEN(known_keys) && !ok; i++)
            ok = strcmp(key, known_keys[i]) == 0;
        if (!ok)
            return failf(where, "unknown field '%.*s'", quote_len(key), key);
    }
    return RECSYS_OK;
}

/* "start" or "end": an integer of Unix seconds (0 = open; the range is checked later). */
static recsys_status get_time(const json_t *obj, const char *where, const char *field,
                              int64_t *out)
{
    const json_t *v = json_object_get(obj, field);
    if (!v)
        return RECSYS_OK;
    if (!json_is_integer(v))
        return failf(where, "field '%s' must be an integer (Unix seconds, 0 = open)", field);
    *out = (int64_t)json_integer_value(v);
    return RECSYS_OK;
}

/* Checks the fields of one campaign object and builds it. */
static recsys_status one(const recsys__mem *m, const json_t *obj, recsys__campaign **out)
{
    char where[WHERE_MAX] = "campaign";
    const json_t *jid = json_object_get(obj, "id");
    const char *id = str_of(jid);
    if (id && *id && json_string_length(jid) <= RECSYS__CAMPAIGN_ID_MAX)
        snprintf(where, sizeof where, "campaign '%.*s'", quote_len(id), id);
    RECSYS_TRY(check_keys(obj, where));
    if (!jid)
        return failf(where, "field 'id' is required");
    if (!json_is_string(jid))
        return failf(where, "field 'id' must be a string");
    if (!id)
        return failf(where, "field 'id' is not valid UTF-8");
    if (!*id)
        return failf(where, "field 'id' is empty");
    if (json_string_length(jid) > RECSYS__CAMPAIGN_ID_MAX)
        return failf(where, "field 'id' is %zu bytes long; the limit is %d",
                     json_string_length(jid), RECSYS__CAMPAIGN_ID_MAX);

    const json_t *items = json_object_get(obj, "items");
    if (!items)
        return failf(where, "field 'items' is required");
    if (!json_is_array(items))
        return failf(where, "field 'items' must be an array of item ids");
    size_t n = json_array_size(items);
    if (n == 0 || n > RECSYS__CAMPAIGN_ITEMS_MAX)
        return failf(where, "field 'items' has %zu entries; expected 1..%d", n,
                     RECSYS__CAMPAIGN_ITEMS_MAX);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(items, i);
        if (!json_is_string(e))
            return failf(where, "field 'items': entry %zu is not a string", i);
        if (!str_of(e))
            return failf(where, "field 'items': entry %zu is not valid UTF-8", i);
    }

    double boost = 1.0;
    const json_t *jb = json_object_get(obj, "boost");
    if (jb) {
        if (!json_is_number(jb))
            return failf(where, "field 'boost' must be a number");
        boost = json_number_value(jb);
    }
    int64_t start = 0, end = 0;
    RECSYS_TRY(get_time(obj, where, "start", &start));
    RECSYS_TRY(get_time(obj, where, "end", &end));

    const char **ids = recsys__alloc(m, n * sizeof *ids);
    if (!ids)
        return RECSYS_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        ids[i] = json_string_value(json_array_get(items, i));
    recsys_status st = recsys__campaign_new(m, id, ids, n, boost, start, end, out);
    recsys__free(m, ids);
    return st;
}

recsys_status recsys__json_parse_campaign(const recsys__mem *m, const char *json, size_t len,
                                          size_t max_len, recsys__campaign **out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "campaign: out is NULL");
    *out = NULL;
    if (!json)
        return recsys__err(RECSYS_E_INVALID_ARG, "campaign: JSON text is NULL");
    if (len > max_len)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "campaign: JSON text is %zu bytes; the limit is %zu bytes", len,
                           max_len);
    json_error_t e;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
    if (!root) {
        /* jansson quotes the input near the error: keep the message valid UTF-8 */
        for (char *p = e.text; *p; p++)
            if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
                *p = '?';
        return recsys__err(RECSYS_E_INVALID_ARG, "campaign: invalid JSON at line %d, column %d: %s",
                           e.line, e.column, e.text);
    }
    recsys_status st = json_is_object(root)
                           ? one(m, root, out)
                           : recsys__err(RECSYS_E_INVALID_ARG, "campaign: expected an object");
    json_decref(root);
    return st;
}
