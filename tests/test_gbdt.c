/* test_gbdt.c - LambdaMART trees (lib/rank/gbdt.h): training through XGBoost on synthetic
 * ranking data of many shapes, the native evaluator equal to XGBoost's own prediction (to
 * 1e-5, on held-out rows, rows on every split condition, missing and infinite values), the
 * split and missing-value rule on a hand-made model, training determinism, the strict reader
 * on malformed and unsupported models (targeted cases, every key removed, every node entry
 * spoiled, every prefix), bad training input, and out-of-memory loops that leak nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "rank/gbdt.h"
#include "support/testkit.h"

#define TOL 1e-5

static const recsys__mem *M = &recsys__mem_default;

/* ------------------------------------------------------------ synthetic ranking data */

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double unit(uint64_t *s)
{
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

typedef enum groups_kind { GROUPS_MIXED, GROUPS_WITH_SINGLES, GROUPS_ALL_SINGLE } groups_kind;

typedef struct spec {
    size_t rows, feats;
    int depth, trees;
    double missing;     /* fraction of NaN features */
    size_t constant;    /* leading columns that are constant (all of them: no signal) */
    groups_kind groups;
    uint64_t seed;
    double subsample, colsample, eta;
} spec;

typedef struct ds {
    size_t n, f, ng;
    float *x, *y;
    uint32_t *g;
} ds;

/* n rows of f features: the first `constant` columns are 0.25, the others uniform in
 * [-1, 2), each missing with probability p. */
static float *rows_new(size_t n, size_t f, size_t constant, double p, uint64_t seed)
{
    float *x = malloc(n * f * sizeof *x + 1);
    assert_non_null(x);
    uint64_t s = seed;
    for (size_t i = 0; i < n * f; i++) {
        size_t col = i % f;
        if (col < constant)
            x[i] = 0.25f;
        else
            x[i] = unit(&s) < p ? NAN : (float)(unit(&s) * 3 - 1);
    }
    return x;
}

static ds ds_new(const spec *sp)
{
    ds d = { .n = sp->rows, .f = sp->feats };
    uint64_t s = sp->seed * 1000003u + 17;
    d.x = rows_new(d.n, d.f, sp->constant, sp->missing, s);
    d.y = malloc(d.n * sizeof *d.y);
    d.g = malloc(d.n * sizeof *d.g);
    assert_non_null(d.y);
    assert_non_null(d.g);
    for (size_t i = 0; i < d.n; i++) {
        const float *r = d.x + i * d.f;
        double v = 0;
        for (size_t k = sp->constant; k < d.f && k < sp->constant + 4; k++) {
            double a = isnan(r[k]) ? 0.5 : r[k];
            v += (k % 2 ? -0.7 : 1.0) * a * (1 + (double)(k % 3));
        }
        v += 0.7 * unit(&s); /* noise; alone when every column is constant */
        double gr = floor(v + 1.5);
        d.y[i] = (float)(gr < 0 ? 0 : gr > 4 ? 4 : gr);
    }
    static const uint32_t mix[] = { 1, 5, 20, 3, 1, 12, 1, 7 };
    size_t left = d.n, k = 0;
    while (left) {
        uint32_t want = sp->groups == GROUPS_ALL_SINGLE     ? 1
                        : sp->groups == GROUPS_WITH_SINGLES ? mix[k % 8]
                                                            : 10 + (uint32_t)(next_u64(&s) % 21);
        uint32_t sz = want < left ? want : (uint32_t)left;
        d.g[k++] = sz;
        left -= sz;
    }
    d.ng = k;
    return d;
}

static void ds_free(ds *d)
{
    free(d->x);
    free(d->y);
    free(d->g);
}

static recsys__gbdt_params params_of(const spec *sp)
{
    recsys__gbdt_params p;
    recsys__gbdt_params_init(&p);
    p.trees = sp->trees;
    p.max_depth = sp->depth;
    p.min_child_weight = 0; /* trees as full as the data allows */
    p.threads = 1;
    p.seed = sp->seed;
    if (sp->subsample > 0)
        p.subsample = sp->subsample;
    if (sp->colsample > 0)
        p.colsample = sp->colsample;
    if (sp->eta > 0)
        p.eta = sp->eta;
    return p;
}

static char *train(const ds *d, const recsys__gbdt_params *p, size_t *len)
{
    char *json = NULL;
    recsys_status st = recsys__gbdt_train(M, d->x, d->n, d->f, d->y, d->g, d->ng, p, &json, len);
    if (st != RECSYS_OK)
        fail_msg("train: %s: %s", recsys_status_str(st), recsys_last_error());
    assert_non_null(json);
    assert_int_equal(strlen(json), *len);
    return json;
}

/* ------------------------------------------------------------ comparing with XGBoost */

static recsys__gbdt *load_ok(const char *json, size_t len)
{
    recsys__gbdt *g = NULL;
    recsys_status st = recsys__gbdt_load(M, json, len, &g);
    if (st != RECSYS_OK)
        fail_msg("load: %s: %s", recsys_status_str(st), recsys_last_error());
    assert_non_null(g);
    return g;
}

typedef struct agreement {
    size_t rows, exact;
    double max_diff;
} agreement;

/* Native prediction of n rows against XGBoost's inplace value, inplace margin and (when
 * dmatrix: no infinity in x) DMatrix predictions, all within TOL; the three XGBoost paths
 * agree with each other too (the same quantity for these objectives). */
static void assert_agrees(const char *json, size_t len, const float *x, size_t n, size_t f,
                          bool dmatrix, agreement *ag)
{
    recsys__gbdt *g = load_ok(json, len);
    recsys__gbdt_xgb *h = NULL;
    if (recsys__gbdt_xgb_load(M, json, len, 1, &h) != RECSYS_OK)
        fail_msg("xgb load: %s", recsys_last_error());
    float *a = malloc(4 * n * sizeof *a + 1);
    assert_non_null(a);
    float *b = a + n, *c = a + 2 * n, *d = a + 3 * n;
    assert_int_equal(recsys__gbdt_predict(g, x, n, f, a), RECSYS_OK);
    assert_int_equal(recsys__gbdt_xgb_predict(h, RECSYS__GBDT_XGB_INPLACE, x, n, f, b),
                     RECSYS_OK);
    assert_int_equal(recsys__gbdt_xgb_predict(h, RECSYS__GBDT_XGB_INPLACE_MARGIN, x, n, f, c),
                     RECSYS_OK);
    if (dmatrix) {
        recsys_status st = recsys__gbdt_xgb_predict(h, RECSYS__GBDT_XGB_DMATRIX, x, n, f, d);
        if (st != RECSYS_OK)
            fail_msg("xgb dmatrix predict: %s", recsys_last_error());
    } else {
        memcpy(d, b, n * sizeof *d);
    }
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)a[i] - (double)b[i]);
        if (!(diff <= TOL) || !isfinite(a[i]))
            fail_msg("row %zu: native %.9g, xgboost %.9g (diff %g)", i, (double)a[i],
                     (double)b[i], diff);
        if (!(fabs((double)b[i] - c[i]) <= TOL) || !(fabs((double)b[i] - d[i]) <= TOL))
            fail_msg("row %zu: xgboost value %.9g, margin %.9g, dmatrix %.9g", i, (double)b[i],
                     (double)c[i], (double)d[i]);
        if (ag) {
            ag->rows++;
            ag->exact += memcmp(&a[i], &b[i], sizeof a[i]) == 0;
            if (diff > ag->max_diff)
                ag->max_diff = diff;
        }
    }
    free(a);
    recsys__gbdt_xgb_free(M, h);
    recsys__gbdt_free(M, g);
}

