/* fuzz_log.c - libFuzzer target for the file store's recovery (lib/store/log.c, file.c).
 *
 * The input becomes the files of a store directory, which is then opened: recovery must
 * return RECSYS_OK or a clean error (RECSYS_E_CORRUPT, ...), never crash, leak or read out of
 * bounds. When it opens, the target reads everything back and runs a put, an append, a
 * forget and a compaction on the recovered state.
 *
 * Input: byte 0 chooses the layout, the rest is file content.
 *   bits 0-1: 0 = all of it is log.0; 1 = all of it is snapshot.1; 2 = bytes 1-2 give a split
 *             point: snapshot.1, then log.1; 3 = log.0 plus a leftover snapshot.1.tmp
 *   bit 2:    repair checksums: walk the content as records and recompute both checksums of
 *             every record whose magic and length fit, so that the fuzzer gets past them into
 *             the payload decoders (which a checksum would otherwise guard)
 *   bit 3:    after a successful open, also write (put, append, forget, compact)
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

/* Recomputes the checksums of the records the content starts with. */
static void repair(uint8_t *p, size_t n)
{
    size_t off = 0;
    while (n - off >= RECSYS__LOG_HDR_SIZE && rd32(p + off) == RECSYS__LOG_MAGIC) {
        uint32_t len = rd32(p + off + 8);
        if (len > n - off - RECSYS__LOG_HDR_SIZE)
            break;
        uint16_t type = (uint16_t)(p[off + 4] | (p[off + 5] << 8));
        p[off + 6] = p[off + 7] = 0; /* flags */
        recsys__log_fill_header(p + off, type, p + off + RECSYS__LOG_HDR_SIZE, len);
        off += RECSYS__LOG_HDR_SIZE + len;
    }
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    make_dir();
    uint8_t mode = data[0];
    size_t n = size - 1;
    uint8_t *body = malloc(n ? n : 1);
    if (!body)
        return 0;
    memcpy(body, data + 1, n);
    switch (mode & 3) {
    case 0:
        if (mode & 4)
            repair(body, n);
        write_file("log.0000000000000000", body, n);
        break;
    case 1:
        if (mode & 4)
            repair(body, n);
        write_file("snapshot.0000000000000001", body, n);
        break;
    case 2: {
        size_t split = n >= 2 ? ((size_t)body[0] | ((size_t)body[1] << 8)) : 0;
        uint8_t *rest = n >= 2 ? body + 2 : body;
        size_t rn = n >= 2 ? n - 2 : 0;
        if (split > rn)
            split = rn;
        if (mode & 4) {
            repair(rest, split);
            repair(rest + split, rn - split);
        }
        write_file("snapshot.0000000000000001", rest, split);
        write_file("log.0000000000000001", rest + split, rn - split);
        break;
    }
    default:
        if (mode & 4)
            repair(body, n);
        write_file("log.0000000000000000", body, n);
        write_file("snapshot.0000000000000001.tmp", body, n / 2);
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
    size_t sum = 0;
    for (int32_t kind = RECSYS_RECORD_ITEM; kind <= RECSYS_RECORD_STATE; kind++)
        if (vt.scan_records(vt.ctx, kind, visit_record, &sum) != RECSYS_OK)
            abort(); /* records are in memory: scanning them cannot fail */
    st = vt.scan_events(vt.ctx, visit_event, &sum);
    if (st != RECSYS_OK && st != RECSYS_E_NOMEM)
        abort(); /* recovery validated every event record */
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
    remove_dir();
    return 0;
}
