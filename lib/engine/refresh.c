/* refresh.c - derived state: built from the catalog, swapped in atomically. */
#include "engine.h"
#include "../text/bm25.h"

recsys_status recsys__engine_build_derived(recsys_engine *e, recsys__derived **out)
{
    const recsys__mem *m = &e->mem;
    recsys__derived *d = recsys__calloc(m, 1, sizeof *d);
    if (!d)
        return RECSYS_E_NOMEM;
    const double *o = e->opts.num;
    recsys_status st = recsys__bm25_build(m, &e->model.catalog, o[recsys__opt_slot(RECSYS_OPT_BM25_K1)],
                                          o[recsys__opt_slot(RECSYS_OPT_BM25_B)], &d->bm25);
    if (st != RECSYS_OK) {
        recsys__free(m, d);
        return st;
    }
    d->nitems = e->model.catalog.ids.n;
    *out = d;
    return RECSYS_OK;
}

void recsys__engine_free_derived(recsys_engine *e, recsys__derived *d)
{
    if (!d)
        return;
    recsys__bm25_free(d->bm25);
    recsys__free(&e->mem, d);
}

RECSYS_API recsys_status recsys_refresh(recsys_engine *e)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    /* Build under the shared lock: requests and reads go on meanwhile. The generation
     * counter is only touched under the exclusive lock below. */
    recsys__derived *d = NULL;
    recsys__rd(e);
    recsys_status st = recsys__engine_build_derived(e, &d);
    recsys__unlock(e);
    if (st != RECSYS_OK)
        return st;
    recsys__wr(e);
    recsys__derived *old = e->derived;
    d->generation = ++e->generation;
    e->derived = d;
    recsys__unlock(e);
    recsys__engine_free_derived(e, old); /* no reader can hold it: they hold the lock */
    return RECSYS_OK;
}
