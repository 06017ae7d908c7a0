/* index.c - the insertion-ordered (kind, key) -> value map of the built-in stores (index.h). */
#include "index.h"
#include "../core/error.h"

#include <xxhash.h>

#define SLOT_EMPTY ((size_t)0)
#define SLOT_DELETED SIZE_MAX
#define MIN_SLOTS ((size_t)16)

static uint64_t rec_hash(int32_t kind, const char *key, size_t key_len)
{
    return XXH3_64bits_withSeed(key, key_len, (uint64_t)(uint32_t)kind);
}

static bool rec_matches(const recsys__store_rec *r, int32_t kind, uint64_t hash, const char *key,
                        size_t key_len)
{
    return r->hash == hash && r->kind == kind && r->key_len == key_len &&
           memcmp(recsys__store_rec_key(r), key, key_len) == 0;
}

void recsys__store_index_init(recsys__store_index *idx, const recsys__mem *mem)
{
    memset(idx, 0, sizeof *idx);
    idx->mem = mem;
}

void recsys__store_rec_free(const recsys__mem *mem, recsys__store_rec *rec, bool wipe)
{
    if (!rec)
        return;
    if (wipe)
        explicit_bzero(rec, sizeof *rec + rec->key_len + 1 + rec->val_len + 1);
    recsys__free(mem, rec);
}

void recsys__store_index_free(recsys__store_index *idx)
{
    for (size_t i = 0; i < idx->norder; i++)
        if (idx->order[i])
            recsys__store_rec_free(idx->mem, idx->order[i],
                                   idx->order[i]->kind == RECSYS_RECORD_USER);
    recsys__free(idx->mem, idx->order);
    recsys__free(idx->mem, idx->slots);
    recsys__store_index_init(idx, idx->mem);
}

recsys__store_rec *recsys__store_rec_new(const recsys__mem *mem, int32_t kind, const char *key,
                                         size_t key_len, const void *val, size_t val_len)
{
    size_t head = sizeof(recsys__store_rec);
    if (key_len > SIZE_MAX / 2 - head || val_len > SIZE_MAX / 2 - head) {
        recsys__err(RECSYS_E_NOMEM, "record of %zu + %zu bytes", key_len, val_len);
        return NULL;
    }
    recsys__store_rec *r = recsys__alloc(mem, head + key_len + 1 + val_len + 1);
    if (!r)
        return NULL;
    r->kind = kind;
    r->reserved = 0;
    r->hash = rec_hash(kind, key, key_len);
    r->key_len = key_len;
    r->val_len = val_len;
    char *k = (char *)(r + 1);
    if (key_len)
        memcpy(k, key, key_len);
    k[key_len] = '\0';
    unsigned char *v = (unsigned char *)k + key_len + 1;
    if (val_len)
        memcpy(v, val, val_len);
    v[val_len] = '\0';
    return r;
}

/* The slot holding (kind, key), or SIZE_MAX; *insert_at gets the first reusable slot seen. */
static size_t probe(const recsys__store_index *idx, int32_t kind, uint64_t hash, const char *key,
                    size_t key_len, size_t *insert_at)
{
    size_t mask = idx->nslots - 1, free_slot = SIZE_MAX;
    for (size_t i = (size_t)hash & mask, step = 0; step < idx->nslots; i = (i + 1) & mask, step++) {
        size_t s = idx->slots[i];
        if (s == SLOT_EMPTY) {
            if (free_slot == SIZE_MAX)
                free_slot = i;
            break;
        }
        if (s == SLOT_DELETED) {
            if (free_slot == SIZE_MAX)
                free_slot = i;
            continue;
        }
        if (rec_matches(idx->order[s - 1], kind, hash, key, key_len)) {
            if (insert_at)
                *insert_at = i;
            return i;
        }
    }
    if (insert_at)
        *insert_at = free_slot;
    return SIZE_MAX;
}

const recsys__store_rec *recsys__store_index_find(const recsys__store_index *idx, int32_t kind,
                                                  const char *key, size_t key_len)
{
    if (!idx->nslots)
        return NULL;
    size_t s = probe(idx, kind, rec_hash(kind, key, key_len), key, key_len, NULL);
    return s == SIZE_MAX ? NULL : idx->order[idx->slots[s] - 1];
}

