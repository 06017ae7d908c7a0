/* store_conformance.c - the store conformance suite and shared store test helpers. */
#include "store_conformance.h"

#include <dirent.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/store.h"

/* ---------------------------------------------------------------- allocator ------------- */

/* ---------------------------------------------------------------- files ----------------- */

void store_test_mkdtemp(char *buf, size_t cap, const char *tag)
{
    int n = snprintf(buf, cap, "/tmp/recsys-%s-XXXXXX", tag);
    assert_true(n > 0 && (size_t)n < cap);
    assert_non_null(mkdtemp(buf));
}

unsigned char *store_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            unsigned char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

void store_test_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

const char *store_test_dir_find(const char *dir, const void *needle, size_t len, char *name_buf,
                                size_t cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    const char *found = NULL;
    struct dirent *e;
    char path[4096];
    while (!found && (e = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        size_t n = 0;
        unsigned char *data = store_test_read_file(path, &n);
        assert_non_null(data);
        if (memmem(data, n, needle, len)) {
            snprintf(name_buf, cap, "%s", e->d_name);
            found = name_buf;
        }
        free(data);
    }
    closedir(d);
    return found;
}

int store_test_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* ---------------------------------------------------------------- events ---------------- */

recsys_event store_test_event(int32_t type, const char *user, const char *item, int64_t ts)
{
    recsys_event ev;
    memset(&ev, 0, sizeof ev);
    ev.struct_size = sizeof ev;
    ev.type = type;
    ev.user_id = user;
    ev.item_id = item;
    ev.timestamp = ts;
    ev.position = -1;
    return ev;
}

static bool str_same(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool store_test_event_equal(const recsys_event *a, const recsys_event *b)
{
    return a->type == b->type && a->timestamp == b->timestamp &&
           memcmp(&a->value, &b->value, sizeof a->value) == 0 && a->position == b->position &&
           str_same(a->user_id, b->user_id) && str_same(a->item_id, b->item_id) &&
           str_same(a->request_id, b->request_id) && str_same(a->query, b->query) &&
           str_same(a->sources, b->sources) && str_same(a->ranker, b->ranker) &&
           a->llm_calls == b->llm_calls && a->llm_tokens == b->llm_tokens;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static recsys_status collect_event(void *arg, const recsys_event *ev)
{
    store_test_events *e = arg;
    if (!ev || ev->struct_size < sizeof(recsys_event))
        return recsys_error_set(RECSYS_E_INTERNAL, "event without struct_size");
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        recsys_event *p = realloc(e->ev, cap * sizeof *p);
        if (!p)
            return RECSYS_E_NOMEM;
        e->ev = p;
        e->cap = cap;
    }
    recsys_event c = *ev;
    c.user_id = dup_or_null(ev->user_id);
    c.item_id = dup_or_null(ev->item_id);
    c.request_id = dup_or_null(ev->request_id);
    c.query = dup_or_null(ev->query);
    c.sources = dup_or_null(ev->sources);
    c.ranker = dup_or_null(ev->ranker);
    e->ev[e->n++] = c;
    return RECSYS_OK;
}

recsys_status store_test_collect_events(const recsys_store_vtable *vt, store_test_events *out)
{
    memset(out, 0, sizeof *out);
    return vt->scan_events(vt->ctx, collect_event, out);
}

void store_test_events_free(store_test_events *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free((char *)e->ev[i].user_id);
        free((char *)e->ev[i].item_id);
        free((char *)e->ev[i].request_id);
        free((char *)e->ev[i].query);
        free((char *)e->ev[i].sources);
        free((char *)e->ev[i].ranker);
    }
    free(e->ev);
    memset(e, 0, sizeof *e);
}

/* ---------------------------------------------------------------- records --------------- */

recsys_status store_test_get(const recsys_store_vtable *vt, int32_t kind, const char *key,
                             unsigned char **data, size_t *len)
{
    recsys_store_value v;
    recsys__store_value_init(&v, &recsys__mem_default);
    recsys_status st = vt->get(vt->ctx, kind, key, &v);
    *data = NULL;
    *len = 0;
    if (st == RECSYS_OK) {
        assert_true(v.set);
        /* the library's copy is NUL-terminated past len */
        assert_int_equal(((const char *)v.data)[v.len], '\0');
        *data = malloc(v.len + 1);
        assert_non_null(*data);
        memcpy(*data, v.data, v.len + 1);
        *len = v.len;
    }
    recsys__store_value_free(&v);
    return st;
}

typedef struct rec_list {
    char **line; /* "kind\x1fkey\x1f" + value, with explicit lengths */
    size_t *len;
    size_t n, cap;
    int32_t want_kind;
    bool bad_kind;
} rec_list;

static recsys_status collect_record(void *arg, int32_t kind, const char *key, const void *data,
                                    size_t len)
{
    rec_list *l = arg;
    if (kind != l->want_kind)
        l->bad_kind = true;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **a = realloc(l->line, cap * sizeof *a);
        size_t *b = a ? realloc(l->len, cap * sizeof *b) : NULL;
        if (a)
            l->line = a;
        if (!a || !b)
            return RECSYS_E_NOMEM;
        l->len = b;
        l->cap = cap;
    }
    size_t kl = strlen(key);
    size_t total = 4 + 8 + kl + 8 + len;
    char *s = malloc(total);
    if (!s)
        return RECSYS_E_NOMEM;
    uint64_t k64 = kl, l64 = len;
    memcpy(s, &kind, 4);
    memcpy(s + 4, &k64, 8);
    memcpy(s + 12, key, kl);
    memcpy(s + 12 + kl, &l64, 8);
    if (len)
        memcpy(s + 20 + kl, data, len);
    l->line[l->n] = s;
    l->len[l->n] = total;
    l->n++;
    return RECSYS_OK;
}

