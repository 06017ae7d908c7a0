/* fixture.c - see fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "text/bm25.h"

/* ------------------------------------------------------------ allocators */

/* Each block carries its size in front so that live bytes can be counted. */
static void *fa_malloc(void *ctx, size_t n)
{
    fixture_alloc *a = ctx;
    a->calls++;
    if (a->fail_at > 0 && --a->fail_at == 0)
        return NULL;
    void *p = malloc(n);
    if (p)
        a->live++;
    return p;
}

static void *fa_realloc(void *ctx, void *p, size_t n)
{
    fixture_alloc *a = ctx;
    a->calls++;
    if (a->fail_at > 0 && --a->fail_at == 0)
        return NULL;
    void *q = realloc(p, n);
    if (q && !p)
        a->live++;
    return q;
}

static void fa_free(void *ctx, void *p)
{
    fixture_alloc *a = ctx;
    if (p) {
        a->live--;
        free(p);
    }
}

static void mem_setup(recsys__mem *m, fixture_alloc *a)
{
    memset(a, 0, sizeof *a);
    memset(m, 0, sizeof *m);
    m->a.struct_size = sizeof m->a;
    m->a.ctx = a;
    m->a.malloc_fn = fa_malloc;
    m->a.realloc_fn = fa_realloc;
    m->a.free_fn = fa_free;
}

#define CHECK(expr)                                                                          \
    do {                                                                                     \
        recsys_status fx_st = (expr);                                                        \
        if (fx_st != RECSYS_OK)                                                              \
            fail_msg("%s failed: %s (%s)", #expr, recsys_status_str(fx_st),                  \
                     recsys_last_error());                                                   \
    } while (0)

/* ------------------------------------------------------------ lifecycle */

fixture *fixture_new(void)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    mem_setup(&f->mem, &f->mem_stats);
    mem_setup(&f->oom, &f->oom_stats);
    recsys__model_init(&f->model, &f->mem);
    recsys__optvals_defaults(&f->opts);
    f->derived.generation = 1;
    return f;
}

void fixture_free(fixture *f)
{
    if (!f)
        return;
    recsys__bm25_free(f->derived.state[RECSYS__DERIVED_BM25]);
    recsys__model_free(&f->model);
    recsys__optvals_free(&f->opts, &f->mem);
    assert_int_equal(f->mem_stats.live, 0);
    assert_int_equal(f->oom_stats.live, 0);
    free(f);
}

void fixture_set_opt(fixture *f, int32_t key, double value)
{
    int s = recsys__opt_slot(key);
    assert_true(s >= 0);
    f->opts.num[s] = value;
}

/* ------------------------------------------------------------ items */

