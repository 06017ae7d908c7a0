/* test_interleave.c - team-draft interleaving (lib/experiment/interleave.c, and the public
 * recsys_interleave / recsys_interleave_test over item ids): the invariants
 * of every interleaved list (no repeats, the teams within one of each other, each team's
 * items in its ranker's order, every item from one of the lists), identical and disjoint
 * lists, exhausted lists and the cap, determinism in the seed, the credit of clicks, and a
 * simulation in which the better ranker wins significantly while two equal rankers do not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "experiment/experiment.h"
#include "recsys.h"

static size_t index_of(const uint64_t *v, size_t n, uint64_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return i;
    return SIZE_MAX;
}

/* Checks the invariants of a team-draft list. */
static void check(const uint64_t *a, size_t na, const uint64_t *b, size_t nb, size_t k,
                  const uint64_t *out, const uint8_t *team, size_t n)
{
    size_t ca = 0, cb = 0, last_a = 0, last_b = 0;
    assert_true(n <= k);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(index_of(out, i, out[i]), SIZE_MAX); /* no repeat */
        size_t at = index_of(team[i] ? b : a, team[i] ? nb : na, out[i]);
        assert_int_not_equal(at, SIZE_MAX); /* from its team's list */
        if (team[i]) {
            assert_true(cb == 0 || at > last_b); /* in b's order */
            last_b = at;
            cb++;
        } else {
            assert_true(ca == 0 || at > last_a);
            last_a = at;
            ca++;
        }
        /* after each complete round the teams are even; within a round one ahead at most
         * (unless a list ran out) */
        if (index_of(a, na, out[i]) != SIZE_MAX && index_of(b, nb, out[i]) != SIZE_MAX)
            assert_true(ca > cb ? ca - cb <= 1 : cb - ca <= 1);
    }
    /* nothing left out that could have been taken */
    if (n < k) {
        for (size_t i = 0; i < na; i++)
            assert_int_not_equal(index_of(out, n, a[i]), SIZE_MAX);
        for (size_t i = 0; i < nb; i++)
            assert_int_not_equal(index_of(out, n, b[i]), SIZE_MAX);
    }
}

static void invariants_over_random_lists(void **state)
{
    (void)state;
    uint64_t rng = 11;
    for (int trial = 0; trial < 2000; trial++) {
        uint64_t a[30], b[30], out[60];
        uint8_t team[60];
        size_t na = recsys__exp_rand(&rng) % 31, nb = recsys__exp_rand(&rng) % 31;
        /* distinct items per list from a small universe, so the lists overlap */
        for (size_t i = 0; i < na; i++)
            do
                a[i] = recsys__exp_rand(&rng) % 40;
            while (index_of(a, i, a[i]) != SIZE_MAX);
        for (size_t i = 0; i < nb; i++)
            do
                b[i] = recsys__exp_rand(&rng) % 40;
            while (index_of(b, i, b[i]) != SIZE_MAX);
        size_t k = recsys__exp_rand(&rng) % 61, n = 99;
        recsys__interleave_team_draft(a, na, b, nb, k, (uint64_t)trial, out, team, &n);
        check(a, na, b, nb, k, out, team, n);
        /* deterministic in the seed */
        uint64_t out2[60];
        uint8_t team2[60];
        size_t n2 = 0;
        recsys__interleave_team_draft(a, na, b, nb, k, (uint64_t)trial, out2, team2, &n2);
        assert_int_equal(n, n2);
        assert_memory_equal(out, out2, n * sizeof *out);
        assert_memory_equal(team, team2, n);
    }
}

static void identical_disjoint_and_exhausted_lists(void **state)
{
    (void)state;
    uint64_t a[5] = { 1, 2, 3, 4, 5 }, b[5] = { 6, 7, 8, 9, 10 }, out[10];
    uint8_t team[10];
    size_t n;
    /* identical: the list itself, the teams split evenly */
    recsys__interleave_team_draft(a, 5, a, 5, 4, 3, out, team, &n);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(out[i], a[i]);
    assert_int_equal(team[0] + team[1], 1);
    assert_int_equal(team[2] + team[3], 1);
    /* disjoint: rounds of one from each; all ten when k allows */
    recsys__interleave_team_draft(a, 5, b, 5, 10, 3, out, team, &n);
    assert_int_equal(n, 10);
    for (size_t r = 0; r < 5; r++) {
        assert_int_equal(team[2 * r] + team[2 * r + 1], 1);
        assert_true(out[2 * r] == a[r] || out[2 * r] == b[r]);
    }
    /* one list empty: the other alone, in order */
    recsys__interleave_team_draft(a, 0, b, 5, 3, 3, out, team, &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(out[i], b[i]);
        assert_int_equal(team[i], 1);
    }
    recsys__interleave_team_draft(a, 0, b, 0, 3, 3, out, team, &n);
    assert_int_equal(n, 0);
    recsys__interleave_team_draft(a, 5, b, 5, 0, 3, out, team, &n);
    assert_int_equal(n, 0);
    /* the coin: over seeds, each ranker picks first about half of the time */
    int a_first = 0;
    for (uint64_t s = 0; s < 1000; s++) {
        recsys__interleave_team_draft(a, 5, b, 5, 2, s, out, team, &n);
        a_first += team[0] == 0;
    }
    assert_true(a_first > 430 && a_first < 570);
}

