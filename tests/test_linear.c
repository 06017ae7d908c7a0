/* test_linear.c - the "linear" ranker (lib/rank/linear.c): FTRL-Proximal learns a separable
 * synthetic problem (AUC > 0.95), L1 makes irrelevant weights exactly zero, missing values
 * and wild scales are handled, the saved form (version 2: the main model and every outcome
 * head) round-trips bit for bit, heads included, a version 1 form written field by field
 * loads with untrained heads, and every damaged, truncated or foreign copy of either is
 * refused with RECSYS_E_CORRUPT, training is deterministic, bad arguments
 * change nothing, concurrent predictions during updates, and the ranker plug-in (untrained:
 * the merged order stands; trained: the model's order; one allocation; out of memory). */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <xxhash.h>

#include "rank/linear.h"
#include "rank/rankers.h"
#include "support/fixture.h"

static const recsys__mem *M = &recsys__mem_default;

/* ------------------------------------------------------------ synthetic data */

/* splitmix64: consecutive draws must not correlate (an LCG's do, and a noise column then
 * looks relevant) */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (z ^ (z >> 31)) >> 11;
}

static double uni(uint64_t *s)
{
    return (double)rng_next(s) / 9007199254740992.0;
}

/* Columns the label depends on; every other column is zero-mean noise over three times its
 * scale (a noise column with a non-zero mean would partly stand in for the bias). */
#define REL_A RECSYS__FEAT_CONTENT_SCORE /* 0..1, bounded */
#define REL_B RECSYS__FEAT_LT_CATEGORY   /* -1..1, bounded, sometimes NaN */
#define REL_C RECSYS__FEAT_POPULARITY    /* 0..12, scaled by 8 */

static void make_row(uint64_t *s, float *row, float *label)
{
    for (size_t f = 0; f < RECSYS__NFEAT; f++) {
        const recsys__feature_info *fi = &recsys__feature_table[f];
        double u = uni(s);
        if (fi->kind == RECSYS__FEAT_BOUNDED)
            row[f] = (float)(2 * u - 1);
        else
            row[f] = (float)((2 * u - 1) * 3 * fi->scale);
        if (fi->nan && uni(s) < 0.2)
            row[f] = NAN;
    }
    row[REL_A] = (float)uni(s);
    row[REL_B] = uni(s) < 0.1 ? NAN : (float)(2 * uni(s) - 1);
    row[REL_C] = (float)(12 * uni(s));
    double b = isnan(row[REL_B]) ? -0.5 : row[REL_B];
    double m = 3 * (row[REL_A] - 0.5) + 2 * b - (row[REL_C] / 8.0 - 0.75);
    *label = m > 0 ? 1.0f : 0.0f;
}

static double auc(const double *p, const float *y, size_t n)
{
    double pos = 0, neg = 0, good = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] > 0)
            pos += 1;
        else
            neg += 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(y[i] > 0))
            continue;
        for (size_t j = 0; j < n; j++) {
            if (y[j] > 0)
                continue;
            good += p[i] > p[j] ? 1.0 : p[i] == p[j] ? 0.5 : 0.0;
        }
    }
    return good / (pos * neg);
}

static recsys__linear *model_with(double alpha, double l1, double l2)
{
    recsys__linear_params p = { alpha, 1.0, l1, l2 };
    recsys__linear *lm = NULL;
    assert_int_equal(recsys__linear_new(M, &p, &lm), RECSYS_OK);
    assert_non_null(lm);
    return lm;
}

/* Trains lm on n rows from seed (one pass, weight 1). */
static void train(recsys__linear *lm, uint64_t seed, size_t n)
{
    float row[RECSYS__NFEAT], y;
    for (size_t i = 0; i < n; i++) {
        make_row(&seed, row, &y);
        assert_int_equal(recsys__linear_update(lm, row, y > 0, 1.0), RECSYS_OK);
    }
}

/* Teaches every head n rows from seed, each its own labels (head k: the row's label,
 * inverted for odd k, every (k + 2)-th row left out) with weights 1..3. */
static void train_heads(recsys__linear *lm, uint64_t seed, size_t n)
{
    float row[RECSYS__NFEAT], y;
    for (size_t i = 0; i < n; i++) {
        make_row(&seed, row, &y);
        for (int k = 0; k < RECSYS__NOBJ; k++)
            if (i % (size_t)(k + 2) != 0)
                assert_int_equal(recsys__linear_update_objective(lm, k, row, (y > 0) ^ (k & 1),
                                                                 1.0 + (double)(i % 3)),
                                 RECSYS_OK);
    }
}

/* Asserts a and b predict bit for bit alike, main model and every head, on n random rows
 * from seed (NaNs and wild values included). */
static void same_predictions(const recsys__linear *a, const recsys__linear *b, uint64_t seed,
                             size_t n)
{
    float *x = malloc(n * RECSYS__NFEAT * sizeof *x), y;
    double *pa = malloc(n * sizeof *pa), *pb = malloc(n * sizeof *pb);
    assert_true(x && pa && pb);
    for (size_t i = 0; i < n; i++)
        make_row(&seed, x + i * RECSYS__NFEAT, &y);
    x[0] = 1e30f; /* a wild value, clamped alike */
    recsys__linear_predict_rows(a, x, n, pa);
    recsys__linear_predict_rows(b, x, n, pb);
    assert_memory_equal(pa, pb, n * sizeof *pa);
    for (int k = 0; k < RECSYS__NOBJ; k++) {
        assert_int_equal(recsys__linear_predict_objective_rows(a, k, x, n, pa), RECSYS_OK);
        assert_int_equal(recsys__linear_predict_objective_rows(b, k, x, n, pb), RECSYS_OK);
        assert_memory_equal(pa, pb, n * sizeof *pa);
        assert_int_equal(recsys__linear_objective_updates(a, k),
                         recsys__linear_objective_updates(b, k));
    }
    assert_int_equal(recsys__linear_updates(a), recsys__linear_updates(b));
    free(x);
    free(pa);
    free(pb);
}

