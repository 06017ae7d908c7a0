/* item2item.c - item-based neighbours (itemknn) and the sparse item x item machinery the
 * graph source shares (see item2item.h). */
#include "item2item.h"
#include "topk.h"
#include "../core/error.h"
#include "../core/options.h"
#include "../model/derived.h"

void recsys__item2item_rows_free(const recsys__mem *m, recsys__itemrows *r)
{
    if (!r)
        return;
    recsys__free(m, r->off);
    recsys__free(m, r->col);
    recsys__free(m, r->w);
    recsys__free(m, r->len);
    memset(r, 0, sizeof *r);
}

static int online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

int recsys__item2item_threads(const double *opt)
{
    double t = opt ? opt[recsys__opt_slot(RECSYS_OPT_TRAIN_THREADS)] : 0;
    if (t >= 1)
        return t > 256 ? 256 : (int)t;
    return online_cores();
}

/* ------------------------------------------------------------ top-k selection */

/* A row candidate as one integer: the weight's bits (a positive float's bits order like its
 * value) above the complemented item index, so that a larger key is a better entry (a larger
 * weight, then a smaller index) and every comparison is one integer compare. */
static inline uint64_t key_make(uint32_t j, float w)
{
    uint32_t b;
    memcpy(&b, &w, sizeof b);
    return (uint64_t)b << 32 | (uint32_t)~j;
}

static inline uint32_t key_item(uint64_t key)
{
    return ~(uint32_t)key;
}

static inline float key_weight(uint64_t key)
{
    uint32_t b = (uint32_t)(key >> 32);
    float w;
    memcpy(&w, &b, sizeof w);
    return w;
}

static inline void key_swap(uint64_t *e, size_t a, size_t b)
{
    uint64_t t = e[a];
    e[a] = e[b];
    e[b] = t;
}

/* Partitions e[lo..hi) (hi - lo >= 2) around a median-of-three pivot: returns p with
 * e[lo..p) > e[p] >= e[p + 1..hi). Keys are distinct (item indices are). */
static size_t partition_desc(uint64_t *e, size_t lo, size_t hi)
{
    size_t mid = lo + (hi - lo) / 2, last = hi - 1;
    uint64_t x = e[lo], y = e[mid], z = e[last];
    size_t p = x < y ? (y < z ? mid : x < z ? last : lo) : (x < z ? lo : y < z ? last : mid);
    key_swap(e, p, last);
    uint64_t pivot = e[last];
    size_t store = lo;
    for (size_t i = lo; i < last; i++)
        if (e[i] > pivot)
            key_swap(e, i, store++);
    key_swap(e, store, last);
    return store;
}

/* Sorts e[0..n) descending: quicksort down to short runs, then insertion sort. */
static void sort_desc(uint64_t *e, size_t n)
{
    while (n > 16) {
        size_t p = partition_desc(e, 0, n);
        /* recurse into the smaller side, loop on the larger (stack depth O(log n)) */
        if (p < n - p - 1) {
            sort_desc(e, p);
            e += p + 1;
            n -= p + 1;
        } else {
            sort_desc(e + p + 1, n - p - 1);
            n = p;
        }
    }
    for (size_t i = 1; i < n; i++) {
        uint64_t x = e[i];
        size_t j = i;
        while (j > 0 && e[j - 1] < x) {
            e[j] = e[j - 1];
            j--;
        }
        e[j] = x;
    }
}

/* Moves the k largest keys of e[0..n) into e[0..k), sorted descending. Quickselect,
 * expected O(n): a heap of k costs O(n log k) with many sifts when good entries come late,
 * which profiles showed dominating the build. */
static void select_top(uint64_t *e, size_t n, size_t k)
{
    if (k > n)
        k = n;
    size_t lo = 0, hi = n;
    while (lo < k && k < hi && hi - lo > 16) {
        size_t p = partition_desc(e, lo, hi);
        if (p < k)
            lo = p + 1;
        else
            hi = p;
    }
    if (lo < k && k < hi)
        sort_desc(e + lo, hi - lo); /* a short rest */
    sort_desc(e, k);
}

/* ------------------------------------------------------------ the row build */

typedef struct build_job {
    const recsys__i2i_spec *s;
    const size_t *boff;      /* item -> first slot of its region (bound prefix sums) */
    size_t *cnt;             /* item -> entries written */
    uint32_t *col;           /* regions */
    float *w;
    atomic_size_t next;      /* next item to take */
    size_t nitems;
} build_job;

typedef struct worker {
    build_job *job;
    double *acc;       /* nitems, zero between rows */
    uint32_t *touched; /* nitems */
    uint64_t *cand;    /* nitems: the row's candidates before selection (key_make) */
    pthread_t tid;
    bool started;
} worker;

#define ROWS_PER_TAKE 16

