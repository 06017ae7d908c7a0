/* test_json.c - JSON in and out: every field, every error path, round trips, the user view,
 * and the out-of-memory loop of item parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recsys.h"
#include "core/error.h"
#include "model/model.h"
#include "support/fixture.h"

#define MAXLEN (1u << 24)
#define T0 1700000000

/* ---------------------------------------------------------------- a counting allocator -- */

typedef struct talloc {
    long calls, fail_at, live;
} talloc;

static void *t_malloc(void *ctx, size_t n)
{
    talloc *t = ctx;
    if (t->calls++ == t->fail_at)
        return NULL;
    void *p = malloc(n);
    if (p)
        t->live++;
    return p;
}

static void *t_realloc(void *ctx, void *p, size_t n)
{
    talloc *t = ctx;
    if (!p)
        return t_malloc(ctx, n);
    if (t->calls++ == t->fail_at)
        return NULL;
    return realloc(p, n);
}

static void t_free(void *ctx, void *p)
{
    talloc *t = ctx;
    if (p)
        t->live--;
    free(p);
}

static void t_init(talloc *t, recsys__mem *mem)
{
    memset(t, 0, sizeof *t);
    t->fail_at = -1;
    RECSYS_INIT(recsys_allocator, a, .ctx = t, .malloc_fn = t_malloc, .realloc_fn = t_realloc,
                .free_fn = t_free);
    assert_int_equal(recsys__mem_init(mem, &a), RECSYS_OK);
}

/* ---------------------------------------------------------------- helpers -------------- */

static const recsys__mem *D = &recsys__mem_default;

static void assert_err_has(const char *needle)
{
    const char *msg = recsys_last_error();
    if (!strstr(msg, needle))
        fail_msg("message '%s' does not contain '%s'", msg, needle);
}

static recsys_status items(const char *json, recsys__items_vec *v)
{
    recsys__err_clear();
    return recsys__json_parse_items(D, json, strlen(json), MAXLEN, v);
}

static recsys_item *one_item(const char *json)
{
    recsys__items_vec v;
    recsys_status st = items(json, &v);
    if (st != RECSYS_OK)
        fail_msg("parse failed: %s", recsys_last_error());
    assert_int_equal(v.n, 1);
    recsys_item *it = v.v[0];
    v.n = 0;
    recsys__items_vec_free(D, &v);
    return it;
}

static char *item_json(const recsys_item *it)
{
    char *s;
    size_t len;
    assert_int_equal(recsys__json_item(D, it, false, &s, &len), RECSYS_OK);
    assert_int_equal(strlen(s), len);
    return s;
}

/* ---------------------------------------------------------------- items in ------------- */

static const char *const FULL_ITEM =
    "{\"item_id\":\"item_456\",\"title\":\"Intro to ML\",\"description\":\"A course.\","
    "\"category\":\"education\",\"provider\":\"uni\",\"tags\":[\"ml\",\"python\",\"ml\"],"
    "\"regions\":[\"EU\",\"US\"],\"available\":false,\"min_age\":16,\"created\":1600000000,"
    "\"attributes\":{\"price\":49.5,\"level\":\"beginner\",\"certified\":true,\"hours\":12},"
    "\"embedding\":[0.5,-1,2e-3],\"embeddings\":{\"image\":[1,2]},"
    "\"generated\":{\"tags\":[\"beginner friendly\"],\"summary\":\"Learn ML.\","
    "\"attributes\":{\"difficulty\":2},\"model\":\"llm-x\"}}";

static void test_item_every_field(void **state)
{
    (void)state;
    recsys_item *it = one_item(FULL_ITEM);
    assert_string_equal(it->id, "item_456");
    assert_string_equal(it->title, "Intro to ML");
    assert_string_equal(it->description, "A course.");
    assert_string_equal(it->category, "education");
    assert_string_equal(it->provider, "uni");
    assert_int_equal(it->ntags, 2);
    assert_string_equal(it->tags[0], "ml");
    assert_string_equal(it->tags[1], "python");
    assert_int_equal(it->nregions, 2);
    assert_string_equal(it->regions[1], "US");
    assert_int_equal(it->available, 0);
    assert_int_equal(it->min_age, 16);
    assert_int_equal(it->created, 1600000000);
    assert_int_equal(it->nattrs, 4);
    const recsys__attr *a = recsys__item_attr(it, "price");
    assert_true(a && a->type == RECSYS__ATTR_NUM && a->num == 49.5);
    a = recsys__item_attr(it, "hours");
    assert_true(a && a->type == RECSYS__ATTR_NUM && a->num == 12);
    a = recsys__item_attr(it, "level");
    assert_true(a && a->type == RECSYS__ATTR_STR);
    assert_string_equal(a->str, "beginner");
    a = recsys__item_attr(it, "certified");
    assert_true(a && a->type == RECSYS__ATTR_BOOL && a->num == 1);
    assert_string_equal(it->attrs[0].name, "certified"); /* sorted */
    const recsys__embedding *e = recsys__item_embedding(it, "default");
    assert_true(e && e->dim == 3 && e->v[0] == 0.5f && e->v[1] == -1 && e->v[2] == 2e-3f);
    e = recsys__item_embedding(it, "image");
    assert_true(e && e->dim == 2 && e->v[1] == 2);
    assert_int_equal(it->gen.ntags, 1);
    assert_string_equal(it->gen.tags[0], "beginner friendly");
    assert_string_equal(it->gen.summary, "Learn ML.");
    assert_string_equal(it->gen.model, "llm-x");
    assert_int_equal(it->gen.nattrs, 1);
    assert_string_equal(it->gen.attrs[0].name, "difficulty");
    assert_int_equal(it->category_facet, RECSYS_IDS_NONE); /* set when put in a catalog */
    recsys__item_free(D, it);

    /* the minimal item, and an array of items */
    it = one_item("{\"item_id\":\"a\"}");
    assert_string_equal(it->title, "");
    assert_int_equal(it->available, 1);
    assert_int_equal(it->ntags, 0);
    recsys__item_free(D, it);
    recsys__items_vec v;
    assert_int_equal(items("[{\"item_id\":\"a\"},{\"item_id\":\"b\",\"title\":\"B\"}]", &v),
                     RECSYS_OK);
    assert_int_equal(v.n, 2);
    assert_string_equal(v.v[1]->title, "B");
    recsys__items_vec_free(D, &v);
    assert_int_equal(v.n, 0);
    assert_int_equal(items("[]", &v), RECSYS_OK);
    assert_int_equal(v.n, 0);
    recsys__items_vec_free(D, &v);
    recsys__items_vec_free(D, NULL);
}

