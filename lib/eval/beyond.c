/* beyond.c - beyond-accuracy metrics of top-K lists (intra-list diversity, novelty, average
 * recommendation popularity, calibration), the genres they need, and the protocol's final
 * list (violations dropped and counted, short lists completed).
 *
 * Why here: recsys-bench eval reports them next to the accuracy metrics of EVAL_PROTOCOL.md,
 * and they need the same data (the dense item and user indices, the part the model was
 * trained on); keeping them in lib/eval makes them testable by hand-computed values.
 *
 * Choices (documented in eval.h at recsys__eval_beyond_metrics):
 *  - item vectors for ILD are the binary user columns of the training part (an item's set of
 *    distinct users), so the distance is 1 - |U(a) & U(b)| / sqrt(|U(a)| |U(b)|): it needs no
 *    model and no metadata, it is the item-item cosine the collaborative sources themselves
 *    use, and a pair of items no one has seen together is at distance 1;
 *  - popularity is the number of distinct training users (the protocol's MostPopular score);
 *    an unseen item (pop 0) counts as pop 1 for novelty so the mean stays finite;
 *  - calibration follows Steck 2018 with uniform item weights, natural logarithm.
 *
 * Complexity: building the item -> users index is O(|known| + nitems) time and memory (a
 * counting sort: the users of each item come out ascending because the part is grouped by
 * user), plus one bit mask per user. Per list of length L: ILD needs the L(L-1)/2 sparse dot
 * products |U(a) & U(b)| (190 at L = 20, whose first 45 are the K = 10 value), all in one
 * inverted pass over the listed items' user lists: O(sum of |U(i)| + sum over pairs of the
 * common users), where a merge per pair would cost O((L - 1) * sum of |U(i)|) (ML-100k,
 * MostPopular's 943 lists of 20, the most crowded user lists there are: 0.1 s against 0.16 s
 * for merges); novelty and ARP O(L); calibration O(|the user's known items| * genres per
 * item + ngenres). */
#include "eval.h"
#include "../core/error.h"

/* ------------------------------------------------------------------ final lists */

bool recsys__eval_final_list(const uint32_t *raw, size_t nraw, size_t nitems,
                             const uint8_t *known, uint32_t *out, size_t *nout,
                             recsys__eval_violations *v)
{
    recsys__eval_violations none = { 0, 0, 0 };
    if (!v)
        v = &none;
    size_t n = 0;
    for (size_t i = 0; raw && i < nraw; i++) {
        uint32_t it = raw[i];
        if (it >= nitems) {
            v->unknown++;
            continue;
        }
        if (known && known[it]) {
            v->known++;
            continue;
        }
        bool again = false;
        for (size_t j = 0; j < i && !again; j++)
            again = raw[j] == it;
        if (again) {
            v->repeated++;
            continue;
        }
        if (n < RECSYS__EVAL_KMAX)
            out[n++] = it;
    }
    size_t kept = n;
    for (uint32_t i = 0; i < nitems && n < RECSYS__EVAL_KMAX; i++) {
        if (known && known[i])
            continue;
        bool listed = false;
        for (size_t j = 0; j < kept && !listed; j++)
            listed = out[j] == i;
        if (!listed)
            out[n++] = i;
    }
    *nout = n;
    return n > kept;
}

/* ------------------------------------------------------------------ genres */

