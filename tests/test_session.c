/* test_session.c - the session source (retrieve/session.h): short-term intent over long-term
 * history, the session boundary and its end, recency decay, what the source skips, missing
 * state, anonymous users, a brute-force cross-check and out-of-memory loops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "retrieve/item2item.h"
#include "retrieve/session.h"
#include "support/cf_fixture.h"

static const int64_t now = FIXTURE_NOW;
#define GAP 1800.0 /* RECSYS_OPT_SESSION_GAP_S's default */

/* Films and laptops, co-viewed only within their kind (views, weight 1, days ago):
 *          f_a f_b f_c f_d l_a l_b l_c l_d
 *   r1      1   1   1   .
 *   r2      1   1   .   1
 *   r3      .   1   1   .
 *   s1                      1   1   1   .
 *   s2                      1   1   .   .
 *   s3                      .   .   1   1
 *   s4                      1   .   .   1
 * Laptop neighbours (cosine, no shrinkage): l_a: l_b 2/sqrt6, l_c 1/sqrt6, l_d 1/sqrt6;
 * l_b: l_a 2/sqrt6, l_c 1/2; l_c: l_b 1/2, l_d 1/2, l_a 1/sqrt6; l_d: l_c 1/2, l_a 1/sqrt6.
 * Films: f_a: f_b 2/sqrt6, f_d 1/sqrt2, f_c 1/2; f_b: f_a, f_c 2/sqrt6, f_d 1/sqrt3. The
 * itemknn state is built from these alone: the users under test act after the build. */
static fixture *shop(void)
{
    fixture *f = cf_new("f_a,f_b,f_c,f_d,l_a,l_b,l_c,l_d");
    int64_t t = now - 10 * FIXTURE_DAY;
    cf_events(f, "r1", "f_a,f_b,f_c", RECSYS_EVENT_VIEW, t);
    cf_events(f, "r2", "f_a,f_b,f_d", RECSYS_EVENT_VIEW, t);
    cf_events(f, "r3", "f_b,f_c", RECSYS_EVENT_VIEW, t);
    cf_events(f, "s1", "l_a,l_b,l_c", RECSYS_EVENT_VIEW, t);
    cf_events(f, "s2", "l_a,l_b", RECSYS_EVENT_VIEW, t);
    cf_events(f, "s3", "l_c,l_d", RECSYS_EVENT_VIEW, t);
    cf_events(f, "s4", "l_a,l_d", RECSYS_EVENT_VIEW, t);
    fixture_set_opt(f, RECSYS_OPT_ITEMKNN_K, 100);
    fixture_set_opt(f, RECSYS_OPT_ITEMKNN_SHRINK, 0);
    assert_non_null(cf_build(f, &recsys__itemknn_builder));
    return f;
}

/* sim(a, b) from the built state (0 when b is not in a's list). */
static double sim(fixture *f, const char *a, const char *b)
{
    uint32_t items[64];
    float scores[64];
    size_t n = 0;
    assert_int_equal(recsys__itemknn_similar(f->derived.state[RECSYS__DERIVED_ITEMKNN],
                                             fixture_idx(f, a), 64, items, scores, &n),
                     RECSYS_OK);
    for (size_t i = 0; i < n; i++)
        if (items[i] == fixture_idx(f, b))
            return scores[i];
    return 0;
}

/* The session weight of one event of weight w that happened dt seconds ago. */
static double decayed(double w, double dt, double gap)
{
    return w * exp2(-dt / (gap / 2));
}

/* Runs the session source for user and returns its ids (c is left for the caller). */
static const char *run(fixture *f, const char *user, size_t limit, recsys_candidates *c)
{
    cf_run(f, recsys__source_session, fixture_query(f, user, NULL, limit), c);
    return cf_ids(f, c);
}