static double test_auc(const recsys__linear *lm, uint64_t seed, size_t n)
{
    float *x = malloc(n * RECSYS__NFEAT * sizeof *x), *y = malloc(n * sizeof *y);
    double *p = malloc(n * sizeof *p);
    assert_true(x && y && p);
    for (size_t i = 0; i < n; i++)
        make_row(&seed, x + i * RECSYS__NFEAT, &y[i]);
    recsys__linear_predict_rows(lm, x, n, p);
    for (size_t i = 0; i < n; i++) {
        assert_true(p[i] > 0 && p[i] < 1);
        assert_true(p[i] == recsys__linear_predict(lm, x + i * RECSYS__NFEAT));
    }
    double a = auc(p, y, n);
    free(x);
    free(y);
    free(p);
    return a;
}

/* The saved bytes of lm (free with recsys__free(M, .)). */
static unsigned char *saved(const recsys__linear *lm, size_t *len)
{
    void *data = NULL;
    assert_int_equal(recsys__linear_save(lm, M, &data, len), RECSYS_OK);
    assert_int_equal(*len, RECSYS__LINEAR_BYTES);
    return data;
}

/* ------------------------------------------------------------ learning */

static void untrained_model_predicts_one_half(void **state)
{
    (void)state;
    recsys__linear *lm = model_with(0.05, 1, 1);
    uint64_t s = 1;
    float row[RECSYS__NFEAT], y;
    make_row(&s, row, &y);
    assert_true(recsys__linear_predict(lm, row) == 0.5);
    double w[RECSYS__LINEAR_DIM];
    recsys__linear_weights(lm, w);
    for (size_t i = 0; i < RECSYS__LINEAR_DIM; i++)
        assert_true(w[i] == 0);
    assert_int_equal(recsys__linear_updates(lm), 0);
    recsys__linear_free(lm);
}

static void ftrl_learns_a_separable_problem(void **state)
{
    (void)state;
    recsys__linear *lm = model_with(0.1, 0.1, 1);
    double before = test_auc(lm, 99, 2000);
    assert_true(before == 0.5); /* every prediction 0.5 */
    train(lm, 7, 20000);
    assert_int_equal(recsys__linear_updates(lm), 20000);
    double a = test_auc(lm, 99, 2000);
    printf("linear: AUC %.4f on 2000 held-out rows after 20000 updates\n", a);
    assert_true(a > 0.95);
    /* the relevant weights have the label's signs */
    double w[RECSYS__LINEAR_DIM];
    recsys__linear_weights(lm, w);
    assert_true(w[REL_A] > 0);
    assert_true(w[REL_B] > 0);
    assert_true(w[REL_C] < 0);
    assert_true(w[RECSYS__NFEAT + REL_B] < 0); /* missing counts like -0.5 */
    recsys__linear_free(lm);
}

/* The inputs the synthetic rows exercise that the label does not depend on. */
static bool irrelevant_seen(size_t i)
{
    if (i == REL_A || i == REL_B || i == REL_C || i == RECSYS__NFEAT + REL_B ||
        i == RECSYS__LINEAR_BIAS)
        return false;
    return i < RECSYS__NFEAT || recsys__feature_table[i - RECSYS__NFEAT].nan;
}

static void l1_zeroes_irrelevant_weights(void **state)
{
    (void)state;
    recsys__linear *sparse = model_with(0.1, 100, 1), *dense = model_with(0.1, 0, 1);
    train(sparse, 7, 20000);
    train(dense, 7, 20000);
    double ws[RECSYS__LINEAR_DIM], wd[RECSYS__LINEAR_DIM];
    recsys__linear_weights(sparse, ws);
    recsys__linear_weights(dense, wd);
    size_t zero_s = 0, zero_d = 0, irrelevant = 0;
    for (size_t i = 0; i < RECSYS__LINEAR_DIM; i++) {
        if (!irrelevant_seen(i))
            continue;
        irrelevant++;
        zero_s += ws[i] == 0.0;
        zero_d += wd[i] == 0.0;
    }
    /* without L1 noise leaves small non-zero weights on the inputs it saw; with it, every
     * irrelevant input is exactly zero and the relevant ones survive */
    printf("linear: exact zeros among %zu irrelevant inputs: %zu with l1 100, %zu without\n",
           irrelevant, zero_s, zero_d);
    assert_int_equal(zero_s, irrelevant);
    assert_true(zero_d < irrelevant / 4);
    assert_true(ws[REL_A] > 0 && ws[REL_B] > 0 && ws[REL_C] < 0);
    assert_true(ws[RECSYS__NFEAT + REL_B] < 0);
    /* inputs never non-zero keep z = 0: weight exactly 0 with or without L1 */
    assert_true(wd[RECSYS__NFEAT + RECSYS__FEAT_ANONYMOUS] == 0.0);
    double a = test_auc(sparse, 99, 2000);
    printf("linear: AUC %.4f with l1 100\n", a);
    assert_true(a > 0.95);
    recsys__linear_free(sparse);
    recsys__linear_free(dense);
}

