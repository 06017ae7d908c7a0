/* test_objectives.c - multi-objective ranking (lib/rank/linear.c heads, lib/rank/featlog.c):
 * which outcomes teach which head; a head learns apart from the main model and from the
 * other heads; end to end, the "linear" ranker learns from feedback that laptops get bought
 * and films skipped, and the per-request weights (rank.objective_*) reorder the list: the
 * purchase head puts laptops first, a negative skip weight puts films last, the defaults
 * give exactly the single-model order, and an experiment arm's weights apply to its users.
 * Saved and read back: the change count, recsys__linear_copy_heads / _assign_main (out of
 * memory included); an engine over the file store whose heads learnt online, refreshed and
 * reopened, ranks with every set of weights exactly as before (scores to the bit); training
 * keeps the heads, in the ranker and in the blob it saves; a damaged or truncated blob is a
 * warning at open and the engine ranks as with no saved model; a version 1 blob is used with
 * untrained heads. */
#include "testkit.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <xxhash.h>

#include "core/error.h"
#include "engine/blobs.h"
#include "engine/engine.h"
#include "rank/linear.h"
#include "support/fixture.h"

static void outcomes_map_to_heads(void **state)
{
    (void)state;
    assert_int_equal(recsys__linear_objectives(RECSYS_EVENT_CLICK, 0), 1u << RECSYS__OBJ_CLICK);
    assert_int_equal(recsys__linear_objectives(RECSYS_EVENT_VIEW, 0), 1u << RECSYS__OBJ_CLICK);
    assert_int_equal(recsys__linear_objectives(RECSYS_EVENT_PURCHASE, 0),
                     1u << RECSYS__OBJ_PURCHASE);
    assert_int_equal(recsys__linear_objectives(RECSYS_EVENT_WATCH_TIME, 30),
                     1u << RECSYS__OBJ_WATCH);
    assert_int_equal(recsys__linear_objectives(RECSYS_EVENT_DWELL, 0), 0);
    assert_int_equal(recsys__linear_objectives(RECSYS_EVENT_RATING, 4), 1u << RECSYS__OBJ_RATING);
    assert_int_equal(recsys__linear_objectives(RECSYS_EVENT_RATING, 3.5), 0);
    assert_int_equal(recsys__linear_objectives(RECSYS_EVENT_LIKE, 0), 1u << RECSYS__OBJ_RATING);
    assert_int_equal(recsys__linear_objectives(RECSYS_EVENT_SKIP, 0), 1u << RECSYS__OBJ_SKIP);
    assert_int_equal(recsys__linear_objectives(RECSYS_EVENT_DISLIKE, 0),
                     1u << RECSYS__OBJ_DISLIKE);
    assert_int_equal(recsys__linear_objectives(RECSYS_EVENT_IMPRESSION, 0), 0);
    assert_int_equal(recsys__linear_objectives(RECSYS_EVENT_SEARCH, 0), 0);
    assert_int_equal(recsys__linear_objectives(RECSYS_EVENT_ADD_TO_CART, 0), 0);
    assert_string_equal(recsys__objective_names[RECSYS__OBJ_SKIP], "skip");
}

