/* rules.c - business rules: the engine's named rules (recsys_engine_rule_set / _remove; kept
 * in the store as RECSYS_RECORD_RULE records, all or nothing per call, loaded when the engine
 * opens), a request's own (recsys_request_add_rule), and the list of both a request's stages
 * see (recsys__engine_query_rules). What a rule means and how the pipeline applies it is
 * lib/filter/rules.h.
 *
 * Binding. An engine rule's expression is bound to the catalog's attribute registry when it
 * is set (an unknown attribute is an error then); the registry only grows, so it stays bound.
 * A stored rule is bound when the engine opens, against the items loaded then: a rule naming
 * an attribute only removed items had stays in force, its comparisons false (no error: the
 * engine must open). A request's rules are parsed when added and bound by recsys_recommend
 * against the catalog of the moment (an unknown attribute fails the request). */
#include "engine.h"
#include "request.h"
#include "../core/abi.h"
#include "../core/utf8.h"

RECSYS_API void recsys_rule_init(recsys_rule *rule)
{
    recsys__err_clear();
    if (rule) {
        memset(rule, 0, sizeof *rule);
        rule->struct_size = (uint32_t)sizeof *rule;
    }
}

static size_t find_rule(const recsys_engine *e, const char *name)
{
    for (size_t i = 0; i < e->nrules; i++)
        if (!strcmp(e->rules[i].name, name))
            return i;
    return SIZE_MAX;
}

/* Puts the compiled rule r (moved into the engine on success) under name, after storing json
 * (store=true) or as loaded. Caller holds the lock exclusively. On failure r is untouched. */
static recsys_status put_rule_locked(recsys_engine *e, const char *name, recsys__rule *r,
                                     const char *json, size_t len, bool store, recsys__rule *old)
{
    memset(old, 0, sizeof *old);
    size_t at = find_rule(e, name);
    char *copy = NULL;
    if (at == SIZE_MAX) {
        RECSYS_TRY(RECSYS_GROW(&e->mem, e->rules, e->caprules, e->nrules + 1));
        copy = recsys__strdup(&e->mem, name);
        if (!copy)
            return RECSYS_E_NOMEM;
    }
    recsys_status st = store ? recsys__engine_store_put(e, RECSYS_RECORD_RULE, name, json, len)
                             : RECSYS_OK;
    if (st != RECSYS_OK) {
        recsys__free(&e->mem, copy);
        return st;
    }
    if (at == SIZE_MAX) {
        e->rules[e->nrules].name = copy;
        e->rules[e->nrules++].rule = *r;
    } else {
        *old = e->rules[at].rule;
        e->rules[at].rule = *r;
    }
    memset(r, 0, sizeof *r);
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_engine_rule_set(recsys_engine *e, const char *name,
                                                const recsys_rule *rule)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_TRY(recsys__engine_check_name(name, "rule"));
    if (!rule)
        return recsys__err(RECSYS_E_INVALID_ARG, "rule '%s': the record is NULL", name);
    recsys__rule r;
    RECSYS_TRY(recsys__rule_compile(&e->mem, rule, &r));
    recsys_rule pub;
    recsys__rule_public(&r, &pub);
    char *json = NULL;
    size_t len = 0;
    recsys_status st = recsys__json_rule(&e->mem, &pub, false, &json, &len);
    recsys__rule old;
    memset(&old, 0, sizeof old);
    if (st == RECSYS_OK) {
        recsys__wr(e);
        st = recsys__rule_bind(&r, &e->model.catalog);
        if (st == RECSYS_OK)
            st = put_rule_locked(e, name, &r, json, len, true, &old);
        recsys__unlock(e);
    }
    if (st != RECSYS_OK)
        recsys__err_prefix(name); /* "rule-name: filter rule: expression: at byte 4: ..." */
    recsys__free(&e->mem, json);
    recsys__rule_free(&e->mem, &r);
    recsys__rule_free(&e->mem, &old);
    return st;
}

RECSYS_API recsys_status recsys_engine_rule_remove(recsys_engine *e, const char *name)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_TRY(recsys__engine_check_name(name, "rule"));
    recsys__rule old;
    memset(&old, 0, sizeof old);
    char *oldname = NULL;
    recsys__wr(e);
    size_t at = find_rule(e, name);
    recsys_status st = at == SIZE_MAX
                           ? recsys__err(RECSYS_E_NOT_FOUND, "no rule named '%s'", name)
                           : recsys__engine_store_remove(e, RECSYS_RECORD_RULE, name);
    if (st == RECSYS_OK) {
        old = e->rules[at].rule;
        oldname = e->rules[at].name;
        memmove(&e->rules[at], &e->rules[at + 1], (e->nrules - at - 1) * sizeof *e->rules);
        e->nrules--;
    }
    recsys__unlock(e);
    recsys__rule_free(&e->mem, &old);
    recsys__free(&e->mem, oldname);
    return st;
}

void recsys__engine_free_rules(recsys_engine *e)
{
    for (size_t i = 0; i < e->nrules; i++) {
        recsys__rule_free(&e->mem, &e->rules[i].rule);
        recsys__free(&e->mem, e->rules[i].name);
    }
    recsys__free(&e->mem, e->rules);
    e->rules = NULL;
    e->nrules = e->caprules = 0;
}

/* ------------------------------------------------------------ loading */

