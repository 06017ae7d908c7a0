/* split.c - the per-user temporal leave-last-20%-out split (protocol sections 3 and 4). */
#include "eval.h"
#include "../core/error.h"

void recsys__eval_part_free(const recsys__mem *m, recsys__eval_part *p)
{
    if (!p)
        return;
    recsys__free(m, p->ev);
    recsys__free(m, p->off);
    memset(p, 0, sizeof *p);
}

size_t recsys__eval_part_users(const recsys__eval_part *p)
{
    size_t n = 0;
    for (size_t u = 0; p->off && u < p->nusers; u++)
        n += p->off[u + 1] > p->off[u];
    return n;
}

void recsys__eval_part_mark(const recsys__eval_part *p, uint32_t u, uint8_t *mark, uint8_t v)
{
    if (!p->off || u >= p->nusers)
        return;
    for (size_t i = p->off[u]; i < p->off[u + 1]; i++)
        mark[p->ev[i].item] = v;
}

static recsys_status alloc_part(const recsys__mem *m, recsys__eval_part *p, size_t n,
                                size_t nusers)
{
    p->ev = recsys__calloc(m, n ? n : 1, sizeof *p->ev);
    p->off = recsys__calloc(m, nusers + 1, sizeof *p->off);
    p->nusers = nusers;
    return p->ev && p->off ? RECSYS_OK : RECSYS_E_NOMEM;
}

recsys_status recsys__eval_split(const recsys__mem *m, const recsys__eval_part *in,
                                 recsys__eval_part *head, recsys__eval_part *tail)
{
    if (!head || !tail)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval split: output is NULL");
    memset(head, 0, sizeof *head);
    memset(tail, 0, sizeof *tail);
    if (!m || !in || !in->off)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval split: allocator or input is NULL");
    size_t ntail = 0;
    for (size_t u = 0; u < in->nusers; u++) {
        size_t n = in->off[u + 1] - in->off[u];
        ntail += n >= 5 ? n / 5 : 0;
    }
    recsys_status st = alloc_part(m, head, in->n - ntail, in->nusers);
    if (st == RECSYS_OK)
        st = alloc_part(m, tail, ntail, in->nusers);
    if (st != RECSYS_OK) {
        recsys__eval_part_free(m, head);
        recsys__eval_part_free(m, tail);
        return st;
    }
    for (size_t u = 0; u < in->nusers; u++) {
        size_t lo = in->off[u], n = in->off[u + 1] - lo;
        size_t t = n >= 5 ? n / 5 : 0; /* the input is sorted by (user, timestamp, item) */
        memcpy(head->ev + head->n, in->ev + lo, (n - t) * sizeof *in->ev);
        memcpy(tail->ev + tail->n, in->ev + lo + n - t, t * sizeof *in->ev);
        head->n += n - t;
        tail->n += t;
        head->off[u + 1] = head->n;
        tail->off[u + 1] = tail->n;
    }
    return RECSYS_OK;
}

int recsys__eval_event_cmp_time(const void *a, const void *b)
{
    const recsys__eval_event *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}
