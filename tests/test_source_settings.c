/* test_source_settings.c - how stage 2 runs the sources: per-source weight and quota
 * (recsys_engine_source_configure / _settings), the per-request retrieval budget
 * (RECSYS_OPT_RETRIEVE_BUDGET_US, recsys_result_sources_skipped) and sources on several
 * threads (RECSYS_OPT_RETRIEVE_THREADS), through the public API over the sample engine. */
#include "testkit.h"
#include <math.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

static const char *const builtin_sources[] = { "content", "popular",  "trending",
                                               "itemknn", "rp3beta",  "session",
                                               "vector",  "search",   "campaign" };

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

static void only(recsys_engine *e, const char *keep)
{
    for (size_t i = 0; i < sizeof builtin_sources / sizeof *builtin_sources; i++)
        assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, builtin_sources[i],
                                                     keep && !strcmp(keep, builtin_sources[i])),
                         RECSYS_OK);
}

static recsys_result *rec(recsys_engine *e, const char *user, int top, int64_t budget_us)
{
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    if (user)
        assert_int_equal(recsys_request_set_user(rq, user), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, top), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    if (budget_us >= 0)
        assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_RETRIEVE_BUDGET_US, budget_us),
                         RECSYS_OK);
    recsys_result *res = NULL;
    recsys_status st = recsys_recommend(e, rq, &res);
    if (st != RECSYS_OK)
        print_error("recommend: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
    recsys_request_free(rq);
    return res;
}

static bool proposed_by(const recsys_result *r, size_t i, const char *source)
{
    for (size_t j = 0; j < recsys_result_source_count(r, i); j++) {
        const char *name = NULL;
        assert_int_equal(recsys_result_source(r, i, j, &name, NULL), RECSYS_OK);
        if (!strcmp(name, source))
            return true;
    }
    return false;
}

static void settings_read_back_what_was_configured(void **state)
{
    recsys_engine *e = *state;
    double w = -1;
    size_t q = 99;
    assert_int_equal(recsys_engine_source_settings(e, "content", &w, &q), RECSYS_OK);
    assert_true(w == 2.0);
    assert_int_equal(q, 0);
    assert_int_equal(recsys_engine_source_configure(e, "popular", 0.25, 7), RECSYS_OK);
    assert_int_equal(recsys_engine_source_settings(e, "popular", &w, NULL), RECSYS_OK);
    assert_int_equal(recsys_engine_source_settings(e, "popular", NULL, &q), RECSYS_OK);
    assert_true(w == 0.25);
    assert_int_equal(q, 7);
    /* the bounds are inclusive */
    assert_int_equal(recsys_engine_source_configure(e, "popular", 1000, 100000), RECSYS_OK);
    assert_int_equal(recsys_engine_source_configure(e, "popular", 0, 0), RECSYS_OK);
}

static void bad_settings_are_refused_and_change_nothing(void **state)
{
    recsys_engine *e = *state;
    assert_int_equal(recsys_engine_source_configure(e, "trending", 0.75, 5), RECSYS_OK);
    const double bad_w[] = { -0.5, 1000.5, NAN, INFINITY };
    for (size_t i = 0; i < sizeof bad_w / sizeof *bad_w; i++) {
        assert_int_equal(recsys_engine_source_configure(e, "trending", bad_w[i], 3),
                         RECSYS_E_INVALID_ARG);
        assert_non_null(strstr(recsys_last_error(), "weight"));
    }
    assert_int_equal(recsys_engine_source_configure(e, "trending", 1, 100001), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "quota"));
    assert_int_equal(recsys_engine_source_configure(e, "no-such", 1, 3), RECSYS_E_NOT_FOUND);
    assert_non_null(strstr(recsys_last_error(), "no-such"));
    assert_int_equal(recsys_engine_source_configure(NULL, "trending", 1, 3), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_engine_source_configure(e, NULL, 1, 3), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_engine_source_settings(e, "no-such", NULL, NULL), RECSYS_E_NOT_FOUND);
    assert_int_equal(recsys_engine_source_settings(NULL, "trending", NULL, NULL),
                     RECSYS_E_INVALID_ARG);
    /* a filter's name is not a source's */
    assert_int_equal(recsys_engine_source_configure(e, "seen", 1, 3), RECSYS_E_NOT_FOUND);
    double w = 0;
    size_t q = 0;
    assert_int_equal(recsys_engine_source_settings(e, "trending", &w, &q), RECSYS_OK);
    assert_true(w == 0.75);
    assert_int_equal(q, 5);
}

