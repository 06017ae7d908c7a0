/* stats.h - timing and summary statistics for recsys-bench: a monotonic clock, growable
 * sample arrays, percentiles of one run and the median of repeated runs. */
#ifndef RECSYS_BENCH_STATS_H
#define RECSYS_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

/** CLOCK_MONOTONIC in nanoseconds. */
uint64_t stats_now_ns(void);

/** A growable array of samples; zero-initialise it. stats_push exits(1) on out-of-memory. */
typedef struct stats_samples {
    double *v;
    size_t n, cap;
} stats_samples;
void stats_push(stats_samples *s, double x);
void stats_free(stats_samples *s);

/** The p-th percentile (0..100) of v[0..n), interpolating between closest ranks. Sorts v.
 *  0 when n == 0. */
double stats_percentile(double *v, size_t n, double p);

/** One run: latency percentiles (the sample unit, here microseconds) and a rate per second.
 *  A field below 0 means "not measured". */
typedef struct stats_summary {
    double p50, p95, p99, rate;
} stats_summary;

/** Summarises a run: percentiles of s (sorted in place) and rate = ops / seconds. */
stats_summary stats_summarise(stats_samples *s, double ops, double seconds);

/** The most runs stats_median_of() takes (recsys-bench caps --repeat at this). */
#define STATS_MAX_RUNS 64

/** Field-wise median of n <= STATS_MAX_RUNS runs (each field the median over the runs). */
stats_summary stats_median_of(const stats_summary *runs, size_t n);

#endif
