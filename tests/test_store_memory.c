/* test_store_memory.c - the built-in memory store: the conformance suite, vtable and value
 * ABI rules (struct_size, required methods, the value sink), argument checks and the
 * out-of-memory loop. */
#include "store_conformance.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "store/store.h"

static recsys_status mem_open(void *arg, recsys_store_vtable *out)
{
    (void)arg;
    return recsys_store_memory_new(NULL, out);
}

static store_conformance memory_fx = {
    .name = "memory",
    .open = mem_open,
    .insertion_order = true,
};

/* ---------------------------------------------------------------- creation -------------- */

static void new_checks_arguments(void **state)
{
    (void)state;
    assert_int_equal(recsys_store_memory_new(NULL, NULL), RECSYS_E_INVALID_ARG);
    assert_string_not_equal(recsys_last_error(), "");
    recsys_store_vtable vt;
    memset(&vt, 0, sizeof vt);
    assert_int_equal(recsys_store_memory_new(NULL, &vt), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "struct_size"));
    vt.struct_size = (uint32_t)RECSYS_OFFSETOFEND(recsys_store_vtable, forget_user);
    assert_int_equal(recsys_store_memory_new(NULL, &vt), RECSYS_E_INVALID_ARG);
    /* a bad allocator record */
    recsys_allocator a;
    memset(&a, 0, sizeof a);
    a.struct_size = 8;
    vt.struct_size = sizeof vt;
    assert_int_equal(recsys_store_memory_new(&a, &vt), RECSYS_E_INVALID_ARG);
    a.struct_size = sizeof a; /* but no functions */
    assert_int_equal(recsys_store_memory_new(&a, &vt), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "malloc_fn"));
}

static void new_fills_only_the_callers_size(void **state)
{
    (void)state;
    /* a caller compiled against a newer header with a longer vtable */
    struct {
        recsys_store_vtable vt;
        unsigned char newer[32];
    } big;
    memset(&big, 0xAB, sizeof big);
    big.vt.struct_size = sizeof big;
    assert_int_equal(recsys_store_memory_new(NULL, &big.vt), RECSYS_OK);
    assert_string_equal(recsys_last_error(), "");
    assert_int_equal(big.vt.struct_size, sizeof(recsys_store_vtable));
    for (size_t i = 0; i < sizeof big.newer; i++)
        assert_int_equal(big.newer[i], 0xAB);
    assert_non_null(big.vt.put);
    assert_non_null(big.vt.compact);
    assert_non_null(big.vt.destroy);
    big.vt.destroy(big.vt.ctx);

    RECSYS_INIT(recsys_store_vtable, vt, .ctx = NULL);
    recsys_store_vtable_init(NULL); /* ignored */
    recsys_store_vtable vt2;
    memset(&vt2, 0x55, sizeof vt2);
    recsys_store_vtable_init(&vt2);
    assert_int_equal(vt2.struct_size, sizeof vt2);
    assert_null(vt2.put);
    assert_int_equal(recsys_store_memory_new(NULL, &vt2), RECSYS_OK);
    vt2.destroy(vt2.ctx);
    assert_int_equal(vt.struct_size, sizeof vt);
}

