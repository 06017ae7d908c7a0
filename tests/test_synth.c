/* test_synth.c - the synthetic user and event generator (tools/synth): determinism, event
 * counts and ranges, held-out sets disjoint from training, tastes visible in the events,
 * age and region rules, and errors. Reads data/catalog.json (from the repo root, where
 * `make test` runs), or $RECSYS_CATALOG; skips when neither is readable. */
#include <jansson.h>
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

typedef struct world {
    char *text; /* the catalog */
    size_t len;
    json_t *root;
    synth *s; /* defaults, 200 users, holdout 3 */
} world;

static world g;

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

static json_t *item(const char *id)
{
    size_t i;
    json_t *it;
    json_array_foreach(g.root, i, it) {
        if (strcmp(json_string_value(json_object_get(it, "item_id")), id) == 0)
            return it;
    }
    return NULL;
}

static const char *item_category(const char *id)
{
    return json_string_value(json_object_get(item(id), "category"));
}

static synth *make(uint64_t seed, size_t users, size_t holdout)
{
    synth_opts o;
    synth_opts_init(&o);
    o.seed = seed;
    o.users = users;
    o.holdout = holdout;
    synth *s = NULL;
    recsys_status st = synth_new(g.text, g.len, &o, &s);
    if (st != RECSYS_OK)
        fail_msg("synth_new: %s", recsys_last_error());
    return s;
}

