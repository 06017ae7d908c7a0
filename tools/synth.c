/*
 * synth.c - synthetic users and events with latent tastes (see synth.h for the model).
 */
#include "synth.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- PRNG: xoshiro256** -- */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed;
    uint64_t mixed = splitmix64(&x) ^ (stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&mixed);
}

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static double rng_range(rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_unit(r);
}

/* Uniform integer in [0, n), n > 0. */
static size_t rng_below(rng *r, size_t n)
{
    return (size_t)(rng_unit(r) * (double)n) % n;
}

static double rng_normal(rng *r)
{
    double u1 = rng_unit(r), u2 = rng_unit(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static int rng_poisson(rng *r, double lambda)
{
    if (lambda <= 0)
        return 0;
    if (lambda > 30) {
        double v = lambda + sqrt(lambda) * rng_normal(r);
        return v < 0 ? 0 : (int)(v + 0.5);
    }
    double l = exp(-lambda), p = 1.0;
    int k = 0;
    do {
        k++;
        p *= rng_unit(r);
    } while (p > l);
    return k - 1;
}

/* Index drawn with probability proportional to w[i] (w >= 0); -1 when all are zero. */
static int rng_weighted(rng *r, const double *w, size_t n)
{
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    if (!(total > 0))
        return -1;
    double x = rng_unit(r) * total;
    for (size_t i = 0; i < n; i++) {
        if (w[i] <= 0)
            continue;
        if (x < w[i])
            return (int)i;
        x -= w[i];
    }
    for (size_t i = n; i-- > 0;)
        if (w[i] > 0)
            return (int)i;
    return -1;
}

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* ---------------------------------------------------------------- the world ------------ */

typedef struct s_item {
    char *id;
    int cat;
    int *tags;
    int ntags;
    int available;
    int min_age;
    char **regions;
    int nregions;
    int64_t created;
    double runtime_s; /* films: runtime in seconds, else 0 */
    double prior;     /* log popularity prior */
} s_item;

typedef struct s_user {
    char *id;
    int age;
    const char *region; /* static, or NULL */
    double *share;      /* [ncat], sums to 1 */
    double *tag_w;      /* [ntag] */
    char *interests[3];
    int ninterests;
    int *held; /* item indices, latest first */
    int nheld;
    size_t nevents;
} s_user;

typedef struct s_event {
    int64_t ts;
    uint32_t user;
    int32_t item; /* -1 for a search */
    int32_t type;
    uint32_t seq;
    double value;
    char *query; /* owned, searches only */
} s_event;

typedef struct s_events {
    s_event *v;
    size_t n, cap;
} s_events;

struct synth {
    synth_opts opts;
    char *prefix;
    s_item *items;
    size_t nitems;
    char **cats;
    int ncat;
    char **tags;
    int ntag;
    int *tag_cat; /* [ntag * ncat]: items of category c carrying tag t */
    size_t *cat_items; /* [ncat]: items per category */
    s_user *users;
    size_t nusers;
    s_events ev;
};

static const char *const REGIONS[] = {"US", "CA", "GB", "DE", "FR", "IN", "JP", "BR"};
static const double REGION_W[] = {30, 8, 12, 10, 8, 14, 8, 10};
#define NREGIONS (sizeof REGIONS / sizeof REGIONS[0])

enum { CAT_FILM, CAT_LAPTOP, CAT_COURSE, CAT_OTHER };

static recsys_status fail(recsys_status st, const char *fmt, const char *a, const char *b)
{
    char buf[480];
    snprintf(buf, sizeof buf, fmt, a ? a : "", b ? b : "");
    return recsys_error_set(st, buf);
}

static recsys_status nomem(void)
{
    return recsys_error_set(RECSYS_E_NOMEM, "synth: out of memory");
}

/* Keeps the engine's message, prefixed with what synth was doing. */
static recsys_status engine_fail(recsys_status st, const char *what, const char *who)
{
    char msg[400], buf[1024];
    snprintf(msg, sizeof msg, "%s", recsys_last_error());
    snprintf(buf, sizeof buf, "synth: %s %s: %s", what, who, msg[0] ? msg : recsys_status_str(st));
    recsys_error_set(st, buf);
    return st;
}

static int intern(char ***names, int *n, const char *s)
{
    for (int i = 0; i < *n; i++)
        if (strcmp((*names)[i], s) == 0)
            return i;
    char **nn = realloc(*names, sizeof **names * (size_t)(*n + 1));
    if (!nn)
        return -1;
    *names = nn;
    if (!(nn[*n] = strdup(s)))
        return -1;
    return (*n)++;
}

static int cat_kind(const char *cat)
{
    if (strcmp(cat, "film") == 0 || strcmp(cat, "movie") == 0 || strcmp(cat, "video") == 0)
        return CAT_FILM;
    if (strcmp(cat, "laptop") == 0)
        return CAT_LAPTOP;
    if (strcmp(cat, "education") == 0 || strcmp(cat, "course") == 0)
        return CAT_COURSE;
    return CAT_OTHER;
}

static const char *cat_noun(const char *cat)
{
    switch (cat_kind(cat)) {
    case CAT_FILM: return "film";
    case CAT_LAPTOP: return "laptop";
    case CAT_COURSE: return "course";
    default: return cat;
    }
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* "machine-learning" -> "machine learning"; "sci-fi" and "2-in-1" stay as they are. */
static char *tag_phrase(const char *tag)
{
    char *p = strdup(tag);
    if (!p)
        return NULL;
    for (char *c = p; *c; c++) {
        if (*c != '-')
            continue;
        size_t before = 0, after = 0;
        for (char *b = c; b > p && is_alpha(b[-1]); b--)
            before++;
        for (char *a = c + 1; is_alpha(*a); a++)
            after++;
        if (before >= 3 && after >= 3)
            *c = ' ';
    }
    return p;
}

void synth_opts_init(synth_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->seed = 42;
    o->users = 300;
    o->start = 1735689600; /* 2025-01-01T00:00:00Z */
    o->end = 1751328000;   /* 2025-07-01T00:00:00Z */
    o->sessions_mean = 8;
    o->items_mean = 5;
    o->holdout = 0;
    o->id_prefix = "user-";
}

/* ---------------------------------------------------------------- catalog parsing ------ */

static recsys_status parse_item(synth *s, json_t *obj, size_t index, rng *r)
{
    char where[32];
    snprintf(where, sizeof where, "%zu", index);
    if (!json_is_object(obj))
        return fail(RECSYS_E_INVALID_ARG, "synth: catalog item %s is not an object%s", where, NULL);
    const char *id = json_string_value(json_object_get(obj, "item_id"));
    if (!id || !*id)
        return fail(RECSYS_E_INVALID_ARG, "synth: catalog item %s has no \"item_id\" string%s",
                    where, NULL);
    const char *cat = json_string_value(json_object_get(obj, "category"));
    s_item *it = &s->items[s->nitems];
    memset(it, 0, sizeof *it);
    if (!(it->id = strdup(id)))
        return nomem();
    s->nitems++; /* owned from here on, freed by synth_free() */
    it->cat = intern(&s->cats, &s->ncat, cat && *cat ? cat : "uncategorised");
    if (it->cat < 0)
        return nomem();
    json_t *tags = json_object_get(obj, "tags");
    if (json_is_array(tags) && json_array_size(tags) > 0) {
        if (!(it->tags = calloc(json_array_size(tags), sizeof *it->tags)))
            return nomem();
        size_t k;
        json_t *t;
        json_array_foreach(tags, k, t) {
            const char *name = json_string_value(t);
            if (!name)
                return fail(RECSYS_E_INVALID_ARG,
                            "synth: catalog item %s (index %s) has a tag that is not a string",
                            id, where);
            int ti = intern(&s->tags, &s->ntag, name);
            if (ti < 0)
                return nomem();
            it->tags[it->ntags++] = ti;
        }
    }
    json_t *av = json_object_get(obj, "available");
    it->available = av ? json_is_true(av) : 1;
    json_t *ma = json_object_get(obj, "min_age");
    it->min_age = json_is_integer(ma) ? (int)json_integer_value(ma) : 0;
    json_t *cr = json_object_get(obj, "created");
    it->created = json_is_integer(cr) ? (int64_t)json_integer_value(cr) : 0;
    json_t *regs = json_object_get(obj, "regions");
    if (json_is_array(regs) && json_array_size(regs) > 0) {
        if (!(it->regions = calloc(json_array_size(regs), sizeof *it->regions)))
            return nomem();
        size_t k;
        json_t *g;
        json_array_foreach(regs, k, g) {
            const char *code = json_string_value(g);
            if (code && !(it->regions[it->nregions++] = strdup(code)))
                return nomem();
        }
    }
    json_t *attrs = json_object_get(obj, "attributes");
    double rating = 0;
    if (json_is_object(attrs)) {
        json_t *v = json_object_get(attrs, "rating");
        if (json_is_number(v))
            rating = json_number_value(v);
        v = json_object_get(attrs, "runtime_min");
        if (json_is_number(v))
            it->runtime_s = json_number_value(v) * 60.0;
    }
    if (it->runtime_s <= 0 && cat_kind(s->cats[it->cat]) == CAT_FILM)
        it->runtime_s = 100 * 60.0;
    /* A popularity prior: some items are simply more visible; better-rated ones a little. */
    it->prior = 0.6 * rng_normal(r) + (rating > 0 ? 0.5 * (rating - 4.0) : 0.0);
    return RECSYS_OK;
}

static recsys_status parse_catalog(synth *s, const char *text, size_t len, rng *r)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root) {
        char where[96];
        snprintf(where, sizeof where, "line %d column %d", jerr.line, jerr.column);
        return fail(RECSYS_E_INVALID_ARG, "synth: catalog JSON: %s at %s", jerr.text, where);
    }
    recsys_status st = RECSYS_OK;
    if (!json_is_array(root) || json_array_size(root) == 0) {
        st = fail(RECSYS_E_INVALID_ARG, "synth: the catalog must be a non-empty JSON array%s%s",
                  NULL, NULL);
        goto out;
    }
    if (!(s->items = calloc(json_array_size(root), sizeof *s->items))) {
        st = nomem();
        goto out;
    }
    size_t i;
    json_t *obj;
    json_array_foreach(root, i, obj) {
        if ((st = parse_item(s, obj, i, r)) != RECSYS_OK)
            goto out;
    }
    s->tag_cat = calloc((size_t)s->ntag * (size_t)s->ncat + 1, sizeof *s->tag_cat);
    s->cat_items = calloc((size_t)s->ncat, sizeof *s->cat_items);
    if (!s->tag_cat || !s->cat_items) {
        st = nomem();
        goto out;
    }
    for (size_t k = 0; k < s->nitems; k++) {
        const s_item *it = &s->items[k];
        s->cat_items[it->cat]++;
        for (int t = 0; t < it->ntags; t++)
            s->tag_cat[(size_t)it->tags[t] * (size_t)s->ncat + (size_t)it->cat]++;
    }
out:
    json_decref(root);
    return st;
}

/* ---------------------------------------------------------------- users ---------------- */

static int tag_is_broad(const synth *s, int t)
{
    for (int c = 0; c < s->ncat; c++)
        if (s->tag_cat[(size_t)t * (size_t)s->ncat + (size_t)c] * 10 > (int)s->cat_items[c] * 3)
            return 1;
    return 0;
}

static recsys_status make_user(synth *s, size_t u, rng *r)
{
    s_user *us = &s->users[u];
    char id[64];
    snprintf(id, sizeof id, "%s%04zu", s->prefix, u + 1);
    if (!(us->id = strdup(id)))
        return nomem();
    us->share = calloc((size_t)s->ncat, sizeof *us->share);
    us->tag_w = calloc((size_t)s->ntag + 1, sizeof *us->tag_w);
    double *w = calloc((size_t)s->ntag + (size_t)s->ncat + 1, sizeof *w);
    if (!us->share || !us->tag_w || !w) {
        free(w);
        return nomem();
    }

    double x = rng_unit(r);
    us->age = x < 0.10 ? 13 + (int)rng_below(r, 5)
            : x < 0.25 ? -1
            : 18 + (int)(rng_unit(r) * rng_unit(r) * 52); /* more young adults than old */
    us->region = rng_unit(r) < 0.04 ? NULL : REGIONS[rng_weighted(r, REGION_W, NREGIONS)];

    /* Domains: one for about half the users, two or three for the rest. */
    x = rng_unit(r);
    int ndom = x < 0.5 ? 1 : x < 0.85 ? 2 : 3;
    if (ndom > s->ncat)
        ndom = s->ncat;
    for (int c = 0; c < s->ncat; c++)
        w[c] = (double)s->cat_items[c];
    for (int d = 0; d < ndom; d++) {
        int c = rng_weighted(r, w, (size_t)s->ncat);
        if (c < 0)
            break;
        w[c] = 0;
        us->share[c] = d == 0 ? rng_range(r, 1.5, 2.5) : rng_range(r, 0.3, 1.0);
    }
    double total = 0;
    for (int c = 0; c < s->ncat; c++)
        total += us->share[c];
    for (int c = 0; c < s->ncat; c++)
        us->share[c] /= total;

    /* Tags: liked and disliked ones within each chosen domain, among the tags carried by at
     * least 3 of its items; common tags are likelier (weight sqrt(count)). */
    for (int c = 0; c < s->ncat; c++) {
        if (us->share[c] <= 0)
            continue;
        for (int t = 0; t < s->ntag; t++) {
            int cnt = s->tag_cat[(size_t)t * (size_t)s->ncat + (size_t)c];
            w[t] = cnt >= 3 && us->tag_w[t] == 0 ? sqrt((double)cnt) : 0;
        }
        int nlike = 2 + (int)rng_below(r, 3), ndis = 1 + (int)rng_below(r, 2);
        for (int k = 0; k < nlike; k++) {
            int t = rng_weighted(r, w, (size_t)s->ntag);
            if (t < 0)
                break;
            w[t] = 0;
            us->tag_w[t] = rng_range(r, 0.6, 1.0);
        }
        for (int k = 0; k < ndis; k++) {
            int t = rng_weighted(r, w, (size_t)s->ntag);
            if (t < 0)
                break;
            w[t] = 0;
            us->tag_w[t] = -rng_range(r, 0.5, 1.0);
        }
    }
    free(w);

    /* Stated interests: the strongest liked tags (weight times the share of the tag's
     * category, so the main domain comes first), as phrases, leaving out broad tags (on more
     * than 30% of a category's items: "delivery", "beginner-friendly"), which people rarely
     * name as an interest. */
    int want = 1 + (int)rng_below(r, 3);
    for (int k = 0; k < want; k++) {
        int best = -1;
        double best_v = 0;
        for (int t = 0; t < s->ntag; t++) {
            if (us->tag_w[t] <= 0 || tag_is_broad(s, t))
                continue;
            int taken = 0;
            for (int j = 0; j < us->ninterests; j++)
                taken |= strcmp(us->interests[j], s->tags[t]) == 0;
            double dom = 0;
            for (int c = 0; c < s->ncat; c++)
                if (s->tag_cat[(size_t)t * (size_t)s->ncat + (size_t)c] > 0 && us->share[c] > dom)
                    dom = us->share[c];
            double v = us->tag_w[t] * dom;
            if (!taken && v > best_v) {
                best = t;
                best_v = v;
            }
        }
        if (best < 0)
            break;
        /* interests[] first hold the raw tag (for the "taken" test), then the phrase */
        if (!(us->interests[us->ninterests] = strdup(s->tags[best])))
            return nomem();
        us->ninterests++;
    }
    for (int j = 0; j < us->ninterests; j++) {
        char *p = tag_phrase(us->interests[j]);
        if (!p)
            return nomem();
        free(us->interests[j]);
        us->interests[j] = p;
    }
    return RECSYS_OK;
}

/* ---------------------------------------------------------------- simulation ----------- */

enum { F_ENGAGED = 1, F_NEG = 2, F_POS = 4, F_SESSION = 8 };

typedef struct sim {
    synth *s;
    size_t u;
    rng *r;
    s_events ev;      /* this user's events */
    double *aff;      /* [nitems] latent affinity */
    double *score;    /* [nitems] softmax scratch */
    uint8_t *flags;   /* [nitems] */
    int64_t *last_pos; /* [nitems] */
    uint32_t seq;
} sim;

static recsys_status push(sim *m, int64_t ts, int32_t item, int32_t type, double value,
                          const char *query)
{
    if (ts >= m->s->opts.end)
        return RECSYS_OK; /* beyond the span: never happened */
    if (m->ev.n == m->ev.cap) {
        size_t cap = m->ev.cap ? m->ev.cap * 2 : 64;
        s_event *v = realloc(m->ev.v, cap * sizeof *v);
        if (!v)
            return nomem();
        m->ev.v = v;
        m->ev.cap = cap;
    }
    s_event *e = &m->ev.v[m->ev.n];
    memset(e, 0, sizeof *e);
    e->ts = ts;
    e->user = (uint32_t)m->u;
    e->item = item;
    e->type = type;
    e->value = value;
    e->seq = m->seq++;
    if (query && !(e->query = strdup(query)))
        return nomem();
    m->ev.n++;
    if (item >= 0) {
        int pos = 0, neg = 0;
        switch (type) {
        case RECSYS_EVENT_CLICK: case RECSYS_EVENT_LIKE: case RECSYS_EVENT_ADD_TO_CART:
        case RECSYS_EVENT_PURCHASE:
            pos = 1;
            break;
        case RECSYS_EVENT_RATING:
            pos = value >= 4;
            neg = value <= 2;
            break;
        case RECSYS_EVENT_WATCH_TIME:
            pos = value >= 0.5 * m->s->items[item].runtime_s;
            break;
        case RECSYS_EVENT_DISLIKE: case RECSYS_EVENT_SKIP:
            neg = 1;
            break;
        default:
            break;
        }
        if (pos) {
            m->flags[item] |= F_POS;
            m->last_pos[item] = ts;
        }
        if (neg)
            m->flags[item] |= F_NEG;
    }
    return RECSYS_OK;
}

static int visible(const synth *s, const s_user *us, const s_item *it, int64_t t)
{
    if (it->created > t)
        return 0;
    if (us->age >= 0 && it->min_age > us->age)
        return 0;
    if (it->nregions > 0) {
        if (!us->region)
            return 0;
        for (int k = 0; k < it->nregions; k++)
            if (strcmp(it->regions[k], us->region) == 0)
                return 1;
        return 0;
    }
    (void)s;
    return 1;
}

static int has_tag(const s_item *it, int tag)
{
    for (int k = 0; k < it->ntags; k++)
        if (it->tags[k] == tag)
            return 1;
    return 0;
}

/* Picks the next item of a session, or -1 when nothing is left to see. */
static int pick_item(sim *m, int cat, int focus, int64_t t)
{
    synth *s = m->s;
    const s_user *us = &s->users[m->u];
    double best = -1e300;
    size_t n = 0;
    for (size_t i = 0; i < s->nitems; i++) {
        const s_item *it = &s->items[i];
        m->score[i] = -1e300;
        if (it->cat != cat || (m->flags[i] & (F_ENGAGED | F_SESSION)) || !visible(s, us, it, t))
            continue;
        double v = 3.0 * m->aff[i] + it->prior + (focus >= 0 && has_tag(it, focus) ? 1.0 : 0.0);
        m->score[i] = v;
        if (v > best)
            best = v;
        n++;
    }
    if (n == 0)
        return -1;
    int explore = rng_unit(m->r) < 0.125;
    for (size_t i = 0; i < s->nitems; i++)
        m->score[i] = m->score[i] <= -1e299 ? 0 : explore ? 1.0 : exp(m->score[i] - best);
    return rng_weighted(m->r, m->score, s->nitems);
}

static double rating_for(rng *r, double e)
{
    double v = floor(3.0 + 1.5 * e + 0.5 * rng_normal(r) + 0.5);
    return v < 1 ? 1 : v > 5 ? 5 : v;
}

/* The user meets item i at time *t: emits the events and advances *t. */
static recsys_status interact(sim *m, int i, int64_t *t)
{
    synth *s = m->s;
    const s_item *it = &s->items[i];
    rng *r = m->r;
    int kind = cat_kind(s->cats[it->cat]);
    double e = m->aff[i] + 0.35 * rng_normal(r);
    int64_t now = *t;
    recsys_status st;
    m->flags[i] |= F_SESSION;

#define EMIT(dt, type, value)                                                          \
    do {                                                                               \
        now += (int64_t)(dt);                                                          \
        if ((st = push(m, now, i, (type), (value), NULL)) != RECSYS_OK)                \
            return st;                                                                 \
    } while (0)

    EMIT(0, RECSYS_EVENT_VIEW, 0);
    if (!it->available) { /* out of stock: a look, nothing more */
        if (rng_unit(r) < 0.5)
            EMIT(3, RECSYS_EVENT_DWELL, floor(rng_range(r, 10, 60)));
        goto done;
    }
    if (e < -0.25) { /* against the taste */
        if (kind == CAT_FILM) {
            double w = floor(rng_range(r, 60, 600));
            EMIT(5, RECSYS_EVENT_WATCH_TIME, w);
            EMIT(w, RECSYS_EVENT_SKIP, 0);
        } else if (rng_unit(r) < 0.6) {
            EMIT(rng_range(r, 3, 20), RECSYS_EVENT_SKIP, 0);
        }
        if (rng_unit(r) < (e < -0.6 ? 0.45 : 0.15)) {
            EMIT(2, RECSYS_EVENT_DISLIKE, 0);
            m->flags[i] |= F_ENGAGED; /* never again */
        }
        goto done;
    }
    if (rng_unit(r) >= sigmoid(3.0 * e - 0.2)) { /* not tempted */
        if (rng_unit(r) < 0.3)
            EMIT(2, RECSYS_EVENT_DWELL, floor(rng_range(r, 5, 30)));
        goto done;
    }
    EMIT(rng_range(r, 2, 20), RECSYS_EVENT_CLICK, 0);
    m->flags[i] |= F_ENGAGED;
    double p_conv = sigmoid(3.0 * e - 1.0);
    int64_t later = 0;
    switch (kind) {
    case CAT_FILM: {
        double frac = 0.35 + 0.55 * e + 0.15 * rng_normal(r);
        frac = frac < 0.03 ? 0.03 : frac > 1 ? 1 : frac;
        double w = floor(frac * it->runtime_s);
        EMIT(10, RECSYS_EVENT_WATCH_TIME, w);
        now += (int64_t)w;
        if (frac < 0.2)
            EMIT(1, RECSYS_EVENT_SKIP, 0);
        if (e > 0.35 && rng_unit(r) < 0.45)
            EMIT(5, RECSYS_EVENT_LIKE, 0);
        if (rng_unit(r) < 0.35)
            EMIT(20, RECSYS_EVENT_RATING, rating_for(r, e));
        break;
    }
    case CAT_LAPTOP:
    case CAT_COURSE: {
        double dwell = floor(rng_range(r, 30, 300) * (1.0 + (e > 0 ? e : 0)));
        EMIT(1, RECSYS_EVENT_DWELL, dwell);
        now += (int64_t)dwell;
        if (e > 0.4 && rng_unit(r) < (kind == CAT_COURSE ? 0.2 : 0.15))
            EMIT(2, RECSYS_EVENT_LIKE, 0);
        if (rng_unit(r) < (kind == CAT_COURSE ? 0.5 : 0.4) * p_conv) {
            EMIT(5, RECSYS_EVENT_ADD_TO_CART, 0);
            if (rng_unit(r) < (kind == CAT_COURSE ? 0.6 : 0.5)) {
                EMIT(rng_range(r, 30, 600), RECSYS_EVENT_PURCHASE, 0);
                if (rng_unit(r) < 0.5)
                    later = kind == CAT_COURSE ? (int64_t)rng_range(r, 7, 40) * 86400
                                               : (int64_t)rng_range(r, 3, 20) * 86400;
            }
        }
        break;
    }
    default: {
        EMIT(1, RECSYS_EVENT_DWELL, floor(rng_range(r, 20, 120)));
        if (e > 0.3 && rng_unit(r) < 0.3)
            EMIT(2, RECSYS_EVENT_LIKE, 0);
        if (rng_unit(r) < 0.35 * p_conv) {
            EMIT(rng_range(r, 10, 120), RECSYS_EVENT_PURCHASE, 0);
            if (rng_unit(r) < 0.6)
                later = (int64_t)rng_range(r, 1, 4) * 86400;
        }
        break;
    }
    }
    if (later > 0) { /* the rating comes days later; push() drops it past the end */
        st = push(m, now + later, i, RECSYS_EVENT_RATING, rating_for(r, e), NULL);
        if (st != RECSYS_OK)
            return st;
    }
#undef EMIT
done:
    *t = now + (int64_t)rng_range(r, 20, 300);
    return RECSYS_OK;
}

static int cmp_i64_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

typedef struct s_pos {
    int64_t ts;
    int item;
} s_pos;

/* Latest first; ties by item index so the order never depends on qsort. */
static int cmp_pos_desc(const void *a, const void *b)
{
    const s_pos *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? 1 : -1;
    return x->item < y->item ? 1 : x->item > y->item ? -1 : 0;
}

static int cmp_event(const void *a, const void *b)
{
    const s_event *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : 0;
}

/* Chooses the held-out items of user m->u and moves the rest of its events to s->ev. */
static recsys_status finish_user(sim *m)
{
    synth *s = m->s;
    s_user *us = &s->users[m->u];
    size_t k = s->opts.holdout;
    if (k > 0) {
        size_t npos = 0;
        for (size_t i = 0; i < s->nitems; i++)
            if ((m->flags[i] & F_POS) && !(m->flags[i] & F_NEG))
                npos++;
        if (npos > 1) {
            size_t keep = npos - 1 < k ? npos - 1 : k; /* leave one positive to learn from */
            s_pos *order = calloc(npos, sizeof *order);
            if (!order)
                return nomem();
            size_t n = 0;
            for (size_t i = 0; i < s->nitems; i++)
                if ((m->flags[i] & F_POS) && !(m->flags[i] & F_NEG))
                    order[n++] = (s_pos){m->last_pos[i], (int)i};
            qsort(order, n, sizeof *order, cmp_pos_desc);
            if (!(us->held = calloc(keep, sizeof *us->held))) {
                free(order);
                return nomem();
            }
            for (size_t j = 0; j < keep; j++)
                us->held[us->nheld++] = order[j].item;
            free(order);
        }
    }
    for (size_t j = 0; j < m->ev.n; j++) {
        s_event *e = &m->ev.v[j];
        int held = 0;
        for (int h = 0; h < us->nheld; h++)
            held |= e->item == us->held[h];
        if (held) {
            free(e->query);
            continue;
        }
        if (s->ev.n == s->ev.cap) {
            size_t cap = s->ev.cap ? s->ev.cap * 2 : 1024;
            s_event *v = realloc(s->ev.v, cap * sizeof *v);
            if (!v) {
                for (size_t q = j; q < m->ev.n; q++)
                    free(m->ev.v[q].query);
                m->ev.n = 0;
                return nomem();
            }
            s->ev.v = v;
            s->ev.cap = cap;
        }
        s->ev.v[s->ev.n++] = *e;
        us->nevents++;
    }
    m->ev.n = 0;
    return RECSYS_OK;
}

static recsys_status simulate_user(synth *s, size_t u, sim *m, int64_t *starts, size_t max_sess)
{
    s_user *us = &s->users[u];
    rng *r = m->r;
    recsys_status st;
    m->u = u;
    m->seq = 0;
    for (size_t i = 0; i < s->nitems; i++) {
        const s_item *it = &s->items[i];
        double a = 0;
        for (int k = 0; k < it->ntags; k++)
            a += us->tag_w[it->tags[k]];
        m->aff[i] = it->ntags ? a / sqrt((double)it->ntags) : 0;
        m->flags[i] = 0;
        m->last_pos[i] = 0;
    }
    /* Activity varies: a log-normal factor around 1. */
    double activity = exp(0.6 * rng_normal(r) - 0.18);
    size_t nsess = 1 + (size_t)rng_poisson(r, activity * (s->opts.sessions_mean - 1));
    if (nsess > max_sess)
        nsess = max_sess;
    int64_t span = s->opts.end - s->opts.start - 4 * 3600;
    if (span < 1)
        span = 1;
    for (size_t k = 0; k < nsess; k++)
        starts[k] = s->opts.start + (int64_t)(rng_unit(r) * (double)span);
    qsort(starts, nsess, sizeof *starts, cmp_i64_desc);
    double *tw = calloc((size_t)s->ntag + 1, sizeof *tw);
    if (!tw)
        return nomem();
    for (size_t k = nsess; k-- > 0;) { /* starts are sorted latest first */
        int64_t t = starts[k];
        int cat = rng_weighted(r, us->share, (size_t)s->ncat);
        if (cat < 0)
            break;
        for (int g = 0; g < s->ntag; g++) {
            int cnt = s->tag_cat[(size_t)g * (size_t)s->ncat + (size_t)cat];
            tw[g] = us->tag_w[g] > 0 && cnt > 0 ? us->tag_w[g] : 0;
        }
        int focus = rng_weighted(r, tw, (size_t)s->ntag);
        if (focus >= 0 && rng_unit(r) < 0.3) {
            char *phrase = tag_phrase(s->tags[focus]);
            char q[160];
            if (!phrase) {
                free(tw);
                return nomem();
            }
            double x = rng_unit(r);
            if (x < 0.3)
                snprintf(q, sizeof q, "%s", phrase);
            else if (x < 0.45)
                snprintf(q, sizeof q, "best %s %s", phrase, cat_noun(s->cats[cat]));
            else
                snprintf(q, sizeof q, "%s %s", phrase, cat_noun(s->cats[cat]));
            free(phrase);
            if ((st = push(m, t, -1, RECSYS_EVENT_SEARCH, 0, q)) != RECSYS_OK) {
                free(tw);
                return st;
            }
            t += (int64_t)rng_range(r, 3, 30);
        }
        size_t n = 1 + (size_t)rng_poisson(r, s->opts.items_mean - 1);
        if (n > 20)
            n = 20;
        for (size_t j = 0; j < n && t < s->opts.end; j++) {
            int i = pick_item(m, cat, focus, t);
            if (i < 0)
                break;
            if ((st = interact(m, i, &t)) != RECSYS_OK) {
                free(tw);
                return st;
            }
        }
        for (size_t i = 0; i < s->nitems; i++)
            m->flags[i] &= (uint8_t)~F_SESSION;
    }
    free(tw);
    return finish_user(m);
}

/* ---------------------------------------------------------------- public API ----------- */

recsys_status synth_new(const char *catalog_json, size_t len, const synth_opts *opts, synth **out)
{
    if (!out)
        return recsys_error_set(RECSYS_E_INVALID_ARG, "synth_new: out is NULL");
    *out = NULL;
    if (!catalog_json)
        return recsys_error_set(RECSYS_E_INVALID_ARG, "synth_new: catalog_json is NULL");
    synth_opts o;
    synth_opts_init(&o);
    if (opts)
        o = *opts;
    if (o.end <= o.start || o.sessions_mean < 1 || o.items_mean < 1 || o.users > 1000000)
        return recsys_error_set(RECSYS_E_INVALID_ARG,
                                "synth_new: options need end > start, sessions_mean >= 1, "
                                "items_mean >= 1 and users <= 1000000");
    synth *s = calloc(1, sizeof *s);
    if (!s)
        return nomem();
    s->opts = o;
    s->prefix = strdup(o.id_prefix ? o.id_prefix : "user-");
    if (!s->prefix) {
        synth_free(s);
        return nomem();
    }
    s->opts.id_prefix = s->prefix;

    rng r;
    rng_seed(&r, o.seed, 0);
    recsys_status st = parse_catalog(s, catalog_json, len, &r);
    if (st != RECSYS_OK) {
        synth_free(s);
        return st;
    }
    if (o.users > 0 && !(s->users = calloc(o.users, sizeof *s->users))) {
        synth_free(s);
        return nomem();
    }
    s->nusers = o.users;
    size_t max_sess = (size_t)(o.sessions_mean * 20) + 8;
    sim m;
    memset(&m, 0, sizeof m);
    m.s = s;
    m.aff = calloc(s->nitems, sizeof *m.aff);
    m.score = calloc(s->nitems, sizeof *m.score);
    m.flags = calloc(s->nitems, sizeof *m.flags);
    m.last_pos = calloc(s->nitems, sizeof *m.last_pos);
    int64_t *starts = calloc(max_sess, sizeof *starts);
    if (!m.aff || !m.score || !m.flags || !m.last_pos || !starts)
        st = nomem();
    for (size_t u = 0; u < s->nusers && st == RECSYS_OK; u++) {
        rng ur;
        rng_seed(&ur, o.seed, u + 1); /* one stream per user */
        m.r = &ur;
        st = make_user(s, u, &ur);
        if (st == RECSYS_OK)
            st = simulate_user(s, u, &m, starts, max_sess);
    }
    for (size_t j = 0; j < m.ev.n; j++)
        free(m.ev.v[j].query);
    free(m.ev.v);
    free(m.aff);
    free(m.score);
    free(m.flags);
    free(m.last_pos);
    free(starts);
    if (st != RECSYS_OK) {
        synth_free(s);
        return st;
    }
    qsort(s->ev.v, s->ev.n, sizeof *s->ev.v, cmp_event);
    *out = s;
    return RECSYS_OK;
}

void synth_free(synth *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nitems; i++) {
        s_item *it = &s->items[i];
        free(it->id);
        free(it->tags);
        for (int k = 0; k < it->nregions; k++)
            free(it->regions[k]);
        free(it->regions);
    }
    free(s->items);
    for (int c = 0; c < s->ncat; c++)
        free(s->cats[c]);
    free(s->cats);
    for (int t = 0; t < s->ntag; t++)
        free(s->tags[t]);
    free(s->tags);
    free(s->tag_cat);
    free(s->cat_items);
    for (size_t u = 0; u < s->nusers; u++) {
        s_user *us = &s->users[u];
        free(us->id);
        free(us->share);
        free(us->tag_w);
        for (int j = 0; j < us->ninterests; j++)
            free(us->interests[j]);
        free(us->held);
    }
    free(s->users);
    for (size_t j = 0; j < s->ev.n; j++)
        free(s->ev.v[j].query);
    free(s->ev.v);
    free(s->prefix);
    free(s);
}

