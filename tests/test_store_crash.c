/* test_store_crash.c - the file store under SIGKILL, and after simulated power losses.
 *
 * A child process opens a file store and appends events in batches of random size, writing
 * the number of events acknowledged to a pipe right after append_events returned RECSYS_OK
 * (and, every few batches, stores a "progress" record and acknowledges that too). The parent
 * kills it with SIGKILL after a random delay, reopens the store and checks that recovery
 * reported no corruption, that every acknowledged event is there exactly once, in order, with
 * every field intact, that the progress record is not older than its last acknowledgement,
 * and that no leftover of an interrupted compaction remains. Rounds alternate the sync mode
 * and the compaction pressure (a tiny compact_bytes, explicit compactions), so that kills
 * land during appends, compactions and recovery itself. The seed is fixed; the delays are
 * short, so the whole test takes a few seconds.
 *
 * Power loss (power_loss_at_random_moments): a SIGKILL keeps everything write(2) took, a
 * power loss does not. The child appends from several threads with group commit (and, in
 * RECSYS_SYNC_OS rounds, from one thread with periodic syncs) and reports, through this
 * executable's own fdatasync, the log's size when each completed flush started, and its
 * acknowledgements. After the kill the parent builds copies of the log as a power loss could
 * have left it: the bytes below the last completed flush's size as they are, each page-sized
 * piece above it kept, zeroed or garbage, the file maybe ending early. Every copy must open,
 * with every acknowledged event, in order, and nothing else. */
#include "store_conformance.h"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define ROUNDS 40
#define EVENTS_PER_ROUND_MAX 2000 /* a child stops appending after this and waits */
#define ACK_PUT (UINT64_C(1) << 63)

/* ---------------------------------------------------------------- fdatasync ------------- */

/* This executable's fdatasync replaces libc's for the library linked into it (a static
 * archive resolves to the executable's definition). In a power-loss child (flush_fd set) it
 * reports every flush that completed: the file's inode and its size when the flush started,
 * all of which the flush made durable. */
static int flush_fd = -1;

enum { MSG_FLUSH = 1, MSG_ACK = 2 };
typedef struct pl_msg {
    uint64_t kind, a, b; /* MSG_FLUSH: inode, size; MSG_ACK: events acknowledged, 0 */
} pl_msg;

static void send_msg(uint64_t kind, uint64_t a, uint64_t b)
{
    pl_msg m = { kind, a, b };
    /* 24 bytes <= PIPE_BUF: atomic, whichever thread writes */
    if (write(flush_fd, &m, sizeof m) != (ssize_t)sizeof m)
        _exit(4);
}

int fdatasync(int fd)
{
    struct stat sb;
    bool report = flush_fd >= 0 && fstat(fd, &sb) == 0;
    int rc = (int)syscall(SYS_fdatasync, fd);
    if (rc == 0 && report)
        send_msg(MSG_FLUSH, (uint64_t)sb.st_ino, (uint64_t)sb.st_size);
    return rc;
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(2685821657736338717);
}

/* The strings of event seq live here while it is being appended or compared. */
typedef struct ev_strings {
    char user[32], item[32], req[32], query[48];
} ev_strings;

static recsys_event expected_event(uint64_t seq, ev_strings *s)
{
    snprintf(s->user, sizeof s->user, "user-%" PRIu64, seq % 13);
    snprintf(s->item, sizeof s->item, "item-%" PRIu64, seq);
    snprintf(s->req, sizeof s->req, "req-%" PRIu64, seq);
    snprintf(s->query, sizeof s->query, "q-\xc3\xa9-%" PRIu64, seq);
    recsys_event ev = store_test_event((int32_t)(1 + seq % 12), s->user,
                                       seq % 11 == 0 ? NULL : s->item,
                                       (int64_t)seq * 1000003 - 5);
    ev.value = (double)seq * 0.5 - 3.0;
    ev.position = (int32_t)(seq % 9) - 1;
    ev.request_id = seq % 3 == 0 ? NULL : seq % 3 == 1 ? "" : s->req;
    ev.query = seq % 5 == 0 ? s->query : NULL;
    return ev;
}

