/* test_vector.c - the faiss-backed "vector" source: exact search equal to a brute-force
 * inner-product ranking, IVF recall against brute force, an invalid factory string, the
 * source's exclusions (request, removed, seen, anchor), cold users, iALS factors as vectors,
 * and the C++ bridge's error path (statuses, never exceptions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>

#include "retrieve/ials.h"
#include "retrieve/vector.h"
#include "support/cf_fixture.h"

static const int64_t now = FIXTURE_NOW;

static uint64_t rng_state;
static double urand(void) /* xorshift64, [0, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* n items "i0".. with "default" embeddings of dim: nclusters > 0 draws each around one of
 * nclusters random centres (spread 0.1), else uniform in [-1, 1]. Returns the vectors
 * (n x dim, caller frees). */
static float *add_embedded(fixture *f, int n, size_t dim, int nclusters, uint64_t seed)
{
    rng_state = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
    float *v = malloc((size_t)n * dim * sizeof *v);
    float *ctr = nclusters > 0 ? malloc((size_t)nclusters * dim * sizeof *ctr) : NULL;
    assert_non_null(v);
    for (size_t j = 0; ctr && j < (size_t)nclusters * dim; j++)
        ctr[j] = (float)(2 * urand() - 1);
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "i%d", i);
        uint32_t idx = fixture_add_item(f, &(fixture_item_def){ .id = id, .title = id });
        assert_int_equal(idx, (uint32_t)i);
        const float *c = ctr ? ctr + (size_t)(i % nclusters) * dim : NULL;
        for (size_t d = 0; d < dim; d++)
            v[(size_t)i * dim + d] =
                    c ? c[d] + (float)(0.1 * (2 * urand() - 1)) : (float)(2 * urand() - 1);
        assert_int_equal(recsys__item_set_embedding(&f->mem, f->model.catalog.items[idx],
                                                    "default", v + (size_t)i * dim, dim),
                         RECSYS_OK);
    }
    free(ctr);
    return v;
}

/* Runs the vector builder with string options strs (NULL = the fixture's) and this
 * fixture's derived set as ctx->built; returns the status and stores the state. */
static recsys_status build_vector(fixture *f, const char *const *strs)
{
    cf_drop(f, &recsys__vector_builder);
    recsys__build_ctx c = cf_ctx(f, NULL);
    c.str_opt = strs ? strs : (const char *const *)f->opts.str;
    c.built = f->derived.state;
    void *st = (void *)0x1;
    recsys_status rc = recsys__vector_builder.build(&c, &st);
    if (rc != RECSYS_OK) {
        assert_null(st);
        return rc;
    }
    f->derived.state[RECSYS__DERIVED_VECTOR] = st;
    f->derived.builder[RECSYS__DERIVED_VECTOR] = st ? &recsys__vector_builder : NULL;
    f->derived.nitems = f->model.catalog.ids.n;
    return RECSYS_OK;
}

static const void *vstate(fixture *f)
{
    return f->derived.state[RECSYS__DERIVED_VECTOR];
}

typedef struct ranked {
    uint32_t item;
    double score;
} ranked;

static int by_score(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

/* Brute force: items (other than the skip list) ranked by v . e_i, ties by index; the best
 * k into out. Returns how many. */
static size_t brute(const float *vecs, size_t n, size_t dim, const float *q,
                    const uint32_t *skip, size_t nskip, size_t k, ranked *out)
{
    ranked *all = malloc(n * sizeof *all);
    assert_non_null(all);
    size_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool skipped = false;
        for (size_t s = 0; s < nskip; s++)
            skipped |= skip[s] == i;
        if (skipped)
            continue;
        double acc = 0;
        for (size_t d = 0; d < dim; d++)
            acc += (double)q[d] * vecs[i * dim + d];
        all[m++] = (ranked){ i, acc };
    }
    qsort(all, m, sizeof *all, by_score);
    size_t r = m < k ? m : k;
    memcpy(out, all, r * sizeof *out);
    free(all);
    return r;
}

