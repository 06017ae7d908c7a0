/* test_campaign.c - the campaign API (recsys_campaign_upsert, _upsert_json, _remove) and the
 * "campaign" source: validation that names the bad argument and changes nothing, activity at
 * the date range's boundaries, the highest boost winning, removed and excluded items skipped,
 * persistence across close and reopen with the file store, store failures and the
 * out-of-memory loop leaving the engine as it was. */
#include "testkit.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "retrieve/sources.h"
#include "support/fixture.h"

/* Every built-in source but campaign, switched off to observe campaign alone. */
static const char *const OTHER_SOURCES[] = { "content", "search", "popular", "trending",
                                             "itemknn", "rp3beta", "session", "ease", "ials",
                                             "vector" };

static void only_campaign(recsys_engine *e)
{
    for (size_t i = 0; i < sizeof OTHER_SOURCES / sizeof *OTHER_SOURCES; i++) {
        recsys_status st = recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, OTHER_SOURCES[i], 0);
        assert_true(st == RECSYS_OK || st == RECSYS_E_NOT_FOUND);
    }
}

static int setup(void **state)
{
    recsys_engine *e = tk_engine(NULL, NULL);
    only_campaign(e);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    recsys_engine_free(*state);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The ids the campaign source proposes (and the list keeps) for an anonymous request at time
 * now, sorted and joined with ','; "-" when none. Excludes item exclude when non-NULL. */
static const char *campaign_items_ex(recsys_engine *e, int64_t now, const char *exclude)
{
    static char buf[512]; /* test-only scratch */
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, 50), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_NOW, now), RECSYS_OK);
    if (exclude)
        assert_int_equal(recsys_request_exclude(rq, exclude), RECSYS_OK);
    recsys_result *res = NULL;
    recsys_status st = recsys_recommend(e, rq, &res);
    if (st != RECSYS_OK)
        print_error("recommend: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
    const char *ids[64];
    size_t n = 0;
    for (size_t i = 0; i < recsys_result_count(res) && n < 64; i++)
        for (size_t j = 0; j < recsys_result_source_count(res, i); j++) {
            const char *name = NULL;
            assert_int_equal(recsys_result_source(res, i, j, &name, NULL), RECSYS_OK);
            if (strcmp(name, "campaign") == 0)
                ids[n++] = recsys_result_item_id(res, i);
        }
    qsort(ids, n, sizeof *ids, cmp_str);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(buf, ",");
        strcat(buf, ids[i]);
    }
    if (!n)
        strcpy(buf, "-");
    recsys_result_free(res);
    recsys_request_free(rq);
    return buf;
}

static const char *campaign_items(recsys_engine *e, int64_t now)
{
    return campaign_items_ex(e, now, NULL);
}

static recsys_status upsert(recsys_engine *e, const char *id, const char *items, double boost,
                            int64_t start, int64_t end)
{
    /* items: comma-separated */
    char copy[256];
    const char *v[16];
    size_t n = 0;
    snprintf(copy, sizeof copy, "%s", items);
    for (char *tok = strtok(copy, ","); tok && n < 16; tok = strtok(NULL, ","))
        v[n++] = tok;
    return recsys_campaign_upsert(e, id, v, n, boost, start, end);
}

