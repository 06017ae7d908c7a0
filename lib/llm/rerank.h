/* rerank.h - listwise LLM re-ranking of the top of a recommendation list (pipeline stage 6),
 * and the cold/warm routing of the LLM path.
 *
 * What: the first n items of the list stage 5 left (n = min(RECSYS_OPT_LLM_RERANK_N, list
 * length)) are shown to the LLM as item cards with local handles 1..w (lib/llm/prompt.h:
 * template "rerank/1", real attributes only, text quoted as data, the profile block with the
 * fields the host allows, the request text when there is one) and it answers with a ranked
 * list of handles, parsed and repaired by lib/llm/handles.h: the LLM reorders, it can never
 * add, drop or repeat an item.
 *
 * Windows (RECSYS_OPT_LLM_RERANK_WINDOW W, RECSYS_OPT_LLM_RERANK_STRIDE S, taken as min(S, W)):
 * n <= W is one window; else windows of W items start at n - W, n - W - S, ... and the last
 * at 0, re-ranked bottom-up, each on the list the previous windows left (the sliding scheme
 * of RankGPT): a good item near the bottom can climb one window per step, to the top.
 *
 * Position-bias control (RECSYS_OPT_LLM_RERANK_SHUFFLES K): each window is asked K times,
 * the first in list order, the others with the items shown in orders shuffled by a
 * generator seeded from the window's items and the call's index (so a repeated request asks
 * the same prompts and hits the reply cache). The K answers are merged by Borda count:
 * an item at 0-based position p of a w-item answer gets w - 1 - p points; the window is
 * ordered by total points, ties by the order before the window was asked.
 *
 * The blend (RECSYS_OPT_LLM_RERANK_WEIGHT w in [0, 1]): with m(i) the model's 0-based rank
 * of item i among the n and l(i) its rank in the LLM's order after every window,
 *     key(i) = (1 - w) * m(i) + w * l(i)
 * and the n items are sorted by key ascending, ties by m(i): w = 0 is the model's order
 * (and nothing is asked), w = 1 the LLM's, 0.5 the mean of the two ranks. Scores are left as
 * the model gave them (so a re-ranked list's scores need not decrease).
 *
 * Fallback: the model's order stands (the report says why) when no LLM is registered, a
 * budget or the breaker refuses, the deadline passes, the transport fails, or any reply
 * cannot be parsed (recsys__llm_reject: counted, dropped from the cache, a breaker failure);
 * the first such event ends the re-ranking (no further calls). Parsed replies are accepted
 * (recsys__llm_accept). Only RECSYS_E_NOMEM fails the call.
 *
 * Cold/warm routing (RECSYS_OPT_LLM_WARM_EVENTS E): the LLM path serves only cold users,
 * those with fewer than E events ever recorded (an anonymous or unknown user has 0); E = 0
 * routes every user to it. Warm users get the cheaper model-only path.
 *
 * Cost: ceil((n - W) / S) + 1 windows (1 when n <= W), K calls each, each O(W) cards;
 * O(n) memory besides the prompts. Reads q and the catalog only: thread-safe under the
 * engine's shared lock; the guard does its own locking. Each ask may let go of the caller's
 * lock (guard.h, recsys__llm_unlock): only indices, the caller's items and the scratch's own
 * copies cross an ask; every window's prompt reads the model afresh (a removed item's card
 * says "available":false), and the caller checks the order against the model after.
 */
#ifndef RECSYS_LLM_RERANK_H
#define RECSYS_LLM_RERANK_H
#include "guard.h"
#include "handles.h"
#include "../model/model.h"

/* Where the LLM is reached from: the engine's guard, the registered transport (may be NULL),
 * and the request's budget. */
typedef struct recsys__llm_route {
    recsys__llm_guard *guard;
    const recsys_llm_vtable *vt;
    recsys__llm_budget *budget;
} recsys__llm_route;

typedef struct recsys__rerank_report {
    bool used;              /* the LLM's order went into the blend */
    recsys_status why;      /* !used: why the model's order stands (RECSYS_E_NOT_FOUND,
                               _BUDGET, _TIMEOUT, _CALLBACK, _CORRUPT); RECSYS_OK when used
                               or when nothing was re-ranked (n < 2) */
    size_t windows;         /* windows asked */
    size_t asks;            /* asks made through the guard (cache hits included) */
    recsys__handles_stats repair; /* summed over the parsed replies */
} recsys__rerank_report;

/* True when q's user is routed to the LLM path (cold, see above). */
bool recsys__llm_user_cold(const recsys_query *q);

/* True when stage 6 should run for q: RECSYS_OPT_LLM_RERANK_N > 0 and the user is cold. */
bool recsys__rerank_wanted(const recsys_query *q);

/* Re-ranks items[0..n) (catalog indices, the model's order) for q: order[0..n) receives the
 * final order as positions into items (a permutation; the identity when the model's order
 * stands). rep (may be NULL) says what happened. RECSYS_OK or RECSYS_E_NOMEM (order then the
 * identity). The options are q's (q->opt). */
recsys_status recsys__rerank(const recsys__llm_route *llm, const recsys_query *q,
                             const recsys__mem *m, const uint32_t *items, size_t n,
                             size_t *order, recsys__rerank_report *rep);

/* Borda count: ranks[k * n + i] is item i's 0-based position in answer k (k < nanswers, each
 * a permutation of 0..n-1); out[0..n) receives the items by total points (n - 1 - position
 * summed), ties by item index. nanswers = 0 gives the identity. */
void recsys__rerank_borda(const size_t *ranks, size_t nanswers, size_t n, size_t *out);

/* The blend above: llm_rank[i] is item i's LLM rank (the model's rank is i); out[0..n)
 * receives the final order. w outside [0, 1] is taken as the nearest bound. */
void recsys__rerank_blend(const size_t *llm_rank, size_t n, double w, size_t *out);

#endif
