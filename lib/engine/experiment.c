/* experiment.c - the public experiment and online-metrics calls (recsys.h, group
 * "experiments") over lib/experiment (definitions, assignment, statistics) and
 * lib/eval/online (attribution and metrics).
 *
 * Definitions live in e->experiments under the engine's lock (shared to read, exclusive to
 * change). When the store keeps blobs they are saved as one JSON array in the blob
 * "experiments" and loaded by the first experiment call of a later engine (lazily, so that
 * engine creation is not slowed or failed by them); a store without blobs keeps them for
 * the engine's life only (assignment needs no state, so the host redefining them at start
 * gives every user the same arm again). A saved array that cannot be read makes every
 * experiment call fail with RECSYS_E_CORRUPT (no experiment runs on a guess) until
 * recsys_experiment_remove(e, NULL) drops them all; the damaged bytes are then kept in the
 * blob "experiments.damaged" for the host to inspect.
 *
 * Reports copy what they need under the shared lock (the definition, the options, the
 * catalog size), then scan the store's events under the store mutex only, and compute with
 * no lock held, so a long report never blocks feedback or requests.
 */
#include "blobs.h"
#include "request.h"
#include "../core/utf8.h"
#include "../eval/online.h"
#include "../experiment/experiment.h"
#include <jansson.h>

#define BLOB_NAME "experiments"
#define DAMAGED_BLOB "experiments.damaged"
#define WAY_OUT "; recsys_experiment_remove(engine, NULL) drops every saved definition"
#define REPORT_SEED 0x6f6e6c696e65ull /* "online": every report's bootstrap seed is this ^ salt */

struct recsys__experiments {
    recsys__experiment *v;
    size_t n, cap;
    bool loaded;
};

static void free_set(const recsys__mem *m, struct recsys__experiments *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->n; i++)
        recsys__exp_free(m, &x->v[i]);
    recsys__free(m, x->v);
    recsys__free(m, x);
}

void recsys__engine_free_experiments(recsys_engine *e)
{
    free_set(&e->mem, e->experiments);
    e->experiments = NULL;
}

static recsys__experiment *find(recsys_engine *e, const char *name)
{
    struct recsys__experiments *x = e->experiments;
    for (size_t i = 0; x && i < x->n; i++)
        if (!strcmp(x->v[i].name, name))
            return &x->v[i];
    return NULL;
}

/* Checks the names a definition brings (they appear in reports and messages). */
static recsys_status check_names(const recsys__experiment *x)
{
    RECSYS_TRY(recsys__engine_check_name(x->name, "experiment"));
    for (size_t i = 0; i < x->narms; i++)
        RECSYS_TRY(recsys__engine_check_name(x->arms[i].name, "experiment arm"));
    return RECSYS_OK;
}

/* Parses the saved array into x (the caller holds the lock exclusively). */
static recsys_status load_saved(recsys_engine *e, struct recsys__experiments *x)
{
    void *data = NULL;
    size_t len = 0;
    recsys_status st = recsys__engine_blob_get(e, BLOB_NAME, &data, &len);
    if (st == RECSYS_E_NOT_FOUND) {
        recsys__err_clear();
        return RECSYS_OK;
    }
    RECSYS_TRY(st);
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    recsys__free(&e->mem, data);
    if (!json_is_array(root)) {
        json_decref(root);
        return recsys__err(RECSYS_E_CORRUPT, "the saved experiments (blob '%s') are not a JSON "
                           "array" WAY_OUT, BLOB_NAME);
    }
    for (size_t i = 0; st == RECSYS_OK && i < json_array_size(root); i++) {
        char *text = json_dumps(json_array_get(root, i), JSON_COMPACT);
        st = text ? RECSYS_GROW(&e->mem, x->v, x->cap, x->n + 1) : RECSYS_E_NOMEM;
        if (st == RECSYS_OK)
            st = recsys__exp_parse(&e->mem, text, strlen(text), RECSYS__EXP_JSON_MAX, &x->v[x->n]);
        if (st == RECSYS_OK && (st = check_names(&x->v[x->n])) != RECSYS_OK)
            recsys__exp_free(&e->mem, &x->v[x->n]);
        if (st == RECSYS_OK)
            x->n++;
        else if (st != RECSYS_E_NOMEM)
            st = RECSYS_E_CORRUPT;
        free(text);
    }
    json_decref(root);
    if (st == RECSYS_E_CORRUPT)
        recsys__err_prefix("loading the saved experiments (every experiment call fails until "
                           "recsys_experiment_remove(engine, NULL) drops them)");
    else if (st != RECSYS_OK)
        recsys__err_prefix("loading the saved experiments");
    return st;
}