static void upsert_ok(recsys_engine *e, const char *id, const char *items, double boost,
                      int64_t start, int64_t end)
{
    recsys_status st = upsert(e, id, items, boost, start, end);
    if (st != RECSYS_OK)
        print_error("campaign upsert: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
}

static void upsert_json_ok(recsys_engine *e, const char *js)
{
    recsys_status st = recsys_campaign_upsert_json(e, js, strlen(js));
    if (st != RECSYS_OK)
        print_error("campaign upsert_json: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
}

/* Asserts st and that the message holds needle. */
static void expect(recsys_status st, recsys_status want, const char *needle)
{
    if (st != want || !strstr(recsys_last_error(), needle))
        print_error("got %d '%s', expected %d with '%s'\n", (int)st, recsys_last_error(),
                    (int)want, needle);
    assert_int_equal(st, want);
    assert_non_null(strstr(recsys_last_error(), needle));
}

#define SNAP(e) tk_snapshot((e), tk_user_ids, tk_nusers, tk_item_ids, tk_nitems)

/* ------------------------------------------------------------ validation */

static void upsert_rejects_every_bad_argument(void **state)
{
    recsys_engine *e = *state;
    upsert_ok(e, "base", "c1,c2", 2.0, 0, 0);
    char *before = SNAP(e);
    const char *one[] = { "c3" };
    char long_id[300];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    char id255[256];
    memset(id255, 'y', 255);
    id255[255] = '\0';

    expect(recsys_campaign_upsert(NULL, "x", one, 1, 1, 0, 0), RECSYS_E_INVALID_ARG, "engine");
    expect(recsys_campaign_upsert(e, NULL, one, 1, 1, 0, 0), RECSYS_E_INVALID_ARG,
           "campaign id is NULL");
    expect(recsys_campaign_upsert(e, "", one, 1, 1, 0, 0), RECSYS_E_INVALID_ARG,
           "campaign id is empty");
    expect(recsys_campaign_upsert(e, long_id, one, 1, 1, 0, 0), RECSYS_E_INVALID_ARG,
           "the limit is 255");
    expect(recsys_campaign_upsert(e, "bad\xff", one, 1, 1, 0, 0), RECSYS_E_INVALID_ARG,
           "not valid UTF-8");
    expect(recsys_campaign_upsert(e, "base", NULL, 1, 1, 0, 0), RECSYS_E_INVALID_ARG,
           "item_ids is NULL");
    expect(recsys_campaign_upsert(e, "base", one, 0, 1, 0, 0), RECSYS_E_INVALID_ARG,
           "0 items; expected 1..10000");
    static const char *many[10001];
    for (size_t i = 0; i < 10001; i++)
        many[i] = "c1";
    expect(recsys_campaign_upsert(e, "base", many, 10001, 1, 0, 0), RECSYS_E_INVALID_ARG,
           "10001 items");
    const char *with_null[] = { "c1", NULL };
    expect(recsys_campaign_upsert(e, "base", with_null, 2, 1, 0, 0), RECSYS_E_INVALID_ARG,
           "campaign 'base': item 1 is NULL");
    const char *with_empty[] = { "", "c1" };
    expect(recsys_campaign_upsert(e, "base", with_empty, 2, 1, 0, 0), RECSYS_E_INVALID_ARG,
           "item 0 is empty");
    const char *with_bad[] = { "c1", "c\xc3" };
    expect(recsys_campaign_upsert(e, "base", with_bad, 2, 1, 0, 0), RECSYS_E_INVALID_ARG,
           "item 1 is not valid UTF-8");
    const char *with_long[] = { long_id };
    expect(recsys_campaign_upsert(e, "base", with_long, 1, 1, 0, 0), RECSYS_E_INVALID_ARG,
           "the limit is 256");
    const char *dup[] = { "c1", "c2", "c1" };
    expect(recsys_campaign_upsert(e, "base", dup, 3, 1, 0, 0), RECSYS_E_INVALID_ARG,
           "item 2 ('c1') repeats item 0");
    expect(recsys_campaign_upsert(e, "base", one, 1, 0, 0, 0), RECSYS_E_INVALID_ARG,
           "boost 0 is not a finite number > 0");
    expect(recsys_campaign_upsert(e, "base", one, 1, -1, 0, 0), RECSYS_E_INVALID_ARG, "boost -1");
    expect(recsys_campaign_upsert(e, "base", one, 1, NAN, 0, 0), RECSYS_E_INVALID_ARG, "boost");
    expect(recsys_campaign_upsert(e, "base", one, 1, INFINITY, 0, 0), RECSYS_E_INVALID_ARG,
           "boost");
    expect(recsys_campaign_upsert(e, "base", one, 1, 1, -1, 0), RECSYS_E_INVALID_ARG,
           "start -1 is negative");
    expect(recsys_campaign_upsert(e, "base", one, 1, 1, 0, -5), RECSYS_E_INVALID_ARG,
           "end -5 is negative");
    expect(recsys_campaign_upsert(e, "base", one, 1, 1, 100, 100), RECSYS_E_INVALID_ARG,
           "end 100 is not after start 100");
    expect(recsys_campaign_upsert(e, "base", one, 1, 1, 100, 50), RECSYS_E_INVALID_ARG,
           "end 50 is not after start 100");
    const char *unknown[] = { "c1", "nope" };
    expect(recsys_campaign_upsert(e, "base", unknown, 2, 1, 0, 0), RECSYS_E_NOT_FOUND,
           "item 1 ('nope') is not in the catalog");
    expect(recsys_campaign_upsert(e, "fresh", unknown, 2, 1, 0, 0), RECSYS_E_NOT_FOUND, "nope");

    /* nothing changed: the old "base" is still there, "fresh" is not */
    char *after = SNAP(e);
    tk_assert_same(before, after);
    free(after);
    assert_string_equal(campaign_items(e, TK_NOW), "c1,c2");
    expect(recsys_campaign_remove(e, "fresh"), RECSYS_E_NOT_FOUND, "no campaign 'fresh'");

    /* the limits themselves are fine */
    assert_int_equal(recsys_campaign_upsert(e, id255, one, 1, 1e300, 1, 2), RECSYS_OK);
    for (size_t i = 0; i < 10000; i++)
        many[i] = tk_item_ids[i % tk_nitems];
    expect(recsys_campaign_upsert(e, "base", many, 10000, 1, 0, 0), RECSYS_E_INVALID_ARG,
           "repeats"); /* 10000 items, but repeated: caught without 10000^2 comparisons */
    free(before);
}

static void upsert_json_rejects_every_bad_text(void **state)
{
    recsys_engine *e = *state;
    upsert_ok(e, "base", "c1,c2", 2.0, 0, 0);
    char *before = SNAP(e);
    static const struct {
        const char *json;
        recsys_status st;
        const char *msg;
    } bad[] = {
        { "", RECSYS_E_INVALID_ARG, "invalid JSON" },
        { "{", RECSYS_E_INVALID_ARG, "invalid JSON" },
        { "[]", RECSYS_E_INVALID_ARG, "expected an object" },
        { "[{\"id\":\"base\",\"items\":[\"c3\"]}]", RECSYS_E_INVALID_ARG, "expected an object" },
        { "\"base\"", RECSYS_E_INVALID_ARG, "invalid JSON" },
        { "{}", RECSYS_E_INVALID_ARG, "field 'id' is required" },
        { "{\"id\":\"base\",\"items\":[\"c3\"]} x", RECSYS_E_INVALID_ARG, "invalid JSON" },
        { "{\"id\":7,\"items\":[\"c3\"]}", RECSYS_E_INVALID_ARG, "field 'id' must be a string" },
        { "{\"id\":\"\",\"items\":[\"c3\"]}", RECSYS_E_INVALID_ARG, "field 'id' is empty" },
        { "{\"id\":\"bad\xff\",\"items\":[\"c3\"]}", RECSYS_E_INVALID_ARG, "invalid JSON" },
        { "{\"id\":\"a\\u0000b\",\"items\":[\"c3\"]}", RECSYS_E_INVALID_ARG, "invalid JSON" },
        { "{\"id\":\"base\"}", RECSYS_E_INVALID_ARG, "campaign 'base': field 'items' is required" },
        { "{\"id\":\"base\",\"items\":\"c3\"}", RECSYS_E_INVALID_ARG,
          "field 'items' must be an array" },
        { "{\"id\":\"base\",\"items\":[]}", RECSYS_E_INVALID_ARG,
          "field 'items' has 0 entries; expected 1..10000" },
        { "{\"id\":\"base\",\"items\":[\"c3\",4]}", RECSYS_E_INVALID_ARG,
          "field 'items': entry 1 is not a string" },
        { "{\"id\":\"base\",\"items\":[\"c3\",\"c3\"]}", RECSYS_E_INVALID_ARG,
          "item 1 ('c3') repeats item 0" },
        { "{\"id\":\"base\",\"items\":[\"\"]}", RECSYS_E_INVALID_ARG, "item 0 is empty" },
        { "{\"id\":\"base\",\"items\":[\"c3\"],\"id\":\"other\"}", RECSYS_E_INVALID_ARG,
          "duplicate" },
        { "{\"id\":\"base\",\"items\":[\"c3\"],\"colour\":\"red\"}", RECSYS_E_INVALID_ARG,
          "campaign 'base': unknown field 'colour'" },
        { "{\"id\":\"base\",\"items\":[\"c3\"],\"boost\":\"2\"}", RECSYS_E_INVALID_ARG,
          "field 'boost' must be a number" },
        { "{\"id\":\"base\",\"items\":[\"c3\"],\"boost\":0}", RECSYS_E_INVALID_ARG, "boost 0" },
        { "{\"id\":\"base\",\"items\":[\"c3\"],\"boost\":-2.5}", RECSYS_E_INVALID_ARG,
          "boost -2.5" },
        { "{\"id\":\"base\",\"items\":[\"c3\"],\"boost\":1e999}", RECSYS_E_INVALID_ARG,
          "invalid JSON" },
        { "{\"id\":\"base\",\"items\":[\"c3\"],\"boost\":null}", RECSYS_E_INVALID_ARG,
          "field 'boost' must be a number" },
        { "{\"id\":\"base\",\"items\":[\"c3\"],\"start\":1.5}", RECSYS_E_INVALID_ARG,
          "field 'start' must be an integer" },
        { "{\"id\":\"base\",\"items\":[\"c3\"],\"end\":\"2026\"}", RECSYS_E_INVALID_ARG,
          "field 'end' must be an integer" },
        { "{\"id\":\"base\",\"items\":[\"c3\"],\"start\":-1}", RECSYS_E_INVALID_ARG,
          "start -1 is negative" },
        { "{\"id\":\"base\",\"items\":[\"c3\"],\"start\":10,\"end\":10}", RECSYS_E_INVALID_ARG,
          "end 10 is not after start 10" },
        { "{\"id\":\"base\",\"items\":[\"c3\",\"ghost\"]}", RECSYS_E_NOT_FOUND,
          "campaign 'base': item 1 ('ghost') is not in the catalog" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        recsys_status st = recsys_campaign_upsert_json(e, bad[i].json, strlen(bad[i].json));
        if (st != bad[i].st || !strstr(recsys_last_error(), bad[i].msg))
            print_error("case %zu (%s): got %d '%s'\n", i, bad[i].json, (int)st,
                        recsys_last_error());
        assert_int_equal(st, bad[i].st);
        assert_non_null(strstr(recsys_last_error(), bad[i].msg));
    }
    expect(recsys_campaign_upsert_json(e, NULL, 3), RECSYS_E_INVALID_ARG, "json");
    expect(recsys_campaign_upsert_json(NULL, "{}", 2), RECSYS_E_INVALID_ARG, "engine");
    /* the size limit is checked before parsing */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_MAX_JSON_BYTES, 64), RECSYS_OK);
    const char *big = "{\"id\":\"base\",\"items\":[\"c3\",\"c4\",\"l1\",\"l2\",\"f1\",\"f3\",\"f5\"],"
                      "\"start\":0,\"end\":0}";
    expect(recsys_campaign_upsert_json(e, big, strlen(big)), RECSYS_E_INVALID_ARG,
           "the limit is 64 bytes");
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_MAX_JSON_BYTES, 64 << 20), RECSYS_OK);

    char *after = SNAP(e);
    tk_assert_same(before, after);
    free(after);
    free(before);
    assert_string_equal(campaign_items(e, TK_NOW), "c1,c2");

    /* defaults: boost 1, always on; replacing keeps one campaign per id */
    upsert_json_ok(e, "{\"items\":[\"c3\"],\"id\":\"base\"}");
    assert_string_equal(campaign_items(e, TK_NOW), "c3");
    assert_string_equal(campaign_items(e, 1), "c3");
    upsert_json_ok(e, big);
    assert_string_equal(campaign_items(e, TK_NOW), "c3,c4,f1,f3,f5,l1,l2");
}