/* Re-inserts every live record into slots[0..nslots), which must be zeroed. */
static void rebuild_slots(recsys__store_index *idx)
{
    size_t mask = idx->nslots - 1;
    for (size_t pos = 0; pos < idx->norder; pos++) {
        const recsys__store_rec *r = idx->order[pos];
        if (!r)
            continue;
        size_t i = (size_t)r->hash & mask;
        while (idx->slots[i] != SLOT_EMPTY)
            i = (i + 1) & mask;
        idx->slots[i] = pos + 1;
    }
    idx->used = idx->live;
}

/* Squeezes the holes out of order (keeping the order) and rebuilds the slots in place. */
static void squeeze(recsys__store_index *idx)
{
    size_t w = 0;
    for (size_t r = 0; r < idx->norder; r++)
        if (idx->order[r])
            idx->order[w++] = idx->order[r];
    idx->norder = w;
    if (idx->nslots) {
        memset(idx->slots, 0, idx->nslots * sizeof *idx->slots);
        rebuild_slots(idx);
    }
}

recsys_status recsys__store_index_reserve(recsys__store_index *idx)
{
    if (idx->norder == idx->cap) {
        if (idx->norder >= 16 && idx->live <= idx->norder / 2)
            squeeze(idx);
        else
            RECSYS_TRY(RECSYS_GROW(idx->mem, idx->order, idx->cap, idx->norder + 1));
    }
    /* Keep the load (live + deleted) at most 3/4 after one more insertion. */
    if ((idx->used + 1) * 4 > idx->nslots * 3) {
        size_t want = MIN_SLOTS;
        while (want / 2 < idx->live + 1) {
            if (want > SIZE_MAX / 4)
                return recsys__err(RECSYS_E_NOMEM, "store index of %zu records", idx->live);
            want *= 2;
        }
        size_t *slots = recsys__calloc(idx->mem, want, sizeof *slots);
        if (!slots)
            return RECSYS_E_NOMEM;
        recsys__free(idx->mem, idx->slots);
        idx->slots = slots;
        idx->nslots = want;
        rebuild_slots(idx);
    }
    return RECSYS_OK;
}

void recsys__store_index_commit(recsys__store_index *idx, recsys__store_rec *rec)
{
    size_t at;
    size_t s = probe(idx, rec->kind, rec->hash, recsys__store_rec_key(rec), rec->key_len, &at);
    if (s != SIZE_MAX) {
        size_t pos = idx->slots[s] - 1;
        recsys__store_rec *old = idx->order[pos];
        idx->order[pos] = rec;
        recsys__store_rec_free(idx->mem, old, old->kind == RECSYS_RECORD_USER);
        return;
    }
    /* reserve() guaranteed a free order entry and a reusable slot. */
    size_t pos = idx->norder++;
    idx->order[pos] = rec;
    if (idx->slots[at] == SLOT_EMPTY)
        idx->used++;
    idx->slots[at] = pos + 1;
    idx->live++;
}

bool recsys__store_index_remove(recsys__store_index *idx, int32_t kind, const char *key,
                                size_t key_len, bool wipe)
{
    if (!idx->nslots)
        return false;
    size_t s = probe(idx, kind, rec_hash(kind, key, key_len), key, key_len, NULL);
    if (s == SIZE_MAX)
        return false;
    size_t pos = idx->slots[s] - 1;
    recsys__store_rec_free(idx->mem, idx->order[pos], wipe);
    idx->order[pos] = NULL;
    idx->slots[s] = SLOT_DELETED;
    idx->live--;
    /* Trailing holes can go at once (nothing after them to renumber). */
    while (idx->norder && !idx->order[idx->norder - 1])
        idx->norder--;
    return true;
}

recsys_status recsys__store_index_scan(const recsys__store_index *idx, int32_t kind,
                                       recsys_record_visit_fn fn, void *arg)
{
    for (size_t pos = 0; pos < idx->norder; pos++) {
        const recsys__store_rec *r = idx->order[pos];
        if (!r || r->kind != kind)
            continue;
        RECSYS_TRY(fn(arg, kind, recsys__store_rec_key(r), recsys__store_rec_val(r), r->val_len));
    }
    return RECSYS_OK;
}
