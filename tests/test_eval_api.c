/* test_eval_api.c - the public evaluation API (lib/eval/api.c): a csv made here read and
 * split per EVAL_PROTOCOL.md (exact counts), lists scored with hand-checked metrics and
 * violations, every error path, the out-of-memory loop, an ml-latest-small folder (with
 * and without movies.csv, and its own out-of-memory loop), and on ml-100k (skipped without
 * RECSYS_DATA_DIR) the API's NDCG@10 for an iALS pipeline equal to what recsys-bench eval's
 * code path (lib/eval read, split, recsys__eval_run over recsys__eval_final_list) computes
 * for the same engine's lists. */
#include "testkit.h"
#include "eval/eval.h"
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

typedef struct fx {
    char *dir;
    char csv[512], items[512];
} fx;

/* 6 users x 10 interactions (items i0..i11), one a second apart: the last 2 of each user are
 * test, and the last 1 of the 8 train ones is validation */
static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->dir = tk_mkdtemp();
    snprintf(f->csv, sizeof f->csv, "%s/events.csv", f->dir);
    snprintf(f->items, sizeof f->items, "%s/items.csv", f->dir);
    FILE *out = fopen(f->csv, "w");
    assert_non_null(out);
    fprintf(out, "user_id,item_id,timestamp\n");
    for (int u = 0; u < 6; u++)
        for (int k = 0; k < 10; k++)
            fprintf(out, "user%d,i%d,%d\n", u, (u + k) % 12, 1000 + 100 * u + k);
    fclose(out);
    out = fopen(f->items, "w");
    assert_non_null(out);
    fprintf(out, "item_id,title,tags\n");
    for (int i = 0; i < 12; i++)
        fprintf(out, "i%d,Item %d,%s\n", i, i, i % 2 ? "a|b" : "c");
    fclose(out);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    tk_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static json_t *parse(char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    assert_non_null(j);
    recsys_string_free(text);
    return j;
}

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    assert_non_null(v);
    return json_number_value(v);
}

/* the engine id of the csv's item "i<k>": string ids get their rank in byte order */
static const char *item_key(const recsys_eval_dataset *ds, int k)
{
    char name[16];
    snprintf(name, sizeof name, "i%d", k);
    size_t rank = 0;
    for (int j = 0; j < 12; j++) {
        char other[16];
        snprintf(other, sizeof other, "i%d", j);
        rank += strcmp(other, name) < 0;
    }
    return recsys_eval_dataset_item_id(ds, rank);
}

static void test_split_and_ids(void **state)
{
    fx *f = *state;
    recsys_eval_dataset *ds = NULL;
    assert_int_equal(recsys_eval_dataset_open(f->csv, "csv", RECSYS_EVAL_VARIANT_ALL, f->items,
                                              NULL, &ds),
                     RECSYS_OK);
    char *text = NULL;
    assert_int_equal(recsys_eval_dataset_info_json(ds, &text), RECSYS_OK);
    json_t *info = parse(text);
    assert_int_equal((int)num(info, "users"), 6);
    assert_int_equal((int)num(info, "items"), 12);
    assert_int_equal((int)num(info, "train"), 48);
    assert_int_equal((int)num(info, "test"), 12);
    assert_int_equal((int)num(info, "fit"), 42);
    assert_int_equal((int)num(info, "validation"), 6);
    assert_true(json_is_true(json_object_get(info, "metadata")));
    json_decref(info);
    assert_int_equal(recsys_eval_dataset_item_count(ds), 12);
    assert_string_equal(recsys_eval_dataset_item_id(ds, 0), "0000000");
    assert_null(recsys_eval_dataset_item_id(ds, 12));
    assert_int_equal(recsys_eval_dataset_user_count(ds, RECSYS_EVAL_TEST), 6);
    assert_int_equal(recsys_eval_dataset_user_count(ds, RECSYS_EVAL_VALIDATION), 6);
    assert_int_equal(recsys_eval_dataset_user_count(ds, 99), 0);
    assert_string_equal(recsys_eval_dataset_user_id(ds, RECSYS_EVAL_TEST, 5), "u0000005");
    assert_null(recsys_eval_dataset_user_id(ds, RECSYS_EVAL_TEST, 6));
    assert_null(recsys_eval_dataset_user_id(ds, 0, 0));
    recsys_eval_dataset_free(ds);
    recsys_eval_dataset_free(NULL);
}

