/* refresh.c - derived state: every builder whose source is enabled runs over the model, and
 * the new set is swapped in atomically (derived.h). */
#include "engine.h"
#include "../retrieve/ease.h"
#include "../retrieve/graph.h"
#include "../retrieve/ials.h"
#include "../retrieve/vector.h"
#include "../retrieve/item2item.h"
#include "../text/bm25.h"

/* Every kind of derived state the library builds, one per slot. */
static const recsys__builder *const builders[] = {
    &recsys__bm25_builder,
    &recsys__itemknn_builder,
    &recsys__rp3_builder,
    &recsys__ease_builder,
    &recsys__ials_builder,
    &recsys__vector_builder, /* after iALS: it may index this refresh's item factors */
};

/* True when one of the builder's sources is registered and enabled. Caller holds the lock. */
static bool needed(const recsys_engine *e, const recsys__builder *b)
{
    const recsys__plugins *ps = &e->plugins[RECSYS_PLUGIN_SOURCE];
    for (int k = 0; k < RECSYS__BUILDER_SOURCES && b->sources[k]; k++)
        for (size_t i = 0; i < ps->n; i++)
            if (ps->v[i].enabled && strcmp(ps->v[i].name, b->sources[k]) == 0)
                return true;
    return false;
}

recsys_status recsys__engine_build_derived(recsys_engine *e, recsys__derived **out)
{
    const recsys__mem *m = &e->mem;
    recsys__derived *d = recsys__calloc(m, 1, sizeof *d);
    if (!d)
        return RECSYS_E_NOMEM;
    recsys__build_ctx ctx = { .mem = m, .model = &e->model, .opt = e->opts.num, .seed = e->seed,
                              .progress = isatty(STDERR_FILENO) != 0,
                              .str_opt = (const char *const *)e->opts.str, .built = d->state };
    recsys_status st = RECSYS_OK;
    for (size_t i = 0; st == RECSYS_OK && i < RECSYS_ARRAY_LEN(builders); i++) {
        const recsys__builder *b = builders[i];
        if (!needed(e, b))
            continue;
        st = b->build(&ctx, &d->state[b->slot]);
        if (st == RECSYS_OK)
            d->builder[b->slot] = b;
        else
            recsys__err_prefix(b->sources[0]);
    }
    d->nitems = e->model.catalog.ids.n;
    if (st != RECSYS_OK) {
        recsys__err_saved s;
        recsys__err_save(&s);
        recsys__engine_free_derived(e, d);
        recsys__err_restore(&s);
        return st;
    }
    *out = d;
    return RECSYS_OK;
}

void recsys__engine_free_derived(recsys_engine *e, recsys__derived *d)
{
    if (!d)
        return;
    for (int s = 0; s < RECSYS__DERIVED_SLOTS; s++)
        if (d->builder[s])
            d->builder[s]->free(&e->mem, d->state[s]);
    recsys__free(&e->mem, d);
}

void recsys__engine_drop_personal(recsys_engine *e)
{
    recsys__derived *d = e->derived;
    if (!d)
        return;
    for (int s = 0; s < RECSYS__DERIVED_SLOTS; s++)
        if (d->builder[s] && d->builder[s]->personal) {
            d->builder[s]->free(&e->mem, d->state[s]);
            d->state[s] = NULL;
            d->builder[s] = NULL;
        }
}

RECSYS_API recsys_status recsys_refresh(recsys_engine *e)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    /* Build under the shared lock: requests and reads go on meanwhile. The generation
     * counter is only touched under the exclusive lock below. A user forgotten while the
     * build ran may be in it: that build is thrown away and done again. */
    for (int attempt = 0;; attempt++) {
        recsys__derived *d = NULL;
        recsys__rd(e);
        uint64_t epoch = e->forget_epoch;
        recsys_status st = recsys__engine_build_derived(e, &d);
        recsys__unlock(e);
        if (st != RECSYS_OK)
            return st;
        recsys__wr(e);
        if (e->forget_epoch != epoch) {
            recsys__unlock(e);
            recsys__engine_free_derived(e, d);
            if (attempt == 2)
                return recsys__err(RECSYS_E_STATE, "users were forgotten during three refreshes "
                                                   "in a row; refresh again");
            continue;
        }
        recsys__derived *old = e->derived;
        d->generation = ++e->generation;
        e->derived = d;
        recsys__unlock(e);
        recsys__engine_free_derived(e, old); /* no reader can hold it: they hold the lock */
        return RECSYS_OK;
    }
}