static void heads_learn_apart(void **state)
{
    (void)state;
    const recsys__mem *m = &recsys__mem_default;
    recsys__linear_params p = { 0.1, 1, 0, 1 };
    recsys__linear *lm = NULL;
    assert_int_equal(recsys__linear_new(m, &p, &lm), RECSYS_OK);
    float a[RECSYS__NFEAT], b[RECSYS__NFEAT], rows[2 * RECSYS__NFEAT];
    for (size_t f = 0; f < RECSYS__NFEAT; f++)
        a[f] = b[f] = 0;
    a[0] = 1; /* the feature that tells a's items from b's */
    b[0] = 0;
    for (int i = 0; i < 400; i++) {
        assert_int_equal(recsys__linear_update_objective(lm, RECSYS__OBJ_PURCHASE, a, 1, 1),
                         RECSYS_OK);
        assert_int_equal(recsys__linear_update_objective(lm, RECSYS__OBJ_PURCHASE, b, 0, 1),
                         RECSYS_OK);
        assert_int_equal(recsys__linear_update_objective(lm, RECSYS__OBJ_SKIP, a, 0, 1),
                         RECSYS_OK);
        assert_int_equal(recsys__linear_update_objective(lm, RECSYS__OBJ_SKIP, b, 1, 1),
                         RECSYS_OK);
    }
    memcpy(rows, a, sizeof a);
    memcpy(rows + RECSYS__NFEAT, b, sizeof b);
    double pp[2], ps[2], pc[2], pm[2];
    assert_int_equal(recsys__linear_predict_objective_rows(lm, RECSYS__OBJ_PURCHASE, rows, 2, pp),
                     RECSYS_OK);
    assert_int_equal(recsys__linear_predict_objective_rows(lm, RECSYS__OBJ_SKIP, rows, 2, ps),
                     RECSYS_OK);
    assert_int_equal(recsys__linear_predict_objective_rows(lm, RECSYS__OBJ_CLICK, rows, 2, pc),
                     RECSYS_OK);
    recsys__linear_predict_rows(lm, rows, 2, pm);
    assert_true(pp[0] > 0.75 && pp[1] < 0.35 && pp[0] - pp[1] > 0.45);
    assert_true(ps[0] < 0.25 && ps[1] > 0.65 && ps[1] - ps[0] > 0.45);
    assert_true(pc[0] == 0.5 && pc[1] == 0.5); /* untouched head */
    assert_true(pm[0] == 0.5 && pm[1] == 0.5); /* the main model too */
    assert_int_equal(recsys__linear_updates(lm), 0);
    assert_int_equal(recsys__linear_objective_updates(lm, RECSYS__OBJ_PURCHASE), 800);
    assert_int_equal(recsys__linear_objective_updates(lm, 99), 0);
    /* bad arguments */
    assert_int_equal(recsys__linear_update_objective(lm, RECSYS__NOBJ, a, 1, 1),
                     RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "objective"));
    assert_int_equal(recsys__linear_update_objective(lm, 0, a, 2, 1), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__linear_update_objective(lm, 0, a, 1, -1), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__linear_predict_objective_rows(lm, -1, rows, 2, pp),
                     RECSYS_E_INVALID_ARG);
    /* assign: a model without heads (trained or loaded) keeps the destination's heads; one
     * with heads hands them over */
    recsys__linear *fresh = NULL;
    assert_int_equal(recsys__linear_new(m, &p, &fresh), RECSYS_OK);
    recsys__linear_assign(lm, fresh);
    assert_int_equal(recsys__linear_objective_updates(lm, RECSYS__OBJ_PURCHASE), 800);
    recsys__linear_assign(fresh, lm);
    assert_int_equal(recsys__linear_objective_updates(fresh, RECSYS__OBJ_SKIP), 800);
    double pf[2];
    assert_int_equal(recsys__linear_predict_objective_rows(fresh, RECSYS__OBJ_PURCHASE, rows, 2,
                                                           pf), RECSYS_OK);
    assert_true(pf[0] == pp[0] && pf[1] == pp[1]);
    /* the blend weights */
    double opt[RECSYS_OPT_SLOTS], w[1 + RECSYS__NOBJ];
    recsys__optvals v;
    recsys__optvals_defaults(&v);
    memcpy(opt, v.num, sizeof opt);
    recsys__optvals_free(&v, m);
    assert_false(recsys__linear_blend(opt, w));
    assert_true(w[0] == 1 && w[1 + RECSYS__OBJ_SKIP] == 0);
    opt[recsys__opt_slot(RECSYS_OPT_RANK_OBJ_SKIP)] = -2;
    assert_true(recsys__linear_blend(opt, w));
    assert_true(w[1 + RECSYS__OBJ_SKIP] == -2);
    recsys__linear_free(fresh);
    recsys__linear_free(lm);
}

/* A row whose feature 0 is v, the rest 0. */
static void row_of(float *row, float v)
{
    for (size_t f = 0; f < RECSYS__NFEAT; f++)
        row[f] = 0;
    row[0] = v;
}

/* Head k's and the main model's predictions of rows a (feature 0 = 1) and b (0). */
static void predictions(const recsys__linear *lm, double out[1 + RECSYS__NOBJ][2])
{
    float rows[2 * RECSYS__NFEAT];
    row_of(rows, 1);
    row_of(rows + RECSYS__NFEAT, 0);
    recsys__linear_predict_rows(lm, rows, 2, out[0]);
    for (int k = 0; k < RECSYS__NOBJ; k++)
        assert_int_equal(recsys__linear_predict_objective_rows(lm, k, rows, 2, out[1 + k]),
                         RECSYS_OK);
}

