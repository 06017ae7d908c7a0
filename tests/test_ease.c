/* test_ease.c - the EASE builder and the "ease" source: weights against a hand-computed case
 * and a naive dense reference, the item limit, scoring order, exclusions, out-of-memory
 * loops and (with RECSYS_DATA_DIR) the quality on MovieLens 100K under the evaluation
 * protocol. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "retrieve/ease.h"
#include "support/fixture.h"
#include "support/ml_fixture.h"

static const int64_t now = FIXTURE_NOW;

/* Items "i0".."i<n-1>" (catalog indices 0..n-1). */
static void add_items(fixture *f, int n)
{
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "i%d", i);
        fixture_item_def d = { .id = id, .title = id };
        assert_int_equal(fixture_add_item(f, &d), (uint32_t)i);
    }
}

static void ev(fixture *f, const char *user, int item, int32_t type)
{
    char id[16];
    snprintf(id, sizeof id, "i%d", item);
    fixture_event(f, user, id, type, 0, now - 3600);
}

/* Builds through the refresh builder with f->opts and allocator m; fails the test unless
 * the status is want. */
static void *build(fixture *f, const recsys__mem *m, recsys_status want)
{
    recsys__build_ctx ctx = { .mem = m, .model = &f->model, .opt = f->opts.num,
                                 .seed = 7, .progress = false };
    void *state = (void *)1;
    recsys_status st = recsys__ease_builder.build(&ctx, &state);
    if (st != want)
        fail_msg("build gave %s (%s), expected %s", recsys_status_str(st), recsys_last_error(),
                 recsys_status_str(want));
    if (st != RECSYS_OK)
        assert_null(state);
    return state;
}

static void set_state(fixture *f, void *state)
{
    f->derived.state[RECSYS__DERIVED_EASE] = state;
    f->derived.builder[RECSYS__DERIVED_EASE] = &recsys__ease_builder;
}

static void drop_state(fixture *f)
{
    recsys__ease_builder.free(&f->mem, f->derived.state[RECSYS__DERIVED_EASE]);
    f->derived.state[RECSYS__DERIVED_EASE] = NULL;
    f->derived.builder[RECSYS__DERIVED_EASE] = NULL;
}

static void run(fixture *f, recsys_query *q, recsys_candidates *c)
{
    recsys_source_vtable vt;
    memset(&vt, 0xAB, sizeof vt);
    assert_int_equal(recsys__source_ease(&f->mem, &vt), RECSYS_OK);
    assert_int_equal(vt.struct_size, sizeof vt);
    assert_null(vt.ctx);
    assert_null(vt.destroy);
    recsys__cands_init(c, &f->mem, q, q->limit);
    assert_int_equal(vt.retrieve(vt.ctx, q, c), RECSYS_OK);
    assert_true(c->n <= q->limit);
}

static const char *ids(fixture *f, recsys_candidates *c)
{
    static _Thread_local char buf[1024]; /* test-only scratch */
    return fixture_cands_str(f, c, buf, sizeof buf);
}

/* ------------------------------------------------------------ naive reference */

/* Dense X (nusers x nitems, doubles) from the interaction matrix the builder uses. */
static double *dense_x(fixture *f, size_t *nu, size_t *ni)
{
    recsys__interactions x;
    assert_int_equal(recsys__interactions_build(&f->mem, &f->model, &x), RECSYS_OK);
    *nu = x.nusers;
    *ni = x.nitems;
    double *d = calloc(x.nusers * x.nitems + 1, sizeof *d);
    assert_non_null(d);
    for (size_t u = 0; u < x.nusers; u++)
        for (size_t k = x.row_ptr[u]; k < x.row_ptr[u + 1]; k++)
            d[u * x.nitems + x.col[k]] = x.val[k];
    recsys__interactions_free(&f->mem, &x);
    return d;
}

/* G = X^T X + lambda I (n x n). */
static double *dense_g(const double *x, size_t nu, size_t n, double lambda)
{
    double *g = calloc(n * n, sizeof *g);
    assert_non_null(g);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = i == j ? lambda : 0;
            for (size_t u = 0; u < nu; u++)
                s += x[u * n + i] * x[u * n + j];
            g[i * n + j] = s;
        }
    return g;
}

