/* test_graph.c - the rp3beta builder and source (retrieve/graph.h): transition weights on a
 * tiny graph computed by hand (alpha, beta, k, event weights), the scoring of a user's row,
 * what the source skips, determinism across thread counts, and out-of-memory loops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "retrieve/graph.h"
#include "support/cf_fixture.h"

static const int64_t now = FIXTURE_NOW;

/* The tiny graph (views, weight 1):
 *        a  b  c  d  e     user degree
 *   u1   1  1  1  .  .     3
 *   u2   1  1  .  .  .     2
 *   u3   .  1  1  1  .     3
 *   u4   1  .  .  .  1     2
 *   pop  3  3  2  1  1
 * With alpha = 1: W[i][j] = sum over i's users u of 1/pop(i) * 1/deg(u) [u has j], divided by
 * pop(j)^beta. */
static fixture *tiny(void)
{
    fixture *f = cf_new("a,b,c,d,e");
    cf_events(f, "u1", "a,b,c", RECSYS_EVENT_VIEW, now - 100);
    cf_events(f, "u2", "a,b", RECSYS_EVENT_VIEW, now - 90);
    cf_events(f, "u3", "b,c,d", RECSYS_EVENT_VIEW, now - 80);
    cf_events(f, "u4", "a,e", RECSYS_EVENT_VIEW, now - 70);
    return f;
}

static void *build(fixture *f, double alpha, double beta, double k)
{
    fixture_set_opt(f, RECSYS_OPT_RP3_ALPHA, alpha);
    fixture_set_opt(f, RECSYS_OPT_RP3_BETA, beta);
    fixture_set_opt(f, RECSYS_OPT_RP3_K, k);
    return cf_build(f, &recsys__rp3_builder);
}

/* Row id of W as "x:0.167,y:0.160" (3 decimals). */
static const char *row(fixture *f, const void *state, const char *id)
{
    return cf_row(f, recsys__rp3_similar, state, id, 64);
}

static float w_of(fixture *f, const void *state, const char *i, const char *j)
{
    return cf_weight(f, recsys__rp3_similar, state, i, j);
}

/* ------------------------------------------------------------ the model */

static void builder_describes_its_slot(void **state)
{
    (void)state;
    assert_int_equal(recsys__rp3_builder.slot, RECSYS__DERIVED_RP3);
    assert_string_equal(recsys__rp3_builder.sources[0], "rp3beta");
    assert_non_null(recsys__rp3_builder.build);
    assert_non_null(recsys__rp3_builder.free);
}

static void transitions_by_hand(void **state)
{
    (void)state;
    fixture *f = tiny();
    void *s = build(f, 1, 0.5, 100);
    assert_non_null(s);
    /* a's users: u1 (3 items), u2 (2), u4 (2); 1/pop(a) = 1/3 */
    assert_float_equal(w_of(f, s, "a", "b"), (1.0 / 9 + 1.0 / 6) / sqrt(3), 1e-6);
    assert_float_equal(w_of(f, s, "a", "c"), (1.0 / 9) / sqrt(2), 1e-6);
    assert_float_equal(w_of(f, s, "a", "e"), 1.0 / 6, 1e-6);
    /* the popularity penalty puts the rare e before the popular b */
    assert_string_equal(row(f, s, "a"), "e:0.167,b:0.160,c:0.079");
    assert_string_equal(row(f, s, "b"), "a:0.160,c:0.157,d:0.111");
    assert_string_equal(row(f, s, "c"), "b:0.192,d:0.167,a:0.096");
    assert_string_equal(row(f, s, "d"), "c:0.236,b:0.192");
    assert_string_equal(row(f, s, "e"), "a:0.289");
    /* not symmetric: W[d][c] = 1 * 1/3 / sqrt(2), W[c][d] = 1/2 * 1/3 / 1 */
    assert_float_equal(w_of(f, s, "d", "c"), 1 / (3 * sqrt(2)), 1e-6);
    assert_float_equal(w_of(f, s, "c", "d"), 1.0 / 6, 1e-6);
    cf_free(f);
}

