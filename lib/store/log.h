/* log.h - the record format of the file store's snapshot and log files, and a reader.
 *
 * Both files are a sequence of records with the same framing. All integers little-endian.
 *
 *   record  = header (24 bytes) + payload (len bytes)
 *   header  = u32 magic      RECSYS__LOG_MAGIC, the bytes "RSR1"
 *             u16 type       RECSYS__LOG_T_*
 *             u16 flags      0 (a non-zero value is a format this build does not know)
 *             u32 len        payload bytes, at most RECSYS__LOG_MAX_PAYLOAD
 *             u32 hcheck     XXH32 (seed 0) of the 12 bytes above
 *             u64 pcheck     XXH3-64 of the payload
 *
 * The header has its own checksum so that a damaged length is never trusted: a record is
 * valid only when magic, hcheck, flags, len (fits in the file) and pcheck all agree.
 *
 * Payloads (strings are u32 length + bytes, never NUL-terminated and never containing NUL;
 * an optional string uses length 0xFFFFFFFF for NULL, so NULL and "" stay distinct):
 *   HEADER  u32 format, u32 role (1 snapshot, 2 log), u64 generation. First record of
 *           every file; names the file's role and generation so a misplaced file is caught.
 *           format: 1 for snapshots; 2 for logs (RECSYS__LOG_FORMAT_FLUSHED: the log may hold
 *           FLUSHED records and is recovered by the rule in file.c). 1 is also read for a
 *           log: one written before FLUSHED records existed, recovered as it always was
 *           until it holds a FLUSHED record (file.c, RECOVERY). Any other value is refused.
 *   PUT     i32 kind, u32 key_len, key bytes, value bytes (the rest of the payload).
 *   REMOVE  i32 kind, u32 key_len, key bytes.
 *   EVENTS  u32 count, then count events, each:
 *             i32 type, i32 position, i64 timestamp, u64 value (IEEE-754 bits),
 *             ostr user_id, ostr item_id, ostr request_id, ostr query.
 *   EVENTS2 (since 0.2) as EVENTS with more after query in each event:
 *             ostr sources, ostr ranker, u32 llm_calls, u32 llm_tokens (recsys_event's
 *             impression attribution and the request's LLM cost).
 *           Written only for a batch where some event has one of them set; else EVENTS, so
 *           logs stay readable by earlier versions when nothing needs the new fields. Below,
 *           "EVENTS" means either type.
 *           One append_events call is one EVENTS record (split only past the maximum payload),
 *           so a batch is recovered all or nothing.
 *   END     u64 records, u64 events: the last record of a snapshot, counting the PUT records
 *           and events before it. A snapshot without it is incomplete, hence corrupt.
 *   FLUSHED u64 flushed, u64 generation (logs only; since format 2). "The first `flushed`
 *           bytes of this log (a record boundary) were on disk before this record was
 *           written": the store writes one at the start of its first write after a flush
 *           completed, never flushing for it (file.c, DURABILITY). So its claim is true
 *           whenever the record exists at all, durable or not. generation repeats the file's
 *           (a stale record of another file is not taken for this one's); flushed is at
 *           least the HEADER's end and at most the record's own offset.
 */
#ifndef RECSYS_STORE_LOG_H
#define RECSYS_STORE_LOG_H

#include "../core/alloc.h"

#define RECSYS__LOG_MAGIC 0x31525352u /* "RSR1" */
#define RECSYS__LOG_HDR_SIZE 24u
#define RECSYS__LOG_MAX_PAYLOAD (1u << 30)
#define RECSYS__LOG_FORMAT 1u         /* snapshots, and logs of earlier versions */
#define RECSYS__LOG_FORMAT_FLUSHED 2u /* logs that may hold FLUSHED records */
#define RECSYS__LOG_NULL_STR 0xFFFFFFFFu
/* Bytes of the HEADER record that starts every file. */
#define RECSYS__LOG_FILE_HDR_SIZE (RECSYS__LOG_HDR_SIZE + 16u)
/* Bytes of a FLUSHED record. */
#define RECSYS__LOG_FLUSHED_SIZE (RECSYS__LOG_HDR_SIZE + 16u)
/* Encoded size of an event without its strings. */
#define RECSYS__LOG_EVENT_FIXED 40u

