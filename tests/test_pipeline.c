/* test_pipeline.c - integration: the whole recommend path over the built-in plug-ins, with
 * the rules every list must obey, grounded explanations, feedback that changes the lists,
 * durable reopen, and forgetting a user. */
#include "testkit.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static int setup(void **state)
{
    *state = tk_engine(NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    recsys_engine_free(*state);
    return 0;
}

/* Recommends for user (NULL = anonymous) with an optional query; impressions off unless
 * log is set. */
static recsys_result *rec(recsys_engine *e, const char *user, const char *query, int top, bool log)
{
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    if (user)
        assert_int_equal(recsys_request_set_user(rq, user), RECSYS_OK);
    if (query)
        assert_int_equal(recsys_request_set_query(rq, query), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, top), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, log), RECSYS_OK);
    recsys_result *res = NULL;
    recsys_status st = recsys_recommend(e, rq, &res);
    if (st != RECSYS_OK)
        print_error("recommend: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
    recsys_request_free(rq);
    return res;
}

static bool contains(const recsys_result *r, const char *id)
{
    for (size_t i = 0; i < recsys_result_count(r); i++)
        if (strcmp(recsys_result_item_id(r, i), id) == 0)
            return true;
    return false;
}

static void lists_obey_every_rule(void **state)
{
    recsys_engine *e = *state;
    for (size_t u = 0; u < tk_nusers; u++) {
        recsys_result *r = rec(e, tk_user_ids[u], NULL, 12, false);
        assert_true(recsys_result_count(r) > 0);
        assert_false(contains(r, "l3")); /* unavailable */
        if (strcmp(tk_user_ids[u], "u-backend") != 0)
            assert_false(contains(r, "f2")); /* 18+: u-film is 15, u-ml and u-new unknown */
        if (strcmp(tk_user_ids[u], "u-film") != 0)
            assert_false(contains(r, "f4")); /* shown in FR only */
        recsys_result_free(r);
    }
    recsys_result *r = rec(e, "u-film", NULL, 12, false);
    assert_false(contains(r, "f5")); /* disliked */
    assert_false(contains(r, "f1")); /* already watched */
    recsys_result_free(r);
    r = rec(e, "u-backend", NULL, 12, false);
    assert_false(contains(r, "c1")); /* already liked */
    recsys_result_free(r);
    r = rec(e, NULL, NULL, 12, false); /* anonymous: unknown age and region */
    assert_false(contains(r, "f2"));
    assert_false(contains(r, "f4"));
    recsys_result_free(r);
}

static void results_carry_scores_sources_and_grounded_explanations(void **state)
{
    recsys_engine *e = *state;
    recsys_result *r = rec(e, "u-backend", NULL, 5, false);
    size_t n = recsys_result_count(r);
    assert_true(n >= 3);
    for (size_t i = 0; i < n; i++) {
        const char *id = recsys_result_item_id(r, i);
        if (i)
            assert_true(recsys_result_score(r, i - 1) >= recsys_result_score(r, i));
        assert_true(recsys_result_source_count(r, i) >= 1);
        const char *expl = recsys_result_explanation(r, i);
        assert_true(strlen(expl) > 0);
        /* every piece of evidence names something real: check against the item's JSON */
        char *item = NULL;
        assert_int_equal(recsys_catalog_get_json(e, id, &item), RECSYS_OK);
        char *user = NULL;
        assert_int_equal(recsys_user_get_json(e, "u-backend", &user), RECSYS_OK);
        for (size_t j = 0; j < recsys_result_evidence_count(r, i); j++) {
            int32_t kind;
            const char *name, *value;
            assert_int_equal(recsys_result_evidence(r, i, j, &kind, &name, &value), RECSYS_OK);
            if (kind == RECSYS_EVIDENCE_HISTORY || kind == RECSYS_EVIDENCE_INTEREST)
                assert_non_null(strstr(user, value));
            else if (kind == RECSYS_EVIDENCE_ATTRIBUTE)
                assert_non_null(strstr(item, value));
        }
        recsys_string_free(item);
        recsys_string_free(user);
    }
    /* where the time went, per stage (the LLM stage does not exist yet: 0) */
    assert_true(recsys_result_stage_ns(r, RECSYS_STAGE_RETRIEVE) > 0);
    assert_true(recsys_result_stage_ns(r, RECSYS_STAGE_EXPLAIN) > 0);
    assert_true(recsys_result_stage_ns(r, RECSYS_STAGE_RESPOND) > 0);
    assert_int_equal(recsys_result_stage_ns(r, 6), 0);
    assert_int_equal(recsys_result_stage_ns(r, 42), 0);
    assert_int_equal(recsys_result_stage_ns(NULL, RECSYS_STAGE_RANK), 0);
    /* the backend user's top items are about what they follow */
    assert_true(contains(r, "c3"));
    char *js = NULL;
    assert_int_equal(recsys_result_to_json(r, &js), RECSYS_OK);
    assert_non_null(strstr(js, "\"request_id\""));
    assert_non_null(strstr(js, "\"evidence\""));
    recsys_string_free(js);
    recsys_result_free(r);
}

