/* json_write.c - the JSON text builder shared by the canonical writers (see json_write.h). */
#include "json_write.h"
#include "../core/error.h"

void recsys__jw_put(recsys__jw *b, const char *s, size_t n)
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

void recsys__jw_puts(recsys__jw *b, const char *s)
{
    recsys__jw_put(b, s, strlen(s));
}

void recsys__jw_str(recsys__jw *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    recsys__jw_put(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        recsys__jw_put(b, run, (size_t)(s - run));
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
        recsys__jw_put(b, esc, n);
    }
    recsys__jw_put(b, run, (size_t)(s - run));
    recsys__jw_put(b, "\"", 1);
}

/* Appends a number printed by snprintf, with the locale's decimal separator (whatever the
 * host set with setlocale) turned back into '.'. */
static void numtext(recsys__jw *b, const char *t)
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
    recsys__jw_put(b, out, n);
}

void recsys__jw_double(recsys__jw *b, double d)
{
    char t[48];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, d);
        if (prec == 17 || strtod(t, NULL) == d)
            break;
    }
    numtext(b, t);
}

void recsys__jw_float(recsys__jw *b, float f)
{
    char t[48];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, (double)f);
        if (prec == 9 || strtof(t, NULL) == f)
            break;
    }
    numtext(b, t);
}

void recsys__jw_int(recsys__jw *b, int64_t v)
{
    char t[32];
    snprintf(t, sizeof t, "%" PRId64, v);
    recsys__jw_puts(b, t);
}

void recsys__jw_key(recsys__jw *b, const char *key, bool *first)
{
    if (!*first)
        recsys__jw_put(b, ",", 1);
    *first = false;
    recsys__jw_str(b, key);
    recsys__jw_put(b, ":", 1);
}

void recsys__jw_strv(recsys__jw *b, char *const *v, uint32_t n)
{
    recsys__jw_put(b, "[", 1);
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            recsys__jw_put(b, ",", 1);
        recsys__jw_str(b, v[i]);
    }
    recsys__jw_put(b, "]", 1);
}

recsys_status recsys__jw_finish(recsys__jw *b, bool host, char **out, size_t *len)
{
    if (!b->oom && !b->p)
        recsys__jw_put(b, "", 0);
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
