/* test_batch.c - the batch calls (lib/engine/batch.c): recsys_recommend_batch gives, slot by
 * slot, what recsys_recommend gives (any thread count), reports a failing slot without
 * losing the others, rejects bad arguments touching nothing, survives allocation failures
 * without leaking, and runs beside feedback; recsys_catalog_embeddings and
 * recsys_result_items read many values in one call. */
#include "testkit.h"
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static int setup(void **state)
{
    *state = tk_engine(NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    recsys_engine_free(*state);
    return 0;
}

static recsys_request *req_for(const char *user, const char *anchor)
{
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    if (user)
        assert_int_equal(recsys_request_set_user(rq, user), RECSYS_OK);
    if (anchor)
        assert_int_equal(recsys_request_set_anchor(rq, anchor), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, 5), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    return rq;
}

/* ids and scores of a result as one line */
static char *line(const recsys_result *res)
{
    char *buf = calloc(1, 4096);
    assert_non_null(buf);
    for (size_t i = 0; i < recsys_result_count(res); i++)
        snprintf(buf + strlen(buf), 4096 - strlen(buf), "%s:%.12g %s|", recsys_result_item_id(res, i),
                 recsys_result_score(res, i), recsys_result_explanation(res, i));
    return buf;
}

#define NREQ 9

static void make_reqs(recsys_request **reqs)
{
    for (size_t i = 0; i < NREQ; i++)
        reqs[i] = req_for(i % 5 == 4 ? NULL : tk_user_ids[i % 4], i == 6 ? "c1" : NULL);
}

static void test_batch_matches_single_calls(void **state)
{
    recsys_engine *e = *state;
    recsys_request *reqs[NREQ];
    make_reqs(reqs);
    char *want[NREQ];
    for (size_t i = 0; i < NREQ; i++) {
        recsys_result *res = NULL;
        assert_int_equal(recsys_recommend(e, reqs[i], &res), RECSYS_OK);
        assert_true(recsys_result_count(res) > 0);
        want[i] = line(res);
        recsys_result_free(res);
    }
    const size_t widths[] = { 0, 1, 2, 4, 64 };
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        recsys_result *out[NREQ];
        recsys_status st[NREQ];
        memset(st, 0xff, sizeof st);
        assert_int_equal(recsys_recommend_batch(e, (const recsys_request *const *)reqs, NREQ,
                                                widths[w], out, st),
                         RECSYS_OK);
        assert_string_equal(recsys_last_error(), "");
        for (size_t i = 0; i < NREQ; i++) {
            assert_int_equal(st[i], RECSYS_OK);
            assert_non_null(out[i]);
            char *got = line(out[i]);
            assert_string_equal(got, want[i]);
            free(got);
            recsys_result_free(out[i]);
        }
    }
    /* the same request several times, and statuses NULL */
    const recsys_request *same[3] = { reqs[0], reqs[0], reqs[0] };
    recsys_result *out[3];
    assert_int_equal(recsys_recommend_batch(e, same, 3, 2, out, NULL), RECSYS_OK);
    for (size_t i = 0; i < 3; i++) {
        char *got = line(out[i]);
        assert_string_equal(got, want[0]);
        free(got);
        recsys_result_free(out[i]);
    }
    for (size_t i = 0; i < NREQ; i++) {
        free(want[i]);
        recsys_request_free(reqs[i]);
    }
}

static void test_batch_failing_slot(void **state)
{
    recsys_engine *e = *state;
    recsys_request *reqs[4] = { req_for("u-film", NULL), req_for("u-ml", "no-such-item"),
                                req_for("u-backend", NULL), req_for(NULL, "also-missing") };
    for (size_t threads = 1; threads <= 4; threads += 3) {
        recsys_result *out[4];
        recsys_status st[4];
        recsys_status s = recsys_recommend_batch(e, (const recsys_request *const *)reqs, 4,
                                                 threads, out, st);
        assert_int_equal(s, RECSYS_E_NOT_FOUND);
        assert_int_equal(recsys_last_status(), RECSYS_E_NOT_FOUND);
        /* the lowest failing slot names itself, whatever thread ran it */
        assert_non_null(strstr(recsys_last_error(), "request 1: "));
        assert_non_null(strstr(recsys_last_error(), "no-such-item"));
        assert_int_equal(st[0], RECSYS_OK);
        assert_int_equal(st[1], RECSYS_E_NOT_FOUND);
        assert_int_equal(st[2], RECSYS_OK);
        assert_int_equal(st[3], RECSYS_E_NOT_FOUND);
        assert_non_null(out[0]);
        assert_null(out[1]);
        assert_non_null(out[2]);
        assert_null(out[3]);
        for (size_t i = 0; i < 4; i++)
            recsys_result_free(out[i]);
    }
    for (size_t i = 0; i < 4; i++)
        recsys_request_free(reqs[i]);
}

