/* metrics.c - NDCG, Recall, Precision, HitRate, MAP and Coverage at K = 10 and 20 (protocol
 * sections 5 and 6), the evaluation loop and the top-k of a score vector. */
#include "eval.h"
#include "../core/error.h"

const size_t recsys__eval_k[RECSYS__EVAL_NK] = { 10, 20 };

void recsys__eval_user_at(const uint8_t *rel, size_t n, size_t ntruth, size_t k,
                          recsys__eval_user *out)
{
    memset(out, 0, sizeof *out);
    if (k == 0 || ntruth == 0)
        return;
    size_t d = RECSYS_MIN(k, ntruth), hits = 0;
    double dcg = 0, idcg = 0, ap = 0;
    for (size_t r = 1; r <= RECSYS_MIN(n, k); r++) {
        if (!rel[r - 1])
            continue;
        hits++;
        dcg += 1.0 / log2((double)r + 1.0);
        ap += (double)hits / (double)r;
    }
    for (size_t r = 1; r <= d; r++)
        idcg += 1.0 / log2((double)r + 1.0);
    out->ndcg = dcg / idcg;
    out->recall = (double)hits / (double)d;
    out->precision = (double)hits / (double)k;
    out->hit = hits > 0;
    out->ap = ap / (double)d;
}

recsys_status recsys__eval_acc_init(recsys__eval_acc *a, const recsys__mem *m, size_t nitems)
{
    memset(a, 0, sizeof *a);
    a->mem = m;
    a->nitems = nitems;
    a->seen = recsys__calloc(m, nitems ? nitems : 1, sizeof *a->seen);
    a->mark = recsys__calloc(m, nitems ? nitems : 1, sizeof *a->mark);
    if (!a->seen || !a->mark) {
        recsys__eval_acc_free(a);
        return RECSYS_E_NOMEM;
    }
    return RECSYS_OK;
}

void recsys__eval_acc_free(recsys__eval_acc *a)
{
    if (!a || !a->mem)
        return;
    recsys__free(a->mem, a->seen);
    recsys__free(a->mem, a->mark);
    memset(a, 0, sizeof *a);
}

/* Sets mark[item] = stamp for the items, failing on a duplicate or an item out of range. */
static recsys_status stamp_items(recsys__eval_acc *a, const uint32_t *v, size_t n,
                                 const char *what)
{
    if (++a->stamp == 0) { /* wrapped: start again from a clean slate */
        memset(a->mark, 0, a->nitems * sizeof *a->mark);
        a->stamp = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i] >= a->nitems)
            return recsys__err(RECSYS_E_INVALID_ARG,
                               "eval: %s entry %zu is item %" PRIu32 ", beyond the %zu items",
                               what, i, v[i], a->nitems);
        if (a->mark[v[i]] == a->stamp)
            return recsys__err(RECSYS_E_INVALID_ARG, "eval: %s holds item %" PRIu32 " twice", what,
                               v[i]);
        a->mark[v[i]] = a->stamp;
    }
    return RECSYS_OK;
}

recsys_status recsys__eval_acc_add(recsys__eval_acc *a, const uint32_t *list, size_t n,
                                   const uint32_t *truth, size_t ntruth)
{
    if (!a || !a->mem || (!list && n) || !truth || ntruth == 0)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval: a user needs at least one relevant item");
    n = RECSYS_MIN(n, (size_t)RECSYS__EVAL_KMAX);
    RECSYS_TRY(stamp_items(a, list, n, "the ranked list")); /* distinct and in range */
    RECSYS_TRY(stamp_items(a, truth, ntruth, "the relevant set"));
    uint8_t rel[RECSYS__EVAL_KMAX];
    for (size_t i = 0; i < n; i++)
        rel[i] = a->mark[list[i]] == a->stamp;
    for (size_t k = 0; k < RECSYS__EVAL_NK; k++) {
        recsys__eval_user u;
        recsys__eval_user_at(rel, n, ntruth, recsys__eval_k[k], &u);
        a->sum[k][0] += u.ndcg;
        a->sum[k][1] += u.recall;
        a->sum[k][2] += u.precision;
        a->sum[k][3] += u.hit;
        a->sum[k][4] += u.ap;
        for (size_t i = 0; i < RECSYS_MIN(n, recsys__eval_k[k]); i++)
            a->seen[list[i]] |= (uint8_t)(1u << k);
    }
    a->users++;
    return RECSYS_OK;
}

void recsys__eval_acc_result(const recsys__eval_acc *a, recsys__eval_metrics *out)
{
    memset(out, 0, sizeof *out);
    out->users = a->users;
    double nu = a->users ? (double)a->users : 1.0;
    for (size_t k = 0; k < RECSYS__EVAL_NK; k++) {
        out->ndcg[k] = a->sum[k][0] / nu;
        out->recall[k] = a->sum[k][1] / nu;
        out->precision[k] = a->sum[k][2] / nu;
        out->hit[k] = a->sum[k][3] / nu;
        out->map[k] = a->sum[k][4] / nu;
        size_t covered = 0;
        for (size_t i = 0; i < a->nitems; i++)
            covered += (a->seen[i] >> k) & 1u;
        out->coverage[k] = a->nitems ? (double)covered / (double)a->nitems : 0.0;
    }
}

