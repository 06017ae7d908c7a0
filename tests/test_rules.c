/* test_rules.c - business rules (filter/rules.h) and their JSON (model/rules_json.h): record
 * validation with the message naming the field, compile and its out-of-memory loop, bind
 * errors, the hard rules as a stage-3 filter, boost arithmetic, the stable bury, the final
 * arrangement on hand-made cases (pins, promotions and their rounding, burying, backfill,
 * repeats, strides) and on thousands of random catalogs, users and rule sets checked against
 * an independent model of the rules (every item eligible, pins in place, promotion shares met,
 * no repeats, full lists); and the strict JSON parser with its canonical writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "filter/rules.h"
#include "model/context.h"
#include "model/model.h"
#include "model/rules_json.h"
#include "support/fixture.h"
#include "testkit.h"

static const recsys__mem *D = &recsys__mem_default;

static recsys_rule rec(int32_t kind, const char *expr)
{
    recsys_rule r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.kind = kind;
    r.expr = expr;
    return r;
}

static recsys__rule compile_ok(const recsys_rule *r)
{
    recsys__rule c;
    recsys_status st = recsys__rule_compile(D, r, &c);
    if (st != RECSYS_OK)
        fail_msg("compile: %s", recsys_last_error());
    return c;
}

static void free_rules(recsys__rule *rs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        recsys__rule_free(D, &rs[i]);
}

/* ---------------------------------------------------------------- validation ----------- */

static void expect_invalid(const recsys_rule *r, recsys_status want_st, const char *want)
{
    recsys__rule c;
    memset(&c, 0xAB, sizeof c);
    recsys__err_clear();
    recsys_status st = recsys__rule_compile(D, r, &c);
    if (st != want_st || !strstr(recsys_last_error(), want))
        fail_msg("status %d, message '%s'; expected '%s'", st, recsys_last_error(), want);
    assert_null(c.expr);
    assert_null(c.item_id);
    assert_int_equal(c.kind, 0);
}

static void test_validate(void **state)
{
    (void)state;
    recsys_rule r = rec(0, "available");
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "rule: kind 0 is unknown (expected 1..6");
    r.kind = 7;
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "rule: kind 7 is unknown");
    static const int32_t need_expr[] = { RECSYS_RULE_FILTER, RECSYS_RULE_BLOCK, RECSYS_RULE_BOOST,
                                         RECSYS_RULE_BURY, RECSYS_RULE_PROMOTE };
    static const char *const names[] = { "filter rule", "block rule", "boost rule", "bury rule",
                                         "promote rule" };
    for (size_t i = 0; i < 5; i++) {
        r = rec(need_expr[i], NULL);
        r.value = 0.5;
        char want[64];
        snprintf(want, sizeof want, "%s: field 'expr' is required", names[i]);
        expect_invalid(&r, RECSYS_E_INVALID_ARG, want);
    }
    r = rec(RECSYS_RULE_PIN, NULL);
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "pin rule: field 'item_id' or 'expr' is required");
    /* values */
    r = rec(RECSYS_RULE_BOOST, "available");
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "boost rule: field 'value' is 0; expected a finite number > 0");
    r.value = -1;
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "field 'value' is -1");
    r.value = INFINITY;
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "field 'value' is inf");
    r.value = NAN;
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "boost rule: field 'value' is");
    r = rec(RECSYS_RULE_PROMOTE, "available");
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "promote rule: field 'value' is 0; expected a share of the list's slots in (0, 1]");
    r.value = 1.5;
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "field 'value' is 1.5");
    r.value = NAN;
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "promote rule: field 'value' is");
    r = rec(RECSYS_RULE_PIN, NULL);
    r.item_id = "x";
    r.position = 1000;
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "pin rule: field 'position' is 1000; expected 0..999");
    r.position = -1;
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "field 'position' is -1");
    r.position = 0;
    r.item_id = "";
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "pin rule: field 'item_id' is empty");
    r.item_id = "\xff";
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "pin rule: field 'item_id'");
    char longid[300];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    r.item_id = longid;
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "pin rule: field 'item_id'");
    /* fields the kind does not use */
    r = rec(RECSYS_RULE_FILTER, "available");
    r.value = 2;
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "filter rule: field 'value' applies only to boost and promote rules (got 2");
    r = rec(RECSYS_RULE_BURY, "available");
    r.position = 3;
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "bury rule: field 'position' applies only to pin rules (got 3");
    r = rec(RECSYS_RULE_BLOCK, "available");
    r.item_id = "x";
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "block rule: field 'item_id' applies only to pin rules");
    r = rec(RECSYS_RULE_PIN, "available");
    r.value = 1;
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "pin rule: field 'value' applies only");
    /* the expression: its syntax error with the kind and the byte position */
    r = rec(RECSYS_RULE_FILTER, "category == \"x\" &&");
    expect_invalid(&r, RECSYS_E_INVALID_ARG,
                   "filter rule: expression: at byte 18: expected a value");
    r = rec(RECSYS_RULE_PIN, "(on_sale");
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "pin rule: expression: at byte 8: expected ')'");
    char *big = malloc(RECSYS__RULE_EXPR_MAX + 2);
    memset(big, ' ', RECSYS__RULE_EXPR_MAX + 1);
    big[RECSYS__RULE_EXPR_MAX + 1] = '\0';
    r = rec(RECSYS_RULE_BURY, big);
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "bury rule: field 'expr' is longer than 65536 bytes");
    free(big);
    /* the record itself */
    expect_invalid(NULL, RECSYS_E_INVALID_ARG, "rule: the rule record is NULL");
    assert_int_equal(recsys__rule_compile(D, &r, NULL), RECSYS_E_INVALID_ARG);
    r = rec(RECSYS_RULE_FILTER, "available");
    r.struct_size = 8;
    expect_invalid(&r, RECSYS_E_INVALID_ARG, "recsys_rule");
    struct {
        recsys_rule r;
        uint64_t tail;
    } big_rec;
    memset(&big_rec, 0, sizeof big_rec);
    big_rec.r = rec(RECSYS_RULE_FILTER, "available");
    big_rec.r.struct_size = sizeof big_rec;
    big_rec.tail = 1;
    expect_invalid(&big_rec.r, RECSYS_E_UNSUPPORTED, "recsys_rule");
    big_rec.tail = 0; /* a newer caller's zero tail is fine */
    recsys__rule c = compile_ok(&big_rec.r);
    assert_int_equal(c.kind, RECSYS_RULE_FILTER);
    recsys__rule_free(D, &c);

    /* what compiles, and what it keeps */
    r = rec(RECSYS_RULE_PIN, "on_sale");
    r.item_id = "sku-1";
    r.position = 999;
    c = compile_ok(&r);
    assert_int_equal(c.kind, RECSYS_RULE_PIN);
    assert_int_equal(c.position, 999);
    assert_string_equal(c.item_id, "sku-1");
    assert_ptr_not_equal(c.item_id, r.item_id); /* copied */
    assert_string_equal(recsys__expr_text(c.expr, NULL), "on_sale");
    recsys_rule back;
    recsys__rule_public(&c, &back);
    assert_int_equal(back.struct_size, sizeof back);
    assert_int_equal(back.kind, RECSYS_RULE_PIN);
    assert_string_equal(back.expr, "on_sale");
    assert_string_equal(back.item_id, "sku-1");
    assert_int_equal(back.position, 999);
    recsys__rule_free(D, &c);
    assert_null(c.expr);
    recsys__rule_free(D, &c); /* twice, and NULL: harmless */
    recsys__rule_free(D, NULL);
    r = rec(RECSYS_RULE_PIN, NULL);
    r.item_id = "sku-1";
    c = compile_ok(&r);
    assert_null(c.expr);
    recsys__rule_free(D, &c);
    r = rec(RECSYS_RULE_PROMOTE, "on_sale");
    r.value = 1;
    c = compile_ok(&r);
    assert_true(c.value == 1);
    recsys__rule_free(D, &c);
    r = rec(RECSYS_RULE_BOOST, "on_sale");
    r.value = 1e300;
    c = compile_ok(&r);
    recsys__rule_free(D, &c);

    assert_string_equal(recsys__rule_kind_name(RECSYS_RULE_PROMOTE), "promote");
    assert_null(recsys__rule_kind_name(0));
    assert_null(recsys__rule_kind_name(7));
    assert_int_equal(recsys__rule_kind_from_name("bury"), RECSYS_RULE_BURY);
    assert_int_equal(recsys__rule_kind_from_name("Bury"), -1);
    assert_int_equal(recsys__rule_kind_from_name(NULL), -1);
}