/* Calls fn for each comma-separated element of list. */
static void each_csv(const char *list, void (*fn)(void *arg, const char *s), void *arg)
{
    if (!list)
        return;
    char buf[512];
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

typedef struct item_arg {
    fixture *f;
    recsys_item *it;
} item_arg;

static void add_tag(void *arg, const char *s)
{
    item_arg *a = arg;
    CHECK(recsys__item_add_tag(&a->f->mem, a->it, s));
}

static void add_region(void *arg, const char *s)
{
    item_arg *a = arg;
    CHECK(recsys__item_add_region(&a->f->mem, a->it, s));
}

uint32_t fixture_add_item(fixture *f, const fixture_item_def *d)
{
    recsys_item *it = NULL;
    CHECK(recsys__item_new(&f->mem, d->id, &it));
    if (d->title)
        CHECK(recsys__item_set_text(&f->mem, it, RECSYS_FIELD_TITLE, d->title));
    if (d->category)
        CHECK(recsys__item_set_text(&f->mem, it, RECSYS_FIELD_CATEGORY, d->category));
    if (d->description)
        CHECK(recsys__item_set_text(&f->mem, it, RECSYS_FIELD_DESCRIPTION, d->description));
    item_arg a = { f, it };
    each_csv(d->tags, add_tag, &a);
    each_csv(d->regions, add_region, &a);
    it->available = d->unavailable ? 0 : 1;
    it->min_age = d->min_age;
    if (d->price != 0)
        CHECK(recsys__item_set_attr(&f->mem, it, "price", RECSYS__ATTR_NUM, d->price, NULL));
    if (d->gpu)
        CHECK(recsys__item_set_attr(&f->mem, it, "gpu", RECSYS__ATTR_STR, 0, d->gpu));
    recsys_item *old = NULL;
    CHECK(recsys__catalog_put(&f->model.catalog, it, &old));
    recsys__item_free(&f->mem, old);
    return fixture_idx(f, d->id);
}

void fixture_remove(fixture *f, const char *id)
{
    recsys_item *old = NULL;
    CHECK(recsys__catalog_remove(&f->model.catalog, id, &old));
    recsys__item_free(&f->mem, old);
}

uint32_t fixture_idx(const fixture *f, const char *id)
{
    uint32_t idx = recsys__ids_find(&f->model.catalog.ids, id, strlen(id));
    if (idx == RECSYS_IDS_NONE)
        fail_msg("item '%s' is not in the fixture", id);
    return idx;
}

const char *fixture_id(const fixture *f, uint32_t idx)
{
    return recsys__ids_name(&f->model.catalog.ids, idx);
}

const recsys_item *fixture_get(const fixture *f, const char *id)
{
    return recsys__catalog_get(&f->model.catalog, fixture_idx(f, id));
}

/* ------------------------------------------------------------ users and events */

typedef struct prof_arg {
    fixture *f;
    recsys__profile *p;
    int32_t list;
} prof_arg;

static void add_interest(void *arg, const char *s)
{
    prof_arg *a = arg;
    CHECK(recsys__profile_add_interest(&a->f->mem, a->p, s));
}

static void add_list_item(void *arg, const char *s)
{
    prof_arg *a = arg;
    CHECK(recsys__profile_add_item(&a->f->mem, a->p, a->list, s));
}

void fixture_add_user(fixture *f, const char *id, const char *interests, int age,
                      const char *region, const char *views, const char *purchased,
                      const char *negative)
{
    recsys__profile p;
    CHECK(recsys__profile_init(&f->mem, &p, id));
    prof_arg a = { f, &p, 0 };
    each_csv(interests, add_interest, &a);
    CHECK(recsys__profile_set_demographics(&f->mem, &p, age, region));
    a.list = RECSYS_LIST_RECENT_VIEWS;
    each_csv(views, add_list_item, &a);
    a.list = RECSYS_LIST_PURCHASED;
    each_csv(purchased, add_list_item, &a);
    a.list = RECSYS_LIST_NEGATIVE;
    each_csv(negative, add_list_item, &a);
    CHECK(recsys__users_apply_profile(&f->model.users, &f->model.catalog, &p));
    recsys__profile_free(&f->mem, &p);
}

void fixture_event(fixture *f, const char *user, const char *item, int32_t type, double value,
                   int64_t ts)
{
    recsys_event ev, copy;
    memset(&ev, 0, sizeof ev);
    ev.struct_size = sizeof ev;
    ev.type = type;
    ev.timestamp = ts;
    ev.value = value;
    ev.user_id = user;
    ev.item_id = item;
    ev.position = -1;
    if (type == RECSYS_EVENT_SEARCH)
        ev.query = "search";
    CHECK(recsys__model_check_event(&f->model, &ev, &copy));
    CHECK(recsys__model_apply_event(&f->model, &copy));
}

void fixture_events(fixture *f, const char *user, const char *item, int32_t type, int n,
                    int64_t ts)
{
    for (int i = 0; i < n; i++)
        fixture_event(f, user, item, type, 0, ts);
}

void fixture_refresh(fixture *f)
{
    recsys__bm25_free(f->derived.state[RECSYS__DERIVED_BM25]);
    f->derived.state[RECSYS__DERIVED_BM25] = NULL;
    double k1 = f->opts.num[recsys__opt_slot(RECSYS_OPT_BM25_K1)];
    double b = f->opts.num[recsys__opt_slot(RECSYS_OPT_BM25_B)];
    recsys__bm25 *ix = NULL;
    CHECK(recsys__bm25_build(&f->mem, &f->model.catalog, k1, b, &ix));
    f->derived.state[RECSYS__DERIVED_BM25] = ix;
    f->derived.nitems = f->model.catalog.ids.n;
    f->derived.generation++;
}

/* ------------------------------------------------------------ query */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

void fixture_exclude(fixture *f, const char *item)
{
    assert_true(f->nexclude < sizeof f->exclude / sizeof f->exclude[0]);
    f->exclude[f->nexclude++] = fixture_idx(f, item);
    qsort(f->exclude, f->nexclude, sizeof f->exclude[0], cmp_u32);
    f->q.exclude = f->exclude;
    f->q.nexclude = f->nexclude;
}

recsys_query *fixture_query(fixture *f, const char *user, const char *text, size_t limit)
{
    memset(&f->q, 0, sizeof f->q);
    f->q.model = &f->model;
    f->q.derived = &f->derived;
    f->q.user = user ? recsys__users_find(&f->model.users, user) : NULL;
    f->q.user_id = user;
    f->q.text = text;
    f->q.now = FIXTURE_NOW;
    f->q.limit = limit;
    f->q.opt = f->opts.num;
    f->q.exclude = f->exclude;
    f->q.nexclude = f->nexclude;
    f->q.anchor = RECSYS_IDS_NONE;
    return &f->q;
}

/* ------------------------------------------------------------ candidates */

typedef struct cand_arg {
    fixture *f;
    recsys_candidates *c;
    double score;
} cand_arg;

static void add_cand(void *arg, const char *s)
{
    cand_arg *a = arg;
    CHECK(recsys__cands_add(a->c, fixture_idx(a->f, s), a->score));
    a->score -= 1;
}

static void count_csv(void *arg, const char *s)
{
    (void)s;
    (*(double *)arg) += 1;
}

void fixture_cands(fixture *f, recsys_candidates *c, const char *ids)
{
    recsys__cands_init(c, &f->mem, &f->q, 0);
    double n = 0;
    each_csv(ids, count_csv, &n);
    cand_arg a = { f, c, n };
    each_csv(ids, add_cand, &a);
}

size_t fixture_cand_pos(const fixture *f, const recsys_candidates *c, const char *id)
{
    uint32_t idx = fixture_idx(f, id);
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].item == idx)
            return i;
    return SIZE_MAX;
}

