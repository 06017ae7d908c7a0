/* test_store_file.c - the built-in durable file store: the conformance suite (twice: with
 * defaults, and with RECSYS_SYNC_OS and a tiny compact_bytes so compactions run all the
 * time), reopen, torn tails at every byte, corruption anywhere else, compaction, leftovers of
 * interrupted compactions, forget, the lock, options, write failures, the OOM loop, and group
 * commit (append_events_deferred + wait_durable: tickets, flushes shared by many tickets and
 * threads, a failed flush). */
#include "store_conformance.h"
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/error.h"
#include "store/log.h"

/* ---------------------------------------------------------------- fdatasync ------------- */

/* This executable's fdatasync replaces libc's for the library linked into it (a static
 * archive resolves to the executable's definition): it counts calls and fails them on
 * demand, which is how the group commit's flushes are observed and a failed flush is made.
 * Everything else goes to the system call. */
static atomic_long fdatasync_calls;
static atomic_int fdatasync_fail; /* non-zero: fail with EIO */

int fdatasync(int fd)
{
    atomic_fetch_add(&fdatasync_calls, 1);
    if (atomic_load(&fdatasync_fail)) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fdatasync, fd);
}

/* ---------------------------------------------------------------- fixtures -------------- */

typedef struct file_fx {
    char dir[128];
    int32_t sync;
    uint64_t compact_bytes;
} file_fx;

static recsys_status fx_reopen(void *arg, recsys_store_vtable *out)
{
    file_fx *f = arg;
    RECSYS_INIT(recsys_file_store_opts, o, .sync = f->sync, .compact_bytes = f->compact_bytes);
    return recsys_store_file_new(f->dir, &o, out);
}

static recsys_status fx_open(void *arg, recsys_store_vtable *out)
{
    file_fx *f = arg;
    store_test_mkdtemp(f->dir, sizeof f->dir, "store");
    return fx_reopen(arg, out);
}

static const char *fx_dir(void *arg)
{
    return ((file_fx *)arg)->dir;
}

static void fx_cleanup(void *arg)
{
    file_fx *f = arg;
    if (f->dir[0])
        tk_rm_rf(f->dir);
    f->dir[0] = '\0';
}

static file_fx fx_default = { .sync = RECSYS_SYNC_FULL };
static file_fx fx_small = { .sync = RECSYS_SYNC_OS, .compact_bytes = 700 };

static store_conformance conf_default = {
    .name = "file",
    .open = fx_open,
    .reopen = fx_reopen,
    .files_dir = fx_dir,
    .cleanup = fx_cleanup,
    .arg = &fx_default,
    .insertion_order = true,
};

static store_conformance conf_small = {
    .name = "file (sync os, compact_bytes 700)",
    .open = fx_open,
    .reopen = fx_reopen,
    .files_dir = fx_dir,
    .cleanup = fx_cleanup,
    .arg = &fx_small,
    .insertion_order = true,
};

/* Per-test state of the store-specific tests: a temp dir, removed afterwards. */
typedef struct tdir {
    char dir[128];
    int fds;
} tdir;

static int tdir_setup(void **state)
{
    tdir *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    store_test_mkdtemp(t->dir, sizeof t->dir, "file");
    t->fds = store_test_count_fds();
    *state = t;
    return 0;
}

static int tdir_teardown(void **state)
{
    tdir *t = *state;
    int leaked = store_test_count_fds() - t->fds;
    if (leaked)
        print_error("%d file descriptor(s) leaked\n", leaked);
    tk_rm_rf(t->dir);
    free(t);
    return leaked ? -1 : 0;
}

#define TDIR_TEST(f) cmocka_unit_test_setup_teardown(f, tdir_setup, tdir_teardown)

static recsys_status open_opts(const char *dir, int32_t sync, uint64_t compact_bytes,
                               const recsys_allocator *a, recsys_store_vtable *vt)
{
    RECSYS_INIT(recsys_file_store_opts, o, .sync = sync, .compact_bytes = compact_bytes,
                .allocator = a);
    memset(vt, 0, sizeof *vt);
    vt->struct_size = sizeof *vt;
    return recsys_store_file_new(dir, &o, vt);
}

static void open_ok(const char *dir, recsys_store_vtable *vt)
{
    recsys_status st = open_opts(dir, RECSYS_SYNC_FULL, 0, NULL, vt);
    if (st != RECSYS_OK)
        fail_msg("open %s: %s (%s)", dir, recsys_status_str(st), recsys_last_error());
}

static void close_store(recsys_store_vtable *vt)
{
    vt->destroy(vt->ctx);
    memset(vt, 0, sizeof *vt);
}

/* The path of the store's current log or snapshot (the file named prefix<16 hex>). */
static bool find_file(const char *dir, const char *prefix, char *path, size_t cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    bool found = false;
    struct dirent *e;
    size_t pl = strlen(prefix);
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, pl) == 0 && strlen(e->d_name) == pl + 16) {
            snprintf(path, cap, "%s/%s", dir, e->d_name);
            found = true;
            break;
        }
    }
    closedir(d);
    return found;
}

static void log_path(const char *dir, char *path, size_t cap)
{
    assert_true(find_file(dir, "log.", path, cap));
}

static long file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (long)sb.st_size;
}

/* Sorted names of the files in dir, joined with spaces. */
static void list_dir(const char *dir, char *out, size_t cap)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    assert_true(n >= 0);
    out[0] = '\0';
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
            int k = snprintf(out + len, cap - len, "%s%s", len ? " " : "", names[i]->d_name);
            assert_true(k > 0 && (size_t)k < cap - len);
            len += (size_t)k;
        }
        free(names[i]);
    }
    free(names);
}

static long dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    long total = 0;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        total += file_size(path);
    }
    closedir(d);
    return total;
}

static unsigned char *dump(const recsys_store_vtable *vt, size_t *len)
{
    return store_test_dump(vt, false, len);
}

static void expect_dump(const recsys_store_vtable *vt, const unsigned char *want, size_t want_len)
{
    size_t len;
    unsigned char *got = dump(vt, &len);
    assert_int_equal(len, want_len);
    assert_memory_equal(got, want, len);
    free(got);
}

/* ---------------------------------------------------------------- options and lock ------ */

