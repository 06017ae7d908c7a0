/* utf8.h - UTF-8 validation for every text that crosses the API. */
#ifndef RECSYS_CORE_UTF8_H
#define RECSYS_CORE_UTF8_H
#include "deps.h"

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF) with no
 * NUL byte. */
bool recsys__utf8_valid(const char *s, size_t len);

/* Validates a NUL-terminated public string argument: NULL, invalid UTF-8 or longer than max
 * bytes (0 = no limit) gives RECSYS_E_INVALID_ARG naming what. */
recsys_status recsys__check_text(const char *s, size_t max, const char *what);

/* How many bytes of valid UTF-8 s to quote in a message: at most 64, never cutting a
 * sequence (for "%.*s"). */
int recsys__utf8_quote_len(const char *s);

#endif