/* Rows that sit on the model's split conditions: for each split (up to max), a copy of a
 * base row with the split's feature set to the condition and to the floats just below and
 * above it. *n gets the number of rows. */
static float *threshold_rows(const char *json, size_t len, const float *base, size_t nbase,
                             size_t f, size_t max, size_t *n)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    assert_non_null(root);
    json_t *trees = json_object_get(
        json_object_get(json_object_get(json_object_get(root, "learner"), "gradient_booster"),
                        "model"),
        "trees");
    float *x = malloc(3 * max * f * sizeof *x + 1);
    assert_non_null(x);
    size_t k = 0;
    for (size_t t = 0; t < json_array_size(trees) && k + 3 <= 3 * max; t++) {
        json_t *tr = json_array_get(trees, t);
        json_t *lc = json_object_get(tr, "left_children");
        json_t *si = json_object_get(tr, "split_indices");
        json_t *sc = json_object_get(tr, "split_conditions");
        for (size_t i = 0; i < json_array_size(lc) && k + 3 <= 3 * max; i++) {
            if (json_integer_value(json_array_get(lc, i)) < 0)
                continue;
            size_t col = (size_t)json_integer_value(json_array_get(si, i));
            float c = (float)json_number_value(json_array_get(sc, i));
            float v[3] = { c, nextafterf(c, -INFINITY), nextafterf(c, INFINITY) };
            for (int j = 0; j < 3; j++, k++) {
                memcpy(x + k * f, base + (k % nbase) * f, f * sizeof *x);
                x[k * f + col] = v[j];
            }
        }
    }
    json_decref(root);
    *n = k;
    return x;
}

static const spec shapes[] = {
    /* rows feats depth trees missing const groups seed (subsample colsample eta) */
    { 300, 5, 1, 1, 0, 0, GROUPS_MIXED, 1, 0, 0, 0 },
    { 300, 5, 1, 200, 0.1, 0, GROUPS_MIXED, 2, 0, 0, 0 },
    { 400, 8, 2, 20, 0.2, 0, GROUPS_MIXED, 3, 0, 0, 0 },
    { 400, 8, 3, 50, 0, 0, GROUPS_WITH_SINGLES, 4, 0, 0, 0 },
    { 500, 10, 4, 30, 0.3, 2, GROUPS_MIXED, 5, 0, 0, 0 },
    { 500, 10, 5, 40, 0.05, 0, GROUPS_WITH_SINGLES, 6, 0, 0, 0 },
    { 600, 12, 6, 100, 0.05, 0, GROUPS_MIXED, 7, 0, 0, 0 },
    { 600, 12, 6, 100, 0.05, 0, GROUPS_MIXED, 8, 0.7, 0.5, 0 },
    { 800, 16, 7, 60, 0.1, 3, GROUPS_WITH_SINGLES, 9, 0, 0, 0 },
    { 1000, 20, 8, 80, 0.1, 0, GROUPS_MIXED, 10, 0, 0, 0 },
    { 1000, 20, 8, 200, 0.02, 0, GROUPS_MIXED, 11, 0.8, 0.8, 0.3 },
    { 200, 1, 4, 30, 0.1, 0, GROUPS_MIXED, 12, 0, 0, 0 },       /* one feature */
    { 200, 1, 6, 30, 0, 0, GROUPS_WITH_SINGLES, 13, 0, 0, 0 },  /* one feature, none missing */
    { 300, 4, 3, 10, 0, 4, GROUPS_MIXED, 14, 0, 0, 0 },         /* every feature constant */
    { 200, 6, 3, 10, 0.1, 0, GROUPS_ALL_SINGLE, 15, 0, 0, 0 },  /* every group of size 1 */
    { 300, 130, 4, 20, 0.1, 5, GROUPS_MIXED, 16, 0, 0.5, 0 },   /* wide: 15 rows a block */
    { 120, 2048, 3, 6, 0.1, 0, GROUPS_MIXED, 17, 0, 0, 0 },     /* widest: 1 row a block */
};

/* Every shape: trained, then native == XGBoost on held-out rows (missing values included),
 * on rows sitting on each split condition, and on rows with infinities (inplace only). */
