/* test_item2item.c - the itemknn builder and source (retrieve/item2item.h): similarity values
 * checked by hand, shrinkage and the k cut, the scoring of a user's items, what the source
 * skips, determinism across thread counts, and out-of-memory loops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "retrieve/item2item.h"
#include "support/cf_fixture.h"

static const int64_t now = FIXTURE_NOW;

/* The tiny matrix (views, weight 1):
 *        a  b  c  d  e
 *   u1   1  1  1  .  .
 *   u2   1  1  .  .  .
 *   u3   .  1  1  1  .
 *   u4   1  .  .  .  1
 * Column norms: a, b sqrt(3); c sqrt(2); d, e 1. Dot products: ab 2, ac 1, ae 1, bc 2, bd 1,
 * cd 1, the rest 0. */
static fixture *tiny(void)
{
    fixture *f = cf_new("a,b,c,d,e");
    cf_events(f, "u1", "a,b,c", RECSYS_EVENT_VIEW, now - 100);
    cf_events(f, "u2", "a,b", RECSYS_EVENT_VIEW, now - 90);
    cf_events(f, "u3", "b,c,d", RECSYS_EVENT_VIEW, now - 80);
    cf_events(f, "u4", "a,e", RECSYS_EVENT_VIEW, now - 70);
    return f;
}

static void *build(fixture *f, double k, double shrink)
{
    fixture_set_opt(f, RECSYS_OPT_ITEMKNN_K, k);
    fixture_set_opt(f, RECSYS_OPT_ITEMKNN_SHRINK, shrink);
    return cf_build(f, &recsys__itemknn_builder);
}

/* The neighbour list of id as "x:0.667,y:0.577" (3 decimals). */
static const char *similar(fixture *f, const void *state, const char *id, size_t k)
{
    return cf_row(f, recsys__itemknn_similar, state, id, k);
}

static float sim_of(fixture *f, const void *state, const char *id, const char *other)
{
    return cf_weight(f, recsys__itemknn_similar, state, id, other);
}

/* ------------------------------------------------------------ the model */

static void builder_describes_its_slot(void **state)
{
    (void)state;
    assert_int_equal(recsys__itemknn_builder.slot, RECSYS__DERIVED_ITEMKNN);
    assert_string_equal(recsys__itemknn_builder.sources[0], "itemknn");
    assert_non_null(recsys__itemknn_builder.build);
    assert_non_null(recsys__itemknn_builder.free);
}

static void cosine_values_by_hand(void **state)
{
    (void)state;
    fixture *f = tiny();
    void *s = build(f, 100, 0);
    assert_non_null(s);
    assert_float_equal(sim_of(f, s, "a", "b"), 2.0 / 3.0, 1e-6);
    assert_float_equal(sim_of(f, s, "a", "e"), 1 / sqrt(3), 1e-6);
    assert_float_equal(sim_of(f, s, "a", "c"), 1 / sqrt(6), 1e-6);
    assert_float_equal(sim_of(f, s, "b", "c"), 2 / sqrt(6), 1e-6);
    assert_float_equal(sim_of(f, s, "b", "d"), 1 / sqrt(3), 1e-6);
    assert_float_equal(sim_of(f, s, "c", "d"), 1 / sqrt(2), 1e-6);
    /* symmetric, best first, no self and no zero similarity */
    assert_float_equal(sim_of(f, s, "b", "a"), 2.0 / 3.0, 1e-6);
    assert_string_equal(similar(f, s, "a", 10), "b:0.667,e:0.577,c:0.408");
    assert_string_equal(similar(f, s, "b", 10), "c:0.816,a:0.667,d:0.577");
    assert_string_equal(similar(f, s, "c", 10), "b:0.816,d:0.707,a:0.408");
    assert_string_equal(similar(f, s, "d", 10), "c:0.707,b:0.577");
    assert_string_equal(similar(f, s, "e", 10), "a:0.577");
    /* the caller's k cuts the list */
    assert_string_equal(similar(f, s, "a", 1), "b:0.667");
    assert_string_equal(similar(f, s, "a", 0), "");
    cf_free(f);
}