static void test_metrics_of_lists(void **state)
{
    fx *f = *state;
    recsys_eval_dataset *ds = NULL;
    assert_int_equal(recsys_eval_dataset_open(f->csv, "csv", RECSYS_EVAL_VARIANT_ALL, f->items,
                                              NULL, &ds),
                     RECSYS_OK);
    recsys_eval_run *run = NULL;
    assert_int_equal(recsys_eval_run_new(ds, RECSYS_EVAL_TEST, &run), RECSYS_OK);
    for (int u = 0; u < 6; u++) { /* the user's two test items, first */
        const char *list[2] = { item_key(ds, (u + 8) % 12), item_key(ds, (u + 9) % 12) };
        assert_int_equal(recsys_eval_run_add(run, recsys_eval_dataset_user_id(ds, RECSYS_EVAL_TEST, u),
                                             list, 2),
                         RECSYS_OK);
    }
    char *text = NULL;
    assert_int_equal(recsys_eval_run_metrics_json(run, &text), RECSYS_OK);
    json_t *m = parse(text);
    assert_string_equal(json_string_value(json_object_get(m, "part")), "test");
    assert_int_equal((int)num(m, "users"), 6);
    assert_true(num(m, "ndcg@10") == 1.0);
    assert_true(num(m, "recall@20") == 1.0);
    assert_true(num(m, "map@10") == 1.0);
    assert_true(fabs(num(m, "precision@10") - 0.2) < 1e-12);
    assert_int_equal((int)num(m, "padded"), 6);
    assert_int_equal((int)num(m, "violations"), 0);
    assert_int_equal((int)num(m, "missing"), 0);
    assert_non_null(json_object_get(json_object_get(m, "mostpop"), "ndcg@10"));
    assert_true(json_is_number(json_object_get(m, "calibration_kl@10")));
    json_decref(m);

    /* user 0 again (replacing): a train item, an unknown id, a repeat, then the test items */
    const char *bad[5] = { item_key(ds, 0), "nope", item_key(ds, 8), item_key(ds, 8),
                           item_key(ds, 9) };
    const char *u0 = recsys_eval_dataset_user_id(ds, RECSYS_EVAL_TEST, 0);
    assert_int_equal(recsys_eval_run_add(run, u0, bad, 5), RECSYS_OK);
    assert_int_equal(recsys_eval_run_metrics_json(run, &text), RECSYS_OK);
    m = parse(text);
    assert_int_equal((int)num(m, "violations"), 3);
    assert_true(num(m, "ndcg@10") == 1.0); /* dropped before scoring */
    json_decref(m);
    /* an empty list for user 1: completed with the ties, no longer perfect */
    assert_int_equal(recsys_eval_run_add(run, recsys_eval_dataset_user_id(ds, RECSYS_EVAL_TEST, 1),
                                         NULL, 0),
                     RECSYS_OK);
    assert_int_equal(recsys_eval_run_metrics_json(run, &text), RECSYS_OK);
    m = parse(text);
    assert_true(num(m, "ndcg@10") < 1.0);
    json_decref(m);

    /* errors: nothing added */
    assert_int_equal(recsys_eval_run_add(run, "u9999999", bad, 1), RECSYS_E_NOT_FOUND);
    assert_non_null(strstr(recsys_last_error(), "u9999999"));
    assert_int_equal(recsys_eval_run_add(run, u0, NULL, 2), RECSYS_E_INVALID_ARG);
    const char *with_null[2] = { "x", NULL };
    assert_int_equal(recsys_eval_run_add(run, u0, with_null, 2), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_eval_run_add(NULL, u0, bad, 1), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_eval_run_add_result(run, u0, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_eval_run_metrics_json(run, NULL), RECSYS_E_INVALID_ARG);
    recsys_eval_run_free(run);

    recsys_eval_run *vr = NULL;
    assert_int_equal(recsys_eval_run_new(ds, RECSYS_EVAL_VALIDATION, &vr), RECSYS_OK);
    assert_int_equal(recsys_eval_run_metrics_json(vr, &text), RECSYS_OK);
    m = parse(text);
    assert_int_equal((int)num(m, "missing"), 6);
    assert_string_equal(json_string_value(json_object_get(m, "part")), "validation");
    json_decref(m);
    recsys_eval_run_free(vr);
    assert_int_equal(recsys_eval_run_new(ds, RECSYS_EVAL_TRAIN, &vr), RECSYS_E_INVALID_ARG);
    assert_null(vr);
    recsys_eval_run_free(NULL);
    recsys_eval_dataset_free(ds);
}

static void test_engine_round_trip(void **state)
{
    fx *f = *state;
    recsys_eval_dataset *ds = NULL;
    assert_int_equal(recsys_eval_dataset_open(f->csv, "csv", RECSYS_EVAL_VARIANT_ALL, f->items,
                                              NULL, &ds),
                     RECSYS_OK);
    recsys_engine *e = NULL;
    assert_int_equal(recsys_engine_new(NULL, &e), RECSYS_OK);
    assert_int_equal(recsys_eval_dataset_configure(ds, e, 99), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_eval_dataset_configure(ds, e, RECSYS_EVAL_TRAIN), RECSYS_OK);
    int64_t v = 0;
    assert_int_equal(recsys_engine_get_int(e, RECSYS_OPT_NOW, &v), RECSYS_OK);
    assert_int_equal(v, 1000 + 100 * 5 + 7 + 1); /* the latest train timestamp + 1 */
    assert_int_equal(recsys_engine_get_int(e, RECSYS_OPT_CANDIDATES_PER_SOURCE, &v), RECSYS_OK);
    assert_int_equal(v, 12);
    assert_int_equal(recsys_eval_dataset_feed(ds, e, RECSYS_EVAL_TRAIN, 0x10), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_eval_dataset_feed(ds, e, 0, 0), RECSYS_E_INVALID_ARG);
    /* events before items: the engine refuses an unknown item, named */
    assert_int_equal(recsys_eval_dataset_feed(ds, e, RECSYS_EVAL_TRAIN, 0), RECSYS_E_NOT_FOUND);
    assert_int_equal(recsys_eval_dataset_feed(ds, e, RECSYS_EVAL_TRAIN, RECSYS_EVAL_FEED_METADATA),
                     RECSYS_OK);
    uint64_t n = 0;
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_EVENTS, &n), RECSYS_OK);
    assert_int_equal(n, 48);
    char *json = NULL;
    assert_int_equal(recsys_catalog_get_json(e, item_key(ds, 3), &json), RECSYS_OK);
    assert_non_null(strstr(json, "Item 3"));
    recsys_string_free(json);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    recsys_eval_run *run = NULL;
    assert_int_equal(recsys_eval_run_new(ds, RECSYS_EVAL_TEST, &run), RECSYS_OK);
    for (size_t u = 0; u < recsys_eval_dataset_user_count(ds, RECSYS_EVAL_TEST); u++) {
        const char *uid = recsys_eval_dataset_user_id(ds, RECSYS_EVAL_TEST, u);
        recsys_request *rq = NULL;
        recsys_result *res = NULL;
        assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
        assert_int_equal(recsys_request_set_user(rq, uid), RECSYS_OK);
        assert_int_equal(recsys_recommend(e, rq, &res), RECSYS_OK);
        assert_int_equal(recsys_eval_run_add_result(run, uid, res), RECSYS_OK);
        recsys_result_free(res);
        recsys_request_free(rq);
    }
    char *text = NULL;
    assert_int_equal(recsys_eval_run_metrics_json(run, &text), RECSYS_OK);
    json_t *m = parse(text);
    assert_int_equal((int)num(m, "violations"), 0); /* the seen filter kept train items out */
    assert_int_equal((int)num(m, "missing"), 0);
    json_decref(m);
    recsys_eval_run_free(run);
    recsys_engine_free(e);
    recsys_eval_dataset_free(ds);
}

