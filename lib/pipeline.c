/* pipeline.c - recsys_recommend: the one path a request travels, and nothing else.
 *
 *   1 context    the user (long-term and session state), the query, effective options
 *   2 retrieve   every enabled source (at once on up to retrieve.threads threads), each
 *                capped at its quota, while the retrieval budget lasts; merged in
 *                registration order with provenance
 *   3 filter     every enabled filter, in registration order
 *   4 rank       the ranker, then the order (only the top N when no diversifier runs)
 *   5 diversify  every enabled diversifier, then the top N
 *   6 LLM        budgeted listwise re-ranking of the top llm.rerank_n for cold users
 *                (lib/llm/rerank.h), then the business rules arranged again
 *   7 explain    grounded template explanations, or (explain.llm) the LLM's, each checked
 *                and replaced by the template when it fails (lib/llm/explain_llm.h)
 *   8 respond    the result; impressions logged with the request id
 *
 * Stages talk only through the recsys_query and recsys_candidates handed to them. The
 * engine's lock is held shared from stage 1 to 8, impression logging included (engine.h
 * explains the locking), except while the host's LLM runs: every ask of stages 1, 6 and 7
 * lets go of it around the host's complete() and takes it again after ("off the lock"
 * below: what the run keeps, what is read again, and how the list is checked against the
 * model as it is after the ask). A slow LLM therefore never holds up writers, nor, through
 * the writer-preferring lock, other requests. Cost when nothing changed meanwhile: one
 * unlock and lock per ask; when something did: requery (the user, rules, vectors) and the
 * filters run again over the top N and the ranked list.
 *
 * recsys__recommend_eligible (request.h) is the same run with a look at the eligible
 * candidates after stage 3, which may end it there (a conversation turn that will ask a
 * question needs only those, and one that answers gets its count and its result from one
 * run). */
#include "engine/request.h"
#include "core/clock.h"
#include "core/pool.h"
#include "llm/explain.h"
#include "llm/explain_llm.h"
#include "llm/intent.h"
#include "llm/rerank.h"
#include "model/context.h"
#include "retrieve/merge.h"
#include "filter/rules.h"
#include "rank/features.h"
#include "diversify/diversify.h"
#include <xxhash.h>

typedef struct src_job src_job;

typedef struct run {
    recsys_engine *e;
    const recsys_request *req;
    recsys_query q;
    double opt[RECSYS_OPT_SLOTS];
    uint32_t *exclude;
    uint32_t *include;
    float *user_vec;          /* q.user_vec when computed for this request (owned) */
    recsys__rule *rules;      /* q.rules (shallow copies, owned array) */
    size_t nshared;           /* of rules, the first nshared are the engine's (shallow) */
    char *intent_expr;        /* stage 1's reading of the query text as an expression (owned;
                                 the last rule), or NULL */
    float *rows;              /* "linear" learning: the candidates' feature rows (merged
                                 order), and rows_at[] the (item, row) pairs sorted by item */
    uint64_t *rows_at;
    size_t nrows;
    recsys__cand *ranked;     /* with rules: the ranked list stage 4 left, for the final
                                 arrangement's promotions and backfill */
    size_t nranked;
    const char *ranker;       /* the ranker stage 4 ran (ranker_name), or NULL */
    char ranker_name[RECSYS_PLUGIN_NAME_MAX];
    src_job *jobs;            /* one per enabled source (stage 2) */
    size_t njobs;
    const char **names;       /* enabled sources' names, by provenance index: copies, kept
                                 in the same block after the pointers (the plug-in table may
                                 change off the lock) */
    recsys_candidates *lists; /* one per enabled source */
    size_t nlists;
    size_t skipped;           /* sources skipped: the retrieval budget was spent */
    recsys_candidates c;      /* the merged set */
    char request_id[40];
    uint64_t stage_ns[9]; /* by recsys_stage */
    uint64_t explain_ns;  /* the explanations, inside respond */
    recsys__llm_budget llm;   /* the request's one LLM budget, shared by every stage that
                                 asks the LLM (1 intent, 6 re-rank, 7 explain): llm_budget() */
    bool llm_started;
    bool reranked;            /* stage 6 ran (its time is reported only then) */
    /* off the lock around the host's LLM (recsys_recommend only; see requery) */
    recsys__llm_unlock unlock;
    bool off_lock;            /* the LLM asks let go of the shared lock */
    uint64_t writes;          /* e->writes when the lock was let go */
    uint64_t forget_epoch;    /* e->forget_epoch then */
    bool moved;               /* the model changed while the lock was free: the list must be
                                 checked again (revalidate) */
    bool forgotten;           /* the request's user was forgotten meanwhile */
} run;

static double opt(const run *r, int32_t key)
{
    return r->opt[recsys__opt_slot(key)];
}

/* The request's LLM budget (calls, tokens, deadline), started at the first LLM use of the
 * request, so that the deadline bounds the LLM work and not the stages before it. Every
 * stage passes this one to recsys__llm_ask_run. */
static inline recsys__llm_budget *llm_budget(run *r)
{
    if (!r->llm_started) {
        recsys__llm_budget_init(&r->llm, r->opt);
        r->llm.unlock = r->off_lock ? &r->unlock : NULL;
        r->llm_started = true;
    }
    return &r->llm;
}

/* The registered LLM transport, or NULL (none, or disabled). The pointer stays valid across
 * the asks that let go of the lock: the LLM is one per engine, replaced in place in its
 * table (lib/engine/plugins.c), and the guard reads it again at each ask, under the lock. */
static inline const recsys_llm_vtable *llm_vtable(const run *r)
{
    const recsys__plugins *ps = &r->e->plugins[RECSYS_PLUGIN_LLM];
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i].enabled && ps->v[i].vt.llm.complete)
            return &ps->v[i].vt.llm;
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Keeps the feature rows of the shown list for the linear ranker's online learning. */
static recsys_status log_rows(run *r, const char *request_id)
{
    const recsys__mem *m = &r->e->mem;
    size_t n = r->c.n;
    uint32_t *items = recsys__alloc(m, (n ? n : 1) * sizeof *items);
    float *rows = recsys__alloc(m, (n ? n : 1) * RECSYS__NFEAT * sizeof *rows);
    recsys_status st = items && rows ? RECSYS_OK : RECSYS_E_NOMEM;
    size_t k = 0;
    for (size_t i = 0; st == RECSYS_OK && i < n; i++) {
        uint64_t key = (uint64_t)r->c.v[i].item << 32;
        size_t lo = 0, hi = r->nrows; /* the first pair of this item */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (r->rows_at[mid] < key)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == r->nrows || r->rows_at[lo] >> 32 != r->c.v[i].item)
            continue; /* not a candidate the ranker saw (a pinned item) */
        items[k] = r->c.v[i].item;
        memcpy(rows + k * RECSYS__NFEAT, r->rows + (uint32_t)r->rows_at[lo] * RECSYS__NFEAT,
               RECSYS__NFEAT * sizeof *rows);
        k++;
    }
    if (st == RECSYS_OK)
        st = recsys__featlog_put(&r->e->featlog, r->e->linear, r->opt, request_id, items, rows, k);
    recsys__free(m, items);
    recsys__free(m, rows);
    return st;
}