static int group_setup(void **state)
{
    (void)state;
    const char *env = getenv("RECSYS_CATALOG");
    g.text = read_file("data/catalog.json", &g.len);
    if (!g.text && env)
        g.text = read_file(env, &g.len);
    if (!g.text)
        return 0; /* every test skips */
    json_error_t err;
    g.root = json_loadb(g.text, g.len, 0, &err);
    if (!json_is_array(g.root))
        return -1;
    synth_opts o;
    synth_opts_init(&o);
    o.users = 200;
    o.holdout = 3;
    if (synth_new(g.text, g.len, &o, &g.s) != RECSYS_OK) {
        print_error("synth_new: %s\n", recsys_last_error());
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    synth_free(g.s);
    json_decref(g.root);
    free(g.text);
    memset(&g, 0, sizeof g);
    return 0;
}

#define NEED_CATALOG()                                                                  \
    do {                                                                                \
        if (!g.s) {                                                                     \
            print_message("no catalog: data/catalog.json and $RECSYS_CATALOG missing\n"); \
            skip();                                                                     \
        }                                                                               \
    } while (0)

static int same_event(const recsys_event *a, const recsys_event *b)
{
    return a->type == b->type && a->timestamp == b->timestamp && a->value == b->value &&
           strcmp(a->user_id, b->user_id) == 0 &&
           (a->item_id && b->item_id ? strcmp(a->item_id, b->item_id) == 0
                                     : a->item_id == b->item_id) &&
           (a->query && b->query ? strcmp(a->query, b->query) == 0 : a->query == b->query);
}

/* ------------------------------------------------------------------------ determinism */

static void same_seed_same_world(void **state)
{
    (void)state;
    NEED_CATALOG();
    synth *a = make(11, 60, 2), *b = make(11, 60, 2), *c = make(12, 60, 2);
    assert_int_equal(synth_event_count(a), synth_event_count(b));
    for (size_t i = 0; i < synth_event_count(a); i++) {
        recsys_event x, y;
        assert_int_equal(synth_event_get(a, i, &x), RECSYS_OK);
        assert_int_equal(synth_event_get(b, i, &y), RECSYS_OK);
        assert_true(same_event(&x, &y));
    }
    for (size_t u = 0; u < synth_user_count(a); u++) {
        assert_int_equal(synth_user_age(a, u), synth_user_age(b, u));
        assert_int_equal(synth_heldout_count(a, u), synth_heldout_count(b, u));
        for (size_t j = 0; j < synth_heldout_count(a, u); j++)
            assert_string_equal(synth_heldout_item(a, u, j), synth_heldout_item(b, u, j));
    }
    /* another seed gives another world */
    size_t differ = synth_event_count(a) != synth_event_count(c);
    for (size_t i = 0; !differ && i < synth_event_count(a); i++) {
        recsys_event x, y;
        assert_int_equal(synth_event_get(a, i, &x), RECSYS_OK);
        assert_int_equal(synth_event_get(c, i, &y), RECSYS_OK);
        differ = !same_event(&x, &y);
    }
    assert_true(differ);
    synth_free(a);
    synth_free(b);
    synth_free(c);
}

/* User i is the same whether 20 or 80 users are drawn (one PRNG stream per user). */
static void users_do_not_depend_on_the_user_count(void **state)
{
    (void)state;
    NEED_CATALOG();
    synth *a = make(5, 20, 0), *b = make(5, 80, 0);
    for (size_t u = 0; u < 20; u++) {
        assert_string_equal(synth_user_id(a, u), synth_user_id(b, u));
        assert_int_equal(synth_user_age(a, u), synth_user_age(b, u));
        assert_int_equal(synth_user_event_count(a, u), synth_user_event_count(b, u));
        assert_int_equal(synth_user_interest_count(a, u), synth_user_interest_count(b, u));
        for (size_t j = 0; j < synth_user_interest_count(a, u); j++)
            assert_string_equal(synth_user_interest(a, u, j), synth_user_interest(b, u, j));
    }
    synth_free(a);
    synth_free(b);
}

/* ------------------------------------------------------------------------ counts, ranges */

static void events_are_in_range_and_ordered(void **state)
{
    (void)state;
    NEED_CATALOG();
    synth_opts o;
    synth_opts_init(&o);
    const synth *s = g.s;
    size_t n = synth_event_count(s), users = synth_user_count(s);
    assert_int_equal(users, 200);
    /* 8 sessions of ~5 items, a few events per item: tens of events per user */
    assert_in_range(n, users * 20, users * 300);
    size_t per_type[13] = {0}, total_user = 0;
    int64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        recsys_event ev;
        assert_int_equal(synth_event_get(s, i, &ev), RECSYS_OK);
        assert_int_equal(ev.struct_size, sizeof ev);
        assert_in_range(ev.type, RECSYS_EVENT_VIEW, RECSYS_EVENT_SEARCH);
        per_type[ev.type]++;
        assert_true(ev.timestamp >= o.start && ev.timestamp < o.end);
        assert_true(ev.timestamp >= prev);
        prev = ev.timestamp;
        assert_true(synth_user_find(s, ev.user_id) < users);
        if (ev.type == RECSYS_EVENT_SEARCH) {
            assert_null(ev.item_id);
            assert_non_null(ev.query);
            assert_true(strlen(ev.query) > 1);
        } else {
            assert_non_null(item(ev.item_id));
            assert_null(ev.query);
        }
        if (ev.type == RECSYS_EVENT_RATING)
            assert_true(ev.value >= 1 && ev.value <= 5 && ev.value == floor(ev.value));
        if (ev.type == RECSYS_EVENT_WATCH_TIME || ev.type == RECSYS_EVENT_DWELL)
            assert_true(ev.value > 0);
    }
    for (size_t u = 0; u < users; u++) {
        assert_true(synth_user_event_count(s, u) > 0);
        total_user += synth_user_event_count(s, u);
    }
    assert_int_equal(total_user, n);
    /* every kind of signal is present, in plausible proportions */
    for (int t = RECSYS_EVENT_VIEW; t <= RECSYS_EVENT_SEARCH; t++)
        assert_true(per_type[t] > 0);
    assert_true(per_type[RECSYS_EVENT_VIEW] > per_type[RECSYS_EVENT_CLICK]);
    assert_true(per_type[RECSYS_EVENT_CLICK] > per_type[RECSYS_EVENT_PURCHASE]);
    assert_true(per_type[RECSYS_EVENT_ADD_TO_CART] >= per_type[RECSYS_EVENT_PURCHASE] / 2);
    print_message("%zu users, %zu events: view %zu click %zu like %zu dislike %zu cart %zu "
                  "purchase %zu skip %zu rating %zu watch %zu dwell %zu search %zu\n",
                  users, n, per_type[2], per_type[3], per_type[4], per_type[5], per_type[6],
                  per_type[7], per_type[8], per_type[9], per_type[10], per_type[11],
                  per_type[12]);
}

