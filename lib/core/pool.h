/* pool.h - a small pool of helper threads for splitting one call's independent jobs, the
 * calling thread included.
 *
 * recsys__pool_run(p, n, width, fn, arg) runs fn(arg, i) once for every i in [0, n) and
 * returns when all have returned. The caller runs jobs itself; up to width - 1 helper
 * threads join it, claiming jobs in index order (so index 0 starts first), one at a time.
 * Helpers are started lazily, on the first run that wants them, and never more than
 * RECSYS__POOL_MAX; a helper that cannot be started is simply not there (the caller runs
 * the jobs alone), so a run never fails. Any number of threads may run at once on one pool:
 * each run is a batch, and an idle helper joins the oldest batch that has jobs left and
 * wants helpers. Helpers sleep on a condition variable between batches (no spinning).
 *
 * fn must not call back into the pool. Jobs share nothing through the pool; what one job
 * writes, the caller reads safely after recsys__pool_run returns (the pool's mutex orders
 * it). Errors are the jobs' business: recsys__pool_run has no status. */
#ifndef RECSYS_CORE_POOL_H
#define RECSYS_CORE_POOL_H
#include "alloc.h"

#define RECSYS__POOL_MAX 15

typedef struct recsys__pool recsys__pool;
typedef void (*recsys__pool_fn)(void *arg, size_t i);

/* A pool without threads yet. Returns RECSYS_OK or RECSYS_E_NOMEM. */
recsys_status recsys__pool_new(const recsys__mem *m, recsys__pool **out);
/* Stops and joins the helpers and frees the pool (NULL is ignored). No run may be active. */
void recsys__pool_free(recsys__pool *p);
/* Runs fn(arg, 0..n-1) on the caller and at most width - 1 helpers (width 0 or 1, or a NULL
 * pool: the caller alone, in index order). */
void recsys__pool_run(recsys__pool *p, size_t n, size_t width, recsys__pool_fn fn, void *arg);
/* Processors online (sysconf, read once; at least 1). */
size_t recsys__pool_cpus(void);
/* Helper threads started so far (for tests). */
size_t recsys__pool_threads(recsys__pool *p);

#endif
