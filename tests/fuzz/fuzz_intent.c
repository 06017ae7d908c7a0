/* fuzz_intent.c - libFuzzer target for query understanding (lib/llm/intent.h) and the
 * clarify reply parser (lib/llm/clarify.h). The first byte picks the mode, the rest is the
 * input:
 * - 0..3: the rule parser, free (0) or restricted to a numeric, bool or text facet (1..3);
 * - 4..5: an LLM intent reply, free or restricted to a numeric facet;
 * - 6:    an LLM clarify reply.
 * Invariants (abort on a broken one): a reading's lists stay within their caps; its
 * expression always parses and binds against the catalog and only names the catalog's
 * categories (named or excluded), tags and attributes, and text values some item of the
 * catalog has under that attribute, in the catalog's spelling (the catalog's vocabulary is
 * in mixed case, and one value holds a quote and a backslash; every value mapped, never
 * passed through); its JSON is
 * valid; a restricted reading constrains nothing but its facet; merging it into another
 * keeps the caps; a rejected reply is RECSYS_E_INVALID_ARG with a message and an empty
 * reading. Never crashes, never leaks (ASan). */
#include "recsys.h"
#include "core/error.h"
#include "filter/expr.h"
#include "llm/clarify.h"
#include "llm/intent.h"
#include "model/model.h"
#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const recsys__mem *M = &recsys__mem_default;

static void check(bool ok)
{
    if (!ok)
        abort();
}

static recsys__catalog *catalog(void)
{
    static recsys__catalog c;
    static bool built;
    if (built)
        return &c;
    static const char *const items =
        "[{\"item_id\":\"a\",\"title\":\"Strix\",\"description\":\"gaming laptop for AI\","
        "\"category\":\"laptop\",\"tags\":[\"gaming\",\"2-in-1\"],\"attributes\":{\"price\":"
        "1200,\"ram_gb\":16,\"storage_gb\":512,\"battery_hours\":6,\"weight_kg\":2.1,"
        "\"dedicated_gpu\":true,\"gpu\":\"RTX 4060\",\"screen_in\":15.6}},"
        "{\"item_id\":\"b\",\"category\":\"tablet\",\"tags\":[\"touchscreen\"],\"attributes\":"
        "{\"price\":\"cheap\",\"battery_hours\":12,\"dedicated_gpu\":false}},"
        "{\"item_id\":\"c\",\"category\":\"Phone\",\"tags\":[\"iPhone\",\"MacBook\"],"
        "\"attributes\":{\"brand\":\"Lenovo\",\"gpu\":\"integrated\",\"os\":\"Windows 11\","
        "\"Backlit_Keyboard\":true,\"finish\":\"say \\\"hi\\\" \\\\ there\"}},"
        "{\"item_id\":\"d\",\"category\":\"laptop\",\"attributes\":{\"brand\":\"LENOVO\","
        "\"os\":\"windows 11\",\"color\":\"Black\",\"keyboard\":\"black\"}}]";
    recsys__catalog_init(&c, M);
    recsys__items_vec iv;
    if (recsys__json_parse_items(M, items, strlen(items), 1 << 20, &iv) == RECSYS_OK) {
        for (size_t i = 0; i < iv.n; i++) {
            recsys_item *old = NULL;
            check(recsys__catalog_put(&c, iv.v[i], &old) == RECSYS_OK);
        }
        iv.n = 0;
        recsys__items_vec_free(M, &iv);
    }
    built = true;
    return &c;
}

static bool is_attr(const recsys__catalog *c, const char *name)
{
    return recsys__catalog_attr_types(c, name) != 0;
}

static bool is_facet(const recsys__catalog *c, char kind, const char *s)
{
    char buf[RECSYS__INTENT_VALUE_MAX + 4];
    size_t n = strlen(s);
    if (n + 2 >= sizeof buf)
        return false;
    buf[0] = kind;
    buf[1] = ':';
    memcpy(buf + 2, s, n);
    return recsys__ids_find(&c->facets.ids, buf, n + 2) != RECSYS_IDS_NONE;
}

/* True when some item of c has value v under attribute name (exact spelling). */
static bool has_value(const recsys__catalog *c, const char *name, const char *v)
{
    for (uint32_t i = 0; i < c->ids.n; i++) {
        const recsys_item *it = recsys__catalog_get(c, i);
        const recsys__attr *a = it ? recsys__item_attr(it, name) : NULL;
        if (a && a->type == RECSYS__ATTR_STR && a->str && !strcmp(a->str, v))
            return true;
    }
    return false;
}

