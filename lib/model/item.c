/* item.c - catalog items: build, validate, clone, free. Items are immutable once they are in
 * a catalog; everything here runs on an item still under construction. */
#include "model.h"
#include "../core/error.h"
#include "../core/utf8.h"

/* Unset text fields share this empty string instead of allocating one each ("" when unset,
 * never NULL). It is never written to and never freed. */
static char empty_str[1];

static void str_free(const recsys__mem *m, char *s)
{
    if (s != empty_str)
        recsys__free(m, s);
}

/* Copies s, or returns the shared empty string for "". NULL on NOMEM. */
static char *str_copy(const recsys__mem *m, const char *s)
{
    return *s ? recsys__strdup(m, s) : empty_str;
}

static recsys_status check_nonempty(const char *s, size_t max, const char *what)
{
    RECSYS_TRY(recsys__check_text(s, max, what));
    if (!*s)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s is empty", what);
    return RECSYS_OK;
}

recsys_status recsys__item_new(const recsys__mem *m, const char *id, recsys_item **out)
{
    *out = NULL;
    RECSYS_TRY(check_nonempty(id, RECSYS_ID_MAX_BYTES, "item id"));
    recsys_item *it = recsys__calloc(m, 1, sizeof *it);
    if (!it)
        return RECSYS_E_NOMEM;
    it->id = recsys__strdup(m, id);
    if (!it->id) {
        recsys__free(m, it);
        return RECSYS_E_NOMEM;
    }
    it->idx = RECSYS_IDS_NONE;
    it->title = it->description = it->category = it->provider = empty_str;
    it->gen.summary = it->gen.model = empty_str;
    it->available = 1;
    it->category_facet = RECSYS_IDS_NONE;
    *out = it;
    return RECSYS_OK;
}

static void strv_free(const recsys__mem *m, char **v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        recsys__free(m, v[i]);
    recsys__free(m, v);
}

static void attrs_free(const recsys__mem *m, recsys__attr *a, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        recsys__free(m, a[i].name);
        recsys__free(m, a[i].str);
    }
    recsys__free(m, a);
}

void recsys__item_free(const recsys__mem *m, recsys_item *it)
{
    if (!it)
        return;
    recsys__free(m, it->id);
    str_free(m, it->title);
    str_free(m, it->description);
    str_free(m, it->category);
    str_free(m, it->provider);
    strv_free(m, it->tags, it->ntags);
    strv_free(m, it->regions, it->nregions);
    attrs_free(m, it->attrs, it->nattrs);
    for (uint32_t i = 0; i < it->nembs; i++) {
        recsys__free(m, it->embs[i].name);
        recsys__free(m, it->embs[i].v);
    }
    recsys__free(m, it->embs);
    strv_free(m, it->gen.tags, it->gen.ntags);
    str_free(m, it->gen.summary);
    attrs_free(m, it->gen.attrs, it->gen.nattrs);
    str_free(m, it->gen.model);
    recsys__free(m, it->tag_facets);
    recsys__free(m, it);
}

/* ---------------------------------------------------------------- clone ---------------- */

static recsys_status strv_clone(const recsys__mem *m, char **src, uint32_t n, char ***out)
{
    *out = NULL;
    if (!n)
        return RECSYS_OK;
    char **v = recsys__calloc(m, n, sizeof *v);
    if (!v)
        return RECSYS_E_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        v[i] = recsys__strdup(m, src[i]);
        if (!v[i]) {
            strv_free(m, v, i);
            return RECSYS_E_NOMEM;
        }
    }
    *out = v;
    return RECSYS_OK;
}

static recsys_status attrs_clone(const recsys__mem *m, const recsys__attr *src, uint32_t n,
                                 recsys__attr **out)
{
    *out = NULL;
    if (!n)
        return RECSYS_OK;
    recsys__attr *a = recsys__calloc(m, n, sizeof *a);
    if (!a)
        return RECSYS_E_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        a[i] = src[i];
        a[i].name = recsys__strdup(m, src[i].name);
        a[i].str = src[i].str ? recsys__strdup(m, src[i].str) : NULL;
        if (!a[i].name || (src[i].str && !a[i].str)) {
            attrs_free(m, a, i + 1);
            return RECSYS_E_NOMEM;
        }
    }
    *out = a;
    return RECSYS_OK;
}

