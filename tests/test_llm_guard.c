/* test_llm_guard.c - the guard every LLM call goes through (lib/llm/guard.h): the request's
 * budget, the engine's budget per minute, the reply cache (hits, LRU eviction under the byte
 * bound, rejected replies dropped), the circuit breaker (open, half-open, closed, probation),
 * the deadline with a slow host, failure counting, out-of-memory paths and concurrent use;
 * the caller's lock let go around complete() (recsys__llm_unlock) and the wait for calls
 * inside a transport being replaced (recsys__llm_guard_wait_idle).
 * The host is a scripted recsys_llm_vtable speaking through the public reply sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/options.h"
#include "llm/guard.h"
#include "support/testkit.h"

/* ------------------------------------------------------------------ the scripted host */

typedef struct host {
    _Atomic long calls;
    recsys_status status;   /* what complete() returns */
    const char *text;       /* the reply (NULL: none; "%p" echoes the prompt) */
    int sleep_ms;           /* before answering */
    int64_t usage_prompt, usage_completion; /* reported when either is non-zero */
    /* a nested ask from inside complete() (the guard's mutex must not be held) */
    recsys__llm_guard *nested_g;
    const double *nested_opt;
    recsys_status nested_st;
    _Atomic long nested_done;
} host;

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static recsys_status ask(recsys__llm_guard *g, const recsys_llm_vtable *vt, const double *opt,
                         recsys__llm_budget *b, const char *prompt, double temp, char **out);

static recsys_status host_complete(void *ctx, const recsys_llm_call *call,
                                   recsys_llm_reply *reply)
{
    host *h = ctx;
    atomic_fetch_add(&h->calls, 1);
    if (h->sleep_ms)
        sleep_ms(h->sleep_ms);
    if (h->nested_g && !atomic_load(&h->nested_done)) {
        atomic_store(&h->nested_done, 1);
        recsys_llm_vtable vt;
        recsys_llm_vtable_init(&vt);
        vt.ctx = h;
        vt.complete = host_complete;
        recsys__llm_budget b;
        recsys__llm_budget_init(&b, h->nested_opt);
        char *t = NULL;
        h->nested_st = ask(h->nested_g, &vt, h->nested_opt, &b, "nested", 0.0, &t);
        free(t);
    }
    if (h->status != RECSYS_OK)
        return h->status;
    if (!h->text)
        return RECSYS_OK;
    const char *t = strcmp(h->text, "%p") ? h->text : recsys_llm_call_prompt(call);
    recsys_status st = recsys_llm_reply_set_text(reply, t, strlen(t));
    if (st != RECSYS_OK)
        return st;
    if (h->usage_prompt || h->usage_completion)
        recsys_llm_reply_set_usage(reply, h->usage_prompt, h->usage_completion);
    return RECSYS_OK;
}

static recsys_llm_vtable host_vt(host *h)
{
    recsys_llm_vtable vt;
    recsys_llm_vtable_init(&vt);
    vt.ctx = h;
    vt.complete = host_complete;
    return vt;
}

/* ------------------------------------------------------------------ fixture */

typedef struct fx {
    tk_alloc stats;
    recsys_allocator rec;
    recsys__mem mem;
    recsys__optvals ov;
    recsys__llm_guard *g;
    host h;
    recsys_llm_vtable vt;
} fx;

static void set(fx *f, int32_t key, double v)
{
    int s = recsys__opt_slot(key);
    assert_true(s >= 0);
    f->ov.num[s] = v;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tk_alloc_init(&f->stats, &f->rec);
    assert_int_equal(recsys__mem_init(&f->mem, &f->rec), RECSYS_OK);
    recsys__optvals_defaults(&f->ov);
    assert_int_equal(recsys__llm_guard_new(&f->mem, &f->g), RECSYS_OK);
    f->h.text = "ok";
    f->vt = host_vt(&f->h);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    recsys__llm_guard_free(f->g);
    recsys__optvals_free(&f->ov, &f->mem);
    assert_int_equal(atomic_load(&f->stats.live), 0); /* nothing leaked */
    free(f);
    return 0;
}

static recsys__llm_ask mk(const char *prompt, double temp)
{
    recsys__llm_ask a = { .task = RECSYS_LLM_RERANK, .system = "sys", .prompt = prompt,
                          .schema = "{\"type\":\"object\"}", .max_tokens = 16,
                          .temperature = temp };
    return a;
}

/* One ask with a fresh copy of the reply handed to the test (free()). */
static recsys_status ask(recsys__llm_guard *g, const recsys_llm_vtable *vt, const double *opt,
                         recsys__llm_budget *b, const char *prompt, double temp, char **out)
{
    recsys__llm_ask a = mk(prompt, temp);
    char *text = NULL;
    size_t len = 0;
    const recsys__mem *m = &recsys__mem_default;
    recsys_status st = recsys__llm_ask_run(g, vt, opt, b, &a, m, &text, &len);
    *out = NULL;
    if (st == RECSYS_OK) {
        assert_non_null(text);
        assert_int_equal(strlen(text), len);
        *out = strdup(text);
        recsys__free(m, text);
    } else {
        assert_null(text);
        assert_int_equal(len, 0);
    }
    return st;
}

static recsys_status ask1(fx *f, const char *prompt)
{
    recsys__llm_budget b;
    recsys__llm_budget_init(&b, f->ov.num);
    char *t = NULL;
    recsys_status st = ask(f->g, &f->vt, f->ov.num, &b, prompt, 0.0, &t);
    free(t);
    return st;
}