static void gbdt_native_equals_xgboost_on_every_shape(void **state)
{
    (void)state;
    agreement ag = { 0, 0, 0 };
    size_t leafy = 0;
    for (size_t s = 0; s < RECSYS_ARRAY_LEN(shapes); s++) {
        const spec *sp = &shapes[s];
        ds d = ds_new(sp);
        recsys__gbdt_params p = params_of(sp);
        size_t len;
        char *json = train(&d, &p, &len);
        recsys__gbdt *g = load_ok(json, len);
        recsys__gbdt_info in;
        recsys__gbdt_info_get(g, &in);
        assert_int_equal(in.nfeat, sp->feats);
        assert_int_equal(in.ntrees, (size_t)sp->trees);
        assert_true(in.max_depth <= (size_t)sp->depth);
        assert_string_equal(in.objective, "rank:ndcg");
        assert_true(in.base_score == 0.5f);
        if (sp->constant == sp->feats || sp->groups == GROUPS_ALL_SINGLE) {
            assert_int_equal(in.max_depth, 0); /* no signal or no pairs: single leaves */
            assert_int_equal(in.nnodes, in.ntrees);
            leafy++;
        } else if (sp->trees >= 20 && sp->feats > 1) {
            assert_int_equal(in.max_depth, (size_t)sp->depth);
        }
        recsys__gbdt_free(M, g);

        /* held out: 1, 63, 64, 65 rows (block edges) and 777 */
        size_t nh = 777;
        float *h = rows_new(nh, sp->feats, sp->constant, sp->missing + 0.05, sp->seed + 99);
        static const size_t counts[] = { 1, 63, 64, 65, 777 };
        for (size_t c = 0; c < RECSYS_ARRAY_LEN(counts); c++)
            assert_agrees(json, len, h, counts[c], sp->feats, true, &ag);
        /* on the conditions */
        size_t nt;
        float *t = threshold_rows(json, len, h, nh, sp->feats, 300, &nt);
        if (nt)
            assert_agrees(json, len, t, nt, sp->feats, true, &ag);
        /* infinities (XGBoost's DMatrix refuses them; its inplace prediction takes them) */
        for (size_t i = 0; i < nh * sp->feats; i += 7)
            h[i] = i % 2 ? INFINITY : -INFINITY;
        assert_agrees(json, len, h, nh, sp->feats, false, &ag);
        free(t);
        free(h);
        recsys__free(M, json);
        ds_free(&d);
    }
    assert_int_equal(leafy, 2);
    print_message("gbdt: %zu rows over %zu shapes: native == xgboost within %g, %zu bit-identical, "
                  "max |diff| %g\n", ag.rows, RECSYS_ARRAY_LEN(shapes), TOL, ag.exact,
                  ag.max_diff);
}

/* ------------------------------------------------------------ a hand-made model */

/* A complete XGBoost 1.7 JSON model of two features and one tree given by its node arrays
 * (n nodes; XGBoost's loader wants every field and real numbers written as reals). */
static char *hand_model(const char *left, const char *right, const char *feat,
                        const char *cond, const char *dleft, const char *parents, int n,
                        const char *base_score)
{
    char zeros[512] = "", parents_def[512] = "";
    for (int i = 0; i < n; i++)
        strcat(zeros, i ? ",0.0" : "0.0");
    if (!parents) {
        snprintf(parents_def, sizeof parents_def, "2147483647");
        for (int i = 1; i < n; i++)
            strcat(parents_def, ",0");
        parents = parents_def;
    }
    char types[256] = "";
    for (int i = 0; i < n; i++)
        strcat(types, i ? ",0" : "0");
    char *out = malloc(8192);
    assert_non_null(out);
    snprintf(out, 8192,
             "{\"learner\":{\"attributes\":{},\"feature_names\":[],\"feature_types\":[],"
             "\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_parallel_tree\":"
             "\"1\",\"num_trees\":\"1\",\"size_leaf_vector\":\"0\"},\"tree_info\":[0],"
             "\"trees\":[{\"base_weights\":[%s],\"categories\":[],\"categories_nodes\":[],"
             "\"categories_segments\":[],\"categories_sizes\":[],\"default_left\":[%s],"
             "\"id\":0,\"left_children\":[%s],\"loss_changes\":[%s],\"parents\":[%s],"
             "\"right_children\":[%s],\"split_conditions\":[%s],\"split_indices\":[%s],"
             "\"split_type\":[%s],\"sum_hessian\":[%s],\"tree_param\":{\"num_deleted\":\"0\","
             "\"num_feature\":\"2\",\"num_nodes\":\"%d\",\"size_leaf_vector\":\"0\"}}]},"
             "\"name\":\"gbtree\"},\"learner_model_param\":{\"base_score\":\"%s\","
             "\"boost_from_average\":\"1\",\"num_class\":\"0\",\"num_feature\":\"2\","
             "\"num_target\":\"1\"},\"objective\":{\"lambda_rank_param\":{\"fix_list_weight\":"
             "\"0\",\"num_pairsample\":\"1\"},\"name\":\"rank:ndcg\"}},\"version\":[1,7,4]}",
             zeros, dleft, left, zeros, parents, right, cond, feat, types, zeros, n, base_score);
    return out;
}

/* x < condition goes left, x == condition right; NaN to the default side; +-inf compare as
 * numbers. The same model also has two nodes nothing reaches (pruned): they are dropped.
 * XGBoost agrees on every row. */
static void gbdt_split_rule_and_missing_values(void **state)
{
    (void)state;
    /* node 0: f0 < 0.5, missing left -> 1: f1 < -1, missing right -> 3 (10), 4 (20);
     *                                  -> 2: leaf 30; nodes 5, 6: unreachable leaves */
    char *js = hand_model("1,3,-1,-1,-1,-1,-1", "2,4,-1,-1,-1,-1,-1", "0,1,0,0,0,7,9",
                          "0.5,-1.0,30.0,10.0,20.0,99.0,99.0", "1,0,0,0,0,0,0",
                          "2147483647,0,0,1,1,4,4", 7, "1.5E0");
    recsys__gbdt *g = load_ok(js, strlen(js));
    recsys__gbdt_info in;
    recsys__gbdt_info_get(g, &in);
    assert_int_equal(in.nnodes, 5);
    assert_int_equal(in.max_depth, 2);
    assert_true(in.base_score == 1.5f);
    const float below = nextafterf(0.5f, 0), nan = NAN, inf = INFINITY;
    const float x[][2] = {
        { 0.5f, 0 },    /* == condition: right -> 30 */
        { below, 0 },   /* left; f1 0 >= -1: right -> 20 */
        { nan, -1 },    /* missing: left; f1 == -1: right -> 20 */
        { nan, -2 },    /* left, left -> 10 */
        { 0, nan },     /* left; missing f1: right -> 20 */
        { inf, 0 },     /* right -> 30 */
        { -inf, -inf }, /* left, left -> 10 */
        { -inf, inf },  /* left, right -> 20 */
    };
    const float want[] = { 31.5f, 21.5f, 21.5f, 11.5f, 21.5f, 31.5f, 11.5f, 21.5f };
    float got[8];
    assert_int_equal(recsys__gbdt_predict(g, &x[0][0], 8, 2, got), RECSYS_OK);
    for (int i = 0; i < 8; i++)
        if (got[i] != want[i])
            fail_msg("row %d: %g, expected %g", i, (double)got[i], (double)want[i]);
    assert_agrees(js, strlen(js), &x[0][0], 8, 2, false, NULL);
    assert_agrees(js, strlen(js), &x[0][0], 5, 2, true, NULL); /* the rows without inf */
    recsys__gbdt_free(M, g);
    free(js);

    /* a single leaf is a whole tree (depth 0) */
    js = hand_model("-1", "-1", "0", "-0.25", "0", NULL, 1, "5E-1");
    g = load_ok(js, strlen(js));
    assert_int_equal(recsys__gbdt_predict(g, &x[0][0], 8, 2, got), RECSYS_OK);
    for (int i = 0; i < 8; i++)
        assert_true(got[i] == 0.25f);
    assert_agrees(js, strlen(js), &x[0][0], 8, 2, false, NULL);
    recsys__gbdt_free(M, g);
    free(js);
}

