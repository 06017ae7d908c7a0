/* test_ranking.c - the ranking stage's public surface: which ranker a request uses
 * (recsys_engine_set_ranker, recsys_engine_plugin_enable, recsys_request_set_ranker), the
 * request's allow list (recsys_request_include), the no-repeat rotation
 * (RECSYS_OPT_FILTER_SHOWN_WINDOW_S) and the learned "ltr" ranker end to end:
 * recsys_ranker_train on held-out outcomes, its use per request, its model saved in a file
 * store and read back when the engine reopens (and a damaged copy reported, not used). */
#include "testkit.h"
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* ------------------------------------------------------------ a synthetic shop */

#define NCAT 4
#define PER_CAT 40
#define NUSERS 60

static void item_id(char *buf, size_t cap, int i)
{
    snprintf(buf, cap, "it%03d", i);
}

/* NCAT categories of PER_CAT items; user u likes category u % NCAT and has 8 events in it
 * (and 2 elsewhere); popular items are the low ones of each category. */
static void load_shop(recsys_engine *e)
{
    static const char *cats[NCAT] = { "books", "games", "music", "tools" };
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW), RECSYS_OK);
    for (int i = 0; i < NCAT * PER_CAT; i++) {
        char id[16], title[64];
        item_id(id, sizeof id, i);
        snprintf(title, sizeof title, "%s item %d", cats[i / PER_CAT], i);
        recsys_item_spec *s = NULL;
        assert_int_equal(recsys_item_spec_new(id, &s), RECSYS_OK);
        assert_int_equal(recsys_item_spec_set_text(s, RECSYS_FIELD_TITLE, title), RECSYS_OK);
        assert_int_equal(recsys_item_spec_set_text(s, RECSYS_FIELD_CATEGORY, cats[i / PER_CAT]),
                         RECSYS_OK);
        assert_int_equal(recsys_item_spec_set_number(s, "price", 10 + i % 17), RECSYS_OK);
        assert_int_equal(recsys_catalog_upsert(e, s), RECSYS_OK);
        recsys_item_spec_free(s);
    }
    unsigned seed = 7;
    for (int u = 0; u < NUSERS; u++) {
        char user[16], id[16];
        snprintf(user, sizeof user, "u%02d", u);
        int cat = u % NCAT;
        for (int k = 0; k < 10; k++) {
            seed = seed * 1103515245u + 12345u;
            int c = k < 8 ? cat : (int)((seed >> 8) % NCAT);
            int j = (int)((seed >> 16) % (PER_CAT / 2)) + (k % 2 ? PER_CAT / 2 : 0);
            item_id(id, sizeof id, c * PER_CAT + j);
            tk_feedback(e, user, id, RECSYS_EVENT_VIEW, TK_NOW - 86400 + k * 60 + u);
        }
    }
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
}

/* Held-out outcomes: for user u, items of their category they have not seen (the top ones
 * of the second half, which the popular-leaning sources rank low). */
static size_t outcomes(recsys_event *ev, size_t cap, int first_user, int nusers)
{
    size_t n = 0;
    for (int u = first_user; u < first_user + nusers && n + 2 <= cap; u++) {
        static char users[NUSERS][16], items[NUSERS][2][16];
        snprintf(users[u], sizeof users[u], "u%02d", u);
        for (int k = 0; k < 2; k++) {
            item_id(items[u][k], sizeof items[u][k], (u % NCAT) * PER_CAT + PER_CAT - 1 - k);
            recsys_event_init(&ev[n]);
            ev[n].type = RECSYS_EVENT_CLICK;
            ev[n].user_id = users[u];
            ev[n].item_id = items[u][k];
            ev[n].timestamp = TK_NOW;
            n++;
        }
    }
    return n;
}