/* Makes sure e->experiments exists and holds the saved definitions. Takes and releases the
 * lock exclusively when they are not loaded yet. */
static recsys_status ensure_loaded(recsys_engine *e)
{
    recsys__rd(e);
    bool ok = e->experiments && e->experiments->loaded;
    recsys__unlock(e);
    if (ok)
        return RECSYS_OK;
    recsys_status st = RECSYS_OK;
    recsys__wr(e);
    if (!e->experiments || !e->experiments->loaded) {
        struct recsys__experiments *x = recsys__calloc(&e->mem, 1, sizeof *x);
        st = x ? load_saved(e, x) : RECSYS_E_NOMEM;
        if (st == RECSYS_OK) {
            x->loaded = true;
            e->experiments = x;
        } else {
            free_set(&e->mem, x);
        }
    }
    recsys__unlock(e);
    return st == RECSYS_E_NOMEM && recsys__err_status() != RECSYS_E_NOMEM
               ? recsys__err(RECSYS_E_NOMEM, "out of memory loading the experiments")
               : st;
}

/* Saves x's definitions to the blob (nothing when the store keeps none). Lock held
 * exclusively. */
static recsys_status save(recsys_engine *e, const struct recsys__experiments *x)
{
    if (!recsys__engine_has_blobs(e))
        return RECSYS_OK;
    size_t len = 2;
    for (size_t i = 0; i < x->n; i++)
        len += strlen(x->v[i].json) + 1;
    char *text = recsys__alloc(&e->mem, len + 1);
    if (!text)
        return RECSYS_E_NOMEM;
    size_t w = 0;
    text[w++] = '[';
    for (size_t i = 0; i < x->n; i++) {
        if (i)
            text[w++] = ',';
        size_t n = strlen(x->v[i].json);
        memcpy(text + w, x->v[i].json, n);
        w += n;
    }
    text[w++] = ']';
    text[w] = '\0';
    recsys_status st = recsys__engine_blob_put(e, BLOB_NAME, text, w);
    recsys__free(&e->mem, text);
    return st;
}

RECSYS_API recsys_status recsys_experiment_set(recsys_engine *e, const char *json, size_t len)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(json);
    RECSYS_TRY(ensure_loaded(e));
    recsys__experiment def;
    RECSYS_TRY(recsys__exp_parse(&e->mem, json, len, recsys__engine_json_limit(e), &def));
    recsys_status st = check_names(&def);
    if (st != RECSYS_OK) {
        recsys__exp_free(&e->mem, &def);
        return st;
    }
    recsys__wr(e);
    struct recsys__experiments *x = e->experiments;
    recsys__experiment *old = find(e, def.name);
    if (old) { /* swap in, save, swap back on failure */
        recsys__experiment prev = *old;
        *old = def;
        st = save(e, x);
        if (st == RECSYS_OK) {
            def = prev;
        } else {
            *old = prev;
        }
    } else {
        st = RECSYS_GROW(&e->mem, x->v, x->cap, x->n + 1);
        if (st == RECSYS_OK) {
            x->v[x->n++] = def;
            st = save(e, x);
            if (st == RECSYS_OK)
                memset(&def, 0, sizeof def);
            else
                x->n--;
        }
    }
    recsys__unlock(e);
    recsys__exp_free(&e->mem, &def); /* the replaced one, or the new one on failure */
    return st;
}

/* recsys_experiment_remove(e, NULL): every definition goes, the saved ones too, even when
 * they cannot be read (then their bytes move to DAMAGED_BLOB first). */
static recsys_status remove_all(recsys_engine *e)
{
    struct recsys__experiments *empty = recsys__calloc(&e->mem, 1, sizeof *empty);
    if (!empty)
        return recsys__err(RECSYS_E_NOMEM, "out of memory removing the experiments");
    empty->loaded = true;
    recsys_status st = RECSYS_OK;
    recsys__wr(e);
    if (recsys__engine_has_blobs(e)) {
        void *data = NULL;
        size_t len = 0;
        st = recsys__engine_blob_get(e, BLOB_NAME, &data, &len);
        if (st == RECSYS_E_NOT_FOUND) {
            recsys__err_clear();
            st = RECSYS_OK;
        } else if (st == RECSYS_OK) {
            struct recsys__experiments *probe = recsys__calloc(&e->mem, 1, sizeof *probe);
            st = probe ? load_saved(e, probe) : RECSYS_E_NOMEM;
            free_set(&e->mem, probe);
            if (st == RECSYS_E_CORRUPT) /* kept for the host before it is overwritten */
                st = recsys__engine_blob_put(e, DAMAGED_BLOB, data, len);
            if (st == RECSYS_OK)
                st = recsys__engine_blob_put(e, BLOB_NAME, "[]", 2);
        }
        recsys__free(&e->mem, data);
    }
    if (st == RECSYS_OK) {
        free_set(&e->mem, e->experiments);
        e->experiments = empty;
        empty = NULL;
    }
    recsys__unlock(e);
    free_set(&e->mem, empty);
    if (st == RECSYS_OK)
        recsys__err_clear();
    return st;
}

