/* blob.c - blobs as files in a directory: the durable side of the store's put_blob and
 * get_blob (format and protocol in store.h), and the blob name rule every store shares. */
#include "store.h"
#include "../core/error.h"
#include <xxhash.h>

#define BLOB_MAGIC 0x31425352u /* "RSB1" */
#define BLOB_VERSION 1u
#define BLOB_HDR 32u
/* "blob." / "tmp.blob." + the name + NUL */
#define BLOB_PATH_MAX (9 + RECSYS__BLOB_NAME_MAX + 1)
/* one read(2) or write(2) at most (Linux transfers at most 0x7ffff000 bytes per call) */
#define BLOB_IO_CHUNK ((size_t)1 << 30)

recsys_status recsys__blob_name_check(const char *what, const char *name)
{
    if (!name)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s: blob name is NULL", what);
    size_t n = strlen(name);
    if (n == 0 || n > RECSYS__BLOB_NAME_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s: blob name '%.80s' has %zu bytes, "
                           "expected 1..%d", what, name, n, RECSYS__BLOB_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return recsys__err(RECSYS_E_INVALID_ARG, "%s: blob name '%.80s' has byte 0x%02x "
                               "at %zu; expected [a-z0-9_.-]", what, name,
                               (unsigned)(unsigned char)c, i);
    }
    return RECSYS_OK;
}

/* ---------------------------------------------------------------- helpers --------------- */

static void put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static recsys_status io_err(const char *dir, const char *op, const char *file, int err)
{
    char eb[128];
    return recsys__err(RECSYS_E_IO, "blob: %s %s/%s: %s", op, dir, file,
                       strerror_r(err, eb, sizeof eb));
}

static recsys_status damaged(const char *dir, const char *file, const char *why)
{
    return recsys__err(RECSYS_E_CORRUPT, "blob: %s/%s is damaged: %s", dir, file, why);
}

/* Writes all of p[0..n), retrying short writes and EINTR. 0 or an errno. */
static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, RECSYS_MIN(n, BLOB_IO_CHUNK));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (w == 0)
            return EIO;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads exactly n bytes. 0, an errno, or -1 at an early end of file. */
