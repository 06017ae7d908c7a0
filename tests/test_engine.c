/* test_engine.c - engine lifecycle, options, plug-in registration and ABI evolution rules,
 * errors and NULL arguments. */
#include "testkit.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static recsys_engine *bare(void)
{
    recsys_engine *e = NULL;
    assert_int_equal(recsys_engine_new(NULL, &e), RECSYS_OK);
    assert_non_null(e);
    return e;
}

/* ------------------------------------------------------------ version and errors */

static void version_matches_header(void **state)
{
    (void)state;
    assert_int_equal(recsys_version_number(), RECSYS_VERSION_NUMBER);
    assert_string_equal(recsys_version_string(), RECSYS_VERSION_STRING);
}

static void status_text_and_last_error(void **state)
{
    (void)state;
    assert_string_equal(recsys_status_str(RECSYS_OK), "ok");
    assert_string_equal(recsys_status_str(RECSYS_E_NOMEM), "out of memory");
    assert_string_equal(recsys_status_str((recsys_status)999), "unknown status");
    recsys_engine *e = NULL;
    assert_int_equal(recsys_engine_new(NULL, NULL), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "out"));
    assert_int_equal(recsys_last_status(), RECSYS_E_INVALID_ARG);
    /* the next successful call clears it */
    assert_int_equal(recsys_engine_new(NULL, &e), RECSYS_OK);
    assert_string_equal(recsys_last_error(), "");
    assert_int_equal(recsys_last_status(), RECSYS_OK);
    recsys_engine_free(e);
    assert_int_equal(recsys_error_set(RECSYS_E_IO, "disk on fire"), RECSYS_E_IO);
    assert_string_equal(recsys_last_error(), "disk on fire");
}

/* ------------------------------------------------------------ options */

static void option_table_is_complete_and_consistent(void **state)
{
    (void)state;
    int32_t key = 0, next;
    int n = 0;
    while (recsys_option_next(key, &next) == RECSYS_OK) {
        recsys_option_desc d;
        memset(&d, 0, sizeof d);
        d.struct_size = sizeof d;
        assert_int_equal(recsys_option_info(next, &d), RECSYS_OK);
        assert_int_equal(d.key, next);
        assert_true(next > key);
        assert_non_null(d.name);
        assert_non_null(d.doc);
        assert_true(d.min_value <= d.default_value && d.default_value <= d.max_value);
        int32_t back;
        assert_int_equal(recsys_option_by_name(d.name, &back), RECSYS_OK);
        assert_int_equal(back, next);
        key = next;
        n++;
    }
    assert_int_equal(recsys_last_status(), RECSYS_E_NOT_FOUND);
    assert_true(n >= 15);
    int32_t k;
    assert_int_equal(recsys_option_by_name("no.such", &k), RECSYS_E_UNSUPPORTED);
    recsys_option_desc d;
    d.struct_size = 4;
    assert_int_equal(recsys_option_info(RECSYS_OPT_TOP_N, &d), RECSYS_E_INVALID_ARG);
    d.struct_size = sizeof d;
    assert_int_equal(recsys_option_info(99999, &d), RECSYS_E_UNSUPPORTED);
}

