/* engine.h - the engine: lifecycle, plug-in tables, locks, and the state the pipeline reads.
 *
 * Concurrency model (documented in the README):
 * - `lock` is a writer-preferring read-write lock over the model, the options, the plug-in
 *   tables and the derived-state pointer. recsys_recommend holds it shared for the whole
 *   pipeline except while the host's LLM runs; mutations (upserts, feedback, forget, option
 *   and plug-in changes) hold it exclusively and briefly, and every exclusive hold bumps
 *   `writes` (recsys__wr).
 * - The host's LLM never runs under `lock` (since 0.2): a request (lib/pipeline.c) and a
 *   conversation turn (conversation.c) let go of the shared lock around each call to
 *   complete() (lib/llm/guard.h, recsys__llm_unlock) and take it again after; when `writes`
 *   moved meanwhile they read again everything they pointed into (the user, the derived
 *   state, the rules) and check their list against the model as it is now. The transport's
 *   vtable is copied under the lock, and a replaced LLM is destroyed only once no call is
 *   inside its complete() (recsys__llm_guard_wait_idle). A user forgotten while a request
 *   was off the lock is found in `forgot` (recsys__engine_forgotten_since).
 * - `store_mu` serialises every call into the store (the store vtable promises stores one
 *   call at a time). Lock order: `lock` before `store_mu`, never the reverse. The exception
 *   is wait_durable (group commit, since 0.2): feedback calls it after releasing both, so
 *   that threads keep appending while one flush makes all of their events durable.
 * - recsys_refresh builds the new derived state under the shared lock, then swaps the pointer
 *   under the exclusive lock; requests that started earlier finish on the old state, which
 *   is freed only after the swap (no reader can still hold it: readers hold the shared lock,
 *   and one that let go of it for the LLM reads the pointer again when it comes back).
 * - Impressions are appended to the store under `store_mu` while the pipeline still holds
 *   `lock` shared (so a forget cannot slip between a request and its log), and counted
 *   atomically; with group commit the request waits for their flush after releasing both.
 *   A request whose user was forgotten while it was off the lock logs nothing and fails.
 */
#ifndef RECSYS_ENGINE_ENGINE_H
#define RECSYS_ENGINE_ENGINE_H

#include "../core/alloc.h"
#include "../core/error.h"
#include "../core/options.h"
#include "../core/pool.h"
#include "../model/derived.h"
#include "../model/model.h"
#include "../rank/ltr.h"
#include "../rank/featlog.h"
#include "../filter/rules.h"
#include "../llm/guard.h"
#include "../core/utf8.h" /* RECSYS_PLUGIN_NAME_MAX, recsys__check_name */
#define RECSYS__FORGOT_RING 32 /* forgets remembered by id for requests off the lock */

typedef struct recsys__plugin {
    char name[RECSYS_PLUGIN_NAME_MAX];
    int32_t kind;
    bool enabled;
    bool builtin;  /* registered by the engine itself (recsys__engine_add_builtins) */
    bool features; /* rankers: reads the feature vector (lib/rank/features.h), so the
                      request's user vector is computed before it runs */
    double weight; /* sources: weight in the merge */
    size_t quota;  /* sources: most candidates per request (0 = RECSYS_OPT_CANDIDATES_PER_SOURCE) */
    _Atomic uint64_t cost_ns; /* sources: running time, smoothed over requests (scheduling) */
    union {
        recsys_source_vtable source;
        recsys_filter_vtable filter;
        recsys_ranker_vtable ranker;
        recsys_diversifier_vtable diversifier;
        recsys_llm_vtable llm;
        recsys_embedder_vtable embedder;
    } vt;
} recsys__plugin;

/* A business rule the engine applies to every request (lib/engine/rules.c). */
typedef struct recsys__named_rule {
    char *name;
    recsys__rule rule;
} recsys__named_rule;

typedef struct recsys__plugins {
    recsys__plugin *v;
    size_t n, cap;
} recsys__plugins;