enum {
    RECSYS__LOG_T_HEADER = 1,
    RECSYS__LOG_T_PUT = 2,
    RECSYS__LOG_T_REMOVE = 3,
    RECSYS__LOG_T_EVENTS = 4,
    RECSYS__LOG_T_END = 5,
    RECSYS__LOG_T_FLUSHED = 6,
    RECSYS__LOG_T_EVENTS2 = 7
};

/* Whether a record type holds events (EVENTS or EVENTS2). */
static inline bool recsys__log_is_events(uint16_t type)
{
    return type == RECSYS__LOG_T_EVENTS || type == RECSYS__LOG_T_EVENTS2;
}

enum { RECSYS__LOG_ROLE_SNAPSHOT = 1, RECSYS__LOG_ROLE_LOG = 2 };

/* ---------------------------------------------------------------- encoding -------------- */

/* A growable byte buffer whose allocations go through mem. */
typedef struct recsys__log_buf {
    const recsys__mem *mem;
    unsigned char *p;
    size_t len, cap;
} recsys__log_buf;

void recsys__log_buf_init(recsys__log_buf *b, const recsys__mem *mem);
void recsys__log_buf_free(recsys__log_buf *b);
/* Makes room for extra more bytes. RECSYS_E_NOMEM leaves the buffer as it was. */
recsys_status recsys__log_buf_reserve(recsys__log_buf *b, size_t extra);

/* Each appends one complete record to b (or nothing, on failure). A payload over
 * RECSYS__LOG_MAX_PAYLOAD gives RECSYS_E_INVALID_ARG. */
recsys_status recsys__log_enc_header(recsys__log_buf *b, uint32_t role, uint64_t gen);
recsys_status recsys__log_enc_put(recsys__log_buf *b, int32_t kind, const char *key,
                                  size_t key_len, const void *val, size_t val_len);
recsys_status recsys__log_enc_remove(recsys__log_buf *b, int32_t kind, const char *key,
                                     size_t key_len);
recsys_status recsys__log_enc_events(recsys__log_buf *b, const recsys_event *evs, size_t n);
recsys_status recsys__log_enc_end(recsys__log_buf *b, uint64_t records, uint64_t events);
recsys_status recsys__log_enc_flushed(recsys__log_buf *b, uint64_t flushed, uint64_t gen);
/* Appends a record of any type around payload[0..len) (tests and the fuzzer use this to build
 * files the encoders above would refuse to write). */
recsys_status recsys__log_enc_raw(recsys__log_buf *b, uint16_t type, const void *payload,
                                  size_t len);

/* Encoded bytes of one event inside an EVENTS2 payload, a bound for an EVENTS one (SIZE_MAX
 * when a string is too long). */
size_t recsys__log_event_size(const recsys_event *ev);

/* Writes the HEADER record that starts every file (RECSYS__LOG_FILE_HDR_SIZE bytes) without
 * allocating, for steps of a compaction that must not fail. The format is the current one
 * for the role: RECSYS__LOG_FORMAT_FLUSHED for a log, RECSYS__LOG_FORMAT for a snapshot. */
void recsys__log_file_header(unsigned char *out, uint32_t role, uint64_t gen);

/* Writes a FLUSHED record (RECSYS__LOG_FLUSHED_SIZE bytes) without allocating. */
void recsys__log_flushed_record(unsigned char *out, uint64_t flushed, uint64_t gen);

/* Writes the 24 header bytes at hdr for a payload (used by the encoders). */
void recsys__log_fill_header(unsigned char *hdr, uint16_t type, const unsigned char *payload,
                             uint32_t len);

/* ---------------------------------------------------------------- decoding -------------- */

/* Parses and checks 24 header bytes: magic, hcheck, flags and len bound. On success fills
 * *type, *len and *pcheck; on failure returns false and *why names the problem. */
bool recsys__log_parse_header(const unsigned char *hdr, uint16_t *type, uint32_t *len,
                              uint64_t *pcheck, const char **why);
/* True when payload[0..len) matches pcheck. */
bool recsys__log_payload_ok(const unsigned char *payload, uint32_t len, uint64_t pcheck);

/* A HEADER payload: a format this build reads for the role (1 for a snapshot; 1 or 2 for a
 * log), else false with *why. */
bool recsys__log_dec_header(const unsigned char *p, size_t len, uint32_t *format, uint32_t *role,
                            uint64_t *gen, const char **why);
