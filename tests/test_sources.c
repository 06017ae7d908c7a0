/* test_sources.c - the built-in popular, trending and content sources, called through the
 * same recsys_source_vtable a host's source would fill. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "retrieve/sources.h"
#include "support/fixture.h"

typedef recsys_status (*ctor_fn)(const recsys__mem *, recsys_source_vtable *);

/* Runs the source made by ctor for q into a fresh set (limited like the pipeline's). */
static void run(fixture *f, ctor_fn ctor, recsys_query *q, recsys_candidates *c)
{
    recsys_source_vtable vt;
    memset(&vt, 0xAB, sizeof vt);
    assert_int_equal(ctor(&f->mem, &vt), RECSYS_OK);
    assert_int_equal(vt.struct_size, sizeof vt);
    assert_null(vt.ctx);
    assert_null(vt.destroy);
    assert_non_null(vt.retrieve);
    recsys__cands_init(c, &f->mem, q, q->limit);
    assert_int_equal(vt.retrieve(vt.ctx, q, c), RECSYS_OK);
    assert_true(c->n <= q->limit);
}

static const char *ids(fixture *f, recsys_candidates *c)
{
    static _Thread_local char buf[1024]; /* test-only scratch */
    return fixture_cands_str(f, c, buf, sizeof buf);
}

static double score_of(fixture *f, recsys_candidates *c, const char *id)
{
    size_t i = fixture_cand_pos(f, c, id);
    assert_true(i != SIZE_MAX);
    return c->v[i].score;
}

static const int64_t now = FIXTURE_NOW, day = FIXTURE_DAY, hour = FIXTURE_HOUR;

/* ------------------------------------------------------------ popular */

static void popular_orders_by_decayed_count(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_events(f, "bob", "l_gaming", RECSYS_EVENT_VIEW, 5, now - day);
    fixture_events(f, "bob", "c_dist", RECSYS_EVENT_VIEW, 3, now - 2 * hour);
    fixture_events(f, "bob", "l_ultra", RECSYS_EVENT_VIEW, 8, now - 60 * day);
    /* impressions and dislikes do not make an item popular */
    fixture_event(f, "bob", "c_cook", RECSYS_EVENT_IMPRESSION, 0, now - hour);
    fixture_event(f, "bob", "f_horror", RECSYS_EVENT_DISLIKE, 0, now - hour);
    recsys_candidates c;
    run(f, recsys__source_popular, fixture_query(f, NULL, NULL, 100), &c);
    assert_string_equal(ids(f, &c), "l_gaming,c_dist,l_ultra");
    assert_float_equal(score_of(f, &c, "l_gaming"), 5 * exp2(-1.0 / 30), 1e-9);
    assert_float_equal(score_of(f, &c, "c_dist"), 3 * exp2(-2.0 / 720), 1e-9);
    assert_float_equal(score_of(f, &c, "l_ultra"), 8 * exp2(-2.0), 1e-9);
    recsys__cands_free(&c);

    /* a purchase weighs 5 views */
    fixture_event(f, "carol", "f_family", RECSYS_EVENT_PURCHASE, 0, now);
    run(f, recsys__source_popular, fixture_query(f, "carol", NULL, 2), &c);
    assert_string_equal(ids(f, &c), "f_family,l_gaming");
    recsys__cands_free(&c);
    fixture_free(f);
}

static void popular_half_life_decides_old_against_recent(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_events(f, "bob", "c_ml", RECSYS_EVENT_VIEW, 10, now - 40 * day);
    fixture_events(f, "bob", "c_cook", RECSYS_EVENT_VIEW, 4, now - day);
    recsys_candidates c;
    /* 30 days: 10 * 2^(-4/3) = 3.97 beats 4 * 2^(-1/30) = 3.91 */
    run(f, recsys__source_popular, fixture_query(f, NULL, NULL, 10), &c);
    assert_string_equal(ids(f, &c), "c_ml,c_cook");
    recsys__cands_free(&c);
    /* 10 days: 10 * 2^-4 = 0.625 against 3.73 */
    fixture_set_opt(f, RECSYS_OPT_POPULAR_HALF_LIFE_DAYS, 10);
    run(f, recsys__source_popular, fixture_query(f, NULL, NULL, 10), &c);
    assert_string_equal(ids(f, &c), "c_cook,c_ml");
    assert_float_equal(score_of(f, &c, "c_ml"), 0.625, 1e-9);
    recsys__cands_free(&c);
    fixture_free(f);
}