/* Computes row i into its region. */
static void build_row(const build_job *job, worker *wk, uint32_t i)
{
    const recsys__i2i_spec *s = job->s;
    const recsys__interactions *x = s->x;
    double *acc = wk->acc;
    uint32_t *touched = wk->touched;
    size_t nt = 0;
    for (size_t c = x->col_ptr[i]; c < x->col_ptr[i + 1]; c++) {
        double a = s->a[c];
        uint32_t u = x->row[c];
        for (size_t r = x->row_ptr[u]; r < x->row_ptr[u + 1]; r++) {
            uint32_t j = x->col[r];
            double p = a * s->b[r];
            if (acc[j] == 0.0) {
                if (!(p > 0.0))
                    continue;
                touched[nt++] = j;
            }
            acc[j] += p;
        }
    }
    size_t cap = job->boff[i + 1] - job->boff[i], nh = 0;
    uint64_t *h = wk->cand;
    for (size_t t = 0; t < nt; t++) {
        uint32_t j = touched[t];
        double v = acc[j];
        acc[j] = 0.0;
        if (j == i)
            continue;
        if (s->mode == RECSYS__I2I_COSINE)
            v = v / (s->norm[i] * s->norm[j] + s->shrink);
        else
            v = v * s->scale[j];
        float fv = (float)v;
        if (fv > 0.0f && isfinite(fv))
            h[nh++] = key_make(j, fv);
    }
    select_top(h, nh, cap);
    nh = RECSYS_MIN(nh, cap);
    if (s->l1 && nh) {
        double sum = 0;
        for (size_t t = 0; t < nh; t++)
            sum += key_weight(h[t]);
        for (size_t t = 0; t < nh; t++)
            h[t] = key_make(key_item(h[t]), (float)(key_weight(h[t]) / sum));
    }
    size_t at = job->boff[i];
    for (size_t t = 0; t < nh; t++) {
        job->col[at + t] = key_item(h[t]);
        job->w[at + t] = key_weight(h[t]);
    }
    job->cnt[i] = nh;
}

static void *worker_run(void *arg)
{
    worker *wk = arg;
    build_job *job = wk->job;
    for (;;) {
        size_t first = atomic_fetch_add_explicit(&job->next, ROWS_PER_TAKE,
                                                 memory_order_relaxed);
        if (first >= job->nitems)
            break;
        size_t last = RECSYS_MIN(first + ROWS_PER_TAKE, job->nitems);
        for (size_t i = first; i < last; i++)
            build_row(job, wk, (uint32_t)i);
    }
    return NULL;
}

recsys_status recsys__item2item_build(const recsys__mem *m, const recsys__i2i_spec *s,
                                      recsys__itemrows *out)
{
    memset(out, 0, sizeof *out);
    const recsys__interactions *x = s->x;
    size_t n = x->nitems;
    size_t k = s->k ? s->k : 1;
    if (n > UINT32_MAX)
        return recsys__err(RECSYS_E_NOMEM, "item2item: %zu items exceed the index's limit", n);

    /* the bound of each row: min(k, n - 1, co-occurring cells), and the work estimate */
    size_t *boff = recsys__calloc(m, n + 1, sizeof *boff);
    out->off = recsys__calloc(m, n + 1, sizeof *out->off);
    if (!boff || !out->off) {
        recsys__free(m, boff);
        recsys__item2item_rows_free(m, out);
        return RECSYS_E_NOMEM;
    }
    out->nrows = n;
    double work = 0;
    for (size_t i = 0; i < n; i++) {
        size_t b = 0;
        for (size_t c = x->col_ptr[i]; c < x->col_ptr[i + 1] && b < k; c++) {
            uint32_t u = x->row[c];
            b += x->row_ptr[u + 1] - x->row_ptr[u] - 1;
        }
        for (size_t c = x->col_ptr[i]; c < x->col_ptr[i + 1]; c++) {
            uint32_t u = x->row[c];
            work += (double)(x->row_ptr[u + 1] - x->row_ptr[u]);
        }
        b = RECSYS_MIN(b, k);
        b = RECSYS_MIN(b, n - 1);
        boff[i + 1] = boff[i] + b;
    }
    size_t bound = boff[n];
    if (bound == 0) {
        recsys__free(m, boff);
        return RECSYS_OK; /* an empty matrix: every row is empty */
    }

    int nthreads = s->threads > 0 ? s->threads : online_cores();
    if (work < RECSYS__I2I_PARALLEL_MIN_WORK)
        nthreads = 1;
    if ((size_t)nthreads > (n + ROWS_PER_TAKE - 1) / ROWS_PER_TAKE)
        nthreads = (int)((n + ROWS_PER_TAKE - 1) / ROWS_PER_TAKE);
    if (nthreads < 1)
        nthreads = 1;

    build_job job = { .s = s, .boff = boff, .nitems = n };
    atomic_init(&job.next, 0);
    job.cnt = recsys__calloc(m, n, sizeof *job.cnt);
    job.col = recsys__realloc_array(m, NULL, bound, sizeof *job.col);
    job.w = recsys__realloc_array(m, NULL, bound, sizeof *job.w);
    worker *wk = recsys__calloc(m, (size_t)nthreads, sizeof *wk);
    recsys_status st = (job.cnt && job.col && job.w && wk) ? RECSYS_OK : RECSYS_E_NOMEM;
    for (int t = 0; st == RECSYS_OK && t < nthreads; t++) {
        wk[t].job = &job;
        wk[t].acc = recsys__calloc(m, n, sizeof *wk[t].acc);
        wk[t].touched = recsys__realloc_array(m, NULL, n, sizeof *wk[t].touched);
        wk[t].cand = recsys__realloc_array(m, NULL, n, sizeof *wk[t].cand);
        if (!wk[t].acc || !wk[t].touched || !wk[t].cand)
            st = RECSYS_E_NOMEM;
    }
    if (st == RECSYS_OK) {
        /* threads that cannot start leave their share to the others (same result) */
        for (int t = 1; t < nthreads; t++)
            wk[t].started = pthread_create(&wk[t].tid, NULL, worker_run, &wk[t]) == 0;
        worker_run(&wk[0]);
        for (int t = 1; t < nthreads; t++)
            if (wk[t].started)
                pthread_join(wk[t].tid, NULL);
    }
    for (int t = 0; wk && t < nthreads; t++) {
        recsys__free(m, wk[t].acc);
        recsys__free(m, wk[t].touched);
        recsys__free(m, wk[t].cand);
    }
    recsys__free(m, wk);
    if (st != RECSYS_OK) {
        recsys__free(m, job.cnt);
        recsys__free(m, job.col);
        recsys__free(m, job.w);
        recsys__free(m, boff);
        recsys__item2item_rows_free(m, out);
        return st;
    }

    /* compact the regions in place (moving left only) */
    size_t nnz = 0;
    for (size_t i = 0; i < n; i++) {
        size_t c = job.cnt[i], from = boff[i];
        out->off[i] = nnz;
        if (c && from != nnz) {
            memmove(job.col + nnz, job.col + from, c * sizeof *job.col);
            memmove(job.w + nnz, job.w + from, c * sizeof *job.w);
        }
        nnz += c;
    }
    out->off[n] = nnz;
    out->nnz = nnz;
    recsys__free(m, job.cnt);
    recsys__free(m, boff);
    /* give back what the bound over-reserved (a failed shrink keeps the larger block) */
    size_t keep = nnz ? nnz : 1;
    uint32_t *c2 = keep < bound ? recsys__realloc(m, job.col, keep * sizeof *c2) : NULL;
    float *w2 = keep < bound ? recsys__realloc(m, job.w, keep * sizeof *w2) : NULL;
    out->col = c2 ? c2 : job.col;
    out->w = w2 ? w2 : job.w;
    if (keep < bound && (!c2 || !w2))
        recsys__err_clear(); /* a refused shrink is no failure */
    return RECSYS_OK;
}

