/* vector.h - the faiss index over item vectors and the "vector" candidate source; the same
 * machinery (one builder parametrised by the vectors it indexes) builds the content source's
 * index over item text vectors (slot RECSYS__DERIVED_CONTENT, "Content vectors" below).
 *
 * Vectors. The builder (slot RECSYS__DERIVED_VECTOR) indexes the iALS item factors when this
 * refresh built iALS state (ctx->built[RECSYS__DERIVED_IALS]; rows of zeros, i.e. items
 * without a factor, and removed items are left out), else the live items' "default"
 * embeddings when every item that has one has the same dimension (items without one are left
 * out), else nothing (state NULL). The metric is the inner product.
 *
 * Index. RECSYS_OPT_VECTOR_INDEX, when non-empty, is a faiss index factory string used as
 * given (an invalid one, or one faiss cannot build, fails the build with RECSYS_E_INVALID_ARG
 * and faiss's message). Empty (the default): "Flat" (exact) up to RECSYS_OPT_VECTOR_EXACT_MAX
 * vectors, "IVF<n>,Flat" beyond with n = 4 sqrt(N) lists (at most N / 39, faiss's minimum of
 * training points per list), trained on at most 64 n vectors sampled with the engine's seed.
 * RECSYS_OPT_VECTOR_NPROBE is set at build time (faiss's ParameterSpace "nprobe"; ignored by
 * index types without it) and never per request.
 *
 * Labels. Vectors are added in catalog order with faiss labels 0..N-1 and the state maps a
 * label to its item index. No "IDMap," wrapper is used: faiss 1.7.3's IndexIDMap::search
 * translates labels in an `omp parallel for`, which wakes every OpenMP thread on each single
 * query (DESIGN.md measured 30x worse p99 with two threads). With our own map, a single query
 * to Flat or IVF runs no parallel region at all, so OpenMP's global thread count is never
 * changed here. Training (k-means for IVF) uses faiss's OpenMP threads, during refresh only.
 *
 * Source. The query vector is the iALS fold-in of the request's positives
 * (recsys__query_positives: a "more like this" anchor, else the user's positives) when the
 * index holds iALS factors (the request's derived set must then hold the iALS state of the
 * same refresh), else the mean of the positives' "default" embeddings of the index's
 * dimension. The source searches the best limit + room (excluded, positives, 16 more; doubled
 * while removed items leave fewer than limit), skips items the request excludes, removed
 * items, the anchor, and the user's positives when RECSYS_OPT_FILTER_SEEN is on; scores are
 * inner products, ties go to the lower item index. An anonymous or unknown user without an
 * anchor, positives without a vector, or no state gives nothing.
 *
 * Incremental updates. An index over embeddings follows the catalog between refreshes
 * (builder hooks reserve / item_changed, derived.h): an item put or removed after the build
 * is looked up by label (the labels' items ascend); its index entry is marked stale (a bitmap
 * by label) unless the item's current "default" embedding hashes (XXH3-64, kept per label at
 * build) to the vector indexed; an item with a usable embedding of the index's dimension
 * that the index does not hold goes into the delta (its vector copied; an array by catalog
 * index finds its entry). The source skips stale labels in faiss's results (searching that
 * many more) and scores every delta entry exactly (inner product), so a request sees an
 * upsert or removal at once; the next refresh builds them in and starts an empty delta. The
 * delta costs dim floats per changed item and 4 bytes per catalog item once anything changed;
 * the scan is linear in its size, which stays small between refreshes. reserve allocates
 * everything before the engine commits a change, so item_changed cannot fail. An index over
 * iALS factors does not follow upserts (an item's factor does not change with it; removed
 * items are skipped as before). An item whose new embedding has another dimension is no
 * longer proposed until the next refresh (which then builds nothing if the dimensions are
 * mixed); when no index was built (no embeddings at the refresh), nothing is followed.
 *
 * Saved copy. The builder saves the index as blob "vector.index" ("vector.ials.index" when it
 * holds iALS factors: personal, removed when a user is forgotten): a 48-byte header (LE:
 * u32 magic "RSVX", u32 version 1, u64 fingerprint, u64 n, u32 dim, u32 flags (1 = iALS),
 * u64 length and u64 XXH3-64 of the rest), then faiss's write_index bytes. The fingerprint is
 * an XXH3-64 chain over the format version, whether iALS factors are indexed, dim, n, the
 * engine's seed, the factory string actually used, then per label the item's id and the
 * XXH3-64 of its vector. A build whose fingerprint, n, dim and flags match the saved copy's
 * reads the index from it (faiss read_index) instead of training and adding; nprobe is not in
 * the fingerprint (it is set after reading, as after building). A copy whose length,
 * checksum or faiss bytes are wrong is damaged: the index is built and the problem is the
 * build's note (the engine reports it). A state read from the copy is not saved again.
 *
 * Content vectors. The builder recsys__content_vector_builder (slot RECSYS__DERIVED_CONTENT,
 * built when the "content" source is enabled; not personal) indexes, with everything above
 * but iALS, the live items' RECSYS__CONTENT_EMBEDDING ("text") embeddings when some item has
 * one and all those that do share a dimension (items without one are left out), else, when
 * RECSYS_OPT_CONTENT_DIM is not 0, every live item's hashed text vector (lib/text/hashvec.h:
 * its vocabulary is kept in the state), else nothing. Either way the rows are L2-normalised
 * (rows without a direction are left out), so inner products are cosines. The index kind
 * follows RECSYS_OPT_VECTOR_EXACT_MAX; an IVF probes RECSYS_OPT_CONTENT_NPROBE lists (4 by
 * default, half the vector source's: the content source's request also runs BM25, and these
 * vectors are its second signal); RECSYS_OPT_VECTOR_INDEX is the vector source's alone.
 * Incremental updates work as above with the item's current vector: its "text" embedding
 * made unit, or its hashed vector from its current text with the vocabulary of the build (a
 * word new to the catalog then has df 0); an index over hashed vectors keeps following
 * hashed vectors until the next refresh, even when "text" embeddings appear meanwhile.
 * Unlike the vector source's, this upkeep is best effort, so that the content source (on by
 * default) adds no failure to catalog changes (a removal cannot run out of memory): the
 * stale bitmap is allocated with the state, reserve never fails, and when it could not make
 * room (out of memory) a changed item that does not fit in the delta is left out of the
 * vectors (its index entry stale) until the next refresh.
 * The saved copy is blob "content.index" (flags 2 when the vectors are hashed; the
 * fingerprint starts "content vectors/"; not personal). Messages start "content vectors: ".
 *
 * Threads. The index is immutable after the build, and the delta changes only under the
 * engine's exclusive lock; any number of requests search it at once under the shared lock
 * (faiss's Flat and IVF search are const and thread-safe). */
