/* rules.c - business rules: validation, the hard rules, boost, bury and the final arrangement
 * (see rules.h for the exact semantics). */
#include "rules.h"
#include "../core/abi.h"
#include "../core/error.h"
#include "../core/utf8.h"

/* ---------------------------------------------------------------- compile -------------- */

void recsys__rule_free(const recsys__mem *m, recsys__rule *r)
{
    if (!r)
        return;
    recsys__expr_free(r->expr);
    recsys__free(m, r->item_id);
    memset(r, 0, sizeof *r);
}

recsys_status recsys__rule_compile(const recsys__mem *m, const recsys_rule *pub,
                                   recsys__rule *out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "rule: out is NULL");
    memset(out, 0, sizeof *out);
    if (!pub)
        return recsys__err(RECSYS_E_INVALID_ARG, "rule: the rule record is NULL");
    recsys_rule r;
    /* the 0.2 record ends with reserved; newer callers' zero tails are accepted */
    RECSYS_TRY(recsys__record_copy(&r, sizeof r, pub, pub->struct_size,
                                   RECSYS_OFFSETOFEND(recsys_rule, reserved), "recsys_rule"));
    if (r.reserved0 || r.reserved)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_rule: the reserved fields must be 0");
    RECSYS_TRY(recsys__rule_check(&r));
    recsys__rule c = { .kind = r.kind, .value = r.value + 0.0, .position = r.position };
    if (r.expr) {
        recsys_status st = recsys__expr_parse(m, r.expr, strlen(r.expr), &c.expr);
        if (st != RECSYS_OK) {
            char pre[32];
            snprintf(pre, sizeof pre, "%s rule", recsys__rule_kind_name(r.kind));
            if (st != RECSYS_E_NOMEM)
                recsys__err_prefix(pre);
            return st;
        }
    }
    if (r.item_id && !(c.item_id = recsys__strdup(m, r.item_id))) {
        recsys__rule_free(m, &c);
        return RECSYS_E_NOMEM;
    }
    *out = c;
    return RECSYS_OK;
}

recsys_status recsys__rule_bind(recsys__rule *r, const recsys__catalog *c)
{
    if (!r || !c)
        return recsys__err(RECSYS_E_INVALID_ARG, "rule bind: %s is NULL",
                           r ? "the catalog" : "the rule");
    if (!r->expr)
        return RECSYS_OK;
    recsys_status st = recsys__expr_bind(r->expr, c);
    if (st != RECSYS_OK) {
        char pre[32];
        const char *kn = recsys__rule_kind_name(r->kind);
        snprintf(pre, sizeof pre, "%s rule", kn ? kn : "a");
        recsys__err_prefix(pre);
    }
    return st;
}

void recsys__rule_public(const recsys__rule *r, recsys_rule *out)
{
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    out->kind = r->kind;
    out->expr = r->expr ? recsys__expr_text(r->expr, NULL) : NULL;
    out->value = r->value;
    out->position = r->position;
    out->item_id = r->item_id;
}

/* ---------------------------------------------------------------- matching ------------- */

static bool matches(const recsys__rule *r, const recsys_item *it, const recsys__expr_ctx *ctx)
{
    return recsys__expr_eval(r->expr, it, ctx);
}

static bool has_kind(const recsys__rule *rs, size_t n, int32_t kind)
{
    for (size_t i = 0; i < n; i++)
        if (rs[i].kind == kind)
            return true;
    return false;
}

/* True when it matches a rule of kind (an expression; no expression never matches). */
static bool any_of(const recsys__rule *rs, size_t n, int32_t kind, const recsys_item *it,
                   const recsys__expr_ctx *ctx)
{
    for (size_t i = 0; i < n; i++)
        if (rs[i].kind == kind && matches(&rs[i], it, ctx))
            return true;
    return false;
}

