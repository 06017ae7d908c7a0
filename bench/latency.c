/*
 * latency.c - `recsys-bench latency [--users N] [--requests Q] [--top N]`.
 *
 * Setup (not timed, but reported): the catalog in an engine over the memory store, N
 * synthetic users from tools/synth (seed BENCH_SEED, events ending at BENCH_NOW) with their
 * profiles and events, then one recsys_refresh.
 *
 * Each of R runs times Q requests of each variant, for the same users in the same order
 * (drawn with a per-run fixed seed); the variants alternate which goes first:
 *   full      every built-in plug-in enabled, explanations on (the engine's defaults);
 *   baseline  every plug-in disabled with recsys_engine_plugin_enable but the "popular"
 *             source, explanations off: what a host serves without the library's ranking.
 * One request, timed as a whole, is what a host calls: recsys_request_new, set the user,
 * RECSYS_OPT_TOP_N, RECSYS_OPT_LOG_IMPRESSIONS = 0 and RECSYS_OPT_NOW, recsys_recommend,
 * recsys_result_free, recsys_request_free. Both variants are warmed up first.
 *
 * JSON, key "latency": {"users", "requests" (per run and variant), "runs", "top", "items",
 *   "events" (engine counters after setup), "load_s" (users and events loaded through
 *   recsys_user_upsert / recsys_feedback), "refresh_ms",
 *   "full": {"p50_us", "p95_us", "p99_us", "rps", "mean_results"}, "baseline": {same},
 *   "ratio_p50" (full p50 / baseline p50), "ratio_rps" (baseline rps / full rps)}
 * Every figure is the median over the runs.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "synth.h"

typedef struct lat_opts {
    long users, requests, top;
} lat_opts;

/* Every built-in plug-in but the "popular" source (DESIGN.md, lib/engine/plugins.c). */
static const struct {
    int32_t kind;
    const char *name;
} others[] = {
    { RECSYS_PLUGIN_SOURCE, "content" },     { RECSYS_PLUGIN_SOURCE, "trending" },
    { RECSYS_PLUGIN_SOURCE, "itemknn" },     { RECSYS_PLUGIN_SOURCE, "rp3beta" },
    { RECSYS_PLUGIN_SOURCE, "session" },     { RECSYS_PLUGIN_SOURCE, "vector" },
    { RECSYS_PLUGIN_SOURCE, "search" },      { RECSYS_PLUGIN_SOURCE, "campaign" },
    { RECSYS_PLUGIN_FILTER, "exclude" },     { RECSYS_PLUGIN_FILTER, "availability" },
    { RECSYS_PLUGIN_FILTER, "age" },         { RECSYS_PLUGIN_FILTER, "region" },
    { RECSYS_PLUGIN_FILTER, "seen" },        { RECSYS_PLUGIN_FILTER, "negative" },
    { RECSYS_PLUGIN_RANKER, "blend" },
};

static void set_variant(recsys_engine *e, int baseline)
{
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        BENCH_CHECK(recsys_engine_plugin_enable(e, others[i].kind, others[i].name, !baseline),
                    others[i].name);
}

/* Times n requests for users drawn with seed; returns the wall time in seconds. */
static double run(recsys_engine *e, const synth *sy, const lat_opts *o, long n, uint64_t seed,
                  int baseline, stats_samples *lat, double *results)
{
    size_t nusers = synth_user_count(sy);
    uint64_t start = stats_now_ns();
    for (long q = 0; q < n; q++) {
        const char *user = synth_user_id(sy, (size_t)(bench_rand(&seed) % nusers));
        recsys_request *req = NULL;
        recsys_result *res = NULL;
        uint64_t t0 = stats_now_ns();
        BENCH_CHECK(recsys_request_new(&req), "creating a request");
        BENCH_CHECK(recsys_request_set_user(req, user), "setting the user");
        BENCH_CHECK(recsys_request_set_int(req, RECSYS_OPT_TOP_N, o->top), "setting top N");
        BENCH_CHECK(recsys_request_set_int(req, RECSYS_OPT_LOG_IMPRESSIONS, 0), "impressions");
        BENCH_CHECK(recsys_request_set_int(req, RECSYS_OPT_NOW, BENCH_NOW), "setting the clock");
        if (baseline)
            BENCH_CHECK(recsys_request_set_int(req, RECSYS_OPT_EXPLAIN, 0), "explanations");
        BENCH_CHECK(recsys_recommend(e, req, &res), "recommend");
        *results += (double)recsys_result_count(res);
        recsys_result_free(res);
        recsys_request_free(req);
        if (lat)
            stats_push(lat, (double)(stats_now_ns() - t0) / 1e3);
    }
    return (double)(stats_now_ns() - start) / 1e9;
}

