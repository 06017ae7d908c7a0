/* merge.h - the merger of stage 2: per-source candidate lists -> one deduplicated set with
 * normalised scores and the provenance of every candidate. */
#ifndef RECSYS_RETRIEVE_MERGE_H
#define RECSYS_RETRIEVE_MERGE_H
#include "../model/context.h"

/* Merges nlists source lists (lists[k] came from source k, weighted weights[k]) into out,
 * which must be freshly initialised with no limit. Each list's scores are min-max
 * normalised to 0..1 (a list of equal scores normalises to 1); a candidate's merged score is
 * the weighted mean of its normalised scores over the sources that returned anything (a
 * source that did not propose it counts 0). Provenance keeps source, raw and normalised
 * score and rank. out->source_names must be set by the caller. */
recsys_status recsys__merge(recsys_candidates *out, const recsys_candidates *lists,
                            const double *weights, size_t nlists);

#endif
