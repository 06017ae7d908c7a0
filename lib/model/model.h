/* model.h - the data model: items, the catalog, users, events and preference state.
 *
 * Ownership and locking: a recsys__model belongs to one engine. The engine holds its
 * read-write lock around every access: readers (recommend, getters, plug-in views) share it,
 * writers (upserts, feedback, forget) hold it exclusively. Nothing in this module locks.
 *
 * Items are immutable once built: an upsert builds a new recsys_item and swaps the pointer in
 * the catalog slot, freeing the old one (under the write lock, so no reader holds it).
 *
 * Dense indices: every item id and user id is interned (core/ids.h) to a dense uint32 index
 * that never changes for the life of the engine; arrays below are indexed by it. A removed
 * item leaves a NULL slot; a forgotten user leaves a NULL slot and a wiped id.
 */
#ifndef RECSYS_MODEL_MODEL_H
#define RECSYS_MODEL_MODEL_H

#include "../core/alloc.h"
#include "../core/ids.h"
#include "campaigns.h"
#include "factors.h"
#include "fold.h"
#include "rank.h"
#include "shown.h"

/* Limits shared by the builders and the JSON reader, so that whatever one accepts the other
 * accepts too (and an item's JSON always parses back). */
#define RECSYS__TEXT_MAX 65536          /* bytes of any text (title, tag, attribute value...) */
#define RECSYS__LIST_MAX 256            /* tags, regions, attributes, embeddings, interests */
#define RECSYS__DIM_MAX 4096            /* embedding dimension */
#define RECSYS__AGE_MAX 150             /* min_age and user age */
#define RECSYS__PROFILE_ITEMS_MAX 10000 /* item ids per explicit profile list */

/* ---------------------------------------------------------------- items ---------------- */

typedef enum recsys__attr_type {
    RECSYS__ATTR_NUM = 1,
    RECSYS__ATTR_STR = 2,
    RECSYS__ATTR_BOOL = 3
} recsys__attr_type;

typedef struct recsys__attr {
    char *name;
    int32_t type; /* recsys__attr_type */
    double num;   /* NUM, and BOOL as 0/1 */
    char *str;    /* STR */
} recsys__attr;

typedef struct recsys__embedding {
    char *name; /* "default", "text", "image", ... */
    uint32_t dim;
    float *v;
} recsys__embedding;

/* Attributes an LLM generated, kept apart from the host's (provenance). */
typedef struct recsys__generated {
    char **tags;
    uint32_t ntags;
    char *summary;
    recsys__attr *attrs;
    uint32_t nattrs;
    char *model; /* which model produced them, as the host or enrichment said */
} recsys__generated;

/* The public opaque recsys_item is this struct. Strings are never NULL ("" when unset). */
struct recsys_item {
    char *id;
    uint32_t idx; /* dense index in the catalog */
    char *title, *description, *category, *provider;
    char **tags; /* distinct, in the order given */
    uint32_t ntags;
    char **regions; /* none = everywhere */
    uint32_t nregions;
    int available; /* 0/1 */
    int min_age;   /* 0 = no restriction */
    int64_t created;
    recsys__attr *attrs; /* sorted by name, distinct */
    uint32_t nattrs;
    recsys__embedding *embs;
    uint32_t nembs;
    recsys__generated gen;
    uint32_t category_facet; /* facet index of the category, RECSYS_IDS_NONE if none */
    uint32_t *tag_facets;    /* facet index per tag */
};

/* Builds and frees items. recsys__item_new returns an empty item with id set. */
recsys_status recsys__item_new(const recsys__mem *m, const char *id, recsys_item **out);
void recsys__item_free(const recsys__mem *m, recsys_item *it);
/* Deep copy (used to move a builder's item into an engine's allocator). */
recsys_status recsys__item_clone(const recsys__mem *m, const recsys_item *src, recsys_item **out);
/* Setters used by builders and the JSON reader; each validates (UTF-8, finiteness). */
recsys_status recsys__item_set_text(const recsys__mem *m, recsys_item *it, int32_t field,
                                    const char *text);
