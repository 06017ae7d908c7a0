/*
 * main.c - recsys-bench: subcommand dispatch, the common options, the machine, the table.
 *
 * Usage: recsys-bench <latency|ingest|all|eval|report|gbdt> [--catalog FILE] [--repeat R]
 *        [--json] [options]
 *
 * House rule: figures are medians of R repeated runs, each compared with a baseline measured
 * in the same run, on the machine printed first. Nothing here asserts a wall-clock time.
 * With --json the last line of stdout is one JSON object:
 *   {"command": "latency"|"ingest"|"all", "version": "0.1.0", "catalog": path,
 *    "machine": {"nproc": n, "cpu": model}, "latency": {...}, "ingest": [...]}
 * ("latency" and "ingest" are documented at the top of latency.c and ingest.c). `eval` reads
 * no catalog (no "catalog" key) and prints its own table; its keys are in eval.c. `gbdt`
 * reads no catalog either; its key "gbdt" is documented in gbdt.c. `report`
 * runs the others as child processes and writes a Markdown report (report.c).
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static const char usage_text[] =
    "usage: recsys-bench <command> [--catalog FILE] [--repeat R] [--json] [options]\n"
    "commands:\n"
    "  latency [--users N] [--requests Q] [--top N]\n"
    "      recommend latency (p50/p95/p99 us, req/s) against a popular-only baseline\n"
    "  latency --items N [--dim D] [--users U] [--queries Q] [--top N] [--events E]\n"
    "      a synthetic catalog of N items with D-float embeddings (default 64): all sources\n"
    "      and the vector source alone against the bare faiss search of the same index\n"
    "  ingest [--events N] [--store memory|file] [--sync os|full] [--batch B]\n"
    "      feedback events/s, one per call and in JSON batches, against a raw-append baseline\n"
    "  all\n"
    "      latency, then ingest with the memory store and the file store (sync os, full)\n"
    "  eval --data DIR --dataset ml-100k|ml-latest-small|csv [--variant all|ge4]\n"
    "       --pipeline popular|itemknn|rp3beta|ease|ials|content|hybrid|SRC,SRC,...\n"
    "       [--grid small|none] [--set OPTION=VALUE]... [--items FILE]\n"
    "      quality under ../shared/data/EVAL_PROTOCOL.md (for csv, --data is the file of\n"
    "      user_id,item_id[,timestamp[,value]] and --items an optional item_id,title,tags file)\n"
    "  report [--out DIR] [--data DIR] [--quick] [--max-items N] [--selftest]\n"
    "      eval (7 pipelines), latency --items 10k/100k/1M (up to N, default 1000000) and\n"
    "      ingest, each as a child process, written up as DIR/report.md with SVG plots\n"
    "      (default build/report; --data: $RECSYS_DATA_DIR, else ../shared/data; --quick:\n"
    "      at most 100k items, latency --queries 300 --repeat 1; --selftest: check the SVG\n"
    "      writer)\n"
    "  gbdt [--rows N] [--trees T] [--depth D] [--features F] [--calls Q] [--train-rows N]\n"
    "       [--missing PCT]\n"
    "      native LambdaMART tree scoring against XGBoost's inplace predict (one thread each)\n"
    "  batch --data DIR [--dataset ml-100k|ml-latest-small] [--pipeline SRC[,SRC...]]\n"
    "        [--threads T] [--users N]\n"
    "      every user of the data set in one recsys_recommend_batch call (default ials,\n"
    "      threads 0 = one per processor); bindings/python/bench_batch.py is its Python twin\n"
    "  online --data DIR --dataset ml-100k|ml-latest-small --arms A,B [--top K]\n"
    "      a SIMULATION: the protocol's test part replayed as traffic (a click on every shown\n"
    "      test item); an A/B test of pipeline A against B, an A/A test of A, and a team-draft\n"
    "      interleaving test of A against B, with the experiment reports\n"
    "  llm --data DIR --dataset ml-100k|ml-latest-small --pipeline NAME\n"
    "      --sim oracle:ACC|random|adversarial [--rounds R] [--rerank-n N] [--weight W]\n"
    "      [--deadline-ms MS] [--unavailable F] [--set OPTION=VALUE]...\n"
    "      the LLM layer (re-ranking, checked explanations) against SIMULATED LLMs:\n"
    "      NDCG@10 with and without, invented items and false explanations served\n"
    "  llmlock [--llm-ms MS] [--requesters R] [--feedback N] [--every-ms P]\n"
    "      feedback latency while R threads' requests wait for a SIMULATED LLM of MS ms\n"
    "common options:\n"
    "  --catalog FILE  catalog JSON (default data/catalog.json)\n"
    "  --repeat R      runs per figure, 1..64; the median is reported (default 5 / 3)\n"
    "  --json          end the output with one line holding a JSON object of the figures\n";

#define MAX_ROWS 32
static bench_row rows[MAX_ROWS];
static size_t nrows;

void bench_add_row(const bench_row *row)
{
    if (nrows < MAX_ROWS)
        rows[nrows++] = *row;
}

json_t *bench_summary_json(const stats_summary *s, const char *rate_key)
{
    json_t *o = json_object();
    const char *key[4] = { "p50_us", "p95_us", "p99_us", rate_key };
    double v[4] = { s->p50, s->p95, s->p99, s->rate };
    for (int k = 0; k < 4; k++)
        if (v[k] >= 0)
            json_object_set_new(o, key[k], json_real(v[k]));
    return o;
}

_Noreturn void bench_fail(const char *what)
{
    fprintf(stderr, "recsys-bench: %s: %s: %s\n", what, recsys_status_str(recsys_last_status()),
            recsys_last_error());
    exit(1);
}

_Noreturn void bench_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "recsys-bench: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage_text);
    exit(2);
}

const char *bench_arg(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        bench_usage("option %s needs a value", argv[*i]);
    return argv[++*i];
}

long bench_long(const char *opt, const char *text, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        bench_usage("%s: '%s' is not a whole number in %ld..%ld", opt, text, min, max);
    return v;
}

void bench_progress(const bench_ctx *ctx, const char *fmt, ...)
{
    if (!ctx->progress)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\r\033[K");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

void bench_progress_clear(const bench_ctx *ctx)
{
    if (ctx->progress)
        fprintf(stderr, "\r\033[K");
}

recsys_engine *bench_engine(const bench_ctx *ctx, const recsys_store_vtable *store)
{
    recsys_engine *e = NULL;
    int64_t max_json = 0;
    RECSYS_INIT(recsys_engine_opts, opts, .seed = 7, .store = store);
    BENCH_CHECK(recsys_engine_new(&opts, &e), "creating the engine");
    BENCH_CHECK(recsys_engine_set_int(e, RECSYS_OPT_NOW, BENCH_NOW), "setting the clock");
    BENCH_CHECK(recsys_engine_get_int(e, RECSYS_OPT_MAX_JSON_BYTES, &max_json), "max json");
    if (max_json < (int64_t)ctx->catalog_len)
        BENCH_CHECK(recsys_engine_set_int(e, RECSYS_OPT_MAX_JSON_BYTES, (int64_t)ctx->catalog_len),
                    "raising the JSON limit");
    BENCH_CHECK(recsys_catalog_upsert_json(e, ctx->catalog, ctx->catalog_len),
                "loading the catalog");
    return e;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
            *len = fread(buf, 1, (size_t)n, f);
            buf[*len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

/* The CPU model from /proc/cpuinfo ("model name", or "Model"/"cpu model" elsewhere). */
static void cpu_model(char *buf, size_t cap)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(buf, cap, "unknown");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon || (strncmp(line, "model name", 10) && strncmp(line, "Model", 5) &&
                       strncmp(line, "cpu model", 9)))
            continue;
        colon += 1 + strspn(colon + 1, " \t");
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(buf, cap, "%s", colon);
        break;
    }
    if (f)
        fclose(f);
}

