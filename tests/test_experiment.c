/* test_experiment.c - experiments (lib/experiment, lib/engine/experiment.c): definitions that
 * refuse bad input with a message naming the field and change nothing; assignment that
 * follows the split, is pinned to fixed values (so it cannot drift between releases), is
 * identical in another process (this binary re-executed) and after a restart over the file
 * store; arms applied by recsys_experiment_recommend; the statistics (chi-square tail, sign
 * test, probit, bootstrap and delta intervals); reports end to end, the sample-ratio check
 * passing for a 50/50 split and failing for a deliberately skewed one; the cuts by source
 * and by ranker, over both event layouts of the file store; the LLM calls, tokens and cost
 * per request of each arm and ranker, equal to what the results said; a host store built against 0.1
 * handed events in its own layout; store failures and
 * the out-of-memory loop leaving the engine as it was. */
#include "testkit.h"
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "core/error.h"
#include "experiment/experiment.h"
#include "store/store.h"

#define NUSERS_CHILD 2000
#define CHILD_FLAG "--assign-child"

static const char *const AB =
    "{\"name\":\"ab\",\"salt\":\"s1\",\"arms\":[{\"name\":\"control\",\"percent\":50},"
    "{\"name\":\"treat\",\"percent\":50}]}";

static void set_ok(recsys_engine *e, const char *json)
{
    recsys_status st = recsys_experiment_set(e, json, strlen(json));
    if (st != RECSYS_OK)
        print_error("recsys_experiment_set: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
}

static void expect(recsys_status st, recsys_status want, const char *needle)
{
    if (st != want || !strstr(recsys_last_error(), needle))
        print_error("got %d '%s', expected %d with '%s'\n", (int)st, recsys_last_error(),
                    (int)want, needle);
    assert_int_equal(st, want);
    assert_non_null(strstr(recsys_last_error(), needle));
}

static const char *arm_of(recsys_engine *e, const char *exp, const char *user)
{
    static char buf[64]; /* test-only scratch */
    size_t needed = 0;
    assert_int_equal(recsys_experiment_assign(e, exp, user, buf, sizeof buf, &needed), RECSYS_OK);
    assert_int_equal(needed, strlen(buf) + 1);
    return buf;
}

static recsys_engine *mem_engine(const recsys_allocator *alloc, const recsys_store_vtable *store)
{
    recsys_engine *e = tk_engine(alloc, store);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW + 86400), RECSYS_OK);
    return e;
}

/* ------------------------------------------------------------ definitions */

static void definitions_reject_bad_input(void **state)
{
    (void)state;
    recsys_engine *e = mem_engine(NULL, NULL);
    static const struct {
        const char *json, *needle;
    } bad[] = {
        { "", "experiment" },
        { "[]", "must be a JSON object" },
        { "{\"arms\":[{\"name\":\"a\",\"percent\":50}]}", "field 'name'" },
        { "{\"name\":\"\",\"arms\":[{\"name\":\"a\",\"percent\":50}]}", "field 'name'" },
        { "{\"name\":\"Bad Name\",\"arms\":[{\"name\":\"a\",\"percent\":50}]}", "experiment name" },
        { "{\"name\":\"x\",\"arms\":[]}", "field 'arms'" },
        { "{\"name\":\"x\",\"arms\":{}}", "field 'arms'" },
        { "{\"name\":\"x\",\"arms\":[{\"name\":\"a\"}]}", "field 'percent'" },
        { "{\"name\":\"x\",\"arms\":[{\"name\":\"a\",\"percent\":0}]}", "percent" },
        { "{\"name\":\"x\",\"arms\":[{\"name\":\"a\",\"percent\":-5}]}", "percent" },
        { "{\"name\":\"x\",\"arms\":[{\"name\":\"a\",\"percent\":10.005}]}", "two decimals" },
        { "{\"name\":\"x\",\"arms\":[{\"name\":\"a\",\"percent\":60},{\"name\":\"b\",\"percent\":"
          "41}]}", "add up to 101.00" },
        { "{\"name\":\"x\",\"holdout\":10,\"arms\":[{\"name\":\"a\",\"percent\":50},{\"name\":"
          "\"b\",\"percent\":41}]}", "add up to 101.00" },
        { "{\"name\":\"x\",\"arms\":[{\"name\":\"a\",\"percent\":5},{\"name\":\"a\",\"percent\":"
          "5}]}", "both named 'a'" },
        { "{\"name\":\"x\",\"arms\":[{\"name\":\"holdout\",\"percent\":5}]}", "reserved" },
        { "{\"name\":\"x\",\"arms\":[{\"name\":\"a\",\"percent\":5,\"colour\":1}]}", "colour" },
        { "{\"name\":\"x\",\"extra\":1,\"arms\":[{\"name\":\"a\",\"percent\":5}]}", "extra" },
        { "{\"name\":\"x\",\"arms\":[{\"name\":\"a\",\"percent\":5,\"options\":{\"no.such\":1}}]}",
          "unknown option 'no.such'" },
        { "{\"name\":\"x\",\"arms\":[{\"name\":\"a\",\"percent\":5,\"options\":{\"engine.top_n\":"
          "0}}]}", "below minimum" },
        { "{\"name\":\"x\",\"arms\":[{\"name\":\"a\",\"percent\":5,\"options\":{\"engine.top_n\":"
          "2.5}}]}", "must be an integer" },
        { "{\"name\":\"x\",\"arms\":[{\"name\":\"a\",\"percent\":5,\"options\":{"
          "\"retrieve.vector_index\":1}}]}", "string option" },
        { "{\"name\":\"x\",\"arms\":[{\"name\":\"a\",\"percent\":5,\"ranker\":5}]}", "'ranker'" },
        { "{\"name\":\"x\",\"start\":10,\"end\":5,\"arms\":[{\"name\":\"a\",\"percent\":5}]}",
          "not after 'start'" },
        { "{\"name\":\"x\",\"start\":-1,\"arms\":[{\"name\":\"a\",\"percent\":5}]}", "'start'" },
        { "{\"name\":\"x\",\"salt\":\"\",\"arms\":[{\"name\":\"a\",\"percent\":5}]}", "'salt'" },
        { "{\"name\":\"x\",\"name\":\"y\",\"arms\":[{\"name\":\"a\",\"percent\":5}]}", "duplicate" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        recsys_status st = recsys_experiment_set(e, bad[i].json, strlen(bad[i].json));
        if (st != RECSYS_E_INVALID_ARG || !strstr(recsys_last_error(), bad[i].needle))
            print_error("case %zu: %s\n", i, recsys_last_error());
        expect(st, RECSYS_E_INVALID_ARG, bad[i].needle);
    }
    char *out = (char *)"x";
    expect(recsys_experiment_get_json(e, "x", &out), RECSYS_E_NOT_FOUND, "'x'");
    assert_null(out);
    /* NULL arguments */
    expect(recsys_experiment_set(NULL, AB, strlen(AB)), RECSYS_E_INVALID_ARG, "NULL");
    expect(recsys_experiment_set(e, NULL, 0), RECSYS_E_INVALID_ARG, "NULL");
    char arm[64];
    expect(recsys_experiment_assign(e, "ab", "u1", arm, sizeof arm, NULL), RECSYS_E_NOT_FOUND,
           "'ab'");
    set_ok(e, AB);
    expect(recsys_experiment_assign(e, "ab", "", arm, sizeof arm, NULL), RECSYS_E_INVALID_ARG,
           "empty");
    expect(recsys_experiment_assign(e, "ab", NULL, arm, sizeof arm, NULL), RECSYS_E_INVALID_ARG,
           "NULL");
    size_t needed = 0;
    expect(recsys_experiment_assign(e, "ab", "u1", arm, 2, &needed), RECSYS_E_TOO_SMALL,
           "bytes");
    assert_true(needed == 6 || needed == 8); /* "treat" or "control" */
    /* the definition comes back compact with sorted keys, default salt = name */
    set_ok(e, "{\"name\":\"d\",\"arms\":[{\"percent\":100,\"name\":\"only\"}]}");
    assert_int_equal(recsys_experiment_get_json(e, "d", &out), RECSYS_OK);
    assert_string_equal(out, "{\"arms\":[{\"name\":\"only\",\"percent\":100}],\"name\":\"d\"}");
    recsys_string_free(out);
    assert_string_equal(arm_of(e, "d", "anyone"), "only");
    expect(recsys_experiment_remove(e, "nope"), RECSYS_E_NOT_FOUND, "'nope'");
    assert_int_equal(recsys_experiment_remove(e, "d"), RECSYS_OK);
    expect(recsys_experiment_get_json(e, "d", &out), RECSYS_E_NOT_FOUND, "'d'");
    recsys_engine_free(e);
}

/* ------------------------------------------------------------ assignment */

static void assignment_follows_the_split(void **state)
{
    (void)state;
    recsys_engine *e = mem_engine(NULL, NULL);
    set_ok(e, "{\"name\":\"split\",\"salt\":\"x1\",\"holdout\":10,\"arms\":[{\"name\":\"a\","
              "\"percent\":50},{\"name\":\"b\",\"percent\":30}]}");
    int n = 20000, ca = 0, cb = 0, ch = 0, cout = 0;
    char user[32];
    for (int i = 0; i < n; i++) {
        snprintf(user, sizeof user, "user-%d", i);
        const char *a = arm_of(e, "split", user);
        ca += !strcmp(a, "a");
        cb += !strcmp(a, "b");
        ch += !strcmp(a, "holdout");
        cout += !strcmp(a, "");
    }
    assert_int_equal(ca + cb + ch + cout, n);
    /* within 4 standard deviations of the split */
    assert_true(abs(ca - n / 2) < 4 * 71);
    assert_true(abs(cb - n * 3 / 10) < 4 * 65);
    assert_true(abs(ch - n / 10) < 4 * 43);
    assert_true(abs(cout - n / 10) < 4 * 43);
    /* the same salt and split after a redefinition: nobody moves; a new salt: about half */
    char before[200][8];
    for (int i = 0; i < 200; i++) {
        snprintf(user, sizeof user, "user-%d", i);
        snprintf(before[i], sizeof before[i], "%s", arm_of(e, "split", user));
    }
    set_ok(e, "{\"name\":\"split\",\"salt\":\"x1\",\"holdout\":10,\"arms\":[{\"name\":\"a\","
              "\"percent\":50},{\"name\":\"b\",\"percent\":30}]}");
    for (int i = 0; i < 200; i++) {
        snprintf(user, sizeof user, "user-%d", i);
        assert_string_equal(before[i], arm_of(e, "split", user));
    }
    set_ok(e, "{\"name\":\"split\",\"salt\":\"x2\",\"holdout\":10,\"arms\":[{\"name\":\"a\","
              "\"percent\":50},{\"name\":\"b\",\"percent\":30}]}");
    int moved = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(user, sizeof user, "user-%d", i);
        moved += strcmp(before[i], arm_of(e, "split", user)) != 0;
    }
    assert_true(moved > 60 && moved < 160);
    recsys_engine_free(e);
}

