/* content.c - the content source: BM25 over the user's profile, or the anchor of a "more
 * like this" request, fused with the cosine of a profile vector and the items' text vectors
 * (see sources.h). Serves cold-start users with stated interests and new items nobody has
 * interacted with yet. The request's typed query is the search source's. */
#include "sources.h"
#include "fuse.h"
#include "vector.h"
#include "../core/error.h"
#include "../core/options.h"
#include "../model/derived.h"
#include "../text/bm25.h"
#include "../text/embed.h"

typedef struct sbuf {
    const recsys__mem *m;
    char *s;
    size_t n, cap;
} sbuf;

/* Appends text, after sep when the buffer is not empty. */
static recsys_status sbuf_add_sep(sbuf *b, const char *text, const char *sep)
{
    size_t l = strlen(text), ls = strlen(sep);
    if (l == 0)
        return RECSYS_OK;
    RECSYS_TRY(RECSYS_GROW(b->m, b->s, b->cap, b->n + l + ls + 1));
    if (b->n) {
        memcpy(b->s + b->n, sep, ls);
        b->n += ls;
    }
    memcpy(b->s + b->n, text, l);
    b->n += l;
    b->s[b->n] = '\0';
    return RECSYS_OK;
}

static recsys_status sbuf_add(sbuf *b, const char *text)
{
    return sbuf_add_sep(b, text, " ");
}

static bool has_u32(const uint32_t *v, size_t n, uint32_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

/* How far back in the history the seed search looks. */
#define SEED_SCAN_MAX 256

/* Picks the seed items and their weights: the most recent history items whose latest
 * event has a positive weight (that weight), then the profile's recent views and purchases
 * (weight 1). */
static size_t pick_seeds(const recsys_query *q, uint32_t seeds[RECSYS__CONTENT_SEED_ITEMS],
                         double weights[RECSYS__CONTENT_SEED_ITEMS])
{
    const recsys__user *u = q->user;
    const recsys__catalog *c = &q->model->catalog;
    uint32_t seen[SEED_SCAN_MAX];
    size_t nseen = 0, nseeds = 0;
    for (size_t k = u->nhist; k > 0 && nseeds < RECSYS__CONTENT_SEED_ITEMS &&
                              nseen < SEED_SCAN_MAX; k--) {
        const recsys__hist *h = &u->hist[k - 1];
        if (h->item == RECSYS_IDS_NONE || has_u32(seen, nseen, h->item))
            continue;
        double w = recsys__event_weight(h->type, h->value);
        if (w == 0)
            continue; /* impressions and searches say nothing about the item */
        seen[nseen++] = h->item; /* its latest meaningful event decides */
        if (w > 0 && recsys__catalog_get(c, h->item)) {
            weights[nseeds] = w;
            seeds[nseeds++] = h->item;
        }
    }
    static const int lists[] = { RECSYS_LIST_RECENT_VIEWS, RECSYS_LIST_PURCHASED };
    for (size_t l = 0; l < RECSYS_ARRAY_LEN(lists); l++) {
        for (uint32_t j = 0; j < u->nlists[lists[l]] && nseeds < RECSYS__CONTENT_SEED_ITEMS;
             j++) {
            uint32_t it = u->lists[lists[l]][j];
            if (!has_u32(seeds, nseeds, it) && !has_u32(seen, nseen, it) &&
                recsys__catalog_get(c, it)) {
                weights[nseeds] = 1;
                seeds[nseeds++] = it;
            }
        }
    }
    return nseeds;
}

/* ------------------------------------------------------------------ the profile vector */

/* v += w x, over dim floats. */
static void axpy(float *v, double w, const float *x, size_t dim)
{
    for (size_t d = 0; d < dim; d++)
        v[d] += (float)(w * x[d]);
}

/* The vector of the user's stated interests (their text joined with ", ") in the space of
 * the content vectors, into out (dim floats, unit): hashed with the state's vocabulary, or
 * the host embedder's vector when the state holds the items' "text" embeddings. false when
 * there is none (no interests, no feature, no embedder). The embedder's failure, or a
 * vector of another dimension, is the source's failure. */
static recsys_status interests_vector(const recsys_query *q, const void *vs,
                                      const recsys__vector_info *vi, const recsys__mem *m,
                                      float *out, bool *ok)
{
    *ok = false;
    const recsys__user *u = q->user;
    if (!u || u->ninterests == 0 || q->anchor != RECSYS_IDS_NONE)
        return RECSYS_OK;
    const recsys__embed_hook *h = &q->model->embed;
    if (!vi->hashed && !h->fn)
        return RECSYS_OK;
    sbuf text = { .m = m };
    recsys_status st = RECSYS_OK;
    for (uint32_t i = 0; i < u->ninterests && st == RECSYS_OK; i++)
        st = sbuf_add_sep(&text, u->interests[i], ", ");
    if (st != RECSYS_OK || !text.s) {
        recsys__free(m, text.s);
        return st;
    }
    if (vi->hashed) {
        *ok = recsys__vector_text_vector(vs, text.s, out);
        recsys__free(m, text.s);
        return RECSYS_OK;
    }
    recsys_vector_sink sink;
    recsys__vector_sink_init(&sink, m);
    bool none = true;
    st = h->fn(h->arg, text.s, text.n, &sink, &none);
    if (st == RECSYS_OK && !none && sink.v) {
        if (sink.dim != vi->dim) {
            st = recsys__err(RECSYS_E_CALLBACK,
                             "the embedder's vector of the user's interests has %zu "
                             "dimensions, the items' \"%s\" embeddings %zu",
                             sink.dim, vi->embedding, vi->dim);
        } else {
            memcpy(out, sink.v, vi->dim * sizeof *out);
            *ok = recsys__vector_unit(out, vi->dim, out);
        }
    }
    recsys__vector_sink_free(&sink);
    recsys__free(m, text.s);
    return st;
}

/* The profile vector p (dim floats, unit): the unit weighted mean of the seeds' vectors
 * plus the unit vector of the interests, made unit. *ok false when neither exists. */
static recsys_status profile_vector(const recsys_query *q, const void *vs,
                                    const recsys__vector_info *vi, const recsys__mem *m,
                                    const uint32_t *seeds, const double *weights,
                                    size_t nseeds, float *p, bool *ok)
{
    *ok = false;
    size_t dim = vi->dim;
    float *tmp = recsys__alloc(m, dim * sizeof *tmp);
    if (!tmp)
        return RECSYS_E_NOMEM;
    memset(p, 0, dim * sizeof *p);
    const recsys__catalog *c = &q->model->catalog;
    bool any = false;
    for (size_t s = 0; s < nseeds; s++)
        if (recsys__vector_item_vector(vs, c, seeds[s], tmp)) {
            axpy(p, weights[s], tmp, dim);
            any = true;
        }
    bool hist = any && recsys__vector_unit(p, dim, p);
    if (!hist)
        memset(p, 0, dim * sizeof *p);
    bool intr = false;
    recsys_status st = interests_vector(q, vs, vi, m, tmp, &intr);
    if (st == RECSYS_OK && intr)
        axpy(p, 1.0, tmp, dim);
    recsys__free(m, tmp);
    if (st == RECSYS_OK)
        *ok = (hist || intr) && recsys__vector_unit(p, dim, p);
    return st;
}

/* ------------------------------------------------------------------ fusion */

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The BM25 hits (already without excluded and seed items, at most depth) fused with the
 * vectors' best depth for p (fuse.h: weight w; hashed vectors lose their collision floor
 * 2 / sqrt(dim)), the best limit of the union emitted. */
