/*
 * movielens.c - MovieLens 100K end to end in C: the public evaluation API reads and splits
 * the data per EVAL_PROTOCOL.md, an engine learns iALS from the train part, every test user
 * gets a list in one recsys_recommend_batch call, the lists are scored (NDCG, recall...,
 * the same figures as recsys-bench eval), and one user's recommendations are printed with
 * titles and explanations.
 *
 * Usage: movielens DATA_DIR/ml-100k [user-index]
 * e.g.   build/examples/movielens ../shared/data/ml-100k
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recsys.h"

#define CHECK(call)                                                                  \
    do {                                                                             \
        if ((call) != RECSYS_OK) {                                                   \
            fprintf(stderr, "movielens: %s: %s\n", #call, recsys_last_error());      \
            goto done;                                                               \
        }                                                                            \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR/ml-100k [user-index]\n", argv[0]);
        return 2;
    }
    size_t show = argc > 2 ? strtoul(argv[2], NULL, 10) : 0;
    recsys_eval_dataset *ds = NULL;
    recsys_engine *e = NULL;
    recsys_eval_run *run = NULL;
    recsys_request **reqs = NULL;
    recsys_result **res = NULL;
    recsys_request *one = NULL;
    recsys_result *mine = NULL;
    char *info = NULL, *metrics = NULL;
    size_t n = 0;
    int rc = 1;

    CHECK(recsys_eval_dataset_open(argv[1], "ml-100k", RECSYS_EVAL_VARIANT_ALL, NULL, NULL, &ds));
    CHECK(recsys_eval_dataset_info_json(ds, &info));
    printf("data set: %s\n", info);

    RECSYS_INIT(recsys_engine_opts, opts, .seed = 2025);
    CHECK(recsys_engine_new(&opts, &e));
    CHECK(recsys_eval_dataset_configure(ds, e, RECSYS_EVAL_TRAIN));
    CHECK(recsys_eval_dataset_feed(ds, e, RECSYS_EVAL_TRAIN, RECSYS_EVAL_FEED_METADATA));
    const char *off[] = { "content", "popular", "trending", "itemknn", "rp3beta", "ease",
                          "session", "vector", "search", "campaign" };
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
        recsys_status st = recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, off[i], 0);
        if (st != RECSYS_OK && st != RECSYS_E_NOT_FOUND)
            CHECK(st);
    }
    CHECK(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, "ials", 1));
    CHECK(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_RANKER, "blend", 0));
    CHECK(recsys_engine_set_double(e, RECSYS_OPT_IALS_REG, 10));
    CHECK(recsys_engine_set_double(e, RECSYS_OPT_IALS_ALPHA, 0.1));
    CHECK(recsys_refresh(e)); /* trains iALS */

    n = recsys_eval_dataset_user_count(ds, RECSYS_EVAL_TEST);
    reqs = calloc(n, sizeof *reqs);
    res = calloc(n, sizeof *res);
    if (!reqs || !res)
        goto done;
    for (size_t u = 0; u < n; u++) {
        CHECK(recsys_request_new(&reqs[u]));
        CHECK(recsys_request_set_user(reqs[u], recsys_eval_dataset_user_id(ds, RECSYS_EVAL_TEST, u)));
    }
    CHECK(recsys_recommend_batch(e, (const recsys_request *const *)reqs, n, 0, res, NULL));
    CHECK(recsys_eval_run_new(ds, RECSYS_EVAL_TEST, &run));
    for (size_t u = 0; u < n; u++)
        CHECK(recsys_eval_run_add_result(run, recsys_eval_dataset_user_id(ds, RECSYS_EVAL_TEST, u),
                                         res[u]));
    CHECK(recsys_eval_run_metrics_json(run, &metrics));
    printf("iALS on the test part (%zu users): %s\n", n, metrics);

    /* one user's list, explained (the protocol turned explanations off: on for this one) */
    const char *uid = recsys_eval_dataset_user_id(ds, RECSYS_EVAL_TEST, show < n ? show : 0);
    CHECK(recsys_request_new(&one));
    CHECK(recsys_request_set_user(one, uid));
    CHECK(recsys_request_set_int(one, RECSYS_OPT_TOP_N, 5));
    CHECK(recsys_request_set_int(one, RECSYS_OPT_EXPLAIN, 1));
    CHECK(recsys_recommend(e, one, &mine));
    printf("\nfor user %s:\n", uid);
    for (size_t i = 0; i < recsys_result_count(mine); i++) {
        char *item = NULL;
        CHECK(recsys_catalog_get_json(e, recsys_result_item_id(mine, i), &item));
        const char *t = strstr(item, "\"title\":\"");
        int tl = 0;
        if (t) {
            t += 9;
            while (t[tl] && t[tl] != '"')
                tl++;
        }
        printf("  %zu. %-45.*s %.3f  %s\n", i + 1, tl, t ? t : "", recsys_result_score(mine, i),
               recsys_result_explanation(mine, i));
        recsys_string_free(item);
    }
    rc = 0;
done:
    for (size_t u = 0; res && reqs && u < n; u++) {
        recsys_result_free(res[u]);
        recsys_request_free(reqs[u]);
    }
    free(res);
    free(reqs);
    recsys_result_free(mine);
    recsys_request_free(one);
    recsys_string_free(info);
    recsys_string_free(metrics);
    recsys_eval_run_free(run);
    recsys_engine_free(e);
    recsys_eval_dataset_free(ds);
    return rc;
}
