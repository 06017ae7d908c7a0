/* json_out.c - canonical JSON for items, profiles and the user view.
 *
 * Written directly (not through jansson) so that every byte comes from the caller's
 * recsys__mem. Canonical: fixed key order, attributes sorted by name, empty optional fields
 * left out, numbers in the shortest form that reads back to the same value, in any locale.
 * What json_in.c parses from an item's output is that same item. */
#include "model.h"
#include "../core/error.h"
#include "json_write.h"

static void put_attrs(recsys__jw *b, const recsys__attr *a, uint32_t n)
{
    recsys__jw_put(b, "{", 1);
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            recsys__jw_put(b, ",", 1);
        recsys__jw_str(b, a[i].name);
        recsys__jw_put(b, ":", 1);
        switch (a[i].type) {
        case RECSYS__ATTR_STR: recsys__jw_str(b, a[i].str ? a[i].str : ""); break;
        case RECSYS__ATTR_BOOL: recsys__jw_puts(b, a[i].num != 0 ? "true" : "false"); break;
        default: recsys__jw_double(b, a[i].num); break;
        }
    }
    recsys__jw_put(b, "}", 1);
}

recsys_status recsys__json_item(const recsys__mem *m, const recsys_item *it, bool host,
                                char **out, size_t *len)
{
    *out = NULL;
    if (len)
        *len = 0;
    recsys__jw b = { m, NULL, 0, 0, false };
    bool first = true;
    recsys__jw_put(&b, "{", 1);
    recsys__jw_key(&b, "item_id", &first);
    recsys__jw_str(&b, it->id);
    recsys__jw_key(&b, "title", &first);
    recsys__jw_str(&b, it->title);
    if (it->description[0]) {
        recsys__jw_key(&b, "description", &first);
        recsys__jw_str(&b, it->description);
    }
    recsys__jw_key(&b, "category", &first);
    recsys__jw_str(&b, it->category);
    if (it->provider[0]) {
        recsys__jw_key(&b, "provider", &first);
        recsys__jw_str(&b, it->provider);
    }
    recsys__jw_key(&b, "tags", &first);
    recsys__jw_strv(&b, it->tags, it->ntags);
    if (it->nregions) {
        recsys__jw_key(&b, "regions", &first);
        recsys__jw_strv(&b, it->regions, it->nregions);
    }
    recsys__jw_key(&b, "available", &first);
    recsys__jw_puts(&b, it->available ? "true" : "false");
    if (it->min_age) {
        recsys__jw_key(&b, "min_age", &first);
        recsys__jw_int(&b, it->min_age);
    }
    if (it->created) {
        recsys__jw_key(&b, "created", &first);
        recsys__jw_int(&b, it->created);
    }
    if (it->nattrs) {
        recsys__jw_key(&b, "attributes", &first);
        put_attrs(&b, it->attrs, it->nattrs);
    }
    if (it->nembs) {
        recsys__jw_key(&b, "embeddings", &first);
        recsys__jw_put(&b, "{", 1);
        for (uint32_t i = 0; i < it->nembs; i++) {
            if (i)
                recsys__jw_put(&b, ",", 1);
            recsys__jw_str(&b, it->embs[i].name);
            recsys__jw_put(&b, ":[", 2);
            for (uint32_t k = 0; k < it->embs[i].dim; k++) {
                if (k)
                    recsys__jw_put(&b, ",", 1);
                recsys__jw_float(&b, it->embs[i].v[k]);
            }
            recsys__jw_put(&b, "]", 1);
        }
        recsys__jw_put(&b, "}", 1);
    }
    const recsys__generated *g = &it->gen;
    if (g->ntags || g->summary[0] || g->nattrs || g->model[0]) {
        bool gfirst = true;
        recsys__jw_key(&b, "generated", &first);
        recsys__jw_put(&b, "{", 1);
        if (g->ntags) {
            recsys__jw_key(&b, "tags", &gfirst);
            recsys__jw_strv(&b, g->tags, g->ntags);
        }
        if (g->summary[0]) {
            recsys__jw_key(&b, "summary", &gfirst);
            recsys__jw_str(&b, g->summary);
        }
        if (g->nattrs) {
            recsys__jw_key(&b, "attributes", &gfirst);
            put_attrs(&b, g->attrs, g->nattrs);
        }
        if (g->model[0]) {
            recsys__jw_key(&b, "model", &gfirst);
            recsys__jw_str(&b, g->model);
        }
        recsys__jw_put(&b, "}", 1);
    }
    recsys__jw_put(&b, "}", 1);
    return recsys__jw_finish(&b, host, out, len);
}