int bench_latency(bench_ctx *ctx, int argc, char **argv)
{
    lat_opts o = { 1000, 2000, 10 };
    for (int i = 1; i < argc; i++) /* --items N: the synthetic catalog at scale (scale.c) */
        if (!strcmp(argv[i], "--items") || !strcmp(argv[i], "--dim"))
            return bench_latency_scale(ctx, argc, argv);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--users"))
            o.users = bench_long("--users", bench_arg(argc, argv, &i), 1, 100000);
        else if (!strcmp(argv[i], "--requests"))
            o.requests = bench_long("--requests", bench_arg(argc, argv, &i), 1, 10000000);
        else if (!strcmp(argv[i], "--top"))
            o.top = bench_long("--top", bench_arg(argc, argv, &i), 1, 1000);
        else
            bench_usage("latency: unknown option '%s'", argv[i]);
    }
    int runs = ctx->repeat ? ctx->repeat : 5;

    bench_progress(ctx, "latency: generating %ld synthetic users", o.users);
    recsys_engine *e = bench_engine(ctx, NULL);
    synth *sy = NULL;
    synth_opts so;
    synth_opts_init(&so);
    so.seed = BENCH_SEED;
    so.users = (size_t)o.users;
    so.end = BENCH_NOW;
    BENCH_CHECK(synth_new(ctx->catalog, ctx->catalog_len, &so, &sy), "synthetic users");
    bench_progress(ctx, "latency: loading %zu events", synth_event_count(sy));
    uint64_t t0 = stats_now_ns();
    BENCH_CHECK(synth_load_users(sy, e), "loading users");
    BENCH_CHECK(synth_load_events(sy, e), "loading events");
    uint64_t t1 = stats_now_ns();
    BENCH_CHECK(recsys_refresh(e), "refresh");
    double load_s = (double)(t1 - t0) / 1e9, refresh_ms = (double)(stats_now_ns() - t1) / 1e6;
    uint64_t items = 0, events = 0;
    BENCH_CHECK(recsys_engine_count(e, RECSYS_COUNT_ITEMS, &items), "counting items");
    BENCH_CHECK(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &events), "counting events");
    bench_progress_clear(ctx);
    printf("latency: %llu items, %ld users, %llu events (loaded in %.2f s, %.0f ev/s); "
           "refresh %.1f ms; %d runs x %ld requests per variant, top %ld, one thread\n",
           (unsigned long long)items, o.users, (unsigned long long)events, load_s,
           load_s > 0 ? (double)events / load_s : 0, refresh_ms, runs, o.requests, o.top);

    double results[2] = { 0, 0 }, ignored = 0;
    stats_summary per_run[2][STATS_MAX_RUNS];
    for (int v = 0; v < 2; v++) { /* warm-up: caches, allocator, branch predictors */
        set_variant(e, v);
        run(e, sy, &o, o.requests < 200 ? o.requests : 200, 99, v, NULL, &ignored);
    }
    for (int r = 0; r < runs; r++) {
        for (int k = 0; k < 2; k++) {
            int v = (r + k) % 2; /* 0 = full, 1 = baseline; alternate which goes first */
            stats_samples lat = { 0 };
            bench_progress(ctx, "latency: run %d/%d, %s", r + 1, runs, v ? "baseline" : "full");
            set_variant(e, v);
            double secs = run(e, sy, &o, o.requests, 1000 + (uint64_t)r, v, &lat, &results[v]);
            per_run[v][r] = stats_summarise(&lat, (double)o.requests, secs);
            stats_free(&lat);
        }
    }
    set_variant(e, 0);
    stats_summary full = stats_median_of(per_run[0], (size_t)runs);
    stats_summary base = stats_median_of(per_run[1], (size_t)runs);
    double total = (double)runs * (double)o.requests;

    double ratio_p50 = base.p50 > 0 ? full.p50 / base.p50 : 0;
    bench_row row = { .bench = "latency", .unit = "req/s", .s = full, .ratio = ratio_p50 };
    snprintf(row.count, sizeof row.count, "%ld x%d", o.requests, runs);
    snprintf(row.variant, sizeof row.variant, "full pipeline, top %ld", o.top);
    bench_add_row(&row);
    snprintf(row.variant, sizeof row.variant, "baseline: popular only, no explain");
    row.s = base;
    row.ratio = 1;
    bench_add_row(&row);

    json_t *j = json_pack("{s:I,s:I,s:i,s:I,s:I,s:I,s:f,s:f}", "users", (json_int_t)o.users,
                          "requests", (json_int_t)o.requests, "runs", runs, "top",
                          (json_int_t)o.top, "items", (json_int_t)items, "events",
                          (json_int_t)events, "load_s", load_s, "refresh_ms", refresh_ms);
    json_t *jv[2] = { bench_summary_json(&full, "rps"), bench_summary_json(&base, "rps") };
    for (int v = 0; v < 2; v++)
        json_object_set_new(jv[v], "mean_results", json_real(results[v] / total));
    json_object_set_new(j, "full", jv[0]);
    json_object_set_new(j, "baseline", jv[1]);
    json_object_set_new(j, "ratio_p50", json_real(ratio_p50));
    json_object_set_new(j, "ratio_rps", json_real(full.rate > 0 ? base.rate / full.rate : 0));
    json_object_set_new(ctx->out, "latency", j);
    synth_free(sy);
    recsys_engine_free(e);
    return 0;
}
