/* file.c - the built-in durable file store (recsys_store_file_new).
 *
 * FILES. A store is one directory holding
 *   LOCK                    empty; flock(LOCK_EX|LOCK_NB) held while the store is open, so a
 *                           second opener (this or another process) gets RECSYS_E_STATE.
 *   snapshot.<G>            the live state at the start of generation G (16 hex digits): a
 *                           HEADER record, one PUT per live record (in index order), every
 *                           event as EVENTS records (in append order), an END record. Written
 *                           once, fsynced before it gets its name, never modified. Generation
 *                           0 has no snapshot (the empty state).
 *   log.<G>                 what happened since snapshot.<G>: a HEADER record (format 2),
 *                           then PUT, REMOVE and EVENTS records appended with write(2), one
 *                           write per call; the first write after a flush starts with a
 *                           FLUSHED record (DURABILITY). The record format is in log.h.
 *   snapshot.<G>.tmp        a snapshot being written (a crash leaves it behind; ignored and
 *                           deleted on open).
 * The current generation G is the highest complete snapshot.<G>, or 0 when there is none.
 * Memory holds an index (kind, key) -> value for get and scan_records; events stay on disk
 * and scan_events reads them back (snapshot first, then log).
 *
 * RECOVERY (open). Take the lock. Find G. A log.<H> with H > G holding more than its header
 * cannot come from this code (see step 2 below) and is RECSYS_E_CORRUPT rather than dropped.
 * Load snapshot.<G>: every record must be valid and END must close it, else RECSYS_E_CORRUPT
 * naming the file and offset. Replay log.<G> (created if missing): every record up to the
 * first damaged or incomplete one, at offset h, must be valid and well-formed (a FLUSHED one
 * names G, states at least the header's end, at most its own offset, and no less than the
 * one before), else RECSYS_E_CORRUPT. What follows h is judged by the first rule that applies:
 *   1. A FLUSHED record of generation G anywhere after h (both checksums valid, stating at
 *      most its own offset; every offset is tried, since after damage nothing says where
 *      records start) states a flushed offset X > h: the damage is in bytes a completed
 *      flush had put on disk. RECSYS_E_CORRUPT naming the file, h, the marker and X; nothing
 *      is dropped.
 *   2. The log is governed by markers (its header has format 2, or a valid FLUSHED record
 *      lies before h): [h, end) was written after the last flush anything on disk records,
 *      so it is the unflushed tail, torn by a kill or holed by a power loss. ftruncate it
 *      away (and fdatasync).
 *   3. Otherwise (a format-1 log of an earlier version, no FLUSHED record before h): the old
 *      rule. A valid record anywhere after h means the damage is not a torn tail:
 *      RECSYS_E_CORRUPT naming file and offsets, nothing dropped; else the tail is a write a
 *      crash interrupted: ftruncate it away and fsync. A log of an earlier version opens
 *      exactly as it did then.
 * Why. Let D be the offset the last flush that completed before a crash reached. Bytes below
 * D are on disk; after a power loss each page above D may independently hold the new bytes,
 * zeros or a file end (write-back is not ordered); a kill loses nothing that write(2) took.
 * Every acknowledged record lies below D (it was acknowledged after such a flush). A FLUSHED
 * record stating X is written only after a flush covering X completed, so if it is on disk
 * at all, durable or not, intact beyond a hole or not, X <= D; damage below X is not a power
 * loss's (rule 1). A marker before h cannot help: it states at most its own offset, < h.
 * When the damage is a power loss's, the record at h is not wholly below D, so neither it
 * nor any later record was acknowledged: dropping them loses nothing (rule 2).
 * Limits. Damage that is not a power loss's (a bad sector, a flipped bit) in the records
 * written after the newest surviving marker's X (at most what the last flush acknowledged,
 * or, in RECSYS_SYNC_OS, everything since the last sync, compaction or open) looks like an
 * unflushed tail and is dropped with everything after it, as a damaged last record always
 * was. Bytes shaped like a marker of G that the store did not write as one (inside an event
 * whose fields someone crafted, or stale blocks a file system exposes after a crash) can
 * only turn rule 2 into RECSYS_E_CORRUPT (the old behaviour), never drop data; stale
 * markers of other generations are ignored.
 * Then, before the log takes writes, what recovery kept is made durable (fdatasync; a new
 * log is flushed with its header), so the next write's FLUSHED record states all of it. A
 * format-1 log that no FLUSHED record governs gets one at once, written and flushed on its
 * own (two fdatasyncs, once), which puts it under rule 2; from then on earlier versions
 * cannot read it (they report the record type, as they report format 2 in a new log's
 * header). Finally delete the leftovers of earlier generations (snapshot.<g>/log.<g>, g < G;
 * *.tmp; header-only newer logs) and fsync the directory.
 *
 * COMPACTION (compact, forget_user, and automatically after a write once the log exceeds
 * both compact_bytes (default 64 MiB) and the snapshot's size; the second bound keeps the
 * cost of copying events into new snapshots amortised linear). From generation G to N = G+1:
 *   1. write snapshot.<N>.tmp from the index and the events of snapshot.<G> + log.<G>
 *      (forget_user leaves out the user's record and events), fsync it;
 *   2. create log.<N> holding only its HEADER, fdatasync it;
 *   3. rename snapshot.<N>.tmp -> snapshot.<N>;
 *   4. fsync the directory: from here on N is the current generation;
 *   5. switch to the new files;
 *   6. unlink snapshot.<G> and log.<G>, fsync the directory.
 * A crash before 3 leaves G current (the .tmp file and the header-only log.<N> are deleted on
 * the next open). A crash after 3 leaves either G or N current depending on whether the rename
 * reached the disk, and both hold the same state: nothing is appended before step 4 ends, and
 * everything in G's files is in snapshot.<N>. A crash after 4 leaves N current and step 6 is
 * redone by the next open. A failure in 1-3 removes the new files and leaves the store at G;
 * a failed fsync in 4 leaves the store unusable until reopened (which generation survives is
 * then unknown, but both are complete). forget_user returns RECSYS_OK only after step 6, so
 * no file in the directory holds the user's record or events afterwards (freed disk blocks
 * are not overwritten).
 *
 * DURABILITY. Every write is one write(2) of whole records straight to the file (no stdio
 * buffering), so once a call returns RECSYS_OK its records are in the kernel's page cache.
 * What survives, for a change acknowledged with RECSYS_OK (put, remove, append_events,
 * or append_events_deferred followed by wait_durable):
 *   RECSYS_SYNC_FULL (default): fdatasync(2) of the log before RECSYS_OK. The change
 *     survives a process kill and a power loss (as far as the disk honours flushes).
 *     put, remove and append_events each run their own fdatasync. append_events_deferred
 *     only writes (the change then survives a process kill but not yet a power loss) and
 *     wait_durable does the flush as a group commit: if a flush already covered the ticket
 *     it returns at once; if one is running it waits for it; otherwise the thread becomes
 *     the leader, notes the bytes appended so far, runs fdatasync without holding gc_mu
 *     (appends go on meanwhile, for the next flush) and then settles every ticket up to what
 *     it noted. So one fdatasync acknowledges every event written while the previous one
 *     ran, and an acknowledged event survives a power loss exactly as with append_events.
 *     Any other fsync of the log settles tickets as well: put, remove, append_events and
 *     sync (they flush everything written before them), and compaction and forget_user
 *     (the new snapshot holds every event, fsynced before the switch).
 *   RECSYS_SYNC_OS: no fdatasync on writes, and wait_durable returns RECSYS_OK at once (the
 *     write(2) already happened). An acknowledged change survives a process kill but may be
 *     lost, with everything after it, on a power loss: recovery drops the log from the first
 *     record the disk lost (RECOVERY, rule 2), even if it kept later ones. sync() forces it;
 *     so do compaction, open and a clean destroy.
 * A change not yet acknowledged (a call in progress, or events between
 * append_events_deferred and the end of their wait_durable) survives a process kill if its
 * write(2) completed and a power loss if an fdatasync completed after that; a batch is one
 * record, so it is recovered completely or not at all, and a record cut short by a crash is
 * a torn tail that the next open truncates. With group commit the records not yet flushed can
 * be many (those of every thread that appended during the flush in progress): a power loss
 * may then leave later ones on disk and not earlier ones. FLUSHED records (flush markers) let
 * recovery tell that hole from damage: whenever a flush of the log has completed (the
 * fdatasync of put, remove, append_events or sync, a group commit's, or the one a new or
 * reopened log starts with) since the log last said how far it was on disk, the next write
 * starts with a FLUSHED record stating the offset that flush covered (the writer reads it
 * from durable, without gc_mu: any value it sees was reached by a completed flush). It
 * shares that write(2) and is never flushed on its own: no extra fdatasync, about 40 bytes
 * per flush. RECOVERY (rules 1 and 2) then drops a holed unflushed tail and still reports
 * damage below a marker's offset as RECSYS_E_CORRUPT. Compactions fsync in both modes. A
 * failed write is cut off again with ftruncate; a failed fdatasync (append_events, put,
 * remove, sync, or a group commit's leader) makes the store refuse further writes (after
 * fsync fails the page cache cannot be trusted) until it is reopened, and every wait_durable
 * whose ticket no completed flush covered gets RECSYS_E_IO: those events were written but are
 * not confirmed durable.
 *
 * THREADS. The engine makes one call at a time into a store, except wait_durable, which runs
 * on any thread at the same time as itself and every other method but destroy. So the only
 * lock here is gc_mu (with gc_cv): it guards what wait_durable shares with the rest (the
 * ticket counters, the flush in progress and its waiters, the log's fd and name when a
 * compaction swaps them, and the broken flag). Threads waiting for a flush sleep on their
 * own semaphores (see gc_waiter). Visitors of scans must not call back into the store.
 */
