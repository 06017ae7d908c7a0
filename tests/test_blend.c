/* test_blend.c - the blend ranker, called through recsys_ranker_vtable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rank/rankers.h"
#include "support/fixture.h"

static const int64_t now = FIXTURE_NOW, day = FIXTURE_DAY, hour = FIXTURE_HOUR;

/* Candidates ids (in that order) with the given merged source scores. */
static void cands(fixture *f, recsys_candidates *c, const char *ids, const double *scores)
{
    fixture_cands(f, c, ids);
    for (size_t i = 0; i < c->n; i++)
        c->v[i].score = scores ? scores[i] : 0.5;
}

static void rank(fixture *f, const char *user, recsys_candidates *c)
{
    recsys_ranker_vtable vt;
    memset(&vt, 0xAB, sizeof vt);
    assert_int_equal(recsys__ranker_blend(&f->mem, &vt), RECSYS_OK);
    assert_int_equal(vt.struct_size, sizeof vt);
    assert_null(vt.ctx);
    assert_null(vt.destroy);
    assert_non_null(vt.score);
    fixture_query(f, user, NULL, 100);
    c->q = &f->q;
    assert_int_equal(vt.score(vt.ctx, &f->q, c), RECSYS_OK);
}

static double score_of(fixture *f, recsys_candidates *c, const char *id)
{
    size_t i = fixture_cand_pos(f, c, id);
    assert_true(i != SIZE_MAX);
    return c->v[i].score;
}

static const char *ranked(fixture *f, recsys_candidates *c, char *buf, size_t cap)
{
    return fixture_cands_ranked(f, c, buf, cap);
}

static void anonymous_keeps_the_source_score(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_event(f, "bob", "l_gaming", RECSYS_EVENT_LIKE, 0, now - hour); /* not the caller */
    const double s[] = { 0.9, 0.6, 0.3 };
    char buf[256];
    const char *users[] = { NULL, "ghost" };
    for (int u = 0; u < 2; u++) {
        recsys_candidates c;
        cands(f, &c, "c_cook,l_ultra,c_dist", s);
        rank(f, users[u], &c);
        for (size_t i = 0; i < 3; i++)
            assert_true(c.v[i].score == s[i]);
        assert_string_equal(ranked(f, &c, buf, sizeof buf), "c_cook,l_ultra,c_dist");
        recsys__cands_free(&c);
    }
    fixture_free(f);
}

static void stated_interests_lift_matching_tags(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    char buf[256];
    recsys_candidates c;
    /* alice follows "scalability" and has no events */
    cands(f, &c, "c_cook,l_ultra,c_dist,c_sys", NULL);
    rank(f, "alice", &c);
    assert_string_equal(ranked(f, &c, buf, sizeof buf), "c_dist,c_sys,c_cook,l_ultra");
    assert_float_equal(score_of(f, &c, "c_dist"), 0.5 + 0.5 * 1.0, 1e-9);
    assert_float_equal(score_of(f, &c, "c_cook"), 0.5, 1e-9);
    recsys__cands_free(&c);
    /* "machine learning" equals a tag word for word; "space" equals a tag */
    cands(f, &c, "c_cook,f_scifi,c_ml,f_family", NULL);
    rank(f, "dana", &c);
    assert_string_equal(ranked(f, &c, buf, sizeof buf), "c_ml,f_scifi,c_cook,f_family");
    recsys__cands_free(&c);
    fixture_free(f);
}