RECSYS_API recsys_status recsys_experiment_remove(recsys_engine *e, const char *name)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    if (!name)
        return remove_all(e);
    RECSYS_TRY(ensure_loaded(e));
    recsys__wr(e);
    struct recsys__experiments *x = e->experiments;
    recsys__experiment *at = find(e, name);
    recsys_status st = RECSYS_OK;
    if (!at) {
        st = recsys__err(RECSYS_E_NOT_FOUND, "no experiment named '%.80s'", name);
    } else {
        size_t i = (size_t)(at - x->v);
        recsys__experiment gone = *at;
        memmove(&x->v[i], &x->v[i + 1], (x->n - i - 1) * sizeof *x->v);
        x->n--;
        st = save(e, x);
        if (st == RECSYS_OK) {
            recsys__exp_free(&e->mem, &gone);
        } else { /* put it back where it was */
            memmove(&x->v[i + 1], &x->v[i], (x->n - i) * sizeof *x->v);
            x->v[i] = gone;
            x->n++;
        }
    }
    recsys__unlock(e);
    return st;
}

RECSYS_API recsys_status recsys_experiment_get_json(recsys_engine *e, const char *name, char **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(name);
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    RECSYS_TRY(ensure_loaded(e));
    recsys_status st = RECSYS_OK;
    recsys__rd(e);
    const recsys__experiment *x = find(e, name);
    if (!x)
        st = recsys__err(RECSYS_E_NOT_FOUND, "no experiment named '%.80s'", name);
    else if (!(*out = recsys__hoststr(&e->mem, x->json, strlen(x->json))))
        st = recsys__err(RECSYS_E_NOMEM, "out of memory copying an experiment");
    recsys__unlock(e);
    return st;
}

/* The arm's name for an assignment result. */
static const char *arm_name(const recsys__experiment *x, int arm)
{
    return arm >= 0 ? x->arms[arm].name : arm == RECSYS__EXP_HOLDOUT ? "holdout" : "";
}

RECSYS_API recsys_status recsys_experiment_assign(recsys_engine *e, const char *name,
                                                  const char *user_id, char *arm, size_t cap,
                                                  size_t *needed)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(name);
    RECSYS_CHECK_ARG(user_id);
    RECSYS_CHECK_ARG(arm);
    if (!user_id[0])
        return recsys__err(RECSYS_E_INVALID_ARG, "user_id is empty");
    RECSYS_TRY(recsys__check_text(user_id, RECSYS_ID_MAX_BYTES, "user_id"));
    RECSYS_TRY(ensure_loaded(e));
    recsys_status st = RECSYS_OK;
    recsys__rd(e);
    const recsys__experiment *x = find(e, name);
    if (!x) {
        st = recsys__err(RECSYS_E_NOT_FOUND, "no experiment named '%.80s'", name);
    } else {
        const char *a = arm_name(x, recsys__exp_assign(x, user_id));
        size_t n = strlen(a) + 1;
        if (needed)
            *needed = n;
        if (n > cap)
            st = recsys__err(RECSYS_E_TOO_SMALL, "the arm name needs %zu bytes, the buffer has %zu",
                             n, cap);
        else
            memcpy(arm, a, n);
    }
    recsys__unlock(e);
    return st;
}