#include "store.h"
#include "index.h"
#include "log.h"
#include "../core/error.h"
/* POSIX semaphores, for the group commit's waiters; the only header beyond core/deps.h */
#include <semaphore.h>


#define DEFAULT_COMPACT_BYTES ((uint64_t)64 << 20)
#define FLUSH_BYTES ((size_t)1 << 20)
#define KEEP_BUF_BYTES ((size_t)4 << 20)
#define LOCK_NAME "LOCK"
#define NAME_LEN 48

typedef struct file_store {
    recsys__mem mem; /* the host allocator; everything below is allocated with it */
    char *dir;
    int dirfd, lockfd, logfd, snapfd; /* snapfd is -1 in generation 0 */
    uint64_t gen;
    uint64_t log_size;        /* bytes of valid log (where the next record goes) */
    uint64_t snap_size;       /* bytes of the snapshot file (0 without one) */
    uint64_t snap_events_off; /* first EVENTS record of the snapshot (or its END) */
    uint64_t snap_end_off;    /* the snapshot's END record */
    int32_t sync;
    uint64_t compact_bytes;
    uint64_t compact_floor;   /* after a failed automatic compaction: wait until the log passes this */
    recsys__store_index idx;
    recsys__log_buf wbuf;     /* records being written */
    /* Flush markers (DURABILITY). Offset o of the current log is ticket log_base_ticket +
     * (o - log_base_off) for o >= log_base_off; both change only with the log (open, the
     * generation switch), in the writing method's thread. */
    uint64_t log_base_ticket, log_base_off;
    uint64_t marked;          /* highest offset the log already says was flushed */
    uint64_t wbuf_mark;       /* wbuf starts with a FLUSHED record saying this (0: it does not) */
    char logname[NAME_LEN], snapname[NAME_LEN];
    /* Group commit (DURABILITY above). wait_durable runs on any thread at the same time as
     * the other methods, so what it shares with them is guarded by gc_mu: */
    pthread_mutex_t gc_mu;
    pthread_cond_t gc_cv;     /* broadcast when flushing becomes false */
    /* bytes written to logs over the store's life (the tickets): added to by the writing
     * method (one at a time) after its write(2), without gc_mu, so that an append under the
     * engine's lock never waits for a thread in wait_durable; read by leaders */
    _Atomic uint64_t appended;
    /* the prefix of appended known to be on disk; written under gc_mu, read without it by
     * the writing method to decide on a FLUSHED record (any value it sees is true) */
    _Atomic uint64_t durable;
    bool flushing;            /* a leader is in fdatasync or chosen (logfd must stay open) */
    struct gc_waiter *waiters; /* threads waiting for the flush in progress to end */
    /* logfd is also read by a leader under gc_mu: it changes only under gc_mu, with no
     * flush in progress. broken is set under gc_mu, once; broken_why is written before it
     * and never after, so a reader that sees broken can read broken_why without the lock. */
    atomic_bool broken;
    char broken_why[256];
} file_store;

/* put_blob and get_blob: blob.<name> files beside the log (lib/store/blob.c, store.h) */
RECSYS__BLOB_FILE_METHODS(fs, file_store)

/* ---------------------------------------------------------------- helpers --------------- */

static recsys_status io_err(const file_store *fs, const char *op, const char *name, int err)
{
    char eb[128];
    return recsys__err(RECSYS_E_IO, "file store: %s %s/%s: %s", op, fs->dir, name,
                       strerror_r(err, eb, sizeof eb));
}

static recsys_status dir_err(const file_store *fs, const char *op, int err)
{
    char eb[128];
    return recsys__err(RECSYS_E_IO, "file store: %s %s: %s", op, fs->dir,
                       strerror_r(err, eb, sizeof eb));
}

static recsys_status corrupt(const file_store *fs, const char *name, uint64_t off, const char *why)
{
    return recsys__err(RECSYS_E_CORRUPT, "file store: %s/%s is damaged at offset %" PRIu64 ": %s",
                       fs->dir, name, off, why);
}

/* Marks the store unusable for writes after the error just reported (caller holds gc_mu).
 * The first reason is kept. Threads waiting for a flush in progress hear of it at its end. */
static void make_broken_locked(file_store *fs)
{
    if (!atomic_load(&fs->broken)) {
        snprintf(fs->broken_why, sizeof fs->broken_why, "%s", recsys_last_error());
        atomic_store(&fs->broken, true);
    }
}

static void make_broken(file_store *fs)
{
    pthread_mutex_lock(&fs->gc_mu);
    make_broken_locked(fs);
    pthread_mutex_unlock(&fs->gc_mu);
}

/* Counts n bytes just written to the log into appended (the ticket space); synced: an
 * fsync after the write covered everything appended so far. Returns the new total. */
static uint64_t count_appended(file_store *fs, uint64_t n, bool synced)
{
    uint64_t total = atomic_fetch_add(&fs->appended, n) + n;
    if (synced) {
        pthread_mutex_lock(&fs->gc_mu);
        /* after a failed fdatasync (a leader's, concurrently) a later one's success proves
         * nothing: pages whose write-back failed are clean again */
        if (atomic_load(&fs->durable) < total && !atomic_load(&fs->broken))
            atomic_store(&fs->durable, total); /* waiters of a running flush hear at its end */
        pthread_mutex_unlock(&fs->gc_mu);
    }
    return total;
}

static recsys_status check_usable(const file_store *fs)
{
    if (atomic_load(&fs->broken))
        return recsys__err(RECSYS_E_IO, "file store %s refuses writes after an earlier failure "
                           "(%s); reopen it", fs->dir, fs->broken_why);
    return RECSYS_OK;
}

static void name_snap(char *out, uint64_t gen)
{
    snprintf(out, NAME_LEN, "snapshot.%016" PRIx64, gen);
}
static void name_tmp(char *out, uint64_t gen)
{
    snprintf(out, NAME_LEN, "snapshot.%016" PRIx64 ".tmp", gen);
}
static void name_log(char *out, uint64_t gen)
{
    snprintf(out, NAME_LEN, "log.%016" PRIx64, gen);
}

/* Parses "<prefix><16 hex digits><suffix>". */
static bool parse_name(const char *s, const char *prefix, const char *suffix, uint64_t *gen)
{
    size_t pl = strlen(prefix);
    if (strncmp(s, prefix, pl) != 0)
        return false;
    s += pl;
    uint64_t g = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return false;
        g = (g << 4) | d;
    }
    if (strcmp(s + 16, suffix) != 0)
        return false;
    *gen = g;
    return true;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static recsys_status fsync_dir(file_store *fs)
{
    if (fsync(fs->dirfd) != 0)
        return io_err(fs, "fsync", ".", errno);
    return RECSYS_OK;
}

/* Writes wbuf at the end of the log with one write(2) (looping only on short writes). On
 * failure the log is cut back to its previous size (log_size, which this does not advance). */
