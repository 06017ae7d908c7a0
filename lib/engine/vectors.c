/* vectors.c - the item and user vectors a request's stages compare items with (the item_vec,
 * vec_dim and user_vec members of struct recsys_query, lib/model/model.h), taken from the
 * request's derived set so that every stage of one request sees one space:
 *
 *   - the iALS item factors when the set holds an iALS state (the "ials" source is on); the
 *     user's vector is their trained factor when they were trained and it is not all zero,
 *     else the fold-in of their current positives (recsys__query_positives) with the state's
 *     alpha (RECSYS_OPT_IALS_ALPHA for an imported state);
 *   - else the items' "default" embeddings of the dimension the vector index was built with
 *     (the "vector" source is on and indexes embeddings); the user's vector is the mean of
 *     their positives' embeddings of that dimension;
 *   - else nothing (vec_dim 0).
 * An item without a vector (no factor, a zero factor row, no or another-sized embedding, a
 * removed item) gives NULL. A "more like this" request's positives are its anchor, so the
 * user vector then points at the anchor. The item space costs nothing per request; the user
 * vector is computed only for stages that read it (the feature vector of the learned
 * rankers): a pointer for a trained iALS user, else a fold-in (one k x k solve) or a mean over
 * the user's positives.
 *
 * The collaborative similarity (item_sim, sim_ctx), from the same derived set: when it holds
 * an itemknn state (the "itemknn" or "session" source is on), the cosine of two items' user
 * sets as the neighbour lists keep it (recsys__itemknn_cosine: unshrunk, the same measure as
 * the intra-list diversity metric of lib/eval), NaN with the bound the lists prove for a pair
 * they do not hold; else NULL. The diversifier reads it before the vectors. O(k) per pair,
 * nothing per request; item_sim_pool gathers the same for the pairs of one set of items
 * (recsys__itemknn_pool), for the diversifier's thousands of pairs per request. */
#include "engine.h"
#include "../retrieve/ials.h"
#include "../retrieve/interactions.h"
#include "../retrieve/item2item.h"
#include "../retrieve/vector.h"

static const float *ials_vec(const recsys_query *q, uint32_t item)
{
    const float *f;
    size_t n, k;
    if (recsys__ials_item_factors(q->vec_ctx, &f, &n, &k) != RECSYS_OK || item >= n)
        return NULL;
    const float *row = f + (size_t)item * k;
    for (size_t d = 0; d < k; d++)
        if (row[d] != 0)
            return row;
    return NULL; /* an item iALS never saw */
}

static const float *emb_vec(const recsys_query *q, uint32_t item)
{
    const recsys_item *it = recsys__catalog_get(&q->model->catalog, item);
    const recsys__embedding *e = it ? recsys__item_embedding(it, "default") : NULL;
    return e && e->dim == q->vec_dim ? e->v : NULL;
}

static bool finite_nonzero(const float *v, size_t k)
{
    bool any = false;
    for (size_t d = 0; d < k; d++) {
        if (!isfinite(v[d]))
            return false;
        any |= v[d] != 0;
    }
    return any;
}

static double knn_sim(const recsys_query *q, uint32_t a, uint32_t b, double *cap)
{
    return recsys__itemknn_cosine(q->sim_ctx, a, b, cap);
}

static recsys_status knn_sim_pool(const recsys_query *q, const uint32_t *items, size_t n,
                                  const recsys__mem *m, recsys__simpool **out)
{
    return recsys__itemknn_pool(q->sim_ctx, m, items, n, out);
}

void recsys__engine_query_vectors(recsys_query *q)
{
    const recsys__derived *d = q->derived;
    if (d && d->state[RECSYS__DERIVED_ITEMKNN]) {
        q->item_sim = knn_sim;
        q->item_sim_pool = knn_sim_pool;
        q->sim_ctx = d->state[RECSYS__DERIVED_ITEMKNN];
    }
    const void *is = d ? d->state[RECSYS__DERIVED_IALS] : NULL;
    const void *vs = d ? d->state[RECSYS__DERIVED_VECTOR] : NULL;
    const float *f;
    size_t n, k = 0;
    recsys__vector_info vi;
    if (is && recsys__ials_item_factors(is, &f, &n, &k) == RECSYS_OK && k > 0) {
        q->item_vec = ials_vec;
        q->vec_ctx = is;
    } else if (vs && recsys__vector_info_get(vs, &vi) == RECSYS_OK && !vi.ials && vi.dim > 0) {
        q->item_vec = emb_vec;
        k = vi.dim;
    } else {
        return;
    }
    q->vec_dim = k;
}

recsys_status recsys__engine_query_user_vector(recsys_engine *e, recsys_query *q, float **owned)
{
    *owned = NULL;
    size_t k = q->vec_dim;
    const void *is = q->item_vec == ials_vec ? q->vec_ctx : NULL;
    if (!q->item_vec || q->user_vec)
        return RECSYS_OK;
    if (is && q->user && q->anchor == RECSYS_IDS_NONE) {
        const float *u;
        size_t nu, ku;
        if (recsys__ials_user_factors(is, &u, &nu, &ku) == RECSYS_OK && u && ku == k &&
            q->user->idx < nu && finite_nonzero(u + (size_t)q->user->idx * k, k)) {
            q->user_vec = u + (size_t)q->user->idx * k;
            return RECSYS_OK;
        }
    }
    uint32_t *items = NULL;
    float *w = NULL;
    size_t np = 0;
    RECSYS_TRY(recsys__query_positives(&e->mem, q, &items, &w, &np));
    recsys_status st = RECSYS_OK;
    float *uv = np ? recsys__calloc(&e->mem, k, sizeof *uv) : NULL;
    if (np && !uv)
        st = RECSYS_E_NOMEM;
    size_t used = 0;
    if (uv && q->item_vec == ials_vec) {
        const float *u;
        size_t nu, ku;
        st = recsys__ials_user_factors(is, &u, &nu, &ku);
        double alpha = (st == RECSYS_OK && u) ? -1.0 : recsys__query_opt(q, RECSYS_OPT_IALS_ALPHA);
        if (st == RECSYS_OK)
            st = recsys__ials_fold_in(is, &e->mem, items, w, np, alpha, uv, &used);
    } else if (uv) {
        for (size_t j = 0; j < np; j++) {
            const float *v = emb_vec(q, items[j]);
            if (!v || !finite_nonzero(v, k))
                continue;
            for (size_t t = 0; t < k; t++)
                uv[t] += v[t];
            used++;
        }
        for (size_t t = 0; used && t < k; t++)
            uv[t] /= (float)used;
    }
    recsys__free(&e->mem, items);
    recsys__free(&e->mem, w);
    if (st == RECSYS_OK && uv && used && finite_nonzero(uv, k)) {
        q->user_vec = uv;
        *owned = uv;
        return RECSYS_OK;
    }
    recsys__free(&e->mem, uv);
    return st;
}
