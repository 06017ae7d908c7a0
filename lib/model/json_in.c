/* json_in.c - parsing untrusted JSON into items, profiles and events (jansson).
 *
 * Strict: the size is capped before parsing, duplicate keys and unknown keys are rejected,
 * every string and key is checked as UTF-8, and every message names the element (its index
 * in an array, its id when known) and the field. jansson allocates with malloc (its global
 * allocator is left alone); everything we keep is allocated with the caller's recsys__mem. */
#include "model.h"
#include "../core/error.h"
#include "../core/utf8.h"
#include "json_read.h"

#define WHERE_MAX (RECSYS_ID_MAX_BYTES + 64)

/* Puts "<where>: field '<field>'" in front of the message of a failed setter. */
static recsys_status in_field(recsys_status st, const char *where, const char *field)
{
    if (st != RECSYS_OK) {
        char prefix[WHERE_MAX + 64];
        snprintf(prefix, sizeof prefix, "%s: field '%s'", where, field);
        recsys__err_prefix(prefix);
    }
    return st;
}

/* "item 3 ('x')", "item 3", "item 'x'" or "item". */
static void where_fmt(char *buf, const char *kind, bool array, size_t i, const char *id)
{
    if (array && id)
        snprintf(buf, WHERE_MAX, "%s %zu ('%s')", kind, i, id);
    else if (array)
        snprintf(buf, WHERE_MAX, "%s %zu", kind, i);
    else if (id)
        snprintf(buf, WHERE_MAX, "%s '%s'", kind, id);
    else
        snprintf(buf, WHERE_MAX, "%s", kind);
}

/* A string field: must be a string of valid UTF-8, at most max bytes (0 = no limit). */
static recsys_status get_str(const json_t *v, const char *where, const char *field, size_t max,
                             const char **out)
{
    if (!json_is_string(v))
        return recsys__jr_failf(where, "field '%s' must be a string", field);
    if (!(*out = recsys__jr_str_of(v)))
        return recsys__jr_failf(where, "field '%s' is not valid UTF-8", field);
    size_t len = json_string_length(v);
    if (max && len > max)
        return recsys__jr_failf(where, "field '%s' is %zu bytes long; the limit is %zu", field, len, max);
    return RECSYS_OK;
}

/* An id field: a non-empty string of at most RECSYS_ID_MAX_BYTES. */
static recsys_status get_id(const json_t *v, const char *where, const char *field,
                            const char **out)
{
    if (!v)
        return recsys__jr_failf(where, "field '%s' is required", field);
    RECSYS_TRY(get_str(v, where, field, RECSYS_ID_MAX_BYTES, out));
    if (!**out)
        return recsys__jr_failf(where, "field '%s' is empty", field);
    return RECSYS_OK;
}

static recsys_status get_int(const json_t *v, const char *where, const char *field, int64_t lo,
                             int64_t hi, int64_t *out)
{
    if (!json_is_integer(v))
        return recsys__jr_failf(where, "field '%s' must be an integer", field);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return recsys__jr_failf(where, "field '%s' is %" PRId64 "; expected %" PRId64 "..%" PRId64, field,
                     (int64_t)x, lo, hi);
    *out = (int64_t)x;
    return RECSYS_OK;
}

/* Checks that v is an array of at most max strings (each UTF-8, at most TEXT_MAX bytes). */
static recsys_status check_str_array(const json_t *v, const char *where, const char *field,
                                     size_t max)
{
    if (!json_is_array(v))
        return recsys__jr_failf(where, "field '%s' must be an array of strings", field);
    size_t n = json_array_size(v);
    if (n > max)
        return recsys__jr_failf(where, "field '%s' has %zu entries; the limit is %zu", field, n, max);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return recsys__jr_failf(where, "field '%s' must be an array of strings (entry %zu is not)",
                         field, i);
        if (!recsys__jr_str_of(e))
            return recsys__jr_failf(where, "field '%s': entry %zu is not valid UTF-8", field, i);
        if (json_string_length(e) > RECSYS__TEXT_MAX)
            return recsys__jr_failf(where, "field '%s': entry %zu is %zu bytes long; the limit is %d", field,
                         i, json_string_length(e), RECSYS__TEXT_MAX);
    }
    return RECSYS_OK;
}

/* Parses the text, then calls one() on each object (one object, or an array of them). */
typedef recsys_status (*one_fn)(const recsys__mem *m, const json_t *obj, bool array, size_t i,
                                void *out);