struct recsys_engine {
    recsys__mem mem;
    uint64_t seed;
    pthread_rwlock_t lock;
    pthread_mutex_t store_mu;
    recsys__model model;
    recsys__optvals opts;
    recsys_store_vtable store;
    bool store_events_01;       /* a host store built against 0.1: it reads append_events'
                                   array with 0.1's recsys_event size (engine.c) */
    recsys__plugins plugins[7]; /* by recsys_plugin_kind (1..6) */
    recsys__derived *derived;
    recsys__pool *pool; /* helper threads for a request's sources (RECSYS_OPT_RETRIEVE_THREADS) */
    recsys__ltr ltr;    /* the "ltr" ranker's model: replaced under the exclusive lock */
    recsys__linear *linear;  /* the "linear" ranker's model (its own lock; never replaced:
                                a trained or loaded one is assigned into it) */
    recsys__llm_guard *llm_guard; /* budgets, cache, breaker and counters of every LLM call */
    recsys__featlog featlog; /* rows of lists "linear" ranked, awaiting their outcome */
    _Atomic uint64_t linear_saved; /* the linear model's change count when last saved */
    recsys__named_rule *rules; /* business rules, in the order they were first set */
    size_t nrules, caprules;
    uint64_t generation;
    uint64_t forget_epoch; /* bumped by every forget: a refresh built before it is not published */
    uint64_t forgot[RECSYS__FORGOT_RING]; /* XXH3 of the id forgotten at epoch k, at
                                             k % RECSYS__FORGOT_RING */
    uint64_t writes; /* bumped by every exclusive hold of lock (recsys__wr); read under the
                        shared lock: unchanged means nothing changed since it was read */
    _Atomic uint64_t impressions; /* impression events logged (not in model.nevents) */
    _Atomic uint64_t requests;
    _Atomic uint64_t request_seq;
    struct recsys__experiments *experiments; /* lib/engine/experiment.c; under lock, NULL
                                                until the first experiment call */
};

/* Frees the experiment definitions (lib/engine/experiment.c); NULL-safe. */
void recsys__engine_free_experiments(recsys_engine *e);

/* Loads the stored campaigns (RECSYS_RECORD_CAMPAIGN) into the model, after the items; a
 * store that does not know the record kind holds none (lib/engine/campaign.c). */
recsys_status recsys__engine_load_campaigns(recsys_engine *e);
/* The model's embed hook (recsys__embed_hook) over the engine's registered embedder; arg is
 * the engine, whose lock the caller holds (lib/engine/embed.c). */
recsys_status recsys__engine_embed(void *arg, const char *text, size_t len,
                                   recsys_vector_sink *out, bool *none);

/* Sets q's item_vec, vec_dim and vec_ctx, and item_sim and sim_ctx, from q->derived
 * (lib/engine/vectors.c says which space). Allocates nothing. */
void recsys__engine_query_vectors(recsys_query *q);
/* Sets q->user_vec in that space when the user has one (nothing when it is set already or
 * there is no space); *owned receives it when it was computed for this request (the caller
 * frees it with recsys__free after the request), else NULL. Caller holds the lock shared.
 * RECSYS_E_NOMEM or an iALS error fails the request. */
recsys_status recsys__engine_query_user_vector(recsys_engine *e, recsys_query *q,
                                               float **owned);

/* Checks a plug-in or rule name: 1..63 bytes of [a-z0-9_.-] (what names it in messages). */
recsys_status recsys__engine_check_name(const char *name, const char *what);
/* Loads the stored rules (RECSYS_RECORD_RULE), after the items (lib/engine/rules.c). */
recsys_status recsys__engine_load_rules(recsys_engine *e);
void recsys__engine_free_rules(recsys_engine *e);
/* The rules a request applies: the engine's (shallow copies), then the request's (compiled
 * and bound to the catalog for this run: an unknown attribute is RECSYS_E_INVALID_ARG), as
 * one array in *out (NULL when none; free with recsys__engine_free_query_rules). Caller
 * holds the lock shared. */
recsys_status recsys__engine_query_rules(recsys_engine *e, const recsys_request *req,
                                         recsys__rule **out, size_t *n);
/* Appends one FILTER rule of expr (compiled and bound to the catalog) to the request's rules
 * of recsys__engine_query_rules (*rules, *n grown; freed with them). A bad expression or an
 * unknown attribute is RECSYS_E_INVALID_ARG, RECSYS_E_NOMEM; on failure nothing changes. */
recsys_status recsys__engine_add_query_filter(recsys_engine *e, const char *expr,
                                             recsys__rule **rules, size_t *n);
/* Frees what recsys__engine_query_rules made: v[0..n), of which the first nshared are the
 * engine's (e->nrules when it was made; the lock need not be held). */
void recsys__engine_free_query_rules(recsys_engine *e, recsys__rule *v, size_t n,
                                     size_t nshared);