static void remove_rejects_bad_arguments_and_removes(void **state)
{
    recsys_engine *e = *state;
    upsert_ok(e, "a", "c1", 1, 0, 0);
    upsert_ok(e, "b", "c2", 1, 0, 0);
    expect(recsys_campaign_remove(NULL, "a"), RECSYS_E_INVALID_ARG, "engine");
    expect(recsys_campaign_remove(e, NULL), RECSYS_E_INVALID_ARG, "campaign_id is NULL");
    expect(recsys_campaign_remove(e, "\xff"), RECSYS_E_INVALID_ARG, "not valid UTF-8");
    expect(recsys_campaign_remove(e, ""), RECSYS_E_INVALID_ARG, "campaign_id is empty");
    expect(recsys_campaign_remove(e, "zzz"), RECSYS_E_NOT_FOUND, "no campaign 'zzz'");
    assert_string_equal(campaign_items(e, TK_NOW), "c1,c2");
    assert_int_equal(recsys_campaign_remove(e, "a"), RECSYS_OK);
    assert_string_equal(campaign_items(e, TK_NOW), "c2");
    expect(recsys_campaign_remove(e, "a"), RECSYS_E_NOT_FOUND, "no campaign 'a'");
    assert_int_equal(recsys_campaign_remove(e, "b"), RECSYS_OK);
    assert_string_equal(campaign_items(e, TK_NOW), "-");
}

