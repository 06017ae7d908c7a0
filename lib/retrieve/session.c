/* session.c - the session source: the current session's items through the itemknn
 * neighbour lists, with recency decay (see session.h). */
#include "session.h"
#include "item2item.h"
#include "topk.h"
#include "../core/error.h"
#include "../model/derived.h"

/* ------------------------------------------------------------ the session's items */

/* One session event on a live item with a non-zero weight, before merging by item; after
 * merging, one session item: w is then its summed decayed weight, or 0 when a negative event
 * came after its last positive one (it spreads nothing but is still one of the user's). */
typedef struct sess_ev {
    uint32_t item;
    size_t seq; /* position in the history: later events have larger ones */
    double w;   /* decayed weight of a positive event, 0 for a negative one */
    bool neg;
} sess_ev;

static int by_item_seq(const void *a, const void *b)
{
    const sess_ev *x = a, *y = b;
    if (x->item != y->item)
        return x->item < y->item ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* The first history index of u's current session, or SIZE_MAX when the last session ended
 * more than gap seconds before now (or there is no history). As rank/blend.c. */
static size_t session_start(const recsys__user *u, int64_t now, double gap)
{
    if (u->nhist == 0 || (double)(now - u->hist[u->nhist - 1].ts) > gap)
        return SIZE_MAX;
    size_t start = u->nhist - 1;
    while (start > 0 && (double)(u->hist[start].ts - u->hist[start - 1].ts) <= gap)
        start--;
    return start;
}

/* Collects the session's items (ascending, at least one positive event each) into *out,
 * an array from m (NULL when there are none). */
static recsys_status session_items(const recsys__mem *m, const recsys_query *q, size_t start,
                                   double hl, sess_ev **out, size_t *nout)
{
    const recsys__user *u = q->user;
    const recsys__catalog *cat = &q->model->catalog;
    *out = NULL;
    *nout = 0;
    sess_ev *ev = recsys__realloc_array(m, NULL, u->nhist - start, sizeof *ev);
    if (!ev)
        return RECSYS_E_NOMEM;
    size_t n = 0;
    for (size_t k = start; k < u->nhist; k++) {
        const recsys__hist *h = &u->hist[k];
        if (h->item == RECSYS_IDS_NONE || !recsys__catalog_get(cat, h->item))
            continue;
        double w = recsys__event_weight(h->type, h->value);
        if (w == 0 || !isfinite(w))
            continue;
        ev[n].item = h->item;
        ev[n].seq = k;
        ev[n].neg = w < 0;
        ev[n].w = w > 0 ? recsys__decay(w, h->ts, q->now, hl) : 0;
        n++;
    }
    if (n > 1)
        qsort(ev, n, sizeof *ev, by_item_seq);
    /* merge in place (the write position never passes the read position) */
    size_t ni = 0;
    for (size_t i = 0; i < n;) {
        uint32_t item = ev[i].item;
        double w = 0;
        bool pos = false, neg_last = false;
        for (; i < n && ev[i].item == item; i++) {
            if (ev[i].neg) {
                neg_last = pos; /* only a negative after a positive cancels it */
            } else {
                w += ev[i].w;
                pos = true;
                neg_last = false;
            }
        }
        if (!pos)
            continue;
        ev[ni].item = item;
        ev[ni].w = neg_last || !(w > 0) || !isfinite(w) ? 0 : w;
        ni++;
    }
    if (ni == 0) {
        recsys__free(m, ev);
        return RECSYS_OK;
    }
    *out = ev;
    *nout = ni;
    return RECSYS_OK;
}

static bool has_item(const sess_ev *v, size_t n, uint32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].item < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo].item == x;
}

/* ------------------------------------------------------------ score accumulation */

/* An open-addressing map item -> score, grown by the work (never sized by the catalog). */
typedef struct smap {
    const recsys__mem *m;
    uint32_t *keys; /* item + 1; 0 = empty */
    double *vals;
    size_t cap, n;  /* cap: 0 or a power of two, kept at least twice n */
} smap;

