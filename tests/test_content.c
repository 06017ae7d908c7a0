/* test_content.c - the content source's text vectors (issue 3): hashed text vectors
 * (lib/text/hashvec.h); the content index vector.c's machinery builds (slot
 * RECSYS__DERIVED_CONTENT: hashed vectors, or the items' "text" embeddings; Flat, IVF beyond
 * the exact threshold; the saved copy); the fusion with BM25 (lib/retrieve/fuse.h); a
 * cold-start user's stated interests reaching items no BM25 term matches, hashed or through
 * the host's embedder; an item nobody has interacted with; the embedder's failures; catalog
 * changes between refreshes; and the out-of-memory paths (the builder, a request, the best
 * effort upkeep), which must leak nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* white-box: the engine-level tests read the published content state (e->derived) */
#include "engine/engine.h"
#include "retrieve/fuse.h"
#include "retrieve/sources.h"
#include "retrieve/vector.h"
#include "text/hashvec.h"
#include "support/cf_fixture.h"
#include "support/testkit.h"

/* ------------------------------------------------------------------ helpers */

static double dot(const float *a, const float *b, size_t dim)
{
    double s = 0;
    for (size_t d = 0; d < dim; d++)
        s += (double)a[d] * b[d];
    return s;
}

/* The content source for q with f's derived set, its ids best first ("a,b,c"). */
static const char *content_ids(fixture *f, recsys_query *q)
{
    recsys_candidates c;
    cf_run(f, recsys__source_content, q, &c);
    const char *s = cf_ids(f, &c);
    recsys__cands_free(&c);
    return s;
}

static const recsys__vector_info *cinfo(const void *state)
{
    static recsys__vector_info info; /* test-only scratch */
    assert_int_equal(recsys__vector_info_get(state, &info), RECSYS_OK);
    return &info;
}

/* Courses, none of whose words is "photographer" (one is about photography). */
static fixture *hobby_fixture(void)
{
    fixture *f = fixture_new();
    static const fixture_item_def items[] = {
        { .id = "s_photo", .title = "Photography for Beginners", .category = "course",
          .tags = "camera,light", .description = "Frame, expose and focus." },
        { .id = "s_knife", .title = "Knife Skills", .category = "course",
          .tags = "kitchen,cooking", .description = "Chop, slice and dice safely." },
        { .id = "s_bread", .title = "Sourdough at Home", .category = "course",
          .tags = "baking,bread", .description = "Starters, folds and a hot oven." },
        { .id = "s_garden", .title = "Balcony Gardening", .category = "course",
          .tags = "plants,herbs", .description = "Grow herbs in small pots." },
        { .id = "s_chess", .title = "Chess Openings", .category = "course",
          .tags = "strategy,games", .description = "Sicilian, French and more." },
    };
    for (size_t i = 0; i < sizeof items / sizeof *items; i++)
        fixture_add_item(f, &items[i]);
    fixture_add_user(f, "stella", "photographer", 30, "US", NULL, NULL, NULL);
    return f;
}

/* ------------------------------------------------------------------ hashed vectors */