static recsys_status log_write(file_store *fs)
{
    if (recsys__log_write_all(fs->logfd, fs->wbuf.p, fs->wbuf.len) != 0) {
        recsys_status st = io_err(fs, "write", fs->logname, errno);
        if (ftruncate(fs->logfd, (off_t)fs->log_size) != 0) {
            char eb[128];
            recsys__err(RECSYS_E_IO, "file store: write %s/%s failed and cutting off the partial "
                        "record failed too: %s", fs->dir, fs->logname,
                        strerror_r(errno, eb, sizeof eb));
            make_broken(fs);
        }
        return st;
    }
    return RECSYS_OK;
}

/* Starts wbuf for one write to the log: when a flush completed since the log last said how
 * far it was on disk, the write begins with a FLUSHED record saying so (DURABILITY). Its
 * claim comes from durable, which only a completed flush advances, so it is true before the
 * record is written; the record is never flushed on its own. */
static recsys_status wbuf_start(file_store *fs)
{
    fs->wbuf.len = 0;
    fs->wbuf_mark = 0;
    uint64_t durable = atomic_load(&fs->durable);
    if (durable < fs->log_base_ticket)
        return RECSYS_OK; /* (cannot happen: durable never falls behind the log's start) */
    uint64_t flushed = fs->log_base_off + (durable - fs->log_base_ticket);
    /* (never past the log's end: what is durable was appended) */
    if (flushed <= fs->marked || flushed > fs->log_size)
        return RECSYS_OK;
    RECSYS_TRY(recsys__log_enc_flushed(&fs->wbuf, flushed, fs->gen));
    fs->wbuf_mark = flushed;
    return RECSYS_OK;
}

/* After wbuf was written for good: the log grew by it, and says what its FLUSHED record says.
 * Counts the bytes into appended (count_appended) and returns the new total. */
static uint64_t log_grew(file_store *fs, bool synced)
{
    fs->log_size += fs->wbuf.len;
    if (fs->wbuf_mark)
        fs->marked = fs->wbuf_mark;
    fs->wbuf_mark = 0;
    return count_appended(fs, fs->wbuf.len, synced);
}

/* Appends wbuf to the log (log_write) and, in RECSYS_SYNC_FULL, fdatasync. On failure the
 * log is cut back to its previous size. */
static recsys_status log_append(file_store *fs)
{
    RECSYS_TRY(log_write(fs));
    bool full = fs->sync == RECSYS_SYNC_FULL;
    if (full && fdatasync(fs->logfd) != 0) {
        recsys_status st = io_err(fs, "fdatasync", fs->logname, errno);
        /* Whether the bytes reached the disk is unknown; take them back and stop writing. */
        int rc = ftruncate(fs->logfd, (off_t)fs->log_size); /* broken below either way */
        (void)rc;
        make_broken(fs);
        return st;
    }
    log_grew(fs, full);
    return RECSYS_OK;
}

static void wbuf_done(file_store *fs)
{
    fs->wbuf.len = 0;
    if (fs->wbuf.cap > KEEP_BUF_BYTES)
        recsys__log_buf_free(&fs->wbuf);
}

/* ---------------------------------------------------------------- events on disk -------- */

typedef recsys_status (*events_rec_fn)(void *arg, const recsys__log_rec *rec,
                                       const char *name);

/* Calls fn for every EVENTS record: those of the snapshot, then those of the log. */
static recsys_status each_events_record(file_store *fs, events_rec_fn fn, void *arg)
{
    struct {
        int fd;
        uint64_t from, to;
        const char *name;
    } parts[2] = {
        { fs->snapfd, fs->snap_events_off, fs->snap_end_off, fs->snapname },
        { fs->logfd, RECSYS__LOG_FILE_HDR_SIZE, fs->log_size, fs->logname },
    };
    recsys_status st = RECSYS_OK;
    for (int i = 0; i < 2 && st == RECSYS_OK; i++) {
        if (parts[i].fd < 0)
            continue;
        recsys__log_reader r;
        recsys__log_reader_init(&r, &fs->mem, parts[i].fd, parts[i].to, fs->dir, parts[i].name);
        uint64_t off = parts[i].from;
        while (off < parts[i].to) {
            recsys__log_rec rec;
            recsys__log_state state;
            st = recsys__log_read(&r, off, &rec, &state);
            if (st != RECSYS_OK)
                break;
            if (state != RECSYS__LOG_REC_OK) {
                st = corrupt(fs, parts[i].name, off, state == RECSYS__LOG_REC_BAD ? rec.why
                             : "unexpected end of file (changed since it was opened?)");
                break;
            }
            if (recsys__log_is_events(rec.type)) {
                st = fn(arg, &rec, parts[i].name);
                if (st != RECSYS_OK)
                    break;
            }
            off += RECSYS__LOG_HDR_SIZE + (uint64_t)rec.len;
        }
        recsys__log_reader_free(&r);
    }
    return st;
}

/* ---------------------------------------------------------------- compaction ------------ */

typedef struct snap_writer {
    file_store *fs;
    int fd;
    const char *name;
    uint64_t written;   /* bytes already in the file */
    uint64_t nevents;
    const char *forget; /* user to leave out, or NULL */
    recsys__log_buf scratch;
} snap_writer;

static recsys_status sw_flush(snap_writer *w, bool force)
{
    recsys__log_buf *b = &w->fs->wbuf;
    if (!b->len || (!force && b->len < FLUSH_BYTES))
        return RECSYS_OK;
    if (recsys__log_write_all(w->fd, b->p, b->len) != 0)
        return io_err(w->fs, "write", w->name, errno);
    w->written += b->len;
    b->len = 0;
    return RECSYS_OK;
}

static recsys_status sw_events(void *arg, const recsys__log_rec *rec, const char *name)
{
    snap_writer *w = arg;
    recsys__log_buf *b = &w->fs->wbuf;
    if (!w->forget) {
        size_t count;
        const char *why;
        if (!recsys__log_events_check(rec->type, rec->payload, rec->len, &count, &why))
            return corrupt(w->fs, name, rec->off, why);
        RECSYS_TRY(recsys__log_buf_reserve(b, RECSYS__LOG_HDR_SIZE + (size_t)rec->len));
        memcpy(b->p + b->len, rec->raw, RECSYS__LOG_HDR_SIZE + (size_t)rec->len);
        b->len += RECSYS__LOG_HDR_SIZE + (size_t)rec->len;
        w->nevents += count;
        return sw_flush(w, false);
    }
    recsys_event *evs;
    size_t n, kept = 0;
    recsys_status st = recsys__log_events_decode(rec->type, rec->payload, rec->len, &w->scratch, &evs, &n);
    if (st == RECSYS_E_CORRUPT)
        return corrupt(w->fs, name, rec->off, "events record does not decode");
    RECSYS_TRY(st);
    for (size_t i = 0; i < n; i++)
        if (!recsys__store_str_eq(evs[i].user_id, w->forget))
            evs[kept++] = evs[i];
    if (kept)
        RECSYS_TRY(recsys__log_enc_events(b, evs, kept));
    if (w->scratch.len)
        explicit_bzero(w->scratch.p, w->scratch.len);
    w->nevents += kept;
    return sw_flush(w, false);
}

/* Step 1: the whole snapshot of generation gen into fd. */
static recsys_status write_snapshot(snap_writer *w, uint64_t gen, uint64_t *events_off,
                                    uint64_t *end_off)
{
    file_store *fs = w->fs;
    recsys__log_buf *b = &fs->wbuf;
    b->len = 0;
    RECSYS_TRY(recsys__log_enc_header(b, RECSYS__LOG_ROLE_SNAPSHOT, gen));
    uint64_t nrec = 0;
    size_t forget_len = w->forget ? strlen(w->forget) : 0;
    for (size_t pos = 0; pos < fs->idx.norder; pos++) {
        const recsys__store_rec *r = fs->idx.order[pos];
        if (!r)
            continue;
        if (w->forget && r->kind == RECSYS_RECORD_USER && r->key_len == forget_len &&
            memcmp(recsys__store_rec_key(r), w->forget, forget_len) == 0)
            continue;
        RECSYS_TRY(recsys__log_enc_put(b, r->kind, recsys__store_rec_key(r), r->key_len,
                                       recsys__store_rec_val(r), r->val_len));
        nrec++;
        RECSYS_TRY(sw_flush(w, false));
    }
    *events_off = w->written + b->len;
    RECSYS_TRY(each_events_record(fs, sw_events, w));
    *end_off = w->written + b->len;
    RECSYS_TRY(recsys__log_enc_end(b, nrec, w->nevents));
    return sw_flush(w, true);
}

