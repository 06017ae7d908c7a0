/*
 * scale.c - `recsys-bench latency --items N --dim D [--users U] [--queries Q] [--top T]
 *            [--events E]`: the recommend path on a synthetic catalog at scale, next to the
 * bare faiss search of the same index kind over the same vectors, in the same run.
 *
 * Setup (timed and reported, not part of the latency figures), all through the public API:
 *   items   N items "i0000000".. with a "default" embedding of D floats: 256 random unit
 *           centroids, each item a centroid plus Gaussian noise (sigma 0.6 / sqrt(D) per
 *           coordinate), L2-normalised; category = the centroid modulo 32, two tags of 200,
 *           a title of three words of a 4096-word vocabulary (no word shared by every item). Built with the spec builders, one recsys_catalog_upsert each.
 *   users   U users (default min(10000, N / 10)), each with a home cluster and E events
 *           (default 8: view, click, like or purchase) recorded with recsys_feedback: 3/4 on
 *           items of the home cluster, 1/4 on a skewed "popular" head of the catalog, so that
 *           popularity, itemknn, rp3beta and session have data. Fixed seed BENCH_SEED.
 *   refresh one recsys_refresh (builds every derived state, the faiss index among them).
 * Requests: Q (default 2000) per variant and run, for users drawn with a per-run fixed seed,
 * impressions and explanations off, top T (default 10), timed end to end as latency.c does
 * (request_new .. request_free), one thread, after 200 warm-up requests per variant:
 *   full      every default source (content, search, campaign, popular, trending, itemknn,
 *             rp3beta, session, vector) with the default retrieve.threads (two threads on a
 *             machine with two cores), the filters and the blend ranker;
 *   vector    only the "vector" source enabled (recsys_engine_plugin_enable), filters and
 *             ranker unchanged.
 * Bare faiss: the same index kind built by this file with the faiss C API over the same
 * vectors ("Flat" up to 200000 items, else "IVF<n>,Flat" with n = 4 sqrt(N) capped at
 * N / 39, trained on at most 64 n sampled vectors, nprobe 8, inner product; the library's
 * rule in lib/retrieve/vector.c and its default options), then one faiss_Index_search per
 * query for the same users in the same order, the query being the mean of the vectors of the
 * items the user has events on (what the vector source uses), k = candidates per source +
 * the user's positives + 16 (the k the vector source asks for). The OpenMP and OpenBLAS
 * thread counts are left as they are for both the library and the bare search, so both run
 * under the same threading (set OMP_NUM_THREADS=1 in the environment to pin both).
 * Figures: medians over R runs (--repeat, default 3); ratios are p50 and p99 of a variant
 * over the bare search's; peak RSS from getrusage(RUSAGE_SELF).ru_maxrss.
 *
 * JSON, key "latency": {"items", "dim", "users", "events", "queries", "runs", "top", "k",
 *   "index" (factory string), "load_items_s", "load_events_s", "refresh_ms",
 *   "bare_build_ms", "full": {"p50_us","p95_us","p99_us","rps","mean_results"},
 *   "vector": {same}, "faiss": {"p50_us","p95_us","p99_us","qps"},
 *   "ratio_vector_p50", "ratio_vector_p99", "ratio_full_p50", "ratio_full_p99",
 *   "full_stages": {"context"|"retrieve"|...: {"p50_us","p95_us","p99_us"}} (recsys_result_
 *   stage_ns over every run of the full variant), "ratio_retrieve_p50", "ratio_retrieve_p99"
 *   (the full variant's retrieve stage over bare faiss), "sources_alone": {source: {"p50_us",
 *   "p99_us"}} (the retrieve stage with only that source enabled, min(Q, 500) requests for
 *   the first run's users), "refresh_again_ms" (a second recsys_refresh after the runs, nothing
 *   changed: the vector index comes from the store's saved copy), "ranking": {"candidates",
 *   "ltr_train_ms", "blend"|"ltr"|"ltr+mmr"|"ltr+dpp": {"rank_p50_us", "rank_p99_us",
 *   "diversify_p50_us", "diversify_p99_us"}} (the rank and diversify stages over 1000
 *   candidates: see rank_section), "rss_after_load_mb",
 *   "rss_after_refresh_mb", "peak_rss_mb"}
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>

#include "bench.h"

#define SC_CENTROIDS 256
#define SC_CATEGORIES 32
#define SC_TAGS 200
#define SC_EXACT_MAX 200000 /* retrieve.vector_exact_max's default */
#define SC_NPROBE 8         /* retrieve.vector_nprobe's default */
#define SC_ROOM 16          /* RECSYS__VECTOR_ROOM */
#define SC_MAX_EVENTS 64