static void new_checks_arguments(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    memset(&vt, 0, sizeof vt);
    vt.struct_size = sizeof vt;
    assert_int_equal(recsys_store_file_new(NULL, NULL, &vt), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_store_file_new(t->dir, NULL, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_store_file_new("", NULL, &vt), RECSYS_E_INVALID_ARG);
    vt.struct_size = 16;
    assert_int_equal(recsys_store_file_new(t->dir, NULL, &vt), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "struct_size"));
    vt.struct_size = sizeof vt;

    recsys_file_store_opts o;
    memset(&o, 0, sizeof o);
    o.struct_size = 8;
    assert_int_equal(recsys_store_file_new(t->dir, &o, &vt), RECSYS_E_INVALID_ARG);
    o.struct_size = sizeof o;
    o.sync = 7;
    assert_int_equal(recsys_store_file_new(t->dir, &o, &vt), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "sync 7"));
    o.sync = RECSYS_SYNC_OS;
    o.reserved = 1;
    assert_int_equal(recsys_store_file_new(t->dir, &o, &vt), RECSYS_E_UNSUPPORTED);
    o.reserved = 0;
    /* a newer caller's longer record: zero tail fine, non-zero tail unsupported */
    struct {
        recsys_file_store_opts o;
        uint64_t newer;
    } big;
    memset(&big, 0, sizeof big);
    big.o.struct_size = sizeof big;
    big.newer = 5;
    assert_int_equal(recsys_store_file_new(t->dir, &big.o, &vt), RECSYS_E_UNSUPPORTED);
    big.newer = 0;
    assert_int_equal(recsys_store_file_new(t->dir, &big.o, &vt), RECSYS_OK);
    assert_string_equal(recsys_last_error(), "");
    close_store(&vt);

    /* a directory that is a file, and one whose parent is missing */
    char path[256];
    snprintf(path, sizeof path, "%s/plain-file", t->dir);
    store_test_write_file(path, "x", 1);
    vt.struct_size = sizeof vt;
    assert_int_equal(recsys_store_file_new(path, NULL, &vt), RECSYS_E_IO);
    assert_non_null(strstr(recsys_last_error(), path));
    snprintf(path, sizeof path, "%s/missing/store", t->dir);
    assert_int_equal(recsys_store_file_new(path, NULL, &vt), RECSYS_E_IO);
    assert_non_null(strstr(recsys_last_error(), path));
}

static void creates_missing_directory(void **state)
{
    tdir *t = *state;
    char sub[256];
    snprintf(sub, sizeof sub, "%s/new-store", t->dir);
    recsys_store_vtable vt;
    open_ok(sub, &vt);
    assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_ITEM, "i", "v", 1), RECSYS_OK);
    close_store(&vt);
    char names[256];
    list_dir(sub, names, sizeof names);
    assert_string_equal(names, "LOCK log.0000000000000000");
    tk_rm_rf(sub);
}

static void second_open_is_refused(void **state)
{
    tdir *t = *state;
    recsys_store_vtable a, b;
    open_ok(t->dir, &a);
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &b), RECSYS_E_STATE);
    assert_non_null(strstr(recsys_last_error(), "LOCK"));
    assert_non_null(strstr(recsys_last_error(), t->dir));
    close_store(&a);
    open_ok(t->dir, &b);
    close_store(&b);
}

/* ---------------------------------------------------------------- reopen ---------------- */

static void reopen_after_many_generations(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    for (unsigned round = 0; round < 5; round++) {
        open_ok(t->dir, &vt);
        store_test_fill(&vt, round);
        if (round % 2)
            assert_int_equal(vt.compact(vt.ctx), RECSYS_OK);
        size_t len;
        unsigned char *want = dump(&vt, &len);
        close_store(&vt);
        open_ok(t->dir, &vt);
        expect_dump(&vt, want, len);
        close_store(&vt);
        free(want);
    }
    char names[256];
    list_dir(t->dir, names, sizeof names);
    /* two compactions: generation 2, no files of older generations left */
    assert_string_equal(names, "LOCK log.0000000000000002 snapshot.0000000000000002");
}

static void sync_os_mode_and_sync(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_OS, 0, NULL, &vt), RECSYS_OK);
    store_test_fill(&vt, 9);
    assert_int_equal(vt.sync(vt.ctx), RECSYS_OK);
    size_t len;
    unsigned char *want = dump(&vt, &len);
    close_store(&vt);
    open_ok(t->dir, &vt);
    expect_dump(&vt, want, len);
    close_store(&vt);
    free(want);
}

/* ---------------------------------------------------------------- torn tails ------------ */

/* Builds a store whose log ends with the record `last` adds. Returns the dumps without and
 * with that record, the log's bytes and the offset where the last record starts. */
typedef void (*last_fn)(recsys_store_vtable *vt);

static void torn_tail_case(const char *dir, last_fn last)
{
    recsys_store_vtable vt;
    open_ok(dir, &vt);
    store_test_fill(&vt, 1);
    assert_int_equal(vt.compact(vt.ctx), RECSYS_OK);
    store_test_fill(&vt, 2);
    size_t without_len, with_len;
    unsigned char *without = dump(&vt, &without_len);
    char log[256];
    log_path(dir, log, sizeof log);
    long start = file_size(log);
    last(&vt);
    unsigned char *with = dump(&vt, &with_len);
    close_store(&vt);
    size_t log_len;
    unsigned char *bytes = store_test_read_file(log, &log_len);
    assert_non_null(bytes);
    assert_true((long)log_len > start);

    /* cut inside the last record, at every byte */
    for (size_t cut = (size_t)start; cut < log_len; cut++) {
        store_test_write_file(log, bytes, cut);
        recsys_status st = open_opts(dir, RECSYS_SYNC_FULL, 0, NULL, &vt);
        if (st != RECSYS_OK)
            fail_msg("cut at %zu of %zu: %s (%s)", cut, log_len, recsys_status_str(st),
                     recsys_last_error());
        expect_dump(&vt, without, without_len);
        close_store(&vt);
        assert_int_equal(file_size(log), start); /* the torn tail was cut off */
    }

    /* garbage after the complete log */
    unsigned char *junk = malloc(log_len + 8192);
    assert_non_null(junk);
    srand(7);
    for (int kind = 0; kind < 5; kind++) {
        memcpy(junk, bytes, log_len);
        size_t extra = 0;
        switch (kind) {
        case 0: /* random bytes */
            extra = 333;
            for (size_t i = 0; i < extra; i++)
                junk[log_len + i] = (unsigned char)rand();
            break;
        case 1: /* zeros, as a file system may leave after a crash */
            extra = 8192;
            memset(junk + log_len, 0, extra);
            break;
        case 2: /* the start of a real record again (a torn re-append) */
            extra = (size_t)(log_len - (size_t)start) - 1;
            memcpy(junk + log_len, bytes + start, extra);
            break;
        case 3: /* just a magic */
            extra = 4;
            memcpy(junk + log_len, "RSR1", 4);
            break;
        default: /* one byte */
            extra = 1;
            junk[log_len] = 0x52;
            break;
        }
        store_test_write_file(log, junk, log_len + extra);
        recsys_status st = open_opts(dir, RECSYS_SYNC_FULL, 0, NULL, &vt);
        if (st != RECSYS_OK)
            fail_msg("garbage %d: %s (%s)", kind, recsys_status_str(st), recsys_last_error());
        expect_dump(&vt, with, with_len);
        /* appending after the recovered tail works and survives a reopen */
        recsys_event ev = store_test_event(RECSYS_EVENT_CLICK, "after", "repair", 42);
        assert_int_equal(vt.append_events(vt.ctx, &ev, 1), RECSYS_OK);
        close_store(&vt);
        assert_true(file_size(log) > (long)log_len);
        open_ok(dir, &vt);
        store_test_events evs;
        assert_int_equal(store_test_collect_events(&vt, &evs), RECSYS_OK);
        assert_true(store_test_event_equal(&evs.ev[evs.n - 1], &ev));
        store_test_events_free(&evs);
        close_store(&vt);
    }
    free(junk);
    free(bytes);
    free(with);
    free(without);
}