static void a_query_drives_the_search_source(void **state)
{
    recsys_engine *e = *state;
    recsys_result *r = rec(e, NULL, "distributed systems replication", 3, false);
    assert_true(recsys_result_count(r) >= 1);
    assert_string_equal(recsys_result_item_id(r, 0), "c1");
    bool search = false;
    for (size_t j = 0; j < recsys_result_source_count(r, 0); j++) {
        const char *name;
        assert_int_equal(recsys_result_source(r, 0, j, &name, NULL), RECSYS_OK);
        search |= strcmp(name, "search") == 0;
    }
    assert_true(search);
    recsys_result_free(r);
}

/* The query's words filter through the intent stage: a text attribute's value ("rtx 4070",
 * the catalog's "RTX 4070") and an excluded category ("anything but films"). */
static void a_query_names_values_and_excludes_categories(void **state)
{
    recsys_engine *e = *state;
    recsys_result *r = rec(e, NULL, "an rtx 4070", 10, false);
    assert_int_equal(recsys_result_count(r), 1);
    assert_string_equal(recsys_result_item_id(r, 0), "l1");
    recsys_result_free(r);
    /* the same list as the same text with intent off and the filter written by hand */
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_query(rq, "anything but films, under $100"), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, 10), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LLM_INTENT, 0), RECSYS_OK);
    recsys_rule rule;
    recsys_rule_init(&rule);
    rule.kind = RECSYS_RULE_FILTER;
    rule.expr = "category != \"film\" && attr(\"price\") < 100";
    assert_int_equal(recsys_request_add_rule(rq, &rule), RECSYS_OK);
    recsys_result *want = NULL;
    assert_int_equal(recsys_recommend(e, rq, &want), RECSYS_OK);
    recsys_request_free(rq);
    r = rec(e, NULL, "anything but films, under $100", 10, false);
    assert_true(recsys_result_count(want) >= 1);
    assert_int_equal(recsys_result_count(r), recsys_result_count(want));
    for (size_t i = 0; i < recsys_result_count(r); i++) {
        assert_string_equal(recsys_result_item_id(r, i), recsys_result_item_id(want, i));
        assert_int_equal(recsys_result_item_id(r, i)[0], 'c');
    }
    recsys_result_free(want);
    recsys_result_free(r);
    /* before: "anything but films" read as the category films */
    r = rec(e, NULL, "anything but films", 10, false);
    assert_true(recsys_result_count(r) > 0);
    for (size_t i = 0; i < recsys_result_count(r); i++)
        assert_int_not_equal(recsys_result_item_id(r, i)[0], 'f');
    recsys_result_free(r);
}

