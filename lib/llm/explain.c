/* explain.c - template explanations and their grounding check (see explain.h). */
#include "explain.h"
#include "../core/error.h"
#include "../core/options.h"
#include "../model/context.h"
#include "../text/tokenize.h"

/* ============================================================ item and user facts */

static bool item_has_word(const recsys_item *it, const char *tok)
{
    if (recsys__tok_contains(it->title, tok) || recsys__tok_contains(it->category, tok) ||
        recsys__tok_contains(it->description, tok))
        return true;
    for (uint32_t t = 0; t < it->ntags; t++)
        if (recsys__tok_contains(it->tags[t], tok))
            return true;
    return false;
}

static const char *item_tag_ci(const recsys_item *it, const char *tag)
{
    for (uint32_t t = 0; t < it->ntags; t++)
        if (recsys__text_ieq(it->tags[t], tag))
            return it->tags[t];
    return NULL;
}

/* Two items share a category or a tag (ASCII case-insensitive). */
static bool items_related(const recsys_item *a, const recsys_item *b)
{
    if (*a->category && recsys__text_ieq(a->category, b->category))
        return true;
    for (uint32_t t = 0; t < a->ntags; t++)
        if (item_tag_ci(b, a->tags[t]))
            return true;
    return false;
}

/* How many tags two items share (ASCII case-insensitive). */
static uint32_t shared_tags(const recsys_item *a, const recsys_item *b)
{
    uint32_t n = 0;
    for (uint32_t t = 0; t < a->ntags; t++)
        n += item_tag_ci(b, a->tags[t]) != NULL;
    return n;
}

static bool interest_names(const char *interest, const char *facet)
{
    return *facet && (recsys__text_ieq(interest, facet) || recsys__tok_phrase_eq(interest, facet));
}

/* The interest names a tag or the category, or all its words occur in the item's text. */
static bool interest_relevant(const char *interest, const recsys_item *it)
{
    if (interest_names(interest, it->category))
        return true;
    for (uint32_t t = 0; t < it->ntags; t++)
        if (interest_names(interest, it->tags[t]))
            return true;
    recsys__tok tk;
    char w[RECSYS__TOK_MAX];
    size_t words = 0;
    recsys__tok_init(&tk, interest);
    while (recsys__tok_next(&tk, w) > 0) {
        if (!item_has_word(it, w))
            return false;
        words++;
    }
    return words > 0;
}

static const char *user_interest_ci(const recsys__user *u, const char *value)
{
    for (uint32_t i = 0; i < u->ninterests; i++)
        if (recsys__text_ieq(u->interests[i], value))
            return u->interests[i];
    return NULL;
}

/* A plain decimal number, the whole string (no spaces, no inf/nan). */
static bool parse_number(const char *s, double *out)
{
    if (!*s || !((*s >= '0' && *s <= '9') || *s == '-' || *s == '+' || *s == '.'))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' || *p == 'e' ||
              *p == 'E'))
            return false;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* 1 true, 0 false, -1 not a boolean. */
static int parse_bool(const char *s)
{
    if (recsys__text_ieq(s, "true") || recsys__text_ieq(s, "yes") || strcmp(s, "1") == 0)
        return 1;
    if (recsys__text_ieq(s, "false") || recsys__text_ieq(s, "no") || strcmp(s, "0") == 0)
        return 0;
    return -1;
}

static bool same_number(double a, double b)
{
    return fabs(a - b) <= 1e-9 * RECSYS_MAX(1.0, fabs(a));
}

/* ============================================================ grounding */