static void options_typed_bounded_never_clamped(void **state)
{
    (void)state;
    recsys_engine *e = bare();
    int64_t v;
    assert_int_equal(recsys_engine_get_int(e, RECSYS_OPT_TOP_N, &v), RECSYS_OK);
    assert_int_equal(v, 10);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_TOP_N, 25), RECSYS_OK);
    assert_int_equal(recsys_engine_get_int(e, RECSYS_OPT_TOP_N, &v), RECSYS_OK);
    assert_int_equal(v, 25);
    /* out of range: an error naming the option and the bound; the value stays */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_TOP_N, 0), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "engine.top_n"));
    assert_non_null(strstr(recsys_last_error(), "below minimum 1"));
    assert_int_equal(recsys_engine_get_int(e, RECSYS_OPT_TOP_N, &v), RECSYS_OK);
    assert_int_equal(v, 25);
    /* wrong type both ways */
    assert_int_equal(recsys_engine_set_double(e, RECSYS_OPT_TOP_N, 3.0), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "type int"));
    assert_int_equal(recsys_engine_set_str(e, RECSYS_OPT_TOP_N, "3"), RECSYS_E_INVALID_ARG);
    double dv;
    assert_int_equal(recsys_engine_set_double(e, RECSYS_OPT_BM25_B, 0.5), RECSYS_OK);
    assert_int_equal(recsys_engine_get_double(e, RECSYS_OPT_BM25_B, &dv), RECSYS_OK);
    assert_true(dv == 0.5);
    assert_int_equal(recsys_engine_set_double(e, RECSYS_OPT_BM25_B, 1.5), RECSYS_E_INVALID_ARG);
    /* an int option reads exactly as a double; a double option does not read as an int */
    assert_int_equal(recsys_engine_get_double(e, RECSYS_OPT_TOP_N, &dv), RECSYS_OK);
    assert_true(dv == 25.0);
    assert_int_equal(recsys_engine_get_int(e, RECSYS_OPT_BM25_B, &v), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "retrieve.bm25_b"));
    /* an int setter may set a double option (no precision is lost that way) */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_BM25_K1, 2), RECSYS_OK);
    assert_int_equal(recsys_engine_get_double(e, RECSYS_OPT_BM25_K1, &dv), RECSYS_OK);
    assert_true(dv == 2.0);
    assert_int_equal(recsys_engine_set_double(e, RECSYS_OPT_BM25_B, 0.0 / 0.0), RECSYS_E_INVALID_ARG);
    /* unknown keys */
    assert_int_equal(recsys_engine_set_int(e, 12345, 1), RECSYS_E_UNSUPPORTED);
    assert_int_equal(recsys_engine_get_int(e, 12345, &v), RECSYS_E_UNSUPPORTED);
    char buf[8];
    size_t need;
    assert_int_equal(recsys_engine_get_str(e, RECSYS_OPT_TOP_N, buf, sizeof buf, &need),
                     RECSYS_E_INVALID_ARG);
    /* per-request overrides are validated the same way */
    recsys_request *rq;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, 5000), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_request_set_double(rq, RECSYS_OPT_RANK_W_TAG, 2.0), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, 777, 1), RECSYS_E_UNSUPPORTED);
    recsys_request_free(rq);
    recsys_engine_free(e);
}

/* ------------------------------------------------------------ engine creation records */

static void engine_opts_records_and_store_ownership(void **state)
{
    (void)state;
    recsys_engine *e = NULL;
    /* a store handed over is destroyed exactly once, also when creation fails */
    tk_store w;
    recsys_store_vtable vt;
    tk_store_wrap(&w, &vt);
    recsys_engine_opts o;
    recsys_engine_opts_init(&o);
    o.store = &vt;
    o.reserved = 1; /* a non-zero reserved field: rejected */
    struct {
        recsys_engine_opts o;
        uint64_t future;
    } big;
    memset(&big, 0, sizeof big);
    big.o = o;
    big.o.reserved = 0;
    big.o.struct_size = sizeof big;
    big.future = 7; /* a field this build does not know, non-zero */
    assert_int_equal(recsys_engine_new(&big.o, &e), RECSYS_E_UNSUPPORTED);
    assert_null(e);
    assert_non_null(strstr(recsys_last_error(), "recsys_engine_opts"));
    assert_int_equal(w.destroyed, 1);

    tk_store_wrap(&w, &vt);
    big.o.store = &vt;
    big.future = 0; /* a zero tail is fine */
    assert_int_equal(recsys_engine_new(&big.o, &e), RECSYS_OK);
    recsys_engine_free(e);
    assert_int_equal(w.destroyed, 1);

    recsys_engine_opts small;
    memset(&small, 0, sizeof small);
    small.struct_size = 8; /* below 0.1's size */
    assert_int_equal(recsys_engine_new(&small, &e), RECSYS_E_INVALID_ARG);

    /* a store vtable missing a required method: named, and destroyed once */
    tk_store_wrap(&w, &vt);
    vt.scan_events = NULL;
    recsys_engine_opts_init(&o);
    o.store = &vt;
    assert_int_equal(recsys_engine_new(&o, &e), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "scan_events"));
    assert_int_equal(w.destroyed, 1);

    /* an allocator record missing a function */
    recsys_allocator a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    recsys_engine_opts_init(&o);
    o.allocator = &a;
    assert_int_equal(recsys_engine_new(&o, &e), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "malloc_fn"));
}

