/* feedback.c - recsys_feedback*: events go to the store first (acknowledged = durable as
 * the store documents), then into memory (history, preferences, counters). */
#include "engine.h"


/* Checks, timestamps, stores and applies n events; all or nothing. Caller holds no lock. */
static recsys_status record(recsys_engine *e, const recsys_event *evs, size_t n)
{
    const recsys__mem *m = &e->mem;
    recsys_event *copy = recsys__alloc(m, (n ? n : 1) * sizeof *copy);
    if (!copy)
        return RECSYS_E_NOMEM;
    recsys_status st = RECSYS_OK;
    recsys__wr(e);
    int64_t now = recsys__engine_now(e, e->opts.num);
    for (size_t i = 0; i < n && st == RECSYS_OK; i++) {
        st = recsys__model_check_event(&e->model, &evs[i], &copy[i]);
        if (st != RECSYS_OK) {
            if (n > 1) {
                char where[32];
                snprintf(where, sizeof where, "event %zu", i);
                recsys__err_prefix(where);
            }
            break;
        }
        if (copy[i].timestamp == 0)
            copy[i].timestamp = now;
    }
    if (st == RECSYS_OK)
        st = recsys__store_append(e, copy, n);
    size_t impressions = 0;
    for (size_t i = 0; st == RECSYS_OK && i < n; i++) {
        if (copy[i].type == RECSYS_EVENT_IMPRESSION) { /* logged for attribution, not history */
            impressions++;
            continue;
        }
        st = recsys__model_apply_event(&e->model, &copy[i]);
    }
    if (impressions)
        atomic_fetch_add(&e->impressions, impressions);
    recsys__unlock(e);
    recsys__free(m, copy);
    return st;
}

RECSYS_API recsys_status recsys_feedback(recsys_engine *e, const recsys_event *event)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(event);
    return record(e, event, 1);
}

RECSYS_API recsys_status recsys_feedback_json(recsys_engine *e, const char *json, size_t len)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(json);
    recsys__events_vec v = { 0 };
    recsys_status st = recsys__json_parse_events(&e->mem, json, len, recsys__engine_json_limit(e), &v);
    if (st == RECSYS_OK)
        st = record(e, v.v, v.n);
    recsys__events_vec_free(&e->mem, &v);
    return st;
}
