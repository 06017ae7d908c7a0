/* test_vector.c - the faiss-backed "vector" source: exact search equal to a brute-force
 * inner-product ranking, IVF recall against brute force, an invalid factory string, the
 * source's exclusions (request, removed, seen, anchor), cold users, iALS factors as vectors,
 * the C++ bridge's error path (statuses, never exceptions); incremental updates between
 * refreshes (the builder's hooks, then through the engine: visible without a refresh, all or
 * nothing under failing allocations and a failing store, folded in by the next refresh, the
 * window between a refresh's build and its publication); and the saved copy (identical
 * results once read back, invalidated by a changed catalog or option, damage detected and
 * rebuilt, removed when a user is forgotten). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>

#include <pthread.h>

/* white-box: the engine-level tests read the published vector state (e->derived) */
#include "engine/engine.h"
#include "retrieve/ials.h"
#include "retrieve/vector.h"
#include "store/store.h"
#include "support/cf_fixture.h"
#include "support/testkit.h"

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


/* ------------------------------------------------------------------ incremental (hooks) */

/* What the engine does around an upsert or a removal of item idx: reserve, then
 * item_changed (allocator m, the state's own). */
static recsys_status vnote(fixture *f, const recsys__mem *m, uint32_t idx)
{
    void *s = f->derived.state[RECSYS__DERIVED_VECTOR];
    recsys_status st = recsys__vector_hooks.reserve(m, s, &f->model, 1);
    if (st == RECSYS_OK)
        recsys__vector_hooks.item_changed(m, s, &f->model, idx);
    return st;
}

/* The fixture's current vectors (live items with a "default" embedding of dim, else rows of
 * NaN-free zeros and a skip mark) for brute force over n catalog slots. */
static float *current_vectors(fixture *f, size_t dim, uint32_t *skip, size_t *nskip)
{
    size_t n = f->model.catalog.ids.n;
    float *v = calloc(n * dim, sizeof *v);
    assert_non_null(v);
    *nskip = 0;
    for (uint32_t i = 0; i < n; i++) {
        const recsys_item *it = recsys__catalog_get(&f->model.catalog, i);
        const recsys__embedding *e = it ? recsys__item_embedding(it, "default") : NULL;
        if (e && e->dim == dim)
            memcpy(v + (size_t)i * dim, e->v, dim * sizeof *v);
        else
            skip[(*nskip)++] = i;
    }
    return v;
}

/* The raw search equals brute force over the current vectors (changed items under their new
 * vector, removed ones absent) for a few queries. */
static void assert_search_is_current(fixture *f, size_t dim, size_t k)
{
    size_t n = f->model.catalog.ids.n, nskip = 0;
    uint32_t *skip = malloc(n * sizeof *skip);
    assert_non_null(skip);
    float *cur = current_vectors(f, dim, skip, &nskip);
    ranked *want = malloc(k * sizeof *want);
    uint32_t *items = malloc(k * sizeof *items);
    float *scores = malloc(k * sizeof *scores);
    float *q = malloc(dim * sizeof *q);
    assert_true(want && items && scores && q);
    for (int r = 0; r < 5; r++) {
        for (size_t d = 0; d < dim; d++)
            q[d] = (float)(2 * urand() - 1);
        size_t nw = brute(cur, n, dim, q, skip, nskip, k, want), got = 0;
        assert_int_equal(recsys__vector_search(vstate(f), &f->mem, q, dim, k, items, scores,
                                               &got),
                         RECSYS_OK);
        assert_int_equal(got, nw);
        for (size_t j = 0; j < got; j++) {
            assert_int_equal(items[j], want[j].item);
            assert_float_equal(scores[j], want[j].score, 1e-4);
        }
    }
    free(skip);
    free(cur);
    free(want);
    free(items);
    free(scores);
    free(q);
}

static recsys__vector_info vinfo(fixture *f)
{
    recsys__vector_info info;
    assert_int_equal(recsys__vector_info_get(vstate(f), &info), RECSYS_OK);
    return info;
}

static void incremental_add_update_remove(void **state)
{
    (void)state;
    enum { N = 300, DIM = 8, K = 20 };
    fixture *f = fixture_new();
    float *vecs = add_embedded(f, N, DIM, 0, 21);
    assert_int_equal(build_vector(f, NULL), RECSYS_OK);
    assert_int_equal(vinfo(f).delta, 0);
    assert_search_is_current(f, DIM, K);

    /* added: an item very close to a query direction must come first */
    float hot[DIM];
    for (size_t d = 0; d < DIM; d++)
        hot[d] = 3.0f * vecs[5 * DIM + d];
    uint32_t idx = fixture_add_item(f, &(fixture_item_def){ .id = "new1", .title = "n" });
    assert_int_equal(recsys__item_set_embedding(&f->mem, f->model.catalog.items[idx], "default",
                                                hot, DIM),
                     RECSYS_OK);
    assert_int_equal(vnote(f, &f->mem, idx), RECSYS_OK);
    assert_int_equal(vinfo(f).delta, 1);
    assert_int_equal(vinfo(f).stale, 0);
    uint32_t items[K];
    float scores[K];
    size_t n = 0;
    assert_int_equal(recsys__vector_search(vstate(f), &f->mem, vecs + 5 * DIM, DIM, K, items,
                                           scores, &n),
                     RECSYS_OK);
    assert_int_equal(items[0], idx);
    assert_search_is_current(f, DIM, K);

    /* updated: an indexed item's vector changes (stale entry, delta holds the new one) */
    float moved[DIM];
    for (size_t d = 0; d < DIM; d++)
        moved[d] = -vecs[40 * DIM + d];
    recsys_item *i40 = f->model.catalog.items[40];
    assert_int_equal(recsys__item_set_embedding(&f->mem, i40, "default", moved, DIM), RECSYS_OK);
    assert_int_equal(vnote(f, &f->mem, 40), RECSYS_OK);
    assert_int_equal(vinfo(f).delta, 2);
    assert_int_equal(vinfo(f).stale, 1);
    assert_search_is_current(f, DIM, K);
    /* changed again, and reported twice: still one entry */
    moved[0] += 0.5f;
    assert_int_equal(recsys__item_set_embedding(&f->mem, i40, "default", moved, DIM), RECSYS_OK);
    assert_int_equal(vnote(f, &f->mem, 40), RECSYS_OK);
    assert_int_equal(vnote(f, &f->mem, 40), RECSYS_OK);
    assert_int_equal(vinfo(f).delta, 2);
    assert_search_is_current(f, DIM, K);
    /* and back to what the index holds: out of the delta, the entry fresh again */
    assert_int_equal(recsys__item_set_embedding(&f->mem, i40, "default", vecs + 40 * DIM, DIM),
                     RECSYS_OK);
    assert_int_equal(vnote(f, &f->mem, 40), RECSYS_OK);
    assert_int_equal(vinfo(f).delta, 1);
    assert_int_equal(vinfo(f).stale, 0);
    /* an upsert that leaves the vector alone (a new title, say) changes nothing */
    assert_int_equal(vnote(f, &f->mem, 41), RECSYS_OK);
    assert_int_equal(vinfo(f).delta, 1);
    assert_int_equal(vinfo(f).stale, 0);

    /* removed: an indexed item and the added one */
    fixture_remove(f, "i7");
    assert_int_equal(vnote(f, &f->mem, 7), RECSYS_OK);
    fixture_remove(f, "new1");
    assert_int_equal(vnote(f, &f->mem, idx), RECSYS_OK);
    assert_int_equal(vinfo(f).delta, 0);
    assert_int_equal(vinfo(f).stale, 1);
    assert_search_is_current(f, DIM, K);

    /* another dimension: no longer proposed (until a refresh) */
    const float three[3] = { 1, 2, 3 };
    assert_int_equal(recsys__item_set_embedding(&f->mem, f->model.catalog.items[9], "default",
                                                three, 3),
                     RECSYS_OK);
    assert_int_equal(vnote(f, &f->mem, 9), RECSYS_OK);
    assert_int_equal(vinfo(f).stale, 2);
    assert_search_is_current(f, DIM, K);

    /* the source: the user's positives' current vectors, the delta's items among the rest */
    cf_events(f, "u", "i5", RECSYS_EVENT_VIEW, now - 100);
    idx = fixture_add_item(f, &(fixture_item_def){ .id = "new2", .title = "n" });
    assert_int_equal(recsys__item_set_embedding(&f->mem, f->model.catalog.items[idx], "default",
                                                hot, DIM),
                     RECSYS_OK);
    assert_int_equal(vnote(f, &f->mem, idx), RECSYS_OK);
    recsys_candidates c;
    cf_run(f, recsys__source_vector, fixture_query(f, "u", NULL, 10), &c);
    assert_int_equal(c.n, 10);
    assert_int_equal(c.v[0].item, idx);
    assert_int_equal(fixture_cand_pos(f, &c, "i5"), SIZE_MAX); /* seen */
    assert_int_equal(fixture_cand_pos(f, &c, "i7"), SIZE_MAX); /* removed */
    recsys__cands_free(&c);
    /* excluded by the request */
    fixture_query(f, "u", NULL, 10);
    fixture_exclude(f, "new2");
    cf_run(f, recsys__source_vector, fixture_query(f, "u", NULL, 10), &c);
    assert_int_equal(fixture_cand_pos(f, &c, "new2"), SIZE_MAX);
    recsys__cands_free(&c);
    f->nexclude = 0;
    free(vecs);
    cf_free(f);
}

