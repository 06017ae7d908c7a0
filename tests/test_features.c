/* test_features.c - feature enrichment (lib/rank/features.c): every column on a hand-built
 * model, user and candidate set with known values, the NaN cases, anonymous and unknown
 * users, items without vectors, independence from the candidates' order, the one-allocation
 * rule under a counting allocator, and (printed, not asserted) the cost for 1000 candidates. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <cmocka.h>

#include "rank/affinity.h"
#include "rank/features.h"
#include "rank/rankers.h"
#include "retrieve/merge.h"
#include "support/fixture.h"

static const int64_t now = FIXTURE_NOW, day = FIXTURE_DAY, hour = FIXTURE_HOUR;

/* ------------------------------------------------------------ helpers */

/* The feature rows of c (free with free()). */
static float *rows_of(fixture *f, recsys_candidates *c)
{
    float *x = malloc((c->n ? c->n : 1) * RECSYS__NFEAT * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < c->n * RECSYS__NFEAT; i++)
        x[i] = -12345.0f; /* every column must be written */
    assert_int_equal(recsys__features_compute(&f->q, c, x), RECSYS_OK);
    return x;
}

static const float *row_of(fixture *f, recsys_candidates *c, const float *x, const char *id)
{
    size_t i = fixture_cand_pos(f, c, id);
    assert_true(i != SIZE_MAX);
    return x + i * RECSYS__NFEAT;
}

#define FEQ(a, b) assert_float_equal((a), (b), 1e-6)

/* Asserts every column of every row is written (no sentinel left). */
static void all_written(const recsys_candidates *c, const float *x)
{
    for (size_t i = 0; i < c->n * RECSYS__NFEAT; i++)
        if (x[i] == -12345.0f)
            fail_msg("row %zu column %s not written", i / RECSYS__NFEAT,
                     recsys__feature_names[i % RECSYS__NFEAT]);
}

/* Item vectors for the tests: a table by item index; has[i] false = no vector. */
#define TV_MAX 4096
typedef struct tvecs {
    size_t dim;
    float *v; /* TV_MAX x dim */
    bool has[TV_MAX];
} tvecs;

static const float *tvec(const recsys_query *q, uint32_t item)
{
    const tvecs *t = q->vec_ctx;
    return item < TV_MAX && t->has[item] ? t->v + (size_t)item * t->dim : NULL;
}

static tvecs *tvecs_new(size_t dim)
{
    tvecs *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->dim = dim;
    t->v = calloc(TV_MAX * dim, sizeof *t->v);
    assert_non_null(t->v);
    return t;
}

static void tvecs_free(tvecs *t)
{
    free(t->v);
    free(t);
}

static void tvec_set(fixture *f, tvecs *t, const char *id, const float *v)
{
    uint32_t i = fixture_idx(f, id);
    memcpy(t->v + (size_t)i * t->dim, v, t->dim * sizeof *v);
    t->has[i] = true;
}

static void use_vectors(fixture *f, tvecs *t, const float *user_vec)
{
    f->q.item_vec = tvec;
    f->q.vec_ctx = t;
    f->q.vec_dim = t->dim;
    f->q.user_vec = user_vec;
}

static recsys_item *mut(fixture *f, const char *id)
{
    return (recsys_item *)fixture_get(f, id);
}

/* ------------------------------------------------------------ the layout */

static void layout_is_fixed_and_documented(void **state)
{
    (void)state;
    assert_int_equal(RECSYS__NFEAT, 40);
    assert_int_equal(recsys__features_count(), RECSYS__NFEAT);
    assert_null(recsys__features_name(RECSYS__NFEAT));
    for (size_t f = 0; f < RECSYS__NFEAT; f++) {
        const recsys__feature_info *fi = &recsys__feature_table[f];
        assert_non_null(fi->name);
        assert_non_null(fi->doc);
        assert_ptr_equal(recsys__features_name(f), fi->name);
        assert_ptr_equal(recsys__feature_names[f], fi->name);
        assert_true(fi->kind == RECSYS__FEAT_BOUNDED || fi->scale > 0);
        for (size_t g = 0; g < f; g++)
            assert_string_not_equal(fi->name, recsys__feature_names[g]);
    }
    /* the provenance columns follow the built-in sources' order */
    for (size_t b = 0; b < RECSYS__FEAT_NSRC; b++) {
        char want[64];
        snprintf(want, sizeof want, "src_%s_score", recsys__feature_sources[b]);
        assert_string_equal(recsys__feature_names[RECSYS__FEAT_SRC_FIRST + 2 * b], want);
        snprintf(want, sizeof want, "src_%s_rr", recsys__feature_sources[b]);
        assert_string_equal(recsys__feature_names[RECSYS__FEAT_SRC_FIRST + 2 * b + 1], want);
    }
    assert_string_equal(recsys__feature_names[RECSYS__FEAT_PRICE_REL], "price_rel");
    assert_string_equal(recsys__feature_names[RECSYS__FEAT_UNKNOWN_USER], "unknown_user");
    assert_true(recsys__features_fingerprint() == recsys__features_fingerprint());
    assert_true(recsys__features_fingerprint() != 0);
}

/* ------------------------------------------------------------ provenance */

