/* fuzz_gbdt.c - libFuzzer target: the input is an XGBoost JSON model for recsys__gbdt_load
 * (lib/rank/gbdt.h). What loads is used: a few rows (zeros, ones, NaN, +-inf, large values)
 * are scored in one batch, again, and one row at a time; the three must agree bit for bit
 * (the block walk is the same arithmetic whatever the block), and the model's counts must be
 * consistent. A load that fails must say why. Never crashes, never leaks (ASan). */
#include "recsys.h"
#include "core/error.h"
#include "rank/gbdt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROWS 9

static void check(bool ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const recsys__mem *m = &recsys__mem_default;
    recsys__gbdt *g = NULL;
    recsys_status st = recsys__gbdt_load(m, (const char *)data, size, &g);
    if (st != RECSYS_OK) {
        check(g == NULL);
        check(st == RECSYS_E_CORRUPT || st == RECSYS_E_UNSUPPORTED || st == RECSYS_E_NOMEM ||
              st == RECSYS_E_INVALID_ARG);
        check(recsys_last_error()[0] != '\0');
        return 0;
    }
    recsys__gbdt_info in;
    recsys__gbdt_info_get(g, &in);
    check(in.nfeat >= 1 && in.nfeat <= RECSYS__GBDT_MAX_FEATURES);
    check(in.nnodes >= in.ntrees);
    check(in.ntrees == 0 || in.max_depth < in.nnodes);
    size_t f = in.nfeat;
    float *x = malloc(ROWS * f * sizeof *x);
    float *a = malloc(3 * ROWS * sizeof *a);
    check(x && a);
    static const float vals[] = { 0.0f, 1.0f, -1.0f, NAN, INFINITY, -INFINITY, 3e38f, -0.5f,
                                  1e-30f };
    for (size_t r = 0; r < ROWS; r++)
        for (size_t k = 0; k < f; k++)
            x[r * f + k] = vals[(r + k * 7) % ROWS];
    float *b = a + ROWS, *c = a + 2 * ROWS;
    check(recsys__gbdt_predict(g, x, ROWS, f, a) == RECSYS_OK);
    check(recsys__gbdt_predict(g, x, ROWS, f, b) == RECSYS_OK);
    for (size_t r = 0; r < ROWS; r++)
        check(recsys__gbdt_predict(g, x + r * f, 1, f, c + r) == RECSYS_OK);
    check(memcmp(a, b, ROWS * sizeof *a) == 0 && memcmp(a, c, ROWS * sizeof *a) == 0);
    check(recsys__gbdt_predict(g, x, ROWS, f + 1, a) == RECSYS_E_INVALID_ARG);
    free(x);
    free(a);
    recsys__gbdt_free(m, g);
    return 0;
}
