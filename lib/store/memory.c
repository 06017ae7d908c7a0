/* memory.c - the built-in volatile store (recsys_store_memory_new).
 *
 * Records live in the insertion-ordered map of index.h (one map for all kinds; scan_records
 * filters by kind). Events are deep copies, each one allocation, in an array in append order.
 * Nothing survives destroy. Every mutation is atomic: all allocations happen before anything
 * changes, so a failed call (RECSYS_E_NOMEM) leaves the store as it was.
 *
 * Blobs (put_blob, get_blob; since 0.2) are copies kept in the same map under BLOB_KIND, a
 * kind that is no recsys_record_kind (so scan_records never shows them). Like everything
 * here they live only as long as the store: they save an engine a rebuild on its later
 * refreshes (a vector index whose items did not change is read back, not trained), at the
 * cost of the blob's size in memory.
 */
#include "store.h"
#include "index.h"
#include "../core/error.h"

#define BLOB_KIND 0

typedef struct mem_store {
    recsys__mem mem; /* copied host allocator; everything below is allocated with it */
    recsys__store_index idx;
    recsys_event **events;
    size_t nevents, cap;
} mem_store;

static void ms_destroy(void *ctx)
{
    mem_store *s = ctx;
    if (!s)
        return;
    recsys__store_index_free(&s->idx);
    for (size_t i = 0; i < s->nevents; i++)
        recsys__free(&s->mem, s->events[i]);
    recsys__free(&s->mem, s->events);
    recsys__mem m = s->mem;
    recsys__free(&m, s);
}

static recsys_status ms_put(void *ctx, int32_t kind, const char *key, const void *data, size_t len)
{
    mem_store *s = ctx;
    RECSYS_TRY(recsys__store_check_key("memory store put", kind, key));
    if (!data && len)
        return recsys__err(RECSYS_E_INVALID_ARG, "memory store put: data is NULL, len %zu", len);
    recsys__store_rec *rec = recsys__store_rec_new(&s->mem, kind, key, strlen(key), data, len);
    if (!rec)
        return RECSYS_E_NOMEM;
    recsys_status st = recsys__store_index_reserve(&s->idx);
    if (st != RECSYS_OK) {
        recsys__store_rec_free(&s->mem, rec, false);
        return st;
    }
    recsys__store_index_commit(&s->idx, rec);
    return RECSYS_OK;
}

static recsys_status ms_remove(void *ctx, int32_t kind, const char *key)
{
    mem_store *s = ctx;
    RECSYS_TRY(recsys__store_check_key("memory store remove", kind, key));
    if (!recsys__store_index_remove(&s->idx, kind, key, strlen(key), kind == RECSYS_RECORD_USER))
        return recsys__err(RECSYS_E_NOT_FOUND, "memory store remove: no record of kind %" PRId32
                           " with key '%.200s'", kind, key);
    return RECSYS_OK;
}

static recsys_status ms_get(void *ctx, int32_t kind, const char *key, recsys_store_value *out)
{
    mem_store *s = ctx;
    RECSYS_TRY(recsys__store_check_key("memory store get", kind, key));
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "memory store get: out is NULL");
    const recsys__store_rec *r = recsys__store_index_find(&s->idx, kind, key, strlen(key));
    if (!r)
        return recsys__err(RECSYS_E_NOT_FOUND, "memory store get: no record of kind %" PRId32
                           " with key '%.200s'", kind, key);
    return recsys__store_value_assign(out, recsys__store_rec_val(r), r->val_len);
}

static recsys_status ms_append_events(void *ctx, const recsys_event *events, size_t n)
{
    mem_store *s = ctx;
    if (!n)
        return RECSYS_OK;
    if (!events)
        return recsys__err(RECSYS_E_INVALID_ARG, "memory store append_events: events is NULL");
    if (s->nevents > SIZE_MAX - n)
        return recsys__err(RECSYS_E_NOMEM, "memory store: too many events");
    RECSYS_TRY(RECSYS_GROW(&s->mem, s->events, s->cap, s->nevents + n));
    for (size_t i = 0; i < n; i++) {
        recsys_event *copy = recsys__store_event_dup(&s->mem, &events[i]);
        if (!copy) {
            while (i--)
                recsys__free(&s->mem, s->events[s->nevents + i]);
            return RECSYS_E_NOMEM;
        }
        s->events[s->nevents + i] = copy;
    }
    s->nevents += n;
    return RECSYS_OK;
}

static recsys_status ms_scan_records(void *ctx, int32_t kind, recsys_record_visit_fn fn, void *arg)
{
    mem_store *s = ctx;
    if (!recsys__store_kind_valid(kind))
        return recsys__err(RECSYS_E_INVALID_ARG, "memory store scan_records: record kind %" PRId32
                           " is not a recsys_record_kind (1..%d)", kind,
                           RECSYS__RECORD_KIND_MAX);
    if (!fn)
        return recsys__err(RECSYS_E_INVALID_ARG, "memory store scan_records: fn is NULL");
    return recsys__store_index_scan(&s->idx, kind, fn, arg);
}