/* ------------------------------------------------------------ plug-ins */

typedef struct host {
    int destroyed;
    int calls;
    const char *propose;
    const char *drop;
    recsys_status fail;
    char anchor[32]; /* the anchor the source last saw ("" = none) */
} host;

static void host_destroy(void *ctx)
{
    ((host *)ctx)->destroyed++;
}

static recsys_status host_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    host *h = ctx;
    h->calls++;
    if (h->fail)
        return recsys_error_set(h->fail, "backend down");
    assert_true(recsys_query_limit(q) > 0);
    const recsys_item *a = recsys_query_anchor(q);
    snprintf(h->anchor, sizeof h->anchor, "%s", a ? recsys_item_id(a) : "");
    return recsys_candidates_add(out, h->propose, 1.0);
}

static recsys_status host_filter(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    host *h = ctx;
    (void)q;
    h->calls++;
    for (size_t i = 0; i < recsys_candidates_count(c); i++)
        if (strcmp(recsys_item_id(recsys_candidates_item(c, i)), h->drop) == 0)
            assert_int_equal(recsys_candidates_drop(c, i, "host rule"), RECSYS_OK);
    return RECSYS_OK;
}

/* Scores by reverse title order so the expected order is known. */
static recsys_status host_score(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    host *h = ctx;
    (void)q;
    h->calls++;
    if (h->fail)
        return h->fail; /* no message: the pipeline must write one */
    for (size_t i = 0; i < recsys_candidates_count(c); i++) {
        const char *t = recsys_item_text(recsys_candidates_item(c, i), RECSYS_FIELD_TITLE);
        assert_int_equal(recsys_candidates_set_score(c, i, (double)(unsigned char)t[0]), RECSYS_OK);
    }
    assert_int_equal(recsys_candidates_set_score(c, 0, 1.0 / 0.0), RECSYS_E_INVALID_ARG);
    /* nothing may enter the list after the filters */
    assert_int_equal(recsys_candidates_add(c, "f2", 9.0), RECSYS_E_STATE);
    return RECSYS_OK;
}

/* Reverses the order it is given and keeps n. */
static recsys_status host_select(void *ctx, const recsys_query *q, recsys_candidates *c, size_t n)
{
    host *h = ctx;
    (void)q;
    h->calls++;
    size_t m = recsys_candidates_count(c);
    size_t k = m < n ? m : n;
    size_t order[64];
    for (size_t i = 0; i < k; i++)
        order[i] = m - 1 - i;
    size_t bad[2] = { 0, 0 };
    assert_int_equal(recsys_candidates_set_order(c, bad, 2), RECSYS_E_INVALID_ARG);
    return recsys_candidates_set_order(c, order, k);
}

