/* cf_fixture.c - see cf_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cf_fixture.h"

#define CHECK(expr)                                                                          \
    do {                                                                                     \
        recsys_status cf_st = (expr);                                                        \
        if (cf_st != RECSYS_OK)                                                              \
            fail_msg("%s failed: %s (%s)", #expr, recsys_status_str(cf_st),                  \
                     recsys_last_error());                                                   \
    } while (0)

/* Calls fn for each comma-separated element of list. */
static void each_csv(const char *list, void (*fn)(void *arg, const char *s), void *arg)
{
    if (!list)
        return;
    char buf[256];
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        assert_true(n < sizeof buf);
        memcpy(buf, p, n);
        buf[n] = '\0';
        if (n)
            fn(arg, buf);
        p += n;
        if (*p == ',')
            p++;
    }
}

static void add_item(void *arg, const char *id)
{
    fixture_add_item(arg, &(fixture_item_def){ .id = id, .title = id });
}

fixture *cf_new(const char *ids)
{
    fixture *f = fixture_new();
    each_csv(ids, add_item, f);
    return f;
}

void cf_add_items(fixture *f, int n_items)
{
    char id[32];
    for (int i = 0; i < n_items; i++) {
        snprintf(id, sizeof id, "i%d", i);
        add_item(f, id);
    }
}

void cf_free(fixture *f)
{
    for (int s = 0; s < RECSYS__DERIVED_SLOTS; s++)
        if (f->derived.builder[s]) {
            f->derived.builder[s]->free(&f->mem, f->derived.state[s]);
            f->derived.builder[s] = NULL;
            f->derived.state[s] = NULL;
        }
    fixture_free(f);
}

typedef struct ev_arg {
    fixture *f;
    const char *user;
    int32_t type;
    int64_t ts;
} ev_arg;

static void add_event(void *arg, const char *item)
{
    ev_arg *a = arg;
    fixture_event(a->f, a->user, item, a->type, a->type == RECSYS_EVENT_RATING ? 5 : 0,
                  a->ts++);
}

void cf_events(fixture *f, const char *user, const char *items, int32_t type, int64_t ts)
{
    ev_arg a = { f, user, type, ts };
    each_csv(items, add_event, &a);
}

void cf_random_views(fixture *f, int n_users, int per_user, uint32_t seed)
{
    size_t nitems = f->model.catalog.ids.n;
    assert_true(nitems > 0 && (size_t)per_user <= nitems);
    unsigned char *taken = calloc(nitems, 1);
    assert_non_null(taken);
    uint64_t x = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
    char uid[32];
    for (int u = 0; u < n_users; u++) {
        snprintf(uid, sizeof uid, "r%d", u);
        memset(taken, 0, nitems);
        for (int k = 0; k < per_user;) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            double r = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
            size_t i = (size_t)(r * r * (double)nitems);       /* skewed to low indices */
            if (taken[i])
                continue;
            taken[i] = 1;
            fixture_event(f, uid, fixture_id(f, (uint32_t)i), RECSYS_EVENT_VIEW, 0,
                          FIXTURE_NOW - 1000 + k);
            k++;
        }
    }
    free(taken);
}

recsys__build_ctx cf_ctx(fixture *f, const recsys__mem *m)
{
    recsys__build_ctx c = { .mem = m ? m : &f->mem, .model = &f->model, .opt = f->opts.num,
                                 .seed = 42, .progress = false };
    return c;
}

void cf_drop(fixture *f, const recsys__builder *b)
{
    if (f->derived.builder[b->slot])
        f->derived.builder[b->slot]->free(&f->mem, f->derived.state[b->slot]);
    f->derived.builder[b->slot] = NULL;
    f->derived.state[b->slot] = NULL;
}

void *cf_build(fixture *f, const recsys__builder *b)
{
    cf_drop(f, b);
    recsys__build_ctx c = cf_ctx(f, NULL);
    void *st = (void *)0x1;
    CHECK(b->build(&c, &st));
    f->derived.state[b->slot] = st;
    f->derived.builder[b->slot] = b;
    f->derived.nitems = f->model.catalog.ids.n;
    f->derived.generation++;
    return st;
}

void cf_run(fixture *f, cf_ctor ctor, recsys_query *q, recsys_candidates *c)
{
    recsys_source_vtable vt;
    memset(&vt, 0xAB, sizeof vt);
    CHECK(ctor(&f->mem, &vt));
    assert_int_equal(vt.struct_size, sizeof vt);
    assert_null(vt.ctx);
    assert_null(vt.destroy);
    assert_non_null(vt.retrieve);
    recsys__cands_init(c, &f->mem, q, q->limit);
    CHECK(vt.retrieve(vt.ctx, q, c));
    assert_true(c->n <= q->limit);
}

const char *cf_ids(const fixture *f, const recsys_candidates *c)
{
    static _Thread_local char buf[4096]; /* test-only scratch */
    return fixture_cands_str(f, c, buf, sizeof buf);
}

double cf_score(const fixture *f, const recsys_candidates *c, const char *id)
{
    size_t i = fixture_cand_pos(f, c, id);
    if (i == SIZE_MAX)
        fail_msg("'%s' is not a candidate", id);
    return c->v[i].score;
}

const char *cf_row(fixture *f, cf_similar_fn similar, const void *state, const char *id, size_t k)
{
    static _Thread_local char buf[1024]; /* test-only scratch */
    uint32_t items[64];
    float scores[64];
    size_t n = 99;
    assert_true(k <= 64);
    assert_int_equal(similar(state, fixture_idx(f, id), k, items, scores, &n), RECSYS_OK);
    assert_true(n <= k);
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s:%.3f", i ? "," : "",
                                fixture_id(f, items[i]), scores[i]);
    return buf;
}

float cf_weight(fixture *f, cf_similar_fn similar, const void *state, const char *id,
                const char *other)
{
    uint32_t items[64];
    float scores[64];
    size_t n = 0;
    assert_int_equal(similar(state, fixture_idx(f, id), 64, items, scores, &n), RECSYS_OK);
    for (size_t k = 0; k < n; k++)
        if (items[k] == fixture_idx(f, other))
            return scores[k];
    fail_msg("%s is not in the row of %s", other, id);
    return 0;
}