/* ------------------------------------------------------------ the request path */


static bool has_sorted(const uint32_t *v, size_t n, uint32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == x;
}

static inline size_t map_hash(uint32_t item, size_t mask)
{
    return (size_t)((item * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & mask;
}

recsys_status recsys__item2item_retrieve(const recsys_query *q, recsys_candidates *out,
                                         const recsys__itemrows *rows, bool user_norm,
                                         double user_alpha)
{
    if (!q || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "source: query or candidate set is NULL");
    if (!rows || !rows->nnz || (!q->user && q->anchor == RECSYS_IDS_NONE) || q->limit == 0 ||
        !q->model)
        return RECSYS_OK;
    const recsys__catalog *cat = &q->model->catalog;
    const recsys__mem *m = out->mem ? out->mem : cat->mem;
    uint32_t *pitems = NULL, *keys = NULL;
    float *pw = NULL;
    double *vals = NULL;
    recsys__topk top = { 0 };
    size_t np = 0;
    recsys_status st = recsys__query_positives(m, q, &pitems, &pw, &np);
    if (st != RECSYS_OK)
        return st;

    /* the work bound: how many (item, weight) pairs the user's rows hold */
    size_t bound = 0;
    double wsum = 0;
    for (size_t p = 0; p < np; p++) {
        wsum += pw[p];
        if (pitems[p] < rows->nrows)
            bound += recsys__itemrows_end(rows, pitems[p]) - rows->off[pitems[p]];
    }
    if (bound == 0)
        goto done;
    bound = RECSYS_MIN(bound, rows->nrows);
    size_t cap = 16;
    while (cap < 2 * bound)
        cap *= 2;
    size_t mask = cap - 1;
    keys = recsys__calloc(m, cap, sizeof *keys); /* item + 1; 0 = empty */
    vals = recsys__realloc_array(m, NULL, cap, sizeof *vals);
    if (!keys || !vals) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    size_t nkeys = 0;
    for (size_t p = 0; p < np; p++) {
        uint32_t j = pitems[p];
        if (j >= rows->nrows)
            continue;
        double f = pw[p];
        if (user_norm)
            f = wsum > 0 ? f / wsum : 0;
        if (user_alpha != 1.0)
            f = pow(f, user_alpha);
        if (!(f > 0) || !isfinite(f))
            continue;
        for (size_t e = rows->off[j], end = recsys__itemrows_end(rows, j); e < end; e++) {
            uint32_t i = rows->col[e];
            size_t s = map_hash(i, mask);
            while (keys[s] && keys[s] != i + 1)
                s = (s + 1) & mask;
            if (!keys[s]) {
                keys[s] = i + 1;
                vals[s] = 0;
                nkeys++;
            }
            vals[s] += f * rows->w[e];
        }
    }

    bool skip_seen = recsys__query_opt(q, RECSYS_OPT_FILTER_SEEN) >= 0.5;
    if ((st = recsys__topk_init(&top, m, RECSYS_MIN(q->limit, nkeys))) != RECSYS_OK)
        goto done;
    for (size_t s = 0; s < cap; s++) /* the catalog's slots are misses: overlap them */
        if (keys[s] && keys[s] - 1 < cat->ids.n)
            __builtin_prefetch(&cat->items[keys[s] - 1]);
    for (size_t s = 0; s < cap; s++) {
        if (!keys[s])
            continue;
        uint32_t item = keys[s] - 1;
        double v = vals[s];
        if (!(v > 0) || !isfinite(v) || !recsys__catalog_get(cat, item) ||
            recsys__query_excluded(q, item) || (skip_seen && has_sorted(pitems, np, item)))
            continue;
        recsys__topk_offer(&top, item, v);
    }
    st = recsys__topk_emit(&top, out);
done:
    recsys__free(m, pitems);
    recsys__free(m, pw);
    recsys__free(m, keys);
    recsys__free(m, vals);
    recsys__topk_free(&top);
    return st;
}

recsys_status recsys__item2item_row(const recsys__itemrows *rows, const recsys__catalog *cat,
                                    uint32_t item, size_t k, uint32_t *out_items,
                                    float *out_scores, size_t *n)
{
    if (!n)
        return recsys__err(RECSYS_E_INVALID_ARG, "similar items: argument 'n' is NULL");
    *n = 0;
    if (k > 0 && (!out_items || !out_scores))
        return recsys__err(RECSYS_E_INVALID_ARG, "similar items: an output array is NULL");
    if (!rows || item >= rows->nrows)
        return RECSYS_OK;
    size_t got = 0;
    for (size_t e = rows->off[item], end = recsys__itemrows_end(rows, item); e < end && got < k;
         e++) {
        if (cat && !recsys__catalog_get(cat, rows->col[e]))
            continue;
        out_items[got] = rows->col[e];
        out_scores[got] = rows->w[e];
        got++;
    }
    *n = got;
    return RECSYS_OK;
}

/* ------------------------------------------------------------ itemknn */

typedef struct knn_state {
    const recsys__catalog *cat; /* lives as long as the engine: removed items are skipped */
    recsys__itemrows nbr;       /* row j = N_k(j), best first, with room (nbr.len set) */
    float *dot;                 /* per entry of nbr: x_j . x_i */
    double *norm2;              /* per row: ||x_j||^2 */
    size_t k;
    double shrink;
    bool lost;                  /* an update was missed: the lists no longer follow */
} knn_state;

void recsys__itemknn_free(const recsys__mem *m, void *state)
{
    knn_state *s = state;
    if (!s)
        return;
    recsys__item2item_rows_free(m, &s->nbr);
    recsys__free(m, s->dot);
    recsys__free(m, s->norm2);
    recsys__free(m, s);
}

/* Re-lays the packed rows of a fresh build with room for RECSYS__ITEMKNN_ROOM more entries
 * each (up to k), and recovers each kept pair's dot product from its similarity. */
static recsys_status make_room(const recsys__mem *m, knn_state *s, const double *norm)
{
    recsys__itemrows *r = &s->nbr;
    size_t n = r->nrows, total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = r->off[i + 1] - r->off[i];
        total += RECSYS_MAX(len, RECSYS_MIN(s->k, len + RECSYS__ITEMKNN_ROOM));
    }
    size_t *off = recsys__calloc(m, n + 1, sizeof *off);
    uint32_t *len = recsys__calloc(m, n ? n : 1, sizeof *len);
    uint32_t *col = recsys__calloc(m, total ? total : 1, sizeof *col);
    float *w = recsys__calloc(m, total ? total : 1, sizeof *w);
    float *dot = recsys__calloc(m, total ? total : 1, sizeof *dot);
    if (!off || !len || !col || !w || !dot) {
        recsys__free(m, off);
        recsys__free(m, len);
        recsys__free(m, col);
        recsys__free(m, w);
        recsys__free(m, dot);
        return RECSYS_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        size_t from = r->off[i], l = r->off[i + 1] - from;
        off[i + 1] = off[i] + RECSYS_MAX(l, RECSYS_MIN(s->k, l + RECSYS__ITEMKNN_ROOM));
        len[i] = (uint32_t)l;
        for (size_t e = 0; e < l; e++) {
            uint32_t j = r->col[from + e];
            col[off[i] + e] = j;
            w[off[i] + e] = r->w[from + e];
            dot[off[i] + e] = (float)(r->w[from + e] * (norm[i] * norm[j] + s->shrink));
        }
    }
    recsys__free(m, r->off);
    recsys__free(m, r->col);
    recsys__free(m, r->w);
    r->off = off;
    r->len = len;
    r->col = col;
    r->w = w;
    s->dot = dot;
    return RECSYS_OK;
}

/* ------------------------------------------------------------ incremental updates */

static double knn_sim(const knn_state *s, uint32_t i, uint32_t j, double dot)
{
    double den = sqrt(s->norm2[i]) * sqrt(s->norm2[j]) + s->shrink;
    return den > 0 && dot > 0 ? dot / den : 0;
}

static void entry_swap(knn_state *s, size_t a, size_t b)
{
    recsys__itemrows *r = &s->nbr;
    uint32_t c = r->col[a];
    r->col[a] = r->col[b];
    r->col[b] = c;
    float t = r->w[a];
    r->w[a] = r->w[b];
    r->w[b] = t;
    t = s->dot[a];
    s->dot[a] = s->dot[b];
    s->dot[b] = t;
}

/* True when entry a goes before entry b: similarity descending, then item ascending. */
static bool entry_before(const recsys__itemrows *r, size_t a, size_t b)
{
    return r->w[a] > r->w[b] || (r->w[a] == r->w[b] && r->col[a] < r->col[b]);
}

/* Moves entry e of row i to its place (the rest of the row is in order). */
static void settle_entry(knn_state *s, uint32_t i, size_t e)
{
    recsys__itemrows *r = &s->nbr;
    size_t lo = r->off[i], end = lo + r->len[i];
    while (e > lo && entry_before(r, e, e - 1)) {
        entry_swap(s, e, e - 1);
        e--;
    }
    while (e + 1 < end && entry_before(r, e + 1, e)) {
        entry_swap(s, e, e + 1);
        e++;
    }
}

/* Entry j of row i: its dot product changes by delta (or it enters with delta alone). */
static void bump(knn_state *s, uint32_t i, uint32_t j, double delta)
{
    recsys__itemrows *r = &s->nbr;
    size_t lo = r->off[i], end = lo + r->len[i], e = lo;
    while (e < end && r->col[e] != j)
        e++;
    if (e < end) {
        double d = (double)s->dot[e] + delta;
        if (d > 1e-9 * (sqrt(s->norm2[i]) * sqrt(s->norm2[j]) + 1)) {
            s->dot[e] = (float)d;
            r->w[e] = (float)knn_sim(s, i, j, d);
            settle_entry(s, i, e);
            return;
        }
        for (; e + 1 < end; e++) /* no co-occurrence left: it leaves the row */
            entry_swap(s, e, e + 1);
        r->len[i]--;
        return;
    }
    double w = knn_sim(s, i, j, delta);
    if (!(w > 0))
        return;
    if (end < r->off[i + 1]) { /* room left */
        r->len[i]++;
    } else {
        e = end - 1; /* the last: it makes way only for a better one */
        if (!(w > r->w[e] || (w == r->w[e] && j < r->col[e])))
            return;
        end = e;
    }
    r->col[end] = j;
    r->w[end] = (float)w;
    s->dot[end] = (float)delta;
    settle_entry(s, i, end);
}

/* Every entry of row i again from the current norms, then the row back in order. */
static void reweigh(knn_state *s, uint32_t i)
{
    recsys__itemrows *r = &s->nbr;
    size_t lo = r->off[i], end = lo + r->len[i];
    for (size_t e = lo; e < end; e++)
        r->w[e] = (float)knn_sim(s, i, r->col[e], s->dot[e]);
    for (size_t e = lo + 1; e < end; e++) /* insertion sort: rows are short and nearly sorted */
        for (size_t x = e; x > lo && entry_before(r, x, x - 1); x--)
            entry_swap(s, x, x - 1);
}

/* The union of two ascending item lists, with each side's weight (0 where absent). */
typedef struct side_walk {
    const uint32_t *ai, *bi;
    const float *aw, *bw;
    size_t na, nb, x, y;
} side_walk;

static bool side_next(side_walk *sw, uint32_t *item, double *a, double *b)
{
    if (sw->x >= sw->na && sw->y >= sw->nb)
        return false;
    if (sw->y >= sw->nb || (sw->x < sw->na && sw->ai[sw->x] < sw->bi[sw->y])) {
        *item = sw->ai[sw->x];
        *a = sw->aw[sw->x++];
        *b = 0;
    } else if (sw->x >= sw->na || sw->bi[sw->y] < sw->ai[sw->x]) {
        *item = sw->bi[sw->y];
        *a = 0;
        *b = sw->bw[sw->y++];
    } else {
        *item = sw->ai[sw->x];
        *a = sw->aw[sw->x++];
        *b = sw->bw[sw->y++];
    }
    return true;
}

void recsys__itemknn_observe(void *state, const uint32_t *a_items, const float *a_w, size_t na,
                             const uint32_t *b_items, const float *b_w, size_t nb)
{
    knn_state *s = state;
    if (!s || s->lost)
        return;
    size_t n = s->nbr.nrows;
    side_walk sw = { a_items, b_items, a_w, b_w, na, nb, 0, 0 };
    uint32_t j;
    double aj, bj;
    /* the changed items' norms first: every similarity below uses the new ones */
    while (side_next(&sw, &j, &aj, &bj))
        if (aj != bj && j < n)
            s->norm2[j] = RECSYS_MAX(0.0, s->norm2[j] + bj * bj - aj * aj);
    sw.x = sw.y = 0;
    while (side_next(&sw, &j, &aj, &bj)) {
        if (aj == bj || j >= n)
            continue;
        side_walk ow = { a_items, b_items, a_w, b_w, na, nb, 0, 0 };
        uint32_t i;
        double ai, bi;
        while (side_next(&ow, &i, &ai, &bi)) {
            /* a pair of two changed items is done once, from the lower one */
            if (i == j || i >= n || (ai != bi && i < j))
                continue;
            double delta = bi * bj - ai * aj;
            if (delta != 0) {
                bump(s, i, j, delta);
                bump(s, j, i, delta);
            }
        }
    }
    sw.x = sw.y = 0;
    while (side_next(&sw, &j, &aj, &bj))
        if (aj != bj && j < n)
            reweigh(s, j);
}

void recsys__itemknn_lost(void *state)
{
    knn_state *s = state;
    if (s)
        s->lost = true;
}

recsys_status recsys__itemknn_build(const recsys__mem *m, const recsys__model *model, size_t k,
                                    double shrink, int threads, void **out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "itemknn: argument 'out' is NULL");
    *out = NULL;
    if (!m || !model)
        return recsys__err(RECSYS_E_INVALID_ARG, "itemknn: allocator or model is NULL");
    if (k < 1 || !(shrink >= 0) || !isfinite(shrink))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "itemknn: k %zu or shrink %g out of range (k >= 1, shrink >= 0)", k,
                           shrink);
    recsys__interactions x;
    RECSYS_TRY(recsys__interactions_build(m, model, &x));
    if (x.nnz == 0) {
        recsys__interactions_free(m, &x);
        return RECSYS_OK;
    }
    recsys_status st = RECSYS_OK;
    knn_state *s = recsys__calloc(m, 1, sizeof *s);
    double *norm = recsys__calloc(m, x.nitems, sizeof *norm);
    if (!s || !norm) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    s->cat = &model->catalog;
    s->k = k;
    s->shrink = shrink;
    s->norm2 = recsys__calloc(m, x.nitems, sizeof *s->norm2);
    if (!s->norm2) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < x.nitems; i++) {
        double q = 0;
        for (size_t c = x.col_ptr[i]; c < x.col_ptr[i + 1]; c++)
            q += (double)x.tval[c] * x.tval[c];
        s->norm2[i] = q;
        norm[i] = sqrt(q);
    }
    recsys__i2i_spec spec = {
        .x = &x, .a = x.tval, .b = x.val, .mode = RECSYS__I2I_COSINE, .norm = norm,
        .shrink = shrink, .k = k, .threads = threads,
    };
    st = recsys__item2item_build(m, &spec, &s->nbr);
    if (st == RECSYS_OK)
        st = make_room(m, s, norm);