static void mean_of(const float *vecs, size_t dim, const uint32_t *items, size_t n, float *q)
{
    for (size_t d = 0; d < dim; d++) {
        float acc = 0;
        for (size_t j = 0; j < n; j++)
            acc += vecs[items[j] * dim + d];
        q[d] = acc / (float)n;
    }
}

/* ------------------------------------------------------------------ exact search */

static void exact_matches_brute_force(void **state)
{
    (void)state;
    enum { N = 500, DIM = 24, LIMIT = 20 };
    fixture *f = fixture_new();
    float *vecs = add_embedded(f, N, DIM, 0, 7);
    cf_events(f, "u", "i3,i77,i400", RECSYS_EVENT_VIEW, now - 100);
    assert_int_equal(build_vector(f, NULL), RECSYS_OK);
    recsys__vector_info info;
    assert_int_equal(recsys__vector_info_get(vstate(f), &info), RECSYS_OK);
    assert_int_equal(info.n, N);
    assert_int_equal(info.dim, DIM);
    assert_false(info.ials);
    assert_string_equal(info.index, "Flat");

    uint32_t pos[] = { 3, 77, 400 };
    float q[DIM];
    mean_of(vecs, DIM, pos, 3, q);
    ranked want[LIMIT];
    size_t nw = brute(vecs, N, DIM, q, pos, 3, LIMIT, want);
    assert_int_equal(nw, LIMIT);

    recsys_candidates c;
    cf_run(f, recsys__source_vector, fixture_query(f, "u", NULL, LIMIT), &c);
    assert_int_equal(c.n, LIMIT);
    for (size_t j = 0; j < LIMIT; j++) {
        assert_int_equal(c.v[j].item, want[j].item);
        assert_float_equal(c.v[j].score, want[j].score, 1e-4);
    }
    recsys__cands_free(&c);

    /* the raw search of the mean vector finds the same items (positives included) */
    uint32_t items[LIMIT];
    float scores[LIMIT];
    size_t n = 0;
    assert_int_equal(recsys__vector_search(vstate(f), &f->mem, q, DIM, LIMIT, items, scores, &n),
                     RECSYS_OK);
    assert_int_equal(n, LIMIT);
    ranked all[LIMIT];
    brute(vecs, N, DIM, q, NULL, 0, LIMIT, all);
    for (size_t j = 0; j < LIMIT; j++)
        assert_int_equal(items[j], all[j].item);
    free(vecs);
    cf_free(f);
}

/* Items without an embedding are left out; mixed dimensions build nothing. */
static void embeddings_partial_and_mixed(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    float *vecs = add_embedded(f, 10, 4, 0, 3);
    fixture_add_item(f, &(fixture_item_def){ .id = "plain", .title = "plain" });
    assert_int_equal(build_vector(f, NULL), RECSYS_OK);
    recsys__vector_info info;
    assert_int_equal(recsys__vector_info_get(vstate(f), &info), RECSYS_OK);
    assert_int_equal(info.n, 10);
    uint32_t idx = fixture_add_item(f, &(fixture_item_def){ .id = "odd", .title = "odd" });
    const float five[5] = { 1, 2, 3, 4, 5 };
    assert_int_equal(recsys__item_set_embedding(&f->mem, f->model.catalog.items[idx], "default",
                                                five, 5),
                     RECSYS_OK);
    assert_int_equal(build_vector(f, NULL), RECSYS_OK);
    assert_null(vstate(f));
    free(vecs);
    cf_free(f);
}

/* ------------------------------------------------------------------ IVF */