static void cold_start_user_gets_their_stated_interests(void **state)
{
    recsys_engine *e = *state;
    const char *js = "{\"user_id\":\"u-cold\",\"interests\":[\"machine learning\"]}";
    assert_int_equal(recsys_user_upsert_json(e, js, strlen(js)), RECSYS_OK);
    recsys_result *r = rec(e, "u-cold", NULL, 2, false);
    assert_true(recsys_result_count(r) == 2);
    /* both ML courses outrank laptops and films for someone who only said "machine learning" */
    assert_true(contains(r, "c2") && contains(r, "c4"));
    recsys_result_free(r);
}

static void feedback_changes_the_list(void **state)
{
    recsys_engine *e = *state;
    recsys_result *before = rec(e, "u-new", NULL, 3, false);
    assert_false(contains(before, "f5")); /* nothing points at thrillers yet */
    recsys_result_free(before);
    tk_feedback(e, "u-new", "f2", RECSYS_EVENT_LIKE, TK_NOW - 100);
    /* u-new's age is unknown: f2 is restricted, but its tags teach a taste for thrillers */
    recsys_result *after = rec(e, "u-new", NULL, 3, false);
    assert_true(contains(after, "f5"));
    assert_false(contains(after, "f2"));
    recsys_result_free(after);
    /* and the explanation says why, citing the real like */
    after = rec(e, "u-new", NULL, 3, false);
    for (size_t i = 0; i < recsys_result_count(after); i++)
        if (strcmp(recsys_result_item_id(after, i), "f5") == 0) {
            bool cites = false;
            for (size_t j = 0; j < recsys_result_evidence_count(after, i); j++) {
                int32_t kind;
                const char *name, *value;
                assert_int_equal(recsys_result_evidence(after, i, j, &kind, &name, &value), RECSYS_OK);
                cites |= kind == RECSYS_EVIDENCE_HISTORY && strcmp(value, "f2") == 0;
            }
            assert_true(cites);
        }
    recsys_result_free(after);
}

static void impressions_are_logged_with_the_request_id(void **state)
{
    recsys_engine *e = *state;
    uint64_t before, after;
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &before), RECSYS_OK);
    recsys_request *rq;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_user(rq, "u-ml"), RECSYS_OK);
    assert_int_equal(recsys_request_set_id(rq, "req-42"), RECSYS_OK);
    assert_int_equal(recsys_request_exclude(rq, "c4"), RECSYS_OK);
    recsys_result *r = NULL;
    assert_int_equal(recsys_recommend(e, rq, &r), RECSYS_OK);
    assert_string_equal(recsys_result_request_id(r), "req-42");
    assert_false(contains(r, "c4"));
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &after), RECSYS_OK);
    assert_int_equal(after - before, recsys_result_count(r));
    /* feedback joins it by the request id; a click on a shown item is accepted */
    recsys_event ev;
    recsys_event_init(&ev);
    ev.type = RECSYS_EVENT_CLICK;
    ev.user_id = "u-ml";
    ev.item_id = recsys_result_item_id(r, 0);
    ev.request_id = "req-42";
    ev.position = 0;
    assert_int_equal(recsys_feedback(e, &ev), RECSYS_OK);
    recsys_result_free(r);
    /* generated ids are unique */
    assert_int_equal(recsys_request_set_id(rq, NULL), RECSYS_OK);
    recsys_result *a = NULL, *b = NULL;
    assert_int_equal(recsys_recommend(e, rq, &a), RECSYS_OK);
    assert_int_equal(recsys_recommend(e, rq, &b), RECSYS_OK);
    assert_string_not_equal(recsys_result_request_id(a), recsys_result_request_id(b));
    recsys_result_free(a);
    recsys_result_free(b);
    recsys_request_free(rq);
}