static void last_is_events(recsys_store_vtable *vt)
{
    recsys_event ev[2] = { store_test_event(RECSYS_EVENT_LIKE, "u9", "i9", 99),
                           store_test_event(RECSYS_EVENT_SEARCH, "u9", NULL, 100) };
    ev[1].query = "q";
    assert_int_equal(vt->append_events(vt->ctx, ev, 2), RECSYS_OK);
}

static void last_is_put(recsys_store_vtable *vt)
{
    assert_int_equal(vt->put(vt->ctx, RECSYS_RECORD_USER, "u9", "{\"a\":1}", 7), RECSYS_OK);
}

static void last_is_remove(recsys_store_vtable *vt)
{
    /* "k2-2" is one of store_test_fill's live keys; its kind follows the fill's rule, so it
     * is looked up rather than assumed */
    int32_t kind = RECSYS_RECORD_ITEM;
    unsigned char *v = NULL;
    size_t len;
    while (store_test_get(vt, kind, "k2-2", &v, &len) == RECSYS_E_NOT_FOUND && kind < 16)
        kind++;
    free(v);
    assert_int_equal(vt->remove(vt->ctx, kind, "k2-2"), RECSYS_OK);
}

static void torn_tail_events(void **state)
{
    torn_tail_case(((tdir *)*state)->dir, last_is_events);
}

static void torn_tail_put(void **state)
{
    torn_tail_case(((tdir *)*state)->dir, last_is_put);
}

static void torn_tail_remove(void **state)
{
    torn_tail_case(((tdir *)*state)->dir, last_is_remove);
}

static void torn_header_of_a_new_log(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    open_ok(t->dir, &vt);
    close_store(&vt);
    char log[256];
    log_path(t->dir, log, sizeof log);
    size_t len;
    unsigned char *bytes = store_test_read_file(log, &len);
    assert_int_equal(len, RECSYS__LOG_FILE_HDR_SIZE);
    for (size_t cut = 0; cut < len; cut++) {
        store_test_write_file(log, bytes, cut);
        open_ok(t->dir, &vt);
        assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_ITEM, "k", "v", 1), RECSYS_OK);
        close_store(&vt);
        open_ok(t->dir, &vt);
        unsigned char *v;
        size_t vl;
        assert_int_equal(store_test_get(&vt, RECSYS_RECORD_ITEM, "k", &v, &vl), RECSYS_OK);
        free(v);
        close_store(&vt);
    }
    free(bytes);
}

/* ---------------------------------------------------------------- corruption ------------ */

/* Flipping any byte of the log before its last record, or any byte of a snapshot, must give
 * RECSYS_E_CORRUPT naming the file and an offset, never a silent loss. */
static void corruption_anywhere_else_is_reported(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    open_ok(t->dir, &vt);
    store_test_fill(&vt, 5);
    assert_int_equal(vt.compact(vt.ctx), RECSYS_OK);
    for (int i = 0; i < 3; i++) {
        char key[16];
        snprintf(key, sizeof key, "log-%d", i);
        assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_ITEM, key, "value", 5), RECSYS_OK);
    }
    char log[256], snap[256];
    log_path(t->dir, log, sizeof log);
    long last_start = file_size(log);
    last_is_events(&vt);
    close_store(&vt);
    assert_true(find_file(t->dir, "snapshot.", snap, sizeof snap));

    const char *files[2] = { log, snap };
    for (int f = 0; f < 2; f++) {
        size_t len;
        unsigned char *bytes = store_test_read_file(files[f], &len);
        assert_non_null(bytes);
        size_t end = f == 0 ? (size_t)last_start : len;
        const char *base = strrchr(files[f], '/') + 1;
        for (size_t off = 0; off < end; off++) {
            bytes[off] ^= 0x20;
            store_test_write_file(files[f], bytes, len);
            bytes[off] ^= 0x20;
            recsys_status st = open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &vt);
            if (st == RECSYS_OK) {
                close_store(&vt);
                fail_msg("%s: a flipped byte at offset %zu went unnoticed", base, off);
            }
            if (st != RECSYS_E_CORRUPT)
                fail_msg("%s offset %zu: %s (%s)", base, off, recsys_status_str(st),
                         recsys_last_error());
            assert_non_null(strstr(recsys_last_error(), base));
            assert_non_null(strstr(recsys_last_error(), "offset"));
            /* nothing was cut: the damaged file is left as it was for inspection */
            assert_int_equal(file_size(files[f]), (long)len);
        }
        store_test_write_file(files[f], bytes, len);
        free(bytes);
    }
    open_ok(t->dir, &vt); /* the originals open again */
    close_store(&vt);
}

static void corrupt_message_names_file_and_offsets(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    open_ok(t->dir, &vt);
    assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_ITEM, "a", "1", 1), RECSYS_OK);
    assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_ITEM, "b", "2", 1), RECSYS_OK);
    close_store(&vt);
    char log[256];
    log_path(t->dir, log, sizeof log);
    size_t len;
    unsigned char *bytes = store_test_read_file(log, &len);
    /* damage the payload of the first put (header 40 bytes, then a 24-byte record header) */
    size_t first = RECSYS__LOG_FILE_HDR_SIZE;
    bytes[first + RECSYS__LOG_HDR_SIZE + 2] ^= 1;
    store_test_write_file(log, bytes, len);
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
    char want[64];
    snprintf(want, sizeof want, "offset %zu", first);
    assert_non_null(strstr(recsys_last_error(), want));
    assert_non_null(strstr(recsys_last_error(), "log.0000000000000000"));
    assert_non_null(strstr(recsys_last_error(), "payload checksum"));
    free(bytes);
}

static void unknown_record_type_is_corrupt_even_at_the_tail(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    open_ok(t->dir, &vt);
    assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_ITEM, "a", "1", 1), RECSYS_OK);
    close_store(&vt);
    char log[256];
    log_path(t->dir, log, sizeof log);
    size_t len;
    unsigned char *bytes = store_test_read_file(log, &len);
    recsys__log_buf b;
    recsys__log_buf_init(&b, &recsys__mem_default);
    assert_int_equal(recsys__log_buf_reserve(&b, len), RECSYS_OK);
    memcpy(b.p, bytes, len);
    b.len = len;
    /* a well-formed record of a type from the future: not a torn write, so never dropped */
    assert_int_equal(recsys__log_enc_raw(&b, 77, "future", 6), RECSYS_OK);
    store_test_write_file(log, b.p, b.len);
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
    assert_non_null(strstr(recsys_last_error(), "unknown type"));
    assert_int_equal(file_size(log), (long)b.len);
    /* a put of an unknown kind, and an end record inside a log */
    for (int c = 0; c < 2; c++) {
        b.len = len;
        if (c == 0)
            assert_int_equal(recsys__log_enc_put(&b, 9, "k", 1, "v", 1), RECSYS_OK);
        else
            assert_int_equal(recsys__log_enc_end(&b, 0, 0), RECSYS_OK);
        store_test_write_file(log, b.p, b.len);
        assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
    }
    recsys__log_buf_free(&b);
    free(bytes);
}

