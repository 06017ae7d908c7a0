/* fuzz_llm_rerank.c - libFuzzer target: the input is an LLM's re-ranking reply, read by
 * recsys__handles_parse (lib/llm/handles.h) for every list length n in 0..40 taken from the
 * first byte, and then blended (lib/llm/rerank.h) at three weights.
 * Invariants (abort on a break): the status is RECSYS_OK or RECSYS_E_CORRUPT (never anything
 * else; NOMEM cannot happen with the default allocator); the order is always a permutation of
 * 0..n-1, the identity on CORRUPT; listed + missing = n; on RECSYS_OK listed >= 1 and the
 * listed handles come first, so the missing ones keep their original order after them; a
 * second parse of the same text gives the same order (no hidden state); the blend of any
 * permutation is a permutation, the model's order at weight 0 and the LLM's at weight 1.
 * Never crashes, never leaks (ASan). */
#include "recsys.h"
#include "core/error.h"
#include "llm/handles.h"
#include "llm/rerank.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

static bool is_perm(const size_t *v, size_t n)
{
    unsigned char seen[64] = { 0 };
    for (size_t i = 0; i < n; i++) {
        if (v[i] >= n || seen[v[i]])
            return false;
        seen[v[i]] = 1;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = data[0] % 41;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    const recsys__mem *m = &recsys__mem_default;
    size_t order[64], again[64], out[64], rank[64];
    recsys__handles_stats st;
    recsys_status s = recsys__handles_parse(m, text, len, n, order, &st);
    check(s == RECSYS_OK || s == RECSYS_E_CORRUPT);
    check(is_perm(order, n));
    if (s == RECSYS_E_CORRUPT) {
        for (size_t i = 0; i < n; i++)
            check(order[i] == i);
        recsys__err_clear();
    } else if (n) {
        check(st.listed >= 1 && st.listed + st.missing == n);
        for (size_t i = st.listed + 1; i < n; i++) /* the missing, in their original order */
            check(order[i] > order[i - 1]);
    }
    recsys__handles_stats st2;
    recsys_status s2 = recsys__handles_parse(m, text, len, n, again, &st2);
    check(s2 == s);
    for (size_t i = 0; i < n; i++)
        check(again[i] == order[i]);
    check(st2.listed == st.listed && st2.unknown == st.unknown &&
          st2.duplicate == st.duplicate && st2.missing == st.missing);
    /* the blend over the LLM's ranks */
    for (size_t p = 0; p < n; p++)
        rank[order[p]] = p;
    const double w[3] = { 0.0, 0.5, 1.0 };
    for (int k = 0; k < 3; k++) {
        recsys__rerank_blend(rank, n, w[k], out);
        check(is_perm(out, n));
        for (size_t i = 0; i < n; i++)
            check(k != 0 || out[i] == i);
        for (size_t i = 0; i < n; i++)
            check(k != 2 || out[i] == order[i]);
    }
    recsys__err_clear();
    return 0;
}
