/* test_rules_pipeline.c - business rules through the whole pipeline (recsys_engine_rule_set,
 * recsys_request_add_rule, recsys_recommend), and the randomized proof the issue asks for:
 * thousands of random catalogs, users and rule sets, and in every final list zero violations
 * (availability, age, region, seen items, every FILTER and BLOCK rule, pins at their
 * positions, promotions' shares, buried items last) and a full list (K items, backfilled)
 * whenever at least K eligible items exist.
 *
 * The check is independent of the library: each rule comes from a template whose meaning
 * the test evaluates itself in C (no use of the expression language's evaluator), and the
 * eligible set is computed from the test's own copy of the catalog and events. Every item
 * gets one view from a background user, so the popular source proposes every item and the
 * candidate set is the catalog (candidates per source above its size): the eligible set is
 * then exactly what the filters leave. RECSYS_TEST_RULE_ROUNDS sets the number of rounds
 * (default 2000). */
#include "testkit.h"
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define MAXI 64
#define MAXR 8
#define NCATS 4
#define NTAGS 6

typedef struct titem {
    char id[16];
    int cat;
    unsigned tags; /* bit t: tag "t<t>" */
    double price;
    bool on_sale, available;
    int min_age;
    int region; /* -1: everywhere, else only "R<region>" */
} titem;

typedef enum tkind { T_PRICE_MAX, T_TAG_OR_CAT, T_BLOCK_CAT, T_BLOCK_SALE, T_BOOST_TAG,
                     T_BURY_PRICE, T_PIN_ID, T_PIN_CAT, T_PROMOTE_TAG, T_NKINDS } tkind;

typedef struct trule {
    tkind t;
    int cat, tag, pos, item;
    double num;
    char expr[128], item_id[16];
    recsys_rule r;
} trule;

static uint64_t rng;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static bool has_tag(const titem *it, int t) { return (it->tags >> t) & 1u; }

/* The template's condition, evaluated by the test. */
static bool holds(const trule *r, const titem *it)
{
    switch (r->t) {
    case T_PRICE_MAX: return it->price <= r->num;
    case T_TAG_OR_CAT: return has_tag(it, r->tag) || it->cat == r->cat;
    case T_BLOCK_CAT: return it->cat == r->cat;
    case T_BLOCK_SALE: return it->on_sale && it->price > r->num;
    case T_BOOST_TAG: return has_tag(it, r->tag);
    case T_BURY_PRICE: return it->price > r->num;
    case T_PIN_ID: return true;
    case T_PIN_CAT: return it->cat == r->cat;
    case T_PROMOTE_TAG: return has_tag(it, r->tag);
    default: return false;
    }
}

