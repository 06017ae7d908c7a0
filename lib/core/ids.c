/* ids.c - string id interning with collision-checked xxhash keys. */
#include "ids.h"
#include "error.h"
#include <xxhash.h>

#define MAX_SEEDS 64

uint64_t recsys__ids_hash(const char *s, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(s, len, seed);
}

void recsys__ids_init(recsys__ids *ids, const recsys__mem *mem)
{
    memset(ids, 0, sizeof *ids);
    ids->mem = mem;
    ids->key_mask = UINT64_MAX;
}

void recsys__ids_free(recsys__ids *ids)
{
    for (size_t i = 0; i < ids->n; i++)
        recsys__free(ids->mem, ids->names[i]);
    recsys__free(ids->mem, ids->names);
    recsys__free(ids->mem, ids->keys);
    recsys__free(ids->mem, ids->slots);
    memset(ids, 0, sizeof *ids);
}

/* Slot holding key, or the empty slot where it would go. */
static size_t slot_of(const recsys__ids *ids, uint64_t key)
{
    size_t mask = ids->nslots - 1;
    size_t i = (size_t)(key ^ (key >> 29)) & mask;
    while (ids->slots[i] && ids->keys[ids->slots[i] - 1] != key)
        i = (i + 1) & mask;
    return i;
}

/* Walks the seed chain of s. Returns the index when found; otherwise RECSYS_IDS_NONE and
 * *free_key = the first key of the chain that is not taken. */
static uint32_t chain(const recsys__ids *ids, const char *s, size_t len, uint64_t *free_key)
{
    for (uint64_t seed = 0; seed < MAX_SEEDS; seed++) {
        uint64_t k = recsys__ids_hash(s, len, seed) & ids->key_mask;
        if (!ids->nslots) {
            *free_key = k;
            return RECSYS_IDS_NONE;
        }
        size_t sl = slot_of(ids, k);
        if (!ids->slots[sl]) {
            *free_key = k;
            return RECSYS_IDS_NONE;
        }
        uint32_t idx = ids->slots[sl] - 1;
        const char *name = ids->names[idx];
        if (name && strlen(name) == len && memcmp(name, s, len) == 0)
            return idx;
        /* a different string (or a tombstone) owns this key: follow the chain */
    }
    *free_key = UINT64_MAX; /* chain exhausted */
    return RECSYS_IDS_NONE;
}

uint32_t recsys__ids_find(const recsys__ids *ids, const char *s, size_t len)
{
    uint64_t k;
    return chain(ids, s, len, &k);
}

static recsys_status rehash(recsys__ids *ids, size_t nslots)
{
    uint32_t *slots = recsys__calloc(ids->mem, nslots, sizeof *slots);
    if (!slots)
        return RECSYS_E_NOMEM;
    uint32_t *old = ids->slots;
    ids->slots = slots;
    ids->nslots = nslots;
    for (size_t i = 0; i < ids->n; i++)
        ids->slots[slot_of(ids, ids->keys[i])] = (uint32_t)i + 1;
    recsys__free(ids->mem, old);
    return RECSYS_OK;
}

recsys_status recsys__ids_intern(recsys__ids *ids, const char *s, size_t len, uint32_t *idx,
                                 bool *added)
{
    uint64_t key;
    uint32_t found = chain(ids, s, len, &key);
    if (added)
        *added = false;
    if (found != RECSYS_IDS_NONE) {
        *idx = found;
        return RECSYS_OK;
    }
    if (key == UINT64_MAX && ids->nslots)
        return recsys__err(RECSYS_E_INTERNAL, "id '%.*s': %d hash seeds all collide", (int)len, s,
                           MAX_SEEDS);
    if (ids->n >= (size_t)RECSYS_IDS_NONE - 1)
        return recsys__err(RECSYS_E_INVALID_ARG, "too many ids (limit %u)", RECSYS_IDS_NONE - 1);
    if ((ids->n + 1) * 2 > ids->nslots) {
        RECSYS_TRY(rehash(ids, ids->nslots ? ids->nslots * 2 : 64));
        found = chain(ids, s, len, &key); /* the free key is the same; recompute the slot */
    }
    size_t cap = ids->cap;
    RECSYS_TRY(recsys__grow(ids->mem, (void **)&ids->keys, &cap, ids->n + 1, sizeof *ids->keys));
    size_t cap2 = ids->cap;
    RECSYS_TRY(recsys__grow(ids->mem, (void **)&ids->names, &cap2, ids->n + 1, sizeof *ids->names));
    ids->cap = cap < cap2 ? cap : cap2;
    char *name = recsys__strndup(ids->mem, s, len);
    if (!name)
        return RECSYS_E_NOMEM;
    if ((recsys__ids_hash(s, len, 0) & ids->key_mask) != key)
        ids->collisions++;
    ids->keys[ids->n] = key;
    ids->names[ids->n] = name;
    ids->slots[slot_of(ids, key)] = (uint32_t)ids->n + 1;
    *idx = (uint32_t)ids->n++;
    if (added)
        *added = true;
    return RECSYS_OK;
}

void recsys__ids_pop(recsys__ids *ids)
{
    if (!ids->n)
        return;
    uint32_t idx = (uint32_t)ids->n - 1;
    const char *name = ids->names[idx] ? ids->names[idx] : "";
    if ((recsys__ids_hash(name, strlen(name), 0) & ids->key_mask) != ids->keys[idx])
        ids->collisions--;
    recsys__free(ids->mem, ids->names[idx]);
    ids->n--;
    /* rebuild the probe sequence without it (removal from linear probing) */
    size_t nslots = ids->nslots;
    memset(ids->slots, 0, nslots * sizeof *ids->slots);
    for (size_t i = 0; i < ids->n; i++)
        ids->slots[slot_of(ids, ids->keys[i])] = (uint32_t)i + 1;
}

void recsys__ids_release(recsys__ids *ids, uint32_t idx)
{
    char *name = ids->names[idx];
    if (!name)
        return;
    volatile char *v = name;
    for (size_t i = 0; v[i]; i++)
        v[i] = 0;
    recsys__free(ids->mem, name);
    ids->names[idx] = NULL;
}