static recsys_status load_rule(void *arg, int32_t kind, const char *key, const void *data,
                               size_t len)
{
    recsys_engine *e = arg;
    (void)kind;
    recsys__rule_doc doc;
    recsys__rule r;
    memset(&r, 0, sizeof r);
    recsys_status st = recsys__engine_check_name(key, "stored rule");
    if (st == RECSYS_OK)
        st = recsys__json_parse_rule(&e->mem, data, len, SIZE_MAX, &doc);
    else
        memset(&doc, 0, sizeof doc);
    if (st == RECSYS_OK)
        st = recsys__rule_compile(&e->mem, &doc.rule, &r);
    if (st == RECSYS_E_INVALID_ARG) {
        recsys__err_prefix("stored rule");
        st = recsys__err(RECSYS_E_CORRUPT, "%s", recsys_last_error());
    }
    if (st == RECSYS_OK && recsys__rule_bind(&r, &e->model.catalog) != RECSYS_OK)
        recsys__err_clear(); /* see the opening comment: kept, its unknown names missing */
    recsys__rule old;
    if (st == RECSYS_OK)
        st = put_rule_locked(e, key, &r, NULL, 0, false, &old);
    if (st == RECSYS_OK)
        recsys__rule_free(&e->mem, &old);
    recsys__rule_free(&e->mem, &r);
    recsys__rule_doc_free(&e->mem, &doc);
    return st;
}

recsys_status recsys__engine_load_rules(recsys_engine *e)
{
    recsys_status st = e->store.scan_records(e->store.ctx, RECSYS_RECORD_RULE, load_rule, e);
    if (st == RECSYS_E_INVALID_ARG || st == RECSYS_E_UNSUPPORTED) {
        /* a store written before rules knows fewer record kinds: it holds no rules */
        recsys__err_clear();
        st = RECSYS_OK;
    }
    return st;
}

/* ------------------------------------------------------------ requests */

static const recsys__mem *RM = &recsys__mem_default; /* requests exist before any engine */

RECSYS_API recsys_status recsys_request_add_rule(recsys_request *req, const recsys_rule *rule)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(req);
    RECSYS_CHECK_ARG(rule);
    RECSYS_TRY(RECSYS_GROW(RM, req->rules, req->caprules, req->nrules + 1));
    RECSYS_TRY(recsys__rule_compile(RM, rule, &req->rules[req->nrules]));
    req->nrules++;
    return RECSYS_OK;
}

void recsys__request_free_rules(recsys_request *req)
{
    for (size_t i = 0; i < req->nrules; i++)
        recsys__rule_free(RM, &req->rules[i]);
    recsys__free(RM, req->rules);
}

recsys_status recsys__engine_query_rules(recsys_engine *e, const recsys_request *req,
                                         recsys__rule **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t total = e->nrules + req->nrules;
    if (total == 0)
        return RECSYS_OK;
    recsys__rule *v = recsys__calloc(&e->mem, total, sizeof *v);
    if (!v)
        return RECSYS_E_NOMEM;
    for (size_t i = 0; i < e->nrules; i++)
        v[i] = e->rules[i].rule; /* shallow: immutable while the request holds the lock */
    /* the request's own: compiled again for this run and bound here (binding writes into a
     * rule, and one request may be in several recsys_recommend calls at once) */
    recsys_status st = RECSYS_OK;
    for (size_t i = 0; st == RECSYS_OK && i < req->nrules; i++) {
        recsys_rule pub;
        recsys__rule_public(&req->rules[i], &pub);
        st = recsys__rule_compile(&e->mem, &pub, &v[e->nrules + i]);
        if (st == RECSYS_OK)
            st = recsys__rule_bind(&v[e->nrules + i], &e->model.catalog);
        if (st != RECSYS_OK && st != RECSYS_E_NOMEM) {
            char what[48];
            snprintf(what, sizeof what, "the request's rule %zu", i);
            recsys__err_prefix(what);
        }
    }
    if (st != RECSYS_OK) {
        recsys__engine_free_query_rules(e, v, total, e->nrules);
        return st;
    }
    *out = v;
    *n = total;
    return RECSYS_OK;
}

recsys_status recsys__engine_add_query_filter(recsys_engine *e, const char *expr,
                                             recsys__rule **rules, size_t *n)
{
    recsys_rule pub;
    memset(&pub, 0, sizeof pub);
    pub.struct_size = (uint32_t)sizeof pub;
    pub.kind = RECSYS_RULE_FILTER;
    pub.expr = expr;
    recsys__rule r;
    RECSYS_TRY(recsys__rule_compile(&e->mem, &pub, &r));
    recsys_status st = recsys__rule_bind(&r, &e->model.catalog);
    recsys__rule *v = st == RECSYS_OK ? recsys__realloc_array(&e->mem, *rules, *n + 1, sizeof *v)
                                      : NULL;
    if (st == RECSYS_OK && !v)
        st = RECSYS_E_NOMEM;
    if (st != RECSYS_OK) {
        recsys__rule_free(&e->mem, &r);
        return st;
    }
    v[*n] = r;
    *rules = v;
    (*n)++;
    return RECSYS_OK;
}

void recsys__engine_free_query_rules(recsys_engine *e, recsys__rule *v, size_t n,
                                     size_t nshared)
{
    for (size_t i = nshared; v && i < n; i++) /* the request's copies; the engine's are shared */
        recsys__rule_free(&e->mem, &v[i]);
    recsys__free(&e->mem, v);
}
