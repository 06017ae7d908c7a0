/* stats.c - the statistics of experiment reports: the chi-square tail (the sample-ratio
 * check), the sign test (interleaving), the normal quantile, and confidence intervals for
 * differences of ratio metrics by the bootstrap over users or the delta method
 * (experiment.h gives each contract and its cost). */
#include "experiment.h"
#include "../core/error.h"

/* Regularised lower incomplete gamma P(a, x) by its series (x < a + 1). */
static double gamma_p_series(double a, double x)
{
    double sum = 1 / a, term = sum;
    for (int n = 1; n < 10000; n++) {
        term *= x / (a + n);
        sum += term;
        if (fabs(term) < fabs(sum) * 1e-15)
            break;
    }
    return sum * exp(-x + a * log(x) - lgamma(a));
}

/* Regularised upper incomplete gamma Q(a, x) by Lentz's continued fraction (x >= a + 1). */
static double gamma_q_cf(double a, double x)
{
    const double tiny = 1e-300;
    double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
    for (int i = 1; i < 10000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < tiny)
            d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15)
            break;
    }
    return exp(-x + a * log(x) - lgamma(a)) * h;
}

double recsys__stat_chi2_sf(double x, double df)
{
    if (!(df > 0) || isnan(x))
        return NAN;
    if (x <= 0)
        return 1;
    double a = df / 2, y = x / 2;
    return y < a + 1 ? 1 - gamma_p_series(a, y) : gamma_q_cf(a, y);
}

void recsys__stat_srm(const uint64_t *observed, const double *share, size_t k, double *chi2,
                      double *p)
{
    double total = 0, stat = 0;
    for (size_t i = 0; i < k; i++)
        total += (double)observed[i];
    *chi2 = 0;
    *p = 1;
    if (k < 2 || total <= 0)
        return;
    for (size_t i = 0; i < k; i++) {
        double e = total * share[i];
        if (e > 0)
            stat += ((double)observed[i] - e) * ((double)observed[i] - e) / e;
        else if (observed[i]) /* traffic where none was expected: as far off as it gets */
            stat = INFINITY;
    }
    *chi2 = stat;
    *p = isinf(stat) ? 0 : recsys__stat_chi2_sf(stat, (double)(k - 1));
}

double recsys__stat_sign_test(uint64_t wins, uint64_t losses)
{
    uint64_t n = wins + losses, k = wins < losses ? wins : losses;
    if (n == 0)
        return 1;
    /* P(X <= k) for X ~ Binomial(n, 1/2), summed in log space from the largest term down */
    double logn = lgamma((double)n + 1), sum = 0, lmax = -INFINITY;
    for (uint64_t i = 0; i <= k; i++) {
        double l = logn - lgamma((double)i + 1) - lgamma((double)(n - i) + 1);
        if (l > lmax)
            lmax = l;
    }
    for (uint64_t i = 0; i <= k; i++)
        sum += exp(logn - lgamma((double)i + 1) - lgamma((double)(n - i) + 1) - lmax);
    double p = 2 * exp(lmax + log(sum) - (double)n * log(2.0));
    return p > 1 ? 1 : p;
}

