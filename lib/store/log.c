/* log.c - encoding, decoding and reading of file store records (format in log.h). */
#include "log.h"
#include "../core/error.h"

#include <xxhash.h>

#define READ_CHUNK ((size_t)64 * 1024)

/* ---------------------------------------------------------------- little-endian --------- */

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
    return (uint16_t)(p[0] | (p[1] << 8));
}
static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}
static int32_t get_i32(const unsigned char *p)
{
    uint32_t u = get_u32(p);
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}
static int64_t get_i64(const unsigned char *p)
{
    uint64_t u = get_u64(p);
    int64_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}
static uint32_t i32_bits(int32_t v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}
static uint64_t i64_bits(int64_t v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

/* ---------------------------------------------------------------- buffers --------------- */

void recsys__log_buf_init(recsys__log_buf *b, const recsys__mem *mem)
{
    b->mem = mem;
    b->p = NULL;
    b->len = b->cap = 0;
}

void recsys__log_buf_free(recsys__log_buf *b)
{
    recsys__free(b->mem, b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

recsys_status recsys__log_buf_reserve(recsys__log_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return recsys__err(RECSYS_E_NOMEM, "buffer of more than %zu bytes", SIZE_MAX);
    size_t need = b->len + extra;
    if (need <= b->cap)
        return RECSYS_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    unsigned char *p = recsys__realloc(b->mem, b->p, cap);
    if (!p)
        return RECSYS_E_NOMEM;
    b->p = p;
    b->cap = cap;
    return RECSYS_OK;
}

/* ---------------------------------------------------------------- encoding -------------- */

void recsys__log_fill_header(unsigned char *hdr, uint16_t type, const unsigned char *payload,
                             uint32_t len)
{
    put_u32(hdr, RECSYS__LOG_MAGIC);
    put_u16(hdr + 4, type);
    put_u16(hdr + 6, 0);
    put_u32(hdr + 8, len);
    put_u32(hdr + 12, XXH32(hdr, 12, 0));
    put_u64(hdr + 16, XXH3_64bits(payload, len));
}

void recsys__log_file_header(unsigned char *out, uint32_t role, uint64_t gen)
{
    unsigned char *p = out + RECSYS__LOG_HDR_SIZE;
    put_u32(p, role == RECSYS__LOG_ROLE_LOG ? RECSYS__LOG_FORMAT_FLUSHED : RECSYS__LOG_FORMAT);
    put_u32(p + 4, role);
    put_u64(p + 8, gen);
    recsys__log_fill_header(out, RECSYS__LOG_T_HEADER, p, 16);
}

/* Reserves a record of payload size len and returns a pointer to its payload; the caller
 * fills the payload and calls finish(). */
static recsys_status begin(recsys__log_buf *b, size_t len, unsigned char **payload)
{
    if (len > RECSYS__LOG_MAX_PAYLOAD)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "file store: a record of %zu bytes exceeds the maximum of %u bytes",
                           len, RECSYS__LOG_MAX_PAYLOAD);
    RECSYS_TRY(recsys__log_buf_reserve(b, RECSYS__LOG_HDR_SIZE + len));
    *payload = b->p + b->len + RECSYS__LOG_HDR_SIZE;
    return RECSYS_OK;
}

static void finish(recsys__log_buf *b, uint16_t type, size_t len)
{
    unsigned char *hdr = b->p + b->len;
    recsys__log_fill_header(hdr, type, hdr + RECSYS__LOG_HDR_SIZE, (uint32_t)len);
    b->len += RECSYS__LOG_HDR_SIZE + len;
}

recsys_status recsys__log_enc_raw(recsys__log_buf *b, uint16_t type, const void *payload,
                                  size_t len)
{
    unsigned char *p = NULL;
    RECSYS_TRY(begin(b, len, &p));
    if (len)
        memcpy(p, payload, len);
    finish(b, type, len);
    return RECSYS_OK;
}

recsys_status recsys__log_enc_header(recsys__log_buf *b, uint32_t role, uint64_t gen)
{
    RECSYS_TRY(recsys__log_buf_reserve(b, RECSYS__LOG_FILE_HDR_SIZE));
    recsys__log_file_header(b->p + b->len, role, gen);
    b->len += RECSYS__LOG_FILE_HDR_SIZE;
    return RECSYS_OK;
}

static recsys_status key_record(recsys__log_buf *b, uint16_t type, int32_t kind, const char *key,
                                size_t key_len, const void *val, size_t val_len)
{
    if (key_len > RECSYS__LOG_MAX_PAYLOAD || val_len > RECSYS__LOG_MAX_PAYLOAD - key_len)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "file store: a record with a %zu-byte key and a %zu-byte value exceeds "
                           "the maximum of %u bytes", key_len, val_len, RECSYS__LOG_MAX_PAYLOAD);
    size_t len = 8 + key_len + val_len;
    unsigned char *p = NULL;
    RECSYS_TRY(begin(b, len, &p));
    put_u32(p, i32_bits(kind));
    put_u32(p + 4, (uint32_t)key_len);
    if (key_len)
        memcpy(p + 8, key, key_len);
    if (val_len)
        memcpy(p + 8 + key_len, val, val_len);
    finish(b, type, len);
    return RECSYS_OK;
}

recsys_status recsys__log_enc_put(recsys__log_buf *b, int32_t kind, const char *key,
                                  size_t key_len, const void *val, size_t val_len)
{
    return key_record(b, RECSYS__LOG_T_PUT, kind, key, key_len, val, val_len);
}

recsys_status recsys__log_enc_remove(recsys__log_buf *b, int32_t kind, const char *key,
                                     size_t key_len)
{
    return key_record(b, RECSYS__LOG_T_REMOVE, kind, key, key_len, NULL, 0);
}

static size_t ostr_size(const char *s)
{
    if (!s)
        return 4;
    size_t n = strlen(s);
    return n >= RECSYS__LOG_NULL_STR ? SIZE_MAX : 4 + n;
}

/* Whether ev needs an EVENTS2 record (its impression attribution or LLM cost is set). */
static bool event_ext(const recsys_event *ev)
{
    return ev->sources || ev->ranker || ev->llm_calls || ev->llm_tokens;
}

static size_t event_size(const recsys_event *ev, bool ext)
{
    size_t total = RECSYS__LOG_EVENT_FIXED - 16;
    const char *strs[6] = { ev->user_id, ev->item_id, ev->request_id, ev->query,
                            ev->sources, ev->ranker };
    for (int i = 0; i < (ext ? 6 : 4); i++) {
        size_t n = ostr_size(strs[i]);
        if (n == SIZE_MAX || n > SIZE_MAX - total)
            return SIZE_MAX;
        total += n;
    }
    return ext ? total + 8 : total; /* EVENTS2: u32 llm_calls, u32 llm_tokens */
}

size_t recsys__log_event_size(const recsys_event *ev)
{
    return event_size(ev, true); /* the EVENTS2 layout: a bound for either */
}

static unsigned char *put_ostr(unsigned char *p, const char *s)
{
    if (!s) {
        put_u32(p, RECSYS__LOG_NULL_STR);
        return p + 4;
    }
    size_t n = strlen(s);
    put_u32(p, (uint32_t)n);
    memcpy(p + 4, s, n);
    return p + 4 + n;
}

recsys_status recsys__log_enc_events(recsys__log_buf *b, const recsys_event *evs, size_t n)
{
    if (n > UINT32_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "file store: %zu events in one record", n);
    /* EVENTS2 only when an event needs it: a batch without sources or ranker stays readable
     * by earlier versions */
    bool ext = false;
    for (size_t i = 0; i < n && !ext; i++)
        ext = event_ext(&evs[i]);
    size_t len = 4;
    for (size_t i = 0; i < n; i++) {
        size_t s = event_size(&evs[i], ext);
        if (s == SIZE_MAX || s > RECSYS__LOG_MAX_PAYLOAD || len > RECSYS__LOG_MAX_PAYLOAD - s)
            return recsys__err(RECSYS_E_INVALID_ARG,
                               "file store: event %zu makes a record larger than the maximum "
                               "of %u bytes", i, RECSYS__LOG_MAX_PAYLOAD);
        len += s;
    }
    unsigned char *p = NULL;
    RECSYS_TRY(begin(b, len, &p));
    unsigned char *q = p;
    put_u32(q, (uint32_t)n);
    q += 4;
    for (size_t i = 0; i < n; i++) {
        const recsys_event *ev = &evs[i];
        uint64_t vbits;
        memcpy(&vbits, &ev->value, sizeof vbits);
        put_u32(q, i32_bits(ev->type));
        put_u32(q + 4, i32_bits(ev->position));
        put_u64(q + 8, i64_bits(ev->timestamp));
        put_u64(q + 16, vbits);
        q += 24;
        q = put_ostr(q, ev->user_id);
        q = put_ostr(q, ev->item_id);
        q = put_ostr(q, ev->request_id);
        q = put_ostr(q, ev->query);
        if (ext) {
            q = put_ostr(q, ev->sources);
            q = put_ostr(q, ev->ranker);
            put_u32(q, ev->llm_calls);
            put_u32(q + 4, ev->llm_tokens);
            q += 8;
        }
    }
    finish(b, ext ? RECSYS__LOG_T_EVENTS2 : RECSYS__LOG_T_EVENTS, len);
    return RECSYS_OK;
}

recsys_status recsys__log_enc_end(recsys__log_buf *b, uint64_t records, uint64_t events)
{
    unsigned char *p = NULL;
    RECSYS_TRY(begin(b, 16, &p));
    put_u64(p, records);
    put_u64(p + 8, events);
    finish(b, RECSYS__LOG_T_END, 16);
    return RECSYS_OK;
}

void recsys__log_flushed_record(unsigned char *out, uint64_t flushed, uint64_t gen)
{
    unsigned char *p = out + RECSYS__LOG_HDR_SIZE;
    put_u64(p, flushed);
    put_u64(p + 8, gen);
    recsys__log_fill_header(out, RECSYS__LOG_T_FLUSHED, p, 16);
}

recsys_status recsys__log_enc_flushed(recsys__log_buf *b, uint64_t flushed, uint64_t gen)
{
    RECSYS_TRY(recsys__log_buf_reserve(b, RECSYS__LOG_FLUSHED_SIZE));
    recsys__log_flushed_record(b->p + b->len, flushed, gen);
    b->len += RECSYS__LOG_FLUSHED_SIZE;
    return RECSYS_OK;
}

/* ---------------------------------------------------------------- decoding -------------- */

bool recsys__log_parse_header(const unsigned char *hdr, uint16_t *type, uint32_t *len,
                              uint64_t *pcheck, const char **why)
{
    if (get_u32(hdr) != RECSYS__LOG_MAGIC) {
        *why = "bad magic";
        return false;
    }
    if (get_u32(hdr + 12) != XXH32(hdr, 12, 0)) {
        *why = "header checksum mismatch";
        return false;
    }
    if (get_u16(hdr + 6) != 0) {
        *why = "unknown record flags";
        return false;
    }
    uint32_t n = get_u32(hdr + 8);
    if (n > RECSYS__LOG_MAX_PAYLOAD) {
        *why = "payload length above the maximum";
        return false;
    }
    *type = get_u16(hdr + 4);
    *len = n;
    *pcheck = get_u64(hdr + 16);
    return true;
}

bool recsys__log_payload_ok(const unsigned char *payload, uint32_t len, uint64_t pcheck)
{
    return XXH3_64bits(payload, len) == pcheck;
}

bool recsys__log_dec_header(const unsigned char *p, size_t len, uint32_t *format, uint32_t *role,
                            uint64_t *gen, const char **why)
{
    if (len != 16) {
        *why = "file header record of the wrong size";
        return false;
    }
    uint32_t f = get_u32(p);
    *role = get_u32(p + 4);
    if (f != RECSYS__LOG_FORMAT &&
        !(f == RECSYS__LOG_FORMAT_FLUSHED && *role == RECSYS__LOG_ROLE_LOG)) {
        *why = "unknown file format version";
        return false;
    }
    *format = f;
    *gen = get_u64(p + 8);
    return true;
}

static bool dec_key(const unsigned char *p, size_t len, int32_t *kind, const char **key,
                    size_t *key_len, const char **why)
{
    if (len < 8) {
        *why = "key record too short";
        return false;
    }
    *kind = get_i32(p);
    uint32_t kl = get_u32(p + 4);
    if (kl > len - 8) {
        *why = "key length beyond the record";
        return false;
    }
    if (memchr(p + 8, '\0', kl)) {
        *why = "NUL byte inside a key";
        return false;
    }
    *key = (const char *)(p + 8);
    *key_len = kl;
    return true;
}

bool recsys__log_dec_put(const unsigned char *p, size_t len, int32_t *kind, const char **key,
                         size_t *key_len, const unsigned char **val, size_t *val_len,
                         const char **why)
{
    if (!dec_key(p, len, kind, key, key_len, why))
        return false;
    *val = p + 8 + *key_len;
    *val_len = len - 8 - *key_len;
    return true;
}

bool recsys__log_dec_remove(const unsigned char *p, size_t len, int32_t *kind, const char **key,
                            size_t *key_len, const char **why)
{
    if (!dec_key(p, len, kind, key, key_len, why))
        return false;
    if (8 + *key_len != len) {
        *why = "trailing bytes after a remove record's key";
        return false;
    }
    return true;
}

bool recsys__log_dec_end(const unsigned char *p, size_t len, uint64_t *records, uint64_t *events,
                         const char **why)
{
    if (len != 16) {
        *why = "end record of the wrong size";
        return false;
    }
    *records = get_u64(p);
    *events = get_u64(p + 8);
    return true;
}

bool recsys__log_dec_flushed(const unsigned char *p, size_t len, uint64_t *flushed, uint64_t *gen,
                             const char **why)
{
    if (len != 16) {
        *why = "flush marker of the wrong size";
        return false;
    }
    *flushed = get_u64(p);
    *gen = get_u64(p + 8);
    return true;
}

/* Walks the optional string at *pos; adds its bytes (+1 for the NUL) to *str_bytes. */
static bool walk_ostr(const unsigned char *p, size_t len, size_t *pos, size_t *str_bytes,
                      const char **why)
{
    if (len - *pos < 4) {
        *why = "event string length beyond the record";
        return false;
    }
    uint32_t n = get_u32(p + *pos);
    *pos += 4;
    if (n == RECSYS__LOG_NULL_STR)
        return true;
    if (n > len - *pos) {
        *why = "event string beyond the record";
        return false;
    }
    if (memchr(p + *pos, '\0', n)) {
        *why = "NUL byte inside an event string";
        return false;
    }
    *pos += n;
    *str_bytes += (size_t)n + 1;
    return true;
}

static bool events_walk(uint16_t type, const unsigned char *p, size_t len, size_t *count,
                        size_t *str_bytes, const char **why)
{
    int nstr = type == RECSYS__LOG_T_EVENTS2 ? 6 : 4;
    if (len < 4) {
        *why = "events record too short";
        return false;
    }
    uint32_t n = get_u32(p);
    size_t pos = 4;
    *str_bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (len - pos < 24) {
            *why = "event fields beyond the record";
            return false;
        }
        pos += 24;
        for (int s = 0; s < nstr; s++)
            if (!walk_ostr(p, len, &pos, str_bytes, why))
                return false;
        if (type == RECSYS__LOG_T_EVENTS2) { /* u32 llm_calls, u32 llm_tokens */
            if (len - pos < 8) {
                *why = "event fields beyond the record";
                return false;
            }
            pos += 8;
        }
    }
    if (pos != len) {
        *why = "trailing bytes after the last event";
        return false;
    }
    *count = n;
    return true;
}

