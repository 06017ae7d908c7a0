/* test_concurrency.c - the documented threading model under stress: any number of threads
 * recommend and record feedback on one engine at once, while others upsert items, change
 * options and refresh (which swaps the derived state in atomically). Run under ThreadSanitizer
 * by `make tsan`; in the normal suite it checks that nothing is lost or double counted.
 * Also group commit (a store with append_events_deferred and wait_durable): many threads'
 * feedback over the file store in RECSYS_SYNC_FULL, all there after a reopen; wait_durable
 * runs outside the engine's locks and its failure is reported; a 0.1-sized host store
 * vtable keeps the plain path. */
#include "testkit.h"
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "store/store.h" /* RECSYS__STORE_VTABLE_MIN_SIZE */

#define READERS 4
#define WRITERS 2
#define ROUNDS 300

typedef struct shared {
    recsys_engine *e;
    int id;
    uint64_t shown;    /* impressions this thread caused */
    uint64_t recorded; /* feedback events this thread recorded */
    int errors;
} shared;

static uint64_t next_rand(uint64_t *s)
{
    *s += 0x9E3779B97F4A7C15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void *reader(void *arg)
{
    shared *s = arg;
    uint64_t rng = (uint64_t)s->id * 7919;
    recsys_request *rq = NULL;
    if (recsys_request_new(&rq) != RECSYS_OK)
        return NULL;
    for (int i = 0; i < ROUNDS; i++) {
        const char *u = tk_user_ids[next_rand(&rng) % tk_nusers];
        if (recsys_request_set_user(rq, u) != RECSYS_OK ||
            recsys_request_set_query(rq, (i % 5 == 0) ? "gpu laptop" : NULL) != RECSYS_OK) {
            s->errors++;
            continue;
        }
        recsys_result *r = NULL;
        if (recsys_recommend(s->e, rq, &r) != RECSYS_OK) {
            s->errors++;
            continue;
        }
        s->shown += recsys_result_count(r);
        for (size_t k = 0; k < recsys_result_count(r); k++) { /* touch everything */
            if (!recsys_result_item_id(r, k) || !recsys_result_explanation(r, k))
                s->errors++;
        }
        recsys_result_free(r);
    }
    recsys_request_free(rq);
    return NULL;
}

static void *writer(void *arg)
{
    shared *s = arg;
    uint64_t rng = (uint64_t)s->id * 104729;
    static const int32_t types[] = { RECSYS_EVENT_VIEW, RECSYS_EVENT_CLICK, RECSYS_EVENT_LIKE,
                                     RECSYS_EVENT_DISLIKE, RECSYS_EVENT_PURCHASE, RECSYS_EVENT_SKIP };
    char user[32];
    for (int i = 0; i < ROUNDS; i++) {
        recsys_event ev;
        recsys_event_init(&ev);
        ev.type = types[next_rand(&rng) % 6];
        snprintf(user, sizeof user, "w%d-u%d", s->id, (int)(next_rand(&rng) % 20));
        ev.user_id = (i % 3 == 0) ? tk_user_ids[next_rand(&rng) % tk_nusers] : user;
        ev.item_id = tk_item_ids[next_rand(&rng) % tk_nitems];
        ev.timestamp = TK_NOW - (int64_t)(next_rand(&rng) % 100000);
        if (recsys_feedback(s->e, &ev) == RECSYS_OK)
            s->recorded++;
        else
            s->errors++;
    }
    return NULL;
}

/* Refreshes, replaces items and flips options while the others run. */
static void *churn(void *arg)
{
    shared *s = arg;
    char js[256];
    for (int i = 0; i < ROUNDS / 10; i++) {
        if (recsys_refresh(s->e) != RECSYS_OK)
            s->errors++;
        snprintf(js, sizeof js,
                 "{\"item_id\":\"x%d\",\"title\":\"Churn item %d\",\"category\":\"laptop\","
                 "\"tags\":[\"gpu\",\"ai\"],\"attributes\":{\"price\":%d}}",
                 i % 7, i, 900 + i);
        if (recsys_catalog_upsert_json(s->e, js, strlen(js)) != RECSYS_OK)
            s->errors++;
        if (recsys_engine_set_double(s->e, RECSYS_OPT_RANK_W_TAG, (i % 2) ? 0.5 : 0.7) != RECSYS_OK)
            s->errors++;
        uint64_t n;
        if (recsys_engine_count(s->e, RECSYS_COUNT_EVENTS, &n) != RECSYS_OK)
            s->errors++;
    }
    return NULL;
}

static void many_threads_one_engine(void **state)
{
    (void)state;
    recsys_engine *e = tk_engine(NULL, NULL);
    uint64_t events0;
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &events0), RECSYS_OK);
    pthread_t th[READERS + WRITERS + 1];
    shared sh[READERS + WRITERS + 1];
    memset(sh, 0, sizeof sh);
    for (int i = 0; i < READERS + WRITERS + 1; i++) {
        sh[i].e = e;
        sh[i].id = i + 1;
        void *(*fn)(void *) = i < READERS ? reader : i < READERS + WRITERS ? writer : churn;
        assert_int_equal(pthread_create(&th[i], NULL, fn, &sh[i]), 0);
    }
    uint64_t shown = 0, recorded = 0;
    for (int i = 0; i < READERS + WRITERS + 1; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(sh[i].errors, 0);
        shown += sh[i].shown;
        recorded += sh[i].recorded;
    }
    assert_int_equal(recorded, (uint64_t)WRITERS * ROUNDS);
    assert_true(shown > 0);
    /* nothing lost, nothing counted twice: every feedback event and every impression */
    uint64_t events, requests;
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &events), RECSYS_OK);
    assert_int_equal(events, events0 + recorded + shown);
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_REQUESTS, &requests), RECSYS_OK);
    assert_true(requests >= (uint64_t)READERS * ROUNDS);
    recsys_engine_free(e);
}