static void hashed_vectors_are_unit_and_share_stems(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    enum { DIM = 64 };
    recsys__hashvec *hv = NULL;
    assert_int_equal(recsys__hashvec_build(&f->mem, &f->model.catalog, DIM, &hv), RECSYS_OK);
    assert_int_equal(recsys__hashvec_dim(hv), DIM);
    assert_true(recsys__hashvec_nfeatures(hv) > 50);
    float a[DIM], b[DIM];
    for (uint32_t i = 0; i < f->model.catalog.ids.n; i++) {
        assert_true(recsys__hashvec_item(hv, recsys__catalog_get(&f->model.catalog, i), a));
        assert_true(fabs(dot(a, a, DIM) - 1) < 1e-5);
    }
    /* the same words after normalisation (case, plural, punctuation): the same vector */
    assert_true(recsys__hashvec_text(hv, "Space documentary", a));
    assert_true(recsys__hashvec_text(hv, "space, DOCUMENTARIES!", b));
    assert_true(fabs(dot(a, b, DIM) - 1) < 1e-5);
    recsys__hashvec_free(hv);
    /* words sharing a stem share their character trigrams, where BM25 sees unrelated terms:
     * on average they point the same way, unrelated words do not. Measured in 1024
     * dimensions: in 64 the trigrams' part (about 0.1 to 0.3 of a cosine) drowns in hash
     * collisions (a standard deviation of 1/8), one pair may even collide head-on. */
    assert_int_equal(recsys__hashvec_build(&f->mem, &f->model.catalog,
                                           RECSYS__HASHVEC_DIM_MAX, &hv),
                     RECSYS_OK);
    float a2[RECSYS__HASHVEC_DIM_MAX], b2[RECSYS__HASHVEC_DIM_MAX];
    static const char *const stems[][2] = {
        { "photographer", "photography" }, { "gardening", "gardener" },
        { "programming", "programmer" },   { "painting", "painter" },
        { "astronomer", "astronomy" },     { "swimming", "swimmer" },
        { "climbing", "climber" },         { "economics", "economist" },
    };
    static const char *const others[][2] = {
        { "photographer", "tennis" }, { "gardening", "violin" }, { "programming", "soup" },
        { "painting", "rocket" },     { "astronomer", "pasta" }, { "swimming", "ledger" },
        { "climbing", "sonata" },     { "economics", "puppy" },
    };
    double related = 0, unrelated = 0;
    for (size_t i = 0; i < 8; i++) {
        assert_true(recsys__hashvec_text(hv, stems[i][0], a2));
        assert_true(recsys__hashvec_text(hv, stems[i][1], b2));
        related += dot(a2, b2, RECSYS__HASHVEC_DIM_MAX) / 8;
        assert_true(recsys__hashvec_text(hv, others[i][0], a2));
        assert_true(recsys__hashvec_text(hv, others[i][1], b2));
        unrelated += dot(a2, b2, RECSYS__HASHVEC_DIM_MAX) / 8;
    }
    print_message("mean cosine in %d dimensions: stem-sharing words %.3f, unrelated %.3f\n",
                  RECSYS__HASHVEC_DIM_MAX, related, unrelated);
    assert_true(related > 0.1);
    assert_true(related > unrelated + 0.1);
    /* nothing to hash: false and a zero vector */
    memset(a2, 0x7f, sizeof a2);
    assert_false(recsys__hashvec_text(hv, "the of and ?!", a2));
    assert_false(recsys__hashvec_text(hv, NULL, a2));
    for (size_t d = 0; d < RECSYS__HASHVEC_DIM_MAX; d++)
        assert_true(a2[d] == 0);
    recsys__hashvec_free(hv);
    recsys__hashvec_free(NULL);

    /* bad arguments */
    hv = (recsys__hashvec *)0x1;
    assert_int_equal(recsys__hashvec_build(&f->mem, &f->model.catalog, 0, &hv),
                     RECSYS_E_INVALID_ARG);
    assert_null(hv);
    assert_int_equal(recsys__hashvec_build(&f->mem, &f->model.catalog,
                                           RECSYS__HASHVEC_DIM_MAX + 1, &hv),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__hashvec_build(NULL, &f->model.catalog, DIM, &hv),
                     RECSYS_E_INVALID_ARG);

    /* the out-of-memory loop: every failure NOMEM, nothing leaks, then the same vocabulary */
    long n;
    for (n = 1;; n++) {
        f->oom_stats.fail_at = n;
        recsys_status st = recsys__hashvec_build(&f->oom, &f->model.catalog, DIM, &hv);
        f->oom_stats.fail_at = 0;
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(hv);
        assert_int_equal(f->oom_stats.live, 0);
    }
    assert_true(n > 2);
    assert_true(recsys__hashvec_text(hv, "Space documentary", b));
    assert_true(recsys__hashvec_text(hv, "space documentaries", a));
    assert_true(fabs(dot(a, b, DIM) - 1) < 1e-5);
    recsys__hashvec_free(hv);
    fixture_free(f);
}

/* ------------------------------------------------------------------ fusion */

static void fusion_adds_relative_bm25_and_positive_cosine(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    const uint32_t items[] = { 5, 2, 9 };
    const float scores[] = { 4, 2, 1 };
    recsys__fuse fz;
    assert_int_equal(recsys__fuse_init(&fz, &f->mem, items, scores, 3), RECSYS_OK);
    size_t cur = 0;
    const double walk[] = { 0, 0, 0.5, 0, 0, 1.0, 0, 0, 0, 0.25, 0 };
    for (uint32_t i = 0; i < 11; i++)
        assert_true(recsys__fuse_bm25_walk(&fz, &cur, i) == walk[i]);
    recsys__fuse_free(&fz);
    recsys__fuse_free(&fz); /* harmless twice */
    /* no hits at all */
    assert_int_equal(recsys__fuse_init(&fz, &f->mem, NULL, NULL, 0), RECSYS_OK);
    cur = 0;
    assert_true(recsys__fuse_bm25_walk(&fz, &cur, 0) == 0);
    recsys__fuse_free(&fz);
    /* out of memory: nothing held */
    f->oom_stats.fail_at = 1;
    assert_int_equal(recsys__fuse_init(&fz, &f->oom, items, scores, 3), RECSYS_E_NOMEM);
    f->oom_stats.fail_at = 0;
    recsys__fuse_free(&fz);
    /* the score: BM25 part + w x positive cosine; a negative or missing cosine adds nothing */
    assert_true(recsys__fuse_score(0.5, 0.8, 0.5) == 0.5 + 0.5 * 0.8);
    assert_true(recsys__fuse_score(0.5, -0.3, 1) == 0.5);
    assert_true(recsys__fuse_score(0, NAN, 1) == 0);
    assert_true(recsys__fuse_score(0, 1, 2) == 2);
    /* the noise floor: below it nothing, 1 stays 1 */
    assert_true(recsys__fuse_above(1, 0.125) == 1);
    assert_true(recsys__fuse_above(0.125, 0.125) == 0);
    assert_true(recsys__fuse_score(0, recsys__fuse_above(0.1, 0.125), 1) == 0);
    assert_true(recsys__fuse_above(0.3, 0) == 0.3);

    /* two lists: BM25 hits 5 (best), 2, 9 and vector hits 2 (0.9), 7 (0.4), 9 (-0.5),
     * 5 (0.1, under the floor 0.2), weight 0.5: 5 = 1, 2 = 0.5 + 0.5 x 0.875, 9 = 0.25,
     * 7 = 0.5 x 0.25; nothing else */
    const recsys__scored vec[] = { { 2, 0.9 }, { 7, 0.4 }, { 9, -0.5 }, { 5, 0.1 } };
    recsys__topk top;
    assert_int_equal(recsys__topk_init(&top, &f->mem, 10), RECSYS_OK);
    assert_int_equal(recsys__fuse_lists(&f->mem, items, scores, 3, vec, 4, 0.5, 0.2, &top),
                     RECSYS_OK);
    recsys__topk_sort(&top);
    assert_int_equal(top.n, 4);
    const uint32_t order[] = { 5, 2, 9, 7 };
    const double want[] = { 1, 0.5 + 0.5 * 0.875, 0.25, 0.5 * 0.25 };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(top.h[i].item, order[i]);
        assert_true(fabs(top.h[i].score - want[i]) < 1e-12);
    }
    recsys__topk_free(&top);
    /* a vector hit alone, and many of them (the hash grows), the limit kept */
    recsys__scored many[100];
    for (uint32_t i = 0; i < 100; i++)
        many[i] = (recsys__scored){ 1000 + i, (double)i / 100 };
    assert_int_equal(recsys__topk_init(&top, &f->mem, 3), RECSYS_OK);
    assert_int_equal(recsys__fuse_lists(&f->mem, NULL, NULL, 0, many, 100, 1, 0, &top),
                     RECSYS_OK);
    recsys__topk_sort(&top);
    assert_int_equal(top.n, 3);
    assert_int_equal(top.h[0].item, 1099);
    assert_int_equal(top.h[2].item, 1097);
    f->oom_stats.fail_at = 1;
    assert_int_equal(recsys__fuse_lists(&f->oom, items, scores, 3, many, 100, 1, 0, &top),
                     RECSYS_E_NOMEM);
    f->oom_stats.fail_at = 0;
    assert_int_equal(f->oom_stats.live, 0);
    recsys__topk_free(&top);
    fixture_free(f);
}