static void registration_rules(void **state)
{
    (void)state;
    recsys_engine *e = bare();
    host h = { 0 };
    recsys_source_vtable vt;
    recsys_source_vtable_init(&vt);
    vt.ctx = &h;
    vt.destroy = host_destroy;
    /* missing method: named, destroyed once */
    assert_int_equal(recsys_engine_add_source(e, "mine", &vt), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "retrieve"));
    assert_int_equal(h.destroyed, 1);
    vt.retrieve = host_retrieve;
    /* bad names */
    assert_int_equal(recsys_engine_add_source(e, "Bad Name", &vt), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_engine_add_source(e, "", &vt), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_engine_add_source(e, NULL, &vt), RECSYS_E_INVALID_ARG);
    assert_int_equal(h.destroyed, 4);
    /* a name taken by a built-in */
    assert_int_equal(recsys_engine_add_source(e, "popular", &vt), RECSYS_E_EXISTS);
    assert_int_equal(h.destroyed, 5);
    /* struct_size below 0.1: rejected */
    vt.struct_size = 8;
    assert_int_equal(recsys_engine_add_source(e, "mine", &vt), RECSYS_E_INVALID_ARG);
    assert_int_equal(h.destroyed, 5); /* destroy is not readable in an 8-byte record */
    /* a larger vtable from a newer header: the unknown tail is ignored */
    struct {
        recsys_source_vtable vt;
        void (*future_method)(void);
    } big;
    memset(&big, 0, sizeof big);
    big.vt = vt;
    big.vt.struct_size = sizeof big;
    big.future_method = (void (*)(void))abort; /* never called */
    assert_int_equal(recsys_engine_add_source(e, "mine", &big.vt), RECSYS_OK);
    assert_int_equal(h.destroyed, 5);
    /* replacing the ranker destroys the old one once */
    host r1 = { 0 }, r2 = { 0 };
    recsys_ranker_vtable rv;
    recsys_ranker_vtable_init(&rv);
    rv.ctx = &r1;
    rv.destroy = host_destroy;
    rv.score = host_score;
    assert_int_equal(recsys_engine_set_ranker(e, "r1", &rv), RECSYS_OK);
    rv.ctx = &r2;
    assert_int_equal(recsys_engine_set_ranker(e, "r2", &rv), RECSYS_OK);
    assert_int_equal(r1.destroyed, 1);
    assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, "nope", 0),
                     RECSYS_E_NOT_FOUND);
    assert_int_equal(recsys_engine_plugin_enable(e, 99, "mine", 0), RECSYS_E_INVALID_ARG);
    recsys_engine_free(e);
    assert_int_equal(h.destroyed, 6);
    assert_int_equal(r2.destroyed, 1);
    assert_int_equal(r1.destroyed, 1);
}

