/* test_interactions.c - the positive user x item matrix collaborative sources train on
 * (retrieve/interactions.h): summed cell weights, negatives after the last positive, profile
 * lists, removed items, CSR/CSC consistency, a user's positives at request time, and
 * out-of-memory loops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "retrieve/interactions.h"
#include "support/cf_fixture.h"

static const int64_t now = FIXTURE_NOW;

static void build(fixture *f, recsys__interactions *x)
{
    assert_int_equal(recsys__interactions_build(&f->mem, &f->model, x), RECSYS_OK);
}

static uint32_t user_idx(fixture *f, const char *id)
{
    const recsys__user *u = recsys__users_find(&f->model.users, id);
    if (!u)
        fail_msg("no user '%s'", id);
    return u->idx;
}

/* User id's row as "a:4,b:5" (weights with up to 3 decimals, trailing zeros dropped). */
static const char *row_str(fixture *f, const recsys__interactions *x, const char *id)
{
    static _Thread_local char buf[1024]; /* test-only scratch */
    uint32_t u = user_idx(f, id);
    size_t len = 0;
    buf[0] = '\0';
    assert_true(u < x->nusers);
    for (size_t k = x->row_ptr[u]; k < x->row_ptr[u + 1]; k++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s:%g", len ? "," : "",
                                fixture_id(f, x->col[k]), x->val[k]);
    return buf;
}

/* The same for recsys__user_positives. */
static const char *positives_str(fixture *f, const char *id)
{
    static _Thread_local char buf[1024]; /* test-only scratch */
    uint32_t *items = NULL;
    float *w = NULL;
    size_t n = 99, len = 0;
    assert_int_equal(recsys__user_positives(&f->mem, &f->model,
                                            recsys__users_find(&f->model.users, id), &items,
                                            &w, &n),
                     RECSYS_OK);
    buf[0] = '\0';
    for (size_t k = 0; k < n; k++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s:%g", len ? "," : "",
                                fixture_id(f, items[k]), w[k]);
    recsys__free(&f->mem, items);
    recsys__free(&f->mem, w);
    return buf;
}

/* Checks every structural invariant of x against the model, and that each user's row is
 * what recsys__user_positives gives. */
static void check_consistent(fixture *f, const recsys__interactions *x)
{
    assert_int_equal(x->nusers, f->model.users.ids.n);
    assert_int_equal(x->nitems, f->model.catalog.ids.n);
    assert_int_equal(x->row_ptr[0], 0);
    assert_int_equal(x->row_ptr[x->nusers], x->nnz);
    assert_int_equal(x->col_ptr[0], 0);
    assert_int_equal(x->col_ptr[x->nitems], x->nnz);
    for (size_t u = 0; u < x->nusers; u++) {
        assert_true(x->row_ptr[u] <= x->row_ptr[u + 1]);
        for (size_t k = x->row_ptr[u]; k < x->row_ptr[u + 1]; k++) {
            assert_true(x->col[k] < x->nitems);
            assert_non_null(recsys__catalog_get(&f->model.catalog, x->col[k]));
            assert_true(x->val[k] > 0);
            if (k > x->row_ptr[u])
                assert_true(x->col[k - 1] < x->col[k]);
            /* the same cell in the transpose */
            size_t lo = x->col_ptr[x->col[k]], hi = x->col_ptr[x->col[k] + 1];
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (x->row[mid] < u)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            assert_true(lo < x->col_ptr[x->col[k] + 1]);
            assert_int_equal(x->row[lo], u);
            assert_true(x->tval[lo] == x->val[k]);
        }
        /* the request-time rule gives the same row */
        const recsys__user *usr = f->model.users.users[u];
        uint32_t *items = NULL;
        float *w = NULL;
        size_t n = 0;
        assert_int_equal(recsys__user_positives(&f->mem, &f->model, usr, &items, &w, &n),
                         RECSYS_OK);
        assert_int_equal(n, x->row_ptr[u + 1] - x->row_ptr[u]);
        if (n) {
            assert_memory_equal(items, x->col + x->row_ptr[u], n * sizeof *items);
            assert_memory_equal(w, x->val + x->row_ptr[u], n * sizeof *w);
        }
        recsys__free(&f->mem, items);
        recsys__free(&f->mem, w);
    }
    for (size_t i = 0; i < x->nitems; i++) {
        assert_true(x->col_ptr[i] <= x->col_ptr[i + 1]);
        for (size_t k = x->col_ptr[i]; k < x->col_ptr[i + 1]; k++) {
            assert_true(x->row[k] < x->nusers);
            assert_true(x->tval[k] > 0);
            if (k > x->col_ptr[i])
                assert_true(x->row[k - 1] < x->row[k]);
        }
    }
}