static bool ground_attribute(const recsys_item *it, const char *name, const char *value)
{
    if (strcmp(name, "available") == 0) {
        int b = parse_bool(value);
        return b >= 0 && b == (it->available ? 1 : 0);
    }
    if (!it->available)
        return false;
    if (strcmp(name, "tag") == 0)
        return item_tag_ci(it, value) != NULL;
    if (strcmp(name, "category") == 0)
        return *it->category && recsys__text_ieq(it->category, value);
    if (strcmp(name, "title") == 0)
        return *it->title && recsys__text_ieq(it->title, value);
    if (strcmp(name, "provider") == 0)
        return *it->provider && recsys__text_ieq(it->provider, value);
    if (strcmp(name, "region") == 0) {
        for (uint32_t r = 0; r < it->nregions; r++)
            if (recsys__text_ieq(it->regions[r], value))
                return true;
        return false;
    }
    if (strcmp(name, "min_age") == 0) {
        double v;
        return parse_number(value, &v) && v == (double)it->min_age;
    }
    const recsys__attr *a = recsys__item_attr(it, name);
    if (!a)
        return false;
    switch (a->type) {
    case RECSYS__ATTR_NUM: {
        double v;
        return parse_number(value, &v) && same_number(a->num, v);
    }
    case RECSYS__ATTR_STR:
        return a->str && strcmp(a->str, value) == 0;
    case RECSYS__ATTR_BOOL: {
        int b = parse_bool(value);
        return b >= 0 && b == (a->num != 0 ? 1 : 0);
    }
    default:
        return false;
    }
}

static bool ground_history(const recsys_query *q, const recsys_item *it, const char *name,
                           const char *value)
{
    const recsys__user *u = q->user;
    const recsys__catalog *c = &q->model->catalog;
    int32_t type = recsys__event_type_from_name(name);
    if (!u || type <= 0 || type == RECSYS_EVENT_IMPRESSION || type == RECSYS_EVENT_SEARCH)
        return false;
    uint32_t idx = recsys__ids_find(&c->ids, value, strlen(value));
    if (idx == RECSYS_IDS_NONE)
        return false;
    bool found = false;
    for (size_t k = u->nhist; k > 0 && !found; k--)
        found = u->hist[k - 1].item == idx && u->hist[k - 1].type == type;
    if (!found && type == RECSYS_EVENT_VIEW)
        found = recsys__user_in_list(u, RECSYS_LIST_RECENT_VIEWS, idx);
    if (!found && type == RECSYS_EVENT_PURCHASE)
        found = recsys__user_in_list(u, RECSYS_LIST_PURCHASED, idx);
    if (!found && type == RECSYS_EVENT_DISLIKE)
        found = recsys__user_in_list(u, RECSYS_LIST_NEGATIVE, idx);
    if (!found)
        return false;
    if (idx == it->idx)
        return true;
    const recsys_item *h = recsys__catalog_get(c, idx);
    return h && items_related(h, it);
}

static bool ground_interest(const recsys_query *q, const recsys_item *it, const char *name,
                            const char *value)
{
    if (!q->user || strcmp(name, "interest") != 0)
        return false;
    const char *interest = user_interest_ci(q->user, value);
    return interest && interest_relevant(interest, it);
}

static bool ground_popularity(const recsys_query *q, const recsys_item *it, const char *name,
                              const char *value)
{
    double v, actual;
    if (!parse_number(value, &v))
        return false;
    if (strcmp(name, "popular") == 0) {
        actual = recsys__query_popular_count(q, it->idx);
    } else if (strcmp(name, "trending") == 0) {
        if (!recsys__query_trending_score(q, it->idx, NULL))
            return false;
        actual = recsys__query_trending_count(q, it->idx);
    } else {
        return false;
    }
    return actual > 0 && fabs(v - actual) <= 0.5;
}

static bool ground_query(const recsys_query *q, const recsys_item *it, const char *name,
                         const char *value)
{
    if (strcmp(name, "query") != 0 || !q->text || !*q->text)
        return false;
    recsys__tok tk;
    char w[RECSYS__TOK_MAX];
    size_t words = 0;
    recsys__tok_init(&tk, value);
    while (recsys__tok_next(&tk, w) > 0) {
        if (!recsys__tok_contains(q->text, w) || !item_has_word(it, w))
            return false;
        words++;
    }
    return words > 0;
}

bool recsys__evidence_grounded(const recsys_query *q, const recsys_item *it, int32_t kind,
                               const char *name, const char *value)
{
    if (!q || !q->model || !it || !name || !value)
        return false;
    /* only the live catalog item itself, never a stale copy or a look-alike */
    if (recsys__catalog_get(&q->model->catalog, it->idx) != it)
        return false;
    if (kind == RECSYS_EVIDENCE_ATTRIBUTE)
        return ground_attribute(it, name, value);
    if (!it->available)
        return false; /* an unavailable item is never praised */
    switch (kind) {
    case RECSYS_EVIDENCE_HISTORY:
        return ground_history(q, it, name, value);
    case RECSYS_EVIDENCE_INTEREST:
        return ground_interest(q, it, name, value);
    case RECSYS_EVIDENCE_POPULARITY:
        return ground_popularity(q, it, name, value);
    case RECSYS_EVIDENCE_QUERY:
        return ground_query(q, it, name, value);
    default:
        return false;
    }
}