double recsys__stat_probit(double p)
{
    if (!(p > 0 && p < 1))
        return NAN;
    /* bisection on the normal cdf 0.5 erfc(-z / sqrt 2): monotone, 200 steps reach 1e-12 */
    double lo = -40, hi = 40;
    for (int i = 0; i < 200 && hi - lo > 1e-13; i++) {
        double mid = (lo + hi) / 2;
        if (0.5 * erfc(-mid / sqrt(2.0)) < p)
            lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2;
}

static double ratio(double n, double d)
{
    return d != 0 ? n / d : 0;
}

/* The delta-method variance of metric (num, den) over n rows. */
static double delta_var(const double *rows, size_t n, size_t stride, int num, int den)
{
    double sn = 0, sd = 0;
    for (size_t i = 0; i < n; i++) {
        sn += rows[i * stride + (size_t)num];
        sd += rows[i * stride + (size_t)den];
    }
    double mn = sn / (double)n, md = sd / (double)n, r = ratio(sn, sd);
    if (md == 0 || n < 2)
        return 0;
    double vn = 0, vd = 0, c = 0;
    for (size_t i = 0; i < n; i++) {
        double x = rows[i * stride + (size_t)num] - mn, y = rows[i * stride + (size_t)den] - md;
        vn += x * x;
        vd += y * y;
        c += x * y;
    }
    vn /= (double)(n - 1);
    vd /= (double)(n - 1);
    c /= (double)(n - 1);
    double v = (vn - 2 * r * c + r * r * vd) / ((double)n * md * md);
    return v > 0 ? v : 0;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* The q-quantile of sorted v[0..n) with linear interpolation. */
static double quantile(const double *v, size_t n, double q)
{
    double at = q * (double)(n - 1);
    size_t i = (size_t)floor(at);
    if (i + 1 >= n)
        return v[n - 1];
    return v[i] + (at - (double)i) * (v[i + 1] - v[i]);
}

recsys_status recsys__stat_ratio_ci(const recsys__mem *m, const double *a, size_t na,
                                    const double *b, size_t nb, size_t stride, const int *num,
                                    const int *den, size_t nmetrics, size_t reps, double level,
                                    uint64_t seed, double *lo, double *hi)
{
    if (na == 0 || nb == 0) {
        for (size_t j = 0; j < nmetrics; j++)
            lo[j] = hi[j] = NAN;
        return RECSYS_OK;
    }
    if (reps == 0) {
        double z = recsys__stat_probit(0.5 + level / 2);
        for (size_t j = 0; j < nmetrics; j++) {
            double sa[2] = { 0, 0 }, sb[2] = { 0, 0 };
            for (size_t i = 0; i < na; i++) {
                sa[0] += a[i * stride + (size_t)num[j]];
                sa[1] += a[i * stride + (size_t)den[j]];
            }
            for (size_t i = 0; i < nb; i++) {
                sb[0] += b[i * stride + (size_t)num[j]];
                sb[1] += b[i * stride + (size_t)den[j]];
            }
            double d = ratio(sb[0], sb[1]) - ratio(sa[0], sa[1]);
            double sd = sqrt(delta_var(a, na, stride, num[j], den[j]) +
                             delta_var(b, nb, stride, num[j], den[j]));
            lo[j] = d - z * sd;
            hi[j] = d + z * sd;
        }
        return RECSYS_OK;
    }
    double *diff = recsys__alloc(m, reps * nmetrics * sizeof *diff);
    double *acc = recsys__alloc(m, 2 * stride * sizeof *acc);
    if (!diff || !acc) {
        recsys__free(m, diff);
        recsys__free(m, acc);
        return recsys__err(RECSYS_E_NOMEM, "out of memory for the bootstrap");
    }
    uint64_t rng = seed;
    for (size_t r = 0; r < reps; r++) {
        memset(acc, 0, 2 * stride * sizeof *acc);
        for (size_t g = 0; g < 2; g++) {
            const double *rows = g ? b : a;
            size_t n = g ? nb : na;
            double *s = acc + g * stride;
            for (size_t i = 0; i < n; i++) {
                const double *row = rows + (recsys__exp_rand(&rng) % n) * stride;
                for (size_t f = 0; f < stride; f++)
                    s[f] += row[f];
            }
        }
        for (size_t j = 0; j < nmetrics; j++)
            diff[j * reps + r] = ratio(acc[stride + (size_t)num[j]], acc[stride + (size_t)den[j]]) -
                                 ratio(acc[(size_t)num[j]], acc[(size_t)den[j]]);
    }
    for (size_t j = 0; j < nmetrics; j++) {
        double *v = diff + j * reps;
        qsort(v, reps, sizeof *v, cmp_double);
        lo[j] = quantile(v, reps, (1 - level) / 2);
        hi[j] = quantile(v, reps, 1 - (1 - level) / 2);
    }
    recsys__free(m, diff);
    recsys__free(m, acc);
    return RECSYS_OK;
}
