/* llmlock.c - `recsys-bench llmlock`: what a slow LLM does to the engine's writers.
 *
 * Usage: recsys-bench llmlock [--llm-ms MS] [--requesters R] [--feedback N] [--every-ms P]
 *                             [--repeat K]
 *
 * A synthetic engine (400 items bought by a crowd, refreshed; every user on the LLM path,
 * llm.rerank_n 10, no reply cache) with a SIMULATED LLM that sleeps MS milliseconds (default
 * 200) inside complete() and then answers the re-ranking with the list reversed. R threads
 * (default 2) call recsys_recommend in a loop while one thread makes N recsys_feedback calls
 * (default 100, one event each), one every P milliseconds (default 10: a steady stream that
 * arrives at any moment of the requests' LLM calls), timing each.
 * Reported per run, median over K runs (default 3): the feedback latency p50/p95/p99 (us),
 * the feedback calls per second, and the requests the R threads completed per second.
 *
 * Why: before 0.2 the LLM ran under the engine's shared lock, so every feedback call waited
 * for the LLM calls in flight (up to MS) and, the lock preferring writers, the requests
 * queued behind it. Built against a library where the LLM runs off the lock the feedback
 * latency is that of feedback alone. The same source builds against either library, which is
 * how the README's before/after figures were taken (same machine, same run).
 * Costs: about N x (P + feedback time) per run; memory O(items).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define NITEMS 400

typedef struct sim {
    long ms;
} sim;

static recsys_status slow_complete(void *ctx, const recsys_llm_call *call, recsys_llm_reply *r)
{
    const sim *s = ctx;
    struct timespec ts = { s->ms / 1000, (s->ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    size_t n = 0; /* the cards shown: handles 1..n */
    for (const char *p = strstr(recsys_llm_call_prompt(call), "{\"handle\":"); p;
         p = strstr(p + 1, "{\"handle\":"))
        n++;
    char buf[1024];
    size_t at = (size_t)snprintf(buf, sizeof buf, "{\"order\":[");
    for (size_t i = n; i > 0 && at + 16 < sizeof buf; i--)
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%zu%s", i, i > 1 ? "," : "");
    snprintf(buf + at, sizeof buf - at, "]}");
    return recsys_llm_reply_set_text(r, buf, strlen(buf));
}

static recsys_engine *make_engine(sim *s)
{
    recsys_engine *e = NULL;
    RECSYS_INIT(recsys_engine_opts, opts, .seed = BENCH_SEED);
    BENCH_CHECK(recsys_engine_new(&opts, &e), "engine");
    static const int32_t keys[] = { RECSYS_OPT_NOW, RECSYS_OPT_LOG_IMPRESSIONS,
                                    RECSYS_OPT_LLM_CACHE_BYTES, RECSYS_OPT_LLM_RERANK_N,
                                    RECSYS_OPT_LLM_WARM_EVENTS, RECSYS_OPT_LLM_DEADLINE_MS,
                                    RECSYS_OPT_LLM_BREAKER_FAILURES, RECSYS_OPT_EXPLAIN };
    int64_t vals[] = { BENCH_NOW, 0, 0, 10, 0, 10 * s->ms + 1000, 0, 0 };
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        BENCH_CHECK(recsys_engine_set_int(e, keys[k], vals[k]), "options");
    char json[256];
    for (int i = 0; i < NITEMS; i++) {
        snprintf(json, sizeof json,
                 "{\"item_id\":\"i%03d\",\"title\":\"Item %d\",\"category\":\"c%d\","
                 "\"tags\":[\"t%d\"]}",
                 i, i, i % 7, i % 13);
        BENCH_CHECK(recsys_catalog_upsert_json(e, json, strlen(json)), "upsert");
    }
    for (int i = 0; i < NITEMS; i++)
        for (int k = 0; k <= i % 5; k++) {
            snprintf(json, sizeof json, "i%03d", i);
            recsys_event ev;
            recsys_event_init(&ev);
            ev.type = RECSYS_EVENT_PURCHASE;
            ev.user_id = k % 2 ? "crowd-a" : "crowd-b";
            ev.item_id = json;
            ev.timestamp = BENCH_NOW - 86400 + i * 60 + k;
            BENCH_CHECK(recsys_feedback(e, &ev), "feedback");
        }
    BENCH_CHECK(recsys_refresh(e), "refresh");
    recsys_llm_vtable vt;
    recsys_llm_vtable_init(&vt);
    vt.ctx = s;
    vt.complete = slow_complete;
    BENCH_CHECK(recsys_engine_set_llm(e, "slow-sim", &vt), "set_llm");
    return e;
}

typedef struct load {
    recsys_engine *e;
    atomic_bool stop;
    atomic_long requests;
    int id;
} load;

