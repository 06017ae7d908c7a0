/* plugins.c - plug-in registration (built-in and host plug-ins go through the same path),
 * enabling, and the vtable _init functions for C++ and ctypes hosts. */
#include "engine.h"
#include "../core/abi.h"
#include "../diversify/diversify.h"
#include "../filter/filters.h"
#include "../rank/rankers.h"
#include "../retrieve/ease.h"
#include "../retrieve/graph.h"
#include "../retrieve/ials.h"
#include "../retrieve/item2item.h"
#include "../retrieve/session.h"
#include "../retrieve/sources.h"
#include "../retrieve/vector.h"

typedef struct kind_info {
    const char *what;     /* for messages */
    size_t size;          /* sizeof the vtable in this build */
    size_t min_size;      /* the 0.1 size */
    size_t method_off;    /* the required method */
    const char *method;
    bool single;          /* one per engine (ranker, llm, embedder): set replaces */
} kind_info;

#define KI(T, m, single) \
    { #T, sizeof(T), RECSYS_OFFSETOFEND(T, m), offsetof(T, m), #m, single }

static const kind_info kinds[7] = {
    { NULL, 0, 0, 0, NULL, false },
    KI(recsys_source_vtable, retrieve, false),
    KI(recsys_filter_vtable, apply, false),
    KI(recsys_ranker_vtable, score, false), /* several; one in use (see set_ranker) */
    KI(recsys_diversifier_vtable, select, false),
    KI(recsys_llm_vtable, complete, true),
    KI(recsys_embedder_vtable, embed, true),
};

static const char *kind_noun(int32_t kind)
{
    static const char *n[7] = { "", "source", "filter", "ranker", "diversifier", "llm", "embedder" };
    return (kind >= 1 && kind <= 6) ? n[kind] : "plug-in";
}

/* Runs a caller vtable's destroy if it can be read (registration failed). */
static void destroy_caller(const void *vt)
{
    const recsys_source_vtable *h = vt; /* every vtable starts with the same three members */
    if (h && h->struct_size >= RECSYS_OFFSETOFEND(recsys_source_vtable, destroy) && h->destroy)
        h->destroy(h->ctx);
}

static void destroy_plugin(recsys__plugin *p)
{
    const recsys_source_vtable *h = (const recsys_source_vtable *)&p->vt;
    if (h->destroy)
        h->destroy(h->ctx);
}

recsys_status recsys__engine_check_name(const char *name, const char *what)
{
    if (!name)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s name is NULL", what);
    return recsys__check_name(name, strlen(name), what);
}

static recsys_status check_name(const char *name)
{
    return recsys__engine_check_name(name, "plug-in");
}

static recsys__plugin *find(recsys_engine *e, int32_t kind, const char *name)
{
    recsys__plugins *ps = &e->plugins[kind];
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->v[i].name, name) == 0)
            return &ps->v[i];
    return NULL;
}

static void set_ranker_locked(recsys_engine *e, recsys__plugin *p, recsys__plugin *old,
                              size_t *nold);