bool recsys__log_events_check(uint16_t type, const unsigned char *p, size_t len, size_t *count,
                              const char **why)
{
    size_t str_bytes;
    return events_walk(type, p, len, count, &str_bytes, why);
}

static const char *take_ostr(const unsigned char *p, size_t *pos, char **strs)
{
    uint32_t n = get_u32(p + *pos);
    *pos += 4;
    if (n == RECSYS__LOG_NULL_STR)
        return NULL;
    char *d = *strs;
    memcpy(d, p + *pos, n);
    d[n] = '\0';
    *pos += n;
    *strs += (size_t)n + 1;
    return d;
}

recsys_status recsys__log_events_decode(uint16_t type, const unsigned char *p, size_t len,
                                        recsys__log_buf *out, recsys_event **evs, size_t *n)
{
    size_t count, str_bytes;
    const char *why;
    if (!events_walk(type, p, len, &count, &str_bytes, &why))
        return recsys__err(RECSYS_E_CORRUPT, "file store: events record: %s", why);
    out->len = 0;
    *evs = NULL;
    *n = 0;
    if (!count)
        return RECSYS_OK;
    /* count <= len / 40 and str_bytes <= len, so this cannot overflow. */
    size_t need = count * sizeof(recsys_event) + str_bytes;
    RECSYS_TRY(recsys__log_buf_reserve(out, need));
    recsys_event *e = (recsys_event *)(void *)out->p;
    char *strs = (char *)(out->p + count * sizeof(recsys_event));
    size_t pos = 4;
    for (size_t i = 0; i < count; i++) {
        memset(&e[i], 0, sizeof e[i]);
        e[i].struct_size = (uint32_t)sizeof(recsys_event);
        e[i].type = get_i32(p + pos);
        e[i].position = get_i32(p + pos + 4);
        e[i].timestamp = get_i64(p + pos + 8);
        uint64_t vbits = get_u64(p + pos + 16);
        memcpy(&e[i].value, &vbits, sizeof vbits);
        pos += 24;
        e[i].user_id = take_ostr(p, &pos, &strs);
        e[i].item_id = take_ostr(p, &pos, &strs);
        e[i].request_id = take_ostr(p, &pos, &strs);
        e[i].query = take_ostr(p, &pos, &strs);
        if (type == RECSYS__LOG_T_EVENTS2) {
            e[i].sources = take_ostr(p, &pos, &strs);
            e[i].ranker = take_ostr(p, &pos, &strs);
            e[i].llm_calls = get_u32(p + pos);
            e[i].llm_tokens = get_u32(p + pos + 4);
            pos += 8;
        }
    }
    out->len = need;
    *evs = e;
    *n = count;
    return RECSYS_OK;
}

