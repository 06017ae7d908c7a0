/* test_conversation.c - the conversation handle (lib/engine/conversation.c) and the
 * pipeline's stage 1 intent hook, through the public API on an engine with a generated
 * laptop catalog: a dialogue asks while many candidates remain and each answer narrows the
 * list (every result item checked against the constraints said so far), a later turn
 * replaces a facet's constraint, business rules still apply, recsys_recommend() with a query
 * text filters by its constraints (and does not with llm.intent off), the LLM reads an
 * ambiguous query through the guard (a bad reply is rejected and the rules' reading stands),
 * how much pipeline a turn runs (a result turn one run, its count from that run; a question
 * turn stage 3 twice; one request counted either way; a failing stage fails the turn and
 * changes nothing), excluded categories listed in the constraints' JSON, bad arguments leave
 * the conversation unchanged, and the out-of-memory loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "recsys.h"
#include "testkit.h"

#define NLAP 24

/* Laptop i's attributes (the catalog is generated from these). */
static double price_of(int i) { return 500 + 100 * i; }
static bool dgpu_of(int i) { return i % 2 == 1; }
static double battery_of(int i) { return 4 + (i % 5) * 3; }
static double weight_of(int i) { return 1.0 + (i % 4) * 0.5; }
static bool gaming_of(int i) { return i % 3 == 0; }

static char *catalog_json(void)
{
    size_t cap = 64 * 1024, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "[");
    for (int i = 0; i < NLAP; i++)
        n += (size_t)snprintf(
            s + n, cap - n,
            "%s{\"item_id\":\"lap-%02d\",\"title\":\"Laptop %d\",\"description\":\"A laptop for "
            "work and AI, number %d.\",\"category\":\"laptop\",\"tags\":[%s%s%s],"
            "\"attributes\":{\"price\":%g,\"dedicated_gpu\":%s,\"battery_hours\":%g,"
            "\"weight_kg\":%g,\"ram_gb\":16}}",
            i ? "," : "", i, i, i, gaming_of(i) ? "\"gaming\"" : "",
            gaming_of(i) && weight_of(i) < 1.5 ? "," : "",
            weight_of(i) < 1.5 ? "\"ultrabook\"" : "", price_of(i), dgpu_of(i) ? "true" : "false",
            battery_of(i), weight_of(i));
    for (int i = 0; i < 3; i++)
        n += (size_t)snprintf(s + n, cap - n,
                              ",{\"item_id\":\"tab-%d\",\"title\":\"Tablet %d\",\"description\":"
                              "\"A tablet for work and reading.\",\"category\":\"tablet\","
                              "\"attributes\":{\"price\":%d,\"battery_hours\":12,"
                              "\"weight_kg\":0.5}}",
                              i, i, 300 + 100 * i);
    snprintf(s + n, cap - n, "]");
    return s;
}

static recsys_engine *make_engine(const recsys_allocator *alloc)
{
    recsys_engine *e = NULL;
    RECSYS_INIT(recsys_engine_opts, opts, .seed = 3, .allocator = alloc);
    assert_int_equal(recsys_engine_new(&opts, &e), RECSYS_OK);
    char *json = catalog_json();
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_TOP_N, 30), RECSYS_OK);
    assert_int_equal(recsys_engine_set_str(e, RECSYS_OPT_CLARIFY_FACETS,
                                           "dedicated_gpu,battery_hours,weight_kg"),
                     RECSYS_OK);
    assert_int_equal(recsys_catalog_upsert_json(e, json, strlen(json)), RECSYS_OK);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    free(json);
    return e;
}

static int laptop_index(const char *id)
{
    int i = -1;
    return sscanf(id, "lap-%d", &i) == 1 ? i : -1;
}

/* The shopper's constraints so far, as the test tracks them. */
typedef struct said {
    double max_price;
    int dgpu;          /* -1 unknown */
    double min_battery;
    double max_weight;
} said;

static void check_result(const recsys_result *res, const said *s)
{
    size_t n = recsys_result_count(res);
    for (size_t k = 0; k < n; k++) {
        const char *id = recsys_result_item_id(res, k);
        int i = laptop_index(id);
        if (i < 0)
            fail_msg("%s is not a laptop", id);
        if (!(price_of(i) < s->max_price) || (s->dgpu >= 0 && dgpu_of(i) != (s->dgpu == 1)) ||
            battery_of(i) < s->min_battery || weight_of(i) > s->max_weight)
            fail_msg("%s breaks a constraint", id);
    }
}