static void popular_skips_removed_and_excluded_and_keeps_limit(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    const char *order[] = { "c_dist", "c_ml", "c_sys", "c_cook", "l_gaming", "l_ultra" };
    for (int i = 0; i < 6; i++)
        fixture_events(f, "bob", order[i], RECSYS_EVENT_VIEW, 10 - i, now - hour);
    fixture_remove(f, "c_ml");
    fixture_exclude(f, "c_sys");
    recsys_candidates c;
    run(f, recsys__source_popular, fixture_query(f, NULL, NULL, 3), &c);
    /* the excluded item does not take a slot: three others fill the limit */
    assert_string_equal(ids(f, &c), "c_dist,c_cook,l_gaming");
    recsys__cands_free(&c);
    run(f, recsys__source_popular, fixture_query(f, NULL, NULL, 0), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    fixture_free(f);
}

static void popular_ties_break_by_item_index(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_events(f, "bob", "f_space", RECSYS_EVENT_VIEW, 2, now);
    fixture_events(f, "bob", "c_cook", RECSYS_EVENT_VIEW, 2, now);
    fixture_events(f, "bob", "l_ultra", RECSYS_EVENT_VIEW, 2, now);
    recsys_candidates c;
    run(f, recsys__source_popular, fixture_query(f, NULL, NULL, 2), &c);
    assert_string_equal(ids(f, &c), "c_cook,l_ultra"); /* catalog order */
    recsys__cands_free(&c);
    fixture_free(f);
}

/* The ranked walk (lib/model/rank.h) gives exactly what scoring every item gives, for random
 * counters, clocks, limits, removals and exclusions, popular and trending alike. */
static void ranked_walk_equals_a_full_scan(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    char id[16], user[16];
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "i%03d", i);
        fixture_add_item(f, &(fixture_item_def){ .id = id });
    }
    uint64_t r = 99;
    for (int k = 0; k < 3000; k++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        int item = (int)((r >> 33) % 300);
        /* a skewed head, and bursts in the last hours so that some items trend */
        if ((r >> 20) % 3 == 0)
            item %= 20;
        int64_t ts = now - (int64_t)((r >> 11) % (40 * day));
        if ((r >> 5) % 4 == 0)
            ts = now - (int64_t)((r >> 7) % (6 * hour));
        snprintf(id, sizeof id, "i%03d", item);
        snprintf(user, sizeof user, "u%d", (int)((r >> 45) % 50));
        fixture_event(f, user, id, (r >> 3) % 2 ? RECSYS_EVENT_CLICK : RECSYS_EVENT_PURCHASE, 0,
                      ts);
    }
    fixture_remove(f, "i007");
    fixture_remove(f, "i150");
    fixture_exclude(f, "i003");
    static const size_t limits[] = { 1, 5, 17, 100, 1000 };
    for (int trending = 0; trending < 2; trending++)
        for (size_t l = 0; l < sizeof limits / sizeof *limits; l++) {
            recsys_query *q = fixture_query(f, NULL, NULL, limits[l]);
            recsys_candidates a, b;
            run(f, trending ? recsys__source_trending : recsys__source_popular, q, &a);
            recsys__cands_init(&b, &f->mem, q, q->limit);
            assert_int_equal(recsys__source_popular_scan(q, &b, trending), RECSYS_OK);
            assert_int_equal(a.n, b.n);
            assert_true(a.n > 0);
            for (size_t i = 0; i < a.n; i++) {
                assert_int_equal(a.v[i].item, b.v[i].item);
                assert_true(a.v[i].score == b.v[i].score);
            }
            recsys__cands_free(&a);
            recsys__cands_free(&b);
        }
    fixture_free(f);
}