static recsys__llm_counters counters(fx *f)
{
    recsys__llm_counters c;
    recsys__llm_counters_get(f->g, &c);
    return c;
}

/* ------------------------------------------------------------------ budgets */

static void no_llm_registered(void **state)
{
    fx *f = *state;
    recsys__llm_budget b;
    recsys__llm_budget_init(&b, f->ov.num);
    char *t = NULL;
    assert_int_equal(ask(f->g, NULL, f->ov.num, &b, "p", 0, &t), RECSYS_E_NOT_FOUND);
    recsys_llm_vtable empty = f->vt;
    empty.complete = NULL;
    assert_int_equal(ask(f->g, &empty, f->ov.num, &b, "p", 0, &t), RECSYS_E_NOT_FOUND);
    assert_non_null(strstr(recsys_last_error(), "no LLM"));
    recsys__llm_counters c = counters(f);
    assert_int_equal(c.calls + c.fallbacks + c.budget_denied, 0);
}

static void request_budget_bounds_calls(void **state)
{
    fx *f = *state;
    set(f, RECSYS_OPT_LLM_CACHE_BYTES, 0);
    set(f, RECSYS_OPT_LLM_CALLS_PER_REQUEST, 2);
    recsys__llm_budget b;
    recsys__llm_budget_init(&b, f->ov.num);
    char *t = NULL;
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "a", 0, &t), RECSYS_OK);
    assert_string_equal(t, "ok");
    free(t);
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "b", 0, &t), RECSYS_OK);
    free(t);
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "c", 0, &t), RECSYS_E_BUDGET);
    assert_non_null(strstr(recsys_last_error(), "call budget"));
    assert_int_equal(atomic_load(&f->h.calls), 2);
    recsys__llm_counters c = counters(f);
    assert_int_equal(c.calls, 2);
    assert_int_equal(c.budget_denied, 1);
    assert_int_equal(c.fallbacks, 1);
    assert_int_equal(b.calls_left, 0);
}

/* The budget counts the request's share of the counters: every ask run with it (calls,
 * tokens, cache hits, each refusal and failure with its fallback), the rejections and the
 * explanations reported with it; the engine's counters rise by the same. */
static void budget_counts_the_request(void **state)
{
    fx *f = *state;
    set(f, RECSYS_OPT_LLM_CALLS_PER_REQUEST, 3);
    f->h.usage_prompt = 40;
    f->h.usage_completion = 20;
    recsys__llm_budget b;
    recsys__llm_budget_init(&b, f->ov.num);
    recsys__llm_counters zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&b.used, &zero, sizeof zero);
    char *t = NULL;
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "a", 0, &t), RECSYS_OK);
    free(t);
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "a", 0, &t), RECSYS_OK); /* cached */
    free(t);
    recsys__llm_ask a = mk("a", 0);
    recsys__llm_reject(f->g, &b, &a); /* the reply was unusable: also drops it from the cache */
    f->h.status = RECSYS_E_CALLBACK;
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "b", 0, &t), RECSYS_E_CALLBACK);
    f->h.status = RECSYS_OK;
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "c", 0, &t), RECSYS_OK);
    free(t);
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "d", 0, &t), RECSYS_E_BUDGET); /* 3 */
    recsys__llm_count_explanation(f->g, &b, true);
    recsys__llm_count_explanation(f->g, &b, false);
    assert_int_equal(b.used.calls, 3);
    /* two answers report 40 + 20; the failed call reported none: its prompt estimated,
     * ("sys" + "b") / 4 = 1, no reply */
    assert_int_equal(b.used.prompt_tokens, 81);
    assert_int_equal(b.used.completion_tokens, 40);
    assert_int_equal(b.used.cache_hits, 1);
    assert_int_equal(b.used.rejected, 1);
    assert_int_equal(b.used.failures, 1);
    assert_int_equal(b.used.budget_denied, 1);
    assert_int_equal(b.used.fallbacks, 3); /* rejected, failed, denied */
    assert_int_equal(b.used.explanations, 2);
    assert_int_equal(b.used.explanations_failed, 1);
    assert_int_equal(b.used.timeouts + b.used.breaker_open, 0);
    /* this request was the engine's only one: the same counters */
    recsys__llm_counters c = counters(f);
    assert_memory_equal(&c, &b.used, sizeof c);
    /* a rejection or explanation without a budget counts for the engine only */
    recsys__llm_reject(f->g, NULL, &a);
    recsys__llm_count_explanation(f->g, NULL, false);
    c = counters(f);
    assert_int_equal(c.rejected, 2);
    assert_int_equal(c.explanations, 3);
    assert_int_equal(b.used.rejected, 1);
    /* a new budget starts from 0 */
    recsys__llm_budget_init(&b, f->ov.num);
    assert_memory_equal(&b.used, &zero, sizeof zero);
}