/* A quota caps what a source contributes, above or below the per-source option. */
static void a_quota_caps_a_sources_candidates(void **state)
{
    recsys_engine *e = *state;
    only(e, "popular");
    recsys_result *r = rec(e, NULL, 10, -1);
    size_t uncapped = recsys_result_count(r);
    recsys_result_free(r);
    assert_true(uncapped > 3);

    assert_int_equal(recsys_engine_source_configure(e, "popular", 1, 3), RECSYS_OK);
    r = rec(e, NULL, 10, -1);
    assert_int_equal(recsys_result_count(r), 3);
    recsys_result_free(r);

    /* a quota above the per-source option lifts the cap for this source only */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_CANDIDATES_PER_SOURCE, 2), RECSYS_OK);
    r = rec(e, NULL, 10, -1);
    assert_int_equal(recsys_result_count(r), 3);
    recsys_result_free(r);
    assert_int_equal(recsys_engine_source_configure(e, "popular", 1, 0), RECSYS_OK);
    r = rec(e, NULL, 10, -1);
    assert_int_equal(recsys_result_count(r), 2);
    recsys_result_free(r);
}

/* ---- the budget ---- */

typedef struct host_src {
    const char *item;
    long sleep_us;
    int calls;
} host_src;

static recsys_status host_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    (void)q;
    host_src *s = ctx;
    s->calls++;
    if (s->sleep_us) {
        struct timespec ts = { s->sleep_us / 1000000, (s->sleep_us % 1000000) * 1000 };
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    return recsys_candidates_add(out, s->item, 1.0);
}

static void add_host(recsys_engine *e, const char *name, host_src *s)
{
    recsys_source_vtable vt;
    recsys_source_vtable_init(&vt);
    vt.ctx = s;
    vt.retrieve = host_retrieve;
    assert_int_equal(recsys_engine_add_source(e, name, &vt), RECSYS_OK);
}

/* A source of weight 0 still proposes candidates (provenance keeps it) but adds nothing to
 * their merged score: the list is ordered as if the others were alone. */
static void a_zero_weight_source_keeps_provenance_without_score(void **state)
{
    recsys_engine *e = *state;
    only(e, "popular");
    recsys_result *alone = rec(e, NULL, 10, -1);
    size_t n = recsys_result_count(alone);
    assert_true(n >= 3);
    const char *last = recsys_result_item_id(alone, n - 1);
    host_src boost = { last, 0, 0 };
    add_host(e, "boost", &boost);

    recsys_result *weighted = rec(e, NULL, 10, -1); /* weight 1: the last item moves up */
    assert_string_not_equal(recsys_result_item_id(weighted, n - 1), last);
    recsys_result_free(weighted);

    assert_int_equal(recsys_engine_source_configure(e, "boost", 0, 0), RECSYS_OK);
    recsys_result *zero = rec(e, NULL, 10, -1);
    assert_int_equal(recsys_result_count(zero), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(recsys_result_item_id(zero, i), recsys_result_item_id(alone, i));
    assert_true(proposed_by(zero, n - 1, "boost"));
    recsys_result_free(zero);
    recsys_result_free(alone);
}

static void sources_after_a_spent_budget_are_skipped(void **state)
{
    recsys_engine *e = *state;
    only(e, NULL);
    host_src slow = { tk_item_ids[0], 5000, 0 }, late = { tk_item_ids[1], 0, 0 };
    add_host(e, "slow", &slow);
    add_host(e, "late", &late);
    /* one thread: the sources run one after the other, in registration order */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_RETRIEVE_THREADS, 1), RECSYS_OK);

    /* no budget: both run */
    recsys_result *r = rec(e, NULL, 10, -1);
    assert_int_equal(recsys_result_sources_skipped(r), 0);
    assert_int_equal(recsys_result_count(r), 2);
    recsys_result_free(r);
    assert_int_equal(slow.calls, 1);
    assert_int_equal(late.calls, 1);

    /* 2 ms: the slow source starts in time (it is not interrupted), the late one is skipped
     * and named nowhere */
    r = rec(e, NULL, 10, 2000);
    assert_int_equal(recsys_result_sources_skipped(r), 1);
    assert_int_equal(recsys_result_count(r), 1);
    assert_string_equal(recsys_result_item_id(r, 0), tk_item_ids[0]);
    assert_false(proposed_by(r, 0, "late"));
    recsys_result_free(r);
    assert_int_equal(slow.calls, 2);
    assert_int_equal(late.calls, 1);

    /* the engine-wide option, and a disabled source is not counted as skipped */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_RETRIEVE_BUDGET_US, 1000), RECSYS_OK);
    assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, "late", 0), RECSYS_OK);
    r = rec(e, NULL, 10, -1);
    assert_int_equal(recsys_result_sources_skipped(r), 0);
    recsys_result_free(r);
    assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, "late", 1), RECSYS_OK);
    r = rec(e, NULL, 10, -1);
    assert_int_equal(recsys_result_sources_skipped(r), 1);
    recsys_result_free(r);
    /* a request lifts it */
    r = rec(e, NULL, 10, 0);
    assert_int_equal(recsys_result_sources_skipped(r), 0);
    assert_int_equal(recsys_result_count(r), 2);
    recsys_result_free(r);

    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_RETRIEVE_BUDGET_US, -1),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_result_sources_skipped(NULL), 0);
}