done:
    recsys__free(m, norm);
    recsys__interactions_free(m, &x);
    if (st != RECSYS_OK) {
        recsys__itemknn_free(m, s);
        return st;
    }
    *out = s;
    return RECSYS_OK;
}

recsys_status recsys__itemknn_similar(const void *state, uint32_t item, size_t k,
                                      uint32_t *out_items, float *out_scores, size_t *n)
{
    const knn_state *s = state;
    return recsys__item2item_row(s ? &s->nbr : NULL, s ? s->cat : NULL, item, k, out_items,
                                 out_scores, n);
}

/* A kept pair's cosine from its entry's dot product: clamped to 0..1 (the incremental
 * upkeep's float sums may stray just outside). */
static double knn_cos(float dot, double den)
{
    return RECSYS_MIN(1.0, RECSYS_MAX(0.0, dot / den));
}

/* What a row of len entries whose last weight is wlast proves about a pair it does not hold,
 * den the pair's norm product: a row shorter than k kept every positive pair (0); a full
 * one, pairs down to its last (unshrunk). */
static double knn_last(const knn_state *s, size_t len, float wlast, double den)
{
    return len < s->k ? 0 : wlast * (1 + s->shrink / den);
}

/* True when s has a norm for item a (else item_sim knows nothing of its pairs). */
static bool knn_known(const knn_state *s, uint32_t a)
{
    return s && a < s->nbr.nrows && s->norm2[a] > 0;
}