static void missing_and_wild_values(void **state)
{
    (void)state;
    recsys__linear *lm = model_with(0.2, 0, 1);
    /* positives have no rating, negatives have one: the missing indicator learns it */
    float row[RECSYS__NFEAT];
    for (int i = 0; i < 2000; i++) {
        memset(row, 0, sizeof row);
        row[RECSYS__FEAT_RATING] = i % 2 ? NAN : 4.0f;
        assert_int_equal(recsys__linear_update(lm, row, i % 2, 1.0), RECSYS_OK);
    }
    memset(row, 0, sizeof row);
    row[RECSYS__FEAT_RATING] = NAN;
    double p_missing = recsys__linear_predict(lm, row);
    row[RECSYS__FEAT_RATING] = 4.0f;
    double p_rated = recsys__linear_predict(lm, row);
    assert_true(p_missing > 0.9 && p_rated < 0.1);
    /* wild values are clamped: learning from them keeps every number finite */
    for (size_t f = 0; f < RECSYS__NFEAT; f++)
        row[f] = f % 3 == 0 ? INFINITY : f % 3 == 1 ? -1e30f : 3e38f;
    for (int i = 0; i < 100; i++)
        assert_int_equal(recsys__linear_update(lm, row, i % 2, 1000.0), RECSYS_OK);
    double p = recsys__linear_predict(lm, row);
    assert_true(p >= 0 && p <= 1);
    size_t len;
    unsigned char *b = saved(lm, &len);
    recsys__linear *back = NULL;
    assert_int_equal(recsys__linear_load(M, b, len, &back), RECSYS_OK); /* all finite */
    recsys__linear_free(back);
    recsys__free(M, b);
    recsys__linear_free(lm);
}

static void weights_and_labels(void **state)
{
    (void)state;
    recsys__linear *a = model_with(0.1, 0, 1), *b = model_with(0.1, 0, 1);
    float row[RECSYS__NFEAT];
    uint64_t s = 3;
    float y;
    make_row(&s, row, &y);
    /* weight 0 teaches nothing and is not counted */
    assert_int_equal(recsys__linear_update(a, row, 1, 0.0), RECSYS_OK);
    assert_int_equal(recsys__linear_updates(a), 0);
    assert_true(recsys__linear_predict(a, row) == 0.5);
    /* a larger weight moves the prediction further */
    assert_int_equal(recsys__linear_update(a, row, 1, 1.0), RECSYS_OK);
    assert_int_equal(recsys__linear_update(b, row, 1, 5.0), RECSYS_OK);
    assert_true(recsys__linear_predict(b, row) > recsys__linear_predict(a, row));
    assert_true(recsys__linear_predict(a, row) > 0.5);
    recsys__linear_free(a);
    recsys__linear_free(b);

    /* the label an event teaches, from the option values */
    recsys__optvals o;
    recsys__optvals_defaults(&o);
    int label = -1;
    double w = -1;
    assert_true(recsys__linear_label(o.num, RECSYS_EVENT_PURCHASE, &label, &w));
    assert_int_equal(label, 1);
    assert_true(w == 5);
    assert_true(recsys__linear_label(o.num, RECSYS_EVENT_CLICK, &label, &w));
    assert_true(label == 1 && w == 1);
    assert_true(recsys__linear_label(o.num, RECSYS_EVENT_LIKE, &label, &w));
    assert_true(label == 1 && w == 2);
    assert_true(recsys__linear_label(o.num, RECSYS_EVENT_DWELL, &label, &w));
    assert_true(label == 1 && w == 1);
    o.num[recsys__opt_slot(RECSYS_OPT_RANK_LABEL_IMPRESSION)] = 0.25;
    assert_true(recsys__linear_label(o.num, RECSYS_EVENT_IMPRESSION, &label, &w));
    assert_true(label == 0 && w == 0.25);
    assert_true(recsys__linear_label(o.num, RECSYS_EVENT_DISLIKE, &label, &w));
    assert_true(label == 0 && w == 0.25);
    label = 7;
    assert_false(recsys__linear_label(o.num, RECSYS_EVENT_SEARCH, &label, &w));
    assert_false(recsys__linear_label(o.num, 999, &label, &w));
    assert_int_equal(label, 7);
    recsys__linear_params p;
    recsys__linear_params_from_opt(o.num, &p);
    assert_true(p.alpha == 0.05 && p.beta == 1 && p.l1 == 1 && p.l2 == 1);
    recsys__optvals_free(&o, M);
}

static void update_rows_follows_train_labels(void **state)
{
    (void)state;
    /* rows + summed label weights (0 = none) == one update per row by hand */
    recsys__linear *a = model_with(0.1, 0.5, 1), *b = model_with(0.1, 0.5, 1);
    enum { N = 500 };
    float *x = malloc(N * RECSYS__NFEAT * sizeof *x), y[N];
    uint64_t s = 11;
    for (size_t i = 0; i < N; i++) {
        float lab;
        make_row(&s, x + i * RECSYS__NFEAT, &lab);
        y[i] = lab > 0 ? (float)(1 + i % 5) : 0.0f;
    }
    assert_int_equal(recsys__linear_update_rows(a, x, y, N, 0.5), RECSYS_OK);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(recsys__linear_update(b, x + i * RECSYS__NFEAT, y[i] > 0,
                                               y[i] > 0 ? y[i] : 0.5), RECSYS_OK);
    size_t la, lb;
    unsigned char *ba = saved(a, &la), *bb = saved(b, &lb);
    assert_memory_equal(ba, bb, la);
    /* one bad label weight: nothing is learnt */
    y[N - 1] = -1;
    assert_int_equal(recsys__linear_update_rows(a, x, y, N, 0.5), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "row 499"));
    y[N - 1] = NAN;
    assert_int_equal(recsys__linear_update_rows(a, x, y, N, 0.5), RECSYS_E_INVALID_ARG);
    y[N - 1] = 0;
    assert_int_equal(recsys__linear_update_rows(a, x, y, N, -0.5), RECSYS_E_INVALID_ARG);
    unsigned char *again = saved(a, &la);
    assert_memory_equal(ba, again, la);
    recsys__free(M, again);
    recsys__free(M, ba);
    recsys__free(M, bb);
    free(x);
    recsys__linear_free(a);
    recsys__linear_free(b);
}

