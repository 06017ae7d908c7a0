/* alloc.h - the per-engine allocator. Every internal allocation goes through these, which is
 * also the hook the out-of-memory tests use (a host allocator that fails the n-th call). */
#ifndef RECSYS_CORE_ALLOC_H
#define RECSYS_CORE_ALLOC_H
#include "deps.h"

typedef struct recsys__mem {
    recsys_allocator a; /* normalised: all three functions set */
} recsys__mem;

/* The malloc-backed allocator (for builders made before any engine exists). */
extern const recsys__mem recsys__mem_default;

/* Validates a host allocator record (NULL = default) and copies it into *out. */
recsys_status recsys__mem_init(recsys__mem *out, const recsys_allocator *host);

/* Each sets RECSYS_E_NOMEM with a message and returns NULL on failure. Sizes are
 * overflow-checked. recsys__free accepts NULL. */
void *recsys__alloc(const recsys__mem *m, size_t n);
void *recsys__calloc(const recsys__mem *m, size_t count, size_t size);
void *recsys__realloc(const recsys__mem *m, void *p, size_t n);
void *recsys__realloc_array(const recsys__mem *m, void *p, size_t count, size_t size);
void recsys__free(const recsys__mem *m, void *p);
char *recsys__strdup(const recsys__mem *m, const char *s);
char *recsys__strndup(const recsys__mem *m, const char *s, size_t n);
void *recsys__memdup(const recsys__mem *m, const void *p, size_t n);

/* Copies s[0..n) into a string a host frees with recsys_string_free(). */
char *recsys__hoststr(const recsys__mem *m, const char *s, size_t n);

/* Grows *ptr (an array of elem-sized entries with capacity *cap) to hold at least need
 * entries, doubling. Returns RECSYS_OK or RECSYS_E_NOMEM (array unchanged). */
recsys_status recsys__grow(const recsys__mem *m, void **ptr, size_t *cap, size_t need, size_t elem);
#define RECSYS_GROW(m, arr, cap, need) \
    recsys__grow((m), (void **)&(arr), &(cap), (need), sizeof(*(arr)))

#endif