recsys_status recsys__item_add_tag(const recsys__mem *m, recsys_item *it, const char *tag);
recsys_status recsys__item_add_region(const recsys__mem *m, recsys_item *it, const char *region);
recsys_status recsys__item_set_attr(const recsys__mem *m, recsys_item *it, const char *name,
                                    int32_t type, double num, const char *str);
recsys_status recsys__item_set_embedding(const recsys__mem *m, recsys_item *it, const char *name,
                                         const float *v, size_t dim);
/* Finds an attribute by name (binary search), or NULL. */
const recsys__attr *recsys__item_attr(const recsys_item *it, const char *name);
/* Finds a named embedding, or NULL. */
const recsys__embedding *recsys__item_embedding(const recsys_item *it, const char *name);
bool recsys__item_has_tag(const recsys_item *it, const char *tag);
/* Setters for the LLM-generated part (it->gen), validated like the host's. which is 0 for
 * the summary, 1 for the model name. */
recsys_status recsys__item_add_gen_tag(const recsys__mem *m, recsys_item *it, const char *tag);
recsys_status recsys__item_set_gen_text(const recsys__mem *m, recsys_item *it, int which,
                                        const char *text);
recsys_status recsys__item_set_gen_attr(const recsys__mem *m, recsys_item *it, const char *name,
                                        int32_t type, double num, const char *str);

/* ---------------------------------------------------------------- facets --------------- */

/* Facets are the interned vocabulary of categories and tags ("category:laptop" and
 * "tag:gpu" are distinct facets). Preference state is kept per facet. */
typedef struct recsys__facets {
    recsys__ids ids; /* "c:<category>" or "t:<tag>" -> facet index */
} recsys__facets;

/* ---------------------------------------------------------------- catalog -------------- */

typedef struct recsys__catalog {
    const recsys__mem *mem;
    recsys__ids ids;       /* item id -> dense index (kept for removed items) */
    recsys_item **items;   /* idx -> item, NULL when removed */
    size_t cap;            /* capacity of items and the counters below */
    size_t live;           /* items not removed */
    recsys__facets facets;
    /* Time-decayed interaction counters per item (retrieve/popular reads them):
     * value at time t = v * 2^(-(t - ts) / half_life). */
    double *pop_v;   int64_t *pop_ts;   /* long window (RECSYS_OPT_POPULAR_HALF_LIFE_DAYS) */
    double *trend_v; int64_t *trend_ts; /* short window (RECSYS_OPT_TRENDING_HALF_LIFE_H) */
    /* the same counters in ranked order (rank.h), kept in step by every write above that
     * goes through the model (count, reset, swap, put, remove); keyed with the model's
     * half-lives at the time */
    recsys__rank pop_rank, trend_rank;
    /* Every custom attribute name (recsys__attr, the host's; not the generated ones) that any
     * item put here ever had, never removed, with the types seen under that name: index in
     * attr_names -> bit (1u << recsys__attr_type) per type. The expression binder
     * (filter/expr.h) decides "unknown attribute" and type mismatches from it in O(1),
     * without scanning items. */
    recsys__ids attr_names;
    uint8_t *attr_types;
    size_t attr_types_cap;
    /* the vocabulary above and the text attributes' values folded to ASCII lower case
     * (fold.h), kept in step by put and remove */
    recsys__fold fold;
} recsys__catalog;

void recsys__catalog_init(recsys__catalog *c, const recsys__mem *m);
void recsys__catalog_free(recsys__catalog *c);
/* Index of a live item, or RECSYS_IDS_NONE. */
uint32_t recsys__catalog_find(const recsys__catalog *c, const char *id);
static inline const recsys_item *recsys__catalog_get(const recsys__catalog *c, uint32_t idx)
{
    return idx < c->ids.n ? c->items[idx] : NULL;
}
/* Inserts or replaces it (the catalog takes ownership on success; on failure the caller
 * still owns it and the catalog is unchanged). Interns its facets. *old receives a replaced
 * item for the caller to free (NULL if new). */
recsys_status recsys__catalog_put(recsys__catalog *c, recsys_item *it, recsys_item **old);
/* Removes a live item; returns it for the caller to free. */
recsys_status recsys__catalog_remove(recsys__catalog *c, const char *id, recsys_item **old);
/* The types (bits 1u << recsys__attr_type, 0 = never seen) that custom attribute name has had
 * on any item ever put in the catalog. O(1). */
