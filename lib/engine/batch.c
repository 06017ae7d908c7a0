/* batch.c - the batch calls: recsys_recommend_batch (many requests in one call, spread over
 * threads) and recsys_catalog_embeddings (many items' vectors into one matrix).
 *
 * Why: a host that serves or evaluates a whole population (the Python bindings first of
 * all: one foreign call instead of one per user) wants the engine's throughput on every
 * core without writing threads of its own.
 *
 * recsys_recommend_batch runs recsys_recommend for each slot. Parallelism comes from a pool
 * made for the call (lib/core/pool.h; helpers start lazily and are joined when it is freed),
 * not the engine's own pool: a request's sources already run on the engine's pool, and a
 * pool job must not call back into its own pool. The engine's locking is recsys_recommend's
 * (each slot takes the shared lock for its own pipeline run), so a batch runs concurrently
 * with feedback and refresh exactly as n separate calls from n threads would, and no lock is
 * held across slots. A pool that cannot be made (no memory) means the caller runs the slots
 * alone: the call never fails for want of threads. The first failing slot (lowest index) has
 * its message copied to the caller's thread, whatever thread ran it.
 * Cost: the n pipelines plus O(threads) thread starts; O(1) extra memory.
 *
 * recsys_catalog_embeddings looks each id up under the shared lock: O(n * (lookup + dim)).
 * recsys_result_items copies a result's ids and scores out in O(n), one foreign call.
 */
#include "engine.h"
#include "request.h"

/* the state one batch shares between its jobs */
typedef struct batch {
    recsys_engine *e;
    const recsys_request *const *reqs;
    recsys_result **results;
    recsys_status *statuses; /* may be NULL */
    pthread_mutex_t mu;      /* guards the first failure below */
    size_t first;            /* lowest failing index so far (SIZE_MAX: none) */
    recsys_status first_st;
    char first_msg[RECSYS_ERROR_MAX];
} batch;

static void batch_job(void *arg, size_t i)
{
    batch *b = arg;
    recsys_result *res = NULL;
    recsys_status st = recsys_recommend(b->e, b->reqs[i], &res);
    b->results[i] = st == RECSYS_OK ? res : NULL;
    if (b->statuses)
        b->statuses[i] = st;
    if (st != RECSYS_OK) {
        pthread_mutex_lock(&b->mu);
        if (i < b->first) {
            b->first = i;
            b->first_st = st;
            snprintf(b->first_msg, sizeof b->first_msg, "%s", recsys_last_error());
        }
        pthread_mutex_unlock(&b->mu);
    }
}

RECSYS_API recsys_status recsys_recommend_batch(recsys_engine *e,
                                                const recsys_request *const *reqs, size_t n,
                                                size_t threads, recsys_result **results,
                                                recsys_status *statuses)
{
    recsys__err_clear();
    for (size_t i = 0; results && i < n && n <= RECSYS_RECOMMEND_BATCH_MAX; i++)
        results[i] = NULL;
    RECSYS_CHECK_ARG(e);
    if (n == 0)
        return RECSYS_OK;
    RECSYS_CHECK_ARG(results);
    RECSYS_CHECK_ARG(reqs);
    if (n > RECSYS_RECOMMEND_BATCH_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "recsys_recommend_batch: n = %zu is above the maximum %d", n,
                           RECSYS_RECOMMEND_BATCH_MAX);
    for (size_t i = 0; i < n; i++)
        if (!reqs[i])
            return recsys__err(RECSYS_E_INVALID_ARG, "recsys_recommend_batch: request %zu is NULL",
                               i);
    batch b = { .e = e, .reqs = reqs, .results = results, .statuses = statuses,
                .first = SIZE_MAX, .first_st = RECSYS_OK };
    pthread_mutex_init(&b.mu, NULL);
    size_t width = threads ? threads : recsys__pool_cpus();
    if (width > n)
        width = n;
    recsys__pool *pool = NULL;
    if (width > 1 && recsys__pool_new(&e->mem, &pool) != RECSYS_OK)
        pool = NULL; /* no memory for a pool: the caller runs every slot */
    recsys__pool_run(pool, n, pool ? width : 1, batch_job, &b);
    recsys__pool_free(pool);
    pthread_mutex_destroy(&b.mu);
    recsys__err_clear();
    if (b.first == SIZE_MAX)
        return RECSYS_OK;
    return recsys__err(b.first_st, "request %zu: %s", b.first, b.first_msg);
}

RECSYS_API recsys_status recsys_catalog_embeddings(recsys_engine *e, const char *name,
                                                   const char *const *item_ids, size_t n,
                                                   size_t dim, float *out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    if (dim < 1 || dim > RECSYS__DIM_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "recsys_catalog_embeddings: dim %zu is outside 1..%d", dim,
                           RECSYS__DIM_MAX);
    if (n > RECSYS_RECOMMEND_BATCH_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "recsys_catalog_embeddings: n = %zu is above the maximum %d", n,
                           RECSYS_RECOMMEND_BATCH_MAX);
    if (n == 0)
        return RECSYS_OK;
    RECSYS_CHECK_ARG(item_ids);
    RECSYS_CHECK_ARG(out);
    const char *emb = name ? name : "default";
    recsys_status st = RECSYS_OK;
    recsys__rd(e);
    for (size_t i = 0; i < n && st == RECSYS_OK; i++) {
        if (!item_ids[i]) {
            st = recsys__err(RECSYS_E_INVALID_ARG, "recsys_catalog_embeddings: item %zu is NULL",
                             i);
            break;
        }
        uint32_t idx = recsys__catalog_find(&e->model.catalog, item_ids[i]);
        const recsys_item *it = recsys__catalog_get(&e->model.catalog, idx);
        const recsys__embedding *v = it ? recsys__item_embedding(it, emb) : NULL;
        if (!it)
            st = recsys__err(RECSYS_E_NOT_FOUND, "recsys_catalog_embeddings: item %zu '%s' is "
                             "not in the catalog", i, item_ids[i]);
        else if (!v)
            st = recsys__err(RECSYS_E_NOT_FOUND, "recsys_catalog_embeddings: item %zu '%s' has "
                             "no embedding '%s'", i, item_ids[i], emb);
        else if (v->dim != dim)
            st = recsys__err(RECSYS_E_INVALID_ARG, "recsys_catalog_embeddings: item %zu '%s': "
                             "embedding '%s' has %u dimensions, not %zu", i, item_ids[i], emb,
                             v->dim, dim);
        else
            memcpy(out + i * dim, v->v, dim * sizeof *out);
    }
    recsys__unlock(e);
    return st;
}

RECSYS_API size_t recsys_result_items(const recsys_result *res, const char **ids,
                                      double *scores, size_t cap)
{
    if (!res)
        return 0;
    size_t n = res->n < cap ? res->n : cap;
    for (size_t k = 0; k < n; k++) {
        if (ids)
            ids[k] = res->items[k].item_id;
        if (scores)
            scores[k] = res->items[k].score;
    }
    return n;
}
