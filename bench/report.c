/*
 * report.c - `recsys-bench report [--out DIR] [--data DIR] [--quick] [--max-items N]
 *             [--selftest]`: the standard benchmarks in one go, written up as DIR/report.md
 * with SVG plots (default DIR build/report; --data defaults to $RECSYS_DATA_DIR, else
 * ../shared/data).
 *
 * The standard set, each run as a child process of this same binary (/proc/self/exe) with
 * --json, so that every run has its own memory and its own peak RSS:
 *   eval --data D --dataset ml-100k --variant all --pipeline P --json
 *       for P in popular, itemknn, rp3beta, ease, ials, content, hybrid (eval.c);
 *   latency --items N --dim 64 --json   for N in 10000, 100000, 1000000 up to --max-items
 *       (default 1000000); --quick means --max-items 100000 (unless given) and
 *       --queries 300 --repeat 1 (scale.c);
 *   ingest --store memory --json, ingest --store file --sync os --json,
 *   ingest --store file --sync full --json   (ingest.c; what `all` runs).
 * A --repeat R or --catalog FILE given to report is passed on to latency and ingest.
 *
 * Each child's stdout and stderr go to DIR/logs/NAME.out and .err; the last line of stdout is
 * read as one JSON object. A child that exits non-zero, dies on a signal or ends without the
 * JSON it should print is a failure: its stderr tail goes to stderr and to the report, the
 * other runs go on, and report exits 1. DIR/report.md, the plots (latency.svg, quality.svg,
 * ingest.svg, each only when it has figures) and DIR/report.json (every run's command, time,
 * peak RSS, status and JSON) are written again after every run, so an interrupted report
 * keeps what it has. Progress (one line per run: what runs, then its time) goes to stderr
 * when stderr is a terminal.
 *
 * --selftest writes three charts from fixed numbers (a line chart over log axes with a gap,
 * a bar chart with reference marks, a grouped bar chart over a log axis; texts that need
 * escaping) to a temporary directory, checks each with svg_check_wellformed() and, when it is
 * on the PATH, with `xmllint --noout`, checks that both reject a broken file, and removes
 * the directory. Exit 0 when every check passes.
 *
 * JSON (--json, the last line): the common keys of main.c plus "report" (the path of
 * report.md), "runs", "failed".
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "svg.h"

#define MAX_RUNS 16
#define MAX_ARGS 24
#define TAIL_LINES 15
#define TAIL_BYTES 3000

typedef enum { RUN_EVAL, RUN_LATENCY, RUN_INGEST } run_kind;
enum { PENDING, DONE, FAILED };

typedef struct run {
    run_kind kind;
    char name[48];         /* the log files' stem: eval-popular, latency-10000, ingest-memory */
    char label[64];        /* what the progress line and the tables call it */
    long items;            /* latency: --items */
    char *argv[MAX_ARGS];  /* argv[0] "recsys-bench", NULL-terminated, owned */
    int argc;
    int state;
    double secs;
    long rss_mb;           /* ru_maxrss of the child */
    char status[512];      /* "ok", "exit 1", "killed by signal 9 (Killed)", ... */
    json_t *res;           /* the JSON object of its last stdout line */
    char *tail;            /* the end of its stderr, when it failed */
} run;

typedef struct report {
    bench_ctx *ctx;
    const char *out, *data;
    int quick, explicit_max;
    long max_items;
    char exe[4096];        /* the binary, for the command lines */
    char self[1024];       /* the report's own command line */
    char date[64], loadavg[64], kernel[256];
    uint64_t t0;
    run runs[MAX_RUNS];
    int nruns;
} report;

static const char *const pipelines[] = { "popular", "itemknn", "rp3beta", "ease",
                                         "ials",    "content", "hybrid" };
static const long sizes[] = { 10000, 100000, 1000000 };

/* The figures the protocol's issue gives for comparison (variant all, test NDCG@10). */
static const struct {
    const char *pipeline;
    double ndcg;
    const char *model;
} refs[] = {
    { "popular", 0.1111, "MostPopular" }, { "itemknn", 0.1742, "ItemKNN" },
    { "rp3beta", 0.1799, "RP3beta" },     { "ease", 0.1916, "EASE" },
    { "ials", 0.1897, "iALS" },
};

static _Noreturn void oom(void)
{
    fprintf(stderr, "recsys-bench report: out of memory\n");
    exit(1);
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        oom();
    return p;
}

/* ------------------------------------------------------------------ small helpers */

static double ref_of(const char *pipeline, const char **model)
{
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++)
        if (!strcmp(refs[i].pipeline, pipeline)) {
            if (model)
                *model = refs[i].model;
            return refs[i].ndcg;
        }
    return NAN;
}

static double jnum(const json_t *o, const char *key)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static json_t *jget(const json_t *o, const char *key)
{
    return o ? json_object_get(o, key) : NULL;
}

/* Numbers for the tables, from a small pool of buffers (several in one printf). */
static const char *fmt_pool(const char *tag, double v, int decimals, const char *unit)
{
    static char pool[32][48];
    static unsigned next;
    char *b = pool[next++ % 32], si[32];
    if (!isfinite(v))
        return "-";
    if (!strcmp(tag, "us")) /* microseconds: 3 significant digits or whole numbers */
        decimals = v >= 100 ? 0 : v >= 10 ? 1 : 2;
    if (!strcmp(tag, "si"))
        snprintf(b, sizeof pool[0], "%s%s", svg_format_si(si, sizeof si, v), unit);
    else
        snprintf(b, sizeof pool[0], "%.*f%s", decimals, v, unit);
    return b;
}
#define F(v, d) fmt_pool("", (v), (d), "")
#define FU(v, d, unit) fmt_pool("", (v), (d), (unit))
#define US(v) fmt_pool("us", (v), 0, "")
#define SI(v) fmt_pool("si", (v), 0, "")
#define SIU(v, unit) fmt_pool("si", (v), 0, (unit))
#define RATIO(v) fmt_pool("", (v), 2, "x")

/* Milliseconds, as seconds from 10 s on. */
static const char *ms(double v)
{
    return v >= 10000 ? FU(v / 1000, 1, " s") : FU(v, 0, " ms");
}

