/* rules_json.c - a business rule's record checks and its JSON: the strict parser of untrusted
 * text (json_read.h, as campaigns_json.c) and the canonical writer (json_write.h). What the
 * parser reads from the writer's output is the same rule (see rules_json.h). */
#include "rules_json.h"
#include "json_read.h"
#include "json_write.h"
#include "../core/error.h"
#include "../core/utf8.h"

static const char *const kind_names[] = {
    [RECSYS_RULE_FILTER] = "filter", [RECSYS_RULE_BLOCK] = "block",
    [RECSYS_RULE_BOOST] = "boost",   [RECSYS_RULE_BURY] = "bury",
    [RECSYS_RULE_PIN] = "pin",       [RECSYS_RULE_PROMOTE] = "promote",
};

const char *recsys__rule_kind_name(int32_t kind)
{
    return kind >= RECSYS_RULE_FILTER && kind <= RECSYS_RULE_PROMOTE ? kind_names[kind] : NULL;
}

int32_t recsys__rule_kind_from_name(const char *name)
{
    for (int32_t k = RECSYS_RULE_FILTER; name && k <= RECSYS_RULE_PROMOTE; k++)
        if (strcmp(kind_names[k], name) == 0)
            return k;
    return -1;
}

static bool uses_value(int32_t kind)
{
    return kind == RECSYS_RULE_BOOST || kind == RECSYS_RULE_PROMOTE;
}

recsys_status recsys__rule_check(const recsys_rule *r)
{
    const char *kn = recsys__rule_kind_name(r->kind);
    if (!kn)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "rule: kind %" PRId32 " is unknown (expected 1..6: RECSYS_RULE_FILTER, "
                           "_BLOCK, _BOOST, _BURY, _PIN or _PROMOTE)", r->kind);
    bool pin = r->kind == RECSYS_RULE_PIN;
    if (!r->expr && !pin)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s rule: field 'expr' is required", kn);
    if (pin && !r->expr && !r->item_id)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "pin rule: field 'item_id' or 'expr' is required (the item, or a "
                           "condition whose best item is pinned)");
    if (!uses_value(r->kind) && r->value != 0)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "%s rule: field 'value' applies only to boost and promote rules "
                           "(got %g; leave it 0)", kn, r->value);
    if (!pin && r->position != 0)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "%s rule: field 'position' applies only to pin rules (got %" PRId32
                           "; leave it 0)", kn, r->position);
    if (!pin && r->item_id)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "%s rule: field 'item_id' applies only to pin rules (leave it NULL)",
                           kn);
    if (r->kind == RECSYS_RULE_BOOST && !(isfinite(r->value) && r->value > 0))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "boost rule: field 'value' is %g; expected a finite number > 0",
                           r->value);
    if (r->kind == RECSYS_RULE_PROMOTE && !(r->value > 0 && r->value <= 1))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "promote rule: field 'value' is %g; expected a share of the list's "
                           "slots in (0, 1]", r->value);
    if (pin && (r->position < 0 || r->position > RECSYS__RULE_POSITION_MAX))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "pin rule: field 'position' is %" PRId32 "; expected 0..%d",
                           r->position, RECSYS__RULE_POSITION_MAX);
    if (r->item_id) {
        RECSYS_TRY(recsys__check_text(r->item_id, RECSYS_ID_MAX_BYTES,
                                      "pin rule: field 'item_id'"));
        if (!r->item_id[0])
            return recsys__err(RECSYS_E_INVALID_ARG, "pin rule: field 'item_id' is empty");
    }
    if (r->expr && strnlen(r->expr, RECSYS__RULE_EXPR_MAX + 1) > RECSYS__RULE_EXPR_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s rule: field 'expr' is longer than %d bytes",
                           kn, RECSYS__RULE_EXPR_MAX);
    return RECSYS_OK;
}

/* ---------------------------------------------------------------- writing -------------- */

recsys_status recsys__json_rule(const recsys__mem *m, const recsys_rule *r, bool host,
                                char **out, size_t *len)
{
    if (!out || !r)
        return recsys__err(RECSYS_E_INVALID_ARG, "rule JSON: an argument is NULL");
    *out = NULL;
    if (len)
        *len = 0;
    const char *kn = recsys__rule_kind_name(r->kind);
    if (!kn)
        return recsys__err(RECSYS_E_INVALID_ARG, "rule JSON: kind %" PRId32 " is unknown",
                           r->kind);
    recsys__jw b = { .m = m };
    bool first = true;
    recsys__jw_puts(&b, "{");
    recsys__jw_key(&b, "kind", &first);
    recsys__jw_str(&b, kn);
    if (r->expr) {
        recsys__jw_key(&b, "expr", &first);
        recsys__jw_str(&b, r->expr);
    }
    if (uses_value(r->kind)) {
        recsys__jw_key(&b, "value", &first);
        recsys__jw_double(&b, r->value);
    }
    if (r->kind == RECSYS_RULE_PIN) {
        recsys__jw_key(&b, "position", &first);
        recsys__jw_int(&b, r->position);
        if (r->item_id) {
            recsys__jw_key(&b, "item_id", &first);
            recsys__jw_str(&b, r->item_id);
        }
    }
    recsys__jw_puts(&b, "}");
    return recsys__jw_finish(&b, host, out, len);
}

