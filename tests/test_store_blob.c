/* test_store_blob.c - blobs (recsys_store_vtable put_blob / get_blob): the file side in
 * lib/store/blob.c (names, round trip, replace, len 0 removes, the durability protocol under a
 * failed write and under a process killed mid-write, damage detected) and the memory store's
 * blobs (round trip, replace, removal, names, out of memory, invisible to scans). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "core/error.h"
#include "store/store.h"
#include "support/testkit.h"

/* A fresh directory and its fd. */
typedef struct bdir {
    char *path;
    int fd;
} bdir;

static int dir_setup(void **state)
{
    bdir *d = calloc(1, sizeof *d);
    assert_non_null(d);
    d->path = tk_mkdtemp();
    d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(d->fd >= 0);
    *state = d;
    return 0;
}

static int dir_teardown(void **state)
{
    bdir *d = *state;
    close(d->fd);
    tk_rm_rf(d->path);
    free(d->path);
    free(d);
    return 0;
}

static bool exists(const bdir *d, const char *file)
{
    struct stat sb;
    return fstatat(d->fd, file, &sb, 0) == 0;
}

/* The directory's entries (but . and ..), sorted and joined by ','. */
static const char *listing(const bdir *d)
{
    static char out[32 * 257];
    char names[32][256];
    int n = 0;
    DIR *dd = opendir(d->path);
    assert_non_null(dd);
    struct dirent *e;
    while ((e = readdir(dd)) && n < 32)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    closedir(dd);
    qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(out, ",");
        strcat(out, names[i]);
    }
    return out;
}

/* get_blob into a fresh value; returns the status, the bytes in *v (free with
 * recsys__store_value_free). */
static recsys_status file_get(const bdir *d, const char *name, recsys_store_value *v)
{
    recsys__store_value_init(v, &recsys__mem_default);
    return recsys__blob_file_get(d->fd, d->path, name, v);
}

static void assert_blob(const bdir *d, const char *name, const void *data, size_t len)
{
    recsys_store_value v;
    recsys_status st = file_get(d, name, &v);
    if (st != RECSYS_OK)
        fail_msg("get '%s': %s", name, recsys_last_error());
    assert_true(v.set);
    assert_int_equal(v.len, len);
    assert_memory_equal(v.data, data, len);
    assert_int_equal(((const char *)v.data)[len], '\0');
    recsys__store_value_free(&v);
}

static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
    return p;
}

/* Rewrites one byte of a file at off (from the start, or from the end when off < 0). */
static void poke(const bdir *d, const char *file, long off, unsigned char x)
{
    int fd = openat(d->fd, file, O_RDWR);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    off_t at = off >= 0 ? (off_t)off : sb.st_size + off;
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= x;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

/* ---------------------------------------------------------------- names ----------------- */

static void names_are_checked(void **state)
{
    bdir *d = *state;
    char long64[65], long63[64];
    memset(long64, 'a', 64);
    long64[64] = '\0';
    memset(long63, 'b', 63);
    long63[63] = '\0';
    const char *bad[] = { "", long64, "Vector", "a/b", "../x", "a b", "x\xc3\xa9", "a\nb", "a*" };
    recsys_store_vtable vt;
    recsys_store_vtable_init(&vt);
    assert_int_equal(recsys_store_memory_new(NULL, &vt), RECSYS_OK);
    assert_non_null(vt.put_blob);
    assert_non_null(vt.get_blob);
    recsys_store_value v;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(recsys__blob_file_put(d->fd, d->path, bad[i], "x", 1),
                         RECSYS_E_INVALID_ARG);
        assert_non_null(strstr(recsys_last_error(), "blob name"));
        assert_int_equal(file_get(d, bad[i], &v), RECSYS_E_INVALID_ARG);
        assert_int_equal(vt.put_blob(vt.ctx, bad[i], "x", 1), RECSYS_E_INVALID_ARG);
        recsys__store_value_init(&v, &recsys__mem_default);
        assert_int_equal(vt.get_blob(vt.ctx, bad[i], &v), RECSYS_E_INVALID_ARG);
    }
    assert_int_equal(recsys__blob_file_put(d->fd, d->path, NULL, "x", 1), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.put_blob(vt.ctx, NULL, "x", 1), RECSYS_E_INVALID_ARG);
    /* nothing was written for any of them */
    assert_string_equal(listing(d), "");
    const char *good[] = { long63, "vector.index", "a-b_c.0", "0", ".", "..", "x.tmp" };
    const char *bytes = "0123456789abcdef";
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        assert_int_equal(recsys__blob_file_put(d->fd, d->path, good[i], bytes + i, 1 + i),
                         RECSYS_OK);
        assert_int_equal(vt.put_blob(vt.ctx, good[i], bytes + i, 1), RECSYS_OK);
    }
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_blob(d, good[i], bytes + i, 1 + i);
    /* "x.tmp" and "." are blobs like any other: no temp file is ever left behind */
    assert_null(strstr(listing(d), "tmp.blob"));
    assert_int_equal(recsys__blob_file_put(d->fd, d->path, "ok", NULL, 3), RECSYS_E_INVALID_ARG);
    vt.destroy(vt.ctx);
}