/* An events record holding no events (never written by the store, but well-formed) is read
 * as nothing, through scans, forget and compaction (found by fuzz_log). */
static void empty_events_record(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    open_ok(t->dir, &vt);
    close_store(&vt);
    char log[256];
    log_path(t->dir, log, sizeof log);
    size_t len;
    unsigned char *bytes = store_test_read_file(log, &len);
    recsys__log_buf b;
    recsys__log_buf_init(&b, &recsys__mem_default);
    assert_int_equal(recsys__log_buf_reserve(&b, len), RECSYS_OK);
    memcpy(b.p, bytes, len);
    b.len = len;
    assert_int_equal(recsys__log_enc_events(&b, NULL, 0), RECSYS_OK);
    store_test_write_file(log, b.p, b.len);
    recsys__log_buf_free(&b);
    free(bytes);
    open_ok(t->dir, &vt);
    store_test_events got;
    assert_int_equal(store_test_collect_events(&vt, &got), RECSYS_OK);
    assert_int_equal(got.n, 0);
    store_test_events_free(&got);
    assert_int_equal(vt.forget_user(vt.ctx, "nobody"), RECSYS_OK);
    assert_int_equal(vt.compact(vt.ctx), RECSYS_OK);
    assert_int_equal(store_test_collect_events(&vt, &got), RECSYS_OK);
    assert_int_equal(got.n, 0);
    store_test_events_free(&got);
    close_store(&vt);
}

static void snapshot_without_end_is_corrupt(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    open_ok(t->dir, &vt);
    store_test_fill(&vt, 3);
    assert_int_equal(vt.compact(vt.ctx), RECSYS_OK);
    close_store(&vt);
    char snap[256];
    assert_true(find_file(t->dir, "snapshot.", snap, sizeof snap));
    size_t len;
    unsigned char *bytes = store_test_read_file(snap, &len);
    /* drop the END record (24 + 16 bytes): every remaining record is valid */
    store_test_write_file(snap, bytes, len - 40);
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
    assert_non_null(strstr(recsys_last_error(), "end record"));
    /* any shorter prefix too */
    for (size_t cut = 0; cut < len; cut += 37) {
        store_test_write_file(snap, bytes, cut);
        assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
    }
    free(bytes);
}

/* ---------------------------------------------------------------- compaction ------------ */

static void compaction_keeps_state_and_shrinks(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    open_ok(t->dir, &vt);
    char val[1024];
    for (int i = 0; i < 200; i++) {
        memset(val, 'a' + i % 26, sizeof val);
        assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_STATE, "model", val, sizeof val), RECSYS_OK);
        char key[16];
        snprintf(key, sizeof key, "tmp-%d", i);
        assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_ITEM, key, val, 100), RECSYS_OK);
        assert_int_equal(vt.remove(vt.ctx, RECSYS_RECORD_ITEM, key), RECSYS_OK);
    }
    last_is_events(&vt);
    size_t len;
    unsigned char *want = dump(&vt, &len);
    long before = dir_bytes(t->dir);
    assert_int_equal(vt.compact(vt.ctx), RECSYS_OK);
    long after = dir_bytes(t->dir);
    assert_true(after * 20 < before);
    expect_dump(&vt, want, len);
    char names[256];
    list_dir(t->dir, names, sizeof names);
    assert_string_equal(names, "LOCK log.0000000000000001 snapshot.0000000000000001");
    /* compacting again changes nothing but the generation */
    assert_int_equal(vt.compact(vt.ctx), RECSYS_OK);
    assert_int_equal(dir_bytes(t->dir), after);
    close_store(&vt);
    open_ok(t->dir, &vt);
    expect_dump(&vt, want, len);
    close_store(&vt);
    free(want);
}

static void automatic_compaction(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    const uint64_t limit = 4096;
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_OS, limit, NULL, &vt), RECSYS_OK);
    char val[200], log[256];
    long max_log = 0;
    for (int i = 0; i < 500; i++) {
        memset(val, 'a' + i % 26, sizeof val);
        assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_STATE, "hot", val, sizeof val), RECSYS_OK);
        log_path(t->dir, log, sizeof log);
        long size = file_size(log);
        if (size > max_log)
            max_log = size;
    }
    /* the log never grew past the limit by more than one record */
    assert_true(max_log <= (long)limit + 24 + 8 + 3 + 200);
    assert_false(strstr(log, "log.0000000000000000")); /* compactions happened */
    /* events: many small batches, all kept in order across the compactions */
    recsys_event ev[3000];
    char items[3000][16];
    for (int i = 0; i < 3000; i++) {
        snprintf(items[i], sizeof items[i], "i%d", i);
        ev[i] = store_test_event(RECSYS_EVENT_VIEW, "u", items[i], i);
    }
    for (int i = 0; i < 3000; i += 10)
        assert_int_equal(vt.append_events(vt.ctx, ev + i, 10), RECSYS_OK);
    store_test_events got;
    assert_int_equal(store_test_collect_events(&vt, &got), RECSYS_OK);
    assert_int_equal(got.n, 3000);
    for (int i = 0; i < 3000; i++)
        assert_true(store_test_event_equal(&got.ev[i], &ev[i]));
    store_test_events_free(&got);
    size_t len;
    unsigned char *want = dump(&vt, &len);
    close_store(&vt);
    char names[256];
    list_dir(t->dir, names, sizeof names);
    assert_int_equal(strlen(names), strlen("LOCK log.0000000000000000 snapshot.0000000000000000"));
    open_ok(t->dir, &vt);
    expect_dump(&vt, want, len);
    close_store(&vt);
    free(want);
}

/* What an interrupted compaction leaves behind is cleaned up on open; a newer log holding
 * data (which compaction never produces) is refused, not dropped. */
