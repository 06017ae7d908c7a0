/* llm_openai_http.h - an example LLM transport: recsys_llm_vtable over libcurl for any
 * OpenAI-compatible chat-completions server (llama.cpp's llama-server, vLLM, Ollama, or a
 * hosted API).
 *
 * Written the way a host would write it: only the public header recsys.h, libcurl and
 * jansson. The library itself has no network code; this file is where a host's transport
 * lives. Hand the vtable to recsys_engine_set_llm(); the engine then owns it and calls
 * destroy exactly once.
 *
 * One call = one POST {base}/v1/chat/completions with
 *   {"model":M,"messages":[{"role":"system","content":S},{"role":"user","content":P}],
 *    "max_tokens":N,"temperature":T,"stream":false,
 *    "response_format":{"type":"json_schema","json_schema":{"name":"recsys_reply",
 *                       "strict":false,"schema":<the call's schema>}}}
 * (response_format only when the call has a schema and the config allows it), answered by
 * choices[0].message.content and usage.prompt_tokens / usage.completion_tokens. The whole
 * transfer must end by the call's deadline (recsys_llm_call_deadline_ms). Every failure is a
 * status and a message (recsys_error_set) naming what failed: RECSYS_E_TIMEOUT (the deadline
 * passed), RECSYS_E_IO (no connection: refused, unknown host, reset), RECSYS_E_CALLBACK (an
 * HTTP status other than 200, with the server's error message; a body that is not a chat
 * completion), RECSYS_E_NOMEM.
 *
 * Thread-safety: complete() may run on several threads at once (one curl handle per call;
 * curl_global_init must have run before threads start: example_llm_openai_http_new does it,
 * so call that first from one thread).
 */
#ifndef EXAMPLE_LLM_OPENAI_HTTP_H
#define EXAMPLE_LLM_OPENAI_HTTP_H

#include "recsys.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Settings; every NULL string falls back to an environment variable, then a default. */
typedef struct example_llm_http_config {
    const char *base_url; /**< "http://127.0.0.1:8080" (llama-server), "http://host:8000/v1"
                               (vLLM), "http://127.0.0.1:11434" (Ollama); a URL that already
                               ends in /chat/completions is used as it is. NULL: env
                               RECSYS_LLM_URL, else "http://127.0.0.1:8080" */
    const char *model;    /**< NULL: env RECSYS_LLM_MODEL, else "default" */
    const char *api_key;  /**< sent as "Authorization: Bearer ..."; NULL: env
                               RECSYS_LLM_API_KEY, else none */
    int no_schema;        /**< 1: never send response_format (servers that reject it);
                               also env RECSYS_LLM_NO_SCHEMA=1 */
    long timeout_ms;      /**< used when a call carries no deadline (0: 60000) */
} example_llm_http_config;

/**
 * Fills *out with the transport (ctx, destroy, complete). The strings are copied.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (out NULL, a URL that is not http:// or
 *         https://); RECSYS_E_NOMEM; RECSYS_E_IO (libcurl could not start).
 */
recsys_status example_llm_openai_http_new(const example_llm_http_config *cfg,
                                          recsys_llm_vtable *out);

#ifdef __cplusplus
}
#endif

#endif