/* The delta over an approximate index: changed items are found under their new vector, and
 * their stale entries never come back. */
static void incremental_over_ivf(void **state)
{
    (void)state;
    enum { N = 3000, DIM = 16 };
    fixture *f = fixture_new();
    float *vecs = add_embedded(f, N, DIM, 30, 13);
    fixture_set_opt(f, RECSYS_OPT_VECTOR_EXACT_MAX, 100);
    fixture_set_opt(f, RECSYS_OPT_VECTOR_NPROBE, 64);
    assert_int_equal(build_vector(f, NULL), RECSYS_OK);
    assert_int_equal(strncmp(vinfo(f).index, "IVF", 3), 0);
    /* 25 items take the vector of another item (each of another cluster), scaled up: each
     * must come first for it */
    for (uint32_t i = 0; i < 25; i++) {
        float v[DIM];
        for (size_t d = 0; d < DIM; d++)
            v[d] = 4.0f * vecs[(size_t)(i + 1000) * DIM + d];
        assert_int_equal(recsys__item_set_embedding(&f->mem, f->model.catalog.items[i * 7],
                                                    "default", v, DIM),
                         RECSYS_OK);
        assert_int_equal(vnote(f, &f->mem, i * 7), RECSYS_OK);
    }
    assert_int_equal(vinfo(f).delta, 25);
    assert_int_equal(vinfo(f).stale, 25);
    for (uint32_t i = 0; i < 25; i++) {
        uint32_t items[5];
        float scores[5];
        size_t n = 0;
        assert_int_equal(recsys__vector_search(vstate(f), &f->mem,
                                               vecs + (size_t)(i + 1000) * DIM, DIM, 5, items,
                                               scores, &n),
                         RECSYS_OK);
        assert_int_equal(n, 5);
        assert_int_equal(items[0], i * 7);
        /* its old vector finds it no more under that vector's score */
        assert_int_equal(recsys__vector_search(vstate(f), &f->mem, vecs + (size_t)i * 7 * DIM,
                                               DIM, 5, items, scores, &n),
                         RECSYS_OK);
        for (size_t j = 0; j < n; j++)
            if (items[j] == i * 7)
                assert_float_not_equal(scores[j], 0, 0); /* scored as the new vector */
    }
    free(vecs);
    cf_free(f);
}

/* reserve under failing allocations: RECSYS_E_NOMEM leaves the state meaning what it meant
 * (same search results, same counts), then succeeds. */
static void incremental_reserve_out_of_memory(void **state)
{
    (void)state;
    enum { N = 200, DIM = 6, K = 10 };
    fixture *f = fixture_new();
    float *vecs = add_embedded(f, N, DIM, 0, 17);
    /* the state lives in f->oom (so its reserve can fail) */
    cf_drop(f, &recsys__vector_builder);
    recsys__build_ctx c = cf_ctx(f, &f->oom);
    c.str_opt = (const char *const *)f->opts.str;
    void *st = NULL;
    assert_int_equal(recsys__vector_builder.build(&c, &st), RECSYS_OK);
    f->derived.state[RECSYS__DERIVED_VECTOR] = st;
    uint32_t before[K], after[K];
    float sb[K], sa[K];
    size_t nb = 0, na = 0;
    assert_int_equal(recsys__vector_search(st, &f->mem, vecs, DIM, K, before, sb, &nb),
                     RECSYS_OK);
    /* a batch of three: an added item, a changed one, a removed one */
    uint32_t idx = fixture_add_item(f, &(fixture_item_def){ .id = "new", .title = "n" });
    float far[DIM];
    for (size_t d = 0; d < DIM; d++)
        far[d] = 10 * vecs[d];
    assert_int_equal(recsys__item_set_embedding(&f->mem, f->model.catalog.items[idx], "default",
                                                far, DIM),
                     RECSYS_OK);
    float neg[DIM];
    for (size_t d = 0; d < DIM; d++)
        neg[d] = -vecs[d];
    assert_int_equal(recsys__item_set_embedding(&f->mem, f->model.catalog.items[0], "default",
                                                neg, DIM),
                     RECSYS_OK);
    long n;
    for (n = 1;; n++) {
        f->oom_stats.fail_at = n;
        recsys_status rc = recsys__vector_hooks.reserve(&f->oom, st, &f->model, 3);
        f->oom_stats.fail_at = 0;
        if (rc == RECSYS_OK)
            break;
        assert_int_equal(rc, RECSYS_E_NOMEM);
        recsys__vector_info info;
        assert_int_equal(recsys__vector_info_get(st, &info), RECSYS_OK);
        assert_int_equal(info.delta, 0);
        assert_int_equal(info.stale, 0);
        assert_int_equal(recsys__vector_search(st, &f->mem, vecs, DIM, K, after, sa, &na),
                         RECSYS_OK);
        assert_int_equal(na, nb);
        assert_memory_equal(after, before, nb * sizeof *after);
    }
    print_message("reserve succeeded at allocation %ld\n", n);
    recsys__vector_hooks.item_changed(&f->oom, st, &f->model, idx);
    recsys__vector_hooks.item_changed(&f->oom, st, &f->model, 0);
    assert_int_equal(recsys__vector_search(st, &f->mem, vecs, DIM, K, after, sa, &na),
                     RECSYS_OK);
    assert_int_equal(after[0], idx);
    recsys__vector_builder.free(&f->oom, st);
    f->derived.state[RECSYS__DERIVED_VECTOR] = NULL;
    free(vecs);
    cf_free(f);
}