static void print_table(void)
{
    printf("\n%-8s %-42s %10s %9s %9s %9s %12s %-6s %s\n", "bench", "variant", "ops x runs",
           "p50 us", "p95 us", "p99 us", "rate", "unit", "vs base");
    for (size_t i = 0; i < nrows; i++) {
        const bench_row *r = &rows[i];
        char cell[4][24], ratio[24] = "-";
        double v[4] = { r->s.p50, r->s.p95, r->s.p99, r->s.rate };
        for (int k = 0; k < 4; k++)
            snprintf(cell[k], sizeof cell[k],
                     v[k] < 0 ? "-" : k == 3 ? "%.0f" : v[k] < 10 ? "%.2f" : "%.1f", v[k]);
        if (r->ratio >= 0)
            snprintf(ratio, sizeof ratio, "%.2fx", r->ratio);
        printf("%-8s %-42s %10s %9s %9s %9s %12s %-6s %s\n", r->bench, r->variant, r->count,
               cell[0], cell[1], cell[2], cell[3], r->unit, ratio);
    }
    printf("(medians over the runs; \"vs base\" = time per operation / the baseline's, "
           "same run)\n");
}

int main(int argc, char **argv)
{
    bench_ctx ctx = { .catalog_path = "data/catalog.json", .progress = isatty(2) };
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0;
    if (!rest)
        return 1;
    for (int i = 1; i < argc; i++) { /* common options anywhere; the rest to the subcommand */
        if (!strcmp(argv[i], "--catalog"))
            ctx.catalog_path = bench_arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--repeat"))
            ctx.repeat = (int)bench_long("--repeat", bench_arg(argc, argv, &i), 1, STATS_MAX_RUNS);
        else if (!strcmp(argv[i], "--json"))
            ctx.json = 1;
        else
            rest[nrest++] = argv[i];
    }
    if (nrest == 0)
        bench_usage("no command given");
    const char *cmd = rest[0];
    int all = !strcmp(cmd, "all"), eval = !strcmp(cmd, "eval");
    int report = !strcmp(cmd, "report");
    int gbdt = !strcmp(cmd, "gbdt"); /* like eval, reads no catalog */
    int batch = !strcmp(cmd, "batch"); /* reads no catalog either (batch.c) */
    gbdt |= batch;                     /* the same checks below; dispatched apart */
    int online = !strcmp(cmd, "online"); /* reads no catalog either (online.c) */
    gbdt |= online;
    int llm = !strcmp(cmd, "llm"); /* reads no catalog either (llm.c) */
    gbdt |= llm;
    int llmlock = !strcmp(cmd, "llmlock"); /* reads no catalog either (llmlock.c) */
    gbdt |= llmlock;
    if (!all && !eval && !report && !gbdt && strcmp(cmd, "latency") && strcmp(cmd, "ingest"))
        bench_usage("unknown command '%s'", cmd);
    if (all && nrest > 1)
        bench_usage("all takes only the common options, not '%s'", rest[1]);
    if (!eval && !report && !gbdt &&
        !(ctx.catalog = read_file(ctx.catalog_path, &ctx.catalog_len))) {
        fprintf(stderr, "recsys-bench: cannot read the catalog %s: %s\n", ctx.catalog_path,
                strerror(errno));
        free(rest);
        return 1;
    }

    char cpu[256];
    cpu_set_t set; /* what nproc(1) prints: the CPUs this process may run on */
    long nproc = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                             : sysconf(_SC_NPROCESSORS_ONLN);
    cpu_model(cpu, sizeof cpu);
    printf("recsys-bench: librecsys %s, %s; machine: %ld CPUs (nproc), %s\n",
           recsys_version_string(), cmd, nproc, cpu);
    ctx.out = json_object();
    json_object_set_new(ctx.out, "command", json_string(cmd));
    json_object_set_new(ctx.out, "version", json_string(recsys_version_string()));
    if (!eval && !report && !gbdt)
        json_object_set_new(ctx.out, "catalog", json_string(ctx.catalog_path));
    json_object_set_new(ctx.out, "machine", json_pack("{s:I,s:s}", "nproc", (json_int_t)nproc,
                                                      "cpu", cpu));
    int rc = 0;
    if (all) {
        static char *mem[] = { "ingest", "--store", "memory" };
        static char *os[] = { "ingest", "--store", "file", "--sync", "os" };
        static char *full[] = { "ingest", "--store", "file", "--sync", "full" };
        bench_latency(&ctx, 1, rest);
        bench_ingest(&ctx, 3, mem);
        bench_ingest(&ctx, 5, os);
        bench_ingest(&ctx, 5, full);
    } else if (eval) {
        bench_eval(&ctx, nrest, rest);
    } else if (report) {
        rc = bench_report(&ctx, nrest, rest);
    } else if (batch) {
        bench_batch(&ctx, nrest, rest);
    } else if (online) {
        bench_online(&ctx, nrest, rest);
    } else if (llm) {
        bench_llm(&ctx, nrest, rest);
    } else if (llmlock) {
        bench_llmlock(&ctx, nrest, rest);
    } else if (gbdt) {
        bench_gbdt(&ctx, nrest, rest);
    } else if (!strcmp(cmd, "latency")) {
        bench_latency(&ctx, nrest, rest);
    } else {
        bench_ingest(&ctx, nrest, rest);
    }
    bench_progress_clear(&ctx);
    if (!eval && !report && !batch && !online && !llm)
        print_table();
    if (ctx.json) {
        char *text = json_dumps(ctx.out, JSON_COMPACT | JSON_REAL_PRECISION(10));
        if (!text) {
            fprintf(stderr, "recsys-bench: cannot format the JSON\n");
            return 1;
        }
        printf("%s\n", text);
        free(text);
    }
    json_decref(ctx.out);
    free(ctx.catalog);
    free(rest);
    return rc;
}