static recsys_status parse(const recsys__mem *m, const char *json, size_t len, size_t max_len,
                           const char *kind, one_fn one,
                           recsys_status (*reserve)(const recsys__mem *, void *, size_t), void *out)
{
    char what[32];
    snprintf(what, sizeof what, "%ss", kind);
    json_t *root = NULL;
    RECSYS_TRY(recsys__jr_load(json, len, max_len, what, &root));
    recsys_status st = RECSYS_OK;
    if (json_is_object(root)) {
        if ((st = reserve(m, out, 1)) == RECSYS_OK)
            st = one(m, root, false, 0, out);
    } else if (json_is_array(root)) {
        size_t n = json_array_size(root);
        if (n && (st = reserve(m, out, n)) != RECSYS_OK)
            n = 0;
        for (size_t i = 0; i < n && st == RECSYS_OK; i++) {
            const json_t *obj = json_array_get(root, i);
            if (!json_is_object(obj))
                st = recsys__err(RECSYS_E_INVALID_ARG, "%s %zu: must be an object", kind, i);
            else
                st = one(m, obj, true, i, out);
        }
    } else {
        st = recsys__err(RECSYS_E_INVALID_ARG, "%ss: expected an object or an array of objects",
                         kind);
    }
    json_decref(root);
    return st;
}

/* ---------------------------------------------------------------- items ---------------- */

static const char *const item_keys[] = {
    "item_id", "title",     "description", "category",   "provider",
    "tags",    "regions",   "available",   "min_age",    "created",
    "attributes", "embedding", "embeddings", "generated",
};
static const char *const gen_keys[] = { "tags", "summary", "attributes", "model" };

/* attributes: an object name -> number | string | bool (at most LIST_MAX). */
static recsys_status parse_attrs(const recsys__mem *m, recsys_item *it, const json_t *v,
                                 const char *where, const char *field, bool gen)
{
    if (!json_is_object(v))
        return recsys__jr_failf(where, "field '%s' must be an object", field);
    size_t n = json_object_size(v);
    if (n > RECSYS__LIST_MAX)
        return recsys__jr_failf(where, "field '%s' has %zu entries; the limit is %d", field, n,
                     RECSYS__LIST_MAX);
    const char *name;
    json_t *val;
    json_object_foreach((json_t *)v, name, val) {
        if (!recsys__utf8_valid(name, strlen(name)))
            return recsys__jr_failf(where, "field '%s': an attribute name is not valid UTF-8", field);
        int32_t type;
        double num = 0;
        const char *s = NULL;
        if (json_is_number(val)) {
            type = RECSYS__ATTR_NUM;
            num = json_number_value(val);
        } else if (json_is_boolean(val)) {
            type = RECSYS__ATTR_BOOL;
            num = json_is_true(val);
        } else if (json_is_string(val)) {
            type = RECSYS__ATTR_STR;
            if (!(s = recsys__jr_str_of(val)))
                return recsys__jr_failf(where, "field '%s': attribute '%.*s' is not valid UTF-8", field,
                             recsys__utf8_quote_len(name), name);
        } else {
            return recsys__jr_failf(where, "field '%s': attribute '%.*s' must be a number, string or "
                         "boolean", field, recsys__utf8_quote_len(name), name);
        }
        recsys_status st = gen ? recsys__item_set_gen_attr(m, it, name, type, num, s)
                               : recsys__item_set_attr(m, it, name, type, num, s);
        RECSYS_TRY(in_field(st, where, field));
    }
    return RECSYS_OK;
}

static recsys_status parse_tags(const recsys__mem *m, recsys_item *it, const json_t *v,
                                const char *where, const char *field, int which)
{
    RECSYS_TRY(check_str_array(v, where, field, RECSYS__LIST_MAX));
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *s = json_string_value(json_array_get(v, i));
        recsys_status st = which == 0   ? recsys__item_add_tag(m, it, s)
                           : which == 1 ? recsys__item_add_region(m, it, s)
                                        : recsys__item_add_gen_tag(m, it, s);
        RECSYS_TRY(in_field(st, where, field));
    }
    return RECSYS_OK;
}

