/* shown.h - what each user was recently shown, for the no-repeat rotation filter
 * (RECSYS_OPT_FILTER_SHOWN_WINDOW_S).
 *
 * Per user, the last RECSYS__SHOWN_MAX (item, time) pairs, in a ring allocated at the user's
 * first record. Recorded: the list each request returns to a known user while that request's
 * shown window is on (lib/pipeline.c). Impression events the host sends itself are not
 * (they name no list the library made). Kept in memory only: after the engine reopens, the
 * rotation starts afresh (documented in the README). A forgotten user's ring is dropped with
 * the user.
 *
 * Threads: requests record under the engine's shared lock, so the set has its own mutex; it
 * is taken for a copy or an append, never across a call out. */
#ifndef RECSYS_MODEL_SHOWN_H
#define RECSYS_MODEL_SHOWN_H
#include <pthread.h>
#include "../core/alloc.h"

#define RECSYS__SHOWN_MAX 64

typedef struct recsys__shown_ring recsys__shown_ring;

typedef struct recsys__shown {
    const recsys__mem *mem;
    pthread_mutex_t mu;
    recsys__shown_ring **by_user; /* user index -> ring, NULL when none */
    size_t cap;
} recsys__shown;

void recsys__shown_init(recsys__shown *s, const recsys__mem *m);
void recsys__shown_free(recsys__shown *s);
/* Records items[0..n) shown to user at ts. RECSYS_E_NOMEM leaves the set as it was. */
recsys_status recsys__shown_record(recsys__shown *s, uint32_t user, const uint32_t *items,
                                   size_t n, int64_t ts);
/* Copies into out (room for RECSYS__SHOWN_MAX) the items shown to user at or after since,
 * sorted ascending, duplicates removed; returns how many. */
size_t recsys__shown_since(recsys__shown *s, uint32_t user, int64_t since, uint32_t *out);
/* Drops user's ring (a forgotten user). */
void recsys__shown_forget(recsys__shown *s, uint32_t user);

#endif