static const char *const list_keys[4] = { NULL, "recent_views", "purchased_items",
                                          "negative_feedback" };

/* Item id of a catalog index (ids of removed items stay interned). */
static const char *item_name(const recsys__model *model, uint32_t idx)
{
    if (idx >= model->catalog.ids.n)
        return NULL;
    return recsys__ids_name(&model->catalog.ids, idx);
}

/* The profile's fields, without the closing brace. */
static void put_profile(recsys__jw *b, const recsys__model *model, const recsys__user *u)
{
    bool first = true;
    recsys__jw_put(b, "{", 1);
    recsys__jw_key(b, "user_id", &first);
    recsys__jw_str(b, u->id);
    recsys__jw_key(b, "interests", &first);
    recsys__jw_strv(b, u->interests, u->ninterests);
    if (u->age >= 0) {
        recsys__jw_key(b, "age", &first);
        recsys__jw_int(b, u->age);
    }
    if (u->region) {
        recsys__jw_key(b, "region", &first);
        recsys__jw_str(b, u->region);
    }
    for (int l = RECSYS_LIST_RECENT_VIEWS; l <= RECSYS_LIST_NEGATIVE; l++) {
        if (!u->nlists[l])
            continue;
        recsys__jw_key(b, list_keys[l], &first);
        recsys__jw_put(b, "[", 1);
        bool f = true;
        for (uint32_t i = 0; i < u->nlists[l]; i++) {
            const char *name = item_name(model, u->lists[l][i]);
            if (!name)
                continue;
            if (!f)
                recsys__jw_put(b, ",", 1);
            f = false;
            recsys__jw_str(b, name);
        }
        recsys__jw_put(b, "]", 1);
    }
}

recsys_status recsys__json_profile(const recsys__mem *m, const recsys__model *model,
                                   const recsys__user *u, bool host, char **out, size_t *len)
{
    *out = NULL;
    if (len)
        *len = 0;
    recsys__jw b = { m, NULL, 0, 0, false };
    put_profile(&b, model, u);
    recsys__jw_put(&b, "}", 1);
    return recsys__jw_finish(&b, host, out, len);
}

recsys_status recsys__json_user_view(const recsys__mem *m, const recsys__model *model,
                                     const recsys__user *u, int64_t now, char **out, size_t *len)
{
    RECSYS_UNUSED(now);
    *out = NULL;
    if (len)
        *len = 0;
    recsys__jw b = { m, NULL, 0, 0, false };
    put_profile(&b, model, u);
    /* history: per event type in type order, the items most recent first */
    recsys__jw_puts(&b, ",\"history\":{");
    bool tfirst = true;
    for (int32_t t = 1; recsys__event_name(t); t++) {
        bool any = false;
        for (size_t i = u->nhist; i-- > 0;) {
            const recsys__hist *h = &u->hist[i];
            const char *name = h->type == t ? item_name(model, h->item) : NULL;
            if (!name)
                continue;
            if (!any)
                recsys__jw_key(&b, recsys__event_name(t), &tfirst);
            recsys__jw_put(&b, any ? "," : "[", 1);
            any = true;
            recsys__jw_str(&b, name);
        }
        if (any)
            recsys__jw_put(&b, "]", 1);
    }
    recsys__jw_puts(&b, "},\"search_history\":[");
    bool f = true;
    for (size_t i = u->nhist; i-- > 0;) {
        if (!u->hist[i].query)
            continue;
        if (!f)
            recsys__jw_put(&b, ",", 1);
        f = false;
        recsys__jw_str(&b, u->hist[i].query);
    }
    recsys__jw_puts(&b, "],\"events\":");
    char t[32];
    snprintf(t, sizeof t, "%" PRIu64, u->nevents);
    recsys__jw_puts(&b, t);
    recsys__jw_put(&b, "}", 1);
    return recsys__jw_finish(&b, true, out, len);
}
