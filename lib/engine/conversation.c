/* conversation.c - the conversation handle: a shopper's turns accumulate constraints
 * (lib/llm/intent.h), the library asks the clarifying question with the highest expected
 * information gain while too many candidates remain (lib/llm/clarify.h), and every turn
 * answers with recommendations under the constraints so far.
 *
 * Each turn (recsys_conversation_say):
 *   1. the text is read: as the answer to the pending question (restricted to its facet;
 *      when it says nothing about the facet, read again as a free request), else as a
 *      request (rules first, the LLM when ambiguous); the result is merged into the
 *      accumulated constraints (a facet said again replaces the earlier constraint);
 *   2. the request: the constraints' expression as one FILTER rule, the search text made of
 *      the category, required tags and free terms (the shopper's words when there are none),
 *      RECSYS_OPT_LLM_INTENT off (the text is read already); so every filter, business rule
 *      and option of the engine applies as on any recsys_recommend() call;
 *   3. the request runs (recsys__recommend_eligible: recsys_recommend with a look at its
 *      eligible candidates, those that passed stages 1-3), and they are counted; while more
 *      than RECSYS_OPT_CLARIFY_MIN_CANDIDATES remain and fewer than
 *      RECSYS_OPT_CLARIFY_MAX_QUESTIONS were asked, the facet with the highest gain (at least
 *      RECSYS_OPT_CLARIFY_MIN_GAIN) is picked from them, under the same lock hold;
 *   4. no facet: that run goes on and gives the turn's result (one pipeline run). A facet:
 *      the run stops after stage 3, the question is phrased by the LLM or the template, and
 *      then recsys_recommend() gives the turn's result (a question turn carries one too: the
 *      list as it stands, so a host can show it narrowing). So the LLM is asked in the same
 *      order as ever: reading the words, phrasing the question, then the request's own asks.
 * The LLM budget (RECSYS_OPT_LLM_*) is per turn (the request's asks have their own, as any
 * recsys_recommend). A failed turn leaves the conversation as it was. Cost per turn: a result
 * turn one pipeline run, a question turn stages 1-3 twice and 4-8 once; plus clarify.h's
 * facet scoring over the candidates when a question may be asked.
 *
 * Threads: a conversation is used by one thread at a time; any number of conversations may
 * run on one engine at once (each turn takes the engine's lock shared, and lets go of it
 * while the host's LLM runs: turn_leave). The engine must outlive its conversations. */
#include "engine.h"
#include "request.h"
#include "../core/utf8.h"
#include "../llm/clarify.h"
#include "../model/json_write.h"

#define SAID_MAX 2000   /* bytes of the shopper's words kept as the LLM's context */
#define SEARCH_MAX 1000 /* bytes of the search text */

struct recsys_conversation {
    recsys_engine *e;
    char *user_id;          /* or NULL */
    recsys__intent acc;     /* the constraints so far */
    recsys__facet pending;  /* the last question's facet (kind 0: none) */
    char **asked;           /* keys of the facets asked */
    size_t nasked, capasked;
    char *said;             /* the shopper's words so far, " / " between turns */
};

struct recsys_turn {
    recsys__mem mem;
    int32_t kind;
    char *question; /* "" for a result */
    char *facet;    /* "" for a result */
    size_t candidates;
    recsys_result *result;
};

RECSYS_API recsys_status recsys_conversation_new(recsys_engine *e, const char *user_id,
                                                 recsys_conversation **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    RECSYS_CHECK_ARG(e);
    if (user_id)
        RECSYS_TRY(recsys__check_text(user_id, RECSYS_ID_MAX_BYTES, "user_id"));
    recsys_conversation *cv = recsys__calloc(&e->mem, 1, sizeof *cv);
    if (!cv)
        return RECSYS_E_NOMEM;
    cv->e = e;
    recsys__intent_init(&cv->acc);
    if (user_id && !(cv->user_id = recsys__strdup(&e->mem, user_id))) {
        recsys__free(&e->mem, cv);
        return RECSYS_E_NOMEM;
    }
    *out = cv;
    return RECSYS_OK;
}

RECSYS_API void recsys_conversation_free(recsys_conversation *cv)
{
    if (!cv)
        return;
    const recsys__mem *m = &cv->e->mem;
    recsys__intent_free(m, &cv->acc);
    recsys__facet_free(m, &cv->pending);
    for (size_t i = 0; i < cv->nasked; i++)
        recsys__free(m, cv->asked[i]);
    recsys__free(m, cv->asked);
    recsys__free(m, cv->user_id);
    recsys__free(m, cv->said);
    recsys__free(m, cv);
}

