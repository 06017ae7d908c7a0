/* dataset.c - the one way recsys-bench reads a data set and loads it into an engine (eval,
 * llm, online; declarations in bench.h).
 *
 * What: bench_dataset_open reads a data set of ../shared/data/EVAL_PROTOCOL.md (--data DIR
 * --dataset ml-100k|ml-latest-small, or csv: DIR is then the file) twice over, from the
 * same files with the same lib/eval functions:
 *   - as the public recsys_eval_dataset (include/recsys.h), which gives the engine ids
 *     (items zero-padded so that they sort like the protocol's id order, users "u0000000"),
 *     the options the protocol fixes (recsys_eval_dataset_configure) and the loading of a
 *     part, the catalog first, then the part's interactions as RECSYS_EVENT_VIEW events in
 *     time order (recsys_eval_dataset_feed). The harness is a user of the library like any
 *     host, so it loads engines exactly as a host (or the Python bindings) would;
 *   - with lib/eval's internal reader (recsys__eval_*): the dense interactions and the split
 *     parts, the item metadata and genres, which the subcommands need to simulate users
 *     (clicks, oracles), to score with lib/eval and to build their own catalogs (llm). The
 *     public handle is opaque and gives none of that, by design.
 * Both readings are deterministic and must agree: open checks the counts (items, users,
 * parts) and fails when they differ. bench_dataset_engine and bench_dataset_feed then make
 * an engine for a part the one way; bench_sources_enable switches on exactly a pipeline's
 * candidate sources.
 *
 * Why: eval, llm and online each had their own copy of all this (ids, the protocol's
 * options, events in time order, sources), and every published figure depends on them
 * being the same.
 *
 * Costs: open is twice O(records log records) plus O(users + items) for the ids (the second
 * reading is tens of milliseconds for ml-latest-small, within the noise of a whole `eval`
 * run); feed is O(items + |part| log |part|) plus the engine's calls;
 * bench_dataset_item is O(log items). Failures exit like the rest of the harness: 1 for a
 * library failure (with recsys_last_error()), 2 for bad input (usage).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static const recsys__mem *mem = &recsys__mem_default;

/* Every source name the library has: all are switched off first (a name that is not
 * registered needs no switching off), then the pipeline's are switched on. */
static const char *const every_source[] = { "content", "popular", "trending", "itemknn",
                                            "rp3beta", "ease",    "ials",     "session",
                                            "vector",  "search",  "campaign" };

/* The named pipelines of eval, llm and online: the candidate sources each switches on. */
static const struct {
    const char *name;
    const char *sources[BENCH_PIPELINE_MAX];
} pipelines[] = {
    { "popular", { "popular" } },
    { "itemknn", { "itemknn" } },
    { "rp3beta", { "rp3beta" } },
    { "ease", { "ease" } },
    { "ials", { "ials" } },
    { "content", { "content" } },
    { "hybrid", { "itemknn", "rp3beta", "ease", "ials", "popular" } },
};

static _Noreturn void dataset_fail(const char *cmd, const char *what)
{
    fprintf(stderr, "recsys-bench %s: %s: %s: %s\n", cmd, what,
            recsys_status_str(recsys_last_status()), recsys_last_error());
    exit(1);
}

/* The public reading agrees with the internal one (the same files, the same code). */
static void check_agree(const bench_dataset *ds, const char *cmd)
{
    char *info = NULL;
    if (recsys_eval_dataset_info_json(ds->pub, &info) != RECSYS_OK)
        dataset_fail(cmd, "describing the data set");
    json_t *j = json_loads(info, 0, NULL);
    recsys_string_free(info);
    const struct { const char *k; size_t v; } n[] = {
        { "users", ds->d.users.n }, { "items", ds->d.items.n }, { "interactions", ds->d.all.n },
        { "train", ds->train.n }, { "test", ds->test.n }, { "fit", ds->fit.n },
        { "validation", ds->val.n },
    };
    bool ok = j != NULL && recsys_eval_dataset_user_count(ds->pub, RECSYS_EVAL_ALL) == ds->d.users.n;
    for (size_t i = 0; ok && i < sizeof n / sizeof n[0]; i++)
        ok = json_integer_value(json_object_get(j, n[i].k)) == (json_int_t)n[i].v;
    json_decref(j);
    if (!ok) {
        fprintf(stderr, "recsys-bench %s: the public and the internal reading of the data set "
                        "differ (a bug of lib/eval)\n", cmd);
        exit(1);
    }
}