static const char *duration(char *buf, size_t cap, double s)
{
    if (s < 60)
        snprintf(buf, cap, "%.1f s", s);
    else
        snprintf(buf, cap, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
    return buf;
}

/* A table cell: '|' escaped, newlines as spaces. */
static void md_cell(FILE *f, const char *s)
{
    for (; s && *s; s++)
        if (*s == '|')
            fputs("\\|", f);
        else
            fputc(*s == '\n' ? ' ' : *s, f);
}

/* A shell word, quoted when it needs to be. */
static void shell_word(FILE *f, const char *s)
{
    if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                        "_./=,:@+-%") == strlen(s)) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (; *s; s++)
        fputs(*s == '\'' ? "'\\''" : (char[2]){ *s, 0 }, f);
    fputc('\'', f);
}

static void command_line(FILE *f, const report *r, const run *x)
{
    shell_word(f, r->exe);
    for (int i = 1; i < x->argc; i++) {
        fputc(' ', f);
        shell_word(f, x->argv[i]);
    }
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            if (!(*p = c))
                break;
        }
    }
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t n = 0, cap = 1 << 14;
    char *s = malloc(cap);
    while (s) {
        n += fread(s + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        char *t = realloc(s, cap *= 2);
        if (!t)
            free(s);
        s = t;
    }
    fclose(f);
    if (!s)
        oom();
    s[n] = '\0';
    if (len)
        *len = n;
    return s;
}

/* Runs path with argv, stdout and stderr to the given descriptors (-1 = inherited), and
 * waits. Returns the wait status, or -1 with errno set when it cannot start. */
static int spawn(const char *path, char *const argv[], int fd_out, int fd_err,
                 struct rusage *ru)
{
    fflush(NULL); /* nothing buffered twice */
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if ((fd_out >= 0 && dup2(fd_out, 1) < 0) || (fd_err >= 0 && dup2(fd_err, 2) < 0))
            _exit(127);
        execv(path, argv);
        dprintf(2, "recsys-bench report: cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    int st;
    struct rusage dummy;
    while (wait4(pid, &st, 0, ru ? ru : &dummy) < 0)
        if (errno != EINTR)
            return -1;
    return st;
}

static void wait_status(char *buf, size_t cap, int st)
{
    if (WIFEXITED(st))
        snprintf(buf, cap, "exit %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, cap, "killed by signal %d (%s)%s", WTERMSIG(st), strsignal(WTERMSIG(st)),
                 WTERMSIG(st) == SIGKILL ? "; out of memory?" : "");
    else
        snprintf(buf, cap, "wait status %d", st);
}

/* ------------------------------------------------------------------ the runs */

static run *add_run(report *r, run_kind kind, const char *name, const char *label, ...)
{
    run *x = &r->runs[r->nruns++];
    memset(x, 0, sizeof *x);
    x->kind = kind;
    snprintf(x->name, sizeof x->name, "%s", name);
    snprintf(x->label, sizeof x->label, "%s", label);
    snprintf(x->status, sizeof x->status, "not run");
    x->argv[x->argc++] = xstrdup("recsys-bench");
    va_list ap;
    va_start(ap, label);
    for (const char *a; (a = va_arg(ap, const char *)) && x->argc < MAX_ARGS - 1;)
        x->argv[x->argc++] = xstrdup(a);
    va_end(ap);
    return x;
}

static void add_arg(run *x, const char *a)
{
    if (x->argc < MAX_ARGS - 1)
        x->argv[x->argc++] = xstrdup(a);
}

/* --repeat and --catalog of the report, for latency and ingest; then --json. */
static void add_common(const report *r, run *x)
{
    char buf[32];
    if (r->ctx->repeat) {
        snprintf(buf, sizeof buf, "%d", r->ctx->repeat);
        add_arg(x, "--repeat");
        add_arg(x, buf);
    } else if (r->quick && x->kind == RUN_LATENCY) {
        add_arg(x, "--repeat");
        add_arg(x, "1");
    }
    if (strcmp(r->ctx->catalog_path, "data/catalog.json")) {
        add_arg(x, "--catalog");
        add_arg(x, r->ctx->catalog_path);
    }
    add_arg(x, "--json");
}

static void plan(report *r)
{
    char name[48], label[64];
    for (size_t i = 0; i < sizeof pipelines / sizeof pipelines[0]; i++) {
        snprintf(name, sizeof name, "eval-%s", pipelines[i]);
        snprintf(label, sizeof label, "eval ml-100k %s", pipelines[i]);
        add_run(r, RUN_EVAL, name, label, "eval", "--data", r->data, "--dataset", "ml-100k",
                "--variant", "all", "--pipeline", pipelines[i], "--json", (char *)NULL);
    }
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (sizes[i] > r->max_items) { /* no stale logs of an earlier report */
            char p[4200];
            for (int k = 0; k < 2; k++) {
                snprintf(p, sizeof p, "%s/logs/latency-%ld.%s", r->out, sizes[i],
                         k ? "err" : "out");
                if (unlink(p) != 0 && errno != ENOENT)
                    fprintf(stderr, "recsys-bench report: cannot remove %s: %s\n", p,
                            strerror(errno));
            }
            continue;
        }
        char n[24];
        snprintf(n, sizeof n, "%ld", sizes[i]);
        snprintf(name, sizeof name, "latency-%ld", sizes[i]);
        snprintf(label, sizeof label, "latency %s items", SI((double)sizes[i]));
        run *x = add_run(r, RUN_LATENCY, name, label, "latency", "--items", n, "--dim", "64",
                         (char *)NULL);
        x->items = sizes[i];
        if (r->quick) {
            add_arg(x, "--queries");
            add_arg(x, "300");
        }
        add_common(r, x);
    }
    static const char *const stores[3][5] = {
        { "ingest-memory", "ingest memory", "memory", NULL, NULL },
        { "ingest-file-os", "ingest file, sync os", "file", "--sync", "os" },
        { "ingest-file-full", "ingest file, sync full", "file", "--sync", "full" },
    };
    for (int i = 0; i < 3; i++) {
        run *x = add_run(r, RUN_INGEST, stores[i][0], stores[i][1], "ingest", "--store",
                         stores[i][2], stores[i][3], stores[i][4], (char *)NULL);
        add_common(r, x);
    }
}

