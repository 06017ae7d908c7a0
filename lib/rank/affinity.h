/* affinity.h - a user's long-term and session facet affinities, for one request.
 *
 * What. The affinities the blend ranker scores with (rankers.h) and the feature enrichment
 * reports (features.h), computed in one place so that both see the same numbers:
 * - Long term: the user's decayed facet affinities (recsys__aff, half-life
 *   RECSYS_OPT_LONG_HALF_LIFE_DAYS, 1 day when not positive) plus the profile's lists (a recent
 *   view counts as a view, a purchase as a purchase, the negative list as a dislike, each on
 *   the item's category and every tag), summed per facet and divided by the largest absolute
 *   sum, so that each lies in -1..1. A stated interest equal to a facet's text (ASCII case
 *   aside, or word for word: recsys__tok_phrase_eq) adds 1 to that facet (clamped to 1).
 * - Session: only the current session, the history events after the last gap longer than
 *   RECSYS_OPT_SESSION_GAP_S (at least 1 s; no session when the latest event is older than
 *   the gap), each weighted by recsys__event_weight() and halved every half gap before
 *   q->now; normalised the same way. Stated interests do not count here.
 * - Per item: category affinity is its category's value; tag affinity is the strongest
 *   positive tag value plus the most negative one (clamped to -1..1), so that one disliked
 *   tag pulls an item down even when another tag is liked.
 *
 * Memory. Building allocates nothing: recsys__affinity_bytes() says how much memory the
 * request needs (an upper bound: the facet entries of every affinity, list item and session
 * event, plus one memo byte per catalog facet when the user states interests), the caller
 * provides it (for example inside a larger block of its own, see features.c) and keeps it
 * alive while it reads the affinities. The memo remembers per facet whether its text matches
 * an interest, because candidates share categories and tags and matching is phrase work.
 *
 * Complexity. bytes and build: O(A + L*T + S*T) for A decayed affinities, L list items, S
 * session events and T tags per item, plus a sort of the entries and O(F) to clear the memo
 * of F facets; per item: O(T log A). Deterministic: the same inputs give the same doubles.
 *
 * Threads. Reads the model only (the caller holds the engine's shared lock); an affinity
 * belongs to one request. */
#ifndef RECSYS_RANK_AFFINITY_H
#define RECSYS_RANK_AFFINITY_H
#include "../model/context.h"

typedef struct recsys__facet_w {
    uint32_t facet;
    double w;
} recsys__facet_w;

/* A sparse facet vector sorted by facet, each facet once, with its largest absolute value. */
typedef struct recsys__fvec {
    recsys__facet_w *v;
    size_t n, cap;
    double maxabs;
} recsys__fvec;

typedef struct recsys__affinity {
    const recsys__user *u; /* NULL: anonymous or unknown (every affinity is 0) */
    recsys__fvec lt, ss;   /* long term, current session */
    bool in_session;       /* the user has a current session (ss may still be empty) */
    uint8_t *known;        /* interest memo by facet: 0 unknown, 1 no, 2 yes; NULL: none */
    size_t nknown;
} recsys__affinity;

typedef struct recsys__item_aff {
    double category, tag;
} recsys__item_aff;

/* Bytes of memory recsys__affinity_build() needs for q (0 for an anonymous or unknown user).
 * SIZE_MAX when the size overflows (no allocation can hold it). */
size_t recsys__affinity_bytes(const recsys_query *q);

/* Builds the user's affinities into buf (bytes >= recsys__affinity_bytes(q), aligned for a
 * double; NULL when that is 0). Cannot fail for a big enough buffer: RECSYS_E_INTERNAL with a
 * message when buf is smaller than the request needs. */
recsys_status recsys__affinity_build(recsys__affinity *a, const recsys_query *q, void *buf,
                                     size_t bytes);

/* The item's long-term category and tag affinity (stated interests included; the memo may
 * be filled in, hence the non-const a). */
recsys__item_aff recsys__affinity_long(recsys__affinity *a, const recsys_item *it);
/* The item's category and tag affinity within the current session. */
recsys__item_aff recsys__affinity_session(const recsys__affinity *a, const recsys_item *it);

#endif