static void append_id(char *buf, size_t cap, size_t *len, const char *id)
{
    size_t l = strlen(id);
    assert_true(*len + l + 2 < cap);
    if (*len)
        buf[(*len)++] = ',';
    memcpy(buf + *len, id, l + 1);
    *len += l;
}

const char *fixture_cands_str(const fixture *f, const recsys_candidates *c, char *buf,
                              size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < c->n; i++)
        if (!c->v[i].dropped)
            append_id(buf, cap, &len, fixture_id(f, c->v[i].item));
    return buf;
}

typedef struct rank_ent {
    const char *id;
    double score;
} rank_ent;

static int cmp_rank(const void *a, const void *b)
{
    const rank_ent *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->id, y->id);
}

const char *fixture_cands_ranked(const fixture *f, const recsys_candidates *c, char *buf,
                                 size_t cap)
{
    rank_ent *r = calloc(c->n ? c->n : 1, sizeof *r);
    assert_non_null(r);
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        if (!c->v[i].dropped)
            r[n++] = (rank_ent){ fixture_id(f, c->v[i].item), c->v[i].score };
    qsort(r, n, sizeof *r, cmp_rank);
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        append_id(buf, cap, &len, r[i].id);
    free(r);
    return buf;
}

/* ------------------------------------------------------------ the standard fixture */

/*
 * Courses (category "education"), laptops ("laptop"), films ("film"):
 *   c_dist     Distributed Systems Course    backend, scalability, architecture
 *   c_ml       Machine Learning Foundations  machine learning, python, statistics
 *   c_sys      System Design Interview Prep  system design, scalability, architecture
 *   c_cook     Italian Cooking Basics        (category "hobby") cooking, pasta
 *   l_gaming   Gaming Laptop RTX 4070        gpu, gaming; price 1899, gpu "RTX 4070"
 *   l_ultra    Ultrabook 13                  portable, battery; price 1099
 *   l_ai       AI Workstation Laptop         gpu, machine learning; price 2499; UNAVAILABLE
 *   l_eu       Refurbished Business Laptop   budget; price 499; regions EU
 *   f_horror   Midnight Horror               horror, thriller; min_age 18
 *   f_family   Family Adventure              family, animation
 *   f_space    Space Documentary             documentary, science; regions US, CA
 *   f_scifi    Brand New Sci-Fi              science fiction, space (no events ever)
 * Users:
 *   alice  interests scalability; age 30, US
 *   bob    no profile fields; age unknown, region unknown
 *   teen   age 15, CA
 *   carol  age 40, DE; recent views f_family; purchased l_ultra; negative f_horror
 *   dana   interests "machine learning", "space"; age 25, US (cold start: no events)
 */