/* XXH3 is specified, so these buckets are fixed for good: a change here breaks every running
 * experiment of every host and must not happen. */
static void assignment_is_pinned(void **state)
{
    (void)state;
    recsys__experiment x;
    const char *def = "{\"name\":\"p\",\"salt\":\"s1\",\"arms\":[{\"name\":\"a\",\"percent\":50},"
                      "{\"name\":\"b\",\"percent\":50}]}";
    assert_int_equal(recsys__exp_parse(&recsys__mem_default, def, strlen(def), 1 << 16, &x),
                     RECSYS_OK);
    assert_int_equal(recsys__exp_bucket(x.seed, "u1", 2), 8234);
    assert_int_equal(recsys__exp_bucket(x.seed, "alice", 5), 6611);
    assert_int_equal(recsys__exp_bucket(x.seed, "u0000042", 8), 4995);
    assert_int_equal(recsys__exp_assign(&x, "u1"), 1);
    assert_int_equal(recsys__exp_assign(&x, "u0000042"), 0);
    recsys__exp_free(&recsys__mem_default, &x);
}

/* The child: a fresh engine, the same definition, every user's arm on stdout. */
static int child_main(void)
{
    recsys_engine *e = NULL;
    recsys_engine_opts o;
    recsys_engine_opts_init(&o);
    o.seed = 7; /* another seed than the parent's: assignment must not depend on it */
    if (recsys_engine_new(&o, &e) != RECSYS_OK ||
        recsys_experiment_set(e, AB, strlen(AB)) != RECSYS_OK)
        return 1;
    char user[32], arm[64];
    for (int i = 0; i < NUSERS_CHILD; i++) {
        snprintf(user, sizeof user, "user-%d", i);
        if (recsys_experiment_assign(e, "ab", user, arm, sizeof arm, NULL) != RECSYS_OK)
            return 1;
        printf("%s\n", arm);
    }
    recsys_engine_free(e);
    return 0;
}