static void host_plugins_run_through_the_pipeline(void **state)
{
    (void)state;
    recsys_engine *e = tk_engine(NULL, NULL);
    host src = { .propose = "f3" }, flt = { .drop = "c3" }, rnk = { 0 }, div = { 0 };
    recsys_source_vtable sv;
    recsys_source_vtable_init(&sv);
    sv.ctx = &src;
    sv.retrieve = host_retrieve;
    sv.destroy = host_destroy;
    assert_int_equal(recsys_engine_add_source(e, "host-src", &sv), RECSYS_OK);
    RECSYS_INIT(recsys_filter_vtable, fv, .ctx = &flt, .destroy = host_destroy, .apply = host_filter);
    assert_int_equal(recsys_engine_add_filter(e, "host-filter", &fv), RECSYS_OK);
    RECSYS_INIT(recsys_ranker_vtable, rv, .ctx = &rnk, .destroy = host_destroy, .score = host_score);
    assert_int_equal(recsys_engine_set_ranker(e, "host-ranker", &rv), RECSYS_OK);
    RECSYS_INIT(recsys_diversifier_vtable, dv, .ctx = &div, .destroy = host_destroy,
                .select = host_select);
    assert_int_equal(recsys_engine_add_diversifier(e, "host-div", &dv), RECSYS_OK);

    recsys_request *rq;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_user(rq, "u-backend"), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, 5), RECSYS_OK);
    recsys_result *res = NULL;
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
    assert_int_equal(src.calls, 1);
    assert_int_equal(flt.calls, 1);
    assert_int_equal(rnk.calls, 1);
    assert_int_equal(div.calls, 1);
    size_t n = recsys_result_count(res);
    assert_true(n > 0 && n <= 5);
    /* the ranker scored by first letter of the title, the diversifier reversed: ascending */
    bool saw_f3 = false;
    for (size_t i = 0; i < n; i++) {
        const char *id = recsys_result_item_id(res, i);
        assert_string_not_equal(id, "c3"); /* the host filter's rule */
        if (strcmp(id, "f3") == 0) {
            saw_f3 = true;
            bool from_host = false;
            for (size_t j = 0; j < recsys_result_source_count(res, i); j++) {
                const char *name;
                assert_int_equal(recsys_result_source(res, i, j, &name, NULL), RECSYS_OK);
                from_host |= strcmp(name, "host-src") == 0;
            }
            assert_true(from_host);
        }
        if (i > 0)
            assert_true(recsys_result_score(res, i - 1) <= recsys_result_score(res, i));
    }
    recsys_result_free(res);
    /* with the built-in sources off, only the host source's item can come back */
    const char *builtin[] = { "popular", "trending", "content", "itemknn", "rp3beta",
                              "session", "vector",  "search",  "campaign" };
    for (int i = 0; i < 9; i++)
        assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, builtin[i], 0),
                         RECSYS_OK);
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
    assert_int_equal(recsys_result_count(res), 1);
    assert_string_equal(recsys_result_item_id(res, 0), "f3");
    assert_string_equal(src.anchor, "");
    assert_true(saw_f3 || n == 5);
    const char *sname;
    double sscore;
    assert_int_equal(recsys_result_source_count(res, 0), 1);
    assert_int_equal(recsys_result_source(res, 0, 0, &sname, &sscore), RECSYS_OK);
    assert_string_equal(sname, "host-src");
    assert_true(sscore == 1.0);
    recsys_result_free(res);
    /* a "more like this" request shows the anchor to every source */
    assert_int_equal(recsys_request_set_anchor(rq, "c2"), RECSYS_OK);
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
    assert_string_equal(src.anchor, "c2");
    recsys_result_free(res);
    assert_int_equal(recsys_request_set_anchor(rq, NULL), RECSYS_OK);
    for (int i = 0; i < 7; i++)
        assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, builtin[i], 1),
                         RECSYS_OK);

    /* a failing source: its status kept, its message prefixed with its name */
    src.fail = RECSYS_E_TIMEOUT;
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_E_TIMEOUT);
    assert_null(res);
    assert_string_equal(recsys_last_error(), "source 'host-src': backend down");
    src.fail = RECSYS_OK;
    /* a failing ranker without a message: CALLBACK is kept, a message is written */
    rnk.fail = RECSYS_E_CALLBACK;
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_E_CALLBACK);
    assert_non_null(strstr(recsys_last_error(), "ranker 'host-ranker'"));
    rnk.fail = RECSYS_OK;
    /* disabling a plug-in takes it out of the path */
    assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_DIVERSIFIER, "host-div", 0),
                     RECSYS_OK);
    int div_calls = div.calls;
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
    assert_int_equal(div.calls, div_calls);
    for (size_t i = 1; i < recsys_result_count(res); i++)
        assert_true(recsys_result_score(res, i - 1) >= recsys_result_score(res, i));
    recsys_result_free(res);
    recsys_request_free(rq);
    recsys_engine_free(e);
    assert_int_equal(src.destroyed + flt.destroyed + rnk.destroyed + div.destroyed, 4);
}

/* ------------------------------------------------------------ NULL arguments */

/* A typed batch is all or nothing: a bad event anywhere is named by its index and nothing of
 * the batch is applied; a good one applies every event, the same as one JSON array. */
