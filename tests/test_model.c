/* test_model.c - the data model: items and builders, the catalog, events, users, forget,
 * replay, and the out-of-memory loops of catalog put, apply_event and profile apply. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "recsys.h"
#include "core/error.h"
#include "model/model.h"
#include "support/fixture.h"
#include "model/spec.h"

/* ---------------------------------------------------------------- a tracking allocator -- */

/* Fails call number fail_at (0-based; -1 = never), counts live blocks, and can look for a
 * secret text in every block it frees or still holds. */
typedef struct blk {
    struct blk *prev, *next;
    size_t size;
    size_t pad;
} blk;

typedef struct talloc {
    long calls, fail_at, live;
    blk head;
    const char *secret;  /* when set: count freed blocks that still contain it */
    long freed_with_secret;
} talloc;

static void t_link(talloc *t, blk *b)
{
    b->next = t->head.next;
    b->prev = &t->head;
    t->head.next->prev = b;
    t->head.next = b;
}

static void t_unlink(blk *b)
{
    b->prev->next = b->next;
    b->next->prev = b->prev;
}

static void *t_malloc(void *ctx, size_t n)
{
    talloc *t = ctx;
    if (t->calls++ == t->fail_at)
        return NULL;
    blk *b = malloc(sizeof *b + n);
    if (!b)
        return NULL;
    b->size = n;
    t_link(t, b);
    t->live++;
    return b + 1;
}

static void *t_realloc(void *ctx, void *p, size_t n)
{
    talloc *t = ctx;
    if (!p)
        return t_malloc(ctx, n);
    if (t->calls++ == t->fail_at)
        return NULL;
    blk *old = (blk *)p - 1;
    t_unlink(old);
    blk *b = realloc(old, sizeof *b + n);
    if (!b) {
        t_link(t, old);
        return NULL;
    }
    b->size = n;
    t_link(t, b);
    return b + 1;
}

static bool blk_has(const blk *b, const char *s)
{
    return memmem(b + 1, b->size, s, strlen(s)) != NULL;
}

static void t_free(void *ctx, void *p)
{
    talloc *t = ctx;
    if (!p)
        return;
    blk *b = (blk *)p - 1;
    if (t->secret && blk_has(b, t->secret))
        t->freed_with_secret++;
    t_unlink(b);
    t->live--;
    free(b);
}

static long t_live_with(talloc *t, const char *s)
{
    long n = 0;
    for (blk *b = t->head.next; b != &t->head; b = b->next)
        n += blk_has(b, s);
    return n;
}

static void t_init(talloc *t, recsys__mem *mem)
{
    memset(t, 0, sizeof *t);
    t->fail_at = -1;
    t->head.next = t->head.prev = &t->head;
    RECSYS_INIT(recsys_allocator, a, .ctx = t, .malloc_fn = t_malloc, .realloc_fn = t_realloc,
                .free_fn = t_free);
    assert_int_equal(recsys__mem_init(mem, &a), RECSYS_OK);
}

/* ---------------------------------------------------------------- helpers -------------- */

#define T0 1700000000
#define DAY 86400

static recsys_item *mkitem(const recsys__mem *m, const char *id, const char *cat, const char *tag1,
                           const char *tag2)
{
    recsys_item *it;
    if (recsys__item_new(m, id, &it) != RECSYS_OK)
        return NULL;
    if ((cat && recsys__item_set_text(m, it, RECSYS_FIELD_CATEGORY, cat) != RECSYS_OK) ||
        (tag1 && recsys__item_add_tag(m, it, tag1) != RECSYS_OK) ||
        (tag2 && recsys__item_add_tag(m, it, tag2) != RECSYS_OK)) {
        recsys__item_free(m, it);
        return NULL;
    }
    return it;
}

static void put_item(recsys__model *model, const char *id, const char *cat, const char *t1,
                     const char *t2)
{
    recsys_item *it = mkitem(model->mem, id, cat, t1, t2), *old = NULL;
    assert_non_null(it);
    assert_int_equal(recsys__catalog_put(&model->catalog, it, &old), RECSYS_OK);
    recsys__item_free(model->mem, old);
}

static recsys_event mkev(int32_t type, const char *user, const char *item, double value,
                         int64_t ts)
{
    recsys_event ev;
    recsys_event_init(&ev);
    ev.type = type;
    ev.user_id = user;
    ev.item_id = item;
    ev.value = value;
    ev.timestamp = ts;
    return ev;
}

static void apply_ok(recsys__model *m, recsys_event ev)
{
    recsys_event copy;
    assert_int_equal(recsys__model_check_event(m, &ev, &copy), RECSYS_OK);
    assert_int_equal(recsys__model_apply_event(m, &copy), RECSYS_OK);
}

static uint32_t facet(const recsys__model *m, const char *name)
{
    return recsys__ids_find(&m->catalog.facets.ids, name, strlen(name));
}

static void assert_err_has(const char *needle)
{
    const char *msg = recsys_last_error();
    if (!strstr(msg, needle))
        fail_msg("message '%s' does not contain '%s'", msg, needle);
}

/* ---------------------------------------------------------------- items ---------------- */

