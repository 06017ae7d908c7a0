/* fuzz_linear.c - libFuzzer target for the saved form of the "linear" ranker's model
 * (recsys__linear_load, lib/rank/linear.c): version 2 (the main model and every outcome
 * head) and version 1 (the main model only).
 *
 * Input: byte 0 chooses the mode, the rest is the saved form.
 *   bit 0: reseal: when the rest is at least 8 bytes, rewrite its last 8 bytes with the
 *          XXH3-64 of the bytes before them, so that the fuzzer gets past the checksum into
 *          the field checks (which the checksum would otherwise guard)
 *   bit 1: start from a valid model's bytes (main model and heads trained) and overwrite
 *          them with the rest from offset data[1] * 8 + data[2] * 2048 (then reseal as bit 0
 *          says), so that single fields are mutated, the heads' too
 *   bit 2: with bit 1, start from the version 1 form of that model instead
 * A load must either fail with RECSYS_E_CORRUPT (with a message, no model, no leak) or give
 * a model whose saved form is the input byte for byte (version 2: the format has no slack)
 * or, for a version 1 input, a version 2 form with the same main model and untrained heads;
 * that predicts within 0..1 for rows of any values, main model and every head, and that
 * stays loadable after an update of each. Never crashes, never leaks (ASan), aborts on a
 * broken property.
 *
 * Build: see the Makefile's fuzz target (clang -fsanitize=fuzzer,address,undefined). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "recsys.h"
#include "core/error.h"
#include "rank/linear.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const recsys__mem *M = &recsys__mem_default;

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void reseal(unsigned char *b, size_t len)
{
    if (len < 8)
        return;
    uint64_t h = XXH3_64bits(b, len - 8);
    for (int k = 0; k < 8; k++)
        b[len - 8 + k] = (unsigned char)(h >> (8 * k));
}

/* A small trained model's bytes, main model and heads (allocated with M); v1: its version 1
 * form (the version 2 form's first part, version 1, resealed). */
static unsigned char *valid_bytes(size_t *len, bool v1)
{
    recsys__linear_params p = { 0.1, 1, 0.5, 1 };
    recsys__linear *lm = NULL;
    check(recsys__linear_new(M, &p, &lm) == RECSYS_OK);
    float row[RECSYS__NFEAT];
    for (int i = 0; i < 50; i++) {
        for (size_t f = 0; f < RECSYS__NFEAT; f++)
            row[f] = (float)((i * 31 + (int)f * 7) % 11) / 10.0f - 0.3f;
        check(recsys__linear_update(lm, row, i % 3 == 0, 1.0 + i % 4) == RECSYS_OK);
        for (int k = 0; k < RECSYS__NOBJ; k++)
            check(recsys__linear_update_objective(lm, k, row, (i + k) % 4 == 0, 1.0) ==
                  RECSYS_OK);
    }
    void *b = NULL;
    check(recsys__linear_save(lm, M, &b, len) == RECSYS_OK);
    recsys__linear_free(lm);
    if (v1) {
        unsigned char *c = b;
        c[4] = 1;
        *len = RECSYS__LINEAR_BYTES_V1;
        reseal(c, *len);
    }
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    unsigned char *buf;
    size_t len;
    if (mode & 2) {
        buf = valid_bytes(&len, mode & 4);
        size_t at = (n ? (size_t)rest[0] * 8 : 0) + (n > 1 ? (size_t)rest[1] * 2048 : 0);
        for (size_t i = 2; i < n && at < len; i++)
            buf[at++] = rest[i];
    } else {
        len = n;
        buf = malloc(len ? len : 1);
        check(buf != NULL);
        memcpy(buf, rest, len);
    }
    if (mode & 1)
        reseal(buf, len);

    recsys__err_clear();
    recsys__linear *lm = (recsys__linear *)1;
    recsys_status st = recsys__linear_load(M, buf, len, &lm);
    if (st != RECSYS_OK) {
        check(st == RECSYS_E_CORRUPT && lm == NULL && recsys_last_error()[0]);
    } else {
        bool v1 = buf[4] == 1;
        check(lm != NULL && len == (v1 ? RECSYS__LINEAR_BYTES_V1 : RECSYS__LINEAR_BYTES));
        /* no slack: the model saves back to exactly the input (version 1: the same fields
         * in a version 2 form, the heads untrained) */
        void *again = NULL;
        size_t alen = 0;
        check(recsys__linear_save(lm, M, &again, &alen) == RECSYS_OK);
        check(alen == RECSYS__LINEAR_BYTES);
        if (v1)
            check(memcmp((char *)again + 8, buf + 8, RECSYS__LINEAR_BYTES_V1 - 16) == 0);
        else
            check(memcmp(again, buf, len) == 0);
        recsys__free(M, again);
        /* predictions are probabilities for rows of any values, every head's too */
        float row[RECSYS__NFEAT];
        for (size_t f = 0; f < RECSYS__NFEAT; f++)
            row[f] = f % 4 == 0 ? NAN : f % 4 == 1 ? 1e30f : f % 4 == 2 ? -3.0f : 0.5f;
        double p = recsys__linear_predict(lm, row);
        check(p >= 0 && p <= 1);
        for (int k = 0; k < RECSYS__NOBJ; k++) {
            check(recsys__linear_predict_objective_rows(lm, k, row, 1, &p) == RECSYS_OK);
            check(p >= 0 && p <= 1);
            check(!v1 || (p == 0.5 && recsys__linear_objective_updates(lm, k) == 0));
        }
        /* an update of each keeps it loadable (finite) */
        check(recsys__linear_update(lm, row, 1, 1000.0) == RECSYS_OK);
        for (int k = 0; k < RECSYS__NOBJ; k++)
            check(recsys__linear_update_objective(lm, k, row, k & 1, 1000.0) == RECSYS_OK);
        check(recsys__linear_save(lm, M, &again, &alen) == RECSYS_OK);
        recsys__linear *back = NULL;
        check(recsys__linear_load(M, again, alen, &back) == RECSYS_OK);
        recsys__linear_free(back);
        recsys__free(M, again);
        recsys__linear_free(lm);
    }
    if (mode & 2)
        recsys__free(M, buf);
    else
        free(buf);
    return 0;
}
