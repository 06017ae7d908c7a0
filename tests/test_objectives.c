/* test_objectives.c - multi-objective ranking (lib/rank/linear.c heads, lib/rank/featlog.c):
 * which outcomes teach which head; a head learns apart from the main model and from the
 * other heads; end to end, the "linear" ranker learns from feedback that laptops get bought
 * and films skipped, and the per-request weights (rank.objective_*) reorder the list: the
 * purchase head puts laptops first, a negative skip weight puts films last, the defaults
 * give exactly the single-model order, and an experiment arm's weights apply to its users. */
#include "testkit.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "engine/engine.h"
#include "rank/linear.h"

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

/* The ids of a "linear" list for user with the given objective weights (NULL: none set),
 * joined by ','; impressions off. */
static const char *ranked(recsys_engine *e, const char *user, const double *w)
{
    static char buf[256]; /* test-only scratch */
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
    for (int k = 0; w && k <= RECSYS__NOBJ; k++)
        assert_int_equal(recsys_request_set_double(rq, keys[k], w[k]), RECSYS_OK);
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
    buf[0] = '\0';
    for (size_t i = 0; i < recsys_result_count(res); i++) {
        strcat(buf, i ? "," : "");
        strcat(buf, recsys_result_item_id(res, i));
    }
    recsys_result_free(res);
    recsys_request_free(rq);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outcomes_map_to_heads),
        cmocka_unit_test(heads_learn_apart),
        cmocka_unit_test(per_request_and_per_arm_weights_reorder),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("rank/objectives", tests, NULL, NULL);
}
