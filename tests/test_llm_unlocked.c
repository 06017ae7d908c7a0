/* test_llm_unlocked.c - the host's LLM runs with no engine lock held (lib/pipeline.c "off
 * the lock", lib/llm/guard.h recsys__llm_unlock, lib/engine/conversation.c).
 *
 * A fake LLM blocks inside complete() until the test lets it go. While a request is blocked
 * there (in stage 1's intent reading, stage 6's re-ranking, stage 7's explanations, and a
 * conversation turn's question) a second thread runs writers and readers: feedback, an
 * upsert of a new item, the removal of an item the blocked call was shown, an item made
 * unavailable, a business rule set, a refresh, and another recommendation. Each must
 * complete while the call is blocked; the test waits for them with a generous timed wait so
 * that a lock still held fails the test (and releases the LLM) instead of hanging it. Then
 * the LLM is released and the blocked request must answer from the model as it is now: no
 * removed or unavailable item, no blocked item, the pin still in place, the request's own
 * constraints still applied, no LLM explanation for an item changed meanwhile (the one for
 * an unchanged item still used). A user forgotten while the request waits makes it fail
 * with nothing logged (no impression of the user in the store). Replacing the LLM while a
 * call is inside the old one destroys the old one only after that call returned.
 *
 * No wall-clock assertion anywhere: the timed waits only turn a deadlock into a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recsys.h"
#include "support/testkit.h"

#define WAIT_S 60 /* a deadlock fails after this long; nothing is expected to take it */
#define NLAP 24
#define MAXCARDS 64

/* ================================================================== the gated LLM */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int block_task;   /* the task whose calls block (0: none) */
    int block_left;   /* how many more of them block */
    int entered;      /* calls that blocked so far */
    int opened;       /* calls let go so far */
    int inside;       /* calls inside complete() now */
    bool timed_out;
    int calls[8];     /* by task */
    char titles[MAXCARDS][48]; /* the cards of the last blocked call, by handle */
    size_t ntitles;
    int destroyed;
    int destroyed_inside; /* calls inside complete() when destroy ran (must stay 0) */
} gate;

static void gate_init(gate *g)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
}