static void check_reading(const recsys__catalog *c, recsys__intent *in, const recsys__facet *only)
{
    check(in->nattrs <= RECSYS__INTENT_LIST_MAX && in->ntags <= RECSYS__INTENT_LIST_MAX &&
          in->nxtags <= RECSYS__INTENT_LIST_MAX && in->nterms <= RECSYS__INTENT_LIST_MAX &&
          in->nxcats <= RECSYS__INTENT_LIST_MAX);
    check(!in->category || is_facet(c, 'c', in->category));
    for (size_t i = 0; i < in->nxcats; i++)
        check(is_facet(c, 'c', in->xcats[i]) &&
              (!in->category || strcmp(in->category, in->xcats[i]) != 0));
    for (size_t i = 0; i < in->ntags; i++)
        check(is_facet(c, 't', in->tags[i]));
    for (size_t i = 0; i < in->nxtags; i++)
        check(is_facet(c, 't', in->xtags[i]));
    for (size_t i = 0; i < in->nattrs; i++) {
        check(is_attr(c, in->attrs[i].name));
        if (in->attrs[i].type == RECSYS__ATTR_NUM)
            check(!(in->attrs[i].lo > in->attrs[i].hi) && !isnan(in->attrs[i].lo) &&
                  !isnan(in->attrs[i].hi));
        if (in->attrs[i].type == RECSYS__ATTR_STR) /* a value of the catalog (or the facet's) */
            check(in->attrs[i].sval &&
                  (has_value(c, in->attrs[i].name, in->attrs[i].sval) ||
                   (only && only->kind == RECSYS__FACET_ATTR)));
        if (only)
            check(only->kind == RECSYS__FACET_ATTR && !strcmp(only->name, in->attrs[i].name));
    }
    if (only && only->kind == RECSYS__FACET_ATTR)
        check(!in->category && !in->nxcats && !in->ntags && !in->nxtags && !in->nterms);
    char *expr = NULL;
    check(recsys__intent_expr(M, in, &expr) == RECSYS_OK);
    check(!expr == recsys__intent_empty(in));
    if (expr) {
        recsys__expr *e = NULL;
        check(recsys__expr_parse(M, expr, strlen(expr), &e) == RECSYS_OK);
        check(recsys__expr_bind(e, c) == RECSYS_OK);
        recsys__expr_free(e);
    }
    recsys__free(M, expr);
    char *json = NULL;
    check(recsys__intent_json(M, in, false, &json, NULL) == RECSYS_OK);
    json_error_t je;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    check(root != NULL);
    json_decref(root);
    recsys__free(M, json);
    /* merging into a full reading keeps the caps and a valid expression */
    recsys__intent base;
    check(recsys__intent_parse(M, c, "gaming laptop under $1500 with 16GB RAM for ai", NULL,
                               &base) == RECSYS_OK);
    check(recsys__intent_merge(M, &base, in) == RECSYS_OK);
    check(base.nattrs <= RECSYS__INTENT_LIST_MAX && base.nterms <= RECSYS__INTENT_LIST_MAX);
    check(recsys__intent_expr(M, &base, &expr) == RECSYS_OK && expr);
    recsys__expr *e = NULL;
    check(recsys__expr_parse(M, expr, strlen(expr), &e) == RECSYS_OK);
    recsys__expr_free(e);
    recsys__free(M, expr);
    recsys__intent_free(M, &base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 16))
        return 0;
    const recsys__catalog *c = catalog();
    int mode = data[0] % 7;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0'; /* stops at the first NUL, as a C string would */
    char *vals[] = { "RTX 4060", "integrated" };
    recsys__facet facets[4] = {
        { 0 },
        { .kind = RECSYS__FACET_ATTR, .name = "battery_hours", .type = RECSYS__ATTR_NUM,
          .cuts = { 5, 9 }, .ncuts = 2 },
        { .kind = RECSYS__FACET_ATTR, .name = "dedicated_gpu", .type = RECSYS__ATTR_BOOL },
        { .kind = RECSYS__FACET_ATTR, .name = "gpu", .type = RECSYS__ATTR_STR, .values = vals,
          .nvalues = 2 },
    };
    recsys__intent in;
    recsys__err_clear();
    if (mode <= 3) {
        const recsys__facet *only = mode ? &facets[mode] : NULL;
        check(recsys__intent_parse(M, c, text, only, &in) == RECSYS_OK);
        check_reading(c, &in, only);
        recsys__intent_free(M, &in);
    } else if (mode <= 5) {
        const recsys__facet *only = mode == 5 ? &facets[1] : NULL;
        recsys_status st = recsys__intent_from_reply(M, c, text, strlen(text),
                                                     "a laptop for ai work", only, &in);
        check(st == RECSYS_OK || st == RECSYS_E_INVALID_ARG);
        if (st == RECSYS_OK) {
            check(in.llm);
            check_reading(c, &in, only);
            recsys__intent_free(M, &in);
        } else {
            check(recsys_last_error()[0] != '\0');
            check(recsys__intent_empty(&in) && in.nterms == 0);
        }
    } else {
        char *q = NULL;
        recsys_status st = recsys__clarify_from_reply(M, text, strlen(text), &q);
        check(st == RECSYS_OK || st == RECSYS_E_INVALID_ARG);
        check((st == RECSYS_OK) == (q != NULL));
        if (q) {
            size_t n = strlen(q);
            check(n > 0 && n <= RECSYS__CLARIFY_QUESTION_MAX);
            for (size_t i = 0; i < n; i++)
                check((unsigned char)q[i] >= 0x20 && q[i] != '<' && q[i] != '>');
        }
        recsys__free(M, q);
    }
    free(text);
    return 0;
}