/* The catalog indices of ids (unknown ids left out: they cannot be recommended anyway) plus
 * extra (unless RECSYS_IDS_NONE), sorted, in *out (never NULL on success). */
static recsys_status item_indices(recsys_engine *e, char *const *ids, size_t n, uint32_t extra,
                                  uint32_t **out, size_t *nout)
{
    uint32_t *v = recsys__alloc(&e->mem, (n + 1) * sizeof *v);
    if (!v)
        return RECSYS_E_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t idx = recsys__catalog_find(&e->model.catalog, ids[i]);
        if (idx != RECSYS_IDS_NONE)
            v[k++] = idx;
    }
    if (extra != RECSYS_IDS_NONE)
        v[k++] = extra;
    qsort(v, k, sizeof *v, cmp_u32);
    *out = v;
    *nout = k;
    return RECSYS_OK;
}

/* The request's LLM budget for stage 1's intent reading, started only if it asks. */
static recsys__llm_budget *intent_budget(void *arg)
{
    return llm_budget(arg);
}

/* Stage 1: the request context. */
static recsys_status context(run *r)
{
    recsys_engine *e = r->e;
    const recsys_request *req = r->req;
    memcpy(r->opt, e->opts.num, sizeof r->opt);
    for (size_t i = 0; i < req->nover; i++)
        r->opt[recsys__opt_slot(req->over[i].key)] = req->over[i].num;
    recsys_query *q = &r->q;
    q->model = &e->model;
    q->derived = e->derived;
    q->user_id = req->user_id;
    q->user = req->user_id ? recsys__users_find(&e->model.users, req->user_id) : NULL;
    q->text = req->text;
    q->now = recsys__engine_now(e, r->opt);
    q->limit = (size_t)opt(r, RECSYS_OPT_CANDIDATES_PER_SOURCE);
    q->opt = r->opt;
    q->anchor = RECSYS_IDS_NONE;
    if (req->anchor) {
        q->anchor = recsys__catalog_find(&e->model.catalog, req->anchor);
        if (q->anchor == RECSYS_IDS_NONE)
            return recsys__err(RECSYS_E_NOT_FOUND, "anchor item '%.200s' is not in the catalog",
                               req->anchor);
    }
    recsys__engine_query_vectors(q); /* the user's vector: only for a ranker that reads it */
    RECSYS_TRY(recsys__engine_query_rules(e, req, &r->rules, &q->nrules));
    r->nshared = e->nrules;
    q->rules = r->rules;
    /* the query text's constraints (lib/llm/intent.h): one more FILTER rule (the LLM's ask,
     * if any, lets go of the lock: requery runs after it) */
    char *expr = NULL;
    RECSYS_TRY(recsys__intent_query_expr(&e->mem, e->llm_guard, q, llm_vtable(r), intent_budget,
                                         r, &expr));
    if (expr) {
        recsys_status st = recsys__engine_add_query_filter(e, expr, &r->rules, &q->nrules);
        if (st == RECSYS_OK)
            r->intent_expr = expr; /* for requery */
        else
            recsys__free(&e->mem, expr);
        if (st == RECSYS_E_NOMEM)
            return st;
        recsys__err_clear(); /* cannot happen (names come from the registry): read nothing */
    }
    q->rules = r->rules;
    if (r->moved) { /* the intent's ask let go of the lock: requery ran */
        r->moved = false; /* no list yet: nothing else to check */
        if (q->anchor != RECSYS_IDS_NONE && !recsys__catalog_get(&e->model.catalog, q->anchor))
            return recsys__err(RECSYS_E_NOT_FOUND,
                               "anchor item '%.200s' was removed while the request waited for "
                               "the LLM", req->anchor);
    }
    /* the exclusions: the request's own, and the anchor (never "similar to itself"); after
     * the intent's ask, so that an id upserted meanwhile is excluded too */
    if (req->nexclude || q->anchor != RECSYS_IDS_NONE) {
        RECSYS_TRY(item_indices(e, req->exclude, req->nexclude, q->anchor, &r->exclude,
                                &q->nexclude));
        q->exclude = r->exclude;
    }
    if (req->ninclude) { /* an allow list, even when none of its ids is known */
        RECSYS_TRY(item_indices(e, req->include, req->ninclude, RECSYS_IDS_NONE, &r->include,
                                &q->ninclude));
        q->include = r->include;
    }
    if (!req->id) {
        uint64_t seq = atomic_fetch_add(&e->request_seq, 1);
        uint64_t parts[3] = { e->seed, seq, recsys__clock_mono_ns() };
        snprintf(r->request_id, sizeof r->request_id, "r-%016" PRIx64,
                 XXH3_64bits(parts, sizeof parts));
    }
    return RECSYS_OK;
}

/* One source's part of stage 2, run on the calling thread or a pool helper. */
struct src_job {
    recsys__plugin *p;
    recsys_query q;          /* the request's, with this source's limit */
    recsys_candidates list;
    recsys_status st;
    bool ran;                /* false: skipped (budget spent, or an earlier source failed) */
    recsys__err_saved err;   /* the source's error, captured on the thread that ran it */
};

typedef struct src_batch {
    src_job *jobs;           /* by registration order */
    size_t *order;           /* the order jobs are claimed in */
    uint64_t t0, budget_ns;
    atomic_bool failed;
} src_batch;

/* Runs source job order[k] unless the budget is spent or a source already failed; keeps the
 * source's smoothed running time for the scheduling of later requests. */
static void run_source(void *arg, size_t k)
{
    src_batch *b = arg;
    src_job *j = &b->jobs[b->order[k]];
    uint64_t t = recsys__clock_mono_ns();
    if ((b->budget_ns && t - b->t0 >= b->budget_ns) ||
        atomic_load_explicit(&b->failed, memory_order_relaxed))
        return;
    j->ran = true;
    recsys__err_clear();
    recsys_status st = j->p->vt.source.retrieve(j->p->vt.source.ctx, &j->q, &j->list);
    if (st == RECSYS_E_BUDGET) { /* the source kept adding past its limit: the list is full */
        recsys__err_clear();
        st = RECSYS_OK;
    }
    j->st = st;
    if (st != RECSYS_OK) {
        recsys__err_save(&j->err);
        atomic_store_explicit(&b->failed, true, memory_order_relaxed);
    }
    uint64_t took = recsys__clock_mono_ns() - t;
    uint64_t old = atomic_load_explicit(&j->p->cost_ns, memory_order_relaxed);
    atomic_store_explicit(&j->p->cost_ns, old ? old - old / 8 + took / 8 : took,
                          memory_order_relaxed);
}

