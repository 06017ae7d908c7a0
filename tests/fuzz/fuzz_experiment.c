/* fuzz_experiment.c - libFuzzer target: the input goes to the experiment definition parser
 * (untrusted JSON). A failure must be RECSYS_E_INVALID_ARG with a message and a zeroed
 * output. What parses must hold its invariants (1..16 arms, shares within 100 %, every
 * override inside the option table's bounds), assign users to an arm, the holdout or nobody
 * consistently with the shares, and parse again from its canonical text to the same
 * canonical text. Never crashes, never leaks (ASan); aborts on a broken invariant. */
#include "recsys.h"
#include "core/error.h"
#include "experiment/experiment.h"

#define MAX_LEN (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const recsys__mem *M = &recsys__mem_default;

static void check(bool ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    recsys__err_clear();
    recsys__experiment x;
    recsys_status st = recsys__exp_parse(M, (const char *)data, size, MAX_LEN, &x);
    if (st != RECSYS_OK) {
        check(st == RECSYS_E_INVALID_ARG && recsys_last_error()[0] && !x.arms && !x.name);
        return 0;
    }
    check(x.narms >= 1 && x.narms <= RECSYS__EXP_ARMS_MAX && x.name && x.salt && x.json);
    uint32_t total = x.holdout;
    for (size_t i = 0; i < x.narms; i++) {
        check(x.arms[i].buckets > 0 && x.arms[i].name);
        total += x.arms[i].buckets;
        for (size_t k = 0; k < x.arms[i].nover; k++) {
            int slot;
            check(recsys__opt_check_num(x.arms[i].over[k].key, RECSYS_OPTTYPE_DOUBLE,
                                        x.arms[i].over[k].num, &slot) == RECSYS_OK ||
                  recsys__opt_check_num(x.arms[i].over[k].key, RECSYS_OPTTYPE_INT,
                                        x.arms[i].over[k].num, &slot) == RECSYS_OK);
        }
    }
    check(total <= RECSYS__EXP_BUCKETS);
    char user[16];
    for (int u = 0; u < 64; u++) {
        snprintf(user, sizeof user, "u%d", u);
        int a = recsys__exp_assign(&x, user);
        uint32_t b = recsys__exp_bucket(x.seed, user, strlen(user));
        check(a == RECSYS__EXP_OUT ? b >= total
              : a == RECSYS__EXP_HOLDOUT ? b < x.holdout
                                         : a >= 0 && (size_t)a < x.narms && b >= x.holdout &&
                                               b < total);
    }
    double share[RECSYS__EXP_ARMS_MAX + 1];
    size_t n = recsys__exp_shares(&x, share);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += share[i];
    check(n == x.narms + (x.holdout ? 1 : 0) && fabs(sum - 1) < 1e-9);
    recsys__experiment y;
    check(recsys__exp_parse(M, x.json, strlen(x.json), MAX_LEN, &y) == RECSYS_OK);
    check(!strcmp(x.json, y.json) && x.seed == y.seed && x.narms == y.narms);
    recsys__exp_free(M, &y);
    recsys__exp_free(M, &x);
    return 0;
}