static void provenance_columns(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_query(f, "bob", NULL, 100);
    static const char *const names[] = { "vector", "my_host", "popular", "other_host", "ials" };
    const char *ids[] = { "c_ml", "c_ml,c_cook", "l_gaming,c_ml,f_space", "l_gaming,c_ml", NULL };
    recsys_candidates lists[5], c;
    for (int k = 0; k < 5; k++)
        fixture_cands(f, &lists[k], ids[k]);
    const double w[5] = { 1, 1, 1, 1, 1 };
    recsys__cands_init(&c, &f->mem, &f->q, 0);
    c.source_names = names;
    c.nsources = 5;
    assert_int_equal(recsys__merge(&c, lists, w, 5), RECSYS_OK);
    for (int k = 0; k < 5; k++)
        recsys__cands_free(&lists[k]);
    float *x = rows_of(f, &c);
    all_written(&c, x);
    /* merged: c_ml (1 + 1 + .5 + 0) / 4, l_gaming (1 + 1) / 4, c_cook 0, f_space 0 */
    const float *r = row_of(f, &c, x, "c_ml");
    FEQ(r[RECSYS__FEAT_VECTOR_SCORE], 1);
    FEQ(r[RECSYS__FEAT_VECTOR_RR], 1);
    FEQ(r[RECSYS__FEAT_POPULAR_SCORE], 0.5);
    FEQ(r[RECSYS__FEAT_POPULAR_RR], 0.5);
    FEQ(r[RECSYS__FEAT_IALS_SCORE], 0);
    FEQ(r[RECSYS__FEAT_IALS_RR], 0);
    FEQ(r[RECSYS__FEAT_CONTENT_SCORE], 0);
    FEQ(r[RECSYS__FEAT_CONTENT_RR], 0);
    FEQ(r[RECSYS__FEAT_HOST_SCORE], 1 + 0);
    FEQ(r[RECSYS__FEAT_NSOURCES], 4);
    FEQ(r[RECSYS__FEAT_MERGED_SCORE], 0.625);
    FEQ(r[RECSYS__FEAT_MERGED_RR], 1);
    r = row_of(f, &c, x, "l_gaming");
    FEQ(r[RECSYS__FEAT_POPULAR_SCORE], 1);
    FEQ(r[RECSYS__FEAT_POPULAR_RR], 1);
    FEQ(r[RECSYS__FEAT_VECTOR_SCORE], 0);
    FEQ(r[RECSYS__FEAT_VECTOR_RR], 0);
    FEQ(r[RECSYS__FEAT_HOST_SCORE], 1);
    FEQ(r[RECSYS__FEAT_NSOURCES], 2);
    FEQ(r[RECSYS__FEAT_MERGED_SCORE], 0.5);
    FEQ(r[RECSYS__FEAT_MERGED_RR], 0.5);
    r = row_of(f, &c, x, "c_cook"); /* only my_host, normalised to 0 */
    FEQ(r[RECSYS__FEAT_HOST_SCORE], 0);
    FEQ(r[RECSYS__FEAT_NSOURCES], 1);
    FEQ(r[RECSYS__FEAT_MERGED_RR], 1.0 / 3); /* ties at 0: c_cook before f_space by id */
    r = row_of(f, &c, x, "f_space"); /* proposed last by popular: score 0, yet a rank */
    FEQ(r[RECSYS__FEAT_POPULAR_SCORE], 0);
    FEQ(r[RECSYS__FEAT_POPULAR_RR], 1.0 / 3);
    FEQ(r[RECSYS__FEAT_NSOURCES], 1);
    FEQ(r[RECSYS__FEAT_MERGED_RR], 0.25);
    free(x);
    recsys__cands_free(&c);

    /* a set without provenance: no source columns, the merged order from the scores */
    fixture_cands(f, &c, "f_space,c_cook,l_gaming");
    x = rows_of(f, &c);
    for (size_t i = 0; i < 3; i++) {
        for (size_t k = 0; k <= RECSYS__FEAT_HOST_SCORE; k++)
            FEQ(x[i * RECSYS__NFEAT + k], 0);
        FEQ(x[i * RECSYS__NFEAT + RECSYS__FEAT_MERGED_SCORE], 3.0 - (double)i);
        FEQ(x[i * RECSYS__NFEAT + RECSYS__FEAT_MERGED_RR], 1.0 / (1.0 + (double)i));
    }
    free(x);
    recsys__cands_free(&c);
    fixture_free(f);
}

/* ------------------------------------------------------------ users */

static void anonymous_and_unknown_users(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_event(f, "bob", "l_gaming", RECSYS_EVENT_LIKE, 0, now - 60);
    const char *users[] = { NULL, "", "ghost", "bob" };
    for (int u = 0; u < 4; u++) {
        fixture_query(f, users[u], NULL, 100);
        recsys_candidates c;
        fixture_cands(f, &c, "l_ultra,c_ml");
        float *x = rows_of(f, &c);
        all_written(&c, x);
        const float *r = row_of(f, &c, x, "l_ultra");
        FEQ(r[RECSYS__FEAT_ANONYMOUS], u < 2 ? 1 : 0);
        FEQ(r[RECSYS__FEAT_UNKNOWN_USER], u == 2 ? 1 : 0);
        static const int personal[] = { RECSYS__FEAT_LT_CATEGORY, RECSYS__FEAT_LT_TAG,
                                        RECSYS__FEAT_SESSION_CATEGORY, RECSYS__FEAT_SESSION_TAG,
                                        RECSYS__FEAT_PRICE_REL, RECSYS__FEAT_RECENT_SIMILAR,
                                        RECSYS__FEAT_NEGATIVE_SIM };
        for (size_t k = 0; k < sizeof personal / sizeof personal[0]; k++)
            assert_true(u < 3 ? isnan(r[personal[k]]) : !isnan(r[personal[k]]));
        /* bob: laptop liked a minute ago, price 1099 / 1899 */
        if (u == 3) {
            FEQ(r[RECSYS__FEAT_LT_CATEGORY], 1);
            FEQ(r[RECSYS__FEAT_SESSION_CATEGORY], 1);
            FEQ(r[RECSYS__FEAT_PRICE_REL], 1099.0 / 1899.0);
        }
        /* no vectors at all: emb_cosine missing for everybody */
        assert_true(isnan(r[RECSYS__FEAT_EMB_COSINE]));
        free(x);
        recsys__cands_free(&c);
    }
    fixture_free(f);
}

/* ------------------------------------------------------------ affinities */

