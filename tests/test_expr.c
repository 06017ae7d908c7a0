/* test_expr.c - the constraint expression language (filter/expr.h) and the catalog's registry
 * of attribute names it binds against (model.h attr_names): a table of expressions over a
 * small catalog with the user known and unknown (missing values, mixed attribute types,
 * precedence, lists, escapes, numbers), syntax errors with their byte positions, bind errors
 * (unknown attributes, type mismatches), the limits, the out-of-memory loops of parse and of
 * catalog put's registry, and a differential test: thousands of random expressions rendered to
 * text, parsed, bound and evaluated against an independent evaluator of the same tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "filter/expr.h"
#include "model/model.h"
#include "testkit.h"

static const recsys__mem *D = &recsys__mem_default;

/* ---------------------------------------------------------------- building ------------- */

/* A comma-separated list into f(item, entry). */
static void each(const char *csv, recsys_item *it,
                 recsys_status (*f)(const recsys__mem *, recsys_item *, const char *))
{
    char buf[256];
    if (!csv || !*csv)
        return;
    snprintf(buf, sizeof buf, "%s", csv);
    for (char *s = strtok(buf, ","); s; s = strtok(NULL, ","))
        assert_int_equal(f(D, it, s), RECSYS_OK);
}

static recsys_item *mk(const char *id, const char *cat, const char *tags, const char *regions,
                       int available, int min_age, int64_t created)
{
    recsys_item *it = NULL;
    assert_int_equal(recsys__item_new(D, id, &it), RECSYS_OK);
    assert_int_equal(recsys__item_set_text(D, it, RECSYS_FIELD_CATEGORY, cat), RECSYS_OK);
    each(tags, it, recsys__item_add_tag);
    each(regions, it, recsys__item_add_region);
    it->available = available;
    it->min_age = min_age;
    it->created = created;
    return it;
}

static void num(recsys_item *it, const char *name, double v)
{
    assert_int_equal(recsys__item_set_attr(D, it, name, RECSYS__ATTR_NUM, v, NULL), RECSYS_OK);
}
static void str(recsys_item *it, const char *name, const char *v)
{
    assert_int_equal(recsys__item_set_attr(D, it, name, RECSYS__ATTR_STR, 0, v), RECSYS_OK);
}
static void boolean(recsys_item *it, const char *name, bool v)
{
    assert_int_equal(recsys__item_set_attr(D, it, name, RECSYS__ATTR_BOOL, v, NULL), RECSYS_OK);
}

static void put(recsys__catalog *c, recsys_item *it)
{
    recsys_item *old = NULL;
    assert_int_equal(recsys__catalog_put(c, it, &old), RECSYS_OK);
    recsys__item_free(c->mem, old);
}