/* One embedding: an array of 1..DIM_MAX numbers that fit a float. */
static recsys_status parse_embedding(const recsys__mem *m, recsys_item *it, const char *name,
                                     const json_t *v, const char *where, const char *field)
{
    if (!json_is_array(v))
        return recsys__jr_failf(where, "field '%s' must be an array of numbers", field);
    size_t dim = json_array_size(v);
    if (dim < 1 || dim > RECSYS__DIM_MAX)
        return recsys__jr_failf(where, "field '%s' has %zu values; expected 1..%d", field, dim,
                     RECSYS__DIM_MAX);
    if (recsys__item_embedding(it, name))
        return recsys__jr_failf(where, "embedding '%s' is given twice (fields 'embedding' and "
                     "'embeddings')", name);
    float *f = recsys__alloc(m, dim * sizeof *f);
    if (!f)
        return in_field(RECSYS_E_NOMEM, where, field);
    for (size_t i = 0; i < dim; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_number(e)) {
            recsys__free(m, f);
            return recsys__jr_failf(where, "field '%s': value %zu must be a number", field, i);
        }
        double d = json_number_value(e);
        f[i] = (float)d;
        if (!isfinite(d) || !isfinite(f[i])) {
            recsys__free(m, f);
            return recsys__jr_failf(where, "field '%s': value %zu (%g) is outside the float range", field,
                         i, d);
        }
    }
    recsys_status st = recsys__item_set_embedding(m, it, name, f, dim);
    recsys__free(m, f);
    return in_field(st, where, field);
}

static recsys_status parse_generated(const recsys__mem *m, recsys_item *it, const json_t *v,
                                     const char *where)
{
    if (!json_is_object(v))
        return recsys__jr_failf(where, "field 'generated' must be an object");
    RECSYS_TRY(recsys__jr_check_keys(v, gen_keys, RECSYS_ARRAY_LEN(gen_keys), where, "generated"));
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
        const char *s;
        if (strcmp(key, "tags") == 0) {
            RECSYS_TRY(parse_tags(m, it, val, where, "generated.tags", 2));
        } else if (strcmp(key, "attributes") == 0) {
            RECSYS_TRY(parse_attrs(m, it, val, where, "generated.attributes", true));
        } else {
            int which = strcmp(key, "summary") == 0 ? 0 : 1;
            const char *field = which == 0 ? "generated.summary" : "generated.model";
            RECSYS_TRY(get_str(val, where, field, RECSYS__TEXT_MAX, &s));
            RECSYS_TRY(in_field(recsys__item_set_gen_text(m, it, which, s), where, field));
        }
    }
    return RECSYS_OK;
}

static recsys_status item_field(const recsys__mem *m, recsys_item *it, const char *key,
                                const json_t *val, const char *where)
{
    static const struct { const char *name; int32_t field; } texts[] = {
        { "title", RECSYS_FIELD_TITLE },
        { "description", RECSYS_FIELD_DESCRIPTION },
        { "category", RECSYS_FIELD_CATEGORY },
        { "provider", RECSYS_FIELD_PROVIDER },
    };
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(texts); i++)
        if (strcmp(key, texts[i].name) == 0) {
            const char *s;
            RECSYS_TRY(get_str(val, where, key, RECSYS__TEXT_MAX, &s));
            return in_field(recsys__item_set_text(m, it, texts[i].field, s), where, key);
        }
    if (strcmp(key, "item_id") == 0)
        return RECSYS_OK;
    if (strcmp(key, "tags") == 0)
        return parse_tags(m, it, val, where, key, 0);
    if (strcmp(key, "regions") == 0)
        return parse_tags(m, it, val, where, key, 1);
    if (strcmp(key, "available") == 0) {
        if (!json_is_boolean(val))
            return recsys__jr_failf(where, "field 'available' must be true or false");
        it->available = json_is_true(val);
        return RECSYS_OK;
    }
    if (strcmp(key, "min_age") == 0) {
        int64_t x;
        RECSYS_TRY(get_int(val, where, key, 0, RECSYS__AGE_MAX, &x));
        it->min_age = (int)x;
        return RECSYS_OK;
    }
    if (strcmp(key, "created") == 0)
        return get_int(val, where, key, INT64_MIN, INT64_MAX, &it->created);
    if (strcmp(key, "attributes") == 0)
        return parse_attrs(m, it, val, where, key, false);
    if (strcmp(key, "embedding") == 0)
        return parse_embedding(m, it, "default", val, where, key);
    if (strcmp(key, "embeddings") == 0) {
        if (!json_is_object(val))
            return recsys__jr_failf(where, "field 'embeddings' must be an object (name -> array of "
                         "numbers)");
        if (json_object_size(val) > RECSYS__LIST_MAX)
            return recsys__jr_failf(where, "field 'embeddings' has %zu entries; the limit is %d",
                         json_object_size(val), RECSYS__LIST_MAX);
        const char *name;
        json_t *e;
        json_object_foreach((json_t *)val, name, e) {
            if (!recsys__utf8_valid(name, strlen(name)))
                return recsys__jr_failf(where, "field 'embeddings': a name is not valid UTF-8");
            char field[96];
            snprintf(field, sizeof field, "embeddings.%.*s", recsys__utf8_quote_len(name), name);
            RECSYS_TRY(parse_embedding(m, it, name, e, where, field));
        }
        return RECSYS_OK;
    }
    return parse_generated(m, it, val, where);
}

