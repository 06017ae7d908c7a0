/* content.c - the content source: BM25 over the user's profile, or the anchor of a "more
 * like this" request (see sources.h). Serves cold-start users with stated interests and new
 * items nobody has interacted with yet. The request's typed query is the search source's. */
#include "sources.h"
#include "../core/error.h"
#include "../model/derived.h"
#include "../text/bm25.h"

typedef struct sbuf {
    const recsys__mem *m;
    char *s;
    size_t n, cap;
} sbuf;

static recsys_status sbuf_add(sbuf *b, const char *text)
{
    size_t l = strlen(text);
    if (l == 0)
        return RECSYS_OK;
    RECSYS_TRY(RECSYS_GROW(b->m, b->s, b->cap, b->n + l + 2));
    if (b->n)
        b->s[b->n++] = ' ';
    memcpy(b->s + b->n, text, l);
    b->n += l;
    b->s[b->n] = '\0';
    return RECSYS_OK;
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

/* Picks the seed items: the most recent history items whose latest event has a positive
 * weight, then the profile's recent views and purchases. */
static size_t pick_seeds(const recsys_query *q, uint32_t seeds[RECSYS__CONTENT_SEED_ITEMS])
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
        if (w > 0 && recsys__catalog_get(c, h->item))
            seeds[nseeds++] = h->item;
    }
    static const int lists[] = { RECSYS_LIST_RECENT_VIEWS, RECSYS_LIST_PURCHASED };
    for (size_t l = 0; l < RECSYS_ARRAY_LEN(lists); l++) {
        for (uint32_t j = 0; j < u->nlists[lists[l]] && nseeds < RECSYS__CONTENT_SEED_ITEMS;
             j++) {
            uint32_t it = u->lists[lists[l]][j];
            if (!has_u32(seeds, nseeds, it) && !has_u32(seen, nseen, it) &&
                recsys__catalog_get(c, it))
                seeds[nseeds++] = it;
        }
    }
    return nseeds;
}

static recsys_status content_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    RECSYS_UNUSED(ctx);
    if (!q || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "content: query or candidate set is NULL");
    const recsys__bm25 *ix = q->derived ? q->derived->state[RECSYS__DERIVED_BM25] : NULL;
    if (!ix || q->limit == 0)
        return RECSYS_OK;
    const recsys__catalog *c = &q->model->catalog;
    const recsys__mem *m = out->mem ? out->mem : c->mem;
    uint32_t seeds[RECSYS__CONTENT_SEED_ITEMS];
    size_t nseeds = 0;
    sbuf pseudo = { .m = m };
    recsys_status st = RECSYS_OK;
    const recsys__user *u = q->user;
    if (q->anchor != RECSYS_IDS_NONE) { /* "more like this": the anchor is the query */
        seeds[nseeds++] = q->anchor;
    } else if (!u) {
        return RECSYS_OK; /* anonymous or unknown: no profile to search with */
    } else {
        for (uint32_t i = 0; i < u->ninterests && st == RECSYS_OK; i++)
            st = sbuf_add(&pseudo, u->interests[i]);
        nseeds = pick_seeds(q, seeds);
    }
    for (size_t s = 0; s < nseeds && st == RECSYS_OK; s++) {
        const recsys_item *it = recsys__catalog_get(c, seeds[s]);
        st = sbuf_add(&pseudo, it->title);
        for (uint32_t t = 0; t < it->ntags && st == RECSYS_OK; t++)
            st = sbuf_add(&pseudo, it->tags[t]);
    }
    if (st != RECSYS_OK || !pseudo.s) {
        recsys__free(m, pseudo.s);
        return st;
    }
    const char *text = pseudo.s;
    uint32_t *items = NULL;
    float *scores = NULL;
    size_t n = 0;
    /* ask for enough to fill the limit after skipping excluded items and seeds */
    size_t want = q->limit, extra = q->nexclude + nseeds;
    want = want > SIZE_MAX - extra ? SIZE_MAX : want + extra;
    st = recsys__bm25_search(ix, text, want, m, &items, &scores, &n);
    size_t added = 0;
    for (size_t i = 0; st == RECSYS_OK && i < n && added < q->limit; i++) {
        if (recsys__query_excluded(q, items[i]) || has_u32(seeds, nseeds, items[i]))
            continue;
        st = recsys__cands_add(out, items[i], scores[i]);
        added++;
    }
    recsys__free(m, items);
    recsys__free(m, scores);
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
