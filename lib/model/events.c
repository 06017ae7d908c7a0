/* events.c - event types: names, weights, classes and the model-free checks of a record. */
#include "model.h"
#include "../core/error.h"
#include "../core/utf8.h"

/* Indexed by recsys_event_type; keep in step with recsys.h (append-only). */
static const char *const type_names[] = {
    NULL,          "impression", "view", "click",    "like",   "dislike",    "add_to_cart",
    "purchase",    "skip",       "rating", "watch_time", "dwell", "search",
};
#define NTYPES ((int32_t)RECSYS_ARRAY_LEN(type_names))

const char *recsys__event_name(int32_t type)
{
    return (type > 0 && type < NTYPES) ? type_names[type] : NULL;
}

int32_t recsys__event_type_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int32_t t = 1; t < NTYPES; t++)
        if (strcmp(type_names[t], name) == 0)
            return t;
    return -1;
}

double recsys__event_weight(int32_t type, double value)
{
    if (!isfinite(value))
        value = 0;
    switch (type) {
    case RECSYS_EVENT_VIEW:
    case RECSYS_EVENT_CLICK:
        return 1;
    case RECSYS_EVENT_LIKE:
    case RECSYS_EVENT_ADD_TO_CART:
        return 3;
    case RECSYS_EVENT_PURCHASE:
        return 5;
    case RECSYS_EVENT_RATING:
        /* a rating of 3 is neutral; kept within -5..5 so one odd scale cannot dominate */
        return RECSYS_MAX(-5.0, RECSYS_MIN(5.0, value - 3));
    case RECSYS_EVENT_WATCH_TIME:
    case RECSYS_EVENT_DWELL:
        /* seconds -> minutes, capped at 5 */
        return value <= 0 ? 0 : RECSYS_MIN(5.0, value / 60);
    case RECSYS_EVENT_DISLIKE:
        return -5;
    case RECSYS_EVENT_SKIP:
        return -1;
    default: /* impression, search, unknown */
        return 0;
    }
}

bool recsys__event_consumes(int32_t type)
{
    switch (type) {
    case RECSYS_EVENT_VIEW:
    case RECSYS_EVENT_CLICK:
    case RECSYS_EVENT_PURCHASE:
    case RECSYS_EVENT_RATING:
    case RECSYS_EVENT_WATCH_TIME:
    case RECSYS_EVENT_LIKE:
    case RECSYS_EVENT_ADD_TO_CART:
        return true;
    default:
        return false;
    }
}

bool recsys__event_negative(int32_t type)
{
    return type == RECSYS_EVENT_DISLIKE || type == RECSYS_EVENT_SKIP;
}

static recsys_status check_id(const char *s, const char *field)
{
    char what[64];
    snprintf(what, sizeof what, "field '%s'", field);
    RECSYS_TRY(recsys__check_text(s, RECSYS_ID_MAX_BYTES, what));
    if (!*s)
        return recsys__err(RECSYS_E_INVALID_ARG, "field '%s' is empty", field);
    return RECSYS_OK;
}

/* An impression's attribution and LLM cost (since 0.2): sources a comma-separated list of
 * source names, ranker a ranker name (each as the engine names its parts); none of the four
 * on other events. */
static recsys_status check_attribution(const recsys_event *ev)
{
    if (ev->type != RECSYS_EVENT_IMPRESSION) {
        if (ev->sources || ev->ranker || ev->llm_calls || ev->llm_tokens)
            return recsys__err(RECSYS_E_INVALID_ARG,
                               "fields 'sources', 'ranker', 'llm_calls' and 'llm_tokens' are for "
                               "impressions only");
        return RECSYS_OK;
    }
    if (ev->ranker)
        RECSYS_TRY(recsys__check_name(ev->ranker, strlen(ev->ranker), "field 'ranker': a ranker"));
    for (const char *p = ev->sources; p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        RECSYS_TRY(recsys__check_name(p, len, "field 'sources': a source"));
        p = end ? end + 1 : NULL;
    }
    return RECSYS_OK;
}

recsys_status recsys__event_validate(const recsys_event *ev)
{
    const char *name = recsys__event_name(ev->type);
    if (!name)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "field 'type': %" PRId32 " is not an event type (1..%d)", ev->type,
                           (int)NTYPES - 1);
    RECSYS_TRY(check_id(ev->user_id, "user_id"));
    if (ev->item_id || ev->type != RECSYS_EVENT_SEARCH)
        RECSYS_TRY(check_id(ev->item_id, "item_id"));
    if (ev->request_id)
        RECSYS_TRY(check_id(ev->request_id, "request_id"));
    if (ev->query)
        RECSYS_TRY(recsys__check_text(ev->query, RECSYS__TEXT_MAX, "field 'query'"));
    if (ev->type == RECSYS_EVENT_SEARCH && (!ev->query || !ev->query[0]))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "field 'query': a search event needs the search text");
    if (!isfinite(ev->value))
        return recsys__err(RECSYS_E_INVALID_ARG, "field 'value' is not finite");
    if ((ev->type == RECSYS_EVENT_WATCH_TIME || ev->type == RECSYS_EVENT_DWELL) && ev->value < 0)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "field 'value': %g seconds of %s is negative", ev->value, name);
    if (ev->timestamp < 0)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "field 'timestamp': %" PRId64 " is negative (Unix seconds expected)",
                           ev->timestamp);
    if (ev->position < -1)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "field 'position': %" PRId32 " is below -1", ev->position);
    return check_attribution(ev);
}