/* Stage 2: every enabled source, then the merge. With more than one thread
 * (RECSYS_OPT_RETRIEVE_THREADS) the sources run at once on the caller and the engine's pool,
 * the slowest (by smoothed running time) claimed first so that it does not start last; with
 * one, in registration order. The merge always takes the lists in registration order, so the
 * answer does not depend on the threads. */
static recsys_status retrieve(run *r)
{
    recsys_engine *e = r->e;
    const recsys__plugins *ps = &e->plugins[RECSYS_PLUGIN_SOURCE];
    size_t cap = ps->n ? ps->n : 1, nj = 0;
    r->jobs = recsys__calloc(&e->mem, cap, sizeof *r->jobs);
    r->lists = recsys__calloc(&e->mem, cap, sizeof *r->lists);
    r->names = recsys__calloc(&e->mem, cap, sizeof *r->names + RECSYS_PLUGIN_NAME_MAX);
    char *name_buf = r->names ? (char *)(r->names + cap) : NULL;
    double *w = recsys__calloc(&e->mem, cap, sizeof *w);
    size_t *order = recsys__calloc(&e->mem, cap, sizeof *order);
    recsys_status st = (r->jobs && r->lists && r->names && w && order) ? RECSYS_OK
                                                                        : RECSYS_E_NOMEM;
    size_t per_source = r->q.limit;
    for (size_t i = 0; st == RECSYS_OK && i < ps->n; i++) {
        recsys__plugin *p = &ps->v[i];
        if (!p->enabled)
            continue;
        src_job *j = &r->jobs[nj++];
        j->p = p;
        j->q = r->q;
        j->q.limit = p->quota ? p->quota : per_source;
        recsys__cands_init(&j->list, &e->mem, &j->q, j->q.limit);
    }
    r->njobs = nj;
    size_t width = (size_t)opt(r, RECSYS_OPT_RETRIEVE_THREADS);
    if (width == 0)
        width = RECSYS_MIN(recsys__pool_cpus(), 2);
    if (st == RECSYS_OK) {
        /* the claim order: registration order, or longest first (insertion sort: few) */
        for (size_t k = 0; k < nj; k++) {
            size_t at = k;
            uint64_t c = atomic_load_explicit(&r->jobs[k].p->cost_ns, memory_order_relaxed);
            while (width > 1 && at > 0 &&
                   atomic_load_explicit(&r->jobs[order[at - 1]].p->cost_ns,
                                        memory_order_relaxed) < c) {
                order[at] = order[at - 1];
                at--;
            }
            order[at] = k;
        }
        /* the budget is checked before each source starts: one running is not interrupted */
        src_batch b = { .jobs = r->jobs, .order = order };
        b.budget_ns = (uint64_t)opt(r, RECSYS_OPT_RETRIEVE_BUDGET_US) * 1000u;
        b.t0 = recsys__clock_mono_ns();
        atomic_init(&b.failed, false);
        recsys__pool_run(e->pool, nj, width, run_source, &b);
    }
    recsys__free(&e->mem, order);
    /* the lists of the sources that ran, in registration order; the first failure */
    for (size_t k = 0; k < nj; k++) {
        src_job *j = &r->jobs[k];
        if (st == RECSYS_OK && j->ran && j->st != RECSYS_OK) {
            recsys__err_restore(&j->err);
            st = recsys__plugin_failed(j->st, "source", j->p->name);
        }
        if (!j->ran) { /* the budget was spent (or the request fails anyway) */
            r->skipped++;
            continue;
        }
        r->lists[r->nlists] = j->list;
        memset(&j->list, 0, sizeof j->list); /* moved */
        char *name = name_buf + r->nlists * RECSYS_PLUGIN_NAME_MAX;
        memcpy(name, j->p->name, RECSYS_PLUGIN_NAME_MAX);
        r->names[r->nlists] = name;
        w[r->nlists] = j->p->weight;
        r->nlists++;
    }
    recsys__cands_init(&r->c, &e->mem, &r->q, 0);
    r->c.source_names = r->names;
    r->c.nsources = r->nlists;
    if (st == RECSYS_OK)
        st = recsys__merge(&r->c, r->lists, w, r->nlists);
    recsys__free(&e->mem, w);
    /* an item a rule pins is a candidate, so that the filters judge it like any other */
    for (size_t i = 0; st == RECSYS_OK && i < r->q.nrules; i++) {
        const recsys__rule *ru = &r->q.rules[i];
        uint32_t item = ru->kind == RECSYS_RULE_PIN && ru->item_id
                            ? recsys__catalog_find(&e->model.catalog, ru->item_id)
                            : RECSYS_IDS_NONE;
        size_t pos;
        if (item != RECSYS_IDS_NONE)
            st = recsys__cands_put(&r->c, item, &pos);
    }
    if (st == RECSYS_OK)
        recsys__cands_settle(&r->c);
    return st;
}

/* Every enabled filter on c (a set over r->q); dropped candidates go after each. */
static recsys_status filter_set(run *r, recsys_candidates *c)
{
    const recsys__plugins *ps = &r->e->plugins[RECSYS_PLUGIN_FILTER];
    for (size_t i = 0; i < ps->n; i++) {
        const recsys__plugin *p = &ps->v[i];
        if (!p->enabled || !c->n)
            continue;
        recsys_status st = p->vt.filter.apply(p->vt.filter.ctx, &r->q, c);
        if (st != RECSYS_OK)
            return recsys__plugin_failed(st, "filter", p->name);
        c->order_set = false; /* a filter may not reorder */
        recsys__cands_settle(c);
    }
    return RECSYS_OK;
}

/* Stage 3: every enabled filter. */
static recsys_status filter(run *r)
{
    return filter_set(r, &r->c);
}

/* Orders by score descending, ties by item id ascending (deterministic across runs). */
static int by_score(const void *a, const void *b, void *arg)
{
    const recsys__cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    const recsys__catalog *cat = arg;
    return strcmp(recsys__ids_name(&cat->ids, x->item), recsys__ids_name(&cat->ids, y->item));
}

/* Restores the heap below at: each parent is worse than (sorts after) its children. */
static void sift_worst_up(recsys__cand *v, size_t k, size_t at, void *cat)
{
    for (;;) {
        size_t worst = at, l = 2 * at + 1, rt = l + 1;
        if (l < k && by_score(&v[l], &v[worst], cat) > 0)
            worst = l;
        if (rt < k && by_score(&v[rt], &v[worst], cat) > 0)
            worst = rt;
        if (worst == at)
            return;
        recsys__cand t = v[at];
        v[at] = v[worst];
        v[worst] = t;
        at = worst;
    }
}

