/*
 * gbdt.c - `recsys-bench gbdt [--rows N] [--trees T] [--depth D] [--features F]
 *           [--calls Q] [--train-rows N] [--missing PCT] [--repeat R] [--json]`
 *
 * The native evaluator of the learning-to-rank trees (lib/rank/gbdt.h) against XGBoost's own
 * prediction of the same model, in the same run, one thread each.
 *
 * Setup (not timed, but reported): a synthetic ranking set of --train-rows rows (default
 * 10000) in query groups of 25, F features (default 40) uniform in [0, 1) with PCT percent
 * (default 5) missing (NaN), and graded labels 0..4 from a fixed function of the first
 * features plus noise; LambdaMART (rank:ndcg) with T trees (default 100) of depth D (default
 * 6), min_child_weight 0 so that the trees are as full as the data allows, trained through
 * recsys__gbdt_train on one thread (XGBoost's LambdaMART gives another model for another
 * thread count; one thread gives the same model, and so comparable figures, everywhere); the model's JSON loaded by recsys__gbdt_load (the
 * native evaluator) and by XGBoost itself (XGBoosterLoadModelFromBuffer, nthread 1). Then N
 * held-out rows (default 1000) drawn the same way.
 *
 * Check: before and after timing, both score all N rows and must agree to 1e-5 (absolute);
 * otherwise the command fails (exit 1) naming the first row that differs.
 *
 * Each of R runs (default 5) times Q calls (default 200) of each variant on the N rows, the
 * variants alternating which goes first:
 *   native   recsys__gbdt_predict (N rows in one call, on the calling thread);
 *   xgboost  XGBoosterPredictFromDense, inplace, type 0, nthread 1 (what a host would call),
 *            result copied out (recsys__gbdt_xgb_predict).
 * Both are warmed up first.
 *
 * JSON, key "gbdt": {"rows", "trees", "depth", "features", "calls" (per run and variant),
 *   "runs", "train_rows", "missing" (a fraction), "train_s", "load_ms" (recsys__gbdt_load
 *   of the model text), "model_bytes", "nodes" (reachable, all trees), "max_depth" (the
 *   trained trees' deepest leaf), "max_abs_diff" (native against XGBoost, all rows),
 *   "native": {"p50_us", "p95_us", "p99_us", "rows_per_s"}, "xgboost": {same},
 *   "ratio_p50" (native p50 / xgboost p50), "ratio_p99" (the same at p99),
 *   "speedup_p50" (xgboost p50 / native p50)}
 * Latencies are per call of N rows; every figure is the median over the runs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "rank/gbdt.h"

typedef struct gbdt_opts {
    long rows, trees, depth, features, calls, train_rows;
    double missing;
} gbdt_opts;

#define GROUP_SIZE 25
#define AGREE 1e-5

static double unit(uint64_t *s)
{
    return (double)(bench_rand(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* n rows of f features, uniform in [0, 1), each missing with probability p. */
static float *rows_new(long n, long f, double p, uint64_t seed)
{
    float *x = malloc((size_t)n * (size_t)f * sizeof *x);
    if (!x) {
        fprintf(stderr, "recsys-bench: gbdt: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < (size_t)n * (size_t)f; i++)
        x[i] = unit(&seed) < p ? NAN : (float)unit(&seed);
    return x;
}

/* A grade 0..4 from the first features (missing counts as 0.5) and noise. */
static float grade(const float *row, long f, uint64_t *s)
{
    double v[4];
    for (int k = 0; k < 4; k++)
        v[k] = k < f && !isnan(row[k]) ? row[k] : 0.5;
    double score = 2.0 * v[0] + v[1] - 1.5 * v[2] * v[3] + 0.5 * unit(s);
    double g = floor(score * 1.6 + 0.5);
    return (float)(g < 0 ? 0 : g > 4 ? 4 : g);
}

/* The first index where a and b differ by more than AGREE (n if none); *max the largest
 * absolute difference. */
static size_t compare(const float *a, const float *b, size_t n, double *max)
{
    size_t bad = n;
    *max = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= AGREE) && bad == n)
            bad = i;
        if (d > *max || d != d)
            *max = d;
    }
    return bad;
}

static void check_agree(const float *native, const float *xgb, size_t n, const char *when,
                        double *max)
{
    size_t bad = compare(native, xgb, n, max);
    if (bad < n) {
        fprintf(stderr, "recsys-bench: gbdt: %s: native and XGBoost disagree at row %zu: "
                "%.9g vs %.9g (tolerance %g)\n", when, bad, (double)native[bad],
                (double)xgb[bad], AGREE);
        exit(1);
    }
}

