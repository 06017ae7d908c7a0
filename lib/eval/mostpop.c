/* mostpop.c - MostPopular, the protocol's reference model (section 7): every item scores the
 * number of distinct train users who interacted with it; full ranking over the candidates. */
#include "eval.h"
#include "../core/error.h"

recsys_status recsys__eval_mostpop_scores(const recsys__mem *m, size_t nitems,
                                          const recsys__eval_part *train, double **score)
{
    if (!score)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval mostpop: output is NULL");
    *score = NULL;
    if (!m || !train || !train->off)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval mostpop: allocator or train part is NULL");
    double *s = recsys__calloc(m, nitems ? nitems : 1, sizeof *s);
    uint32_t *last = recsys__alloc(m, (nitems ? nitems : 1) * sizeof *last);
    if (!s || !last) {
        recsys__free(m, s);
        recsys__free(m, last);
        return RECSYS_E_NOMEM;
    }
    for (size_t i = 0; i < nitems; i++)
        last[i] = UINT32_MAX;
    for (size_t i = 0; i < train->n; i++) {
        const recsys__eval_event *e = &train->ev[i];
        if (e->item >= nitems) {
            recsys__free(m, s);
            recsys__free(m, last);
            return recsys__err(RECSYS_E_INVALID_ARG, "eval mostpop: item %" PRIu32
                               " is beyond the %zu items", e->item, nitems);
        }
        if (last[e->item] != e->user) { /* events are grouped by user: count each user once */
            last[e->item] = e->user;
            s[e->item] += 1.0;
        }
    }
    recsys__free(m, last);
    *score = s;
    return RECSYS_OK;
}

typedef struct pop_ctx {
    const double *score;
    size_t nitems;
} pop_ctx;

static recsys_status pop_rank(void *ctx, uint32_t user, const uint8_t *known, uint32_t *list,
                              size_t *n)
{
    const pop_ctx *c = ctx;
    RECSYS_UNUSED(user);
    recsys__eval_topk(c->score, c->nitems, known, RECSYS__EVAL_KMAX, list, n);
    return RECSYS_OK;
}

recsys_status recsys__eval_mostpop(const recsys__mem *m, size_t nitems,
                                   const recsys__eval_part *train, const recsys__eval_part *test,
                                   recsys__eval_metrics *out)
{
    double *score = NULL;
    RECSYS_TRY(recsys__eval_mostpop_scores(m, nitems, train, &score));
    pop_ctx c = { score, nitems };
    recsys_status st = recsys__eval_run(m, nitems, train, test, pop_rank, &c, NULL, out);
    recsys__free(m, score);
    return st;
}
