/* campaign.c - the campaign source: the items of the host's campaigns active at the request's
 * time, scored by their boost (see sources.h). */
#include "sources.h"
#include "topk.h"
#include "../core/error.h"

static int by_item_then_score(const void *a, const void *b)
{
    const recsys__scored *x = a, *y = b;
    if (x->item != y->item)
        return x->item < y->item ? -1 : 1;
    return (x->score < y->score) - (x->score > y->score); /* higher boost first */
}

/* The catalog index of a campaign's item i: resolved when stored, or (for an id unknown
 * when the campaign was loaded) looked up again; RECSYS_IDS_NONE when not live. */
static uint32_t item_at(const recsys__catalog *c, const recsys__campaign *cp, uint32_t i)
{
    uint32_t idx = cp->items[i];
    if (idx == RECSYS_IDS_NONE)
        idx = recsys__catalog_find(c, cp->item_ids[i]);
    return idx != RECSYS_IDS_NONE && recsys__catalog_get(c, idx) ? idx : RECSYS_IDS_NONE;
}

static recsys_status campaign_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    RECSYS_UNUSED(ctx);
    if (!q || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "campaign: query or candidate set is NULL");
    const recsys__campaigns *t = &q->model->campaigns;
    const recsys__catalog *c = &q->model->catalog;
    const recsys__mem *m = out->mem ? out->mem : c->mem;
    if (q->limit == 0 || t->n == 0)
        return RECSYS_OK;
    size_t total = 0;
    for (size_t k = 0; k < t->n; k++)
        if (recsys__campaign_active(t->v[k], q->now))
            total += t->v[k]->nitems;
    if (total == 0)
        return RECSYS_OK;
    /* every (item, boost) of the active campaigns; an item in several keeps its best boost */
    recsys__scored *all = recsys__alloc(m, total * sizeof *all);
    if (!all)
        return RECSYS_E_NOMEM;
    size_t n = 0;
    for (size_t k = 0; k < t->n; k++) {
        const recsys__campaign *cp = t->v[k];
        if (!recsys__campaign_active(cp, q->now))
            continue;
        for (uint32_t i = 0; i < cp->nitems; i++) {
            uint32_t idx = item_at(c, cp, i);
            if (idx != RECSYS_IDS_NONE && !recsys__query_excluded(q, idx))
                all[n++] = (recsys__scored){ idx, cp->boost };
        }
    }
    qsort(all, n, sizeof *all, by_item_then_score);
    recsys__topk top;
    recsys_status st = recsys__topk_init(&top, m, RECSYS_MIN(q->limit, n));
    for (size_t i = 0; st == RECSYS_OK && i < n; i++)
        if (i == 0 || all[i].item != all[i - 1].item)
            recsys__topk_offer(&top, all[i].item, all[i].score);
    if (st == RECSYS_OK)
        st = recsys__topk_emit(&top, out);
    recsys__topk_free(&top);
    recsys__free(m, all);
    return st;
}

recsys_status recsys__source_campaign(const recsys__mem *m, recsys_source_vtable *out)
{
    RECSYS_UNUSED(m);
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "campaign: vtable is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->retrieve = campaign_retrieve;
    return RECSYS_OK;
}