static recsys_status fuse_vectors(const recsys_query *q, const recsys__mem *m, const void *vs,
                                  const recsys__vector_info *vi, const float *p, double w,
                                  size_t depth, const uint32_t *items, const float *scores,
                                  size_t n, const uint32_t *seeds, size_t nseeds,
                                  recsys_candidates *out)
{
    uint32_t skip[RECSYS__CONTENT_SEED_ITEMS];
    memcpy(skip, seeds, nseeds * sizeof *skip);
    qsort(skip, nseeds, sizeof *skip, u32_cmp);
    double fl = vi->hashed ? 2 / sqrt((double)vi->dim) : 0;
    recsys__topk vec = { 0 }, top = { 0 };
    recsys_status st = recsys__vector_top(vs, q, m, p, depth, nseeds, skip, nseeds, &vec);
    if (st == RECSYS_OK)
        st = recsys__topk_init(&top, m, RECSYS_MIN(q->limit, n + vec.n));
    if (st == RECSYS_OK)
        st = recsys__fuse_lists(m, items, scores, n, vec.h, vec.n, w, fl, &top);
    if (st == RECSYS_OK)
        st = recsys__cands_reserve(out, out->n + top.n);
    if (st == RECSYS_OK)
        st = recsys__topk_emit(&top, out);
    recsys__topk_free(&vec);
    recsys__topk_free(&top);
    return st;
}

/* ------------------------------------------------------------------ the source */

