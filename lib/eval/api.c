/* api.c - the public offline-evaluation API (recsys_eval_*, include/recsys.h): a data set
 * read and split per EVAL_PROTOCOL.md, loaded into an engine, and the host's lists scored.
 *
 * Why: the protocol recsys-bench eval follows, reachable by a host (and the Python
 * bindings) with its own models and pipelines, with the very same figures. Nothing here
 * re-implements the protocol: reading, the split, the final lists (violations dropped, ties
 * at the bottom), the accuracy and beyond-accuracy metrics and MostPopular are lib/eval's
 * (eval.h), called exactly as bench/eval.c calls them, and the engine is driven through the
 * public API as bench/eval.c drives it (the engine ids, the protocol's options, the events
 * in time order). So a list scored here and by recsys-bench gives the same numbers.
 *
 * Engine ids: items are the id zero-padded to max(7, digits of the largest id) for a numeric
 * id column, else the zero-padded rank of the byte order; users are "u" + the dense index
 * zero-padded to max(7, digits). Both sort like the dense indices, so a lookup is a binary
 * search over the id arrays.
 *
 * Costs: open O(records log records) (lib/eval), plus O(users + items) for the ids; feed
 * O(items + |part| log |part|) plus the engine's calls; add O(64 log items); metrics
 * O(|truth| + users * 20 * ...) as recsys__eval_run, plus MostPopular. A run keeps at most 64
 * entries per user it was given a list for.
 */
#include "eval.h"
#include "../core/error.h"
#include "../model/json_write.h"

#define RAW_MAX 64 /* entries of a host list looked at (recsys-bench eval's MAX_RAW) */
#define FEED_CHUNK 65536

struct recsys_eval_dataset {
    recsys__mem mem; /* the structs below keep a pointer to it: the dataset never moves */
    char format[24];
    int variant;
    recsys__eval_data d;
    recsys__eval_part train, test, fit, val;
    recsys__eval_items meta;
    recsys__eval_genres genres;
    bool have_meta, have_genres;
    char **item_key, **user_key;
    int64_t shift;
    uint32_t *part_users[6]; /* by recsys_eval_part: dense users with interactions there */
    size_t npart_users[6];
};

struct recsys_eval_run {
    const recsys_eval_dataset *ds;
    int32_t part;
    const recsys__eval_part *known, *truth;
    uint32_t **raw; /* per dense user: the host's list as dense indices (UINT32_MAX: unknown) */
    uint8_t *nraw;
    /* during recsys_eval_run_metrics_json */
    recsys__eval_beyond *beyond;
    recsys__eval_violations viol;
    size_t padded, missing;
};

