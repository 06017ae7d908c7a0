/* online.h - online evaluation: feedback joined to the impressions it answers, and the online
 * metrics of what users were shown, per group of users (experiment arms, or one group).
 *
 * The log. recsys__online_log holds copies of logged events (impressions from
 * recsys_recommend and the host's feedback), ids interned (lib/core/ids.h), so a store's
 * events can be scanned once into it. Events without an item (searches) are left out.
 *
 * Attribution. Every feedback event in the time window [from, to) is joined to one
 * impression:
 *   1. by request id: the impression of the same item with the event's request id;
 *   2. else (no request id, or none matches) by time: the latest impression of the same user
 *      and item at or before the event and at most window_s seconds before it;
 *   3. else it is unattributed (counted, not used by the per-impression metrics).
 * Each impression keeps its position (the event's `position`, 0-based; -1 unknown), so
 * the metrics can be cut by position, and its attribution (the event's `sources`, split at
 * commas, empty names skipped, and `ranker`; since 0.2), so they can be cut by source and by
 * ranker: per group and per name, impressions and the clicks, conversions, add-to-carts,
 * skips and dwell attributed to them (recsys__online_cut); per ranker also the requests it ranked and their
 * LLM calls and tokens (the LLM cost of each pipeline). An item several sources proposed counts for each
 * of them; an impression without sources or ranker (logged before 0.2, by a store that drops
 * them, or by the host) is in no source's or ranker's cut.
 *
 * Groups. group(arg, user_id) puts each user in a group 0..ngroups-1 or leaves it out (< 0).
 * A user is counted in its group when it has at least one impression in the window (the
 * users "exposed"); that is also the count of the sample-ratio check.
 *
 * Per-user fields (RECSYS__ONLINE_F_*; the unit of the bootstrap) and the metrics, each a
 * ratio of two fields summed over the group's users:
 *   impressions_per_user  IMPR / ONE          ctr          CLICK / IMPR (an impression with a
 *   conversion            CONV / IMPR          click or view attributed; each at most once)
 *   add_to_cart           CART / IMPR          skip_rate    SKIP / IMPR (skip or dislike)
 *   dwell_per_impression  DWELL / IMPR (seconds of dwell and watch_time attributed)
 *   revenue_per_session   REV / SESS (every purchase of the user in the window, attributed
 *                         or not: the event value, or revenue(arg, item) when it is 0)
 *   popularity            POP / IMPR (mean popularity of the items shown: the share of the
 *                         window's users with a positive event on the item)
 *   return_rate           RET / ONE (a user whose second session starts within return_s of
 *                         the end of the first; sessions split at gaps > session_gap_s)
 *   requests_per_user     REQ / ONE (distinct request ids among the user's impressions)
 *   llm_calls_per_request LLM_CALLS / REQ, llm_tokens_per_request LLM_TOKENS / REQ and
 *   llm_cost_per_request  LLM_COST / REQ: each request's LLM calls and tokens, as its
 *                         impressions carry them (recsys_event llm_calls, llm_tokens: the
 *                         first impression of the request is read, once per request), and
 *                         tokens / 1000 x llm_cost_per_1k (0 without a price)
 * and, not per user, coverage = distinct items shown / catalog_items (0 when unknown).
 *
 * Cost: O(E log E) time for E events in the window, O(E + U + I + G (S + R)) memory for
 * G groups, S source and R ranker names.
 */
#ifndef RECSYS_EVAL_ONLINE_H
#define RECSYS_EVAL_ONLINE_H
#include "../core/alloc.h"
#include "../core/ids.h"

typedef struct recsys__online_ev {
    uint32_t user, item, req; /* interned; req RECSYS_IDS_NONE when the event has none */
    uint32_t ranker;          /* interned in rankers, or RECSYS_IDS_NONE */
    uint32_t src_at, nsrc;    /* the sources: srcv[src_at .. src_at + nsrc) */
    int32_t type, pos;
    int64_t ts;
    double value;
    uint32_t llm_calls, llm_tokens; /* impressions: the request's LLM cost (since 0.2) */
} recsys__online_ev;

typedef struct recsys__online_log {
    const recsys__mem *mem;
    recsys__ids users, items, reqs;
    recsys__ids srcs, rankers; /* impressions' source and ranker names */
    recsys__online_ev *ev;
    size_t n, cap;
    uint32_t *srcv;            /* the events' source ids, each event's run contiguous */
    size_t nsrcv, srccap;
} recsys__online_log;

