/* test_search.c - the "search" source: the request's query text through BM25 and, with a host
 * embedder, the text's vector against the items' "text" embeddings; nothing without a query;
 * and the "content" source no longer serving the query (only the profile). */
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

typedef recsys_status (*ctor_fn)(const recsys__mem *, recsys_source_vtable *);

/* Runs the source made by ctor for q into a fresh set (limited like the pipeline's). */
static void run(fixture *f, ctor_fn ctor, recsys_query *q, recsys_candidates *c)
{
    recsys_source_vtable vt;
    memset(&vt, 0xAB, sizeof vt);
    assert_int_equal(ctor(&f->mem, &vt), RECSYS_OK);
    assert_int_equal(vt.struct_size, sizeof vt);
    assert_null(vt.ctx);
    assert_null(vt.destroy);
    assert_non_null(vt.retrieve);
    recsys__cands_init(c, &f->mem, q, q->limit);
    assert_int_equal(vt.retrieve(vt.ctx, q, c), RECSYS_OK);
    assert_true(c->n <= q->limit);
}

static const char *ids(fixture *f, recsys_candidates *c)
{
    static char buf[1024]; /* test-only scratch */
    return fixture_cands_str(f, c, buf, sizeof buf);
}

/* ------------------------------------------------------------ the source on the fixture */