static const recsys__eval_part *part_of(const recsys_eval_dataset *ds, int32_t part)
{
    switch (part) {
    case RECSYS_EVAL_TRAIN: return &ds->train;
    case RECSYS_EVAL_TEST: return &ds->test;
    case RECSYS_EVAL_FIT: return &ds->fit;
    case RECSYS_EVAL_VALIDATION: return &ds->val;
    case RECSYS_EVAL_ALL: return &ds->d.all;
    default: return NULL;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Dense index of an engine id in keys[0..n) (sorted), or UINT32_MAX. */
static uint32_t find_key(char *const *keys, size_t n, const char *id)
{
    char *const *hit = bsearch(&id, keys, n, sizeof *keys, cmp_str);
    return hit ? (uint32_t)(hit - keys) : UINT32_MAX;
}

static int digits(unsigned long long v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

static void free_keys(const recsys__mem *m, char **keys, size_t n)
{
    for (size_t i = 0; keys && i < n; i++)
        recsys__free(m, keys[i]);
    recsys__free(m, keys);
}

/* the engine ids (see the top of the file) and the users of each part */
static recsys_status make_keys(recsys_eval_dataset *ds)
{
    const recsys__mem *m = &ds->mem;
    const recsys__eval_data *d = &ds->d;
    unsigned long long imax = d->items.numeric ? (unsigned long long)d->items.num[d->items.n - 1]
                                               : (unsigned long long)(d->items.n - 1);
    int iw = digits(imax) > 7 ? digits(imax) : 7;
    int uw = digits(d->users.n - 1) > 7 ? digits(d->users.n - 1) : 7;
    iw &= 31; /* at most 20 digits: says so to the compiler's format check */
    uw &= 31;
    if (!(ds->item_key = recsys__calloc(m, d->items.n, sizeof *ds->item_key)) ||
        !(ds->user_key = recsys__calloc(m, d->users.n, sizeof *ds->user_key)))
        return RECSYS_E_NOMEM;
    for (size_t i = 0; i < d->items.n; i++) {
        unsigned long long v = d->items.numeric ? (unsigned long long)d->items.num[i] : i;
        char tmp[48];
        snprintf(tmp, sizeof tmp, "%0*llu", iw, v);
        if (!(ds->item_key[i] = recsys__strdup(m, tmp)))
            return RECSYS_E_NOMEM;
    }
    for (size_t u = 0; u < d->users.n; u++) {
        char tmp[48];
        snprintf(tmp, sizeof tmp, "u%0*zu", uw, u);
        if (!(ds->user_key[u] = recsys__strdup(m, tmp)))
            return RECSYS_E_NOMEM;
    }
    for (int32_t p = RECSYS_EVAL_TRAIN; p <= RECSYS_EVAL_ALL; p++) {
        const recsys__eval_part *pt = part_of(ds, p);
        size_t n = recsys__eval_part_users(pt);
        if (!(ds->part_users[p] = recsys__alloc(m, (n ? n : 1) * sizeof(uint32_t))))
            return RECSYS_E_NOMEM;
        size_t k = 0;
        for (size_t u = 0; u < pt->nusers; u++)
            if (pt->off[u + 1] > pt->off[u])
                ds->part_users[p][k++] = (uint32_t)u;
        ds->npart_users[p] = k;
    }
    ds->shift = d->min_ts < 1 ? 1 - d->min_ts : 0;
    return RECSYS_OK;
}

RECSYS_API void recsys_eval_dataset_free(recsys_eval_dataset *ds)
{
    if (!ds)
        return;
    const recsys__mem *m = &ds->mem;
    free_keys(m, ds->item_key, ds->d.items.n);
    free_keys(m, ds->user_key, ds->d.users.n);
    for (int p = 0; p < 6; p++)
        recsys__free(m, ds->part_users[p]);
    recsys__eval_part_free(m, &ds->train);
    recsys__eval_part_free(m, &ds->test);
    recsys__eval_part_free(m, &ds->fit);
    recsys__eval_part_free(m, &ds->val);
    if (ds->have_genres)
        recsys__eval_genres_free(&ds->genres);
    if (ds->have_meta)
        recsys__eval_items_free(&ds->meta);
    recsys__eval_data_free(&ds->d);
    recsys__mem mcopy = ds->mem;
    recsys__free(&mcopy, ds);
}

/* Reads the item metadata; for the MovieLens folders a missing or unreadable file only
 * means "no metadata" (as recsys-bench eval, which warns), for an explicit csv items file
 * it is an error. */
static recsys_status read_meta(recsys_eval_dataset *ds, int ifmt, const char *ipath,
                               const char *gpath, bool required)
{
    recsys_status st = recsys__eval_read_items(&ds->mem, ipath, ifmt, gpath, &ds->meta);
    if (st == RECSYS_E_NOMEM || (st != RECSYS_OK && required))
        return st;
    if (st != RECSYS_OK) {
        recsys__err_clear();
        return RECSYS_OK;
    }
    ds->have_meta = true;
    st = recsys__eval_genres_build(&ds->mem, &ds->meta, ds->d.items.name, ds->d.items.n,
                                   &ds->genres);
    ds->have_genres = st == RECSYS_OK;
    return st;
}

RECSYS_API recsys_status recsys_eval_dataset_open(const char *path, const char *format,
                                                  int32_t variant, const char *items_path,
                                                  const recsys_allocator *allocator,
                                                  recsys_eval_dataset **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    RECSYS_CHECK_ARG(path);
    RECSYS_CHECK_ARG(format);
    if (variant != RECSYS_EVAL_VARIANT_ALL && variant != RECSYS_EVAL_VARIANT_GE4)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_eval_dataset_open: variant %d is not "
                           "RECSYS_EVAL_VARIANT_ALL (0) or RECSYS_EVAL_VARIANT_GE4 (1)", variant);
    int fmt;
    if (!strcmp(format, "ml-100k"))
        fmt = RECSYS__EVAL_ML100K;
    else if (!strcmp(format, "ml-latest-small"))
        fmt = RECSYS__EVAL_MLLATEST;
    else if (!strcmp(format, "csv"))
        fmt = RECSYS__EVAL_CSV;
    else
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_eval_dataset_open: format '%.64s' is "
                           "not \"ml-100k\", \"ml-latest-small\" or \"csv\"", format);
    if (items_path && fmt != RECSYS__EVAL_CSV)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_eval_dataset_open: items_path is for "
                           "the csv format only (the %s folder has its own)", format);
    recsys__mem mem;
    RECSYS_TRY(recsys__mem_init(&mem, allocator));
    recsys_eval_dataset *ds = recsys__calloc(&mem, 1, sizeof *ds);
    if (!ds)
        return RECSYS_E_NOMEM;
    ds->mem = mem;
    snprintf(ds->format, sizeof ds->format, "%s", format);
    ds->variant = variant;
    size_t plen = strlen(path) + 32;
    char *file = recsys__alloc(&mem, plen), *ipath = recsys__alloc(&mem, plen),
         *gpath = recsys__alloc(&mem, plen);
    recsys_status st = file && ipath && gpath ? RECSYS_OK : RECSYS_E_NOMEM;
    if (st == RECSYS_OK) {
        gpath[0] = '\0'; /* only ml-100k has a genre file */
        if (fmt == RECSYS__EVAL_ML100K) {
            snprintf(file, plen, "%s/u.data", path);
            snprintf(ipath, plen, "%s/u.item", path);
            snprintf(gpath, plen, "%s/u.genre", path);
        } else if (fmt == RECSYS__EVAL_MLLATEST) {
            snprintf(file, plen, "%s/ratings.csv", path);
            snprintf(ipath, plen, "%s/movies.csv", path);
        } else {
            snprintf(file, plen, "%s", path);
        }
        st = recsys__eval_read(&ds->mem, file, fmt, variant, &ds->d);
    }
    if (st == RECSYS_OK && fmt != RECSYS__EVAL_CSV)
        st = read_meta(ds, fmt, ipath, fmt == RECSYS__EVAL_ML100K ? gpath : NULL, false);
    else if (st == RECSYS_OK && items_path)
        st = read_meta(ds, RECSYS__EVAL_CSV, items_path, NULL, true);
    if (st == RECSYS_OK)
        st = recsys__eval_split(&ds->mem, &ds->d.all, &ds->train, &ds->test);
    if (st == RECSYS_OK)
        st = recsys__eval_split(&ds->mem, &ds->train, &ds->fit, &ds->val);
    if (st == RECSYS_OK)
        st = make_keys(ds);
    recsys__free(&mem, file);
    recsys__free(&mem, ipath);
    recsys__free(&mem, gpath);
    if (st != RECSYS_OK) {
        recsys__err_saved s;
        recsys__err_save(&s);
        recsys_eval_dataset_free(ds);
        recsys__err_restore(&s);
        if (s.status == RECSYS_OK) /* a helper returned without a message */
            return recsys__err(st, "recsys_eval_dataset_open: %s", recsys_status_str(st));
        return st;
    }
    *out = ds;
    return RECSYS_OK;
}

