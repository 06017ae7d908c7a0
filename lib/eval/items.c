/* items.c - item metadata for the content pipeline: ml-100k u.item + u.genre, ml-latest-small
 * movies.csv, and a generic item_id,title[,tags] csv. */
#include "csv.h"
#include "../core/error.h"
#include "../core/utf8.h"

#define ML100K_GENRES 19

/* Latin-1 s[0..n) as a new UTF-8 string. */
static char *latin1_to_utf8(const recsys__mem *m, const char *s, size_t n)
{
    size_t extra = 0;
    for (size_t i = 0; i < n; i++)
        extra += (unsigned char)s[i] >= 0x80;
    char *d = recsys__alloc(m, n + extra + 1);
    if (!d)
        return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            d[w++] = (char)c;
        } else {
            d[w++] = (char)(0xC0 | (c >> 6));
            d[w++] = (char)(0x80 | (c & 0x3F));
        }
    }
    d[w] = '\0';
    return d;
}

static void item_free(const recsys__mem *m, recsys__eval_item *it)
{
    recsys__free(m, it->id);
    recsys__free(m, it->title);
    for (size_t i = 0; i < it->ntags; i++)
        recsys__free(m, it->tags[i]);
    recsys__free(m, it->tags);
    memset(it, 0, sizeof *it);
}

void recsys__eval_items_free(recsys__eval_items *it)
{
    if (!it || !it->mem)
        return;
    for (size_t i = 0; i < it->n; i++)
        item_free(it->mem, &it->v[i]);
    recsys__free(it->mem, it->v);
    memset(it, 0, sizeof *it);
}

static recsys_status add_tag(const recsys__mem *m, recsys__eval_item *it, char *tag)
{
    if (!tag)
        return RECSYS_E_NOMEM;
    char **v = recsys__realloc_array(m, it->tags, it->ntags + 1, sizeof *v);
    if (!v) {
        recsys__free(m, tag);
        return RECSYS_E_NOMEM;
    }
    it->tags = v;
    it->tags[it->ntags++] = tag;
    return RECSYS_OK;
}

/* Appends it (moved) to out->v. */
static recsys_status push_item(recsys__eval_items *out, size_t *cap, recsys__eval_item *it)
{
    recsys_status st = RECSYS_GROW(out->mem, out->v, *cap, out->n + 1);
    if (st != RECSYS_OK) {
        item_free(out->mem, it);
        return st;
    }
    out->v[out->n++] = *it;
    memset(it, 0, sizeof *it);
    return RECSYS_OK;
}

/* ------------------------------------------------------------------ ml-100k */

static recsys_status read_genres(const recsys__mem *m, const char *text, size_t len,
                                 const char *name, char *genre[ML100K_GENRES])
{
    recsys__csv r;
    recsys__csv_init(&r, m, name, text, len, '|', false);
    recsys_status st = RECSYS_OK;
    for (;;) {
        bool eof;
        if ((st = recsys__csv_next(&r, &eof)) != RECSYS_OK || eof)
            break;
        if (recsys__csv_blank(&r))
            continue;
        int64_t idx;
        if (r.nf != 2) {
            st = recsys__csv_fail(&r, "%zu field(s), expected 2 (name|index)", r.nf);
            break;
        }
        if ((st = recsys__csv_int(&r, 1, "genre index", &idx)) != RECSYS_OK)
            break;
        if (idx < 0 || idx >= ML100K_GENRES || genre[idx]) {
            st = recsys__csv_fail(&r, "genre index %" PRId64 " is %s", idx,
                                  idx < 0 || idx >= ML100K_GENRES ? "out of range 0..18"
                                                                  : "given twice");
            break;
        }
        size_t n;
        const char *s = recsys__csv_trim(&r, 0, &n);
        if (n == 0) {
            st = recsys__csv_fail(&r, "genre %" PRId64 " has an empty name", idx);
            break;
        }
        if (!(genre[idx] = latin1_to_utf8(m, s, n))) {
            st = RECSYS_E_NOMEM;
            break;
        }
    }
    recsys__csv_free(&r);
    for (int g = 0; st == RECSYS_OK && g < ML100K_GENRES; g++)
        if (!genre[g])
            st = recsys__err(RECSYS_E_INVALID_ARG, "%.200s: genre %d is missing", name, g);
    return st;
}