/* ---------------------------------------------------------------- file blobs ------------ */

static void file_round_trip_replace_remove(void **state)
{
    bdir *d = *state;
    recsys_store_value v;
    assert_int_equal(file_get(d, "vector.index", &v), RECSYS_E_NOT_FOUND);
    assert_false(v.set);
    unsigned char *big = pattern(3u << 20, 1), *small = pattern(17, 2);
    assert_int_equal(recsys__blob_file_put(d->fd, d->path, "vector.index", big, 3u << 20),
                     RECSYS_OK);
    assert_string_equal(listing(d), "blob.vector.index");
    assert_blob(d, "vector.index", big, 3u << 20);
    /* the file is the header and the payload */
    struct stat sb;
    assert_int_equal(fstatat(d->fd, "blob.vector.index", &sb, 0), 0);
    assert_int_equal(sb.st_size, 32 + (3 << 20));
    /* replace with a shorter one, then another name beside it */
    assert_int_equal(recsys__blob_file_put(d->fd, d->path, "vector.index", small, 17), RECSYS_OK);
    assert_blob(d, "vector.index", small, 17);
    assert_int_equal(recsys__blob_file_put(d->fd, d->path, "other", big, 100), RECSYS_OK);
    assert_string_equal(listing(d), "blob.other,blob.vector.index");
    /* a value that already holds bytes is replaced */
    recsys__store_value_init(&v, &recsys__mem_default);
    assert_int_equal(recsys__store_value_assign(&v, "old", 3), RECSYS_OK);
    assert_int_equal(recsys__blob_file_get(d->fd, d->path, "other", &v), RECSYS_OK);
    assert_int_equal(v.len, 100);
    assert_memory_equal(v.data, big, 100);
    recsys__store_value_free(&v);
    /* len 0 removes; removing what is absent is fine */
    assert_int_equal(recsys__blob_file_put(d->fd, d->path, "vector.index", NULL, 0), RECSYS_OK);
    assert_int_equal(file_get(d, "vector.index", &v), RECSYS_E_NOT_FOUND);
    assert_int_equal(recsys__blob_file_put(d->fd, d->path, "vector.index", NULL, 0), RECSYS_OK);
    assert_int_equal(recsys__blob_file_put(d->fd, d->path, "never", "x", 0), RECSYS_OK);
    assert_string_equal(listing(d), "blob.other");
    /* a leftover temp file (a crash) goes with the removal too */
    int fd = openat(d->fd, "tmp.blob.other", O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "partial", 7), 7);
    close(fd);
    assert_blob(d, "other", big, 100); /* never read */
    assert_int_equal(recsys__blob_file_put(d->fd, d->path, "other", NULL, 0), RECSYS_OK);
    assert_string_equal(listing(d), "");
    free(big);
    free(small);
}