/* ---------------------------------------------------------------- reading --------------- */

void recsys__log_reader_init(recsys__log_reader *r, const recsys__mem *mem, int fd,
                             uint64_t size, const char *dir, const char *name)
{
    memset(r, 0, sizeof *r);
    r->mem = mem;
    r->fd = fd;
    r->size = size;
    r->dir = dir;
    r->name = name;
}

void recsys__log_reader_free(recsys__log_reader *r)
{
    recsys__free(r->mem, r->buf);
    r->buf = NULL;
    r->cap = 0;
    r->win_len = 0;
}

/* Makes bytes [off, off + n) (which the caller checked lie inside the file) available. */
static recsys_status get_bytes(recsys__log_reader *r, uint64_t off, size_t n,
                               const unsigned char **out)
{
    if (off >= r->win_off && off - r->win_off <= r->win_len &&
        n <= r->win_len - (off - r->win_off)) {
        *out = r->buf + (off - r->win_off);
        return RECSYS_OK;
    }
    uint64_t avail = r->size - off;
    size_t want = n > READ_CHUNK ? n : READ_CHUNK;
    if (want > avail)
        want = (size_t)avail;
    if (want > r->cap) {
        size_t cap = want > READ_CHUNK ? want : READ_CHUNK;
        unsigned char *b = recsys__alloc(r->mem, cap);
        if (!b)
            return RECSYS_E_NOMEM;
        recsys__free(r->mem, r->buf);
        r->buf = b;
        r->cap = cap;
    }
    r->win_len = 0;
    size_t got = 0;
    while (got < want) {
        ssize_t k = pread(r->fd, r->buf + got, want - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            char eb[128];
            int e = errno;
            return recsys__err(RECSYS_E_IO, "file store: read %s/%s at offset %" PRIu64 ": %s",
                               r->dir, r->name, off + got, strerror_r(e, eb, sizeof eb));
        }
        if (k == 0)
            return recsys__err(RECSYS_E_IO, "file store: read %s/%s: the file ends at %" PRIu64
                               " bytes, expected %" PRIu64 " (changed by another program?)",
                               r->dir, r->name, off + got, r->size);
        got += (size_t)k;
    }
    r->win_off = off;
    r->win_len = want;
    *out = r->buf;
    return RECSYS_OK;
}