typedef struct round_cfg {
    int32_t sync;
    uint64_t compact_bytes;
    int compact_every; /* explicit compaction every n batches; 0 = never */
    uint64_t seed;
} round_cfg;

static recsys_status open_store(const char *dir, const round_cfg *cfg, recsys_store_vtable *vt)
{
    RECSYS_INIT(recsys_file_store_opts, o, .sync = cfg->sync, .compact_bytes = cfg->compact_bytes);
    memset(vt, 0, sizeof *vt);
    vt->struct_size = sizeof *vt;
    return recsys_store_file_new(dir, &o, vt);
}

static recsys_status count_events(void *arg, const recsys_event *ev)
{
    (void)ev;
    ++*(uint64_t *)arg;
    return RECSYS_OK;
}

static void ack(int fd, uint64_t v)
{
    /* 8 bytes <= PIPE_BUF: atomic */
    if (write(fd, &v, sizeof v) != (ssize_t)sizeof v)
        _exit(4);
}

static void run_child(const char *dir, const round_cfg *cfg, int fd)
{
    recsys_store_vtable vt;
    if (open_store(dir, cfg, &vt) != RECSYS_OK)
        _exit(2);
    uint64_t next = 0;
    if (vt.scan_events(vt.ctx, count_events, &next) != RECSYS_OK)
        _exit(2);
    uint64_t rng = cfg->seed, appended = 0;
    recsys_event ev[32];
    ev_strings strs[32];
    for (int batch = 1; appended < EVENTS_PER_ROUND_MAX; batch++) {
        size_t n = 1 + (size_t)(rng_next(&rng) % 32);
        for (size_t i = 0; i < n; i++)
            ev[i] = expected_event(next + i, &strs[i]);
        if (vt.append_events(vt.ctx, ev, n) != RECSYS_OK)
            _exit(3);
        next += n;
        appended += n;
        ack(fd, next);
        if (batch % 4 == 0) {
            char v[32];
            int len = snprintf(v, sizeof v, "%" PRIu64, next);
            if (vt.put(vt.ctx, RECSYS_RECORD_STATE, "progress", v, (size_t)len) != RECSYS_OK)
                _exit(3);
            ack(fd, ACK_PUT | next);
        }
        if (cfg->compact_every && batch % cfg->compact_every == 0 &&
            vt.compact(vt.ctx) != RECSYS_OK)
            _exit(3);
    }
    close(fd);
    for (;;)
        pause(); /* wait for the kill */
}

/* Checks the store after a kill. Returns the number of events in it. */
static uint64_t verify(const char *dir, const round_cfg *cfg, uint64_t acked, uint64_t acked_put,
                       int round)
{
    recsys_store_vtable vt;
    recsys_status st = open_store(dir, cfg, &vt);
    if (st != RECSYS_OK)
        fail_msg("round %d: recovery failed: %s (%s)", round, recsys_status_str(st),
                 recsys_last_error());
    store_test_events got;
    st = store_test_collect_events(&vt, &got);
    if (st != RECSYS_OK)
        fail_msg("round %d: scan: %s (%s)", round, recsys_status_str(st), recsys_last_error());
    if (got.n < acked)
        fail_msg("round %d: %" PRIu64 " events acknowledged, %zu recovered", round, acked, got.n);
    for (size_t i = 0; i < got.n; i++) {
        ev_strings s;
        recsys_event want = expected_event(i, &s);
        if (!store_test_event_equal(&got.ev[i], &want))
            fail_msg("round %d: event %zu of %zu is not event %zu (item %s)", round, i, got.n, i,
                     got.ev[i].item_id ? got.ev[i].item_id : "(null)");
    }
    uint64_t n = got.n;
    store_test_events_free(&got);
    unsigned char *v;
    size_t len;
    st = store_test_get(&vt, RECSYS_RECORD_STATE, "progress", &v, &len);
    if (acked_put) {
        if (st != RECSYS_OK)
            fail_msg("round %d: acknowledged progress %" PRIu64 " lost", round, acked_put);
        uint64_t p = strtoull((const char *)v, NULL, 10);
        if (p < acked_put || p > n)
            fail_msg("round %d: progress %" PRIu64 ", acknowledged %" PRIu64 ", events %" PRIu64,
                     round, p, acked_put, n);
    }
    free(v);
    vt.destroy(vt.ctx);
    /* recovery removed every leftover of an interrupted compaction */
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        files++;
        if (strstr(e->d_name, ".tmp"))
            fail_msg("round %d: %s left behind", round, e->d_name);
    }
    closedir(d);
    assert_true(files >= 2 && files <= 3); /* LOCK, log, maybe a snapshot */
    return n;
}

