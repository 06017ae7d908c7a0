/* testkit.c - see testkit.h. */
#include "testkit.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- allocator */

/* Counts an allocation; false when it is the one to fail. */
static bool a_take(tk_alloc *a)
{
    long at = a->fail_at;
    if (a->count++ == at && at >= 0) {
        a->failed++;
        return false;
    }
    return true;
}

static void *a_malloc(void *ctx, size_t n)
{
    tk_alloc *a = ctx;
    if (!a_take(a))
        return NULL;
    void *p = malloc(n);
    if (p)
        a->live++;
    return p;
}

static void *a_realloc(void *ctx, void *p, size_t n)
{
    tk_alloc *a = ctx;
    if (!a_take(a))
        return NULL;
    void *q = realloc(p, n);
    if (q && !p)
        a->live++;
    return q;
}

static void a_free(void *ctx, void *p)
{
    tk_alloc *a = ctx;
    if (p)
        a->live--;
    free(p);
}

void tk_alloc_init(tk_alloc *a, recsys_allocator *rec)
{
    memset(a, 0, sizeof *a);
    a->fail_at = -1;
    memset(rec, 0, sizeof *rec);
    rec->struct_size = sizeof *rec;
    rec->ctx = a;
    rec->malloc_fn = a_malloc;
    rec->realloc_fn = a_realloc;
    rec->free_fn = a_free;
}

/* ---------------------------------------------------------------- store wrapper */

static bool s_fail(tk_store *w)
{
    if (w->fail_at >= 0 && w->calls++ == w->fail_at) {
        w->failed = true;
        recsys_error_set(RECSYS_E_IO, "injected store failure");
        return true;
    }
    if (w->fail_at < 0)
        w->calls++;
    return false;
}

static recsys_status s_put(void *ctx, int32_t kind, const char *key, const void *d, size_t n)
{
    tk_store *w = ctx;
    return s_fail(w) ? RECSYS_E_IO : w->inner.put(w->inner.ctx, kind, key, d, n);
}
static recsys_status s_remove(void *ctx, int32_t kind, const char *key)
{
    tk_store *w = ctx;
    return s_fail(w) ? RECSYS_E_IO : w->inner.remove(w->inner.ctx, kind, key);
}
static recsys_status s_get(void *ctx, int32_t kind, const char *key, recsys_store_value *out)
{
    tk_store *w = ctx;
    return s_fail(w) ? RECSYS_E_IO : w->inner.get(w->inner.ctx, kind, key, out);
}
static recsys_status s_append(void *ctx, const recsys_event *ev, size_t n)
{
    tk_store *w = ctx;
    return s_fail(w) ? RECSYS_E_IO : w->inner.append_events(w->inner.ctx, ev, n);
}
static recsys_status s_scan_records(void *ctx, int32_t kind, recsys_record_visit_fn fn, void *arg)
{
    tk_store *w = ctx;
    return s_fail(w) ? RECSYS_E_IO : w->inner.scan_records(w->inner.ctx, kind, fn, arg);
}
static recsys_status s_scan_events(void *ctx, recsys_event_visit_fn fn, void *arg)
{
    tk_store *w = ctx;
    return s_fail(w) ? RECSYS_E_IO : w->inner.scan_events(w->inner.ctx, fn, arg);
}
static recsys_status s_forget(void *ctx, const char *user)
{
    tk_store *w = ctx;
    return s_fail(w) ? RECSYS_E_IO : w->inner.forget_user(w->inner.ctx, user);
}
static void s_destroy(void *ctx)
{
    tk_store *w = ctx;
    w->destroyed++;
    if (w->inner.destroy)
        w->inner.destroy(w->inner.ctx);
}

void tk_store_wrap(tk_store *w, recsys_store_vtable *vt)
{
    recsys_store_vtable inner;
    recsys_store_vtable_init(&inner);
    assert_int_equal(recsys_store_memory_new(NULL, &inner), RECSYS_OK);
    tk_store_wrap_inner(w, &inner, vt);
}