unsigned recsys__catalog_attr_types(const recsys__catalog *c, const char *name);
/* Case-insensitive lookups (fold.h: ASCII letters folded, other bytes exact) of s[0..len):
 * the facet index of the category (kind 'c') or tag ('t') s names, or RECSYS_IDS_NONE; the
 * attr_names index of the attribute name s, or NONE; the text attributes (at most cap, and
 * at most RECSYS__FOLD_HITS_MAX) whose value s is on some live item, with the catalog's
 * spelling, skipping attributes past RECSYS__FOLD_VALUES_PER_ATTR values: their count. */
uint32_t recsys__catalog_fold_facet(const recsys__catalog *c, char kind, const char *s,
                                    size_t len);
uint32_t recsys__catalog_fold_attr(const recsys__catalog *c, const char *s, size_t len);
size_t recsys__catalog_fold_values(const recsys__catalog *c, const char *s, size_t len,
                                   recsys__fold_hit *hits, size_t cap);
/* The catalog's side of fold.h (catalog.c calls them). add, once a put has interned the
 * facets and attribute names of it: folds those from index nfacets and nnames on (the ones
 * this put added) and the text values of it, writing per attribute of it (the first
 * RECSYS__LIST_MAX) its value entry to ent for commit; may fail (NOMEM), then nothing is
 * added. rollback pops keys and value entries back to the counts nkeys and nvals. commit
 * (cannot fail) links the new values of it, counts it in and old out (either NULL). release
 * counts a removed item out. */
void recsys__fold_init(recsys__fold *f, const recsys__mem *m);
void recsys__fold_free(recsys__fold *f, const recsys__mem *m);
recsys_status recsys__fold_add(recsys__fold *f, const recsys__catalog *c, const recsys_item *it,
                               size_t nfacets, size_t nnames, uint32_t *ent);
void recsys__fold_rollback(recsys__fold *f, size_t nkeys, size_t nvals);
void recsys__fold_commit(recsys__fold *f, const recsys__catalog *c, const recsys_item *it,
                         const uint32_t *ent, const recsys_item *old);
void recsys__fold_release(recsys__fold *f, const recsys__catalog *c, const recsys_item *old);

/* ---------------------------------------------------------------- events -------------- */

/* The weight an event adds to preference state and popularity: positive for interest
 * (view 1, click 1, like 3, add_to_cart 3, purchase 5, rating value-3, watch/dwell by
 * minutes capped at 5), negative for dislike (-5) and skip (-1), 0 for impression/search. */
double recsys__event_weight(int32_t type, double value);
/* True for types that mean the user consumed the item (view, click, purchase, rating,
 * watch_time, like, add_to_cart), used by the "seen" filter. */
bool recsys__event_consumes(int32_t type);
/* True for negative types (dislike, skip). */
bool recsys__event_negative(int32_t type);
/* JSON name <-> type ("add_to_cart"); -1 when unknown. */
int32_t recsys__event_type_from_name(const char *name);
/* type -> JSON name ("add_to_cart"), or NULL when unknown. */
const char *recsys__event_name(int32_t type);
/* Checks an event record's own fields without a model (normalised copy expected): type,
 * user_id, item_id (required unless search), request_id, query (required for search),
 * value (finite; >= 0 for watch_time and dwell), timestamp >= 0, position >= -1. Messages
 * name the field ("field 'user_id' is empty"); the caller adds context. */
recsys_status recsys__event_validate(const recsys_event *ev);

/* One event as kept in memory, per user. item is RECSYS_IDS_NONE for a search. */
typedef struct recsys__hist {
    int64_t ts;
    uint32_t item;
    int32_t type;
    float value;
    char *query; /* the search text of a search event (owned), else NULL */
} recsys__hist;

/* ---------------------------------------------------------------- users ---------------- */

/* A decayed affinity to one facet: value at t = w * 2^(-(t - ts) / half_life). */
typedef struct recsys__aff {
    uint32_t facet;
    float w;
    int64_t ts;
} recsys__aff;