static void test_open_errors(void **state)
{
    fx *f = *state;
    recsys_eval_dataset *ds = (recsys_eval_dataset *)1;
    assert_int_equal(recsys_eval_dataset_open(f->csv, "parquet", 0, NULL, NULL, &ds),
                     RECSYS_E_INVALID_ARG);
    assert_null(ds);
    assert_non_null(strstr(recsys_last_error(), "parquet"));
    assert_int_equal(recsys_eval_dataset_open(f->csv, "csv", 7, NULL, NULL, &ds),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_eval_dataset_open(f->dir, "ml-100k", 0, f->items, NULL, &ds),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_eval_dataset_open(NULL, "csv", 0, NULL, NULL, &ds), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_eval_dataset_open(f->csv, "csv", 0, NULL, NULL, NULL),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_eval_dataset_open(f->dir, "ml-100k", 0, NULL, NULL, &ds), RECSYS_E_IO);
    assert_null(ds);
    /* GE4 needs values; a csv without them cannot be read so */
    assert_int_equal(recsys_eval_dataset_open(f->csv, "csv", RECSYS_EVAL_VARIANT_GE4, NULL, NULL,
                                              &ds),
                     RECSYS_E_INVALID_ARG);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/bad.csv", f->dir);
    FILE *out = fopen(bad, "w");
    fprintf(out, "user_id,item_id,timestamp\nu1,i1,1\nu1,,2\n");
    fclose(out);
    assert_int_equal(recsys_eval_dataset_open(bad, "csv", 0, NULL, NULL, &ds), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "bad.csv:3"));
    /* an explicit items file that cannot be read is an error */
    assert_int_equal(recsys_eval_dataset_open(f->csv, "csv", 0, bad, NULL, &ds) != RECSYS_OK, 1);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/none.csv", f->dir);
    assert_int_equal(recsys_eval_dataset_open(f->csv, "csv", 0, missing, NULL, &ds), RECSYS_E_IO);
    char *text = NULL;
    assert_int_equal(recsys_eval_dataset_info_json(NULL, &text), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_eval_dataset_configure(NULL, NULL, 1), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_eval_dataset_feed(NULL, NULL, 1, 0), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_eval_dataset_item_count(NULL), 0);
}

