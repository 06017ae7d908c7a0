/* store_sqlite.h - an example of a host-implemented store: recsys_store_vtable over SQLite.
 *
 * Written the way a host would write it: only the public header recsys.h and sqlite3.h.
 * Hand the vtable to recsys_engine_opts.store; the engine then owns it and calls destroy
 * (which closes the database) exactly once.
 */
#ifndef EXAMPLE_STORE_SQLITE_H
#define EXAMPLE_STORE_SQLITE_H

#include "recsys.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Opens (creating if needed) a SQLite database at path as a recsys store.
 * Tables: records(kind, key, value) and events(seq, user_id, item_id, type, value,
 * timestamp, request_id, query, position). WAL journal, synchronous=FULL: a call returns
 * RECSYS_OK only once its transaction is durable.
 * @param[in] path the database file (its -wal and -shm files live beside it).
 * @param[out] out the vtable, filled completely (ctx, destroy and every method).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM; RECSYS_E_IO; RECSYS_E_CORRUPT, with
 *         recsys_last_error() saying what SQLite reported. Nothing to free on failure.
 */
recsys_status example_store_sqlite_open(const char *path, recsys_store_vtable *out);

#ifdef __cplusplus
}
#endif

#endif