static void credit(void **state)
{
    (void)state;
    uint8_t team[4] = { 0, 1, 1, 0 };
    uint8_t none[4] = { 0, 0, 0, 0 }, one_a[4] = { 1, 0, 0, 0 }, two_b[4] = { 1, 1, 1, 0 },
            tie[4] = { 0, 1, 0, 1 };
    assert_int_equal(recsys__interleave_outcome(team, none, 4), 0);
    assert_int_equal(recsys__interleave_outcome(team, one_a, 4), 1);
    assert_int_equal(recsys__interleave_outcome(team, two_b, 4), -1);
    assert_int_equal(recsys__interleave_outcome(team, tie, 4), 0);
}

/* Sessions in which the user clicks each item of their (random) relevant set. Ranker a
 * puts relevant items first with probability good_a, ranker b with good_b. */
static double simulate(double good_a, double good_b, uint64_t seed, int *wins_a, int *wins_b)
{
    uint64_t rng = seed;
    int wa = 0, wb = 0;
    for (int s = 0; s < 400; s++) {
        uint8_t rel[50] = { 0 };
        for (int i = 0; i < 50; i++)
            rel[i] = recsys__exp_rand(&rng) % 10 == 0;
        uint64_t la[10], lb[10], out[10];
        uint8_t team[10], clicked[10];
        double good[2] = { good_a, good_b };
        uint64_t *lists[2] = { la, lb };
        for (int r = 0; r < 2; r++) { /* relevant items first with probability good[r] */
            size_t n = 0;
            for (int i = 0; i < 50 && n < 10; i++)
                if (rel[i] && (double)(recsys__exp_rand(&rng) % 1000) < good[r] * 1000 &&
                    index_of(lists[r], n, (uint64_t)i) == SIZE_MAX)
                    lists[r][n++] = (uint64_t)i;
            for (int i = 0; n < 10; i = (i + 7) % 50)
                if (index_of(lists[r], n, (uint64_t)i) == SIZE_MAX)
                    lists[r][n++] = (uint64_t)i;
        }
        size_t n;
        recsys__interleave_team_draft(la, 10, lb, 10, 10, (uint64_t)s, out, team, &n);
        for (size_t i = 0; i < n; i++)
            clicked[i] = rel[out[i]];
        int o = recsys__interleave_outcome(team, clicked, n);
        wa += o > 0;
        wb += o < 0;
    }
    *wins_a = wa;
    *wins_b = wb;
    return recsys__stat_sign_test((uint64_t)wa, (uint64_t)wb);
}

static void the_better_ranker_wins_significantly(void **state)
{
    (void)state;
    int wa, wb;
    double p = simulate(0.9, 0.3, 5, &wa, &wb);
    assert_true(wa > wb && p < 1e-6);
    p = simulate(0.3, 0.9, 5, &wa, &wb);
    assert_true(wb > wa && p < 1e-6);
    p = simulate(0.6, 0.6, 5, &wa, &wb);
    assert_true(p > 0.01);
}

static void public_call_on_ids(void **state)
{
    (void)state;
    const char *a[] = { "x1", "x2", "x3", "x4" }, *b[] = { "x3", "y1", "x1", "y2" };
    const char *out[8];
    uint8_t team[8];
    size_t n = 99;
    assert_int_equal(recsys_interleave(a, 4, b, 4, 8, 7, out, team, &n), RECSYS_OK);
    assert_int_equal(n, 6); /* x1 x2 x3 x4 y1 y2: the shared ids once */
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(out[i], out[j]);
        /* each entry points into the list of its team */
        const char *const *mine = team[i] ? b : a;
        bool found = false;
        for (size_t j = 0; j < 4; j++)
            found |= out[i] == mine[j];
        assert_true(found);
    }
    /* the same seed, the same list; the cap */
    const char *again[8];
    uint8_t team2[8];
    size_t n2;
    assert_int_equal(recsys_interleave(a, 4, b, 4, 8, 7, again, team2, &n2), RECSYS_OK);
    assert_int_equal(n2, n);
    for (size_t i = 0; i < n; i++)
        assert_true(again[i] == out[i] && team2[i] == team[i]);
    assert_int_equal(recsys_interleave(a, 4, b, 4, 3, 7, out, team, &n), RECSYS_OK);
    assert_int_equal(n, 3);
    assert_int_equal(recsys_interleave(a, 0, NULL, 0, 5, 7, NULL, NULL, &n), RECSYS_OK);
    assert_int_equal(n, 0);
    /* bad input, named */
    const char *dup[] = { "x1", "x2", "x1" }, *hole[] = { "x1", NULL };
    assert_int_equal(recsys_interleave(dup, 3, b, 4, 8, 7, out, team, &n), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "repeats 'x1'"));
    assert_int_equal(recsys_interleave(a, 4, hole, 2, 8, 7, out, team, &n), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "list b item 1"));
    assert_int_equal(recsys_interleave(NULL, 2, b, 4, 8, 7, out, team, &n), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_interleave(a, 4, b, 4, 8, 7, NULL, team, &n), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_interleave(a, 4, b, 4, 8, 7, out, team, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_interleave(a, RECSYS_INTERLEAVE_MAX + 1, b, 4, 8, 7, out, team, &n),
                     RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "at most"));
    double p = 0;
    assert_int_equal(recsys_interleave_test(10, 0, &p), RECSYS_OK);
    assert_true(fabs(p - 2.0 / 1024) < 1e-15);
    assert_int_equal(recsys_interleave_test(3, 3, NULL), RECSYS_E_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(invariants_over_random_lists),
        cmocka_unit_test(identical_disjoint_and_exhausted_lists),
        cmocka_unit_test(credit),
        cmocka_unit_test(the_better_ranker_wins_significantly),
        cmocka_unit_test(public_call_on_ids),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("experiment/interleave", tests, NULL, NULL);
}
