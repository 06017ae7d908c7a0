/* value.c - the store value sink, store vtable normalisation and event copies (store.h). */
#include "store.h"
#include "../core/error.h"

/* ---------------------------------------------------------------- values ---------------- */

void recsys__store_value_init(recsys_store_value *v, const recsys__mem *mem)
{
    v->mem = mem;
    v->data = NULL;
    v->len = 0;
    v->set = false;
}

void recsys__store_value_free(recsys_store_value *v)
{
    if (!v)
        return;
    if (v->data)
        recsys__free(v->mem, v->data);
    v->data = NULL;
    v->len = 0;
    v->set = false;
}

recsys_status recsys__store_value_assign(recsys_store_value *v, const void *data, size_t len)
{
    if (!v)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_store_value_set: argument 'v' is NULL");
    if (!data && len)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "recsys_store_value_set: data is NULL but len is %zu", len);
    if (!v->mem)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "recsys_store_value_set: the value was not prepared by the library");
    if (len == SIZE_MAX)
        return recsys__err(RECSYS_E_NOMEM, "recsys_store_value_set: value of %zu bytes", len);
    char *copy = recsys__alloc(v->mem, len + 1);
    if (!copy)
        return RECSYS_E_NOMEM;
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    if (v->data)
        recsys__free(v->mem, v->data);
    v->data = copy;
    v->len = len;
    v->set = true;
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_store_value_set(recsys_store_value *v, const void *data, size_t len)
{
    recsys__err_clear();
    return recsys__store_value_assign(v, data, len);
}

/* ---------------------------------------------------------------- vtables --------------- */

recsys_status recsys__store_vtable_copy(recsys_store_vtable *dst, const recsys_store_vtable *src)
{
    if (!dst || !src)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_store_vtable: the vtable is NULL");
    recsys_store_vtable vt;
    RECSYS_TRY(recsys__vtable_copy(&vt, sizeof vt, src, src->struct_size,
                                   RECSYS__STORE_VTABLE_MIN_SIZE, "recsys_store_vtable"));
    static const struct {
        const char *name;
        size_t offset;
    } required[] = {
        { "put", offsetof(recsys_store_vtable, put) },
        { "remove", offsetof(recsys_store_vtable, remove) },
        { "get", offsetof(recsys_store_vtable, get) },
        { "append_events", offsetof(recsys_store_vtable, append_events) },
        { "scan_records", offsetof(recsys_store_vtable, scan_records) },
        { "scan_events", offsetof(recsys_store_vtable, scan_events) },
        { "forget_user", offsetof(recsys_store_vtable, forget_user) },
    };
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(required); i++) {
        void (*fn)(void);
        memcpy(&fn, (const char *)&vt + required[i].offset, sizeof fn);
        if (!fn)
            return recsys__err(RECSYS_E_INVALID_ARG,
                               "recsys_store_vtable: required method '%s' is NULL",
                               required[i].name);
    }
    /* optional methods that only work as a pair */
    if (!vt.append_events_deferred != !vt.wait_durable)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_store_vtable: append_events_deferred "
                           "and wait_durable go together, but only '%s' is set",
                           vt.wait_durable ? "wait_durable" : "append_events_deferred");
    if (!vt.put_blob != !vt.get_blob)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_store_vtable: put_blob and get_blob "
                           "go together, but only '%s' is set",
                           vt.get_blob ? "get_blob" : "put_blob");
    *dst = vt;
    return RECSYS_OK;
}

RECSYS_API void recsys_store_vtable_init(recsys_store_vtable *vt)
{
    recsys__err_clear();
    if (!vt)
        return;
    memset(vt, 0, sizeof *vt);
    vt->struct_size = (uint32_t)sizeof *vt;
}

void recsys__store_vtable_out(recsys_store_vtable *out, const recsys_store_vtable *vt)
{
    size_t n = RECSYS_MIN((size_t)out->struct_size, sizeof *vt);
    memcpy(out, vt, n);
    out->struct_size = (uint32_t)n;
}

recsys_status recsys__store_check_key(const char *what, int32_t kind, const char *key)
{
    if (!recsys__store_kind_valid(kind))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "%s: record kind %" PRId32 " is not a recsys_record_kind (1..%d)",
                           what, kind, RECSYS__RECORD_KIND_MAX);
    if (!key)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s: key is NULL", what);
    return RECSYS_OK;
}

/* ---------------------------------------------------------------- events ---------------- */

static size_t opt_len(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *place(char **cursor, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = *cursor;
    memcpy(d, s, n);
    *cursor += n;
    return d;
}

recsys_event *recsys__store_event_dup(const recsys__mem *mem, const recsys_event *ev)
{
    size_t total = sizeof(recsys_event);
    const char *strs[6] = { ev->user_id, ev->item_id, ev->request_id, ev->query, ev->sources,
                            ev->ranker };
    for (size_t i = 0; i < 6; i++) {
        size_t n = opt_len(strs[i]);
        if (n > SIZE_MAX - total) {
            recsys__err(RECSYS_E_NOMEM, "event of more than %zu bytes", SIZE_MAX);
            return NULL;
        }
        total += n;
    }
    recsys_event *copy = recsys__alloc(mem, total);
    if (!copy)
        return NULL;
    memset(copy, 0, sizeof *copy);
    copy->struct_size = (uint32_t)sizeof(recsys_event);
    copy->type = ev->type;
    copy->timestamp = ev->timestamp;
    copy->value = ev->value;
    copy->position = ev->position;
    copy->llm_calls = ev->llm_calls;
    copy->llm_tokens = ev->llm_tokens;
    char *cursor = (char *)(copy + 1);
    copy->user_id = place(&cursor, ev->user_id);
    copy->item_id = place(&cursor, ev->item_id);
    copy->request_id = place(&cursor, ev->request_id);
    copy->query = place(&cursor, ev->query);
    copy->sources = place(&cursor, ev->sources);
    copy->ranker = place(&cursor, ev->ranker);
    return copy;
}

void recsys__store_event_wipe_free(const recsys__mem *mem, recsys_event *copy)
{
    if (!copy)
        return;
    size_t total = sizeof(recsys_event) + opt_len(copy->user_id) + opt_len(copy->item_id) +
                   opt_len(copy->request_id) + opt_len(copy->query) +
                   opt_len(copy->sources) + opt_len(copy->ranker);
    explicit_bzero(copy, total);
    recsys__free(mem, copy);
}

bool recsys__store_str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}