/* Arguments of prediction. */
static void gbdt_predict_checks_its_arguments(void **state)
{
    (void)state;
    char *js = hand_model("1,-1,-1", "2,-1,-1", "1,0,0", "0.0,1.0,2.0", "0,0,0", NULL, 3, "0");
    recsys__gbdt *g = load_ok(js, strlen(js));
    float x[4] = { 0, 1, 2, -3 }, out[2];
    assert_int_equal(recsys__gbdt_predict(g, x, 2, 3, out), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "features"));
    assert_int_equal(recsys__gbdt_predict(g, NULL, 2, 2, out), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__gbdt_predict(g, x, 2, 2, NULL), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__gbdt_predict(NULL, x, 2, 2, out), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__gbdt_predict(g, NULL, 0, 2, NULL), RECSYS_OK);
    assert_int_equal(recsys__gbdt_predict(g, x, 2, 2, out), RECSYS_OK);
    assert_true(out[0] == 2.0f && out[1] == 1.0f); /* f1 = 1 >= 0: right; f1 = -3: left */
    recsys__gbdt_info in;
    recsys__gbdt_info_get(NULL, &in);
    assert_int_equal(in.ntrees, 0);
    recsys__gbdt_free(M, NULL);
    recsys__gbdt_free(M, g);
    /* XGBoost's side */
    recsys__gbdt_xgb *h = NULL;
    assert_int_equal(recsys__gbdt_xgb_load(M, js, strlen(js), 0, &h), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__gbdt_xgb_load(M, js, 0, 1, &h), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__gbdt_xgb_load(M, "{\"learner\":1}", 13, 1, &h), RECSYS_E_INTERNAL);
    assert_null(h);
    const char *msg = recsys_last_error();
    assert_non_null(strstr(msg, "XGBoosterLoadModelFromBuffer"));
    assert_null(strchr(msg, '\n')); /* the first line only, no stack trace */
    assert_int_equal(recsys__gbdt_xgb_load(M, js, strlen(js), 1, &h), RECSYS_OK);
    assert_int_equal(recsys__gbdt_xgb_predict(h, RECSYS__GBDT_XGB_INPLACE, x, 1, 3, out),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__gbdt_xgb_predict(h, (recsys__gbdt_xgb_kind)7, x, 1, 2, out),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__gbdt_xgb_predict(h, RECSYS__GBDT_XGB_INPLACE, x, 0, 2, out),
                     RECSYS_OK);
    recsys__gbdt_xgb_free(M, h);
    recsys__gbdt_xgb_free(M, NULL);
    free(js);
}

/* ------------------------------------------------------------ determinism */

