/* csv.c - the record reader behind the eval file formats (csv.h). */
#include "csv.h"
#include "../core/error.h"

void recsys__csv_init(recsys__csv *r, const recsys__mem *m, const char *name, const char *text,
                      size_t len, char sep, bool quotes)
{
    memset(r, 0, sizeof *r);
    r->mem = m;
    r->name = name;
    r->p = text;
    r->end = text + len;
    r->sep = sep;
    r->quotes = quotes;
    r->next_line = 1;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        r->p += 3;
}

void recsys__csv_free(recsys__csv *r)
{
    recsys__free(r->mem, r->buf);
    r->buf = NULL;
    r->cap = 0;
}

recsys_status recsys__csv_fail(const recsys__csv *r, const char *fmt, ...)
{
    char msg[RECSYS_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return recsys__err(RECSYS_E_INVALID_ARG, "%.200s:%zu: %s", r->name, r->line, msg);
}

static recsys_status put(recsys__csv *r, size_t *used, char c)
{
    if (*used + 1 > r->cap)
        RECSYS_TRY(recsys__grow(r->mem, (void **)&r->buf, &r->cap, *used + 1, 1));
    r->buf[(*used)++] = c;
    return RECSYS_OK;
}

/* Consumes one line break (LF or CRLF) at p, if any. */
static void eat_eol(recsys__csv *r)
{
    if (r->p < r->end && *r->p == '\r' && r->p + 1 < r->end && r->p[1] == '\n')
        r->p++;
    if (r->p < r->end && *r->p == '\n') {
        r->p++;
        r->next_line++;
    } else if (r->p < r->end && *r->p == '\r' && r->p + 1 == r->end) {
        r->p++;
    }
}

static bool at_eol(const recsys__csv *r)
{
    return r->p >= r->end || *r->p == '\n' ||
           (*r->p == '\r' && (r->p + 1 == r->end || r->p[1] == '\n'));
}

recsys_status recsys__csv_next(recsys__csv *r, bool *eof)
{
    size_t off[RECSYS__EVAL_MAX_FIELDS];
    size_t used = 0;
    *eof = r->p >= r->end;
    if (*eof)
        return RECSYS_OK;
    r->line = r->next_line;
    r->nf = 0;
    for (;;) {
        if (r->nf == RECSYS__EVAL_MAX_FIELDS)
            return recsys__csv_fail(r, "more than %d fields", RECSYS__EVAL_MAX_FIELDS);
        size_t k = r->nf;
        off[k] = used;
        r->quoted[k] = false;
        if (r->quotes && r->p < r->end && *r->p == '"') {
            r->quoted[k] = true;
            r->p++;
            for (;;) {
                if (r->p >= r->end)
                    return recsys__csv_fail(r, "field %zu: the quoted text is not closed", k + 1);
                char c = *r->p++;
                if (c == '"') {
                    if (r->p < r->end && *r->p == '"') {
                        r->p++;
                        RECSYS_TRY(put(r, &used, '"'));
                        continue;
                    }
                    break;
                }
                if (c == '\n')
                    r->next_line++;
                RECSYS_TRY(put(r, &used, c));
            }
            if (!at_eol(r) && *r->p != r->sep)
                return recsys__csv_fail(r, "field %zu: unexpected '%c' after the closing quote",
                                        k + 1, *r->p);
        } else {
            while (!at_eol(r) && *r->p != r->sep)
                RECSYS_TRY(put(r, &used, *r->p++));
        }
        r->flen[k] = used - off[k];
        RECSYS_TRY(put(r, &used, '\0'));
        r->nf++;
        if (r->p < r->end && *r->p == r->sep) {
            r->p++;
            continue;
        }
        eat_eol(r);
        break;
    }
    for (size_t k = 0; k < r->nf; k++)
        r->f[k] = r->buf + off[k];
    return RECSYS_OK;
}

bool recsys__csv_blank(const recsys__csv *r)
{
    if (r->nf != 1 || r->quoted[0])
        return false;
    for (size_t i = 0; i < r->flen[0]; i++)
        if (r->f[0][i] != ' ' && r->f[0][i] != '\t')
            return false;
    return true;
}

char *recsys__csv_trim(recsys__csv *r, size_t i, size_t *len)
{
    char *s = r->f[i];
    size_t n = r->flen[i];
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    size_t lead = 0;
    while (lead < n && (s[lead] == ' ' || s[lead] == '\t'))
        lead++;
    s += lead;
    n -= lead;
    s[n] = '\0';
    r->f[i] = s;
    r->flen[i] = n;
    *len = n;
    return s;
}

void recsys__csv_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* A printable excerpt of a field for messages (at most 40 bytes, control bytes as '?'). */
static const char *excerpt(const char *s, size_t n, char *buf, size_t cap)
{
    size_t w = 0;
    for (size_t i = 0; i < n && w + 4 < cap && i < 40; i++)
        buf[w++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    if (n > 40 && w + 4 < cap) {
        memcpy(buf + w, "...", 3);
        w += 3;
    }
    buf[w] = '\0';
    return buf;
}

recsys_status recsys__csv_id(recsys__csv *r, size_t i, const char *what, const char **id,
                             size_t *len)
{
    size_t n = r->flen[i];
    const char *s = r->f[i];
    if (!r->quoted[i])
        s = recsys__csv_trim(r, i, &n);
    if (n == 0)
        return recsys__csv_fail(r, "field %zu (%s) is empty", i + 1, what);
    if (n > RECSYS__EVAL_ID_MAX)
        return recsys__csv_fail(r, "field %zu (%s) is %zu bytes long (at most %d)", i + 1, what, n,
                                RECSYS__EVAL_ID_MAX);
    if (memchr(s, '\0', n))
        return recsys__csv_fail(r, "field %zu (%s) contains a NUL byte", i + 1, what);
    *id = s;
    *len = n;
    return RECSYS_OK;
}

bool recsys__eval_decimal(const char *s, size_t len, uint64_t *v)
{
    if (len == 0 || len > 20 || (s[0] == '0' && len > 1))
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

recsys_status recsys__csv_int(const recsys__csv *r, size_t i, const char *what, int64_t *out)
{
    const char *s = r->f[i];
    size_t n = r->flen[i], a = 0;
    char ex[64];
    while (a < n && (s[a] == ' ' || s[a] == '\t'))
        a++;
    while (n > a && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    bool neg = a < n && s[a] == '-';
    a += neg;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    bool ok = a < n;
    for (size_t k = a; ok && k < n; k++) {
        unsigned d = (unsigned)(s[k] - '0');
        ok = s[k] >= '0' && s[k] <= '9' && v <= (lim - d) / 10;
        v = v * 10 + d;
    }
    if (!ok)
        return recsys__csv_fail(r, "field %zu (%s) '%s' is not a decimal integer", i + 1, what,
                                excerpt(s, r->flen[i], ex, sizeof ex));
    *out = !neg ? (int64_t)v : v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    return RECSYS_OK;
}

recsys_status recsys__csv_num(const recsys__csv *r, size_t i, const char *what, double *out)
{
    const char *s = r->f[i];
    char ex[64], *end = NULL;
    size_t n = r->flen[i];
    if (memchr(s, '\0', n))
        return recsys__csv_fail(r, "field %zu (%s) contains a NUL byte", i + 1, what);
    errno = 0;
    double v = strtod(s, &end);
    while (end && (*end == ' ' || *end == '\t'))
        end++;
    if (end == s || !end || *end || !isfinite(v))
        return recsys__csv_fail(r, "field %zu (%s) '%s' is not a finite number", i + 1, what,
                                excerpt(s, n, ex, sizeof ex));
    *out = v;
    return RECSYS_OK;
}