static void assign_main_copy_heads_and_changes(void **state)
{
    (void)state;
    fixture *f = fixture_new(); /* its failing allocator */
    recsys__linear_params p = { 0.1, 1, 0, 1 }, q = { 0.3, 1, 0.1, 2 };
    recsys__linear *heads = NULL, *main_only = NULL, *dst = NULL;
    assert_int_equal(recsys__linear_new(&recsys__mem_default, &p, &heads), RECSYS_OK);
    assert_int_equal(recsys__linear_new(&recsys__mem_default, &q, &main_only), RECSYS_OK);
    assert_int_equal(recsys__linear_new(&f->oom, &p, &dst), RECSYS_OK);
    float a[RECSYS__NFEAT], b[RECSYS__NFEAT];
    row_of(a, 1);
    row_of(b, 0);
    /* the change count: one per example learnt (main or head) and per new parameters;
     * nothing for a weight-0 example, a rejected call or the same parameters again */
    assert_int_equal(recsys__linear_changes(heads), 0);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(recsys__linear_update_objective(heads, RECSYS__OBJ_PURCHASE, a, 1, 1),
                         RECSYS_OK);
        assert_int_equal(recsys__linear_update_objective(heads, RECSYS__OBJ_DISLIKE, b, 1, 2),
                         RECSYS_OK);
    }
    assert_int_equal(recsys__linear_changes(heads), 100);
    assert_int_equal(recsys__linear_update_objective(heads, 0, a, 1, 0), RECSYS_OK);
    assert_int_equal(recsys__linear_update_objective(heads, 0, a, 3, 1), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__linear_set_params(heads, &p), RECSYS_OK);
    assert_int_equal(recsys__linear_changes(heads), 100);
    for (int i = 0; i < 30; i++)
        assert_int_equal(recsys__linear_update(main_only, a, i % 2, 1), RECSYS_OK);
    assert_int_equal(recsys__linear_changes(main_only), 30);
    assert_int_equal(recsys__linear_set_params(main_only, &p), RECSYS_OK);
    assert_int_equal(recsys__linear_set_params(main_only, &q), RECSYS_OK);
    assert_int_equal(recsys__linear_changes(main_only), 32);
    double ph[1 + RECSYS__NOBJ][2], pm[1 + RECSYS__NOBJ][2], pd[1 + RECSYS__NOBJ][2];
    predictions(heads, ph);
    predictions(main_only, pm);

    /* copy_heads: every head (learnt or not) of src, dst's main model untouched; out of
     * memory changes nothing */
    assert_int_equal(recsys__linear_update(dst, b, 1, 1), RECSYS_OK);
    assert_int_equal(recsys__linear_update_objective(dst, RECSYS__OBJ_CLICK, b, 1, 1),
                     RECSYS_OK);
    double before[1 + RECSYS__NOBJ][2];
    predictions(dst, before);
    uint64_t seen = 0, c0 = recsys__linear_changes(dst);
    f->oom_stats.fail_at = 1;
    assert_int_equal(recsys__linear_copy_heads(dst, heads, &seen), RECSYS_E_NOMEM);
    f->oom_stats.fail_at = 0;
    predictions(dst, pd);
    assert_memory_equal(pd, before, sizeof pd);
    assert_int_equal(recsys__linear_changes(dst), c0);
    assert_int_equal(f->oom_stats.live, 1); /* the model itself */
    assert_int_equal(recsys__linear_copy_heads(dst, heads, &seen), RECSYS_OK);
    assert_int_equal(seen, 100);
    assert_int_equal(recsys__linear_changes(dst), c0 + 1);
    predictions(dst, pd);
    assert_memory_equal(pd[0], before[0], sizeof pd[0]);      /* main: dst's own */
    assert_memory_equal(pd[1], ph[1], RECSYS__NOBJ * sizeof pd[1]); /* heads: src's */
    assert_int_equal(recsys__linear_objective_updates(dst, RECSYS__OBJ_CLICK), 0);
    assert_int_equal(recsys__linear_objective_updates(dst, RECSYS__OBJ_PURCHASE), 50);
    assert_int_equal(recsys__linear_updates(dst), 1);
    assert_int_equal(f->oom_stats.live, 1);
    assert_int_equal(recsys__linear_copy_heads(NULL, heads, &seen), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__linear_copy_heads(dst, dst, &seen), RECSYS_OK);
    assert_int_equal(seen, c0 + 1);

    /* assign_main: src's parameters and main model, dst's heads kept (their weights follow
     * from their z and n with the new parameters), one change */
    uint64_t now = recsys__linear_assign_main(dst, main_only);
    assert_int_equal(now, c0 + 2);
    assert_int_equal(recsys__linear_changes(dst), now);
    double phq[1 + RECSYS__NOBJ][2];
    assert_int_equal(recsys__linear_set_params(heads, &q), RECSYS_OK);
    predictions(heads, phq);
    assert_int_equal(recsys__linear_set_params(heads, &p), RECSYS_OK);
    assert_true(memcmp(phq[1], ph[1], RECSYS__NOBJ * sizeof phq[1]) != 0);
    predictions(dst, pd);
    assert_memory_equal(pd[0], pm[0], sizeof pd[0]);
    assert_memory_equal(pd[1], phq[1], RECSYS__NOBJ * sizeof pd[1]);
    recsys__linear_params got;
    recsys__linear_get_params(dst, &got);
    assert_memory_equal(&got, &q, sizeof q);
    assert_int_equal(recsys__linear_updates(dst), 30);
    assert_int_equal(recsys__linear_assign_main(dst, dst), now);
    assert_int_equal(recsys__linear_assign_main(dst, NULL), now);
    assert_int_equal(recsys__linear_assign_main(NULL, dst), 0);
    /* assign (a loaded model): a source without learnt heads leaves dst's; under a failing
     * allocator the heads stay as they were and the main model is still assigned */
    recsys__linear_assign(dst, main_only);
    predictions(dst, pd);
    assert_memory_equal(pd[1], phq[1], RECSYS__NOBJ * sizeof pd[1]);
    recsys__linear *other = NULL;
    assert_int_equal(recsys__linear_new(&recsys__mem_default, &p, &other), RECSYS_OK);
    assert_int_equal(recsys__linear_update_objective(other, RECSYS__OBJ_SKIP, a, 1, 1),
                     RECSYS_OK);
    f->oom_stats.fail_at = 1;
    recsys__linear_assign(dst, other);
    f->oom_stats.fail_at = 0;
    assert_int_equal(recsys_last_status(), RECSYS_OK); /* a missed copy is no error */
    assert_int_equal(recsys__linear_objective_updates(dst, RECSYS__OBJ_SKIP), 0);
    predictions(dst, pd);
    assert_memory_equal(pd[1], ph[1], RECSYS__NOBJ * sizeof pd[1]);
    assert_int_equal(recsys__linear_updates(dst), 0); /* other's main model */
    recsys__linear_assign(dst, other);
    assert_int_equal(recsys__linear_objective_updates(dst, RECSYS__OBJ_SKIP), 1);
    assert_int_equal(recsys__linear_objective_updates(dst, RECSYS__OBJ_PURCHASE), 0);
    recsys__linear_free(other);
    recsys__linear_free(dst);
    recsys__linear_free(heads);
    recsys__linear_free(main_only);
    assert_int_equal(f->oom_stats.live, 0);
    fixture_free(f);
}