/* Inverse by Gauss-Jordan with partial pivoting. */
static double *invert(const double *g, size_t n)
{
    double *a = malloc(n * n * sizeof *a), *inv = calloc(n * n, sizeof *inv);
    assert_true(a && inv);
    memcpy(a, g, n * n * sizeof *a);
    for (size_t i = 0; i < n; i++)
        inv[i * n + i] = 1;
    for (size_t c = 0; c < n; c++) {
        size_t p = c;
        for (size_t r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[p * n + c]))
                p = r;
        assert_true(fabs(a[p * n + c]) > 1e-12);
        for (size_t j = 0; j < n; j++) {
            double t = a[c * n + j];
            a[c * n + j] = a[p * n + j];
            a[p * n + j] = t;
            t = inv[c * n + j];
            inv[c * n + j] = inv[p * n + j];
            inv[p * n + j] = t;
        }
        double d = a[c * n + c];
        for (size_t j = 0; j < n; j++) {
            a[c * n + j] /= d;
            inv[c * n + j] /= d;
        }
        for (size_t r = 0; r < n; r++) {
            if (r == c)
                continue;
            double m = a[r * n + c];
            for (size_t j = 0; j < n; j++) {
                a[r * n + j] -= m * a[c * n + j];
                inv[r * n + j] -= m * inv[c * n + j];
            }
        }
    }
    free(a);
    return inv;
}

/* B over the whole catalog (dense, every item), as Steck writes it. */
static double *dense_b(fixture *f, double lambda, size_t *n_out, double **g_out)
{
    size_t nu, n;
    double *x = dense_x(f, &nu, &n);
    double *g = dense_g(x, nu, n, lambda);
    double *p = invert(g, n);
    double *b = malloc(n * n * sizeof *b);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            b[i * n + j] = i == j ? 0 : -p[i * n + j] / p[j * n + j];
    free(x);
    free(p);
    if (g_out)
        *g_out = g;
    else
        free(g);
    *n_out = n;
    return b;
}

/* A small catalog with weighted cells (view 1, like 3, purchase 5); i5 has no events. */
static fixture *small(void)
{
    fixture *f = fixture_new();
    add_items(f, 6);
    ev(f, "u0", 0, RECSYS_EVENT_VIEW);
    ev(f, "u0", 1, RECSYS_EVENT_LIKE);
    ev(f, "u0", 2, RECSYS_EVENT_VIEW);
    ev(f, "u1", 1, RECSYS_EVENT_VIEW);
    ev(f, "u1", 2, RECSYS_EVENT_PURCHASE);
    ev(f, "u1", 3, RECSYS_EVENT_VIEW);
    ev(f, "u2", 0, RECSYS_EVENT_LIKE);
    ev(f, "u2", 3, RECSYS_EVENT_VIEW);
    ev(f, "u2", 4, RECSYS_EVENT_VIEW);
    ev(f, "u3", 2, RECSYS_EVENT_VIEW);
    ev(f, "u3", 4, RECSYS_EVENT_LIKE);
    ev(f, "u4", 0, RECSYS_EVENT_VIEW);
    ev(f, "u4", 1, RECSYS_EVENT_VIEW);
    return f;
}

/* ------------------------------------------------------------ weights */

static void ease_two_items_by_hand(void **state)
{
    (void)state;
    /* X = [[1 1], [1 0]], lambda 1: G = [[3 1], [1 2]], P = [[2 -1], [-1 3]] / 5,
     * B01 = -P01 / P11 = 1/3, B10 = -P10 / P00 = 1/2 */
    fixture *f = fixture_new();
    add_items(f, 2);
    ev(f, "a", 0, RECSYS_EVENT_VIEW);
    ev(f, "a", 1, RECSYS_EVENT_VIEW);
    ev(f, "b", 0, RECSYS_EVENT_VIEW);
    fixture_set_opt(f, RECSYS_OPT_EASE_LAMBDA, 1.0);
    void *s = build(f, &f->mem, RECSYS_OK);
    assert_int_equal(recsys__ease_items(s), 2);
    assert_float_equal(recsys__ease_weight(s, 0, 1), 1.0 / 3, 1e-6);
    assert_float_equal(recsys__ease_weight(s, 1, 0), 1.0 / 2, 1e-6);
    assert_float_equal(recsys__ease_weight(s, 0, 0), 0, 0);
    assert_float_equal(recsys__ease_weight(s, 1, 1), 0, 0);
    assert_float_equal(recsys__ease_weight(s, 0, 7), 0, 0); /* beyond the state */
    /* a user holding i0 scores i1 at B01 */
    set_state(f, s);
    ev(f, "c", 0, RECSYS_EVENT_VIEW);
    recsys_candidates c;
    run(f, fixture_query(f, "c", NULL, 10), &c);
    assert_string_equal(ids(f, &c), "i1");
    assert_float_equal(c.v[0].score, 1.0 / 3, 1e-6);
    recsys__cands_free(&c);
    drop_state(f);
    fixture_free(f);
}

