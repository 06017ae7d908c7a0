/* ids.h - interning of string ids to dense indices and 64-bit keys (xxhash).
 *
 * Each distinct string gets a dense index (0, 1, 2, ...) and a 64-bit key, the XXH3 hash of
 * the string. Two strings whose keys collide are never confused: the later one is rehashed
 * with the next seed until its key is free, and the collision is counted. Lookups follow the
 * same seed chain. A released id keeps its key as a tombstone (its text is wiped), so chains
 * stay intact; its index is not reused. */
#ifndef RECSYS_CORE_IDS_H
#define RECSYS_CORE_IDS_H
#include "alloc.h"

#define RECSYS_IDS_NONE UINT32_MAX
#define RECSYS_ID_MAX_BYTES 256

typedef struct recsys__ids {
    const recsys__mem *mem;
    uint64_t *keys;      /* idx -> key */
    char **names;        /* idx -> string (NULL once released) */
    size_t n, cap;
    uint32_t *slots;     /* open addressing: idx + 1, 0 = empty */
    size_t nslots;       /* power of two */
    uint64_t key_mask;   /* all ones; tests narrow it to force collisions */
    uint64_t collisions; /* how many strings needed a second seed */
} recsys__ids;

void recsys__ids_init(recsys__ids *ids, const recsys__mem *mem);
void recsys__ids_free(recsys__ids *ids);
/* The index of s[0..len), or RECSYS_IDS_NONE. */
uint32_t recsys__ids_find(const recsys__ids *ids, const char *s, size_t len);
/* Finds or adds s; *idx receives its index, *added whether it is new (may be NULL). */
recsys_status recsys__ids_intern(recsys__ids *ids, const char *s, size_t len, uint32_t *idx,
                                 bool *added);
/* Removes the most recently added index again (used to undo an intern on failure). */
void recsys__ids_pop(recsys__ids *ids);
/* Releases an id: wipes and frees its text; lookups no longer find it. */
void recsys__ids_release(recsys__ids *ids, uint32_t idx);
static inline const char *recsys__ids_name(const recsys__ids *ids, uint32_t idx)
{
    return ids->names[idx];
}
static inline uint64_t recsys__ids_key(const recsys__ids *ids, uint32_t idx)
{
    return ids->keys[idx];
}
/* The key of s under seed (exposed for tests). */
uint64_t recsys__ids_hash(const char *s, size_t len, uint64_t seed);

#endif