static void test_compile_oom(void **state)
{
    (void)state;
    tk_alloc a;
    recsys_allocator ar;
    tk_alloc_init(&a, &ar);
    recsys__mem mem;
    assert_int_equal(recsys__mem_init(&mem, &ar), RECSYS_OK);
    recsys_rule r = rec(RECSYS_RULE_PIN, "category in [\"a\", \"b\"] && \"x\" in tags");
    r.item_id = "sku-1";
    r.position = 3;
    long n;
    for (n = 0;; n++) {
        a.count = 0;
        a.fail_at = n;
        recsys__rule c;
        recsys__err_clear();
        recsys_status st = recsys__rule_compile(&mem, &r, &c);
        a.fail_at = -1;
        if (st == RECSYS_OK) {
            recsys__rule_free(&mem, &c);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_true(recsys_last_error()[0] != '\0');
        assert_null(c.expr);
        assert_null(c.item_id);
        assert_int_equal(a.live, 0);
    }
    assert_true(n >= 4);
    assert_int_equal(a.live, 0);
}

/* ---------------------------------------------------------------- a small model -------- */

static fixture *small(void)
{
    fixture *f = fixture_new();
    const fixture_item_def defs[] = {
        { .id = "a", .category = "laptop", .tags = "gpu", .price = 1000 },
        { .id = "b", .category = "laptop", .tags = "refurbished", .price = 500 },
        { .id = "c", .category = "tablet", .price = 300, .min_age = 18 },
        { .id = "d", .category = "film", .unavailable = 1 },
        { .id = "e", .category = "film", .tags = "gpu", .gpu = "rtx" },
    };
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++)
        fixture_add_item(f, &defs[i]);
    return f;
}

static void test_bind_and_drop(void **state)
{
    (void)state;
    fixture *f = small();
    const recsys__catalog *cat = &f->model.catalog;
    recsys_rule r = rec(RECSYS_RULE_BLOCK, "colour == \"red\"");
    recsys__rule c = compile_ok(&r);
    assert_int_equal(recsys__rule_bind(&c, cat), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(),
                           "block rule: expression: at byte 0: unknown attribute 'colour'"));
    assert_int_equal(recsys__rule_bind(NULL, cat), RECSYS_E_INVALID_ARG);
    recsys__rule_free(D, &c);
    r = rec(RECSYS_RULE_PIN, NULL);
    r.item_id = "nowhere"; /* an item id is not checked at bind: it may come later */
    c = compile_ok(&r);
    assert_int_equal(recsys__rule_bind(&c, cat), RECSYS_OK);
    recsys__rule_free(D, &c);

    recsys_rule pub[4] = { rec(RECSYS_RULE_FILTER, "category != \"tablet\""),
                           rec(RECSYS_RULE_BLOCK, "\"refurbished\" in tags"),
                           rec(RECSYS_RULE_BOOST, "price > 1"),
                           rec(RECSYS_RULE_BURY, "available") };
    pub[2].value = 1;
    recsys__rule rs[4];
    for (int i = 0; i < 4; i++) {
        rs[i] = compile_ok(&pub[i]);
        assert_int_equal(recsys__rule_bind(&rs[i], cat), RECSYS_OK);
    }
    recsys__expr_ctx ctx = { FIXTURE_NOW, -1, NULL, NULL };
    const char *ids[] = { "a", "b", "c", "d", "e" };
    const bool elig[] = { true, false, false, true, true };
    for (int i = 0; i < 5; i++)
        assert_int_equal(recsys__rules_eligible(rs, 4, fixture_get(f, ids[i]), &ctx), elig[i]);
    assert_false(recsys__rules_eligible(rs, 4, NULL, &ctx));
    assert_true(recsys__rules_eligible(rs, 0, fixture_get(f, "b"), &ctx)); /* no rules */

    fixture_query(f, NULL, NULL, 100);
    recsys_candidates cs;
    fixture_cands(f, &cs, "a,b,c,d,e");
    assert_int_equal(recsys_candidates_drop(&cs, 3, "earlier"), RECSYS_OK);
    fixture_remove(f, "e"); /* a candidate whose item went away */
    assert_int_equal(recsys__rules_drop(rs, 4, &ctx, &cs), RECSYS_OK);
    assert_false(cs.v[0].dropped);
    assert_string_equal(cs.v[1].drop_reason, "rule block");
    assert_string_equal(cs.v[2].drop_reason, "rule filter");
    assert_string_equal(cs.v[3].drop_reason, "earlier"); /* the first reason stays */
    assert_string_equal(cs.v[4].drop_reason, "removed");
    assert_int_equal(recsys__rules_drop(rs, 4, &ctx, NULL), RECSYS_E_INVALID_ARG);
    recsys__cands_free(&cs);
    /* without hard rules nothing is dropped, even a removed item (availability's job) */
    fixture_cands(f, &cs, "a,b");
    assert_int_equal(recsys__rules_drop(rs + 2, 2, &ctx, &cs), RECSYS_OK);
    assert_false(cs.v[0].dropped || cs.v[1].dropped);
    recsys__cands_free(&cs);
    free_rules(rs, 4);
    fixture_free(f);
}