static recsys_status add_plugin(recsys_engine *e, int32_t kind, const char *name, const void *vt,
                                double weight, bool builtin)
{
    const kind_info *ki = &kinds[kind];
    recsys__plugin p;
    memset(&p, 0, sizeof p);
    recsys_status st = RECSYS_OK;
    if (!e)
        st = recsys__err(RECSYS_E_INVALID_ARG, "engine is NULL");
    else if (!vt)
        st = recsys__err(RECSYS_E_INVALID_ARG, "%s vtable is NULL", ki->what);
    if (st == RECSYS_OK)
        st = check_name(name);
    if (st == RECSYS_OK)
        st = recsys__vtable_copy(&p.vt, ki->size, vt, *(const uint32_t *)vt, ki->min_size, ki->what);
    if (st == RECSYS_OK) {
        void *fn;
        memcpy(&fn, (const char *)&p.vt + ki->method_off, sizeof fn);
        if (!fn)
            st = recsys__err(RECSYS_E_INVALID_ARG, "%s '%s': required method '%s' is NULL",
                             ki->what, name, ki->method);
    }
    if (st != RECSYS_OK) {
        destroy_caller(vt);
        return st;
    }
    memcpy(p.name, name, strlen(name) + 1);
    p.kind = kind;
    p.enabled = true;
    p.weight = weight;
    p.builtin = builtin;

    recsys__wr(e);
    recsys__plugins *ps = &e->plugins[kind];
    if (kind == RECSYS_PLUGIN_RANKER && !builtin) { /* the host's ranker becomes the one */
        st = RECSYS_GROW(&e->mem, ps->v, ps->cap, ps->n + 1);
        recsys__plugin *old = NULL;
        size_t nold = 0;
        if (st == RECSYS_OK)
            old = recsys__calloc(&e->mem, ps->n + 1, sizeof *old);
        if (st == RECSYS_OK && old)
            set_ranker_locked(e, &p, old, &nold);
        recsys__unlock(e);
        if (st != RECSYS_OK || !old) {
            destroy_caller(vt);
            return st != RECSYS_OK ? st : RECSYS_E_NOMEM;
        }
        for (size_t i = 0; i < nold; i++)
            destroy_plugin(&old[i]);
        recsys__free(&e->mem, old);
        return RECSYS_OK;
    }
    if (ki->single && ps->n) { /* replace the one there is */
        recsys__plugin old = ps->v[0];
        ps->v[0] = p;
        recsys__unlock(e);
        /* a request calls the LLM off the lock, on a copy of the vtable: the old one goes
         * once no call is inside its complete() (new calls see the new one) */
        if (kind == RECSYS_PLUGIN_LLM)
            recsys__llm_guard_wait_idle(e->llm_guard, old.vt.llm.ctx);
        destroy_plugin(&old);
        return RECSYS_OK;
    }
    if (find(e, kind, name)) {
        recsys__unlock(e);
        destroy_caller(vt);
        return recsys__err(RECSYS_E_EXISTS, "a %s named '%s' is already registered",
                           kind_noun(kind), name);
    }
    st = RECSYS_GROW(&e->mem, ps->v, ps->cap, ps->n + 1);
    if (st == RECSYS_OK)
        ps->v[ps->n++] = p;
    recsys__unlock(e);
    if (st != RECSYS_OK)
        destroy_caller(vt);
    return st;
}

/* Makes p (a host ranker) the engine's ranker: every other host ranker, and a built-in of the
 * same name, is removed (moved to old[], *nold of them, destroyed by the caller outside the
 * lock); the built-ins stay registered, disabled (a request may still name one). The
 * caller holds the lock exclusively and made room for one more ranker. */
static void set_ranker_locked(recsys_engine *e, recsys__plugin *p, recsys__plugin *old,
                              size_t *nold)
{
    recsys__plugins *ps = &e->plugins[RECSYS_PLUGIN_RANKER];
    size_t w = 0;
    for (size_t i = 0; i < ps->n; i++) {
        if (!ps->v[i].builtin || !strcmp(ps->v[i].name, p->name)) {
            old[(*nold)++] = ps->v[i];
            continue;
        }
        ps->v[i].enabled = false;
        ps->v[w++] = ps->v[i];
    }
    ps->n = w;
    ps->v[ps->n++] = *p;
}

void recsys__engine_free_plugins(recsys_engine *e)
{
    for (int k = 1; k <= 6; k++) {
        recsys__plugins *ps = &e->plugins[k];
        for (size_t i = 0; i < ps->n; i++)
            destroy_plugin(&ps->v[i]);
        recsys__free(&e->mem, ps->v);
        memset(ps, 0, sizeof *ps);
    }
}

RECSYS_API recsys_status recsys_engine_add_source(recsys_engine *e, const char *name,
                                                  const recsys_source_vtable *vt)
{
    recsys__err_clear();
    return add_plugin(e, RECSYS_PLUGIN_SOURCE, name, vt, 1.0, false);
}

RECSYS_API recsys_status recsys_engine_add_filter(recsys_engine *e, const char *name,
                                                  const recsys_filter_vtable *vt)
{
    recsys__err_clear();
    return add_plugin(e, RECSYS_PLUGIN_FILTER, name, vt, 1.0, false);
}

RECSYS_API recsys_status recsys_engine_set_ranker(recsys_engine *e, const char *name,
                                                  const recsys_ranker_vtable *vt)
{
    recsys__err_clear();
    return add_plugin(e, RECSYS_PLUGIN_RANKER, name, vt, 1.0, false);
}

RECSYS_API recsys_status recsys_engine_add_diversifier(recsys_engine *e, const char *name,
                                                       const recsys_diversifier_vtable *vt)
{
    recsys__err_clear();
    return add_plugin(e, RECSYS_PLUGIN_DIVERSIFIER, name, vt, 1.0, false);
}

