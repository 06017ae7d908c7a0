/* search.c - the search source: the request's query text through BM25 and, when the host
 * registered an embedder, the embedder's vector of the text against the items' "text"
 * embeddings (see sources.h). */
#include "sources.h"
#include "fuse.h"
#include "topk.h"
#include "../core/error.h"
#include "../model/derived.h"
#include "../text/bm25.h"
#include "../text/embed.h"
#include "../text/tokenize.h"

/* True when text has at least one searchable word (not only spaces or stopwords). */
static bool has_words(const char *text)
{
    if (!text || !*text)
        return false;
    recsys__tok t;
    char w[RECSYS__TOK_MAX];
    recsys__tok_init(&t, text);
    return recsys__tok_next(&t, w) > 0;
}

/* True when some live item has a text embedding (else the embedder is not worth a call). */
static bool any_text_embedding(const recsys__catalog *c)
{
    for (uint32_t idx = 0; idx < c->ids.n; idx++) {
        const recsys_item *it = recsys__catalog_get(c, idx);
        if (it && recsys__item_embedding(it, RECSYS__SEARCH_EMBEDDING))
            return true;
    }
    return false;
}

/* The BM25 hits alone, best first, with their raw scores. */
static recsys_status emit_bm25(const recsys_query *q, const uint32_t *items, const float *scores,
                               size_t n, recsys_candidates *out)
{
    recsys_status st = RECSYS_OK;
    size_t added = 0;
    for (size_t i = 0; st == RECSYS_OK && i < n && added < q->limit; i++) {
        if (recsys__query_excluded(q, items[i]))
            continue;
        st = recsys__cands_add(out, items[i], scores[i]);
        added++;
    }
    return st;
}

/* BM25 (relative to the best hit) plus the positive cosine of the query vector v with each
 * item's text embedding of the same dimension (fuse.h, weight 1): the best limit of every
 * item, best first. */
static recsys_status fuse(const recsys_query *q, const recsys__mem *m, const uint32_t *items,
                          const float *scores, size_t n, const float *v, size_t dim,
                          recsys_candidates *out)
{
    const recsys__catalog *c = &q->model->catalog;
    double qn = 0;
    for (size_t d = 0; d < dim; d++)
        qn += (double)v[d] * v[d];
    qn = sqrt(qn);
    recsys__fuse bm;
    RECSYS_TRY(recsys__fuse_init(&bm, m, items, scores, n));
    recsys__topk top;
    recsys_status st = recsys__topk_init(&top, m, RECSYS_MIN(q->limit, c->ids.n));
    size_t j = 0;
    for (uint32_t idx = 0; st == RECSYS_OK && idx < c->ids.n; idx++) {
        double s = recsys__fuse_bm25_walk(&bm, &j, idx);
        const recsys_item *it = recsys__catalog_get(c, idx);
        if (!it || recsys__query_excluded(q, idx))
            continue;
        const recsys__embedding *e = recsys__item_embedding(it, RECSYS__SEARCH_EMBEDDING);
        if (e && e->dim == dim && qn > 0) {
            double dot = 0, en = 0;
            for (size_t d = 0; d < dim; d++) {
                dot += (double)v[d] * e->v[d];
                en += (double)e->v[d] * e->v[d];
            }
            s = recsys__fuse_score(s, en > 0 ? dot / (qn * sqrt(en)) : 0, 1.0);
        }
        if (s > 0)
            recsys__topk_offer(&top, idx, s);
    }
    if (st == RECSYS_OK)
        st = recsys__topk_emit(&top, out);
    recsys__topk_free(&top);
    recsys__fuse_free(&bm);
    return st;
}

static recsys_status search_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    RECSYS_UNUSED(ctx);
    if (!q || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "search: query or candidate set is NULL");
    if (q->limit == 0 || !has_words(q->text))
        return RECSYS_OK; /* no typed query: nothing to search for */
    const recsys__catalog *c = &q->model->catalog;
    const recsys__mem *m = out->mem ? out->mem : c->mem;
    const recsys__bm25 *ix = q->derived ? q->derived->state[RECSYS__DERIVED_BM25] : NULL;
    uint32_t *items = NULL;
    float *scores = NULL;
    size_t n = 0;
    recsys_status st = RECSYS_OK;
    if (ix) { /* ask for enough to fill the limit after skipping excluded items */
        size_t want = q->limit;
        want = want > SIZE_MAX - q->nexclude ? SIZE_MAX : want + q->nexclude;
        st = recsys__bm25_search(ix, q->text, want, m, &items, &scores, &n);
    }
    recsys_vector_sink sink;
    recsys__vector_sink_init(&sink, m);
    bool none = true;
    const recsys__embed_hook *h = &q->model->embed;
    if (st == RECSYS_OK && h->fn && any_text_embedding(c))
        st = h->fn(h->arg, q->text, strlen(q->text), &sink, &none);
    if (st == RECSYS_OK) {
        if (!none && sink.v)
            st = fuse(q, m, items, scores, n, sink.v, sink.dim, out);
        else
            st = emit_bm25(q, items, scores, n, out);
    }
    recsys__vector_sink_free(&sink);
    recsys__free(m, items);
    recsys__free(m, scores);
    if (st == RECSYS_E_BUDGET) { /* a full list is the normal end */
        recsys__err_clear();
        st = RECSYS_OK;
    }
    return st;
}

recsys_status recsys__source_search(const recsys__mem *m, recsys_source_vtable *out)
{
    RECSYS_UNUSED(m);
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "search: vtable is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->retrieve = search_retrieve;
    return RECSYS_OK;
}