static void test_boost_and_bury(void **state)
{
    (void)state;
    fixture *f = small();
    const recsys__catalog *cat = &f->model.catalog;
    recsys_rule pub[4] = { rec(RECSYS_RULE_BOOST, "category == \"laptop\""),
                           rec(RECSYS_RULE_BOOST, "\"gpu\" in tags"),
                           rec(RECSYS_RULE_BURY, "category == \"laptop\""),
                           rec(RECSYS_RULE_FILTER, "false") };
    pub[0].value = 0.5;
    pub[1].value = 0.25;
    recsys__rule rs[4];
    for (int i = 0; i < 4; i++)
        rs[i] = compile_ok(&pub[i]);
    recsys__expr_ctx ctx = { 0, -1, NULL, NULL };
    recsys__cand v[6];
    memset(v, 0, sizeof v);
    const char *ids[] = { "a", "b", "c", "d", "e" };
    for (int i = 0; i < 5; i++) {
        v[i].item = fixture_idx(f, ids[i]);
        v[i].score = 1;
    }
    v[2].score = DBL_MAX;           /* c matches nothing: unchanged */
    v[5].item = RECSYS_IDS_NONE - 1; /* not in the catalog: unchanged */
    v[5].score = 7;
    recsys__rules_boost(rs, 4, &ctx, cat, v, 6);
    assert_true(v[0].score == 1.75); /* laptop and gpu: both add */
    assert_true(v[1].score == 1.5);
    assert_true(v[2].score == DBL_MAX);
    assert_true(v[3].score == 1);
    assert_true(v[4].score == 1.25);
    assert_true(v[5].score == 7);
    /* an overflowing sum stays finite */
    recsys_rule huge = rec(RECSYS_RULE_BOOST, "true");
    huge.value = 1.7e308;
    recsys__rule hr = compile_ok(&huge);
    v[0].score = 1e308;
    recsys__rules_boost(&hr, 1, &ctx, cat, v, 1);
    assert_true(v[0].score == DBL_MAX);
    recsys__rule_free(D, &hr);
    /* a boost rule set without boosts changes nothing */
    v[1].score = 3;
    recsys__rules_boost(rs + 2, 2, &ctx, cat, v, 6);
    assert_true(v[1].score == 3);

    /* bury: laptops (a, b) after the others, both groups in order */
    recsys__rules_bury(rs, 4, &ctx, cat, v, 6);
    const uint32_t want[] = { fixture_idx(f, "c"), fixture_idx(f, "d"), fixture_idx(f, "e"),
                              RECSYS_IDS_NONE - 1, fixture_idx(f, "a"), fixture_idx(f, "b") };
    for (int i = 0; i < 6; i++)
        assert_int_equal(v[i].item, want[i]);
    recsys__rules_bury(rs, 2, &ctx, cat, v, 6); /* no bury rule: nothing moves */
    for (int i = 0; i < 6; i++)
        assert_int_equal(v[i].item, want[i]);
    recsys__rules_bury(rs, 4, &ctx, cat, v, 0);

    /* a long random array against a two-list partition */
    enum { N = 1000 };
    recsys__cand *w = calloc(N, sizeof *w), *ref = calloc(N, sizeof *ref);
    uint32_t seed = 7;
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        w[i].item = fixture_idx(f, ids[(seed >> 16) % 5]);
        w[i].score = i; /* tells equal items apart */
    }
    size_t k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < N; i++) {
            const recsys_item *it = recsys__catalog_get(cat, w[i].item);
            bool laptop = !strcmp(it->category, "laptop");
            if (laptop == (pass == 1))
                ref[k++] = w[i];
        }
    recsys__rules_bury(rs, 4, &ctx, cat, w, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(w[i].item, ref[i].item);
        assert_true(w[i].score == ref[i].score);
    }
    free(w);
    free(ref);
    free_rules(rs, 4);
    fixture_free(f);
}

/* ---------------------------------------------------------------- arrange: cases -------- */

/* A catalog of n items "i0".."i<n-1>": category "c<i % 3>", tag "p" on every item whose index
 * is in promo (a string of digits and commas), attribute rank = i. */
static fixture *numbered(int n, const char *promo, const char *buried)
{
    fixture *f = fixture_new();
    for (int i = 0; i < n; i++) {
        char id[16], cat[8], tags[16] = "";
        snprintf(id, sizeof id, "i%d", i);
        snprintf(cat, sizeof cat, "c%d", i % 3);
        char key[16];
        snprintf(key, sizeof key, ",%d,", i);
        char p[256], b[256];
        snprintf(p, sizeof p, ",%s,", promo ? promo : "");
        snprintf(b, sizeof b, ",%s,", buried ? buried : "");
        if (strstr(p, key))
            strcat(tags, "p");
        if (strstr(b, key))
            strcat(tags, tags[0] ? ",b" : "b");
        fixture_item_def d = { .id = id, .category = cat, .tags = tags, .price = i + 1 };
        fixture_add_item(f, &d);
    }
    return f;
}

typedef struct rl {
    recsys__rule v[16];
    size_t n;
} rl;

static void add(rl *r, int32_t kind, const char *expr, double value, int32_t pos,
                const char *item_id)
{
    recsys_rule p = rec(kind, expr);
    p.value = value;
    p.position = pos;
    p.item_id = item_id;
    r->v[r->n++] = compile_ok(&p);
}

/* Arranges the items named in ranked (ids, comma-separated, best first) into k slots; returns
 * the ids joined with ','. */
static const char *arrange(fixture *f, const rl *r, const recsys__expr_ctx *ctx, const char *ranked,
                           size_t k)
{
    static char buf[4096]; /* test-only scratch */
    uint32_t items[256];
    size_t n = 0;
    char tmp[2048];
    snprintf(tmp, sizeof tmp, "%s", ranked);
    for (char *s = strtok(tmp, ","); s; s = strtok(NULL, ","))
        items[n++] = strcmp(s, "-") ? fixture_idx(f, s) : 4000000000u;
    size_t out[256], nout = 99;
    assert_int_equal(recsys__rules_arrange(r->v, r->n, ctx, &f->model.catalog, items, n,
                                           sizeof *items, k, out, &nout),
                     RECSYS_OK);
    buf[0] = '\0';
    for (size_t i = 0; i < nout; i++) {
        assert_true(out[i] < n);
        if (i)
            strcat(buf, ",");
        strcat(buf, fixture_id(f, items[out[i]]));
    }
    return buf;
}

