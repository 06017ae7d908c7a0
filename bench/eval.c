/*
 * eval.c - `recsys-bench eval --data DIR --dataset ml-100k|ml-latest-small|csv
 *           [--variant all|ge4] --pipeline NAME [--grid small|none] [--set NAME=VALUE]...
 *           [--items FILE] [--json]`
 *
 * Offline quality under ../shared/data/EVAL_PROTOCOL.md, exactly: the positive interactions
 * of the variant, the per-user temporal split (train/test, and fit/validation inside train),
 * tuning on validation, full ranking, the metrics of section 6. Data, split and metrics come
 * from lib/eval (the internal recsys__eval_* API, linked from the static library; the same
 * code the conformance test checks); the models are the library's own, driven through the
 * public API only (include/recsys.h):
 *
 *   - an engine over the memory store with a fixed seed; every catalog item loaded with an
 *     id that sorts like the protocol's id order (numeric ids zero-padded to one width, e.g.
 *     "0000242"; string ids as the zero-padded rank of their byte order), so the pipeline's
 *     tie-break by item id string is the protocol's; for the content pipeline the title,
 *     category "film" and the genres as tags;
 *   - the training interactions as RECSYS_EVENT_VIEW events with their timestamps, in time
 *     order, through recsys_feedback (shifted by a constant when a timestamp is below 1:
 *     0 means "now" to the library; only differences matter to it);
 *   - RECSYS_OPT_NOW = the latest training timestamp + 1, RECSYS_OPT_HISTORY_MAX large enough
 *     to keep every training event, RECSYS_OPT_CANDIDATES_PER_SOURCE = the catalog size (full
 *     ranking), RECSYS_OPT_TOP_N = 20, filter.seen on (candidates = catalog minus the user's
 *     train items); per request impressions off and explanations off;
 *   - only the pipeline's sources enabled (recsys_engine_plugin_enable; a name that is not
 *     registered fails the command with recsys_last_error()), the "blend" ranker off, so the
 *     order is the merged source scores' (for one source: the source's own order).
 *
 * Pipelines: popular, itemknn, rp3beta, ease, ials, content (one source each), hybrid
 * (itemknn + rp3beta + ease + ials + popular merged), or a comma-separated list of source
 * names (merged like hybrid).
 *
 * Tuning (section 4): each source has a small grid over its options, a few points each plus
 * the option's default (--grid small, the default; --grid none keeps the defaults). A
 * single-source pipeline trains every grid point on fit (recsys_refresh trains), scores
 * validation and keeps the best NDCG@10 (the first in grid order on a tie). A multi-source
 * pipeline tunes each source alone in the same way, then uses the chosen values together.
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
 * the bottom (reported as "padded"); an item the library returns that is not a candidate (a
 * train item) is dropped and counted ("dropped"; 0 unless the seen filter misses one).
 *
 * Every run also reports the protocol's MostPopular reference (section 7: distinct train
 * users per item, no time decay) on the same split. The library's "popular" source is a
 * time-decayed count, so the popular pipeline and the reference differ.
 *
 * JSON (the last line with --json): the common keys of main.c plus "dataset", "variant",
 * "pipeline", "users" (evaluated test users), "ndcg@10", "recall@10", "precision@10",
 * "hit@10", "map@10", "coverage@10", the same at 20, "train_s", "eval_s", and "sources",
 * "items", "train", "test", "fit", "validation", "grid", "chosen" {option: value},
 * "tuning" [{"params", "ndcg@10", "refresh_s"}], "validation_ndcg@10", "tune_s", "load_s",
 * "padded", "dropped", "mostpop" {the same metric keys}.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "eval/eval.h"

#define MAX_SOURCES 8
#define MAX_DIMS 4
#define MAX_VALUES 8 /* listed points plus the default */
#define MAX_SETS 16

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

