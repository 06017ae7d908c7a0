/* test_online.c - attribution and online metrics (lib/eval/online.c) on a hand-made log whose
 * every figure is worked out below: joins by request id, by time within the window, the
 * fall-back from an unknown request id to time, unattributed feedback (an item not shown, a
 * click after the window), the cut by position, sessions and the return proxy, revenue from
 * the event value and from the host's attribute, popularity and coverage of what was shown,
 * groups (and users left out), the time window, bad options, and the out-of-memory loop;
 * the cuts by source and by ranker (an item of two sources counts for both, impressions
 * without attribution, as logs before 0.2 hold, are in no cut); the LLM cost per request,
 * per group and per ranker, read once per request. */
#include "testkit.h"
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "eval/online.h"

static void add(recsys__online_log *log, const char *user, const char *item, int32_t type,
                const char *req, int32_t pos, int64_t ts, double value)
{
    recsys_event ev;
    recsys_event_init(&ev);
    ev.user_id = user;
    ev.item_id = item;
    ev.type = type;
    ev.request_id = req;
    ev.position = pos;
    ev.timestamp = ts;
    ev.value = value;
    assert_int_equal(recsys__online_log_add(log, &ev), RECSYS_OK);
}

static void build(recsys__online_log *log)
{
    const int32_t I = RECSYS_EVENT_IMPRESSION;
    add(log, "a", "i1", I, "r1", 0, 1000, 0);
    add(log, "a", "i2", I, "r1", 1, 1000, 0);
    add(log, "a", "i3", I, "r1", 2, 1000, 0);
    add(log, "a", "i2", RECSYS_EVENT_CLICK, "r1", 1, 1010, 0);       /* by request id */
    add(log, "a", "i2", RECSYS_EVENT_PURCHASE, "r1", 1, 1020, 30);   /* by request id */
    add(log, "a", "i3", RECSYS_EVENT_ADD_TO_CART, NULL, -1, 1015, 0); /* by time */
    add(log, "a", "i1", RECSYS_EVENT_DWELL, "r-unknown", 0, 1030, 40); /* unknown id: by time */
    add(log, "a", "i4", RECSYS_EVENT_CLICK, NULL, -1, 1040, 0);      /* never shown */
    add(log, "a", "i1", RECSYS_EVENT_CLICK, NULL, -1, 6000, 0);      /* after the window;
                                                                        a second session */
    add(log, "b", "i1", I, "r2", 0, 2000, 0);
    add(log, "b", "i5", I, "r2", 1, 2000, 0);
    add(log, "b", "i5", RECSYS_EVENT_SKIP, "r2", 1, 2005, 0);
    add(log, "b", "i9", RECSYS_EVENT_PURCHASE, NULL, -1, 2010, 0);   /* revenue: the price */
    add(log, "c", "i1", I, "r3", 0, 3000, 0);                        /* left out */
    recsys_event search;
    recsys_event_init(&search);
    search.type = RECSYS_EVENT_SEARCH;
    search.user_id = "a";
    search.query = "films";
    assert_int_equal(recsys__online_log_add(log, &search), RECSYS_OK); /* no item: skipped */
}

static int group_of(void *arg, const char *user)
{
    (void)arg;
    return !strcmp(user, "a") ? 0 : !strcmp(user, "b") ? 1 : -1;
}

static double price(void *arg, const char *item)
{
    (void)arg;
    return !strcmp(item, "i9") ? 12 : 0;
}

static recsys__online_opts opts(void)
{
    recsys__online_opts o = {
        .window_s = 1800, .session_gap_s = 1800, .return_s = 7 * 86400, .ngroups = 2,
        .group = group_of, .revenue = price, .catalog_items = 10,
    };
    return o;
}

static double metric(const recsys__online_group *g, const char *name)
{
    for (size_t j = 0; j < recsys__online_nmetrics; j++)
        if (!strcmp(recsys__online_metrics[j].name, name))
            return recsys__online_value(g, j);
    fail_msg("no metric %s", name);
    return 0;
}

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-12)

