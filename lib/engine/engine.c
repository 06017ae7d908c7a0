/* engine.c - engine lifecycle (create, load from the store, free), options and counters. */
#include "engine.h"
#include "../core/abi.h"
#include "../core/clock.h"
#include "../store/store.h"

/* ------------------------------------------------------------ store access */

recsys_status recsys__plugin_failed(recsys_status st, const char *what, const char *name)
{
    if (st == RECSYS_OK || st > RECSYS_E_EXISTS)
        st = RECSYS_E_CALLBACK;
    recsys__err_saved s;
    recsys__err_save(&s);
    if (s.msg[0])
        return recsys__err(st, "%s '%s': %s", what, name, s.msg);
    return recsys__err(st, "%s '%s' failed (%s)", what, name, recsys_status_str(st));
}

static recsys_status store_result(recsys_status st, const char *op)
{
    return st == RECSYS_OK ? st : recsys__plugin_failed(st, "store", op);
}

recsys_status recsys__engine_store_put(recsys_engine *e, int32_t kind, const char *key, const char *data,
                                size_t len)
{
    pthread_mutex_lock(&e->store_mu);
    recsys_status st = e->store.put(e->store.ctx, kind, key, data, len);
    pthread_mutex_unlock(&e->store_mu);
    return store_result(st, "put");
}

recsys_status recsys__engine_store_remove(recsys_engine *e, int32_t kind, const char *key)
{
    pthread_mutex_lock(&e->store_mu);
    recsys_status st = e->store.remove(e->store.ctx, kind, key);
    pthread_mutex_unlock(&e->store_mu);
    return store_result(st, "remove");
}

recsys_status recsys__engine_store_append(recsys_engine *e, const recsys_event *ev, size_t n)
{
    /* a 0.1 host store indexes the array with 0.1's size: the events in that layout (their
     * sources and ranker, which it could not keep anyway, left out) */
    const size_t size01 = offsetof(recsys_event, sources);
    unsigned char *old = NULL;
    if (e->store_events_01 && n) {
        old = recsys__alloc(&e->mem, n * size01);
        if (!old)
            return RECSYS_E_NOMEM;
        for (size_t i = 0; i < n; i++) {
            memcpy(old + i * size01, &ev[i], size01);
            uint32_t size = (uint32_t)size01;
            memcpy(old + i * size01, &size, sizeof size);
        }
    }
    pthread_mutex_lock(&e->store_mu);
    recsys_status st = e->store.append_events(e->store.ctx,
                                              old ? (const recsys_event *)(void *)old : ev, n);
    pthread_mutex_unlock(&e->store_mu);
    recsys__free(&e->mem, old);
    return store_result(st, "append_events");
}

bool recsys__engine_store_group_commit(const recsys_engine *e)
{
    /* e->store is set once by recsys_engine_new; a 0.1-sized host vtable has both NULL */
    return e->store.append_events_deferred && e->store.wait_durable;
}

recsys_status recsys__engine_store_append_deferred(recsys_engine *e, const recsys_event *ev,
                                                   size_t n, uint64_t *ticket)
{
    *ticket = 0;
    pthread_mutex_lock(&e->store_mu);
    recsys_status st = e->store.append_events_deferred(e->store.ctx, ev, n, ticket);
    pthread_mutex_unlock(&e->store_mu);
    return store_result(st, "append_events_deferred");
}

recsys_status recsys__engine_store_wait_durable(recsys_engine *e, uint64_t ticket)
{
    /* no lock: the one store method that runs concurrently (recsys.h) */
    return store_result(e->store.wait_durable(e->store.ctx, ticket), "wait_durable");
}

/* ------------------------------------------------------------ options */

int64_t recsys__engine_now(const recsys_engine *e, const double *opt)
{
    (void)e;
    double now = opt[recsys__opt_slot(RECSYS_OPT_NOW)];
    return now > 0 ? (int64_t)now : recsys__clock_now();
}

void recsys__engine_sync_model_opts(recsys_engine *e)
{
    const double *o = e->opts.num;
    e->model.long_half_life_s = o[recsys__opt_slot(RECSYS_OPT_LONG_HALF_LIFE_DAYS)] * 86400.0;
    e->model.pop_half_life_s = o[recsys__opt_slot(RECSYS_OPT_POPULAR_HALF_LIFE_DAYS)] * 86400.0;
    e->model.trend_half_life_s = o[recsys__opt_slot(RECSYS_OPT_TRENDING_HALF_LIFE_H)] * 3600.0;
    e->model.history_max = (size_t)o[recsys__opt_slot(RECSYS_OPT_HISTORY_MAX)];
}