/* The kept pair's dot product over the norms; else NaN with the cap its rows prove. */
double recsys__itemknn_cosine(const void *state, uint32_t a, uint32_t b, double *cap)
{
    const knn_state *s = state;
    if (cap)
        *cap = 1;
    if (!knn_known(s, a) || !knn_known(s, b))
        return NAN;
    if (a == b)
        return 1;
    const recsys__itemrows *r = &s->nbr;
    double den = sqrt(s->norm2[a]) * sqrt(s->norm2[b]), bound = 1;
    uint32_t row[2] = { a, b }, other[2] = { b, a };
    for (int x = 0; x < 2; x++) {
        size_t from = r->off[row[x]], end = recsys__itemrows_end(r, row[x]);
        for (size_t e = from; e < end; e++)
            if (r->col[e] == other[x])
                return knn_cos(s->dot[e], den);
        bound = RECSYS_MIN(bound, end > from ? knn_last(s, end - from, r->w[end - 1], den) : 0);
    }
    if (cap)
        *cap = bound;
    return NAN;
}

/* ------------------------------------------------------------ itemknn over one item set */

/* A pair of the set a row holds: the other item's index in the set, the entry's dot. */
typedef struct knn_hit {
    uint32_t j;
    float dot;
} knn_hit;

typedef struct knn_pool {
    recsys__simpool base;     /* first: the pool is handed out as its base */
    const knn_state *s;
    size_t n;
    double *norm;             /* per set item: sqrt(norm2), 0 when the state knows nothing */
    uint32_t *len;            /* its row's length */
    float *wlast;             /* a full row's last weight (else 0: its bound is 0) */
    size_t *off;              /* n + 1: row i's hits (j, dot_ij): hit[off[i] .. off[i + 1]) */
    knn_hit *hit;
    size_t *toff;             /* n + 1: the rows holding j, (i, dot_ij): thit[toff[j] ..) */
    knn_hit *thit;
    float *val;               /* column scratch: dot of (i, j) when mark[i] == stamp */
    uint32_t *mark;
    uint32_t stamp;
} knn_pool;

