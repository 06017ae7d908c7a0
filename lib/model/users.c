/* users.c - users by dense index, profiles under construction, and applying a profile. */
#include "model.h"
#include "../core/error.h"
#include "../core/utf8.h"

static const char *const list_names[4] = { NULL, "recent_views", "purchased_items",
                                           "negative_feedback" };

void recsys__users_init(recsys__users *u, const recsys__mem *m)
{
    memset(u, 0, sizeof *u);
    u->mem = m;
    recsys__ids_init(&u->ids, m);
}

bool recsys__user_in_list(const recsys__user *u, int list, uint32_t item)
{
    for (uint32_t j = 0; j < u->nlists[list]; j++)
        if (u->lists[list][j] == item)
            return true;
    return false;
}

void recsys__user_free(const recsys__mem *m, recsys__user *usr)
{
    if (!usr)
        return;
    /* usr->id is the interned name (owned by the users' id table), not freed here */
    for (uint32_t i = 0; i < usr->ninterests; i++)
        recsys__free(m, usr->interests[i]);
    recsys__free(m, usr->interests);
    recsys__free(m, usr->region);
    for (int l = 0; l < 4; l++)
        recsys__free(m, usr->lists[l]);
    for (size_t i = 0; i < usr->nhist; i++)
        recsys__free(m, usr->hist[i].query);
    recsys__free(m, usr->hist);
    recsys__free(m, usr->aff);
    recsys__free(m, usr);
}

void recsys__users_free(recsys__users *u)
{
    if (!u->mem)
        return;
    for (size_t i = 0; i < u->ids.n; i++)
        recsys__user_free(u->mem, u->users[i]);
    recsys__free(u->mem, u->users);
    recsys__ids_free(&u->ids);
    memset(u, 0, sizeof *u);
}

recsys__user *recsys__users_find(const recsys__users *u, const char *id)
{
    if (!id)
        return NULL;
    uint32_t idx = recsys__ids_find(&u->ids, id, strlen(id));
    return idx == RECSYS_IDS_NONE ? NULL : u->users[idx];
}

recsys_status recsys__users_get_or_add(recsys__users *u, const char *id, recsys__user **out,
                                       bool *created)
{
    *out = NULL;
    *created = false;
    uint32_t idx;
    bool added = false;
    RECSYS_TRY(recsys__ids_intern(&u->ids, id, strlen(id), &idx, &added));
    if (!added && u->users[idx]) {
        *out = u->users[idx];
        return RECSYS_OK;
    }
    recsys__user *usr = NULL;
    if (u->ids.n > u->cap) {
        size_t cap = u->cap;
        if (RECSYS_GROW(u->mem, u->users, cap, u->ids.n) != RECSYS_OK)
            goto nomem;
        for (size_t i = u->cap; i < cap; i++)
            u->users[i] = NULL;
        u->cap = cap;
    }
    if (!(usr = recsys__calloc(u->mem, 1, sizeof *usr)))
        goto nomem;
    usr->id = (char *)recsys__ids_name(&u->ids, idx);
    usr->idx = idx;
    usr->age = -1;
    u->users[idx] = usr;
    u->live++;
    *out = usr;
    *created = true;
    return RECSYS_OK;
nomem:
    if (added)
        recsys__ids_pop(&u->ids);
    return RECSYS_E_NOMEM;
}

void recsys__users_undo_add(recsys__users *u, recsys__user *usr)
{
    if (!usr)
        return;
    uint32_t idx = usr->idx;
    u->users[idx] = NULL;
    u->live--;
    recsys__user_free(u->mem, usr);
    if (idx + 1 == u->ids.n)
        recsys__ids_pop(&u->ids);
    else
        recsys__ids_release(&u->ids, idx);
}

/* ---------------------------------------------------------------- profiles ------------- */

static recsys_status check_nonempty(const char *s, size_t max, const char *what)
{
    RECSYS_TRY(recsys__check_text(s, max, what));
    if (!*s)
        return recsys__err(RECSYS_E_INVALID_ARG, "%s is empty", what);
    return RECSYS_OK;
}

void recsys__profile_free(const recsys__mem *m, recsys__profile *p)
{
    if (!p)
        return;
    recsys__free(m, p->id);
    for (uint32_t i = 0; i < p->ninterests; i++)
        recsys__free(m, p->interests[i]);
    recsys__free(m, p->interests);
    recsys__free(m, p->region);
    for (int l = 0; l < 4; l++) {
        for (uint32_t i = 0; i < p->nlist_ids[l]; i++)
            recsys__free(m, p->list_ids[l][i]);
        recsys__free(m, p->list_ids[l]);
    }
    memset(p, 0, sizeof *p);
    p->age = -1;
}

recsys_status recsys__profile_init(const recsys__mem *m, recsys__profile *p, const char *id)
{
    memset(p, 0, sizeof *p);
    p->age = -1;
    RECSYS_TRY(check_nonempty(id, RECSYS_ID_MAX_BYTES, "user id"));
    p->id = recsys__strdup(m, id);
    return p->id ? RECSYS_OK : RECSYS_E_NOMEM;
}