/* ------------------------------------------------------------------ saved copy (hooks) */

typedef struct saved_buf {
    void *data;
    size_t len;
    int which;
    const char *asked; /* the name the build asked for */
    recsys_status answer;
} saved_buf;

static recsys_status read_saved_buf(void *arg, const char *name, void **data, size_t *len)
{
    saved_buf *b = arg;
    b->asked = name;
    if (b->answer != RECSYS_OK)
        return recsys__err(b->answer, "test store: no blob '%s'", name);
    *data = malloc(b->len);
    assert_non_null(*data);
    memcpy(*data, b->data, b->len);
    *len = b->len;
    return RECSYS_OK;
}

/* Builds with a saved copy offered (NULL = none); the note (if any) in *note. */
static recsys_status build_from(fixture *f, saved_buf *b, recsys__err_saved *note)
{
    cf_drop(f, &recsys__vector_builder);
    recsys__build_ctx c = cf_ctx(f, &recsys__mem_default); /* read_saved_buf uses malloc */
    c.str_opt = (const char *const *)f->opts.str;
    c.built = f->derived.state;
    c.read_saved = b ? read_saved_buf : NULL;
    c.saved_arg = b;
    *note = (recsys__err_saved){ RECSYS_OK, "" };
    c.note = note;
    void *st = NULL;
    recsys_status rc = recsys__vector_builder.build(&c, &st);
    if (rc == RECSYS_OK) {
        f->derived.state[RECSYS__DERIVED_VECTOR] = st;
        f->derived.builder[RECSYS__DERIVED_VECTOR] = NULL; /* freed by hand (default mem) */
    }
    return rc;
}

static void drop_default(fixture *f)
{
    recsys__vector_builder.free(&recsys__mem_default, f->derived.state[RECSYS__DERIVED_VECTOR]);
    f->derived.state[RECSYS__DERIVED_VECTOR] = NULL;
}

/* Every query's results, as "item:score" lines. */
static char *results_of(fixture *f, const float *queries, size_t nq, size_t dim, size_t k)
{
    size_t cap = nq * k * 32 + 1, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    uint32_t *items = malloc(k * sizeof *items);
    float *scores = malloc(k * sizeof *scores);
    for (size_t q = 0; q < nq; q++) {
        size_t n = 0;
        assert_int_equal(recsys__vector_search(vstate(f), &recsys__mem_default,
                                               queries + q * dim, dim, k, items, scores, &n),
                         RECSYS_OK);
        for (size_t j = 0; j < n; j++)
            len += (size_t)snprintf(out + len, cap - len, "%u:%.9g ", items[j], scores[j]);
        len += (size_t)snprintf(out + len, cap - len, "\n");
    }
    free(items);
    free(scores);
    return out;
}

static void saved_copy_round_trip(void **state)
{
    (void)state;
    enum { N = 2500, DIM = 12, K = 10, NQ = 20 };
    const char *factories[] = { "", "Flat", "IVF16,Flat", "HNSW8", "IDMap,Flat" };
    for (size_t fi = 0; fi < sizeof factories / sizeof *factories; fi++) {
        fixture *f = fixture_new();
        float *vecs = add_embedded(f, N, DIM, 25, 23);
        fixture_set_opt(f, RECSYS_OPT_VECTOR_EXACT_MAX, 1000); /* "" means IVF here */
        fixture_set_opt(f, RECSYS_OPT_VECTOR_NPROBE, 4);
        recsys__free(&f->mem, f->opts.str[recsys__opt_slot(RECSYS_OPT_VECTOR_INDEX)]);
        f->opts.str[recsys__opt_slot(RECSYS_OPT_VECTOR_INDEX)] =
            recsys__strdup(&f->mem, factories[fi]);
        recsys__err_saved note;
        saved_buf b = { .answer = RECSYS_E_NOT_FOUND };
        assert_int_equal(build_from(f, &b, &note), RECSYS_OK);
        assert_string_equal(b.asked, "vector.index");
        recsys__vector_info built = vinfo(f);
        char built_index[64];
        snprintf(built_index, sizeof built_index, "%s", built.index); /* dies with the state */
        built.index = built_index;
        assert_false(built.loaded);
        assert_int_equal(note.status, RECSYS_OK); /* none saved is no problem */
        char *want = results_of(f, vecs, NQ, DIM, K);
        assert_int_equal(recsys__vector_hooks.save(&recsys__mem_default, vstate(f), &b.which,
                                                   &b.data, &b.len),
                         RECSYS_OK);
        assert_non_null(b.data);
        assert_int_equal(b.which, 0);
        print_message("%-10s saved copy of %zu bytes\n", built.index, b.len);
        drop_default(f);

        b.answer = RECSYS_OK;
        assert_int_equal(build_from(f, &b, &note), RECSYS_OK);
        recsys__vector_info loaded = vinfo(f);
        assert_true(loaded.loaded);
        assert_string_equal(loaded.index, built.index);
        assert_true(loaded.fingerprint == built.fingerprint);
        char *got = results_of(f, vecs, NQ, DIM, K);
        assert_string_equal(got, want);
        free(got);
        /* a state read from the copy has nothing new to save */
        void *again = (void *)1;
        size_t alen = 9;
        int which = -1;
        assert_int_equal(recsys__vector_hooks.save(&recsys__mem_default, vstate(f), &which,
                                                   &again, &alen),
                         RECSYS_OK);
        assert_null(again);
        drop_default(f);

        /* nprobe is not part of the fingerprint: the copy is read and probed with the new one */
        fixture_set_opt(f, RECSYS_OPT_VECTOR_NPROBE, 16);
        assert_int_equal(build_from(f, &b, &note), RECSYS_OK);
        assert_true(vinfo(f).loaded);
        drop_default(f);
        fixture_set_opt(f, RECSYS_OPT_VECTOR_NPROBE, 4);
        free(want);
        free(b.data);
        free(vecs);
        cf_free(f);
    }
}

