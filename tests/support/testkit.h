/* testkit.h - shared helpers for engine-level tests: a counting allocator that can fail the
 * n-th allocation, a store wrapper that can fail the n-th store call, a small catalog, and
 * snapshots of an engine's observable state for failure-atomicity checks. */
#ifndef RECSYS_TESTKIT_H
#define RECSYS_TESTKIT_H
#include "recsys.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- allocator ---- */
/* Atomic counters: the engine allocates on several threads at once (a request's sources run
 * on helper threads, refresh trains on its own), as any host allocator must allow. */
typedef struct tk_alloc {
    _Atomic long fail_at; /* fail the allocation with this 0-based index; -1 = never */
    _Atomic long count;   /* allocations attempted so far */
    _Atomic long live;    /* allocations not yet freed */
    _Atomic long failed;  /* allocations refused */
} tk_alloc;
/* A recsys_allocator record over a (use: opts.allocator = &rec). */
void tk_alloc_init(tk_alloc *a, recsys_allocator *rec);

/* ---- store wrapper ---- */
typedef struct tk_store {
    recsys_store_vtable inner; /* the wrapped store (owned) */
    long fail_at;              /* fail the store call with this 0-based index; -1 = never */
    long calls;
    bool failed;
    int destroyed;
} tk_store;
/* Wraps a memory store in w and fills vt (hand it to opts.store). w must outlive the engine;
 * destroy frees the inner store and counts into w->destroyed. */
void tk_store_wrap(tk_store *w, recsys_store_vtable *vt);
/* The same around a store the caller made (w takes ownership of inner). */
void tk_store_wrap_inner(tk_store *w, const recsys_store_vtable *inner, recsys_store_vtable *vt);

/* ---- data ---- */
extern const char *tk_catalog_json; /* 12 items: courses, laptops, films */
extern const char *tk_users_json;   /* 3 users */
/* An engine with a memory store (optionally wrapped/allocator), the catalog, users, a few
 * events, refreshed; clock fixed at TK_NOW. Asserts success. */
#define TK_NOW 1700000000
recsys_engine *tk_engine(const recsys_allocator *alloc, const recsys_store_vtable *store);
void tk_load(recsys_engine *e);
void tk_feedback(recsys_engine *e, const char *user, const char *item, int32_t type, int64_t ts);

/* A text describing everything observable of e for the given user and item ids (counts,
 * item and user JSON, the recommendation lists with impressions off). Free with free(). */
char *tk_snapshot(recsys_engine *e, const char *const *users, size_t nusers,
                  const char *const *items, size_t nitems);
/* A fresh directory under /tmp (free() the name), and its removal with everything in it. */
char *tk_mkdtemp(void);
void tk_rm_rf(const char *dir);
/* True when any file directly in dir contains needle's bytes. */
bool tk_dir_contains(const char *dir, const char *needle);

/* Asserts two snapshots are equal, printing the first line that differs. */
void tk_assert_same(const char *expected, const char *actual);
extern const char *const tk_user_ids[];
extern const size_t tk_nusers;
extern const char *const tk_item_ids[];
extern const size_t tk_nitems;

#endif