/* The end of a file: at most TAIL_LINES lines and TAIL_BYTES bytes. */
static char *tail_of(const char *path)
{
    char *s = slurp(path, NULL);
    if (!s)
        return xstrdup("(no stderr file)");
    size_t n = strlen(s);
    while (n && s[n - 1] == '\n')
        s[--n] = '\0';
    size_t b = n, lines = 0;
    while (b > 0 && n - b < TAIL_BYTES) {
        if (s[b - 1] == '\n' && ++lines == TAIL_LINES)
            break;
        b--;
    }
    char *t = xstrdup(n ? s + b : "(stderr is empty)");
    free(s);
    return t;
}

static const char *expected_key(run_kind k)
{
    return k == RUN_EVAL ? "ndcg@10" : k == RUN_LATENCY ? "latency" : "ingest";
}

static void run_one(report *r, run *x, int idx)
{
    char outp[4200], errp[4200], buf[32];
    snprintf(outp, sizeof outp, "%s/logs/%s.out", r->out, x->name);
    snprintf(errp, sizeof errp, "%s/logs/%s.err", r->out, x->name);
    if (r->ctx->progress) {
        fprintf(stderr, "report: [%d/%d] %s ... ", idx + 1, r->nruns, x->label);
        fflush(stderr);
    }
    int fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int fe = fo < 0 ? -1 : open(errp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    uint64_t t0 = stats_now_ns();
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    int st = -1;
    if (fo < 0 || fe < 0)
        snprintf(x->status, sizeof x->status, "cannot create %.300s: %s", fo < 0 ? outp : errp,
                 strerror(errno));
    else if ((st = spawn("/proc/self/exe", x->argv, fo, fe, &ru)) == -1)
        snprintf(x->status, sizeof x->status, "cannot start: %s", strerror(errno));
    if (fo >= 0)
        close(fo);
    if (fe >= 0)
        close(fe);
    x->secs = (double)(stats_now_ns() - t0) / 1e9;
    x->rss_mb = ru.ru_maxrss / 1024;
    x->state = FAILED;
    if (st != -1 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        wait_status(x->status, sizeof x->status, st);
    } else if (st != -1) {
        char *text = slurp(outp, NULL);
        size_t n = text ? strlen(text) : 0;
        while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
            text[--n] = '\0';
        char *line = text ? strrchr(text, '\n') : NULL;
        line = line ? line + 1 : text;
        json_error_t jerr;
        json_t *j = line && *line ? json_loads(line, 0, &jerr) : NULL;
        if (!line || !*line)
            snprintf(x->status, sizeof x->status, "exit 0 but nothing on stdout");
        else if (!j)
            snprintf(x->status, sizeof x->status, "the last line of stdout is not JSON: %.160s",
                     jerr.text);
        else if (!json_is_object(j))
            snprintf(x->status, sizeof x->status, "the last line of stdout is not an object");
        else if (!json_object_get(j, expected_key(x->kind)))
            snprintf(x->status, sizeof x->status, "its JSON has no \"%s\"",
                     expected_key(x->kind));
        else {
            x->res = json_incref(j);
            x->state = DONE;
            snprintf(x->status, sizeof x->status, "ok");
        }
        json_decref(j);
        free(text);
    }
    if (r->ctx->progress)
        fprintf(stderr, "%s%s\n", x->state == DONE ? "" : "FAILED, ",
                duration(buf, sizeof buf, x->secs));
    if (x->state == FAILED) {
        x->tail = tail_of(errp);
        fprintf(stderr, "recsys-bench report: %s failed (%s) after %s:\n  ", x->label, x->status,
                duration(buf, sizeof buf, x->secs));
        command_line(stderr, r, x);
        fprintf(stderr, "\n  stderr (the end of %s):\n%s\n", errp, x->tail);
    }
}

/* ------------------------------------------------------------------ plots */

static const json_t *lat_of(const run *x)
{
    return x->state == DONE ? json_object_get(x->res, "latency") : NULL;
}

static const json_t *ingest_of(const run *x)
{
    return x->state == DONE ? json_array_get(json_object_get(x->res, "ingest"), 0) : NULL;
}

static int plot_failed(const char *path)
{
    fprintf(stderr, "recsys-bench report: cannot write %s: %s\n", path, strerror(errno));
    return 1;
}

/* Writes the plots that have figures (removing those that have none, from an older report);
 * has[k] tells report.md which exist. Returns the number of plots it could not write. */
static int write_plots(const report *r, int has[3])
{
    char path[4200];
    int bad = 0;
    static const char *const files[3] = { "quality.svg", "latency.svg", "ingest.svg" };

    /* quality: NDCG@10 per pipeline, the references as marks */
    svg_bar bars[MAX_RUNS * 3];
    size_t nb = 0;
    for (int i = 0; i < r->nruns; i++) {
        const run *x = &r->runs[i];
        if (x->kind != RUN_EVAL)
            continue;
        const char *p = x->argv[x->argc - 2]; /* --pipeline P --json */
        bars[nb++] = (svg_bar){ .label = p, .value = x->state == DONE ? jnum(x->res, "ndcg@10")
                                                                      : NAN,
                                .ref = ref_of(p, NULL) };
        has[0] |= x->state == DONE;
    }
    static const char *const qlegend[] = { "librecsys, test NDCG@10" };
    svg_chart qc = { .title = "Quality on MovieLens 100K (EVAL_PROTOCOL, variant all)",
                     .x = { .label = "NDCG@10 on the test split (higher is better)" },
                     .legend = qlegend, .nlegend = 1,
                     .ref_name = "reference (protocol / issue)", .decimals = 4 };

    /* latency against catalog size */
    double xs[3], y[4][3];
    size_t np = 0;
    char xlabel[160] = "catalog size (items, log scale); faiss index:";
    for (int i = 0; i < r->nruns && np < 3; i++) {
        const json_t *l = lat_of(&r->runs[i]);
        if (!l)
            continue;
        xs[np] = (double)r->runs[i].items;
        const char *ix = json_string_value(jget(l, "index"));
        size_t used = strlen(xlabel);
        snprintf(xlabel + used, sizeof xlabel - used, "%s %s %s", np ? "," : "",
                 SI(xs[np]), ix ? ix : "?");
        y[0][np] = jnum(jget(l, "full"), "p50_us");
        y[1][np] = jnum(jget(l, "full"), "p99_us");
        y[2][np] = jnum(jget(l, "vector"), "p50_us");
        y[3][np] = jnum(jget(l, "faiss"), "p50_us");
        np++;
    }
    has[1] = np > 0;
    svg_series ls[4] = {
        { "full p50", xs, y[0], np, 0 },
        { "full p99", xs, y[1], np, 1 },
        { "vector only p50", xs, y[2], np, 0 },
        { "bare faiss p50", xs, y[3], np, 0 },
    };
    svg_chart lc = { .title = "Recommend latency against catalog size (64-d, top 10)",
                     .x = { .label = xlabel, .log = 1,
                            .ticks = xs, .nticks = np },
                     .y = { .label = "latency per request (\xc2\xb5s, log scale)", .log = 1,
                            .plain = 1 } };

    /* ingest: events/s per store mode */
    svg_bar ib[9];
    size_t ni = 0;
    char batch_name[48] = "JSON batches";
    static const char *const mode_label[3] = { "memory", "file, sync os", "file, sync full" };
    int mode = 0;
    for (int i = 0; i < r->nruns; i++) {
        if (r->runs[i].kind != RUN_INGEST)
            continue;
        const json_t *g = ingest_of(&r->runs[i]);
        const char *lab = mode_label[mode++ % 3];
        if (!g)
            continue;
        if (isfinite(jnum(g, "batch")))
            snprintf(batch_name, sizeof batch_name, "JSON batch of %.0f", jnum(g, "batch"));
        static const char *const k[3] = { "single", "batched", "baseline" };
        for (int m = 0; m < 3 && ni < 9; m++)
            ib[ni++] = (svg_bar){ .label = lab, .value = jnum(jget(g, k[m]), "eps"), .color = m,
                                  .ref = NAN };
    }
    has[2] = ni > 0;
    const char *ilegend[3] = { "1 event per call", batch_name, "baseline (no library)" };
    svg_chart ic = { .title = "Feedback ingest rate per store mode",
                     .x = { .label = "events per second (log scale, higher is better)",
                            .log = 1 },
                     .legend = ilegend, .nlegend = 3, .decimals = -1 };

    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", r->out, files[k]);
        if (!has[k]) {
            if (unlink(path) != 0 && errno != ENOENT)
                bad += plot_failed(path);
            continue;
        }
        int rc = k == 0   ? svg_bar_chart(path, &qc, bars, nb)
                 : k == 1 ? svg_line_chart(path, &lc, ls, 4)
                          : svg_bar_chart(path, &ic, ib, ni);
        if (rc != 0) {
            has[k] = 0;
            bad += plot_failed(path);
        }
    }
    return bad;
}