/* Moves the best k of v[0..n) (by_score order, a total order: ids are unique) to v[0..k),
 * unordered: a heap of the k kept with the worst of them at the root. O(n log k). */
static void select_top(recsys__cand *v, size_t n, size_t k, void *cat)
{
    for (size_t i = k / 2; i-- > 0;)
        sift_worst_up(v, k, i, cat);
    for (size_t i = k; i < n; i++) {
        if (by_score(&v[i], &v[0], cat) >= 0)
            continue; /* not better than the worst kept */
        recsys__cand t = v[0];
        v[0] = v[i];
        v[i] = t;
        sift_worst_up(v, k, 0, cat);
    }
}

/* Stage 4: the ranker, then the sort: all of it when a diversifier will choose among the
 * candidates, else only the top N that stage 5 keeps (the rest is cut there). */
static recsys_status rank(run *r)
{
    const recsys__plugins *ps = &r->e->plugins[RECSYS_PLUGIN_RANKER];
    const recsys__plugin *p = NULL; /* the request's choice, else the first enabled */
    for (size_t i = 0; i < ps->n && !p; i++)
        if (r->req->ranker ? !strcmp(ps->v[i].name, r->req->ranker) : ps->v[i].enabled)
            p = &ps->v[i];
    if (!p && r->req->ranker)
        return recsys__err(RECSYS_E_NOT_FOUND, "no ranker named '%.64s' is registered",
                           r->req->ranker);
    if (p) { /* named in the impressions (log_impressions); a copy: the table may change */
        memcpy(r->ranker_name, p->name, sizeof r->ranker_name);
        r->ranker = r->ranker_name;
    }
    bool learn = p && p->builtin && !strcmp(p->name, "linear") && r->c.n && r->req->user_id &&
                 opt(r, RECSYS_OPT_RANK_LINEAR_LEARN) != 0 &&
                 opt(r, RECSYS_OPT_LOG_IMPRESSIONS) != 0;
    if (p && r->c.n && (p->features || learn))
        RECSYS_TRY(recsys__engine_query_user_vector(r->e, &r->q, &r->user_vec));
    if (p && r->c.n) {
        recsys_status st = p->vt.ranker.score(p->vt.ranker.ctx, &r->q, &r->c);
        if (st != RECSYS_OK)
            return recsys__plugin_failed(st, "ranker", p->name);
    }
    /* the built-in "linear" learns online from the outcome of what it ranked: the rows of
     * the candidates as it saw them, kept for the shown ones (lib/rank/featlog.h) */
    if (learn) {
        size_t n = r->c.n;
        r->rows = recsys__alloc(&r->e->mem, n * RECSYS__NFEAT * sizeof *r->rows);
        r->rows_at = recsys__alloc(&r->e->mem, n * sizeof *r->rows_at);
        if (!r->rows || !r->rows_at)
            return RECSYS_E_NOMEM;
        RECSYS_TRY(recsys__features_compute(&r->q, &r->c, r->rows));
        for (size_t i = 0; i < n; i++)
            r->rows_at[i] = (uint64_t)r->c.v[i].item << 32 | i;
        qsort(r->rows_at, n, sizeof *r->rows_at, cmp_u64);
        r->nrows = n;
    }
    void *cat = (void *)&r->e->model.catalog;
    const recsys__rule *rules = r->q.rules;
    size_t nrules = r->q.nrules;
    recsys__expr_ctx x;
    recsys__expr_ctx_of_query(&r->q, &x);
    if (nrules)
        recsys__rules_boost(rules, nrules, &x, cat, r->c.v, r->c.n);
    size_t keep = r->c.n, top = (size_t)opt(r, RECSYS_OPT_TOP_N);
    const recsys__plugins *ds = &r->e->plugins[RECSYS_PLUGIN_DIVERSIFIER];
    /* everything is ordered when a diversifier chooses, or a pin or promotion may reach
     * below the top N; else only the top N */
    bool all = false;
    for (size_t i = 0; i < ds->n && !all; i++) /* the built-in's parts may all be off */
        all = ds->v[i].enabled &&
              (!ds->v[i].builtin || recsys__diversity_active(&r->q));
    for (size_t i = 0; i < nrules; i++)
        all |= rules[i].kind == RECSYS_RULE_PIN || rules[i].kind == RECSYS_RULE_PROMOTE;
    if (!all && top < keep) {
        select_top(r->c.v, r->c.n, top, cat);
        keep = top;
    }
    if (keep > 1)
        qsort_r(r->c.v, keep, sizeof *r->c.v, by_score, cat);
    if (nrules) {
        recsys__rules_bury(rules, nrules, &x, cat, r->c.v, keep);
        r->ranked = recsys__alloc(&r->e->mem, (keep ? keep : 1) * sizeof *r->ranked);
        if (!r->ranked)
            return RECSYS_E_NOMEM;
        if (keep) /* c.v may be NULL when nothing is left */
            memcpy(r->ranked, r->c.v, keep * sizeof *r->ranked);
        r->nranked = keep;
    }
    return RECSYS_OK;
}

/* The end of stage 5 when rules are in force (lib/filter/rules.h, recsys__rules_arrange):
 * the list the diversifiers chose, then the rest of stage 4's ranked list, is checked
 * against the hard rules again (a later stage may have changed it) and arranged into the top
 * N: pins at their positions, promotions' shares, buried items last, backfilled from the
 * ranked list when an item fails. */
static recsys_status arrange(run *r)
{
    if (!r->q.nrules)
        return RECSYS_OK;
    const recsys__mem *m = &r->e->mem;
    size_t top = (size_t)opt(r, RECSYS_OPT_TOP_N), n = r->c.n;
    recsys__cand *all = recsys__alloc(m, (n + r->nranked + 1) * sizeof *all);
    size_t *pos = recsys__alloc(m, (n + r->nranked + 1) * sizeof *pos);
    uint32_t *picked = recsys__alloc(m, (n + 1) * sizeof *picked);
    recsys_status st = all && pos && picked ? RECSYS_OK : RECSYS_E_NOMEM;
    size_t nall = 0, npos = 0;
    if (st == RECSYS_OK) {
        if (n) /* c.v may be NULL when nothing is left */
            memcpy(all, r->c.v, n * sizeof *all);
        for (size_t i = 0; i < n; i++)
            picked[i] = r->c.v[i].item;
        qsort(picked, n, sizeof *picked, cmp_u32);
        nall = n;
        for (size_t i = 0; i < r->nranked; i++)
            if (!recsys__sorted_has(picked, n, r->ranked[i].item))
                all[nall++] = r->ranked[i];
        recsys__expr_ctx x;
        recsys__expr_ctx_of_query(&r->q, &x);
        st = recsys__rules_arrange(r->q.rules, r->q.nrules, &x, &r->e->model.catalog,
                                   &all[0].item, nall, sizeof *all, top, pos, &npos);
    }
    if (st == RECSYS_OK) { /* c.v holds at least nranked >= npos entries */
        for (size_t j = 0; j < npos; j++)
            r->c.v[j] = all[pos[j]];
        r->c.n = npos;
    }
    recsys__free(m, all);
    recsys__free(m, pos);
    recsys__free(m, picked);
    return st;
}