/* Anything that changes what would be indexed makes the copy stale: it is not read. */
static void saved_copy_invalidated_by_changes(void **state)
{
    (void)state;
    enum { N = 300, DIM = 8 };
    fixture *f = fixture_new();
    float *vecs = add_embedded(f, N, DIM, 0, 29);
    recsys__err_saved note;
    saved_buf b = { .answer = RECSYS_E_NOT_FOUND };
    assert_int_equal(build_from(f, &b, &note), RECSYS_OK);
    uint64_t fp0 = vinfo(f).fingerprint;
    assert_int_equal(recsys__vector_hooks.save(&recsys__mem_default, vstate(f), &b.which,
                                               &b.data, &b.len),
                     RECSYS_OK);
    drop_default(f);
    b.answer = RECSYS_OK;
    /* 1. one vector changes by one ulp */
    float v[DIM];
    memcpy(v, vecs + 3 * DIM, sizeof v);
    v[2] = nextafterf(v[2], 10.0f);
    recsys_item *i3 = f->model.catalog.items[3];
    assert_int_equal(recsys__item_set_embedding(&f->mem, i3, "default", v, DIM), RECSYS_OK);
    assert_int_equal(build_from(f, &b, &note), RECSYS_OK);
    assert_false(vinfo(f).loaded);
    assert_true(vinfo(f).fingerprint != fp0);
    assert_int_equal(note.status, RECSYS_OK); /* stale is not damage */
    drop_default(f);
    assert_int_equal(recsys__item_set_embedding(&f->mem, i3, "default", vecs + 3 * DIM, DIM),
                     RECSYS_OK);
    assert_int_equal(build_from(f, &b, &note), RECSYS_OK);
    assert_true(vinfo(f).loaded); /* back as it was: the copy matches again */
    drop_default(f);
    /* 2. an item removed, 3. one added */
    fixture_remove(f, "i100");
    assert_int_equal(build_from(f, &b, &note), RECSYS_OK);
    assert_false(vinfo(f).loaded);
    drop_default(f);
    uint32_t idx = fixture_add_item(f, &(fixture_item_def){ .id = "z", .title = "z" });
    assert_int_equal(recsys__item_set_embedding(&f->mem, f->model.catalog.items[idx], "default",
                                                vecs, DIM),
                     RECSYS_OK);
    assert_int_equal(build_from(f, &b, &note), RECSYS_OK);
    assert_false(vinfo(f).loaded);
    drop_default(f);
    free(b.data);
    /* 4. the factory option: a copy saved as Flat is not read for HNSW */
    b = (saved_buf){ .answer = RECSYS_E_NOT_FOUND };
    assert_int_equal(build_from(f, &b, &note), RECSYS_OK);
    assert_int_equal(recsys__vector_hooks.save(&recsys__mem_default, vstate(f), &b.which,
                                               &b.data, &b.len),
                     RECSYS_OK);
    drop_default(f);
    b.answer = RECSYS_OK;
    f->opts.str[recsys__opt_slot(RECSYS_OPT_VECTOR_INDEX)] = recsys__strdup(&f->mem, "HNSW8");
    assert_int_equal(build_from(f, &b, &note), RECSYS_OK);
    assert_false(vinfo(f).loaded);
    assert_string_equal(vinfo(f).index, "HNSW8");
    drop_default(f);
    free(b.data);
    free(vecs);
    cf_free(f);
}

/* A damaged copy is detected (never handed to faiss as an index that looks right), noted,
 * and the index is built. */
static void saved_copy_damage_is_rebuilt(void **state)
{
    (void)state;
    enum { N = 400, DIM = 8, K = 10 };
    fixture *f = fixture_new();
    float *vecs = add_embedded(f, N, DIM, 0, 31);
    recsys__err_saved note;
    saved_buf good = { .answer = RECSYS_E_NOT_FOUND };
    assert_int_equal(build_from(f, &good, &note), RECSYS_OK);
    char *want = results_of(f, vecs, 5, DIM, K);
    assert_int_equal(recsys__vector_hooks.save(&recsys__mem_default, vstate(f), &good.which,
                                               &good.data, &good.len),
                     RECSYS_OK);
    drop_default(f);
    struct {
        const char *what;
        size_t at;  /* byte flipped (SIZE_MAX: none) */
        size_t len; /* length handed over */
    } cases[] = {
        { "faiss byte", 48 + 100, 0 }, { "last byte", SIZE_MAX - 1, 0 },
        { "magic", 0, 0 },             { "length field", 32, 0 },
        { "checksum", 40, 0 },         { "truncated", SIZE_MAX, 100 },
        { "header only", SIZE_MAX, 48 }, { "too short", SIZE_MAX, 7 },
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        saved_buf bad = good;
        bad.data = malloc(good.len);
        memcpy(bad.data, good.data, good.len);
        bad.answer = RECSYS_OK;
        size_t at = cases[ci].at == SIZE_MAX - 1 ? good.len - 1 : cases[ci].at;
        if (at != SIZE_MAX)
            ((unsigned char *)bad.data)[at] ^= 0x41;
        if (cases[ci].len)
            bad.len = cases[ci].len;
        assert_int_equal(build_from(f, &bad, &note), RECSYS_OK);
        assert_false(vinfo(f).loaded);
        assert_int_equal(note.status, RECSYS_E_CORRUPT);
        assert_non_null(strstr(note.msg, "damaged"));
        print_message("%-12s -> %s\n", cases[ci].what, note.msg);
        char *got = results_of(f, vecs, 5, DIM, K);
        assert_string_equal(got, want);
        free(got);
        drop_default(f);
        free(bad.data);
    }
    /* a store that fails to read it: noted, built */
    saved_buf failing = { .answer = RECSYS_E_IO };
    assert_int_equal(build_from(f, &failing, &note), RECSYS_OK);
    assert_false(vinfo(f).loaded);
    assert_int_equal(note.status, RECSYS_E_IO);
    drop_default(f);
    free(want);
    free(good.data);
    free(vecs);
    cf_free(f);
}

/* ------------------------------------------------------------------ through the engine */

enum { E_N = 400, E_DIM = 8 };
static float e_vecs[E_N + 64][E_DIM];

