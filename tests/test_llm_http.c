/* test_llm_http.c - the example HTTP LLM transport (examples/llm_openai_http.c) against a tiny
 * HTTP server this test runs on 127.0.0.1 (a thread, a listening socket on port 0) with
 * canned chat-completions answers: a normal reply (the request's URL, headers and JSON body
 * checked, the usage reported), no schema, an HTTP 500 with the server's message, a server
 * slower than the call's deadline, malformed bodies, a refused connection, bad settings, the
 * URL forms, and the whole way through the engine (recsys_catalog_enrich over HTTP). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* White-box: the transport is an example program, not a library; its test compiles it in
 * without its main (and reaches chat_url, a static helper). */
#define LLM_OPENAI_HTTP_NO_MAIN
#include "llm_openai_http.c"

#include "core/clock.h"
#include "llm/call.h"

/* ------------------------------------------------------------ the canned server */

typedef struct canned {
    int status;
    const char *body;
    int delay_ms; /* before answering */
} canned;

typedef struct server {
    int fd, port;
    pthread_t th;
    _Atomic int stop;
    canned replies[4]; /* by request; the last one repeats */
    size_t nreplies;
    pthread_mutex_t mu;
    int requests;
    char *last; /* the last request: head and body */
} server;

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Reads one request (head, then Content-Length bytes of body) into a malloc'd string. */
static char *read_request(int c)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    size_t want = SIZE_MAX;
    while (n < want && n < cap) {
        ssize_t k = recv(c, buf + n, cap - n, 0);
        if (k <= 0)
            break;
        n += (size_t)k;
        buf[n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end && want == SIZE_MAX) {
            size_t len = 0;
            for (char *p = buf; p < end; p++)
                if (!strncasecmp(p, "\r\ncontent-length:", 17))
                    len = strtoul(p + 17, NULL, 10);
            want = (size_t)(end + 4 - buf) + len;
        }
    }
    buf[n] = '\0';
    return buf;
}

static void *serve(void *arg)
{
    server *s = arg;
    while (!s->stop) {
        struct pollfd p = { .fd = s->fd, .events = POLLIN };
        if (poll(&p, 1, 20) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        char *req = read_request(c);
        pthread_mutex_lock(&s->mu);
        size_t i = (size_t)s->requests++;
        free(s->last);
        s->last = req;
        canned r = s->replies[i < s->nreplies ? i : s->nreplies - 1];
        pthread_mutex_unlock(&s->mu);
        for (int t = 0; t < r.delay_ms && !s->stop; t += 10)
            sleep_ms(10);
        char head[256];
        int hn = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n", r.status,
                          strlen(r.body));
        (void)!send(c, head, (size_t)hn, MSG_NOSIGNAL);
        (void)!send(c, r.body, strlen(r.body), MSG_NOSIGNAL);
        close(c);
    }
    return NULL;
}

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int server_setup(void **state)
{
    server *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->fd = listen_any(&s->port);
    assert_int_equal(listen(s->fd, 8), 0);
    pthread_mutex_init(&s->mu, NULL);
    assert_int_equal(pthread_create(&s->th, NULL, serve, s), 0);
    *state = s;
    return 0;
}

static int server_teardown(void **state)
{
    server *s = *state;
    s->stop = 1;
    pthread_join(s->th, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->mu);
    free(s->last);
    free(s);
    return 0;
}

static void answer(server *s, int status, const char *body, int delay_ms)
{
    pthread_mutex_lock(&s->mu);
    s->replies[0] = (canned){ status, body, delay_ms };
    s->nreplies = 1;
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------ helpers */

static recsys_llm_vtable transport(const server *s, const char *path, int no_schema)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    example_llm_http_config cfg = { .base_url = url, .model = "test-model",
                                    .api_key = "test-key", .no_schema = no_schema };
    recsys_llm_vtable vt;
    assert_int_equal(example_llm_openai_http_new(&cfg, &vt), RECSYS_OK);
    assert_non_null(vt.complete);
    return vt;
}