/* ------------------------------------------------------------ activity and scoring */

static void date_range_boundaries(void **state)
{
    recsys_engine *e = *state;
    const int64_t t = TK_NOW;
    upsert_ok(e, "window", "c1", 1, t, t + 100);
    upsert_ok(e, "until", "c2", 1, 0, t + 10);
    upsert_ok(e, "from", "c3", 1, t + 50, 0);
    assert_string_equal(campaign_items(e, t - 1), "c2");        /* before window's start */
    assert_string_equal(campaign_items(e, t), "c1,c2");         /* start is inclusive */
    assert_string_equal(campaign_items(e, t + 9), "c1,c2");
    assert_string_equal(campaign_items(e, t + 10), "c1");       /* end is exclusive */
    assert_string_equal(campaign_items(e, t + 49), "c1");
    assert_string_equal(campaign_items(e, t + 50), "c1,c3");
    assert_string_equal(campaign_items(e, t + 99), "c1,c3");
    assert_string_equal(campaign_items(e, t + 100), "c3");
    assert_string_equal(campaign_items(e, t + 100000000), "c3");
    /* the engine's clock too (no request override) */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, t + 99), RECSYS_OK);
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    recsys_result *res = NULL;
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
    assert_int_equal(recsys_result_count(res), 2);
    recsys_result_free(res);
    recsys_request_free(rq);
}

