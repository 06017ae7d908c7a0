/* session.h - the "session" candidate source: the user's short-term intent, read from their
 * current session and spread through the itemknn neighbour lists (issue 3).
 *
 * The session. The requesting user's history events (model.h, oldest first) after the last
 * idle gap longer than g = RECSYS_OPT_SESSION_GAP_S seconds; it is current only while its
 * last event is at most g seconds before q->now (an older session is over: nothing is
 * proposed). This is the session the blend ranker scores against (rank/blend.c): the same
 * boundary, the same clamp of g to at least 1 second, every kept event (searches included)
 * counting as activity.
 *
 * The session's items. Each event with positive weight w = recsys__event_weight() > 0 on a
 * live item gives that item w * 2^(-(q->now - ts) / h), summed when the item repeats, where
 * h = g / 2 is the recency half-life (the blend ranker's too; no option of its own): an item
 * seen a whole gap ago counts a quarter of one seen just now. As for the collaborative
 * matrix (interactions.h), an item whose last negative event in the session (dislike, skip)
 * comes after its last positive one gives nothing.
 *
 * The score. With S(j) the session weight of item j and N_k(j) its itemknn neighbour list
 * (item2item.h; q->derived->state[RECSYS__DERIVED_ITEMKNN], at most RECSYS_OPT_ITEMKNN_K
 * entries read per item),
 *     score(i) = sum over session items j with i in N_k(j) of S(j) * sim(j, i).
 * The best recsys_query_limit(q) are added, best first, ties by item index (topk.h). Skipped:
 * items the request excludes, items removed since the build and, when RECSYS_OPT_FILTER_SEEN
 * is on, the session's own positive items (the "seen" filter would drop them anyway).
 * Nothing for an anonymous or unknown user, an empty or finished session, or when there is
 * no itemknn state (the itemknn source disabled, or nothing built yet). The source has no
 * builder of its own: it reuses itemknn's state. A "more like this" anchor (q->anchor) does
 * not seed it: the anchor is the other sources' seed, the session is the user's own.
 *
 * Cost per request: O(s log s + s * k) for s session events and k neighbours per item, with
 * memory of the same order; nothing is proportional to the catalog. */
#ifndef RECSYS_RETRIEVE_SESSION_H
#define RECSYS_RETRIEVE_SESSION_H
#include "../model/context.h"

/* Fills the "session" source's vtable (struct_size = sizeof, ctx and destroy NULL, retrieve
 * set). RECSYS_E_INVALID_ARG for a NULL out. */
recsys_status recsys__source_session(const recsys__mem *m, recsys_source_vtable *out);

#endif
