/*
 * online.c - `recsys-bench online --data DIR --dataset ml-100k|ml-latest-small --arms A,B
 *             [--top K] [--json]`
 *
 * A SIMULATION of online traffic, replayed from the test part of the offline protocol
 * (../shared/data/EVAL_PROTOCOL.md: the positive interactions of the data set, the per-user
 * temporal split; bench/dataset.c reads and splits them, as for `eval`). Nothing here is a
 * measurement of real users: each test user makes one request, sees the top K (default 10)
 * of the pipeline their arm serves, and "clicks" every shown item that is among their test
 * interactions. The library's own public API does the rest:
 *
 *   - one engine per pipeline (A, B: popular, itemknn, rp3beta, ease, ials, content or
 *     hybrid, the sources of `eval`'s pipelines with their option defaults, no tuning;
 *     NAME+llm adds LLM re-ranking of the top K (llm.rerank_n) through a stand-in LLM that
 *     answers with the list as shown, so the order, hence the clicks, hardly move and the
 *     arm shows what the LLM costs: its tokens are the library's estimate, prompt bytes / 4;
 *     the reply cache off, as the items carry no text and every prompt would be the same),
 *     over the memory store, holding the catalog ids and the training interactions as
 *     RECSYS_EVENT_VIEW events in time order, refreshed; loaded as `eval` loads them, with
 *     the protocol's options (recsys_eval_dataset_configure and _feed: filter.seen on, the
 *     full catalog as candidates, impressions off, explanations off; the requests ask for
 *     the top K): two engine configurations
 *     behind one experiment, as a host with two pipelines would run them;
 *   - a log engine (memory store, the catalog ids) on which the experiment is defined
 *     (recsys_experiment_set) and which assigns each user (recsys_experiment_assign, 50/50);
 *     the impressions of every answer (request id, position, and the request's LLM calls and
 *     tokens from recsys_result_llm_stats) and the clicks (answering the request id) are
 *     recorded on it with recsys_feedback_batch, and
 *     recsys_experiment_report_json gives the report (bootstrap over users, 1000 replicates,
 *     95 %, a fixed seed; the sample-ratio check);
 *   - an A/B test "ab" (A control, B treatment), an A/A test "aa" (A in both arms, another
 *     salt), and a team-draft interleaving test of A against B on the same users (both
 *     lists for every user, recsys_interleave with a seed from the user id; a session goes
 *     to the ranker whose items got more clicks; recsys_interleave_test, the two-sided sign
 *     test over the sessions).
 *
 * Output: both reports as tables (every metric per arm, the difference to the control, its
 * interval, significance) and the interleaving line. JSON (the last line with --json): the
 * common keys of main.c plus
 *   "ab": {"control": A, "treatment": B, "metric": "ctr", "control_value", "treatment_value",
 *          "diff", "ci_low", "ci_high", "srm_p"}, "aa": {the same keys, A and A},
 *   "interleaving": {"winner": A|B|null (no session won), "p"}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "eval/eval.h"

typedef struct sim {
    bench_ctx *ctx;
    bench_dataset ds; /* the data set, its split and engine ids (bench/dataset.c) */
    int top;
} sim;

static _Noreturn void oom(void)
{
    fprintf(stderr, "recsys-bench online: out of memory\n");
    exit(1);
}

/* An arm's pipeline: name is "hybrid", or "hybrid+llm" (*llm set); its sources go to src
 * (BENCH_PIPELINE_MAX), their count returned (0: not a pipeline). */
static size_t arm_sources(const char *name, const char **src, bool *llm)
{
    size_t len = strlen(name);
    *llm = len > 4 && !strcmp(name + len - 4, "+llm");
    return bench_pipeline_sources(name, *llm ? len - 4 : len, src);
}

/* The stand-in LLM of NAME+llm: every re-ranking call is answered with the first handle
 * (the library appends the rest in the order shown), no usage reported (the library
 * estimates the tokens). */
static recsys_status echo_complete(void *ctx, const recsys_llm_call *call,
                                   recsys_llm_reply *reply)
{
    (void)ctx;
    (void)call;
    return recsys_llm_reply_set_text(reply, "[1]", 3);
}

