/* hashvec.c - hashed text vectors over a document-frequency vocabulary (see hashvec.h). */
#include "hashvec.h"
#include "bm25.h"
#include "tokenize.h"
#include "../core/error.h"

#include <xxhash.h>

#define SEED_TOKEN UINT64_C(0x746f6b)   /* "tok" */
#define SEED_NGRAM UINT64_C(0x6e6772)   /* "ngr" */
/* the per-text feature table: a power of two at least twice RECSYS__HASHVEC_FEATURES */
#define LOCAL_SLOTS 512
_Static_assert(LOCAL_SLOTS >= 2 * RECSYS__HASHVEC_FEATURES, "LOCAL_SLOTS too small");

struct recsys__hashvec {
    const recsys__mem *mem;
    size_t dim;
    double ndocs;
    /* document frequency by feature key: open addressing, linear probing, key 0 = empty */
    uint64_t *key;
    uint32_t *df;
    size_t cap, n; /* cap a power of two, n <= cap / 2 */
};

/* The distinct features of one text and their summed weights (tf), in first-seen order. */
typedef struct feats {
    uint64_t slot_key[LOCAL_SLOTS]; /* 0 = empty */
    uint16_t slot_ix[LOCAL_SLOTS];
    uint64_t key[RECSYS__HASHVEC_FEATURES];
    float tf[RECSYS__HASHVEC_FEATURES];
    bool ngram[RECSYS__HASHVEC_FEATURES];
    uint16_t slot[RECSYS__HASHVEC_FEATURES]; /* where each feature sits in slot_key */
    size_t n;
} feats;

static void feats_init(feats *f)
{
    memset(f->slot_key, 0, sizeof f->slot_key);
    f->n = 0;
}

/* Empties f for the next text (clearing only the slots in use). */
static void feats_reset(feats *f)
{
    for (size_t j = 0; j < f->n; j++)
        f->slot_key[f->slot[j]] = 0;
    f->n = 0;
}

static uint64_t feature_key(const void *p, size_t len, uint64_t seed)
{
    uint64_t k = XXH3_64bits_withSeed(p, len, seed);
    return k ? k : 1; /* 0 marks an empty slot */
}

static void feats_add(feats *f, uint64_t k, float w, bool ngram)
{
    size_t s = (size_t)k & (LOCAL_SLOTS - 1);
    while (f->slot_key[s] && f->slot_key[s] != k)
        s = (s + 1) & (LOCAL_SLOTS - 1);
    if (f->slot_key[s]) {
        f->tf[f->slot_ix[s]] += w;
        return;
    }
    if (f->n == RECSYS__HASHVEC_FEATURES)
        return; /* full: later features are ignored (hashvec.h) */
    f->slot_key[s] = k;
    f->slot_ix[s] = (uint16_t)f->n;
    f->slot[f->n] = (uint16_t)s;
    f->key[f->n] = k;
    f->ngram[f->n] = ngram;
    f->tf[f->n++] = w;
}

/* Adds the tokens of text (and their trigrams) with field weight w. */
static void feats_text(feats *f, const char *text, float w)
{
    recsys__tok t;
    char buf[RECSYS__TOK_MAX];
    char marked[RECSYS__TOK_MAX + 2];
    size_t n;
    recsys__tok_init(&t, text);
    while ((n = recsys__tok_next(&t, buf)) > 0) {
        feats_add(f, feature_key(buf, n, SEED_TOKEN), w, false);
        if (n < RECSYS__HASHVEC_NGRAM_MIN)
            continue;
        marked[0] = '<';
        memcpy(marked + 1, buf, n);
        marked[n + 1] = '>';
        for (size_t i = 0; i + 3 <= n + 2; i++)
            feats_add(f, feature_key(marked + i, 3, SEED_NGRAM), w, true);
    }
}

static void feats_item(feats *f, const recsys_item *it)
{
    feats_text(f, it->title, RECSYS__BM25_W_TITLE);
    for (uint32_t i = 0; i < it->ntags; i++)
        feats_text(f, it->tags[i], RECSYS__BM25_W_TAG);
    feats_text(f, it->category, RECSYS__BM25_W_CATEGORY);
    feats_text(f, it->description, RECSYS__BM25_W_DESCRIPTION);
}

/* ------------------------------------------------------------------ the vocabulary */

static size_t vocab_find(const recsys__hashvec *hv, uint64_t k)
{
    size_t s = (size_t)k & (hv->cap - 1);
    while (hv->key[s] && hv->key[s] != k)
        s = (s + 1) & (hv->cap - 1);
    return s;
}