/* Scores c with the blend ranker under the given weights (source, category, tag, session). */
static void blend_with(fixture *f, recsys_candidates *c, double ws, double wc, double wt,
                       double wss)
{
    fixture_set_opt(f, RECSYS_OPT_RANK_W_SOURCE, ws);
    fixture_set_opt(f, RECSYS_OPT_RANK_W_CATEGORY, wc);
    fixture_set_opt(f, RECSYS_OPT_RANK_W_TAG, wt);
    fixture_set_opt(f, RECSYS_OPT_RANK_W_SESSION, wss);
    recsys_ranker_vtable vt;
    assert_int_equal(recsys__ranker_blend(&f->mem, &vt), RECSYS_OK);
    assert_int_equal(vt.score(vt.ctx, &f->q, c), RECSYS_OK);
}

static void affinities_are_the_blend_rankers(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_event(f, "bob", "l_gaming", RECSYS_EVENT_LIKE, 0, now - day);
    fixture_event(f, "bob", "f_horror", RECSYS_EVENT_DISLIKE, 0, now - hour);
    fixture_event(f, "bob", "c_ml", RECSYS_EVENT_WATCH_TIME, 600, now - 5 * 60);
    fixture_event(f, "dana", "f_space", RECSYS_EVENT_VIEW, 0, now - 10 * 60);
    const char *all = "c_dist,c_ml,c_sys,c_cook,l_gaming,l_ultra,l_ai,l_eu,f_horror,f_family,"
                      "f_space,f_scifi";
    const char *users[] = { "bob", "dana", "carol", "alice" };
    for (int u = 0; u < 4; u++) {
        fixture_query(f, users[u], NULL, 100);
        recsys_candidates c;
        fixture_cands(f, &c, all);
        float *x = rows_of(f, &c);
        all_written(&c, x);
        /* each blend weight alone reads back one affinity */
        static const double wts[3][4] = { { 0, 1, 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0, 2 } };
        for (int k = 0; k < 3; k++) {
            recsys_candidates b;
            fixture_cands(f, &b, all);
            blend_with(f, &b, wts[k][0], wts[k][1], wts[k][2], wts[k][3]);
            for (size_t i = 0; i < c.n; i++) {
                const float *r = x + i * RECSYS__NFEAT;
                double want = b.v[i].score;
                double got = k == 0 ? r[RECSYS__FEAT_LT_CATEGORY]
                           : k == 1 ? r[RECSYS__FEAT_LT_TAG]
                                    : (isnan(r[RECSYS__FEAT_SESSION_CATEGORY])
                                           ? 0
                                           : r[RECSYS__FEAT_SESSION_CATEGORY] +
                                                 r[RECSYS__FEAT_SESSION_TAG]);
                assert_float_equal(got, want, 1e-6);
            }
            recsys__cands_free(&b);
        }
        free(x);
        recsys__cands_free(&c);
    }
    fixture_free(f);
}

static void affinity_values_by_hand(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    /* bob: like l_gaming (laptop, gpu, gaming +3) and view c_dist (education, backend,
     * scalability, architecture +1), a day ago: no current session */
    fixture_event(f, "bob", "l_gaming", RECSYS_EVENT_LIKE, 0, now - day);
    fixture_event(f, "bob", "c_dist", RECSYS_EVENT_VIEW, 0, now - day);
    fixture_query(f, "bob", NULL, 100);
    recsys_candidates c;
    fixture_cands(f, &c, "l_ultra,c_sys,c_cook,l_ai");
    float *x = rows_of(f, &c);
    /* (one day of the 90-day half-life decays every affinity alike: ratios stay) */
    FEQ(row_of(f, &c, x, "l_ultra")[RECSYS__FEAT_LT_CATEGORY], 1);
    FEQ(row_of(f, &c, x, "l_ultra")[RECSYS__FEAT_LT_TAG], 0);
    FEQ(row_of(f, &c, x, "c_sys")[RECSYS__FEAT_LT_CATEGORY], 1.0 / 3);
    FEQ(row_of(f, &c, x, "c_sys")[RECSYS__FEAT_LT_TAG], 1.0 / 3);
    FEQ(row_of(f, &c, x, "l_ai")[RECSYS__FEAT_LT_TAG], 1); /* gpu */
    FEQ(row_of(f, &c, x, "c_cook")[RECSYS__FEAT_LT_CATEGORY], 0);
    assert_true(isnan(row_of(f, &c, x, "l_ultra")[RECSYS__FEAT_SESSION_CATEGORY]));
    assert_true(isnan(row_of(f, &c, x, "l_ultra")[RECSYS__FEAT_SESSION_TAG]));
    free(x);
    recsys__cands_free(&c);

    /* sam looks at a laptop right now: the session holds laptop, gpu, gaming (each 1) */
    fixture_event(f, "sam", "l_gaming", RECSYS_EVENT_VIEW, 0, now - 10 * 60);
    fixture_query(f, "sam", NULL, 100);
    fixture_cands(f, &c, "l_ultra,l_ai,f_family");
    x = rows_of(f, &c);
    FEQ(row_of(f, &c, x, "l_ultra")[RECSYS__FEAT_SESSION_CATEGORY], 1);
    FEQ(row_of(f, &c, x, "l_ultra")[RECSYS__FEAT_SESSION_TAG], 0);
    FEQ(row_of(f, &c, x, "l_ai")[RECSYS__FEAT_SESSION_TAG], 1);
    FEQ(row_of(f, &c, x, "f_family")[RECSYS__FEAT_SESSION_CATEGORY], 0);
    free(x);
    recsys__cands_free(&c);

    /* alice states "scalability" and has no events: the interest counts as a strong positive
     * in the long term; with no history there is no session */
    fixture_query(f, "alice", NULL, 100);
    fixture_cands(f, &c, "c_dist,c_cook");
    x = rows_of(f, &c);
    FEQ(row_of(f, &c, x, "c_dist")[RECSYS__FEAT_LT_TAG], 1);
    FEQ(row_of(f, &c, x, "c_dist")[RECSYS__FEAT_LT_CATEGORY], 0);
    FEQ(row_of(f, &c, x, "c_cook")[RECSYS__FEAT_LT_TAG], 0);
    assert_true(isnan(row_of(f, &c, x, "c_dist")[RECSYS__FEAT_SESSION_TAG]));
    free(x);
    recsys__cands_free(&c);

    /* the affinities are built in the caller's memory, which must be large enough */
    size_t bytes = recsys__affinity_bytes(&f->q);
    assert_true(bytes > 0); /* alice states an interest: at least the memo */
    void *buf = malloc(bytes);
    recsys__affinity aff;
    assert_int_equal(recsys__affinity_build(&aff, &f->q, buf, bytes - 1), RECSYS_E_INTERNAL);
    assert_int_equal(recsys__affinity_build(&aff, &f->q, buf, bytes), RECSYS_OK);
    recsys__item_aff a = recsys__affinity_long(&aff, fixture_get(f, "c_dist"));
    FEQ(a.tag, 1);
    free(buf);
    fixture_query(f, NULL, NULL, 100);
    assert_int_equal(recsys__affinity_bytes(&f->q), 0);
    assert_int_equal(recsys__affinity_build(&aff, &f->q, NULL, 0), RECSYS_OK);
    a = recsys__affinity_long(&aff, fixture_get(f, "c_dist"));
    assert_true(a.category == 0 && a.tag == 0);
    fixture_free(f);
}