static void test_arrange_cases(void **state)
{
    (void)state;
    fixture *f = numbered(12, "7,8,9,10,11", "1,2");
    recsys__expr_ctx ctx = { 0, -1, NULL, NULL };
    const char *all = "i0,i1,i2,i3,i4,i5,i6,i7,i8,i9,i10,i11";
    rl r = { .n = 0 };

    /* no rules: the first k, repeats and unknown items dropped */
    assert_string_equal(arrange(f, &r, &ctx, all, 4), "i0,i1,i2,i3");
    assert_string_equal(arrange(f, &r, &ctx, "i3,i3,-,i1,i3,i0", 10), "i3,i1,i0");
    assert_string_equal(arrange(f, &r, &ctx, all, 0), "");
    assert_string_equal(arrange(f, &r, &ctx, "", 5), "");

    /* hard rules are checked again, and the list is backfilled past them */
    add(&r, RECSYS_RULE_FILTER, "category != \"c0\"", 0, 0, NULL); /* drops i0,i3,i6,i9 */
    add(&r, RECSYS_RULE_BLOCK, "id == \"i4\"", 0, 0, NULL);
    assert_string_equal(arrange(f, &r, &ctx, all, 4), "i1,i2,i5,i7");
    /* fewer eligible than k: all of them */
    assert_string_equal(arrange(f, &r, &ctx, "i0,i1,i3,i4,i5", 4), "i1,i5");

    /* bury: i1 and i2 (tag b) after the others, and only when needed */
    add(&r, RECSYS_RULE_BURY, "\"b\" in tags", 0, 0, NULL);
    assert_string_equal(arrange(f, &r, &ctx, all, 4), "i5,i7,i8,i10");
    assert_string_equal(arrange(f, &r, &ctx, "i1,i2,i5,i7", 4), "i5,i7,i1,i2");
    assert_string_equal(arrange(f, &r, &ctx, "i2,i5,i1", 4), "i5,i2,i1");
    free_rules(r.v, r.n);
    r.n = 0;

    /* pins: by id, ineligible skipped, first rule wins a slot, by condition, beyond the list */
    add(&r, RECSYS_RULE_BLOCK, "id == \"i4\"", 0, 0, NULL);
    add(&r, RECSYS_RULE_PIN, NULL, 0, 2, "i9");        /* placed at 2 */
    add(&r, RECSYS_RULE_PIN, NULL, 0, 2, "i8");        /* slot taken: skipped */
    add(&r, RECSYS_RULE_PIN, NULL, 0, 0, "i4");        /* blocked: skipped */
    add(&r, RECSYS_RULE_PIN, NULL, 0, 1, "ghost");     /* not in the catalog: skipped */
    add(&r, RECSYS_RULE_PIN, "\"p\" in tags", 0, 0, NULL); /* best p item not pinned: i7 */
    add(&r, RECSYS_RULE_PIN, NULL, 0, 3, "i9");        /* already pinned: skipped */
    add(&r, RECSYS_RULE_PIN, NULL, 0, 9, "i10");       /* beyond k: skipped */
    add(&r, RECSYS_RULE_PIN, "price > 100", 0, 4, NULL); /* nothing matches: skipped */
    add(&r, RECSYS_RULE_PIN, "category == \"c2\"", 0, 3, "i5"); /* guard holds: placed */
    add(&r, RECSYS_RULE_PIN, "category == \"c1\"", 0, 1, "i6");  /* guard fails: skipped */
    assert_string_equal(arrange(f, &r, &ctx, all, 5), "i7,i0,i9,i5,i1");
    /* the pinned item not in the ranked list: skipped (the pipeline makes it a candidate) */
    assert_string_equal(arrange(f, &r, &ctx, "i0,i1,i2,i3,i5", 5), "i0,i1,i2,i5,i3");
    /* a pin beyond a list shorter than k (too few eligible items) is skipped: i5 at 3 of 3 */
    assert_string_equal(arrange(f, &r, &ctx, "i5,i0,i1", 5), "i5,i0,i1");
    free_rules(r.v, r.n);
    r.n = 0;

    /* promotions: 30% of 10 = 3 of the p items (7..11), the best ones, in rank order */
    add(&r, RECSYS_RULE_PROMOTE, "\"p\" in tags", 0.3, 0, NULL);
    assert_string_equal(arrange(f, &r, &ctx, all, 10), "i0,i1,i2,i3,i4,i5,i6,i7,i8,i9");
    assert_string_equal(arrange(f, &r, &ctx, all, 5), "i0,i1,i2,i7,i8"); /* ceil(1.5) = 2 */
    free_rules(r.v, r.n);
    r.n = 0;
    add(&r, RECSYS_RULE_PROMOTE, "\"p\" in tags", 0.2, 0, NULL);
    assert_string_equal(arrange(f, &r, &ctx, all, 5), "i0,i1,i2,i3,i7"); /* ceil(1) = 1 */
    assert_string_equal(arrange(f, &r, &ctx, all, 6), "i0,i1,i2,i3,i7,i8"); /* ceil(1.2) = 2 */
    /* pins count: a pinned p item is part of the share */
    add(&r, RECSYS_RULE_PIN, NULL, 0, 0, "i11");
    assert_string_equal(arrange(f, &r, &ctx, all, 5), "i11,i0,i1,i2,i3");
    free_rules(r.v, r.n);
    r.n = 0;
    /* a share of 1: every slot; a promoted item that is buried goes after the others */
    add(&r, RECSYS_RULE_PROMOTE, "\"p\" in tags || \"b\" in tags", 1, 0, NULL);
    add(&r, RECSYS_RULE_BURY, "\"b\" in tags", 0, 0, NULL);
    assert_string_equal(arrange(f, &r, &ctx, all, 4), "i7,i8,i1,i2");
    free_rules(r.v, r.n);
    r.n = 0;
    /* not enough matching items: as many as there are */
    add(&r, RECSYS_RULE_PROMOTE, "\"p\" in tags", 1, 0, NULL);
    assert_string_equal(arrange(f, &r, &ctx, "i0,i1,i2,i3,i4,i8", 3), "i0,i1,i8");
    free_rules(r.v, r.n);
    fixture_free(f);
}

/* 0.07 * 100 is 7.000000000000001 in binary: the share is 7 slots, not 8 */
static void test_promote_rounding(void **state)
{
    (void)state;
    char promo[512] = "", ranked[2048] = "";
    for (int i = 100; i < 120; i++) {
        char n[16];
        snprintf(n, sizeof n, "%s%d", i > 100 ? "," : "", i);
        strcat(promo, n);
    }
    fixture *f = numbered(120, promo, NULL);
    for (int i = 0; i < 120; i++) {
        char n[16];
        snprintf(n, sizeof n, "%si%d", i ? "," : "", i);
        strcat(ranked, n);
    }
    static const struct {
        double v;
        size_t k, want;
    } T[] = { { 0.07, 100, 7 }, { 0.29, 100, 20 } /* only 20 match */, { 0.57, 20, 12 },
              { 0.1, 30, 3 }, { 0.3, 10, 3 }, { 0.14, 50, 7 }, { 0.01, 1, 1 },
              { 0.001, 100, 1 } };
    recsys__expr_ctx ctx = { 0, -1, NULL, NULL };
    for (size_t t = 0; t < sizeof T / sizeof *T; t++) {
        rl r = { .n = 0 };
        add(&r, RECSYS_RULE_PROMOTE, "\"p\" in tags", T[t].v, 0, NULL);
        const char *got = arrange(f, &r, &ctx, ranked, T[t].k);
        size_t promoted = 0;
        for (const char *s = got; (s = strstr(s, "i1")) != NULL; s++)
            if (s[2] >= '0' && s[2] <= '9' && s[3] >= '0' && s[3] <= '9') /* i1NN */
                promoted++;
        if (promoted != T[t].want)
            fail_msg("share %g of %zu: %zu promoted, expected %zu", T[t].v, T[t].k, promoted,
                     T[t].want);
        free_rules(r.v, r.n);
    }
    fixture_free(f);
}

static void test_arrange_stride_and_oom(void **state)
{
    (void)state;
    fixture *f = numbered(8, "5,6", "0");
    recsys__expr_ctx ctx = { 0, -1, NULL, NULL };
    rl r = { .n = 0 };
    add(&r, RECSYS_RULE_PROMOTE, "\"p\" in tags", 0.5, 0, NULL);
    add(&r, RECSYS_RULE_BURY, "\"b\" in tags", 0, 0, NULL);
    add(&r, RECSYS_RULE_PIN, NULL, 0, 1, "i3");
    /* a candidate array: positions into it come back */
    recsys__cand v[8];
    memset(v, 0, sizeof v);
    for (int i = 0; i < 8; i++)
        v[i].item = fixture_idx(f, (const char *[]){ "i0", "i1", "i2", "i3", "i4", "i5", "i6",
                                                     "i7" }[i]);
    size_t out[4], nout = 0;
    assert_int_equal(recsys__rules_arrange(r.v, r.n, &ctx, &f->model.catalog, &v[0].item, 8,
                                           sizeof *v, 4, out, &nout),
                     RECSYS_OK);
    assert_int_equal(nout, 4);
    const size_t want[] = { 1, 3, 5, 6 }; /* i1, pinned i3, promoted i5 i6; i0 buried out */
    for (int i = 0; i < 4; i++)
        assert_int_equal(out[i], want[i]);
    /* argument checks */
    assert_int_equal(recsys__rules_arrange(r.v, r.n, &ctx, &f->model.catalog, &v[0].item, 8, 2,
                                           4, out, &nout),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(nout, 0);
    assert_int_equal(recsys__rules_arrange(r.v, r.n, &ctx, &f->model.catalog, &v[0].item, 8, 6,
                                           4, out, &nout),
                     RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "the stride 6 is not a positive multiple of 4"));
    assert_int_equal(recsys__rules_arrange(r.v, r.n, &ctx, &f->model.catalog, &v[0].item, 8,
                                           sizeof *v, 4, NULL, &nout),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__rules_arrange(r.v, r.n, &ctx, &f->model.catalog, &v[0].item, 8,
                                           sizeof *v, 4, out, NULL),
                     RECSYS_E_INVALID_ARG);
    /* out of memory: the catalog's allocator fails the n-th allocation */
    long n;
    for (n = 1;; n++) {
        f->mem_stats.fail_at = n;
        long live = f->mem_stats.live;
        recsys__err_clear();
        nout = 99;
        recsys_status st = recsys__rules_arrange(r.v, r.n, &ctx, &f->model.catalog, &v[0].item,
                                                 8, sizeof *v, 4, out, &nout);
        f->mem_stats.fail_at = 0;
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_int_equal(nout, 0);
        assert_true(recsys_last_error()[0] != '\0');
        assert_int_equal(f->mem_stats.live, live);
    }
    assert_true(n >= 5);
    for (int i = 0; i < 4; i++)
        assert_int_equal(out[i], want[i]);
    free_rules(r.v, r.n);
    fixture_free(f);
}

