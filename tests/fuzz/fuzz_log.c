/* fuzz_log.c - libFuzzer target for the file store's recovery (lib/store/log.c, file.c).
 *
 * The input becomes the files of a store directory, which is then opened: recovery must
 * return RECSYS_OK or a clean error (RECSYS_E_CORRUPT, ...), never crash, leak or read out of
 * bounds. When it opens, the target reads everything back, and either reopens it (recovery
 * left files that open cleanly, to the same state) or runs a put, an append, a forget and a
 * compaction on the recovered state.
 *
 * Input: byte 0 chooses the layout; with bit 4, bytes 1-4 describe a hole; the rest is file
 * content.
 *   bits 0-1: 0 = all of it is log.0; 1 = all of it is snapshot.1; 2 = two bytes give a split
 *             point: snapshot.1, then log.1; 3 = log.0 plus a leftover snapshot.1.tmp
 *   bit 2:    repair checksums: walk the content as records and recompute both checksums of
 *             every record whose magic and length fit, so that the fuzzer gets past them into
 *             the payload decoders (which a checksum would otherwise guard)
 *   bit 3:    after a successful open, also write (put, append, forget, compact)
 *   bit 4:    a power loss: after the repair, zero the log's bytes [u16 at 1, + u16 at 3)
 *             (clamped to the log), so that records after the hole stay valid and recovery
 *             must judge the hole by the FLUSHED records around it
 *   bit 5:    make FLUSHED records believable before the repair: each walked record of that
 *             type with a 16-byte payload gets the file's generation, and a claim no further
 *             than its own offset (the fuzzer still picks the claim's value)
 *
 * Build: see the Makefile's fuzz target (clang -fsanitize=fuzzer,address,undefined). Each
 * input gets its own directory in /dev/shm when it exists (so fsync costs nothing), else /tmp.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recsys.h"
#include "store/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[128];

static void clear_dir(void)
{
    DIR *d = opendir(g_dir);
    if (!d)
        return;
    struct dirent *e;
    char path[256];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", g_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

static void remove_dir(void)
{
    clear_dir();
    rmdir(g_dir);
}

/* A fresh directory per input, removed again before returning (libFuzzer may end the
 * process without running atexit handlers). */
static void make_dir(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/recsys-fuzz-log-XXXXXX", base);
    if (!mkdtemp(g_dir))
        abort();
}

static void write_file(const char *name, const uint8_t *p, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        abort();
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k <= 0)
            abort();
        p += k;
        n -= (size_t)k;
    }
    close(fd);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

static void wr64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes the checksums of the records the content starts with; believable: first give
 * FLUSHED records the generation gen and a claim at most their offset (mode bit 5). */
static void repair(uint8_t *p, size_t n, bool believable, uint64_t gen)
{
    size_t off = 0;
    while (n - off >= RECSYS__LOG_HDR_SIZE && rd32(p + off) == RECSYS__LOG_MAGIC) {
        uint32_t len = rd32(p + off + 8);
        if (len > n - off - RECSYS__LOG_HDR_SIZE)
            break;
        uint16_t type = (uint16_t)(p[off + 4] | (p[off + 5] << 8));
        uint8_t *payload = p + off + RECSYS__LOG_HDR_SIZE;
        if (believable && type == RECSYS__LOG_T_FLUSHED && len == 16) {
            if (rd64(payload) > off)
                wr64(payload, off);
            wr64(payload + 8, gen);
        }
        p[off + 6] = p[off + 7] = 0; /* flags */
        recsys__log_fill_header(p + off, type, payload, len);
        off += RECSYS__LOG_HDR_SIZE + len;
    }
}

/* Zeroes [at, at + len) of p[0..n), clamped. */
static void hole(uint8_t *p, size_t n, size_t at, size_t len)
{
    if (at >= n)
        return;
    memset(p + at, 0, len < n - at ? len : n - at);
}

static recsys_status visit_record(void *arg, int32_t kind, const char *key, const void *d,
                                  size_t len)
{
    (void)kind;
    size_t *sum = arg;
    *sum += strlen(key) + len;
    if (len)
        *sum += ((const uint8_t *)d)[len - 1];
    return RECSYS_OK;
}

static recsys_status visit_event(void *arg, const recsys_event *ev)
{
    size_t *sum = arg;
    const char *s[4] = { ev->user_id, ev->item_id, ev->request_id, ev->query };
    for (int i = 0; i < 4; i++)
        *sum += s[i] ? strlen(s[i]) : 1;
    return RECSYS_OK;
}

/* Everything the store holds, summed up (to compare two opens); SIZE_MAX when memory ran
 * out. */
