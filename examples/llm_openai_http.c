/* llm_openai_http.c - the example HTTP LLM transport (llm_openai_http.h) and a small program
 * around it.
 *
 * The program sends one prompt to a server and prints the reply and the tokens it used:
 *
 *   build/examples/llm_openai_http --url http://127.0.0.1:8080 [--model NAME] [--key KEY]
 *       [--system TEXT] [--schema JSON] [--max-tokens N] [--temperature T]
 *       [--timeout-ms N] [--no-schema] "prompt"
 *
 * or, with --enrich, puts the prompt text in a one-item catalog as its description and runs
 * recsys_catalog_enrich() over the server, printing the item with its generated part:
 *
 *   build/examples/llm_openai_http --url http://127.0.0.1:8080 --enrich \
 *       "A light 14-inch laptop with an RTX 4060 GPU and 12 hours of battery."
 *
 * Exit status 0 on success, 1 on a failure (printed with its status), 2 on bad usage.
 *
 * Cost: one HTTP request per call (a new connection each time: keep-alive would need a handle
 * per thread); the body is built and the reply parsed with jansson, O(prompt + reply bytes).
 * Replies over 8 MiB are refused.
 */
#include "llm_openai_http.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_MAX ((size_t)8 << 20)

typedef struct http_llm {
    char *url;   /* the full chat-completions URL */
    char *model;
    char *auth;  /* "Authorization: Bearer ..." or NULL */
    int no_schema;
    long timeout_ms;
} http_llm;

