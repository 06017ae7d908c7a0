/* dataset.c - interaction files -> positive interactions (protocol sections 1, 2 and 8). */
#include "csv.h"
#include "../core/error.h"
#include "../core/ids.h"

/* A record that passed the variant, before ids are ordered. */
typedef struct row {
    uint32_t user, item; /* interned (first-seen) indices, later dense ranks */
    uint32_t seq;        /* order in the file */
    int64_t ts;
} row;

/* Where the fields of a record are; -1 = absent. */
typedef struct layout {
    int user, item, ts, value;
    size_t header_fields; /* 0 = no header */
    bool decimal_ids;     /* the ml formats: ids must be decimal */
} layout;

recsys_status recsys__eval_slurp(const recsys__mem *m, const char *path, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    if (!path)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval: file path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f)
        return recsys__err(RECSYS_E_IO, "cannot open '%.300s': %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = recsys__alloc(m, cap);
    recsys_status st = buf ? RECSYS_OK : RECSYS_E_NOMEM;
    while (st == RECSYS_OK) {
        if (n + 1 >= cap)
            st = recsys__grow(m, (void **)&buf, &cap, cap * 2, 1);
        if (st != RECSYS_OK)
            break;
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                st = recsys__err(RECSYS_E_IO, "cannot read '%.300s': %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st != RECSYS_OK) {
        recsys__free(m, buf);
        return st;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return RECSYS_OK;
}

/* ------------------------------------------------------------------ header */

static int find_col(char **names, size_t n, const char *const *want)
{
    for (size_t i = 0; i < n; i++)
        for (size_t w = 0; want[w]; w++)
            if (strcmp(names[i], want[w]) == 0)
                return (int)i;
    return -1;
}

static recsys_status read_header(recsys__csv *r, int format, layout *lay)
{
    bool eof;
    RECSYS_TRY(recsys__csv_next(r, &eof));
    if (eof || recsys__csv_blank(r))
        return recsys__err(RECSYS_E_INVALID_ARG, "%.200s:1: a header line is expected%s", r->name,
                           eof ? " (the file is empty)" : "");
    lay->header_fields = r->nf;
    if (format == RECSYS__EVAL_MLLATEST) {
        static const char *const want[] = { "userId", "movieId", "rating", "timestamp" };
        bool ok = r->nf == 4;
        for (size_t i = 0; ok && i < 4; i++)
            ok = strcmp(r->f[i], want[i]) == 0;
        if (!ok)
            return recsys__csv_fail(r, "the header is not 'userId,movieId,rating,timestamp'");
        *lay = (layout){ 0, 1, 3, 2, 4, true };
        return RECSYS_OK;
    }
    for (size_t i = 0; i < r->nf; i++) {
        size_t len;
        recsys__csv_lower(recsys__csv_trim(r, i, &len));
    }
    static const char *const users[] = { "user_id", "userid", "user", NULL };
    static const char *const items[] = { "item_id", "itemid", "item", "movie_id", "movieid", NULL };
    static const char *const tss[] = { "timestamp", "ts", "time", NULL };
    static const char *const vals[] = { "value", "rating", "score", "weight", NULL };
    int u = find_col(r->f, r->nf, users), it = find_col(r->f, r->nf, items);
    if (u >= 0 && it >= 0) {
        *lay = (layout){ u, it, find_col(r->f, r->nf, tss), find_col(r->f, r->nf, vals), r->nf,
                         false };
    } else if (r->nf >= 2) {
        *lay = (layout){ 0, 1, r->nf >= 3 ? 2 : -1, r->nf >= 4 ? 3 : -1, r->nf, false };
    } else {
        return recsys__csv_fail(r, "the header has %zu field(s); expected at least "
                                   "user_id,item_id", r->nf);
    }
    if (u >= 0 && it >= 0 && u == it)
        return recsys__csv_fail(r, "the header names one column as both user and item");
    return RECSYS_OK;
}

/* ------------------------------------------------------------------ records */

typedef struct reading {
    const recsys__mem *m;
    recsys__ids users, items;
    row *rows;
    size_t n, cap;
} reading;

static recsys_status intern(recsys__csv *r, recsys__ids *ids, size_t field, const char *what,
                            bool decimal, uint32_t *idx)
{
    const char *s;
    size_t len;
    uint64_t v;
    RECSYS_TRY(recsys__csv_id(r, field, what, &s, &len));
    if (decimal && !recsys__eval_decimal(s, len, &v))
        return recsys__csv_fail(r, "field %zu (%s) '%.40s' is not a decimal integer", field + 1,
                                what, s);
    return recsys__ids_intern(ids, s, len, idx, NULL);
}

static recsys_status read_records(recsys__csv *r, const layout *lay, int variant, reading *rd,
                                  recsys__eval_data *out)
{
    size_t first_line = lay->header_fields ? 2 : 1;
    size_t need = (size_t)RECSYS_MAX(lay->user, lay->item) + 1;
    for (;;) {
        bool eof;
        RECSYS_TRY(recsys__csv_next(r, &eof));
        if (eof)
            return RECSYS_OK;
        if (recsys__csv_blank(r))
            continue;
        out->records++;
        if (lay->decimal_ids && r->nf != 4)
            return recsys__csv_fail(r, "%zu field(s), expected 4 (user, item, rating, timestamp)",
                                    r->nf);
        if (r->nf < need)
            return recsys__csv_fail(r, "%zu field(s); the user and item ids need %zu", r->nf, need);
        if (lay->header_fields && r->nf > lay->header_fields)
            return recsys__csv_fail(r, "%zu fields, but the header has %zu", r->nf,
                                    lay->header_fields);
        bool has_value = lay->value >= 0 && (size_t)lay->value < r->nf &&
                         r->flen[lay->value] > 0;
        double value = 0;
        if (lay->decimal_ids && !has_value)
            return recsys__csv_fail(r, "field %d (rating) is empty", lay->value + 1);
        if (has_value)
            RECSYS_TRY(recsys__csv_num(r, (size_t)lay->value, "value", &value));
        if (variant == RECSYS__EVAL_GE4) {
            if (!has_value)
                return recsys__csv_fail(r, "variant GE4 needs a value (rating) in every record");
            if (!(value >= 4.0)) {
                out->discarded++;
                continue;
            }
        }
        row w;
        if (lay->ts >= 0 && (size_t)lay->ts < r->nf && r->flen[lay->ts] > 0)
            RECSYS_TRY(recsys__csv_int(r, (size_t)lay->ts, "timestamp", &w.ts));
        else if (lay->decimal_ids)
            return recsys__csv_fail(r, "field %d (timestamp) is empty", lay->ts + 1);
        else
            w.ts = (int64_t)(r->line - first_line); /* section 8: the 0-based line number */
        RECSYS_TRY(intern(r, &rd->users, (size_t)lay->user, "user id", lay->decimal_ids, &w.user));
        RECSYS_TRY(intern(r, &rd->items, (size_t)lay->item, "item id", lay->decimal_ids, &w.item));
        if (rd->n >= UINT32_MAX - 1)
            return recsys__csv_fail(r, "too many records (limit %u)", UINT32_MAX - 1);
        w.seq = (uint32_t)rd->n;
        RECSYS_TRY(RECSYS_GROW(rd->m, rd->rows, rd->cap, rd->n + 1));
        rd->rows[rd->n++] = w;
    }
}

/* ------------------------------------------------------------------ ordering */

static int by_pair(const void *a, const void *b)
{
    const row *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    if (x->item != y->item)
        return x->item < y->item ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int by_user_time(const void *a, const void *b)
{
    const recsys__eval_event *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

typedef struct id_ref {
    const char *name;
    uint64_t num;
    uint32_t idx;
} id_ref;

static int by_num(const void *a, const void *b)
{
    const id_ref *x = a, *y = b;
    return x->num < y->num ? -1 : x->num > y->num;
}

static int by_name(const void *a, const void *b)
{
    const id_ref *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* Orders the interned ids (numerically when all are decimal) into out; rank[interned] =
 * the dense index. */
static recsys_status order_ids(const recsys__mem *m, const recsys__ids *ids, recsys__eval_ids *out,
                               uint32_t *rank)
{
    size_t n = ids->n;
    id_ref *v = recsys__calloc(m, n ? n : 1, sizeof *v);
    out->name = recsys__calloc(m, n ? n : 1, sizeof *out->name);
    if (!v || !out->name) {
        recsys__free(m, v);
        return RECSYS_E_NOMEM;
    }
    out->numeric = true;
    for (size_t i = 0; i < n; i++) {
        const char *s = recsys__ids_name(ids, (uint32_t)i);
        v[i] = (id_ref){ s, 0, (uint32_t)i };
        if (out->numeric && !recsys__eval_decimal(s, strlen(s), &v[i].num))
            out->numeric = false;
    }
    qsort(v, n, sizeof *v, out->numeric ? by_num : by_name);
    if (out->numeric && !(out->num = recsys__calloc(m, n ? n : 1, sizeof *out->num))) {
        recsys__free(m, v);
        return RECSYS_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        rank[v[i].idx] = (uint32_t)i;
        if (out->numeric)
            out->num[i] = v[i].num;
        if (!(out->name[i] = recsys__strdup(m, v[i].name))) {
            recsys__free(m, v);
            return RECSYS_E_NOMEM;
        }
        out->n = i + 1;
    }
    recsys__free(m, v);
    return RECSYS_OK;
}

static void ids_free(const recsys__mem *m, recsys__eval_ids *ids)
{
    for (size_t i = 0; ids->name && i < ids->n; i++)
        recsys__free(m, ids->name[i]);
    recsys__free(m, ids->name);
    recsys__free(m, ids->num);
    memset(ids, 0, sizeof *ids);
}

/* Builds the per-user offsets of a part whose events are sorted by user. */
static recsys_status index_part(const recsys__mem *m, recsys__eval_part *p, size_t nusers)
{
    p->nusers = nusers;
    p->off = recsys__calloc(m, nusers + 1, sizeof *p->off);
    if (!p->off)
        return RECSYS_E_NOMEM;
    for (size_t i = 0; i < p->n; i++)
        p->off[p->ev[i].user + 1]++;
    for (size_t u = 0; u < nusers; u++)
        p->off[u + 1] += p->off[u];
    return RECSYS_OK;
}

/* Dedups, orders the ids and fills out from the rows. */
static recsys_status finish(reading *rd, recsys__eval_data *out)
{
    const recsys__mem *m = rd->m;
    qsort(rd->rows, rd->n, sizeof *rd->rows, by_pair);
    size_t kept = 0;
    for (size_t i = 0; i < rd->n; i++) {
        if (kept && rd->rows[kept - 1].user == rd->rows[i].user &&
            rd->rows[kept - 1].item == rd->rows[i].item) {
            out->duplicates++;
            continue;
        }
        rd->rows[kept++] = rd->rows[i];
    }
    uint32_t *urank = recsys__calloc(m, rd->users.n + 1, sizeof *urank);
    uint32_t *irank = recsys__calloc(m, rd->items.n + 1, sizeof *irank);
    recsys_status st = urank && irank ? RECSYS_OK : RECSYS_E_NOMEM;
    if (st == RECSYS_OK)
        st = order_ids(m, &rd->users, &out->users, urank);
    if (st == RECSYS_OK)
        st = order_ids(m, &rd->items, &out->items, irank);
    if (st == RECSYS_OK && !(out->all.ev = recsys__calloc(m, kept ? kept : 1, sizeof *out->all.ev)))
        st = RECSYS_E_NOMEM;
    if (st == RECSYS_OK) {
        for (size_t i = 0; i < kept; i++) {
            const row *w = &rd->rows[i];
            out->all.ev[i] = (recsys__eval_event){ urank[w->user], irank[w->item], w->ts };
            if (i == 0 || w->ts < out->min_ts)
                out->min_ts = w->ts;
            if (i == 0 || w->ts > out->max_ts)
                out->max_ts = w->ts;
        }
        out->all.n = kept;
        qsort(out->all.ev, kept, sizeof *out->all.ev, by_user_time);
        st = index_part(m, &out->all, out->users.n);
    }
    recsys__free(m, urank);
    recsys__free(m, irank);
    return st;
}

recsys_status recsys__eval_parse(const recsys__mem *m, const char *text, size_t len,
                                 const char *name, int format, int variant,
                                 recsys__eval_data *out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval: output is NULL");
    memset(out, 0, sizeof *out);
    if (!m || (!text && len))
        return recsys__err(RECSYS_E_INVALID_ARG, "eval: allocator or text is NULL");
    if (format < RECSYS__EVAL_ML100K || format > RECSYS__EVAL_CSV)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval: unknown file format %d", format);
    if (variant != RECSYS__EVAL_ALL && variant != RECSYS__EVAL_GE4)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval: unknown variant %d", variant);
    if (!name)
        name = "(text)";
    out->mem = m;
    recsys__csv r;
    recsys__csv_init(&r, m, name, text ? text : "", len, format == RECSYS__EVAL_ML100K ? '\t' : ',',
                     format == RECSYS__EVAL_CSV);
    reading rd = { .m = m };
    recsys__ids_init(&rd.users, m);
    recsys__ids_init(&rd.items, m);
    layout lay = { 0, 1, 3, 2, 0, true }; /* u.data: user item rating timestamp, no header */
    recsys_status st = RECSYS_OK;
    if (format != RECSYS__EVAL_ML100K)
        st = read_header(&r, format, &lay);
    if (st == RECSYS_OK)
        st = read_records(&r, &lay, variant, &rd, out);
    if (st == RECSYS_OK && rd.n == 0)
        st = recsys__err(RECSYS_E_INVALID_ARG, "%.200s: no %sinteractions (%zu records read)", name,
                         variant == RECSYS__EVAL_GE4 ? "positive (value >= 4) " : "", out->records);
    if (st == RECSYS_OK)
        st = finish(&rd, out);
    recsys__csv_free(&r);
    recsys__ids_free(&rd.users);
    recsys__ids_free(&rd.items);
    recsys__free(m, rd.rows);
    if (st != RECSYS_OK) {
        recsys__err_saved s;
        recsys__err_save(&s);
        recsys__eval_data_free(out);
        recsys__err_restore(&s);
    }
    return st;
}

recsys_status recsys__eval_read(const recsys__mem *m, const char *path, int format, int variant,
                                recsys__eval_data *out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval: output is NULL");
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    RECSYS_TRY(recsys__eval_slurp(m, path, &text, &len));
    recsys_status st = recsys__eval_parse(m, text, len, path, format, variant, out);
    recsys__free(m, text);
    return st;
}

void recsys__eval_data_free(recsys__eval_data *d)
{
    if (!d || !d->mem)
        return;
    const recsys__mem *m = d->mem;
    ids_free(m, &d->users);
    ids_free(m, &d->items);
    recsys__eval_part_free(m, &d->all);
    memset(d, 0, sizeof *d);
}