static void assignment_is_identical_in_another_process(void **state)
{
    (void)state;
    recsys_engine *e = mem_engine(NULL, NULL);
    set_ok(e, AB);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* a new process image: nothing of the parent's state carries over */
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl("/proc/self/exe", "test_experiment", CHILD_FLAG, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    assert_non_null(in);
    char line[128], user[32];
    int n = 0, treat = 0;
    while (fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = '\0';
        snprintf(user, sizeof user, "user-%d", n);
        assert_string_equal(line, arm_of(e, "ab", user));
        treat += !strcmp(line, "treat");
        n++;
    }
    fclose(in);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(n, NUSERS_CHILD);
    assert_true(treat > 800 && treat < 1200); /* both arms present */
    recsys_engine_free(e);
}

static recsys_engine *open_file_engine(const char *dir)
{
    recsys_store_vtable vt;
    recsys_store_vtable_init(&vt);
    assert_int_equal(recsys_store_file_new(dir, NULL, &vt), RECSYS_OK);
    recsys_engine_opts o;
    recsys_engine_opts_init(&o);
    o.seed = 42;
    o.store = &vt;
    recsys_engine *e = NULL;
    assert_int_equal(recsys_engine_new(&o, &e), RECSYS_OK);
    return e;
}

static void assignment_survives_a_restart(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_engine *e = open_file_engine(dir);
    set_ok(e, AB);
    set_ok(e, "{\"name\":\"gone\",\"arms\":[{\"name\":\"a\",\"percent\":100}]}");
    assert_int_equal(recsys_experiment_remove(e, "gone"), RECSYS_OK);
    char arms[500][8], user[32];
    for (int i = 0; i < 500; i++) {
        snprintf(user, sizeof user, "user-%d", i);
        snprintf(arms[i], sizeof arms[i], "%s", arm_of(e, "ab", user));
    }
    char *def = NULL;
    assert_int_equal(recsys_experiment_get_json(e, "ab", &def), RECSYS_OK);
    recsys_engine_free(e);

    /* reopened: the definition was saved; nobody is redefined, every user keeps the arm */
    e = open_file_engine(dir);
    char *again = NULL;
    assert_int_equal(recsys_experiment_get_json(e, "ab", &again), RECSYS_OK);
    assert_string_equal(def, again);
    recsys_string_free(again);
    char *none = NULL;
    expect(recsys_experiment_get_json(e, "gone", &none), RECSYS_E_NOT_FOUND, "gone");
    for (int i = 0; i < 500; i++) {
        snprintf(user, sizeof user, "user-%d", i);
        assert_string_equal(arms[i], arm_of(e, "ab", user));
    }
    recsys_engine_free(e);
    recsys_string_free(def);
    tk_rm_rf(dir);
    free(dir);
}

/* ------------------------------------------------------------ arms applied */

static void recommend_applies_the_arm(void **state)
{
    (void)state;
    recsys_engine *e = mem_engine(NULL, NULL);
    set_ok(e, "{\"name\":\"top\",\"salt\":\"t\",\"arms\":[{\"name\":\"control\",\"percent\":50},"
              "{\"name\":\"short\",\"percent\":50,\"options\":{\"engine.top_n\":2,"
              "\"engine.log_impressions\":0}}]}");
    int seen[2] = { 0, 0 };
    char user[32];
    for (int i = 0; i < 40; i++) {
        snprintf(user, sizeof user, "v%d", i);
        bool treat = !strcmp(arm_of(e, "top", user), "short");
        recsys_request *rq = NULL;
        recsys_result *res = NULL;
        assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
        assert_int_equal(recsys_request_set_user(rq, user), RECSYS_OK);
        assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, 5), RECSYS_OK);
        assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
        /* the request alone (it is not changed by the experiment call below) */
        assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
        size_t plain = recsys_result_count(res);
        assert_true(plain > 2 && plain <= 5);
        assert_null(recsys_result_experiment(res)); /* not run under an experiment */
        assert_null(recsys_result_arm(res));
        recsys_result_free(res);
        assert_int_equal(recsys_experiment_recommend(e, "top", rq, &res), RECSYS_OK);
        assert_int_equal(recsys_result_count(res), treat ? 2 : plain); /* the arm's value wins */
        /* the assignment comes back with the result */
        assert_string_equal(recsys_result_experiment(res), "top");
        assert_string_equal(recsys_result_arm(res), arm_of(e, "top", user));
        recsys_result_free(res);
        assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
        assert_int_equal(recsys_result_count(res), plain);
        recsys_result_free(res);
        recsys_request_free(rq);
        seen[treat]++;
    }
    assert_true(seen[0] > 5 && seen[1] > 5);
    /* an arm naming a ranker that does not exist fails its requests with the ranker named */
    set_ok(e, "{\"name\":\"rk\",\"arms\":[{\"name\":\"c\",\"percent\":1},{\"name\":\"t\","
              "\"percent\":99,\"ranker\":\"no-such-ranker\"}]}");
    recsys_request *rq = NULL;
    recsys_result *res = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    int tried = 0;
    for (int i = 0; i < 20 && !tried; i++) {
        snprintf(user, sizeof user, "w%d", i);
        if (strcmp(arm_of(e, "rk", user), "t"))
            continue;
        assert_int_equal(recsys_request_set_user(rq, user), RECSYS_OK);
        recsys_status st = recsys_experiment_recommend(e, "rk", rq, &res);
        assert_int_not_equal(st, RECSYS_OK);
        assert_null(res);
        assert_non_null(strstr(recsys_last_error(), "no-such-ranker"));
        tried = 1;
    }
    assert_true(tried);
    expect(recsys_experiment_recommend(e, "nope", rq, &res), RECSYS_E_NOT_FOUND, "nope");
    recsys_request_free(rq);
    recsys_engine_free(e);
}

/* ------------------------------------------------------------ statistics */

static void statistics_match_known_values(void **state)
{
    (void)state;
    assert_true(fabs(recsys__stat_chi2_sf(3.841458820694124, 1) - 0.05) < 1e-9);
    assert_true(fabs(recsys__stat_chi2_sf(5.991464547107979, 2) - 0.05) < 1e-9);
    assert_true(fabs(recsys__stat_chi2_sf(18.307038053275146, 10) - 0.05) < 1e-9);
    assert_true(fabs(recsys__stat_chi2_sf(0.1, 3) - 0.9918374237318764) < 1e-9);
    assert_true(fabs(recsys__stat_chi2_sf(100, 1) - 1.5239706048320995e-23) < 1e-30);
    assert_true(recsys__stat_chi2_sf(0, 1) == 1);
    assert_true(isnan(recsys__stat_chi2_sf(1, 0)));
    assert_true(recsys__stat_sign_test(0, 0) == 1);
    assert_true(fabs(recsys__stat_sign_test(10, 0) - 2.0 / 1024) < 1e-15);
    assert_true(fabs(recsys__stat_sign_test(0, 10) - 2.0 / 1024) < 1e-15);
    assert_true(fabs(recsys__stat_sign_test(6, 4) - 772.0 / 1024) < 1e-12);
    assert_true(recsys__stat_sign_test(5, 5) == 1);
    assert_true(recsys__stat_sign_test(600, 400) < 1e-9);
    assert_true(recsys__stat_sign_test(520, 480) > 0.2);
    assert_true(fabs(recsys__stat_probit(0.975) - 1.959963984540054) < 1e-9);
    assert_true(fabs(recsys__stat_probit(0.5)) < 1e-12);
    assert_true(isnan(recsys__stat_probit(1)));
    double chi2, p;
    uint64_t even[2] = { 5000, 5020 }, skew[2] = { 5000, 5400 };
    double half[2] = { 0.5, 0.5 };
    recsys__stat_srm(even, half, 2, &chi2, &p);
    assert_true(fabs(chi2 - 200.0 / 5010) < 1e-12 && p > 0.8);
    recsys__stat_srm(skew, half, 2, &chi2, &p);
    assert_true(p < 1e-4);
    uint64_t where_none[2] = { 10, 1 };
    double all_a[2] = { 1, 0 };
    recsys__stat_srm(where_none, all_a, 2, &chi2, &p);
    assert_true(p == 0);
    recsys__stat_srm(even, half, 1, &chi2, &p);
    assert_true(p == 1 && chi2 == 0);
}

/* Users with n impressions and clicks drawn with probability ctr, as rows of 2 fields. */
static void users(double *rows, size_t n, double ctr, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        double clicks = 0;
        for (int k = 0; k < 10; k++)
            clicks += (double)(recsys__exp_rand(&seed) % 1000) < ctr * 1000;
        rows[2 * i] = clicks;
        rows[2 * i + 1] = 10;
    }
}