static size_t store_sum(const recsys_store_vtable *vt)
{
    size_t sum = 0;
    for (int32_t kind = RECSYS_RECORD_ITEM; kind <= RECSYS_RECORD_STATE; kind++)
        if (vt->scan_records(vt->ctx, kind, visit_record, &sum) != RECSYS_OK)
            abort(); /* records are in memory: scanning them cannot fail */
    recsys_status st = vt->scan_events(vt->ctx, visit_event, &sum);
    if (st != RECSYS_OK && st != RECSYS_E_NOMEM)
        abort(); /* recovery validated every event record */
    return st == RECSYS_OK ? sum : SIZE_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    uint8_t mode = data[0];
    size_t hole_at = 0, hole_len = 0, skip = 1;
    if (mode & 16) {
        if (size < 5)
            return 0;
        hole_at = (size_t)data[1] | ((size_t)data[2] << 8);
        hole_len = (size_t)data[3] | ((size_t)data[4] << 8);
        skip = 5;
    }
    make_dir();
    bool fix = (mode & 4) != 0, believable = (mode & 32) != 0;
    size_t n = size - skip;
    uint8_t *body = malloc(n ? n : 1);
    if (!body)
        return 0;
    memcpy(body, data + skip, n);
    switch (mode & 3) {
    case 0:
        if (fix)
            repair(body, n, believable, 0);
        if (mode & 16)
            hole(body, n, hole_at, hole_len);
        write_file("log.0000000000000000", body, n);
        break;
    case 1:
        if (fix)
            repair(body, n, believable, 1);
        write_file("snapshot.0000000000000001", body, n);
        break;
    case 2: {
        size_t split = n >= 2 ? ((size_t)body[0] | ((size_t)body[1] << 8)) : 0;
        uint8_t *rest = n >= 2 ? body + 2 : body;
        size_t rn = n >= 2 ? n - 2 : 0;
        if (split > rn)
            split = rn;
        if (fix) {
            repair(rest, split, believable, 1);
            repair(rest + split, rn - split, believable, 1);
        }
        if (mode & 16)
            hole(rest + split, rn - split, hole_at, hole_len);
        write_file("snapshot.0000000000000001", rest, split);
        write_file("log.0000000000000001", rest + split, rn - split);
        break;
    }
    default:
        if (fix)
            repair(body, n, believable, 0);
        write_file("snapshot.0000000000000001.tmp", body, n / 2);
        if (mode & 16)
            hole(body, n, hole_at, hole_len);
        write_file("log.0000000000000000", body, n);
        break;
    }
    free(body);

    RECSYS_INIT(recsys_file_store_opts, opts, .sync = RECSYS_SYNC_OS, .compact_bytes = 4096);
    RECSYS_INIT(recsys_store_vtable, vt, .ctx = NULL);
    recsys_status st = recsys_store_file_new(g_dir, &opts, &vt);
    if (st != RECSYS_OK) {
        if (!recsys_last_error()[0])
            abort(); /* a failure always explains itself */
        remove_dir();
        return 0;
    }
    size_t sum = store_sum(&vt);
    if (mode & 8) {
        recsys_event ev;
        memset(&ev, 0, sizeof ev);
        ev.struct_size = sizeof ev;
        ev.type = RECSYS_EVENT_CLICK;
        ev.user_id = "fuzz-user";
        ev.item_id = "fuzz-item";
        ev.position = -1;
        if (vt.put(vt.ctx, RECSYS_RECORD_USER, "fuzz-user", "{}", 2) != RECSYS_OK ||
            vt.append_events(vt.ctx, &ev, 1) != RECSYS_OK ||
            vt.forget_user(vt.ctx, "fuzz-user") != RECSYS_OK || vt.compact(vt.ctx) != RECSYS_OK)
            abort(); /* a recovered store accepts writes */
        vt.destroy(vt.ctx);
        /* and what it wrote opens again */
        RECSYS_INIT(recsys_store_vtable, again, .ctx = NULL);
        if (recsys_store_file_new(g_dir, &opts, &again) != RECSYS_OK)
            abort();
        again.destroy(again.ctx);
        remove_dir();
        return 0;
    }
    vt.destroy(vt.ctx);
    /* what recovery left opens again, unchanged (a cut tail stays cut; an old log's FLUSHED
     * record is well-formed) */
    RECSYS_INIT(recsys_store_vtable, again, .ctx = NULL);
    if (recsys_store_file_new(g_dir, &opts, &again) != RECSYS_OK)
        abort();
    size_t sum2 = store_sum(&again);
    if (sum != SIZE_MAX && sum2 != SIZE_MAX && sum2 != sum)
        abort();
    again.destroy(again.ctx);
    remove_dir();
    return 0;
}