typedef struct recsys__user {
    char *id; /* the interned name: users.ids owns it (recsys__user_free leaves it) */
    uint32_t idx;
    bool has_profile; /* upserted explicitly (else created by feedback) */
    /* explicit profile (the host's) */
    char **interests;
    uint32_t ninterests;
    int age; /* -1 unknown */
    char *region; /* NULL unknown */
    uint32_t *lists[4]; /* RECSYS_LIST_* -> item indices */
    uint32_t nlists[4];
    /* history, oldest first, at most RECSYS_OPT_HISTORY_MAX (older ones dropped) */
    recsys__hist *hist;
    size_t nhist, caphist;
    uint64_t nevents; /* all events ever recorded for the user (not just kept ones) */
    /* long-term preference state: decayed affinity per facet, sorted by facet */
    recsys__aff *aff;
    size_t naff, capaff;
    /* room reserved by prepared, not yet committed events (see recsys__model_prepare_event) */
    size_t pend_hist, pend_aff, pend_events;
} recsys__user;

typedef struct recsys__users {
    const recsys__mem *mem;
    recsys__ids ids;
    recsys__user **users; /* idx -> user, NULL when forgotten */
    size_t cap;
    size_t live;
} recsys__users;

void recsys__users_init(recsys__users *u, const recsys__mem *m);
void recsys__users_free(recsys__users *u);
recsys__user *recsys__users_find(const recsys__users *u, const char *id);
/* Finds or creates (without profile) the user; *created tells which. */
recsys_status recsys__users_get_or_add(recsys__users *u, const char *id, recsys__user **out,
                                       bool *created);
/* Undoes a just-made creation (failure path). */
void recsys__users_undo_add(recsys__users *u, recsys__user *usr);
void recsys__user_free(const recsys__mem *m, recsys__user *usr);
/* True when item is on u's profile list (RECSYS_LIST_*): a linear scan of the list. */
bool recsys__user_in_list(const recsys__user *u, int list, uint32_t item);

/* A user profile under construction (builder, or parsed from JSON), before it is applied. */
typedef struct recsys__profile {
    char *id;
    char **interests;
    uint32_t ninterests;
    int age;
    char *region;
    char **list_ids[4]; /* item ids, resolved when applied */
    uint32_t nlist_ids[4];
} recsys__profile;

void recsys__profile_free(const recsys__mem *m, recsys__profile *p);
/* Builds a profile (used by the user spec and the JSON reader); each validates and leaves
 * p unchanged on failure. init sets id (validated like a user id) and age -1. */
recsys_status recsys__profile_init(const recsys__mem *m, recsys__profile *p, const char *id);
recsys_status recsys__profile_add_interest(const recsys__mem *m, recsys__profile *p,
                                           const char *interest);
recsys_status recsys__profile_set_demographics(const recsys__mem *m, recsys__profile *p, int age,
                                               const char *region);
recsys_status recsys__profile_add_item(const recsys__mem *m, recsys__profile *p, int32_t list,
                                       const char *item_id);
/* Applies a profile: resolves list item ids against the catalog (NOT_FOUND names the id),
 * then replaces the user's explicit profile fields. Atomic: all or nothing. */
recsys_status recsys__users_apply_profile(recsys__users *u, const recsys__catalog *c,
                                          const recsys__profile *p);

/* ---------------------------------------------------------------- the model ------------ */

/* The host's text embedder as readers of the model reach it: the engine installs the hook
 * when it is created, the "search" and "content" sources call it during a request (under the engine's
 * shared lock, which keeps the embedder registered). fn embeds text[0..len) into out; when no
 * embedder is registered or it is disabled it sets *none and returns RECSYS_OK. A failure
 * follows the plug-in convention ("embedder '<name>': ..."). fn NULL: no hook (a bare
 * model, as in the model's own tests). */
typedef struct recsys__embed_hook {
    recsys_status (*fn)(void *arg, const char *text, size_t len, recsys_vector_sink *out,
                        bool *none);
    void *arg;
} recsys__embed_hook;

typedef struct recsys__model {
    const recsys__mem *mem;
    recsys__catalog catalog;
    recsys__users users;
    recsys__campaigns campaigns; /* campaigns.h; freed by the engine (recsys__campaigns_free) */
    recsys__embed_hook embed;
    recsys__factors *ials_import; /* item factors the host imported (recsys_ials_import), or NULL */
    recsys__shown shown; /* recently shown items per user (shown.h); its own mutex */
    uint64_t nevents; /* events recorded (impressions included) */
    /* Decay settings copied from options when they change (used by apply_event). */
    double long_half_life_s, pop_half_life_s, trend_half_life_s;
    size_t history_max;
} recsys__model;

