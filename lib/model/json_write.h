/* json_write.h - a JSON text builder whose every byte comes from the caller's recsys__mem,
 * for the canonical writers (json_out.c: items, profiles; campaigns_json.c: campaigns).
 * Allocation failures are remembered (oom) and reported once, by recsys__jw_finish(); the
 * calls in between need no checks. Numbers are written in the shortest form that reads back
 * to the same value, with '.' as the decimal separator whatever the host's locale. */
#ifndef RECSYS_MODEL_JSON_WRITE_H
#define RECSYS_MODEL_JSON_WRITE_H
#include "../core/alloc.h"

typedef struct recsys__jw {
    const recsys__mem *m;
    char *p;
    size_t n, cap;
    bool oom;
} recsys__jw;

/* Raw text, n bytes / a C string. */
void recsys__jw_put(recsys__jw *b, const char *s, size_t n);
void recsys__jw_puts(recsys__jw *b, const char *s);
/* A JSON string (s is valid UTF-8): quotes, backslashes and control bytes escaped. */
void recsys__jw_str(recsys__jw *b, const char *s);
void recsys__jw_double(recsys__jw *b, double d);
void recsys__jw_float(recsys__jw *b, float f);
void recsys__jw_int(recsys__jw *b, int64_t v);
/* ',' unless *first, then "key": (and *first becomes false). */
void recsys__jw_key(recsys__jw *b, const char *key, bool *first);
/* An array of n strings. */
void recsys__jw_strv(recsys__jw *b, char *const *v, uint32_t n);
/* Hands the text over in *out (a host string when host, for recsys_string_free; else the
 * builder's buffer, freed with recsys__free) and its length in *len (len may be NULL).
 * RECSYS_E_NOMEM, with everything freed, when any step ran out of memory. */
recsys_status recsys__jw_finish(recsys__jw *b, bool host, char **out, size_t *len);

#endif