static void leftovers_of_interrupted_compactions(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    open_ok(t->dir, &vt);
    store_test_fill(&vt, 6);
    assert_int_equal(vt.compact(vt.ctx), RECSYS_OK); /* generation 1 */
    size_t len;
    unsigned char *want = dump(&vt, &len);
    close_store(&vt);
    char path[256], names[512];
    unsigned char hdr[RECSYS__LOG_FILE_HDR_SIZE];

    /* crash during step 1 or 2: a temp snapshot and a header-only log of generation 2 */
    snprintf(path, sizeof path, "%s/snapshot.0000000000000002.tmp", t->dir);
    store_test_write_file(path, "partial snapshot", 16);
    recsys__log_file_header(hdr, RECSYS__LOG_ROLE_LOG, 2);
    snprintf(path, sizeof path, "%s/log.0000000000000002", t->dir);
    store_test_write_file(path, hdr, sizeof hdr);
    /* crash during step 6: the old generation's log still there */
    snprintf(path, sizeof path, "%s/log.0000000000000000", t->dir);
    store_test_write_file(path, "old", 3);
    /* files the store does not own are left alone */
    snprintf(path, sizeof path, "%s/README", t->dir);
    store_test_write_file(path, "hi", 2);
    open_ok(t->dir, &vt);
    expect_dump(&vt, want, len);
    close_store(&vt);
    list_dir(t->dir, names, sizeof names);
    assert_string_equal(names, "LOCK README log.0000000000000001 snapshot.0000000000000001");

    /* a newer log with data */
    recsys__log_buf b;
    recsys__log_buf_init(&b, &recsys__mem_default);
    assert_int_equal(recsys__log_enc_header(&b, RECSYS__LOG_ROLE_LOG, 5), RECSYS_OK);
    assert_int_equal(recsys__log_enc_put(&b, RECSYS_RECORD_ITEM, "k", 1, "v", 1), RECSYS_OK);
    snprintf(path, sizeof path, "%s/log.0000000000000005", t->dir);
    store_test_write_file(path, b.p, b.len);
    recsys__log_buf_free(&b);
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
    assert_non_null(strstr(recsys_last_error(), "log.0000000000000005"));
    unlink(path);

    /* a log whose header names another generation */
    char log[256];
    log_path(t->dir, log, sizeof log);
    size_t loglen;
    unsigned char *bytes = store_test_read_file(log, &loglen);
    recsys__log_file_header(bytes, RECSYS__LOG_ROLE_LOG, 7);
    store_test_write_file(log, bytes, loglen);
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
    assert_non_null(strstr(recsys_last_error(), "generation"));
    free(bytes);
    free(want);
}

/* ---------------------------------------------------------------- forget ---------------- */

static void forget_leaves_no_trace(void **state)
{
    tdir *t = *state;
    static const char id[] = "gdpr-user-\xc3\xa9-51c0";
    recsys_store_vtable vt;
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_OS, 2048, NULL, &vt), RECSYS_OK);
    assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_USER, id, "{\"age\":33}", 10), RECSYS_OK);
    for (int round = 0; round < 30; round++) {
        recsys_event ev[4] = {
            store_test_event(RECSYS_EVENT_VIEW, id, "i1", round),
            store_test_event(RECSYS_EVENT_VIEW, "other", "i1", round),
            store_test_event(RECSYS_EVENT_SEARCH, id, NULL, round),
            store_test_event(RECSYS_EVENT_CLICK, "other", "i2", round),
        };
        ev[2].query = "shoes";
        assert_int_equal(vt.append_events(vt.ctx, ev, 4), RECSYS_OK);
    }
    /* the user is in the snapshot (auto-compacted) and in the log */
    char name[256];
    assert_non_null(store_test_dir_find(t->dir, id, strlen(id), name, sizeof name));
    assert_int_equal(vt.forget_user(vt.ctx, id), RECSYS_OK);
    const char *hit = store_test_dir_find(t->dir, id, strlen(id), name, sizeof name);
    if (hit)
        fail_msg("%s still holds the user id", hit);
    store_test_events got;
    assert_int_equal(store_test_collect_events(&vt, &got), RECSYS_OK);
    assert_int_equal(got.n, 60);
    for (size_t i = 0; i < got.n; i++)
        assert_string_equal(got.ev[i].user_id, "other");
    store_test_events_free(&got);
    close_store(&vt);
    assert_null(store_test_dir_find(t->dir, id, strlen(id), name, sizeof name));
}

/* ---------------------------------------------------------------- write failures -------- */

static void failed_write_is_cut_off(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    open_ok(t->dir, &vt);
    store_test_fill(&vt, 2);
    size_t len;
    unsigned char *want = dump(&vt, &len);
    char log[256];
    log_path(t->dir, log, sizeof log);
    long size = file_size(log);

    /* a file size limit just past the log's end: write(2) stores part of the record, then
     * fails with EFBIG */
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)size + 10;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    recsys_event ev = store_test_event(RECSYS_EVENT_CLICK, "u", "a-long-enough-item-id", 1);
    recsys_status st = vt.append_events(vt.ctx, &ev, 1);
    recsys_status st2 = vt.put(vt.ctx, RECSYS_RECORD_ITEM, "big", "0123456789abcdef", 16);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(st, RECSYS_E_IO);
    assert_int_equal(st2, RECSYS_E_IO);
    assert_non_null(strstr(recsys_last_error(), log));
    assert_int_equal(file_size(log), size); /* the partial record was cut off */
    expect_dump(&vt, want, len);
    /* the store keeps working */
    assert_int_equal(vt.append_events(vt.ctx, &ev, 1), RECSYS_OK);
    size_t len2;
    unsigned char *want2 = dump(&vt, &len2);
    close_store(&vt);
    open_ok(t->dir, &vt);
    expect_dump(&vt, want2, len2);
    close_store(&vt);
    free(want);
    free(want2);
}

/* ---------------------------------------------------------------- group commit --------- */

static recsys_event gc_event(const char *user, int64_t i)
{
    recsys_event ev = store_test_event(RECSYS_EVENT_CLICK, user, "item-1", 1700000000 + i);
    ev.value = (double)i;
    return ev;
}

/* Deferred appends write what append_events writes, byte for byte; tickets count bytes. */
static void deferred_writes_what_append_writes(void **state)
{
    tdir *t = *state;
    char da[256], db[256], la[300], lb[300];
    snprintf(da, sizeof da, "%s/a", t->dir);
    snprintf(db, sizeof db, "%s/b", t->dir);
    recsys_store_vtable a, b;
    open_ok(da, &a);
    open_ok(db, &b);
    assert_non_null(b.append_events_deferred);
    assert_non_null(b.wait_durable);
    log_path(db, lb, sizeof lb);
    long start = file_size(lb);
    uint64_t prev = 0, ticket = 0;
    for (int64_t i = 0; i < 5; i++) {
        recsys_event ev[2] = { gc_event("alice", i), gc_event("bob", i) };
        size_t n = (size_t)(i % 2) + 1;
        assert_int_equal(a.append_events(a.ctx, ev, n), RECSYS_OK);
        assert_int_equal(b.append_events_deferred(b.ctx, ev, n, &ticket), RECSYS_OK);
        assert_true(ticket > prev);
        /* the ticket is the bytes appended over the store's life */
        assert_int_equal(ticket, (uint64_t)(file_size(lb) - start));
        prev = ticket;
    }
    assert_int_equal(b.wait_durable(b.ctx, ticket), RECSYS_OK);
    assert_int_equal(b.wait_durable(b.ctx, ticket / 2), RECSYS_OK);
    assert_int_equal(b.wait_durable(b.ctx, 0), RECSYS_OK);
    log_path(da, la, sizeof la);
    size_t na, nb;
    unsigned char *ca = store_test_read_file(la, &na), *cb = store_test_read_file(lb, &nb);
    assert_non_null(ca);
    assert_non_null(cb);
    assert_int_equal(na, nb);
    assert_memory_equal(ca, cb, na);
    free(ca);
    free(cb);
    size_t len;
    unsigned char *want = dump(&a, &len);
    expect_dump(&b, want, len);
    close_store(&b);
    open_ok(db, &b);
    expect_dump(&b, want, len);
    close_store(&a);
    close_store(&b);
    free(want);
}

