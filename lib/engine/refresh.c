/* refresh.c - derived state: every builder whose source is enabled runs over the model, and
 * the new set is swapped in atomically (derived.h); builders that save their state read it
 * from and write it to the store's blobs (blobs.h).
 *
 * Saved state. A build that succeeds is saved (builder->save, then put_blob) while the shared
 * lock is still held, so a forget (exclusive) cannot slip between the build and its save: the
 * forget removes the personal blobs afterwards. Neither a failed save nor a saved copy that
 * could not be read fails the build: the first such problem is kept as a note, and the call
 * that built (recsys_refresh, recsys_engine_new) returns RECSYS_OK with recsys_last_status()
 * and recsys_last_error() describing it (a warning; empty otherwise). */
#include "engine.h"
#include "blobs.h"
#include "../retrieve/ease.h"
#include "../retrieve/graph.h"
#include "../retrieve/ials.h"
#include "../retrieve/vector.h"
#include "../retrieve/item2item.h"
#include "../text/bm25.h"

/* Every kind of derived state the library builds, one per slot, with its optional hooks
 * (incremental upkeep, saving: derived.h). */
static const struct {
    const recsys__builder *b;
    const recsys__builder_hooks *hooks;
} builders[] = {
    { &recsys__bm25_builder, NULL },
    { &recsys__itemknn_builder, &recsys__itemknn_hooks }, /* follows feedback */
    { &recsys__rp3_builder, NULL },
    { &recsys__ease_builder, NULL },
    { &recsys__ials_builder, NULL },
    /* after iALS: it may index this refresh's item factors */
    { &recsys__vector_builder, &recsys__vector_hooks },
    /* the content source's text vectors (vector.h), with the same faiss machinery */
    { &recsys__content_vector_builder, &recsys__content_vector_hooks },
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

/* Saves b's state s (built, not read from its saved copy) as its blob, then removes the
 * blob of the other name. A failure is recorded in *note (the first one wins). */
static void save_state(recsys_engine *e, const recsys__builder *b,
                       const recsys__builder_hooks *h, const void *s, recsys__err_saved *note)
{
    void *data = NULL;
    size_t len = 0;
    int which = 0;
    recsys_status st = h->save(&e->mem, s, &which, &data, &len);
    const char *name = h->blob[which ? 1 : 0];
    if (st == RECSYS_OK && data && len && name) {
        st = recsys__engine_blob_put(e, name, data, len);
        const char *other = h->blob[which ? 0 : 1];
        if (st == RECSYS_OK && other)
            st = recsys__engine_blob_put(e, other, NULL, 0);
    }
    recsys__free(&e->mem, data);
    if (st != RECSYS_OK) {
        recsys__err_prefix("saving the derived state (it is in use, but not saved)");
        recsys__err_prefix(b->sources[0]);
        if (note->status == RECSYS_OK)
            recsys__err_save(note);
    }
}

recsys_status recsys__engine_build_derived(recsys_engine *e, recsys__derived **out)
{
    const recsys__mem *m = &e->mem;
    recsys__derived *d = recsys__calloc(m, 1, sizeof *d);
    if (!d)
        return RECSYS_E_NOMEM;
    recsys__err_saved note = { RECSYS_OK, "" };
    bool blobs = recsys__engine_has_blobs(e);
    recsys__build_ctx ctx = { .mem = m, .model = &e->model, .opt = e->opts.num, .seed = e->seed,
                              .progress = isatty(STDERR_FILENO) != 0,
                              .str_opt = (const char *const *)e->opts.str, .built = d->state,
                              .note = &note };
    recsys_status st = RECSYS_OK;
    for (size_t i = 0; st == RECSYS_OK && i < RECSYS_ARRAY_LEN(builders); i++) {
        const recsys__builder *b = builders[i].b;
        const recsys__builder_hooks *h = builders[i].hooks;
        if (!needed(e, b))
            continue;
        bool saves = blobs && h && h->save && h->blob[0];
        ctx.read_saved = saves ? recsys__engine_read_saved : NULL;
        ctx.saved_arg = saves ? e : NULL;
        st = b->build(&ctx, &d->state[b->slot]);
        if (st == RECSYS_OK) {
            d->builder[b->slot] = b;
            d->hooks[b->slot] = h;
            if (saves && d->state[b->slot])
                save_state(e, b, h, d->state[b->slot], &note);
        } else {
            recsys__err_prefix(b->sources[0]);
        }
    }
    d->nitems = e->model.catalog.ids.n;
    if (st != RECSYS_OK) {
        recsys__err_saved s;
        recsys__err_save(&s);
        recsys__engine_free_derived(e, d);
        recsys__err_restore(&s);
        return st;
    }
    /* a warning for the caller: RECSYS_OK, and the note as the last error */
    if (note.status != RECSYS_OK)
        recsys__err_restore(&note);
    else
        recsys__err_clear();
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
    recsys__free(&e->mem, d->changed);
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
            d->hooks[s] = NULL;
        }
}