RECSYS_API recsys_status recsys_experiment_recommend(recsys_engine *e, const char *name,
                                                     const recsys_request *req,
                                                     recsys_result **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(name);
    RECSYS_CHECK_ARG(req);
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    RECSYS_TRY(ensure_loaded(e));
    /* under the lock: the arm's overrides merged over the request's, and its ranker, copied
     * (a concurrent recsys_experiment_set may free the definition once the lock is gone) */
    recsys_request copy = *req;
    recsys__optover *over = NULL;
    char *ranker = NULL, *xname = NULL, *arm_name = NULL;
    recsys_status st = RECSYS_OK;
    recsys__rd(e);
    const recsys__experiment *x = find(e, name);
    int a = x && req->user_id ? recsys__exp_assign(x, req->user_id) : RECSYS__EXP_OUT;
    if (x) {
        xname = recsys__strdup(&e->mem, x->name);
        arm_name = recsys__strdup(&e->mem, a >= 0 ? x->arms[a].name
                                           : a == RECSYS__EXP_HOLDOUT ? "holdout" : "");
        if (!xname || !arm_name)
            st = RECSYS_E_NOMEM;
    }
    if (!x) {
        st = recsys__err(RECSYS_E_NOT_FOUND, "no experiment named '%.80s'", name);
    } else if (st != RECSYS_OK) {
        /* out of memory: reported below */
    } else if (a >= 0) { /* an arm, the control included: its overrides and ranker */
        const recsys__exp_arm *arm = &x->arms[a];
        over = recsys__alloc(&e->mem, (req->nover + arm->nover + 1) * sizeof *over);
        if (arm->ranker && !(ranker = recsys__strdup(&e->mem, arm->ranker)))
            st = RECSYS_E_NOMEM;
        if (!over)
            st = RECSYS_E_NOMEM;
        if (st == RECSYS_OK) {
            size_t n = req->nover;
            if (n)
                memcpy(over, req->over, n * sizeof *over);
            for (size_t i = 0; i < arm->nover; i++) {
                size_t k = 0;
                while (k < n && over[k].key != arm->over[i].key)
                    k++;
                over[k] = arm->over[i];
                n += k == n;
            }
            copy.over = over;
            copy.nover = copy.capover = n;
            if (ranker)
                copy.ranker = ranker;
        }
    }
    recsys__unlock(e);
    if (st == RECSYS_OK)
        st = recsys_recommend(e, &copy, out);
    if (st == RECSYS_OK) { /* the result owns the names from here */
        (*out)->experiment = xname;
        (*out)->arm = arm_name;
        xname = arm_name = NULL;
    } else if (st == RECSYS_E_NOMEM && recsys__err_status() != RECSYS_E_NOMEM)
        st = recsys__err(RECSYS_E_NOMEM, "out of memory applying an experiment arm");
    recsys__free(&e->mem, over);
    recsys__free(&e->mem, ranker);
    recsys__free(&e->mem, xname);
    recsys__free(&e->mem, arm_name);
    return st;
}

/* ---------------------------------------------------------------- reports */

typedef struct scan {
    recsys__online_log log;
    recsys_status st;
} scan;

static recsys_status visit(void *arg, const recsys_event *ev)
{
    scan *s = arg;
    s->st = recsys__online_log_add(&s->log, ev);
    return s->st;
}

/* Reads every event of the store into s->log (store mutex only). */
static recsys_status read_log(recsys_engine *e, scan *s)
{
    recsys__online_log_init(&s->log, &e->mem);
    s->st = RECSYS_OK;
    pthread_mutex_lock(&e->store_mu);
    recsys_status st = e->store.scan_events(e->store.ctx, visit, s);
    pthread_mutex_unlock(&e->store_mu);
    if (st != RECSYS_OK) {
        if (s->st != RECSYS_OK) /* ours: out of memory copying the log */
            st = recsys__err(s->st, "out of memory reading the event log");
        else
            st = recsys__plugin_failed(st, "store", "scan_events");
    }
    return st;
}

/* What a report reads from the engine under the shared lock. */
typedef struct report_cfg {
    int64_t window_s, session_gap_s, return_s;
    size_t reps;
    double level, alpha;
    char attr[128]; /* the revenue attribute, "" = none */
    size_t catalog_items;
    double llm_price; /* of 1000 LLM tokens */
    uint64_t requests, llm_calls, llm_tokens;
} report_cfg;

static double optnum(const recsys_engine *e, int32_t key)
{
    return e->opts.num[recsys__opt_slot(key)];
}

