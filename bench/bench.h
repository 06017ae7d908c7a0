/* bench.h - what the subcommands of recsys-bench share: the run context (catalog, --json,
 * progress), the result table, failure and usage exits, and an engine with the catalog loaded.
 * main.c implements it; each subcommand lives in its own file (latency.c, ingest.c, eval.c). */
#ifndef RECSYS_BENCH_H
#define RECSYS_BENCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "eval/eval.h"
#include "recsys.h"
#include "stats.h"

#define BENCH_NOW 1751328000 /* 2025-07-01T00:00:00Z: the fixed clock; synthetic events end here */
#define BENCH_SEED 2025      /* the synthetic world's seed */

/** One line of the result table. Latencies are microseconds; a field < 0 prints as "-". */
typedef struct bench_row {
    char bench[12];    /* "latency", "ingest" */
    char variant[48];  /* what was measured */
    char count[24];    /* operations per run and runs, e.g. "2000 x5" */
    stats_summary s;   /* medians over the runs */
    const char *unit;  /* unit of s.rate: "req/s", "ev/s" */
    double ratio;      /* time per operation relative to this row's baseline; < 0 = none */
} bench_row;

typedef struct bench_ctx {
    const char *catalog_path;
    char *catalog;      /* the catalog text */
    size_t catalog_len;
    int repeat;         /* --repeat; 0 = the subcommand's default */
    int json;           /* --json: end with one JSON object */
    int progress;       /* stderr is a terminal */
    json_t *out;        /* the JSON object printed with --json */
} bench_ctx;

/* Subcommands: parse their own options (argv[0] is the subcommand name), run, add rows to the
 * table and keys to ctx->out. Return 0; exit(1) on a library failure, exit(2) on bad input. */
int bench_latency(bench_ctx *ctx, int argc, char **argv);
/* scale.c: `latency --items N --dim D ...` (bench_latency hands over when --items is given):
 * a synthetic catalog at scale, the recommend path next to the bare faiss search. */
int bench_latency_scale(bench_ctx *ctx, int argc, char **argv);
int bench_ingest(bench_ctx *ctx, int argc, char **argv);
/* eval.c: quality under ../shared/data/EVAL_PROTOCOL.md (reads no catalog, prints its own
 * table; see the top of eval.c). */
int bench_eval(bench_ctx *ctx, int argc, char **argv);
/* report.c: runs the other subcommands as child processes and writes a Markdown report with
 * SVG plots (see the top of report.c). Returns 0, or 1 when a run or a file failed. */
int bench_report(bench_ctx *ctx, int argc, char **argv);
/* gbdt.c: the native evaluator of LambdaMART trees against XGBoost's own prediction (reads no
 * catalog; see the top of gbdt.c). */
int bench_gbdt(bench_ctx *ctx, int argc, char **argv);
/* batch.c: every user of a data set through recsys_recommend_batch (reads no catalog; see
 * the top of batch.c). */
int bench_batch(bench_ctx *ctx, int argc, char **argv);
/* online.c: a simulated A/B test, A/A test and interleaving test replayed from the protocol's
 * test part (reads no catalog; see the top of online.c). */
int bench_online(bench_ctx *ctx, int argc, char **argv);
/* llm.c: the LLM layer (re-ranking, explanations) against simulated LLMs on the protocol's
 * split (reads no catalog; see the top of llm.c). */
int bench_llm(bench_ctx *ctx, int argc, char **argv);
/* llmlock.c: feedback latency while requests wait for a slow simulated LLM (reads no catalog;
 * see the top of llmlock.c). */
int bench_llmlock(bench_ctx *ctx, int argc, char **argv);

/** Appends a row to the table main prints at the end. */
void bench_add_row(const bench_row *row);

/** {"p50_us", "p95_us", "p99_us", rate_key} of a summary; fields not measured are left out. */
json_t *bench_summary_json(const stats_summary *s, const char *rate_key);

/** Prints "recsys-bench: what: <status>: recsys_last_error()" and exits 1. */
_Noreturn void bench_fail(const char *what);
#define BENCH_CHECK(call, what)                                                               \
    do {                                                                                      \
        if ((call) != RECSYS_OK)                                                              \
            bench_fail(what);                                                                 \
    } while (0)