static void intervals_cover_what_they_should(void **state)
{
    (void)state;
    enum { N = 600 };
    static double a[2 * N], a2[2 * N], b[2 * N];
    users(a, N, 0.10, 1);
    users(a2, N, 0.10, 2);
    users(b, N, 0.16, 3);
    int num[1] = { 0 }, den[1] = { 1 };
    double lo, hi, lo2, hi2, dlo, dhi;
    const recsys__mem *m = &recsys__mem_default;
    /* A/A: the interval holds 0; A/B: it excludes 0 and holds the true difference */
    assert_int_equal(recsys__stat_ratio_ci(m, a, N, a2, N, 2, num, den, 1, 1000, 0.95, 9, &lo, &hi),
                     RECSYS_OK);
    assert_true(lo < 0 && hi > 0);
    assert_int_equal(recsys__stat_ratio_ci(m, a, N, b, N, 2, num, den, 1, 1000, 0.95, 9, &lo, &hi),
                     RECSYS_OK);
    assert_true(lo > 0 && lo < 0.06 && hi > 0.06);
    /* the same seed, the same interval; the delta method agrees closely */
    assert_int_equal(recsys__stat_ratio_ci(m, a, N, b, N, 2, num, den, 1, 1000, 0.95, 9, &lo2,
                                           &hi2), RECSYS_OK);
    assert_true(lo == lo2 && hi == hi2);
    assert_int_equal(recsys__stat_ratio_ci(m, a, N, b, N, 2, num, den, 1, 0, 0.95, 0, &dlo, &dhi),
                     RECSYS_OK);
    assert_true(fabs(dlo - lo) < 0.006 && fabs(dhi - hi) < 0.006);
    /* a wider level gives a wider interval; an empty group gives NaN */
    assert_int_equal(recsys__stat_ratio_ci(m, a, N, b, N, 2, num, den, 1, 0, 0.99, 0, &lo2, &hi2),
                     RECSYS_OK);
    assert_true(lo2 < dlo && hi2 > dhi);
    assert_int_equal(recsys__stat_ratio_ci(m, a, 0, b, N, 2, num, den, 1, 100, 0.95, 0, &lo, &hi),
                     RECSYS_OK);
    assert_true(isnan(lo) && isnan(hi));
    /* out of memory: a status, nothing written */
    tk_alloc ta;
    recsys_allocator rec;
    tk_alloc_init(&ta, &rec);
    recsys__mem fm;
    assert_int_equal(recsys__mem_init(&fm, &rec), RECSYS_OK);
    for (long k = 0;; k++) {
        ta.fail_at = ta.count + k;
        lo = hi = 42;
        recsys_status st = recsys__stat_ratio_ci(&fm, a, N, b, N, 2, num, den, 1, 100, 0.95, 1,
                                                 &lo, &hi);
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_true(lo == 42 && hi == 42);
        assert_int_equal(ta.live, 0);
    }
    assert_int_equal(ta.live, 0);
}

/* ------------------------------------------------------------ reports */

/* Logs one request of 10 impressions for user and clicks on the first `clicks` of them
 * (answering the request id), at time ts. */
static void traffic(recsys_engine *e, const char *user, int clicks, int64_t ts)
{
    char req[64], item[8];
    snprintf(req, sizeof req, "r-%s-%lld", user, (long long)ts);
    recsys_event ev[20];
    size_t n = 0;
    for (int p = 0; p < 10; p++) {
        recsys_event_init(&ev[n]);
        ev[n].type = RECSYS_EVENT_IMPRESSION;
        ev[n].user_id = user;
        ev[n].item_id = tk_item_ids[p];
        ev[n].request_id = req;
        ev[n].position = p;
        ev[n].timestamp = ts;
        n++;
    }
    assert_int_equal(recsys_feedback_batch(e, ev, n), RECSYS_OK);
    for (int c = 0; c < clicks; c++) {
        (void)item;
        recsys_event ck;
        recsys_event_init(&ck);
        ck.type = RECSYS_EVENT_CLICK;
        ck.user_id = user;
        ck.item_id = tk_item_ids[c];
        ck.request_id = req;
        ck.position = c;
        ck.timestamp = ts + 5;
        assert_int_equal(recsys_feedback(e, &ck), RECSYS_OK);
    }
}

