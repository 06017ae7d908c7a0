/* catalog.c - the items of one engine by dense index, their facets, their counters, the
 * registry of custom attribute names (model.h: attr_names; put interns, nothing removes) and
 * the folded vocabulary (fold.h: put adds and counts, remove counts out). */
#include "model.h"
#include "../core/error.h"

void recsys__catalog_init(recsys__catalog *c, const recsys__mem *m)
{
    memset(c, 0, sizeof *c);
    c->mem = m;
    recsys__ids_init(&c->ids, m);
    recsys__ids_init(&c->facets.ids, m);
    recsys__ids_init(&c->attr_names, m);
    recsys__fold_init(&c->fold, m);
}

void recsys__catalog_free(recsys__catalog *c)
{
    if (!c->mem)
        return;
    for (size_t i = 0; i < c->ids.n; i++)
        recsys__item_free(c->mem, c->items[i]);
    recsys__free(c->mem, c->items);
    recsys__free(c->mem, c->pop_v);
    recsys__free(c->mem, c->pop_ts);
    recsys__free(c->mem, c->trend_v);
    recsys__free(c->mem, c->trend_ts);
    recsys__rank_free(c->mem, &c->pop_rank);
    recsys__rank_free(c->mem, &c->trend_rank);
    recsys__ids_free(&c->ids);
    recsys__ids_free(&c->facets.ids);
    recsys__ids_free(&c->attr_names);
    recsys__free(c->mem, c->attr_types);
    recsys__fold_free(&c->fold, c->mem);
    memset(c, 0, sizeof *c);
}

uint32_t recsys__catalog_find(const recsys__catalog *c, const char *id)
{
    if (!id)
        return RECSYS_IDS_NONE;
    uint32_t idx = recsys__ids_find(&c->ids, id, strlen(id));
    return (idx != RECSYS_IDS_NONE && c->items[idx]) ? idx : RECSYS_IDS_NONE;
}

/* Grows one per-slot array to cap entries. A failure leaves it as it was; a success on some
 * arrays and a failure on a later one only leaves spare capacity behind (harmless). */
static recsys_status grow_to(const recsys__mem *m, void **p, size_t cap, size_t elem)
{
    void *q = recsys__realloc_array(m, *p, cap, elem);
    if (!q)
        return RECSYS_E_NOMEM;
    *p = q;
    return RECSYS_OK;
}

static recsys_status ensure_cap(recsys__catalog *c, size_t need)
{
    if (need <= c->cap)
        return RECSYS_OK;
    size_t cap = c->cap ? c->cap : 16;
    while (cap < need)
        cap *= 2;
    RECSYS_TRY(grow_to(c->mem, (void **)&c->items, cap, sizeof *c->items));
    RECSYS_TRY(grow_to(c->mem, (void **)&c->pop_v, cap, sizeof *c->pop_v));
    RECSYS_TRY(grow_to(c->mem, (void **)&c->pop_ts, cap, sizeof *c->pop_ts));
    RECSYS_TRY(grow_to(c->mem, (void **)&c->trend_v, cap, sizeof *c->trend_v));
    RECSYS_TRY(grow_to(c->mem, (void **)&c->trend_ts, cap, sizeof *c->trend_ts));
    RECSYS_TRY(recsys__rank_grow(c->mem, &c->pop_rank, c->cap, cap));
    RECSYS_TRY(recsys__rank_grow(c->mem, &c->trend_rank, c->cap, cap));
    for (size_t i = c->cap; i < cap; i++) {
        c->items[i] = NULL;
        c->pop_v[i] = c->trend_v[i] = 0;
        c->pop_ts[i] = c->trend_ts[i] = 0;
    }
    c->cap = cap;
    return RECSYS_OK;
}

/* Interns "<prefix>:<text>" as a facet; *added counts the facets this put created. */
static recsys_status intern_facet(recsys__catalog *c, char *buf, char prefix, const char *text,
                                  uint32_t *facet, size_t *added)
{
    size_t len = strlen(text);
    buf[0] = prefix;
    buf[1] = ':';
    memcpy(buf + 2, text, len);
    bool fresh = false;
    RECSYS_TRY(recsys__ids_intern(&c->facets.ids, buf, len + 2, facet, &fresh));
    if (fresh)
        (*added)++;
    return RECSYS_OK;
}

unsigned recsys__catalog_attr_types(const recsys__catalog *c, const char *name)
{
    if (!name)
        return 0;
    uint32_t i = recsys__ids_find(&c->attr_names, name, strlen(name));
    return i == RECSYS_IDS_NONE ? 0 : c->attr_types[i];
}

/* Interns the names of its attributes (*added counts the new ones) and makes room for their
 * type bits; the bits themselves are set at commit (attr_types_commit). An item whose names
 * are all known (one put back after a rollback) allocates nothing. */
static recsys_status attr_names_intern(recsys__catalog *c, const recsys_item *it, size_t *added)
{
    for (uint32_t i = 0; i < it->nattrs; i++) {
        uint32_t idx;
        bool fresh = false;
        const char *name = it->attrs[i].name;
        RECSYS_TRY(recsys__ids_intern(&c->attr_names, name, strlen(name), &idx, &fresh));
        if (fresh)
            (*added)++;
    }
    size_t had = c->attr_types_cap;
    RECSYS_TRY(RECSYS_GROW(c->mem, c->attr_types, c->attr_types_cap, c->attr_names.n));
    if (c->attr_types_cap > had)
        memset(c->attr_types + had, 0, c->attr_types_cap - had);
    return RECSYS_OK;
}