static void rec_list_free(rec_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->line[i]);
    free(l->line);
    free(l->len);
}

typedef struct dump_buf {
    unsigned char *p;
    size_t len, cap;
} dump_buf;

static void db_add(dump_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void db_str(dump_buf *b, const char *s)
{
    uint64_t n = s ? strlen(s) : UINT64_MAX;
    db_add(b, &n, sizeof n);
    if (s)
        db_add(b, s, strlen(s));
}

static int cmp_line(const void *a, const void *b, void *arg)
{
    (void)arg;
    const char *const *x = a, *const *y = b;
    uint64_t xl, yl;
    memcpy(&xl, *x + 4, 8);
    memcpy(&yl, *y + 4, 8);
    size_t n = xl < yl ? xl : yl;
    int c = memcmp(*x + 12, *y + 12, n);
    return c ? c : (xl > yl) - (xl < yl);
}

unsigned char *store_test_dump(const recsys_store_vtable *vt, bool sorted, size_t *len)
{
    dump_buf b = { 0 };
    for (int32_t kind = RECSYS_RECORD_ITEM; kind <= RECSYS_RECORD_RULE; kind++) {
        rec_list l = { .want_kind = kind };
        assert_int_equal(vt->scan_records(vt->ctx, kind, collect_record, &l), RECSYS_OK);
        assert_false(l.bad_kind);
        if (sorted) {
            /* sort lines and their lengths together: sort an index */
            size_t *ix = malloc((l.n + 1) * sizeof *ix);
            assert_non_null(ix);
            for (size_t i = 0; i < l.n; i++)
                ix[i] = i;
            for (size_t i = 1; i < l.n; i++)
                for (size_t j = i; j > 0 && cmp_line(&l.line[ix[j - 1]], &l.line[ix[j]], NULL) > 0; j--) {
                    size_t t = ix[j];
                    ix[j] = ix[j - 1];
                    ix[j - 1] = t;
                }
            for (size_t i = 0; i < l.n; i++)
                db_add(&b, l.line[ix[i]], l.len[ix[i]]);
            free(ix);
        } else {
            for (size_t i = 0; i < l.n; i++)
                db_add(&b, l.line[i], l.len[i]);
        }
        uint64_t sep = UINT64_MAX - (uint64_t)kind;
        db_add(&b, &sep, sizeof sep);
        rec_list_free(&l);
    }
    store_test_events ev;
    assert_int_equal(store_test_collect_events(vt, &ev), RECSYS_OK);
    for (size_t i = 0; i < ev.n; i++) {
        const recsys_event *e = &ev.ev[i];
        db_add(&b, &e->type, sizeof e->type);
        db_add(&b, &e->timestamp, sizeof e->timestamp);
        db_add(&b, &e->value, sizeof e->value);
        db_add(&b, &e->position, sizeof e->position);
        db_str(&b, e->user_id);
        db_str(&b, e->item_id);
        db_str(&b, e->request_id);
        db_str(&b, e->query);
    }
    store_test_events_free(&ev);
    *len = b.len;
    return b.p;
}

void store_test_fill(const recsys_store_vtable *vt, unsigned seed)
{
    char key[64], val[256];
    for (unsigned i = 0; i < 40; i++) {
        int32_t kind = (int32_t)(1 + (i + seed) % 4);
        snprintf(key, sizeof key, "k%u-%u", seed, i);
        int n = snprintf(val, sizeof val, "{\"v\":%u,\"seed\":%u,\"pad\":\"%0*u\"}", i, seed,
                         (int)((i * 7 + seed) % 50), i);
        assert_int_equal(vt->put(vt->ctx, kind, key, val, (size_t)n), RECSYS_OK);
    }
    for (unsigned i = 0; i < 40; i += 5) {
        int32_t kind = (int32_t)(1 + (i + seed) % 4);
        snprintf(key, sizeof key, "k%u-%u", seed, i);
        assert_int_equal(vt->put(vt->ctx, kind, key, "replaced", 8), RECSYS_OK);
    }
    for (unsigned i = 3; i < 40; i += 7) {
        int32_t kind = (int32_t)(1 + (i + seed) % 4);
        snprintf(key, sizeof key, "k%u-%u", seed, i);
        assert_int_equal(vt->remove(vt->ctx, kind, key), RECSYS_OK);
    }
    static const char *users[] = { "alice", "bob", "carol", "dave" };
    for (unsigned batch = 0; batch < 6; batch++) {
        recsys_event ev[7];
        char items[7][32], reqs[7][32];
        size_t n = 1 + (batch + seed) % 7;
        for (size_t i = 0; i < n; i++) {
            snprintf(items[i], sizeof items[i], "item-%u-%zu", batch, i);
            snprintf(reqs[i], sizeof reqs[i], "req-%u", seed);
            ev[i] = store_test_event((int32_t)(1 + (i + batch) % 12),
                                     users[(i + batch + seed) % 4], items[i],
                                     1700000000 + (int64_t)(batch * 100 + i));
            ev[i].value = (double)i * 0.25 - 1.0;
            ev[i].position = (int32_t)i - 1;
            ev[i].request_id = (i % 3) ? reqs[i] : NULL;
            ev[i].query = (i % 4 == 0) ? "" : NULL;
        }
        assert_int_equal(vt->append_events(vt->ctx, ev, n), RECSYS_OK);
    }
}

/* ---------------------------------------------------------------- fixture --------------- */

typedef struct conf_state {
    const store_conformance *fx;
    recsys_store_vtable vt;
    bool open;
} conf_state;

int store_conf_setup(void **state)
{
    const store_conformance *fx = *state;
    conf_state *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->fx = fx;
    s->vt.struct_size = sizeof s->vt;
    recsys_status st = fx->open(fx->arg, &s->vt);
    if (st != RECSYS_OK) {
        print_error("store '%s': open failed: %s (%s)\n", fx->name, recsys_status_str(st),
                    recsys_last_error());
        if (fx->cleanup)
            fx->cleanup(fx->arg);
        free(s);
        return -1;
    }
    s->open = true;
    *state = s;
    return 0;
}

int store_conf_teardown(void **state)
{
    conf_state *s = *state;
    if (s->open && s->vt.destroy)
        s->vt.destroy(s->vt.ctx);
    if (s->fx->cleanup)
        s->fx->cleanup(s->fx->arg);
    free(s);
    return 0;
}

static void conf_close(conf_state *s)
{
    if (s->open && s->vt.destroy)
        s->vt.destroy(s->vt.ctx);
    s->open = false;
}

static void conf_reopen(conf_state *s)
{
    conf_close(s);
    memset(&s->vt, 0, sizeof s->vt);
    s->vt.struct_size = sizeof s->vt;
    recsys_status st = s->fx->reopen(s->fx->arg, &s->vt);
    if (st != RECSYS_OK)
        fail_msg("store '%s': reopen failed: %s", s->fx->name, recsys_last_error());
    s->open = true;
}

/* Asserts that (kind, key) holds exactly data[0..len). */
static void expect_stored(const recsys_store_vtable *vt, int32_t kind, const char *key,
                         const void *data, size_t len)
{
    unsigned char *got;
    size_t n;
    recsys_status st = store_test_get(vt, kind, key, &got, &n);
    if (st != RECSYS_OK)
        fail_msg("get(%d, '%s'): %s (%s)", kind, key, recsys_status_str(st), recsys_last_error());
    assert_int_equal(n, len);
    if (len)
        assert_memory_equal(got, data, len);
    free(got);
}

static void expect_missing(const recsys_store_vtable *vt, int32_t kind, const char *key)
{
    unsigned char *got;
    size_t n;
    assert_int_equal(store_test_get(vt, kind, key, &got, &n), RECSYS_E_NOT_FOUND);
    assert_null(got);
}

static void put_str(const recsys_store_vtable *vt, int32_t kind, const char *key, const char *v)
{
    recsys_status st = vt->put(vt->ctx, kind, key, v, strlen(v));
    if (st != RECSYS_OK)
        fail_msg("put(%d, '%s'): %s (%s)", kind, key, recsys_status_str(st), recsys_last_error());
}

/* ---------------------------------------------------------------- records --------------- */

void store_conf_put_get(void **state)
{
    conf_state *s = *state;
    const recsys_store_vtable *vt = &s->vt;
    put_str(vt, RECSYS_RECORD_ITEM, "i1", "{\"id\":\"i1\",\"title\":\"Intro to C\"}");
    put_str(vt, RECSYS_RECORD_USER, "u1", "{\"id\":\"u1\"}");
    put_str(vt, RECSYS_RECORD_STATE, "model.als", "opaque-bytes");
    expect_stored(vt, RECSYS_RECORD_ITEM, "i1", "{\"id\":\"i1\",\"title\":\"Intro to C\"}", 32);
    expect_stored(vt, RECSYS_RECORD_USER, "u1", "{\"id\":\"u1\"}", 11);
    expect_stored(vt, RECSYS_RECORD_STATE, "model.als", "opaque-bytes", 12);
    /* UTF-8 keys are bytes like any other */
    put_str(vt, RECSYS_RECORD_ITEM, "caf\xc3\xa9-\xe2\x98\x83", "snow");
    expect_stored(vt, RECSYS_RECORD_ITEM, "caf\xc3\xa9-\xe2\x98\x83", "snow", 4);
    expect_missing(vt, RECSYS_RECORD_ITEM, "caf\xc3\xa9");
    expect_missing(vt, RECSYS_RECORD_ITEM, "i2");
}

void store_conf_replace(void **state)
{
    conf_state *s = *state;
    const recsys_store_vtable *vt = &s->vt;
    put_str(vt, RECSYS_RECORD_ITEM, "i1", "first version, rather long");
    put_str(vt, RECSYS_RECORD_ITEM, "i1", "second");
    expect_stored(vt, RECSYS_RECORD_ITEM, "i1", "second", 6);
    rec_list l = { .want_kind = RECSYS_RECORD_ITEM };
    assert_int_equal(vt->scan_records(vt->ctx, RECSYS_RECORD_ITEM, collect_record, &l), RECSYS_OK);
    assert_int_equal(l.n, 1);
    rec_list_free(&l);
}

void store_conf_remove(void **state)
{
    conf_state *s = *state;
    const recsys_store_vtable *vt = &s->vt;
    put_str(vt, RECSYS_RECORD_ITEM, "i1", "one");
    put_str(vt, RECSYS_RECORD_ITEM, "i2", "two");
    assert_int_equal(vt->remove(vt->ctx, RECSYS_RECORD_ITEM, "i1"), RECSYS_OK);
    expect_missing(vt, RECSYS_RECORD_ITEM, "i1");
    expect_stored(vt, RECSYS_RECORD_ITEM, "i2", "two", 3);
    assert_int_equal(vt->remove(vt->ctx, RECSYS_RECORD_ITEM, "i1"), RECSYS_E_NOT_FOUND);
    assert_int_equal(vt->remove(vt->ctx, RECSYS_RECORD_USER, "nobody"), RECSYS_E_NOT_FOUND);
    /* a removed key can come back */
    put_str(vt, RECSYS_RECORD_ITEM, "i1", "again");
    expect_stored(vt, RECSYS_RECORD_ITEM, "i1", "again", 5);
}

void store_conf_kinds_are_separate(void **state)
{
    conf_state *s = *state;
    const recsys_store_vtable *vt = &s->vt;
    put_str(vt, RECSYS_RECORD_ITEM, "x", "item");
    put_str(vt, RECSYS_RECORD_USER, "x", "user");
    put_str(vt, RECSYS_RECORD_STATE, "x", "state");
    expect_stored(vt, RECSYS_RECORD_ITEM, "x", "item", 4);
    expect_stored(vt, RECSYS_RECORD_USER, "x", "user", 4);
    expect_stored(vt, RECSYS_RECORD_STATE, "x", "state", 5);
    assert_int_equal(vt->remove(vt->ctx, RECSYS_RECORD_USER, "x"), RECSYS_OK);
    expect_missing(vt, RECSYS_RECORD_USER, "x");
    expect_stored(vt, RECSYS_RECORD_ITEM, "x", "item", 4);
    expect_stored(vt, RECSYS_RECORD_STATE, "x", "state", 5);
}

void store_conf_binary_values(void **state)
{
    conf_state *s = *state;
    const recsys_store_vtable *vt = &s->vt;
    static const unsigned char bin[] = { 0, 1, 2, 0, 0xff, 0xfe, 0, 'a', 0 };
    assert_int_equal(vt->put(vt->ctx, RECSYS_RECORD_STATE, "bin", bin, sizeof bin), RECSYS_OK);
    assert_int_equal(vt->put(vt->ctx, RECSYS_RECORD_STATE, "empty", "", 0), RECSYS_OK);
    size_t big_len = (size_t)1 << 20;
    unsigned char *big = malloc(big_len);
    assert_non_null(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (unsigned char)(i * 2654435761u >> 13);
    assert_int_equal(vt->put(vt->ctx, RECSYS_RECORD_STATE, "big", big, big_len), RECSYS_OK);
    expect_stored(vt, RECSYS_RECORD_STATE, "bin", bin, sizeof bin);
    expect_stored(vt, RECSYS_RECORD_STATE, "empty", "", 0);
    expect_stored(vt, RECSYS_RECORD_STATE, "big", big, big_len);
    if (s->fx->reopen) {
        conf_reopen(s);
        vt = &s->vt;
        expect_stored(vt, RECSYS_RECORD_STATE, "bin", bin, sizeof bin);
        expect_stored(vt, RECSYS_RECORD_STATE, "empty", "", 0);
        expect_stored(vt, RECSYS_RECORD_STATE, "big", big, big_len);
    }
    free(big);
}

typedef struct seen_keys {
    char keys[16][32];
    size_t n;
    int32_t kind;
    bool wrong_kind;
} seen_keys;

static recsys_status seen_key(void *arg, int32_t kind, const char *key, const void *data,
                              size_t len)
{
    seen_keys *k = arg;
    if (kind != k->kind || k->n == 16)
        k->wrong_kind = true;
    else
        snprintf(k->keys[k->n++], sizeof k->keys[0], "%s=%.*s", key, (int)len, (const char *)data);
    return RECSYS_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void expect_scan(const conf_state *s, int32_t kind, const char *const *want, size_t n)
{
    seen_keys k = { .kind = kind };
    assert_int_equal(s->vt.scan_records(s->vt.ctx, kind, seen_key, &k), RECSYS_OK);
    assert_false(k.wrong_kind);
    assert_int_equal(k.n, n);
    char sorted_want[16][32];
    for (size_t i = 0; i < n; i++)
        snprintf(sorted_want[i], sizeof sorted_want[i], "%s", want[i]);
    if (!s->fx->insertion_order) {
        qsort(k.keys, k.n, sizeof k.keys[0], cmp_str);
        qsort(sorted_want, n, sizeof sorted_want[0], cmp_str);
    }
    for (size_t i = 0; i < n; i++)
        assert_string_equal(k.keys[i], sorted_want[i]);
}

void store_conf_scan_records(void **state)
{
    conf_state *s = *state;
    const recsys_store_vtable *vt = &s->vt;
    put_str(vt, RECSYS_RECORD_ITEM, "b", "1");
    put_str(vt, RECSYS_RECORD_USER, "u1", "x");
    put_str(vt, RECSYS_RECORD_ITEM, "a", "2");
    put_str(vt, RECSYS_RECORD_ITEM, "c", "3");
    put_str(vt, RECSYS_RECORD_ITEM, "b", "4"); /* replaced: keeps its place */
    put_str(vt, RECSYS_RECORD_ITEM, "d", "5");
    assert_int_equal(vt->remove(vt->ctx, RECSYS_RECORD_ITEM, "a"), RECSYS_OK);
    put_str(vt, RECSYS_RECORD_ITEM, "a", "6"); /* removed and put again: goes last */
    put_str(vt, RECSYS_RECORD_USER, "u0", "y");
    static const char *const items[] = { "b=4", "c=3", "d=5", "a=6" };
    static const char *const users[] = { "u1=x", "u0=y" };
    expect_scan(s, RECSYS_RECORD_ITEM, items, 4);
    expect_scan(s, RECSYS_RECORD_USER, users, 2);
    expect_scan(s, RECSYS_RECORD_STATE, NULL, 0);
}

typedef struct stopper {
    int calls, stop_after;
} stopper;

static recsys_status stop_records(void *arg, int32_t kind, const char *key, const void *data,
                                  size_t len)
{
    (void)kind, (void)key, (void)data, (void)len;
    stopper *st = arg;
    if (++st->calls == st->stop_after)
        return recsys_error_set(RECSYS_E_CALLBACK, "visitor says stop");
    return RECSYS_OK;
}

static recsys_status stop_events(void *arg, const recsys_event *ev)
{
    (void)ev;
    stopper *st = arg;
    if (++st->calls == st->stop_after)
        return RECSYS_E_BUDGET;
    return RECSYS_OK;
}

void store_conf_scan_records_stops(void **state)
{
    conf_state *s = *state;
    const recsys_store_vtable *vt = &s->vt;
    char key[16];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "i%d", i);
        put_str(vt, RECSYS_RECORD_ITEM, key, "v");
    }
    stopper st = { 0, 2 };
    assert_int_equal(vt->scan_records(vt->ctx, RECSYS_RECORD_ITEM, stop_records, &st),
                     RECSYS_E_CALLBACK);
    assert_int_equal(st.calls, 2);
    stopper all = { 0, -1 };
    assert_int_equal(vt->scan_records(vt->ctx, RECSYS_RECORD_ITEM, stop_records, &all), RECSYS_OK);
    assert_int_equal(all.calls, 5);
}

void store_conf_many_records(void **state)
{
    conf_state *s = *state;
    const recsys_store_vtable *vt = &s->vt;
    char key[32], val[64];
    const int n = 900;
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "item-%05d", i);
        snprintf(val, sizeof val, "value-%d", i);
        put_str(vt, RECSYS_RECORD_ITEM, key, val);
    }
    for (int i = 0; i < n; i += 3) {
        snprintf(key, sizeof key, "item-%05d", i);
        assert_int_equal(vt->remove(vt->ctx, RECSYS_RECORD_ITEM, key), RECSYS_OK);
    }
    for (int i = 1; i < n; i += 3) {
        snprintf(key, sizeof key, "item-%05d", i);
        snprintf(val, sizeof val, "new-%d", i);
        put_str(vt, RECSYS_RECORD_ITEM, key, val);
    }
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "item-%05d", i);
        if (i % 3 == 0) {
            expect_missing(vt, RECSYS_RECORD_ITEM, key);
            continue;
        }
        snprintf(val, sizeof val, i % 3 == 1 ? "new-%d" : "value-%d", i);
        expect_stored(vt, RECSYS_RECORD_ITEM, key, val, strlen(val));
    }
    stopper all = { 0, -1 };
    assert_int_equal(vt->scan_records(vt->ctx, RECSYS_RECORD_ITEM, stop_records, &all), RECSYS_OK);
    assert_int_equal(all.calls, n - (n + 2) / 3);
}