static void more_like_this_follows_the_anchor(void **state)
{
    recsys_engine *e = *state;
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_anchor(rq, "c1"), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, 3), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    recsys_result *r = NULL;
    /* anonymous: the list comes from the anchor alone (Distributed Systems: backend,
     * scalability, architecture), the anchor itself never */
    assert_int_equal(recsys_recommend(e, rq, &r), RECSYS_OK);
    assert_true(recsys_result_count(r) >= 1);
    assert_string_equal(recsys_result_item_id(r, 0), "c3");
    assert_false(contains(r, "c1"));
    recsys_result_free(r);
    /* with a user too: still about the anchor, and the user's rules still hold */
    assert_int_equal(recsys_request_set_user(rq, "u-film"), RECSYS_OK);
    assert_int_equal(recsys_request_set_anchor(rq, "f1"), RECSYS_OK);
    assert_int_equal(recsys_recommend(e, rq, &r), RECSYS_OK);
    assert_false(contains(r, "f1"));
    assert_false(contains(r, "f2")); /* u-film is 15 */
    assert_false(contains(r, "f5")); /* disliked */
    recsys_result_free(r);
    /* an unknown anchor is an error, not an empty list */
    assert_int_equal(recsys_request_set_anchor(rq, "nope"), RECSYS_OK);
    assert_int_equal(recsys_recommend(e, rq, &r), RECSYS_E_NOT_FOUND);
    assert_null(r);
    assert_non_null(strstr(recsys_last_error(), "nope"));
    assert_int_equal(recsys_request_set_anchor(rq, ""), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_request_set_anchor(rq, NULL), RECSYS_OK);
    recsys_request_free(rq);
}

static void a_new_half_life_applies_to_past_events(void **state)
{
    recsys_engine *late = *state; /* loaded with the default half-lives */
    assert_int_equal(recsys_engine_set_double(late, RECSYS_OPT_POPULAR_HALF_LIFE_DAYS, 0.05),
                     RECSYS_OK);
    assert_int_equal(recsys_engine_set_double(late, RECSYS_OPT_TRENDING_HALF_LIFE_H, 0.5),
                     RECSYS_OK);
    recsys_engine *early = NULL;
    assert_int_equal(recsys_engine_new(NULL, &early), RECSYS_OK);
    assert_int_equal(recsys_engine_set_double(early, RECSYS_OPT_POPULAR_HALF_LIFE_DAYS, 0.05),
                     RECSYS_OK);
    assert_int_equal(recsys_engine_set_double(early, RECSYS_OPT_TRENDING_HALF_LIFE_H, 0.5),
                     RECSYS_OK);
    tk_load(early);
    char *a = tk_snapshot(late, tk_user_ids, tk_nusers, tk_item_ids, tk_nitems);
    char *b = tk_snapshot(early, tk_user_ids, tk_nusers, tk_item_ids, tk_nitems);
    tk_assert_same(b, a);
    free(a);
    free(b);
    recsys_engine_free(early);
}

static void purchases_and_dislikes_outlive_the_history_bound(void **state)
{
    recsys_engine *e = *state;
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_HISTORY_MAX, 4), RECSYS_OK);
    tk_feedback(e, "u-bound", "l2", RECSYS_EVENT_PURCHASE, TK_NOW - 900);
    tk_feedback(e, "u-bound", "f3", RECSYS_EVENT_DISLIKE, TK_NOW - 800);
    const char *views[] = { "c1", "c2", "c3", "c4", "f1" };
    for (int i = 0; i < 5; i++)
        tk_feedback(e, "u-bound", views[i], RECSYS_EVENT_VIEW, TK_NOW - 700 + i);
    recsys_result *r = rec(e, "u-bound", NULL, 12, false);
    assert_false(contains(r, "l2")); /* bought: never again */
    assert_false(contains(r, "f3")); /* disliked */
    recsys_result_free(r);
}

