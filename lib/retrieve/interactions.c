/* interactions.c - the positive user x item matrix (see interactions.h). */
#include "interactions.h"
#include "../core/error.h"

typedef struct cell {
    uint32_t item;
    float w;
    int64_t pos_ts; /* last positive event */
    int64_t neg_ts; /* last negative event */
} cell;

static int by_item(const void *a, const void *b)
{
    const cell *x = a, *y = b;
    return x->item < y->item ? -1 : x->item > y->item;
}

/* Collapses u's history and profile lists into cells sorted by item, keeping positives. */
static size_t user_cells(const recsys__model *model, const recsys__user *u, cell *buf)
{
    const recsys__catalog *c = &model->catalog;
    size_t n = 0;
    for (size_t k = 0; k < u->nhist; k++) {
        const recsys__hist *h = &u->hist[k];
        if (h->item == RECSYS_IDS_NONE || !recsys__catalog_get(c, h->item))
            continue;
        double w = recsys__event_weight(h->type, h->value);
        if (w == 0)
            continue;
        buf[n].item = h->item;
        buf[n].w = w > 0 ? (float)w : 0.0f;
        buf[n].pos_ts = w > 0 ? h->ts : INT64_MIN;
        buf[n].neg_ts = w < 0 ? h->ts : INT64_MIN;
        n++;
    }
    static const int32_t list_type[4] = { 0, RECSYS_EVENT_VIEW, RECSYS_EVENT_PURCHASE,
                                          RECSYS_EVENT_DISLIKE };
    for (int l = 1; l <= 3; l++)
        for (uint32_t j = 0; j < u->nlists[l]; j++) {
            uint32_t it = u->lists[l][j];
            if (!recsys__catalog_get(c, it))
                continue;
            double w = recsys__event_weight(list_type[l], 0);
            buf[n].item = it;
            buf[n].w = w > 0 ? (float)w : 0.0f;
            /* profile lists have no time: a negative list entry outweighs any event */
            buf[n].pos_ts = w > 0 ? INT64_MIN + 1 : INT64_MIN;
            buf[n].neg_ts = w < 0 ? INT64_MAX : INT64_MIN;
            n++;
        }
    if (!n)
        return 0;
    qsort(buf, n, sizeof *buf, by_item);
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        cell acc = buf[i++];
        while (i < n && buf[i].item == acc.item) {
            acc.w += buf[i].w;
            if (buf[i].pos_ts > acc.pos_ts)
                acc.pos_ts = buf[i].pos_ts;
            if (buf[i].neg_ts > acc.neg_ts)
                acc.neg_ts = buf[i].neg_ts;
            i++;
        }
        if (acc.w > 0 && acc.neg_ts < acc.pos_ts)
            buf[w++] = acc;
    }
    return w;
}

static size_t cells_bound(const recsys__user *u)
{
    return u->nhist + u->nlists[1] + u->nlists[2] + u->nlists[3];
}