static void make_rule(trule *r, int nitems, int k)
{
    memset(r, 0, sizeof *r);
    r->t = (tkind)rnd(T_NKINDS);
    r->cat = (int)rnd(NCATS);
    r->tag = (int)rnd(NTAGS);
    r->num = 10 + rnd(90);
    r->pos = (int)rnd((unsigned)k + 2);
    r->item = (int)rnd((unsigned)nitems);
    recsys_rule_init(&r->r);
    switch (r->t) {
    case T_PRICE_MAX:
        r->r.kind = RECSYS_RULE_FILTER;
        snprintf(r->expr, sizeof r->expr, "price <= %g", r->num);
        break;
    case T_TAG_OR_CAT:
        r->r.kind = RECSYS_RULE_FILTER;
        snprintf(r->expr, sizeof r->expr, "\"t%d\" in tags || category == \"c%d\"", r->tag, r->cat);
        break;
    case T_BLOCK_CAT:
        r->r.kind = RECSYS_RULE_BLOCK;
        snprintf(r->expr, sizeof r->expr, "category == \"c%d\"", r->cat);
        break;
    case T_BLOCK_SALE:
        r->r.kind = RECSYS_RULE_BLOCK;
        snprintf(r->expr, sizeof r->expr, "on_sale && !(price <= %g)", r->num);
        break;
    case T_BOOST_TAG:
        r->r.kind = RECSYS_RULE_BOOST;
        r->r.value = 0.5 + rnd(50) / 10.0;
        snprintf(r->expr, sizeof r->expr, "\"t%d\" in tags", r->tag);
        break;
    case T_BURY_PRICE:
        r->r.kind = RECSYS_RULE_BURY;
        snprintf(r->expr, sizeof r->expr, "price > %g", r->num);
        break;
    case T_PIN_ID:
        r->r.kind = RECSYS_RULE_PIN;
        r->r.position = r->pos;
        snprintf(r->item_id, sizeof r->item_id, "i%03d", r->item);
        r->r.item_id = r->item_id;
        break;
    case T_PIN_CAT:
        r->r.kind = RECSYS_RULE_PIN;
        r->r.position = r->pos;
        snprintf(r->expr, sizeof r->expr, "category == \"c%d\"", r->cat);
        break;
    case T_PROMOTE_TAG:
        r->r.kind = RECSYS_RULE_PROMOTE;
        r->r.value = (1 + rnd(5)) / 10.0;
        r->num = r->r.value;
        snprintf(r->expr, sizeof r->expr, "\"t%d\" in tags", r->tag);
        break;
    default:
        break;
    }
    if (r->expr[0])
        r->r.expr = r->expr;
}

static char *item_json(const titem *it)
{
    static char buf[8192];
    char tags[128] = "";
    for (int t = 0; t < NTAGS; t++)
        if (has_tag(it, t))
            snprintf(tags + strlen(tags), sizeof tags - strlen(tags), "%s\"t%d\"",
                     tags[0] ? "," : "", t);
    char regions[32] = "";
    if (it->region >= 0)
        snprintf(regions, sizeof regions, ",\"regions\":[\"R%d\"]", it->region);
    snprintf(buf, sizeof buf,
             "{\"item_id\":\"%s\",\"title\":\"item %s\",\"category\":\"c%d\",\"tags\":[%s],"
             "\"available\":%s,\"min_age\":%d%s,\"attributes\":{\"price\":%d,\"on_sale\":%s}}",
             it->id, it->id, it->cat, tags, it->available ? "true" : "false", it->min_age,
             regions, (int)it->price, it->on_sale ? "true" : "false");
    return buf;
}

