/*
 * eval.c - `recsys-bench eval --data DIR --dataset ml-100k|ml-latest-small|csv
 *           [--variant all|ge4] --pipeline BASE[+PART]... [--grid small|none]
 *           [--set NAME=VALUE]... [--items FILE] [--json]`
 *
 * Offline quality under ../shared/data/EVAL_PROTOCOL.md, exactly: the positive interactions
 * of the variant, the per-user temporal split (train/test, and fit/validation inside train),
 * tuning on validation, full ranking, the metrics of section 6. Data, split and metrics come
 * from lib/eval (the internal recsys__eval_* API, linked from the static library; the same
 * code the conformance test checks); the models are the library's own, driven through the
 * public API only (include/recsys.h), and loaded through the public evaluation API as a host
 * would load them (recsys_eval_dataset_open, _configure, _feed; bench/dataset.c, shared with
 * llm and online):
 *
 *   - an engine over the memory store with a fixed seed; every catalog item loaded with an
 *     id that sorts like the protocol's id order (numeric ids zero-padded to one width, e.g.
 *     "0000242"; string ids as the zero-padded rank of their byte order), so the pipeline's
 *     tie-break by item id string is the protocol's; for the content pipeline, and for any
 *     pipeline with a ranker or diversifier part (whose features and item similarities read
 *     them), the title, category "film" and the genres as tags; the other pipelines load ids
 *     only, as before;
 *   - the training interactions as RECSYS_EVENT_VIEW events with their timestamps, in time
 *     order, through recsys_feedback_batch (shifted by a constant when a timestamp is below 1:
 *     0 means "now" to the library; only differences matter to it);
 *   - RECSYS_OPT_NOW = the latest training timestamp + 1, RECSYS_OPT_HISTORY_MAX large enough
 *     to keep every training event, RECSYS_OPT_CANDIDATES_PER_SOURCE = the catalog size (full
 *     ranking; 300 for a two-stage pipeline, below), RECSYS_OPT_TOP_N = 20, filter.seen on
 *     (candidates = catalog minus the user's train items); per request impressions off and
 *     explanations off;
 *   - only the pipeline's sources enabled (recsys_engine_plugin_enable; a name that is not
 *     registered fails the command with recsys_last_error()), the "blend" ranker off, so the
 *     order is the merged source scores' (for one source: the source's own order).
 *
 * Pipelines: popular, itemknn, rp3beta, ease, ials, content (one source each), hybrid
 * (itemknn + rp3beta + ease + ials + popular merged), or a comma-separated list of source
 * names (merged like hybrid); then any of these parts, joined with '+', a ranker before a
 * diversifier, at most one of each (hybrid+ltr, hybrid+linear, hybrid+ltr+mmr, ease+dpp):
 *
 *   - ltr, linear: a learned ranker (the built-in "ltr", LambdaMART, or "linear", FTRL).
 *     The sources are tuned on fit/validation as below; then, on the fit engine with the
 *     chosen values (refreshed), recsys_ranker_train(engine, ranker, outcomes, n) with the
 *     validation interactions as RECSYS_EVENT_VIEW outcomes (it retrieves and filters
 *     candidates per user at the fit clock and labels them; ranker_train_s is its time);
 *     then RECSYS_OPT_NOW is set to the last train timestamp + 1 (as a train engine has it;
 *     before the events, which the library refuses beyond its clock), the validation
 *     interactions are fed to that same engine in time order (recsys_eval_dataset_feed; it then
 *     holds exactly the train part; load_s is the time of this), recsys_refresh (train_s),
 *     and the test requests name the ranker (recsys_request_set_ranker). The ranker never
 *     sees test; validation interactions are its labels, so no validation figure of the
 *     ranker itself is reported.
 *   - blend: the built-in "blend" ranker (no training), named by the requests of the final
 *     run and of the validation of the combination.
 *   - mmr, dpp: RECSYS_OPT_DIVERSIFY_METHOD 1 or 2 on the final engine and for the
 *     validation of the combination, every other diversify option at its default (--set
 *     may change them; diversify.method itself is the part's); not tuned.
 *
 * A pipeline with a ranker part is two-stage: RECSYS_OPT_CANDIDATES_PER_SOURCE = 300 (or the
 * catalog size when smaller) on every engine of the run (tuning, ranker training, validation,
 * test), so the ranker reorders a candidate set smaller than the catalog. Items outside the
 * candidate set are never returned; when a list comes back shorter than 20 they tie at the
 * bottom, as the protocol's padding (below) already orders them.
 *
 * Tuning (section 4): each source has a small grid over its options, a few points each plus
 * the option's default (--grid small, the default; --grid none keeps the defaults). A
 * single-source pipeline trains every grid point on fit (recsys_refresh trains), scores
 * validation and keeps the best NDCG@10 (the first in grid order on a tie). A multi-source
 * pipeline tunes each source alone in the same way, then uses the chosen values together
 * (the "validation of the combination", which also runs for a single source when the
 * pipeline has a diversifier or the blend ranker, with them).
 * --set NAME=VALUE (option names as recsys_option_by_name takes them, e.g.
 * retrieve.ease_lambda=300) fixes an option and takes it out of the grid; the options the
 * protocol fixes (top N, clock, candidates, seen filter, history, explanations, impressions)
 * cannot be set. The chosen setting is trained once more on train (train_s = the time
 * of that recsys_refresh) and evaluated on test (eval_s = the time of that evaluation).
 * Options the library applies while recording events (the popularity, trending and
 * long-term half-lives: decayed counters accumulate with the value in force) are set before
 * the events are loaded, so tuning one loads a fresh engine per grid point.
 *
 * A list the library returns shorter than 20 is completed with the remaining candidates in
 * id order, as the protocol's ranking does when every item the model did not score ties at
 * the bottom (reported as "padded"); an entry the library returns that breaks a rule of the
 * protocol - a train item of the user, a repeat of an earlier entry, an id not in the
 * catalog - is counted ("violations", by kind in the text; must be 0) and then dropped
 * ("dropped", the same count). recsys__eval_final_list (lib/eval) does both.
 *
 * Beyond accuracy (lib/eval/beyond.c, the definitions in eval.h), on the same final lists at
 * 10 and 20, with the popularity and the item vectors from the part the model was trained
 * on (train): ild (intra-list diversity, the mean pairwise 1 - cosine of the items' binary
 * train-user vectors: it needs no metadata and is itemknn's item-item cosine without its
 * shrinkage), novelty (mean -log2(train users of the item / train users)),
 * arp (mean train popularity), calibration_kl (Steck 2018, KL(p || 0.99 q + 0.01 p) over the
 * genres, each item's genres weighted 1/ngenres; null without item metadata, e.g. csv
 * without --items). The item metadata is read for every pipeline for this (a pipeline other
 * than content runs on without it, with a warning, when it cannot be read).
 *
 * Every run also reports the protocol's MostPopular reference (section 7: distinct train
 * users per item, no time decay) on the same split. The library's "popular" source is a
 * time-decayed count, so the popular pipeline and the reference differ.
 *
 * JSON (the last line with --json): the common keys of main.c plus "dataset", "variant",
 * "pipeline", "users" (evaluated test users), "ndcg@10", "recall@10", "precision@10",
 * "hit@10", "map@10", "coverage@10", "ild@10", "novelty@10", "arp@10", "calibration_kl@10"
 * (null without genres), the same at 20, "train_s", "eval_s", and "sources", "items",
 * "train", "test", "fit", "validation", "grid", "chosen" {option: value}, "tuning"
 * [{"params", "ndcg@10", "refresh_s"}], "validation_ndcg@10", "tune_s", "load_s", "padded",
 * "dropped", "violations", "ranker" (null or ltr/linear/blend), "diversifier" (null or
 * mmr/dpp), "ranker_train_s" (null without a learned ranker), "candidates_per_source",
 * "mostpop" {the same metric keys}.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "eval/eval.h"

#define MAX_SOURCES 8
_Static_assert(MAX_SOURCES >= BENCH_PIPELINE_MAX, "a named pipeline fits ev_opts.sources");
#define MAX_DIMS 4
#define MAX_VALUES 8 /* listed points plus the default */
#define MAX_SETS 16
#define TWO_STAGE_CANDIDATES 300 /* candidates per source when a ranker reorders them */
#define MAX_RAW 64               /* entries of a library answer looked at (it is asked for 20) */