static char *repeat_json(const char *head, const char *elem, int n, const char *tail)
{
    size_t cap = strlen(head) + (strlen(elem) + 8) * (size_t)n + strlen(tail) + 1;
    char *s = malloc(cap), *p = s;
    p += sprintf(p, "%s", head);
    for (int i = 0; i < n; i++)
        p += sprintf(p, i ? ",%s" : "%s", elem);
    sprintf(p, "%s", tail);
    return s;
}

static char *numbered_json(const char *head, const char *fmt, int n, const char *tail)
{
    size_t cap = strlen(head) + (strlen(fmt) + 16) * (size_t)n + strlen(tail) + 1;
    char *s = malloc(cap), *p = s;
    p += sprintf(p, "%s", head);
    for (int i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        p += sprintf(p, fmt, i);
    }
    sprintf(p, "%s", tail);
    return s;
}

static void expect_item_error(const char *json, size_t len, const char *msg)
{
    recsys__items_vec v;
    recsys__err_clear();
    recsys_status st = recsys__json_parse_items(D, json, len, MAXLEN, &v);
    if (st != RECSYS_E_INVALID_ARG)
        fail_msg("'%.80s' gave status %d, message '%s'", json, st, recsys_last_error());
    assert_int_equal(v.n, 0);
    assert_null(v.v);
    assert_err_has(msg);
}