RECSYS_API size_t recsys_eval_dataset_item_count(const recsys_eval_dataset *ds)
{
    return ds ? ds->d.items.n : 0;
}

RECSYS_API const char *recsys_eval_dataset_item_id(const recsys_eval_dataset *ds, size_t i)
{
    return ds && i < ds->d.items.n ? ds->item_key[i] : NULL;
}

RECSYS_API size_t recsys_eval_dataset_user_count(const recsys_eval_dataset *ds, int32_t part)
{
    return ds && part_of(ds, part) ? ds->npart_users[part] : 0;
}

RECSYS_API const char *recsys_eval_dataset_user_id(const recsys_eval_dataset *ds, int32_t part,
                                                   size_t i)
{
    if (!ds || !part_of(ds, part) || i >= ds->npart_users[part])
        return NULL;
    return ds->user_key[ds->part_users[part][i]];
}

RECSYS_API recsys_status recsys_eval_dataset_info_json(const recsys_eval_dataset *ds, char **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    RECSYS_CHECK_ARG(ds);
    recsys__jw b = { .m = &ds->mem };
    bool first = true;
    recsys__jw_puts(&b, "{");
    recsys__jw_key(&b, "format", &first);
    recsys__jw_str(&b, ds->format);
    recsys__jw_key(&b, "variant", &first);
    recsys__jw_str(&b, ds->variant ? "ge4" : "all");
    const struct { const char *k; size_t v; } n[] = {
        { "users", ds->d.users.n }, { "items", ds->d.items.n }, { "interactions", ds->d.all.n },
        { "records", ds->d.records }, { "discarded", ds->d.discarded },
        { "duplicates", ds->d.duplicates }, { "train", ds->train.n }, { "test", ds->test.n },
        { "fit", ds->fit.n }, { "validation", ds->val.n },
        { "test_users", ds->npart_users[RECSYS_EVAL_TEST] },
        { "validation_users", ds->npart_users[RECSYS_EVAL_VALIDATION] },
    };
    for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) {
        recsys__jw_key(&b, n[i].k, &first);
        recsys__jw_int(&b, (int64_t)n[i].v);
    }
    recsys__jw_key(&b, "metadata", &first);
    recsys__jw_puts(&b, ds->have_meta ? "true" : "false");
    recsys__jw_puts(&b, "}");
    return recsys__jw_finish(&b, true, out, NULL);
}

