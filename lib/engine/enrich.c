/* enrich.c - recsys_catalog_enrich: metadata enrichment of catalog items by the host's LLM
 * (issue 5, scope 7). The prompt, the reply parser, the vocabulary check, the content hash
 * and the cache record are lib/llm/enrich.h; this file holds the locking and the store
 * traffic around them.
 *
 * One call runs in three phases, never holding the engine's lock while the host's LLM runs
 * (engine.h's concurrency notes: a long batch must not stall requests and writers):
 *   1 gather, under the shared lock: the options, whether an LLM is registered, the
 *     vocabulary (recsys__enrich_cfg), and per item its content hash and its cache record
 *     (RECSYS_RECORD_STATE "enrich:<item id>", read under the store mutex). An item whose
 *     record has the same hash is cached: when its generated part equals the record's there
 *     is nothing to do, else (an upsert dropped it) the record's result is put back. Every
 *     other item gets its card (the quoted text the prompt shows).
 *   2 ask, unlocked: the items to ask, RECSYS_OPT_ENRICH_ITEMS_PER_CALL per call, through the
 *     engine's LLM guard with this call's budget (calls, tokens, a deadline for the whole
 *     call, each LLM call also bounded by RECSYS_OPT_ENRICH_CALL_DEADLINE_MS). A budget or
 *     deadline refusal skips every item left; a failed call skips its items and goes on.
 *     Each ask reads the engine's LLM again under the shared lock (current_llm), which the
 *     guard releases only around the host's complete() after registering the call as in
 *     flight (lib/llm/guard.h, recsys__llm_unlock): so recsys_engine_set_llm may replace the
 *     LLM while an enrichment runs; the next ask uses the new one, and the old one is never
 *     called after set_llm returned (set_llm waits for a call inside it, then destroys it).
 *     The provenance of the generated part names the LLM that answered.
 *   3 apply, under the exclusive lock after each reply (and once for the cached ones): per
 *     item, all or nothing, re-checking that the item still exists with the same content
 *     hash (else it is skipped: the host's newer text wins); the new item (a copy with the
 *     generated part replaced) goes into the catalog, then the store (the item's JSON, which
 *     carries the generated part, then the cache record), rolled back on a store failure.
 *
 * Costs: gather O(items + vocabulary shown) plus one store get per item; each LLM call
 * O(bytes of its prompt and reply); apply O(item size) per item plus two store puts. Memory:
 * one card per item asked (~ its text), freed at the end.
 */
#include "engine.h"
#include "../core/abi.h"
#include "../core/clock.h"
#include "../core/utf8.h"
#include "../llm/enrich.h"
#include "../store/store.h"

#define ENRICH_MAX_ITEMS 10000000u
#define KEY_MAX (sizeof RECSYS__ENRICH_RECORD_PREFIX + RECSYS_ID_MAX_BYTES)

enum { W_ASK = 0, W_KEEP = 1, W_RESTORE = 2 };

typedef struct work {
    const char *id;      /* the caller's, or own */
    char *own;           /* the copy when enriching the whole catalog */
    uint64_t hash;       /* content hash when gathered */
    int what;            /* W_* */
    char *card;          /* W_ASK: the card (lib/llm/enrich.h) */
    recsys_item *cached; /* W_RESTORE: the stored result (its gen part) */
} work;

typedef struct run {
    recsys_engine *e;
    const recsys__mem *m;
    double opt[RECSYS_OPT_SLOTS];
    bool has_llm;                          /* an LLM was registered at gather */
    char llm_name[RECSYS_PLUGIN_NAME_MAX]; /* the one the last ask went to */
    recsys__enrich_cfg cfg;
    work *w;
    size_t n;
    recsys_enrich_report rep;
    recsys__err_saved note; /* the first problem that did not fail the call */
} run;

static int64_t opt_int(const run *r, int32_t key)
{
    return (int64_t)r->opt[recsys__opt_slot(key)];
}

