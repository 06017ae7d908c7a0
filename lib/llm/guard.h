/* guard.h - every call to the host's LLM goes through one guard: budgets, the reply cache,
 * the deadline, the circuit breaker and the counters (the LLM layer's plumbing).
 *
 * A stage never calls recsys_llm_vtable.complete itself: it fills a recsys__llm_ask and runs
 * it with recsys__llm_ask_run(). Anything but RECSYS_OK from that call means "go on without
 * the LLM" (the guard counted why); only RECSYS_E_NOMEM should fail the caller. A reply the
 * caller cannot parse or validate is reported with recsys__llm_reject() (counted; a failure
 * for the breaker; dropped from the cache), one it used with recsys__llm_accept() (a success
 * for the breaker). Every caller must end each RECSYS_OK ask with exactly one of the two.
 *
 * What recsys__llm_ask_run checks, in this order (the first that says no decides):
 *   1. an LLM is registered (else RECSYS_E_NOT_FOUND, nothing counted);
 *   2. the LLM is on for the request: RECSYS_OPT_LLM_CALLS_PER_REQUEST and
 *      _TOKENS_PER_REQUEST are not 0 (else RECSYS_E_BUDGET, budget_denied);
 *   3. the reply cache (RECSYS_OPT_LLM_CACHE_BYTES > 0): the same call (task, system,
 *      prompt, schema, max_tokens, temperature) answered before and not rejected since is
 *      answered from the cache: RECSYS_OK, cache_hits, nothing spent, breaker untouched;
 *   4. the request's budget: a call left, and tokens left for the call's estimate
 *      (prompt bytes / 4 + max_tokens) (else RECSYS_E_BUDGET, budget_denied);
 *   5. the request's deadline has not passed (else RECSYS_E_TIMEOUT, timeouts);
 *   6. the circuit breaker (RECSYS_OPT_LLM_BREAKER_FAILURES > 0): it opens after that many
 *      consecutive failures, late replies and rejected replies; while open (for
 *      RECSYS_OPT_LLM_BREAKER_COOLDOWN_MS) every ask is refused (RECSYS_E_BUDGET,
 *      breaker_open); after the cool-down one trial call goes through (half-open; the others
 *      are still refused while it runs): a failure or late reply opens the breaker again for
 *      another cool-down; a reply closes it, but on probation: one rejection of that reply
 *      reopens it at once, recsys__llm_accept makes it fully closed;
 *   7. the engine's budget per minute (RECSYS_OPT_LLM_CALLS_PER_MINUTE and
 *      _TOKENS_PER_MINUTE, 0 = no limit): calls and tokens of the last 60 s, counted in 60
 *      one-second buckets of the monotonic clock (a sliding window with 1 s steps): a call
 *      starts only when one more call fits and the tokens so far plus its estimate fit
 *      (else RECSYS_E_BUDGET, budget_denied);
 *   then the host's complete() runs (calls; the guard's mutex is not held), its tokens are
 *   spent from the request's budget and the minute's window (as the host reported them with
 *   recsys_llm_reply_set_usage, else bytes / 4), and: an error or no text is a failure
 *   (RECSYS_E_CALLBACK, failures); a reply after the deadline is discarded (RECSYS_E_TIMEOUT,
 *   timeouts); else RECSYS_OK and the reply is cached. Every refusal above and every failure
 *   also counts a fallback; RECSYS_E_NOMEM is counted nowhere and leaves the breaker alone.
 *
 * The reply cache: an LRU list with a chained hash table keyed by a 128-bit XXH3 of the call
 * (a header of task, max_tokens, temperature and the three lengths seeds the hash of system,
 * then schema, then the 128-bit hash of the prompt: a false hit needs a 64-bit collision).
 * Its bound counts every entry's header and text; an entry larger than the bound is not kept;
 * when the bound is lowered (or 0) the oldest entries go at the next ask. Lookup O(1)
 * expected, insertion O(1) amortised plus the evictions.
 *
 * The guard is per engine and thread-safe: one mutex, held only for the bookkeeping (never
 * while the host's complete() or allocator runs: copies and frees happen outside it). The
 * budget is per request and belongs to one thread. The caller's own lock (the engine's) is
 * released around complete() when the budget says how (recsys__llm_unlock), and the guard
 * keeps a list of the calls inside complete() so that a replaced transport is destroyed only
 * after its last call returned (recsys__llm_guard_wait_idle).
 */
#ifndef RECSYS_LLM_GUARD_H
#define RECSYS_LLM_GUARD_H
#include "../core/alloc.h"

typedef struct recsys__llm_guard recsys__llm_guard;

/* How the caller of an ask steps off its own lock while the host's complete() runs, and back
 * on (the request's engine lock: lib/pipeline.c, lib/engine/conversation.c). The guard calls
 * leave(arg) right before complete() and enter(arg) right after it, on the same thread, and
 * holds none of its own locks meanwhile. enter() takes the lock again and brings the caller's
 * state up to date (what it pointed into may have changed or gone while the lock was free);
 * it returns RECSYS_OK or RECSYS_E_NOMEM (the ask then fails with it, the reply dropped).
 * Only a call that reaches complete() leaves the lock: a refusal or a cache hit does not.
 *
 * For the caller of recsys__llm_ask_run this means: after any ask (RECSYS_OK or not), every
 * pointer into the model read before it must be read again (item pointers, the catalog's and
 * users' arrays, the derived state); indices and the caller's own copies stay valid. Every
 * LLM stage follows that rule: prompts hold copies (text, handles, catalog indices), and
 * replies are checked against the model as it is after the ask. */
