/* guard.c - the one way to the host's LLM: budgets, deadline and counters around
 * recsys_llm_vtable.complete (see guard.h). The reply cache and the circuit breaker are
 * the LLM layer's next step; their counters are already here. */
#include "guard.h"
#include "call.h"
#include "../core/clock.h"
#include "../core/error.h"
#include "../core/options.h"
#include <pthread.h>

struct recsys__llm_guard {
    const recsys__mem *mem;
    pthread_mutex_t mu;
    recsys__llm_counters n;
};

recsys_status recsys__llm_guard_new(const recsys__mem *m, recsys__llm_guard **out)
{
    *out = NULL;
    recsys__llm_guard *g = recsys__calloc(m, 1, sizeof *g);
    if (!g)
        return RECSYS_E_NOMEM;
    g->mem = m;
    pthread_mutex_init(&g->mu, NULL);
    *out = g;
    return RECSYS_OK;
}

void recsys__llm_guard_free(recsys__llm_guard *g)
{
    if (!g)
        return;
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
}

static void count(recsys__llm_guard *g, uint64_t *field, uint64_t by)
{
    pthread_mutex_lock(&g->mu);
    *field += by;
    pthread_mutex_unlock(&g->mu);
}

recsys_status recsys__llm_ask_run(recsys__llm_guard *g, const recsys_llm_vtable *vt,
                                  const double *opt, recsys__llm_budget *b,
                                  const recsys__llm_ask *a, const recsys__mem *m, char **text,
                                  size_t *len)
{
    (void)opt;
    *text = NULL;
    *len = 0;
    if (!vt || !vt->complete)
        return recsys__err(RECSYS_E_NOT_FOUND, "llm: no LLM is registered");
    if (b->calls_left <= 0 || b->tokens_left <= 0) {
        count(g, &g->n.budget_denied, 1);
        count(g, &g->n.fallbacks, 1);
        return recsys__err(RECSYS_E_BUDGET, "llm: the request's call or token budget is spent");
    }
    uint64_t now = recsys__clock_mono_ns();
    if (b->deadline_ns && now >= b->deadline_ns) {
        count(g, &g->n.timeouts, 1);
        count(g, &g->n.fallbacks, 1);
        return recsys__err(RECSYS_E_TIMEOUT, "llm: the request's LLM deadline has passed");
    }
    recsys_llm_call call = { .task = a->task, .system = a->system, .prompt = a->prompt,
                             .schema = a->schema, .max_tokens = a->max_tokens,
                             .temperature = a->temperature, .deadline_ns = b->deadline_ns };
    recsys_llm_reply reply;
    recsys__llm_reply_init(&reply, m);
    b->calls_left--;
    count(g, &g->n.calls, 1);
    recsys_status st = vt->complete(vt->ctx, &call, &reply);
    int64_t pt = reply.prompt_tokens, ct = reply.completion_tokens;
    if (!pt && !ct) { /* the host did not say: estimate */
        pt = (int64_t)((strlen(a->system ? a->system : "") + strlen(a->prompt)) / 4);
        ct = (int64_t)(reply.len / 4);
    }
    b->tokens_left -= pt + ct;
    pthread_mutex_lock(&g->mu);
    g->n.prompt_tokens += (uint64_t)pt;
    g->n.completion_tokens += (uint64_t)ct;
    pthread_mutex_unlock(&g->mu);
    if (st != RECSYS_OK || !reply.text) {
        recsys__llm_reply_free(&reply);
        count(g, &g->n.failures, 1);
        count(g, &g->n.fallbacks, 1);
        if (st == RECSYS_E_NOMEM)
            return RECSYS_E_NOMEM;
        return recsys__err(RECSYS_E_CALLBACK, "llm: the host's complete() failed (status %d)",
                           (int)st);
    }
    if (b->deadline_ns && recsys__clock_mono_ns() > b->deadline_ns) {
        recsys__llm_reply_free(&reply);
        count(g, &g->n.timeouts, 1);
        count(g, &g->n.fallbacks, 1);
        return recsys__err(RECSYS_E_TIMEOUT, "llm: the reply came after the deadline");
    }
    *text = reply.text;
    *len = reply.len;
    return RECSYS_OK;
}

void recsys__llm_reject(recsys__llm_guard *g, const recsys__llm_ask *a)
{
    (void)a;
    pthread_mutex_lock(&g->mu);
    g->n.rejected++;
    g->n.fallbacks++;
    pthread_mutex_unlock(&g->mu);
}

void recsys__llm_count_explanation(recsys__llm_guard *g, bool failed)
{
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