/* Every kind of damage reads as RECSYS_E_CORRUPT naming the file, and never as data. */
static void file_damage_is_detected(void **state)
{
    bdir *d = *state;
    const size_t n = 5000;
    unsigned char *data = pattern(n, 3);
    struct {
        const char *what;
        long off;          /* byte to flip (< 0 from the end); 0 with trunc/extra */
        off_t trunc;       /* truncate to this size (-1 = no) */
        size_t extra;      /* bytes appended */
    } cases[] = {
        { "payload byte", 32 + 1234, -1, 0 },
        { "last byte", -1, -1, 0 },
        { "magic", 0, -1, 0 },
        { "length", 8, -1, 0 },
        { "payload checksum", 16, -1, 0 },
        { "header checksum", 24, -1, 0 },
        { "reserved", 28, -1, 0 },
        { "truncated payload", 0, 32 + 4000, 0 },
        { "truncated header", 0, 20, 0 },
        { "empty file", 0, 0, 0 },
        { "trailing garbage", 0, -1, 9 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        assert_int_equal(recsys__blob_file_put(d->fd, d->path, "b", data, n), RECSYS_OK);
        if (cases[c].trunc >= 0) {
            int fd = openat(d->fd, "blob.b", O_RDWR);
            assert_int_equal(ftruncate(fd, cases[c].trunc), 0);
            close(fd);
        } else if (cases[c].extra) {
            int fd = openat(d->fd, "blob.b", O_WRONLY | O_APPEND);
            assert_int_equal(write(fd, "garbage!!", cases[c].extra), (ssize_t)cases[c].extra);
            close(fd);
        } else {
            poke(d, "blob.b", cases[c].off, 0x20);
        }
        recsys_store_value v;
        recsys_status st = file_get(d, "b", &v);
        if (st != RECSYS_E_CORRUPT)
            fail_msg("%s: status %d (%s)", cases[c].what, st, recsys_last_error());
        assert_false(v.set);
        assert_null(v.data);
        assert_non_null(strstr(recsys_last_error(), "blob.b"));
        assert_non_null(strstr(recsys_last_error(), "damaged"));
        print_message("%-18s -> %s\n", cases[c].what, recsys_last_error());
        /* a good put repairs it */
        assert_int_equal(recsys__blob_file_put(d->fd, d->path, "b", data, n), RECSYS_OK);
        assert_blob(d, "b", data, n);
    }
    free(data);
}

/* A write that fails (the file size limit, as a full disk would) leaves the old blob whole
 * under its name and no temp file. */
static void file_failed_write_keeps_the_old_blob(void **state)
{
    bdir *d = *state;
    unsigned char *old = pattern(1000, 4), *big = pattern(1 << 20, 5);
    assert_int_equal(recsys__blob_file_put(d->fd, d->path, "idx", old, 1000), RECSYS_OK);
    struct rlimit saved, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = saved;
    lim.rlim_cur = 64 << 10;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    recsys_status st = recsys__blob_file_put(d->fd, d->path, "idx", big, 1 << 20);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(st, RECSYS_E_IO);
    print_message("failed write: %s\n", recsys_last_error());
    assert_non_null(strstr(recsys_last_error(), "tmp.blob.idx"));
    assert_blob(d, "idx", old, 1000);
    assert_string_equal(listing(d), "blob.idx");
    /* the same with no blob before: nothing appears */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    signal(SIGXFSZ, SIG_IGN);
    st = recsys__blob_file_put(d->fd, d->path, "fresh", big, 1 << 20);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(st, RECSYS_E_IO);
    assert_string_equal(listing(d), "blob.idx");
    /* a blob name taken by a directory: the rename fails, nothing else changes */
    assert_int_equal(mkdirat(d->fd, "blob.dir", 0755), 0);
    assert_int_equal(recsys__blob_file_put(d->fd, d->path, "dir", old, 10), RECSYS_E_IO);
    assert_non_null(strstr(recsys_last_error(), "rename"));
    assert_string_equal(listing(d), "blob.dir,blob.idx");
    recsys_store_value v;
    assert_int_equal(file_get(d, "dir", &v), RECSYS_E_IO);
    assert_int_equal(unlinkat(d->fd, "blob.dir", AT_REMOVEDIR), 0);
    free(old);
    free(big);
}

/* A process killed in the middle of writing a blob (SIGXFSZ's default action, at a file size
 * limit): the final name still holds the old blob whole, only the temp file holds the part
 * written, and the next put finishes the job. */
static void file_killed_mid_write_never_shows_a_part(void **state)
{
    bdir *d = *state;
    unsigned char *old = pattern(2000, 6), *big = pattern(4 << 20, 7);
    assert_int_equal(recsys__blob_file_put(d->fd, d->path, "idx", old, 2000), RECSYS_OK);
    for (int round = 0; round < 2; round++) {
        const char *name = round == 0 ? "idx" : "new";
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct rlimit lim = { 0, 0 };
            setrlimit(RLIMIT_CORE, &lim);
            getrlimit(RLIMIT_FSIZE, &lim);
            lim.rlim_cur = 1 << 20;
            setrlimit(RLIMIT_FSIZE, &lim);
            signal(SIGXFSZ, SIG_DFL);
            (void)recsys__blob_file_put(d->fd, d->path, name, big, 4 << 20);
            _exit(0); /* not reached: the write past the limit kills the process */
        }
        int ws = 0;
        assert_int_equal(waitpid(pid, &ws, 0), pid);
        assert_true(WIFSIGNALED(ws));
        assert_int_equal(WTERMSIG(ws), SIGXFSZ);
        char tmp[64];
        snprintf(tmp, sizeof tmp, "tmp.blob.%s", name);
        assert_true(exists(d, tmp)); /* the part went to the temp name */
        recsys_store_value v;
        if (round == 0)
            assert_blob(d, "idx", old, 2000);
        else
            assert_int_equal(file_get(d, "new", &v), RECSYS_E_NOT_FOUND);
        assert_int_equal(recsys__blob_file_put(d->fd, d->path, name, big, 4 << 20), RECSYS_OK);
        assert_blob(d, name, big, 4 << 20);
        assert_false(exists(d, tmp));
    }
    assert_string_equal(listing(d), "blob.idx,blob.new");
    free(old);
    free(big);
}