size_t synth_user_count(const synth *s)
{
    return s ? s->nusers : 0;
}

static const s_user *user_at(const synth *s, size_t u)
{
    return s && u < s->nusers ? &s->users[u] : NULL;
}

const char *synth_user_id(const synth *s, size_t u)
{
    const s_user *us = user_at(s, u);
    return us ? us->id : NULL;
}

int synth_user_age(const synth *s, size_t u)
{
    const s_user *us = user_at(s, u);
    return us ? us->age : -1;
}

const char *synth_user_region(const synth *s, size_t u)
{
    const s_user *us = user_at(s, u);
    return us ? us->region : NULL;
}

size_t synth_user_interest_count(const synth *s, size_t u)
{
    const s_user *us = user_at(s, u);
    return us ? (size_t)us->ninterests : 0;
}

const char *synth_user_interest(const synth *s, size_t u, size_t j)
{
    const s_user *us = user_at(s, u);
    return us && j < (size_t)us->ninterests ? us->interests[j] : NULL;
}

double synth_user_category_share(const synth *s, size_t u, const char *category)
{
    const s_user *us = user_at(s, u);
    if (!us || !category)
        return 0;
    for (int c = 0; c < s->ncat; c++)
        if (strcmp(s->cats[c], category) == 0)
            return us->share[c];
    return 0;
}