static void shrinkage_lowers_weakly_supported_pairs(void **state)
{
    (void)state;
    fixture *f = tiny();
    void *s = build(f, 100, 1);
    assert_float_equal(sim_of(f, s, "a", "b"), 2.0 / (3.0 + 1.0), 1e-6);
    assert_float_equal(sim_of(f, s, "a", "e"), 1 / (sqrt(3) + 1), 1e-6);
    assert_float_equal(sim_of(f, s, "b", "c"), 2 / (sqrt(6) + 1), 1e-6);
    assert_float_equal(sim_of(f, s, "c", "d"), 1 / (sqrt(2) + 1), 1e-6);
    /* pairs seen once lose more than the pair seen twice */
    assert_true(sim_of(f, s, "a", "e") / (1 / sqrt(3)) < sim_of(f, s, "a", "b") / (2.0 / 3.0));
    s = build(f, 100, 1000);
    assert_float_equal(sim_of(f, s, "a", "b"), 2.0 / 1003.0, 1e-7);
    cf_free(f);
}

static void k_cuts_each_list(void **state)
{
    (void)state;
    fixture *f = tiny();
    void *s = build(f, 2, 0);
    assert_string_equal(similar(f, s, "a", 10), "b:0.667,e:0.577");
    assert_string_equal(similar(f, s, "b", 10), "c:0.816,a:0.667");
    assert_string_equal(similar(f, s, "e", 10), "a:0.577");
    s = build(f, 1, 0);
    assert_string_equal(similar(f, s, "c", 10), "b:0.816");
    assert_string_equal(similar(f, s, "d", 10), "c:0.707");
    cf_free(f);
}

static void ties_break_by_item_index(void **state)
{
    (void)state;
    /* one user viewed f, g, h: every pair has similarity 1 */
    fixture *f = cf_new("x,f,g,h");
    cf_events(f, "u5", "h,g,f", RECSYS_EVENT_VIEW, now - 10);
    void *s = build(f, 1, 0);
    assert_string_equal(similar(f, s, "f", 10), "g:1.000");
    assert_string_equal(similar(f, s, "h", 10), "f:1.000");
    s = build(f, 5, 0);
    assert_string_equal(similar(f, s, "g", 10), "f:1.000,h:1.000");
    assert_string_equal(similar(f, s, "x", 10), "");
    cf_free(f);
}

static void weights_are_used_as_given(void **state)
{
    (void)state;
    fixture *f = cf_new("a,b,c");
    /* u1 likes a (3) and viewed b (1); u2 viewed a and c */
    fixture_event(f, "u1", "a", RECSYS_EVENT_LIKE, 0, now - 10);
    fixture_event(f, "u1", "b", RECSYS_EVENT_VIEW, 0, now - 9);
    fixture_event(f, "u2", "a", RECSYS_EVENT_VIEW, 0, now - 8);
    fixture_event(f, "u2", "c", RECSYS_EVENT_VIEW, 0, now - 7);
    void *s = build(f, 10, 0);
    /* x_a = (3, 1), x_b = (1, 0), x_c = (0, 1) */
    assert_float_equal(sim_of(f, s, "a", "b"), 3 / sqrt(10), 1e-6);
    assert_float_equal(sim_of(f, s, "a", "c"), 1 / sqrt(10), 1e-6);
    assert_string_equal(similar(f, s, "b", 10), "a:0.949");
    cf_free(f);
}