static recsys_result *rec(recsys_engine *e, const char *user, const char *ranker, int top,
                          const char *const *include, size_t ninclude)
{
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    if (user)
        assert_int_equal(recsys_request_set_user(rq, user), RECSYS_OK);
    if (ranker)
        assert_int_equal(recsys_request_set_ranker(rq, ranker), RECSYS_OK);
    for (size_t i = 0; i < ninclude; i++)
        assert_int_equal(recsys_request_include(rq, include[i]), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, top), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    recsys_result *res = NULL;
    recsys_status st = recsys_recommend(e, rq, &res);
    if (st != RECSYS_OK)
        print_error("recommend: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
    recsys_request_free(rq);
    return res;
}

static recsys_engine *shop_engine(const recsys_store_vtable *store)
{
    recsys_engine_opts o;
    recsys_engine_opts_init(&o);
    o.seed = 42;
    o.store = store;
    recsys_engine *e = NULL;
    assert_int_equal(recsys_engine_new(&o, &e), RECSYS_OK);
    return e;
}

/* ------------------------------------------------------------ ranker choice */

static recsys_status reverse_score(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    (void)q;
    int *calls = ctx;
    (*calls)++;
    for (size_t i = 0; i < recsys_candidates_count(c); i++) { /* the merged order, kept */
        recsys_status st = recsys_candidates_set_score(c, i, -(double)i);
        if (st != RECSYS_OK)
            return st;
    }
    return RECSYS_OK;
}

static void request_names_its_ranker(void **state)
{
    (void)state;
    recsys_engine *e = tk_engine(NULL, NULL);
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_ranker(rq, ""), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_request_set_ranker(rq, "nope"), RECSYS_OK);
    recsys_result *res = NULL;
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_E_NOT_FOUND);
    assert_null(res);
    assert_non_null(strstr(recsys_last_error(), "nope"));
    assert_int_equal(recsys_request_set_ranker(rq, NULL), RECSYS_OK);
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
    recsys_result_free(res);
    recsys_request_free(rq);

    /* a host ranker becomes the engine's; the built-ins stay reachable by name */
    int calls = 0;
    RECSYS_INIT(recsys_ranker_vtable, vt, .ctx = &calls, .score = reverse_score);
    assert_int_equal(recsys_engine_set_ranker(e, "mine", &vt), RECSYS_OK);
    recsys_result *a = rec(e, "u1", NULL, 5, NULL, 0);
    assert_int_equal(calls, 1);
    recsys_result *b = rec(e, "u1", "blend", 5, NULL, 0);
    assert_int_equal(calls, 1); /* the request chose blend */
    recsys_result *c = rec(e, "u1", "mine", 5, NULL, 0);
    assert_int_equal(calls, 2);
    for (size_t i = 0; i < recsys_result_count(a); i++)
        assert_string_equal(recsys_result_item_id(a, i), recsys_result_item_id(c, i));
    /* enabling a built-in makes it the one in use */
    assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_RANKER, "blend", 1), RECSYS_OK);
    recsys_result *d = rec(e, "u1", NULL, 5, NULL, 0);
    assert_int_equal(calls, 2);
    assert_int_equal(recsys_result_count(b), recsys_result_count(d));
    for (size_t i = 0; i < recsys_result_count(b); i++)
        assert_string_equal(recsys_result_item_id(b, i), recsys_result_item_id(d, i));
    /* replacing the host ranker by another name removes the first */
    int calls2 = 0;
    RECSYS_INIT(recsys_ranker_vtable, vt2, .ctx = &calls2, .score = reverse_score);
    assert_int_equal(recsys_engine_set_ranker(e, "mine2", &vt2), RECSYS_OK);
    recsys_request *rq2 = NULL;
    assert_int_equal(recsys_request_new(&rq2), RECSYS_OK);
    assert_int_equal(recsys_request_set_ranker(rq2, "mine"), RECSYS_OK);
    assert_int_equal(recsys_recommend(e, rq2, &res), RECSYS_E_NOT_FOUND);
    recsys_request_free(rq2);
    recsys_result *f = rec(e, "u1", NULL, 5, NULL, 0);
    assert_int_equal(calls2, 1);
    recsys_result_free(a);
    recsys_result_free(b);
    recsys_result_free(c);
    recsys_result_free(d);
    recsys_result_free(f);
    recsys_engine_free(e);
}

/* ------------------------------------------------------------ allow list */

static void include_restricts_the_list(void **state)
{
    (void)state;
    recsys_engine *e = shop_engine(NULL);
    load_shop(e);
    const char *allow[] = { "it005", "it006", "it120", "no-such-item" };
    recsys_result *r = rec(e, "u01", NULL, 10, allow, 4);
    assert_true(recsys_result_count(r) >= 1);
    for (size_t i = 0; i < recsys_result_count(r); i++) {
        const char *id = recsys_result_item_id(r, i);
        assert_true(!strcmp(id, "it005") || !strcmp(id, "it006") || !strcmp(id, "it120"));
    }
    recsys_result_free(r);
    const char *none[] = { "no-such-item" };
    r = rec(e, "u01", NULL, 10, none, 1);
    assert_int_equal(recsys_result_count(r), 0); /* an allow list of unknown ids allows nothing */
    recsys_result_free(r);
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_include(rq, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_request_include(rq, "\xff"), RECSYS_E_INVALID_ARG);
    recsys_request_free(rq);
    recsys_engine_free(e);
}

