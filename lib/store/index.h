/* index.h - the in-memory (kind, key) -> value map both built-in stores keep.
 *
 * An insertion-ordered hash map (the layout of Python's dict): records sit in an array in the
 * order their key was first put, a replaced key keeps its place, a removed one leaves a hole
 * that is squeezed out later. scan_records therefore visits records in a deterministic order
 * that survives a reopen of the file store (snapshots are written in this order and the log
 * replays the same operations), so an engine loading a store builds the same state every time.
 *
 * Mutations are two-phase so a durable store can make them atomic: everything that can fail
 * (recsys__store_rec_new, recsys__store_index_reserve) happens before the change is written to
 * disk; recsys__store_index_commit and recsys__store_index_remove cannot fail.
 */
#ifndef RECSYS_STORE_INDEX_H
#define RECSYS_STORE_INDEX_H

#include "../core/alloc.h"

/* One record, key and value in the same allocation: the struct, the key and a NUL, the value
 * and a NUL. */
typedef struct recsys__store_rec {
    int32_t kind;
    uint32_t reserved;
    uint64_t hash;
    size_t key_len;
    size_t val_len;
} recsys__store_rec;

static inline const char *recsys__store_rec_key(const recsys__store_rec *r)
{
    return (const char *)(r + 1);
}
static inline const unsigned char *recsys__store_rec_val(const recsys__store_rec *r)
{
    return (const unsigned char *)(r + 1) + r->key_len + 1;
}

typedef struct recsys__store_index {
    const recsys__mem *mem;
    recsys__store_rec **order; /* insertion order; NULL marks a removed record */
    size_t norder, cap;
    size_t live;               /* non-NULL entries of order */
    size_t *slots;             /* open addressing: order position + 1; 0 empty; SIZE_MAX deleted */
    size_t nslots;             /* 0 or a power of two */
    size_t used;               /* non-empty slots (live + deleted) */
} recsys__store_index;

void recsys__store_index_init(recsys__store_index *idx, const recsys__mem *mem);
/* Frees every record (wiping user records) and the tables. */
void recsys__store_index_free(recsys__store_index *idx);

/* A new record holding copies of key[0..key_len) and val[0..val_len). NULL on failure
 * (RECSYS_E_NOMEM set). Free an uncommitted one with recsys__store_rec_free. */
recsys__store_rec *recsys__store_rec_new(const recsys__mem *mem, int32_t kind, const char *key,
                                         size_t key_len, const void *val, size_t val_len);
/* Frees a record; wipe overwrites its bytes first (forgotten users). NULL is ignored. */
void recsys__store_rec_free(const recsys__mem *mem, recsys__store_rec *rec, bool wipe);

/* The record for (kind, key), or NULL. */
const recsys__store_rec *recsys__store_index_find(const recsys__store_index *idx, int32_t kind,
                                                  const char *key, size_t key_len);
/* Makes room so that the next recsys__store_index_commit cannot fail. On RECSYS_E_NOMEM the
 * map is unchanged. */
recsys_status recsys__store_index_reserve(recsys__store_index *idx);
/* Inserts rec, or replaces the record with its (kind, key) in place and frees the old one.
 * Requires a successful recsys__store_index_reserve since the last commit. */
void recsys__store_index_commit(recsys__store_index *idx, recsys__store_rec *rec);
/* Removes (kind, key); false when absent. wipe overwrites the record's bytes before free. */
bool recsys__store_index_remove(recsys__store_index *idx, int32_t kind, const char *key,
                                size_t key_len, bool wipe);

/* Visits the records of one kind in order; a non-OK return of fn stops the scan and is
 * returned. fn must not modify the map. */
recsys_status recsys__store_index_scan(const recsys__store_index *idx, int32_t kind,
                                       recsys_record_visit_fn fn, void *arg);

#endif