/* ------------------------------------------------------------------ report.md */

static void md_machine(FILE *f, const report *r)
{
    const json_t *m = jget(r->ctx->out, "machine");
    const char *omp = getenv("OMP_NUM_THREADS"), *blas = getenv("OPENBLAS_NUM_THREADS");
    char buf[32];
    fprintf(f, "## Machine\n\n| | |\n|---|---|\n");
    fprintf(f, "| CPUs (`nproc`) | %.0f |\n| CPU model | ", jnum(m, "nproc"));
    md_cell(f, json_string_value(jget(m, "cpu")));
    fprintf(f, " |\n| kernel | ");
    md_cell(f, r->kernel);
    fprintf(f, " |\n| load average at start (1, 5, 15 min) | %s |\n", r->loadavg);
    fprintf(f, "| library | librecsys %s (`recsys_version_string()`; header "
               "`RECSYS_VERSION_STRING` %s) |\n", recsys_version_string(), RECSYS_VERSION_STRING);
    fprintf(f, "| threads | OMP_NUM_THREADS %s, OPENBLAS_NUM_THREADS %s |\n",
            omp ? omp : "unset", blas ? blas : "unset");
    fprintf(f, "| date | %s |\n", r->date);
    fprintf(f, "| report time | %s |\n\n",
            duration(buf, sizeof buf, (double)(stats_now_ns() - r->t0) / 1e9));
    fprintf(f, "Every figure comes from a child process of its own, started by the report, and "
               "is the median of the runs that subcommand makes. Timings depend on what else "
               "the machine is doing: on a small machine shared with other work (%.0f CPUs "
               "here) they vary from one report to the next by more than the difference "
               "between close variants. Compare reports from the same machine, and repeat a "
               "run before drawing a conclusion from a small difference.\n\n",
            jnum(m, "nproc"));
}

static void md_runs(FILE *f, const report *r)
{
    char buf[32];
    fprintf(f, "## Runs\n\n| # | run | wall time | peak RSS | status |\n|---|---|---|---|---|\n");
    for (int i = 0; i < r->nruns; i++) {
        const run *x = &r->runs[i];
        fprintf(f, "| %d | %s | %s | ", i + 1, x->label,
                x->state == PENDING ? "-" : duration(buf, sizeof buf, x->secs));
        if (x->state == PENDING)
            fputs("- | ", f);
        else
            fprintf(f, "%ld MB | ", x->rss_mb);
        md_cell(f, x->state == PENDING ? "pending" : x->status);
        fputs(" |\n", f);
    }
    fprintf(f, "\nThe report ran `%s`, which ran these command lines, one process each "
               "(stdout and stderr in `logs/`; peak RSS is the child's `ru_maxrss`):\n\n"
               "```sh\n", r->self);
    for (int i = 0; i < r->nruns; i++) {
        command_line(f, r, &r->runs[i]);
        fputc('\n', f);
    }
    fputs("```\n\n", f);
}