/* ---------------------------------------------------------------- parsing -------------- */

static const char *const known_keys[] = { "kind", "expr", "value", "position", "item_id" };

void recsys__rule_doc_free(const recsys__mem *m, recsys__rule_doc *d)
{
    if (!d)
        return;
    recsys__free(m, d->expr);
    recsys__free(m, d->item_id);
    memset(d, 0, sizeof *d);
}

/* A string field (absent: *out NULL) of at most max bytes. */
static recsys_status get_str(const json_t *obj, const char *where, const char *field, size_t max,
                             const char **out)
{
    const json_t *v = json_object_get(obj, field);
    *out = NULL;
    if (!v)
        return RECSYS_OK;
    if (!json_is_string(v))
        return recsys__jr_failf(where, "field '%s' must be a string", field);
    if (!(*out = recsys__jr_str_of(v)))
        return recsys__jr_failf(where, "field '%s' is not valid UTF-8 or holds a NUL byte", field);
    if (json_string_length(v) > max)
        return recsys__jr_failf(where, "field '%s' is %zu bytes long; the limit is %zu", field,
                                json_string_length(v), max);
    return RECSYS_OK;
}

/* Fields the kind does not use are refused by presence (their zero value too). */
static recsys_status unused(const json_t *obj, const char *where, const char *kn, bool used,
                            const char *field, const char *which)
{
    if (!used && json_object_get(obj, field))
        return recsys__jr_failf(where, "field '%s' applies only to %s rules, not %s rules", field,
                                which, kn);
    return RECSYS_OK;
}

static recsys_status one(const json_t *obj, recsys_rule *r, const char **expr,
                         const char **item_id)
{
    const char *where = "rule";
    RECSYS_TRY(recsys__jr_check_keys(obj, known_keys, RECSYS_ARRAY_LEN(known_keys), where, NULL));
    const char *kn;
    RECSYS_TRY(get_str(obj, where, "kind", 16, &kn));
    if (!kn)
        return recsys__jr_failf(where, "field 'kind' is required (filter, block, boost, bury, "
                                       "pin or promote)");
    r->kind = recsys__rule_kind_from_name(kn);
    if (r->kind < 0)
        return recsys__jr_failf(where, "field 'kind': '%.*s' is unknown (expected filter, "
                                       "block, boost, bury, pin or promote)",
                                recsys__utf8_quote_len(kn), kn);
    kn = recsys__rule_kind_name(r->kind);
    bool pin = r->kind == RECSYS_RULE_PIN;
    RECSYS_TRY(unused(obj, where, kn, uses_value(r->kind), "value", "boost and promote"));
    RECSYS_TRY(unused(obj, where, kn, pin, "position", "pin"));
    RECSYS_TRY(unused(obj, where, kn, pin, "item_id", "pin"));
    RECSYS_TRY(get_str(obj, where, "expr", RECSYS__RULE_EXPR_MAX, expr));
    RECSYS_TRY(get_str(obj, where, "item_id", RECSYS_ID_MAX_BYTES, item_id));
    const json_t *v = json_object_get(obj, "value");
    if (v) {
        if (!json_is_number(v))
            return recsys__jr_failf(where, "field 'value' must be a number");
        r->value = json_number_value(v);
    }
    const json_t *p = json_object_get(obj, "position");
    if (p) {
        if (!json_is_integer(p))
            return recsys__jr_failf(where, "field 'position' must be an integer");
        json_int_t x = json_integer_value(p);
        if (x < 0 || x > RECSYS__RULE_POSITION_MAX)
            return recsys__jr_failf(where, "field 'position' is %" JSON_INTEGER_FORMAT
                                           "; expected 0..%d", x, RECSYS__RULE_POSITION_MAX);
        r->position = (int32_t)x;
    }
    r->expr = *expr;
    r->item_id = *item_id;
    return recsys__rule_check(r);
}

recsys_status recsys__json_parse_rule(const recsys__mem *m, const char *json, size_t len,
                                      size_t max_len, recsys__rule_doc *out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "rule: out is NULL");
    memset(out, 0, sizeof *out);
    json_t *root = NULL;
    RECSYS_TRY(recsys__jr_load(json, len, max_len, "rule", &root));
    recsys_rule r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    const char *expr = NULL, *item_id = NULL;
    recsys_status st = json_is_object(root)
                           ? one(root, &r, &expr, &item_id)
                           : recsys__err(RECSYS_E_INVALID_ARG, "rule: expected an object");
    if (st == RECSYS_OK) {
        recsys__rule_doc d = { .rule = r };
        d.expr = expr ? recsys__strdup(m, expr) : NULL;
        d.item_id = item_id ? recsys__strdup(m, item_id) : NULL;
        if ((expr && !d.expr) || (item_id && !d.item_id)) {
            recsys__rule_doc_free(m, &d);
            st = RECSYS_E_NOMEM;
        } else {
            d.rule.expr = d.expr;
            d.rule.item_id = d.item_id;
            *out = d;
        }
    }
    json_decref(root);
    return st;
}