static void read_cfg(recsys_engine *e, report_cfg *c)
{
    c->window_s = (int64_t)optnum(e, RECSYS_OPT_ONLINE_ATTRIBUTION_WINDOW_S);
    c->session_gap_s = (int64_t)optnum(e, RECSYS_OPT_SESSION_GAP_S);
    c->return_s = (int64_t)optnum(e, RECSYS_OPT_ONLINE_RETURN_DAYS) * 86400;
    c->reps = (size_t)optnum(e, RECSYS_OPT_EXPERIMENT_BOOTSTRAP);
    c->level = optnum(e, RECSYS_OPT_EXPERIMENT_CONFIDENCE);
    c->alpha = optnum(e, RECSYS_OPT_EXPERIMENT_SRM_ALPHA);
    const char *attr = e->opts.str[recsys__opt_slot(RECSYS_OPT_ONLINE_REVENUE_ATTRIBUTE)];
    snprintf(c->attr, sizeof c->attr, "%s", attr ? attr : "");
    c->catalog_items = e->model.catalog.live;
    c->llm_price = optnum(e, RECSYS_OPT_ONLINE_LLM_COST_PER_1K_TOKENS);
    c->requests = atomic_load(&e->requests);
    recsys__llm_counters lc;
    recsys__llm_counters_get(e->llm_guard, &lc);
    c->llm_calls = lc.calls;
    c->llm_tokens = lc.prompt_tokens + lc.completion_tokens;
}

typedef struct revenue_arg {
    recsys_engine *e;
    const char *attr;
} revenue_arg;

/* A purchase's revenue from the item's numeric attribute (0 when absent). */
static double revenue_of(void *arg, const char *item_id)
{
    revenue_arg *r = arg;
    double v = 0;
    recsys__rd(r->e);
    const recsys_item *it =
        recsys__catalog_get(&r->e->model.catalog, recsys__catalog_find(&r->e->model.catalog, item_id));
    const recsys__attr *a = it ? recsys__item_attr(it, r->attr) : NULL;
    if (a && a->type == RECSYS__ATTR_NUM)
        v = a->num;
    recsys__unlock(r->e);
    return v;
}

/* jansson reports allocation failure as NULL / -1: every add is checked through bad. */
static void put(json_t *o, const char *k, json_t *v, int *bad)
{
    if (!v || json_object_set_new(o, k, v))
        *bad = 1;
}

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* The cuts by source or by ranker: [{"name", "impressions", "clicks", "ctr", "conversion",
 * "add_to_cart", "skip_rate", "dwell_per_impression"}] in the order the names first appear in the log, names without impressions
 * in this group left out; a ranker's also {"requests", "llm_calls_per_request",
 * "llm_tokens_per_request", "llm_cost_per_request"} (price: of 1000 tokens). */
static json_t *cuts_json(const recsys__ids *names, const recsys__online_cut *cut, size_t n,
                         bool ranker, double price, int *bad)
{
    json_t *arr = json_array();
    if (!arr) {
        *bad = 1;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const recsys__online_cut *c = &cut[i];
        if (!c->impr)
            continue;
        json_t *e = json_object();
        if (!e || json_array_append_new(arr, e)) {
            *bad = 1;
            continue;
        }
        double d = (double)c->impr;
        put(e, "name", json_string(recsys__ids_name(names, (uint32_t)i)), bad);
        put(e, "impressions", json_integer((json_int_t)c->impr), bad);
        put(e, "clicks", json_integer((json_int_t)c->click), bad);
        put(e, "ctr", num((double)c->click / d), bad);
        put(e, "conversion", num((double)c->conv / d), bad);
        put(e, "add_to_cart", num((double)c->cart / d), bad);
        put(e, "skip_rate", num((double)c->skip / d), bad);
        put(e, "dwell_per_impression", num(c->dwell / d), bad);
        if (!ranker)
            continue;
        double q = (double)c->req;
        put(e, "requests", json_integer((json_int_t)c->req), bad);
        put(e, "llm_calls_per_request", q ? num((double)c->llm_calls / q) : json_null(), bad);
        put(e, "llm_tokens_per_request", q ? num((double)c->llm_tokens / q) : json_null(), bad);
        put(e, "llm_cost_per_request",
            q ? num((double)c->llm_tokens / 1000.0 * price / q) : json_null(), bad);
    }
    return arr;
}