void recsys__eval_genres_free(recsys__eval_genres *g)
{
    if (!g || !g->mem)
        return;
    for (size_t i = 0; g->name && i < g->ngenres; i++)
        recsys__free(g->mem, g->name[i]);
    recsys__free(g->mem, g->name);
    recsys__free(g->mem, g->off);
    recsys__free(g->mem, g->g);
    memset(g, 0, sizeof *g);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

recsys_status recsys__eval_genres_build(const recsys__mem *m, const recsys__eval_items *meta,
                                        char *const *ids, size_t nitems,
                                        recsys__eval_genres *out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval genres: output is NULL");
    memset(out, 0, sizeof *out);
    if (!m || !meta || (!ids && nitems))
        return recsys__err(RECSYS_E_INVALID_ARG, "eval genres: allocator, metadata or ids is NULL");
    size_t total = 0;
    for (size_t i = 0; i < nitems; i++) {
        const recsys__eval_item *it = recsys__eval_items_find(meta, ids[i]);
        total += it ? it->ntags : 0;
    }
    out->mem = m;
    out->nitems = nitems;
    const char **tags = recsys__alloc(m, (total ? total : 1) * sizeof *tags);
    out->off = recsys__calloc(m, nitems + 1, sizeof *out->off);
    out->g = recsys__alloc(m, (total ? total : 1) * sizeof *out->g);
    recsys_status st = tags && out->off && out->g ? RECSYS_OK : RECSYS_E_NOMEM;
    size_t nt = 0, ng = 0;
    for (size_t i = 0; st == RECSYS_OK && i < nitems; i++) {
        const recsys__eval_item *it = recsys__eval_items_find(meta, ids[i]);
        for (size_t t = 0; it && t < it->ntags; t++)
            tags[nt++] = it->tags[t];
    }
    if (st == RECSYS_OK) { /* the distinct names, sorted */
        qsort(tags, nt, sizeof *tags, cmp_str);
        for (size_t i = 0; i < nt; i++)
            if (ng == 0 || strcmp(tags[ng - 1], tags[i]) != 0)
                tags[ng++] = tags[i];
        if (ng > UINT32_MAX)
            st = recsys__err(RECSYS_E_INVALID_ARG, "eval genres: %zu genres, at most %" PRIu32,
                             ng, UINT32_MAX);
    }
    if (st == RECSYS_OK && !(out->name = recsys__calloc(m, ng ? ng : 1, sizeof *out->name)))
        st = RECSYS_E_NOMEM;
    for (size_t j = 0; st == RECSYS_OK && j < ng; j++) {
        if (!(out->name[j] = recsys__strdup(m, tags[j])))
            st = RECSYS_E_NOMEM;
        out->ngenres = j + 1; /* what to free */
    }
    size_t w = 0;
    for (size_t i = 0; st == RECSYS_OK && i < nitems; i++) {
        const recsys__eval_item *it = recsys__eval_items_find(meta, ids[i]);
        size_t start = w;
        for (size_t t = 0; it && t < it->ntags; t++) {
            const char *key = it->tags[t];
            const char **hit = bsearch(&key, tags, ng, sizeof *tags, cmp_str);
            out->g[w++] = (uint32_t)(hit - tags); /* every tag is among the names */
        }
        qsort(out->g + start, w - start, sizeof *out->g, cmp_u32);
        size_t u = start;
        for (size_t k = start; k < w; k++)
            if (u == start || out->g[u - 1] != out->g[k])
                out->g[u++] = out->g[k];
        w = u;
        out->off[i + 1] = w;
    }
    recsys__free(m, tags);
    if (st != RECSYS_OK) {
        recsys__err_saved s;
        recsys__err_save(&s);
        recsys__eval_genres_free(out);
        recsys__err_restore(&s);
        memset(out, 0, sizeof *out);
    }
    return st;
}

/* ------------------------------------------------------------------ the accumulator */

void recsys__eval_beyond_free(recsys__eval_beyond *b)
{
    if (!b || !b->mem)
        return;
    recsys__free(b->mem, b->pop);
    recsys__free(b->mem, b->uoff);
    recsys__free(b->mem, b->users);
    recsys__free(b->mem, b->umask);
    recsys__free(b->mem, b->p);
    recsys__free(b->mem, b->q);
    memset(b, 0, sizeof *b);
}

recsys_status recsys__eval_beyond_init(recsys__eval_beyond *b, const recsys__mem *m,
                                       size_t nitems, const recsys__eval_part *known,
                                       const recsys__eval_genres *genres)
{
    if (!b)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval beyond: accumulator is NULL");
    memset(b, 0, sizeof *b);
    if (!m || !known || !known->off)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval beyond: allocator or known part is NULL");
    if (genres && genres->nitems != nitems)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval beyond: genres of %zu items for a "
                           "catalog of %zu", genres->nitems, nitems);
    for (size_t i = 0; i < known->n; i++)
        if (known->ev[i].item >= nitems)
            return recsys__err(RECSYS_E_INVALID_ARG, "eval beyond: item %" PRIu32
                               " is beyond the %zu items", known->ev[i].item, nitems);
    size_t ng = genres ? genres->ngenres : 0;
    b->mem = m;
    b->known = known;
    b->genres = genres;
    b->nitems = nitems;
    b->pop = recsys__calloc(m, nitems ? nitems : 1, sizeof *b->pop);
    b->uoff = recsys__calloc(m, nitems + 1, sizeof *b->uoff);
    b->p = recsys__calloc(m, ng ? ng : 1, sizeof *b->p);
    b->q = recsys__calloc(m, ng ? ng : 1, sizeof *b->q);
    b->umask = recsys__calloc(m, known->nusers ? known->nusers : 1, sizeof *b->umask);
    uint32_t *last = recsys__alloc(m, (nitems ? nitems : 1) * sizeof *last);
    if (!b->pop || !b->uoff || !b->p || !b->q || !b->umask || !last) {
        recsys__free(m, last);
        recsys__eval_beyond_free(b);
        return RECSYS_E_NOMEM;
    }
    /* distinct users per item; the part is grouped by user, so a repeat of (user, item) is
     * seen while last[item] still names that user */
    for (size_t i = 0; i < nitems; i++)
        last[i] = UINT32_MAX;
    size_t distinct = 0;
    for (size_t u = 0; u < known->nusers; u++) {
        b->nusers += known->off[u + 1] > known->off[u];
        for (size_t e = known->off[u]; e < known->off[u + 1]; e++) {
            uint32_t it = known->ev[e].item;
            if (last[it] != (uint32_t)u) {
                last[it] = (uint32_t)u;
                b->pop[it]++;
                distinct++;
            }
        }
    }
    /* counting sort: uoff[i + 1] starts as item i's start and ends as its end */
    for (size_t i = 1; i < nitems; i++)
        b->uoff[i + 1] = b->uoff[i] + b->pop[i - 1];
    b->users = recsys__alloc(m, (distinct ? distinct : 1) * sizeof *b->users);
    if (!b->users) {
        recsys__free(m, last);
        recsys__eval_beyond_free(b);
        return RECSYS_E_NOMEM;
    }
    for (size_t i = 0; i < nitems; i++)
        last[i] = UINT32_MAX;
    for (size_t u = 0; u < known->nusers; u++)
        for (size_t e = known->off[u]; e < known->off[u + 1]; e++) {
            uint32_t it = known->ev[e].item;
            if (last[it] != (uint32_t)u) {
                last[it] = (uint32_t)u;
                b->users[b->uoff[it + 1]++] = (uint32_t)u;
            }
        }
    recsys__free(m, last);
    return RECSYS_OK;
}