static void gate_fini(gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

static struct timespec deadline_in(int s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += s;
    return ts;
}

/* The next n calls of task block (until gate_open). */
static void gate_arm(gate *g, int task, int n)
{
    pthread_mutex_lock(&g->mu);
    g->block_task = task;
    g->block_left = n;
    pthread_mutex_unlock(&g->mu);
}

/* Waits until n calls blocked; false after WAIT_S. */
static bool gate_wait_entered(gate *g, int n)
{
    struct timespec ts = deadline_in(WAIT_S);
    pthread_mutex_lock(&g->mu);
    int rc = 0;
    while (g->entered < n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    bool ok = g->entered >= n;
    pthread_mutex_unlock(&g->mu);
    return ok;
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->opened++;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Copies the quoted value after key in line [p, end) into out (cap bytes); "" when none. */
static void field(const char *p, const char *end, const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    const char *k = strstr(p, key);
    if (!k || k >= end)
        return;
    k += strlen(key);
    size_t n = 0;
    while (k < end && *k != '"' && n + 1 < cap)
        out[n++] = *k++;
    out[n] = '\0';
}

typedef struct card {
    char title[48], category[48];
} card;

/* The item cards of a prompt, by handle. */
static size_t cards_of(const char *prompt, card *c, size_t cap)
{
    size_t n = 0;
    for (const char *p = strstr(prompt, "{\"handle\":"); p && n < cap;
         p = strstr(p + 1, "{\"handle\":")) {
        const char *end = strchr(p, '\n');
        if (!end)
            end = p + strlen(p);
        field(p, end, "\"title\":\"", c[n].title, sizeof c[n].title);
        field(p, end, "\"category\":\"", c[n].category, sizeof c[n].category);
        n++;
    }
    return n;
}

static recsys_status reply(recsys_llm_reply *r, const char *text)
{
    return recsys_llm_reply_set_text(r, text, strlen(text));
}

static recsys_status gated_complete(void *ctx, const recsys_llm_call *call, recsys_llm_reply *r)
{
    gate *g = ctx;
    int task = recsys_llm_call_task(call);
    const char *prompt = recsys_llm_call_prompt(call);
    card cards[MAXCARDS];
    size_t n = cards_of(prompt, cards, MAXCARDS);
    pthread_mutex_lock(&g->mu);
    g->inside++;
    if (task >= 0 && task < 8)
        g->calls[task]++;
    if (task == g->block_task && g->block_left > 0) {
        g->block_left--;
        g->ntitles = n;
        for (size_t i = 0; i < n; i++)
            memcpy(g->titles[i], cards[i].title, sizeof g->titles[i]);
        int me = ++g->entered;
        pthread_cond_broadcast(&g->cv);
        struct timespec ts = deadline_in(WAIT_S);
        int rc = 0;
        while (g->opened < me && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&g->cv, &g->mu, &ts);
        if (g->opened < me)
            g->timed_out = true;
    }
    g->inside--;
    pthread_mutex_unlock(&g->mu);
    char buf[8192];
    size_t at = 0;
    switch (task) {
    case RECSYS_LLM_RERANK: /* the list reversed */
        at += (size_t)snprintf(buf + at, sizeof buf - at, "{\"order\":[");
        for (size_t i = n; i > 0; i--)
            at += (size_t)snprintf(buf + at, sizeof buf - at, "%zu%s", i, i > 1 ? "," : "");
        snprintf(buf + at, sizeof buf - at, "]}");
        return reply(r, buf);
    case RECSYS_LLM_EXPLAIN: /* each item praised for its category, as its card showed it */
        at += (size_t)snprintf(buf + at, sizeof buf - at, "{\"explanations\":[");
        for (size_t i = 0; i < n; i++)
            at += (size_t)snprintf(buf + at, sizeof buf - at,
                                   "%s{\"handle\":%zu,\"text\":\"LLM: a fine %s.\",\"evidence\":"
                                   "[{\"kind\":\"attribute\",\"name\":\"category\",\"value\":"
                                   "\"%s\"}]}",
                                   i ? "," : "", i + 1, cards[i].category, cards[i].category);
        snprintf(buf + at, sizeof buf - at, "]}");
        return reply(r, buf);
    case RECSYS_LLM_INTENT:
        return reply(r, "{\"ranges\":[{\"attribute\":\"weight_kg\",\"max\":1.2}]}");
    default:
        return reply(r, "{\"question\":\"Which battery life do you prefer?\"}");
    }
}

static void gated_destroy(void *ctx)
{
    gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    g->destroyed++;
    g->destroyed_inside += g->inside;
    pthread_mutex_unlock(&g->mu);
}

static recsys_llm_vtable gated_vt(gate *g)
{
    recsys_llm_vtable vt;
    recsys_llm_vtable_init(&vt);
    vt.ctx = g;
    vt.complete = gated_complete;
    vt.destroy = gated_destroy;
    return vt;
}

/* ================================================================== the engine */

static double weight_of(int i) { return 1.0 + (i % 4) * 0.5; }

static char *laptop_json(const char *id, int i, const char *category, bool available)
{
    char *s = malloc(1024);
    snprintf(s, 1024,
             "{\"item_id\":\"%s\",\"title\":\"Laptop %d\",\"description\":\"A laptop for work, "
             "number %d.\",\"category\":\"%s\",\"available\":%s,\"attributes\":{\"price\":%d,"
             "\"weight_kg\":%g}}",
             id, i, i, category, available ? "true" : "false", 500 + 100 * i, weight_of(i));
    return s;
}

static void upsert(recsys_engine *e, const char *json)
{
    recsys_status st = recsys_catalog_upsert_json(e, json, strlen(json));
    if (st != RECSYS_OK)
        fail_msg("upsert: %s", recsys_last_error());
}

/* 24 laptops (bought by a crowd, so that popularity ranks them) and 3 tablets; every user on
 * the LLM path; impressions logged; no reply cache (each request reaches the LLM). */
static recsys_engine *make_engine(gate *g, const recsys_store_vtable *store)
{
    recsys_engine *e = NULL;
    RECSYS_INIT(recsys_engine_opts, opts, .seed = 7, .store = store);
    assert_int_equal(recsys_engine_new(&opts, &e), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_TOP_N, 10), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_LOG_IMPRESSIONS, 1), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_LLM_CACHE_BYTES, 0), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_LLM_DEADLINE_MS, 600000), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_LLM_BREAKER_FAILURES, 0), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_LLM_WARM_EVENTS, 0), RECSYS_OK);
    char id[16];
    for (int i = 0; i < NLAP; i++) {
        snprintf(id, sizeof id, "lap-%02d", i);
        char *j = laptop_json(id, i, "laptop", true);
        upsert(e, j);
        free(j);
    }
    upsert(e, "[{\"item_id\":\"tab-0\",\"title\":\"Tablet 0\",\"category\":\"tablet\"},"
              "{\"item_id\":\"tab-1\",\"title\":\"Tablet 1\",\"category\":\"tablet\"}]");
    for (int i = 0; i < NLAP; i++) {
        snprintf(id, sizeof id, "lap-%02d", i);
        for (int k = 0; k <= i % 4; k++)
            tk_feedback(e, "crowd", id, RECSYS_EVENT_PURCHASE, TK_NOW - 7200 + 60 * i + k);
    }
    tk_feedback(e, "alice", "tab-1", RECSYS_EVENT_VIEW, TK_NOW - 600);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    recsys_llm_vtable vt = gated_vt(g);
    assert_int_equal(recsys_engine_set_llm(e, "gated", &vt), RECSYS_OK);
    return e;
}