/* The log engine: the catalog ids at clock now, nothing recorded yet. */
static recsys_engine *new_engine(const sim *s, int64_t now)
{
    recsys_engine *e = NULL;
    RECSYS_INIT(recsys_engine_opts, opts, .seed = BENCH_SEED);
    BENCH_CHECK(recsys_engine_new(&opts, &e), "creating an engine");
    BENCH_CHECK(recsys_engine_set_int(e, RECSYS_OPT_NOW, now), "engine.now");
    BENCH_CHECK(recsys_engine_set_int(e, RECSYS_OPT_LOG_IMPRESSIONS, 0), "log_impressions");
    BENCH_CHECK(recsys_engine_set_int(e, RECSYS_OPT_EXPLAIN, 0), "explain");
    for (size_t i = 0; i < s->ds.d.items.n; i++) {
        recsys_item_spec *spec = NULL;
        BENCH_CHECK(recsys_item_spec_new(s->ds.item_key[i], &spec), "item spec");
        BENCH_CHECK(recsys_catalog_upsert(e, spec), "loading an item");
        recsys_item_spec_free(spec);
    }
    return e;
}

/* The engine serving arm name (its sources src[0..nsrc)): the protocol's options for train (as `eval`; requests name
 * their own top K), the pipeline's sources, the blend ranker off, the catalog ids and the
 * training views in time order (bench/dataset.c), refreshed; with llm the stand-in LLM
 * re-ranks the top K. */
static recsys_engine *pipeline_engine(const sim *s, const char *name, const char *const *src,
                                      size_t nsrc, bool llm)
{
    recsys_engine *e = bench_dataset_engine(&s->ds, RECSYS_EVAL_TRAIN);
    if (llm) {
        RECSYS_INIT(recsys_llm_vtable, vt, .complete = echo_complete);
        BENCH_CHECK(recsys_engine_set_llm(e, "echo", &vt), "recsys_engine_set_llm");
        BENCH_CHECK(recsys_engine_set_int(e, RECSYS_OPT_LLM_RERANK_N, s->top), "llm.rerank_n");
        /* the items have no text here, so every prompt would be the same and all but the
         * first answered from the reply cache: off, so that each request pays */
        BENCH_CHECK(recsys_engine_set_int(e, RECSYS_OPT_LLM_CACHE_BYTES, 0), "llm.cache_bytes");
    }
    bench_sources_enable(e, src, nsrc, name);
    BENCH_CHECK(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_RANKER, "blend", 0), "ranker off");
    bench_dataset_feed(s->ctx, &s->ds, e, RECSYS_EVAL_TRAIN, RECSYS_EVAL_FEED_ITEMS, name);
    bench_progress(s->ctx, "%s: training", name);
    BENCH_CHECK(recsys_refresh(e), "recsys_refresh");
    bench_progress_clear(s->ctx);
    return e;
}

/* The top list engine e shows user u: dense item indices in list[0..*n), at most top; the
 * request's LLM calls and tokens in *calls, *tokens when not NULL. */
static void show(const sim *s, recsys_engine *e, uint32_t u, const char *req_id, uint32_t *list,
                 size_t *n, uint32_t *calls, uint32_t *tokens)
{
    recsys_request *req = NULL;
    recsys_result *res = NULL;
    BENCH_CHECK(recsys_request_new(&req), "request");
    BENCH_CHECK(recsys_request_set_user(req, s->ds.user_key[u]), "request user");
    if (req_id)
        BENCH_CHECK(recsys_request_set_id(req, req_id), "request id");
    BENCH_CHECK(recsys_request_set_int(req, RECSYS_OPT_TOP_N, s->top), "request top_n");
    BENCH_CHECK(recsys_recommend(e, req, &res), "recsys_recommend");
    *n = 0;
    for (size_t i = 0; i < recsys_result_count(res) && *n < (size_t)s->top; i++) {
        uint32_t item = bench_dataset_item(&s->ds, recsys_result_item_id(res, i));
        if (item != UINT32_MAX)
            list[(*n)++] = item;
    }
    if (calls) {
        RECSYS_INIT(recsys_llm_stats, ls, .calls = 0);
        BENCH_CHECK(recsys_result_llm_stats(res, &ls), "recsys_result_llm_stats");
        *calls = (uint32_t)ls.calls;
        *tokens = (uint32_t)(ls.prompt_tokens + ls.completion_tokens);
    }
    recsys_result_free(res);
    recsys_request_free(req);
}

/* Whether item is among u's test interactions. */
static bool relevant(const sim *s, uint32_t u, uint32_t item)
{
    for (size_t i = s->ds.test.off[u]; i < s->ds.test.off[u + 1]; i++)
        if (s->ds.test.ev[i].item == item)
            return true;
    return false;
}

