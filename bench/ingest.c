/*
 * ingest.c - `recsys-bench ingest [--events N] [--store memory|file] [--sync os|full]
 *            [--batch B] [--threads T]`.
 *
 * Feedback events per second. Every mode of every run gets a fresh engine with the catalog
 * loaded (not timed) over the memory store or the built-in file store (recsys_store_file_new
 * in a mkdtemp directory under $TMPDIR or /tmp, removed afterwards; --sync os acknowledges
 * after write(2), full after fdatasync(2) per call, the library's default). The events are
 * tools/synth's (seed BENCH_SEED) in time order with their own timestamps, cycled when N is
 * larger. Modes:
 *   single    one recsys_feedback call per event (timed per call);
 *   batched   recsys_feedback_json with B events per call (the JSON text is built before the
 *             clock starts: parsing and recording are timed, not the host's serialising);
 *   typed     recsys_feedback_batch with B events per call (the records are read before the
 *             clock starts), one store write and, under --sync full, one flush per call;
 *   baseline  the minimum a host does without the library: format the event as a text line
 *             (snprintf) and keep it: memory = append it to a buffer; file = write(2) it to
 *             an O_APPEND file in the same directory, plus fdatasync(2) for --sync full.
 *   threaded  T threads (--threads, default 1) call recsys_feedback at once on one engine,
 *             one event per call, each over its own contiguous slice of the events (timed
 *             from a barrier that releases them all to the last one's end; per-call latency
 *             too). With the file store's group commit, under --sync full one fdatasync
 *             acknowledges the events of every thread waiting for it.
 * Default N: 200000 (memory), 20000 (file, sync os), 2000 (file, sync full); the threaded
 * mode records N x T events (N each) unless --events is given (then N in all).
 *
 * JSON, key "ingest": an array, one object per store configuration:
 *   {"store": "memory"|"file", "sync": null|"os"|"full", "events", "runs", "batch",
 *    "single": {"eps", "p50_us", "p95_us", "p99_us"}, "batched": {"eps"},
 *    "baseline": {"eps", "p50_us", "p95_us", "p99_us", "what"},
 *    "ratio_single", "ratio_batched" (time per event / the baseline's = baseline eps / eps),
 *    "threads": T, "threaded_events": events of the threaded mode,
 *    "threaded": {"eps", "p50_us", "p95_us", "p99_us"} (eps: all threads together; latency:
 *    per call, over every thread's calls), "ratio_threaded" (baseline eps / threaded eps),
 *    "typed": {"eps"}, "ratio_typed"}
 * Every figure is the median over the runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "synth.h"

enum { STORE_MEMORY, STORE_FILE_OS, STORE_FILE_FULL };
static const char *const store_label[] = { "memory", "file os", "file full" };
static const char *const baseline_what[] = { "line to a buffer", "line, write(2)",
                                             "line, write+fdatasync" };

static char tmp_root[1024]; /* the mkdtemp directory, removed at exit (also after a failure) */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