/* Fails allocation k = 0, 1, ... of open, run, add and metrics until the whole sequence
 * succeeds: each failure is RECSYS_E_NOMEM with a message, and nothing leaks. */
static void test_out_of_memory(void **state)
{
    fx *f = *state;
    tk_alloc a;
    recsys_allocator rec;
    tk_alloc_init(&a, &rec);
    bool done = false;
    for (long k = 0; !done && k < 200000; k++) {
        a.count = 0;
        a.fail_at = k;
        recsys_eval_dataset *ds = NULL;
        recsys_eval_run *run = NULL;
        char *text = NULL;
        recsys_status st = recsys_eval_dataset_open(f->csv, "csv", 0, f->items, &rec, &ds);
        if (st == RECSYS_OK)
            st = recsys_eval_run_new(ds, RECSYS_EVAL_TEST, &run);
        const char *list[2] = { "0000001", "0000002" };
        if (st == RECSYS_OK)
            st = recsys_eval_run_add(run, "u0000003", list, 2);
        if (st == RECSYS_OK)
            st = recsys_eval_run_metrics_json(run, &text);
        a.fail_at = -1;
        if (st == RECSYS_OK) {
            done = true;
            json_decref(parse(text));
        } else {
            assert_int_equal(st, RECSYS_E_NOMEM);
            assert_true(strlen(recsys_last_error()) > 0);
        }
        recsys_eval_run_free(run);
        recsys_eval_dataset_free(ds);
        assert_int_equal(a.live, 0);
    }
    assert_true(done);
}