/* ------------------------------------------------------------------ the index */

static void the_index_holds_hashed_or_text_vectors(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    /* no "text" embedding anywhere: hashed vectors of every live item */
    const void *s = cf_build(f, &recsys__content_vector_builder);
    assert_non_null(s);
    const recsys__vector_info *vi = cinfo(s);
    assert_true(vi->hashed);
    assert_null(vi->embedding);
    assert_false(vi->ials);
    assert_int_equal(vi->n, 12);
    assert_int_equal(vi->dim, 64);
    assert_string_equal(vi->index, "Flat");
    /* the item's vector as indexed: unit, and its own best match */
    enum { DIM = 64 };
    float v[DIM];
    uint32_t gaming = fixture_idx(f, "l_gaming"), got[3];
    float sc[3];
    size_t n = 0;
    assert_true(recsys__vector_item_vector(s, &f->model.catalog, gaming, v));
    assert_true(fabs(dot(v, v, DIM) - 1) < 1e-5);
    assert_int_equal(recsys__vector_search(s, &f->mem, v, DIM, 3, got, sc, &n), RECSYS_OK);
    assert_int_equal(got[0], gaming);
    assert_true(fabs(sc[0] - 1) < 1e-5);
    assert_true(recsys__vector_text_vector(s, "gaming laptop", v));
    assert_false(recsys__vector_item_vector(s, &f->model.catalog, 999, v));

    /* the dimension follows the option; 0 builds nothing (BM25 alone) */
    fixture_set_opt(f, RECSYS_OPT_CONTENT_DIM, 16);
    s = cf_build(f, &recsys__content_vector_builder);
    assert_int_equal(cinfo(s)->dim, 16);
    fixture_set_opt(f, RECSYS_OPT_CONTENT_DIM, 0);
    assert_null(cf_build(f, &recsys__content_vector_builder));

    /* "text" embeddings (some items): those, made unit, and nothing else, even with the
     * dimension option at 0 */
    const float e1[3] = { 3, 0, 4 }, e2[3] = { 0, 2, 0 };
    recsys_item **items = f->model.catalog.items;
    assert_int_equal(recsys__item_set_embedding(&f->mem, items[fixture_idx(f, "c_ml")], "text",
                                                e1, 3),
                     RECSYS_OK);
    assert_int_equal(recsys__item_set_embedding(&f->mem, items[fixture_idx(f, "f_space")],
                                                "text", e2, 3),
                     RECSYS_OK);
    s = cf_build(f, &recsys__content_vector_builder);
    vi = cinfo(s);
    assert_false(vi->hashed);
    assert_string_equal(vi->embedding, "text");
    assert_int_equal(vi->n, 2);
    assert_int_equal(vi->dim, 3);
    assert_true(recsys__vector_item_vector(s, &f->model.catalog, fixture_idx(f, "c_ml"), v));
    assert_true(fabs(v[0] - 0.6f) < 1e-6 && v[1] == 0 && fabs(v[2] - 0.8f) < 1e-6);
    assert_false(recsys__vector_item_vector(s, &f->model.catalog, gaming, v));
    assert_false(recsys__vector_text_vector(s, "space", v)); /* not hashed */
    /* mixed dimensions: back to hashed vectors */
    const float e3[2] = { 1, 1 };
    assert_int_equal(recsys__item_set_embedding(&f->mem, items[gaming], "text", e3, 2),
                     RECSYS_OK);
    fixture_set_opt(f, RECSYS_OPT_CONTENT_DIM, 64);
    s = cf_build(f, &recsys__content_vector_builder);
    assert_true(cinfo(s)->hashed);
    assert_int_equal(cinfo(s)->n, 12);
    /* the vector source's builder is not affected ("default" embeddings: none) */
    assert_null(cf_build(f, &recsys__vector_builder));
    cf_free(f);
}