/* ---------------------------------------------------------------- events ---------------- */

/* Events with every awkward field value; long is a 5000-byte string. */
static size_t sample_events(recsys_event *ev, char *long_str)
{
    memset(long_str, 'x', 5000);
    memcpy(long_str, "\xe6\x97\xa5\xe6\x9c\xac", 6); /* "日本" */
    long_str[5000] = '\0';
    size_t n = 0;
    ev[n] = store_test_event(RECSYS_EVENT_CLICK, "u1", "i1", 1700000000);
    ev[n].value = 1.0;
    ev[n].request_id = "r-17";
    ev[n].position = 3;
    n++;
    ev[n] = store_test_event(RECSYS_EVENT_SEARCH, "u2", NULL, INT64_MAX);
    ev[n].query = "";
    ev[n].request_id = NULL;
    ev[n].position = -1;
    ev[n].value = -0.0;
    n++;
    ev[n] = store_test_event(RECSYS_EVENT_RATING, "\xc3\xbc-ser \xe2\x98\x83", "", INT64_MIN);
    ev[n].value = 4.5;
    ev[n].request_id = "";
    ev[n].query = "na\xc3\xafve caf\xc3\xa9 \xf0\x9f\x8e\x89";
    ev[n].position = INT32_MAX;
    n++;
    ev[n] = store_test_event(99, "u1", "i2", 0); /* a type this build does not know */
    ev[n].value = 1e300;
    ev[n].position = -7;
    n++;
    ev[n] = store_test_event(RECSYS_EVENT_WATCH_TIME, long_str, long_str, -1);
    ev[n].value = DBL_MIN / 4; /* subnormal */
    ev[n].request_id = long_str;
    ev[n].query = long_str;
    ev[n].position = INT32_MIN;
    n++;
    ev[n] = store_test_event(RECSYS_EVENT_DISLIKE, "", "i3", 1);
    ev[n].value = -123456.789;
    n++;
    return n;
}

