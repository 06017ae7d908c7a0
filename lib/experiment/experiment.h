/* experiment.h - controlled online experiments: definitions, deterministic assignment, the
 * statistics of a report (confidence intervals, the sample-ratio check) and team-draft
 * interleaving. Internal API (recsys__exp_*, recsys__stat_*, recsys__interleave_*); the public
 * calls are in lib/engine/experiment.c, the online metrics they report in lib/eval/online.h.
 *
 * Definition (JSON, untrusted: size-capped, strict, unknown keys refused):
 *   {"name": "rank-test", "salt": "2026-11", "holdout": 5, "start": 0, "end": 0,
 *    "arms": [{"name": "control", "percent": 47.5},
 *             {"name": "ltr", "percent": 47.5, "ranker": "ltr",
 *              "options": {"diversify.lambda": 0.7}}]}
 * - name: 1..63 bytes (the engine checks the character set); salt: 1..256 bytes of UTF-8,
 *   default the name. A new salt reshuffles every user; the same salt keeps them in place.
 * - holdout, percent: percentages of traffic with at most two decimals (buckets of 0.01 %);
 *   every arm > 0; holdout + the arms <= 100. arms[0] is the control. 1..16 arms, distinct
 *   names, none called "holdout".
 * - options: numeric option overrides by dotted name (recsys_option_by_name), checked against
 *   the option table; ranker: the ranker the arm's requests name.
 * - start, end: Unix seconds bounding the events the report reads (0 = unbounded).
 *
 * Assignment: bucket = XXH3_64(user_id, seed = XXH3_64(salt)) mod 10000; buckets
 * [0, holdout) are the holdout, then each arm's share in order, the rest are not enrolled.
 * It is a pure function of the salt, the split and the user id: identical across processes,
 * replicas and restarts, with no stored state. XXH3's output is fixed by its specification
 * (xxhash >= 0.8), so it does not change with the library either. O(len(user_id)).
 */
#ifndef RECSYS_EXPERIMENT_EXPERIMENT_H
#define RECSYS_EXPERIMENT_EXPERIMENT_H
#include "../core/alloc.h"
#include "../core/options.h"

#define RECSYS__EXP_BUCKETS 10000u /* 0.01 % each */
#define RECSYS__EXP_ARMS_MAX 16
#define RECSYS__EXP_HOLDOUT (-1) /* recsys__exp_assign: in the holdout group */
#define RECSYS__EXP_OUT (-2)     /* recsys__exp_assign: not enrolled */
#define RECSYS__EXP_JSON_MAX (64 * 1024)

typedef struct recsys__exp_arm {
    char *name;
    uint32_t buckets;      /* share of RECSYS__EXP_BUCKETS */
    char *ranker;          /* the ranker the arm's requests name, or NULL */
    recsys__optover *over; /* numeric option overrides, validated */
    size_t nover;
} recsys__exp_arm;

typedef struct recsys__experiment {
    char *name, *salt;
    uint64_t seed;    /* XXH3_64(salt) */
    uint32_t holdout; /* buckets */
    int64_t start, end;
    recsys__exp_arm *arms; /* arms[0] is the control */
    size_t narms;
    char *json; /* the definition, compact with sorted keys (what is persisted) */
} recsys__experiment;

/* Parses and validates a definition (at most max_len bytes; RECSYS__EXP_JSON_MAX when
 * max_len is larger). On failure *out is zeroed and the message names the field:
 * RECSYS_E_INVALID_ARG, RECSYS_E_NOMEM. */
recsys_status recsys__exp_parse(const recsys__mem *m, const char *json, size_t len,
                                size_t max_len, recsys__experiment *out);
void recsys__exp_free(const recsys__mem *m, recsys__experiment *x);

/* The user's bucket under seed (0 .. RECSYS__EXP_BUCKETS - 1). */
uint32_t recsys__exp_bucket(uint64_t seed, const char *user_id, size_t len);
/* The user's arm index, RECSYS__EXP_HOLDOUT or RECSYS__EXP_OUT. */
int recsys__exp_assign(const recsys__experiment *x, const char *user_id);
/* Every arm's share and the holdout's as fractions of the enrolled traffic (arms first, then
 * the holdout when it is > 0); returns how many were written (narms or narms + 1). */
size_t recsys__exp_shares(const recsys__experiment *x, double *share);

/* ---------------------------------------------------------------- statistics (stats.c) */

/* The upper tail P(X >= x) of a chi-square distribution with df > 0 degrees of freedom
 * (regularised upper incomplete gamma Q(df/2, x/2); series or continued fraction, 1e-12). */
double recsys__stat_chi2_sf(double x, double df);
/* Pearson's sample-ratio-mismatch check: observed[0..k) counts against expected shares
 * (summing to 1); *chi2 and *p (the chi-square p-value, k - 1 degrees of freedom). With
 * k < 2 or no observations: chi2 0, p 1. */
void recsys__stat_srm(const uint64_t *observed, const double *share, size_t k, double *chi2,
                      double *p);
/* The two-sided sign (binomial, 1/2) test of wins against losses (ties left out):
 * min(1, 2 * P(X <= min(wins, losses))), 1 when both are 0. O(min(wins, losses)). */
double recsys__stat_sign_test(uint64_t wins, uint64_t losses);
/* The standard normal quantile (probit) of p in (0, 1), to 1e-12. */
double recsys__stat_probit(double p);

/* Confidence intervals for differences of ratio metrics between two groups of units
 * (users). Each unit is a row of stride doubles; metric j is
 * sum(row[num[j]]) / sum(row[den[j]]) over the group (0 when the denominator sums to 0).
 * For each metric lo[j], hi[j] bound (b - a) at the confidence level:
 * - reps > 0: the percentile bootstrap over units, both groups resampled with replacement
 *   in every replicate, from a splitmix64 stream seeded with seed (the same seed gives the
 *   same interval). O(reps * (na + nb) * stride) time, reps * nmetrics doubles.
 * - reps == 0: the delta method (normal approximation of each ratio's variance).
 * An empty group gives NaN bounds. RECSYS_E_NOMEM (nothing written). */
recsys_status recsys__stat_ratio_ci(const recsys__mem *m, const double *a, size_t na,
                                    const double *b, size_t nb, size_t stride, const int *num,
                                    const int *den, size_t nmetrics, size_t reps, double level,
                                    uint64_t seed, double *lo, double *hi);

/* ---------------------------------------------------------------- interleaving */

/* Team-draft interleaving (Radlinski, Kurup and Joachims 2008) of rankings a and b (item
 * keys, best first, each without repeats) into out[0..*nout), *nout <= k: in each round the
 * team that has contributed fewer items picks (a coin flip from seed when equal) its
 * best-ranked item not yet in out; team[i] is 0 when a contributed out[i], 1 when b did.
 * Stops at k items or when both lists are used up. Deterministic in seed. O(k * (na + nb))
 * time, no allocation. */
void recsys__interleave_team_draft(const uint64_t *a, size_t na, const uint64_t *b, size_t nb,
                                   size_t k, uint64_t seed, uint64_t *out, uint8_t *team,
                                   size_t *nout);
/* The outcome of one interleaved session: clicked[i] != 0 credits team[i]. Returns 1 when a
 * got more clicks, -1 when b did, 0 on a tie (no clicks included). */
int recsys__interleave_outcome(const uint8_t *team, const uint8_t *clicked, size_t n);

/* The splitmix64 step every random choice here uses (state advanced in place). */
static inline uint64_t recsys__exp_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#endif