/* Beyond RECSYS_OPT_VECTOR_EXACT_MAX items the content index is an IVF, as the vector
 * source's; an item's own text still finds it first. */
static void large_catalogs_get_an_ivf(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    static const char *const words[] = { "river", "mountain", "castle", "forest", "desert",
                                         "harbour", "garden", "bridge", "island", "valley" };
    enum { N = 600 };
    char id[16], title[96];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "i%d", i);
        snprintf(title, sizeof title, "%s %s w%d", words[i % 10], words[(i / 10) % 10], i);
        fixture_add_item(f, &(fixture_item_def){ .id = id, .title = title,
                                                 .category = words[(i / 7) % 10] });
    }
    fixture_set_opt(f, RECSYS_OPT_VECTOR_EXACT_MAX, 100);
    const void *s = cf_build(f, &recsys__content_vector_builder);
    assert_int_equal(cinfo(s)->n, N);
    assert_true(strncmp(cinfo(s)->index, "IVF", 3) == 0);
    /* the vector source's factory string does not apply to content */
    f->opts.str[recsys__opt_slot(RECSYS_OPT_VECTOR_INDEX)] = recsys__strdup(&f->mem, "Bogus,X");
    s = cf_build(f, &recsys__content_vector_builder);
    assert_true(strncmp(cinfo(s)->index, "IVF", 3) == 0);
    enum { DIM = 64 };
    float v[DIM];
    uint32_t got[4];
    float sc[4];
    size_t n = 0, hits = 0;
    for (uint32_t i = 0; i < N; i += 37) {
        assert_true(recsys__vector_item_vector(s, &f->model.catalog, i, v));
        assert_int_equal(recsys__vector_search(s, &f->mem, v, DIM, 4, got, sc, &n), RECSYS_OK);
        hits += n > 0 && got[0] == i;
    }
    assert_true(hits >= 15); /* 17 probes; IVF is approximate */
    cf_free(f);
}

/* ------------------------------------------------------------------ the source */

/* A cold-start user whose stated interest is no word of the catalog: the hashed vectors'
 * character trigrams reach the item sharing its stem (in 1024 dimensions: in the default 64
 * the trigrams' signal is below the hash-collision floor, and the host's embedder is what
 * serves this case, the_embedder_places_stated_interests). */
static void cold_start_interests_reach_items_without_a_shared_word(void **state)
{
    (void)state;
    fixture *f = hobby_fixture();
    fixture_refresh(f); /* BM25 */
    /* BM25 alone (no vectors built): "photographer" is no term of the catalog */
    assert_string_equal(content_ids(f, fixture_query(f, "stella", NULL, 10)), "");
    fixture_set_opt(f, RECSYS_OPT_CONTENT_DIM, RECSYS__HASHVEC_DIM_MAX);
    cf_build(f, &recsys__content_vector_builder);
    /* "photograph" trigrams: the photography course, and no other course above the
     * hash-collision floor */
    assert_string_equal(content_ids(f, fixture_query(f, "stella", NULL, 10)), "s_photo");
    /* the weight 0 is BM25 alone again */
    fixture_set_opt(f, RECSYS_OPT_CONTENT_VECTOR_WEIGHT, 0);
    assert_string_equal(content_ids(f, fixture_query(f, "stella", NULL, 10)), "");
    fixture_set_opt(f, RECSYS_OPT_CONTENT_VECTOR_WEIGHT, 0.5);
    /* anonymous and unknown users still get nothing; a zero limit neither */
    assert_string_equal(content_ids(f, fixture_query(f, NULL, "astronomer", 10)), "");
    assert_string_equal(content_ids(f, fixture_query(f, "nobody", NULL, 10)), "");
    assert_string_equal(content_ids(f, fixture_query(f, "stella", NULL, 0)), "");
    /* an excluded item is not proposed */
    fixture_exclude(f, "s_photo");
    assert_string_equal(content_ids(f, fixture_query(f, "stella", NULL, 10)), "");
    cf_free(f);
}