typedef struct sc_opts {
    long items, dim, users, queries, top, events;
} sc_opts;

typedef struct sc_world {
    size_t n, dim, nusers, nev;
    float *vec;        /* n x dim */
    uint32_t *cluster; /* item -> centroid */
    uint32_t *by_cluster, cl_start[SC_CENTROIDS + 1];
    uint32_t *uitems;  /* nusers x nev: distinct items each user has events on */
    uint8_t *ucount;   /* how many of them */
} sc_world;

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "recsys-bench: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static double rand_unit(uint64_t *s)
{
    return (double)(bench_rand(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double rand_gauss(uint64_t *s)
{
    double u = rand_unit(s), v = rand_unit(s);
    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static void normalise(float *v, size_t d)
{
    double ss = 0;
    for (size_t j = 0; j < d; j++)
        ss += (double)v[j] * v[j];
    float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0;
    for (size_t j = 0; j < d; j++)
        v[j] *= inv;
}

static long peak_rss_mb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss / 1024 : -1;
}

static void item_id(char *buf, size_t cap, size_t i)
{
    snprintf(buf, cap, "i%07zu", i);
}

static void user_id(char *buf, size_t cap, size_t u)
{
    snprintf(buf, cap, "u%07zu", u);
}

static void make_vectors(const bench_ctx *ctx, sc_world *w)
{
    uint64_t s = BENCH_SEED * 7919ULL;
    float *cent = xmalloc(SC_CENTROIDS * w->dim * sizeof *cent);
    for (size_t c = 0; c < SC_CENTROIDS; c++) {
        for (size_t j = 0; j < w->dim; j++)
            cent[c * w->dim + j] = (float)rand_gauss(&s);
        normalise(cent + c * w->dim, w->dim);
    }
    double sigma = 0.6 / sqrt((double)w->dim);
    w->vec = xmalloc(w->n * w->dim * sizeof *w->vec);
    w->cluster = xmalloc(w->n * sizeof *w->cluster);
    for (size_t i = 0; i < w->n; i++) {
        uint32_t c = (uint32_t)(bench_rand(&s) % SC_CENTROIDS);
        float *v = w->vec + i * w->dim;
        w->cluster[i] = c;
        for (size_t j = 0; j < w->dim; j++)
            v[j] = cent[c * w->dim + j] + (float)(sigma * rand_gauss(&s));
        normalise(v, w->dim);
        if (i % 65536 == 0)
            bench_progress(ctx, "latency: generating vectors %zu/%zu", i, w->n);
    }
    free(cent);
    /* items grouped by cluster (counting sort) */
    memset(w->cl_start, 0, sizeof w->cl_start);
    for (size_t i = 0; i < w->n; i++)
        w->cl_start[w->cluster[i] + 1]++;
    for (size_t c = 0; c < SC_CENTROIDS; c++)
        w->cl_start[c + 1] += w->cl_start[c];
    uint32_t fill[SC_CENTROIDS];
    memcpy(fill, w->cl_start, sizeof fill);
    w->by_cluster = xmalloc(w->n * sizeof *w->by_cluster);
    for (size_t i = 0; i < w->n; i++)
        w->by_cluster[fill[w->cluster[i]]++] = (uint32_t)i;
}

static void load_items(const bench_ctx *ctx, recsys_engine *e, const sc_world *w)
{
    uint64_t s = BENCH_SEED * 31ULL;
    char id[32], text[64], tag[32];
    for (size_t i = 0; i < w->n; i++) {
        recsys_item_spec *sp = NULL;
        item_id(id, sizeof id, i);
        BENCH_CHECK(recsys_item_spec_new(id, &sp), "item spec");
        /* a title of three words of a 4096-word vocabulary, one tied to the cluster */
        snprintf(text, sizeof text, "w%04u w%04u w%04u", (unsigned)(w->cluster[i] * 16 + i % 16),
                 (unsigned)(bench_rand(&s) % 4096), (unsigned)(bench_rand(&s) % 4096));
        BENCH_CHECK(recsys_item_spec_set_text(sp, RECSYS_FIELD_TITLE, text), "title");
        snprintf(text, sizeof text, "cat%02u", (unsigned)(w->cluster[i] % SC_CATEGORIES));
        BENCH_CHECK(recsys_item_spec_set_text(sp, RECSYS_FIELD_CATEGORY, text), "category");
        for (int t = 0; t < 2; t++) {
            /* one tag tied to the cluster, one at random */
            unsigned k = t == 0 ? (unsigned)(w->cluster[i] % SC_TAGS)
                                : (unsigned)(bench_rand(&s) % SC_TAGS);
            snprintf(tag, sizeof tag, "tag%03u", k);
            BENCH_CHECK(recsys_item_spec_add_tag(sp, tag), "tag");
        }
        BENCH_CHECK(recsys_item_spec_set_embedding(sp, "default", w->vec + i * w->dim, w->dim),
                    "embedding");
        BENCH_CHECK(recsys_catalog_upsert(e, sp), "upserting an item");
        recsys_item_spec_free(sp);
        if (i % 16384 == 0)
            bench_progress(ctx, "latency: loading items %zu/%zu", i, w->n);
    }
}

/* A skewed pick in [0, n): the head of the catalog is the popular part. */
static size_t skewed(uint64_t *s, size_t n)
{
    double u = rand_unit(s);
    size_t head = n < 1000 ? n : 1000;
    return (size_t)(u * u * u * (double)head) % n;
}

static void load_events(const bench_ctx *ctx, recsys_engine *e, sc_world *w)
{
    static const int32_t types[4] = { RECSYS_EVENT_VIEW, RECSYS_EVENT_CLICK, RECSYS_EVENT_LIKE,
                                      RECSYS_EVENT_PURCHASE };
    uint64_t s = BENCH_SEED * 131ULL;
    char uid[32], iid[32];
    w->uitems = xmalloc(w->nusers * w->nev * sizeof *w->uitems);
    w->ucount = xmalloc(w->nusers);
    for (size_t u = 0; u < w->nusers; u++) {
        uint32_t home = (uint32_t)(bench_rand(&s) % SC_CENTROIDS);
        uint32_t lo = w->cl_start[home], hi = w->cl_start[home + 1];
        uint32_t *mine = w->uitems + u * w->nev;
        size_t cnt = 0;
        user_id(uid, sizeof uid, u);
        for (size_t k = 0; k < w->nev; k++) {
            size_t it = (bench_rand(&s) % 4 == 0 || hi == lo)
                            ? skewed(&s, w->n)
                            : w->by_cluster[lo + bench_rand(&s) % (hi - lo)];
            recsys_event ev;
            recsys_event_init(&ev);
            ev.type = types[bench_rand(&s) % 4];
            /* spread over the 30 days before the fixed clock, in order per user */
            ev.timestamp = BENCH_NOW - 30 * 86400 + (int64_t)((u * 7 + k * 86400 * 3) %
                                                               (30 * 86400 - 1));
            ev.user_id = uid;
            item_id(iid, sizeof iid, it);
            ev.item_id = iid;
            BENCH_CHECK(recsys_feedback(e, &ev), "recording an event");
            int dup = 0;
            for (size_t j = 0; j < cnt; j++)
                dup |= mine[j] == (uint32_t)it;
            if (!dup)
                mine[cnt++] = (uint32_t)it;
        }
        w->ucount[u] = (uint8_t)cnt;
        if (u % 4096 == 0)
            bench_progress(ctx, "latency: recording events, user %zu/%zu", u, w->nusers);
    }
}

/* ------------------------------------------------------------------ the bare faiss index */

static _Noreturn void faiss_fail(const char *what)
{
    const char *m = faiss_get_last_error();
    fprintf(stderr, "recsys-bench: faiss: %s: %s\n", what, m ? m : "unknown error");
    exit(1);
}

/* The index kind lib/retrieve/vector.c builds with the default options. */
static FaissIndex *bare_build(const sc_world *w, char *factory, size_t cap)
{
    size_t lists = 0;
    if (w->n <= SC_EXACT_MAX) {
        snprintf(factory, cap, "Flat");
    } else {
        lists = (size_t)(4.0 * sqrt((double)w->n) + 0.5);
        if (lists > w->n / 39)
            lists = w->n / 39;
        if (lists < 1)
            lists = 1;
        snprintf(factory, cap, "IVF%zu,Flat", lists);
    }
    FaissIndex *ix = NULL;
    if (faiss_index_factory(&ix, (int)w->dim, factory, METRIC_INNER_PRODUCT))
        faiss_fail("index_factory");
    if (!faiss_Index_is_trained(ix)) {
        size_t nt = lists * 64 < w->n ? lists * 64 : w->n;
        float *sample = xmalloc(nt * w->dim * sizeof *sample);
        uint64_t s = BENCH_SEED * 17ULL;
        for (size_t i = 0; i < nt; i++) /* rows drawn with replacement: fine for k-means */
            memcpy(sample + i * w->dim, w->vec + (bench_rand(&s) % w->n) * w->dim,
                   w->dim * sizeof *sample);
        if (faiss_Index_train(ix, (faiss_idx_t)nt, sample))
            faiss_fail("train");
        free(sample);
    }
    if (faiss_Index_add(ix, (faiss_idx_t)w->n, w->vec))
        faiss_fail("add");
    if (lists) {
        FaissParameterSpace *ps = NULL;
        if (faiss_ParameterSpace_new(&ps))
            faiss_fail("ParameterSpace_new");
        if (faiss_ParameterSpace_set_index_parameter(ps, ix, "nprobe", SC_NPROBE))
            faiss_fail("setting nprobe");
        faiss_ParameterSpace_free(ps);
    }
    return ix;
}

/* The query of user u: the mean of the vectors of the items it has events on. */
static void user_query(const sc_world *w, size_t u, float *q)
{
    const uint32_t *mine = w->uitems + u * w->nev;
    memset(q, 0, w->dim * sizeof *q);
    for (size_t j = 0; j < w->ucount[u]; j++)
        for (size_t d = 0; d < w->dim; d++)
            q[d] += w->vec[(size_t)mine[j] * w->dim + d];
    for (size_t d = 0; d < w->dim; d++)
        q[d] /= (float)w->ucount[u];
}

static double bare_run(const FaissIndex *ix, const sc_world *w, long n, uint64_t seed, size_t kbase,
                       stats_samples *lat)
{
    float *q = xmalloc(w->dim * sizeof *q);
    size_t kmax = kbase + SC_MAX_EVENTS + SC_ROOM;
    float *dist = xmalloc(kmax * sizeof *dist);
    faiss_idx_t *lab = xmalloc(kmax * sizeof *lab);
    volatile faiss_idx_t sink = 0;
    uint64_t start = stats_now_ns();
    for (long i = 0; i < n; i++) {
        size_t u = (size_t)(bench_rand(&seed) % w->nusers);
        uint64_t t0 = stats_now_ns();
        user_query(w, u, q);
        size_t k = kbase + w->ucount[u] + SC_ROOM;
        if (k > w->n)
            k = w->n;
        if (faiss_Index_search(ix, 1, q, (faiss_idx_t)k, dist, lab))
            faiss_fail("search");
        sink += lab[0];
        if (lat)
            stats_push(lat, (double)(stats_now_ns() - t0) / 1e3);
    }
    double secs = (double)(stats_now_ns() - start) / 1e9;
    (void)sink;
    free(q);
    free(dist);
    free(lab);
    return secs;
}

/* ------------------------------------------------------------------ requests */

/* the default sources besides "vector" ("search" and "campaign" have nothing to do here: no
 * query text, no campaign; they are timed alone all the same) */
static const char *const other_sources[] = { "content", "search",  "campaign", "popular",
                                             "trending", "itemknn", "rp3beta", "session" };

static void set_variant(recsys_engine *e, int vector_only)
{
    for (size_t i = 0; i < sizeof other_sources / sizeof other_sources[0]; i++)
        BENCH_CHECK(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, other_sources[i],
                                                !vector_only),
                    other_sources[i]);
}

/* Only source `name` enabled (NULL: every default source). */
static void set_only(recsys_engine *e, const char *name)
{
    for (size_t i = 0; i < sizeof other_sources / sizeof other_sources[0]; i++)
        BENCH_CHECK(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, other_sources[i],
                                                !name || !strcmp(name, other_sources[i])),
                    other_sources[i]);
    BENCH_CHECK(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, "vector",
                                            !name || !strcmp(name, "vector")),
                "vector");
}

