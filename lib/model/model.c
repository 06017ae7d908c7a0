/* model.c - the model of one engine: applying events to users, affinities and counters,
 * replay, and forgetting a user. */
#include "model.h"
#include "../core/abi.h"
#include "../core/error.h"

#define DAY_S 86400.0

void recsys__model_init(recsys__model *m, const recsys__mem *mem)
{
    memset(m, 0, sizeof *m);
    m->mem = mem;
    recsys__catalog_init(&m->catalog, mem);
    recsys__users_init(&m->users, mem);
    recsys__shown_init(&m->shown, mem);
    m->long_half_life_s = 90 * DAY_S;
    m->pop_half_life_s = 30 * DAY_S;
    m->trend_half_life_s = 24 * 3600.0;
    m->history_max = 1000;
}

void recsys__model_free(recsys__model *m)
{
    if (!m->mem)
        return;
    recsys__users_free(&m->users);
    recsys__catalog_free(&m->catalog);
    recsys__factors_free(m->mem, m->ials_import);
    recsys__shown_free(&m->shown);
    memset(m, 0, sizeof *m);
}

#define EVENT_MIN_SIZE RECSYS_OFFSETOFEND(recsys_event, reserved)

recsys_status recsys__model_check_event(const recsys__model *m, const recsys_event *ev,
                                        recsys_event *copy)
{
    if (!ev)
        return recsys__err(RECSYS_E_INVALID_ARG, "event is NULL");
    RECSYS_TRY(recsys__record_copy(copy, sizeof *copy, ev, ev->struct_size, EVENT_MIN_SIZE,
                                   "recsys_event"));
    recsys_status st = recsys__event_validate(copy);
    if (st != RECSYS_OK) {
        recsys__err_prefix("event");
        return st;
    }
    if (copy->item_id && recsys__catalog_find(&m->catalog, copy->item_id) == RECSYS_IDS_NONE)
        return recsys__err(RECSYS_E_NOT_FOUND, "event: item '%s' is not in the catalog",
                           copy->item_id);
    return RECSYS_OK;
}