static void gbdt_training_is_deterministic(void **state)
{
    (void)state;
    spec sp = { 600, 10, 5, 40, 0.1, 0, GROUPS_WITH_SINGLES, 21, 0.7, 0.6, 0 };
    ds d = ds_new(&sp);
    recsys__gbdt_params p = params_of(&sp);
    size_t l1, l2, l3, l4, l5;
    char *a = train(&d, &p, &l1), *b = train(&d, &p, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(a, b, l1); /* same seed, same threads: the same bytes */
    p.seed = 22;
    char *c = train(&d, &p, &l3);
    assert_true(l1 != l3 || memcmp(a, c, l1) != 0); /* the seed drives subsample/colsample */
    /* the seed's low 32 bits are what XGBoost uses */
    p.seed = 21 + ((uint64_t)5 << 32);
    char *e = train(&d, &p, &l5);
    assert_int_equal(l1, l5);
    assert_memory_equal(a, e, l1);
    /* two threads: deterministic too (for that thread count) */
    p.seed = 21;
    p.threads = 2;
    char *t1 = train(&d, &p, &l4);
    size_t l4b;
    char *t2 = train(&d, &p, &l4b);
    assert_int_equal(l4, l4b);
    assert_memory_equal(t1, t2, l4);
    recsys__free(M, a);
    recsys__free(M, b);
    recsys__free(M, c);
    recsys__free(M, e);
    recsys__free(M, t1);
    recsys__free(M, t2);
    ds_free(&d);
}

/* ------------------------------------------------------------ bad training input */

static void expect_train_error(size_t n, size_t f, const float *x, const float *y,
                               const uint32_t *g, size_t ng, const recsys__gbdt_params *p,
                               const char *needle)
{
    char *json = (char *)1;
    size_t len = 99;
    recsys_status st = recsys__gbdt_train(M, x, n, f, y, g, ng, p, &json, &len);
    if (st != RECSYS_E_INVALID_ARG)
        fail_msg("expected RECSYS_E_INVALID_ARG for '%s', got %s (%s)", needle,
                 recsys_status_str(st), recsys_last_error());
    assert_null(json);
    assert_int_equal(len, 0);
    if (!strstr(recsys_last_error(), needle))
        fail_msg("message '%s' does not name '%s'", recsys_last_error(), needle);
}

static void gbdt_train_rejects_bad_input(void **state)
{
    (void)state;
    spec sp = { 50, 3, 2, 3, 0.1, 0, GROUPS_MIXED, 31, 0, 0, 0 };
    ds d = ds_new(&sp);
    recsys__gbdt_params p = params_of(&sp);
    const float *x = d.x, *y = d.y;
    const uint32_t *g = d.g;
    size_t n = d.n, f = d.f, ng = d.ng;
    char *json;
    size_t len;
    assert_int_equal(recsys__gbdt_train(NULL, x, n, f, y, g, ng, &p, &json, &len),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__gbdt_train(M, x, n, f, y, g, ng, &p, NULL, &len),
                     RECSYS_E_INVALID_ARG);
    expect_train_error(n, f, NULL, y, g, ng, &p, "matrix");
    expect_train_error(n, f, x, NULL, g, ng, &p, "labels");
    expect_train_error(n, f, x, y, NULL, ng, &p, "groups");
    expect_train_error(n, f, x, y, g, ng, NULL, "params");
    expect_train_error(0, f, x, y, g, ng, &p, "rows");
    expect_train_error(n, 0, x, y, g, ng, &p, "features");
    expect_train_error(n, RECSYS__GBDT_MAX_FEATURES + 1, x, y, g, ng, &p, "features");
    expect_train_error(n, f, x, y, g, 0, &p, "groups");
    expect_train_error(n - 1, f, x, y, g, ng, &p, "sum to more than");
    expect_train_error(n, f, x, y, g, ng - 1, &p, "sum to");
    uint32_t *g2 = malloc(ng * sizeof *g2);
    float *y2 = malloc(n * sizeof *y2), *x2 = malloc(n * f * sizeof *x2);
    assert_true(g2 && y2 && x2);
    memcpy(g2, g, ng * sizeof *g2);
    g2[1] += g2[0];
    g2[0] = 0;
    expect_train_error(n, f, x, y, g2, ng, &p, "group 0 is empty");
    const float bad_labels[] = { 2.5f, -1, 31, NAN, INFINITY };
    const char *const why[] = { "2.5", "-1", "31", "nan", "inf" };
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(bad_labels); i++) {
        memcpy(y2, y, n * sizeof *y2);
        y2[7] = bad_labels[i];
        expect_train_error(n, f, x, y2, g, ng, &p, why[i]);
        expect_train_error(n, f, x, y2, g, ng, &p, "row 7");
    }
    memcpy(x2, x, n * f * sizeof *x2);
    x2[4 * f + 2] = -INFINITY;
    expect_train_error(n, f, x2, y, g, ng, &p, "feature 2 of row 4 is infinite");
    const struct {
        int which;
        double v;
        const char *name;
    } bad[] = {
        { 0, 0, "trees" },      { 0, RECSYS__GBDT_MAX_TREES + 1, "trees" },
        { 1, 0, "max_depth" },  { 1, RECSYS__GBDT_MAX_DEPTH + 1, "max_depth" },
        { 2, 0, "eta" },        { 2, 1.5, "eta" },
        { 2, NAN, "eta" },      { 3, -1, "min_child_weight" },
        { 4, -0.5, "lambda" },  { 4, INFINITY, "lambda" },
        { 5, 0, "subsample" },  { 5, 1.01, "subsample" },
        { 6, 0, "colsample" },  { 6, 2, "colsample" },
        { 7, 0, "threads" },    { 7, RECSYS__GBDT_MAX_THREADS + 1, "threads" },
    };
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(bad); i++) {
        recsys__gbdt_params q = p;
        switch (bad[i].which) {
        case 0: q.trees = (int)bad[i].v; break;
        case 1: q.max_depth = (int)bad[i].v; break;
        case 2: q.eta = bad[i].v; break;
        case 3: q.min_child_weight = bad[i].v; break;
        case 4: q.lambda = bad[i].v; break;
        case 5: q.subsample = bad[i].v; break;
        case 6: q.colsample = bad[i].v; break;
        default: q.threads = (int)bad[i].v; break;
        }
        expect_train_error(n, f, x, y, g, ng, &q, bad[i].name);
    }
    /* the edges are fine */
    recsys__gbdt_params q = p;
    q.eta = 1;
    q.subsample = 1;
    q.lambda = 0;
    q.trees = 1;
    q.max_depth = RECSYS__GBDT_MAX_DEPTH;
    memcpy(y2, y, n * sizeof *y2);
    y2[0] = RECSYS__GBDT_MAX_LABEL;
    char *ok = train(&(ds){ .n = n, .f = f, .ng = ng, .x = d.x, .y = y2, .g = d.g }, &q, &len);
    recsys__free(M, ok);
    free(g2);
    free(y2);
    free(x2);
    ds_free(&d);
}

/* ------------------------------------------------------------ malformed models */

/* A small real model (3 trees of depth 2, two features) as parsed JSON. */
static json_t *small_model(char **text, size_t *len)
{
    spec sp = { 200, 2, 2, 3, 0.1, 0, GROUPS_MIXED, 41, 0, 0, 0 };
    ds d = ds_new(&sp);
    recsys__gbdt_params p = params_of(&sp);
    char *json = train(&d, &p, len);
    ds_free(&d);
    json_t *root = json_loadb(json, *len, 0, NULL);
    assert_non_null(root);
    if (text)
        *text = json;
    else
        recsys__free(M, json);
    return root;
}

static json_t *at(json_t *root, const char *path)
{
    /* "a.b.2.c": object keys and array indices */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = root;
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, ".")) {
        if (tok[0] >= '0' && tok[0] <= '9')
            v = json_array_get(v, (size_t)atoi(tok));
        else
            v = json_object_get(v, tok);
    }
    assert_non_null(v);
    return v;
}

#define TREES "learner.gradient_booster.model.trees"
#define T0 "learner.gradient_booster.model.trees.0"

/* Loads the text and expects status st with a "gbdt model" message, *out NULL. */
static void expect_load(const char *text, size_t len, recsys_status st, const char *what)
{
    recsys__gbdt *g = (recsys__gbdt *)1;
    recsys_status got = recsys__gbdt_load(M, text, len, &g);
    if (got != st)
        fail_msg("%s: expected %s, got %s (%s)", what, recsys_status_str(st),
                 recsys_status_str(got), recsys_last_error());
    assert_null(g);
    if (strncmp(recsys_last_error(), "gbdt model", 10) != 0)
        fail_msg("%s: message '%s'", what, recsys_last_error());
}

