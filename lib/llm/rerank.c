/* rerank.c - listwise LLM re-ranking: windows, shuffled asks merged by Borda count, the
 * blend with the model's order, and the cold/warm routing (rerank.h). */
#include "rerank.h"
#include "prompt.h"
#include "../core/error.h"
#include "../core/options.h"
#include "../model/context.h"
#include <xxhash.h>

bool recsys__llm_user_cold(const recsys_query *q)
{
    double warm = recsys__query_opt(q, RECSYS_OPT_LLM_WARM_EVENTS);
    if (warm <= 0)
        return true;
    uint64_t n = q->user ? q->user->nevents : 0;
    return (double)n < warm;
}

bool recsys__rerank_wanted(const recsys_query *q)
{
    return recsys__query_opt(q, RECSYS_OPT_LLM_RERANK_N) > 0 && recsys__llm_user_cold(q);
}

/* ------------------------------------------------------------------------ Borda, blend */

typedef struct borda_ctx {
    const size_t *ranks;
    size_t k, n;
} borda_ctx;

static uint64_t borda_points(const borda_ctx *c, size_t i)
{
    uint64_t p = 0;
    for (size_t a = 0; a < c->k; a++)
        p += (uint64_t)(c->n - 1 - c->ranks[a * c->n + i]);
    return p;
}

static int by_points(const void *x, const void *y, void *arg)
{
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    uint64_t pi = borda_points(arg, i), pj = borda_points(arg, j);
    if (pi != pj)
        return pi > pj ? -1 : 1;
    return i < j ? -1 : i > j;
}

void recsys__rerank_borda(const size_t *ranks, size_t nanswers, size_t n, size_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = i;
    if (!nanswers || n < 2)
        return;
    borda_ctx c = { ranks, nanswers, n };
    qsort_r(out, n, sizeof *out, by_points, &c);
}

typedef struct blend_ctx {
    const size_t *llm;
    double w;
} blend_ctx;

static double blend_key(const blend_ctx *c, size_t i)
{
    return (1.0 - c->w) * (double)i + c->w * (double)c->llm[i];
}

static int by_blend(const void *x, const void *y, void *arg)
{
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    double ki = blend_key(arg, i), kj = blend_key(arg, j);
    if (ki != kj)
        return ki < kj ? -1 : 1;
    return i < j ? -1 : i > j;
}

void recsys__rerank_blend(const size_t *llm_rank, size_t n, double w, size_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = i;
    if (n < 2)
        return;
    blend_ctx c = { llm_rank, w > 1.0 ? 1.0 : (w >= 0.0 ? w : 0.0) };
    qsort_r(out, n, sizeof *out, by_blend, &c);
}

/* ------------------------------------------------------------------------ asking */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* shown[0..w): the window positions in the order ask k shows them (k = 0: as they are). */
static void show_order(const uint32_t *items, const size_t *win, size_t w, size_t k,
                       size_t *shown)
{
    for (size_t j = 0; j < w; j++)
        shown[j] = j;
    if (!k)
        return;
    uint64_t s = XXH3_64bits_withSeed(&k, sizeof k, 0x5eed);
    for (size_t j = 0; j < w; j++) /* the seed: the window as it stands and k (repeatable) */
        s ^= XXH3_64bits_withSeed(&items[win[j]], sizeof *items, 0) * (2 * (uint64_t)j + 1);
    for (size_t j = w - 1; j > 0; j--) { /* Fisher-Yates */
        size_t r = (size_t)(splitmix(&s) % (j + 1));
        size_t t = shown[j];
        shown[j] = shown[r];
        shown[r] = t;
    }
}

/* Everything one request's re-ranking allocates (freed by scratch_free). */
typedef struct scratch {
    char *head;       /* the prompt's start: instruction, data open, profile, query */
    size_t nhead;
    size_t *cur;      /* n: the list as the windows leave it (positions into items) */
    size_t *win;      /* W: one window's entries (positions into items) */
    size_t *shown;    /* W */
    size_t *parsed;   /* W */
    size_t *agg;      /* W */
    size_t *ranks;    /* K * W */
    size_t *lrank;    /* n */
} scratch;