/* ------------------------------------------------------------------ grids */

typedef struct dim {
    int32_t key;
    int n;
    double v[MAX_VALUES];
} dim;

typedef struct source_grid {
    const char *source;
    dim dims[MAX_DIMS];
    int ndims;
} source_grid;

/* Small grids, a few points per option; the option's default (from recsys_option_info) is
 * always added, so "small" never does worse on validation than the defaults. Each option's
 * values are tried in ascending order, the last option fastest. iALS keeps the issue's
 * reference shape: 64 factors, 15 iterations. */
static const source_grid grids[] = {
    { "popular", { { RECSYS_OPT_POPULAR_HALF_LIFE_DAYS, 4, { 7, 30, 365, 36500 } } }, 1 },
    { "itemknn",
      { { RECSYS_OPT_ITEMKNN_K, 3, { 50, 100, 200 } },
        { RECSYS_OPT_ITEMKNN_SHRINK, 3, { 0, 10, 50 } } },
      2 },
    { "rp3beta",
      { { RECSYS_OPT_RP3_ALPHA, 2, { 0.4, 0.8 } },
        { RECSYS_OPT_RP3_BETA, 2, { 0.5, 0.9 } },
        { RECSYS_OPT_RP3_K, 2, { 100, 300 } } },
      3 },
    { "ease", { { RECSYS_OPT_EASE_LAMBDA, 5, { 100, 200, 400, 800, 1600 } } }, 1 },
    { "ials",
      { { RECSYS_OPT_IALS_FACTORS, 1, { 64 } },
        { RECSYS_OPT_IALS_ITERATIONS, 1, { 15 } },
        { RECSYS_OPT_IALS_REG, 3, { 1, 10, 50 } },
        { RECSYS_OPT_IALS_ALPHA, 3, { 0.1, 0.5, 1 } } },
      4 },
    { "content",
      { { RECSYS_OPT_BM25_K1, 2, { 1.2, 2.0 } }, { RECSYS_OPT_BM25_B, 2, { 0.5, 0.75 } } },
      2 },
};

/* ------------------------------------------------------------------ the run */

typedef struct opt_set {
    int32_t key;
    double value;
    char name[64];
} opt_set;

typedef struct ev_opts {
    const char *data, *dataset, *items_path, *pipeline, *grid;
    const char *base;        /* the pipeline without its parts */
    const char *ranker;      /* "ltr", "linear", "blend" or NULL */
    const char *diversifier; /* "mmr", "dpp" or NULL */
    int div_method;          /* RECSYS_OPT_DIVERSIFY_METHOD of the diversifier (0 = none) */
    int variant;
    const char *sources[MAX_SOURCES];
    int nsources;
    opt_set sets[MAX_SETS];
    int nsets;
} ev_opts;

typedef struct ev_run {
    bench_ctx *ctx;
    const ev_opts *o;
    bench_dataset ds;     /* the data set, its split and engine ids (bench/dataset.c) */
    bool meta_in_catalog; /* item metadata given to the engine (content, ranker or diversifier) */
    double cands; /* RECSYS_OPT_CANDIDATES_PER_SOURCE of every engine */
    /* per evaluation */
    recsys_engine *e;
    const char *req_ranker;        /* the ranker the requests name, or NULL */
    recsys__eval_beyond *beyond;   /* accumulates the final lists, or NULL */
    recsys__eval_violations viol;  /* entries dropped (reset before the test run) */
    size_t padded;                 /* lists completed in this evaluation */
    const char *phase;
} ev_run;

static const recsys__mem *mem = &recsys__mem_default;

static _Noreturn void eval_fail(const char *what)
{
    fprintf(stderr, "recsys-bench eval: %s: %s: %s\n", what,
            recsys_status_str(recsys_last_status()), recsys_last_error());
    exit(1);
}

static void option_desc(int32_t key, recsys_option_desc *d)
{
    memset(d, 0, sizeof *d);
    d->struct_size = sizeof *d;
    if (recsys_option_info(key, d) != RECSYS_OK)
        eval_fail("reading the option table");
}

