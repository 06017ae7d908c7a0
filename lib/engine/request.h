/* request.h - the request and result handles (shared by the pipeline and their accessors). */
#ifndef RECSYS_ENGINE_REQUEST_H
#define RECSYS_ENGINE_REQUEST_H
#include "engine.h"

struct recsys_request {
    char *user_id;
    char *text;
    char *id;
    char *anchor;
    char **exclude;
    size_t nexclude, capexclude;
    char **include; /* the allow list (recsys_request_include); none = every item */
    size_t ninclude, capinclude;
    char *ranker;   /* the ranker's name (recsys_request_set_ranker), or NULL */
    recsys__rule *rules; /* the request's own rules (recsys_request_add_rule), compiled */
    size_t nrules, caprules;
    recsys__optover *over; /* per-request option overrides, validated when set */
    size_t nover, capover;
};

typedef struct recsys__res_source {
    char *name;
    double score;
} recsys__res_source;

typedef struct recsys__res_evidence {
    int32_t kind;
    char *name;
    char *value;
} recsys__res_evidence;

typedef struct recsys__res_item {
    char *item_id;
    double score;
    recsys__res_source *src;
    size_t nsrc;
    char *explanation;
    recsys__res_evidence *ev;
    size_t nev;
} recsys__res_item;

struct recsys_result {
    recsys__mem mem; /* the engine's allocator (a result may outlive its engine) */
    char *request_id;
    recsys__res_item *items;
    size_t n;
    uint64_t stage_ns[9]; /* by recsys_stage */
    size_t sources_skipped; /* by the retrieval budget */
    char *experiment;       /* recsys_experiment_recommend: the experiment, else NULL */
    char *arm;              /* and the user's arm ("holdout", or "" when not enrolled) */
    recsys__llm_counters llm; /* what the request asked of the LLM (recsys_result_llm_stats) */
};

/* Runs stages 1 to 3 of the pipeline (context, retrieve, filter) for req, then fn(arg, q, c)
 * with the eligible candidates in merged order, provenance kept (lib/pipeline.c). The caller
 * holds e's lock shared. Learning rankers use it to see what recsys_recommend would rank. */
typedef recsys_status (*recsys__candidates_fn)(void *arg, const recsys_query *q,
                                               const recsys_candidates *c);
recsys_status recsys__pipeline_candidates(recsys_engine *e, const recsys_request *req,
                                          recsys__candidates_fn fn, void *arg);

/* recsys_recommend for a caller that also needs the eligible candidates (stages 1-3) of the
 * same run (lib/pipeline.c; conversation turns count them and pick their question from them):
 * fn(arg, c, stop) runs right after stage 3 with the engine's lock held shared (it must not
 * let go of it, nor call into the engine), c the eligible candidates in merged order. When fn
 * sets *stop the run ends there: RECSYS_OK with *out NULL, and nothing is logged, recorded
 * (impressions, the shown window) or counted; else the run goes on exactly as
 * recsys_recommend (*out the result). An error of fn ends the run with that error. Costs
 * nothing more than recsys_recommend besides fn. The caller checked e, req and out. */
typedef recsys_status (*recsys__eligible_fn)(void *arg, const recsys_candidates *c, bool *stop);
recsys_status recsys__recommend_eligible(recsys_engine *e, const recsys_request *req,
                                         recsys__eligible_fn fn, void *arg, recsys_result **out);

/* Frees a request's rules (lib/engine/rules.c). */
void recsys__request_free_rules(recsys_request *req);

/* Allocates an empty result for n items. */
recsys_status recsys__result_new(const recsys__mem *m, size_t n, recsys_result **out);

#endif