static json_t *group_json(const recsys__online_result *r, const recsys__online_group *g,
                          double price, int *bad)
{
    json_t *o = json_object(), *m = json_object(), *pos = json_array();
    if (!o || !m || !pos) {
        json_decref(o);
        json_decref(m);
        json_decref(pos);
        *bad = 1;
        return NULL;
    }
    put(o, "users", json_integer((json_int_t)g->nusers), bad);
    put(o, "impressions", json_integer((json_int_t)g->tot[RECSYS__ONLINE_F_IMPR]), bad);
    put(o, "clicks", json_integer((json_int_t)g->tot[RECSYS__ONLINE_F_CLICK]), bad);
    put(o, "coverage", num(recsys__online_coverage(r, g)), bad);
    for (size_t j = 0; j < recsys__online_nmetrics; j++)
        put(m, recsys__online_metrics[j].name, num(recsys__online_value(g, j)), bad);
    put(o, "metrics", m, bad);
    for (size_t p = 0; p <= RECSYS__ONLINE_POS; p++) {
        if (!g->pos_impr[p])
            continue;
        json_t *e = json_object();
        if (!e || json_array_append_new(pos, e)) {
            *bad = 1;
            continue;
        }
        put(e, "position", p < RECSYS__ONLINE_POS ? json_integer((json_int_t)p)
                                                   : json_string("20+"), bad);
        put(e, "impressions", json_integer((json_int_t)g->pos_impr[p]), bad);
        put(e, "ctr", num((double)g->pos_click[p] / (double)g->pos_impr[p]), bad);
    }
    put(o, "by_position", pos, bad);
    put(o, "by_source", cuts_json(r->src_names, g->by_src, r->nsrc, false, price, bad), bad);
    put(o, "by_ranker", cuts_json(r->ranker_names, g->by_ranker, r->nranker, true, price, bad),
        bad);
    return o;
}

static void common_json(json_t *root, const recsys__online_result *r, const report_cfg *c,
                        int *bad)
{
    json_t *at = json_object(), *llm = json_object();
    if (!at || !llm) {
        json_decref(at);
        json_decref(llm);
        *bad = 1;
        return;
    }
    put(at, "feedback", json_integer((json_int_t)r->feedback), bad);
    put(at, "by_request_id", json_integer((json_int_t)r->by_request), bad);
    put(at, "by_window", json_integer((json_int_t)r->by_time), bad);
    put(at, "unattributed", json_integer((json_int_t)r->unattributed), bad);
    put(at, "window_s", json_integer((json_int_t)c->window_s), bad);
    put(root, "attribution", at, bad);
    put(llm, "requests", json_integer((json_int_t)c->requests), bad);
    put(llm, "calls_per_request", c->requests ? num((double)c->llm_calls / (double)c->requests)
                                              : json_null(), bad);
    put(llm, "tokens_per_request", c->requests ? num((double)c->llm_tokens / (double)c->requests)
                                               : json_null(), bad);
    put(root, "llm", llm, bad);
}

/* Hands the JSON to the host (recsys_string_free) and frees root. */
static recsys_status finish(recsys_engine *e, json_t *root, int bad, char **out)
{
    char *text = bad ? NULL : json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (text) {
        *out = recsys__hoststr(&e->mem, text, strlen(text));
        free(text); /* jansson's allocation */
    }
    return *out ? RECSYS_OK : recsys__err(RECSYS_E_NOMEM, "out of memory writing a report");
}

static int group_of_user(void *arg, const char *user_id)
{
    const recsys__experiment *x = arg;
    int a = recsys__exp_assign(x, user_id);
    return a >= 0 ? a : a == RECSYS__EXP_HOLDOUT ? (int)x->narms : -1;
}