/* ---------------------------------------------------------------- arrange: random ------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* A condition the test can judge by itself: kind, parameters and the text for the library. */
enum { K_AVAIL, K_NOTAVAIL, K_MINAGE_LE, K_MINAGE_GT, K_AGE_OK, K_ADULT, K_CAT, K_CATIN, K_TAG,
       K_NOTAG, K_PRICE_LT, K_SALE, K_AND, K_OR, K_NKINDS };
typedef struct cond {
    int kind, n;
    char s1[8], s2[8];
    struct cond *a, *b;
} cond;

static const char *const RCATS[] = { "a", "b", "c", "d" };
static const char *const RTAGS[] = { "t1", "t2", "t3" };

static cond *cond_new(int depth)
{
    cond *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->kind = (int)rnd(depth ? K_AND : K_NKINDS);
    c->n = (int)rnd(25);
    snprintf(c->s1, sizeof c->s1, "%s", RCATS[rnd(4)]);
    snprintf(c->s2, sizeof c->s2, "%s", RCATS[rnd(4)]);
    if (c->kind == K_TAG || c->kind == K_NOTAG)
        snprintf(c->s1, sizeof c->s1, "%s", RTAGS[rnd(3)]);
    if (c->kind == K_PRICE_LT)
        c->n = (int)rnd(120);
    if (c->kind >= K_AND) {
        c->a = cond_new(1);
        c->b = cond_new(1);
    }
    return c;
}

static void cond_free(cond *c)
{
    if (!c)
        return;
    cond_free(c->a);
    cond_free(c->b);
    free(c);
}

static void cond_text(const cond *c, char *buf, size_t cap)
{
    char x[256], y[256];
    switch (c->kind) {
    case K_AVAIL: snprintf(buf, cap, "available"); break;
    case K_NOTAVAIL: snprintf(buf, cap, "!available"); break;
    case K_MINAGE_LE: snprintf(buf, cap, "min_age <= %d", c->n); break;
    case K_MINAGE_GT: snprintf(buf, cap, "min_age > %d", c->n); break;
    case K_AGE_OK: snprintf(buf, cap, "min_age <= user.age"); break;
    case K_ADULT: snprintf(buf, cap, "user.age >= 18"); break;
    case K_CAT: snprintf(buf, cap, "category == \"%s\"", c->s1); break;
    case K_CATIN: snprintf(buf, cap, "category in [\"%s\", \"%s\"]", c->s1, c->s2); break;
    case K_TAG: snprintf(buf, cap, "\"%s\" in tags", c->s1); break;
    case K_NOTAG: snprintf(buf, cap, "\"%s\" not in tags", c->s1); break;
    case K_PRICE_LT: snprintf(buf, cap, "price < %d", c->n); break;
    case K_SALE: snprintf(buf, cap, "on_sale"); break;
    default:
        cond_text(c->a, x, sizeof x);
        cond_text(c->b, y, sizeof y);
        snprintf(buf, cap, "(%s) %s (%s)", x, c->kind == K_AND ? "&&" : "||", y);
    }
}

static bool has_tag(const recsys_item *it, const char *t)
{
    for (uint32_t i = 0; i < it->ntags; i++)
        if (!strcmp(it->tags[i], t))
            return true;
    return false;
}

static bool judge(const cond *c, const recsys_item *it, const recsys__expr_ctx *ctx)
{
    switch (c->kind) {
    case K_AVAIL: return it->available;
    case K_NOTAVAIL: return !it->available;
    case K_MINAGE_LE: return it->min_age <= c->n;
    case K_MINAGE_GT: return it->min_age > c->n;
    case K_AGE_OK: return ctx->user_age >= 0 && it->min_age <= ctx->user_age;
    case K_ADULT: return ctx->user_age >= 18;
    case K_CAT: return !strcmp(it->category, c->s1);
    case K_CATIN: return !strcmp(it->category, c->s1) || !strcmp(it->category, c->s2);
    case K_TAG: return has_tag(it, c->s1);
    case K_NOTAG: return !has_tag(it, c->s1);
    case K_PRICE_LT: {
        const recsys__attr *a = NULL;
        for (uint32_t i = 0; i < it->nattrs; i++)
            if (!strcmp(it->attrs[i].name, "price"))
                a = &it->attrs[i];
        return a && a->type == RECSYS__ATTR_NUM && a->num < c->n;
    }
    case K_SALE:
        for (uint32_t i = 0; i < it->nattrs; i++)
            if (!strcmp(it->attrs[i].name, "on_sale"))
                return it->attrs[i].type == RECSYS__ATTR_BOOL && it->attrs[i].num != 0;
        return false;
    case K_AND: return judge(c->a, it, ctx) && judge(c->b, it, ctx);
    default: return judge(c->a, it, ctx) || judge(c->b, it, ctx);
    }
}

typedef struct trial {
    fixture *f;
    int nitems;
    recsys__rule rules[16];
    cond *conds[16]; /* NULL for a pin by id alone */
    int pct[16];     /* promotions: share in percent */
    size_t n;
    recsys__expr_ctx ctx;
} trial;