static recsys_status vocab_grow(recsys__hashvec *hv)
{
    size_t cap = hv->cap ? hv->cap * 2 : 1024;
    uint64_t *key = recsys__calloc(hv->mem, cap, sizeof *key);
    uint32_t *df = key ? recsys__calloc(hv->mem, cap, sizeof *df) : NULL;
    if (!df) {
        recsys__free(hv->mem, key);
        return RECSYS_E_NOMEM;
    }
    uint64_t *okey = hv->key;
    uint32_t *odf = hv->df;
    size_t ocap = hv->cap;
    hv->key = key;
    hv->df = df;
    hv->cap = cap;
    for (size_t i = 0; i < ocap; i++) {
        if (!okey[i])
            continue;
        size_t s = vocab_find(hv, okey[i]);
        key[s] = okey[i];
        df[s] = odf[i];
    }
    recsys__free(hv->mem, okey);
    recsys__free(hv->mem, odf);
    return RECSYS_OK;
}

static recsys_status vocab_count(recsys__hashvec *hv, uint64_t k)
{
    if (hv->n + 1 > hv->cap / 2)
        RECSYS_TRY(vocab_grow(hv));
    size_t s = vocab_find(hv, k);
    if (!hv->key[s]) {
        hv->key[s] = k;
        hv->n++;
    }
    hv->df[s]++;
    return RECSYS_OK;
}

static double idf(const recsys__hashvec *hv, uint64_t k)
{
    double df = 0;
    if (hv->cap) {
        size_t s = vocab_find(hv, k);
        df = hv->key[s] ? hv->df[s] : 0;
    }
    return log(1.0 + (hv->ndocs - df + 0.5) / (df + 0.5));
}

recsys_status recsys__hashvec_build(const recsys__mem *m, const recsys__catalog *c, size_t dim,
                                    recsys__hashvec **out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "hashvec_build: out is NULL");
    *out = NULL;
    if (!m || !c)
        return recsys__err(RECSYS_E_INVALID_ARG, "hashvec_build: allocator or catalog is NULL");
    if (dim == 0 || dim > RECSYS__HASHVEC_DIM_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "hashvec_build: dimension %zu is not in 1..%d",
                           dim, RECSYS__HASHVEC_DIM_MAX);
    recsys__hashvec *hv = recsys__calloc(m, 1, sizeof *hv);
    feats *f = hv ? recsys__alloc(m, sizeof *f) : NULL;
    if (!f) {
        recsys__free(m, hv);
        return RECSYS_E_NOMEM;
    }
    hv->mem = m;
    hv->dim = dim;
    recsys_status st = RECSYS_OK;
    feats_init(f);
    for (uint32_t i = 0; st == RECSYS_OK && i < c->ids.n; i++) {
        const recsys_item *it = recsys__catalog_get(c, i);
        if (!it)
            continue;
        hv->ndocs++;
        feats_reset(f);
        feats_item(f, it);
        for (size_t j = 0; st == RECSYS_OK && j < f->n; j++)
            st = vocab_count(hv, f->key[j]);
    }
    recsys__free(m, f);
    if (st != RECSYS_OK) {
        recsys__hashvec_free(hv);
        return st;
    }
    *out = hv;
    return RECSYS_OK;
}

void recsys__hashvec_free(recsys__hashvec *hv)
{
    if (!hv)
        return;
    recsys__free(hv->mem, hv->key);
    recsys__free(hv->mem, hv->df);
    recsys__free(hv->mem, hv);
}

size_t recsys__hashvec_dim(const recsys__hashvec *hv)
{
    return hv ? hv->dim : 0;
}

size_t recsys__hashvec_nfeatures(const recsys__hashvec *hv)
{
    return hv ? hv->n : 0;
}

/* ------------------------------------------------------------------ vectors */

static bool project(const recsys__hashvec *hv, const feats *f, float *out)
{
    memset(out, 0, hv->dim * sizeof *out);
    double acc[RECSYS__HASHVEC_DIM_MAX];
    memset(acc, 0, hv->dim * sizeof *acc);
    for (size_t j = 0; j < f->n; j++) {
        uint64_t k = f->key[j];
        double w = idf(hv, k) * log1p(f->tf[j]);
        if (f->ngram[j])
            w *= RECSYS__HASHVEC_NGRAM_W;
        acc[k % hv->dim] += (k >> 63) ? -w : w;
    }
    double ss = 0;
    for (size_t d = 0; d < hv->dim; d++)
        ss += acc[d] * acc[d];
    if (!(ss > 0) || !isfinite(ss))
        return false;
    double inv = 1.0 / sqrt(ss);
    for (size_t d = 0; d < hv->dim; d++)
        out[d] = (float)(acc[d] * inv);
    return true;
}

bool recsys__hashvec_item(const recsys__hashvec *hv, const recsys_item *it, float *out)
{
    feats f;
    feats_init(&f);
    feats_item(&f, it);
    return project(hv, &f, out);
}

bool recsys__hashvec_text(const recsys__hashvec *hv, const char *text, float *out)
{
    feats f;
    feats_init(&f);
    feats_text(&f, text, 1.0f);
    return project(hv, &f, out);
}