/* ------------------------------------------------------------------ top-k */

/* a ranks before b: higher score, or the same score and a lower index */
static bool before(double sa, uint32_t a, double sb, uint32_t b)
{
    return sa > sb || (sa == sb && a < b);
}

void recsys__eval_topk(const double *score, size_t nitems, const uint8_t *skip, size_t k,
                       uint32_t *out, size_t *nout)
{
    double best[RECSYS__EVAL_KMAX * 4];
    double *s = k <= RECSYS_ARRAY_LEN(best) ? best : NULL;
    size_t n = 0;
    *nout = 0;
    if (k == 0)
        return;
    /* insertion into a sorted array of the k best so far; most items fail the first test */
    for (uint32_t i = 0; i < nitems; i++) {
        if (skip && skip[i])
            continue;
        double v = isnan(score[i]) ? -INFINITY : score[i];
        if (n == k && !before(v, i, s ? s[n - 1] : score[out[n - 1]], out[n - 1]))
            continue;
        size_t at = n < k ? n++ : n - 1;
        while (at > 0) {
            uint32_t pi = out[at - 1];
            double ps = s ? s[at - 1] : (isnan(score[pi]) ? -INFINITY : score[pi]);
            if (!before(v, i, ps, pi))
                break;
            out[at] = pi;
            if (s)
                s[at] = ps;
            at--;
        }
        out[at] = i;
        if (s)
            s[at] = v;
    }
    *nout = n;
}

/* ------------------------------------------------------------------ the evaluation loop */

recsys_status recsys__eval_run(const recsys__mem *m, size_t nitems, const recsys__eval_part *known,
                               const recsys__eval_part *truth, recsys__eval_rank_fn rank,
                               void *ctx, void (*progress)(void *ctx, size_t done, size_t total),
                               recsys__eval_metrics *out)
{
    if (!m || !known || !truth || !rank || !out || !known->off || !truth->off ||
        known->nusers != truth->nusers)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval run: missing or mismatched arguments");
    memset(out, 0, sizeof *out);
    recsys__eval_acc acc;
    RECSYS_TRY(recsys__eval_acc_init(&acc, m, nitems));
    uint8_t *mark = recsys__calloc(m, nitems ? nitems : 1, 1);
    uint32_t *rel = recsys__alloc(m, (truth->n ? truth->n : 1) * sizeof *rel);
    recsys_status st = mark && rel ? RECSYS_OK : RECSYS_E_NOMEM;
    size_t total = recsys__eval_part_users(truth), done = 0, padded = 0;
    for (uint32_t u = 0; st == RECSYS_OK && u < truth->nusers; u++) {
        size_t lo = truth->off[u], nt = truth->off[u + 1] - lo;
        if (nt == 0)
            continue;
        uint32_t list[RECSYS__EVAL_KMAX];
        size_t n = 0;
        recsys__eval_part_mark(known, u, mark, 1);
        st = rank(ctx, u, mark, list, &n);
        if (st == RECSYS_OK && n > RECSYS__EVAL_KMAX)
            n = RECSYS__EVAL_KMAX;
        for (size_t i = 0; st == RECSYS_OK && i < n; i++) {
            if (list[i] >= nitems)
                st = recsys__err(RECSYS_E_INVALID_ARG, "eval: user %" PRIu32 ": item %" PRIu32
                                 " at rank %zu is beyond the catalog", u, list[i], i + 1);
            else if (mark[list[i]])
                st = recsys__err(RECSYS_E_INVALID_ARG, "eval: user %" PRIu32 ": item %" PRIu32
                                 " at rank %zu is %s", u, list[i], i + 1,
                                 mark[list[i]] == 1 ? "a known (train) item, not a candidate"
                                                    : "listed twice");
            else
                mark[list[i]] = 2;
        }
        if (st == RECSYS_OK && n < RECSYS__EVAL_KMAX) { /* complete with ties at the bottom */
            size_t before_pad = n;
            for (uint32_t i = 0; i < nitems && n < RECSYS__EVAL_KMAX; i++)
                if (!mark[i])
                    list[n++] = i;
            padded += n > before_pad;
        }
        for (size_t i = 0; i < n; i++)
            if (list[i] < nitems)
                mark[list[i]] = 0;
        recsys__eval_part_mark(known, u, mark, 0);
        for (size_t i = 0; i < nt; i++)
            rel[i] = truth->ev[lo + i].item;
        if (st == RECSYS_OK)
            st = recsys__eval_acc_add(&acc, list, n, rel, nt);
        if (st == RECSYS_OK && progress)
            progress(ctx, ++done, total);
    }
    if (st == RECSYS_OK) {
        recsys__eval_acc_result(&acc, out);
        out->padded = padded;
    }
    recsys__eval_acc_free(&acc);
    recsys__free(m, mark);
    recsys__free(m, rel);
    return st;
}