/* ------------------------------------------------------------ off the lock
 *
 * Each ask to the host's LLM (stages 1, 6 and 7) lets go of the shared lock around the host's
 * complete() (lib/llm/guard.h, recsys__llm_unlock): run_leave, then run_enter. When no writer
 * held the lock meanwhile (e->writes unchanged) nothing changed and the run goes on as it
 * was. Else (r->moved) requery reads again everything the run pointed into, and the stage
 * that asked checks its list against the model as it is now (revalidate) before it is used.
 * What the run keeps across an ask, and why it stays valid:
 *   - item and user indices (the candidates, exclude/include, anchor, the ranked list):
 *     dense indices never change; a removed item reads as NULL (every reader checks);
 *   - its own copies: options, the sources' and the ranker's names, the feature rows, the
 *     request id, the intent expression, prompts and replies;
 *   - q.model: the engine's own model struct (its arrays are read through it each time);
 *   - read again by requery: q.user (by id; NULL once forgotten), q.derived and the vector
 *     and similarity hooks into it, q.user_vec (in the new space), q.rules (the engine's
 *     rules are shared, and may have been replaced: built again with the request's and the
 *     intent's).
 * A user forgotten meanwhile (recsys__engine_forgotten_since) fails the request before it
 * logs anything (forgotten_error). */

static void run_leave(void *arg)
{
    run *r = arg;
    r->writes = r->e->writes;
    r->forget_epoch = r->e->forget_epoch;
    recsys__unlock(r->e);
}

/* Reads again what the run points into (see above). RECSYS_E_NOMEM fails the request. */
static recsys_status requery(run *r)
{
    recsys_engine *e = r->e;
    recsys_query *q = &r->q;
    const char *uid = r->req->user_id;
    if (uid && recsys__engine_forgotten_since(e, r->forget_epoch, uid))
        r->forgotten = true;
    q->user = uid ? recsys__users_find(&e->model.users, uid) : NULL;
    q->derived = e->derived;
    bool had_vec = q->user_vec != NULL;
    recsys__free(&e->mem, r->user_vec);
    r->user_vec = NULL;
    q->user_vec = NULL;
    q->item_vec = NULL;
    q->vec_dim = 0;
    q->vec_ctx = NULL;
    q->item_sim = NULL;
    q->sim_ctx = NULL;
    recsys__engine_query_vectors(q);
    if (had_vec)
        RECSYS_TRY(recsys__engine_query_user_vector(e, q, &r->user_vec));
    recsys__engine_free_query_rules(e, r->rules, q->nrules, r->nshared);
    r->rules = NULL;
    q->rules = NULL;
    q->nrules = 0;
    RECSYS_TRY(recsys__engine_query_rules(e, r->req, &r->rules, &q->nrules));
    r->nshared = e->nrules;
    q->rules = r->rules;
    if (r->intent_expr) {
        recsys_status st = recsys__engine_add_query_filter(e, r->intent_expr, &r->rules,
                                                           &q->nrules);
        q->rules = r->rules;
        if (st == RECSYS_E_NOMEM)
            return st;
        recsys__err_clear(); /* bound before: attribute names are never forgotten */
    }
    return RECSYS_OK;
}

static recsys_status run_enter(void *arg)
{
    run *r = arg;
    recsys__rd(r->e);
    if (r->e->writes == r->writes)
        return RECSYS_OK;
    r->moved = true;
    return requery(r);
}

/* The failure of a request whose user was forgotten while it was off the lock: nothing of it
 * is logged (recsys_user_forget leaves no trace of the user in the store). */
static recsys_status forgotten_error(const run *r)
{
    return recsys__err(RECSYS_E_NOT_FOUND,
                       "user '%.200s' was forgotten (recsys_user_forget) while the request "
                       "waited for the LLM: nothing was logged",
                       r->req->user_id);
}

/* Keeps of r->ranked (the list the arrangement backfills from) the items every enabled
 * filter still passes, in order. O(ranked) plus the filters. */
static recsys_status refilter_ranked(run *r)
{
    const recsys__mem *m = &r->e->mem;
    const recsys__catalog *cat = &r->e->model.catalog;
    recsys_candidates s;
    recsys__cands_init(&s, m, &r->q, 0);
    recsys_status st = recsys__cands_reserve(&s, r->nranked);
    for (size_t i = 0; st == RECSYS_OK && i < r->nranked; i++)
        if (recsys__catalog_get(cat, r->ranked[i].item)) {
            size_t pos;
            st = recsys__cands_put(&s, r->ranked[i].item, &pos);
        }
    if (st == RECSYS_OK) {
        recsys__cands_settle(&s);
        st = filter_set(r, &s);
    }
    uint32_t *keep = st == RECSYS_OK ? recsys__alloc(m, (s.n + 1) * sizeof *keep) : NULL;
    if (st == RECSYS_OK && !keep)
        st = RECSYS_E_NOMEM;
    if (st == RECSYS_OK) {
        for (size_t i = 0; i < s.n; i++)
            keep[i] = s.v[i].item;
        qsort(keep, s.n, sizeof *keep, cmp_u32);
        size_t w = 0;
        for (size_t i = 0; i < r->nranked; i++)
            if (recsys__sorted_has(keep, s.n, r->ranked[i].item))
                r->ranked[w++] = r->ranked[i];
        r->nranked = w;
    }
    recsys__free(m, keep);
    recsys__cands_free(&s);
    return st;
}

/* After an ask let go of the lock and the model moved (r->moved): the list is checked
 * against the model as it is now. Items removed meanwhile go; every enabled filter runs again
 * on what is left (an item made unavailable, a new dislike or purchase, an attribute a rule
 * reads); the ranked list the arrangement backfills from is checked the same way; the rules
 * arrange the list again (pins, promotions, FILTER and BLOCK). The list may come out shorter
 * (without rules nothing backfills). O(N + ranked) plus the filters. */