/* ------------------------------------------------------------------ ml-latest-small */

/* Writes an ml-latest-small folder under the fixture: 4 users x 6 ratings (movies 1..9), and
 * movies.csv when with_movies. Returns the folder in dir. */
static void write_mls(const fx *f, char *dir, size_t cap, bool with_movies)
{
    snprintf(dir, cap, "%s/mls%d", f->dir, with_movies);
    assert_int_equal(mkdir(dir, 0700), 0);
    char path[700];
    snprintf(path, sizeof path, "%s/ratings.csv", dir);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fprintf(out, "userId,movieId,rating,timestamp\n");
    for (int u = 1; u <= 4; u++)
        for (int k = 0; k < 6; k++)
            fprintf(out, "%d,%d,%.1f,%d\n", u, 1 + (u + k) % 9, k == 0 ? 3.5 : 4.0,
                    964980000 + 10 * u + k);
    fclose(out);
    if (!with_movies)
        return;
    snprintf(path, sizeof path, "%s/movies.csv", dir);
    out = fopen(path, "w");
    assert_non_null(out);
    fprintf(out, "movieId,title,genres\n");
    for (int i = 1; i <= 9; i++)
        fprintf(out, "%d,Movie %d (1995),%s\n", i, i, i % 2 ? "Comedy|Drama" : "Action");
    fclose(out);
}

/* The ml-latest-small folder format through the public API (it has no genre file: only
 * ml-100k's u.genre is read): counts, metadata from movies.csv, no metadata (and no error)
 * without it, and the out-of-memory loop over open with nothing leaked. */
static void test_ml_latest_small_folder(void **state)
{
    fx *f = *state;
    char dir[600], bare[600];
    write_mls(f, dir, sizeof dir, true);
    write_mls(f, bare, sizeof bare, false);
    recsys_eval_dataset *ds = NULL;
    char *text = NULL;
    assert_int_equal(recsys_eval_dataset_open(dir, "ml-latest-small", RECSYS_EVAL_VARIANT_ALL,
                                              NULL, NULL, &ds),
                     RECSYS_OK);
    assert_int_equal(recsys_eval_dataset_user_count(ds, RECSYS_EVAL_TEST), 4);
    assert_int_equal(recsys_eval_dataset_info_json(ds, &text), RECSYS_OK);
    json_t *info = parse(text);
    assert_string_equal(json_string_value(json_object_get(info, "format")), "ml-latest-small");
    assert_int_equal(json_integer_value(json_object_get(info, "users")), 4);
    assert_int_equal(json_integer_value(json_object_get(info, "interactions")), 24);
    assert_true(json_is_true(json_object_get(info, "metadata")));
    json_decref(info);
    recsys_eval_dataset_free(ds);
    /* GE4 drops each user's 3.5 */
    assert_int_equal(recsys_eval_dataset_open(dir, "ml-latest-small", RECSYS_EVAL_VARIANT_GE4,
                                              NULL, NULL, &ds),
                     RECSYS_OK);
    assert_int_equal(recsys_eval_dataset_info_json(ds, &text), RECSYS_OK);
    info = parse(text);
    assert_int_equal(json_integer_value(json_object_get(info, "interactions")), 20);
    json_decref(info);
    recsys_eval_dataset_free(ds);
    /* without movies.csv: read, with no metadata */
    assert_int_equal(recsys_eval_dataset_open(bare, "ml-latest-small", 0, NULL, NULL, &ds),
                     RECSYS_OK);
    assert_int_equal(recsys_eval_dataset_info_json(ds, &text), RECSYS_OK);
    info = parse(text);
    assert_true(json_is_false(json_object_get(info, "metadata")));
    json_decref(info);
    recsys_eval_dataset_free(ds);

    tk_alloc a;
    recsys_allocator rec;
    tk_alloc_init(&a, &rec);
    bool done = false;
    for (long k = 0; !done && k < 100000; k++) {
        a.count = 0;
        a.fail_at = k;
        ds = NULL;
        recsys_status st = recsys_eval_dataset_open(dir, "ml-latest-small", 0, NULL, &rec, &ds);
        a.fail_at = -1;
        if (st == RECSYS_OK) {
            done = true;
            assert_non_null(ds);
        } else {
            assert_int_equal(st, RECSYS_E_NOMEM);
            assert_null(ds);
            assert_true(strlen(recsys_last_error()) > 0);
        }
        recsys_eval_dataset_free(ds);
        assert_int_equal(a.live, 0);
    }
    assert_true(done);
}