static void words_and_vectors_add_up(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_refresh(f);
    /* dana (interests "machine learning", "space", no events) with BM25 alone */
    char bm[256];
    snprintf(bm, sizeof bm, "%s", content_ids(f, fixture_query(f, "dana", NULL, 10)));
    cf_build(f, &recsys__content_vector_builder);
    recsys_candidates c;
    cf_run(f, recsys__source_content, fixture_query(f, "dana", NULL, 10), &c);
    /* every BM25 hit is still proposed, scores descending, and f_scifi (which nobody ever
     * touched) is among the first */
    for (char *t = strtok(bm, ","); t; t = strtok(NULL, ","))
        assert_true(fixture_cand_pos(f, &c, t) != SIZE_MAX);
    for (size_t i = 1; i < c.n; i++)
        assert_true(c.v[i - 1].score >= c.v[i].score);
    assert_true(fixture_cand_pos(f, &c, "f_scifi") < 4);
    /* a fused score is at most 1 (BM25's best) + w (a cosine of 1) */
    assert_true(c.v[0].score <= 1.5 + 1e-9);
    recsys__cands_free(&c);
    /* "more like this": about the anchor, never the anchor itself */
    recsys_query *q = fixture_query(f, NULL, NULL, 10);
    q->anchor = fixture_idx(f, "c_ml");
    cf_run(f, recsys__source_content, q, &c);
    assert_int_equal(fixture_cand_pos(f, &c, "c_ml"), SIZE_MAX);
    assert_true(fixture_cand_pos(f, &c, "l_ai") < 2); /* gpu, machine learning */
    recsys__cands_free(&c);
    q->anchor = RECSYS_IDS_NONE;
    /* carol's seeds (a recent view, a purchase) are not proposed; family films come */
    cf_run(f, recsys__source_content, fixture_query(f, "carol", NULL, 10), &c);
    assert_int_equal(fixture_cand_pos(f, &c, "f_family"), SIZE_MAX);
    assert_int_equal(fixture_cand_pos(f, &c, "l_ultra"), SIZE_MAX);
    assert_true(c.n > 0);
    recsys__cands_free(&c);
    cf_free(f);
}

/* The engine keeps the content index in step with the catalog (the builder's hooks): an item
 * upserted after the refresh is found at once, a removed one no more. */
static void upserts_between_refreshes_are_found(void **state)
{
    (void)state;
    fixture *f = hobby_fixture();
    fixture_refresh(f);
    fixture_set_opt(f, RECSYS_OPT_CONTENT_DIM, RECSYS__HASHVEC_DIM_MAX);
    void *s = cf_build(f, &recsys__content_vector_builder);
    uint32_t idx = fixture_add_item(f, &(fixture_item_def){
        .id = "s_street", .title = "Street Photographers", .category = "course",
        .tags = "camera,city", .description = "Walk with a photographer." });
    assert_int_equal(recsys__content_vector_hooks.reserve(&f->mem, s, &f->model, 1), RECSYS_OK);
    recsys__content_vector_hooks.item_changed(&f->mem, s, &f->model, idx);
    assert_int_equal(cinfo(s)->delta, 1);
    /* BM25 (built before) does not know it; the vectors do, and it matches best (the very
     * word, where the older course shares trigrams) */
    assert_string_equal(content_ids(f, fixture_query(f, "stella", NULL, 10)),
                        "s_street,s_photo");
    /* removed: gone from the vectors too */
    fixture_remove(f, "s_photo");
    assert_int_equal(recsys__content_vector_hooks.reserve(&f->mem, s, &f->model, 1), RECSYS_OK);
    recsys__content_vector_hooks.item_changed(&f->mem, s, &f->model, fixture_idx(f, "s_photo"));
    assert_int_equal(cinfo(s)->stale, 1);
    assert_string_equal(content_ids(f, fixture_query(f, "stella", NULL, 10)), "s_street");
    cf_free(f);
}

/* ------------------------------------------------------------------ out of memory */

static void out_of_memory_leaks_nothing(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_refresh(f);
    /* the builder: every failure NOMEM with no state, nothing leaks */
    recsys__build_ctx c = cf_ctx(f, &f->oom);
    void *s = NULL;
    long n;
    for (n = 1;; n++) {
        f->oom_stats.fail_at = n;
        recsys_status st = recsys__content_vector_builder.build(&c, &s);
        f->oom_stats.fail_at = 0;
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(s);
        assert_int_equal(f->oom_stats.live, 0);
    }
    assert_true(n > 3);
    assert_non_null(s);
    recsys__content_vector_builder.free(&f->oom, s);
    assert_int_equal(f->oom_stats.live, 0);

    /* a request: every failure NOMEM, nothing leaks, then the full answer */
    cf_build(f, &recsys__content_vector_builder);
    size_t got = 0;
    assert_true(fixture_retrieve_oom(f, recsys__source_content,
                                     fixture_query(f, "dana", NULL, 10), &got) > 2);
    assert_true(got >= 3);
    char full[256];
    snprintf(full, sizeof full, "%s", content_ids(f, fixture_query(f, "dana", NULL, 10)));

    /* upkeep between refreshes is best effort: reserve never fails; a change it could not
     * make room for leaves the vectors (a removal is always recorded). The state lives in
     * f->oom here, so that its reserve can fail. */
    cf_drop(f, &recsys__content_vector_builder);
    assert_int_equal(recsys__content_vector_builder.build(&c, &s), RECSYS_OK);
    f->derived.state[RECSYS__DERIVED_CONTENT] = s;
    uint32_t idx = fixture_add_item(f, &(fixture_item_def){ .id = "x_new", .title = "Space "
                                                            "Machine Learning",
                                                            .tags = "space" });
    f->oom_stats.fail_at = 1;
    assert_int_equal(recsys__content_vector_hooks.reserve(&f->oom, s, &f->model, 1), RECSYS_OK);
    f->oom_stats.fail_at = 0;
    recsys__content_vector_hooks.item_changed(&f->oom, s, &f->model, idx);
    assert_int_equal(cinfo(s)->delta, 0);
    assert_string_equal(content_ids(f, fixture_query(f, "dana", NULL, 10)), full);
    fixture_remove(f, "f_scifi");
    f->oom_stats.fail_at = 1;
    assert_int_equal(recsys__content_vector_hooks.reserve(&f->oom, s, &f->model, 1), RECSYS_OK);
    f->oom_stats.fail_at = 0;
    recsys__content_vector_hooks.item_changed(&f->oom, s, &f->model, fixture_idx(f, "f_scifi"));
    assert_int_equal(cinfo(s)->stale, 1);
    assert_null(strstr(content_ids(f, fixture_query(f, "dana", NULL, 10)), "f_scifi"));
    /* with room the new item comes in */
    assert_int_equal(recsys__content_vector_hooks.reserve(&f->oom, s, &f->model, 1), RECSYS_OK);
    recsys__content_vector_hooks.item_changed(&f->oom, s, &f->model, idx);
    assert_int_equal(cinfo(s)->delta, 1);
    assert_non_null(strstr(content_ids(f, fixture_query(f, "dana", NULL, 10)), "x_new"));
    recsys__content_vector_builder.free(&f->oom, s);
    f->derived.state[RECSYS__DERIVED_CONTENT] = NULL;
    assert_int_equal(f->oom_stats.live, 0);
    cf_free(f);
}