static void deferred_checks_arguments(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    open_ok(t->dir, &vt);
    recsys_event ev = gc_event("alice", 1);
    uint64_t ticket = 99;
    assert_int_equal(vt.append_events_deferred(vt.ctx, &ev, 1, NULL), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "ticket is NULL"));
    assert_int_equal(vt.append_events_deferred(vt.ctx, NULL, 1, &ticket), RECSYS_E_INVALID_ARG);
    /* nothing to write: ticket 0, which is durable at once */
    assert_int_equal(vt.append_events_deferred(vt.ctx, &ev, 0, &ticket), RECSYS_OK);
    assert_int_equal(ticket, 0);
    assert_int_equal(vt.wait_durable(vt.ctx, 0), RECSYS_OK);
    assert_int_equal(vt.append_events_deferred(vt.ctx, &ev, 1, &ticket), RECSYS_OK);
    /* a ticket nothing returned */
    assert_int_equal(vt.wait_durable(vt.ctx, ticket + 1), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "beyond"));
    assert_int_equal(vt.wait_durable(vt.ctx, ticket), RECSYS_OK);
    close_store(&vt);
}

/* One flush makes every ticket before it durable; so do the writes that fsync themselves,
 * sync, compaction and forget. In RECSYS_SYNC_OS wait_durable never flushes. */
static void one_flush_covers_many_tickets(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    open_ok(t->dir, &vt);
    uint64_t tk[6];
    for (int64_t i = 0; i < 6; i++) {
        recsys_event ev = gc_event("alice", i);
        assert_int_equal(vt.append_events_deferred(vt.ctx, &ev, 1, &tk[i]), RECSYS_OK);
    }
    long calls = atomic_load(&fdatasync_calls);
    assert_int_equal(vt.wait_durable(vt.ctx, tk[3]), RECSYS_OK);
    assert_int_equal(atomic_load(&fdatasync_calls), calls + 1);
    for (int i = 0; i < 6; i++) /* tk[3] flushed everything written before it */
        assert_int_equal(vt.wait_durable(vt.ctx, tk[i]), RECSYS_OK);
    assert_int_equal(atomic_load(&fdatasync_calls), calls + 1);

    /* writes with their own fdatasync, sync, compaction and forget settle tickets too */
    uint64_t ticket;
    recsys_event ev = gc_event("bob", 7);
    assert_int_equal(vt.append_events_deferred(vt.ctx, &ev, 1, &ticket), RECSYS_OK);
    assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_ITEM, "k", "v", 1), RECSYS_OK);
    calls = atomic_load(&fdatasync_calls);
    assert_int_equal(vt.wait_durable(vt.ctx, ticket), RECSYS_OK);
    assert_int_equal(atomic_load(&fdatasync_calls), calls);
    assert_int_equal(vt.append_events_deferred(vt.ctx, &ev, 1, &ticket), RECSYS_OK);
    assert_int_equal(vt.sync(vt.ctx), RECSYS_OK);
    calls = atomic_load(&fdatasync_calls);
    assert_int_equal(vt.wait_durable(vt.ctx, ticket), RECSYS_OK);
    assert_int_equal(atomic_load(&fdatasync_calls), calls);
    for (int round = 0; round < 2; round++) {
        uint64_t before = ticket;
        assert_int_equal(vt.append_events_deferred(vt.ctx, &ev, 1, &ticket), RECSYS_OK);
        assert_true(ticket > before); /* tickets keep growing across generations */
        if (round == 0)
            assert_int_equal(vt.compact(vt.ctx), RECSYS_OK);
        else
            assert_int_equal(vt.forget_user(vt.ctx, "nobody"), RECSYS_OK);
        calls = atomic_load(&fdatasync_calls);
        assert_int_equal(vt.wait_durable(vt.ctx, ticket), RECSYS_OK);
        assert_int_equal(atomic_load(&fdatasync_calls), calls);
    }
    /* the appends of the new generation's log flush as before */
    assert_int_equal(vt.append_events_deferred(vt.ctx, &ev, 1, &ticket), RECSYS_OK);
    calls = atomic_load(&fdatasync_calls);
    assert_int_equal(vt.wait_durable(vt.ctx, ticket), RECSYS_OK);
    assert_int_equal(atomic_load(&fdatasync_calls), calls + 1);
    size_t len;
    unsigned char *want = dump(&vt, &len);
    close_store(&vt);
    open_ok(t->dir, &vt);
    expect_dump(&vt, want, len);
    close_store(&vt);
    free(want);

    /* sync os: the write already happened, nothing to wait for */
    char dir[256];
    snprintf(dir, sizeof dir, "%s/os", t->dir);
    assert_int_equal(open_opts(dir, RECSYS_SYNC_OS, 0, NULL, &vt), RECSYS_OK);
    assert_int_equal(vt.append_events_deferred(vt.ctx, &ev, 1, &ticket), RECSYS_OK);
    calls = atomic_load(&fdatasync_calls);
    assert_int_equal(vt.wait_durable(vt.ctx, ticket), RECSYS_OK);
    assert_int_equal(atomic_load(&fdatasync_calls), calls);
    close_store(&vt);
}

/* A failed flush: wait_durable reports RECSYS_E_IO for tickets it did not make durable, the
 * store refuses further writes, tickets already durable stay so; reopening recovers what
 * was written. */