static void methods_check_arguments(void **state)
{
    (void)state;
    RECSYS_INIT(recsys_store_vtable, vt, .ctx = NULL);
    assert_int_equal(recsys_store_memory_new(NULL, &vt), RECSYS_OK);
    assert_int_equal(vt.put(vt.ctx, 0, "k", "v", 1), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "kind 0"));
    assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_RULE + 1, "k", "v", 1), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_ITEM, NULL, "v", 1), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_ITEM, "k", NULL, 3), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_ITEM, "k", NULL, 0), RECSYS_OK);
    assert_int_equal(vt.remove(vt.ctx, -1, "k"), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.remove(vt.ctx, RECSYS_RECORD_ITEM, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.get(vt.ctx, RECSYS_RECORD_ITEM, "k", NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.append_events(vt.ctx, NULL, 2), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.scan_records(vt.ctx, 9, NULL, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.scan_records(vt.ctx, RECSYS_RECORD_ITEM, NULL, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.scan_events(vt.ctx, NULL, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.forget_user(vt.ctx, NULL), RECSYS_E_INVALID_ARG);
    unsigned char *data;
    size_t len;
    assert_int_equal(store_test_get(&vt, RECSYS_RECORD_ITEM, "k", &data, &len), RECSYS_OK);
    assert_int_equal(len, 0);
    free(data);
    vt.destroy(vt.ctx);
    vt.destroy(NULL); /* ignored */
}

/* ---------------------------------------------------------------- value sink ------------ */

static void value_set_copies_and_replaces(void **state)
{
    (void)state;
    recsys_store_value v;
    recsys__store_value_init(&v, &recsys__mem_default);
    assert_false(v.set);
    char text[] = "hello";
    recsys_error_set(RECSYS_E_IO, "stale");
    assert_int_equal(recsys_store_value_set(&v, text, 5), RECSYS_OK);
    assert_string_equal(recsys_last_error(), ""); /* cleared on entry */
    text[0] = 'J';
    assert_true(v.set);
    assert_int_equal(v.len, 5);
    assert_string_equal(v.data, "hello"); /* a copy, NUL-terminated */
    assert_int_equal(recsys_store_value_set(&v, "xy", 2), RECSYS_OK);
    assert_string_equal(v.data, "xy");
    assert_int_equal(recsys_store_value_set(&v, NULL, 0), RECSYS_OK);
    assert_int_equal(v.len, 0);
    assert_true(v.set);
    assert_int_equal(recsys_store_value_set(&v, NULL, 1), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "NULL"));
    assert_int_equal(recsys_store_value_set(NULL, "a", 1), RECSYS_E_INVALID_ARG);
    recsys__store_value_free(&v);
    assert_false(v.set);
    assert_null(v.data);
    recsys__store_value_free(NULL);
}

static void value_set_out_of_memory(void **state)
{
    (void)state;
    tk_alloc ta;
    recsys_allocator rec;
    tk_alloc_init(&ta, &rec);
    recsys__mem mem;
    assert_int_equal(recsys__mem_init(&mem, &rec), RECSYS_OK);
    recsys_store_value v;
    recsys__store_value_init(&v, &mem);
    assert_int_equal(recsys_store_value_set(&v, "keep", 4), RECSYS_OK);
    ta.fail_at = ta.count;
    assert_int_equal(recsys_store_value_set(&v, "other", 5), RECSYS_E_NOMEM);
    assert_string_not_equal(recsys_last_error(), "");
    assert_string_equal(v.data, "keep"); /* unchanged */
    recsys__store_value_free(&v);
    assert_int_equal(ta.live, 0);
}

/* ---------------------------------------------------------------- vtable copy ----------- */

static recsys_status nop_put(void *c, int32_t k, const char *key, const void *d, size_t n)
{
    (void)c, (void)k, (void)key, (void)d, (void)n;
    return RECSYS_OK;
}
static recsys_status nop_remove(void *c, int32_t k, const char *key)
{
    (void)c, (void)k, (void)key;
    return RECSYS_OK;
}
static recsys_status nop_get(void *c, int32_t k, const char *key, recsys_store_value *v)
{
    (void)c, (void)k, (void)key, (void)v;
    return RECSYS_OK;
}
static recsys_status nop_append(void *c, const recsys_event *e, size_t n)
{
    (void)c, (void)e, (void)n;
    return RECSYS_OK;
}
static recsys_status nop_scan_records(void *c, int32_t k, recsys_record_visit_fn fn, void *a)
{
    (void)c, (void)k, (void)fn, (void)a;
    return RECSYS_OK;
}
static recsys_status nop_scan_events(void *c, recsys_event_visit_fn fn, void *a)
{
    (void)c, (void)fn, (void)a;
    return RECSYS_OK;
}
static recsys_status nop_forget(void *c, const char *u)
{
    (void)c, (void)u;
    return RECSYS_OK;
}

static void vtable_copy_validates(void **state)
{
    (void)state;
    RECSYS_INIT(recsys_store_vtable, full, .ctx = &full, .put = nop_put, .remove = nop_remove,
                .get = nop_get, .append_events = nop_append, .scan_records = nop_scan_records,
                .scan_events = nop_scan_events, .forget_user = nop_forget);
    recsys_store_vtable dst;
    memset(&dst, 0x11, sizeof dst);
    assert_int_equal(recsys__store_vtable_copy(&dst, &full), RECSYS_OK);
    assert_ptr_equal(dst.ctx, &full);
    assert_null(dst.sync);
    assert_null(dst.compact);
    assert_null(dst.destroy);
    static const char *const names[] = { "put", "remove", "get", "append_events",
                                         "scan_records", "scan_events", "forget_user" };
    for (size_t i = 0; i < 7; i++) {
        recsys_store_vtable v = full;
        switch (i) {
        case 0: v.put = NULL; break;
        case 1: v.remove = NULL; break;
        case 2: v.get = NULL; break;
        case 3: v.append_events = NULL; break;
        case 4: v.scan_records = NULL; break;
        case 5: v.scan_events = NULL; break;
        default: v.forget_user = NULL; break;
        }
        recsys__err_clear();
        memset(&dst, 0x22, sizeof dst);
        assert_int_equal(recsys__store_vtable_copy(&dst, &v), RECSYS_E_INVALID_ARG);
        char want[64];
        snprintf(want, sizeof want, "'%s'", names[i]);
        assert_non_null(strstr(recsys_last_error(), want));
        assert_int_equal(dst.struct_size, 0x22222222u); /* untouched on failure */
    }
    recsys_store_vtable small = full;
    small.struct_size = 8;
    assert_int_equal(recsys__store_vtable_copy(&dst, &small), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__store_vtable_copy(&dst, NULL), RECSYS_E_INVALID_ARG);
    /* a newer, longer vtable: the tail is ignored */
    struct {
        recsys_store_vtable vt;
        void (*future)(void);
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.vt = full;
    newer.vt.struct_size = sizeof newer;
    newer.future = (void (*)(void))nop_put;
    assert_int_equal(recsys__store_vtable_copy(&dst, &newer.vt), RECSYS_OK);
    assert_int_equal(dst.struct_size, sizeof dst);
    assert_ptr_equal(dst.put, nop_put);
}

/* ---------------------------------------------------------------- out of memory --------- */

typedef enum oom_op { OP_NEW, OP_PUT, OP_REPLACE, OP_APPEND, OP_GET, OP_COMPACT, OP_FORGET } oom_op;

static recsys_status run_op(oom_op op, recsys_store_vtable *vt, const recsys_allocator *rec)
{
    recsys_event ev[3] = {
        store_test_event(RECSYS_EVENT_CLICK, "alice", "new-item", 5),
        store_test_event(RECSYS_EVENT_SEARCH, "bob", NULL, 6),
        store_test_event(RECSYS_EVENT_LIKE, "alice", "new-item", 7),
    };
    ev[1].query = "shoes";
    unsigned char *data;
    size_t len;
    recsys_status st;
    switch (op) {
    case OP_NEW:
        return recsys_store_memory_new(rec, vt);
    case OP_PUT:
        return vt->put(vt->ctx, RECSYS_RECORD_ITEM, "brand-new-key", "value", 5);
    case OP_REPLACE:
        return vt->put(vt->ctx, RECSYS_RECORD_USER, "alice", "{\"new\":1}", 9);
    case OP_APPEND:
        return vt->append_events(vt->ctx, ev, 3);
    case OP_GET:
        st = store_test_get(vt, RECSYS_RECORD_USER, "alice", &data, &len);
        free(data);
        return st;
    case OP_COMPACT:
        return vt->compact(vt->ctx);
    case OP_FORGET:
        return vt->forget_user(vt->ctx, "alice");
    }
    return RECSYS_E_INTERNAL;
}

static void out_of_memory_loop(void **state)
{
    (void)state;
    for (oom_op op = OP_NEW; op <= OP_FORGET; op++) {
        tk_alloc ta;
        recsys_allocator rec;
        tk_alloc_init(&ta, &rec);
        RECSYS_INIT(recsys_store_vtable, vt, .ctx = NULL);
        if (op != OP_NEW) {
            assert_int_equal(recsys_store_memory_new(&rec, &vt), RECSYS_OK);
            store_test_fill(&vt, 1);
            recsys_event ev = store_test_event(RECSYS_EVENT_VIEW, "alice", "x", 1);
            assert_int_equal(vt.put(vt.ctx, RECSYS_RECORD_USER, "alice", "{}", 2), RECSYS_OK);
            assert_int_equal(vt.append_events(vt.ctx, &ev, 1), RECSYS_OK);
        }
        size_t before_len = 0;
        unsigned char *before = op != OP_NEW ? store_test_dump(&vt, false, &before_len) : NULL;
        long fails = 0;
        for (long n = 0;; n++) {
            ta.fail_at = ta.count + n;
            long refused = ta.failed;
            recsys_status st = run_op(op, &vt, &rec);
            if (ta.failed == refused) {
                assert_int_equal(st, RECSYS_OK);
                break;
            }
            fails++;
            if (st != RECSYS_E_NOMEM)
                fail_msg("op %d: allocation %ld failed but the call returned %s", (int)op, n,
                         recsys_status_str(st));
            assert_string_not_equal(recsys_last_error(), "");
            if (op != OP_NEW) {
                ta.fail_at = -1;
                size_t len;
                unsigned char *now = store_test_dump(&vt, false, &len);
                assert_int_equal(len, before_len);
                assert_memory_equal(now, before, len); /* failure is atomic */
                free(now);
            } else {
                assert_int_equal(ta.live, 0);
            }
            assert_true(n < 10000);
        }
        ta.fail_at = -1;
        if (op != OP_GET && op != OP_COMPACT && op != OP_FORGET) /* these allocate nothing */
            assert_true(fails > 0);
        free(before);
        vt.destroy(vt.ctx);
        assert_int_equal(ta.live, 0);
    }
}

int main(void)
{
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        STORE_CONFORMANCE_TESTS(&memory_fx),
        cmocka_unit_test(new_checks_arguments),
        cmocka_unit_test(new_fills_only_the_callers_size),
        cmocka_unit_test(methods_check_arguments),
        cmocka_unit_test(value_set_copies_and_replaces),
        cmocka_unit_test(value_set_out_of_memory),
        cmocka_unit_test(vtable_copy_validates),
        cmocka_unit_test(out_of_memory_loop),
    };
    return cmocka_run_group_tests_name("store/memory", tests, NULL, NULL);
}