/* Steps 2-6 of the protocol at the top of this file, after step 1 wrote tmp (open on *snapfd). */
static recsys_status switch_generation(file_store *fs, uint64_t ngen, int *snapfd,
                                       const char *tmp, uint64_t snap_size, uint64_t events_off,
                                       uint64_t end_off, const char *forget)
{
    char logname[NAME_LEN], snapname[NAME_LEN];
    name_log(logname, ngen);
    name_snap(snapname, ngen);

    /* 2. the new, empty log */
    int logfd = openat(fs->dirfd, logname, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
                       0644);
    if (logfd < 0)
        return io_err(fs, "create", logname, errno);
    unsigned char hdr[RECSYS__LOG_FILE_HDR_SIZE];
    recsys__log_file_header(hdr, RECSYS__LOG_ROLE_LOG, ngen);
    recsys_status st = RECSYS_OK;
    if (recsys__log_write_all(logfd, hdr, sizeof hdr) != 0)
        st = io_err(fs, "write", logname, errno);
    else if (fdatasync(logfd) != 0)
        st = io_err(fs, "fdatasync", logname, errno);
    /* 3. the commit point */
    else if (renameat(fs->dirfd, tmp, fs->dirfd, snapname) != 0)
        st = io_err(fs, "rename to snapshot", tmp, errno);
    if (st != RECSYS_OK) {
        close(logfd);
        unlinkat(fs->dirfd, logname, 0);
        return st;
    }
    /* 4. */
    if (fsync(fs->dirfd) != 0) {
        st = io_err(fs, "fsync", ".", errno);
        close(logfd);
        make_broken(fs);
        return st;
    }
    /* 5. Everything appended so far is in the snapshot, now durable: it settles every
     * ticket. A leader may be in fdatasync on the old log: wait for it before closing it. */
    char oldsnap[NAME_LEN], oldlog[NAME_LEN];
    bool had_snap = fs->snapfd >= 0;
    memcpy(oldsnap, fs->snapname, NAME_LEN);
    memcpy(oldlog, fs->logname, NAME_LEN);
    close_fd(&fs->snapfd);
    fs->snapfd = *snapfd;
    *snapfd = -1;
    pthread_mutex_lock(&fs->gc_mu);
    while (fs->flushing)
        pthread_cond_wait(&fs->gc_cv, &fs->gc_mu);
    close_fd(&fs->logfd);
    fs->logfd = logfd;
    memcpy(fs->logname, logname, NAME_LEN);
    uint64_t appended = atomic_load(&fs->appended);
    atomic_store(&fs->durable, appended);
    pthread_cond_broadcast(&fs->gc_cv);
    pthread_mutex_unlock(&fs->gc_mu);
    fs->gen = ngen;
    fs->log_size = RECSYS__LOG_FILE_HDR_SIZE;
    /* the new log is flushed up to its end, and its format-2 header says as much */
    fs->log_base_ticket = appended;
    fs->log_base_off = RECSYS__LOG_FILE_HDR_SIZE;
    fs->marked = RECSYS__LOG_FILE_HDR_SIZE;
    fs->snap_size = snap_size;
    fs->snap_events_off = events_off;
    fs->snap_end_off = end_off;
    memcpy(fs->snapname, snapname, NAME_LEN);
    if (forget)
        recsys__store_index_remove(&fs->idx, RECSYS_RECORD_USER, forget, strlen(forget), true);
    /* 6. */
    if (had_snap && unlinkat(fs->dirfd, oldsnap, 0) != 0 && errno != ENOENT)
        return io_err(fs, "unlink", oldsnap, errno);
    if (unlinkat(fs->dirfd, oldlog, 0) != 0 && errno != ENOENT)
        return io_err(fs, "unlink", oldlog, errno);
    return fsync_dir(fs);
}

/* A compaction into generation gen + 1, leaving out forget's record and events if set. */
static recsys_status rewrite(file_store *fs, const char *forget)
{
    RECSYS_TRY(check_usable(fs));
    uint64_t ngen = fs->gen + 1;
    char tmp[NAME_LEN];
    name_tmp(tmp, ngen);
    int fd = openat(fs->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return io_err(fs, "create", tmp, errno);
    snap_writer w = { .fs = fs, .fd = fd, .name = tmp, .forget = forget };
    recsys__log_buf_init(&w.scratch, &fs->mem);
    uint64_t events_off = 0, end_off = 0;
    recsys_status st = write_snapshot(&w, ngen, &events_off, &end_off);
    recsys__log_buf_free(&w.scratch);
    if (forget && fs->wbuf.p)
        explicit_bzero(fs->wbuf.p, fs->wbuf.cap);
    wbuf_done(fs);
    if (st == RECSYS_OK && fsync(fd) != 0)
        st = io_err(fs, "fsync", tmp, errno);
    if (st == RECSYS_OK)
        st = switch_generation(fs, ngen, &fd, tmp, w.written, events_off, end_off, forget);
    if (fd >= 0) {
        /* not committed: the store stays at the old generation */
        close(fd);
        unlinkat(fs->dirfd, tmp, 0);
    }
    if (st == RECSYS_OK)
        fs->compact_floor = 0;
    return st;
}

/* Automatic compaction after a successful write; its failure does not fail the write. */
static void maybe_compact(file_store *fs)
{
    uint64_t limit = RECSYS_MAX(fs->compact_bytes, fs->snap_size);
    limit = RECSYS_MAX(limit, fs->compact_floor);
    if (fs->log_size <= limit || atomic_load(&fs->broken))
        return;
    recsys__err_saved saved;
    recsys__err_save(&saved);
    if (rewrite(fs, NULL) != RECSYS_OK)
        fs->compact_floor = fs->log_size + fs->compact_bytes;
    recsys__err_restore(&saved);
}

/* ---------------------------------------------------------------- vtable methods -------- */

static void fs_free(file_store *fs)
{
    pthread_cond_destroy(&fs->gc_cv);
    pthread_mutex_destroy(&fs->gc_mu);
    recsys__store_index_free(&fs->idx);
    recsys__log_buf_free(&fs->wbuf);
    close_fd(&fs->snapfd);
    close_fd(&fs->logfd);
    close_fd(&fs->lockfd); /* releases the lock */
    close_fd(&fs->dirfd);
    recsys__free(&fs->mem, fs->dir);
    recsys__mem m = fs->mem;
    recsys__free(&m, fs);
}

static void fs_destroy(void *ctx)
{
    file_store *fs = ctx;
    if (!fs)
        return;
    if (fs->sync == RECSYS_SYNC_OS && !atomic_load(&fs->broken) && fs->logfd >= 0) {
        /* A clean close makes everything durable; nobody is left to hear of a failure. */
        int rc = fdatasync(fs->logfd);
        (void)rc;
    }
    fs_free(fs);
}

static recsys_status fs_put(void *ctx, int32_t kind, const char *key, const void *data, size_t len)
{
    file_store *fs = ctx;
    RECSYS_TRY(recsys__store_check_key("file store put", kind, key));
    if (!data && len)
        return recsys__err(RECSYS_E_INVALID_ARG, "file store put: data is NULL, len %zu", len);
    RECSYS_TRY(check_usable(fs));
    size_t key_len = strlen(key);
    recsys__store_rec *rec = recsys__store_rec_new(&fs->mem, kind, key, key_len, data, len);
    if (!rec)
        return RECSYS_E_NOMEM;
    recsys_status st = recsys__store_index_reserve(&fs->idx);
    if (st == RECSYS_OK)
        st = wbuf_start(fs);
    if (st == RECSYS_OK)
        st = recsys__log_enc_put(&fs->wbuf, kind, key, key_len, data, len);
    if (st == RECSYS_OK)
        st = log_append(fs);
    wbuf_done(fs);
    if (st != RECSYS_OK) {
        recsys__store_rec_free(&fs->mem, rec, false);
        return st;
    }
    recsys__store_index_commit(&fs->idx, rec);
    maybe_compact(fs);
    return RECSYS_OK;
}

static recsys_status fs_remove(void *ctx, int32_t kind, const char *key)
{
    file_store *fs = ctx;
    RECSYS_TRY(recsys__store_check_key("file store remove", kind, key));
    RECSYS_TRY(check_usable(fs));
    size_t key_len = strlen(key);
    if (!recsys__store_index_find(&fs->idx, kind, key, key_len))
        return recsys__err(RECSYS_E_NOT_FOUND, "file store remove: no record of kind %" PRId32
                           " with key '%.200s'", kind, key);
    recsys_status st = wbuf_start(fs);
    if (st == RECSYS_OK)
        st = recsys__log_enc_remove(&fs->wbuf, kind, key, key_len);
    if (st == RECSYS_OK)
        st = log_append(fs);
    wbuf_done(fs);
    RECSYS_TRY(st);
    recsys__store_index_remove(&fs->idx, kind, key, key_len, kind == RECSYS_RECORD_USER);
    maybe_compact(fs);
    return RECSYS_OK;
}

static recsys_status fs_get(void *ctx, int32_t kind, const char *key, recsys_store_value *out)
{
    file_store *fs = ctx;
    RECSYS_TRY(recsys__store_check_key("file store get", kind, key));
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "file store get: out is NULL");
    const recsys__store_rec *r = recsys__store_index_find(&fs->idx, kind, key, strlen(key));
    if (!r)
        return recsys__err(RECSYS_E_NOT_FOUND, "file store get: no record of kind %" PRId32
                           " with key '%.200s'", kind, key);
    return recsys__store_value_assign(out, recsys__store_rec_val(r), r->val_len);
}