/* ------------------------------------------------------------------ the host's embedder */

/* A toy embedder of three axes: "rocket"/"orbit" -> x, "kitchen"/"chef" -> y, else z;
 * "broken" fails, "mute" returns no vector, "flat" returns two dimensions. */
typedef struct axes {
    int calls;
    char last[128];
} axes;

static recsys_status axes_embed(void *ctx, const char *text, size_t len, recsys_vector_sink *out)
{
    axes *a = ctx;
    a->calls++;
    snprintf(a->last, sizeof a->last, "%.*s", (int)len, text);
    if (strstr(a->last, "broken"))
        return recsys_error_set(RECSYS_E_IO, "embedding service down");
    if (strstr(a->last, "mute"))
        return RECSYS_OK;
    const float flat[2] = { 1, 0 };
    if (strstr(a->last, "flat"))
        return recsys_vector_sink_set(out, flat, 2);
    float v[3] = { 0, 0, 1 };
    if (strstr(a->last, "rocket") || strstr(a->last, "orbit"))
        v[0] = 1, v[2] = 0;
    else if (strstr(a->last, "kitchen") || strstr(a->last, "chef"))
        v[1] = 1, v[2] = 0;
    return recsys_vector_sink_set(out, v, 3);
}

static const char *axes_items =
    "[{\"item_id\":\"t_launch\",\"title\":\"Launch Day\",\"category\":\"film\","
    "\"embeddings\":{\"text\":[2,0,0]}},"
    "{\"item_id\":\"t_moon\",\"title\":\"Moon Walk\",\"category\":\"film\","
    "\"embeddings\":{\"text\":[0.6,0,0.8]}},"
    "{\"item_id\":\"t_soup\",\"title\":\"Soup Season\",\"category\":\"course\","
    "\"embeddings\":{\"text\":[0,1,0]}},"
    "{\"item_id\":\"t_plain\",\"title\":\"Plain Words\",\"category\":\"course\"}]";

static const char *const SOURCES[] = { "search", "campaign", "popular", "trending", "itemknn",
                                       "rp3beta", "session", "ease", "ials", "vector" };

/* tk_engine with content the only source, the axes catalog and embedder, refreshed. */
static recsys_engine *axes_engine(const recsys_allocator *alloc, axes *a)
{
    recsys_engine *e = tk_engine(alloc, NULL);
    for (size_t i = 0; i < sizeof SOURCES / sizeof *SOURCES; i++) {
        recsys_status st = recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, SOURCES[i], 0);
        assert_true(st == RECSYS_OK || st == RECSYS_E_NOT_FOUND);
    }
    RECSYS_INIT(recsys_embedder_vtable, vt, .ctx = a, .embed = axes_embed);
    assert_int_equal(recsys_engine_set_embedder(e, "axes", &vt), RECSYS_OK);
    assert_int_equal(recsys_catalog_upsert_json(e, axes_items, strlen(axes_items)), RECSYS_OK);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    return e;
}

static void set_interests(recsys_engine *e, const char *user, const char *interests)
{
    char js[256];
    snprintf(js, sizeof js, "{\"user_id\":\"%s\",\"interests\":[\"%s\"]}", user, interests);
    assert_int_equal(recsys_user_upsert_json(e, js, strlen(js)), RECSYS_OK);
}

static char g_msg[512];

