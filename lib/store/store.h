/* store.h - internals of the storage layer shared by the engine and the built-in stores.
 *
 * - struct recsys_store_value: the sink a store's get() fills through recsys_store_value_set().
 * - recsys__store_vtable_copy(): validation and normalisation of a host store vtable.
 * - recsys__store_event_*: deep copies and comparison of recsys_event records (memory store,
 *   file store decoding).
 *
 * The engine serialises calls into one store, so nothing here locks.
 */
#ifndef RECSYS_STORE_STORE_H
#define RECSYS_STORE_STORE_H

#include "../core/abi.h"
#include "../core/alloc.h"

/* ---------------------------------------------------------------- values ---------------- */

/* The value a store hands back from get(). data is a copy owned by the value (through mem),
 * always followed by one NUL byte that len does not count, so JSON values can be parsed in
 * place. set tells whether a value was handed over at all (a get() that returns RECSYS_OK
 * without setting one is a store bug the engine reports). */
struct recsys_store_value {
    const recsys__mem *mem;
    void *data;
    size_t len;
    bool set;
};

/* Prepares an empty value whose copies are made with mem (which must outlive the value). */
void recsys__store_value_init(recsys_store_value *v, const recsys__mem *mem);
/* Frees the copy and empties the value again (it can be reused). NULL is ignored. */
void recsys__store_value_free(recsys_store_value *v);
/* recsys_store_value_set() without clearing the thread's last error: for the built-in stores,
 * which run inside an entry point that already did. Replaces any previous value. */
recsys_status recsys__store_value_assign(recsys_store_value *v, const void *data, size_t len);

/* ---------------------------------------------------------------- vtables --------------- */

/* The struct_size of a 0.1 store vtable (everything up to compact). */
#define RECSYS__STORE_VTABLE_MIN_SIZE RECSYS_OFFSETOFEND(recsys_store_vtable, compact)

/* Validates a host store vtable and copies it into the zero-filled full-size *dst (STYLE B3):
 * - src NULL, or src->struct_size below the 0.1 size: RECSYS_E_INVALID_ARG;
 * - a NULL required method (put, remove, get, append_events, scan_records, scan_events,
 *   forget_user): RECSYS_E_INVALID_ARG with a message naming it;
 * - a struct_size above ours: the unknown tail is ignored.
 * After that, callers test optional methods (destroy, sync, compact) for NULL only. It never
 * calls src->destroy: running destroy exactly once on failure is the registering caller's
 * job. *dst is written only on success. */
recsys_status recsys__store_vtable_copy(recsys_store_vtable *dst, const recsys_store_vtable *src);

/* Hands a built-in store's full vtable to a caller's out (whose struct_size the caller
 * checked is at least the 0.1 size): copies min(out->struct_size, sizeof) bytes and sets
 * out->struct_size to that count, so members the caller's header lacks are never written. */
void recsys__store_vtable_out(recsys_store_vtable *out, const recsys_store_vtable *vt);

/* ---------------------------------------------------------------- events ---------------- */

/* Copies *ev and its strings into one allocation freed with recsys__free(mem, copy). The
 * copy has struct_size = sizeof(recsys_event) and zero reserved fields; NULL strings stay
 * NULL. Returns NULL (RECSYS_E_NOMEM set) on failure. */
recsys_event *recsys__store_event_dup(const recsys__mem *mem, const recsys_event *ev);
/* Wipes the copy's bytes (strings included) before freeing it: used for forgotten users. */
void recsys__store_event_wipe_free(const recsys__mem *mem, recsys_event *copy);
/* True when two strings are equal, treating NULL as distinct from every string ("" too). */
bool recsys__store_str_eq(const char *a, const char *b);

/* Kinds a built-in store accepts (recsys_record_kind): 1..RECSYS__RECORD_KIND_MAX. */
#define RECSYS__RECORD_KIND_MAX RECSYS_RECORD_RULE
static inline bool recsys__store_kind_valid(int32_t kind)
{
    return kind >= RECSYS_RECORD_ITEM && kind <= RECSYS__RECORD_KIND_MAX;
}

/* Checks the arguments every built-in store method shares: a known kind and a non-NULL key.
 * what names the method in the message. */
recsys_status recsys__store_check_key(const char *what, int32_t kind, const char *key);

/* ---------------------------------------------------------------- blobs ----------------- */

/* The longest blob name (recsys.h: 1..63 bytes of [a-z0-9_.-]). */
#define RECSYS__BLOB_NAME_MAX 63

/* Checks a blob name: NULL, empty, longer than RECSYS__BLOB_NAME_MAX or with a byte outside
 * [a-z0-9_.-] gives RECSYS_E_INVALID_ARG naming it; what names the method. */
recsys_status recsys__blob_name_check(const char *what, const char *name);

/* Blobs as files in a directory (lib/store/blob.c), for the file store's put_blob and
 * get_blob. dirfd is an open directory, dir its path (for messages only).
 *
 * File blob.<name>: a 32-byte header, all integers little-endian -
 *   u32 magic "RSB1", u16 version 1, u16 flags 0, u64 length, u64 XXH3-64 of the payload,
 *   u32 XXH32 (seed 0) of the 24 bytes before it, u32 reserved 0 -
 * then the payload. put writes tmp.blob.<name> (a name no blob file can have), fsyncs it,
 * renames it over blob.<name> and fsyncs the directory: a reader, or a crash at any point,
 * sees the old blob or the new one whole, never a part (a crash may leave tmp.blob.<name>
 * behind, which nothing reads and the next put of that name replaces). Both fsyncs run in
 * every sync mode (blobs are rare and large, like compactions). len 0 removes blob.<name>
 * (and a leftover temp file), fsyncing the directory; RECSYS_OK when absent.
 * get reads and checks the whole file: a missing file is RECSYS_E_NOT_FOUND; a bad magic,
 * header checksum, version, flags, length (against the file's size) or payload checksum is
 * RECSYS_E_CORRUPT naming the file. Errors of the system are RECSYS_E_IO with the file
 * and strerror; a failed put removes its temp file and leaves blob.<name> as it was (a
 * failed directory fsync after the rename leaves the new blob in place, its durability
 * unknown). Neither locks: callers make one call at a time per directory. */
recsys_status recsys__blob_file_put(int dirfd, const char *dir, const char *name,
                                    const void *data, size_t len);
recsys_status recsys__blob_file_get(int dirfd, const char *dir, const char *name,
                                    recsys_store_value *out);

/* The file store's put_blob and get_blob methods over a context type T that has the members
 * `int dirfd` and `char *dir`: defines the static functions PREFIX_put_blob and
 * PREFIX_get_blob (in lib/store/file.c: RECSYS__BLOB_FILE_METHODS(fs, file_store) after the
 * struct, and `.put_blob = fs_put_blob, .get_blob = fs_get_blob,` in the vtable). */
#define RECSYS__BLOB_FILE_METHODS(prefix, T)                                                   \
    static recsys_status prefix##_put_blob(void *ctx, const char *name, const void *data,      \
                                           size_t len)                                         \
    {                                                                                          \
        const T *blob_ctx_ = ctx;                                                              \
        return recsys__blob_file_put(blob_ctx_->dirfd, blob_ctx_->dir, name, data, len);       \
    }                                                                                          \
    static recsys_status prefix##_get_blob(void *ctx, const char *name, recsys_store_value *out) \
    {                                                                                          \
        const T *blob_ctx_ = ctx;                                                              \
        return recsys__blob_file_get(blob_ctx_->dirfd, blob_ctx_->dir, name, out);             \
    }

#endif
