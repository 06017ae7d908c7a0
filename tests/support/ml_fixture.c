/* ml_fixture.c - see ml_fixture.h. */
#include "ml_fixture.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef struct ml_ctx {
    fixture *f;
    recsys_source_vtable vt;
} ml_ctx;

static recsys_status ml_rank(void *arg, uint32_t user, const uint8_t *known, uint32_t *list,
                             size_t *n)
{
    ml_ctx *c = arg;
    char uid[32];
    snprintf(uid, sizeof uid, "u%u", user);
    recsys_query *q = fixture_query(c->f, uid, NULL, RECSYS__EVAL_KMAX);
    recsys_candidates cand;
    recsys__cands_init(&cand, &c->f->mem, q, q->limit);
    recsys_status st = c->vt.retrieve(c->vt.ctx, q, &cand);
    *n = 0;
    for (size_t i = 0; st == RECSYS_OK && i < cand.n && *n < RECSYS__EVAL_KMAX; i++)
        if (!known[cand.v[i].item]) /* the fixture's item index is the data set's */
            list[(*n)++] = cand.v[i].item;
    recsys__cands_free(&cand);
    return st;
}

bool ml_eval_source(ml_prepare_fn prepare, void (*drop)(fixture *f, void *arg), void *arg,
                    recsys_status (*make_source)(const recsys__mem *, recsys_source_vtable *),
                    recsys__eval_metrics *out)
{
    const char *dir = getenv("RECSYS_DATA_DIR");
    if (!dir)
        return false;
    char path[1024];
    snprintf(path, sizeof path, "%s/ml-100k/u.data", dir);
    const recsys__mem *m = &recsys__mem_default;
    recsys__eval_data d;
    if (recsys__eval_read(m, path, RECSYS__EVAL_ML100K, RECSYS__EVAL_ALL, &d) != RECSYS_OK)
        return false;
    recsys__eval_part train, test;
    assert_int_equal(recsys__eval_split(m, &d.all, &train, &test), RECSYS_OK);
    fixture *f = fixture_new();
    for (size_t i = 0; i < d.items.n; i++) { /* in index order: fixture index = data index */
        fixture_item_def def = { .id = d.items.name[i] };
        assert_int_equal(fixture_add_item(f, &def), (uint32_t)i);
    }
    char uid[32];
    for (size_t k = 0; k < train.n; k++) {
        snprintf(uid, sizeof uid, "u%u", train.ev[k].user);
        fixture_event(f, uid, d.items.name[train.ev[k].item], RECSYS_EVENT_VIEW, 0,
                      train.ev[k].ts);
    }
    prepare(f, arg);
    ml_ctx c = { f, { 0 } };
    recsys_source_vtable_init(&c.vt);
    assert_int_equal(make_source(&f->mem, &c.vt), RECSYS_OK);
    assert_int_equal(recsys__eval_run(m, d.items.n, &train, &test, ml_rank, &c, NULL, out),
                     RECSYS_OK);
    drop(f, arg);
    fixture_free(f);
    recsys__eval_part_free(m, &train);
    recsys__eval_part_free(m, &test);
    recsys__eval_data_free(&d);
    return true;
}
