/* result.c - the recsys_result handle: items, scores, sources, explanations, evidence. */
#include "request.h"
#include <jansson.h>

recsys_status recsys__result_new(const recsys__mem *m, size_t n, recsys_result **out)
{
    recsys_result *r = recsys__calloc(m, 1, sizeof *r);
    if (!r)
        return RECSYS_E_NOMEM;
    r->mem = *m;
    r->items = recsys__calloc(m, n ? n : 1, sizeof *r->items);
    if (!r->items) {
        recsys__free(m, r);
        return RECSYS_E_NOMEM;
    }
    r->n = n;
    *out = r;
    return RECSYS_OK;
}

RECSYS_API void recsys_result_free(recsys_result *r)
{
    recsys__err_clear();
    if (!r)
        return;
    const recsys__mem *m = &r->mem;
    for (size_t i = 0; i < r->n; i++) {
        recsys__res_item *it = &r->items[i];
        recsys__free(m, it->item_id);
        for (size_t j = 0; j < it->nsrc; j++)
            recsys__free(m, it->src[j].name);
        recsys__free(m, it->src);
        recsys__free(m, it->explanation);
        for (size_t j = 0; j < it->nev; j++) {
            recsys__free(m, it->ev[j].name);
            recsys__free(m, it->ev[j].value);
        }
        recsys__free(m, it->ev);
    }
    recsys__free(m, r->items);
    recsys__free(m, r->request_id);
    recsys__free(m, r->experiment);
    recsys__free(m, r->arm);
    recsys__mem mem = r->mem;
    recsys__free(&mem, r);
}

RECSYS_API size_t recsys_result_count(const recsys_result *r)
{
    return r ? r->n : 0;
}

RECSYS_API const char *recsys_result_request_id(const recsys_result *r)
{
    return r ? r->request_id : NULL;
}

RECSYS_API const char *recsys_result_experiment(const recsys_result *r)
{
    return r ? r->experiment : NULL;
}

RECSYS_API const char *recsys_result_arm(const recsys_result *r)
{
    return r ? r->arm : NULL;
}

RECSYS_API const char *recsys_result_item_id(const recsys_result *r, size_t i)
{
    return (r && i < r->n) ? r->items[i].item_id : NULL;
}

RECSYS_API double recsys_result_score(const recsys_result *r, size_t i)
{
    return (r && i < r->n) ? r->items[i].score : 0.0;
}

RECSYS_API size_t recsys_result_source_count(const recsys_result *r, size_t i)
{
    return (r && i < r->n) ? r->items[i].nsrc : 0;
}

RECSYS_API recsys_status recsys_result_source(const recsys_result *r, size_t i, size_t j,
                                              const char **name, double *score)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(r);
    if (i >= r->n || j >= r->items[i].nsrc)
        return recsys__err(RECSYS_E_INVALID_ARG, "result item %zu source %zu is out of range", i, j);
    if (name)
        *name = r->items[i].src[j].name;
    if (score)
        *score = r->items[i].src[j].score;
    return RECSYS_OK;
}

RECSYS_API uint64_t recsys_result_stage_ns(const recsys_result *r, int32_t stage)
{
    return (r && stage >= RECSYS_STAGE_CONTEXT && stage <= RECSYS_STAGE_RESPOND)
               ? r->stage_ns[stage]
               : 0;
}

RECSYS_API size_t recsys_result_sources_skipped(const recsys_result *r)
{
    return r ? r->sources_skipped : 0;
}

RECSYS_API const char *recsys_result_explanation(const recsys_result *r, size_t i)
{
    return (r && i < r->n && r->items[i].explanation) ? r->items[i].explanation : "";
}

RECSYS_API size_t recsys_result_evidence_count(const recsys_result *r, size_t i)
{
    return (r && i < r->n) ? r->items[i].nev : 0;
}

RECSYS_API recsys_status recsys_result_evidence(const recsys_result *r, size_t i, size_t j,
                                                int32_t *kind, const char **name,
                                                const char **value)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(r);
    if (i >= r->n || j >= r->items[i].nev)
        return recsys__err(RECSYS_E_INVALID_ARG, "result item %zu evidence %zu is out of range", i,
                           j);
    const recsys__res_evidence *ev = &r->items[i].ev[j];
    if (kind)
        *kind = ev->kind;
    if (name)
        *name = ev->name;
    if (value)
        *value = ev->value;
    return RECSYS_OK;
}

static const char *evidence_kind_name(int32_t k)
{
    switch (k) {
    case RECSYS_EVIDENCE_ATTRIBUTE: return "attribute";
    case RECSYS_EVIDENCE_HISTORY: return "history";
    case RECSYS_EVIDENCE_INTEREST: return "interest";
    case RECSYS_EVIDENCE_POPULARITY: return "popularity";
    case RECSYS_EVIDENCE_QUERY: return "query";
    }
    return "unknown";
}

/* jansson reports allocation failure as a NULL/-1; every add is checked. */
static int add(json_t *obj, const char *key, json_t *v)
{
    return v ? json_object_set_new(obj, key, v) : -1;
}

RECSYS_API recsys_status recsys_result_to_json(const recsys_result *r, char **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(r);
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    json_t *root = json_object(), *items = json_array();
    int bad = !root || !items;
    bad = bad || add(root, "request_id", json_string(r->request_id)) ||
          json_object_set(root, "items", items);
    for (size_t i = 0; !bad && i < r->n; i++) {
        const recsys__res_item *it = &r->items[i];
        json_t *o = json_object(), *srcs = json_array(), *evs = json_array();
        bad = !o || !srcs || !evs;
        bad = bad || add(o, "item_id", json_string(it->item_id)) ||
              add(o, "score", json_real(it->score));
        for (size_t j = 0; !bad && j < it->nsrc; j++) {
            json_t *s = json_object();
            bad = !s || add(s, "name", json_string(it->src[j].name)) ||
                  add(s, "score", json_real(it->src[j].score)) || json_array_append_new(srcs, s);
        }
        bad = bad || json_object_set(o, "sources", srcs) ||
              add(o, "explanation", json_string(it->explanation ? it->explanation : ""));
        for (size_t j = 0; !bad && j < it->nev; j++) {
            json_t *s = json_object();
            bad = !s || add(s, "kind", json_string(evidence_kind_name(it->ev[j].kind))) ||
                  add(s, "name", json_string(it->ev[j].name)) ||
                  add(s, "value", json_string(it->ev[j].value)) || json_array_append_new(evs, s);
        }
        bad = bad || json_object_set(o, "evidence", evs) || json_array_append(items, o);
        json_decref(srcs);
        json_decref(evs);
        json_decref(o);
    }
    char *text = bad ? NULL : json_dumps(root, JSON_COMPACT);
    json_decref(items);
    json_decref(root);
    if (!text)
        return recsys__err(RECSYS_E_NOMEM, "out of memory serialising a result");
    *out = recsys__hoststr(&r->mem, text, strlen(text));
    free(text); /* jansson's own allocation */
    return *out ? RECSYS_OK : RECSYS_E_NOMEM;
}