/* "itemknn_k" for "retrieve.itemknn_k" */
static const char *short_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

static void set_option(recsys_engine *e, int32_t key, double v)
{
    recsys_option_desc d;
    option_desc(key, &d);
    if (v < d.min_value || v > d.max_value) {
        fprintf(stderr, "recsys-bench eval: %s = %g is outside %g..%g\n", d.name, v, d.min_value,
                d.max_value);
        exit(2);
    }
    recsys_status st = d.type == RECSYS_OPTTYPE_INT ? recsys_engine_set_int(e, key, (int64_t)v)
                                                    : recsys_engine_set_double(e, key, v);
    if (st != RECSYS_OK)
        eval_fail(d.name);
}

static const source_grid *grid_of(const char *source)
{
    for (size_t i = 0; i < sizeof grids / sizeof grids[0]; i++)
        if (!strcmp(grids[i].source, source))
            return &grids[i];
    return NULL;
}

static bool is_set(const ev_opts *o, int32_t key)
{
    for (int i = 0; i < o->nsets; i++)
        if (o->sets[i].key == key)
            return true;
    return false;
}

/* ------------------------------------------------------------------ engines */

/* Option values chosen by tuning (or being tried). */
typedef struct chosen {
    int32_t key[MAX_SOURCES * MAX_DIMS];
    double value[MAX_SOURCES * MAX_DIMS];
    int n;
} chosen;

static void chosen_put(chosen *c, int32_t key, double v)
{
    for (int i = 0; i < c->n; i++)
        if (c->key[i] == key) {
            c->value[i] = v;
            return;
        }
    if (c->n < MAX_SOURCES * MAX_DIMS) {
        c->key[c->n] = key;
        c->value[c->n++] = v;
    }
}

/* Options the library applies while it records events (decayed counters accumulate with the
 * half-life in force at the time): an engine must be loaded again to try another value. */
static bool applies_at_ingest(int32_t key)
{
    return key == RECSYS_OPT_POPULAR_HALF_LIFE_DAYS || key == RECSYS_OPT_TRENDING_HALF_LIFE_H ||
           key == RECSYS_OPT_LONG_HALF_LIFE_DAYS;
}


/* A fresh engine holding the catalog and the events of part (RECSYS_EVAL_FIT or _TRAIN):
 * the protocol's options for part (recsys_eval_dataset_configure), the run's candidates per
 * source, then the options of --set and of pre (may be NULL), the pipeline's sources, the
 * blend ranker off; then the catalog (with its text when meta_in_catalog) and the events
 * (recsys_eval_dataset_feed), as bench_dataset_feed documents. */
static recsys_engine *make_engine(ev_run *r, int32_t part, const chosen *pre)
{
    const ev_opts *o = r->o;
    recsys_option_desc cand;
    option_desc(RECSYS_OPT_CANDIDATES_PER_SOURCE, &cand);
    if ((double)r->ds.d.items.n > cand.max_value && !o->ranker)
        fprintf(stderr, "recsys-bench eval: warning: %zu items but at most %.0f candidates per "
                        "source: the ranking is not full\n", r->ds.d.items.n, cand.max_value);
    recsys_engine *e = bench_dataset_engine(&r->ds, part);
    set_option(e, RECSYS_OPT_CANDIDATES_PER_SOURCE, r->cands); /* 300 when two-stage */
    for (int i = 0; i < o->nsets; i++)
        set_option(e, o->sets[i].key, o->sets[i].value);
    for (int i = 0; pre && i < pre->n; i++)
        set_option(e, pre->key[i], pre->value[i]);
    bench_sources_enable(e, o->sources, (size_t)o->nsources, o->pipeline);
    BENCH_CHECK(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_RANKER, "blend", 0), "ranker off");
    bench_dataset_feed(r->ctx, &r->ds, e, part,
                       r->meta_in_catalog ? RECSYS_EVAL_FEED_METADATA : RECSYS_EVAL_FEED_ITEMS,
                       "loading");
    return e;
}

/* ------------------------------------------------------------------ evaluation */

static recsys_status engine_rank(void *ctx, uint32_t user, const uint8_t *known, uint32_t *list,
                                 size_t *n)
{
    ev_run *r = ctx;
    recsys_request *req = NULL;
    recsys_result *res = NULL;
    recsys_status st = recsys_request_new(&req);
    if (st == RECSYS_OK)
        st = recsys_request_set_user(req, r->ds.user_key[user]);
    if (st == RECSYS_OK)
        st = recsys_request_set_int(req, RECSYS_OPT_TOP_N, RECSYS__EVAL_KMAX);
    if (st == RECSYS_OK)
        st = recsys_request_set_int(req, RECSYS_OPT_LOG_IMPRESSIONS, 0);
    if (st == RECSYS_OK)
        st = recsys_request_set_int(req, RECSYS_OPT_EXPLAIN, 0);
    if (st == RECSYS_OK && r->req_ranker)
        st = recsys_request_set_ranker(req, r->req_ranker);
    if (st == RECSYS_OK)
        st = recsys_recommend(r->e, req, &res);
    /* the answer as dense indices (UINT32_MAX: an id the catalog lacks), then the list the
     * protocol scores: violations counted and dropped, completed with the ties at the bottom */
    uint32_t raw[MAX_RAW];
    size_t nraw = 0;
    *n = 0;
    for (size_t i = 0; st == RECSYS_OK && i < recsys_result_count(res) && nraw < MAX_RAW; i++) {
        const char *id = recsys_result_item_id(res, i);
        raw[nraw++] = bench_dataset_item(&r->ds, id);
    }
    if (st == RECSYS_OK) {
        r->padded += recsys__eval_final_list(raw, nraw, r->ds.d.items.n, known, list, n, &r->viol);
        if (r->beyond)
            st = recsys__eval_beyond_add(r->beyond, user, list, *n);
    }
    char msg[512];
    snprintf(msg, sizeof msg, "%s", st != RECSYS_OK ? recsys_last_error() : "");
    recsys_result_free(res); /* the free functions clear the thread's last error */
    recsys_request_free(req);
    if (st != RECSYS_OK)
        recsys_error_set(st, msg);
    return st;
}