static void md_quality(FILE *f, const report *r, int plot)
{
    const json_t *first = NULL;
    for (int i = 0; i < r->nruns && !first; i++)
        if (r->runs[i].kind == RUN_EVAL && r->runs[i].state == DONE)
            first = r->runs[i].res;
    fprintf(f, "## Quality: MovieLens 100K\n\n`eval --dataset ml-100k --variant all`: "
               "`../shared/data/EVAL_PROTOCOL.md` (per-user temporal split, settings chosen "
               "on validation from a small grid, full ranking of the unseen items); test-split "
               "figures");
    if (first)
        fprintf(f, ", %.0f users, %.0f items, %.0f train / %.0f test interactions",
                jnum(first, "users"), jnum(first, "items"), jnum(first, "train"),
                jnum(first, "test"));
    fputs(".\n\n", f);
    if (plot)
        fputs("![NDCG@10 per pipeline, with the reference figures as marks](quality.svg)\n\n",
              f);
    fputs("| pipeline | NDCG@10 | recall@10 | coverage@10 | train_s | reference NDCG@10 | "
          "vs reference | chosen setting |\n|---|---|---|---|---|---|---|---|\n", f);
    for (int i = 0; i < r->nruns; i++) {
        const run *x = &r->runs[i];
        if (x->kind != RUN_EVAL)
            continue;
        const char *p = x->argv[x->argc - 2], *model = NULL;
        const json_t *j = x->state == DONE ? x->res : NULL;
        double ref = ref_of(p, &model), nd = jnum(j, "ndcg@10");
        fprintf(f, "| %s | %s | %s | %s | %s | ", p, F(nd, 4), F(jnum(j, "recall@10"), 4),
                F(jnum(j, "coverage@10"), 4), F(jnum(j, "train_s"), 3));
        if (isfinite(ref))
            fprintf(f, "%.4f (%s) | ", ref, model);
        else
            fputs("- | ", f);
        if (isfinite(ref) && isfinite(nd))
            fprintf(f, "%+.1f%% | ", (nd / ref - 1) * 100);
        else
            fputs("- | ", f);
        const char *key;
        json_t *v;
        int n = 0;
        json_object_foreach(jget(j, "chosen"), key, v) {
            const char *dot = strrchr(key, '.');
            fprintf(f, "%s%s=%g", n++ ? ", " : "", dot ? dot + 1 : key, json_number_value(v));
        }
        fprintf(f, "%s |\n", j ? (n ? "" : "defaults") : x->state == PENDING ? "pending"
                                                                             : "failed");
    }
    const json_t *mp = jget(first, "mostpop");
    if (mp)
        fprintf(f, "| MostPopular (protocol section 7, same split, lib/eval) | %s | %s | %s | "
                   "- | 0.1111 (MostPopular) | %+.1f%% | - |\n", F(jnum(mp, "ndcg@10"), 4),
                F(jnum(mp, "recall@10"), 4), F(jnum(mp, "coverage@10"), 4),
                (jnum(mp, "ndcg@10") / 0.1111 - 1) * 100);
    fputs("\nReference figures: ItemKNN 0.1742, RP3beta 0.1799, iALS 0.1897, EASE 0.1916 are "
          "straightforward numpy implementations of the same models under the same protocol "
          "(from the issue); MostPopular 0.1111 is EVAL_PROTOCOL.md section 7 (0.111115). The "
          "library's `popular` source is a time-decayed count, not the protocol's MostPopular, "
          "so the two differ a little; `hybrid` merges itemknn, rp3beta, ease, ials and "
          "popular and has no reference. `train_s` is the one `recsys_refresh` of the final "
          "model (tuning not included: `tune_s` is in report.json).\n\n", f);
}

static void md_latency(FILE *f, const report *r, int plot)
{
    fprintf(f, "## Recommend latency at catalog scale\n\n`latency --items N --dim 64`: a "
               "synthetic catalog with 64-d embeddings, 10000 users (N/10 below 100k items) "
               "with 8 events each, top 10, one request thread. *full* is the whole recommend "
               "path (every default source, the filters, the ranker), *vector* the vector "
               "source alone, *bare faiss* the same faiss index searched directly "
               "(`bench/scale.c`). Microseconds per request.\n\n");
    int any = 0;
    for (int i = 0; i < r->nruns; i++)
        any |= r->runs[i].kind == RUN_LATENCY;
    if (!any) {
        fprintf(f, "No catalog size up to --max-items %ld.\n\n", r->max_items);
        return;
    }
    if (plot)
        fputs("![Recommend latency against catalog size](latency.svg)\n\n", f);
    fputs("| items | index | requests x runs | full p50 | full p95 | full p99 | vector p50 | "
          "vector p99 | bare faiss p50 | bare faiss p99 |\n"
          "|---|---|---|---|---|---|---|---|---|---|\n", f);
    for (int i = 0; i < r->nruns; i++) {
        const run *x = &r->runs[i];
        if (x->kind != RUN_LATENCY)
            continue;
        const json_t *l = lat_of(x), *fu = jget(l, "full"), *ve = jget(l, "vector"),
                     *fa = jget(l, "faiss");
        fprintf(f, "| %s | %s | ", SI((double)x->items),
                json_string_value(jget(l, "index")) ? json_string_value(jget(l, "index"))
                : x->state == PENDING ? "pending" : "failed");
        if (l)
            fprintf(f, "%.0f x %.0f", jnum(l, "queries"), jnum(l, "runs"));
        else
            fputs("-", f);
        fprintf(f, " | %s | %s | %s | %s | %s | %s | %s |\n", US(jnum(fu, "p50_us")),
                US(jnum(fu, "p95_us")), US(jnum(fu, "p99_us")), US(jnum(ve, "p50_us")),
                US(jnum(ve, "p99_us")), US(jnum(fa, "p50_us")), US(jnum(fa, "p99_us")));
    }
    fputs("\n| items | full / faiss p50 | full / faiss p99 | vector / faiss p50 | "
          "vector / faiss p99 | refresh | bare index build | peak RSS |\n"
          "|---|---|---|---|---|---|---|---|\n", f);
    for (int i = 0; i < r->nruns; i++) {
        const run *x = &r->runs[i];
        if (x->kind != RUN_LATENCY)
            continue;
        const json_t *l = lat_of(x);
        fprintf(f, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", SI((double)x->items),
                RATIO(jnum(l, "ratio_full_p50")), RATIO(jnum(l, "ratio_full_p99")),
                RATIO(jnum(l, "ratio_vector_p50")), RATIO(jnum(l, "ratio_vector_p99")),
                ms(jnum(l, "refresh_ms")), ms(jnum(l, "bare_build_ms")),
                FU(jnum(l, "peak_rss_mb"), 0, " MB"));
    }
    /* where the full path's time goes, when the subcommand reports it */
    static const char *const stages[] = { "context", "retrieve", "filter", "rank",
                                          "diversify", "explain", "respond" };
    int cols = 0;
    for (int i = 0; i < r->nruns; i++)
        cols += jget(lat_of(&r->runs[i]), "full_stages") != NULL;
    if (cols) {
        fputs("\nThe full path by stage (`recsys_result_stage_ns`), p50 / p99 us:\n\n| stage |",
              f);
        for (int i = 0; i < r->nruns; i++)
            if (jget(lat_of(&r->runs[i]), "full_stages"))
                fprintf(f, " %s items |", SI((double)r->runs[i].items));
        fputs("\n|---|", f);
        for (int c = 0; c < cols; c++)
            fputs("---|", f);
        fputc('\n', f);
        for (size_t s = 0; s < sizeof stages / sizeof stages[0]; s++) {
            int present = 0;
            for (int i = 0; i < r->nruns; i++)
                present |= jget(jget(lat_of(&r->runs[i]), "full_stages"), stages[s]) != NULL;
            if (!present)
                continue;
            fprintf(f, "| %s |", stages[s]);
            for (int i = 0; i < r->nruns; i++) {
                const json_t *st = jget(lat_of(&r->runs[i]), "full_stages");
                if (st)
                    fprintf(f, " %s / %s |", US(jnum(jget(st, stages[s]), "p50_us")),
                            US(jnum(jget(st, stages[s]), "p99_us")));
            }
            fputc('\n', f);
        }
    }
    fputs("\n", f);
}