static void *requester(void *arg)
{
    load *l = arg;
    char user[32];
    recsys_request *rq = NULL;
    BENCH_CHECK(recsys_request_new(&rq), "request");
    for (long k = 0; !atomic_load(&l->stop); k++) {
        snprintf(user, sizeof user, "u%d-%ld", l->id, k % 50);
        BENCH_CHECK(recsys_request_set_user(rq, user), "request user");
        recsys_result *res = NULL;
        BENCH_CHECK(recsys_recommend(l->e, rq, &res), "recommend");
        recsys_result_free(res);
        atomic_fetch_add(&l->requests, 1);
    }
    recsys_request_free(rq);
    return NULL;
}

int bench_llmlock(bench_ctx *ctx, int argc, char **argv)
{
    long ms = 200, nreq = 2, nfb = 100, every = 10;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--llm-ms"))
            ms = bench_long("--llm-ms", bench_arg(argc, argv, &i), 0, 10000);
        else if (!strcmp(argv[i], "--requesters"))
            nreq = bench_long("--requesters", bench_arg(argc, argv, &i), 1, 64);
        else if (!strcmp(argv[i], "--feedback"))
            nfb = bench_long("--feedback", bench_arg(argc, argv, &i), 1, 1000000);
        else if (!strcmp(argv[i], "--every-ms"))
            every = bench_long("--every-ms", bench_arg(argc, argv, &i), 0, 10000);
        else
            bench_usage("llmlock: unknown option '%s'", argv[i]);
    }
    int runs = ctx->repeat ? ctx->repeat : 3;
    sim s = { ms };
    stats_summary fb[STATS_MAX_RUNS], rq[STATS_MAX_RUNS];
    for (int run = 0; run < runs; run++) {
        recsys_engine *e = make_engine(&s);
        load *l = calloc((size_t)nreq, sizeof *l);
        pthread_t *t = calloc((size_t)nreq, sizeof *t);
        if (!l || !t)
            bench_fail("llmlock: out of memory");
        uint64_t t0 = stats_now_ns();
        for (long k = 0; k < nreq; k++) {
            l[k].e = e;
            l[k].id = (int)k;
            atomic_init(&l[k].stop, false);
            atomic_init(&l[k].requests, 0);
            if (pthread_create(&t[k], NULL, requester, &l[k]) != 0)
                bench_fail("llmlock: thread");
        }
        stats_samples lat = { 0 };
        char item[16];
        uint64_t f0 = stats_now_ns();
        for (long k = 0; k < nfb; k++) {
            snprintf(item, sizeof item, "i%03ld", k % NITEMS);
            recsys_event ev;
            recsys_event_init(&ev);
            ev.type = RECSYS_EVENT_CLICK;
            ev.user_id = "clicker";
            ev.item_id = item;
            ev.timestamp = BENCH_NOW - 30;
            uint64_t a = stats_now_ns();
            BENCH_CHECK(recsys_feedback(e, &ev), "feedback");
            stats_push(&lat, (double)(stats_now_ns() - a) / 1000.0);
            struct timespec gap = { every / 1000, (every % 1000) * 1000000L };
            nanosleep(&gap, NULL);
        }
        double fsec = (double)(stats_now_ns() - f0) / 1e9;
        long done = 0;
        for (long k = 0; k < nreq; k++)
            atomic_store(&l[k].stop, true);
        for (long k = 0; k < nreq; k++) {
            pthread_join(t[k], NULL);
            done += atomic_load(&l[k].requests);
        }
        double sec = (double)(stats_now_ns() - t0) / 1e9;
        fb[run] = stats_summarise(&lat, (double)nfb, fsec);
        stats_samples none = { 0 };
        rq[run] = stats_summarise(&none, (double)done, sec);
        rq[run].p50 = rq[run].p95 = rq[run].p99 = -1;
        stats_free(&lat);
        free(l);
        free(t);
        recsys_engine_free(e);
    }
    bench_row row = { .bench = "llmlock", .unit = "ev/s", .ratio = -1 };
    snprintf(row.variant, sizeof row.variant, "feedback/%ldms, %ld req, LLM %ld ms", every, nreq,
             ms);
    snprintf(row.count, sizeof row.count, "%ld x%d", nfb, runs);
    row.s = stats_median_of(fb, (size_t)runs);
    bench_add_row(&row);
    bench_row rrow = { .bench = "llmlock", .unit = "req/s", .ratio = -1 };
    snprintf(rrow.variant, sizeof rrow.variant, "recommend (%ld threads)", nreq);
    snprintf(rrow.count, sizeof rrow.count, "x%d", runs);
    rrow.s = stats_median_of(rq, (size_t)runs);
    bench_add_row(&rrow);
    json_object_set_new(ctx->out, "llmlock",
                        json_pack("{s:I,s:I,s:I,s:I,s:o,s:o}", "llm_ms", (json_int_t)ms,
                                  "requesters", (json_int_t)nreq, "feedback",
                                  (json_int_t)nfb, "every_ms", (json_int_t)every, "feedback_us",
                                  bench_summary_json(&row.s, "ev_per_s"), "recommend",
                                  bench_summary_json(&rrow.s, "req_per_s")));
    return 0;
}
