/* vector.c - the faiss index over item vectors and the "vector" source (see vector.h); the
 * same machinery builds the content source's index over item text vectors.
 * faiss is reached through its C API only (lib/retrieve/faiss_bridge.cc implements the
 * functions used here); the C API headers need C11 and define a global idx_t and OK. */
#include "vector.h"
#include "ials.h"
#include "interactions.h"
#include "topk.h"
#include "../core/error.h"
#include "../core/options.h"
#include "../model/derived.h"
#include "../text/hashvec.h"

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <xxhash.h>

/* IVF: lists = 4 sqrt(N), at most N / MIN_PER_LIST; training sample TRAIN_PER_LIST per list. */
#define IVF_LISTS_PER_SQRT 4.0
#define IVF_MIN_PER_LIST 39
#define IVF_TRAIN_PER_LIST 64
#define FACTORY_MAX 256

/* The saved form (vector.h): a header of SAVED_HDR bytes, then faiss's write_index bytes. */
#define SAVED_MAGIC 0x58565352u /* "RSVX" */
#define SAVED_VERSION 1u
#define SAVED_HDR 48u
#define SAVED_IALS 1u
#define SAVED_HASHED 2u

/* Which vectors an index holds: one kind per slot (vector.h). */
typedef struct vector_kind {
    const char *tag;       /* in messages ("vector: ...") and the fingerprint */
    const char *embedding; /* the item embedding indexed */
    bool ials;             /* this refresh's iALS factors come first */
    bool unit;             /* rows L2-normalised before indexing */
    bool hashed;           /* hashed text vectors when no item has the embedding */
    bool factory_opt;      /* RECSYS_OPT_VECTOR_INDEX applies */
    bool best_effort;      /* reserve never fails (vector.h, "Content vectors") */
    int32_t nprobe_opt;    /* the option giving an IVF's nprobe */
    const recsys__builder_hooks *hooks; /* blob names */
} vector_kind;

static const vector_kind kind_vector = { "vector", "default", true, false, false, true, false,
                                         RECSYS_OPT_VECTOR_NPROBE, &recsys__vector_hooks };
static const vector_kind kind_content = { "content vectors", RECSYS__CONTENT_EMBEDDING, false,
                                          true, true, false, true, RECSYS_OPT_CONTENT_NPROBE,
                                          &recsys__content_vector_hooks };

/* Changes since the build (vector.h, "Incremental updates"). */
typedef struct vector_delta {
    uint32_t *item; /* entry -> catalog index */
    float *v;       /* entry -> dim floats */
    size_t n, cap;
    uint32_t *pos;  /* catalog index -> entry + 1, 0 when not in the delta; npos slots */
    size_t npos;
    uint8_t *stale; /* bitmap by label: the index's vector is no longer the item's */
    size_t nstale;  /* labels marked */
} vector_delta;

typedef struct vector_state {
    const vector_kind *kind;
    FaissIndex *index;
    size_t n, dim;
    uint32_t *item;   /* faiss label -> catalog index (ascending) */
    uint64_t *vhash;  /* faiss label -> XXH3-64 of the vector indexed */
    bool ials;
    recsys__hashvec *hv; /* the vocabulary of hashed text vectors, or NULL */
    float *scratch;   /* dim floats for item_changed (under the exclusive lock), or NULL */
    bool loaded;      /* read from the saved copy rather than trained */
    uint64_t fingerprint;
    char factory[FACTORY_MAX];
    vector_delta delta;
} vector_state;

static const char *faiss_msg(void)
{
    const char *e = faiss_get_last_error();
    return e ? e : "unknown faiss error";
}

static void state_free(const recsys__mem *m, vector_state *s)
{
    if (!s)
        return;
    if (s->index)
        faiss_Index_free(s->index);
    recsys__free(m, s->item);
    recsys__free(m, s->vhash);
    recsys__hashvec_free(s->hv);
    recsys__free(m, s->scratch);
    recsys__free(m, s->delta.item);
    recsys__free(m, s->delta.v);
    recsys__free(m, s->delta.pos);
    recsys__free(m, s->delta.stale);
    recsys__free(m, s);
}

/* ------------------------------------------------------------------ gathering vectors */

/* The vectors to index: n rows of dim floats (copied) and their items. */
typedef struct gathered {
    float *v;
    uint32_t *item;
    uint64_t *vhash; /* XXH3-64 of each row */
    size_t n, dim;
    bool ials;
} gathered;

static uint64_t vec_hash(const float *v, size_t dim)
{
    return XXH3_64bits(v, dim * sizeof *v);
}

/* Room for cnt rows of dim floats. */
static recsys_status gathered_alloc(const recsys__mem *m, gathered *g, size_t cnt, size_t dim)
{
    g->v = recsys__alloc(m, cnt * dim * sizeof *g->v);
    g->item = g->v ? recsys__alloc(m, cnt * sizeof *g->item) : NULL;
    g->vhash = g->item ? recsys__alloc(m, cnt * sizeof *g->vhash) : NULL;
    return g->vhash ? RECSYS_OK : RECSYS_E_NOMEM;
}

/* Keeps the row already written at g->v + n dim as item's. */
static void gathered_commit(gathered *g, uint32_t item)
{
    g->vhash[g->n] = vec_hash(g->v + g->n * g->dim, g->dim);
    g->item[g->n++] = item;
}

static void gathered_push(gathered *g, uint32_t item, const float *row)
{
    memcpy(g->v + g->n * g->dim, row, g->dim * sizeof *row);
    gathered_commit(g, item);
}