static void random_catalog(trial *t)
{
    t->f = fixture_new();
    const recsys__mem *m = &t->f->mem;
    t->nitems = 5 + (int)rnd(50);
    for (int i = 0; i < t->nitems; i++) {
        char id[16];
        snprintf(id, sizeof id, "i%d", i);
        recsys_item *it = NULL, *old = NULL;
        assert_int_equal(recsys__item_new(m, id, &it), RECSYS_OK);
        assert_int_equal(recsys__item_set_text(m, it, RECSYS_FIELD_CATEGORY, RCATS[rnd(4)]),
                         RECSYS_OK);
        for (int k = 0; k < 3; k++)
            if (rnd(3) == 0)
                assert_int_equal(recsys__item_add_tag(m, it, RTAGS[k]), RECSYS_OK);
        static const int ages[] = { 0, 0, 0, 13, 16, 18 };
        it->available = rnd(5) != 0;
        it->min_age = ages[rnd(6)];
        /* price: a number, text or absent; on_sale: a bool or absent (the first item has
         * both, typed, so that every condition binds) */
        int p = i == 0 ? 0 : (int)rnd(4);
        if (p <= 1)
            assert_int_equal(recsys__item_set_attr(m, it, "price", RECSYS__ATTR_NUM,
                                                   (double)rnd(100), NULL), RECSYS_OK);
        else if (p == 2)
            assert_int_equal(recsys__item_set_attr(m, it, "price", RECSYS__ATTR_STR, 0, "n/a"),
                             RECSYS_OK);
        if (i == 0 || rnd(2))
            assert_int_equal(recsys__item_set_attr(m, it, "on_sale", RECSYS__ATTR_BOOL, rnd(2),
                                                   NULL), RECSYS_OK);
        assert_int_equal(recsys__catalog_put(&t->f->model.catalog, it, &old), RECSYS_OK);
        assert_null(old);
    }
}

static void random_rules(trial *t)
{
    static const int kinds[] = { RECSYS_RULE_FILTER, RECSYS_RULE_BLOCK, RECSYS_RULE_BOOST,
                                 RECSYS_RULE_BURY, RECSYS_RULE_PIN, RECSYS_RULE_PIN,
                                 RECSYS_RULE_PIN, RECSYS_RULE_PROMOTE };
    static const int pcts[] = { 7, 10, 25, 30, 50, 100 };
    t->n = rnd(9);
    for (size_t i = 0; i < t->n; i++) {
        int kind = kinds[rnd(8)];
        /* hard rules that keep most items, so lists are long enough to test */
        cond *c = cond_new(0);
        if (kind == RECSYS_RULE_FILTER && rnd(2)) {
            cond_free(c);
            c = calloc(1, sizeof *c);
            c->kind = K_AVAIL;
        }
        char text[1024], id[16];
        cond_text(c, text, sizeof text);
        recsys_rule p = rec(kind, text);
        t->pct[i] = 0;
        if (kind == RECSYS_RULE_BOOST)
            p.value = 0.5;
        if (kind == RECSYS_RULE_PROMOTE) {
            t->pct[i] = pcts[rnd(6)];
            p.value = t->pct[i] / 100.0;
        }
        if (kind == RECSYS_RULE_PIN) {
            p.position = (int32_t)rnd(8);
            int how = (int)rnd(3); /* 0 expr, 1 id, 2 id with a guard */
            if (how) {
                snprintf(id, sizeof id, rnd(8) ? "i%d" : "ghost%d", (int)rnd((uint32_t)t->nitems));
                p.item_id = id;
            }
            if (how == 1) {
                p.expr = NULL;
                cond_free(c);
                c = NULL;
            }
        }
        t->rules[i] = compile_ok(&p);
        assert_int_equal(recsys__rule_bind(&t->rules[i], &t->f->model.catalog), RECSYS_OK);
        t->conds[i] = c;
    }
}

static bool ok_item(const trial *t, const recsys_item *it)
{
    if (!it)
        return false;
    for (size_t r = 0; r < t->n; r++) {
        int k = t->rules[r].kind;
        if (k == RECSYS_RULE_FILTER && !judge(t->conds[r], it, &t->ctx))
            return false;
        if (k == RECSYS_RULE_BLOCK && judge(t->conds[r], it, &t->ctx))
            return false;
    }
    return true;
}

static bool is_buried(const trial *t, const recsys_item *it)
{
    for (size_t r = 0; r < t->n; r++)
        if (t->rules[r].kind == RECSYS_RULE_BURY && judge(t->conds[r], it, &t->ctx))
            return true;
    return false;
}

static bool any_promote(const trial *t, const recsys_item *it)
{
    for (size_t r = 0; r < t->n; r++)
        if (t->rules[r].kind == RECSYS_RULE_PROMOTE && judge(t->conds[r], it, &t->ctx))
            return true;
    return false;
}