/* One A/B (or A/A) experiment replayed; returns the report as JSON (jansson). */
static json_t *run_experiment(sim *s, const char *exp, const char *salt, recsys_engine *arm[2],
                              const char *names[2])
{
    int64_t t = BENCH_NOW - 3600;
    recsys_engine *log = new_engine(s, BENCH_NOW);
    char def[512];
    snprintf(def, sizeof def,
             "{\"name\":\"%s\",\"salt\":\"%s\",\"arms\":[{\"name\":\"%s\",\"percent\":50},"
             "{\"name\":\"%s\",\"percent\":50}]}", exp, salt, names[0], names[1]);
    BENCH_CHECK(recsys_experiment_set(log, def, strlen(def)), "recsys_experiment_set");
    uint32_t *list = malloc((size_t)s->top * sizeof *list);
    recsys_event *ev = calloc((size_t)s->top, sizeof *ev);
    if (!list || !ev)
        oom();
    size_t done = 0, users = recsys__eval_part_users(&s->ds.test);
    for (uint32_t u = 0; u < s->ds.test.nusers; u++) {
        if (s->ds.test.off[u] == s->ds.test.off[u + 1])
            continue;
        char a[64], req[64];
        BENCH_CHECK(recsys_experiment_assign(log, exp, s->ds.user_key[u], a, sizeof a, NULL),
                    "recsys_experiment_assign");
        int which = !strcmp(a, names[1]);
        snprintf(req, sizeof req, "%s-%s", exp, s->ds.user_key[u]);
        size_t n = 0;
        uint32_t calls = 0, tokens = 0;
        show(s, arm[which], u, req, list, &n, &calls, &tokens);
        for (size_t i = 0; i < n; i++) {
            recsys_event_init(&ev[i]);
            ev[i].type = RECSYS_EVENT_IMPRESSION;
            ev[i].user_id = s->ds.user_key[u];
            ev[i].item_id = s->ds.item_key[list[i]];
            ev[i].request_id = req;
            ev[i].position = (int32_t)i;
            ev[i].timestamp = t;
            ev[i].llm_calls = calls;
            ev[i].llm_tokens = tokens;
        }
        if (n)
            BENCH_CHECK(recsys_feedback_batch(log, ev, n), "logging impressions");
        size_t nc = 0;
        for (size_t i = 0; i < n; i++) {
            if (!relevant(s, u, list[i]))
                continue;
            recsys_event_init(&ev[nc]);
            ev[nc].type = RECSYS_EVENT_CLICK;
            ev[nc].user_id = s->ds.user_key[u];
            ev[nc].item_id = s->ds.item_key[list[i]];
            ev[nc].request_id = req;
            ev[nc].position = (int32_t)i;
            ev[nc].timestamp = t + 10;
            nc++;
        }
        if (nc)
            BENCH_CHECK(recsys_feedback_batch(log, ev, nc), "logging clicks");
        if (++done % 64 == 0)
            bench_progress(s->ctx, "%s: user %zu/%zu", exp, done, users);
    }
    bench_progress_clear(s->ctx);
    char *text = NULL;
    BENCH_CHECK(recsys_experiment_report_json(log, exp, &text), "recsys_experiment_report_json");
    json_error_t err;
    json_t *report = json_loads(text, 0, &err);
    if (!report) {
        fprintf(stderr, "recsys-bench online: the report is not JSON: %s\n", err.text);
        exit(1);
    }
    recsys_string_free(text);
    free(list);
    free(ev);
    recsys_engine_free(log);
    return report;
}