static void test_dialogue_narrows(void **state)
{
    (void)state;
    recsys_engine *e = make_engine(NULL);
    recsys_conversation *cv = NULL;
    assert_int_equal(recsys_conversation_new(e, "shopper", &cv), RECSYS_OK);
    recsys_turn *t = NULL;
    assert_int_equal(recsys_conversation_say(cv, "a laptop for AI work under $1500", &t),
                     RECSYS_OK);
    said s = { 1500, -1, 0, 1e9 };
    /* laptops under 1500: i = 0..9 */
    assert_int_equal(recsys_turn_candidates(t), 10);
    assert_int_equal(recsys_turn_kind(t), RECSYS_TURN_QUESTION);
    check_result(recsys_turn_result(t), &s);
    assert_int_equal(recsys_result_count(recsys_turn_result(t)), 10);
    size_t before = recsys_turn_candidates(t), questions = 0;
    bool narrowed = false;
    while (recsys_turn_kind(t) == RECSYS_TURN_QUESTION) {
        questions++;
        const char *facet = recsys_turn_facet(t);
        const char *q = recsys_turn_question(t);
        const char *answer = NULL;
        if (!strcmp(facet, "dedicated_gpu")) {
            assert_string_equal(q, "Do you need a dedicated GPU? (yes / no / doesn't matter)");
            answer = "yes";
            s.dgpu = 1;
        } else if (!strcmp(facet, "battery_hours")) {
            assert_non_null(strstr(q, "battery (hours)"));
            answer = "at least 7 hours";
            s.min_battery = 7;
        } else if (!strcmp(facet, "weight_kg")) {
            answer = "under 2 kg";
            s.max_weight = 1.999;
        } else
            fail_msg("unexpected facet %s", facet);
        recsys_turn_free(t);
        assert_int_equal(recsys_conversation_say(cv, answer, &t), RECSYS_OK);
        check_result(recsys_turn_result(t), &s);
        assert_true(recsys_turn_candidates(t) <= before);
        narrowed |= recsys_turn_candidates(t) < before;
        assert_int_equal(recsys_result_count(recsys_turn_result(t)), recsys_turn_candidates(t));
        before = recsys_turn_candidates(t);
    }
    assert_true(narrowed);
    assert_true(questions >= 1 && questions <= 3);
    assert_int_equal(recsys_turn_kind(t), RECSYS_TURN_RESULT);
    assert_string_equal(recsys_turn_question(t), "");
    assert_string_equal(recsys_turn_facet(t), "");
    char *json = NULL;
    assert_int_equal(recsys_conversation_constraints_json(cv, &json), RECSYS_OK);
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "category")), "laptop");
    assert_non_null(strstr(json_string_value(json_object_get(root, "expression")),
                           "attr(\"price\") < 1500"));
    json_decref(root);
    recsys_string_free(json);
    recsys_turn_free(t);
    recsys_conversation_free(cv);
    recsys_engine_free(e);
}

