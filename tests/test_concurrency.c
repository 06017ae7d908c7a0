/* test_concurrency.c - the documented threading model under stress: any number of threads
 * recommend and record feedback on one engine at once, while others upsert items, change
 * options and refresh (which swaps the derived state in atomically). Run under ThreadSanitizer
 * by `make tsan`; in the normal suite it checks that nothing is lost or double counted. */
#include "testkit.h"
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

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

int main(void)
{
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_threads_one_engine),
    };
    return cmocka_run_group_tests_name("concurrency", tests, NULL, NULL);
}