/* The catalog id of a card title ("Laptop 7" -> "lap-07", "Tablet 1" -> "tab-1"). */
static void id_of(const char *title, char *id, size_t cap)
{
    int i;
    if (sscanf(title, "Laptop %d", &i) == 1)
        snprintf(id, cap, "lap-%02d", i);
    else if (sscanf(title, "Tablet %d", &i) == 1)
        snprintf(id, cap, "tab-%d", i);
    else
        fail_msg("unexpected card title '%s'", title);
}

static bool in_result(const recsys_result *res, const char *id)
{
    for (size_t k = 0; k < recsys_result_count(res); k++)
        if (!strcmp(recsys_result_item_id(res, k), id))
            return true;
    return false;
}

static size_t pos_in(const recsys_result *res, const char *id)
{
    for (size_t k = 0; k < recsys_result_count(res); k++)
        if (!strcmp(recsys_result_item_id(res, k), id))
            return k;
    return SIZE_MAX;
}

/* ================================================================== threads */

/* One recommendation on a thread of its own. */
typedef struct job {
    recsys_engine *e;
    const char *user;
    const char *text;
    recsys_status st;
    recsys_result *res;
    char err[600];
} job;

static void *job_main(void *arg)
{
    job *j = arg;
    recsys_request *rq = NULL;
    j->st = recsys_request_new(&rq);
    if (j->st == RECSYS_OK && j->user)
        j->st = recsys_request_set_user(rq, j->user);
    if (j->st == RECSYS_OK && j->text)
        j->st = recsys_request_set_query(rq, j->text);
    if (j->st == RECSYS_OK)
        j->st = recsys_recommend(j->e, rq, &j->res);
    snprintf(j->err, sizeof j->err, "%s", recsys_last_error());
    recsys_request_free(rq);
    return NULL;
}

/* What the second thread does while the LLM is blocked; each status is kept for the main
 * thread to check (cmocka's asserts belong to the main thread). */
enum { A_FEEDBACK, A_UPSERT, A_REMOVE, A_UNAVAILABLE, A_CHANGE, A_RULE, A_REFRESH, A_RECOMMEND,
       A_FORGET, A_SET_LLM, A_N };

typedef struct acts {
    recsys_engine *e;
    bool want[A_N];
    char remove_id[16], unavailable_id[16], change_id[16], block_id[16];
    const char *forget_user;
    const recsys_llm_vtable *new_llm;
    recsys_status st[A_N];
    char err[A_N][600];
    job other; /* A_RECOMMEND */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} acts;

static void note(acts *a, int k, recsys_status st)
{
    a->st[k] = st;
    snprintf(a->err[k], sizeof a->err[k], "%s", st == RECSYS_OK ? "" : recsys_last_error());
}

/* The json of an existing laptop id with another category or availability. */
static char *variant(const char *id, const char *category, bool available)
{
    int i = -1;
    sscanf(id, "lap-%d", &i);
    return laptop_json(id, i, category, available);
}