/* What the lists prove about pair (i, j) of the set, which neither holds (cosine's cap). */
static double pool_cap(const knn_pool *p, size_t i, size_t j, double den)
{
    double bi = p->len[i] ? knn_last(p->s, p->len[i], p->wlast[i], den) : 0;
    double bj = p->len[j] ? knn_last(p->s, p->len[j], p->wlast[j], den) : 0;
    return RECSYS_MIN(RECSYS_MIN(1.0, bi), bj);
}

/* recsys__itemknn_cosine(set[i], set[j]), step for step on the gathered copy: row i first,
 * then row j. */
static double pool_sim(const recsys__simpool *base, size_t i, size_t j, double *cap)
{
    const knn_pool *p = (const knn_pool *)base;
    if (cap)
        *cap = 1;
    if (!(p->norm[i] > 0) || !(p->norm[j] > 0))
        return NAN;
    if (i == j)
        return 1;
    double den = p->norm[i] * p->norm[j];
    for (int x = 0; x < 2; x++) {
        size_t row = x ? j : i, other = x ? i : j;
        for (size_t h = p->off[row]; h < p->off[row + 1]; h++)
            if (p->hit[h].j == other)
                return knn_cos(p->hit[h].dot, den);
    }
    if (cap)
        *cap = pool_cap(p, i, j, den);
    return NAN;
}