static const struct {
    const char *name;
    const char *sources[MAX_SOURCES];
} pipelines[] = {
    { "popular", { "popular" } },
    { "itemknn", { "itemknn" } },
    { "rp3beta", { "rp3beta" } },
    { "ease", { "ease" } },
    { "ials", { "ials" } },
    { "content", { "content" } },
    { "hybrid", { "itemknn", "rp3beta", "ease", "ials", "popular" } },
};

/* Every source name the library has or is getting: all are switched off first (a name that
 * is not registered needs no switching off), then the pipeline's are switched on. */
static const char *const all_sources[] = { "content", "popular", "trending", "itemknn",
                                           "rp3beta", "ease",    "ials",     "session",
                                           "vector",  "search",  "campaign" };

/* ------------------------------------------------------------------ the run */

typedef struct opt_set {
    int32_t key;
    double value;
    char name[64];
} opt_set;

typedef struct ev_opts {
    const char *data, *dataset, *items_path, *pipeline, *grid;
    int variant;
    const char *sources[MAX_SOURCES];
    int nsources;
    opt_set sets[MAX_SETS];
    int nsets;
} ev_opts;

typedef struct ev_run {
    bench_ctx *ctx;
    const ev_opts *o;
    recsys__eval_data d;
    recsys__eval_items meta;
    bool have_meta;
    recsys__eval_part train, test, fit, val;
    char **item_key; /* engine item ids, sorted like the dense indices */
    char **user_key; /* engine user ids */
    int64_t shift;   /* added to every timestamp given to the engine */
    /* per evaluation */
    recsys_engine *e;
    size_t dropped;
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


static int cmp_time(const void *a, const void *b)
{
    const recsys__eval_event *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

static void make_keys(ev_run *r)
{
    const recsys__eval_data *d = &r->d;
    int width = 7;
    char probe[32];
    if (d->items.numeric) {
        unsigned long long max = (unsigned long long)d->items.num[d->items.n - 1];
        int w = snprintf(probe, sizeof probe, "%llu", max);
        width = w > width ? w : width;
    } else {
        int w = snprintf(probe, sizeof probe, "%zu", d->items.n - 1);
        width = w > width ? w : width;
    }
    r->item_key = calloc(d->items.n, sizeof *r->item_key);
    r->user_key = calloc(d->users.n, sizeof *r->user_key);
    if (!r->item_key || !r->user_key)
        goto oom;
    for (size_t i = 0; i < d->items.n; i++) {
        unsigned long long v = d->items.numeric ? (unsigned long long)d->items.num[i] : i;
        if (!(r->item_key[i] = malloc((size_t)width + 1)))
            goto oom;
        snprintf(r->item_key[i], (size_t)width + 1, "%0*llu", width, v);
    }
    for (size_t u = 0; u < d->users.n; u++) {
        if (!(r->user_key[u] = malloc(24)))
            goto oom;
        snprintf(r->user_key[u], 24, "u%07zu", u);
    }
    r->shift = d->min_ts < 1 ? 1 - d->min_ts : 0;
    return;
oom:
    fprintf(stderr, "recsys-bench eval: out of memory\n");
    exit(1);
}

static void enable_sources(recsys_engine *e, const ev_opts *o, const char *const *on, int non)
{
    for (size_t i = 0; i < sizeof all_sources / sizeof all_sources[0]; i++) {
        recsys_status st = recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, all_sources[i], 0);
        if (st != RECSYS_OK && st != RECSYS_E_NOT_FOUND)
            eval_fail("disabling a source");
    }
    for (int i = 0; i < non; i++) {
        char what[128];
        snprintf(what, sizeof what, "pipeline '%s' needs source '%s'", o->pipeline, on[i]);
        if (recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, on[i], 1) != RECSYS_OK)
            eval_fail(what);
    }
}

/* A fresh engine holding the catalog and the events of part, with the options of pre (may be
 * NULL) set before anything is loaded. */