static void ease_matches_dense_reference(void **state)
{
    (void)state;
    fixture *f = small();
    const double lambdas[] = { 0.5, 2.0, 50.0 };
    for (size_t l = 0; l < 3; l++) {
        fixture_set_opt(f, RECSYS_OPT_EASE_LAMBDA, lambdas[l]);
        void *s = build(f, &f->mem, RECSYS_OK);
        assert_int_equal(recsys__ease_items(s), 5); /* i5 has no interactions */
        size_t n;
        double *g;
        double *b = dense_b(f, lambdas[l], &n, &g);
        assert_int_equal(n, 6);
        for (size_t i = 0; i < n; i++) {
            assert_float_equal(recsys__ease_weight(s, (uint32_t)i, (uint32_t)i), 0, 0);
            for (size_t j = 0; j < n; j++) {
                double got = recsys__ease_weight(s, (uint32_t)i, (uint32_t)j);
                assert_float_equal(got, b[i * n + j], 1e-5 * (1 + fabs(b[i * n + j])));
                if (i == 5 || j == 5)
                    assert_float_equal(got, 0, 0);
            }
        }
        /* G B = G - diag(1 / diag(P)): off the diagonal, (G B)_ij = G_ij */
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) {
                if (i == j)
                    continue;
                double gb = 0;
                for (size_t k = 0; k < n; k++)
                    gb += g[i * n + k] * recsys__ease_weight(s, (uint32_t)k, (uint32_t)j);
                assert_float_equal(gb, g[i * n + j], 1e-4 * (1 + fabs(g[i * n + j])));
            }
        free(b);
        free(g);
        recsys__ease_builder.free(&f->mem, s);
    }
    fixture_free(f);
}

static void ease_item_limit_and_bad_lambda(void **state)
{
    (void)state;
    fixture *f = small();
    fixture_set_opt(f, RECSYS_OPT_EASE_MAX_ITEMS, 4);
    build(f, &f->mem, RECSYS_E_UNSUPPORTED);
    const char *msg = recsys_last_error();
    assert_non_null(strstr(msg, "5 items"));
    assert_non_null(strstr(msg, "limit of 4"));
    assert_non_null(strstr(msg, "MiB"));
    /* the limit counts items with interactions (5), not catalog slots (6) */
    fixture_set_opt(f, RECSYS_OPT_EASE_MAX_ITEMS, 5);
    void *s = build(f, &f->mem, RECSYS_OK);
    recsys__ease_builder.free(&f->mem, s);
    /* lambda 0 with two identical columns: G is singular */
    fixture *g = fixture_new();
    add_items(g, 3);
    ev(g, "a", 0, RECSYS_EVENT_VIEW);
    ev(g, "a", 1, RECSYS_EVENT_VIEW);
    ev(g, "b", 0, RECSYS_EVENT_VIEW);
    ev(g, "b", 1, RECSYS_EVENT_VIEW);
    ev(g, "b", 2, RECSYS_EVENT_VIEW);
    fixture_set_opt(g, RECSYS_OPT_EASE_LAMBDA, 0);
    build(g, &g->mem, RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "not positive definite"));
    /* direct calls: a negative lambda, NULLs */
    recsys__interactions x;
    assert_int_equal(recsys__interactions_build(&g->mem, &g->model, &x), RECSYS_OK);
    void *out = (void *)1;
    assert_int_equal(recsys__ease_train(&g->mem, &x, -1, 10, false, &out), RECSYS_E_INVALID_ARG);
    assert_null(out);
    assert_int_equal(recsys__ease_train(&g->mem, NULL, 1, 10, false, &out), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__ease_train(&g->mem, &x, 1, 10, false, NULL), RECSYS_E_INVALID_ARG);
    recsys__interactions_free(&g->mem, &x);
    fixture_free(g);
    fixture_free(f);
}