void tk_store_wrap_inner(tk_store *w, const recsys_store_vtable *inner, recsys_store_vtable *vt)
{
    memset(w, 0, sizeof *w);
    w->fail_at = -1;
    w->inner = *inner;
    recsys_store_vtable_init(vt);
    vt->ctx = w;
    vt->destroy = s_destroy;
    vt->put = s_put;
    vt->remove = s_remove;
    vt->get = s_get;
    vt->append_events = s_append;
    vt->scan_records = s_scan_records;
    vt->scan_events = s_scan_events;
    vt->forget_user = s_forget;
}

/* ---------------------------------------------------------------- data */

const char *tk_catalog_json =
    "["
    "{\"item_id\":\"c1\",\"title\":\"Distributed Systems Course\",\"category\":\"education\","
    "\"description\":\"Consensus, replication and partitioning for backend engineers.\","
    "\"tags\":[\"backend\",\"scalability\",\"architecture\"],\"attributes\":{\"price\":49,\"rating\":4.7}},"
    "{\"item_id\":\"c2\",\"title\":\"Machine Learning Foundations\",\"category\":\"education\","
    "\"description\":\"Regression, classification and neural networks in Python.\","
    "\"tags\":[\"machine learning\",\"python\"],\"attributes\":{\"price\":59,\"rating\":4.5}},"
    "{\"item_id\":\"c3\",\"title\":\"System Design Interviews\",\"category\":\"education\","
    "\"description\":\"Design scalable services: caches, queues, sharding.\","
    "\"tags\":[\"system design\",\"scalability\",\"backend\"],\"attributes\":{\"price\":39}},"
    "{\"item_id\":\"c4\",\"title\":\"Deep Learning with PyTorch\",\"category\":\"education\","
    "\"description\":\"Train convolutional and transformer models on GPUs.\","
    "\"tags\":[\"machine learning\",\"python\",\"gpu\"],\"attributes\":{\"price\":79}},"
    "{\"item_id\":\"l1\",\"title\":\"Vega 16 Workstation Laptop\",\"category\":\"laptop\","
    "\"description\":\"A 16-inch laptop with a discrete GPU for AI work.\","
    "\"tags\":[\"ai\",\"gpu\",\"workstation\"],\"attributes\":{\"price\":1499,\"gpu\":\"RTX 4070\",\"battery_hours\":6}},"
    "{\"item_id\":\"l2\",\"title\":\"Featherbook 13\",\"category\":\"laptop\","
    "\"description\":\"An ultraportable with an all-day battery.\","
    "\"tags\":[\"ultraportable\",\"battery\"],\"attributes\":{\"price\":999,\"battery_hours\":18}},"
    "{\"item_id\":\"l3\",\"title\":\"Titan 17 Gaming Laptop\",\"category\":\"laptop\",\"available\":false,"
    "\"description\":\"Out of stock: a heavy gaming machine.\","
    "\"tags\":[\"gaming\",\"gpu\"],\"attributes\":{\"price\":2199}},"
    "{\"item_id\":\"f1\",\"title\":\"The Long Harbour\",\"category\":\"film\","
    "\"description\":\"A quiet drama about a fishing town.\",\"tags\":[\"drama\"],"
    "\"attributes\":{\"year\":2019}},"
    "{\"item_id\":\"f2\",\"title\":\"Night Circuit\",\"category\":\"film\",\"min_age\":18,"
    "\"description\":\"A violent thriller in a neon city.\",\"tags\":[\"thriller\",\"crime\"],"
    "\"attributes\":{\"year\":2021}},"
    "{\"item_id\":\"f3\",\"title\":\"Paper Moons\",\"category\":\"film\","
    "\"description\":\"An animated comedy for the whole family.\",\"tags\":[\"animation\",\"comedy\"],"
    "\"attributes\":{\"year\":2020}},"
    "{\"item_id\":\"f4\",\"title\":\"Harbour Lights\",\"category\":\"film\",\"regions\":[\"FR\"],"
    "\"description\":\"A drama shown only in France.\",\"tags\":[\"drama\"],"
    "\"attributes\":{\"year\":2018}},"
    "{\"item_id\":\"f5\",\"title\":\"Signal Lost\",\"category\":\"film\","
    "\"description\":\"A crime thriller about a missing engineer.\",\"tags\":[\"thriller\",\"crime\"],"
    "\"attributes\":{\"year\":2022}}"
    "]";