static void md_ingest(FILE *f, const report *r, int plot)
{
    fputs("## Ingest\n\n`ingest --store memory|file [--sync os|full]`: feedback events per "
          "second, one `recsys_feedback` call per event and in JSON batches, against a "
          "baseline that only formats each event as a line and appends it to a buffer, "
          "`write(2)`s it, or `write(2)`s and `fdatasync(2)`s it (`bench/ingest.c`).\n\n", f);
    if (plot)
        fputs("![Feedback ingest rate per store mode](ingest.svg)\n\n", f);
    fputs("| store | events x runs | 1 event/call | p50 us | p99 us | JSON batches | batch | "
          "baseline | baseline does | single / baseline time | batched / baseline time |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|\n", f);
    for (int i = 0; i < r->nruns; i++) {
        const run *x = &r->runs[i];
        if (x->kind != RUN_INGEST)
            continue;
        const json_t *g = ingest_of(x), *s = jget(g, "single"), *b = jget(g, "baseline");
        fprintf(f, "| %s | ", x->label + strlen("ingest "));
        if (g)
            fprintf(f, "%.0f x %.0f", jnum(g, "events"), jnum(g, "runs"));
        else
            fputs(x->state == PENDING ? "pending" : "failed", f);
        fprintf(f, " | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                SIU(jnum(s, "eps"), " ev/s"), US(jnum(s, "p50_us")), US(jnum(s, "p99_us")),
                SIU(jnum(jget(g, "batched"), "eps"), " ev/s"), F(jnum(g, "batch"), 0),
                SIU(jnum(b, "eps"), " ev/s"),
                json_string_value(jget(b, "what")) ? json_string_value(jget(b, "what")) : "-",
                RATIO(jnum(g, "ratio_single")), RATIO(jnum(g, "ratio_batched")));
    }
    fputs("\n", f);
}

static void md_failures(FILE *f, const report *r)
{
    int n = 0;
    char buf[32];
    for (int i = 0; i < r->nruns; i++) {
        const run *x = &r->runs[i];
        if (x->state != FAILED)
            continue;
        if (!n++)
            fputs("## Failures\n\n", f);
        fprintf(f, "### %s: %s after %s\n\n```sh\n", x->label, x->status,
                duration(buf, sizeof buf, x->secs));
        command_line(f, r, x);
        fprintf(f, "\n```\n\nThe end of its stderr (all of it in `logs/%s.err`):\n\n```text\n%s\n"
                   "```\n\n", x->name, x->tail ? x->tail : "");
    }
}

static int write_md(const report *r, const int has[3], int finished)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/report.md", r->out);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "recsys-bench report: cannot write %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    int done = 0, failed = 0;
    for (int i = 0; i < r->nruns; i++) {
        done += r->runs[i].state != PENDING;
        failed += r->runs[i].state == FAILED;
    }
    fprintf(f, "# librecsys benchmark report\n\n`%s`, librecsys %s, %s: ", r->self,
            recsys_version_string(), r->date);
    if (!finished)
        fprintf(f, "**in progress**, %d of %d runs done", done, r->nruns);
    else if (failed)
        fprintf(f, "**%d of %d runs failed** (see [Failures](#failures))", failed, r->nruns);
    else
        fprintf(f, "%d runs, all succeeded", r->nruns);
    if (r->quick)
        fprintf(f, "; quick mode (latency with `--queries 300 --repeat 1`)");
    fprintf(f, "; catalogs up to %ld items.\n\n", r->max_items);
    md_machine(f, r);
    md_runs(f, r);
    md_quality(f, r, has[0]);
    md_latency(f, r, has[1]);
    md_ingest(f, r, has[2]);
    md_failures(f, r);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        fprintf(stderr, "recsys-bench report: cannot write %s: %s\n", path,
                bad ? "write error" : strerror(errno));
        return 1;
    }
    return 0;
}