/* Options whose value shapes state kept incrementally: changing one rebuilds that state. */
static bool shapes_counters(int32_t key)
{
    return key == RECSYS_OPT_POPULAR_HALF_LIFE_DAYS || key == RECSYS_OPT_TRENDING_HALF_LIFE_H;
}

static recsys_status set_num(recsys_engine *e, int32_t key, int32_t type, double v)
{
    int slot = -1;
    RECSYS_TRY(recsys__opt_check_num(key, type, v, &slot));
    recsys__wr(e);
    double old = e->opts.num[slot];
    e->opts.num[slot] = v;
    recsys__engine_sync_model_opts(e);
    recsys_status st = RECSYS_OK;
    if (shapes_counters(key) && old != v) {
        /* the item counters were accumulated with the old half-life: rebuild them from the
         * store with the new one, or keep everything as it was */
        recsys__counters c;
        uint64_t impressions = 0;
        st = recsys__engine_recount(e, NULL, &c, &impressions);
        if (st == RECSYS_OK) {
            recsys__counters_swap(&e->model, &c);
            atomic_store(&e->impressions, impressions);
            recsys__counters_free(&e->mem, &c);
        } else {
            e->opts.num[slot] = old;
            recsys__engine_sync_model_opts(e);
        }
    }
    recsys__unlock(e);
    return st;
}

/* Reads a numeric option. An int option reads as either type (exactly); a double option only
 * as a double (an int read would truncate it). */
static recsys_status get_num(recsys_engine *e, int32_t key, int32_t type, double *v)
{
    int slot = recsys__opt_slot(key);
    if (slot < 0)
        return recsys__err(RECSYS_E_UNSUPPORTED, "option %" PRId32 " is unknown to librecsys %s",
                           key, RECSYS_VERSION_STRING);
    int32_t have = recsys__optdefs[slot].type;
    if (have == RECSYS_OPTTYPE_STR || (have == RECSYS_OPTTYPE_DOUBLE && type == RECSYS_OPTTYPE_INT))
        return recsys__err(RECSYS_E_INVALID_ARG, "option %" PRId32 " (%s) is of type %s, not %s",
                           key, recsys__optdefs[slot].name,
                           have == RECSYS_OPTTYPE_STR ? "string" : "double",
                           type == RECSYS_OPTTYPE_INT ? "int" : "double");
    recsys__rd(e);
    *v = e->opts.num[slot];
    recsys__unlock(e);
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_engine_set_int(recsys_engine *e, int32_t key, int64_t value)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    return set_num(e, key, RECSYS_OPTTYPE_INT, (double)value);
}

RECSYS_API recsys_status recsys_engine_get_int(recsys_engine *e, int32_t key, int64_t *out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(out);
    double v;
    RECSYS_TRY(get_num(e, key, RECSYS_OPTTYPE_INT, &v));
    *out = (int64_t)v;
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_engine_set_double(recsys_engine *e, int32_t key, double value)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    return set_num(e, key, RECSYS_OPTTYPE_DOUBLE, value);
}

RECSYS_API recsys_status recsys_engine_get_double(recsys_engine *e, int32_t key, double *out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(out);
    return get_num(e, key, RECSYS_OPTTYPE_DOUBLE, out);
}