void recsys__model_init(recsys__model *m, const recsys__mem *mem);
void recsys__model_free(recsys__model *m);

/* An event already validated and resolved to indices. */
typedef struct recsys__ev {
    uint32_t user;
    uint32_t item; /* RECSYS_IDS_NONE for a search without item */
    int32_t type;
    double value;
    int64_t ts;
    const char *query; /* search text or NULL */
} recsys__ev;

/* Validates a public event record: struct_size, type, strings (UTF-8, length), value
 * finiteness, that item_id names a live item (NOT_FOUND otherwise). Does not change the
 * model. *copy receives a normalised full-size copy of the record. */
recsys_status recsys__model_check_event(const recsys__model *m, const recsys_event *ev,
                                        recsys_event *copy);
/* Applies a checked event: creates the user if needed, appends to history (dropping the
 * oldest beyond history_max), updates affinities, popularity and counters. All allocation
 * happens before any change, so a NOMEM leaves the model unchanged. */
recsys_status recsys__model_apply_event(recsys__model *m, const recsys_event *ev);
/* The two halves of apply, for callers that must make an event durable between them:
 * prepare does every allocation (creating the user, reserving history and affinity room,
 * copying the query) and changes nothing observable; commit cannot fail; abort undoes a
 * prepare. Several events may be prepared before any is committed (a batch); commit them in
 * order, or abort them in reverse order. */
typedef struct recsys__ev_prep {
    const recsys_event *ev; /* borrowed until commit or abort */
    recsys__user *usr;
    bool created;
    uint32_t item;
    const recsys_item *it;
    double w;
    bool keep;
    size_t nfacets;
    char *query;
} recsys__ev_prep;
recsys_status recsys__model_prepare_event(recsys__model *m, const recsys_event *ev,
                                          recsys__ev_prep *p);
void recsys__model_commit_event(recsys__model *m, recsys__ev_prep *p);
void recsys__model_abort_event(recsys__model *m, recsys__ev_prep *p);
/* Replays an event from the store at startup (same as apply, never fails on an unknown item:
 * such events are counted but not applied to item counters). */
recsys_status recsys__model_replay_event(recsys__model *m, const recsys_event *ev);
/* Removes a user and every trace of them from memory: profile, history, search texts and id
 * text (wiped). Item counters are then rebuilt by the engine from the store's remaining
 * events with recsys__model_counters_reset() and recsys__model_count_event(), so that no
 * contribution of the user survives (history in memory is bounded, the store is not). */
recsys_status recsys__model_forget_user(recsys__model *m, const char *user_id);
void recsys__model_counters_reset(recsys__model *m);
/* Adds one stored event's contribution to the item counters only (no allocation). */
void recsys__model_count_event(recsys__model *m, const recsys_event *ev);

/* A set of item counters built aside and swapped in (forgetting rebuilds them from the store
 * before anything is removed, so a failure leaves the model as it was). */
typedef struct recsys__counters {
    double *pop_v, *trend_v;
    int64_t *pop_ts, *trend_ts;
    size_t n;
    uint64_t nevents; /* events counted (impressions excluded) */
} recsys__counters;
recsys_status recsys__counters_init(const recsys__mem *mem, size_t n, recsys__counters *c);
void recsys__counters_free(const recsys__mem *mem, recsys__counters *c);
/* Counts ev into c unless it names skip_user (NULL = none); impressions are not counted. */
void recsys__counters_add(const recsys__model *m, recsys__counters *c, const recsys_event *ev,
                          const char *skip_user);
/* Swaps c into the catalog (c then holds the old arrays, to be freed). */
void recsys__counters_swap(recsys__model *m, recsys__counters *c);

/* Decayed value of (v, ts) at now with half-life hl seconds. */
static inline double recsys__decay(double v, int64_t ts, int64_t now, double hl)
{
    double dt = (double)(now - ts);
    return dt <= 0 ? v : v * exp2(-dt / hl);
}