static void attribution_and_metrics(void **state)
{
    (void)state;
    recsys__online_log log;
    recsys__online_log_init(&log, &recsys__mem_default);
    build(&log);
    assert_int_equal(log.n, 14);
    recsys__online_opts o = opts();
    recsys__online_result r;
    assert_int_equal(recsys__online_compute(&log, &o, &r), RECSYS_OK);
    assert_int_equal(r.impressions, 6);
    assert_int_equal(r.feedback, 8);
    assert_int_equal(r.by_request, 3);
    assert_int_equal(r.by_time, 2);
    assert_int_equal(r.unattributed, 3);
    const recsys__online_group *a = &r.g[0], *b = &r.g[1];
    assert_int_equal(a->nusers, 1);
    assert_int_equal(b->nusers, 1);
    NEAR(metric(a, "impressions_per_user"), 3);
    NEAR(metric(a, "ctr"), 1.0 / 3);
    NEAR(metric(a, "conversion"), 1.0 / 3);
    NEAR(metric(a, "add_to_cart"), 1.0 / 3);
    NEAR(metric(a, "dwell_per_impression"), 40.0 / 3);
    NEAR(metric(a, "skip_rate"), 0);
    NEAR(metric(a, "revenue_per_session"), 30.0 / 2); /* two sessions */
    NEAR(metric(a, "return_rate"), 1);
    NEAR(metric(a, "requests_per_user"), 1);
    /* popularity: i1, i2, i3 each had a positive event of 1 of the 3 window users */
    NEAR(metric(a, "popularity"), 1.0 / 3);
    NEAR(recsys__online_coverage(&r, a), 0.3);
    NEAR(metric(b, "ctr"), 0);
    NEAR(metric(b, "skip_rate"), 0.5);
    NEAR(metric(b, "revenue_per_session"), 12);
    NEAR(metric(b, "return_rate"), 0);
    NEAR(metric(b, "popularity"), (1.0 / 3 + 0) / 2);
    NEAR(recsys__online_coverage(&r, b), 0.2);
    /* by position: a's click was at position 1 */
    assert_int_equal(a->pos_impr[0], 1);
    assert_int_equal(a->pos_click[0], 0);
    assert_int_equal(a->pos_click[1], 1);
    assert_int_equal(b->pos_impr[1], 1);
    recsys__online_result_free(&r);

    /* a one-second attribution window: the cart (15 s) and the dwell (30 s) are lost */
    o.window_s = 1;
    assert_int_equal(recsys__online_compute(&log, &o, &r), RECSYS_OK);
    assert_int_equal(r.by_time, 0);
    assert_int_equal(r.unattributed, 5);
    NEAR(metric(&r.g[0], "add_to_cart"), 0);
    recsys__online_result_free(&r);

    /* a window from 1500: a's impressions are outside, a is no longer exposed */
    o = opts();
    o.from = 1500;
    assert_int_equal(recsys__online_compute(&log, &o, &r), RECSYS_OK);
    assert_int_equal(r.g[0].nusers, 0);
    assert_int_equal(r.g[1].nusers, 1);
    assert_int_equal(r.impressions, 3);
    NEAR(metric(&r.g[0], "ctr"), 0); /* no impressions: 0, not NaN */
    recsys__online_result_free(&r);
    o.to = 1500;
    assert_int_equal(recsys__online_compute(&log, &o, &r), RECSYS_OK);
    assert_int_equal(r.events, 0);
    recsys__online_result_free(&r);

    /* every user in one group when no group function is given */
    o = opts();
    o.group = NULL;
    o.ngroups = 1;
    assert_int_equal(recsys__online_compute(&log, &o, &r), RECSYS_OK);
    assert_int_equal(r.g[0].nusers, 3);
    NEAR(metric(&r.g[0], "ctr"), 1.0 / 6);
    recsys__online_result_free(&r);

    /* bad options */
    o = opts();
    o.ngroups = 0;
    assert_int_equal(recsys__online_compute(&log, &o, &r), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "groups"));
    o = opts();
    o.window_s = -1;
    assert_int_equal(recsys__online_compute(&log, &o, &r), RECSYS_E_INVALID_ARG);
    assert_null(r.g);
    recsys__online_log_free(&log);
}

/* An impression with its attribution and LLM cost, from a record of struct_size bytes. */
static void add_full(recsys__online_log *log, const char *user, const char *item, const char *req,
                     int32_t pos, const char *sources, const char *ranker, uint32_t calls,
                     uint32_t tokens, uint32_t struct_size)
{
    recsys_event ev;
    recsys_event_init(&ev);
    ev.struct_size = struct_size;
    ev.type = RECSYS_EVENT_IMPRESSION;
    ev.user_id = user;
    ev.item_id = item;
    ev.request_id = req;
    ev.position = pos;
    ev.timestamp = 1000;
    ev.sources = sources;
    ev.ranker = ranker;
    ev.llm_calls = calls;
    ev.llm_tokens = tokens;
    assert_int_equal(recsys__online_log_add(log, &ev), RECSYS_OK);
}