recsys_status recsys__log_read(recsys__log_reader *r, uint64_t off, recsys__log_rec *rec,
                               recsys__log_state *state)
{
    memset(rec, 0, sizeof *rec);
    rec->off = off;
    if (off >= r->size) {
        *state = RECSYS__LOG_REC_END;
        return RECSYS_OK;
    }
    *state = RECSYS__LOG_REC_BAD;
    if (r->size - off < RECSYS__LOG_HDR_SIZE) {
        rec->why = "incomplete record header";
        return RECSYS_OK;
    }
    const unsigned char *p;
    RECSYS_TRY(get_bytes(r, off, RECSYS__LOG_HDR_SIZE, &p));
    uint64_t pcheck;
    if (!recsys__log_parse_header(p, &rec->type, &rec->len, &pcheck, &rec->why))
        return RECSYS_OK;
    if (r->size - off - RECSYS__LOG_HDR_SIZE < rec->len) {
        rec->why = "incomplete record payload";
        return RECSYS_OK;
    }
    RECSYS_TRY(get_bytes(r, off, RECSYS__LOG_HDR_SIZE + (size_t)rec->len, &p));
    if (!recsys__log_payload_ok(p + RECSYS__LOG_HDR_SIZE, rec->len, pcheck)) {
        rec->why = "payload checksum mismatch";
        return RECSYS_OK;
    }
    rec->raw = p;
    rec->payload = p + RECSYS__LOG_HDR_SIZE;
    *state = RECSYS__LOG_REC_OK;
    return RECSYS_OK;
}