static void ivf_recall_against_brute_force(void **state)
{
    (void)state;
    enum { N = 4000, DIM = 32, K = 10, USERS = 40 };
    fixture *f = fixture_new();
    float *vecs = add_embedded(f, N, DIM, 40, 11);
    char uid[16], iid[16];
    uint32_t seed_item[USERS];
    for (int u = 0; u < USERS; u++) {
        seed_item[u] = (uint32_t)((u * 997 + 13) % N);
        snprintf(uid, sizeof uid, "u%d", u);
        snprintf(iid, sizeof iid, "i%u", seed_item[u]);
        fixture_event(f, uid, iid, RECSYS_EVENT_VIEW, 0, now - 100);
    }
    fixture_set_opt(f, RECSYS_OPT_VECTOR_EXACT_MAX, 1000);
    fixture_set_opt(f, RECSYS_OPT_VECTOR_NPROBE, 32);
    assert_int_equal(build_vector(f, NULL), RECSYS_OK);
    recsys__vector_info info;
    assert_int_equal(recsys__vector_info_get(vstate(f), &info), RECSYS_OK);
    assert_int_equal(strncmp(info.index, "IVF", 3), 0);
    assert_int_equal(info.n, N);
    size_t hits = 0;
    for (int u = 0; u < USERS; u++) {
        snprintf(uid, sizeof uid, "u%d", u);
        float q[DIM];
        mean_of(vecs, DIM, &seed_item[u], 1, q);
        ranked want[K];
        brute(vecs, N, DIM, q, &seed_item[u], 1, K, want);
        recsys_candidates c;
        cf_run(f, recsys__source_vector, fixture_query(f, uid, NULL, K), &c);
        assert_int_equal(c.n, K);
        for (size_t j = 0; j < c.n; j++)
            for (size_t w = 0; w < K; w++)
                hits += c.v[j].item == want[w].item;
        recsys__cands_free(&c);
    }
    double recall = (double)hits / (USERS * K);
    print_message("IVF %s recall@10 = %.3f\n", info.index, recall);
    assert_true(recall >= 0.95);
    free(vecs);
    cf_free(f);
}

/* ------------------------------------------------------------------ factory strings */

static void factory_string_invalid_and_valid(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    float *vecs = add_embedded(f, 50, 8, 0, 5);
    const char *strs[RECSYS_OPT_SLOTS] = { 0 };
    strs[recsys__opt_slot(RECSYS_OPT_VECTOR_INDEX)] = "NoSuchIndex42";
    assert_int_equal(build_vector(f, strs), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "NoSuchIndex42"));
    print_message("invalid factory: %s\n", recsys_last_error());
    assert_null(vstate(f));
    /* a valid string is used as given, whether or not it takes explicit ids */
    const char *good[] = { "IDMap,Flat", "HNSW8", "IVF1,Flat", "IDMap,IVF1,Flat" };
    cf_events(f, "u", "i1", RECSYS_EVENT_VIEW, now - 100);
    for (size_t g = 0; g < sizeof good / sizeof *good; g++) {
        strs[recsys__opt_slot(RECSYS_OPT_VECTOR_INDEX)] = good[g];
        recsys_status rc = build_vector(f, strs);
        if (rc != RECSYS_OK)
            fail_msg("%s: %s", good[g], recsys_last_error());
        recsys__vector_info info;
        assert_int_equal(recsys__vector_info_get(vstate(f), &info), RECSYS_OK);
        assert_string_equal(info.index, good[g]);
        recsys_candidates c;
        cf_run(f, recsys__source_vector, fixture_query(f, "u", NULL, 5), &c);
        assert_int_equal(c.n, 5);
        assert_int_equal(fixture_cand_pos(f, &c, "i1"), SIZE_MAX);
        recsys__cands_free(&c);
    }
    free(vecs);
    cf_free(f);
}

/* ------------------------------------------------------------------ exclusions */