static recsys_status parse_ml100k(recsys__csv *r, char *const genre[ML100K_GENRES],
                                  recsys__eval_items *out)
{
    size_t cap = 0;
    for (;;) {
        bool eof;
        RECSYS_TRY(recsys__csv_next(r, &eof));
        if (eof)
            return RECSYS_OK;
        if (recsys__csv_blank(r))
            continue;
        if (r->nf != 5 + ML100K_GENRES)
            return recsys__csv_fail(r, "%zu field(s), expected %d (id|title|release date|video "
                                    "release date|URL|19 genre flags)", r->nf, 5 + ML100K_GENRES);
        const char *id;
        size_t idlen;
        uint64_t v;
        RECSYS_TRY(recsys__csv_id(r, 0, "item id", &id, &idlen));
        if (!recsys__eval_decimal(id, idlen, &v))
            return recsys__csv_fail(r, "field 1 (item id) '%.40s' is not a decimal integer", id);
        recsys__eval_item it = { 0 };
        recsys_status st = RECSYS_OK;
        it.id = recsys__strndup(out->mem, id, idlen);
        it.title = latin1_to_utf8(out->mem, r->f[1], r->flen[1]);
        if (!it.id || !it.title)
            st = RECSYS_E_NOMEM;
        for (int g = 0; st == RECSYS_OK && g < ML100K_GENRES; g++) {
            size_t k = 5 + (size_t)g, n;
            const char *flag = recsys__csv_trim(r, k, &n);
            if (n != 1 || (flag[0] != '0' && flag[0] != '1'))
                st = recsys__csv_fail(r, "field %zu (flag of genre '%s') is '%.20s', not 0 or 1",
                                      k + 1, genre[g], flag);
            else if (flag[0] == '1')
                st = add_tag(out->mem, &it, recsys__strdup(out->mem, genre[g]));
        }
        if (st == RECSYS_OK)
            st = push_item(out, &cap, &it);
        else
            item_free(out->mem, &it);
        RECSYS_TRY(st);
    }
}

/* ------------------------------------------------------------------ csv */

static int find_col(char **names, size_t n, const char *const *want)
{
    for (size_t i = 0; i < n; i++)
        for (size_t w = 0; want[w]; w++)
            if (strcmp(names[i], want[w]) == 0)
                return (int)i;
    return -1;
}

static recsys_status parse_csv(recsys__csv *r, int format, recsys__eval_items *out)
{
    bool eof;
    RECSYS_TRY(recsys__csv_next(r, &eof));
    if (eof || recsys__csv_blank(r))
        return recsys__err(RECSYS_E_INVALID_ARG, "%.200s:1: a header line is expected", r->name);
    int cid = 0, ctitle = 1, ctags = r->nf >= 3 ? 2 : -1;
    if (format == RECSYS__EVAL_MLLATEST) {
        if (r->nf != 3 || strcmp(r->f[0], "movieId") || strcmp(r->f[1], "title") ||
            strcmp(r->f[2], "genres"))
            return recsys__csv_fail(r, "the header is not 'movieId,title,genres'");
    } else {
        for (size_t i = 0; i < r->nf; i++) {
            size_t n;
            recsys__csv_lower(recsys__csv_trim(r, i, &n));
        }
        static const char *const ids[] = { "item_id", "itemid", "item", "movie_id", "movieid",
                                           "id", NULL };
        static const char *const titles[] = { "title", "name", NULL };
        static const char *const tags[] = { "tags", "genres", "genre", "tag", NULL };
        int i = find_col(r->f, r->nf, ids), t = find_col(r->f, r->nf, titles);
        if (i >= 0 && t >= 0 && i != t) {
            cid = i;
            ctitle = t;
            ctags = find_col(r->f, r->nf, tags);
        } else if (r->nf < 2) {
            return recsys__csv_fail(r, "the header has %zu field(s); expected item_id,title[,tags]",
                                    r->nf);
        }
    }
    size_t header = r->nf, cap = 0;
    for (;;) {
        RECSYS_TRY(recsys__csv_next(r, &eof));
        if (eof)
            return RECSYS_OK;
        if (recsys__csv_blank(r))
            continue;
        if (r->nf > header || r->nf <= (size_t)RECSYS_MAX(cid, ctitle))
            return recsys__csv_fail(r, "%zu field(s), the header has %zu", r->nf, header);
        const char *id;
        size_t idlen;
        RECSYS_TRY(recsys__csv_id(r, (size_t)cid, "item id", &id, &idlen));
        if (!recsys__utf8_valid(r->f[ctitle], r->flen[ctitle]))
            return recsys__csv_fail(r, "field %d (title) is not valid UTF-8", ctitle + 1);
        recsys__eval_item it = { 0 };
        recsys_status st = RECSYS_OK;
        it.id = recsys__strndup(out->mem, id, idlen);
        it.title = recsys__strndup(out->mem, r->f[ctitle], r->flen[ctitle]);
        if (!it.id || !it.title)
            st = RECSYS_E_NOMEM;
        if (st == RECSYS_OK && ctags >= 0 && (size_t)ctags < r->nf) {
            if (!recsys__utf8_valid(r->f[ctags], r->flen[ctags]))
                st = recsys__csv_fail(r, "field %d (tags) is not valid UTF-8", ctags + 1);
            char *p = r->f[ctags];
            while (st == RECSYS_OK && p) {
                char *bar = strchr(p, '|');
                if (bar)
                    *bar = '\0';
                size_t n = strlen(p), a = 0;
                while (a < n && (p[a] == ' ' || p[a] == '\t'))
                    a++;
                while (n > a && (p[n - 1] == ' ' || p[n - 1] == '\t'))
                    n--;
                bool none = n - a == 18 && memcmp(p + a, "(no genres listed)", 18) == 0;
                if (n > a && !none)
                    st = add_tag(out->mem, &it, recsys__strndup(out->mem, p + a, n - a));
                p = bar ? bar + 1 : NULL;
            }
        }
        if (st == RECSYS_OK)
            st = push_item(out, &cap, &it);
        else
            item_free(out->mem, &it);
        RECSYS_TRY(st);
    }
}