/* Keeps the current message as the call's warning, unless one is kept already. */
static void note(run *r)
{
    if (r->note.status == RECSYS_OK)
        recsys__err_save(&r->note);
}

static void key_of(const char *id, char *key)
{
    snprintf(key, KEY_MAX, "%s%s", RECSYS__ENRICH_RECORD_PREFIX, id);
}

/* The engine's LLM as it is now (caller holds the lock), its name copied to r->llm_name;
 * NULL when none is registered or it is disabled. The pointer is into the plug-in table: use
 * it only while the lock is held (recsys__llm_ask_run copies it before letting go). */
static const recsys_llm_vtable *current_llm(run *r)
{
    const recsys__plugins *ps = &r->e->plugins[RECSYS_PLUGIN_LLM];
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i].enabled && ps->v[i].vt.llm.complete) {
            memcpy(r->llm_name, ps->v[i].name, sizeof r->llm_name);
            return &ps->v[i].vt.llm;
        }
    return NULL;
}

/* ------------------------------------------------------------ phase 1: gather */

static int idx_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The item list: the caller's ids (each in the catalog, distinct) or every live item. */
static recsys_status gather_ids(run *r, const char *const *ids, size_t n)
{
    const recsys__catalog *c = &r->e->model.catalog;
    if (!ids) {
        n = c->live;
        r->w = recsys__calloc(r->m, n ? n : 1, sizeof *r->w);
        if (!r->w)
            return RECSYS_E_NOMEM;
        for (size_t i = 0; i < c->ids.n && r->n < n; i++) {
            const recsys_item *it = recsys__catalog_get(c, (uint32_t)i);
            if (!it)
                continue;
            work *w = &r->w[r->n++];
            if (!(w->own = recsys__strdup(r->m, it->id)))
                return RECSYS_E_NOMEM;
            w->id = w->own;
        }
        return RECSYS_OK;
    }
    r->w = recsys__calloc(r->m, n ? n : 1, sizeof *r->w);
    uint32_t *idx = r->w ? recsys__calloc(r->m, n ? n : 1, sizeof *idx) : NULL;
    if (!idx)
        return RECSYS_E_NOMEM;
    recsys_status st = RECSYS_OK;
    for (size_t i = 0; st == RECSYS_OK && i < n; i++) {
        idx[i] = recsys__catalog_find(c, ids[i]);
        if (idx[i] == RECSYS_IDS_NONE)
            st = recsys__err(RECSYS_E_NOT_FOUND, "item_ids[%zu] '%.*s' is not in the catalog",
                             i, recsys__utf8_quote_len(ids[i]), ids[i]);
        r->w[i].id = ids[i];
    }
    if (st == RECSYS_OK) {
        qsort(idx, n, sizeof *idx, idx_cmp);
        for (size_t i = 1; i < n; i++)
            if (idx[i] == idx[i - 1]) {
                const char *id = recsys__ids_name(&c->ids, idx[i]);
                st = recsys__err(RECSYS_E_INVALID_ARG, "item_ids: '%.*s' is given twice",
                                 recsys__utf8_quote_len(id), id);
                break;
            }
    }
    recsys__free(r->m, idx);
    r->n = n;
    return st;
}