static void removed_and_excluded_items_are_skipped(void **state)
{
    recsys_engine *e = *state;
    upsert_ok(e, "promo", "c1,c2,l2", 1, 0, 0);
    assert_string_equal(campaign_items_ex(e, TK_NOW, "c2"), "c1,l2");
    assert_int_equal(recsys_catalog_remove(e, "c2"), RECSYS_OK);
    assert_string_equal(campaign_items(e, TK_NOW), "c1,l2");
    /* a new upsert naming it is refused; the campaign in place stays */
    expect(upsert(e, "promo", "c1,c2", 3, 0, 0), RECSYS_E_NOT_FOUND, "('c2') is not in the catalog");
    assert_string_equal(campaign_items(e, TK_NOW), "c1,l2");
    /* an item added back is promoted again */
    const char *js = "{\"item_id\":\"c2\",\"title\":\"Machine Learning Foundations\","
                     "\"category\":\"education\"}";
    assert_int_equal(recsys_catalog_upsert_json(e, js, strlen(js)), RECSYS_OK);
    assert_string_equal(campaign_items(e, TK_NOW), "c1,c2,l2");
    /* unavailable items are the filters' business: l3 is proposed, then dropped */
    upsert_ok(e, "promo", "l3", 1, 0, 0);
    assert_string_equal(campaign_items(e, TK_NOW), "-");
}

static void forgetting_a_user_keeps_campaigns(void **state)
{
    recsys_engine *e = *state;
    upsert_ok(e, "promo", "c3,f3", 1.5, 0, 0);
    assert_int_equal(recsys_user_forget(e, "u-backend"), RECSYS_OK);
    assert_string_equal(campaign_items(e, TK_NOW), "c3,f3");
}

/* The source alone, on the fixture model: scores, highest boost, limit and ties. */
static void put_campaign(fixture *f, const char *id, const char *items, double boost,
                         int64_t start, int64_t end)
{
    char copy[256];
    const char *v[16];
    size_t n = 0;
    snprintf(copy, sizeof copy, "%s", items);
    for (char *tok = strtok(copy, ","); tok && n < 16; tok = strtok(NULL, ","))
        v[n++] = tok;
    recsys__campaign *cp = NULL, *old = NULL;
    assert_int_equal(recsys__campaign_new(&f->mem, id, v, n, boost, start, end, &cp), RECSYS_OK);
    assert_int_equal(recsys__campaign_resolve(cp, &f->model.catalog, true), RECSYS_OK);
    assert_int_equal(recsys__campaigns_reserve(&f->mem, &f->model.campaigns), RECSYS_OK);
    recsys__campaigns_put(&f->model.campaigns, cp, &old);
    recsys__campaign_free(&f->mem, old);
}

static void run_source(fixture *f, recsys_query *q, recsys_candidates *c)
{
    recsys_source_vtable vt;
    memset(&vt, 0xAB, sizeof vt);
    assert_int_equal(recsys__source_campaign(&f->mem, &vt), RECSYS_OK);
    assert_int_equal(vt.struct_size, sizeof vt);
    assert_null(vt.ctx);
    assert_null(vt.destroy);
    recsys__cands_init(c, &f->mem, q, q->limit);
    assert_int_equal(vt.retrieve(vt.ctx, q, c), RECSYS_OK);
    assert_true(c->n <= q->limit);
}