bool recsys__vector_unit(const float *v, size_t dim, float *out)
{
    double ss = 0;
    for (size_t d = 0; d < dim; d++)
        ss += (double)v[d] * v[d];
    if (!(ss > 0) || !isfinite(ss))
        return false;
    double inv = 1.0 / sqrt(ss);
    for (size_t d = 0; d < dim; d++)
        out[d] = (float)(v[d] * inv);
    return true;
}

static bool all_zero(const float *v, size_t k)
{
    for (size_t j = 0; j < k; j++)
        if (v[j] != 0)
            return false;
    return true;
}

static bool all_finite(const float *v, size_t k)
{
    for (size_t j = 0; j < k; j++)
        if (!isfinite(v[j]))
            return false;
    return true;
}

static recsys_status gather_ials(const recsys__mem *m, const recsys__catalog *c,
                                 const void *ials, gathered *g)
{
    const float *f;
    size_t nf, k;
    RECSYS_TRY(recsys__ials_item_factors(ials, &f, &nf, &k));
    size_t n = RECSYS_MIN(nf, c->ids.n), cnt = 0;
    for (uint32_t i = 0; i < n; i++)
        cnt += recsys__catalog_get(c, i) && !all_zero(f + (size_t)i * k, k);
    if (cnt == 0)
        return RECSYS_OK;
    RECSYS_TRY(gathered_alloc(m, g, cnt, k));
    g->dim = k;
    g->ials = true;
    for (uint32_t i = 0; i < n; i++) {
        const float *row = f + (size_t)i * k;
        if (recsys__catalog_get(c, i) && !all_zero(row, k))
            gathered_push(g, i, row);
    }
    return RECSYS_OK;
}

static recsys_status gather_embeddings(const recsys__mem *m, const recsys__catalog *c,
                                       const vector_kind *kind, gathered *g)
{
    size_t dim = 0, cnt = 0;
    for (uint32_t i = 0; i < c->ids.n; i++) {
        const recsys_item *it = recsys__catalog_get(c, i);
        const recsys__embedding *e = it ? recsys__item_embedding(it, kind->embedding) : NULL;
        if (!e || e->dim == 0)
            continue;
        if (dim && e->dim != dim)
            return RECSYS_OK; /* mixed dimensions: nothing to index */
        dim = e->dim;
        cnt++;
    }
    if (cnt == 0)
        return RECSYS_OK;
    RECSYS_TRY(gathered_alloc(m, g, cnt, dim));
    g->dim = dim;
    for (uint32_t i = 0; i < c->ids.n; i++) {
        const recsys_item *it = recsys__catalog_get(c, i);
        const recsys__embedding *e = it ? recsys__item_embedding(it, kind->embedding) : NULL;
        if (!e || e->dim == 0 || !all_finite(e->v, dim))
            continue;
        if (!kind->unit)
            gathered_push(g, i, e->v);
        else if (recsys__vector_unit(e->v, dim, g->v + g->n * dim))
            gathered_commit(g, i);
    }
    return RECSYS_OK;
}

/* Every live item's hashed text vector (items without a feature are left out). */
static recsys_status gather_hashed(const recsys__mem *m, const recsys__catalog *c,
                                   const recsys__hashvec *hv, gathered *g)
{
    if (c->live == 0)
        return RECSYS_OK;
    size_t dim = recsys__hashvec_dim(hv);
    RECSYS_TRY(gathered_alloc(m, g, c->live, dim));
    g->dim = dim;
    for (uint32_t i = 0; i < c->ids.n && g->n < c->live; i++) {
        const recsys_item *it = recsys__catalog_get(c, i);
        if (it && recsys__hashvec_item(hv, it, g->v + g->n * dim))
            gathered_commit(g, i);
    }
    return RECSYS_OK;
}

/* The vector item idx has now, as an index of s's kind and dimension would hold it, into out
 * (s->dim floats): its hashed text vector, or its embedding (of s->dim finite floats; made
 * unit for a kind that indexes unit vectors). false when it has none (or is removed). */
static bool current_vector(const vector_state *s, const recsys__catalog *c, uint32_t idx,
                           float *out)
{
    const recsys_item *it = recsys__catalog_get(c, idx);
    if (!it || s->ials)
        return false;
    if (s->hv)
        return recsys__hashvec_item(s->hv, it, out);
    const recsys__embedding *e = recsys__item_embedding(it, s->kind->embedding);
    if (!e || e->dim != s->dim || !all_finite(e->v, s->dim))
        return false;
    if (s->kind->unit)
        return recsys__vector_unit(e->v, s->dim, out);
    memcpy(out, e->v, s->dim * sizeof *out);
    return true;
}

/* The item's current vector when the index could hold it (s->dim floats), else NULL: its
 * embedding itself, or s->scratch (item_changed only: the engine's lock is exclusive). */
static const float *embedding_of(vector_state *s, const recsys__catalog *c, uint32_t item)
{
    if (!s->hv && !s->kind->unit) {
        const recsys_item *it = recsys__catalog_get(c, item);
        const recsys__embedding *e = it ? recsys__item_embedding(it, s->kind->embedding) : NULL;
        return e && e->dim == s->dim && all_finite(e->v, s->dim) ? e->v : NULL;
    }
    return current_vector(s, c, item, s->scratch) ? s->scratch : NULL;
}