/* The engine clock for a model trained on part: its latest timestamp + 1 (shifted), as
 * recsys-bench eval's part_now. */
static int64_t part_now(const recsys_eval_dataset *ds, const recsys__eval_part *p)
{
    int64_t now = (p->n ? 0 : ds->d.max_ts) + ds->shift + 1;
    for (size_t i = 0; i < p->n; i++)
        if (p->ev[i].ts + ds->shift + 1 > now)
            now = p->ev[i].ts + ds->shift + 1;
    return now;
}

RECSYS_API recsys_status recsys_eval_dataset_configure(const recsys_eval_dataset *ds,
                                                       recsys_engine *engine, int32_t part)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(ds);
    RECSYS_CHECK_ARG(engine);
    const recsys__eval_part *p = part_of(ds, part);
    if (!p)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_eval_dataset_configure: unknown part %d",
                           part);
    recsys_option_desc cand;
    memset(&cand, 0, sizeof cand);
    cand.struct_size = (uint32_t)sizeof cand;
    RECSYS_TRY(recsys_option_info(RECSYS_OPT_CANDIDATES_PER_SOURCE, &cand));
    double cands = (double)ds->d.items.n < cand.max_value ? (double)ds->d.items.n : cand.max_value;
    const struct { int32_t key; int64_t v; } set[] = {
        { RECSYS_OPT_NOW, part_now(ds, p) },
        { RECSYS_OPT_HISTORY_MAX, 1000000 },
        { RECSYS_OPT_CANDIDATES_PER_SOURCE, (int64_t)cands },
        { RECSYS_OPT_TOP_N, RECSYS__EVAL_KMAX },
        { RECSYS_OPT_FILTER_SEEN, 1 },
        { RECSYS_OPT_EXPLAIN, 0 },
        { RECSYS_OPT_LOG_IMPRESSIONS, 0 },
    };
    for (size_t i = 0; i < sizeof set / sizeof set[0]; i++)
        RECSYS_TRY(recsys_engine_set_int(engine, set[i].key, set[i].v));
    return RECSYS_OK;
}

