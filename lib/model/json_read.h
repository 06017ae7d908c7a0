/* json_read.h - the strict reading shared by the parsers of untrusted JSON (json_in.c: items,
 * profiles, events; campaigns_json.c: campaigns): the size cap and jansson's load with
 * duplicate keys rejected, known-key checks, UTF-8 checks, and messages that name the element
 * and the field. jansson allocates with malloc (its global allocator is left alone). */
#ifndef RECSYS_MODEL_JSON_READ_H
#define RECSYS_MODEL_JSON_READ_H
#include "../core/deps.h"
#include <jansson.h>

/* RECSYS_E_INVALID_ARG with "<where>: <message>". */
recsys_status RECSYS_PRINTF(2, 3) recsys__jr_failf(const char *where, const char *fmt, ...);
/* The UTF-8 text of a JSON string (no NUL inside), or NULL. */
const char *recsys__jr_str_of(const json_t *v);
/* Checks that every key of obj is UTF-8 and one of known[]; names the first that is not
 * (inside: the field obj is, or NULL at the top of an element). */
recsys_status recsys__jr_check_keys(const json_t *obj, const char *const *known, size_t nknown,
                                    const char *where, const char *inside);
/* Loads at most max_len bytes of text into *root (json_decref it), duplicate keys rejected;
 * what names the text in messages ("items", "campaign"). RECSYS_E_INVALID_ARG otherwise, with
 * jansson's message made valid UTF-8. */
recsys_status recsys__jr_load(const char *json, size_t len, size_t max_len, const char *what,
                              json_t **root);

#endif