/* Position of facet in the user's sorted affinities, or where it goes (*found false). */
static size_t aff_search(const recsys__user *u, uint32_t facet, bool *found)
{
    size_t lo = 0, hi = u->naff;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (u->aff[mid].facet == facet) {
            *found = true;
            return mid;
        }
        if (u->aff[mid].facet < facet)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Adds w at ts to the user's affinity to facet; capacity was reserved by the caller. */
static void aff_add(recsys__user *u, uint32_t facet, double w, int64_t ts, double hl)
{
    bool found;
    size_t pos = aff_search(u, facet, &found);
    if (found) {
        double v = u->aff[pos].w;
        int64_t vts = u->aff[pos].ts;
        recsys__decay_add(&v, &vts, w, ts, hl);
        u->aff[pos].w = (float)v;
        u->aff[pos].ts = vts;
        return;
    }
    memmove(&u->aff[pos + 1], &u->aff[pos], (u->naff - pos) * sizeof *u->aff);
    u->aff[pos].facet = facet;
    u->aff[pos].w = (float)w;
    u->aff[pos].ts = ts;
    u->naff++;
}

double recsys__user_affinity(const recsys__model *m, const recsys__user *u, uint32_t facet,
                             int64_t now)
{
    if (!u)
        return 0;
    bool found;
    size_t pos = aff_search(u, facet, &found);
    return found ? recsys__decay(u->aff[pos].w, u->aff[pos].ts, now, m->long_half_life_s) : 0;
}

/* Adds an interest weight to one item's decayed counters (negative weights do not count). */
static void count_into(const recsys__model *m, double *pop_v, int64_t *pop_ts, double *trend_v,
                       int64_t *trend_ts, double w, int64_t ts)
{
    if (w <= 0)
        return; /* only interest counts towards popularity */
    recsys__decay_add(pop_v, pop_ts, w, ts, m->pop_half_life_s);
    recsys__decay_add(trend_v, trend_ts, w, ts, m->trend_half_life_s);
}

/* Re-ranks item after its counters changed (rank.h). */
static void rerank(recsys__model *m, uint32_t item)
{
    recsys__catalog *c = &m->catalog;
    recsys__rank_set(&c->pop_rank, item, c->pop_v[item], c->pop_ts[item], m->pop_half_life_s);
    recsys__rank_set(&c->trend_rank, item, c->trend_v[item], c->trend_ts[item],
                     m->trend_half_life_s);
}

static void count_item(recsys__model *m, uint32_t item, double w, int64_t ts)
{
    recsys__catalog *c = &m->catalog;
    count_into(m, &c->pop_v[item], &c->pop_ts[item], &c->trend_v[item], &c->trend_ts[item], w, ts);
    if (w > 0)
        rerank(m, item);
}

/* Prepare (replay: an item that is not in the catalog is not an error; the event is then
 * only counted). Reserves room for this event on top of what earlier prepared events of
 * the same user reserved, so a batch can be prepared before any of it is committed. */
static recsys_status prepare(recsys__model *m, const recsys_event *ev, bool replay,
                             recsys__ev_prep *p)
{
    memset(p, 0, sizeof *p);
    p->ev = ev;
    p->item = RECSYS_IDS_NONE;
    if (!ev->user_id || !ev->user_id[0])
        return recsys__err(RECSYS_E_INVALID_ARG, "event: field 'user_id' is missing");
    if (ev->item_id) {
        p->item = recsys__catalog_find(&m->catalog, ev->item_id);
        if (p->item == RECSYS_IDS_NONE && !replay)
            return recsys__err(RECSYS_E_NOT_FOUND, "event: item '%s' is not in the catalog",
                               ev->item_id);
        if (p->item != RECSYS_IDS_NONE)
            p->it = m->catalog.items[p->item];
    }
    bool orphan = ev->item_id && !p->it; /* replayed event of an item no longer known */
    RECSYS_TRY(recsys__users_get_or_add(&m->users, ev->user_id, &p->usr, &p->created));
    recsys__user *usr = p->usr;
    const recsys__mem *mem = m->mem;
    p->w = orphan ? 0 : recsys__event_weight(ev->type, ev->value);
    /* impressions are counted but not kept: logged for every result shown, they would push
     * the user's real history out of the bounded window */
    p->keep = !orphan && ev->type != RECSYS_EVENT_IMPRESSION && m->history_max > 0;
    if (p->keep) {
        if (RECSYS_GROW(mem, usr->hist, usr->caphist, usr->nhist + usr->pend_hist + 1) != RECSYS_OK)
            goto nomem;
        if (ev->type == RECSYS_EVENT_SEARCH && ev->query &&
            !(p->query = recsys__strdup(mem, ev->query)))
            goto nomem;
    }
    if (p->it && p->w != 0) {
        p->nfacets = (p->it->category_facet != RECSYS_IDS_NONE) +
                     (p->it->tag_facets ? p->it->ntags : 0);
        if (RECSYS_GROW(mem, usr->aff, usr->capaff, usr->naff + usr->pend_aff + p->nfacets) !=
            RECSYS_OK)
            goto nomem;
    }
    usr->pend_hist += p->keep;
    usr->pend_aff += p->nfacets;
    usr->pend_events++;
    return RECSYS_OK;

nomem:
    recsys__free(mem, p->query);
    p->query = NULL;
    if (p->created && !usr->pend_events)
        recsys__users_undo_add(&m->users, usr);
    p->usr = NULL;
    return RECSYS_E_NOMEM;
}

void recsys__model_commit_event(recsys__model *m, recsys__ev_prep *p)
{
    const recsys_event *ev = p->ev;
    recsys__user *usr = p->usr;
    const recsys__mem *mem = m->mem;
    usr->pend_hist -= p->keep;
    usr->pend_aff -= p->nfacets;
    usr->pend_events--;
    if (p->keep) { /* room was reserved: drop the oldest beyond the bound, then append */
        while (usr->nhist + 1 > m->history_max && usr->nhist > 0) {
            /* purchases and negative feedback decide what may never be shown again: the
             * oldest other event goes first, and only a history of nothing else loses them */
            size_t k = 0;
            while (k < usr->nhist && (usr->hist[k].type == RECSYS_EVENT_PURCHASE ||
                                      recsys__event_negative(usr->hist[k].type)))
                k++;
            if (k == usr->nhist)
                k = 0;
            recsys__free(mem, usr->hist[k].query);
            memmove(usr->hist + k, usr->hist + k + 1, (usr->nhist - k - 1) * sizeof *usr->hist);
            usr->nhist--;
        }
        recsys__hist *h = &usr->hist[usr->nhist++];
        h->ts = ev->timestamp;
        h->item = p->it ? p->item : RECSYS_IDS_NONE;
        h->type = ev->type;
        h->value = (float)ev->value;
        h->query = p->query;
        p->query = NULL;
    }
    const recsys_item *it = p->it;
    if (p->nfacets) {
        if (it->category_facet != RECSYS_IDS_NONE)
            aff_add(usr, it->category_facet, p->w, ev->timestamp, m->long_half_life_s);
        for (uint32_t i = 0; it->tag_facets && i < it->ntags; i++)
            aff_add(usr, it->tag_facets[i], p->w, ev->timestamp, m->long_half_life_s);
    }
    if (it)
        count_item(m, p->item, p->w, ev->timestamp);
    usr->nevents++;
    m->nevents++;
}

void recsys__model_abort_event(recsys__model *m, recsys__ev_prep *p)
{
    recsys__user *usr = p->usr;
    if (!usr)
        return;
    recsys__free(m->mem, p->query);
    p->query = NULL;
    usr->pend_hist -= p->keep;
    usr->pend_aff -= p->nfacets;
    usr->pend_events--;
    if (p->created && !usr->pend_events)
        recsys__users_undo_add(&m->users, usr);
    p->usr = NULL;
}

recsys_status recsys__model_prepare_event(recsys__model *m, const recsys_event *ev,
                                          recsys__ev_prep *p)
{
    return prepare(m, ev, false, p);
}

static recsys_status apply(recsys__model *m, const recsys_event *ev, bool replay)
{
    recsys__ev_prep p;
    RECSYS_TRY(prepare(m, ev, replay, &p));
    recsys__model_commit_event(m, &p);
    return RECSYS_OK;
}

recsys_status recsys__model_apply_event(recsys__model *m, const recsys_event *ev)
{
    return apply(m, ev, false);
}

recsys_status recsys__model_replay_event(recsys__model *m, const recsys_event *ev)
{
    if (!ev)
        return recsys__err(RECSYS_E_INVALID_ARG, "event is NULL");
    recsys_event copy;
    RECSYS_TRY(recsys__record_copy(&copy, sizeof copy, ev, ev->struct_size, EVENT_MIN_SIZE,
                                   "recsys_event"));
    recsys_status st = recsys__event_validate(&copy);
    if (st != RECSYS_OK) {
        recsys__err_prefix("replayed event");
        return st;
    }
    return apply(m, &copy, true);
}

/* Overwrites a string before it is freed (the compiler may not drop volatile stores). */
static void wipe(char *s)
{
    if (!s)
        return;
    volatile char *v = s;
    for (size_t i = 0; v[i]; i++)
        v[i] = 0;
}

recsys_status recsys__model_forget_user(recsys__model *m, const char *user_id)
{
    if (!user_id)
        return recsys__err(RECSYS_E_INVALID_ARG, "user id is NULL");
    recsys__user *usr = recsys__users_find(&m->users, user_id);
    if (!usr)
        return recsys__err(RECSYS_E_NOT_FOUND, "user '%.256s' is not known", user_id);
    uint32_t idx = usr->idx;
    recsys__shown_forget(&m->shown, idx);
    m->nevents -= RECSYS_MIN(m->nevents, usr->nevents);
    m->users.users[idx] = NULL;
    m->users.live--;
    /* what the user wrote (searches) and told (interests, region) is wiped, not just freed */
    for (size_t i = 0; i < usr->nhist; i++)
        wipe(usr->hist[i].query);
    for (uint32_t i = 0; i < usr->ninterests; i++)
        wipe(usr->interests[i]);
    wipe(usr->region);
    recsys__user_free(m->mem, usr);
    recsys__ids_release(&m->users.ids, idx); /* wipes the id text */
    return RECSYS_OK;
}

void recsys__model_counters_reset(recsys__model *m)
{
    recsys__catalog *c = &m->catalog;
    size_t n = c->ids.n;
    if (!n)
        return;
    memset(c->pop_v, 0, n * sizeof *c->pop_v);
    memset(c->pop_ts, 0, n * sizeof *c->pop_ts);
    memset(c->trend_v, 0, n * sizeof *c->trend_v);
    memset(c->trend_ts, 0, n * sizeof *c->trend_ts);
    recsys__rank_clear(&c->pop_rank);
    recsys__rank_clear(&c->trend_rank);
}

void recsys__model_count_event(recsys__model *m, const recsys_event *ev)
{
    if (!ev || !ev->item_id)
        return;
    uint32_t item = recsys__catalog_find(&m->catalog, ev->item_id);
    if (item != RECSYS_IDS_NONE)
        count_item(m, item, recsys__event_weight(ev->type, ev->value), ev->timestamp);
}

recsys_status recsys__counters_init(const recsys__mem *mem, size_t n, recsys__counters *c)
{
    memset(c, 0, sizeof *c);
    size_t k = n ? n : 1;
    c->pop_v = recsys__calloc(mem, k, sizeof *c->pop_v);
    c->trend_v = c->pop_v ? recsys__calloc(mem, k, sizeof *c->trend_v) : NULL;
    c->pop_ts = c->trend_v ? recsys__calloc(mem, k, sizeof *c->pop_ts) : NULL;
    c->trend_ts = c->pop_ts ? recsys__calloc(mem, k, sizeof *c->trend_ts) : NULL;
    if (!c->trend_ts) {
        recsys__counters_free(mem, c);
        return RECSYS_E_NOMEM;
    }
    c->n = n;
    return RECSYS_OK;
}

void recsys__counters_free(const recsys__mem *mem, recsys__counters *c)
{
    recsys__free(mem, c->pop_v);
    recsys__free(mem, c->trend_v);
    recsys__free(mem, c->pop_ts);
    recsys__free(mem, c->trend_ts);
    memset(c, 0, sizeof *c);
}

void recsys__counters_add(const recsys__model *m, recsys__counters *c, const recsys_event *ev,
                          const char *skip_user)
{
    if (ev->type == RECSYS_EVENT_IMPRESSION)
        return;
    if (skip_user && ev->user_id && strcmp(ev->user_id, skip_user) == 0)
        return;
    c->nevents++;
    if (!ev->item_id)
        return;
    uint32_t item = recsys__catalog_find(&m->catalog, ev->item_id);
    if (item == RECSYS_IDS_NONE || item >= c->n)
        return;
    count_into(m, &c->pop_v[item], &c->pop_ts[item], &c->trend_v[item], &c->trend_ts[item],
               recsys__event_weight(ev->type, ev->value), ev->timestamp);
}

void recsys__counters_swap(recsys__model *m, recsys__counters *c)
{
    recsys__catalog *cat = &m->catalog;
    size_t n = c->n < cat->ids.n ? c->n : cat->ids.n;
    /* the catalog's arrays may be larger (capacity): copy into them, keep c's for freeing */
    for (size_t i = 0; i < n; i++) {
        double v = cat->pop_v[i], tv = cat->trend_v[i];
        int64_t ts = cat->pop_ts[i], tts = cat->trend_ts[i];
        cat->pop_v[i] = c->pop_v[i];
        cat->trend_v[i] = c->trend_v[i];
        cat->pop_ts[i] = c->pop_ts[i];
        cat->trend_ts[i] = c->trend_ts[i];
        c->pop_v[i] = v;
        c->trend_v[i] = tv;
        c->pop_ts[i] = ts;
        c->trend_ts[i] = tts;
    }
    uint64_t ne = m->nevents;
    m->nevents = c->nevents;
    c->nevents = ne;
    recsys__rank_clear(&cat->pop_rank);
    recsys__rank_clear(&cat->trend_rank);
    for (size_t i = 0; i < n; i++)
        rerank(m, (uint32_t)i);
}