static void test_item_fields(void **state)
{
    (void)state;
    const recsys__mem *m = &recsys__mem_default;
    recsys_item *it;
    assert_int_equal(recsys__item_new(m, "i1", &it), RECSYS_OK);
    assert_string_equal(it->id, "i1");
    assert_string_equal(it->title, "");
    assert_string_equal(it->category, "");
    assert_string_equal(it->gen.summary, "");
    assert_int_equal(it->available, 1);
    assert_int_equal(it->category_facet, RECSYS_IDS_NONE);

    assert_int_equal(recsys__item_set_text(m, it, RECSYS_FIELD_TITLE, "Dune"), RECSYS_OK);
    assert_int_equal(recsys__item_set_text(m, it, RECSYS_FIELD_TITLE, "Dune II"), RECSYS_OK);
    assert_string_equal(it->title, "Dune II");
    assert_int_equal(recsys__item_set_text(m, it, RECSYS_FIELD_TITLE, ""), RECSYS_OK);
    assert_string_equal(it->title, "");
    assert_int_equal(recsys__item_set_text(m, it, 9, "x"), RECSYS_E_INVALID_ARG);
    assert_err_has("field 9 is unknown");

    /* tags: distinct, in the order given */
    assert_int_equal(recsys__item_add_tag(m, it, "b"), RECSYS_OK);
    assert_int_equal(recsys__item_add_tag(m, it, "a"), RECSYS_OK);
    assert_int_equal(recsys__item_add_tag(m, it, "b"), RECSYS_OK);
    assert_int_equal(it->ntags, 2);
    assert_string_equal(it->tags[0], "b");
    assert_string_equal(it->tags[1], "a");
    assert_true(recsys__item_has_tag(it, "a"));
    assert_false(recsys__item_has_tag(it, "c"));
    assert_int_equal(recsys__item_add_tag(m, it, ""), RECSYS_E_INVALID_ARG);
    assert_err_has("tag is empty");
    assert_int_equal(recsys__item_add_tag(m, it, "\xc3\x28"), RECSYS_E_INVALID_ARG);
    assert_err_has("not valid UTF-8");
    assert_int_equal(it->ntags, 2);

    /* attributes: sorted by name, distinct, replaced in place */
    assert_int_equal(recsys__item_set_attr(m, it, "price", RECSYS__ATTR_NUM, 9.5, NULL),
                     RECSYS_OK);
    assert_int_equal(recsys__item_set_attr(m, it, "gpu", RECSYS__ATTR_STR, 0, "RTX"), RECSYS_OK);
    assert_int_equal(recsys__item_set_attr(m, it, "new", RECSYS__ATTR_BOOL, 7, NULL), RECSYS_OK);
    assert_int_equal(recsys__item_set_attr(m, it, "gpu", RECSYS__ATTR_NUM, 4070, NULL),
                     RECSYS_OK);
    assert_int_equal(it->nattrs, 3);
    assert_string_equal(it->attrs[0].name, "gpu");
    assert_string_equal(it->attrs[1].name, "new");
    assert_string_equal(it->attrs[2].name, "price");
    assert_int_equal(it->attrs[0].type, RECSYS__ATTR_NUM);
    assert_null(it->attrs[0].str);
    assert_true(it->attrs[1].num == 1);
    const recsys__attr *a = recsys__item_attr(it, "price");
    assert_non_null(a);
    assert_true(a->num == 9.5);
    assert_null(recsys__item_attr(it, "weight"));
    assert_int_equal(recsys__item_set_attr(m, it, "w", RECSYS__ATTR_NUM, NAN, NULL),
                     RECSYS_E_INVALID_ARG);
    assert_err_has("attribute 'w': value is not finite");
    assert_int_equal(recsys__item_set_attr(m, it, "s", RECSYS__ATTR_STR, 0, NULL),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(it->nattrs, 3);

    /* embeddings by name, replaced */
    float v[3] = { 1, 2, 3 }, w[2] = { 4, 5 };
    assert_int_equal(recsys__item_set_embedding(m, it, "default", v, 3), RECSYS_OK);
    assert_int_equal(recsys__item_set_embedding(m, it, "text", w, 2), RECSYS_OK);
    assert_int_equal(recsys__item_set_embedding(m, it, "default", w, 2), RECSYS_OK);
    assert_int_equal(it->nembs, 2);
    const recsys__embedding *e = recsys__item_embedding(it, "default");
    assert_non_null(e);
    assert_int_equal(e->dim, 2);
    assert_true(e->v[1] == 5);
    assert_null(recsys__item_embedding(it, "image"));
    assert_int_equal(recsys__item_set_embedding(m, it, "x", v, 0), RECSYS_E_INVALID_ARG);
    assert_err_has("dim 0 is outside 1..4096");
    v[1] = INFINITY;
    assert_int_equal(recsys__item_set_embedding(m, it, "x", v, 3), RECSYS_E_INVALID_ARG);
    assert_err_has("value 1 is not finite");
    assert_int_equal(it->nembs, 2);

    /* generated data is kept apart */
    assert_int_equal(recsys__item_add_gen_tag(m, it, "space opera"), RECSYS_OK);
    assert_int_equal(recsys__item_set_gen_text(m, it, 0, "A desert planet."), RECSYS_OK);
    assert_int_equal(recsys__item_set_gen_text(m, it, 1, "llm-1"), RECSYS_OK);
    assert_int_equal(recsys__item_set_gen_attr(m, it, "mood", RECSYS__ATTR_STR, 0, "epic"),
                     RECSYS_OK);
    assert_int_equal(it->gen.ntags, 1);
    assert_false(recsys__item_has_tag(it, "space opera"));
    assert_null(recsys__item_attr(it, "mood"));
    assert_string_equal(it->gen.model, "llm-1");
    recsys__item_free(m, it);

    assert_int_equal(recsys__item_new(m, "", &it), RECSYS_E_INVALID_ARG);
    assert_null(it);
    char long_id[300];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = 0;
    assert_int_equal(recsys__item_new(m, long_id, &it), RECSYS_E_INVALID_ARG);
    assert_err_has("299 bytes long; the limit is 256");
}

static void test_item_limits(void **state)
{
    (void)state;
    const recsys__mem *m = &recsys__mem_default;
    recsys_item *it;
    assert_int_equal(recsys__item_new(m, "i", &it), RECSYS_OK);
    char name[16];
    for (int i = 0; i < RECSYS__LIST_MAX; i++) {
        snprintf(name, sizeof name, "t%d", i);
        assert_int_equal(recsys__item_add_tag(m, it, name), RECSYS_OK);
        assert_int_equal(recsys__item_set_attr(m, it, name, RECSYS__ATTR_NUM, i, NULL),
                         RECSYS_OK);
    }
    assert_int_equal(recsys__item_add_tag(m, it, "t0"), RECSYS_OK); /* a repeat is fine */
    assert_int_equal(recsys__item_add_tag(m, it, "one-more"), RECSYS_E_INVALID_ARG);
    assert_err_has("too many tags (the limit is 256)");
    assert_int_equal(recsys__item_set_attr(m, it, "one-more", RECSYS__ATTR_NUM, 1, NULL),
                     RECSYS_E_INVALID_ARG);
    assert_err_has("too many attributes");
    /* attributes stayed sorted through 256 inserts */
    for (uint32_t i = 1; i < it->nattrs; i++)
        assert_true(strcmp(it->attrs[i - 1].name, it->attrs[i].name) < 0);
    char *big = malloc(RECSYS__TEXT_MAX + 2);
    memset(big, 'a', RECSYS__TEXT_MAX + 1);
    big[RECSYS__TEXT_MAX + 1] = 0;
    assert_int_equal(recsys__item_set_text(m, it, RECSYS_FIELD_DESCRIPTION, big),
                     RECSYS_E_INVALID_ARG);
    assert_err_has("description is 65537 bytes long; the limit is 65536");
    big[RECSYS__TEXT_MAX] = 0;
    assert_int_equal(recsys__item_set_text(m, it, RECSYS_FIELD_DESCRIPTION, big), RECSYS_OK);
    free(big);
    recsys__item_free(m, it);
}

static recsys_item *rich_item(const recsys__mem *m)
{
    recsys_item *it = mkitem(m, "rich", "laptops", "gpu", "gaming");
    float v[4] = { 0.1f, -2.5f, 3e-8f, 1e30f };
    if (!it || recsys__item_set_text(m, it, RECSYS_FIELD_TITLE, "Laptop \"X\"") ||
        recsys__item_set_text(m, it, RECSYS_FIELD_DESCRIPTION, "line1\nline2\t\xe2\x82\xac") ||
        recsys__item_set_text(m, it, RECSYS_FIELD_PROVIDER, "acme") ||
        recsys__item_add_region(m, it, "EU") || recsys__item_add_region(m, it, "US") ||
        recsys__item_set_attr(m, it, "price", RECSYS__ATTR_NUM, 999.99, NULL) ||
        recsys__item_set_attr(m, it, "refurbished", RECSYS__ATTR_BOOL, 0, NULL) ||
        recsys__item_set_attr(m, it, "gpu", RECSYS__ATTR_STR, 0, "RTX 4070") ||
        recsys__item_set_embedding(m, it, "default", v, 4) ||
        recsys__item_set_embedding(m, it, "image", v, 2) ||
        recsys__item_add_gen_tag(m, it, "portable") ||
        recsys__item_set_gen_text(m, it, 0, "A fast laptop.") ||
        recsys__item_set_gen_text(m, it, 1, "llm") ||
        recsys__item_set_gen_attr(m, it, "weight_kg", RECSYS__ATTR_NUM, 2.1, NULL)) {
        recsys__item_free(m, it);
        return NULL;
    }
    it->min_age = 12;
    it->created = T0;
    it->available = 0;
    return it;
}

static void test_item_clone(void **state)
{
    (void)state;
    talloc t;
    recsys__mem mem;
    t_init(&t, &mem);
    recsys_item *src = rich_item(&recsys__mem_default);
    assert_non_null(src);
    recsys_item *copy;
    assert_int_equal(recsys__item_clone(&mem, src, &copy), RECSYS_OK);
    assert_true(fixture_items_equal(src, copy));
    assert_ptr_not_equal(copy->tags[0], src->tags[0]);
    recsys__item_free(&mem, copy);
    assert_int_equal(t.live, 0);
    /* OOM loop: every failure is NOMEM and leaks nothing */
    for (long n = 0;; n++) {
        t.calls = 0;
        t.fail_at = n;
        recsys__err_clear();
        recsys_status st = recsys__item_clone(&mem, src, &copy);
        if (st == RECSYS_OK) {
            assert_true(fixture_items_equal(src, copy));
            recsys__item_free(&mem, copy);
            assert_true(n > 10);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(copy);
        assert_true(recsys_last_error()[0] != 0);
        assert_int_equal(t.live, 0);
    }
    assert_int_equal(t.live, 0);
    recsys__item_free(&recsys__mem_default, src);
}

/* ---------------------------------------------------------------- builders ------------- */

static void test_item_spec(void **state)
{
    (void)state;
    recsys_item_spec *s = (recsys_item_spec *)1;
    assert_int_equal(recsys_item_spec_new(NULL, &s), RECSYS_E_INVALID_ARG);
    assert_null(s);
    assert_int_equal(recsys_item_spec_new("x", NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_item_spec_new("bad\xff", &s), RECSYS_E_INVALID_ARG);
    assert_err_has("not valid UTF-8");
    assert_int_equal(recsys_item_spec_new("x", &s), RECSYS_OK);
    assert_string_equal(recsys_last_error(), "");

    assert_int_equal(recsys_item_spec_set_flags(s, 1, 200, 0), RECSYS_E_INVALID_ARG);
    assert_string_equal(recsys_last_error(), "item 'x': min_age 200 is above 150");
    assert_int_equal(recsys_item_spec_set_flags(s, 1, -1, 0), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_item_spec_set_flags(s, 2, 0, 0), RECSYS_E_INVALID_ARG);
    assert_string_equal(recsys_last_error(), "item 'x': available 2 is not 0 or 1");
    assert_int_equal(recsys_item_spec_set_flags(NULL, 1, 0, 0), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_item_spec_set_flags(s, 0, 18, T0), RECSYS_OK);
    assert_int_equal(recsys_item_spec_set_text(s, RECSYS_FIELD_TITLE, NULL), RECSYS_E_INVALID_ARG);
    assert_string_equal(recsys_last_error(), "item 'x': title is NULL");
    assert_int_equal(recsys_item_spec_set_text(s, RECSYS_FIELD_TITLE, "T"), RECSYS_OK);
    assert_int_equal(recsys_item_spec_set_text(s, RECSYS_FIELD_CATEGORY, "C"), RECSYS_OK);
    assert_int_equal(recsys_item_spec_add_tag(s, "t1"), RECSYS_OK);
    assert_int_equal(recsys_item_spec_add_tag(s, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_item_spec_add_region(s, "EU"), RECSYS_OK);
    assert_int_equal(recsys_item_spec_set_number(s, "price", 5), RECSYS_OK);
    assert_int_equal(recsys_item_spec_set_number(s, "price", INFINITY), RECSYS_E_INVALID_ARG);
    assert_string_equal(recsys_last_error(), "item 'x': attribute 'price': value is not finite");
    assert_int_equal(recsys_item_spec_set_string(s, "gpu", "RTX"), RECSYS_OK);
    assert_int_equal(recsys_item_spec_set_bool(s, "new", 5), RECSYS_OK);
    float v[2] = { 1, 2 };
    assert_int_equal(recsys_item_spec_set_embedding(s, "default", v, 2), RECSYS_OK);
    assert_int_equal(recsys_item_spec_set_embedding(s, "default", v, 5000), RECSYS_E_INVALID_ARG);
    assert_string_equal(recsys_last_error(), "item 'x': embedding 'default': dim 5000 is outside 1..4096");
    assert_int_equal(recsys_item_spec_set_embedding(s, "default", NULL, 2), RECSYS_E_INVALID_ARG);

    const recsys_item *it = recsys__item_spec_item(s);
    assert_non_null(it);
    assert_null(recsys__item_spec_item(NULL));
    /* the public views */
    assert_string_equal(recsys_item_id(it), "x");
    assert_string_equal(recsys_item_text(it, RECSYS_FIELD_TITLE), "T");
    assert_string_equal(recsys_item_text(it, RECSYS_FIELD_CATEGORY), "C");
    assert_string_equal(recsys_item_text(it, RECSYS_FIELD_PROVIDER), "");
    assert_string_equal(recsys_item_text(it, 77), "");
    assert_int_equal(recsys_item_tag_count(it), 1);
    assert_string_equal(recsys_item_tag(it, 0), "t1");
    assert_null(recsys_item_tag(it, 1));
    assert_int_equal(recsys_item_available(it), 0);
    assert_int_equal(recsys_item_min_age(it), 18);
    double d = 0;
    assert_int_equal(recsys_item_number(it, "price", &d), RECSYS_OK);
    assert_true(d == 5);
    assert_int_equal(recsys_item_number(it, "weight", &d), RECSYS_E_NOT_FOUND);
    assert_string_equal(recsys_last_error(), "item 'x' has no attribute 'weight'");
    assert_int_equal(recsys_item_number(it, "gpu", &d), RECSYS_E_INVALID_ARG);
    assert_string_equal(recsys_last_error(), "item 'x': attribute 'gpu' is a string, not a number");
    assert_int_equal(recsys_item_number(it, "new", &d), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_item_number(it, NULL, &d), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_item_number(it, "price", NULL), RECSYS_E_INVALID_ARG);
    /* NULL-safe views */
    assert_string_equal(recsys_item_id(NULL), "");
    assert_string_equal(recsys_item_text(NULL, RECSYS_FIELD_TITLE), "");
    assert_int_equal(recsys_item_tag_count(NULL), 0);
    assert_null(recsys_item_tag(NULL, 0));
    assert_int_equal(recsys_item_available(NULL), 0);
    assert_int_equal(recsys_item_min_age(NULL), 0);
    assert_int_equal(recsys_item_number(NULL, "price", &d), RECSYS_E_INVALID_ARG);
    recsys_item_spec_free(s);
    recsys_item_spec_free(NULL);
}

static void test_user_spec_and_events(void **state)
{
    (void)state;
    recsys_user_spec *s = NULL;
    assert_int_equal(recsys_user_spec_new("", &s), RECSYS_E_INVALID_ARG);
    assert_string_equal(recsys_last_error(), "user id is empty");
    assert_null(s);
    assert_int_equal(recsys_user_spec_new("u1", &s), RECSYS_OK);
    assert_int_equal(recsys_user_spec_add_interest(s, "ml"), RECSYS_OK);
    assert_int_equal(recsys_user_spec_add_interest(s, "ml"), RECSYS_OK);
    assert_int_equal(recsys_user_spec_add_interest(s, ""), RECSYS_E_INVALID_ARG);
    assert_string_equal(recsys_last_error(), "user 'u1': interest is empty");
    assert_int_equal(recsys_user_spec_set_demographics(s, 151, NULL), RECSYS_E_INVALID_ARG);
    assert_string_equal(recsys_last_error(), "user 'u1': age 151 is above 150");
    assert_int_equal(recsys_user_spec_set_demographics(s, -2, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_user_spec_set_demographics(s, 30, "EU"), RECSYS_OK);
    assert_int_equal(recsys_user_spec_add_item(s, 4, "i1"), RECSYS_E_INVALID_ARG);
    assert_err_has("list 4 is unknown");
    assert_int_equal(recsys_user_spec_add_item(s, RECSYS_LIST_PURCHASED, "i1"), RECSYS_OK);
    assert_int_equal(recsys_user_spec_add_item(s, RECSYS_LIST_NEGATIVE, NULL),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_user_spec_add_item(NULL, RECSYS_LIST_NEGATIVE, "i"),
                     RECSYS_E_INVALID_ARG);
    const recsys__profile *p = recsys__user_spec_profile(s);
    assert_string_equal(p->id, "u1");
    assert_int_equal(p->ninterests, 1);
    assert_int_equal(p->age, 30);
    assert_string_equal(p->region, "EU");
    assert_int_equal(p->nlist_ids[RECSYS_LIST_PURCHASED], 1);
    assert_int_equal(p->nlist_ids[RECSYS_LIST_NEGATIVE], 0);
    recsys_user_spec_free(s);

    recsys_event ev;
    memset(&ev, 0x5a, sizeof ev);
    recsys_event_init(&ev);
    assert_int_equal(ev.struct_size, sizeof ev);
    assert_int_equal(ev.position, -1);
    assert_null(ev.user_id);
    recsys_event_init(NULL);
    assert_string_equal(recsys_event_type_name(RECSYS_EVENT_ADD_TO_CART), "add_to_cart");
    assert_string_equal(recsys_event_type_name(RECSYS_EVENT_WATCH_TIME), "watch_time");
    assert_null(recsys_event_type_name(0));
    assert_null(recsys_event_type_name(13));
    for (int32_t t = 1; t <= 12; t++)
        assert_int_equal(recsys__event_type_from_name(recsys_event_type_name(t)), t);
    assert_int_equal(recsys__event_type_from_name("clicks"), -1);

    /* weights and classes as model.h documents them */
    assert_true(recsys__event_weight(RECSYS_EVENT_VIEW, 0) == 1);
    assert_true(recsys__event_weight(RECSYS_EVENT_LIKE, 0) == 3);
    assert_true(recsys__event_weight(RECSYS_EVENT_PURCHASE, 0) == 5);
    assert_true(recsys__event_weight(RECSYS_EVENT_RATING, 4.5) == 1.5);
    assert_true(recsys__event_weight(RECSYS_EVENT_WATCH_TIME, 120) == 2);
    assert_true(recsys__event_weight(RECSYS_EVENT_DWELL, 3600) == 5);
    assert_true(recsys__event_weight(RECSYS_EVENT_DISLIKE, 0) == -5);
    assert_true(recsys__event_weight(RECSYS_EVENT_SKIP, 0) == -1);
    assert_true(recsys__event_weight(RECSYS_EVENT_IMPRESSION, 9) == 0);
    assert_true(recsys__event_weight(RECSYS_EVENT_SEARCH, 9) == 0);
    assert_true(recsys__event_consumes(RECSYS_EVENT_PURCHASE));
    assert_false(recsys__event_consumes(RECSYS_EVENT_IMPRESSION));
    assert_false(recsys__event_consumes(RECSYS_EVENT_DISLIKE));
    assert_true(recsys__event_negative(RECSYS_EVENT_SKIP));
    assert_false(recsys__event_negative(RECSYS_EVENT_CLICK));
}

/* ---------------------------------------------------------------- catalog -------------- */

static void test_catalog_put_replace_remove(void **state)
{
    (void)state;
    recsys__model m;
    recsys__model_init(&m, &recsys__mem_default);
    put_item(&m, "i1", "books", "sci-fi", "space");
    put_item(&m, "i2", "books", "space", NULL);
    assert_int_equal(m.catalog.live, 2);
    assert_int_equal(m.catalog.facets.ids.n, 3); /* c:books, t:sci-fi, t:space */
    uint32_t i1 = recsys__catalog_find(&m.catalog, "i1");
    uint32_t i2 = recsys__catalog_find(&m.catalog, "i2");
    assert_int_equal(i1, 0);
    assert_int_equal(i2, 1);
    assert_int_equal(recsys__catalog_find(&m.catalog, "nope"), RECSYS_IDS_NONE);
    assert_int_equal(recsys__catalog_find(&m.catalog, NULL), RECSYS_IDS_NONE);
    const recsys_item *it1 = recsys__catalog_get(&m.catalog, i1);
    assert_int_equal(it1->idx, i1);
    assert_int_equal(it1->category_facet, facet(&m, "c:books"));
    assert_int_equal(it1->tag_facets[0], facet(&m, "t:sci-fi"));
    assert_int_equal(it1->tag_facets[1], facet(&m, "t:space"));
    assert_int_equal(recsys__catalog_get(&m.catalog, i2)->tag_facets[0], facet(&m, "t:space"));
    assert_null(recsys__catalog_get(&m.catalog, 99));
    /* counters of new slots are zero */
    assert_true(m.catalog.pop_v[i2] == 0 && m.catalog.trend_ts[i2] == 0);

    /* replace: same index, the old item comes back */
    recsys_item *nw = mkitem(m.mem, "i1", "films", NULL, NULL), *old = NULL;
    assert_int_equal(recsys__catalog_put(&m.catalog, nw, &old), RECSYS_OK);
    assert_non_null(old);
    assert_ptr_equal(old, it1);
    recsys__item_free(m.mem, old);
    assert_int_equal(recsys__catalog_find(&m.catalog, "i1"), i1);
    assert_int_equal(m.catalog.live, 2);
    assert_string_equal(recsys__catalog_get(&m.catalog, i1)->category, "films");
    assert_null(recsys__catalog_get(&m.catalog, i1)->tag_facets);

    /* remove: NULL slot, index kept; a later put reuses it */
    m.catalog.pop_v[i2] = 7;
    assert_int_equal(recsys__catalog_remove(&m.catalog, "i2", &old), RECSYS_OK);
    recsys__item_free(m.mem, old);
    assert_int_equal(m.catalog.live, 1);
    assert_null(recsys__catalog_get(&m.catalog, i2));
    assert_int_equal(recsys__catalog_find(&m.catalog, "i2"), RECSYS_IDS_NONE);
    assert_int_equal(recsys__catalog_remove(&m.catalog, "i2", &old), RECSYS_E_NOT_FOUND);
    assert_string_equal(recsys_last_error(), "item 'i2' is not in the catalog");
    assert_null(old);
    put_item(&m, "i2", NULL, NULL, NULL);
    assert_int_equal(recsys__catalog_find(&m.catalog, "i2"), i2);
    assert_true(m.catalog.pop_v[i2] == 0);
    assert_int_equal(recsys__catalog_get(&m.catalog, i2)->category_facet, RECSYS_IDS_NONE);

    /* facet texts longer than the stack buffer */
    char longcat[1001], longtag[700];
    memset(longcat, 'c', 1000);
    longcat[1000] = 0;
    memset(longtag, 't', 699);
    longtag[699] = 0;
    put_item(&m, "long", longcat, "short", longtag);
    char key[1100];
    snprintf(key, sizeof key, "c:%s", longcat);
    const recsys_item *lit = recsys__catalog_get(&m.catalog, recsys__catalog_find(&m.catalog, "long"));
    assert_int_equal(lit->category_facet, facet(&m, key));
    snprintf(key, sizeof key, "t:%s", longtag);
    assert_int_equal(lit->tag_facets[1], facet(&m, key));
    assert_int_not_equal(lit->tag_facets[1], RECSYS_IDS_NONE);
    assert_int_equal(lit->tag_facets[0], facet(&m, "t:short"));
    old = NULL;
    assert_int_equal(recsys__catalog_remove(&m.catalog, "long", &old), RECSYS_OK);
    recsys__item_free(m.mem, old);

    /* many items: arrays grow with the catalog */
    char id[16];
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "x%d", i);
        put_item(&m, id, "c", NULL, NULL);
    }
    assert_int_equal(m.catalog.live, 302);
    assert_true(m.catalog.cap >= m.catalog.ids.n);
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "x%d", i);
        uint32_t idx = recsys__catalog_find(&m.catalog, id);
        assert_int_equal(idx, (uint32_t)i + 3);
        assert_true(m.catalog.pop_v[idx] == 0);
    }
    recsys__model_free(&m);
}

typedef struct cat_snapshot {
    size_t ids_n, facets_n, live;
    uint64_t collisions, fcollisions;
} cat_snapshot;

static cat_snapshot cat_snap(const recsys__catalog *c)
{
    cat_snapshot s = { c->ids.n, c->facets.ids.n, c->live, c->ids.collisions,
                       c->facets.ids.collisions };
    return s;
}

static void test_catalog_put_oom(void **state)
{
    (void)state;
    talloc t;
    recsys__mem mem;
    t_init(&t, &mem);
    recsys__model m;
    recsys__model_init(&m, &mem);
    /* enough items that the next put grows the slot and facet tables */
    char id[16], tag[32];
    for (int i = 0; i < 32; i++) {
        snprintf(id, sizeof id, "p%d", i);
        snprintf(tag, sizeof tag, "tag%d", i);
        put_item(&m, id, "cat", tag, NULL);
    }
    const recsys_item *before = recsys__catalog_get(&m.catalog, 3);
    for (int round = 0; round < 2; round++) {
        /* round 0: a new item with new facets; round 1: replacing an existing one */
        const char *nid = round == 0 ? "new" : "p3";
        char cat[32], t1[32], t2[32], fcat[40], ft1[40];
        snprintf(cat, sizeof cat, "new-cat-%d", round);
        snprintf(t1, sizeof t1, "fresh-%d-1", round);
        snprintf(t2, sizeof t2, "fresh-%d-2", round);
        snprintf(fcat, sizeof fcat, "c:%s", cat);
        snprintf(ft1, sizeof ft1, "t:%s", t1);
        bool done = false;
        for (long n = 0; !done; n++) {
            recsys_item *it = mkitem(&mem, nid, cat, t1, t2);
            assert_non_null(it);
            cat_snapshot s0 = cat_snap(&m.catalog);
            long live0 = t.live;
            t.calls = 0;
            t.fail_at = n;
            recsys__err_clear();
            recsys_item *old = (recsys_item *)1;
            recsys_status st = recsys__catalog_put(&m.catalog, it, &old);
            t.fail_at = -1;
            if (st == RECSYS_OK) {
                assert_int_equal(recsys__catalog_find(&m.catalog, nid),
                                 round == 0 ? 32 : 3);
                assert_int_equal(recsys__catalog_get(&m.catalog, round == 0 ? 32 : 3)
                                     ->category_facet, facet(&m, fcat));
                if (round == 1)
                    assert_ptr_equal(old, before);
                else
                    assert_null(old);
                recsys__item_free(&mem, old);
                done = true;
                break;
            }
            assert_int_equal(st, RECSYS_E_NOMEM);
            assert_true(recsys_last_error()[0] != 0);
            cat_snapshot s1 = cat_snap(&m.catalog);
            assert_memory_equal(&s0, &s1, sizeof s0);
            assert_int_equal(t.live, live0);
            assert_int_equal(facet(&m, fcat), RECSYS_IDS_NONE);
            assert_int_equal(facet(&m, ft1), RECSYS_IDS_NONE);
            if (round == 0)
                assert_int_equal(recsys__catalog_find(&m.catalog, nid), RECSYS_IDS_NONE);
            else
                assert_ptr_equal(recsys__catalog_get(&m.catalog, 3), before);
            assert_int_equal(it->category_facet, RECSYS_IDS_NONE);
            assert_null(it->tag_facets);
            recsys__item_free(&mem, it);
            /* every old facet is still found at its index */
            for (int i = 0; i < 32; i++) {
                snprintf(tag, sizeof tag, "t:tag%d", i);
                assert_int_equal(facet(&m, tag), (uint32_t)i + 1);
            }
        }
        assert_true(done);
    }
    /* putting back an item that was in the catalog (a caller's rollback) allocates nothing,
     * so it cannot fail: after a replace, and after a remove */
    recsys_item *p5 = (recsys_item *)recsys__catalog_get(&m.catalog, 5), *nw = NULL, *back = NULL;
    nw = mkitem(&mem, "p5", "other", "x", NULL);
    assert_int_equal(recsys__catalog_put(&m.catalog, nw, &back), RECSYS_OK);
    assert_ptr_equal(back, p5);
    t.calls = 0;
    t.fail_at = 0;
    assert_int_equal(recsys__catalog_put(&m.catalog, p5, &back), RECSYS_OK);
    assert_int_equal(t.calls, 0);
    assert_ptr_equal(back, nw);
    recsys__item_free(&mem, nw);
    t.fail_at = -1;
    assert_int_equal(recsys__catalog_remove(&m.catalog, "p5", &back), RECSYS_OK);
    t.fail_at = 0;
    assert_int_equal(recsys__catalog_put(&m.catalog, p5, &back), RECSYS_OK);
    assert_null(back);
    t.fail_at = -1;
    assert_int_equal(recsys__catalog_get(&m.catalog, 5)->tag_facets[0], facet(&m, "t:tag5"));
    recsys__model_free(&m);
    assert_int_equal(t.live, 0);
}

/* An item with a category, one tag and text attributes brand and gpu (NULL: none). */
static recsys_item *mkshop(const recsys__mem *m, const char *id, const char *cat,
                           const char *tag, const char *brand, const char *gpu)
{
    recsys_item *it = mkitem(m, id, cat, tag, NULL);
    if (it && ((brand && recsys__item_set_attr(m, it, "Brand", RECSYS__ATTR_STR, 0, brand) !=
                             RECSYS_OK) ||
               (gpu && recsys__item_set_attr(m, it, "gpu", RECSYS__ATTR_STR, 0, gpu) !=
                           RECSYS_OK) ||
               recsys__item_set_attr(m, it, "Dedicated_GPU", RECSYS__ATTR_BOOL, 1, NULL) !=
                   RECSYS_OK)) {
        recsys__item_free(m, it);
        return NULL;
    }
    return it;
}

/* The spelling of the one attribute value s names ("attr=spelling"), "" when none, "*" when
 * several attributes have it. */
static const char *value_of(const recsys__catalog *c, const char *s)
{
    static char out[128];
    recsys__fold_hit h[4];
    size_t n = recsys__catalog_fold_values(c, s, strlen(s), h, 4);
    if (n != 1)
        return n ? "*" : "";
    snprintf(out, sizeof out, "%s=%s", recsys__ids_name(&c->attr_names, h[0].attr), h[0].spelling);
    return out;
}

static const char *facet_name(const recsys__catalog *c, char kind, const char *s)
{
    uint32_t f = recsys__catalog_fold_facet(c, kind, s, strlen(s));
    return f == RECSYS_IDS_NONE ? "" : recsys__ids_name(&c->facets.ids, f);
}

/* model.h's folded vocabulary (fold.h): case-insensitive lookups that return the catalog's
 * spelling, values counted as items come, change and go, the most held spelling, a failed
 * put that folds nothing, and a put back that allocates nothing. */
static void test_catalog_fold(void **state)
{
    (void)state;
    talloc t;
    recsys__mem mem;
    t_init(&t, &mem);
    recsys__model m;
    recsys__model_init(&m, &mem);
    recsys__catalog *c = &m.catalog;
    recsys_item *old = NULL;
    const char *sp[][4] = { { "a", "Laptop", "MacBook", "Apple" },
                            { "b", "Laptop", "ThinkPad", "Lenovo" },
                            { "c", "Tablet", "iPad", "Apple" },
                            { "d", "laptop", "Gaming", "LENOVO" },
                            { "e", "Laptop", "ThinkPad", "Lenovo" } };
    for (size_t i = 0; i < 5; i++) {
        recsys_item *it = mkshop(&mem, sp[i][0], sp[i][1], sp[i][2], sp[i][3],
                                 i == 1 ? "RTX 4060" : NULL);
        assert_int_equal(recsys__catalog_put(c, it, &old), RECSYS_OK);
    }
    /* facets and names: the first spelling interned, whatever the case asked */
    assert_string_equal(facet_name(c, 'c', "LAPTOP"), "c:Laptop");
    assert_string_equal(facet_name(c, 't', "macbook"), "t:MacBook");
    assert_string_equal(facet_name(c, 't', "IPAD"), "t:iPad");
    assert_string_equal(facet_name(c, 't', "laptop"), "");
    assert_string_equal(facet_name(c, 'x', "laptop"), "");
    uint32_t a = recsys__catalog_fold_attr(c, "dedicated_gpu", 13);
    assert_int_not_equal(a, RECSYS_IDS_NONE);
    assert_string_equal(recsys__ids_name(&c->attr_names, a), "Dedicated_GPU");
    /* values: the spelling most items hold (Lenovo 2, LENOVO 1); multi-word */
    assert_string_equal(value_of(c, "lenovo"), "Brand=Lenovo");
    assert_string_equal(value_of(c, "rtx 4060"), "gpu=RTX 4060");
    assert_string_equal(value_of(c, "RTX 4060 "), "");
    assert_string_equal(value_of(c, "ThinkPad"), ""); /* a tag, not a value */
    /* counted out on removal and on replacement, back in when an item has it again */
    assert_int_equal(recsys__catalog_remove(c, "b", &old), RECSYS_OK);
    recsys_item *b = old;
    assert_string_equal(value_of(c, "rtx 4060"), "");
    assert_int_equal(recsys__catalog_remove(c, "e", &old), RECSYS_OK);
    recsys__item_free(&mem, old);
    assert_string_equal(value_of(c, "lenovo"), "Brand=LENOVO"); /* the one left */
    recsys_item *d2 = mkshop(&mem, "d", "laptop", "Gaming", "Dell", NULL);
    assert_int_equal(recsys__catalog_put(c, d2, &old), RECSYS_OK);
    recsys__item_free(&mem, old);
    assert_string_equal(value_of(c, "lenovo"), "");
    assert_string_equal(value_of(c, "dell"), "Brand=Dell");
    /* a put back (a caller's rollback) allocates nothing and counts the item in again */
    t.calls = 0;
    t.fail_at = 0;
    assert_int_equal(recsys__catalog_put(c, b, &old), RECSYS_OK);
    t.fail_at = -1;
    assert_null(old);
    assert_string_equal(value_of(c, "rtx 4060"), "gpu=RTX 4060");
    assert_string_equal(value_of(c, "lenovo"), "Brand=Lenovo");
    /* a value two attributes have */
    recsys_item *x = mkshop(&mem, "x", "", NULL, "Apple", "apple");
    assert_int_equal(recsys__catalog_put(c, x, &old), RECSYS_OK);
    assert_string_equal(value_of(c, "apple"), "*");
    /* every failure of a put with new words folds nothing and leaks nothing */
    uint32_t ab = recsys__catalog_fold_attr(c, "BRAND", 5);
    assert_int_not_equal(ab, RECSYS_IDS_NONE);
    for (long n = 0;; n++) {
        size_t k0 = c->fold.keys.n, v0 = c->fold.vals.n;
        uint32_t nv0 = c->fold.nvalues[ab];
        long live0 = t.live;
        recsys_item *it = mkshop(&mem, "y", "Phone", "iPhone", "Xiaomi", "Adreno 740");
        assert_non_null(it);
        t.calls = 0;
        t.fail_at = n;
        recsys_status st = recsys__catalog_put(c, it, &old);
        t.fail_at = -1;
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        recsys__item_free(&mem, it);
        assert_int_equal(t.live, live0);
        assert_int_equal(c->fold.keys.n, k0);
        assert_int_equal(c->fold.vals.n, v0);
        assert_int_equal(c->fold.nvalues[ab], nv0);
        assert_string_equal(value_of(c, "xiaomi"), "");
        assert_string_equal(facet_name(c, 't', "iphone"), "");
    }
    assert_string_equal(value_of(c, "XIAOMI"), "Brand=Xiaomi");
    assert_string_equal(value_of(c, "adreno 740"), "gpu=Adreno 740");
    assert_string_equal(facet_name(c, 't', "iphone"), "t:iPhone");
    /* a value too long, or of more than 4 words, is not folded */
    recsys_item *z = mkshop(&mem, "z", "", NULL, "one two three four five", NULL);
    assert_int_equal(recsys__catalog_put(c, z, &old), RECSYS_OK);
    assert_string_equal(value_of(c, "one two three four five"), "");
    recsys__model_free(&m);
    assert_int_equal(t.live, 0);
}

/* ---------------------------------------------------------------- events -------------- */

static void test_check_event(void **state)
{
    (void)state;
    recsys__model m;
    recsys__model_init(&m, &recsys__mem_default);
    put_item(&m, "i1", "c", NULL, NULL);
    recsys_event copy, ev = mkev(RECSYS_EVENT_CLICK, "u1", "i1", 0, 0);
    assert_int_equal(recsys__model_check_event(&m, &ev, &copy), RECSYS_OK);
    assert_int_equal(copy.timestamp, 0); /* 0 is the engine's to fill */
    assert_string_equal(copy.item_id, "i1");

    assert_int_equal(recsys__model_check_event(&m, NULL, &copy), RECSYS_E_INVALID_ARG);
    struct { recsys_event ev; uint64_t tail; } big;
    memset(&big, 0, sizeof big);
    big.ev = ev;
    big.ev.struct_size = sizeof big;
    assert_int_equal(recsys__model_check_event(&m, &big.ev, &copy), RECSYS_OK);
    big.tail = 1;
    assert_int_equal(recsys__model_check_event(&m, &big.ev, &copy), RECSYS_E_UNSUPPORTED);
    ev.struct_size = 8;
    assert_int_equal(recsys__model_check_event(&m, &ev, &copy), RECSYS_E_INVALID_ARG);
    assert_err_has("struct_size 8 is below the minimum");

    static const struct {
        int32_t type;
        const char *user, *item, *query;
        double value;
        int64_t ts;
        int32_t pos;
        recsys_status st;
        const char *msg;
    } bad[] = {
        { 0, "u", "i1", NULL, 0, 1, -1, RECSYS_E_INVALID_ARG,
          "event: field 'type': 0 is not an event type (1..12)" },
        { 13, "u", "i1", NULL, 0, 1, -1, RECSYS_E_INVALID_ARG, "13 is not an event type" },
        { 3, NULL, "i1", NULL, 0, 1, -1, RECSYS_E_INVALID_ARG, "event: field 'user_id' is NULL" },
        { 3, "", "i1", NULL, 0, 1, -1, RECSYS_E_INVALID_ARG, "event: field 'user_id' is empty" },
        { 3, "u\xc0\xaf", "i1", NULL, 0, 1, -1, RECSYS_E_INVALID_ARG,
          "field 'user_id' is not valid UTF-8" },
        { 3, "u", NULL, NULL, 0, 1, -1, RECSYS_E_INVALID_ARG, "event: field 'item_id' is NULL" },
        { 3, "u", "i9", NULL, 0, 1, -1, RECSYS_E_NOT_FOUND,
          "event: item 'i9' is not in the catalog" },
        { 12, "u", NULL, NULL, 0, 1, -1, RECSYS_E_INVALID_ARG, "a search event needs the search text" },
        { 12, "u", NULL, "", 0, 1, -1, RECSYS_E_INVALID_ARG, "a search event needs the search text" },
        { 3, "u", "i1", NULL, NAN, 1, -1, RECSYS_E_INVALID_ARG, "field 'value' is not finite" },
        { 10, "u", "i1", NULL, -5, 1, -1, RECSYS_E_INVALID_ARG,
          "field 'value': -5 seconds of watch_time is negative" },
        { 3, "u", "i1", NULL, 0, -1, -1, RECSYS_E_INVALID_ARG, "field 'timestamp': -1 is negative" },
        { 3, "u", "i1", NULL, 0, 1, -2, RECSYS_E_INVALID_ARG, "field 'position': -2 is below -1" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        recsys_event e = mkev(bad[i].type, bad[i].user, bad[i].item, bad[i].value, bad[i].ts);
        e.query = bad[i].query;
        e.position = bad[i].pos;
        recsys__err_clear();
        assert_int_equal(recsys__model_check_event(&m, &e, &copy), bad[i].st);
        assert_err_has(bad[i].msg);
    }
    /* an impression's attribution and LLM cost (since 0.2): names as the engine's parts
     * have them; none of the four on other events */
    static const struct {
        int32_t type;
        const char *sources, *ranker;
        uint32_t calls;
        recsys_status st;
        const char *msg;
    } attr[] = {
        { 1, "als,popular", "linear", 3, RECSYS_OK, NULL },
        { 1, "als", NULL, 0, RECSYS_OK, NULL },
        { 1, "als,,popular", NULL, 0, RECSYS_E_INVALID_ARG,
          "field 'sources': a source name must be 1..63 bytes, got 0" },
        { 1, ",als", NULL, 0, RECSYS_E_INVALID_ARG, "got 0" },
        { 1, "als,", NULL, 0, RECSYS_E_INVALID_ARG, "got 0" },
        { 1, "", NULL, 0, RECSYS_E_INVALID_ARG, "got 0" },
        { 1, "ALS", NULL, 0, RECSYS_E_INVALID_ARG,
          "field 'sources': a source name 'ALS': byte 0 is not one of [a-z0-9_.-]" },
        { 1, "als", "my ranker", 0, RECSYS_E_INVALID_ARG,
          "field 'ranker': a ranker name 'my ranker': byte 2" },
        { 1, NULL, "", 0, RECSYS_E_INVALID_ARG, "field 'ranker': a ranker name must be 1..63" },
        { 1, NULL, "0123456789012345678901234567890123456789012345678901234567890123", 0,
          RECSYS_E_INVALID_ARG, "got 64" },
        { 3, "als", NULL, 0, RECSYS_E_INVALID_ARG, "are for impressions only" },
        { 3, NULL, "linear", 0, RECSYS_E_INVALID_ARG, "are for impressions only" },
        { 3, NULL, NULL, 2, RECSYS_E_INVALID_ARG, "are for impressions only" },
    };
    for (size_t i = 0; i < sizeof attr / sizeof attr[0]; i++) {
        recsys_event e = mkev(attr[i].type, "u", "i1", 0, 1);
        e.sources = attr[i].sources;
        e.ranker = attr[i].ranker;
        e.llm_calls = attr[i].calls;
        recsys__err_clear();
        recsys_status st = recsys__model_check_event(&m, &e, &copy);
        if (st != attr[i].st)
            fail_msg("attribution case %zu gave %d: %s", i, st, recsys_last_error());
        if (attr[i].msg)
            assert_err_has(attr[i].msg);
        else
            assert_int_equal(copy.llm_calls, attr[i].calls);
    }
    /* a caller built against 0.1 (struct_size before sources) has none of them */
    recsys_event old = mkev(RECSYS_EVENT_CLICK, "u", "i1", 0, 1);
    old.struct_size = (uint32_t)offsetof(recsys_event, sources);
    old.sources = "not read";
    old.llm_calls = 9;
    assert_int_equal(recsys__model_check_event(&m, &old, &copy), RECSYS_OK);
    assert_null(copy.sources);
    assert_int_equal(copy.llm_calls, 0);
    recsys_event s = mkev(RECSYS_EVENT_SEARCH, "u", NULL, 0, 5);
    s.query = "red shoes";
    assert_int_equal(recsys__model_check_event(&m, &s, &copy), RECSYS_OK);
    assert_int_equal(m.users.live, 0); /* checking never changes the model */
    recsys__model_free(&m);
}

static void test_apply_history_and_affinity(void **state)
{
    (void)state;
    recsys__model m;
    recsys__model_init(&m, &recsys__mem_default);
    assert_true(m.long_half_life_s == 90.0 * DAY);
    assert_true(m.pop_half_life_s == 30.0 * DAY);
    assert_true(m.trend_half_life_s == 24.0 * 3600);
    assert_int_equal(m.history_max, 1000);
    put_item(&m, "i1", "books", "sci-fi", "space");
    put_item(&m, "i2", "films", "space", NULL);
    uint32_t books = facet(&m, "c:books"), space = facet(&m, "t:space");
    uint32_t films = facet(&m, "c:films");

    apply_ok(&m, mkev(RECSYS_EVENT_CLICK, "u1", "i1", 0, T0));
    recsys__user *u = recsys__users_find(&m.users, "u1");
    assert_non_null(u);
    assert_false(u->has_profile);
    assert_int_equal(u->age, -1);
    assert_int_equal(u->nhist, 1);
    assert_int_equal(u->hist[0].item, 0);
    assert_int_equal(u->hist[0].type, RECSYS_EVENT_CLICK);
    assert_int_equal(u->hist[0].ts, T0);
    assert_int_equal(u->naff, 3);
    for (size_t i = 1; i < u->naff; i++)
        assert_true(u->aff[i - 1].facet < u->aff[i].facet);
    assert_true(recsys__user_affinity(&m, u, books, T0) == 1);

    /* a like 90 days (one half-life) later: 1 * 1/2 + 3 */
    apply_ok(&m, mkev(RECSYS_EVENT_LIKE, "u1", "i1", 0, T0 + 90 * DAY));
    assert_true(recsys__user_affinity(&m, u, books, T0 + 90 * DAY) == 3.5);
    assert_true(recsys__user_affinity(&m, u, books, T0 + 180 * DAY) == 1.75);
    /* read before the last update: no growth back in time */
    assert_true(recsys__user_affinity(&m, u, books, T0) == 3.5);
    /* a dislike at 180 days: 3.5 / 2 - 5 */
    apply_ok(&m, mkev(RECSYS_EVENT_DISLIKE, "u1", "i1", 0, T0 + 180 * DAY));
    assert_true(recsys__user_affinity(&m, u, books, T0 + 180 * DAY) == -3.25);
    /* an event older than the accumulator decays to its time: -3.25 + 1 * 2^-2 */
    apply_ok(&m, mkev(RECSYS_EVENT_VIEW, "u1", "i1", 0, T0));
    assert_true(recsys__user_affinity(&m, u, books, T0 + 180 * DAY) == -3.0);
    /* space is shared with i2; films only via i2 */
    apply_ok(&m, mkev(RECSYS_EVENT_PURCHASE, "u1", "i2", 0, T0 + 180 * DAY));
    assert_true(recsys__user_affinity(&m, u, space, T0 + 180 * DAY) == 2.0);
    assert_true(recsys__user_affinity(&m, u, films, T0 + 180 * DAY) == 5.0);
    assert_true(recsys__user_affinity(&m, u, 999, T0) == 0);
    assert_true(recsys__user_affinity(&m, NULL, books, T0) == 0);
    assert_int_equal(u->naff, 4);

    /* impressions count but are not kept; search keeps its text */
    size_t nh = u->nhist;
    apply_ok(&m, mkev(RECSYS_EVENT_IMPRESSION, "u1", "i2", 0, T0 + 181 * DAY));
    assert_int_equal(u->nhist, nh);
    recsys_event s = mkev(RECSYS_EVENT_SEARCH, "u1", NULL, 0, T0 + 182 * DAY);
    s.query = "space books";
    apply_ok(&m, s);
    assert_int_equal(u->nhist, nh + 1);
    assert_int_equal(u->hist[nh].item, RECSYS_IDS_NONE);
    assert_string_equal(u->hist[nh].query, "space books");
    assert_int_equal(u->nevents, 7);
    assert_int_equal(m.nevents, 7);
    assert_int_equal(m.users.live, 1);

    /* an unknown item is an error and changes nothing */
    recsys_event bad = mkev(RECSYS_EVENT_CLICK, "u2", "nope", 0, T0);
    assert_int_equal(recsys__model_apply_event(&m, &bad), RECSYS_E_NOT_FOUND);
    assert_null(recsys__users_find(&m.users, "u2"));
    assert_int_equal(m.nevents, 7);
    recsys__model_free(&m);
}

static void test_popularity_decay(void **state)
{
    (void)state;
    recsys__model m;
    recsys__model_init(&m, &recsys__mem_default);
    put_item(&m, "i1", "c", NULL, NULL);
    recsys__catalog *c = &m.catalog;
    apply_ok(&m, mkev(RECSYS_EVENT_PURCHASE, "u1", "i1", 0, T0));
    assert_true(c->pop_v[0] == 5 && c->pop_ts[0] == T0);
    assert_true(c->trend_v[0] == 5 && c->trend_ts[0] == T0);
    /* one popularity half-life later: 5/2 + 1; trending has decayed 30 half-lives */
    apply_ok(&m, mkev(RECSYS_EVENT_VIEW, "u2", "i1", 0, T0 + 30 * DAY));
    assert_true(c->pop_v[0] == 3.5);
    assert_true(fabs(c->trend_v[0] - (1 + 5 * exp2(-30))) < 1e-12);
    assert_int_equal(c->pop_ts[0], T0 + 30 * DAY);
    /* negative and zero weights do not touch the counters */
    apply_ok(&m, mkev(RECSYS_EVENT_DISLIKE, "u2", "i1", 0, T0 + 60 * DAY));
    apply_ok(&m, mkev(RECSYS_EVENT_SKIP, "u2", "i1", 0, T0 + 60 * DAY));
    apply_ok(&m, mkev(RECSYS_EVENT_RATING, "u2", "i1", 1, T0 + 60 * DAY));
    apply_ok(&m, mkev(RECSYS_EVENT_IMPRESSION, "u2", "i1", 0, T0 + 60 * DAY));
    assert_true(c->pop_v[0] == 3.5);
    assert_int_equal(c->pop_ts[0], T0 + 30 * DAY);
    /* a rating of 5 weighs 2; the decayed value at read time */
    apply_ok(&m, mkev(RECSYS_EVENT_RATING, "u2", "i1", 5, T0 + 60 * DAY));
    assert_true(c->pop_v[0] == 3.5 / 2 + 2);
    assert_true(recsys__decay(c->pop_v[0], c->pop_ts[0], T0 + 90 * DAY, m.pop_half_life_s) ==
                (3.5 / 2 + 2) / 2);
    /* watch time: 90 s = 1.5 minutes */
    apply_ok(&m, mkev(RECSYS_EVENT_WATCH_TIME, "u2", "i1", 90, T0 + 60 * DAY));
    assert_true(c->pop_v[0] == 3.5 / 2 + 2 + 1.5);
    assert_int_equal(m.nevents, 8);

    /* the helpers alone */
    double v = 0;
    int64_t ts = 0;
    recsys__decay_add(&v, &ts, 8, 100, 10);
    assert_true(v == 8 && ts == 100);
    recsys__decay_add(&v, &ts, 8, 110, 10);
    assert_true(v == 12 && ts == 110);
    recsys__decay_add(&v, &ts, 8, 90, 10);
    assert_true(v == 14 && ts == 110);
    assert_true(recsys__decay(14, 110, 100, 10) == 14);
    recsys__model_free(&m);
}

static void test_history_max(void **state)
{
    (void)state;
    recsys__model m;
    recsys__model_init(&m, &recsys__mem_default);
    put_item(&m, "i1", "c", NULL, NULL);
    m.history_max = 3;
    char q[16];
    for (int i = 0; i < 6; i++) {
        recsys_event s = mkev(RECSYS_EVENT_SEARCH, "u1", NULL, 0, T0 + i);
        snprintf(q, sizeof q, "q%d", i);
        s.query = q;
        apply_ok(&m, s);
    }
    recsys__user *u = recsys__users_find(&m.users, "u1");
    assert_int_equal(u->nhist, 3);
    assert_string_equal(u->hist[0].query, "q3");
    assert_string_equal(u->hist[2].query, "q5");
    assert_int_equal(u->hist[0].ts, T0 + 3);
    assert_int_equal(u->nevents, 6);
    /* lowering the bound trims at the next event (the dropped texts are freed: ASan) */
    m.history_max = 1;
    apply_ok(&m, mkev(RECSYS_EVENT_CLICK, "u1", "i1", 0, T0 + 9));
    assert_int_equal(u->nhist, 1);
    assert_int_equal(u->hist[0].type, RECSYS_EVENT_CLICK);
    assert_null(u->hist[0].query);
    recsys__model_free(&m);
}

typedef struct model_snapshot {
    size_t users_n, users_live, nhist, naff;
    uint64_t nevents, unevents;
    double pop, trend;
    int64_t pop_ts;
} model_snapshot;

static model_snapshot model_snap(const recsys__model *m, const char *user)
{
    model_snapshot s;
    memset(&s, 0, sizeof s);
    s.users_n = m->users.ids.n;
    s.users_live = m->users.live;
    s.nevents = m->nevents;
    const recsys__user *u = recsys__users_find(&m->users, user);
    if (u) {
        s.nhist = u->nhist;
        s.naff = u->naff;
        s.unevents = u->nevents;
    }
    s.pop = m->catalog.pop_v[0];
    s.trend = m->catalog.trend_v[0];
    s.pop_ts = m->catalog.pop_ts[0];
    return s;
}

static void test_apply_event_oom(void **state)
{
    (void)state;
    talloc t;
    recsys__mem mem;
    t_init(&t, &mem);
    recsys__model m;
    recsys__model_init(&m, &mem);
    put_item(&m, "i1", "books", "a", "b");
    put_item(&m, "i2", "films", "c", NULL);
    apply_ok(&m, mkev(RECSYS_EVENT_VIEW, "old", "i1", 0, T0));
    m.history_max = 4;
    /* a new user, an existing user (new facets, history growth), a search with text, and an
     * existing user at the history bound */
    struct { const char *user, *item; int32_t type; } cases[] = {
        { "fresh", "i1", RECSYS_EVENT_PURCHASE },
        { "old", "i2", RECSYS_EVENT_LIKE },
        { "old", NULL, RECSYS_EVENT_SEARCH },
        { "old", "i1", RECSYS_EVENT_CLICK },
        { "old", "i1", RECSYS_EVENT_CLICK },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        recsys_event ev = mkev(cases[k].type, cases[k].user, cases[k].item, 0, T0 + (int64_t)k);
        ev.query = cases[k].item ? NULL : "free text";
        bool done = false;
        for (long n = 0; !done; n++) {
            model_snapshot s0 = model_snap(&m, cases[k].user);
            long live0 = t.live;
            t.calls = 0;
            t.fail_at = n;
            recsys__err_clear();
            recsys_status st = recsys__model_apply_event(&m, &ev);
            t.fail_at = -1;
            if (st == RECSYS_OK) {
                done = true;
                break;
            }
            assert_int_equal(st, RECSYS_E_NOMEM);
            assert_true(recsys_last_error()[0] != 0);
            model_snapshot s1 = model_snap(&m, cases[k].user);
            assert_memory_equal(&s0, &s1, sizeof s0);
            assert_int_equal(t.live, live0);
        }
        assert_true(done);
    }
    recsys__user *u = recsys__users_find(&m.users, "old");
    assert_int_equal(u->nhist, 4);
    assert_int_equal(u->nevents, 5);
    assert_int_equal(m.nevents, 6);
    recsys__model_free(&m);
    assert_int_equal(t.live, 0);
}

/* ---------------------------------------------------------------- profiles ------------- */

static void test_profile_apply(void **state)
{
    (void)state;
    recsys__model m;
    recsys__model_init(&m, &recsys__mem_default);
    const recsys__mem *d = &recsys__mem_default;
    put_item(&m, "i1", "c", NULL, NULL);
    put_item(&m, "i2", "c", NULL, NULL);
    apply_ok(&m, mkev(RECSYS_EVENT_CLICK, "u1", "i1", 0, T0));

    recsys__profile p;
    assert_int_equal(recsys__profile_init(d, &p, "u1"), RECSYS_OK);
    assert_int_equal(recsys__profile_add_interest(d, &p, "ml"), RECSYS_OK);
    assert_int_equal(recsys__profile_set_demographics(d, &p, 40, "EU"), RECSYS_OK);
    assert_int_equal(recsys__profile_add_item(d, &p, RECSYS_LIST_PURCHASED, "i2"), RECSYS_OK);
    assert_int_equal(recsys__profile_add_item(d, &p, RECSYS_LIST_RECENT_VIEWS, "i1"), RECSYS_OK);
    assert_int_equal(recsys__users_apply_profile(&m.users, &m.catalog, &p), RECSYS_OK);
    recsys__user *u = recsys__users_find(&m.users, "u1");
    assert_true(u->has_profile);
    assert_int_equal(u->age, 40);
    assert_string_equal(u->region, "EU");
    assert_string_equal(u->interests[0], "ml");
    assert_int_equal(u->nlists[RECSYS_LIST_PURCHASED], 1);
    assert_int_equal(u->lists[RECSYS_LIST_PURCHASED][0], 1);
    assert_int_equal(u->lists[RECSYS_LIST_RECENT_VIEWS][0], 0);
    assert_int_equal(u->nhist, 1); /* events are kept */

    /* an unknown listed item: NOT_FOUND naming it, the old profile untouched */
    recsys__profile q;
    assert_int_equal(recsys__profile_init(d, &q, "u1"), RECSYS_OK);
    assert_int_equal(recsys__profile_add_interest(d, &q, "art"), RECSYS_OK);
    assert_int_equal(recsys__profile_add_item(d, &q, RECSYS_LIST_NEGATIVE, "ghost"), RECSYS_OK);
    assert_int_equal(recsys__users_apply_profile(&m.users, &m.catalog, &q), RECSYS_E_NOT_FOUND);
    assert_string_equal(recsys_last_error(),
                        "user 'u1': negative_feedback item 'ghost' is not in the catalog");
    assert_string_equal(u->interests[0], "ml");
    assert_int_equal(u->age, 40);
    /* a new user that fails is not created */
    free(q.id);
    q.id = strdup("u2");
    assert_int_equal(recsys__users_apply_profile(&m.users, &m.catalog, &q), RECSYS_E_NOT_FOUND);
    assert_null(recsys__users_find(&m.users, "u2"));
    assert_int_equal(m.users.ids.n, 1);
    recsys__profile_free(d, &q);
    /* replacing with an empty profile clears the explicit fields */
    recsys__profile_free(d, &p);
    assert_int_equal(recsys__profile_init(d, &p, "u1"), RECSYS_OK);
    assert_int_equal(recsys__users_apply_profile(&m.users, &m.catalog, &p), RECSYS_OK);
    assert_int_equal(u->ninterests, 0);
    assert_int_equal(u->age, -1);
    assert_null(u->region);
    assert_int_equal(u->nlists[RECSYS_LIST_PURCHASED], 0);
    recsys__profile_free(d, &p);
    recsys__model_free(&m);
}

static void mkprofile(recsys__profile *p, int round)
{
    const recsys__mem *d = &recsys__mem_default;
    assert_int_equal(recsys__profile_init(d, p, "u1"), RECSYS_OK);
    assert_int_equal(recsys__profile_add_interest(d, p, round ? "x" : "ml"), RECSYS_OK);
    assert_int_equal(recsys__profile_add_interest(d, p, "go"), RECSYS_OK);
    assert_int_equal(recsys__profile_set_demographics(d, p, 20 + round, "EU"), RECSYS_OK);
    assert_int_equal(recsys__profile_add_item(d, p, RECSYS_LIST_PURCHASED, "i2"), RECSYS_OK);
    assert_int_equal(recsys__profile_add_item(d, p, RECSYS_LIST_NEGATIVE, "i1"), RECSYS_OK);
}

/* A fresh model per attempt: the first user of a model also allocates the id tables, which
 * a failure may keep as spare capacity; freeing the model then proves nothing leaked. */
static void test_profile_apply_oom(void **state)
{
    (void)state;
    talloc t;
    recsys__mem mem;
    t_init(&t, &mem);
    recsys__profile p0, p1;
    mkprofile(&p0, 0);
    mkprofile(&p1, 1);
    for (int round = 0; round < 2; round++) {
        /* round 0 creates the user; round 1 replaces the profile */
        bool done = false;
        for (long n = 0; !done; n++) {
            recsys__model m;
            recsys__model_init(&m, &mem);
            put_item(&m, "i1", "c", NULL, NULL);
            put_item(&m, "i2", "c", NULL, NULL);
            if (round == 1)
                assert_int_equal(recsys__users_apply_profile(&m.users, &m.catalog, &p0),
                                 RECSYS_OK);
            size_t n0 = m.users.ids.n;
            t.calls = 0;
            t.fail_at = n;
            recsys__err_clear();
            recsys_status st = recsys__users_apply_profile(&m.users, &m.catalog,
                                                          round ? &p1 : &p0);
            t.fail_at = -1;
            recsys__user *u = recsys__users_find(&m.users, "u1");
            if (st == RECSYS_OK) {
                done = true;
                assert_int_equal(u->age, 20 + round);
                assert_int_equal(u->ninterests, 2);
                assert_int_equal(u->lists[RECSYS_LIST_PURCHASED][0], 1);
            } else {
                assert_int_equal(st, RECSYS_E_NOMEM);
                assert_true(recsys_last_error()[0] != 0);
                assert_int_equal(m.users.ids.n, n0);
                if (round == 0) {
                    assert_null(u);
                    assert_int_equal(m.users.live, 0);
                } else {
                    assert_int_equal(u->age, 20);
                    assert_string_equal(u->interests[0], "ml");
                    assert_int_equal(u->nlists[RECSYS_LIST_NEGATIVE], 1);
                }
            }
            recsys__model_free(&m);
            assert_int_equal(t.live, 0);
        }
    }
    recsys__profile_free(&recsys__mem_default, &p0);
    recsys__profile_free(&recsys__mem_default, &p1);
}

/* ---------------------------------------------------------------- forget and replay ----- */

#define SECRET "secret-user-42"

static void feed(recsys__model *m, const char *user, int64_t base)
{
    apply_ok(m, mkev(RECSYS_EVENT_PURCHASE, user, "i1", 0, base));
    apply_ok(m, mkev(RECSYS_EVENT_VIEW, user, "i2", 0, base + DAY));
    apply_ok(m, mkev(RECSYS_EVENT_RATING, user, "i2", 4.5, base + 2 * DAY));
}

static void test_forget(void **state)
{
    (void)state;
    talloc t;
    recsys__mem mem;
    t_init(&t, &mem);
    recsys__model a, b;
    recsys__model_init(&a, &mem);
    recsys__model_init(&b, &mem);
    for (int k = 0; k < 2; k++) {
        recsys__model *m = k ? &b : &a;
        put_item(m, "i1", "books", "x", NULL);
        put_item(m, "i2", "films", NULL, NULL);
    }
    /* a sees the secret user and another; b only the other */
    feed(&a, SECRET, T0);
    recsys_event s = mkev(RECSYS_EVENT_SEARCH, SECRET, NULL, 0, T0 + 5);
    s.query = "what " SECRET " searched";
    apply_ok(&a, s);
    recsys__profile p;
    assert_int_equal(recsys__profile_init(&recsys__mem_default, &p, SECRET), RECSYS_OK);
    assert_int_equal(recsys__profile_set_demographics(&recsys__mem_default, &p, 33, "EU"),
                     RECSYS_OK);
    assert_int_equal(recsys__users_apply_profile(&a.users, &a.catalog, &p), RECSYS_OK);
    recsys__profile_free(&recsys__mem_default, &p);
    feed(&a, "other", T0 + 10 * DAY);
    feed(&b, "other", T0 + 10 * DAY);
    assert_true(t_live_with(&t, SECRET) >= 2);

    uint32_t idx = recsys__users_find(&a.users, SECRET)->idx;
    t.secret = SECRET;
    assert_int_equal(recsys__model_forget_user(&a, SECRET), RECSYS_OK);
    /* no memory we hold has the id or its searches, and what we freed was wiped first */
    assert_int_equal(t_live_with(&t, SECRET), 0);
    assert_int_equal(t.freed_with_secret, 0);
    t.secret = NULL;
    assert_null(a.users.users[idx]);
    assert_null(a.users.ids.names[idx]);
    assert_null(recsys__users_find(&a.users, SECRET));
    assert_int_equal(a.users.live, 1);
    assert_int_equal(a.nevents, b.nevents);
    assert_int_equal(recsys__model_forget_user(&a, SECRET), RECSYS_E_NOT_FOUND);
    assert_int_equal(recsys__model_forget_user(&a, NULL), RECSYS_E_INVALID_ARG);

    /* counters rebuilt from the remaining events equal a model that never saw the user */
    assert_false(a.catalog.pop_v[0] == b.catalog.pop_v[0]);
    recsys__model_counters_reset(&a);
    assert_true(a.catalog.pop_v[0] == 0 && a.catalog.trend_ts[1] == 0);
    recsys_event rest[3] = {
        mkev(RECSYS_EVENT_PURCHASE, "other", "i1", 0, T0 + 10 * DAY),
        mkev(RECSYS_EVENT_VIEW, "other", "i2", 0, T0 + 11 * DAY),
        mkev(RECSYS_EVENT_RATING, "other", "i2", 4.5, T0 + 12 * DAY),
    };
    for (int i = 0; i < 3; i++)
        recsys__model_count_event(&a, &rest[i]);
    recsys_event gone = mkev(RECSYS_EVENT_VIEW, "x", "no-such-item", 0, T0);
    recsys__model_count_event(&a, &gone);
    recsys__model_count_event(&a, NULL);
    for (size_t i = 0; i < 2; i++) {
        assert_true(a.catalog.pop_v[i] == b.catalog.pop_v[i]);
        assert_true(a.catalog.pop_ts[i] == b.catalog.pop_ts[i]);
        assert_true(a.catalog.trend_v[i] == b.catalog.trend_v[i]);
        assert_true(a.catalog.trend_ts[i] == b.catalog.trend_ts[i]);
    }
    /* the same id later is a new user with a new index */
    apply_ok(&a, mkev(RECSYS_EVENT_CLICK, SECRET, "i1", 0, T0));
    recsys__user *again = recsys__users_find(&a.users, SECRET);
    assert_non_null(again);
    assert_int_not_equal(again->idx, idx);
    assert_int_equal(again->nhist, 1);
    assert_int_equal(again->age, -1);
    recsys__model_free(&a);
    recsys__model_free(&b);
    assert_int_equal(t.live, 0);
}

static void test_replay(void **state)
{
    (void)state;
    recsys__model m;
    recsys__model_init(&m, &recsys__mem_default);
    put_item(&m, "i1", "books", NULL, NULL);
    recsys_event ev = mkev(RECSYS_EVENT_PURCHASE, "u1", "i1", 0, T0);
    assert_int_equal(recsys__model_replay_event(&m, &ev), RECSYS_OK);
    recsys__user *u = recsys__users_find(&m.users, "u1");
    assert_int_equal(u->nhist, 1);
    assert_true(m.catalog.pop_v[0] == 5);
    assert_true(recsys__user_affinity(&m, u, facet(&m, "c:books"), T0) == 5);
    /* an item the catalog does not know: counted, nothing else */
    ev = mkev(RECSYS_EVENT_PURCHASE, "u1", "gone", 0, T0 + 1);
    assert_int_equal(recsys__model_replay_event(&m, &ev), RECSYS_OK);
    assert_int_equal(u->nhist, 1);
    assert_int_equal(u->nevents, 2);
    assert_int_equal(m.nevents, 2);
    assert_true(m.catalog.pop_v[0] == 5);
    /* a removed item likewise */
    recsys_item *old;
    assert_int_equal(recsys__catalog_remove(&m.catalog, "i1", &old), RECSYS_OK);
    recsys__item_free(m.mem, old);
    ev = mkev(RECSYS_EVENT_VIEW, "u2", "i1", 0, T0 + 2);
    assert_int_equal(recsys__model_replay_event(&m, &ev), RECSYS_OK);
    assert_int_equal(recsys__users_find(&m.users, "u2")->nhist, 0);
    assert_int_equal(m.nevents, 3);
    /* a malformed record still fails */
    ev.type = 99;
    assert_int_equal(recsys__model_replay_event(&m, &ev), RECSYS_E_INVALID_ARG);
    assert_err_has("replayed event: field 'type'");
    assert_int_equal(recsys__model_replay_event(&m, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(m.nevents, 3);
    recsys__model_free(&m);
}

static void test_users_undo_add(void **state)
{
    (void)state;
    recsys__users u;
    recsys__users_init(&u, &recsys__mem_default);
    recsys__user *a, *b;
    bool created;
    assert_int_equal(recsys__users_get_or_add(&u, "a", &a, &created), RECSYS_OK);
    assert_true(created);
    assert_int_equal(recsys__users_get_or_add(&u, "a", &b, &created), RECSYS_OK);
    assert_false(created);
    assert_ptr_equal(a, b);
    assert_string_equal(a->id, "a");
    assert_int_equal(recsys__users_get_or_add(&u, "b", &b, &created), RECSYS_OK);
    assert_int_equal(u.live, 2);
    recsys__users_undo_add(&u, b);
    assert_int_equal(u.live, 1);
    assert_int_equal(u.ids.n, 1);
    assert_null(recsys__users_find(&u, "b"));
    assert_ptr_equal(recsys__users_find(&u, "a"), a);
    assert_null(recsys__users_find(&u, NULL));
    recsys__users_free(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_item_fields),
        cmocka_unit_test(test_item_limits),
        cmocka_unit_test(test_item_clone),
        cmocka_unit_test(test_item_spec),
        cmocka_unit_test(test_user_spec_and_events),
        cmocka_unit_test(test_catalog_put_replace_remove),
        cmocka_unit_test(test_catalog_put_oom),
        cmocka_unit_test(test_catalog_fold),
        cmocka_unit_test(test_check_event),
        cmocka_unit_test(test_apply_history_and_affinity),
        cmocka_unit_test(test_popularity_decay),
        cmocka_unit_test(test_history_max),
        cmocka_unit_test(test_apply_event_oom),
        cmocka_unit_test(test_profile_apply),
        cmocka_unit_test(test_profile_apply_oom),
        cmocka_unit_test(test_forget),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_users_undo_add),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("model/model", tests, NULL, NULL);
}