RECSYS_API recsys_status recsys_engine_set_str(recsys_engine *e, int32_t key, const char *value)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    int slot = -1;
    RECSYS_TRY(recsys__opt_check_str(key, value, &slot));
    char *copy = recsys__strdup(&e->mem, value);
    if (!copy)
        return RECSYS_E_NOMEM;
    recsys__wr(e);
    char *old = e->opts.str[slot];
    e->opts.str[slot] = copy;
    recsys__unlock(e);
    recsys__free(&e->mem, old);
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_engine_get_str(recsys_engine *e, int32_t key, char *buf, size_t cap,
                                               size_t *needed)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(needed);
    int slot = recsys__opt_slot(key);
    if (slot < 0)
        return recsys__err(RECSYS_E_UNSUPPORTED, "option %" PRId32 " is unknown", key);
    if (recsys__optdefs[slot].type != RECSYS_OPTTYPE_STR)
        return recsys__err(RECSYS_E_INVALID_ARG, "option %" PRId32 " (%s) is not a string option",
                           key, recsys__optdefs[slot].name);
    recsys__rd(e);
    const char *v = e->opts.str[slot] ? e->opts.str[slot]
                    : (recsys__optdefs[slot].def_str ? recsys__optdefs[slot].def_str : "");
    size_t n = strlen(v) + 1;
    *needed = n;
    recsys_status st = RECSYS_OK;
    if (!buf || cap < n)
        st = recsys__err(RECSYS_E_TOO_SMALL, "option %s needs %zu bytes, buffer has %zu",
                         recsys__optdefs[slot].name, n, buf ? cap : (size_t)0);
    else
        memcpy(buf, v, n);
    recsys__unlock(e);
    return st;
}

RECSYS_API recsys_status recsys_engine_count(recsys_engine *e, int32_t counter, uint64_t *out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(out);
    recsys__rd(e);
    recsys_status st = RECSYS_OK;
    switch (counter) {
    case RECSYS_COUNT_ITEMS: *out = e->model.catalog.live; break;
    case RECSYS_COUNT_USERS: *out = e->model.users.live; break;
    case RECSYS_COUNT_EVENTS: *out = e->model.nevents + atomic_load(&e->impressions); break;
    case RECSYS_COUNT_REQUESTS: *out = atomic_load(&e->requests); break;
    default: st = recsys__err(RECSYS_E_INVALID_ARG, "unknown counter %" PRId32, counter);
    }
    recsys__unlock(e);
    return st;
}

/* ------------------------------------------------------------ loading from the store */

static recsys_status load_item(void *arg, int32_t kind, const char *key, const void *data,
                               size_t len)
{
    recsys_engine *e = arg;
    (void)kind;
    recsys__items_vec v = { 0 };
    recsys_status st = recsys__json_parse_items(&e->mem, data, len, SIZE_MAX, &v);
    if (st == RECSYS_OK && (v.n != 1 || strcmp(v.v[0]->id, key) != 0))
        st = recsys__err(RECSYS_E_CORRUPT, "stored item '%.200s' does not hold that item", key);
    if (st == RECSYS_OK) {
        recsys_item *old = NULL;
        st = recsys__catalog_put(&e->model.catalog, v.v[0], &old);
        if (st == RECSYS_OK) {
            v.v[0] = NULL;
            recsys__item_free(&e->mem, old);
        }
    } else if (st == RECSYS_E_INVALID_ARG) {
        recsys__err_prefix("stored item");
        st = recsys__err(RECSYS_E_CORRUPT, "%s", recsys_last_error());
    }
    recsys__items_vec_free(&e->mem, &v);
    return st;
}

/* Drops list entries naming items that no longer exist (a profile stored before an item was
 * removed), so that loading never fails on them. */
void recsys__engine_prune_profile(const recsys__mem *m, const recsys__catalog *c, recsys__profile *p)
{
    for (int l = 1; l <= 3; l++) {
        uint32_t w = 0;
        for (uint32_t i = 0; i < p->nlist_ids[l]; i++) {
            if (recsys__catalog_find(c, p->list_ids[l][i]) != RECSYS_IDS_NONE)
                p->list_ids[l][w++] = p->list_ids[l][i];
            else
                recsys__free(m, p->list_ids[l][i]);
        }
        p->nlist_ids[l] = w;
    }
}

static recsys_status load_user(void *arg, int32_t kind, const char *key, const void *data,
                               size_t len)
{
    recsys_engine *e = arg;
    (void)kind;
    recsys__profiles_vec v = { 0 };
    recsys_status st = recsys__json_parse_profiles(&e->mem, data, len, SIZE_MAX, &v);
    if (st == RECSYS_OK && (v.n != 1 || strcmp(v.v[0].id, key) != 0))
        st = recsys__err(RECSYS_E_CORRUPT, "stored user '%.200s' does not hold that user", key);
    if (st == RECSYS_OK) {
        recsys__engine_prune_profile(&e->mem, &e->model.catalog, &v.v[0]);
        st = recsys__users_apply_profile(&e->model.users, &e->model.catalog, &v.v[0]);
    } else if (st == RECSYS_E_INVALID_ARG) {
        recsys__err_prefix("stored user");
        st = recsys__err(RECSYS_E_CORRUPT, "%s", recsys_last_error());
    }
    recsys__profiles_vec_free(&e->mem, &v);
    return st;
}

