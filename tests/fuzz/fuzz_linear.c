/* fuzz_linear.c - libFuzzer target for the saved form of the "linear" ranker's model
 * (recsys__linear_load, lib/rank/linear.c).
 *
 * Input: byte 0 chooses the mode, the rest is the saved form.
 *   bit 0: reseal: when the rest is at least 8 bytes, rewrite its last 8 bytes with the
 *          XXH3-64 of the bytes before them, so that the fuzzer gets past the checksum into
 *          the field checks (which the checksum would otherwise guard)
 *   bit 1: start from a valid model's bytes and overwrite them with the rest from offset
 *          data[1] * 8 (then reseal as bit 0 says), so that single fields are mutated
 * A load must either fail with RECSYS_E_CORRUPT (with a message, no model, no leak) or give
 * a model whose saved form is the input byte for byte (the format has no slack), that
 * predicts within 0..1 for rows of any values, and that stays loadable after an update.
 * Never crashes, never leaks (ASan), aborts on a broken property.
 *
 * Build: see the Makefile's fuzz target (clang -fsanitize=fuzzer,address,undefined). */
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

/* A small trained model's bytes (allocated with M). */
static unsigned char *valid_bytes(size_t *len)
{
    recsys__linear_params p = { 0.1, 1, 0.5, 1 };
    recsys__linear *lm = NULL;
    check(recsys__linear_new(M, &p, &lm) == RECSYS_OK);
    float row[RECSYS__NFEAT];
    for (int i = 0; i < 50; i++) {
        for (size_t f = 0; f < RECSYS__NFEAT; f++)
            row[f] = (float)((i * 31 + (int)f * 7) % 11) / 10.0f - 0.3f;
        check(recsys__linear_update(lm, row, i % 3 == 0, 1.0 + i % 4) == RECSYS_OK);
    }
    void *b = NULL;
    check(recsys__linear_save(lm, M, &b, len) == RECSYS_OK);
    recsys__linear_free(lm);
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
        buf = valid_bytes(&len);
        size_t at = n ? (size_t)rest[0] * 8 : 0;
        for (size_t i = 1; i < n && at < len; i++)
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
        check(lm != NULL && len == RECSYS__LINEAR_BYTES);
        /* no slack: the model saves back to exactly the input */
        void *again = NULL;
        size_t alen = 0;
        check(recsys__linear_save(lm, M, &again, &alen) == RECSYS_OK);
        check(alen == len && memcmp(again, buf, len) == 0);
        recsys__free(M, again);
        /* predictions are probabilities for rows of any values */
        float row[RECSYS__NFEAT];
        for (size_t f = 0; f < RECSYS__NFEAT; f++)
            row[f] = f % 4 == 0 ? NAN : f % 4 == 1 ? 1e30f : f % 4 == 2 ? -3.0f : 0.5f;
        double p = recsys__linear_predict(lm, row);
        check(p >= 0 && p <= 1);
        /* an update keeps it loadable (finite) */
        check(recsys__linear_update(lm, row, 1, 1000.0) == RECSYS_OK);
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