/* Reads item w's cache record and decides what to do with it. */
static recsys_status gather_item(run *r, work *w, const recsys_item *it)
{
    recsys_engine *e = r->e;
    w->hash = recsys__enrich_hash(it);
    char key[KEY_MAX];
    key_of(w->id, key);
    recsys_store_value v;
    recsys__store_value_init(&v, r->m);
    pthread_mutex_lock(&e->store_mu);
    recsys_status st = e->store.get(e->store.ctx, RECSYS_RECORD_STATE, key, &v);
    pthread_mutex_unlock(&e->store_mu);
    if (st == RECSYS_OK && !v.set)
        st = recsys__err(RECSYS_E_CALLBACK, "get('%s') returned RECSYS_OK without a value", key);
    if (st == RECSYS_OK) {
        uint64_t h;
        recsys_item *g = NULL;
        st = recsys__enrich_record_decode(r->m, v.data, v.len, w->id, &h, &g);
        if (st == RECSYS_OK && h == w->hash) {
            if (recsys__enrich_gen_equal(&it->gen, &g->gen)) {
                w->what = W_KEEP;
                recsys__item_free(r->m, g);
            } else {
                w->what = W_RESTORE;
                w->cached = g;
            }
        } else {
            recsys__item_free(r->m, g);
            if (st == RECSYS_E_CORRUPT) { /* asked again, and the record replaced */
                note(r);
                st = RECSYS_OK;
            }
        }
    } else if (st == RECSYS_E_NOT_FOUND) {
        st = RECSYS_OK;
    } else if (st != RECSYS_E_NOMEM) {
        st = recsys__plugin_failed(st, "store", "get");
    }
    recsys__store_value_free(&v);
    if (st == RECSYS_OK && w->what == W_ASK)
        st = recsys__enrich_card(r->m, it, &w->card);
    return st;
}

static recsys_status gather(run *r, const char *const *ids, size_t n)
{
    recsys_engine *e = r->e;
    const recsys__catalog *c = &e->model.catalog;
    memcpy(r->opt, e->opts.num, sizeof r->opt);
    r->has_llm = current_llm(r) != NULL;
    int slot = recsys__opt_slot(RECSYS_OPT_ENRICH_ATTRIBUTES);
    RECSYS_TRY(recsys__enrich_cfg_build(r->m, c, e->opts.str[slot],
                                        (uint32_t)opt_int(r, RECSYS_OPT_ENRICH_MAX_TAGS),
                                        (uint32_t)opt_int(r, RECSYS_OPT_ENRICH_SUMMARY_MAX),
                                        opt_int(r, RECSYS_OPT_ENRICH_NEW_TAGS) != 0, &r->cfg));
    RECSYS_TRY(gather_ids(r, ids, n));
    for (size_t i = 0; i < r->n; i++)
        RECSYS_TRY(gather_item(r, &r->w[i],
                               recsys__catalog_get(c, recsys__catalog_find(c, r->w[i].id))));
    return RECSYS_OK;
}

/* ------------------------------------------------------------ phase 3: apply */

/* Puts w's new result (src, validated with cfg, or NULL cfg: verbatim) into the catalog and
 * the store, all or nothing. Caller holds the lock exclusively. *applied is false when the
 * item was removed or its text changed since it was gathered. */