static void event_affinities_order_items(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    char buf[256];
    /* like: laptop/gpu/gaming +3; view: education/backend/scalability/architecture +1 */
    fixture_event(f, "bob", "l_gaming", RECSYS_EVENT_LIKE, 0, now - day);
    fixture_event(f, "bob", "c_dist", RECSYS_EVENT_VIEW, 0, now - day);
    recsys_candidates c;
    cands(f, &c, "c_cook,c_sys,l_ultra,l_eu", NULL);
    rank(f, "bob", &c);
    assert_string_equal(ranked(f, &c, buf, sizeof buf), "l_eu,l_ultra,c_sys,c_cook");
    /* category laptop: 3 / 3 (the largest); c_sys: education 1/3 and best tag 1/3 */
    assert_float_equal(score_of(f, &c, "l_ultra"), 0.5 + 0.5 * 1.0, 1e-6);
    assert_float_equal(score_of(f, &c, "c_sys"), 0.5 + 0.5 / 3 + 0.5 / 3, 1e-6);
    recsys__cands_free(&c);

    /* the source weight: with w_source 10 the source order wins over affinities */
    const double s[] = { 0.9, 0.5 };
    cands(f, &c, "c_cook,l_ultra", s);
    rank(f, "bob", &c);
    assert_string_equal(ranked(f, &c, buf, sizeof buf), "l_ultra,c_cook");
    recsys__cands_free(&c);
    fixture_set_opt(f, RECSYS_OPT_RANK_W_SOURCE, 10);
    cands(f, &c, "c_cook,l_ultra", s);
    rank(f, "bob", &c);
    assert_string_equal(ranked(f, &c, buf, sizeof buf), "c_cook,l_ultra");
    recsys__cands_free(&c);
    /* all affinity weights 0: the source order, scaled */
    fixture_set_opt(f, RECSYS_OPT_RANK_W_SOURCE, 1);
    fixture_set_opt(f, RECSYS_OPT_RANK_W_CATEGORY, 0);
    fixture_set_opt(f, RECSYS_OPT_RANK_W_TAG, 0);
    fixture_set_opt(f, RECSYS_OPT_RANK_W_SESSION, 0);
    cands(f, &c, "c_cook,l_ultra", s);
    rank(f, "bob", &c);
    assert_float_equal(score_of(f, &c, "c_cook"), 0.9, 1e-12);
    assert_float_equal(score_of(f, &c, "l_ultra"), 0.5, 1e-12);
    recsys__cands_free(&c);
    fixture_free(f);
}

static void dislikes_push_items_down(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_add_item(f, &(fixture_item_def){ .id = "x_mix", .title = "Horror Machine",
                                             .category = "misc",
                                             .tags = "machine learning,horror" });
    char buf[256];
    /* film/horror/thriller -5; education/machine learning/python/statistics +3 */
    fixture_event(f, "bob", "f_horror", RECSYS_EVENT_DISLIKE, 0, now - day);
    fixture_event(f, "bob", "c_ml", RECSYS_EVENT_LIKE, 0, now - day);
    recsys_candidates c;
    cands(f, &c, "f_family,x_mix,c_cook,l_ai", NULL);
    rank(f, "bob", &c);
    /* l_ai: tag machine learning 3/5; x_mix: 3/5 - 5/5; f_family: category film -5/5 */
    assert_string_equal(ranked(f, &c, buf, sizeof buf), "l_ai,c_cook,x_mix,f_family");
    assert_float_equal(score_of(f, &c, "l_ai"), 0.5 + 0.5 * 0.6, 1e-6);
    assert_float_equal(score_of(f, &c, "x_mix"), 0.5 + 0.5 * (0.6 - 1.0), 1e-6);
    assert_float_equal(score_of(f, &c, "f_family"), 0.5 - 0.5, 1e-6);
    recsys__cands_free(&c);
    /* a disliked category beats a better source score */
    const double s[] = { 0.9, 0.5 };
    cands(f, &c, "f_family,c_cook", s);
    rank(f, "bob", &c);
    assert_string_equal(ranked(f, &c, buf, sizeof buf), "c_cook,f_family");
    recsys__cands_free(&c);
    fixture_free(f);
}

