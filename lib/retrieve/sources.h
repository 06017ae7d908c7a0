/* sources.h - the built-in candidate sources of stage 2, each behind the public
 * recsys_source_vtable exactly as a host's source would be.
 *
 * Every constructor fills *out (struct_size = sizeof, ctx = NULL, destroy = NULL, retrieve
 * set) and cannot fail except for a NULL argument. retrieve adds at most recsys_query_limit(q)
 * candidates, never a removed item nor one the request excludes. Scores are raw (the merger
 * normalises each source's list).
 *
 * - popular:  the item's long-window interaction count (the catalog's pop counter, a sum of
 *             event weights) decayed to q->now with RECSYS_OPT_POPULAR_HALF_LIFE_DAYS; items
 *             whose count is not positive are not proposed.
 * - trending: items whose short-window count (RECSYS_OPT_TRENDING_HALF_LIFE_H) rises above
 *             what their long-window count predicts for a steady item. With t the short and p
 *             the long decayed count and e = p * hl_short / hl_long (the short count a steady
 *             rate would give), the score is (t - e) / sqrt(e + 1), a Poisson-style excess;
 *             items need t >= RECSYS__TRENDING_MIN_RECENT and t > e.
 * - content:  BM25 (q->derived->state[RECSYS__DERIVED_BM25]) over a pseudo-query of the
 *             user's stated interests and the titles and tags of their
 *             RECSYS__CONTENT_SEED_ITEMS most recent positively weighted history items (then
 *             profile recent views and purchases), or of the anchor of a "more like this"
 *             request, fused with text vectors (q->derived->state[RECSYS__DERIVED_CONTENT],
 *             vector.h "Content vectors": the items' "text" embeddings, else hashed text
 *             vectors, lib/text/hashvec.h). The profile vector is the unit mean of the seeds'
 *             vectors weighted by their latest events' weights (1 for profile lists and the
 *             anchor) plus the unit vector of the stated interests (joined with ", "): hashed
 *             with the index's vocabulary, or over "text" embeddings the host embedder's
 *             vector (the model's embed hook, one call per request of a user with interests;
 *             no embedder, or a disabled one: the interests count through BM25 alone), the
 *             sum made unit. With a profile vector, BM25's best d hits (d = min(limit,
 *             RECSYS_OPT_CONTENT_FUSE_DEPTH), after excluded items and seeds) and the
 *             vectors' best d by inner product (a cosine) are fused: every item of the union
 *             scores (lib/retrieve/fuse.h) its BM25 score relative to the best hit plus
 *             RECSYS_OPT_CONTENT_VECTOR_WEIGHT times its positive cosine (for hashed vectors
 *             less the collision floor 2 / sqrt(dim), rescaled), an item of one list only
 *             that list's part, and the best limit of the union (at most 2d) is proposed.
 *             With no vector state, a weight of 0 or no profile vector (no seed or interest
 *             has one), BM25's best limit alone with its raw scores. The seed items are not
 *             proposed. An anonymous or unknown user without an anchor gets nothing.
 *             The request's text is not read (search's). The embedder's failure fails the
 *             source ("embedder '<name>': ..."), and so does a vector of another dimension
 *             than the items' "text" embeddings (RECSYS_E_CALLBACK); disable the embedder to
 *             do without it. Items upserted after the refresh are reached through the
 *             vectors at once (BM25 knows them from the next refresh).
 * - search:   the request's text (q->text), nothing without one (or with one of only spaces
 *             and stopwords). BM25 over title, tags, category and description (the derived
 *             BM25 state, as content); scores are BM25's. When the model's embed hook has an
 *             enabled embedder and some item has a RECSYS__SEARCH_EMBEDDING embedding, the
 *             text is embedded once and every live item scores the BM25 score relative to
 *             the best hit (0..1; the hits are the best limit + nexclude) plus the positive
 *             cosine of the text's vector with its embedding of the same dimension (an item
 *             without one, or of another dimension, gets the BM25 part only). The embedder's
 *             failure fails the source ("embedder '<name>': ..."). The embedding scan reads
 *             every item (O(items x dim) per request with a query): an index over the text
 *             embeddings would be a derived slot of its own.
 * - campaign: the items of every campaign of q->model->campaigns active at q->now
 *             (start <= now < end, 0 = open), scored by the campaign's boost; an item in
 *             several active campaigns takes the highest. Removed and excluded items are
 *             skipped; the best limit, ties to the lower item index (topk.h).
 */
#ifndef RECSYS_RETRIEVE_SOURCES_H
#define RECSYS_RETRIEVE_SOURCES_H
#include "../model/context.h"

/* History items the content source's pseudo-query is built from. */
#define RECSYS__CONTENT_SEED_ITEMS 5
/* The item embedding the search source compares the embedded query text with. */
#define RECSYS__SEARCH_EMBEDDING "text"

recsys_status recsys__source_popular(const recsys__mem *m, recsys_source_vtable *out);
recsys_status recsys__source_trending(const recsys__mem *m, recsys_source_vtable *out);
recsys_status recsys__source_content(const recsys__mem *m, recsys_source_vtable *out);
recsys_status recsys__source_search(const recsys__mem *m, recsys_source_vtable *out);
recsys_status recsys__source_campaign(const recsys__mem *m, recsys_source_vtable *out);


/* The popular (or trending) source answered by scanning every item, the reference the ranked
 * walk those sources normally use must equal (for tests). */
recsys_status recsys__source_popular_scan(const recsys_query *q, recsys_candidates *out,
                                          bool trending);

#endif
