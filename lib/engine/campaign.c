/* campaign.c - recsys_campaign_*: campaign upserts and removal (store first, then memory, all
 * or nothing per call), and loading the stored campaigns when an engine opens. The table
 * itself is the model's (lib/model/campaigns.h); the "campaign" source reads it. */
#include "engine.h"
#include "../core/utf8.h"

/* Puts cp (which the table owns on success) into the store and the table. */
static recsys_status put_campaign(recsys_engine *e, recsys__campaign *cp)
{
    const recsys__mem *m = &e->mem;
    char *json = NULL;
    size_t len = 0;
    RECSYS_TRY(recsys__json_campaign(m, cp, &json, &len));
    recsys__campaign *old = NULL;
    recsys__wr(e);
    /* the catalog can change until the write lock is held: resolve under it */
    recsys_status st = recsys__campaign_resolve(cp, &e->model.catalog, true);
    if (st == RECSYS_OK && recsys__campaigns_find(&e->model.campaigns, cp->id) == SIZE_MAX)
        st = recsys__campaigns_reserve(m, &e->model.campaigns); /* a new id needs a slot */
    if (st == RECSYS_OK)
        st = recsys__engine_store_put(e, RECSYS_RECORD_CAMPAIGN, cp->id, json, len);
    if (st == RECSYS_OK)
        recsys__campaigns_put(&e->model.campaigns, cp, &old); /* cannot fail: room reserved */
    recsys__unlock(e);
    recsys__campaign_free(m, old);
    recsys__free(m, json);
    return st;
}

RECSYS_API recsys_status recsys_campaign_upsert(recsys_engine *engine, const char *campaign_id,
                                                const char *const *item_ids, size_t n,
                                                double boost, int64_t start, int64_t end)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(engine);
    recsys__campaign *cp = NULL;
    RECSYS_TRY(recsys__campaign_new(&engine->mem, campaign_id, item_ids, n, boost, start, end,
                                    &cp));
    recsys_status st = put_campaign(engine, cp);
    if (st != RECSYS_OK)
        recsys__campaign_free(&engine->mem, cp);
    return st;
}

RECSYS_API recsys_status recsys_campaign_upsert_json(recsys_engine *engine, const char *json,
                                                     size_t len)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(engine);
    RECSYS_CHECK_ARG(json);
    recsys__campaign *cp = NULL;
    RECSYS_TRY(recsys__json_parse_campaign(&engine->mem, json, len,
                                           recsys__engine_json_limit(engine), &cp));
    recsys_status st = put_campaign(engine, cp);
    if (st != RECSYS_OK)
        recsys__campaign_free(&engine->mem, cp);
    return st;
}

RECSYS_API recsys_status recsys_campaign_remove(recsys_engine *engine, const char *campaign_id)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(engine);
    RECSYS_TRY(recsys__check_text(campaign_id, RECSYS__CAMPAIGN_ID_MAX, "campaign_id"));
    if (!*campaign_id)
        return recsys__err(RECSYS_E_INVALID_ARG, "campaign_id is empty");
    recsys__wr(engine);
    recsys__campaign *old = NULL;
    recsys_status st = RECSYS_OK;
    size_t at = recsys__campaigns_find(&engine->model.campaigns, campaign_id);
    if (at == SIZE_MAX)
        st = recsys__err(RECSYS_E_NOT_FOUND, "no campaign '%.200s'", campaign_id);
    if (st == RECSYS_OK)
        st = recsys__engine_store_remove(engine, RECSYS_RECORD_CAMPAIGN, campaign_id);
    if (st == RECSYS_OK)
        old = recsys__campaigns_take(&engine->model.campaigns, at);
    recsys__unlock(engine);
    recsys__campaign_free(&engine->mem, old);
    return st;
}

/* ------------------------------------------------------------ loading */

static recsys_status load_campaign(void *arg, int32_t kind, const char *key, const void *data,
                                   size_t len)
{
    recsys_engine *e = arg;
    (void)kind;
    recsys__campaign *cp = NULL;
    recsys_status st = recsys__json_parse_campaign(&e->mem, data, len, SIZE_MAX, &cp);
    if (st == RECSYS_OK && strcmp(cp->id, key) != 0)
        st = recsys__err(RECSYS_E_CORRUPT, "stored campaign '%.200s' does not hold that campaign",
                         key);
    else if (st == RECSYS_E_INVALID_ARG) {
        recsys__err_prefix("stored campaign");
        st = recsys__err(RECSYS_E_CORRUPT, "%s", recsys_last_error());
    }
    if (st == RECSYS_OK) /* items removed since it was stored are skipped, not an error */
        st = recsys__campaign_resolve(cp, &e->model.catalog, false);
    if (st == RECSYS_OK && recsys__campaigns_find(&e->model.campaigns, cp->id) == SIZE_MAX)
        st = recsys__campaigns_reserve(&e->mem, &e->model.campaigns);
    if (st == RECSYS_OK) {
        recsys__campaign *old = NULL;
        recsys__campaigns_put(&e->model.campaigns, cp, &old);
        recsys__campaign_free(&e->mem, old);
        cp = NULL;
    }
    recsys__campaign_free(&e->mem, cp);
    return st;
}

recsys_status recsys__engine_load_campaigns(recsys_engine *e)
{
    recsys_status st =
        e->store.scan_records(e->store.ctx, RECSYS_RECORD_CAMPAIGN, load_campaign, e);
    if (st == RECSYS_E_INVALID_ARG || st == RECSYS_E_UNSUPPORTED) {
        /* a store written for 0.1 knows record kinds 1..3 only: it holds no campaigns (and an
         * upsert will report its refusal) */
        recsys__err_clear();
        st = RECSYS_OK;
    }
    return st;
}