/* ============================================================ template */

typedef struct pending {
    int32_t kind;
    const char *name;
    const char *value;
} pending;

typedef struct plan {
    const recsys_query *q;
    const recsys_item *it;
    pending ev[RECSYS__EXPLAIN_MAX_EVIDENCE];
    size_t nev;
    /* clauses found (NULL/0 when absent) */
    char qterm[RECSYS__TOK_MAX];
    bool has_query;
    const recsys_item *hitem;
    int32_t htype;
    enum { FACET_NONE, FACET_TAG_INTEREST, FACET_CAT_INTEREST, FACET_INTEREST,
           FACET_TAG_AFFINITY } facet;
    const char *facet_text, *interest;
    const char *popname;
    char popval[32];
} plan;

static size_t room(const plan *p)
{
    return RECSYS__EXPLAIN_MAX_EVIDENCE - p->nev;
}

/* Queues one piece of evidence if it is grounded. */
static bool cite(plan *p, int32_t kind, const char *name, const char *value)
{
    if (room(p) == 0 || !recsys__evidence_grounded(p->q, p->it, kind, name, value))
        return false;
    p->ev[p->nev++] = (pending){ kind, name, value };
    return true;
}

static void plan_query(plan *p)
{
    const char *text = p->q->text;
    if (!text || !*text || room(p) == 0)
        return;
    recsys__tok tk;
    recsys__tok_init(&tk, text);
    while (recsys__tok_next(&tk, p->qterm) > 0) {
        if (item_has_word(p->it, p->qterm) && cite(p, RECSYS_EVIDENCE_QUERY, "query", p->qterm)) {
            p->has_query = true;
            return;
        }
    }
}

/* How convincing a past event is as a reason (0 = not a reason). */
static int strength(int32_t type, double value)
{
    switch (type) {
    case RECSYS_EVENT_PURCHASE:
        return 5;
    case RECSYS_EVENT_LIKE:
        return 4;
    case RECSYS_EVENT_ADD_TO_CART:
        return 3;
    case RECSYS_EVENT_RATING:
        return value >= 4 ? 3 : 0;
    case RECSYS_EVENT_WATCH_TIME:
        return value >= 60 ? 2 : 0;
    case RECSYS_EVENT_CLICK:
    case RECSYS_EVENT_VIEW:
        return 1;
    default:
        return 0;
    }
}

/* True when the user disliked item idx after history position k (or in the profile). */
static bool disliked_after(const recsys__user *u, uint32_t idx, size_t k)
{
    for (size_t j = k + 1; j < u->nhist; j++)
        if (u->hist[j].item == idx && u->hist[j].type == RECSYS_EVENT_DISLIKE)
            return true;
    return recsys__user_in_list(u, RECSYS_LIST_NEGATIVE, idx);
}

/* The history item to cite: it must share at least one tag with the recommended item (a
 * shared category alone, "film" for a film, explains nothing); among those, the one sharing
 * the most tags, then the strongest signal, then the most recent. */
