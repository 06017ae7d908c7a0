/*
 * demo.c - the main job (`make demo`): loads the sample catalog, simulates a few hundred
 * users with tools/synth, and shows personalised, explained recommendations for a film fan,
 * a laptop shopper, a course learner, a cold-start user, a minor and a free-text query.
 * Reproducible: a fixed seed and a fixed clock (RECSYS_OPT_NOW).
 *
 * Usage: demo [catalog.json]      (default data/catalog.json)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recsys.h"
#include "synth.h"

#define NOW 1751328000 /* 2025-07-01T00:00:00Z: the simulated events end here */
#define DAY 86400

static json_t *catalog; /* the same file, parsed, for titles and facts when printing */

static int fail(const char *what)
{
    fprintf(stderr, "demo: %s: %s\n", what, recsys_last_error());
    return 1;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
            *len = fread(buf, 1, (size_t)n, f);
            buf[*len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

static json_t *item_json(const char *id)
{
    size_t i;
    json_t *it;
    json_array_foreach(catalog, i, it) {
        const char *s = json_string_value(json_object_get(it, "item_id"));
        if (s && strcmp(s, id) == 0)
            return it;
    }
    return NULL;
}

static const char *item_str(const char *id, const char *key)
{
    const char *s = id ? json_string_value(json_object_get(item_json(id), key)) : NULL;
    return s ? s : "";
}

static void print_day(int64_t ts)
{
    time_t t = (time_t)ts;
    struct tm tm;
    char buf[16];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    printf("%s", buf);
}

/* The user's profile and their last few meaningful events (as the engine received them). */
static void print_user(const synth *sy, size_t u)
{
    printf("   profile: age %d, region %s, interests:", synth_user_age(sy, u),
           synth_user_region(sy, u) ? synth_user_region(sy, u) : "unknown");
    for (size_t j = 0; j < synth_user_interest_count(sy, u); j++)
        printf("%s \"%s\"", j ? "," : "", synth_user_interest(sy, u, j));
    printf("\n   %zu events; most recent signals:\n", synth_user_event_count(sy, u));
    const char *id = synth_user_id(sy, u);
    size_t shown = 0;
    for (size_t i = synth_event_count(sy); i-- > 0 && shown < 5;) {
        recsys_event ev;
        if (synth_event_get(sy, i, &ev) != RECSYS_OK || strcmp(ev.user_id, id) != 0)
            continue;
        if (ev.type == RECSYS_EVENT_VIEW || ev.type == RECSYS_EVENT_DWELL ||
            ev.type == RECSYS_EVENT_CLICK || ev.type == RECSYS_EVENT_SKIP ||
            (ev.type == RECSYS_EVENT_WATCH_TIME && ev.value < 1800))
            continue; /* the strong signals only */
        printf("     ");
        print_day(ev.timestamp);
        if (ev.type == RECSYS_EVENT_SEARCH) {
            printf("  search       \"%s\"\n", ev.query);
        } else {
            char what[32];
            if (ev.type == RECSYS_EVENT_RATING)
                snprintf(what, sizeof what, "rated %.0f/5", ev.value);
            else if (ev.type == RECSYS_EVENT_WATCH_TIME)
                snprintf(what, sizeof what, "watched %.0fm", ev.value / 60);
            else
                snprintf(what, sizeof what, "%s", recsys_event_type_name(ev.type));
            printf("  %-12s %-15s %s\n", what, ev.item_id, item_str(ev.item_id, "title"));
        }
        shown++;
    }
}

/* Runs one request and prints the top 10 with sources, explanation and evidence. */
static int show(recsys_engine *e, const char *user, const char *query, int max_age)
{
    recsys_request *req = NULL;
    recsys_result *res = NULL;
    int rc = 1;
    if (recsys_request_new(&req) != RECSYS_OK || recsys_request_set_user(req, user) != RECSYS_OK ||
        recsys_request_set_query(req, query) != RECSYS_OK ||
        recsys_request_set_int(req, RECSYS_OPT_TOP_N, 10) != RECSYS_OK ||
        recsys_recommend(e, req, &res) != RECSYS_OK) {
        rc = fail("recommend");
        goto out;
    }
    printf("   %-4s %-15s %-38s %6s  %s\n", "rank", "item", "title", "score", "sources");
    size_t n = recsys_result_count(res), too_old = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = recsys_result_item_id(res, i);
        printf("   %-4zu %-15s %-38.38s %6.3f ", i + 1, id, item_str(id, "title"),
               recsys_result_score(res, i));
        for (size_t j = 0; j < recsys_result_source_count(res, i); j++) {
            const char *name;
            double sc;
            if (recsys_result_source(res, i, j, &name, &sc) != RECSYS_OK) {
                rc = fail("result source");
                goto out;
            }
            printf(" %s:%.2f", name, sc);
        }
        int age = (int)json_integer_value(json_object_get(item_json(id), "min_age"));
        if (age > 0)
            printf("  [%d+]", age);
        too_old += max_age >= 0 && age > max_age;
        printf("\n        why: %s\n", recsys_result_explanation(res, i));
        size_t ne = recsys_result_evidence_count(res, i);
        if (ne > 0)
            printf("        evidence:");
        for (size_t j = 0; j < ne; j++) {
            int32_t kind;
            const char *name, *value;
            if (recsys_result_evidence(res, i, j, &kind, &name, &value) != RECSYS_OK) {
                rc = fail("result evidence");
                goto out;
            }
            printf("%s %s=%s", j ? ";" : "", name, value);
            if (kind == RECSYS_EVIDENCE_HISTORY && item_json(value))
                printf(" (%s)", item_str(value, "title"));
        }
        if (ne > 0)
            printf("\n");
    }
    if (max_age >= 0)
        printf("   age check: %zu of %zu items need an age above %d\n", too_old, n, max_age);
    rc = 0;
out:
    recsys_result_free(res);
    recsys_request_free(req);
    return rc;
}

/* A typical fan: an adult who stays in the category, states 2-3 interests and has a
 * history of ordinary length. */
static size_t find_fan(const synth *sy, const char *category)
{
    size_t best = 0;
    double best_v = -1;
    for (size_t u = 0; u < synth_user_count(sy); u++) {
        double v = synth_user_category_share(sy, u, category);
        size_t n = synth_user_event_count(sy, u);
        if (synth_user_age(sy, u) < 18 || v < 0.99 || n < 60 || n > 250)
            continue;
        v += (double)synth_user_interest_count(sy, u) + (double)n / 1000.0;
        if (v > best_v) {
            best = u;
            best_v = v;
        }
    }
    return best;
}

/* A user the simulation does not know: a profile and, optionally, a few events. */
static int add_user(recsys_engine *e, const char *id, int age, const char *region,
                    const char *const *interests, const char *const *films, int64_t at)
{
    recsys_user_spec *spec = NULL;
    recsys_status st = recsys_user_spec_new(id, &spec);
    for (size_t i = 0; interests[i] && st == RECSYS_OK; i++)
        st = recsys_user_spec_add_interest(spec, interests[i]);
    if (st == RECSYS_OK)
        st = recsys_user_spec_set_demographics(spec, age, region);
    if (st == RECSYS_OK)
        st = recsys_user_upsert(e, spec);
    recsys_user_spec_free(spec);
    for (size_t i = 0; films && films[i] && st == RECSYS_OK; i++) {
        RECSYS_INIT(recsys_event, ev, .type = RECSYS_EVENT_LIKE,
                    .timestamp = at + (int64_t)i * 3600, .user_id = id, .item_id = films[i],
                    .position = -1);
        st = recsys_feedback(e, &ev);
    }
    return st == RECSYS_OK ? 0 : fail(id);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "data/catalog.json";
    size_t len = 0;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "demo: cannot read %s\n", path);
        return 1;
    }
    json_error_t jerr;
    catalog = json_loadb(text, len, 0, &jerr);
    if (!json_is_array(catalog)) {
        fprintf(stderr, "demo: %s: not a JSON array (%s)\n", path, jerr.text);
        free(text);
        return 1;
    }

    recsys_engine *e = NULL;
    synth *sy = NULL;
    int rc = 1;
    recsys_store_vtable store;
    recsys_store_vtable_init(&store);
    RECSYS_INIT(recsys_engine_opts, opts, .seed = 7, .store = &store);
    if (recsys_store_memory_new(NULL, &store) != RECSYS_OK ||
        recsys_engine_new(&opts, &e) != RECSYS_OK) { /* the engine owns the store from here */
        rc = fail("engine");
        goto out;
    }
    int64_t max_json = 0;
    if (recsys_engine_set_int(e, RECSYS_OPT_NOW, NOW) != RECSYS_OK ||
        recsys_engine_get_int(e, RECSYS_OPT_MAX_JSON_BYTES, &max_json) != RECSYS_OK ||
        (max_json < (int64_t)len &&
         recsys_engine_set_int(e, RECSYS_OPT_MAX_JSON_BYTES, (int64_t)len) != RECSYS_OK) ||
        recsys_catalog_upsert_json(e, text, len) != RECSYS_OK) {
        rc = fail("loading the catalog");
        goto out;
    }
    synth_opts so;
    synth_opts_init(&so);
    so.seed = 2025;
    so.users = 300;
    so.end = NOW;
    if (synth_new(text, len, &so, &sy) != RECSYS_OK || synth_load_users(sy, e) != RECSYS_OK ||
        synth_load_events(sy, e) != RECSYS_OK) {
        rc = fail("synthetic users");
        goto out;
    }
    /* Two people the simulation does not know: a newcomer and a 15-year-old thriller fan. */
    static const char *const newcomer[] = {"machine learning", "python", NULL};
    static const char *const teen[] = {"thriller", "mystery", NULL};
    const char *teen_films[4] = {NULL, NULL, NULL, NULL};
    size_t nf = 0, i;
    json_t *it;
    json_array_foreach(catalog, i, it) {
        json_t *tags = json_object_get(it, "tags");
        const char *genre = json_string_value(json_array_get(tags, 0));
        if (nf < 3 && genre && strcmp(genre, "thriller") == 0 &&
            json_integer_value(json_object_get(it, "min_age")) <= 12 &&
            !json_object_get(it, "regions"))
            teen_films[nf++] = json_string_value(json_object_get(it, "item_id"));
    }
    if (add_user(e, "newcomer", 29, "DE", newcomer, NULL, 0) ||
        add_user(e, "teen-15", 15, "GB", teen, teen_films, NOW - 3 * DAY))
        goto out;
    if (recsys_refresh(e) != RECSYS_OK) {
        rc = fail("refresh");
        goto out;
    }

    uint64_t n[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++)
        if (recsys_engine_count(e, RECSYS_COUNT_ITEMS + k, &n[k]) != RECSYS_OK) {
            rc = fail("counters");
            goto out;
        }
    printf("librecsys %s demo: %s\nengine: %llu items, %llu users, %llu events (synthetic, "
           "Jan-Jun 2025); clock ", recsys_version_string(), path, (unsigned long long)n[0],
           (unsigned long long)n[1], (unsigned long long)n[2]);
    print_day(NOW);
    printf("\n");

    static const struct { const char *label, *category; } fans[] = {
        {"A film fan", "film"}, {"A laptop shopper", "laptop"}, {"A course learner", "education"}};
    int section = 1;
    for (size_t k = 0; k < 3; k++, section++) {
        size_t u = find_fan(sy, fans[k].category);
        printf("\n== %d. %s: %s\n", section, fans[k].label, synth_user_id(sy, u));
        print_user(sy, u);
        if (show(e, synth_user_id(sy, u), NULL, -1))
            goto out;
    }
    printf("\n== %d. A cold-start user: newcomer (no history; age 29, DE;"
           " interests \"machine learning\", \"python\")\n", section++);
    if (show(e, "newcomer", NULL, -1))
        goto out;
    printf("\n== %d. A minor: teen-15 (age 15, GB; interests \"thriller\", \"mystery\"; liked",
           section++);
    for (size_t k = 0; k < nf; k++)
        printf(" %s", teen_films[k]);
    printf(")\n   films rated 16+ or 18+ must never appear\n");
    if (show(e, "teen-15", NULL, 15))
        goto out;
    printf("\n== %d. A search: anonymous request, query \"distributed systems\"\n", section++);
    if (show(e, NULL, "distributed systems", -1))
        goto out;
    rc = 0;
out:
    synth_free(sy);
    recsys_engine_free(e);
    json_decref(catalog);
    free(text);
    return rc;
}
