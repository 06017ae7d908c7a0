/* blobs.h - the engine's use of the store's optional blob methods (put_blob, get_blob; since
 * 0.2): saved derived state (lib/engine/blobs.c), and the saving, reading and forgetting of
 * it around builds (lib/engine/refresh.c).
 *
 * A store has blobs when it sets both methods (a store with only one is treated as having
 * none). Every call goes through the engine's store mutex, like the other store calls (lock
 * order: the engine's lock, then the store mutex). */
#ifndef RECSYS_ENGINE_BLOBS_H
#define RECSYS_ENGINE_BLOBS_H

#include "engine.h"

/* True when the engine's store keeps blobs. */
bool recsys__engine_has_blobs(const recsys_engine *e);

/* put_blob under the store mutex (len 0 removes; RECSYS_OK when absent). A store without
 * blobs: RECSYS_E_UNSUPPORTED. Failures carry the store's message, prefixed. */
recsys_status recsys__engine_blob_put(recsys_engine *e, const char *name, const void *data,
                                      size_t len);

/* get_blob under the store mutex: *data (len bytes and a NUL, allocated with the engine's
 * allocator; free with recsys__free(&e->mem, ...)). RECSYS_E_NOT_FOUND when absent or when
 * the store keeps no blobs; other statuses as the store reported them (RECSYS_E_CORRUPT for
 * a damaged blob). A get_blob that returns RECSYS_OK without a value is RECSYS_E_CALLBACK. */
recsys_status recsys__engine_blob_get(recsys_engine *e, const char *name, void **data,
                                      size_t *len);

/* The build context's read_saved over the engine (arg is the engine). */
recsys_status recsys__engine_read_saved(void *arg, const char *name, void **data, size_t *len);

/* Removes the saved personal state of every builder (builder->blob[1]) from the store, so a
 * forgotten user's events leave no trace there (lib/engine/refresh.c). Caller holds the lock
 * exclusively. RECSYS_OK when the store keeps no blobs. */
recsys_status recsys__engine_forget_blobs(recsys_engine *e);

#endif