static void expect_events(const recsys_store_vtable *vt, const recsys_event *want, size_t n)
{
    store_test_events got;
    recsys_status st = store_test_collect_events(vt, &got);
    if (st != RECSYS_OK)
        fail_msg("scan_events: %s (%s)", recsys_status_str(st), recsys_last_error());
    assert_int_equal(got.n, n);
    for (size_t i = 0; i < n; i++)
        if (!store_test_event_equal(&got.ev[i], &want[i]))
            fail_msg("event %zu differs (type %d/%d, ts %lld/%lld, user %s/%s)", i,
                     got.ev[i].type, want[i].type, (long long)got.ev[i].timestamp,
                     (long long)want[i].timestamp,
                     got.ev[i].user_id ? got.ev[i].user_id : "(null)",
                     want[i].user_id ? want[i].user_id : "(null)");
    store_test_events_free(&got);
}

void store_conf_events_round_trip(void **state)
{
    conf_state *s = *state;
    recsys_event ev[8];
    char *long_str = malloc(5001);
    assert_non_null(long_str);
    size_t n = sample_events(ev, long_str);
    assert_int_equal(s->vt.append_events(s->vt.ctx, ev, n), RECSYS_OK);
    expect_events(&s->vt, ev, n);
    if (s->fx->reopen) {
        conf_reopen(s);
        expect_events(&s->vt, ev, n);
    }
    free(long_str);
}

