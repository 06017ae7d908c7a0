/* diversify.h - the built-in diversifier of stage 5 ("diversity"), behind the public
 * recsys_diversifier_vtable exactly as a host's diversifier would be.
 *
 * One greedy selection framework; each part is switched on per request by its option
 * (recsys__query_opt), and when every part is off select() returns at once without reading
 * or changing anything (zero cost):
 *   RECSYS_OPT_DIVERSIFY_METHOD          0 none (relevance), 1 MMR, 2 DPP
 *   RECSYS_OPT_DIVERSIFY_LAMBDA          relevance share of MMR and DPP (1 = relevance only:
 *                                        the method is then "none")
 *   RECSYS_OPT_DIVERSIFY_WINDOW          the best candidates the greedy chooses from
 *   RECSYS_OPT_DIVERSIFY_CATEGORY_CAP    hard cap per category (0 = off)
 *   RECSYS_OPT_DIVERSIFY_PROVIDER_CAP    hard cap per provider (0 = off)
 *   RECSYS_OPT_DIVERSIFY_CALIBRATION     weight w of the calibration term (0 = off)
 *   RECSYS_OPT_DIVERSIFY_EXPLORE_SLOTS   positions reserved for new items (0 = off)
 *   RECSYS_OPT_DIVERSIFY_EXPLORE_MAX_EVENTS  the popularity at or below which an item is new
 *
 * select(ctx, q, c, n) picks and orders k = min(n, count) candidates and sets the order with
 * recsys_candidates_set_order() (the list is then cut to the picks). It never adds an item:
 * only candidates already in c (they passed every filter) are placed.
 *
 * The pool. The window is the first M = min(count, max(WINDOW, n)) candidates of c, which the
 * pipeline hands over sorted by score, best first (the window is widened to n so that a list
 * can always be filled from it). rel(i) is candidate i's score min-max normalised over the
 * window (all 1 when the window's scores are equal).
 *
 * Exploration (first). Up to e = min(EXPLORE_SLOTS, n) candidates whose decayed popularity
 * counter (recsys__query_popular_count: the catalog's pop_v/pop_ts at q->now with the
 * request's RECSYS_OPT_POPULAR_HALF_LIFE_DAYS) is at most EXPLORE_MAX_EVENTS are taken from the
 * whole candidate set, best score first, under the caps. They are picked before the greedy
 * runs, so that the greedy sees them as already chosen (similarity, caps, calibration).
 * In the final list of L items the e new items sit at the positions
 *   L-1 - floor(j*L/e), j = 0..e-1   (one new item: the last position; two: L/2-ish and the
 *                                     last; spread evenly from the end)
 * the best of them at the earliest of those positions; the greedy's picks fill the other
 * positions in their pick order. When fewer new items exist, fewer slots are reserved.
 *
 * The greedy. At each step every window candidate still eligible gets a gain and the best
 * one is appended (ties: the earlier candidate, i.e. the better score; deterministic):
 *   none: g(i) = rel(i)
 *   MMR (Carbonell & Goldstein 1998):
 *         g(i) = lambda*rel(i) - (1-lambda)*max_{j in S} sim(i,j)   (0 while S is empty)
 *   DPP (fast greedy MAP, Chen, Zhang & Zhou 2018, incremental Cholesky): the kernel is
 *         L = diag(r) S diag(r), r_i = exp(alpha*rel(i)), alpha = lambda/(2(1-lambda)), S the
 *         similarity below (S_ii = 1). The greedy MAP gain of i is log d_i^2 with d_i^2 the
 *         Schur complement of i given S in L, and d_i^2 = r_i^2 * dS_i^2 where dS_i^2 is the
 *         same in S; so log d_i^2 = 2*alpha*rel(i) + log dS_i^2 and, multiplied by (1-lambda)
 *         (same argmax), g(i) = lambda*rel(i) + (1-lambda)*log dS_i^2. This is finite for
 *         lambda = 1 (relevance only, no overflow of r) and lambda = 0 (pure log-det).
 *         dS_i^2 is kept per candidate and updated after each pick in O(k) (Algorithm 1 of
 *         the paper, run on S): O(k^2 M) plus the similarities, O(k M d).
 *         Stop rule: an item with dS_i^2 <= RECSYS__DPP_EPS is (nearly) in the span of the
 *         picks and gets no DPP gain (its log-det increase is below log(eps)); when no
 *         eligible item is above eps the DPP stops and the rest of the list is filled as
 *         method "none" (relevance, with the calibration term when on, under the caps).
 *         eps is on S, not L, so that it does not depend on lambda (r_i^2 >= 1 means
 *         d_i^2 >= dS_i^2: the paper's d_j^2 < eps rule stops no later).
 *   Calibration (Steck 2018): p is the category distribution of the user's history (events
 *         with a positive recsys__event_weight, weighted by it; removed items and items
 *         without a category left out); the list's distribution q counts each picked item
 *         once (uniform position weights; items of a category absent from p, or without one,
 *         count in the list size only), smoothed q~ = (1-a)*q + a*p with a = 0.01. With w the
 *         calibration weight the gain becomes
 *           (1-w)*g(i) - w*(KL(p || q~(S+i)) - KL(p || q~(S)))
 *         for every method, O(G) per step and O(1) per candidate (G categories in p). With
 *         method none this is Steck's (1-lambda)*relevance - lambda*KL greedy. No user, no
 *         history or no positive event on a categorised item: calibration is off.
 *   Caps: an item whose category (resp. non-empty provider) already has CATEGORY_CAP (resp.
 *         PROVIDER_CAP) items in the list is never picked, by any method, exploration and
 *         the fill included. Items without a category / provider are not capped.
 *
 * Similarity sim(i,j): the cosine of q->item_vec vectors (normalised once per request into
 * the working block) when both items have one (non-zero, finite, q->vec_dim floats); else
 * the Jaccard index of their facet sets {category} + tags (0 when both are empty).
 * The mixed kernel is not always positive semi-definite: a candidate whose dS^2 falls to eps
 * or below is simply no longer picked by the DPP.
 *
 * The fill. When the window has no eligible candidate left before k picks (caps), the
 * candidates after the window are appended in score order, under the caps. A list is short of
 * k only when the caps leave fewer eligible candidates in the whole set.
 *
 * Cost: one allocation from the candidate set's allocator (c->mem, else the model's) per
 * request, holding O(M*(d + k) + h + n) (d the vector dimension when a method needs
 * similarities, h the user's history length when calibrating), plus recsys_candidates_set_order
 * (skipped when the result is the score order). Time O(N) for exploration and the fill scan,
 * O(M*d) to normalise, then per step O(M) (none), O(M*d) (MMR), O(M*(d + k)) (DPP), plus O(G)
 * for calibration and O(M) when a cap fills. No allocation per pair or per step.
 *
 * Errors: NULL q or c, an option value out of its documented range: RECSYS_E_INVALID_ARG;
 * RECSYS_E_NOMEM; on failure nothing is changed and nothing is leaked. Runs on the caller's
 * thread under the engine's shared lock; reads q and the model only.
 */
#ifndef RECSYS_DIVERSIFY_DIVERSIFY_H
#define RECSYS_DIVERSIFY_DIVERSIFY_H
#include "../model/context.h"

/* The DPP stop threshold on the conditional variance dS^2 (see above). */
#define RECSYS__DPP_EPS 1e-9
/* Steck's smoothing of the list's category distribution toward the target. */
#define RECSYS__CALIB_ALPHA 0.01

/* Fills *out (struct_size = sizeof, no ctx, no destroy, select set). Fails only for a NULL
 * out (RECSYS_E_INVALID_ARG). m is unused (no state). */
recsys_status recsys__diversifier_diversity(const recsys__mem *m, recsys_diversifier_vtable *out);
/* True when q's options switch on some part of it (else select() changes nothing), so that
 * the pipeline orders only the top N when nothing else needs the whole order. */
bool recsys__diversity_active(const recsys_query *q);

#endif