static recsys_engine *make_engine(ev_run *r, const recsys__eval_part *part, const chosen *pre)
{
    const recsys__eval_data *d = &r->d;
    const ev_opts *o = r->o;
    recsys_engine *e = NULL;
    RECSYS_INIT(recsys_engine_opts, opts, .seed = BENCH_SEED);
    BENCH_CHECK(recsys_engine_new(&opts, &e), "creating the engine");
    int64_t now = (part->n ? 0 : d->max_ts) + r->shift + 1;
    for (size_t i = 0; i < part->n; i++)
        if (part->ev[i].ts + r->shift + 1 > now)
            now = part->ev[i].ts + r->shift + 1;
    recsys_option_desc cand;
    option_desc(RECSYS_OPT_CANDIDATES_PER_SOURCE, &cand);
    if ((double)d->items.n > cand.max_value)
        fprintf(stderr, "recsys-bench eval: warning: %zu items but at most %.0f candidates per "
                        "source: the ranking is not full\n", d->items.n, cand.max_value);
    set_option(e, RECSYS_OPT_NOW, (double)now);
    set_option(e, RECSYS_OPT_HISTORY_MAX, 1000000);
    set_option(e, RECSYS_OPT_CANDIDATES_PER_SOURCE,
               (double)d->items.n < cand.max_value ? (double)d->items.n : cand.max_value);
    set_option(e, RECSYS_OPT_TOP_N, RECSYS__EVAL_KMAX);
    set_option(e, RECSYS_OPT_FILTER_SEEN, 1);
    set_option(e, RECSYS_OPT_EXPLAIN, 0);
    set_option(e, RECSYS_OPT_LOG_IMPRESSIONS, 0);
    for (int i = 0; i < o->nsets; i++)
        set_option(e, o->sets[i].key, o->sets[i].value);
    for (int i = 0; pre && i < pre->n; i++)
        set_option(e, pre->key[i], pre->value[i]);
    enable_sources(e, o, o->sources, o->nsources);
    BENCH_CHECK(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_RANKER, "blend", 0), "ranker off");

    for (size_t i = 0; i < d->items.n; i++) {
        recsys_item_spec *spec = NULL;
        BENCH_CHECK(recsys_item_spec_new(r->item_key[i], &spec), "item spec");
        const recsys__eval_item *m =
            r->have_meta ? recsys__eval_items_find(&r->meta, d->items.name[i]) : NULL;
        if (m) {
            BENCH_CHECK(recsys_item_spec_set_text(spec, RECSYS_FIELD_TITLE, m->title), "title");
            BENCH_CHECK(recsys_item_spec_set_text(spec, RECSYS_FIELD_CATEGORY, "film"), "category");
            for (size_t t = 0; t < m->ntags; t++)
                BENCH_CHECK(recsys_item_spec_add_tag(spec, m->tags[t]), "tag");
        }
        BENCH_CHECK(recsys_catalog_upsert(e, spec), "loading an item");
        recsys_item_spec_free(spec);
        if ((i & 1023) == 0)
            bench_progress(r->ctx, "loading: item %zu/%zu", i, d->items.n);
    }

    recsys__eval_event *ev = malloc((part->n ? part->n : 1) * sizeof *ev);
    if (!ev) {
        fprintf(stderr, "recsys-bench eval: out of memory\n");
        exit(1);
    }
    memcpy(ev, part->ev, part->n * sizeof *ev);
    qsort(ev, part->n, sizeof *ev, cmp_time); /* a stream, as a host would send it */
    recsys_event rec;
    recsys_event_init(&rec);
    rec.type = RECSYS_EVENT_VIEW;
    for (size_t i = 0; i < part->n; i++) {
        rec.user_id = r->user_key[ev[i].user];
        rec.item_id = r->item_key[ev[i].item];
        rec.timestamp = ev[i].ts + r->shift;
        BENCH_CHECK(recsys_feedback(e, &rec), "recording an event");
        if ((i & 16383) == 0)
            bench_progress(r->ctx, "loading: event %zu/%zu", i, part->n);
    }
    free(ev);
    return e;
}