/* Runs one complete() with the given schema and deadline. */
static recsys_status ask(const recsys_llm_vtable *vt, const char *schema, int64_t deadline_ms,
                         recsys_llm_reply *reply)
{
    recsys_llm_call call = { .task = RECSYS_LLM_RERANK, .system = "You rank.",
                             .prompt = "Order \"these\" <data>\n{\"handle\":1}\n</data>",
                             .schema = schema, .max_tokens = 64, .temperature = 0.5,
                             .deadline_ns = recsys__clock_mono_ns() +
                                            (uint64_t)deadline_ms * 1000000u };
    recsys__llm_reply_init(reply, &recsys__mem_default);
    return vt->complete(vt->ctx, &call, reply);
}

static const char *const ok_body =
    "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":"
    "{\"role\":\"assistant\",\"content\":\"{\\\"order\\\":[2,1]}\"},\"finish_reason\":"
    "\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17}}";

/* ------------------------------------------------------------ tests */

static void test_normal_reply(void **state)
{
    server *s = *state;
    answer(s, 200, ok_body, 0);
    recsys_llm_vtable vt = transport(s, "", 0);
    recsys_llm_reply reply;
    assert_int_equal(ask(&vt, "{\"type\":\"object\",\"required\":[\"order\"]}", 5000, &reply),
                     RECSYS_OK);
    assert_string_equal(reply.text, "{\"order\":[2,1]}");
    assert_int_equal(reply.prompt_tokens, 12);
    assert_int_equal(reply.completion_tokens, 5);
    recsys__llm_reply_free(&reply);

    /* what the server saw */
    pthread_mutex_lock(&s->mu);
    char *req = strdup(s->last);
    pthread_mutex_unlock(&s->mu);
    assert_true(strncmp(req, "POST /v1/chat/completions HTTP/1.1\r\n", 36) == 0);
    assert_non_null(strcasestr(req, "\r\nAuthorization: Bearer test-key\r\n"));
    assert_non_null(strcasestr(req, "\r\nContent-Type: application/json\r\n"));
    assert_null(strcasestr(req, "\r\nExpect:"));
    json_t *body = json_loads(strstr(req, "\r\n\r\n") + 4, 0, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "model")), "test-model");
    json_t *msgs = json_object_get(body, "messages");
    assert_int_equal(json_array_size(msgs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "role")),
                        "system");
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "content")),
                        "You rank.");
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "content")),
                        "Order \"these\" <data>\n{\"handle\":1}\n</data>");
    assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")), 64);
    assert_true(json_real_value(json_object_get(body, "temperature")) == 0.5);
    assert_true(json_is_false(json_object_get(body, "stream")));
    json_t *rf = json_object_get(body, "response_format");
    assert_string_equal(json_string_value(json_object_get(rf, "type")), "json_schema");
    json_t *sch = json_object_get(json_object_get(rf, "json_schema"), "schema");
    assert_string_equal(json_string_value(json_object_get(sch, "type")), "object");
    json_decref(body);
    free(req);
    vt.destroy(vt.ctx);
}

static void test_no_schema_and_no_usage(void **state)
{
    server *s = *state;
    answer(s, 200, "{\"choices\":[{\"message\":{\"content\":\"plain\"}}]}", 0);
    recsys_llm_vtable vt = transport(s, "/v1/", 1); /* schema sending off */
    recsys_llm_reply reply;
    assert_int_equal(ask(&vt, "{\"type\":\"object\"}", 5000, &reply), RECSYS_OK);
    assert_string_equal(reply.text, "plain");
    assert_int_equal(reply.prompt_tokens, 0); /* the server did not say: the guard estimates */
    assert_int_equal(reply.completion_tokens, 0);
    recsys__llm_reply_free(&reply);
    pthread_mutex_lock(&s->mu);
    assert_true(strncmp(s->last, "POST /v1/chat/completions ", 26) == 0);
    assert_null(strstr(s->last, "response_format"));
    pthread_mutex_unlock(&s->mu);
    vt.destroy(vt.ctx);
    /* a call without a schema sends none either, and a schema that is not JSON is left out */
    vt = transport(s, "", 0);
    assert_int_equal(ask(&vt, NULL, 5000, &reply), RECSYS_OK);
    recsys__llm_reply_free(&reply);
    assert_int_equal(ask(&vt, "{not json", 5000, &reply), RECSYS_OK);
    recsys__llm_reply_free(&reply);
    pthread_mutex_lock(&s->mu);
    assert_null(strstr(s->last, "response_format"));
    pthread_mutex_unlock(&s->mu);
    vt.destroy(vt.ctx);
}