static double jnum(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Prints a report as a table; returns the treatment's ctr comparison. */
static const json_t *print_report(const json_t *r, const char *title, const char *names[2])
{
    const json_t *arms = json_object_get(r, "arms"), *srm = json_object_get(r, "srm");
    printf("\n%s (experiment \"%s\"; %s interval, %.0f %%, %.0f bootstrap replicates)\n", title,
           json_string_value(json_object_get(r, "experiment")),
           json_string_value(json_object_get(r, "method")), 100 * jnum(r, "confidence"),
           jnum(r, "bootstrap"));
    size_t i;
    const json_t *a;
    json_array_foreach(arms, i, a) {
        printf("  arm %-10s (%s) users %5.0f (expected %.1f %%, observed %.1f %%), "
               "impressions %.0f, clicks %.0f, coverage %.4f\n",
               json_string_value(json_object_get(a, "name")), names[i < 2 ? i : 1],
               jnum(a, "users"), 100 * jnum(a, "share_expected"), 100 * jnum(a, "share_observed"),
               jnum(a, "impressions"), jnum(a, "clicks"), jnum(a, "coverage"));
    }
    printf("  sample-ratio check: chi2 %.4f, p %.4f -> %s (alpha %g)\n", jnum(srm, "chi2"),
           jnum(srm, "p"), json_is_true(json_object_get(srm, "pass")) ? "pass" : "FAIL",
           jnum(srm, "alpha"));
    printf("  %-22s %11s %11s %11s  %-25s %s\n", "metric", "control", "treatment", "diff",
           "interval", "significant");
    const json_t *ctr = NULL, *c;
    json_array_foreach(json_object_get(r, "comparisons"), i, c) {
        const char *m = json_string_value(json_object_get(c, "metric"));
        if (!strcmp(m, "ctr"))
            ctr = c;
        char ci[64];
        snprintf(ci, sizeof ci, "[%+.5f, %+.5f]", jnum(c, "ci_low"), jnum(c, "ci_high"));
        printf("  %-22s %11.5f %11.5f %+11.5f  %-25s %s\n", m, jnum(c, "control_value"),
               jnum(c, "value"), jnum(c, "diff"), ci,
               json_is_true(json_object_get(c, "significant")) ? "yes" : "no");
    }
    fflush(stdout);
    return ctr;
}

static json_t *real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *summary(const json_t *report, const json_t *ctr, const char *names[2])
{
    if (!ctr) {
        fprintf(stderr, "recsys-bench online: the report has no ctr comparison\n");
        exit(1);
    }
    return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o}", "control", names[0], "treatment",
                     names[1], "metric", "ctr",
                     "control_value", real_or_null(jnum(ctr, "control_value")),
                     "treatment_value", real_or_null(jnum(ctr, "value")),
                     "diff", real_or_null(jnum(ctr, "diff")),
                     "ci_low", real_or_null(jnum(ctr, "ci_low")),
                     "ci_high", real_or_null(jnum(ctr, "ci_high")),
                     "srm_p", real_or_null(jnum(json_object_get(report, "srm"), "p")));
}

/* Team-draft interleaving of engines a and b over every test user, through the public
 * recsys_interleave and recsys_interleave_test. */
static json_t *run_interleaving(sim *s, recsys_engine *a, recsys_engine *b, const char *names[2])
{
    size_t k = (size_t)s->top;
    uint32_t *la = malloc(k * sizeof *la), *lb = malloc(k * sizeof *lb);
    const char **ia = malloc(k * sizeof *ia), **ib = malloc(k * sizeof *ib);
    const char **out = malloc(2 * k * sizeof *out);
    uint8_t *team = malloc(2 * k);
    if (!la || !lb || !ia || !ib || !out || !team)
        oom();
    uint64_t wa = 0, wb = 0, ties = 0, sessions = 0, clicks[2] = { 0, 0 };
    for (uint32_t u = 0; u < s->ds.test.nusers; u++) {
        if (s->ds.test.off[u] == s->ds.test.off[u + 1])
            continue;
        size_t na = 0, nb = 0, n = 0;
        show(s, a, u, NULL, la, &na, NULL, NULL);
        show(s, b, u, NULL, lb, &nb, NULL, NULL);
        for (size_t i = 0; i < na; i++)
            ia[i] = s->ds.item_key[la[i]];
        for (size_t i = 0; i < nb; i++)
            ib[i] = s->ds.item_key[lb[i]];
        uint64_t seed = BENCH_SEED ^ ((uint64_t)u * 0x9e3779b97f4a7c15ULL);
        BENCH_CHECK(recsys_interleave(ia, na, ib, nb, k, seed, out, team, &n),
                    "recsys_interleave");
        size_t credit[2] = { 0, 0 };
        for (size_t i = 0; i < n; i++) {
            uint32_t item = bench_dataset_item(&s->ds, out[i]);
            if (item != UINT32_MAX && relevant(s, u, item))
                credit[team[i]]++;
        }
        clicks[0] += credit[0];
        clicks[1] += credit[1];
        wa += credit[0] > credit[1];
        wb += credit[1] > credit[0];
        ties += credit[0] == credit[1];
        sessions++;
        if (sessions % 64 == 0)
            bench_progress(s->ctx, "interleaving: user %llu", (unsigned long long)sessions);
    }
    bench_progress_clear(s->ctx);
    double p = 1;
    BENCH_CHECK(recsys_interleave_test(wa, wb, &p), "recsys_interleave_test");
    const char *winner = wa > wb ? names[0] : wb > wa ? names[1] : NULL;
    printf("\ninterleaving (team draft, %s vs %s, the same %llu sessions): %s won %llu, %s won "
           "%llu, %llu tied; credited clicks %llu vs %llu; sign test p = %.3g -> %s\n",
           names[0], names[1], (unsigned long long)sessions, names[0], (unsigned long long)wa,
           names[1], (unsigned long long)wb, (unsigned long long)ties,
           (unsigned long long)clicks[0], (unsigned long long)clicks[1], p,
           winner ? (p < 0.05 ? winner : "no significant winner") : "no winner");
    free(la);
    free(lb);
    free(ia);
    free(ib);
    free(out);
    free(team);
    return json_pack("{s:o,s:f}", "winner", winner ? json_string(winner) : json_null(), "p", p);
}