static json_t *report(recsys_engine *e, const char *name)
{
    char *text = NULL;
    recsys_status st = recsys_experiment_report_json(e, name, &text);
    if (st != RECSYS_OK)
        print_error("report: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    assert_non_null(root);
    recsys_string_free(text);
    return root;
}

static const json_t *comparison(const json_t *root, const char *arm, const char *metric)
{
    const json_t *v;
    size_t i;
    json_array_foreach(json_object_get(root, "comparisons"), i, v) {
        if (!strcmp(json_string_value(json_object_get(v, "arm")), arm) &&
            !strcmp(json_string_value(json_object_get(v, "metric")), metric))
            return v;
    }
    fail_msg("no comparison %s/%s", arm, metric);
    return NULL;
}

static double jnum(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    assert_non_null(v);
    return json_number_value(v);
}

/* 1200 users of a 50/50 experiment; the treatment's users click more. skip_every drops the
 * traffic of every skip_every-th treatment user (0 = none): a deliberately skewed sample. */
static json_t *run_ab(int skip_every, int64_t ts)
{
    recsys_engine *e = mem_engine(NULL, NULL);
    set_ok(e, AB);
    char user[32];
    int treat_seen = 0;
    for (int i = 0; i < 1200; i++) {
        snprintf(user, sizeof user, "user-%d", i);
        bool treat = !strcmp(arm_of(e, "ab", user), "treat");
        if (treat && skip_every && ++treat_seen % skip_every == 0)
            continue;
        /* control: 1 or 2 clicks of 10; treatment: 2 or 3 */
        traffic(e, user, (treat ? 2 : 1) + (i % 2), ts);
    }
    json_t *root = report(e, "ab");
    recsys_engine_free(e);
    return root;
}

static void report_detects_the_better_arm_and_checks_the_ratio(void **state)
{
    (void)state;
    json_t *root = run_ab(0, TK_NOW + 100);
    assert_string_equal(json_string_value(json_object_get(root, "control")), "control");
    const json_t *ctr = comparison(root, "treat", "ctr");
    /* 1.5 and 2.5 clicks per 10 impressions on average (the parity of i splits each arm
     * about evenly) */
    double c = jnum(ctr, "control_value"), t = jnum(ctr, "value"), d = jnum(ctr, "diff");
    assert_true(c > 0.14 && c < 0.16 && t > 0.24 && t < 0.26);
    assert_true(fabs(d - (t - c)) < 1e-12);
    assert_true(jnum(ctr, "ci_low") > 0.08 && jnum(ctr, "ci_low") < d);
    assert_true(jnum(ctr, "ci_high") > d && jnum(ctr, "ci_high") < 0.12);
    assert_true(json_is_true(json_object_get(ctr, "significant")));
    const json_t *ipu = comparison(root, "treat", "impressions_per_user");
    assert_true(jnum(ipu, "diff") == 0 && !json_is_true(json_object_get(ipu, "significant")));
    const json_t *srm = json_object_get(root, "srm");
    assert_true(jnum(srm, "p") > 0.001 && json_is_true(json_object_get(srm, "pass")));
    const json_t *at = json_object_get(root, "attribution");
    /* every click answers its request id; the fixture's own events (no request id, no
     * impression) stay unattributed */
    assert_true(jnum(at, "by_window") == 0 && jnum(at, "by_request_id") > 2400);
    assert_true(jnum(at, "by_request_id") + jnum(at, "unattributed") == jnum(at, "feedback"));
    assert_true(jnum(at, "unattributed") < 30);
    /* per arm: users add up, positions 0..9 each shown once per user */
    const json_t *arms = json_object_get(root, "arms");
    assert_int_equal(json_array_size(arms), 2);
    double users = jnum(json_array_get(arms, 0), "users") + jnum(json_array_get(arms, 1), "users");
    assert_true(users == 1200 && jnum(root, "users") == 1200);
    const json_t *pos = json_object_get(json_array_get(arms, 0), "by_position");
    assert_int_equal(json_array_size(pos), 10);
    assert_true(jnum(json_array_get(pos, 0), "ctr") == 1); /* every control user clicked slot 0 */
    assert_true(jnum(json_array_get(pos, 9), "ctr") == 0);
    json_decref(root);

    /* a third of the treatment's users lost (as a crashing arm would): the check fails */
    root = run_ab(3, TK_NOW + 100);
    srm = json_object_get(root, "srm");
    assert_true(jnum(srm, "p") < 1e-6);
    assert_true(json_is_false(json_object_get(srm, "pass")));
    json_decref(root);
}

static void report_reads_only_the_experiment_window_and_holdout(void **state)
{
    (void)state;
    recsys_engine *e = mem_engine(NULL, NULL);
    set_ok(e, "{\"name\":\"w\",\"salt\":\"w\",\"holdout\":20,\"start\":1700000100,\"end\":"
              "1700000200,\"arms\":[{\"name\":\"c\",\"percent\":40},{\"name\":\"t\","
              "\"percent\":40}]}");
    char user[32];
    for (int i = 0; i < 300; i++) {
        snprintf(user, sizeof user, "h%d", i);
        traffic(e, user, 1, TK_NOW + 150);  /* inside */
        traffic(e, user, 9, TK_NOW + 50);   /* before the start */
        traffic(e, user, 9, TK_NOW + 250);  /* after the end */
    }
    json_t *root = report(e, "w");
    const json_t *arms = json_object_get(root, "arms");
    assert_int_equal(json_array_size(arms), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arms, 2), "name")),
                        "holdout");
    for (size_t g = 0; g < 3; g++) {
        const json_t *m = json_object_get(json_array_get(arms, g), "metrics");
        assert_true(fabs(jnum(m, "ctr") - 0.1) < 1e-12);
        assert_true(jnum(m, "impressions_per_user") == 10);
    }
    assert_true(jnum(root, "users") == 300);
    assert_true(json_is_true(json_object_get(json_object_get(root, "srm"), "pass")));
    /* the comparisons include the holdout against the control */
    assert_true(jnum(comparison(root, "holdout", "ctr"), "diff") == 0);
    json_decref(root);
    /* all traffic, one window: 3 x 300 requests */
    char *text = NULL;
    assert_int_equal(recsys_online_metrics_json(e, 0, 0, &text), RECSYS_OK);
    root = json_loads(text, 0, NULL);
    recsys_string_free(text);
    assert_true(jnum(root, "impressions") == 9000);
    assert_true(fabs(jnum(json_object_get(root, "metrics"), "requests_per_user") - 3) < 1e-12);
    json_decref(root);
    expect(recsys_online_metrics_json(e, 10, 5, &text), RECSYS_E_INVALID_ARG, "window");
    recsys_engine_free(e);
}

/* The cut named name in a report's array of cuts, or NULL. */
static const json_t *cut_named(const json_t *cuts, const char *name)
{
    for (size_t i = 0; i < json_array_size(cuts); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(cuts, i), "name")), name))
            return json_array_get(cuts, i);
    return NULL;
}

#define CUT_NAMES 8
typedef struct cut_tally {
    char name[CUT_NAMES][32];
    double impr[CUT_NAMES], click[CUT_NAMES];
    size_t n;
} cut_tally;

static void tally(cut_tally *t, const char *name, int clicked)
{
    size_t i = 0;
    while (i < t->n && strcmp(t->name[i], name))
        i++;
    if (i == t->n) {
        assert_true(t->n < CUT_NAMES);
        snprintf(t->name[t->n++], sizeof t->name[0], "%s", name);
    }
    t->impr[i] += 1;
    t->click[i] += clicked;
}

static void expect_cuts(const json_t *cuts, const cut_tally *t)
{
    assert_int_equal(json_array_size(cuts), t->n);
    for (size_t i = 0; i < t->n; i++) {
        const json_t *c = cut_named(cuts, t->name[i]);
        if (!c)
            fail_msg("no cut for %s", t->name[i]);
        assert_true(jnum(c, "impressions") == t->impr[i]);
        assert_true(jnum(c, "clicks") == t->click[i]);
        assert_true(fabs(jnum(c, "ctr") - t->click[i] / t->impr[i]) < 1e-12);
    }
}

/* Impressions logged by recsys_recommend name their sources and ranker; the online metrics
 * and the report cut by both (an item of several sources counts for each), over the file
 * store, before and after a restart, next to impressions in the layout of 0.1 (no such
 * fields, from a caller built against 0.1) that count in the totals and in no cut. */
/* recsys_experiment_recommend of the top 5 for user under experiment exp. */
static recsys_result *serve(recsys_engine *e, const char *exp, const char *user)
{
    recsys_request *rq = NULL;
    recsys_result *res = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_user(rq, user), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, 5), RECSYS_OK);
    assert_int_equal(recsys_experiment_recommend(e, exp, rq, &res), RECSYS_OK);
    recsys_request_free(rq);
    return res;
}

