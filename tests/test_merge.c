/* test_merge.c - the merger of stage 2 (lib/retrieve/merge.c): per-source min-max
 * normalisation, weighted mean over the sources that answered, deduplication, provenance in
 * source order with ranks and raw scores, unsorted lists, and out-of-memory atomicity. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "retrieve/merge.h"
#include "support/fixture.h"

static const char *const names[] = { "a", "b", "c" };

/* Merges the lists (comma-separated ids, scored n..1 by fixture_cands; NULL = empty). */
static void merge3(fixture *f, recsys_candidates *out, const char *l0, const char *l1,
                   const char *l2, const double w[3])
{
    recsys_candidates lists[3];
    fixture_cands(f, &lists[0], l0);
    fixture_cands(f, &lists[1], l1);
    fixture_cands(f, &lists[2], l2);
    recsys__cands_init(out, &f->mem, &f->q, 0);
    out->source_names = names;
    out->nsources = 3;
    assert_int_equal(recsys__merge(out, lists, w, 3), RECSYS_OK);
    for (int k = 0; k < 3; k++)
        recsys__cands_free(&lists[k]);
}

static const recsys__cand *cand(fixture *f, recsys_candidates *c, const char *id)
{
    size_t i = fixture_cand_pos(f, c, id);
    assert_true(i != SIZE_MAX);
    return &c->v[i];
}

static void scores_are_weighted_means_of_normalised_scores(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_query(f, NULL, NULL, 100);
    recsys_candidates out;
    const double w[3] = { 1, 3, 0 };
    /* a: c_ml 3, c_dist 2, c_sys 1 -> 1, .5, 0; b: c_sys 2, l_ai 1 -> 1, 0; c: f_space */
    merge3(f, &out, "c_ml,c_dist,c_sys", "c_sys,l_ai", "f_space", w);
    assert_int_equal(out.n, 5); /* deduplicated */
    /* wsum = 1 + 3 + 0 (a source of weight 0 that answered counts 0) */
    assert_true(fabs(cand(f, &out, "c_ml")->score - 1.0 / 4) < 1e-12);
    assert_true(fabs(cand(f, &out, "c_dist")->score - 0.5 / 4) < 1e-12);
    assert_true(fabs(cand(f, &out, "c_sys")->score - (0 + 3.0) / 4) < 1e-12);
    assert_true(fabs(cand(f, &out, "l_ai")->score - 0.0) < 1e-12);
    assert_true(fabs(cand(f, &out, "f_space")->score - 0.0) < 1e-12);
    recsys__cands_free(&out);
    fixture_free(f);
}

static void provenance_keeps_source_order_ranks_and_raw_scores(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_query(f, NULL, NULL, 100);
    recsys_candidates out;
    const double w[3] = { 1, 1, 1 };
    merge3(f, &out, "l_ai,c_ml", "c_ml,f_space,l_ai", "l_ai", w);
    const recsys__cand *ai = cand(f, &out, "l_ai");
    assert_int_equal(ai->nprov, 3);
    const recsys__prov *p = &out.prov[ai->prov_off];
    for (int k = 0; k < 3; k++)
        assert_int_equal(p[k].source, k);
    assert_int_equal(p[0].rank, 0);
    assert_true(p[0].raw == 2.0f && p[0].norm == 1.0f);
    assert_int_equal(p[1].rank, 2);
    assert_true(p[1].raw == 1.0f && p[1].norm == 0.0f);
    assert_int_equal(p[2].rank, 0);
    assert_true(p[2].norm == 1.0f); /* a one-item list normalises to 1 */
    const recsys__cand *ml = cand(f, &out, "c_ml");
    assert_int_equal(ml->nprov, 2);
    assert_int_equal(out.prov[ml->prov_off].source, 0);
    assert_int_equal(out.prov[ml->prov_off + 1].source, 1);
    assert_int_equal(out.prov[ml->prov_off + 1].rank, 0);
    const recsys__cand *sp = cand(f, &out, "f_space");
    assert_int_equal(sp->nprov, 1);
    assert_int_equal(out.prov[sp->prov_off].source, 1);
    /* every entry belongs to exactly one candidate */
    size_t total = 0;
    for (size_t i = 0; i < out.n; i++)
        total += out.v[i].nprov;
    assert_int_equal(total, out.nprov);
    assert_int_equal(total, 6);
    recsys__cands_free(&out);
    fixture_free(f);
}