static void expect_load_json(const json_t *root, recsys_status st, const char *what)
{
    char *s = json_dumps(root, JSON_COMPACT);
    assert_non_null(s);
    expect_load(s, strlen(s), st, what);
    free(s);
}

typedef struct mutation {
    const char *path;  /* where */
    const char *key;   /* set (or, with value NULL, delete) this key of the object at path;
                        * NULL: set array element `index` of the array at path */
    size_t index;
    const char *value; /* JSON text; NULL deletes */
    recsys_status st;
    const char *what;
} mutation;

static const mutation mutations[] = {
    { T0, "left_children", 0, "[1,3]", RECSYS_E_CORRUPT, "short left_children" },
    { T0 ".split_conditions", NULL, 0, NULL, RECSYS_E_CORRUPT, "short split_conditions" },
    { T0 ".left_children", NULL, 0, "99", RECSYS_E_CORRUPT, "child out of range" },
    { T0 ".left_children", NULL, 0, "-5", RECSYS_E_CORRUPT, "negative child" },
    { T0 ".left_children", NULL, 0, "0", RECSYS_E_CORRUPT, "child is itself" },
    { T0 ".left_children", NULL, 1, "0", RECSYS_E_CORRUPT, "child before parent (cycle)" },
    { T0 ".right_children", NULL, 0, "-1", RECSYS_E_CORRUPT, "one child only" },
    { T0 ".right_children", NULL, 0, "1", RECSYS_E_CORRUPT, "both children the same" },
    { T0 ".left_children", NULL, 0, "1.0", RECSYS_E_CORRUPT, "child not an integer" },
    { T0 ".left_children", NULL, 0, "\"1\"", RECSYS_E_CORRUPT, "child a string" },
    { T0 ".parents", NULL, 1, "2", RECSYS_E_CORRUPT, "wrong parent" },
    { T0 ".split_conditions", NULL, 0, "1e300", RECSYS_E_CORRUPT, "condition beyond float" },
    { T0 ".split_conditions", NULL, 0, "\"NaN\"", RECSYS_E_CORRUPT, "condition a string" },
    { T0 ".split_conditions", NULL, 0, "null", RECSYS_E_CORRUPT, "condition null" },
    { T0 ".split_indices", NULL, 0, "2", RECSYS_E_CORRUPT, "feature out of range" },
    { T0 ".split_indices", NULL, 0, "-1", RECSYS_E_CORRUPT, "negative feature" },
    { T0 ".default_left", NULL, 0, "2", RECSYS_E_CORRUPT, "default_left 2" },
    { T0 ".split_type", NULL, 0, "1", RECSYS_E_UNSUPPORTED, "categorical split" },
    { T0 ".split_type", NULL, 0, "5", RECSYS_E_CORRUPT, "unknown split type" },
    { T0, "id", 0, "1", RECSYS_E_CORRUPT, "tree id out of order" },
    { T0, "tree_param", 0, "{\"num_nodes\":\"99999999999999\"}", RECSYS_E_CORRUPT,
      "huge num_nodes" },
    { T0, "tree_param", 0, "{\"num_nodes\":\"0\"}", RECSYS_E_CORRUPT, "num_nodes 0" },
    { T0, "tree_param", 0, "{\"num_nodes\":\"7x\"}", RECSYS_E_CORRUPT, "num_nodes not a count" },
    { T0, "tree_param", 0, "{\"num_nodes\":\"18446744073709551616\"}", RECSYS_E_CORRUPT,
      "num_nodes over 64 bits" },
    { T0, "tree_param", 0, "{\"num_nodes\":8}", RECSYS_E_CORRUPT, "num_nodes a number" },
    { T0, "tree_param", 0, "{\"num_nodes\":\"7\",\"size_leaf_vector\":\"3\"}",
      RECSYS_E_UNSUPPORTED, "vector leaves" },
    { T0, "left_children", 0, NULL, RECSYS_E_CORRUPT, "no left_children" },
    { T0, "default_left", 0, NULL, RECSYS_E_CORRUPT, "no default_left" },
    { TREES, NULL, 0, "[]", RECSYS_E_CORRUPT, "a tree that is an array" },
    { "learner.gradient_booster.model.gbtree_model_param", "num_trees", 0, "\"1000000000\"",
      RECSYS_E_CORRUPT, "huge num_trees" },
    { "learner.gradient_booster.model.gbtree_model_param", "num_trees", 0, "\"2\"",
      RECSYS_E_CORRUPT, "num_trees below the trees" },
    { "learner.gradient_booster.model", "tree_info", 0, "[0,0]", RECSYS_E_CORRUPT,
      "short tree_info" },
    { "learner.gradient_booster.model.tree_info", NULL, 1, "1", RECSYS_E_UNSUPPORTED,
      "a second output" },
    { "learner.gradient_booster.model.tree_info", NULL, 1, "0.0", RECSYS_E_CORRUPT,
      "tree_info a real" },
    { "learner.gradient_booster", "name", 0, "\"dart\"", RECSYS_E_UNSUPPORTED, "dart" },
    { "learner.gradient_booster", "name", 0, "\"gblinear\"", RECSYS_E_UNSUPPORTED, "gblinear" },
    { "learner.objective", "name", 0, "\"binary:logistic\"", RECSYS_E_UNSUPPORTED,
      "a transformed objective" },
    { "learner.objective", "name", 0, "7", RECSYS_E_CORRUPT, "objective not a string" },
    { "learner.learner_model_param", "num_feature", 0, "\"4294967296\"", RECSYS_E_CORRUPT,
      "huge num_feature" },
    { "learner.learner_model_param", "num_feature", 0, "\"0\"", RECSYS_E_CORRUPT,
      "num_feature 0" },
    { "learner.learner_model_param", "num_feature", 0, "\"1\"", RECSYS_E_CORRUPT,
      "num_feature below a split's feature" },
    { "learner.learner_model_param", "num_class", 0, "\"3\"", RECSYS_E_UNSUPPORTED,
      "multi-class" },
    { "learner.learner_model_param", "num_target", 0, "\"2\"", RECSYS_E_UNSUPPORTED,
      "multi-target" },
    { "learner.learner_model_param", "base_score", 0, "\"NaN\"", RECSYS_E_CORRUPT,
      "base_score NaN" },
    { "learner.learner_model_param", "base_score", 0, "\"1e999\"", RECSYS_E_CORRUPT,
      "base_score overflow" },
    { "learner.learner_model_param", "base_score", 0, "\"0.5 junk\"", RECSYS_E_CORRUPT,
      "base_score with junk" },
    { "learner.learner_model_param", "base_score", 0, "\"[0.5]\"", RECSYS_E_CORRUPT,
      "base_score a vector" },
    { "learner.learner_model_param", "base_score", 0, "0.5", RECSYS_E_CORRUPT,
      "base_score a number" },
    { "", "version", 0, "[3,0,0]", RECSYS_E_UNSUPPORTED, "version 3" },
    { "", "version", 0, "[1,7]", RECSYS_E_CORRUPT, "short version" },
    { "", "version", 0, NULL, RECSYS_E_CORRUPT, "no version" },
    { "", "learner", 0, "[]", RECSYS_E_CORRUPT, "learner an array" },
};