/* The table's catalog: A lap1, B lap2, C tab1, D film (see each line). */
static void table_catalog(recsys__catalog *c)
{
    recsys__catalog_init(c, D);
    recsys_item *a = mk("lap1", "laptop", "gpu,refurbished", "FR,DE", 1, 0, 1000);
    assert_int_equal(recsys__item_set_text(D, a, RECSYS_FIELD_TITLE, "Gaming Laptop"), RECSYS_OK);
    assert_int_equal(recsys__item_set_text(D, a, RECSYS_FIELD_PROVIDER, "acme"), RECSYS_OK);
    num(a, "price", 1200);
    str(a, "brand", "acme");
    boolean(a, "on_sale", true);
    num(a, "screen size", 15.6);
    str(a, "category", "custom-cat"); /* a custom attribute named like the built-in field */
    str(a, "esc", "\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
    num(a, "tenth", 0.1);
    put(c, a);
    recsys_item *b = mk("lap2", "laptop", "gpu", NULL, 0, 18, 2000);
    num(b, "price", 900);
    str(b, "brand", "Zeta");
    boolean(b, "on_sale", false);
    put(c, b);
    recsys_item *t = mk("tab1", "tablet", NULL, NULL, 1, 0, 3000);
    str(t, "price", "cheap"); /* price is a number elsewhere: a mixed attribute */
    str(t, "brand", "acme");
    put(c, t);
    recsys_item *f = mk("film", "film", "drama", "US", 1, 16, 500);
    num(f, "rating", 4.5);
    put(c, f);
}

static const char *const TABLE_IDS[] = { "lap1", "lap2", "tab1", "film" };

static recsys__expr *parse_ok(const recsys__mem *m, const char *text)
{
    recsys__expr *e = NULL;
    recsys_status st = recsys__expr_parse(m, text, strlen(text), &e);
    if (st != RECSYS_OK)
        fail_msg("parse '%s': %s", text, recsys_last_error());
    return e;
}

/* Parses, binds and evaluates text on the four items: a "1010" string. */
static void eval_bits(const recsys__catalog *c, const char *text, const recsys__expr_ctx *ctx,
                      char out[5])
{
    recsys__expr *e = parse_ok(D, text);
    if (recsys__expr_bind(e, c) != RECSYS_OK)
        fail_msg("bind '%s': %s", text, recsys_last_error());
    for (int i = 0; i < 4; i++)
        out[i] = recsys__expr_eval(e, recsys__catalog_get(c, recsys__catalog_find(c, TABLE_IDS[i])),
                                   ctx) ? '1' : '0';
    out[4] = '\0';
    recsys__expr_free(e);
}

/* ---------------------------------------------------------------- eval table ----------- */

static void test_eval_table(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *known, *unknown; /* user 20/FR/u1; user unknown */
    } T[] = {
        { "category == \"laptop\"", "1100", "1100" },
        { "category != \"laptop\"", "0011", "0011" },
        { "price <= 1000", "0100", "0100" },           /* a text price and no price: false */
        { "!(price <= 1000)", "1011", "1011" },
        { "price > 1000 || price == \"cheap\"", "1010", "1010" },
        { "price != 1200", "0100", "0100" },           /* missing and mistyped: false */
        { "price in [900, 1200]", "1100", "1100" },
        { "-5 < price", "1100", "1100" },
        { "price >= 1.2e3 && price == 120000e-2 && price == 1.2E+3", "1000", "1000" },
        { "\"refurbished\" in tags", "1000", "1000" },
        { "\"refurbished\" not in tags", "0111", "0111" },
        { "\"gpu\" in tags && !(\"refurbished\" in tags)", "0100", "0100" },
        { "\"DE\" in regions", "1000", "1000" },
        { "category in [\"laptop\", \"tablet\"]", "1110", "1110" },
        { "category not in [\"tablet\",\"laptop\"]", "0001", "0001" },
        { "category in []", "0000", "0000" },
        { "category not in []", "1111", "1111" },
        { "available", "1011", "1011" },
        { "!available", "0100", "0100" },
        { "available == true && min_age == 0", "1010", "1010" },
        { "on_sale", "1000", "1000" },
        { "on_sale == false", "0100", "0100" },
        { "on_sale != true", "0100", "0100" },
        { "!on_sale", "0111", "0111" },
        { "min_age <= user.age", "1111", "0000" },
        { "min_age > 0 || created == 500", "0101", "0101" },
        { "user.age >= 18", "1111", "0000" },
        { "!(user.age >= 18)", "0000", "1111" },
        { "user.region in regions", "1000", "0000" },
        { "user.region not in regions", "0111", "0000" },
        { "user.region == \"FR\"", "1111", "0000" },
        { "user.id == \"u1\"", "1111", "0000" },
        { "user.id != \"u2\"", "1111", "0000" },
        { "created < now", "1001", "1001" },
        { "now == 1500", "1111", "1111" },
        { "attr(\"screen size\") > 15", "1000", "1000" },
        { "attr(\"category\") == \"custom-cat\" && category == \"laptop\"", "1000", "1000" },
        { "brand == \"acme\" && (price > 1000 || available)", "1010", "1010" },
        { "brand == \"ACME\"", "0000", "0000" }, /* case-sensitive */
        { "brand < \"b\"", "1110", "1110" },     /* byte order: 'Z' < 'b' */
        { "rating == 4.5", "0001", "0001" },
        { "rating in [5, 4.5]", "0001", "0001" },
        { "price < rating || rating < price", "0000", "0000" }, /* never on one item */
        { "id == \"tab1\"", "0010", "0010" },
        { "title == \"Gaming Laptop\"", "1000", "1000" },
        { "provider == \"\"", "0111", "0111" },
        { "description == \"\"", "1111", "1111" },
        { "true", "1111", "1111" },
        { "false", "0000", "0000" },
        { "1 == 1 && \"a\" < \"b\" && -0 == 0", "1111", "1111" },
        { "false && false || true", "1111", "1111" },   /* && binds tighter */
        { "true || false && false", "1111", "1111" },
        { "!true || true", "1111", "1111" },            /* ! binds tighter */
        { "!(true || true)", "0000", "0000" },
        { "!!available", "1011", "1011" },
        { "esc == \"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"", "1000", "1000" },
        { "esc == \"\\\"\\\\/\\b\\f\\n\\r\\t\xc3\xa9\xf0\x9f\x98\x80\"", "1000", "1000" },
        { "tenth == 0.1 && tenth == 0.10000000000000001", "1000", "1000" },
        { "tenth == 0.1000001", "0000", "0000" },
        { "\t( category\r\n==\"film\" )\n", "0001", "0001" },
        /* sums */
        { "created >= now - 600", "1110", "1110" },
        { "created >= now-600 && now-600 <= created", "1110", "1110" },
        { "price - 200 > 900", "1000", "1000" },
        { "min_age + 2 <= user.age", "1111", "0000" },
        { "now - 1500 == 0", "1111", "1111" },
        { "price + rating > 0", "0000", "0000" }, /* no item has both */
        { "!(price + rating > 0)", "1111", "1111" },
        { "1 + 2 - 3 == 0 && -1 - -1 == 0 && now--1 == 1501", "1111", "1111" },
        { "attr(\"screen size\") + 0.4 == 16", "1000", "1000" },
        { "price - price == 0", "1100", "1100" },
        { "price + 0 in [900, 1200]", "1100", "1100" },
        { "!price - 1000 > 0", "0111", "0111" }, /* ! takes the whole test */
    };
    recsys__catalog c;
    table_catalog(&c);
    recsys__expr_ctx known = { 1500, 20, "FR", "u1" }, unknown = { 1500, -1, NULL, NULL };
    for (size_t i = 0; i < sizeof T / sizeof *T; i++) {
        char a[5], b[5];
        eval_bits(&c, T[i].text, &known, a);
        eval_bits(&c, T[i].text, &unknown, b);
        if (strcmp(a, T[i].known) || strcmp(b, T[i].unknown))
            fail_msg("'%s': got %s / %s, expected %s / %s", T[i].text, a, b, T[i].known,
                     T[i].unknown);
    }
    /* NULL item and NULL context */
    recsys__expr *e = parse_ok(D, "true");
    assert_false(recsys__expr_eval(e, NULL, &known));
    assert_true(recsys__expr_eval(e, recsys__catalog_get(&c, 0), NULL));
    size_t len = 0;
    assert_string_equal(recsys__expr_text(e, &len), "true");
    assert_int_equal(len, 4);
    recsys__expr_free(e);
    e = parse_ok(D, "user.age > 1 || user.id == \"x\"");
    assert_false(recsys__expr_eval(e, recsys__catalog_get(&c, 0), NULL)); /* all missing */
    recsys__expr_free(e);
    recsys__catalog_free(&c);
}

/* ---------------------------------------------------------------- errors --------------- */

static void expect_error(const char *text, size_t len, const char *want)
{
    recsys__expr *e = (recsys__expr *)&e; /* must come back NULL */
    recsys__err_clear();
    recsys_status st = recsys__expr_parse(D, text, len, &e);
    if (st != RECSYS_E_INVALID_ARG || e != NULL || !strstr(recsys_last_error(), want))
        fail_msg("'%.*s': status %d, message '%s'; expected '%s'", (int)RECSYS_MIN(len, 80),
                 text, st, recsys_last_error(), want);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } T[] = {
        { "(category == \"x\"",
          "expression: at byte 16: expected ')' to close the '(' at byte 0 but found end of text" },
        { "(a == 1 || (b == 2) && c", "at byte 24: expected ')' to close the '(' at byte 0" },
        { "category == ", "at byte 12: expected a value" },
        { "category = \"x\"", "at byte 9: expected '=='" },
        { "price > 5 & on_sale", "at byte 10: expected '&&'" },
        { "price > 5 | on_sale", "at byte 10: expected '||'" },
        { "title == \"abc", "at byte 9: the string is not closed" },
        { "title == \"a\\qb\"", "at byte 11: invalid escape" },
        { "title == \"a\\u12\"", "at byte 11: invalid \\u escape" },
        { "title == \"\\u0000\"", "at byte 10: \\u0000 is not allowed" },
        { "title == \"\\ud800\"", "at byte 10: \\uD800 is a high surrogate without its low half" },
        { "title == \"\\ud800\\u0041\"", "at byte 10: \\uD800 is a high surrogate" },
        { "title == \"\\udc00\"", "at byte 10: \\uDC00 is a lone low surrogate" },
        { "title == \"a\nb\"", "at byte 11: control byte 0x0a in a string" },
        { "price >", "at byte 7: expected a value" },
        { "category in \"x\"", "at byte 12: expected a list after 'in'" },
        { "category not \"x\"", "at byte 13: expected 'in' after 'not'" },
        { "in tags", "at byte 0: expected a value before 'in'" },
        { "tags == \"x\"", "at byte 0: tags is a list: test a member with \"x\" in tags" },
        { "\"x\" == regions", "at byte 7: regions is a list" },
        { "tags in [\"a\"]", "at byte 0: the left of 'in' is one value; tags is a list" },
        { "category > 5", "at byte 9: cannot compare category (text) with the number 5 (a number)" },
        { "now == \"x\"", "at byte 4: cannot compare now (a number) with the string \"x\" (text)" },
        { "user.region == 1", "cannot compare user.region (text) with the number 1" },
        { "available < true", "at byte 10: available is a bool: bools compare only with == and !=" },
        { "on_sale >= false", "at byte 8: false is a bool" },
        { "available == 1", "cannot compare available (a bool) with the number 1" },
        { "5 in tags", "at byte 2: the number 5 (a number) is never in tags, a list of text" },
        { "user.age in regions", "user.age (a number) is never in regions" },
        { "category in [1, 2]", "at byte 9: category (text) is never in a list of numbers" },
        { "min_age in [\"a\"]", "min_age (a number) is never in a list of strings" },
        { "category", "at byte 0: category is text, not a condition" },
        { "min_age && true", "at byte 0: min_age is a number, not a condition" },
        { "tags", "at byte 0: tags is a list, not a condition" },
        { "\"x\"", "at byte 0: the string \"x\" is text, not a condition" },
        { "5 || true", "at byte 0: the number 5 is a number, not a condition" },
        { "price 5", "at byte 6: expected an operator (==, !=, <, <=, >, >=, in, not in, &&, ||) "
                     "but found '5'" },
        { "category \"x\"", "at byte 9: expected an operator (==, !=, <, <=, >, >=, in, not in) "
                            "but found a string" },
        { "user.name == \"x\"", "at byte 5: expected age, region or id after 'user.' but found 'name'" },
        { "user == 1", "at byte 5: expected '.' after 'user'" },
        { "x in [1, \"a\"]", "at byte 9: the list mixes a number and text" },
        { "x in [1 2]", "at byte 8: expected ',' or ']' in the list opened at byte 5 but found '2'" },
        { "x in [1,", "at byte 8: expected a literal" },
        { "x in [a]", "at byte 6: expected a literal (a string, a number, true or false) but found 'a'" },
        { ")", "at byte 0: expected a value" },
        { "a == 1)", "at byte 6: ')' without a matching '('" },
        { "a == 1 b", "at byte 7: expected '&&', '||' or the end of the text but found 'b'" },
        { "\"x\" in tags in tags", "at byte 12: expected '&&', '||' or the end of the text" },
        { "", "at byte 0: expected a condition but found end of text (the expression is empty)" },
        { "  \t", "at byte 3: expected a condition" },
        { "\xe2\x82\xac == 1", "at byte 0: unexpected non-ASCII character outside a string" },
        { "a == 1.", "at byte 7: expected a digit after '.'" },
        { "a == .5", "at byte 5: expected a value" },
        { "a == 1e", "at byte 7: expected a digit in the exponent" },
        { "a == - 1", "at byte 6: expected a digit after '-'" },
        { "1e999 == a", "at byte 0: number 1e999 is out of range" },
        { "a == -1e400", "at byte 5: number -1e400 is out of range" },
        { "a == 1.5.2", "at byte 8: expected '&&', '||' or the end of the text but found '.'" },
        { "attr(x) == 1", "at byte 5: expected the attribute's name as a string" },
        { "attr(\"\") == 1", "at byte 5: attr(\"\"): an attribute name is not empty" },
        { "attr(\"a\" == 1", "at byte 9: expected ')' after the attribute's name" },
        { "attr == 1", "at byte 5: expected '(' after 'attr'" },
        { "!", "at byte 1: expected a value" },
        { "a == 1 &&", "at byte 9: expected a value" },
        { "a == 1 || || b", "at byte 10: expected a value" },
        { "a == $", "at byte 5: unexpected character '$'" },
        { "a === 1", "at byte 4: expected '=='" },
        { "category + 1 == 2", "at byte 9: '+' and '-' apply to numbers; category is text" },
        { "now + \"x\" == 1", "at byte 6: '+' and '-' apply to numbers; the string \"x\" is text" },
        { "now + ", "at byte 6: expected a value" },
        { "available - 1 > 0", "at byte 10: '+' and '-' apply to numbers; available is a bool" },
        { "1 + tags > 0", "at byte 4: '+' and '-' apply to numbers; tags is a list" },
        { "now - 5 == \"x\"", "at byte 8: cannot compare the sum at byte 0 (a number) with the string" },
        { "now + 1", "at byte 0: the sum at byte 0 is a number, not a condition" },
        { "x == 1 +", "at byte 8: expected a value" },
        { "(x == 1) - 2", "at byte 9: expected '&&', '||' or the end of the text but found '-'" },
    };
    for (size_t i = 0; i < sizeof T / sizeof *T; i++)
        expect_error(T[i].text, strlen(T[i].text), T[i].want);
    /* bytes the text may not hold */
    expect_error("a == \"\xff\"", 8, "the text is not valid UTF-8 or holds a NUL byte");
    expect_error("a == 1\0", 7, "not valid UTF-8 or holds a NUL byte");
    recsys__expr *e = NULL;
    assert_int_equal(recsys__expr_parse(D, NULL, 0, &e), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "the text is NULL"));
    assert_int_equal(recsys__expr_parse(D, "true", 4, NULL), RECSYS_E_INVALID_ARG);
    /* a prefix of the text only: len is honoured */
    e = parse_ok(D, "true");
    recsys__expr_free(e);
    assert_int_equal(recsys__expr_parse(D, "true && junk(", 4, &e), RECSYS_OK);
    assert_string_equal(recsys__expr_text(e, NULL), "true");
    recsys__expr_free(e);
}