static void test_refine_and_rules(void **state)
{
    (void)state;
    recsys_engine *e = make_engine(NULL);
    /* a business rule the conversation cannot get around */
    recsys_rule r;
    recsys_rule_init(&r);
    r.kind = RECSYS_RULE_BLOCK;
    r.expr = "id == \"lap-02\"";
    assert_int_equal(recsys_engine_rule_set(e, "no-lap-02", &r), RECSYS_OK);
    recsys_conversation *cv = NULL;
    assert_int_equal(recsys_conversation_new(e, NULL, &cv), RECSYS_OK);
    recsys_turn *t = NULL;
    assert_int_equal(recsys_conversation_say(cv, "laptop under $1500", &t), RECSYS_OK);
    assert_int_equal(recsys_turn_candidates(t), 9); /* 0..9 without lap-02 */
    const recsys_result *res = recsys_turn_result(t);
    for (size_t k = 0; k < recsys_result_count(res); k++)
        assert_string_not_equal(recsys_result_item_id(res, k), "lap-02");
    recsys_turn_free(t);
    /* not an answer to the question: a new price replaces the old one */
    assert_int_equal(recsys_conversation_say(cv, "actually under $900 please", &t), RECSYS_OK);
    said s = { 900, -1, 0, 1e9 };
    check_result(recsys_turn_result(t), &s);
    assert_int_equal(recsys_turn_candidates(t), 3); /* 0, 1, 3 */
    /* few candidates left: a result */
    assert_int_equal(recsys_turn_kind(t), RECSYS_TURN_RESULT);
    recsys_turn_free(t);
    char *json = NULL;
    assert_int_equal(recsys_conversation_constraints_json(cv, &json), RECSYS_OK);
    assert_non_null(strstr(json, "\"max\":900"));
    assert_null(strstr(json, "1500"));
    recsys_string_free(json);
    /* "doesn't matter" after a question is an answer that adds nothing */
    recsys_conversation_free(cv);
    assert_int_equal(recsys_conversation_new(e, NULL, &cv), RECSYS_OK);
    assert_int_equal(recsys_conversation_say(cv, "laptop", &t), RECSYS_OK);
    assert_int_equal(recsys_turn_kind(t), RECSYS_TURN_QUESTION);
    char facet[64];
    snprintf(facet, sizeof facet, "%s", recsys_turn_facet(t));
    size_t n0 = recsys_turn_candidates(t);
    recsys_turn_free(t);
    assert_int_equal(recsys_conversation_say(cv, "doesn't matter", &t), RECSYS_OK);
    assert_int_equal(recsys_turn_candidates(t), n0);
    assert_string_not_equal(recsys_turn_facet(t), facet); /* never asked twice */
    recsys_turn_free(t);
    recsys_conversation_free(cv);
    recsys_engine_free(e);
}

static recsys_result *query(recsys_engine *e, const char *text, int intent)
{
    recsys_request *req = NULL;
    recsys_result *res = NULL;
    assert_int_equal(recsys_request_new(&req), RECSYS_OK);
    assert_int_equal(recsys_request_set_query(req, text), RECSYS_OK);
    if (intent >= 0)
        assert_int_equal(recsys_request_set_int(req, RECSYS_OPT_LLM_INTENT, intent), RECSYS_OK);
    assert_int_equal(recsys_recommend(e, req, &res), RECSYS_OK);
    recsys_request_free(req);
    return res;
}

static void test_stage1_hook(void **state)
{
    (void)state;
    recsys_engine *e = make_engine(NULL);
    recsys_result *res = query(e, "laptop under $900 without gaming", -1);
    /* laptops 0..3 under 900, without gaming (0 and 3 are): 1, 2 */
    assert_int_equal(recsys_result_count(res), 2);
    for (size_t k = 0; k < 2; k++) {
        int i = laptop_index(recsys_result_item_id(res, k));
        assert_true(i == 1 || i == 2);
    }
    recsys_result_free(res);
    /* off: the same text only ranks */
    res = query(e, "laptop under $900 without gaming", 0);
    size_t over = 0;
    for (size_t k = 0; k < recsys_result_count(res); k++) {
        int i = laptop_index(recsys_result_item_id(res, k));
        over += i < 0 || price_of(i) >= 900 || gaming_of(i);
    }
    assert_true(over > 0);
    recsys_result_free(res);
    /* nothing understood: nothing filtered */
    res = query(e, "work", -1);
    assert_true(recsys_result_count(res) > 20);
    recsys_result_free(res);
    recsys_engine_free(e);
}

typedef struct script {
    const char *reply;
    int calls;
} script;

static recsys_status scripted(void *ctx, const recsys_llm_call *call, recsys_llm_reply *r)
{
    script *s = ctx;
    s->calls++;
    assert_int_equal(recsys_llm_call_task(call), RECSYS_LLM_INTENT);
    return recsys_llm_reply_set_text(r, s->reply, strlen(s->reply));
}