static void scratch_free(const recsys__mem *m, scratch *s)
{
    recsys__free(m, s->head);
    recsys__free(m, s->cur);
    recsys__free(m, s->win);
    recsys__free(m, s->shown);
    recsys__free(m, s->parsed);
    recsys__free(m, s->agg);
    recsys__free(m, s->ranks);
    recsys__free(m, s->lrank);
}

static recsys_status build_head(const recsys_query *q, const recsys__mem *m, scratch *s)
{
    const recsys__llm_template *t = &recsys__llm_tpl_rerank;
    recsys__jw b = { .m = m };
    recsys__jw_puts(&b, t->instruction);
    recsys__jw_puts(&b, "\n");
    recsys__llm_data_open(&b);
    uint32_t fields = recsys__llm_profile_fields(q);
    if (q->user && fields) {
        recsys__jw_puts(&b, "{\"profile\":");
        recsys__llm_profile(&b, q, fields, NULL);
        recsys__jw_puts(&b, "}\n");
    }
    if (q->text && q->text[0]) {
        recsys__jw_puts(&b, "{\"query\":");
        recsys__llm_quote(&b, q->text, RECSYS__LLM_QUERY_MAX);
        recsys__jw_puts(&b, "}\n");
    }
    return recsys__jw_finish(&b, false, &s->head, &s->nhead);
}

/* The prompt showing win[shown[0..w)] as handles 1..w. */
static recsys_status build_prompt(const recsys_query *q, const recsys__mem *m, const scratch *s,
                                  const uint32_t *items, size_t w, char **out)
{
    recsys__jw b = { .m = m };
    recsys__jw_put(&b, s->head, s->nhead);
    for (size_t j = 0; j < w; j++) {
        recsys__llm_card(&b, q, items[s->win[s->shown[j]]], j + 1);
        recsys__jw_puts(&b, "\n");
    }
    recsys__llm_data_close(&b);
    return recsys__jw_finish(&b, false, out, NULL);
}

/* Asks window s->win[0..w) K times and reorders it by Borda count. RECSYS_OK when every ask
 * gave a usable order; else the reason the model's order must stand (NOMEM: fail). */
static recsys_status ask_window(const recsys__llm_route *llm, const recsys_query *q,
                                const recsys__mem *m, scratch *s, const uint32_t *items,
                                size_t w, size_t nshuffles, recsys__rerank_report *rep)
{
    const recsys__llm_template *t = &recsys__llm_tpl_rerank;
    int32_t max_tokens = t->max_tokens;
    if ((size_t)max_tokens < 16 + 4 * w) /* a handle, a comma and a space: up to 4 tokens */
        max_tokens = (int32_t)(16 + 4 * w);
    for (size_t k = 0; k < nshuffles; k++) {
        show_order(items, s->win, w, k, s->shown);
        char *prompt = NULL;
        RECSYS_TRY(build_prompt(q, m, s, items, w, &prompt));
        recsys__llm_ask a = { .task = t->task, .system = t->system, .prompt = prompt,
                              .schema = t->schema, .max_tokens = max_tokens,
                              .temperature = t->temperature };
        char *reply = NULL;
        size_t len = 0;
        rep->asks++;
        recsys_status st = recsys__llm_ask_run(llm->guard, llm->vt, q->opt, llm->budget, &a, m,
                                               &reply, &len);
        if (st == RECSYS_OK) {
            recsys__handles_stats hs;
            st = recsys__handles_parse(m, reply, len, w, s->parsed, &hs);
            if (st == RECSYS_OK) {
                recsys__llm_accept(llm->guard, &a);
                rep->repair.listed += hs.listed;
                rep->repair.unknown += hs.unknown;
                rep->repair.duplicate += hs.duplicate;
                rep->repair.missing += hs.missing;
                for (size_t p = 0; p < w; p++) /* answer position p shows shown[parsed[p]] */
                    s->ranks[k * w + s->shown[s->parsed[p]]] = p;
            } else if (st != RECSYS_E_NOMEM) {
                recsys__llm_reject(llm->guard, llm->budget, &a);
            }
        }
        recsys__free(m, reply);
        recsys__free(m, prompt);
        if (st != RECSYS_OK)
            return st;
    }
    recsys__rerank_borda(s->ranks, nshuffles, w, s->agg);
    for (size_t p = 0; p < w; p++) /* reuse parsed as the reordered window */
        s->parsed[p] = s->win[s->agg[p]];
    memcpy(s->win, s->parsed, w * sizeof *s->win);
    return RECSYS_OK;
}