/* Times q calls of one variant; returns the wall time in seconds. */
static double run(const recsys__gbdt *g, recsys__gbdt_xgb *h, int xgb, const float *x,
                  size_t n, size_t f, long q, float *out, stats_samples *lat)
{
    uint64_t start = stats_now_ns();
    for (long c = 0; c < q; c++) {
        uint64_t t0 = stats_now_ns();
        if (xgb)
            BENCH_CHECK(recsys__gbdt_xgb_predict(h, RECSYS__GBDT_XGB_INPLACE, x, n, f, out),
                        "xgboost predict");
        else
            BENCH_CHECK(recsys__gbdt_predict(g, x, n, f, out), "native predict");
        if (lat)
            stats_push(lat, (double)(stats_now_ns() - t0) / 1e3);
    }
    return (double)(stats_now_ns() - start) / 1e9;
}

int bench_gbdt(bench_ctx *ctx, int argc, char **argv)
{
    gbdt_opts o = { .rows = 1000, .trees = 100, .depth = 6, .features = 40, .calls = 200,
                    .train_rows = 10000, .missing = 0.05 };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rows"))
            o.rows = bench_long("--rows", bench_arg(argc, argv, &i), 1, 1000000);
        else if (!strcmp(argv[i], "--trees"))
            o.trees = bench_long("--trees", bench_arg(argc, argv, &i), 1, RECSYS__GBDT_MAX_TREES);
        else if (!strcmp(argv[i], "--depth"))
            o.depth = bench_long("--depth", bench_arg(argc, argv, &i), 1, RECSYS__GBDT_MAX_DEPTH);
        else if (!strcmp(argv[i], "--features"))
            o.features = bench_long("--features", bench_arg(argc, argv, &i), 1,
                                    RECSYS__GBDT_MAX_FEATURES);
        else if (!strcmp(argv[i], "--calls"))
            o.calls = bench_long("--calls", bench_arg(argc, argv, &i), 1, 1000000);
        else if (!strcmp(argv[i], "--train-rows"))
            o.train_rows = bench_long("--train-rows", bench_arg(argc, argv, &i), GROUP_SIZE,
                                      10000000);
        else if (!strcmp(argv[i], "--missing"))
            o.missing = (double)bench_long("--missing", bench_arg(argc, argv, &i), 0, 100) / 100;
        else
            bench_usage("gbdt: unknown option '%s'", argv[i]);
    }
    int runs = ctx->repeat ? ctx->repeat : 5;
    size_t n = (size_t)o.rows, f = (size_t)o.features;

    /* the training set: groups of GROUP_SIZE (the last may be smaller) */
    bench_progress(ctx, "gbdt: generating %ld training rows", o.train_rows);
    size_t tn = (size_t)o.train_rows, ngroups = (tn + GROUP_SIZE - 1) / GROUP_SIZE;
    float *tx = rows_new(o.train_rows, o.features, o.missing, BENCH_SEED);
    float *ty = malloc(tn * sizeof *ty);
    uint32_t *groups = malloc(ngroups * sizeof *groups);
    if (!ty || !groups) {
        fprintf(stderr, "recsys-bench: gbdt: out of memory\n");
        exit(1);
    }
    uint64_t noise = BENCH_SEED + 1;
    for (size_t i = 0; i < tn; i++)
        ty[i] = grade(tx + i * f, o.features, &noise);
    for (size_t g = 0; g < ngroups; g++)
        groups[g] = (uint32_t)(g + 1 < ngroups ? GROUP_SIZE : tn - g * GROUP_SIZE);

    recsys__gbdt_params p;
    recsys__gbdt_params_init(&p);
    p.trees = (int)o.trees;
    p.max_depth = (int)o.depth;
    p.min_child_weight = 0;
    p.threads = 1; /* the same model on every machine (LambdaMART depends on the count) */
    p.seed = BENCH_SEED;
    const recsys__mem *m = &recsys__mem_default;
    char *json = NULL;
    size_t json_len = 0;
    bench_progress(ctx, "gbdt: training %ld trees of depth %ld", o.trees, o.depth);
    uint64_t t0 = stats_now_ns();
    BENCH_CHECK(recsys__gbdt_train(m, tx, tn, f, ty, groups, ngroups, &p, &json, &json_len),
                "training");
    double train_s = (double)(stats_now_ns() - t0) / 1e9;
    recsys__gbdt *model = NULL;
    recsys__gbdt_xgb *xgb = NULL;
    t0 = stats_now_ns();
    BENCH_CHECK(recsys__gbdt_load(m, json, json_len, &model), "loading the model");
    double load_ms = (double)(stats_now_ns() - t0) / 1e6;
    BENCH_CHECK(recsys__gbdt_xgb_load(m, json, json_len, 1, &xgb), "loading the model into "
                "XGBoost");
    recsys__gbdt_info info;
    recsys__gbdt_info_get(model, &info);

    float *x = rows_new(o.rows, o.features, o.missing, BENCH_SEED + 2);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    if (!a || !b) {
        fprintf(stderr, "recsys-bench: gbdt: out of memory\n");
        exit(1);
    }
    double max_diff = 0, max_after = 0;
    run(model, xgb, 0, x, n, f, 20, a, NULL); /* warm-up: caches, XGBoost's first call */
    run(model, xgb, 1, x, n, f, 20, b, NULL);
    check_agree(a, b, n, "before timing", &max_diff);
    bench_progress_clear(ctx);
    printf("gbdt: %zu training rows in %zu groups, %ld features (%.0f%% missing), %ld trees of "
           "depth %ld trained in %.2f s on one thread: %zu nodes, deepest leaf %zu, %zu bytes "
           "of JSON read in %.1f ms; %d runs x %ld calls of %ld rows per variant, one thread "
           "each\n", tn, ngroups, o.features, o.missing * 100, o.trees, o.depth, train_s,
           info.nnodes, info.max_depth, json_len, load_ms, runs, o.calls, o.rows);

    stats_summary per_run[2][STATS_MAX_RUNS];
    for (int r = 0; r < runs; r++) {
        for (int k = 0; k < 2; k++) {
            int v = (r + k) % 2; /* 0 = native, 1 = xgboost; alternate which goes first */
            stats_samples lat = { 0 };
            bench_progress(ctx, "gbdt: run %d/%d, %s", r + 1, runs, v ? "xgboost" : "native");
            double secs = run(model, xgb, v, x, n, f, o.calls, v ? b : a, &lat);
            per_run[v][r] = stats_summarise(&lat, (double)o.calls * (double)n, secs);
            stats_free(&lat);
        }
    }
    bench_progress_clear(ctx);
    check_agree(a, b, n, "after timing", &max_after);
    if (max_after > max_diff)
        max_diff = max_after;
    stats_summary nat = stats_median_of(per_run[0], (size_t)runs);
    stats_summary ref = stats_median_of(per_run[1], (size_t)runs);
    double ratio_p50 = ref.p50 > 0 ? nat.p50 / ref.p50 : 0;
    double ratio_p99 = ref.p99 > 0 ? nat.p99 / ref.p99 : 0;

    bench_row row = { .bench = "gbdt", .unit = "rows/s", .s = nat, .ratio = ratio_p50 };
    snprintf(row.count, sizeof row.count, "%ld x%d", o.calls, runs);
    snprintf(row.variant, sizeof row.variant, "native: %ld rows, %ld trees d%ld", o.rows,
             o.trees, o.depth);
    bench_add_row(&row);
    snprintf(row.variant, sizeof row.variant, "baseline: xgboost inplace, nthread 1");
    row.s = ref;
    row.ratio = 1;
    bench_add_row(&row);
    printf("gbdt: native p50 %.1f us, p99 %.1f us; xgboost p50 %.1f us, p99 %.1f us; "
           "native/xgboost %.2fx at p50, %.2fx at p99; max |difference| %.3g\n",
           nat.p50, nat.p99, ref.p50, ref.p99, ratio_p50, ratio_p99, max_diff);

    json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:i,s:I,s:f,s:f,s:f,s:I,s:I,s:I,s:f}", "rows",
                          (json_int_t)o.rows, "trees", (json_int_t)o.trees, "depth",
                          (json_int_t)o.depth, "features", (json_int_t)o.features, "calls",
                          (json_int_t)o.calls, "runs", runs, "train_rows",
                          (json_int_t)o.train_rows, "missing", o.missing, "train_s", train_s,
                          "load_ms", load_ms, "model_bytes", (json_int_t)json_len, "nodes",
                          (json_int_t)info.nnodes, "max_depth", (json_int_t)info.max_depth,
                          "max_abs_diff", max_diff);
    json_object_set_new(j, "native", bench_summary_json(&nat, "rows_per_s"));
    json_object_set_new(j, "xgboost", bench_summary_json(&ref, "rows_per_s"));
    json_object_set_new(j, "ratio_p50", json_real(ratio_p50));
    json_object_set_new(j, "ratio_p99", json_real(ratio_p99));
    json_object_set_new(j, "speedup_p50", json_real(nat.p50 > 0 ? ref.p50 / nat.p50 : 0));
    json_object_set_new(ctx->out, "gbdt", j);

    recsys__gbdt_xgb_free(m, xgb);
    recsys__gbdt_free(m, model);
    recsys__free(m, json);
    free(a);
    free(b);
    free(x);
    free(tx);
    free(ty);
    free(groups);
    return 0;
}
