/* test_pool.c - lib/core/pool: every job runs exactly once whatever the width, the caller
 * takes part, helpers start lazily and are shared by concurrent batches, and a pool frees
 * cleanly with or without helpers. */
#include "core/pool.h"
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#define JOBS 200

typedef struct counts {
    _Atomic int ran[JOBS];
    _Atomic int on_caller;
    pthread_t caller;
    long sleep_ns;
} counts;

static void job(void *arg, size_t i)
{
    counts *c = arg;
    atomic_fetch_add(&c->ran[i], 1);
    if (pthread_equal(pthread_self(), c->caller))
        atomic_fetch_add(&c->on_caller, 1);
    if (c->sleep_ns) {
        struct timespec ts = { 0, c->sleep_ns };
        nanosleep(&ts, NULL);
    }
}

static void every_job_runs_once_at_every_width(void **state)
{
    (void)state;
    recsys__pool *p = NULL;
    assert_int_equal(recsys__pool_new(&recsys__mem_default, &p), RECSYS_OK);
    assert_int_equal(recsys__pool_threads(p), 0);
    static const size_t widths[] = { 0, 1, 2, 3, 8, 100 };
    static const size_t ns[] = { 0, 1, 2, 7, JOBS };
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++)
        for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
            counts *c = calloc(1, sizeof *c);
            assert_non_null(c);
            c->caller = pthread_self();
            recsys__pool_run(p, ns[k], widths[w], job, c);
            for (size_t i = 0; i < JOBS; i++)
                assert_int_equal(atomic_load(&c->ran[i]), i < ns[k] ? 1 : 0);
            if (widths[w] <= 1) /* the caller alone */
                assert_int_equal(atomic_load(&c->on_caller), (int)ns[k]);
            free(c);
        }
    /* helpers started lazily, never more than asked (nor than the cap) */
    assert_true(recsys__pool_threads(p) >= 1);
    assert_true(recsys__pool_threads(p) <= RECSYS__POOL_MAX);
    recsys__pool_free(p);
}

/* With slow jobs, a helper takes some: the batch finishes in about half the time. */
static void a_helper_shares_the_work(void **state)
{
    (void)state;
    recsys__pool *p = NULL;
    assert_int_equal(recsys__pool_new(&recsys__mem_default, &p), RECSYS_OK);
    counts *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->caller = pthread_self();
    c->sleep_ns = 2000000; /* 2 ms */
    recsys__pool_run(p, 20, 2, job, c);
    int caller = atomic_load(&c->on_caller);
    assert_true(caller >= 1);
    assert_true(caller < 20); /* the helper ran at least one: they sleep, it woke */
    for (size_t i = 0; i < 20; i++)
        assert_int_equal(atomic_load(&c->ran[i]), 1);
    free(c);
    recsys__pool_free(p);
}

typedef struct client {
    recsys__pool *p;
    counts c;
} client;

static void *client_main(void *arg)
{
    client *cl = arg;
    cl->c.caller = pthread_self();
    for (int r = 0; r < 50; r++)
        recsys__pool_run(cl->p, 13, 3, job, &cl->c);
    return NULL;
}

/* Several callers at once share the helpers; every batch is complete when its run returns. */
static void concurrent_batches_each_complete(void **state)
{
    (void)state;
    recsys__pool *p = NULL;
    assert_int_equal(recsys__pool_new(&recsys__mem_default, &p), RECSYS_OK);
    enum { CLIENTS = 4 };
    client *cl = calloc(CLIENTS, sizeof *cl);
    assert_non_null(cl);
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        cl[i].p = p;
        assert_int_equal(pthread_create(&th[i], NULL, client_main, &cl[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < CLIENTS; i++)
        for (size_t j = 0; j < JOBS; j++)
            assert_int_equal(atomic_load(&cl[i].c.ran[j]), j < 13 ? 50 : 0);
    free(cl);
    assert_true(recsys__pool_threads(p) <= 2);
    recsys__pool_free(p);
}

static void a_null_pool_runs_on_the_caller(void **state)
{
    (void)state;
    counts *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->caller = pthread_self();
    recsys__pool_run(NULL, 5, 4, job, c);
    assert_int_equal(atomic_load(&c->on_caller), 5);
    free(c);
    recsys__pool_free(NULL);
    assert_int_equal(recsys__pool_threads(NULL), 0);
    assert_true(recsys__pool_cpus() >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_job_runs_once_at_every_width),
        cmocka_unit_test(a_helper_shares_the_work),
        cmocka_unit_test(concurrent_batches_each_complete),
        cmocka_unit_test(a_null_pool_runs_on_the_caller),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