static void *acts_main(void *arg)
{
    acts *a = arg;
    recsys_engine *e = a->e;
    if (a->want[A_FEEDBACK]) {
        recsys_event ev;
        recsys_event_init(&ev);
        ev.type = RECSYS_EVENT_VIEW;
        ev.user_id = "carol";
        ev.item_id = "lap-03";
        ev.timestamp = TK_NOW - 60;
        note(a, A_FEEDBACK, recsys_feedback(e, &ev));
    }
    if (a->want[A_UPSERT]) {
        char *j = laptop_json("lap-new", 99, "laptop", true);
        note(a, A_UPSERT, recsys_catalog_upsert_json(e, j, strlen(j)));
        free(j);
    }
    if (a->want[A_REMOVE])
        note(a, A_REMOVE, recsys_catalog_remove(e, a->remove_id));
    if (a->want[A_UNAVAILABLE]) {
        char *j = variant(a->unavailable_id, "laptop", false);
        note(a, A_UNAVAILABLE, recsys_catalog_upsert_json(e, j, strlen(j)));
        free(j);
    }
    if (a->want[A_CHANGE]) {
        char *j = variant(a->change_id, "tablet", true);
        note(a, A_CHANGE, recsys_catalog_upsert_json(e, j, strlen(j)));
        free(j);
    }
    if (a->want[A_RULE]) {
        char expr[64];
        snprintf(expr, sizeof expr, "id == \"%s\"", a->block_id);
        recsys_rule r;
        recsys_rule_init(&r);
        r.kind = RECSYS_RULE_BLOCK;
        r.expr = expr;
        note(a, A_RULE, recsys_engine_rule_set(e, "no-such", &r));
    }
    if (a->want[A_REFRESH])
        note(a, A_REFRESH, recsys_refresh(e));
    if (a->want[A_RECOMMEND]) {
        a->other.e = e;
        a->other.user = "dave";
        job_main(&a->other);
        note(a, A_RECOMMEND, a->other.st);
    }
    if (a->want[A_FORGET])
        note(a, A_FORGET, recsys_user_forget(e, a->forget_user));
    if (a->want[A_SET_LLM])
        note(a, A_SET_LLM, recsys_engine_set_llm(e, "other", a->new_llm));
    pthread_mutex_lock(&a->mu);
    a->done = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Runs a's actions on a thread while g holds a call, and checks that all of them completed
 * before the call was let go. Then lets it go. */
static void act_while_blocked(gate *g, acts *a)
{
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, acts_main, a), 0);
    struct timespec ts = deadline_in(WAIT_S);
    pthread_mutex_lock(&a->mu);
    int rc = 0;
    while (!a->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&a->cv, &a->mu, &ts);
    bool done = a->done;
    pthread_mutex_unlock(&a->mu);
    gate_open(g); /* in any case, so that nothing hangs */
    pthread_join(t, NULL);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    if (!done)
        fail_msg("the writers did not complete while the LLM was blocked: a lock is held");
    static const char *const names[A_N] = { "feedback", "upsert", "remove", "unavailable",
                                            "change", "rule", "refresh", "recommend",
                                            "forget", "set_llm" };
    for (int k = 0; k < A_N; k++)
        if (a->want[k] && a->st[k] != RECSYS_OK)
            fail_msg("%s failed: %s", names[k], a->err[k]);
}

/* Starts j on a thread and waits until the gate holds its call. */
static void start_blocked(gate *g, job *j, pthread_t *t)
{
    assert_int_equal(pthread_create(t, NULL, job_main, j), 0);
    if (!gate_wait_entered(g, 1)) {
        gate_open(g);
        pthread_join(*t, NULL);
        fail_msg("the request never reached the LLM");
    }
}

/* The ids of the blocked call's cards, skipping skip (may be NULL). */
static size_t card_ids(gate *g, const char *skip, char ids[][16], size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->ntitles && n < cap; i++) {
        id_of(g->titles[i], ids[n], 16);
        if (!skip || strcmp(ids[n], skip))
            n++;
    }
    pthread_mutex_unlock(&g->mu);
    return n;
}

static void finish(job *j, pthread_t t)
{
    pthread_join(t, NULL);
    if (j->st != RECSYS_OK)
        fail_msg("the blocked request failed: %s", j->err);
}

/* ================================================================== stage 6 */

