/* test_llm_explain.c - LLM explanations with a scripted LLM: true explanations pass, every
 * kind of false claim is caught and replaced by the template, unknown handles are ignored,
 * an unavailable item is never praised, a malformed reply gives templates (and is
 * rejected), budget 0 makes no call; the prompt holds no ids; nothing leaks on NOMEM; and the
 * pipeline's stage 7 serves the checked explanations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "llm/explain_llm.h"
#include "support/fixture.h"
#include "support/testkit.h"

static const int64_t now = FIXTURE_NOW, day = FIXTURE_DAY;

/* ------------------------------------------------------------ the scripted LLM */

typedef struct script {
    const char *reply; /* NULL: the transport fails */
    int calls;
    char system[8192];
    char prompt[32768];
    char schema[4096];
    int32_t task;
} script;

static recsys_status scripted_complete(void *ctx, const recsys_llm_call *call,
                                       recsys_llm_reply *reply)
{
    script *s = ctx;
    s->calls++;
    s->task = recsys_llm_call_task(call);
    snprintf(s->system, sizeof s->system, "%s", recsys_llm_call_system(call));
    snprintf(s->prompt, sizeof s->prompt, "%s", recsys_llm_call_prompt(call));
    const char *schema = recsys_llm_call_schema(call);
    snprintf(s->schema, sizeof s->schema, "%s", schema ? schema : "");
    if (!s->reply)
        return RECSYS_E_CALLBACK;
    return recsys_llm_reply_set_text(reply, s->reply, strlen(s->reply));
}

static recsys_llm_vtable scripted(script *s)
{
    recsys_llm_vtable vt;
    recsys_llm_vtable_init(&vt);
    vt.ctx = s;
    vt.complete = scripted_complete;
    return vt;
}

/* ------------------------------------------------------------ the fixture */

/* The standard fixture; alice bought c_sys three days ago (her history handle h1). The
 * reply cache is off so that every run asks. */
static fixture *setup(void)
{
    fixture *f = fixture_new_standard();
    fixture_item_def heat = { .id = "f_heat", .title = "Heat (1995)", .category = "film",
                              .tags = "crime" };
    fixture_add_item(f, &heat);
    fixture_event(f, "alice", "c_sys", RECSYS_EVENT_PURCHASE, 0, now - 3 * day);
    fixture_set_opt(f, RECSYS_OPT_LLM_CACHE_BYTES, 0);
    fixture_query(f, "alice", NULL, 100);
    return f;
}

/* The list the tests explain: handle 1 l_gaming, 2 l_ultra, 3 l_ai (unavailable), 4 c_dist. */
#define LIST "l_gaming,l_ultra,l_ai,c_dist"
#define N 4

typedef struct outcome {
    recsys__explanation ex[N];
    uint8_t verdict[N];
    recsys__llm_counters cnt;
    int calls;
} outcome;

/* Runs recsys__explain_llm over LIST with the scripted reply (vt NULL when no_llm) on a fresh
 * guard, and checks the invariants every outcome keeps: every explanation is there, every
 * piece of evidence is grounded, an unavailable item has the template, a failed or missing
 * LLM explanation is exactly the template. */
static void run(fixture *f, const char *reply, bool no_llm, outcome *o, script *s)
{
    recsys_candidates c;
    fixture_cands(f, &c, LIST);
    assert_int_equal(c.n, N);
    recsys__llm_guard *g = NULL;
    assert_int_equal(recsys__llm_guard_new(&f->mem, &g), RECSYS_OK);
    recsys__llm_budget b;
    recsys__llm_budget_init(&b, f->q.opt);
    script local = { .reply = reply };
    if (!s)
        s = &local;
    else
        s->reply = reply;
    recsys_llm_vtable vt = scripted(s);
    assert_int_equal(recsys__explain_llm(&f->mem, g, no_llm ? NULL : &vt, &b, &f->q, &c, o->ex,
                                         o->verdict),
                     RECSYS_OK);
    recsys__llm_counters_get(g, &o->cnt);
    o->calls = s->calls;
    for (size_t i = 0; i < N; i++) {
        const recsys_item *it = recsys__catalog_get(&f->model.catalog, c.v[i].item);
        assert_non_null(o->ex[i].text);
        for (size_t k = 0; k < o->ex[i].nev; k++)
            assert_true(recsys__evidence_grounded(&f->q, it, o->ex[i].ev[k].kind,
                                                  o->ex[i].ev[k].name, o->ex[i].ev[k].value));
        assert_true(o->ex[i].nev <= RECSYS__EXPLAIN_MAX_EVIDENCE);
        if (!it->available) {
            assert_int_not_equal(o->verdict[i], RECSYS__EXPLAIN_LLM_PASSED);
            assert_string_equal(o->ex[i].text, "Currently unavailable.");
        }
        if (o->verdict[i] != RECSYS__EXPLAIN_LLM_PASSED) {
            recsys__explanation t;
            assert_int_equal(recsys__explain_template(&f->mem, &f->q, &c, i, &t), RECSYS_OK);
            assert_string_equal(o->ex[i].text, t.text);
            assert_int_equal(o->ex[i].nev, t.nev);
            recsys__explanation_free(&f->mem, &t);
        }
    }
    uint64_t given = 0, failed = 0;
    for (size_t i = 0; i < N; i++) {
        given += o->verdict[i] != RECSYS__EXPLAIN_LLM_NONE;
        failed += o->verdict[i] == RECSYS__EXPLAIN_LLM_FAILED;
    }
    assert_int_equal(o->cnt.explanations, given);
    assert_int_equal(o->cnt.explanations_failed, failed);
    recsys__llm_guard_free(g);
    recsys__cands_free(&c);
}