static void exclusions_seen_removed_anchor(void **state)
{
    (void)state;
    enum { N = 200, DIM = 8 };
    fixture *f = fixture_new();
    float *vecs = add_embedded(f, N, DIM, 0, 9);
    cf_events(f, "u", "i10,i20", RECSYS_EVENT_VIEW, now - 100);
    assert_int_equal(build_vector(f, NULL), RECSYS_OK);
    uint32_t pos[] = { 10, 20 };
    float q[DIM];
    mean_of(vecs, DIM, pos, 2, q);
    ranked want[8];
    brute(vecs, N, DIM, q, pos, 2, 8, want);

    /* seen items come back when filter.seen is off (they score well against their mean) */
    fixture_set_opt(f, RECSYS_OPT_FILTER_SEEN, 0);
    recsys_candidates c;
    cf_run(f, recsys__source_vector, fixture_query(f, "u", NULL, N), &c);
    assert_int_equal(c.n, N);
    assert_int_not_equal(fixture_cand_pos(f, &c, "i10"), SIZE_MAX);
    recsys__cands_free(&c);
    fixture_set_opt(f, RECSYS_OPT_FILTER_SEEN, 1);
    cf_run(f, recsys__source_vector, fixture_query(f, "u", NULL, N), &c);
    assert_int_equal(c.n, N - 2);
    assert_int_equal(fixture_cand_pos(f, &c, "i10"), SIZE_MAX);
    assert_int_equal(fixture_cand_pos(f, &c, "i20"), SIZE_MAX);
    recsys__cands_free(&c);

    /* the best is excluded by the request, the second removed from the catalog */
    const char *best = fixture_id(f, want[0].item);
    char second[16];
    snprintf(second, sizeof second, "%s", fixture_id(f, want[1].item));
    fixture_query(f, "u", NULL, 3);
    fixture_exclude(f, best);
    fixture_remove(f, second);
    recsys_query *qq = fixture_query(f, "u", NULL, 3);
    cf_run(f, recsys__source_vector, qq, &c);
    assert_int_equal(c.n, 3);
    for (size_t j = 0; j < 3; j++)
        assert_int_equal(c.v[j].item, want[j + 2].item);
    recsys__cands_free(&c);

    /* "more like this": the anchor's own vector, the anchor not proposed */
    qq = fixture_query(f, NULL, NULL, 5);
    qq->anchor = 42;
    cf_run(f, recsys__source_vector, qq, &c);
    assert_int_equal(c.n, 5);
    ranked near[8];
    uint32_t skip[] = { 42, want[0].item, want[1].item };
    brute(vecs, N, DIM, vecs + 42 * DIM, skip, 3, 5, near);
    for (size_t j = 0; j < 5; j++)
        assert_int_equal(c.v[j].item, near[j].item);
    recsys__cands_free(&c);
    free(vecs);
    cf_free(f);
}

