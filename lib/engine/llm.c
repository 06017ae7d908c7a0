/* llm.c - the engine's public view of its LLM calls: the counters of the guard. */
#include "engine.h"
#include "../core/abi.h"

RECSYS_API recsys_status recsys_engine_llm_stats(recsys_engine *e, recsys_llm_stats *out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(out);
    if (out->struct_size < RECSYS_OFFSETOFEND(recsys_llm_stats, explanations_failed))
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_llm_stats.struct_size %u is too small",
                           (unsigned)out->struct_size);
    recsys__llm_counters c;
    recsys__llm_counters_get(e->llm_guard, &c);
    out->calls = c.calls;
    out->prompt_tokens = c.prompt_tokens;
    out->completion_tokens = c.completion_tokens;
    out->cache_hits = c.cache_hits;
    out->timeouts = c.timeouts;
    out->failures = c.failures;
    out->fallbacks = c.fallbacks;
    out->rejected = c.rejected;
    out->budget_denied = c.budget_denied;
    out->breaker_open = c.breaker_open;
    out->explanations = c.explanations;
    out->explanations_failed = c.explanations_failed;
    return RECSYS_OK;
}
