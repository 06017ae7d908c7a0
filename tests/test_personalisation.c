/* test_personalisation.c - end to end: the engine's recommendations find the items synthetic
 * users turned to last (held out from training) clearly more often than popularity alone.
 *
 * Data: data/catalog.json (from the repo root, where `make test` runs) or $RECSYS_CATALOG;
 * skips when neither is readable. 300 users from tools/synth (fixed seed), each with the
 * last 3 positive items held out. The same engine answers twice per user:
 *   personalised - every built-in plug-in, the defaults;
 *   popular      - only the "popular" source, with the ranker's personal weights (category,
 *                  tag, session affinity) set to their minimum on the request.
 * Reported: hit rate@10 (users with a held-out item in their top 10) and recall@10, with a
 * paired sign test over users. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "recsys.h"
#include "synth.h"

#define TOP_K 10

/* Every candidate source but "popular" that the engine may have (absent ones are skipped). */
static const char *const OTHER_SOURCES[] = {
    "content", "trending", "itemknn", "rp3beta", "ease", "ials", "session", "vector", "search",
    "campaign",
};

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
            *len = fread(buf, 1, (size_t)n, f);
            buf[*len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

#define OK(call)                                                                        \
    do {                                                                                \
        recsys_status st_ = (call);                                                     \
        if (st_ != RECSYS_OK)                                                           \
            fail_msg("%s: %s (%s)", #call, recsys_last_error(), recsys_status_str(st_)); \
    } while (0)

/* Hits of user u's held-out items in the top TOP_K of one request. */
static size_t hits_for(recsys_engine *e, const synth *s, size_t u, int popular_only)
{
    recsys_request *req = NULL;
    recsys_result *res = NULL;
    OK(recsys_request_new(&req));
    OK(recsys_request_set_user(req, synth_user_id(s, u)));
    OK(recsys_request_set_int(req, RECSYS_OPT_TOP_N, TOP_K));
    if (popular_only) {
        static const int32_t personal[] = {RECSYS_OPT_RANK_W_CATEGORY, RECSYS_OPT_RANK_W_TAG,
                                           RECSYS_OPT_RANK_W_SESSION};
        for (size_t k = 0; k < sizeof personal / sizeof personal[0]; k++) {
            recsys_option_desc d;
            memset(&d, 0, sizeof d);
            d.struct_size = sizeof d;
            OK(recsys_option_info(personal[k], &d));
            OK(recsys_request_set_double(req, personal[k], d.min_value > 0 ? d.min_value : 0));
        }
    }
    OK(recsys_recommend(e, req, &res));
    size_t hits = 0;
    for (size_t i = 0; popular_only && i < recsys_result_count(res); i++) {
        const char *name = NULL;
        double score;
        for (size_t j = 0; j < recsys_result_source_count(res, i); j++) {
            OK(recsys_result_source(res, i, j, &name, &score));
            if (strcmp(name, "popular") != 0) /* a new source: add it to OTHER_SOURCES */
                fail_msg("baseline item %s came from source '%s'", recsys_result_item_id(res, i),
                         name);
        }
    }
    for (size_t i = 0; i < recsys_result_count(res); i++)
        for (size_t j = 0; j < synth_heldout_count(s, u); j++)
            hits += strcmp(recsys_result_item_id(res, i), synth_heldout_item(s, u, j)) == 0;
    recsys_result_free(res);
    recsys_request_free(req);
    return hits;
}

static void personalisation_beats_popularity(void **state)
{
    (void)state;
    size_t len = 0;
    char *text = read_file("data/catalog.json", &len);
    if (!text && getenv("RECSYS_CATALOG"))
        text = read_file(getenv("RECSYS_CATALOG"), &len);
    if (!text) {
        print_message("no catalog: data/catalog.json and $RECSYS_CATALOG missing\n");
        skip();
    }
    synth_opts so;
    synth_opts_init(&so);
    so.seed = 4242;
    so.users = 300;
    so.holdout = 3;
    synth *s = NULL;
    OK(synth_new(text, len, &so, &s));

    recsys_engine_opts eo;
    recsys_engine_opts_init(&eo);
    eo.seed = 1;
    recsys_engine *e = NULL;
    OK(recsys_engine_new(&eo, &e));
    OK(recsys_engine_set_int(e, RECSYS_OPT_NOW, so.end));
    OK(recsys_engine_set_int(e, RECSYS_OPT_LOG_IMPRESSIONS, 0));
    int64_t max_json = 0;
    OK(recsys_engine_get_int(e, RECSYS_OPT_MAX_JSON_BYTES, &max_json));
    if (max_json < (int64_t)len)
        OK(recsys_engine_set_int(e, RECSYS_OPT_MAX_JSON_BYTES, (int64_t)len));
    OK(recsys_catalog_upsert_json(e, text, len));
    OK(synth_load_users(s, e));
    OK(synth_load_events(s, e));
    OK(recsys_refresh(e));

    size_t nu = synth_user_count(s), users = 0, held = 0;
    size_t *pers = calloc(nu, sizeof *pers), *pop = calloc(nu, sizeof *pop);
    assert_non_null(pers);
    assert_non_null(pop);
    for (size_t u = 0; u < nu; u++)
        if (synth_heldout_count(s, u) > 0)
            pers[u] = hits_for(e, s, u, 0);
    /* the baseline: popular only (these switches hold for every later request) */
    size_t disabled = 0;
    for (size_t k = 0; k < sizeof OTHER_SOURCES / sizeof OTHER_SOURCES[0]; k++) {
        recsys_status st =
            recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, OTHER_SOURCES[k], 0);
        if (st != RECSYS_OK && st != RECSYS_E_NOT_FOUND)
            fail_msg("disabling source %s: %s", OTHER_SOURCES[k], recsys_last_error());
        disabled += st == RECSYS_OK;
    }
    assert_true(disabled >= 1); /* at least "content" */
    for (size_t u = 0; u < nu; u++)
        if (synth_heldout_count(s, u) > 0)
            pop[u] = hits_for(e, s, u, 1);

    size_t hit_users[2] = {0, 0}, hits[2] = {0, 0}, wins = 0, losses = 0;
    for (size_t u = 0; u < nu; u++) {
        if (synth_heldout_count(s, u) == 0)
            continue;
        users++;
        held += synth_heldout_count(s, u);
        hit_users[0] += pers[u] > 0;
        hit_users[1] += pop[u] > 0;
        hits[0] += pers[u];
        hits[1] += pop[u];
        wins += pers[u] > pop[u];
        losses += pers[u] < pop[u];
    }
    double hr_pers = (double)hit_users[0] / (double)users;
    double hr_pop = (double)hit_users[1] / (double)users;
    double rc_pers = (double)hits[0] / (double)held, rc_pop = (double)hits[1] / (double)held;
    double z = wins + losses ? ((double)wins - (double)losses) / sqrt((double)(wins + losses)) : 0;
    print_message("%zu users, %zu held-out items (last 3 positives each), top %d:\n", users,
                  held, TOP_K);
    print_message("  personalised: hit rate %.3f  recall %.3f\n", hr_pers, rc_pers);
    print_message("  popular only: hit rate %.3f  recall %.3f\n", hr_pop, rc_pop);
    print_message("  per user: personalised better for %zu, worse for %zu (sign test z = %.1f)\n",
                  wins, losses, z);
    assert_true(users >= 200);
    assert_true(rc_pers >= 1.5 * rc_pop);
    assert_true(hr_pers - hr_pop >= 0.05);
    assert_true(z >= 3.0);

    free(pers);
    free(pop);
    recsys_engine_free(e);
    synth_free(s);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(personalisation_beats_popularity),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("integration/personalisation", tests, NULL, NULL);
}