static void test_item_errors(void **state)
{
    (void)state;
    static const struct { const char *json, *msg; } cases[] = {
        /* syntax */
        { "", "items: invalid JSON at line 1" },
        { "{\"item_id\":\"a\",}", "items: invalid JSON at line 1, column 16" },
        { "{\"item_id\":\"a\"} x", "invalid JSON" },
        { "{\"item_id\":\"a\"}{}", "invalid JSON" },
        { "{\"item_id\":\"a\",\"item_id\":\"b\"}", "duplicate object key" },
        { "{\"item_id\":\"a\",\"attributes\":{\"x\":1,\"x\":2}}", "duplicate object key" },
        { "\"item\"", "invalid JSON" },
        { "[1]", "item 0: must be an object" },
        { "[{\"item_id\":\"a\"},null]", "item 1: must be an object" },
        /* NaN-like numbers are not JSON; overflow is refused */
        { "{\"item_id\":\"a\",\"attributes\":{\"x\":NaN}}", "invalid JSON" },
        { "{\"item_id\":\"a\",\"attributes\":{\"x\":Infinity}}", "invalid JSON" },
        { "{\"item_id\":\"a\",\"attributes\":{\"x\":-inf}}", "invalid JSON" },
        { "{\"item_id\":\"a\",\"attributes\":{\"x\":1e400}}", "invalid JSON" },
        { "{\"item_id\":\"a\",\"created\":99999999999999999999}", "invalid JSON" },
        { "{\"item_id\":\"a\",\"embedding\":[1e300]}",
          "item 'a': field 'embedding': value 0 (1e+300) is outside the float range" },
        /* strings: NUL, surrogates, invalid UTF-8 (escaped and raw) */
        { "{\"item_id\":\"a\",\"title\":\"x\\u0000y\"}", "invalid JSON" },
        { "{\"item_id\":\"a\",\"title\":\"\\ud800\"}", "invalid JSON" },
        { "{\"item_id\":\"a\",\"title\":\"\xff\"}", "invalid JSON" },
        { "{\"item_id\":\"a\",\"title\":\"\xc0\xaf\"}", "invalid JSON" },
        { "{\"item_id\":\"a\",\"ti\xe2\x82tle\":\"x\"}", "invalid JSON" },
        /* ids */
        { "{\"title\":\"x\"}", "item: field 'item_id' is required" },
        { "[{\"item_id\":\"a\"},{\"title\":\"x\"}]", "item 1: field 'item_id' is required" },
        { "{\"item_id\":\"\"}", "item: field 'item_id' is empty" },
        { "{\"item_id\":7}", "item: field 'item_id' must be a string" },
        /* wrong types */
        { "{\"item_id\":\"a\",\"title\":5}", "item 'a': field 'title' must be a string" },
        { "{\"item_id\":\"a\",\"description\":null}", "field 'description' must be a string" },
        { "{\"item_id\":\"a\",\"category\":[]}", "field 'category' must be a string" },
        { "{\"item_id\":\"a\",\"provider\":{}}", "field 'provider' must be a string" },
        { "[{\"item_id\":\"w\"},{\"item_id\":\"y\"},{\"item_id\":\"z\"},{\"item_id\":\"x\","
          "\"tags\":\"t\"}]", "item 3 ('x'): field 'tags' must be an array of strings" },
        { "{\"item_id\":\"a\",\"tags\":[1]}",
          "field 'tags' must be an array of strings (entry 0 is not)" },
        { "{\"item_id\":\"a\",\"tags\":[\"\"]}", "item 'a': field 'tags': tag is empty" },
        { "{\"item_id\":\"a\",\"regions\":[\"EU\",false]}", "field 'regions' must be an array" },
        { "{\"item_id\":\"a\",\"available\":1}", "field 'available' must be true or false" },
        { "{\"item_id\":\"a\",\"min_age\":151}", "field 'min_age' is 151; expected 0..150" },
        { "{\"item_id\":\"a\",\"min_age\":-1}", "field 'min_age' is -1; expected 0..150" },
        { "{\"item_id\":\"a\",\"min_age\":1.5}", "field 'min_age' must be an integer" },
        { "{\"item_id\":\"a\",\"created\":\"2020\"}", "field 'created' must be an integer" },
        { "{\"item_id\":\"a\",\"attributes\":[]}", "field 'attributes' must be an object" },
        { "{\"item_id\":\"a\",\"attributes\":{\"x\":null}}",
          "field 'attributes': attribute 'x' must be a number, string or boolean" },
        { "{\"item_id\":\"a\",\"attributes\":{\"x\":[1]}}", "must be a number, string or boolean" },
        { "{\"item_id\":\"a\",\"attributes\":{\"\":1}}", "attribute name is empty" },
        { "{\"item_id\":\"a\",\"embedding\":{}}", "field 'embedding' must be an array of numbers" },
        { "{\"item_id\":\"a\",\"embedding\":[]}", "field 'embedding' has 0 values; expected 1..4096" },
        { "{\"item_id\":\"a\",\"embedding\":[1,\"2\"]}", "field 'embedding': value 1 must be a number" },
        { "{\"item_id\":\"a\",\"embeddings\":[]}", "field 'embeddings' must be an object" },
        { "{\"item_id\":\"a\",\"embeddings\":{\"img\":5}}",
          "field 'embeddings.img' must be an array of numbers" },
        { "{\"item_id\":\"a\",\"embedding\":[1],\"embeddings\":{\"default\":[2]}}",
          "embedding 'default' is given twice" },
        { "{\"item_id\":\"a\",\"generated\":[]}", "field 'generated' must be an object" },
        { "{\"item_id\":\"a\",\"generated\":{\"tags\":\"x\"}}",
          "field 'generated.tags' must be an array of strings" },
        { "{\"item_id\":\"a\",\"generated\":{\"summary\":1}}",
          "field 'generated.summary' must be a string" },
        { "{\"item_id\":\"a\",\"generated\":{\"model\":true}}",
          "field 'generated.model' must be a string" },
        { "{\"item_id\":\"a\",\"generated\":{\"attributes\":{\"k\":{}}}}",
          "field 'generated.attributes': attribute 'k' must be" },
        /* unknown keys */
        { "{\"item_id\":\"a\",\"colour\":\"red\"}", "item 'a': unknown field 'colour'" },
        { "{\"item_id\":\"a\",\"generated\":{\"x\":1}}",
          "item 'a': field 'generated': unknown field 'x'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_item_error(cases[i].json, strlen(cases[i].json), cases[i].msg);

    /* a NUL byte inside the text */
    expect_item_error("{\"item_id\":\"a\"}\0{}", 17, "invalid JSON");
    /* NULL text */
    recsys__items_vec v;
    recsys__err_clear();
    assert_int_equal(recsys__json_parse_items(D, NULL, 0, MAXLEN, &v), RECSYS_E_INVALID_ARG);
    assert_err_has("items: JSON text is NULL");

    /* the size cap is checked before parsing, with both sizes in the message */
    const char *ok = "{\"item_id\":\"a\"}";
    assert_int_equal(recsys__json_parse_items(D, ok, strlen(ok), 14, &v), RECSYS_E_INVALID_ARG);
    assert_string_equal(recsys_last_error(), "items: JSON text is 15 bytes; the limit is 14 bytes");
    assert_int_equal(recsys__json_parse_items(D, ok, strlen(ok), 15, &v), RECSYS_OK);
    recsys__items_vec_free(D, &v);

    /* oversized strings and ids */
    char *big = malloc(RECSYS__TEXT_MAX + 64);
    int n = sprintf(big, "{\"item_id\":\"a\",\"title\":\"");
    memset(big + n, 'x', RECSYS__TEXT_MAX + 1);
    strcpy(big + n + RECSYS__TEXT_MAX + 1, "\"}");
    expect_item_error(big, strlen(big), "field 'title' is 65537 bytes long; the limit is 65536");
    strcpy(big + n + RECSYS__TEXT_MAX, "\"}");
    assert_int_equal(items(big, &v), RECSYS_OK);
    recsys__items_vec_free(D, &v);
    n = sprintf(big, "{\"item_id\":\"");
    memset(big + n, 'i', 257);
    strcpy(big + n + 257, "\"}");
    expect_item_error(big, strlen(big), "field 'item_id' is 257 bytes long; the limit is 256");
    free(big);

    /* an unknown field's name is quoted short, never cut inside a UTF-8 sequence */
    char key[200];
    memset(key, 'k', 63);
    strcpy(key + 63, "\xc3\xa9tail-of-a-long-name");
    char *js = malloc(300);
    snprintf(js, 300, "{\"item_id\":\"a\",\"%s\":1}", key);
    expect_item_error(js, strlen(js), "unknown field 'kkk");
    const char *msg = recsys_last_error();
    assert_non_null(strstr(msg, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk'"));
    assert_null(strstr(msg, "\xc3"));
    /* attribute names longer than an id */
    memset(key, 'n', 190);
    key[190] = 0;
    free(js);
    js = malloc(600);
    snprintf(js, 600, "{\"item_id\":\"a\",\"attributes\":{\"%s%s\":1}}", key, key);
    expect_item_error(js, strlen(js),
                      "field 'attributes': attribute name is 380 bytes long; the limit is 256");
    free(js);

    /* huge arrays */
    char *s = numbered_json("{\"item_id\":\"a\",\"tags\":[", "\"t%d\"", 257, "]}");
    expect_item_error(s, strlen(s), "item 'a': field 'tags' has 257 entries; the limit is 256");
    free(s);
    s = numbered_json("{\"item_id\":\"a\",\"tags\":[", "\"t%d\"", 256, "]}");
    assert_int_equal(items(s, &v), RECSYS_OK);
    assert_int_equal(v.v[0]->ntags, 256);
    recsys__items_vec_free(D, &v);
    free(s);
    s = repeat_json("{\"item_id\":\"a\",\"embedding\":[", "0.5", 4097, "]}");
    expect_item_error(s, strlen(s), "field 'embedding' has 4097 values; expected 1..4096");
    free(s);
    s = numbered_json("{\"item_id\":\"a\",\"attributes\":{", "\"k%d\":1", 257, "}}");
    expect_item_error(s, strlen(s), "field 'attributes' has 257 entries; the limit is 256");
    free(s);
    /* very deep nesting is refused by the parser, not by the stack */
    s = malloc(200002);
    memset(s, '[', 100000);
    memset(s + 100000, ']', 100000);
    s[200000] = 0;
    expect_item_error(s, strlen(s), "invalid JSON");
    free(s);
}

/* ---------------------------------------------------------------- items out ------------ */

static void test_item_output(void **state)
{
    (void)state;
    recsys_item *it = one_item("{\"item_id\":\"a\"}");
    char *s = item_json(it);
    assert_string_equal(s, "{\"item_id\":\"a\",\"title\":\"\",\"category\":\"\",\"tags\":[],"
                           "\"available\":true}");
    free(s);
    recsys__item_free(D, it);

    it = one_item(FULL_ITEM);
    s = item_json(it);
    assert_string_equal(
        s, "{\"item_id\":\"item_456\",\"title\":\"Intro to ML\",\"description\":\"A course.\","
           "\"category\":\"education\",\"provider\":\"uni\",\"tags\":[\"ml\",\"python\"],"
           "\"regions\":[\"EU\",\"US\"],\"available\":false,\"min_age\":16,"
           "\"created\":1600000000,\"attributes\":{\"certified\":true,\"hours\":12,"
           "\"level\":\"beginner\",\"price\":49.5},\"embeddings\":{\"default\":[0.5,-1,0.002],"
           "\"image\":[1,2]},\"generated\":{\"tags\":[\"beginner friendly\"],"
           "\"summary\":\"Learn ML.\",\"attributes\":{\"difficulty\":2},\"model\":\"llm-x\"}}");
    free(s);

    /* host strings carry their allocator: recsys_string_free works after anything */
    talloc t;
    recsys__mem mem;
    t_init(&t, &mem);
    char *h;
    size_t len;
    assert_int_equal(recsys__json_item(&mem, it, true, &h, &len), RECSYS_OK);
    assert_int_equal(strlen(h), len);
    assert_int_equal(t.live, 1);
    recsys_string_free(h);
    assert_int_equal(t.live, 0);
    /* output OOM: NOMEM, nothing leaked */
    for (long n = 0;; n++) {
        t.calls = 0;
        t.fail_at = n;
        recsys__err_clear();
        recsys_status st = recsys__json_item(&mem, it, true, &h, NULL);
        if (st == RECSYS_OK) {
            recsys_string_free(h);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(h);
        assert_true(recsys_last_error()[0] != 0);
        assert_int_equal(t.live, 0);
    }
    assert_int_equal(t.live, 0);
    recsys__item_free(D, it);
}

static void test_item_round_trip(void **state)
{
    (void)state;
    recsys_item *it;
    assert_int_equal(recsys__item_new(D, "id \"q\" \\ /", &it), RECSYS_OK);
    assert_int_equal(recsys__item_set_text(D, it, RECSYS_FIELD_TITLE,
                                           "ctl \x01\x1f\x7f \b\f\n\r\t end"), RECSYS_OK);
    assert_int_equal(recsys__item_set_text(D, it, RECSYS_FIELD_DESCRIPTION,
                                           "\xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8 \xc3\xa9"),
                     RECSYS_OK);
    assert_int_equal(recsys__item_set_text(D, it, RECSYS_FIELD_CATEGORY, "c/\"x\""), RECSYS_OK);
    assert_int_equal(recsys__item_add_tag(D, it, "t\\1"), RECSYS_OK);
    assert_int_equal(recsys__item_add_region(D, it, "EU"), RECSYS_OK);
    static const double nums[] = { 0.1,      1.0 / 3,  -2.5,    1e-300,  DBL_MAX, DBL_MIN,
                                   5e-324,   -0.0,     1e15,    1e17,    123456789012345678.0,
                                   4503599627370497.0, 0 };
    char name[16];
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        snprintf(name, sizeof name, "n%02zu", i);
        assert_int_equal(recsys__item_set_attr(D, it, name, RECSYS__ATTR_NUM, nums[i], NULL),
                         RECSYS_OK);
    }
    assert_int_equal(recsys__item_set_attr(D, it, "s", RECSYS__ATTR_STR, 0, ""), RECSYS_OK);
    assert_int_equal(recsys__item_set_attr(D, it, "b", RECSYS__ATTR_BOOL, 1, NULL), RECSYS_OK);
    float v[] = { 0.1f, 1.0f / 3, -2.5f, 3e-8f, 1e30f, FLT_MAX, FLT_MIN, 1e-45f, -0.0f, 16777216.0f };
    assert_int_equal(recsys__item_set_embedding(D, it, "default", v, sizeof v / sizeof v[0]),
                     RECSYS_OK);
    assert_int_equal(recsys__item_set_embedding(D, it, "\xc3\xa9mb", v, 1), RECSYS_OK);
    assert_int_equal(recsys__item_add_gen_tag(D, it, "g"), RECSYS_OK);
    assert_int_equal(recsys__item_set_gen_attr(D, it, "x", RECSYS__ATTR_BOOL, 0, NULL), RECSYS_OK);
    it->min_age = 150;
    it->created = -86400; /* before 1970 */
    it->available = 0;

    char *s1 = item_json(it);
    recsys_item *back = one_item(s1);
    assert_true(fixture_items_equal(it, back));
    char *s2 = item_json(back);
    assert_string_equal(s1, s2);
    /* canonical short numbers, control characters escaped */
    assert_non_null(strstr(s1, "\"n00\":0.1,"));
    assert_non_null(strstr(s1, "\"n07\":0,"));
    assert_non_null(strstr(s1, "\\u0001\\u001f\x7f \\b\\f\\n\\r\\t"));
    assert_non_null(strstr(s1, "[0.1,0.33333334,-2.5,"));
    free(s1);
    free(s2);
    recsys__item_free(D, back);

    /* the same in a locale with a decimal comma, if the system has one */
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
        s1 = item_json(it);
        setlocale(LC_NUMERIC, "C");
        assert_non_null(strstr(s1, "\"n00\":0.1,"));
        back = one_item(s1);
        assert_true(fixture_items_equal(it, back));
        recsys__item_free(D, back);
        free(s1);
    }
    recsys__item_free(D, it);

    /* the full card example, through two rounds */
    it = one_item(FULL_ITEM);
    s1 = item_json(it);
    back = one_item(s1);
    assert_true(fixture_items_equal(it, back));
    free(s1);
    recsys__item_free(D, back);
    recsys__item_free(D, it);
}

static void test_item_parse_oom(void **state)
{
    (void)state;
    talloc t;
    recsys__mem mem;
    t_init(&t, &mem);
    char *arr = malloc(strlen(FULL_ITEM) * 2 + 8);
    sprintf(arr, "[%s,%s]", FULL_ITEM, "{\"item_id\":\"b\",\"tags\":[\"x\"]}");
    bool done = false;
    for (long n = 0; !done; n++) {
        recsys__items_vec v;
        t.calls = 0;
        t.fail_at = n;
        recsys__err_clear();
        recsys_status st = recsys__json_parse_items(&mem, arr, strlen(arr), MAXLEN, &v);
        t.fail_at = -1;
        if (st == RECSYS_OK) {
            assert_int_equal(v.n, 2);
            recsys_item *ref = one_item(FULL_ITEM);
            assert_true(fixture_items_equal(ref, v.v[0]));
            recsys__item_free(D, ref);
            recsys__items_vec_free(&mem, &v);
            assert_true(n > 20);
            done = true;
        } else {
            assert_int_equal(st, RECSYS_E_NOMEM);
            assert_true(recsys_last_error()[0] != 0);
            assert_int_equal(v.n, 0);
            assert_null(v.v);
        }
        assert_int_equal(t.live, 0);
    }
    free(arr);
}

/* ---------------------------------------------------------------- profiles ------------- */

static recsys_status profiles(const char *json, recsys__profiles_vec *v)
{
    recsys__err_clear();
    return recsys__json_parse_profiles(D, json, strlen(json), MAXLEN, v);
}

static void test_profiles(void **state)
{
    (void)state;
    recsys__profiles_vec v;
    assert_int_equal(profiles("{\"user_id\":\"user_123\",\"interests\":[\"ml\",\"go\",\"ml\"],"
                              "\"age\":30,\"region\":\"EU\",\"recent_views\":[\"i1\",\"i2\"],"
                              "\"purchased_items\":[\"i3\"],\"negative_feedback\":[\"i4\"],"
                              "\"history\":{\"click\":[\"i9\"]},\"search_history\":[\"x\"],"
                              "\"events\":12}",
                              &v),
                     RECSYS_OK);
    assert_int_equal(v.n, 1);
    recsys__profile *p = &v.v[0];
    assert_string_equal(p->id, "user_123");
    assert_int_equal(p->ninterests, 2);
    assert_string_equal(p->interests[1], "go");
    assert_int_equal(p->age, 30);
    assert_string_equal(p->region, "EU");
    assert_int_equal(p->nlist_ids[RECSYS_LIST_RECENT_VIEWS], 2);
    assert_string_equal(p->list_ids[RECSYS_LIST_RECENT_VIEWS][1], "i2");
    assert_string_equal(p->list_ids[RECSYS_LIST_PURCHASED][0], "i3");
    assert_string_equal(p->list_ids[RECSYS_LIST_NEGATIVE][0], "i4");
    recsys__profiles_vec_free(D, &v);

    assert_int_equal(profiles("[{\"user_id\":\"a\",\"age\":null,\"region\":null},"
                              "{\"user_id\":\"b\",\"age\":-1}]", &v),
                     RECSYS_OK);
    assert_int_equal(v.n, 2);
    assert_int_equal(v.v[0].age, -1);
    assert_null(v.v[0].region);
    assert_int_equal(v.v[1].ninterests, 0);
    recsys__profiles_vec_free(D, &v);

    static const struct { const char *json, *msg; } bad[] = {
        { "{\"user_id\":\"u\",\"age\":151}", "user 'u': field 'age' is 151; expected -1..150" },
        { "{\"user_id\":\"u\",\"age\":\"x\"}", "user 'u': field 'age' must be an integer" },
        { "{\"user_id\":\"u\",\"region\":5}", "user 'u': field 'region' must be a string" },
        { "{\"user_id\":\"u\",\"region\":\"\"}", "user 'u': field 'region': region is empty" },
        { "{\"user_id\":\"u\",\"interests\":[1]}", "field 'interests' must be an array of strings" },
        { "{\"user_id\":\"u\",\"interests\":\"ml\"}", "field 'interests' must be an array" },
        { "[{\"user_id\":\"a\"},{\"user_id\":\"u\",\"recent_views\":[\"\"]}]",
          "user 1 ('u'): field 'recent_views': recent_views item id is empty" },
        { "{\"user_id\":\"u\",\"purchased_items\":{}}", "field 'purchased_items' must be an array" },
        { "{\"user_id\":\"u\",\"foo\":1}", "user 'u': unknown field 'foo'" },
        { "{\"age\":3}", "user: field 'user_id' is required" },
        { "{\"user_id\":null}", "user: field 'user_id' must be a string" },
        { "{\"user_id\":\"u\",\"user_id\":\"v\"}", "duplicate object key" },
        { "[true]", "user 0: must be an object" },
        { "{\"user_id\":\"u\"", "users: invalid JSON" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        recsys_status st = profiles(bad[i].json, &v);
        if (st != RECSYS_E_INVALID_ARG)
            fail_msg("'%s' gave %d: %s", bad[i].json, st, recsys_last_error());
        assert_int_equal(v.n, 0);
        assert_err_has(bad[i].msg);
    }
    char *s = numbered_json("{\"user_id\":\"u\",\"recent_views\":[", "\"i%d\"", 10001, "]}");
    assert_int_equal(profiles(s, &v), RECSYS_E_INVALID_ARG);
    assert_err_has("field 'recent_views' has 10001 entries; the limit is 10000");
    free(s);
    s = numbered_json("{\"user_id\":\"u\",\"interests\":[", "\"i%d\"", 257, "]}");
    assert_int_equal(profiles(s, &v), RECSYS_E_INVALID_ARG);
    assert_err_has("field 'interests' has 257 entries; the limit is 256");
    free(s);
    assert_int_equal(recsys__json_parse_profiles(D, "{}", 2, 1, &v), RECSYS_E_INVALID_ARG);
    assert_string_equal(recsys_last_error(), "users: JSON text is 2 bytes; the limit is 1 bytes");
}

/* ---------------------------------------------------------------- events --------------- */

static recsys_status events(const char *json, recsys__events_vec *v)
{
    recsys__err_clear();
    return recsys__json_parse_events(D, json, strlen(json), MAXLEN, v);
}

static void test_events(void **state)
{
    (void)state;
    recsys__events_vec v;
    assert_int_equal(events("[{\"user_id\":\"u1\",\"item_id\":\"i9\",\"type\":\"click\",\"value\":1,"
                            "\"timestamp\":1700000000,\"request_id\":\"r-17\",\"position\":3,"
                            "\"query\":\"q\"},"
                            "{\"user_id\":\"u2\",\"type\":\"search\",\"query\":\"red shoes\"},"
                            "{\"user_id\":\"u3\",\"item_id\":\"i\",\"type\":\"watch_time\","
                            "\"value\":90.5}]",
                            &v),
                     RECSYS_OK);
    assert_int_equal(v.n, 3);
    recsys_event *e = &v.v[0];
    assert_int_equal(e->struct_size, sizeof *e);
    assert_int_equal(e->type, RECSYS_EVENT_CLICK);
    assert_string_equal(e->user_id, "u1");
    assert_string_equal(e->item_id, "i9");
    assert_true(e->value == 1);
    assert_int_equal(e->timestamp, 1700000000);
    assert_string_equal(e->request_id, "r-17");
    assert_int_equal(e->position, 3);
    assert_string_equal(e->query, "q");
    e = &v.v[1];
    assert_int_equal(e->type, RECSYS_EVENT_SEARCH);
    assert_null(e->item_id);
    assert_null(e->request_id);
    assert_int_equal(e->position, -1);
    assert_int_equal(e->timestamp, 0);
    assert_true(v.v[2].value == 90.5);
    recsys__events_vec_free(D, &v);
    recsys__events_vec_free(D, NULL);
    for (int32_t t = 1; t <= 12; t++) {
        char buf[160];
        snprintf(buf, sizeof buf, "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"%s\","
                 "\"query\":\"q\"}", recsys__event_name(t));
        assert_int_equal(events(buf, &v), RECSYS_OK);
        assert_int_equal(v.v[0].type, t);
        recsys__events_vec_free(D, &v);
    }

    /* an impression's attribution and LLM cost */
    assert_int_equal(events("{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"impression\","
                            "\"request_id\":\"r\",\"position\":0,\"sources\":[\"als\",\"popular\"],"
                            "\"ranker\":\"linear\",\"llm_calls\":2,\"llm_tokens\":4294967295}",
                            &v),
                     RECSYS_OK);
    assert_string_equal(v.v[0].sources, "als,popular");
    assert_string_equal(v.v[0].ranker, "linear");
    assert_int_equal(v.v[0].llm_calls, 2);
    assert_int_equal(v.v[0].llm_tokens, UINT32_MAX);
    recsys__events_vec_free(D, &v);

    static const struct { const char *json, *msg; } bad[] = {
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"clicks\"}",
          "event: field 'type': 'clicks' is not an event type" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":3}", "event: field 'type' must be a string" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\"}", "event: field 'type' is required" },
        { "{\"item_id\":\"i\",\"type\":\"view\"}", "event: field 'user_id' is required" },
        { "{\"user_id\":\"u\",\"type\":\"click\"}",
          "event: field 'item_id' is required (except for type 'search')" },
        { "{\"user_id\":\"u\",\"item_id\":\"\",\"type\":\"click\"}",
          "event: field 'item_id' is empty" },
        { "{\"user_id\":\"u\",\"type\":\"search\"}",
          "event: field 'query': a search event needs the search text" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"view\",\"timestamp\":-1}",
          "event: field 'timestamp' is -1; expected 0.." },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"view\",\"timestamp\":1.5}",
          "field 'timestamp' must be an integer" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"view\",\"position\":-2}",
          "event: field 'position' is -2; expected -1..2147483647" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"view\",\"position\":2147483648}",
          "field 'position' is 2147483648" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"view\",\"value\":\"x\"}",
          "event: field 'value' must be a number" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"dwell\",\"value\":-5}",
          "event: field 'value': -5 seconds of dwell is negative" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"view\",\"request_id\":5}",
          "event: field 'request_id' must be a string" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"view\",\"query\":null}",
          "event: field 'query' must be a string" },
        { "[{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"view\"},"
          "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"view\",\"extra\":1}]",
          "event 1: unknown field 'extra'" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"view\"} []", "events: invalid JSON" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"impression\",\"sources\":\"als\"}",
          "event: field 'sources' must be an array of 1 to 64 source names" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"impression\",\"sources\":[]}",
          "field 'sources' must be an array" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"impression\","
          "\"sources\":[\"a,b\"]}", "field 'sources': element 0 is not a source name" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"impression\","
          "\"sources\":[\"als\",7]}", "field 'sources': element 1 is not a source name" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"impression\","
          "\"sources\":[\"Als\"]}", "event: field 'sources': a source name 'Als'" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"impression\",\"ranker\":\"x y\"}",
          "field 'ranker': a ranker name 'x y'" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"impression\",\"llm_calls\":-1}",
          "field 'llm_calls' is -1" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"impression\","
          "\"llm_tokens\":4294967296}", "field 'llm_tokens' is 4294967296" },
        { "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"click\",\"ranker\":\"linear\"}",
          "are for impressions only" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        recsys_status st = events(bad[i].json, &v);
        if (st != RECSYS_E_INVALID_ARG)
            fail_msg("'%s' gave %d: %s", bad[i].json, st, recsys_last_error());
        assert_int_equal(v.n, 0);
        assert_err_has(bad[i].msg);
    }
}

static void test_events_parse_oom(void **state)
{
    (void)state;
    talloc t;
    recsys__mem mem;
    t_init(&t, &mem);
    const char *json = "[{\"user_id\":\"u1\",\"item_id\":\"i9\",\"type\":\"click\","
                       "\"request_id\":\"r\",\"query\":\"q\"},{\"user_id\":\"u\",\"type\":"
                       "\"search\",\"query\":\"x\"}]";
    const char *pjson = "[{\"user_id\":\"u\",\"interests\":[\"a\",\"b\"],\"region\":\"EU\","
                        "\"recent_views\":[\"i1\"],\"negative_feedback\":[\"i2\",\"i3\"]}]";
    for (int kind = 0; kind < 2; kind++) {
        for (long n = 0;; n++) {
            t.calls = 0;
            t.fail_at = n;
            recsys__err_clear();
            recsys__events_vec ev;
            recsys__profiles_vec pv;
            recsys_status st =
                kind ? recsys__json_parse_profiles(&mem, pjson, strlen(pjson), MAXLEN, &pv)
                     : recsys__json_parse_events(&mem, json, strlen(json), MAXLEN, &ev);
            t.fail_at = -1;
            if (st == RECSYS_OK) {
                if (kind)
                    recsys__profiles_vec_free(&mem, &pv);
                else
                    recsys__events_vec_free(&mem, &ev);
                assert_int_equal(t.live, 0);
                break;
            }
            assert_int_equal(st, RECSYS_E_NOMEM);
            assert_true(recsys_last_error()[0] != 0);
            assert_int_equal(t.live, 0);
        }
    }
}

/* ---------------------------------------------------------------- user view ------------ */

static void put(recsys__model *m, const char *json)
{
    recsys__items_vec v;
    assert_int_equal(recsys__json_parse_items(m->mem, json, strlen(json), MAXLEN, &v), RECSYS_OK);
    for (size_t i = 0; i < v.n; i++) {
        recsys_item *old;
        assert_int_equal(recsys__catalog_put(&m->catalog, v.v[i], &old), RECSYS_OK);
        recsys__item_free(m->mem, old);
    }
    v.n = 0;
    recsys__items_vec_free(m->mem, &v);
}

static void apply_profiles(recsys__model *m, const char *json)
{
    recsys__profiles_vec v;
    if (recsys__json_parse_profiles(m->mem, json, strlen(json), MAXLEN, &v) != RECSYS_OK)
        fail_msg("%s", recsys_last_error());
    for (size_t i = 0; i < v.n; i++)
        assert_int_equal(recsys__users_apply_profile(&m->users, &m->catalog, &v.v[i]),
                         RECSYS_OK);
    recsys__profiles_vec_free(m->mem, &v);
}

static void test_user_view(void **state)
{
    (void)state;
    recsys__model m;
    recsys__model_init(&m, D);
    put(&m, "[{\"item_id\":\"i1\",\"category\":\"books\"},{\"item_id\":\"i2\"},"
            "{\"item_id\":\"i3\"}]");
    const char *pj = "{\"user_id\":\"u1\",\"interests\":[\"ml\",\"go\"],\"age\":30,"
                     "\"region\":\"EU\",\"recent_views\":[\"i1\"],\"purchased_items\":[\"i2\"],"
                     "\"negative_feedback\":[\"i3\"]}";
    apply_profiles(&m, pj);
    const char *ej =
        "[{\"user_id\":\"u1\",\"item_id\":\"i1\",\"type\":\"click\",\"timestamp\":1700000000},"
        "{\"user_id\":\"u1\",\"item_id\":\"i2\",\"type\":\"click\",\"timestamp\":1700000001},"
        "{\"user_id\":\"u1\",\"item_id\":\"i2\",\"type\":\"purchase\",\"timestamp\":1700000002},"
        "{\"user_id\":\"u1\",\"type\":\"search\",\"query\":\"red \\\"shoes\\\"\","
        "\"timestamp\":1700000003},"
        "{\"user_id\":\"u1\",\"item_id\":\"i3\",\"type\":\"search\",\"query\":\"blue\","
        "\"timestamp\":1700000004},"
        "{\"user_id\":\"u1\",\"item_id\":\"i1\",\"type\":\"impression\",\"timestamp\":1700000005}]";
    recsys__events_vec ev;
    assert_int_equal(recsys__json_parse_events(D, ej, strlen(ej), MAXLEN, &ev), RECSYS_OK);
    for (size_t i = 0; i < ev.n; i++) {
        recsys_event copy;
        assert_int_equal(recsys__model_check_event(&m, &ev.v[i], &copy), RECSYS_OK);
        assert_int_equal(recsys__model_apply_event(&m, &copy), RECSYS_OK);
    }
    recsys__events_vec_free(D, &ev);

    const recsys__user *u = recsys__users_find(&m.users, "u1");
    char *prof;
    assert_int_equal(recsys__json_profile(D, &m, u, false, &prof, NULL), RECSYS_OK);
    assert_string_equal(prof, pj);
    char *view;
    size_t len;
    assert_int_equal(recsys__json_user_view(D, &m, u, T0 + 10, &view, &len), RECSYS_OK);
    assert_int_equal(strlen(view), len);
    char expect[1024];
    snprintf(expect, sizeof expect,
             "%.*s,\"history\":{\"click\":[\"i2\",\"i1\"],\"purchase\":[\"i2\"],"
             "\"search\":[\"i3\"]},\"search_history\":[\"blue\",\"red \\\"shoes\\\"\"],"
             "\"events\":6}",
             (int)strlen(pj) - 1, pj);
    assert_string_equal(view, expect);

    /* the view feeds back in: its read-only part is accepted and ignored */
    apply_profiles(&m, view);
    recsys_string_free(view);
    char *prof2;
    assert_int_equal(recsys__json_profile(D, &m, u, true, &prof2, NULL), RECSYS_OK);
    assert_string_equal(prof, prof2);
    recsys_string_free(prof2);
    free(prof);

    /* a user created by feedback has an empty profile; a removed item keeps its id */
    recsys_event e;
    recsys_event_init(&e);
    e.type = RECSYS_EVENT_LIKE;
    e.user_id = "u2";
    e.item_id = "i3";
    e.timestamp = T0;
    assert_int_equal(recsys__model_apply_event(&m, &e), RECSYS_OK);
    recsys_item *old;
    assert_int_equal(recsys__catalog_remove(&m.catalog, "i3", &old), RECSYS_OK);
    recsys__item_free(D, old);
    u = recsys__users_find(&m.users, "u2");
    assert_int_equal(recsys__json_user_view(D, &m, u, T0, &view, NULL), RECSYS_OK);
    assert_string_equal(view, "{\"user_id\":\"u2\",\"interests\":[],\"history\":{\"like\":"
                              "[\"i3\"]},\"search_history\":[],\"events\":1}");
    recsys_string_free(view);
    recsys__model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_item_every_field),
        cmocka_unit_test(test_item_errors),
        cmocka_unit_test(test_item_output),
        cmocka_unit_test(test_item_round_trip),
        cmocka_unit_test(test_item_parse_oom),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_events_parse_oom),
        cmocka_unit_test(test_user_view),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("model/json", tests, NULL, NULL);
}