static void add_impr(recsys__online_log *log, const char *user, const char *item,
                     const char *req, int32_t pos, const char *sources, const char *ranker)
{
    add_full(log, user, item, req, pos, sources, ranker, 0, 0, (uint32_t)sizeof(recsys_event));
}

static void add_llm(recsys__online_log *log, const char *user, const char *item, const char *req,
                    int32_t pos, const char *ranker, uint32_t calls, uint32_t tokens,
                    uint32_t struct_size)
{
    add_full(log, user, item, req, pos, NULL, ranker, calls, tokens, struct_size);
}

static const recsys__online_cut *cut_of(const recsys__online_result *r, size_t g, bool ranker,
                                        const char *name)
{
    const recsys__ids *ids = ranker ? r->ranker_names : r->src_names;
    size_t n = ranker ? r->nranker : r->nsrc;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(recsys__ids_name(ids, (uint32_t)i), name))
            return ranker ? &r->g[g].by_ranker[i] : &r->g[g].by_src[i];
    fail_msg("no cut named %s", name);
    return NULL;
}

static void expect_cut(const recsys__online_cut *c, uint64_t impr, uint64_t click,
                       uint64_t conv, uint64_t cart)
{
    assert_int_equal(c->impr, impr);
    assert_int_equal(c->click, click);
    assert_int_equal(c->conv, conv);
    assert_int_equal(c->cart, cart);
}

/* Two sources and two rankers, over two groups: a's list (ranker "linear") has i1 from both
 * sources, i2 from "als" only, i3 from "popular" only; b's list (ranker "score") has i1
 * from "popular" and i4 with an empty name around a comma; c's impressions carry nothing
 * (an old log). */
static void cuts_by_source_and_ranker(void **state)
{
    (void)state;
    recsys__online_log log;
    recsys__online_log_init(&log, &recsys__mem_default);
    add_impr(&log, "a", "i1", "r1", 0, "als,popular", "linear");
    add_impr(&log, "a", "i2", "r1", 1, "als", "linear");
    add_impr(&log, "a", "i3", "r1", 2, "popular", "linear");
    add(&log, "a", "i1", RECSYS_EVENT_CLICK, "r1", 0, 1010, 0);
    add(&log, "a", "i1", RECSYS_EVENT_PURCHASE, "r1", 0, 1020, 5);
    add(&log, "a", "i3", RECSYS_EVENT_CLICK, "r1", 2, 1010, 0);
    add(&log, "a", "i2", RECSYS_EVENT_ADD_TO_CART, "r1", 1, 1010, 0);
    add_impr(&log, "b", "i1", "r2", 0, "popular", "score");
    add_impr(&log, "b", "i4", "r2", 1, ",als,", "score");
    add(&log, "b", "i4", RECSYS_EVENT_CLICK, "r2", 1, 1010, 0);
    add(&log, "b", "i4", RECSYS_EVENT_DWELL, "r2", 1, 1020, 30);
    add(&log, "b", "i1", RECSYS_EVENT_SKIP, "r2", 0, 1005, 0);
    add_impr(&log, "b", "i5", "r2b", 0, NULL, NULL);       /* before 0.2: no attribution */
    add(&log, "b", "i5", RECSYS_EVENT_CLICK, "r2b", 0, 1010, 0);
    recsys__online_opts o = opts();
    recsys__online_result r;
    assert_int_equal(recsys__online_compute(&log, &o, &r), RECSYS_OK);
    assert_int_equal(r.nsrc, 2);
    assert_int_equal(r.nranker, 2);
    /* group 0 (a) */
    expect_cut(cut_of(&r, 0, false, "als"), 2, 1, 1, 1);     /* i1 (click, buy), i2 (cart) */
    expect_cut(cut_of(&r, 0, false, "popular"), 2, 2, 1, 0); /* i1 (click, buy), i3 (click) */
    expect_cut(cut_of(&r, 0, true, "linear"), 3, 2, 1, 1);
    expect_cut(cut_of(&r, 0, true, "score"), 0, 0, 0, 0);
    /* group 1 (b): the unattributed i5 is in the group's totals but in no cut */
    expect_cut(cut_of(&r, 1, false, "als"), 1, 1, 0, 0);
    expect_cut(cut_of(&r, 1, false, "popular"), 1, 0, 0, 0);
    expect_cut(cut_of(&r, 1, true, "score"), 2, 1, 0, 0);
    expect_cut(cut_of(&r, 1, true, "linear"), 0, 0, 0, 0);
    /* skips and dwell: b skipped i1 ("popular") and dwelt 30 s on i4 ("als"), both "score" */
    assert_int_equal(cut_of(&r, 1, false, "popular")->skip, 1);
    assert_int_equal(cut_of(&r, 1, false, "als")->skip, 0);
    NEAR(cut_of(&r, 1, false, "als")->dwell, 30);
    NEAR(cut_of(&r, 1, false, "popular")->dwell, 0);
    assert_int_equal(cut_of(&r, 1, true, "score")->skip, 1);
    NEAR(cut_of(&r, 1, true, "score")->dwell, 30);
    assert_int_equal(cut_of(&r, 0, true, "linear")->skip, 0);
    NEAR(r.g[1].tot[RECSYS__ONLINE_F_IMPR], 3);
    NEAR(r.g[1].tot[RECSYS__ONLINE_F_CLICK], 2);
    recsys__online_result_free(&r);
    recsys__online_log_free(&log);
}