typedef struct recsys__llm_unlock {
    void (*leave)(void *arg);
    recsys_status (*enter)(void *arg);
    void *arg;
} recsys__llm_unlock;

/* Counters (a snapshot; every field only grows): the engine's since it was made, or one
 * request's (recsys__llm_budget.used). */
typedef struct recsys__llm_counters {
    uint64_t calls;          /* calls that reached the host's complete() */
    uint64_t prompt_tokens;  /* as the host reported them (or estimated: bytes / 4) */
    uint64_t completion_tokens;
    uint64_t cache_hits;
    uint64_t timeouts;       /* asks at or replies after the deadline (replies discarded) */
    uint64_t failures;       /* complete() returned an error */
    uint64_t fallbacks;      /* asks answered without the LLM: budget, breaker, deadline,
                                failure, rejected reply */
    uint64_t rejected;       /* replies the caller could not parse or validate */
    uint64_t budget_denied;  /* asks refused by a budget (request or engine per minute) */
    uint64_t breaker_open;   /* asks refused while the breaker was open */
    uint64_t explanations;   /* LLM explanations checked */
    uint64_t explanations_failed; /* of those, not grounded (replaced by the template) */
} recsys__llm_counters;

/* What one request (or one batch call) may still spend, and what it spent. Filled by
 * recsys__llm_budget_init from the options (or by the caller, used zeroed, unlock NULL);
 * calls_left and tokens_left count down; deadline_ns is on the monotonic clock (0 = none);
 * unlock (NULL = complete() runs with the caller's lock held, as set by
 * recsys__llm_budget_init) is how the request's asks step off its lock (above); used counts
 * what the guard counted for the asks run with this budget (the request's share of the
 * engine's counters: recsys_result_llm_stats, and the impressions' llm_calls / llm_tokens). */
typedef struct recsys__llm_budget {
    int64_t calls_left;
    int64_t tokens_left;
    uint64_t deadline_ns;
    const recsys__llm_unlock *unlock;
    recsys__llm_counters used;
} recsys__llm_budget;

/* One question to the LLM. Every string is NUL-terminated UTF-8; schema may be NULL. */
typedef struct recsys__llm_ask {
    int32_t task; /* recsys_llm_task */
    const char *system;
    const char *prompt;
    const char *schema;
    int32_t max_tokens;
    double temperature;
} recsys__llm_ask;

recsys_status recsys__llm_guard_new(const recsys__mem *m, recsys__llm_guard **out);
/* Frees g and its cache (NULL accepted). No ask may be running. */
void recsys__llm_guard_free(recsys__llm_guard *g);

/* Sets b from the effective option values (RECSYS_OPT_LLM_* slots), starting now; no
 * unlock. */
void recsys__llm_budget_init(recsys__llm_budget *b, const double *opt);

/* Waits until no ask that started before this call is inside the complete() of a transport
 * whose ctx is ctx (the engine replaced its LLM and destroys the old one only after: asks run
 * complete() with no engine lock held, on a copy of the vtable they took under it). Asks
 * started later are not waited for, so a busy engine cannot starve it. The caller holds no
 * lock an ask's enter() could need. */
void recsys__llm_guard_wait_idle(recsys__llm_guard *g, const void *ctx);

/* Runs a through vt under g and b (the checks above). On RECSYS_OK *text (NUL-terminated,
 * allocated with m, *len bytes) is the reply: untrusted text the caller must validate, then
 * report with recsys__llm_accept or recsys__llm_reject. Otherwise nothing is allocated and
 * the status says why the LLM was skipped (RECSYS_E_BUDGET budget or open breaker,
 * RECSYS_E_TIMEOUT deadline, RECSYS_E_CALLBACK transport failure, RECSYS_E_NOMEM). vt NULL
 * or without complete: RECSYS_E_NOT_FOUND (no LLM registered). opt: the effective options.
 * vt is copied before complete() runs, and that call is registered (for
 * recsys__llm_guard_wait_idle) before b->unlock's leave(): vt may point into a table the
 * caller's lock protects. With b->unlock, see recsys__llm_unlock for what the caller must
 * read again after the call. */
recsys_status recsys__llm_ask_run(recsys__llm_guard *g, const recsys_llm_vtable *vt,
                                  const double *opt, recsys__llm_budget *b,
                                  const recsys__llm_ask *a, const recsys__mem *m, char **text,
                                  size_t *len);

/* The caller could not use the reply it got for a (task): counted as rejected and as a
 * fallback (also in b->used when b is not NULL: the budget the ask ran with), a failure for
 * the breaker, and the cached reply for that call is dropped. */
void recsys__llm_reject(recsys__llm_guard *g, recsys__llm_budget *b, const recsys__llm_ask *a);

/* The caller used the reply it got for a: the breaker's consecutive failures start again
 * from 0 (a reply alone does not: a transport that answers garbage must open it). */
void recsys__llm_accept(recsys__llm_guard *g, const recsys__llm_ask *a);

/* Counts one LLM explanation checked, and whether it failed the grounding check (also in
 * b->used when b is not NULL). */
void recsys__llm_count_explanation(recsys__llm_guard *g, recsys__llm_budget *b, bool failed);

void recsys__llm_counters_get(recsys__llm_guard *g, recsys__llm_counters *out);

/* The cache's current size: entries and the bytes its bound counts (for tests, stats). */
void recsys__llm_cache_usage(recsys__llm_guard *g, size_t *entries, size_t *bytes);

/* True when the breaker refuses asks now (open, or half-open with its trial call running). */
bool recsys__llm_breaker_is_open(recsys__llm_guard *g);

#endif
