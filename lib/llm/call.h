/* call.h - one call to the host's LLM and the sink for its reply (the plumbing around it,
 * budgets, cache and breaker, arrives with the LLM layer). */
#ifndef RECSYS_LLM_CALL_H
#define RECSYS_LLM_CALL_H
#include "../core/alloc.h"

struct recsys_llm_call {
    int32_t task;
    const char *system;
    const char *prompt;
    const char *schema; /* or NULL */
    int32_t max_tokens;
    double temperature;
    uint64_t deadline_ns; /* monotonic clock */
};

struct recsys_llm_reply {
    const recsys__mem *mem;
    char *text;
    size_t len;
    int64_t prompt_tokens, completion_tokens;
};

void recsys__llm_reply_init(recsys_llm_reply *r, const recsys__mem *m);
void recsys__llm_reply_free(recsys_llm_reply *r);

#endif
