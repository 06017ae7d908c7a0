/* guard.c - the one way to the host's LLM: budgets (per request and per engine minute), the
 * reply cache, the deadline, the circuit breaker and the counters around
 * recsys_llm_vtable.complete (guard.h documents the checks and their order).
 *
 * Locking: g->mu guards every field below it. It is never held while the host's complete()
 * or the allocator runs: a cache hit is copied in two steps (the length under the lock, the
 * allocation outside, the copy under the lock again if the entry is still there), new
 * entries and bucket arrays are allocated before the lock is taken, and evicted entries are
 * freed after it is released. */
#include "guard.h"
#include "call.h"
#include "../core/clock.h"
#include "../core/error.h"
#include "../core/options.h"
#include <pthread.h>
#include <xxhash.h>

#define WINDOW_S 60

typedef struct cache_ent cache_ent;
struct cache_ent {
    uint64_t k0, k1;         /* the call's 128-bit key */
    cache_ent *prev, *next;  /* LRU list: head = most recently used */
    cache_ent *chain;        /* hash bucket */
    size_t len;
    char text[];             /* len bytes + NUL */
};

/* One call inside the host's complete(), on the asking thread's stack (g->flights). */
typedef struct flight flight;
struct flight {
    const void *ctx;
    uint64_t seq;            /* g->seq when it started */
    flight *next;
};

struct recsys__llm_guard {
    const recsys__mem *mem;
    pthread_mutex_t mu;
    pthread_cond_t idle;     /* signalled when a flight ends */
    flight *flights;         /* the calls inside complete() now */
    uint64_t seq;            /* flights started so far */
    recsys__llm_counters n;
    /* the reply cache */
    cache_ent **buckets;     /* nbuckets, a power of two (0 before the first entry) */
    size_t nbuckets, nent, bytes;
    cache_ent *head, *tail;
    /* the circuit breaker */
    uint32_t fails;          /* consecutive failures since the last success */
    uint64_t open_until;     /* monotonic ns; 0 = closed */
    bool probing;            /* half-open: the trial call is running */
    uint32_t fail_limit;     /* the settings the last ask saw (recsys__llm_reject has none) */
    uint64_t cooldown_ns;
    /* the engine's minute: calls and tokens per second of the monotonic clock */
    uint64_t win_sec[WINDOW_S];
    uint64_t win_calls[WINDOW_S], win_tokens[WINDOW_S];
};

recsys_status recsys__llm_guard_new(const recsys__mem *m, recsys__llm_guard **out)
{
    *out = NULL;
    recsys__llm_guard *g = recsys__calloc(m, 1, sizeof *g);
    if (!g)
        return RECSYS_E_NOMEM;
    g->mem = m;
    if (pthread_mutex_init(&g->mu, NULL) != 0) {
        recsys__free(m, g);
        return recsys__err(RECSYS_E_NOMEM, "llm: cannot make the guard's mutex");
    }
    if (pthread_cond_init(&g->idle, NULL) != 0) {
        pthread_mutex_destroy(&g->mu);
        recsys__free(m, g);
        return recsys__err(RECSYS_E_NOMEM, "llm: cannot make the guard's condition variable");
    }
    *out = g;
    return RECSYS_OK;
}

void recsys__llm_guard_free(recsys__llm_guard *g)
{
    if (!g)
        return;
    for (cache_ent *e = g->head, *nx; e; e = nx) {
        nx = e->next;
        recsys__free(g->mem, e);
    }
    recsys__free(g->mem, g->buckets);
    pthread_cond_destroy(&g->idle);
    pthread_mutex_destroy(&g->mu);
    recsys__free(g->mem, g);
}

static double opt_num(const double *opt, int32_t key)
{
    int s = recsys__opt_slot(key);
    return s < 0 ? 0.0 : opt[s];
}

