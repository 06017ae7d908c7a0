/* store_sqlite.c - a host's recsys_store_vtable over SQLite (see store_sqlite.h).
 *
 * Things a host store has to get right, and how this one does:
 * - Durability: append_events must return RECSYS_OK only once the events are durable,
 *   because the engine acknowledges feedback after that. WAL + synchronous=FULL makes every
 *   committed transaction durable; a batch of events is one transaction.
 * - Values come back through recsys_store_value_set(), which copies: SQLite's buffers stay
 *   SQLite's.
 * - Errors: each method returns a status and describes the failure with recsys_error_set();
 *   the engine prefixes it with the store's name.
 * - Order: scan_records visits records in insertion order (ORDER BY rowid; an upsert keeps
 *   the row), scan_events in append order (seq).
 * - NULL strings of an event stay NULL (SQL NULL), distinct from "" (an empty TEXT).
 * - An impression's sources, ranker and LLM cost (recsys_event, since 0.2) are not stored,
 *   to keep the table layout of existing databases: they scan back as NULL and 0, so online
 *   metrics over this store cannot be cut by source or ranker and give no LLM cost
 *   (store_conformance's drops_attribution).
 *   The value column has no type affinity, so a double comes back with the same bits
 *   (a REAL column would turn -0.0 into 0); SQLite stores NaN as NULL, which reads back as
 *   0 (the engine never stores NaN).
 * - forget_user: the user's record and events are deleted in one transaction with
 *   secure_delete on (SQLite overwrites the deleted content), then VACUUM rebuilds the file
 *   and a TRUNCATE checkpoint empties the WAL, so no page of the database, WAL or
 *   shared-memory file still holds the user's bytes.
 * - Threads: the engine makes one call at a time into a store, so one connection is enough.
 */
#include "store_sqlite.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    ST_PUT,
    ST_REMOVE,
    ST_GET,
    ST_SCAN_RECORDS,
    ST_APPEND,
    ST_SCAN_EVENTS,
    ST_FORGET_RECORD,
    ST_FORGET_EVENTS,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_COUNT
};