void recsys__online_log_init(recsys__online_log *log, const recsys__mem *m);
void recsys__online_log_free(recsys__online_log *log);
/* Adds a copy of ev (a validated event; one without item_id is skipped). RECSYS_E_NOMEM
 * leaves the log as it was apart from interned names. */
recsys_status recsys__online_log_add(recsys__online_log *log, const recsys_event *ev);

enum {
    RECSYS__ONLINE_F_IMPR,
    RECSYS__ONLINE_F_CLICK,
    RECSYS__ONLINE_F_CONV,
    RECSYS__ONLINE_F_CART,
    RECSYS__ONLINE_F_SKIP,
    RECSYS__ONLINE_F_DWELL,
    RECSYS__ONLINE_F_REV,
    RECSYS__ONLINE_F_SESS,
    RECSYS__ONLINE_F_POP,
    RECSYS__ONLINE_F_RET,
    RECSYS__ONLINE_F_REQ,
    RECSYS__ONLINE_F_LLM_CALLS,
    RECSYS__ONLINE_F_LLM_TOKENS,
    RECSYS__ONLINE_F_LLM_COST,
    RECSYS__ONLINE_F_ONE,
    RECSYS__ONLINE_NF
};

/* The metrics, in report order. */
typedef struct recsys__online_metric {
    const char *name;
    int num, den;
} recsys__online_metric;
extern const recsys__online_metric recsys__online_metrics[];
extern const size_t recsys__online_nmetrics;

/* One cut (a source or a ranker, in one group): impressions and what was attributed to them
 * (clicks, conversions, add-to-carts, skips, seconds of dwell); for a ranker also the
 * requests it ranked and their LLM calls and tokens (0 for a source). */
typedef struct recsys__online_cut {
    uint64_t impr, click, conv, cart, skip;
    double dwell;
    uint64_t req, llm_calls, llm_tokens;
} recsys__online_cut;

#define RECSYS__ONLINE_POS 20 /* positions 0..19 cut apart; 20 = "20 or later" */

typedef struct recsys__online_group {
    size_t nusers;
    double *u;                     /* nusers rows of RECSYS__ONLINE_NF fields */
    double tot[RECSYS__ONLINE_NF]; /* the sums over the users */
    uint64_t items_shown;          /* distinct items among the group's impressions */
    uint64_t pos_impr[RECSYS__ONLINE_POS + 1], pos_click[RECSYS__ONLINE_POS + 1];
    recsys__online_cut *by_src;    /* by source id (result's src_names), nsrc entries */
    recsys__online_cut *by_ranker; /* by ranker id (result's ranker_names), nranker entries */
} recsys__online_group;

typedef struct recsys__online_opts {
    int64_t from, to;         /* the window [from, to); to 0 = unbounded */
    int64_t window_s;         /* attribution window of feedback joined by time */
    int64_t session_gap_s;    /* idle seconds that end a session */
    int64_t return_s;         /* the return proxy's horizon */
    size_t ngroups;           /* >= 1 */
    int (*group)(void *arg, const char *user_id); /* NULL: every user in group 0 */
    void *group_arg;
    double (*revenue)(void *arg, const char *item_id); /* NULL: 0 */
    void *revenue_arg;
    size_t catalog_items;     /* for coverage; 0 = unknown */
    double llm_cost_per_1k;   /* the price of 1000 LLM tokens (LLM_COST); 0 = no price */
} recsys__online_opts;

typedef struct recsys__online_result {
    const recsys__mem *mem;
    size_t ngroups;
    recsys__online_group *g;
    uint64_t events;       /* events of the window */
    uint64_t impressions;  /* impressions of the window (every user) */
    uint64_t feedback;     /* feedback events of the window (every user) */
    uint64_t by_request, by_time, unattributed;
    size_t catalog_items;
    const recsys__ids *src_names, *ranker_names; /* the log's: valid while the log lives */
    size_t nsrc, nranker;
} recsys__online_result;

/* Computes the groups' metrics over log. RECSYS_E_INVALID_ARG (ngroups 0, negative windows),
 * RECSYS_E_NOMEM; on failure *out is zeroed. */
recsys_status recsys__online_compute(const recsys__online_log *log, const recsys__online_opts *o,
                                     recsys__online_result *out);
void recsys__online_result_free(recsys__online_result *r);

/* Metric j of a group (0 when its denominator is 0); coverage is recsys__online_coverage. */
double recsys__online_value(const recsys__online_group *g, size_t metric);
double recsys__online_coverage(const recsys__online_result *r, const recsys__online_group *g);

#endif