static void search_finds_the_request_text(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_refresh(f);
    recsys_candidates c;
    run(f, recsys__source_search, fixture_query(f, NULL, "GPU laptops", 10), &c);
    /* both gpu laptops first (tag + title + category), then the other laptops */
    assert_int_equal(c.n, 4);
    size_t g = fixture_cand_pos(f, &c, "l_gaming"), a = fixture_cand_pos(f, &c, "l_ai");
    assert_true(g < 2 && a < 2);
    assert_true(fixture_cand_pos(f, &c, "l_ultra") >= 2);
    assert_true(fixture_cand_pos(f, &c, "l_eu") >= 2);
    for (size_t i = 1; i < c.n; i++)
        assert_true(c.v[i - 1].score >= c.v[i].score);
    recsys__cands_free(&c);

    /* the user does not matter: the text does */
    run(f, recsys__source_search, fixture_query(f, "dana", "pasta", 10), &c);
    assert_string_equal(ids(f, &c), "c_cook");
    recsys__cands_free(&c);

    run(f, recsys__source_search, fixture_query(f, NULL, "GPU laptops", 1), &c);
    assert_int_equal(c.n, 1);
    recsys__cands_free(&c);

    /* excluded and removed (after the build) items are not proposed; the limit still fills */
    fixture_exclude(f, "l_ai");
    fixture_remove(f, "l_gaming");
    run(f, recsys__source_search, fixture_query(f, NULL, "GPU laptops", 2), &c);
    assert_int_equal(c.n, 2);
    assert_int_equal(fixture_cand_pos(f, &c, "l_ai"), SIZE_MAX);
    assert_int_equal(fixture_cand_pos(f, &c, "l_gaming"), SIZE_MAX);
    recsys__cands_free(&c);

    /* a text with nothing the catalog knows */
    run(f, recsys__source_search, fixture_query(f, "alice", "submarine", 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);

    /* the out-of-memory loop */
    size_t got = 0;
    assert_true(fixture_retrieve_oom(f, recsys__source_search,
                                     fixture_query(f, NULL, "GPU laptops", 10), &got) > 1);
    assert_int_equal(got, 2);
    fixture_free(f);
}

static void no_query_text_gives_nothing(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_refresh(f);
    recsys_candidates c;
    /* dana has interests, alice history-free interests: search ignores profiles */
    static const char *const texts[] = { NULL, "", "   ", "  what is the ", "?!" };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        run(f, recsys__source_search, fixture_query(f, "dana", texts[i], 10), &c);
        assert_int_equal(c.n, 0);
        recsys__cands_free(&c);
        run(f, recsys__source_search, fixture_query(f, NULL, texts[i], 10), &c);
        assert_int_equal(c.n, 0);
        recsys__cands_free(&c);
    }
    /* a zero limit */
    run(f, recsys__source_search, fixture_query(f, NULL, "laptop", 0), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    fixture_free(f);

    /* no text index built (and no embedder): nothing, even with a text */
    f = fixture_new_standard();
    run(f, recsys__source_search, fixture_query(f, NULL, "laptop", 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    fixture_free(f);
}

static void content_serves_the_profile_only(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_refresh(f);
    recsys_candidates with, without;
    /* the text changes nothing: dana gets her interests either way */
    run(f, recsys__source_content, fixture_query(f, "dana", NULL, 10), &without);
    assert_int_equal(without.n, 4);
    static const char *const texts[] = { "pasta", "GPU laptops", "  what is the " };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        run(f, recsys__source_content, fixture_query(f, "dana", texts[i], 10), &with);
        char a[256], b[256];
        assert_string_equal(fixture_cands_str(f, &with, a, sizeof a),
                            fixture_cands_str(f, &without, b, sizeof b));
        for (size_t k = 0; k < with.n; k++)
            assert_true(with.v[k].score == without.v[k].score);
        recsys__cands_free(&with);
    }
    recsys__cands_free(&without);
    /* an anonymous request with a text gets nothing from content */
    run(f, recsys__source_content, fixture_query(f, NULL, "GPU laptops", 10), &with);
    assert_int_equal(with.n, 0);
    recsys__cands_free(&with);
    run(f, recsys__source_content, fixture_query(f, "nobody", "pasta", 10), &with);
    assert_int_equal(with.n, 0);
    recsys__cands_free(&with);
    fixture_free(f);
}

/* ------------------------------------------------------------ through the engine */

static const char *const OTHER_SOURCES[] = { "content", "campaign", "popular", "trending",
                                             "itemknn", "rp3beta", "session", "ease", "ials",
                                             "vector" };

static void only_search(recsys_engine *e)
{
    for (size_t i = 0; i < sizeof OTHER_SOURCES / sizeof *OTHER_SOURCES; i++) {
        recsys_status st = recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, OTHER_SOURCES[i], 0);
        assert_true(st == RECSYS_OK || st == RECSYS_E_NOT_FOUND);
    }
}

static char g_msg[512]; /* the message of the last rec_st() */

/* Recommends for user (NULL = anonymous) with query (NULL = none), impressions off; the
 * caller frees the result. Fails the test on an error other than want. */
static recsys_result *rec_st(recsys_engine *e, const char *user, const char *query,
                             recsys_status want)
{
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    if (user)
        assert_int_equal(recsys_request_set_user(rq, user), RECSYS_OK);
    if (query)
        assert_int_equal(recsys_request_set_query(rq, query), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, 20), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    recsys_result *res = NULL;
    recsys_status st = recsys_recommend(e, rq, &res);
    if (st != want)
        print_error("recommend: %s\n", recsys_last_error());
    assert_int_equal(st, want);
    snprintf(g_msg, sizeof g_msg, "%s", recsys_last_error());
    recsys_request_free(rq); /* clears the thread's message: g_msg keeps it */
    return res;
}

static recsys_result *rec(recsys_engine *e, const char *user, const char *query)
{
    return rec_st(e, user, query, RECSYS_OK);
}

/* True when item i of r was proposed by the source called name. */
static bool from(const recsys_result *r, size_t i, const char *name)
{
    for (size_t j = 0; j < recsys_result_source_count(r, i); j++) {
        const char *n = NULL;
        assert_int_equal(recsys_result_source(r, i, j, &n, NULL), RECSYS_OK);
        if (strcmp(n, name) == 0)
            return true;
    }
    return false;
}

/* The ids of r proposed by the source called name, in list order, joined with ','. */
static const char *ids_from(const recsys_result *r, const char *name)
{
    static char buf[512]; /* test-only scratch */
    buf[0] = '\0';
    for (size_t i = 0; i < recsys_result_count(r); i++) {
        if (!from(r, i, name))
            continue;
        if (buf[0])
            strcat(buf, ",");
        strcat(buf, recsys_result_item_id(r, i));
    }
    return buf[0] ? buf : "-";
}

static void a_query_drives_search_and_not_content(void **state)
{
    (void)state;
    recsys_engine *e = tk_engine(NULL, NULL);
    recsys_result *r = rec(e, NULL, "distributed systems replication");
    assert_true(recsys_result_count(r) >= 1);
    assert_string_equal(recsys_result_item_id(r, 0), "c1");
    assert_true(from(r, 0, "search"));
    assert_string_equal(ids_from(r, "content"), "-"); /* anonymous: no profile */
    recsys_result_free(r);
    /* a user with a profile: content proposes for the profile, search for the text */
    r = rec(e, "u-ml", "distributed systems replication");
    assert_string_equal(ids_from(r, "search"), "c1,c3"); /* "systems" also names c3 */
    char c[512];
    snprintf(c, sizeof c, "%s", ids_from(r, "content"));
    assert_string_not_equal(c, "-");
    recsys_result_free(r);
    /* without a text search proposes nothing, and content the same items as with one (c1
     * among them or not: its text vector may resemble u-ml's courses, the text plays no
     * part) */
    r = rec(e, "u-ml", NULL);
    assert_string_equal(ids_from(r, "search"), "-");
    const char *c0 = ids_from(r, "content");
    assert_int_equal(strlen(c0), strlen(c));
    for (char *t = strtok(c, ","); t; t = strtok(NULL, ","))
        assert_non_null(strstr(c0, t));
    recsys_result_free(r);
    recsys_engine_free(e);
}

static void the_text_index_is_built_for_search_alone(void **state)
{
    (void)state;
    recsys_engine *e = tk_engine(NULL, NULL);
    only_search(e);
    /* with search off too, a refresh builds no text index: search then finds nothing */
    assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, "search", 0), RECSYS_OK);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, "search", 1), RECSYS_OK);
    recsys_result *r = rec(e, NULL, "gaming laptop");
    assert_int_equal(recsys_result_count(r), 0);
    recsys_result_free(r);
    /* search alone on: the refresh builds it */
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    r = rec(e, NULL, "gaming laptop");
    /* l3 (the gaming laptop) is out of stock: the other laptops come */
    assert_true(recsys_result_count(r) >= 2);
    for (size_t i = 0; i < recsys_result_count(r); i++) {
        assert_true(from(r, i, "search"));
        assert_true(recsys_result_item_id(r, i)[0] == 'l');
    }
    recsys_result_free(r);
    recsys_engine_free(e);
}