/* Impression attribution and LLM cost (sources, ranker, llm_calls, llm_tokens; since 0.2):
 * kept exactly (NULL and "" distinct) next to a batch without them (the layout earlier
 * versions wrote) and a batch with only the LLM cost, through a compaction and a reopen; a
 * store that documents dropping them (drops_attribution) gives NULL and 0. */
void store_conf_events_attribution(void **state)
{
    conf_state *s = *state;
    recsys_event ev[5];
    for (size_t i = 0; i < 5; i++) {
        recsys_event_init(&ev[i]);
        ev[i].type = RECSYS_EVENT_IMPRESSION;
        ev[i].timestamp = 1700000000 + (int64_t)i;
        ev[i].user_id = "u1";
        ev[i].item_id = "i1";
        ev[i].request_id = "r-1";
        ev[i].position = (int32_t)i;
    }
    ev[0].sources = "als,popular";
    ev[0].ranker = "linear";
    ev[0].llm_calls = 2;
    ev[0].llm_tokens = 3072;
    ev[1].ranker = "score";
    ev[1].llm_tokens = UINT32_MAX;
    ev[2].sources = "";
    /* ev[3]: none of them, in a batch of its own; ev[4]: only the LLM cost, alone too */
    ev[4].llm_calls = 1;
    assert_int_equal(s->vt.append_events(s->vt.ctx, ev, 3), RECSYS_OK);
    assert_int_equal(s->vt.append_events(s->vt.ctx, &ev[3], 1), RECSYS_OK);
    assert_int_equal(s->vt.append_events(s->vt.ctx, &ev[4], 1), RECSYS_OK);
    recsys_event want[5];
    memcpy(want, ev, sizeof want);
    if (s->fx->drops_attribution)
        for (size_t i = 0; i < 5; i++) {
            want[i].sources = want[i].ranker = NULL;
            want[i].llm_calls = want[i].llm_tokens = 0;
        }
    expect_events(&s->vt, want, 5);
    if (s->vt.compact) {
        assert_int_equal(s->vt.compact(s->vt.ctx), RECSYS_OK);
        expect_events(&s->vt, want, 5);
    }
    if (s->fx->reopen) {
        conf_reopen(s);
        expect_events(&s->vt, want, 5);
    }
}