/* Encodes n (> 0) events into wbuf: one EVENTS record per run of events that fits the
 * maximum payload (normally one). what names the method in messages. */
static recsys_status encode_events(file_store *fs, const recsys_event *events, size_t n,
                                   const char *what)
{
    recsys_status st = wbuf_start(fs);
    size_t start = 0, payload = 4;
    for (size_t i = 0; i < n && st == RECSYS_OK; i++) {
        size_t s = recsys__log_event_size(&events[i]);
        if (s == SIZE_MAX || s > RECSYS__LOG_MAX_PAYLOAD - 4) {
            st = recsys__err(RECSYS_E_INVALID_ARG, "file store %s: event %zu is larger than "
                             "the maximum record of %u bytes", what, i, RECSYS__LOG_MAX_PAYLOAD);
            break;
        }
        if (payload + s > RECSYS__LOG_MAX_PAYLOAD) {
            st = recsys__log_enc_events(&fs->wbuf, events + start, i - start);
            start = i;
            payload = 4;
        }
        payload += s;
    }
    if (st == RECSYS_OK)
        st = recsys__log_enc_events(&fs->wbuf, events + start, n - start);
    return st;
}

static recsys_status fs_append_events(void *ctx, const recsys_event *events, size_t n)
{
    file_store *fs = ctx;
    if (!n)
        return RECSYS_OK;
    if (!events)
        return recsys__err(RECSYS_E_INVALID_ARG, "file store append_events: events is NULL");
    RECSYS_TRY(check_usable(fs));
    recsys_status st = encode_events(fs, events, n, "append_events");
    if (st == RECSYS_OK)
        st = log_append(fs);
    wbuf_done(fs);
    RECSYS_TRY(st);
    maybe_compact(fs);
    return RECSYS_OK;
}

/* append_events without the fdatasync: the same records, the same cut-back of a failed
 * write. *ticket = the store's appended byte count after these events (0 for n == 0,
 * which writes nothing); wait_durable(ticket) makes them durable. */
static recsys_status fs_append_events_deferred(void *ctx, const recsys_event *events, size_t n,
                                               uint64_t *ticket)
{
    file_store *fs = ctx;
    if (!ticket)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "file store append_events_deferred: ticket is NULL");
    *ticket = 0;
    if (!n)
        return RECSYS_OK;
    if (!events)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "file store append_events_deferred: events is NULL");
    RECSYS_TRY(check_usable(fs));
    recsys_status st = encode_events(fs, events, n, "append_events_deferred");
    if (st == RECSYS_OK)
        st = log_write(fs);
    if (st == RECSYS_OK)
        *ticket = log_grew(fs, false);
    wbuf_done(fs);
    RECSYS_TRY(st);
    maybe_compact(fs); /* a compaction makes the ticket durable at once */
    return RECSYS_OK;
}

/* A thread in wait_durable while another's flush runs: it sleeps on its own semaphore until
 * the flush's leader settles it. Nothing is locked again on waking: with one condition
 * variable on gc_mu the woken waiters would each take gc_mu again, one after another, and
 * with a mutex per waiter they would block on it while the leader still holds it; both cost
 * extra sleeps and wake-ups per event, which is what limits the rate on a small machine.
 * sem_post may run while the woken waiter already returned and destroyed the semaphore
 * (glibc's sem_post does not touch it after the increment but for the futex wake-up, which
 * is harmless). Lives on the waiter's stack. */
typedef struct gc_waiter {
    struct gc_waiter *next; /* gc_mu */
    uint64_t ticket;
    /* written by the leader before the first sem_post of its wake-up tree */
    int outcome;
    struct gc_waiter *child[2]; /* woken by this waiter once it is awake */
    sem_t sem;
} gc_waiter;

enum { GC_DURABLE, GC_BROKEN, GC_LEAD };

static recsys_status not_durable(const file_store *fs)
{
    return recsys__err(RECSYS_E_IO, "file store %s: the events were written but are not "
                       "confirmed durable, and the store refuses further writes until it is "
                       "reopened: %s", fs->dir, fs->broken_why);
}

/* A leader's flush (gc_mu held, flushing set): fdatasync without gc_mu, then settle every
 * waiter: durable, or broken, or (one whose ticket the flush did not cover) the next
 * leader, for which flushing stays set so that no one else starts a flush meanwhile.
 * Returns with gc_mu released, and the status for ticket, the leader's own (which its flush
 * covers, since it was appended before the leader read appended). */
static recsys_status lead_flush(file_store *fs, uint64_t ticket)
{
    uint64_t target = atomic_load(&fs->appended); /* all of it was written before */
    int fd = fs->logfd;             /* stays open: a generation switch waits for !flushing */
    char name[NAME_LEN];
    memcpy(name, fs->logname, NAME_LEN);
    pthread_mutex_unlock(&fs->gc_mu);
    int rc = fdatasync(fd);
    int err = errno;
    pthread_mutex_lock(&fs->gc_mu);
    if (rc != 0) {
        io_err(fs, "fdatasync", name, err);
        make_broken_locked(fs);
    } else if (atomic_load(&fs->durable) < target && !atomic_load(&fs->broken)) {
        /* (not after another thread's fdatasync failed: see count_appended) */
        atomic_store(&fs->durable, target);
    }
    bool broken = atomic_load(&fs->broken);
    uint64_t durable = atomic_load(&fs->durable);
    /* the store may have broken under a successful flush (another fdatasync failed) */
    recsys_status st = ticket <= durable ? RECSYS_OK : not_durable(fs);
    gc_waiter *settled = NULL, *next_leader = NULL, *keep = NULL;
    for (gc_waiter *w = fs->waiters, *next; w; w = next) {
        next = w->next;
        if (w->ticket <= durable || broken) {
            w->next = settled;
            settled = w;
        } else if (!next_leader) {
            next_leader = w;
        } else {
            w->next = keep;
            keep = w;
        }
    }
    fs->waiters = keep;
    if (!next_leader) {
        fs->flushing = false;
        pthread_cond_broadcast(&fs->gc_cv); /* a generation switch may wait for this */
    }
    pthread_mutex_unlock(&fs->gc_mu);
    /* the settled waiters form a binary tree in list order (node i's children are nodes
     * 2i+1 and 2i+2): each one wakes its two children once awake, so no thread posts more
     * than three semaphores and the wake-ups spread over the processors */
    gc_waiter *parent = settled, *child = settled ? settled->next : NULL;
    for (gc_waiter *w = settled; w; w = w->next) {
        w->outcome = w->ticket <= durable ? GC_DURABLE : GC_BROKEN;
        w->child[0] = w->child[1] = NULL;
    }
    for (; child; parent = parent->next)
        for (int k = 0; k < 2 && child; k++, child = child->next)
            parent->child[k] = child;
    if (next_leader) { /* first: its flush can start while the others wake */
        next_leader->outcome = GC_LEAD;
        sem_post(&next_leader->sem);
    }
    if (settled)
        sem_post(&settled->sem);
    return st;
}

/* Group commit: returns once the first ticket bytes ever appended are on disk. One thread
 * at a time (the leader) runs fdatasync, without gc_mu, so that appends go on meanwhile;
 * the threads that arrive during its flush sleep until it ends and settles them (a wake-up
 * tree), and one of those it did not cover leads the next flush. Runs on any thread,
 * concurrently with everything but destroy. */