/* pool_sim(idx[x], j) for x < n at once: j's row and the rows holding j marked first. */
static void pool_column(recsys__simpool *base, size_t j, const size_t *idx, size_t n,
                        double *out, double *cap)
{
    knn_pool *p = (knn_pool *)base;
    if (++p->stamp == 0) { /* wrapped: no mark may look current */
        memset(p->mark, 0, p->n * sizeof *p->mark);
        p->stamp = 1;
    }
    for (size_t h = p->off[j]; h < p->off[j + 1]; h++) { /* row j: (j, i), the fallback */
        p->mark[p->hit[h].j] = p->stamp;
        p->val[p->hit[h].j] = p->hit[h].dot;
    }
    for (size_t h = p->toff[j]; h < p->toff[j + 1]; h++) { /* row i: (i, j), read first */
        p->mark[p->thit[h].j] = p->stamp;
        p->val[p->thit[h].j] = p->thit[h].dot;
    }
    for (size_t x = 0; x < n; x++) {
        size_t i = idx[x];
        cap[x] = 1;
        if (!(p->norm[i] > 0) || !(p->norm[j] > 0)) {
            out[x] = NAN;
            continue;
        }
        if (i == j) {
            out[x] = 1;
            continue;
        }
        double den = p->norm[i] * p->norm[j];
        if (p->mark[i] == p->stamp) {
            out[x] = knn_cos(p->val[i], den);
        } else {
            out[x] = NAN;
            cap[x] = pool_cap(p, i, j, den);
        }
    }
}

static void pool_free(const recsys__mem *m, recsys__simpool *base)
{
    recsys__free(m, base); /* one block */
}

/* Item a's row in s: [*from, *from + len) (0 entries when the state knows nothing of a). */
static size_t pool_row(const knn_state *s, uint32_t a, size_t *from)
{
    *from = 0;
    if (!knn_known(s, a))
        return 0;
    *from = s->nbr.off[a];
    return recsys__itemrows_end(&s->nbr, a) - *from;
}