_Static_assert(RECSYS__EVAL_KMAX <= 32, "list positions are bits of a uint32_t");

/* common[x][y] (x < y < len) = |U(list[x]) & U(list[y])|, the sparse dot products of the
 * items' binary user vectors, for all pairs at once: every user of a listed item first
 * gets the bit of that position in umask, then each user once turns her bits into pairs.
 * O(sum of |U(i)| + sum over pairs of the common users); umask is all zeros again after. */
static void common_users(const recsys__eval_beyond *b, const uint32_t *list, size_t len,
                         uint32_t common[RECSYS__EVAL_KMAX][RECSYS__EVAL_KMAX])
{
    for (size_t x = 0; x < len; x++)
        for (size_t y = 0; y < len; y++)
            common[x][y] = 0;
    for (size_t x = 0; x < len; x++)
        for (size_t k = b->uoff[list[x]]; k < b->uoff[list[x] + 1]; k++)
            b->umask[b->users[k]] |= 1u << x;
    for (size_t x = 0; x < len; x++)
        for (size_t k = b->uoff[list[x]]; k < b->uoff[list[x] + 1]; k++) {
            uint32_t m = b->umask[b->users[k]];
            if (m == 0) /* this user was counted already */
                continue;
            b->umask[b->users[k]] = 0;
            size_t pos[RECSYS__EVAL_KMAX], np = 0;
            for (size_t p = 0; p < len; p++)
                if (m >> p & 1u)
                    pos[np++] = p;
            for (size_t i = 0; i < np; i++)
                for (size_t j = i + 1; j < np; j++)
                    common[pos[i]][pos[j]]++;
        }
}