const char *tk_users_json =
    "["
    "{\"user_id\":\"u-backend\",\"interests\":[\"scalability\",\"backend\"],\"age\":34,\"region\":\"US\"},"
    "{\"user_id\":\"u-film\",\"interests\":[\"drama\"],\"age\":15,\"region\":\"FR\"},"
    "{\"user_id\":\"u-ml\",\"interests\":[\"machine learning\"],\"age\":-1}"
    "]";

const char *const tk_user_ids[] = { "u-backend", "u-film", "u-ml", "u-new" };
const size_t tk_nusers = 4;
const char *const tk_item_ids[] = { "c1", "c2", "c3", "c4", "l1", "l2", "l3", "f1", "f2", "f3",
                                    "f4", "f5" };
const size_t tk_nitems = 12;

void tk_feedback(recsys_engine *e, const char *user, const char *item, int32_t type, int64_t ts)
{
    recsys_event ev;
    recsys_event_init(&ev);
    ev.type = type;
    ev.user_id = user;
    ev.item_id = item;
    ev.timestamp = ts;
    ev.value = type == RECSYS_EVENT_RATING ? 5 : 0;
    recsys_status st = recsys_feedback(e, &ev);
    if (st != RECSYS_OK)
        print_error("feedback: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
}

void tk_load(recsys_engine *e)
{
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW), RECSYS_OK);
    recsys_status st = recsys_catalog_upsert_json(e, tk_catalog_json, strlen(tk_catalog_json));
    if (st != RECSYS_OK)
        print_error("catalog: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
    st = recsys_user_upsert_json(e, tk_users_json, strlen(tk_users_json));
    if (st != RECSYS_OK)
        print_error("users: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
    tk_feedback(e, "u-backend", "c1", RECSYS_EVENT_LIKE, TK_NOW - 3600);
    tk_feedback(e, "u-backend", "l1", RECSYS_EVENT_VIEW, TK_NOW - 1800);
    tk_feedback(e, "u-film", "f1", RECSYS_EVENT_WATCH_TIME, TK_NOW - 7200);
    tk_feedback(e, "u-film", "f5", RECSYS_EVENT_DISLIKE, TK_NOW - 7000);
    tk_feedback(e, "u-ml", "c2", RECSYS_EVENT_PURCHASE, TK_NOW - 86400);
    tk_feedback(e, "u-ml", "c4", RECSYS_EVENT_CLICK, TK_NOW - 600);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
}

recsys_engine *tk_engine(const recsys_allocator *alloc, const recsys_store_vtable *store)
{
    recsys_engine_opts o;
    recsys_engine_opts_init(&o);
    o.seed = 42;
    o.allocator = alloc;
    o.store = store;
    recsys_engine *e = NULL;
    recsys_status st = recsys_engine_new(&o, &e);
    if (st != RECSYS_OK)
        print_error("engine_new: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
    tk_load(e);
    return e;
}

/* ---------------------------------------------------------------- snapshots */

typedef struct buf {
    char *s;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s)
{
    size_t l = strlen(s);
    if (b->n + l + 1 > b->cap) {
        b->cap = (b->n + l + 1) * 2;
        b->s = realloc(b->s, b->cap);
        assert_non_null(b->s);
    }
    memcpy(b->s + b->n, s, l + 1);
    b->n += l;
}

char *tk_snapshot(recsys_engine *e, const char *const *users, size_t nusers,
                  const char *const *items, size_t nitems)
{
    buf b = { 0 };
    char line[256];
    for (int32_t c = RECSYS_COUNT_ITEMS; c <= RECSYS_COUNT_EVENTS; c++) {
        uint64_t v = 0;
        assert_int_equal(recsys_engine_count(e, c, &v), RECSYS_OK);
        snprintf(line, sizeof line, "count %d = %llu\n", c, (unsigned long long)v);
        put(&b, line);
    }
    static const int32_t opts[] = { RECSYS_OPT_POPULAR_HALF_LIFE_DAYS,
                                    RECSYS_OPT_TRENDING_HALF_LIFE_H };
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
        double v = 0;
        assert_int_equal(recsys_engine_get_double(e, opts[i], &v), RECSYS_OK);
        snprintf(line, sizeof line, "option %d = %.17g\n", (int)opts[i], v);
        put(&b, line);
    }
    for (size_t i = 0; i < nitems; i++) {
        char *js = NULL;
        recsys_status st = recsys_catalog_get_json(e, items[i], &js);
        snprintf(line, sizeof line, "item %s: %d ", items[i], (int)st);
        put(&b, line);
        put(&b, js ? js : "-");
        put(&b, "\n");
        recsys_string_free(js);
    }
    for (size_t i = 0; i < nusers; i++) {
        char *js = NULL;
        recsys_status st = recsys_user_get_json(e, users[i], &js);
        snprintf(line, sizeof line, "user %s: %d ", users[i], (int)st);
        put(&b, line);
        put(&b, js ? js : "-");
        put(&b, "\n");
        recsys_string_free(js);
        recsys_request *rq = NULL;
        assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
        assert_int_equal(recsys_request_set_user(rq, users[i]), RECSYS_OK);
        assert_int_equal(recsys_request_set_id(rq, "snapshot"), RECSYS_OK);
        assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
        recsys_result *res = NULL;
        st = recsys_recommend(e, rq, &res);
        assert_int_equal(st, RECSYS_OK);
        char *rj = NULL;
        assert_int_equal(recsys_result_to_json(res, &rj), RECSYS_OK);
        put(&b, "  recs: ");
        put(&b, rj);
        put(&b, "\n");
        recsys_string_free(rj);
        recsys_result_free(res);
        recsys_request_free(rq);
    }
    return b.s;
}

void tk_assert_same(const char *expected, const char *actual)
{
    if (strcmp(expected, actual) == 0)
        return;
    const char *a = expected, *b = actual;
    while (*a && *a == *b) { /* back up to the start of the differing line */
        a++;
        b++;
    }
    while (a > expected && a[-1] != '\n') {
        a--;
        b--;
    }
    const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
    const char *dump = getenv("RECSYS_TEST_DUMP");
    if (dump) {
        char path[512];
        snprintf(path, sizeof path, "%s.expected", dump);
        FILE *f = fopen(path, "w");
        if (f) {
            fputs(expected, f);
            fclose(f);
        }
        snprintf(path, sizeof path, "%s.actual", dump);
        f = fopen(path, "w");
        if (f) {
            fputs(actual, f);
            fclose(f);
        }
    }
    print_error("snapshots differ (set RECSYS_TEST_DUMP=path to write both):\n  expected: %.*s\n  actual:   %.*s\n",
                (int)(ea ? ea - a : (long)strlen(a)), a, (int)(eb ? eb - b : (long)strlen(b)), b);
    fail();
}

/* ---------------------------------------------------------------- directories */

char *tk_mkdtemp(void)
{
    char tmpl[] = "/tmp/recsys-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    char *copy = strdup(d);
    assert_non_null(copy);
    return copy;
}

void tk_rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[512];
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            tk_rm_rf(p); /* tests make subdirectories (a store per engine) */
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

bool tk_dir_contains(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    bool found = false;
    char p[512];
    while (!found && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        FILE *f = fopen(p, "rb");
        if (!f)
            continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *b = malloc(n > 0 ? (size_t)n : 1);
        assert_non_null(b);
        size_t got = fread(b, 1, n > 0 ? (size_t)n : 0, f);
        fclose(f);
        found = memmem(b, got, needle, strlen(needle)) != NULL;
        free(b);
    }
    closedir(d);
    return found;
}