static recsys_status http_fail(recsys_status st, const char *fmt, const char *a, const char *b)
{
    char msg[480];
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
    return recsys_error_set(st, msg);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static const char *pick(const char *given, const char *env, const char *fallback)
{
    if (given)
        return given;
    const char *v = getenv(env);
    return v && v[0] ? v : fallback;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* base + the path of chat completions (see llm_openai_http.h). */
static char *chat_url(const char *base)
{
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    const char *tail = "/v1/chat/completions";
    char trimmed[2048];
    if (n >= sizeof trimmed)
        return NULL;
    memcpy(trimmed, base, n);
    trimmed[n] = '\0';
    if (ends_with(trimmed, "/chat/completions"))
        tail = "";
    else if (ends_with(trimmed, "/v1"))
        tail = "/chat/completions";
    char *url = malloc(n + strlen(tail) + 1);
    if (url)
        snprintf(url, n + strlen(tail) + 1, "%s%s", trimmed, tail);
    return url;
}

static void http_destroy(void *ctx)
{
    http_llm *h = ctx;
    if (!h)
        return;
    free(h->url);
    free(h->model);
    if (h->auth) { /* the key should not linger in freed memory */
        memset(h->auth, 0, strlen(h->auth));
        free(h->auth);
    }
    free(h);
}

/* ------------------------------------------------------------ one request */

typedef struct body {
    char *p;
    size_t n;
    bool too_big;
} body;

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    body *b = arg;
    size_t add = size * nmemb;
    if (add > REPLY_MAX - b->n) {
        b->too_big = true;
        return 0; /* stops the transfer */
    }
    char *np = realloc(b->p, b->n + add + 1);
    if (!np)
        return 0;
    memcpy(np + b->n, data, add);
    b->n += add;
    np[b->n] = '\0';
    b->p = np;
    return add;
}

/* The request body as JSON text (free with free()), or NULL without memory. */
static char *request_body(const http_llm *h, const char *system, const char *prompt,
                          const char *schema, int32_t max_tokens, double temperature)
{
    json_t *root = json_object();
    json_t *msgs = json_array();
    json_t *sys = json_pack("{s:s, s:s}", "role", "system", "content", system ? system : "");
    json_t *usr = json_pack("{s:s, s:s}", "role", "user", "content", prompt ? prompt : "");
    char *text = NULL;
    if (root && msgs && sys && usr && !json_array_append_new(msgs, sys) &&
        !json_array_append_new(msgs, usr)) {
        sys = usr = NULL;
        json_object_set_new(root, "model", json_string(h->model));
        json_object_set_new(root, "messages", msgs);
        msgs = NULL;
        if (max_tokens > 0)
            json_object_set_new(root, "max_tokens", json_integer(max_tokens));
        json_object_set_new(root, "temperature", json_real(temperature));
        json_object_set_new(root, "stream", json_false());
        json_t *sch = schema && !h->no_schema ? json_loads(schema, 0, NULL) : NULL;
        /* a schema that is not JSON is left out rather than sent broken; "strict": false
         * because OpenAI's strict mode refuses optional properties and keywords such as
         * maxItems, while llama.cpp and vLLM build their grammar from the schema either way */
        if (sch)
            json_object_set_new(root, "response_format",
                                json_pack("{s:s, s:{s:s, s:b, s:o}}", "type", "json_schema",
                                          "json_schema", "name", "recsys_reply", "strict", 0,
                                          "schema", sch));
        text = json_dumps(root, JSON_COMPACT);
    }
    json_decref(sys);
    json_decref(usr);
    json_decref(msgs);
    json_decref(root);
    return text;
}

/* The server's error message from an error body ({"error":{"message":...}} or
 * {"error":"..."}), or the start of the body. */
static void error_text(const body *b, char *out, size_t cap)
{
    out[0] = '\0';
    json_t *root = b->p ? json_loadb(b->p, b->n, 0, NULL) : NULL;
    json_t *err = root ? json_object_get(root, "error") : NULL;
    const char *msg = json_is_string(err) ? json_string_value(err)
                      : json_string_value(json_object_get(err, "message"));
    if (msg)
        snprintf(out, cap, "%s", msg);
    else if (b->p)
        snprintf(out, cap, "%.200s", b->p);
    for (char *p = out; *p; p++) /* one line */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    json_decref(root);
}

/* Reads choices[0].message.content and usage; RECSYS_E_CALLBACK naming what is missing. */
static recsys_status parse_reply(const body *b, char **content, int64_t *pt, int64_t *ct)
{
    json_error_t je;
    json_t *root = json_loadb(b->p ? b->p : "", b->n, 0, &je);
    if (!root)
        return http_fail(RECSYS_E_CALLBACK, "llm http: the reply is not JSON (%s)%s", je.text,
                         NULL);
    recsys_status st = RECSYS_OK;
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    json_t *c = json_object_get(json_object_get(choice, "message"), "content");
    if (!json_is_string(c)) {
        st = http_fail(RECSYS_E_CALLBACK, "llm http: the reply has no "
                       "choices[0].message.content string%s%s", NULL, NULL);
    } else if (!(*content = dup_str(json_string_value(c)))) {
        st = recsys_error_set(RECSYS_E_NOMEM, "llm http: no memory for the reply");
    } else {
        json_t *u = json_object_get(root, "usage");
        json_t *p = json_object_get(u, "prompt_tokens");
        json_t *q = json_object_get(u, "completion_tokens");
        *pt = json_is_integer(p) && json_integer_value(p) > 0 ? json_integer_value(p) : 0;
        *ct = json_is_integer(q) && json_integer_value(q) > 0 ? json_integer_value(q) : 0;
    }
    json_decref(root);
    return st;
}

/* One chat completion: the reply's content in *content (free()), its usage (0 when the
 * server did not say). timeout_ms > 0 bounds the whole transfer. */
static recsys_status http_chat(const http_llm *h, const char *system, const char *prompt,
                               const char *schema, int32_t max_tokens, double temperature,
                               long timeout_ms, char **content, int64_t *pt, int64_t *ct)
{
    *content = NULL;
    *pt = *ct = 0;
    char *req = request_body(h, system, prompt, schema, max_tokens, temperature);
    if (!req)
        return recsys_error_set(RECSYS_E_NOMEM, "llm http: no memory for the request");
    CURL *cu = curl_easy_init();
    /* "Expect:" off: no 1 s wait for a "100 Continue" some servers never send */
    struct curl_slist *hdr = NULL, *h2;
    static const char *const fixed[] = { "Content-Type: application/json", "Expect:" };
    bool ok = cu != NULL;
    for (size_t i = 0; ok && i < 3; i++) {
        const char *line = i < 2 ? fixed[i] : h->auth;
        if (!line)
            continue;
        if ((h2 = curl_slist_append(hdr, line)))
            hdr = h2;
        else
            ok = false;
    }
    if (!ok) {
        curl_slist_free_all(hdr);
        curl_easy_cleanup(cu);
        free(req);
        return recsys_error_set(RECSYS_E_NOMEM, "llm http: libcurl could not start a request");
    }
    body b = { 0 };
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(cu, CURLOPT_URL, h->url);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(cu, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE, (long)strlen(req));
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
    curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
    CURLcode rc = curl_easy_perform(cu);
    long status = 0;
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
    recsys_status st = RECSYS_OK;
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        char ms[32];
        snprintf(ms, sizeof ms, "%ld", timeout_ms);
        st = http_fail(RECSYS_E_TIMEOUT, "llm http: no reply from %s within the deadline (%s ms)",
                  h->url, ms);
    } else if (b.too_big) {
        st = http_fail(RECSYS_E_CALLBACK, "llm http: the reply from %s is over 8 MiB%s", h->url,
                  NULL);
    } else if (rc == CURLE_WRITE_ERROR) {
        st = recsys_error_set(RECSYS_E_NOMEM, "llm http: no memory for the reply");
    } else if (rc != CURLE_OK) {
        st = http_fail(RECSYS_E_IO, "llm http: %s: %s", h->url,
                  errbuf[0] ? errbuf : curl_easy_strerror(rc));
    } else if (status != 200) {
        char msg[256], what[300];
        error_text(&b, msg, sizeof msg);
        snprintf(what, sizeof what, "HTTP %ld: %s", status, msg);
        st = http_fail(RECSYS_E_CALLBACK, "llm http: %s answered %s", h->url, what);
    } else {
        st = parse_reply(&b, content, pt, ct);
    }
    free(b.p);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(cu);
    free(req);
    return st;
}