/* Adds w at time ts to a decayed accumulator (v, vts), whichever of ts and vts is later. */
static inline void recsys__decay_add(double *v, int64_t *vts, double w, int64_t ts, double hl)
{
    if (ts >= *vts) {
        *v = recsys__decay(*v, *vts, ts, hl) + w;
        *vts = ts;
    } else {
        *v += recsys__decay(w, ts, *vts, hl);
    }
}

/* The user's long-term affinity to a facet at now (0 when none). */
double recsys__user_affinity(const recsys__model *m, const recsys__user *u, uint32_t facet,
                             int64_t now);

/* ---------------------------------------------------------------- JSON ---------------- */

/* Parsing of untrusted JSON (jansson, strict: duplicate keys rejected, unknown keys
 * rejected with their name, sizes capped). Each parses one object or an array of them.
 * Messages name the element index and the field. */
typedef struct recsys__items_vec {
    recsys_item **v;
    size_t n, cap;
} recsys__items_vec;
typedef struct recsys__profiles_vec {
    recsys__profile *v;
    size_t n, cap;
} recsys__profiles_vec;
typedef struct recsys__events_vec {
    recsys_event *v; /* strings owned by the vec */
    size_t n, cap;
} recsys__events_vec;

recsys_status recsys__json_parse_items(const recsys__mem *m, const char *json, size_t len,
                                       size_t max_len, recsys__items_vec *out);
recsys_status recsys__json_parse_profiles(const recsys__mem *m, const char *json, size_t len,
                                          size_t max_len, recsys__profiles_vec *out);
recsys_status recsys__json_parse_events(const recsys__mem *m, const char *json, size_t len,
                                        size_t max_len, recsys__events_vec *out);
void recsys__items_vec_free(const recsys__mem *m, recsys__items_vec *v);
void recsys__profiles_vec_free(const recsys__mem *m, recsys__profiles_vec *v);
void recsys__events_vec_free(const recsys__mem *m, recsys__events_vec *v);

/* Serialisation (canonical JSON; what the store keeps). Strings come from recsys__hoststr()
 * when host is true (the host frees them with recsys_string_free), else from m. */
recsys_status recsys__json_item(const recsys__mem *m, const recsys_item *it, bool host,
                                char **out, size_t *len);
/* The stored profile of a user (explicit fields only, list items by id). */
recsys_status recsys__json_profile(const recsys__mem *m, const recsys__model *model,
                                   const recsys__user *u, bool host, char **out, size_t *len);
/* The profile plus a read-only "history" object (per event type, most recent first) and
 * "search_history", for recsys_user_get_json(). The text always comes from recsys__hoststr(). */
recsys_status recsys__json_user_view(const recsys__mem *m, const recsys__model *model,
                                     const recsys__user *u, int64_t now, char **out, size_t *len);

/* ---------------------------------------------------------------- request context ----- */

/* A request's item similarity over one set of items fixed for the request (the
 * diversifier's pool), made by q->item_sim_pool (below) and owned by its caller:
 *   sim(p, i, j, cap)  exactly item_sim(q, items[i], items[j], cap) (bit for bit, same
 *                      argument order) for the items the set was made over, answered from
 *                      what was gathered once for the set instead of from the model's lists;
 *   column(p, j, idx, n, out, cap)  out[x] = sim(p, idx[x], j, &cap[x]) for x < n (cap[x]
 *                      always written: 1 when nothing is proven), in one sweep; it uses
 *                      scratch inside p, so one thread at a time;
 *   free(m, p)         gives it back. */
typedef struct recsys__simpool recsys__simpool;
struct recsys__simpool {
    double (*sim)(const recsys__simpool *p, size_t i, size_t j, double *cap);
    void (*column)(recsys__simpool *p, size_t j, const size_t *idx, size_t n, double *out,
                   double *cap);
    void (*free)(const recsys__mem *m, recsys__simpool *p);
};

/* struct recsys_query: what the pipeline hands every stage and plug-in. Read-only during
 * the stages. Defined here (model layer) so that stages and the pipeline share it. */