/* ------------------------------------------------------------ item columns */

static void popularity_and_trending(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    /* 4 views of c_ml now; 2 views of c_sys one popular half-life (30 days) ago, which is
     * 30 trending half-lives (24 h); a dislike counts nothing */
    fixture_events(f, "pop", "c_ml", RECSYS_EVENT_VIEW, 4, now);
    fixture_events(f, "pop", "c_sys", RECSYS_EVENT_VIEW, 2, now - 30 * day);
    fixture_event(f, "pop", "f_horror", RECSYS_EVENT_DISLIKE, 0, now);
    fixture_query(f, NULL, NULL, 100);
    recsys_candidates c;
    fixture_cands(f, &c, "c_ml,c_sys,f_horror,c_cook");
    float *x = rows_of(f, &c);
    FEQ(row_of(f, &c, x, "c_ml")[RECSYS__FEAT_POPULARITY], log1p(4));
    FEQ(row_of(f, &c, x, "c_ml")[RECSYS__FEAT_TRENDING], log1p(4));
    FEQ(row_of(f, &c, x, "c_sys")[RECSYS__FEAT_POPULARITY], log1p(1));
    FEQ(row_of(f, &c, x, "c_sys")[RECSYS__FEAT_TRENDING], log1p(2 * exp2(-30)));
    FEQ(row_of(f, &c, x, "f_horror")[RECSYS__FEAT_POPULARITY], 0);
    FEQ(row_of(f, &c, x, "c_cook")[RECSYS__FEAT_TRENDING], 0);
    free(x);
    /* the request's half-life decays the counters to now */
    fixture_set_opt(f, RECSYS_OPT_POPULAR_HALF_LIFE_DAYS, 15);
    x = rows_of(f, &c);
    FEQ(row_of(f, &c, x, "c_sys")[RECSYS__FEAT_POPULARITY], log1p(2 * 0.5 * 0.5));
    free(x);
    recsys__cands_free(&c);
    fixture_free(f);
}

static void age_rating_and_price(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    mut(f, "c_ml")->created = now - 3 * day - 12 * hour;
    mut(f, "c_sys")->created = now + day; /* announced for tomorrow */
    assert_int_equal(recsys__item_set_attr(&f->mem, mut(f, "c_ml"), "rating", RECSYS__ATTR_NUM,
                                           4.5, NULL), RECSYS_OK);
    assert_int_equal(recsys__item_set_attr(&f->mem, mut(f, "c_sys"), "rating", RECSYS__ATTR_STR,
                                           0, "good"), RECSYS_OK);
    fixture_query(f, "carol", NULL, 100); /* purchased l_ultra (1099), viewed f_family */
    recsys_candidates c;
    fixture_cands(f, &c, "c_ml,c_sys,c_cook,l_gaming,l_eu");
    float *x = rows_of(f, &c);
    FEQ(row_of(f, &c, x, "c_ml")[RECSYS__FEAT_AGE_DAYS], 3.5);
    FEQ(row_of(f, &c, x, "c_sys")[RECSYS__FEAT_AGE_DAYS], 0);
    assert_true(isnan(row_of(f, &c, x, "c_cook")[RECSYS__FEAT_AGE_DAYS])); /* created 0 */
    FEQ(row_of(f, &c, x, "c_ml")[RECSYS__FEAT_RATING], 4.5);
    assert_true(isnan(row_of(f, &c, x, "c_sys")[RECSYS__FEAT_RATING])); /* not a number */
    assert_true(isnan(row_of(f, &c, x, "c_cook")[RECSYS__FEAT_RATING]));
    /* the mean over carol's recent positives with a price: l_ultra alone */
    FEQ(row_of(f, &c, x, "l_gaming")[RECSYS__FEAT_PRICE_REL], 1899.0 / 1099.0);
    FEQ(row_of(f, &c, x, "l_eu")[RECSYS__FEAT_PRICE_REL], 499.0 / 1099.0);
    assert_true(isnan(row_of(f, &c, x, "c_ml")[RECSYS__FEAT_PRICE_REL])); /* no price */
    free(x);
    recsys__cands_free(&c);

    /* bob: no positives yet, then a view of l_eu (499) and a like of l_gaming (1899): the
     * unweighted mean 1199; a later dislike of l_gaming takes it out of the positives */
    fixture_query(f, "bob", NULL, 100);
    fixture_cands(f, &c, "l_ultra");
    x = rows_of(f, &c);
    assert_true(isnan(x[RECSYS__FEAT_PRICE_REL]));
    free(x);
    recsys__cands_free(&c);
    fixture_event(f, "bob", "l_eu", RECSYS_EVENT_VIEW, 0, now - 2 * day);
    fixture_event(f, "bob", "l_gaming", RECSYS_EVENT_LIKE, 0, now - day);
    fixture_query(f, "bob", NULL, 100);
    fixture_cands(f, &c, "l_ultra");
    x = rows_of(f, &c);
    FEQ(x[RECSYS__FEAT_PRICE_REL], 1099.0 / 1199.0);
    free(x);
    recsys__cands_free(&c);
    fixture_event(f, "bob", "l_gaming", RECSYS_EVENT_DISLIKE, 0, now - hour);
    fixture_query(f, "bob", NULL, 100);
    fixture_cands(f, &c, "l_ultra");
    x = rows_of(f, &c);
    FEQ(x[RECSYS__FEAT_PRICE_REL], 1099.0 / 499.0);
    free(x);
    recsys__cands_free(&c);
    fixture_free(f);
}

