/* call.c - the recsys_llm_call getters and the recsys_llm_reply sink. */
#include "call.h"
#include "../core/clock.h"
#include "../core/error.h"
#include "../core/utf8.h"

void recsys__llm_reply_init(recsys_llm_reply *r, const recsys__mem *m)
{
    memset(r, 0, sizeof *r);
    r->mem = m;
}

void recsys__llm_reply_free(recsys_llm_reply *r)
{
    recsys__free(r->mem, r->text);
    r->text = NULL;
    r->len = 0;
}

RECSYS_API int32_t recsys_llm_call_task(const recsys_llm_call *c)
{
    return c ? c->task : 0;
}

RECSYS_API const char *recsys_llm_call_system(const recsys_llm_call *c)
{
    return (c && c->system) ? c->system : "";
}

RECSYS_API const char *recsys_llm_call_prompt(const recsys_llm_call *c)
{
    return (c && c->prompt) ? c->prompt : "";
}

RECSYS_API const char *recsys_llm_call_schema(const recsys_llm_call *c)
{
    return c ? c->schema : NULL;
}

RECSYS_API int32_t recsys_llm_call_max_tokens(const recsys_llm_call *c)
{
    return c ? c->max_tokens : 0;
}

RECSYS_API double recsys_llm_call_temperature(const recsys_llm_call *c)
{
    return c ? c->temperature : 0.0;
}

RECSYS_API int64_t recsys_llm_call_deadline_ms(const recsys_llm_call *c)
{
    if (!c)
        return 0;
    uint64_t now = recsys__clock_mono_ns();
    return c->deadline_ns > now ? (int64_t)((c->deadline_ns - now) / 1000000u) : 0;
}

RECSYS_API recsys_status recsys_llm_reply_set_text(recsys_llm_reply *r, const char *text, size_t len)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(r);
    if (!text && len)
        return recsys__err(RECSYS_E_INVALID_ARG, "reply text is NULL with length %zu", len);
    /* the text is untrusted: it is validated where it is parsed, but it must be UTF-8 */
    if (len && !recsys__utf8_valid(text, len))
        return recsys__err(RECSYS_E_INVALID_ARG, "reply text is not valid UTF-8 (or holds NUL)");
    char *copy = recsys__strndup(r->mem, text ? text : "", len);
    if (!copy)
        return RECSYS_E_NOMEM;
    recsys__free(r->mem, r->text);
    r->text = copy;
    r->len = len;
    return RECSYS_OK;
}

RECSYS_API void recsys_llm_reply_set_usage(recsys_llm_reply *r, int64_t prompt_tokens,
                                           int64_t completion_tokens)
{
    recsys__err_clear();
    if (!r)
        return;
    r->prompt_tokens = prompt_tokens > 0 ? prompt_tokens : 0;
    r->completion_tokens = completion_tokens > 0 ? completion_tokens : 0;
}
