/* builtin.c - the built-in filters (see filters.h). */
#include "filters.h"
#include "rules.h"
#include "../core/error.h"
#include "../core/options.h"
#include "../text/tokenize.h"

static const recsys_item *cand_item(const recsys_candidates *c, size_t i)
{
    return recsys__catalog_get(&c->q->model->catalog, c->v[i].item);
}

static recsys_status drop(recsys_candidates *c, size_t i, const char *reason)
{
    if (c->v[i].dropped)
        return RECSYS_OK; /* keep the first reason */
    return recsys_candidates_drop(c, i, reason);
}

static recsys_status check_args(const recsys_query *q, const recsys_candidates *c)
{
    if (!q || !c)
        return recsys__err(RECSYS_E_INVALID_ARG, "filter: query or candidate set is NULL");
    return RECSYS_OK;
}

/* ------------------------------------------------------------ availability */

static recsys_status availability_apply(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    RECSYS_UNUSED(ctx);
    RECSYS_TRY(check_args(q, c));
    for (size_t i = 0; i < c->n; i++) {
        const recsys_item *it = cand_item(c, i);
        if (!it)
            RECSYS_TRY(drop(c, i, "removed"));
        else if (!it->available)
            RECSYS_TRY(drop(c, i, "unavailable"));
    }
    return RECSYS_OK;
}

/* ------------------------------------------------------------ age */

static recsys_status age_apply(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    RECSYS_UNUSED(ctx);
    RECSYS_TRY(check_args(q, c));
    int age = q->user ? q->user->age : -1;
    for (size_t i = 0; i < c->n; i++) {
        const recsys_item *it = cand_item(c, i);
        if (it && it->min_age > 0 && (age < 0 || age < it->min_age))
            RECSYS_TRY(drop(c, i, "age"));
    }
    return RECSYS_OK;
}

/* ------------------------------------------------------------ region */

static recsys_status region_apply(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    RECSYS_UNUSED(ctx);
    RECSYS_TRY(check_args(q, c));
    const char *region = (q->user && q->user->region && *q->user->region) ? q->user->region
                                                                          : NULL;
    for (size_t i = 0; i < c->n; i++) {
        const recsys_item *it = cand_item(c, i);
        if (!it || it->nregions == 0)
            continue;
        bool ok = false;
        for (uint32_t r = 0; region && r < it->nregions && !ok; r++)
            ok = recsys__text_ieq(it->regions[r], region);
        if (!ok)
            RECSYS_TRY(drop(c, i, "region"));
    }
    return RECSYS_OK;
}

/* ------------------------------------------------------------ sorted item sets */

typedef struct idxset {
    uint32_t *v;
    size_t n, cap;
} idxset;

static recsys_status set_add(const recsys__mem *m, idxset *s, uint32_t x)
{
    RECSYS_TRY(RECSYS_GROW(m, s->v, s->cap, s->n + 1));
    s->v[s->n++] = x;
    return RECSYS_OK;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void set_sort(idxset *s)
{
    if (s->n > 1)
        qsort(s->v, s->n, sizeof *s->v, cmp_u32);
}

static bool set_has(const idxset *s, uint32_t x)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->v[lo] == x;
}

static const recsys__mem *mem_of(const recsys_query *q, const recsys_candidates *c)
{
    return c->mem ? c->mem : q->model->mem;
}

/* ------------------------------------------------------------ seen / purchased */

static recsys_status seen_apply(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    RECSYS_UNUSED(ctx);
    RECSYS_TRY(check_args(q, c));
    const recsys__user *u = q->user;
    if (!u || c->n == 0)
        return RECSYS_OK;
    const recsys__mem *m = mem_of(q, c);
    bool filter_seen = recsys__query_opt(q, RECSYS_OPT_FILTER_SEEN) >= 0.5;
    idxset bought = { 0 }, seen = { 0 };
    recsys_status st = RECSYS_OK;
    for (size_t k = 0; k < u->nhist && st == RECSYS_OK; k++) {
        const recsys__hist *h = &u->hist[k];
        if (h->item == RECSYS_IDS_NONE)
            continue;
        if (h->type == RECSYS_EVENT_PURCHASE)
            st = set_add(m, &bought, h->item);
        else if (filter_seen && recsys__event_consumes(h->type))
            st = set_add(m, &seen, h->item);
    }
    for (uint32_t j = 0; j < u->nlists[RECSYS_LIST_PURCHASED] && st == RECSYS_OK; j++)
        st = set_add(m, &bought, u->lists[RECSYS_LIST_PURCHASED][j]);
    for (uint32_t j = 0; filter_seen && j < u->nlists[RECSYS_LIST_RECENT_VIEWS] &&
                         st == RECSYS_OK; j++)
        st = set_add(m, &seen, u->lists[RECSYS_LIST_RECENT_VIEWS][j]);
    if (st == RECSYS_OK) {
        set_sort(&bought);
        set_sort(&seen);
        for (size_t i = 0; i < c->n && st == RECSYS_OK; i++) {
            if (set_has(&bought, c->v[i].item))
                st = drop(c, i, "purchased");
            else if (set_has(&seen, c->v[i].item))
                st = drop(c, i, "seen");
        }
    }
    recsys__free(m, bought.v);
    recsys__free(m, seen.v);
    return st;
}

/* ------------------------------------------------------------ negative feedback */

typedef struct opinion {
    uint32_t item;
    uint32_t order; /* position in the history: later wins */
    bool dislike;
} opinion;