static void cold_users_and_no_state(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    float *vecs = add_embedded(f, 30, 4, 0, 1);
    fixture_add_user(f, "idle", NULL, -1, NULL, NULL, NULL, NULL);
    recsys_candidates c;
    /* no state yet */
    cf_events(f, "u", "i1", RECSYS_EVENT_VIEW, now - 100);
    cf_run(f, recsys__source_vector, fixture_query(f, "u", NULL, 5), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    assert_int_equal(build_vector(f, NULL), RECSYS_OK);
    const char *users[] = { NULL, "nobody", "idle" };
    for (size_t u = 0; u < 3; u++) {
        cf_run(f, recsys__source_vector, fixture_query(f, users[u], NULL, 5), &c);
        assert_int_equal(c.n, 0);
        recsys__cands_free(&c);
    }
    /* limit 0 */
    cf_run(f, recsys__source_vector, fixture_query(f, "u", NULL, 0), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    free(vecs);
    cf_free(f);
}

/* A catalog without embeddings and no iALS state builds nothing. */
static void nothing_to_index(void **state)
{
    (void)state;
    fixture *f = cf_new("a,b,c");
    assert_int_equal(build_vector(f, NULL), RECSYS_OK);
    assert_null(vstate(f));
    cf_free(f);
}

/* ------------------------------------------------------------------ iALS factors */

static void ials_factors_match_the_ials_source(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    cf_add_items(f, 120);
    cf_random_views(f, 150, 8, 3);
    fixture_set_opt(f, RECSYS_OPT_IALS_FACTORS, 8);
    fixture_set_opt(f, RECSYS_OPT_TRAIN_THREADS, 1);
    assert_non_null(cf_build(f, &recsys__ials_builder));
    assert_int_equal(build_vector(f, NULL), RECSYS_OK);
    recsys__vector_info info;
    assert_int_equal(recsys__vector_info_get(vstate(f), &info), RECSYS_OK);
    assert_true(info.ials);
    assert_int_equal(info.dim, 8);
    for (int u = 0; u < 10; u++) {
        char uid[16];
        snprintf(uid, sizeof uid, "r%d", u);
        recsys_candidates a, b;
        cf_run(f, recsys__source_ials, fixture_query(f, uid, NULL, 10), &a);
        cf_run(f, recsys__source_vector, fixture_query(f, uid, NULL, 10), &b);
        assert_int_equal(a.n, b.n);
        for (size_t j = 0; j < a.n; j++) {
            /* same items, same scores (float rounding aside) */
            size_t p = recsys__cands_find(&b, a.v[j].item);
            assert_int_not_equal(p, SIZE_MAX);
            assert_float_equal(a.v[j].score, b.v[p].score, 1e-4);
        }
        recsys__cands_free(&a);
        recsys__cands_free(&b);
    }
    cf_free(f);
}

/* ------------------------------------------------------------------ the bridge */

static void bridge_errors_are_statuses(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    float *vecs = add_embedded(f, 40, 6, 0, 2);
    assert_int_equal(build_vector(f, NULL), RECSYS_OK);
    uint32_t items[4];
    float scores[4];
    size_t n = 99;
    /* a query of the wrong dimension is refused before faiss sees it */
    assert_int_equal(recsys__vector_search(vstate(f), &f->mem, vecs, 5, 4, items, scores, &n),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(n, 0);
    assert_non_null(strstr(recsys_last_error(), "dimension"));
    assert_int_equal(recsys__vector_search(vstate(f), &f->mem, vecs, 6, 4, items, scores, &n),
                     RECSYS_OK);
    assert_int_equal(n, 4);
    ranked want[4];
    brute(vecs, 40, 6, vecs, NULL, 0, 4, want);
    for (size_t j = 0; j < 4; j++)
        assert_int_equal(items[j], want[j].item);

    /* faiss's own exceptions come back as negative codes with a message */
    FaissIndex *ix = (FaissIndex *)0x1;
    assert_true(faiss_index_factory(&ix, 6, "Bogus,,", METRIC_INNER_PRODUCT) < 0);
    assert_null(ix);
    assert_non_null(faiss_get_last_error());
    assert_int_equal(faiss_index_factory(&ix, 6, "IVF1,Flat", METRIC_INNER_PRODUCT), 0);
    assert_false(faiss_Index_is_trained(ix));
    assert_true(faiss_Index_add(ix, 40, vecs) < 0); /* untrained */
    assert_non_null(strstr(faiss_get_last_error(), "train"));
    float d[4];
    faiss_idx_t lab[4];
    assert_int_equal(faiss_Index_train(ix, 40, vecs), 0); /* 40 points, 1 list */
    assert_int_equal(faiss_Index_add(ix, 40, vecs), 0);
    assert_int_equal(faiss_Index_ntotal(ix), 40);
    assert_true(faiss_Index_search(ix, 1, vecs, 0, d, lab) < 0); /* k = 0 */
    assert_int_equal(faiss_Index_search(ix, 1, vecs, 4, d, lab), 0);
    faiss_Index_free(ix);
    assert_int_equal(faiss_index_factory(&ix, 6, "Flat", METRIC_INNER_PRODUCT), 0);
    const faiss_idx_t ids[2] = { 5, 6 };
    assert_true(faiss_Index_add_with_ids(ix, 2, vecs, ids) < 0); /* Flat has no ids */
    assert_true(faiss_Index_add_with_ids(ix, 2, NULL, ids) < 0); /* NULL caught too */
    faiss_Index_free(ix);
    free(vecs);
    cf_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_matches_brute_force),
        cmocka_unit_test(embeddings_partial_and_mixed),
        cmocka_unit_test(ivf_recall_against_brute_force),
        cmocka_unit_test(factory_string_invalid_and_valid),
        cmocka_unit_test(exclusions_seen_removed_anchor),
        cmocka_unit_test(cold_users_and_no_state),
        cmocka_unit_test(nothing_to_index),
        cmocka_unit_test(ials_factors_match_the_ials_source),
        cmocka_unit_test(bridge_errors_are_statuses),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("retrieve/vector", tests, NULL, NULL);
}
