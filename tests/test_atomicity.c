/* test_atomicity.c - every mutating call, with a failure injected at every store call and at
 * every allocation it makes (libuv's out-of-memory loop), must fail cleanly: the right status,
 * a message, the engine's observable state unchanged, the store consistent with memory (a
 * reopen shows the same state), and nothing leaked. */
#include "testkit.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

typedef recsys_status (*op_fn)(recsys_engine *e);

/* Frees run after a failed call clear the thread's message (every entry point does); ops
 * that free something keep the message of the call that failed with these two. */
static char g_msg[512];
static recsys_status keep(recsys_status st)
{
    if (st != RECSYS_OK)
        snprintf(g_msg, sizeof g_msg, "%s", recsys_last_error());
    return st;
}
static recsys_status restore(recsys_status st)
{
    if (st != RECSYS_OK)
        recsys_error_set(st, g_msg);
    return st;
}

static recsys_status op_items_json(recsys_engine *e)
{
    const char *js = "[{\"item_id\":\"n1\",\"title\":\"New Course\",\"category\":\"education\",\"tags\":[\"rust\",\"backend\"]},"
                     "{\"item_id\":\"c2\",\"title\":\"Machine Learning Foundations II\",\"category\":\"education\",\"tags\":[\"python\"]},"
                     "{\"item_id\":\"n2\",\"title\":\"New Laptop\",\"category\":\"laptop\",\"tags\":[\"gpu\"],\"attributes\":{\"price\":1299}}]";
    return recsys_catalog_upsert_json(e, js, strlen(js));
}

static recsys_status op_item_spec(recsys_engine *e)
{
    recsys_item_spec *s = NULL;
    recsys_status st = recsys_item_spec_new("n3", &s);
    if (st == RECSYS_OK)
        st = recsys_item_spec_set_text(s, RECSYS_FIELD_TITLE, "Spec Film");
    if (st == RECSYS_OK)
        st = recsys_item_spec_set_text(s, RECSYS_FIELD_CATEGORY, "film");
    if (st == RECSYS_OK)
        st = recsys_item_spec_add_tag(s, "drama");
    if (st == RECSYS_OK)
        st = recsys_item_spec_set_number(s, "year", 2024);
    if (st == RECSYS_OK)
        st = recsys_catalog_upsert(e, s);
    keep(st);
    recsys_item_spec_free(s);
    return restore(st);
}

/* f3 has no events: preferences learned from events on an item that is later removed are
 * kept while the engine runs but cannot be rebuilt from the log after a reopen (the item's
 * tags are gone), a documented limitation, so a reopen would differ for f1. */
static recsys_status op_item_remove(recsys_engine *e)
{
    return recsys_catalog_remove(e, "f3");
}

static recsys_status op_users_json(recsys_engine *e)
{
    const char *js = "[{\"user_id\":\"u-new2\",\"interests\":[\"gpu\"],\"recent_views\":[\"l1\"]},"
                     "{\"user_id\":\"u-ml\",\"interests\":[\"python\"],\"age\":30,\"purchased_items\":[\"c2\"]}]";
    return recsys_user_upsert_json(e, js, strlen(js));
}

static recsys_status op_user_spec(recsys_engine *e)
{
    recsys_user_spec *s = NULL;
    recsys_status st = recsys_user_spec_new("u-film", &s);
    if (st == RECSYS_OK)
        st = recsys_user_spec_add_interest(s, "comedy");
    if (st == RECSYS_OK)
        st = recsys_user_spec_set_demographics(s, 16, "FR");
    if (st == RECSYS_OK)
        st = recsys_user_spec_add_item(s, RECSYS_LIST_NEGATIVE, "f2");
    if (st == RECSYS_OK)
        st = recsys_user_upsert(e, s);
    keep(st);
    recsys_user_spec_free(s);
    return restore(st);
}

static recsys_status op_feedback(recsys_engine *e)
{
    recsys_event ev;
    recsys_event_init(&ev);
    ev.type = RECSYS_EVENT_PURCHASE;
    ev.user_id = "u-brand-new";
    ev.item_id = "l2";
    ev.timestamp = TK_NOW - 10;
    return recsys_feedback(e, &ev);
}