static void beta_penalises_popular_destinations(void **state)
{
    (void)state;
    fixture *f = tiny();
    void *s = build(f, 1, 0, 100);
    /* no penalty: plain two-step probabilities (each row sums to 1 minus the return to i) */
    assert_string_equal(row(f, s, "a"), "b:0.278,e:0.167,c:0.111");
    assert_float_equal(w_of(f, s, "a", "b") + w_of(f, s, "a", "c") + w_of(f, s, "a", "e") +
                           (1.0 / 9 + 1.0 / 6 + 1.0 / 6) /* back to a */,
                       1.0, 1e-6);
    s = build(f, 1, 1, 100);
    assert_float_equal(w_of(f, s, "a", "b"), (1.0 / 9 + 1.0 / 6) / 3, 1e-6);
    assert_string_equal(row(f, s, "a"), "e:0.167,b:0.093,c:0.056");
    cf_free(f);
}

static void alpha_flattens_transitions(void **state)
{
    (void)state;
    fixture *f = tiny();
    void *s = build(f, 0.5, 0.5, 100);
    double r3 = sqrt(1.0 / 3), r2 = sqrt(1.0 / 2);
    assert_float_equal(w_of(f, s, "a", "b"), (r3 * r3 + r3 * r2) / sqrt(3), 1e-6);
    assert_float_equal(w_of(f, s, "a", "e"), r3 * r2, 1e-6);
    assert_float_equal(w_of(f, s, "a", "c"), r3 * r3 / sqrt(2), 1e-6);
    assert_string_equal(row(f, s, "a"), "b:0.428,e:0.408,c:0.236");
    /* alpha 0: every transition weighs 1, W counts common users */
    s = build(f, 0, 0.5, 100);
    assert_float_equal(w_of(f, s, "a", "b"), 2 / sqrt(3), 1e-6);
    assert_string_equal(row(f, s, "a"), "b:1.155,e:1.000,c:0.707");
    cf_free(f);
}

static void k_cuts_rows_and_ties_break_by_index(void **state)
{
    (void)state;
    fixture *f = tiny();
    void *s = build(f, 1, 0.5, 1);
    assert_string_equal(row(f, s, "a"), "e:0.167");
    assert_string_equal(row(f, s, "b"), "a:0.160");
    s = build(f, 1, 0.5, 2);
    assert_string_equal(row(f, s, "c"), "b:0.192,d:0.167");
    cf_free(f);
    f = cf_new("x,f,g,h");
    cf_events(f, "u5", "h,g,f", RECSYS_EVENT_VIEW, now - 10);
    s = build(f, 1, 0.5, 1);
    assert_string_equal(row(f, s, "f"), "g:0.333");
    assert_string_equal(row(f, s, "h"), "f:0.333");
    assert_string_equal(row(f, s, "x"), "");
    cf_free(f);
}

static void event_weights_steer_the_walk(void **state)
{
    (void)state;
    fixture *f = cf_new("a,b,c");
    fixture_event(f, "u1", "a", RECSYS_EVENT_LIKE, 0, now - 10); /* 3 */
    fixture_event(f, "u1", "b", RECSYS_EVENT_VIEW, 0, now - 9);
    fixture_event(f, "u2", "a", RECSYS_EVENT_VIEW, 0, now - 8);
    fixture_event(f, "u2", "c", RECSYS_EVENT_VIEW, 0, now - 7);
    void *s = build(f, 1, 0, 10);
    /* a -> u1 with 3/4, u1 -> b with 1/4; a -> u2 with 1/4, u2 -> c with 1/2 */
    assert_float_equal(w_of(f, s, "a", "b"), 3.0 / 16, 1e-6);
    assert_float_equal(w_of(f, s, "a", "c"), 1.0 / 8, 1e-6);
    assert_float_equal(w_of(f, s, "b", "a"), 3.0 / 4, 1e-6);
    assert_float_equal(w_of(f, s, "c", "a"), 1.0 / 2, 1e-6);
    /* the weighted degree is the popularity: pop(a) = 4 */
    s = build(f, 1, 1, 10);
    assert_float_equal(w_of(f, s, "b", "a"), 3.0 / 16, 1e-6);
    cf_free(f);
}