static inline size_t smap_hash(uint32_t item, size_t mask)
{
    return (size_t)((item * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & mask;
}

static size_t smap_slot(const smap *s, uint32_t item)
{
    size_t mask = s->cap - 1, i = smap_hash(item, mask);
    while (s->keys[i] && s->keys[i] != item + 1)
        i = (i + 1) & mask;
    return i;
}

/* Makes room for need distinct keys; on failure the map is unchanged. */
static recsys_status smap_reserve(smap *s, size_t need)
{
    if (2 * need <= s->cap)
        return RECSYS_OK;
    size_t cap = s->cap ? s->cap : 16;
    while (cap < 2 * need)
        cap *= 2;
    uint32_t *keys = recsys__calloc(s->m, cap, sizeof *keys);
    double *vals = recsys__realloc_array(s->m, NULL, cap, sizeof *vals);
    if (!keys || !vals) {
        recsys__free(s->m, keys);
        recsys__free(s->m, vals);
        return RECSYS_E_NOMEM;
    }
    smap old = *s;
    s->keys = keys;
    s->vals = vals;
    s->cap = cap;
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i]) {
            size_t j = smap_slot(s, old.keys[i] - 1);
            s->keys[j] = old.keys[i];
            s->vals[j] = old.vals[i];
        }
    recsys__free(s->m, old.keys);
    recsys__free(s->m, old.vals);
    return RECSYS_OK;
}

/* Adds v to item's score (room must have been reserved). */
static void smap_add(smap *s, uint32_t item, double v)
{
    size_t i = smap_slot(s, item);
    if (!s->keys[i]) {
        s->keys[i] = item + 1;
        s->vals[i] = 0;
        s->n++;
    }
    s->vals[i] += v;
}

static void smap_free(smap *s)
{
    recsys__free(s->m, s->keys);
    recsys__free(s->m, s->vals);
    s->keys = NULL;
    s->vals = NULL;
    s->cap = s->n = 0;
}

/* ------------------------------------------------------------ the source */

static recsys_status session_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    RECSYS_UNUSED(ctx);
    if (!q || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "session: query or candidate set is NULL");
    const void *knn = q->derived ? q->derived->state[RECSYS__DERIVED_ITEMKNN] : NULL;
    const recsys__user *u = q->user;
    if (!knn || !u || !q->model || q->limit == 0)
        return RECSYS_OK;
    double gap = recsys__query_opt(q, RECSYS_OPT_SESSION_GAP_S);
    if (!(gap >= 1))
        gap = 1;
    size_t start = session_start(u, q->now, gap);
    if (start == SIZE_MAX)
        return RECSYS_OK;

    const recsys__catalog *cat = &q->model->catalog;
    const recsys__mem *m = out->mem ? out->mem : cat->mem;
    double kopt = recsys__query_opt(q, RECSYS_OPT_ITEMKNN_K);
    size_t k = kopt >= 1 ? (size_t)kopt : 1;
    sess_ev *items = NULL;
    size_t nitems = 0;
    uint32_t *nb = NULL;
    float *sim = NULL;
    smap acc = { .m = m };
    recsys__topk top = { 0 };
    recsys_status st = session_items(m, q, start, gap / 2, &items, &nitems);
    if (st != RECSYS_OK || nitems == 0)
        goto done;
    nb = recsys__realloc_array(m, NULL, k, sizeof *nb);
    sim = recsys__realloc_array(m, NULL, k, sizeof *sim);
    if (!nb || !sim) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    for (size_t s = 0; s < nitems; s++) {
        double w = items[s].w;
        if (!(w > 0))
            continue;
        size_t n = 0;
        if ((st = recsys__itemknn_similar(knn, items[s].item, k, nb, sim, &n)) != RECSYS_OK)
            goto done;
        if (n == 0)
            continue;
        /* neighbours are catalog indices: no more distinct keys than catalog slots */
        if ((st = smap_reserve(&acc, RECSYS_MIN(acc.n + n, cat->ids.n))) != RECSYS_OK)
            goto done;
        for (size_t e = 0; e < n; e++)
            smap_add(&acc, nb[e], w * sim[e]);
    }
    if (acc.n == 0)
        goto done;

    bool skip_seen = recsys__query_opt(q, RECSYS_OPT_FILTER_SEEN) >= 0.5;
    if ((st = recsys__topk_init(&top, m, RECSYS_MIN(q->limit, acc.n))) != RECSYS_OK)
        goto done;
    for (size_t s = 0; s < acc.cap; s++) {
        if (!acc.keys[s])
            continue;
        uint32_t item = acc.keys[s] - 1;
        double v = acc.vals[s];
        if (!(v > 0) || !isfinite(v) || !recsys__catalog_get(cat, item) ||
            recsys__query_excluded(q, item) || (skip_seen && has_item(items, nitems, item)))
            continue;
        recsys__topk_offer(&top, item, v);
    }
    st = recsys__topk_emit(&top, out);
done:
    recsys__free(m, items);
    recsys__free(m, nb);
    recsys__free(m, sim);
    smap_free(&acc);
    recsys__topk_free(&top);
    return st;
}

recsys_status recsys__source_session(const recsys__mem *m, recsys_source_vtable *out)
{
    RECSYS_UNUSED(m);
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "session: vtable is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->retrieve = session_retrieve;
    return RECSYS_OK;
}