#ifndef RECSYS_RETRIEVE_VECTOR_H
#define RECSYS_RETRIEVE_VECTOR_H
#include <stdint.h>
#include "topk.h"
#include "../model/context.h"

/* Extra results searched beyond limit + excluded + positives, for removed items. */
#define RECSYS__VECTOR_ROOM 16

struct recsys__builder;
struct recsys__builder_hooks;
extern const struct recsys__builder recsys__vector_builder;
/* Incremental updates and the saved copy (derived.h). */
extern const struct recsys__builder_hooks recsys__vector_hooks;
/* The content source's index over item text vectors ("Content vectors" above). */
extern const struct recsys__builder recsys__content_vector_builder;
extern const struct recsys__builder_hooks recsys__content_vector_hooks;

/* The item embedding the content source's vectors come from when the catalog has them. */
#define RECSYS__CONTENT_EMBEDDING "text"

/* The "vector" source (ctx and destroy NULL). */
recsys_status recsys__source_vector(const recsys__mem *m, recsys_source_vtable *out);

/* What was built, for tests and diagnostics. Returns RECSYS_E_INVALID_ARG for a NULL state. */
typedef struct recsys__vector_info {
    size_t n;           /* vectors indexed */
    size_t dim;
    bool ials;          /* built on iALS factors (else "default" embeddings) */
    const char *index;  /* the factory string used (lives as long as the state) */
    bool loaded;        /* read from the saved copy rather than trained */
    uint64_t fingerprint;
    size_t delta;       /* items added or changed since the build, searched exactly */
    size_t stale;       /* index entries whose item changed since the build */
    bool hashed;        /* hashed text vectors (content) */
    const char *embedding; /* the item embedding indexed; NULL for iALS or hashed vectors */
} recsys__vector_info;
recsys_status recsys__vector_info_get(const void *state, recsys__vector_info *out);

/* Searches the state (its index without stale entries, and its delta) for the k best of one
 * query vector of dim floats (scratch from m): items[] and scores[] receive up to k results
 * best first (ties to the lower item index), *n how many. Items changed or removed since the
 * build are found under their current vector only. Returns RECSYS_OK,
 * RECSYS_E_INVALID_ARG (NULL, dim not the index's, k = 0) or RECSYS_E_INTERNAL with faiss's
 * message (never an exception). */
recsys_status recsys__vector_search(const void *state, const recsys__mem *m, const float *v,
                                    size_t dim, size_t k, uint32_t *items, float *scores,
                                    size_t *n);

/* The best limit items of a state (of either kind) for the query vector u (its dim floats):
 * faiss's results without stale labels, searched with room for limit + the request's
 * excluded items + extra + RECSYS__VECTOR_ROOM and doubled while removed items leave fewer
 * than limit, then every delta entry scored exactly; removed items, items q excludes,
 * q->anchor and the items of skip[] (ascending, nskip of them; NULL when none) are left
 * out. top must be zeroed; it receives at most min(limit, indexed + delta) pairs (inner
 * products; the caller frees it with recsys__topk_free, also on failure). Returns RECSYS_OK,
 * RECSYS_E_NOMEM or RECSYS_E_INTERNAL (faiss's message). Scratch from m. */
recsys_status recsys__vector_top(const void *state, const recsys_query *q, const recsys__mem *m,
                                 const float *u, size_t limit, size_t extra,
                                 const uint32_t *skip, size_t nskip, recsys__topk *top);

/* Writes item's current vector as the state would index it (info.dim floats: its hashed
 * text vector, or its embedding, made unit for content vectors) into out; false when it has
 * none, is removed, or the state holds iALS factors of which the catalog knows nothing.
 * Thread-safe (no scratch of the state's). */
bool recsys__vector_item_vector(const void *state, const recsys__catalog *c, uint32_t item,
                                float *out);
/* v / |v| into out (dim floats; out may be v); false (out untouched) when v has no direction
 * or is not finite. */
bool recsys__vector_unit(const float *v, size_t dim, float *out);
/* The hashed vector of a free text (info.dim floats) with the state's vocabulary; false when
 * the state's vectors are not hashed or the text has no feature. */
bool recsys__vector_text_vector(const void *state, const char *text, float *out);

#endif