void store_conf_events_batches_in_order(void **state)
{
    conf_state *s = *state;
    const recsys_store_vtable *vt = &s->vt;
    recsys_event all[60];
    char items[60][16];
    size_t total = 0;
    assert_int_equal(vt->append_events(vt->ctx, NULL, 0), RECSYS_OK);
    for (size_t batch = 1; total + batch <= 60; batch++) {
        for (size_t i = 0; i < batch; i++) {
            snprintf(items[total + i], sizeof items[0], "i%zu", total + i);
            all[total + i] = store_test_event(RECSYS_EVENT_VIEW, batch % 2 ? "odd" : "even",
                                              items[total + i], (int64_t)(1000 - total - i));
        }
        assert_int_equal(vt->append_events(vt->ctx, all + total, batch), RECSYS_OK);
        total += batch;
        assert_int_equal(vt->append_events(vt->ctx, all, 0), RECSYS_OK);
    }
    expect_events(vt, all, total);
}

void store_conf_scan_events_stops(void **state)
{
    conf_state *s = *state;
    recsys_event ev[4];
    for (int i = 0; i < 4; i++)
        ev[i] = store_test_event(RECSYS_EVENT_CLICK, "u", "i", i);
    assert_int_equal(s->vt.append_events(s->vt.ctx, ev, 2), RECSYS_OK);
    assert_int_equal(s->vt.append_events(s->vt.ctx, ev + 2, 2), RECSYS_OK);
    stopper st = { 0, 3 };
    assert_int_equal(s->vt.scan_events(s->vt.ctx, stop_events, &st), RECSYS_E_BUDGET);
    assert_int_equal(st.calls, 3);
    stopper one = { 0, 1 };
    assert_int_equal(s->vt.scan_events(s->vt.ctx, stop_events, &one), RECSYS_E_BUDGET);
    assert_int_equal(one.calls, 1);
}