static void test_batch_bad_arguments(void **state)
{
    recsys_engine *e = *state;
    recsys_request *r0 = req_for("u-film", NULL);
    const recsys_request *reqs[3] = { r0, NULL, r0 };
    recsys_result *out[3] = { (recsys_result *)1, (recsys_result *)1, (recsys_result *)1 };
    uint64_t before = 0, after = 0;
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_REQUESTS, &before), RECSYS_OK);
    assert_int_equal(recsys_recommend_batch(e, reqs, 3, 0, out, NULL), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "request 1 is NULL"));
    for (size_t i = 0; i < 3; i++)
        assert_null(out[i]);
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_REQUESTS, &after), RECSYS_OK);
    assert_int_equal(before, after); /* nothing ran */
    assert_int_equal(recsys_recommend_batch(NULL, reqs, 1, 0, out, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_recommend_batch(e, reqs, 1, 0, NULL, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_recommend_batch(e, NULL, 1, 0, out, NULL), RECSYS_E_INVALID_ARG);
    assert_null(out[0]);
    assert_int_equal(recsys_recommend_batch(e, NULL, 0, 0, NULL, NULL), RECSYS_OK);
    recsys_request_free(r0);
}

static void test_batch_out_of_memory(void **state)
{
    (void)state;
    tk_alloc a;
    recsys_allocator rec;
    tk_alloc_init(&a, &rec);
    recsys_engine *e = tk_engine(&rec, NULL);
    recsys_request *reqs[3] = { req_for("u-film", NULL), req_for("u-ml", NULL), req_for(NULL, NULL) };
    bool done = false;
    for (long k = 0; !done && k < 100000; k++) {
        long live = a.live;
        a.count = 0;
        a.fail_at = k;
        recsys_result *out[3];
        recsys_status st[3];
        recsys_status s = recsys_recommend_batch(e, (const recsys_request *const *)reqs, 3, 2,
                                                 out, st);
        a.fail_at = -1;
        if (s == RECSYS_OK) {
            done = true;
        } else {
            assert_int_equal(s, RECSYS_E_NOMEM);
            assert_true(strlen(recsys_last_error()) > 0);
        }
        for (size_t i = 0; i < 3; i++) {
            assert_true((st[i] == RECSYS_OK) == (out[i] != NULL));
            recsys_result_free(out[i]);
        }
        assert_int_equal(a.live, live); /* nothing leaked on any path */
        if (s == RECSYS_OK)
            break;
    }
    assert_true(done);
    for (size_t i = 0; i < 3; i++)
        recsys_request_free(reqs[i]);
    recsys_engine_free(e);
    assert_int_equal(a.live, 0);
}

typedef struct feeder {
    recsys_engine *e;
    int events;
} feeder;

static void *feed_thread(void *arg)
{
    feeder *f = arg;
    for (int i = 0; i < f->events; i++)
        tk_feedback(f->e, "u-feeder", tk_item_ids[i % tk_nitems], RECSYS_EVENT_CLICK, TK_NOW - 100 + i);
    return NULL;
}

static void test_batch_beside_feedback(void **state)
{
    recsys_engine *e = *state;
    feeder f = { e, 200 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, feed_thread, &f), 0);
    recsys_request *reqs[NREQ];
    make_reqs(reqs);
    for (int round = 0; round < 20; round++) {
        recsys_result *out[NREQ];
        assert_int_equal(recsys_recommend_batch(e, (const recsys_request *const *)reqs, NREQ, 0,
                                                out, NULL),
                         RECSYS_OK);
        for (size_t i = 0; i < NREQ; i++) {
            assert_true(recsys_result_count(out[i]) > 0);
            recsys_result_free(out[i]);
        }
    }
    pthread_join(t, NULL);
    for (size_t i = 0; i < NREQ; i++)
        recsys_request_free(reqs[i]);
}

