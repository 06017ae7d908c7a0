/* fuzz_json.c - libFuzzer target: the input goes to all three JSON parsers (items, profiles,
 * events). What parses is used: items are serialised, parsed again and must serialise to the
 * same text, then go into a catalog; profiles are applied and their JSON must parse again;
 * events are checked, applied and replayed; every user is serialised. Never crashes, never
 * leaks (ASan), and aborts on a broken round trip. */
#include "recsys.h"
#include "core/error.h"
#include "model/model.h"

#define MAX_LEN (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const recsys__mem *M = &recsys__mem_default;

static void check(bool ok)
{
    if (!ok)
        abort();
}

/* json(it) must parse to an item whose json is the same text. */
static void round_trip(const recsys_item *it)
{
    char *a, *b;
    size_t alen, blen;
    check(recsys__json_item(M, it, false, &a, &alen) == RECSYS_OK);
    recsys__items_vec v;
    check(recsys__json_parse_items(M, a, alen, MAX_LEN, &v) == RECSYS_OK && v.n == 1);
    check(recsys__json_item(M, v.v[0], true, &b, &blen) == RECSYS_OK);
    check(alen == blen && memcmp(a, b, alen) == 0);
    recsys__items_vec_free(M, &v);
    recsys__free(M, a);
    recsys_string_free(b);
}

static void user_json(const recsys__model *model, const recsys__user *u)
{
    char *s;
    size_t len;
    check(recsys__json_profile(M, model, u, false, &s, &len) == RECSYS_OK);
    recsys__profiles_vec v;
    check(recsys__json_parse_profiles(M, s, len, MAX_LEN, &v) == RECSYS_OK && v.n == 1);
    recsys__profiles_vec_free(M, &v);
    recsys__free(M, s);
    check(recsys__json_user_view(M, model, u, 1700000000, &s, &len) == RECSYS_OK);
    check(recsys__json_parse_profiles(M, s, len, MAX_LEN, &v) == RECSYS_OK && v.n == 1);
    recsys__profiles_vec_free(M, &v);
    recsys_string_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data;
    recsys__model model;
    recsys__model_init(&model, M);
    model.history_max = 4;

    /* a small fixed catalog, so that events and profiles can name items */
    static const char *const base = "[{\"item_id\":\"i1\",\"category\":\"c\",\"tags\":[\"t\"]},"
                                    "{\"item_id\":\"i2\"},{\"item_id\":\"a\"}]";
    recsys__items_vec iv;
    check(recsys__json_parse_items(M, base, strlen(base), MAX_LEN, &iv) == RECSYS_OK);
    for (size_t i = 0; i < iv.n; i++) {
        recsys_item *old;
        check(recsys__catalog_put(&model.catalog, iv.v[i], &old) == RECSYS_OK);
    }
    iv.n = 0;
    recsys__items_vec_free(M, &iv);

    if (recsys__json_parse_items(M, json, size, MAX_LEN, &iv) == RECSYS_OK) {
        for (size_t i = 0; i < iv.n; i++) {
            round_trip(iv.v[i]);
            recsys_item *old = NULL;
            if (recsys__catalog_put(&model.catalog, iv.v[i], &old) == RECSYS_OK) {
                recsys__item_free(M, old);
                iv.v[i] = NULL;
            }
        }
        for (size_t i = 0; i < iv.n; i++)
            recsys__item_free(M, iv.v[i]);
        iv.n = 0;
        recsys__items_vec_free(M, &iv);
    }

    recsys__profiles_vec pv;
    if (recsys__json_parse_profiles(M, json, size, MAX_LEN, &pv) == RECSYS_OK) {
        for (size_t i = 0; i < pv.n; i++)
            if (recsys__users_apply_profile(&model.users, &model.catalog, &pv.v[i]) ==
                RECSYS_OK)
                user_json(&model, recsys__users_find(&model.users, pv.v[i].id));
        recsys__profiles_vec_free(M, &pv);
    }

    recsys__events_vec ev;
    if (recsys__json_parse_events(M, json, size, MAX_LEN, &ev) == RECSYS_OK) {
        for (size_t i = 0; i < ev.n; i++) {
            recsys_event copy;
            if (recsys__model_check_event(&model, &ev.v[i], &copy) != RECSYS_OK)
                continue;
            if (!copy.timestamp)
                copy.timestamp = 1700000000;
            check(recsys__model_apply_event(&model, &copy) == RECSYS_OK);
            check(recsys__model_replay_event(&model, &copy) == RECSYS_OK);
            recsys__model_count_event(&model, &copy);
            user_json(&model, recsys__users_find(&model.users, copy.user_id));
        }
        if (ev.n)
            check(recsys__model_forget_user(&model, ev.v[0].user_id) != RECSYS_E_INTERNAL);
        recsys__events_vec_free(M, &ev);
    }
    recsys__model_free(&model);
    return 0;
}