static recsys_status op_feedback_batch(recsys_engine *e)
{
    recsys_event ev[2];
    recsys_event_init(&ev[0]);
    recsys_event_init(&ev[1]);
    ev[0].type = RECSYS_EVENT_LIKE;
    ev[0].user_id = "u-film";
    ev[0].item_id = "f2";
    ev[0].timestamp = TK_NOW - 20;
    ev[1].type = RECSYS_EVENT_VIEW;
    ev[1].user_id = "u-brand-new";
    ev[1].item_id = "c4";
    ev[1].timestamp = TK_NOW - 19;
    return recsys_feedback_batch(e, ev, 2);
}

static recsys_status op_feedback_json(recsys_engine *e)
{
    const char *js = "[{\"user_id\":\"u-backend\",\"item_id\":\"c3\",\"type\":\"like\",\"timestamp\":1699999000},"
                     "{\"user_id\":\"u-other\",\"type\":\"search\",\"query\":\"gpu laptop\",\"timestamp\":1699999001},"
                     "{\"user_id\":\"u-other\",\"item_id\":\"l1\",\"type\":\"rating\",\"value\":4,\"timestamp\":1699999002}]";
    return recsys_feedback_json(e, js, strlen(js));
}

static recsys_status op_refresh(recsys_engine *e)
{
    return recsys_refresh(e);
}

static recsys_status op_recommend_logged(recsys_engine *e)
{
    recsys_request *rq = NULL;
    recsys_status st = recsys_request_new(&rq);
    if (st == RECSYS_OK)
        st = recsys_request_set_user(rq, "u-ml");
    recsys_result *res = NULL;
    if (st == RECSYS_OK)
        st = recsys_recommend(e, rq, &res);
    keep(st);
    recsys_result_free(res);
    recsys_request_free(rq);
    return restore(st);
}

static recsys_status op_half_life(recsys_engine *e)
{
    /* popularity was accumulated with the old half-life: the change rebuilds it */
    return recsys_engine_set_double(e, RECSYS_OPT_POPULAR_HALF_LIFE_DAYS, 2.5);
}

static recsys_status op_forget(recsys_engine *e)
{
    return recsys_user_forget(e, "u-film");
}

static const struct {
    const char *name;
    op_fn fn;
    bool allocates; /* false: the call must not allocate at all (so cannot run out) */
    op_fn reconfigure; /* options are the host's configuration, not stored state: re-applied
                        * after a reopen before comparing */
} ops[] = {
    { "catalog_upsert_json", op_items_json, true, NULL },
    { "catalog_upsert", op_item_spec, true, NULL },
    { "catalog_remove", op_item_remove, false, NULL },
    { "user_upsert_json", op_users_json, true, NULL },
    { "user_upsert", op_user_spec, true, NULL },
    { "feedback", op_feedback, true, NULL },
    { "feedback_json", op_feedback_json, true, NULL },
    { "feedback_batch", op_feedback_batch, true, NULL },
    { "refresh", op_refresh, true, NULL },
    { "recommend", op_recommend_logged, true, NULL },
    { "user_forget", op_forget, true, NULL },
    { "set_popular_half_life", op_half_life, true, op_half_life },
};

/* The ids a snapshot looks at: the fixture's and those the ops add. */
static const char *const items[] = { "c1", "c2", "c3", "c4", "l1", "l2", "l3", "f1", "f2", "f3",
                                     "f4", "f5", "n1", "n2", "n3" };
static const char *const users[] = { "u-backend", "u-film", "u-ml", "u-new", "u-new2",
                                     "u-brand-new", "u-other" };
#define SNAP(e) tk_snapshot((e), users, sizeof users / sizeof *users, items, sizeof items / sizeof *items)