static void embedding_cosine(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    tvecs *t = tvecs_new(3);
    tvec_set(f, t, "c_ml", (const float[]){ 1, 0, 0 });
    tvec_set(f, t, "c_sys", (const float[]){ 1, 1, 0 });
    tvec_set(f, t, "c_dist", (const float[]){ -2, 0, 0 });
    tvec_set(f, t, "l_ultra", (const float[]){ 0, 0, 0 }); /* a zero vector */
    const float uv[3] = { 3, 0, 0 };
    fixture_query(f, "bob", NULL, 100);
    use_vectors(f, t, uv);
    recsys_candidates c;
    fixture_cands(f, &c, "c_ml,c_sys,c_dist,l_ultra,c_cook");
    float *x = rows_of(f, &c);
    all_written(&c, x);
    FEQ(row_of(f, &c, x, "c_ml")[RECSYS__FEAT_EMB_COSINE], 1);
    FEQ(row_of(f, &c, x, "c_sys")[RECSYS__FEAT_EMB_COSINE], sqrt(0.5));
    FEQ(row_of(f, &c, x, "c_dist")[RECSYS__FEAT_EMB_COSINE], -1);
    assert_true(isnan(row_of(f, &c, x, "l_ultra")[RECSYS__FEAT_EMB_COSINE]));
    assert_true(isnan(row_of(f, &c, x, "c_cook")[RECSYS__FEAT_EMB_COSINE])); /* no vector */
    free(x);
    /* no user vector: missing for every item */
    f->q.user_vec = NULL;
    x = rows_of(f, &c);
    for (size_t i = 0; i < c.n; i++)
        assert_true(isnan(x[i * RECSYS__NFEAT + RECSYS__FEAT_EMB_COSINE]));
    free(x);
    recsys__cands_free(&c);
    tvecs_free(t);
    fixture_free(f);
}

/* ------------------------------------------------------------ the user's recent items */

static void recent_and_negative_similarity_by_vectors(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    tvecs *t = tvecs_new(2);
    /* bob liked three items; disliked one */
    tvec_set(f, t, "c_ml", (const float[]){ 1, 0 });
    tvec_set(f, t, "c_sys", (const float[]){ 1, 0.5f });
    tvec_set(f, t, "c_dist", (const float[]){ 0, 1 });
    tvec_set(f, t, "f_horror", (const float[]){ -1, 0.2f });
    /* candidates */
    tvec_set(f, t, "l_ai", (const float[]){ 1, 0.1f });    /* near c_ml and c_sys */
    tvec_set(f, t, "l_ultra", (const float[]){ -1, 0 });   /* near f_horror */
    tvec_set(f, t, "f_scifi", (const float[]){ 0.2f, 1 }); /* near c_dist and c_sys */
    fixture_event(f, "bob", "c_ml", RECSYS_EVENT_LIKE, 0, now - 3 * day);
    fixture_event(f, "bob", "c_sys", RECSYS_EVENT_VIEW, 0, now - 2 * day);
    fixture_event(f, "bob", "c_dist", RECSYS_EVENT_PURCHASE, 0, now - day);
    fixture_event(f, "bob", "f_horror", RECSYS_EVENT_DISLIKE, 0, now - hour);
    fixture_event(f, "bob", "l_eu", RECSYS_EVENT_IMPRESSION, 0, now - 60); /* says nothing */
    fixture_query(f, "bob", NULL, 100);
    use_vectors(f, t, NULL);
    recsys_candidates c;
    fixture_cands(f, &c, "l_ai,l_ultra,f_scifi,c_ml,c_cook");
    float *x = rows_of(f, &c);
    FEQ(row_of(f, &c, x, "l_ai")[RECSYS__FEAT_RECENT_SIMILAR], 2);
    FEQ(row_of(f, &c, x, "l_ultra")[RECSYS__FEAT_RECENT_SIMILAR], 0);
    FEQ(row_of(f, &c, x, "f_scifi")[RECSYS__FEAT_RECENT_SIMILAR], 2);
    /* c_ml is one of the recent items: itself does not count, c_sys does */
    FEQ(row_of(f, &c, x, "c_ml")[RECSYS__FEAT_RECENT_SIMILAR], 1);
    /* cos(l_ultra, f_horror) = 1 / sqrt(1.04); l_ai's cosine is negative: 0 */
    FEQ(row_of(f, &c, x, "l_ultra")[RECSYS__FEAT_NEGATIVE_SIM], 1 / sqrt(1.04));
    FEQ(row_of(f, &c, x, "l_ai")[RECSYS__FEAT_NEGATIVE_SIM], 0);
    /* c_cook has no vector: facet overlap with each (no shared facet) */
    FEQ(row_of(f, &c, x, "c_cook")[RECSYS__FEAT_RECENT_SIMILAR], 0);
    FEQ(row_of(f, &c, x, "c_cook")[RECSYS__FEAT_NEGATIVE_SIM], 0);
    free(x);
    recsys__cands_free(&c);

    /* a later like of f_horror: no longer disliked */
    fixture_event(f, "bob", "f_horror", RECSYS_EVENT_LIKE, 0, now - 30);
    fixture_query(f, "bob", NULL, 100);
    use_vectors(f, t, NULL);
    fixture_cands(f, &c, "l_ultra");
    x = rows_of(f, &c);
    FEQ(x[RECSYS__FEAT_NEGATIVE_SIM], 0);
    FEQ(x[RECSYS__FEAT_RECENT_SIMILAR], 1); /* f_horror is a recent positive now */
    free(x);
    recsys__cands_free(&c);
    tvecs_free(t);
    fixture_free(f);
}

