/* views.c - the read-only item getters handed to plug-ins. NULL-safe: a NULL item reads as
 * "" / 0, and the fallible getter reports RECSYS_E_INVALID_ARG. */
#include "model.h"
#include "../core/error.h"

RECSYS_API const char *recsys_item_id(const recsys_item *item)
{
    recsys__err_clear();
    return item ? item->id : "";
}

RECSYS_API const char *recsys_item_text(const recsys_item *item, int32_t field)
{
    recsys__err_clear();
    if (!item)
        return "";
    switch (field) {
    case RECSYS_FIELD_TITLE: return item->title;
    case RECSYS_FIELD_DESCRIPTION: return item->description;
    case RECSYS_FIELD_CATEGORY: return item->category;
    case RECSYS_FIELD_PROVIDER: return item->provider;
    }
    return "";
}

RECSYS_API size_t recsys_item_tag_count(const recsys_item *item)
{
    recsys__err_clear();
    return item ? item->ntags : 0;
}

RECSYS_API const char *recsys_item_tag(const recsys_item *item, size_t i)
{
    recsys__err_clear();
    return (item && i < item->ntags) ? item->tags[i] : NULL;
}

RECSYS_API int recsys_item_available(const recsys_item *item)
{
    recsys__err_clear();
    return item ? item->available != 0 : 0;
}

RECSYS_API int recsys_item_min_age(const recsys_item *item)
{
    recsys__err_clear();
    return item ? item->min_age : 0;
}

RECSYS_API recsys_status recsys_item_number(const recsys_item *item, const char *name,
                                            double *out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(item);
    RECSYS_CHECK_ARG(name);
    RECSYS_CHECK_ARG(out);
    const recsys__attr *a = recsys__item_attr(item, name);
    if (!a)
        return recsys__err(RECSYS_E_NOT_FOUND, "item '%s' has no attribute '%.256s'", item->id,
                           name);
    if (a->type != RECSYS__ATTR_NUM)
        return recsys__err(RECSYS_E_INVALID_ARG, "item '%s': attribute '%s' is a %s, not a number",
                           item->id, a->name, a->type == RECSYS__ATTR_STR ? "string" : "boolean");
    *out = a->num;
    return RECSYS_OK;
}
