/* handles.c - an LLM's ranked list of handles, parsed strictly and repaired (handles.h). */
#include "handles.h"
#include "../core/error.h"
#include <jansson.h>
#include <math.h>

/* The first occurrence of "```" in s[from..len), or len. */
static size_t find_fence(const char *s, size_t from, size_t len)
{
    for (size_t i = from; i + 3 <= len; i++)
        if (s[i] == '`' && s[i + 1] == '`' && s[i + 2] == '`')
            return i;
    return len;
}

/* The handle an entry names (1..n), or 0 (unknown). nested: inside a {"handle": } object. */
static size_t entry_handle(const json_t *v, size_t n, bool nested)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        return x >= 1 && (uint64_t)x <= n ? (size_t)x : 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        return isfinite(d) && d >= 1.0 && d <= (double)n && d == floor(d) ? (size_t)d : 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v), i = 0, j = len;
        while (i < j && s[i] == ' ')
            i++;
        while (j > i && s[j - 1] == ' ')
            j--;
        if (j == i || j - i > 9)
            return 0;
        uint64_t x = 0;
        for (size_t k = i; k < j; k++) {
            if (s[k] < '0' || s[k] > '9')
                return 0;
            x = x * 10 + (uint64_t)(s[k] - '0');
        }
        return x >= 1 && x <= n ? (size_t)x : 0;
    }
    if (json_is_object(v) && !nested)
        return entry_handle(json_object_get(v, "handle"), n, true);
    return 0;
}

/* The list a parsed value is: an array, or an object's "order" array; else NULL. */
static const json_t *list_of(const json_t *root)
{
    if (json_is_array(root))
        return root;
    const json_t *o = json_is_object(root) ? json_object_get(root, "order") : NULL;
    return json_is_array(o) ? o : NULL;
}

/* Fills order from list (listed handles first, then the missing ones); false when the list
 * names no known handle (order and stats untouched). seen: n zeroed bytes of scratch. */
static bool fill(const json_t *list, size_t n, unsigned char *seen, size_t *order,
                 recsys__handles_stats *st)
{
    recsys__handles_stats s = { 0, 0, 0, 0 };
    memset(seen, 0, n);
    size_t k = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        size_t h = entry_handle(json_array_get(list, i), n, false);
        if (!h) {
            s.unknown++;
        } else if (seen[h - 1]) {
            s.duplicate++;
        } else {
            seen[h - 1] = 1;
            order[k++] = h - 1;
        }
    }
    if (!k)
        return false;
    s.listed = k;
    for (size_t h = 0; h < n; h++)
        if (!seen[h]) {
            order[k++] = h;
            s.missing++;
        }
    *st = s;
    return true;
}

/* Searches text[from..to) for the list; true when found (order and stats filled). */
static bool search(const char *text, size_t from, size_t to, size_t n, unsigned char *seen,
                   size_t *order, recsys__handles_stats *st)
{
    size_t starts = 0;
    for (size_t i = from; i < to; i++) {
        if (text[i] != '[' && text[i] != '{')
            continue;
        if (++starts > RECSYS__HANDLES_MAX_STARTS)
            return false;
        json_error_t err;
        json_t *root = json_loadb(text + i, to - i,
                                  JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES |
                                      JSON_DECODE_INT_AS_REAL,
                                  &err);
        if (!root)
            continue;
        const json_t *list = list_of(root);
        bool ok = list && fill(list, n, seen, order, st);
        json_decref(root);
        if (ok)
            return true;
    }
    return false;
}

recsys_status recsys__handles_parse(const recsys__mem *m, const char *text, size_t len, size_t n,
                                    size_t *order, recsys__handles_stats *stats)
{
    recsys__handles_stats dummy;
    recsys__handles_stats *st = stats ? stats : &dummy;
    memset(st, 0, sizeof *st);
    if ((!text && len) || (!order && n))
        return recsys__err(RECSYS_E_INVALID_ARG, "handles: NULL %s",
                           !text && len ? "text" : "order");
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    if (!n)
        return RECSYS_OK;
    if (len > RECSYS__HANDLES_TEXT_MAX)
        return recsys__err(RECSYS_E_CORRUPT, "handles: the reply has %zu bytes, more than %u",
                           len, RECSYS__HANDLES_TEXT_MAX);
    unsigned char *seen = recsys__alloc(m, n);
    if (!seen)
        return RECSYS_E_NOMEM;
    bool found = false;
    size_t f = find_fence(text, 0, len);
    if (f < len) { /* the first fenced block: after the opening line, to the closing fence */
        size_t from = f + 3;
        while (from < len && text[from] != '\n' && text[from] != '[' && text[from] != '{')
            from++;
        found = search(text, from, find_fence(text, from, len), n, seen, order, st);
    }
    if (!found)
        found = search(text, 0, len, n, seen, order, st);
    recsys__free(m, seen);
    if (!found) {
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        return recsys__err(RECSYS_E_CORRUPT,
                           "handles: the reply holds no list naming a handle 1..%zu", n);
    }
    return RECSYS_OK;
}