static void test_result_items(void **state)
{
    recsys_engine *e = *state;
    recsys_request *rq = req_for("u-film", NULL);
    recsys_result *res = NULL;
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
    size_t n = recsys_result_count(res);
    assert_true(n >= 2);
    const char *ids[16];
    double scores[16];
    assert_int_equal(recsys_result_items(res, ids, scores, 16), n);
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(ids[i], recsys_result_item_id(res, i));
        assert_true(scores[i] == recsys_result_score(res, i));
    }
    assert_int_equal(recsys_result_items(res, ids, NULL, 1), 1);
    assert_int_equal(recsys_result_items(res, NULL, scores, 0), 0);
    assert_int_equal(recsys_result_items(NULL, ids, scores, 16), 0);
    recsys_result_free(res);
    recsys_request_free(rq);
}

static void test_catalog_embeddings(void **state)
{
    recsys_engine *e = *state;
    const char *json = "[{\"item_id\":\"v1\",\"title\":\"a\",\"embedding\":[1,2,3]},"
                       "{\"item_id\":\"v2\",\"title\":\"b\",\"embedding\":[-1,0.5,4]},"
                       "{\"item_id\":\"v3\",\"title\":\"c\",\"embedding\":[1,2]}]";
    assert_int_equal(recsys_catalog_upsert_json(e, json, strlen(json)), RECSYS_OK);
    recsys_item_spec *spec = NULL;
    const float named[3] = { 7, 8, 9 };
    assert_int_equal(recsys_item_spec_new("v4", &spec), RECSYS_OK);
    assert_int_equal(recsys_item_spec_set_embedding(spec, "image", named, 3), RECSYS_OK);
    assert_int_equal(recsys_catalog_upsert(e, spec), RECSYS_OK);
    recsys_item_spec_free(spec);

    const char *ids[2] = { "v2", "v1" };
    float out[6];
    assert_int_equal(recsys_catalog_embeddings(e, NULL, ids, 2, 3, out), RECSYS_OK);
    const float want[6] = { -1, 0.5f, 4, 1, 2, 3 };
    assert_memory_equal(out, want, sizeof want);
    const char *img[1] = { "v4" };
    assert_int_equal(recsys_catalog_embeddings(e, "image", img, 1, 3, out), RECSYS_OK);
    assert_memory_equal(out, named, sizeof named);
    assert_int_equal(recsys_catalog_embeddings(e, "default", ids, 0, 3, NULL), RECSYS_OK);

    const char *bad_dim[2] = { "v1", "v3" };
    assert_int_equal(recsys_catalog_embeddings(e, NULL, bad_dim, 2, 3, out), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "'v3'"));
    assert_non_null(strstr(recsys_last_error(), "2 dimensions"));
    const char *unknown[1] = { "nope" };
    assert_int_equal(recsys_catalog_embeddings(e, NULL, unknown, 1, 3, out), RECSYS_E_NOT_FOUND);
    assert_non_null(strstr(recsys_last_error(), "not in the catalog"));
    assert_int_equal(recsys_catalog_embeddings(e, NULL, img, 1, 3, out), RECSYS_E_NOT_FOUND);
    assert_non_null(strstr(recsys_last_error(), "no embedding 'default'"));
    const char *null_id[1] = { NULL };
    assert_int_equal(recsys_catalog_embeddings(e, NULL, null_id, 1, 3, out), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_catalog_embeddings(e, NULL, ids, 2, 0, out), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_catalog_embeddings(e, NULL, ids, 2, 4097, out), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_catalog_embeddings(e, NULL, ids, 2, 3, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_catalog_embeddings(NULL, NULL, ids, 2, 3, out), RECSYS_E_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_matches_single_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_failing_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_bad_arguments, setup, teardown),
        cmocka_unit_test(test_batch_out_of_memory),
        cmocka_unit_test_setup_teardown(test_batch_beside_feedback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catalog_embeddings, setup, teardown),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("engine/batch", tests, NULL, NULL);
}