static void test_stage1_llm(void **state)
{
    (void)state;
    recsys_engine *e = make_engine(NULL);
    script s = { .reply = "{\"ranges\":[{\"attribute\":\"weight_kg\",\"max\":1.2}],"
                          "\"require_tags\":[\"teleporter\"]}" };
    recsys_llm_vtable vt;
    recsys_llm_vtable_init(&vt);
    vt.ctx = &s;
    vt.complete = scripted;
    assert_int_equal(recsys_engine_set_llm(e, "scripted", &vt), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_LLM_CACHE_BYTES, 0), RECSYS_OK);
    /* unambiguous: no call */
    recsys_result *res = query(e, "laptop under $1000", -1);
    assert_int_equal(s.calls, 0);
    assert_int_equal(recsys_result_count(res), 5);
    recsys_result_free(res);
    /* an unknown word: the LLM reads it; its unknown tag is dropped, its range kept */
    res = query(e, "a laptop that is a breeze to lug around", -1);
    assert_int_equal(s.calls, 1);
    assert_true(recsys_result_count(res) > 0);
    for (size_t k = 0; k < recsys_result_count(res); k++) {
        int i = laptop_index(recsys_result_item_id(res, k));
        assert_true(i >= 0 && weight_of(i) <= 1.2);
    }
    recsys_result_free(res);
    /* a broken reply: rejected; the rules' reading (laptops) stands */
    s.reply = "I think you want {\"ranges\": [";
    recsys_llm_stats st0, st1;
    memset(&st0, 0, sizeof st0);
    st0.struct_size = sizeof st0;
    st1 = st0;
    assert_int_equal(recsys_engine_llm_stats(e, &st0), RECSYS_OK);
    res = query(e, "a laptop that is a breeze to lug around", -1);
    assert_int_equal(recsys_engine_llm_stats(e, &st1), RECSYS_OK);
    assert_int_equal(st1.rejected, st0.rejected + 1);
    assert_int_equal(recsys_result_count(res), NLAP);
    recsys_result_free(res);
    /* no budget: no call */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_LLM_CALLS_PER_REQUEST, 0), RECSYS_OK);
    int calls = s.calls;
    res = query(e, "a laptop that is a breeze to lug around", -1);
    assert_int_equal(s.calls, calls);
    recsys_result_free(res);
    recsys_engine_free(e);
}

/* A pass-through filter counting its calls (one per run of stage 3), failing when told. */
typedef struct counter {
    int runs;
    bool fail;
} counter;

static recsys_status counting_filter(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    (void)q;
    (void)c;
    counter *k = ctx;
    k->runs++;
    return k->fail ? recsys_error_set(RECSYS_E_CALLBACK, "counting filter: told to fail")
                   : RECSYS_OK;
}

static uint64_t requests_of(recsys_engine *e)
{
    uint64_t n = 0;
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_REQUESTS, &n), RECSYS_OK);
    return n;
}

/* How much pipeline a turn runs: a result turn one run (its candidate count from that run's
 * stage 3), a question turn stages 1-3 a second time; either way one request is counted
 * (the run a question stops after stage 3 is not). The counts and lists are what the
 * constraints give. */