/* The answer to a "linear" request for user (top 12, impressions off) with the given
 * objective weights (NULL: none set); learn false: rank.linear_learn 0 for the request. */
static recsys_result *linear_list(recsys_engine *e, const char *user, const double *w,
                                  bool learn)
{
    static const int32_t keys[1 + RECSYS__NOBJ] = {
        RECSYS_OPT_RANK_OBJ_MAIN,   RECSYS_OPT_RANK_OBJ_CLICK, RECSYS_OPT_RANK_OBJ_PURCHASE,
        RECSYS_OPT_RANK_OBJ_WATCH,  RECSYS_OPT_RANK_OBJ_RATING, RECSYS_OPT_RANK_OBJ_SKIP,
        RECSYS_OPT_RANK_OBJ_DISLIKE,
    };
    recsys_request *rq = NULL;
    recsys_result *res = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_user(rq, user), RECSYS_OK);
    assert_int_equal(recsys_request_set_ranker(rq, "linear"), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, 12), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    if (!learn)
        assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_RANK_LINEAR_LEARN, 0), RECSYS_OK);
    for (int k = 0; w && k <= RECSYS__NOBJ; k++)
        assert_int_equal(recsys_request_set_double(rq, keys[k], w[k]), RECSYS_OK);
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
    recsys_request_free(rq);
    return res;
}

/* The ids of a "linear" list for user with the given objective weights (NULL: none set),
 * joined by ','; impressions off. */
static const char *ranked(recsys_engine *e, const char *user, const double *w)
{
    static char buf[256]; /* test-only scratch */
    recsys_result *res = linear_list(e, user, w, true);
    buf[0] = '\0';
    for (size_t i = 0; i < recsys_result_count(res); i++) {
        strcat(buf, i ? "," : "");
        strcat(buf, recsys_result_item_id(res, i));
    }
    recsys_result_free(res);
    return buf;
}

/* Laptops (l*) get bought and films (f*) skipped in every list "linear" shows. */
static void teach(recsys_engine *e, int requests)
{
    char user[32];
    for (int r = 0; r < requests; r++) {
        snprintf(user, sizeof user, "shopper-%d", r); /* new each time: nothing filtered */
        recsys_request *rq = NULL;
        recsys_result *res = NULL;
        assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
        assert_int_equal(recsys_request_set_user(rq, user), RECSYS_OK);
        assert_int_equal(recsys_request_set_ranker(rq, "linear"), RECSYS_OK);
        assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, 12), RECSYS_OK);
        assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
        for (size_t i = 0; i < recsys_result_count(res); i++) {
            const char *id = recsys_result_item_id(res, i);
            if (id[0] != 'l' && id[0] != 'f')
                continue;
            recsys_event ev;
            recsys_event_init(&ev);
            ev.user_id = user;
            ev.item_id = id;
            ev.request_id = recsys_result_request_id(res);
            ev.position = (int32_t)i;
            ev.type = id[0] == 'l' ? RECSYS_EVENT_PURCHASE : RECSYS_EVENT_SKIP;
            assert_int_equal(recsys_feedback(e, &ev), RECSYS_OK);
        }
        recsys_result_free(res);
        recsys_request_free(rq);
    }
}

