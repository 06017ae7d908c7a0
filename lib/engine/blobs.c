/* blobs.c - the engine's calls into the store's blob methods (blobs.h). */
#include "blobs.h"
#include "../store/store.h"

bool recsys__engine_has_blobs(const recsys_engine *e)
{
    /* e->store is set once by recsys_engine_new; a 0.1-sized host vtable has both NULL */
    return e->store.put_blob && e->store.get_blob;
}

recsys_status recsys__engine_blob_put(recsys_engine *e, const char *name, const void *data,
                                      size_t len)
{
    if (!recsys__engine_has_blobs(e))
        return recsys__err(RECSYS_E_UNSUPPORTED, "the store keeps no blobs");
    pthread_mutex_lock(&e->store_mu);
    recsys_status st = e->store.put_blob(e->store.ctx, name, data, len);
    pthread_mutex_unlock(&e->store_mu);
    return st == RECSYS_OK ? st : recsys__plugin_failed(st, "store", "put_blob");
}

recsys_status recsys__engine_blob_get(recsys_engine *e, const char *name, void **data,
                                      size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!recsys__engine_has_blobs(e))
        return recsys__err(RECSYS_E_NOT_FOUND, "the store keeps no blobs");
    recsys_store_value v;
    recsys__store_value_init(&v, &e->mem);
    pthread_mutex_lock(&e->store_mu);
    recsys_status st = e->store.get_blob(e->store.ctx, name, &v);
    pthread_mutex_unlock(&e->store_mu);
    if (st == RECSYS_OK && !v.set)
        st = recsys__err(RECSYS_E_CALLBACK, "get_blob('%s') returned RECSYS_OK without a "
                         "value", name);
    if (st != RECSYS_OK) {
        recsys__store_value_free(&v);
        return st == RECSYS_E_NOT_FOUND ? st : recsys__plugin_failed(st, "store", "get_blob");
    }
    *data = v.data; /* allocated with e->mem (recsys__store_value_init) */
    *len = v.len;
    return RECSYS_OK;
}

recsys_status recsys__engine_read_saved(void *arg, const char *name, void **data, size_t *len)
{
    return recsys__engine_blob_get(arg, name, data, len);
}