static recsys_status revalidate(run *r)
{
    r->moved = false;
    const recsys__catalog *cat = &r->e->model.catalog;
    for (size_t i = 0; i < r->c.n; i++)
        if (!recsys__catalog_get(cat, r->c.v[i].item))
            RECSYS_TRY(recsys_candidates_drop(&r->c, i, "removed"));
    r->c.order_set = false;
    recsys__cands_settle(&r->c);
    RECSYS_TRY(filter(r));
    if (r->nranked)
        RECSYS_TRY(refilter_ranked(r));
    return arrange(r);
}

/* Stage 5: diversifiers choose and order; the list is cut to top N. */
static recsys_status diversify(run *r)
{
    size_t top = (size_t)opt(r, RECSYS_OPT_TOP_N);
    const recsys__plugins *ps = &r->e->plugins[RECSYS_PLUGIN_DIVERSIFIER];
    for (size_t i = 0; i < ps->n; i++) {
        const recsys__plugin *p = &ps->v[i];
        if (!p->enabled || !r->c.n)
            continue;
        r->c.order_set = false;
        recsys_status st = p->vt.diversifier.select(p->vt.diversifier.ctx, &r->q, &r->c, top);
        if (st != RECSYS_OK)
            return recsys__plugin_failed(st, "diversifier", p->name);
        for (size_t k = 0; k < r->c.n; k++) /* a diversifier may not drop: it orders */
            r->c.v[k].dropped = 0;
        recsys__cands_settle(&r->c);
    }
    if (r->c.n > top)
        r->c.n = top;
    return arrange(r);
}

/* Stage 6: the LLM re-ranks the first min(llm.rerank_n, N) items of the list stage 5 left,
 * when an LLM is registered and the user is routed to the LLM path (cold: llm.warm_events);
 * lib/llm/rerank.h has the windows, Borda count, blend and fallbacks. It only reorders the
 * items stage 5 chose, so no dropped item can come back; then the business rules arrange
 * the list again (pins back at their positions, promotions, buried items last, FILTER and
 * BLOCK re-checked), so no re-ranking can break a rule. The asks let go of the lock: when the
 * model moved meanwhile, the list is checked again (revalidate) after the new order. */
static recsys_status llm_rerank(run *r)
{
    size_t n = (size_t)opt(r, RECSYS_OPT_LLM_RERANK_N);
    if (n > r->c.n)
        n = r->c.n;
    const recsys_llm_vtable *vt = llm_vtable(r);
    if (n < 2 || !vt || !recsys__rerank_wanted(&r->q))
        return RECSYS_OK;
    r->reranked = true;
    const recsys__mem *m = &r->e->mem;
    uint32_t *items = recsys__alloc(m, n * sizeof *items);
    size_t *order = recsys__alloc(m, n * sizeof *order);
    recsys__cand *was = recsys__alloc(m, n * sizeof *was);
    recsys_status st = items && order && was ? RECSYS_OK : RECSYS_E_NOMEM;
    recsys__rerank_report rep;
    memset(&rep, 0, sizeof rep);
    if (st == RECSYS_OK) {
        for (size_t i = 0; i < n; i++)
            items[i] = r->c.v[i].item;
        recsys__llm_route route = { r->e->llm_guard, vt, llm_budget(r) };
        st = recsys__rerank(&route, &r->q, m, items, n, order, &rep);
    }
    if (st == RECSYS_OK && rep.used) {
        memcpy(was, r->c.v, n * sizeof *was);
        for (size_t j = 0; j < n; j++)
            r->c.v[j] = was[order[j]];
    }
    recsys__free(m, items);
    recsys__free(m, order);
    recsys__free(m, was);
    if (st == RECSYS_OK && r->moved)
        st = revalidate(r); /* arranges too */
    else if (st == RECSYS_OK && rep.used)
        st = arrange(r);
    return st;
}

/* Stage 7 with the LLM (explain.llm): one call writes the list's explanations, each checked
 * (lib/llm/explain_llm.h) after the ask, against the model as it is then; anything it cannot
 * vouch for gets the template. *out receives r->c.n explanations by position. When the model
 * moved during the ask the list is checked again (revalidate): the explanations follow their
 * items, and an item the arrangement brought in has none (text NULL: the caller writes its
 * template). */
