/* cf_fixture.h - helpers over fixture.h for the collaborative-filtering tests (item2item,
 * graph, interactions): plain items, one-line event lists, running a derived-state builder
 * into the fixture's derived set, and running a source. Every helper fails the running
 * cmocka test on an unexpected status. */
#ifndef RECSYS_TESTS_CF_FIXTURE_H
#define RECSYS_TESTS_CF_FIXTURE_H

#include "fixture.h"

/* A fixture with items named by ids (comma-separated, in catalog order) and no users. */
fixture *cf_new(const char *ids);
/* Frees the derived state cf_build made, then the fixture (which checks for leaks). */
void cf_free(fixture *f);

/* Adds n_items items "i0", "i1", ... (catalog order). */
void cf_add_items(fixture *f, int n_items);
/* One event of type per comma-separated item, one second apart starting at ts. */
void cf_events(fixture *f, const char *user, const char *items, int32_t type, int64_t ts);

/* n_users users "r0", "r1", ... each viewing per_user distinct items drawn from the catalog
 * (skewed towards low indices, like popularity) by a fixed pseudo-random sequence from seed. */
void cf_random_views(fixture *f, int n_users, int per_user, uint32_t seed);

/* A build context over f with allocator m (f->mem when NULL). */
recsys__build_ctx cf_ctx(fixture *f, const recsys__mem *m);
/* Runs b into f->derived (replacing, and freeing, what was there); returns the state. */
void *cf_build(fixture *f, const recsys__builder *b);
/* Frees the state of b's slot (if any). */
void cf_drop(fixture *f, const recsys__builder *b);

/* recsys__itemknn_similar / recsys__rp3_similar */
typedef recsys_status (*cf_similar_fn)(const void *state, uint32_t item, size_t k,
                                       uint32_t *out_items, float *out_scores, size_t *n);
/* The first k (<= 64) entries of id's row as "x:0.667,y:0.577" (3 decimals; thread-local
 * buffer, valid until the next call). */
const char *cf_row(fixture *f, cf_similar_fn similar, const void *state, const char *id, size_t k);
/* The weight of other in id's row; fails the test when it is not kept. */
float cf_weight(fixture *f, cf_similar_fn similar, const void *state, const char *id,
                const char *other);

typedef recsys_status (*cf_ctor)(const recsys__mem *, recsys_source_vtable *);
/* Runs the source made by ctor for q into a fresh set limited like the pipeline's (allocator
 * f->mem); checks the vtable's shape and the limit. */
void cf_run(fixture *f, cf_ctor ctor, recsys_query *q, recsys_candidates *c);
/* The ids of c in its order, joined by ','. Lives until the next call on this thread. */
const char *cf_ids(const fixture *f, const recsys_candidates *c);
/* The score c gave id (fails the test when absent). */
double cf_score(const fixture *f, const recsys_candidates *c, const char *id);

#endif