/* Per-stage samples of the full variant (microseconds), by recsys_stage. */
#define SC_STAGES 9
static const char *const stage_name[SC_STAGES] = { NULL,      "context", "retrieve",
                                                   "filter",  "rank",    "diversify",
                                                   NULL,      "explain", "respond" };

/* The ranking section's per-request choices (NULL / 0: the engine's). */
static const char *req_ranker;
static int req_diversify;

static double req_run(recsys_engine *e, const sc_world *w, const sc_opts *o, long n,
                      uint64_t seed, stats_samples *lat, double *results, stats_samples *stages)
{
    char uid[32];
    uint64_t start = stats_now_ns();
    for (long i = 0; i < n; i++) {
        user_id(uid, sizeof uid, (size_t)(bench_rand(&seed) % w->nusers));
        recsys_request *req = NULL;
        recsys_result *res = NULL;
        uint64_t t0 = stats_now_ns();
        BENCH_CHECK(recsys_request_new(&req), "creating a request");
        BENCH_CHECK(recsys_request_set_user(req, uid), "setting the user");
        BENCH_CHECK(recsys_request_set_int(req, RECSYS_OPT_TOP_N, o->top), "setting top N");
        BENCH_CHECK(recsys_request_set_int(req, RECSYS_OPT_LOG_IMPRESSIONS, 0), "impressions");
        BENCH_CHECK(recsys_request_set_int(req, RECSYS_OPT_EXPLAIN, 0), "explanations");
        BENCH_CHECK(recsys_request_set_int(req, RECSYS_OPT_NOW, BENCH_NOW), "setting the clock");
        if (req_ranker)
            BENCH_CHECK(recsys_request_set_ranker(req, req_ranker), "choosing the ranker");
        if (req_diversify)
            BENCH_CHECK(recsys_request_set_int(req, RECSYS_OPT_DIVERSIFY_METHOD, req_diversify),
                        "diversification");
        BENCH_CHECK(recsys_recommend(e, req, &res), "recommend");
        *results += (double)recsys_result_count(res);
        for (int st = 1; stages && st < SC_STAGES; st++)
            if (stage_name[st])
                stats_push(&stages[st], (double)recsys_result_stage_ns(res, st) / 1e3);
        recsys_result_free(res);
        recsys_request_free(req);
        if (lat)
            stats_push(lat, (double)(stats_now_ns() - t0) / 1e3);
    }
    return (double)(stats_now_ns() - start) / 1e9;
}