/* A toy embedder: "space"/"stars" -> (1,0,0), "kitchen"/"cook" -> (0,1,0), else (0,0,1);
 * "break" fails, "silent" returns without a vector. */
typedef struct toy {
    int calls;
    int destroyed;
    char last[128];
} toy;

static recsys_status toy_embed(void *ctx, const char *text, size_t len, recsys_vector_sink *out)
{
    toy *t = ctx;
    t->calls++;
    snprintf(t->last, sizeof t->last, "%.*s", (int)len, text);
    float v[3] = { 0, 0, 1 };
    if (strstr(t->last, "break"))
        return recsys_error_set(RECSYS_E_IO, "embedding service unreachable");
    if (strstr(t->last, "silent"))
        return RECSYS_OK;
    if (strstr(t->last, "space") || strstr(t->last, "stars"))
        v[0] = 1, v[2] = 0;
    else if (strstr(t->last, "kitchen") || strstr(t->last, "cook"))
        v[1] = 1, v[2] = 0;
    return recsys_vector_sink_set(out, v, 3);
}

static void toy_destroy(void *ctx)
{
    ((toy *)ctx)->destroyed++;
}

static const char *toy_items =
    "[{\"item_id\":\"e_orbit\",\"title\":\"Orbital Voyage\",\"category\":\"film\","
    "\"embeddings\":{\"text\":[0.9,0.1,0]}},"
    "{\"item_id\":\"e_knife\",\"title\":\"Knife Skills\",\"category\":\"course\","
    "\"embeddings\":{\"text\":[0,1,0]}},"
    "{\"item_id\":\"e_moon\",\"title\":\"Moon Walk Stars\",\"category\":\"film\","
    "\"embeddings\":{\"text\":[0.5,0,0.5]}},"
    "{\"item_id\":\"e_flat\",\"title\":\"Flatland\",\"category\":\"film\","
    "\"embeddings\":{\"text\":[1,0]}},"
    "{\"item_id\":\"e_zero\",\"title\":\"Nothing\",\"category\":\"film\","
    "\"embeddings\":{\"text\":[0,0,0]}},"
    "{\"item_id\":\"e_dflt\",\"title\":\"Default Only\",\"category\":\"film\","
    "\"embedding\":[1,0,0]}]";