static void outcome_free(fixture *f, outcome *o)
{
    for (size_t i = 0; i < N; i++)
        recsys__explanation_free(&f->mem, &o->ex[i]);
}

/* One entry for handle h with text and evidence (JSON text of the array). */
static const char *reply1(char *buf, size_t cap, int h, const char *text, const char *ev)
{
    snprintf(buf, cap, "{\"explanations\":[{\"handle\":%d,\"text\":\"%s\",\"evidence\":%s}]}",
             h, text, ev);
    return buf;
}

static const char *const cat_laptop = "[{\"kind\":\"attribute\",\"name\":\"category\","
                                      "\"value\":\"laptop\"}]";

/* The verdict of one explanation of handle h (the others get none). */
static uint8_t verdict_of(fixture *f, int h, const char *text, const char *ev)
{
    char buf[4096];
    outcome o;
    run(f, reply1(buf, sizeof buf, h, text, ev), false, &o, NULL);
    for (int i = 0; i < N; i++)
        if (i != h - 1)
            assert_int_equal(o.verdict[i], RECSYS__EXPLAIN_LLM_NONE);
    assert_int_equal(o.cnt.rejected, 0);
    uint8_t v = o.verdict[h - 1];
    if (v == RECSYS__EXPLAIN_LLM_PASSED)
        assert_string_equal(o.ex[h - 1].text, text);
    outcome_free(f, &o);
    return v;
}

/* ------------------------------------------------------------ tests */

static void test_true_explanations_pass(void **state)
{
    (void)state;
    fixture *f = setup();
    const char *reply =
        "{\"explanations\":["
        "{\"handle\":1,\"text\":\"A gaming laptop with an RTX 4070 GPU for $1,899.\","
        "\"evidence\":[{\"kind\":\"attribute\",\"name\":\"category\",\"value\":\"laptop\"},"
        "{\"kind\":\"attribute\",\"name\":\"price\",\"value\":1899}]},"
        "{\"handle\":4,\"text\":\"Because you bought System Design Interview Prep, and it "
        "covers scalability.\",\"evidence\":[{\"kind\":\"history\",\"item\":\"h1\"},"
        "{\"kind\":\"attribute\",\"name\":\"tags\",\"value\":\"scalability\"}]}]}";
    outcome o;
    script s;
    memset(&s, 0, sizeof s);
    run(f, reply, false, &o, &s);
    assert_int_equal(o.calls, 1);
    assert_int_equal(s.task, RECSYS_LLM_EXPLAIN);
    assert_int_equal(o.verdict[0], RECSYS__EXPLAIN_LLM_PASSED);
    assert_int_equal(o.verdict[1], RECSYS__EXPLAIN_LLM_NONE);
    assert_int_equal(o.verdict[2], RECSYS__EXPLAIN_LLM_NONE);
    assert_int_equal(o.verdict[3], RECSYS__EXPLAIN_LLM_PASSED);
    assert_string_equal(o.ex[0].text, "A gaming laptop with an RTX 4070 GPU for $1,899.");
    assert_int_equal(o.ex[0].nev, 2);
    assert_int_equal(o.ex[0].ev[1].kind, RECSYS_EVIDENCE_ATTRIBUTE);
    assert_string_equal(o.ex[0].ev[1].name, "price");
    assert_string_equal(o.ex[0].ev[1].value, "1899");
    /* the history piece is stored as the grounding check reads it: event type, item id */
    assert_int_equal(o.ex[3].ev[0].kind, RECSYS_EVIDENCE_HISTORY);
    assert_string_equal(o.ex[3].ev[0].name, "purchase");
    assert_string_equal(o.ex[3].ev[0].value, "c_sys");
    assert_string_equal(o.ex[3].ev[1].name, "tag");
    assert_int_equal(o.cnt.explanations, 2);
    assert_int_equal(o.cnt.explanations_failed, 0);
    /* the prompt: handles and cards, the profile, no ids, the user id never */
    assert_non_null(strstr(s.prompt, RECSYS__LLM_DATA_OPEN "\n"));
    assert_non_null(strstr(s.prompt, "{\"handle\":4,\"title\":\"Distributed Systems Course\""));
    assert_non_null(strstr(s.prompt, "\"h\":\"h1\",\"title\":\"System Design Interview Prep\""));
    assert_null(strstr(s.prompt, "l_gaming"));
    assert_null(strstr(s.prompt, "c_sys"));
    assert_null(strstr(s.prompt, "alice"));
    assert_null(strstr(s.prompt, "\"age\""));
    assert_string_equal(s.system, recsys__llm_tpl_explain.system);
    assert_string_equal(s.schema, recsys__llm_tpl_explain.schema);
    outcome_free(f, &o);
    fixture_free(f);
}

