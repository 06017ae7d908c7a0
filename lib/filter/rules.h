/* rules.h - business rules (the public recsys_rule, recsys_rule_kind): validation and
 * compilation of a rule record, the hard rules (FILTER, BLOCK), score boosts, burying, and the
 * arrangement of the final list (pins, promotions, burying, backfill).
 *
 * How the pipeline uses them, in this order (rules: the engine's, then the request's; order
 * matters for pins and promotions, where the earlier rule wins):
 *   stage 3  recsys__rules_drop      drops candidates failing a FILTER or matching a BLOCK
 *   stage 4  recsys__rules_boost     after the ranker scored, before the sort
 *            recsys__rules_bury      after the sort
 *   final    recsys__rules_arrange   on the list the later stages produced (best first), to
 *                                    build the k results: it checks FILTER and BLOCK again
 *                                    (a later stage may have changed the list) and places
 *                                    pins and promotions, so nothing a stage did can break a
 *                                    rule.
 * Pins only place items of the ranked list given to arrange: the pipeline makes sure a pinned
 * item_id is a candidate (so that the built-in filters - availability, age, region, seen -
 * judge it like any other item) and keeps it in the list it hands over.
 *
 * Exact arithmetic and placement:
 * - eligible: every FILTER's expression holds and no BLOCK's does (an item not in the catalog
 *   is never eligible).
 * - boost: score += the sum of the values of the BOOST rules whose expression holds; a sum
 *   that overflows becomes DBL_MAX (scores stay finite).
 * - bury: items matching any BURY rule move after all the others; both groups keep their
 *   order (a stable partition).
 * - arrange(k): E = the eligible items of the ranked list, first occurrence of each, in order;
 *   the list has k' = min(k, |E|) slots.
 *   1. pins, in rule order: a PIN names its item (item_id; with an expression as well, the
 *      item must also satisfy it) or takes the best item of E satisfying its expression that
 *      no earlier pin took. It is placed at `position` when position < k', the slot is free
 *      (the first rule wins a slot), and the item is in E and not pinned already; otherwise
 *      the pin is skipped.
 *   2. promotions, in rule order: need = min(ceil(value * k - 1e-9), k') (the 1e-9 absorbs
 *      rounding, as 0.07 * 100 = 7.000000000000001); the items chosen so far (pins, earlier
 *      promotions) that satisfy the expression count, and the best unchosen matching items of
 *      E are added while fewer than need count and free slots remain. Promoted items keep
 *      their rank order among the others; they are not moved up.
 *   3. backfill: the free slots left take the best unchosen items of E, those matching no
 *      BURY rule first, then buried ones.
 *   4. order: pinned items at their positions; the other slots, in order, take the chosen
 *      items that match no BURY rule in rank order, then the buried ones in rank order.
 *   So the list holds k' distinct eligible items (full whenever E has k); a promotion whose
 *   E holds at least need matching items is met whenever the pins and the earlier promotions'
 *   needs leave it room (in particular with one promotion and no pins).
 *
 * Cost: eligible O(F) evaluations for F hard rules; boost and bury O(n R) evaluations; arrange
 * O(n F + |E| (P + Q + B)) for P pins, Q promotions, B bury rules, plus O(n) memory. All are
 * deterministic; none changes a rule. Nothing here locks: rules are immutable once compiled.
 */
#ifndef RECSYS_FILTER_RULES_H
#define RECSYS_FILTER_RULES_H
#include "expr.h"
#include "../model/rules_json.h"

typedef struct recsys__rule {
    int32_t kind;       /* recsys_rule_kind */
    recsys__expr *expr; /* the condition; NULL only for a PIN by item_id alone */
    double value;       /* BOOST: added score (finite, > 0); PROMOTE: share in (0, 1] */
    int32_t position;   /* PIN: 0 .. RECSYS__RULE_POSITION_MAX */
    char *item_id;      /* PIN: the pinned item's id (owned), or NULL */
} recsys__rule;

/* Validates a public record (struct_size as STYLE B3, then recsys__rule_check: kind in range;
 * FILTER, BLOCK, BOOST, BURY and PROMOTE need expr; BOOST value finite > 0; PROMOTE value in
 * (0, 1]; PIN position 0..999 and item_id or expr; a field that does not apply to the kind
 * must be 0 / NULL) and compiles it into *out (expression parsed, not bound; strings
 * copied). On failure *out is zeroed and RECSYS_E_INVALID_ARG (the message names the field; a
 * syntax error gives the byte position), RECSYS_E_UNSUPPORTED (oversized record with a
 * non-zero tail) or NOMEM. */
recsys_status recsys__rule_compile(const recsys__mem *m, const recsys_rule *pub,
                                   recsys__rule *out);
/* Binds the rule's expression to the catalog (expr.h: unknown attributes, type errors, facet
 * shortcuts; the same threading rule), message prefixed with the kind ("filter rule:
 * expression: at byte 4: ..."). */
recsys_status recsys__rule_bind(recsys__rule *r, const recsys__catalog *c);
/* The public record of a compiled rule (strings borrowed from r). */
void recsys__rule_public(const recsys__rule *r, recsys_rule *out);
/* Frees what r owns and zeroes it (NULL and zeroed rules accepted). */
void recsys__rule_free(const recsys__mem *m, recsys__rule *r);

/* True when it (NULL: false) passes every FILTER and matches no BLOCK of rs[0..n). */
bool recsys__rules_eligible(const recsys__rule *rs, size_t n, const recsys_item *it,
                            const recsys__expr_ctx *ctx);
/* Stage 3: drops (recsys_candidates_drop) every candidate of c not eligible, with the reason
 * "rule filter" or "rule block" ("removed" for an item no longer in the catalog); a
 * candidate already dropped keeps its reason. */
recsys_status recsys__rules_drop(const recsys__rule *rs, size_t n, const recsys__expr_ctx *ctx,
                                 recsys_candidates *c);
/* Adds the BOOST values (see above) to the scores of v[0..nv). */
void recsys__rules_boost(const recsys__rule *rs, size_t n, const recsys__expr_ctx *ctx,
                         const recsys__catalog *cat, recsys__cand *v, size_t nv);
/* Stable partition of v[0..nv): items matching no BURY rule first. In place, no allocation
 * (rotations: O(nv log nv) moves, one evaluation per candidate). */
void recsys__rules_bury(const recsys__rule *rs, size_t n, const recsys__expr_ctx *ctx,
                        const recsys__catalog *cat, recsys__cand *v, size_t nv);
/* Builds the final list (see above) from the ranked items, best first: items[i] is the
 * uint32_t catalog index at byte offset i * stride (a multiple of 4: sizeof(uint32_t) for a
 * plain array, sizeof(recsys__cand) for &cands.v[0].item). out (room for min(k, nitems) entries)
 * receives *nout positions into items, slot by slot. Scratch memory (O(nitems)) comes from
 * the catalog's allocator and is freed before returning. RECSYS_OK, INVALID_ARG (a NULL
 * argument, a bad stride) or NOMEM; *nout = 0 on failure. */
recsys_status recsys__rules_arrange(const recsys__rule *rs, size_t n, const recsys__expr_ctx *ctx,
                                    const recsys__catalog *cat, const uint32_t *items,
                                    size_t nitems, size_t stride, size_t k, size_t *out,
                                    size_t *nout);

#endif
