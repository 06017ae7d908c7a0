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
};

/* Allocates an empty result for n items. */
recsys_status recsys__result_new(const recsys__mem *m, size_t n, recsys_result **out);

#endif