/* ------------------------------------------------------------------ entry points */

static int by_id(const void *a, const void *b)
{
    return strcmp(((const recsys__eval_item *)a)->id, ((const recsys__eval_item *)b)->id);
}

recsys_status recsys__eval_parse_items(const recsys__mem *m, const char *text, size_t len,
                                       const char *name, int format, const char *genres,
                                       size_t glen, const char *gname, recsys__eval_items *out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval items: output is NULL");
    memset(out, 0, sizeof *out);
    if (!m || (!text && len))
        return recsys__err(RECSYS_E_INVALID_ARG, "eval items: allocator or text is NULL");
    if (format < RECSYS__EVAL_ML100K || format > RECSYS__EVAL_CSV)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval items: unknown format %d", format);
    if (format == RECSYS__EVAL_ML100K && !genres)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval items: u.item needs the genres of u.genre");
    out->mem = m;
    if (!name)
        name = "(items)";
    char *genre[ML100K_GENRES] = { 0 };
    recsys_status st = RECSYS_OK;
    if (format == RECSYS__EVAL_ML100K)
        st = read_genres(m, genres, glen, gname ? gname : "(genres)", genre);
    recsys__csv r;
    recsys__csv_init(&r, m, name, text ? text : "", len, format == RECSYS__EVAL_ML100K ? '|' : ',',
                     format != RECSYS__EVAL_ML100K);
    if (st == RECSYS_OK)
        st = format == RECSYS__EVAL_ML100K ? parse_ml100k(&r, genre, out)
                                           : parse_csv(&r, format, out);
    recsys__csv_free(&r);
    for (int g = 0; g < ML100K_GENRES; g++)
        recsys__free(m, genre[g]);
    if (st == RECSYS_OK) {
        qsort(out->v, out->n, sizeof *out->v, by_id);
        for (size_t i = 1; i < out->n && st == RECSYS_OK; i++)
            if (strcmp(out->v[i - 1].id, out->v[i].id) == 0)
                st = recsys__err(RECSYS_E_INVALID_ARG, "%.200s: item id '%.60s' occurs twice",
                                 name, out->v[i].id);
    }
    if (st != RECSYS_OK) {
        recsys__err_saved s;
        recsys__err_save(&s);
        recsys__eval_items_free(out);
        recsys__err_restore(&s);
    }
    return st;
}

recsys_status recsys__eval_read_items(const recsys__mem *m, const char *path, int format,
                                      const char *genre_path, recsys__eval_items *out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "eval items: output is NULL");
    memset(out, 0, sizeof *out);
    char *text = NULL, *gtext = NULL;
    size_t len = 0, glen = 0;
    RECSYS_TRY(recsys__eval_slurp(m, path, &text, &len));
    recsys_status st = RECSYS_OK;
    if (format == RECSYS__EVAL_ML100K)
        st = recsys__eval_slurp(m, genre_path, &gtext, &glen);
    if (st == RECSYS_OK)
        st = recsys__eval_parse_items(m, text, len, path, format, gtext, glen, genre_path, out);
    recsys__free(m, text);
    recsys__free(m, gtext);
    return st;
}

const recsys__eval_item *recsys__eval_items_find(const recsys__eval_items *it, const char *id)
{
    if (!it || !id)
        return NULL;
    size_t lo = 0, hi = it->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(it->v[mid].id, id);
        if (c == 0)
            return &it->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