static int cmp_opinion(const void *a, const void *b)
{
    const opinion *x = a, *y = b;
    if (x->item != y->item)
        return x->item < y->item ? -1 : 1;
    return (x->order < y->order) - (x->order > y->order); /* latest first */
}

static recsys_status negative_apply(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    RECSYS_UNUSED(ctx);
    RECSYS_TRY(check_args(q, c));
    const recsys__user *u = q->user;
    if (!u || c->n == 0)
        return RECSYS_OK;
    const recsys__mem *m = mem_of(q, c);
    opinion *ops = NULL;
    size_t nops = 0, capops = 0;
    idxset neg = { 0 };
    recsys_status st = RECSYS_OK;
    for (size_t k = 0; k < u->nhist && st == RECSYS_OK; k++) {
        const recsys__hist *h = &u->hist[k];
        if (h->item == RECSYS_IDS_NONE ||
            (h->type != RECSYS_EVENT_LIKE && h->type != RECSYS_EVENT_DISLIKE))
            continue;
        st = RECSYS_GROW(m, ops, capops, nops + 1);
        if (st == RECSYS_OK)
            ops[nops++] = (opinion){ h->item, (uint32_t)k, h->type == RECSYS_EVENT_DISLIKE };
    }
    if (st == RECSYS_OK && nops > 1)
        qsort(ops, nops, sizeof *ops, cmp_opinion);
    for (size_t k = 0; k < nops && st == RECSYS_OK; k++)
        if ((k == 0 || ops[k].item != ops[k - 1].item) && ops[k].dislike)
            st = set_add(m, &neg, ops[k].item);
    for (uint32_t j = 0; j < u->nlists[RECSYS_LIST_NEGATIVE] && st == RECSYS_OK; j++)
        st = set_add(m, &neg, u->lists[RECSYS_LIST_NEGATIVE][j]);
    if (st == RECSYS_OK) {
        set_sort(&neg);
        for (size_t i = 0; i < c->n && st == RECSYS_OK; i++)
            if (set_has(&neg, c->v[i].item))
                st = drop(c, i, "negative");
    }
    recsys__free(m, ops);
    recsys__free(m, neg.v);
    return st;
}

/* ------------------------------------------------------------ exclude */

static recsys_status exclude_apply(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    RECSYS_UNUSED(ctx);
    RECSYS_TRY(check_args(q, c));
    if (q->nexclude == 0 && !q->include)
        return RECSYS_OK;
    for (size_t i = 0; i < c->n; i++) {
        if (recsys__query_excluded(q, c->v[i].item))
            RECSYS_TRY(drop(c, i, "excluded"));
        else if (!recsys__query_included(q, c->v[i].item))
            RECSYS_TRY(drop(c, i, "not included"));
    }
    return RECSYS_OK;
}

/* ------------------------------------------------------------ shown */

static recsys_status shown_apply(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    RECSYS_UNUSED(ctx);
    RECSYS_TRY(check_args(q, c));
    double window = recsys__query_opt(q, RECSYS_OPT_FILTER_SHOWN_WINDOW_S);
    if (window <= 0 || !q->user)
        return RECSYS_OK;
    uint32_t shown[RECSYS__SHOWN_MAX];
    size_t n = recsys__shown_since((recsys__shown *)&q->model->shown, q->user->idx,
                                   q->now - (int64_t)window, shown);
    for (size_t i = 0; n && i < c->n; i++)
        if (recsys__sorted_has(shown, n, c->v[i].item))
            RECSYS_TRY(drop(c, i, "shown recently"));
    return RECSYS_OK;
}

/* ------------------------------------------------------------ rules */

static recsys_status rules_apply(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    RECSYS_UNUSED(ctx);
    RECSYS_TRY(check_args(q, c));
    if (!q->nrules)
        return RECSYS_OK;
    recsys__expr_ctx x;
    recsys__expr_ctx_of_query(q, &x);
    return recsys__rules_drop(q->rules, q->nrules, &x, c);
}

/* ------------------------------------------------------------ constructors */

typedef recsys_status (*apply_fn)(void *, const recsys_query *, recsys_candidates *);

static recsys_status fill(const recsys__mem *m, recsys_filter_vtable *out, apply_fn fn)
{
    RECSYS_UNUSED(m);
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "filter: vtable is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->apply = fn;
    return RECSYS_OK;
}

recsys_status recsys__filter_availability(const recsys__mem *m, recsys_filter_vtable *out)
{
    return fill(m, out, availability_apply);
}

recsys_status recsys__filter_age(const recsys__mem *m, recsys_filter_vtable *out)
{
    return fill(m, out, age_apply);
}

recsys_status recsys__filter_region(const recsys__mem *m, recsys_filter_vtable *out)
{
    return fill(m, out, region_apply);
}

recsys_status recsys__filter_seen(const recsys__mem *m, recsys_filter_vtable *out)
{
    return fill(m, out, seen_apply);
}

recsys_status recsys__filter_negative(const recsys__mem *m, recsys_filter_vtable *out)
{
    return fill(m, out, negative_apply);
}

recsys_status recsys__filter_exclude(const recsys__mem *m, recsys_filter_vtable *out)
{
    return fill(m, out, exclude_apply);
}

recsys_status recsys__filter_shown(const recsys__mem *m, recsys_filter_vtable *out)
{
    return fill(m, out, shown_apply);
}

recsys_status recsys__filter_rules(const recsys__mem *m, recsys_filter_vtable *out)
{
    return fill(m, out, rules_apply);
}