/* ------------------------------------------------------------------ building the index */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Trains an untrained index on at most max_train rows of g sampled with seed. */
static recsys_status train(const recsys__mem *m, const vector_state *vs, const gathered *g,
                           size_t max_train, uint64_t seed)
{
    size_t nt = RECSYS_MIN(g->n, max_train);
    const float *x = g->v;
    float *sample = NULL;
    if (nt < g->n) {
        /* a partial Fisher-Yates shuffle of the row numbers picks nt distinct rows */
        uint32_t *perm = recsys__alloc(m, g->n * sizeof *perm);
        sample = perm ? recsys__alloc(m, nt * g->dim * sizeof *sample) : NULL;
        if (!sample) {
            recsys__free(m, perm);
            return RECSYS_E_NOMEM;
        }
        for (size_t i = 0; i < g->n; i++)
            perm[i] = (uint32_t)i;
        uint64_t s = seed ^ UINT64_C(0x7665637472);
        for (size_t i = 0; i < nt; i++) {
            size_t j = i + (size_t)(splitmix64(&s) % (g->n - i));
            uint32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
            memcpy(sample + i * g->dim, g->v + (size_t)perm[i] * g->dim,
                   g->dim * sizeof *sample);
        }
        recsys__free(m, perm);
        x = sample;
    }
    int rc = faiss_Index_train(vs->index, (faiss_idx_t)nt, x);
    recsys__free(m, sample);
    if (rc)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s: training the index failed: %s",
                           vs->kind->tag, faiss_msg());
    return RECSYS_OK;
}

/* The factory string: the option's, "Flat" up to exact_max vectors, else "IVF<lists>,Flat".
 * *lists is the IVF list count chosen here (0 for the option's string or Flat). */
static recsys_status resolve_factory(const recsys__build_ctx *c, const gathered *g,
                                     vector_state *s, size_t *lists)
{
    const char *user = c->str_opt && s->kind->factory_opt
                               ? c->str_opt[recsys__opt_slot(RECSYS_OPT_VECTOR_INDEX)]
                               : NULL;
    size_t exact_max = (size_t)c->opt[recsys__opt_slot(RECSYS_OPT_VECTOR_EXACT_MAX)];
    *lists = 0;
    if (user && *user) {
        if (strlen(user) >= sizeof s->factory)
            return recsys__err(RECSYS_E_INVALID_ARG,
                               "vector: index factory string longer than %zu bytes",
                               sizeof s->factory - 1);
        strcpy(s->factory, user);
    } else if (g->n <= exact_max) {
        strcpy(s->factory, "Flat");
    } else {
        size_t n = (size_t)(IVF_LISTS_PER_SQRT * sqrt((double)g->n) + 0.5);
        n = RECSYS_MIN(n, g->n / IVF_MIN_PER_LIST);
        *lists = n < 1 ? 1 : n;
        snprintf(s->factory, sizeof s->factory, "IVF%zu,Flat", *lists);
    }
    if (g->dim > INT32_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s: dimension %zu too large", s->kind->tag,
                           g->dim);
    return RECSYS_OK;
}

/* nprobe is fixed when the state is made (built or read), never per request; index types
 * without it ignore the option. */
static recsys_status set_nprobe(const recsys__build_ctx *c, vector_state *s)
{
    if (!strstr(s->factory, "IVF"))
        return RECSYS_OK;
    double nprobe = c->opt[recsys__opt_slot(s->kind->nprobe_opt)];
    FaissParameterSpace *ps = NULL;
    if (faiss_ParameterSpace_new(&ps))
        return RECSYS_E_NOMEM;
    int rc = faiss_ParameterSpace_set_index_parameter(ps, s->index, "nprobe", nprobe);
    faiss_ParameterSpace_free(ps);
    if (rc)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s: setting nprobe on \"%s\": %s",
                           s->kind->tag, s->factory, faiss_msg());
    return RECSYS_OK;
}

static recsys_status build_index(const recsys__build_ctx *c, const gathered *g,
                                 vector_state *s, size_t lists)
{
    if (faiss_index_factory(&s->index, (int)g->dim, s->factory, METRIC_INNER_PRODUCT)) {
        s->index = NULL;
        return recsys__err(RECSYS_E_INVALID_ARG, "%s: index \"%s\": %s", s->kind->tag,
                           s->factory, faiss_msg());
    }
    if (!faiss_Index_is_trained(s->index)) {
        size_t max_train = lists ? lists * IVF_TRAIN_PER_LIST : g->n;
        RECSYS_TRY(train(c->mem, s, g, max_train, c->seed));
    }
    /* labels 0..n-1: plain add when the index numbers its vectors itself, else explicit ids
     * (an "IDMap," wrapper the host asked for refuses add) */
    if (faiss_Index_add(s->index, (faiss_idx_t)g->n, g->v)) {
        faiss_idx_t *ids = recsys__alloc(c->mem, g->n * sizeof *ids);
        if (!ids)
            return RECSYS_E_NOMEM;
        for (size_t i = 0; i < g->n; i++)
            ids[i] = (faiss_idx_t)i;
        int rc = faiss_Index_add_with_ids(s->index, (faiss_idx_t)g->n, g->v, ids);
        recsys__free(c->mem, ids);
        if (rc)
            return recsys__err(RECSYS_E_INVALID_ARG, "%s: adding to index \"%s\": %s",
                               s->kind->tag, s->factory, faiss_msg());
    }
    if ((size_t)faiss_Index_ntotal(s->index) != g->n)
        return recsys__err(RECSYS_E_INTERNAL, "%s: index holds %lld of %zu vectors",
                           s->kind->tag, (long long)faiss_Index_ntotal(s->index), g->n);
    return RECSYS_OK;
}

/* ------------------------------------------------------------------ the saved copy */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* What the index is made of (vector.h, "Saved copy"): the format, the factory string, the
 * seed, whether iALS factors are indexed, then per label the item's id and its vector. */