/* ------------------------------------------------------------ no-repeat rotation */

static void shown_window_rotates_the_list(void **state)
{
    (void)state;
    recsys_engine *e = shop_engine(NULL);
    load_shop(e);
    recsys_result *a = rec(e, "u02", NULL, 5, NULL, 0);
    recsys_result *b = rec(e, "u02", NULL, 5, NULL, 0);
    assert_int_equal(recsys_result_count(a), 5); /* off: the same list again */
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(recsys_result_item_id(a, i), recsys_result_item_id(b, i));
    recsys_result_free(a);
    recsys_result_free(b);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_FILTER_SHOWN_WINDOW_S, 3600), RECSYS_OK);
    a = rec(e, "u02", NULL, 5, NULL, 0);
    b = rec(e, "u02", NULL, 5, NULL, 0);
    assert_int_equal(recsys_result_count(b), 5);
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < 5; j++)
            assert_string_not_equal(recsys_result_item_id(a, i), recsys_result_item_id(b, j));
    recsys_result_free(b);
    /* an hour later the first list may come back */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW + 3601), RECSYS_OK);
    recsys_result *c = rec(e, "u02", NULL, 5, NULL, 0);
    bool back = false;
    for (size_t i = 0; i < 5; i++)
        back |= !strcmp(recsys_result_item_id(a, i), recsys_result_item_id(c, 0));
    assert_true(back);
    recsys_result_free(a);
    recsys_result_free(c);
    /* forgetting the user forgets what they were shown */
    assert_int_equal(recsys_user_forget(e, "u02"), RECSYS_OK);
    recsys_engine_free(e);
}

/* ------------------------------------------------------------ ltr */

static double hits(recsys_engine *e, const char *ranker, int first_user, int nusers)
{
    size_t hit = 0, total = 0;
    for (int u = first_user; u < first_user + nusers; u++) {
        char user[16], want[2][16];
        snprintf(user, sizeof user, "u%02d", u);
        for (int k = 0; k < 2; k++)
            item_id(want[k], sizeof want[k], (u % NCAT) * PER_CAT + PER_CAT - 1 - k);
        recsys_result *r = rec(e, user, ranker, 10, NULL, 0);
        for (size_t i = 0; i < recsys_result_count(r); i++)
            for (int k = 0; k < 2; k++)
                hit += !strcmp(recsys_result_item_id(r, i), want[k]);
        total += 2;
        recsys_result_free(r);
    }
    return (double)hit / (double)total;
}

static void ltr_train_rejects_bad_input(void **state)
{
    (void)state;
    recsys_engine *e = shop_engine(NULL);
    load_shop(e);
    recsys_event ev[4];
    size_t n = outcomes(ev, 4, 0, 2);
    assert_int_equal(recsys_ranker_train(NULL, "ltr", ev, n), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_ranker_train(e, NULL, ev, n), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_ranker_train(e, "ltr", NULL, n), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_ranker_train(e, "ltr", ev, 0), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_ranker_train(e, "blend", ev, n), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "blend"));
    recsys_event bad = ev[0];
    bad.user_id = "";
    assert_int_equal(recsys_ranker_train(e, "ltr", &bad, 1), RECSYS_E_INVALID_ARG);
    bad = ev[0];
    bad.item_id = NULL;
    assert_int_equal(recsys_ranker_train(e, "ltr", &bad, 1), RECSYS_E_INVALID_ARG);
    bad = ev[0];
    bad.type = 999;
    assert_int_equal(recsys_ranker_train(e, "ltr", &bad, 1), RECSYS_E_INVALID_ARG);
    /* nothing to learn from: unknown users and items, or only negative outcomes */
    bad = ev[0];
    bad.user_id = "stranger";
    assert_int_equal(recsys_ranker_train(e, "ltr", &bad, 1), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "no user"));
    bad = ev[0];
    bad.type = RECSYS_EVENT_DISLIKE;
    assert_int_equal(recsys_ranker_train(e, "ltr", &bad, 1), RECSYS_E_INVALID_ARG);
    recsys_engine_free(e);
}

