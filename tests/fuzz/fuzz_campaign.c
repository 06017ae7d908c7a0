/* fuzz_campaign.c - libFuzzer target: the input goes to the campaign JSON parser. A failure
 * must be RECSYS_E_INVALID_ARG with a message. What parses is serialised, parsed again and
 * must serialise to the same text and hold the same fields; it is resolved against a small
 * catalog (leniently, then strictly), put into a table twice (insert, then replace), checked
 * for activity, and freed. Never crashes, never leaks (ASan), and aborts on a broken round
 * trip. */
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

static bool same(const recsys__campaign *a, const recsys__campaign *b)
{
    if (strcmp(a->id, b->id) || a->nitems != b->nitems || a->boost != b->boost ||
        a->start != b->start || a->end != b->end)
        return false;
    for (uint32_t i = 0; i < a->nitems; i++)
        if (strcmp(a->item_ids[i], b->item_ids[i]))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    recsys__err_clear();
    recsys__campaign *cp = NULL;
    recsys_status st = recsys__json_parse_campaign(M, (const char *)data, size, MAX_LEN, &cp);
    if (st != RECSYS_OK) {
        check(st == RECSYS_E_INVALID_ARG && cp == NULL && recsys_last_error()[0]);
        return 0;
    }
    check(cp && cp->nitems >= 1 && cp->boost > 0 && cp->start >= 0 && cp->end >= 0);

    /* round trip: json(cp) parses to the same campaign, whose json is the same text */
    char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    check(recsys__json_campaign(M, cp, &a, &alen) == RECSYS_OK);
    recsys__campaign *again = NULL;
    check(recsys__json_parse_campaign(M, a, alen, MAX_LEN, &again) == RECSYS_OK);
    check(same(cp, again));
    check(recsys__json_campaign(M, again, &b, &blen) == RECSYS_OK);
    check(alen == blen && memcmp(a, b, alen) == 0);
    recsys__free(M, a);
    recsys__free(M, b);

    /* a small catalog to resolve against */
    recsys__model model;
    recsys__model_init(&model, M);
    static const char *const base = "[{\"item_id\":\"i1\"},{\"item_id\":\"i2\"},{\"item_id\":\"a\"}]";
    recsys__items_vec iv;
    check(recsys__json_parse_items(M, base, strlen(base), MAX_LEN, &iv) == RECSYS_OK);
    for (size_t i = 0; i < iv.n; i++) {
        recsys_item *old = NULL;
        check(recsys__catalog_put(&model.catalog, iv.v[i], &old) == RECSYS_OK);
    }
    iv.n = 0;
    recsys__items_vec_free(M, &iv);

    check(recsys__campaign_resolve(cp, &model.catalog, false) == RECSYS_OK);
    bool all_known = true;
    for (uint32_t i = 0; i < cp->nitems; i++) {
        if (cp->items[i] == RECSYS_IDS_NONE)
            all_known = false;
        else
            check(strcmp(recsys__catalog_get(&model.catalog, cp->items[i])->id,
                         cp->item_ids[i]) == 0);
    }
    st = recsys__campaign_resolve(again, &model.catalog, true);
    check(all_known ? st == RECSYS_OK : st == RECSYS_E_NOT_FOUND);

    /* into a table, then replaced by its copy */
    recsys__campaigns t = { 0 };
    recsys__campaign *old = NULL;
    check(recsys__campaigns_reserve(M, &t) == RECSYS_OK);
    recsys__campaigns_put(&t, cp, &old);
    check(old == NULL && t.n == 1);
    check(recsys__campaigns_reserve(M, &t) == RECSYS_OK);
    recsys__campaigns_put(&t, again, &old);
    check(old == cp && t.n == 1 && recsys__campaigns_find(&t, cp->id) == 0);
    recsys__campaign_free(M, old);
    bool open_start = again->start == 0, open_end = again->end == 0;
    check(recsys__campaign_active(again, again->start) == (open_end || again->end > again->start));
    if (!open_start)
        check(!recsys__campaign_active(again, again->start - 1));
    if (!open_end)
        check(!recsys__campaign_active(again, again->end));
    recsys__campaigns_free(M, &t);
    recsys__model_free(&model);
    return 0;
}