/* The position of the first item of id prefix c in a list, of the last, and how many items
 * with the prefix and in all there are. */
static int nwith, nall;
static void span(const char *list, char c, int *first, int *last)
{
    int pos = 0;
    *first = -1;
    *last = -1;
    nwith = nall = 0;
    for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        nall++;
        nwith += *p == c;
    }
    for (const char *p = list; *p; pos++) {
        if (*p == c) {
            if (*first < 0)
                *first = pos;
            *last = pos;
        }
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
}

static void per_request_and_per_arm_weights_reorder(void **state)
{
    (void)state;
    recsys_engine *e = tk_engine(NULL, NULL);
    /* the films would be skipped, the laptops bought: after a full turn of the feature log
     * (1024 lists) every head has seen positives and negatives */
    for (size_t i = 0; i < tk_nitems; i++) /* every item popular: every list shows all 12 */
        tk_feedback(e, "seed-user", tk_item_ids[i], RECSYS_EVENT_VIEW, TK_NOW - 100);
    assert_true(strlen(ranked(e, "newcomer", NULL)) >= 8 * 2 + 7); /* the eligible items */
    teach(e, 1100);
    assert_true(recsys__linear_objective_updates(e->linear, RECSYS__OBJ_PURCHASE) > 1000);
    assert_true(recsys__linear_objective_updates(e->linear, RECSYS__OBJ_SKIP) > 1000);
    const char *u = "newcomer";
    char base[256], explicit_defaults[256];
    snprintf(base, sizeof base, "%s", ranked(e, u, NULL));
    double defaults[1 + RECSYS__NOBJ] = { 1, 0, 0, 0, 0, 0, 0 };
    snprintf(explicit_defaults, sizeof explicit_defaults, "%s", ranked(e, u, defaults));
    assert_string_equal(base, explicit_defaults); /* the defaults: the single-model order */

    double buy[1 + RECSYS__NOBJ] = { 0, 0, 1, 0, 0, 0, 0 };
    const char *l = ranked(e, u, buy);
    int first, last;
    span(l, 'l', &first, &last);
    print_message("purchase head: %s\n", l);
    assert_true(nwith >= 2);
    assert_int_equal(first, 0);
    assert_int_equal(last, nwith - 1); /* the laptops first */

    double no_skip[1 + RECSYS__NOBJ] = { 0, 0, 0, 0, 0, -1, 0 };
    l = ranked(e, u, no_skip);
    print_message("skip head, weight -1: %s\n", l);
    span(l, 'f', &first, &last);
    assert_true(nwith >= 2);
    assert_int_equal(last, nall - 1); /* the films last */
    assert_int_equal(first, nall - nwith);

    /* an experiment arm sets the weights for its users */
    const char *def = "{\"name\":\"mo\",\"salt\":\"mo\",\"arms\":[{\"name\":\"c\",\"percent\":50},"
                      "{\"name\":\"buy\",\"percent\":50,\"options\":{\"rank.objective_main\":0,"
                      "\"rank.objective_purchase\":1}}]}";
    assert_int_equal(recsys_experiment_set(e, def, strlen(def)), RECSYS_OK);
    int checked[2] = { 0, 0 };
    char user[32], arm[64];
    for (int i = 0; i < 40 && (!checked[0] || !checked[1]); i++) {
        snprintf(user, sizeof user, "visitor-%d", i);
        assert_int_equal(recsys_experiment_assign(e, "mo", user, arm, sizeof arm, NULL),
                         RECSYS_OK);
        bool treat = !strcmp(arm, "buy");
        char plain[256];
        snprintf(plain, sizeof plain, "%s", ranked(e, user, NULL));
        recsys_request *rq = NULL;
        recsys_result *res = NULL;
        assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
        assert_int_equal(recsys_request_set_user(rq, user), RECSYS_OK);
        assert_int_equal(recsys_request_set_ranker(rq, "linear"), RECSYS_OK);
        assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, 12), RECSYS_OK);
        assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
        assert_int_equal(recsys_experiment_recommend(e, "mo", rq, &res), RECSYS_OK);
        char got[256] = "";
        for (size_t k = 0; k < recsys_result_count(res); k++) {
            strcat(got, k ? "," : "");
            strcat(got, recsys_result_item_id(res, k));
        }
        recsys_result_free(res);
        recsys_request_free(rq);
        if (treat) {
            span(got, 'l', &first, &last);
            assert_true(nwith >= 1 && first == 0 && last == nwith - 1);
        } else {
            assert_string_equal(got, plain);
        }
        checked[treat] = 1;
    }
    assert_true(checked[0] && checked[1]);
    recsys_engine_free(e);
}