static void users_have_profiles(void **state)
{
    (void)state;
    NEED_CATALOG();
    const synth *s = g.s;
    size_t minors = 0, unknown_age = 0, unknown_region = 0, single = 0;
    for (size_t u = 0; u < synth_user_count(s); u++) {
        int age = synth_user_age(s, u);
        assert_true(age == -1 || (age >= 13 && age <= 90));
        minors += age >= 0 && age < 18;
        unknown_age += age == -1;
        unknown_region += synth_user_region(s, u) == NULL;
        assert_in_range(synth_user_interest_count(s, u), 1, 3);
        for (size_t j = 0; j < synth_user_interest_count(s, u); j++)
            assert_true(strlen(synth_user_interest(s, u, j)) > 1);
        const char *top = synth_user_top_category(s, u);
        assert_non_null(top);
        double sum = 0;
        const char *cats[] = {"education", "laptop", "film", "restaurant"};
        for (size_t c = 0; c < 4; c++)
            sum += synth_user_category_share(s, u, cats[c]);
        assert_true(fabs(sum - 1.0) < 1e-9);
        single += synth_user_category_share(s, u, top) > 0.999;
    }
    assert_null(synth_user_id(s, synth_user_count(s)));
    assert_int_equal(synth_user_find(s, "nobody"), (size_t)-1);
    /* about 10% minors, 15% unknown age, half single-domain (wide bounds: 200 users) */
    assert_in_range(minors, 5, 45);
    assert_in_range(unknown_age, 10, 60);
    assert_in_range(single, 60, 140);
    assert_true(unknown_region < 30);
}

/* ------------------------------------------------------------------------ held out */

static void heldout_items_are_absent_from_training(void **state)
{
    (void)state;
    NEED_CATALOG();
    const synth *s = g.s;
    size_t users_with = 0, total = 0;
    for (size_t u = 0; u < synth_user_count(s); u++) {
        size_t k = synth_heldout_count(s, u);
        assert_true(k <= 3);
        users_with += k > 0;
        total += k;
        for (size_t j = 0; j < k; j++) {
            const char *id = synth_heldout_item(s, u, j);
            assert_non_null(item(id));
            for (size_t q = 0; q < j; q++) /* distinct */
                assert_string_not_equal(id, synth_heldout_item(s, u, q));
            /* positives are only ever drawn from items in stock */
            assert_true(json_is_true(json_object_get(item(id), "available")));
        }
        assert_null(synth_heldout_item(s, u, k));
    }
    for (size_t i = 0; i < synth_event_count(s); i++) {
        recsys_event ev;
        assert_int_equal(synth_event_get(s, i, &ev), RECSYS_OK);
        if (!ev.item_id)
            continue;
        size_t u = synth_user_find(s, ev.user_id);
        for (size_t j = 0; j < synth_heldout_count(s, u); j++)
            assert_string_not_equal(ev.item_id, synth_heldout_item(s, u, j));
    }
    /* nearly everyone has something held out */
    assert_true(users_with * 10 >= synth_user_count(s) * 8);
    print_message("held out %zu items for %zu of %zu users\n", total, users_with,
                  synth_user_count(s));
}

/* Holding out changes nothing else: the training events of a holdout run are exactly the
 * no-holdout events minus those on held-out items. */