static void removed_and_unknown_items_have_no_neighbours(void **state)
{
    (void)state;
    fixture *f = tiny();
    fixture_remove(f, "d"); /* before the build: d's cells are not in the matrix */
    void *s = build(f, 100, 0);
    assert_string_equal(similar(f, s, "b", 10), "c:0.816,a:0.667");
    uint32_t it[4];
    float sc[4];
    size_t n = 7;
    assert_int_equal(recsys__itemknn_similar(s, 3 /* d */, 4, it, sc, &n), RECSYS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(recsys__itemknn_similar(s, 1000, 4, it, sc, &n), RECSYS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(recsys__itemknn_similar(NULL, 0, 4, it, sc, &n), RECSYS_OK);
    assert_int_equal(n, 0);
    /* removed after the build: left out of the list, the rest keeps its order */
    fixture_remove(f, "c");
    assert_string_equal(similar(f, s, "b", 10), "a:0.667");
    assert_int_equal(recsys__itemknn_similar(s, 0, 4, NULL, sc, &n), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__itemknn_similar(s, 0, 4, it, sc, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__itemknn_similar(s, 0, 0, NULL, NULL, &n), RECSYS_OK);
    cf_free(f);
}

static void empty_model_builds_no_state(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    assert_null(build(f, 100, 10));
    cf_free(f);
    f = cf_new("a,b");
    /* events that are no positive interaction: an impression, a dislike, a search */
    fixture_event(f, "u1", "a", RECSYS_EVENT_IMPRESSION, 0, now - 3);
    fixture_event(f, "u1", "b", RECSYS_EVENT_DISLIKE, 0, now - 2);
    fixture_event(f, "u1", NULL, RECSYS_EVENT_SEARCH, 0, now - 1);
    assert_null(build(f, 100, 10));
    recsys_candidates c;
    cf_run(f, recsys__source_itemknn, fixture_query(f, "u1", NULL, 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    /* one item per user: no pair co-occurs, a state with empty lists */
    fixture_event(f, "u2", "a", RECSYS_EVENT_VIEW, 0, now);
    void *s = build(f, 100, 10);
    assert_string_equal(similar(f, s, "a", 10), "");
    cf_free(f);
}

static void bad_parameters_are_rejected(void **state)
{
    (void)state;
    fixture *f = tiny();
    void *s = (void *)0x1;
    assert_int_equal(recsys__itemknn_build(&f->mem, &f->model, 0, 1, 1, &s), RECSYS_E_INVALID_ARG);
    assert_null(s);
    assert_int_equal(recsys__itemknn_build(&f->mem, &f->model, 5, -1, 1, &s),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__itemknn_build(&f->mem, &f->model, 5, NAN, 1, &s),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__itemknn_build(&f->mem, NULL, 5, 1, 1, &s), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__itemknn_build(&f->mem, &f->model, 5, 1, 1, NULL),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__source_itemknn(&f->mem, NULL), RECSYS_E_INVALID_ARG);
    recsys_source_vtable vt;
    assert_int_equal(recsys__source_itemknn(&f->mem, &vt), RECSYS_OK);
    recsys_candidates c;
    recsys__cands_init(&c, &f->mem, fixture_query(f, "u1", NULL, 5), 5);
    assert_int_equal(vt.retrieve(NULL, NULL, &c), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.retrieve(NULL, &f->q, NULL), RECSYS_E_INVALID_ARG);
    recsys__cands_free(&c);
    cf_free(f);
}

/* ------------------------------------------------------------ the source */

static void scores_sum_the_users_neighbour_lists(void **state)
{
    (void)state;
    fixture *f = tiny();
    build(f, 100, 0);
    /* x (not in the matrix: its events come after the build) viewed a and bought d (5) */
    fixture_event(f, "x", "a", RECSYS_EVENT_VIEW, 0, now - 5);
    fixture_event(f, "x", "d", RECSYS_EVENT_PURCHASE, 0, now - 4);
    recsys_candidates c;
    cf_run(f, recsys__source_itemknn, fixture_query(f, "x", NULL, 10), &c);
    /* a spreads 1 over b, e, c; d spreads 5 over c, b */
    assert_string_equal(cf_ids(f, &c), "c,b,e");
    assert_float_equal(cf_score(f, &c, "c"), 1 / sqrt(6) + 5 / sqrt(2), 1e-5);
    assert_float_equal(cf_score(f, &c, "b"), 2.0 / 3.0 + 5 / sqrt(3), 1e-5);
    assert_float_equal(cf_score(f, &c, "e"), 1 / sqrt(3), 1e-5);
    recsys__cands_free(&c);

    /* the limit keeps the best */
    cf_run(f, recsys__source_itemknn, fixture_query(f, "x", NULL, 2), &c);
    assert_string_equal(cf_ids(f, &c), "c,b");
    recsys__cands_free(&c);
    cf_run(f, recsys__source_itemknn, fixture_query(f, "x", NULL, 0), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);

    /* the user's items are read now, not at build time: a dislike takes a out */
    fixture_event(f, "x", "a", RECSYS_EVENT_DISLIKE, 0, now - 3);
    cf_run(f, recsys__source_itemknn, fixture_query(f, "x", NULL, 10), &c);
    assert_string_equal(cf_ids(f, &c), "c,b");
    assert_float_equal(cf_score(f, &c, "c"), 5 / sqrt(2), 1e-5);
    assert_float_equal(cf_score(f, &c, "b"), 5 / sqrt(3), 1e-5);
    recsys__cands_free(&c);
    cf_free(f);
}

static void ties_and_seen_items(void **state)
{
    (void)state;
    fixture *f = tiny();
    build(f, 100, 0);
    fixture_event(f, "y", "a", RECSYS_EVENT_VIEW, 0, now - 5);
    fixture_event(f, "y", "b", RECSYS_EVENT_VIEW, 0, now - 4);
    recsys_candidates c;
    /* filter.seen on (default): a and b are left out; d and e tie at 1/sqrt(3): index order */
    cf_run(f, recsys__source_itemknn, fixture_query(f, "y", NULL, 10), &c);
    assert_string_equal(cf_ids(f, &c), "c,d,e");
    assert_float_equal(cf_score(f, &c, "c"), 3 / sqrt(6), 1e-5);
    assert_float_equal(cf_score(f, &c, "d"), 1 / sqrt(3), 1e-5);
    assert_float_equal(cf_score(f, &c, "e"), 1 / sqrt(3), 1e-5);
    recsys__cands_free(&c);
    /* filter.seen off: the user's own items compete too (a and b tie at 2/3) */
    fixture_set_opt(f, RECSYS_OPT_FILTER_SEEN, 0);
    cf_run(f, recsys__source_itemknn, fixture_query(f, "y", NULL, 10), &c);
    assert_string_equal(cf_ids(f, &c), "c,a,b,d,e");
    recsys__cands_free(&c);
    cf_free(f);
}

static void excluded_and_removed_items_are_skipped(void **state)
{
    (void)state;
    fixture *f = tiny();
    build(f, 100, 0);
    fixture_event(f, "x", "a", RECSYS_EVENT_VIEW, 0, now - 5);
    fixture_event(f, "x", "d", RECSYS_EVENT_PURCHASE, 0, now - 4);
    fixture_exclude(f, "b");
    recsys_candidates c;
    /* the excluded item takes no room under the limit */
    cf_run(f, recsys__source_itemknn, fixture_query(f, "x", NULL, 2), &c);
    assert_string_equal(cf_ids(f, &c), "c,e");
    recsys__cands_free(&c);
    fixture_remove(f, "c"); /* after the build */
    cf_run(f, recsys__source_itemknn, fixture_query(f, "x", NULL, 10), &c);
    assert_string_equal(cf_ids(f, &c), "e");
    recsys__cands_free(&c);
    /* a positive item removed after the build no longer contributes */
    fixture_remove(f, "d");
    cf_run(f, recsys__source_itemknn, fixture_query(f, "x", NULL, 10), &c);
    assert_string_equal(cf_ids(f, &c), "e");
    assert_float_equal(cf_score(f, &c, "e"), 1 / sqrt(3), 1e-5);
    recsys__cands_free(&c);
    cf_free(f);
}

static void anonymous_unknown_and_cold_users_get_nothing(void **state)
{
    (void)state;
    fixture *f = tiny();
    build(f, 100, 0);
    fixture_add_item(f, &(fixture_item_def){ .id = "new" }); /* after the build */
    fixture_event(f, "z", "new", RECSYS_EVENT_PURCHASE, 0, now - 1);
    fixture_add_user(f, "p", NULL, -1, NULL, NULL, NULL, NULL);
    recsys_candidates c;
    const char *users[] = { NULL, "ghost", "p", "z" };
    for (size_t i = 0; i < 4; i++) {
        cf_run(f, recsys__source_itemknn, fixture_query(f, users[i], NULL, 10), &c);
        assert_int_equal(c.n, 0);
        recsys__cands_free(&c);
    }
    /* no derived state at all, or none for this slot */
    recsys_query *q = fixture_query(f, "u1", NULL, 10);
    q->derived = NULL;
    cf_run(f, recsys__source_itemknn, q, &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    cf_drop(f, &recsys__itemknn_builder);
    cf_run(f, recsys__source_itemknn, fixture_query(f, "u1", NULL, 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    cf_free(f);
}

static void profile_lists_count_as_positives(void **state)
{
    (void)state;
    fixture *f = tiny();
    build(f, 100, 0);
    /* a recent view of e and a purchase of d (5); a negative entry for c outweighs events */
    fixture_add_user(f, "w", NULL, -1, NULL, "e", "d", "c");
    fixture_event(f, "w", "c", RECSYS_EVENT_LIKE, 0, now);
    recsys_candidates c;
    cf_run(f, recsys__source_itemknn, fixture_query(f, "w", NULL, 10), &c);
    /* e -> a (1/sqrt3); d -> c (5/sqrt2), b (5/sqrt3); c is not a positive, so it stays */
    assert_string_equal(cf_ids(f, &c), "c,b,a");
    assert_float_equal(cf_score(f, &c, "a"), 1 / sqrt(3), 1e-5);
    recsys__cands_free(&c);
    cf_free(f);
}

/* ------------------------------------------------------------ threads */

static void same_lists_for_any_thread_count(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    cf_add_items(f, 400);
    cf_random_views(f, 700, 80, 7);
    /* big enough that the build does go parallel */
    assert_true(700.0 * 80 * 80 >= RECSYS__I2I_PARALLEL_MIN_WORK);
    fixture_set_opt(f, RECSYS_OPT_ITEMKNN_K, 30);
    fixture_set_opt(f, RECSYS_OPT_ITEMKNN_SHRINK, 5);
    void *ref = NULL;
    assert_int_equal(recsys__itemknn_build(&f->mem, &f->model, 30, 5, 1, &ref), RECSYS_OK);
    const int threads[] = { 2, 3, 8, 0 };
    uint32_t ia[64], ib[64];
    float sa[64], sb[64];
    for (size_t t = 0; t < 4; t++) {
        fixture_set_opt(f, RECSYS_OPT_TRAIN_THREADS, threads[t]);
        void *s = cf_build(f, &recsys__itemknn_builder);
        size_t total = 0;
        for (uint32_t i = 0; i < 400; i++) {
            size_t na, nb;
            assert_int_equal(recsys__itemknn_similar(ref, i, 64, ia, sa, &na), RECSYS_OK);
            assert_int_equal(recsys__itemknn_similar(s, i, 64, ib, sb, &nb), RECSYS_OK);
            assert_int_equal(na, nb);
            assert_memory_equal(ia, ib, na * sizeof ia[0]);
            assert_memory_equal(sa, sb, na * sizeof sa[0]);
            for (size_t k = 1; k < na; k++)
                assert_true(sa[k - 1] > sa[k] || (sa[k - 1] == sa[k] && ia[k - 1] < ia[k]));
            total += na;
        }
        assert_true(total > 400 * 20);
    }
    recsys__itemknn_free(&f->mem, ref);
    /* requests on the big model: best first, limited, no positives */
    recsys_candidates c;
    cf_run(f, recsys__source_itemknn, fixture_query(f, "r3", NULL, 50), &c);
    assert_int_equal(c.n, 50);
    for (size_t k = 1; k < c.n; k++)
        assert_true(c.v[k - 1].score > c.v[k].score ||
                    (c.v[k - 1].score == c.v[k].score && c.v[k - 1].item < c.v[k].item));
    recsys__cands_free(&c);
    cf_free(f);
}

/* ------------------------------------------------------------ incremental updates */

/* Records one event of user on item and folds the user's change of positives into state, as
 * the engine does around a feedback call. */
static void observe_event(fixture *f, void *state, const char *user, const char *item,
                          int32_t type, int64_t ts)
{
    uint32_t *ai = NULL, *bi = NULL;
    float *aw = NULL, *bw = NULL;
    size_t na = 0, nb = 0;
    const recsys__user *u = recsys__users_find(&f->model.users, user);
    if (u)
        assert_int_equal(recsys__user_positives(&f->mem, &f->model, u, &ai, &aw, &na), RECSYS_OK);
    fixture_event(f, user, item, type, 0, ts);
    u = recsys__users_find(&f->model.users, user);
    assert_non_null(u);
    assert_int_equal(recsys__user_positives(&f->mem, &f->model, u, &bi, &bw, &nb), RECSYS_OK);
    recsys__itemknn_observe(state, ai, aw, na, bi, bw, nb);
    recsys__free(&f->mem, ai);
    recsys__free(&f->mem, aw);
    recsys__free(&f->mem, bi);
    recsys__free(&f->mem, bw);
}

/* A fresh build of f's model now, with k and shrink. */
static void *fresh(fixture *f, size_t k, double shrink)
{
    void *s = NULL;
    assert_int_equal(recsys__itemknn_build(&f->mem, &f->model, k, shrink, 1, &s), RECSYS_OK);
    return s;
}

/* Rows of the user's items and of the changed item equal a fresh build's (both sides' dot
 * products and norms are exact there). */
static void an_update_matches_a_rebuild_on_the_rows_it_touches(void **state)
{
    (void)state;
    fixture *f = tiny();
    void *s = build(f, 10, 2);
    observe_event(f, s, "u2", "c", RECSYS_EVENT_LIKE, now - 10); /* u2: a, b, c (like 3) */
    void *ref = fresh(f, 10, 2);
    const char *rows[] = { "a", "b", "c" };
    for (int r = 0; r < 3; r++) {
        char want[256];
        snprintf(want, sizeof want, "%s", similar(f, ref, rows[r], 10));
        assert_string_equal(similar(f, s, rows[r], 10), want);
    }
    /* a new pair: d and e never met; u4 (a, e) views d */
    observe_event(f, s, "u4", "d", RECSYS_EVENT_VIEW, now - 5);
    recsys__itemknn_free(&f->mem, ref);
    ref = fresh(f, 10, 2);
    assert_true(sim_of(f, s, "e", "d") > 0);
    assert_true(fabsf(sim_of(f, s, "e", "d") - sim_of(f, ref, "e", "d")) < 1e-5f);
    assert_true(fabsf(sim_of(f, s, "d", "e") - sim_of(f, ref, "d", "e")) < 1e-5f);
    assert_true(fabsf(sim_of(f, s, "a", "d") - sim_of(f, ref, "a", "d")) < 1e-5f);
    /* the itemknn source serves it at once: u4's list now has what d brought */
    f->derived.state[RECSYS__DERIVED_ITEMKNN] = s;
    recsys_candidates c;
    cf_run(f, recsys__source_itemknn, fixture_query(f, "u4", NULL, 10), &c);
    assert_true(fixture_cand_pos(f, &c, "c") != SIZE_MAX); /* via d (cd 1) and a (ac 1) */
    recsys__cands_free(&c);
    recsys__itemknn_free(&f->mem, ref);
    cf_free(f); /* frees s through the derived slot */
}

/* A dislike after a view takes the item out of the user's positives: its pairs lose the
 * user's contribution, and a pair left with none leaves both rows. */
static void a_retraction_removes_pairs_left_without_support(void **state)
{
    (void)state;
    fixture *f = tiny();
    void *s = build(f, 10, 0);
    /* a-e co-occur only through u4 */
    assert_true(sim_of(f, s, "a", "e") > 0);
    observe_event(f, s, "u4", "e", RECSYS_EVENT_DISLIKE, now - 1);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", similar(f, s, "a", 10));
    assert_null(strstr(buf, "e:"));
    assert_string_equal(similar(f, s, "e", 10), "");
    void *ref = fresh(f, 10, 0);
    assert_string_equal(similar(f, ref, "a", 10), buf);
    recsys__itemknn_free(&f->mem, ref);
    f->derived.state[RECSYS__DERIVED_ITEMKNN] = s;
    cf_free(f);
}

/* A full row (k = 1) lets a new pair in only when it beats the row's last. */
static void a_full_row_keeps_the_better_pair(void **state)
{
    (void)state;
    fixture *f = tiny();
    void *s = build(f, 1, 0);
    assert_string_equal(similar(f, s, "e", 5), "a:0.577"); /* ae 1 / (sqrt 3 * 1) */
    /* u3 (b, c, d) views e: e-b, e-c, e-d enter e's row only if better than a */
    observe_event(f, s, "u3", "e", RECSYS_EVENT_VIEW, now - 1);
    void *ref = fresh(f, 1, 0);
    assert_string_equal(similar(f, s, "e", 5), similar(f, ref, "e", 5));
    recsys__itemknn_free(&f->mem, ref);
    f->derived.state[RECSYS__DERIVED_ITEMKNN] = s;
    cf_free(f);
}

/* After recsys__itemknn_lost the lists stay as they were; NULL states are ignored. */
static void a_lost_state_stops_following(void **state)
{
    (void)state;
    fixture *f = tiny();
    void *s = build(f, 10, 0);
    char before[256];
    snprintf(before, sizeof before, "%s", similar(f, s, "a", 10));
    recsys__itemknn_lost(s);
    observe_event(f, s, "u2", "e", RECSYS_EVENT_PURCHASE, now - 1);
    assert_string_equal(similar(f, s, "a", 10), before);
    recsys__itemknn_lost(NULL);
    recsys__itemknn_observe(NULL, NULL, NULL, 0, NULL, NULL, 0);
    f->derived.state[RECSYS__DERIVED_ITEMKNN] = s;
    cf_free(f);
}

/* ------------------------------------------------------------ failures */

static void build_out_of_memory(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    cf_add_items(f, 60);
    cf_random_views(f, 40, 12, 3);
    fixture_set_opt(f, RECSYS_OPT_ITEMKNN_K, 5);
    recsys__build_ctx ctx = cf_ctx(f, &f->oom);
    void *s = NULL;
    long before = f->oom_stats.calls;
    assert_int_equal(recsys__itemknn_builder.build(&ctx, &s), RECSYS_OK);
    long calls = f->oom_stats.calls - before;
    recsys__itemknn_builder.free(&f->oom, s);
    assert_int_equal(f->oom_stats.live, 0);
    assert_true(calls > 3);
    /* fail each allocation of a successful build in turn (a refused shrink of an
     * over-reserved block is no failure: the build then keeps the larger block) */
    long failures = 0;
    for (long n = 1; n <= calls; n++) {
        s = (void *)0x1;
        f->oom_stats.fail_at = n;
        recsys__err_clear();
        recsys_status st = recsys__itemknn_builder.build(&ctx, &s);
        f->oom_stats.fail_at = 0;
        if (st == RECSYS_OK) {
            assert_non_null(s);
            recsys__itemknn_builder.free(&f->oom, s);
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
    build(f, 100, 0);
    fixture_event(f, "x", "a", RECSYS_EVENT_VIEW, 0, now - 5);
    fixture_event(f, "x", "d", RECSYS_EVENT_PURCHASE, 0, now - 4);
    recsys_query *q = fixture_query(f, "x", NULL, 10);
    size_t got = 0;
    long n = fixture_retrieve_oom(f, recsys__source_itemknn, q, &got);
    assert_int_equal(got, 3);
    assert_true(n > 3);
    cf_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builder_describes_its_slot),
        cmocka_unit_test(cosine_values_by_hand),
        cmocka_unit_test(shrinkage_lowers_weakly_supported_pairs),
        cmocka_unit_test(k_cuts_each_list),
        cmocka_unit_test(ties_break_by_item_index),
        cmocka_unit_test(weights_are_used_as_given),
        cmocka_unit_test(removed_and_unknown_items_have_no_neighbours),
        cmocka_unit_test(empty_model_builds_no_state),
        cmocka_unit_test(bad_parameters_are_rejected),
        cmocka_unit_test(scores_sum_the_users_neighbour_lists),
        cmocka_unit_test(ties_and_seen_items),
        cmocka_unit_test(excluded_and_removed_items_are_skipped),
        cmocka_unit_test(anonymous_unknown_and_cold_users_get_nothing),
        cmocka_unit_test(profile_lists_count_as_positives),
        cmocka_unit_test(same_lists_for_any_thread_count),
        cmocka_unit_test(an_update_matches_a_rebuild_on_the_rows_it_touches),
        cmocka_unit_test(a_retraction_removes_pairs_left_without_support),
        cmocka_unit_test(a_full_row_keeps_the_better_pair),
        cmocka_unit_test(a_lost_state_stops_following),
        cmocka_unit_test(build_out_of_memory),
        cmocka_unit_test(retrieve_out_of_memory),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("retrieve/item2item", tests, NULL, NULL);
}