static void failed_flush_is_reported(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    open_ok(t->dir, &vt);
    uint64_t t1, t2;
    recsys_event e1 = gc_event("alice", 1), e2 = gc_event("alice", 2);
    assert_int_equal(vt.append_events_deferred(vt.ctx, &e1, 1, &t1), RECSYS_OK);
    assert_int_equal(vt.wait_durable(vt.ctx, t1), RECSYS_OK);
    assert_int_equal(vt.append_events_deferred(vt.ctx, &e2, 1, &t2), RECSYS_OK);
    atomic_store(&fdatasync_fail, 1);
    recsys_status st = vt.wait_durable(vt.ctx, t2);
    atomic_store(&fdatasync_fail, 0);
    assert_int_equal(st, RECSYS_E_IO);
    assert_non_null(strstr(recsys_last_error(), "not confirmed durable"));
    assert_non_null(strstr(recsys_last_error(), "fdatasync"));
    assert_non_null(strstr(recsys_last_error(), t->dir));
    /* every later wait for it fails the same way, without another flush */
    long calls = atomic_load(&fdatasync_calls);
    assert_int_equal(vt.wait_durable(vt.ctx, t2), RECSYS_E_IO);
    assert_int_equal(atomic_load(&fdatasync_calls), calls);
    assert_int_equal(vt.wait_durable(vt.ctx, t1), RECSYS_OK); /* durable before */
    uint64_t t3;
    assert_int_equal(vt.append_events_deferred(vt.ctx, &e2, 1, &t3), RECSYS_E_IO);
    assert_non_null(strstr(recsys_last_error(), "refuses writes"));
    assert_int_equal(vt.append_events(vt.ctx, &e2, 1), RECSYS_E_IO);
    assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_ITEM, "k", "v", 1), RECSYS_E_IO);
    close_store(&vt);
    /* the write itself happened: reopening finds both events */
    open_ok(t->dir, &vt);
    store_test_events got = { 0 };
    assert_int_equal(store_test_collect_events(&vt, &got), RECSYS_OK);
    assert_int_equal(got.n, 2);
    assert_true(store_test_event_equal(&got.ev[0], &e1));
    assert_true(store_test_event_equal(&got.ev[1], &e2));
    store_test_events_free(&got);
    close_store(&vt);
}

/* A failed deferred write is cut off as append_events' is, and gives no ticket. */
static void failed_deferred_write_is_cut_off(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    open_ok(t->dir, &vt);
    recsys_event ev = gc_event("alice", 1);
    uint64_t t1, t2 = 12345;
    assert_int_equal(vt.append_events_deferred(vt.ctx, &ev, 1, &t1), RECSYS_OK);
    char log[256];
    log_path(t->dir, log, sizeof log);
    long size = file_size(log);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)size + 10;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    recsys_event big = store_test_event(RECSYS_EVENT_CLICK, "u", "a-long-enough-item-id", 1);
    recsys_status st = vt.append_events_deferred(vt.ctx, &big, 1, &t2);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(st, RECSYS_E_IO);
    assert_non_null(strstr(recsys_last_error(), log));
    assert_int_equal(t2, 0);
    assert_int_equal(file_size(log), size);
    /* the store keeps working and the tickets go on from where they were */
    assert_int_equal(vt.wait_durable(vt.ctx, t1), RECSYS_OK);
    assert_int_equal(vt.append_events_deferred(vt.ctx, &ev, 1, &t2), RECSYS_OK);
    assert_int_equal(t2, 2 * t1);
    assert_int_equal(vt.wait_durable(vt.ctx, t2), RECSYS_OK);
    close_store(&vt);
    open_ok(t->dir, &vt);
    store_test_events got = { 0 };
    assert_int_equal(store_test_collect_events(&vt, &got), RECSYS_OK);
    assert_int_equal(got.n, 2);
    store_test_events_free(&got);
    close_store(&vt);
}

/* Threads append (one at a time, as the engine's store mutex makes them) and wait at once,
 * while compactions switch the log under the flushes; everything acknowledged is there
 * afterwards, once, in each thread's order. */
#define GC_THREADS 8
#define GC_EVENTS 150

typedef struct gc_shared {
    recsys_store_vtable *vt;
    pthread_mutex_t *mu;
    int id;
    int errors;
} gc_shared;

static void *gc_thread(void *arg)
{
    gc_shared *g = arg;
    char user[16];
    snprintf(user, sizeof user, "t%d", g->id);
    for (int64_t i = 0; i < GC_EVENTS; i++) {
        recsys_event ev = gc_event(user, i);
        uint64_t ticket;
        pthread_mutex_lock(g->mu);
        recsys_status st = g->vt->append_events_deferred(g->vt->ctx, &ev, 1, &ticket);
        if (st == RECSYS_OK && g->id == 0 && i % 50 == 49)
            st = g->vt->compact(g->vt->ctx);
        pthread_mutex_unlock(g->mu);
        if (st == RECSYS_OK)
            st = g->vt->wait_durable(g->vt->ctx, ticket);
        if (st != RECSYS_OK)
            g->errors++;
    }
    return NULL;
}

static void threads_share_flushes(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    /* small compact_bytes: automatic compactions too */
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 8192, NULL, &vt), RECSYS_OK);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_t th[GC_THREADS];
    gc_shared g[GC_THREADS];
    long calls = atomic_load(&fdatasync_calls);
    for (int i = 0; i < GC_THREADS; i++) {
        g[i] = (gc_shared){ .vt = &vt, .mu = &mu, .id = i };
        assert_int_equal(pthread_create(&th[i], NULL, gc_thread, &g[i]), 0);
    }
    for (int i = 0; i < GC_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(g[i].errors, 0);
    }
    /* not asserted (timing): flushes shared between threads */
    print_message("group commit: %d acknowledged events, %ld fdatasync calls\n",
                  GC_THREADS * GC_EVENTS, atomic_load(&fdatasync_calls) - calls);
    close_store(&vt);
    open_ok(t->dir, &vt);
    store_test_events got = { 0 };
    assert_int_equal(store_test_collect_events(&vt, &got), RECSYS_OK);
    assert_int_equal(got.n, (size_t)GC_THREADS * GC_EVENTS);
    int64_t next[GC_THREADS] = { 0 };
    for (size_t i = 0; i < got.n; i++) {
        int id = atoi(got.ev[i].user_id + 1);
        assert_true(id >= 0 && id < GC_THREADS);
        assert_int_equal((int64_t)got.ev[i].value, next[id]);
        next[id]++;
    }
    store_test_events_free(&got);
    close_store(&vt);
}

/* ---------------------------------------------------------------- out of memory --------- */

typedef enum oom_op {
    OP_OPEN, OP_PUT, OP_REPLACE, OP_REMOVE, OP_APPEND, OP_SCAN, OP_COMPACT, OP_FORGET,
    OP_DEFERRED, OP_AUTO
} oom_op;

static const char *const oom_names[] = { "open", "put", "replace", "remove", "append",
                                         "scan_events", "compact", "forget",
                                         "append_events_deferred", "auto-compact" };

static recsys_status count_visit(void *arg, const recsys_event *ev)
{
    (void)ev;
    ++*(size_t *)arg;
    return RECSYS_OK;
}