static void plan_history(plan *p)
{
    const recsys__user *u = p->q->user;
    const recsys__catalog *c = &p->q->model->catalog;
    if (!u || room(p) == 0)
        return;
    uint32_t best_shared = 0;
    int best = 0;
    const recsys_item *bitem = NULL;
    int32_t btype = 0;
    /* newest first: among equally good reasons the most recent wins */
    for (size_t k = u->nhist; k > 0; k--) {
        const recsys__hist *h = &u->hist[k - 1];
        int s = strength(h->type, h->value);
        if (s == 0 || h->item == RECSYS_IDS_NONE || h->item == p->it->idx)
            continue;
        const recsys_item *hi = recsys__catalog_get(c, h->item);
        uint32_t sh = hi ? shared_tags(hi, p->it) : 0;
        if (sh == 0 || sh < best_shared || (sh == best_shared && s <= best) ||
            disliked_after(u, h->item, k - 1))
            continue;
        best_shared = sh;
        best = s;
        bitem = hi;
        btype = h->type;
    }
    static const struct {
        int list;
        int32_t type;
        int s;
    } lists[] = { { RECSYS_LIST_PURCHASED, RECSYS_EVENT_PURCHASE, 5 },
                  { RECSYS_LIST_RECENT_VIEWS, RECSYS_EVENT_VIEW, 1 } };
    for (size_t l = 0; l < RECSYS_ARRAY_LEN(lists); l++) {
        for (uint32_t j = 0; j < u->nlists[lists[l].list]; j++) {
            uint32_t idx = u->lists[lists[l].list][j];
            const recsys_item *hi = recsys__catalog_get(c, idx);
            uint32_t sh = (hi && idx != p->it->idx) ? shared_tags(hi, p->it) : 0;
            if (sh == 0 || sh < best_shared || (sh == best_shared && lists[l].s <= best) ||
                recsys__user_in_list(u, RECSYS_LIST_NEGATIVE, idx))
                continue;
            best_shared = sh;
            best = lists[l].s;
            bitem = hi;
            btype = lists[l].type;
        }
    }
    if (bitem && cite(p, RECSYS_EVIDENCE_HISTORY, recsys__event_name(btype), bitem->id)) {
        p->hitem = bitem;
        p->htype = btype;
    }
}

/* Normalised long-term affinity of a facet (decayed, divided by the largest absolute one). */
static double norm_affinity(const recsys_query *q, uint32_t facet, double *raw)
{
    const recsys__user *u = q->user;
    double hl = recsys__query_opt(q, RECSYS_OPT_LONG_HALF_LIFE_DAYS) * 86400.0;
    if (!(hl > 0))
        hl = 86400.0;
    double maxabs = 0, v = 0;
    for (size_t k = 0; k < u->naff; k++) {
        double w = recsys__decay(u->aff[k].w, u->aff[k].ts, q->now, hl);
        maxabs = RECSYS_MAX(maxabs, fabs(w));
        if (u->aff[k].facet == facet)
            v = w;
    }
    *raw = v;
    return maxabs > 0 ? v / maxabs : 0;
}

/* Raw decayed affinity (in event-weight units, a like is 3) a tag needs to be "followed". */
#define STRONG_AFFINITY_RAW 3.0
#define STRONG_AFFINITY_NORM 0.5

static void plan_facet(plan *p)
{
    const recsys__user *u = p->q->user;
    const recsys_item *it = p->it;
    if (!u || room(p) == 0)
        return;
    for (uint32_t t = 0; t < it->ntags; t++) {
        for (uint32_t i = 0; i < u->ninterests; i++) {
            if (!interest_names(u->interests[i], it->tags[t]))
                continue;
            if (room(p) >= 2 && recsys__evidence_grounded(p->q, it, RECSYS_EVIDENCE_ATTRIBUTE,
                                                          "tag", it->tags[t]) &&
                cite(p, RECSYS_EVIDENCE_INTEREST, "interest", u->interests[i])) {
                cite(p, RECSYS_EVIDENCE_ATTRIBUTE, "tag", it->tags[t]);
                p->facet = FACET_TAG_INTEREST;
                p->facet_text = it->tags[t];
                p->interest = u->interests[i];
                return;
            }
        }
    }
    for (uint32_t i = 0; *it->category && i < u->ninterests; i++) {
        if (!interest_names(u->interests[i], it->category))
            continue;
        if (room(p) >= 2 &&
            recsys__evidence_grounded(p->q, it, RECSYS_EVIDENCE_ATTRIBUTE, "category",
                                      it->category) &&
            cite(p, RECSYS_EVIDENCE_INTEREST, "interest", u->interests[i])) {
            cite(p, RECSYS_EVIDENCE_ATTRIBUTE, "category", it->category);
            p->facet = FACET_CAT_INTEREST;
            p->facet_text = it->category;
            p->interest = u->interests[i];
            return;
        }
    }
    for (uint32_t i = 0; i < u->ninterests; i++) {
        if (cite(p, RECSYS_EVIDENCE_INTEREST, "interest", u->interests[i])) {
            p->facet = FACET_INTEREST;
            p->interest = u->interests[i];
            return;
        }
    }
    const char *best = NULL;
    double bestn = STRONG_AFFINITY_NORM;
    for (uint32_t t = 0; it->tag_facets && t < it->ntags; t++) {
        double raw, n = norm_affinity(p->q, it->tag_facets[t], &raw);
        if (raw >= STRONG_AFFINITY_RAW && n >= bestn && (!best || n > bestn)) {
            best = it->tags[t];
            bestn = n;
        }
    }
    if (best && cite(p, RECSYS_EVIDENCE_ATTRIBUTE, "tag", best)) {
        p->facet = FACET_TAG_AFFINITY;
        p->facet_text = best;
    }
}