#define FORGET_ID "forget-me-7f3a91"

void store_conf_forget_user(void **state)
{
    conf_state *s = *state;
    const recsys_store_vtable *vt = &s->vt;
    put_str(vt, RECSYS_RECORD_USER, FORGET_ID, "{\"id\":\"" FORGET_ID "\"}");
    put_str(vt, RECSYS_RECORD_USER, "keep-me", "{\"id\":\"keep-me\"}");
    put_str(vt, RECSYS_RECORD_ITEM, "i1", "{}");
    recsys_event ev[6];
    ev[0] = store_test_event(RECSYS_EVENT_CLICK, FORGET_ID, "i1", 10);
    ev[0].request_id = "r1";
    ev[1] = store_test_event(RECSYS_EVENT_CLICK, "keep-me", "i1", 11);
    ev[2] = store_test_event(RECSYS_EVENT_SEARCH, FORGET_ID, NULL, 12);
    ev[2].query = "something only " FORGET_ID " typed";
    ev[3] = store_test_event(RECSYS_EVENT_LIKE, "keep-me", "i1", 13);
    ev[4] = store_test_event(RECSYS_EVENT_VIEW, NULL, "i1", 14); /* no user at all */
    ev[5] = store_test_event(RECSYS_EVENT_VIEW, "forget-me", "i1", 15); /* a prefix only */
    assert_int_equal(vt->append_events(vt->ctx, ev, 3), RECSYS_OK);
    if (vt->compact)
        assert_int_equal(vt->compact(vt->ctx), RECSYS_OK); /* some in a snapshot, some not */
    assert_int_equal(vt->append_events(vt->ctx, ev + 3, 3), RECSYS_OK);
    recsys_status st = vt->forget_user(vt->ctx, FORGET_ID);
    if (st != RECSYS_OK)
        fail_msg("forget_user: %s (%s)", recsys_status_str(st), recsys_last_error());
    expect_missing(vt, RECSYS_RECORD_USER, FORGET_ID);
    expect_stored(vt, RECSYS_RECORD_USER, "keep-me", "{\"id\":\"keep-me\"}", 16);
    expect_stored(vt, RECSYS_RECORD_ITEM, "i1", "{}", 2);
    const recsys_event kept[] = { ev[1], ev[3], ev[4], ev[5] };
    expect_events(vt, kept, 4);
    if (s->fx->files_dir) {
        char name[256];
        const char *dir = s->fx->files_dir(s->fx->arg);
        const char *hit = store_test_dir_find(dir, FORGET_ID, strlen(FORGET_ID), name, sizeof name);
        if (hit)
            fail_msg("store '%s': %s/%s still holds the forgotten user id", s->fx->name, dir, hit);
    }
    /* forgetting again is harmless; writes keep working */
    assert_int_equal(vt->forget_user(vt->ctx, FORGET_ID), RECSYS_OK);
    assert_int_equal(vt->append_events(vt->ctx, ev + 1, 1), RECSYS_OK);
    const recsys_event kept2[] = { ev[1], ev[3], ev[4], ev[5], ev[1] };
    expect_events(vt, kept2, 5);
    if (s->fx->reopen) {
        conf_reopen(s);
        expect_missing(&s->vt, RECSYS_RECORD_USER, FORGET_ID);
        expect_events(&s->vt, kept2, 5);
    }
}