static void apply(json_t *root, const mutation *mu)
{
    json_t *v = mu->path[0] ? at(root, mu->path) : root;
    json_t *val = NULL;
    if (mu->value) {
        val = json_loads(mu->value, JSON_DECODE_ANY, NULL);
        assert_non_null(val);
    }
    if (mu->key) {
        if (val)
            assert_int_equal(json_object_set_new(v, mu->key, val), 0);
        else
            assert_int_equal(json_object_del(v, mu->key), 0);
    } else if (json_is_array(v)) {
        if (val)
            assert_int_equal(json_array_set_new(v, mu->index, val), 0);
        else
            assert_int_equal(json_array_remove(v, mu->index), 0);
    } else {
        fail_msg("%s: not an array", mu->path);
    }
}

static void gbdt_rejects_malformed_models(void **state)
{
    (void)state;
    size_t len;
    char *text;
    json_t *root = small_model(&text, &len);
    /* the model as trained: a full tree 0 (7 nodes) so that the paths above mean something */
    assert_int_equal(json_array_size(at(root, T0 ".left_children")), 7);
    recsys__gbdt *g = load_ok(text, len);
    recsys__gbdt_free(M, g);
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(mutations); i++) {
        json_t *copy = json_deep_copy(root);
        apply(copy, &mutations[i]);
        expect_load_json(copy, mutations[i].st, mutations[i].what);
        json_decref(copy);
    }
    /* two parents: tree 0's node 2 takes node 4 (node 1's child) as its left child, with the
     * parents array (which would name the problem first) removed */
    json_t *copy = json_deep_copy(root);
    json_array_set_new(at(copy, T0 ".left_children"), 2, json_integer(4));
    json_object_del(at(copy, T0), "parents");
    expect_load_json(copy, RECSYS_E_CORRUPT, "two parents");
    json_decref(copy);
    /* not JSON, or not a model */
    static const char *const junk[] = { "", " ", "[]", "{}", "null", "7", "\"model\"",
                                        "{\"version\":[1,7,4]}", "{\"a\":1,\"a\":2}",
                                        "{\"version\":[1,7,4],\"version\":[1,7,4]}" };
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(junk); i++)
        expect_load(junk[i], strlen(junk[i]), RECSYS_E_CORRUPT, junk[i]);
    expect_load("{\"version\":NaN}", 15, RECSYS_E_CORRUPT, "a NaN literal");
    /* every prefix of the real text is truncated JSON */
    for (size_t cut = 0; cut < len; cut += cut < 200 ? 1 : 97)
        expect_load(text, cut, RECSYS_E_CORRUPT, "truncated");
    /* a NUL inside, trailing garbage */
    char *t2 = malloc(len + 8);
    assert_non_null(t2);
    memcpy(t2, text, len);
    memcpy(t2 + len, " x", 2);
    expect_load(t2, len + 2, RECSYS_E_CORRUPT, "trailing garbage");
    t2[len / 2] = '\0';
    expect_load(t2, len, RECSYS_E_CORRUPT, "a NUL inside");
    free(t2);
    /* arguments and the size cap (checked before anything is read) */
    recsys__gbdt *out = (recsys__gbdt *)1;
    assert_int_equal(recsys__gbdt_load(M, text, RECSYS__GBDT_MAX_JSON + 1, &out),
                     RECSYS_E_INVALID_ARG);
    assert_null(out);
    assert_int_equal(recsys__gbdt_load(M, NULL, 3, &out), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__gbdt_load(NULL, text, len, &out), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__gbdt_load(M, text, len, NULL), RECSYS_E_INVALID_ARG);
    recsys__free(M, text);
    json_decref(root);
}

/* Collects every object of v (depth first) into list. */
static void objects(json_t *v, json_t **list, size_t *n, size_t cap)
{
    if (json_is_object(v)) {
        if (*n < cap)
            list[(*n)++] = v;
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c)
            objects(c, list, n, cap);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            objects(json_array_get(v, i), list, n, cap);
    }
}

/* Loads a spoiled model: it must fail cleanly with CORRUPT or UNSUPPORTED, or load and then
 * predict the reference rows as the intact model does (when same) or at least finitely. */
static int try_spoiled(const json_t *root, const float *x, size_t n, const float *want,
                       bool same)
{
    char *s = json_dumps(root, JSON_COMPACT);
    assert_non_null(s);
    recsys__gbdt *g = NULL;
    recsys_status st = recsys__gbdt_load(M, s, strlen(s), &g);
    free(s);
    if (st != RECSYS_OK) {
        if (st != RECSYS_E_CORRUPT && st != RECSYS_E_UNSUPPORTED)
            fail_msg("spoiled model: %s (%s)", recsys_status_str(st), recsys_last_error());
        assert_null(g);
        assert_true(recsys_last_error()[0] != '\0');
        return 0;
    }
    float out[64];
    assert_true(n <= 64);
    assert_int_equal(recsys__gbdt_predict(g, x, n, 2, out), RECSYS_OK);
    for (size_t i = 0; i < n; i++) {
        assert_true(isfinite(out[i]));
        if (same && out[i] != want[i])
            fail_msg("row %zu: %g, intact model %g", i, (double)out[i], (double)want[i]);
    }
    recsys__gbdt_free(M, g);
    return 1;
}