/* Appends a copy of s to (*v, *n). */
static recsys_status strv_push(const recsys__mem *m, char ***v, uint32_t *n, const char *s)
{
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

recsys_status recsys__profile_add_interest(const recsys__mem *m, recsys__profile *p,
                                           const char *interest)
{
    RECSYS_TRY(check_nonempty(interest, RECSYS__TEXT_MAX, "interest"));
    for (uint32_t i = 0; i < p->ninterests; i++)
        if (strcmp(p->interests[i], interest) == 0)
            return RECSYS_OK;
    if (p->ninterests >= RECSYS__LIST_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "too many interests (the limit is %d)",
                           RECSYS__LIST_MAX);
    return strv_push(m, &p->interests, &p->ninterests, interest);
}

recsys_status recsys__profile_set_demographics(const recsys__mem *m, recsys__profile *p, int age,
                                               const char *region)
{
    if (age < -1)
        return recsys__err(RECSYS_E_INVALID_ARG, "age %d is below -1 (-1 = unknown)", age);
    if (age > RECSYS__AGE_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "age %d is above %d", age, RECSYS__AGE_MAX);
    char *r = NULL;
    if (region) {
        RECSYS_TRY(check_nonempty(region, RECSYS__TEXT_MAX, "region"));
        if (!(r = recsys__strdup(m, region)))
            return RECSYS_E_NOMEM;
    }
    recsys__free(m, p->region);
    p->region = r;
    p->age = age;
    return RECSYS_OK;
}

recsys_status recsys__profile_add_item(const recsys__mem *m, recsys__profile *p, int32_t list,
                                       const char *item_id)
{
    if (list < RECSYS_LIST_RECENT_VIEWS || list > RECSYS_LIST_NEGATIVE)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "list %" PRId32 " is unknown (expected RECSYS_LIST_RECENT_VIEWS, "
                           "_PURCHASED or _NEGATIVE)", list);
    char what[64];
    snprintf(what, sizeof what, "%s item id", list_names[list]);
    RECSYS_TRY(check_nonempty(item_id, RECSYS_ID_MAX_BYTES, what));
    if (p->nlist_ids[list] >= RECSYS__PROFILE_ITEMS_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "too many %s (the limit is %d)",
                           list_names[list], RECSYS__PROFILE_ITEMS_MAX);
    return strv_push(m, &p->list_ids[list], &p->nlist_ids[list], item_id);
}

/* ---------------------------------------------------------------- apply ---------------- */

/* The new explicit fields of a user, built before anything changes. */
typedef struct staged {
    char **interests;
    uint32_t ninterests;
    char *region;
    uint32_t *lists[4];
    uint32_t nlists[4];
} staged;

static void staged_free(const recsys__mem *m, staged *s)
{
    for (uint32_t i = 0; i < s->ninterests; i++)
        recsys__free(m, s->interests[i]);
    recsys__free(m, s->interests);
    recsys__free(m, s->region);
    for (int l = 0; l < 4; l++)
        recsys__free(m, s->lists[l]);
}

static recsys_status stage(recsys__users *u, const recsys__catalog *c, const recsys__profile *p,
                           staged *s)
{
    const recsys__mem *m = u->mem;
    for (int l = RECSYS_LIST_RECENT_VIEWS; l <= RECSYS_LIST_NEGATIVE; l++) {
        uint32_t n = p->nlist_ids[l];
        if (!n)
            continue;
        /* resolve first: an unknown item is the likelier failure and costs nothing */
        for (uint32_t i = 0; i < n; i++)
            if (recsys__catalog_find(c, p->list_ids[l][i]) == RECSYS_IDS_NONE)
                return recsys__err(RECSYS_E_NOT_FOUND,
                                   "user '%s': %s item '%s' is not in the catalog", p->id,
                                   list_names[l], p->list_ids[l][i]);
        if (!(s->lists[l] = recsys__calloc(m, n, sizeof *s->lists[l])))
            return RECSYS_E_NOMEM;
        for (uint32_t i = 0; i < n; i++)
            s->lists[l][i] = recsys__catalog_find(c, p->list_ids[l][i]);
        s->nlists[l] = n;
    }
    if (p->ninterests) {
        if (!(s->interests = recsys__calloc(m, p->ninterests, sizeof *s->interests)))
            return RECSYS_E_NOMEM;
        for (uint32_t i = 0; i < p->ninterests; i++) {
            if (!(s->interests[i] = recsys__strdup(m, p->interests[i])))
                return RECSYS_E_NOMEM;
            s->ninterests = i + 1;
        }
    }
    if (p->region && !(s->region = recsys__strdup(m, p->region)))
        return RECSYS_E_NOMEM;
    return RECSYS_OK;
}

recsys_status recsys__users_apply_profile(recsys__users *u, const recsys__catalog *c,
                                          const recsys__profile *p)
{
    if (!p->id)
        return recsys__err(RECSYS_E_INVALID_ARG, "profile has no user id");
    staged s;
    memset(&s, 0, sizeof s);
    recsys__user *usr = NULL;
    bool created = false;
    recsys_status st = stage(u, c, p, &s);
    if (st == RECSYS_OK)
        st = recsys__users_get_or_add(u, p->id, &usr, &created);
    if (st != RECSYS_OK) {
        staged_free(u->mem, &s);
        return st;
    }
    /* commit: swap the staged fields in, free the old ones */
    staged old;
    memset(&old, 0, sizeof old);
    old.interests = usr->interests;
    old.ninterests = usr->ninterests;
    old.region = usr->region;
    usr->interests = s.interests;
    usr->ninterests = s.ninterests;
    usr->region = s.region;
    for (int l = 0; l < 4; l++) {
        old.lists[l] = usr->lists[l];
        usr->lists[l] = s.lists[l];
        usr->nlists[l] = s.nlists[l];
    }
    usr->age = p->age;
    usr->has_profile = true;
    staged_free(u->mem, &old);
    return RECSYS_OK;
}