static void expect_bind_error(const recsys__catalog *c, const char *text, const char *want)
{
    recsys__expr *e = parse_ok(D, text);
    recsys__err_clear();
    recsys_status st = recsys__expr_bind(e, c);
    if (st != RECSYS_E_INVALID_ARG || !strstr(recsys_last_error(), want))
        fail_msg("bind '%s': status %d, message '%s'; expected '%s'", text, st,
                 recsys_last_error(), want);
    recsys__expr_free(e);
}

static void test_bind(void **state)
{
    (void)state;
    recsys__catalog c;
    table_catalog(&c);
    expect_bind_error(&c, "colour == \"red\"",
                      "expression: at byte 0: unknown attribute 'colour' (no item in the catalog has it)");
    expect_bind_error(&c, "available && (x > 1 || colour == \"red\")", "at byte 14: unknown attribute 'x'");
    expect_bind_error(&c, "attr(\"nope\") > 1", "at byte 0: unknown attribute 'nope'");
    expect_bind_error(&c, "Brand == \"acme\"", "unknown attribute 'Brand'"); /* case-sensitive */
    expect_bind_error(&c, "price == true",
                      "at byte 6: attribute 'price' (numbers and text in the catalog) can never "
                      "be compared with true (a bool)");
    expect_bind_error(&c, "brand > 5", "attribute 'brand' (text in the catalog) can never be "
                                       "compared with the number 5 (a number)");
    expect_bind_error(&c, "brand == rating", "attribute 'brand' (text in the catalog) can never "
                                             "be compared with attribute 'rating' (numbers");
    expect_bind_error(&c, "on_sale < on_sale", "share only bools, which compare only with == and !=");
    expect_bind_error(&c, "brand", "at byte 0: attribute 'brand' (text in the catalog) is not a "
                                   "condition");
    expect_bind_error(&c, "brand in [1, 2]", "at byte 6: attribute 'brand' (text in the catalog) "
                                             "is never in a list of numbers");
    expect_bind_error(&c, "rating in tags", "attribute 'rating' (numbers in the catalog) is never "
                                            "in a list of text");
    expect_bind_error(&c, "min_age == on_sale", "can never be compared");
    expect_bind_error(&c, "user.region == rating", "user.region (text) can never be compared");
    expect_bind_error(&c, "brand + 1 > 0", "at byte 0: attribute 'brand' (text in the catalog) is "
                                           "not a number; '+' and '-' apply to numbers");
    expect_bind_error(&c, "price + nope > 0", "at byte 8: unknown attribute 'nope'");
    expect_bind_error(&c, "1 < 2 + on_sale", "at byte 8: attribute 'on_sale' (bools in the "
                                             "catalog) is not a number");
    /* what binds */
    static const char *const ok[] = {
        "price > 1", "price == \"cheap\"", "price in [\"cheap\"]", "price in []", "on_sale",
        "on_sale == true", "price < rating", "brand in tags", "attr(\"screen size\") >= 1",
        "attr(\"category\") == \"x\"", "category == \"x\"", "tenth == user.age", "true",
        "price + 1 > rating - 2", "now - created in [1, 2]",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        recsys__expr *e = parse_ok(D, ok[i]);
        if (recsys__expr_bind(e, &c) != RECSYS_OK)
            fail_msg("bind '%s': %s", ok[i], recsys_last_error());
        recsys__expr_free(e);
    }
    /* the registry never forgets: rating's only item removed, it still binds (and is false) */
    recsys_item *old = NULL;
    assert_int_equal(recsys__catalog_remove(&c, "film", &old), RECSYS_OK);
    recsys__item_free(D, old);
    recsys__expr *e = parse_ok(D, "rating == 4.5");
    assert_int_equal(recsys__expr_bind(e, &c), RECSYS_OK);
    /* an unbound expression evaluates: an unknown name is missing */
    recsys__expr *u = parse_ok(D, "colour == \"red\" || !(colour == \"red\")");
    recsys__expr_ctx ctx = { 0, -1, NULL, NULL };
    assert_true(recsys__expr_eval(u, recsys__catalog_get(&c, 0), &ctx));
    recsys__expr_free(u);
    /* re-binding: a name that appears later binds then */
    u = parse_ok(D, "colour == \"red\"");
    assert_int_equal(recsys__expr_bind(u, &c), RECSYS_E_INVALID_ARG);
    recsys_item *it = mk("new", "x", NULL, NULL, 1, 0, 0);
    str(it, "colour", "red");
    put(&c, it);
    assert_int_equal(recsys__expr_bind(u, &c), RECSYS_OK);
    assert_true(recsys__expr_eval(u, it, &ctx));
    assert_int_equal(recsys__expr_bind(NULL, &c), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__expr_bind(u, NULL), RECSYS_E_INVALID_ARG);
    recsys__expr_free(u);
    recsys__expr_free(e);
    recsys__catalog_free(&c);
}

