/* fuse.h - the one fusion of BM25 with embeddings, shared by the search and content sources.
 *
 * An item's fused score is
 *     bm25(item) / bm25(best hit)  +  w * max(0, cos(query vector, item vector))
 * The first part is 0 for an item that is not among the BM25 hits, and 1 for the best hit:
 * raw BM25 grows with the number and rarity of the query's terms, so it is taken relative
 * to the query's best hit to sit on the same 0..1 scale as a cosine. The second part drops
 * the cosine's negative half, so that a vector pointing away never removes what the words
 * found, and is 0 for an item without a vector. w is 1 for search and
 * RECSYS_OPT_CONTENT_VECTOR_WEIGHT for content (whose hashed vectors first lose their noise
 * floor, recsys__fuse_above). The hits must come best first with positive
 * scores, as recsys__bm25_search returns them. */
#ifndef RECSYS_RETRIEVE_FUSE_H
#define RECSYS_RETRIEVE_FUSE_H
#include "topk.h"

typedef struct recsys__fuse {
    const recsys__mem *mem;
    recsys__scored *bm; /* the hits by ascending item, scores relative to the best */
    size_t n;
} recsys__fuse;

/* The n hits items[] / scores[] (best first); allocates with m. RECSYS_OK or
 * RECSYS_E_NOMEM (f then holds nothing; recsys__fuse_free is harmless either way). */
recsys_status recsys__fuse_init(recsys__fuse *f, const recsys__mem *m, const uint32_t *items,
                                const float *scores, size_t n);
void recsys__fuse_free(recsys__fuse *f);

/* The relative BM25 part of item (0 when not a hit), for a walk over ascending items:
 * *cursor starts at 0 and only moves forward. */
double recsys__fuse_bm25_walk(const recsys__fuse *f, size_t *cursor, uint32_t item);

/* The fused score of an item with relative BM25 part bm and cosine cos (NaN: no vector). */
static inline double recsys__fuse_score(double bm, double cos, double w)
{
    return cos > 0 && isfinite(cos) ? bm + w * cos : bm;
}

/* A cosine with the noise floor fl (0 <= fl < 1) taken off and rescaled, (cos - fl) /
 * (1 - fl), for vectors whose unrelated pairs are not orthogonal: hashed text vectors of
 * dim dimensions collide, which gives two texts without a feature in common a cosine of
 * standard deviation about 1 / sqrt(dim); the content source takes two of those,
 * 2 / sqrt(dim), as fl for them (0 for the host's embeddings), so that hash collisions
 * alone seldom propose anything (about 2% of unrelated items instead of half). */
static inline double recsys__fuse_above(double cos, double fl)
{
    return (cos - fl) / (1 - fl);
}

/* The union of two hit lists, fused: the n BM25 hits items[] / scores[] (best first,
 * positive) and the nv vector hits vec[] (item, cosine; any order, distinct items). Every
 * item of either list with a positive fused score (recsys__fuse_score, weight w, the
 * cosine's floor fl taken off with recsys__fuse_above) is offered to top; an item in one
 * list only gets that list's part (the other's is unknown: below its cut-off). O(n + nv)
 * with a hash of the vector hits (scratch from m). RECSYS_OK or RECSYS_E_NOMEM. */
recsys_status recsys__fuse_lists(const recsys__mem *m, const uint32_t *items,
                                 const float *scores, size_t n, const recsys__scored *vec,
                                 size_t nv, double w, double fl, recsys__topk *top);

#endif
