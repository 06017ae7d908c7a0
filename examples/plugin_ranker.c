/*
 * plugin_ranker.c - a ranker written by the host, plugged in through the same vtable as the
 * built-in ones (recsys_ranker_vtable): "budget" re-scores every candidate by its merged
 * source score minus a price penalty, so a shopper on a budget sees affordable items first.
 * It shows a host plug-in's whole life: RECSYS_INIT of the vtable, a context the engine owns
 * after registration (destroy runs exactly once, at recsys_engine_free), the read-only views
 * (recsys_query_option, recsys_item_number, recsys_candidates_*), an error reported with
 * recsys_error_set, and a request naming the built-in "blend" ranker beside it.
 *
 * Build: make; run: build/examples/plugin_ranker
 */
#include <stdio.h>
#include <stdlib.h>

#include "recsys.h"

static const char CATALOG[] =
    "[{\"item_id\":\"l1\",\"title\":\"Gaming laptop\",\"category\":\"laptop\","
    "  \"tags\":[\"gaming\",\"gpu\"],\"attributes\":{\"price\":2400}},"
    " {\"item_id\":\"l2\",\"title\":\"Student laptop\",\"category\":\"laptop\","
    "  \"tags\":[\"light\",\"battery\"],\"attributes\":{\"price\":650}},"
    " {\"item_id\":\"l3\",\"title\":\"Creator laptop\",\"category\":\"laptop\","
    "  \"tags\":[\"gpu\",\"screen\"],\"attributes\":{\"price\":1800}},"
    " {\"item_id\":\"l4\",\"title\":\"Budget laptop\",\"category\":\"laptop\","
    "  \"tags\":[\"light\"],\"attributes\":{\"price\":420}},"
    " {\"item_id\":\"l5\",\"title\":\"Business laptop\",\"category\":\"laptop\","
    "  \"tags\":[\"battery\",\"security\"],\"attributes\":{\"price\":1200}}]";

/* The ranker's own state: the engine owns it once registration succeeded. */
typedef struct budget_ranker {
    double per_1000; /* score taken off per 1000 of price */
    long calls;
} budget_ranker;

/* Runs on the thread that called recsys_recommend (possibly several at once: it only reads
 * its context, and calls counts nothing that matters). May not call back into the engine. */
static recsys_status budget_score(void *ctx, const recsys_query *q, recsys_candidates *c)
{
    budget_ranker *r = ctx;
    r->calls++;
    double top = 0;
    if (recsys_query_option(q, RECSYS_OPT_TOP_N, &top) != RECSYS_OK)
        return recsys_last_status();
    for (size_t i = 0; i < recsys_candidates_count(c); i++) {
        const recsys_item *it = recsys_candidates_item(c, i);
        double price = 0;
        if (recsys_item_number(it, "price", &price) != RECSYS_OK) /* every item has one here */
            return recsys_error_set(RECSYS_E_INVALID_ARG, "an item without a price");
        double s = recsys_candidates_score(c, i) - r->per_1000 * price / 1000.0;
        if (recsys_candidates_set_score(c, i, s) != RECSYS_OK)
            return recsys_last_status();
    }
    return RECSYS_OK;
}

static void budget_destroy(void *ctx)
{
    budget_ranker *r = ctx;
    printf("(budget ranker destroyed after %ld calls)\n", r->calls);
    free(r);
}

static int show(recsys_engine *e, const char *user, const char *ranker)
{
    recsys_request *req = NULL;
    recsys_result *res = NULL;
    int rc = 1;
    if (recsys_request_new(&req) != RECSYS_OK || recsys_request_set_user(req, user) != RECSYS_OK ||
        recsys_request_set_int(req, RECSYS_OPT_TOP_N, 4) != RECSYS_OK ||
        (ranker && recsys_request_set_ranker(req, ranker) != RECSYS_OK) ||
        recsys_recommend(e, req, &res) != RECSYS_OK) {
        fprintf(stderr, "plugin_ranker: recommend: %s\n", recsys_last_error());
        goto done;
    }
    printf("%s ranker, for %s:\n", ranker ? ranker : "budget (the engine's)", user);
    for (size_t i = 0; i < recsys_result_count(res); i++)
        printf("  %zu. %-3s %7.3f  %s\n", i + 1, recsys_result_item_id(res, i),
               recsys_result_score(res, i), recsys_result_explanation(res, i));
    rc = 0;
done:
    recsys_result_free(res);
    recsys_request_free(req);
    return rc;
}

int main(void)
{
    recsys_engine *e = NULL;
    int rc = 1;
    if (recsys_engine_new(NULL, &e) != RECSYS_OK ||
        recsys_catalog_upsert_json(e, CATALOG, sizeof CATALOG - 1) != RECSYS_OK)
        goto fail;
    const char *views[] = { "l1", "l3", "l5" }; /* someone who looked at pricier laptops */
    for (size_t i = 0; i < 3; i++) {
        RECSYS_INIT(recsys_event, ev, .type = RECSYS_EVENT_VIEW, .user_id = "shopper",
                    .item_id = views[i], .position = -1);
        if (recsys_feedback(e, &ev) != RECSYS_OK)
            goto fail;
    }
    RECSYS_INIT(recsys_event, other, .type = RECSYS_EVENT_PURCHASE, .user_id = "someone",
                .item_id = "l2", .position = -1);
    if (recsys_feedback(e, &other) != RECSYS_OK || recsys_refresh(e) != RECSYS_OK)
        goto fail;
    if (recsys_engine_set_int(e, RECSYS_OPT_FILTER_SEEN, 0) != RECSYS_OK)
        goto fail;

    budget_ranker *state = calloc(1, sizeof *state);
    if (!state)
        goto fail;
    state->per_1000 = 0.5;
    RECSYS_INIT(recsys_ranker_vtable, vt, .ctx = state, .destroy = budget_destroy,
                .score = budget_score);
    /* from here on the engine owns state: on failure destroy has already run */
    if (recsys_engine_set_ranker(e, "budget", &vt) != RECSYS_OK)
        goto fail;
    if (show(e, "shopper", NULL) || show(e, "shopper", "blend"))
        goto done;
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "plugin_ranker: %s\n", recsys_last_error());
done:
    recsys_engine_free(e);
    return rc;
}