struct recsys_query {
    const recsys__model *model;
    const struct recsys__derived *derived; /* the state built by refresh (engine-defined) */
    const recsys__user *user;              /* NULL: anonymous or unknown user (cold start) */
    const char *user_id;                   /* as requested (may name an unknown user) */
    const char *text;                      /* the free-text query or NULL */
    int64_t now;
    size_t limit;              /* candidates per source */
    const double *opt;         /* effective numeric option values by table slot */
    const uint32_t *exclude;   /* item indices excluded by the request, sorted */
    size_t nexclude;
    uint32_t anchor;           /* "more like this" item, or RECSYS_IDS_NONE */
    const uint32_t *include;   /* the request's allow list (item indices, sorted), or NULL:
                                  every item */
    size_t ninclude;
    /* Item vectors for similarity (features, diversity), set by the pipeline's context stage
     * from the request's derived set: the iALS item factors when built, else the items'
     * "default" embeddings (one dimension), else nothing (vec_dim 0, item_vec NULL).
     * item_vec(q, item) returns vec_dim floats, or NULL for an item without a vector; never
     * normalised. user_vec is the user's vector in the same space (the iALS fold-in of their
     * positives, else the mean of their positives' vectors), or NULL. */
    const float *(*item_vec)(const recsys_query *q, uint32_t item);
    size_t vec_dim;
    const float *user_vec;
    const void *vec_ctx;       /* item_vec's own state */
    /* The collaborative similarity of two items (what users do together, as opposed to the
     * vectors' latent space), set with the vectors from the request's derived set: the
     * itemknn lists' cosine when built (lib/engine/vectors.c), else NULL. item_sim(q, a, b,
     * cap) returns the similarity (0..1; 1 for a == b) when the model knows it; else NaN,
     * and *cap (cap may be NULL) gets an upper bound the model proves (1: nothing known). */
    double (*item_sim)(const recsys_query *q, uint32_t a, uint32_t b, double *cap);
    const void *sim_ctx;       /* item_sim's own state */
    /* Optional, set with item_sim (NULL: call item_sim): item_sim_pool(q, items, n, m, out)
     * makes *out, item_sim over the pairs of items[0..n) (distinct items) by their indices
     * (recsys__simpool above), allocated from m, for a stage that asks for many pairs of one
     * set (the diversifier: thousands per request, each O(k) through item_sim). Returns
     * RECSYS_OK or RECSYS_E_NOMEM (*out NULL). */
    recsys_status (*item_sim_pool)(const recsys_query *q, const uint32_t *items, size_t n,
                                   const recsys__mem *m, recsys__simpool **out);
    /* The business rules in force (lib/filter/rules.h): the engine's, then the request's,
     * bound to the catalog; NULL when none. */
    const struct recsys__rule *rules;
    size_t nrules;
};

/* One provenance entry: a source that proposed a candidate. */
typedef struct recsys__prov {
    uint16_t source; /* index into the pipeline's source table */
    float raw;       /* the source's raw score */
    float norm;      /* normalised to 0..1 within the source's list */
    uint32_t rank;   /* 0-based rank in the source's list */
} recsys__prov;

typedef struct recsys__cand {
    uint32_t item;
    double score;
    uint32_t prov_off; /* into candidates.prov */
    uint16_t nprov;
    uint8_t dropped;
    const char *drop_reason;
} recsys__cand;

/* struct recsys_candidates: the set a stage works on. Stage 2 gives each source its own
 * empty set (duplicates merged as they are added); the merger then builds one set with
 * provenance. Indices are stable while a plug-in runs; the pipeline removes dropped
 * candidates and applies a diversifier's order after each plug-in returns. */
struct recsys_candidates {
    const recsys__mem *mem;
    const recsys_query *q;
    recsys__cand *v;
    size_t n, cap;
    recsys__prov *prov; /* merged sets: v[i]'s entries are prov[v[i].prov_off ..+ nprov] */
    size_t nprov, capprov;
    uint64_t *map;      /* item -> position (open addressing: item << 32 | pos + 1) */
    size_t mapcap;      /* power of two, 0 before the first add */
    size_t limit;       /* most candidates a source may add (0 = no limit) */
    const char *const *source_names; /* provenance source index -> name */
    size_t nsources;
    size_t *order;      /* set by a diversifier */
    recsys__cand *gather; /* scratch for applying order (allocated with it) */
    size_t norder;
    bool order_set;
};

#endif