static void holdout_only_removes_heldout_events(void **state)
{
    (void)state;
    NEED_CATALOG();
    synth *all = make(3, 40, 0), *part = make(3, 40, 2);
    size_t j = 0, removed = 0;
    for (size_t i = 0; i < synth_event_count(all); i++) {
        recsys_event ev, pv;
        assert_int_equal(synth_event_get(all, i, &ev), RECSYS_OK);
        size_t u = synth_user_find(all, ev.user_id);
        int held = 0;
        for (size_t h = 0; ev.item_id && h < synth_heldout_count(part, u); h++)
            held |= strcmp(ev.item_id, synth_heldout_item(part, u, h)) == 0;
        if (held) {
            removed++;
            continue;
        }
        assert_int_equal(synth_event_get(part, j++, &pv), RECSYS_OK);
        assert_true(same_event(&ev, &pv));
    }
    assert_int_equal(j, synth_event_count(part));
    assert_true(removed > 0);
    synth_free(all);
    synth_free(part);
}

/* ------------------------------------------------------------------------ tastes */

static void tastes_are_visible_in_events(void **state)
{
    (void)state;
    NEED_CATALOG();
    const synth *s = g.s;
    double pos_sum = 0, neg_sum = 0, all_sum = 0;
    size_t pos_n = 0, neg_n = 0, all_n = 0, in_top = 0, item_events = 0;
    size_t users_ok = 0, users_cmp = 0;
    size_t nu = synth_user_count(s);
    double *up = calloc(nu, sizeof *up), *un = calloc(nu, sizeof *un);
    size_t *upn = calloc(nu, sizeof *upn), *unn = calloc(nu, sizeof *unn);
    assert_non_null(up);
    assert_non_null(un);
    assert_non_null(upn);
    assert_non_null(unn);
    for (size_t i = 0; i < synth_event_count(s); i++) {
        recsys_event ev;
        assert_int_equal(synth_event_get(s, i, &ev), RECSYS_OK);
        if (!ev.item_id)
            continue;
        size_t u = synth_user_find(s, ev.user_id);
        double a = synth_user_affinity(s, u, ev.item_id);
        item_events++;
        in_top += strcmp(item_category(ev.item_id), synth_user_top_category(s, u)) == 0;
        all_sum += a;
        all_n++;
        int pos = ev.type == RECSYS_EVENT_LIKE || ev.type == RECSYS_EVENT_PURCHASE ||
                  (ev.type == RECSYS_EVENT_RATING && ev.value >= 4);
        int neg = ev.type == RECSYS_EVENT_DISLIKE || ev.type == RECSYS_EVENT_SKIP ||
                  (ev.type == RECSYS_EVENT_RATING && ev.value <= 2);
        if (pos) {
            pos_sum += a;
            pos_n++;
            up[u] += a;
            upn[u]++;
        }
        if (neg) {
            neg_sum += a;
            neg_n++;
            un[u] += a;
            unn[u]++;
        }
    }
    for (size_t u = 0; u < nu; u++) {
        if (upn[u] && unn[u]) {
            users_cmp++;
            users_ok += up[u] / (double)upn[u] > un[u] / (double)unn[u];
        }
    }
    double pm = pos_sum / (double)pos_n, nm = neg_sum / (double)neg_n, am = all_sum / (double)all_n;
    print_message("mean affinity: positive %.3f, negative %.3f, all %.3f; %zu/%zu users "
                  "like better than they dislike; %.1f%% of item events in the top category\n",
                  pm, nm, am, users_ok, users_cmp, 100.0 * (double)in_top / (double)item_events);
    assert_true(pos_n > 100 && neg_n > 100);
    assert_true(pm > 0.5);
    assert_true(nm < 0.0);
    assert_true(pm > am && am > nm);
    assert_true(users_ok * 10 >= users_cmp * 9);
    assert_true(in_top * 10 >= item_events * 6);
    free(up);
    free(un);
    free(upn);
    free(unn);
}

/* Searches use the user's taste words. */
static void searches_use_taste_words(void **state)
{
    (void)state;
    NEED_CATALOG();
    const synth *s = g.s;
    size_t searches = 0, matched = 0;
    for (size_t i = 0; i < synth_event_count(s); i++) {
        recsys_event ev;
        assert_int_equal(synth_event_get(s, i, &ev), RECSYS_OK);
        if (ev.type != RECSYS_EVENT_SEARCH)
            continue;
        searches++;
        size_t u = synth_user_find(s, ev.user_id);
        for (size_t j = 0; j < synth_user_interest_count(s, u); j++)
            if (strstr(ev.query, synth_user_interest(s, u, j))) {
                matched++;
                break;
            }
    }
    assert_true(searches > 50);
    /* a query names a liked tag, which is often (not always) a stated interest */
    assert_true(matched * 3 >= searches);
}