int bench_online(bench_ctx *ctx, int argc, char **argv)
{
    const char *data = NULL, *dataset = NULL, *arms = NULL;
    sim s = { .ctx = ctx, .top = 10 };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data"))
            data = bench_arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--dataset"))
            dataset = bench_arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--arms"))
            arms = bench_arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--top"))
            s.top = (int)bench_long("--top", bench_arg(argc, argv, &i), 1, 100);
        else
            bench_usage("online: unknown option '%s'", argv[i]);
    }
    if (!data || !dataset || !arms)
        bench_usage("online needs --data DIR, --dataset NAME and --arms A,B");
    char a_name[64], b_name[64];
    const char *comma = strchr(arms, ',');
    if (!comma || comma == arms || !comma[1] || (size_t)(comma - arms) >= sizeof a_name ||
        strchr(comma + 1, ',') || strlen(comma + 1) >= sizeof b_name)
        bench_usage("--arms: expected A,B (two pipeline names), got '%s'", arms);
    snprintf(a_name, sizeof a_name, "%.*s", (int)(comma - arms), arms);
    snprintf(b_name, sizeof b_name, "%s", comma + 1);
    bool la, lb;
    const char *sa[BENCH_PIPELINE_MAX], *sb[BENCH_PIPELINE_MAX];
    size_t na = arm_sources(a_name, sa, &la), nb = arm_sources(b_name, sb, &lb);
    if (!na || !nb)
        bench_usage("--arms: '%s' is not a pipeline (popular, itemknn, rp3beta, ease, ials, "
                    "content, hybrid, each optionally +llm)", !na ? a_name : b_name);
    if (strcmp(dataset, "ml-100k") && strcmp(dataset, "ml-latest-small"))
        bench_usage("--dataset: ml-100k or ml-latest-small, not '%s'", dataset);
    bench_dataset_open(&s.ds, "online", data, dataset, RECSYS_EVAL_VARIANT_ALL, NULL, 0);
    printf("SIMULATION: %s test interactions replayed as clicks on the items shown (not real "
           "users); %zu items, train %zu / test %zu interactions, %zu test users, top %d "
           "shown\n", dataset, s.ds.d.items.n, s.ds.train.n, s.ds.test.n,
           recsys__eval_part_users(&s.ds.test), s.top);
    fflush(stdout);
    recsys_engine *ea = pipeline_engine(&s, a_name, sa, na, la);
    recsys_engine *eb = !strcmp(a_name, b_name) ? ea : pipeline_engine(&s, b_name, sb, nb, lb);
    const char *names[2] = { a_name, b_name };

    recsys_engine *ab_arms[2] = { ea, eb };
    const char *ab_names[2] = { "control", "treatment" };
    json_t *ab = run_experiment(&s, "ab", "online-ab", ab_arms, ab_names);
    char title[256];
    snprintf(title, sizeof title, "A/B test: control %s, treatment %s", a_name, b_name);
    json_t *ab_sum = summary(ab, print_report(ab, title, names), names);

    recsys_engine *aa_arms[2] = { ea, ea };
    const char *aa_pipes[2] = { a_name, a_name };
    json_t *aa = run_experiment(&s, "aa", "online-aa", aa_arms, ab_names);
    snprintf(title, sizeof title, "A/A test: %s in both arms", a_name);
    json_t *aa_sum = summary(aa, print_report(aa, title, aa_pipes), aa_pipes);

    json_t *il = run_interleaving(&s, ea, eb, names);
    printf("(a simulation: the clicks are the protocol's test interactions, one session per "
           "test user; see the top of bench/online.c)\n");
    json_object_set_new(ctx->out, "ab", ab_sum);
    json_object_set_new(ctx->out, "aa", aa_sum);
    json_object_set_new(ctx->out, "interleaving", il);
    json_decref(ab);
    json_decref(aa);
    if (eb != ea)
        recsys_engine_free(eb);
    recsys_engine_free(ea);
    bench_dataset_free(&s.ds);
    return 0;
}