/* Saves the linear ranker's model when it learnt since it was last saved (recsys_refresh);
 * RECSYS_OK when the store keeps no blobs. */
recsys_status recsys__engine_save_linear(recsys_engine *e);

/* Reads the learned rankers' saved models from the store (lib/engine/train.c). A model that
 * cannot be used is left out with a warning: RECSYS_OK and a last error. RECSYS_E_NOMEM. */
recsys_status recsys__engine_load_rankers(recsys_engine *e);

/* Option values the model keeps a copy of (decay, history bound) are pushed to it. */
void recsys__engine_sync_model_opts(recsys_engine *e);
/* Registers the built-in plug-ins (sources, filters, ranker). */
recsys_status recsys__engine_add_builtins(recsys_engine *e);
/* Frees every plug-in of every kind (running destroy once each). */
void recsys__engine_free_plugins(recsys_engine *e);
/* Builds the derived state from the current catalog (caller holds lock shared or exclusive;
 * the caller sets the generation under the exclusive lock when it publishes it). */
recsys_status recsys__engine_build_derived(recsys_engine *e, recsys__derived **out);
void recsys__engine_free_derived(recsys_engine *e, recsys__derived *d);
/* The clock: RECSYS_OPT_NOW if set, else the wall clock. */
int64_t recsys__engine_now(const recsys_engine *e, const double *opt);

/* Rebuilds the item counters and event counts from every event the store holds, except
 * skip_user's (NULL = none), into *c (initialised here; the caller swaps it in with
 * recsys__counters_swap and frees it) and *impressions. Caller holds the lock exclusively.
 * Changes nothing itself, so a failure leaves the engine as it was. */
recsys_status recsys__engine_recount(recsys_engine *e, const char *skip_user, recsys__counters *c,
                                     uint64_t *impressions);

/* Drops a profile's list entries naming items that no longer exist (a profile stored before
 * an item was removed), so that applying it cannot fail on them. */
void recsys__engine_prune_profile(const recsys__mem *m, const recsys__catalog *c,
                                  recsys__profile *p);

/* Frees the personal slots (built from users' events) of the published derived state. Caller
 * holds the lock exclusively. */
void recsys__engine_drop_personal(recsys_engine *e);

/* The JSON size limit in force (RECSYS_OPT_MAX_JSON_BYTES). Takes the lock shared. */
size_t recsys__engine_json_limit(recsys_engine *e);

/* True when user_id was forgotten by a recsys_user_forget that ran after forget_epoch was
 * `since` (or when too many forgets ran since to tell: RECSYS__FORGOT_RING). Caller holds
 * the lock shared. O(forgets since). */
bool recsys__engine_forgotten_since(const recsys_engine *e, uint64_t since, const char *user_id);

/* Locking helpers (abort-free: pthread errors on a valid lock cannot happen). */
static inline void recsys__rd(recsys_engine *e) { pthread_rwlock_rdlock(&e->lock); }
static inline void recsys__wr(recsys_engine *e)
{
    pthread_rwlock_wrlock(&e->lock);
    e->writes++;
}
static inline void recsys__unlock(recsys_engine *e) { pthread_rwlock_unlock(&e->lock); }

/* Store calls with the store mutex held and the plug-in error convention applied. */
recsys_status recsys__engine_store_put(recsys_engine *e, int32_t kind, const char *key, const char *data,
                                size_t len);
recsys_status recsys__engine_store_remove(recsys_engine *e, int32_t kind, const char *key);
recsys_status recsys__engine_store_append(recsys_engine *e, const recsys_event *ev, size_t n);
/* Group commit: true when the store has append_events_deferred and wait_durable. */
bool recsys__engine_store_group_commit(const recsys_engine *e);
/* append_events_deferred under store_mu (caller holds lock exclusively); *ticket for
 * recsys__engine_store_wait_durable, which the caller runs holding neither lock. */
recsys_status recsys__engine_store_append_deferred(recsys_engine *e, const recsys_event *ev,
                                                   size_t n, uint64_t *ticket);
recsys_status recsys__engine_store_wait_durable(recsys_engine *e, uint64_t ticket);
/* Reports a plug-in failure: keeps a specific status, maps RECSYS_OK/unknown to CALLBACK,
 * prefixes the message with "<what> '<name>'". */
recsys_status recsys__plugin_failed(recsys_status st, const char *what, const char *name);

#endif