/* n unit vectors in 20 clusters (rows of e_vecs) as catalog JSON "i<k>" for k in [from, to). */
static char *catalog_json(int from, int to, uint64_t seed)
{
    rng_state = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
    float ctr[20][E_DIM];
    for (int c = 0; c < 20; c++)
        for (int d = 0; d < E_DIM; d++)
            ctr[c][d] = (float)(2 * urand() - 1);
    size_t cap = (size_t)(to - from) * (E_DIM * 20 + 64) + 16, len = 0;
    char *js = malloc(cap);
    assert_non_null(js);
    len += (size_t)snprintf(js + len, cap - len, "[");
    for (int i = from; i < to; i++) {
        double norm = 0;
        for (int d = 0; d < E_DIM; d++) {
            e_vecs[i][d] = ctr[i % 20][d] + (float)(0.2 * (2 * urand() - 1));
            norm += (double)e_vecs[i][d] * e_vecs[i][d];
        }
        for (int d = 0; d < E_DIM; d++)
            e_vecs[i][d] = (float)(e_vecs[i][d] / sqrt(norm));
        len += (size_t)snprintf(js + len, cap - len, "%s{\"item_id\":\"i%d\",\"title\":\"t%d\","
                                "\"embedding\":[", i > from ? "," : "", i, i);
        for (int d = 0; d < E_DIM; d++)
            len += (size_t)snprintf(js + len, cap - len, "%s%.9g", d ? "," : "",
                                    (double)e_vecs[i][d]);
        len += (size_t)snprintf(js + len, cap - len, "]}");
    }
    snprintf(js + len, cap - len, "]");
    return js;
}

/* One item as JSON with the given vector. */
static char *item_json(const char *id, const float *v)
{
    char *js = malloc(E_DIM * 20 + 128);
    assert_non_null(js);
    int len = sprintf(js, "{\"item_id\":\"%s\",\"title\":\"%s\",\"embedding\":[", id, id);
    for (int d = 0; d < E_DIM; d++)
        len += sprintf(js + len, "%s%.9g", d ? "," : "", (double)v[d]);
    sprintf(js + len, "]}");
    return js;
}

static const char *const other_sources[] = { "content", "search", "campaign", "popular",
                                             "trending", "itemknn", "rp3beta", "session" };

/* A store around a memory store (owned) that the test can reach: its blobs, a put that
 * fails on demand, and a callback run once inside the next put_blob. */
typedef struct test_store {
    recsys_store_vtable inner;
    bool fail_put;
    void (*in_put_blob)(void *arg);
    void *arg;
    int put_blobs, get_blobs;
} test_store;

static recsys_status ts_put(void *ctx, int32_t kind, const char *key, const void *d, size_t n)
{
    test_store *t = ctx;
    if (t->fail_put)
        return recsys__err(RECSYS_E_IO, "test store: put refused");
    return t->inner.put(t->inner.ctx, kind, key, d, n);
}
static recsys_status ts_remove(void *ctx, int32_t kind, const char *key)
{
    test_store *t = ctx;
    return t->inner.remove(t->inner.ctx, kind, key);
}
static recsys_status ts_get(void *ctx, int32_t kind, const char *key, recsys_store_value *out)
{
    test_store *t = ctx;
    return t->inner.get(t->inner.ctx, kind, key, out);
}
static recsys_status ts_append(void *ctx, const recsys_event *ev, size_t n)
{
    test_store *t = ctx;
    return t->inner.append_events(t->inner.ctx, ev, n);
}
static recsys_status ts_scan_records(void *ctx, int32_t kind, recsys_record_visit_fn fn,
                                     void *arg)
{
    test_store *t = ctx;
    return t->inner.scan_records(t->inner.ctx, kind, fn, arg);
}
static recsys_status ts_scan_events(void *ctx, recsys_event_visit_fn fn, void *arg)
{
    test_store *t = ctx;
    return t->inner.scan_events(t->inner.ctx, fn, arg);
}
static recsys_status ts_forget(void *ctx, const char *user)
{
    test_store *t = ctx;
    return t->inner.forget_user(t->inner.ctx, user);
}
static recsys_status ts_put_blob(void *ctx, const char *name, const void *d, size_t n)
{
    test_store *t = ctx;
    t->put_blobs++;
    if (t->in_put_blob) {
        void (*fn)(void *) = t->in_put_blob;
        t->in_put_blob = NULL;
        fn(t->arg);
    }
    return t->inner.put_blob(t->inner.ctx, name, d, n);
}
static recsys_status ts_get_blob(void *ctx, const char *name, recsys_store_value *out)
{
    test_store *t = ctx;
    t->get_blobs++;
    return t->inner.get_blob(t->inner.ctx, name, out);
}
static void ts_destroy(void *ctx)
{
    test_store *t = ctx;
    t->inner.destroy(t->inner.ctx);
}

/* The test's direct view of a blob in t's memory store: its length, or 0 when absent. */
static size_t blob_len(test_store *t, const char *name)
{
    recsys_store_value v;
    recsys__store_value_init(&v, &recsys__mem_default);
    recsys_status st = t->inner.get_blob(t->inner.ctx, name, &v);
    size_t n = st == RECSYS_OK ? v.len : 0;
    if (st != RECSYS_OK)
        assert_int_equal(st, RECSYS_E_NOT_FOUND);
    recsys__store_value_free(&v);
    return n;
}

/* An engine over a test store (t, zeroed here) with the allocator alloc (NULL = malloc),
 * only the "vector" source enabled, the catalog i0..i<n-1> loaded and refreshed. */
static recsys_engine *vengine(test_store *t, const recsys_allocator *alloc, int n)
{
    memset(t, 0, sizeof *t);
    recsys_store_vtable_init(&t->inner);
    assert_int_equal(recsys_store_memory_new(NULL, &t->inner), RECSYS_OK);
    recsys_store_vtable vt;
    recsys_store_vtable_init(&vt);
    vt.ctx = t;
    vt.destroy = ts_destroy;
    vt.put = ts_put;
    vt.remove = ts_remove;
    vt.get = ts_get;
    vt.append_events = ts_append;
    vt.scan_records = ts_scan_records;
    vt.scan_events = ts_scan_events;
    vt.forget_user = ts_forget;
    vt.put_blob = ts_put_blob;
    vt.get_blob = ts_get_blob;
    recsys_engine_opts o;
    recsys_engine_opts_init(&o);
    o.seed = 99;
    o.allocator = alloc;
    o.store = &vt;
    recsys_engine *e = NULL;
    assert_int_equal(recsys_engine_new(&o, &e), RECSYS_OK);
    for (size_t i = 0; i < sizeof other_sources / sizeof *other_sources; i++)
        assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, other_sources[i],
                                                     0),
                         RECSYS_OK);
    char *js = catalog_json(0, n, 5);
    assert_int_equal(recsys_catalog_upsert_json(e, js, strlen(js)), RECSYS_OK);
    free(js);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    assert_int_equal(recsys_last_status(), RECSYS_OK);
    return e;
}

static const void *evstate(recsys_engine *e)
{
    return e->derived->state[RECSYS__DERIVED_VECTOR];
}

static recsys__vector_info einfo(recsys_engine *e)
{
    recsys__vector_info info;
    assert_int_equal(recsys__vector_info_get(evstate(e), &info), RECSYS_OK);
    return info;
}