RECSYS_API recsys_status recsys_conversation_constraints_json(const recsys_conversation *cv,
                                                              char **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    RECSYS_CHECK_ARG(cv);
    return recsys__intent_json(&cv->e->mem, &cv->acc, true, out, NULL);
}

/* ------------------------------------------------------------ one turn */

/* The turn's side of recsys__llm_unlock: the LLM's asks (reading the words, phrasing the
 * question) let go of the engine's shared lock around the host's complete(). What the turn
 * keeps across an ask: its own copies (the words, the constraints, the facet asked), the
 * engine's own model and options structs (read through them under the lock again), and the
 * LLM's table entry (replaced in place, read at each ask); the one pointer into replaceable
 * state, the BM25 index of the derived state, is read again when a writer held the lock
 * meanwhile. */
typedef struct turn_lock {
    recsys_engine *e;
    recsys__intent_llm *llm;
    uint64_t writes; /* e->writes when the lock was let go */
} turn_lock;

typedef struct turn_work {
    recsys_conversation *cv;
    recsys_engine *e;
    const recsys__mem *m;
    recsys__intent acc;    /* the new constraints */
    char *said;            /* the new words so far */
    recsys_request *req;
    size_t nitems;         /* the eligible candidates (stage 3 of the turn's run) */
    recsys__facet next;    /* the facet asked now (kind 0: none) */
    char *next_key;
    char *question;
    recsys_result *res;
    /* the turn's LLM (reading the words, phrasing the question): one budget for its asks */
    recsys__llm_budget budget;
    recsys__intent_llm llm; /* all zero: no LLM (none registered, or a budget of 0 calls) */
    turn_lock tl;
    recsys__llm_unlock unlock;
} turn_work;

static void work_free(turn_work *w)
{
    recsys__intent_free(w->m, &w->acc);
    recsys__free(w->m, w->said);
    recsys_request_free(w->req);
    recsys__facet_free(w->m, &w->next);
    recsys__free(w->m, w->next_key);
    recsys__free(w->m, w->question);
    recsys_result_free(w->res);
}

/* The shopper's words so far plus text, capped (at a UTF-8 boundary). */
static recsys_status join_said(const recsys__mem *m, const char *said, const char *text, char **out)
{
    recsys__jw b = { .m = m };
    if (said && said[0]) {
        recsys__jw_puts(&b, said);
        recsys__jw_puts(&b, " / ");
    }
    recsys__jw_puts(&b, text);
    RECSYS_TRY(recsys__jw_finish(&b, false, out, NULL));
    size_t n = strlen(*out);
    if (n > SAID_MAX) { /* keep the first words (the request) and cut the rest */
        n = SAID_MAX;
        while (n > 0 && ((unsigned char)(*out)[n] & 0xC0) == 0x80)
            n--;
        (*out)[n] = '\0';
    }
    return RECSYS_OK;
}