static void test_http_500(void **state)
{
    server *s = *state;
    answer(s, 500, "{\"error\":{\"message\":\"model not loaded\",\"type\":\"server_error\"}}",
           0);
    recsys_llm_vtable vt = transport(s, "", 0);
    recsys_llm_reply reply;
    assert_int_equal(ask(&vt, NULL, 5000, &reply), RECSYS_E_CALLBACK);
    assert_null(reply.text);
    assert_non_null(strstr(recsys_last_error(), "HTTP 500"));
    assert_non_null(strstr(recsys_last_error(), "model not loaded"));
    recsys__llm_reply_free(&reply);
    answer(s, 401, "{\"error\":\"bad key\"}", 0);
    assert_int_equal(ask(&vt, NULL, 5000, &reply), RECSYS_E_CALLBACK);
    assert_non_null(strstr(recsys_last_error(), "HTTP 401: bad key"));
    recsys__llm_reply_free(&reply);
    vt.destroy(vt.ctx);
}

static void test_slow_server_past_deadline(void **state)
{
    server *s = *state;
    answer(s, 200, ok_body, 3000);
    recsys_llm_vtable vt = transport(s, "", 0);
    recsys_llm_reply reply;
    assert_int_equal(ask(&vt, NULL, 100, &reply), RECSYS_E_TIMEOUT);
    assert_null(reply.text);
    assert_non_null(strstr(recsys_last_error(), "deadline"));
    recsys__llm_reply_free(&reply);
    vt.destroy(vt.ctx);
}

static void test_malformed_bodies(void **state)
{
    server *s = *state;
    static const struct { const char *body; const char *msg; } bad[] = {
        { "<html>oops</html>", "not JSON" },
        { "{\"choices\":[]}", "choices[0].message.content" },
        { "{\"choices\":[{\"message\":{\"content\":null}}]}", "choices[0].message.content" },
        { "{\"choices\":[{\"message\":{\"content\":7}}]}", "choices[0].message.content" },
        { "", "not JSON" },
    };
    recsys_llm_vtable vt = transport(s, "", 0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        answer(s, 200, bad[i].body, 0);
        recsys_llm_reply reply;
        assert_int_equal(ask(&vt, NULL, 5000, &reply), RECSYS_E_CALLBACK);
        assert_null(reply.text);
        assert_non_null(strstr(recsys_last_error(), bad[i].msg));
        recsys__llm_reply_free(&reply);
    }
    vt.destroy(vt.ctx);
}

static void test_connection_refused(void **state)
{
    (void)state;
    int port;
    int fd = listen_any(&port); /* bound, never listening, then closed: nobody is there */
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    example_llm_http_config cfg = { .base_url = url };
    recsys_llm_vtable vt;
    assert_int_equal(example_llm_openai_http_new(&cfg, &vt), RECSYS_OK);
    recsys_llm_reply reply;
    assert_int_equal(ask(&vt, NULL, 5000, &reply), RECSYS_E_IO);
    assert_non_null(strstr(recsys_last_error(), url));
    recsys__llm_reply_free(&reply);
    vt.destroy(vt.ctx);
}