/** Prints the message and the usage text on stderr and exits 2. */
_Noreturn void bench_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** The value of option argv[*i] (advancing *i), or a usage error when it is missing. */
const char *bench_arg(int argc, char **argv, int *i);
/** Parses a whole decimal number in [min, max], or a usage error naming the option. */
long bench_long(const char *opt, const char *text, long min, long max);

/** Progress on stderr, only when stderr is a terminal (a line rewritten in place). */
void bench_progress(const bench_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/** Clears the progress line (call before printing results to stdout). */
void bench_progress_clear(const bench_ctx *ctx);

/** A new engine over store (NULL = the memory store; the engine owns it), seed fixed,
 *  RECSYS_OPT_NOW = BENCH_NOW, the catalog loaded. Exits 1 on failure. */
recsys_engine *bench_engine(const bench_ctx *ctx, const recsys_store_vtable *store);

/* dataset.c: the one way the subcommands read a data set of the evaluation protocol and load
 * it into an engine (see the top of dataset.c). */
typedef struct bench_dataset {
    const char *name;           /* --dataset: "ml-100k", "ml-latest-small" or "csv" */
    recsys_eval_dataset *pub;   /* the public reading: engine ids, options, loading */
    recsys__eval_data d;        /* the internal reading: dense users, items, interactions */
    recsys__eval_part train, test, fit, val;
    recsys__eval_items meta;    /* with BENCH_DATASET_META, when it could be read */
    recsys__eval_genres genres; /* built from meta */
    bool have_meta, have_genres;
    char meta_error[512];       /* why the metadata could not be read ("" = it was) */
    int64_t shift;              /* added to every timestamp given to an engine */
    const char **item_key;      /* engine id per dense item (sorted; owned by pub) */
    const char **user_key;      /* engine id per dense user (owned by pub) */
} bench_dataset;
#define BENCH_DATASET_META 0x1u /* also read the item metadata (a failure is not fatal) */

/** Reads and splits data set `dataset` under --data `data` (csv: the file itself) with
 *  variant (RECSYS_EVAL_VARIANT_*), both publicly and internally; items_path: csv only.
 *  cmd names the subcommand in messages. Exits 1 on failure, 2 on a bad name. */
void bench_dataset_open(bench_dataset *ds, const char *cmd, const char *data,
                        const char *dataset, int variant, const char *items_path, unsigned flags);
void bench_dataset_free(bench_dataset *ds);
/** The dense index of an engine item id, or UINT32_MAX. */
uint32_t bench_dataset_item(const bench_dataset *ds, const char *id);
/** The engine clock of a model trained on p (a part of ds): its last timestamp + 1, shifted
 *  (as recsys_eval_dataset_configure sets it). */
int64_t bench_dataset_now(const bench_dataset *ds, const recsys__eval_part *p);
/** A new engine (memory store, BENCH_SEED) with the protocol's options for part
 *  (recsys_eval_dataset_configure). Exits 1 on failure. */
recsys_engine *bench_dataset_engine(const bench_dataset *ds, int32_t part);
/** recsys_eval_dataset_feed(part, flags) with a progress line naming label. Exits 1. */
void bench_dataset_feed(const bench_ctx *ctx, const bench_dataset *ds, recsys_engine *e,
                        int32_t part, uint32_t flags, const char *label);
#define BENCH_PIPELINE_MAX 8 /* sources of a named pipeline, at most */
/** The sources of the named pipeline name[0..len) (popular, itemknn, rp3beta, ease, ials,
 *  content, hybrid) into out[0..BENCH_PIPELINE_MAX); returns their count, 0 for another name. */
size_t bench_pipeline_sources(const char *name, size_t len, const char **out);
/** Every candidate source off, then on[0..n) on (for pipeline, named in messages). */
void bench_sources_enable(recsys_engine *e, const char *const *on, size_t n,
                          const char *pipeline);

/** A small fixed-seed generator (splitmix64) for picking users. */
static inline uint64_t bench_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#endif