/* The request for constraints acc: search text, the FILTER rule, intent off. */
static recsys_status build_request(turn_work *w, const char *user_id)
{
    recsys__jw b = { .m = w->m };
    size_t words = 0;
#define WORD(s) (words++ ? recsys__jw_puts(&b, " ") : (void)0, recsys__jw_puts(&b, (s)))
    if (w->acc.category)
        WORD(w->acc.category);
    for (size_t i = 0; i < w->acc.ntags; i++)
        WORD(w->acc.tags[i]);
    for (size_t i = 0; i < w->acc.nterms; i++)
        WORD(w->acc.terms[i]);
#undef WORD
    char *text = NULL, *expr = NULL;
    RECSYS_TRY(recsys__jw_finish(&b, false, &text, NULL));
    const char *search = words ? text : w->said;
    char cut[SEARCH_MAX + 1];
    size_t n = strlen(search);
    if (n > SEARCH_MAX) {
        n = SEARCH_MAX;
        while (n > 0 && ((unsigned char)search[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(cut, search, n);
    cut[n] = '\0';
    recsys_status st = recsys__intent_expr(w->m, &w->acc, &expr);
    if (st == RECSYS_OK)
        st = recsys_request_new(&w->req);
    if (st == RECSYS_OK && user_id)
        st = recsys_request_set_user(w->req, user_id);
    if (st == RECSYS_OK && cut[0])
        st = recsys_request_set_query(w->req, cut);
    if (st == RECSYS_OK)
        st = recsys_request_set_int(w->req, RECSYS_OPT_LLM_INTENT, 0);
    if (st == RECSYS_OK && expr) {
        recsys_rule r;
        recsys_rule_init(&r);
        r.kind = RECSYS_RULE_FILTER;
        r.expr = expr;
        st = recsys_request_add_rule(w->req, &r);
    }
    recsys__free(w->m, text);
    recsys__free(w->m, expr);
    return st;
}

static void turn_leave(void *arg)
{
    turn_lock *t = arg;
    t->writes = t->e->writes;
    recsys__unlock(t->e);
}

static recsys_status turn_enter(void *arg)
{
    turn_lock *t = arg;
    recsys__rd(t->e);
    if (t->e->writes != t->writes && t->llm->guard) /* a refresh may have freed the index */
        t->llm->bm25 = t->e->derived ? t->e->derived->state[RECSYS__DERIVED_BM25] : NULL;
    return RECSYS_OK;
}

/* Points the turn's LLM at the engine's as it is now (caller holds the lock shared). At
 * the turn's start it decides whether the turn uses the LLM (one is registered and enabled,
 * and the turn's budget allows a call); later (the question, after the lock was let go
 * entirely) it only reads the transport and the BM25 index again for a turn that does. */
static void llm_attach(turn_work *w, bool start)
{
    recsys_engine *e = w->e;
    const recsys__plugins *lp = &e->plugins[RECSYS_PLUGIN_LLM];
    const recsys_llm_vtable *vt = NULL; /* the registered transport, if enabled */
    for (size_t i = 0; i < lp->n && !vt; i++)
        if (lp->v[i].enabled && lp->v[i].vt.llm.complete)
            vt = &lp->v[i].vt.llm;
    if (start && vt && w->budget.calls_left > 0) {
        w->llm.guard = e->llm_guard;
        w->llm.opt = e->opts.num;
        w->llm.budget = &w->budget;
    }
    if (w->llm.guard) {
        w->llm.vt = vt;
        w->llm.bm25 = e->derived ? e->derived->state[RECSYS__DERIVED_BM25] : NULL;
    }
}

/* Steps 1 and 2 under the engine's shared lock (let go around the LLM's asks: turn_leave). */
static recsys_status turn_read(recsys_conversation *cv, const char *text, turn_work *w)
{
    recsys_engine *e = cv->e;
    const recsys__mem *m = w->m;
    const recsys__catalog *c = &e->model.catalog;
    recsys__llm_budget_init(&w->budget, e->opts.num);
    w->tl = (turn_lock){ .e = e, .llm = &w->llm };
    w->unlock = (recsys__llm_unlock){ turn_leave, turn_enter, &w->tl };
    w->budget.unlock = &w->unlock;
    llm_attach(w, true);
    /* 1. read the words */
    recsys__intent got;
    const recsys__facet *pending = cv->pending.kind ? &cv->pending : NULL;
    RECSYS_TRY(recsys__intent_understand(m, c, text, pending, &w->llm, &got));
    if (pending && recsys__intent_empty(&got) && !got.dont_care) {
        recsys__intent_free(m, &got); /* not an answer: a request of its own? */
        RECSYS_TRY(recsys__intent_understand(m, c, text, NULL, &w->llm, &got));
        if (recsys__intent_empty(&got)) /* unreadable: its words would only blur the search */
            recsys__intent_free(m, &got);
    }
    recsys_status st = recsys__intent_copy(m, &cv->acc, &w->acc);
    if (st == RECSYS_OK)
        st = recsys__intent_merge(m, &w->acc, &got);
    recsys__intent_free(m, &got);
    if (st == RECSYS_OK)
        st = join_said(m, cv->said, text, &w->said);
    /* 2. the request */
    if (st == RECSYS_OK)
        st = build_request(w, cv->user_id);
    return st;
}

/* Step 3, inside the turn's run right after stage 3 (the engine's lock held shared): counts
 * the eligible candidates and, while a question may be asked, picks the facet; a facet stops
 * the run (the question comes first, then the result: step 4). */
static recsys_status eligible(void *arg, const recsys_candidates *c, bool *stop)
{
    turn_work *w = arg;
    recsys_conversation *cv = w->cv;
    recsys_engine *e = w->e;
    const double *opt = e->opts.num;
    w->nitems = c->n;
    size_t maxq = (size_t)opt[recsys__opt_slot(RECSYS_OPT_CLARIFY_MAX_QUESTIONS)];
    size_t minc = (size_t)opt[recsys__opt_slot(RECSYS_OPT_CLARIFY_MIN_CANDIDATES)];
    double gain = opt[recsys__opt_slot(RECSYS_OPT_CLARIFY_MIN_GAIN)];
    if (c->n > minc && cv->nasked < maxq) {
        uint32_t *items = recsys__alloc(w->m, c->n * sizeof *items);
        if (!items)
            return RECSYS_E_NOMEM;
        for (size_t i = 0; i < c->n; i++)
            items[i] = c->v[i].item;
        const char *allowed = e->opts.str[recsys__opt_slot(RECSYS_OPT_CLARIFY_FACETS)];
        recsys_status st = recsys__clarify_pick(w->m, &e->model.catalog, items, c->n, allowed,
                                                &w->acc, cv->asked, cv->nasked, gain, &w->next);
        recsys__free(w->m, items);
        RECSYS_TRY(st);
    }
    *stop = w->next.kind != 0;
    return RECSYS_OK;
}

/* Step 4 for a question turn: the question (under the shared lock, let go around the LLM's
 * ask), then the result of a run of its own. */
static recsys_status turn_ask(turn_work *w)
{
    recsys_engine *e = w->e;
    recsys__rd(e);
    llm_attach(w, false);
    bool from_llm;
    recsys_status st = recsys__clarify_question(w->m, &w->next, w->said, &w->llm, &w->question,
                                                &from_llm);
    if (st == RECSYS_OK)
        st = recsys__facet_key(w->m, &w->next, &w->next_key);
    recsys__unlock(e);
    if (st == RECSYS_OK)
        st = recsys_recommend(e, w->req, &w->res);
    return st;
}

RECSYS_API recsys_status recsys_conversation_say(recsys_conversation *cv, const char *text,
                                                 recsys_turn **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    RECSYS_CHECK_ARG(cv);
    RECSYS_CHECK_ARG(text);
    RECSYS_TRY(recsys__check_text(text, RECSYS__INTENT_TEXT_MAX, "text"));
    recsys_engine *e = cv->e;
    turn_work w;
    memset(&w, 0, sizeof w);
    w.cv = cv;
    w.e = e;
    w.m = &e->mem;
    recsys__intent_init(&w.acc);
    recsys__rd(e);
    recsys_status st = turn_read(cv, text, &w);
    recsys__unlock(e);
    /* 3. and 4. (the runs take the lock themselves) */
    if (st == RECSYS_OK)
        st = recsys__recommend_eligible(e, w.req, eligible, &w, &w.res);
    if (st == RECSYS_OK && w.next.kind)
        st = turn_ask(&w);
    recsys_turn *t = NULL;
    if (st == RECSYS_OK && w.next_key)
        st = RECSYS_GROW(w.m, cv->asked, cv->capasked, cv->nasked + 1);
    if (st == RECSYS_OK) {
        t = recsys__calloc(w.m, 1, sizeof *t);
        if (!t)
            st = RECSYS_E_NOMEM;
    }
    if (st == RECSYS_OK) {
        t->mem = e->mem;
        t->question = recsys__strdup(w.m, w.question ? w.question : "");
        t->facet = recsys__strdup(w.m, w.next_key ? w.next_key : "");
        if (!t->question || !t->facet)
            st = RECSYS_E_NOMEM;
    }
    if (st != RECSYS_OK) {
        recsys__err_saved s;
        recsys__err_save(&s);
        recsys_turn_free(t);
        work_free(&w);
        recsys__err_restore(&s);
        return st;
    }
    /* commit: nothing below fails */
    t->kind = w.question ? RECSYS_TURN_QUESTION : RECSYS_TURN_RESULT;
    t->candidates = w.nitems;
    t->result = w.res;
    w.res = NULL;
    if (w.next_key) {
        cv->asked[cv->nasked++] = w.next_key;
        w.next_key = NULL;
    }
    recsys__intent_free(w.m, &cv->acc);
    cv->acc = w.acc;
    recsys__intent_init(&w.acc);
    recsys__facet_free(w.m, &cv->pending);
    cv->pending = w.next;
    memset(&w.next, 0, sizeof w.next);
    recsys__free(w.m, cv->said);
    cv->said = w.said;
    w.said = NULL;
    work_free(&w);
    *out = t;
    return RECSYS_OK;
}

/* ------------------------------------------------------------ turns */

RECSYS_API void recsys_turn_free(recsys_turn *t)
{
    if (!t)
        return;
    recsys__mem m = t->mem;
    recsys__free(&m, t->question);
    recsys__free(&m, t->facet);
    recsys_result_free(t->result);
    recsys__free(&m, t);
}

RECSYS_API int32_t recsys_turn_kind(const recsys_turn *t)
{
    recsys__err_clear();
    return t ? t->kind : 0;
}

RECSYS_API const char *recsys_turn_question(const recsys_turn *t)
{
    recsys__err_clear();
    return t && t->question ? t->question : "";
}

RECSYS_API const char *recsys_turn_facet(const recsys_turn *t)
{
    recsys__err_clear();
    return t && t->facet ? t->facet : "";
}

RECSYS_API size_t recsys_turn_candidates(const recsys_turn *t)
{
    recsys__err_clear();
    return t ? t->candidates : 0;
}

RECSYS_API const recsys_result *recsys_turn_result(const recsys_turn *t)
{
    recsys__err_clear();
    return t ? t->result : NULL;
}
