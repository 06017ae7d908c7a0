/* fuzz_llm_explain.c - libFuzzer target: the input is an LLM's reply to an explanation
 * prompt, parsed and checked by recsys__explain_llm_parse against a small catalog and a user
 * with history (built once). The result must be RECSYS_OK or RECSYS_E_CORRUPT; every
 * explanation that passed must be non-empty, capped, about an available item, and carry 1 to
 * RECSYS__EXPLAIN_MAX_EVIDENCE pieces of evidence each of which is grounded; nothing else
 * is filled. Never crashes, never leaks (ASan). */
#include "recsys.h"
#include "core/error.h"
#include "core/options.h"
#include "llm/explain_llm.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const recsys__mem *M = &recsys__mem_default;

static void check(bool ok)
{
    if (!ok)
        abort();
}

#define NITEMS 5

static struct {
    bool ready;
    recsys__model model;
    recsys__optvals opts;
    recsys_query q;
    recsys__llm_hist hist;
    uint32_t items[NITEMS];
} W;

static void event(const char *user, const char *item, int32_t type, int64_t ts)
{
    recsys_event ev, copy;
    recsys_event_init(&ev);
    ev.type = type;
    ev.user_id = user;
    ev.item_id = item;
    ev.timestamp = ts;
    check(recsys__model_check_event(&W.model, &ev, &copy) == RECSYS_OK);
    check(recsys__model_apply_event(&W.model, &copy) == RECSYS_OK);
}

static void setup(void)
{
    static const char *const catalog =
        "[{\"item_id\":\"a\",\"title\":\"Gaming Laptop RTX 4070\",\"category\":\"laptop\","
        "\"tags\":[\"gpu\",\"gaming\"],\"attributes\":{\"price\":1899,\"rating\":4.47,"
        "\"gpu\":\"RTX 4070\",\"wifi\":true}},"
        "{\"item_id\":\"b\",\"title\":\"Ultrabook 13\",\"category\":\"laptop\","
        "\"tags\":[\"portable\",\"battery\"],\"attributes\":{\"price\":1099}},"
        "{\"item_id\":\"c\",\"title\":\"AI Workstation\",\"category\":\"laptop\","
        "\"available\":false,\"tags\":[\"gpu\"],\"attributes\":{\"price\":2499}},"
        "{\"item_id\":\"d\",\"title\":\"Heat (1995)\",\"category\":\"film\","
        "\"tags\":[\"crime\",\"thriller\"],\"attributes\":{\"year\":1995}},"
        "{\"item_id\":\"e\",\"title\":\"Usual Suspects, The (1995)\",\"category\":\"film\","
        "\"tags\":[\"crime\"],\"min_age\":16}]";
    recsys__model_init(&W.model, M);
    recsys__optvals_defaults(&W.opts);
    recsys__items_vec iv;
    check(recsys__json_parse_items(M, catalog, strlen(catalog), 1u << 20, &iv) == RECSYS_OK);
    for (size_t i = 0; i < iv.n; i++) {
        recsys_item *old = NULL;
        check(recsys__catalog_put(&W.model.catalog, iv.v[i], &old) == RECSYS_OK);
        W.items[i] = iv.v[i]->idx;
    }
    iv.n = 0;
    recsys__items_vec_free(M, &iv);
    event("u", "d", RECSYS_EVENT_LIKE, 1000);
    event("u", "a", RECSYS_EVENT_PURCHASE, 2000);
    W.q.model = &W.model;
    W.q.user = recsys__users_find(&W.model.users, "u");
    W.q.user_id = "u";
    W.q.now = 3000;
    W.q.opt = W.opts.num;
    W.q.anchor = RECSYS_IDS_NONE;
    recsys__jw b = { .m = M };
    recsys__llm_profile(&b, &W.q, 15, &W.hist);
    char *text = NULL;
    check(recsys__jw_finish(&b, false, &text, NULL) == RECSYS_OK);
    recsys__free(M, text);
    check(W.hist.n == 2);
    W.ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!W.ready)
        setup();
    recsys__err_clear();
    recsys__explanation out[NITEMS];
    uint8_t verdict[NITEMS];
    recsys_status st = recsys__explain_llm_parse(M, &W.q, W.items, NITEMS, &W.hist,
                                                 (const char *)data, size, out, verdict);
    check(st == RECSYS_OK || st == RECSYS_E_CORRUPT);
    for (size_t i = 0; i < NITEMS; i++) {
        const recsys_item *it = recsys__catalog_get(&W.model.catalog, W.items[i]);
        if (st != RECSYS_OK || verdict[i] != RECSYS__EXPLAIN_LLM_PASSED) {
            check(!out[i].text && !out[i].ev && out[i].nev == 0);
            check(st == RECSYS_OK || verdict[i] == RECSYS__EXPLAIN_LLM_NONE);
            continue;
        }
        check(it->available);
        check(out[i].text && *out[i].text && strlen(out[i].text) <= RECSYS__EXPLAIN_LLM_TEXT_MAX);
        check(out[i].nev >= 1 && out[i].nev <= RECSYS__EXPLAIN_MAX_EVIDENCE);
        for (size_t k = 0; k < out[i].nev; k++)
            check(recsys__evidence_grounded(&W.q, it, out[i].ev[k].kind, out[i].ev[k].name,
                                            out[i].ev[k].value));
        recsys__explanation_free(M, &out[i]);
    }
    return 0;
}
