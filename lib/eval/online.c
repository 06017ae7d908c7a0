/* online.c - attribution of feedback to impressions and the online metrics (online.h). */
#include "online.h"
#include "../core/abi.h"
#include "../core/error.h"
#include "../model/model.h"

const recsys__online_metric recsys__online_metrics[] = {
    { "impressions_per_user", RECSYS__ONLINE_F_IMPR, RECSYS__ONLINE_F_ONE },
    { "ctr", RECSYS__ONLINE_F_CLICK, RECSYS__ONLINE_F_IMPR },
    { "conversion", RECSYS__ONLINE_F_CONV, RECSYS__ONLINE_F_IMPR },
    { "add_to_cart", RECSYS__ONLINE_F_CART, RECSYS__ONLINE_F_IMPR },
    { "dwell_per_impression", RECSYS__ONLINE_F_DWELL, RECSYS__ONLINE_F_IMPR },
    { "revenue_per_session", RECSYS__ONLINE_F_REV, RECSYS__ONLINE_F_SESS },
    { "skip_rate", RECSYS__ONLINE_F_SKIP, RECSYS__ONLINE_F_IMPR },
    { "popularity", RECSYS__ONLINE_F_POP, RECSYS__ONLINE_F_IMPR },
    { "return_rate", RECSYS__ONLINE_F_RET, RECSYS__ONLINE_F_ONE },
    { "requests_per_user", RECSYS__ONLINE_F_REQ, RECSYS__ONLINE_F_ONE },
    { "llm_calls_per_request", RECSYS__ONLINE_F_LLM_CALLS, RECSYS__ONLINE_F_REQ },
    { "llm_tokens_per_request", RECSYS__ONLINE_F_LLM_TOKENS, RECSYS__ONLINE_F_REQ },
    { "llm_cost_per_request", RECSYS__ONLINE_F_LLM_COST, RECSYS__ONLINE_F_REQ },
};
const size_t recsys__online_nmetrics = RECSYS_ARRAY_LEN(recsys__online_metrics);

void recsys__online_log_init(recsys__online_log *log, const recsys__mem *m)
{
    memset(log, 0, sizeof *log);
    log->mem = m;
    recsys__ids_init(&log->users, m);
    recsys__ids_init(&log->items, m);
    recsys__ids_init(&log->reqs, m);
    recsys__ids_init(&log->srcs, m);
    recsys__ids_init(&log->rankers, m);
}

void recsys__online_log_free(recsys__online_log *log)
{
    recsys__ids_free(&log->users);
    recsys__ids_free(&log->items);
    recsys__ids_free(&log->reqs);
    recsys__ids_free(&log->srcs);
    recsys__ids_free(&log->rankers);
    recsys__free(log->mem, log->srcv);
    recsys__free(log->mem, log->ev);
    memset(log, 0, sizeof *log);
}

recsys_status recsys__online_log_add(recsys__online_log *log, const recsys_event *ev)
{
    if (!ev->item_id || !ev->user_id)
        return RECSYS_OK;
    RECSYS_TRY(RECSYS_GROW(log->mem, log->ev, log->cap, log->n + 1));
    recsys__online_ev *o = &log->ev[log->n];
    RECSYS_TRY(recsys__ids_intern(&log->users, ev->user_id, strlen(ev->user_id), &o->user, NULL));
    RECSYS_TRY(recsys__ids_intern(&log->items, ev->item_id, strlen(ev->item_id), &o->item, NULL));
    o->req = RECSYS_IDS_NONE;
    if (ev->request_id)
        RECSYS_TRY(recsys__ids_intern(&log->reqs, ev->request_id, strlen(ev->request_id),
                                      &o->req, NULL));
    /* sources, ranker and LLM cost only when the record has them (a 0.1 host store's events
     * do not) */
    bool attr = ev->struct_size >= RECSYS_OFFSETOFEND(recsys_event, ranker);
    bool cost = ev->struct_size >= RECSYS_OFFSETOFEND(recsys_event, llm_tokens);
    o->llm_calls = cost ? ev->llm_calls : 0;
    o->llm_tokens = cost ? ev->llm_tokens : 0;
    o->ranker = RECSYS_IDS_NONE;
    if (attr && ev->ranker && *ev->ranker)
        RECSYS_TRY(recsys__ids_intern(&log->rankers, ev->ranker, strlen(ev->ranker), &o->ranker,
                                      NULL));
    /* the sources, split at commas (a failure takes back this event's entries) */
    o->src_at = (uint32_t)log->nsrcv;
    o->nsrc = 0;
    recsys_status st = RECSYS_OK;
    for (const char *p = attr ? ev->sources : NULL; p && *p && st == RECSYS_OK;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len && log->nsrcv >= UINT32_MAX)
            st = recsys__err(RECSYS_E_NOMEM, "online log: too many source names");
        else if (len)
            st = RECSYS_GROW(log->mem, log->srcv, log->srccap, log->nsrcv + 1);
        if (len && st == RECSYS_OK)
            st = recsys__ids_intern(&log->srcs, p, len, &log->srcv[log->nsrcv], NULL);
        if (len && st == RECSYS_OK) {
            log->nsrcv++;
            o->nsrc++;
        }
        p = end ? end + 1 : p + len;
    }
    if (st != RECSYS_OK) {
        log->nsrcv = o->src_at;
        return st;
    }
    o->type = ev->type;
    o->pos = ev->position;
    o->ts = ev->timestamp;
    o->value = ev->value;
    log->n++;
    return RECSYS_OK;
}