static void expect_nothing(fixture *f, const char *user)
{
    recsys_candidates c;
    run(f, user, 10, &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
}

/* ------------------------------------------------------------ short-term intent */

static void session_intent_beats_long_term_history(void **state)
{
    (void)state;
    fixture *f = shop();
    /* a film fan for a month, browsing laptops now */
    cf_events(f, "m", "f_a,f_b", RECSYS_EVENT_VIEW, now - 30 * FIXTURE_DAY);
    fixture_event(f, "m", "f_c", RECSYS_EVENT_PURCHASE, 0, now - 20 * FIXTURE_DAY);
    fixture_event(f, "m", "l_a", RECSYS_EVENT_VIEW, 0, now - 60);
    recsys_candidates c;
    /* the long-term source is all films first */
    cf_run(f, recsys__source_itemknn, fixture_query(f, "m", NULL, 10), &c);
    assert_int_equal(strncmp(cf_ids(f, &c), "f_", 2), 0);
    recsys__cands_free(&c);
    /* the session source gives l_a's neighbours, best first (l_c and l_d tie: index order) */
    assert_string_equal(run(f, "m", 10, &c), "l_b,l_c,l_d");
    double w = decayed(1, 60, GAP);
    assert_float_equal(cf_score(f, &c, "l_b"), w * 2 / sqrt(6), 1e-6);
    assert_float_equal(cf_score(f, &c, "l_c"), w / sqrt(6), 1e-6);
    assert_float_equal(cf_score(f, &c, "l_d"), w / sqrt(6), 1e-6);
    recsys__cands_free(&c);
    /* the limit keeps the best */
    assert_string_equal(run(f, "m", 2, &c), "l_b,l_c");
    recsys__cands_free(&c);
    cf_run(f, recsys__source_session, fixture_query(f, "m", NULL, 0), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    /* RECSYS_OPT_ITEMKNN_K read per request cuts each list */
    fixture_set_opt(f, RECSYS_OPT_ITEMKNN_K, 1);
    assert_string_equal(run(f, "m", 10, &c), "l_b");
    recsys__cands_free(&c);
    cf_free(f);
}

static void an_old_session_is_over(void **state)
{
    (void)state;
    fixture *f = shop();
    /* last event one second more than a gap ago: over */
    fixture_event(f, "o", "l_a", RECSYS_EVENT_VIEW, 0, now - (int64_t)GAP - 1);
    expect_nothing(f, "o");
    /* exactly one gap ago: still current */
    fixture_event(f, "p", "l_a", RECSYS_EVENT_VIEW, 0, now - (int64_t)GAP);
    recsys_candidates c;
    assert_string_equal(run(f, "p", 10, &c), "l_b,l_c,l_d");
    assert_float_equal(cf_score(f, &c, "l_b"), 0.25 * 2 / sqrt(6), 1e-6);
    recsys__cands_free(&c);
    /* long-term history only */
    cf_events(f, "fan", "f_a,f_b", RECSYS_EVENT_VIEW, now - 3 * FIXTURE_DAY);
    expect_nothing(f, "fan");
    /* a longer gap option makes the old session current again */
    fixture_set_opt(f, RECSYS_OPT_SESSION_GAP_S, 4 * FIXTURE_DAY);
    assert_string_equal(run(f, "fan", 10, &c), "f_c,f_d");
    recsys__cands_free(&c);
    cf_free(f);
}

static void the_gap_splits_sessions(void **state)
{
    (void)state;
    fixture *f = shop();
    /* l_b, then 1900 s idle (> gap), then l_d and 1700 s later l_c (<= gap) */
    fixture_event(f, "g", "l_b", RECSYS_EVENT_VIEW, 0, now - 4000);
    fixture_event(f, "g", "l_d", RECSYS_EVENT_VIEW, 0, now - 2100);
    fixture_event(f, "g", "l_c", RECSYS_EVENT_VIEW, 0, now - 400);
    recsys_candidates c;
    /* the session is l_d, l_c (l_d although it is more than a gap old): l_b belongs to an
     * earlier session, so it is proposed, not skipped as seen */
    assert_string_equal(run(f, "g", 10, &c), "l_a,l_b");
    double wd = decayed(1, 2100, GAP), wc = decayed(1, 400, GAP);
    assert_float_equal(cf_score(f, &c, "l_a"), (wd + wc) / sqrt(6), 1e-6);
    assert_float_equal(cf_score(f, &c, "l_b"), wc * sim(f, "l_c", "l_b"), 1e-6);
    recsys__cands_free(&c);
    /* a gap of 2000 s joins all three: only l_a is left, with a half-life of 1000 s */
    fixture_set_opt(f, RECSYS_OPT_SESSION_GAP_S, 2000);
    assert_string_equal(run(f, "g", 10, &c), "l_a");
    assert_float_equal(cf_score(f, &c, "l_a"),
                       decayed(1, 4000, 2000) * 2 / sqrt(6) +
                           (decayed(1, 2100, 2000) + decayed(1, 400, 2000)) / sqrt(6),
                       1e-6);
    recsys__cands_free(&c);
    /* a gap of 1000 s leaves l_c alone */
    fixture_set_opt(f, RECSYS_OPT_SESSION_GAP_S, 1000);
    assert_string_equal(run(f, "g", 10, &c), "l_b,l_d,l_a");
    recsys__cands_free(&c);
    /* a gap of 300 s: the last event is older than that, the session is over */
    fixture_set_opt(f, RECSYS_OPT_SESSION_GAP_S, 300);
    expect_nothing(f, "g");
    fixture_set_opt(f, RECSYS_OPT_SESSION_GAP_S, GAP);

    /* a search is activity too: it keeps the session alive (as the blend ranker counts it) */
    fixture_event(f, "h", "l_a", RECSYS_EVENT_VIEW, 0, now - 2000);
    expect_nothing(f, "h");
    fixture_event(f, "h", NULL, RECSYS_EVENT_SEARCH, 0, now - 1000);
    assert_string_equal(run(f, "h", 10, &c), "l_b,l_c,l_d");
    recsys__cands_free(&c);
    cf_free(f);
}

static void recency_decay_lets_the_latest_item_lead(void **state)
{
    (void)state;
    fixture *f = shop();
    recsys_candidates c;
    /* at the same moment l_b and l_d put l_a first (2/sqrt6 + 1/sqrt6 against 1/2 + 1/2) */
    fixture_event(f, "same", "l_b", RECSYS_EVENT_VIEW, 0, now - 10);
    fixture_event(f, "same", "l_d", RECSYS_EVENT_VIEW, 0, now - 10);
    assert_string_equal(run(f, "same", 10, &c), "l_a,l_c");
    recsys__cands_free(&c);
    /* l_b viewed 1790 s before l_d: l_d's best neighbour l_c leads */
    fixture_event(f, "d", "l_b", RECSYS_EVENT_VIEW, 0, now - 1800);
    fixture_event(f, "d", "l_d", RECSYS_EVENT_VIEW, 0, now - 10);
    assert_string_equal(run(f, "d", 10, &c), "l_c,l_a");
    double wb = decayed(1, 1800, GAP), wd = decayed(1, 10, GAP);
    assert_float_equal(cf_score(f, &c, "l_c"), wb * 0.5 + wd * 0.5, 1e-6);
    assert_float_equal(cf_score(f, &c, "l_a"), (wb * 2 + wd) / sqrt(6), 1e-6);
    recsys__cands_free(&c);
    /* weights follow the event type and repeats add up */
    fixture_event(f, "rep", "l_a", RECSYS_EVENT_VIEW, 0, now - 20);
    fixture_event(f, "rep", "l_a", RECSYS_EVENT_PURCHASE, 0, now - 10);
    assert_string_equal(run(f, "rep", 10, &c), "l_b,l_c,l_d");
    assert_float_equal(cf_score(f, &c, "l_b"),
                       (decayed(1, 20, GAP) + decayed(5, 10, GAP)) * 2 / sqrt(6), 1e-6);
    recsys__cands_free(&c);
    cf_free(f);
}

/* ------------------------------------------------------------ what is skipped */

static void seen_excluded_and_removed_items(void **state)
{
    (void)state;
    fixture *f = shop();
    fixture_event(f, "v", "l_a", RECSYS_EVENT_VIEW, 0, now - 60);
    fixture_event(f, "v", "l_b", RECSYS_EVENT_VIEW, 0, now - 30);
    double wa = decayed(1, 60, GAP), wb = decayed(1, 30, GAP);
    recsys_candidates c;
    /* filter.seen on (default): the session's own items are left out */
    assert_string_equal(run(f, "v", 10, &c), "l_c,l_d");
    assert_float_equal(cf_score(f, &c, "l_c"), wa / sqrt(6) + wb * 0.5, 1e-6);
    recsys__cands_free(&c);
    /* off: they compete */
    fixture_set_opt(f, RECSYS_OPT_FILTER_SEEN, 0);
    assert_string_equal(run(f, "v", 10, &c), "l_c,l_a,l_b,l_d");
    assert_float_equal(cf_score(f, &c, "l_a"), wb * 2 / sqrt(6), 1e-6);
    recsys__cands_free(&c);
    fixture_set_opt(f, RECSYS_OPT_FILTER_SEEN, 1);
    /* an excluded item takes no room under the limit */
    fixture_exclude(f, "l_c");
    assert_string_equal(run(f, "v", 1, &c), "l_d");
    recsys__cands_free(&c);
    f->nexclude = 0;
    /* a neighbour removed after the build is not proposed */
    fixture_remove(f, "l_d");
    assert_string_equal(run(f, "v", 10, &c), "l_c");
    recsys__cands_free(&c);
    /* a session item removed after the build contributes nothing */
    fixture_remove(f, "l_b");
    fixture_set_opt(f, RECSYS_OPT_FILTER_SEEN, 0);
    assert_string_equal(run(f, "v", 10, &c), "l_c");
    assert_float_equal(cf_score(f, &c, "l_c"), wa / sqrt(6), 1e-6);
    recsys__cands_free(&c);
    cf_free(f);
}

static void negative_events_cancel_and_count_for_nothing(void **state)
{
    (void)state;
    fixture *f = shop();
    recsys_candidates c;
    /* viewed, then disliked: l_a spreads nothing */
    fixture_event(f, "n", "l_a", RECSYS_EVENT_VIEW, 0, now - 100);
    fixture_event(f, "n", "l_a", RECSYS_EVENT_DISLIKE, 0, now - 50);
    expect_nothing(f, "n");
    /* liked again afterwards: back, with every positive event's weight */
    fixture_event(f, "n", "l_a", RECSYS_EVENT_LIKE, 0, now - 20);
    assert_string_equal(run(f, "n", 10, &c), "l_b,l_c,l_d");
    assert_float_equal(cf_score(f, &c, "l_b"),
                       (decayed(1, 100, GAP) + decayed(3, 20, GAP)) * 2 / sqrt(6), 1e-6);
    recsys__cands_free(&c);
    /* a low rating (negative weight) after the view cancels too */
    fixture_event(f, "n2", "l_c", RECSYS_EVENT_VIEW, 0, now - 100);
    fixture_event(f, "n2", "l_c", RECSYS_EVENT_RATING, 1, now - 90);
    expect_nothing(f, "n2");
    /* a negative event alone makes no session item; a cancelled item is still the user's
     * (filter.seen leaves it out) */
    fixture_event(f, "n3", "l_d", RECSYS_EVENT_SKIP, 0, now - 300);
    fixture_event(f, "n3", "l_a", RECSYS_EVENT_VIEW, 0, now - 200);
    fixture_event(f, "n3", "l_a", RECSYS_EVENT_SKIP, 0, now - 150);
    expect_nothing(f, "n3");
    fixture_event(f, "n3", "l_b", RECSYS_EVENT_VIEW, 0, now - 100);
    assert_string_equal(run(f, "n3", 10, &c), "l_c");
    recsys__cands_free(&c);
    fixture_set_opt(f, RECSYS_OPT_FILTER_SEEN, 0);
    assert_string_equal(run(f, "n3", 10, &c), "l_a,l_c");
    recsys__cands_free(&c);
    cf_free(f);
}

static void no_itemknn_state_gives_nothing(void **state)
{
    (void)state;
    fixture *f = shop();
    fixture_event(f, "m", "l_a", RECSYS_EVENT_VIEW, 0, now - 60);
    recsys_candidates c;
    recsys_query *q = fixture_query(f, "m", NULL, 10);
    q->derived = NULL;
    cf_run(f, recsys__source_session, q, &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    cf_drop(f, &recsys__itemknn_builder);
    expect_nothing(f, "m");
    /* one positive item per user: a state whose lists are all empty */
    cf_free(f);
    f = cf_new("a,b");
    fixture_event(f, "m", "a", RECSYS_EVENT_VIEW, 0, now - 60);
    fixture_event(f, "m", "b", RECSYS_EVENT_DISLIKE, 0, now - 50);
    cf_build(f, &recsys__itemknn_builder);
    expect_nothing(f, "m");
    cf_free(f);
}

static void anonymous_unknown_and_profile_only_users_get_nothing(void **state)
{
    (void)state;
    fixture *f = shop();
    fixture_add_user(f, "pr", NULL, -1, NULL, "l_a", "l_b", NULL); /* lists, no events */
    const char *users[] = { NULL, "ghost", "pr" };
    for (size_t i = 0; i < 3; i++)
        expect_nothing(f, users[i]);
    /* a session on an item added after the build (no neighbour list) */
    fixture_add_item(f, &(fixture_item_def){ .id = "l_new", .title = "l_new" });
    fixture_event(f, "late", "l_new", RECSYS_EVENT_PURCHASE, 0, now - 5);
    expect_nothing(f, "late");
    cf_free(f);
}

static void vtable_and_bad_arguments(void **state)
{
    (void)state;
    fixture *f = shop();
    assert_int_equal(recsys__source_session(&f->mem, NULL), RECSYS_E_INVALID_ARG);
    recsys_source_vtable vt;
    memset(&vt, 0xAB, sizeof vt);
    assert_int_equal(recsys__source_session(NULL, &vt), RECSYS_OK);
    assert_int_equal(vt.struct_size, sizeof vt);
    assert_null(vt.ctx);
    assert_null(vt.destroy);
    recsys_candidates c;
    recsys__cands_init(&c, &f->mem, fixture_query(f, "s1", NULL, 5), 5);
    recsys__err_clear();
    assert_int_equal(vt.retrieve(NULL, NULL, &c), RECSYS_E_INVALID_ARG);
    assert_true(strlen(recsys_last_error()) > 0);
    assert_int_equal(vt.retrieve(NULL, &f->q, NULL), RECSYS_E_INVALID_ARG);
    recsys__cands_free(&c);
    cf_free(f);
}

/* ------------------------------------------------------------ a larger model */

/* 300 items, 400 background users; "sx" has a session of 12 items, one every 100 s. */
static fixture *big(void)
{
    fixture *f = fixture_new();
    cf_add_items(f, 300);
    cf_random_views(f, 400, 25, 11);
    fixture_set_opt(f, RECSYS_OPT_ITEMKNN_K, 40);
    fixture_set_opt(f, RECSYS_OPT_ITEMKNN_SHRINK, 1);
    assert_non_null(cf_build(f, &recsys__itemknn_builder));
    char id[32];
    for (int s = 0; s < 12; s++) {
        snprintf(id, sizeof id, "i%d", 17 * s + 5);
        fixture_event(f, "sx", id, s % 3 ? RECSYS_EVENT_VIEW : RECSYS_EVENT_ADD_TO_CART, 0,
                      now - 100 * (12 - s));
    }
    return f;
}

static void matches_a_brute_force_sum(void **state)
{
    (void)state;
    fixture *f = big();
    const void *knn = f->derived.state[RECSYS__DERIVED_ITEMKNN];
    size_t n = f->model.catalog.ids.n;
    double *want = calloc(n, sizeof *want);
    bool *mine = calloc(n, sizeof *mine);
    assert_true(want && mine);
    const recsys__user *u = recsys__users_find(&f->model.users, "sx");
    assert_non_null(u);
    for (size_t k = 0; k < u->nhist; k++) {
        const recsys__hist *h = &u->hist[k];
        double w = decayed(recsys__event_weight(h->type, h->value), (double)(now - h->ts), GAP);
        uint32_t it[64];
        float sc[64];
        size_t got = 0;
        assert_int_equal(recsys__itemknn_similar(knn, h->item, 40, it, sc, &got), RECSYS_OK);
        for (size_t e = 0; e < got; e++)
            want[it[e]] += w * sc[e];
        mine[h->item] = true;
    }
    recsys_candidates c;
    run(f, "sx", 50, &c);
    assert_int_equal(c.n, 50);
    /* every candidate has its brute-force score, best first, ties by index, no own item */
    for (size_t i = 0; i < c.n; i++) {
        assert_false(mine[c.v[i].item]);
        assert_float_equal(c.v[i].score, want[c.v[i].item], 1e-9);
        if (i)
            assert_true(c.v[i - 1].score > c.v[i].score ||
                        (c.v[i - 1].score == c.v[i].score && c.v[i - 1].item < c.v[i].item));
    }
    /* and nothing left out scores better than the last one kept */
    const recsys__cand *last = &c.v[c.n - 1];
    for (uint32_t i = 0; i < n; i++)
        if (!mine[i] && fixture_cand_pos(f, &c, fixture_id(f, i)) == SIZE_MAX)
            assert_true(want[i] < last->score + 1e-9);
    recsys__cands_free(&c);
    free(want);
    free(mine);
    cf_free(f);
}

/* ------------------------------------------------------------ failures */

/* Fails each allocation of a successful retrieve in turn: RECSYS_E_NOMEM with a message and
 * no leak each time, then the same answer as without failures. */
static void oom_loop(fixture *f, const char *user, size_t limit)
{
    recsys_candidates c;
    char want[4096];
    snprintf(want, sizeof want, "%s", run(f, user, limit, &c));
    size_t nwant = c.n;
    recsys__cands_free(&c);
    assert_true(nwant > 0);
    recsys_query *q = fixture_query(f, user, NULL, limit);
    recsys_source_vtable vt;
    assert_int_equal(recsys__source_session(&f->mem, &vt), RECSYS_OK);
    long n;
    for (n = 1;; n++) {
        recsys__cands_init(&c, &f->oom, q, q->limit);
        f->oom_stats.fail_at = n;
        recsys__err_clear();
        recsys_status st = vt.retrieve(vt.ctx, q, &c);
        f->oom_stats.fail_at = 0;
        if (st == RECSYS_OK) {
            assert_string_equal(cf_ids(f, &c), want);
            recsys__cands_free(&c);
            assert_int_equal(f->oom_stats.live, 0);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_true(strlen(recsys_last_error()) > 0);
        recsys__cands_free(&c);
        assert_int_equal(f->oom_stats.live, 0);
    }
    assert_true(n > 4);
}

static void retrieve_out_of_memory(void **state)
{
    (void)state;
    fixture *f = shop();
    fixture_event(f, "v", "l_a", RECSYS_EVENT_VIEW, 0, now - 60);
    fixture_event(f, "v", "l_b", RECSYS_EVENT_VIEW, 0, now - 30);
    oom_loop(f, "v", 10);
    cf_free(f);
    /* a session whose scores outgrow the map several times */
    f = big();
    oom_loop(f, "sx", 100);
    cf_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(session_intent_beats_long_term_history),
        cmocka_unit_test(an_old_session_is_over),
        cmocka_unit_test(the_gap_splits_sessions),
        cmocka_unit_test(recency_decay_lets_the_latest_item_lead),
        cmocka_unit_test(seen_excluded_and_removed_items),
        cmocka_unit_test(negative_events_cancel_and_count_for_nothing),
        cmocka_unit_test(no_itemknn_state_gives_nothing),
        cmocka_unit_test(anonymous_unknown_and_profile_only_users_get_nothing),
        cmocka_unit_test(vtable_and_bad_arguments),
        cmocka_unit_test(matches_a_brute_force_sum),
        cmocka_unit_test(retrieve_out_of_memory),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("retrieve/session", tests, NULL, NULL);
}
