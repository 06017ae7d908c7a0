/* enrich.h - metadata enrichment by the LLM (issue 5, scope 7): the prompt that asks for tags,
 * a one-sentence summary and extracted attributes of several items at once, the strict parser
 * of the reply, the vocabulary check, the content hash that decides whether an item must be
 * asked again, and the cache record that keeps a validated answer in the store. The engine's
 * batch call (lib/engine/enrich.c, recsys_catalog_enrich) strings these together.
 *
 * Why here and not in the engine: everything below is pure (no lock, no store, no LLM call),
 * so that the parser can be fuzzed alone (tests/fuzz/fuzz_enrich.c) and the engine part holds
 * only the locking and the store traffic.
 *
 * The conversation, template "enrich/1" (RECSYS__ENRICH_TEMPLATE):
 *   system = the task, RECSYS__LLM_DATA_RULE (lib/llm/prompt.h), the reply format, the
 *            limits (tags per item, summary bytes) and the allowed attribute names and types;
 *   prompt = the instruction, the allowed tag vocabulary (when the catalog has one and new tags
 *            are not allowed: at most RECSYS__ENRICH_VOCAB_SHOWN of its tags), then the data
 *            block of prompt.h with one card per item, named by a local handle 1..N (never
 *            the item id): {"handle":1,"title":"...","category":"...","tags":[...],
 *            "description":"...","attributes":{...}} - every text through recsys__llm_quote;
 *   schema = {"items":[{"handle":1,"tags":[...],"summary":"...","attributes":{...}}]} as a
 *            JSON schema with the limits, sent for hosts that enforce one.
 *
 * The reply is untrusted. The parser (recsys__enrich_parse) is strict: at most
 * RECSYS__ENRICH_REPLY_PER_ITEM bytes per item asked (plus 1 KiB); one markdown code fence
 * around the JSON is tolerated, nothing else; jansson with duplicate keys rejected; the root
 * must be {"items":[...]} and nothing more. Each entry must be an object with only the keys
 * handle (an integer 1..N), tags (an array of at most max_tags non-empty strings of at most
 * RECSYS__ENRICH_TAG_MAX bytes), summary (a string of at most summary_max bytes; "" = none;
 * not allowed when summary_max is 0) and attributes (an object of at most RECSYS__LIST_MAX
 * scalars: finite numbers, booleans, non-empty strings of at most RECSYS__ENRICH_VALUE_MAX
 * bytes; null means "unknown" and is left out). An entry that breaks a rule is invalid (its
 * item counts as rejected); an entry whose handle was already seen makes that item invalid
 * (ambiguous); a handle with no entry is missing. A reply that is not such a JSON object at
 * all is rejected whole.
 *
 * Vocabulary (recsys__enrich_build, after parsing, under the engine's lock): a tag must be a
 * tag of the catalog (its facet "t:<tag>" exists; ASCII case is folded when the exact text is
 * not one, and the catalog's spelling is kept) unless new tags are allowed; a tag the item
 * already has from the host is left out (it says nothing new). An attribute's name must be
 * allowed - by the option's list (RECSYS_OPT_ENRICH_ATTRIBUTES: "name[:num|str|bool],...") or,
 * when that is empty, by being one of the catalog's host attribute names - and its value must
 * have a type allowed for that name (the listed type, else the types the catalog has seen
 * under it, else any scalar). Whatever fails is dropped and counted, never stored.
 *
 * The content hash (recsys__enrich_hash) is XXH3-64 over the template version and the item's
 * text fields (title, description, category, provider, host tags, host attributes), chained
 * field by field (each hashed with the previous hash as its seed), so that moving bytes from
 * one field to the next changes the hash. The cache record
 * (recsys__enrich_record_*) is the hash as 16 hex digits and a newline, then the item's JSON
 * holding only its id and "generated" part (the canonical writer of model.h, so reading it
 * back is the item reader with all its checks).
 *
 * Complexity: a prompt is O(bytes of its cards + vocabulary shown); parsing O(reply bytes);
 * a tag check O(1) (a hash lookup; two with case folding); an attribute check O(log names).
 * Thread-safety: no state of its own; the catalog passed in must be held by the caller's lock.
 */
#ifndef RECSYS_LLM_ENRICH_H
#define RECSYS_LLM_ENRICH_H
#include "../model/json_write.h"
#include "../model/model.h"

#define RECSYS__ENRICH_TEMPLATE "enrich/1"
#define RECSYS__ENRICH_TAG_MAX 64          /* bytes of a generated tag */
#define RECSYS__ENRICH_VALUE_MAX 256       /* bytes of a generated string attribute */
#define RECSYS__ENRICH_DESC_MAX 1200       /* bytes of a description shown in a card */
#define RECSYS__ENRICH_VOCAB_SHOWN 200     /* catalog tags listed in a prompt at most */
#define RECSYS__ENRICH_ATTRS_SHOWN 64      /* allowed attributes listed in a prompt at most */
#define RECSYS__ENRICH_REPLY_PER_ITEM 8192 /* reply bytes accepted per item asked */
#define RECSYS__ENRICH_RECORD_PREFIX "enrich:" /* RECSYS_RECORD_STATE key: prefix + item id */