static void a_feedback_batch_is_all_or_nothing(void **state)
{
    (void)state;
    recsys_engine *e = tk_engine(NULL, NULL);
    uint64_t before = 0, after = 0;
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &before), RECSYS_OK);
    recsys_event ev[3];
    for (int i = 0; i < 3; i++) {
        recsys_event_init(&ev[i]);
        ev[i].type = RECSYS_EVENT_VIEW;
        ev[i].user_id = "u-batch";
        ev[i].timestamp = TK_NOW - 100 + i;
    }
    ev[0].item_id = "c1";
    ev[1].item_id = "no-such-item";
    ev[2].item_id = "l1";
    assert_int_equal(recsys_feedback_batch(e, ev, 3), RECSYS_E_NOT_FOUND);
    assert_non_null(strstr(recsys_last_error(), "event 1"));
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &after), RECSYS_OK);
    assert_int_equal(after, before);
    char *js = NULL;
    assert_int_equal(recsys_user_get_json(e, "u-batch", &js), RECSYS_E_NOT_FOUND);
    ev[1].item_id = "f1";
    assert_int_equal(recsys_feedback_batch(e, ev, 3), RECSYS_OK);
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &after), RECSYS_OK);
    assert_int_equal(after, before + 3);
    assert_int_equal(recsys_user_get_json(e, "u-batch", &js), RECSYS_OK);
    assert_non_null(strstr(js, "\"f1\""));
    recsys_string_free(js);
    /* nothing to do, bad arguments */
    assert_int_equal(recsys_feedback_batch(e, NULL, 0), RECSYS_OK);
    assert_int_equal(recsys_feedback_batch(e, NULL, 2), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_feedback_batch(NULL, ev, 1), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_feedback_batch(e, ev, (size_t)RECSYS_FEEDBACK_BATCH_MAX + 1),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &after), RECSYS_OK);
    assert_int_equal(after, before + 3);
    recsys_engine_free(e);
}

static void null_arguments_never_crash(void **state)
{
    (void)state;
    recsys_engine *e = tk_engine(NULL, NULL);
    char *s = NULL;
    uint64_t u;
    recsys_result *res = NULL;
    recsys_request *rq = NULL;
    assert_int_equal(recsys_catalog_upsert(e, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_catalog_upsert(NULL, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_catalog_upsert_json(e, NULL, 0), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_catalog_remove(e, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_catalog_get_json(e, "c1", NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_catalog_get_json(e, NULL, &s), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_user_upsert(e, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_user_upsert_json(e, NULL, 3), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_user_get_json(e, NULL, &s), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_user_forget(e, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_feedback(e, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_feedback_json(e, NULL, 1), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_ITEMS, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_engine_count(NULL, RECSYS_COUNT_ITEMS, &u), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_engine_count(e, 77, &u), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_refresh(NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_engine_compact(NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_recommend(e, NULL, &res), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_request_new(NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_recommend(e, rq, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_recommend(NULL, rq, &res), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_request_set_user(rq, ""), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_request_set_query(rq, "\xff\xfe"), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_request_exclude(rq, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_result_source(NULL, 0, 0, NULL, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_result_evidence(NULL, 0, 0, NULL, NULL, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_result_to_json(NULL, &s), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_result_count(NULL), 0);
    assert_null(recsys_result_item_id(NULL, 0));
    assert_string_equal(recsys_result_explanation(NULL, 0), "");
    recsys_request_free(rq);
    recsys_request_free(NULL);
    recsys_result_free(NULL);
    recsys_engine_free(NULL);
    recsys_string_free(NULL);
    recsys_engine_free(e);
}

int main(void)
{
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version_matches_header),
        cmocka_unit_test(status_text_and_last_error),
        cmocka_unit_test(option_table_is_complete_and_consistent),
        cmocka_unit_test(options_typed_bounded_never_clamped),
        cmocka_unit_test(engine_opts_records_and_store_ownership),
        cmocka_unit_test(registration_rules),
        cmocka_unit_test(host_plugins_run_through_the_pipeline),
        cmocka_unit_test(a_feedback_batch_is_all_or_nothing),
        cmocka_unit_test(null_arguments_never_crash),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
