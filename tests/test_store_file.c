/* test_store_file.c - the built-in durable file store: the conformance suite (twice: with
 * defaults, and with RECSYS_SYNC_OS and a tiny compact_bytes so compactions run all the
 * time), reopen, torn tails at every byte, corruption anywhere else, compaction, leftovers of
 * interrupted compactions, forget, the lock, options, write failures, the OOM loop, and group
 * commit (append_events_deferred + wait_durable: tickets, flushes shared by many tickets and
 * threads, a failed flush). */
#include "store_conformance.h"
#include <dirent.h>
#include <inttypes.h>
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
/* Set: runs (once) inside the next fdatasync, before the flush, as writes that happen while
 * a flush is in progress do. */
static void (*fdatasync_hook)(void *arg);
static void *fdatasync_hook_arg;

int fdatasync(int fd)
{
    atomic_fetch_add(&fdatasync_calls, 1);
    if (atomic_load(&fdatasync_fail)) {
        errno = EIO;
        return -1;
    }
    void (*hook)(void *) = fdatasync_hook;
    if (hook) {
        fdatasync_hook = NULL;
        hook(fdatasync_hook_arg);
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

/* The record at off of a log's bytes: its type and full size (header + payload); false when
 * there is no valid header there. */
static bool rec_at(const unsigned char *p, size_t len, size_t off, uint16_t *type, size_t *size)
{
    uint32_t plen;
    uint64_t pcheck;
    const char *why;
    if (off > len || len - off < RECSYS__LOG_HDR_SIZE ||
        !recsys__log_parse_header(p + off, type, &plen, &pcheck, &why) ||
        len - off - RECSYS__LOG_HDR_SIZE < plen)
        return false;
    *size = RECSYS__LOG_HDR_SIZE + plen;
    return true;
}

/* The flushed offset a FLUSHED record at off states (the record must be one). */
static uint64_t flushed_at(const unsigned char *p, size_t len, size_t off)
{
    uint16_t type = 0;
    size_t size = 0;
    assert_true(rec_at(p, len, off, &type, &size));
    assert_int_equal(type, RECSYS__LOG_T_FLUSHED);
    uint64_t flushed = 0;
    for (int i = 7; i >= 0; i--)
        flushed = (flushed << 8) | p[off + RECSYS__LOG_HDR_SIZE + (size_t)i];
    return flushed;
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
    /* the write began with a FLUSHED record (the previous write was flushed): a cut after it
     * keeps it, which changes nothing else */
    uint16_t type = 0;
    size_t size = 0;
    assert_true(rec_at(bytes, log_len, (size_t)start, &type, &size));
    assert_int_equal(type, RECSYS__LOG_T_FLUSHED);
    assert_int_equal(flushed_at(bytes, log_len, (size_t)start), start);
    size_t last_start = (size_t)start + size;

    /* cut inside the last write, at every byte */
    for (size_t cut = (size_t)start; cut < log_len; cut++) {
        store_test_write_file(log, bytes, cut);
        recsys_status st = open_opts(dir, RECSYS_SYNC_FULL, 0, NULL, &vt);
        if (st != RECSYS_OK)
            fail_msg("cut at %zu of %zu: %s (%s)", cut, log_len, recsys_status_str(st),
                     recsys_last_error());
        expect_dump(&vt, without, without_len);
        close_store(&vt);
        /* the torn tail was cut off */
        assert_int_equal(file_size(log), cut < last_start ? start : (long)last_start);
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

/* The records of a log's bytes but its FLUSHED ones (which depend on when flushes ran). */
static unsigned char *without_flushed(const unsigned char *p, size_t len, size_t *out_len)
{
    unsigned char *out = malloc(len ? len : 1);
    assert_non_null(out);
    size_t n = 0;
    for (size_t off = 0; off < len;) {
        uint16_t type = 0;
        size_t size = 0;
        assert_true(rec_at(p, len, off, &type, &size));
        if (type != RECSYS__LOG_T_FLUSHED) {
            memcpy(out + n, p + off, size);
            n += size;
        }
        off += size;
    }
    *out_len = n;
    return out;
}

/* Deferred appends write what append_events writes, byte for byte but for the FLUSHED records
 * (after each of append_events' flushes its next write starts with one; the deferred appends
 * here are not flushed before the end); tickets count bytes. */
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
    size_t na, nb, fa, fb;
    unsigned char *ca = store_test_read_file(la, &na), *cb = store_test_read_file(lb, &nb);
    assert_non_null(ca);
    assert_non_null(cb);
    unsigned char *sa = without_flushed(ca, na, &fa), *sb = without_flushed(cb, nb, &fb);
    assert_true(fa < na); /* a had FLUSHED records */
    assert_int_equal(fb, nb); /* b had none */
    assert_int_equal(fa, fb);
    assert_memory_equal(sa, sb, fa);
    free(sa);
    free(sb);
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
    tk_rm_rf(da); /* (the teardown's is not recursive) */
    tk_rm_rf(db);
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
    tk_rm_rf(dir); /* (the teardown's is not recursive) */
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
    /* the same record again, after the FLUSHED record that follows wait_durable's flush */
    assert_int_equal(t2, 2 * t1 + RECSYS__LOG_FLUSHED_SIZE);
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

/* ---------------------------------------------------------------- power loss ------------ */

/* A log built record by record, the way the store lays one out, to damage as a power loss
 * would: rec[k] is where record k starts (rec[0] the header), claim[k] what a FLUSHED record
 * states (0 for other records). */
typedef struct hand_log {
    recsys__log_buf b;
    size_t n;
    size_t rec[32];
    uint64_t claim[32];
    int64_t event[32]; /* the event an EVENTS record holds, -1 for other records */
} hand_log;

static void hl_mark(hand_log *h)
{
    assert_true(h->n < 32);
    h->rec[h->n] = h->b.len;
    h->claim[h->n] = 0;
    h->event[h->n] = -1;
}

/* A log of generation 0 whose header has the given format (1: an earlier version's). */
static void hl_init(hand_log *h, uint32_t format)
{
    memset(h, 0, sizeof *h);
    recsys__log_buf_init(&h->b, &recsys__mem_default);
    unsigned char payload[16] = { 0 };
    payload[0] = (unsigned char)format;
    payload[4] = RECSYS__LOG_ROLE_LOG;
    hl_mark(h);
    assert_int_equal(recsys__log_enc_raw(&h->b, RECSYS__LOG_T_HEADER, payload, 16), RECSYS_OK);
    h->n++;
}

static size_t hl_end(const hand_log *h, size_t k)
{
    return k + 1 < h->n ? h->rec[k + 1] : h->b.len;
}

static void hl_event(hand_log *h, int64_t i)
{
    recsys_event ev = gc_event("alice", i);
    hl_mark(h);
    assert_int_equal(recsys__log_enc_events(&h->b, &ev, 1), RECSYS_OK);
    h->event[h->n++] = i;
}

/* A FLUSHED record stating flushed, of generation gen. */
static void hl_flushed(hand_log *h, uint64_t flushed, uint64_t gen)
{
    hl_mark(h);
    assert_int_equal(recsys__log_enc_flushed(&h->b, flushed, gen), RECSYS_OK);
    h->claim[h->n++] = flushed;
}

/* Writes bytes as the only log of a store in dir (generation 0; nothing else but LOCK). */
static void put_log(const char *dir, const void *bytes, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/log.0000000000000000", dir);
    store_test_write_file(path, bytes, len);
}

/* The event values of a store, which must be 0..n-1 for the store's events or the values
 * want[0..n) given. */
static void expect_events(const recsys_store_vtable *vt, const int64_t *want, size_t n,
                          const char *what)
{
    store_test_events got = { 0 };
    assert_int_equal(store_test_collect_events(vt, &got), RECSYS_OK);
    if (got.n != n)
        fail_msg("%s: %zu events recovered, expected %zu", what, got.n, n);
    for (size_t i = 0; i < n; i++) {
        recsys_event ev = gc_event("alice", want[i]);
        if (!store_test_event_equal(&got.ev[i], &ev))
            fail_msg("%s: event %zu is not event %" PRId64, what, i, want[i]);
    }
    store_test_events_free(&got);
}

/* What recovery must do with log h after bytes [a, b) were overwritten (the bytes are in
 * `now`): the offset it drops from (SIZE_MAX: nothing), or *corrupt when damage lies below
 * what a surviving FLUSHED record states. marked: the log is governed by flush markers
 * (format 2); otherwise the rule of earlier versions applies. The oracle of RECOVERY's rules,
 * from what changed. */
static size_t oracle(const hand_log *h, const unsigned char *now, bool marked, bool *corrupt)
{
    *corrupt = false;
    size_t first = SIZE_MAX;
    for (size_t k = 0; k < h->n && first == SIZE_MAX; k++)
        if (memcmp(h->b.p + h->rec[k], now + h->rec[k], hl_end(h, k) - h->rec[k]) != 0)
            first = k;
    if (first == SIZE_MAX)
        return SIZE_MAX;
    bool governed = marked && first > 0; /* a damaged header says nothing */
    for (size_t k = 1; k < first; k++)
        governed = governed || h->claim[k];
    for (size_t k = first + 1; k < h->n; k++) {
        bool intact = memcmp(h->b.p + h->rec[k], now + h->rec[k], hl_end(h, k) - h->rec[k]) == 0;
        if (intact && h->claim[k] > h->rec[first])
            *corrupt = true; /* rule 1 */
        /* rule 3: any record header intact after the damage */
        if (!governed && memcmp(h->b.p + h->rec[k], now + h->rec[k], RECSYS__LOG_HDR_SIZE) == 0)
            *corrupt = true;
    }
    return h->rec[first];
}

/* Overwrites [a, b) of log h with zeros (fill 0) or garbage (fill 1) at every a and several
 * lengths, opens, and compares with the oracle: the store opens with exactly the records
 * before the first damaged one and the file cut there, or reports RECSYS_E_CORRUPT naming the
 * offset and leaves the file alone. */
static void damage_everywhere(const char *dir, const hand_log *h, bool marked, size_t from)
{
    size_t len = h->b.len;
    unsigned char *now = malloc(len);
    assert_non_null(now);
    static const size_t lens[] = { 1, 5, 24, 40, 64, 150, 4096 };
    unsigned rnd = 12345;
    int opened = 0, corrupt_seen = 0;
    for (size_t a = from; a < len; a += 3) {
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            size_t b = a + lens[li] < len ? a + lens[li] : len;
            for (int fill = 0; fill < 2; fill++) {
                memcpy(now, h->b.p, len);
                for (size_t i = a; i < b; i++) {
                    rnd = rnd * 1103515245u + 12345u;
                    now[i] = fill ? (unsigned char)(rnd >> 16) : 0;
                }
                bool corrupt;
                size_t cut = oracle(h, now, marked, &corrupt);
                put_log(dir, now, len);
                recsys_store_vtable vt;
                recsys_status st = open_opts(dir, RECSYS_SYNC_FULL, 0, NULL, &vt);
                char what[128];
                snprintf(what, sizeof what, "%s log, bytes [%zu, %zu) %s", marked ? "format-2"
                         : "format-1", a, b, fill ? "garbage" : "zeroed");
                if (corrupt) {
                    if (st == RECSYS_OK)
                        close_store(&vt);
                    if (st != RECSYS_E_CORRUPT)
                        fail_msg("%s: %s, expected RECSYS_E_CORRUPT (%s)", what,
                                 recsys_status_str(st), recsys_last_error());
                    char off[64];
                    snprintf(off, sizeof off, "offset %zu", cut);
                    if (!strstr(recsys_last_error(), off))
                        fail_msg("%s: the message does not say '%s': %s", what, off,
                                 recsys_last_error());
                    char log[256];
                    log_path(dir, log, sizeof log);
                    assert_int_equal(file_size(log), (long)len); /* nothing dropped */
                    corrupt_seen++;
                    continue;
                }
                if (st != RECSYS_OK)
                    fail_msg("%s: %s (%s)", what, recsys_status_str(st), recsys_last_error());
                int64_t want[32];
                size_t n = 0;
                for (size_t k = 1; k < h->n && (cut == SIZE_MAX || h->rec[k] < cut); k++)
                    if (h->event[k] >= 0)
                        want[n++] = h->event[k];
                expect_events(&vt, want, n, what);
                close_store(&vt);
                char log[256];
                log_path(dir, log, sizeof log);
                long size = file_size(log);
                if (!marked && cut != 0) /* the FLUSHED record that upgrades an old log */
                    size -= RECSYS__LOG_FLUSHED_SIZE;
                if (size != (long)(cut == SIZE_MAX ? len : cut == 0 ? RECSYS__LOG_FILE_HDR_SIZE
                                   : cut))
                    fail_msg("%s: the log has %ld bytes, expected it cut at %zu", what, size, cut);
                opened++;
            }
        }
    }
    print_message("damage_everywhere: %d opened, %d corrupt\n", opened, corrupt_seen);
    /* both outcomes happened */
    assert_true(opened > 0);
    assert_true(corrupt_seen > 0);
    free(now);
}

/* A log as group commit leaves it: records 1-3 flushed (flush #1 up to the end of record 1;
 * flush #2 up to the end of record 3), record 4 written while flush #2 ran, then the write
 * after flush #2 (a FLUSHED record and record 6), and record 7 (not flushed). */
static void group_commit_log(hand_log *h, uint32_t format)
{
    hl_init(h, format);
    bool marked = format == RECSYS__LOG_FORMAT_FLUSHED;
    hl_event(h, 1);                           /* 1 */
    if (marked)
        hl_flushed(h, hl_end(h, 1), 0);       /* 2 */
    hl_event(h, 2);                           /* 3 */
    size_t flush2 = h->b.len;
    hl_event(h, 3);                           /* 4: during flush #2 */
    if (marked)
        hl_flushed(h, flush2, 0);             /* 5 */
    hl_event(h, 4);                           /* 6 */
    hl_event(h, 5);                           /* 7 */
}

/* The unflushed part of a log holed by a power loss is dropped; damage below what a FLUSHED
 * record states is RECSYS_E_CORRUPT, wherever the marker stands. */
static void power_loss_hole_after_the_last_flush(void **state)
{
    tdir *t = *state;
    hand_log h;
    group_commit_log(&h, RECSYS__LOG_FORMAT_FLUSHED);
    recsys_store_vtable vt;
    const char *what = "power loss";
    /* record 4 (written during flush #2) lost, record 6 and 7 on disk: the FLUSHED record
     * after the hole states the end of record 3, so the hole is not in flushed bytes */
    unsigned char *now = malloc(h.b.len);
    assert_non_null(now);
    memcpy(now, h.b.p, h.b.len);
    memset(now + h.rec[4], 0, h.rec[5] - h.rec[4]);
    put_log(t->dir, now, h.b.len);
    open_ok(t->dir, &vt);
    int64_t want[] = { 1, 2, 3 };
    expect_events(&vt, want, 2, what);
    close_store(&vt);
    char log[256];
    log_path(t->dir, log, sizeof log);
    assert_int_equal(file_size(log), (long)h.rec[4]);

    /* a reopened store appends after what it kept; its first write states the flush the
     * open made */
    open_ok(t->dir, &vt);
    recsys_event ev = gc_event("alice", 3);
    assert_int_equal(vt.append_events(vt.ctx, &ev, 1), RECSYS_OK);
    close_store(&vt);
    size_t len;
    unsigned char *bytes = store_test_read_file(log, &len);
    assert_int_equal(flushed_at(bytes, len, h.rec[4]), h.rec[4]);
    free(bytes);
    open_ok(t->dir, &vt);
    expect_events(&vt, want, 3, what);
    close_store(&vt);

    /* record 3 (acknowledged by flush #2) lost: the FLUSHED record at 5 says it was on disk */
    memcpy(now, h.b.p, h.b.len);
    memset(now + h.rec[3], 0, h.rec[4] - h.rec[3]);
    put_log(t->dir, now, h.b.len);
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
    char msg[160];
    snprintf(msg, sizeof msg, "damaged at offset %zu", h.rec[3]);
    assert_non_null(strstr(recsys_last_error(), msg));
    snprintf(msg, sizeof msg, "flush marker at offset %zu", h.rec[5]);
    assert_non_null(strstr(recsys_last_error(), msg));
    snprintf(msg, sizeof msg, "flushed up to offset %" PRIu64, h.claim[5]);
    assert_non_null(strstr(recsys_last_error(), msg));
    assert_non_null(strstr(recsys_last_error(), "log.0000000000000000"));
    assert_int_equal(file_size(log), (long)h.b.len);
    free(now);

    /* every range of bytes after the header, zeroed or garbage, against the rules */
    damage_everywhere(t->dir, &h, true, RECSYS__LOG_FILE_HDR_SIZE);
    recsys__log_buf_free(&h.b);
}

/* A log of an earlier version (format 1, no FLUSHED record) opens exactly as before: damage
 * followed by a valid record is RECSYS_E_CORRUPT, a torn tail is cut. Once opened, it gets a
 * FLUSHED record (made durable at once), and from there on it follows the new rules. */
static void log_of_an_earlier_version(void **state)
{
    tdir *t = *state;
    hand_log h;
    group_commit_log(&h, RECSYS__LOG_FORMAT);
    damage_everywhere(t->dir, &h, false, 0);

    /* out of memory while opening it: RECSYS_E_NOMEM, nothing leaked, the log unchanged */
    put_log(t->dir, h.b.p, h.b.len);
    char log[256];
    log_path(t->dir, log, sizeof log);
    recsys_store_vtable vt;
    tk_alloc ta;
    recsys_allocator rec;
    tk_alloc_init(&ta, &rec);
    for (long n = 0;; n++) {
        ta.fail_at = ta.count + n;
        long refused = ta.failed;
        recsys_status st = open_opts(t->dir, RECSYS_SYNC_FULL, 0, &rec, &vt);
        ta.fail_at = -1;
        if (ta.failed == refused) {
            assert_int_equal(st, RECSYS_OK);
            close_store(&vt);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_int_equal(ta.live, 0);
        assert_int_equal(file_size(log), (long)h.b.len);
        assert_true(n < 1000);
    }
    assert_int_equal(ta.live, 0);
    assert_int_equal(file_size(log), (long)(h.b.len + RECSYS__LOG_FLUSHED_SIZE));

    /* opened intact: everything there, then one FLUSHED record stating all of it, written
     * and flushed at once (after the flush that made the log durable) */
    put_log(t->dir, h.b.p, h.b.len);
    long calls = atomic_load(&fdatasync_calls);
    open_ok(t->dir, &vt);
    assert_int_equal(atomic_load(&fdatasync_calls), calls + 2);
    int64_t want[] = { 1, 2, 3, 4, 5, 6 };
    expect_events(&vt, want, 5, "format 1");
    /* two writes not flushed yet */
    uint64_t t1, t2;
    recsys_event e6 = gc_event("alice", 6), e7 = gc_event("alice", 7);
    assert_int_equal(vt.append_events_deferred(vt.ctx, &e6, 1, &t1), RECSYS_OK);
    assert_int_equal(vt.append_events_deferred(vt.ctx, &e7, 1, &t2), RECSYS_OK);
    close_store(&vt);
    size_t len;
    unsigned char *bytes = store_test_read_file(log, &len);
    assert_int_equal(flushed_at(bytes, len, h.b.len), h.b.len);
    /* that record already says all there is to say: e6 follows it directly */
    size_t e6_at = h.b.len + RECSYS__LOG_FLUSHED_SIZE, e6_size = 0;
    uint16_t type = 0;
    assert_true(rec_at(bytes, len, e6_at, &type, &e6_size));
    assert_int_equal(type, RECSYS__LOG_T_EVENTS);
    /* a power loss: e6 holed, e7 on disk. The old rule would refuse to open; the FLUSHED
     * record governs the log now */
    memset(bytes + e6_at, 0, e6_size);
    store_test_write_file(log, bytes, len);
    open_ok(t->dir, &vt);
    expect_events(&vt, want, 5, "upgraded format 1");
    close_store(&vt);
    assert_int_equal(file_size(log), (long)e6_at);
    /* damage below the upgrade's FLUSHED record is damage */
    free(bytes);
    bytes = store_test_read_file(log, &len);
    bytes[h.rec[6] + 30] ^= 1;
    store_test_write_file(log, bytes, len);
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
    assert_non_null(strstr(recsys_last_error(), "flush marker"));
    free(bytes);
    recsys__log_buf_free(&h.b);
}

/* FLUSHED records before any damage must be what the store writes; marker-shaped records
 * after damage that the store cannot have written are not believed; FLUSHED records have no
 * place in snapshots; unknown formats are refused. */
static void flush_markers_are_checked(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    static const struct {
        uint64_t claim, gen;
        const char *why;
    } bad[] = {
        { 40, 1, "another generation" },
        { 1000, 0, "cannot be right" },   /* beyond its own offset */
        { 20, 0, "cannot be right" },     /* inside the header */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hand_log h;
        hl_init(&h, RECSYS__LOG_FORMAT_FLUSHED);
        hl_event(&h, 1);
        hl_flushed(&h, bad[i].claim, bad[i].gen);
        hl_event(&h, 2);
        put_log(t->dir, h.b.p, h.b.len);
        assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
        assert_non_null(strstr(recsys_last_error(), bad[i].why));

        /* the same after a hole: not a marker of this log, so the hole is an unflushed tail */
        recsys__log_buf_free(&h.b);
        hl_init(&h, RECSYS__LOG_FORMAT_FLUSHED);
        hl_event(&h, 1);
        hl_event(&h, 2);
        /* (claims beyond the hole, but for the one inside the header) */
        uint64_t claim = i == 0 ? h.rec[2] + 1 : i == 1 ? h.b.len + 24 : bad[i].claim;
        hl_flushed(&h, claim, bad[i].gen);
        memset(h.b.p + h.rec[2], 0, h.rec[3] - h.rec[2]);
        put_log(t->dir, h.b.p, h.b.len);
        open_ok(t->dir, &vt);
        int64_t one = 1;
        expect_events(&vt, &one, 1, "a marker not believed");
        close_store(&vt);
        recsys__log_buf_free(&h.b);
    }
    /* a claim smaller than an earlier one, and a FLUSHED record of the wrong size */
    hand_log h;
    hl_init(&h, RECSYS__LOG_FORMAT_FLUSHED);
    hl_event(&h, 1);
    hl_flushed(&h, h.b.len, 0);
    hl_event(&h, 2);
    hl_flushed(&h, RECSYS__LOG_FILE_HDR_SIZE, 0);
    put_log(t->dir, h.b.p, h.b.len);
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
    assert_non_null(strstr(recsys_last_error(), "cannot be right"));
    h.b.len = h.rec[4];
    assert_int_equal(recsys__log_enc_raw(&h.b, RECSYS__LOG_T_FLUSHED, "12345678", 8), RECSYS_OK);
    put_log(t->dir, h.b.p, h.b.len);
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
    assert_non_null(strstr(recsys_last_error(), "wrong size"));
    /* a log header of an unknown format */
    unsigned char payload[16] = { 3, 0, 0, 0, RECSYS__LOG_ROLE_LOG };
    h.b.len = 0;
    assert_int_equal(recsys__log_enc_raw(&h.b, RECSYS__LOG_T_HEADER, payload, 16), RECSYS_OK);
    put_log(t->dir, h.b.p, h.b.len);
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
    assert_non_null(strstr(recsys_last_error(), "unknown file format"));
    recsys__log_buf_free(&h.b);

    /* snapshots: format 1 only, and no FLUSHED record */
    char dir[256];
    snprintf(dir, sizeof dir, "%s/snap", t->dir);
    open_ok(dir, &vt);
    store_test_fill(&vt, 4);
    assert_int_equal(vt.compact(vt.ctx), RECSYS_OK);
    close_store(&vt);
    char snap[256];
    assert_true(find_file(dir, "snapshot.", snap, sizeof snap));
    size_t len;
    unsigned char *bytes = store_test_read_file(snap, &len);
    recsys__log_buf b;
    recsys__log_buf_init(&b, &recsys__mem_default);
    assert_int_equal(recsys__log_buf_reserve(&b, len + 64), RECSYS_OK);
    memcpy(b.p, bytes, RECSYS__LOG_FILE_HDR_SIZE);
    b.len = RECSYS__LOG_FILE_HDR_SIZE;
    assert_int_equal(recsys__log_enc_flushed(&b, RECSYS__LOG_FILE_HDR_SIZE, 1), RECSYS_OK);
    memcpy(b.p + b.len, bytes + RECSYS__LOG_FILE_HDR_SIZE, len - RECSYS__LOG_FILE_HDR_SIZE);
    b.len += len - RECSYS__LOG_FILE_HDR_SIZE;
    store_test_write_file(snap, b.p, b.len);
    assert_int_equal(open_opts(dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
    assert_non_null(strstr(recsys_last_error(), "flush marker inside a snapshot"));
    b.len = 0;
    recsys__log_file_header(bytes, RECSYS__LOG_ROLE_SNAPSHOT, 1);
    bytes[RECSYS__LOG_HDR_SIZE] = RECSYS__LOG_FORMAT_FLUSHED; /* format 2 is for logs */
    recsys__log_fill_header(bytes, RECSYS__LOG_T_HEADER, bytes + RECSYS__LOG_HDR_SIZE, 16);
    store_test_write_file(snap, bytes, len);
    assert_int_equal(open_opts(dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
    assert_non_null(strstr(recsys_last_error(), "unknown file format"));
    recsys__log_buf_free(&b);
    free(bytes);
    tk_rm_rf(dir);
}

/* Where the store writes FLUSHED records: at the start of the first write after a flush (of
 * put, remove, append_events, sync, a group commit's, an open's), stating the offset that
 * flush covered; never on their own and never with a flush of their own. A new log (store or
 * compaction) starts flushed and says so with its header. */
static void flush_markers_are_written(void **state)
{
    tdir *t = *state;
    char log[256];
    for (int os = 0; os < 2; os++) {
        char dir[256];
        snprintf(dir, sizeof dir, "%s/%s", t->dir, os ? "os" : "full");
        recsys_store_vtable vt;
        assert_int_equal(open_opts(dir, os ? RECSYS_SYNC_OS : RECSYS_SYNC_FULL, 0, NULL, &vt),
                         RECSYS_OK);
        log_path(dir, log, sizeof log);
        assert_int_equal(file_size(log), RECSYS__LOG_FILE_HDR_SIZE);
        recsys_event ev = gc_event("alice", 1);
        uint64_t ticket;
        long calls = atomic_load(&fdatasync_calls);
        /* 40: nothing flushed since the header */
        assert_int_equal(vt.append_events_deferred(vt.ctx, &ev, 1, &ticket), RECSYS_OK);
        long e1_end = file_size(log);
        assert_int_equal(vt.append_events_deferred(vt.ctx, &ev, 1, &ticket), RECSYS_OK);
        long e2_end = file_size(log);
        assert_int_equal(e2_end - e1_end, e1_end - RECSYS__LOG_FILE_HDR_SIZE); /* no marker */
        assert_int_equal(vt.wait_durable(vt.ctx, ticket), RECSYS_OK);
        assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_ITEM, "k", "v", 1), RECSYS_OK);
        long put_end = file_size(log);
        assert_int_equal(vt.remove(vt.ctx, RECSYS_RECORD_ITEM, "k"), RECSYS_OK);
        long remove_end = file_size(log);
        assert_int_equal(vt.sync(vt.ctx), RECSYS_OK);
        assert_int_equal(vt.append_events(vt.ctx, &ev, 1), RECSYS_OK);
        long append_end = file_size(log);
        /* flushes: wait_durable, put, remove (full only), sync, append_events (full only) */
        assert_int_equal(atomic_load(&fdatasync_calls), calls + (os ? 1 : 5));
        close_store(&vt);
        size_t len;
        unsigned char *bytes = store_test_read_file(log, &len);
        assert_int_equal(len, (size_t)append_end);
        if (os) {
            /* sync os: only sync flushed (wait_durable does nothing) */
            uint16_t type = 0;
            size_t size = 0;
            assert_true(rec_at(bytes, len, (size_t)e2_end, &type, &size));
            assert_int_equal(type, RECSYS__LOG_T_PUT);
            assert_true(rec_at(bytes, len, (size_t)put_end, &type, &size));
            assert_int_equal(type, RECSYS__LOG_T_REMOVE);
            assert_int_equal(flushed_at(bytes, len, (size_t)remove_end), remove_end);
        } else {
            assert_int_equal(flushed_at(bytes, len, (size_t)e2_end), e2_end);
            assert_int_equal(flushed_at(bytes, len, (size_t)put_end), put_end);
            assert_int_equal(flushed_at(bytes, len, (size_t)remove_end), remove_end);
        }
        free(bytes);

        /* an open flushes what it recovered: the first write states it */
        assert_int_equal(open_opts(dir, os ? RECSYS_SYNC_OS : RECSYS_SYNC_FULL, 0, NULL, &vt),
                         RECSYS_OK);
        assert_int_equal(vt.append_events_deferred(vt.ctx, &ev, 1, &ticket), RECSYS_OK);
        bytes = store_test_read_file(log, &len);
        assert_int_equal(flushed_at(bytes, len, (size_t)append_end), append_end);
        free(bytes);
        /* a compaction's new log starts flushed, with nothing to state */
        assert_int_equal(vt.compact(vt.ctx), RECSYS_OK);
        log_path(dir, log, sizeof log);
        assert_int_equal(vt.append_events_deferred(vt.ctx, &ev, 1, &ticket), RECSYS_OK);
        e1_end = file_size(log);
        close_store(&vt);
        bytes = store_test_read_file(log, &len);
        uint16_t type = 0;
        size_t size = 0;
        assert_true(rec_at(bytes, len, RECSYS__LOG_FILE_HDR_SIZE, &type, &size));
        assert_int_equal(type, RECSYS__LOG_T_EVENTS);
        assert_int_equal(RECSYS__LOG_FILE_HDR_SIZE + size, (size_t)e1_end);
        free(bytes);
        tk_rm_rf(dir); /* (the teardown's is not recursive) */
    }
}

static void append_during_flush(void *arg)
{
    recsys_store_vtable *vt = arg;
    recsys_event ev = gc_event("alice", 3);
    uint64_t ticket;
    assert_int_equal(vt->append_events_deferred(vt->ctx, &ev, 1, &ticket), RECSYS_OK);
}

/* The store's own group commit, then a power loss: an event written while a flush ran is
 * lost while later ones reached the disk. The store opens with every acknowledged event. */
static void power_loss_after_group_commit(void **state)
{
    tdir *t = *state;
    recsys_store_vtable vt;
    open_ok(t->dir, &vt);
    char log[256];
    log_path(t->dir, log, sizeof log);
    uint64_t ticket;
    recsys_event ev[6];
    for (int i = 0; i < 6; i++)
        ev[i] = gc_event("alice", i);
    assert_int_equal(vt.append_events_deferred(vt.ctx, &ev[0], 1, &ticket), RECSYS_OK);
    assert_int_equal(vt.wait_durable(vt.ctx, ticket), RECSYS_OK);
    assert_int_equal(vt.append_events_deferred(vt.ctx, &ev[1], 1, &ticket), RECSYS_OK);
    assert_int_equal(vt.append_events_deferred(vt.ctx, &ev[2], 1, &ticket), RECSYS_OK);
    long during = file_size(log);
    /* event 3 is written while the flush of events 1-2 runs */
    fdatasync_hook = append_during_flush;
    fdatasync_hook_arg = &vt;
    assert_int_equal(vt.wait_durable(vt.ctx, ticket), RECSYS_OK);
    assert_null(fdatasync_hook);
    long after = file_size(log);
    assert_int_equal(vt.append_events_deferred(vt.ctx, &ev[4], 1, &ticket), RECSYS_OK);
    assert_int_equal(vt.append_events_deferred(vt.ctx, &ev[5], 1, &ticket), RECSYS_OK);
    close_store(&vt); /* (without a flush: sync full flushed what it acknowledged) */
    size_t len;
    unsigned char *bytes = store_test_read_file(log, &len);
    /* event 4's write states the flush of events 1-2, which ended where event 3 starts */
    assert_int_equal(flushed_at(bytes, len, (size_t)after), during);
    unsigned char *copy = malloc(len);
    assert_non_null(copy);
    int64_t want[] = { 0, 1, 2, 3, 4, 5 };
    /* event 3 lost: events 0-2 */
    memcpy(copy, bytes, len);
    memset(copy + during, 0, (size_t)(after - during));
    store_test_write_file(log, copy, len);
    open_ok(t->dir, &vt);
    expect_events(&vt, want, 3, "event 3 lost");
    close_store(&vt);
    assert_int_equal(file_size(log), during);
    /* event 2 lost (acknowledged): the FLUSHED record after it says it was on disk */
    memcpy(copy, bytes, len);
    memset(copy + during - 20, 0, 20);
    store_test_write_file(log, copy, len);
    assert_int_equal(open_opts(t->dir, RECSYS_SYNC_FULL, 0, NULL, &vt), RECSYS_E_CORRUPT);
    assert_int_equal(file_size(log), (long)len);
    /* and the FLUSHED record itself lost, with event 4: only the unflushed part goes */
    memcpy(copy, bytes, len);
    memset(copy + after, 0, RECSYS__LOG_FLUSHED_SIZE + 8);
    store_test_write_file(log, copy, len);
    open_ok(t->dir, &vt);
    expect_events(&vt, want, 4, "marker lost");
    close_store(&vt);
    free(copy);
    free(bytes);
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
        TDIR_TEST(power_loss_hole_after_the_last_flush),
        TDIR_TEST(log_of_an_earlier_version),
        TDIR_TEST(flush_markers_are_checked),
        TDIR_TEST(flush_markers_are_written),
        TDIR_TEST(power_loss_after_group_commit),
        TDIR_TEST(out_of_memory_loop),
    };
    return cmocka_run_group_tests_name("store/file", tests, NULL, NULL);
}