void recsys__online_result_free(recsys__online_result *r)
{
    for (size_t i = 0; r->g && i < r->ngroups; i++) {
        recsys__free(r->mem, r->g[i].u);
        recsys__free(r->mem, r->g[i].by_src);
        recsys__free(r->mem, r->g[i].by_ranker);
    }
    recsys__free(r->mem, r->g);
    memset(r, 0, sizeof *r);
}

double recsys__online_value(const recsys__online_group *g, size_t metric)
{
    const recsys__online_metric *mt = &recsys__online_metrics[metric];
    double d = g->tot[mt->den];
    return d != 0 ? g->tot[mt->num] / d : 0;
}

double recsys__online_coverage(const recsys__online_result *r, const recsys__online_group *g)
{
    return r->catalog_items ? (double)g->items_shown / (double)r->catalog_items : 0;
}

/* A sort key: k (two 32-bit ids), then the time, then the event index. */
typedef struct key {
    uint64_t k;
    int64_t ts;
    size_t i;
} key;

static int cmp_key(const void *x, const void *y)
{
    const key *a = x, *b = y;
    if (a->k != b->k)
        return a->k < b->k ? -1 : 1;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* The first entry of v[0..n) with key k, or n. */
static size_t lower(const key *v, size_t n, uint64_t k)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].k < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint64_t pair(uint32_t a, uint32_t b)
{
    return (uint64_t)a << 32 | b;
}

/* What an impression received. */
typedef struct outcome {
    uint8_t click, conv, cart, skip;
    double dwell;
} outcome;

static void cut_add(recsys__online_cut *c, const outcome *oc)
{
    c->impr++;
    c->click += oc->click;
    c->conv += oc->conv;
    c->cart += oc->cart;
    c->skip += oc->skip;
    c->dwell += oc->dwell;
}

typedef struct work {
    const recsys__mem *m;
    int32_t *grp;   /* users: group, -1 left out, -2 not asked yet */
    uint32_t *row;  /* users: row in the group, UINT32_MAX = not exposed */
    size_t *imp;    /* event indices of the window's impressions */
    size_t nimp;
    outcome *out;   /* per entry of imp */
    key *by_req, *by_user, *tmp;
    size_t nreq;
    double *pop;    /* items: popularity */
    uint32_t *mask; /* items: groups that were shown it */
} work;

static void work_free(work *w)
{
    recsys__free(w->m, w->grp);
    recsys__free(w->m, w->row);
    recsys__free(w->m, w->imp);
    recsys__free(w->m, w->out);
    recsys__free(w->m, w->by_req);
    recsys__free(w->m, w->by_user);
    recsys__free(w->m, w->tmp);
    recsys__free(w->m, w->pop);
    recsys__free(w->m, w->mask);
}

static bool in_window(const recsys__online_opts *o, int64_t ts)
{
    return ts >= o->from && (o->to == 0 || ts < o->to);
}

static int32_t group_of(const recsys__online_log *log, const recsys__online_opts *o, work *w,
                        uint32_t user)
{
    if (w->grp[user] == -2) {
        int g = o->group ? o->group(o->group_arg, recsys__ids_name(&log->users, user)) : 0;
        w->grp[user] = (g >= 0 && (size_t)g < o->ngroups) ? g : -1;
    }
    return w->grp[user];
}