/* Adds item's genres, weight 1/ngenres each, to dist; returns whether it has any. */
static bool add_genres(const recsys__eval_genres *g, uint32_t item, double *dist)
{
    size_t lo = g->off[item], hi = g->off[item + 1];
    for (size_t k = lo; k < hi; k++)
        dist[g->g[k]] += 1.0 / (double)(hi - lo);
    return hi > lo;
}

/* KL(p || (1 - a) q + a p) in nats; q is scaled by 1/qn (qn = 0: q is all zeros). */
static double calibration_kl(const double *p, const double *q, double qn, size_t ng)
{
    const double a = RECSYS__EVAL_CALIBRATION_ALPHA;
    double kl = 0;
    for (size_t g = 0; g < ng; g++) {
        if (p[g] <= 0)
            continue;
        double qg = qn > 0 ? q[g] / qn : 0.0;
        kl += p[g] * log(p[g] / ((1 - a) * qg + a * p[g]));
    }
    return kl > 0 ? kl : 0.0; /* >= 0 in exact arithmetic */
}

recsys_status recsys__eval_beyond_add(recsys__eval_beyond *b, uint32_t user,
                                      const uint32_t *list, size_t n)
{
    if (!b || !b->mem || (!list && n))
        return recsys__err(RECSYS_E_INVALID_ARG, "eval beyond: accumulator or list is NULL");
    if (user >= b->known->nusers)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval beyond: user %" PRIu32
                           " is beyond the %zu users", user, b->known->nusers);
    size_t len = RECSYS_MIN(n, (size_t)RECSYS__EVAL_KMAX);
    for (size_t i = 0; i < len; i++) {
        if (list[i] >= b->nitems)
            return recsys__err(RECSYS_E_INVALID_ARG, "eval beyond: user %" PRIu32 ": item %"
                               PRIu32 " at rank %zu is beyond the %zu items", user, list[i],
                               i + 1, b->nitems);
        for (size_t j = 0; j < i; j++)
            if (list[j] == list[i])
                return recsys__err(RECSYS_E_INVALID_ARG, "eval beyond: user %" PRIu32
                                   ": item %" PRIu32 " is listed twice", user, list[i]);
    }
    b->lists++;
    size_t lk[RECSYS__EVAL_NK];
    for (size_t k = 0; k < RECSYS__EVAL_NK; k++)
        lk[k] = RECSYS_MIN(len, recsys__eval_k[k]);

    /* ILD: each pair once, added to every cutoff that holds both items */
    uint32_t common[RECSYS__EVAL_KMAX][RECSYS__EVAL_KMAX];
    common_users(b, list, len, common);
    double dist[RECSYS__EVAL_NK] = { 0 };
    for (size_t y = 1; y < len; y++)
        for (size_t x = 0; x < y; x++) {
            double px = (double)b->pop[list[x]], py = (double)b->pop[list[y]];
            double cos = px > 0 && py > 0 ? (double)common[x][y] / sqrt(px * py) : 0.0;
            for (size_t k = 0; k < RECSYS__EVAL_NK; k++)
                if (y < lk[k])
                    dist[k] += 1.0 - cos;
        }
    double users = b->nusers ? (double)b->nusers : 1.0;
    for (size_t k = 0; k < RECSYS__EVAL_NK; k++) {
        size_t l = lk[k];
        if (l >= 2) {
            b->ild[k] += dist[k] / ((double)l * (double)(l - 1) / 2.0);
            b->ild_n[k]++;
        }
        if (l == 0)
            continue;
        double nov = 0, pop = 0;
        for (size_t i = 0; i < l; i++) {
            double c = (double)b->pop[list[i]];
            pop += c;
            nov += -log2((c > 0 ? c : 1.0) / users);
        }
        b->nov[k] += nov / (double)l;
        b->arp[k] += pop / (double)l;
        b->list_n[k]++;
    }

    /* calibration: p from the user's known items, q from the list's first lk[k] */
    const recsys__eval_genres *g = b->genres;
    if (!g || len == 0)
        return RECSYS_OK;
    memset(b->p, 0, g->ngenres * sizeof *b->p);
    memset(b->q, 0, g->ngenres * sizeof *b->q);
    double pn = 0, qn = 0;
    for (size_t e = b->known->off[user]; e < b->known->off[user + 1]; e++)
        pn += add_genres(g, b->known->ev[e].item, b->p);
    if (pn == 0)
        return RECSYS_OK;
    for (size_t j = 0; j < g->ngenres; j++)
        b->p[j] /= pn;
    size_t done = 0;
    for (size_t k = 0; k < RECSYS__EVAL_NK; k++) {
        for (; done < lk[k]; done++)
            qn += add_genres(g, list[done], b->q);
        b->kl[k] += calibration_kl(b->p, b->q, qn, g->ngenres);
        b->cal_n[k]++;
    }
    return RECSYS_OK;
}