/* ---------------------------------------------------------------- the memory store ------ */

static recsys_status count_records(void *arg, int32_t kind, const char *key, const void *data,
                                   size_t len)
{
    (void)kind;
    (void)key;
    (void)data;
    (void)len;
    ++*(int *)arg;
    return RECSYS_OK;
}

static void memory_blobs(void **state)
{
    (void)state;
    tk_alloc a;
    recsys_allocator rec;
    tk_alloc_init(&a, &rec);
    recsys_store_vtable vt;
    recsys_store_vtable_init(&vt);
    assert_int_equal(recsys_store_memory_new(&rec, &vt), RECSYS_OK);
    recsys__mem mem;
    assert_int_equal(recsys__mem_init(&mem, NULL), RECSYS_OK);
    recsys_store_value v;
    recsys__store_value_init(&v, &mem);
    assert_int_equal(vt.get_blob(vt.ctx, "vector.index", &v), RECSYS_E_NOT_FOUND);
    unsigned char *big = pattern(1 << 20, 8);
    assert_int_equal(vt.put_blob(vt.ctx, "vector.index", big, 1 << 20), RECSYS_OK);
    assert_int_equal(vt.get_blob(vt.ctx, "vector.index", &v), RECSYS_OK);
    assert_int_equal(v.len, 1 << 20);
    assert_memory_equal(v.data, big, 1 << 20);
    /* a record with the blob's name is another thing; scans never show blobs */
    assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_ITEM, "vector.index", "{}", 2), RECSYS_OK);
    for (int32_t k = RECSYS_RECORD_ITEM; k <= RECSYS_RECORD_RULE; k++) {
        int n = 0;
        assert_int_equal(vt.scan_records(vt.ctx, k, count_records, &n), RECSYS_OK);
        assert_int_equal(n, k == RECSYS_RECORD_ITEM ? 1 : 0);
    }
    assert_int_equal(vt.get_blob(vt.ctx, "vector.index", &v), RECSYS_OK);
    assert_int_equal(v.len, 1 << 20);
    /* out of memory: the old blob stays */
    for (long n = 0;; n++) {
        a.fail_at = a.count + n;
        recsys_status st = vt.put_blob(vt.ctx, "vector.index", "short", 5);
        a.fail_at = -1;
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_int_equal(vt.get_blob(vt.ctx, "vector.index", &v), RECSYS_OK);
        assert_int_equal(v.len, 1 << 20);
    }
    assert_int_equal(vt.get_blob(vt.ctx, "vector.index", &v), RECSYS_OK);
    assert_int_equal(v.len, 5);
    assert_memory_equal(v.data, "short", 5);
    /* len 0 removes, absent or not */
    assert_int_equal(vt.put_blob(vt.ctx, "vector.index", NULL, 0), RECSYS_OK);
    assert_int_equal(vt.get_blob(vt.ctx, "vector.index", &v), RECSYS_E_NOT_FOUND);
    assert_int_equal(vt.put_blob(vt.ctx, "vector.index", NULL, 0), RECSYS_OK);
    assert_int_equal(vt.put_blob(vt.ctx, "x", NULL, 4), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.get_blob(vt.ctx, "x", NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.get(vt.ctx, RECSYS_RECORD_ITEM, "vector.index", &v), RECSYS_OK);
    assert_int_equal(v.len, 2);
    recsys__store_value_free(&v);
    vt.destroy(vt.ctx);
    assert_int_equal(a.live, 0);
    free(big);
}

/* A 0.1-sized vtable from recsys_store_memory_new never gets the blob members. */
static void memory_vtable_cut_short(void **state)
{
    (void)state;
    recsys_store_vtable vt;
    memset(&vt, 0xAB, sizeof vt);
    vt.struct_size = (uint32_t)RECSYS_OFFSETOFEND(recsys_store_vtable, wait_durable);
    assert_int_equal(recsys_store_memory_new(NULL, &vt), RECSYS_OK);
    unsigned char tail[sizeof vt - RECSYS_OFFSETOFEND(recsys_store_vtable, wait_durable)];
    memset(tail, 0xAB, sizeof tail);
    assert_memory_equal((unsigned char *)&vt + RECSYS_OFFSETOFEND(recsys_store_vtable,
                                                                  wait_durable),
                        tail, sizeof tail);
    vt.destroy(vt.ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(names_are_checked, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(file_round_trip_replace_remove, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(file_damage_is_detected, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(file_failed_write_keeps_the_old_blob, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(file_killed_mid_write_never_shows_a_part, dir_setup,
                                        dir_teardown),
        cmocka_unit_test(memory_blobs),
        cmocka_unit_test(memory_vtable_cut_short),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("store/blob", tests, NULL, NULL);
}