static void test_rerank_off_lock(void **state)
{
    (void)state;
    gate g;
    gate_init(&g);
    recsys_engine *e = make_engine(&g, NULL);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_LLM_RERANK_N, 10), RECSYS_OK);
    recsys_rule pin;
    recsys_rule_init(&pin);
    pin.kind = RECSYS_RULE_PIN;
    pin.item_id = "tab-0";
    pin.position = 0;
    assert_int_equal(recsys_engine_rule_set(e, "pin-tab", &pin), RECSYS_OK);
    gate_arm(&g, RECSYS_LLM_RERANK, 1);
    job j = { .e = e, .user = "bob" };
    pthread_t t;
    start_blocked(&g, &j, &t);
    char ids[MAXCARDS][16];
    size_t n = card_ids(&g, "tab-0", ids, MAXCARDS);
    assert_true(n >= 4);
    acts a = { .e = e };
    for (int k = A_FEEDBACK; k <= A_RECOMMEND; k++)
        a.want[k] = k != A_CHANGE;
    snprintf(a.remove_id, sizeof a.remove_id, "%s", ids[0]);
    snprintf(a.unavailable_id, sizeof a.unavailable_id, "%s", ids[1]);
    snprintf(a.block_id, sizeof a.block_id, "%s", ids[2]);
    act_while_blocked(&g, &a);
    finish(&j, t);
    assert_false(g.timed_out);
    assert_true(recsys_result_count(j.res) > 0);
    assert_false(in_result(j.res, ids[0])); /* removed */
    assert_false(in_result(j.res, ids[1])); /* unavailable */
    assert_false(in_result(j.res, ids[2])); /* blocked by a rule set meanwhile */
    assert_int_equal(pos_in(j.res, "tab-0"), 0); /* the pin holds */
    assert_true(in_result(j.res, ids[3]));
    assert_true(recsys_result_stage_ns(j.res, RECSYS_STAGE_LLM) > 0);
    assert_true(recsys_result_count(a.other.res) > 0); /* the other request's answer */
    recsys_result_free(a.other.res);
    recsys_result_free(j.res);
    recsys_engine_free(e);
    gate_fini(&g);
}

/* ================================================================== stage 7 */

static void test_explain_off_lock(void **state)
{
    (void)state;
    gate g;
    gate_init(&g);
    recsys_engine *e = make_engine(&g, NULL);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_EXPLAIN_LLM, 1), RECSYS_OK);
    gate_arm(&g, RECSYS_LLM_EXPLAIN, 1);
    job j = { .e = e, .user = "bob" };
    pthread_t t;
    start_blocked(&g, &j, &t);
    char ids[MAXCARDS][16];
    size_t n = card_ids(&g, NULL, ids, MAXCARDS);
    assert_true(n >= 5);
    acts a = { .e = e };
    a.want[A_FEEDBACK] = a.want[A_UPSERT] = a.want[A_REMOVE] = a.want[A_UNAVAILABLE] = true;
    a.want[A_CHANGE] = a.want[A_RULE] = a.want[A_REFRESH] = a.want[A_RECOMMEND] = true;
    snprintf(a.remove_id, sizeof a.remove_id, "%s", ids[0]);
    snprintf(a.unavailable_id, sizeof a.unavailable_id, "%s", ids[1]);
    snprintf(a.change_id, sizeof a.change_id, "%s", ids[2]);
    snprintf(a.block_id, sizeof a.block_id, "%s", ids[3]);
    act_while_blocked(&g, &a);
    finish(&j, t);
    const recsys_result *res = j.res;
    assert_false(in_result(res, ids[0]));
    assert_false(in_result(res, ids[1]));
    assert_false(in_result(res, ids[3]));
    size_t changed = pos_in(res, ids[2]), same = pos_in(res, ids[4]);
    assert_true(changed != SIZE_MAX && same != SIZE_MAX);
    /* the LLM praised the changed item for the category its card had: not served */
    assert_null(strstr(recsys_result_explanation(res, changed), "LLM:"));
    /* an item nothing happened to keeps the LLM's checked explanation */
    assert_non_null(strstr(recsys_result_explanation(res, same), "LLM: a fine laptop."));
    for (size_t k = 0; k < recsys_result_count(res); k++)
        assert_true(recsys_result_explanation(res, k)[0] != '\0');
    recsys_result_free(a.other.res);
    recsys_result_free(j.res);
    recsys_engine_free(e);
    gate_fini(&g);
}

/* ================================================================== stage 1 */

#define BREEZE "a laptop that is a breeze to lug around"

