/* test_featlog.c - lib/rank/featlog: every shown row is learnt exactly once: by its outcome
 * (positive or negative, with the event's weight) or, when its list leaves the log without
 * one, as an impression without action; outcomes for unknown lists, unknown items, searches
 * and impressions teach nothing; a failed allocation changes nothing and leaks nothing. */
#include "testkit.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/options.h"
#include "rank/featlog.h"

static void rows_of(float *rows, size_t n, float v)
{
    for (size_t i = 0; i < n * RECSYS__NFEAT; i++)
        rows[i] = v + (float)(i % 7) * 0.01f;
}

static void outcomes_are_learnt_once(void **state)
{
    (void)state;
    recsys__optvals ov;
    recsys__optvals_defaults(&ov);
    recsys__linear_params p;
    recsys__linear_params_from_opt(ov.num, &p);
    recsys__linear *lm = NULL;
    assert_int_equal(recsys__linear_new(&recsys__mem_default, &p, &lm), RECSYS_OK);
    recsys__featlog fl;
    recsys__featlog_init(&fl, &recsys__mem_default);
    uint32_t items[3] = { 7, 8, 9 };
    float rows[3 * RECSYS__NFEAT];
    rows_of(rows, 3, 0.5f);
    /* nothing to learn before any list */
    recsys__featlog_outcome(&fl, lm, ov.num, "r1", 7, RECSYS_EVENT_CLICK);
    assert_int_equal(recsys__linear_updates(lm), 0);
    assert_int_equal(recsys__featlog_put(&fl, lm, ov.num, "r1", items, rows, 3), RECSYS_OK);
    recsys__featlog_outcome(&fl, lm, ov.num, "r1", 8, RECSYS_EVENT_CLICK);
    assert_int_equal(fl.learnt_pos, 1);
    recsys__featlog_outcome(&fl, lm, ov.num, "r1", 8, RECSYS_EVENT_PURCHASE); /* once */
    recsys__featlog_outcome(&fl, lm, ov.num, "r1", 99, RECSYS_EVENT_CLICK);   /* not shown */
    recsys__featlog_outcome(&fl, lm, ov.num, "r2", 7, RECSYS_EVENT_CLICK);    /* no such list */
    recsys__featlog_outcome(&fl, lm, ov.num, "r1", 7, RECSYS_EVENT_IMPRESSION);
    recsys__featlog_outcome(&fl, lm, ov.num, "r1", 7, RECSYS_EVENT_SEARCH);
    recsys__featlog_outcome(&fl, lm, ov.num, NULL, 7, RECSYS_EVENT_CLICK);
    assert_int_equal(fl.learnt_pos, 1);
    assert_int_equal(fl.learnt_neg, 0);
    recsys__featlog_outcome(&fl, lm, ov.num, "r1", 9, RECSYS_EVENT_SKIP); /* a negative */
    assert_int_equal(fl.learnt_neg, 1);
    assert_int_equal(recsys__linear_updates(lm), 2);
    /* the log fills: r1 leaves, its one silent row (item 7) is learnt as a negative */
    char id[32];
    for (int k = 0; k < RECSYS__FEATLOG_REQUESTS; k++) {
        snprintf(id, sizeof id, "q%d", k);
        assert_int_equal(recsys__featlog_put(&fl, lm, ov.num, id, items, rows, 1), RECSYS_OK);
    }
    assert_int_equal(fl.learnt_neg, 2);
    assert_int_equal(fl.n, RECSYS__FEATLOG_REQUESTS);
    recsys__featlog_outcome(&fl, lm, ov.num, "r1", 7, RECSYS_EVENT_CLICK); /* gone */
    assert_int_equal(fl.learnt_pos, 1);
    /* one more list: q0 leaves with its silent row */
    assert_int_equal(recsys__featlog_put(&fl, lm, ov.num, "last", items, rows, 2), RECSYS_OK);
    assert_int_equal(fl.learnt_neg, 3);
    uint64_t before = recsys__linear_updates(lm);
    /* empty lists are not kept */
    assert_int_equal(recsys__featlog_put(&fl, lm, ov.num, "empty", items, rows, 0), RECSYS_OK);
    assert_int_equal(recsys__linear_updates(lm), before);
    recsys__featlog_free(&fl);
    recsys__featlog_free(&fl); /* twice is harmless */
    recsys__linear_free(lm);
}

static void a_failed_put_changes_nothing(void **state)
{
    (void)state;
    recsys__optvals ov;
    recsys__optvals_defaults(&ov);
    recsys__linear_params p;
    recsys__linear_params_from_opt(ov.num, &p);
    recsys__linear *lm = NULL;
    assert_int_equal(recsys__linear_new(&recsys__mem_default, &p, &lm), RECSYS_OK);
    uint32_t items[2] = { 1, 2 };
    float rows[2 * RECSYS__NFEAT];
    rows_of(rows, 2, 0.25f);
    for (long fail = 0;; fail++) {
        tk_alloc ta;
        recsys_allocator al;
        tk_alloc_init(&ta, &al);
        ta.fail_at = fail;
        recsys__mem m;
        assert_int_equal(recsys__mem_init(&m, &al), RECSYS_OK);
        recsys__featlog fl;
        recsys__featlog_init(&fl, &m);
        recsys_status st = recsys__featlog_put(&fl, lm, ov.num, "r", items, rows, 2);
        if (st == RECSYS_OK) {
            recsys__featlog_outcome(&fl, lm, ov.num, "r", 2, RECSYS_EVENT_LIKE);
            assert_int_equal(fl.learnt_pos, 1);
            recsys__featlog_free(&fl);
            assert_int_equal(ta.live, 0);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_int_equal(fl.n, 0);
        recsys__featlog_outcome(&fl, lm, ov.num, "r", 2, RECSYS_EVENT_LIKE);
        assert_int_equal(fl.learnt_pos, 0);
        recsys__featlog_free(&fl);
        assert_int_equal(ta.live, 0);
    }
    recsys__linear_free(lm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outcomes_are_learnt_once),
        cmocka_unit_test(a_failed_put_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
