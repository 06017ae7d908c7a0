/* llm.c - the public view of the LLM calls: the guard's counters, the engine's and one
 * request's. */
#include "engine.h"
#include "request.h"
#include "../core/abi.h"

/* Checks out's size and copies c into it. */
static recsys_status fill(const recsys__llm_counters *c, recsys_llm_stats *out)
{
    if (out->struct_size < RECSYS_OFFSETOFEND(recsys_llm_stats, explanations_failed))
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_llm_stats.struct_size %u is too small",
                           (unsigned)out->struct_size);
    out->calls = c->calls;
    out->prompt_tokens = c->prompt_tokens;
    out->completion_tokens = c->completion_tokens;
    out->cache_hits = c->cache_hits;
    out->timeouts = c->timeouts;
    out->failures = c->failures;
    out->fallbacks = c->fallbacks;
    out->rejected = c->rejected;
    out->budget_denied = c->budget_denied;
    out->breaker_open = c->breaker_open;
    out->explanations = c->explanations;
    out->explanations_failed = c->explanations_failed;
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_engine_llm_stats(recsys_engine *e, recsys_llm_stats *out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(out);
    recsys__llm_counters c;
    recsys__llm_counters_get(e->llm_guard, &c);
    return fill(&c, out);
}

RECSYS_API recsys_status recsys_result_llm_stats(const recsys_result *res, recsys_llm_stats *out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(res);
    RECSYS_CHECK_ARG(out);
    return fill(&res->llm, out);
}