/* The ranking and diversity stages over 1000 candidates (the "vector" source alone with a
 * quota of 1000: the merged set is its list, less the user's items): the blend ranker, then
 * the "ltr" ranker trained here with recsys_ranker_train on one held-out item per user (an
 * item of the user's home cluster they have no event on; 100 trees of depth 6, the option
 * defaults), alone and with MMR and DPP. nreq requests per variant, after a warm-up. */
static json_t *rank_section(bench_ctx *ctx, recsys_engine *e, const sc_world *w,
                            const sc_opts *o, long nreq)
{
    set_only(e, "vector");
    BENCH_CHECK(recsys_engine_source_configure(e, "vector", 1.0, 1000), "vector quota");
    size_t nout = w->nusers < 2000 ? w->nusers : 2000;
    recsys_event *ev = xmalloc(nout * sizeof *ev);
    char (*uid)[16] = xmalloc(nout * sizeof *uid), (*iid)[16] = xmalloc(nout * sizeof *iid);
    uint64_t s = BENCH_SEED * 31ULL;
    for (size_t u = 0; u < nout; u++) {
        uint32_t home = w->cluster[w->uitems[u * w->nev]];
        uint32_t a = w->cl_start[home], b = w->cl_start[home + 1];
        uint32_t item = w->by_cluster[a + (uint32_t)(bench_rand(&s) % (b - a))];
        user_id(uid[u], sizeof uid[u], u);
        item_id(iid[u], sizeof iid[u], item);
        recsys_event_init(&ev[u]);
        ev[u].type = RECSYS_EVENT_CLICK;
        ev[u].user_id = uid[u];
        ev[u].item_id = iid[u];
    }
    bench_progress(ctx, "latency: training the ltr ranker on %zu users", nout);
    uint64_t t0 = stats_now_ns();
    BENCH_CHECK(recsys_ranker_train(e, "ltr", ev, nout), "training the ltr ranker");
    double train_ms = (double)(stats_now_ns() - t0) / 1e6;
    free(ev);
    free(uid);
    free(iid);
    static const struct {
        const char *label, *ranker;
        int div;
    } var[] = { { "blend", "blend", 0 }, { "ltr", "ltr", 0 }, { "ltr+mmr", "ltr", 1 },
                { "ltr+dpp", "ltr", 2 } };
    json_t *j = json_object();
    json_object_set_new(j, "candidates", json_integer(1000));
    json_object_set_new(j, "ltr_train_ms", json_real(train_ms));
    printf("latency: rank and diversify stages, 1000 candidates (vector source), %ld requests "
           "(p50 / p99 us; ltr trained in %.0f ms):", nreq, train_ms);
    for (size_t v = 0; v < sizeof var / sizeof var[0]; v++) {
        bench_progress(ctx, "latency: ranking with %s", var[v].label);
        req_ranker = var[v].ranker;
        req_diversify = var[v].div;
        double ignored = 0;
        req_run(e, w, o, nreq < 100 ? nreq : 100, 77, NULL, &ignored, NULL); /* warm-up */
        stats_samples st[SC_STAGES];
        memset(st, 0, sizeof st);
        req_run(e, w, o, nreq, 1000, NULL, &ignored, st);
        double r50 = stats_percentile(st[4].v, st[4].n, 50), r99 = stats_percentile(st[4].v, st[4].n, 99);
        double d50 = stats_percentile(st[5].v, st[5].n, 50), d99 = stats_percentile(st[5].v, st[5].n, 99);
        printf(" %s rank %.0f / %.0f, diversify %.0f / %.0f;", var[v].label, r50, r99, d50, d99);
        json_object_set_new(j, var[v].label,
                            json_pack("{s:f,s:f,s:f,s:f}", "rank_p50_us", r50, "rank_p99_us", r99,
                                      "diversify_p50_us", d50, "diversify_p99_us", d99));
        for (int k = 0; k < SC_STAGES; k++)
            stats_free(&st[k]);
    }
    printf("\n");
    req_ranker = NULL;
    req_diversify = 0;
    BENCH_CHECK(recsys_engine_source_configure(e, "vector", 1.0, 0), "vector quota");
    set_only(e, NULL);
    bench_progress_clear(ctx);
    return j;
}