static void test_intent_off_lock(void **state)
{
    (void)state;
    gate g;
    gate_init(&g);
    recsys_engine *e = make_engine(&g, NULL);
    /* the answer without anything happening meanwhile: the LLM reads "light" */
    job base = { .e = e, .user = "bob", .text = BREEZE };
    job_main(&base);
    assert_int_equal(base.st, RECSYS_OK);
    size_t nb = recsys_result_count(base.res);
    assert_true(nb >= 4);
    char ids[4][16];
    for (size_t k = 0; k < 4; k++)
        snprintf(ids[k], sizeof ids[k], "%s", recsys_result_item_id(base.res, k));
    recsys_result_free(base.res);
    gate_arm(&g, RECSYS_LLM_INTENT, 1);
    job j = { .e = e, .user = "bob", .text = BREEZE };
    pthread_t t;
    start_blocked(&g, &j, &t);
    acts a = { .e = e };
    for (int k = A_FEEDBACK; k <= A_RECOMMEND; k++)
        a.want[k] = k != A_CHANGE;
    snprintf(a.remove_id, sizeof a.remove_id, "%s", ids[0]);
    snprintf(a.unavailable_id, sizeof a.unavailable_id, "%s", ids[1]);
    snprintf(a.block_id, sizeof a.block_id, "%s", ids[2]);
    act_while_blocked(&g, &a);
    finish(&j, t);
    const recsys_result *res = j.res;
    assert_true(recsys_result_count(res) > 0);
    assert_false(in_result(res, ids[0]));
    assert_false(in_result(res, ids[1]));
    assert_false(in_result(res, ids[2]));
    assert_true(in_result(res, ids[3]));
    for (size_t k = 0; k < recsys_result_count(res); k++) { /* the LLM's reading holds */
        int i = -1;
        assert_int_equal(sscanf(recsys_result_item_id(res, k), "lap-%d", &i), 1);
        assert_true(weight_of(i) <= 1.2);
    }
    recsys_result_free(a.other.res);
    recsys_result_free(j.res);
    recsys_engine_free(e);
    gate_fini(&g);
}

/* ================================================================== conversations */

typedef struct talk {
    recsys_conversation *cv;
    const char *text;
    recsys_status st;
    recsys_turn *turn;
    char err[600];
} talk;

static void *talk_main(void *arg)
{
    talk *k = arg;
    k->st = recsys_conversation_say(k->cv, k->text, &k->turn);
    snprintf(k->err, sizeof k->err, "%s", recsys_last_error());
    return NULL;
}

/* A turn blocked in the LLM (task: reading the words, then phrasing the question). */
static void turn_blocked(int task)
{
    gate g;
    gate_init(&g);
    recsys_engine *e = make_engine(&g, NULL);
    assert_int_equal(recsys_engine_set_str(e, RECSYS_OPT_CLARIFY_FACETS, "weight_kg,price"),
                     RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_CLARIFY_MIN_CANDIDATES, 3), RECSYS_OK);
    recsys_conversation *cv = NULL;
    assert_int_equal(recsys_conversation_new(e, "bob", &cv), RECSYS_OK);
    gate_arm(&g, task, 1);
    talk k = { .cv = cv, .text = task == RECSYS_LLM_INTENT ? BREEZE : "a laptop for work" };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, talk_main, &k), 0);
    if (!gate_wait_entered(&g, 1)) {
        gate_open(&g);
        pthread_join(t, NULL);
        fail_msg("the turn never reached the LLM (task %d): %s", task, k.err);
    }
    acts a = { .e = e };
    for (int m = A_FEEDBACK; m <= A_RECOMMEND; m++)
        a.want[m] = m != A_CHANGE && m != A_RULE && m != A_UNAVAILABLE;
    snprintf(a.remove_id, sizeof a.remove_id, "lap-02");
    act_while_blocked(&g, &a);
    pthread_join(t, NULL);
    if (k.st != RECSYS_OK)
        fail_msg("the blocked turn failed: %s", k.err);
    const recsys_result *res = recsys_turn_result(k.turn);
    assert_non_null(res);
    assert_true(recsys_result_count(res) > 0);
    assert_false(in_result(res, "lap-02"));
    if (task == RECSYS_LLM_CLARIFY)
        assert_int_equal(recsys_turn_kind(k.turn), RECSYS_TURN_QUESTION);
    recsys_turn_free(k.turn);
    recsys_conversation_free(cv);
    recsys_result_free(a.other.res);
    recsys_engine_free(e);
    gate_fini(&g);
}

static void test_conversation_off_lock(void **state)
{
    (void)state;
    turn_blocked(RECSYS_LLM_INTENT);
    turn_blocked(RECSYS_LLM_CLARIFY);
}

/* ================================================================== forget */

typedef struct scan {
    const char *user;
    size_t hits, events;
} scan;

static recsys_status scan_one(void *arg, const recsys_event *ev)
{
    scan *s = arg;
    s->events++;
    if (ev->user_id && !strcmp(ev->user_id, s->user))
        s->hits++;
    return RECSYS_OK;
}