static void test_arrange_random(void **state)
{
    (void)state;
    long lists = 0, pins_checked = 0, shares_checked = 0, full = 0;
    for (int trial_no = 0; trial_no < 3000; trial_no++) {
        trial t;
        memset(&t, 0, sizeof t);
        random_catalog(&t);
        random_rules(&t);
        const recsys__catalog *cat = &t.f->model.catalog;
        t.ctx.now = FIXTURE_NOW;
        t.ctx.user_age = rnd(3) ? (int)rnd(40) : -1;

        /* the language on these conditions: the library agrees with judge() on every item */
        for (size_t r = 0; r < t.n; r++)
            for (int i = 0; t.conds[r] && i < t.nitems; i++) {
                const recsys_item *it = recsys__catalog_get(cat, (uint32_t)i);
                char text[1024];
                cond_text(t.conds[r], text, sizeof text);
                if (recsys__expr_eval(t.rules[r].expr, it, &t.ctx) != judge(t.conds[r], it, &t.ctx))
                    fail_msg("'%s' on %s: the library disagrees", text, it->id);
            }

        /* a ranked list: a shuffled subset with repeats and an unknown index */
        uint32_t items[128];
        size_t n = 0;
        for (int i = 0; i < t.nitems; i++)
            if (rnd(5))
                items[n++] = (uint32_t)i;
        for (size_t i = n; i > 1; i--) {
            size_t j = rnd((uint32_t)i);
            uint32_t x = items[i - 1];
            items[i - 1] = items[j];
            items[j] = x;
        }
        if (n && rnd(2)) {
            uint32_t again_item = items[rnd((uint32_t)n)];
            items[n++] = again_item;
        }
        if (rnd(4) == 0)
            items[n++] = 999999;
        size_t k = 1 + rnd(30), out[128], nout = 0;
        assert_int_equal(recsys__rules_arrange(t.rules, t.n, &t.ctx, cat, items, n, sizeof *items,
                                               k, out, &nout),
                         RECSYS_OK);
        size_t again[128], nagain = 0; /* deterministic */
        assert_int_equal(recsys__rules_arrange(t.rules, t.n, &t.ctx, cat, items, n,
                                               sizeof *items, k, again, &nagain),
                         RECSYS_OK);
        assert_int_equal(nagain, nout);
        assert_memory_equal(again, out, nout * sizeof *out);

        /* E: eligible, first occurrence, in rank order (judged by the test) */
        uint32_t E[128];
        size_t ne = 0;
        bool seen[128] = { false }; /* indices here are < 60, or 999999 (slot 127) */
        for (size_t i = 0; i < n; i++) {
            size_t key = items[i] < 100 ? items[i] : 127;
            if (seen[key])
                continue;
            seen[key] = true;
            if (ok_item(&t, recsys__catalog_get(cat, items[i])))
                E[ne++] = items[i];
        }
        size_t kk = k < ne ? k : ne;
        assert_int_equal(nout, kk); /* full whenever k eligible items exist */
        if (kk == k)
            full++;
        uint32_t got[128];
        bool in_out[128] = { false };
        for (size_t j = 0; j < nout; j++) {
            assert_true(out[j] < n);
            got[j] = items[out[j]];
            const recsys_item *it = recsys__catalog_get(cat, got[j]);
            assert_true(ok_item(&t, it)); /* zero violations */
            assert_false(in_out[got[j]]); /* no repeats */
            in_out[got[j]] = true;
        }

        /* pins, simulated from the rules' text of the contract */
        bool taken[1000] = { false }, pinned[128] = { false };
        size_t npins = 0;
        for (size_t r = 0; r < t.n; r++) {
            const recsys__rule *rr = &t.rules[r];
            if (rr->kind != RECSYS_RULE_PIN || (size_t)rr->position >= kk || taken[rr->position])
                continue;
            long target = -1;
            if (rr->item_id) {
                for (size_t e = 0; e < ne; e++)
                    if (!strcmp(fixture_id(t.f, E[e]), rr->item_id) && !pinned[E[e]] &&
                        (!t.conds[r] || judge(t.conds[r], recsys__catalog_get(cat, E[e]), &t.ctx)))
                        target = E[e];
            } else {
                for (size_t e = 0; e < ne && target < 0; e++)
                    if (!pinned[E[e]] && judge(t.conds[r], recsys__catalog_get(cat, E[e]), &t.ctx))
                        target = E[e];
            }
            if (target < 0)
                continue;
            taken[rr->position] = true;
            pinned[target] = true;
            npins++;
            if (got[rr->position] != (uint32_t)target)
                fail_msg("trial %d: pin rule %zu: slot %d holds %s, expected %s", trial_no, r,
                         rr->position, fixture_id(t.f, got[rr->position]),
                         fixture_id(t.f, (uint32_t)target));
            pins_checked++;
        }

        /* promotions: met when the matching items exist and the earlier needs leave room */
        size_t needs = npins;
        for (size_t r = 0; r < t.n; r++) {
            if (t.rules[r].kind != RECSYS_RULE_PROMOTE)
                continue;
            size_t need = ((size_t)t.pct[r] * k + 99) / 100;
            if (need > kk)
                need = kk;
            needs += need;
            size_t m = 0, have = 0;
            for (size_t e = 0; e < ne; e++)
                m += judge(t.conds[r], recsys__catalog_get(cat, E[e]), &t.ctx);
            for (size_t j = 0; j < nout; j++)
                have += judge(t.conds[r], recsys__catalog_get(cat, got[j]), &t.ctx);
            if (m >= need && needs <= kk) {
                if (have < need)
                    fail_msg("trial %d: promote rule %zu (%d%% of %zu): %zu of %zu", trial_no, r,
                             t.pct[r], k, have, need);
                shares_checked++;
            }
        }

        /* bury and rank order among the slots no pin holds */
        long last[2] = { -1, -1 };
        bool seen_buried = false;
        for (size_t j = 0; j < nout; j++) {
            if (pinned[got[j]])
                continue;
            const recsys_item *it = recsys__catalog_get(cat, got[j]);
            bool b = is_buried(&t, it);
            if (!b && seen_buried)
                fail_msg("trial %d: %s after a buried item", trial_no, it->id);
            seen_buried |= b;
            long rank = -1;
            for (size_t e = 0; e < ne; e++)
                if (E[e] == got[j])
                    rank = (long)e;
            assert_true(rank > last[b]); /* each group in rank order */
            last[b] = rank;
            /* a buried item that no promotion took comes only when every other is in */
            if (b && !any_promote(&t, it))
                for (size_t e = 0; e < ne; e++)
                    if (!is_buried(&t, recsys__catalog_get(cat, E[e])))
                        assert_true(in_out[E[e]]);
        }
        /* the best: an unburied eligible item left out ranks below every unburied item that
         * backfill (not a pin, not a possible promotion) chose */
        for (size_t e = 0; e < ne; e++) {
            const recsys_item *y = recsys__catalog_get(cat, E[e]);
            if (in_out[E[e]] || is_buried(&t, y))
                continue;
            for (size_t j = 0; j < nout; j++) {
                const recsys_item *x = recsys__catalog_get(cat, got[j]);
                if (pinned[got[j]] || is_buried(&t, x) || any_promote(&t, x))
                    continue;
                bool before = false; /* x ranks before y */
                for (size_t e2 = 0; e2 < e; e2++)
                    before |= E[e2] == got[j];
                if (!before)
                    fail_msg("trial %d: %s left out for %s, ranked after it", trial_no, y->id,
                             x->id);
            }
        }

        /* boost on the same rules: the sum of the matching values */
        recsys__cand cv[128];
        memset(cv, 0, sizeof cv);
        for (size_t i = 0; i < n; i++) {
            cv[i].item = items[i];
            cv[i].score = (double)i;
        }
        recsys__rules_boost(t.rules, t.n, &t.ctx, cat, cv, n);
        for (size_t i = 0; i < n; i++) {
            const recsys_item *it = recsys__catalog_get(cat, items[i]);
            double want = (double)i;
            for (size_t r = 0; it && r < t.n; r++)
                if (t.rules[r].kind == RECSYS_RULE_BOOST && judge(t.conds[r], it, &t.ctx))
                    want += t.rules[r].value;
            assert_true(cv[i].score == want);
        }
        lists++;
        for (size_t r = 0; r < t.n; r++)
            cond_free(t.conds[r]);
        free_rules(t.rules, t.n);
        fixture_free(t.f);
    }
    print_message("%ld lists, %ld pins, %ld shares checked, %ld full\n", lists, pins_checked,
                  shares_checked, full);
    assert_true(lists == 3000);
    assert_true(pins_checked > 1000);
    assert_true(shares_checked > 300);
    assert_true(full > 1000);
}

/* ---------------------------------------------------------------- JSON ----------------- */

static void expect_json_error(const char *json, const char *want)
{
    recsys__rule_doc d;
    memset(&d, 0xAB, sizeof d);
    recsys__err_clear();
    recsys_status st = recsys__json_parse_rule(D, json, strlen(json), 1 << 20, &d);
    if (st != RECSYS_E_INVALID_ARG || !strstr(recsys_last_error(), want))
        fail_msg("'%s': status %d, message '%s'; expected '%s'", json, st, recsys_last_error(),
                 want);
    assert_null(d.expr);
    assert_null(d.item_id);
}