static recsys_status feed_items(const recsys_eval_dataset *ds, recsys_engine *e, bool meta)
{
    for (size_t i = 0; i < ds->d.items.n; i++) {
        recsys_item_spec *spec = NULL;
        RECSYS_TRY(recsys_item_spec_new(ds->item_key[i], &spec));
        const recsys__eval_item *m =
            meta && ds->have_meta ? recsys__eval_items_find(&ds->meta, ds->d.items.name[i]) : NULL;
        recsys_status st = RECSYS_OK;
        if (m) {
            st = recsys_item_spec_set_text(spec, RECSYS_FIELD_TITLE, m->title);
            if (st == RECSYS_OK)
                st = recsys_item_spec_set_text(spec, RECSYS_FIELD_CATEGORY, "film");
            for (size_t t = 0; st == RECSYS_OK && t < m->ntags; t++)
                st = recsys_item_spec_add_tag(spec, m->tags[t]);
        }
        if (st == RECSYS_OK)
            st = recsys_catalog_upsert(e, spec);
        recsys__err_saved s;
        recsys__err_save(&s);
        recsys_item_spec_free(spec);
        recsys__err_restore(&s);
        if (st != RECSYS_OK)
            return st;
    }
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_eval_dataset_feed(const recsys_eval_dataset *ds,
                                                  recsys_engine *engine, int32_t part,
                                                  uint32_t flags)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(ds);
    RECSYS_CHECK_ARG(engine);
    const recsys__eval_part *p = part_of(ds, part);
    if (!p)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_eval_dataset_feed: unknown part %d",
                           part);
    if (flags & ~(RECSYS_EVAL_FEED_ITEMS | RECSYS_EVAL_FEED_METADATA))
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_eval_dataset_feed: unknown flags 0x%x",
                           (unsigned)(flags & ~(RECSYS_EVAL_FEED_ITEMS | RECSYS_EVAL_FEED_METADATA)));
    const recsys__mem *m = &ds->mem;
    recsys__eval_event *ev = recsys__alloc(m, (p->n ? p->n : 1) * sizeof *ev);
    size_t chunk = p->n < FEED_CHUNK ? (p->n ? p->n : 1) : FEED_CHUNK;
    recsys_event *rec = recsys__alloc(m, chunk * sizeof *rec);
    recsys_status st = ev && rec ? RECSYS_OK : RECSYS_E_NOMEM;
    if (st == RECSYS_OK && flags)
        st = feed_items(ds, engine, (flags & RECSYS_EVAL_FEED_METADATA) != 0);
    if (st == RECSYS_OK) {
        memcpy(ev, p->ev, p->n * sizeof *ev);
        qsort(ev, p->n, sizeof *ev, recsys__eval_event_cmp_time);
    }
    for (size_t at = 0; st == RECSYS_OK && at < p->n; at += chunk) {
        size_t k = p->n - at < chunk ? p->n - at : chunk;
        for (size_t i = 0; i < k; i++) {
            recsys_event_init(&rec[i]);
            rec[i].type = RECSYS_EVENT_VIEW;
            rec[i].user_id = ds->user_key[ev[at + i].user];
            rec[i].item_id = ds->item_key[ev[at + i].item];
            rec[i].timestamp = ev[at + i].ts + ds->shift;
        }
        st = recsys_feedback_batch(engine, rec, k);
    }
    recsys__free(m, ev);
    recsys__free(m, rec);
    return st;
}

/* ------------------------------------------------------------------ runs */