static void one_round(int round, size_t *lists, size_t *checked_full, size_t *pins_placed)
{
    int nitems = 8 + (int)rnd(MAXI - 8);
    int k = 1 + (int)rnd(15);
    titem items[MAXI];
    recsys_engine *e = NULL;
    RECSYS_INIT(recsys_engine_opts, o, .seed = (uint64_t)round + 1);
    assert_int_equal(recsys_engine_new(&o, &e), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_CANDIDATES_PER_SOURCE, 1000), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_TOP_N, k), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    if (rnd(2)) /* diversification on or off: the rules hold either way */
        assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_DIVERSIFY_METHOD, 1 + rnd(2)),
                         RECSYS_OK);
    for (int i = 0; i < nitems; i++) {
        titem *it = &items[i];
        snprintf(it->id, sizeof it->id, "i%03d", i);
        it->cat = (int)rnd(NCATS);
        it->tags = rnd(1u << NTAGS);
        it->price = 5 + rnd(100);
        it->on_sale = rnd(3) == 0;
        it->available = rnd(6) != 0;
        static const int ages[] = { 0, 0, 0, 0, 13, 18 };
        it->min_age = ages[rnd(6)];
        it->region = rnd(5) == 0 ? (int)rnd(2) : -1;
        const char *j = item_json(it);
        recsys_status st = recsys_catalog_upsert_json(e, j, strlen(j));
        if (st != RECSYS_OK)
            fail_msg("round %d: %s: %s", round, j, recsys_last_error());
    }
    /* the user: known age or not, known region or not, a few seen items */
    int age = rnd(3) == 0 ? -1 : (int)(8 + rnd(40));
    int region = rnd(3) == 0 ? -1 : (int)rnd(2);
    char uj[128];
    if (region >= 0)
        snprintf(uj, sizeof uj, "{\"user_id\":\"u\",\"age\":%d,\"region\":\"R%d\"}", age, region);
    else
        snprintf(uj, sizeof uj, "{\"user_id\":\"u\",\"age\":%d}", age);
    assert_int_equal(recsys_user_upsert_json(e, uj, strlen(uj)), RECSYS_OK);
    bool seen[MAXI] = { false };
    for (int i = 0; i < nitems; i++)
        tk_feedback(e, "bg", items[i].id, RECSYS_EVENT_VIEW, TK_NOW - 7200 - i);
    int nseen = (int)rnd(4);
    for (int s = 0; s < nseen; s++) {
        int i = (int)rnd((unsigned)nitems);
        seen[i] = true;
        tk_feedback(e, "u", items[i].id, RECSYS_EVENT_VIEW, TK_NOW - 600 + s);
    }
    /* rules: the engine's, then the request's */
    trule rules[MAXR];
    int nengine = (int)rnd(5), nreq = (int)rnd(3), nr = nengine + nreq;
    for (int i = 0; i < nr; i++)
        make_rule(&rules[i], nitems, k);
    for (int i = 0; i < nengine; i++) {
        char name[16];
        snprintf(name, sizeof name, "r%d", i);
        recsys_status st = recsys_engine_rule_set(e, name, &rules[i].r);
        if (st != RECSYS_OK)
            fail_msg("round %d rule %s '%s': %s", round, name, rules[i].expr,
                     recsys_last_error());
    }
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_user(rq, "u"), RECSYS_OK);
    for (int i = nengine; i < nr; i++)
        assert_int_equal(recsys_request_add_rule(rq, &rules[i].r), RECSYS_OK);
    recsys_result *res = NULL;
    recsys_status st = recsys_recommend(e, rq, &res);
    if (st != RECSYS_OK)
        fail_msg("round %d: recommend: %s", round, recsys_last_error());

    /* the eligible set, by the test's own reckoning */
    bool elig[MAXI];
    int nelig = 0;
    for (int i = 0; i < nitems; i++) {
        const titem *it = &items[i];
        bool ok = it->available && !seen[i];
        ok = ok && (it->min_age == 0 || (age >= 0 && age >= it->min_age));
        ok = ok && (it->region < 0 || it->region == region);
        for (int r = 0; ok && r < nr; r++) {
            if (rules[r].r.kind == RECSYS_RULE_FILTER)
                ok = holds(&rules[r], it);
            else if (rules[r].r.kind == RECSYS_RULE_BLOCK)
                ok = !holds(&rules[r], it);
        }
        elig[i] = ok;
        nelig += ok;
    }
    size_t n = recsys_result_count(res);
    int at[MAXI];
    for (int i = 0; i < nitems; i++)
        at[i] = -1;
    for (size_t p = 0; p < n; p++) {
        const char *id = recsys_result_item_id(res, p);
        int i = atoi(id + 1);
        assert_true(i >= 0 && i < nitems);
        if (!elig[i])
            fail_msg("round %d: %s at %zu is not eligible", round, id, p);
        if (at[i] >= 0)
            fail_msg("round %d: %s twice", round, id);
        at[i] = (int)p;
    }
    /* full whenever enough eligible items exist */
    size_t want = (size_t)(nelig < k ? nelig : k);
    if (n != want)
        fail_msg("round %d: %zu results, %zu expected (%d eligible, K %d)", round, n, want,
                 nelig, k);
    *checked_full += nelig >= k;
    /* pins: an eligible item-id pin whose slot exists and no earlier pin took */
    bool taken[16] = { false };
    for (int r = 0; r < nr; r++) {
        if (rules[r].t != T_PIN_ID && rules[r].t != T_PIN_CAT)
            continue;
        if (rules[r].pos >= (int)n || taken[rules[r].pos])
            continue;
        if (rules[r].t == T_PIN_ID) {
            int i = rules[r].item;
            /* pinned already: at a slot an earlier pin (by id or by category) took */
            bool already = at[i] >= 0 && at[i] < 16 && taken[at[i]];
            if (!elig[i] || already)
                continue;
            if (at[i] != rules[r].pos)
                fail_msg("round %d: pin of %s at %d: found at %d", round, items[i].id,
                         rules[r].pos, at[i]);
            (*pins_placed)++;
        } else {
            const char *id = recsys_result_item_id(res, (size_t)rules[r].pos);
            /* a category pin places some matching item there when one is free */
            int i = atoi(id + 1);
            bool any_free = false;
            for (int j = 0; j < nitems; j++)
                any_free |= elig[j] && holds(&rules[r], &items[j]);
            if (any_free && !holds(&rules[r], &items[i])) {
                /* allowed only when every matching eligible item is pinned elsewhere */
                for (int j = 0; j < nitems; j++)
                    if (elig[j] && holds(&rules[r], &items[j]) && at[j] < 0)
                        fail_msg("round %d: category pin at %d holds %s, while %s matches",
                                 round, rules[r].pos, id, items[j].id);
            }
        }
        taken[rules[r].pos] = true;
    }
    /* a lone promotion (no pins, no other promotion) meets its share */
    int npins = 0, nprom = 0, prom = -1;
    for (int r = 0; r < nr; r++) {
        npins += rules[r].r.kind == RECSYS_RULE_PIN;
        if (rules[r].r.kind == RECSYS_RULE_PROMOTE) {
            nprom++;
            prom = r;
        }
    }
    if (nprom == 1 && npins == 0) {
        int matching = 0, shown = 0;
        for (int i = 0; i < nitems; i++) {
            matching += elig[i] && holds(&rules[prom], &items[i]);
            shown += at[i] >= 0 && holds(&rules[prom], &items[i]);
        }
        int need = (int)ceil(rules[prom].num * k - 1e-9);
        if (need > (int)n)
            need = (int)n;
        if (matching >= need && shown < need)
            fail_msg("round %d: promotion '%s' share %g: %d of %zu shown, %d eligible", round,
                     rules[prom].expr, rules[prom].num, shown, n, matching);
    }
    /* buried items after all others, unless pinned */
    for (int r = 0; r < nr; r++) {
        if (rules[r].r.kind != RECSYS_RULE_BURY || npins || nprom)
            continue;
        bool buried_seen = false;
        for (size_t p = 0; p < n; p++) {
            int i = atoi(recsys_result_item_id(res, p) + 1);
            bool b = false;
            for (int q = 0; q < nr; q++)
                b |= rules[q].r.kind == RECSYS_RULE_BURY && holds(&rules[q], &items[i]);
            if (b)
                buried_seen = true;
            else if (buried_seen)
                fail_msg("round %d: %s after a buried item", round, items[i].id);
        }
    }
    (*lists)++;
    recsys_result_free(res);
    recsys_request_free(rq);
    recsys_engine_free(e);
}