static void test_json(void **state)
{
    (void)state;
    static const struct {
        const char *in, *canonical;
    } ok[] = {
        { "{\"kind\":\"filter\",\"expr\":\"available\"}", NULL },
        { "{\"expr\":\"a == \\\"x\\\"\", \"kind\":\"block\"}",
          "{\"kind\":\"block\",\"expr\":\"a == \\\"x\\\"\"}" },
        { "{\"kind\":\"boost\",\"expr\":\"on_sale\",\"value\":0.5}", NULL },
        { "{\"kind\":\"boost\",\"expr\":\"on_sale\",\"value\":2}", NULL },
        { "{\"kind\":\"bury\",\"expr\":\"attr(\\\"\\u00e9t\\u00e9\\\") == \\\"\\\"\"}",
          "{\"kind\":\"bury\",\"expr\":\"attr(\\\"\xc3\xa9t\xc3\xa9\\\") == \\\"\\\"\"}" },
        { "{\"kind\":\"pin\",\"position\":3,\"item_id\":\"sku-1\"}", NULL },
        { "{\"kind\":\"pin\",\"item_id\":\"sku-1\"}", "{\"kind\":\"pin\",\"position\":0,\"item_id\":\"sku-1\"}" },
        { "{\"kind\":\"pin\",\"expr\":\"on_sale\",\"position\":999,\"item_id\":\"x\"}", NULL },
        { "{\"kind\":\"promote\",\"expr\":\"new\",\"value\":0.1}", NULL },
        { "{\"kind\":\"promote\",\"expr\":\"new\",\"value\":1e-300}", NULL },
        { " {\"kind\":\"promote\",\"expr\":\"new\",\"value\":1.0} ",
          "{\"kind\":\"promote\",\"expr\":\"new\",\"value\":1}" },
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        recsys__rule_doc d;
        if (recsys__json_parse_rule(D, ok[i].in, strlen(ok[i].in), 1 << 20, &d) != RECSYS_OK)
            fail_msg("'%s': %s", ok[i].in, recsys_last_error());
        char *s = NULL;
        size_t len = 0;
        assert_int_equal(recsys__json_rule(D, &d.rule, false, &s, &len), RECSYS_OK);
        const char *want = ok[i].canonical ? ok[i].canonical : ok[i].in;
        if (strcmp(s, want))
            fail_msg("'%s' wrote '%s', expected '%s'", ok[i].in, s, want);
        assert_int_equal(len, strlen(s));
        /* and the same rule back, through compile */
        recsys__rule c = compile_ok(&d.rule);
        recsys_rule pub;
        recsys__rule_public(&c, &pub);
        char *s2 = NULL;
        assert_int_equal(recsys__json_rule(D, &pub, true, &s2, NULL), RECSYS_OK);
        assert_string_equal(s, s2);
        recsys_string_free(s2);
        recsys__rule_free(D, &c);
        recsys__free(D, s);
        recsys__rule_doc_free(D, &d);
    }
    expect_json_error("[]", "rule: expected an object");
    expect_json_error("{\"kind\":\"filter\",\"expr\":\"a\"", "rule: invalid JSON at line 1");
    expect_json_error("{\"kind\":\"filter\",\"expr\":\"a\",\"expr\":\"b\"}", "invalid JSON");
    expect_json_error("{\"kind\":\"filter\",\"expr\":\"a\",\"name\":\"x\"}", "rule: unknown field 'name'");
    expect_json_error("{\"expr\":\"a\"}", "rule: field 'kind' is required");
    expect_json_error("{\"kind\":3,\"expr\":\"a\"}", "rule: field 'kind' must be a string");
    expect_json_error("{\"kind\":\"Filter\",\"expr\":\"a\"}",
                      "rule: field 'kind': 'Filter' is unknown (expected filter, block, boost, bury, pin or promote)");
    expect_json_error("{\"kind\":\"filter\"}", "filter rule: field 'expr' is required");
    expect_json_error("{\"kind\":\"filter\",\"expr\":null}", "rule: field 'expr' must be a string");
    expect_json_error("{\"kind\":\"filter\",\"expr\":\"a\\u0000b\"}",
                      "\\u0000 is not allowed"); /* jansson refuses it */
    expect_json_error("{\"kind\":\"filter\",\"expr\":\"a\",\"value\":0}",
                      "rule: field 'value' applies only to boost and promote rules, not filter rules");
    expect_json_error("{\"kind\":\"boost\",\"expr\":\"a\",\"position\":0,\"value\":1}",
                      "field 'position' applies only to pin rules, not boost rules");
    expect_json_error("{\"kind\":\"promote\",\"expr\":\"a\",\"item_id\":\"x\",\"value\":1}",
                      "field 'item_id' applies only to pin rules, not promote rules");
    expect_json_error("{\"kind\":\"boost\",\"expr\":\"a\"}", "boost rule: field 'value' is 0");
    expect_json_error("{\"kind\":\"boost\",\"expr\":\"a\",\"value\":\"1\"}", "field 'value' must be a number");
    expect_json_error("{\"kind\":\"boost\",\"expr\":\"a\",\"value\":-2}", "boost rule: field 'value' is -2");
    expect_json_error("{\"kind\":\"promote\",\"expr\":\"a\",\"value\":1.01}",
                      "promote rule: field 'value' is 1.01");
    expect_json_error("{\"kind\":\"pin\",\"position\":1.5,\"item_id\":\"x\"}",
                      "rule: field 'position' must be an integer");
    expect_json_error("{\"kind\":\"pin\",\"position\":1000,\"item_id\":\"x\"}",
                      "rule: field 'position' is 1000; expected 0..999");
    expect_json_error("{\"kind\":\"pin\",\"position\":-4294967296,\"item_id\":\"x\"}",
                      "field 'position' is -4294967296");
    expect_json_error("{\"kind\":\"pin\",\"position\":1}", "pin rule: field 'item_id' or 'expr' is required");
    expect_json_error("{\"kind\":\"pin\",\"item_id\":\"\"}", "pin rule: field 'item_id' is empty");
    expect_json_error("{\"kind\":\"pin\",\"item_id\":7}", "rule: field 'item_id' must be a string");
    /* a rule's JSON is not parsed for its expression here: compile does that */
    recsys__rule_doc d;
    const char *bad = "{\"kind\":\"filter\",\"expr\":\"a ==\"}";
    assert_int_equal(recsys__json_parse_rule(D, bad, strlen(bad), 1 << 20, &d), RECSYS_OK);
    recsys__rule c;
    assert_int_equal(recsys__rule_compile(D, &d.rule, &c), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "filter rule: expression: at byte 4: expected a value"));
    recsys__rule_doc_free(D, &d);
    /* size cap, NULLs */
    const char *j = "{\"kind\":\"filter\",\"expr\":\"available\"}";
    assert_int_equal(recsys__json_parse_rule(D, j, strlen(j), 10, &d), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "the limit is 10 bytes"));
    assert_int_equal(recsys__json_parse_rule(D, NULL, 0, 10, &d), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__json_parse_rule(D, j, strlen(j), 100, NULL), RECSYS_E_INVALID_ARG);
    char *s = NULL;
    recsys_rule r = rec(9, "x");
    assert_int_equal(recsys__json_rule(D, &r, false, &s, NULL), RECSYS_E_INVALID_ARG);
    assert_null(s);
    assert_int_equal(recsys__json_rule(D, NULL, false, &s, NULL), RECSYS_E_INVALID_ARG);
}

static void test_json_oom(void **state)
{
    (void)state;
    tk_alloc a;
    recsys_allocator ar;
    tk_alloc_init(&a, &ar);
    recsys__mem mem;
    assert_int_equal(recsys__mem_init(&mem, &ar), RECSYS_OK);
    const char *j = "{\"kind\":\"pin\",\"expr\":\"on_sale && \\\"x\\\" in tags\",\"position\":4,"
                    "\"item_id\":\"sku-9\"}";
    long n;
    for (n = 0;; n++) {
        a.count = 0;
        a.fail_at = n;
        recsys__rule_doc d;
        char *s = NULL;
        recsys_status st = recsys__json_parse_rule(&mem, j, strlen(j), 4096, &d);
        if (st == RECSYS_OK) {
            st = recsys__json_rule(&mem, &d.rule, false, &s, NULL);
            recsys__rule_doc_free(&mem, &d);
        }
        a.fail_at = -1;
        if (st == RECSYS_OK) {
            assert_string_equal(s, j);
            recsys__free(&mem, s);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(s);
        assert_int_equal(a.live, 0);
    }
    assert_true(n >= 2);
    assert_int_equal(a.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_compile_oom),
        cmocka_unit_test(test_bind_and_drop),
        cmocka_unit_test(test_boost_and_bury),
        cmocka_unit_test(test_arrange_cases),
        cmocka_unit_test(test_promote_rounding),
        cmocka_unit_test(test_arrange_stride_and_oom),
        cmocka_unit_test(test_arrange_random),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_oom),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("filter/rules", tests, NULL, NULL);
}
