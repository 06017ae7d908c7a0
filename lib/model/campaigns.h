/* campaigns.h - the host's campaigns: catalog items promoted with a boost during a date range.
 * The table lives in the model (recsys__model.campaigns); lib/engine/campaign.c is the public
 * API (store first, then memory), lib/retrieve/campaign.c the "campaign" source.
 *
 * A campaign is immutable once in the table: an upsert builds a new one and swaps the pointer
 * under the engine's write lock; requests read the table under the shared lock. Nothing here
 * locks.
 *
 * Items are kept both as the ids the host gave (what the store keeps, in the host's order) and
 * as catalog indices resolved against the catalog. An upsert requires every item to be in the
 * catalog; a campaign loaded from the store may name items removed since (their index is
 * RECSYS_IDS_NONE, and the source looks such an id up again, so an item added back is
 * promoted again). An index never changes for the life of the engine, and a removed item
 * leaves a NULL catalog slot, so the source skips removed items without any bookkeeping here. */
#ifndef RECSYS_MODEL_CAMPAIGNS_H
#define RECSYS_MODEL_CAMPAIGNS_H
#include "../core/alloc.h"

#define RECSYS__CAMPAIGN_ID_MAX 255      /* bytes of a campaign id */
#define RECSYS__CAMPAIGN_ITEMS_MAX 10000 /* items per campaign */

typedef struct recsys__campaign {
    char *id;
    char **item_ids;  /* distinct, in the host's order */
    uint32_t *items;  /* catalog index per item id (RECSYS_IDS_NONE: unknown when loaded) */
    uint32_t nitems;  /* 1..RECSYS__CAMPAIGN_ITEMS_MAX */
    double boost;     /* finite, > 0 */
    int64_t start;    /* Unix seconds, inclusive; 0 = open */
    int64_t end;      /* Unix seconds, exclusive; 0 = open; > start when both are set */
} recsys__campaign;

typedef struct recsys__campaigns {
    recsys__campaign **v; /* in insertion order (a replaced campaign keeps its place) */
    size_t n, cap;
} recsys__campaigns;

struct recsys__catalog;

/* Builds a campaign from the public arguments (copied), validating everything but catalog
 * membership: id 1..RECSYS__CAMPAIGN_ID_MAX bytes of UTF-8; n in 1..RECSYS__CAMPAIGN_ITEMS_MAX
 * item ids, each a non-empty UTF-8 id of at most RECSYS_ID_MAX_BYTES, no two equal; boost
 * finite and > 0; start and end >= 0, end > start when both are non-zero. Every index starts
 * as RECSYS_IDS_NONE. RECSYS_E_INVALID_ARG names the campaign and the bad argument;
 * RECSYS_E_NOMEM. *out is NULL on failure. */
recsys_status recsys__campaign_new(const recsys__mem *m, const char *id,
                                   const char *const *item_ids, size_t n, double boost,
                                   int64_t start, int64_t end, recsys__campaign **out);
void recsys__campaign_free(const recsys__mem *m, recsys__campaign *cp);
/* Resolves every item id against the catalog's live items. strict: an unknown item is
 * RECSYS_E_NOT_FOUND naming it (the indices are then unspecified); else it gets
 * RECSYS_IDS_NONE. Never allocates. */
recsys_status recsys__campaign_resolve(recsys__campaign *cp, const struct recsys__catalog *c,
                                       bool strict);
/* True when the campaign runs at now: start <= now < end, an open side always holding. */
static inline bool recsys__campaign_active(const recsys__campaign *cp, int64_t now)
{
    return (cp->start == 0 || cp->start <= now) && (cp->end == 0 || now < cp->end);
}

/* Position of the campaign called id, or SIZE_MAX. */
size_t recsys__campaigns_find(const recsys__campaigns *t, const char *id);
/* Makes room for one more campaign, so that the put of a new id that follows cannot fail
 * (replacing one needs no room). */
recsys_status recsys__campaigns_reserve(const recsys__mem *m, recsys__campaigns *t);
/* Inserts cp, or replaces the campaign of the same id in its place; *old receives the
 * replaced one (NULL if new) for the caller to free. Needs the room of a reserve for a new
 * id; cannot fail. The table owns cp afterwards. */
void recsys__campaigns_put(recsys__campaigns *t, recsys__campaign *cp, recsys__campaign **old);
/* Takes the campaign at position i out of the table (keeping the others' order) and returns
 * it for the caller to free. */
recsys__campaign *recsys__campaigns_take(recsys__campaigns *t, size_t i);
/* Frees every campaign and the table, leaving it empty. */
void recsys__campaigns_free(const recsys__mem *m, recsys__campaigns *t);

/* The campaign's JSON, canonical (what the store keeps and what the parser reads back):
 * {"id":"spring","items":["a","b"],"boost":1.5,"start":1767225600,"end":0}. *out is allocated
 * with m (NUL-terminated; *len excludes the NUL). RECSYS_E_NOMEM. */
recsys_status recsys__json_campaign(const recsys__mem *m, const recsys__campaign *cp, char **out,
                                    size_t *len);
/* Parses one campaign object from untrusted JSON (strict, like json_in.c: the size is capped
 * at max_len before parsing, duplicate and unknown keys are rejected, every string is checked
 * as UTF-8; "boost" defaults to 1, "start" and "end" to 0), then validates it like
 * recsys__campaign_new. RECSYS_E_INVALID_ARG with a message naming the campaign (when its id
 * is known) and the field; RECSYS_E_NOMEM. *out is NULL on failure. */
recsys_status recsys__json_parse_campaign(const recsys__mem *m, const char *json, size_t len,
                                          size_t max_len, recsys__campaign **out);

#endif