static void request_budget_bounds_tokens(void **state)
{
    fx *f = *state;
    set(f, RECSYS_OPT_LLM_CACHE_BYTES, 0);
    set(f, RECSYS_OPT_LLM_TOKENS_PER_REQUEST, 100);
    f->h.usage_prompt = 40;
    f->h.usage_completion = 20;
    recsys__llm_budget b;
    recsys__llm_budget_init(&b, f->ov.num);
    char *t = NULL;
    /* estimate: (3 + 1) / 4 + 16 = 17 <= 100 */
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "a", 0, &t), RECSYS_OK);
    free(t);
    assert_int_equal(b.tokens_left, 40); /* 100 - 60, as the host reported */
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "b", 0, &t), RECSYS_OK);
    free(t);
    assert_int_equal(b.tokens_left, -20); /* the host may use more than the estimate */
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "c", 0, &t), RECSYS_E_BUDGET);
    /* a call whose estimate does not fit is refused before it is made */
    recsys__llm_budget b2;
    recsys__llm_budget_init(&b2, f->ov.num);
    b2.tokens_left = 10;
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b2, "d", 0, &t), RECSYS_E_BUDGET);
    assert_non_null(strstr(recsys_last_error(), "token budget"));
    assert_int_equal(atomic_load(&f->h.calls), 2);
    recsys__llm_counters c = counters(f);
    assert_int_equal(c.prompt_tokens, 80);
    assert_int_equal(c.completion_tokens, 40);
    assert_int_equal(c.budget_denied, 2);
}

static void budget_zero_never_calls(void **state)
{
    fx *f = *state;
    assert_int_equal(ask1(f, "cached"), RECSYS_OK); /* in the cache now */
    set(f, RECSYS_OPT_LLM_CALLS_PER_REQUEST, 0);
    assert_int_equal(ask1(f, "cached"), RECSYS_E_BUDGET);
    assert_int_equal(ask1(f, "other"), RECSYS_E_BUDGET);
    set(f, RECSYS_OPT_LLM_CALLS_PER_REQUEST, 4);
    set(f, RECSYS_OPT_LLM_TOKENS_PER_REQUEST, 0);
    assert_int_equal(ask1(f, "other"), RECSYS_E_BUDGET);
    assert_non_null(strstr(recsys_last_error(), "off for this request"));
    assert_int_equal(atomic_load(&f->h.calls), 1);
    recsys__llm_counters c = counters(f);
    assert_int_equal(c.cache_hits, 0);
    assert_int_equal(c.budget_denied, 3);
}

static void engine_budget_per_minute(void **state)
{
    fx *f = *state;
    set(f, RECSYS_OPT_LLM_CACHE_BYTES, 0);
    set(f, RECSYS_OPT_LLM_CALLS_PER_MINUTE, 3);
    char p[16];
    for (int i = 0; i < 3; i++) { /* separate requests: the engine's budget spans them */
        snprintf(p, sizeof p, "p%d", i);
        assert_int_equal(ask1(f, p), RECSYS_OK);
    }
    assert_int_equal(ask1(f, "p3"), RECSYS_E_BUDGET);
    assert_non_null(strstr(recsys_last_error(), "per minute"));
    assert_int_equal(atomic_load(&f->h.calls), 3);
    set(f, RECSYS_OPT_LLM_CALLS_PER_MINUTE, 0); /* no limit */
    assert_int_equal(ask1(f, "p4"), RECSYS_OK);
    /* tokens: the window holds what was spent; a call's estimate is (3 + 2) / 4 + 16 = 17 */
    recsys__llm_counters c = counters(f);
    uint64_t spent = c.prompt_tokens + c.completion_tokens;
    set(f, RECSYS_OPT_LLM_TOKENS_PER_MINUTE, (double)spent + 17); /* room for one estimate */
    assert_int_equal(ask1(f, "p5"), RECSYS_OK);
    assert_int_equal(ask1(f, "p6"), RECSYS_E_BUDGET);
    c = counters(f);
    assert_int_equal(c.calls, 5);
    assert_int_equal(c.budget_denied, 2);
}

/* ------------------------------------------------------------------ the cache */

static void cache_hit_on_repeat(void **state)
{
    fx *f = *state;
    f->h.text = "%p"; /* echo: each prompt its own reply */
    recsys__llm_budget b;
    recsys__llm_budget_init(&b, f->ov.num);
    char *t1 = NULL, *t2 = NULL, *t3 = NULL;
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "same", 0, &t1), RECSYS_OK);
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "same", 0, &t2), RECSYS_OK);
    assert_string_equal(t1, "same");
    assert_string_equal(t2, "same");
    assert_int_equal(atomic_load(&f->h.calls), 1);
    assert_int_equal(b.calls_left, 3); /* a hit spends nothing */
    /* any part of the call makes another key */
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "same", 0.5, &t3), RECSYS_OK);
    assert_int_equal(atomic_load(&f->h.calls), 2);
    recsys__llm_ask a = mk("same", 0);
    a.schema = NULL;
    char *txt = NULL;
    size_t len = 0;
    assert_int_equal(recsys__llm_ask_run(f->g, &f->vt, f->ov.num, &b, &a, &f->mem, &txt, &len),
                     RECSYS_OK);
    recsys__free(&f->mem, txt);
    assert_int_equal(atomic_load(&f->h.calls), 3);
    recsys__llm_counters c = counters(f);
    assert_int_equal(c.cache_hits, 1);
    assert_int_equal(c.calls, 3);
    size_t n, bytes;
    recsys__llm_cache_usage(f->g, &n, &bytes);
    assert_int_equal(n, 3);
    free(t1);
    free(t2);
    free(t3);
}