static recsys_status item_one(const recsys__mem *m, const json_t *obj, bool array, size_t i,
                              void *out)
{
    recsys__items_vec *vec = out;
    char where[WHERE_MAX];
    where_fmt(where, "item", array, i, NULL);
    const char *id;
    RECSYS_TRY(get_id(json_object_get(obj, "item_id"), where, "item_id", &id));
    where_fmt(where, "item", array, i, id);
    RECSYS_TRY(recsys__jr_check_keys(obj, item_keys, RECSYS_ARRAY_LEN(item_keys), where, NULL));
    recsys_item *it;
    RECSYS_TRY(in_field(recsys__item_new(m, id, &it), where, "item_id"));
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        recsys_status st = item_field(m, it, key, val, where);
        if (st != RECSYS_OK) {
            recsys__item_free(m, it);
            return st;
        }
    }
    vec->v[vec->n++] = it; /* reserved */
    return RECSYS_OK;
}

static recsys_status items_reserve(const recsys__mem *m, void *out, size_t n)
{
    recsys__items_vec *vec = out;
    return RECSYS_GROW(m, vec->v, vec->cap, vec->n + n);
}

void recsys__items_vec_free(const recsys__mem *m, recsys__items_vec *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        recsys__item_free(m, v->v[i]);
    recsys__free(m, v->v);
    memset(v, 0, sizeof *v);
}

recsys_status recsys__json_parse_items(const recsys__mem *m, const char *json, size_t len,
                                       size_t max_len, recsys__items_vec *out)
{
    memset(out, 0, sizeof *out);
    recsys_status st = parse(m, json, len, max_len, "item", item_one, items_reserve, out);
    if (st != RECSYS_OK)
        recsys__items_vec_free(m, out);
    return st;
}

/* ---------------------------------------------------------------- profiles ------------- */

static const char *const profile_keys[] = {
    "user_id", "interests", "age", "region", "recent_views", "purchased_items",
    "negative_feedback",
    /* the read-only part of recsys_user_get_json(), accepted so its output can come back */
    "history", "search_history", "events",
};
static const char *const list_keys[4] = { NULL, "recent_views", "purchased_items",
                                          "negative_feedback" };

static recsys_status profile_fields(const recsys__mem *m, recsys__profile *p, const json_t *obj,
                                    const char *where)
{
    int64_t age = -1;
    const char *region = NULL;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        if (strcmp(key, "interests") == 0) {
            RECSYS_TRY(check_str_array(val, where, key, RECSYS__LIST_MAX));
            for (size_t i = 0; i < json_array_size(val); i++)
                RECSYS_TRY(in_field(recsys__profile_add_interest(
                                        m, p, json_string_value(json_array_get(val, i))),
                                    where, key));
        } else if (strcmp(key, "age") == 0) {
            if (!json_is_null(val))
                RECSYS_TRY(get_int(val, where, key, -1, RECSYS__AGE_MAX, &age));
        } else if (strcmp(key, "region") == 0) {
            if (!json_is_null(val))
                RECSYS_TRY(get_str(val, where, key, RECSYS__TEXT_MAX, &region));
        } else {
            for (int32_t l = RECSYS_LIST_RECENT_VIEWS; l <= RECSYS_LIST_NEGATIVE; l++) {
                if (strcmp(key, list_keys[l]) != 0)
                    continue;
                RECSYS_TRY(check_str_array(val, where, key, RECSYS__PROFILE_ITEMS_MAX));
                for (size_t i = 0; i < json_array_size(val); i++)
                    RECSYS_TRY(in_field(recsys__profile_add_item(
                                            m, p, l, json_string_value(json_array_get(val, i))),
                                        where, key));
            }
            /* user_id, history, search_history, events: nothing to do */
        }
    }
    return in_field(recsys__profile_set_demographics(m, p, (int)age, region), where,
                    region ? "region" : "age");
}

