/* rankers.h - the built-in ranker of stage 4, behind the public recsys_ranker_vtable.
 *
 * blend: for a known user,
 *   score = w_source   * merged source score (0..1, recsys_candidates_score)
 *         + w_category * category affinity
 *         + w_tag      * tag affinity
 *         + w_session  * session affinity
 * with the weights RECSYS_OPT_RANK_W_SOURCE/CATEGORY/TAG/SESSION.
 * - Long-term affinities are the user's decayed facet affinities (RECSYS_OPT_LONG_HALF_LIFE_DAYS)
 *   plus the profile's lists (a recent view counts as a view, a purchase as a purchase, the
 *   negative list as a dislike), divided by the user's largest absolute affinity so that each
 *   lies in -1..1. A stated interest equal (word for word, see recsys__tok_phrase_eq) to a tag
 *   or the category adds 1 to that facet's affinity (clamped to 1): a strong positive.
 * - Category affinity is the affinity of the item's category; tag affinity is the strongest
 *   positive tag affinity plus the most negative one, so one disliked tag pulls an item down
 *   even when another tag is liked.
 * - Session affinity uses only the current session, the events after the last gap longer
 *   than RECSYS_OPT_SESSION_GAP_S (none when the latest event is older than that gap), each
 *   weighted by recsys__event_weight() and halved every half gap before q->now; normalised
 *   the same way, it is the mean of the session's category and tag affinities.
 * Anonymous and unknown users keep the source score. Fully deterministic; ties are broken
 * later by the pipeline. One allocation per request (affinity.h), none for an anonymous user.
 *
 * The learned rankers have their own headers: "linear" (FTRL-Proximal logistic regression,
 * linear.h, included here) and "ltr" (LambdaMART trees, ltr.h), both over the feature vector
 * of features.h. */
#ifndef RECSYS_RANK_RANKERS_H
#define RECSYS_RANK_RANKERS_H
#include "../model/context.h"
#include "linear.h"

recsys_status recsys__ranker_blend(const recsys__mem *m, recsys_ranker_vtable *out);

#endif