static recsys_status explain_with_llm(run *r, const recsys_llm_vtable *vt,
                                      recsys__explanation **out)
{
    const recsys__mem *m = &r->e->mem;
    size_t n = r->c.n;
    *out = NULL;
    recsys__explanation *ex = recsys__calloc(m, n, sizeof *ex);
    uint32_t *items = ex ? recsys__alloc(m, n * sizeof *items) : NULL;
    if (!items) {
        recsys__free(m, ex);
        return RECSYS_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        items[i] = r->c.v[i].item;
    recsys_status st = recsys__explain_llm(m, r->e->llm_guard, vt, llm_budget(r), &r->q, &r->c,
                                           ex, NULL);
    recsys__explanation *nx = NULL;
    if (st == RECSYS_OK && r->moved) {
        st = revalidate(r);
        nx = st == RECSYS_OK ? recsys__calloc(m, r->c.n ? r->c.n : 1, sizeof *nx) : NULL;
        if (st == RECSYS_OK && !nx)
            st = RECSYS_E_NOMEM;
        for (size_t i = 0; st == RECSYS_OK && i < r->c.n; i++)
            for (size_t j = 0; j < n; j++)
                if (items[j] == r->c.v[i].item && ex[j].text) {
                    nx[i] = ex[j];
                    memset(&ex[j], 0, sizeof ex[j]);
                    break;
                }
        for (size_t j = 0; j < n; j++) /* those of items that went */
            recsys__explanation_free(m, &ex[j]);
        recsys__free(m, ex);
        ex = nx;
        n = r->c.n;
    }
    recsys__free(m, items);
    if (st != RECSYS_OK) {
        for (size_t i = 0; ex && i < n; i++)
            recsys__explanation_free(m, &ex[i]);
        recsys__free(m, ex);
        return st;
    }
    *out = ex;
    return RECSYS_OK;
}

/* Stages 7 and 8: explanations, and the result (copied: it outlives the lock). */
static recsys_status respond(run *r, recsys_result **out)
{
    const recsys__mem *m = &r->e->mem;
    const recsys__catalog *cat = &r->e->model.catalog;
    bool explain = opt(r, RECSYS_OPT_EXPLAIN) != 0;
    recsys_result *res = NULL;
    recsys_status st = RECSYS_OK;
    /* stage 7 with the LLM (explain.llm), before the result is sized: the list may change
     * (explain_with_llm). Like stage 6 it serves the users routed to the LLM path
     * (llm.warm_events). */
    recsys__explanation *llm_ex = NULL;
    size_t nllm = 0;
    const recsys_llm_vtable *llm = explain && r->c.n && opt(r, RECSYS_OPT_EXPLAIN_LLM) != 0 &&
                                           recsys__llm_user_cold(&r->q)
                                       ? llm_vtable(r)
                                       : NULL;
    if (llm) {
        uint64_t t0 = recsys__clock_mono_ns();
        st = explain_with_llm(r, llm, &llm_ex);
        nllm = r->c.n;
        r->explain_ns += recsys__clock_mono_ns() - t0;
        if (st == RECSYS_OK && r->forgotten)
            st = forgotten_error(r);
    }
    if (st == RECSYS_OK)
        st = recsys__result_new(m, r->c.n, &res);
    if (st == RECSYS_OK) {
        res->request_id = recsys__strdup(m, r->req->id ? r->req->id : r->request_id);
        if (!res->request_id)
            st = RECSYS_E_NOMEM;
    }
    for (size_t i = 0; st == RECSYS_OK && i < r->c.n; i++) {
        const recsys__cand *cd = &r->c.v[i];
        recsys__res_item *it = &res->items[i];
        it->score = cd->score;
        it->item_id = recsys__strdup(m, recsys__ids_name(&cat->ids, cd->item));
        it->src = recsys__calloc(m, cd->nprov ? cd->nprov : 1, sizeof *it->src);
        if (!it->item_id || !it->src) {
            st = RECSYS_E_NOMEM;
            break;
        }
        for (uint16_t k = 0; k < cd->nprov; k++) {
            const recsys__prov *p = &r->c.prov[cd->prov_off + k];
            it->src[k].name = recsys__strdup(m, r->names[p->source]);
            it->src[k].score = p->norm;
            if (!it->src[k].name) {
                st = RECSYS_E_NOMEM;
                break;
            }
            it->nsrc++;
        }
        if (st != RECSYS_OK || !explain)
            continue;
        recsys__explanation ex;
        memset(&ex, 0, sizeof ex);
        if (llm_ex && llm_ex[i].text) { /* written above: taken over */
            ex = llm_ex[i];
            memset(&llm_ex[i], 0, sizeof llm_ex[i]);
        } else {
            uint64_t t0 = recsys__clock_mono_ns();
            st = recsys__explain_template(m, &r->q, &r->c, i, &ex);
            r->explain_ns += recsys__clock_mono_ns() - t0;
        }
        if (st == RECSYS_OK) { /* move text and evidence into the result */
            it->explanation = ex.text;
            ex.text = NULL;
            it->ev = recsys__calloc(m, ex.nev ? ex.nev : 1, sizeof *it->ev);
            if (!it->ev)
                st = RECSYS_E_NOMEM;
            for (size_t k = 0; st == RECSYS_OK && k < ex.nev; k++) {
                it->ev[k].kind = ex.ev[k].kind;
                it->ev[k].name = ex.ev[k].name;
                it->ev[k].value = ex.ev[k].value;
                ex.ev[k].name = ex.ev[k].value = NULL;
                it->nev++;
            }
        }
        recsys__explanation_free(m, &ex);
    }
    for (size_t i = 0; llm_ex && i < nllm; i++) /* those a failure left behind */
        recsys__explanation_free(m, &llm_ex[i]);
    recsys__free(m, llm_ex);
    if (st != RECSYS_OK) {
        recsys__err_saved s;
        recsys__err_save(&s);
        recsys_result_free(res);
        recsys__err_restore(&s);
        return st;
    }
    *out = res;
    return RECSYS_OK;
}

/* Stage 8, after the lock: one impression per shown item, joined by the request id. */
/* Logs res's items as impressions. With group commit (a store with deferred appends) they
 * are written here and *ticket says what recsys_recommend waits for once it released the
 * shared lock, so that no request holds the lock through a flush; else *ticket stays 0 and
 * they are durable on return. Each names the sources that proposed its item (comma-separated,
 * in provenance order) and the ranker (NULL when none ran), for online cuts by source and
 * ranker, and carries the request's LLM calls and tokens, for the LLM cost per request
 * (lib/eval/online.c). */
static recsys_status log_impressions(recsys_engine *e, const recsys_result *res, const char *user,
                                     const char *ranker, int64_t now, uint64_t *ticket)
{
    size_t bytes = 0; /* the sources' texts, one buffer */
    for (size_t i = 0; i < res->n; i++)
        for (size_t k = 0; k < res->items[i].nsrc; k++)
            bytes += strlen(res->items[i].src[k].name) + 1;
    recsys_event *ev = recsys__alloc(&e->mem, res->n * sizeof *ev);
    char *text = ev ? recsys__alloc(&e->mem, bytes ? bytes : 1) : NULL;
    if (!text) {
        recsys__free(&e->mem, ev);
        return RECSYS_E_NOMEM;
    }
    char *at = text;
    uint64_t tokens = res->llm.prompt_tokens + res->llm.completion_tokens;
    for (size_t i = 0; i < res->n; i++) {
        const recsys__res_item *it = &res->items[i];
        recsys_event_init(&ev[i]);
        ev[i].ranker = ranker;
        ev[i].llm_calls = res->llm.calls > UINT32_MAX ? UINT32_MAX : (uint32_t)res->llm.calls;
        ev[i].llm_tokens = tokens > UINT32_MAX ? UINT32_MAX : (uint32_t)tokens;
        if (it->nsrc) {
            ev[i].sources = at;
            for (size_t k = 0; k < it->nsrc; k++) {
                size_t len = strlen(it->src[k].name);
                memcpy(at, it->src[k].name, len);
                at += len;
                *at++ = k + 1 < it->nsrc ? ',' : '\0';
            }
        }
        ev[i].type = RECSYS_EVENT_IMPRESSION;
        ev[i].timestamp = now;
        ev[i].user_id = user;
        ev[i].item_id = res->items[i].item_id;
        ev[i].request_id = res->request_id;
        ev[i].position = (int32_t)i;
    }
    recsys_status st = recsys__engine_store_group_commit(e)
                           ? recsys__engine_store_append_deferred(e, ev, res->n, ticket)
                           : recsys__engine_store_append(e, ev, res->n);
    if (st == RECSYS_OK)
        atomic_fetch_add(&e->impressions, res->n);
    recsys__free(&e->mem, text);
    recsys__free(&e->mem, ev);
    return st;
}

/* Remembers the shown list for the no-repeat rotation (RECSYS_OPT_FILTER_SHOWN_WINDOW_S). */
static recsys_status record_shown(run *r)
{
    uint32_t *items = recsys__alloc(&r->e->mem, r->c.n * sizeof *items);
    if (!items)
        return RECSYS_E_NOMEM;
    for (size_t i = 0; i < r->c.n; i++)
        items[i] = r->c.v[i].item;
    recsys_status st = recsys__shown_record(&r->e->model.shown, r->q.user->idx, items, r->c.n,
                                            r->q.now);
    recsys__free(&r->e->mem, items);
    return st;
}

static void run_free(run *r)
{
    const recsys__mem *m = &r->e->mem;
    for (size_t i = 0; i < r->nlists; i++)
        recsys__cands_free(&r->lists[i]);
    for (size_t i = 0; i < r->njobs; i++)
        if (r->jobs[i].list.mem) /* not moved to lists: skipped */
            recsys__cands_free(&r->jobs[i].list);
    recsys__free(m, r->jobs);
    recsys__free(m, r->lists);
    recsys__free(m, r->names);
    recsys__free(m, r->exclude);
    recsys__free(m, r->include);
    recsys__free(m, r->intent_expr);
    recsys__free(m, r->user_vec);
    recsys__engine_free_query_rules(r->e, r->rules, r->q.nrules, r->nshared);
    recsys__free(m, r->ranked);
    recsys__free(m, r->rows);
    recsys__free(m, r->rows_at);
    recsys__cands_free(&r->c);
}

/* Stages 1-3 for a caller that holds the lock shared (request.h). The run never lets go of
 * the caller's lock (off_lock false): its caller asks no LLM here (training requests carry
 * no text). */
recsys_status recsys__pipeline_candidates(recsys_engine *e, const recsys_request *req,
                                          recsys__candidates_fn fn, void *arg)
{
    run r;
    memset(&r, 0, sizeof r);
    r.e = e;
    r.req = req;
    recsys_status st = context(&r);
    if (st == RECSYS_OK)
        st = retrieve(&r);
    if (st == RECSYS_OK)
        st = filter(&r);
    if (st == RECSYS_OK) /* the caller computes features */
        st = recsys__engine_query_user_vector(e, &r.q, &r.user_vec);
    if (st == RECSYS_OK)
        st = fn(arg, &r.q, &r.c);
    run_free(&r);
    return st;
}

/* recsys_recommend, and recsys__recommend_eligible when fn is not NULL: fn sees the eligible
 * candidates after stage 3 (under the lock) and may end the run there (stopped: no result,
 * nothing logged, recorded or counted). */
static recsys_status recommend(recsys_engine *e, const recsys_request *req,
                               recsys__eligible_fn fn, void *arg, recsys_result **out)
{
    *out = NULL;
    bool stopped = false;
    run r;
    memset(&r, 0, sizeof r);
    r.e = e;
    r.req = req;
    r.off_lock = true; /* the LLM's asks let go of the lock (run_leave, run_enter) */
    r.unlock = (recsys__llm_unlock){ run_leave, run_enter, &r };
    recsys__rd(e);
    uint64_t t = recsys__clock_mono_ns(), t2;
#define STAGE(which, call)                                                                   \
    do {                                                                                     \
        if (st == RECSYS_OK && !stopped)                                                     \
            st = (call);                                                                     \
        if (st == RECSYS_OK && r.forgotten)                                                  \
            st = forgotten_error(&r);                                                        \
        t2 = recsys__clock_mono_ns();                                                        \
        r.stage_ns[which] = t2 - t;                                                          \
        t = t2;                                                                              \
    } while (0)
    recsys_status st = RECSYS_OK;
    recsys_result *res = NULL;
    STAGE(RECSYS_STAGE_CONTEXT, context(&r));
    STAGE(RECSYS_STAGE_RETRIEVE, retrieve(&r));
    STAGE(RECSYS_STAGE_FILTER, filter(&r));
    if (st == RECSYS_OK && fn) /* stopped: every stage below is skipped, res stays NULL */
        st = fn(arg, &r.c, &stopped);
    STAGE(RECSYS_STAGE_RANK, rank(&r));
    STAGE(RECSYS_STAGE_DIVERSIFY, diversify(&r));
    STAGE(RECSYS_STAGE_LLM, llm_rerank(&r));
    if (!r.reranked) /* the stage did not run: 0, as recsys_result_stage_ns documents */
        r.stage_ns[RECSYS_STAGE_LLM] = 0;
    STAGE(RECSYS_STAGE_RESPOND, respond(&r, &res));
    if (res) /* every LLM use of the request is behind it (stages 1, 6, 7) */
        res->llm = r.llm.used;
    /* Impressions are logged before the shared lock is released, so that a concurrent
     * recsys_user_forget (which takes the lock exclusively) cannot run between the answer
     * and its log and leave the forgotten user's id in the store; one that ran while the
     * request was off the lock (the LLM) failed it above (r.forgotten: nothing logged). */
    if (st == RECSYS_OK && res && r.nrows && res->n) /* res NULL: stopped after stage 3 */
        st = log_rows(&r, res->request_id);
    /* the no-repeat rotation remembers what a known user was shown while it is on */
    if (st == RECSYS_OK && res && r.q.user && r.c.n &&
        opt(&r, RECSYS_OPT_FILTER_SHOWN_WINDOW_S) > 0)
        st = record_shown(&r);
    bool log = opt(&r, RECSYS_OPT_LOG_IMPRESSIONS) != 0 && req->user_id;
    uint64_t ticket = 0;
    if (st == RECSYS_OK && log && res && res->n)
        st = log_impressions(e, res, req->user_id, r.ranker, r.q.now, &ticket);
    t2 = recsys__clock_mono_ns();
    r.stage_ns[RECSYS_STAGE_RESPOND] += t2 - t;
#undef STAGE
    /* the explanations ran inside respond: report them apart */
    r.stage_ns[RECSYS_STAGE_RESPOND] -= r.explain_ns;
    r.stage_ns[RECSYS_STAGE_EXPLAIN] = r.explain_ns;
    if (res) {
        memcpy(res->stage_ns, r.stage_ns, sizeof res->stage_ns);
        res->sources_skipped = r.skipped;
    }
    run_free(&r);
    recsys__unlock(e);
    if (st == RECSYS_OK && ticket) { /* group commit: the flush, outside every lock */
        st = recsys__engine_store_wait_durable(e, ticket);
        if (st != RECSYS_OK)
            recsys__err_prefix("the impressions were written but are not confirmed durable");
    }
    if (st != RECSYS_OK && res) {
        recsys__err_saved s;
        recsys__err_save(&s);
        recsys_result_free(res);
        recsys__err_restore(&s);
        return st;
    }
    if (st == RECSYS_OK && res) {
        atomic_fetch_add(&e->requests, 1);
        *out = res;
    }
    return st;
}

recsys_status recsys__recommend_eligible(recsys_engine *e, const recsys_request *req,
                                         recsys__eligible_fn fn, void *arg, recsys_result **out)
{
    return recommend(e, req, fn, arg, out);
}

RECSYS_API recsys_status recsys_recommend(recsys_engine *e, const recsys_request *req,
                                          recsys_result **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(req);
    RECSYS_CHECK_ARG(out);
    return recommend(e, req, NULL, NULL, out);
}
