/* campaigns.c - campaigns and the campaign table (see campaigns.h). */
#include "campaigns.h"
#include "model.h"
#include "../core/error.h"
#include "../core/utf8.h"

static recsys_status check_id(const char *id)
{
    RECSYS_TRY(recsys__check_text(id, RECSYS__CAMPAIGN_ID_MAX, "campaign id"));
    if (!*id)
        return recsys__err(RECSYS_E_INVALID_ARG, "campaign id is empty");
    return RECSYS_OK;
}

static recsys_status check_item(const char *cid, const char *item, size_t i)
{
    char what[96];
    snprintf(what, sizeof what, "item %zu", i);
    recsys_status st = recsys__check_text(item, RECSYS_ID_MAX_BYTES, what);
    if (st == RECSYS_OK && !*item)
        st = recsys__err(RECSYS_E_INVALID_ARG, "item %zu is empty", i);
    if (st != RECSYS_OK) {
        char prefix[128];
        snprintf(prefix, sizeof prefix, "campaign '%.*s'", recsys__utf8_quote_len(cid), cid);
        recsys__err_prefix(prefix);
    }
    return st;
}

typedef struct id_at {
    const char *id;
    size_t at;
} id_at;

static int by_id(const void *a, const void *b)
{
    const id_at *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

/* Sorts a copy of the ids to find a repeated one in O(n log n) (n may be 10000). */
static recsys_status check_distinct(const recsys__mem *m, const char *cid,
                                    const char *const *ids, size_t n)
{
    id_at *v = recsys__alloc(m, n * sizeof *v);
    if (!v)
        return RECSYS_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = (id_at){ ids[i], i };
    qsort(v, n, sizeof *v, by_id);
    recsys_status st = RECSYS_OK;
    for (size_t i = 1; i < n && st == RECSYS_OK; i++)
        if (strcmp(v[i - 1].id, v[i].id) == 0)
            st = recsys__err(RECSYS_E_INVALID_ARG,
                             "campaign '%.*s': item %zu ('%.*s') repeats item %zu", recsys__utf8_quote_len(cid),
                             cid, v[i].at, recsys__utf8_quote_len(v[i].id), v[i].id, v[i - 1].at);
    recsys__free(m, v);
    return st;
}

static recsys_status check_args(const char *cid, const char *const *ids, size_t n, double boost,
                                int64_t start, int64_t end)
{
    int q = recsys__utf8_quote_len(cid);
    if (!ids)
        return recsys__err(RECSYS_E_INVALID_ARG, "campaign '%.*s': item_ids is NULL", q, cid);
    if (n == 0 || n > RECSYS__CAMPAIGN_ITEMS_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "campaign '%.*s': %zu items; expected 1..%d", q, cid, n,
                           RECSYS__CAMPAIGN_ITEMS_MAX);
    if (!(isfinite(boost) && boost > 0))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "campaign '%.*s': boost %g is not a finite number > 0", q, cid, boost);
    if (start < 0)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "campaign '%.*s': start %" PRId64 " is negative (0 = open)", q, cid,
                           start);
    if (end < 0)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "campaign '%.*s': end %" PRId64 " is negative (0 = open)", q, cid, end);
    if (start && end && end <= start)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "campaign '%.*s': end %" PRId64 " is not after start %" PRId64, q, cid,
                           end, start);
    for (size_t i = 0; i < n; i++)
        RECSYS_TRY(check_item(cid, ids[i], i));
    return RECSYS_OK;
}

void recsys__campaign_free(const recsys__mem *m, recsys__campaign *cp)
{
    if (!cp)
        return;
    for (uint32_t i = 0; cp->item_ids && i < cp->nitems; i++)
        recsys__free(m, cp->item_ids[i]);
    recsys__free(m, cp->item_ids);
    recsys__free(m, cp->items);
    recsys__free(m, cp->id);
    recsys__free(m, cp);
}

recsys_status recsys__campaign_new(const recsys__mem *m, const char *id,
                                   const char *const *item_ids, size_t n, double boost,
                                   int64_t start, int64_t end, recsys__campaign **out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "campaign: out is NULL");
    *out = NULL;
    RECSYS_TRY(check_id(id));
    RECSYS_TRY(check_args(id, item_ids, n, boost, start, end));
    RECSYS_TRY(check_distinct(m, id, item_ids, n));
    recsys__campaign *cp = recsys__calloc(m, 1, sizeof *cp);
    if (!cp)
        return RECSYS_E_NOMEM;
    cp->boost = boost;
    cp->start = start;
    cp->end = end;
    cp->id = recsys__strdup(m, id);
    cp->item_ids = cp->id ? recsys__calloc(m, n, sizeof *cp->item_ids) : NULL;
    cp->items = cp->item_ids ? recsys__alloc(m, n * sizeof *cp->items) : NULL;
    recsys_status st = cp->items ? RECSYS_OK : RECSYS_E_NOMEM;
    if (st == RECSYS_OK)
        cp->nitems = (uint32_t)n;
    for (size_t i = 0; st == RECSYS_OK && i < n; i++) {
        cp->items[i] = RECSYS_IDS_NONE;
        if (!(cp->item_ids[i] = recsys__strdup(m, item_ids[i])))
            st = RECSYS_E_NOMEM;
    }
    if (st != RECSYS_OK) {
        recsys__campaign_free(m, cp);
        return st;
    }
    *out = cp;
    return RECSYS_OK;
}

recsys_status recsys__campaign_resolve(recsys__campaign *cp, const struct recsys__catalog *c,
                                       bool strict)
{
    for (uint32_t i = 0; i < cp->nitems; i++) {
        cp->items[i] = recsys__catalog_find(c, cp->item_ids[i]);
        if (strict && cp->items[i] == RECSYS_IDS_NONE)
            return recsys__err(RECSYS_E_NOT_FOUND,
                               "campaign '%.*s': item %" PRIu32 " ('%.*s') is not in the catalog",
                               recsys__utf8_quote_len(cp->id), cp->id, i, recsys__utf8_quote_len(cp->item_ids[i]),
                               cp->item_ids[i]);
    }
    return RECSYS_OK;
}

/* ---------------------------------------------------------------- the table ------------ */

size_t recsys__campaigns_find(const recsys__campaigns *t, const char *id)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i]->id, id) == 0)
            return i;
    return SIZE_MAX;
}

recsys_status recsys__campaigns_reserve(const recsys__mem *m, recsys__campaigns *t)
{
    return RECSYS_GROW(m, t->v, t->cap, t->n + 1);
}

void recsys__campaigns_put(recsys__campaigns *t, recsys__campaign *cp, recsys__campaign **old)
{
    size_t at = recsys__campaigns_find(t, cp->id);
    if (at != SIZE_MAX) {
        *old = t->v[at];
        t->v[at] = cp;
        return;
    }
    *old = NULL;
    t->v[t->n++] = cp; /* the caller reserved the room */
}

recsys__campaign *recsys__campaigns_take(recsys__campaigns *t, size_t i)
{
    recsys__campaign *cp = t->v[i];
    memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof *t->v);
    t->n--;
    return cp;
}

void recsys__campaigns_free(const recsys__mem *m, recsys__campaigns *t)
{
    for (size_t i = 0; i < t->n; i++)
        recsys__campaign_free(m, t->v[i]);
    recsys__free(m, t->v);
    memset(t, 0, sizeof *t);
}