static void similarity_by_facets_without_vectors(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    /* c_sys and c_dist share education, scalability, architecture: 3 / 5 >= 0.5;
     * c_ml and c_dist share education only: 1 / 7 */
    fixture_event(f, "bob", "c_dist", RECSYS_EVENT_VIEW, 0, now - day);
    fixture_event(f, "bob", "f_horror", RECSYS_EVENT_DISLIKE, 0, now - day);
    /* exactly on the threshold: education and backend of c_dist's four facets, 2 / 4 */
    fixture_add_item(f, &(fixture_item_def){ .id = "x_half", .category = "education",
                                             .tags = "backend" });
    fixture_query(f, "bob", NULL, 100);
    recsys_candidates c;
    fixture_cands(f, &c, "c_sys,c_ml,f_family,c_cook,x_half");
    float *x = rows_of(f, &c);
    FEQ(row_of(f, &c, x, "x_half")[RECSYS__FEAT_RECENT_SIMILAR], 1);
    FEQ(row_of(f, &c, x, "c_sys")[RECSYS__FEAT_RECENT_SIMILAR], 1);
    FEQ(row_of(f, &c, x, "c_ml")[RECSYS__FEAT_RECENT_SIMILAR], 0);
    /* f_family vs f_horror: film only, 1 / 5 */
    FEQ(row_of(f, &c, x, "f_family")[RECSYS__FEAT_NEGATIVE_SIM], 0.2);
    FEQ(row_of(f, &c, x, "c_cook")[RECSYS__FEAT_NEGATIVE_SIM], 0);
    FEQ(row_of(f, &c, x, "c_sys")[RECSYS__FEAT_NEGATIVE_SIM], 0);
    free(x);
    recsys__cands_free(&c);

    /* carol's profile lists: recent view f_family, purchase l_ultra, negative f_horror */
    fixture_query(f, "carol", NULL, 100);
    fixture_cands(f, &c, "f_space,l_eu,c_cook");
    x = rows_of(f, &c);
    FEQ(row_of(f, &c, x, "f_space")[RECSYS__FEAT_NEGATIVE_SIM], 0.2);
    FEQ(row_of(f, &c, x, "f_space")[RECSYS__FEAT_RECENT_SIMILAR], 0); /* film: 1 / 5 */
    FEQ(row_of(f, &c, x, "l_eu")[RECSYS__FEAT_RECENT_SIMILAR], 0);    /* laptop: 1 / 4 */
    free(x);
    recsys__cands_free(&c);

    /* an item in the same category with the same tags as 25 recent ones: at most 20 count */
    char id[32];
    for (int i = 0; i < 26; i++) {
        snprintf(id, sizeof id, "z%02d", i);
        fixture_add_item(f, &(fixture_item_def){ .id = id, .category = "zeta", .tags = "z" });
        if (i < 25)
            fixture_event(f, "zed", id, RECSYS_EVENT_CLICK, 0, now - day + i);
    }
    fixture_query(f, "zed", NULL, 100);
    fixture_cands(f, &c, "z25,z24");
    x = rows_of(f, &c);
    FEQ(row_of(f, &c, x, "z25")[RECSYS__FEAT_RECENT_SIMILAR], RECSYS__FEAT_RECENT);
    FEQ(row_of(f, &c, x, "z24")[RECSYS__FEAT_RECENT_SIMILAR], RECSYS__FEAT_RECENT - 1);
    free(x);
    recsys__cands_free(&c);
    fixture_free(f);
}

static void mixed_vectors_fall_back_per_pair(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    tvecs *t = tvecs_new(2);
    /* c_dist has a vector, c_sys does not: their pair falls back to facets (3 / 5) */
    tvec_set(f, t, "c_dist", (const float[]){ 1, 0 });
    tvec_set(f, t, "l_ultra", (const float[]){ 0, 1 });
    fixture_event(f, "bob", "c_dist", RECSYS_EVENT_VIEW, 0, now - day);
    fixture_event(f, "bob", "l_gaming", RECSYS_EVENT_VIEW, 0, now - day); /* no vector */
    fixture_query(f, "bob", NULL, 100);
    use_vectors(f, t, NULL);
    recsys_candidates c;
    fixture_cands(f, &c, "c_sys,l_ultra");
    float *x = rows_of(f, &c);
    FEQ(row_of(f, &c, x, "c_sys")[RECSYS__FEAT_RECENT_SIMILAR], 1);
    /* l_ultra: orthogonal to c_dist by vector; laptop only with l_gaming: 1 / 5 */
    FEQ(row_of(f, &c, x, "l_ultra")[RECSYS__FEAT_RECENT_SIMILAR], 0);
    free(x);
    recsys__cands_free(&c);
    tvecs_free(t);
    fixture_free(f);
}

/* ------------------------------------------------------------ whole-set properties */

