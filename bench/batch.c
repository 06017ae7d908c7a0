/*
 * batch.c - `recsys-bench batch --data DIR [--dataset ml-100k|ml-latest-small]
 *            [--pipeline SRC[,SRC...]] [--threads T] [--users N]`.
 *
 * What a host pays to recommend for a whole population in one call: every user of the data
 * set (943 for ml-100k) through recsys_recommend_batch. The Python bindings' twin,
 * bindings/python/bench_batch.py, does exactly the same work through ctypes and runs this
 * command in the same run, so the two figures compare the bindings' overhead, nothing else.
 *
 * Setup (not timed): the data set read with the public evaluation API
 * (recsys_eval_dataset_open), an engine over the memory store with seed BENCH_SEED, the
 * protocol's options for the train part (recsys_eval_dataset_configure: top 20, no
 * explanations, no impressions, full candidate sets), the catalog and the train part fed
 * (recsys_eval_dataset_feed), only the pipeline's sources enabled (default "ials") and the
 * "blend" ranker off, one recsys_refresh.
 *
 * Each of R runs (--repeat, default 5) times, for the users in id order: one request per
 * user (recsys_request_new + recsys_request_set_user), one recsys_recommend_batch call on T
 * threads (--threads, default 0 = one per processor), the ids and scores of every result
 * read (recsys_result_items), every result and request freed. The median is reported.
 *
 * JSON, key "batch": {"dataset", "pipeline", "users", "threads", "runs", "items_returned"
 *   (per run), "median_s", "min_s", "users_per_s" (median), "refresh_s", "setup_s"}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_SRC 8

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int bench_batch(bench_ctx *ctx, int argc, char **argv)
{
    const char *data = NULL, *dataset = "ml-100k", *pipeline = "ials";
    long threads = 0, max_users = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data"))
            data = bench_arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--dataset"))
            dataset = bench_arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--pipeline"))
            pipeline = bench_arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--threads"))
            threads = bench_long("--threads", bench_arg(argc, argv, &i), 0, 64);
        else if (!strcmp(argv[i], "--users"))
            max_users = bench_long("--users", bench_arg(argc, argv, &i), 1, 10000000);
        else
            bench_usage("batch: unknown option '%s'", argv[i]);
    }
    if (!data)
        bench_usage("batch: --data DIR is required");
    if (strcmp(dataset, "ml-100k") && strcmp(dataset, "ml-latest-small"))
        bench_usage("batch: --dataset must be ml-100k or ml-latest-small");
    int runs = ctx->repeat ? ctx->repeat : 5;

    uint64_t t0 = stats_now_ns();
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", data, dataset);
    recsys_eval_dataset *ds = NULL;
    BENCH_CHECK(recsys_eval_dataset_open(path, dataset, RECSYS_EVAL_VARIANT_ALL, NULL, NULL, &ds),
                "reading the data set");
    recsys_engine *e = NULL;
    RECSYS_INIT(recsys_engine_opts, opts, .seed = BENCH_SEED);
    BENCH_CHECK(recsys_engine_new(&opts, &e), "creating the engine");
    BENCH_CHECK(recsys_eval_dataset_configure(ds, e, RECSYS_EVAL_TRAIN), "protocol options");
    BENCH_CHECK(recsys_eval_dataset_feed(ds, e, RECSYS_EVAL_TRAIN, RECSYS_EVAL_FEED_ITEMS),
                "loading the train part");
    static const char *const all[] = { "content", "popular", "trending", "itemknn",
                                       "rp3beta", "ease",    "ials",     "session",
                                       "vector",  "search",  "campaign" };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        recsys_status st = recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, all[i], 0);
        if (st != RECSYS_OK && st != RECSYS_E_NOT_FOUND)
            bench_fail("disabling a source");
    }
    char srcs[256];
    snprintf(srcs, sizeof srcs, "%s", pipeline);
    int nsrc = 0;
    for (char *save = NULL, *s = strtok_r(srcs, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        if (++nsrc > MAX_SRC)
            bench_usage("batch: at most %d sources", MAX_SRC);
        char what[300];
        snprintf(what, sizeof what, "enabling source '%s'", s);
        BENCH_CHECK(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, s, 1), what);
    }
    BENCH_CHECK(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_RANKER, "blend", 0), "ranker off");
    uint64_t tr = stats_now_ns();
    BENCH_CHECK(recsys_refresh(e), "recsys_refresh");
    double refresh_s = (double)(stats_now_ns() - tr) / 1e9;
    double setup_s = (double)(stats_now_ns() - t0) / 1e9;

    size_t n = recsys_eval_dataset_user_count(ds, RECSYS_EVAL_ALL);
    if (max_users && (size_t)max_users < n)
        n = (size_t)max_users;
    recsys_request **reqs = calloc(n, sizeof *reqs);
    recsys_result **res = calloc(n, sizeof *res);
    const char **ids = calloc(1000, sizeof *ids);
    double *scores = calloc(1000, sizeof *scores), secs[STATS_MAX_RUNS];
    if (!reqs || !res || !ids || !scores) {
        fprintf(stderr, "recsys-bench batch: out of memory\n");
        exit(1);
    }
    size_t returned = 0;
    for (int r = -1; r < runs; r++) { /* run -1 warms up */
        bench_progress(ctx, "batch: run %d/%d", r + 1, runs);
        uint64_t t = stats_now_ns();
        size_t got = 0;
        for (size_t u = 0; u < n; u++) {
            BENCH_CHECK(recsys_request_new(&reqs[u]), "recsys_request_new");
            BENCH_CHECK(recsys_request_set_user(reqs[u],
                                                recsys_eval_dataset_user_id(ds, RECSYS_EVAL_ALL, u)),
                        "recsys_request_set_user");
        }
        BENCH_CHECK(recsys_recommend_batch(e, (const recsys_request *const *)reqs, n,
                                           (size_t)threads, res, NULL),
                    "recsys_recommend_batch");
        for (size_t u = 0; u < n; u++) {
            got += recsys_result_items(res[u], ids, scores, 1000);
            recsys_result_free(res[u]);
            recsys_request_free(reqs[u]);
        }
        double s = (double)(stats_now_ns() - t) / 1e9;
        if (r >= 0)
            secs[r] = s;
        returned = got;
    }
    bench_progress_clear(ctx);
    qsort(secs, (size_t)runs, sizeof secs[0], cmp_double);
    double median = runs % 2 ? secs[runs / 2] : (secs[runs / 2 - 1] + secs[runs / 2]) / 2;
    printf("batch: %s, pipeline %s: %zu users in one recsys_recommend_batch call, threads %ld "
           "(0 = one per processor), %zu items returned per run\n", dataset, pipeline, n,
           threads, returned);
    printf("  median %.4f s (min %.4f s) over %d runs: %.0f users/s; setup %.2f s (refresh "
           "%.2f s)\n", median, secs[0], runs, (double)n / median, setup_s, refresh_s);

    json_t *o = json_object();
    json_object_set_new(o, "dataset", json_string(dataset));
    json_object_set_new(o, "pipeline", json_string(pipeline));
    json_object_set_new(o, "users", json_integer((json_int_t)n));
    json_object_set_new(o, "threads", json_integer(threads));
    json_object_set_new(o, "runs", json_integer(runs));
    json_object_set_new(o, "items_returned", json_integer((json_int_t)returned));
    json_object_set_new(o, "median_s", json_real(median));
    json_object_set_new(o, "min_s", json_real(secs[0]));
    json_object_set_new(o, "users_per_s", json_real((double)n / median));
    json_object_set_new(o, "refresh_s", json_real(refresh_s));
    json_object_set_new(o, "setup_s", json_real(setup_s));
    json_object_set_new(ctx->out, "batch", o);

    free(reqs);
    free(res);
    free(ids);
    free(scores);
    recsys_engine_free(e);
    recsys_eval_dataset_free(ds);
    return 0;
}
