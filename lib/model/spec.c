/* spec.c - the public item and user builders, and the event record helpers. Builders exist
 * before any engine, so they allocate with the default allocator; the engine copies what it
 * keeps into its own. */
#include "spec.h"
#include "../core/error.h"

struct recsys_item_spec {
    recsys_item *item;
};

struct recsys_user_spec {
    recsys__profile p;
};

#define MEM (&recsys__mem_default)

const recsys_item *recsys__item_spec_item(const recsys_item_spec *spec)
{
    return spec ? spec->item : NULL;
}

const recsys__profile *recsys__user_spec_profile(const recsys_user_spec *spec)
{
    return spec ? &spec->p : NULL;
}

/* Adds "<what> '<id>'" in front of the current message (the builder's id names it). */
static recsys_status with_id(recsys_status st, const char *what, const char *id)
{
    if (st != RECSYS_OK) {
        char prefix[RECSYS_ID_MAX_BYTES + 16];
        snprintf(prefix, sizeof prefix, "%s '%s'", what, id);
        recsys__err_prefix(prefix);
    }
    return st;
}

/* ---------------------------------------------------------------- items ---------------- */

RECSYS_API recsys_status recsys_item_spec_new(const char *item_id, recsys_item_spec **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    recsys_item *it;
    RECSYS_TRY(recsys__item_new(MEM, item_id, &it));
    recsys_item_spec *spec = recsys__alloc(MEM, sizeof *spec);
    if (!spec) {
        recsys__item_free(MEM, it);
        return RECSYS_E_NOMEM;
    }
    spec->item = it;
    *out = spec;
    return RECSYS_OK;
}

RECSYS_API void recsys_item_spec_free(recsys_item_spec *spec)
{
    recsys__err_clear();
    if (!spec)
        return;
    recsys__item_free(MEM, spec->item);
    recsys__free(MEM, spec);
}

RECSYS_API recsys_status recsys_item_spec_set_text(recsys_item_spec *spec, int32_t field,
                                                   const char *text)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(spec);
    return with_id(recsys__item_set_text(MEM, spec->item, field, text), "item", spec->item->id);
}

RECSYS_API recsys_status recsys_item_spec_add_tag(recsys_item_spec *spec, const char *tag)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(spec);
    return with_id(recsys__item_add_tag(MEM, spec->item, tag), "item", spec->item->id);
}

RECSYS_API recsys_status recsys_item_spec_add_region(recsys_item_spec *spec, const char *region)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(spec);
    return with_id(recsys__item_add_region(MEM, spec->item, region), "item", spec->item->id);
}

RECSYS_API recsys_status recsys_item_spec_set_flags(recsys_item_spec *spec, int available,
                                                    int min_age, int64_t created)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(spec);
    const char *id = spec->item->id;
    if (available != 0 && available != 1)
        return recsys__err(RECSYS_E_INVALID_ARG, "item '%s': available %d is not 0 or 1", id,
                           available);
    if (min_age < 0)
        return recsys__err(RECSYS_E_INVALID_ARG, "item '%s': min_age %d is below 0", id, min_age);
    if (min_age > RECSYS__AGE_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "item '%s': min_age %d is above %d", id, min_age,
                           RECSYS__AGE_MAX);
    spec->item->available = available;
    spec->item->min_age = min_age;
    spec->item->created = created;
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_item_spec_set_number(recsys_item_spec *spec, const char *name,
                                                     double value)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(spec);
    return with_id(recsys__item_set_attr(MEM, spec->item, name, RECSYS__ATTR_NUM, value, NULL),
                   "item", spec->item->id);
}

RECSYS_API recsys_status recsys_item_spec_set_string(recsys_item_spec *spec, const char *name,
                                                     const char *value)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(spec);
    return with_id(recsys__item_set_attr(MEM, spec->item, name, RECSYS__ATTR_STR, 0, value),
                   "item", spec->item->id);
}

RECSYS_API recsys_status recsys_item_spec_set_bool(recsys_item_spec *spec, const char *name,
                                                   int value)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(spec);
    return with_id(recsys__item_set_attr(MEM, spec->item, name, RECSYS__ATTR_BOOL,
                                         value ? 1 : 0, NULL),
                   "item", spec->item->id);
}

RECSYS_API recsys_status recsys_item_spec_set_embedding(recsys_item_spec *spec, const char *name,
                                                        const float *values, size_t dim)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(spec);
    return with_id(recsys__item_set_embedding(MEM, spec->item, name, values, dim), "item",
                   spec->item->id);
}

/* ---------------------------------------------------------------- users ---------------- */

RECSYS_API recsys_status recsys_user_spec_new(const char *user_id, recsys_user_spec **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    recsys_user_spec *spec = recsys__alloc(MEM, sizeof *spec);
    if (!spec)
        return RECSYS_E_NOMEM;
    recsys_status st = recsys__profile_init(MEM, &spec->p, user_id);
    if (st != RECSYS_OK) {
        recsys__profile_free(MEM, &spec->p);
        recsys__free(MEM, spec);
        return st;
    }
    *out = spec;
    return RECSYS_OK;
}

RECSYS_API void recsys_user_spec_free(recsys_user_spec *spec)
{
    recsys__err_clear();
    if (!spec)
        return;
    recsys__profile_free(MEM, &spec->p);
    recsys__free(MEM, spec);
}

RECSYS_API recsys_status recsys_user_spec_add_interest(recsys_user_spec *spec,
                                                       const char *interest)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(spec);
    return with_id(recsys__profile_add_interest(MEM, &spec->p, interest), "user", spec->p.id);
}

RECSYS_API recsys_status recsys_user_spec_set_demographics(recsys_user_spec *spec, int age,
                                                           const char *region)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(spec);
    return with_id(recsys__profile_set_demographics(MEM, &spec->p, age, region), "user",
                   spec->p.id);
}

RECSYS_API recsys_status recsys_user_spec_add_item(recsys_user_spec *spec, int32_t list,
                                                   const char *item_id)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(spec);
    return with_id(recsys__profile_add_item(MEM, &spec->p, list, item_id), "user", spec->p.id);
}

/* ---------------------------------------------------------------- events --------------- */

RECSYS_API void recsys_event_init(recsys_event *ev)
{
    recsys__err_clear();
    if (!ev)
        return;
    memset(ev, 0, sizeof *ev);
    ev->struct_size = (uint32_t)sizeof *ev;
    ev->position = -1;
}

RECSYS_API const char *recsys_event_type_name(int32_t type)
{
    recsys__err_clear();
    return recsys__event_name(type);
}