static void removed_item_gets_missing_item_columns(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_query(f, "carol", NULL, 100);
    recsys_candidates c;
    fixture_cands(f, &c, "c_cook,c_ml");
    fixture_remove(f, "c_cook");
    float *x = rows_of(f, &c);
    all_written(&c, x);
    for (size_t k = RECSYS__FEAT_EMB_COSINE; k <= RECSYS__FEAT_NEGATIVE_SIM; k++)
        assert_true(isnan(x[k]));
    FEQ(x[RECSYS__FEAT_MERGED_RR], 1);
    FEQ(x[RECSYS__FEAT_ANONYMOUS], 0);
    assert_false(isnan(x[RECSYS__NFEAT + RECSYS__FEAT_LT_CATEGORY]));
    free(x);
    recsys__cands_free(&c);
    fixture_free(f);
}

static void rows_do_not_depend_on_candidate_order(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_event(f, "dana", "l_gaming", RECSYS_EVENT_LIKE, 0, now - day);
    fixture_event(f, "dana", "f_horror", RECSYS_EVENT_DISLIKE, 0, now - hour);
    fixture_event(f, "dana", "c_ml", RECSYS_EVENT_VIEW, 0, now - 60);
    fixture_query(f, "dana", NULL, 100);
    static const char *const names[] = { "popular", "h" };
    const double w[2] = { 1, 2 };
    float *rows[2];
    recsys_candidates c[2];
    for (int o = 0; o < 2; o++) {
        recsys_candidates lists[2];
        fixture_cands(f, &lists[0], "c_ml,l_ai,f_space,c_dist");
        fixture_cands(f, &lists[1], "f_space,c_sys");
        recsys__cands_init(&c[o], &f->mem, &f->q, 0);
        c[o].source_names = names;
        c[o].nsources = 2;
        assert_int_equal(recsys__merge(&c[o], lists, w, 2), RECSYS_OK);
        recsys__cands_free(&lists[0]);
        recsys__cands_free(&lists[1]);
        if (o == 1) { /* reverse the merged set's order (provenance stays attached) */
            for (size_t i = 0; i < c[o].n / 2; i++) {
                recsys__cand tmp = c[o].v[i];
                c[o].v[i] = c[o].v[c[o].n - 1 - i];
                c[o].v[c[o].n - 1 - i] = tmp;
            }
        }
        rows[o] = rows_of(f, &c[o]);
    }
    assert_int_equal(c[0].n, c[1].n);
    for (size_t i = 0; i < c[0].n; i++) {
        size_t j = c[1].n - 1 - i;
        assert_int_equal(c[0].v[i].item, c[1].v[j].item);
        assert_memory_equal(rows[0] + i * RECSYS__NFEAT, rows[1] + j * RECSYS__NFEAT,
                            RECSYS__NFEAT * sizeof(float));
    }
    for (int o = 0; o < 2; o++) {
        free(rows[o]);
        recsys__cands_free(&c[o]);
    }
    fixture_free(f);
}

static void one_allocation_per_request(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_event(f, "dana", "l_gaming", RECSYS_EVENT_LIKE, 0, now - day);
    fixture_event(f, "dana", "c_ml", RECSYS_EVENT_VIEW, 0, now - 60);
    const char *users[] = { "dana", NULL, "carol" };
    for (int u = 0; u < 3; u++) {
        fixture_query(f, users[u], NULL, 100);
        recsys_candidates c;
        fixture_cands(f, &c, "c_dist,c_ml,c_sys,c_cook,l_gaming,l_ultra,f_space,f_family");
        c.mem = &f->oom;
        float x[8 * RECSYS__NFEAT];
        long before = f->oom_stats.calls;
        assert_int_equal(recsys__features_compute(&f->q, &c, x), RECSYS_OK);
        assert_int_equal(f->oom_stats.calls - before, 1);
        assert_int_equal(f->oom_stats.live, 0);
        /* the allocation fails: NOMEM, nothing leaked */
        f->oom_stats.fail_at = 1;
        assert_int_equal(recsys__features_compute(&f->q, &c, x), RECSYS_E_NOMEM);
        f->oom_stats.fail_at = 0;
        assert_int_equal(f->oom_stats.live, 0);
        /* caller scratch: none at all */
        size_t bytes = 0;
        assert_int_equal(recsys__features_scratch(&f->q, &c, &bytes), RECSYS_OK);
        assert_true(bytes > 0);
        void *scratch = malloc(bytes);
        before = f->oom_stats.calls;
        assert_int_equal(recsys__features_compute_in(&f->q, &c, x, scratch, bytes), RECSYS_OK);
        assert_int_equal(f->oom_stats.calls, before);
        assert_int_equal(recsys__features_compute_in(&f->q, &c, x, scratch, bytes - 1),
                         RECSYS_E_INTERNAL);
        free(scratch);
        c.mem = &f->mem;
        recsys__cands_free(&c);
    }
    /* an empty set allocates nothing */
    recsys_candidates c;
    recsys__cands_init(&c, &f->oom, &f->q, 0);
    long before = f->oom_stats.calls;
    float one[RECSYS__NFEAT];
    assert_int_equal(recsys__features_compute(&f->q, &c, one), RECSYS_OK);
    assert_int_equal(f->oom_stats.calls, before);
    recsys__cands_free(&c);
    /* NULL arguments */
    fixture_cands(f, &c, "c_ml");
    assert_int_equal(recsys__features_compute(NULL, &c, one), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__features_compute(&f->q, NULL, one), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__features_compute(&f->q, &c, NULL), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "features"));
    recsys__cands_free(&c);
    fixture_free(f);
}

/* ------------------------------------------------------------ the cost, printed */

/* The best per-request time of ten batches, in this thread's CPU time (the machine may be
 * shared: the minimum is the cost, the rest is other people's work). FEAT_REPS sets the
 * batch size (default 50). */
static double best_us(fixture *f, recsys_candidates *c, float *x)
{
    int reps = getenv("FEAT_REPS") ? atoi(getenv("FEAT_REPS")) : 50;
    double best = INFINITY;
    for (int batch = 0; batch < 10; batch++) {
        struct timespec a, b;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        for (int r = 0; r < reps; r++)
            assert_int_equal(recsys__features_compute(&f->q, c, x), RECSYS_OK);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        double us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
                    reps / 1e3;
        best = us < best ? us : best;
    }
    return best;
}