/* ------------------------------------------------------------ saved and read back */

/* The "linear" list for user with weights w (NULL: none), every item with its score's exact
 * bits ("id:hexfloat,..."), without learning from it (rank.linear_learn 0 for the request:
 * ranking for the comparison must not move the model). Into buf[cap]. */
static const char *exact(recsys_engine *e, const char *user, const double *w, char *buf,
                         size_t cap)
{
    recsys_result *res = linear_list(e, user, w, false);
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < recsys_result_count(res); i++) {
        int k = snprintf(buf + at, cap - at, "%s%s:%a", i ? "," : "",
                         recsys_result_item_id(res, i), recsys_result_score(res, i));
        assert_true(k > 0 && (size_t)k < cap - at);
        at += (size_t)k;
    }
    recsys_result_free(res);
    return buf;
}

static recsys_engine *open_file(const char *dir, bool load)
{
    recsys_store_vtable vt;
    recsys_store_vtable_init(&vt);
    assert_int_equal(recsys_store_file_new(dir, NULL, &vt), RECSYS_OK);
    if (load)
        return tk_engine(NULL, &vt);
    RECSYS_INIT(recsys_engine_opts, o, .seed = 42, .store = &vt);
    recsys_engine *e = NULL;
    assert_int_equal(recsys_engine_new(&o, &e), RECSYS_OK);
    return e;
}

/* An engine over a new file store in dir whose heads learnt online (every item popular, so
 * that every list shows all 12; then laptops bought and films skipped in 1100 lists). */
static recsys_engine *taught(const char *dir)
{
    recsys_engine *e = open_file(dir, true);
    for (size_t i = 0; i < tk_nitems; i++)
        tk_feedback(e, "seed-user", tk_item_ids[i], RECSYS_EVENT_VIEW, TK_NOW - 100);
    teach(e, 1100);
    return e;
}

/* Reopens the file store in dir as an engine, clock at TK_NOW, refreshed; *warning the
 * engine's warning after opening ("" for none; cap 512). */
static recsys_engine *reopen(const char *dir, char *warning)
{
    recsys_engine *e = open_file(dir, false);
    snprintf(warning, 512, "%s", recsys_last_status() == RECSYS_OK ? "" : recsys_last_error());
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW), RECSYS_OK);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    return e;
}

/* The weights the restart tests rank with: the main model alone, purchase, skip -1, a mix. */
#define NW 4
static const double W[NW][1 + RECSYS__NOBJ] = {
    { 1, 0, 0, 0, 0, 0, 0 },
    { 0, 0, 1, 0, 0, 0, 0 },
    { 0, 0, 0, 0, 0, -1, 0 },
    { 0.5, 0.25, 2, 0.5, 0.5, -1, -0.5 },
};

/* The model's saved blob, loaded (asserts it is a version 2 form). */
static recsys__linear *saved_model(recsys_engine *e)
{
    void *data = NULL;
    size_t len = 0;
    assert_int_equal(recsys__engine_blob_get(e, "ranker.linear", &data, &len), RECSYS_OK);
    assert_int_equal(len, RECSYS__LINEAR_BYTES);
    recsys__linear *lm = NULL;
    assert_int_equal(recsys__linear_load(&recsys__mem_default, data, len, &lm), RECSYS_OK);
    recsys__free(&e->mem, data);
    return lm;
}

/* Asserts a and b hold the same heads and main model (predictions on the rows of
 * predictions(), and update counts). */
static void same_model(const recsys__linear *a, const recsys__linear *b)
{
    double pa[1 + RECSYS__NOBJ][2], pb[1 + RECSYS__NOBJ][2];
    predictions(a, pa);
    predictions(b, pb);
    assert_memory_equal(pa, pb, sizeof pa);
    assert_int_equal(recsys__linear_updates(a), recsys__linear_updates(b));
    for (int k = 0; k < RECSYS__NOBJ; k++)
        assert_int_equal(recsys__linear_objective_updates(a, k),
                         recsys__linear_objective_updates(b, k));
}