static recsys_status clone_into(const recsys__mem *m, const recsys_item *src, recsys_item *it)
{
    /* it was zero-filled: every pointer that stays NULL is safe for recsys__item_free */
    it->id = recsys__strdup(m, src->id);
    it->title = str_copy(m, src->title);
    it->description = str_copy(m, src->description);
    it->category = str_copy(m, src->category);
    it->provider = str_copy(m, src->provider);
    it->gen.summary = str_copy(m, src->gen.summary);
    it->gen.model = str_copy(m, src->gen.model);
    if (!it->id || !it->title || !it->description || !it->category || !it->provider ||
        !it->gen.summary || !it->gen.model)
        return RECSYS_E_NOMEM;
    RECSYS_TRY(strv_clone(m, src->tags, src->ntags, &it->tags));
    it->ntags = src->ntags;
    RECSYS_TRY(strv_clone(m, src->regions, src->nregions, &it->regions));
    it->nregions = src->nregions;
    RECSYS_TRY(attrs_clone(m, src->attrs, src->nattrs, &it->attrs));
    it->nattrs = src->nattrs;
    RECSYS_TRY(strv_clone(m, src->gen.tags, src->gen.ntags, &it->gen.tags));
    it->gen.ntags = src->gen.ntags;
    RECSYS_TRY(attrs_clone(m, src->gen.attrs, src->gen.nattrs, &it->gen.attrs));
    it->gen.nattrs = src->gen.nattrs;
    if (src->nembs) {
        it->embs = recsys__calloc(m, src->nembs, sizeof *it->embs);
        if (!it->embs)
            return RECSYS_E_NOMEM;
        for (uint32_t i = 0; i < src->nembs; i++) {
            const recsys__embedding *e = &src->embs[i];
            it->nembs = i + 1;
            it->embs[i].dim = e->dim;
            it->embs[i].name = recsys__strdup(m, e->name);
            it->embs[i].v = recsys__memdup(m, e->v, (size_t)e->dim * sizeof *e->v);
            if (!it->embs[i].name || !it->embs[i].v)
                return RECSYS_E_NOMEM;
        }
    }
    if (src->tag_facets && src->ntags) {
        it->tag_facets = recsys__memdup(m, src->tag_facets, src->ntags * sizeof *src->tag_facets);
        if (!it->tag_facets)
            return RECSYS_E_NOMEM;
    }
    return RECSYS_OK;
}

recsys_status recsys__item_clone(const recsys__mem *m, const recsys_item *src, recsys_item **out)
{
    *out = NULL;
    recsys_item *it = recsys__calloc(m, 1, sizeof *it);
    if (!it)
        return RECSYS_E_NOMEM;
    it->idx = src->idx;
    it->available = src->available;
    it->min_age = src->min_age;
    it->created = src->created;
    it->category_facet = src->category_facet;
    recsys_status st = clone_into(m, src, it);
    if (st != RECSYS_OK) {
        recsys__item_free(m, it);
        return st;
    }
    *out = it;
    return RECSYS_OK;
}

/* ---------------------------------------------------------------- setters -------------- */

static const char *field_name(int32_t field)
{
    switch (field) {
    case RECSYS_FIELD_TITLE: return "title";
    case RECSYS_FIELD_DESCRIPTION: return "description";
    case RECSYS_FIELD_CATEGORY: return "category";
    case RECSYS_FIELD_PROVIDER: return "provider";
    }
    return NULL;
}

static char **field_slot(recsys_item *it, int32_t field)
{
    switch (field) {
    case RECSYS_FIELD_TITLE: return &it->title;
    case RECSYS_FIELD_DESCRIPTION: return &it->description;
    case RECSYS_FIELD_CATEGORY: return &it->category;
    case RECSYS_FIELD_PROVIDER: return &it->provider;
    }
    return NULL;
}

static recsys_status set_str(const recsys__mem *m, char **slot, const char *text)
{
    char *s = str_copy(m, text);
    if (!s)
        return RECSYS_E_NOMEM;
    str_free(m, *slot);
    *slot = s;
    return RECSYS_OK;
}

