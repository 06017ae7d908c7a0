/* ials_import.c - recsys_ials_import: the host's item factors replace iALS training at the
 * next refresh (lib/model/factors.h holds them; lib/retrieve/ials.c's builder reads them). */
#include "engine.h"

#define IMPORT_MAX_ITEMS 10000000
#define IMPORT_MAX_K 1024

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every argument but the catalog membership (checked under the lock). */
static recsys_status check(const recsys__mem *m, const char *const *ids, const float *v,
                           size_t n, size_t k)
{
    if (n > IMPORT_MAX_ITEMS)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_ials_import: %zu items are more than %d",
                           n, IMPORT_MAX_ITEMS);
    if (k < 1 || k > IMPORT_MAX_K)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "recsys_ials_import: k %zu is not 1..%d", k, IMPORT_MAX_K);
    if (!ids || !v)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_ials_import: %s is NULL",
                           ids ? "factors" : "item_ids");
    for (size_t i = 0; i < n; i++)
        if (!ids[i])
            return recsys__err(RECSYS_E_INVALID_ARG, "recsys_ials_import: item_ids[%zu] is NULL",
                               i);
    for (size_t i = 0; i < n * k; i++)
        if (!isfinite(v[i]))
            return recsys__err(RECSYS_E_INVALID_ARG, "recsys_ials_import: factor %zu of item "
                               "'%.200s' is not finite", i % k, ids[i / k]);
    const char **sorted = recsys__alloc(m, n * sizeof *sorted);
    if (!sorted)
        return RECSYS_E_NOMEM;
    memcpy(sorted, ids, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    recsys_status st = RECSYS_OK;
    for (size_t i = 1; i < n && st == RECSYS_OK; i++)
        if (!strcmp(sorted[i - 1], sorted[i]))
            st = recsys__err(RECSYS_E_INVALID_ARG,
                             "recsys_ials_import: item '%.200s' is given twice", sorted[i]);
    recsys__free(m, sorted);
    return st;
}

RECSYS_API recsys_status recsys_ials_import(recsys_engine *e, const char *const *item_ids,
                                            const float *factors, size_t n, size_t k)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    recsys__factors *f = NULL;
    if (n) {
        RECSYS_TRY(check(&e->mem, item_ids, factors, n, k));
        RECSYS_TRY(recsys__factors_new(&e->mem, item_ids, factors, n, k, &f));
    }
    recsys__wr(e);
    recsys_status st = RECSYS_OK;
    for (size_t i = 0; f && i < n && st == RECSYS_OK; i++)
        if (recsys__catalog_find(&e->model.catalog, f->ids[i]) == RECSYS_IDS_NONE)
            st = recsys__err(RECSYS_E_NOT_FOUND,
                             "recsys_ials_import: item '%.200s' is not in the catalog", f->ids[i]);
    recsys__factors *old = f;
    if (st == RECSYS_OK) {
        old = e->model.ials_import;
        e->model.ials_import = f;
    }
    recsys__unlock(e);
    recsys__factors_free(&e->mem, old);
    return st;
}