/* ---------------------------------------------------------------- limits --------------- */

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1);
    assert_non_null(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + ul * n, tail, tl + 1);
    return s;
}

static void test_limits(void **state)
{
    (void)state;
    recsys__expr_ctx ctx = { 0, -1, NULL, NULL };
    recsys_item *it = mk("i", "c", NULL, NULL, 1, 0, 0);
    /* length: 65536 bytes parse, 65537 do not */
    char *s = repeat("available", " ", RECSYS__EXPR_TEXT_MAX - 9, "");
    recsys__expr *e = parse_ok(D, s);
    assert_true(recsys__expr_eval(e, it, &ctx));
    recsys__expr_free(e);
    free(s);
    s = repeat("available", " ", RECSYS__EXPR_TEXT_MAX - 8, "");
    expect_error(s, strlen(s), "expression: the text is 65537 bytes long; the limit is 65536");
    free(s);
    /* nesting: 64 levels of '(' or '!' parse, 65 do not */
    char *open = repeat("", "(", 64, "true"), *both = repeat(open, ")", 64, "");
    e = parse_ok(D, both);
    assert_true(recsys__expr_eval(e, it, &ctx));
    recsys__expr_free(e);
    free(open);
    free(both);
    open = repeat("", "(", 65, "true");
    both = repeat(open, ")", 65, "");
    expect_error(both, strlen(both), "at byte 64: nesting deeper than 64 levels of '(' and '!'");
    free(open);
    free(both);
    s = repeat("", "!", 64, "true");
    e = parse_ok(D, s);
    assert_true(recsys__expr_eval(e, it, &ctx)); /* an even number of negations */
    recsys__expr_free(e);
    free(s);
    s = repeat("", "!", 65, "true");
    expect_error(s, strlen(s), "at byte 64: nesting deeper than 64");
    free(s);
    s = repeat("", "(!", 33, "true");
    expect_error(s, strlen(s), "nesting deeper than 64");
    free(s);
    /* a long chain is flat: 10000 terms, no depth, evaluated right */
    s = repeat("", "true&&", 9999, "available");
    e = parse_ok(D, s);
    assert_true(recsys__expr_eval(e, it, &ctx));
    it->available = 0;
    assert_false(recsys__expr_eval(e, it, &ctx));
    recsys__expr_free(e);
    free(s);
    s = repeat("", "false || ", 7000, "!available");
    e = parse_ok(D, s);
    assert_true(recsys__expr_eval(e, it, &ctx));
    recsys__expr_free(e);
    free(s);
    /* lists: 1024 entries parse (and are searched), 1025 do not */
    s = repeat("min_age in [", "7,", RECSYS__EXPR_LIST_MAX - 1, "0]");
    e = parse_ok(D, s);
    assert_true(recsys__expr_eval(e, it, &ctx));
    recsys__expr_free(e);
    free(s);
    s = repeat("min_age in [", "7,", RECSYS__EXPR_LIST_MAX, "0]");
    expect_error(s, strlen(s), "at byte 2060: the list has more than 1024 entries");
    free(s);
    /* numbers: 64 characters, not 65 */
    s = repeat("min_age < 1", "0", 63, "");
    e = parse_ok(D, s);
    assert_true(recsys__expr_eval(e, it, &ctx));
    recsys__expr_free(e);
    free(s);
    s = repeat("min_age < 1", "0", 64, "");
    expect_error(s, strlen(s), "at byte 10: number literal longer than 64 characters");
    free(s);
    s = repeat("min_age < 0.", "0", 62, "1");
    expect_error(s, strlen(s), "number literal longer than 64 characters");
    free(s);
    recsys__item_free(D, it);
}

/* ---------------------------------------------------------------- numbers --------------- */

static void test_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *lit;
        double v;
    } T[] = {
        { "0", 0 }, { "-0", 0 }, { "7", 7 }, { "-12.25", -12.25 }, { "1.5e3", 1500 },
        { "1E-2", 0.01 }, { "2.5e+1", 25 }, { "007", 7 }, { "0.1", 0.1 },
        { "9007199254740993", 9007199254740992.0 }, { "1e-400", 0 },
        { "123456789012345678901234567890", 123456789012345678901234567890.0 },
        { "1.7976931348623157e308", 1.7976931348623157e308 }, { "4.9e-324", 4.9e-324 },
        { "0.000001e6", 1 }, { "1e00000000000000000000000000000000000000000000000001", 10 },
    };
    recsys__expr_ctx ctx = { 0, -1, NULL, NULL };
    for (size_t i = 0; i < sizeof T / sizeof *T; i++) {
        recsys_item *it = mk("i", "c", NULL, NULL, 1, 0, 0);
        num(it, "x", T[i].v);
        char text[512];
        snprintf(text, sizeof text, "x == %s && %s == x && !(x != %s)", T[i].lit, T[i].lit,
                 T[i].lit);
        recsys__expr *e = parse_ok(D, text);
        if (!recsys__expr_eval(e, it, &ctx))
            fail_msg("'%s' is not %.17g", T[i].lit, T[i].v);
        recsys__expr_free(e);
        recsys__item_free(D, it);
    }
    /* the request time compares as a number of seconds */
    recsys_item *it = mk("i", "c", NULL, NULL, 1, 0, 1700000000);
    recsys__expr *e = parse_ok(D, "created <= now && now < 1700000001");
    ctx.now = 1700000000;
    assert_true(recsys__expr_eval(e, it, &ctx));
    ctx.now = 1699999999;
    assert_false(recsys__expr_eval(e, it, &ctx));
    recsys__expr_free(e);
    recsys__item_free(D, it);
}

/* ---------------------------------------------------------------- out of memory -------- */

