/* utf8.h - validation of every text that crosses the API: UTF-8, and names. */
#ifndef RECSYS_CORE_UTF8_H
#define RECSYS_CORE_UTF8_H
#include "deps.h"

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF) with no
 * NUL byte. */
bool recsys__utf8_valid(const char *s, size_t len);

/* Validates a NUL-terminated public string argument: NULL, invalid UTF-8 or longer than max
 * bytes (0 = no limit) gives RECSYS_E_INVALID_ARG naming what. */
recsys_status recsys__check_text(const char *s, size_t max, const char *what);

/* The bytes of a part's name with its NUL (a plug-in, a source, a ranker, an experiment). */
#define RECSYS_PLUGIN_NAME_MAX 64

/* Validates a name of the engine's parts (a plug-in, a source, a ranker, an experiment):
 * s[0..len), 1 to RECSYS_PLUGIN_NAME_MAX - 1 bytes of [a-z0-9_.-]; else RECSYS_E_INVALID_ARG
 * naming what. */
recsys_status recsys__check_name(const char *s, size_t len, const char *what);

/* How many bytes of valid UTF-8 s to quote in a message: at most 64, never cutting a
 * sequence (for "%.*s"). */
int recsys__utf8_quote_len(const char *s);

#endif
