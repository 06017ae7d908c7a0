/* fold.h - the catalog's words folded to ASCII lower case: what a shopper may name in a query
 * (llm/intent.h reads requests against it), kept by the catalog as items come and go. Why
 * here: the query parser runs per request and must not scan items or build a vocabulary of
 * its own; the catalog already interns its facets and attribute names at each put, so it
 * keeps their folded forms (and the text values') in step at the same moment.
 *
 * What is folded: each category and tag (the facets), every custom attribute name, and the
 * values of text attributes (the host's recsys__attr of type STR; not the LLM-generated
 * ones). Folding lowers the ASCII letters A-Z and keeps every other byte as it is (UTF-8 is
 * never broken; "Ü" and "ü" stay different). A folded text maps back to the catalog's own
 * spelling, which is what a filter expression compares exactly:
 *   - a category, tag or attribute name: the first spelling the catalog interned;
 *   - a text value: one entry per (attribute, spelling); a lookup returns per attribute the
 *     spelling most items hold, among values some live item holds (a count per entry follows
 *     puts, replacements and removals).
 *
 * Bounds (so that a title-like attribute, 100k distinct strings, costs nothing here):
 *   - texts of at most RECSYS__FOLD_TEXT_MAX - 1 bytes are folded (a query's run of 4 words of
 *     at most 63 bytes each is never longer); values also of at most RECSYS__FOLD_VALUE_WORDS
 *     words (split at ' ', '-', '_'): the query parser looks runs of up to 4 words up;
 *   - a text attribute is a facet while it has had at most RECSYS__FOLD_VALUES_PER_ATTR
 *     distinct foldable values (counted as they are first seen, removed items included, never
 *     decreased): at the first value beyond, its values are no longer added and lookups skip
 *     it for good. 256 because a facet is something a shopper names by value (a brand, a
 *     GPU, an OS, a colour: tens to a few hundred values), while an attribute with more is an
 *     identifier or a title, where a common word that happens to be one value would become a
 *     false constraint; it also bounds the index at 256 values per attribute. (Interned keys
 *     and values stay, as the catalog's facets and attribute names do.)
 *
 * Cost: a put folds the facets and attribute names it interned (new ones only) and looks its
 * text values up (one hash probe for the name, one for the value; none for an attribute past
 * the bound); no allocation when all are known (a rollback's put back cannot fail). A removal
 * or replacement counts the old item's values out the same way. A lookup is one hash probe
 * plus a walk of the entries sharing the folded value (one per spelling and attribute).
 * Thread-safety: written under the engine's exclusive lock with the catalog, read under the
 * shared one; no global state.
 */
#ifndef RECSYS_MODEL_FOLD_H
#define RECSYS_MODEL_FOLD_H
#include "../core/ids.h"

#define RECSYS__FOLD_TEXT_MAX 256          /* bytes (with the NUL) of a folded text */
#define RECSYS__FOLD_VALUE_WORDS 4         /* words of a text value that is folded */
#define RECSYS__FOLD_VALUES_PER_ATTR 256   /* distinct values of a text attribute facet */
#define RECSYS__FOLD_HITS_MAX 8            /* attributes one value lookup reports */

typedef struct recsys__fold {
    /* "c:", "t:", "a:" or "v:" + the folded text -> key; first[key]: the facet index
     * (c, t), the attr_names index (a), the newest value entry (v) */
    recsys__ids keys;
    uint32_t *first;
    size_t first_cap;
    /* value entries: "<attr index, 8 hex digits>:<spelling>" -> entry */
    recsys__ids vals;
    uint32_t *next;  /* entry -> the next entry of the same folded value, or RECSYS_IDS_NONE */
    uint32_t *live;  /* entry -> items in the catalog holding it */
    uint32_t *vattr; /* entry -> attr_names index */
    size_t vals_cap;
    uint32_t *nvalues; /* attr_names index -> distinct values seen (capped one past the bound) */
    size_t nvalues_cap;
} recsys__fold;

/* One attribute a folded value names: the attribute and the catalog's spelling. */
typedef struct recsys__fold_hit {
    uint32_t attr;        /* attr_names index */
    const char *spelling; /* owned by the catalog */
} recsys__fold_hit;

#endif