static void cost_for_1000_candidates(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    enum { ITEMS = 3000, DIM = 32, CANDS = 1000 };
    char id[32], cat[32], tags[64];
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < ITEMS; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        snprintf(id, sizeof id, "i%04d", i);
        snprintf(cat, sizeof cat, "cat%d", (int)(s >> 33) % 20);
        snprintf(tags, sizeof tags, "t%d,t%d,t%d", (int)(s >> 40) % 200, (int)(s >> 48) % 200,
                 (int)(s >> 56) % 200);
        fixture_add_item(f, &(fixture_item_def){ .id = id, .category = cat, .tags = tags,
                                                 .price = 10 + (double)(i % 90) });
    }
    fixture_add_user(f, "u", "t7,cat3", 30, "US", "i0001,i0002", "i0003", "i0004");
    for (int k = 0; k < 200; k++) {
        snprintf(id, sizeof id, "i%04d", (k * 37) % ITEMS);
        fixture_event(f, "u", id, k % 13 == 0 ? RECSYS_EVENT_DISLIKE : RECSYS_EVENT_VIEW, 0,
                      now - (200 - k) * 600);
    }
    tvecs *t = tvecs_new(DIM);
    float uv[DIM];
    for (uint32_t i = 0; i < ITEMS; i++) {
        for (int d = 0; d < DIM; d++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            t->v[(size_t)i * DIM + d] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
        }
        t->has[i] = true;
    }
    for (int d = 0; d < DIM; d++)
        uv[d] = (float)d / DIM - 0.5f;
    fixture_query(f, "u", NULL, 1000);
    use_vectors(f, t, uv);
    static const char *const names[] = { "popular", "itemknn", "vector", "host" };
    recsys_candidates lists[4], c;
    for (int k = 0; k < 4; k++) {
        recsys__cands_init(&lists[k], &f->mem, &f->q, 0);
        for (int j = 0; j < 400; j++)
            assert_int_equal(recsys__cands_add(&lists[k], (uint32_t)(k * 200 + j) % CANDS,
                                               (double)((j * 7919) % 400)), RECSYS_OK);
    }
    const double w[4] = { 1, 1, 1, 0.5 };
    recsys__cands_init(&c, &f->mem, &f->q, 0);
    c.source_names = names;
    c.nsources = 4;
    assert_int_equal(recsys__merge(&c, lists, w, 4), RECSYS_OK);
    for (int k = 0; k < 4; k++)
        recsys__cands_free(&lists[k]);
    assert_int_equal(c.n, CANDS);
    float *x = malloc((size_t)CANDS * RECSYS__NFEAT * sizeof *x);
    assert_non_null(x);
    assert_int_equal(recsys__features_compute(&f->q, &c, x), RECSYS_OK);
    all_written(&c, x);
    double us = best_us(f, &c, x);
    /* the linear ranker on the same set: features, then one probability per candidate */
    recsys__linear_params lp = { 0.05, 1, 1, 1 };
    recsys__linear *lm = NULL;
    assert_int_equal(recsys__linear_new(&f->mem, &lp, &lm), RECSYS_OK);
    for (size_t i = 0; i < 200; i++)
        assert_int_equal(recsys__linear_update(lm, x + i * RECSYS__NFEAT, i % 3 == 0, 1),
                         RECSYS_OK);
    recsys_ranker_vtable vt;
    assert_int_equal(recsys__ranker_linear(&f->mem, lm, &vt), RECSYS_OK);
    double rank_us = INFINITY, *merged = malloc(c.n * sizeof *merged);
    assert_non_null(merged);
    for (size_t i = 0; i < c.n; i++)
        merged[i] = c.v[i].score;
    for (int batch = 0; batch < 10; batch++) {
        struct timespec a, b;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        for (int r = 0; r < 20; r++) {
            for (size_t i = 0; i < c.n; i++)
                c.v[i].score = merged[i]; /* the ranker overwrote them */
            assert_int_equal(vt.score(vt.ctx, &f->q, &c), RECSYS_OK);
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        double t = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
                   20 / 1e3;
        rank_us = t < rank_us ? t : rank_us;
    }
    for (size_t i = 0; i < c.n; i++)
        c.v[i].score = merged[i];
    free(merged);
    recsys__linear_free(lm);
    /* without vectors: the facet overlap instead of cosines */
    use_vectors(f, t, NULL);
    f->q.vec_dim = 0;
    double us2 = best_us(f, &c, x);
    printf("features: %d candidates, %d features: %.0f us per request (CPU, best of 10 batches) with %d-d vectors "
           "(%.0f ns per candidate), %.0f us without vectors\n",
           CANDS, (int)RECSYS__NFEAT, us, DIM, us * 1e3 / CANDS, us2);
    printf("ranker linear: %.0f us per request of %d candidates (features included)\n", rank_us,
           CANDS);
    free(x);
    recsys__cands_free(&c);
    tvecs_free(t);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout_is_fixed_and_documented),
        cmocka_unit_test(provenance_columns),
        cmocka_unit_test(anonymous_and_unknown_users),
        cmocka_unit_test(affinities_are_the_blend_rankers),
        cmocka_unit_test(affinity_values_by_hand),
        cmocka_unit_test(popularity_and_trending),
        cmocka_unit_test(age_rating_and_price),
        cmocka_unit_test(embedding_cosine),
        cmocka_unit_test(recent_and_negative_similarity_by_vectors),
        cmocka_unit_test(similarity_by_facets_without_vectors),
        cmocka_unit_test(mixed_vectors_fall_back_per_pair),
        cmocka_unit_test(removed_item_gets_missing_item_columns),
        cmocka_unit_test(rows_do_not_depend_on_candidate_order),
        cmocka_unit_test(one_allocation_per_request),
        cmocka_unit_test(cost_for_1000_candidates),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("rank/features", tests, NULL, NULL);
}
