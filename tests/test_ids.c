/* test_ids.c - id interning: find, intern, pop, release (tombstones), and forced hash
 * collisions through a narrowed key mask. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recsys.h"
#include "core/error.h"
#include "core/ids.h"

static const recsys__mem *D = &recsys__mem_default;

static uint32_t find(const recsys__ids *ids, const char *s)
{
    return recsys__ids_find(ids, s, strlen(s));
}

static uint32_t intern(recsys__ids *ids, const char *s, bool *added)
{
    uint32_t idx = RECSYS_IDS_NONE;
    recsys_status st = recsys__ids_intern(ids, s, strlen(s), &idx, added);
    if (st != RECSYS_OK)
        fail_msg("intern '%s': %s", s, recsys_last_error());
    return idx;
}

static void test_intern_find(void **state)
{
    (void)state;
    recsys__ids ids;
    recsys__ids_init(&ids, D);
    assert_int_equal(find(&ids, "a"), RECSYS_IDS_NONE); /* empty table */
    bool added;
    assert_int_equal(intern(&ids, "a", &added), 0);
    assert_true(added);
    assert_int_equal(intern(&ids, "b", &added), 1);
    assert_true(added);
    assert_int_equal(intern(&ids, "a", &added), 0);
    assert_false(added);
    assert_int_equal(intern(&ids, "", NULL), 2); /* the empty string is a string too */
    assert_int_equal(find(&ids, ""), 2);
    assert_int_equal(find(&ids, "b"), 1);
    assert_int_equal(find(&ids, "c"), RECSYS_IDS_NONE);
    /* length-delimited: a prefix is a different string */
    assert_int_equal(recsys__ids_find(&ids, "ab", 1), 0);
    assert_int_equal(recsys__ids_find(&ids, "ab", 2), RECSYS_IDS_NONE);
    assert_string_equal(recsys__ids_name(&ids, 1), "b");
    assert_true(recsys__ids_key(&ids, 0) == recsys__ids_hash("a", 1, 0));
    assert_int_equal(ids.collisions, 0);
    assert_int_equal(ids.n, 3);

    /* many ids: indices are dense and stable across table growth */
    char s[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(s, sizeof s, "user-%d", i);
        assert_int_equal(intern(&ids, s, &added), (uint32_t)i + 3);
        assert_true(added);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(s, sizeof s, "user-%d", i);
        assert_int_equal(find(&ids, s), (uint32_t)i + 3);
        assert_string_equal(recsys__ids_name(&ids, (uint32_t)i + 3), s);
    }
    recsys__ids_free(&ids);
}

static void test_pop(void **state)
{
    (void)state;
    recsys__ids ids;
    recsys__ids_init(&ids, D);
    intern(&ids, "keep", NULL);
    intern(&ids, "undo", NULL);
    recsys__ids_pop(&ids);
    assert_int_equal(ids.n, 1);
    assert_int_equal(find(&ids, "undo"), RECSYS_IDS_NONE);
    assert_int_equal(find(&ids, "keep"), 0);
    assert_int_equal(intern(&ids, "undo", NULL), 1); /* the index is handed out again */
    recsys__ids_pop(&ids);
    recsys__ids_pop(&ids);
    recsys__ids_pop(&ids); /* on an empty table: nothing */
    assert_int_equal(ids.n, 0);
    assert_int_equal(find(&ids, "keep"), RECSYS_IDS_NONE);
    recsys__ids_free(&ids);
}

/* The first string "<prefix><i>" whose seed-0 key equals key under mask. */
static void colliding(const char *prefix, uint64_t key, uint64_t mask, char *out, size_t cap)
{
    for (int i = 0; i < 1000000; i++) {
        snprintf(out, cap, "%s%d", prefix, i);
        if ((recsys__ids_hash(out, strlen(out), 0) & mask) == key)
            return;
    }
    fail_msg("no collision found");
}

static void test_release_tombstone(void **state)
{
    (void)state;
    recsys__ids ids;
    recsys__ids_init(&ids, D);
    ids.key_mask = 0xFF;
    uint32_t a = intern(&ids, "alice", NULL);
    /* bob's first key is alice's: bob's chain runs through alice's slot */
    char bob[32], carol[32];
    colliding("bob", recsys__ids_key(&ids, a), 0xFF, bob, sizeof bob);
    uint32_t b = intern(&ids, bob, NULL);
    assert_true(recsys__ids_key(&ids, b) != recsys__ids_key(&ids, a));

    recsys__ids_release(&ids, a);
    assert_null(recsys__ids_name(&ids, a));
    assert_int_equal(find(&ids, "alice"), RECSYS_IDS_NONE);
    /* the tombstone keeps bob's chain intact */
    assert_int_equal(find(&ids, bob), b);
    recsys__ids_release(&ids, a); /* twice: nothing */
    /* alice again is a new index; a third colliding string still finds a free key */
    bool added;
    uint32_t a2 = intern(&ids, "alice", &added);
    assert_true(added);
    assert_int_not_equal(a2, a);
    colliding("carol", recsys__ids_key(&ids, a), 0xFF, carol, sizeof carol);
    uint32_t c = intern(&ids, carol, NULL);
    assert_int_equal(find(&ids, carol), c);
    assert_int_equal(find(&ids, bob), b);
    assert_int_equal(find(&ids, "alice"), a2);
    /* nothing reuses the released key */
    for (uint32_t i = 0; i < ids.n; i++)
        if (i != a)
            assert_true(recsys__ids_key(&ids, i) != recsys__ids_key(&ids, a));
    recsys__ids_free(&ids);
}