static void test_parse_oom(void **state)
{
    (void)state;
    const char *text = "(category in [\"laptop\", \"tablet\", \"phone\"] && price <= 1500.5) || "
                       "!(\"refurbished\" in tags) && attr(\"screen size\") > 13 && "
                       "brand not in [\"x\\u00e9\", \"y\"] && user.age >= min_age && available";
    tk_alloc a;
    recsys_allocator rec;
    tk_alloc_init(&a, &rec);
    recsys__mem mem;
    assert_int_equal(recsys__mem_init(&mem, &rec), RECSYS_OK);
    long n;
    for (n = 0;; n++) {
        a.count = 0;
        a.fail_at = n;
        recsys__expr *e = (recsys__expr *)&e;
        recsys__err_clear();
        recsys_status st = recsys__expr_parse(&mem, text, strlen(text), &e);
        if (st == RECSYS_OK) {
            recsys__expr_free(e);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(e);
        assert_true(recsys_last_error()[0] != '\0');
        assert_int_equal(a.live, 0);
    }
    assert_true(n >= 5);
    assert_int_equal(a.live, 0);
}

/* ---------------------------------------------------------------- the registry ---------- */

static unsigned bits(const recsys__catalog *c, const char *name)
{
    return recsys__catalog_attr_types(c, name);
}

static void test_registry(void **state)
{
    (void)state;
    recsys__catalog c;
    recsys__catalog_init(&c, D);
    assert_int_equal(bits(&c, "price"), 0);
    assert_int_equal(bits(&c, NULL), 0);
    recsys_item *a = mk("a", "x", NULL, NULL, 1, 0, 0);
    num(a, "price", 1);
    boolean(a, "on_sale", true);
    assert_int_equal(recsys__item_set_gen_attr(D, a, "llm_only", RECSYS__ATTR_STR, 0, "v"),
                     RECSYS_OK);
    put(&c, a);
    assert_int_equal(bits(&c, "price"), 1u << RECSYS__ATTR_NUM);
    assert_int_equal(bits(&c, "on_sale"), 1u << RECSYS__ATTR_BOOL);
    assert_int_equal(bits(&c, "llm_only"), 0); /* generated attributes are not the host's */
    recsys_item *b = mk("b", "x", NULL, NULL, 1, 0, 0);
    str(b, "price", "cheap");
    put(&c, b);
    assert_int_equal(bits(&c, "price"), (1u << RECSYS__ATTR_NUM) | (1u << RECSYS__ATTR_STR));
    /* replacing an item adds its new names; removing never forgets */
    recsys_item *b2 = mk("b", "x", NULL, NULL, 1, 0, 0);
    num(b2, "weight", 3);
    put(&c, b2);
    assert_int_equal(bits(&c, "weight"), 1u << RECSYS__ATTR_NUM);
    recsys_item *old = NULL;
    assert_int_equal(recsys__catalog_remove(&c, "a", &old), RECSYS_OK);
    assert_int_equal(bits(&c, "on_sale"), 1u << RECSYS__ATTR_BOOL);
    assert_int_equal(c.attr_names.n, 3);
    /* putting back an item whose names are known allocates nothing (a caller's rollback) */
    tk_alloc ta;
    recsys_allocator rec;
    tk_alloc_init(&ta, &rec);
    recsys__mem mem;
    assert_int_equal(recsys__mem_init(&mem, &rec), RECSYS_OK);
    recsys_item *back = NULL;
    assert_int_equal(recsys__item_clone(&mem, old, &back), RECSYS_OK);
    recsys__item_free(D, old);
    recsys__catalog cm;
    recsys__catalog_init(&cm, &mem);
    recsys_item *o2 = NULL;
    assert_int_equal(recsys__catalog_put(&cm, back, &o2), RECSYS_OK);
    assert_int_equal(recsys__catalog_remove(&cm, "a", &o2), RECSYS_OK);
    long before = ta.count;
    recsys_item *o3 = (recsys_item *)&o3;
    assert_int_equal(recsys__catalog_put(&cm, o2, &o3), RECSYS_OK);
    assert_null(o3);
    assert_int_equal(ta.count, before);
    recsys__catalog_free(&cm);
    assert_int_equal(ta.live, 0);
    recsys__catalog_free(&c);
}

/* catalog put under allocation failure: the registry is left as it was */
static void test_registry_oom(void **state)
{
    (void)state;
    tk_alloc ta;
    recsys_allocator rec;
    tk_alloc_init(&ta, &rec);
    recsys__mem mem;
    assert_int_equal(recsys__mem_init(&mem, &rec), RECSYS_OK);
    recsys__catalog c;
    recsys__catalog_init(&c, &mem);
    recsys_item *first = NULL;
    assert_int_equal(recsys__item_new(&mem, "first", &first), RECSYS_OK);
    assert_int_equal(recsys__item_set_attr(&mem, first, "old", RECSYS__ATTR_NUM, 1, NULL), RECSYS_OK);
    recsys_item *o = NULL;
    assert_int_equal(recsys__catalog_put(&c, first, &o), RECSYS_OK);
    long n;
    for (n = 0;; n++) {
        recsys_item *it = NULL;
        ta.fail_at = -1;
        assert_int_equal(recsys__item_new(&mem, "second", &it), RECSYS_OK);
        char name[16];
        for (int i = 0; i < 12; i++) { /* enough names to grow the registry's arrays */
            snprintf(name, sizeof name, "n%d", i);
            assert_int_equal(recsys__item_set_attr(&mem, it, name, RECSYS__ATTR_STR, 0, "v"),
                             RECSYS_OK);
        }
        assert_int_equal(recsys__item_set_attr(&mem, it, "old", RECSYS__ATTR_STR, 0, "v"), RECSYS_OK);
        ta.count = 0;
        ta.fail_at = n;
        recsys_status st = recsys__catalog_put(&c, it, &o);
        ta.fail_at = -1;
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_int_equal(c.attr_names.n, 1);
        assert_int_equal(bits(&c, "old"), 1u << RECSYS__ATTR_NUM);
        assert_int_equal(bits(&c, "n0"), 0);
        assert_int_equal(recsys__catalog_find(&c, "second"), RECSYS_IDS_NONE);
        recsys__item_free(&mem, it);
    }
    assert_true(n >= 3);
    assert_int_equal(c.attr_names.n, 13);
    assert_int_equal(bits(&c, "old"), (1u << RECSYS__ATTR_NUM) | (1u << RECSYS__ATTR_STR));
    assert_int_equal(bits(&c, "n11"), 1u << RECSYS__ATTR_STR);
    recsys__catalog_free(&c);
    assert_int_equal(ta.live, 0);
}

/* ---------------------------------------------------------------- differential ---------- */

/* A random tree, its text, and an evaluator that reads the item's fields directly (a linear
 * scan of attributes, its own string and number comparisons): what the library must agree
 * with on every item and context. */

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

enum { V_MISSING, V_NUM, V_STR, V_BOOL };
typedef struct tv {
    int t;
    double n;
    const char *s;
} tv;

/* value sources */
enum { S_LIT, S_CAT, S_ID, S_MINAGE, S_CREATED, S_AVAIL, S_PRICE, S_BRAND, S_SALE, S_RATING,
       S_NOW, S_UAGE, S_UREGION, S_UID };
typedef struct src {
    int kind;
    tv lit;
    int nt;       /* > 0: a sum of nt terms (kinds tk, literals tl, signs sg) */
    int tk[3], sg[3];
    tv tl[3];
} src;

enum { X_AND, X_OR, X_NOT, X_CMP, X_IN, X_INTAGS, X_INREG, X_TRUTH };
typedef struct xnode {
    int op, cmp, neg;
    src l, r;
    tv list[6];
    int nlist;
    struct xnode *kid[4];
    int nkid;
} xnode;

static const char *const CATS[] = { "laptop", "tablet", "film", "book" };
static const char *const TAGS[] = { "gpu", "refurbished", "drama", "new" };
static const char *const REGS[] = { "FR", "DE", "US" };
static const char *const BRANDS[] = { "acme", "Acme", "zeta" };

static const recsys__attr *find_attr(const recsys_item *it, const char *name)
{
    for (uint32_t i = 0; i < it->nattrs; i++)
        if (!strcmp(it->attrs[i].name, name))
            return &it->attrs[i];
    return NULL;
}

static tv attr_val(const recsys_item *it, const char *name)
{
    const recsys__attr *a = find_attr(it, name);
    tv v = { V_MISSING, 0, NULL };
    if (a) {
        v.t = a->type == RECSYS__ATTR_NUM ? V_NUM : a->type == RECSYS__ATTR_STR ? V_STR : V_BOOL;
        v.n = a->num;
        v.s = a->str;
    }
    return v;
}

static tv value_of(const src *s, const recsys_item *it, const recsys__expr_ctx *ctx)
{
    tv v = { V_MISSING, 0, NULL };
    if (s->nt) {
        double acc = 0;
        for (int i = 0; i < s->nt; i++) {
            src t = { s->tk[i], s->tl[i], 0, { 0 }, { 0 }, { { 0, 0, NULL } } };
            tv x = value_of(&t, it, ctx);
            if (x.t != V_NUM)
                return v;
            acc += s->sg[i] * x.n;
        }
        v.t = V_NUM;
        v.n = acc;
        return v;
    }
    switch (s->kind) {
    case S_LIT: return s->lit;
    case S_CAT: v.t = V_STR, v.s = it->category; break;
    case S_ID: v.t = V_STR, v.s = it->id; break;
    case S_MINAGE: v.t = V_NUM, v.n = it->min_age; break;
    case S_CREATED: v.t = V_NUM, v.n = (double)it->created; break;
    case S_AVAIL: v.t = V_BOOL, v.n = it->available; break;
    case S_PRICE: return attr_val(it, "price");
    case S_BRAND: return attr_val(it, "brand");
    case S_SALE: return attr_val(it, "on_sale");
    case S_RATING: return attr_val(it, "rating");
    case S_NOW: v.t = V_NUM, v.n = (double)ctx->now; break;
    case S_UAGE:
        if (ctx->user_age >= 0)
            v.t = V_NUM, v.n = ctx->user_age;
        break;
    case S_UREGION:
        if (ctx->user_region)
            v.t = V_STR, v.s = ctx->user_region;
        break;
    case S_UID:
        if (ctx->user_id)
            v.t = V_STR, v.s = ctx->user_id;
        break;
    }
    return v;
}

static bool same_val(tv a, tv b)
{
    return a.t == b.t && (a.t == V_STR ? strcmp(a.s, b.s) == 0 : a.n == b.n);
}

static bool oracle(const xnode *x, const recsys_item *it, const recsys__expr_ctx *ctx)
{
    switch (x->op) {
    case X_AND:
        for (int i = 0; i < x->nkid; i++)
            if (!oracle(x->kid[i], it, ctx))
                return false;
        return true;
    case X_OR:
        for (int i = 0; i < x->nkid; i++)
            if (oracle(x->kid[i], it, ctx))
                return true;
        return false;
    case X_NOT: return !oracle(x->kid[0], it, ctx);
    case X_TRUTH: {
        tv v = value_of(&x->l, it, ctx);
        return v.t == V_BOOL && v.n != 0;
    }
    case X_CMP: {
        tv a = value_of(&x->l, it, ctx), b = value_of(&x->r, it, ctx);
        if (a.t == V_MISSING || a.t != b.t)
            return false;
        if (a.t == V_BOOL && x->cmp > 1)
            return false;
        int d = a.t == V_STR ? strcmp(a.s, b.s) : (a.n < b.n ? -1 : a.n > b.n ? 1 : 0);
        d = d < 0 ? -1 : d > 0;
        static const int want[6][3] = { /* d = -1, 0, 1 */
            { 0, 1, 0 }, { 1, 0, 1 }, { 1, 0, 0 }, { 1, 1, 0 }, { 0, 0, 1 }, { 0, 1, 1 } };
        return want[x->cmp][d + 1];
    }
    case X_IN: {
        tv a = value_of(&x->l, it, ctx);
        if (a.t == V_MISSING || (x->nlist && a.t != x->list[0].t))
            return false;
        bool m = false;
        for (int i = 0; i < x->nlist; i++)
            m |= same_val(a, x->list[i]);
        return m != x->neg;
    }
    default: { /* X_INTAGS, X_INREG */
        tv a = value_of(&x->l, it, ctx);
        if (a.t != V_STR)
            return false;
        char **v = x->op == X_INTAGS ? it->tags : it->regions;
        uint32_t n = x->op == X_INTAGS ? it->ntags : it->nregions;
        bool m = false;
        for (uint32_t i = 0; i < n; i++)
            m |= strcmp(v[i], a.s) == 0;
        return m != x->neg;
    }
    }
}

static tv lit_of(int t)
{
    tv v = { t, 0, NULL };
    if (t == V_NUM) {
        static const double nums[] = { 0, 1, 12, 16, 18, 100, 899.5, 1200, -3, 1e3, 4.5 };
        v.n = nums[rnd(sizeof nums / sizeof *nums)];
    } else if (t == V_STR) {
        static const char *const strs[] = { "laptop", "tablet", "film", "acme", "Acme", "gpu",
                                            "FR", "US", "u1", "", "q\"\\\n\xc3\xa9" };
        v.s = strs[rnd(sizeof strs / sizeof *strs)];
    } else {
        v.n = rnd(2);
    }
    return v;
}

/* A value source of type t (or of a custom attribute that may hold it). */
static src src_of(int t)
{
    src s;
    memset(&s, 0, sizeof s);
    s.kind = S_LIT;
    s.lit = lit_of(t);
    static const int nums[] = { S_LIT, S_MINAGE, S_CREATED, S_PRICE, S_RATING, S_NOW, S_UAGE };
    if (t == V_NUM && rnd(5) == 0) { /* a sum */
        s.nt = 2 + (int)rnd(2);
        for (int i = 0; i < s.nt; i++) {
            s.tk[i] = nums[rnd(7)];
            s.tl[i] = lit_of(V_NUM);
            s.sg[i] = i == 0 || rnd(2) ? 1 : -1;
        }
        return s;
    }
    static const int strs[] = { S_LIT, S_CAT, S_ID, S_BRAND, S_PRICE, S_UREGION, S_UID };
    static const int bools[] = { S_LIT, S_AVAIL, S_SALE };
    if (t == V_NUM)
        s.kind = nums[rnd(7)];
    else if (t == V_STR)
        s.kind = strs[rnd(7)];
    else
        s.kind = bools[rnd(3)];
    return s;
}

static xnode *gen(int depth)
{
    xnode *x = calloc(1, sizeof *x);
    assert_non_null(x);
    int pick = depth >= 4 ? 3 + (int)rnd(5) : (int)rnd(8);
    switch (pick) {
    case 0:
    case 1:
        x->op = pick == 0 ? X_AND : X_OR;
        x->nkid = 2 + (int)rnd(3);
        for (int i = 0; i < x->nkid; i++)
            x->kid[i] = gen(depth + 1);
        break;
    case 2:
        x->op = X_NOT;
        x->nkid = 1;
        x->kid[0] = gen(depth + 1);
        break;
    case 3:
    case 4: {
        x->op = X_CMP;
        int t = 1 + (int)rnd(3);
        x->cmp = t == V_BOOL ? (int)rnd(2) : (int)rnd(6);
        x->l = src_of(t);
        x->r = src_of(t);
        break;
    }
    case 5: {
        x->op = X_IN;
        x->neg = (int)rnd(2);
        int t = 1 + (int)rnd(2);
        x->l = src_of(t);
        x->nlist = (int)rnd(6);
        for (int i = 0; i < x->nlist; i++)
            x->list[i] = lit_of(t);
        break;
    }
    case 6:
        x->op = rnd(2) ? X_INTAGS : X_INREG;
        x->neg = (int)rnd(2);
        x->l = src_of(V_STR);
        if (x->l.kind == S_LIT)
            x->l.lit.s = rnd(2) ? TAGS[rnd(4)] : REGS[rnd(3)];
        break;
    default:
        x->op = X_TRUTH;
        x->l = src_of(V_BOOL);
        break;
    }
    return x;
}

static void xfree(xnode *x)
{
    for (int i = 0; i < x->nkid; i++)
        xfree(x->kid[i]);
    free(x);
}

typedef struct sbuf {
    char p[8192];
    size_t n;
} sbuf;

static void out(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->p + b->n, sizeof b->p - b->n, fmt, ap);
    va_end(ap);
    assert_true(w >= 0 && (size_t)w < sizeof b->p - b->n);
    b->n += (size_t)w;
}