static void rejected_reply_is_evicted(void **state)
{
    fx *f = *state;
    assert_int_equal(ask1(f, "x"), RECSYS_OK);
    recsys__llm_ask a = mk("x", 0);
    recsys__llm_reject(f->g, NULL, &a);
    assert_int_equal(ask1(f, "x"), RECSYS_OK); /* asked again, not served from the cache */
    assert_int_equal(atomic_load(&f->h.calls), 2);
    recsys__llm_accept(f->g, &a);
    assert_int_equal(ask1(f, "x"), RECSYS_OK);
    assert_int_equal(atomic_load(&f->h.calls), 2);
    recsys__llm_counters c = counters(f);
    assert_int_equal(c.rejected, 1);
    assert_int_equal(c.fallbacks, 1);
    assert_int_equal(c.cache_hits, 1);
}

static void cache_evicts_under_byte_bound(void **state)
{
    fx *f = *state;
    f->h.text = "%p";
    char p[4][200];
    for (int i = 0; i < 4; i++) {
        memset(p[i], 'a' + i, 199);
        p[i][199] = '\0';
    }
    assert_int_equal(ask1(f, p[0]), RECSYS_OK);
    size_t n, one;
    recsys__llm_cache_usage(f->g, &n, &one); /* the cost of one 199-byte entry */
    assert_int_equal(n, 1);
    assert_true(one > 199 && one < 400);
    set(f, RECSYS_OPT_LLM_CACHE_BYTES, (double)(3 * one)); /* room for three */
    assert_int_equal(ask1(f, p[1]), RECSYS_OK);
    assert_int_equal(ask1(f, p[2]), RECSYS_OK);
    assert_int_equal(ask1(f, p[0]), RECSYS_OK); /* a hit: p[0] is now the most recent */
    assert_int_equal(atomic_load(&f->h.calls), 3);
    assert_int_equal(ask1(f, p[3]), RECSYS_OK); /* evicts the least recent: p[1] */
    size_t bytes;
    recsys__llm_cache_usage(f->g, &n, &bytes);
    assert_int_equal(n, 3);
    assert_true(bytes <= 3 * one);
    assert_int_equal(ask1(f, p[0]), RECSYS_OK);
    assert_int_equal(ask1(f, p[2]), RECSYS_OK);
    assert_int_equal(ask1(f, p[3]), RECSYS_OK);
    assert_int_equal(atomic_load(&f->h.calls), 4); /* all three hits */
    assert_int_equal(ask1(f, p[1]), RECSYS_OK);    /* evicted: asked again */
    assert_int_equal(atomic_load(&f->h.calls), 5);
    /* an entry bigger than the bound is not kept */
    set(f, RECSYS_OPT_LLM_CACHE_BYTES, (double)(one / 2));
    assert_int_equal(ask1(f, p[2]), RECSYS_OK);
    recsys__llm_cache_usage(f->g, &n, &bytes);
    assert_int_equal(n, 0); /* the lowered bound emptied it at the ask */
    assert_int_equal(atomic_load(&f->h.calls), 6);
    /* 0 = no cache at all */
    set(f, RECSYS_OPT_LLM_CACHE_BYTES, 0);
    assert_int_equal(ask1(f, "q"), RECSYS_OK);
    assert_int_equal(ask1(f, "q"), RECSYS_OK);
    assert_int_equal(atomic_load(&f->h.calls), 8);
    recsys__llm_cache_usage(f->g, &n, &bytes);
    assert_int_equal(n + bytes, 0);
}

static void cache_many_entries(void **state)
{
    fx *f = *state; /* the hash table grows; every entry still found */
    f->h.text = "%p";
    char p[32];
    for (int i = 0; i < 500; i++) {
        snprintf(p, sizeof p, "prompt %d", i);
        assert_int_equal(ask1(f, p), RECSYS_OK);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(p, sizeof p, "prompt %d", i);
        assert_int_equal(ask1(f, p), RECSYS_OK);
    }
    assert_int_equal(atomic_load(&f->h.calls), 500);
    assert_int_equal(counters(f).cache_hits, 500);
}

/* ------------------------------------------------------------------ the breaker */

static void breaker_opens_after_consecutive_failures(void **state)
{
    fx *f = *state;
    set(f, RECSYS_OPT_LLM_BREAKER_FAILURES, 3);
    set(f, RECSYS_OPT_LLM_BREAKER_COOLDOWN_MS, 60000);
    assert_int_equal(ask1(f, "cached"), RECSYS_OK);
    f->h.status = RECSYS_E_IO;
    assert_int_equal(ask1(f, "a"), RECSYS_E_CALLBACK);
    assert_int_equal(ask1(f, "b"), RECSYS_E_CALLBACK);
    assert_false(recsys__llm_breaker_is_open(f->g));
    assert_int_equal(ask1(f, "c"), RECSYS_E_CALLBACK);
    assert_true(recsys__llm_breaker_is_open(f->g));
    f->h.status = RECSYS_OK; /* the host recovered, but the cool-down is not over */
    assert_int_equal(ask1(f, "d"), RECSYS_E_BUDGET);
    assert_non_null(strstr(recsys_last_error(), "circuit breaker"));
    assert_int_equal(ask1(f, "e"), RECSYS_E_BUDGET);
    /* a cached reply is still served while the breaker is open */
    assert_int_equal(ask1(f, "cached"), RECSYS_OK);
    assert_int_equal(atomic_load(&f->h.calls), 4);
    recsys__llm_counters c = counters(f);
    assert_int_equal(c.failures, 3);
    assert_int_equal(c.breaker_open, 2);
    assert_int_equal(c.fallbacks, 5);
    assert_int_equal(c.cache_hits, 1);
    set(f, RECSYS_OPT_LLM_BREAKER_FAILURES, 0); /* off: forgets its state */
    assert_int_equal(ask1(f, "d"), RECSYS_OK);
    assert_false(recsys__llm_breaker_is_open(f->g));
}