static void ltr_learns_saves_and_reloads(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_store_vtable st;
    recsys_store_vtable_init(&st);
    assert_int_equal(recsys_store_file_new(dir, NULL, &st), RECSYS_OK);
    recsys_engine *e = shop_engine(&st);
    load_shop(e);
    /* untrained, the ltr ranker keeps the merged order */
    double before = hits(e, "ltr", 40, 20);
    recsys_event ev[2 * NUSERS];
    size_t n = outcomes(ev, 2 * NUSERS, 0, 40); /* train on users 0..39, test on 40..59 */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_RANK_LTR_TREES, 30), RECSYS_OK);
    recsys_status s = recsys_ranker_train(e, "ltr", ev, n);
    if (s != RECSYS_OK)
        print_error("train: %s\n", recsys_last_error());
    assert_int_equal(s, RECSYS_OK);
    double after = hits(e, "ltr", 40, 20);
    print_message("held-out hit rate: merged order %.3f, ltr %.3f\n", before, after);
    assert_true(after > before);
    /* the same lists after the engine reopens: the model came back from the store */
    recsys_result *r1[20];
    for (int u = 0; u < 20; u++) {
        char user[16];
        snprintf(user, sizeof user, "u%02d", 40 + u);
        r1[u] = rec(e, user, "ltr", 10, NULL, 0);
    }
    recsys_engine_free(e);
    recsys_store_vtable_init(&st);
    assert_int_equal(recsys_store_file_new(dir, NULL, &st), RECSYS_OK);
    e = shop_engine(&st);
    assert_int_equal(recsys_last_status(), RECSYS_OK); /* no warning */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW), RECSYS_OK);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    for (int u = 0; u < 20; u++) {
        char user[16];
        snprintf(user, sizeof user, "u%02d", 40 + u);
        recsys_result *r2 = rec(e, user, "ltr", 10, NULL, 0);
        assert_int_equal(recsys_result_count(r1[u]), recsys_result_count(r2));
        for (size_t i = 0; i < recsys_result_count(r2); i++) {
            assert_string_equal(recsys_result_item_id(r1[u], i), recsys_result_item_id(r2, i));
            assert_true(fabs(recsys_result_score(r1[u], i) - recsys_result_score(r2, i)) < 1e-6);
        }
        recsys_result_free(r1[u]);
        recsys_result_free(r2);
    }
    recsys_engine_free(e);
    tk_rm_rf(dir);
    free(dir);
}


/* ------------------------------------------------------------ linear */