static void test_forced_collisions(void **state)
{
    (void)state;
    recsys__ids ids;
    recsys__ids_init(&ids, D);
    /* 1024 possible keys for 600 strings: most later strings collide at least once */
    ids.key_mask = 0x3FF;
    enum { N = 600 };
    char s[32];
    for (int i = 0; i < N; i++) {
        snprintf(s, sizeof s, "item-%d", i);
        bool added;
        assert_int_equal(intern(&ids, s, &added), (uint32_t)i);
        assert_true(added);
    }
    assert_true(ids.collisions > 100);
    for (int i = 0; i < N; i++) {
        snprintf(s, sizeof s, "item-%d", i);
        assert_int_equal(find(&ids, s), (uint32_t)i);
        assert_string_equal(recsys__ids_name(&ids, (uint32_t)i), s);
        assert_true(recsys__ids_key(&ids, (uint32_t)i) <= 0x3FF);
    }
    /* keys are all distinct */
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            assert_true(recsys__ids_key(&ids, (uint32_t)i) != recsys__ids_key(&ids, (uint32_t)j));
    /* strings never interned are never found, even on crowded chains */
    for (int i = N; i < N + 2000; i++) {
        snprintf(s, sizeof s, "item-%d", i);
        assert_int_equal(find(&ids, s), RECSYS_IDS_NONE);
    }
    /* releasing every other id keeps the rest findable */
    for (int i = 0; i < N; i += 2)
        recsys__ids_release(&ids, (uint32_t)i);
    for (int i = 0; i < N; i++) {
        snprintf(s, sizeof s, "item-%d", i);
        assert_int_equal(find(&ids, s), i % 2 ? (uint32_t)i : RECSYS_IDS_NONE);
    }
    /* popping colliding ids undoes their collision count */
    uint64_t before = ids.collisions;
    size_t n0 = ids.n;
    for (int i = 0; i < 50; i++) {
        snprintf(s, sizeof s, "extra-%d", i);
        intern(&ids, s, NULL);
    }
    for (int i = 0; i < 50; i++)
        recsys__ids_pop(&ids);
    assert_int_equal(ids.n, n0);
    assert_int_equal(ids.collisions, before);
    for (int i = 1; i < N; i += 2) {
        snprintf(s, sizeof s, "item-%d", i);
        assert_int_equal(find(&ids, s), (uint32_t)i);
    }
    recsys__ids_free(&ids);
}

/* collisions counts the strings that needed a second seed: those whose key is not their
 * seed-0 hash under the mask. */
static void test_collision_count(void **state)
{
    (void)state;
    recsys__ids ids;
    recsys__ids_init(&ids, D);
    ids.key_mask = 0x3FF;
    char s[32];
    uint64_t expect = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(s, sizeof s, "item-%d", i);
        uint32_t idx = intern(&ids, s, NULL);
        expect += recsys__ids_key(&ids, idx) != (recsys__ids_hash(s, strlen(s), 0) & 0x3FF);
    }
    uint64_t got = ids.collisions;
    recsys__ids_free(&ids);
    /* unmasked (production) keys: no collisions among ordinary ids */
    recsys__ids_init(&ids, D);
    for (int i = 0; i < 300; i++) {
        snprintf(s, sizeof s, "item-%d", i);
        intern(&ids, s, NULL);
    }
    uint64_t unmasked = ids.collisions;
    recsys__ids_free(&ids);
    assert_true(expect > 0 && expect < 300);
    assert_int_equal(unmasked, 0);
    assert_int_equal(got, expect);
}

static void test_tiny_mask(void **state)
{
    (void)state;
    /* a 2-bit key space holds 4 ids; the fifth is refused cleanly, never confused */
    recsys__ids ids;
    recsys__ids_init(&ids, D);
    ids.key_mask = 0x3;
    const char *names[] = { "w", "x", "y", "z" };
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(intern(&ids, names[i], NULL), i);
    assert_true(ids.collisions >= 1);
    uint32_t idx = 77;
    recsys__err_clear();
    assert_int_equal(recsys__ids_intern(&ids, "v", 1, &idx, NULL), RECSYS_E_INTERNAL);
    assert_non_null(strstr(recsys_last_error(), "hash seeds all collide"));
    assert_int_equal(ids.n, 4);
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(find(&ids, names[i]), i);
    assert_int_equal(find(&ids, "v"), RECSYS_IDS_NONE);
    recsys__ids_free(&ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intern_find),
        cmocka_unit_test(test_pop),
        cmocka_unit_test(test_release_tombstone),
        cmocka_unit_test(test_forced_collisions),
        cmocka_unit_test(test_collision_count),
        cmocka_unit_test(test_tiny_mask),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("core/ids", tests, NULL, NULL);
}