static recsys_status fs_wait_durable(void *ctx, uint64_t ticket)
{
    file_store *fs = ctx;
    if (fs->sync != RECSYS_SYNC_FULL)
        return RECSYS_OK; /* write(2) already put the events in the kernel (DURABILITY) */
    pthread_mutex_lock(&fs->gc_mu);
    uint64_t appended = atomic_load(&fs->appended);
    if (ticket > appended) {
        pthread_mutex_unlock(&fs->gc_mu);
        return recsys__err(RECSYS_E_INVALID_ARG, "file store wait_durable: ticket %" PRIu64
                           " is beyond the %" PRIu64 " bytes ever appended to %s (not a "
                           "ticket of append_events_deferred)", ticket, appended, fs->dir);
    }
    if (atomic_load(&fs->durable) >= ticket) {
        pthread_mutex_unlock(&fs->gc_mu);
        return RECSYS_OK;
    }
    if (atomic_load(&fs->broken)) {
        pthread_mutex_unlock(&fs->gc_mu);
        return not_durable(fs);
    }
    if (!fs->flushing) {
        fs->flushing = true;
        return lead_flush(fs, ticket);
    }
    gc_waiter w = { .next = fs->waiters, .ticket = ticket };
    sem_init(&w.sem, 0, 0); /* cannot fail: process-private, value 0 */
    fs->waiters = &w;
    pthread_mutex_unlock(&fs->gc_mu);
    while (sem_wait(&w.sem) != 0) /* EINTR only */
        ;
    sem_destroy(&w.sem);
    if (w.outcome != GC_LEAD)
        for (int k = 0; k < 2 && w.child[k]; k++)
            sem_post(&w.child[k]->sem);
    if (w.outcome == GC_DURABLE)
        return RECSYS_OK;
    if (w.outcome == GC_BROKEN)
        return not_durable(fs);
    pthread_mutex_lock(&fs->gc_mu); /* GC_LEAD: flushing is still set for us */
    return lead_flush(fs, ticket);
}

static recsys_status fs_scan_records(void *ctx, int32_t kind, recsys_record_visit_fn fn, void *arg)
{
    file_store *fs = ctx;
    if (!recsys__store_kind_valid(kind))
        return recsys__err(RECSYS_E_INVALID_ARG, "file store scan_records: record kind %" PRId32
                           " is not a recsys_record_kind (1..%d)", kind,
                           RECSYS__RECORD_KIND_MAX);
    if (!fn)
        return recsys__err(RECSYS_E_INVALID_ARG, "file store scan_records: fn is NULL");
    return recsys__store_index_scan(&fs->idx, kind, fn, arg);
}

typedef struct scan_events_ctx {
    file_store *fs;
    recsys_event_visit_fn fn;
    void *arg;
    recsys__log_buf scratch;
} scan_events_ctx;

static recsys_status scan_events_rec(void *arg, const recsys__log_rec *rec, const char *name)
{
    scan_events_ctx *c = arg;
    recsys_event *evs;
    size_t n;
    recsys_status st = recsys__log_events_decode(rec->type, rec->payload, rec->len, &c->scratch, &evs, &n);
    if (st == RECSYS_E_CORRUPT)
        return corrupt(c->fs, name, rec->off, "events record does not decode");
    RECSYS_TRY(st);
    for (size_t i = 0; i < n; i++)
        RECSYS_TRY(c->fn(c->arg, &evs[i]));
    return RECSYS_OK;
}

static recsys_status fs_scan_events(void *ctx, recsys_event_visit_fn fn, void *arg)
{
    file_store *fs = ctx;
    if (!fn)
        return recsys__err(RECSYS_E_INVALID_ARG, "file store scan_events: fn is NULL");
    scan_events_ctx c = { .fs = fs, .fn = fn, .arg = arg };
    recsys__log_buf_init(&c.scratch, &fs->mem);
    recsys_status st = each_events_record(fs, scan_events_rec, &c);
    recsys__log_buf_free(&c.scratch);
    return st;
}

static recsys_status fs_forget_user(void *ctx, const char *user_id)
{
    file_store *fs = ctx;
    if (!user_id)
        return recsys__err(RECSYS_E_INVALID_ARG, "file store forget_user: user_id is NULL");
    return rewrite(fs, user_id);
}

static recsys_status fs_sync(void *ctx)
{
    file_store *fs = ctx;
    RECSYS_TRY(check_usable(fs));
    if (fdatasync(fs->logfd) != 0) {
        recsys_status st = io_err(fs, "fdatasync", fs->logname, errno);
        make_broken(fs);
        return st;
    }
    count_appended(fs, 0, true);
    return RECSYS_OK;
}

static recsys_status fs_compact(void *ctx)
{
    return rewrite(ctx, NULL);
}

/* ---------------------------------------------------------------- recovery -------------- */

static recsys_status apply_put(file_store *fs, const recsys__log_rec *rec, const char *name)
{
    int32_t kind;
    const char *key, *why;
    size_t key_len, val_len;
    const unsigned char *val;
    if (!recsys__log_dec_put(rec->payload, rec->len, &kind, &key, &key_len, &val, &val_len, &why))
        return corrupt(fs, name, rec->off, why);
    if (!recsys__store_kind_valid(kind))
        return corrupt(fs, name, rec->off, "record of an unknown kind");
    recsys__store_rec *r = recsys__store_rec_new(&fs->mem, kind, key, key_len, val, val_len);
    if (!r)
        return RECSYS_E_NOMEM;
    recsys_status st = recsys__store_index_reserve(&fs->idx);
    if (st != RECSYS_OK) {
        recsys__store_rec_free(&fs->mem, r, false);
        return st;
    }
    recsys__store_index_commit(&fs->idx, r);
    return RECSYS_OK;
}

static recsys_status check_file_header(file_store *fs, const recsys__log_rec *rec,
                                       const char *name, uint32_t role, uint32_t *format)
{
    uint32_t got_role;
    uint64_t gen;
    const char *why;
    if (rec->type != RECSYS__LOG_T_HEADER)
        return corrupt(fs, name, rec->off, "the file does not start with a header record");
    if (!recsys__log_dec_header(rec->payload, rec->len, format, &got_role, &gen, &why))
        return corrupt(fs, name, rec->off, why);
    if (got_role != role || gen != fs->gen)
        return corrupt(fs, name, rec->off, "the header names another file (role or generation)");
    return RECSYS_OK;
}

static recsys_status load_snapshot(file_store *fs)
{
    const char *name = fs->snapname;
    int fd = openat(fs->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_err(fs, "open", name, errno);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        recsys_status st = io_err(fs, "stat", name, errno);
        close(fd);
        return st;
    }
    recsys__log_reader r;
    recsys__log_reader_init(&r, &fs->mem, fd, (uint64_t)sb.st_size, fs->dir, name);
    uint64_t off = 0, nrec = 0, nev = 0, events_off = 0, end_off = 0;
    uint32_t format;
    bool ended = false;
    recsys_status st = RECSYS_OK;
    for (;;) {
        recsys__log_rec rec;
        recsys__log_state state;
        if ((st = recsys__log_read(&r, off, &rec, &state)) != RECSYS_OK)
            break;
        if (state == RECSYS__LOG_REC_END)
            break;
        if (state == RECSYS__LOG_REC_BAD) {
            st = corrupt(fs, name, off, rec.why);
            break;
        }
        if (ended) {
            st = corrupt(fs, name, off, "a record after the end record");
            break;
        }
        const char *why = NULL;
        size_t count;
        uint64_t want_rec, want_ev;
        if (off == 0) {
            st = check_file_header(fs, &rec, name, RECSYS__LOG_ROLE_SNAPSHOT, &format);
        } else {
            switch (rec.type) {
            case RECSYS__LOG_T_PUT:
                st = apply_put(fs, &rec, name);
                nrec++;
                break;
            case RECSYS__LOG_T_EVENTS:
            case RECSYS__LOG_T_EVENTS2:
                if (!recsys__log_events_check(rec.type, rec.payload, rec.len, &count, &why))
                    break;
                if (!events_off)
                    events_off = off;
                nev += count;
                break;
            case RECSYS__LOG_T_END:
                if (!recsys__log_dec_end(rec.payload, rec.len, &want_rec, &want_ev, &why))
                    break;
                if (want_rec != nrec || want_ev != nev)
                    why = "the end record's counts do not match the snapshot";
                ended = true;
                end_off = off;
                break;
            case RECSYS__LOG_T_HEADER:
                why = "a second header record";
                break;
            case RECSYS__LOG_T_REMOVE:
                why = "a remove record inside a snapshot";
                break;
            case RECSYS__LOG_T_FLUSHED:
                why = "a flush marker inside a snapshot";
                break;
            default:
                why = "a record of an unknown type";
                break;
            }
        }
        if (st == RECSYS_OK && why)
            st = corrupt(fs, name, off, why);
        if (st != RECSYS_OK)
            break;
        off += RECSYS__LOG_HDR_SIZE + (uint64_t)rec.len;
    }
    recsys__log_reader_free(&r);
    if (st == RECSYS_OK && !ended)
        st = corrupt(fs, name, off, "the snapshot has no end record (incomplete)");
    if (st != RECSYS_OK) {
        close(fd);
        return st;
    }
    fs->snapfd = fd;
    fs->snap_size = (uint64_t)sb.st_size;
    fs->snap_events_off = events_off ? events_off : end_off;
    fs->snap_end_off = end_off;
    return RECSYS_OK;
}