/* Requests' LLM cost: a's two requests (ranker "llm": 2 calls / 3000 tokens on each of r1's
 * three impressions, counted once; r2: 1 call / 1000 tokens) and one without the LLM
 * (ranker "plain"); b's request r4 comes from a store whose records end before llm_calls
 * (a smaller struct_size): its values are not read. Per group: a 3 calls, 4000 tokens over
 * 3 requests; b 0 over 1. Per ranker: "llm" 2 requests, 3 calls, 4000 tokens; "plain" 2
 * requests (a's r3 and b's r4), 0. The cost uses the price of 1000 tokens. */
static void llm_cost_per_request(void **state)
{
    (void)state;
    recsys__online_log log;
    recsys__online_log_init(&log, &recsys__mem_default);
    const uint32_t full = (uint32_t)sizeof(recsys_event);
    for (int p = 0; p < 3; p++)
        add_llm(&log, "a", p == 0 ? "i1" : p == 1 ? "i2" : "i3", "r1", p, "llm", 2, 3000, full);
    add_llm(&log, "a", "i4", "r2", 0, "llm", 1, 1000, full);
    add_llm(&log, "a", "i5", "r3", 0, "plain", 0, 0, full);
    add_llm(&log, "b", "i1", "r4", 0, "plain", 7, 7000,
            (uint32_t)offsetof(recsys_event, llm_calls));
    recsys__online_opts o = opts();
    o.llm_cost_per_1k = 0.5;
    recsys__online_result r;
    assert_int_equal(recsys__online_compute(&log, &o, &r), RECSYS_OK);
    size_t calls = 0, tokens = 0, cost = 0;
    for (size_t j = 0; j < recsys__online_nmetrics; j++) {
        const char *name = recsys__online_metrics[j].name;
        calls = !strcmp(name, "llm_calls_per_request") ? j : calls;
        tokens = !strcmp(name, "llm_tokens_per_request") ? j : tokens;
        cost = !strcmp(name, "llm_cost_per_request") ? j : cost;
    }
    assert_true(calls && tokens && cost);
    NEAR(r.g[0].tot[RECSYS__ONLINE_F_REQ], 3);
    NEAR(recsys__online_value(&r.g[0], calls), 1.0);           /* 3 calls / 3 requests */
    NEAR(recsys__online_value(&r.g[0], tokens), 4000.0 / 3);
    NEAR(recsys__online_value(&r.g[0], cost), 2.0 / 3);        /* 4 x 0.5 / 3 */
    NEAR(r.g[1].tot[RECSYS__ONLINE_F_REQ], 1);
    NEAR(recsys__online_value(&r.g[1], calls), 0);
    NEAR(recsys__online_value(&r.g[1], tokens), 0);
    const recsys__online_cut *c = cut_of(&r, 0, true, "llm");
    assert_int_equal(c->impr, 4);
    assert_int_equal(c->req, 2);
    assert_int_equal(c->llm_calls, 3);
    assert_int_equal(c->llm_tokens, 4000);
    c = cut_of(&r, 0, true, "plain");
    assert_int_equal(c->req, 1);
    assert_int_equal(c->llm_calls, 0);
    c = cut_of(&r, 1, true, "plain");
    assert_int_equal(c->req, 1);
    assert_int_equal(c->llm_calls, 0);
    assert_int_equal(c->llm_tokens, 0);
    recsys__online_result_free(&r);
    /* a price that is not a number >= 0 is refused */
    o.llm_cost_per_1k = -1;
    assert_int_equal(recsys__online_compute(&log, &o, &r), RECSYS_E_INVALID_ARG);
    o.llm_cost_per_1k = NAN;
    assert_int_equal(recsys__online_compute(&log, &o, &r), RECSYS_E_INVALID_ARG);
    recsys__online_log_free(&log);
}