/* The best k ids for query q, as "id id id". */
static const char *esearch(recsys_engine *e, const float *q, size_t k)
{
    static char out[4096];
    uint32_t items[64];
    float scores[64];
    size_t n = 0, len = 0;
    assert_true(k <= 64);
    assert_int_equal(recsys__vector_search(evstate(e), &e->mem, q, E_DIM, k, items, scores, &n),
                     RECSYS_OK);
    out[0] = '\0';
    for (size_t j = 0; j < n; j++) {
        const recsys_item *it = recsys__catalog_get(&e->model.catalog, items[j]);
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", j ? " " : "",
                                it ? it->id : "(removed)");
    }
    return out;
}

/* A user who viewed `seen`, and the first result recsys_recommend gives them. */
static void assert_first_recommended(recsys_engine *e, const char *user, const char *expect)
{
    recsys_request *req = NULL;
    recsys_result *res = NULL;
    assert_int_equal(recsys_request_new(&req), RECSYS_OK);
    assert_int_equal(recsys_request_set_user(req, user), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(req, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    assert_int_equal(recsys_recommend(e, req, &res), RECSYS_OK);
    assert_true(recsys_result_count(res) > 0);
    assert_string_equal(recsys_result_item_id(res, 0), expect);
    recsys_result_free(res);
    recsys_request_free(req);
}

static void engine_sees_upserts_and_removals_without_refresh(void **state)
{
    (void)state;
    test_store t;
    recsys_engine *e = vengine(&t, NULL, E_N);
    assert_int_equal(einfo(e).n, E_N);
    /* a user who viewed i3: its nearest neighbour (seen filtered) comes first */
    recsys_event ev;
    memset(&ev, 0, sizeof ev);
    ev.struct_size = sizeof ev;
    ev.type = RECSYS_EVENT_VIEW;
    ev.user_id = "u";
    ev.item_id = "i3";
    ev.timestamp = now;
    assert_int_equal(recsys_feedback(e, &ev), RECSYS_OK);
    /* a new item with exactly i3's vector: first for the user, without a refresh */
    char *js = item_json("twin", e_vecs[3]);
    assert_int_equal(recsys_catalog_upsert_json(e, js, strlen(js)), RECSYS_OK);
    free(js);
    assert_int_equal(einfo(e).delta, 1);
    assert_first_recommended(e, "u", "twin");
    assert_int_equal(strncmp(esearch(e, e_vecs[3], 2), "i3 twin", 7) == 0 ||
                         strncmp(esearch(e, e_vecs[3], 2), "twin i3", 7) == 0,
                     1);
    /* i50 moves onto i3's vector too (an update): found there, not where it was */
    js = item_json("i50", e_vecs[3]);
    assert_int_equal(recsys_catalog_upsert_json(e, js, strlen(js)), RECSYS_OK);
    free(js);
    assert_int_equal(einfo(e).delta, 2);
    assert_int_equal(einfo(e).stale, 1);
    assert_non_null(strstr(esearch(e, e_vecs[3], 3), "i50"));
    assert_null(strstr(esearch(e, e_vecs[50], 1), "i50"));
    /* removals: the twin, then i50 */
    assert_int_equal(recsys_catalog_remove(e, "twin"), RECSYS_OK);
    assert_int_equal(recsys_catalog_remove(e, "i50"), RECSYS_OK);
    assert_int_equal(einfo(e).delta, 0);
    assert_null(strstr(esearch(e, e_vecs[3], 10), "twin"));
    assert_null(strstr(esearch(e, e_vecs[3], 10), "i50"));
    assert_null(strstr(esearch(e, e_vecs[3], 10), "removed"));
    /* the next refresh folds everything in: same answers, an empty delta */
    js = item_json("late", e_vecs[7]);
    assert_int_equal(recsys_catalog_upsert_json(e, js, strlen(js)), RECSYS_OK);
    free(js);
    char before[4096];
    snprintf(before, sizeof before, "%s", esearch(e, e_vecs[7], 20));
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    assert_int_equal(einfo(e).n, E_N - 1 + 1); /* i50 gone, late in */
    assert_int_equal(einfo(e).delta, 0);
    assert_int_equal(einfo(e).stale, 0);
    assert_string_equal(esearch(e, e_vecs[7], 20), before);
    recsys_engine_free(e);
}

/* Every failure of an upsert (allocation n, or the store refusing) leaves the vector state as
 * it was: same counts, same answers. */
static void engine_upsert_failure_leaves_the_delta(void **state)
{
    (void)state;
    tk_alloc a;
    recsys_allocator rec;
    tk_alloc_init(&a, &rec);
    test_store t;
    recsys_engine *e = vengine(&t, &rec, E_N);
    /* one change already in the delta */
    char *js = item_json("i10", e_vecs[11]);
    assert_int_equal(recsys_catalog_upsert_json(e, js, strlen(js)), RECSYS_OK);
    free(js);
    recsys__vector_info i0 = einfo(e);
    char want[2][4096];
    snprintf(want[0], sizeof want[0], "%s", esearch(e, e_vecs[20], 15));
    snprintf(want[1], sizeof want[1], "%s", esearch(e, e_vecs[11], 15));
    /* a batch: i20 moves, two new items arrive */
    float v[E_DIM];
    for (int d = 0; d < E_DIM; d++)
        v[d] = -e_vecs[20][d];
    char *a1 = item_json("i20", v), *a2 = item_json("n1", e_vecs[20]),
         *a3 = item_json("n2", e_vecs[11]);
    char batch[4096];
    snprintf(batch, sizeof batch, "[%s,%s,%s]", a1, a2, a3);
    free(a1);
    free(a2);
    free(a3);
    t.fail_put = true;
    assert_int_equal(recsys_catalog_upsert_json(e, batch, strlen(batch)), RECSYS_E_IO);
    t.fail_put = false;
    assert_int_equal(einfo(e).delta, i0.delta);
    assert_int_equal(einfo(e).stale, i0.stale);
    assert_string_equal(esearch(e, e_vecs[20], 15), want[0]);
    long n;
    for (n = 0;; n++) {
        a.fail_at = a.count + n;
        recsys_status st = recsys_catalog_upsert_json(e, batch, strlen(batch));
        a.fail_at = -1;
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_int_equal(einfo(e).delta, i0.delta);
        assert_int_equal(einfo(e).stale, i0.stale);
        assert_string_equal(esearch(e, e_vecs[20], 15), want[0]);
        assert_string_equal(esearch(e, e_vecs[11], 15), want[1]);
        uint64_t items = 0;
        assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_ITEMS, &items), RECSYS_OK);
        assert_int_equal(items, E_N);
    }
    print_message("the upsert succeeded at allocation %ld\n", n);
    assert_int_equal(einfo(e).delta, i0.delta + 3);
    assert_int_equal(einfo(e).stale, i0.stale + 1);
    assert_string_equal(esearch(e, e_vecs[20], 1), "n1");
    /* removal under failing allocations */
    snprintf(want[0], sizeof want[0], "%s", esearch(e, e_vecs[11], 15));
    for (n = 0;; n++) {
        a.fail_at = a.count + n;
        recsys_status st = recsys_catalog_remove(e, "n2");
        a.fail_at = -1;
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_string_equal(esearch(e, e_vecs[11], 15), want[0]);
    }
    assert_null(strstr(esearch(e, e_vecs[11], 15), "n2"));
    recsys_engine_free(e);
    assert_int_equal(a.live, 0);
}