static int write_json(const report *r)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/report.json", r->out);
    json_t *arr = json_array();
    for (int i = 0; i < r->nruns; i++) {
        const run *x = &r->runs[i];
        json_t *argv = json_array();
        for (int k = 1; k < x->argc; k++)
            json_array_append_new(argv, json_string(x->argv[k]));
        json_t *o = json_pack("{s:s,s:o,s:s}", "name", x->name, "argv", argv, "status",
                              x->state == PENDING ? "pending" : x->status);
        if (x->state != PENDING) {
            json_object_set_new(o, "seconds", json_real(x->secs));
            json_object_set_new(o, "child_peak_rss_mb", json_integer(x->rss_mb));
        }
        if (x->res)
            json_object_set(o, "result", x->res);
        json_array_append_new(arr, o);
    }
    json_t *top = json_pack("{s:s,s:s,s:O,s:b,s:I,s:o}", "version", recsys_version_string(),
                            "date", r->date, "machine", jget(r->ctx->out, "machine"), "quick",
                            r->quick, "max_items", (json_int_t)r->max_items, "runs", arr);
    int rc = top ? json_dump_file(top, path, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) : -1;
    json_decref(top);
    if (rc != 0)
        fprintf(stderr, "recsys-bench report: cannot write %s\n", path);
    return rc != 0;
}

static int write_all(const report *r, int finished)
{
    int has[3] = { 0, 0, 0 };
    int bad = write_plots(r, has);
    bad += write_md(r, has, finished);
    bad += write_json(r);
    return bad;
}

/* ------------------------------------------------------------------ the self-test */

static int find_in_path(const char *prog, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t n = strcspn(path, ":");
        if (n && (size_t)snprintf(out, cap, "%.*s/%s", (int)n, path, prog) < cap &&
            access(out, X_OK) == 0)
            return 1;
        path += n + (path[n] == ':');
    }
    return 0;
}

/* 0 when `xmllint --noout path` accepts the file (its messages on stderr when not). */
static int xmllint(const char *exe, const char *path)
{
    char *argv[] = { "xmllint", "--noout", (char *)path, NULL };
    int st = spawn(exe, argv, -1, -1, NULL);
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int selftest(void)
{
    char dir[1024], path[4][1100], err[256], lint[4096];
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/recsys-bench-svg-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "recsys-bench report --selftest: cannot create %s: %s\n", dir,
                strerror(errno));
        return 1;
    }
    static const char *const names[4] = { "line.svg", "bars.svg", "grouped.svg", "broken.svg" };
    for (int i = 0; i < 4; i++)
        snprintf(path[i], sizeof path[i], "%s/%s", dir, names[i]);

    /* a line chart over log axes; a NaN point makes a gap; texts that need escaping */
    static const double xs[3] = { 1e4, 1e5, 1e6 };
    static const double y0[3] = { 991, 3556, 4125 }, y1[3] = { 1477, NAN, 5535 },
                        y2[3] = { 324, 2015, 235 };
    svg_series ls[3] = { { "full p50 & <all> \"sources\"", xs, y0, 3, 0 },
                         { "full p99 'dashed'", xs, y1, 3, 1 },
                         { "bare faiss p50", xs, y2, 3, 0 } };
    svg_chart lc = { .title = "self-test: latency & <escaping>",
                     .x = { .label = "items (log)", .log = 1, .ticks = xs, .nticks = 3 },
                     .y = { .label = "\xc2\xb5s (log)", .log = 1 } };
    /* bars with reference marks; one without a value */
    svg_bar qb[4] = { { "itemknn", 0.1786, 0, 0.1742 }, { "ease", 0.1912, 0, 0.1916 },
                      { "content <bm25>", 0.0509, 0, NAN }, { "failed & missing", NAN, 0, NAN } };
    static const char *const ql[] = { "NDCG@10" };
    svg_chart qc = { .title = "self-test: bars", .x = { .label = "NDCG@10" }, .legend = ql,
                     .nlegend = 1, .ref_name = "reference", .decimals = 4 };
    /* grouped bars over a log axis */
    svg_bar gb[6] = { { "memory", 2.15e6, 0, NAN },     { "memory", 1.1e6, 1, NAN },
                      { "memory", 3.3e6, 2, NAN },      { "file, sync full", 7100, 0, NAN },
                      { "file, sync full", 238000, 1, NAN }, { NULL, 7700, 2, NAN } };
    static const char *const gl[] = { "single", "batched", "baseline" };
    svg_chart gc = { .title = "self-test: grouped, log", .x = { .label = "ev/s", .log = 1 },
                     .legend = gl, .nlegend = 3, .decimals = -1 };

    int fails = 0;
    if (svg_line_chart(path[0], &lc, ls, 3) || svg_bar_chart(path[1], &qc, qb, 4) ||
        svg_bar_chart(path[2], &gc, gb, 6)) {
        fprintf(stderr, "recsys-bench report --selftest: cannot write a chart: %s\n",
                strerror(errno));
        fails++;
    }
    FILE *f = fopen(path[3], "w"); /* what a checker must reject */
    if (f) {
        fputs("<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"><g>"
              "<text>a & b</text></svg>\n", f);
        fclose(f);
    }
    int have_lint = find_in_path("xmllint", lint, sizeof lint);
    for (int i = 0; i < 4 && !fails; i++) {
        int want_ok = i < 3, ok = svg_check_wellformed(path[i], err, sizeof err) == 0;
        if (ok != want_ok) {
            fprintf(stderr, "recsys-bench report --selftest: built-in check %s %s%s%s\n",
                    want_ok ? "rejects" : "accepts", names[i], ok ? "" : ": ", ok ? "" : err);
            fails++;
        }
        if (have_lint) {
            if (!want_ok) { /* the broken file: xmllint's complaint is expected, keep it quiet */
                int saved = dup(2), null = open("/dev/null", O_WRONLY);
                if (saved >= 0 && null >= 0)
                    dup2(null, 2);
                ok = xmllint(lint, path[i]) == 0;
                if (saved >= 0 && null >= 0)
                    dup2(saved, 2);
                if (saved >= 0)
                    close(saved);
                if (null >= 0)
                    close(null);
            } else {
                ok = xmllint(lint, path[i]) == 0;
            }
            if (ok != want_ok) {
                fprintf(stderr, "recsys-bench report --selftest: xmllint --noout %s %s\n",
                        want_ok ? "rejects" : "accepts", names[i]);
                fails++;
            }
        }
    }
    /* the escaping really happened */
    char *text = slurp(path[0], NULL);
    if (!fails && (!text || !strstr(text, "self-test: latency &amp; &lt;escaping&gt;") ||
                   !strstr(text, "&quot;sources&quot;"))) {
        fprintf(stderr, "recsys-bench report --selftest: line.svg lacks the escaped title\n");
        fails++;
    }
    free(text);
    for (int i = 0; i < 4; i++)
        if (remove(path[i]) != 0 && errno != ENOENT)
            fprintf(stderr, "recsys-bench report: cannot remove %s: %s\n", path[i],
                    strerror(errno));
    if (rmdir(dir) != 0)
        fprintf(stderr, "recsys-bench report: cannot remove %s: %s\n", dir, strerror(errno));
    printf("report --selftest: 3 charts (line over log axes with a gap, bars with reference "
           "marks, grouped bars over a log axis) and 1 broken file; checked with the built-in "
           "well-formedness check%s: %s\n",
           have_lint ? " and xmllint --noout" : " (xmllint is not on the PATH)",
           fails ? "FAILED" : "ok");
    return fails ? 1 : 0;
}