static recsys_status ms_scan_events(void *ctx, recsys_event_visit_fn fn, void *arg)
{
    mem_store *s = ctx;
    if (!fn)
        return recsys__err(RECSYS_E_INVALID_ARG, "memory store scan_events: fn is NULL");
    for (size_t i = 0; i < s->nevents; i++)
        RECSYS_TRY(fn(arg, s->events[i]));
    return RECSYS_OK;
}

static recsys_status ms_forget_user(void *ctx, const char *user_id)
{
    mem_store *s = ctx;
    if (!user_id)
        return recsys__err(RECSYS_E_INVALID_ARG, "memory store forget_user: user_id is NULL");
    recsys__store_index_remove(&s->idx, RECSYS_RECORD_USER, user_id, strlen(user_id), true);
    size_t w = 0;
    for (size_t i = 0; i < s->nevents; i++) {
        recsys_event *ev = s->events[i];
        if (recsys__store_str_eq(ev->user_id, user_id))
            recsys__store_event_wipe_free(&s->mem, ev);
        else
            s->events[w++] = ev;
    }
    s->nevents = w;
    return RECSYS_OK;
}

static recsys_status ms_put_blob(void *ctx, const char *name, const void *data, size_t len)
{
    mem_store *s = ctx;
    RECSYS_TRY(recsys__blob_name_check("memory store put_blob", name));
    if (!data && len)
        return recsys__err(RECSYS_E_INVALID_ARG, "memory store put_blob: data is NULL, len %zu",
                           len);
    if (len == 0) {
        recsys__store_index_remove(&s->idx, BLOB_KIND, name, strlen(name), false);
        return RECSYS_OK;
    }
    recsys__store_rec *rec = recsys__store_rec_new(&s->mem, BLOB_KIND, name, strlen(name), data,
                                                   len);
    if (!rec)
        return RECSYS_E_NOMEM;
    recsys_status st = recsys__store_index_reserve(&s->idx);
    if (st != RECSYS_OK) {
        recsys__store_rec_free(&s->mem, rec, false);
        return st;
    }
    recsys__store_index_commit(&s->idx, rec);
    return RECSYS_OK;
}

static recsys_status ms_get_blob(void *ctx, const char *name, recsys_store_value *out)
{
    mem_store *s = ctx;
    RECSYS_TRY(recsys__blob_name_check("memory store get_blob", name));
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "memory store get_blob: out is NULL");
    const recsys__store_rec *r = recsys__store_index_find(&s->idx, BLOB_KIND, name, strlen(name));
    if (!r)
        return recsys__err(RECSYS_E_NOT_FOUND, "memory store get_blob: no blob '%s'", name);
    return recsys__store_value_assign(out, recsys__store_rec_val(r), r->val_len);
}

static recsys_status ms_sync(void *ctx)
{
    (void)ctx;
    return RECSYS_OK;
}

static recsys_status ms_compact(void *ctx)
{
    mem_store *s = ctx;
    if (s->cap > 64 && s->nevents < s->cap / 4) {
        size_t cap = s->nevents ? s->nevents : 1;
        recsys_event **e = recsys__realloc_array(&s->mem, s->events, cap, sizeof *e);
        if (!e)
            return RECSYS_E_NOMEM;
        s->events = e;
        s->cap = cap;
    }
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_store_memory_new(const recsys_allocator *allocator,
                                                 recsys_store_vtable *out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(out);
    if (out->struct_size < RECSYS__STORE_VTABLE_MIN_SIZE)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "recsys_store_memory_new: out->struct_size %" PRIu32 " is below the "
                           "minimum %zu (set it with RECSYS_INIT or recsys_store_vtable_init)",
                           out->struct_size, (size_t)RECSYS__STORE_VTABLE_MIN_SIZE);
    recsys__mem mem;
    RECSYS_TRY(recsys__mem_init(&mem, allocator));
    mem_store *s = recsys__calloc(&mem, 1, sizeof *s);
    if (!s)
        return RECSYS_E_NOMEM;
    s->mem = mem;
    recsys__store_index_init(&s->idx, &s->mem);
    recsys_store_vtable vt = {
        .struct_size = sizeof vt,
        .ctx = s,
        .destroy = ms_destroy,
        .put = ms_put,
        .remove = ms_remove,
        .get = ms_get,
        .append_events = ms_append_events,
        .scan_records = ms_scan_records,
        .scan_events = ms_scan_events,
        .forget_user = ms_forget_user,
        .sync = ms_sync,
        .compact = ms_compact,
        .put_blob = ms_put_blob,
        .get_blob = ms_get_blob,
    };
    recsys__store_vtable_out(out, &vt);
    return RECSYS_OK;
}