/* The ids content proposed for user, in list order ("-" when none); want is the status. */
static const char *recommend_ids(recsys_engine *e, const char *user, recsys_status want)
{
    static char buf[512]; /* test-only scratch */
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_user(rq, user), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_TOP_N, 20), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    recsys_result *r = NULL;
    recsys_status st = recsys_recommend(e, rq, &r);
    snprintf(g_msg, sizeof g_msg, "%s", recsys_last_error());
    if (st != want)
        print_error("recommend: %s\n", g_msg);
    assert_int_equal(st, want);
    buf[0] = '\0';
    for (size_t i = 0; r && i < recsys_result_count(r); i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", buf[0] ? "," : "",
                 recsys_result_item_id(r, i));
    recsys_result_free(r);
    recsys_request_free(rq);
    return buf[0] ? buf : "-";
}

static void the_embedder_places_stated_interests(void **state)
{
    (void)state;
    axes a = { 0 };
    recsys_engine *e = axes_engine(NULL, &a);
    const recsys__vector_info *vi = cinfo(e->derived->state[RECSYS__DERIVED_CONTENT]);
    assert_false(vi->hashed);
    assert_string_equal(vi->embedding, "text");
    assert_int_equal(vi->n, 3);
    /* "rockets" is no word of the catalog: the embedder's vector finds the launch (cosine 1)
     * and the moon walk (0.6), not the soup (0) */
    set_interests(e, "u-cold", "rockets");
    assert_string_equal(recommend_ids(e, "u-cold", RECSYS_OK), "t_launch,t_moon");
    assert_int_equal(a.calls, 1);
    assert_string_equal(a.last, "rockets");
    /* a user without interests: the embedder is not called */
    int calls = a.calls;
    tk_feedback(e, "u-seed", "t_soup", RECSYS_EVENT_LIKE, TK_NOW - 60);
    assert_string_equal(recommend_ids(e, "u-seed", RECSYS_OK), "-"); /* only the seed is soupy */
    assert_int_equal(a.calls, calls);
    /* seeds and interests together: the seed's direction and the interests' */
    set_interests(e, "u-seed", "chef knives");
    assert_string_equal(recommend_ids(e, "u-seed", RECSYS_OK), "-"); /* soup is the seed */
    set_interests(e, "u-seed", "orbit");
    const char *both = recommend_ids(e, "u-seed", RECSYS_OK);
    assert_non_null(strstr(both, "t_launch"));
    assert_null(strstr(both, "t_soup")); /* seen */

    /* the embedder's failure is the source's, named */
    set_interests(e, "u-cold", "broken rockets");
    assert_string_equal(recommend_ids(e, "u-cold", RECSYS_E_IO), "-");
    assert_non_null(strstr(g_msg, "source 'content'"));
    assert_non_null(strstr(g_msg, "embedder 'axes'"));
    assert_non_null(strstr(g_msg, "embedding service down"));
    set_interests(e, "u-cold", "mute rockets");
    assert_string_equal(recommend_ids(e, "u-cold", RECSYS_E_CALLBACK), "-");
    assert_non_null(strstr(g_msg, "embedder 'axes': returned no vector"));
    /* a vector of another dimension than the items' "text" embeddings */
    set_interests(e, "u-cold", "flat rockets");
    assert_string_equal(recommend_ids(e, "u-cold", RECSYS_E_CALLBACK), "-");
    assert_non_null(strstr(g_msg, "source 'content'"));
    assert_non_null(strstr(g_msg, "2 dimensions, the items' \"text\" embeddings 3"));
    /* the embedder disabled: the interests count through BM25 alone */
    assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_EMBEDDER, "axes", 0),
                     RECSYS_OK);
    calls = a.calls;
    assert_string_equal(recommend_ids(e, "u-cold", RECSYS_OK), "-");
    set_interests(e, "u-cold", "launch");
    assert_string_equal(recommend_ids(e, "u-cold", RECSYS_OK), "t_launch");
    assert_int_equal(a.calls, calls);
    recsys_engine_free(e);
}

/* Through the engine: a new item is proposed by content without a refresh (nobody has
 * interacted with it, BM25 does not know it yet), a removed one no more; the index is saved
 * and read back by the next refresh. */