/* Calls visit for every occurrence of the record magic at an offset in [from, size) with at
 * least need (>= 4, <= READ_CHUNK) bytes of the file from there, in order, until visit
 * returns true. visit gets need bytes at the candidate. Reads each byte of the file about
 * once: candidates are looked at inside the chunk that holds them (a candidate too close to
 * the chunk's end starts the next chunk). */
typedef bool (*scan_fn)(void *arg, const unsigned char *p, uint64_t at);

static recsys_status scan_magic(recsys__log_reader *r, uint64_t from, size_t need, scan_fn visit,
                                void *arg)
{
    static const unsigned char magic[4] = { 'R', 'S', 'R', '1' };
    uint64_t pos = from;
    while (pos < r->size && r->size - pos >= need) {
        uint64_t avail = r->size - pos;
        size_t n = avail > READ_CHUNK ? READ_CHUNK : (size_t)avail;
        const unsigned char *p;
        RECSYS_TRY(get_bytes(r, pos, n, &p));
        size_t next = n - (sizeof magic - 1); /* a magic may straddle the chunk's end */
        for (size_t i = 0; i < n;) {
            const unsigned char *hit = memmem(p + i, n - i, magic, sizeof magic);
            if (!hit)
                break;
            size_t at = (size_t)(hit - p);
            if (n - at < need) {
                next = at; /* (at > 0: n >= need) in the next chunk, or past the end */
                break;
            }
            if (visit(arg, p + at, pos + at))
                return RECSYS_OK;
            i = at + 1;
        }
        pos += next;
    }
    return RECSYS_OK;
}