static void ease_no_events_builds_nothing(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    add_items(f, 3);
    ev(f, "bob", 1, RECSYS_EVENT_IMPRESSION); /* neither impressions nor dislikes count */
    ev(f, "bob", 2, RECSYS_EVENT_DISLIKE);
    void *s = build(f, &f->mem, RECSYS_OK);
    assert_null(s);
    /* no state: the source proposes nothing */
    ev(f, "bob", 0, RECSYS_EVENT_VIEW);
    recsys_candidates c;
    run(f, fixture_query(f, "bob", NULL, 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    recsys_query *q = fixture_query(f, "bob", NULL, 10);
    q->derived = NULL;
    run(f, q, &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    fixture_free(f);
}

/* ------------------------------------------------------------ scoring */

typedef struct ref_ent {
    uint32_t item;
    double score;
} ref_ent;

static int cmp_ref(const void *a, const void *b)
{
    const ref_ent *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

static void ease_scores_in_order_and_skips_positives(void **state)
{
    (void)state;
    fixture *f = small();
    fixture_set_opt(f, RECSYS_OPT_EASE_LAMBDA, 2.0);
    set_state(f, build(f, &f->mem, RECSYS_OK));
    size_t n;
    double *b = dense_b(f, 2.0, &n, NULL);
    /* u1 holds i1 (1), i2 (5), i3 (1): s = x_u B over the rest */
    const char *users[] = { "u0", "u1", "u2", "u3", "u4" };
    for (size_t k = 0; k < 5; k++) {
        uint32_t *pos;
        float *w;
        size_t npos;
        recsys_query *q = fixture_query(f, users[k], NULL, 10);
        assert_int_equal(recsys__user_positives(&f->mem, &f->model, q->user, &pos, &w, &npos),
                         RECSYS_OK);
        ref_ent ref[6];
        size_t nref = 0;
        for (uint32_t i = 0; i < 5; i++) { /* i5 took no part */
            bool held = false;
            for (size_t j = 0; j < npos; j++)
                held |= pos[j] == i;
            if (held)
                continue;
            double sc = 0;
            for (size_t j = 0; j < npos; j++)
                sc += w[j] * b[pos[j] * n + i];
            ref[nref++] = (ref_ent){ i, sc };
        }
        qsort(ref, nref, sizeof *ref, cmp_ref);
        recsys_candidates c;
        run(f, q, &c);
        assert_int_equal(c.n, nref);
        for (size_t i = 0; i < nref; i++) {
            assert_int_equal(c.v[i].item, ref[i].item);
            assert_float_equal(c.v[i].score, ref[i].score, 1e-5);
        }
        recsys__cands_free(&c);
        /* the limit keeps the best */
        q = fixture_query(f, users[k], NULL, 1);
        run(f, q, &c);
        assert_int_equal(c.n, 1);
        assert_int_equal(c.v[0].item, ref[0].item);
        recsys__cands_free(&c);
        recsys__free(&f->mem, pos);
        recsys__free(&f->mem, w);
    }
    free(b);
    drop_state(f);
    fixture_free(f);
}

static void ease_exclusions_and_cold_users(void **state)
{
    (void)state;
    fixture *f = small();
    fixture_set_opt(f, RECSYS_OPT_EASE_LAMBDA, 2.0);
    set_state(f, build(f, &f->mem, RECSYS_OK));
    recsys_candidates c;
    run(f, fixture_query(f, "u4", NULL, 10), &c); /* u4 holds i0, i1 */
    assert_int_equal(c.n, 3);
    char before[64];
    snprintf(before, sizeof before, "%s", ids(f, &c));
    recsys__cands_free(&c);
    /* excluded and removed items go; the others keep their order */
    fixture_exclude(f, "i2");
    fixture_remove(f, "i4");
    run(f, fixture_query(f, "u4", NULL, 10), &c);
    assert_string_equal(ids(f, &c), "i3");
    recsys__cands_free(&c);
    assert_non_null(strstr(before, "i3"));
    /* anonymous, unknown, no positive known to the model, limit 0 */
    run(f, fixture_query(f, NULL, NULL, 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    run(f, fixture_query(f, "nobody", NULL, 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    ev(f, "late", 5, RECSYS_EVENT_VIEW); /* i5 took no part in the build */
    run(f, fixture_query(f, "late", NULL, 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    run(f, fixture_query(f, "u4", NULL, 0), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    /* a user whose only event is a dislike has no positives */
    ev(f, "grumpy", 0, RECSYS_EVENT_DISLIKE);
    run(f, fixture_query(f, "grumpy", NULL, 10), &c);
    assert_int_equal(c.n, 0);
    recsys__cands_free(&c);
    drop_state(f);
    fixture_free(f);
}

/* ------------------------------------------------------------ failures */

static void ease_out_of_memory(void **state)
{
    (void)state;
    fixture *f = small();
    long n;
    for (n = 1;; n++) {
        f->oom_stats.fail_at = n;
        recsys__build_ctx ctx = { .mem = &f->oom, .model = &f->model, .opt = f->opts.num,
                                 .seed = 7, .progress = false };
        void *s = NULL;
        recsys_status st = recsys__ease_builder.build(&ctx, &s);
        f->oom_stats.fail_at = 0;
        if (st == RECSYS_OK) {
            assert_non_null(s);
            recsys__ease_builder.free(&f->oom, s);
            assert_int_equal(f->oom_stats.live, 0);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(s);
        assert_int_equal(f->oom_stats.live, 0);
    }
    assert_true(n > 3);
    set_state(f, build(f, &f->mem, RECSYS_OK));
    recsys_query *q = fixture_query(f, "u0", NULL, 10);
    size_t got = 0;
    n = fixture_retrieve_oom(f, recsys__source_ease, q, &got);
    assert_true(got > 0);
    assert_true(n > 1);
    drop_state(f);
    fixture_free(f);
}

static void ease_rejects_null_arguments(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    assert_int_equal(recsys__source_ease(&f->mem, NULL), RECSYS_E_INVALID_ARG);
    recsys_source_vtable vt;
    assert_int_equal(recsys__source_ease(&f->mem, &vt), RECSYS_OK);
    recsys_candidates c;
    recsys__cands_init(&c, &f->mem, fixture_query(f, NULL, NULL, 5), 5);
    assert_int_equal(vt.retrieve(NULL, NULL, &c), RECSYS_E_INVALID_ARG);
    assert_int_equal(vt.retrieve(NULL, &f->q, NULL), RECSYS_E_INVALID_ARG);
    recsys__cands_free(&c);
    assert_int_equal(recsys__ease_items(NULL), 0);
    assert_float_equal(recsys__ease_weight(NULL, 0, 0), 0, 0);
    recsys__ease_free(&f->mem, NULL);
    fixture_free(f);
}

/* ------------------------------------------------------------ MovieLens 100K */

static void ml_prepare(fixture *f, void *arg)
{
    (void)arg;
    fixture_set_opt(f, RECSYS_OPT_EASE_LAMBDA, 300); /* chosen on the validation split */
    set_state(f, build(f, &f->mem, RECSYS_OK));
}

static void ml_drop(fixture *f, void *arg)
{
    (void)arg;
    drop_state(f);
}

/* The protocol's test NDCG@10 (ml-100k, variant ALL) of the source alone. */
static void ease_ml100k_ndcg(void **state)
{
    (void)state;
    recsys__eval_metrics mt;
    if (!ml_eval_source(ml_prepare, ml_drop, NULL, recsys__source_ease, &mt))
        skip();
    assert_int_equal(mt.users, 943);
    print_message("ease ml-100k ALL: NDCG@10 %.4f (lambda 300)\n", mt.ndcg[0]);
    assert_true(mt.ndcg[0] >= 0.98 * 0.1916);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ease_two_items_by_hand),
        cmocka_unit_test(ease_matches_dense_reference),
        cmocka_unit_test(ease_item_limit_and_bad_lambda),
        cmocka_unit_test(ease_no_events_builds_nothing),
        cmocka_unit_test(ease_scores_in_order_and_skips_positives),
        cmocka_unit_test(ease_exclusions_and_cold_users),
        cmocka_unit_test(ease_out_of_memory),
        cmocka_unit_test(ease_rejects_null_arguments),
        cmocka_unit_test(ease_ml100k_ndcg),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("retrieve/ease", tests, NULL, NULL);
}
