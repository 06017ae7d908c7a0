/* fuzz_expr.c - libFuzzer target: the input goes to the expression parser and to the rule
 * JSON parser.
 * - An expression that fails to parse must fail with RECSYS_E_INVALID_ARG, a message that
 *   begins "expression: ", and no object. One that parses keeps its text, binds against a
 *   small catalog (OK or INVALID_ARG), evaluates on every item under three contexts, and
 *   "!(" text ")" must parse too and evaluate to the opposite everywhere.
 * - A rule JSON that fails must fail with RECSYS_E_INVALID_ARG and a message. One that parses
 *   is written, read back and written again to the same text; compiled (OK or INVALID_ARG);
 *   a compiled rule is bound and used by eligible, boost, bury and arrange on the catalog,
 *   whose list must hold distinct eligible items.
 * Never crashes, never leaks (ASan); aborts on a broken invariant. */
#include "recsys.h"
#include "core/error.h"
#include "filter/rules.h"
#include "model/model.h"
#include "model/rules_json.h"

#define MAX_LEN (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const recsys__mem *M = &recsys__mem_default;

static void check(bool ok)
{
    if (!ok)
        abort();
}

static const recsys__expr_ctx CTXS[] = {
    { 1700000000, 30, "FR", "u1" }, { 0, -1, NULL, NULL }, { -5, 0, "", "" } };

/* A catalog with every kind of value: text and number prices, bools, tags, regions. */
static void build(recsys__catalog *c)
{
    static const char *const items =
        "[{\"item_id\":\"a\",\"title\":\"A\",\"category\":\"laptop\",\"tags\":[\"gpu\",\"x\"],"
        "\"regions\":[\"FR\"],\"min_age\":18,\"attributes\":{\"price\":1200,\"brand\":\"acme\","
        "\"on_sale\":true}},"
        "{\"item_id\":\"b\",\"category\":\"film\",\"available\":false,\"attributes\":{\"price\":"
        "\"cheap\",\"on_sale\":false,\"rating\":4.5}},"
        "{\"item_id\":\"c\",\"tags\":[\"refurbished\"],\"created\":1600000000},"
        "{\"item_id\":\"d\",\"category\":\"laptop\",\"attributes\":{\"price\":-3}}]";
    recsys__catalog_init(c, M);
    recsys__items_vec iv;
    if (recsys__json_parse_items(M, items, strlen(items), MAX_LEN, &iv) != RECSYS_OK)
        return; /* the fixed catalog always parses; a failure would show as empty lists */
    for (size_t i = 0; i < iv.n; i++) {
        recsys_item *old = NULL;
        check(recsys__catalog_put(c, iv.v[i], &old) == RECSYS_OK);
    }
    iv.n = 0;
    recsys__items_vec_free(M, &iv);
}

static void fuzz_expr(const recsys__catalog *c, const char *text, size_t size)
{
    recsys__err_clear();
    recsys__expr *e = (recsys__expr *)&e;
    recsys_status st = recsys__expr_parse(M, text, size, &e);
    if (st != RECSYS_OK) {
        check(st == RECSYS_E_INVALID_ARG && e == NULL);
        check(strncmp(recsys_last_error(), "expression: ", 12) == 0);
        return;
    }
    size_t len = 0;
    check(memcmp(recsys__expr_text(e, &len), text, size) == 0 && len == size);
    st = recsys__expr_bind(e, c);
    check(st == RECSYS_OK || st == RECSYS_E_INVALID_ARG);
    /* its negation */
    char *neg = malloc(size + 4);
    check(neg != NULL);
    memcpy(neg, "!(", 2);
    memcpy(neg + 2, text, size);
    neg[size + 2] = ')';
    recsys__expr *n = NULL;
    st = recsys__expr_parse(M, neg, size + 3, &n);
    free(neg);
    /* a newline inside the text cannot make "!(...)" fail; only the limits can */
    check(st == RECSYS_OK || (st == RECSYS_E_INVALID_ARG &&
                              (strstr(recsys_last_error(), "nesting deeper") ||
                               strstr(recsys_last_error(), "bytes long"))));
    for (size_t k = 0; k < sizeof CTXS / sizeof *CTXS; k++)
        for (uint32_t i = 0; i < c->ids.n; i++) {
            const recsys_item *it = recsys__catalog_get(c, i);
            bool v = recsys__expr_eval(e, it, &CTXS[k]);
            if (n)
                check(recsys__expr_eval(n, it, &CTXS[k]) == !v);
        }
    recsys__expr_free(n);
    recsys__expr_free(e);
}

static void use_rule(const recsys__catalog *c, recsys__rule *r)
{
    recsys_status st = recsys__rule_bind(r, c);
    check(st == RECSYS_OK || st == RECSYS_E_INVALID_ARG);
    const recsys__expr_ctx *ctx = &CTXS[0];
    uint32_t items[8];
    size_t n = 0;
    for (uint32_t i = 0; i < c->ids.n && n < 6; i++)
        items[n++] = i;
    items[n++] = 0;           /* a repeat */
    items[n++] = 1234567;     /* not in the catalog */
    recsys__cand cv[8];
    memset(cv, 0, sizeof cv);
    for (size_t i = 0; i < n; i++)
        cv[i].item = items[i];
    recsys__rules_boost(r, 1, ctx, c, cv, n);
    for (size_t i = 0; i < n; i++)
        check(isfinite(cv[i].score));
    recsys__rules_bury(r, 1, ctx, c, cv, n);
    for (size_t k = 0; k <= n; k++) {
        size_t out[8], nout = 0;
        check(recsys__rules_arrange(r, 1, ctx, c, items, n, sizeof *items, k, out, &nout) ==
              RECSYS_OK);
        check(nout <= k);
        for (size_t j = 0; j < nout; j++) {
            check(out[j] < n);
            check(recsys__rules_eligible(r, 1, recsys__catalog_get(c, items[out[j]]), ctx));
            for (size_t i = 0; i < j; i++)
                check(items[out[i]] != items[out[j]]);
        }
    }
}

static void fuzz_rule(const recsys__catalog *c, const char *json, size_t size)
{
    recsys__err_clear();
    recsys__rule_doc d;
    recsys_status st = recsys__json_parse_rule(M, json, size, MAX_LEN, &d);
    if (st != RECSYS_OK) {
        check(st == RECSYS_E_INVALID_ARG && recsys_last_error()[0] && !d.expr && !d.item_id);
        return;
    }
    char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    check(recsys__json_rule(M, &d.rule, false, &a, &alen) == RECSYS_OK);
    recsys__rule_doc d2;
    check(recsys__json_parse_rule(M, a, alen, MAX_LEN, &d2) == RECSYS_OK);
    check(recsys__json_rule(M, &d2.rule, false, &b, &blen) == RECSYS_OK);
    check(alen == blen && memcmp(a, b, alen) == 0);
    check(d2.rule.kind == d.rule.kind && d2.rule.value == d.rule.value &&
          d2.rule.position == d.rule.position);
    recsys__free(M, a);
    recsys__free(M, b);
    recsys__rule_doc_free(M, &d2);
    recsys__rule r;
    st = recsys__rule_compile(M, &d.rule, &r);
    check(st == RECSYS_OK || st == RECSYS_E_INVALID_ARG);
    if (st == RECSYS_OK) {
        use_rule(c, &r);
        recsys__rule_free(M, &r);
    }
    recsys__rule_doc_free(M, &d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    recsys__catalog c;
    build(&c);
    fuzz_expr(&c, (const char *)data, size);
    fuzz_rule(&c, (const char *)data, size);
    recsys__catalog_free(&c);
    return 0;
}