static void test_pipeline_runs_per_turn(void **state)
{
    (void)state;
    recsys_engine *e = make_engine(NULL);
    counter k = { 0 };
    recsys_filter_vtable fv;
    recsys_filter_vtable_init(&fv);
    fv.ctx = &k;
    fv.apply = counting_filter;
    assert_int_equal(recsys_engine_add_filter(e, "count", &fv), RECSYS_OK);
    recsys_conversation *cv = NULL;
    assert_int_equal(recsys_conversation_new(e, "shopper", &cv), RECSYS_OK);
    recsys_turn *t = NULL;
    uint64_t req0 = requests_of(e);
    assert_int_equal(recsys_conversation_say(cv, "a laptop under $1500", &t), RECSYS_OK);
    assert_int_equal(recsys_turn_kind(t), RECSYS_TURN_QUESTION);
    assert_int_equal(recsys_turn_candidates(t), 10); /* laptops 0..9 */
    assert_int_equal(recsys_result_count(recsys_turn_result(t)), 10);
    assert_int_equal(k.runs, 2);
    assert_int_equal(requests_of(e), req0 + 1);
    recsys_turn_free(t);
    /* not a question any more: at most 3 candidates (laptops 0..2) */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_CLARIFY_MIN_CANDIDATES, 3), RECSYS_OK);
    k.runs = 0;
    assert_int_equal(recsys_conversation_say(cv, "under $800", &t), RECSYS_OK);
    assert_int_equal(recsys_turn_kind(t), RECSYS_TURN_RESULT);
    assert_int_equal(recsys_turn_candidates(t), 3);
    said s = { 800, -1, 0, 1e9 };
    check_result(recsys_turn_result(t), &s);
    assert_int_equal(recsys_result_count(recsys_turn_result(t)), 3);
    assert_int_equal(k.runs, 1);
    assert_int_equal(requests_of(e), req0 + 2);
    recsys_turn_free(t);
    /* more candidates than the minimum but no question left to ask: one run too */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_CLARIFY_MAX_QUESTIONS, 1), RECSYS_OK);
    k.runs = 0;
    assert_int_equal(recsys_conversation_say(cv, "under $1500 after all", &t), RECSYS_OK);
    assert_int_equal(recsys_turn_kind(t), RECSYS_TURN_RESULT);
    assert_int_equal(recsys_turn_candidates(t), 10);
    assert_int_equal(recsys_result_count(recsys_turn_result(t)), 10);
    assert_int_equal(k.runs, 1);
    assert_int_equal(requests_of(e), req0 + 3);
    recsys_turn_free(t);
    /* stage 3 failing in the turn's run fails the turn: nothing counted, nothing changed */
    char *before = NULL, *after = NULL;
    assert_int_equal(recsys_conversation_constraints_json(cv, &before), RECSYS_OK);
    k.fail = true;
    assert_int_equal(recsys_conversation_say(cv, "under $700", &t), RECSYS_E_CALLBACK);
    assert_null(t);
    assert_non_null(strstr(recsys_last_error(), "told to fail"));
    assert_int_equal(requests_of(e), req0 + 3);
    assert_int_equal(recsys_conversation_constraints_json(cv, &after), RECSYS_OK);
    assert_string_equal(before, after);
    k.fail = false;
    recsys_conversation_free(cv);
    recsys_engine_free(e);
    recsys_string_free(before);
    recsys_string_free(after);
}

/* Excluded categories are listed in the constraints' JSON (and filter through the
 * expression); one a required category implies stays listed, out of the expression. */
static void test_constraints_exclude_categories(void **state)
{
    (void)state;
    recsys_engine *e = make_engine(NULL);
    recsys_conversation *cv = NULL;
    assert_int_equal(recsys_conversation_new(e, NULL, &cv), RECSYS_OK);
    recsys_turn *t = NULL;
    assert_int_equal(recsys_conversation_say(cv, "anything but tablets under $800 for work",
                                             &t), RECSYS_OK);
    const recsys_result *res = recsys_turn_result(t);
    assert_int_equal(recsys_turn_candidates(t), 3); /* laptops 0..2: the tablets are out */
    assert_int_equal(recsys_result_count(res), 3);
    for (size_t k = 0; k < recsys_result_count(res); k++)
        assert_true(laptop_index(recsys_result_item_id(res, k)) >= 0);
    recsys_turn_free(t);
    char *json = NULL;
    assert_int_equal(recsys_conversation_constraints_json(cv, &json), RECSYS_OK);
    json_error_t je;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    assert_non_null(root);
    assert_true(json_is_null(json_object_get(root, "category")));
    json_t *xc = json_object_get(root, "exclude_categories");
    assert_true(json_is_array(xc));
    assert_int_equal(json_array_size(xc), 1);
    assert_string_equal(json_string_value(json_array_get(xc, 0)), "tablet");
    assert_true(json_is_array(json_object_get(root, "exclude_tags")));
    assert_non_null(strstr(json_string_value(json_object_get(root, "expression")),
                           "category != \"tablet\""));
    json_decref(root);
    recsys_string_free(json);
    /* a category named now: the exclusion stays listed, implied (not in the expression) */
    assert_int_equal(recsys_conversation_say(cv, "a laptop", &t), RECSYS_OK);
    recsys_turn_free(t);
    assert_int_equal(recsys_conversation_constraints_json(cv, &json), RECSYS_OK);
    root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "category")), "laptop");
    xc = json_object_get(root, "exclude_categories");
    assert_int_equal(json_array_size(xc), 1);
    assert_string_equal(json_string_value(json_array_get(xc, 0)), "tablet");
    assert_null(strstr(json_string_value(json_object_get(root, "expression")), "tablet"));
    json_decref(root);
    recsys_string_free(json);
    /* none excluded: an empty list */
    recsys_conversation_free(cv);
    assert_int_equal(recsys_conversation_new(e, NULL, &cv), RECSYS_OK);
    assert_int_equal(recsys_conversation_constraints_json(cv, &json), RECSYS_OK);
    assert_non_null(strstr(json, "\"exclude_categories\":[]"));
    recsys_string_free(json);
    recsys_conversation_free(cv);
    recsys_engine_free(e);
}