static void random_rules_never_violated(void **state)
{
    (void)state;
    const char *env = getenv("RECSYS_TEST_RULE_ROUNDS");
    int rounds = env ? atoi(env) : 2000;
    rng = 0x5eedull * 2654435761ull + 1;
    size_t lists = 0, full = 0, pins = 0;
    for (int round = 0; round < rounds; round++)
        one_round(round, &lists, &full, &pins);
    print_message("%zu random catalogs and rule sets: 0 violations; %zu lists checked full, "
                  "%zu item pins placed\n", lists, full, pins);
    assert_true(full > (size_t)rounds / 4);
    assert_true(pins > 0);
}

/* ------------------------------------------------------------ the API */

static void rule_api_errors_and_persistence(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_store_vtable st;
    recsys_store_vtable_init(&st);
    assert_int_equal(recsys_store_file_new(dir, NULL, &st), RECSYS_OK);
    recsys_engine *e = tk_engine(NULL, &st);
    recsys_rule r;
    recsys_rule_init(&r);
    r.kind = RECSYS_RULE_FILTER;
    r.expr = "price <= (1500";
    assert_int_equal(recsys_engine_rule_set(e, "cheap", &r), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "at byte"));
    r.expr = "colour == \"red\"";
    assert_int_equal(recsys_engine_rule_set(e, "red", &r), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "colour"));
    r.expr = "price <= 1500";
    assert_int_equal(recsys_engine_rule_set(e, "Bad Name", &r), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_engine_rule_set(e, "cheap", NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_engine_rule_remove(e, "cheap"), RECSYS_E_NOT_FOUND);
    /* the laptops above 1500 go; a film is pinned first */
    r.expr = "category != \"laptop\" || price <= 1500";
    assert_int_equal(recsys_engine_rule_set(e, "cheap", &r), RECSYS_OK);
    recsys_rule pin;
    recsys_rule_init(&pin);
    pin.kind = RECSYS_RULE_PIN;
    pin.item_id = "f3";
    pin.position = 0;
    assert_int_equal(recsys_engine_rule_set(e, "pin-f3", &pin), RECSYS_OK);
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_user(rq, "u-backend"), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    recsys_result *a = NULL;
    assert_int_equal(recsys_recommend(e, rq, &a), RECSYS_OK);
    assert_true(recsys_result_count(a) > 1);
    assert_string_equal(recsys_result_item_id(a, 0), "f3");
    for (size_t i = 0; i < recsys_result_count(a); i++)
        assert_string_not_equal(recsys_result_item_id(a, i), "l3"); /* 2199 */
    /* a request rule with an unknown attribute fails the request, naming it */
    recsys_rule bad;
    recsys_rule_init(&bad);
    bad.kind = RECSYS_RULE_BLOCK;
    bad.expr = "weight > 2";
    assert_int_equal(recsys_request_add_rule(rq, &bad), RECSYS_OK);
    recsys_result *b = NULL;
    assert_int_equal(recsys_recommend(e, rq, &b), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "weight"));
    assert_null(b);
    recsys_request_free(rq);
    recsys_engine_free(e);
    /* reopened: the rules are back */
    recsys_store_vtable_init(&st);
    assert_int_equal(recsys_store_file_new(dir, NULL, &st), RECSYS_OK);
    RECSYS_INIT(recsys_engine_opts, o, .seed = 42, .store = &st);
    assert_int_equal(recsys_engine_new(&o, &e), RECSYS_OK);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_NOW, TK_NOW), RECSYS_OK);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_user(rq, "u-backend"), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    assert_int_equal(recsys_recommend(e, rq, &b), RECSYS_OK);
    assert_int_equal(recsys_result_count(a), recsys_result_count(b));
    for (size_t i = 0; i < recsys_result_count(a); i++)
        assert_string_equal(recsys_result_item_id(a, i), recsys_result_item_id(b, i));
    recsys_result_free(b);
    assert_int_equal(recsys_engine_rule_remove(e, "pin-f3"), RECSYS_OK);
    assert_int_equal(recsys_engine_rule_remove(e, "pin-f3"), RECSYS_E_NOT_FOUND);
    assert_int_equal(recsys_recommend(e, rq, &b), RECSYS_OK); /* and the engine serves on */
    recsys_result_free(b);
    recsys_result_free(a);
    recsys_request_free(rq);
    recsys_engine_free(e);
    tk_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rule_api_errors_and_persistence),
        cmocka_unit_test(random_rules_never_violated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