static void eval_progress(void *ctx, size_t done, size_t total)
{
    ev_run *r = ctx;
    if (done % 64 == 0 || done == total)
        bench_progress(r->ctx, "%s: user %zu/%zu", r->phase, done, total);
}

/* Evaluates the engine's current model on truth (known = the part it was trained on); the
 * final lists also go to beyond when it is not NULL. */
static void evaluate(ev_run *r, recsys_engine *e, const recsys__eval_part *known,
                     const recsys__eval_part *truth, recsys__eval_metrics *m,
                     recsys__eval_beyond *beyond)
{
    r->e = e;
    r->padded = 0;
    r->beyond = beyond;
    if (recsys__eval_run(mem, r->ds.d.items.n, known, truth, engine_rank, r, eval_progress, m) !=
        RECSYS_OK)
        eval_fail("evaluating");
    r->beyond = NULL;
    m->padded = r->padded; /* the lists come complete: recsys__eval_final_list padded them */
}

static double refresh(ev_run *r, recsys_engine *e)
{
    bench_progress(r->ctx, "%s: training", r->phase);
    uint64_t t0 = stats_now_ns();
    BENCH_CHECK(recsys_refresh(e), "recsys_refresh (training)");
    return (double)(stats_now_ns() - t0) / 1e9;
}

/* The diversifier part, if any, on e (every other diversify option keeps its value). */
static void set_diversifier(const ev_run *r, recsys_engine *e)
{
    if (r->o->div_method)
        set_option(e, RECSYS_OPT_DIVERSIFY_METHOD, r->o->div_method);
}

/* Trains the learned ranker of the pipeline on engine e (the fit part, refreshed with the
 * chosen setting) from the validation interactions as view outcomes; returns its seconds. */