static void training_is_deterministic(void **state)
{
    (void)state;
    recsys__linear *a = model_with(0.05, 1, 1), *b = model_with(0.05, 1, 1);
    train(a, 5, 3000);
    train(b, 5, 3000);
    size_t la, lb;
    unsigned char *ba = saved(a, &la), *bb = saved(b, &lb);
    assert_memory_equal(ba, bb, la);
    recsys__free(M, ba);
    recsys__free(M, bb);
    recsys__linear_free(a);
    recsys__linear_free(b);
}

static void bad_arguments_change_nothing(void **state)
{
    (void)state;
    recsys__linear *lm = model_with(0.05, 1, 1);
    train(lm, 5, 200);
    size_t len, len2;
    unsigned char *before = saved(lm, &len);
    float row[RECSYS__NFEAT] = { 0 };
    assert_int_equal(recsys__linear_update(lm, row, 2, 1), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "label 2"));
    assert_int_equal(recsys__linear_update(lm, row, -1, 1), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__linear_update(lm, row, 1, -1), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "weight"));
    assert_int_equal(recsys__linear_update(lm, row, 1, NAN), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__linear_update(lm, row, 1, INFINITY), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__linear_update(lm, row, 1, 2e6), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__linear_update(lm, NULL, 1, 1), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__linear_update(NULL, row, 1, 1), RECSYS_E_INVALID_ARG);
    const recsys__linear_params bad[] = { { 0, 1, 1, 1 },   { -1, 1, 1, 1 }, { NAN, 1, 1, 1 },
                                          { 1, -1, 1, 1 },  { 1, 1, -1, 1 }, { 1, 1, 1, -1 },
                                          { 1, 1, INFINITY, 1 } };
    const char *names[] = { "alpha", "alpha", "alpha", "beta", "l1", "l2", "l1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(recsys__linear_set_params(lm, &bad[i]), RECSYS_E_INVALID_ARG);
        assert_non_null(strstr(recsys_last_error(), names[i]));
        recsys__linear *other = (recsys__linear *)1;
        assert_int_equal(recsys__linear_new(M, &bad[i], &other), RECSYS_E_INVALID_ARG);
        assert_null(other);
    }
    assert_int_equal(recsys__linear_set_params(lm, NULL), RECSYS_E_INVALID_ARG);
    unsigned char *after = saved(lm, &len2);
    assert_memory_equal(before, after, len);
    recsys__free(M, after);
    /* a good change is kept (the weights follow from z and n with the new parameters) */
    recsys__linear_params p = { 0.5, 2, 0, 0 }, got;
    assert_int_equal(recsys__linear_set_params(lm, &p), RECSYS_OK);
    recsys__linear_get_params(lm, &got);
    assert_memory_equal(&p, &got, sizeof p);
    recsys__free(M, before);
    recsys__linear_free(lm);
    recsys__linear_free(NULL);
}

/* ------------------------------------------------------------ the saved form */