bool recsys__log_dec_put(const unsigned char *p, size_t len, int32_t *kind, const char **key,
                         size_t *key_len, const unsigned char **val, size_t *val_len,
                         const char **why);
bool recsys__log_dec_remove(const unsigned char *p, size_t len, int32_t *kind, const char **key,
                            size_t *key_len, const char **why);
bool recsys__log_dec_end(const unsigned char *p, size_t len, uint64_t *records, uint64_t *events,
                         const char **why);
/* A FLUSHED payload (its size only; where it may stand is the caller's to check). */
bool recsys__log_dec_flushed(const unsigned char *p, size_t len, uint64_t *flushed, uint64_t *gen,
                             const char **why);
/* type: RECSYS__LOG_T_EVENTS or RECSYS__LOG_T_EVENTS2 (the layout of each event).
 * Checks an EVENTS payload completely (every length, no NUL inside a string, no trailing
 * bytes) without allocating; *count gets the number of events. */
bool recsys__log_events_check(uint16_t type, const unsigned char *p, size_t len, size_t *count,
                              const char **why);
/* Decodes an EVENTS payload into out (reset first): *evs points at *n events inside out whose
 * strings are NUL-terminated copies, valid until out changes. RECSYS_E_CORRUPT (message from
 * the check) or RECSYS_E_NOMEM. */
recsys_status recsys__log_events_decode(uint16_t type, const unsigned char *p, size_t len,
                                        recsys__log_buf *out, recsys_event **evs, size_t *n);

/* ---------------------------------------------------------------- reading --------------- */

/* A buffered reader of records from one open file, with the file's name for messages. */
typedef struct recsys__log_reader {
    const recsys__mem *mem;
    int fd;
    uint64_t size;             /* bytes of the file considered */
    const char *dir, *name;    /* for messages: "<dir>/<name>" */
    unsigned char *buf;
    size_t cap;
    uint64_t win_off;          /* the window buf[0..win_len) holds bytes [win_off, +win_len) */
    size_t win_len;
} recsys__log_reader;

typedef enum recsys__log_state {
    RECSYS__LOG_REC_OK = 0,  /* a valid record */
    RECSYS__LOG_REC_END = 1, /* off == size */
    RECSYS__LOG_REC_BAD = 2  /* a damaged or incomplete record (why says how) */
} recsys__log_state;

typedef struct recsys__log_rec {
    uint64_t off;               /* where the record starts */
    uint16_t type;
    uint32_t len;               /* payload bytes */
    const unsigned char *raw;   /* header + payload, valid until the next reader call */
    const unsigned char *payload;
    const char *why;            /* RECSYS__LOG_REC_BAD: the reason */
} recsys__log_rec;

void recsys__log_reader_init(recsys__log_reader *r, const recsys__mem *mem, int fd,
                             uint64_t size, const char *dir, const char *name);
void recsys__log_reader_free(recsys__log_reader *r);
/* Reads the record at off and checks both checksums. Returns RECSYS_E_IO (pread failed, with
 * the path and strerror) or RECSYS_E_NOMEM; otherwise RECSYS_OK with *state set. */
recsys_status recsys__log_read(recsys__log_reader *r, uint64_t off, recsys__log_rec *rec,
                               recsys__log_state *state);
/* Looks for any valid record starting in [from, size): *found gets its offset, or UINT64_MAX
 * when there is none (the damage at from-1 was a torn tail). */
recsys_status recsys__log_find_valid(recsys__log_reader *r, uint64_t from, uint64_t *found);
/* Looks at every offset in [from, size) for a FLUSHED record (both checksums valid) of
 * generation gen whose claim fits where it stands (RECSYS__LOG_FILE_HDR_SIZE <= flushed <= its
 * offset): *flushed gets the highest claim and *at that record's offset, both 0 when there is
 * none. Every offset is tried, inside other records' bytes too (after damage nothing says
 * where records start), in time linear in the bytes scanned. */
recsys_status recsys__log_find_flushed(recsys__log_reader *r, uint64_t from, uint64_t gen,
                                       uint64_t *flushed, uint64_t *at);

/* write(2) of all len bytes, retrying after EINTR and short writes; errno is kept on failure
 * (a write of 0 bytes reports ENOSPC). */
int recsys__log_write_all(int fd, const void *p, size_t len);

#endif