/* Looks for a provenance entry from the source called name. */
static bool proposed_by(const recsys_candidates *c, size_t i, const char *name)
{
    const recsys__cand *cd = &c->v[i];
    for (uint16_t k = 0; c->prov && k < cd->nprov; k++) {
        const recsys__prov *pv = &c->prov[cd->prov_off + k];
        if (c->source_names && pv->source < c->nsources && c->source_names[pv->source] &&
            strcmp(c->source_names[pv->source], name) == 0)
            return true;
    }
    return false;
}

static void plan_popularity(plan *p, const recsys_candidates *c, size_t i)
{
    if (room(p) == 0)
        return;
    if (proposed_by(c, i, "trending")) {
        double t = recsys__query_trending_count(p->q, p->it->idx);
        snprintf(p->popval, sizeof p->popval, "%.0f", t);
        if (t >= 1 && cite(p, RECSYS_EVIDENCE_POPULARITY, "trending", p->popval)) {
            p->popname = "trending";
            return;
        }
    }
    if (proposed_by(c, i, "popular")) {
        double v = recsys__query_popular_count(p->q, p->it->idx);
        snprintf(p->popval, sizeof p->popval, "%.0f", v);
        if (v >= 1 && cite(p, RECSYS_EVIDENCE_POPULARITY, "popular", p->popval))
            p->popname = "popular";
    }
}

/* ------------------------------------------------------------ sentence */

typedef struct sbuf {
    const recsys__mem *m;
    char *s;
    size_t n, cap;
    recsys_status st;
} sbuf;

static void sb_add(sbuf *b, const char *text)
{
    if (b->st != RECSYS_OK)
        return;
    size_t l = strlen(text);
    b->st = RECSYS_GROW(b->m, b->s, b->cap, b->n + l + 1);
    if (b->st != RECSYS_OK)
        return;
    memcpy(b->s + b->n, text, l + 1);
    b->n += l;
}

static const char *history_verb(int32_t type, const char **after)
{
    *after = "";
    switch (type) {
    case RECSYS_EVENT_PURCHASE:
        return "you bought ";
    case RECSYS_EVENT_LIKE:
        return "you liked ";
    case RECSYS_EVENT_ADD_TO_CART:
        *after = " to your cart";
        return "you added ";
    case RECSYS_EVENT_RATING:
        *after = " highly";
        return "you rated ";
    case RECSYS_EVENT_WATCH_TIME:
        return "you watched ";
    case RECSYS_EVENT_CLICK:
        return "you looked at ";
    default:
        return "you viewed ";
    }
}

/* One reason clause, in display order: query, history, popularity, facet (last, as it may
 * end in a relative clause). Returns false when the clause is absent. */
static bool add_clause(sbuf *b, const plan *p, int which)
{
    const char *after;
    switch (which) {
    case 0:
        if (!p->has_query)
            return false;
        sb_add(b, "it matches \"");
        sb_add(b, p->qterm);
        sb_add(b, "\"");
        return true;
    case 1:
        if (!p->hitem)
            return false;
        sb_add(b, history_verb(p->htype, &after));
        sb_add(b, p->hitem->title[0] ? p->hitem->title : p->hitem->id);
        sb_add(b, after);
        return true;
    case 2:
        if (!p->popname)
            return false;
        sb_add(b, strcmp(p->popname, "trending") == 0 ? "it is trending right now"
                                                      : "it is popular with other users");
        return true;
    default:
        switch (p->facet) {
        case FACET_TAG_INTEREST:
            sb_add(b, "it is tagged ");
            sb_add(b, p->facet_text);
            sb_add(b, ", which you follow");
            return true;
        case FACET_CAT_INTEREST:
            sb_add(b, "it is in ");
            sb_add(b, p->facet_text);
            sb_add(b, ", which you follow");
            return true;
        case FACET_INTEREST:
            sb_add(b, "it matches your interest in ");
            sb_add(b, p->interest);
            return true;
        case FACET_TAG_AFFINITY:
            sb_add(b, "it is tagged ");
            sb_add(b, p->facet_text);
            sb_add(b, ", a topic you often engage with");
            return true;
        default:
            return false;
        }
    }
}