/* A list that does not arrive best first is ranked by score (ties by item index). */
static void unsorted_lists_are_ranked(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_query(f, NULL, NULL, 100);
    recsys_candidates l, out;
    recsys__cands_init(&l, &f->mem, &f->q, 0);
    assert_int_equal(recsys__cands_add(&l, fixture_idx(f, "c_cook"), 1.0), RECSYS_OK);
    assert_int_equal(recsys__cands_add(&l, fixture_idx(f, "f_horror"), 5.0), RECSYS_OK);
    assert_int_equal(recsys__cands_add(&l, fixture_idx(f, "l_eu"), 3.0), RECSYS_OK);
    recsys__cands_init(&out, &f->mem, &f->q, 0);
    out.source_names = names;
    out.nsources = 1;
    const double w = 2;
    assert_int_equal(recsys__merge(&out, &l, &w, 1), RECSYS_OK);
    assert_int_equal(out.prov[cand(f, &out, "f_horror")->prov_off].rank, 0);
    assert_int_equal(out.prov[cand(f, &out, "l_eu")->prov_off].rank, 1);
    assert_int_equal(out.prov[cand(f, &out, "c_cook")->prov_off].rank, 2);
    assert_true(fabs(cand(f, &out, "l_eu")->score - 0.5) < 1e-12);
    recsys__cands_free(&l);
    recsys__cands_free(&out);
    fixture_free(f);
}

static void nothing_in_is_nothing_out(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_query(f, NULL, NULL, 100);
    recsys_candidates out;
    const double w[3] = { 1, 1, 1 };
    merge3(f, &out, NULL, NULL, NULL, w);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.nprov, 0);
    recsys__cands_free(&out);
    recsys__cands_init(&out, &f->mem, &f->q, 0);
    assert_int_equal(recsys__merge(&out, NULL, NULL, 0), RECSYS_OK);
    assert_int_equal(out.n, 0);
    recsys__cands_free(&out);
    fixture_free(f);
}

/* Every allocation of the merge can fail: NOMEM, nothing leaked, and the first success gives
 * what an unfailing merge gives. */
static void merge_out_of_memory(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_query(f, NULL, NULL, 100);
    recsys_candidates lists[2];
    fixture_cands(f, &lists[0], "c_ml,c_dist,c_sys,l_ai");
    fixture_cands(f, &lists[1], "l_ai,f_space,c_ml");
    const double w[2] = { 1, 2 };
    long n;
    for (n = 1;; n++) {
        recsys_candidates out;
        recsys__cands_init(&out, &f->oom, &f->q, 0);
        out.source_names = names;
        out.nsources = 2;
        long before = f->oom_stats.live;
        f->oom_stats.fail_at = n;
        recsys_status st = recsys__merge(&out, lists, w, 2);
        f->oom_stats.fail_at = 0;
        if (st == RECSYS_OK) {
            assert_int_equal(out.n, 5);
            assert_int_equal(out.nprov, 7);
            recsys__cands_free(&out);
            assert_int_equal(f->oom_stats.live, before);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        recsys__cands_free(&out);
        assert_int_equal(f->oom_stats.live, before);
    }
    assert_true(n > 3);
    recsys__cands_free(&lists[0]);
    recsys__cands_free(&lists[1]);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scores_are_weighted_means_of_normalised_scores),
        cmocka_unit_test(provenance_keeps_source_order_ranks_and_raw_scores),
        cmocka_unit_test(unsorted_lists_are_ranked),
        cmocka_unit_test(nothing_in_is_nothing_out),
        cmocka_unit_test(merge_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