recsys_status recsys__item_set_text(const recsys__mem *m, recsys_item *it, int32_t field,
                                    const char *text)
{
    const char *what = field_name(field);
    if (!what)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "field %" PRId32 " is unknown (expected RECSYS_FIELD_TITLE, "
                           "_DESCRIPTION, _CATEGORY or _PROVIDER)", field);
    RECSYS_TRY(recsys__check_text(text, RECSYS__TEXT_MAX, what));
    return set_str(m, field_slot(it, field), text);
}

/* Appends a distinct string to a list (tags, regions); a repeat is kept once. */
static recsys_status strv_add(const recsys__mem *m, char ***v, uint32_t *n, const char *s,
                              const char *what)
{
    RECSYS_TRY(check_nonempty(s, RECSYS__TEXT_MAX, what));
    for (uint32_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], s) == 0)
            return RECSYS_OK;
    if (*n >= RECSYS__LIST_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "too many %ss (the limit is %d)", what,
                           RECSYS__LIST_MAX);
    char *d = recsys__strdup(m, s);
    if (!d)
        return RECSYS_E_NOMEM;
    char **nv = recsys__realloc_array(m, *v, (size_t)*n + 1, sizeof *nv);
    if (!nv) {
        recsys__free(m, d);
        return RECSYS_E_NOMEM;
    }
    nv[(*n)++] = d;
    *v = nv;
    return RECSYS_OK;
}

recsys_status recsys__item_add_tag(const recsys__mem *m, recsys_item *it, const char *tag)
{
    return strv_add(m, &it->tags, &it->ntags, tag, "tag");
}

recsys_status recsys__item_add_region(const recsys__mem *m, recsys_item *it, const char *region)
{
    return strv_add(m, &it->regions, &it->nregions, region, "region");
}

recsys_status recsys__item_add_gen_tag(const recsys__mem *m, recsys_item *it, const char *tag)
{
    return strv_add(m, &it->gen.tags, &it->gen.ntags, tag, "generated tag");
}

recsys_status recsys__item_set_gen_text(const recsys__mem *m, recsys_item *it, int which,
                                        const char *text)
{
    if (which != 0 && which != 1)
        return recsys__err(RECSYS_E_INTERNAL, "generated text %d is unknown", which);
    const char *what = which == 0 ? "generated summary" : "generated model";
    RECSYS_TRY(recsys__check_text(text, RECSYS__TEXT_MAX, what));
    return set_str(m, which == 0 ? &it->gen.summary : &it->gen.model, text);
}