/* ------------------------------------------------------------------ the subcommand */

static void self_line(report *r, int argc, char **argv)
{
    FILE *f = fmemopen(r->self, sizeof r->self - 1, "w");
    if (!f) {
        snprintf(r->self, sizeof r->self, "recsys-bench report");
        return;
    }
    fputs("recsys-bench", f);
    for (int i = 0; i < argc; i++) {
        fputc(' ', f);
        shell_word(f, argv[i]);
    }
    if (r->ctx->repeat)
        fprintf(f, " --repeat %d", r->ctx->repeat);
    if (strcmp(r->ctx->catalog_path, "data/catalog.json")) {
        fputs(" --catalog ", f);
        shell_word(f, r->ctx->catalog_path);
    }
    if (r->ctx->json)
        fputs(" --json", f);
    fclose(f);
}

int bench_report(bench_ctx *ctx, int argc, char **argv)
{
    report *r = calloc(1, sizeof *r);
    if (!r)
        oom();
    r->ctx = ctx;
    r->out = "build/report";
    r->max_items = 1000000;
    const char *env = getenv("RECSYS_DATA_DIR");
    r->data = env && *env ? env : "../shared/data";
    int self = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--out"))
            r->out = bench_arg(argc, argv, &i);
        else if (!strcmp(a, "--data"))
            r->data = bench_arg(argc, argv, &i);
        else if (!strcmp(a, "--quick"))
            r->quick = 1;
        else if (!strcmp(a, "--max-items")) {
            r->max_items = bench_long(a, bench_arg(argc, argv, &i), 1, 10000000);
            r->explicit_max = 1;
        } else if (!strcmp(a, "--selftest"))
            self = 1;
        else
            bench_usage("report: unknown option '%s'", a);
    }
    if (!*r->out)
        bench_usage("report: --out needs a directory");
    if (self) {
        int rc = selftest();
        free(r);
        return rc;
    }
    if (r->quick && !r->explicit_max)
        r->max_items = 100000;
    self_line(r, argc, argv);
    ssize_t n = readlink("/proc/self/exe", r->exe, sizeof r->exe - 1);
    snprintf(r->exe + (n > 0 ? n : 0), sizeof r->exe - (size_t)(n > 0 ? n : 0), "%s",
             n > 0 ? "" : "recsys-bench");
    time_t now = time(NULL);
    struct tm tm;
    strftime(r->date, sizeof r->date, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&now, &tm));
    FILE *la = fopen("/proc/loadavg", "r");
    double l1, l5, l15;
    if (la && fscanf(la, "%lf %lf %lf", &l1, &l5, &l15) == 3)
        snprintf(r->loadavg, sizeof r->loadavg, "%.2f, %.2f, %.2f", l1, l5, l15);
    else
        snprintf(r->loadavg, sizeof r->loadavg, "unknown");
    if (la)
        fclose(la);
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(r->kernel, sizeof r->kernel, "%s %s %s", u.sysname, u.release, u.machine);
    else
        snprintf(r->kernel, sizeof r->kernel, "unknown");
    r->t0 = stats_now_ns();

    char logs[4200];
    snprintf(logs, sizeof logs, "%s/logs", r->out);
    if (mkdir_p(logs) != 0) {
        fprintf(stderr, "recsys-bench report: cannot create %s: %s\n", logs, strerror(errno));
        free(r);
        return 1;
    }
    plan(r);
    int bad = write_all(r, 0), failed = 0;
    for (int i = 0; i < r->nruns; i++) {
        run_one(r, &r->runs[i], i);
        failed += r->runs[i].state == FAILED;
        bad += write_all(r, i + 1 == r->nruns);
    }

    char buf[32];
    printf("report: %d runs, %d failed, in %s; wrote %s/report.md, report.json", r->nruns,
           failed, duration(buf, sizeof buf, (double)(stats_now_ns() - r->t0) / 1e9), r->out);
    static const char *const plots[3] = { "quality.svg", "latency.svg", "ingest.svg" };
    for (int k = 0; k < 3; k++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", r->out, plots[k]);
        if (access(p, F_OK) == 0)
            printf(", %s", plots[k]);
    }
    printf(" and logs/\n");
    char md[4200];
    snprintf(md, sizeof md, "%s/report.md", r->out);
    json_object_set_new(ctx->out, "report", json_string(md));
    json_object_set_new(ctx->out, "runs", json_integer(r->nruns));
    json_object_set_new(ctx->out, "failed", json_integer(failed));
    for (int i = 0; i < r->nruns; i++) {
        for (int k = 0; k < r->runs[i].argc; k++)
            free(r->runs[i].argv[k]);
        json_decref(r->runs[i].res);
        free(r->runs[i].tail);
    }
    free(r);
    return failed || bad ? 1 : 0;
}