static const char *const sql_text[ST_COUNT] = {
    [ST_PUT] = "INSERT INTO records(kind, key, value) VALUES(?1, ?2, ?3) "
               "ON CONFLICT(kind, key) DO UPDATE SET value = excluded.value",
    [ST_REMOVE] = "DELETE FROM records WHERE kind = ?1 AND key = ?2",
    [ST_GET] = "SELECT value FROM records WHERE kind = ?1 AND key = ?2",
    [ST_SCAN_RECORDS] = "SELECT key, value FROM records WHERE kind = ?1 ORDER BY rowid",
    [ST_APPEND] = "INSERT INTO events(user_id, item_id, type, value, timestamp, request_id, "
                  "query, position) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_SCAN_EVENTS] = "SELECT user_id, item_id, type, value, timestamp, request_id, query, "
                       "position FROM events ORDER BY seq",
    [ST_FORGET_RECORD] = "DELETE FROM records WHERE kind = ?1 AND key = ?2",
    [ST_FORGET_EVENTS] = "DELETE FROM events WHERE user_id = ?1",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS records("
    "  kind INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value BLOB NOT NULL,"
    "  PRIMARY KEY(kind, key));"
    "CREATE TABLE IF NOT EXISTS events("
    "  seq INTEGER PRIMARY KEY,"
    "  user_id TEXT,"
    "  item_id TEXT,"
    "  type INTEGER NOT NULL,"
    "  value NOT NULL," /* no affinity: the double's bits survive */
    "  timestamp INTEGER NOT NULL,"
    "  request_id TEXT,"
    "  query TEXT,"
    "  position INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_by_user ON events(user_id);";

typedef struct sqlite_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
} sqlite_store;

/* Reports a SQLite failure as a recsys status with SQLite's message. */
static recsys_status fail(sqlite_store *s, int rc, const char *what)
{
    recsys_status status;
    switch (rc & 0xff) {
    case SQLITE_NOMEM: status = RECSYS_E_NOMEM; break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: status = RECSYS_E_CORRUPT; break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: status = RECSYS_E_STATE; break;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH: status = RECSYS_E_INVALID_ARG; break;
    default: status = RECSYS_E_IO; break;
    }
    char msg[400];
    snprintf(msg, sizeof msg, "sqlite store: %s: %s", what,
             s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    return recsys_error_set(status, msg);
}

static recsys_status invalid(const char *msg)
{
    return recsys_error_set(RECSYS_E_INVALID_ARG, msg);
}

/* Runs a statement that returns no rows, then resets it. */
static int run(sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static recsys_status begin(sqlite_store *s)
{
    int rc = run(s->st[ST_BEGIN]);
    return rc == SQLITE_OK ? RECSYS_OK : fail(s, rc, "begin");
}

static recsys_status commit(sqlite_store *s)
{
    int rc = run(s->st[ST_COMMIT]);
    if (rc == SQLITE_OK)
        return RECSYS_OK;
    recsys_status st = fail(s, rc, "commit");
    if (!sqlite3_get_autocommit(s->db))
        run(s->st[ST_ROLLBACK]);
    return st;
}

static void rollback(sqlite_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        run(s->st[ST_ROLLBACK]);
}

static int bind_text_or_null(sqlite3_stmt *stmt, int i, const char *text)
{
    return text ? sqlite3_bind_text(stmt, i, text, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, i);
}

static const char *column_text_or_null(sqlite3_stmt *stmt, int i)
{
    if (sqlite3_column_type(stmt, i) == SQLITE_NULL)
        return NULL;
    const unsigned char *t = sqlite3_column_text(stmt, i);
    return t ? (const char *)t : "";
}

static int valid_kind(int32_t kind)
{
    return kind >= RECSYS_RECORD_ITEM && kind <= RECSYS_RECORD_RULE;
}

/* ---------------------------------------------------------------- methods --------------- */

static void sq_destroy(void *ctx)
{
    sqlite_store *s = ctx;
    if (!s)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s);
}

static recsys_status sq_put(void *ctx, int32_t kind, const char *key, const void *data, size_t len)
{
    sqlite_store *s = ctx;
    if (!valid_kind(kind) || !key || (!data && len))
        return invalid("sqlite store put: bad kind, key or data");
    if (len > (size_t)0x7fffffff)
        return invalid("sqlite store put: value too large");
    sqlite3_stmt *stmt = s->st[ST_PUT];
    sqlite3_bind_int(stmt, 1, kind);
    sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
    if (len)
        sqlite3_bind_blob(stmt, 3, data, (int)len, SQLITE_STATIC);
    else
        sqlite3_bind_zeroblob(stmt, 3, 0); /* an empty value, not SQL NULL */
    int rc = run(stmt);
    return rc == SQLITE_OK ? RECSYS_OK : fail(s, rc, "put");
}

static recsys_status sq_remove(void *ctx, int32_t kind, const char *key)
{
    sqlite_store *s = ctx;
    if (!valid_kind(kind) || !key)
        return invalid("sqlite store remove: bad kind or key");
    sqlite3_stmt *stmt = s->st[ST_REMOVE];
    sqlite3_bind_int(stmt, 1, kind);
    sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
    int rc = run(stmt);
    if (rc != SQLITE_OK)
        return fail(s, rc, "remove");
    if (sqlite3_changes(s->db) == 0)
        return recsys_error_set(RECSYS_E_NOT_FOUND, "sqlite store remove: no such record");
    return RECSYS_OK;
}

static recsys_status sq_get(void *ctx, int32_t kind, const char *key, recsys_store_value *out)
{
    sqlite_store *s = ctx;
    if (!valid_kind(kind) || !key || !out)
        return invalid("sqlite store get: bad kind, key or out");
    sqlite3_stmt *stmt = s->st[ST_GET];
    sqlite3_bind_int(stmt, 1, kind);
    sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    recsys_status st;
    if (rc == SQLITE_ROW) {
        const void *blob = sqlite3_column_blob(stmt, 0);
        int n = sqlite3_column_bytes(stmt, 0);
        st = recsys_store_value_set(out, blob, (size_t)n); /* copies */
    } else if (rc == SQLITE_DONE) {
        st = recsys_error_set(RECSYS_E_NOT_FOUND, "sqlite store get: no such record");
    } else {
        st = fail(s, rc, "get");
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return st;
}

static recsys_status sq_append_events(void *ctx, const recsys_event *events, size_t n)
{
    sqlite_store *s = ctx;
    if (!n)
        return RECSYS_OK;
    if (!events)
        return invalid("sqlite store append_events: events is NULL");
    recsys_status st = begin(s);
    if (st != RECSYS_OK)
        return st;
    sqlite3_stmt *stmt = s->st[ST_APPEND];
    for (size_t i = 0; i < n; i++) {
        const recsys_event *ev = &events[i];
        bind_text_or_null(stmt, 1, ev->user_id);
        bind_text_or_null(stmt, 2, ev->item_id);
        sqlite3_bind_int(stmt, 3, ev->type);
        sqlite3_bind_double(stmt, 4, ev->value);
        sqlite3_bind_int64(stmt, 5, ev->timestamp);
        bind_text_or_null(stmt, 6, ev->request_id);
        bind_text_or_null(stmt, 7, ev->query);
        sqlite3_bind_int(stmt, 8, ev->position);
        int rc = run(stmt);
        if (rc != SQLITE_OK) {
            st = fail(s, rc, "append_events");
            rollback(s);
            return st;
        }
    }
    return commit(s); /* durable once this returns (WAL, synchronous=FULL) */
}

static recsys_status sq_scan_records(void *ctx, int32_t kind, recsys_record_visit_fn fn, void *arg)
{
    sqlite_store *s = ctx;
    if (!valid_kind(kind) || !fn)
        return invalid("sqlite store scan_records: bad kind or fn");
    sqlite3_stmt *stmt = s->st[ST_SCAN_RECORDS];
    sqlite3_bind_int(stmt, 1, kind);
    recsys_status st = RECSYS_OK;
    int rc;
    while (st == RECSYS_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(stmt, 0);
        const void *data = sqlite3_column_blob(stmt, 1);
        int len = sqlite3_column_bytes(stmt, 1);
        st = fn(arg, kind, key ? key : "", data ? data : "", (size_t)len);
    }
    if (st == RECSYS_OK && rc != SQLITE_DONE)
        st = fail(s, rc, "scan_records");
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return st;
}

static recsys_status sq_scan_events(void *ctx, recsys_event_visit_fn fn, void *arg)
{
    sqlite_store *s = ctx;
    if (!fn)
        return invalid("sqlite store scan_events: fn is NULL");
    sqlite3_stmt *stmt = s->st[ST_SCAN_EVENTS];
    recsys_status st = RECSYS_OK;
    int rc;
    while (st == RECSYS_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        recsys_event ev;
        recsys_event_init(&ev);
        ev.user_id = column_text_or_null(stmt, 0);
        ev.item_id = column_text_or_null(stmt, 1);
        ev.type = sqlite3_column_int(stmt, 2);
        ev.value = sqlite3_column_double(stmt, 3);
        ev.timestamp = sqlite3_column_int64(stmt, 4);
        ev.request_id = column_text_or_null(stmt, 5);
        ev.query = column_text_or_null(stmt, 6);
        ev.position = sqlite3_column_int(stmt, 7);
        st = fn(arg, &ev);
    }
    if (st == RECSYS_OK && rc != SQLITE_DONE)
        st = fail(s, rc, "scan_events");
    sqlite3_reset(stmt);
    return st;
}

static recsys_status sq_forget_user(void *ctx, const char *user_id)
{
    sqlite_store *s = ctx;
    if (!user_id)
        return invalid("sqlite store forget_user: user_id is NULL");
    recsys_status st = begin(s);
    if (st != RECSYS_OK)
        return st;
    sqlite3_stmt *rec = s->st[ST_FORGET_RECORD], *evs = s->st[ST_FORGET_EVENTS];
    sqlite3_bind_int(rec, 1, RECSYS_RECORD_USER);
    sqlite3_bind_text(rec, 2, user_id, -1, SQLITE_STATIC);
    int rc = run(rec);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(evs, 1, user_id, -1, SQLITE_STATIC);
        rc = run(evs);
    }
    if (rc != SQLITE_OK) {
        st = fail(s, rc, "forget_user");
        rollback(s);
        return st;
    }
    st = commit(s);
    if (st != RECSYS_OK)
        return st;
    /* secure_delete zeroed the deleted cells; VACUUM rebuilds the file without free pages
     * and the checkpoint copies it home and truncates the WAL to nothing. */
    rc = sqlite3_exec(s->db, "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);", NULL, NULL, NULL);
    return rc == SQLITE_OK ? RECSYS_OK : fail(s, rc, "forget_user: vacuum");
}

static recsys_status sq_sync(void *ctx)
{
    sqlite_store *s = ctx;
    int rc = sqlite3_exec(s->db, "PRAGMA wal_checkpoint(PASSIVE);", NULL, NULL, NULL);
    return rc == SQLITE_OK ? RECSYS_OK : fail(s, rc, "sync");
}

static recsys_status sq_compact(void *ctx)
{
    sqlite_store *s = ctx;
    int rc = sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;", NULL, NULL,
                          NULL);
    return rc == SQLITE_OK ? RECSYS_OK : fail(s, rc, "compact");
}

/* ---------------------------------------------------------------- open ------------------ */

recsys_status example_store_sqlite_open(const char *path, recsys_store_vtable *out)
{
    if (!path || !out)
        return invalid("example_store_sqlite_open: path and out are required");
    sqlite_store *s = calloc(1, sizeof *s);
    if (!s)
        return recsys_error_set(RECSYS_E_NOMEM, "sqlite store: out of memory");
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    recsys_status st = RECSYS_OK;
    if (rc != SQLITE_OK) {
        st = fail(s, rc, path);
        goto out;
    }
    sqlite3_extended_result_codes(s->db, 1);
    rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                             "PRAGMA secure_delete=ON; PRAGMA foreign_keys=OFF;",
                      NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, schema, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        st = fail(s, rc, path);
        goto out;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        rc = sqlite3_prepare_v3(s->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK) {
            st = fail(s, rc, sql_text[i]);
            goto out;
        }
    }
    RECSYS_INIT(recsys_store_vtable, vt, .ctx = s, .destroy = sq_destroy, .put = sq_put,
                .remove = sq_remove, .get = sq_get, .append_events = sq_append_events,
                .scan_records = sq_scan_records, .scan_events = sq_scan_events,
                .forget_user = sq_forget_user, .sync = sq_sync, .compact = sq_compact);
    *out = vt;
    return RECSYS_OK;
out:
    sq_destroy(s);
    return st;
}
