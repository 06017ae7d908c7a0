/* handles.h - reading an LLM's ranked list of local handles (1..n) out of untrusted text and
 * repairing it into a full order of the n items it was shown.
 *
 * Why: a listwise re-ranking reply is the LLM's only say in the order of real items. It may
 * come wrapped in code fences or prose, name handles that were never shown, repeat some, leave
 * some out, or be hostile. The repair keeps what can be trusted (the relative order of the
 * known handles it lists) and nothing else, so the LLM can reorder the items but never add,
 * drop or duplicate one.
 *
 * Accepted reply shapes (the re-rank template asks for the first; its JSON schema is sent
 * with the call):
 *   {"order":[3,1,2]}              an object whose "order" member is the list
 *   [3,1,2]                        a bare JSON array
 * The list may sit inside prose or a ``` fenced block (with or without a language tag):
 * the reply's first fenced block is searched first, then the whole reply. The search tries
 * each '[' or '{' in turn (at most RECSYS__HANDLES_MAX_STARTS of them) as the start of one
 * JSON value (jansson, duplicate keys rejected, trailing text allowed); the first value that
 * is such an array or object and names at least one known handle is the list. An object
 * without "order" is not a list itself (a list nested inside it may still be found).
 *
 * Entries of the list, in order (anything else counts as unknown and is dropped):
 *   an integer 1..n, or a real with such an integral value (3.0);
 *   a string of 1..9 ASCII digits naming 1..n, spaces around allowed ("3");
 *   an object whose "handle" member is one of the above ({"handle":3,...}).
 * An out-of-range number (0, negative, 10^30), a fraction, a string such as "h3" or "three",
 * null, a boolean or a nested array is unknown. A handle already listed is a duplicate and
 * dropped (its first place counts). The handles never listed are appended after the listed
 * ones in their original order (missing).
 *
 * The result order[0..n) is a permutation of 0..n-1 (handle - 1), listed first. A reply
 * longer than RECSYS__HANDLES_TEXT_MAX, without any list, or whose lists name no known
 * handle is rejected: RECSYS_E_CORRUPT with a message, order is the identity (the caller
 * keeps its own order and reports the reply with recsys__llm_reject).
 *
 * Cost: O(len * min(starts, RECSYS__HANDLES_MAX_STARTS)) parsing in the worst case
 * (hostile text), O(n) for the repair; O(n) scratch memory from m plus jansson's (malloc).
 * No state: thread-safe. */
#ifndef RECSYS_LLM_HANDLES_H
#define RECSYS_LLM_HANDLES_H
#include "../core/alloc.h"

#define RECSYS__HANDLES_TEXT_MAX 65536u
#define RECSYS__HANDLES_MAX_STARTS 32u

typedef struct recsys__handles_stats {
    size_t listed;    /* known handles the reply ranked (first occurrences) */
    size_t unknown;   /* entries that are not a known handle (dropped) */
    size_t duplicate; /* repeats of a listed handle (dropped) */
    size_t missing;   /* handles the reply left out (appended in their original order) */
} recsys__handles_stats;

/* Parses text[0..len) (need not be NUL-terminated) as a ranked list of handles 1..n and
 * writes the repaired order into order[0..n) (0-based: handle - 1). stats may be NULL.
 * RECSYS_OK; RECSYS_E_CORRUPT (no usable list: order is the identity); RECSYS_E_INVALID_ARG
 * (NULL text with len > 0, NULL order with n > 0); RECSYS_E_NOMEM. n = 0 is RECSYS_OK at
 * once (nothing to order, nothing parsed). */
recsys_status recsys__handles_parse(const recsys__mem *m, const char *text, size_t len, size_t n,
                                    size_t *order, recsys__handles_stats *stats);

#endif
