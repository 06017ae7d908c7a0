/* catalog.c - recsys_catalog_*: item upserts and removal, store first then memory, all or
 * nothing per call. The published derived state follows (derived.h: reserve before anything
 * changes, item_changed once the change is committed), so sources such as "vector" see an
 * upsert or a removal without a refresh. */
#include "engine.h"
#include "../core/utf8.h"
#include "../model/spec.h"

size_t recsys__engine_json_limit(recsys_engine *e)
{
    recsys__rd(e);
    size_t n = (size_t)e->opts.num[recsys__opt_slot(RECSYS_OPT_MAX_JSON_BYTES)];
    recsys__unlock(e);
    return n;
}

/* Puts it[0..n) into the catalog and the store. On success the catalog owns every item and
 * it[] is cleared; on failure nothing changed and the caller still owns them. */
static recsys_status put_items(recsys_engine *e, recsys_item **it, size_t n)
{
    const recsys__mem *m = &e->mem;
    char **json = recsys__calloc(m, n ? n : 1, sizeof *json);
    size_t *jlen = json ? recsys__calloc(m, n ? n : 1, sizeof *jlen) : NULL;
    recsys_item **olds = jlen ? recsys__calloc(m, n ? n : 1, sizeof *olds) : NULL;
    recsys_status st = olds ? RECSYS_OK : RECSYS_E_NOMEM;
    for (size_t i = 0; st == RECSYS_OK && i < n; i++)
        st = recsys__json_item(m, it[i], false, &json[i], &jlen[i]);
    size_t put = 0, stored = 0;
    if (st == RECSYS_OK) {
        recsys__wr(e);
        /* room in the derived state first: after the store took the items nothing may fail */
        st = recsys__derived_reserve(m, e->derived, &e->model, n);
        for (; st == RECSYS_OK && put < n; put++) {
            st = recsys__catalog_put(&e->model.catalog, it[put], &olds[put]);
            if (st != RECSYS_OK)
                break;
        }
        for (; st == RECSYS_OK && stored < n; stored++) {
            st = recsys__engine_store_put(e, RECSYS_RECORD_ITEM, it[stored]->id, json[stored], jlen[stored]);
            if (st != RECSYS_OK)
                break;
        }
        if (st != RECSYS_OK) {
            recsys__err_saved s;
            recsys__err_save(&s);
            /* roll the store back to what it held, newest first */
            while (stored-- > 0) {
                const recsys_item *old = olds[stored];
                char *oj = NULL;
                size_t ol = 0;
                if (old && recsys__json_item(m, old, false, &oj, &ol) == RECSYS_OK)
                    (void)recsys__engine_store_put(e, RECSYS_RECORD_ITEM, old->id, oj, ol);
                else if (!old)
                    (void)recsys__engine_store_remove(e, RECSYS_RECORD_ITEM, it[stored]->id);
                recsys__free(m, oj);
            }
            /* and memory, newest first: every item returns to the caller */
            while (put-- > 0) {
                recsys_item *back = NULL;
                if (olds[put])
                    (void)recsys__catalog_put(&e->model.catalog, olds[put], &back);
                else
                    (void)recsys__catalog_remove(&e->model.catalog, it[put]->id, &back);
                olds[put] = NULL;
            }
            recsys__err_restore(&s);
        } else {
            /* committed: the derived state follows (cannot fail, room was reserved) */
            for (size_t i = 0; i < n; i++)
                recsys__derived_item_changed(m, e->derived, &e->model, it[i]->idx);
        }
        recsys__unlock(e);
    }
    if (st == RECSYS_OK) {
        for (size_t i = 0; i < n; i++) {
            /* an item replaced by a later one of the same batch is one of ours: free it once */
            recsys__item_free(m, olds[i]);
            it[i] = NULL;
        }
    }
    for (size_t i = 0; json && i < n; i++)
        recsys__free(m, json[i]);
    recsys__free(m, json);
    recsys__free(m, jlen);
    recsys__free(m, olds);
    return st;
}

RECSYS_API recsys_status recsys_catalog_upsert(recsys_engine *e, const recsys_item_spec *spec)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(spec);
    recsys_item *it = NULL;
    RECSYS_TRY(recsys__item_clone(&e->mem, recsys__item_spec_item(spec), &it));
    recsys_status st = put_items(e, &it, 1);
    recsys__item_free(&e->mem, it); /* NULL on success */
    return st;
}

RECSYS_API recsys_status recsys_catalog_upsert_json(recsys_engine *e, const char *json, size_t len)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(json);
    recsys__items_vec v = { 0 };
    recsys_status st = recsys__json_parse_items(&e->mem, json, len, recsys__engine_json_limit(e), &v);
    if (st == RECSYS_OK)
        st = put_items(e, v.v, v.n);
    recsys__items_vec_free(&e->mem, &v); /* entries moved into the catalog are NULL */
    return st;
}

RECSYS_API recsys_status recsys_catalog_remove(recsys_engine *e, const char *item_id)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_TRY(recsys__check_text(item_id, RECSYS_ID_MAX_BYTES, "item_id"));
    recsys__wr(e);
    recsys_status st = RECSYS_OK;
    uint32_t idx = recsys__catalog_find(&e->model.catalog, item_id);
    if (idx == RECSYS_IDS_NONE)
        st = recsys__err(RECSYS_E_NOT_FOUND, "item '%.200s' is not in the catalog", item_id);
    if (st == RECSYS_OK)
        st = recsys__derived_reserve(&e->mem, e->derived, &e->model, 1);
    if (st == RECSYS_OK)
        st = recsys__engine_store_remove(e, RECSYS_RECORD_ITEM, item_id);
    recsys_item *old = NULL;
    if (st == RECSYS_OK)
        st = recsys__catalog_remove(&e->model.catalog, item_id, &old);
    if (st == RECSYS_OK)
        recsys__derived_item_changed(&e->mem, e->derived, &e->model, idx);
    recsys__unlock(e);
    recsys__item_free(&e->mem, old);
    return st;
}

RECSYS_API recsys_status recsys_catalog_get_json(recsys_engine *e, const char *item_id, char **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    RECSYS_TRY(recsys__check_text(item_id, RECSYS_ID_MAX_BYTES, "item_id"));
    recsys__rd(e);
    recsys_status st;
    uint32_t idx = recsys__catalog_find(&e->model.catalog, item_id);
    if (idx == RECSYS_IDS_NONE) {
        st = recsys__err(RECSYS_E_NOT_FOUND, "item '%.200s' is not in the catalog", item_id);
    } else {
        size_t len;
        st = recsys__json_item(&e->mem, recsys__catalog_get(&e->model.catalog, idx), true, out, &len);
    }
    recsys__unlock(e);
    return st;
}