static void cuts_by_source_and_ranker(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_engine *e = open_file_engine(dir);
    tk_load(e);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW + 86400), RECSYS_OK);
    set_ok(e, "{\"name\":\"rk\",\"salt\":\"rk\",\"arms\":[{\"name\":\"b\",\"percent\":50,"
              "\"ranker\":\"blend\"},{\"name\":\"l\",\"percent\":50,\"ranker\":\"linear\"}]}");
    /* an old caller's impressions: struct_size of 0.1, so no sources or ranker */
    recsys_event old[3];
    for (int p = 0; p < 3; p++) {
        memset(&old[p], 0, sizeof old[p]);
        old[p].struct_size = (uint32_t)offsetof(recsys_event, sources); /* 0.1 */
        old[p].type = RECSYS_EVENT_IMPRESSION;
        old[p].user_id = "old-user";
        old[p].item_id = tk_item_ids[p];
        old[p].request_id = "r-old";
        old[p].position = p;
    }
    assert_int_equal(recsys_feedback_batch(e, old, 3), RECSYS_OK);
    cut_tally src = { .n = 0 }, rk[2] = { { .n = 0 }, { .n = 0 } };
    size_t multi = 0, total = 3;
    char user[32];
    for (int u = 0; u < 16; u++) {
        snprintf(user, sizeof user, "cut-%d", u);
        recsys_result *res = serve(e, "rk", user);
        int arm = !strcmp(recsys_result_arm(res), "l");
        size_t n = recsys_result_count(res);
        total += n;
        for (size_t i = 0; i < n; i++) {
            int clicked = i == 0;
            if (clicked) {
                recsys_event ck;
                recsys_event_init(&ck);
                ck.type = RECSYS_EVENT_CLICK;
                ck.user_id = user;
                ck.item_id = recsys_result_item_id(res, i);
                ck.request_id = recsys_result_request_id(res);
                ck.position = 0;
                assert_int_equal(recsys_feedback(e, &ck), RECSYS_OK);
            }
            size_t ns = recsys_result_source_count(res, i);
            multi += ns > 1;
            for (size_t j = 0; j < ns; j++) {
                const char *name = NULL;
                double score;
                assert_int_equal(recsys_result_source(res, i, j, &name, &score), RECSYS_OK);
                tally(&src, name, clicked);
            }
            tally(&rk[arm], arm ? "linear" : "blend", clicked);
        }
        recsys_result_free(res);
    }
    assert_true(src.n >= 2);  /* two sources at least */
    assert_true(multi > 0);   /* and items several of them proposed */
    assert_true(rk[0].n == 1 && rk[1].n == 1);
    for (int round = 0; round < 2; round++) {
        char *text = NULL;
        assert_int_equal(recsys_online_metrics_json(e, 0, 0, &text), RECSYS_OK);
        json_t *root = json_loads(text, 0, NULL);
        recsys_string_free(text);
        assert_non_null(root);
        assert_true(jnum(root, "impressions") == (double)total); /* the old ones included */
        expect_cuts(json_object_get(root, "by_source"), &src);
        cut_tally both = rk[0];
        snprintf(both.name[1], sizeof both.name[1], "linear");
        both.impr[1] = rk[1].impr[0];
        both.click[1] = rk[1].click[0];
        both.n = 2;
        expect_cuts(json_object_get(root, "by_ranker"), &both);
        json_decref(root);
        /* the report: each arm's ranker cut is its own ranker only */
        root = report(e, "rk");
        const json_t *arms = json_object_get(root, "arms");
        for (size_t g = 0; g < 2; g++) {
            const json_t *a = json_array_get(arms, g);
            int l = !strcmp(json_string_value(json_object_get(a, "name")), "l");
            expect_cuts(json_object_get(a, "by_ranker"), &rk[l]);
            assert_true(json_array_size(json_object_get(a, "by_source")) >= 1);
        }
        json_decref(root);
        /* a restart reads both layouts back from the log */
        recsys_engine_free(e);
        e = open_file_engine(dir);
        assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW + 86400), RECSYS_OK);
    }
    recsys_engine_free(e);
    tk_rm_rf(dir);
    free(dir);
}

/* A host LLM for the re-ranking stage: it answers every call with the first handles in
 * order and reports 100 prompt and 20 completion tokens. */
static recsys_status llm_first(void *ctx, const recsys_llm_call *call, recsys_llm_reply *reply)
{
    (void)ctx;
    (void)call;
    recsys_llm_reply_set_usage(reply, 100, 20);
    return recsys_llm_reply_set_text(reply, "[1,2,3]", 7);
}

/* Issue 7: the LLM's calls and cost per request, per arm and per ranker. Arm "llm" re-ranks
 * with the LLM, arm "plain" asks but has it off (llm.calls_per_request 0: each ask refused,
 * counted in the result's budget_denied and fallbacks); the reply cache is off so
 * every request of "llm" calls. The report's llm_calls_per_request and
 * llm_tokens_per_request equal what recsys_result_llm_stats said of the arm's results
 * (0 for "plain"), llm_cost_per_request follows online.llm_cost_per_1k_tokens, the ranker
 * cut of each arm says the same, and a restart over the file store reads them back. */
static void llm_cost_per_arm(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_engine *e = open_file_engine(dir);
    tk_load(e);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW + 86400), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_LLM_CACHE_BYTES, 0), RECSYS_OK);
    assert_int_equal(recsys_engine_set_double(e, RECSYS_OPT_ONLINE_LLM_COST_PER_1K_TOKENS, 2.5),
                     RECSYS_OK);
    recsys_llm_vtable vt;
    recsys_llm_vtable_init(&vt);
    vt.complete = llm_first;
    assert_int_equal(recsys_engine_set_llm(e, "first", &vt), RECSYS_OK);
    set_ok(e, "{\"name\":\"cost\",\"salt\":\"c\",\"arms\":[{\"name\":\"plain\",\"percent\":50,"
              "\"ranker\":\"blend\",\"options\":{\"llm.rerank_n\":5,\"llm.calls_per_request\":0}},{\"name\":\"llm\","
              "\"percent\":50,\"ranker\":\"blend\",\"options\":{\"llm.rerank_n\":5}}]}");
    uint64_t calls[2] = { 0, 0 }, tokens[2] = { 0, 0 }, requests[2] = { 0, 0 };
    char user[32];
    for (int u = 0; u < 24; u++) {
        snprintf(user, sizeof user, "cost-%d", u);
        recsys_result *res = serve(e, "cost", user);
        int arm = !strcmp(recsys_result_arm(res), "llm");
        recsys_llm_stats ls;
        memset(&ls, 0, sizeof ls);
        ls.struct_size = (uint32_t)sizeof ls;
        assert_int_equal(recsys_result_llm_stats(res, &ls), RECSYS_OK);
        assert_true(arm ? ls.calls >= 1 : ls.calls == 0);
        assert_int_equal(ls.prompt_tokens, 100 * ls.calls);
        assert_int_equal(ls.completion_tokens, 20 * ls.calls);
        if (!arm)
            assert_true(ls.budget_denied >= 1 && ls.fallbacks == ls.budget_denied);
        calls[arm] += ls.calls;
        tokens[arm] += ls.prompt_tokens + ls.completion_tokens;
        requests[arm]++;
        assert_true(recsys_result_count(res) > 0);
        if (u == 0) { /* bad arguments */
            recsys_llm_stats small;
            memset(&small, 0, sizeof small);
            small.struct_size = 8;
            expect(recsys_result_llm_stats(NULL, &small), RECSYS_E_INVALID_ARG, "res");
            expect(recsys_result_llm_stats(res, &small), RECSYS_E_INVALID_ARG, "struct_size 8");
            expect(recsys_result_llm_stats(res, NULL), RECSYS_E_INVALID_ARG, "out");
        }
        recsys_result_free(res);
    }
    assert_true(requests[0] >= 4 && requests[1] >= 4);
    for (int round = 0; round < 2; round++) {
        json_t *root = report(e, "cost");
        const json_t *arms = json_object_get(root, "arms");
        for (size_t g = 0; g < 2; g++) {
            const json_t *a = json_array_get(arms, g);
            int l = !strcmp(json_string_value(json_object_get(a, "name")), "llm");
            const json_t *m = json_object_get(a, "metrics");
            double q = (double)requests[l];
            assert_true(fabs(jnum(m, "requests_per_user") - 1.0) < 1e-12);
            assert_true(fabs(jnum(m, "llm_calls_per_request") - (double)calls[l] / q) < 1e-9);
            assert_true(fabs(jnum(m, "llm_tokens_per_request") - (double)tokens[l] / q) < 1e-9);
            assert_true(fabs(jnum(m, "llm_cost_per_request") -
                             (double)tokens[l] / 1000.0 * 2.5 / q) < 1e-9);
            const json_t *cut = cut_named(json_object_get(a, "by_ranker"), "blend");
            assert_true(jnum(cut, "requests") == q);
            assert_true(fabs(jnum(cut, "llm_calls_per_request") - (double)calls[l] / q) < 1e-9);
            assert_true(fabs(jnum(cut, "llm_tokens_per_request") - (double)tokens[l] / q) < 1e-9);
        }
        /* the LLM arm's extra cost against control, with an interval */
        const json_t *c = comparison(root, "llm", "llm_calls_per_request");
        assert_true(jnum(c, "diff") > 0);
        json_decref(root);
        recsys_engine_free(e);
        e = open_file_engine(dir);
        assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW + 86400), RECSYS_OK);
        assert_int_equal(recsys_engine_set_double(e, RECSYS_OPT_ONLINE_LLM_COST_PER_1K_TOKENS,
                                                  2.5), RECSYS_OK);
    }
    recsys_engine_free(e);
    tk_rm_rf(dir);
    free(dir);
}