static void forgetting_drops_what_was_learnt_from_the_user(void **state)
{
    recsys_engine *e = *state;
    /* only u-pair ever touched both l2 and f3: itemknn learns they go together */
    tk_feedback(e, "u-pair", "l2", RECSYS_EVENT_PURCHASE, TK_NOW - 500);
    tk_feedback(e, "u-pair", "f3", RECSYS_EVENT_PURCHASE, TK_NOW - 400);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_anchor(rq, "l2"), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    recsys_result *r = NULL;
    assert_int_equal(recsys_recommend(e, rq, &r), RECSYS_OK);
    bool learnt = false;
    for (size_t i = 0; i < recsys_result_count(r); i++)
        for (size_t j = 0; j < recsys_result_source_count(r, i); j++) {
            const char *name;
            assert_int_equal(recsys_result_source(r, i, j, &name, NULL), RECSYS_OK);
            learnt |= !strcmp(recsys_result_item_id(r, i), "f3") && !strcmp(name, "itemknn");
        }
    assert_true(learnt);
    recsys_result_free(r);
    assert_int_equal(recsys_user_forget(e, "u-pair"), RECSYS_OK);
    /* at once, not after the next refresh: nothing learnt from u-pair is served */
    assert_int_equal(recsys_recommend(e, rq, &r), RECSYS_OK);
    for (size_t i = 0; i < recsys_result_count(r); i++)
        for (size_t j = 0; j < recsys_result_source_count(r, i); j++) {
            const char *name;
            assert_int_equal(recsys_result_source(r, i, j, &name, NULL), RECSYS_OK);
            assert_false(!strcmp(recsys_result_item_id(r, i), "f3") && !strcmp(name, "itemknn"));
        }
    recsys_result_free(r);
    recsys_request_free(rq);
}

static void an_empty_candidate_set_is_an_empty_list(void **state)
{
    recsys_engine *e = *state;
    const char *all[] = { "content", "popular", "trending", "itemknn", "rp3beta",
                          "session", "vector",  "search",   "campaign" };
    for (int i = 0; i < 9; i++)
        assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, all[i], 0), RECSYS_OK);
    recsys_result *r = rec(e, "u-ml", NULL, 10, true);
    assert_int_equal(recsys_result_count(r), 0);
    recsys_result_free(r);
}

static recsys_status keep_order(void *ctx, const recsys_query *q, recsys_candidates *c, size_t n)
{
    (void)ctx;
    (void)q;
    (void)c;
    (void)n;
    return RECSYS_OK;
}

/* Without a diversifier only the top N are put in order (the rest is cut); with one, all of
 * them: the lists must agree, item for item and score for score. */
static void the_top_n_is_the_same_sorted_in_part_or_in_full(void **state)
{
    recsys_engine *e = *state;
    const char *users[] = { NULL, "u-backend", "u-film", "u-ml", "u-new" };
    char *partial[5][2];
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            recsys_diversifier_vtable vt;
            recsys_diversifier_vtable_init(&vt);
            vt.select = keep_order;
            assert_int_equal(recsys_engine_add_diversifier(e, "keep", &vt), RECSYS_OK);
        }
        for (int u = 0; u < 5; u++)
            for (int t = 0; t < 2; t++) {
                recsys_result *r = rec(e, users[u], NULL, t ? 3 : 1, false);
                size_t cap = 1024, n = 0;
                char *buf = malloc(cap);
                assert_non_null(buf);
                buf[0] = '\0';
                for (size_t i = 0; i < recsys_result_count(r); i++)
                    n += (size_t)snprintf(buf + n, cap - n, "%s %.17g\n",
                                          recsys_result_item_id(r, i), recsys_result_score(r, i));
                recsys_result_free(r);
                if (pass == 0) {
                    partial[u][t] = buf;
                } else {
                    assert_string_equal(buf, partial[u][t]);
                    free(buf);
                    free(partial[u][t]);
                }
            }
    }
}

/* itemknn's lists follow the feedback between refreshes: a pair nobody had seen reaches
 * another user's list at once. */