static void kill_at_random_moments(void **state)
{
    (void)state;
    char dir[128];
    store_test_mkdtemp(dir, sizeof dir, "crash");
    uint64_t rng = UINT64_C(0x5eed5eed12345678);
    uint64_t acked_put = 0, total = 0;
    int compactions_rounds = 0;
    for (int round = 0; round < ROUNDS; round++) {
        round_cfg cfg = {
            .sync = round % 2 ? RECSYS_SYNC_FULL : RECSYS_SYNC_OS,
            .compact_bytes = round % 3 == 0 ? 2048 : round % 3 == 1 ? 16384 : 0,
            .compact_every = round % 4 == 1 || round % 4 == 2 ? 3 : 0,
            .seed = rng_next(&rng) | 1,
        };
        compactions_rounds += cfg.compact_bytes || cfg.compact_every;
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            run_child(dir, &cfg, fds[1]);
            _exit(0);
        }
        close(fds[1]);
        /* mostly mid-run (appends without fdatasync are much faster); sometimes very early,
         * during the child's own recovery */
        uint64_t span = round % 5 == 4 ? 2000 : cfg.sync == RECSYS_SYNC_OS ? 6000 : 25000;
        useconds_t delay = (useconds_t)(rng_next(&rng) % span);
        usleep(delay);
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            fail_msg("round %d: the child exited with %d before the kill", round,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        uint64_t acked = total, v;
        ssize_t k;
        while ((k = read(fds[0], &v, sizeof v)) == (ssize_t)sizeof v) {
            if (v & ACK_PUT)
                acked_put = v & ~ACK_PUT;
            else
                acked = v;
        }
        assert_true(k == 0);
        close(fds[0]);
        total = verify(dir, &cfg, acked, acked_put, round);
        assert_true(total >= acked);
    }
    assert_true(total > 0);
    assert_true(compactions_rounds > ROUNDS / 2);
    tk_rm_rf(dir);
}

/* ---------------------------------------------------------------- power loss ------------ */

#define PL_ROUNDS 24
#define PL_COPIES 8
#define PL_THREADS 4
#define PL_PAGE 4096

typedef struct pl_child {
    recsys_store_vtable vt;
    pthread_mutex_t mu; /* one call at a time into the store, as the engine makes them */
    uint64_t next;      /* the next event's sequence number (mu) */
    uint64_t rng;       /* (mu) */
    int32_t sync;
} pl_child;

static void *pl_thread(void *arg)
{
    pl_child *c = arg;
    recsys_event ev[8];
    ev_strings strs[8];
    for (;;) {
        pthread_mutex_lock(&c->mu);
        if (c->next >= EVENTS_PER_ROUND_MAX) {
            pthread_mutex_unlock(&c->mu);
            return NULL;
        }
        size_t n = 1 + (size_t)(rng_next(&c->rng) % 8);
        bool put = rng_next(&c->rng) % 8 == 0;
        for (size_t i = 0; i < n; i++)
            ev[i] = expected_event(c->next + i, &strs[i]);
        uint64_t ticket = 0, end = c->next + n;
        recsys_status st;
        if (c->sync == RECSYS_SYNC_FULL) {
            st = c->vt.append_events_deferred(c->vt.ctx, ev, n, &ticket);
        } else {
            st = c->vt.append_events(c->vt.ctx, ev, n);
            if (st == RECSYS_OK && put)
                st = c->vt.sync(c->vt.ctx); /* acknowledges everything written so far */
        }
        if (st == RECSYS_OK && put && c->sync == RECSYS_SYNC_FULL) {
            char v[32];
            int len = snprintf(v, sizeof v, "%" PRIu64, end);
            st = c->vt.put(c->vt.ctx, RECSYS_RECORD_STATE, "progress", v, (size_t)len);
        }
        if (st != RECSYS_OK)
            _exit(3);
        c->next = end;
        pthread_mutex_unlock(&c->mu);
        if (put) {
            send_msg(MSG_ACK, end, 0); /* a put or a sync flushed everything before it */
        } else if (c->sync == RECSYS_SYNC_FULL) {
            if (c->vt.wait_durable(c->vt.ctx, ticket) != RECSYS_OK)
                _exit(3);
            send_msg(MSG_ACK, end, 0);
        }
    }
}