static void attr_types_commit(recsys__catalog *c, const recsys_item *it)
{
    for (uint32_t i = 0; i < it->nattrs; i++) {
        const char *name = it->attrs[i].name;
        uint32_t idx = recsys__ids_find(&c->attr_names, name, strlen(name));
        int32_t t = it->attrs[i].type;
        if (idx != RECSYS_IDS_NONE && t >= 0 && t < 8)
            c->attr_types[idx] |= (uint8_t)(1u << t);
    }
}

/* Short facet texts and up to RECSYS__LIST_MAX tags need no allocation: putting back an item
 * that was in the catalog before (a caller's rollback) then cannot fail. */
#define FACET_BUF 512

recsys_status recsys__catalog_put(recsys__catalog *c, recsys_item *it, recsys_item **old)
{
    *old = NULL;
    uint32_t idx;
    bool id_added = false;
    size_t facets_added = 0, attrs_added = 0;
    char sbuf[FACET_BUF], *buf = sbuf, *hbuf = NULL;
    uint32_t stf[RECSYS__LIST_MAX], *tf = stf, *htf = NULL;
    uint32_t *new_tf = NULL; /* the item's facet array, when it has none yet */
    uint32_t cat_facet = RECSYS_IDS_NONE;
    uint32_t fold_ent[RECSYS__LIST_MAX]; /* the fold's entry of each text value */
    recsys_status st = recsys__ids_intern(&c->ids, it->id, strlen(it->id), &idx, &id_added);
    if (st != RECSYS_OK)
        return st;
    if ((st = ensure_cap(c, c->ids.n)) != RECSYS_OK)
        goto fail;
    /* the longest facet text plus its two-byte prefix and the NUL */
    size_t longest = strlen(it->category);
    for (uint32_t i = 0; i < it->ntags; i++)
        longest = RECSYS_MAX(longest, strlen(it->tags[i]));
    if (longest + 3 > sizeof sbuf && !(buf = hbuf = recsys__alloc(c->mem, longest + 3))) {
        st = RECSYS_E_NOMEM;
        goto fail;
    }
    if (it->ntags > RECSYS__LIST_MAX &&
        !(tf = htf = recsys__calloc(c->mem, it->ntags, sizeof *tf))) {
        st = RECSYS_E_NOMEM;
        goto fail;
    }
    if (it->ntags && !it->tag_facets &&
        !(new_tf = recsys__calloc(c->mem, it->ntags, sizeof *new_tf))) {
        st = RECSYS_E_NOMEM;
        goto fail;
    }
    if (it->category[0] &&
        (st = intern_facet(c, buf, 'c', it->category, &cat_facet, &facets_added)) != RECSYS_OK)
        goto fail;
    for (uint32_t i = 0; i < it->ntags; i++)
        if ((st = intern_facet(c, buf, 't', it->tags[i], &tf[i], &facets_added)) != RECSYS_OK)
            goto fail;
    if ((st = attr_names_intern(c, it, &attrs_added)) != RECSYS_OK)
        goto fail;
    if ((st = recsys__fold_add(&c->fold, c, it, c->facets.ids.n - facets_added,
                               c->attr_names.n - attrs_added, fold_ent)) != RECSYS_OK)
        goto fail; /* the fold undid itself */

    /* commit: nothing below can fail */
    *old = c->items[idx];
    if (!*old) {
        c->live++;
        if (id_added) {
            c->pop_v[idx] = c->trend_v[idx] = 0;
            c->pop_ts[idx] = c->trend_ts[idx] = 0;
            recsys__rank_set(&c->pop_rank, idx, 0, 0, 1);
            recsys__rank_set(&c->trend_rank, idx, 0, 0, 1);
        }
    }
    if (new_tf)
        it->tag_facets = new_tf;
    if (it->ntags)
        memcpy(it->tag_facets, tf, it->ntags * sizeof *tf);
    it->category_facet = cat_facet;
    attr_types_commit(c, it);
    recsys__fold_commit(&c->fold, c, it, fold_ent, *old);
    it->idx = idx;
    c->items[idx] = it;
    recsys__free(c->mem, hbuf);
    recsys__free(c->mem, htf);
    return RECSYS_OK;

fail:
    recsys__free(c->mem, hbuf);
    recsys__free(c->mem, htf);
    recsys__free(c->mem, new_tf);
    /* facets added by this put are the newest ones: pop them, newest first */
    while (facets_added--)
        recsys__ids_pop(&c->facets.ids);
    while (attrs_added--)
        recsys__ids_pop(&c->attr_names);
    if (id_added)
        recsys__ids_pop(&c->ids);
    return st;
}

recsys_status recsys__catalog_remove(recsys__catalog *c, const char *id, recsys_item **old)
{
    *old = NULL;
    uint32_t idx = recsys__catalog_find(c, id);
    if (idx == RECSYS_IDS_NONE)
        return recsys__err(RECSYS_E_NOT_FOUND, "item '%.256s' is not in the catalog",
                           id ? id : "(null)");
    *old = c->items[idx];
    c->items[idx] = NULL;
    c->live--;
    recsys__fold_release(&c->fold, c, *old);
    /* a removed item's counters start again from zero if it comes back, as a rebuild from
     * the store (which skips events of items not in the catalog) would give */
    c->pop_v[idx] = c->trend_v[idx] = 0;
    c->pop_ts[idx] = c->trend_ts[idx] = 0;
    recsys__rank_set(&c->pop_rank, idx, 0, 0, 1);
    recsys__rank_set(&c->trend_rank, idx, 0, 0, 1);
    return RECSYS_OK;
}