static void feedback_moves_itemknn_lists_between_refreshes(void **state)
{
    recsys_engine *e = *state;
    const char *others[] = { "content", "popular", "trending", "rp3beta", "session",
                             "vector",  "search",  "campaign" };
    for (int i = 0; i < 8; i++)
        assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, others[i], 0),
                         RECSYS_OK);
    tk_feedback(e, "u-b", "f3", RECSYS_EVENT_VIEW, TK_NOW - 50); /* f3 had no events */
    recsys_result *r = rec(e, "u-b", NULL, 10, false);
    assert_int_equal(recsys_result_count(r), 0);
    recsys_result_free(r);
    tk_feedback(e, "u-a", "c1", RECSYS_EVENT_VIEW, TK_NOW - 40);
    tk_feedback(e, "u-a", "f3", RECSYS_EVENT_LIKE, TK_NOW - 30);
    r = rec(e, "u-b", NULL, 10, false);
    assert_true(contains(r, "c1"));
    recsys_result_free(r);
    /* and a dislike takes it back */
    tk_feedback(e, "u-a", "f3", RECSYS_EVENT_DISLIKE, TK_NOW - 20);
    r = rec(e, "u-b", NULL, 10, false);
    assert_false(contains(r, "c1"));
    recsys_result_free(r);
}

static void bad_input_leaves_the_engine_unchanged(void **state)
{
    recsys_engine *e = *state;
    char *before = tk_snapshot(e, tk_user_ids, tk_nusers, tk_item_ids, tk_nitems);
    static const char *bad_items[] = {
        "", "[", "{\"item_id\":\"x\"} trailing", "{\"item_id\":3}", "{\"title\":\"no id\"}",
        "{\"item_id\":\"x\",\"tags\":\"not an array\"}",
        "[{\"item_id\":\"ok1\"},{\"item_id\":\"bad\",\"min_age\":400}]", /* all or nothing */
        "{\"item_id\":\"x\",\"nonsense\":1}", "{\"item_id\":\"x\",\"item_id\":\"y\"}",
        "{\"item_id\":\"\xc3\x28\"}", "{\"item_id\":\"x\",\"embedding\":[1,\"a\"]}",
    };
    for (size_t i = 0; i < sizeof bad_items / sizeof *bad_items; i++) {
        recsys_status st = recsys_catalog_upsert_json(e, bad_items[i], strlen(bad_items[i]));
        assert_int_equal(st, RECSYS_E_INVALID_ARG);
        assert_true(strlen(recsys_last_error()) > 0);
    }
    static const char *bad_users[] = {
        "{\"user_id\":\"u9\",\"age\":\"old\"}", "{\"user_id\":\"u9\",\"recent_views\":[\"nope\"]}",
        "[{\"user_id\":\"u-backend\",\"interests\":[\"x\"]},{\"user_id\":\"\"}]",
    };
    for (size_t i = 0; i < sizeof bad_users / sizeof *bad_users; i++)
        assert_int_not_equal(recsys_user_upsert_json(e, bad_users[i], strlen(bad_users[i])), RECSYS_OK);
    static const char *bad_events[] = {
        "{\"user_id\":\"u-ml\",\"item_id\":\"nope\",\"type\":\"click\"}",
        "{\"user_id\":\"u-ml\",\"item_id\":\"c1\",\"type\":\"teleport\"}",
        "[{\"user_id\":\"u-ml\",\"item_id\":\"c1\",\"type\":\"click\"},{\"user_id\":\"u-ml\"}]",
        "{\"user_id\":\"u-ml\",\"item_id\":\"c1\",\"type\":\"rating\",\"value\":1e999}",
    };
    for (size_t i = 0; i < sizeof bad_events / sizeof *bad_events; i++)
        assert_int_not_equal(recsys_feedback_json(e, bad_events[i], strlen(bad_events[i])), RECSYS_OK);
    recsys_event ev;
    recsys_event_init(&ev);
    ev.type = RECSYS_EVENT_CLICK;
    ev.user_id = "u-ml";
    ev.item_id = "missing";
    assert_int_equal(recsys_feedback(e, &ev), RECSYS_E_NOT_FOUND);
    ev.item_id = "c1";
    ev.type = 99;
    assert_int_equal(recsys_feedback(e, &ev), RECSYS_E_INVALID_ARG);
    ev.type = RECSYS_EVENT_CLICK;
    ev.user_id = "\xff";
    assert_int_equal(recsys_feedback(e, &ev), RECSYS_E_INVALID_ARG);
    ev.user_id = "u-ml";
    ev.timestamp = (int64_t)TK_NOW * 1000; /* milliseconds by mistake */
    assert_int_equal(recsys_feedback(e, &ev), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "Unix seconds"));
    ev.timestamp = 0;
    assert_int_equal(recsys_catalog_remove(e, "missing"), RECSYS_E_NOT_FOUND);
    assert_int_equal(recsys_user_forget(e, "missing"), RECSYS_E_NOT_FOUND);
    /* oversized JSON is refused before parsing */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_MAX_JSON_BYTES, 64), RECSYS_OK);
    const char *big = "[{\"item_id\":\"a1\",\"title\":\"a title long enough to pass the limit\"}]";
    assert_int_equal(recsys_catalog_upsert_json(e, big, strlen(big)), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "64"));
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_MAX_JSON_BYTES, 64 << 20), RECSYS_OK);
    char *after = tk_snapshot(e, tk_user_ids, tk_nusers, tk_item_ids, tk_nitems);
    tk_assert_same(before, after);
    free(before);
    free(after);
}