static recsys_status profile_one(const recsys__mem *m, const json_t *obj, bool array, size_t i,
                                 void *out)
{
    recsys__profiles_vec *vec = out;
    char where[WHERE_MAX];
    where_fmt(where, "user", array, i, NULL);
    const char *id;
    RECSYS_TRY(get_id(json_object_get(obj, "user_id"), where, "user_id", &id));
    where_fmt(where, "user", array, i, id);
    RECSYS_TRY(recsys__jr_check_keys(obj, profile_keys, RECSYS_ARRAY_LEN(profile_keys), where, NULL));
    recsys__profile *p = &vec->v[vec->n]; /* reserved */
    recsys_status st = in_field(recsys__profile_init(m, p, id), where, "user_id");
    if (st == RECSYS_OK)
        st = profile_fields(m, p, obj, where);
    if (st != RECSYS_OK) {
        recsys__profile_free(m, p);
        return st;
    }
    vec->n++;
    return RECSYS_OK;
}

static recsys_status profiles_reserve(const recsys__mem *m, void *out, size_t n)
{
    recsys__profiles_vec *vec = out;
    return RECSYS_GROW(m, vec->v, vec->cap, vec->n + n);
}

void recsys__profiles_vec_free(const recsys__mem *m, recsys__profiles_vec *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        recsys__profile_free(m, &v->v[i]);
    recsys__free(m, v->v);
    memset(v, 0, sizeof *v);
}

recsys_status recsys__json_parse_profiles(const recsys__mem *m, const char *json, size_t len,
                                          size_t max_len, recsys__profiles_vec *out)
{
    memset(out, 0, sizeof *out);
    recsys_status st = parse(m, json, len, max_len, "user", profile_one, profiles_reserve, out);
    if (st != RECSYS_OK)
        recsys__profiles_vec_free(m, out);
    return st;
}

/* ---------------------------------------------------------------- events --------------- */

static const char *const event_keys[] = {
    "user_id", "item_id", "type", "value", "timestamp", "request_id", "query", "position",
    "sources", "ranker", "llm_calls", "llm_tokens",
};

static void event_strings_free(const recsys__mem *m, recsys_event *ev)
{
    recsys__free(m, (char *)ev->user_id);
    recsys__free(m, (char *)ev->item_id);
    recsys__free(m, (char *)ev->request_id);
    recsys__free(m, (char *)ev->query);
    recsys__free(m, (char *)ev->sources);
    recsys__free(m, (char *)ev->ranker);
    ev->user_id = ev->item_id = ev->request_id = ev->query = ev->sources = ev->ranker = NULL;
}

/* An impression's "sources": an array of 1..64 source names, kept as recsys_event has them
 * (comma-separated; each name is checked by recsys__event_validate). */
static recsys_status event_sources(const recsys__mem *m, const json_t *val, const char *where,
                                   const char **slot)
{
    size_t n = json_array_size(val);
    if (!json_is_array(val) || n == 0 || n > 64)
        return recsys__jr_failf(where, "field 'sources' must be an array of 1 to 64 source "
                                "names");
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(val, i));
        if (!name || !*name || strlen(name) >= RECSYS_PLUGIN_NAME_MAX || strchr(name, ','))
            return recsys__jr_failf(where, "field 'sources': element %zu is not a source name "
                                    "(1..%d bytes of [a-z0-9_.-])", i,
                                    RECSYS_PLUGIN_NAME_MAX - 1);
        len += strlen(name) + 1;
    }
    char *d = recsys__alloc(m, len);
    if (!d)
        return in_field(RECSYS_E_NOMEM, where, "sources");
    char *at = d;
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(val, i));
        size_t k = strlen(name);
        memcpy(at, name, k);
        at += k;
        *at++ = i + 1 < n ? ',' : '\0';
    }
    *slot = d;
    return RECSYS_OK;
}

/* Copies a string field into *slot (owned by the vec). */
static recsys_status event_str(const recsys__mem *m, const json_t *val, const char *where,
                               const char *key, bool id, const char **slot)
{
    const char *s;
    if (id)
        RECSYS_TRY(get_id(val, where, key, &s));
    else
        RECSYS_TRY(get_str(val, where, key, RECSYS__TEXT_MAX, &s));
    char *d = recsys__strdup(m, s);
    if (!d)
        return in_field(RECSYS_E_NOMEM, where, key);
    *slot = d;
    return RECSYS_OK;
}