/* ---------------------------------------------------------------- group commit */

#define GC_THREADS 8
#define GC_EVENTS 120

typedef struct gc_worker {
    recsys_engine *e;
    int id;
    int errors;
    char err[256];
    uint64_t shown; /* impressions its recommendations logged */
} gc_worker;

/* Thread id's events: user "gc<id>", timestamps counting up (the order to find again). */
static recsys_event gc_event(int id, int i, char *user, size_t cap)
{
    snprintf(user, cap, "gc%d", id);
    recsys_event ev;
    recsys_event_init(&ev);
    ev.type = (i % 2) ? RECSYS_EVENT_CLICK : RECSYS_EVENT_VIEW;
    ev.user_id = user;
    ev.item_id = tk_item_ids[(size_t)(id + i) % tk_nitems];
    ev.timestamp = TK_NOW - 100000 + i;
    return ev;
}

static void *gc_feedback(void *arg)
{
    gc_worker *w = arg;
    char user[16];
    for (int i = 0; i < GC_EVENTS; i++) {
        recsys_event ev = gc_event(w->id, i, user, sizeof user);
        if (recsys_feedback(w->e, &ev) != RECSYS_OK) {
            if (!w->errors++)
                snprintf(w->err, sizeof w->err, "%s", recsys_last_error());
        }
    }
    return NULL;
}

/* Compacts now and then while the feedback threads run (the log is switched under their
 * flushes), and recommends. */
static void *gc_churn(void *arg)
{
    gc_worker *w = arg;
    recsys_request *rq = NULL;
    if (recsys_request_new(&rq) != RECSYS_OK)
        return NULL;
    for (int i = 0; i < 6; i++) {
        if (recsys_engine_compact(w->e) != RECSYS_OK && !w->errors++)
            snprintf(w->err, sizeof w->err, "%s", recsys_last_error());
        recsys_result *r = NULL;
        if (recsys_request_set_user(rq, "gc0") != RECSYS_OK ||
            recsys_recommend(w->e, rq, &r) != RECSYS_OK) {
            if (!w->errors++)
                snprintf(w->err, sizeof w->err, "%s", recsys_last_error());
        } else {
            w->shown += recsys_result_count(r);
        }
        recsys_result_free(r);
    }
    recsys_request_free(rq);
    return NULL;
}

