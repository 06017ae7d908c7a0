/* clarify.h - clarifying questions: when a request leaves too many candidates, ask about the
 * facet whose answer tells the most about what the shopper wants ("Do you need a dedicated
 * GPU?"), have the LLM phrase it (a template when there is none), and read the answer as
 * constraints on that facet (intent.h, restricted mode).
 *
 * Which facet (recsys__clarify_pick): the candidates (the eligible items under the current
 * constraints) are split by each facet into answers, and the facet with the highest expected
 * information gain is chosen: the entropy H = -sum p_i log2 p_i of its answer distribution
 * (the answer reveals which part the wanted item is in, so the gain is the entropy of that
 * split). Answers per kind of facet:
 *   - numeric attribute: three buckets cut at the candidates' 1/3 and 2/3 quantiles, each cut
 *     rounded to two significant digits (the question's options: "under 6, 6 to 10, 10 or
 *     more"); equal cuts give two buckets;
 *   - bool attribute and tag: yes / no;
 *   - text attribute and category: the two most common values and "another" (at most three
 *     answers, so that a facet with many values is not favoured for its spread alone);
 *   - items without the attribute are one more answer.
 * Facets already constrained, or asked before, are skipped; so are those below min_gain
 * bits. Which facets may be asked is the host's choice (RECSYS_OPT_CLARIFY_FACETS: attribute
 * names, "category", "tag:<tag>"; empty = every attribute name of the catalog, the category,
 * and every tag some but not all candidates have). Ties go to the earlier facet (list order;
 * else category, attributes in registry order, tags in facet order).
 *
 * Cost: O(n log n) per numeric or text facet and O(n + F) for the tags (F: the catalog's
 * facets), for n candidates; the facets considered are at most the attribute registry (4096
 * names; beyond that the attributes are skipped unless listed) plus the tags.
 * Thread-safety: reads the catalog (caller holds the engine lock shared); no global state.
 */
#ifndef RECSYS_LLM_CLARIFY_H
#define RECSYS_LLM_CLARIFY_H
#include "intent.h"

#define RECSYS__CLARIFY_QUESTION_MAX 400 /* bytes of an LLM-phrased question */

/* Picks the facet to ask about among items[0..n) (see above). allowed: the option's list
 * (NULL or "" = every facet); in: the constraints so far; asked[0..nasked): facet keys
 * (recsys__facet_key) asked before. *out is filled (kind 0 when no facet reaches min_gain);
 * free it with recsys__facet_free. RECSYS_OK or RECSYS_E_NOMEM. */
recsys_status recsys__clarify_pick(const recsys__mem *m, const recsys__catalog *c,
                                   const uint32_t *items, size_t n, const char *allowed,
                                   const recsys__intent *in, char *const *asked, size_t nasked,
                                   double min_gain, recsys__facet *out);

/* The template question for f ("Do you need a dedicated GPU? (yes / no / doesn't matter)",
 * "Which battery (hours) suits you: under 6, 6 to 10, or 10 or more?"). */
recsys_status recsys__clarify_template(const recsys__mem *m, const recsys__facet *f, char **out);

/* The question for f: phrased by the LLM (task RECSYS_LLM_CLARIFY through the guard; the
 * reply {"question":"..."} must be one line of at most RECSYS__CLARIFY_QUESTION_MAX bytes of
 * text without control bytes or '<' '>', else it is rejected) when llm->vt is set, else or on
 * any failure the template. context: the shopper's words so far (quoted as data). *from_llm
 * says which. Only RECSYS_E_NOMEM fails. */
recsys_status recsys__clarify_question(const recsys__mem *m, const recsys__facet *f,
                                       const char *context, const recsys__intent_llm *llm,
                                       char **out, bool *from_llm);

/* Reads an LLM reply to the clarify prompt into *out (validated as above).
 * RECSYS_E_INVALID_ARG (with a message) or RECSYS_E_NOMEM. */
recsys_status recsys__clarify_from_reply(const recsys__mem *m, const char *reply, size_t len,
                                         char **out);

#endif