/* ------------------------------------------------------------------ ml-100k */

typedef struct ref_run {
    recsys_engine *e;
    const recsys_eval_dataset *ds;
    char **keys; /* the API's item ids (sorted) */
    size_t nitems;
    size_t padded;
    recsys__eval_violations viol;
} ref_run;

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* recsys-bench eval's engine_rank: the engine's answer, then recsys__eval_final_list */
static recsys_status ref_rank(void *ctx, uint32_t user, const uint8_t *known, uint32_t *list,
                              size_t *n)
{
    ref_run *r = ctx;
    char uid[32];
    snprintf(uid, sizeof uid, "u%07u", user);
    recsys_request *rq = NULL;
    recsys_result *res = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_user(rq, uid), RECSYS_OK);
    assert_int_equal(recsys_recommend(r->e, rq, &res), RECSYS_OK);
    uint32_t raw[64];
    size_t nraw = 0;
    for (size_t i = 0; i < recsys_result_count(res) && nraw < 64; i++) {
        const char *id = recsys_result_item_id(res, i);
        char **hit = bsearch(&id, r->keys, r->nitems, sizeof *r->keys, cmp_key);
        raw[nraw++] = hit ? (uint32_t)(hit - r->keys) : UINT32_MAX;
    }
    r->padded += recsys__eval_final_list(raw, nraw, r->nitems, known, list, n, &r->viol);
    recsys_result_free(res);
    recsys_request_free(rq);
    return RECSYS_OK;
}

