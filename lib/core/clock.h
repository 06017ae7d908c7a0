/* clock.h - wall-clock time. */
#ifndef RECSYS_CORE_CLOCK_H
#define RECSYS_CORE_CLOCK_H
#include "deps.h"
/* Unix seconds now. */
int64_t recsys__clock_now(void);
/* A monotonic clock in nanoseconds, for timing stages. */
uint64_t recsys__clock_mono_ns(void);
#endif
