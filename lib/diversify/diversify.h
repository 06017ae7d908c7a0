/* diversify.h - the built-in diversifier of stage 5 ("diversity"), behind the public
 * recsys_diversifier_vtable exactly as a host's diversifier would be.
 *
 * One greedy selection framework; each part is switched on per request by its option
 * (recsys__query_opt), and when every part is off select() returns at once without reading
 * or changing anything (zero cost):
 *   RECSYS_OPT_DIVERSIFY_METHOD          0 none (relevance), 1 MMR, 2 DPP
 *   RECSYS_OPT_DIVERSIFY_LAMBDA          relevance share of MMR and DPP (1 = relevance only:
 *                                        the method is then "none"; default 0.66)
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
 * Pages. A list is seen a page at a time, and a page's diversity is a property of the set of
 * items on it, not of their order. With MMR or DPP (lambda < 1), the greedy below chooses
 * the items, and each page of RECSYS__DIVERSIFY_PAGE (10) consecutive positions then shows
 * its items best score first (the positions exploration holds stay where they are): of all
 * the orders of one set, score order is the one every position-discounted utility (DCG)
 * prefers. (ml-100k, hybrid+ltr+mmr at lambda 0.5, greedy only: NDCG@10 -5.5% -> -3.3% for
 * the same ILD@10 +15.5%.)
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
 *   MMR (Carbonell & Goldstein 1998), with the mean rather than the max similarity (the
 *         mean is what the intra-list diversity of the list averages):
 *         g(i) = lambda*rel(i) - (1-lambda)*mean_{j in S} sim(i,j)  (0 while S is empty)
 *         Page search: when the greedy has filled a page (or the list) and calibration is
 *         off, it improves the page's own objective
 *           F(page) = sum over its items of [lambda*rel(i) - (1-lambda)*mean sim(i, the
 *                     page's other items)]
 *                   = lambda*sum rel - (1-lambda)*2/(B-1)*sum of its pairs' similarities
 *         (B the page's picks) by swaps: each round takes the swap of one of the page's
 *         greedy picks (never its first, nor an exploration pick) for a window
 *         candidate not picked (a blocked one too: the pick it replaces may free its
 *         category or provider) that raises F the most (by more than
 *         RECSYS__DIVERSIFY_SWAP_MIN, under the caps counted over all the picks with the
 *         replaced one left out), at most RECSYS__DIVERSIFY_SWAPS rounds; the greedy then
 *         goes on with the page as it is. The greedy alone stops short of F's optimum (it sees each pick's
 *         similarity to the earlier picks only); ml-100k, at the same NDCG@10 -3.3%:
 *         ILD@10 +15.5% (greedy only, lambda 0.5) -> +16.6% (with it, lambda 0.65).
 *         Cost per page O(B^2) similarities (the rest the greedy asked for) plus O(M*B)
 *         per round and one column (O(M) similarities) per swap.
 *   DPP (fast greedy MAP, Chen, Zhang & Zhou 2018, incremental Cholesky): the kernel is
 *         L = diag(r) S diag(r), r_i = exp(alpha*rel(i)), alpha = lambda/(2(1-lambda)), with
 *         S_ii = 1 and S_ij = sign(s) * sqrt(1 - exp(-c*|s|)), s = sim(i,j) below and
 *         c = RECSYS__DPP_SCALE. Why not S = sim: near the identity log det S is about
 *         -(sum of the pairs' S_ij^2), so the plain kernel hardly sees the many mild
 *         similarities that intra-list diversity averages and spends the relevance on the
 *         few close pairs; with this S a pair's log det is exactly log(1 - S_ij^2) = -c*s,
 *         linear in the similarity as ILD (and MMR's mean) is. (ml-100k, hybrid+ltr+dpp, at
 *         NDCG@10 -3.1%: ILD@10 +13.5% with S = sim at lambda 0.7, +14.6% with c = 1 at
 *         lambda 0.63.) The transformed S need not be positive semi-definite (nor is the
 *         mixed similarity): see the stop rule.
 *         The greedy MAP gain of i is log d_i^2 with d_i^2 the
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
 *         Page search: as MMR's (above), when a page is full and calibration is off and the
 *         DPP has not stopped, with the page's DPP objective
 *           F(page) = lambda*sum rel + (1-lambda)*log det S_page
 *         (the sum of the greedy's gains had it picked the page alone). A swap's change
 *         comes from K = S_page^-1 (Cholesky, O(B^3) per round): taking out the item at t
 *         multiplies det by K_tt, and b then adds its conditional variance given the rest,
 *         1 - (s~' K s~ - (K s~)_t^2 / K_tt) with s~ = b's kernel row on the page, its t-th
 *         entry 0; O(M*B^2) per round (the kernel entries are those the greedy computed
 *         for the page's picks, kept per page; since a conditional variance is at most 1,
 *         lambda*(rel(b) - rel(a)) + (1-lambda)*log K_tt bounds a swap's change and skips
 *         most logarithms). A swap must leave b's conditional variance above
 *         eps; no swap when S_page is not positive definite. After a swap, when the list
 *         goes on past the page, the Cholesky state of every candidate is rebuilt over the
 *         picks in order (O(k*M*(k + sim))).
 *         (ml-100k at lambda 0.7, S = sim: NDCG@10 -3.4% -> -3.1% for the same ILD@10.)
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
 * Similarity sim(i,j): q->item_sim(q, i, j) when the request has one (the collaborative
 * similarity: the itemknn lists' cosine of the items' user sets, lib/engine/vectors.c) and
 * it knows the pair; else the cosine of q->item_vec vectors (normalised once per request
 * into the working block) when both items have one (non-zero, finite, q->vec_dim floats),
 * else the Jaccard index of their facet sets {category} + tags (0 when both are empty); an
 * unknown pair's fallback is held to the bound item_sim proves (e.g. 0 when the model knows
 * the two items never share a user). Why collaborative first: what users consume together
 * is what makes a list redundant to them; the factors' cosine is a smoothed guess of it
 * (ml-100k, hybrid+ltr+mmr at lambda 0.7: ILD@10 +4.5% -> +6.5%, NDCG@10 -2.4% -> -2.0%;
 * +dpp: +10.7% -> +13.5%, -8.3% -> -4.0%).
 * The mixed kernel is not always positive semi-definite: a candidate whose dS^2 falls to eps
 * or below is simply no longer picked by the DPP.
 * How the similarities are had (the same values, bit for bit, as asking sim(i,j) pair by
 * pair: the lists and figures do not move): when the request has q->item_sim_pool, the
 * model's similarity is gathered once for the pool (recsys__itemknn_pool: each pool item's
 * list read once, the pool's pairs kept; a pair then costs O(1) in a column instead of two
 * O(k) scans of cold lists); the similarities are asked a column at a time, sim(., j) for
 * the items not picked when j is picked (and when j enters by a swap), the vectors' cosines
 * four at a time; each column is kept in psim for the page search, which asks only for the
 * page's picks' own rows (O(PAGE^2)) and one column per swap; the pool's items, vectors and
 * lists are cold in memory, so each is prefetched for the whole pool a pass ahead of its
 * use; the DPP greedy skips the logarithm of an item whose gain could not beat the best
 * even with a zero log term (dS^2 <= 1).
 *
 * The fill. When the window has no eligible candidate left before k picks (caps), the
 * candidates after the window are appended in score order, under the caps. A list is short of
 * k only when the caps leave fewer eligible candidates in the whole set.
 *
 * Cost: one allocation from the candidate set's allocator (c->mem, else the model's) per
 * request (two with q->item_sim_pool), holding O(M*(d + k + PAGE) + h + n) (d the vector
 * dimension when a method needs similarities, h the user's history length when
 * calibrating), plus recsys_candidates_set_order
 * (skipped when the result is the score order). Time O(N) for exploration and the fill scan,
 * O(M*d) to normalise, then per step O(M) (none), O(M*d) (MMR), O(M*(d + k)) (DPP), plus O(G)
 * for calibration and O(M) when a cap fills; item_sim costs O(itemknn k) per pair, the pool
 * O(M + sum of the pool's list lengths) once (its own allocation, from the same allocator),
 * then O(1) per pair of a column. MMR's page search adds O(PAGE^2) similarities per page
 * plus O(M*PAGE) per round and O(M) similarities per swap (O(M*k) with caps on); DPP's
 * O(M*PAGE^2) per round, O(M) kernel entries per swap and, after a swap on a page that is
 * not the last, O(k*M*(k + sim)) to rebuild. No allocation per pair or per step.
 * (recsys-bench latency --items 100000 --dim 64, 1000 candidates, window 200, top 10, on a
 * loaded 2-core machine: the stage's p50 from 259 to 112 us (MMR), 262 to 121 us (DPP).)
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
/* c of the DPP kernel S_ij = sign(s) sqrt(1 - exp(-c|s|)): a pair's log det is -c*s. */
#define RECSYS__DPP_SCALE 1.0
/* The page: MMR and DPP choose the items of each PAGE consecutive positions and show them
 * best score first; the page search tries at most SWAPS swaps per page, each raising the
 * page's objective by more than SWAP_MIN. */
#define RECSYS__DIVERSIFY_PAGE 10
#define RECSYS__DIVERSIFY_SWAPS 20
#define RECSYS__DIVERSIFY_SWAP_MIN 1e-12
/* Steck's smoothing of the list's category distribution toward the target. */
#define RECSYS__CALIB_ALPHA 0.01

/* Fills *out (struct_size = sizeof, no ctx, no destroy, select set). Fails only for a NULL
 * out (RECSYS_E_INVALID_ARG). m is unused (no state). */
recsys_status recsys__diversifier_diversity(const recsys__mem *m, recsys_diversifier_vtable *out);
/* True when q's options switch on some part of it (else select() changes nothing), so that
 * the pipeline orders only the top N when nothing else needs the whole order. */
bool recsys__diversity_active(const recsys_query *q);

#endif
