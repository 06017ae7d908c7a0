/*
 * quickstart.c - the README's first program: an engine, a tiny catalog, a few feedback
 * events, one recommendation with its explanations. Build: make; run: build/examples/quickstart
 */
#include <stdio.h>

#include "recsys.h"

static const char CATALOG[] =
    "[{\"item_id\":\"c1\",\"title\":\"Distributed Systems Course\",\"category\":\"education\","
    "  \"tags\":[\"backend\",\"scalability\",\"architecture\"]},"
    " {\"item_id\":\"c2\",\"title\":\"Practical Kubernetes\",\"category\":\"education\","
    "  \"tags\":[\"devops\",\"scalability\",\"cloud\"]},"
    " {\"item_id\":\"c3\",\"title\":\"Machine Learning with Python\",\"category\":\"education\","
    "  \"tags\":[\"machine-learning\",\"python\"]},"
    " {\"item_id\":\"c4\",\"title\":\"System Design Masterclass\",\"category\":\"education\","
    "  \"tags\":[\"architecture\",\"backend\",\"system-design\"]},"
    " {\"item_id\":\"c5\",\"title\":\"Watercolour for Beginners\",\"category\":\"education\","
    "  \"tags\":[\"art\",\"creative\"]},"
    " {\"item_id\":\"c6\",\"title\":\"Database Internals\",\"category\":\"education\","
    "  \"tags\":[\"backend\",\"databases\"]}]";

/* On failure: print what failed with the library's message, then clean up. */
#define CHECK(call)                                                                  \
    do {                                                                             \
        if ((call) != RECSYS_OK) {                                                   \
            fprintf(stderr, "%s failed: %s\n", #call, recsys_last_error());          \
            goto done;                                                               \
        }                                                                            \
    } while (0)

int main(void)
{
    recsys_engine *engine = NULL;
    recsys_request *req = NULL;
    recsys_result *res = NULL;
    int rc = 1;

    CHECK(recsys_engine_new(NULL, &engine)); /* memory store, built-in plug-ins */
    CHECK(recsys_catalog_upsert_json(engine, CATALOG, sizeof CATALOG - 1));

    const struct { const char *user, *item; int32_t type; double value; } seen[] = {
        {"user_123", "c1", RECSYS_EVENT_PURCHASE, 0}, {"user_123", "c1", RECSYS_EVENT_RATING, 5},
        {"user_123", "c5", RECSYS_EVENT_DISLIKE, 0},  {"user_456", "c2", RECSYS_EVENT_PURCHASE, 0},
    };
    for (size_t i = 0; i < sizeof seen / sizeof seen[0]; i++) {
        RECSYS_INIT(recsys_event, ev, .type = seen[i].type, .value = seen[i].value,
                    .user_id = seen[i].user, .item_id = seen[i].item, .position = -1);
        CHECK(recsys_feedback(engine, &ev)); /* timestamp 0 = now */
    }
    CHECK(recsys_refresh(engine));

    CHECK(recsys_request_new(&req));
    CHECK(recsys_request_set_user(req, "user_123"));
    CHECK(recsys_recommend(engine, req, &res));
    for (size_t i = 0; i < recsys_result_count(res); i++)
        printf("%zu. %-3s %.3f  %s\n", i + 1, recsys_result_item_id(res, i),
               recsys_result_score(res, i), recsys_result_explanation(res, i));
    rc = 0;
done:
    recsys_result_free(res);
    recsys_request_free(req);
    recsys_engine_free(engine);
    return rc;
}