const char *synth_user_top_category(const synth *s, size_t u)
{
    const s_user *us = user_at(s, u);
    if (!us || s->ncat == 0)
        return NULL;
    int best = 0;
    for (int c = 1; c < s->ncat; c++)
        if (us->share[c] > us->share[best])
            best = c;
    return s->cats[best];
}

static long find_item(const synth *s, const char *item_id)
{
    if (!s || !item_id)
        return -1;
    for (size_t i = 0; i < s->nitems; i++)
        if (strcmp(s->items[i].id, item_id) == 0)
            return (long)i;
    return -1;
}

double synth_user_affinity(const synth *s, size_t u, const char *item_id)
{
    const s_user *us = user_at(s, u);
    long i = find_item(s, item_id);
    if (!us || i < 0)
        return 0;
    const s_item *it = &s->items[i];
    double a = 0;
    for (int k = 0; k < it->ntags; k++)
        a += us->tag_w[it->tags[k]];
    return it->ntags ? a / sqrt((double)it->ntags) : 0;
}

size_t synth_user_event_count(const synth *s, size_t u)
{
    const s_user *us = user_at(s, u);
    return us ? us->nevents : 0;
}

size_t synth_user_find(const synth *s, const char *user_id)
{
    if (!s || !user_id)
        return (size_t)-1;
    for (size_t u = 0; u < s->nusers; u++)
        if (strcmp(s->users[u].id, user_id) == 0)
            return u;
    return (size_t)-1;
}