fixture *fixture_new_standard(void)
{
    fixture *f = fixture_new();
    static const fixture_item_def items[] = {
        { .id = "c_dist", .title = "Distributed Systems Course", .category = "education",
          .tags = "backend,scalability,architecture",
          .description = "Design large distributed services: replication, consensus and "
                         "fault tolerance." },
        { .id = "c_ml", .title = "Machine Learning Foundations", .category = "education",
          .tags = "machine learning,python,statistics",
          .description = "Supervised learning, models and their evaluation." },
        { .id = "c_sys", .title = "System Design Interview Prep", .category = "education",
          .tags = "system design,scalability,architecture",
          .description = "Practice designing services that grow." },
        { .id = "c_cook", .title = "Italian Cooking Basics", .category = "hobby",
          .tags = "cooking,pasta", .description = "Fresh pasta and sauces at home." },
        { .id = "l_gaming", .title = "Gaming Laptop RTX 4070", .category = "laptop",
          .tags = "gpu,gaming", .description = "A fast laptop for games and AI work.",
          .price = 1899, .gpu = "RTX 4070" },
        { .id = "l_ultra", .title = "Ultrabook 13", .category = "laptop",
          .tags = "portable,battery", .description = "Light laptop with a long battery life.",
          .price = 1099 },
        { .id = "l_ai", .title = "AI Workstation Laptop", .category = "laptop",
          .tags = "gpu,machine learning", .description = "Train models on the go.",
          .unavailable = 1, .price = 2499 },
        { .id = "l_eu", .title = "Refurbished Business Laptop", .category = "laptop",
          .tags = "budget", .description = "A refurbished office laptop.", .regions = "EU",
          .price = 499 },
        { .id = "f_horror", .title = "Midnight Horror", .category = "film",
          .tags = "horror,thriller", .description = "A night that never ends.",
          .min_age = 18 },
        { .id = "f_family", .title = "Family Adventure", .category = "film",
          .tags = "family,animation", .description = "A journey for all ages." },
        { .id = "f_space", .title = "Space Documentary", .category = "film",
          .tags = "documentary,science", .description = "The planets up close.",
          .regions = "US,CA" },
        { .id = "f_scifi", .title = "Brand New Sci-Fi", .category = "film",
          .tags = "science fiction,space", .description = "A crew lost between stars." },
    };
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++)
        fixture_add_item(f, &items[i]);
    fixture_add_user(f, "alice", "scalability", 30, "US", NULL, NULL, NULL);
    fixture_add_user(f, "bob", NULL, -1, NULL, NULL, NULL, NULL);
    fixture_add_user(f, "teen", NULL, 15, "CA", NULL, NULL, NULL);
    fixture_add_user(f, "carol", NULL, 40, "DE", "f_family", "l_ultra", "f_horror");
    fixture_add_user(f, "dana", "machine learning,space", 25, "US", NULL, NULL, NULL);
    return f;
}

long fixture_retrieve_oom(fixture *f,
                          recsys_status (*ctor)(const recsys__mem *, recsys_source_vtable *),
                          recsys_query *q, size_t *got)
{
    recsys_source_vtable vt;
    assert_int_equal(ctor(&f->mem, &vt), RECSYS_OK);
    for (long n = 1;; n++) {
        recsys_candidates c;
        recsys__cands_init(&c, &f->oom, q, q->limit);
        f->oom_stats.fail_at = n;
        recsys_status st = vt.retrieve(vt.ctx, q, &c);
        f->oom_stats.fail_at = 0;
        *got = c.n;
        recsys__cands_free(&c);
        assert_int_equal(f->oom_stats.live, 0);
        if (st == RECSYS_OK)
            return n;
        assert_int_equal(st, RECSYS_E_NOMEM);
    }
}

/* ---------------------------------------------------------------- item equality */

static bool attrs_equal(const recsys__attr *a, const recsys__attr *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(a[i].name, b[i].name) || a[i].type != b[i].type || a[i].num != b[i].num ||
            !a[i].str != !b[i].str || (a[i].str && strcmp(a[i].str, b[i].str)))
            return false;
    return true;
}

static bool strv_equal(char **a, char **b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(a[i], b[i]))
            return false;
    return true;
}

bool fixture_items_equal(const recsys_item *a, const recsys_item *b)
{
    if (strcmp(a->id, b->id) || strcmp(a->title, b->title) ||
        strcmp(a->description, b->description) || strcmp(a->category, b->category) ||
        strcmp(a->provider, b->provider) || a->ntags != b->ntags ||
        !strv_equal(a->tags, b->tags, a->ntags) || a->nregions != b->nregions ||
        !strv_equal(a->regions, b->regions, a->nregions) || a->available != b->available ||
        a->min_age != b->min_age || a->created != b->created || a->nattrs != b->nattrs ||
        !attrs_equal(a->attrs, b->attrs, a->nattrs) || a->nembs != b->nembs ||
        a->gen.ntags != b->gen.ntags || !strv_equal(a->gen.tags, b->gen.tags, a->gen.ntags) ||
        strcmp(a->gen.summary, b->gen.summary) || strcmp(a->gen.model, b->gen.model) ||
        a->gen.nattrs != b->gen.nattrs || !attrs_equal(a->gen.attrs, b->gen.attrs, a->gen.nattrs))
        return false;
    for (uint32_t i = 0; i < a->nembs; i++)
        if (strcmp(a->embs[i].name, b->embs[i].name) || a->embs[i].dim != b->embs[i].dim ||
            memcmp(a->embs[i].v, b->embs[i].v, a->embs[i].dim * sizeof(float)))
            return false;
    return true;
}
