/* blend.c - the blend ranker: source score plus long-term and session affinities
 * (see rankers.h; the affinities themselves are affinity.h's). One allocation per request:
 * the affinities' memory (none for an anonymous user). */
#include "rankers.h"
#include "affinity.h"
#include "../core/error.h"
#include "../core/options.h"

static recsys_status blend_score(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    RECSYS_UNUSED(ctx);
    if (!q || !c)
        return recsys__err(RECSYS_E_INVALID_ARG, "blend: query or candidate set is NULL");
    const recsys__user *u = q->user;
    if (!u || c->n == 0)
        return RECSYS_OK; /* anonymous: the merged source score stands */
    const recsys__mem *m = c->mem ? c->mem : q->model->mem;
    double w_src = recsys__query_opt(q, RECSYS_OPT_RANK_W_SOURCE);
    double w_cat = recsys__query_opt(q, RECSYS_OPT_RANK_W_CATEGORY);
    double w_tag = recsys__query_opt(q, RECSYS_OPT_RANK_W_TAG);
    double w_ses = recsys__query_opt(q, RECSYS_OPT_RANK_W_SESSION);
    size_t bytes = recsys__affinity_bytes(q);
    void *buf = NULL;
    if (bytes) {
        buf = recsys__alloc(m, bytes);
        if (!buf)
            return RECSYS_E_NOMEM;
    }
    recsys__affinity aff;
    recsys_status st = recsys__affinity_build(&aff, q, buf, bytes);
    const recsys__catalog *cat = &q->model->catalog;
    for (size_t i = 0; i < c->n && st == RECSYS_OK; i++) {
        /* a large catalog is mostly cache misses here: fetch ahead in three steps (the slot,
         * then the item, then its tag facets), so that candidates' misses overlap */
        if (i + 12 < c->n && c->v[i + 12].item < cat->ids.n)
            __builtin_prefetch(&cat->items[c->v[i + 12].item]);
        const recsys_item *ahead = i + 6 < c->n ? recsys__catalog_get(cat, c->v[i + 6].item) : NULL;
        if (ahead) {
            __builtin_prefetch(&ahead->category_facet);
            __builtin_prefetch(&ahead->tag_facets);
        }
        ahead = i + 3 < c->n ? recsys__catalog_get(cat, c->v[i + 3].item) : NULL;
        if (ahead && ahead->tag_facets)
            __builtin_prefetch(ahead->tag_facets);
        const recsys_item *it = recsys__catalog_get(cat, c->v[i].item);
        if (!it)
            continue;
        recsys__item_aff l = recsys__affinity_long(&aff, it);
        recsys__item_aff s = recsys__affinity_session(&aff, it);
        double score = w_src * recsys_candidates_score(c, i) + w_cat * l.category +
                       w_tag * l.tag + w_ses * 0.5 * (s.category + s.tag);
        st = recsys_candidates_set_score(c, i, score);
    }
    recsys__free(m, buf);
    return st;
}

recsys_status recsys__ranker_blend(const recsys__mem *m, recsys_ranker_vtable *out)
{
    RECSYS_UNUSED(m);
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "blend: vtable is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->score = blend_score;
    return RECSYS_OK;
}
