/* json_read.c - strict reading shared by the JSON parsers (see json_read.h). */
#include "json_read.h"
#include "../core/error.h"
#include "../core/utf8.h"

recsys_status recsys__jr_failf(const char *where, const char *fmt, ...)
{
    char msg[RECSYS_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return recsys__err(RECSYS_E_INVALID_ARG, "%s: %s", where, msg);
}

/* The UTF-8 text of a JSON string (no NUL inside), or NULL. */
const char *recsys__jr_str_of(const json_t *v)
{
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    return recsys__utf8_valid(s, json_string_length(v)) ? s : NULL;
}

/* Checks that every key of obj is UTF-8 and one of known[]; names the first that is not. */
recsys_status recsys__jr_check_keys(const json_t *obj, const char *const *known, size_t nknown,
                                const char *where, const char *inside)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        (void)val;
        if (!recsys__utf8_valid(key, strlen(key)))
            return inside ? recsys__jr_failf(where, "field '%s': a field name is not valid UTF-8", inside)
                          : recsys__jr_failf(where, "a field name is not valid UTF-8");
        bool ok = false;
        for (size_t i = 0; i < nknown && !ok; i++)
            ok = strcmp(key, known[i]) == 0;
        if (!ok)
            return inside ? recsys__jr_failf(where, "field '%s': unknown field '%.*s'", inside,
                                  recsys__utf8_quote_len(key), key)
                          : recsys__jr_failf(where, "unknown field '%.*s'", recsys__utf8_quote_len(key), key);
    }
    return RECSYS_OK;
}

recsys_status recsys__jr_load(const char *json, size_t len, size_t max_len, const char *what,
                              json_t **root)
{
    *root = NULL;
    if (!json)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s: JSON text is NULL", what);
    if (len > max_len)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s: JSON text is %zu bytes; the limit is %zu bytes",
                           what, len, max_len);
    json_error_t e;
    *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
    if (!*root) {
        /* jansson quotes the input near the error: keep the message valid UTF-8 */
        for (char *p = e.text; *p; p++)
            if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
                *p = '?';
        return recsys__err(RECSYS_E_INVALID_ARG, "%s: invalid JSON at line %d, column %d: %s",
                           what, e.line, e.column, e.text);
    }
    return RECSYS_OK;
}
