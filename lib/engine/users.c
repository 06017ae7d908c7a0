/* users.c - recsys_user_*: profile upserts (all or nothing per call), reads, and forgetting. */
#include "engine.h"
#include "blobs.h"
#include "../core/utf8.h"
#include "../model/spec.h"
#include <xxhash.h>


typedef struct undo {
    char *old_json;       /* the profile stored before, or NULL when there was none */
    size_t old_len;
    bool existed;         /* the user existed (maybe without a profile) */
} undo;

/* Restores a user's explicit profile from its stored JSON (memory undo path). */
static void restore_profile(recsys_engine *e, const char *user_id, const undo *u)
{
    recsys__user *usr = recsys__users_find(&e->model.users, user_id);
    if (!usr)
        return;
    if (!u->existed) {
        recsys__users_undo_add(&e->model.users, usr);
        return;
    }
    if (u->old_json) {
        recsys__profiles_vec v = { 0 };
        if (recsys__json_parse_profiles(&e->mem, u->old_json, u->old_len, SIZE_MAX, &v) == RECSYS_OK &&
            v.n == 1) {
            /* the old profile may name items removed since: they cannot come back */
            recsys__engine_prune_profile(&e->mem, &e->model.catalog, &v.v[0]);
            (void)recsys__users_apply_profile(&e->model.users, &e->model.catalog, &v.v[0]);
        }
        recsys__profiles_vec_free(&e->mem, &v);
    } else {
        recsys__profile empty;
        memset(&empty, 0, sizeof empty);
        empty.id = (char *)user_id;
        empty.age = -1;
        (void)recsys__users_apply_profile(&e->model.users, &e->model.catalog, &empty);
        usr->has_profile = false;
    }
}

static recsys_status put_profiles(recsys_engine *e, const recsys__profile *p, size_t n)
{
    const recsys__mem *m = &e->mem;
    undo *u = recsys__calloc(m, n ? n : 1, sizeof *u);
    if (!u)
        return RECSYS_E_NOMEM;
    recsys_status st = RECSYS_OK;
    size_t applied = 0, stored = 0;
    recsys__wr(e);
    for (; applied < n; applied++) {
        recsys__user *usr = recsys__users_find(&e->model.users, p[applied].id);
        u[applied].existed = usr != NULL;
        if (usr && usr->has_profile) {
            st = recsys__json_profile(m, &e->model, usr, false, &u[applied].old_json,
                                      &u[applied].old_len);
            if (st != RECSYS_OK)
                break;
        }
        st = recsys__users_apply_profile(&e->model.users, &e->model.catalog, &p[applied]);
        if (st != RECSYS_OK)
            break;
    }
    for (; st == RECSYS_OK && stored < n; stored++) {
        char *js = NULL;
        size_t jl = 0;
        recsys__user *usr = recsys__users_find(&e->model.users, p[stored].id);
        st = recsys__json_profile(m, &e->model, usr, false, &js, &jl);
        if (st == RECSYS_OK)
            st = recsys__engine_store_put(e, RECSYS_RECORD_USER, p[stored].id, js, jl);
        recsys__free(m, js);
        if (st != RECSYS_OK)
            break;
    }
    if (st != RECSYS_OK) {
        recsys__err_saved s;
        recsys__err_save(&s);
        while (stored-- > 0) {
            if (u[stored].old_json)
                (void)recsys__engine_store_put(e, RECSYS_RECORD_USER, p[stored].id, u[stored].old_json,
                                        u[stored].old_len);
            else
                (void)recsys__engine_store_remove(e, RECSYS_RECORD_USER, p[stored].id);
        }
        while (applied-- > 0)
            restore_profile(e, p[applied].id, &u[applied]);
        recsys__err_restore(&s);
    }
    recsys__unlock(e);
    for (size_t i = 0; i < n; i++)
        recsys__free(m, u[i].old_json);
    recsys__free(m, u);
    return st;
}