static void empty_log(void **state)
{
    (void)state;
    recsys__online_log log;
    recsys__online_log_init(&log, &recsys__mem_default);
    recsys__online_opts o = opts();
    recsys__online_result r;
    assert_int_equal(recsys__online_compute(&log, &o, &r), RECSYS_OK);
    assert_int_equal(r.g[0].nusers, 0);
    NEAR(recsys__online_coverage(&r, &r.g[0]), 0);
    recsys__online_result_free(&r);
    recsys__online_log_free(&log);
}

static void out_of_memory(void **state)
{
    (void)state;
    tk_alloc ta;
    recsys_allocator rec;
    tk_alloc_init(&ta, &rec);
    recsys__mem m;
    assert_int_equal(recsys__mem_init(&m, &rec), RECSYS_OK);
    /* building the log */
    for (long k = 0;; k++) {
        recsys__online_log log;
        recsys__online_log_init(&log, &m);
        ta.fail_at = ta.count + k;
        recsys_event ev;
        recsys_event_init(&ev);
        ev.user_id = "u";
        ev.item_id = "i";
        ev.request_id = "r";
        ev.type = RECSYS_EVENT_IMPRESSION;
        ev.sources = "als,popular,,x";
        ev.ranker = "linear";
        recsys_status st = RECSYS_OK;
        for (int i = 0; i < 40 && st == RECSYS_OK; i++)
            st = recsys__online_log_add(&log, &ev);
        ta.fail_at = -1;
        size_t n = log.n;
        recsys__online_log_free(&log);
        assert_int_equal(ta.live, 0);
        if (st == RECSYS_OK) {
            assert_int_equal(n, 40);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_true(n < 40);
    }
    /* and a failure inside an event's sources takes back that event's entries */
    for (long k = 0;; k++) {
        recsys__online_log log;
        recsys__online_log_init(&log, &m);
        recsys_event ev;
        recsys_event_init(&ev);
        ev.user_id = "u";
        ev.item_id = "i";
        ev.type = RECSYS_EVENT_IMPRESSION;
        ev.sources = "s1,s2,s3,s4,s5,s6,s7,s8,s9,s10,s11,s12,s13,s14,s15,s16,s17,s18";
        ta.fail_at = ta.count + k;
        recsys_status st = recsys__online_log_add(&log, &ev);
        ta.fail_at = -1;
        size_t nsrcv = log.nsrcv, n = log.n;
        recsys__online_log_free(&log);
        assert_int_equal(ta.live, 0);
        if (st == RECSYS_OK) {
            assert_int_equal(nsrcv, 18);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_int_equal(n, 0);
        assert_int_equal(nsrcv, 0);
    }
    /* computing */
    recsys__online_log log;
    recsys__online_log_init(&log, &m);
    build(&log);
    long base = ta.live;
    recsys__online_opts o = opts();
    for (long k = 0;; k++) {
        recsys__online_result r;
        ta.fail_at = ta.count + k;
        recsys_status st = recsys__online_compute(&log, &o, &r);
        ta.fail_at = -1;
        if (st == RECSYS_OK) {
            NEAR(metric(&r.g[0], "ctr"), 1.0 / 3);
            recsys__online_result_free(&r);
            assert_int_equal(ta.live, base);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_non_null(strstr(recsys_last_error(), "memory"));
        assert_null(r.g);
        assert_int_equal(ta.live, base);
    }
    recsys__online_log_free(&log);
    assert_int_equal(ta.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(attribution_and_metrics),
        cmocka_unit_test(cuts_by_source_and_ranker),
        cmocka_unit_test(llm_cost_per_request),
        cmocka_unit_test(empty_log),
        cmocka_unit_test(out_of_memory),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("eval/online", tests, NULL, NULL);
}