/* A host store built against 0.1: its vtable ends at compact and it reads append_events'
 * array with 0.1's recsys_event (ending before sources). It wraps the memory store and
 * keeps the item ids it read, as such a host would. */
typedef struct ev01 {
    uint32_t struct_size;
    int32_t type;
    int64_t timestamp;
    double value;
    const char *user_id, *item_id, *request_id, *query;
    int32_t position;
    uint32_t reserved0;
    uint64_t reserved;
} ev01;

static recsys_store_vtable inner01;
static char seen01[64][16];
static size_t nseen01;

static recsys_status append01(void *ctx, const recsys_event *events, size_t n)
{
    const ev01 *v = (const ev01 *)(const void *)events;
    for (size_t i = 0; i < n; i++) {
        if (v[i].struct_size != sizeof(ev01))
            return recsys_error_set(RECSYS_E_INTERNAL, "event not in 0.1 layout");
        if (v[i].type == RECSYS_EVENT_IMPRESSION && nseen01 < 64)
            snprintf(seen01[nseen01++], sizeof seen01[0], "%s", v[i].item_id);
    }
    /* the memory store inside is this build's: it gets this build's layout */
    recsys_event *full = calloc(n ? n : 1, sizeof *full);
    if (!full)
        return RECSYS_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        memcpy(&full[i], &v[i], sizeof v[i]);
        full[i].struct_size = sizeof full[i];
    }
    recsys_status st = inner01.append_events(ctx, full, n);
    free(full);
    return st;
}

typedef struct scan01 {
    recsys_event_visit_fn fn;
    void *arg;
} scan01;

/* hands each event on as a 0.1 host would: a record of exactly 0.1's size */
static recsys_status visit01(void *arg, const recsys_event *ev)
{
    scan01 *s = arg;
    ev01 *old = malloc(sizeof *old);
    if (!old)
        return RECSYS_E_NOMEM;
    memcpy(old, ev, sizeof *old);
    old->struct_size = sizeof *old;
    recsys_status st = s->fn(s->arg, (const recsys_event *)(void *)old);
    free(old);
    return st;
}

static recsys_status scan_events01(void *ctx, recsys_event_visit_fn fn, void *arg)
{
    scan01 s = { fn, arg };
    return inner01.scan_events(ctx, visit01, &s);
}

static void old_host_store_reads_its_own_layout(void **state)
{
    (void)state;
    assert_int_equal(sizeof(ev01), offsetof(recsys_event, sources));
    recsys_store_vtable_init(&inner01);
    assert_int_equal(recsys_store_memory_new(NULL, &inner01), RECSYS_OK);
    recsys_store_vtable vt = inner01;
    vt.struct_size = (uint32_t)(offsetof(recsys_store_vtable, compact) + sizeof vt.compact);
    vt.append_events = append01;
    vt.scan_events = scan_events01;
    nseen01 = 0;
    recsys_engine *e = mem_engine(NULL, &vt);
    recsys_request *rq = NULL;
    recsys_result *res = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_user(rq, "old-host"), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, 5), RECSYS_OK);
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
    size_t n = recsys_result_count(res);
    assert_true(n > 1);
    assert_int_equal(nseen01, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(seen01[i], recsys_result_item_id(res, i));
    recsys_result_free(res);
    recsys_request_free(rq);
    /* its events come back at 0.1's size: reports read them, with no cut */
    char *text = NULL;
    assert_int_equal(recsys_online_metrics_json(e, 0, 0, &text), RECSYS_OK);
    json_t *root = json_loads(text, 0, NULL);
    recsys_string_free(text);
    assert_true(jnum(root, "impressions") == (double)n);
    assert_int_equal(json_array_size(json_object_get(root, "by_source")), 0);
    assert_int_equal(json_array_size(json_object_get(root, "by_ranker")), 0);
    json_decref(root);
    recsys_engine_free(e);
}

/* ------------------------------------------------------------ failures */

/* A memory store whose put_blob fails while fail_blobs is set (the definitions' saving). */
static recsys_status (*real_put_blob)(void *, const char *, const void *, size_t);
static int fail_blobs, blob_puts;

static recsys_status failing_put_blob(void *ctx, const char *name, const void *data, size_t len)
{
    blob_puts++;
    if (fail_blobs) {
        recsys_error_set(RECSYS_E_IO, "injected put_blob failure");
        return RECSYS_E_IO;
    }
    return real_put_blob(ctx, name, data, len);
}