void bench_dataset_open(bench_dataset *ds, const char *cmd, const char *data,
                        const char *dataset, int variant, const char *items_path, unsigned flags)
{
    memset(ds, 0, sizeof *ds);
    char dir[4096], path[4096], ipath[4096], gpath[4096];
    int fmt, ifmt = 0;
    const char *gp = NULL;
    if (!strcmp(dataset, "ml-100k")) {
        fmt = ifmt = RECSYS__EVAL_ML100K;
        snprintf(dir, sizeof dir, "%s/ml-100k", data);
        snprintf(path, sizeof path, "%s/ml-100k/u.data", data);
        snprintf(ipath, sizeof ipath, "%s/ml-100k/u.item", data);
        snprintf(gpath, sizeof gpath, "%s/ml-100k/u.genre", data);
        gp = gpath;
    } else if (!strcmp(dataset, "ml-latest-small")) {
        fmt = ifmt = RECSYS__EVAL_MLLATEST;
        snprintf(dir, sizeof dir, "%s/ml-latest-small", data);
        snprintf(path, sizeof path, "%s/ml-latest-small/ratings.csv", data);
        snprintf(ipath, sizeof ipath, "%s/ml-latest-small/movies.csv", data);
    } else if (!strcmp(dataset, "csv")) {
        fmt = RECSYS__EVAL_CSV;
        snprintf(dir, sizeof dir, "%s", data);
        snprintf(path, sizeof path, "%s", data);
        if (items_path) {
            ifmt = RECSYS__EVAL_CSV;
            snprintf(ipath, sizeof ipath, "%s", items_path);
        }
    } else {
        bench_usage("--dataset: '%s' is not ml-100k, ml-latest-small or csv", dataset);
    }
    if (items_path && fmt != RECSYS__EVAL_CSV)
        bench_usage("--items is for --dataset csv (the MovieLens sets bring their own)");
    ds->name = dataset;
    if (recsys__eval_read(mem, path, fmt, variant, &ds->d) != RECSYS_OK)
        dataset_fail(cmd, "reading the interactions");
    if ((flags & BENCH_DATASET_META) && ifmt) {
        if (recsys__eval_read_items(mem, ipath, ifmt, gp, &ds->meta) == RECSYS_OK) {
            ds->have_meta = true;
            if (recsys__eval_genres_build(mem, &ds->meta, ds->d.items.name, ds->d.items.n,
                                          &ds->genres) != RECSYS_OK)
                dataset_fail(cmd, "indexing the genres");
            ds->have_genres = true;
        } else {
            snprintf(ds->meta_error, sizeof ds->meta_error, "%s", recsys_last_error());
        }
    }
    if (recsys__eval_split(mem, &ds->d.all, &ds->train, &ds->test) != RECSYS_OK ||
        recsys__eval_split(mem, &ds->train, &ds->fit, &ds->val) != RECSYS_OK)
        dataset_fail(cmd, "splitting");
    ds->shift = ds->d.min_ts < 1 ? 1 - ds->d.min_ts : 0;
    /* the public reading; an items file the bench could not read is left out of it, so that
     * the caller decides what a missing catalog text means (a warning for most pipelines) */
    const char *pub_items = fmt == RECSYS__EVAL_CSV && ds->have_meta ? items_path : NULL;
    if (recsys_eval_dataset_open(dir, dataset, variant, pub_items, NULL, &ds->pub) != RECSYS_OK)
        dataset_fail(cmd, "opening the data set (recsys_eval_dataset_open)");
    check_agree(ds, cmd);
    ds->item_key = calloc(ds->d.items.n ? ds->d.items.n : 1, sizeof *ds->item_key);
    ds->user_key = calloc(ds->d.users.n ? ds->d.users.n : 1, sizeof *ds->user_key);
    if (!ds->item_key || !ds->user_key) {
        fprintf(stderr, "recsys-bench %s: out of memory\n", cmd);
        exit(1);
    }
    for (size_t i = 0; i < ds->d.items.n; i++)
        ds->item_key[i] = recsys_eval_dataset_item_id(ds->pub, i);
    for (size_t u = 0; u < ds->d.users.n; u++) /* every user has interactions in ALL */
        ds->user_key[u] = recsys_eval_dataset_user_id(ds->pub, RECSYS_EVAL_ALL, u);
}