/* ------------------------------------------------------------------------ rules */

static void age_and_region_rules_hold(void **state)
{
    (void)state;
    NEED_CATALOG();
    const synth *s = g.s;
    size_t minor_events = 0;
    for (size_t i = 0; i < synth_event_count(s); i++) {
        recsys_event ev;
        assert_int_equal(synth_event_get(s, i, &ev), RECSYS_OK);
        if (!ev.item_id)
            continue;
        size_t u = synth_user_find(s, ev.user_id);
        json_t *it = item(ev.item_id);
        int age = synth_user_age(s, u);
        int min_age = (int)json_integer_value(json_object_get(it, "min_age"));
        if (age >= 0 && age < 18)
            minor_events++;
        if (age >= 0)
            assert_true(min_age <= age);
        json_t *regions = json_object_get(it, "regions");
        if (json_array_size(regions) > 0) {
            const char *r = synth_user_region(s, u);
            assert_non_null(r);
            int ok = 0;
            size_t k;
            json_t *v;
            json_array_foreach(regions, k, v) {
                ok |= strcmp(json_string_value(v), r) == 0;
            }
            assert_true(ok);
        }
        assert_true(json_integer_value(json_object_get(it, "created")) <= ev.timestamp);
    }
    assert_true(minor_events > 0);
}

/* ------------------------------------------------------------------------ errors */

static void bad_input_is_reported(void **state)
{
    (void)state;
    synth *s = (synth *)&s;
    assert_int_equal(synth_new("[", 1, NULL, &s), RECSYS_E_INVALID_ARG);
    assert_null(s);
    assert_non_null(strstr(recsys_last_error(), "catalog"));
    assert_int_equal(synth_new("[]", 2, NULL, &s), RECSYS_E_INVALID_ARG);
    assert_int_equal(synth_new("[{\"title\":\"no id\"}]", 19, NULL, &s), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "item_id"));
    assert_int_equal(synth_new(NULL, 0, NULL, &s), RECSYS_E_INVALID_ARG);
    assert_int_equal(synth_new("[]", 2, NULL, NULL), RECSYS_E_INVALID_ARG);
    synth_opts o;
    synth_opts_init(&o);
    o.end = o.start;
    const char *one = "[{\"item_id\":\"a\",\"category\":\"film\",\"tags\":[\"drama\"]}]";
    assert_int_equal(synth_new(one, strlen(one), &o, &s), RECSYS_E_INVALID_ARG);
    /* a one-item catalog works */
    synth_opts_init(&o);
    o.users = 3;
    assert_int_equal(synth_new(one, strlen(one), &o, &s), RECSYS_OK);
    assert_int_equal(synth_user_count(s), 3);
    recsys_event ev;
    assert_int_equal(synth_event_get(s, synth_event_count(s), &ev), RECSYS_E_INVALID_ARG);
    assert_int_equal(synth_load_users(s, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(synth_load_events(NULL, NULL), RECSYS_E_INVALID_ARG);
    synth_free(s);
    synth_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_seed_same_world),
        cmocka_unit_test(users_do_not_depend_on_the_user_count),
        cmocka_unit_test(events_are_in_range_and_ordered),
        cmocka_unit_test(users_have_profiles),
        cmocka_unit_test(heldout_items_are_absent_from_training),
        cmocka_unit_test(holdout_only_removes_heldout_events),
        cmocka_unit_test(tastes_are_visible_in_events),
        cmocka_unit_test(searches_use_taste_words),
        cmocka_unit_test(age_and_region_rules_hold),
        cmocka_unit_test(bad_input_is_reported),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("tools/synth", tests, group_setup, group_teardown);
}