static void sp(sbuf *b)
{
    static const char *const ws[] = { "", " ", "  ", "\t", "\n" };
    out(b, "%s", ws[rnd(5)]);
}

static void render_lit(sbuf *b, tv v)
{
    if (v.t == V_NUM)
        out(b, rnd(2) ? "%.17g" : "%g", v.n);
    else if (v.t == V_BOOL)
        out(b, "%s", v.n != 0 ? "true" : "false");
    else {
        out(b, "\"");
        for (const char *s = v.s; *s; s++) {
            if (*s == '"' || *s == '\\')
                out(b, "\\%c", *s);
            else if (*s == '\n')
                out(b, rnd(2) ? "\\n" : "\\u000a");
            else if ((unsigned char)*s >= 0x80 && rnd(2) && !strncmp(s, "\xc3\xa9", 2)) {
                out(b, "\\u00E9");
                s++;
            } else
                out(b, "%c", *s);
        }
        out(b, "\"");
    }
}

static void render_src(sbuf *b, const src *s)
{
    static const char *const names[] = {
        [S_CAT] = "category", [S_ID] = "id", [S_MINAGE] = "min_age", [S_CREATED] = "created",
        [S_AVAIL] = "available", [S_PRICE] = "price", [S_BRAND] = "brand", [S_SALE] = "on_sale",
        [S_RATING] = "rating", [S_NOW] = "now", [S_UAGE] = "user.age",
        [S_UREGION] = "user.region", [S_UID] = "user.id" };
    if (s->nt) {
        for (int i = 0; i < s->nt; i++) {
            if (i) {
                sp(b);
                out(b, s->sg[i] > 0 ? "+" : "-");
                sp(b);
            }
            src t = { s->tk[i], s->tl[i], 0, { 0 }, { 0 }, { { 0, 0, NULL } } };
            render_src(b, &t);
        }
    } else if (s->kind == S_LIT)
        render_lit(b, s->lit);
    else if (s->kind >= S_PRICE && s->kind <= S_RATING && rnd(4) == 0)
        out(b, "attr(\"%s\")", names[s->kind]);
    else
        out(b, "%s", names[s->kind]);
}