typedef struct find_valid_ctx {
    uint64_t size, found;
} find_valid_ctx;

static bool find_valid_visit(void *arg, const unsigned char *h, uint64_t at)
{
    find_valid_ctx *c = arg;
    /* A record header with a valid checksum of its own whose payload fits in the file is
     * evidence enough of data after the damage (a chance match is 1 in 2^32 per magic).
     * Hashing each candidate's payload instead made a crafted log quadratic to open. */
    uint16_t type;
    uint32_t len;
    uint64_t pcheck;
    const char *why;
    if (recsys__log_parse_header(h, &type, &len, &pcheck, &why) &&
        c->size - at - RECSYS__LOG_HDR_SIZE >= len) {
        c->found = at;
        return true;
    }
    return false;
}

recsys_status recsys__log_find_valid(recsys__log_reader *r, uint64_t from, uint64_t *found)
{
    find_valid_ctx c = { .size = r->size, .found = UINT64_MAX };
    recsys_status st = scan_magic(r, from, RECSYS__LOG_HDR_SIZE, find_valid_visit, &c);
    *found = c.found;
    return st;
}

typedef struct find_flushed_ctx {
    uint64_t gen, flushed, at;
} find_flushed_ctx;

static bool find_flushed_visit(void *arg, const unsigned char *h, uint64_t at)
{
    find_flushed_ctx *c = arg;
    uint16_t type;
    uint32_t len;
    uint64_t pcheck, flushed, gen;
    const char *why;
    /* the payload is fixed and small, so checking it keeps the scan linear */
    if (recsys__log_parse_header(h, &type, &len, &pcheck, &why) &&
        type == RECSYS__LOG_T_FLUSHED && len == 16 &&
        recsys__log_payload_ok(h + RECSYS__LOG_HDR_SIZE, len, pcheck) &&
        recsys__log_dec_flushed(h + RECSYS__LOG_HDR_SIZE, len, &flushed, &gen, &why) &&
        gen == c->gen && flushed >= RECSYS__LOG_FILE_HDR_SIZE && flushed <= at &&
        flushed > c->flushed) {
        c->flushed = flushed;
        c->at = at;
    }
    return false;
}

recsys_status recsys__log_find_flushed(recsys__log_reader *r, uint64_t from, uint64_t gen,
                                       uint64_t *flushed, uint64_t *at)
{
    find_flushed_ctx c = { .gen = gen, .flushed = 0, .at = 0 };
    recsys_status st = scan_magic(r, from, RECSYS__LOG_FLUSHED_SIZE, find_flushed_visit, &c);
    *flushed = c.flushed;
    *at = c.at;
    return st;
}

int recsys__log_write_all(int fd, const void *p, size_t len)
{
    const unsigned char *b = p;
    while (len) {
        ssize_t k = write(fd, b, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0) {
            errno = ENOSPC;
            return -1;
        }
        b += k;
        len -= (size_t)k;
    }
    return 0;
}