recsys_status recsys__itemknn_pool(const void *state, const recsys__mem *m,
                                   const uint32_t *items, size_t n, recsys__simpool **out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "itemknn: argument 'out' is NULL");
    *out = NULL;
    if (!m || (n && !items))
        return recsys__err(RECSYS_E_INVALID_ARG, "itemknn: allocator or items is NULL");
    const knn_state *s = state;
    const recsys__itemrows *r = s ? &s->nbr : NULL;
    /* The lists are large and cold: each pass below first asks for the cache lines the next
     * one reads, for every item at once, so that the misses overlap instead of queueing. */
    for (size_t i = 0; r && i < n; i++)
        if (items[i] < r->nrows) {
            __builtin_prefetch(&s->norm2[items[i]]);
            __builtin_prefetch(&r->off[items[i]]);
            if (r->len)
                __builtin_prefetch(&r->len[items[i]]);
        }
    /* the hits a row can give: at most its length, and the set's other items */
    size_t nhit = 0, nslot = 16, from;
    for (size_t i = 0; i < n; i++) {
        size_t len = pool_row(s, items[i], &from);
        nhit += RECSYS_MIN(len, n - 1);
        for (size_t e = 0; e < len; e += 16) {
            __builtin_prefetch(&r->col[from + e]);
            __builtin_prefetch(&s->dot[from + e]);
        }
        if (len && len >= s->k) /* the bound reads a full row's last weight */
            __builtin_prefetch(&r->w[from + len - 1]);
    }
    while (nslot < 2 * n)
        nslot *= 2;
    /* one block: the pool, its arrays, then the item -> set index table (scratch) */
    enum { NARR = 11 };
    size_t sz[NARR] = { sizeof(knn_pool),          n * sizeof(double),
                        n * sizeof(uint32_t),      n * sizeof(float),
                        (n + 1) * sizeof(size_t),  nhit * sizeof(knn_hit),
                        (n + 1) * sizeof(size_t),  nhit * sizeof(knn_hit),
                        n * sizeof(float),         n * sizeof(uint32_t),
                        nslot * sizeof(uint64_t) };
    size_t total = 0, at[NARR];
    for (int x = 0; x < NARR; x++) {
        at[x] = total;
        size_t step = (sz[x] + 15) & ~(size_t)15;
        if (step < sz[x] || total > SIZE_MAX - step)
            return recsys__err(RECSYS_E_NOMEM, "itemknn: a pool of %zu items overflows", n);
        total += step;
    }
    unsigned char *blk = recsys__alloc(m, total);
    if (!blk)
        return RECSYS_E_NOMEM;
    knn_pool *p = (knn_pool *)blk;
    p->base.sim = pool_sim;
    p->base.column = pool_column;
    p->base.free = pool_free;
    p->s = s;
    p->n = n;
    p->norm = (double *)(blk + at[1]);
    p->len = (uint32_t *)(blk + at[2]);
    p->wlast = (float *)(blk + at[3]);
    p->off = (size_t *)(blk + at[4]);
    p->hit = (knn_hit *)(blk + at[5]);
    p->toff = (size_t *)(blk + at[6]);
    p->thit = (knn_hit *)(blk + at[7]);
    p->val = (float *)(blk + at[8]);
    p->mark = (uint32_t *)(blk + at[9]);
    p->stamp = 0;
    memset(p->mark, 0, n * sizeof *p->mark);
    uint64_t *slot = (uint64_t *)(blk + at[10]); /* item << 32 | index + 1; 0 empty */
    memset(slot, 0, nslot * sizeof *slot);
    memset(p->toff, 0, (n + 1) * sizeof *p->toff);
    size_t mask = nslot - 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t a = items[i];
        size_t len = pool_row(s, a, &from);
        p->norm[i] = knn_known(s, a) ? sqrt(s->norm2[a]) : 0;
        p->len[i] = (uint32_t)len;
        p->wlast[i] = len && len >= s->k ? r->w[from + len - 1] : 0; /* read when full */
        size_t h = ((size_t)a * 0x9E3779B1u) & mask;
        while (slot[h])
            h = (h + 1) & mask;
        slot[h] = (uint64_t)a << 32 | (uint64_t)(i + 1);
    }
    size_t got = 0; /* row i's hits in row order (a row holds an item once) */
    for (size_t i = 0; i < n; i++) {
        p->off[i] = got;
        uint32_t a = items[i];
        size_t len = pool_row(s, a, &from);
        for (size_t e = from, end = from + len; e < end && got - p->off[i] < n - 1; e++) {
            uint32_t b = r->col[e];
            size_t h = ((size_t)b * 0x9E3779B1u) & mask;
            while (slot[h] && (uint32_t)(slot[h] >> 32) != b)
                h = (h + 1) & mask;
            if (slot[h] && b != a) {
                uint32_t j = (uint32_t)slot[h] - 1;
                p->hit[got++] = (knn_hit){ j, s->dot[e] };
                p->toff[j + 1]++;
            }
        }
    }
    p->off[n] = got;
    for (size_t j = 0; j < n; j++) /* the transpose: counts to starts, then filled */
        p->toff[j + 1] += p->toff[j];
    for (size_t i = 0; i < n; i++)
        for (size_t h = p->off[i]; h < p->off[i + 1]; h++) {
            knn_hit *t = &p->thit[p->toff[p->hit[h].j]++];
            *t = (knn_hit){ (uint32_t)i, p->hit[h].dot };
        }
    for (size_t j = n; j > 0; j--) /* each start moved to the next one's: shift back */
        p->toff[j] = p->toff[j - 1];
    p->toff[0] = 0;
    *out = &p->base;
    return RECSYS_OK;
}

static recsys_status knn_build_state(const recsys__build_ctx *c, void **out)
{
    double k = c->opt[recsys__opt_slot(RECSYS_OPT_ITEMKNN_K)];
    double shrink = c->opt[recsys__opt_slot(RECSYS_OPT_ITEMKNN_SHRINK)];
    return recsys__itemknn_build(c->mem, c->model, k >= 1 ? (size_t)k : 1, shrink,
                                 recsys__item2item_threads(c->opt), out);
}

const recsys__builder_hooks recsys__itemknn_hooks = {
    .positives_changed = recsys__itemknn_observe,
    .lost = recsys__itemknn_lost,
};

const recsys__builder recsys__itemknn_builder = {
    RECSYS__DERIVED_ITEMKNN, { "itemknn", "session" }, knn_build_state, recsys__itemknn_free,
    true,
};

static recsys_status knn_retrieve(void *ctx, const recsys_query *q, recsys_candidates *out)
{
    RECSYS_UNUSED(ctx);
    if (!q || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "itemknn: query or candidate set is NULL");
    const knn_state *s = q->derived ? q->derived->state[RECSYS__DERIVED_ITEMKNN] : NULL;
    return recsys__item2item_retrieve(q, out, s ? &s->nbr : NULL, false, 1.0);
}

recsys_status recsys__source_itemknn(const recsys__mem *m, recsys_source_vtable *out)
{
    RECSYS_UNUSED(m);
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "itemknn: vtable is NULL");
    memset(out, 0, sizeof *out);
    out->struct_size = (uint32_t)sizeof *out;
    out->retrieve = knn_retrieve;
    return RECSYS_OK;
}