void store_conf_forget_unknown_user(void **state)
{
    conf_state *s = *state;
    put_str(&s->vt, RECSYS_RECORD_USER, "u1", "{}");
    recsys_event ev = store_test_event(RECSYS_EVENT_CLICK, "u1", "i1", 5);
    assert_int_equal(s->vt.append_events(s->vt.ctx, &ev, 1), RECSYS_OK);
    assert_int_equal(s->vt.forget_user(s->vt.ctx, "never-seen"), RECSYS_OK);
    expect_stored(&s->vt, RECSYS_RECORD_USER, "u1", "{}", 2);
    expect_events(&s->vt, &ev, 1);
}

void store_conf_empty_store(void **state)
{
    conf_state *s = *state;
    stopper none = { 0, -1 };
    for (int32_t kind = RECSYS_RECORD_ITEM; kind <= RECSYS_RECORD_STATE; kind++)
        assert_int_equal(s->vt.scan_records(s->vt.ctx, kind, stop_records, &none), RECSYS_OK);
    assert_int_equal(s->vt.scan_events(s->vt.ctx, stop_events, &none), RECSYS_OK);
    assert_int_equal(none.calls, 0);
    expect_missing(&s->vt, RECSYS_RECORD_ITEM, "");
    if (s->vt.sync)
        assert_int_equal(s->vt.sync(s->vt.ctx), RECSYS_OK);
    if (s->vt.compact)
        assert_int_equal(s->vt.compact(s->vt.ctx), RECSYS_OK);
    assert_int_equal(s->vt.scan_events(s->vt.ctx, stop_events, &none), RECSYS_OK);
    assert_int_equal(none.calls, 0);
}

void store_conf_reopen_restores_everything(void **state)
{
    conf_state *s = *state;
    assert_non_null(s->fx->reopen); /* durable-store tests need a reopen function */
    store_test_fill(&s->vt, 1);
    if (s->vt.compact)
        assert_int_equal(s->vt.compact(s->vt.ctx), RECSYS_OK);
    store_test_fill(&s->vt, 2);
    size_t before_len, after_len;
    unsigned char *before = store_test_dump(&s->vt, !s->fx->insertion_order, &before_len);
    conf_reopen(s);
    unsigned char *after = store_test_dump(&s->vt, !s->fx->insertion_order, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    /* and it keeps working after the reopen */
    store_test_fill(&s->vt, 3);
    free(before);
    free(after);
    before = store_test_dump(&s->vt, !s->fx->insertion_order, &before_len);
    conf_reopen(s);
    after = store_test_dump(&s->vt, !s->fx->insertion_order, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);
}

void store_conf_reopen_after_forget(void **state)
{
    conf_state *s = *state;
    assert_non_null(s->fx->reopen); /* durable-store tests need a reopen function */
    store_test_fill(&s->vt, 4);
    put_str(&s->vt, RECSYS_RECORD_USER, "bob", "{\"id\":\"bob\"}");
    assert_int_equal(s->vt.forget_user(s->vt.ctx, "bob"), RECSYS_OK);
    size_t before_len, after_len;
    unsigned char *before = store_test_dump(&s->vt, !s->fx->insertion_order, &before_len);
    assert_null(memmem(before, before_len, "bob", 3));
    conf_reopen(s);
    unsigned char *after = store_test_dump(&s->vt, !s->fx->insertion_order, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);
}
