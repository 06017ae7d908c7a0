/* stats.c - see stats.h. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

uint64_t stats_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void stats_push(stats_samples *s, double x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        double *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            fprintf(stderr, "recsys-bench: out of memory\n");
            exit(1);
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
}

void stats_free(stats_samples *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile of sorted v[0..n), n > 0, interpolating between closest ranks. */
static double sorted_percentile(const double *v, size_t n, double p)
{
    double h = (double)(n - 1) * p / 100.0;
    size_t lo = (size_t)h;
    if (lo + 1 >= n)
        return v[n - 1];
    return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

double stats_percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return sorted_percentile(v, n, p);
}

stats_summary stats_summarise(stats_samples *s, double ops, double seconds)
{
    stats_summary r = { -1, -1, -1, seconds > 0 ? ops / seconds : -1 };
    if (s && s->n) {
        qsort(s->v, s->n, sizeof *s->v, cmp_double);
        r.p50 = sorted_percentile(s->v, s->n, 50);
        r.p95 = sorted_percentile(s->v, s->n, 95);
        r.p99 = sorted_percentile(s->v, s->n, 99);
    }
    return r;
}

stats_summary stats_median_of(const stats_summary *runs, size_t n)
{
    double col[STATS_MAX_RUNS];
    stats_summary out = { -1, -1, -1, -1 };
    double *field[4] = { &out.p50, &out.p95, &out.p99, &out.rate };
    if (n == 0)
        return out;
    if (n > STATS_MAX_RUNS)
        n = STATS_MAX_RUNS;
    for (int f = 0; f < 4; f++) {
        for (size_t i = 0; i < n; i++) {
            const double *src[4] = { &runs[i].p50, &runs[i].p95, &runs[i].p99, &runs[i].rate };
            col[i] = *src[f];
        }
        *field[f] = stats_percentile(col, n, 50);
    }
    return out;
}