/* The impression (index into w->imp, via the key's i) feedback event e answers, or SIZE_MAX;
 * *how is 1 (request id) or 2 (time). */
static size_t attribute(const recsys__online_log *log, const recsys__online_opts *o, work *w,
                        const recsys__online_ev *e, int *how)
{
    if (e->req != RECSYS_IDS_NONE) {
        uint64_t k = pair(e->req, e->item);
        size_t at = lower(w->by_req, w->nreq, k);
        if (at < w->nreq && w->by_req[at].k == k) {
            *how = 1;
            return w->by_req[at].i;
        }
    }
    uint64_t k = pair(e->user, e->item);
    size_t at = lower(w->by_user, w->nimp, k), best = SIZE_MAX;
    for (; at < w->nimp && w->by_user[at].k == k && w->by_user[at].ts <= e->ts; at++)
        best = at;
    (void)log;
    if (best != SIZE_MAX && e->ts - w->by_user[best].ts <= o->window_s) {
        *how = 2;
        return w->by_user[best].i;
    }
    return SIZE_MAX;
}

static recsys_status compute(const recsys__online_log *log, const recsys__online_opts *o, work *w,
                             recsys__online_result *r)
{
    const recsys__mem *m = w->m;
    size_t nu = log->users.n, ni = log->items.n, n = log->n;
    w->grp = recsys__alloc(m, (nu ? nu : 1) * sizeof *w->grp);
    w->row = recsys__alloc(m, (nu ? nu : 1) * sizeof *w->row);
    w->imp = recsys__alloc(m, (n ? n : 1) * sizeof *w->imp);
    w->pop = recsys__calloc(m, ni ? ni : 1, sizeof *w->pop);
    w->mask = recsys__calloc(m, ni ? ni : 1, sizeof *w->mask);
    r->g = recsys__calloc(m, o->ngroups, sizeof *r->g);
    if (!w->grp || !w->row || !w->imp || !w->pop || !w->mask || !r->g)
        return RECSYS_E_NOMEM;
    r->ngroups = o->ngroups;
    for (size_t u = 0; u < nu; u++) {
        w->grp[u] = -2;
        w->row[u] = UINT32_MAX;
    }
    /* the window's impressions; the exposed users get their rows */
    for (size_t i = 0; i < n; i++) {
        const recsys__online_ev *e = &log->ev[i];
        if (!in_window(o, e->ts))
            continue;
        r->events++;
        if (e->type != RECSYS_EVENT_IMPRESSION) {
            if (e->type != RECSYS_EVENT_SEARCH)
                r->feedback++;
            continue;
        }
        w->imp[w->nimp++] = i;
        int32_t g = group_of(log, o, w, e->user);
        if (g >= 0 && w->row[e->user] == UINT32_MAX)
            w->row[e->user] = (uint32_t)r->g[g].nusers++;
    }
    r->impressions = w->nimp;
    r->src_names = &log->srcs;
    r->ranker_names = &log->rankers;
    r->nsrc = log->srcs.n;
    r->nranker = log->rankers.n;
    for (size_t g = 0; g < o->ngroups; g++) {
        r->g[g].u = recsys__calloc(m, r->g[g].nusers ? r->g[g].nusers : 1,
                                   RECSYS__ONLINE_NF * sizeof(double));
        r->g[g].by_src = recsys__calloc(m, r->nsrc ? r->nsrc : 1, sizeof *r->g[g].by_src);
        r->g[g].by_ranker = recsys__calloc(m, r->nranker ? r->nranker : 1,
                                           sizeof *r->g[g].by_ranker);
        if (!r->g[g].u || !r->g[g].by_src || !r->g[g].by_ranker)
            return RECSYS_E_NOMEM;
    }
    size_t nimp = w->nimp;
    w->out = recsys__calloc(m, nimp ? nimp : 1, sizeof *w->out);
    w->by_req = recsys__alloc(m, (nimp ? nimp : 1) * sizeof *w->by_req);
    w->by_user = recsys__alloc(m, (nimp ? nimp : 1) * sizeof *w->by_user);
    w->tmp = recsys__alloc(m, (n ? n : 1) * sizeof *w->tmp);
    if (!w->out || !w->by_req || !w->by_user || !w->tmp)
        return RECSYS_E_NOMEM;
    for (size_t j = 0; j < nimp; j++) {
        const recsys__online_ev *e = &log->ev[w->imp[j]];
        if (e->req != RECSYS_IDS_NONE)
            w->by_req[w->nreq++] = (key){ pair(e->req, e->item), e->ts, j };
        w->by_user[j] = (key){ pair(e->user, e->item), e->ts, j };
    }
    qsort(w->by_req, w->nreq, sizeof *w->by_req, cmp_key);
    qsort(w->by_user, nimp, sizeof *w->by_user, cmp_key);

    /* attribution */
    for (size_t i = 0; i < n; i++) {
        const recsys__online_ev *e = &log->ev[i];
        if (!in_window(o, e->ts) || e->type == RECSYS_EVENT_IMPRESSION ||
            e->type == RECSYS_EVENT_SEARCH)
            continue;
        int how = 0;
        size_t j = attribute(log, o, w, e, &how);
        if (j == SIZE_MAX) {
            r->unattributed++;
            continue;
        }
        (*(how == 1 ? &r->by_request : &r->by_time))++;
        outcome *oc = &w->out[j];
        switch (e->type) {
        case RECSYS_EVENT_CLICK:
        case RECSYS_EVENT_VIEW: oc->click = 1; break;
        case RECSYS_EVENT_PURCHASE: oc->conv = 1; break;
        case RECSYS_EVENT_ADD_TO_CART: oc->cart = 1; break;
        case RECSYS_EVENT_SKIP:
        case RECSYS_EVENT_DISLIKE: oc->skip = 1; break;
        case RECSYS_EVENT_DWELL:
        case RECSYS_EVENT_WATCH_TIME: oc->dwell += e->value; break;
        default: break;
        }
    }

    /* popularity: distinct users with a positive event on the item, over the window's users */
    size_t nt = 0, window_users = 0;
    for (size_t i = 0; i < n; i++) {
        const recsys__online_ev *e = &log->ev[i];
        if (in_window(o, e->ts) && recsys__event_consumes(e->type))
            w->tmp[nt++] = (key){ pair(e->item, e->user), 0, i };
    }
    qsort(w->tmp, nt, sizeof *w->tmp, cmp_key);
    for (size_t i = 0; i < nt; i++)
        if (i == 0 || w->tmp[i].k != w->tmp[i - 1].k)
            w->pop[w->tmp[i].k >> 32] += 1;
    nt = 0;
    for (size_t i = 0; i < n; i++)
        if (in_window(o, log->ev[i].ts))
            w->tmp[nt++] = (key){ pair(log->ev[i].user, 0), log->ev[i].ts, i };
    qsort(w->tmp, nt, sizeof *w->tmp, cmp_key); /* by user, then time: sessions below */
    for (size_t i = 0; i < nt; i++)
        window_users += i == 0 || w->tmp[i].k != w->tmp[i - 1].k;
    for (size_t it = 0; it < ni; it++)
        w->pop[it] = window_users ? w->pop[it] / (double)window_users : 0;

    /* per impression */
    for (size_t j = 0; j < nimp; j++) {
        const recsys__online_ev *e = &log->ev[w->imp[j]];
        int32_t g = w->grp[e->user];
        if (g < 0)
            continue;
        recsys__online_group *gr = &r->g[g];
        double *row = gr->u + (size_t)w->row[e->user] * RECSYS__ONLINE_NF;
        const outcome *oc = &w->out[j];
        row[RECSYS__ONLINE_F_IMPR] += 1;
        row[RECSYS__ONLINE_F_CLICK] += oc->click;
        row[RECSYS__ONLINE_F_CONV] += oc->conv;
        row[RECSYS__ONLINE_F_CART] += oc->cart;
        row[RECSYS__ONLINE_F_SKIP] += oc->skip;
        row[RECSYS__ONLINE_F_DWELL] += oc->dwell;
        row[RECSYS__ONLINE_F_POP] += w->pop[e->item];
        size_t p = e->pos < 0 || e->pos >= RECSYS__ONLINE_POS ? RECSYS__ONLINE_POS : (size_t)e->pos;
        gr->pos_impr[p]++;
        gr->pos_click[p] += oc->click;
        for (uint32_t k = 0; k < e->nsrc; k++)
            cut_add(&gr->by_src[log->srcv[e->src_at + k]], oc);
        if (e->ranker != RECSYS_IDS_NONE)
            cut_add(&gr->by_ranker[e->ranker], oc);
        w->mask[e->item] |= 1u << g;
    }
    for (size_t it = 0; it < ni; it++)
        for (size_t g = 0; g < o->ngroups; g++)
            r->g[g].items_shown += (w->mask[it] >> g) & 1;
    /* distinct requests per user and their LLM cost, read from the first impression of each
     * (by_req is sorted by request, then item), also per ranker */
    for (size_t k = 0; k < w->nreq; k++) {
        if (k && w->by_req[k].k >> 32 == w->by_req[k - 1].k >> 32)
            continue;
        const recsys__online_ev *e = &log->ev[w->imp[w->by_req[k].i]];
        if (w->grp[e->user] < 0)
            continue;
        recsys__online_group *gr = &r->g[w->grp[e->user]];
        double *row = gr->u + (size_t)w->row[e->user] * RECSYS__ONLINE_NF;
        row[RECSYS__ONLINE_F_REQ] += 1;
        row[RECSYS__ONLINE_F_LLM_CALLS] += e->llm_calls;
        row[RECSYS__ONLINE_F_LLM_TOKENS] += e->llm_tokens;
        row[RECSYS__ONLINE_F_LLM_COST] += e->llm_tokens / 1000.0 * o->llm_cost_per_1k;
        if (e->ranker != RECSYS_IDS_NONE) {
            recsys__online_cut *c = &gr->by_ranker[e->ranker];
            c->req++;
            c->llm_calls += e->llm_calls;
            c->llm_tokens += e->llm_tokens;
        }
    }
    /* sessions, the return proxy and revenue: each exposed user's events in time order */
    for (size_t i = 0; i < nt;) {
        uint32_t user = (uint32_t)(w->tmp[i].k >> 32);
        size_t end = i;
        while (end < nt && w->tmp[end].k == w->tmp[i].k)
            end++;
        int32_t g = w->grp[user] >= 0 && w->row[user] != UINT32_MAX ? w->grp[user] : -1;
        if (g >= 0) {
            double *row = r->g[g].u + (size_t)w->row[user] * RECSYS__ONLINE_NF;
            double sessions = 1, rev = 0;
            int64_t first_end = w->tmp[i].ts;
            bool returned = false;
            for (size_t k = i; k < end; k++) {
                const recsys__online_ev *e = &log->ev[w->tmp[k].i];
                if (k > i && e->ts - w->tmp[k - 1].ts > o->session_gap_s) {
                    if (sessions == 1)
                        returned = e->ts - first_end <= o->return_s;
                    sessions++;
                }
                if (sessions == 1)
                    first_end = e->ts;
                if (e->type == RECSYS_EVENT_PURCHASE)
                    rev += e->value != 0 ? e->value
                           : o->revenue ? o->revenue(o->revenue_arg,
                                                     recsys__ids_name(&log->items, e->item))
                                        : 0;
            }
            row[RECSYS__ONLINE_F_SESS] = sessions;
            row[RECSYS__ONLINE_F_RET] = returned;
            row[RECSYS__ONLINE_F_REV] = rev;
            row[RECSYS__ONLINE_F_ONE] = 1;
        }
        i = end;
    }
    for (size_t g = 0; g < o->ngroups; g++)
        for (size_t u = 0; u < r->g[g].nusers; u++)
            for (size_t f = 0; f < RECSYS__ONLINE_NF; f++)
                r->g[g].tot[f] += r->g[g].u[u * RECSYS__ONLINE_NF + f];
    return RECSYS_OK;
}

recsys_status recsys__online_compute(const recsys__online_log *log, const recsys__online_opts *o,
                                     recsys__online_result *out)
{
    memset(out, 0, sizeof *out);
    if (o->ngroups < 1 || o->ngroups > 32)
        return recsys__err(RECSYS_E_INVALID_ARG, "online metrics: %zu groups (1..32 expected)",
                           o->ngroups);
    if (o->window_s < 0 || o->session_gap_s < 0 || o->return_s < 0)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "online metrics: a window, session gap or return horizon is negative");
    if (!(o->llm_cost_per_1k >= 0) || !isfinite(o->llm_cost_per_1k))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "online metrics: the price of 1000 LLM tokens is not a finite number "
                           ">= 0");
    work w = { .m = log->mem };
    out->mem = log->mem;
    out->catalog_items = o->catalog_items;
    recsys_status st = compute(log, o, &w, out);
    work_free(&w);
    if (st != RECSYS_OK) {
        recsys__online_result_free(out);
        if (st == RECSYS_E_NOMEM)
            st = recsys__err(RECSYS_E_NOMEM, "out of memory computing online metrics");
    }
    return st;
}
