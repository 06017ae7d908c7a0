/* request.c - the recsys_request handle: who asks, what for, and per-request options. */
#include "request.h"
#include "../core/ids.h"
#include "../core/utf8.h"

static const recsys__mem *M = &recsys__mem_default; /* requests exist before any engine */

RECSYS_API recsys_status recsys_request_new(recsys_request **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(out);
    *out = recsys__calloc(M, 1, sizeof **out);
    return *out ? RECSYS_OK : RECSYS_E_NOMEM;
}

RECSYS_API void recsys_request_free(recsys_request *r)
{
    recsys__err_clear();
    if (!r)
        return;
    recsys__free(M, r->user_id);
    recsys__free(M, r->text);
    recsys__free(M, r->id);
    recsys__free(M, r->anchor);
    for (size_t i = 0; i < r->nexclude; i++)
        recsys__free(M, r->exclude[i]);
    recsys__free(M, r->exclude);
    for (size_t i = 0; i < r->ninclude; i++)
        recsys__free(M, r->include[i]);
    recsys__free(M, r->include);
    recsys__free(M, r->ranker);
    recsys__request_free_rules(r);
    recsys__free(M, r->over);
    recsys__free(M, r);
}

/* Replaces *slot with a copy of s (NULL clears) after checking it. */
static recsys_status set_text(char **slot, const char *s, size_t max, const char *what)
{
    char *copy = NULL;
    if (s) {
        RECSYS_TRY(recsys__check_text(s, max, what));
        copy = recsys__strdup(M, s);
        if (!copy)
            return RECSYS_E_NOMEM;
    }
    recsys__free(M, *slot);
    *slot = copy;
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_request_set_user(recsys_request *r, const char *user_id)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(r);
    if (user_id && !user_id[0])
        return recsys__err(RECSYS_E_INVALID_ARG, "user_id is empty (use NULL for anonymous)");
    return set_text(&r->user_id, user_id, RECSYS_ID_MAX_BYTES, "user_id");
}

RECSYS_API recsys_status recsys_request_set_query(recsys_request *r, const char *text)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(r);
    return set_text(&r->text, text, 64 * 1024, "query text");
}

RECSYS_API recsys_status recsys_request_set_id(recsys_request *r, const char *request_id)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(r);
    if (request_id && !request_id[0])
        return recsys__err(RECSYS_E_INVALID_ARG, "request_id is empty (use NULL to generate one)");
    return set_text(&r->id, request_id, RECSYS_ID_MAX_BYTES, "request_id");
}

RECSYS_API recsys_status recsys_request_set_anchor(recsys_request *r, const char *item_id)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(r);
    if (item_id && !item_id[0])
        return recsys__err(RECSYS_E_INVALID_ARG, "anchor item id is empty (use NULL to clear it)");
    return set_text(&r->anchor, item_id, RECSYS_ID_MAX_BYTES, "anchor item id");
}

/* Appends a copy of item_id to a request's id list. */
static recsys_status push_id(char ***v, size_t *n, size_t *cap, const char *item_id)
{
    RECSYS_TRY(recsys__check_text(item_id, RECSYS_ID_MAX_BYTES, "item_id"));
    RECSYS_TRY(RECSYS_GROW(M, *v, *cap, *n + 1));
    char *copy = recsys__strdup(M, item_id);
    if (!copy)
        return RECSYS_E_NOMEM;
    (*v)[(*n)++] = copy;
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_request_exclude(recsys_request *r, const char *item_id)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(r);
    return push_id(&r->exclude, &r->nexclude, &r->capexclude, item_id);
}

RECSYS_API recsys_status recsys_request_include(recsys_request *r, const char *item_id)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(r);
    return push_id(&r->include, &r->ninclude, &r->capinclude, item_id);
}

RECSYS_API recsys_status recsys_request_set_ranker(recsys_request *r, const char *name)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(r);
    if (name && !name[0])
        return recsys__err(RECSYS_E_INVALID_ARG, "ranker name is empty (use NULL for the engine's)");
    return set_text(&r->ranker, name, 63, "ranker name");
}

static recsys_status set_over(recsys_request *r, int32_t key, int32_t type, double v)
{
    int slot = -1;
    RECSYS_TRY(recsys__opt_check_num(key, type, v, &slot));
    for (size_t i = 0; i < r->nover; i++)
        if (r->over[i].key == key) {
            r->over[i].num = v;
            return RECSYS_OK;
        }
    RECSYS_TRY(RECSYS_GROW(M, r->over, r->capover, r->nover + 1));
    r->over[r->nover].key = key;
    r->over[r->nover].num = v;
    r->nover++;
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_request_set_int(recsys_request *r, int32_t key, int64_t value)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(r);
    return set_over(r, key, RECSYS_OPTTYPE_INT, (double)value);
}

RECSYS_API recsys_status recsys_request_set_double(recsys_request *r, int32_t key, double value)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(r);
    return set_over(r, key, RECSYS_OPTTYPE_DOUBLE, value);
}