/* An engine over a wrapped file store in dir, both allocating through a. */
static recsys_engine *open_engine(const char *dir, tk_alloc *a, const recsys_allocator *rec,
                                  tk_store *w)
{
    recsys_store_vtable inner, vt;
    recsys_store_vtable_init(&inner);
    recsys_file_store_opts fo;
    memset(&fo, 0, sizeof fo);
    fo.struct_size = sizeof fo;
    fo.sync = RECSYS_SYNC_OS;
    fo.allocator = rec;
    assert_int_equal(recsys_store_file_new(dir, &fo, &inner), RECSYS_OK);
    tk_store_wrap_inner(w, &inner, &vt);
    recsys_engine_opts o;
    recsys_engine_opts_init(&o);
    o.seed = 42;
    o.allocator = rec;
    o.store = &vt;
    recsys_engine *e = NULL;
    a->fail_at = -1;
    recsys_status st = recsys_engine_new(&o, &e);
    if (st != RECSYS_OK)
        print_error("open: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW), RECSYS_OK);
    return e;
}

/* Runs op with a failure injected at attempt k = 0, 1, ... (a store call when store is true,
 * else an allocation) until it succeeds; checks every failure; returns the attempts made. */
static int failure_loop(size_t opi, bool store)
{
    char *dir = tk_mkdtemp();
    tk_alloc a;
    recsys_allocator rec;
    tk_alloc_init(&a, &rec);
    tk_store w;
    recsys_engine *e = open_engine(dir, &a, &rec, &w);
    tk_load(e);
    char *before = SNAP(e);
    int k = 0;
    for (;; k++) {
        assert_true(k < 100000);
        if (store)
            w.fail_at = w.calls + k;
        else
            a.fail_at = a.count + k;
        w.failed = false;
        a.failed = 0;
        recsys_status st = ops[opi].fn(e);
        bool injected = store ? w.failed : a.failed > 0;
        w.fail_at = a.fail_at = -1;
        if (st == RECSYS_OK) {
            /* an injected failure the call absorbed is fine only if nothing was refused */
            assert_false(injected && store);
            break;
        }
        if (!injected)
            print_error("%s failed without an injected failure: %s\n", ops[opi].name,
                        recsys_last_error());
        assert_true(injected);
        assert_int_equal(st, store ? RECSYS_E_IO : RECSYS_E_NOMEM);
        assert_true(strlen(recsys_last_error()) > 0);
        char *now = SNAP(e);
        tk_assert_same(before, now);
        free(now);
    }
    /* the store agrees with memory: a reopen shows exactly the same state */
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    char *after = SNAP(e);
    recsys_engine_free(e);
    assert_int_equal(a.live, 0); /* nothing leaked, through any path */
    e = open_engine(dir, &a, &rec, &w);
    if (ops[opi].reconfigure)
        assert_int_equal(ops[opi].reconfigure(e), RECSYS_OK);
    char *reopened = SNAP(e);
    tk_assert_same(after, reopened);
    recsys_engine_free(e);
    assert_int_equal(a.live, 0);
    free(before);
    free(after);
    free(reopened);
    tk_rm_rf(dir);
    free(dir);
    return k;
}

static void store_failures_change_nothing(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        if (getenv("RECSYS_ATOMIC_OP") && strcmp(getenv("RECSYS_ATOMIC_OP"), ops[i].name))
            continue;
        int k = failure_loop(i, true);
        print_message("  %-20s store failures survived: %d\n", ops[i].name, k);
    }
}

static void allocation_failures_change_nothing(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        if (getenv("RECSYS_ATOMIC_OP") && strcmp(getenv("RECSYS_ATOMIC_OP"), ops[i].name))
            continue;
        int k = failure_loop(i, false);
        /* the loop really injected failures (or the call really allocates nothing) */
        if (ops[i].allocates)
            assert_true(k > 0);
        else
            assert_int_equal(k, 0);
        print_message("  %-20s allocation failures survived: %d\n", ops[i].name, k);
    }
}

/* Engine creation under the OOM loop: every failure is NOMEM, leaks nothing, and the host
 * store handed over is destroyed exactly once. */
static void engine_new_oom_loop(void **state)
{
    (void)state;
    tk_alloc a;
    recsys_allocator rec;
    tk_alloc_init(&a, &rec);
    for (long n = 0;; n++) {
        assert_true(n < 100000);
        tk_store w;
        recsys_store_vtable vt;
        tk_store_wrap(&w, &vt);
        recsys_engine_opts o;
        recsys_engine_opts_init(&o);
        o.allocator = &rec;
        o.store = &vt;
        a.fail_at = a.count + n;
        a.failed = false;
        recsys_engine *e = NULL;
        recsys_status st = recsys_engine_new(&o, &e);
        a.fail_at = -1;
        if (st == RECSYS_OK) {
            assert_int_equal(w.destroyed, 0);
            recsys_engine_free(e);
            assert_int_equal(w.destroyed, 1);
            assert_int_equal(a.live, 0);
            assert_true(n > 0);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(e);
        assert_true(strlen(recsys_last_error()) > 0);
        assert_int_equal(w.destroyed, 1);
        assert_int_equal(a.live, 0);
    }
}

int main(void)
{
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(engine_new_oom_loop),
        cmocka_unit_test(store_failures_change_nothing),
        cmocka_unit_test(allocation_failures_change_nothing),
    };
    return cmocka_run_group_tests_name("atomicity", tests, NULL, NULL);
}