static recsys_status count_visit(void *arg, const recsys_event *ev)
{
    (void)ev;
    ++*(size_t *)arg;
    return RECSYS_OK;
}

typedef struct order_check {
    int64_t next[GC_THREADS]; /* the next timestamp expected of each thread */
    size_t seen, wrong;
} order_check;

static recsys_status check_order(void *arg, const recsys_event *ev)
{
    order_check *c = arg;
    if (!ev->user_id || strncmp(ev->user_id, "gc", 2) != 0 ||
        ev->type == RECSYS_EVENT_IMPRESSION)
        return RECSYS_OK;
    int id = atoi(ev->user_id + 2);
    if (id < 0 || id >= GC_THREADS || ev->timestamp != c->next[id]) {
        c->wrong++;
        return RECSYS_OK;
    }
    c->next[id]++;
    c->seen++;
    return RECSYS_OK;
}

/* Every acknowledged event of every thread is in the file store after the engine is closed
 * and reopened: exactly once, in each thread's order. */
static void group_commit_file_store(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_store_vtable vt;
    recsys_store_vtable_init(&vt);
    /* SYNC_FULL (the default) and a small compact_bytes: automatic compactions as well */
    RECSYS_INIT(recsys_file_store_opts, fo, .sync = RECSYS_SYNC_FULL, .compact_bytes = 32768);
    assert_int_equal(recsys_store_file_new(dir, &fo, &vt), RECSYS_OK);
    assert_non_null(vt.append_events_deferred);
    recsys_engine *e = tk_engine(NULL, &vt);
    size_t before = 0;
    {
        /* the events tk_engine recorded: read back after the run */
        uint64_t n;
        assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &n), RECSYS_OK);
        before = (size_t)n;
    }
    pthread_t th[GC_THREADS + 1];
    gc_worker w[GC_THREADS + 1];
    memset(w, 0, sizeof w);
    for (int i = 0; i <= GC_THREADS; i++) {
        w[i].e = e;
        w[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, i < GC_THREADS ? gc_feedback : gc_churn,
                                        &w[i]), 0);
    }
    for (int i = 0; i <= GC_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (w[i].errors)
            fail_msg("thread %d: %d failures, the first: %s", i, w[i].errors, w[i].err);
    }
    size_t shown = (size_t)w[GC_THREADS].shown;
    uint64_t events;
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &events), RECSYS_OK);
    assert_int_equal(events, before + (size_t)GC_THREADS * GC_EVENTS + shown);
    recsys_engine_free(e);

    /* the store alone, reopened */
    recsys_store_vtable_init(&vt);
    assert_int_equal(recsys_store_file_new(dir, &fo, &vt), RECSYS_OK);
    order_check c;
    memset(&c, 0, sizeof c);
    for (int i = 0; i < GC_THREADS; i++)
        c.next[i] = TK_NOW - 100000;
    size_t total = 0;
    assert_int_equal(vt.scan_events(vt.ctx, check_order, &c), RECSYS_OK);
    assert_int_equal(vt.scan_events(vt.ctx, count_visit, &total), RECSYS_OK);
    assert_int_equal(c.wrong, 0);
    assert_int_equal(c.seen, (size_t)GC_THREADS * GC_EVENTS);
    for (int i = 0; i < GC_THREADS; i++)
        assert_int_equal(c.next[i], TK_NOW - 100000 + GC_EVENTS);
    assert_int_equal(total, before + (size_t)GC_THREADS * GC_EVENTS + shown);
    /* and an engine over it counts them all */
    e = tk_engine(NULL, &vt);
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &events), RECSYS_OK);
    /* tk_engine recorded its few events once more */
    assert_int_equal(events, 2 * before + (size_t)GC_THREADS * GC_EVENTS + shown);
    recsys_engine_free(e);
    tk_rm_rf(dir);
    free(dir);
}