RECSYS_API recsys_status recsys_eval_run_new(const recsys_eval_dataset *ds, int32_t part,
                                             recsys_eval_run **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    RECSYS_CHECK_ARG(ds);
    if (part != RECSYS_EVAL_TEST && part != RECSYS_EVAL_VALIDATION)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_eval_run_new: part %d is not "
                           "RECSYS_EVAL_TEST (2) or RECSYS_EVAL_VALIDATION (4)", part);
    const recsys__mem *m = &ds->mem;
    recsys_eval_run *r = recsys__calloc(m, 1, sizeof *r);
    if (!r)
        return RECSYS_E_NOMEM;
    r->raw = recsys__calloc(m, ds->d.users.n, sizeof *r->raw);
    r->nraw = recsys__calloc(m, ds->d.users.n, sizeof *r->nraw);
    if (!r->raw || !r->nraw) {
        recsys__free(m, r->raw);
        recsys__free(m, r->nraw);
        recsys__free(m, r);
        return RECSYS_E_NOMEM;
    }
    r->ds = ds;
    r->part = part;
    r->known = part == RECSYS_EVAL_TEST ? &ds->train : &ds->fit;
    r->truth = part == RECSYS_EVAL_TEST ? &ds->test : &ds->val;
    *out = r;
    return RECSYS_OK;
}

RECSYS_API void recsys_eval_run_free(recsys_eval_run *r)
{
    if (!r)
        return;
    const recsys__mem *m = &r->ds->mem;
    for (size_t u = 0; u < r->ds->d.users.n; u++)
        recsys__free(m, r->raw[u]);
    recsys__free(m, r->raw);
    recsys__free(m, r->nraw);
    recsys__free(m, r);
}

/* Finds the user and makes room for its list; on success *slot is the user's buffer. */
static recsys_status run_slot(recsys_eval_run *r, const char *user_id, uint32_t *user,
                              uint32_t **slot)
{
    const recsys_eval_dataset *ds = r->ds;
    uint32_t u = find_key(ds->user_key, ds->d.users.n, user_id);
    if (u == UINT32_MAX || r->truth->off[u + 1] == r->truth->off[u])
        return recsys__err(RECSYS_E_NOT_FOUND, "recsys_eval_run_add: user '%.64s' has no "
                           "interactions in the %s part", user_id,
                           r->part == RECSYS_EVAL_TEST ? "test" : "validation");
    if (!r->raw[u] && !(r->raw[u] = recsys__alloc(&ds->mem, RAW_MAX * sizeof(uint32_t))))
        return RECSYS_E_NOMEM;
    *user = u;
    *slot = r->raw[u];
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_eval_run_add(recsys_eval_run *r, const char *user_id,
                                             const char *const *item_ids, size_t n)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(r);
    RECSYS_CHECK_ARG(user_id);
    if (n)
        RECSYS_CHECK_ARG(item_ids);
    for (size_t i = 0; i < n && i < RAW_MAX; i++)
        if (!item_ids[i])
            return recsys__err(RECSYS_E_INVALID_ARG, "recsys_eval_run_add: item %zu is NULL", i);
    uint32_t u, *slot;
    RECSYS_TRY(run_slot(r, user_id, &u, &slot));
    const recsys_eval_dataset *ds = r->ds;
    size_t k = n < RAW_MAX ? n : RAW_MAX;
    for (size_t i = 0; i < k; i++)
        slot[i] = find_key(ds->item_key, ds->d.items.n, item_ids[i]);
    r->nraw[u] = (uint8_t)k;
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_eval_run_add_result(recsys_eval_run *r, const char *user_id,
                                                    const recsys_result *res)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(r);
    RECSYS_CHECK_ARG(user_id);
    RECSYS_CHECK_ARG(res);
    uint32_t u, *slot;
    RECSYS_TRY(run_slot(r, user_id, &u, &slot));
    const recsys_eval_dataset *ds = r->ds;
    size_t n = recsys_result_count(res), k = n < RAW_MAX ? n : RAW_MAX;
    for (size_t i = 0; i < k; i++) {
        const char *id = recsys_result_item_id(res, i);
        slot[i] = id ? find_key(ds->item_key, ds->d.items.n, id) : UINT32_MAX;
    }
    r->nraw[u] = (uint8_t)k;
    return RECSYS_OK;
}

/* recsys__eval_run's model: the host's list, made the protocol's final list exactly as
 * recsys-bench eval's engine_rank does */
static recsys_status run_rank(void *ctx, uint32_t user, const uint8_t *known, uint32_t *list,
                              size_t *n)
{
    recsys_eval_run *r = ctx;
    *n = 0;
    if (!r->raw[user])
        r->missing++;
    r->padded += recsys__eval_final_list(r->raw[user], r->nraw[user], r->ds->d.items.n, known,
                                         list, n, &r->viol);
    return recsys__eval_beyond_add(r->beyond, user, list, *n);
}