static void linear_trains_learns_online_and_reloads(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_store_vtable st;
    recsys_store_vtable_init(&st);
    assert_int_equal(recsys_store_file_new(dir, NULL, &st), RECSYS_OK);
    recsys_engine *e = shop_engine(&st);
    load_shop(e);
    double before = hits(e, "linear", 40, 20); /* untrained: the merged order */
    recsys_event ev[2 * NUSERS];
    size_t n = outcomes(ev, 2 * NUSERS, 0, 40);
    recsys_status s = recsys_ranker_train(e, "linear", ev, n);
    if (s != RECSYS_OK)
        print_error("train: %s\n", recsys_last_error());
    assert_int_equal(s, RECSYS_OK);
    double after = hits(e, "linear", 40, 20);
    print_message("held-out hit rate: merged order %.3f, linear %.3f\n", before, after);
    assert_true(after > before);

    /* online: the same list and the same click answering it (its request id) on this engine
     * and on a twin with rank.linear_learn off: only this one's model learns, so only its
     * scores for another user move (everything else, the click's effect on counters and
     * neighbours included, is the same on both) */
    recsys_engine *twin = shop_engine(NULL);
    load_shop(twin);
    assert_int_equal(recsys_ranker_train(twin, "linear", ev, n), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(twin, RECSYS_OPT_RANK_LINEAR_LEARN, 0), RECSYS_OK);
    recsys_engine *both[2] = { e, twin };
    recsys_result *after_click[2];
    for (int k = 0; k < 2; k++) {
        recsys_request *rq = NULL;
        assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
        assert_int_equal(recsys_request_set_user(rq, "u50"), RECSYS_OK);
        assert_int_equal(recsys_request_set_ranker(rq, "linear"), RECSYS_OK);
        assert_int_equal(recsys_request_set_id(rq, "req-online-1"), RECSYS_OK);
        recsys_result *r1 = NULL;
        assert_int_equal(recsys_recommend(both[k], rq, &r1), RECSYS_OK); /* impressions logged */
        recsys_event c;
        recsys_event_init(&c);
        c.type = RECSYS_EVENT_CLICK;
        c.user_id = "u50";
        c.item_id = recsys_result_item_id(r1, 3);
        c.request_id = "req-online-1";
        c.timestamp = TK_NOW;
        assert_int_equal(recsys_feedback(both[k], &c), RECSYS_OK);
        after_click[k] = rec(both[k], "u41", "linear", 10, NULL, 0);
        recsys_result_free(r1);
        recsys_request_free(rq);
    }
    assert_int_equal(recsys_result_count(after_click[0]), recsys_result_count(after_click[1]));
    bool moved = false;
    for (size_t i = 0; i < recsys_result_count(after_click[0]); i++)
        moved |= recsys_result_score(after_click[0], i) != recsys_result_score(after_click[1], i);
    assert_true(moved);
    recsys_result_free(after_click[0]);
    recsys_result_free(after_click[1]);
    recsys_engine_free(twin);
    /* the refresh saves what it learnt online; a reopened engine ranks the same */
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    recsys_result *a = rec(e, "u41", "linear", 10, NULL, 0);
    recsys_engine_free(e);
    recsys_store_vtable_init(&st);
    assert_int_equal(recsys_store_file_new(dir, NULL, &st), RECSYS_OK);
    e = shop_engine(&st);
    assert_int_equal(recsys_last_status(), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW), RECSYS_OK);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    recsys_result *b = rec(e, "u41", "linear", 10, NULL, 0);
    assert_int_equal(recsys_result_count(a), recsys_result_count(b));
    for (size_t i = 0; i < recsys_result_count(a); i++) {
        assert_string_equal(recsys_result_item_id(a, i), recsys_result_item_id(b, i));
        assert_true(fabs(recsys_result_score(a, i) - recsys_result_score(b, i)) < 1e-9);
    }
    recsys_result_free(a);
    recsys_result_free(b);
    recsys_engine_free(e);
    tk_rm_rf(dir);
    free(dir);
}

static void damaged_saved_models_are_reported_not_used(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_store_vtable st;
    recsys_store_vtable_init(&st);
    assert_int_equal(recsys_store_file_new(dir, NULL, &st), RECSYS_OK);
    recsys_engine *e = shop_engine(&st);
    load_shop(e);
    recsys_event ev[20];
    size_t n = outcomes(ev, 20, 0, 10);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_RANK_LTR_TREES, 5), RECSYS_OK);
    assert_int_equal(recsys_ranker_train(e, "ltr", ev, n), RECSYS_OK);
    recsys_engine_free(e);
    /* flip a byte in the middle of every blob file that holds the ltr model */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "for f in $(grep -rl RSL1 '%s' 2>/dev/null); do "
             "printf '\\x7f' | dd of=\"$f\" bs=1 seek=$(( $(stat -c %%s \"$f\") / 2 )) "
             "conv=notrunc 2>/dev/null; done", dir);
    assert_int_equal(system(cmd), 0);
    recsys_store_vtable_init(&st);
    assert_int_equal(recsys_store_file_new(dir, NULL, &st), RECSYS_OK);
    RECSYS_INIT(recsys_engine_opts, o, .seed = 42, .store = &st);
    assert_int_equal(recsys_engine_new(&o, &e), RECSYS_OK);
    assert_int_not_equal(recsys_last_status(), RECSYS_OK); /* a warning */
    print_message("warning: %s\n", recsys_last_error());
    assert_non_null(strstr(recsys_last_error(), "ltr"));
    /* the engine works; the ltr ranker keeps the merged order without its model */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW), RECSYS_OK);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    recsys_result *r = rec(e, "u05", "ltr", 5, NULL, 0);
    assert_int_equal(recsys_result_count(r), 5);
    recsys_result_free(r);
    recsys_engine_free(e);
    tk_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_names_its_ranker),
        cmocka_unit_test(include_restricts_the_list),
        cmocka_unit_test(shown_window_rotates_the_list),
        cmocka_unit_test(ltr_train_rejects_bad_input),
        cmocka_unit_test(ltr_learns_saves_and_reloads),
        cmocka_unit_test(linear_trains_learns_online_and_reloads),
        cmocka_unit_test(damaged_saved_models_are_reported_not_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