static void the_embedder_finds_what_words_do_not(void **state)
{
    (void)state;
    recsys_engine *e = tk_engine(NULL, NULL);
    only_search(e);
    toy t = { 0 };
    RECSYS_INIT(recsys_embedder_vtable, vt, .ctx = &t, .destroy = toy_destroy,
                .embed = toy_embed);
    assert_int_equal(recsys_engine_set_embedder(e, "toy", &vt), RECSYS_OK);

    /* no item has a text embedding yet: the embedder is not even called */
    recsys_result *r = rec(e, NULL, "space adventure");
    assert_int_equal(recsys_result_count(r), 0);
    assert_int_equal(t.calls, 0);
    recsys_result_free(r);

    assert_int_equal(recsys_catalog_upsert_json(e, toy_items, strlen(toy_items)), RECSYS_OK);
    /* no query: no call, nothing */
    r = rec(e, "u-ml", NULL);
    assert_int_equal(recsys_result_count(r), 0);
    assert_int_equal(t.calls, 0);
    recsys_result_free(r);

    /* no word in common (and not even in the index before a refresh): the vectors match;
     * e_flat (another dimension), e_zero (no direction), e_knife (orthogonal) and e_dflt (a
     * "default" embedding, not "text") are not proposed */
    r = rec(e, NULL, "space adventure");
    assert_int_equal(t.calls, 1);
    assert_string_equal(t.last, "space adventure");
    assert_string_equal(ids_from(r, "search"), "e_orbit,e_moon");
    recsys_result_free(r);

    /* words and vectors add up: "stars" is in e_moon's title and points like e_orbit */
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    r = rec(e, NULL, "stars");
    assert_string_equal(ids_from(r, "search"), "e_moon,e_orbit");
    recsys_result_free(r);
    r = rec(e, NULL, "cook"); /* e_orbit leans a little (0.1) towards the kitchen too */
    assert_string_equal(ids_from(r, "search"), "e_knife,e_orbit");
    recsys_result_free(r);
    /* a text matching words only (vector (0,0,1)): BM25's hits, plus e_moon's half */
    r = rec(e, NULL, "distributed systems");
    assert_true(recsys_result_count(r) >= 2);
    assert_string_equal(recsys_result_item_id(r, 0), "c1");
    assert_non_null(strstr(ids_from(r, "search"), "e_moon"));
    recsys_result_free(r);

    /* the embedder's failure fails the request, naming the source and the embedder */
    recsys_result *bad = rec_st(e, NULL, "break the stars", RECSYS_E_IO);
    assert_null(bad);
    assert_non_null(strstr(g_msg, "source 'search'"));
    assert_non_null(strstr(g_msg, "embedder 'toy'"));
    assert_non_null(strstr(g_msg, "embedding service unreachable"));
    bad = rec_st(e, NULL, "silent stars", RECSYS_E_CALLBACK);
    assert_null(bad);
    assert_non_null(strstr(g_msg, "embedder 'toy': returned no vector"));

    /* a disabled embedder is not called: words only */
    int calls = t.calls;
    assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_EMBEDDER, "toy", 0), RECSYS_OK);
    r = rec(e, NULL, "space adventure");
    assert_int_equal(t.calls, calls);
    assert_int_equal(recsys_result_count(r), 0);
    recsys_result_free(r);
    r = rec(e, NULL, "stars");
    assert_string_equal(ids_from(r, "search"), "e_moon");
    recsys_result_free(r);
    recsys_engine_free(e);
    assert_int_equal(t.destroyed, 1);
}

/* With the embedder, the request survives the out-of-memory loop: every failure is NOMEM and
 * nothing leaks. */
static void search_with_embedder_oom_loop(void **state)
{
    (void)state;
    tk_alloc a;
    recsys_allocator rec_a;
    tk_alloc_init(&a, &rec_a);
    recsys_engine *e = tk_engine(&rec_a, NULL);
    only_search(e);
    toy t = { 0 };
    RECSYS_INIT(recsys_embedder_vtable, vt, .ctx = &t, .embed = toy_embed);
    assert_int_equal(recsys_engine_set_embedder(e, "toy", &vt), RECSYS_OK);
    assert_int_equal(recsys_catalog_upsert_json(e, toy_items, strlen(toy_items)), RECSYS_OK);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_query(rq, "stars"), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    long live = a.live;
    for (long n = 0;; n++) {
        assert_true(n < 100000);
        a.fail_at = a.count + n;
        recsys_result *res = NULL;
        recsys_status st = recsys_recommend(e, rq, &res);
        a.fail_at = -1;
        if (st == RECSYS_OK) {
            assert_int_equal(recsys_result_count(res), 2);
            recsys_result_free(res);
            assert_int_equal(a.live, live);
            assert_true(n > 0);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(res);
        assert_int_equal(a.live, live);
    }
    recsys_request_free(rq);
    recsys_engine_free(e);
    assert_int_equal(a.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(search_finds_the_request_text),
        cmocka_unit_test(no_query_text_gives_nothing),
        cmocka_unit_test(content_serves_the_profile_only),
        cmocka_unit_test(a_query_drives_search_and_not_content),
        cmocka_unit_test(the_text_index_is_built_for_search_alone),
        cmocka_unit_test(the_embedder_finds_what_words_do_not),
        cmocka_unit_test(search_with_embedder_oom_loop),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("retrieve/search", tests, NULL, NULL);
}