void bench_dataset_free(bench_dataset *ds)
{
    free(ds->item_key);
    free(ds->user_key);
    recsys_eval_dataset_free(ds->pub);
    recsys__eval_part_free(mem, &ds->train);
    recsys__eval_part_free(mem, &ds->test);
    recsys__eval_part_free(mem, &ds->fit);
    recsys__eval_part_free(mem, &ds->val);
    recsys__eval_genres_free(&ds->genres);
    recsys__eval_items_free(&ds->meta);
    recsys__eval_data_free(&ds->d);
    memset(ds, 0, sizeof *ds);
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

uint32_t bench_dataset_item(const bench_dataset *ds, const char *id)
{
    const char *const *hit =
        id ? bsearch(&id, ds->item_key, ds->d.items.n, sizeof *ds->item_key, cmp_key) : NULL;
    return hit ? (uint32_t)(hit - ds->item_key) : UINT32_MAX;
}

int64_t bench_dataset_now(const bench_dataset *ds, const recsys__eval_part *p)
{
    int64_t now = (p->n ? 0 : ds->d.max_ts) + ds->shift + 1;
    for (size_t i = 0; i < p->n; i++)
        if (p->ev[i].ts + ds->shift + 1 > now)
            now = p->ev[i].ts + ds->shift + 1;
    return now;
}

recsys_engine *bench_dataset_engine(const bench_dataset *ds, int32_t part)
{
    recsys_engine *e = NULL;
    RECSYS_INIT(recsys_engine_opts, opts, .seed = BENCH_SEED);
    BENCH_CHECK(recsys_engine_new(&opts, &e), "creating the engine");
    BENCH_CHECK(recsys_eval_dataset_configure(ds->pub, e, part),
                "the protocol's options (recsys_eval_dataset_configure)");
    return e;
}

void bench_dataset_feed(const bench_ctx *ctx, const bench_dataset *ds, recsys_engine *e,
                        int32_t part, uint32_t flags, const char *label)
{
    bench_progress(ctx, "%s: loading %s", label, flags ? "the catalog and the events" : "events");
    BENCH_CHECK(recsys_eval_dataset_feed(ds->pub, e, part, flags),
                "loading the data set (recsys_eval_dataset_feed)");
}

size_t bench_pipeline_sources(const char *name, size_t len, const char **out)
{
    for (size_t p = 0; p < sizeof pipelines / sizeof pipelines[0]; p++) {
        if (strlen(pipelines[p].name) != len || strncmp(pipelines[p].name, name, len))
            continue;
        size_t n = 0;
        for (; n < BENCH_PIPELINE_MAX && pipelines[p].sources[n]; n++)
            out[n] = pipelines[p].sources[n];
        return n;
    }
    return 0;
}

void bench_sources_enable(recsys_engine *e, const char *const *on, size_t n,
                          const char *pipeline)
{
    for (size_t i = 0; i < sizeof every_source / sizeof every_source[0]; i++) {
        recsys_status st = recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, every_source[i], 0);
        if (st != RECSYS_OK && st != RECSYS_E_NOT_FOUND)
            bench_fail("disabling a source");
    }
    for (size_t i = 0; i < n; i++) {
        char what[160];
        snprintf(what, sizeof what, "pipeline '%s' needs source '%s'", pipeline, on[i]);
        BENCH_CHECK(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, on[i], 1), what);
    }
}