static double train_ranker(ev_run *r, recsys_engine *e)
{
    const recsys__eval_part *val = &r->ds.val;
    recsys_event *outcomes = calloc(val->n ? val->n : 1, sizeof *outcomes);
    if (!outcomes) {
        fprintf(stderr, "recsys-bench eval: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < val->n; i++) {
        recsys_event_init(&outcomes[i]);
        outcomes[i].type = RECSYS_EVENT_VIEW;
        outcomes[i].user_id = r->ds.user_key[val->ev[i].user];
        outcomes[i].item_id = r->ds.item_key[val->ev[i].item];
        outcomes[i].timestamp = val->ev[i].ts + r->ds.shift;
    }
    char what[128];
    snprintf(what, sizeof what, "recsys_ranker_train(\"%s\") on %zu validation outcomes",
             r->o->ranker, val->n);
    bench_progress(r->ctx, "training the ranker %s on %zu validation outcomes", r->o->ranker,
                   val->n);
    uint64_t t0 = stats_now_ns();
    BENCH_CHECK(recsys_ranker_train(e, r->o->ranker, outcomes, val->n), what);
    double secs = (double)(stats_now_ns() - t0) / 1e9;
    bench_progress_clear(r->ctx);
    free(outcomes);
    return secs;
}

/* ------------------------------------------------------------------ tuning */

static void params_text(const dim *dims, int ndims, const int *at, char *buf, size_t cap)
{
    size_t w = 0;
    buf[0] = '\0';
    for (int k = 0; k < ndims && w < cap; k++) {
        recsys_option_desc d;
        option_desc(dims[k].key, &d);
        w += (size_t)snprintf(buf + w, cap - w, "%s%s=%g", k ? " " : "", short_name(d.name),
                              dims[k].v[at[k]]);
    }
}

/* Tunes one source alone on the fit engine (*fitp) over its grid; the best values go to
 * *best and into the engine. An option that applies at ingest gets a freshly loaded engine
 * per grid point, and *fitp is replaced by one loaded with the best values. */
static void tune_source(ev_run *r, recsys_engine **fitp, const char *source, json_t *tuning,
                        chosen *best)
{
    recsys_engine *fit = *fitp;
    bool ingest = false;
    const source_grid *g = grid_of(source);
    dim dims[MAX_DIMS];
    int ndims = 0;
    for (int k = 0; g && k < g->ndims; k++) {
        if (is_set(r->o, g->dims[k].key))
            continue;
        dim *dm = &dims[ndims++];
        *dm = g->dims[k];
        recsys_option_desc od;
        option_desc(dm->key, &od);
        bool has = false;
        for (int i = 0; i < dm->n; i++)
            has |= dm->v[i] == od.default_value;
        if (!has && (dm->key != RECSYS_OPT_IALS_FACTORS && dm->key != RECSYS_OPT_IALS_ITERATIONS))
            dm->v[dm->n++] = od.default_value;
        for (int i = 1; i < dm->n; i++) /* ascending (insertion sort) */
            for (int j = i; j > 0 && dm->v[j - 1] > dm->v[j]; j--) {
                double t = dm->v[j];
                dm->v[j] = dm->v[j - 1];
                dm->v[j - 1] = t;
            }
        ingest |= applies_at_ingest(dm->key);
    }
    if (ndims == 0) {
        printf("  %-10s no grid (option defaults%s)\n", source, g ? " or --set values" : "");
        return;
    }
    const char *one[1] = { source };
    if (r->o->nsources > 1 && !ingest)
        bench_sources_enable(fit, one, 1, r->o->pipeline);
    int at[MAX_DIMS] = { 0 }, best_at[MAX_DIMS] = { 0 };
    double best_ndcg = -1;
    int points = 1, point = 0;
    for (int k = 0; k < ndims; k++)
        points *= dims[k].n;
    for (;;) {
        char params[256], phase[320];
        params_text(dims, ndims, at, params, sizeof params);
        snprintf(phase, sizeof phase, "tuning %s %d/%d (%s)", source, ++point, points, params);
        r->phase = phase;
        if (ingest) {
            chosen c = *best;
            for (int k = 0; k < ndims; k++)
                chosen_put(&c, dims[k].key, dims[k].v[at[k]]);
            recsys_engine_free(fit);
            fit = make_engine(r, RECSYS_EVAL_FIT, &c);
            if (r->o->nsources > 1)
                bench_sources_enable(fit, one, 1, r->o->pipeline);
        } else {
            for (int k = 0; k < ndims; k++)
                set_option(fit, dims[k].key, dims[k].v[at[k]]);
        }
        double secs = refresh(r, fit);
        recsys__eval_metrics m;
        uint64_t t0 = stats_now_ns();
        evaluate(r, fit, &r->ds.fit, &r->ds.val, &m, NULL);
        double esecs = (double)(stats_now_ns() - t0) / 1e9;
        bench_progress_clear(r->ctx);
        printf("  %-10s %-60s %.6f   refresh %.2f s, eval %.2f s\n", source, params, m.ndcg[0],
               secs, esecs);
        fflush(stdout);
        json_array_append_new(tuning, json_pack("{s:s,s:s,s:f,s:f}", "source", source, "params",
                                                params, "ndcg@10", m.ndcg[0], "refresh_s", secs));
        if (m.ndcg[0] > best_ndcg) {
            best_ndcg = m.ndcg[0];
            memcpy(best_at, at, sizeof at);
        }
        int k = ndims - 1; /* the next point, last dimension fastest */
        while (k >= 0 && ++at[k] == dims[k].n)
            at[k--] = 0;
        if (k < 0)
            break;
    }
    char params[256];
    params_text(dims, ndims, best_at, params, sizeof params);
    printf("  %-10s chosen: %s (validation NDCG@10 %.6f)\n", source, params, best_ndcg);
    for (int k = 0; k < ndims; k++) {
        chosen_put(best, dims[k].key, dims[k].v[best_at[k]]);
        if (!ingest)
            set_option(fit, dims[k].key, dims[k].v[best_at[k]]);
    }
    if (ingest) { /* reload with the chosen values; every pipeline source enabled */
        recsys_engine_free(fit);
        fit = make_engine(r, RECSYS_EVAL_FIT, best);
    } else if (r->o->nsources > 1) {
        bench_sources_enable(fit, r->o->sources, (size_t)r->o->nsources, r->o->pipeline);
    }
    *fitp = fit;
}

/* ------------------------------------------------------------------ output */

static const char *const metric_names[6] = { "ndcg", "recall", "precision", "hit", "map",
                                             "coverage" };

static void metric_values(const recsys__eval_metrics *m, int k, double v[6])
{
    v[0] = m->ndcg[k];
    v[1] = m->recall[k];
    v[2] = m->precision[k];
    v[3] = m->hit[k];
    v[4] = m->map[k];
    v[5] = m->coverage[k];
}

static void metrics_json(json_t *o, const recsys__eval_metrics *m)
{
    for (int k = 0; k < RECSYS__EVAL_NK; k++) {
        double v[6];
        metric_values(m, k, v);
        for (int j = 0; j < 6; j++) {
            char key[32];
            snprintf(key, sizeof key, "%s@%zu", metric_names[j], recsys__eval_k[k]);
            json_object_set_new(o, key, json_real(v[j]));
        }
    }
}

static void print_rows(const char *label, const recsys__eval_metrics *m)
{
    for (int k = 0; k < RECSYS__EVAL_NK; k++) {
        double v[6];
        metric_values(m, k, v);
        printf("  %-34s %3zu  %8.6f %8.6f %9.6f %8.6f %8.6f %8.6f\n", k ? "" : label,
               recsys__eval_k[k], v[0], v[1], v[2], v[3], v[4], v[5]);
    }
}

static void beyond_json(json_t *o, const recsys__eval_beyond_metrics *b)
{
    for (int k = 0; k < RECSYS__EVAL_NK; k++) {
        char key[40];
        size_t K = recsys__eval_k[k];
        snprintf(key, sizeof key, "ild@%zu", K);
        json_object_set_new(o, key, json_real(b->ild[k]));
        snprintf(key, sizeof key, "novelty@%zu", K);
        json_object_set_new(o, key, json_real(b->novelty[k]));
        snprintf(key, sizeof key, "arp@%zu", K);
        json_object_set_new(o, key, json_real(b->arp[k]));
        snprintf(key, sizeof key, "calibration_kl@%zu", K);
        json_object_set_new(o, key, b->has_calibration && b->calibrated_users[k]
                                        ? json_real(b->calibration_kl[k])
                                        : json_null());
    }
}

static void print_beyond_rows(const char *label, const recsys__eval_beyond_metrics *b)
{
    for (int k = 0; k < RECSYS__EVAL_NK; k++) {
        char kl[32] = "-";
        if (b->has_calibration && b->calibrated_users[k])
            snprintf(kl, sizeof kl, "%.6f", b->calibration_kl[k]);
        printf("  %-34s %3zu  %8.6f %8.4f %9.3f %14s\n", k ? "" : label, recsys__eval_k[k],
               b->ild[k], b->novelty[k], b->arp[k], kl);
    }
}

/* ------------------------------------------------------------------ options */

static void parse_set(ev_opts *o, const char *text)
{
    const char *eq = strchr(text, '=');
    if (!eq || eq == text || (size_t)(eq - text) >= sizeof o->sets[0].name)
        bench_usage("--set: expected NAME=VALUE, got '%s'", text);
    if (o->nsets == MAX_SETS)
        bench_usage("--set: at most %d", MAX_SETS);
    opt_set *s = &o->sets[o->nsets];
    memcpy(s->name, text, (size_t)(eq - text));
    s->name[eq - text] = '\0';
    if (recsys_option_by_name(s->name, &s->key) != RECSYS_OK)
        bench_usage("--set: %s", recsys_last_error());
    static const int32_t fixed[] = { RECSYS_OPT_TOP_N, RECSYS_OPT_LOG_IMPRESSIONS,
                                     RECSYS_OPT_NOW, RECSYS_OPT_HISTORY_MAX,
                                     RECSYS_OPT_CANDIDATES_PER_SOURCE, RECSYS_OPT_FILTER_SEEN,
                                     RECSYS_OPT_EXPLAIN };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (s->key == fixed[i])
            bench_usage("--set: %s is fixed by the protocol (full ranking, top 20, clock at "
                        "the last training event)", s->name);
    if (s->key == RECSYS_OPT_DIVERSIFY_METHOD)
        bench_usage("--set: %s is chosen by the pipeline: add +mmr or +dpp to --pipeline",
                    s->name);
    char *end;
    errno = 0;
    s->value = strtod(eq + 1, &end);
    if (errno || end == eq + 1 || *end)
        bench_usage("--set %s: '%s' is not a number", s->name, eq + 1);
    o->nsets++;
}

static void parse_opts(int argc, char **argv, ev_opts *o)
{
    memset(o, 0, sizeof *o);
    o->grid = "small";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--data"))
            o->data = bench_arg(argc, argv, &i);
        else if (!strcmp(a, "--dataset"))
            o->dataset = bench_arg(argc, argv, &i);
        else if (!strcmp(a, "--items"))
            o->items_path = bench_arg(argc, argv, &i);
        else if (!strcmp(a, "--pipeline"))
            o->pipeline = bench_arg(argc, argv, &i);
        else if (!strcmp(a, "--grid"))
            o->grid = bench_arg(argc, argv, &i);
        else if (!strcmp(a, "--set"))
            parse_set(o, bench_arg(argc, argv, &i));
        else if (!strcmp(a, "--variant")) {
            const char *v = bench_arg(argc, argv, &i);
            if (!strcmp(v, "all"))
                o->variant = RECSYS__EVAL_ALL;
            else if (!strcmp(v, "ge4"))
                o->variant = RECSYS__EVAL_GE4;
            else
                bench_usage("--variant: '%s' is not all or ge4", v);
        } else
            bench_usage("eval: unknown option '%s'", a);
    }
    if (!o->data || !o->dataset || !o->pipeline)
        bench_usage("eval needs --data, --dataset and --pipeline");
    if (strcmp(o->dataset, "ml-100k") && strcmp(o->dataset, "ml-latest-small") &&
        strcmp(o->dataset, "csv"))
        bench_usage("--dataset: '%s' is not ml-100k, ml-latest-small or csv", o->dataset);
    if (strcmp(o->grid, "small") && strcmp(o->grid, "none"))
        bench_usage("--grid: '%s' is not small or none", o->grid);
    if (o->items_path && strcmp(o->dataset, "csv"))
        bench_usage("--items is for --dataset csv (the MovieLens sets bring their own)");
    /* BASE[+PART]...: the parts after the first '+' */
    static char base[512];
    if (strlen(o->pipeline) >= sizeof base)
        bench_usage("--pipeline: longer than %zu bytes", sizeof base - 1);
    snprintf(base, sizeof base, "%s", o->pipeline);
    char *plus = strchr(base, '+');
    if (plus)
        *plus++ = '\0';
    for (char *t = plus, *next; t; t = next) {
        if ((next = strchr(t, '+')))
            *next++ = '\0';
        if (!t[0])
            bench_usage("--pipeline: '%s' has an empty part", o->pipeline);
        if (!strcmp(t, "ltr") || !strcmp(t, "linear") || !strcmp(t, "blend")) {
            if (o->ranker)
                bench_usage("--pipeline: two rankers ('%s' and '%s')", o->ranker, t);
            if (o->diversifier)
                bench_usage("--pipeline: ranker '%s' after diversifier '%s': the pipeline ranks "
                            "before it diversifies, write BASE+%s+%s", t, o->diversifier, t,
                            o->diversifier);
            o->ranker = t;
        } else if (!strcmp(t, "mmr") || !strcmp(t, "dpp")) {
            if (o->diversifier)
                bench_usage("--pipeline: two diversifiers ('%s' and '%s')", o->diversifier, t);
            o->diversifier = t;
            o->div_method = !strcmp(t, "mmr") ? 1 : 2;
        } else {
            bench_usage("--pipeline: part '%s' is not a ranker (ltr, linear, blend) or a "
                        "diversifier (mmr, dpp)", t);
        }
    }
    if (!base[0])
        bench_usage("--pipeline: no base pipeline before '+'");
    o->base = base;
    o->nsources = (int)bench_pipeline_sources(o->base, strlen(o->base), o->sources);
    if (o->nsources == 0) { /* a comma-separated list of source names */
        static char buf[512];
        snprintf(buf, sizeof buf, "%s", o->base);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (o->nsources == MAX_SOURCES)
                bench_usage("--pipeline: at most %d sources", MAX_SOURCES);
            o->sources[o->nsources++] = t;
        }
        if (o->nsources == 0)
            bench_usage("--pipeline: no source named");
    }
}