static recsys_status event_fields(const recsys__mem *m, recsys_event *ev, const json_t *obj,
                                  const char *where)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        if (strcmp(key, "user_id") == 0) {
            RECSYS_TRY(event_str(m, val, where, key, true, &ev->user_id));
        } else if (strcmp(key, "item_id") == 0) {
            RECSYS_TRY(event_str(m, val, where, key, true, &ev->item_id));
        } else if (strcmp(key, "request_id") == 0) {
            RECSYS_TRY(event_str(m, val, where, key, true, &ev->request_id));
        } else if (strcmp(key, "query") == 0) {
            RECSYS_TRY(event_str(m, val, where, key, false, &ev->query));
        } else if (strcmp(key, "ranker") == 0) {
            RECSYS_TRY(event_str(m, val, where, key, true, &ev->ranker));
        } else if (strcmp(key, "sources") == 0) {
            RECSYS_TRY(event_sources(m, val, where, &ev->sources));
        } else if (strcmp(key, "llm_calls") == 0 || strcmp(key, "llm_tokens") == 0) {
            int64_t v;
            RECSYS_TRY(get_int(val, where, key, 0, UINT32_MAX, &v));
            if (strcmp(key, "llm_calls") == 0)
                ev->llm_calls = (uint32_t)v;
            else
                ev->llm_tokens = (uint32_t)v;
        } else if (strcmp(key, "type") == 0) {
            const char *name;
            RECSYS_TRY(get_str(val, where, key, 64, &name));
            if ((ev->type = recsys__event_type_from_name(name)) < 0)
                return recsys__jr_failf(where, "field 'type': '%s' is not an event type (impression, "
                             "view, click, like, dislike, add_to_cart, purchase, skip, rating, "
                             "watch_time, dwell, search)", name);
        } else if (strcmp(key, "value") == 0) {
            if (!json_is_number(val))
                return recsys__jr_failf(where, "field 'value' must be a number");
            ev->value = json_number_value(val);
        } else if (strcmp(key, "timestamp") == 0) {
            RECSYS_TRY(get_int(val, where, key, 0, INT64_MAX, &ev->timestamp));
        } else if (strcmp(key, "position") == 0) {
            int64_t pos;
            RECSYS_TRY(get_int(val, where, key, -1, INT32_MAX, &pos));
            ev->position = (int32_t)pos;
        }
    }
    if (!json_object_get(obj, "type"))
        return recsys__jr_failf(where, "field 'type' is required");
    if (!ev->item_id && ev->type != RECSYS_EVENT_SEARCH)
        return recsys__jr_failf(where, "field 'item_id' is required (except for type 'search')");
    recsys_status st = recsys__event_validate(ev);
    if (st != RECSYS_OK)
        recsys__err_prefix(where);
    return st;
}

static recsys_status event_one(const recsys__mem *m, const json_t *obj, bool array, size_t i,
                               void *out)
{
    recsys__events_vec *vec = out;
    char where[WHERE_MAX];
    where_fmt(where, "event", array, i, NULL);
    RECSYS_TRY(recsys__jr_check_keys(obj, event_keys, RECSYS_ARRAY_LEN(event_keys), where, NULL));
    const char *uid;
    RECSYS_TRY(get_id(json_object_get(obj, "user_id"), where, "user_id", &uid));
    recsys_event *ev = &vec->v[vec->n]; /* reserved */
    memset(ev, 0, sizeof *ev);
    ev->struct_size = (uint32_t)sizeof *ev;
    ev->position = -1;
    recsys_status st = event_fields(m, ev, obj, where);
    if (st != RECSYS_OK) {
        event_strings_free(m, ev);
        return st;
    }
    vec->n++;
    return RECSYS_OK;
}

static recsys_status events_reserve(const recsys__mem *m, void *out, size_t n)
{
    recsys__events_vec *vec = out;
    return RECSYS_GROW(m, vec->v, vec->cap, vec->n + n);
}

void recsys__events_vec_free(const recsys__mem *m, recsys__events_vec *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        event_strings_free(m, &v->v[i]);
    recsys__free(m, v->v);
    memset(v, 0, sizeof *v);
}

recsys_status recsys__json_parse_events(const recsys__mem *m, const char *json, size_t len,
                                        size_t max_len, recsys__events_vec *out)
{
    memset(out, 0, sizeof *out);
    recsys_status st = parse(m, json, len, max_len, "event", event_one, events_reserve, out);
    if (st != RECSYS_OK)
        recsys__events_vec_free(m, out);
    return st;
}