static recsys_status apply(run *r, const work *w, const recsys__generated *src,
                           const recsys__enrich_cfg *cfg, bool write_record, bool *applied)
{
    recsys_engine *e = r->e;
    const recsys__mem *m = r->m;
    recsys__catalog *c = &e->model.catalog;
    *applied = false;
    uint32_t idx = recsys__catalog_find(c, w->id);
    const recsys_item *cur = idx == RECSYS_IDS_NONE ? NULL : recsys__catalog_get(c, idx);
    if (!cur || recsys__enrich_hash(cur) != w->hash)
        return RECSYS_OK;
    recsys__enrich_cfg verbatim = { .max_tags = UINT32_MAX, .summary_max = UINT32_MAX,
                                    .new_tags = true };
    recsys_item *nw = NULL, *old = NULL;
    char *json = NULL, *ojson = NULL, *rec = NULL;
    size_t jlen = 0, olen = 0, rlen = 0;
    uint64_t dropped = 0;
    recsys_status st = cfg ? recsys__enrich_build(m, c, cfg, cur, src, r->llm_name, &nw, &dropped)
                           : recsys__enrich_build(m, c, &verbatim, cur, src, NULL, &nw, NULL);
    if (st == RECSYS_OK && !cfg) { /* verbatim: every attribute is allowed */
        for (uint32_t i = 0; st == RECSYS_OK && i < src->nattrs; i++) {
            const recsys__attr *a = &src->attrs[i];
            st = recsys__item_set_gen_attr(m, nw, a->name, a->type, a->num, a->str);
        }
    }
    if (st == RECSYS_OK)
        st = recsys__json_item(m, nw, false, &json, &jlen);
    if (st == RECSYS_OK)
        st = recsys__json_item(m, cur, false, &ojson, &olen);
    if (st == RECSYS_OK && write_record)
        st = recsys__enrich_record_encode(m, w->hash, nw, &rec, &rlen);
    if (st == RECSYS_OK)
        st = recsys__derived_reserve(m, e->derived, &e->model, 1);
    if (st == RECSYS_OK)
        st = recsys__catalog_put(c, nw, &old);
    if (st == RECSYS_OK) {
        st = recsys__engine_store_put(e, RECSYS_RECORD_ITEM, w->id, json, jlen);
        bool item_stored = st == RECSYS_OK;
        if (st == RECSYS_OK && write_record) {
            char key[KEY_MAX];
            key_of(w->id, key);
            st = recsys__engine_store_put(e, RECSYS_RECORD_STATE, key, rec, rlen);
        }
        if (st != RECSYS_OK) { /* back to what was: the store, then memory */
            recsys__err_saved s;
            recsys__err_save(&s);
            if (item_stored)
                (void)recsys__engine_store_put(e, RECSYS_RECORD_ITEM, w->id, ojson, olen);
            recsys_item *back = NULL;
            (void)recsys__catalog_put(c, old, &back);
            old = NULL; /* in the catalog again; back is nw, freed below */
            recsys__err_restore(&s);
        } else {
            recsys__derived_item_changed(m, e->derived, &e->model, idx);
            nw = NULL; /* the catalog's */
            *applied = true;
            r->rep.dropped += dropped;
        }
    }
    recsys__item_free(m, nw);
    recsys__item_free(m, old);
    recsys__free(m, json);
    recsys__free(m, ojson);
    recsys__free(m, rec);
    return st;
}

static recsys_status restore_cached(run *r)
{
    recsys_status st = RECSYS_OK;
    bool any = false;
    for (size_t i = 0; i < r->n; i++) {
        if (r->w[i].what == W_KEEP)
            r->rep.cached++;
        any |= r->w[i].what == W_RESTORE;
    }
    if (!any)
        return RECSYS_OK;
    recsys__wr(r->e);
    for (size_t i = 0; st == RECSYS_OK && i < r->n; i++) {
        work *w = &r->w[i];
        if (w->what != W_RESTORE)
            continue;
        bool applied;
        st = apply(r, w, &w->cached->gen, NULL, false, &applied);
        if (st == RECSYS_OK) {
            if (applied)
                r->rep.cached++;
            else
                r->rep.skipped++;
        }
    }
    recsys__unlock(r->e);
    return st;
}

/* ------------------------------------------------------------ phase 2: ask */

/* Applies a parsed reply to the group's items g[0..k). */
static recsys_status apply_reply(run *r, work **g, size_t k, const recsys__enrich_reply *rp,
                                 const recsys__llm_ask *ask)
{
    recsys_status st = RECSYS_OK;
    size_t ok = 0;
    recsys__wr(r->e);
    for (size_t j = 0; st == RECSYS_OK && j < k; j++) {
        if (rp->state[j] != RECSYS__ENRICH_OK) {
            r->rep.rejected++;
            continue;
        }
        ok++;
        bool applied;
        st = apply(r, g[j], &rp->entry[j]->gen, &r->cfg, true, &applied);
        if (st == RECSYS_OK) {
            if (applied)
                r->rep.enriched++;
            else
                r->rep.skipped++;
        }
    }
    recsys__unlock(r->e);
    if (ok == 0)
        recsys__llm_reject(r->e->llm_guard, NULL, ask);
    else
        recsys__llm_accept(r->e->llm_guard, ask);
    return st;
}