void recsys__eval_beyond_result(const recsys__eval_beyond *b, recsys__eval_beyond_metrics *out)
{
    memset(out, 0, sizeof *out);
    if (!b || !b->mem)
        return;
    out->users = b->lists;
    out->has_calibration = b->genres != NULL;
    for (size_t k = 0; k < RECSYS__EVAL_NK; k++) {
        out->ild_users[k] = b->ild_n[k];
        out->listed_users[k] = b->list_n[k];
        out->calibrated_users[k] = b->cal_n[k];
        out->ild[k] = b->ild_n[k] ? b->ild[k] / (double)b->ild_n[k] : 0.0;
        out->novelty[k] = b->list_n[k] ? b->nov[k] / (double)b->list_n[k] : 0.0;
        out->arp[k] = b->list_n[k] ? b->arp[k] / (double)b->list_n[k] : 0.0;
        out->calibration_kl[k] = b->cal_n[k] ? b->kl[k] / (double)b->cal_n[k] : 0.0;
    }
}

/* ------------------------------------------------------------------ MostPopular */

typedef struct pop_beyond {
    const double *score;
    size_t nitems;
    recsys__eval_beyond *b;
} pop_beyond;

static recsys_status pop_rank_beyond(void *ctx, uint32_t user, const uint8_t *known,
                                     uint32_t *list, size_t *n)
{
    pop_beyond *c = ctx;
    /* every candidate is scored, so the k best are already the complete list */
    recsys__eval_topk(c->score, c->nitems, known, RECSYS__EVAL_KMAX, list, n);
    return recsys__eval_beyond_add(c->b, user, list, *n);
}

recsys_status recsys__eval_mostpop_beyond(const recsys__mem *m, size_t nitems,
                                          const recsys__eval_part *train,
                                          const recsys__eval_part *test,
                                          const recsys__eval_genres *genres,
                                          recsys__eval_metrics *out,
                                          recsys__eval_beyond_metrics *bout)
{
    if (!out || !bout)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval mostpop: output is NULL");
    memset(bout, 0, sizeof *bout);
    double *score = NULL;
    RECSYS_TRY(recsys__eval_mostpop_scores(m, nitems, train, &score));
    recsys__eval_beyond b;
    recsys_status st = recsys__eval_beyond_init(&b, m, nitems, train, genres);
    if (st == RECSYS_OK) {
        pop_beyond c = { score, nitems, &b };
        st = recsys__eval_run(m, nitems, train, test, pop_rank_beyond, &c, NULL, out);
        if (st == RECSYS_OK)
            recsys__eval_beyond_result(&b, bout);
        recsys__eval_beyond_free(&b);
    }
    recsys__free(m, score);
    return st;
}