RECSYS_API recsys_status recsys_engine_set_llm(recsys_engine *e, const char *name,
                                               const recsys_llm_vtable *vt)
{
    recsys__err_clear();
    return add_plugin(e, RECSYS_PLUGIN_LLM, name, vt, 1.0, false);
}

RECSYS_API recsys_status recsys_engine_set_embedder(recsys_engine *e, const char *name,
                                                    const recsys_embedder_vtable *vt)
{
    recsys__err_clear();
    return add_plugin(e, RECSYS_PLUGIN_EMBEDDER, name, vt, 1.0, false);
}

RECSYS_API recsys_status recsys_engine_plugin_enable(recsys_engine *e, int32_t kind,
                                                     const char *name, int enabled)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(name);
    if (kind < RECSYS_PLUGIN_SOURCE || kind > RECSYS_PLUGIN_EMBEDDER)
        return recsys__err(RECSYS_E_INVALID_ARG, "unknown plug-in kind %" PRId32, kind);
    recsys__wr(e);
    recsys__plugin *p = find(e, kind, name);
    if (p && kind == RECSYS_PLUGIN_RANKER && enabled) { /* one ranker is in use */
        recsys__plugins *ps = &e->plugins[kind];
        for (size_t i = 0; i < ps->n; i++)
            ps->v[i].enabled = false;
    }
    if (p)
        p->enabled = enabled != 0;
    recsys__unlock(e);
    if (!p)
        return recsys__err(RECSYS_E_NOT_FOUND, "no %s named '%.64s' is registered", kind_noun(kind),
                           name);
    return RECSYS_OK;
}

#define SOURCE_WEIGHT_MAX 1000.0
#define SOURCE_QUOTA_MAX 100000

RECSYS_API recsys_status recsys_engine_source_configure(recsys_engine *e, const char *name,
                                                        double weight, size_t quota)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(name);
    if (!(weight >= 0 && weight <= SOURCE_WEIGHT_MAX)) /* also refuses NaN */
        return recsys__err(RECSYS_E_INVALID_ARG, "source '%.64s': weight %g is not in 0..%g",
                           name, weight, SOURCE_WEIGHT_MAX);
    if (quota > SOURCE_QUOTA_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "source '%.64s': quota %zu is above %d (0 = the per-source option)",
                           name, quota, SOURCE_QUOTA_MAX);
    recsys__wr(e);
    recsys__plugin *p = find(e, RECSYS_PLUGIN_SOURCE, name);
    if (p) {
        p->weight = weight;
        p->quota = quota;
    }
    recsys__unlock(e);
    if (!p)
        return recsys__err(RECSYS_E_NOT_FOUND, "no source named '%.64s' is registered", name);
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_engine_source_settings(recsys_engine *e, const char *name,
                                                       double *weight, size_t *quota)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(name);
    recsys__rd(e);
    recsys__plugin *p = find(e, RECSYS_PLUGIN_SOURCE, name);
    if (p && weight)
        *weight = p->weight;
    if (p && quota)
        *quota = p->quota;
    recsys__unlock(e);
    if (!p)
        return recsys__err(RECSYS_E_NOT_FOUND, "no source named '%.64s' is registered", name);
    return RECSYS_OK;
}

/* ------------------------------------------------------------ built-ins */

/* The ranker just registered is a built-in learned one: off until enabled or named by a
 * request, and it reads the feature vector. */
static void learned_ranker(recsys_engine *e)
{
    recsys__plugins *ps = &e->plugins[RECSYS_PLUGIN_RANKER];
    ps->v[ps->n - 1].enabled = false;
    ps->v[ps->n - 1].features = true;
}