/* One LLM call over the group g[0..k). *stop becomes true when the budget or the deadline
 * refuses any further call. */
static recsys_status ask_group(run *r, work **g, size_t k, recsys__llm_budget *b,
                               uint64_t batch_deadline, bool *stop)
{
    const recsys__mem *m = r->m;
    const char *cards[RECSYS__LIST_MAX];
    for (size_t j = 0; j < k; j++)
        cards[j] = g[j]->card;
    recsys__enrich_prompt p;
    RECSYS_TRY(recsys__enrich_prompt_build(m, &r->cfg, cards, k, &p));
    recsys__llm_ask ask = { .task = RECSYS_LLM_ENRICH, .system = p.system, .prompt = p.prompt,
                            .schema = p.schema,
                            .max_tokens = (int32_t)opt_int(r, RECSYS_OPT_ENRICH_MAX_TOKENS),
                            .temperature = 0.0 };
    uint64_t now = recsys__clock_mono_ns();
    uint64_t call_deadline = now + (uint64_t)opt_int(r, RECSYS_OPT_ENRICH_CALL_DEADLINE_MS) *
                                       1000000u;
    b->deadline_ns = batch_deadline && batch_deadline < call_deadline ? batch_deadline
                                                                      : call_deadline;
    if (batch_deadline && now >= batch_deadline)
        b->deadline_ns = batch_deadline; /* the guard refuses and counts it */
    int64_t calls_before = b->calls_left;
    char *text = NULL;
    size_t len = 0;
    /* the LLM as it is now, under the shared lock, which the guard lets go of only around
     * complete() (b->unlock), after registering the call: a replacement waits for it */
    recsys__rd(r->e);
    recsys_status st = recsys__llm_ask_run(r->e->llm_guard, current_llm(r), r->opt, b, &ask, m,
                                           &text, &len);
    recsys__unlock(r->e); /* held again after complete() (ask_enter), or never let go */
    if (b->calls_left < calls_before)
        r->rep.calls++;
    if (st != RECSYS_OK) {
        recsys__enrich_prompt_free(m, &p);
        if (st == RECSYS_E_NOMEM)
            return st;
        note(r);
        r->rep.skipped += k;
        if (st == RECSYS_E_BUDGET || st == RECSYS_E_TIMEOUT || st == RECSYS_E_NOT_FOUND)
            *stop = true;
        return RECSYS_OK;
    }
    r->rep.asked += k;
    recsys__enrich_reply rp;
    st = recsys__enrich_parse(m, text, len, k, &r->cfg, &rp);
    recsys__free(m, text);
    if (st == RECSYS_E_INVALID_ARG) { /* unusable as a whole */
        note(r);
        r->rep.rejected += k;
        recsys__llm_reject(r->e->llm_guard, NULL, &ask);
        st = RECSYS_OK;
    } else if (st == RECSYS_OK) {
        for (size_t j = 0; j < k; j++)
            if (rp.state[j] == RECSYS__ENRICH_INVALID) {
                note(r); /* the parser's message names the first invalid entry */
                break;
            }
        st = apply_reply(r, g, k, &rp, &ask);
    }
    recsys__enrich_reply_free(m, &rp);
    recsys__enrich_prompt_free(m, &p);
    return st;
}

/* The enrichment's side of recsys__llm_unlock: only the plug-in table is read under the
 * lock (current_llm), and nothing read there is used after the ask but the name copy. */
static void ask_leave(void *arg)
{
    recsys__unlock(arg);
}

static recsys_status ask_enter(void *arg)
{
    recsys__rd(arg);
    return RECSYS_OK;
}