/* 0 eligible, else why not: 1 a FILTER fails, 2 a BLOCK matches, 3 no item. */
static int why_not(const recsys__rule *rs, size_t n, const recsys_item *it,
                   const recsys__expr_ctx *ctx)
{
    if (!it)
        return 3;
    for (size_t i = 0; i < n; i++) {
        if (rs[i].kind == RECSYS_RULE_FILTER && !matches(&rs[i], it, ctx))
            return 1;
        if (rs[i].kind == RECSYS_RULE_BLOCK && matches(&rs[i], it, ctx))
            return 2;
    }
    return 0;
}

bool recsys__rules_eligible(const recsys__rule *rs, size_t n, const recsys_item *it,
                            const recsys__expr_ctx *ctx)
{
    return why_not(rs, n, it, ctx) == 0;
}

recsys_status recsys__rules_drop(const recsys__rule *rs, size_t n, const recsys__expr_ctx *ctx,
                                 recsys_candidates *c)
{
    if (!c || !ctx || (n && !rs))
        return recsys__err(RECSYS_E_INVALID_ARG, "rules: an argument is NULL");
    if (!has_kind(rs, n, RECSYS_RULE_FILTER) && !has_kind(rs, n, RECSYS_RULE_BLOCK))
        return RECSYS_OK;
    static const char *const reason[] = { NULL, "rule filter", "rule block", "removed" };
    const recsys__catalog *cat = &c->q->model->catalog;
    for (size_t i = 0; i < c->n; i++) {
        if (c->v[i].dropped)
            continue;
        int w = why_not(rs, n, recsys__catalog_get(cat, c->v[i].item), ctx);
        if (w)
            RECSYS_TRY(recsys_candidates_drop(c, i, reason[w]));
    }
    return RECSYS_OK;
}

void recsys__rules_boost(const recsys__rule *rs, size_t n, const recsys__expr_ctx *ctx,
                         const recsys__catalog *cat, recsys__cand *v, size_t nv)
{
    if (!has_kind(rs, n, RECSYS_RULE_BOOST))
        return;
    for (size_t i = 0; i < nv; i++) {
        const recsys_item *it = recsys__catalog_get(cat, v[i].item);
        if (!it)
            continue;
        double add = 0;
        for (size_t r = 0; r < n; r++)
            if (rs[r].kind == RECSYS_RULE_BOOST && matches(&rs[r], it, ctx))
                add += rs[r].value;
        if (add != 0) {
            double s = v[i].score + add;
            v[i].score = isfinite(s) ? s : DBL_MAX;
        }
    }
}

/* ---------------------------------------------------------------- bury ----------------- */

static void reverse(recsys__cand *v, size_t n)
{
    for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
        recsys__cand t = v[i];
        v[i] = v[j - 1];
        v[j - 1] = t;
    }
}

/* v[0..a) v[a..a+b) -> v[a..a+b) v[0..a) */
static void rotate(recsys__cand *v, size_t a, size_t b)
{
    if (!a || !b)
        return;
    reverse(v, a);
    reverse(v + a, b);
    reverse(v, a + b);
}

typedef struct bury_ctx {
    const recsys__rule *rs;
    size_t n;
    const recsys__expr_ctx *ctx;
    const recsys__catalog *cat;
} bury_ctx;

/* Stable partition of v[0..n) (not buried first); returns how many are not buried. Each
 * element is tested once, at the leaves; recursion depth log2(n). */
static size_t partition(const bury_ctx *b, recsys__cand *v, size_t n)
{
    if (n == 1) {
        const recsys_item *it = recsys__catalog_get(b->cat, v[0].item);
        return it && any_of(b->rs, b->n, RECSYS_RULE_BURY, it, b->ctx) ? 0 : 1;
    }
    size_t h = n / 2;
    size_t x = partition(b, v, h), y = partition(b, v + h, n - h);
    rotate(v + x, h - x, y); /* [keep x][bury h-x][keep y][bury] -> [keep x+y][bury] */
    return x + y;
}