static void test_bad_args(void **state)
{
    (void)state;
    recsys_engine *e = make_engine(NULL);
    recsys_conversation *cv = NULL;
    recsys_turn *t = NULL;
    assert_int_equal(recsys_conversation_new(NULL, NULL, &cv), RECSYS_E_INVALID_ARG);
    assert_null(cv);
    assert_int_equal(recsys_conversation_new(e, "\xff", &cv), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_conversation_new(e, NULL, &cv), RECSYS_OK);
    assert_int_equal(recsys_conversation_say(cv, "laptop under $1500", &t), RECSYS_OK);
    recsys_turn_free(t);
    char *before = NULL, *after = NULL;
    assert_int_equal(recsys_conversation_constraints_json(cv, &before), RECSYS_OK);
    assert_int_equal(recsys_conversation_say(cv, NULL, &t), RECSYS_E_INVALID_ARG);
    assert_null(t);
    assert_non_null(strstr(recsys_last_error(), "text"));
    assert_int_equal(recsys_conversation_say(cv, "under $500 \xc3\x28", &t), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_conversation_say(NULL, "x", &t), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_conversation_say(cv, "x", NULL), RECSYS_E_INVALID_ARG);
    char *big = malloc(5000);
    memset(big, 'a', 4999);
    big[4999] = '\0';
    assert_int_equal(recsys_conversation_say(cv, big, &t), RECSYS_E_INVALID_ARG);
    free(big);
    assert_int_equal(recsys_conversation_constraints_json(cv, &after), RECSYS_OK);
    assert_string_equal(before, after);
    char *none = (char *)"x";
    assert_int_equal(recsys_conversation_constraints_json(NULL, &none), RECSYS_E_INVALID_ARG);
    assert_null(none);
    assert_int_equal(recsys_turn_kind(NULL), 0);
    assert_string_equal(recsys_turn_question(NULL), "");
    assert_null(recsys_turn_result(NULL));
    recsys_turn_free(NULL);
    recsys_conversation_free(NULL);
    recsys_string_free(before);
    recsys_string_free(after);
    recsys_conversation_free(cv);
    recsys_engine_free(e);
}

static void test_oom(void **state)
{
    (void)state;
    tk_alloc a;
    recsys_allocator rec;
    tk_alloc_init(&a, &rec);
    recsys_engine *e = make_engine(&rec);
    recsys_conversation *cv = NULL;
    for (long n = 0;; n++) {
        a.fail_at = a.count + n;
        recsys_status st = recsys_conversation_new(e, "u", &cv);
        a.fail_at = -1;
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(cv);
    }
    recsys_turn *t = NULL;
    assert_int_equal(recsys_conversation_say(cv, "laptop under $1500", &t), RECSYS_OK);
    recsys_turn_free(t);
    char *before = NULL;
    assert_int_equal(recsys_conversation_constraints_json(cv, &before), RECSYS_OK);
    for (long n = 0;; n++) {
        a.fail_at = a.count + n;
        recsys_status st = recsys_conversation_say(cv, "yes, with a dedicated GPU and over 5 hours", &t);
        a.fail_at = -1;
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(t);
        char *now = NULL;
        assert_int_equal(recsys_conversation_constraints_json(cv, &now), RECSYS_OK);
        assert_string_equal(before, now); /* a failed turn changes nothing */
        recsys_string_free(now);
    }
    assert_true(recsys_turn_candidates(t) < 10);
    recsys_turn_free(t);
    recsys_string_free(before);
    recsys_conversation_free(cv);
    recsys_engine_free(e);
    assert_int_equal(a.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dialogue_narrows),
        cmocka_unit_test(test_refine_and_rules),
        cmocka_unit_test(test_stage1_hook),
        cmocka_unit_test(test_stage1_llm),
        cmocka_unit_test(test_pipeline_runs_per_turn),
        cmocka_unit_test(test_constraints_exclude_categories),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_oom),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("engine/conversation", tests, NULL, NULL);
}