/* ------------------------------------------------------------------ the subcommand */

/* The data set (bench/dataset.c) with its item metadata, which every pipeline reads for the
 * genres of the calibration metric and the content source, a ranker or a diversifier also
 * for the catalog. */
static void load_data(ev_run *r)
{
    const ev_opts *o = r->o;
    bench_dataset_open(&r->ds, "eval", o->data, o->dataset, o->variant, o->items_path,
                       BENCH_DATASET_META);
    bool content = false;
    for (int i = 0; i < o->nsources; i++)
        content |= !strcmp(o->sources[i], "content");
    bool meta_file = strcmp(o->dataset, "csv") || o->items_path;
    if (meta_file && !r->ds.have_meta) {
        if (content) {
            fprintf(stderr, "recsys-bench eval: reading the item metadata: %s\n",
                    r->ds.meta_error);
            exit(1);
        }
        fprintf(stderr, "recsys-bench eval: warning: reading the item metadata: %s: "
                        "calibration_kl is null\n", r->ds.meta_error);
    } else if (!meta_file && content) {
        fprintf(stderr, "recsys-bench eval: warning: no --items file: the content source sees "
                        "item ids only\n");
    }
    r->meta_in_catalog = r->ds.have_meta && (content || o->ranker || o->diversifier);
}