static uint64_t fingerprint(const recsys__build_ctx *c, const vector_state *s, const gathered *g)
{
    char head[FACTORY_MAX + 128];
    int len = snprintf(head, sizeof head, "%s/%u ials=%d dim=%zu n=%zu seed=%" PRIu64 " %s",
                       s->kind->tag, SAVED_VERSION, (int)g->ials, g->dim, g->n, c->seed,
                       s->factory);
    uint64_t h = XXH3_64bits(head, (size_t)len);
    const recsys__catalog *cat = &c->model->catalog;
    for (size_t i = 0; i < g->n; i++) {
        const char *id = recsys__catalog_get(cat, g->item[i])->id;
        uint64_t rec[2] = { XXH3_64bits(id, strlen(id)), g->vhash[i] };
        h = XXH3_64bits_withSeed(rec, sizeof rec, h);
    }
    return h;
}

static const char *saved_name(const vector_state *s)
{
    return s->kind->hooks->blob[s->ials ? 1 : 0];
}

/* The header's flags (vector.h, "Saved copy"). */
static uint32_t saved_flags(const vector_state *s)
{
    return (s->ials ? SAVED_IALS : 0u) | (s->hv ? SAVED_HASHED : 0u);
}

/* Reads the index from a saved copy when it was made from exactly what s is about to index
 * (s->fingerprint, n, dim, factory). *ok false when there is none, it is stale (the catalog,
 * the vectors or the options changed), or it is damaged; a damage, or a store that failed to
 * read it, is recorded as the build's note (the index is then built). */
static recsys_status load_saved(const recsys__build_ctx *c, vector_state *s, bool *ok)
{
    *ok = false;
    if (!c->read_saved)
        return RECSYS_OK;
    const char *name = saved_name(s);
    void *data = NULL;
    size_t len = 0;
    recsys_status st = c->read_saved(c->saved_arg, name, &data, &len);
    if (st != RECSYS_OK) {
        if (st != RECSYS_E_NOT_FOUND) {
            recsys__err_prefix("reading the saved index (built instead)");
            recsys__err_prefix(s->kind->tag);
            recsys__build_note(c);
        }
        recsys__free(c->mem, data);
        return RECSYS_OK;
    }
    const unsigned char *p = data;
    const char *why = NULL;
    FaissIndex *ix = NULL;
    uint64_t flen = len >= SAVED_HDR ? get_u64(p + 32) : 0;
    if (len < SAVED_HDR || get_u32(p) != SAVED_MAGIC)
        why = "not a saved vector index";
    else if (get_u32(p + 4) != SAVED_VERSION || get_u64(p + 8) != s->fingerprint ||
             get_u64(p + 16) != s->n || get_u32(p + 24) != s->dim ||
             get_u32(p + 28) != saved_flags(s))
        goto done; /* stale: made from other vectors or options (or another format) */
    else if (flen != len - SAVED_HDR || flen == 0)
        why = "length does not match";
    else if (XXH3_64bits(p + SAVED_HDR, (size_t)flen) != get_u64(p + 40))
        why = "checksum mismatch";
    if (!why) {
        /* fmemopen in read mode never writes to the buffer */
        FILE *f = fmemopen((void *)(uintptr_t)(p + SAVED_HDR), (size_t)flen, "r");
        if (!f) {
            char eb[128];
            recsys__err(errno == ENOMEM ? RECSYS_E_NOMEM : RECSYS_E_INTERNAL,
                        "%s: reading the saved index (built instead): fmemopen: %s",
                        s->kind->tag, strerror_r(errno, eb, sizeof eb));
            recsys__build_note(c);
            goto done;
        }
        int rc = faiss_read_index(f, 0, &ix);
        fclose(f);
        if (rc) {
            ix = NULL;
            why = faiss_msg();
        } else if ((size_t)faiss_Index_d(ix) != s->dim ||
                   (size_t)faiss_Index_ntotal(ix) != s->n ||
                   faiss_Index_metric_type(ix) != METRIC_INNER_PRODUCT) {
            why = "the index read does not hold the vectors expected";
        }
    }
    if (why) {
        recsys__err(RECSYS_E_CORRUPT, "%s: saved index '%s' is damaged (%.200s); built "
                    "instead", s->kind->tag, name, why);
        recsys__build_note(c);
        goto done;
    }
    s->index = ix;
    ix = NULL;
    s->loaded = true;
    *ok = true;
done:
    if (ix)
        faiss_Index_free(ix);
    recsys__free(c->mem, data);
    return st;
}

/* A FILE that appends to a buffer allocated with mem (fopencookie), for faiss_write_index. */
typedef struct membuf {
    const recsys__mem *mem;
    unsigned char *p;
    size_t len, cap;
    bool nomem;
} membuf;