static void profile_lists_count_as_preferences(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    char buf[256];
    /* carol: purchased l_ultra (laptop +5), viewed f_family (film +1), negative f_horror
     * (film -5): laptop 1, film -4/5 */
    recsys_candidates c;
    cands(f, &c, "c_cook,f_space,l_gaming", NULL);
    rank(f, "carol", &c);
    assert_string_equal(ranked(f, &c, buf, sizeof buf), "l_gaming,c_cook,f_space");
    assert_float_equal(score_of(f, &c, "f_space"), 0.5 - 0.5 * 0.8, 1e-6);
    recsys__cands_free(&c);
    fixture_free(f);
}

static void session_affinity_follows_the_current_session(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    char buf[256];
    /* sam liked two films ten days ago; today sam is looking at a laptop */
    fixture_event(f, "sam", "f_space", RECSYS_EVENT_LIKE, 0, now - 10 * day);
    fixture_event(f, "sam", "f_scifi", RECSYS_EVENT_LIKE, 0, now - 10 * day);
    fixture_event(f, "sam", "l_gaming", RECSYS_EVENT_VIEW, 0, now - 20 * 60);
    fixture_event(f, "sam", "l_gaming", RECSYS_EVENT_VIEW, 0, now - 15 * 60);
    fixture_event(f, "sam", "l_gaming", RECSYS_EVENT_VIEW, 0, now - 10 * 60);
    /* the same, but the laptop visit ended two hours ago */
    fixture_event(f, "tom", "f_space", RECSYS_EVENT_LIKE, 0, now - 10 * day);
    fixture_event(f, "tom", "f_scifi", RECSYS_EVENT_LIKE, 0, now - 10 * day);
    fixture_event(f, "tom", "l_gaming", RECSYS_EVENT_VIEW, 0, now - 2 * hour - 20 * 60);
    fixture_event(f, "tom", "l_gaming", RECSYS_EVENT_VIEW, 0, now - 2 * hour - 15 * 60);
    fixture_event(f, "tom", "l_gaming", RECSYS_EVENT_VIEW, 0, now - 2 * hour - 10 * 60);

    recsys_candidates c;
    fixture_set_opt(f, RECSYS_OPT_RANK_W_SESSION, 0);
    cands(f, &c, "l_ultra,f_family", NULL);
    rank(f, "sam", &c);
    assert_string_equal(ranked(f, &c, buf, sizeof buf), "f_family,l_ultra"); /* long term */
    recsys__cands_free(&c);

    fixture_set_opt(f, RECSYS_OPT_RANK_W_SESSION, 2);
    cands(f, &c, "l_ultra,f_family", NULL);
    rank(f, "sam", &c);
    assert_string_equal(ranked(f, &c, buf, sizeof buf), "l_ultra,f_family"); /* right now */
    /* long term: film 6 * 2^(-10/90) is the largest, laptop ~3 (three views, minutes old);
     * session: only laptop, gpu, gaming (each normalised to 1); l_ultra's tags have none */
    double film = 6 * exp2(-10.0 / 90);
    assert_float_equal(score_of(f, &c, "f_family"), 0.5 + 0.5 * 1.0, 1e-6);
    assert_float_equal(score_of(f, &c, "l_ultra"), 0.5 + 0.5 * 3 / film + 2 * 0.5 * 1.0, 1e-4);
    recsys__cands_free(&c);

    cands(f, &c, "l_ultra,f_family", NULL);
    rank(f, "tom", &c);
    assert_string_equal(ranked(f, &c, buf, sizeof buf), "f_family,l_ultra"); /* session over */
    recsys__cands_free(&c);
    fixture_free(f);
}