static recsys_status ask_all(run *r)
{
    size_t per = (size_t)opt_int(r, RECSYS_OPT_ENRICH_ITEMS_PER_CALL);
    if (per > RECSYS__LIST_MAX)
        per = RECSYS__LIST_MAX;
    const recsys__llm_unlock ul = { ask_leave, ask_enter, r->e };
    recsys__llm_budget b = { .calls_left = opt_int(r, RECSYS_OPT_ENRICH_CALLS),
                             .tokens_left = opt_int(r, RECSYS_OPT_ENRICH_TOKENS),
                             .unlock = &ul };
    int64_t ms = opt_int(r, RECSYS_OPT_ENRICH_DEADLINE_MS);
    uint64_t batch_deadline = ms ? recsys__clock_mono_ns() + (uint64_t)ms * 1000000u : 0;
    work *g[RECSYS__LIST_MAX];
    size_t k = 0;
    bool stop = false;
    if (!r->has_llm) {
        for (size_t i = 0; i < r->n; i++)
            if (r->w[i].what == W_ASK) {
                if (r->note.status == RECSYS_OK) {
                    recsys__err(RECSYS_E_NOT_FOUND, "enrich: no LLM is registered "
                                "(recsys_engine_set_llm)");
                    note(r);
                }
                r->rep.skipped++;
            }
        return RECSYS_OK;
    }
    for (size_t i = 0; i <= r->n; i++) {
        if (i < r->n && r->w[i].what == W_ASK)
            g[k++] = &r->w[i];
        if (k == 0 || (k < per && i < r->n))
            continue;
        if (stop)
            r->rep.skipped += k;
        else
            RECSYS_TRY(ask_group(r, g, k, &b, batch_deadline, &stop));
        k = 0;
    }
    return RECSYS_OK;
}

/* ------------------------------------------------------------ the call */

static void run_free(run *r)
{
    for (size_t i = 0; r->w && i < r->n; i++) {
        recsys__free(r->m, r->w[i].own);
        recsys__free(r->m, r->w[i].card);
        recsys__item_free(r->m, r->w[i].cached);
    }
    recsys__free(r->m, r->w);
    recsys__enrich_cfg_free(r->m, &r->cfg);
}

static void report_out(const run *r, recsys_enrich_report *out)
{
    if (!out)
        return;
    recsys_enrich_report full = r->rep;
    full.struct_size = out->struct_size;
    size_t n = RECSYS_MIN((size_t)out->struct_size, sizeof full);
    memcpy(out, &full, n);
}

RECSYS_API recsys_status recsys_catalog_enrich(recsys_engine *e, const char *const *item_ids,
                                               size_t n, recsys_enrich_report *report)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(e);
    if (report && report->struct_size < RECSYS_OFFSETOFEND(recsys_enrich_report, dropped))
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_enrich_report.struct_size %u is too "
                           "small (expected at least %zu)", (unsigned)report->struct_size,
                           (size_t)RECSYS_OFFSETOFEND(recsys_enrich_report, dropped));
    if (!item_ids && n)
        return recsys__err(RECSYS_E_INVALID_ARG, "item_ids is NULL with n = %zu", n);
    if (n > ENRICH_MAX_ITEMS)
        return recsys__err(RECSYS_E_INVALID_ARG, "n = %zu items; the limit is %u", n,
                           ENRICH_MAX_ITEMS);
    for (size_t i = 0; i < n; i++) {
        char what[48];
        snprintf(what, sizeof what, "item_ids[%zu]", i);
        RECSYS_TRY(recsys__check_text(item_ids[i], RECSYS_ID_MAX_BYTES, what));
    }
    run r;
    memset(&r, 0, sizeof r);
    r.e = e;
    r.m = &e->mem;
    recsys__rd(e);
    recsys_status st = gather(&r, item_ids, n);
    recsys__unlock(e);
    if (st == RECSYS_OK)
        st = restore_cached(&r);
    if (st == RECSYS_OK)
        st = ask_all(&r);
    run_free(&r);
    report_out(&r, report);
    if (st == RECSYS_OK) {
        if (r.note.status != RECSYS_OK)
            recsys__err_restore(&r.note);
        else
            recsys__err_clear();
    }
    return st;
}