static void heads_survive_a_restart(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_engine *e = taught(dir);
    for (int k = RECSYS__OBJ_PURCHASE; k <= RECSYS__OBJ_SKIP; k += RECSYS__OBJ_SKIP - 1)
        assert_true(recsys__linear_objective_updates(e->linear, k) > 1000);
    assert_int_equal(recsys_refresh(e), RECSYS_OK); /* saves what was learnt */
    assert_int_equal(recsys_last_status(), RECSYS_OK);
    assert_true(atomic_load(&e->linear_saved) == recsys__linear_changes(e->linear));
    recsys__linear *blob = saved_model(e);
    same_model(blob, e->linear);
    recsys__linear_free(blob);
    static char before[NW][2][1024], after[1024];
    const char *users[2] = { "newcomer", "u-film" };
    for (int w = 0; w < NW; w++)
        for (int u = 0; u < 2; u++)
            exact(e, users[u], W[w], before[w][u], sizeof before[w][u]);
    print_message("before, purchase head: %s\n", before[1][0]);
    assert_string_equal(before[1][0], exact(e, "newcomer", W[1], after, sizeof after));
    /* the purchase head puts the laptops first (untrained heads could not: 0.5 for all) */
    assert_true(before[1][0][0] == 'l');
    assert_true(strcmp(before[0][0], before[1][0]) != 0);
    recsys_engine_free(e);

    /* reopened: no warning, the same model, and every list the same to the score's bits */
    char warning[512];
    e = reopen(dir, warning);
    assert_string_equal(warning, "");
    for (int w = 0; w < NW; w++)
        for (int u = 0; u < 2; u++)
            assert_string_equal(before[w][u], exact(e, users[u], W[w], after, sizeof after));
    blob = saved_model(e);
    same_model(blob, e->linear);
    recsys__linear_free(blob);
    /* nothing learnt since it opened: a refresh does not write it again */
    assert_true(atomic_load(&e->linear_saved) == recsys__linear_changes(e->linear));
    recsys_engine_free(e);
    tk_rm_rf(dir);
    free(dir);
}

/* recsys_ranker_train replaces the main model and keeps the heads learnt online, in the
 * ranker and in the blob it saves (a restart right after training keeps them). */