static void rm_tree(const char *dir)
{
    if (dir[0] && nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        fprintf(stderr, "recsys-bench: cannot remove %s: %s\n", dir, strerror(errno));
}

static void cleanup(void)
{
    rm_tree(tmp_root);
    tmp_root[0] = '\0';
}

_Noreturn static void sys_fail(const char *what, const char *path)
{
    fprintf(stderr, "recsys-bench: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

typedef struct world {
    const synth *sy;
    size_t n;       /* events per run */
    char **batches; /* JSON arrays of B events */
    size_t nbatches, batch;
    recsys_event *events; /* the n events as records, for the typed batches */
    int threads;    /* threads of the threaded mode */
    size_t nthreaded; /* events per run of the threaded mode */
} world;

enum { MODE_SINGLE, MODE_BATCHED, MODE_BASELINE, MODE_THREADED, MODE_TYPED, NMODES };
static const char *const mode_label[] = { "single", "batched", "baseline", "threaded",
                                          "typed" };

static void get_event(const world *w, size_t i, recsys_event *ev)
{
    BENCH_CHECK(synth_event_get(w->sy, i % synth_event_count(w->sy), ev), "reading an event");
}

/* Builds the JSON batches once; every run reuses them. */
static void world_batches(world *w, size_t batch)
{
    w->nbatches = (w->n + batch - 1) / batch;
    w->batch = batch;
    if (!(w->batches = calloc(w->nbatches, sizeof *w->batches)) ||
        !(w->events = calloc(w->n, sizeof *w->events)))
        sys_fail("out of memory building", "batches");
    for (size_t i = 0; i < w->n; i++)
        get_event(w, i, &w->events[i]);
    for (size_t b = 0; b < w->nbatches; b++) {
        json_t *arr = json_array();
        for (size_t i = b * batch; i < w->n && i < (b + 1) * batch; i++) {
            recsys_event ev;
            get_event(w, i, &ev);
            json_t *o = json_pack("{s:s,s:s,s:f,s:I}", "user_id", ev.user_id, "type",
                                  recsys_event_type_name(ev.type), "value", ev.value,
                                  "timestamp", (json_int_t)ev.timestamp);
            if (o && ev.item_id)
                json_object_set_new(o, "item_id", json_string(ev.item_id));
            if (o && ev.query)
                json_object_set_new(o, "query", json_string(ev.query));
            json_array_append_new(arr, o);
        }
        if (!(w->batches[b] = json_dumps(arr, JSON_COMPACT)))
            sys_fail("out of memory building", "batches");
        json_decref(arr);
    }
}

/* A fresh engine over the store in dir (memory when dir is ""). */
static recsys_engine *fresh_engine(const bench_ctx *ctx, int store, const char *dir)
{
    if (store == STORE_MEMORY)
        return bench_engine(ctx, NULL);
    recsys_store_vtable vt;
    recsys_store_vtable_init(&vt);
    RECSYS_INIT(recsys_file_store_opts, fo,
                .sync = store == STORE_FILE_FULL ? RECSYS_SYNC_FULL : RECSYS_SYNC_OS);
    BENCH_CHECK(recsys_store_file_new(dir, &fo, &vt), "opening the file store");
    return bench_engine(ctx, &vt);
}

/* The baseline's work for one event: format a line and keep it in buf or write it to fd. */
static void baseline_one(const recsys_event *ev, int fd, int full, char **buf, size_t *len,
                         size_t *cap)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "%s\t%s\t%d\t%lld\t%g\t%s\n", ev->user_id,
                     ev->item_id ? ev->item_id : "", (int)ev->type, (long long)ev->timestamp,
                     ev->value, ev->query ? ev->query : "");
    size_t k = n < (int)sizeof line ? (size_t)n : sizeof line - 1;
    if (fd >= 0) {
        if (write(fd, line, k) != (ssize_t)k || (full && fdatasync(fd) != 0))
            sys_fail("cannot write the baseline in", tmp_root);
        return;
    }
    if (*len + k > *cap && !(*buf = realloc(*buf, *cap = 2 * (*len + k))))
        sys_fail("out of memory for", "the baseline");
    memcpy(*buf + *len, line, k);
    *len += k;
}

/* One thread of the threaded mode: events [from, to) one per call, after the barrier. */
typedef struct worker {
    pthread_t th;
    recsys_engine *e;
    const world *w;
    size_t from, to;
    pthread_barrier_t *go;
    stats_samples lat;
    recsys_status st; /* the first failure, its message in err */
    char err[600];
} worker;

static void *worker_main(void *arg)
{
    worker *k = arg;
    pthread_barrier_wait(k->go);
    for (size_t i = k->from; i < k->to; i++) {
        recsys_event ev;
        if ((k->st = synth_event_get(k->w->sy, i % synth_event_count(k->w->sy), &ev)) !=
            RECSYS_OK) {
            snprintf(k->err, sizeof k->err, "reading an event: %s", recsys_last_error());
            break;
        }
        uint64_t t0 = stats_now_ns();
        if ((k->st = recsys_feedback(k->e, &ev)) != RECSYS_OK) {
            snprintf(k->err, sizeof k->err, "recsys_feedback: %s: %s",
                     recsys_status_str(k->st), recsys_last_error());
            break;
        }
        stats_push(&k->lat, (double)(stats_now_ns() - t0) / 1e3);
    }
    return NULL;
}

/* The threaded mode on e: returns its summary (latency over every thread's calls). */
static stats_summary run_threaded(recsys_engine *e, const world *w)
{
    size_t t = (size_t)w->threads;
    worker *ks = calloc(t, sizeof *ks);
    pthread_barrier_t go;
    if (!ks || pthread_barrier_init(&go, NULL, (unsigned)t + 1) != 0)
        sys_fail("cannot set up", "the threads");
    for (size_t k = 0; k < t; k++) {
        ks[k] = (worker){ .e = e, .w = w, .go = &go, .from = w->nthreaded * k / t,
                          .to = w->nthreaded * (k + 1) / t };
        int rc = pthread_create(&ks[k].th, NULL, worker_main, &ks[k]);
        if (rc != 0) {
            errno = rc;
            sys_fail("cannot start", "a thread");
        }
    }
    pthread_barrier_wait(&go);
    uint64_t start = stats_now_ns();
    for (size_t k = 0; k < t; k++)
        pthread_join(ks[k].th, NULL);
    double secs = (double)(stats_now_ns() - start) / 1e9;
    pthread_barrier_destroy(&go);
    stats_samples lat = { 0 };
    for (size_t k = 0; k < t; k++) {
        if (ks[k].st != RECSYS_OK) {
            fprintf(stderr, "recsys-bench: thread %zu: %s\n", k, ks[k].err);
            exit(1);
        }
        for (size_t i = 0; i < ks[k].lat.n; i++)
            stats_push(&lat, ks[k].lat.v[i]);
        stats_free(&ks[k].lat);
    }
    free(ks);
    stats_summary s = stats_summarise(&lat, (double)w->nthreaded, secs);
    stats_free(&lat);
    return s;
}

/* One run of one mode (MODE_*); returns its summary. */
static stats_summary run_mode(const bench_ctx *ctx, const world *w, int store, int mode, int r)
{
    char dir[1100] = "", path[1200];
    stats_samples lat = { 0 };
    if (store != STORE_MEMORY)
        snprintf(dir, sizeof dir, "%s/run%d-mode%d", tmp_root, r, mode);
    recsys_engine *e = mode != MODE_BASELINE ? fresh_engine(ctx, store, dir) : NULL;
    if (mode == MODE_THREADED) {
        stats_summary s = run_threaded(e, w);
        recsys_engine_free(e);
        rm_tree(dir);
        return s;
    }
    int fd = -1;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (mode == MODE_BASELINE && store != STORE_MEMORY) {
        snprintf(path, sizeof path, "%s/raw.log", dir);
        if (mkdir(dir, 0700) != 0 || (fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600)) < 0)
            sys_fail("cannot create", path);
    }
    uint64_t start = stats_now_ns();
    for (size_t b = 0; mode == MODE_BATCHED && b < w->nbatches; b++)
        BENCH_CHECK(recsys_feedback_json(e, w->batches[b], strlen(w->batches[b])),
                    "recsys_feedback_json");
    for (size_t i = 0; mode == MODE_TYPED && i < w->n; i += w->batch)
        BENCH_CHECK(recsys_feedback_batch(e, w->events + i,
                                          w->n - i < w->batch ? w->n - i : w->batch),
                    "recsys_feedback_batch");
    bool per_event = mode == MODE_SINGLE || mode == MODE_BASELINE;
    for (size_t i = 0; per_event && i < w->n; i++) {
        recsys_event ev;
        get_event(w, i, &ev);
        uint64_t t0 = stats_now_ns();
        if (mode == MODE_SINGLE)
            BENCH_CHECK(recsys_feedback(e, &ev), "recsys_feedback");
        else
            baseline_one(&ev, fd, store == STORE_FILE_FULL, &buf, &len, &cap);
        stats_push(&lat, (double)(stats_now_ns() - t0) / 1e3);
    }
    double secs = (double)(stats_now_ns() - start) / 1e9;
    stats_summary s = stats_summarise(per_event ? &lat : NULL, (double)w->n, secs);
    stats_free(&lat);
    recsys_engine_free(e);
    if (fd >= 0)
        close(fd);
    free(buf);
    rm_tree(dir);
    return s;
}