static int read_all(int fd, void *p, size_t n)
{
    unsigned char *b = p;
    while (n > 0) {
        ssize_t r = read(fd, b, RECSYS_MIN(n, BLOB_IO_CHUNK));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (r == 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ---------------------------------------------------------------- put ------------------- */

/* len 0: removes the blob and a leftover temp file. */
static recsys_status remove_blob(int dirfd, const char *dir, const char *file, const char *tmp)
{
    bool removed = false;
    if (unlinkat(dirfd, file, 0) == 0)
        removed = true;
    else if (errno != ENOENT)
        return io_err(dir, "remove", file, errno);
    if (unlinkat(dirfd, tmp, 0) == 0)
        removed = true;
    else if (errno != ENOENT)
        return io_err(dir, "remove", tmp, errno);
    if (removed && fsync(dirfd) != 0)
        return io_err(dir, "fsync", ".", errno);
    return RECSYS_OK;
}

recsys_status recsys__blob_file_put(int dirfd, const char *dir, const char *name,
                                    const void *data, size_t len)
{
    RECSYS_TRY(recsys__blob_name_check("blob put", name));
    if (!data && len)
        return recsys__err(RECSYS_E_INVALID_ARG, "blob put: data is NULL, len %zu", len);
    if (!dir)
        dir = "?";
    char file[BLOB_PATH_MAX], tmp[BLOB_PATH_MAX];
    snprintf(file, sizeof file, "blob.%s", name);
    snprintf(tmp, sizeof tmp, "tmp.blob.%s", name);
    if (len == 0)
        return remove_blob(dirfd, dir, file, tmp);

    unsigned char hdr[BLOB_HDR] = { 0 };
    put_u32(hdr, BLOB_MAGIC);
    put_u16(hdr + 4, BLOB_VERSION);
    put_u16(hdr + 6, 0);
    put_u64(hdr + 8, (uint64_t)len);
    put_u64(hdr + 16, XXH3_64bits(data, len));
    put_u32(hdr + 24, XXH32(hdr, 24, 0));
    put_u32(hdr + 28, 0);

    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return io_err(dir, "create", tmp, errno);
    recsys_status st = RECSYS_OK;
    int err = write_all(fd, hdr, sizeof hdr);
    if (!err)
        err = write_all(fd, data, len);
    if (err)
        st = io_err(dir, "write", tmp, err);
    else if (fsync(fd) != 0)
        st = io_err(dir, "fsync", tmp, errno);
    if (close(fd) != 0 && st == RECSYS_OK)
        st = io_err(dir, "close", tmp, errno);
    /* only a complete, durable file gets the name */
    if (st == RECSYS_OK && renameat(dirfd, tmp, dirfd, file) != 0)
        st = io_err(dir, "rename to", file, errno);
    if (st != RECSYS_OK) {
        recsys__err_saved s;
        recsys__err_save(&s);
        (void)unlinkat(dirfd, tmp, 0);
        recsys__err_restore(&s);
        return st;
    }
    if (fsync(dirfd) != 0)
        return io_err(dir, "fsync", ".", errno);
    return RECSYS_OK;
}

/* ---------------------------------------------------------------- get ------------------- */

/* Hands buf (len bytes + NUL, allocated with out->mem) to out, replacing any value. */
static void value_take(recsys_store_value *out, void *buf, size_t len)
{
    if (out->data)
        recsys__free(out->mem, out->data);
    out->data = buf;
    out->len = len;
    out->set = true;
}

recsys_status recsys__blob_file_get(int dirfd, const char *dir, const char *name,
                                    recsys_store_value *out)
{
    RECSYS_TRY(recsys__blob_name_check("blob get", name));
    if (!out || !out->mem)
        return recsys__err(RECSYS_E_INVALID_ARG, "blob get: out is NULL or not prepared by "
                           "the library");
    if (!dir)
        dir = "?";
    char file[BLOB_PATH_MAX];
    snprintf(file, sizeof file, "blob.%s", name);
    int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return recsys__err(RECSYS_E_NOT_FOUND, "blob get: no blob '%s' in %s", name, dir);
        return io_err(dir, "open", file, errno);
    }
    recsys_status st = RECSYS_OK;
    unsigned char *buf = NULL;
    unsigned char hdr[BLOB_HDR];
    struct stat sb;
    uint64_t len = 0;
    int err;
    if (fstat(fd, &sb) != 0) {
        st = io_err(dir, "stat", file, errno);
        goto done;
    }
    if ((uint64_t)sb.st_size < BLOB_HDR) {
        st = damaged(dir, file, "shorter than its header");
        goto done;
    }
    if ((err = read_all(fd, hdr, sizeof hdr)) != 0) {
        st = err < 0 ? damaged(dir, file, "shorter than its header")
                     : io_err(dir, "read", file, err);
        goto done;
    }
    len = get_u64(hdr + 8);
    if (get_u32(hdr) != BLOB_MAGIC)
        st = damaged(dir, file, "bad magic");
    else if (get_u32(hdr + 24) != XXH32(hdr, 24, 0))
        st = damaged(dir, file, "header checksum mismatch");
    else if (get_u16(hdr + 4) != BLOB_VERSION || get_u16(hdr + 6) != 0 || get_u32(hdr + 28))
        st = damaged(dir, file, "unknown version or flags");
    else if (len != (uint64_t)sb.st_size - BLOB_HDR || len == 0)
        st = damaged(dir, file, "length does not match the file's size");
    else if (len >= SIZE_MAX)
        st = recsys__err(RECSYS_E_NOMEM, "blob get: %s/%s holds %" PRIu64 " bytes", dir, file,
                         len);
    if (st != RECSYS_OK)
        goto done;
    if (!(buf = recsys__alloc(out->mem, (size_t)len + 1))) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    if ((err = read_all(fd, buf, (size_t)len)) != 0) {
        st = err < 0 ? damaged(dir, file, "shorter than its header says")
                     : io_err(dir, "read", file, err);
        goto done;
    }
    if (XXH3_64bits(buf, (size_t)len) != get_u64(hdr + 16)) {
        st = damaged(dir, file, "payload checksum mismatch");
        goto done;
    }
    buf[len] = '\0';
    value_take(out, buf, (size_t)len);
    buf = NULL;
done:
    if (buf)
        recsys__free(out->mem, buf);
    close(fd);
    return st;
}
