/* fixture.h - a small model (catalog, users, events) built with the model API, and a
 * recsys_query over it, for the tests of the built-in plug-ins (text, sources, filters,
 * blend, explain). Every helper fails the running cmocka test on an unexpected status. */
#ifndef RECSYS_TESTS_FIXTURE_H
#define RECSYS_TESTS_FIXTURE_H

#include "core/error.h"
#include "core/options.h"
#include "model/context.h"
#include "model/derived.h"
#include "model/model.h"

/* The fixed clock of every fixture (2023-11-14T22:13:20Z). */
#define FIXTURE_NOW INT64_C(1700000000)
#define FIXTURE_DAY INT64_C(86400)
#define FIXTURE_HOUR INT64_C(3600)

/* A counting allocator that can fail: the n-th allocation from now fails when fail_at > 0
 * (1 = the next one). live counts blocks not yet freed. */
typedef struct fixture_alloc {
    long calls;
    long fail_at; /* 0 = never fail */
    long live;
} fixture_alloc;

typedef struct fixture {
    recsys__mem mem;      /* the model's allocator (counting, never failing) */
    fixture_alloc mem_stats;
    recsys__mem oom;      /* a second allocator for OOM loops on code under test */
    fixture_alloc oom_stats;
    recsys__model model;
    recsys__derived derived;
    recsys__optvals opts;
    recsys_query q;
    uint32_t exclude[32];
    size_t nexclude;
} fixture;

/* An item to add: tags and regions are comma-separated lists ("gpu,gaming"). */
typedef struct fixture_item_def {
    const char *id;
    const char *title;
    const char *category;
    const char *tags;
    const char *description;
    int unavailable;
    int min_age;
    const char *regions;
    double price;      /* set as attribute "price" when non-zero */
    const char *gpu;   /* string attribute "gpu" when non-NULL */
} fixture_item_def;

/* An empty model with default options and the clock at FIXTURE_NOW. */
fixture *fixture_new(void);
/* The standard catalog (courses, laptops, films) and users; see fixture.c for the list. */
fixture *fixture_new_standard(void);
void fixture_free(fixture *f);

uint32_t fixture_add_item(fixture *f, const fixture_item_def *d);
/* Adds or replaces a user profile: interests, recent views, purchases and negative items are
 * comma-separated (NULL = none); age -1 = unknown; region NULL = unknown. */
void fixture_add_user(fixture *f, const char *id, const char *interests, int age,
                      const char *region, const char *views, const char *purchased,
                      const char *negative);
/* Records one event (ts = seconds since the epoch). */
void fixture_event(fixture *f, const char *user, const char *item, int32_t type, double value,
                   int64_t ts);
/* n identical events. */
void fixture_events(fixture *f, const char *user, const char *item, int32_t type, int n,
                    int64_t ts);
void fixture_remove(fixture *f, const char *id);
/* (Re)builds the BM25 index into f->derived (k1, b from the options). */
void fixture_refresh(fixture *f);
void fixture_set_opt(fixture *f, int32_t key, double value);

/* Points f->q at user (NULL = anonymous; an unknown id gives q->user NULL) and text, with
 * the fixture's clock, options, excludes and a limit of `limit` candidates per source. */
recsys_query *fixture_query(fixture *f, const char *user, const char *text, size_t limit);
void fixture_exclude(fixture *f, const char *item);

uint32_t fixture_idx(const fixture *f, const char *id);
const char *fixture_id(const fixture *f, uint32_t idx);
const recsys_item *fixture_get(const fixture *f, const char *id);

/* A candidate set over f->q (allocator f->mem, no limit) holding the given ids with scores
 * n, n-1, ..., 1 (the first id scores highest). ids is comma-separated. */
void fixture_cands(fixture *f, recsys_candidates *c, const char *ids);
/* True when two items hold the same fields, attributes, embeddings and generated data. */
bool fixture_items_equal(const recsys_item *a, const recsys_item *b);
/* The out-of-memory loop over a source's retrieve: allocation n = 1, 2, ... of q fails
 * (f->oom), each failure must be RECSYS_E_NOMEM and leak nothing, until it succeeds. Returns
 * the attempt that succeeded; *got receives how many candidates it added. */
long fixture_retrieve_oom(fixture *f,
                          recsys_status (*ctor)(const recsys__mem *, recsys_source_vtable *),
                          recsys_query *q, size_t *got);
/* Position of id in c, or SIZE_MAX. */
size_t fixture_cand_pos(const fixture *f, const recsys_candidates *c, const char *id);
/* The ids of c joined with ',' in c's order (dropped ones left out) into buf. */
const char *fixture_cands_str(const fixture *f, const recsys_candidates *c, char *buf,
                              size_t cap);
/* The ids of c in descending score order (ties by id), dropped ones left out. */
const char *fixture_cands_ranked(const fixture *f, const recsys_candidates *c, char *buf,
                                 size_t cap);

#endif
