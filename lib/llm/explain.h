/* explain.h - template explanations and the grounding check every explanation passes
 * (stage 7). The LLM layer uses the same check on evidence an LLM writes.
 *
 * A template explanation is one short sentence built only from true facts, at most
 * RECSYS__EXPLAIN_MAX_EVIDENCE pieces, each verified with recsys__evidence_grounded() before
 * it is used:
 * - the request text's terms the item matches           QUERY      "query" = term
 * - a related history item (same category or a tag)     HISTORY    "like" = that item's id
 * - a tag or the category equal to a stated interest    ATTRIBUTE  "tag" = tag, and
 *                                                        INTEREST   "interest" = the interest
 *   (or a tag with a strong long-term affinity: ATTRIBUTE only)
 * - trending/popular provenance from the candidate's    POPULARITY "trending"/"popular" =
 *   sources named "trending" and "popular"                          the decayed count
 * An unavailable item is never praised: its explanation is "Currently unavailable." with no
 * evidence. Without any fact the text is "Recommended for you." with no evidence.
 */
#ifndef RECSYS_LLM_EXPLAIN_H
#define RECSYS_LLM_EXPLAIN_H
#include "../model/context.h"

#define RECSYS__EXPLAIN_MAX_EVIDENCE 3

typedef struct recsys__evidence {
    int32_t kind; /* recsys_evidence_kind */
    char *name;
    char *value;
} recsys__evidence;

typedef struct recsys__explanation {
    char *text; /* one sentence, UTF-8 */
    recsys__evidence *ev;
    size_t nev;
} recsys__explanation;

/* Explains candidate i of c for q. Everything in *out is allocated with m and freed with
 * recsys__explanation_free(). On failure (RECSYS_E_INVALID_ARG, RECSYS_E_NOMEM) *out is
 * zeroed and nothing leaks. Read-only on q and c: thread-safe. */
recsys_status recsys__explain_template(const recsys__mem *m, const recsys_query *q,
                                       const recsys_candidates *c, size_t i,
                                       recsys__explanation *out);
void recsys__explanation_free(const recsys__mem *m, recsys__explanation *e);

/* True only when the evidence (kind, name, value) about item it is a true statement for q:
 * - it must be the live catalog item of q, and available (an unavailable item only grounds
 *   the claim ATTRIBUTE "available" = "false");
 * - ATTRIBUTE "tag"/"category"/"region": the item has exactly that value (ASCII
 *   case-insensitive); "title"/"provider": equal ignoring ASCII case; "available": "true",
 *   "yes" or "1" when available ("false", "no", "0" when not); "min_age": the exact integer;
 *   any other name: the host attribute of that name, numbers equal to within 1e-9 relative,
 *   strings exactly, booleans as "true"/"false"/"1"/"0"/"yes"/"no";
 * - HISTORY name = an event type ("like", "purchase", "view", ...; not "impression" or
 *   "search"), value = an item id: q's user has that event on that item in their history
 *   (or in the profile list "view" -> recent views, "purchase" -> purchased, "dislike" ->
 *   negative feedback), and that item is it itself or a live item sharing its category or a
 *   tag;
 * - INTEREST "interest": a stated interest of the user (ASCII case-insensitive) that names a
 *   tag or the category of it word for word, or all of whose words occur in its text;
 * - POPULARITY "popular"/"trending": value is the item's decayed long/short-window count at
 *   q->now to within 0.5, the count is positive, and for "trending" the item trends;
 * - QUERY "query": every word of value occurs in the request text and in the item's text.
 * Anything else (unknown kind or name, NULL, anonymous user for user facts) is false. */
bool recsys__evidence_grounded(const recsys_query *q, const recsys_item *it, int32_t kind,
                               const char *name, const char *value);

#endif