RECSYS_API recsys_status recsys_user_upsert(recsys_engine *e, const recsys_user_spec *spec)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(spec);
    return put_profiles(e, recsys__user_spec_profile(spec), 1);
}

RECSYS_API recsys_status recsys_user_upsert_json(recsys_engine *e, const char *json, size_t len)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(json);
    recsys__profiles_vec v = { 0 };
    recsys_status st =
        recsys__json_parse_profiles(&e->mem, json, len, recsys__engine_json_limit(e), &v);
    if (st == RECSYS_OK)
        st = put_profiles(e, v.v, v.n);
    recsys__profiles_vec_free(&e->mem, &v);
    return st;
}

RECSYS_API recsys_status recsys_user_get_json(recsys_engine *e, const char *user_id, char **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    RECSYS_TRY(recsys__check_text(user_id, RECSYS_ID_MAX_BYTES, "user_id"));
    recsys__rd(e);
    recsys_status st;
    const recsys__user *usr = recsys__users_find(&e->model.users, user_id);
    if (!usr) {
        st = recsys__err(RECSYS_E_NOT_FOUND, "user '%.200s' is unknown", user_id);
    } else {
        size_t len;
        st = recsys__json_user_view(&e->mem, &e->model, usr, recsys__engine_now(e, e->opts.num),
                                    out, &len);
    }
    recsys__unlock(e);
    return st;
}

bool recsys__engine_forgotten_since(const recsys_engine *e, uint64_t since, const char *user_id)
{
    if (e->forget_epoch == since)
        return false;
    if (e->forget_epoch - since > RECSYS__FORGOT_RING)
        return true; /* cannot tell: taken as forgotten */
    uint64_t h = XXH3_64bits(user_id, strlen(user_id));
    for (uint64_t k = since; k < e->forget_epoch; k++)
        if (e->forgot[k % RECSYS__FORGOT_RING] == h)
            return true;
    return false;
}

RECSYS_API recsys_status recsys_user_forget(recsys_engine *e, const char *user_id)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    RECSYS_TRY(recsys__check_text(user_id, RECSYS_ID_MAX_BYTES, "user_id"));
    recsys__wr(e);
    recsys_status st = RECSYS_OK;
    if (!recsys__users_find(&e->model.users, user_id))
        st = recsys__err(RECSYS_E_NOT_FOUND, "user '%.200s' is unknown", user_id);
    /* 1. Rebuild the item counters aside from everything the store holds except the user's
     *    events (memory holds only a bounded history, the store holds all of it). */
    recsys__counters c;
    memset(&c, 0, sizeof c);
    uint64_t impressions = 0;
    if (st == RECSYS_OK)
        st = recsys__engine_recount(e, user_id, &c, &impressions);
    /* 1b. Saved state learnt from everyone's events (the vector index over iALS factors)
     *     goes first: losing it only costs a rebuild, so a failure here changes nothing. */
    if (st == RECSYS_OK)
        st = recsys__engine_forget_blobs(e);
    /* 2. The store forgets (it compacts so no file keeps a trace). */
    if (st == RECSYS_OK) {
        pthread_mutex_lock(&e->store_mu);
        st = e->store.forget_user(e->store.ctx, user_id);
        pthread_mutex_unlock(&e->store_mu);
        if (st != RECSYS_OK)
            st = recsys__plugin_failed(st, "store", "forget_user");
    }
    /* 3. Memory follows; nothing here can fail. */
    if (st == RECSYS_OK) {
        st = recsys__model_forget_user(&e->model, user_id);
        recsys__counters_swap(&e->model, &c);
        /* models learnt from the user's events go too (they serve again after the next
         * refresh), and a refresh already under way is not published */
        recsys__engine_drop_personal(e);
        e->forgot[e->forget_epoch % RECSYS__FORGOT_RING] =
            XXH3_64bits(user_id, strlen(user_id));
        e->forget_epoch++;
        atomic_store(&e->impressions, impressions);
    }
    recsys__unlock(e);
    recsys__counters_free(&e->mem, &c);
    return st;
}