static void test_settings(void **state)
{
    (void)state;
    recsys_llm_vtable vt;
    example_llm_http_config cfg = { .base_url = "ftp://example" };
    assert_int_equal(example_llm_openai_http_new(&cfg, &vt), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "ftp://example"));
    assert_int_equal(example_llm_openai_http_new(NULL, NULL), RECSYS_E_INVALID_ARG);
    static const char *const forms[][2] = {
        { "http://h:1", "http://h:1/v1/chat/completions" },
        { "http://h:1/", "http://h:1/v1/chat/completions" },
        { "http://h:1/v1", "http://h:1/v1/chat/completions" },
        { "https://h/api/v1/", "https://h/api/v1/chat/completions" },
        { "http://h/v1/chat/completions", "http://h/v1/chat/completions" },
    };
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        char *u = chat_url(forms[i][0]);
        assert_string_equal(u, forms[i][1]);
        free(u);
    }
    /* the environment fills what the config leaves out */
    setenv("RECSYS_LLM_URL", "http://envhost:9", 1);
    setenv("RECSYS_LLM_MODEL", "env-model", 1);
    assert_int_equal(example_llm_openai_http_new(NULL, &vt), RECSYS_OK);
    http_llm *h = vt.ctx;
    assert_string_equal(h->url, "http://envhost:9/v1/chat/completions");
    assert_string_equal(h->model, "env-model");
    assert_null(h->auth);
    vt.destroy(vt.ctx);
    unsetenv("RECSYS_LLM_URL");
    unsetenv("RECSYS_LLM_MODEL");
}

/* The engine's enrichment over HTTP: prompt, schema and reply all go through the wire. */
static void test_enrich_through_engine(void **state)
{
    server *s = *state;
    answer(s, 200,
           "{\"choices\":[{\"message\":{\"content\":\"{\\\"items\\\":[{\\\"handle\\\":1,"
           "\\\"tags\\\":[\\\"gpu\\\",\\\"gaming\\\"],\\\"summary\\\":\\\"A laptop.\\\"}]}\"}}],"
           "\"usage\":{\"prompt_tokens\":300,\"completion_tokens\":20}}", 0);
    recsys_engine_opts o;
    recsys_engine_opts_init(&o);
    recsys_engine *e = NULL;
    assert_int_equal(recsys_engine_new(&o, &e), RECSYS_OK);
    const char *cat = "[{\"item_id\":\"a\",\"title\":\"Laptop\",\"tags\":[\"portable\"]},"
                      "{\"item_id\":\"b\",\"title\":\"Rig\",\"tags\":[\"gaming\"]}]";
    assert_int_equal(recsys_catalog_upsert_json(e, cat, strlen(cat)), RECSYS_OK);
    recsys_llm_vtable vt = transport(s, "", 0);
    assert_int_equal(recsys_engine_set_llm(e, "llama", &vt), RECSYS_OK);
    const char *one[] = { "a" };
    recsys_enrich_report r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    assert_int_equal(recsys_catalog_enrich(e, one, 1, &r), RECSYS_OK);
    assert_int_equal(r.enriched, 1);
    assert_int_equal(r.dropped, 1); /* gpu is no tag of this catalog */
    char *json = NULL;
    assert_int_equal(recsys_catalog_get_json(e, "a", &json), RECSYS_OK);
    assert_non_null(strstr(json, "\"generated\":{\"tags\":[\"gaming\"],\"summary\":"
                                 "\"A laptop.\",\"model\":\"llama\"}"));
    recsys_string_free(json);
    recsys_llm_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    assert_int_equal(recsys_engine_llm_stats(e, &st), RECSYS_OK);
    assert_int_equal(st.calls, 1);
    assert_int_equal(st.prompt_tokens, 300);
    assert_int_equal(st.completion_tokens, 20);
    pthread_mutex_lock(&s->mu);
    assert_non_null(strstr(s->last, "\"response_format\""));
    assert_null(strstr(s->last, "\"a\"")); /* item ids never go out */
    pthread_mutex_unlock(&s->mu);
    recsys_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_normal_reply, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_no_schema_and_no_usage, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_http_500, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_slow_server_past_deadline, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_bodies, server_setup, server_teardown),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_settings),
        cmocka_unit_test_setup_teardown(test_enrich_through_engine, server_setup,
                                        server_teardown),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    int rc = cmocka_run_group_tests_name("llm/http", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