void recsys__llm_budget_init(recsys__llm_budget *b, const double *opt)
{
    b->calls_left = (int64_t)opt_num(opt, RECSYS_OPT_LLM_CALLS_PER_REQUEST);
    b->tokens_left = (int64_t)opt_num(opt, RECSYS_OPT_LLM_TOKENS_PER_REQUEST);
    b->deadline_ns = recsys__clock_mono_ns() +
                     (uint64_t)opt_num(opt, RECSYS_OPT_LLM_DEADLINE_MS) * 1000000u;
    memset(&b->used, 0, sizeof b->used);
    b->unlock = NULL;
}

void recsys__llm_guard_wait_idle(recsys__llm_guard *g, const void *ctx)
{
    pthread_mutex_lock(&g->mu);
    uint64_t before = g->seq; /* later calls use the new transport (even with the same ctx) */
    for (;;) {
        const flight *f = g->flights;
        while (f && (f->ctx != ctx || f->seq >= before))
            f = f->next;
        if (!f)
            break;
        pthread_cond_wait(&g->idle, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
}

/* Takes f off g's list of calls inside complete() (g->mu held) and wakes the waiters. */
static void land(recsys__llm_guard *g, flight *f)
{
    flight **at = &g->flights;
    while (*at != f)
        at = &(*at)->next;
    *at = f->next;
    pthread_cond_broadcast(&g->idle);
}

/* ------------------------------------------------------------------------ the key */

typedef struct call_key {
    uint64_t k0, k1;
} call_key;

static call_key key_of(const recsys__llm_ask *a)
{
    size_t ls = a->system ? strlen(a->system) : 0, lp = a->prompt ? strlen(a->prompt) : 0;
    size_t lc = a->schema ? strlen(a->schema) : 0;
    uint64_t temp;
    memcpy(&temp, &a->temperature, sizeof temp);
    /* the lengths make the concatenation unambiguous; a NULL schema differs from "" */
    uint64_t hdr[6] = { (uint64_t)(uint32_t)a->task, (uint64_t)(uint32_t)a->max_tokens, temp,
                        ls, lp, a->schema ? lc : UINT64_MAX };
    uint64_t seed = XXH3_64bits(hdr, sizeof hdr);
    seed = XXH3_64bits_withSeed(a->system ? a->system : "", ls, seed);
    seed = XXH3_64bits_withSeed(a->schema ? a->schema : "", lc, seed);
    XXH128_hash_t h = XXH3_128bits_withSeed(a->prompt ? a->prompt : "", lp, seed);
    return (call_key){ h.low64, h.high64 };
}

/* ------------------------------------------------------------------------ the cache (locked) */

static size_t ent_cost(size_t len)
{
    return sizeof(cache_ent) + len + 1;
}

static cache_ent **bucket_of(recsys__llm_guard *g, call_key k)
{
    return &g->buckets[k.k0 & (g->nbuckets - 1)];
}

static cache_ent *cache_find(recsys__llm_guard *g, call_key k)
{
    if (!g->nbuckets)
        return NULL;
    for (cache_ent *e = *bucket_of(g, k); e; e = e->chain)
        if (e->k0 == k.k0 && e->k1 == k.k1)
            return e;
    return NULL;
}

static void lru_unlink(recsys__llm_guard *g, cache_ent *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        g->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        g->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(recsys__llm_guard *g, cache_ent *e)
{
    e->prev = NULL;
    e->next = g->head;
    if (g->head)
        g->head->prev = e;
    g->head = e;
    if (!g->tail)
        g->tail = e;
}

/* Takes e out of the cache and prepends it to *dead (linked by chain) for freeing later. */
static void cache_remove(recsys__llm_guard *g, cache_ent *e, cache_ent **dead)
{
    cache_ent **pp = bucket_of(g, (call_key){ e->k0, e->k1 });
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(g, e);
    g->nent--;
    g->bytes -= ent_cost(e->len);
    e->chain = *dead;
    *dead = e;
}

/* Evicts the least recently used entries until bytes + room <= cap. */
static void cache_trim(recsys__llm_guard *g, size_t cap, size_t room, cache_ent **dead)
{
    while (g->tail && (g->bytes + room > cap || room > cap))
        cache_remove(g, g->tail, dead);
}

/* Moves every entry into a new bucket array nb (its size, a power of two, zeroed). */
static void cache_rehash(recsys__llm_guard *g, cache_ent **nb, size_t n)
{
    for (size_t i = 0; i < g->nbuckets; i++)
        for (cache_ent *e = g->buckets[i], *nx; e; e = nx) {
            nx = e->chain;
            cache_ent **b = &nb[e->k0 & (n - 1)];
            e->chain = *b;
            *b = e;
        }
    g->buckets = nb;
    g->nbuckets = n;
}

static void free_dead(const recsys__mem *m, cache_ent *dead)
{
    while (dead) {
        cache_ent *nx = dead->chain;
        recsys__free(m, dead);
        dead = nx;
    }
}

static size_t cache_cap(const double *opt)
{
    return (size_t)opt_num(opt, RECSYS_OPT_LLM_CACHE_BYTES);
}

/* A copy of the cached reply for k in *text (allocated with m), or false (a miss). NOMEM
 * only when the copy cannot be made. */
static recsys_status cache_get(recsys__llm_guard *g, call_key k, const recsys__mem *m,
                               char **text, size_t *len, bool *hit)
{
    *hit = false;
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_mutex_lock(&g->mu);
        cache_ent *e = cache_find(g, k);
        size_t n = e ? e->len : 0;
        pthread_mutex_unlock(&g->mu);
        if (!e)
            return RECSYS_OK;
        char *copy = recsys__alloc(m, n + 1);
        if (!copy)
            return RECSYS_E_NOMEM;
        pthread_mutex_lock(&g->mu);
        e = cache_find(g, k);
        if (e && e->len == n) {
            memcpy(copy, e->text, n + 1);
            lru_unlink(g, e);
            lru_push_front(g, e);
            g->n.cache_hits++;
            pthread_mutex_unlock(&g->mu);
            *text = copy;
            *len = n;
            *hit = true;
            return RECSYS_OK;
        }
        pthread_mutex_unlock(&g->mu);
        recsys__free(m, copy); /* evicted or replaced meanwhile: look again */
    }
    return RECSYS_OK;
}

/* Keeps a copy of the reply for k (best effort: no memory means no caching). */
static void cache_put(recsys__llm_guard *g, call_key k, const char *text, size_t len,
                      size_t cap)
{
    if (!cap || ent_cost(len) > cap)
        return;
    cache_ent *e = recsys__alloc(g->mem, ent_cost(len));
    if (!e) {
        recsys__err_clear(); /* not an error of the ask */
        return;
    }
    e->k0 = k.k0;
    e->k1 = k.k1;
    e->prev = e->next = e->chain = NULL;
    e->len = len;
    memcpy(e->text, text, len);
    e->text[len] = '\0';
    /* a bigger bucket array when the load would pass 1, allocated before the lock */
    pthread_mutex_lock(&g->mu);
    size_t want = g->nbuckets ? g->nbuckets : 16;
    while (want < g->nent + 1)
        want *= 2;
    bool grow = want != g->nbuckets;
    pthread_mutex_unlock(&g->mu);
    cache_ent **nb = grow ? recsys__calloc(g->mem, want, sizeof *nb) : NULL;
    if (grow && !nb)
        recsys__err_clear();
    cache_ent *dead = NULL, **old = NULL;
    pthread_mutex_lock(&g->mu);
    if (nb && want > g->nbuckets) {
        old = g->buckets;
        cache_rehash(g, nb, want);
        nb = NULL;
    }
    if (!g->nbuckets || cache_find(g, k)) { /* no table, or another thread put it already */
        e->chain = dead;
        dead = e;
    } else {
        cache_trim(g, cap, ent_cost(len), &dead);
        cache_ent **b = bucket_of(g, k);
        e->chain = *b;
        *b = e;
        lru_push_front(g, e);
        g->nent++;
        g->bytes += ent_cost(len);
    }
    pthread_mutex_unlock(&g->mu);
    recsys__free(g->mem, nb);
    recsys__free(g->mem, old);
    free_dead(g->mem, dead);
}

/* Drops every entry beyond cap (the option was lowered or set to 0). */
static void cache_fit(recsys__llm_guard *g, size_t cap)
{
    cache_ent *dead = NULL;
    pthread_mutex_lock(&g->mu);
    if (g->bytes > cap)
        cache_trim(g, cap, 0, &dead);
    pthread_mutex_unlock(&g->mu);
    free_dead(g->mem, dead);
}

void recsys__llm_cache_usage(recsys__llm_guard *g, size_t *entries, size_t *bytes)
{
    pthread_mutex_lock(&g->mu);
    *entries = g->nent;
    *bytes = g->bytes;
    pthread_mutex_unlock(&g->mu);
}

/* ------------------------------------------------------------------------ breaker (locked) */

/* A failure, a late reply or a rejected reply. */
static void breaker_fail(recsys__llm_guard *g, bool probe, uint64_t now)
{
    if (probe)
        g->probing = false;
    if (g->fails < UINT32_MAX)
        g->fails++;
    if (g->fail_limit && (probe || g->fails >= g->fail_limit))
        g->open_until = now + g->cooldown_ns;
}

bool recsys__llm_breaker_is_open(recsys__llm_guard *g)
{
    pthread_mutex_lock(&g->mu);
    bool open = g->probing || (g->open_until && recsys__clock_mono_ns() < g->open_until);
    pthread_mutex_unlock(&g->mu);
    return open;
}

/* ------------------------------------------------------------------------ the minute (locked) */

static void window_sums(recsys__llm_guard *g, uint64_t sec, uint64_t *calls, uint64_t *tokens)
{
    *calls = *tokens = 0;
    for (size_t i = 0; i < WINDOW_S; i++)
        if (g->win_sec[i] + WINDOW_S > sec && g->win_sec[i] <= sec) {
            *calls += g->win_calls[i];
            *tokens += g->win_tokens[i];
        }
}

static void window_add(recsys__llm_guard *g, uint64_t sec, uint64_t calls, uint64_t tokens)
{
    size_t i = sec % WINDOW_S;
    if (g->win_sec[i] != sec) {
        g->win_sec[i] = sec;
        g->win_calls[i] = g->win_tokens[i] = 0;
    }
    g->win_calls[i] += calls;
    g->win_tokens[i] += tokens;
}

/* ------------------------------------------------------------------------ the ask */

/* Counts why (the same counter in the engine's counters, under the mutex, and in the
 * request's) and a fallback in both. */
static recsys_status refuse(recsys__llm_guard *g, uint64_t *engine_why, recsys__llm_budget *b,
                            uint64_t *request_why, recsys_status st, const char *why)
{
    pthread_mutex_lock(&g->mu);
    (*engine_why)++;
    g->n.fallbacks++;
    pthread_mutex_unlock(&g->mu);
    (*request_why)++;
    b->used.fallbacks++;
    return recsys__err(st, "llm: %s", why);
}

recsys_status recsys__llm_ask_run(recsys__llm_guard *g, const recsys_llm_vtable *vt,
                                  const double *opt, recsys__llm_budget *b,
                                  const recsys__llm_ask *a, const recsys__mem *m, char **text,
                                  size_t *len)
{
    *text = NULL;
    *len = 0;
    if (!vt || !vt->complete)
        return recsys__err(RECSYS_E_NOT_FOUND, "llm: no LLM is registered");
    if (opt_num(opt, RECSYS_OPT_LLM_CALLS_PER_REQUEST) <= 0 ||
        opt_num(opt, RECSYS_OPT_LLM_TOKENS_PER_REQUEST) <= 0)
        return refuse(g, &g->n.budget_denied, b, &b->used.budget_denied, RECSYS_E_BUDGET,
                      "the LLM is off for this request (a per-request budget of 0)");
    /* 3. the cache */
    size_t cap = cache_cap(opt);
    cache_fit(g, cap);
    call_key k = key_of(a);
    if (cap) {
        bool hit;
        RECSYS_TRY(cache_get(g, k, m, text, len, &hit));
        if (hit) {
            b->used.cache_hits++;
            return RECSYS_OK;
        }
    }
    /* 4. the request's budget */
    size_t plen = (a->system ? strlen(a->system) : 0) + (a->prompt ? strlen(a->prompt) : 0);
    int64_t estimate = (int64_t)(plen / 4) + (a->max_tokens > 0 ? a->max_tokens : 0);
    if (b->calls_left <= 0)
        return refuse(g, &g->n.budget_denied, b, &b->used.budget_denied, RECSYS_E_BUDGET,
                      "the request's call budget is spent");
    if (b->tokens_left <= 0 || estimate > b->tokens_left)
        return refuse(g, &g->n.budget_denied, b, &b->used.budget_denied, RECSYS_E_BUDGET,
                      "the request's token budget cannot pay for the call");
    /* 5. the deadline */
    uint64_t now = recsys__clock_mono_ns();
    if (b->deadline_ns && now >= b->deadline_ns)
        return refuse(g, &g->n.timeouts, b, &b->used.timeouts, RECSYS_E_TIMEOUT,
                      "the request's LLM deadline has passed");
    /* 6. the breaker, 7. the engine's minute; the call is booked in the same locked step */
    uint64_t sec = now / 1000000000u;
    uint64_t cpm = (uint64_t)opt_num(opt, RECSYS_OPT_LLM_CALLS_PER_MINUTE);
    uint64_t tpm = (uint64_t)opt_num(opt, RECSYS_OPT_LLM_TOKENS_PER_MINUTE);
    uint32_t limit = (uint32_t)opt_num(opt, RECSYS_OPT_LLM_BREAKER_FAILURES);
    bool probe = false;
    pthread_mutex_lock(&g->mu);
    g->fail_limit = limit;
    g->cooldown_ns = (uint64_t)opt_num(opt, RECSYS_OPT_LLM_BREAKER_COOLDOWN_MS) * 1000000u;
    if (!limit) { /* turned off: forget its state */
        g->open_until = 0;
        g->probing = false;
    }
    if (g->open_until && (g->probing || now < g->open_until)) {
        g->n.breaker_open++;
        g->n.fallbacks++;
        pthread_mutex_unlock(&g->mu);
        b->used.breaker_open++;
        b->used.fallbacks++;
        return recsys__err(RECSYS_E_BUDGET, "llm: the circuit breaker is open");
    }
    uint64_t wc, wt;
    window_sums(g, sec, &wc, &wt);
    if ((cpm && wc + 1 > cpm) || (tpm && wt + (uint64_t)estimate > tpm)) {
        g->n.budget_denied++;
        g->n.fallbacks++;
        pthread_mutex_unlock(&g->mu);
        b->used.budget_denied++;
        b->used.fallbacks++;
        return recsys__err(RECSYS_E_BUDGET, "llm: the engine's budget per minute is spent");
    }
    if (g->open_until) { /* the cool-down is over: this call is the trial */
        probe = true;
        g->probing = true;
    }
    window_add(g, sec, 1, 0);
    g->n.calls++;
    /* the transport as the caller's lock showed it, registered as in flight while that lock
     * is still held (a replacement waits for it before destroying ctx) */
    recsys_llm_vtable tv = *vt;
    flight fl = { .ctx = tv.ctx, .seq = g->seq++, .next = g->flights };
    g->flights = &fl;
    pthread_mutex_unlock(&g->mu);

    recsys_llm_call call = { .task = a->task, .system = a->system, .prompt = a->prompt,
                             .schema = a->schema, .max_tokens = a->max_tokens,
                             .temperature = a->temperature, .deadline_ns = b->deadline_ns };
    recsys_llm_reply reply;
    recsys__llm_reply_init(&reply, m);
    b->calls_left--;
    b->used.calls++;
    const recsys__llm_unlock *ul = b->unlock;
    if (ul)
        ul->leave(ul->arg);
    recsys_status st = tv.complete(tv.ctx, &call, &reply);
    int64_t pt = reply.prompt_tokens, ct = reply.completion_tokens;
    if (!pt && !ct) { /* the host did not say: estimate */
        pt = (int64_t)(plen / 4);
        ct = (int64_t)(reply.len / 4);
    }
    b->tokens_left -= pt + ct;
    b->used.prompt_tokens += (uint64_t)pt;
    b->used.completion_tokens += (uint64_t)ct;
    uint64_t done = recsys__clock_mono_ns();
    bool late = st == RECSYS_OK && reply.text && b->deadline_ns && done > b->deadline_ns;
    pthread_mutex_lock(&g->mu);
    g->n.prompt_tokens += (uint64_t)pt;
    g->n.completion_tokens += (uint64_t)ct;
    window_add(g, done / 1000000000u, 0, (uint64_t)(pt + ct));
    if (st == RECSYS_E_NOMEM) { /* ours, not the LLM's: no failure, the trial is not spent */
        if (probe)
            g->probing = false;
    } else if (st != RECSYS_OK || !reply.text) {
        g->n.failures++;
        g->n.fallbacks++;
        breaker_fail(g, probe, done);
    } else if (late) {
        g->n.timeouts++;
        g->n.fallbacks++;
        breaker_fail(g, probe, done);
    } else if (probe) { /* closed, on probation: one rejection reopens it */
        g->probing = false;
        g->open_until = 0;
        g->fails = limit ? limit - 1 : 0;
    }
    land(g, &fl);
    pthread_mutex_unlock(&g->mu);
    if (st != RECSYS_E_NOMEM && (st != RECSYS_OK || !reply.text)) {
        b->used.failures++;
        b->used.fallbacks++;
    } else if (late) {
        b->used.timeouts++;
        b->used.fallbacks++;
    }
    if (ul) { /* back on the caller's lock; its state brought up to date */
        recsys__err_saved saved;
        recsys__err_save(&saved);
        recsys_status back = ul->enter(ul->arg);
        if (back != RECSYS_OK) {
            recsys__llm_reply_free(&reply);
            return back;
        }
        recsys__err_restore(&saved);
    }
    if (st == RECSYS_E_NOMEM) {
        recsys__llm_reply_free(&reply);
        return recsys__err(RECSYS_E_NOMEM, "llm: out of memory for the reply");
    }
    if (st != RECSYS_OK || !reply.text) {
        recsys__llm_reply_free(&reply);
        return recsys__err(RECSYS_E_CALLBACK, "llm: the host's complete() failed (status %d)",
                           (int)st);
    }
    if (late) {
        recsys__llm_reply_free(&reply);
        return recsys__err(RECSYS_E_TIMEOUT, "llm: the reply came after the deadline");
    }
    cache_put(g, k, reply.text, reply.len, cap);
    *text = reply.text;
    *len = reply.len;
    return RECSYS_OK;
}

void recsys__llm_reject(recsys__llm_guard *g, recsys__llm_budget *b, const recsys__llm_ask *a)
{
    if (b) {
        b->used.rejected++;
        b->used.fallbacks++;
    }
    call_key k = key_of(a);
    cache_ent *dead = NULL;
    pthread_mutex_lock(&g->mu);
    g->n.rejected++;
    g->n.fallbacks++;
    cache_ent *e = cache_find(g, k);
    if (e)
        cache_remove(g, e, &dead);
    breaker_fail(g, false, recsys__clock_mono_ns()); /* with the settings the ask saw */
    pthread_mutex_unlock(&g->mu);
    free_dead(g->mem, dead);
}

void recsys__llm_accept(recsys__llm_guard *g, const recsys__llm_ask *a)
{
    (void)a;
    pthread_mutex_lock(&g->mu);
    g->fails = 0;
    pthread_mutex_unlock(&g->mu);
}

void recsys__llm_count_explanation(recsys__llm_guard *g, recsys__llm_budget *b, bool failed)
{
    if (b) {
        b->used.explanations++;
        b->used.explanations_failed += failed;
    }
    pthread_mutex_lock(&g->mu);
    g->n.explanations++;
    g->n.explanations_failed += failed;
    pthread_mutex_unlock(&g->mu);
}

void recsys__llm_counters_get(recsys__llm_guard *g, recsys__llm_counters *out)
{
    pthread_mutex_lock(&g->mu);
    *out = g->n;
    pthread_mutex_unlock(&g->mu);
}