/* Saved by one refresh, read back by the next when nothing changed (same answers, no
 * training), rebuilt and saved again when the catalog changed. */
static void engine_saves_and_reads_the_index(void **state)
{
    (void)state;
    test_store t;
    recsys_engine *e = vengine(&t, NULL, E_N);
    assert_false(einfo(e).loaded);
    size_t saved = blob_len(&t, "vector.index");
    assert_true(saved > 48 + E_N * E_DIM * 4);
    char want[4096];
    snprintf(want, sizeof want, "%s", esearch(e, e_vecs[1], 30));
    uint64_t fp = einfo(e).fingerprint;
    int puts = t.put_blobs;
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    assert_true(einfo(e).loaded);
    assert_true(einfo(e).fingerprint == fp);
    assert_int_equal(t.put_blobs, puts); /* not saved again */
    assert_string_equal(esearch(e, e_vecs[1], 30), want);
    /* an upsert changes what is indexed: rebuilt, saved again */
    char *js = item_json("i1", e_vecs[2]);
    assert_int_equal(recsys_catalog_upsert_json(e, js, strlen(js)), RECSYS_OK);
    free(js);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    assert_false(einfo(e).loaded);
    assert_true(einfo(e).fingerprint != fp);
    assert_true(t.put_blobs > puts);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    assert_true(einfo(e).loaded);
    recsys_engine_free(e);
}

/* A damaged saved copy: the refresh succeeds, builds the index, says so through
 * recsys_last_status()/recsys_last_error(), and saves a good copy again. */
static void engine_damaged_copy_is_rebuilt(void **state)
{
    (void)state;
    test_store t;
    recsys_engine *e = vengine(&t, NULL, E_N);
    char want[4096];
    snprintf(want, sizeof want, "%s", esearch(e, e_vecs[9], 30));
    recsys_store_value v;
    recsys__store_value_init(&v, &recsys__mem_default);
    assert_int_equal(t.inner.get_blob(t.inner.ctx, "vector.index", &v), RECSYS_OK);
    ((unsigned char *)v.data)[v.len / 2] ^= 0x10;
    assert_int_equal(t.inner.put_blob(t.inner.ctx, "vector.index", v.data, v.len), RECSYS_OK);
    recsys__store_value_free(&v);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    assert_int_equal(recsys_last_status(), RECSYS_E_CORRUPT);
    assert_non_null(strstr(recsys_last_error(), "damaged"));
    print_message("warning: %s\n", recsys_last_error());
    assert_false(einfo(e).loaded);
    assert_string_equal(esearch(e, e_vecs[9], 30), want);
    /* the rebuilt index was saved again: the next refresh reads it, quietly */
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    assert_int_equal(recsys_last_status(), RECSYS_OK);
    assert_string_equal(recsys_last_error(), "");
    assert_true(einfo(e).loaded);
    assert_string_equal(esearch(e, e_vecs[9], 30), want);
    recsys_engine_free(e);
}

/* A save that fails does not fail the refresh: the state is published, the warning says
 * why. A store without blobs never saves. */
static void engine_failed_save_is_a_warning(void **state)
{
    (void)state;
    tk_alloc a;
    recsys_allocator rec;
    tk_alloc_init(&a, &rec);
    test_store t;
    recsys_engine *e = vengine(&t, &rec, E_N);
    char *js = item_json("i4", e_vecs[5]);
    assert_int_equal(recsys_catalog_upsert_json(e, js, strlen(js)), RECSYS_OK);
    free(js);
    /* fail allocations until the refresh succeeds; past the build, a failed save only warns */
    bool warned = false, saving = false;
    for (long n = 0;; n++) {
        uint64_t gen = e->generation;
        /* no saved copy: every refresh builds and saves */
        assert_int_equal(t.inner.put_blob(t.inner.ctx, "vector.index", NULL, 0), RECSYS_OK);
        a.fail_at = a.count + n;
        recsys_status st = recsys_refresh(e);
        a.fail_at = -1;
        if (st != RECSYS_OK) {
            assert_int_equal(st, RECSYS_E_NOMEM);
            assert_int_equal(e->generation, gen);
            continue;
        }
        assert_int_equal(e->generation, gen + 1);
        if (recsys_last_status() == RECSYS_OK)
            break;
        warned = true;
        assert_int_equal(recsys_last_status(), RECSYS_E_NOMEM);
        assert_non_null(strstr(recsys_last_error(), "saving"));
        saving = true;
        assert_int_equal(einfo(e).delta, 0); /* published all the same */
    }
    assert_true(warned && saving);
    recsys_engine_free(e);
    assert_int_equal(a.live, 0);

    /* a 0.1-sized store (no blob members): builds, never saves, no warning */
    recsys_store_vtable mem;
    recsys_store_vtable_init(&mem);
    assert_int_equal(recsys_store_memory_new(NULL, &mem), RECSYS_OK);
    mem.struct_size = (uint32_t)RECSYS_OFFSETOFEND(recsys_store_vtable, compact);
    recsys_engine_opts o;
    recsys_engine_opts_init(&o);
    o.store = &mem;
    assert_int_equal(recsys_engine_new(&o, &e), RECSYS_OK);
    char *cat = catalog_json(0, 50, 5);
    assert_int_equal(recsys_catalog_upsert_json(e, cat, strlen(cat)), RECSYS_OK);
    free(cat);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    assert_int_equal(recsys_last_status(), RECSYS_OK);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    assert_false(einfo(e).loaded);
    recsys_engine_free(e);
}

/* An index over iALS factors is saved under its own name, and a forgotten user removes it;
 * the copy over embeddings is replaced by it and never left behind. */
static void engine_forget_removes_the_personal_copy(void **state)
{
    (void)state;
    test_store t;
    recsys_engine *e = vengine(&t, NULL, E_N);
    assert_true(blob_len(&t, "vector.index") > 0);
    assert_int_equal(blob_len(&t, "vector.ials.index"), 0);
    for (int u = 0; u < 30; u++)
        for (int k = 0; k < 6; k++) {
            char uid[16], iid[16];
            snprintf(uid, sizeof uid, "u%d", u);
            snprintf(iid, sizeof iid, "i%d", (u * 7 + k * 13) % 60);
            recsys_event ev;
            memset(&ev, 0, sizeof ev);
            ev.struct_size = sizeof ev;
            ev.type = RECSYS_EVENT_VIEW;
            ev.user_id = uid;
            ev.item_id = iid;
            ev.timestamp = now - 1000 + k;
            assert_int_equal(recsys_feedback(e, &ev), RECSYS_OK);
        }
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_IALS_FACTORS, 8), RECSYS_OK);
    assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, "ials", 1), RECSYS_OK);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    assert_true(einfo(e).ials);
    assert_true(blob_len(&t, "vector.ials.index") > 0);
    assert_int_equal(blob_len(&t, "vector.index"), 0);
    /* upserts do not touch an index over factors */
    char *js = item_json("i3", e_vecs[4]);
    assert_int_equal(recsys_catalog_upsert_json(e, js, strlen(js)), RECSYS_OK);
    free(js);
    assert_int_equal(einfo(e).delta, 0);
    assert_int_equal(recsys_user_forget(e, "u3"), RECSYS_OK);
    assert_int_equal(blob_len(&t, "vector.ials.index"), 0);
    recsys_engine_free(e);
}

