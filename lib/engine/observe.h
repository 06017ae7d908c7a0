/* observe.h - feedback reaching the published derived state between refreshes (observe.c).
 *
 * A feedback call, under the engine's exclusive lock: recsys__observe_before() after the
 * events are prepared and before they are stored (it allocates, so it may fail, and the call
 * then fails as it would for any allocation); recsys__observe_after() once they are committed
 * (it cannot fail: when it cannot compute a user's positives it tells the states, through
 * their lost hook, that they stop following); recsys__observe_free() in every case. Nothing
 * happens, and nothing is allocated, when no published state follows feedback (before the
 * first refresh, or with itemknn off). */
#ifndef RECSYS_ENGINE_OBSERVE_H
#define RECSYS_ENGINE_OBSERVE_H
#include "engine.h"

typedef struct recsys__observed_user {
    recsys__user *usr;
    uint32_t *items; /* positive items before the call, ascending */
    float *w;
    size_t np;
} recsys__observed_user;

typedef struct recsys__observe {
    recsys__observed_user *u; /* the call's distinct users */
    size_t n;
} recsys__observe;

recsys_status recsys__observe_before(recsys_engine *e, const recsys__ev_prep *prep, size_t n,
                                     recsys__observe *ob);
void recsys__observe_after(recsys_engine *e, recsys__observe *ob);
void recsys__observe_free(recsys_engine *e, recsys__observe *ob);

#endif