static void render(sbuf *b, const xnode *x)
{
    static const char *const ops[] = { "==", "!=", "<", "<=", ">", ">=" };
    switch (x->op) {
    case X_AND:
    case X_OR:
        out(b, "(");
        for (int i = 0; i < x->nkid; i++) {
            if (i) {
                sp(b);
                out(b, x->op == X_AND ? "&&" : "||");
                sp(b);
            }
            render(b, x->kid[i]);
        }
        out(b, ")");
        break;
    case X_NOT:
        out(b, "!");
        sp(b);
        if (rnd(2)) { /* ! takes the test after it whole: !a == b is !(a == b) */
            out(b, "(");
            render(b, x->kid[0]);
            out(b, ")");
        } else {
            render(b, x->kid[0]);
        }
        break;
    case X_TRUTH: render_src(b, &x->l); break;
    case X_CMP:
        render_src(b, &x->l);
        sp(b);
        out(b, "%s", ops[x->cmp]);
        sp(b);
        render_src(b, &x->r);
        break;
    case X_IN:
        render_src(b, &x->l);
        out(b, x->neg ? " not in " : " in ");
        out(b, "[");
        for (int i = 0; i < x->nlist; i++) {
            if (i)
                out(b, ",");
            sp(b);
            render_lit(b, x->list[i]);
        }
        out(b, "]");
        break;
    default:
        render_src(b, &x->l);
        out(b, x->neg ? " not in " : " in ");
        out(b, x->op == X_INTAGS ? "tags" : "regions");
        break;
    }
}

/* Is the tree well-typed as the parser sees it (literal bool compared with < is refused,
 * literal types must agree)? Only such trees are rendered; the others are checked to fail. */
static bool static_ok(const xnode *x)
{
    for (int i = 0; i < x->nkid; i++)
        if (!static_ok(x->kid[i]))
            return false;
    if (x->op == X_TRUTH)
        return x->l.kind != S_LIT || x->l.lit.t == V_BOOL;
    return true;
}

static recsys_item *random_item(int i)
{
    char id[16];
    snprintf(id, sizeof id, "i%d", i);
    recsys_item *it = mk(id, CATS[rnd(4)], NULL, NULL, (int)rnd(2), (int)(rnd(3) * 8),
                         (int64_t)rnd(3000));
    for (int k = 0; k < 4; k++)
        if (rnd(2))
            assert_int_equal(recsys__item_add_tag(D, it, TAGS[k]), RECSYS_OK);
    for (int k = 0; k < 3; k++)
        if (rnd(3) == 0)
            assert_int_equal(recsys__item_add_region(D, it, REGS[k]), RECSYS_OK);
    switch (rnd(4)) {
    case 0: break;
    case 1: str(it, "price", rnd(2) ? "acme" : ""); break;
    default: num(it, "price", rnd(2) ? 1200 : 12 * (double)rnd(100)); break;
    }
    if (rnd(3))
        str(it, "brand", BRANDS[rnd(3)]);
    if (rnd(3))
        boolean(it, "on_sale", rnd(2));
    if (rnd(2))
        num(it, "rating", rnd(2) ? 4.5 : (double)rnd(6));
    return it;
}