/* ------------------------------------------------------------ cells */

static void cell_weights_are_summed(void **state)
{
    (void)state;
    fixture *f = cf_new("a,b,c,d");
    fixture_event(f, "u1", "a", RECSYS_EVENT_VIEW, 0, now - 10);
    fixture_event(f, "u1", "a", RECSYS_EVENT_LIKE, 0, now - 9);
    fixture_event(f, "u1", "b", RECSYS_EVENT_PURCHASE, 0, now - 8);
    fixture_event(f, "u1", "c", RECSYS_EVENT_RATING, 5, now - 7);     /* 5 - 3 */
    fixture_event(f, "u2", "b", RECSYS_EVENT_CLICK, 0, now - 6);
    fixture_event(f, "u2", "c", RECSYS_EVENT_DWELL, 120, now - 5);    /* 2 minutes */
    fixture_event(f, "u2", "d", RECSYS_EVENT_ADD_TO_CART, 0, now - 4);
    fixture_event(f, "u2", "d", RECSYS_EVENT_WATCH_TIME, 900, now - 3); /* capped at 5 */
    recsys__interactions x;
    build(f, &x);
    assert_string_equal(row_str(f, &x, "u1"), "a:4,b:5,c:2");
    assert_string_equal(row_str(f, &x, "u2"), "b:1,c:2,d:8");
    assert_int_equal(x.nnz, 6);
    /* the columns */
    uint32_t b = fixture_idx(f, "b");
    assert_int_equal(x.col_ptr[b + 1] - x.col_ptr[b], 2);
    assert_int_equal(x.row[x.col_ptr[b]], user_idx(f, "u1"));
    assert_true(x.tval[x.col_ptr[b]] == 5.0f);
    assert_true(x.tval[x.col_ptr[b] + 1] == 1.0f);
    check_consistent(f, &x);
    recsys__interactions_free(&f->mem, &x);
    assert_null(x.row_ptr);
    cf_free(f);
}

static void events_without_weight_make_no_cell(void **state)
{
    (void)state;
    fixture *f = cf_new("a,b");
    fixture_event(f, "u1", "a", RECSYS_EVENT_IMPRESSION, 0, now - 3);
    fixture_event(f, "u1", NULL, RECSYS_EVENT_SEARCH, 0, now - 2);
    fixture_event(f, "u1", "b", RECSYS_EVENT_RATING, 3, now - 1); /* neutral */
    fixture_event(f, "u1", "b", RECSYS_EVENT_WATCH_TIME, 0, now);
    recsys__interactions x;
    build(f, &x);
    assert_int_equal(x.nusers, 1);
    assert_int_equal(x.nitems, 2);
    assert_int_equal(x.nnz, 0);
    assert_string_equal(row_str(f, &x, "u1"), "");
    check_consistent(f, &x);
    recsys__interactions_free(&f->mem, &x);
    cf_free(f);
}