static ssize_t membuf_write(void *cookie, const char *buf, size_t size)
{
    membuf *b = cookie;
    if (size > b->cap - b->len) {
        if (size > SIZE_MAX / 2 - b->len) {
            b->nomem = true;
            errno = ENOMEM;
            return -1;
        }
        size_t cap = RECSYS_MAX(b->len + size, b->cap + b->cap / 2);
        unsigned char *p = recsys__realloc(b->mem, b->p, cap);
        if (!p) {
            b->nomem = true;
            errno = ENOMEM;
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, buf, size);
    b->len += size;
    return (ssize_t)size;
}

static recsys_status vector_save(const recsys__mem *m, const void *state, int *which,
                                 void **data, size_t *len)
{
    const vector_state *s = state;
    *data = NULL;
    *len = 0;
    *which = s->ials ? 1 : 0;
    if (s->loaded)
        return RECSYS_OK; /* the saved copy is this index already */
    /* room for a Flat index's vectors and an IVF's ids at once; more is realloc'd */
    membuf b = { .mem = m, .len = SAVED_HDR };
    b.cap = SAVED_HDR + s->n * (s->dim * sizeof(float) + sizeof(int64_t)) + ((size_t)1 << 16);
    if (!(b.p = recsys__alloc(m, b.cap)))
        return RECSYS_E_NOMEM;
    cookie_io_functions_t io = { .write = membuf_write };
    FILE *f = fopencookie(&b, "w", io);
    recsys_status st = RECSYS_OK;
    if (!f) {
        st = recsys__err(RECSYS_E_NOMEM, "%s: fopencookie failed", s->kind->tag);
    } else {
        int rc = faiss_write_index(s->index, f);
        int closed = fclose(f); /* flushes into b */
        if (b.nomem)
            st = recsys__err(RECSYS_E_NOMEM, "%s: out of memory serialising the index",
                             s->kind->tag);
        else if (rc)
            st = recsys__err(RECSYS_E_INTERNAL, "%s: serialising the index: %s",
                             s->kind->tag, faiss_msg());
        else if (closed != 0)
            st = recsys__err(RECSYS_E_INTERNAL, "%s: serialising the index failed",
                             s->kind->tag);
    }
    if (st != RECSYS_OK) {
        recsys__free(m, b.p);
        return st;
    }
    size_t flen = b.len - SAVED_HDR;
    put_u32(b.p, SAVED_MAGIC);
    put_u32(b.p + 4, SAVED_VERSION);
    put_u64(b.p + 8, s->fingerprint);
    put_u64(b.p + 16, s->n);
    put_u32(b.p + 24, (uint32_t)s->dim);
    put_u32(b.p + 28, saved_flags(s));
    put_u64(b.p + 32, flen);
    put_u64(b.p + 40, XXH3_64bits(b.p + SAVED_HDR, flen));
    *data = b.p;
    *len = b.len;
    return RECSYS_OK;
}

/* ------------------------------------------------------------------ the builder */

static void gathered_free(const recsys__mem *m, gathered *g)
{
    recsys__free(m, g->v);
    recsys__free(m, g->item);
    recsys__free(m, g->vhash);
    memset(g, 0, sizeof *g);
}

/* The rows of kind's index (vector.h): iALS factors, else the kind's embeddings, else (a
 * kind with hashed vectors and RECSYS_OPT_CONTENT_DIM > 0) hashed text vectors, whose
 * vocabulary goes to *hv. */
static recsys_status gather(const recsys__build_ctx *c, const vector_kind *kind, gathered *g,
                            recsys__hashvec **hv)
{
    const recsys__catalog *cat = &c->model->catalog;
    const void *ials = kind->ials && c->built ? c->built[RECSYS__DERIVED_IALS] : NULL;
    if (ials)
        return gather_ials(c->mem, cat, ials, g);
    RECSYS_TRY(gather_embeddings(c->mem, cat, kind, g));
    if (g->n > 0 || !kind->hashed)
        return RECSYS_OK;
    gathered_free(c->mem, g); /* rows of no direction only */
    size_t dim = (size_t)c->opt[recsys__opt_slot(RECSYS_OPT_CONTENT_DIM)];
    if (dim == 0 || cat->live == 0)
        return RECSYS_OK;
    RECSYS_TRY(recsys__hashvec_build(c->mem, cat, dim, hv));
    return gather_hashed(c->mem, cat, *hv, g);
}

static recsys_status build_state(const recsys__build_ctx *c, const vector_kind *kind,
                                 void **out)
{
    *out = NULL;
    gathered g = { 0 };
    vector_state *s = NULL;
    recsys__hashvec *hv = NULL;
    recsys_status st = gather(c, kind, &g, &hv);
    if (st != RECSYS_OK || g.n == 0)
        goto done;
    if (!(s = recsys__calloc(c->mem, 1, sizeof *s))) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    s->kind = kind;
    s->n = g.n;
    s->dim = g.dim;
    s->ials = g.ials;
    s->hv = hv;
    hv = NULL;
    if ((s->hv || kind->unit) && !(s->scratch = recsys__alloc(c->mem, s->dim * sizeof(float)))) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    /* a best-effort index can always mark a removed or changed item stale */
    if (kind->best_effort && !(s->delta.stale = recsys__calloc(c->mem, (s->n + 7) / 8, 1))) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    size_t lists = 0;
    if ((st = resolve_factory(c, &g, s, &lists)) != RECSYS_OK)
        goto done;
    s->fingerprint = fingerprint(c, s, &g);
    bool loaded = false;
    if ((st = load_saved(c, s, &loaded)) != RECSYS_OK)
        goto done;
    if (!loaded && (st = build_index(c, &g, s, lists)) != RECSYS_OK)
        goto done;
    if ((st = set_nprobe(c, s)) != RECSYS_OK)
        goto done;
    s->item = g.item;
    s->vhash = g.vhash;
    g.item = NULL;
    g.vhash = NULL;
    *out = s;
    s = NULL;
done:
    state_free(c->mem, s);
    recsys__hashvec_free(hv);
    gathered_free(c->mem, &g);
    return st;
}

static recsys_status vector_build_state(const recsys__build_ctx *c, void **out)
{
    return build_state(c, &kind_vector, out);
}

static recsys_status content_build_state(const recsys__build_ctx *c, void **out)
{
    return build_state(c, &kind_content, out);
}

static void vector_free_state(const recsys__mem *m, void *state)
{
    state_free(m, state);
}

/* ------------------------------------------------------------------ incremental updates */

/* The label of item, or SIZE_MAX (s->item is ascending). */
static size_t label_of(const vector_state *s, uint32_t item)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->item[mid] < item)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->item[lo] == item ? lo : SIZE_MAX;
}

static bool label_stale(const vector_state *s, size_t label)
{
    return s->delta.stale && (s->delta.stale[label / 8] >> (label % 8) & 1);
}