/* Index of name in a sorted attribute array, or where it would be inserted (*found false). */
static uint32_t attr_search(const recsys__attr *a, uint32_t n, const char *name, bool *found)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(a[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static recsys_status attrs_set(const recsys__mem *m, recsys__attr **attrs, uint32_t *n,
                               const char *name, int32_t type, double num, const char *str)
{
    RECSYS_TRY(check_nonempty(name, RECSYS_ID_MAX_BYTES, "attribute name"));
    switch (type) {
    case RECSYS__ATTR_NUM:
        if (!isfinite(num))
            return recsys__err(RECSYS_E_INVALID_ARG, "attribute '%s': value is not finite",
                               name);
        num += 0.0; /* -0 becomes 0: one canonical zero */
        str = NULL;
        break;
    case RECSYS__ATTR_BOOL:
        num = num != 0 ? 1 : 0;
        str = NULL;
        break;
    case RECSYS__ATTR_STR: {
        char what[RECSYS_ID_MAX_BYTES + 32];
        snprintf(what, sizeof what, "attribute '%s': value", name);
        RECSYS_TRY(recsys__check_text(str, RECSYS__TEXT_MAX, what));
        num = 0;
        break;
    }
    default:
        return recsys__err(RECSYS_E_INVALID_ARG, "attribute '%s': type %" PRId32 " is unknown",
                           name, type);
    }
    bool found;
    uint32_t pos = attr_search(*attrs, *n, name, &found);
    char *s = NULL;
    if (str && !(s = recsys__strdup(m, str)))
        return RECSYS_E_NOMEM;
    if (found) {
        recsys__attr *a = &(*attrs)[pos];
        recsys__free(m, a->str);
        a->type = type;
        a->num = num;
        a->str = s;
        return RECSYS_OK;
    }
    if (*n >= RECSYS__LIST_MAX) {
        recsys__free(m, s);
        return recsys__err(RECSYS_E_INVALID_ARG, "too many attributes (the limit is %d)",
                           RECSYS__LIST_MAX);
    }
    char *nm = recsys__strdup(m, name);
    recsys__attr *na = nm ? recsys__realloc_array(m, *attrs, (size_t)*n + 1, sizeof *na) : NULL;
    if (!na) {
        recsys__free(m, nm);
        recsys__free(m, s);
        return RECSYS_E_NOMEM;
    }
    memmove(&na[pos + 1], &na[pos], (*n - pos) * sizeof *na);
    na[pos].name = nm;
    na[pos].type = type;
    na[pos].num = num;
    na[pos].str = s;
    *attrs = na;
    (*n)++;
    return RECSYS_OK;
}

recsys_status recsys__item_set_attr(const recsys__mem *m, recsys_item *it, const char *name,
                                    int32_t type, double num, const char *str)
{
    return attrs_set(m, &it->attrs, &it->nattrs, name, type, num, str);
}

recsys_status recsys__item_set_gen_attr(const recsys__mem *m, recsys_item *it, const char *name,
                                        int32_t type, double num, const char *str)
{
    return attrs_set(m, &it->gen.attrs, &it->gen.nattrs, name, type, num, str);
}

recsys_status recsys__item_set_embedding(const recsys__mem *m, recsys_item *it, const char *name,
                                         const float *v, size_t dim)
{
    RECSYS_TRY(check_nonempty(name, RECSYS_ID_MAX_BYTES, "embedding name"));
    if (dim < 1 || dim > RECSYS__DIM_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "embedding '%s': dim %zu is outside 1..%d", name,
                           dim, RECSYS__DIM_MAX);
    if (!v)
        return recsys__err(RECSYS_E_INVALID_ARG, "embedding '%s': values are NULL", name);
    for (size_t i = 0; i < dim; i++)
        if (!isfinite(v[i]))
            return recsys__err(RECSYS_E_INVALID_ARG, "embedding '%s': value %zu is not finite",
                               name, i);
    float *copy = recsys__alloc(m, dim * sizeof *v);
    if (!copy)
        return RECSYS_E_NOMEM;
    for (size_t i = 0; i < dim; i++)
        copy[i] = v[i] + 0.0f; /* -0 becomes 0: one canonical zero */
    for (uint32_t i = 0; i < it->nembs; i++)
        if (strcmp(it->embs[i].name, name) == 0) {
            recsys__free(m, it->embs[i].v);
            it->embs[i].v = copy;
            it->embs[i].dim = (uint32_t)dim;
            return RECSYS_OK;
        }
    if (it->nembs >= RECSYS__LIST_MAX) {
        recsys__free(m, copy);
        return recsys__err(RECSYS_E_INVALID_ARG, "too many embeddings (the limit is %d)",
                           RECSYS__LIST_MAX);
    }
    char *nm = recsys__strdup(m, name);
    recsys__embedding *ne =
        nm ? recsys__realloc_array(m, it->embs, (size_t)it->nembs + 1, sizeof *ne) : NULL;
    if (!ne) {
        recsys__free(m, nm);
        recsys__free(m, copy);
        return RECSYS_E_NOMEM;
    }
    ne[it->nembs].name = nm;
    ne[it->nembs].dim = (uint32_t)dim;
    ne[it->nembs].v = copy;
    it->embs = ne;
    it->nembs++;
    return RECSYS_OK;
}

/* ---------------------------------------------------------------- lookups -------------- */

const recsys__attr *recsys__item_attr(const recsys_item *it, const char *name)
{
    if (!it || !name)
        return NULL;
    bool found;
    uint32_t pos = attr_search(it->attrs, it->nattrs, name, &found);
    return found ? &it->attrs[pos] : NULL;
}

const recsys__embedding *recsys__item_embedding(const recsys_item *it, const char *name)
{
    if (!it || !name)
        return NULL;
    for (uint32_t i = 0; i < it->nembs; i++)
        if (strcmp(it->embs[i].name, name) == 0)
            return &it->embs[i];
    return NULL;
}

bool recsys__item_has_tag(const recsys_item *it, const char *tag)
{
    if (!it || !tag)
        return false;
    for (uint32_t i = 0; i < it->ntags; i++)
        if (strcmp(it->tags[i], tag) == 0)
            return true;
    return false;
}
