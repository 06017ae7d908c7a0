/* observe.c - feedback reaching the published derived state between refreshes: the users of a
 * feedback call, their positive items before and after it, handed to every state whose hooks
 * follow feedback (positives_changed; see lib/model/derived.h). */
#include "observe.h"
#include "../retrieve/interactions.h"

/* True when some published state follows feedback. */
static bool wanted(const recsys_engine *e)
{
    const recsys__derived *d = e->derived;
    for (int s = 0; d && s < RECSYS__DERIVED_SLOTS; s++)
        if (d->state[s] && d->hooks[s] && d->hooks[s]->positives_changed)
            return true;
    return false;
}

void recsys__observe_free(recsys_engine *e, recsys__observe *ob)
{
    for (size_t i = 0; i < ob->n; i++) {
        recsys__free(&e->mem, ob->u[i].items);
        recsys__free(&e->mem, ob->u[i].w);
    }
    recsys__free(&e->mem, ob->u);
    memset(ob, 0, sizeof *ob);
}

recsys_status recsys__observe_before(recsys_engine *e, const recsys__ev_prep *prep, size_t n,
                                     recsys__observe *ob)
{
    memset(ob, 0, sizeof *ob);
    if (!wanted(e))
        return RECSYS_OK;
    ob->u = recsys__calloc(&e->mem, n ? n : 1, sizeof *ob->u);
    if (!ob->u)
        return RECSYS_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        recsys__user *u = prep[i].usr;
        if (!u)
            continue; /* an impression: kept out of the model */
        bool seen = false;
        for (size_t k = 0; k < ob->n && !seen; k++)
            seen = ob->u[k].usr == u;
        if (seen)
            continue;
        recsys__observed_user *o = &ob->u[ob->n++];
        o->usr = u;
        if (prep[i].created)
            continue; /* nothing before */
        recsys_status st = recsys__user_positives(&e->mem, &e->model, u, &o->items, &o->w, &o->np);
        if (st != RECSYS_OK) {
            recsys__observe_free(e, ob);
            return st;
        }
    }
    return RECSYS_OK;
}

void recsys__observe_after(recsys_engine *e, recsys__observe *ob)
{
    recsys__derived *d = e->derived;
    for (size_t i = 0; d && i < ob->n; i++) {
        uint32_t *items = NULL;
        float *w = NULL;
        size_t np = 0;
        recsys__observed_user *o = &ob->u[i];
        recsys_status st = recsys__user_positives(&e->mem, &e->model, o->usr, &items, &w, &np);
        for (int s = 0; s < RECSYS__DERIVED_SLOTS; s++) {
            const recsys__builder_hooks *h = d->hooks[s];
            if (!d->state[s] || !h || !h->positives_changed)
                continue;
            if (st == RECSYS_OK)
                h->positives_changed(d->state[s], o->items, o->w, o->np, items, w, np);
            else if (h->lost) /* the change cannot be told: the state stops following */
                h->lost(d->state[s]);
        }
        recsys__free(&e->mem, items);
        recsys__free(&e->mem, w);
    }
    if (d)
        recsys__err_clear(); /* an out-of-memory above is absorbed (the states know) */
}