static void empty_model_and_bad_parameters(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    assert_null(build(f, 1, 0.5, 10));
    cf_free(f);
    f = cf_new("a,b");
    fixture_event(f, "u1", "b", RECSYS_EVENT_DISLIKE, 0, now - 2);
    assert_null(build(f, 1, 0.5, 10));
    fixture_event(f, "u2", "a", RECSYS_EVENT_VIEW, 0, now);
    void *s = build(f, 1, 0.5, 10);
    assert_string_equal(row(f, s, "a"), "");
    void *o = (void *)0x1;
    assert_int_equal(recsys__rp3_build(&f->mem, &f->model, -1, 0.5, 5, 1, &o),
                     RECSYS_E_INVALID_ARG);
    assert_null(o);
    assert_int_equal(recsys__rp3_build(&f->mem, &f->model, 1, -0.5, 5, 1, &o),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__rp3_build(&f->mem, &f->model, 1, 0.5, 0, 1, &o),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__rp3_build(&f->mem, &f->model, INFINITY, 0.5, 5, 1, &o),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__rp3_build(NULL, &f->model, 1, 0.5, 5, 1, &o),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__rp3_build(&f->mem, &f->model, 1, 0.5, 5, 1, NULL),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__source_rp3beta(&f->mem, NULL), RECSYS_E_INVALID_ARG);
    recsys_source_vtable vt;
    assert_int_equal(recsys__source_rp3beta(&f->mem, &vt), RECSYS_OK);
    recsys_candidates c;
    recsys__cands_init(&c, &f->mem, fixture_query(f, "u2", NULL, 5), 5);
    assert_int_equal(vt.retrieve(NULL, NULL, &c), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.retrieve(NULL, &f->q, NULL), RECSYS_E_INVALID_ARG);
    recsys__cands_free(&c);
    size_t n = 5;
    uint32_t it[2];
    float sc[2];
    assert_int_equal(recsys__rp3_similar(NULL, 0, 2, it, sc, &n), RECSYS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(recsys__rp3_similar(s, 0, 2, it, NULL, &n), RECSYS_E_INVALID_ARG);
    cf_free(f);
}

/* ------------------------------------------------------------ the source */

static void scores_are_the_users_row_times_w(void **state)
{
    (void)state;
    fixture *f = tiny();
    build(f, 1, 0.5, 100);
    fixture_event(f, "x", "a", RECSYS_EVENT_VIEW, 0, now - 5);
    fixture_event(f, "x", "d", RECSYS_EVENT_VIEW, 0, now - 4);
    recsys_candidates c;
    cf_run(f, recsys__source_rp3beta, fixture_query(f, "x", NULL, 10), &c);
    /* x's row of P_ui: 1/2 on a and on d */
    double wab = (1.0 / 9 + 1.0 / 6) / sqrt(3), wac = (1.0 / 9) / sqrt(2), wae = 1.0 / 6;
    double wdb = 1 / (3 * sqrt(3)), wdc = 1 / (3 * sqrt(2));
    assert_string_equal(cf_ids(f, &c), "b,c,e");
    assert_float_equal(cf_score(f, &c, "b"), 0.5 * (wab + wdb), 1e-6);
    assert_float_equal(cf_score(f, &c, "c"), 0.5 * (wac + wdc), 1e-6);
    assert_float_equal(cf_score(f, &c, "e"), 0.5 * wae, 1e-6);
    recsys__cands_free(&c);

    /* a purchase of d (5) tilts the row: 1/6 on a, 5/6 on d */
    fixture_event(f, "x", "d", RECSYS_EVENT_LIKE, 0, now - 3); /* 1 + 3 */
    fixture_event(f, "x", "d", RECSYS_EVENT_CLICK, 0, now - 2); /* + 1 = 5 */
    cf_run(f, recsys__source_rp3beta, fixture_query(f, "x", NULL, 10), &c);
    assert_string_equal(cf_ids(f, &c), "c,b,e");
    assert_float_equal(cf_score(f, &c, "c"), wac / 6 + 5 * wdc / 6, 1e-6);
    recsys__cands_free(&c);

    /* the limit keeps the best */
    cf_run(f, recsys__source_rp3beta, fixture_query(f, "x", NULL, 1), &c);
    assert_string_equal(cf_ids(f, &c), "c");
    recsys__cands_free(&c);
    cf_free(f);
}

static void alpha_applies_to_the_users_row(void **state)
{
    (void)state;
    fixture *f = tiny();
    build(f, 0.5, 0.5, 100);
    fixture_event(f, "x", "e", RECSYS_EVENT_VIEW, 0, now - 5);
    recsys_candidates c;
    cf_run(f, recsys__source_rp3beta, fixture_query(f, "x", NULL, 10), &c);
    /* (1/1)^0.5 * W[e][a], W[e][a] = 1 * sqrt(1/2) / sqrt(3) */
    assert_string_equal(cf_ids(f, &c), "a");
    assert_float_equal(cf_score(f, &c, "a"), sqrt(0.5) / sqrt(3), 1e-6);
    recsys__cands_free(&c);
    cf_free(f);
}

static void source_skips_excluded_removed_seen(void **state)
{
    (void)state;
    fixture *f = tiny();
    build(f, 1, 0.5, 100);
    fixture_event(f, "y", "a", RECSYS_EVENT_VIEW, 0, now - 5);
    fixture_event(f, "y", "b", RECSYS_EVENT_VIEW, 0, now - 4);
    recsys_candidates c;
    /* y: 1/2 on a and b; c = (W[a][c] + W[b][c]) / 2, e = W[a][e] / 2, d = W[b][d] / 2 */
    cf_run(f, recsys__source_rp3beta, fixture_query(f, "y", NULL, 10), &c);
    assert_string_equal(cf_ids(f, &c), "c,e,d");
    recsys__cands_free(&c);
    fixture_set_opt(f, RECSYS_OPT_FILTER_SEEN, 0);
    cf_run(f, recsys__source_rp3beta, fixture_query(f, "y", NULL, 10), &c);
    assert_string_equal(cf_ids(f, &c), "c,e,a,b,d");
    recsys__cands_free(&c);
    fixture_set_opt(f, RECSYS_OPT_FILTER_SEEN, 1);
    fixture_exclude(f, "c");
    cf_run(f, recsys__source_rp3beta, fixture_query(f, "y", NULL, 1), &c);
    assert_string_equal(cf_ids(f, &c), "e");
    recsys__cands_free(&c);
    fixture_remove(f, "e");
    cf_run(f, recsys__source_rp3beta, fixture_query(f, "y", NULL, 10), &c);
    assert_string_equal(cf_ids(f, &c), "d");
    recsys__cands_free(&c);
    cf_free(f);
}

static void anonymous_unknown_and_cold_users_get_nothing(void **state)
{
    (void)state;
    fixture *f = tiny();
    build(f, 1, 0.5, 100);
    fixture_add_item(f, &(fixture_item_def){ .id = "new" });
    fixture_event(f, "z", "new", RECSYS_EVENT_VIEW, 0, now - 1);
    fixture_add_user(f, "p", NULL, -1, NULL, NULL, NULL, "a");
    recsys_candidates c;
    const char *users[] = { NULL, "ghost", "p", "z" };
    for (size_t i = 0; i < 4; i++) {
        cf_run(f, recsys__source_rp3beta, fixture_query(f, users[i], NULL, 10), &c);
        assert_int_equal(c.n, 0);
        recsys__cands_free(&c);
    }
    recsys_query *q = fixture_query(f, "u1", NULL, 10);
    q->derived = NULL;
    cf_run(f, recsys__source_rp3beta, q, &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    cf_drop(f, &recsys__rp3_builder);
    cf_run(f, recsys__source_rp3beta, fixture_query(f, "u1", NULL, 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    cf_free(f);
}

/* ------------------------------------------------------------ threads */

static void same_rows_for_any_thread_count(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    cf_add_items(f, 400);
    cf_random_views(f, 700, 80, 11);
    assert_true(700.0 * 80 * 80 >= RECSYS__I2I_PARALLEL_MIN_WORK);
    void *ref = NULL;
    assert_int_equal(recsys__rp3_build(&f->mem, &f->model, 0.7, 0.4, 25, 1, &ref), RECSYS_OK);
    fixture_set_opt(f, RECSYS_OPT_RP3_ALPHA, 0.7);
    fixture_set_opt(f, RECSYS_OPT_RP3_BETA, 0.4);
    fixture_set_opt(f, RECSYS_OPT_RP3_K, 25);
    const int threads[] = { 2, 5, 16, 0 };
    uint32_t ia[64], ib[64];
    float sa[64], sb[64];
    for (size_t t = 0; t < 4; t++) {
        fixture_set_opt(f, RECSYS_OPT_TRAIN_THREADS, threads[t]);
        void *s = cf_build(f, &recsys__rp3_builder);
        for (uint32_t i = 0; i < 400; i++) {
            size_t na, nb;
            assert_int_equal(recsys__rp3_similar(ref, i, 64, ia, sa, &na), RECSYS_OK);
            assert_int_equal(recsys__rp3_similar(s, i, 64, ib, sb, &nb), RECSYS_OK);
            assert_int_equal(na, 25);
            assert_int_equal(na, nb);
            assert_memory_equal(ia, ib, na * sizeof ia[0]);
            assert_memory_equal(sa, sb, na * sizeof sa[0]);
        }
    }
    recsys__rp3_free(&f->mem, ref);
    recsys_candidates c;
    cf_run(f, recsys__source_rp3beta, fixture_query(f, "r9", NULL, 40), &c);
    assert_int_equal(c.n, 40);
    for (size_t k = 1; k < c.n; k++)
        assert_true(c.v[k - 1].score > c.v[k].score ||
                    (c.v[k - 1].score == c.v[k].score && c.v[k - 1].item < c.v[k].item));
    recsys__cands_free(&c);
    cf_free(f);
}

/* ------------------------------------------------------------ failures */

static void build_out_of_memory(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    cf_add_items(f, 60);
    cf_random_views(f, 40, 12, 5);
    fixture_set_opt(f, RECSYS_OPT_RP3_K, 4);
    recsys__build_ctx ctx = cf_ctx(f, &f->oom);
    void *s = NULL;
    long before = f->oom_stats.calls;
    assert_int_equal(recsys__rp3_builder.build(&ctx, &s), RECSYS_OK);
    long calls = f->oom_stats.calls - before;
    recsys__rp3_builder.free(&f->oom, s);
    assert_true(calls > 3);
    long failures = 0;
    for (long n = 1; n <= calls; n++) {
        s = (void *)0x1;
        f->oom_stats.fail_at = n;
        recsys__err_clear();
        recsys_status st = recsys__rp3_builder.build(&ctx, &s);
        f->oom_stats.fail_at = 0;
        if (st == RECSYS_OK) {
            recsys__rp3_builder.free(&f->oom, s);
        } else {
            assert_int_equal(st, RECSYS_E_NOMEM);
            assert_null(s);
            assert_true(strlen(recsys_last_error()) > 0);
            failures++;
        }
        assert_int_equal(f->oom_stats.live, 0);
    }
    assert_true(failures >= calls - 2);
    cf_free(f);
}

static void retrieve_out_of_memory(void **state)
{
    (void)state;
    fixture *f = tiny();
    build(f, 1, 0.5, 100);
    fixture_event(f, "x", "a", RECSYS_EVENT_VIEW, 0, now - 5);
    fixture_event(f, "x", "d", RECSYS_EVENT_VIEW, 0, now - 4);
    recsys_query *q = fixture_query(f, "x", NULL, 10);
    size_t got = 0;
    long n = fixture_retrieve_oom(f, recsys__source_rp3beta, q, &got);
    assert_int_equal(got, 3);
    assert_true(n > 3);
    cf_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builder_describes_its_slot),
        cmocka_unit_test(transitions_by_hand),
        cmocka_unit_test(beta_penalises_popular_destinations),
        cmocka_unit_test(alpha_flattens_transitions),
        cmocka_unit_test(k_cuts_rows_and_ties_break_by_index),
        cmocka_unit_test(event_weights_steer_the_walk),
        cmocka_unit_test(empty_model_and_bad_parameters),
        cmocka_unit_test(scores_are_the_users_row_times_w),
        cmocka_unit_test(alpha_applies_to_the_users_row),
        cmocka_unit_test(source_skips_excluded_removed_seen),
        cmocka_unit_test(anonymous_unknown_and_cold_users_get_nothing),
        cmocka_unit_test(same_rows_for_any_thread_count),
        cmocka_unit_test(build_out_of_memory),
        cmocka_unit_test(retrieve_out_of_memory),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("retrieve/graph", tests, NULL, NULL);
}