/* What replay_log learnt besides the records. */
typedef struct replay_info {
    uint64_t valid_end; /* end of the last valid record (where a dropped tail starts) */
    uint32_t format;    /* of the header (0: none valid) */
    bool marked;        /* format 2, or a FLUSHED record before valid_end: the rule applies */
    uint64_t flushed;   /* the highest flushed offset stated before valid_end (0: none) */
} replay_info;

/* The first damaged or incomplete record of the log is at off: is the rest a tail to drop
 * (RECSYS_OK) or damage to report (RECSYS_E_CORRUPT)? The rule of RECOVERY above. */
static recsys_status judge_damage(file_store *fs, recsys__log_reader *r, uint64_t off,
                                  const char *why, bool marked)
{
    const char *name = fs->logname;
    uint64_t flushed, at;
    RECSYS_TRY(recsys__log_find_flushed(r, off + 1, fs->gen, &flushed, &at));
    if (flushed > off)
        return recsys__err(RECSYS_E_CORRUPT, "file store: %s/%s is damaged at offset %" PRIu64
                           " (%s) although it was on disk: the flush marker at offset %" PRIu64
                           " records that the log was flushed up to offset %" PRIu64 "; refusing "
                           "to drop data", fs->dir, name, off, why, at, flushed);
    if (marked)
        return RECSYS_OK; /* written after the last flush a marker records: unflushed */
    /* a log of format 1 that no FLUSHED record governs: the rule of earlier versions */
    uint64_t next;
    RECSYS_TRY(recsys__log_find_valid(r, off + 1, &next));
    if (next != UINT64_MAX)
        return recsys__err(RECSYS_E_CORRUPT, "file store: %s/%s is damaged at offset %" PRIu64
                           " (%s) and a valid record follows at offset %" PRIu64 "; refusing to "
                           "drop data (not a torn tail)", fs->dir, name, off, why, next);
    return RECSYS_OK; /* a torn tail */
}

/* Replays the log into the index and checks every record; the tail from the first damaged
 * record on is left to the caller to drop, unless judge_damage reports it. */
static recsys_status replay_log(file_store *fs, int fd, uint64_t size, replay_info *info)
{
    const char *name = fs->logname;
    recsys__log_reader r;
    recsys__log_reader_init(&r, &fs->mem, fd, size, fs->dir, name);
    memset(info, 0, sizeof *info);
    uint64_t off = 0;
    recsys_status st = RECSYS_OK;
    for (;;) {
        recsys__log_rec rec;
        recsys__log_state state;
        if ((st = recsys__log_read(&r, off, &rec, &state)) != RECSYS_OK)
            break;
        if (state == RECSYS__LOG_REC_END)
            break;
        if (state == RECSYS__LOG_REC_BAD) {
            st = judge_damage(fs, &r, off, rec.why, info->marked);
            break;
        }
        const char *why = NULL;
        size_t count;
        int32_t kind;
        const char *key;
        size_t key_len;
        uint64_t flushed, gen;
        if (off == 0) {
            st = check_file_header(fs, &rec, name, RECSYS__LOG_ROLE_LOG, &info->format);
            if (info->format == RECSYS__LOG_FORMAT_FLUSHED) {
                info->marked = true;
                info->flushed = RECSYS__LOG_FILE_HDR_SIZE; /* flushed when the log was made */
            }
        } else {
            switch (rec.type) {
            case RECSYS__LOG_T_PUT:
                st = apply_put(fs, &rec, name);
                break;
            case RECSYS__LOG_T_REMOVE:
                if (!recsys__log_dec_remove(rec.payload, rec.len, &kind, &key, &key_len, &why))
                    break;
                if (!recsys__store_kind_valid(kind)) {
                    why = "record of an unknown kind";
                    break;
                }
                recsys__store_index_remove(&fs->idx, kind, key, key_len,
                                           kind == RECSYS_RECORD_USER);
                break;
            case RECSYS__LOG_T_EVENTS:
            case RECSYS__LOG_T_EVENTS2:
                recsys__log_events_check(rec.type, rec.payload, rec.len, &count, &why);
                break;
            case RECSYS__LOG_T_FLUSHED:
                /* the writer's invariants: its generation, a claim no further than where it
                 * stands and never smaller than an earlier one */
                if (!recsys__log_dec_flushed(rec.payload, rec.len, &flushed, &gen, &why))
                    break;
                if (gen != fs->gen)
                    why = "a flush marker of another generation";
                else if (flushed > off || flushed < RECSYS__LOG_FILE_HDR_SIZE ||
                         flushed < info->flushed)
                    why = "a flush marker whose offset cannot be right";
                else {
                    info->marked = true;
                    info->flushed = flushed;
                }
                break;
            case RECSYS__LOG_T_HEADER:
                why = "a second header record";
                break;
            case RECSYS__LOG_T_END:
                why = "an end record inside a log";
                break;
            default:
                why = "a record of an unknown type";
                break;
            }
        }
        if (st == RECSYS_OK && why)
            st = corrupt(fs, name, off, why);
        if (st != RECSYS_OK)
            break;
        off += RECSYS__LOG_HDR_SIZE + (uint64_t)rec.len;
    }
    recsys__log_reader_free(&r);
    info->valid_end = off;
    return st;
}