static void popular_empty_catalog_and_no_events(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    recsys_candidates c;
    run(f, recsys__source_popular, fixture_query(f, NULL, NULL, 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    fixture_free(f);
    f = fixture_new_standard();
    run(f, recsys__source_popular, fixture_query(f, NULL, NULL, 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    run(f, recsys__source_trending, fixture_query(f, NULL, NULL, 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    fixture_free(f);
}

/* ------------------------------------------------------------ trending */

static void trending_prefers_rising_items(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    /* a burst today */
    fixture_events(f, "bob", "f_family", RECSYS_EVENT_VIEW, 10, now - 2 * hour);
    /* old activity plus a little today */
    fixture_events(f, "bob", "l_gaming", RECSYS_EVENT_VIEW, 30, now - 20 * day);
    fixture_events(f, "bob", "l_gaming", RECSYS_EVENT_VIEW, 4, now - hour);
    /* noise: too little recent activity */
    fixture_events(f, "bob", "c_cook", RECSYS_EVENT_VIEW, 2, now - hour);
    /* popular long ago, quiet now */
    fixture_events(f, "bob", "c_dist", RECSYS_EVENT_VIEW, 20, now - 10 * day);
    /* steady: 10 a day for 150 days; the most recent activity of all, but not rising */
    for (int d = 1; d <= 150; d++)
        fixture_events(f, "carol", "c_ml", RECSYS_EVENT_VIEW, 10, now - d * day);

    recsys_candidates c;
    run(f, recsys__source_trending, fixture_query(f, NULL, NULL, 10), &c);
    assert_string_equal(ids(f, &c), "f_family,l_gaming");
    double t = 10 * exp2(-2.0 / 24), p = 10 * exp2(-2.0 / 720), e = p / 30;
    assert_float_equal(score_of(f, &c, "f_family"), (t - e) / sqrt(e + 1), 1e-6);
    recsys__cands_free(&c);

    /* the popular source sees it the other way round */
    run(f, recsys__source_popular, fixture_query(f, NULL, NULL, 1), &c);
    assert_string_equal(ids(f, &c), "c_ml");
    recsys__cands_free(&c);

    /* two more views now lift the cooking course over the minimum of recent activity */
    fixture_events(f, "bob", "c_cook", RECSYS_EVENT_VIEW, 2, now);
    run(f, recsys__source_trending, fixture_query(f, NULL, NULL, 10), &c);
    assert_true(fixture_cand_pos(f, &c, "c_cook") != SIZE_MAX); /* 4 recent views now */
    recsys__cands_free(&c);
    fixture_free(f);
}

static void trending_respects_excludes_and_removals(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_events(f, "bob", "f_family", RECSYS_EVENT_VIEW, 10, now - hour);
    fixture_events(f, "bob", "f_space", RECSYS_EVENT_VIEW, 8, now - hour);
    fixture_events(f, "bob", "f_scifi", RECSYS_EVENT_VIEW, 6, now - hour);
    fixture_remove(f, "f_family");
    fixture_exclude(f, "f_space");
    recsys_candidates c;
    run(f, recsys__source_trending, fixture_query(f, NULL, NULL, 10), &c);
    assert_string_equal(ids(f, &c), "f_scifi");
    recsys__cands_free(&c);
    fixture_free(f);
}

/* ------------------------------------------------------------ content */

/* The request's text is the "search" source's (test_search.c): content serves the profile
 * only, so an anonymous request with a text gets nothing from it. */
static void content_leaves_the_request_text_to_search(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_refresh(f);
    recsys_candidates c;
    run(f, recsys__source_content, fixture_query(f, NULL, "GPU laptops", 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    fixture_free(f);
}

static void content_serves_cold_start_interests_and_new_items(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_refresh(f);
    recsys_candidates c;
    /* dana: interests "machine learning" and "space", no events at all */
    run(f, recsys__source_content, fixture_query(f, "dana", NULL, 10), &c);
    assert_int_equal(c.n, 4);
    assert_true(fixture_cand_pos(f, &c, "c_ml") != SIZE_MAX);
    assert_true(fixture_cand_pos(f, &c, "l_ai") != SIZE_MAX);
    assert_true(fixture_cand_pos(f, &c, "f_space") != SIZE_MAX);
    /* the brand-new item nobody interacted with */
    assert_true(fixture_cand_pos(f, &c, "f_scifi") != SIZE_MAX);
    recsys__cands_free(&c);
    /* a request text without a searchable word counts as none */
    run(f, recsys__source_content, fixture_query(f, "dana", "  what is the ", 10), &c);
    assert_int_equal(c.n, 4);
    recsys__cands_free(&c);
    /* nor does a real one change it: the text is the search source's */
    run(f, recsys__source_content, fixture_query(f, "dana", "pasta", 10), &c);
    assert_int_equal(c.n, 4);
    assert_int_equal(fixture_cand_pos(f, &c, "c_cook"), SIZE_MAX);
    recsys__cands_free(&c);
    fixture_free(f);
}

static void content_uses_recent_positive_history(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_add_item(f, &(fixture_item_def){ .id = "x_stats", .title = "Statistics Refresher",
                                             .tags = "statistics" });
    fixture_add_item(f, &(fixture_item_def){ .id = "x_anim", .title = "Animation Studio Tour",
                                             .tags = "animation" });
    fixture_refresh(f);
    recsys_candidates c;
    /* bob liked the distributed systems course: the system design course comes, the seed
     * itself does not */
    fixture_event(f, "bob", "c_dist", RECSYS_EVENT_LIKE, 0, now - 3 * hour);
    run(f, recsys__source_content, fixture_query(f, "bob", NULL, 10), &c);
    assert_true(fixture_cand_pos(f, &c, "c_sys") != SIZE_MAX);
    assert_int_equal(fixture_cand_pos(f, &c, "c_dist"), SIZE_MAX);
    assert_int_equal(fixture_cand_pos(f, &c, "x_stats"), SIZE_MAX);
    recsys__cands_free(&c);

    /* viewing the ML course adds its words (statistics) */
    fixture_event(f, "bob", "c_ml", RECSYS_EVENT_VIEW, 0, now - 2 * hour);
    run(f, recsys__source_content, fixture_query(f, "bob", NULL, 10), &c);
    assert_true(fixture_cand_pos(f, &c, "x_stats") != SIZE_MAX);
    assert_int_equal(fixture_cand_pos(f, &c, "c_ml"), SIZE_MAX);
    recsys__cands_free(&c);

    /* ... until bob dislikes it: its latest event is negative, it is no seed any more */
    fixture_event(f, "bob", "c_ml", RECSYS_EVENT_DISLIKE, 0, now - hour);
    run(f, recsys__source_content, fixture_query(f, "bob", NULL, 10), &c);
    assert_int_equal(fixture_cand_pos(f, &c, "x_stats"), SIZE_MAX);
    assert_true(fixture_cand_pos(f, &c, "c_sys") != SIZE_MAX);
    recsys__cands_free(&c);

    /* the profile's recent views seed too */
    run(f, recsys__source_content, fixture_query(f, "carol", NULL, 10), &c);
    /* carol has no events: her profile's recent view (f_family: animation) and purchase
     * (l_ultra) seed the search, and are not proposed themselves */
    assert_string_equal(ids(f, &c), "x_anim");
    assert_int_equal(fixture_cand_pos(f, &c, "l_ultra"), SIZE_MAX);
    recsys__cands_free(&c);
    fixture_free(f);
}

static void content_without_anything_to_search_proposes_nothing(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_refresh(f);
    recsys_candidates c;
    run(f, recsys__source_content, fixture_query(f, NULL, NULL, 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    run(f, recsys__source_content, fixture_query(f, "ghost", NULL, 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    run(f, recsys__source_content, fixture_query(f, "bob", "", 10), &c); /* no history */
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    /* no index yet */
    recsys_query *q = fixture_query(f, NULL, "laptop", 10);
    q->derived = NULL;
    run(f, recsys__source_content, q, &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    fixture_free(f);
}

/* ------------------------------------------------------------ failures */

static void sources_out_of_memory(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_refresh(f);
    fixture_events(f, "bob", "f_family", RECSYS_EVENT_VIEW, 10, now - hour);
    fixture_events(f, "bob", "c_dist", RECSYS_EVENT_LIKE, 3, now - hour);
    const ctor_fn ctors[] = { recsys__source_popular, recsys__source_trending,
                              recsys__source_content };
    const char *texts[] = { NULL, NULL, NULL };
    for (size_t k = 0; k < 3; k++) {
        recsys_query *q = fixture_query(f, "bob", texts[k], 10);
        size_t got = 0;
        long n = fixture_retrieve_oom(f, ctors[k], q, &got);
        assert_true(got > 0);
        assert_true(n > 1);
    }
    fixture_free(f);
}

static void sources_reject_null_arguments(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    assert_int_equal(recsys__source_popular(&f->mem, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__source_trending(&f->mem, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__source_content(&f->mem, NULL), RECSYS_E_INVALID_ARG);
    recsys_source_vtable vt;
    assert_int_equal(recsys__source_popular(&f->mem, &vt), RECSYS_OK);
    recsys_candidates c;
    recsys__cands_init(&c, &f->mem, fixture_query(f, NULL, NULL, 5), 5);
    assert_int_equal(vt.retrieve(NULL, NULL, &c), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.retrieve(NULL, &f->q, NULL), RECSYS_E_INVALID_ARG);
    recsys__cands_free(&c);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(popular_orders_by_decayed_count),
        cmocka_unit_test(popular_half_life_decides_old_against_recent),
        cmocka_unit_test(popular_skips_removed_and_excluded_and_keeps_limit),
        cmocka_unit_test(popular_ties_break_by_item_index),
        cmocka_unit_test(ranked_walk_equals_a_full_scan),
        cmocka_unit_test(popular_empty_catalog_and_no_events),
        cmocka_unit_test(trending_prefers_rising_items),
        cmocka_unit_test(trending_respects_excludes_and_removals),
        cmocka_unit_test(content_leaves_the_request_text_to_search),
        cmocka_unit_test(content_serves_cold_start_interests_and_new_items),
        cmocka_unit_test(content_uses_recent_positive_history),
        cmocka_unit_test(content_without_anything_to_search_proposes_nothing),
        cmocka_unit_test(sources_out_of_memory),
        cmocka_unit_test(sources_reject_null_arguments),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("retrieve/sources", tests, NULL, NULL);
}