/* ---- sources on several threads ---- */

/* Everything observable of a result: items, scores, provenance. */
static char *describe(const recsys_result *r)
{
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    s[0] = '\0';
    for (size_t i = 0; i < recsys_result_count(r); i++) {
        char line[512];
        int k = snprintf(line, sizeof line, "%s %.17g", recsys_result_item_id(r, i),
                         recsys_result_score(r, i));
        for (size_t j = 0; j < recsys_result_source_count(r, i); j++) {
            const char *name = NULL;
            double sc = 0;
            assert_int_equal(recsys_result_source(r, i, j, &name, &sc), RECSYS_OK);
            k += snprintf(line + k, sizeof line - (size_t)k, " %s=%.17g", name, sc);
        }
        size_t l = strlen(line);
        while (n + l + 2 > cap) {
            cap *= 2;
            s = realloc(s, cap);
            assert_non_null(s);
        }
        memcpy(s + n, line, l);
        n += l;
        s[n++] = '\n';
        s[n] = '\0';
    }
    return s;
}

static recsys_result *rec_threads(recsys_engine *e, const char *user, const char *query,
                                  int threads)
{
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    if (user)
        assert_int_equal(recsys_request_set_user(rq, user), RECSYS_OK);
    if (query)
        assert_int_equal(recsys_request_set_query(rq, query), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, 12), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_RETRIEVE_THREADS, threads), RECSYS_OK);
    recsys_result *res = NULL;
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
    recsys_request_free(rq);
    return res;
}

/* The merge takes the lists in registration order whatever thread ran them: the answer is the
 * same with one thread, two, or many. */
static void threads_do_not_change_the_answer(void **state)
{
    recsys_engine *e = *state;
    const char *users[] = { NULL, "u-backend", "u-film", "u-ml", "u-new", "nobody" };
    const char *queries[] = { NULL, "laptop gpu" };
    for (size_t u = 0; u < sizeof users / sizeof *users; u++)
        for (size_t qi = 0; qi < 2; qi++) {
            recsys_result *one = rec_threads(e, users[u], queries[qi], 1);
            char *want = describe(one);
            recsys_result_free(one);
            for (int t = 0; t <= 8; t += 2)
                for (int rep = 0; rep < 5; rep++) {
                    recsys_result *r = rec_threads(e, users[u], queries[qi], t);
                    char *got = describe(r);
                    assert_string_equal(got, want);
                    free(got);
                    recsys_result_free(r);
                }
            free(want);
        }
}

typedef struct failing_src {
    _Atomic int calls;
} failing_src;

static recsys_status failing_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    (void)q;
    (void)out;
    failing_src *f = ctx;
    atomic_fetch_add(&f->calls, 1);
    struct timespec ts = { 0, 1000000 }; /* 1 ms: long enough to be claimed by a helper */
    nanosleep(&ts, NULL);
    return recsys_error_set(RECSYS_E_IO, "backend down");
}

/* A source failing on a helper thread fails the request with its own status and message,
 * prefixed with its name, on the caller's thread. */
static void a_failure_on_a_helper_reaches_the_caller(void **state)
{
    recsys_engine *e = *state;
    failing_src f;
    atomic_init(&f.calls, 0);
    recsys_source_vtable vt;
    recsys_source_vtable_init(&vt);
    vt.ctx = &f;
    vt.retrieve = failing_retrieve;
    assert_int_equal(recsys_engine_add_source(e, "flaky", &vt), RECSYS_OK);
    for (int t = 1; t <= 4; t++)
        for (int rep = 0; rep < 10; rep++) {
            recsys_request *rq = NULL;
            assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
            assert_int_equal(recsys_request_set_user(rq, "u-ml"), RECSYS_OK);
            assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_RETRIEVE_THREADS, t),
                             RECSYS_OK);
            recsys_result *res = (recsys_result *)&f; /* must become NULL */
            assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_E_IO);
            assert_null(res);
            assert_string_equal(recsys_last_error(), "source 'flaky': backend down");
            recsys_request_free(rq);
        }
    assert_int_equal(atomic_load(&f.calls), 40);
    /* and the engine serves again once it is out of the path */
    assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, "flaky", 0), RECSYS_OK);
    recsys_result *r = rec_threads(e, "u-ml", NULL, 2);
    assert_true(recsys_result_count(r) > 0);
    recsys_result_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(settings_read_back_what_was_configured, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_settings_are_refused_and_change_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_quota_caps_a_sources_candidates, setup, teardown),
        cmocka_unit_test_setup_teardown(a_zero_weight_source_keeps_provenance_without_score,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(sources_after_a_spent_budget_are_skipped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(threads_do_not_change_the_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failure_on_a_helper_reaches_the_caller, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