static void mark_stale(vector_state *s, size_t label, bool on)
{
    uint8_t bit = (uint8_t)(1u << (label % 8));
    uint8_t *b = &s->delta.stale[label / 8];
    if (on && !(*b & bit))
        s->delta.nstale++;
    else if (!on && (*b & bit))
        s->delta.nstale--;
    *b = on ? (uint8_t)(*b | bit) : (uint8_t)(*b & ~bit);
}

/* Room for n more delta entries and for every item the catalog can hold after n more are
 * added; every allocation happens before anything changes. An index over iALS factors
 * does not follow the catalog (the factors do not change with an item). */
static recsys_status vector_reserve(const recsys__mem *m, void *state, const recsys__model *model,
                                    size_t n)
{
    vector_state *s = state;
    vector_delta *d = &s->delta;
    if (s->ials)
        return RECSYS_OK;
    size_t items = model->catalog.ids.n;
    if (n > UINT32_MAX || items > SIZE_MAX - n)
        return recsys__err(RECSYS_E_NOMEM, "vector: %zu item changes", n);
    size_t need_pos = items + n, need = d->n + n;
    uint8_t *stale = d->stale;
    if (!stale && !(stale = recsys__calloc(m, (s->n + 7) / 8, 1)))
        return RECSYS_E_NOMEM;
    uint32_t *pos = d->pos;
    size_t npos = d->npos;
    if (need_pos > npos) {
        npos = RECSYS_MAX(need_pos, npos + npos / 2);
        pos = recsys__realloc_array(m, d->pos, npos, sizeof *pos);
        if (!pos) {
            if (stale != d->stale)
                recsys__free(m, stale);
            return RECSYS_E_NOMEM;
        }
        memset(pos + d->npos, 0, (npos - d->npos) * sizeof *pos);
    }
    /* from here each step leaves a valid state: a larger pos or stale is harmless */
    d->stale = stale;
    d->pos = pos;
    d->npos = npos;
    if (need > d->cap) {
        size_t cap = RECSYS_MAX(need, RECSYS_MAX((size_t)16, d->cap + d->cap / 2));
        uint32_t *it = recsys__realloc_array(m, d->item, cap, sizeof *it);
        if (!it)
            return RECSYS_E_NOMEM;
        d->item = it;
        float *v = recsys__realloc_array(m, d->v, cap, s->dim * sizeof *v);
        if (!v)
            return RECSYS_E_NOMEM; /* item[] grew alone: cap unchanged, still consistent */
        d->v = v;
        d->cap = cap;
    }
    return RECSYS_OK;
}

static void delta_drop(vector_delta *d, size_t dim, uint32_t item)
{
    if (item >= d->npos || !d->pos[item])
        return;
    size_t e = d->pos[item] - 1, last = d->n - 1;
    d->pos[item] = 0;
    if (e != last) { /* the last entry fills the hole */
        d->item[e] = d->item[last];
        memcpy(d->v + e * dim, d->v + last * dim, dim * sizeof *d->v);
        d->pos[d->item[e]] = (uint32_t)(e + 1);
    }
    d->n--;
}

static void delta_put(vector_delta *d, size_t dim, uint32_t item, const float *v)
{
    size_t e;
    if (d->pos[item]) {
        e = d->pos[item] - 1;
    } else {
        e = d->n++;
        d->item[e] = item;
        d->pos[item] = (uint32_t)(e + 1);
    }
    memcpy(d->v + e * dim, v, dim * sizeof *v);
}

/* The item's vector is now its current embedding (or none): the index's entry is marked
 * stale unless it holds exactly that vector, and the delta holds the vector otherwise. */
static void vector_item_changed(const recsys__mem *m, void *state, const recsys__model *model,
                                uint32_t item)
{
    RECSYS_UNUSED(m);
    vector_state *s = state;
    vector_delta *d = &s->delta;
    if (s->ials || !d->stale)
        return; /* iALS factors, or no room reserved (a caller bug: nothing recorded) */
    const float *v = embedding_of(s, &model->catalog, item);
    size_t label = label_of(s, item);
    if (label != SIZE_MAX && v && vec_hash(v, s->dim) == s->vhash[label]) {
        mark_stale(s, label, false); /* back to what the index holds */
        delta_drop(d, s->dim, item);
        return;
    }
    if (label != SIZE_MAX)
        mark_stale(s, label, true);
    /* no room (only when a best-effort reserve could not make it): out until the refresh */
    if (v && item < d->npos && (d->pos[item] || d->n < d->cap))
        delta_put(d, s->dim, item, v);
    else
        delta_drop(d, s->dim, item);
}

/* Best effort (vector.h, "Content vectors"): the stale bitmap exists from the build, so a
 * removal or change can always be recorded; what reserve cannot make room for leaves the
 * vectors until the next refresh instead of failing the catalog change. */
static recsys_status content_reserve(const recsys__mem *m, void *state,
                                     const recsys__model *model, size_t n)
{
    recsys__err_saved saved;
    recsys__err_save(&saved);
    if (vector_reserve(m, state, model, n) != RECSYS_OK)
        recsys__err_restore(&saved);
    return RECSYS_OK;
}

/* personal: the index may hold iALS item factors, which are learnt from users' events (an
 * index over embeddings is dropped too when a user is forgotten; the next refresh rebuilds
 * it, from the saved copy when it still matches). */
const recsys__builder recsys__vector_builder = {
    RECSYS__DERIVED_VECTOR, { "vector" }, vector_build_state, vector_free_state, true,
};

const recsys__builder_hooks recsys__vector_hooks = {
    .reserve = vector_reserve,
    .item_changed = vector_item_changed,
    .blob = { "vector.index", "vector.ials.index" },
    .save = vector_save,
};

/* not personal: item text and the host's "text" embeddings only */
const recsys__builder recsys__content_vector_builder = {
    RECSYS__DERIVED_CONTENT, { "content" }, content_build_state, vector_free_state, false,
};