int bench_latency_scale(bench_ctx *ctx, int argc, char **argv)
{
    sc_opts o = { 0, 64, -1, 2000, 10, 8 };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--items"))
            o.items = bench_long("--items", bench_arg(argc, argv, &i), 1, 10000000);
        else if (!strcmp(argv[i], "--dim"))
            o.dim = bench_long("--dim", bench_arg(argc, argv, &i), 1, 4096);
        else if (!strcmp(argv[i], "--users"))
            o.users = bench_long("--users", bench_arg(argc, argv, &i), 1, 10000000);
        else if (!strcmp(argv[i], "--queries") || !strcmp(argv[i], "--requests"))
            o.queries = bench_long(argv[i], bench_arg(argc, argv, &i), 1, 10000000);
        else if (!strcmp(argv[i], "--top"))
            o.top = bench_long("--top", bench_arg(argc, argv, &i), 1, 1000);
        else if (!strcmp(argv[i], "--events"))
            o.events = bench_long("--events", bench_arg(argc, argv, &i), 1, SC_MAX_EVENTS);
        else
            bench_usage("latency: unknown option '%s'", argv[i]);
    }
    if (o.items <= 0)
        bench_usage("latency: --dim needs --items");
    if (o.users < 0)
        o.users = o.items / 10 < 10000 ? (o.items / 10 > 0 ? o.items / 10 : 1) : 10000;
    int runs = ctx->repeat ? ctx->repeat : 3;

    sc_world w = { .n = (size_t)o.items, .dim = (size_t)o.dim, .nusers = (size_t)o.users,
                   .nev = (size_t)o.events };
    make_vectors(ctx, &w);

    recsys_engine *e = NULL;
    RECSYS_INIT(recsys_engine_opts, eo, .seed = 7);
    BENCH_CHECK(recsys_engine_new(&eo, &e), "creating the engine");
    BENCH_CHECK(recsys_engine_set_int(e, RECSYS_OPT_NOW, BENCH_NOW), "setting the clock");
    int64_t cands = 0;
    BENCH_CHECK(recsys_engine_get_int(e, RECSYS_OPT_CANDIDATES_PER_SOURCE, &cands), "candidates");

    uint64_t t0 = stats_now_ns();
    load_items(ctx, e, &w);
    uint64_t t1 = stats_now_ns();
    long rss_load = peak_rss_mb();
    load_events(ctx, e, &w);
    uint64_t t2 = stats_now_ns();
    bench_progress(ctx, "latency: refresh (builds the faiss index)");
    BENCH_CHECK(recsys_refresh(e), "refresh");
    uint64_t t3 = stats_now_ns();
    long rss_refresh = peak_rss_mb();
    double load_items_s = (double)(t1 - t0) / 1e9, load_events_s = (double)(t2 - t1) / 1e9;
    double refresh_ms = (double)(t3 - t2) / 1e6;
    uint64_t items = 0, events = 0;
    BENCH_CHECK(recsys_engine_count(e, RECSYS_COUNT_ITEMS, &items), "counting items");
    BENCH_CHECK(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &events), "counting events");

    bench_progress(ctx, "latency: building the bare faiss index");
    char factory[64];
    uint64_t t4 = stats_now_ns();
    FaissIndex *ix = bare_build(&w, factory, sizeof factory);
    double bare_build_ms = (double)(stats_now_ns() - t4) / 1e6;

    bench_progress_clear(ctx);
    printf("latency: %llu items x %zu dims (loaded in %.2f s, %.0f items/s), %zu users, "
           "%llu events (%.2f s); refresh %.1f ms; bare faiss \"%s\" built in %.1f ms; "
           "%d runs x %ld requests per variant, top %ld, k %lld+positives+%d, one thread\n",
           (unsigned long long)items, w.dim, load_items_s,
           load_items_s > 0 ? (double)items / load_items_s : 0, w.nusers,
           (unsigned long long)events, load_events_s, refresh_ms, factory, bare_build_ms, runs,
           o.queries, o.top, (long long)cands, SC_ROOM);
    fflush(stdout);

    /* 0 = full, 1 = vector only, 2 = bare faiss */
    double results[2] = { 0, 0 }, ignored = 0;
    long warm = o.queries < 200 ? o.queries : 200;
    stats_summary per_run[3][STATS_MAX_RUNS];
    stats_samples stages[SC_STAGES];
    memset(stages, 0, sizeof stages);
    for (int v = 0; v < 2; v++) {
        set_variant(e, v);
        req_run(e, &w, &o, warm, 99, NULL, &ignored, NULL);
    }
    bare_run(ix, &w, warm, 99, (size_t)cands, NULL);
    for (int r = 0; r < runs; r++) {
        for (int k = 0; k < 3; k++) {
            int v = (r + k) % 3; /* rotate which goes first */
            stats_samples lat = { 0 };
            uint64_t seed = 1000 + (uint64_t)r;
            static const char *const names[3] = { "full", "vector only", "bare faiss" };
            bench_progress(ctx, "latency: run %d/%d, %s", r + 1, runs, names[v]);
            double secs;
            if (v == 2) {
                secs = bare_run(ix, &w, o.queries, seed, (size_t)cands, &lat);
            } else {
                set_variant(e, v);
                secs = req_run(e, &w, &o, o.queries, seed, &lat, &results[v],
                               v == 0 ? stages : NULL);
            }
            per_run[v][r] = stats_summarise(&lat, (double)o.queries, secs);
            stats_free(&lat);
        }
    }
    set_variant(e, 0);
    bench_progress_clear(ctx);
    stats_summary sm[3];
    for (int v = 0; v < 3; v++)
        sm[v] = stats_median_of(per_run[v], (size_t)runs);
    double total = (double)runs * (double)o.queries;
    double rv50 = sm[2].p50 > 0 ? sm[1].p50 / sm[2].p50 : 0;
    double rv99 = sm[2].p99 > 0 ? sm[1].p99 / sm[2].p99 : 0;
    double rf50 = sm[2].p50 > 0 ? sm[0].p50 / sm[2].p50 : 0;
    double rf99 = sm[2].p99 > 0 ? sm[0].p99 / sm[2].p99 : 0;
    long rss_peak = peak_rss_mb();

    bench_row row = { .bench = "latency", .unit = "req/s" };
    snprintf(row.count, sizeof row.count, "%ld x%d", o.queries, runs);
    snprintf(row.variant, sizeof row.variant, "%zux%zu full (all sources), top %ld", w.n, w.dim,
             o.top);
    row.s = sm[0];
    row.ratio = rf50;
    bench_add_row(&row);
    snprintf(row.variant, sizeof row.variant, "%zux%zu vector source only", w.n, w.dim);
    row.s = sm[1];
    row.ratio = rv50;
    bench_add_row(&row);
    if (snprintf(row.variant, sizeof row.variant, "%zux%zu bare faiss %s search", w.n, w.dim,
                 factory) >= (int)sizeof row.variant)
        row.variant[sizeof row.variant - 1] = '\0'; /* truncated: still terminated */
    row.s = sm[2];
    row.ratio = 1;
    row.unit = "q/s";
    bench_add_row(&row);
    printf("latency: vector-only / bare faiss: %.2fx p50, %.2fx p99; full / bare faiss: "
           "%.2fx p50, %.2fx p99; mean results %.1f (full), %.1f (vector); peak RSS %ld MB "
           "(%ld after items, %ld after refresh)\n",
           rv50, rv99, rf50, rf99, results[0] / total, results[1] / total, rss_peak, rss_load,
           rss_refresh);

    /* where the full path's time goes: each stage over every run of the full variant */
    json_t *jst = json_object();
    printf("latency: full path by stage (p50 / p95 / p99 us):");
    for (int st = 1; st < SC_STAGES; st++) {
        if (!stage_name[st] || !stages[st].n)
            continue;
        double p50 = stats_percentile(stages[st].v, stages[st].n, 50);
        double p95 = stats_percentile(stages[st].v, stages[st].n, 95);
        double p99 = stats_percentile(stages[st].v, stages[st].n, 99);
        printf(" %s %.0f / %.0f / %.0f;", stage_name[st], p50, p95, p99);
        json_object_set_new(jst, stage_name[st],
                            json_pack("{s:f,s:f,s:f}", "p50_us", p50, "p95_us", p95, "p99_us", p99));
        stats_free(&stages[st]);
    }
    printf("\n");
    /* the done-when ratio: the retrieve stage (every source and the merge) over bare faiss */
    double rr50 = 0, rr99 = 0;
    if (sm[2].p50 > 0 && sm[2].p99 > 0) {
        rr50 = json_real_value(json_object_get(json_object_get(jst, "retrieve"), "p50_us")) /
               sm[2].p50;
        rr99 = json_real_value(json_object_get(json_object_get(jst, "retrieve"), "p99_us")) /
               sm[2].p99;
    }
    printf("latency: retrieve stage (all sources + merge) / bare faiss: %.2fx p50, %.2fx p99\n",
           rr50, rr99);

    /* each source alone: its retrieve stage over the same users (first run's seed) */
    json_t *jsrc = json_object();
    long nsrc = o.queries < 500 ? o.queries : 500;
    printf("latency: retrieve stage per source alone, %ld requests (p50 / p99 us):", nsrc);
    for (size_t i = 0; i <= sizeof other_sources / sizeof other_sources[0]; i++) {
        const char *name = i < sizeof other_sources / sizeof other_sources[0] ? other_sources[i]
                                                                                : "vector";
        bench_progress(ctx, "latency: source %s alone", name);
        set_only(e, name);
        stats_samples one[SC_STAGES];
        memset(one, 0, sizeof one);
        req_run(e, &w, &o, nsrc, 1000, NULL, &ignored, one);
        stats_samples *rt = &one[2];
        double p50 = stats_percentile(rt->v, rt->n, 50), p99 = stats_percentile(rt->v, rt->n, 99);
        printf(" %s %.0f / %.0f;", name, p50, p99);
        json_object_set_new(jsrc, name, json_pack("{s:f,s:f}", "p50_us", p50, "p99_us", p99));
        for (int st = 0; st < SC_STAGES; st++)
            stats_free(&one[st]);
    }
    set_only(e, NULL);
    bench_progress_clear(ctx);
    printf("\n");
    json_t *jrank = rank_section(ctx, e, &w, &o, nsrc);
    /* a second refresh with nothing changed: the vector index is read back from the store's
     * saved copy instead of trained (the other derived state is built again) */
    bench_progress(ctx, "latency: refresh again (nothing changed)");
    uint64_t t5 = stats_now_ns();
    BENCH_CHECK(recsys_refresh(e), "second refresh");
    double refresh_again_ms = (double)(stats_now_ns() - t5) / 1e6;
    bench_progress_clear(ctx);
    printf("latency: refresh again, nothing changed (saved index read back): %.1f ms\n",
           refresh_again_ms);
    json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:i,s:I,s:I,s:s,s:f,s:f,s:f,s:f}", "items",
                          (json_int_t)items, "dim", (json_int_t)w.dim, "users",
                          (json_int_t)w.nusers, "events", (json_int_t)events, "queries",
                          (json_int_t)o.queries, "runs", runs, "top", (json_int_t)o.top, "k",
                          (json_int_t)cands, "index", factory, "load_items_s", load_items_s,
                          "load_events_s", load_events_s, "refresh_ms", refresh_ms,
                          "bare_build_ms", bare_build_ms);
    json_t *jv[3] = { bench_summary_json(&sm[0], "rps"), bench_summary_json(&sm[1], "rps"),
                      bench_summary_json(&sm[2], "qps") };
    for (int v = 0; v < 2; v++)
        json_object_set_new(jv[v], "mean_results", json_real(results[v] / total));
    json_object_set_new(j, "full", jv[0]);
    json_object_set_new(j, "full_stages", jst);
    json_object_set_new(j, "sources_alone", jsrc);
    json_object_set_new(j, "ranking", jrank);
    json_object_set_new(j, "refresh_again_ms", json_real(refresh_again_ms));
    json_object_set_new(j, "ratio_retrieve_p50", json_real(rr50));
    json_object_set_new(j, "ratio_retrieve_p99", json_real(rr99));
    json_object_set_new(j, "vector", jv[1]);
    json_object_set_new(j, "faiss", jv[2]);
    json_object_set_new(j, "ratio_vector_p50", json_real(rv50));
    json_object_set_new(j, "ratio_vector_p99", json_real(rv99));
    json_object_set_new(j, "ratio_full_p50", json_real(rf50));
    json_object_set_new(j, "ratio_full_p99", json_real(rf99));
    json_object_set_new(j, "rss_after_load_mb", json_integer(rss_load));
    json_object_set_new(j, "rss_after_refresh_mb", json_integer(rss_refresh));
    json_object_set_new(j, "peak_rss_mb", json_integer(rss_peak));
    json_object_set_new(ctx->out, "latency", j);

    faiss_Index_free(ix);
    recsys_engine_free(e);
    free(w.vec);
    free(w.cluster);
    free(w.by_cluster);
    free(w.uitems);
    free(w.ucount);
    return 0;
}