void recsys__rules_bury(const recsys__rule *rs, size_t n, const recsys__expr_ctx *ctx,
                        const recsys__catalog *cat, recsys__cand *v, size_t nv)
{
    if (!nv || !has_kind(rs, n, RECSYS_RULE_BURY))
        return;
    bury_ctx b = { rs, n, ctx, cat };
    partition(&b, v, nv);
}

/* ---------------------------------------------------------------- arrange -------------- */

#define NONE32 UINT32_MAX

/* item -> index in E (NONE32: seen, not eligible); open addressing, key item + 1. */
typedef struct slot_ent {
    uint32_t key, e;
} slot_ent;

typedef struct arr {
    const recsys__rule *rs;
    size_t n;
    const recsys__expr_ctx *ctx;
    const recsys__catalog *cat;
    size_t *pos;      /* E index -> position in the input */
    uint32_t *item;   /* E index -> catalog index */
    uint8_t *sel;     /* E index -> 0 free, PINNED, CHOSEN */
    uint8_t *bur;     /* E index -> 0 unknown, 1 not buried, 2 buried */
    size_t ne;
    slot_ent *map;
    size_t mapmask;
} arr;

enum { FREE = 0, PINNED = 1, CHOSEN = 2 };

static slot_ent *map_at(const arr *a, uint32_t item)
{
    size_t i = ((size_t)item * 0x9E3779B1u) & a->mapmask;
    while (a->map[i].key && a->map[i].key != item + 1u)
        i = (i + 1) & a->mapmask;
    return &a->map[i];
}

static const recsys_item *e_item(const arr *a, size_t e)
{
    return recsys__catalog_get(a->cat, a->item[e]);
}

static bool buried(arr *a, size_t e)
{
    if (!a->bur[e])
        a->bur[e] = any_of(a->rs, a->n, RECSYS_RULE_BURY, e_item(a, e), a->ctx) ? 2 : 1;
    return a->bur[e] == 2;
}

/* The E index a pin places, or SIZE_MAX to skip it. */
static size_t pin_target(const arr *a, const recsys__rule *r)
{
    if (r->item_id) {
        uint32_t idx = recsys__catalog_find(a->cat, r->item_id);
        if (idx == RECSYS_IDS_NONE)
            return SIZE_MAX;
        const slot_ent *s = map_at(a, idx);
        if (!s->key || s->e == NONE32 || a->sel[s->e])
            return SIZE_MAX;
        if (r->expr && !matches(r, e_item(a, s->e), a->ctx))
            return SIZE_MAX;
        return s->e;
    }
    for (size_t e = 0; e < a->ne; e++)
        if (!a->sel[e] && matches(r, e_item(a, e), a->ctx))
            return e;
    return SIZE_MAX;
}

static void arr_free(const recsys__mem *m, arr *a, size_t *slots)
{
    recsys__free(m, a->pos);
    recsys__free(m, a->item);
    recsys__free(m, a->sel);
    recsys__free(m, a->map);
    recsys__free(m, slots);
}