/* alice is forgotten while her request waits for the LLM (task): it fails, nothing of her is
 * in the store afterwards. */
static void forget_while(int task)
{
    gate g;
    gate_init(&g);
    recsys_store_vtable store;
    recsys_store_vtable_init(&store);
    assert_int_equal(recsys_store_memory_new(NULL, &store), RECSYS_OK);
    recsys_engine *e = make_engine(&g, &store); /* the engine owns the store; we only scan */
    if (task == RECSYS_LLM_RERANK)
        assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_LLM_RERANK_N, 10), RECSYS_OK);
    if (task == RECSYS_LLM_EXPLAIN)
        assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_EXPLAIN_LLM, 1), RECSYS_OK);
    gate_arm(&g, task, 1);
    job j = { .e = e, .user = "alice", .text = task == RECSYS_LLM_INTENT ? BREEZE : NULL };
    pthread_t t;
    start_blocked(&g, &j, &t);
    acts a = { .e = e, .forget_user = "alice" };
    a.want[A_FORGET] = true;
    act_while_blocked(&g, &a);
    pthread_join(t, NULL);
    assert_int_equal(j.st, RECSYS_E_NOT_FOUND);
    assert_null(j.res);
    assert_non_null(strstr(j.err, "forgotten"));
    scan s = { .user = "alice" };
    assert_int_equal(store.scan_events(store.ctx, scan_one, &s), RECSYS_OK);
    assert_true(s.events > 0);
    assert_int_equal(s.hits, 0);
    /* the engine serves on; bob's request logs its impressions */
    job b = { .e = e, .user = "bob" };
    job_main(&b);
    assert_int_equal(b.st, RECSYS_OK);
    recsys_result_free(b.res);
    recsys_engine_free(e);
    gate_fini(&g);
}

static void test_forget_off_lock(void **state)
{
    (void)state;
    forget_while(RECSYS_LLM_INTENT);
    forget_while(RECSYS_LLM_RERANK);
    forget_while(RECSYS_LLM_EXPLAIN);
}

/* ================================================================== replacing the LLM */

static void test_replace_llm_while_called(void **state)
{
    (void)state;
    gate g, g2;
    gate_init(&g);
    gate_init(&g2);
    recsys_engine *e = make_engine(&g, NULL);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_LLM_RERANK_N, 10), RECSYS_OK);
    gate_arm(&g, RECSYS_LLM_RERANK, 1);
    job j = { .e = e, .user = "bob" };
    pthread_t t;
    start_blocked(&g, &j, &t);
    recsys_llm_vtable vt2 = gated_vt(&g2);
    acts a = { .e = e, .new_llm = &vt2 };
    a.want[A_SET_LLM] = true;
    /* set_llm returns only once the old transport's call is done, so it runs on its thread
     * and the gate opens after a moment (either order is correct; the check is on destroy) */
    pthread_mutex_init(&a.mu, NULL);
    pthread_cond_init(&a.cv, NULL);
    pthread_t ta;
    assert_int_equal(pthread_create(&ta, NULL, acts_main, &a), 0);
    struct timespec nap = { 0, 50 * 1000 * 1000 };
    nanosleep(&nap, NULL);
    gate_open(&g);
    pthread_join(ta, NULL);
    pthread_cond_destroy(&a.cv);
    pthread_mutex_destroy(&a.mu);
    finish(&j, t);
    assert_int_equal(a.st[A_SET_LLM], RECSYS_OK);
    assert_int_equal(g.destroyed, 1);
    assert_int_equal(g.destroyed_inside, 0); /* never destroyed under a running call */
    /* later requests use the new transport */
    job b = { .e = e, .user = "bob" };
    job_main(&b);
    assert_int_equal(b.st, RECSYS_OK);
    assert_int_equal(g2.calls[RECSYS_LLM_RERANK], 1);
    recsys_result_free(b.res);
    recsys_result_free(j.res);
    recsys_engine_free(e);
    assert_int_equal(g2.destroyed, 1);
    gate_fini(&g);
    gate_fini(&g2);
}

/* ================================================================== out of memory */

/* An LLM that writes to the engine from inside complete() (possible now that no lock is held
 * there: an option set to its own value takes the lock exclusively, allocating nothing), so
 * that every ask comes back to a moved model: requery and revalidate run on every request. */