static void test_numbers(void **state)
{
    (void)state;
    fixture *f = setup();
    /* l_ultra costs 1099 */
    assert_int_equal(verdict_of(f, 2, "A light laptop for $1,099.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_PASSED);
    assert_int_equal(verdict_of(f, 2, "Only 1099.00 dollars.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_PASSED);
    assert_int_equal(verdict_of(f, 2, "A 13 inch laptop.", cat_laptop), /* its title */
                     RECSYS__EXPLAIN_LLM_PASSED);
    assert_int_equal(verdict_of(f, 2, "Only $999 for a light laptop.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_FAILED);
    assert_int_equal(verdict_of(f, 2, "A light laptop for $1,100.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_FAILED);
    assert_int_equal(verdict_of(f, 2, "Rated 4.8 by buyers.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_FAILED);
    assert_int_equal(verdict_of(f, 2, "A favourite since 1995.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_FAILED);
    /* another item's number (l_gaming's GPU model) */
    assert_int_equal(verdict_of(f, 2, "It has an RTX 4070.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_FAILED);
    /* precision as written: 4.47 reads as 4.5 and 4, not as 4.6 */
    fixture_item_def d = { .id = "rated", .title = "Rated Thing", .category = "laptop" };
    fixture_add_item(f, &d);
    recsys_item *it = (recsys_item *)fixture_get(f, "rated"); /* test-only: add a rating */
    assert_int_equal(recsys__item_set_attr(&f->mem, it, "rating", RECSYS__ATTR_NUM, 4.47, NULL),
                     RECSYS_OK);
    recsys_candidates c;
    fixture_cands(f, &c, "rated");
    static const struct {
        const char *text;
        bool ok;
    } cases[] = { { "Rated 4.5 on average.", true }, { "Rated 4 on average.", true },
                  { "Rated 4.47 on average.", true }, { "Rated 4.6 on average.", false },
                  { "Rated 4.470 on average.", true }, { "Rated 4.471 on average.", false } };
    for (size_t k = 0; k < RECSYS_ARRAY_LEN(cases); k++) {
        char buf[1024];
        recsys__explanation ex[1];
        uint8_t v[1];
        uint32_t items[1] = { c.v[0].item };
        reply1(buf, sizeof buf, 1, cases[k].text, cat_laptop);
        assert_int_equal(recsys__explain_llm_parse(&f->mem, &f->q, items, 1, NULL, buf,
                                                   strlen(buf), ex, v),
                         RECSYS_OK);
        assert_int_equal(v[0], cases[k].ok ? RECSYS__EXPLAIN_LLM_PASSED
                                           : RECSYS__EXPLAIN_LLM_FAILED);
        recsys__explanation_free(&f->mem, &ex[0]);
    }
    recsys__cands_free(&c);
    fixture_free(f);
}

static void test_vocabulary_and_titles(void **state)
{
    (void)state;
    fixture *f = setup();
    /* its own tags and category pass */
    assert_int_equal(verdict_of(f, 2, "A portable laptop with a long battery life.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_PASSED);
    /* another item's tag or category: caught, case-insensitively, multi-word too */
    assert_int_equal(verdict_of(f, 2, "A light laptop, great for gaming.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_FAILED);
    assert_int_equal(verdict_of(f, 2, "A light laptop for Machine Learning.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_FAILED);
    assert_int_equal(verdict_of(f, 2, "The perfect laptop for a Horror night.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_FAILED);
    assert_int_equal(verdict_of(f, 2, "An education in laptops.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_FAILED);
    /* whole words only: "gamingly" and "educational" are not the tags */
    assert_int_equal(verdict_of(f, 2, "An educational laptop.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_PASSED);
    /* another item's title */
    assert_int_equal(verdict_of(f, 2, "Lighter than the AI Workstation Laptop.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_FAILED);
    assert_int_equal(verdict_of(f, 2, "Like Ultrabook 13, a light laptop.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_PASSED); /* its own */
    /* a one-word title counts only as a capitalised name mid-sentence */
    assert_int_equal(verdict_of(f, 2, "A laptop that never gets Heat.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_FAILED);
    assert_int_equal(verdict_of(f, 2, "A laptop that does not heat up.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_PASSED);
    assert_int_equal(verdict_of(f, 2, "Heat stays low on this laptop.", cat_laptop),
                     RECSYS__EXPLAIN_LLM_PASSED);
    /* another item's title cited as true history is fine; uncited it is not */
    const char *hist = "[{\"kind\":\"history\",\"item\":\"h1\"}]";
    assert_int_equal(verdict_of(f, 4, "Because you bought System Design Interview Prep.", hist),
                     RECSYS__EXPLAIN_LLM_PASSED);
    assert_int_equal(verdict_of(f, 4, "Because you bought System Design Interview Prep.",
                                "[{\"kind\":\"attribute\",\"name\":\"tag\",\"value\":"
                                "\"scalability\"}]"),
                     RECSYS__EXPLAIN_LLM_FAILED);
    fixture_free(f);
}

static void test_false_evidence(void **state)
{
    (void)state;
    fixture *f = setup();
    const char *text = "A light laptop.";
    static const char *const bad[] = {
        "[{\"kind\":\"attribute\",\"name\":\"gpu\",\"value\":\"RTX 4070\"}]", /* not on it */
        "[{\"kind\":\"attribute\",\"name\":\"category\",\"value\":\"film\"}]",
        "[{\"kind\":\"attribute\",\"name\":\"price\",\"value\":999}]",
        "[{\"kind\":\"attribute\",\"name\":\"available\",\"value\":false}]",
        "[{\"kind\":\"history\",\"item\":\"h1\"}]", /* c_sys: unrelated to a laptop */
        "[{\"kind\":\"history\",\"item\":\"h7\"}]", /* never listed */
        "[{\"kind\":\"history\",\"item\":9}]",
        "[{\"kind\":\"history\"}]",
        "[{\"kind\":\"interest\",\"name\":\"interest\",\"value\":\"scalability\"}]",
        "[{\"kind\":\"attribute\",\"name\":\"category\"}]",
        "[{\"kind\":\"attribute\",\"value\":\"laptop\"}]",
        "[{\"kind\":\"attribute\",\"name\":\"category\",\"value\":null}]",
        "[{\"kind\":\"attribute\",\"name\":\"category\",\"value\":\"laptop\"},"
        "{\"kind\":\"attribute\",\"name\":\"tag\",\"value\":\"gpu\"}]", /* one false piece */
        "[]",                                                   /* no evidence */
        "{\"kind\":\"attribute\",\"name\":\"category\",\"value\":\"laptop\"}",
        "[\"laptop\"]",
        "null",
    };
    for (size_t k = 0; k < RECSYS_ARRAY_LEN(bad); k++)
        assert_int_equal(verdict_of(f, 2, text, bad[k]), RECSYS__EXPLAIN_LLM_FAILED);
    /* the true versions pass: numbers as numbers or text, booleans */
    assert_int_equal(verdict_of(f, 2, text,
                                "[{\"kind\":\"attribute\",\"name\":\"price\",\"value\":1099.0}]"),
                     RECSYS__EXPLAIN_LLM_PASSED);
    assert_int_equal(verdict_of(f, 2, text,
                                "[{\"kind\":\"attribute\",\"name\":\"available\",\"value\":true}]"),
                     RECSYS__EXPLAIN_LLM_PASSED);
    assert_int_equal(verdict_of(f, 1, "A gaming laptop.",
                                "[{\"kind\":\"attribute\",\"name\":\"gpu\",\"value\":\"RTX 4070\"}]"),
                     RECSYS__EXPLAIN_LLM_PASSED);
    /* bad texts */
    char longtext[400];
    memset(longtext, 'a', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    assert_int_equal(verdict_of(f, 2, longtext, cat_laptop), RECSYS__EXPLAIN_LLM_FAILED);
    assert_int_equal(verdict_of(f, 2, "", cat_laptop), RECSYS__EXPLAIN_LLM_FAILED);
    assert_int_equal(verdict_of(f, 2, "two\\nlines", cat_laptop), RECSYS__EXPLAIN_LLM_FAILED);
    char buf[512];
    outcome o;
    /* jansson refuses a NUL inside a string: the whole reply is rejected */
    run(f, reply1(buf, sizeof buf, 2, "nul\\u0000inside", cat_laptop), false, &o, NULL);
    assert_int_equal(o.verdict[1], RECSYS__EXPLAIN_LLM_NONE);
    assert_int_equal(o.cnt.rejected, 1);
    outcome_free(f, &o);
    snprintf(buf, sizeof buf, "{\"explanations\":[{\"handle\":2,\"text\":7,\"evidence\":%s}]}",
             cat_laptop);
    run(f, buf, false, &o, NULL);
    assert_int_equal(o.verdict[1], RECSYS__EXPLAIN_LLM_FAILED);
    outcome_free(f, &o);
    fixture_free(f);
}

/* A history item that shares only the category with the item explains nothing (c_ml and
 * the purchased c_sys are both "education", no tag in common); one sharing a tag does. */
static void test_history_needs_a_shared_tag(void **state)
{
    (void)state;
    fixture *f = setup();
    recsys__llm_hist h;
    recsys__jw b = { .m = &f->mem };
    recsys__llm_profile(&b, &f->q, RECSYS__LLM_PROFILE_HISTORY, &h);
    char *p = NULL;
    assert_int_equal(recsys__jw_finish(&b, false, &p, NULL), RECSYS_OK);
    recsys__free(&f->mem, p);
    assert_int_equal(h.n, 1);
    const char *reply = "{\"explanations\":[{\"handle\":1,\"text\":\"Because of what you "
                        "bought.\",\"evidence\":[{\"kind\":\"history\",\"item\":\"h1\"}]},"
                        "{\"handle\":2,\"text\":\"Because of what you bought.\",\"evidence\":"
                        "[{\"kind\":\"history\",\"item\":\"h1\"}]}]}";
    uint32_t items[2] = { fixture_idx(f, "c_ml"), fixture_idx(f, "c_dist") };
    recsys__explanation ex[2];
    uint8_t v[2];
    assert_int_equal(recsys__explain_llm_parse(&f->mem, &f->q, items, 2, &h, reply,
                                               strlen(reply), ex, v),
                     RECSYS_OK);
    /* the library's own grounding holds for both (same category) */
    assert_true(recsys__evidence_grounded(&f->q, fixture_get(f, "c_ml"),
                                          RECSYS_EVIDENCE_HISTORY, "purchase", "c_sys"));
    assert_int_equal(v[0], RECSYS__EXPLAIN_LLM_FAILED);
    assert_int_equal(v[1], RECSYS__EXPLAIN_LLM_PASSED);
    assert_null(ex[0].text);
    assert_string_equal(ex[1].ev[0].value, "c_sys");
    recsys__explanation_free(&f->mem, &ex[1]);
    fixture_free(f);
}

/* Nothing but the template is said about an unavailable item, however true. */
static void test_unavailable_never_praised(void **state)
{
    (void)state;
    fixture *f = setup();
    assert_int_equal(verdict_of(f, 3, "A laptop.", cat_laptop), RECSYS__EXPLAIN_LLM_FAILED);
    assert_int_equal(verdict_of(f, 3, "Currently unavailable.",
                                "[{\"kind\":\"attribute\",\"name\":\"available\",\"value\":"
                                "false}]"),
                     RECSYS__EXPLAIN_LLM_FAILED);
    fixture_free(f);
}

static void test_unknown_and_repeated_handles(void **state)
{
    (void)state;
    fixture *f = setup();
    const char *reply =
        "{\"explanations\":["
        "{\"handle\":0,\"text\":\"x\",\"evidence\":[]},"
        "{\"handle\":5,\"text\":\"x\",\"evidence\":[]},"
        "{\"handle\":-1,\"text\":\"x\",\"evidence\":[]},"
        "{\"handle\":\"2\",\"text\":\"x\",\"evidence\":[]},"
        "{\"handle\":2.0,\"text\":\"x\",\"evidence\":[]},"
        "{\"handle\":99999999999999999,\"text\":\"x\",\"evidence\":[]},"
        "{\"text\":\"x\",\"evidence\":[]},"
        "7, \"str\", null,"
        "{\"handle\":1,\"text\":\"A gaming laptop.\",\"evidence\":[{\"kind\":\"attribute\","
        "\"name\":\"tag\",\"value\":\"gaming\"}]},"
        "{\"handle\":1,\"text\":\"A horror laptop.\",\"evidence\":[]}],"
        "\"extra\":{\"ignored\":true}}";
    outcome o;
    run(f, reply, false, &o, NULL);
    assert_int_equal(o.verdict[0], RECSYS__EXPLAIN_LLM_PASSED);
    assert_string_equal(o.ex[0].text, "A gaming laptop.");
    for (int i = 1; i < N; i++)
        assert_int_equal(o.verdict[i], RECSYS__EXPLAIN_LLM_NONE);
    assert_int_equal(o.cnt.explanations, 1);
    assert_int_equal(o.cnt.rejected, 0);
    outcome_free(f, &o);
    fixture_free(f);
}

static void test_malformed_replies(void **state)
{
    (void)state;
    fixture *f = setup();
    static const char *const bad[] = {
        "", "Sorry, I cannot help with that.", "{", "}{", "[1,2,3]",
        "{\"explanations\":{}}", "{\"explanations\":null}", "{\"order\":[1,2]}",
        "{\"explanations\":[]", "{\"explanations\":[],\"explanations\":[]}",
        "{\"explanations\":[{\"handle\":1,\"text\":\"\\ud800\",\"evidence\":[]}]}",
        "```json\n{\"explanations\": [ {\"handle\": 1, } ]}\n```",
    };
    for (size_t k = 0; k < RECSYS_ARRAY_LEN(bad); k++) {
        outcome o;
        run(f, bad[k], false, &o, NULL);
        for (int i = 0; i < N; i++)
            assert_int_equal(o.verdict[i], RECSYS__EXPLAIN_LLM_NONE);
        assert_int_equal(o.cnt.rejected, 1);
        assert_int_equal(o.cnt.explanations, 0);
        outcome_free(f, &o);
    }
    /* prose and fences around a good object are stripped */
    const char *fenced = "Sure! Here you go:\n```json\n{\"explanations\":[{\"handle\":2,"
                         "\"text\":\"A portable laptop.\",\"evidence\":[{\"kind\":"
                         "\"attribute\",\"name\":\"tag\",\"value\":\"portable\"}]}]}\n```\n"
                         "Hope this helps {:}";
    outcome o;
    run(f, fenced, false, &o, NULL);
    assert_int_equal(o.cnt.rejected, 1); /* the trailing "{:}" makes it one bad object */
    outcome_free(f, &o);
    fenced = "Sure! Here you go:\n```json\n{\"explanations\":[{\"handle\":2,\"text\":\"A "
             "portable laptop.\",\"evidence\":[{\"kind\":\"attribute\",\"name\":\"tag\","
             "\"value\":\"portable\"}]}]}\n```\nHope this helps.";
    run(f, fenced, false, &o, NULL);
    assert_int_equal(o.cnt.rejected, 0);
    assert_int_equal(o.verdict[1], RECSYS__EXPLAIN_LLM_PASSED);
    outcome_free(f, &o);
    /* a reply over the size cap is not parsed */
    size_t big = RECSYS__EXPLAIN_LLM_REPLY_MAX + 10;
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    snprintf(huge, big + 1, "%s", "{\"explanations\":[], \"pad\":\"");
    size_t l = strlen(huge);
    memset(huge + l, 'x', big - l - 2);
    memcpy(huge + big - 2, "\"}", 3);
    run(f, huge, false, &o, NULL);
    assert_int_equal(o.cnt.rejected, 1);
    outcome_free(f, &o);
    free(huge);
    fixture_free(f);
}

static void test_no_call_without_llm_or_budget(void **state)
{
    (void)state;
    fixture *f = setup();
    const char *good = "{\"explanations\":[{\"handle\":2,\"text\":\"A portable laptop.\","
                       "\"evidence\":[{\"kind\":\"attribute\",\"name\":\"tag\",\"value\":"
                       "\"portable\"}]}]}";
    outcome o;
    /* no LLM */
    run(f, good, true, &o, NULL);
    assert_int_equal(o.calls, 0);
    assert_int_equal(o.cnt.calls, 0);
    outcome_free(f, &o);
    /* budget 0: no call, templates */
    fixture_set_opt(f, RECSYS_OPT_LLM_CALLS_PER_REQUEST, 0);
    fixture_query(f, "alice", NULL, 100);
    run(f, good, false, &o, NULL);
    assert_int_equal(o.calls, 0);
    assert_int_equal(o.cnt.calls, 0);
    assert_int_equal(o.verdict[1], RECSYS__EXPLAIN_LLM_NONE);
    outcome_free(f, &o);
    fixture_set_opt(f, RECSYS_OPT_LLM_CALLS_PER_REQUEST, 4);
    fixture_set_opt(f, RECSYS_OPT_LLM_TOKENS_PER_REQUEST, 0);
    fixture_query(f, "alice", NULL, 100);
    run(f, good, false, &o, NULL);
    assert_int_equal(o.calls, 0);
    outcome_free(f, &o);
    /* a failing transport: templates, counted as a failure */
    fixture_set_opt(f, RECSYS_OPT_LLM_TOKENS_PER_REQUEST, 8000);
    fixture_query(f, "alice", NULL, 100);
    run(f, NULL, false, &o, NULL);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.cnt.failures, 1);
    outcome_free(f, &o);
    /* the profile block follows the host's fields: everything off leaves {} */
    fixture_set_opt(f, RECSYS_OPT_LLM_PROFILE_FIELDS, 0);
    fixture_query(f, "alice", NULL, 100);
    script s;
    memset(&s, 0, sizeof s);
    run(f, good, false, &o, &s);
    assert_non_null(strstr(s.prompt, "{\"profile\":{}}"));
    outcome_free(f, &o);
    fixture_free(f);
}

/* Allocation n fails for n = 1, 2, ...: RECSYS_E_NOMEM, out all zero, nothing leaked. */
static void test_oom(void **state)
{
    (void)state;
    fixture *f = setup();
    const char *reply =
        "{\"explanations\":[{\"handle\":1,\"text\":\"A gaming laptop.\",\"evidence\":[{"
        "\"kind\":\"attribute\",\"name\":\"tag\",\"value\":\"gaming\"},{\"kind\":"
        "\"attribute\",\"name\":\"price\",\"value\":1899}]},{\"handle\":4,\"text\":\"Because "
        "you bought System Design Interview Prep.\",\"evidence\":[{\"kind\":\"history\","
        "\"item\":\"h1\"}]}]}";
    recsys_candidates c;
    fixture_cands(f, &c, LIST);
    recsys__llm_guard *g = NULL;
    assert_int_equal(recsys__llm_guard_new(&f->mem, &g), RECSYS_OK);
    script s = { .reply = reply };
    recsys_llm_vtable vt = scripted(&s);
    for (long n = 1;; n++) {
        recsys__llm_budget b;
        recsys__llm_budget_init(&b, f->q.opt);
        recsys__explanation ex[N];
        uint8_t v[N];
        f->oom_stats.fail_at = n;
        recsys_status st = recsys__explain_llm(&f->oom, g, &vt, &b, &f->q, &c, ex, v);
        f->oom_stats.fail_at = 0;
        if (st == RECSYS_OK) {
            assert_int_equal(v[0], RECSYS__EXPLAIN_LLM_PASSED);
            assert_int_equal(v[3], RECSYS__EXPLAIN_LLM_PASSED);
            for (int i = 0; i < N; i++)
                recsys__explanation_free(&f->oom, &ex[i]);
            assert_true(n > 3);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        for (int i = 0; i < N; i++) {
            assert_null(ex[i].text);
            assert_null(ex[i].ev);
        }
        assert_int_equal(f->oom_stats.live, 0);
    }
    assert_int_equal(f->oom_stats.live, 0);
    recsys__llm_guard_free(g);
    recsys__cands_free(&c);
    fixture_free(f);
}

/* ------------------------------------------------------------ through the pipeline */

/* An LLM that reads the cards and explains each item by its category (true), except that it
 * gives the first one a price no item has (false). */
typedef struct card_llm {
    int calls;
} card_llm;

static recsys_status card_complete(void *ctx, const recsys_llm_call *call,
                                   recsys_llm_reply *reply)
{
    card_llm *cl = ctx;
    if (recsys_llm_call_task(call) != RECSYS_LLM_EXPLAIN)
        return RECSYS_E_CALLBACK;
    cl->calls++;
    json_t *list = json_array();
    const char *p = strstr(recsys_llm_call_prompt(call), RECSYS__LLM_DATA_OPEN "\n");
    assert_non_null(p);
    for (p = strchr(p, '\n') + 1; *p && strncmp(p, RECSYS__LLM_DATA_CLOSE, 7);
         p = strchr(p, '\n') + 1) {
        const char *nl = strchr(p, '\n');
        json_t *card = json_loadb(p, (size_t)(nl - p), 0, NULL);
        assert_non_null(card);
        json_t *h = json_object_get(card, "handle");
        const char *cat = json_string_value(json_object_get(card, "category"));
        if (h && cat) {
            char text[128];
            bool first = json_integer_value(h) == 1;
            snprintf(text, sizeof text, first ? "Only $1 today." : "It is in %s.", cat);
            json_array_append_new(
                list, json_pack("{s:O,s:s,s:[{s:s,s:s,s:s}]}", "handle", h, "text", text,
                                "evidence", "kind", "attribute", "name", "category", "value",
                                cat));
        }
        json_decref(card);
    }
    json_t *root = json_pack("{s:o}", "explanations", list);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    recsys_status st = recsys_llm_reply_set_text(reply, text, strlen(text));
    free(text);
    return st;
}

static void test_pipeline_stage7(void **state)
{
    (void)state;
    recsys_engine *e = tk_engine(NULL, NULL);
    card_llm cl = { 0 };
    recsys_llm_vtable vt;
    recsys_llm_vtable_init(&vt);
    vt.ctx = &cl;
    vt.complete = card_complete;
    assert_int_equal(recsys_engine_set_llm(e, "scripted", &vt), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_EXPLAIN_LLM, 1), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_LLM_CACHE_BYTES, 0), RECSYS_OK);
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_user(rq, tk_user_ids[0]), RECSYS_OK);
    recsys_result *res = NULL;
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
    assert_int_equal(cl.calls, 1);
    size_t n = recsys_result_count(res);
    assert_true(n >= 2);
    recsys_llm_stats stats = { .struct_size = sizeof stats };
    assert_int_equal(recsys_engine_llm_stats(e, &stats), RECSYS_OK);
    size_t llm_texts = 0;
    for (size_t i = 0; i < n; i++) {
        const char *ex = recsys_result_explanation(res, i);
        assert_non_null(ex);
        assert_null(strstr(ex, "$1")); /* the false one never reaches the result */
        if (strncmp(ex, "It is in ", 9) == 0) {
            llm_texts++;
            assert_int_equal(recsys_result_evidence_count(res, i), 1);
            int32_t kind;
            const char *name, *value;
            assert_int_equal(recsys_result_evidence(res, i, 0, &kind, &name, &value), RECSYS_OK);
            assert_int_equal(kind, RECSYS_EVIDENCE_ATTRIBUTE);
            assert_string_equal(name, "category");
            assert_non_null(strstr(ex, value));
        }
    }
    /* every available item but the first got the LLM's true text */
    assert_true(llm_texts + 1 >= n);
    assert_true(stats.explanations >= 1);
    assert_true(stats.explanations_failed >= 1);
    assert_int_equal(stats.explanations - stats.explanations_failed, llm_texts);
    recsys_result_free(res);
    /* explain.llm 0: no call */
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_EXPLAIN_LLM, 0), RECSYS_OK);
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
    assert_int_equal(cl.calls, 1);
    recsys_result_free(res);
    recsys_request_free(rq);
    recsys_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_true_explanations_pass),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_vocabulary_and_titles),
        cmocka_unit_test(test_false_evidence),
        cmocka_unit_test(test_history_needs_a_shared_tag),
        cmocka_unit_test(test_unavailable_never_praised),
        cmocka_unit_test(test_unknown_and_repeated_handles),
        cmocka_unit_test(test_malformed_replies),
        cmocka_unit_test(test_no_call_without_llm_or_budget),
        cmocka_unit_test(test_oom),
        cmocka_unit_test(test_pipeline_stage7),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("llm/explain", tests, NULL, NULL);
}