recsys_status recsys__rules_arrange(const recsys__rule *rs, size_t n, const recsys__expr_ctx *ctx,
                                    const recsys__catalog *cat, const uint32_t *items,
                                    size_t nitems, size_t stride, size_t k, size_t *out,
                                    size_t *nout)
{
    if (!nout)
        return recsys__err(RECSYS_E_INVALID_ARG, "rules arrange: nout is NULL");
    *nout = 0;
    if (!ctx || !cat || (n && !rs) ||
        (nitems && (!items || stride < sizeof *items || stride % sizeof *items)) ||
        (k && nitems && !out))
        return recsys__err(RECSYS_E_INVALID_ARG, "rules arrange: an argument is NULL or the "
                                                 "stride %zu is not a positive multiple of 4",
                           stride);
    if (!k || !nitems)
        return RECSYS_OK;
    const recsys__mem *m = cat->mem;
    arr a = { .rs = rs, .n = n, .ctx = ctx, .cat = cat };
    size_t mapcap = 16;
    while (mapcap < 2 * nitems)
        mapcap *= 2;
    size_t *slots = NULL;
    a.pos = recsys__calloc(m, nitems, sizeof *a.pos);
    a.item = recsys__calloc(m, nitems, sizeof *a.item);
    a.sel = recsys__calloc(m, nitems, 2); /* sel, then bur */
    a.map = recsys__calloc(m, mapcap, sizeof *a.map);
    if (!a.pos || !a.item || !a.sel || !a.map) {
        arr_free(m, &a, slots);
        return RECSYS_E_NOMEM;
    }
    a.bur = a.sel + nitems;
    a.mapmask = mapcap - 1;

    /* E: the eligible items, first occurrence each, in rank order */
    for (size_t i = 0; i < nitems; i++) {
        uint32_t idx = *(const uint32_t *)(const void *)((const char *)items + i * stride);
        slot_ent *s = map_at(&a, idx);
        if (s->key)
            continue; /* a repeat */
        s->key = idx + 1u;
        s->e = NONE32;
        if (!recsys__rules_eligible(rs, n, recsys__catalog_get(cat, idx), ctx))
            continue;
        s->e = (uint32_t)a.ne;
        a.pos[a.ne] = i;
        a.item[a.ne++] = idx;
    }
    size_t kk = RECSYS_MIN(k, a.ne), left = kk;
    if (kk && !(slots = recsys__alloc(m, kk * sizeof *slots))) {
        arr_free(m, &a, slots);
        return RECSYS_E_NOMEM;
    }
    for (size_t j = 0; j < kk; j++)
        slots[j] = SIZE_MAX;

    /* 1. pins */
    for (size_t r = 0; r < n; r++) {
        if (rs[r].kind != RECSYS_RULE_PIN || (size_t)rs[r].position >= kk ||
            slots[rs[r].position] != SIZE_MAX)
            continue;
        size_t e = pin_target(&a, &rs[r]);
        if (e == SIZE_MAX)
            continue;
        slots[rs[r].position] = e;
        a.sel[e] = PINNED;
        left--;
    }
    /* 2. promotions */
    for (size_t r = 0; r < n && left; r++) {
        if (rs[r].kind != RECSYS_RULE_PROMOTE)
            continue;
        double want = ceil(rs[r].value * (double)k - 1e-9);
        size_t need = want >= (double)kk ? kk : (size_t)want, have = 0;
        for (size_t e = 0; e < a.ne && have < need; e++)
            if (a.sel[e] && matches(&rs[r], e_item(&a, e), ctx))
                have++;
        for (size_t e = 0; e < a.ne && have < need && left; e++)
            if (!a.sel[e] && matches(&rs[r], e_item(&a, e), ctx)) {
                a.sel[e] = CHOSEN;
                have++;
                left--;
            }
    }
    /* 3. backfill: items not buried first, then buried ones */
    for (int pass = 0; pass < 2 && left; pass++)
        for (size_t e = 0; e < a.ne && left; e++)
            if (!a.sel[e] && buried(&a, e) == (pass == 1)) {
                a.sel[e] = CHOSEN;
                left--;
            }
    /* 4. order: pins in place; the rest not buried, then buried, each in rank order (the
     * chosen items are exactly as many as the free slots) */
    size_t j = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t e = 0; e < a.ne; e++)
            if (a.sel[e] == CHOSEN && buried(&a, e) == (pass == 1)) {
                while (j < kk && slots[j] != SIZE_MAX)
                    j++;
                if (j < kk)
                    slots[j] = e;
            }
    for (j = 0; j < kk; j++)
        out[j] = a.pos[slots[j]];
    *nout = kk;
    arr_free(m, &a, slots);
    return RECSYS_OK;
}
