/* test_store_sqlite.c - the SQLite host store example (examples/store_sqlite.c) through the
 * same conformance suite as the built-in stores, reopen included, plus its error paths and
 * an engine running on it. */
#include "store_conformance.h"
#include "store_sqlite.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef struct sqlite_fx {
    char dir[128];
    char path[192];
} sqlite_fx;

static recsys_status fx_reopen(void *arg, recsys_store_vtable *out)
{
    sqlite_fx *f = arg;
    return example_store_sqlite_open(f->path, out);
}

static recsys_status fx_open(void *arg, recsys_store_vtable *out)
{
    sqlite_fx *f = arg;
    store_test_mkdtemp(f->dir, sizeof f->dir, "sqlite");
    snprintf(f->path, sizeof f->path, "%s/store.db", f->dir);
    return fx_reopen(arg, out);
}

static const char *fx_dir(void *arg)
{
    return ((sqlite_fx *)arg)->dir;
}

static void fx_cleanup(void *arg)
{
    sqlite_fx *f = arg;
    if (f->dir[0])
        tk_rm_rf(f->dir);
    f->dir[0] = '\0';
}

static sqlite_fx fx;
static store_conformance conf = {
    .name = "sqlite",
    .drops_attribution = true,
    .open = fx_open,
    .reopen = fx_reopen,
    .files_dir = fx_dir,
    .cleanup = fx_cleanup,
    .arg = &fx,
    .insertion_order = true,
};

static void open_errors(void **state)
{
    (void)state;
    recsys_store_vtable vt;
    memset(&vt, 0, sizeof vt);
    assert_int_equal(example_store_sqlite_open(NULL, &vt), RECSYS_E_INVALID_ARG);
    assert_int_equal(example_store_sqlite_open("/tmp/x.db", NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(example_store_sqlite_open("/nonexistent-dir-recsys/x.db", &vt), RECSYS_E_IO);
    assert_non_null(strstr(recsys_last_error(), "sqlite store"));
    char dir[128], path[192];
    store_test_mkdtemp(dir, sizeof dir, "sqlite");
    snprintf(path, sizeof path, "%s/not-a-db", dir);
    char junk[4096];
    memset(junk, 'j', sizeof junk);
    store_test_write_file(path, junk, sizeof junk);
    assert_int_equal(example_store_sqlite_open(path, &vt), RECSYS_E_CORRUPT);
    tk_rm_rf(dir);
}

/* The example plugs into an engine like any host store: data survives an engine restart. */
static void engine_runs_on_it(void **state)
{
    (void)state;
    char dir[128], path[192];
    store_test_mkdtemp(dir, sizeof dir, "sqlite");
    snprintf(path, sizeof path, "%s/engine.db", dir);
    for (int run = 0; run < 2; run++) {
        recsys_store_vtable vt;
        assert_int_equal(example_store_sqlite_open(path, &vt), RECSYS_OK);
        recsys_engine_opts o;
        recsys_engine_opts_init(&o);
        o.store = &vt;
        recsys_engine *e = NULL;
        recsys_status st = recsys_engine_new(&o, &e);
        if (st != RECSYS_OK)
            fail_msg("engine on sqlite: %s (%s)", recsys_status_str(st), recsys_last_error());
        if (run == 0) {
            static const char items_json[] = "[{\"item_id\":\"i1\",\"title\":\"One\"},"
                                             "{\"item_id\":\"i2\",\"title\":\"Two\"}]";
            st = recsys_catalog_upsert_json(e, items_json, strlen(items_json));
            if (st != RECSYS_OK)
                fail_msg("upsert: %s (%s)", recsys_status_str(st), recsys_last_error());
        }
        uint64_t items = 0;
        assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_ITEMS, &items), RECSYS_OK);
        assert_int_equal(items, 2);
        recsys_engine_free(e);
    }
    tk_rm_rf(dir);
}

int main(void)
{
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        STORE_CONFORMANCE_TESTS(&conf),
        STORE_CONFORMANCE_DURABLE_TESTS(&conf),
        cmocka_unit_test(open_errors),
        cmocka_unit_test(engine_runs_on_it),
    };
    return cmocka_run_group_tests_name("store/sqlite", tests, NULL, NULL);
}