/* A host store with group commit over the memory store: wait_durable can be made to fail,
 * or to hold until the test has looked at the engine from another thread. */
typedef struct gc_host {
    recsys_store_vtable inner;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t appended;    /* tickets handed out (mu) */
    int deferred, waits, plain;
    uint64_t last_ticket; /* ticket of the last wait_durable */
    bool fail;            /* wait_durable fails */
    bool hold;            /* wait_durable waits for release */
    bool holding, release;
    bool timed_out;       /* hold was never released: the engine was locked meanwhile */
    int destroyed;
} gc_host;

static recsys_status h_put(void *ctx, int32_t kind, const char *key, const void *d, size_t n)
{
    gc_host *h = ctx;
    return h->inner.put(h->inner.ctx, kind, key, d, n);
}
static recsys_status h_remove(void *ctx, int32_t kind, const char *key)
{
    gc_host *h = ctx;
    return h->inner.remove(h->inner.ctx, kind, key);
}
static recsys_status h_get(void *ctx, int32_t kind, const char *key, recsys_store_value *out)
{
    gc_host *h = ctx;
    return h->inner.get(h->inner.ctx, kind, key, out);
}
static recsys_status h_append(void *ctx, const recsys_event *ev, size_t n)
{
    gc_host *h = ctx;
    pthread_mutex_lock(&h->mu);
    h->plain++;
    pthread_mutex_unlock(&h->mu);
    /* cut to 0.1's vtable, the host gets 0.1's event layout (ending before sources); the
     * store inside is this build's: widened for it */
    const size_t size01 = offsetof(recsys_event, sources);
    if (!n || ev->struct_size != size01)
        return h->inner.append_events(h->inner.ctx, ev, n);
    recsys_event *full = calloc(n, sizeof *full);
    if (!full)
        return RECSYS_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        memcpy(&full[i], (const char *)ev + i * size01, size01);
        full[i].struct_size = sizeof full[i];
    }
    recsys_status st = h->inner.append_events(h->inner.ctx, full, n);
    free(full);
    return st;
}
static recsys_status h_scan_records(void *ctx, int32_t kind, recsys_record_visit_fn fn, void *arg)
{
    gc_host *h = ctx;
    return h->inner.scan_records(h->inner.ctx, kind, fn, arg);
}
static recsys_status h_scan_events(void *ctx, recsys_event_visit_fn fn, void *arg)
{
    gc_host *h = ctx;
    return h->inner.scan_events(h->inner.ctx, fn, arg);
}
static recsys_status h_forget(void *ctx, const char *user)
{
    gc_host *h = ctx;
    return h->inner.forget_user(h->inner.ctx, user);
}
static void h_destroy(void *ctx)
{
    gc_host *h = ctx;
    h->destroyed++;
    h->inner.destroy(h->inner.ctx);
}
static recsys_status h_deferred(void *ctx, const recsys_event *ev, size_t n, uint64_t *ticket)
{
    gc_host *h = ctx;
    recsys_status st = h->inner.append_events(h->inner.ctx, ev, n);
    pthread_mutex_lock(&h->mu);
    h->deferred++;
    *ticket = st == RECSYS_OK ? ++h->appended : 0;
    pthread_mutex_unlock(&h->mu);
    return st;
}
static recsys_status h_wait(void *ctx, uint64_t ticket)
{
    gc_host *h = ctx;
    pthread_mutex_lock(&h->mu);
    h->waits++;
    h->last_ticket = ticket;
    bool fail = h->fail;
    if (h->hold) {
        h->holding = true;
        pthread_cond_broadcast(&h->cv);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10; /* an engine lock held here fails the test instead of hanging it */
        while (!h->release && !h->timed_out)
            h->timed_out = pthread_cond_timedwait(&h->cv, &h->mu, &until) != 0;
    }
    pthread_mutex_unlock(&h->mu);
    if (fail)
        return recsys_error_set(RECSYS_E_IO, "injected flush failure");
    return RECSYS_OK;
}