/* ------------------------------------------------------------ the vtable */

static recsys_status http_complete(void *ctx, const recsys_llm_call *call, recsys_llm_reply *reply)
{
    const http_llm *h = ctx;
    /* 0 means no deadline, or less than a millisecond left: the library discards a late
     * reply anyway, so the transport's own timeout applies then */
    int64_t left = recsys_llm_call_deadline_ms(call);
    long timeout = left > 0 ? (long)left : h->timeout_ms;
    char *content = NULL;
    int64_t pt, ct;
    recsys_status st = http_chat(h, recsys_llm_call_system(call), recsys_llm_call_prompt(call),
                                 recsys_llm_call_schema(call), recsys_llm_call_max_tokens(call),
                                 recsys_llm_call_temperature(call), timeout, &content, &pt, &ct);
    if (st != RECSYS_OK)
        return st;
    st = recsys_llm_reply_set_text(reply, content, strlen(content));
    if (st == RECSYS_OK && (pt || ct))
        recsys_llm_reply_set_usage(reply, pt, ct);
    free(content);
    return st;
}

recsys_status example_llm_openai_http_new(const example_llm_http_config *cfg,
                                          recsys_llm_vtable *out)
{
    if (!out)
        return recsys_error_set(RECSYS_E_INVALID_ARG, "llm http: out is NULL");
    example_llm_http_config none = { 0 };
    if (!cfg)
        cfg = &none;
    const char *base = pick(cfg->base_url, "RECSYS_LLM_URL", "http://127.0.0.1:8080");
    if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)
        return http_fail(RECSYS_E_INVALID_ARG, "llm http: base URL '%.200s' is not http:// or "
                    "https://%s", base, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return recsys_error_set(RECSYS_E_IO, "llm http: curl_global_init failed");
    const char *key = pick(cfg->api_key, "RECSYS_LLM_API_KEY", NULL);
    const char *ns = getenv("RECSYS_LLM_NO_SCHEMA");
    http_llm *h = calloc(1, sizeof *h);
    if (h) {
        h->url = chat_url(base);
        h->model = dup_str(pick(cfg->model, "RECSYS_LLM_MODEL", "default"));
        h->no_schema = cfg->no_schema || (ns && strcmp(ns, "1") == 0);
        h->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 60000;
        if (key && key[0]) {
            size_t n = strlen("Authorization: Bearer ") + strlen(key) + 1;
            if ((h->auth = malloc(n)))
                snprintf(h->auth, n, "Authorization: Bearer %s", key);
        }
    }
    if (!h || !h->url || !h->model || (key && key[0] && !h->auth)) {
        http_destroy(h);
        return recsys_error_set(RECSYS_E_NOMEM, "llm http: no memory for the transport");
    }
    recsys_llm_vtable_init(out);
    out->ctx = h;
    out->destroy = http_destroy;
    out->complete = http_complete;
    return RECSYS_OK;
}

/* ------------------------------------------------------------ the program */

#ifndef LLM_OPENAI_HTTP_NO_MAIN