/* Upserts made after a refresh's build but before it is published (the build holds the
 * shared lock; the upsert waits for the exclusive one) reach the new state. */
typedef struct racer {
    recsys_engine *e;
    pthread_t th;
    bool started;
} racer;

static void *race_upsert(void *arg)
{
    racer *r = arg;
    char *js = item_json("racer", e_vecs[12]);
    recsys_status st = recsys_catalog_upsert_json(r->e, js, strlen(js));
    free(js);
    return (void *)(intptr_t)st;
}

static void start_racer(void *arg)
{
    racer *r = arg;
    assert_int_equal(pthread_create(&r->th, NULL, race_upsert, r), 0);
    r->started = true;
    usleep(100 * 1000); /* let it block on the engine's lock, held shared by this refresh */
}

static void engine_changes_during_a_refresh_reach_the_new_state(void **state)
{
    (void)state;
    test_store t;
    recsys_engine *e = vengine(&t, NULL, E_N);
    /* a changed catalog, so that the refresh saves (and runs the callback in put_blob) */
    char *js = item_json("i1", e_vecs[2]);
    assert_int_equal(recsys_catalog_upsert_json(e, js, strlen(js)), RECSYS_OK);
    free(js);
    racer r = { .e = e };
    t.in_put_blob = start_racer;
    t.arg = &r;
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    assert_true(r.started);
    void *ret = NULL;
    assert_int_equal(pthread_join(r.th, &ret), 0);
    assert_int_equal((intptr_t)ret, RECSYS_OK);
    uint64_t items = 0;
    assert_int_equal(recsys_engine_count(e, RECSYS_COUNT_ITEMS, &items), RECSYS_OK);
    assert_int_equal(items, E_N + 1);
    /* the refresh's state did not see it being built, yet it is there */
    assert_int_equal(einfo(e).n, E_N);
    assert_int_equal(einfo(e).delta, 1);
    assert_non_null(strstr(esearch(e, e_vecs[12], 2), "racer"));
    recsys_engine_free(e);
}

/* The file store keeps the index as blob.vector.index beside its log: a reopened engine reads
 * it instead of training, a damaged file is rebuilt with a warning, and answers agree. */
static recsys_status open_warning;   /* recsys_last_status() right after recsys_engine_new */
static char open_message[600];

static recsys_engine *file_engine(const char *dir, int n, bool load_catalog)
{
    recsys_store_vtable vt;
    recsys_store_vtable_init(&vt);
    assert_int_equal(recsys_store_file_new(dir, NULL, &vt), RECSYS_OK);
    recsys_engine_opts o;
    recsys_engine_opts_init(&o);
    o.seed = 99;
    o.store = &vt;
    recsys_engine *e = NULL;
    recsys_status st = recsys_engine_new(&o, &e);
    if (st != RECSYS_OK)
        print_error("engine_new: %s\n", recsys_last_error());
    assert_int_equal(st, RECSYS_OK);
    open_warning = recsys_last_status();
    snprintf(open_message, sizeof open_message, "%s", recsys_last_error());
    for (size_t i = 0; i < sizeof other_sources / sizeof *other_sources; i++)
        assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, other_sources[i],
                                                     0),
                         RECSYS_OK);
    if (load_catalog) {
        char *js = catalog_json(0, n, 5);
        assert_int_equal(recsys_catalog_upsert_json(e, js, strlen(js)), RECSYS_OK);
        free(js);
        assert_int_equal(recsys_refresh(e), RECSYS_OK);
        assert_int_equal(recsys_last_status(), RECSYS_OK);
    }
    return e;
}

static void file_store_keeps_the_index_across_a_reopen(void **state)
{
    (void)state;
    char *dir = tk_mkdtemp();
    recsys_engine *e = file_engine(dir, E_N, true);
    assert_false(einfo(e).loaded);
    uint64_t fp = einfo(e).fingerprint;
    assert_true(tk_dir_contains(dir, "RSB1")); /* the blob file's magic */
    recsys_engine_free(e);

    e = file_engine(dir, E_N, false); /* reopened: the catalog comes from the store */
    assert_int_equal(open_warning, RECSYS_OK);
    assert_true(einfo(e).loaded);
    assert_true(einfo(e).fingerprint == fp);
    recsys_engine_free(e);

    /* damage the blob's payload: the reopen builds instead, with a warning, and saves again */
    char path[1024];
    snprintf(path, sizeof path, "%s/blob.vector.index", dir);
    FILE *fp_ = fopen(path, "r+b");
    assert_non_null(fp_);
    assert_int_equal(fseek(fp_, 100, SEEK_SET), 0);
    assert_int_equal(fputc(0x5a, fp_) == EOF, 0);
    fclose(fp_);
    e = file_engine(dir, E_N, false);
    assert_int_equal(open_warning, RECSYS_E_CORRUPT);
    assert_non_null(strstr(open_message, "vector.index"));
    assert_false(einfo(e).loaded);
    assert_true(einfo(e).fingerprint == fp);
    recsys_engine_free(e);
    e = file_engine(dir, E_N, false);
    assert_int_equal(open_warning, RECSYS_OK);
    assert_true(einfo(e).loaded);
    recsys_engine_free(e);
    tk_rm_rf(dir);
    free(dir);
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
        cmocka_unit_test(incremental_add_update_remove),
        cmocka_unit_test(incremental_over_ivf),
        cmocka_unit_test(incremental_reserve_out_of_memory),
        cmocka_unit_test(saved_copy_round_trip),
        cmocka_unit_test(saved_copy_invalidated_by_changes),
        cmocka_unit_test(saved_copy_damage_is_rebuilt),
        cmocka_unit_test(engine_sees_upserts_and_removals_without_refresh),
        cmocka_unit_test(engine_upsert_failure_leaves_the_delta),
        cmocka_unit_test(engine_saves_and_reads_the_index),
        cmocka_unit_test(engine_damaged_copy_is_rebuilt),
        cmocka_unit_test(engine_failed_save_is_a_warning),
        cmocka_unit_test(engine_forget_removes_the_personal_copy),
        cmocka_unit_test(engine_changes_during_a_refresh_reach_the_new_state),
        cmocka_unit_test(file_store_keeps_the_index_across_a_reopen),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("retrieve/vector", tests, NULL, NULL);
}