static recsys_status content_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    RECSYS_UNUSED(ctx);
    if (!q || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "content: query or candidate set is NULL");
    const recsys__bm25 *ix = q->derived ? q->derived->state[RECSYS__DERIVED_BM25] : NULL;
    const void *vs = q->derived ? q->derived->state[RECSYS__DERIVED_CONTENT] : NULL;
    double w = recsys__query_opt(q, RECSYS_OPT_CONTENT_VECTOR_WEIGHT);
    if (w <= 0)
        vs = NULL; /* BM25 alone */
    if ((!ix && !vs) || q->limit == 0)
        return RECSYS_OK;
    const recsys__catalog *c = &q->model->catalog;
    const recsys__mem *m = out->mem ? out->mem : c->mem;
    uint32_t seeds[RECSYS__CONTENT_SEED_ITEMS];
    double weights[RECSYS__CONTENT_SEED_ITEMS];
    size_t nseeds = 0;
    sbuf pseudo = { .m = m };
    recsys_status st = RECSYS_OK;
    const recsys__user *u = q->user;
    if (q->anchor != RECSYS_IDS_NONE) { /* "more like this": the anchor is the query */
        weights[nseeds] = 1;
        seeds[nseeds++] = q->anchor;
    } else if (!u) {
        return RECSYS_OK; /* anonymous or unknown: no profile to search with */
    } else {
        for (uint32_t i = 0; i < u->ninterests && st == RECSYS_OK; i++)
            st = sbuf_add(&pseudo, u->interests[i]);
        nseeds = pick_seeds(q, seeds, weights);
    }
    for (size_t s = 0; s < nseeds && st == RECSYS_OK; s++) {
        const recsys_item *it = recsys__catalog_get(c, seeds[s]);
        st = sbuf_add(&pseudo, it->title);
        for (uint32_t t = 0; t < it->ntags && st == RECSYS_OK; t++)
            st = sbuf_add(&pseudo, it->tags[t]);
    }
    if (st != RECSYS_OK || (!pseudo.s && (!vs || nseeds == 0))) {
        recsys__free(m, pseudo.s);
        return st; /* no text and no seed to take vectors from */
    }
    /* the profile vector first: when there is one, each list brings only its best depth */
    uint32_t *items = NULL;
    float *scores = NULL, *p = NULL;
    size_t n = 0;
    bool fused = false;
    recsys__vector_info vi;
    if (vs && recsys__vector_info_get(vs, &vi) == RECSYS_OK) {
        if (!(p = recsys__alloc(m, vi.dim * sizeof *p)))
            st = RECSYS_E_NOMEM;
        else
            st = profile_vector(q, vs, &vi, m, seeds, weights, nseeds, p, &fused);
    }
    size_t depth = q->limit;
    if (fused)
        depth = RECSYS_MIN(depth, (size_t)recsys__query_opt(q, RECSYS_OPT_CONTENT_FUSE_DEPTH));
    if (st == RECSYS_OK && ix && pseudo.s) { /* room for excluded items and seeds */
        size_t want = depth, extra = q->nexclude + nseeds;
        want = want > SIZE_MAX - extra ? SIZE_MAX : want + extra;
        st = recsys__bm25_search(ix, pseudo.s, want, m, &items, &scores, &n);
    }
    size_t kept = 0; /* the hits without excluded items and seeds, in place */
    for (size_t i = 0; st == RECSYS_OK && i < n && kept < depth; i++) {
        if (recsys__query_excluded(q, items[i]) || has_u32(seeds, nseeds, items[i]))
            continue;
        items[kept] = items[i];
        scores[kept++] = scores[i];
    }
    if (st == RECSYS_OK && fused)
        st = fuse_vectors(q, m, vs, &vi, p, w, depth, items, scores, kept, seeds, nseeds, out);
    else if (st == RECSYS_OK && kept) /* BM25 alone: its raw scores */
        st = recsys__cands_reserve(out, out->n + kept);
    for (size_t i = 0; st == RECSYS_OK && !fused && i < kept; i++)
        st = recsys__cands_add(out, items[i], scores[i]);
    recsys__free(m, items);
    recsys__free(m, scores);
    recsys__free(m, p);
    recsys__free(m, pseudo.s);
    if (st == RECSYS_E_BUDGET) { /* a full list is the normal end */
        recsys__err_clear();
        st = RECSYS_OK;
    }
    return st;
}

recsys_status recsys__source_content(const recsys__mem *m, recsys_source_vtable *out)
{
    RECSYS_UNUSED(m);
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "content: vtable is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->retrieve = content_retrieve;
    return RECSYS_OK;
}