int bench_ingest(bench_ctx *ctx, int argc, char **argv)
{
    long events = 0, batch = 100, threads = 1;
    int store = -1, sync = -1; /* sync: 0 os, 1 full */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--events"))
            events = bench_long(a, bench_arg(argc, argv, &i), 1, 100000000);
        else if (!strcmp(a, "--batch"))
            batch = bench_long(a, bench_arg(argc, argv, &i), 1, 100000);
        else if (!strcmp(a, "--threads"))
            threads = bench_long(a, bench_arg(argc, argv, &i), 1, 1024);
        else if (!strcmp(a, "--store")) {
            a = bench_arg(argc, argv, &i);
            if (strcmp(a, "memory") && strcmp(a, "file"))
                bench_usage("--store: '%s' is not memory or file", a);
            store = strcmp(a, "memory") ? STORE_FILE_OS : STORE_MEMORY;
        } else if (!strcmp(a, "--sync")) {
            a = bench_arg(argc, argv, &i);
            if (strcmp(a, "os") && strcmp(a, "full"))
                bench_usage("--sync: '%s' is not os or full", a);
            sync = strcmp(a, "os") != 0;
        } else
            bench_usage("ingest: unknown option '%s'", a);
    }
    if (store < 0)
        store = STORE_MEMORY;
    if (store == STORE_MEMORY && sync >= 0)
        bench_usage("ingest: --sync applies only to --store file");
    if (store == STORE_FILE_OS && sync != 0)
        store = STORE_FILE_FULL; /* the file store's default durability */
    long threaded_events = events ? events : 0;
    if (!events)
        events = store == STORE_MEMORY ? 200000 : store == STORE_FILE_OS ? 20000 : 2000;
    if (!threaded_events)
        threaded_events = events * threads;
    int runs = ctx->repeat ? ctx->repeat : 3;

    if (store != STORE_MEMORY && !tmp_root[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(tmp_root, sizeof tmp_root, "%s/recsys-bench-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmp_root))
            sys_fail("cannot create a directory like", tmp_root);
        static int registered;
        if (!registered++)
            atexit(cleanup);
    }
    bench_progress(ctx, "ingest %s: generating events", store_label[store]);
    synth_opts so;
    synth_opts_init(&so);
    so.seed = BENCH_SEED;
    so.end = BENCH_NOW;
    so.users = (size_t)(events / 100 < 50 ? 50 : events / 100 > 5000 ? 5000 : events / 100);
    synth *sy = NULL;
    BENCH_CHECK(synth_new(ctx->catalog, ctx->catalog_len, &so, &sy), "synthetic events");
    world w = { .sy = sy, .n = (size_t)events, .threads = (int)threads,
                .nthreaded = (size_t)threaded_events };
    world_batches(&w, (size_t)batch);
    bench_progress_clear(ctx);
    printf("ingest %s: %ld events (%zu distinct synthetic, %zu users), %d runs%s%s; "
           "threaded: %ld events over %ld thread%s\n",
           store_label[store], events, synth_event_count(sy), synth_user_count(sy), runs,
           store == STORE_MEMORY ? "" : ", store in ", store == STORE_MEMORY ? "" : tmp_root,
           threaded_events, threads, threads == 1 ? "" : "s");

    stats_summary per_run[NMODES][STATS_MAX_RUNS], med[NMODES];
    for (int r = 0; r < runs; r++)
        for (int m = 0; m < NMODES; m++) {
            bench_progress(ctx, "ingest %s: run %d/%d, %s", store_label[store], r + 1, runs,
                           mode_label[m]);
            per_run[m][r] = run_mode(ctx, &w, store, m, r);
        }
    for (int m = 0; m < NMODES; m++)
        med[m] = stats_median_of(per_run[m], (size_t)runs);

    bench_row row = { .bench = "ingest", .unit = "ev/s" };
    double ratio[NMODES];
    for (int m = 0; m < NMODES; m++) {
        ratio[m] = med[m].rate > 0 ? med[MODE_BASELINE].rate / med[m].rate : 0;
        snprintf(row.count, sizeof row.count, "%ld x%d",
                 m == MODE_THREADED ? threaded_events : events, runs);
        if (m == MODE_SINGLE)
            snprintf(row.variant, sizeof row.variant, "%s, 1 event/call", store_label[store]);
        else if (m == MODE_BATCHED)
            snprintf(row.variant, sizeof row.variant, "%s, JSON batch of %ld", store_label[store],
                     batch);
        else if (m == MODE_BASELINE)
            snprintf(row.variant, sizeof row.variant, "%s baseline: %s", store_label[store],
                     baseline_what[store]);
        else if (m == MODE_TYPED)
            snprintf(row.variant, sizeof row.variant, "%s, typed batch of %ld",
                     store_label[store], batch);
        else
            snprintf(row.variant, sizeof row.variant, "%s, %ld thread%s, 1 event/call",
                     store_label[store], threads, threads == 1 ? "" : "s");
        row.s = med[m];
        row.ratio = ratio[m];
        bench_add_row(&row);
    }

    json_t *arr = json_object_get(ctx->out, "ingest");
    if (!arr)
        json_object_set_new(ctx->out, "ingest", arr = json_array());
    json_t *sync_j = store ? json_string(store == STORE_FILE_OS ? "os" : "full") : json_null();
    json_t *j = json_pack("{s:s,s:o,s:I,s:i,s:I,s:f,s:f}", "store", store ? "file" : "memory",
                          "sync", sync_j, "events", (json_int_t)events, "runs", runs, "batch",
                          (json_int_t)batch, "ratio_single", ratio[0], "ratio_batched", ratio[1]);
    json_object_set_new(j, "single", bench_summary_json(&med[0], "eps"));
    json_object_set_new(j, "batched", bench_summary_json(&med[1], "eps"));
    json_t *base = bench_summary_json(&med[2], "eps");
    json_object_set_new(base, "what", json_string(baseline_what[store]));
    json_object_set_new(j, "baseline", base);
    json_object_set_new(j, "threads", json_integer((json_int_t)threads));
    json_object_set_new(j, "threaded_events", json_integer((json_int_t)threaded_events));
    json_object_set_new(j, "threaded", bench_summary_json(&med[MODE_THREADED], "eps"));
    json_object_set_new(j, "ratio_threaded", json_real(ratio[MODE_THREADED]));
    json_object_set_new(j, "typed", bench_summary_json(&med[MODE_TYPED], "eps"));
    json_object_set_new(j, "ratio_typed", json_real(ratio[MODE_TYPED]));
    json_array_append_new(arr, j);

    for (size_t b = 0; b < w.nbatches; b++)
        free(w.batches[b]);
    free(w.batches);
    free(w.events);
    synth_free(sy);
    cleanup();
    return 0;
}
