/* featlog.c - feature rows awaiting their outcome (see featlog.h). */
#include "featlog.h"
#include "../core/error.h"
#include "../core/options.h"
#include <xxhash.h>

struct recsys__featlog_entry {
    uint64_t key;   /* XXH3-64 of the request id */
    char *id;       /* the request id (owned) */
    size_t n;
    uint32_t *items;
    float *rows;    /* n x RECSYS__NFEAT */
    uint8_t *done;  /* learnt already (the main model) */
    uint8_t *heads; /* the outcome heads (bits 1u << RECSYS__OBJ_*) learnt as positives */
};

void recsys__featlog_init(recsys__featlog *fl, const recsys__mem *m)
{
    memset(fl, 0, sizeof *fl);
    fl->mem = m;
    pthread_mutex_init(&fl->mu, NULL);
}

static void entry_clear(const recsys__mem *m, recsys__featlog_entry *en)
{
    recsys__free(m, en->id);
    recsys__free(m, en->items);
    recsys__free(m, en->rows);
    recsys__free(m, en->done);
    recsys__free(m, en->heads);
    memset(en, 0, sizeof *en);
}

void recsys__featlog_free(recsys__featlog *fl)
{
    if (!fl->mem)
        return;
    for (size_t i = 0; fl->v && i < RECSYS__FEATLOG_REQUESTS; i++)
        entry_clear(fl->mem, &fl->v[i]);
    recsys__free(fl->mem, fl->v);
    pthread_mutex_destroy(&fl->mu);
    memset(fl, 0, sizeof *fl);
}

/* The options' FTRL parameters, in force before the model learns (they may have changed). */
static void use_params(recsys__linear *lm, const double *opt)
{
    recsys__linear_params p;
    recsys__linear_params_from_opt(opt, &p);
    (void)recsys__linear_set_params(lm, &p); /* the option table bounds them: cannot fail */
}

static double impression_weight(const double *opt)
{
    return opt[recsys__opt_slot(RECSYS_OPT_RANK_LABEL_IMPRESSION)];
}

recsys_status recsys__featlog_put(recsys__featlog *fl, recsys__linear *lm, const double *opt,
                                  const char *request_id, const uint32_t *items,
                                  const float *rows, size_t n)
{
    if (n == 0)
        return RECSYS_OK;
    const recsys__mem *m = fl->mem;
    recsys__featlog_entry en;
    memset(&en, 0, sizeof en);
    en.id = recsys__strdup(m, request_id);
    en.items = recsys__alloc(m, n * sizeof *en.items);
    en.rows = recsys__alloc(m, n * RECSYS__NFEAT * sizeof *en.rows);
    en.done = recsys__calloc(m, n, sizeof *en.done);
    en.heads = recsys__calloc(m, n, sizeof *en.heads);
    if (!en.id || !en.items || !en.rows || !en.done || !en.heads) {
        entry_clear(m, &en);
        return RECSYS_E_NOMEM;
    }
    en.key = XXH3_64bits(request_id, strlen(request_id));
    en.n = n;
    memcpy(en.items, items, n * sizeof *items);
    memcpy(en.rows, rows, n * RECSYS__NFEAT * sizeof *rows);
    pthread_mutex_lock(&fl->mu);
    if (!fl->v) {
        fl->v = recsys__calloc(m, RECSYS__FEATLOG_REQUESTS, sizeof *fl->v);
        if (!fl->v) {
            pthread_mutex_unlock(&fl->mu);
            entry_clear(m, &en);
            return RECSYS_E_NOMEM;
        }
    }
    recsys__featlog_entry *slot = &fl->v[fl->head];
    if (fl->n == RECSYS__FEATLOG_REQUESTS) { /* the oldest leaves: its silence is negative */
        use_params(lm, opt);
        for (size_t i = 0; i < slot->n; i++) {
            const float *row = slot->rows + i * RECSYS__NFEAT;
            if (!slot->done[i] &&
                recsys__linear_update(lm, row, 0, impression_weight(opt)) == RECSYS_OK)
                fl->learnt_neg++;
            /* each head: a negative where its outcome did not come */
            for (int k = 0; k < RECSYS__NOBJ; k++)
                if (!(slot->heads[i] & (1u << k)))
                    (void)recsys__linear_update_objective(lm, k, row, 0, 1.0);
        }
        entry_clear(m, slot);
    } else {
        fl->n++;
    }
    *slot = en;
    fl->head = (fl->head + 1) % RECSYS__FEATLOG_REQUESTS;
    pthread_mutex_unlock(&fl->mu);
    return RECSYS_OK;
}

void recsys__featlog_outcome(recsys__featlog *fl, recsys__linear *lm, const double *opt,
                             const char *request_id, uint32_t item, int32_t type)
{
    recsys__featlog_outcome_value(fl, lm, opt, request_id, item, type, NAN);
}

void recsys__featlog_outcome_value(recsys__featlog *fl, recsys__linear *lm, const double *opt,
                                   const char *request_id, uint32_t item, int32_t type,
                                   double value)
{
    int label = 0;
    double w = 0;
    if (!request_id || type == RECSYS_EVENT_IMPRESSION ||
        !recsys__linear_label(opt, type, &label, &w))
        return;
    /* an unknown value (NAN): a watch or dwell counts, a rating does not */
    unsigned heads = recsys__linear_objectives(type, isnan(value) ? 1.0 : value);
    if (isnan(value) && type == RECSYS_EVENT_RATING)
        heads = 0;
    uint64_t key = XXH3_64bits(request_id, strlen(request_id));
    pthread_mutex_lock(&fl->mu);
    for (size_t k = 0; fl->v && k < fl->n; k++) { /* newest first */
        size_t at = (fl->head + RECSYS__FEATLOG_REQUESTS - 1 - k) % RECSYS__FEATLOG_REQUESTS;
        recsys__featlog_entry *en = &fl->v[at];
        if (en->key != key || strcmp(en->id, request_id) != 0)
            continue;
        for (size_t i = 0; i < en->n; i++) {
            if (en->items[i] != item)
                continue;
            const float *row = en->rows + i * RECSYS__NFEAT;
            if (!en->done[i]) {
                use_params(lm, opt);
                en->done[i] = 1;
                if (recsys__linear_update(lm, row, label, w) == RECSYS_OK)
                    label ? fl->learnt_pos++ : fl->learnt_neg++;
            }
            for (int h = 0; h < RECSYS__NOBJ; h++)
                if ((heads & (1u << h)) && !(en->heads[i] & (1u << h))) {
                    en->heads[i] |= (uint8_t)(1u << h);
                    (void)recsys__linear_update_objective(lm, h, row, 1, 1.0);
                }
        }
        break;
    }
    pthread_mutex_unlock(&fl->mu);
}
