/* alloc.c - the per-engine allocator (STYLE B6.5). */
#include "alloc.h"
#include "abi.h"
#include "error.h"

static void *def_malloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}
static void *def_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    return realloc(p, n);
}
static void def_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

const recsys__mem recsys__mem_default = {
    { sizeof(recsys_allocator), 0, NULL, def_malloc, def_realloc, def_free, 0 },
};

recsys_status recsys__mem_init(recsys__mem *out, const recsys_allocator *host)
{
    if (!host) {
        *out = recsys__mem_default;
        return RECSYS_OK;
    }
    recsys_allocator a;
    RECSYS_TRY(recsys__record_copy(&a, sizeof a, host, host->struct_size,
                                   RECSYS_OFFSETOFEND(recsys_allocator, reserved),
                                   "recsys_allocator"));
    if (!a.malloc_fn || !a.realloc_fn || !a.free_fn)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "recsys_allocator: malloc_fn, realloc_fn and free_fn are all required");
    out->a = a;
    return RECSYS_OK;
}

static void *nomem(size_t n)
{
    recsys__err(RECSYS_E_NOMEM, "out of memory allocating %zu bytes", n);
    return NULL;
}

void *recsys__alloc(const recsys__mem *m, size_t n)
{
    void *p = m->a.malloc_fn(m->a.ctx, n ? n : 1);
    return p ? p : nomem(n);
}

void *recsys__calloc(const recsys__mem *m, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return nomem(SIZE_MAX);
    size_t n = count * size;
    void *p = recsys__alloc(m, n);
    if (p)
        memset(p, 0, n ? n : 1);
    return p;
}

void *recsys__realloc(const recsys__mem *m, void *p, size_t n)
{
    void *q = m->a.realloc_fn(m->a.ctx, p, n ? n : 1);
    return q ? q : nomem(n);
}

void *recsys__realloc_array(const recsys__mem *m, void *p, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return nomem(SIZE_MAX);
    return recsys__realloc(m, p, count * size);
}

void recsys__free(const recsys__mem *m, void *p)
{
    if (p)
        m->a.free_fn(m->a.ctx, p);
}

char *recsys__strndup(const recsys__mem *m, const char *s, size_t n)
{
    char *d = recsys__alloc(m, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *recsys__strdup(const recsys__mem *m, const char *s)
{
    return recsys__strndup(m, s, strlen(s));
}

void *recsys__memdup(const recsys__mem *m, const void *p, size_t n)
{
    void *d = recsys__alloc(m, n);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

recsys_status recsys__grow(const recsys__mem *m, void **ptr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return RECSYS_OK;
    size_t nc = *cap ? *cap : 8;
    while (nc < need) {
        if (nc > SIZE_MAX / 2)
            return recsys__err(RECSYS_E_NOMEM, "out of memory: array of %zu entries", need);
        nc *= 2;
    }
    void *p = recsys__realloc_array(m, *ptr, nc, elem);
    if (!p)
        return RECSYS_E_NOMEM;
    *ptr = p;
    *cap = nc;
    return RECSYS_OK;
}

/* A string handed to a host carries the allocator that made it just before its bytes, so
 * recsys_string_free() works after the engine is gone and with any host allocator. */
typedef struct hoststr_hdr {
    recsys_allocator a;
    uint64_t magic;
} hoststr_hdr;
#define HOSTSTR_MAGIC 0x72656373796e7374ull

char *recsys__hoststr(const recsys__mem *m, const char *s, size_t n)
{
    if (n > SIZE_MAX - sizeof(hoststr_hdr) - 1)
        return nomem(SIZE_MAX);
    hoststr_hdr *h = recsys__alloc(m, sizeof *h + n + 1);
    if (!h)
        return NULL;
    h->a = m->a;
    h->magic = HOSTSTR_MAGIC;
    char *d = (char *)(h + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

RECSYS_API void recsys_string_free(char *s)
{
    recsys__err_clear();
    if (!s)
        return;
    hoststr_hdr *h = (hoststr_hdr *)s - 1;
    if (h->magic != HOSTSTR_MAGIC)
        return; /* not ours: never free what we did not allocate */
    h->magic = 0;
    h->a.free_fn(h->a.ctx, h);
}