/* ------------------------------------------------------------ durability */

static recsys_engine *open_file_engine(const char *dir)
{
    recsys_store_vtable vt;
    recsys_store_vtable_init(&vt);
    recsys_file_store_opts fo;
    memset(&fo, 0, sizeof fo);
    fo.struct_size = sizeof fo;
    fo.sync = RECSYS_SYNC_OS;
    assert_int_equal(recsys_store_file_new(dir, &fo, &vt), RECSYS_OK);
    recsys_engine_opts o;
    recsys_engine_opts_init(&o);
    o.seed = 42;
    o.store = &vt;
    recsys_engine *e = NULL;
    recsys_status st = recsys_engine_new(&o, &e);
    if (st != RECSYS_OK)
        print_error("open: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW), RECSYS_OK);
    return e;
}

static void reopening_a_file_store_restores_everything(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_engine *e = open_file_engine(dir);
    tk_load(e);
    /* some history beyond the basics: a removal, a replaced item, a search, impressions */
    assert_int_equal(recsys_catalog_remove(e, "f3"), RECSYS_OK);
    const char *upd = "{\"item_id\":\"l2\",\"title\":\"Featherbook 13 (2026)\",\"category\":\"laptop\","
                      "\"tags\":[\"ultraportable\"],\"attributes\":{\"price\":899}}";
    assert_int_equal(recsys_catalog_upsert_json(e, upd, strlen(upd)), RECSYS_OK);
    const char *srch = "{\"user_id\":\"u-ml\",\"type\":\"search\",\"query\":\"gpu laptop\",\"timestamp\":1700000100}";
    assert_int_equal(recsys_feedback_json(e, srch, strlen(srch)), RECSYS_OK);
    recsys_result_free(rec(e, "u-ml", NULL, 5, true));
    assert_int_equal(recsys_refresh(e), RECSYS_OK); /* a reopen builds the text index afresh */
    char *before = tk_snapshot(e, tk_user_ids, tk_nusers, tk_item_ids, tk_nitems);
    recsys_engine_free(e);

    e = open_file_engine(dir);
    char *after = tk_snapshot(e, tk_user_ids, tk_nusers, tk_item_ids, tk_nitems);
    tk_assert_same(before, after);
    /* compaction keeps it all too */
    assert_int_equal(recsys_engine_compact(e), RECSYS_OK);
    recsys_engine_free(e);
    e = open_file_engine(dir);
    char *compacted = tk_snapshot(e, tk_user_ids, tk_nusers, tk_item_ids, tk_nitems);
    tk_assert_same(before, compacted);
    recsys_engine_free(e);
    free(before);
    free(after);
    free(compacted);
    tk_rm_rf(dir);
    free(dir);
}

static void forgetting_a_user_leaves_nothing(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_engine *e = open_file_engine(dir);
    tk_load(e);
    /* the user to forget has a distinctive id and search text */
    const char *js = "{\"user_id\":\"zz-private-7781\",\"interests\":[\"drama\"],\"age\":40,\"region\":\"FR\"}";
    assert_int_equal(recsys_user_upsert_json(e, js, strlen(js)), RECSYS_OK);
    tk_feedback(e, "zz-private-7781", "f1", RECSYS_EVENT_LIKE, TK_NOW - 50);
    tk_feedback(e, "zz-private-7781", "f4", RECSYS_EVENT_PURCHASE, TK_NOW - 40);
    const char *srch = "{\"user_id\":\"zz-private-7781\",\"type\":\"search\",\"query\":\"secret-query-5521\"}";
    assert_int_equal(recsys_feedback_json(e, srch, strlen(srch)), RECSYS_OK);
    recsys_result_free(rec(e, "zz-private-7781", NULL, 5, true)); /* impressions name them too */
    assert_int_equal(recsys_engine_compact(e), RECSYS_OK);        /* and a snapshot holds them */
    assert_true(tk_dir_contains(dir, "zz-private-7781"));

    assert_int_equal(recsys_user_forget(e, "zz-private-7781"), RECSYS_OK);
    char *s = NULL;
    assert_int_equal(recsys_user_get_json(e, "zz-private-7781", &s), RECSYS_E_NOT_FOUND);
    assert_false(tk_dir_contains(dir, "zz-private-7781"));
    assert_false(tk_dir_contains(dir, "secret-query-5521"));
    /* derived state: the models learnt from their events were dropped with them; once
     * rebuilt, everything is exactly that of an engine that never saw them */
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    char *after = tk_snapshot(e, tk_user_ids, tk_nusers, tk_item_ids, tk_nitems);
    recsys_engine_free(e);
    e = open_file_engine(dir); /* and it stays forgotten across a reopen */
    assert_int_equal(recsys_user_get_json(e, "zz-private-7781", &s), RECSYS_E_NOT_FOUND);
    recsys_engine_free(e);
    recsys_engine *never = tk_engine(NULL, NULL);
    char *expect = tk_snapshot(never, tk_user_ids, tk_nusers, tk_item_ids, tk_nitems);
    recsys_engine_free(never);
    tk_assert_same(expect, after);
    free(after);
    free(expect);
    tk_rm_rf(dir);
    free(dir);
}

int main(void)
{
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(lists_obey_every_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(results_carry_scores_sources_and_grounded_explanations,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_query_drives_the_search_source, setup, teardown),
        cmocka_unit_test_setup_teardown(a_query_names_values_and_excludes_categories, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cold_start_user_gets_their_stated_interests, setup, teardown),
        cmocka_unit_test_setup_teardown(feedback_changes_the_list, setup, teardown),
        cmocka_unit_test_setup_teardown(impressions_are_logged_with_the_request_id, setup, teardown),
        cmocka_unit_test_setup_teardown(more_like_this_follows_the_anchor, setup, teardown),
        cmocka_unit_test_setup_teardown(a_new_half_life_applies_to_past_events, setup, teardown),
        cmocka_unit_test_setup_teardown(purchases_and_dislikes_outlive_the_history_bound, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(forgetting_drops_what_was_learnt_from_the_user, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_empty_candidate_set_is_an_empty_list, setup, teardown),
        cmocka_unit_test_setup_teardown(the_top_n_is_the_same_sorted_in_part_or_in_full, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(feedback_moves_itemknn_lists_between_refreshes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_input_leaves_the_engine_unchanged, setup, teardown),
        cmocka_unit_test(reopening_a_file_store_restores_everything),
        cmocka_unit_test(forgetting_a_user_leaves_nothing),
    };
    return cmocka_run_group_tests_name("pipeline", tests, NULL, NULL);
}