static void test_ml100k_equals_bench_code_path(void **state)
{
    (void)state;
    const char *data = getenv("RECSYS_DATA_DIR");
    char dir[1024], udata[1100];
    snprintf(dir, sizeof dir, "%s/ml-100k", data ? data : "");
    snprintf(udata, sizeof udata, "%s/u.data", dir);
    FILE *probe = data ? fopen(udata, "r") : NULL;
    if (!probe)
        skip();
    fclose(probe);
    recsys_eval_dataset *ds = NULL;
    assert_int_equal(recsys_eval_dataset_open(dir, "ml-100k", 0, NULL, NULL, &ds), RECSYS_OK);
    RECSYS_INIT(recsys_engine_opts, opts, .seed = 2025);
    recsys_engine *e = NULL;
    assert_int_equal(recsys_engine_new(&opts, &e), RECSYS_OK);
    assert_int_equal(recsys_eval_dataset_configure(ds, e, RECSYS_EVAL_TRAIN), RECSYS_OK);
    assert_int_equal(recsys_eval_dataset_feed(ds, e, RECSYS_EVAL_TRAIN, RECSYS_EVAL_FEED_ITEMS),
                     RECSYS_OK);
    const char *srcs[] = { "content", "popular", "trending", "itemknn", "rp3beta", "ease",
                           "session", "vector", "search", "campaign" };
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        recsys_status st = recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, srcs[i], 0);
        assert_true(st == RECSYS_OK || st == RECSYS_E_NOT_FOUND);
    }
    assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, "ials", 1), RECSYS_OK);
    assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_RANKER, "blend", 0), RECSYS_OK);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);

    /* the API: the engine's lists for every test user, in one batch call */
    size_t nu = recsys_eval_dataset_user_count(ds, RECSYS_EVAL_TEST);
    assert_int_equal(nu, 943);
    recsys_request **reqs = calloc(nu, sizeof *reqs);
    recsys_result **res = calloc(nu, sizeof *res);
    for (size_t u = 0; u < nu; u++) {
        assert_int_equal(recsys_request_new(&reqs[u]), RECSYS_OK);
        assert_int_equal(recsys_request_set_user(reqs[u],
                                                 recsys_eval_dataset_user_id(ds, RECSYS_EVAL_TEST, u)),
                         RECSYS_OK);
    }
    assert_int_equal(recsys_recommend_batch(e, (const recsys_request *const *)reqs, nu, 0, res,
                                            NULL),
                     RECSYS_OK);
    recsys_eval_run *run = NULL;
    assert_int_equal(recsys_eval_run_new(ds, RECSYS_EVAL_TEST, &run), RECSYS_OK);
    for (size_t u = 0; u < nu; u++) {
        assert_int_equal(recsys_eval_run_add_result(run, recsys_eval_dataset_user_id(ds, RECSYS_EVAL_TEST, u),
                                                    res[u]),
                         RECSYS_OK);
        recsys_result_free(res[u]);
        recsys_request_free(reqs[u]);
    }
    free(res);
    free(reqs);
    char *text = NULL;
    assert_int_equal(recsys_eval_run_metrics_json(run, &text), RECSYS_OK);
    json_t *m = parse(text);

    /* bench/eval.c's path: lib/eval reads and splits, recsys__eval_run ranks with the engine */
    recsys__eval_data d;
    recsys__eval_part train, test;
    assert_int_equal(recsys__eval_read(&recsys__mem_default, udata, RECSYS__EVAL_ML100K, 0, &d),
                     RECSYS_OK);
    assert_int_equal(recsys__eval_split(&recsys__mem_default, &d.all, &train, &test), RECSYS_OK);
    ref_run r = { .e = e, .ds = ds, .nitems = d.items.n };
    r.keys = calloc(d.items.n, sizeof *r.keys);
    for (size_t i = 0; i < d.items.n; i++)
        r.keys[i] = (char *)recsys_eval_dataset_item_id(ds, i);
    recsys__eval_metrics ref;
    assert_int_equal(recsys__eval_run(&recsys__mem_default, d.items.n, &train, &test, ref_rank, &r,
                                      NULL, &ref),
                     RECSYS_OK);
    assert_int_equal(ref.users, (size_t)num(m, "users"));
    assert_true(num(m, "ndcg@10") == ref.ndcg[0]); /* exactly: the JSON reads back */
    assert_true(num(m, "ndcg@20") == ref.ndcg[1]);
    assert_true(num(m, "recall@10") == ref.recall[0]);
    assert_true(num(m, "map@20") == ref.map[1]);
    assert_true(num(m, "coverage@10") == ref.coverage[0]);
    assert_int_equal((size_t)num(m, "padded"), r.padded);
    assert_int_equal((size_t)num(m, "violations"), r.viol.known + r.viol.repeated + r.viol.unknown);
    assert_true(ref.ndcg[0] > 0.15); /* iALS on ml-100k, well above MostPopular's 0.111 */
    print_message("ml-100k ials: NDCG@10 %.10f (API) = %.10f (recsys__eval_run)\n",
                  num(m, "ndcg@10"), ref.ndcg[0]);
    json_decref(m);
    free(r.keys);
    recsys__eval_part_free(&recsys__mem_default, &train);
    recsys__eval_part_free(&recsys__mem_default, &test);
    recsys__eval_data_free(&d);
    recsys_eval_run_free(run);
    recsys_engine_free(e);
    recsys_eval_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_split_and_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_of_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ml_latest_small_folder, setup, teardown),
        cmocka_unit_test(test_ml100k_equals_bench_code_path),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("eval/api", tests, NULL, NULL);
}
