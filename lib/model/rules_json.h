/* rules_json.h - a business rule as the store keeps it (RECSYS_RECORD_RULE), and the checks of
 * a public recsys_rule record that do not need the expression language (which lives above, in
 * filter/rules.h, and compiles what these checks accepted).
 *
 * The JSON of a rule is one object:
 *   {"kind":"boost","expr":"category == \"laptop\"","value":0.5}
 *   {"kind":"pin","expr":"on_sale","position":0}
 *   {"kind":"pin","position":2,"item_id":"sku-42"}
 * kind by name (filter, block, boost, bury, pin, promote); expr a string; value a number
 * (boost, promote only); position an integer and item_id a string (pin only). Parsing is
 * strict: duplicate or unknown keys, a field of the wrong JSON type, a field the kind does not
 * use, and every value recsys__rule_check refuses are errors naming the field. The writer is
 * canonical (keys in the order above, only those the kind uses, shortest numbers) and what it
 * writes parses back to the same rule. Cost: linear in the text.
 */
#ifndef RECSYS_MODEL_RULES_JSON_H
#define RECSYS_MODEL_RULES_JSON_H
#include "model.h"

#define RECSYS__RULE_POSITION_MAX 999            /* a pin's largest position */
#define RECSYS__RULE_EXPR_MAX RECSYS__TEXT_MAX   /* bytes of a rule's expression */

/* "filter", "block", "boost", "bury", "pin", "promote"; NULL for an unknown kind. */
const char *recsys__rule_kind_name(int32_t kind);
/* The kind of one of those names, or -1. */
int32_t recsys__rule_kind_from_name(const char *name);

/* Checks a normalised record's fields: kind in range; FILTER, BLOCK, BOOST, BURY and PROMOTE
 * need expr; PIN needs item_id or expr; BOOST value finite > 0; PROMOTE value in (0, 1]; PIN
 * position 0..RECSYS__RULE_POSITION_MAX; item_id a non-empty UTF-8 id of at most
 * RECSYS_ID_MAX_BYTES; expr at most RECSYS__RULE_EXPR_MAX bytes; value, position and item_id
 * 0 / NULL for the kinds that do not use them. RECSYS_E_INVALID_ARG naming the kind and the
 * field ("boost rule: field 'value' is -1; expected a finite number > 0"). */
recsys_status recsys__rule_check(const recsys_rule *r);

/* A rule read from JSON: rule.expr and rule.item_id point at the strings below (owned). */
typedef struct recsys__rule_doc {
    recsys_rule rule;
    char *expr, *item_id;
} recsys__rule_doc;

/* Parses at most max_len bytes of JSON into *out (zeroed on failure; the record passed
 * recsys__rule_check). RECSYS_E_INVALID_ARG with "rule: ..." naming the field; NOMEM. */
recsys_status recsys__json_parse_rule(const recsys__mem *m, const char *json, size_t len,
                                      size_t max_len, recsys__rule_doc *out);
void recsys__rule_doc_free(const recsys__mem *m, recsys__rule_doc *d);
/* The canonical JSON of a checked record (from recsys__hoststr when host, else from m). */
recsys_status recsys__json_rule(const recsys__mem *m, const recsys_rule *r, bool host,
                                char **out, size_t *len);

#endif
