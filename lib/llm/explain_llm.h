/* explain_llm.h - explanations an LLM writes, each checked before it reaches a result
 * (stage 7 when RECSYS_OPT_EXPLAIN_LLM is 1 and an LLM is registered).
 *
 * One call for the whole list (task RECSYS_LLM_EXPLAIN, template recsys__llm_tpl_explain,
 * through the guard): the prompt holds the profile block (only the fields the host allows)
 * and one card per item, handles 1..n. The reply is untrusted text:
 *
 * Parsing (strict): at most RECSYS__EXPLAIN_LLM_REPLY_MAX bytes; prose and code fences around
 * the JSON object are stripped (the text from the first '{' to the last '}' must be one JSON
 * object, duplicate keys rejected); it must hold "explanations": an array of objects
 * {"handle": integer, "text": string, "evidence": [ ... ]}. A reply that fails any of this is
 * rejected (recsys__llm_reject) and every item gets its template explanation. Inside a
 * parsed reply an entry whose handle is not an integer 1..n, or repeats an earlier handle, is
 * ignored; an item the reply does not explain gets its template (and is not counted).
 *
 * Checking (each explanation given for a known handle, counted with
 * recsys__llm_count_explanation): it fails, and the item gets its template, when
 * - the item is not available (nothing but the template may be said about it), or is gone;
 * - the text is empty, longer than RECSYS__EXPLAIN_LLM_TEXT_MAX bytes, not valid UTF-8 or
 *   holds control bytes; or the entry is malformed (a field of the wrong type);
 * - it has no evidence or more than 16 pieces, or any piece of evidence is false:
 *   {"kind":"attribute","name":N,"value":V} (V a string, number or boolean; name "tags"
 *   read as "tag") must pass recsys__evidence_grounded(ATTRIBUTE, N, V);
 *   {"kind":"history","item":"hK"} must name a history item the prompt listed, and pass
 *   recsys__evidence_grounded(HISTORY, <its event type>, <its id>) (so the user really has
 *   it, and it is related to the item) and, as the template requires, share a tag with the
 *   item (a shared category alone, "film" for a film, explains nothing; an item without tags needs only the category); any other kind
 *   is false;
 * - the text makes a checkable claim that is not on the item:
 *   * a number that is not one of the item's numeric attribute values (or its min_age) at
 *     the precision written ("4.5" for 4.47 passes, "1900" for 1899 does not; thousands
 *     separators read), unless the word holding it occurs in the item's own text (title,
 *     category, tags, description, string attributes, provider) or in a cited history
 *     item's title ("RTX 4070", "(1995)");
 *   * a catalog category or tag (any that exists in the catalog, ASCII case-insensitive,
 *     whole words) that is not the item's and does not occur in its own text or a cited
 *     history title;
 *   * the title of another catalog item (whole words; a trailing "(...)" and a trailing
 *     ", The" are also tried without; titles of one or two words must match capitalisation,
 *     one-word titles of fewer than 4 bytes are not looked for) unless it is a cited history
 *     item. Titles of every live item are looked for when the catalog has at most
 *     RECSYS__EXPLAIN_LLM_TITLE_SCAN live items, else those of the list and of the listed
 *     history.
 * A passing explanation keeps the LLM's text and its evidence (at most
 * RECSYS__EXPLAIN_MAX_EVIDENCE pieces: the first ones; every piece was checked), in the same
 * structs as a template explanation.
 *
 * Cost: one LLM call; the checks O(F + T) once per request to build the vocabulary table
 * (F catalog facets, T titles looked for) plus O(w * p) per explanation (w words of text and
 * own text, p <= RECSYS__EXPLAIN_LLM_PHRASE_WORDS). Read-only on q and c; the guard is
 * thread-safe. The ask may let go of the caller's lock (guard.h, recsys__llm_unlock): the
 * prompt keeps catalog indices only (items, the listed history), and the reply is checked,
 * and the templates written, against q and the catalog as they are after the ask.
 */
#ifndef RECSYS_LLM_EXPLAIN_LLM_H
#define RECSYS_LLM_EXPLAIN_LLM_H
#include "explain.h"
#include "guard.h"
#include "prompt.h"

#define RECSYS__EXPLAIN_LLM_ITEMS_MAX 50        /* items per call; the rest get templates */
#define RECSYS__EXPLAIN_LLM_TEXT_MAX 300        /* bytes of one explanation text */
#define RECSYS__EXPLAIN_LLM_REPLY_MAX (64 * 1024) /* bytes of a reply considered */
#define RECSYS__EXPLAIN_LLM_TITLE_SCAN 20000    /* live items up to which all titles are scanned */
#define RECSYS__EXPLAIN_LLM_PHRASE_WORDS 12     /* longest phrase (facet or title) looked for */

/* What happened to one item's explanation. */
enum {
    RECSYS__EXPLAIN_LLM_NONE = 0,   /* no LLM explanation for it: template, not counted */
    RECSYS__EXPLAIN_LLM_PASSED = 1, /* the LLM's explanation, checked */
    RECSYS__EXPLAIN_LLM_FAILED = 2  /* the LLM's failed the check: template */
};

/* Explains the first n = c->n candidates: out[0..n) (caller-allocated, zeroed) each receive
 * an explanation (the LLM's when it passed, else recsys__explain_template's), freed with
 * recsys__explanation_free. verdict (may be NULL) receives one RECSYS__EXPLAIN_LLM_* per item.
 * No LLM (vt NULL), a refused or failed ask, a rejected reply: templates for all. Returns
 * RECSYS_OK, or RECSYS_E_NOMEM / RECSYS_E_INVALID_ARG with every out[] freed and zeroed. */
recsys_status recsys__explain_llm(const recsys__mem *m, recsys__llm_guard *g,
                                  const recsys_llm_vtable *vt, recsys__llm_budget *b,
                                  const recsys_query *q, const recsys_candidates *c,
                                  recsys__explanation *out, uint8_t *verdict);

/* The parser and checker alone (what recsys__explain_llm does with a reply; exposed for the
 * fuzz target and tests): items[0..n) are the catalog indices behind handles 1..n, hist the
 * history the prompt listed. For every item with verdict PASSED, out[k] holds the LLM's
 * explanation (others are left zeroed). Returns RECSYS_OK (parsed), RECSYS_E_CORRUPT (not a
 * usable reply: nothing in out) or RECSYS_E_NOMEM (everything freed). */
recsys_status recsys__explain_llm_parse(const recsys__mem *m, const recsys_query *q,
                                        const uint32_t *items, size_t n,
                                        const recsys__llm_hist *hist, const char *text,
                                        size_t len, recsys__explanation *out, uint8_t *verdict);

#endif