static int usage(void)
{
    fprintf(stderr,
            "usage: llm_openai_http --url URL [--model NAME] [--key KEY] [--system TEXT]\n"
            "         [--schema JSON] [--max-tokens N] [--temperature T] [--timeout-ms N]\n"
            "         [--no-schema] [--enrich] PROMPT\n"
            "Sends PROMPT to an OpenAI-compatible chat-completions server and prints the reply\n"
            "(--enrich: enriches a one-item catalog whose description is PROMPT instead).\n"
            "Environment: RECSYS_LLM_URL, RECSYS_LLM_MODEL, RECSYS_LLM_API_KEY.\n");
    return 2;
}

static int failed(const char *what, recsys_status st)
{
    fprintf(stderr, "%s: %s: %s\n", what, recsys_status_str(st), recsys_last_error());
    return 1;
}

/* The library's path: one item, recsys_catalog_enrich over the transport. */
static int enrich(recsys_llm_vtable *vt, const char *text)
{
    recsys_engine_opts o;
    recsys_engine_opts_init(&o);
    recsys_engine *e = NULL;
    recsys_status st = recsys_engine_new(&o, &e);
    if (st != RECSYS_OK) {
        if (vt->destroy)
            vt->destroy(vt->ctx);
        return failed("engine", st);
    }
    if ((st = recsys_engine_set_llm(e, "http", vt)) != RECSYS_OK) {
        recsys_engine_free(e);
        return failed("set_llm", st);
    }
    recsys_item_spec *spec = NULL;
    if ((st = recsys_item_spec_new("item-1", &spec)) == RECSYS_OK &&
        (st = recsys_item_spec_set_text(spec, RECSYS_FIELD_DESCRIPTION, text)) == RECSYS_OK &&
        (st = recsys_engine_set_int(e, RECSYS_OPT_ENRICH_NEW_TAGS, 1)) == RECSYS_OK)
        st = recsys_catalog_upsert(e, spec);
    recsys_item_spec_free(spec);
    recsys_enrich_report r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    const char *one[] = { "item-1" };
    if (st == RECSYS_OK)
        st = recsys_catalog_enrich(e, one, 1, &r);
    char *json = NULL;
    if (st == RECSYS_OK) {
        if (r.enriched != 1)
            fprintf(stderr, "not enriched: %s\n", recsys_last_error());
        st = recsys_catalog_get_json(e, "item-1", &json);
    }
    if (st != RECSYS_OK) {
        recsys_engine_free(e);
        return failed("enrich", st);
    }
    printf("%s\n", json);
    recsys_string_free(json);
    recsys_engine_free(e);
    return r.enriched == 1 ? 0 : 1;
}

int main(int argc, char **argv)
{
    example_llm_http_config cfg = { 0 };
    const char *system = "You are a helpful assistant.", *schema = NULL, *prompt = NULL;
    long max_tokens = 512;
    double temperature = 0.2;
    bool do_enrich = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--url") && has) cfg.base_url = argv[++i];
        else if (!strcmp(a, "--model") && has) cfg.model = argv[++i];
        else if (!strcmp(a, "--key") && has) cfg.api_key = argv[++i];
        else if (!strcmp(a, "--system") && has) system = argv[++i];
        else if (!strcmp(a, "--schema") && has) schema = argv[++i];
        else if (!strcmp(a, "--max-tokens") && has) max_tokens = strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--temperature") && has) temperature = strtod(argv[++i], NULL);
        else if (!strcmp(a, "--timeout-ms") && has) cfg.timeout_ms = strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--no-schema")) cfg.no_schema = 1;
        else if (!strcmp(a, "--enrich")) do_enrich = true;
        else if (a[0] != '-' && !prompt) prompt = a;
        else return usage();
    }
    if (!prompt || max_tokens < 1 || max_tokens > 1000000)
        return usage();
    recsys_llm_vtable vt;
    recsys_status st = example_llm_openai_http_new(&cfg, &vt);
    if (st != RECSYS_OK)
        return failed("llm http", st);
    int rc;
    if (do_enrich) {
        rc = enrich(&vt, prompt); /* the engine owns vt from here */
    } else {
        char *content = NULL;
        int64_t pt, ct;
        http_llm *h = vt.ctx;
        st = http_chat(h, system, prompt, schema, (int32_t)max_tokens, temperature,
                       h->timeout_ms, &content, &pt, &ct);
        if (st == RECSYS_OK) {
            printf("%s\n", content);
            fprintf(stderr, "tokens: prompt %lld, completion %lld\n", (long long)pt,
                    (long long)ct);
            rc = 0;
        } else {
            rc = failed("llm http", st);
        }
        free(content);
        vt.destroy(vt.ctx);
    }
    curl_global_cleanup();
    return rc;
}

#endif