static void a_negative_after_the_last_positive_removes_the_pair(void **state)
{
    (void)state;
    fixture *f = cf_new("a,b,c,d,e,g,h");
    /* a: disliked after the view */
    fixture_event(f, "u1", "a", RECSYS_EVENT_VIEW, 0, now - 100);
    fixture_event(f, "u1", "a", RECSYS_EVENT_DISLIKE, 0, now - 90);
    /* b: disliked before the view: kept, with the positive weight only */
    fixture_event(f, "u1", "b", RECSYS_EVENT_DISLIKE, 0, now - 80);
    fixture_event(f, "u1", "b", RECSYS_EVENT_VIEW, 0, now - 70);
    /* c: skipped after the click */
    fixture_event(f, "u1", "c", RECSYS_EVENT_CLICK, 0, now - 60);
    fixture_event(f, "u1", "c", RECSYS_EVENT_SKIP, 0, now - 50);
    /* d: viewed, disliked, viewed again: back, every positive summed */
    fixture_event(f, "u1", "d", RECSYS_EVENT_VIEW, 0, now - 40);
    fixture_event(f, "u1", "d", RECSYS_EVENT_DISLIKE, 0, now - 30);
    fixture_event(f, "u1", "d", RECSYS_EVENT_VIEW, 0, now - 20);
    /* e: a low rating (1 - 3 = -2) after the purchase */
    fixture_event(f, "u1", "e", RECSYS_EVENT_PURCHASE, 0, now - 15);
    fixture_event(f, "u1", "e", RECSYS_EVENT_RATING, 1, now - 10);
    /* g: a dislike at the same second as the view */
    fixture_event(f, "u1", "g", RECSYS_EVENT_VIEW, 0, now - 5);
    fixture_event(f, "u1", "g", RECSYS_EVENT_DISLIKE, 0, now - 5);
    /* h: only a dislike */
    fixture_event(f, "u1", "h", RECSYS_EVENT_DISLIKE, 0, now - 1);
    recsys__interactions x;
    build(f, &x);
    assert_string_equal(row_str(f, &x, "u1"), "b:1,d:2");
    assert_string_equal(positives_str(f, "u1"), "b:1,d:2");
    check_consistent(f, &x);
    recsys__interactions_free(&f->mem, &x);
    cf_free(f);
}

static void profile_lists_count(void **state)
{
    (void)state;
    fixture *f = cf_new("a,b,c,d");
    /* recent view a (a view), purchase b (a purchase), negative c */
    fixture_add_user(f, "p", NULL, -1, NULL, "a", "b", "c");
    fixture_event(f, "p", "a", RECSYS_EVENT_VIEW, 0, now - 10);
    /* a negative list entry outweighs any event, even a later one */
    fixture_event(f, "p", "c", RECSYS_EVENT_PURCHASE, 0, now);
    fixture_event(f, "p", "d", RECSYS_EVENT_CLICK, 0, now);
    fixture_add_user(f, "q", NULL, -1, NULL, NULL, NULL, NULL); /* a profile and nothing else */
    recsys__interactions x;
    build(f, &x);
    assert_string_equal(row_str(f, &x, "p"), "a:2,b:5,d:1");
    assert_string_equal(row_str(f, &x, "q"), "");
    assert_string_equal(positives_str(f, "p"), "a:2,b:5,d:1");
    check_consistent(f, &x);
    recsys__interactions_free(&f->mem, &x);
    cf_free(f);
}

static void removed_items_and_forgotten_users_are_left_out(void **state)
{
    (void)state;
    fixture *f = cf_new("a,b,c");
    cf_events(f, "u1", "a,b,c", RECSYS_EVENT_VIEW, now - 100);
    cf_events(f, "u2", "b,c", RECSYS_EVENT_VIEW, now - 90);
    fixture_add_user(f, "p", NULL, -1, NULL, "b", "c", NULL);
    fixture_remove(f, "b");
    assert_int_equal(recsys__model_forget_user(&f->model, "u2"), RECSYS_OK);
    recsys__interactions x;
    build(f, &x);
    assert_int_equal(x.nitems, 3); /* the removed item keeps its (empty) column */
    assert_int_equal(x.nusers, 3); /* the forgotten user keeps an (empty) row */
    uint32_t b = 1; /* "b", removed: its id no longer resolves */
    assert_int_equal(x.col_ptr[b + 1] - x.col_ptr[b], 0);
    assert_string_equal(row_str(f, &x, "u1"), "a:1,c:1");
    assert_string_equal(row_str(f, &x, "p"), "c:5");
    assert_int_equal(x.nnz, 3);
    check_consistent(f, &x);
    recsys__interactions_free(&f->mem, &x);
    cf_free(f);
}