static void pl_run_child(const char *dir, int32_t sync, uint64_t seed, int fd)
{
    /* no compaction: one log, which the flush reports are about */
    round_cfg cfg = { .sync = sync, .compact_bytes = UINT64_C(1) << 40, .seed = seed };
    pl_child c = { .sync = sync, .rng = seed };
    flush_fd = fd;
    if (open_store(dir, &cfg, &c.vt) != RECSYS_OK)
        _exit(2);
    pthread_mutex_init(&c.mu, NULL);
    int threads = sync == RECSYS_SYNC_FULL ? PL_THREADS : 1;
    pthread_t th[PL_THREADS];
    for (int i = 0; i < threads; i++)
        if (pthread_create(&th[i], NULL, pl_thread, &c) != 0)
            _exit(2);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    for (;;)
        pause(); /* wait for the kill */
}

/* Writes what a power loss could leave of log[0..len) into dir/log.<0>: [0, durable) as it
 * is; every page-sized piece of the rest (pieces start at multiples of PL_PAGE in the file)
 * kept, zeroed or garbage; the file maybe ending at a page boundary past durable. */
static void pl_copy(const char *dir, const unsigned char *log, size_t len, size_t durable,
                    uint64_t *rng, int variant)
{
    unsigned char *c = malloc(len ? len : 1);
    assert_non_null(c);
    memcpy(c, log, len);
    size_t end = len;
    for (size_t page = durable / PL_PAGE * PL_PAGE; page < len; page += PL_PAGE) {
        size_t a = page < durable ? durable : page, b = page + PL_PAGE < len ? page + PL_PAGE : len;
        uint64_t r = rng_next(rng) % 8;
        if (variant == 0 || r < 4)
            continue; /* variant 0: everything reached the disk */
        for (size_t i = a; i < b; i++)
            c[i] = r < 7 ? 0 : (unsigned char)rng_next(rng);
    }
    if (variant > 0 && rng_next(rng) % 3 == 0 && len > durable) {
        size_t pages = (len - durable) / PL_PAGE + 1;
        size_t cut = (durable / PL_PAGE + 1 + (size_t)(rng_next(rng) % pages)) * PL_PAGE;
        if (cut < end)
            end = cut;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/log.0000000000000000", dir);
    store_test_write_file(path, c, end);
    free(c);
}

static void power_loss_at_random_moments(void **state)
{
    (void)state;
    char dir[128], copy[160];
    store_test_mkdtemp(dir, sizeof dir, "power");
    snprintf(copy, sizeof copy, "%s/copy", dir);
    char store[160];
    snprintf(store, sizeof store, "%s/store", dir);
    uint64_t rng = UINT64_C(0x90e7105512345678);
    uint64_t holed = 0, copies_total = 0, acked_total = 0;
    for (int round = 0; round < PL_ROUNDS; round++) {
        int32_t sync = round % 3 == 2 ? RECSYS_SYNC_OS : RECSYS_SYNC_FULL;
        uint64_t child_seed = rng_next(&rng) | 1, seed = rng_next(&rng) | 1;
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            pl_run_child(store, sync, child_seed, fds[1]);
            _exit(0);
        }
        close(fds[1]);
        usleep((useconds_t)(2000 + rng_next(&rng) % 30000));
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            fail_msg("round %d: the child exited with %d before the kill", round,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        char log[256];
        snprintf(log, sizeof log, "%s/log.0000000000000000", store);
        struct stat sb;
        if (stat(log, &sb) != 0) {
            /* killed before the store made its log (a loaded machine can delay the child
             * that long): nothing may have been acknowledged, and there is nothing to copy */
            assert_int_equal(errno, ENOENT);
            pl_msg m0;
            assert_int_equal(read(fds[0], &m0, sizeof m0), 0);
            close(fds[0]);
            tk_rm_rf(store);
            continue;
        }
        uint64_t durable = 0, acked = 0;
        pl_msg m;
        ssize_t k;
        while ((k = read(fds[0], &m, sizeof m)) == (ssize_t)sizeof m) {
            if (m.kind == MSG_FLUSH && m.a == (uint64_t)sb.st_ino && m.b > durable)
                durable = m.b;
            else if (m.kind == MSG_ACK && m.a > acked)
                acked = m.a;
        }
        assert_true(k == 0);
        close(fds[0]);
        size_t len;
        unsigned char *bytes = store_test_read_file(log, &len);
        assert_non_null(bytes);
        assert_true(durable <= len);
        acked_total += acked;
        for (int v = 0; v < PL_COPIES; v++) {
            tk_rm_rf(copy);
            assert_int_equal(mkdir(copy, 0777), 0);
            pl_copy(copy, bytes, len, (size_t)durable, &seed, v);
            copies_total++;
            round_cfg cfg = { .sync = sync, .compact_bytes = UINT64_C(1) << 40 };
            recsys_store_vtable vt;
            recsys_status st = open_store(copy, &cfg, &vt);
            if (st != RECSYS_OK)
                fail_msg("round %d copy %d (%zu bytes, durable %" PRIu64 "): recovery failed: "
                         "%s (%s)", round, v, len, durable, recsys_status_str(st),
                         recsys_last_error());
            store_test_events got;
            st = store_test_collect_events(&vt, &got);
            if (st != RECSYS_OK)
                fail_msg("round %d copy %d: scan: %s (%s)", round, v, recsys_status_str(st),
                         recsys_last_error());
            if (got.n < acked)
                fail_msg("round %d copy %d: %" PRIu64 " events acknowledged, %zu recovered",
                         round, v, acked, got.n);
            for (size_t i = 0; i < got.n; i++) {
                ev_strings s;
                recsys_event want = expected_event(i, &s);
                if (!store_test_event_equal(&got.ev[i], &want))
                    fail_msg("round %d copy %d: event %zu of %zu is wrong", round, v, i, got.n);
            }
            char path[256];
            snprintf(path, sizeof path, "%s/log.0000000000000000", copy);
            struct stat cs;
            assert_int_equal(stat(path, &cs), 0);
            holed += v > 0 && (size_t)cs.st_size < len;
            /* the recovered store takes writes, and they survive a reopen */
            recsys_event ev;
            ev_strings s;
            ev = expected_event(got.n, &s);
            store_test_events_free(&got);
            if (vt.append_events(vt.ctx, &ev, 1) != RECSYS_OK)
                fail_msg("round %d copy %d: append after recovery: %s", round, v,
                         recsys_last_error());
            vt.destroy(vt.ctx);
            assert_int_equal(open_store(copy, &cfg, &vt), RECSYS_OK);
            vt.destroy(vt.ctx);
        }
        free(bytes);
        tk_rm_rf(store);
    }
    print_message("power loss: %" PRIu64 " copies, %" PRIu64 " of them lost data after the "
                  "last flush, %" PRIu64 " events acknowledged over the rounds\n", copies_total,
                  holed, acked_total);
    assert_true(holed > 0);
    assert_true(acked_total > 0);
    tk_rm_rf(copy); /* (tk_rm_rf is not recursive) */
    tk_rm_rf(dir);
}

int main(void)
{
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill_at_random_moments),
        cmocka_unit_test(power_loss_at_random_moments),
    };
    return cmocka_run_group_tests_name("store/crash", tests, NULL, NULL);
}