/* Every key of every object removed in turn, and every entry of every node array of tree 0
 * replaced by each of a few bad values: never a crash, never a status but OK, CORRUPT or
 * UNSUPPORTED; a removed key that is optional changes no prediction. */
static void gbdt_survives_every_removed_key_and_spoiled_entry(void **state)
{
    (void)state;
    size_t len;
    json_t *root = small_model(NULL, &len);
    float *x = rows_new(40, 2, 0, 0.2, 5);
    float want[40];
    char *s = json_dumps(root, JSON_COMPACT);
    recsys__gbdt *g = load_ok(s, strlen(s));
    assert_int_equal(recsys__gbdt_predict(g, x, 40, 2, want), RECSYS_OK);
    recsys__gbdt_free(M, g);
    free(s);

    json_t *list[256];
    size_t nobj = 0, loaded = 0, tried = 0;
    objects(root, list, &nobj, 256);
    assert_true(nobj > 10 && nobj < 256);
    for (size_t o = 0; o < nobj; o++) {
        size_t nkeys = json_object_size(list[o]);
        for (size_t k = 0; k < nkeys; k++) {
            json_t *copy = json_deep_copy(root);
            json_t *cl[256];
            size_t nc = 0;
            objects(copy, cl, &nc, 256);
            assert_int_equal(nc, nobj);
            void *it = json_object_iter(cl[o]);
            for (size_t j = 0; j < k; j++)
                it = json_object_iter_next(cl[o], it);
            json_object_del(cl[o], json_object_iter_key(it));
            loaded += (size_t)try_spoiled(copy, x, 40, want, true);
            tried++;
            json_decref(copy);
        }
    }
    /* what may go: attributes, feature names/types, the unused parameters and statistics,
     * parents, split_type, tree ids, ... (and nothing the prediction needs) */
    assert_true(loaded > 10 && loaded < tried);

    static const char *const arrays[] = { "left_children", "right_children", "split_indices",
                                          "split_conditions", "default_left", "split_type",
                                          "parents" };
    static const char *const bad[] = { "-2", "7", "1.5", "\"x\"", "null", "1e300", "true",
                                       "[]", "2147483648", "-9223372036854775808" };
    for (size_t a = 0; a < RECSYS_ARRAY_LEN(arrays); a++) {
        for (size_t i = 0; i < 7; i++) {
            for (size_t b = 0; b < RECSYS_ARRAY_LEN(bad); b++) {
                json_t *copy = json_deep_copy(root);
                char path[128];
                snprintf(path, sizeof path, T0 ".%s", arrays[a]);
                json_array_set_new(at(copy, path), i, json_loads(bad[b], JSON_DECODE_ANY, NULL));
                try_spoiled(copy, x, 40, want, false);
                json_decref(copy);
            }
        }
    }
    free(x);
    json_decref(root);
}

/* ------------------------------------------------------------ out of memory */

static void gbdt_out_of_memory_leaks_nothing(void **state)
{
    (void)state;
    tk_alloc a;
    recsys_allocator rec;
    tk_alloc_init(&a, &rec);
    recsys__mem m;
    assert_int_equal(recsys__mem_init(&m, &rec), RECSYS_OK);
    spec sp = { 300, 6, 4, 10, 0.1, 0, GROUPS_MIXED, 51, 0, 0, 0 };
    ds d = ds_new(&sp);
    recsys__gbdt_params p = params_of(&sp);
    /* training: its one allocation is the model text */
    char *json = NULL;
    size_t len = 0;
    long n;
    for (n = 0;; n++) {
        a.fail_at = a.count + n;
        recsys_status st = recsys__gbdt_train(&m, d.x, d.n, d.f, d.y, d.g, d.ng, &p, &json, &len);
        a.fail_at = -1;
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(json);
        assert_int_equal(a.live, 0);
        assert_true(recsys_last_error()[0] != '\0');
    }
    assert_int_equal(n, 1);
    assert_int_equal(a.live, 1);
    /* loading */
    recsys__gbdt *g = NULL;
    for (n = 0;; n++) {
        a.fail_at = a.count + n;
        recsys_status st = recsys__gbdt_load(&m, json, len, &g);
        a.fail_at = -1;
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(g);
        assert_int_equal(a.live, 1);
    }
    assert_true(n >= 6);
    long held = a.live;
    assert_true(held >= 5); /* the text, the model and its three arrays (scratch freed) */
    /* prediction allocates nothing */
    float *x = rows_new(100, d.f, 0, 0.1, 9), out[100];
    long before = a.count;
    assert_int_equal(recsys__gbdt_predict(g, x, 100, d.f, out), RECSYS_OK);
    assert_int_equal(a.count, before);
    /* XGBoost's reference: one allocation of ours */
    recsys__gbdt_xgb *h = NULL;
    a.fail_at = a.count;
    assert_int_equal(recsys__gbdt_xgb_load(&m, json, len, 1, &h), RECSYS_E_NOMEM);
    a.fail_at = -1;
    assert_null(h);
    assert_int_equal(a.live, held);
    assert_int_equal(recsys__gbdt_xgb_load(&m, json, len, 1, &h), RECSYS_OK);
    recsys__gbdt_xgb_free(&m, h);
    recsys__gbdt_free(&m, g);
    recsys__free(&m, json);
    assert_int_equal(a.live, 0);
    free(x);
    ds_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gbdt_native_equals_xgboost_on_every_shape),
        cmocka_unit_test(gbdt_split_rule_and_missing_values),
        cmocka_unit_test(gbdt_predict_checks_its_arguments),
        cmocka_unit_test(gbdt_training_is_deterministic),
        cmocka_unit_test(gbdt_train_rejects_bad_input),
        cmocka_unit_test(gbdt_rejects_malformed_models),
        cmocka_unit_test(gbdt_survives_every_removed_key_and_spoiled_entry),
        cmocka_unit_test(gbdt_out_of_memory_leaks_nothing),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("rank/gbdt", tests, NULL, NULL);
}