static void training_keeps_the_heads_in_the_saved_model(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_engine *e = taught(dir);
    uint64_t purchase = recsys__linear_objective_updates(e->linear, RECSYS__OBJ_PURCHASE);
    double heads[1 + RECSYS__NOBJ][2], now[1 + RECSYS__NOBJ][2];
    predictions(e->linear, heads);
    static const char *const out[][2] = { { "u-backend", "c3" }, { "u-backend", "l2" },
                                          { "u-film", "f2" },    { "u-film", "f3" },
                                          { "u-ml", "c1" },      { "u-ml", "c3" } };
    recsys_event ev[6];
    for (size_t i = 0; i < 6; i++) {
        recsys_event_init(&ev[i]);
        ev[i].type = RECSYS_EVENT_CLICK;
        ev[i].user_id = out[i][0];
        ev[i].item_id = out[i][1];
        ev[i].timestamp = TK_NOW;
    }
    recsys_status st = recsys_ranker_train(e, "linear", ev, 6);
    if (st != RECSYS_OK)
        print_error("train: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
    /* the main model is the trained one; the heads are those learnt online */
    predictions(e->linear, now);
    assert_memory_equal(now[1], heads[1], RECSYS__NOBJ * sizeof now[1]);
    assert_true(memcmp(now[0], heads[0], sizeof now[0]) != 0);
    assert_int_equal(recsys__linear_objective_updates(e->linear, RECSYS__OBJ_PURCHASE),
                     purchase);
    /* the blob has both, and the engine knows it is up to date */
    recsys__linear *blob = saved_model(e);
    same_model(blob, e->linear);
    recsys__linear_free(blob);
    assert_true(atomic_load(&e->linear_saved) == recsys__linear_changes(e->linear));
    static char before[NW][1024], after[1024];
    for (int w = 0; w < NW; w++)
        exact(e, "newcomer", W[w], before[w], sizeof before[w]);
    recsys_engine_free(e); /* no refresh after training */
    char warning[512];
    e = reopen(dir, warning);
    assert_string_equal(warning, "");
    predictions(e->linear, now);
    assert_memory_equal(now[1], heads[1], RECSYS__NOBJ * sizeof now[1]);
    for (int w = 0; w < NW; w++)
        assert_string_equal(before[w], exact(e, "newcomer", W[w], after, sizeof after));
    recsys_engine_free(e);
    tk_rm_rf(dir);
    free(dir);
}

/* A damaged or truncated saved model: the engine opens, warns naming the blob and the
 * problem, and ranks without it (every head and the main model untrained), as for any
 * saved ranker model that cannot be read; a version 1 blob is used, heads untrained. */
static void damaged_saved_heads_are_reported_not_used(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_engine *e = taught(dir);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    void *data = NULL;
    size_t len = 0;
    assert_int_equal(recsys__engine_blob_get(e, "ranker.linear", &data, &len), RECSYS_OK);
    unsigned char *good = malloc(len);
    assert_non_null(good);
    memcpy(good, data, len);
    recsys__free(&e->mem, data);
    static char plain[NW][1024], after[1024];
    recsys_engine_free(e);
    /* the lists with no saved model (the blob removed): untrained main model and heads */
    recsys_store_vtable vt;
    recsys_store_vtable_init(&vt);
    assert_int_equal(recsys_store_file_new(dir, NULL, &vt), RECSYS_OK);
    assert_int_equal(vt.put_blob(vt.ctx, "ranker.linear", NULL, 0), RECSYS_OK);
    vt.destroy(vt.ctx);
    char warning[512];
    e = reopen(dir, warning);
    assert_string_equal(warning, "");
    assert_int_equal(recsys__linear_updates(e->linear), 0);
    for (int w = 0; w < NW; w++)
        exact(e, "newcomer", W[w], plain[w], sizeof plain[w]);
    recsys_engine_free(e);

    struct {
        size_t at, len; /* a byte flipped at 'at' (len: the blob cut to len bytes) */
        const char *what;
    } cases[] = {
        { len / 2, len, "checksum" },          /* a head's byte */
        { 0, len - 100, "truncated" },         /* cut inside the last head */
        { 0, RECSYS__LINEAR_BYTES_V1, "truncated" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        unsigned char *bad = malloc(len);
        assert_non_null(bad);
        memcpy(bad, good, len);
        if (cases[c].at)
            bad[cases[c].at] ^= 0x10;
        recsys_store_vtable_init(&vt);
        assert_int_equal(recsys_store_file_new(dir, NULL, &vt), RECSYS_OK);
        assert_int_equal(vt.put_blob(vt.ctx, "ranker.linear", bad, cases[c].len), RECSYS_OK);
        vt.destroy(vt.ctx);
        free(bad);
        e = reopen(dir, warning);
        print_message("warning: %s\n", warning);
        assert_non_null(strstr(warning, "ranker.linear"));
        assert_non_null(strstr(warning, cases[c].what));
        for (int k = 0; k < RECSYS__NOBJ; k++)
            assert_int_equal(recsys__linear_objective_updates(e->linear, k), 0);
        for (int w = 0; w < NW; w++)
            assert_string_equal(plain[w], exact(e, "newcomer", W[w], after, sizeof after));
        recsys_engine_free(e);
    }
    /* a version 1 blob (the good model's main part, as builds before this one saved it):
     * used without a warning, its heads untrained */
    unsigned char v1[RECSYS__LINEAR_BYTES_V1];
    memcpy(v1, good, sizeof v1);
    v1[4] = 1;
    uint64_t h = XXH3_64bits(v1, sizeof v1 - 8);
    for (int k = 0; k < 8; k++)
        v1[sizeof v1 - 8 + k] = (unsigned char)(h >> (8 * k));
    recsys_store_vtable_init(&vt);
    assert_int_equal(recsys_store_file_new(dir, NULL, &vt), RECSYS_OK);
    assert_int_equal(vt.put_blob(vt.ctx, "ranker.linear", v1, sizeof v1), RECSYS_OK);
    vt.destroy(vt.ctx);
    e = reopen(dir, warning);
    assert_string_equal(warning, "");
    recsys__linear *g = NULL;
    assert_int_equal(recsys__linear_load(&recsys__mem_default, good, len, &g), RECSYS_OK);
    assert_int_equal(recsys__linear_updates(e->linear), recsys__linear_updates(g));
    for (int k = 0; k < RECSYS__NOBJ; k++)
        assert_int_equal(recsys__linear_objective_updates(e->linear, k), 0);
    assert_string_equal(exact(e, "newcomer", W[0], plain[0], sizeof plain[0]),
                        exact(e, "newcomer", W[0], after, sizeof after));
    recsys__linear_free(g);
    recsys_engine_free(e);
    free(good);
    tk_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outcomes_map_to_heads),
        cmocka_unit_test(heads_learn_apart),
        cmocka_unit_test(per_request_and_per_arm_weights_reorder),
        cmocka_unit_test(assign_main_copy_heads_and_changes),
        cmocka_unit_test(heads_survive_a_restart),
        cmocka_unit_test(training_keeps_the_heads_in_the_saved_model),
        cmocka_unit_test(damaged_saved_heads_are_reported_not_used),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("rank/objectives", tests, NULL, NULL);
}