static recsys_status load_log(file_store *fs)
{
    const char *name = fs->logname;
    int fd = openat(fs->dirfd, name, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return io_err(fs, "open", name, errno);
    fs->logfd = fd;
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return io_err(fs, "stat", name, errno);
    uint64_t size = (uint64_t)sb.st_size;
    replay_info info;
    RECSYS_TRY(replay_log(fs, fd, size, &info));
    uint64_t valid_end = info.valid_end;
    if (valid_end < size) {
        /* a torn tail left by a crash, or the unflushed tail a power loss left holed */
        if (ftruncate(fd, (off_t)valid_end) != 0)
            return io_err(fs, "truncate the torn tail of", name, errno);
    }
    if (valid_end == 0) {
        /* new, or its header was torn */
        unsigned char hdr[RECSYS__LOG_FILE_HDR_SIZE];
        recsys__log_file_header(hdr, RECSYS__LOG_ROLE_LOG, fs->gen);
        if (recsys__log_write_all(fd, hdr, sizeof hdr) != 0)
            return io_err(fs, "write", name, errno);
        if (fdatasync(fd) != 0)
            return io_err(fs, "fdatasync", name, errno);
        RECSYS_TRY(fsync_dir(fs));
        valid_end = sizeof hdr;
        info.flushed = valid_end; /* a format-2 header */
    } else if (valid_end < size || valid_end > info.flushed) {
        /* What recovery kept is made durable before anything is written after it, so that
         * the next write's FLUSHED record can say so (and a cut tail stays cut). */
        if (fdatasync(fd) != 0)
            return io_err(fs, "fdatasync", name, errno);
        if (!info.marked) {
            /* A log of format 1 (an earlier version's) with no FLUSHED record yet: one, made
             * durable at once, puts the rest of the log under the new rule. Without the second
             * flush a power loss could take this record and leave a later one holed. */
            unsigned char mark[RECSYS__LOG_FLUSHED_SIZE];
            recsys__log_flushed_record(mark, valid_end, fs->gen);
            if (recsys__log_write_all(fd, mark, sizeof mark) != 0)
                return io_err(fs, "write", name, errno);
            if (fdatasync(fd) != 0)
                return io_err(fs, "fdatasync", name, errno);
            valid_end += sizeof mark;
            info.flushed = valid_end; /* (the record itself needs no FLUSHED record after it) */
        }
    }
    fs->log_size = valid_end;
    /* all of it is on disk: appended (0) corresponds to its end */
    fs->log_base_ticket = 0;
    fs->log_base_off = valid_end;
    fs->marked = info.flushed;
    return RECSYS_OK;
}

/* What a directory entry is to the store. */
typedef enum entry_kind { E_OTHER, E_SNAP, E_TMP, E_LOG } entry_kind;

static entry_kind classify(const char *name, uint64_t *gen)
{
    if (parse_name(name, "snapshot.", "", gen))
        return E_SNAP;
    if (parse_name(name, "snapshot.", ".tmp", gen))
        return E_TMP;
    if (parse_name(name, "log.", "", gen))
        return E_LOG;
    return E_OTHER;
}

/* Pass 1 (before anything changes): the current generation, and no newer log with data. */
static recsys_status find_generation(file_store *fs, bool *have_snap)
{
    DIR *d = opendir(fs->dir);
    if (!d)
        return io_err(fs, "list", ".", errno);
    uint64_t gen = 0, max_log = 0;
    bool snap = false, any_log = false;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        uint64_t g;
        entry_kind k = classify(e->d_name, &g);
        if (k == E_SNAP && (!snap || g > gen)) {
            gen = g;
            snap = true;
        } else if (k == E_LOG && (!any_log || g > max_log)) {
            max_log = g;
            any_log = true;
        }
    }
    int err = errno;
    closedir(d);
    if (err)
        return io_err(fs, "list", ".", err);
    fs->gen = gen;
    *have_snap = snap;
    if (!any_log || max_log <= gen)
        return RECSYS_OK;
    /* Compaction creates log.<N> (header only) before snapshot.<N> gets its name, and writes
     * to it only once that name is durable: a newer log with data is not ours to drop. */
    d = opendir(fs->dir);
    if (!d)
        return io_err(fs, "list", ".", errno);
    recsys_status st = RECSYS_OK;
    while (st == RECSYS_OK && (e = readdir(d)) != NULL) {
        uint64_t g;
        if (classify(e->d_name, &g) != E_LOG || g <= gen)
            continue;
        struct stat sb;
        if (fstatat(fs->dirfd, e->d_name, &sb, 0) != 0)
            st = io_err(fs, "stat", e->d_name, errno);
        else if ((uint64_t)sb.st_size > RECSYS__LOG_FILE_HDR_SIZE)
            st = recsys__err(RECSYS_E_CORRUPT, "file store: %s/%s holds data but its "
                             "snapshot.%016" PRIx64 " is missing; refusing to drop it",
                             fs->dir, e->d_name, g);
    }
    closedir(d);
    return st;
}

/* Pass 2 (after a successful load): deletes what earlier generations left behind. */
static recsys_status delete_leftovers(file_store *fs)
{
    DIR *d = opendir(fs->dir);
    if (!d)
        return io_err(fs, "list", ".", errno);
    bool deleted = false;
    recsys_status st = RECSYS_OK;
    struct dirent *e;
    while (st == RECSYS_OK && (e = readdir(d)) != NULL) {
        uint64_t g;
        entry_kind k = classify(e->d_name, &g);
        bool stale = (k == E_TMP) || (k == E_SNAP && g < fs->gen) ||
                     (k == E_LOG && g != fs->gen);
        if (!stale)
            continue;
        if (unlinkat(fs->dirfd, e->d_name, 0) != 0 && errno != ENOENT)
            st = io_err(fs, "delete the leftover", e->d_name, errno);
        deleted = true;
    }
    closedir(d);
    if (st == RECSYS_OK && deleted)
        st = fsync_dir(fs);
    return st;
}

static recsys_status fs_open(file_store *fs)
{
    bool created = false;
    if (mkdir(fs->dir, 0777) == 0)
        created = true;
    else if (errno != EEXIST)
        return dir_err(fs, "mkdir", errno);
    fs->dirfd = open(fs->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs->dirfd < 0)
        return dir_err(fs, "open directory", errno);
    if (created) {
        int parent = openat(fs->dirfd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent < 0)
            return io_err(fs, "open", "..", errno);
        int rc = fsync(parent);
        int err = errno;
        close(parent);
        if (rc != 0)
            return io_err(fs, "fsync", "..", err);
    }
    fs->lockfd = openat(fs->dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fs->lockfd < 0)
        return io_err(fs, "open", LOCK_NAME, errno);
    if (flock(fs->lockfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return recsys__err(RECSYS_E_STATE, "file store: %s is already open (%s/" LOCK_NAME
                               " is locked by this or another process)", fs->dir, fs->dir);
        return io_err(fs, "lock", LOCK_NAME, errno);
    }
    bool have_snap = false;
    RECSYS_TRY(find_generation(fs, &have_snap));
    name_snap(fs->snapname, fs->gen);
    name_log(fs->logname, fs->gen);
    if (have_snap)
        RECSYS_TRY(load_snapshot(fs));
    RECSYS_TRY(load_log(fs));
    return delete_leftovers(fs);
}

RECSYS_API recsys_status recsys_store_file_new(const char *dir, const recsys_file_store_opts *opts,
                                               recsys_store_vtable *out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(dir);
    RECSYS_CHECK_ARG(out);
    if (out->struct_size < RECSYS__STORE_VTABLE_MIN_SIZE)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "recsys_store_file_new: out->struct_size %" PRIu32 " is below the "
                           "minimum %zu (set it with RECSYS_INIT or recsys_store_vtable_init)",
                           out->struct_size, (size_t)RECSYS__STORE_VTABLE_MIN_SIZE);
    if (!dir[0])
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_store_file_new: dir is empty");
    recsys_file_store_opts o = { .struct_size = sizeof o, .sync = RECSYS_SYNC_FULL };
    if (opts) {
        RECSYS_TRY(recsys__record_copy(&o, sizeof o, opts, opts->struct_size,
                                       RECSYS_OFFSETOFEND(recsys_file_store_opts, reserved),
                                       "recsys_file_store_opts"));
        if (o.reserved)
            return recsys__err(RECSYS_E_UNSUPPORTED,
                               "recsys_file_store_opts: reserved is %" PRIu64 ", expected 0",
                               o.reserved);
    }
    if (o.sync != RECSYS_SYNC_OS && o.sync != RECSYS_SYNC_FULL)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_file_store_opts: sync %" PRId32
                           " is not a recsys_sync_mode (0 or 1)", o.sync);
    recsys__mem mem;
    RECSYS_TRY(recsys__mem_init(&mem, o.allocator));
    file_store *fs = recsys__calloc(&mem, 1, sizeof *fs);
    if (!fs)
        return RECSYS_E_NOMEM;
    fs->mem = mem;
    fs->dirfd = fs->lockfd = fs->logfd = fs->snapfd = -1;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    /* held for a few instructions at a time: spin a little before sleeping */
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&fs->gc_mu, &ma); /* these cannot fail on glibc */
    pthread_mutexattr_destroy(&ma);
    pthread_cond_init(&fs->gc_cv, NULL);
    atomic_init(&fs->broken, false);
    atomic_init(&fs->appended, 0);
    fs->sync = o.sync;
    fs->compact_bytes = o.compact_bytes ? o.compact_bytes : DEFAULT_COMPACT_BYTES;
    recsys__store_index_init(&fs->idx, &fs->mem);
    recsys__log_buf_init(&fs->wbuf, &fs->mem);
    fs->dir = recsys__strdup(&fs->mem, dir);
    recsys_status st = fs->dir ? fs_open(fs) : RECSYS_E_NOMEM;
    if (st != RECSYS_OK) {
        fs_free(fs);
        return st;
    }
    recsys_store_vtable vt = {
        .struct_size = sizeof vt,
        .ctx = fs,
        .destroy = fs_destroy,
        .put = fs_put,
        .remove = fs_remove,
        .get = fs_get,
        .append_events = fs_append_events,
        .scan_records = fs_scan_records,
        .scan_events = fs_scan_events,
        .forget_user = fs_forget_user,
        .sync = fs_sync,
        .compact = fs_compact,
        .append_events_deferred = fs_append_events_deferred,
        .wait_durable = fs_wait_durable,
        .put_blob = fs_put_blob,
        .get_blob = fs_get_blob,
    };
    recsys__store_vtable_out(out, &vt);
    return RECSYS_OK;
}