recsys_status recsys__engine_forget_blobs(recsys_engine *e)
{
    if (!recsys__engine_has_blobs(e))
        return RECSYS_OK;
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(builders); i++) {
        const recsys__builder_hooks *h = builders[i].hooks;
        if (h && h->save && h->blob[1])
            RECSYS_TRY(recsys__engine_blob_put(e, h->blob[1], NULL, 0));
    }
    return RECSYS_OK;
}

/* Replays into d the item changes old logged from position base on (made after d's build
 * began, so d's builders did not see them), making room first. Caller holds the lock
 * exclusively; on failure d is unchanged in meaning and old is untouched. */
static recsys_status catch_up(recsys_engine *e, recsys__derived *d, const recsys__derived *old,
                              size_t base)
{
    if (!old || old->nchanged <= base)
        return RECSYS_OK;
    size_t n = old->nchanged - base;
    RECSYS_TRY(recsys__derived_reserve(&e->mem, d, &e->model, n));
    for (size_t i = base; i < old->nchanged; i++)
        recsys__derived_item_changed(&e->mem, d, &e->model, old->changed[i]);
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_refresh(recsys_engine *e)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    /* Build under the shared lock: requests and reads go on meanwhile. The generation
     * counter is only touched under the exclusive lock below. A user forgotten while the
     * build ran may be in it: that build is thrown away and done again. */
    /* Items upserted or removed after the build, before the exclusive lock is taken, reach
     * the published set's item_changed hooks but not the new set: while this refresh builds,
     * the published set logs them (its pending count) and they are replayed into the new set
     * before it is published. Another refresh publishing in between makes this build start
     * over, as a forget does. */
    for (int attempt = 0;; attempt++) {
        recsys__derived *d = NULL;
        recsys__rd(e);
        uint64_t epoch = e->forget_epoch, generation = e->generation;
        recsys__derived *old = e->derived;
        size_t base = 0;
        if (old) {
            atomic_fetch_add(&old->pending, 1);
            base = old->nchanged; /* writers are excluded: it cannot move until we unlock */
        }
        recsys_status st = recsys__engine_build_derived(e, &d);
        if (st != RECSYS_OK && old)
            atomic_fetch_sub(&old->pending, 1);
        recsys__unlock(e);
        if (st != RECSYS_OK)
            return st;
        recsys__err_saved warning; /* what the build noted (blobs), for the caller */
        recsys__err_save(&warning);
        recsys__wr(e);
        bool same = e->generation == generation; /* else old was freed by another refresh */
        if (same && old)
            atomic_fetch_sub(&old->pending, 1);
        if (!same || e->forget_epoch != epoch) {
            recsys__unlock(e);
            recsys__engine_free_derived(e, d);
            if (attempt == 2)
                return recsys__err(RECSYS_E_STATE, "users were forgotten or other refreshes "
                                   "were published during three refreshes in a row; refresh "
                                   "again");
            continue;
        }
        st = catch_up(e, d, old, base);
        if (st != RECSYS_OK) {
            recsys__unlock(e);
            recsys__err_saved s;
            recsys__err_save(&s);
            recsys__engine_free_derived(e, d);
            recsys__err_restore(&s);
            return st;
        }
        d->generation = ++e->generation;
        e->derived = d;
        recsys__unlock(e);
        recsys__engine_free_derived(e, old); /* no reader can hold it: they hold the lock */
        /* what the linear ranker learnt online since it was last saved; like a saved index,
         * a failed save is a warning, not a failed refresh */
        recsys__err_clear();
        if (recsys__engine_save_linear(e) != RECSYS_OK && warning.status == RECSYS_OK) {
            recsys__err_prefix("the linear ranker's model was not saved");
            recsys__err_save(&warning);
        }
        recsys__err_restore(&warning);
        return RECSYS_OK;
    }
}