const recsys__builder_hooks recsys__content_vector_hooks = {
    .reserve = content_reserve,
    .item_changed = vector_item_changed,
    .blob = { "content.index", NULL },
    .save = vector_save,
};

recsys_status recsys__vector_info_get(const void *state, recsys__vector_info *out)
{
    if (!state || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "vector_info: NULL argument");
    const vector_state *s = state;
    out->n = s->n;
    out->dim = s->dim;
    out->ials = s->ials;
    out->index = s->factory;
    out->loaded = s->loaded;
    out->fingerprint = s->fingerprint;
    out->delta = s->delta.n;
    out->stale = s->delta.nstale;
    out->hashed = s->hv != NULL;
    out->embedding = s->ials || s->hv ? NULL : s->kind->embedding;
    return RECSYS_OK;
}

bool recsys__vector_item_vector(const void *state, const recsys__catalog *c, uint32_t item,
                                float *out)
{
    return state && c && out && current_vector(state, c, item, out);
}

bool recsys__vector_text_vector(const void *state, const char *text, float *out)
{
    const vector_state *s = state;
    return s && s->hv && out && recsys__hashvec_text(s->hv, text, out);
}

/* ------------------------------------------------------------------ search */

/* Raw search of the index into caller buffers of k: labels mapped to items, stale labels
 * (the item changed since the build) left out; *n results. */
static recsys_status search_raw(const vector_state *s, const float *v, size_t k, float *dist,
                                faiss_idx_t *lab, uint32_t *items, size_t *n)
{
    *n = 0;
    if (faiss_Index_search(s->index, 1, v, (faiss_idx_t)k, dist, lab))
        return recsys__err(RECSYS_E_INTERNAL, "%s: search failed: %s", s->kind->tag,
                           faiss_msg());
    /* the label -> item map is as large as the catalog: ask for every line the loop below
     * reads at once, so that the misses overlap instead of queueing one after the other */
    for (size_t j = 0; j < k; j++)
        if (lab[j] >= 0 && (size_t)lab[j] < s->n)
            __builtin_prefetch(&s->item[lab[j]]);
    for (size_t j = 0; j < k; j++) {
        if (lab[j] < 0 || (size_t)lab[j] >= s->n || !isfinite(dist[j]) ||
            label_stale(s, (size_t)lab[j]))
            continue;
        items[*n] = s->item[lab[j]];
        dist[*n] = dist[j];
        ++*n;
    }
    return RECSYS_OK;
}

/* v . the delta's entry e (exact, as faiss's Flat). */
static float delta_score(const vector_state *s, size_t e, const float *v)
{
    const float *x = s->delta.v + e * s->dim;
    double acc = 0;
    for (size_t d = 0; d < s->dim; d++)
        acc += (double)v[d] * x[d];
    return (float)acc;
}

recsys_status recsys__vector_search(const void *state, const recsys__mem *m, const float *v,
                                    size_t dim, size_t k, uint32_t *items, float *scores,
                                    size_t *n)
{
    if (n)
        *n = 0;
    if (!state || !m || !v || !items || !scores || !n || k == 0)
        return recsys__err(RECSYS_E_INVALID_ARG, "vector_search: NULL argument or k = 0");
    const vector_state *s = state;
    if (dim != s->dim)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "vector_search: query has %zu dimensions, the index %zu", dim,
                           s->dim);
    /* stale labels can take nstale of faiss's places: ask for that many more */
    size_t kf = RECSYS_MIN(k + s->delta.nstale, s->n);
    faiss_idx_t *lab = recsys__alloc(m, kf * sizeof *lab);
    float *dist = lab ? recsys__alloc(m, kf * sizeof *dist) : NULL;
    uint32_t *got = dist ? recsys__alloc(m, kf * sizeof *got) : NULL;
    recsys__topk top = { 0 };
    size_t ng = 0;
    recsys_status st = got ? recsys__topk_init(&top, m, k) : RECSYS_E_NOMEM;
    if (st == RECSYS_OK)
        st = search_raw(s, v, kf, dist, lab, got, &ng);
    if (st == RECSYS_OK) {
        for (size_t j = 0; j < ng; j++)
            recsys__topk_offer(&top, got[j], dist[j]);
        for (size_t e = 0; e < s->delta.n; e++)
            recsys__topk_offer(&top, s->delta.item[e], delta_score(s, e, v));
        recsys__topk_sort(&top);
        for (size_t j = 0; j < top.n; j++) {
            items[j] = top.h[j].item;
            scores[j] = (float)top.h[j].score;
        }
        *n = top.n;
    }
    recsys__topk_free(&top);
    recsys__free(m, lab);
    recsys__free(m, dist);
    recsys__free(m, got);
    return st;
}

/* ------------------------------------------------------------------ the source */

static bool sorted_has(const uint32_t *v, size_t n, uint32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == x;
}