static void session_starts_after_the_last_long_gap(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_set_opt(f, RECSYS_OPT_RANK_W_CATEGORY, 0);
    fixture_set_opt(f, RECSYS_OPT_RANK_W_TAG, 0);
    fixture_set_opt(f, RECSYS_OPT_RANK_W_SESSION, 2);
    /* a film 50 minutes ago, then 40 idle minutes, then a laptop 10 minutes ago */
    fixture_event(f, "sam", "f_family", RECSYS_EVENT_VIEW, 0, now - 50 * 60);
    fixture_event(f, "sam", "l_gaming", RECSYS_EVENT_VIEW, 0, now - 10 * 60);
    recsys_candidates c;
    cands(f, &c, "f_space,l_ultra", NULL);
    rank(f, "sam", &c); /* gap 30 minutes: the film is in an older session */
    assert_float_equal(score_of(f, &c, "f_space"), 0.5, 1e-12);
    assert_float_equal(score_of(f, &c, "l_ultra"), 0.5 + 2 * 0.5 * (1.0 + 0.0), 1e-9);
    recsys__cands_free(&c);

    fixture_set_opt(f, RECSYS_OPT_SESSION_GAP_S, 3600); /* one session; recency halves weights */
    cands(f, &c, "f_space,l_ultra", NULL);
    rank(f, "sam", &c);
    double film = exp2(-3000.0 / 1800), lap = exp2(-600.0 / 1800);
    assert_float_equal(score_of(f, &c, "f_space"), 0.5 + 2 * 0.5 * (film / lap), 1e-6);
    assert_float_equal(score_of(f, &c, "l_ultra"), 0.5 + 2 * 0.5 * 1.0, 1e-6);
    recsys__cands_free(&c);
    fixture_free(f);
}

static void blend_is_deterministic(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_event(f, "bob", "l_gaming", RECSYS_EVENT_LIKE, 0, now - day);
    fixture_event(f, "bob", "f_horror", RECSYS_EVENT_DISLIKE, 0, now - hour);
    fixture_event(f, "bob", "c_ml", RECSYS_EVENT_WATCH_TIME, 600, now - 5 * 60);
    const char *all = "c_dist,c_ml,c_sys,c_cook,l_gaming,l_ultra,l_ai,l_eu,f_horror,f_family";
    recsys_candidates a, b;
    cands(f, &a, all, NULL);
    cands(f, &b, all, NULL);
    rank(f, "bob", &a);
    rank(f, "bob", &b);
    for (size_t i = 0; i < a.n; i++)
        assert_memory_equal(&a.v[i].score, &b.v[i].score, sizeof(double));
    recsys__cands_free(&a);
    recsys__cands_free(&b);
    fixture_free(f);
}

static void blend_out_of_memory(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_event(f, "carol", "l_gaming", RECSYS_EVENT_LIKE, 0, now - day);
    fixture_event(f, "carol", "c_ml", RECSYS_EVENT_VIEW, 0, now - 60);
    recsys_ranker_vtable vt;
    assert_int_equal(recsys__ranker_blend(&f->mem, &vt), RECSYS_OK);
    fixture_query(f, "carol", NULL, 100);
    long n;
    for (n = 1;; n++) {
        recsys_candidates c;
        cands(f, &c, "c_cook,f_space,l_ultra", NULL);
        c.mem = &f->oom;
        f->oom_stats.fail_at = n;
        recsys_status st = vt.score(vt.ctx, &f->q, &c);
        f->oom_stats.fail_at = 0;
        assert_int_equal(f->oom_stats.live, 0);
        c.mem = &f->mem;
        double s = c.v[1].score;
        recsys__cands_free(&c);
        if (st == RECSYS_OK) {
            assert_true(s < 0.5); /* f_space: film is disliked via carol's negative list */
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
    }
    assert_true(n > 1);
    assert_int_equal(recsys__ranker_blend(&f->mem, NULL), RECSYS_E_INVALID_ARG);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(anonymous_keeps_the_source_score),
        cmocka_unit_test(stated_interests_lift_matching_tags),
        cmocka_unit_test(event_affinities_order_items),
        cmocka_unit_test(dislikes_push_items_down),
        cmocka_unit_test(profile_lists_count_as_preferences),
        cmocka_unit_test(session_affinity_follows_the_current_session),
        cmocka_unit_test(session_starts_after_the_last_long_gap),
        cmocka_unit_test(blend_is_deterministic),
        cmocka_unit_test(blend_out_of_memory),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("rank/blend", tests, NULL, NULL);
}
