/* store_conformance.h - the conformance suite every recsys_store_vtable runs through (the
 * memory store, the file store and the SQLite example), plus helpers the store tests share.
 *
 * A store under test is described by a store_conformance record; the suite's cmocka tests
 * take it as their initial state:
 *
 *     static store_conformance fx = { .name = "file", .open = my_open, ... };
 *     const struct CMUnitTest tests[] = { STORE_CONFORMANCE_TESTS(&fx), ... };
 *
 * Each test opens a fresh store in its setup and destroys it in its teardown, so a leak in a
 * store shows up under ASan. The contract checked (beyond the vtable's comment in recsys.h):
 *   - get of a missing key and remove of a missing key give RECSYS_E_NOT_FOUND;
 *   - the kinds are separate key spaces; values are bytes (NULs inside, empty values);
 *   - events come back from scan_events in append order with every field exact: NULL and ""
 *     strings distinct, negative positions, extreme timestamps, UTF-8, the value's bits;
 *     an impression's sources, ranker and LLM cost too (or NULL and 0, for a store with
 *     drops_attribution);
 *   - a visitor's non-OK status stops a scan and is returned unchanged;
 *   - forget_user removes the user's record and exactly the events whose user_id is theirs,
 *     keeps everything else in order, and is idempotent (an unknown user is RECSYS_OK);
 *     with files_dir set, no file in that directory holds the user id's bytes afterwards;
 *   - durable stores (reopen set): destroy + reopen restores every record and event exactly.
 */
#ifndef RECSYS_TESTS_STORE_CONFORMANCE_H
#define RECSYS_TESTS_STORE_CONFORMANCE_H

#include "recsys.h"
#include "testkit.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store_conformance {
    const char *name;
    /* Opens a new, empty store (for a durable store: in a fresh location). */
    recsys_status (*open)(void *arg, recsys_store_vtable *out);
    /* Durable stores: opens the location the last open() created again, after the previous
     * handle was destroyed. NULL for volatile stores, which do not run STORE_CONFORMANCE_DURABLE_TESTS. */
    recsys_status (*reopen)(void *arg, recsys_store_vtable *out);
    /* Optional: the directory whose every file must lack a forgotten user's id. */
    const char *(*files_dir)(void *arg);
    /* Optional: removes what open() created; runs after every test. */
    void (*cleanup)(void *arg);
    void *arg;
    /* scan_records visits records in insertion order (a replaced key keeps its place). */
    bool insertion_order;
    /* The store drops an impression's sources, ranker and LLM cost (scan_events gives NULL
     * and 0 for them); the SQLite example does, to keep its table layout. */
    bool drops_attribution;
} store_conformance;

void store_conf_put_get(void **state);
void store_conf_replace(void **state);
void store_conf_remove(void **state);
void store_conf_kinds_are_separate(void **state);
void store_conf_binary_values(void **state);
void store_conf_scan_records(void **state);
void store_conf_scan_records_stops(void **state);
void store_conf_many_records(void **state);
void store_conf_events_round_trip(void **state);
void store_conf_events_attribution(void **state);
void store_conf_events_batches_in_order(void **state);
void store_conf_scan_events_stops(void **state);
void store_conf_forget_user(void **state);
void store_conf_forget_unknown_user(void **state);
void store_conf_empty_store(void **state);
void store_conf_reopen_restores_everything(void **state);
void store_conf_reopen_after_forget(void **state);
int store_conf_setup(void **state);
int store_conf_teardown(void **state);

#define STORE_CONF_TEST(f, fx) \
    cmocka_unit_test_prestate_setup_teardown(f, store_conf_setup, store_conf_teardown, (void *)(fx))

/* The whole suite, for a tests[] initialiser. */
#define STORE_CONFORMANCE_TESTS(fx)                                                          \
    STORE_CONF_TEST(store_conf_put_get, fx), STORE_CONF_TEST(store_conf_replace, fx),         \
    STORE_CONF_TEST(store_conf_remove, fx), STORE_CONF_TEST(store_conf_kinds_are_separate, fx), \
    STORE_CONF_TEST(store_conf_binary_values, fx), STORE_CONF_TEST(store_conf_scan_records, fx), \
    STORE_CONF_TEST(store_conf_scan_records_stops, fx),                                       \
    STORE_CONF_TEST(store_conf_many_records, fx),                                             \
    STORE_CONF_TEST(store_conf_events_round_trip, fx),                                        \
    STORE_CONF_TEST(store_conf_events_attribution, fx),                                       \
    STORE_CONF_TEST(store_conf_events_batches_in_order, fx),                                  \
    STORE_CONF_TEST(store_conf_scan_events_stops, fx),                                        \
    STORE_CONF_TEST(store_conf_forget_user, fx),                                              \
    STORE_CONF_TEST(store_conf_forget_unknown_user, fx),                                      \
    STORE_CONF_TEST(store_conf_empty_store, fx)

/* The reopen tests, for durable stores only (fx->reopen set). */
#define STORE_CONFORMANCE_DURABLE_TESTS(fx)                                                  \
    STORE_CONF_TEST(store_conf_reopen_restores_everything, fx),                               \
    STORE_CONF_TEST(store_conf_reopen_after_forget, fx)

/* ---------------------------------------------------------------- shared helpers -------- */

/* Counting, failing allocators: tk_alloc in testkit.h. */

/* A new directory under /tmp (mkdtemp) into buf (at least 64 bytes); fails the test if not. */
void store_test_mkdtemp(char *buf, size_t cap, const char *tag);
/* The name of the first regular file in dir containing needle[0..len), or NULL
 * (into name_buf). */
const char *store_test_dir_find(const char *dir, const void *needle, size_t len, char *name_buf,
                                size_t cap);
/* Reads a whole file (malloc'd, *len set); NULL if it cannot be read. */
unsigned char *store_test_read_file(const char *path, size_t *len);
/* Writes a whole file (fails the test on error). */
void store_test_write_file(const char *path, const void *data, size_t len);
/* Number of open file descriptors of this process. */
int store_test_count_fds(void);

/* Everything a store holds, serialised: records of each kind in scan order (sorted when
 * sorted is true), then every event with all its fields. malloc'd; *len set. Fails the test
 * if a scan fails. */
unsigned char *store_test_dump(const recsys_store_vtable *vt, bool sorted, size_t *len);
/* Fills a store with a deterministic mix of records (replaced and removed ones too) and
 * events of several users; seed varies the content. Asserts every call succeeds. */
void store_test_fill(const recsys_store_vtable *vt, unsigned seed);
/* The events of a store, copied (free with store_test_events_free). */
typedef struct store_test_events {
    recsys_event *ev;
    size_t n, cap;
} store_test_events;
recsys_status store_test_collect_events(const recsys_store_vtable *vt, store_test_events *out);
void store_test_events_free(store_test_events *e);
/* Compares two events field by field (strings with NULL distinct from ""; value by bits). */
bool store_test_event_equal(const recsys_event *a, const recsys_event *b);
/* A test event with struct_size set and position -1. */
recsys_event store_test_event(int32_t type, const char *user, const char *item, int64_t ts);
/* get() into a fresh value: the status, and on RECSYS_OK a malloc'd copy in *data, its size in *len. */
recsys_status store_test_get(const recsys_store_vtable *vt, int32_t kind, const char *key,
                             unsigned char **data, size_t *len);

#endif