recsys_status recsys__engine_add_builtins(recsys_engine *e)
{
    static const struct {
        const char *name;
        double weight;
        bool enabled; /* a disabled source costs nothing, at refresh or per request */
        recsys_status (*make)(const recsys__mem *, recsys_source_vtable *);
    } sources[] = {
        /* content carries personal relevance and search the typed query (the strongest
         * intent signal), so they weigh more in the merge */
        { "content", 2.0, true, recsys__source_content },
        { "search", 2.0, true, recsys__source_search },
        /* the host's campaigns active at the request's time (nothing without any) */
        { "campaign", 1.0, true, recsys__source_campaign },
        { "popular", 1.0, true, recsys__source_popular },
        { "trending", 0.5, true, recsys__source_trending },
        { "itemknn", 1.0, true, recsys__source_itemknn },
        { "rp3beta", 1.0, true, recsys__source_rp3beta },
        { "session", 1.0, true, recsys__source_session }, /* reads itemknn's neighbours */
        /* off by default: EASE's memory grows with the square of the catalog, and iALS
         * trains for seconds on large data; recsys_engine_plugin_enable() turns them on */
        { "ease", 1.0, false, recsys__source_ease },
        { "ials", 1.0, false, recsys__source_ials },
        /* items' "default" embeddings, or the iALS item factors when iALS is on (faiss) */
        { "vector", 1.0, true, recsys__source_vector },
    };
    static const struct {
        const char *name;
        recsys_status (*make)(const recsys__mem *, recsys_filter_vtable *);
    } filters[] = {
        { "exclude", recsys__filter_exclude },
        { "availability", recsys__filter_availability },
        { "age", recsys__filter_age },
        { "region", recsys__filter_region },
        { "seen", recsys__filter_seen },
        { "negative", recsys__filter_negative },
        { "shown", recsys__filter_shown },
        { "rules", recsys__filter_rules },
    };
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(sources); i++) {
        recsys_source_vtable vt;
        recsys_source_vtable_init(&vt);
        RECSYS_TRY(sources[i].make(&e->mem, &vt));
        RECSYS_TRY(add_plugin(e, RECSYS_PLUGIN_SOURCE, sources[i].name, &vt, sources[i].weight, true));
        if (!sources[i].enabled)
            e->plugins[RECSYS_PLUGIN_SOURCE].v[e->plugins[RECSYS_PLUGIN_SOURCE].n - 1].enabled = false;
    }
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(filters); i++) {
        recsys_filter_vtable vt;
        recsys_filter_vtable_init(&vt);
        RECSYS_TRY(filters[i].make(&e->mem, &vt));
        RECSYS_TRY(add_plugin(e, RECSYS_PLUGIN_FILTER, filters[i].name, &vt, 1.0, true));
    }
    /* the diversifier: on, but it costs nothing until a request's options ask for a part
     * (RECSYS_OPT_DIVERSIFY_*) */
    recsys_diversifier_vtable dv;
    recsys_diversifier_vtable_init(&dv);
    RECSYS_TRY(recsys__diversifier_diversity(&e->mem, &dv));
    RECSYS_TRY(add_plugin(e, RECSYS_PLUGIN_DIVERSIFIER, "diversity", &dv, 1.0, true));
    recsys_ranker_vtable rv;
    recsys_ranker_vtable_init(&rv);
    RECSYS_TRY(recsys__ranker_blend(&e->mem, &rv));
    RECSYS_TRY(add_plugin(e, RECSYS_PLUGIN_RANKER, "blend", &rv, 1.0, true));
    /* the learned ranker: off until the host turns it on (or a request names it); without a
     * trained model it keeps the merged order */
    recsys_ranker_vtable_init(&rv);
    RECSYS_TRY(recsys__ranker_ltr(&e->mem, &e->ltr, &rv));
    RECSYS_TRY(add_plugin(e, RECSYS_PLUGIN_RANKER, "ltr", &rv, 1.0, true));
    learned_ranker(e);
    recsys_ranker_vtable_init(&rv);
    RECSYS_TRY(recsys__ranker_linear(&e->mem, e->linear, &rv));
    RECSYS_TRY(add_plugin(e, RECSYS_PLUGIN_RANKER, "linear", &rv, 1.0, true));
    learned_ranker(e);
    return RECSYS_OK;
}

/* ------------------------------------------------------------ _init functions */

#define VT_INIT(T)                                                                             \
    RECSYS_API void T##_init(T *vt)                                                            \
    {                                                                                          \
        recsys__err_clear();                                                                   \
        if (vt) {                                                                              \
            memset(vt, 0, sizeof *vt);                                                         \
            vt->struct_size = sizeof *vt;                                                      \
        }                                                                                      \
    }
VT_INIT(recsys_source_vtable)
VT_INIT(recsys_filter_vtable)
VT_INIT(recsys_ranker_vtable)
VT_INIT(recsys_diversifier_vtable)
VT_INIT(recsys_llm_vtable)
VT_INIT(recsys_embedder_vtable)
