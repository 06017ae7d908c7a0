/* rank.c - a position-indexed max-heap of items by decayed-counter key (see rank.h). */
#include "rank.h"
#include "../core/error.h"

recsys_status recsys__rank_grow(const recsys__mem *m, recsys__rank *r, size_t oldcap, size_t cap)
{
    uint32_t *heap = recsys__realloc_array(m, r->heap, cap, sizeof *heap);
    if (!heap)
        return RECSYS_E_NOMEM;
    r->heap = heap;
    uint32_t *pos = recsys__realloc_array(m, r->pos, cap, sizeof *pos);
    if (!pos)
        return RECSYS_E_NOMEM;
    r->pos = pos;
    double *key = recsys__realloc_array(m, r->key, cap, sizeof *key);
    if (!key)
        return RECSYS_E_NOMEM;
    r->key = key;
    for (size_t i = oldcap; i < cap; i++)
        r->pos[i] = 0;
    return RECSYS_OK;
}

void recsys__rank_free(const recsys__mem *m, recsys__rank *r)
{
    recsys__free(m, r->heap);
    recsys__free(m, r->pos);
    recsys__free(m, r->key);
    memset(r, 0, sizeof *r);
}

/* a ranks above b */
static bool above(const recsys__rank *r, uint32_t a, uint32_t b)
{
    return r->key[a] > r->key[b] || (r->key[a] == r->key[b] && a < b);
}

static void place(recsys__rank *r, size_t i, uint32_t item)
{
    r->heap[i] = item;
    r->pos[item] = (uint32_t)i + 1;
}

static void sift_up(recsys__rank *r, size_t i)
{
    uint32_t item = r->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!above(r, item, r->heap[p]))
            break;
        place(r, i, r->heap[p]);
        i = p;
    }
    place(r, i, item);
}

static void sift_down(recsys__rank *r, size_t i)
{
    uint32_t item = r->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        uint32_t bi = item;
        if (l < r->n && above(r, r->heap[l], bi)) {
            best = l;
            bi = r->heap[l];
        }
        if (l + 1 < r->n && above(r, r->heap[l + 1], bi))
            best = l + 1;
        if (best == i)
            break;
        place(r, i, r->heap[best]);
        i = best;
    }
    place(r, i, item);
}

static void remove_at(recsys__rank *r, size_t i)
{
    r->pos[r->heap[i]] = 0;
    r->n--;
    if (i == r->n)
        return;
    uint32_t moved = r->heap[r->n];
    place(r, i, moved);
    sift_down(r, i);
    sift_up(r, r->pos[moved] - 1);
}

void recsys__rank_set(recsys__rank *r, uint32_t item, double v, int64_t ts, double hl)
{
    if (!r->pos)
        return;
    size_t at = r->pos[item];
    if (!(v > 0) || !isfinite(v)) {
        if (at)
            remove_at(r, at - 1);
        return;
    }
    r->key[item] = log2(v) + (double)ts / hl;
    if (!at) {
        place(r, r->n++, item);
        sift_up(r, r->n - 1);
    } else {
        sift_up(r, at - 1);
        sift_down(r, r->pos[item] - 1);
    }
}

void recsys__rank_clear(recsys__rank *r)
{
    for (size_t i = 0; i < r->n; i++)
        r->pos[r->heap[i]] = 0;
    r->n = 0;
}

/* The walk's frontier: a max-heap of heap indices, ordered by their items. */
typedef struct frontier {
    const recsys__rank *r;
    uint32_t *v;
    size_t n, cap;
} frontier;

static bool f_above(const frontier *f, uint32_t a, uint32_t b)
{
    return above(f->r, f->r->heap[a], f->r->heap[b]);
}

static recsys_status f_push(const recsys__mem *m, frontier *f, uint32_t hi)
{
    RECSYS_TRY(RECSYS_GROW(m, f->v, f->cap, f->n + 1));
    size_t i = f->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!f_above(f, hi, f->v[p]))
            break;
        f->v[i] = f->v[p];
        i = p;
    }
    f->v[i] = hi;
    return RECSYS_OK;
}

static uint32_t f_pop(frontier *f)
{
    uint32_t top = f->v[0], x = f->v[--f->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        uint32_t bx = x;
        if (l < f->n && f_above(f, f->v[l], bx)) {
            best = l;
            bx = f->v[l];
        }
        if (l + 1 < f->n && f_above(f, f->v[l + 1], bx))
            best = l + 1;
        if (best == i)
            break;
        f->v[i] = f->v[best];
        i = best;
    }
    if (f->n)
        f->v[i] = x;
    return top;
}

recsys_status recsys__rank_walk(const recsys__rank *r, const recsys__mem *m,
                                bool (*visit)(void *arg, uint32_t item, double key), void *arg)
{
    if (!r->n)
        return RECSYS_OK;
    frontier f = { r, NULL, 0, 0 };
    recsys_status st = f_push(m, &f, 0);
    while (st == RECSYS_OK && f.n) {
        uint32_t hi = f_pop(&f);
        uint32_t item = r->heap[hi];
        if (!visit(arg, item, r->key[item]))
            break;
        size_t l = 2 * (size_t)hi + 1;
        if (l < r->n)
            st = f_push(m, &f, (uint32_t)l);
        if (st == RECSYS_OK && l + 1 < r->n)
            st = f_push(m, &f, (uint32_t)l + 1);
    }
    recsys__free(m, f.v);
    return st;
}
