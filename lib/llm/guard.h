/* guard.h - every call to the host's LLM goes through one guard: budgets, the reply cache,
 * the deadline, the circuit breaker and the counters (the LLM layer's plumbing).
 *
 * A stage never calls recsys_llm_vtable.complete itself: it fills a recsys__llm_ask and runs
 * it with recsys__llm_ask_run(). Anything but RECSYS_OK from that call means "go on without
 * the LLM" (the guard counted why); only RECSYS_E_NOMEM should fail the caller. A reply the
 * caller cannot parse or validate is reported with recsys__llm_reject() (counted; a failure
 * for the breaker), one it used with recsys__llm_accept().
 *
 * The guard is per engine and thread-safe (its own mutex); the budget is per request and
 * belongs to one thread.
 */
#ifndef RECSYS_LLM_GUARD_H
#define RECSYS_LLM_GUARD_H
#include "../core/alloc.h"

typedef struct recsys__llm_guard recsys__llm_guard;

/* What one request (or one batch call) may still spend. Filled by recsys__llm_budget_init
 * from the options; calls_left and tokens_left count down; deadline_ns is on the monotonic
 * clock (0 = none). */
typedef struct recsys__llm_budget {
    int64_t calls_left;
    int64_t tokens_left;
    uint64_t deadline_ns;
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

/* Counters since the engine was made (a snapshot; every field only grows). */
typedef struct recsys__llm_counters {
    uint64_t calls;          /* calls that reached the host's complete() */
    uint64_t prompt_tokens;  /* as the host reported them (or estimated: bytes / 4) */
    uint64_t completion_tokens;
    uint64_t cache_hits;
    uint64_t timeouts;       /* replies that came after the deadline (discarded) */
    uint64_t failures;       /* complete() returned an error */
    uint64_t fallbacks;      /* asks answered without the LLM: budget, breaker, deadline,
                                failure, rejected reply */
    uint64_t rejected;       /* replies the caller could not parse or validate */
    uint64_t budget_denied;  /* asks refused by a budget */
    uint64_t breaker_open;   /* asks refused while the breaker was open */
    uint64_t explanations;   /* LLM explanations checked */
    uint64_t explanations_failed; /* of those, not grounded (replaced by the template) */
} recsys__llm_counters;

recsys_status recsys__llm_guard_new(const recsys__mem *m, recsys__llm_guard **out);
void recsys__llm_guard_free(recsys__llm_guard *g);

/* Sets b from the effective option values (RECSYS_OPT_LLM_* slots), starting now. */
void recsys__llm_budget_init(recsys__llm_budget *b, const double *opt);

/* Runs a through vt under g and b. On RECSYS_OK *text (NUL-terminated, allocated with m,
 * *len bytes) is the reply: untrusted text the caller must validate. Otherwise nothing is
 * allocated and the status says why the LLM was skipped (RECSYS_E_BUDGET budget or open breaker,
 * RECSYS_E_TIMEOUT deadline, RECSYS_E_CALLBACK transport failure, RECSYS_E_NOMEM). vt NULL
 * or without complete: RECSYS_E_NOT_FOUND (no LLM registered). opt: the effective options. */
recsys_status recsys__llm_ask_run(recsys__llm_guard *g, const recsys_llm_vtable *vt,
                                  const double *opt, recsys__llm_budget *b,
                                  const recsys__llm_ask *a, const recsys__mem *m, char **text,
                                  size_t *len);

/* The caller could not use the reply it got for a (task): counted as rejected and as a
 * fallback, a failure for the breaker, and the cached reply for that prompt is dropped. */
void recsys__llm_reject(recsys__llm_guard *g, const recsys__llm_ask *a);

/* Counts one LLM explanation checked, and whether it failed the grounding check. */
void recsys__llm_count_explanation(recsys__llm_guard *g, bool failed);

void recsys__llm_counters_get(recsys__llm_guard *g, recsys__llm_counters *out);

#endif