static void the_engine_follows_the_catalog(void **state)
{
    (void)state;
    recsys_engine *e = tk_engine(NULL, NULL);
    for (size_t i = 0; i < sizeof SOURCES / sizeof *SOURCES; i++) {
        recsys_status st = recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, SOURCES[i], 0);
        assert_true(st == RECSYS_OK || st == RECSYS_E_NOT_FOUND);
    }
    const void *s = e->derived->state[RECSYS__DERIVED_CONTENT];
    assert_true(cinfo(s)->hashed);
    assert_int_equal(cinfo(s)->n, tk_nitems);
    /* (a word no item has: whatever content proposes comes from hash collisions; a one-word
     * text collides harder than the floor assumes, so a few items may pass it) */
    set_interests(e, "u-stars", "astronomy");
    char before[512];
    snprintf(before, sizeof before, "%s", recommend_ids(e, "u-stars", RECSYS_OK));
    const char *js = "{\"item_id\":\"n_astro\",\"title\":\"Astronomy Night\","
                     "\"category\":\"education\",\"tags\":[\"stars\"]}";
    assert_int_equal(recsys_catalog_upsert_json(e, js, strlen(js)), RECSYS_OK);
    assert_int_equal(cinfo(s)->delta, 1);
    assert_true(strncmp(recommend_ids(e, "u-stars", RECSYS_OK), "n_astro", 7) == 0);
    assert_int_equal(recsys_catalog_remove(e, "n_astro"), RECSYS_OK);
    assert_string_equal(recommend_ids(e, "u-stars", RECSYS_OK), before);
    assert_int_equal(recsys_catalog_upsert_json(e, js, strlen(js)), RECSYS_OK);
    /* the refresh builds it in (and saves the index); the one after reads the saved copy */
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    s = e->derived->state[RECSYS__DERIVED_CONTENT];
    assert_int_equal(cinfo(s)->n, tk_nitems + 1);
    assert_int_equal(cinfo(s)->delta, 0);
    assert_false(cinfo(s)->loaded);
    char built[512];
    snprintf(built, sizeof built, "%s", recommend_ids(e, "u-stars", RECSYS_OK));
    assert_true(strncmp(built, "n_astro", 7) == 0);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    s = e->derived->state[RECSYS__DERIVED_CONTENT];
    assert_true(cinfo(s)->loaded);
    assert_string_equal(recommend_ids(e, "u-stars", RECSYS_OK), built);
    /* the content source off: no content index is built */
    assert_int_equal(recsys_engine_plugin_enable(e, RECSYS_PLUGIN_SOURCE, "content", 0),
                     RECSYS_OK);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    assert_null(e->derived->state[RECSYS__DERIVED_CONTENT]);
    recsys_engine_free(e);
}

/* A request with the embedder under the out-of-memory loop: every failure NOMEM, nothing
 * leaks; the options are in the table. */
static void engine_request_oom_loop_and_options(void **state)
{
    (void)state;
    tk_alloc al;
    recsys_allocator rec;
    tk_alloc_init(&al, &rec);
    axes a = { 0 };
    recsys_engine *e = axes_engine(&rec, &a);
    set_interests(e, "u-cold", "rockets");
    tk_feedback(e, "u-cold", "t_plain", RECSYS_EVENT_VIEW, TK_NOW - 60);
    recsys_request *rq = NULL;
    assert_int_equal(recsys_request_new(&rq), RECSYS_OK);
    assert_int_equal(recsys_request_set_user(rq, "u-cold"), RECSYS_OK);
    assert_int_equal(recsys_request_set_int(rq, RECSYS_OPT_LOG_IMPRESSIONS, 0), RECSYS_OK);
    long k;
    recsys_result *r = NULL;
    for (k = 0;; k++) {
        al.fail_at = al.count + k;
        recsys_status st = recsys_recommend(e, rq, &r);
        al.fail_at = -1;
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(r);
        assert_true(strlen(recsys_last_error()) > 0);
    }
    assert_true(k > 3);
    assert_true(recsys_result_count(r) >= 2);
    assert_string_equal(recsys_result_item_id(r, 0), "t_launch");
    recsys_result_free(r);
    recsys_request_free(rq);
    recsys_engine_free(e);
    assert_int_equal(al.live, 0);

    /* the options */
    int32_t key = 0;
    assert_int_equal(recsys_option_by_name("retrieve.content_dim", &key), RECSYS_OK);
    assert_int_equal(key, RECSYS_OPT_CONTENT_DIM);
    assert_int_equal(recsys_option_by_name("retrieve.content_vector_weight", &key), RECSYS_OK);
    assert_int_equal(key, RECSYS_OPT_CONTENT_VECTOR_WEIGHT);
    recsys_option_desc d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    assert_int_equal(recsys_option_info(RECSYS_OPT_CONTENT_DIM, &d), RECSYS_OK);
    assert_true(d.default_value == 64 && d.min_value == 0 && d.max_value == 1024);
    assert_int_equal(recsys_option_info(RECSYS_OPT_CONTENT_VECTOR_WEIGHT, &d), RECSYS_OK);
    assert_true(d.default_value == 0.5 && d.type == RECSYS_OPTTYPE_DOUBLE);
    e = tk_engine(NULL, NULL);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_CONTENT_DIM, 2048),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_engine_set_double(e, RECSYS_OPT_CONTENT_VECTOR_WEIGHT, -1),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys_engine_set_int(e, RECSYS_OPT_CONTENT_DIM, 128), RECSYS_OK);
    assert_int_equal(recsys_refresh(e), RECSYS_OK);
    assert_int_equal(cinfo(e->derived->state[RECSYS__DERIVED_CONTENT])->dim, 128);
    recsys_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hashed_vectors_are_unit_and_share_stems),
        cmocka_unit_test(fusion_adds_relative_bm25_and_positive_cosine),
        cmocka_unit_test(the_index_holds_hashed_or_text_vectors),
        cmocka_unit_test(large_catalogs_get_an_ivf),
        cmocka_unit_test(cold_start_interests_reach_items_without_a_shared_word),
        cmocka_unit_test(words_and_vectors_add_up),
        cmocka_unit_test(upserts_between_refreshes_are_found),
        cmocka_unit_test(out_of_memory_leaks_nothing),
        cmocka_unit_test(the_embedder_places_stated_interests),
        cmocka_unit_test(the_engine_follows_the_catalog),
        cmocka_unit_test(engine_request_oom_loop_and_options),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("retrieve/content", tests, NULL, NULL);
}