static void breaker_counts_only_consecutive(void **state)
{
    fx *f = *state;
    set(f, RECSYS_OPT_LLM_BREAKER_FAILURES, 2);
    set(f, RECSYS_OPT_LLM_CACHE_BYTES, 0);
    f->h.status = RECSYS_E_IO;
    assert_int_equal(ask1(f, "a"), RECSYS_E_CALLBACK);
    f->h.status = RECSYS_OK;
    assert_int_equal(ask1(f, "b"), RECSYS_OK);
    recsys__llm_ask a = mk("b", 0);
    recsys__llm_accept(f->g, &a); /* a used reply resets the count */
    f->h.status = RECSYS_E_IO;
    assert_int_equal(ask1(f, "c"), RECSYS_E_CALLBACK);
    assert_false(recsys__llm_breaker_is_open(f->g));
    /* a reply with no text is a failure too */
    f->h.status = RECSYS_OK;
    f->h.text = NULL;
    assert_int_equal(ask1(f, "d"), RECSYS_E_CALLBACK);
    assert_true(recsys__llm_breaker_is_open(f->g));
    assert_int_equal(counters(f).failures, 3);
}

static void breaker_rejections_open_it(void **state)
{
    fx *f = *state; /* a host that answers garbage: replies alone do not reset the count */
    set(f, RECSYS_OPT_LLM_BREAKER_FAILURES, 2);
    set(f, RECSYS_OPT_LLM_BREAKER_COOLDOWN_MS, 60000);
    for (int i = 0; i < 2; i++) {
        char p[16];
        snprintf(p, sizeof p, "g%d", i);
        assert_int_equal(ask1(f, p), RECSYS_OK);
        recsys__llm_ask a = mk(p, 0);
        recsys__llm_reject(f->g, NULL, &a);
    }
    assert_true(recsys__llm_breaker_is_open(f->g));
    assert_int_equal(ask1(f, "g3"), RECSYS_E_BUDGET);
    assert_int_equal(counters(f).rejected, 2);
}

static void breaker_half_open_then_closed(void **state)
{
    fx *f = *state;
    set(f, RECSYS_OPT_LLM_BREAKER_FAILURES, 2);
    set(f, RECSYS_OPT_LLM_BREAKER_COOLDOWN_MS, 1);
    set(f, RECSYS_OPT_LLM_CACHE_BYTES, 0);
    f->h.status = RECSYS_E_IO;
    assert_int_equal(ask1(f, "a"), RECSYS_E_CALLBACK);
    assert_int_equal(ask1(f, "b"), RECSYS_E_CALLBACK);
    sleep_ms(20); /* past the 1 ms cool-down */
    assert_false(recsys__llm_breaker_is_open(f->g));
    /* the trial call fails: open again, for the cool-down the ask saw (now a long one) */
    set(f, RECSYS_OPT_LLM_BREAKER_COOLDOWN_MS, 60000);
    assert_int_equal(ask1(f, "c"), RECSYS_E_CALLBACK);
    assert_int_equal(ask1(f, "d"), RECSYS_E_BUDGET);
    assert_int_equal(atomic_load(&f->h.calls), 3);
    recsys__llm_counters c = counters(f);
    assert_int_equal(c.breaker_open, 1);

    /* a second guard: the trial succeeds; while it runs, other asks are refused */
    recsys__llm_guard *g2 = NULL;
    assert_int_equal(recsys__llm_guard_new(&f->mem, &g2), RECSYS_OK);
    host h2 = { .status = RECSYS_E_IO };
    recsys_llm_vtable vt2 = host_vt(&h2);
    set(f, RECSYS_OPT_LLM_BREAKER_COOLDOWN_MS, 1);
    char *t = NULL;
    for (int i = 0; i < 2; i++) {
        recsys__llm_budget b;
        recsys__llm_budget_init(&b, f->ov.num);
        assert_int_equal(ask(g2, &vt2, f->ov.num, &b, i ? "y" : "x", 0, &t), RECSYS_E_CALLBACK);
    }
    sleep_ms(20);
    h2.status = RECSYS_OK;
    h2.text = "fine";
    h2.nested_g = g2; /* the trial asks again from inside complete(): refused, half-open */
    h2.nested_opt = f->ov.num;
    recsys__llm_budget b;
    recsys__llm_budget_init(&b, f->ov.num);
    assert_int_equal(ask(g2, &vt2, f->ov.num, &b, "trial", 0, &t), RECSYS_OK);
    free(t);
    assert_int_equal(h2.nested_st, RECSYS_E_BUDGET);
    recsys__llm_counters c2;
    recsys__llm_counters_get(g2, &c2);
    assert_int_equal(c2.breaker_open, 1);
    assert_false(recsys__llm_breaker_is_open(g2));
    /* on probation: one rejection of the trial's reply opens it again at once */
    recsys__llm_ask a = mk("trial", 0);
    set(f, RECSYS_OPT_LLM_BREAKER_COOLDOWN_MS, 60000);
    assert_int_equal(ask(g2, &vt2, f->ov.num, &b, "refresh settings", 0, &t), RECSYS_OK);
    free(t);
    recsys__llm_reject(g2, NULL, &a);
    assert_true(recsys__llm_breaker_is_open(g2));
    recsys__llm_guard_free(g2);

    /* a third: trial accepted -> fully closed: two more failures needed to open it */
    recsys__llm_guard *g3 = NULL;
    assert_int_equal(recsys__llm_guard_new(&f->mem, &g3), RECSYS_OK);
    host h3 = { .status = RECSYS_E_IO };
    recsys_llm_vtable vt3 = host_vt(&h3);
    set(f, RECSYS_OPT_LLM_BREAKER_COOLDOWN_MS, 1);
    for (int i = 0; i < 2; i++) {
        recsys__llm_budget_init(&b, f->ov.num);
        assert_int_equal(ask(g3, &vt3, f->ov.num, &b, i ? "y" : "x", 0, &t), RECSYS_E_CALLBACK);
    }
    sleep_ms(20);
    h3.status = RECSYS_OK;
    h3.text = "fine";
    recsys__llm_budget_init(&b, f->ov.num);
    assert_int_equal(ask(g3, &vt3, f->ov.num, &b, "trial", 0, &t), RECSYS_OK);
    free(t);
    recsys__llm_accept(g3, &a);
    set(f, RECSYS_OPT_LLM_BREAKER_COOLDOWN_MS, 60000);
    h3.status = RECSYS_E_IO;
    recsys__llm_budget_init(&b, f->ov.num);
    assert_int_equal(ask(g3, &vt3, f->ov.num, &b, "z1", 0, &t), RECSYS_E_CALLBACK);
    assert_false(recsys__llm_breaker_is_open(g3));
    assert_int_equal(ask(g3, &vt3, f->ov.num, &b, "z2", 0, &t), RECSYS_E_CALLBACK);
    assert_true(recsys__llm_breaker_is_open(g3));
    recsys__llm_guard_free(g3);
}

