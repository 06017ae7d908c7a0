/* feedback.c - recsys_feedback*: events go to the store first (acknowledged = durable as
 * the store documents), then into memory (history, preferences, counters). */
#include "engine.h"
#include "observe.h"


/* Checks, timestamps, prepares, stores and commits n events; all or nothing. The store is
 * written between prepare (every allocation) and commit (cannot fail), so an event the store
 * acknowledged is always applied and a failure anywhere changes nothing. Caller holds no
 * lock.
 *
 * Group commit (a store with append_events_deferred and wait_durable, such as the file
 * store): under the locks the events are written with append_events_deferred (no flush)
 * and committed to memory; then, holding no engine lock, wait_durable(ticket) waits for a
 * flush covering them, so one flush serves every thread waiting at that moment. The call
 * still returns RECSYS_OK only once the events are durable as the store documents; but
 * other requests may see their effect (history, counters, recommendations) a moment before
 * that. If the flush fails, the status is the store's error (RECSYS_E_IO for the file
 * store): the events were applied in memory and written, but are not confirmed durable (a
 * power loss may take them); the file store then refuses every further write until it is
 * reopened. Other stores take the plain path: append_events (durable when it returns)
 * under the locks. */
static recsys_status record(recsys_engine *e, const recsys_event *evs, size_t n)
{
    const recsys__mem *m = &e->mem;
    recsys_event *copy = recsys__alloc(m, (n ? n : 1) * sizeof *copy);
    recsys__ev_prep *prep = copy ? recsys__alloc(m, (n ? n : 1) * sizeof *prep) : NULL;
    if (!prep) {
        recsys__free(m, copy);
        return RECSYS_E_NOMEM;
    }
    recsys_status st = RECSYS_OK;
    size_t prepared = 0, impressions = 0;
    recsys__wr(e);
    int64_t now = recsys__engine_now(e, e->opts.num);
    for (size_t i = 0; i < n && st == RECSYS_OK; i++) {
        st = recsys__model_check_event(&e->model, &evs[i], &copy[i]);
        if (st != RECSYS_OK && n > 1) {
            char where[32];
            snprintf(where, sizeof where, "event %zu", i);
            recsys__err_prefix(where);
        }
        if (st == RECSYS_OK && copy[i].timestamp == 0)
            copy[i].timestamp = now;
        /* a timestamp far ahead of the clock (milliseconds sent as seconds, say) would freeze
         * every decayed counter it touches: refused, with a day of tolerance for clock skew */
        if (st == RECSYS_OK && copy[i].timestamp > now + 86400)
            st = recsys__err(RECSYS_E_INVALID_ARG,
                             "event %zu: timestamp %" PRId64 " is more than a day after the "
                             "engine's clock (%" PRId64 "); timestamps are Unix seconds",
                             i, copy[i].timestamp, now);
    }
    /* impressions are logged for attribution but kept out of the model (see model.h) */
    for (; st == RECSYS_OK && prepared < n; prepared++) {
        if (copy[prepared].type == RECSYS_EVENT_IMPRESSION) {
            memset(&prep[prepared], 0, sizeof prep[prepared]);
            impressions++;
            continue;
        }
        st = recsys__model_prepare_event(&e->model, &copy[prepared], &prep[prepared]);
    }
    /* the users' positives before, for the states that follow feedback (observe.h) */
    recsys__observe ob = { 0 };
    if (st == RECSYS_OK)
        st = recsys__observe_before(e, prep, prepared, &ob);
    bool group = recsys__engine_store_group_commit(e);
    uint64_t ticket = 0;
    if (st == RECSYS_OK)
        st = group ? recsys__engine_store_append_deferred(e, copy, n, &ticket)
                   : recsys__engine_store_append(e, copy, n);
    if (st == RECSYS_OK) {
        for (size_t i = 0; i < n; i++)
            if (prep[i].usr)
                recsys__model_commit_event(&e->model, &prep[i]);
        atomic_fetch_add(&e->impressions, impressions);
        recsys__observe_after(e, &ob);
        /* outcomes of lists the linear ranker ranked teach it (lib/rank/featlog.h) */
        for (size_t i = 0; e->featlog.n && i < n; i++)
            if (copy[i].request_id && copy[i].item_id)
                recsys__featlog_outcome_value(
                    &e->featlog, e->linear, e->opts.num, copy[i].request_id,
                    recsys__catalog_find(&e->model.catalog, copy[i].item_id), copy[i].type,
                    copy[i].value);
    } else {
        while (prepared-- > 0)
            recsys__model_abort_event(&e->model, &prep[prepared]);
    }
    recsys__observe_free(e, &ob);
    recsys__unlock(e);
    recsys__free(m, prep);
    recsys__free(m, copy);
    if (st == RECSYS_OK && group) {
        st = recsys__engine_store_wait_durable(e, ticket);
        if (st != RECSYS_OK)
            recsys__err_prefix(n == 1 ? "the event was applied but is not confirmed durable"
                                      : "the events were applied but are not confirmed durable");
    }
    return st;
}

RECSYS_API recsys_status recsys_feedback(recsys_engine *e, const recsys_event *event)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(event);
    return record(e, event, 1);
}

RECSYS_API recsys_status recsys_feedback_batch(recsys_engine *e, const recsys_event *events,
                                              size_t n)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    if (n == 0)
        return RECSYS_OK;
    RECSYS_CHECK_ARG(events);
    if (n > RECSYS_FEEDBACK_BATCH_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "recsys_feedback_batch: %zu events are more than %d in one call", n,
                           RECSYS_FEEDBACK_BATCH_MAX);
    return record(e, events, n);
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
