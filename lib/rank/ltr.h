/* ltr.h - the "ltr" ranker: LambdaMART trees (lib/rank/gbdt.h) over the feature vector of
 * lib/rank/features.h, evaluated natively.
 *
 * The ranker reads the model the engine keeps in a recsys__ltr (its ctx). The engine
 * replaces the model only under its exclusive lock, and requests run under the shared one,
 * so a request sees one model from start to end. Without a model (never trained) the ranker
 * changes nothing: candidates keep their merged source scores. With one, each candidate's
 * score becomes the model's margin for its features: one allocation per request (the
 * feature rows and the scores), one pass of recsys__features_compute, one batched
 * recsys__gbdt_predict. */
#ifndef RECSYS_RANK_LTR_H
#define RECSYS_RANK_LTR_H
#include "gbdt.h"
#include "../model/context.h"

typedef struct recsys__ltr {
    recsys__gbdt *model; /* NULL: not trained */
} recsys__ltr;

/* Fills *out with the ranker over h (ctx = h; no destroy: the engine owns h). */
recsys_status recsys__ranker_ltr(const recsys__mem *m, recsys__ltr *h, recsys_ranker_vtable *out);

/* Loads model text json[0..len) for the ranker: as recsys__gbdt_load, and RECSYS_E_UNSUPPORTED
 * when the model was trained on another number of features than RECSYS__NFEAT (a model of
 * another release). */
recsys_status recsys__ltr_load(const recsys__mem *m, const char *json, size_t len,
                               recsys__gbdt **out);

#endif