/* ------------------------------------------------------------------ deadline, failures */

static void deadline_discards_a_slow_reply(void **state)
{
    fx *f = *state;
    set(f, RECSYS_OPT_LLM_DEADLINE_MS, 5);
    set(f, RECSYS_OPT_LLM_BREAKER_FAILURES, 0);
    f->h.sleep_ms = 40;
    recsys__llm_budget b;
    recsys__llm_budget_init(&b, f->ov.num);
    char *t = NULL;
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "slow", 0, &t), RECSYS_E_TIMEOUT);
    assert_non_null(strstr(recsys_last_error(), "after the deadline"));
    /* the deadline has passed for this request: no further call */
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "next", 0, &t), RECSYS_E_TIMEOUT);
    assert_int_equal(atomic_load(&f->h.calls), 1);
    recsys__llm_counters c = counters(f);
    assert_int_equal(c.timeouts, 2);
    assert_int_equal(c.fallbacks, 2);
    assert_int_equal(c.calls, 1);
    size_t n, bytes;
    recsys__llm_cache_usage(f->g, &n, &bytes);
    assert_int_equal(n, 0); /* the late reply was not cached */
    /* late replies are breaker failures */
    set(f, RECSYS_OPT_LLM_BREAKER_FAILURES, 1);
    set(f, RECSYS_OPT_LLM_BREAKER_COOLDOWN_MS, 60000);
    recsys__llm_budget_init(&b, f->ov.num);
    assert_int_equal(ask(f->g, &f->vt, f->ov.num, &b, "slow", 0, &t), RECSYS_E_TIMEOUT);
    assert_true(recsys__llm_breaker_is_open(f->g));
}

static void host_failure_is_counted(void **state)
{
    fx *f = *state;
    set(f, RECSYS_OPT_LLM_BREAKER_FAILURES, 0);
    f->h.status = RECSYS_E_TIMEOUT;
    assert_int_equal(ask1(f, "a"), RECSYS_E_CALLBACK);
    assert_non_null(strstr(recsys_last_error(), "complete() failed"));
    f->h.status = RECSYS_OK;
    f->h.text = NULL;
    assert_int_equal(ask1(f, "b"), RECSYS_E_CALLBACK);
    recsys__llm_counters c = counters(f);
    assert_int_equal(c.failures, 2);
    assert_int_equal(c.fallbacks, 2);
    assert_int_equal(c.calls, 2);
    size_t n, bytes;
    recsys__llm_cache_usage(f->g, &n, &bytes);
    assert_int_equal(n, 0);
    recsys__llm_count_explanation(f->g, NULL, true);
    recsys__llm_count_explanation(f->g, NULL, false);
    c = counters(f);
    assert_int_equal(c.explanations, 2);
    assert_int_equal(c.explanations_failed, 1);
}

/* ------------------------------------------------------------------ out of memory */

