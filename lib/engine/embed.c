/* embed.c - the engine's registered embedder as the model's embed hook (recsys__embed_hook),
 * through which the "search" source embeds a request's query text, and the "content" source
 * a user's stated interests, without knowing the engine. */
#include "engine.h"
#include "../text/embed.h"

recsys_status recsys__engine_embed(void *arg, const char *text, size_t len,
                                   recsys_vector_sink *out, bool *none)
{
    recsys_engine *e = arg;
    /* the caller holds e->lock (shared): the plug-in table cannot change under us */
    const recsys__plugins *ps = &e->plugins[RECSYS_PLUGIN_EMBEDDER];
    *none = ps->n == 0 || !ps->v[0].enabled;
    if (*none)
        return RECSYS_OK;
    const recsys__plugin *p = &ps->v[0];
    recsys_status st = p->vt.embedder.embed(p->vt.embedder.ctx, text, len, out);
    if (st == RECSYS_OK && !out->v)
        st = recsys__err(RECSYS_E_CALLBACK, "returned no vector (recsys_vector_sink_set)");
    if (st != RECSYS_OK)
        return recsys__plugin_failed(st, "embedder", p->name);
    return RECSYS_OK;
}