static recsys_status load_event(void *arg, const recsys_event *ev)
{
    recsys_engine *e = arg;
    if (ev->type == RECSYS_EVENT_IMPRESSION) {
        atomic_fetch_add(&e->impressions, 1);
        return RECSYS_OK;
    }
    return recsys__model_replay_event(&e->model, ev);
}

typedef struct recount {
    const recsys__model *model;
    recsys__counters *c;
    const char *skip;
    uint64_t impressions;
} recount;

static recsys_status recount_event(void *arg, const recsys_event *ev)
{
    recount *r = arg;
    if (ev->type == RECSYS_EVENT_IMPRESSION) {
        if (!r->skip || !ev->user_id || strcmp(ev->user_id, r->skip) != 0)
            r->impressions++;
        return RECSYS_OK;
    }
    recsys__counters_add(r->model, r->c, ev, r->skip);
    return RECSYS_OK;
}

recsys_status recsys__engine_recount(recsys_engine *e, const char *skip_user, recsys__counters *c,
                                     uint64_t *impressions)
{
    RECSYS_TRY(recsys__counters_init(&e->mem, e->model.catalog.ids.n, c));
    recount rc = { &e->model, c, skip_user, 0 };
    pthread_mutex_lock(&e->store_mu);
    recsys_status st = e->store.scan_events(e->store.ctx, recount_event, &rc);
    pthread_mutex_unlock(&e->store_mu);
    if (st != RECSYS_OK) {
        st = recsys__plugin_failed(st, "store", "scan_events");
        recsys__counters_free(&e->mem, c);
        return st;
    }
    *impressions = rc.impressions;
    return RECSYS_OK;
}

static recsys_status load(recsys_engine *e)
{
    recsys_status st = e->store.scan_records(e->store.ctx, RECSYS_RECORD_ITEM, load_item, e);
    if (st == RECSYS_OK)
        st = e->store.scan_records(e->store.ctx, RECSYS_RECORD_USER, load_user, e);
    if (st == RECSYS_OK)
        st = recsys__engine_load_campaigns(e);
    if (st == RECSYS_OK)
        st = recsys__engine_load_rules(e);
    if (st == RECSYS_OK)
        st = e->store.scan_events(e->store.ctx, load_event, e);
    if (st != RECSYS_OK)
        return recsys__plugin_failed(st, "store", "load");
    return RECSYS_OK;
}

/* ------------------------------------------------------------ lifecycle */

RECSYS_API void recsys_engine_opts_init(recsys_engine_opts *opts)
{
    recsys__err_clear();
    if (opts) {
        memset(opts, 0, sizeof *opts);
        opts->struct_size = sizeof *opts;
    }
}

static void destroy_host_store(const recsys_engine_opts *opts)
{
    if (opts && opts->struct_size >= RECSYS_OFFSETOFEND(recsys_engine_opts, store) && opts->store &&
        opts->store->struct_size >= RECSYS_OFFSETOFEND(recsys_store_vtable, destroy) &&
        opts->store->destroy)
        opts->store->destroy(opts->store->ctx);
}

static void engine_destroy(recsys_engine *e)
{
    recsys__pool_free(e->pool);
    recsys__llm_guard_free(e->llm_guard);
    recsys__engine_free_plugins(e);
    recsys__engine_free_derived(e, e->derived);
    recsys__gbdt_free(&e->mem, e->ltr.model);
    recsys__featlog_free(&e->featlog);
    recsys__linear_free(e->linear);
    recsys__engine_free_rules(e);
    recsys__engine_free_experiments(e);
    recsys__campaigns_free(&e->mem, &e->model.campaigns);
    recsys__model_free(&e->model);
    recsys__optvals_free(&e->opts, &e->mem);
    if (e->store.destroy)
        e->store.destroy(e->store.ctx);
    pthread_rwlock_destroy(&e->lock);
    pthread_mutex_destroy(&e->store_mu);
    recsys__mem mem = e->mem;
    recsys__free(&mem, e);
}