recsys_status recsys__rerank(const recsys__llm_route *llm, const recsys_query *q,
                             const recsys__mem *m, const uint32_t *items, size_t n,
                             size_t *order, recsys__rerank_report *rep)
{
    recsys__rerank_report dummy;
    if (!rep)
        rep = &dummy;
    memset(rep, 0, sizeof *rep);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    if (n < 2)
        return RECSYS_OK;
    if (!llm || !llm->vt || !llm->vt->complete) {
        rep->why = RECSYS_E_NOT_FOUND;
        return RECSYS_OK;
    }
    size_t W = (size_t)recsys__query_opt(q, RECSYS_OPT_LLM_RERANK_WINDOW);
    size_t S = (size_t)recsys__query_opt(q, RECSYS_OPT_LLM_RERANK_STRIDE);
    size_t K = (size_t)recsys__query_opt(q, RECSYS_OPT_LLM_RERANK_SHUFFLES);
    double weight = recsys__query_opt(q, RECSYS_OPT_LLM_RERANK_WEIGHT);
    if (weight <= 0) /* the LLM's order would not count: ask nothing */
        return RECSYS_OK;
    W = W < 2 ? 2 : W;
    W = W > n ? n : W;
    S = S < 1 ? 1 : (S > W ? W : S);
    K = K < 1 ? 1 : K;
    scratch s;
    memset(&s, 0, sizeof s);
    s.cur = recsys__alloc(m, n * sizeof *s.cur);
    s.lrank = recsys__alloc(m, n * sizeof *s.lrank);
    s.win = recsys__alloc(m, W * sizeof *s.win);
    s.shown = recsys__alloc(m, W * sizeof *s.shown);
    s.parsed = recsys__alloc(m, W * sizeof *s.parsed);
    s.agg = recsys__alloc(m, W * sizeof *s.agg);
    s.ranks = recsys__calloc(m, K * W, sizeof *s.ranks);
    recsys_status st = s.cur && s.lrank && s.win && s.shown && s.parsed && s.agg && s.ranks
                           ? RECSYS_OK
                           : RECSYS_E_NOMEM;
    if (st == RECSYS_OK)
        st = build_head(q, m, &s);
    for (size_t i = 0; st == RECSYS_OK && i < n; i++)
        s.cur[i] = i;
    /* bottom-up: windows start at n - W, n - W - S, ..., and finally 0 */
    size_t start = n - W;
    while (st == RECSYS_OK) {
        memcpy(s.win, s.cur + start, W * sizeof *s.win);
        rep->windows++;
        st = ask_window(llm, q, m, &s, items, W, K, rep);
        if (st == RECSYS_OK)
            memcpy(s.cur + start, s.win, W * sizeof *s.win);
        if (start == 0)
            break;
        start = start > S ? start - S : 0;
    }
    if (st == RECSYS_OK) {
        for (size_t p = 0; p < n; p++)
            s.lrank[s.cur[p]] = p;
        recsys__rerank_blend(s.lrank, n, weight, order);
        rep->used = true;
    } else if (st != RECSYS_E_NOMEM) { /* the model's order stands */
        rep->why = st;
        recsys__err_clear();
        st = RECSYS_OK;
    }
    scratch_free(m, &s);
    return st;
}