static void save_and_load_round_trip_bit_exact(void **state)
{
    (void)state;
    recsys__linear *lm = model_with(0.07, 0.3, 2);
    train(lm, 21, 5000);
    size_t len, len2;
    unsigned char *b = saved(lm, &len);
    assert_memory_equal(b, "RSLR", 4);
    recsys__linear *back = NULL;
    assert_int_equal(recsys__linear_load(M, b, len, &back), RECSYS_OK);
    unsigned char *b2 = saved(back, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(b, b2, len);
    double wa[RECSYS__LINEAR_DIM], wb[RECSYS__LINEAR_DIM];
    recsys__linear_weights(lm, wa);
    recsys__linear_weights(back, wb);
    assert_memory_equal(wa, wb, sizeof wa);
    assert_int_equal(recsys__linear_updates(back), 5000);
    recsys__linear_params p;
    recsys__linear_get_params(back, &p);
    assert_true(p.alpha == 0.07 && p.beta == 1 && p.l1 == 0.3 && p.l2 == 2);
    /* both go on learning alike */
    train(lm, 22, 500);
    train(back, 22, 500);
    recsys__free(M, b);
    recsys__free(M, b2);
    b = saved(lm, &len);
    b2 = saved(back, &len2);
    assert_memory_equal(b, b2, len);
    /* assign copies the whole state */
    recsys__linear *fresh = model_with(1, 0, 0);
    recsys__linear_assign(fresh, lm);
    recsys__linear_assign(fresh, fresh);
    unsigned char *b3 = saved(fresh, &len2);
    assert_memory_equal(b, b3, len);
    recsys__free(M, b3);
    recsys__linear_free(fresh);
    recsys__free(M, b);
    recsys__free(M, b2);
    recsys__linear_free(lm);
    recsys__linear_free(back);
}

/* Rewrites the checksum of a saved form after a deliberate change. */
static void reseal(unsigned char *b, size_t len)
{
    uint64_t h = XXH3_64bits(b, len - 8);
    for (int k = 0; k < 8; k++)
        b[len - 8 + k] = (unsigned char)(h >> (8 * k));
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

static void put_f64(unsigned char *p, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    for (int k = 0; k < 8; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

/* Loading b[0..len) fails with CORRUPT, a message containing what (NULL: any), no model. */
static void refused(fixture *f, const unsigned char *b, size_t len, const char *what)
{
    recsys__linear *lm = (recsys__linear *)1;
    long live = f->oom_stats.live;
    assert_int_equal(recsys__linear_load(&f->oom, b, len, &lm), RECSYS_E_CORRUPT);
    assert_null(lm);
    assert_int_equal(f->oom_stats.live, live);
    if (what && !strstr(recsys_last_error(), what))
        fail_msg("message '%s' does not mention '%s'", recsys_last_error(), what);
}

static void damaged_or_foreign_copies_are_refused(void **state)
{
    (void)state;
    fixture *f = fixture_new(); /* for its counting allocator */
    recsys__linear *lm = model_with(0.05, 1, 1);
    train(lm, 3, 1000);
    train_heads(lm, 4, 300); /* every head's bytes are guarded too */
    size_t len;
    unsigned char *good = saved(lm, &len);
    unsigned char *b = malloc(len + 16);
    assert_non_null(b);
    /* every single flipped byte */
    for (size_t i = 0; i < len; i++) {
        memcpy(b, good, len);
        b[i] ^= 0x5A;
        refused(f, b, len, NULL);
    }
    /* every truncation, and extra bytes */
    for (size_t n = 0; n < len; n++)
        refused(f, good, n, NULL);
    memcpy(b, good, len);
    b[len] = 0;
    refused(f, b, len + 1, "bytes");
    refused(f, good, len - 1, "bytes");
    refused(f, good, 3, "magic");
    /* fields that parse but mean something else, each with a valid checksum */
    memcpy(b, good, len);
    put_u32(b + 4, 3);
    reseal(b, len);
    refused(f, b, len, "version 3");
    memcpy(b, good, len);
    put_u32(b + 4, 1); /* a version 2 form that says 1: the length is version 1's, not this */
    reseal(b, len);
    char what[64];
    snprintf(what, sizeof what, "expected %d", (int)RECSYS__LINEAR_BYTES_V1);
    refused(f, b, len, what);
    /* a version 2 form cut to version 1's length (checksum resealed): not a version 2 */
    memcpy(b, good, RECSYS__LINEAR_BYTES_V1);
    reseal(b, RECSYS__LINEAR_BYTES_V1);
    refused(f, b, RECSYS__LINEAR_BYTES_V1, "truncated");
    memcpy(b, good, len);
    put_u32(b + 8, RECSYS__NFEAT - 1);
    reseal(b, len);
    refused(f, b, len, "features");
    memcpy(b, good, len);
    b[16] ^= 1; /* the layout fingerprint */
    reseal(b, len);
    refused(f, b, len, "layout");
    memcpy(b, good, len);
    put_f64(b + 24, 0); /* alpha */
    reseal(b, len);
    refused(f, b, len, "alpha");
    memcpy(b, good, len);
    put_f64(b + 40, -1); /* l1 */
    reseal(b, len);
    refused(f, b, len, "l1");
    memcpy(b, good, len);
    put_f64(b + 64 + 8 * 3, NAN); /* z[3] */
    reseal(b, len);
    refused(f, b, len, "z[3]");
    memcpy(b, good, len);
    put_f64(b + 64 + 8 * RECSYS__LINEAR_DIM + 8 * 5, -1); /* n[5] */
    reseal(b, len);
    refused(f, b, len, "n[5]");
    memcpy(b, good, len);
    put_f64(b + 64 + 8 * RECSYS__LINEAR_DIM, INFINITY); /* n[0] */
    reseal(b, len);
    refused(f, b, len, "n[0]");
    /* the heads: their count, a head's z and n */
    const size_t heads_at = 64 + 16 * RECSYS__LINEAR_DIM;
    memcpy(b, good, len);
    put_u32(b + heads_at, RECSYS__NOBJ + 1);
    reseal(b, len);
    snprintf(what, sizeof what, "%d outcome heads", RECSYS__NOBJ + 1);
    refused(f, b, len, what);
    memcpy(b, good, len - 8 - RECSYS__LINEAR_HEAD_BYTES); /* the last head cut off */
    put_u32(b + heads_at, RECSYS__NOBJ - 1);
    reseal(b, len - RECSYS__LINEAR_HEAD_BYTES);
    refused(f, b, len - RECSYS__LINEAR_HEAD_BYTES, "5 outcome heads");
    const size_t purchase = heads_at + 8 + RECSYS__OBJ_PURCHASE * RECSYS__LINEAR_HEAD_BYTES;
    memcpy(b, good, len);
    put_f64(b + purchase + 8 + 8 * 3, NAN); /* purchase z[3] */
    reseal(b, len);
    refused(f, b, len, "head 'purchase' z[3]");
    const size_t skip = heads_at + 8 + RECSYS__OBJ_SKIP * RECSYS__LINEAR_HEAD_BYTES;
    memcpy(b, good, len);
    put_f64(b + skip + 8 + 8 * RECSYS__LINEAR_DIM + 8 * 5, -1); /* skip n[5] */
    reseal(b, len);
    refused(f, b, len, "head 'skip' n[5]");
    memcpy(b, good, len);
    put_f64(b + skip + 8 + 8 * (2 * RECSYS__LINEAR_DIM - 1), INFINITY); /* skip's last n */
    reseal(b, len);
    snprintf(what, sizeof what, "head 'skip' n[%d]", RECSYS__LINEAR_DIM - 1);
    refused(f, b, len, what);
    /* the untouched copy loads, also under every allocation failure */
    memcpy(b, good, len);
    recsys__linear *back = NULL;
    f->oom_stats.fail_at = 1;
    assert_int_equal(recsys__linear_load(&f->oom, b, len, &back), RECSYS_E_NOMEM);
    assert_null(back);
    assert_int_equal(f->oom_stats.live, 0);
    assert_int_equal(recsys__linear_load(&f->oom, b, len, &back), RECSYS_OK);
    recsys__linear_free(back);
    assert_int_equal(f->oom_stats.live, 0);
    /* NULL arguments */
    assert_int_equal(recsys__linear_load(M, NULL, len, &back), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__linear_load(M, b, len, NULL), RECSYS_E_INVALID_ARG);
    void *data = (void *)1;
    assert_int_equal(recsys__linear_save(NULL, M, &data, &len), RECSYS_E_INVALID_ARG);
    assert_null(data);
    f->oom_stats.fail_at = 1;
    assert_int_equal(recsys__linear_save(lm, &f->oom, &data, &len), RECSYS_E_NOMEM);
    assert_null(data);
    free(b);
    recsys__free(M, good);
    recsys__linear_free(lm);
    fixture_free(f);
}


static void round_trip_keeps_every_head_bit_for_bit(void **state)
{
    (void)state;
    recsys__linear *lm = model_with(0.07, 0.3, 2);
    train(lm, 31, 3000);
    train_heads(lm, 32, 2000);
    for (int k = 0; k < RECSYS__NOBJ; k++)
        assert_true(recsys__linear_objective_updates(lm, k) > 900);
    size_t len, len2;
    unsigned char *b = saved(lm, &len);
    assert_int_equal(len, RECSYS__LINEAR_BYTES);
    assert_int_equal(b[4], 2); /* version 2 */
    recsys__linear *back = NULL;
    assert_int_equal(recsys__linear_load(M, b, len, &back), RECSYS_OK);
    same_predictions(lm, back, 33, 500);
    /* the heads are not all alike: the saved form keeps each apart */
    float row[RECSYS__NFEAT], y;
    uint64_t s = 34;
    make_row(&s, row, &y);
    double p0, p1;
    assert_int_equal(recsys__linear_predict_objective_rows(back, 0, row, 1, &p0), RECSYS_OK);
    assert_int_equal(recsys__linear_predict_objective_rows(back, 1, row, 1, &p1), RECSYS_OK);
    assert_true(p0 != p1 && p0 != 0.5 && p1 != 0.5);
    unsigned char *b2 = saved(back, &len2);
    assert_memory_equal(b, b2, len); /* no slack */
    recsys__free(M, b2);
    /* both go on learning alike, heads included */
    train(lm, 35, 300);
    train(back, 35, 300);
    train_heads(lm, 36, 300);
    train_heads(back, 36, 300);
    same_predictions(lm, back, 37, 200);
    recsys__free(M, b);
    b = saved(lm, &len);
    b2 = saved(back, &len2);
    assert_memory_equal(b, b2, len);
    recsys__free(M, b);
    recsys__free(M, b2);
    recsys__linear_free(lm);
    recsys__linear_free(back);
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

/* A version 1 form written field by field from the layout linear.h documents (the 0.2
 * builds before the heads were saved wrote exactly this), into b[RECSYS__LINEAR_BYTES_V1]. */
static void v1_form(unsigned char *b, const recsys__linear_params *p, uint64_t updates,
                    const double *z, const double *n)
{
    memcpy(b, "RSLR", 4);
    put_u32(b + 4, 1);
    put_u32(b + 8, RECSYS__NFEAT);
    put_u32(b + 12, RECSYS__LINEAR_DIM);
    put_u64(b + 16, recsys__features_fingerprint());
    put_f64(b + 24, p->alpha);
    put_f64(b + 32, p->beta);
    put_f64(b + 40, p->l1);
    put_f64(b + 48, p->l2);
    put_u64(b + 56, updates);
    for (size_t i = 0; i < RECSYS__LINEAR_DIM; i++) {
        put_f64(b + 64 + 8 * i, z[i]);
        put_f64(b + 64 + 8 * (RECSYS__LINEAR_DIM + i), n[i]);
    }
    reseal(b, RECSYS__LINEAR_BYTES_V1);
}

static void version_1_form_loads_with_untrained_heads(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    recsys__linear_params p = { 0.2, 1, 0.5, 1.5 };
    double z[RECSYS__LINEAR_DIM], n[RECSYS__LINEAR_DIM];
    for (size_t i = 0; i < RECSYS__LINEAR_DIM; i++) {
        z[i] = i % 3 == 0 ? 0.25 : i % 3 == 1 ? -(double)i / 10 : 3.0; /* some under l1 */
        n[i] = (double)i / 4;
    }
    z[RECSYS__LINEAR_BIAS] = -2;
    n[RECSYS__LINEAR_BIAS] = 9;
    unsigned char b[RECSYS__LINEAR_BYTES_V1];
    v1_form(b, &p, 1234, z, n);
    recsys__linear *lm = NULL;
    assert_int_equal(recsys__linear_load(M, b, sizeof b, &lm), RECSYS_OK);
    /* the main model is the one written: parameters, count and FTRL's weights of z and n */
    recsys__linear_params got;
    recsys__linear_get_params(lm, &got);
    assert_memory_equal(&p, &got, sizeof p);
    assert_int_equal(recsys__linear_updates(lm), 1234);
    double w[RECSYS__LINEAR_DIM];
    recsys__linear_weights(lm, w);
    assert_true(w[0] == 0);                             /* |0.25| <= l1 */
    assert_true(w[2] == -(3.0 - 0.5) / ((1 + sqrt(0.5)) / 0.2 + 1.5));
    assert_true(w[RECSYS__LINEAR_BIAS] == 2.0 / ((1 + 3.0) / 0.2 + 1.5)); /* no l1 on it */
    /* every head untrained */
    float row[RECSYS__NFEAT], y;
    uint64_t s = 5;
    make_row(&s, row, &y);
    for (int k = 0; k < RECSYS__NOBJ; k++) {
        double ph = 0;
        assert_int_equal(recsys__linear_predict_objective_rows(lm, k, row, 1, &ph), RECSYS_OK);
        assert_true(ph == 0.5);
        assert_int_equal(recsys__linear_objective_updates(lm, k), 0);
    }
    /* saved again, it is a version 2 form: the same fields, then the (empty) heads */
    size_t len;
    unsigned char *b2 = saved(lm, &len);
    assert_int_equal(b2[4], 2);
    assert_memory_equal(b + 8, b2 + 8, RECSYS__LINEAR_BYTES_V1 - 16);
    recsys__linear *back = NULL;
    assert_int_equal(recsys__linear_load(M, b2, len, &back), RECSYS_OK);
    same_predictions(lm, back, 6, 100);
    recsys__linear_free(back);
    recsys__free(M, b2);
    /* assigned into a model with heads, it keeps them (nothing learnt to hand over) */
    recsys__linear *live = model_with(0.1, 0, 1);
    train_heads(live, 7, 200);
    uint64_t hu = recsys__linear_objective_updates(live, RECSYS__OBJ_RATING);
    recsys__linear_assign(live, lm);
    assert_int_equal(recsys__linear_objective_updates(live, RECSYS__OBJ_RATING), hu);
    assert_int_equal(recsys__linear_updates(live), 1234);
    recsys__linear_free(live);
    /* a damaged version 1 form is refused like a version 2 one */
    unsigned char d[RECSYS__LINEAR_BYTES_V1];
    for (size_t i = 0; i < sizeof d; i += 7) {
        memcpy(d, b, sizeof d);
        d[i] ^= 0x01;
        refused(f, d, sizeof d, NULL);
    }
    for (size_t k = 0; k < sizeof b; k += 5)
        refused(f, b, k, NULL);
    refused(f, b, sizeof b - 1, "expected");
    memcpy(d, b, sizeof d);
    put_f64(d + 64 + 8 * 7, NAN);
    reseal(d, sizeof d);
    refused(f, d, sizeof d, "z[7]");
    /* and a version 1 form under every allocation failure: NOMEM, nothing leaked */
    for (long k = 1;; k++) {
        recsys__linear *o = NULL;
        f->oom_stats.fail_at = k;
        recsys_status st = recsys__linear_load(&f->oom, b, sizeof b, &o);
        f->oom_stats.fail_at = 0;
        if (st == RECSYS_OK) {
            recsys__linear_free(o);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(o);
        assert_int_equal(f->oom_stats.live, 0);
    }
    assert_int_equal(f->oom_stats.live, 0);
    recsys__linear_free(lm);
    fixture_free(f);
}

/* ------------------------------------------------------------ threads */

typedef struct race {
    recsys__linear *lm;
    _Atomic int stop;
    _Atomic long predictions;
    _Atomic bool bad;
} race;

static void *predictor(void *arg)
{
    race *r = arg;
    uint64_t s = 77;
    float row[RECSYS__NFEAT], y;
    while (!r->stop) {
        make_row(&s, row, &y);
        double p = recsys__linear_predict(r->lm, row);
        if (!(p > 0 && p < 1))
            r->bad = true;
        r->predictions++;
    }
    return NULL;
}

static void predictions_run_during_updates(void **state)
{
    (void)state;
    race r = { .lm = model_with(0.1, 0.1, 1) };
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, predictor, &r), 0);
    train(r.lm, 7, 20000);
    r.stop = 1;
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_false(r.bad);
    assert_true(test_auc(r.lm, 99, 1000) > 0.95);
    recsys__linear_free(r.lm);
}

/* ------------------------------------------------------------ the ranker */

static void rank(fixture *f, recsys__linear *lm, recsys_candidates *c)
{
    recsys_ranker_vtable vt;
    memset(&vt, 0xAB, sizeof vt);
    assert_int_equal(recsys__ranker_linear(&f->mem, lm, &vt), RECSYS_OK);
    assert_int_equal(vt.struct_size, sizeof vt);
    assert_ptr_equal(vt.ctx, lm);
    assert_null(vt.destroy);
    assert_int_equal(vt.score(vt.ctx, &f->q, c), RECSYS_OK);
}

static void ranker_untrained_keeps_the_merged_order(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    recsys__linear *lm = model_with(0.05, 1, 1);
    const char *users[] = { "bob", NULL };
    for (int u = 0; u < 2; u++) {
        fixture_query(f, users[u], NULL, 100);
        recsys_candidates c;
        fixture_cands(f, &c, "f_space,c_cook,l_gaming,c_ml"); /* scores 4, 3, 2, 1 */
        rank(f, lm, &c);
        char buf[256];
        assert_string_equal(fixture_cands_ranked(f, &c, buf, sizeof buf),
                            "f_space,c_cook,l_gaming,c_ml");
        for (size_t i = 0; i < c.n; i++)
            assert_float_equal(c.v[i].score, 0.5 + RECSYS__LINEAR_TIEBREAK * (4.0 - (double)i),
                               1e-15);
        recsys__cands_free(&c);
    }
    recsys__linear_free(lm);
    fixture_free(f);
}

static void ranker_trained_follows_the_model(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    /* teach: long-term category affinity makes a positive, the merged score means nothing */
    recsys__linear *lm = model_with(0.2, 0, 1);
    uint64_t s = 5;
    float row[RECSYS__NFEAT];
    for (int i = 0; i < 4000; i++) {
        memset(row, 0, sizeof row);
        row[RECSYS__FEAT_LT_CATEGORY] = (float)(2 * uni(&s) - 1);
        row[RECSYS__FEAT_MERGED_SCORE] = (float)uni(&s);
        assert_int_equal(recsys__linear_update(lm, row, row[RECSYS__FEAT_LT_CATEGORY] > 0, 1),
                         RECSYS_OK);
    }
    /* bob likes laptops */
    fixture_event(f, "bob", "l_gaming", RECSYS_EVENT_LIKE, 0, FIXTURE_NOW - FIXTURE_DAY);
    fixture_query(f, "bob", NULL, 100);
    recsys_candidates c;
    fixture_cands(f, &c, "c_cook,f_space,l_ultra");
    rank(f, lm, &c);
    char buf[256];
    const char *got = fixture_cands_ranked(f, &c, buf, sizeof buf);
    assert_true(strncmp(got, "l_ultra,", 8) == 0);
    for (size_t i = 0; i < c.n; i++)
        assert_true(c.v[i].score > 0 && c.v[i].score < 1 + 1e-5);
    /* the scores are the model's probabilities for the features (plus the tie-break) */
    float x[3 * RECSYS__NFEAT];
    recsys_candidates d;
    fixture_cands(f, &d, "c_cook,f_space,l_ultra");
    assert_int_equal(recsys__features_compute(&f->q, &d, x), RECSYS_OK);
    for (size_t i = 0; i < 3; i++)
        assert_float_equal(c.v[i].score,
                           recsys__linear_predict(lm, x + i * RECSYS__NFEAT) +
                               RECSYS__LINEAR_TIEBREAK * d.v[i].score,
                           1e-12);
    recsys__cands_free(&d);
    recsys__cands_free(&c);
    recsys__linear_free(lm);
    fixture_free(f);
}

static void ranker_out_of_memory(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    recsys__linear *lm = model_with(0.05, 1, 1);
    fixture_event(f, "dana", "l_gaming", RECSYS_EVENT_LIKE, 0, FIXTURE_NOW - 60);
    fixture_query(f, "dana", NULL, 100);
    recsys_ranker_vtable vt;
    assert_int_equal(recsys__ranker_linear(&f->mem, lm, &vt), RECSYS_OK);
    long n;
    for (n = 1;; n++) {
        recsys_candidates c;
        fixture_cands(f, &c, "c_cook,f_space,l_ultra");
        c.mem = &f->oom;
        long calls = f->oom_stats.calls;
        f->oom_stats.fail_at = n;
        recsys_status st = vt.score(vt.ctx, &f->q, &c);
        f->oom_stats.fail_at = 0;
        assert_int_equal(f->oom_stats.live, 0);
        c.mem = &f->mem;
        if (st == RECSYS_OK) {
            assert_int_equal(f->oom_stats.calls - calls, 1); /* one allocation */
            recsys__cands_free(&c);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_true(c.v[0].score == 3.0); /* untouched */
        recsys__cands_free(&c);
    }
    assert_int_equal(n, 2);
    /* an empty set: nothing to do, no allocation */
    recsys_candidates c;
    recsys__cands_init(&c, &f->oom, &f->q, 0);
    long calls = f->oom_stats.calls;
    assert_int_equal(vt.score(vt.ctx, &f->q, &c), RECSYS_OK);
    assert_int_equal(f->oom_stats.calls, calls);
    recsys__cands_free(&c);
    assert_int_equal(recsys__ranker_linear(&f->mem, NULL, &vt), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__ranker_linear(&f->mem, lm, NULL), RECSYS_E_INVALID_ARG);
    recsys__linear_free(lm);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(untrained_model_predicts_one_half),
        cmocka_unit_test(ftrl_learns_a_separable_problem),
        cmocka_unit_test(l1_zeroes_irrelevant_weights),
        cmocka_unit_test(missing_and_wild_values),
        cmocka_unit_test(weights_and_labels),
        cmocka_unit_test(update_rows_follows_train_labels),
        cmocka_unit_test(training_is_deterministic),
        cmocka_unit_test(bad_arguments_change_nothing),
        cmocka_unit_test(save_and_load_round_trip_bit_exact),
        cmocka_unit_test(damaged_or_foreign_copies_are_refused),
        cmocka_unit_test(round_trip_keeps_every_head_bit_for_bit),
        cmocka_unit_test(version_1_form_loads_with_untrained_heads),
        cmocka_unit_test(predictions_run_during_updates),
        cmocka_unit_test(ranker_untrained_keeps_the_merged_order),
        cmocka_unit_test(ranker_trained_follows_the_model),
        cmocka_unit_test(ranker_out_of_memory),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("rank/linear", tests, NULL, NULL);
}