typedef struct toucher {
    recsys_engine *e;
    gate g; /* never armed: answers only */
    int touched;
} toucher;

static recsys_status touch_complete(void *ctx, const recsys_llm_call *call, recsys_llm_reply *r)
{
    toucher *t = ctx;
    if (recsys_engine_set_int(t->e, RECSYS_OPT_TOP_N, 10) == RECSYS_OK)
        t->touched++;
    return gated_complete(&t->g, call, r);
}

/* Allocation n of a request fails, n = 0, 1, ... until it succeeds: each failure is
 * RECSYS_E_NOMEM with a message and leaves no block behind, on the paths that read the
 * model again after each ask (all three stages ask). */
static void test_oom_when_moved(void **state)
{
    (void)state;
    tk_alloc al;
    recsys_allocator rec;
    tk_alloc_init(&al, &rec);
    toucher t;
    memset(&t, 0, sizeof t);
    gate_init(&t.g);
    recsys_engine *e = NULL;
    RECSYS_INIT(recsys_engine_opts, opts, .seed = 7, .allocator = &rec);
    assert_int_equal(recsys_engine_new(&opts, &e), RECSYS_OK);
    t.e = e;
    char id[16];
    for (int i = 0; i < 12; i++) {
        snprintf(id, sizeof id, "lap-%02d", i);
        char *j = laptop_json(id, i, "laptop", true);
        upsert(e, j);
        free(j);
        tk_feedback(e, "crowd", id, RECSYS_EVENT_PURCHASE, TK_NOW - 600 + i);
    }
    static const int32_t keys[] = { RECSYS_OPT_NOW, RECSYS_OPT_TOP_N, RECSYS_OPT_LOG_IMPRESSIONS,
                                    RECSYS_OPT_LLM_CACHE_BYTES, RECSYS_OPT_LLM_DEADLINE_MS,
                                    RECSYS_OPT_LLM_BREAKER_FAILURES, RECSYS_OPT_LLM_RERANK_N,
                                    RECSYS_OPT_EXPLAIN_LLM };
    static const int64_t vals[] = { TK_NOW, 10, 0, 0, 600000, 0, 10, 1 };
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        assert_int_equal(recsys_engine_set_int(e, keys[k], vals[k]), RECSYS_OK);
    recsys_rule pin;
    recsys_rule_init(&pin);
    pin.kind = RECSYS_RULE_PIN;
    pin.item_id = "lap-04"; /* light: the query's reading keeps it */
    pin.position = 0;
    assert_int_equal(recsys_engine_rule_set(e, "pin", &pin), RECSYS_OK);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    recsys_llm_vtable vt;
    recsys_llm_vtable_init(&vt);
    vt.ctx = &t;
    vt.complete = touch_complete;
    assert_int_equal(recsys_engine_set_llm(e, "toucher", &vt), RECSYS_OK);
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_user(rq, "bob"), RECSYS_OK);
    assert_int_equal(recsys_request_set_query(rq, BREEZE), RECSYS_OK);
    recsys_result *res = NULL;
    long n = 0;
    for (;; n++) {
        long live = atomic_load(&al.live);
        atomic_store(&al.fail_at, atomic_load(&al.count) + n);
        recsys_status st = recsys_recommend(e, rq, &res);
        atomic_store(&al.fail_at, -1);
        if (st == RECSYS_OK)
            break;
        if (st != RECSYS_E_NOMEM)
            fail_msg("allocation %ld: %s", n, recsys_last_error());
        assert_true(recsys_last_error()[0] != '\0');
        assert_null(res);
        assert_int_equal(atomic_load(&al.live), live);
    }
    assert_true(n > 20);
    assert_true(t.touched >= 3); /* every stage asked (and moved the model) */
    assert_true(recsys_result_count(res) > 0);
    assert_string_equal(recsys_result_item_id(res, 0), "lap-04");
    recsys_result_free(res);
    recsys_request_free(rq);
    recsys_engine_free(e);
    assert_int_equal(atomic_load(&al.live), 0);
    gate_fini(&t.g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rerank_off_lock),
        cmocka_unit_test(test_explain_off_lock),
        cmocka_unit_test(test_intent_off_lock),
        cmocka_unit_test(test_conversation_off_lock),
        cmocka_unit_test(test_forget_off_lock),
        cmocka_unit_test(test_replace_llm_while_called),
        cmocka_unit_test(test_oom_when_moved),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("llm/unlocked", tests, NULL, NULL);
}