static void test_differential(void **state)
{
    (void)state;
    recsys__catalog c;
    recsys__catalog_init(&c, D);
    /* one item holding every attribute type the generator uses, so every tree binds */
    recsys_item *all = mk("all", "film", "gpu", "FR", 1, 18, 1500);
    num(all, "price", 1200);
    str(all, "brand", "acme");
    boolean(all, "on_sale", true);
    num(all, "rating", 4.5);
    put(&c, all);
    recsys_item *txt = mk("txt", "book", NULL, NULL, 0, 0, 0);
    str(txt, "price", "acme");
    put(&c, txt);
    for (int i = 0; i < 60; i++)
        put(&c, random_item(i));
    static const recsys__expr_ctx ctxs[] = {
        { 1500, 20, "FR", "u1" }, { 1500, -1, NULL, NULL }, { 0, 0, "", "" },
        { 3000, 16, "US", "acme" } };
    long checked = 0, trees = 0;
    for (int round = 0; round < 3000; round++) {
        xnode *x = gen(0);
        sbuf b = { .n = 0 };
        render(&b, x);
        recsys__expr *e = NULL;
        recsys_status st = recsys__expr_parse(D, b.p, b.n, &e);
        if (!static_ok(x)) {
            assert_int_equal(st, RECSYS_E_INVALID_ARG);
            xfree(x);
            continue;
        }
        if (st != RECSYS_OK)
            fail_msg("parse '%s': %s", b.p, recsys_last_error());
        /* attribute comparisons whose types never meet are bind errors; others bind */
        st = recsys__expr_bind(e, &c);
        if (st != RECSYS_OK) {
            assert_int_equal(st, RECSYS_E_INVALID_ARG);
            assert_non_null(strstr(recsys_last_error(), "can never be compared"));
        }
        trees++;
        for (size_t k = 0; k < sizeof ctxs / sizeof *ctxs; k++)
            for (uint32_t i = 0; i < c.ids.n; i++) {
                const recsys_item *it = recsys__catalog_get(&c, i);
                bool want = oracle(x, it, &ctxs[k]), got = recsys__expr_eval(e, it, &ctxs[k]);
                if (want != got)
                    fail_msg("'%s' on %s (ctx %zu): library %d, oracle %d", b.p, it->id, k, got,
                             want);
                checked++;
            }
        recsys__expr_free(e);
        xfree(x);
    }
    assert_true(trees > 2000);
    assert_true(checked > 400000);
    recsys__catalog_free(&c);
}

/* ---------------------------------------------------------------- facet shortcuts ------ */

/* After bind, category and tag literals compare by facet index; facets interned later, items
 * outside the catalog and literals too long for the lookup take the string path. */
static void test_facets(void **state)
{
    (void)state;
    recsys__catalog c;
    table_catalog(&c);
    recsys__expr_ctx ctx = { 0, -1, NULL, NULL };
    char longcat[600];
    memset(longcat, 'z', sizeof longcat - 1);
    longcat[sizeof longcat - 1] = '\0';
    char text[2048];
    snprintf(text, sizeof text,
             "category == \"laptop\" || \"gpu\" in tags || category == \"new-cat\" || "
             "\"new-tag\" in tags || category == \"%s\" || \"%s\" in tags",
             longcat, longcat);
    recsys__expr *e = parse_ok(D, text), *ne = NULL;
    char neg[2100];
    snprintf(neg, sizeof neg, "!(%s)", text);
    ne = parse_ok(D, neg);
    assert_int_equal(recsys__expr_bind(e, &c), RECSYS_OK);
    assert_int_equal(recsys__expr_bind(ne, &c), RECSYS_OK);
    /* items put after bind, with facets the catalog did not have then */
    const char *cats[] = { "new-cat", "film", "other", longcat, "laptop" };
    const char *tags[] = { "new-tag", "drama", "x,y", longcat, NULL };
    const bool want[] = { true, false, false, true, true };
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "n%d", i);
        recsys_item *it = mk(id, cats[i], i == 0 ? NULL : tags[i], NULL, 1, 0, 0);
        /* outside the catalog first: no facet indices, the string path */
        assert_int_equal(recsys__expr_eval(e, it, &ctx), want[i]);
        assert_int_equal(recsys__expr_eval(ne, it, &ctx), !want[i]);
        put(&c, it);
        assert_int_equal(recsys__expr_eval(e, it, &ctx), want[i]);
        assert_int_equal(recsys__expr_eval(ne, it, &ctx), !want[i]);
        if (i == 0) { /* a tag that came after bind, on an item in the catalog */
            recsys_item *t = mk("n0t", "film", "new-tag", NULL, 1, 0, 0);
            put(&c, t);
            assert_true(recsys__expr_eval(e, t, &ctx));
            assert_false(recsys__expr_eval(ne, t, &ctx));
        }
    }
    /* the items bound before: as before */
    static const char *const before[] = { "lap1", "lap2", "tab1", "film" };
    const bool wb[] = { true, true, false, false };
    for (int i = 0; i < 4; i++) {
        const recsys_item *it = recsys__catalog_get(&c, recsys__catalog_find(&c, before[i]));
        assert_int_equal(recsys__expr_eval(e, it, &ctx), wb[i]);
        assert_int_equal(recsys__expr_eval(ne, it, &ctx), !wb[i]);
    }
    /* bound again, the new facets take the index path: same answers */
    assert_int_equal(recsys__expr_bind(e, &c), RECSYS_OK);
    for (uint32_t i = 0; i < c.ids.n; i++) {
        const recsys_item *it = recsys__catalog_get(&c, i);
        assert_int_equal(recsys__expr_eval(e, it, &ctx), !recsys__expr_eval(ne, it, &ctx));
    }
    /* != and not in */
    recsys__expr *x = parse_ok(D, "\"laptop\" != category && \"gpu\" not in tags");
    assert_int_equal(recsys__expr_bind(x, &c), RECSYS_OK);
    assert_false(recsys__expr_eval(x, recsys__catalog_get(&c, recsys__catalog_find(&c, "lap1")), &ctx));
    assert_true(recsys__expr_eval(x, recsys__catalog_get(&c, recsys__catalog_find(&c, "tab1")), &ctx));
    assert_false(recsys__expr_eval(x, recsys__catalog_get(&c, recsys__catalog_find(&c, "n4")), &ctx));
    recsys__expr_free(x);
    recsys__expr_free(e);
    recsys__expr_free(ne);
    recsys__catalog_free(&c);
}

/* ---------------------------------------------------------------- context -------------- */

static void test_ctx_of_query(void **state)
{
    (void)state;
    recsys__expr_ctx ctx;
    recsys__expr_ctx_of_query(NULL, &ctx);
    assert_int_equal(ctx.user_age, -1);
    assert_null(ctx.user_region);
    assert_null(ctx.user_id);
    recsys__user u;
    memset(&u, 0, sizeof u);
    u.age = 33;
    u.region = (char *)"FR";
    recsys_query q;
    memset(&q, 0, sizeof q);
    q.now = 42;
    q.user = &u;
    q.user_id = "u9";
    recsys__expr_ctx_of_query(&q, &ctx);
    assert_int_equal(ctx.now, 42);
    assert_int_equal(ctx.user_age, 33);
    assert_string_equal(ctx.user_region, "FR");
    assert_string_equal(ctx.user_id, "u9");
    q.user = NULL; /* an id the engine does not know: user.id only */
    recsys__expr_ctx_of_query(&q, &ctx);
    assert_int_equal(ctx.user_age, -1);
    assert_null(ctx.user_region);
    assert_string_equal(ctx.user_id, "u9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_table),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_bind),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_parse_oom),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_registry_oom),
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_facets),
        cmocka_unit_test(test_ctx_of_query),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("filter/expr", tests, NULL, NULL);
}
