/* campaigns_json.c - a campaign's JSON: the strict parser of untrusted text (json_read.h, as
 * json_in.c) and the canonical writer (every byte from the caller's recsys__mem, in
 * json_write.h, as json_out.c). What the parser reads from the writer's output is the same
 * campaign. */
#include "campaigns.h"
#include "json_read.h"
#include "json_write.h"
#include "model.h"
#include "../core/error.h"
#include "../core/utf8.h"

/* ---------------------------------------------------------------- writing -------------- */

recsys_status recsys__json_campaign(const recsys__mem *m, const recsys__campaign *cp, char **out,
                                    size_t *len)
{
    if (!out || !len || !cp)
        return recsys__err(RECSYS_E_INVALID_ARG, "campaign JSON: an argument is NULL");
    *out = NULL;
    *len = 0;
    recsys__jw b = { .m = m };
    recsys__jw_puts(&b, "{\"id\":");
    recsys__jw_str(&b, cp->id);
    recsys__jw_puts(&b, ",\"items\":");
    recsys__jw_strv(&b, cp->item_ids, cp->nitems);
    recsys__jw_puts(&b, ",\"boost\":");
    recsys__jw_double(&b, cp->boost);
    recsys__jw_puts(&b, ",\"start\":");
    recsys__jw_int(&b, cp->start);
    recsys__jw_puts(&b, ",\"end\":");
    recsys__jw_int(&b, cp->end);
    recsys__jw_puts(&b, "}");
    return recsys__jw_finish(&b, false, out, len);
}

/* ---------------------------------------------------------------- parsing -------------- */

#define WHERE_MAX (RECSYS__CAMPAIGN_ID_MAX + 32)

static const char *const known_keys[] = { "id", "items", "boost", "start", "end" };

/* "start" or "end": an integer of Unix seconds (0 = open; the range is checked later). */
static recsys_status get_time(const json_t *obj, const char *where, const char *field,
                              int64_t *out)
{
    const json_t *v = json_object_get(obj, field);
    if (!v)
        return RECSYS_OK;
    if (!json_is_integer(v))
        return recsys__jr_failf(where, "field '%s' must be an integer (Unix seconds, 0 = open)", field);
    *out = (int64_t)json_integer_value(v);
    return RECSYS_OK;
}

/* Checks the fields of one campaign object and builds it. */
static recsys_status one(const recsys__mem *m, const json_t *obj, recsys__campaign **out)
{
    char where[WHERE_MAX] = "campaign";
    const json_t *jid = json_object_get(obj, "id");
    const char *id = recsys__jr_str_of(jid);
    if (id && *id && json_string_length(jid) <= RECSYS__CAMPAIGN_ID_MAX)
        snprintf(where, sizeof where, "campaign '%.*s'", recsys__utf8_quote_len(id), id);
    RECSYS_TRY(recsys__jr_check_keys(obj, known_keys, RECSYS_ARRAY_LEN(known_keys), where, NULL));
    if (!jid)
        return recsys__jr_failf(where, "field 'id' is required");
    if (!json_is_string(jid))
        return recsys__jr_failf(where, "field 'id' must be a string");
    if (!id)
        return recsys__jr_failf(where, "field 'id' is not valid UTF-8");
    if (!*id)
        return recsys__jr_failf(where, "field 'id' is empty");
    if (json_string_length(jid) > RECSYS__CAMPAIGN_ID_MAX)
        return recsys__jr_failf(where, "field 'id' is %zu bytes long; the limit is %d",
                     json_string_length(jid), RECSYS__CAMPAIGN_ID_MAX);

    const json_t *items = json_object_get(obj, "items");
    if (!items)
        return recsys__jr_failf(where, "field 'items' is required");
    if (!json_is_array(items))
        return recsys__jr_failf(where, "field 'items' must be an array of item ids");
    size_t n = json_array_size(items);
    if (n == 0 || n > RECSYS__CAMPAIGN_ITEMS_MAX)
        return recsys__jr_failf(where, "field 'items' has %zu entries; expected 1..%d", n,
                     RECSYS__CAMPAIGN_ITEMS_MAX);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(items, i);
        if (!json_is_string(e))
            return recsys__jr_failf(where, "field 'items': entry %zu is not a string", i);
        if (!recsys__jr_str_of(e))
            return recsys__jr_failf(where, "field 'items': entry %zu is not valid UTF-8", i);
    }

    double boost = 1.0;
    const json_t *jb = json_object_get(obj, "boost");
    if (jb) {
        if (!json_is_number(jb))
            return recsys__jr_failf(where, "field 'boost' must be a number");
        boost = json_number_value(jb);
    }
    int64_t start = 0, end = 0;
    RECSYS_TRY(get_time(obj, where, "start", &start));
    RECSYS_TRY(get_time(obj, where, "end", &end));

    const char **ids = recsys__alloc(m, n * sizeof *ids);
    if (!ids)
        return RECSYS_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        ids[i] = json_string_value(json_array_get(items, i));
    recsys_status st = recsys__campaign_new(m, id, ids, n, boost, start, end, out);
    recsys__free(m, ids);
    return st;
}

recsys_status recsys__json_parse_campaign(const recsys__mem *m, const char *json, size_t len,
                                          size_t max_len, recsys__campaign **out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "campaign: out is NULL");
    *out = NULL;
    json_t *root = NULL;
    RECSYS_TRY(recsys__jr_load(json, len, max_len, "campaign", &root));
    recsys_status st = json_is_object(root)
                           ? one(m, root, out)
                           : recsys__err(RECSYS_E_INVALID_ARG, "campaign: expected an object");
    json_decref(root);
    return st;
}