static void compose(sbuf *b, const plan *p)
{
    int present[4], n = 0;
    for (int w = 0; w < 4; w++) {
        bool has = (w == 0 && p->has_query) || (w == 1 && p->hitem) || (w == 2 && p->popname) ||
                   (w == 3 && p->facet != FACET_NONE);
        if (has)
            present[n++] = w;
    }
    if (n == 0) {
        sb_add(b, "Recommended for you.");
        return;
    }
    sb_add(b, "Because ");
    for (int k = 0; k < n; k++) {
        if (k > 0)
            sb_add(b, k == n - 1 ? " and " : ", ");
        add_clause(b, p, present[k]);
    }
    sb_add(b, ".");
}

static recsys_status copy_out(const recsys__mem *m, const plan *p, const char *text,
                              recsys__explanation *out)
{
    out->text = recsys__strdup(m, text);
    if (!out->text)
        return RECSYS_E_NOMEM;
    if (p->nev == 0)
        return RECSYS_OK;
    out->ev = recsys__calloc(m, p->nev, sizeof *out->ev);
    if (!out->ev)
        return RECSYS_E_NOMEM;
    for (size_t k = 0; k < p->nev; k++) {
        recsys__evidence *e = &out->ev[out->nev++];
        e->kind = p->ev[k].kind;
        e->name = recsys__strdup(m, p->ev[k].name);
        e->value = e->name ? recsys__strdup(m, p->ev[k].value) : NULL;
        if (!e->value)
            return RECSYS_E_NOMEM;
    }
    return RECSYS_OK;
}

recsys_status recsys__explain_template(const recsys__mem *m, const recsys_query *q,
                                       const recsys_candidates *c, size_t i,
                                       recsys__explanation *out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "explain: out is NULL");
    memset(out, 0, sizeof *out);
    if (!m || !q || !q->model || !c)
        return recsys__err(RECSYS_E_INVALID_ARG, "explain: allocator, query or candidates NULL");
    if (i >= c->n)
        return recsys__err(RECSYS_E_INVALID_ARG, "explain: candidate %zu is out of range (%zu)",
                           i, c->n);
    plan p;
    memset(&p, 0, sizeof p);
    p.q = q;
    p.it = recsys__catalog_get(&q->model->catalog, c->v[i].item);
    const char *fixed = NULL;
    if (!p.it)
        fixed = ""; /* removed meanwhile: nothing true to say about it */
    else if (!p.it->available)
        fixed = "Currently unavailable.";
    recsys_status st;
    if (fixed) {
        st = copy_out(m, &p, fixed, out);
    } else {
        /* evidence budget goes to the strongest reasons first */
        plan_query(&p);
        plan_history(&p);
        plan_facet(&p);
        plan_popularity(&p, c, i);
        sbuf b = { .m = m };
        compose(&b, &p);
        st = b.st;
        if (st == RECSYS_OK)
            st = copy_out(m, &p, b.s, out);
        recsys__free(m, b.s);
    }
    if (st != RECSYS_OK)
        recsys__explanation_free(m, out);
    return st;
}

void recsys__explanation_free(const recsys__mem *m, recsys__explanation *e)
{
    if (!e)
        return;
    if (m) {
        for (size_t k = 0; k < e->nev; k++) {
            recsys__free(m, e->ev[k].name);
            recsys__free(m, e->ev[k].value);
        }
        recsys__free(m, e->ev);
        recsys__free(m, e->text);
    }
    memset(e, 0, sizeof *e);
}