int bench_eval(bench_ctx *ctx, int argc, char **argv)
{
    ev_opts o;
    parse_opts(argc, argv, &o);
    ev_run r = { .ctx = ctx, .o = &o };
    uint64_t t0 = stats_now_ns();
    load_data(&r);
    const recsys__eval_data *d = &r.ds.d;
    size_t test_users = recsys__eval_part_users(&r.ds.test);
    size_t val_users = recsys__eval_part_users(&r.ds.val);

    char srcs[256] = "";
    for (int i = 0; i < o.nsources; i++)
        snprintf(srcs + strlen(srcs), sizeof srcs - strlen(srcs), "%s%s", i ? "+" : "",
                 o.sources[i]);
    recsys_option_desc cand;
    option_desc(RECSYS_OPT_CANDIDATES_PER_SOURCE, &cand);
    r.cands = (double)d->items.n < cand.max_value ? (double)d->items.n : cand.max_value;
    if (o.ranker && r.cands > TWO_STAGE_CANDIDATES)
        r.cands = TWO_STAGE_CANDIDATES;
    char parts[160] = "ranker off";
    if (o.ranker)
        snprintf(parts, sizeof parts, "ranker %s%s%s; two-stage: %.0f candidates per source",
                 o.ranker, o.diversifier ? "; diversifier " : "",
                 o.diversifier ? o.diversifier : "", r.cands);
    else if (o.diversifier)
        snprintf(parts, sizeof parts, "ranker off; diversifier %s", o.diversifier);
    printf("eval: %s, variant %s, pipeline %s (sources %s; %s), EVAL_PROTOCOL v1\n",
           o.dataset, o.variant ? "ge4" : "all", o.pipeline, srcs, parts);
    printf("data: %zu users, %zu items, %zu interactions (%zu records, %zu discarded by the "
           "variant, %zu duplicates)\n", d->users.n, d->items.n, d->all.n, d->records,
           d->discarded, d->duplicates);
    printf("split: train %zu / test %zu (%zu users); fit %zu / validation %zu (%zu users)\n",
           r.ds.train.n, r.ds.test.n, test_users, r.ds.fit.n, r.ds.val.n, val_users);

    /* a learned ranker trains on validation outcomes; blend needs no training */
    bool learned = o.ranker && strcmp(o.ranker, "blend") != 0;
    const char *fixed_ranker = o.ranker && !learned ? o.ranker : NULL;
    bool combine = o.nsources > 1 || o.diversifier || fixed_ranker;
    char combo[300];
    snprintf(combo, sizeof combo, "%s%s%s%s%s", srcs, fixed_ranker ? "+" : "",
             fixed_ranker ? fixed_ranker : "", o.diversifier ? "+" : "",
             o.diversifier ? o.diversifier : "");

    json_t *out = ctx->out, *tuning = json_array(), *chosen_json = json_object();
    chosen best = { .n = 0 };
    double val_ndcg = -1;
    double tune_s = 0;
    recsys_engine *fit = NULL;
    bool fit_fresh = false; /* refreshed since its options were last set */
    if (!strcmp(o.grid, "small")) {
        uint64_t tt = stats_now_ns();
        r.phase = "loading fit";
        fit = make_engine(&r, RECSYS_EVAL_FIT, NULL);
        printf("tuning on validation (grid small; NDCG@10):\n");
        for (int i = 0; i < o.nsources; i++)
            tune_source(&r, &fit, o.sources[i], tuning, &best);
        if (combine) { /* the chosen values together, with the diversifier and blend */
            r.phase = "validating the combination";
            set_diversifier(&r, fit);
            double secs = refresh(&r, fit);
            fit_fresh = true;
            recsys__eval_metrics m;
            r.req_ranker = fixed_ranker;
            evaluate(&r, fit, &r.ds.fit, &r.ds.val, &m, NULL);
            r.req_ranker = NULL;
            bench_progress_clear(ctx);
            val_ndcg = m.ndcg[0];
            printf("  %-10s %-60s %.6f   refresh %.2f s\n", "together", combo, val_ndcg, secs);
        } else {
            for (size_t i = 0; i < json_array_size(tuning); i++) {
                double v = json_real_value(json_object_get(json_array_get(tuning, i), "ndcg@10"));
                val_ndcg = v > val_ndcg ? v : val_ndcg;
            }
        }
        if (!learned) {
            recsys_engine_free(fit);
            fit = NULL;
        }
        tune_s = (double)(stats_now_ns() - tt) / 1e9;
    }

    /* the final model: the chosen setting trained on train, evaluated on test */
    recsys_engine *e;
    double load_s, ranker_train_s = -1;
    if (learned) {
        if (!fit) {
            r.phase = "loading fit";
            fit = make_engine(&r, RECSYS_EVAL_FIT, &best);
        }
        if (!fit_fresh) {
            r.phase = "fit with the chosen setting";
            refresh(&r, fit);
        }
        ranker_train_s = train_ranker(&r, fit);
        /* the validation interactions join the fit engine: it then holds exactly train, at
         * the train clock (set first: the library refuses events beyond its clock) */
        r.phase = "loading validation";
        uint64_t tl = stats_now_ns();
        set_option(fit, RECSYS_OPT_NOW, (double)bench_dataset_now(&r.ds, &r.ds.train));
        bench_dataset_feed(ctx, &r.ds, fit, RECSYS_EVAL_VALIDATION, 0, r.phase);
        load_s = (double)(stats_now_ns() - tl) / 1e9;
        e = fit;
    } else {
        r.phase = "loading train";
        uint64_t tl = stats_now_ns();
        e = make_engine(&r, RECSYS_EVAL_TRAIN, &best);
        load_s = (double)(stats_now_ns() - tl) / 1e9;
    }
    set_diversifier(&r, e);
    r.phase = "test";
    double train_s = refresh(&r, e);
    recsys__eval_metrics m, ref;
    recsys__eval_beyond beyond;
    recsys__eval_beyond_metrics bm, bref;
    const recsys__eval_genres *genres = r.ds.have_genres ? &r.ds.genres : NULL;
    if (recsys__eval_beyond_init(&beyond, mem, d->items.n, &r.ds.train, genres) != RECSYS_OK)
        eval_fail("indexing the train part for the beyond-accuracy metrics");
    memset(&r.viol, 0, sizeof r.viol);
    r.req_ranker = o.ranker;
    uint64_t te = stats_now_ns();
    evaluate(&r, e, &r.ds.train, &r.ds.test, &m, &beyond);
    double eval_s = (double)(stats_now_ns() - te) / 1e9;
    r.req_ranker = NULL;
    bench_progress_clear(ctx);
    recsys__eval_beyond_result(&beyond, &bm);
    recsys__eval_beyond_free(&beyond);
    if (recsys__eval_mostpop_beyond(mem, d->items.n, &r.ds.train, &r.ds.test, genres, &ref, &bref) !=
        RECSYS_OK)
        eval_fail("MostPopular");
    size_t violations = r.viol.known + r.viol.repeated + r.viol.unknown;

    /* the setting actually used, read back from the engine */
    char used[512] = "";
    for (int i = 0; i < o.nsources; i++) {
        const source_grid *g = grid_of(o.sources[i]);
        for (int k = 0; g && k < g->ndims; k++) {
            recsys_option_desc dd;
            option_desc(g->dims[k].key, &dd);
            double v;
            int64_t iv;
            if (dd.type == RECSYS_OPTTYPE_INT) {
                BENCH_CHECK(recsys_engine_get_int(e, g->dims[k].key, &iv), dd.name);
                v = (double)iv;
            } else {
                BENCH_CHECK(recsys_engine_get_double(e, g->dims[k].key, &v), dd.name);
            }
            json_object_set_new(chosen_json, dd.name, json_real(v));
            snprintf(used + strlen(used), sizeof used - strlen(used), "%s%s=%g",
                     used[0] ? " " : "", short_name(dd.name), v);
        }
    }
    recsys_engine_free(e);

    printf("test (trained on train%s%s):\n", used[0] ? ": " : "", used);
    printf("  %-34s %3s  %8s %8s %9s %8s %8s %8s\n", "model", "K", "NDCG", "Recall",
           "Precision", "HitRate", "MAP", "Coverage");
    char label[600];
    snprintf(label, sizeof label, "%s (librecsys)", o.pipeline);
    print_rows(label, &m);
    print_rows("MostPopular (protocol reference)", &ref);
    printf("users %zu; train_s %.3f (recsys_refresh), eval_s %.3f (%zu requests), load_s %.2f, "
           "tune_s %.1f; padded lists %zu, dropped items %zu\n", m.users, train_s, eval_s,
           m.users, load_s, tune_s, m.padded, violations);
    printf("beyond accuracy (the same lists; popularity and item vectors from train; %s):\n",
           genres ? "genres from the item metadata" : "no item metadata: no calibration");
    printf("  %-34s %3s  %8s %8s %9s %14s\n", "model", "K", "ILD", "Novelty", "ARP",
           "CalibrationKL");
    print_beyond_rows(label, &bm);
    print_beyond_rows("MostPopular (protocol reference)", &bref);
    printf("violations %zu (train items %zu, repeats %zu, not in the catalog %zu): entries of "
           "the lists that break the protocol, dropped before scoring; must be 0\n", violations,
           r.viol.known, r.viol.repeated, r.viol.unknown);
    if (learned)
        printf("ranker %s: trained in %.2f s on the %zu validation interactions (fit engine, "
               "%.0f candidates per source), which the engine then recorded (load_s)\n",
               o.ranker, ranker_train_s, r.ds.val.n, r.cands);
    bool has_popular = false;
    for (int i = 0; i < o.nsources; i++)
        has_popular |= !strcmp(o.sources[i], "popular");
    if (has_popular)
        printf("note: the library's \"popular\" source is a time-decayed count of events "
               "(retrieve.popular_half_life_days, applied as events arrive, read at "
               "RECSYS_OPT_NOW); the protocol's MostPopular counts distinct train users without "
               "decay. They differ, and agree up to ties only with a very long half-life.\n");
    printf("total %.1f s\n", (double)(stats_now_ns() - t0) / 1e9);

    json_object_set_new(out, "dataset", json_string(o.dataset));
    json_object_set_new(out, "variant", json_string(o.variant ? "ge4" : "all"));
    json_object_set_new(out, "pipeline", json_string(o.pipeline));
    json_object_set_new(out, "users", json_integer((json_int_t)m.users));
    metrics_json(out, &m);
    json_object_set_new(out, "train_s", json_real(train_s));
    json_object_set_new(out, "eval_s", json_real(eval_s));
    json_t *sources = json_array();
    for (int i = 0; i < o.nsources; i++)
        json_array_append_new(sources, json_string(o.sources[i]));
    json_object_set_new(out, "sources", sources);
    json_object_set_new(out, "items", json_integer((json_int_t)d->items.n));
    json_object_set_new(out, "train", json_integer((json_int_t)r.ds.train.n));
    json_object_set_new(out, "test", json_integer((json_int_t)r.ds.test.n));
    json_object_set_new(out, "fit", json_integer((json_int_t)r.ds.fit.n));
    json_object_set_new(out, "validation", json_integer((json_int_t)r.ds.val.n));
    json_object_set_new(out, "grid", json_string(o.grid));
    json_object_set_new(out, "chosen", chosen_json);
    json_object_set_new(out, "tuning", tuning);
    if (val_ndcg >= 0)
        json_object_set_new(out, "validation_ndcg@10", json_real(val_ndcg));
    json_object_set_new(out, "tune_s", json_real(tune_s));
    json_object_set_new(out, "load_s", json_real(load_s));
    json_object_set_new(out, "padded", json_integer((json_int_t)m.padded));
    json_object_set_new(out, "dropped", json_integer((json_int_t)violations));
    beyond_json(out, &bm);
    json_object_set_new(out, "violations", json_integer((json_int_t)violations));
    json_object_set_new(out, "ranker", o.ranker ? json_string(o.ranker) : json_null());
    json_object_set_new(out, "diversifier",
                        o.diversifier ? json_string(o.diversifier) : json_null());
    json_object_set_new(out, "ranker_train_s",
                        ranker_train_s >= 0 ? json_real(ranker_train_s) : json_null());
    json_object_set_new(out, "candidates_per_source", json_integer((json_int_t)r.cands));
    json_t *mp = json_object();
    json_object_set_new(mp, "model", json_string("MostPopular, EVAL_PROTOCOL section 7"));
    metrics_json(mp, &ref);
    beyond_json(mp, &bref);
    json_object_set_new(out, "mostpop", mp);

    bench_dataset_free(&r.ds);
    return 0;
}