static void failures_change_nothing(void **state)
{
    (void)state;
    /* a store failure while saving: the old definitions stay in force, nothing half-done */
    recsys_store_vtable vt;
    recsys_store_vtable_init(&vt);
    assert_int_equal(recsys_store_memory_new(NULL, &vt), RECSYS_OK);
    assert_non_null(vt.put_blob);
    real_put_blob = vt.put_blob;
    vt.put_blob = failing_put_blob;
    recsys_engine *e = mem_engine(NULL, &vt);
    set_ok(e, AB);
    assert_true(blob_puts > 0); /* saved */
    char *before = NULL, *got = NULL;
    assert_int_equal(recsys_experiment_get_json(e, "ab", &before), RECSYS_OK);
    char arms[100][8], user[32];
    for (int i = 0; i < 100; i++) {
        snprintf(user, sizeof user, "user-%d", i);
        snprintf(arms[i], sizeof arms[i], "%s", arm_of(e, "ab", user));
    }
    fail_blobs = 1;
    const char *other = "{\"name\":\"ab\",\"salt\":\"other\",\"arms\":[{\"name\":\"x\","
                        "\"percent\":10}]}";
    const char *fresh = "{\"name\":\"new\",\"arms\":[{\"name\":\"x\",\"percent\":10}]}";
    expect(recsys_experiment_set(e, other, strlen(other)), RECSYS_E_IO, "injected");
    expect(recsys_experiment_set(e, fresh, strlen(fresh)), RECSYS_E_IO, "injected");
    expect(recsys_experiment_remove(e, "ab"), RECSYS_E_IO, "injected");
    fail_blobs = 0;
    assert_int_equal(recsys_experiment_get_json(e, "ab", &got), RECSYS_OK);
    assert_string_equal(before, got);
    recsys_string_free(got);
    expect(recsys_experiment_get_json(e, "new", &got), RECSYS_E_NOT_FOUND, "new");
    for (int i = 0; i < 100; i++) {
        snprintf(user, sizeof user, "user-%d", i);
        assert_string_equal(arms[i], arm_of(e, "ab", user));
    }
    set_ok(e, other); /* and once the store works again, it takes */
    assert_int_equal(recsys_experiment_get_json(e, "ab", &got), RECSYS_OK);
    assert_non_null(strstr(got, "\"other\""));
    recsys_string_free(got);
    recsys_string_free(before);
    recsys_engine_free(e);

    /* the out-of-memory loop over every call: each failure is RECSYS_E_NOMEM with a message,
     * leaks nothing, and a failed definition leaves none behind */
    for (long k = 0;; k++) {
        tk_alloc ta;
        recsys_allocator rec;
        tk_alloc_init(&ta, &rec);
        recsys_engine *e = mem_engine(&rec, NULL);
        traffic(e, "u-ml", 2, TK_NOW + 10);
        ta.fail_at = ta.count + k;
        int stage = 0;
        recsys_status st = recsys_experiment_set(e, AB, strlen(AB));
        char *text = NULL, *text2 = NULL, arm[64];
        recsys_result *res = NULL;
        recsys_request *rq = NULL;
        if (st == RECSYS_OK && ++stage)
            st = recsys_experiment_assign(e, "ab", "u-ml", arm, sizeof arm, NULL);
        if (st == RECSYS_OK && ++stage)
            st = recsys_request_new(&rq);
        if (st == RECSYS_OK && ++stage)
            st = recsys_request_set_user(rq, "user-3");
        if (st == RECSYS_OK && ++stage)
            st = recsys_experiment_recommend(e, "ab", rq, &res);
        if (st == RECSYS_OK && ++stage)
            st = recsys_experiment_report_json(e, "ab", &text);
        if (st == RECSYS_OK && ++stage)
            st = recsys_online_metrics_json(e, 0, 0, &text2);
        if (st == RECSYS_OK && ++stage)
            st = recsys_experiment_remove(e, "ab");
        ta.fail_at = -1;
        if (st != RECSYS_OK) {
            assert_int_equal(st, RECSYS_E_NOMEM);
            assert_true(recsys_last_error()[0] != '\0');
            char *def = NULL;
            if (stage == 0) /* the definition failed: there is none */
                assert_int_equal(recsys_experiment_get_json(e, "ab", &def), RECSYS_E_NOT_FOUND);
            if (stage == 7) { /* the removal failed: it is still there */
                assert_int_equal(recsys_experiment_get_json(e, "ab", &def), RECSYS_OK);
                recsys_string_free(def);
            }
        }
        recsys_result_free(res);
        recsys_request_free(rq);
        recsys_string_free(text);
        recsys_string_free(text2);
        bool done = st == RECSYS_OK;
        recsys_engine_free(e);
        assert_int_equal(ta.live, 0);
        if (done)
            break;
    }
}

/* A saved definition that cannot be read is reported by every experiment call, named. */
static void damaged_saved_definitions_are_reported(void **state)
{
    (void)state;
    recsys_store_vtable vt;
    recsys_store_vtable_init(&vt);
    assert_int_equal(recsys_store_memory_new(NULL, &vt), RECSYS_OK);
    const char *bad[] = { "not json", "{\"name\":\"x\"}", "[{\"name\":\"x\"}]",
                          "[{\"name\":\"Bad Name\",\"arms\":[{\"name\":\"a\","
                          "\"percent\":5}]}]" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(vt.put_blob(vt.ctx, "experiments", bad[i], strlen(bad[i])), RECSYS_OK);
        recsys_engine_opts o;
        recsys_engine_opts_init(&o);
        recsys_store_vtable copy = vt;
        copy.destroy = NULL; /* the store outlives these engines */
        o.store = &copy;
        recsys_engine *e = NULL;
        assert_int_equal(recsys_engine_new(&o, &e), RECSYS_OK);
        char arm[64];
        expect(recsys_experiment_assign(e, "x", "u", arm, sizeof arm, NULL), RECSYS_E_CORRUPT,
               "saved experiments");
        expect(recsys_experiment_set(e, AB, strlen(AB)), RECSYS_E_CORRUPT,
               "recsys_experiment_remove(engine, NULL)");
        expect(recsys_experiment_remove(e, "x"), RECSYS_E_CORRUPT, "saved experiments");
        /* the way out: drop them all; the damaged bytes are kept aside */
        assert_int_equal(recsys_experiment_remove(e, NULL), RECSYS_OK);
        recsys_store_value kept;
        recsys__store_value_init(&kept, &recsys__mem_default);
        assert_int_equal(vt.get_blob(vt.ctx, "experiments.damaged", &kept), RECSYS_OK);
        assert_true(kept.set);
        assert_int_equal(kept.len, strlen(bad[i]));
        assert_memory_equal(kept.data, bad[i], kept.len);
        recsys__store_value_free(&kept);
        expect(recsys_experiment_assign(e, "x", "u", arm, sizeof arm, NULL), RECSYS_E_NOT_FOUND,
               "no experiment named 'x'");
        assert_int_equal(recsys_experiment_set(e, AB, strlen(AB)), RECSYS_OK);
        assert_int_equal(recsys_experiment_assign(e, "ab", "u", arm, sizeof arm, NULL),
                         RECSYS_OK);
        recsys_engine_free(e);
        /* a later engine over the store reads the new definitions */
        assert_int_equal(recsys_engine_new(&o, &e), RECSYS_OK);
        char again[64];
        assert_int_equal(recsys_experiment_assign(e, "ab", "u", again, sizeof again, NULL),
                         RECSYS_OK);
        assert_string_equal(again, arm);
        /* with nothing damaged, removing all empties the saved set */
        assert_int_equal(recsys_experiment_remove(e, NULL), RECSYS_OK);
        expect(recsys_experiment_get_json(e, "ab", &(char *){ NULL }), RECSYS_E_NOT_FOUND, "ab");
        assert_int_equal(recsys_experiment_remove(e, NULL), RECSYS_OK); /* idempotent */
        recsys_engine_free(e);
    }
    vt.destroy(vt.ctx);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], CHILD_FLAG))
        return child_main();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(definitions_reject_bad_input),
        cmocka_unit_test(assignment_follows_the_split),
        cmocka_unit_test(assignment_is_pinned),
        cmocka_unit_test(assignment_is_identical_in_another_process),
        cmocka_unit_test(assignment_survives_a_restart),
        cmocka_unit_test(recommend_applies_the_arm),
        cmocka_unit_test(statistics_match_known_values),
        cmocka_unit_test(intervals_cover_what_they_should),
        cmocka_unit_test(report_detects_the_better_arm_and_checks_the_ratio),
        cmocka_unit_test(report_reads_only_the_experiment_window_and_holdout),
        cmocka_unit_test(cuts_by_source_and_ranker),
        cmocka_unit_test(llm_cost_per_arm),
        cmocka_unit_test(old_host_store_reads_its_own_layout),
        cmocka_unit_test(failures_change_nothing),
        cmocka_unit_test(damaged_saved_definitions_are_reported),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("experiment", tests, NULL, NULL);
}