recsys_status recsys__vector_top(const void *state, const recsys_query *q, const recsys__mem *m,
                                 const float *u, size_t limit, size_t extra,
                                 const uint32_t *skip, size_t nskip, recsys__topk *top)
{
    const vector_state *s = state;
    const recsys__catalog *c = &q->model->catalog;
    float *dist = NULL;
    faiss_idx_t *lab = NULL;
    uint32_t *items = NULL;
    recsys_status st = RECSYS_OK;
    limit = RECSYS_MIN(limit, s->n + s->delta.n);
    /* stale labels (changed items) take places among faiss's results too */
    size_t k = limit + q->nexclude + extra + s->delta.nstale + RECSYS__VECTOR_ROOM;
    for (;;) {
        k = RECSYS_MIN(k, s->n);
        recsys__free(m, dist);
        recsys__free(m, lab);
        recsys__free(m, items);
        recsys__topk_free(top);
        dist = recsys__alloc(m, k * sizeof *dist);
        lab = dist ? recsys__alloc(m, k * sizeof *lab) : NULL;
        items = lab ? recsys__alloc(m, k * sizeof *items) : NULL;
        if (!items) {
            st = RECSYS_E_NOMEM;
            goto done;
        }
        if ((st = recsys__topk_init(top, m, limit)) != RECSYS_OK)
            goto done;
        size_t got = 0;
        if ((st = search_raw(s, u, k, dist, lab, items, &got)) != RECSYS_OK)
            goto done;
        size_t kept = 0;
        for (size_t j = 0; j < got; j++) /* the catalog's slots too (see search_raw) */
            if (items[j] < c->ids.n)
                __builtin_prefetch(&c->items[items[j]]);
        for (size_t j = 0; j < got; j++) {
            uint32_t it = items[j];
            if (it == q->anchor || !recsys__catalog_get(c, it) ||
                recsys__query_excluded(q, it) || sorted_has(skip, nskip, it))
                continue;
            recsys__topk_offer(top, it, dist[j]);
            kept++;
        }
        /* removed or changed items (or an approximate index returning fewer) can leave too
         * few: the index's best limit valid items must all be among those offered, so that
         * the delta's items below compete with every one that could beat them */
        if (kept >= limit || k >= s->n)
            break;
        k *= 2;
    }
    /* items added or changed since the build: scored exactly */
    for (size_t e = 0; e < s->delta.n; e++) {
        uint32_t it = s->delta.item[e];
        if (it == q->anchor || !recsys__catalog_get(c, it) || recsys__query_excluded(q, it) ||
            sorted_has(skip, nskip, it))
            continue;
        float sc = delta_score(s, e, u);
        if (isfinite(sc))
            recsys__topk_offer(top, it, sc);
    }
done:
    recsys__free(m, dist);
    recsys__free(m, lab);
    recsys__free(m, items);
    return st;
}

/* The query vector: iALS fold-in or the mean of the positives' embeddings. *ok false when
 * no positive has a vector. */
static recsys_status query_vector(const vector_state *s, const recsys_query *q,
                                  const recsys__mem *m, const uint32_t *pos, const float *pw,
                                  size_t npos, float *u, bool *ok)
{
    *ok = false;
    if (s->ials) {
        const void *is = q->derived->state[RECSYS__DERIVED_IALS];
        const float *f;
        size_t nf, k, nusers;
        if (!is || recsys__ials_item_factors(is, &f, &nf, &k) != RECSYS_OK || k != s->dim)
            return RECSYS_OK;
        /* a trained state folds in with its training alpha; an imported one has none */
        RECSYS_TRY(recsys__ials_user_factors(is, &f, &nusers, &k));
        double alpha = f ? -1.0 : recsys__query_opt(q, RECSYS_OPT_IALS_ALPHA);
        size_t used = 0;
        RECSYS_TRY(recsys__ials_fold_in(is, m, pos, pw, npos, alpha, u, &used));
        *ok = used > 0 && all_finite(u, k);
        return RECSYS_OK;
    }
    const recsys__catalog *c = &q->model->catalog;
    size_t used = 0;
    memset(u, 0, s->dim * sizeof *u);
    for (size_t j = 0; j < npos; j++) {
        const recsys_item *it = recsys__catalog_get(c, pos[j]);
        const recsys__embedding *e = it ? recsys__item_embedding(it, "default") : NULL;
        if (!e || e->dim != s->dim || !all_finite(e->v, s->dim))
            continue;
        for (size_t d = 0; d < s->dim; d++)
            u[d] += e->v[d];
        used++;
    }
    if (used == 0)
        return RECSYS_OK;
    for (size_t d = 0; d < s->dim; d++)
        u[d] /= (float)used;
    *ok = true;
    return RECSYS_OK;
}

static recsys_status vector_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    RECSYS_UNUSED(ctx);
    if (!q || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "vector: query or candidate set is NULL");
    const vector_state *s = q->derived ? q->derived->state[RECSYS__DERIVED_VECTOR] : NULL;
    if (!s || q->limit == 0 || (!q->user && q->anchor == RECSYS_IDS_NONE))
        return RECSYS_OK;
    const recsys__catalog *c = &q->model->catalog;
    const recsys__mem *m = out->mem ? out->mem : c->mem;
    uint32_t *pos = NULL;
    float *pw = NULL, *u = NULL;
    recsys__topk top = { 0 };
    size_t npos = 0;
    bool ok = false;
    recsys_status st = recsys__query_positives(m, q, &pos, &pw, &npos);
    if (st != RECSYS_OK || npos == 0)
        goto done;
    if (!(u = recsys__alloc(m, s->dim * sizeof *u))) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    if ((st = query_vector(s, q, m, pos, pw, npos, u, &ok)) != RECSYS_OK || !ok)
        goto done;
    bool skip_pos = q->anchor == RECSYS_IDS_NONE &&
                    recsys__query_opt(q, RECSYS_OPT_FILTER_SEEN) != 0;
    st = recsys__vector_top(s, q, m, u, q->limit, npos, skip_pos ? pos : NULL,
                            skip_pos ? npos : 0, &top);
    if (st == RECSYS_OK)
        st = recsys__topk_emit(&top, out);
done:
    recsys__free(m, pos);
    recsys__free(m, pw);
    recsys__free(m, u);
    recsys__topk_free(&top);
    return st;
}

recsys_status recsys__source_vector(const recsys__mem *m, recsys_source_vtable *out)
{
    RECSYS_UNUSED(m);
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "vector: vtable is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->retrieve = vector_retrieve;
    return RECSYS_OK;
}
