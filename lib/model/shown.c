/* shown.c - recently shown items per user (see shown.h). */
#include "shown.h"
#include "../core/error.h"

struct recsys__shown_ring {
    uint32_t n, head; /* entries, and the slot the next one goes to */
    uint32_t item[RECSYS__SHOWN_MAX];
    int64_t ts[RECSYS__SHOWN_MAX];
};

void recsys__shown_init(recsys__shown *s, const recsys__mem *m)
{
    memset(s, 0, sizeof *s);
    s->mem = m;
    pthread_mutex_init(&s->mu, NULL);
}

void recsys__shown_free(recsys__shown *s)
{
    if (!s->mem)
        return;
    for (size_t i = 0; i < s->cap; i++)
        recsys__free(s->mem, s->by_user[i]);
    recsys__free(s->mem, s->by_user);
    pthread_mutex_destroy(&s->mu);
    memset(s, 0, sizeof *s);
}

recsys_status recsys__shown_record(recsys__shown *s, uint32_t user, const uint32_t *items,
                                   size_t n, int64_t ts)
{
    if (n == 0)
        return RECSYS_OK;
    pthread_mutex_lock(&s->mu);
    recsys_status st = RECSYS_OK;
    if (user >= s->cap) {
        size_t cap = s->cap;
        st = RECSYS_GROW(s->mem, s->by_user, cap, (size_t)user + 1);
        if (st == RECSYS_OK) {
            memset(s->by_user + s->cap, 0, (cap - s->cap) * sizeof *s->by_user);
            s->cap = cap;
        }
    }
    recsys__shown_ring *r = st == RECSYS_OK ? s->by_user[user] : NULL;
    if (st == RECSYS_OK && !r) {
        r = recsys__calloc(s->mem, 1, sizeof *r);
        if (!r)
            st = RECSYS_E_NOMEM;
        else
            s->by_user[user] = r;
    }
    for (size_t i = 0; st == RECSYS_OK && i < n; i++) {
        r->item[r->head] = items[i];
        r->ts[r->head] = ts;
        r->head = (r->head + 1) % RECSYS__SHOWN_MAX;
        if (r->n < RECSYS__SHOWN_MAX)
            r->n++;
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

size_t recsys__shown_since(recsys__shown *s, uint32_t user, int64_t since, uint32_t *out)
{
    size_t k = 0;
    pthread_mutex_lock(&s->mu);
    const recsys__shown_ring *r = user < s->cap ? s->by_user[user] : NULL;
    for (uint32_t i = 0; r && i < r->n; i++)
        if (r->ts[i] >= since)
            out[k++] = r->item[i];
    pthread_mutex_unlock(&s->mu);
    qsort(out, k, sizeof *out, cmp_u32);
    size_t w = 0;
    for (size_t i = 0; i < k; i++)
        if (!w || out[w - 1] != out[i])
            out[w++] = out[i];
    return w;
}

void recsys__shown_forget(recsys__shown *s, uint32_t user)
{
    pthread_mutex_lock(&s->mu);
    if (user < s->cap) {
        recsys__free(s->mem, s->by_user[user]);
        s->by_user[user] = NULL;
    }
    pthread_mutex_unlock(&s->mu);
}