size_t synth_heldout_count(const synth *s, size_t u)
{
    const s_user *us = user_at(s, u);
    return us ? (size_t)us->nheld : 0;
}

const char *synth_heldout_item(const synth *s, size_t u, size_t j)
{
    const s_user *us = user_at(s, u);
    return us && j < (size_t)us->nheld ? s->items[us->held[j]].id : NULL;
}

size_t synth_event_count(const synth *s)
{
    return s ? s->ev.n : 0;
}

recsys_status synth_event_get(const synth *s, size_t i, recsys_event *ev)
{
    if (!s || !ev || i >= s->ev.n)
        return recsys_error_set(RECSYS_E_INVALID_ARG,
                                "synth_event_get: NULL argument or index out of range");
    const s_event *e = &s->ev.v[i];
    recsys_event_init(ev);
    ev->type = e->type;
    ev->timestamp = e->ts;
    ev->value = e->value;
    ev->user_id = s->users[e->user].id;
    ev->item_id = e->item >= 0 ? s->items[e->item].id : NULL;
    ev->query = e->query;
    return RECSYS_OK;
}

recsys_status synth_load_users(const synth *s, recsys_engine *engine)
{
    if (!s || !engine)
        return recsys_error_set(RECSYS_E_INVALID_ARG, "synth_load_users: NULL argument");
    for (size_t u = 0; u < s->nusers; u++) {
        const s_user *us = &s->users[u];
        recsys_user_spec *spec = NULL;
        recsys_status st = recsys_user_spec_new(us->id, &spec);
        for (int j = 0; j < us->ninterests && st == RECSYS_OK; j++)
            st = recsys_user_spec_add_interest(spec, us->interests[j]);
        if (st == RECSYS_OK)
            st = recsys_user_spec_set_demographics(spec, us->age, us->region);
        if (st == RECSYS_OK)
            st = recsys_user_upsert(engine, spec);
        recsys_user_spec_free(spec);
        if (st != RECSYS_OK)
            return engine_fail(st, "loading user", us->id);
    }
    return RECSYS_OK;
}

recsys_status synth_load_events(const synth *s, recsys_engine *engine)
{
    if (!s || !engine)
        return recsys_error_set(RECSYS_E_INVALID_ARG, "synth_load_events: NULL argument");
    for (size_t i = 0; i < s->ev.n; i++) {
        recsys_event ev;
        memset(&ev, 0, sizeof ev);
        recsys_status st = synth_event_get(s, i, &ev);
        if (st == RECSYS_OK)
            st = recsys_feedback(engine, &ev);
        if (st != RECSYS_OK) {
            char what[160];
            snprintf(what, sizeof what, "%zu (%s, user %s, item %s)", i,
                     recsys_event_type_name(ev.type) ? recsys_event_type_name(ev.type) : "?",
                     ev.user_id, ev.item_id ? ev.item_id : "-");
            return engine_fail(st, "recording event", what);
        }
    }
    return RECSYS_OK;
}