RECSYS_API recsys_status recsys_engine_new(const recsys_engine_opts *opts, recsys_engine **out)
{
    recsys__err_clear();
    if (!out) {
        destroy_host_store(opts);
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_engine_new: argument 'out' is NULL");
    }
    *out = NULL;
    recsys_engine_opts o;
    recsys_engine_opts_init(&o);
    if (opts) {
        recsys_status st = recsys__record_copy(&o, sizeof o, opts, opts->struct_size,
                                               RECSYS_OFFSETOFEND(recsys_engine_opts, reserved),
                                               "recsys_engine_opts");
        if (st != RECSYS_OK) {
            if (st == RECSYS_E_UNSUPPORTED) /* a valid 0.1 prefix: the store is ours to free */
                destroy_host_store(opts);
            return st;
        }
    }
    recsys__mem mem;
    recsys_status st = recsys__mem_init(&mem, o.allocator);
    recsys_store_vtable store;
    memset(&store, 0, sizeof store);
    if (st == RECSYS_OK) {
        if (o.store) {
            st = recsys__store_vtable_copy(&store, o.store);
            if (st != RECSYS_OK)
                destroy_host_store(&o);
        } else {
            recsys_store_vtable_init(&store);
            st = recsys_store_memory_new(o.allocator, &store);
        }
    } else {
        destroy_host_store(&o);
    }
    if (st != RECSYS_OK)
        return st;
    recsys_engine *e = recsys__calloc(&mem, 1, sizeof *e);
    if (!e) {
        if (store.destroy)
            store.destroy(store.ctx);
        return RECSYS_E_NOMEM;
    }
    e->mem = mem;
    e->seed = o.seed ? o.seed : 0x5eed5eed5eedull;
    e->store = store;
    /* a vtable no larger than 0.1's comes from a host built against 0.1, whose recsys_event
     * ended before sources: recsys__engine_store_append hands it arrays of that size */
    e->store_events_01 =
        o.store && o.store->struct_size <= RECSYS_OFFSETOFEND(recsys_store_vtable, compact);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&e->lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&e->store_mu, NULL);
    recsys__optvals_defaults(&e->opts);
    recsys__model_init(&e->model, &e->mem);
    e->model.embed = (recsys__embed_hook){ recsys__engine_embed, e };
    recsys__engine_sync_model_opts(e);
    st = recsys__pool_new(&e->mem, &e->pool);
    recsys__featlog_init(&e->featlog, &e->mem);
    if (st == RECSYS_OK)
        st = recsys__llm_guard_new(&e->mem, &e->llm_guard);
    if (st == RECSYS_OK) {
        recsys__linear_params lp;
        recsys__linear_params_from_opt(e->opts.num, &lp);
        st = recsys__linear_new(&e->mem, &lp, &e->linear);
    }
    if (st == RECSYS_OK && !(o.flags & RECSYS_ENGINE_NO_BUILTINS))
        st = recsys__engine_add_builtins(e);
    if (st == RECSYS_OK)
        st = load(e);
    if (st == RECSYS_OK)
        st = recsys__engine_build_derived(e, &e->derived);
    if (st == RECSYS_OK)
        e->derived->generation = ++e->generation;
    if (st == RECSYS_OK) { /* the build's warning, if any, wins over the rankers' */
        recsys__err_saved w;
        recsys__err_save(&w);
        recsys__err_clear();
        st = recsys__engine_load_rankers(e);
        if (st == RECSYS_OK && w.status != RECSYS_OK)
            recsys__err_restore(&w);
    }
    if (st != RECSYS_OK) {
        recsys__err_saved s;
        recsys__err_save(&s);
        engine_destroy(e);
        recsys__err_restore(&s);
        return st;
    }
    *out = e;
    return RECSYS_OK;
}

RECSYS_API void recsys_engine_free(recsys_engine *e)
{
    recsys__err_clear();
    if (e)
        engine_destroy(e);
}

RECSYS_API recsys_status recsys_engine_compact(recsys_engine *e)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    pthread_mutex_lock(&e->store_mu);
    recsys_status st = RECSYS_OK;
    if (e->store.sync)
        st = e->store.sync(e->store.ctx);
    if (st == RECSYS_OK && e->store.compact)
        st = e->store.compact(e->store.ctx);
    pthread_mutex_unlock(&e->store_mu);
    return store_result(st, "compact");
}