static const char *ids(fixture *f, recsys_candidates *c)
{
    static char buf[1024]; /* test-only scratch */
    return fixture_cands_str(f, c, buf, sizeof buf);
}

static void highest_boost_wins_and_limit_keeps_the_best(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    const int64_t now = FIXTURE_NOW;
    put_campaign(f, "a", "c_ml,c_dist", 2.0, 0, 0);
    put_campaign(f, "b", "c_dist,f_space", 5.0, now - 10, now + 10);
    put_campaign(f, "c", "c_ml,l_ultra", 3.0, 0, 0);
    put_campaign(f, "later", "c_cook,c_ml", 100.0, now + 1, 0); /* not yet */
    put_campaign(f, "over", "f_family", 100.0, 0, now);          /* just over */
    recsys_candidates c;
    run_source(f, fixture_query(f, NULL, NULL, 10), &c);
    /* best first; ties (equal boost) go to the lower item index (catalog order) */
    assert_string_equal(ids(f, &c), "c_dist,f_space,c_ml,l_ultra");
    assert_float_equal(c.v[fixture_cand_pos(f, &c, "c_dist")].score, 5.0, 0);
    assert_float_equal(c.v[fixture_cand_pos(f, &c, "c_ml")].score, 3.0, 0);
    assert_float_equal(c.v[fixture_cand_pos(f, &c, "l_ultra")].score, 3.0, 0);
    recsys__cands_free(&c);
    /* the limit keeps the best */
    run_source(f, fixture_query(f, NULL, NULL, 3), &c);
    assert_string_equal(ids(f, &c), "c_dist,f_space,c_ml");
    recsys__cands_free(&c);
    run_source(f, fixture_query(f, NULL, NULL, 0), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    /* excluded and removed items are skipped; the next best fill in */
    fixture_exclude(f, "c_dist");
    fixture_remove(f, "f_space");
    run_source(f, fixture_query(f, NULL, NULL, 2), &c);
    assert_string_equal(ids(f, &c), "c_ml,l_ultra");
    recsys__cands_free(&c);
    /* an item unknown when loaded (index NONE) is looked up by id again */
    f->model.campaigns.v[2]->items[1] = RECSYS_IDS_NONE;
    run_source(f, fixture_query(f, NULL, NULL, 10), &c);
    assert_string_equal(ids(f, &c), "c_ml,l_ultra");
    recsys__cands_free(&c);
    /* the out-of-memory loop over retrieve */
    size_t got = 0;
    assert_true(fixture_retrieve_oom(f, recsys__source_campaign, fixture_query(f, NULL, NULL, 10),
                                     &got) > 1);
    assert_int_equal(got, 2);
    recsys__campaigns_free(&f->mem, &f->model.campaigns);
    /* no campaigns: nothing, and nothing allocated */
    run_source(f, fixture_query(f, NULL, NULL, 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    fixture_free(f);
}

/* ------------------------------------------------------------ persistence */

static recsys_engine *open_file_engine(const char *dir, const recsys_allocator *alloc,
                                       recsys_status *status)
{
    recsys_store_vtable vt;
    recsys_store_vtable_init(&vt);
    assert_int_equal(recsys_store_file_new(dir, NULL, &vt), RECSYS_OK);
    recsys_engine_opts o;
    recsys_engine_opts_init(&o);
    o.seed = 42;
    o.allocator = alloc;
    o.store = &vt;
    recsys_engine *e = NULL;
    recsys_status st = recsys_engine_new(&o, &e);
    if (status) {
        *status = st;
        return e;
    }
    if (st != RECSYS_OK)
        print_error("engine_new: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW), RECSYS_OK);
    only_campaign(e);
    return e;
}

static void campaigns_survive_close_and_reopen(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_engine *e = open_file_engine(dir, NULL, NULL);
    tk_load(e);
    only_campaign(e);
    upsert_ok(e, "spring", "c1,c2,l2", 1.5, TK_NOW - 10, TK_NOW + 1000);
    upsert_json_ok(e, "{\"id\":\"winter\",\"items\":[\"f3\"],\"boost\":4,\"start\":0,\"end\":"
                      "1700000500}");
    upsert_ok(e, "gone", "f5", 1, 0, 0);
    upsert_ok(e, "spring", "c1,c2,l2,c4", 2.5, TK_NOW - 10, TK_NOW + 1000); /* replaced */
    assert_int_equal(recsys_campaign_remove(e, "gone"), RECSYS_OK);
    assert_int_equal(recsys_catalog_remove(e, "l2"), RECSYS_OK);
    const char *at_now = "c1,c2,c4,f3";
    assert_string_equal(campaign_items(e, TK_NOW), at_now);
    assert_string_equal(campaign_items(e, TK_NOW + 600), "c1,c2,c4");
    recsys_engine_free(e);

    e = open_file_engine(dir, NULL, NULL);
    assert_string_equal(campaign_items(e, TK_NOW), at_now);
    assert_string_equal(campaign_items(e, TK_NOW + 600), "c1,c2,c4");
    assert_string_equal(campaign_items(e, TK_NOW + 1000), "-");
    assert_string_equal(campaign_items(e, TK_NOW - 11), "f3");
    expect(recsys_campaign_remove(e, "gone"), RECSYS_E_NOT_FOUND, "gone");
    /* l2 was removed after the campaign was stored: loading skips it, adding it back
     * promotes it again */
    const char *js = "{\"item_id\":\"l2\",\"title\":\"Featherbook 13\",\"category\":\"laptop\"}";
    assert_int_equal(recsys_catalog_upsert_json(e, js, strlen(js)), RECSYS_OK);
    assert_string_equal(campaign_items(e, TK_NOW), "c1,c2,c4,f3,l2");
    assert_int_equal(recsys_campaign_remove(e, "winter"), RECSYS_OK);
    recsys_engine_free(e);

    e = open_file_engine(dir, NULL, NULL);
    assert_string_equal(campaign_items(e, TK_NOW), "c1,c2,c4,l2");
    /* after compaction too */
    assert_int_equal(recsys_engine_compact(e), RECSYS_OK);
    recsys_engine_free(e);
    e = open_file_engine(dir, NULL, NULL);
    assert_string_equal(campaign_items(e, TK_NOW), "c1,c2,c4,l2");
    recsys_engine_free(e);
    tk_rm_rf(dir);
    free(dir);
}

/* Engine creation over a store holding campaigns, under the out-of-memory loop: every failure
 * is NOMEM and leaks nothing; the engine that opens holds every campaign. */
static void loading_campaigns_oom_loop(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_engine *e = open_file_engine(dir, NULL, NULL);
    tk_load(e);
    upsert_ok(e, "one", "c1,c2", 1.5, 0, 0);
    upsert_ok(e, "two", "f3", 2.5, TK_NOW, TK_NOW + 10);
    recsys_engine_free(e);
    tk_alloc a;
    recsys_allocator rec;
    tk_alloc_init(&a, &rec);
    for (long n = 0;; n++) {
        assert_true(n < 100000);
        a.fail_at = a.count + n;
        recsys_status st;
        e = open_file_engine(dir, &rec, &st);
        a.fail_at = -1;
        if (st == RECSYS_OK) {
            assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW), RECSYS_OK);
            only_campaign(e);
            assert_string_equal(campaign_items(e, TK_NOW), "c1,c2,f3");
            recsys_engine_free(e);
            assert_int_equal(a.live, 0);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(e);
        assert_int_equal(a.live, 0);
    }
    tk_rm_rf(dir);
    free(dir);
}

/* ------------------------------------------------------------ failures change nothing */

typedef recsys_status (*op_fn)(recsys_engine *e);

static recsys_status op_upsert_new(recsys_engine *e)
{
    return upsert(e, "new", "c3,f1", 2, 0, 0);
}
static recsys_status op_upsert_replace(recsys_engine *e)
{
    return upsert(e, "base", "c4,f3,f5", 3, 0, TK_NOW + 5);
}
static recsys_status op_upsert_json(recsys_engine *e)
{
    const char *js = "{\"id\":\"base\",\"items\":[\"l1\",\"l2\"],\"boost\":0.5}";
    return recsys_campaign_upsert_json(e, js, strlen(js));
}
static recsys_status op_remove(recsys_engine *e)
{
    return recsys_campaign_remove(e, "base");
}

static const struct {
    const char *name;
    op_fn fn;
    const char *expect; /* campaign items at TK_NOW after success */
} ops[] = {
    { "upsert (new)", op_upsert_new, "c1,c2,c3,f1" },
    { "upsert (replace)", op_upsert_replace, "c4,f3,f5" },
    { "upsert_json", op_upsert_json, "l1,l2" },
    { "remove", op_remove, "-" },
};

/* Runs every op with a failure injected at attempt k = 0, 1, ... (a store call when store is
 * true, else an allocation) until it succeeds: each failure gives the injected status, a
 * message, and leaves the engine exactly as it was; nothing leaks. */
static void failure_loop(bool store)
{
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        tk_alloc a;
        recsys_allocator rec;
        tk_alloc_init(&a, &rec);
        tk_store w;
        recsys_store_vtable vt;
        tk_store_wrap(&w, &vt);
        recsys_engine *e = tk_engine(&rec, &vt);
        only_campaign(e);
        upsert_ok(e, "base", "c1,c2", 1, 0, 0);
        char *before = SNAP(e);
        assert_string_equal(campaign_items(e, TK_NOW), "c1,c2");
        int k = 0;
        for (;; k++) {
            assert_true(k < 100000);
            if (store)
                w.fail_at = w.calls + k;
            else
                a.fail_at = a.count + k;
            w.failed = false;
            a.failed = 0;
            recsys_status st = ops[i].fn(e);
            bool injected = store ? w.failed : a.failed > 0;
            w.fail_at = a.fail_at = -1;
            if (st == RECSYS_OK)
                break;
            if (!injected)
                print_error("%s failed without an injected failure: %s\n", ops[i].name,
                            recsys_last_error());
            assert_true(injected);
            assert_int_equal(st, store ? RECSYS_E_IO : RECSYS_E_NOMEM);
            assert_true(strlen(recsys_last_error()) > 0);
            char *now = SNAP(e);
            tk_assert_same(before, now);
            free(now);
            assert_string_equal(campaign_items(e, TK_NOW), "c1,c2");
        }
        if (store || i != 3) /* every op calls the store once; all but remove allocate */
            assert_true(k > 0);
        assert_string_equal(campaign_items(e, TK_NOW), ops[i].expect);
        print_message("  %-18s %s failures survived: %d\n", ops[i].name,
                      store ? "store" : "allocation", k);
        recsys_engine_free(e);
        assert_int_equal(a.live, 0);
        assert_int_equal(w.destroyed, 1);
        free(before);
    }
}

static void store_failures_change_nothing(void **state)
{
    (void)state;
    failure_loop(true);
}

static void allocation_failures_change_nothing(void **state)
{
    (void)state;
    failure_loop(false);
}

/* A store written for 0.1 (record kinds 1..3 only) still opens; an upsert then reports the
 * store's refusal and changes nothing. */
static recsys_status old_put(void *ctx, int32_t kind, const char *key, const void *d, size_t n)
{
    tk_store *w = ctx;
    if (kind > RECSYS_RECORD_STATE)
        return recsys_error_set(RECSYS_E_INVALID_ARG, "record kind 4 is unknown");
    return w->inner.put(w->inner.ctx, kind, key, d, n);
}
static recsys_status old_scan(void *ctx, int32_t kind, recsys_record_visit_fn fn, void *arg)
{
    tk_store *w = ctx;
    if (kind > RECSYS_RECORD_STATE)
        return recsys_error_set(RECSYS_E_INVALID_ARG, "record kind 4 is unknown");
    return w->inner.scan_records(w->inner.ctx, kind, fn, arg);
}

static void a_store_without_campaigns_still_opens(void **state)
{
    (void)state;
    tk_store w;
    recsys_store_vtable vt;
    tk_store_wrap(&w, &vt);
    vt.put = old_put;
    vt.scan_records = old_scan;
    recsys_engine *e = tk_engine(NULL, &vt);
    only_campaign(e);
    expect(upsert(e, "x", "c1", 1, 0, 0), RECSYS_E_INVALID_ARG,
           "store 'put': record kind 4 is unknown");
    assert_string_equal(campaign_items(e, TK_NOW), "-");
    expect(recsys_campaign_remove(e, "x"), RECSYS_E_NOT_FOUND, "no campaign 'x'");
    recsys_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(upsert_rejects_every_bad_argument, setup, teardown),
        cmocka_unit_test_setup_teardown(upsert_json_rejects_every_bad_text, setup, teardown),
        cmocka_unit_test_setup_teardown(remove_rejects_bad_arguments_and_removes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(date_range_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(removed_and_excluded_items_are_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(forgetting_a_user_keeps_campaigns, setup, teardown),
        cmocka_unit_test(highest_boost_wins_and_limit_keeps_the_best),
        cmocka_unit_test(campaigns_survive_close_and_reopen),
        cmocka_unit_test(loading_campaigns_oom_loop),
        cmocka_unit_test(store_failures_change_nothing),
        cmocka_unit_test(allocation_failures_change_nothing),
        cmocka_unit_test(a_store_without_campaigns_still_opens),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("engine/campaign", tests, NULL, NULL);
}