/* Fills vt (struct_size of the current header) for h over a memory store. */
static void gc_host_init(gc_host *h, recsys_store_vtable *vt)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    recsys_store_vtable_init(&h->inner);
    assert_int_equal(recsys_store_memory_new(NULL, &h->inner), RECSYS_OK);
    recsys_store_vtable_init(vt);
    vt->ctx = h;
    vt->destroy = h_destroy;
    vt->put = h_put;
    vt->remove = h_remove;
    vt->get = h_get;
    vt->append_events = h_append;
    vt->scan_records = h_scan_records;
    vt->scan_events = h_scan_events;
    vt->forget_user = h_forget;
    vt->append_events_deferred = h_deferred;
    vt->wait_durable = h_wait;
}

static void gc_host_free(gc_host *h)
{
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
}

typedef struct one_feedback {
    recsys_engine *e;
    recsys_status st;
} one_feedback;

static void *feedback_once(void *arg)
{
    one_feedback *f = arg;
    recsys_event ev;
    recsys_event_init(&ev);
    ev.type = RECSYS_EVENT_LIKE;
    ev.user_id = "held";
    ev.item_id = tk_item_ids[0];
    ev.timestamp = TK_NOW - 10;
    f->st = recsys_feedback(f->e, &ev);
    return NULL;
}

/* wait_durable runs after the engine's locks are released: while it holds, other threads
 * read the engine and already see the event; a failure is reported with what it means. */
static void group_commit_wait_outside_locks_and_failure(void **state)
{
    (void)state;
    gc_host h;
    recsys_store_vtable vt;
    gc_host_init(&h, &vt);
    recsys_engine *e = tk_engine(NULL, &vt);
    uint64_t n0, n1;
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &n0), RECSYS_OK);
    assert_int_equal(h.plain, 0); /* tk_engine's feedback went through the deferred path */
    assert_true(h.deferred > 0);
    assert_int_equal(h.waits, h.deferred);
    assert_int_equal(h.last_ticket, h.appended);

    pthread_mutex_lock(&h.mu);
    h.hold = true;
    pthread_mutex_unlock(&h.mu);
    one_feedback f = { .e = e, .st = RECSYS_E_INTERNAL };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, feedback_once, &f), 0);
    pthread_mutex_lock(&h.mu);
    while (!h.holding)
        pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);
    /* the feedback thread is inside wait_durable: the engine is free, the event applied */
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &n1), RECSYS_OK);
    assert_int_equal(n1, n0 + 1);
    char *js = NULL;
    assert_int_equal(recsys_user_get_json(e, "held", &js), RECSYS_OK);
    recsys_string_free(js);
    pthread_mutex_lock(&h.mu);
    h.release = true;
    h.hold = false;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.mu);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(f.st, RECSYS_OK);
    assert_false(h.timed_out);

    /* a failed flush: the store's status, and the message says what it means */
    h.fail = true;
    recsys_event ev;
    recsys_event_init(&ev);
    ev.type = RECSYS_EVENT_CLICK;
    ev.user_id = "u-fail";
    ev.item_id = tk_item_ids[1];
    ev.timestamp = TK_NOW - 5;
    assert_int_equal(recsys_feedback(e, &ev), RECSYS_E_IO);
    const char *msg = recsys_last_error();
    assert_non_null(strstr(msg, "applied but is not confirmed durable"));
    assert_non_null(strstr(msg, "wait_durable"));
    assert_non_null(strstr(msg, "injected flush failure"));
    /* the event was applied in memory (and written by the store) all the same */
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &n1), RECSYS_OK);
    assert_int_equal(n1, n0 + 2);
    const char *json = "[{\"user_id\":\"u-fail\",\"item_id\":\"c1\",\"type\":\"click\"},"
                       "{\"user_id\":\"u-fail\",\"item_id\":\"c2\",\"type\":\"view\"}]";
    assert_int_equal(recsys_feedback_json(e, json, strlen(json)), RECSYS_E_IO);
    assert_non_null(strstr(recsys_last_error(), "events were applied"));
    h.fail = false;
    int waits = h.waits;
    assert_int_equal(recsys_feedback(e, &ev), RECSYS_OK);
    assert_int_equal(h.waits, waits + 1);
    assert_int_equal(h.plain, 0);

    /* impressions take the same path: written under the shared lock, flushed after it */
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_user(rq, "u-fail"), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 1), RECSYS_OK);
    recsys_result *res = NULL;
    int deferred = h.deferred;
    waits = h.waits;
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
    assert_true(recsys_result_count(res) > 0);
    recsys_result_free(res);
    assert_int_equal(h.deferred, deferred + 1);
    assert_int_equal(h.waits, waits + 1);
    assert_int_equal(h.plain, 0);
    h.fail = true;
    res = (recsys_result *)&h; /* must become NULL */
    assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_E_IO);
    assert_null(res);
    assert_non_null(strstr(recsys_last_error(), "impressions were written but are not confirmed"));
    h.fail = false;
    recsys_request_free(rq);
    recsys_engine_free(e);
    assert_int_equal(h.destroyed, 1);
    gc_host_free(&h);
}