recsys_status recsys__interactions_build(const recsys__mem *m, const recsys__model *model,
                                         recsys__interactions *x)
{
    memset(x, 0, sizeof *x);
    const recsys__users *us = &model->users;
    x->nusers = us->ids.n;
    x->nitems = model->catalog.ids.n;
    size_t bound = 0, maxrow = 0;
    for (size_t u = 0; u < x->nusers; u++)
        if (us->users[u]) {
            size_t b = cells_bound(us->users[u]);
            bound += b;
            maxrow = b > maxrow ? b : maxrow;
        }
    cell *buf = recsys__alloc(m, (maxrow ? maxrow : 1) * sizeof *buf);
    x->row_ptr = recsys__calloc(m, x->nusers + 1, sizeof *x->row_ptr);
    x->col = recsys__alloc(m, (bound ? bound : 1) * sizeof *x->col);
    x->val = recsys__alloc(m, (bound ? bound : 1) * sizeof *x->val);
    x->col_ptr = recsys__calloc(m, x->nitems + 1, sizeof *x->col_ptr);
    if (!buf || !x->row_ptr || !x->col || !x->val || !x->col_ptr)
        goto nomem;
    size_t nnz = 0;
    for (size_t u = 0; u < x->nusers; u++) {
        x->row_ptr[u] = nnz;
        if (!us->users[u])
            continue;
        size_t n = user_cells(model, us->users[u], buf);
        for (size_t k = 0; k < n; k++) {
            x->col[nnz] = buf[k].item;
            x->val[nnz] = buf[k].w;
            x->col_ptr[buf[k].item + 1]++;
            nnz++;
        }
    }
    x->row_ptr[x->nusers] = nnz;
    x->nnz = nnz;
    /* the transpose: counts -> offsets, then fill (rows come out ascending) */
    for (size_t i = 0; i < x->nitems; i++)
        x->col_ptr[i + 1] += x->col_ptr[i];
    x->row = recsys__alloc(m, (nnz ? nnz : 1) * sizeof *x->row);
    x->tval = recsys__alloc(m, (nnz ? nnz : 1) * sizeof *x->tval);
    size_t *fill = recsys__alloc(m, (x->nitems ? x->nitems : 1) * sizeof *fill);
    if (!x->row || !x->tval || !fill) {
        recsys__free(m, fill);
        goto nomem;
    }
    if (x->nitems)
        memcpy(fill, x->col_ptr, x->nitems * sizeof *fill);
    for (size_t u = 0; u < x->nusers; u++)
        for (size_t k = x->row_ptr[u]; k < x->row_ptr[u + 1]; k++) {
            size_t at = fill[x->col[k]]++;
            x->row[at] = (uint32_t)u;
            x->tval[at] = x->val[k];
        }
    recsys__free(m, fill);
    recsys__free(m, buf);
    return RECSYS_OK;
nomem:
    recsys__free(m, buf);
    recsys__interactions_free(m, x);
    return RECSYS_E_NOMEM;
}

void recsys__interactions_free(const recsys__mem *m, recsys__interactions *x)
{
    recsys__free(m, x->row_ptr);
    recsys__free(m, x->col);
    recsys__free(m, x->val);
    recsys__free(m, x->col_ptr);
    recsys__free(m, x->row);
    recsys__free(m, x->tval);
    memset(x, 0, sizeof *x);
}

recsys_status recsys__user_positives(const recsys__mem *m, const recsys__model *model,
                                     const recsys__user *u, uint32_t **items, float **weights,
                                     size_t *n)
{
    *items = NULL;
    *weights = NULL;
    *n = 0;
    if (!u)
        return RECSYS_OK;
    size_t b = cells_bound(u);
    cell *buf = recsys__alloc(m, (b ? b : 1) * sizeof *buf);
    if (!buf)
        return RECSYS_E_NOMEM;
    size_t k = user_cells(model, u, buf);
    uint32_t *it = recsys__alloc(m, (k ? k : 1) * sizeof *it);
    float *w = it ? recsys__alloc(m, (k ? k : 1) * sizeof *w) : NULL;
    if (!w) {
        recsys__free(m, it);
        recsys__free(m, buf);
        return RECSYS_E_NOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        it[i] = buf[i].item;
        w[i] = buf[i].w;
    }
    recsys__free(m, buf);
    *items = it;
    *weights = w;
    *n = k;
    return RECSYS_OK;
}

recsys_status recsys__query_positives(const recsys__mem *m, const recsys_query *q,
                                      uint32_t **items, float **weights, size_t *n)
{
    if (q->anchor == RECSYS_IDS_NONE)
        return recsys__user_positives(m, q->model, q->user, items, weights, n);
    *items = recsys__alloc(m, sizeof **items);
    *weights = *items ? recsys__alloc(m, sizeof **weights) : NULL;
    if (!*weights) {
        recsys__free(m, *items);
        *items = NULL;
        *n = 0;
        return RECSYS_E_NOMEM;
    }
    (*items)[0] = q->anchor;
    (*weights)[0] = 1.0f;
    *n = 1;
    return RECSYS_OK;
}