/* One allowed attribute: its name and the types (bits 1u << recsys__attr_type) it may have. */
typedef struct recsys__enrich_attr_rule {
    char *name;
    unsigned types;
} recsys__enrich_attr_rule;

/* What an enrichment may produce, fixed for one batch call. */
typedef struct recsys__enrich_cfg {
    uint32_t max_tags;    /* tags per item (0 = none asked) */
    uint32_t summary_max; /* bytes of the summary (0 = none asked) */
    bool new_tags;        /* tags outside the catalog's vocabulary are kept */
    bool listed;          /* attrs came from the option's list (else from the catalog) */
    recsys__enrich_attr_rule *attrs; /* allowed attributes, sorted by name, distinct */
    size_t nattrs;
    char **vocab; /* catalog tags shown in the prompt (at most RECSYS__ENRICH_VOCAB_SHOWN) */
    size_t nvocab;
    bool vocab_more; /* the catalog has more tags than shown */
} recsys__enrich_cfg;

/* Builds *out from the catalog (caller holds its lock) and the option values: attrs_opt is
 * RECSYS_OPT_ENRICH_ATTRIBUTES ("" or NULL = the catalog's host attribute names). A malformed
 * list is RECSYS_E_INVALID_ARG naming the entry; RECSYS_E_NOMEM. On failure *out is empty. */
recsys_status recsys__enrich_cfg_build(const recsys__mem *m, const recsys__catalog *c,
                                       const char *attrs_opt, uint32_t max_tags,
                                       uint32_t summary_max, bool new_tags,
                                       recsys__enrich_cfg *out);
void recsys__enrich_cfg_free(const recsys__mem *m, recsys__enrich_cfg *cfg);

/* The content hash of it's text fields (see above). */
uint64_t recsys__enrich_hash(const recsys_item *it);

/* The card of it without its handle: the JSON object's members after "handle" and a
 * closing brace (",\"title\":...}"), allocated with m in *out. RECSYS_E_NOMEM. */
recsys_status recsys__enrich_card(const recsys__mem *m, const recsys_item *it, char **out);

/* The three texts of one call over n cards (handles 1..n in order), allocated with m
 * (free each with recsys__free), and the reply token limit to ask for. RECSYS_E_NOMEM. */
typedef struct recsys__enrich_prompt {
    char *system, *prompt, *schema;
} recsys__enrich_prompt;
recsys_status recsys__enrich_prompt_build(const recsys__mem *m, const recsys__enrich_cfg *cfg,
                                          const char *const *cards, size_t n,
                                          recsys__enrich_prompt *out);
void recsys__enrich_prompt_free(const recsys__mem *m, recsys__enrich_prompt *p);

/* The parsed reply for n items. */
typedef enum recsys__enrich_state {
    RECSYS__ENRICH_MISSING = 0, /* no entry named the item */
    RECSYS__ENRICH_OK = 1,      /* entry[i] holds the answer in its gen part */
    RECSYS__ENRICH_INVALID = 2  /* the entry broke a rule (or was given twice) */
} recsys__enrich_state;
typedef struct recsys__enrich_reply {
    size_t n;
    uint8_t *state;       /* n states */
    recsys_item **entry;  /* n scratch items (id "enrich"): only gen is set; NULL unless OK */
} recsys__enrich_reply;

/* Parses a reply to a call over n items (1..RECSYS__LIST_MAX) with cfg's limits. RECSYS_OK:
 * the reply is such a JSON object (some entries may still be invalid or missing: see
 * out->state). RECSYS_E_INVALID_ARG: the reply is unusable as a whole (the message says why);
 * RECSYS_E_NOMEM. Either way *out is filled (all MISSING on failure) and must be freed. */
recsys_status recsys__enrich_parse(const recsys__mem *m, const char *text, size_t len, size_t n,
                                   const recsys__enrich_cfg *cfg, recsys__enrich_reply *out);
void recsys__enrich_reply_free(const recsys__mem *m, recsys__enrich_reply *r);

/* Makes *out: a copy of cur whose generated part is replaced by the values of src that pass
 * the vocabulary (see above; c is the catalog, its lock held), with gen.model = model (NULL
 * keeps src's). *dropped (may be NULL) grows by the values left out. RECSYS_E_NOMEM. */
recsys_status recsys__enrich_build(const recsys__mem *m, const recsys__catalog *c,
                                   const recsys__enrich_cfg *cfg, const recsys_item *cur,
                                   const recsys__generated *src, const char *model,
                                   recsys_item **out, uint64_t *dropped);

/* True when the two generated parts are equal (tags in order, summary, attributes, model). */
bool recsys__enrich_gen_equal(const recsys__generated *a, const recsys__generated *b);

/* The cache record of it (its id and generated part) under hash; *out allocated with m. */
recsys_status recsys__enrich_record_encode(const recsys__mem *m, uint64_t hash,
                                           const recsys_item *it, char **out, size_t *len);
/* Reads a record written for item id: *hash and *gen_item (an item holding the generated
 * part; free with recsys__item_free). RECSYS_E_CORRUPT when it is not such a record for that
 * id; RECSYS_E_NOMEM. */
recsys_status recsys__enrich_record_decode(const recsys__mem *m, const char *data, size_t len,
                                           const char *id, uint64_t *hash,
                                           recsys_item **gen_item);

#endif