static void empty_model_and_anonymous_user(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    recsys__interactions x;
    build(f, &x);
    assert_int_equal(x.nusers, 0);
    assert_int_equal(x.nitems, 0);
    assert_int_equal(x.nnz, 0);
    assert_non_null(x.row_ptr);
    assert_non_null(x.col_ptr);
    recsys__interactions_free(&f->mem, &x);
    recsys__interactions_free(&f->mem, &x); /* twice is harmless */
    uint32_t *items = (uint32_t *)0x1;
    float *w = (float *)0x1;
    size_t n = 5;
    assert_int_equal(recsys__user_positives(&f->mem, &f->model, NULL, &items, &w, &n),
                     RECSYS_OK);
    assert_null(items);
    assert_null(w);
    assert_int_equal(n, 0);
    cf_free(f);
}

static void large_random_model_is_consistent(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    cf_add_items(f, 150);
    cf_random_views(f, 120, 30, 9);
    /* some likes on top, some dislikes after, some removals */
    char uid[32], iid[32];
    for (int u = 0; u < 120; u += 3) {
        snprintf(uid, sizeof uid, "r%d", u);
        snprintf(iid, sizeof iid, "i%d", u % 40);
        fixture_event(f, uid, iid, u % 2 ? RECSYS_EVENT_LIKE : RECSYS_EVENT_DISLIKE, 0, now);
    }
    fixture_remove(f, "i3");
    fixture_remove(f, "i77");
    recsys__interactions x;
    build(f, &x);
    assert_true(x.nnz > 120 * 25);
    check_consistent(f, &x);
    recsys__interactions_free(&f->mem, &x);
    cf_free(f);
}

/* ------------------------------------------------------------ failures */

static void build_out_of_memory(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    cf_add_items(f, 20);
    cf_random_views(f, 10, 5, 1);
    long n;
    for (n = 1;; n++) {
        recsys__interactions x;
        memset(&x, 0xAB, sizeof x);
        f->oom_stats.fail_at = n;
        recsys__err_clear();
        recsys_status st = recsys__interactions_build(&f->oom, &f->model, &x);
        f->oom_stats.fail_at = 0;
        if (st == RECSYS_OK) {
            assert_int_equal(x.nnz, 50);
            recsys__interactions_free(&f->oom, &x);
            assert_int_equal(f->oom_stats.live, 0);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_true(strlen(recsys_last_error()) > 0);
        assert_null(x.row_ptr);
        assert_int_equal(f->oom_stats.live, 0);
    }
    assert_true(n > 5);
    cf_free(f);
}

static void positives_out_of_memory(void **state)
{
    (void)state;
    fixture *f = cf_new("a,b,c");
    cf_events(f, "u1", "a,b,c", RECSYS_EVENT_VIEW, now - 100);
    const recsys__user *u = recsys__users_find(&f->model.users, "u1");
    long n;
    for (n = 1;; n++) {
        uint32_t *items = NULL;
        float *w = NULL;
        size_t k = 0;
        f->oom_stats.fail_at = n;
        recsys_status st = recsys__user_positives(&f->oom, &f->model, u, &items, &w, &k);
        f->oom_stats.fail_at = 0;
        if (st == RECSYS_OK) {
            assert_int_equal(k, 3);
            recsys__free(&f->oom, items);
            recsys__free(&f->oom, w);
            assert_int_equal(f->oom_stats.live, 0);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(items);
        assert_null(w);
        assert_int_equal(f->oom_stats.live, 0);
    }
    assert_int_equal(n, 4);
    cf_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cell_weights_are_summed),
        cmocka_unit_test(events_without_weight_make_no_cell),
        cmocka_unit_test(a_negative_after_the_last_positive_removes_the_pair),
        cmocka_unit_test(profile_lists_count),
        cmocka_unit_test(removed_items_and_forgotten_users_are_left_out),
        cmocka_unit_test(empty_model_and_anonymous_user),
        cmocka_unit_test(large_random_model_is_consistent),
        cmocka_unit_test(build_out_of_memory),
        cmocka_unit_test(positives_out_of_memory),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("retrieve/interactions", tests, NULL, NULL);
}
