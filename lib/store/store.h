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
#define RECSYS__RECORD_KIND_MAX RECSYS_RECORD_CAMPAIGN
static inline bool recsys__store_kind_valid(int32_t kind)
{
    return kind >= RECSYS_RECORD_ITEM && kind <= RECSYS__RECORD_KIND_MAX;
}

/* Checks the arguments every built-in store method shares: a known kind and a non-NULL key.
 * what names the method in the message. */
recsys_status recsys__store_check_key(const char *what, int32_t kind, const char *key);

#endif
