/* utf8.c - UTF-8 validation (RFC 3629), and names. */
#include "utf8.h"
#include "error.h"

bool recsys__utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            unsigned cc = s[i + k];
            if ((cc & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

recsys_status recsys__check_text(const char *s, size_t max, const char *what)
{
    if (!s)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s is NULL", what);
    size_t len = strlen(s);
    if (max && len > max)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s is %zu bytes long; the limit is %zu", what,
                           len, max);
    if (!recsys__utf8_valid(s, len))
        return recsys__err(RECSYS_E_INVALID_ARG, "%s is not valid UTF-8", what);
    return RECSYS_OK;
}

int recsys__utf8_quote_len(const char *s)
{
    size_t n = strlen(s);
    if (n <= 64)
        return (int)n;
    n = 64;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return (int)n;
}

recsys_status recsys__check_name(const char *s, size_t len, const char *what)
{
    if (len == 0 || len >= RECSYS_PLUGIN_NAME_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s name must be 1..%d bytes, got %zu", what,
                           RECSYS_PLUGIN_NAME_MAX - 1, len);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return recsys__err(RECSYS_E_INVALID_ARG,
                               "%s name '%.*s': byte %zu is not one of [a-z0-9_.-]", what,
                               (int)(len < 64 ? len : 64), s, i);
    }
    return RECSYS_OK;
}