static recsys_status build_report(recsys_engine *e, const recsys__experiment *x,
                                  const report_cfg *c, const recsys__online_result *r,
                                  char **out)
{
    size_t ng = r->ngroups, nm = recsys__online_nmetrics;
    double share[RECSYS__EXP_ARMS_MAX + 1], lo[16], hi[16];
    uint64_t seen[RECSYS__EXP_ARMS_MAX + 1];
    recsys__exp_shares(x, share);
    int bad = 0;
    json_t *root = json_object(), *arms = json_array(), *cmp = json_array(), *srm = json_object();
    if (!root || !arms || !cmp || !srm) {
        json_decref(root);
        json_decref(arms);
        json_decref(cmp);
        json_decref(srm);
        return recsys__err(RECSYS_E_NOMEM, "out of memory writing a report");
    }
    put(root, "experiment", json_string(x->name), &bad);
    put(root, "control", json_string(x->arms[0].name), &bad);
    size_t users = 0;
    for (size_t g = 0; g < ng; g++)
        users += r->g[g].nusers;
    put(root, "users", json_integer((json_int_t)users), &bad);
    for (size_t g = 0; g < ng; g++) {
        json_t *a = group_json(r, &r->g[g], c->llm_price, &bad);
        if (!a)
            continue;
        put(a, "name", json_string(g < x->narms ? x->arms[g].name : "holdout"), &bad);
        put(a, "share_expected", num(share[g]), &bad);
        put(a, "share_observed", users ? num((double)r->g[g].nusers / (double)users) : json_null(),
            &bad);
        if (json_array_append_new(arms, a))
            bad = 1;
        seen[g] = r->g[g].nusers;
    }
    put(root, "arms", arms, &bad);
    int num_f[16], den_f[16];
    for (size_t j = 0; j < nm; j++) {
        num_f[j] = recsys__online_metrics[j].num;
        den_f[j] = recsys__online_metrics[j].den;
    }
    recsys_status st = RECSYS_OK;
    uint64_t seed = REPORT_SEED ^ x->seed;
    for (size_t g = 1; st == RECSYS_OK && g < ng; g++) {
        const recsys__online_group *a = &r->g[0], *b = &r->g[g];
        st = recsys__stat_ratio_ci(&e->mem, a->u, a->nusers, b->u, b->nusers, RECSYS__ONLINE_NF,
                                   num_f, den_f, nm, c->reps, c->level, seed, lo, hi);
        for (size_t j = 0; st == RECSYS_OK && j < nm; j++) {
            json_t *o = json_object();
            if (!o || json_array_append_new(cmp, o)) {
                bad = 1;
                break;
            }
            double va = recsys__online_value(a, j), vb = recsys__online_value(b, j);
            put(o, "arm", json_string(g < x->narms ? x->arms[g].name : "holdout"), &bad);
            put(o, "metric", json_string(recsys__online_metrics[j].name), &bad);
            put(o, "control_value", num(va), &bad);
            put(o, "value", num(vb), &bad);
            put(o, "diff", num(vb - va), &bad);
            put(o, "rel_diff", va != 0 ? num((vb - va) / va) : json_null(), &bad);
            put(o, "ci_low", num(lo[j]), &bad);
            put(o, "ci_high", num(hi[j]), &bad);
            put(o, "significant", json_boolean(lo[j] > 0 || hi[j] < 0), &bad);
        }
    }
    put(root, "comparisons", cmp, &bad);
    double chi2, p;
    recsys__stat_srm(seen, share, ng, &chi2, &p);
    put(srm, "chi2", num(chi2), &bad);
    put(srm, "p", num(p), &bad);
    put(srm, "alpha", num(c->alpha), &bad);
    put(srm, "pass", json_boolean(p >= c->alpha), &bad);
    put(root, "srm", srm, &bad);
    put(root, "method", json_string(c->reps ? "bootstrap" : "delta"), &bad);
    put(root, "confidence", num(c->level), &bad);
    put(root, "bootstrap", json_integer((json_int_t)c->reps), &bad);
    put(root, "seed", json_integer((json_int_t)(seed & INT64_MAX)), &bad);
    common_json(root, r, c, &bad);
    if (st != RECSYS_OK) {
        json_decref(root);
        return st;
    }
    return finish(e, root, bad, out);
}

RECSYS_API recsys_status recsys_experiment_report_json(recsys_engine *e, const char *name,
                                                       char **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(name);
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    RECSYS_TRY(ensure_loaded(e));
    recsys__experiment x;
    report_cfg c;
    recsys_status st = RECSYS_OK;
    recsys__rd(e);
    const recsys__experiment *def = find(e, name);
    if (!def)
        st = recsys__err(RECSYS_E_NOT_FOUND, "no experiment named '%.80s'", name);
    else /* a private copy: the definition may be replaced once the lock is released */
        st = recsys__exp_parse(&e->mem, def->json, strlen(def->json), RECSYS__EXP_JSON_MAX, &x);
    read_cfg(e, &c);
    recsys__unlock(e);
    RECSYS_TRY(st);
    scan s;
    st = read_log(e, &s);
    recsys__online_result r = { 0 };
    revenue_arg ra = { e, c.attr };
    recsys__online_opts o = {
        .from = x.start, .to = x.end, .window_s = c.window_s, .session_gap_s = c.session_gap_s,
        .return_s = c.return_s, .ngroups = x.narms + (x.holdout ? 1 : 0),
        .group = group_of_user, .group_arg = &x, .revenue = c.attr[0] ? revenue_of : NULL,
        .revenue_arg = &ra, .catalog_items = c.catalog_items, .llm_cost_per_1k = c.llm_price,
    };
    if (st == RECSYS_OK)
        st = recsys__online_compute(&s.log, &o, &r);
    if (st == RECSYS_OK)
        st = build_report(e, &x, &c, &r, out);
    recsys__online_result_free(&r);
    recsys__online_log_free(&s.log);
    recsys__exp_free(&e->mem, &x);
    return st;
}