static void oom_guard_new(void **state)
{
    fx *f = *state;
    for (long at = 0;; at++) {
        atomic_store(&f->stats.fail_at, at);
        recsys__llm_guard *g = (recsys__llm_guard *)&g;
        recsys_status st = recsys__llm_guard_new(&f->mem, &g);
        atomic_store(&f->stats.fail_at, -1);
        if (st == RECSYS_OK) {
            recsys__llm_guard_free(g);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(g);
        assert_true(at < 10);
    }
}

/* Every allocation of a miss (reply copy, cache entry, bucket array) and of a hit (the
 * copy) failed in turn: NOMEM with a message, or OK with the cache merely not filled;
 * nothing leaks and the host's budget is not double-spent. */
static void oom_ask(void **state)
{
    fx *f = *state;
    f->h.text = "%p";
    long base = atomic_load(&f->stats.live); /* the fixture's own guard */
    for (int phase = 0; phase < 2; phase++) {
        bool ok = false;
        for (long at = 0; !ok; at++) {
            recsys__llm_guard *g = NULL;
            assert_int_equal(recsys__llm_guard_new(&f->mem, &g), RECSYS_OK);
            recsys__llm_budget b;
            recsys__llm_budget_init(&b, f->ov.num);
            recsys__llm_ask a = mk("oom", 0);
            char *text = NULL;
            size_t len = 0;
            if (phase == 1) { /* fill the cache first: the ask under test is a hit */
                assert_int_equal(
                    recsys__llm_ask_run(g, &f->vt, f->ov.num, &b, &a, &f->mem, &text, &len),
                    RECSYS_OK);
                recsys__free(&f->mem, text);
                text = NULL;
            }
            long before = atomic_load(&f->stats.count);
            atomic_store(&f->stats.fail_at, before + at);
            recsys_status st = recsys__llm_ask_run(g, &f->vt, f->ov.num, &b, &a, &f->mem, &text,
                                                   &len);
            atomic_store(&f->stats.fail_at, -1);
            if (st == RECSYS_OK) {
                assert_string_equal(text, "oom");
                recsys__free(&f->mem, text);
                ok = atomic_load(&f->stats.failed) == 0 || at > 8;
            } else {
                assert_int_equal(st, RECSYS_E_NOMEM);
                assert_true(strlen(recsys_last_error()) > 0);
                assert_null(text);
            }
            atomic_store(&f->stats.failed, 0);
            recsys__llm_guard_free(g);
            assert_int_equal(atomic_load(&f->stats.live), base);
            assert_true(at < 20);
        }
    }
}

/* ------------------------------------------------------------------ threads */

typedef struct worker {
    fx *f;
    int id;
    long ok, denied;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    char p[32];
    for (int i = 0; i < 300; i++) {
        recsys__llm_budget b;
        recsys__llm_budget_init(&b, w->f->ov.num);
        snprintf(p, sizeof p, "shared %d", (i * 7 + w->id) % 40); /* overlapping prompts */
        char *t = NULL;
        recsys_status st = ask(w->f->g, &w->f->vt, w->f->ov.num, &b, p, 0, &t);
        if (st == RECSYS_OK) {
            if (strcmp(t, p) != 0)
                w->denied = -1000000; /* a wrong reply: fails the test below */
            w->ok++;
            recsys__llm_ask a = mk(p, 0);
            if (i % 13 == 0)
                recsys__llm_reject(w->f->g, NULL, &a);
            else
                recsys__llm_accept(w->f->g, &a);
        } else {
            w->denied++;
        }
        free(t);
    }
    return NULL;
}

static void concurrent_asks(void **state)
{
    fx *f = *state;
    f->h.text = "%p";
    set(f, RECSYS_OPT_LLM_BREAKER_FAILURES, 0);
    set(f, RECSYS_OPT_LLM_CACHE_BYTES, 20 * 100); /* small: constant eviction */
    set(f, RECSYS_OPT_LLM_CALLS_PER_MINUTE, 500);
    pthread_t th[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){ .f = f, .id = i };
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    long ok = 0, denied = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(w[i].denied >= 0);
        ok += w[i].ok;
        denied += w[i].denied;
    }
    assert_int_equal(ok + denied, 4 * 300);
    recsys__llm_counters c = counters(f);
    assert_int_equal(c.calls, (uint64_t)atomic_load(&f->h.calls));
    assert_true(c.calls <= 500);                    /* the engine's minute held */
    assert_int_equal(c.calls + c.cache_hits, (uint64_t)ok);
    assert_int_equal(c.budget_denied, (uint64_t)denied);
    size_t n, bytes;
    recsys__llm_cache_usage(f->g, &n, &bytes);
    assert_true(bytes <= 20 * 100);
}

/* ------------------------------------------------------------------ off the caller's lock */

/* The caller's side of recsys__llm_unlock, as a request has it: a lock held or not. */
typedef struct hook {
    bool held;          /* the caller's "lock" */
    int leaves, enters;
    recsys_status enter_st; /* what enter() returns */
    host *h;
    int unlocked_calls; /* complete() calls that ran with the lock let go */
} hook;

static void hook_leave(void *arg)
{
    hook *k = arg;
    assert_true(k->held);
    k->held = false;
    k->leaves++;
}

static recsys_status hook_enter(void *arg)
{
    hook *k = arg;
    assert_false(k->held);
    k->held = true;
    k->enters++;
    return k->enter_st;
}

static recsys_status hook_complete(void *ctx, const recsys_llm_call *call,
                                   recsys_llm_reply *reply)
{
    hook *k = ctx;
    if (!k->held)
        k->unlocked_calls++;
    return host_complete(k->h, call, reply);
}

/* complete() runs with the caller's lock let go, exactly once each way per call reaching the
 * host; a cache hit or a refusal keeps the lock; a failing enter() fails the ask with its
 * status (the reply dropped: the teardown's leak check and ASan). */