static recsys_status run_op(oom_op op, const char *dir, recsys_store_vtable *vt,
                            const recsys_allocator *rec)
{
    recsys_event ev[3] = {
        store_test_event(RECSYS_EVENT_CLICK, "alice", "new-item", 5),
        store_test_event(RECSYS_EVENT_SEARCH, "bob", NULL, 6),
        store_test_event(RECSYS_EVENT_LIKE, "alice", "new-item", 7),
    };
    ev[1].query = "shoes";
    char big[600];
    memset(big, 'z', sizeof big);
    size_t n = 0;
    uint64_t ticket;
    switch (op) {
    case OP_OPEN:
        return open_opts(dir, RECSYS_SYNC_FULL, 0, rec, vt);
    case OP_PUT:
        return vt->put(vt->ctx, RECSYS_RECORD_ITEM, "brand-new-key", "value", 5);
    case OP_REPLACE:
        return vt->put(vt->ctx, RECSYS_RECORD_USER, "alice", "{\"new\":1}", 9);
    case OP_REMOVE:
        return vt->remove(vt->ctx, RECSYS_RECORD_USER, "alice");
    case OP_APPEND:
        return vt->append_events(vt->ctx, ev, 3);
    case OP_SCAN:
        return vt->scan_events(vt->ctx, count_visit, &n);
    case OP_COMPACT:
        return vt->compact(vt->ctx);
    case OP_FORGET:
        return vt->forget_user(vt->ctx, "alice");
    case OP_DEFERRED: {
        recsys_status st = vt->append_events_deferred(vt->ctx, ev, 3, &ticket);
        return st == RECSYS_OK ? vt->wait_durable(vt->ctx, ticket) : st;
    }
    case OP_AUTO: /* a write that crosses compact_bytes: its compaction may fail, not it */
        return vt->put(vt->ctx, RECSYS_RECORD_STATE, "big", big, sizeof big);
    }
    return RECSYS_E_INTERNAL;
}

static void out_of_memory_loop(void **state)
{
    tdir *t = *state;
    for (oom_op op = OP_OPEN; op <= OP_AUTO; op++) {
        char dir[256];
        snprintf(dir, sizeof dir, "%s/oom-%d", t->dir, (int)op);
        /* a store with a snapshot and a log (a small one for the automatic compaction, whose
         * trigger needs the log to outgrow the snapshot) */
        recsys_store_vtable vt;
        open_ok(dir, &vt);
        if (op != OP_AUTO)
            store_test_fill(&vt, 1);
        assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_USER, "alice", "{}", 2), RECSYS_OK);
        assert_int_equal(vt.compact(vt.ctx), RECSYS_OK);
        if (op != OP_AUTO)
            store_test_fill(&vt, 2);
        close_store(&vt);

        int fds = store_test_count_fds();
        tk_alloc ta;
        recsys_allocator rec;
        tk_alloc_init(&ta, &rec);
        if (op != OP_OPEN)
            assert_int_equal(open_opts(dir, RECSYS_SYNC_OS, op == OP_AUTO ? 1 : 0, &rec, &vt),
                             RECSYS_OK);
        char names_before[512], names_now[512];
        list_dir(dir, names_before, sizeof names_before);
        size_t before_len = 0;
        unsigned char *before = op != OP_OPEN ? dump(&vt, &before_len) : NULL;
        long fails = 0;
        for (long n = 0;; n++) {
            ta.fail_at = ta.count + n;
            long refused = ta.failed;
            recsys__err_clear(); /* as the engine's entry points do before calling a store */
            recsys_status st = run_op(op, dir, &vt, &rec);
            bool hit = ta.failed != refused;
            ta.fail_at = -1;
            if (!hit) {
                if (st != RECSYS_OK)
                    fail_msg("%s: %s (%s)", oom_names[op], recsys_status_str(st),
                             recsys_last_error());
                break;
            }
            fails++;
            list_dir(dir, names_now, sizeof names_now);
            assert_null(strstr(names_now, ".tmp")); /* no temp files left */
            if (op == OP_AUTO && st == RECSYS_OK) {
                /* the write succeeded and only its compaction failed, quietly */
                assert_string_equal(recsys_last_error(), "");
                unsigned char *v;
                size_t vl;
                assert_int_equal(store_test_get(&vt, RECSYS_RECORD_STATE, "big", &v, &vl),
                                 RECSYS_OK);
                assert_int_equal(vl, 600);
                free(v);
                assert_int_equal(vt.remove(vt.ctx, RECSYS_RECORD_STATE, "big"), RECSYS_OK);
                assert_int_equal(vt.compact(vt.ctx), RECSYS_OK);
                expect_dump(&vt, before, before_len);
                list_dir(dir, names_before, sizeof names_before);
                continue;
            }
            if (st != RECSYS_E_NOMEM)
                fail_msg("%s: allocation %ld failed but the call returned %s (%s)",
                         oom_names[op], n, recsys_status_str(st), recsys_last_error());
            assert_string_not_equal(recsys_last_error(), "");
            if (op == OP_OPEN) {
                assert_int_equal(ta.live, 0);
                assert_int_equal(store_test_count_fds(), fds);
            } else {
                expect_dump(&vt, before, before_len); /* failure is atomic */
            }
            assert_string_equal(names_now, names_before);
            assert_true(n < 100000);
        }
        assert_true(fails > 0);
        /* what is on disk matches what the store says */
        size_t len;
        unsigned char *final = dump(&vt, &len);
        close_store(&vt);
        assert_int_equal(ta.live, 0);
        assert_int_equal(store_test_count_fds(), fds);
        open_ok(dir, &vt);
        expect_dump(&vt, final, len);
        close_store(&vt);
        free(final);
        free(before);
        tk_rm_rf(dir);
    }
}

int main(void)
{
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        STORE_CONFORMANCE_TESTS(&conf_default),
        STORE_CONFORMANCE_DURABLE_TESTS(&conf_default),
        STORE_CONFORMANCE_TESTS(&conf_small),
        STORE_CONFORMANCE_DURABLE_TESTS(&conf_small),
        TDIR_TEST(new_checks_arguments),
        TDIR_TEST(creates_missing_directory),
        TDIR_TEST(second_open_is_refused),
        TDIR_TEST(reopen_after_many_generations),
        TDIR_TEST(sync_os_mode_and_sync),
        TDIR_TEST(torn_tail_events),
        TDIR_TEST(torn_tail_put),
        TDIR_TEST(torn_tail_remove),
        TDIR_TEST(torn_header_of_a_new_log),
        TDIR_TEST(corruption_anywhere_else_is_reported),
        TDIR_TEST(corrupt_message_names_file_and_offsets),
        TDIR_TEST(unknown_record_type_is_corrupt_even_at_the_tail),
        TDIR_TEST(snapshot_without_end_is_corrupt),
        TDIR_TEST(empty_events_record),
        TDIR_TEST(compaction_keeps_state_and_shrinks),
        TDIR_TEST(automatic_compaction),
        TDIR_TEST(leftovers_of_interrupted_compactions),
        TDIR_TEST(forget_leaves_no_trace),
        TDIR_TEST(failed_write_is_cut_off),
        TDIR_TEST(deferred_writes_what_append_writes),
        TDIR_TEST(deferred_checks_arguments),
        TDIR_TEST(one_flush_covers_many_tickets),
        TDIR_TEST(failed_flush_is_reported),
        TDIR_TEST(failed_deferred_write_is_cut_off),
        TDIR_TEST(threads_share_flushes),
        TDIR_TEST(out_of_memory_loop),
    };
    return cmocka_run_group_tests_name("store/file", tests, NULL, NULL);
}