static const char *const metric_names[6] = { "ndcg", "recall", "precision", "hit", "map",
                                              "coverage" };

static void metrics_put(recsys__jw *b, bool *first, const recsys__eval_metrics *m,
                        const recsys__eval_beyond_metrics *bm)
{
    for (int k = 0; k < RECSYS__EVAL_NK; k++) {
        double v[6] = { m->ndcg[k], m->recall[k], m->precision[k], m->hit[k], m->map[k],
                        m->coverage[k] };
        for (int j = 0; j < 6; j++) {
            char key[40];
            snprintf(key, sizeof key, "%s@%zu", metric_names[j], recsys__eval_k[k]);
            recsys__jw_key(b, key, first);
            recsys__jw_double(b, v[j]);
        }
    }
    for (int k = 0; k < RECSYS__EVAL_NK; k++) {
        const char *names[4] = { "ild", "novelty", "arp", "calibration_kl" };
        double v[4] = { bm->ild[k], bm->novelty[k], bm->arp[k], bm->calibration_kl[k] };
        for (int j = 0; j < 4; j++) {
            char key[40];
            snprintf(key, sizeof key, "%s@%zu", names[j], recsys__eval_k[k]);
            recsys__jw_key(b, key, first);
            if (j == 3 && !(bm->has_calibration && bm->calibrated_users[k]))
                recsys__jw_puts(b, "null");
            else
                recsys__jw_double(b, v[j]);
        }
    }
}

RECSYS_API recsys_status recsys_eval_run_metrics_json(recsys_eval_run *r, char **out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(out);
    *out = NULL;
    RECSYS_CHECK_ARG(r);
    const recsys_eval_dataset *ds = r->ds;
    const recsys__mem *m = &ds->mem;
    const recsys__eval_genres *genres = ds->have_genres ? &ds->genres : NULL;
    size_t nitems = ds->d.items.n;
    recsys__eval_beyond beyond;
    recsys__eval_metrics met, ref;
    recsys__eval_beyond_metrics bm, bref;
    RECSYS_TRY(recsys__eval_beyond_init(&beyond, m, nitems, r->known, genres));
    r->beyond = &beyond;
    memset(&r->viol, 0, sizeof r->viol);
    r->padded = r->missing = 0;
    recsys_status st = recsys__eval_run(m, nitems, r->known, r->truth, run_rank, r, NULL, &met);
    r->beyond = NULL;
    recsys__eval_beyond_result(&beyond, &bm);
    recsys__eval_beyond_free(&beyond);
    RECSYS_TRY(st);
    met.padded = r->padded;
    RECSYS_TRY(recsys__eval_mostpop_beyond(m, nitems, r->known, r->truth, genres, &ref, &bref));
    size_t violations = r->viol.known + r->viol.repeated + r->viol.unknown;

    recsys__jw b = { .m = m };
    bool first = true;
    recsys__jw_puts(&b, "{");
    recsys__jw_key(&b, "part", &first);
    recsys__jw_str(&b, r->part == RECSYS_EVAL_TEST ? "test" : "validation");
    recsys__jw_key(&b, "users", &first);
    recsys__jw_int(&b, (int64_t)met.users);
    metrics_put(&b, &first, &met, &bm);
    const struct { const char *k; size_t v; } n[] = {
        { "padded", met.padded }, { "dropped", violations }, { "violations", violations },
        { "missing", r->missing },
    };
    for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) {
        recsys__jw_key(&b, n[i].k, &first);
        recsys__jw_int(&b, (int64_t)n[i].v);
    }
    recsys__jw_key(&b, "mostpop", &first);
    bool f2 = true;
    recsys__jw_puts(&b, "{");
    metrics_put(&b, &f2, &ref, &bref);
    recsys__jw_puts(&b, "}}");
    return recsys__jw_finish(&b, true, out, NULL);
}