/* ------------------------------------------------------------------ evaluation */

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static recsys_status engine_rank(void *ctx, uint32_t user, const uint8_t *known, uint32_t *list,
                                 size_t *n)
{
    ev_run *r = ctx;
    recsys_request *req = NULL;
    recsys_result *res = NULL;
    recsys_status st = recsys_request_new(&req);
    if (st == RECSYS_OK)
        st = recsys_request_set_user(req, r->user_key[user]);
    if (st == RECSYS_OK)
        st = recsys_request_set_int(req, RECSYS_OPT_TOP_N, RECSYS__EVAL_KMAX);
    if (st == RECSYS_OK)
        st = recsys_request_set_int(req, RECSYS_OPT_LOG_IMPRESSIONS, 0);
    if (st == RECSYS_OK)
        st = recsys_request_set_int(req, RECSYS_OPT_EXPLAIN, 0);
    if (st == RECSYS_OK)
        st = recsys_recommend(r->e, req, &res);
    *n = 0;
    for (size_t i = 0; st == RECSYS_OK && i < recsys_result_count(res) && *n < RECSYS__EVAL_KMAX;
         i++) {
        const char *id = recsys_result_item_id(res, i);
        char **hit = bsearch(&id, r->item_key, r->d.items.n, sizeof *r->item_key, cmp_key);
        if (!hit) {
            st = recsys_error_set(RECSYS_E_INTERNAL, "the library recommended an item that is "
                                                     "not in the catalog");
            break;
        }
        uint32_t idx = (uint32_t)(hit - r->item_key);
        bool dup = false;
        for (size_t k = 0; k < *n; k++)
            dup |= list[k] == idx;
        if (known[idx] || dup) {
            r->dropped++;
            continue;
        }
        list[(*n)++] = idx;
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

/* Evaluates the engine's current model on truth (known = the part it was trained on). */
static void evaluate(ev_run *r, recsys_engine *e, const recsys__eval_part *known,
                     const recsys__eval_part *truth, recsys__eval_metrics *m)
{
    r->e = e;
    if (recsys__eval_run(mem, r->d.items.n, known, truth, engine_rank, r, eval_progress, m) !=
        RECSYS_OK)
        eval_fail("evaluating");
}

static double refresh(ev_run *r, recsys_engine *e)
{
    bench_progress(r->ctx, "%s: training", r->phase);
    uint64_t t0 = stats_now_ns();
    BENCH_CHECK(recsys_refresh(e), "recsys_refresh (training)");
    return (double)(stats_now_ns() - t0) / 1e9;
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
        enable_sources(fit, r->o, one, 1);
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
            fit = make_engine(r, &r->fit, &c);
            if (r->o->nsources > 1)
                enable_sources(fit, r->o, one, 1);
        } else {
            for (int k = 0; k < ndims; k++)
                set_option(fit, dims[k].key, dims[k].v[at[k]]);
        }
        double secs = refresh(r, fit);
        recsys__eval_metrics m;
        uint64_t t0 = stats_now_ns();
        evaluate(r, fit, &r->fit, &r->val, &m);
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
        fit = make_engine(r, &r->fit, best);
    } else if (r->o->nsources > 1) {
        enable_sources(fit, r->o, r->o->sources, r->o->nsources);
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
    for (size_t p = 0; p < sizeof pipelines / sizeof pipelines[0]; p++)
        if (!strcmp(o->pipeline, pipelines[p].name))
            for (int s = 0; s < MAX_SOURCES && pipelines[p].sources[s]; s++)
                o->sources[o->nsources++] = pipelines[p].sources[s];
    if (o->nsources == 0) { /* a comma-separated list of source names */
        static char buf[512];
        snprintf(buf, sizeof buf, "%s", o->pipeline);
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

static void load_data(ev_run *r)
{
    const ev_opts *o = r->o;
    char path[4096], gpath[4096];
    int fmt, ifmt = 0;
    const char *ipath = NULL;
    if (!strcmp(o->dataset, "ml-100k")) {
        fmt = ifmt = RECSYS__EVAL_ML100K;
        snprintf(path, sizeof path, "%s/ml-100k/u.data", o->data);
        snprintf(gpath, sizeof gpath, "%s/ml-100k/u.genre", o->data);
        ipath = "ml-100k/u.item";
    } else if (!strcmp(o->dataset, "ml-latest-small")) {
        fmt = ifmt = RECSYS__EVAL_MLLATEST;
        snprintf(path, sizeof path, "%s/ml-latest-small/ratings.csv", o->data);
        ipath = "ml-latest-small/movies.csv";
    } else {
        fmt = RECSYS__EVAL_CSV;
        snprintf(path, sizeof path, "%s", o->data);
        if (o->items_path)
            ifmt = RECSYS__EVAL_CSV;
    }
    if (recsys__eval_read(mem, path, fmt, o->variant, &r->d) != RECSYS_OK)
        eval_fail("reading the interactions");
    bool content = false;
    for (int i = 0; i < o->nsources; i++)
        content |= !strcmp(o->sources[i], "content");
    if (content && ifmt) {
        char ip[4096];
        if (o->items_path)
            snprintf(ip, sizeof ip, "%s", o->items_path);
        else
            snprintf(ip, sizeof ip, "%s/%s", o->data, ipath);
        if (recsys__eval_read_items(mem, ip, ifmt, gpath, &r->meta) != RECSYS_OK)
            eval_fail("reading the item metadata");
        r->have_meta = true;
    } else if (content) {
        fprintf(stderr, "recsys-bench eval: warning: no --items file: the content source sees "
                        "item ids only\n");
    }
    if (recsys__eval_split(mem, &r->d.all, &r->train, &r->test) != RECSYS_OK ||
        recsys__eval_split(mem, &r->train, &r->fit, &r->val) != RECSYS_OK)
        eval_fail("splitting");
}

int bench_eval(bench_ctx *ctx, int argc, char **argv)
{
    ev_opts o;
    parse_opts(argc, argv, &o);
    ev_run r = { .ctx = ctx, .o = &o };
    uint64_t t0 = stats_now_ns();
    load_data(&r);
    make_keys(&r);
    const recsys__eval_data *d = &r.d;
    size_t test_users = recsys__eval_part_users(&r.test);
    size_t val_users = recsys__eval_part_users(&r.val);

    char srcs[256] = "";
    for (int i = 0; i < o.nsources; i++)
        snprintf(srcs + strlen(srcs), sizeof srcs - strlen(srcs), "%s%s", i ? "+" : "",
                 o.sources[i]);
    printf("eval: %s, variant %s, pipeline %s (sources %s; ranker off), EVAL_PROTOCOL v1\n",
           o.dataset, o.variant ? "ge4" : "all", o.pipeline, srcs);
    printf("data: %zu users, %zu items, %zu interactions (%zu records, %zu discarded by the "
           "variant, %zu duplicates)\n", d->users.n, d->items.n, d->all.n, d->records,
           d->discarded, d->duplicates);
    printf("split: train %zu / test %zu (%zu users); fit %zu / validation %zu (%zu users)\n",
           r.train.n, r.test.n, test_users, r.fit.n, r.val.n, val_users);

    json_t *out = ctx->out, *tuning = json_array(), *chosen_json = json_object();
    chosen best = { .n = 0 };
    double val_ndcg = -1;
    double tune_s = 0;
    if (!strcmp(o.grid, "small")) {
        uint64_t tt = stats_now_ns();
        r.phase = "loading fit";
        recsys_engine *fit = make_engine(&r, &r.fit, NULL);
        printf("tuning on validation (grid small; NDCG@10):\n");
        for (int i = 0; i < o.nsources; i++)
            tune_source(&r, &fit, o.sources[i], tuning, &best);
        if (o.nsources > 1) { /* the chosen values together */
            r.phase = "validating the combination";
            double secs = refresh(&r, fit);
            recsys__eval_metrics m;
            evaluate(&r, fit, &r.fit, &r.val, &m);
            bench_progress_clear(ctx);
            val_ndcg = m.ndcg[0];
            printf("  %-10s %-60s %.6f   refresh %.2f s\n", "together", srcs, val_ndcg, secs);
        } else {
            for (size_t i = 0; i < json_array_size(tuning); i++) {
                double v = json_real_value(json_object_get(json_array_get(tuning, i), "ndcg@10"));
                val_ndcg = v > val_ndcg ? v : val_ndcg;
            }
        }
        recsys_engine_free(fit);
        tune_s = (double)(stats_now_ns() - tt) / 1e9;
    }

    /* the final model: the chosen setting trained on train, evaluated on test */
    r.phase = "loading train";
    uint64_t tl = stats_now_ns();
    recsys_engine *e = make_engine(&r, &r.train, &best);
    double load_s = (double)(stats_now_ns() - tl) / 1e9;
    r.phase = "test";
    double train_s = refresh(&r, e);
    recsys__eval_metrics m, ref;
    r.dropped = 0;
    uint64_t te = stats_now_ns();
    evaluate(&r, e, &r.train, &r.test, &m);
    double eval_s = (double)(stats_now_ns() - te) / 1e9;
    bench_progress_clear(ctx);
    if (recsys__eval_mostpop(mem, d->items.n, &r.train, &r.test, &ref) != RECSYS_OK)
        eval_fail("MostPopular");

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
    char label[64];
    snprintf(label, sizeof label, "%s (librecsys)", o.pipeline);
    print_rows(label, &m);
    print_rows("MostPopular (protocol reference)", &ref);
    printf("users %zu; train_s %.3f (recsys_refresh), eval_s %.3f (%zu requests), load_s %.2f, "
           "tune_s %.1f; padded lists %zu, dropped items %zu\n", m.users, train_s, eval_s,
           m.users, load_s, tune_s, m.padded, r.dropped);
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
    json_object_set_new(out, "train", json_integer((json_int_t)r.train.n));
    json_object_set_new(out, "test", json_integer((json_int_t)r.test.n));
    json_object_set_new(out, "fit", json_integer((json_int_t)r.fit.n));
    json_object_set_new(out, "validation", json_integer((json_int_t)r.val.n));
    json_object_set_new(out, "grid", json_string(o.grid));
    json_object_set_new(out, "chosen", chosen_json);
    json_object_set_new(out, "tuning", tuning);
    if (val_ndcg >= 0)
        json_object_set_new(out, "validation_ndcg@10", json_real(val_ndcg));
    json_object_set_new(out, "tune_s", json_real(tune_s));
    json_object_set_new(out, "load_s", json_real(load_s));
    json_object_set_new(out, "padded", json_integer((json_int_t)m.padded));
    json_object_set_new(out, "dropped", json_integer((json_int_t)r.dropped));
    json_t *mp = json_object();
    json_object_set_new(mp, "model", json_string("MostPopular, EVAL_PROTOCOL section 7"));
    metrics_json(mp, &ref);
    json_object_set_new(out, "mostpop", mp);

    for (size_t i = 0; i < d->items.n; i++)
        free(r.item_key[i]);
    for (size_t u = 0; u < d->users.n; u++)
        free(r.user_key[u]);
    free(r.item_key);
    free(r.user_key);
    recsys__eval_part_free(mem, &r.train);
    recsys__eval_part_free(mem, &r.test);
    recsys__eval_part_free(mem, &r.fit);
    recsys__eval_part_free(mem, &r.val);
    recsys__eval_items_free(&r.meta);
    recsys__eval_data_free(&r.d);
    return 0;
}