/* Only one of the pair: refused, and the store destroyed once. */
static void group_commit_needs_both_methods(void **state)
{
    (void)state;
    for (int which = 0; which < 2; which++) {
        gc_host h;
        recsys_store_vtable vt;
        gc_host_init(&h, &vt);
        if (which)
            vt.wait_durable = NULL;
        else
            vt.append_events_deferred = NULL;
        RECSYS_INIT(recsys_engine_opts, o, .store = &vt);
        recsys_engine *e = NULL;
        assert_int_equal(recsys_engine_new(&o, &e), RECSYS_E_INVALID_ARG);
        assert_null(e);
        assert_non_null(strstr(recsys_last_error(), which ? "append_events_deferred"
                                                          : "wait_durable"));
        assert_int_equal(h.destroyed, 1);
        gc_host_free(&h);
    }
}

typedef struct plain_worker {
    recsys_engine *e;
    int id, errors;
} plain_worker;

static void *plain_feedback(void *arg)
{
    plain_worker *w = arg;
    char user[16];
    for (int i = 0; i < 50; i++) {
        recsys_event ev = gc_event(w->id, i, user, sizeof user);
        if (recsys_feedback(w->e, &ev) != RECSYS_OK)
            w->errors++;
    }
    return NULL;
}

/* A host vtable of the 0.1 size keeps the plain path (append_events under the locks) even
 * when the bytes past its struct_size hold the newer methods. */
static void old_store_vtable_takes_plain_path(void **state)
{
    (void)state;
    gc_host h;
    recsys_store_vtable vt;
    gc_host_init(&h, &vt);
    vt.struct_size = (uint32_t)RECSYS__STORE_VTABLE_MIN_SIZE; /* members beyond: not there */
    recsys_engine *e = tk_engine(NULL, &vt);
    uint64_t n0, n1;
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &n0), RECSYS_OK);
    int plain0 = h.plain;
    assert_true(plain0 > 0);
    pthread_t th[4];
    plain_worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (plain_worker){ .e = e, .id = i };
        assert_int_equal(pthread_create(&th[i], NULL, plain_feedback, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].errors, 0);
    }
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &n1), RECSYS_OK);
    assert_int_equal(n1, n0 + 200);
    assert_int_equal(h.plain, plain0 + 200);
    assert_int_equal(h.deferred, 0);
    assert_int_equal(h.waits, 0);
    recsys_engine_free(e);
    assert_int_equal(h.destroyed, 1);
    gc_host_free(&h);
}

int main(void)
{
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_threads_one_engine),
        cmocka_unit_test(group_commit_file_store),
        cmocka_unit_test(group_commit_wait_outside_locks_and_failure),
        cmocka_unit_test(group_commit_needs_both_methods),
        cmocka_unit_test(old_store_vtable_takes_plain_path),
    };
    return cmocka_run_group_tests_name("concurrency", tests, NULL, NULL);
}