RECSYS_API recsys_status recsys_online_metrics_json(recsys_engine *e, int64_t from, int64_t to,
                                                    char **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    if (from < 0 || (to != 0 && to <= from))
        return recsys__err(RECSYS_E_INVALID_ARG, "the window [%" PRId64 ", %" PRId64 ") is empty "
                           "or negative (to 0 = open)", from, to);
    report_cfg c;
    recsys__rd(e);
    read_cfg(e, &c);
    recsys__unlock(e);
    scan s;
    recsys_status st = read_log(e, &s);
    recsys__online_result r = { 0 };
    revenue_arg ra = { e, c.attr };
    recsys__online_opts o = {
        .from = from, .to = to, .window_s = c.window_s, .session_gap_s = c.session_gap_s,
        .return_s = c.return_s, .ngroups = 1, .revenue = c.attr[0] ? revenue_of : NULL,
        .revenue_arg = &ra, .catalog_items = c.catalog_items, .llm_cost_per_1k = c.llm_price,
    };
    if (st == RECSYS_OK)
        st = recsys__online_compute(&s.log, &o, &r);
    if (st == RECSYS_OK) {
        int bad = 0;
        json_t *root = group_json(&r, &r.g[0], c.llm_price, &bad);
        if (root) {
            put(root, "from", json_integer((json_int_t)from), &bad);
            put(root, "to", json_integer((json_int_t)to), &bad);
            common_json(root, &r, &c, &bad);
            st = finish(e, root, bad, out);
        } else {
            st = recsys__err(RECSYS_E_NOMEM, "out of memory writing a report");
        }
    }
    recsys__online_result_free(&r);
    recsys__online_log_free(&s.log);
    return st;
}

/* ---------------------------------------------------------------- interleaving */

/* Checks one ranking: no NULL id, no repeat (O(n^2) strcmp: n <= RECSYS_INTERLEAVE_MAX). */
static recsys_status check_ranking(const char *const *v, size_t n, const char *which)
{
    if (n && !v)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_interleave: list %s is NULL with %zu "
                           "items", which, n);
    if (n > RECSYS_INTERLEAVE_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_interleave: list %s has %zu items (at "
                           "most %d)", which, n, RECSYS_INTERLEAVE_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!v[i])
            return recsys__err(RECSYS_E_INVALID_ARG, "recsys_interleave: list %s item %zu is "
                               "NULL", which, i);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(v[i], v[j]))
                return recsys__err(RECSYS_E_INVALID_ARG, "recsys_interleave: list %s repeats "
                                   "'%.80s' (items %zu and %zu)", which, v[i], j, i);
    }
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_interleave(const char *const *a, size_t na, const char *const *b,
                                           size_t nb, size_t k, uint64_t seed, const char **out,
                                           uint8_t *team, size_t *n)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(n);
    *n = 0;
    RECSYS_TRY(check_ranking(a, na, "a"));
    RECSYS_TRY(check_ranking(b, nb, "b"));
    if (k > na + nb)
        k = na + nb; /* no list is longer than both together */
    if (k && (!out || !team))
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_interleave: out or team is NULL");
    /* exact keys: a's item i is i; b's item j is the index of the same id in a, else na + j
     * (one block of the default allocator: there is no engine here) */
    const recsys__mem *m = &recsys__mem_default;
    uint64_t *ka = recsys__alloc(m, (na + nb + k + 1) * sizeof *ka);
    if (!ka)
        return recsys__err(RECSYS_E_NOMEM, "recsys_interleave: out of memory");
    uint64_t *kb = ka + na, *ko = kb + nb; /* not before the check: NULL + na is undefined */
    for (size_t i = 0; i < na; i++)
        ka[i] = i;
    for (size_t j = 0; j < nb; j++) {
        kb[j] = na + j;
        for (size_t i = 0; i < na; i++)
            if (!strcmp(b[j], a[i])) {
                kb[j] = i;
                break;
            }
    }
    size_t got = 0;
    recsys__interleave_team_draft(ka, na, kb, nb, k, seed, ko, team, &got);
    for (size_t i = 0; i < got; i++)
        out[i] = ko[i] < na ? a[ko[i]] : b[ko[i] - na];
    *n = got;
    recsys__free(m, ka);
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_interleave_test(uint64_t wins_a, uint64_t wins_b, double *p)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(p);
    *p = recsys__stat_sign_test(wins_a, wins_b);
    return RECSYS_OK;
}