static void unlock_around_complete(void **state)
{
    fx *f = *state;
    hook k = { .held = true, .h = &f->h };
    recsys__llm_unlock ul = { hook_leave, hook_enter, &k };
    recsys_llm_vtable vt;
    recsys_llm_vtable_init(&vt);
    vt.ctx = &k;
    vt.complete = hook_complete;
    recsys__llm_budget b;
    recsys__llm_budget_init(&b, f->ov.num);
    assert_null(b.unlock); /* init: no unlock */
    b.unlock = &ul;
    char *t = NULL;
    assert_int_equal(ask(f->g, &vt, f->ov.num, &b, "one", 0.0, &t), RECSYS_OK);
    assert_string_equal(t, "ok");
    free(t);
    assert_int_equal(k.unlocked_calls, 1);
    assert_int_equal(k.leaves, 1);
    assert_int_equal(k.enters, 1);
    assert_true(k.held);
    /* the same call again: from the cache, the lock kept */
    assert_int_equal(ask(f->g, &vt, f->ov.num, &b, "one", 0.0, &t), RECSYS_OK);
    free(t);
    assert_int_equal(k.leaves, 1);
    assert_int_equal(atomic_load(&f->h.calls), 1);
    /* refused by the budget: the lock kept */
    b.calls_left = 0;
    assert_int_equal(ask(f->g, &vt, f->ov.num, &b, "two", 0.0, &t), RECSYS_E_BUDGET);
    assert_int_equal(k.leaves, 1);
    /* a failing enter(): its status, no reply, the lock held again */
    recsys__llm_budget_init(&b, f->ov.num);
    b.unlock = &ul;
    k.enter_st = RECSYS_E_NOMEM;
    assert_int_equal(ask(f->g, &vt, f->ov.num, &b, "three", 0.0, &t), RECSYS_E_NOMEM);
    assert_null(t);
    assert_int_equal(k.leaves, 2);
    assert_int_equal(k.enters, 2);
    assert_true(k.held);
    assert_int_equal(k.unlocked_calls, 2);
}

/* A host whose complete() waits for the test (a flag under a mutex, bounded by 60 s so a bug
 * fails instead of hanging). */
typedef struct held {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool inside, go, waited;
    recsys__llm_guard *g;
    const double *opt;
    recsys_status st;
} held;

static recsys_status held_complete(void *ctx, const recsys_llm_call *call,
                                   recsys_llm_reply *reply)
{
    (void)call;
    held *h = ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    pthread_mutex_lock(&h->mu);
    h->inside = true;
    pthread_cond_broadcast(&h->cv);
    while (!h->go && pthread_cond_timedwait(&h->cv, &h->mu, &ts) == 0)
        ;
    pthread_mutex_unlock(&h->mu);
    return recsys_llm_reply_set_text(reply, "ok", 2);
}

static void *held_asker(void *arg)
{
    held *h = arg;
    recsys_llm_vtable vt;
    recsys_llm_vtable_init(&vt);
    vt.ctx = h;
    vt.complete = held_complete;
    recsys__llm_budget b;
    recsys__llm_budget_init(&b, h->opt);
    recsys__llm_ask a = mk("held", 0.0);
    char *text = NULL;
    size_t len = 0;
    h->st = recsys__llm_ask_run(h->g, &vt, h->opt, &b, &a, &recsys__mem_default, &text, &len);
    recsys__free(&recsys__mem_default, text);
    return NULL;
}

static void *held_waiter(void *arg)
{
    held *h = arg;
    recsys__llm_guard_wait_idle(h->g, h); /* h is the asker's ctx */
    pthread_mutex_lock(&h->mu);
    h->waited = true;
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* recsys__llm_guard_wait_idle(ctx) returns at once for a ctx no call is inside, and waits
 * for a call inside complete() with that ctx. */
static void wait_idle_waits_for_the_call(void **state)
{
    fx *f = *state;
    recsys__llm_guard_wait_idle(f->g, f); /* nothing in flight */
    held h = { .g = f->g, .opt = f->ov.num };
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    pthread_t asker, waiter;
    assert_int_equal(pthread_create(&asker, NULL, held_asker, &h), 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    pthread_mutex_lock(&h.mu);
    while (!h.inside && pthread_cond_timedwait(&h.cv, &h.mu, &ts) == 0)
        ;
    bool inside = h.inside;
    pthread_mutex_unlock(&h.mu);
    assert_true(inside);
    recsys__llm_guard_wait_idle(f->g, f); /* another ctx: at once */
    assert_int_equal(pthread_create(&waiter, NULL, held_waiter, &h), 0);
    sleep_ms(20); /* give the waiter time to reach the wait (correct either way) */
    pthread_mutex_lock(&h.mu);
    bool early = h.waited;
    h.go = true;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.mu);
    pthread_join(asker, NULL);
    pthread_join(waiter, NULL);
    assert_false(early);
    assert_true(h.waited);
    assert_int_equal(h.st, RECSYS_OK);
    pthread_cond_destroy(&h.cv);
    pthread_mutex_destroy(&h.mu);
}

int main(void)
{
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(no_llm_registered),
        T(request_budget_bounds_calls),
        T(request_budget_bounds_tokens),
        T(budget_counts_the_request),
        T(budget_zero_never_calls),
        T(engine_budget_per_minute),
        T(cache_hit_on_repeat),
        T(rejected_reply_is_evicted),
        T(cache_evicts_under_byte_bound),
        T(cache_many_entries),
        T(breaker_opens_after_consecutive_failures),
        T(breaker_counts_only_consecutive),
        T(breaker_rejections_open_it),
        T(breaker_half_open_then_closed),
        T(deadline_discards_a_slow_reply),
        T(host_failure_is_counted),
        T(oom_guard_new),
        T(oom_ask),
        T(concurrent_asks),
        T(unlock_around_complete),
        T(wait_idle_waits_for_the_call),
#undef T
    };
    return cmocka_run_group_tests_name("llm/guard", tests, NULL, NULL);
}
