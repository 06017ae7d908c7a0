/*
 * recsys.h - the public interface of librecsys, an embeddable recommender library.
 *
 * This is the only public header. It is C99 and C++ clean and includes only <stddef.h> and
 * <stdint.h>. Every object is an opaque handle; every fallible function returns a
 * recsys_status and leaves a message for recsys_last_error(); the library frees what it
 * returns. See README.md for a walk-through and the ownership and threading rules.
 *
 * Copyright (c) 2026 the librecsys authors. MIT licence (see LICENSE).
 */
#ifndef RECSYS_H
#define RECSYS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/** @defgroup attrs Export and attribute macros
 *  @{ */

#if defined(_WIN32) && !defined(RECSYS_STATIC)
#  ifdef RECSYS_BUILDING
#    define RECSYS_API __declspec(dllexport)
#  else
#    define RECSYS_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define RECSYS_API __attribute__((visibility("default")))
#else
#  define RECSYS_API
#endif

#if defined(__GNUC__) && (__GNUC__ > 3 || (__GNUC__ == 3 && __GNUC_MINOR__ >= 4))
#  define RECSYS_WARN_UNUSED __attribute__((warn_unused_result))
#else
#  define RECSYS_WARN_UNUSED
#endif

#if defined(__GNUC__) && (__GNUC__ > 4 || (__GNUC__ == 4 && __GNUC_MINOR__ >= 5))
#  define RECSYS_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#  define RECSYS_DEPRECATED(msg)
#endif

/** @} */

/* ------------------------------------------------------------------------------------------ */
/** @defgroup version Version
 *  The one source of truth for the version; the Makefile reads these three lines.
 *  @{ */

#define RECSYS_VERSION_MAJOR 0
#define RECSYS_VERSION_MINOR 2
#define RECSYS_VERSION_PATCH 0
#define RECSYS_VERSION_NUMBER \
    (RECSYS_VERSION_MAJOR * 10000 + RECSYS_VERSION_MINOR * 100 + RECSYS_VERSION_PATCH)
#define RECSYS_VERSION_STRING "0.2.0"

/**
 * Returns the version of the linked library as MAJOR*10000+MINOR*100+PATCH, so that a host
 * can check that the header it compiled against matches the binary it runs with.
 * @return the runtime version number.
 * Thread-safe. @since 0.1
 */
RECSYS_API int recsys_version_number(void);

/**
 * Returns the version of the linked library as a static string such as "0.1.0".
 * @return static text, never NULL. Thread-safe. @since 0.1
 */
RECSYS_API const char *recsys_version_string(void);

/** @} */

/* ------------------------------------------------------------------------------------------ */
/** @defgroup errors Status codes and errors
 *  Every fallible function returns a recsys_status. The list is append-only; retired codes
 *  keep their numbers.
 *  @{ */

typedef enum recsys_status {
    RECSYS_OK = 0,
    RECSYS_E_INVALID_ARG = 1, /**< a NULL, out-of-range, malformed or wrongly typed argument */
    RECSYS_E_NOMEM = 2,       /**< an allocation failed; nothing was changed */
    RECSYS_E_NOT_FOUND = 3,   /**< an unknown item, user, option or plug-in */
    RECSYS_E_UNSUPPORTED = 4, /**< an unknown option, or a record with fields this build lacks */
    RECSYS_E_STATE = 5,       /**< misuse: a call made in the wrong order or state */
    RECSYS_E_IO = 6,          /**< the operating system refused a read, write or sync */
    RECSYS_E_CORRUPT = 7,     /**< stored data failed its checksum or could not be decoded */
    RECSYS_E_BUDGET = 8,      /**< a call, token or time budget is spent */
    RECSYS_E_TIMEOUT = 9,     /**< a deadline passed */
    RECSYS_E_CALLBACK = 10,   /**< a host plug-in failed without a more specific code */
    RECSYS_E_INTERNAL = 11,   /**< a bug in the library; please report it */
    RECSYS_E_TOO_SMALL = 12,  /**< a caller buffer is too small; *needed says how large */
    RECSYS_E_EXISTS = 13      /**< a name is already registered */
} recsys_status;

/**
 * Returns the message of the last failure of a recsys_* call on this thread: what failed,
 * the bad value and what was expected. Every other entry point clears it on entry.
 * @return never NULL (empty when the last call succeeded, except for a warning that
 *         recsys_refresh() and recsys_engine_new() may leave with RECSYS_OK); at most 512
 *         bytes; valid until the next recsys_* call on this thread.
 * Thread-safe (the message is thread-local). @since 0.1
 */
RECSYS_API const char *recsys_last_error(void);

/**
 * Returns the status code that goes with recsys_last_error() on this thread.
 * @return RECSYS_OK when the last call succeeded (but see recsys_refresh()'s warning).
 * Thread-safe. @since 0.1
 */
RECSYS_API recsys_status recsys_last_status(void);

/**
 * Returns static text naming a status code ("invalid argument", ...).
 * @param[in] status any value; unknown values give "unknown status".
 * @return static text, never NULL. Thread-safe. @since 0.1
 */
RECSYS_API const char *recsys_status_str(recsys_status status);

/**
 * Sets the thread's last error. For plug-ins: a method that fails may call this to give a
 * specific code and message, which the pipeline keeps and prefixes with the plug-in's name.
 * The message is formatted from fmt with no varargs: fmt is copied as is (at most 511 bytes).
 * @param[in] status the code to report (not RECSYS_OK).
 * @param[in] message the text; NULL means the status text.
 * @return status, so a plug-in can write `return recsys_error_set(RECSYS_E_IO, "...");`.
 * Thread-safe. @since 0.1
 */
RECSYS_API recsys_status recsys_error_set(recsys_status status, const char *message);

/** @} */

/* ------------------------------------------------------------------------------------------ */
/** @defgroup alloc Allocator and record initialisation
 *  @{ */

/**
 * Zero-fills a vtable or record and sets its struct_size, then assigns the named members:
 * `RECSYS_INIT(recsys_source_vtable, vt, .ctx = me, .retrieve = my_retrieve);`
 * Plain C99 (designated initialisers, no GNU extensions). C++11 and ctypes use the
 * recsys_*_init() functions instead.
 */
#define RECSYS_INIT(type, name, ...) \
    type name = { (uint32_t)sizeof(type), __VA_ARGS__ }

/**
 * A host allocator, set per engine in recsys_engine_opts. All three functions are required;
 * ctx is passed back unchanged. malloc_fn and realloc_fn return NULL on failure; the library
 * then fails the call with RECSYS_E_NOMEM and changes nothing. Called from any thread that
 * calls into the engine, so they must be thread-safe.
 */
typedef struct recsys_allocator {
    uint32_t struct_size; /**< sizeof(recsys_allocator) */
    uint32_t reserved0;   /**< must be 0 */
    void *ctx;            /**< passed back to every function */
    void *(*malloc_fn)(void *ctx, size_t size);
    void *(*realloc_fn)(void *ctx, void *ptr, size_t size);
    void (*free_fn)(void *ctx, void *ptr);
    uint64_t reserved;    /**< must be 0 */
    /* above: since 0.1 */
} recsys_allocator;

/**
 * Frees a string the library returned (recsys_catalog_get_json() and the like).
 * @param[in] s the string, or NULL. Thread-safe. @since 0.1
 */
RECSYS_API void recsys_string_free(char *s);

/** @} */

/* ------------------------------------------------------------------------------------------ */
/** @defgroup handles Opaque handles
 *  @{ */

typedef struct recsys_engine recsys_engine;       /**< one recommender: catalog, users, plug-ins */
typedef struct recsys_request recsys_request;     /**< one recommendation request */
typedef struct recsys_result recsys_result;       /**< the answer to one request */
typedef struct recsys_item_spec recsys_item_spec; /**< a builder for one catalog item */
typedef struct recsys_user_spec recsys_user_spec; /**< a builder for one user profile */
typedef struct recsys_item recsys_item;           /**< read-only view of a catalog item */
typedef struct recsys_query recsys_query;         /**< what a plug-in sees of a request */
typedef struct recsys_candidates recsys_candidates; /**< the candidate set a stage works on */
typedef struct recsys_store_value recsys_store_value; /**< sink for a value a store reads */
typedef struct recsys_llm_call recsys_llm_call;   /**< one call to the host's LLM */
typedef struct recsys_llm_reply recsys_llm_reply; /**< sink for the LLM's answer */
typedef struct recsys_vector_sink recsys_vector_sink; /**< sink for an embedder's vector */
typedef struct recsys_conversation recsys_conversation; /**< a shopper's multi-turn request */
typedef struct recsys_turn recsys_turn;           /**< the library's answer to one turn */

/** @} */

/* ------------------------------------------------------------------------------------------ */
/** @defgroup options Options
 *  Enum keys with typed setters, spaced by stage (100s engine, 200s retrieval, 300s ranking,
 *  400s filters, 500s diversity, 600s LLM, 700s explanations, 800s online evaluation and
 *  experiments). Never renumbered or reused.
 *  The option table is readable through recsys_option_info().
 *  @{ */

typedef enum recsys_option {
    RECSYS_OPT_TOP_N = 101,              /**< int: results per request (default 10) */
    RECSYS_OPT_MAX_JSON_BYTES = 102,     /**< int: largest JSON text accepted */
    RECSYS_OPT_LOG_IMPRESSIONS = 103,    /**< int 0/1: log an impression per result item */
    RECSYS_OPT_NOW = 104,                /**< int: the clock in Unix seconds; 0 = wall clock */
    RECSYS_OPT_LONG_HALF_LIFE_DAYS = 105, /**< double: decay of long-term preferences */
    RECSYS_OPT_SESSION_GAP_S = 106,      /**< int: idle seconds that end a session */
    RECSYS_OPT_HISTORY_MAX = 107,        /**< int: events kept per user in memory */
    RECSYS_OPT_CANDIDATES_PER_SOURCE = 201, /**< int: cap on each source's candidates */
    RECSYS_OPT_POPULAR_HALF_LIFE_DAYS = 202, /**< double: decay of popularity counts */
    RECSYS_OPT_TRENDING_HALF_LIFE_H = 203, /**< double: decay of the trending window */
    RECSYS_OPT_BM25_K1 = 204,            /**< double: BM25 term saturation */
    RECSYS_OPT_BM25_B = 205,             /**< double: BM25 length normalisation */
    RECSYS_OPT_ITEMKNN_K = 206,          /**< int: neighbours kept per item. @since 0.2 */
    RECSYS_OPT_ITEMKNN_SHRINK = 207,     /**< double: cosine shrinkage. @since 0.2 */
    RECSYS_OPT_RP3_ALPHA = 208,          /**< double: RP3beta transition exponent. @since 0.2 */
    RECSYS_OPT_RP3_BETA = 209,           /**< double: RP3beta popularity penalty. @since 0.2 */
    RECSYS_OPT_RP3_K = 210,              /**< int: RP3beta neighbours per item. @since 0.2 */
    RECSYS_OPT_EASE_LAMBDA = 211,        /**< double: EASE L2 regularisation. @since 0.2 */
    RECSYS_OPT_EASE_MAX_ITEMS = 212,     /**< int: largest catalog EASE trains on. @since 0.2 */
    RECSYS_OPT_IALS_FACTORS = 213,       /**< int: iALS latent factors. @since 0.2 */
    RECSYS_OPT_IALS_ITERATIONS = 214,    /**< int: iALS alternating sweeps. @since 0.2 */
    RECSYS_OPT_IALS_REG = 215,           /**< double: iALS L2 regularisation. @since 0.2 */
    RECSYS_OPT_IALS_ALPHA = 216,         /**< double: iALS confidence scale. @since 0.2 */
    RECSYS_OPT_TRAIN_THREADS = 217,      /**< int: threads for training (0 = all cores). @since 0.2 */
    RECSYS_OPT_VECTOR_INDEX = 218,       /**< str: faiss index factory string ("" = automatic). @since 0.2 */
    RECSYS_OPT_VECTOR_EXACT_MAX = 219,   /**< int: largest catalog searched exactly. @since 0.2 */
    RECSYS_OPT_VECTOR_NPROBE = 220,      /**< int: IVF lists probed per query. @since 0.2 */
    RECSYS_OPT_RETRIEVE_BUDGET_US = 221, /**< int: microseconds the sources may take per
                                              request (0 = no limit). @since 0.2 */
    RECSYS_OPT_RETRIEVE_THREADS = 222,   /**< int: threads one request's sources run on, the
                                              caller's included (0 = up to 2 when the machine
                                              has them; 1 = the caller alone). @since 0.2 */
    RECSYS_OPT_CONTENT_DIM = 223,        /**< int: dimension of the content source's hashed
                                              text vectors (0 = none). @since 0.2 */
    RECSYS_OPT_CONTENT_VECTOR_WEIGHT = 224, /**< double: weight of the text vectors' cosine
                                              in the content source's score (0 = BM25
                                              only). @since 0.2 */
    RECSYS_OPT_CONTENT_FUSE_DEPTH = 225, /**< int: hits BM25 and the text vectors each bring
                                              to the content source's fusion. @since 0.2 */
    RECSYS_OPT_CONTENT_NPROBE = 226,     /**< int: IVF lists the content source's text
                                              vectors probe per query. @since 0.2 */
    RECSYS_OPT_RANK_W_SOURCE = 301,      /**< double: weight of the merged source score */
    RECSYS_OPT_RANK_W_CATEGORY = 302,    /**< double: weight of category affinity */
    RECSYS_OPT_RANK_W_TAG = 303,         /**< double: weight of tag affinity */
    RECSYS_OPT_RANK_W_SESSION = 304,     /**< double: weight of session (short-term) affinity */
    RECSYS_OPT_RANK_LTR_TREES = 305,     /**< int: boosting rounds of the "ltr" ranker. @since 0.2 */
    RECSYS_OPT_RANK_LTR_DEPTH = 306,     /**< int: tree depth of the "ltr" ranker. @since 0.2 */
    RECSYS_OPT_RANK_LTR_ETA = 307,       /**< double: learning rate of the "ltr" ranker. @since 0.2 */
    RECSYS_OPT_RANK_LINEAR_ALPHA = 308,  /**< double: FTRL-Proximal alpha ("linear"). @since 0.2 */
    RECSYS_OPT_RANK_LINEAR_L1 = 309,     /**< double: FTRL-Proximal L1 ("linear"). @since 0.2 */
    RECSYS_OPT_RANK_LINEAR_L2 = 310,     /**< double: FTRL-Proximal L2 ("linear"). @since 0.2 */
    RECSYS_OPT_RANK_LABEL_IMPRESSION = 311, /**< double: weight of an impression without action
                                              (a negative example). @since 0.2 */
    RECSYS_OPT_RANK_LABEL_CLICK = 312,   /**< double: label weight of a click. @since 0.2 */
    RECSYS_OPT_RANK_LABEL_VIEW = 313,    /**< double: label weight of a view. @since 0.2 */
    RECSYS_OPT_RANK_LABEL_LIKE = 314,    /**< double: label weight of a like. @since 0.2 */
    RECSYS_OPT_RANK_LABEL_CART = 315,    /**< double: label weight of an add-to-cart. @since 0.2 */
    RECSYS_OPT_RANK_LABEL_PURCHASE = 316, /**< double: label weight of a purchase. @since 0.2 */
    RECSYS_OPT_RANK_LABEL_WATCH = 317,   /**< double: label weight of watch time / dwell /
                                              rating. @since 0.2 */
    RECSYS_OPT_RANK_LINEAR_LEARN = 319,  /**< int 0/1: the "linear" ranker learns online from
                                              the feedback to the lists it ranked. @since 0.2 */
    RECSYS_OPT_FILTER_SEEN = 401,        /**< int 0/1: drop items the user already consumed */
    RECSYS_OPT_FILTER_SHOWN_WINDOW_S = 402, /**< int: drop items shown to the user within this
                                              many seconds (no-repeat rotation; 0 = off). @since 0.2 */
    RECSYS_OPT_DIVERSIFY_METHOD = 501,   /**< int: 0 none, 1 MMR, 2 DPP. @since 0.2 */
    RECSYS_OPT_DIVERSIFY_LAMBDA = 502,   /**< double 0..1: relevance share of MMR and DPP
                                              (1 = relevance only). @since 0.2 */
    RECSYS_OPT_DIVERSIFY_WINDOW = 503,   /**< int: best candidates a diversifier chooses from. @since 0.2 */
    RECSYS_OPT_DIVERSIFY_CATEGORY_CAP = 504, /**< int: most items per category in a list (0 = off). @since 0.2 */
    RECSYS_OPT_DIVERSIFY_PROVIDER_CAP = 505, /**< int: most items per provider in a list (0 = off). @since 0.2 */
    RECSYS_OPT_DIVERSIFY_CALIBRATION = 506, /**< double 0..1: weight of calibrating the category
                                              mix to the user's history (0 = off). @since 0.2 */
    RECSYS_OPT_DIVERSIFY_EXPLORE_SLOTS = 507, /**< int: slots reserved for new items with little
                                              feedback (0 = off). @since 0.2 */
    RECSYS_OPT_DIVERSIFY_EXPLORE_MAX_EVENTS = 508, /**< double: an item with at most this decayed
                                              popularity counts as new for exploration. @since 0.2 */
    RECSYS_OPT_LLM_CALLS_PER_REQUEST = 601, /**< int: most LLM calls one request may make
                                              (0 = never call the LLM). @since 0.2 */
    RECSYS_OPT_LLM_TOKENS_PER_REQUEST = 602, /**< int: most LLM tokens (prompt + reply) one
                                              request may spend. @since 0.2 */
    RECSYS_OPT_LLM_DEADLINE_MS = 603,    /**< int: milliseconds a request's LLM work may take;
                                              after it the pipeline goes on without the LLM. @since 0.2 */
    RECSYS_OPT_LLM_RERANK_N = 604,       /**< int: top N the LLM re-ranks after ranking and
                                              diversity (0 = no LLM re-ranking). @since 0.2 */
    RECSYS_OPT_LLM_RERANK_WEIGHT = 605,  /**< double 0..1: weight of the LLM's order against
                                              the model's in the final order: items sorted by
                                              (1 - w) * model rank + w * LLM rank (0 = the
                                              model's order, nothing asked). @since 0.2 */
    RECSYS_OPT_LLM_PROFILE_FIELDS = 606, /**< int bit mask: the user's profile fields prompts
                                              may carry: 1 stated interests, 2 titles of recent
                                              history items, 4 age, 8 region (default 3; the
                                              user id never). @since 0.2 */
    RECSYS_OPT_LLM_CACHE_BYTES = 607,    /**< int: memory of the engine's LLM reply cache
                                              (LRU by a hash of the whole call; 0 = no cache;
                                              default 4 MiB). @since 0.2 */
    RECSYS_OPT_LLM_BREAKER_FAILURES = 608, /**< int: consecutive LLM failures, timeouts or
                                              rejected replies that open the circuit breaker
                                              (0 = no breaker; default 5). @since 0.2 */
    RECSYS_OPT_LLM_BREAKER_COOLDOWN_MS = 609, /**< int: milliseconds an open breaker skips the
                                              LLM before one trial call. @since 0.2 */
    RECSYS_OPT_LLM_CALLS_PER_MINUTE = 610, /**< int: most LLM calls the engine makes in any
                                              60 s (0 = no limit). @since 0.2 */
    RECSYS_OPT_LLM_TOKENS_PER_MINUTE = 611, /**< int: most LLM tokens the engine spends in
                                              any 60 s (0 = no limit). @since 0.2 */
    RECSYS_OPT_LLM_RERANK_WINDOW = 612,  /**< int: items per re-ranking call; a longer list
                                              is re-ranked in sliding windows. @since 0.2 */
    RECSYS_OPT_LLM_RERANK_STRIDE = 613,  /**< int: step between re-ranking windows (at most
                                              the window). @since 0.2 */
    RECSYS_OPT_LLM_RERANK_SHUFFLES = 614, /**< int: calls per window, each with the items in
                                              another order, merged by Borda count (position
                                              bias control; default 1). @since 0.2 */
    RECSYS_OPT_LLM_WARM_EVENTS = 615,    /**< int: the LLM path runs only for users with
                                              fewer events than this (cold users; 0 = every
                                              user). @since 0.2 */
    RECSYS_OPT_LLM_INTENT = 630,         /**< int 0/1: a request's query text is read as
                                              constraints that filter the results (category,
                                              numeric ranges, yes/no attributes, excluded
                                              tags; a tag it names only ranks): rules
                                              first, the LLM only when they leave it
                                              ambiguous (default 1). @since 0.2 */
    RECSYS_OPT_CLARIFY_MIN_CANDIDATES = 631, /**< int: a conversation asks a clarifying
                                              question only while more candidates than this
                                              remain (default 5). @since 0.2 */
    RECSYS_OPT_CLARIFY_MAX_QUESTIONS = 632, /**< int: most clarifying questions one
                                              conversation asks (0 = none; default 3). @since 0.2 */
    RECSYS_OPT_CLARIFY_FACETS = 633,     /**< str: the facets a conversation may ask about,
                                              comma-separated: attribute names, "category",
                                              "tag:<tag>" ("" = every attribute, the category
                                              and the candidates' tags). @since 0.2 */
    RECSYS_OPT_CLARIFY_MIN_GAIN = 634,   /**< double: least expected information gain, in
                                              bits, worth a question (default 0.5). @since 0.2 */
    RECSYS_OPT_ENRICH_ITEMS_PER_CALL = 650, /**< int: items recsys_catalog_enrich() sends in
                                              one LLM call (default 8). @since 0.2 */
    RECSYS_OPT_ENRICH_CALLS = 651,       /**< int: most LLM calls one recsys_catalog_enrich()
                                              makes (0 = none: only stored results are
                                              applied; default 100). @since 0.2 */
    RECSYS_OPT_ENRICH_TOKENS = 652,      /**< int: most LLM tokens (prompt and reply) one
                                              recsys_catalog_enrich() spends. @since 0.2 */
    RECSYS_OPT_ENRICH_DEADLINE_MS = 653, /**< int: milliseconds one recsys_catalog_enrich()
                                              may spend on the LLM (0 = no limit). @since 0.2 */
    RECSYS_OPT_ENRICH_CALL_DEADLINE_MS = 654, /**< int: milliseconds one enrichment call to
                                              the LLM may take. @since 0.2 */
    RECSYS_OPT_ENRICH_MAX_TOKENS = 655,  /**< int: reply token limit of one enrichment call.
                                              @since 0.2 */
    RECSYS_OPT_ENRICH_MAX_TAGS = 656,    /**< int: generated tags kept per item (0 = none
                                              asked; default 8). @since 0.2 */
    RECSYS_OPT_ENRICH_NEW_TAGS = 657,    /**< int 0/1: keep generated tags that are not in
                                              the catalog's tag vocabulary (default 0). @since 0.2 */
    RECSYS_OPT_ENRICH_SUMMARY_MAX = 658, /**< int: bytes of the generated summary (0 = none
                                              asked; default 300). @since 0.2 */
    RECSYS_OPT_ENRICH_ATTRIBUTES = 659,  /**< str: attributes the LLM may extract,
                                              "name[:num|str|bool],..." ("" = the catalog's
                                              own attribute names and types). @since 0.2 */
    RECSYS_OPT_EXPLAIN = 701,            /**< int 0/1: attach explanations to results */
    RECSYS_OPT_EXPLAIN_LLM = 702,        /**< int 0/1: the LLM writes the explanations, each
                                              checked against the item and the user's history
                                              (a failed one is replaced by the template). @since 0.2 */
    RECSYS_OPT_ONLINE_ATTRIBUTION_WINDOW_S = 801, /**< int: seconds after an impression within
                                              which feedback without a matching request id is
                                              attributed to it (online metrics). @since 0.2 */
    RECSYS_OPT_ONLINE_RETURN_DAYS = 802, /**< int: horizon of the return proxy: a user returns
                                              when a second session starts within this many
                                              days of the first's end. @since 0.2 */
    RECSYS_OPT_ONLINE_REVENUE_ATTRIBUTE = 803, /**< str: numeric item attribute that is a
                                              purchase's revenue when the event's value is 0
                                              ("" = the event value only). @since 0.2 */
    RECSYS_OPT_EXPERIMENT_BOOTSTRAP = 804, /**< int: bootstrap replicates of the experiment
                                              report's intervals (0 = the delta method). @since 0.2 */
    RECSYS_OPT_EXPERIMENT_CONFIDENCE = 805, /**< double: confidence level of the experiment
                                              report's intervals. @since 0.2 */
    RECSYS_OPT_EXPERIMENT_SRM_ALPHA = 806, /**< double: the sample-ratio check fails below this
                                              p-value. @since 0.2 */
    RECSYS_OPT_ONLINE_LLM_COST_PER_1K_TOKENS = 807, /**< double: the price of 1000 LLM tokens
                                              (prompt and completion) in the host's currency:
                                              the online metrics' llm_cost_per_request (0 = no
                                              price, the cost reads 0). @since 0.2 */
    RECSYS_OPT_RANK_OBJ_MAIN = 811,      /**< double: weight of the "linear" ranker's main model
                                              (every outcome blended by the RECSYS_OPT_RANK_LABEL_*
                                              weights) in its score (default 1). @since 0.2 */
    RECSYS_OPT_RANK_OBJ_CLICK = 812,     /**< double: weight of the predicted click (or view)
                                              probability in the "linear" score. @since 0.2 */
    RECSYS_OPT_RANK_OBJ_PURCHASE = 813,  /**< double: weight of the predicted purchase
                                              probability. @since 0.2 */
    RECSYS_OPT_RANK_OBJ_WATCH = 814,     /**< double: weight of the predicted probability of
                                              watch time or dwell. @since 0.2 */
    RECSYS_OPT_RANK_OBJ_RATING = 815,    /**< double: weight of the predicted probability of a
                                              like or a rating of 4 or more. @since 0.2 */
    RECSYS_OPT_RANK_OBJ_SKIP = 816,      /**< double: weight of the predicted skip probability
                                              (negative to avoid skips). @since 0.2 */
    RECSYS_OPT_RANK_OBJ_DISLIKE = 817    /**< double: weight of the predicted dislike
                                              probability (negative to avoid them). @since 0.2 */
} recsys_option;

typedef enum recsys_option_type {
    RECSYS_OPTTYPE_INT = 1,
    RECSYS_OPTTYPE_DOUBLE = 2,
    RECSYS_OPTTYPE_STR = 3
} recsys_option_type;

/** One row of the option table, filled by recsys_option_info(). */
typedef struct recsys_option_desc {
    uint32_t struct_size;   /**< set by the caller to sizeof(recsys_option_desc) */
    int32_t key;            /**< the recsys_option value */
    int32_t type;           /**< a recsys_option_type */
    uint32_t reserved0;
    const char *name;       /**< dotted name, e.g. "rank.w_category"; static */
    const char *doc;        /**< one line; static */
    double min_value;       /**< inclusive bounds for numeric options */
    double max_value;
    double default_value;   /**< numeric default */
    const char *default_str; /**< string default, or NULL */
    uint64_t reserved;
    /* above: since 0.1 */
} recsys_option_desc;

/**
 * Describes one option.
 * @param[in] key an option key.
 * @param[out] out the row; out->struct_size must be set by the caller.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG for NULL or a too small struct_size;
 *         RECSYS_E_UNSUPPORTED for an unknown key.
 * Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_option_info(int32_t key, recsys_option_desc *out);

/**
 * Finds an option key by its dotted name ("rank.w_category").
 * @param[in] name the name. @param[out] key the key.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG for NULL; RECSYS_E_UNSUPPORTED for an unknown name.
 * Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_option_by_name(const char *name, int32_t *key);

/**
 * Iterates over the option table in key order: pass 0 to get the first key.
 * @param[in] key 0 or a valid key. @param[out] next the following key.
 * @return RECSYS_OK; RECSYS_E_NOT_FOUND after the last key; RECSYS_E_INVALID_ARG for NULL;
 *         RECSYS_E_UNSUPPORTED for an unknown key. Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_option_next(int32_t key, int32_t *next);

/** @} */

/* ------------------------------------------------------------------------------------------ */
/** @defgroup data Data model records
 *  @{ */

/** Event types. Append-only. */
typedef enum recsys_event_type {
    RECSYS_EVENT_IMPRESSION = 1,  /**< an item was shown (logged by recsys_recommend) */
    RECSYS_EVENT_VIEW = 2,
    RECSYS_EVENT_CLICK = 3,
    RECSYS_EVENT_LIKE = 4,
    RECSYS_EVENT_DISLIKE = 5,     /**< negative feedback */
    RECSYS_EVENT_ADD_TO_CART = 6,
    RECSYS_EVENT_PURCHASE = 7,
    RECSYS_EVENT_SKIP = 8,
    RECSYS_EVENT_RATING = 9,      /**< value: the rating */
    RECSYS_EVENT_WATCH_TIME = 10, /**< value: seconds watched */
    RECSYS_EVENT_DWELL = 11,      /**< value: seconds on the item */
    RECSYS_EVENT_SEARCH = 12      /**< query: the search text; item optional */
} recsys_event_type;

/**
 * One feedback event, the typed form of the JSON
 * `{"user_id":"u1","item_id":"i9","type":"click","value":1,"timestamp":1700000000,
 *   "request_id":"r-17","position":3,"query":"..."}`.
 * Strings are borrowed for the duration of the call that takes the record.
 */
typedef struct recsys_event {
    uint32_t struct_size;   /**< sizeof(recsys_event) */
    int32_t type;           /**< a recsys_event_type */
    int64_t timestamp;      /**< Unix seconds; 0 means "now" (RECSYS_OPT_NOW or the clock);
                                 more than a day after the clock is refused */
    double value;           /**< rating, seconds watched...; 0 when the type has no value */
    const char *user_id;    /**< required */
    const char *item_id;    /**< required except for RECSYS_EVENT_SEARCH */
    const char *request_id; /**< the recommendation this answers, or NULL */
    const char *query;      /**< search text for RECSYS_EVENT_SEARCH, else NULL */
    int32_t position;       /**< 0-based position in the list shown, or -1 */
    uint32_t reserved0;
    uint64_t reserved;
    /* above: since 0.1 */
    const char *sources;    /**< impressions: comma-separated names of the sources that
                                 proposed the item, in provenance order ("als,popular");
                                 NULL otherwise or when unknown. A caller built against 0.1
                                 (a smaller struct_size) reads as NULL. @since 0.2 */
    const char *ranker;     /**< impressions: the ranker that ordered the list, or NULL
                                 (none ran, or unknown). @since 0.2 */
    uint32_t llm_calls;     /**< impressions: the calls the request made to the host's LLM
                                 (recsys_result_llm_stats), the same on each of its
                                 impressions; 0 otherwise. @since 0.2 */
    uint32_t llm_tokens;    /**< impressions: the tokens (prompt and completion) those calls
                                 spent; 0 otherwise. @since 0.2 */
    /* above: since 0.2 */
} recsys_event;

/**
 * Zero-fills an event and sets struct_size and position = -1 (for C++ and ctypes).
 * @param[out] ev the record; NULL is ignored. Thread-safe. @since 0.1
 */
RECSYS_API void recsys_event_init(recsys_event *ev);

/**
 * Returns the event type's JSON name ("click", "add_to_cart", ...).
 * @return static text, or NULL for an unknown type. Thread-safe. @since 0.1
 */
RECSYS_API const char *recsys_event_type_name(int32_t type);

/** Item fields set by recsys_item_spec_set_text(). */
typedef enum recsys_item_field {
    RECSYS_FIELD_TITLE = 1,
    RECSYS_FIELD_DESCRIPTION = 2,
    RECSYS_FIELD_CATEGORY = 3,
    RECSYS_FIELD_PROVIDER = 4
} recsys_item_field;

/**
 * Starts building an item.
 * @param[in] item_id non-empty UTF-8, at most 256 bytes; copied.
 * @param[out] out the builder, freed with recsys_item_spec_free(); NULL on failure.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_item_spec_new(const char *item_id,
                                                                 recsys_item_spec **out);
/** Frees a builder; NULL is ignored. Thread-safe for distinct builders. @since 0.1 */
RECSYS_API void recsys_item_spec_free(recsys_item_spec *spec);
/**
 * Sets the title, description, category or provider (valid UTF-8; copied; replaces).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG for NULL, an unknown field or invalid UTF-8;
 *         RECSYS_E_NOMEM. Not thread-safe on one builder. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_item_spec_set_text(recsys_item_spec *spec,
                                                                      int32_t field,
                                                                      const char *text);
/**
 * Adds a tag (copied; a repeated tag is kept once).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_item_spec_add_tag(recsys_item_spec *spec,
                                                                     const char *tag);
/**
 * Adds a region in which the item may be shown (none means everywhere).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_item_spec_add_region(recsys_item_spec *spec,
                                                                        const char *region);
/**
 * Sets availability (default 1), minimum age (default 0, range 0..150) and creation time
 * (Unix seconds, default 0 = unknown).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG for NULL or out-of-range values. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_item_spec_set_flags(recsys_item_spec *spec,
                                                                       int available,
                                                                       int min_age,
                                                                       int64_t created);
/**
 * Sets a numeric attribute such as "price" or "rating" (finite values only).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_item_spec_set_number(recsys_item_spec *spec,
                                                                        const char *name,
                                                                        double value);
/**
 * Sets a string attribute such as "gpu" = "RTX 4070".
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_item_spec_set_string(recsys_item_spec *spec,
                                                                        const char *name,
                                                                        const char *value);
/**
 * Sets a boolean attribute such as "refurbished".
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_item_spec_set_bool(recsys_item_spec *spec,
                                                                      const char *name,
                                                                      int value);
/**
 * Sets a named embedding ("default", "text", "image", ...); the values are copied.
 * @param[in] dim 1..4096; every value finite.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_item_spec_set_embedding(recsys_item_spec *spec,
                                                                           const char *name,
                                                                           const float *values,
                                                                           size_t dim);

/** User lists set by recsys_user_spec_add_item(). */
typedef enum recsys_user_list {
    RECSYS_LIST_RECENT_VIEWS = 1,
    RECSYS_LIST_PURCHASED = 2,
    RECSYS_LIST_NEGATIVE = 3
} recsys_user_list;

/**
 * Starts building a user profile.
 * @param[in] user_id non-empty UTF-8, at most 256 bytes; copied.
 * @param[out] out the builder, freed with recsys_user_spec_free(); NULL on failure.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_user_spec_new(const char *user_id,
                                                                 recsys_user_spec **out);
/** Frees a builder; NULL is ignored. @since 0.1 */
RECSYS_API void recsys_user_spec_free(recsys_user_spec *spec);
/**
 * Adds an explicit interest ("machine learning"); copied.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_user_spec_add_interest(recsys_user_spec *spec,
                                                                          const char *interest);
/**
 * Sets the age (-1 = unknown, else 0..150) and region (NULL = unknown).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_user_spec_set_demographics(recsys_user_spec *spec,
                                                                              int age,
                                                                              const char *region);
/**
 * Adds an item id to one of the profile's explicit lists (recent views, purchased, negative
 * feedback). The ids must name catalog items when the profile is upserted.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_user_spec_add_item(recsys_user_spec *spec,
                                                                      int32_t list,
                                                                      const char *item_id);

/** @} */

/* ------------------------------------------------------------------------------------------ */
/** @defgroup plugins Plug-in vtables
 *  Every vtable begins { struct_size, ctx, destroy } followed by its methods; ctx is the
 *  first argument of every method. Registration validates, copies min(struct_size, ours)
 *  bytes, and from then on owns ctx: destroy(ctx) runs exactly once, when the engine is
 *  freed or the plug-in replaced, and also when registration fails. Methods run
 *  synchronously on the thread that called into the engine, possibly on several threads at
 *  once; they must not call any recsys_* function that takes the engine (that deadlocks),
 *  but may call the view, sink and recsys_error_set functions. A method returns a status;
 *  the pipeline prefixes its message with the plug-in's name and reports RECSYS_E_CALLBACK
 *  unless the plug-in set a more specific code.
 *  @{ */

/* ---- read-only views handed to plug-ins (valid only during the call) ---- */

/** Returns the item's id. Never NULL. @since 0.1 */
RECSYS_API const char *recsys_item_id(const recsys_item *item);
/** Returns the title, description, category or provider; "" when unset. @since 0.1 */
RECSYS_API const char *recsys_item_text(const recsys_item *item, int32_t field);
/** Returns the number of tags. @since 0.1 */
RECSYS_API size_t recsys_item_tag_count(const recsys_item *item);
/** Returns tag i (0-based), or NULL when out of range. @since 0.1 */
RECSYS_API const char *recsys_item_tag(const recsys_item *item, size_t i);
/** Returns 1 if the item is available, else 0. @since 0.1 */
RECSYS_API int recsys_item_available(const recsys_item *item);
/** Returns the minimum age (0 = none). @since 0.1 */
RECSYS_API int recsys_item_min_age(const recsys_item *item);
/**
 * Reads a numeric attribute.
 * @return RECSYS_OK; RECSYS_E_NOT_FOUND when absent; RECSYS_E_INVALID_ARG for NULL or
 *         when the attribute is not numeric. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_item_number(const recsys_item *item,
                                                               const char *name, double *out);

/** Returns the requesting user's id, or NULL for an anonymous request. @since 0.1 */
RECSYS_API const char *recsys_query_user_id(const recsys_query *q);
/** Returns the request's free-text query, or NULL. @since 0.1 */
RECSYS_API const char *recsys_query_text(const recsys_query *q);
/** Returns how many candidates a source should return at most. @since 0.1 */
RECSYS_API size_t recsys_query_limit(const recsys_query *q);
/** Returns the request's clock in Unix seconds. @since 0.1 */
RECSYS_API int64_t recsys_query_now(const recsys_query *q);
/** Returns the number of events in the user's history (most recent last). @since 0.1 */
RECSYS_API size_t recsys_query_history_count(const recsys_query *q);
/**
 * Reads history event i of the requesting user.
 * @param[out] item the item (may be NULL for a search); @param[out] type; @param[out] ts;
 *             each out pointer may be NULL.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG for NULL q or i out of range. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_query_history(const recsys_query *q, size_t i,
                                                                 const recsys_item **item,
                                                                 int32_t *type, int64_t *ts);
/**
 * Returns the anchor item of a "more like this" request (recsys_request_set_anchor()), or NULL.
 * @since 0.2
 */
RECSYS_API const recsys_item *recsys_query_anchor(const recsys_query *q);
/**
 * Looks an item up by id. @return the item, or NULL when unknown. @since 0.1
 */
RECSYS_API const recsys_item *recsys_query_item(const recsys_query *q, const char *item_id);
/**
 * Reads the effective value of a numeric option for this request (request override, else the
 * engine's value). @return RECSYS_OK; RECSYS_E_UNSUPPORTED for an unknown key;
 * RECSYS_E_INVALID_ARG for a string option or NULL. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_query_option(const recsys_query *q, int32_t key,
                                                                double *out);

/**
 * Adds a candidate from a source. A repeated item keeps the higher score.
 * Only a source may add, to the list it is handed (filters, rankers and diversifiers get
 * RECSYS_E_STATE: nothing may enter the list after the filters).
 * @param[in] score finite. @return RECSYS_OK; RECSYS_E_NOT_FOUND for an unknown item id;
 *         RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM; RECSYS_E_BUDGET once the limit is reached;
 *         RECSYS_E_STATE outside a source.
 * @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_candidates_add(recsys_candidates *c,
                                                                  const char *item_id,
                                                                  double score);
/**
 * Returns the number of candidates in the set. While a plug-in runs the count and the indices
 * are stable; candidates it drops are removed after it returns. @since 0.1
 */
RECSYS_API size_t recsys_candidates_count(const recsys_candidates *c);
/** Returns candidate i's item, or NULL when out of range. @since 0.1 */
RECSYS_API const recsys_item *recsys_candidates_item(const recsys_candidates *c, size_t i);
/** Returns candidate i's current score (the merged source score before ranking). @since 0.1 */
RECSYS_API double recsys_candidates_score(const recsys_candidates *c, size_t i);
/**
 * Reads the normalised score (0..1) the named source gave candidate i.
 * @return RECSYS_OK; RECSYS_E_NOT_FOUND when that source did not propose it. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_candidates_source_score(const recsys_candidates *c,
                                                                          size_t i,
                                                                          const char *source,
                                                                          double *out);
/**
 * Sets candidate i's score (rankers). @return RECSYS_OK; RECSYS_E_INVALID_ARG for i out of
 * range or a non-finite score. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_candidates_set_score(recsys_candidates *c,
                                                                        size_t i, double score);
/**
 * Marks candidate i to be dropped (filters); reason is a short static or copied text.
 * Indices stay valid until the filter returns. @return RECSYS_OK; RECSYS_E_INVALID_ARG.
 * @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_candidates_drop(recsys_candidates *c, size_t i,
                                                                   const char *reason);
/**
 * Sets the final order (diversifiers): order[k] is the index of the candidate at position k;
 * the first n entries are kept. Every index must be in range and appear once.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_candidates_set_order(recsys_candidates *c,
                                                                        const size_t *order,
                                                                        size_t n);

/**
 * A candidate source (stage 2). Required: retrieve. retrieve adds at most
 * recsys_query_limit(q) candidates to out with recsys_candidates_add(); scores are on any
 * scale (the merger normalises them per source).
 */
typedef struct recsys_source_vtable {
    uint32_t struct_size;
    void *ctx;
    void (*destroy)(void *ctx);
    recsys_status (*retrieve)(void *ctx, const recsys_query *q, recsys_candidates *out);
    /* above: since 0.1 */
} recsys_source_vtable;

/** A filter (stage 3). Required: apply, which calls recsys_candidates_drop(). */
typedef struct recsys_filter_vtable {
    uint32_t struct_size;
    void *ctx;
    void (*destroy)(void *ctx);
    recsys_status (*apply)(void *ctx, const recsys_query *q, recsys_candidates *c);
    /* above: since 0.1 */
} recsys_filter_vtable;

/** A ranker (stage 4). Required: score, which calls recsys_candidates_set_score(). */
typedef struct recsys_ranker_vtable {
    uint32_t struct_size;
    void *ctx;
    void (*destroy)(void *ctx);
    recsys_status (*score)(void *ctx, const recsys_query *q, recsys_candidates *c);
    /* above: since 0.1 */
} recsys_ranker_vtable;

/**
 * A diversifier (stage 5). Required: select, which picks and orders at most n candidates
 * with recsys_candidates_set_order(). Candidates arrive sorted by score.
 */
typedef struct recsys_diversifier_vtable {
    uint32_t struct_size;
    void *ctx;
    void (*destroy)(void *ctx);
    recsys_status (*select)(void *ctx, const recsys_query *q, recsys_candidates *c, size_t n);
    /* above: since 0.1 */
} recsys_diversifier_vtable;

/** LLM task kinds, passed to the host's complete(). */
typedef enum recsys_llm_task {
    RECSYS_LLM_RERANK = 1,
    RECSYS_LLM_EXPLAIN = 2,
    RECSYS_LLM_INTENT = 3,
    RECSYS_LLM_CLARIFY = 4,
    RECSYS_LLM_ENRICH = 5
} recsys_llm_task;

/** Returns the call's task (a recsys_llm_task). @since 0.1 */
RECSYS_API int32_t recsys_llm_call_task(const recsys_llm_call *call);
/** Returns the system prompt (UTF-8, never NULL). @since 0.1 */
RECSYS_API const char *recsys_llm_call_system(const recsys_llm_call *call);
/** Returns the user prompt (UTF-8, never NULL). @since 0.1 */
RECSYS_API const char *recsys_llm_call_prompt(const recsys_llm_call *call);
/** Returns the JSON schema the reply should follow, or NULL. @since 0.1 */
RECSYS_API const char *recsys_llm_call_schema(const recsys_llm_call *call);
/** Returns the token limit for the reply. @since 0.1 */
RECSYS_API int32_t recsys_llm_call_max_tokens(const recsys_llm_call *call);
/** Returns the sampling temperature. @since 0.1 */
RECSYS_API double recsys_llm_call_temperature(const recsys_llm_call *call);
/** Returns the milliseconds left before the call's deadline. @since 0.1 */
RECSYS_API int64_t recsys_llm_call_deadline_ms(const recsys_llm_call *call);
/**
 * Hands the LLM's answer to the library, which copies it (the host keeps its buffer).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_llm_reply_set_text(recsys_llm_reply *reply,
                                                                      const char *text,
                                                                      size_t len);
/** Reports the tokens the call used, for budgets and counters. @since 0.1 */
RECSYS_API void recsys_llm_reply_set_usage(recsys_llm_reply *reply, int64_t prompt_tokens,
                                           int64_t completion_tokens);

/**
 * The host's LLM transport. Required: complete, which answers through
 * recsys_llm_reply_set_text() before returning (synchronously) and should give up by the
 * call's deadline.
 * complete runs on the thread of the call that needs the LLM (for recsys_recommend, inside
 * the request), and on several threads at once when requests run concurrently, so it must be
 * thread-safe. Since 0.2 no engine lock is held while it runs (0.1 held the engine's lock
 * shared): other calls, writers included, go on meanwhile, and the request checks the reply
 * against the engine's state as it is when complete returns. It must still not call into
 * the engine (only the recsys_llm_call_* getters and recsys_llm_reply_* sinks). Its reply is
 * untrusted input: the library parses and checks it, and goes on without the LLM when it is
 * late, malformed or invents items.
 */
typedef struct recsys_llm_vtable {
    uint32_t struct_size;
    void *ctx;
    void (*destroy)(void *ctx);
    recsys_status (*complete)(void *ctx, const recsys_llm_call *call, recsys_llm_reply *reply);
    /* above: since 0.1 */
} recsys_llm_vtable;

/**
 * Hands an embedding to the library, which copies it.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG for NULL, dim 0 or non-finite values; RECSYS_E_NOMEM.
 * @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_vector_sink_set(recsys_vector_sink *sink,
                                                                   const float *values, size_t dim);

/** The host's text embedder. Required: embed. */
typedef struct recsys_embedder_vtable {
    uint32_t struct_size;
    void *ctx;
    void (*destroy)(void *ctx);
    recsys_status (*embed)(void *ctx, const char *text, size_t len, recsys_vector_sink *out);
    /* above: since 0.1 */
} recsys_embedder_vtable;

/** Kinds of keyed records a store holds. */
typedef enum recsys_record_kind {
    RECSYS_RECORD_ITEM = 1,  /**< value: the item's JSON */
    RECSYS_RECORD_USER = 2,  /**< value: the user profile's JSON */
    RECSYS_RECORD_STATE = 3, /**< value: opaque derived state (models), keyed by name */
    RECSYS_RECORD_CAMPAIGN = 4, /**< value: the campaign's JSON, keyed by its id. @since 0.2 */
    RECSYS_RECORD_RULE = 5      /**< value: the business rule's JSON, keyed by its name. @since 0.2 */
} recsys_record_kind;

/**
 * Hands a value a store read to the library, which copies it.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_store_value_set(recsys_store_value *v,
                                                                   const void *data, size_t len);

/** Visitor of keyed records during scan_records; return non-OK to stop the scan with it. */
typedef recsys_status (*recsys_record_visit_fn)(void *arg, int32_t kind, const char *key,
                                                const void *data, size_t len);
/** Visitor of events during scan_events, in append order; non-OK stops the scan. */
typedef recsys_status (*recsys_event_visit_fn)(void *arg, const recsys_event *event);

/**
 * Durable storage. Required: put, remove, get, append_events, scan_records, scan_events,
 * forget_user. Optional: sync, compact. The engine serialises calls into one store (one at a
 * time), so a store needs no locking of its own. Values and strings passed in are borrowed
 * for the call. get answers through recsys_store_value_set() before returning RECSYS_OK
 * (RECSYS_E_NOT_FOUND when absent). scan_records visits records in insertion order (a
 * replaced key keeps its place); scan_events visits events in append order; visitors must not
 * call back into the store. append_events returns RECSYS_OK only once the events are as
 * durable as the store documents: the engine acknowledges feedback only after that.
 * forget_user removes the user's record and every event naming the user so that no trace
 * remains in the store's files or tables (compacting if needed); forgetting an unknown user
 * is RECSYS_OK, so a retry after a crash is safe.
 */
typedef struct recsys_store_vtable {
    uint32_t struct_size;
    void *ctx;
    void (*destroy)(void *ctx);
    recsys_status (*put)(void *ctx, int32_t kind, const char *key, const void *data, size_t len);
    recsys_status (*remove)(void *ctx, int32_t kind, const char *key); /**< NOT_FOUND if absent */
    recsys_status (*get)(void *ctx, int32_t kind, const char *key, recsys_store_value *out);
    recsys_status (*append_events)(void *ctx, const recsys_event *events, size_t n);
    recsys_status (*scan_records)(void *ctx, int32_t kind, recsys_record_visit_fn fn, void *arg);
    recsys_status (*scan_events)(void *ctx, recsys_event_visit_fn fn, void *arg);
    recsys_status (*forget_user)(void *ctx, const char *user_id);
    recsys_status (*sync)(void *ctx);
    recsys_status (*compact)(void *ctx);
    /* above: since 0.1 */
    /**
     * Optional, both or neither: group commit. append_events_deferred writes as append_events
     * does but may return before the events are durable, setting *ticket to a position that
     * grows with every append. The engine calls it holding its write lock and, once the lock
     * is released, calls wait_durable(ticket), which returns RECSYS_OK when everything up to
     * ticket is as durable as the store documents; one flush thus covers every thread waiting
     * at once. wait_durable is the one method exempt from the one-call-at-a-time rule: it is
     * called from any thread, at the same time as itself and as the other methods (destroy
     * excepted), so it must lock whatever it shares with them. @since 0.2
     */
    recsys_status (*append_events_deferred)(void *ctx, const recsys_event *events, size_t n,
                                            uint64_t *ticket);
    recsys_status (*wait_durable)(void *ctx, uint64_t ticket);
    /**
     * Optional, both or neither: large opaque blobs (a trained vector index, say) kept beside
     * the records and outside the event log, each written whole and replaced atomically.
     * put_blob returns once the blob is as durable as the store documents; len 0 removes it
     * (RECSYS_OK when absent). get_blob answers through recsys_store_value_set(), or
     * RECSYS_E_NOT_FOUND. Names are 1..63 bytes of [a-z0-9_.-]. Called one at a time, as the
     * other methods. @since 0.2
     */
    recsys_status (*put_blob)(void *ctx, const char *name, const void *data, size_t len);
    recsys_status (*get_blob)(void *ctx, const char *name, recsys_store_value *out);
    /* above: since 0.2 */
} recsys_store_vtable;

/** Durability of the built-in file store. */
typedef enum recsys_sync_mode {
    RECSYS_SYNC_OS = 0,   /**< write(2) before acknowledging: survives a process crash */
    RECSYS_SYNC_FULL = 1  /**< fdatasync(2) too: survives a power loss (default) */
} recsys_sync_mode;

/** Options of the built-in file store. */
typedef struct recsys_file_store_opts {
    uint32_t struct_size;        /**< sizeof(recsys_file_store_opts) */
    int32_t sync;                /**< a recsys_sync_mode */
    uint64_t compact_bytes;      /**< compact when the log exceeds this (0 = 64 MiB) and the
                                      snapshot's size */
    const recsys_allocator *allocator; /**< NULL = malloc */
    uint64_t reserved;
    /* above: since 0.1 */
} recsys_file_store_opts;

/**
 * Fills a vtable for the built-in volatile memory store.
 * @param[in] allocator NULL for malloc, else copied.
 * @param[out] out the vtable; out->struct_size must be set (RECSYS_INIT or
 *             recsys_store_vtable_init()); hand it to recsys_engine_opts.store.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_store_memory_new(const recsys_allocator *allocator,
                                                                    recsys_store_vtable *out);
/**
 * Opens (creating if needed) the built-in durable file store in directory dir: an
 * append-only log with a checksum per record, snapshots and compaction. Recovery truncates
 * a torn tail left by a crash. One process at a time (an advisory lock is held).
 * @param[in] dir the directory; created if missing. @param[in] opts NULL for defaults.
 * @param[out] out the vtable (struct_size set by the caller).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_IO; RECSYS_E_CORRUPT (a damaged record
 *         before the tail); RECSYS_E_STATE (locked by another process); RECSYS_E_NOMEM.
 * Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_store_file_new(const char *dir,
                                                                  const recsys_file_store_opts *opts,
                                                                  recsys_store_vtable *out);

/** Zero-fills a vtable and sets struct_size (C++11 and ctypes). NULL is ignored. @since 0.1 */
RECSYS_API void recsys_source_vtable_init(recsys_source_vtable *vt);
/** Zero-fills a vtable and sets struct_size. @since 0.1 */
RECSYS_API void recsys_filter_vtable_init(recsys_filter_vtable *vt);
/** Zero-fills a vtable and sets struct_size. @since 0.1 */
RECSYS_API void recsys_ranker_vtable_init(recsys_ranker_vtable *vt);
/** Zero-fills a vtable and sets struct_size. @since 0.1 */
RECSYS_API void recsys_diversifier_vtable_init(recsys_diversifier_vtable *vt);
/** Zero-fills a vtable and sets struct_size. @since 0.1 */
RECSYS_API void recsys_llm_vtable_init(recsys_llm_vtable *vt);
/** Zero-fills a vtable and sets struct_size. @since 0.1 */
RECSYS_API void recsys_embedder_vtable_init(recsys_embedder_vtable *vt);
/** Zero-fills a vtable and sets struct_size. @since 0.1 */
RECSYS_API void recsys_store_vtable_init(recsys_store_vtable *vt);

/** @} */

/* ------------------------------------------------------------------------------------------ */
/** @defgroup engine Engine lifecycle and registration
 *  @{ */

/** Creation options of an engine. */
typedef struct recsys_engine_opts {
    uint32_t struct_size;              /**< sizeof(recsys_engine_opts) */
    uint32_t flags;                    /**< RECSYS_ENGINE_* flags */
    uint64_t seed;                     /**< seed of every random choice (0 = fixed default) */
    const recsys_allocator *allocator; /**< NULL = malloc; copied */
    const recsys_store_vtable *store;  /**< NULL = a memory store; the engine takes ownership */
    uint64_t reserved;
    /* above: since 0.1 */
} recsys_engine_opts;

/**
 * Flag: do not register the built-in plug-ins. They are, by kind and name: sources "content",
 * "popular", "trending"; filters (in this order) "exclude", "availability", "age", "region",
 * "seen", "negative"; ranker "blend". recsys_engine_plugin_enable() takes any of them out.
 */
#define RECSYS_ENGINE_NO_BUILTINS 0x1u

/**
 * Zero-fills engine options and sets struct_size (C++11 and ctypes). @since 0.1
 */
RECSYS_API void recsys_engine_opts_init(recsys_engine_opts *opts);

/**
 * Creates an engine. With a store, loads every item, user and event it holds, then builds
 * the derived state (as recsys_refresh(), with the same warning on success). The store's
 * destroy runs exactly once: when the
 * engine is freed, or before this returns when creation fails.
 * @param[in] opts NULL for defaults; a struct_size below 0.1's or a non-zero unknown tail
 *            gives RECSYS_E_INVALID_ARG / RECSYS_E_UNSUPPORTED.
 * @param[out] out the engine, or NULL on failure.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_UNSUPPORTED; RECSYS_E_NOMEM; any store
 *         error (RECSYS_E_IO, RECSYS_E_CORRUPT, ...).
 * Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_new(const recsys_engine_opts *opts,
                                                              recsys_engine **out);
/**
 * Frees an engine, its plug-ins (each destroy once) and its store handle. NULL is ignored.
 * No other thread may use the engine during or after this call. @since 0.1
 */
RECSYS_API void recsys_engine_free(recsys_engine *engine);

/**
 * Sets an integer option (engine-wide). Out-of-range values are errors, never clamped.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL, wrong type, out of range);
 *         RECSYS_E_UNSUPPORTED (unknown key). Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_set_int(recsys_engine *engine,
                                                                  int32_t key, int64_t value);
/** Reads an integer option. Same statuses as recsys_engine_set_int(). @since 0.1 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_get_int(recsys_engine *engine,
                                                                  int32_t key, int64_t *out);
/** Sets a double option. Same statuses as recsys_engine_set_int(). @since 0.1 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_set_double(recsys_engine *engine,
                                                                     int32_t key, double value);
/** Reads a double option. Same statuses as recsys_engine_set_int(). @since 0.1 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_get_double(recsys_engine *engine,
                                                                     int32_t key, double *out);
/** Sets a string option (copied). Same statuses as recsys_engine_set_int(). @since 0.1 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_set_str(recsys_engine *engine,
                                                                  int32_t key, const char *value);
/**
 * Reads a string option into a caller buffer.
 * @param[out] buf, cap the buffer; @param[out] needed bytes required including the NUL.
 * @return RECSYS_OK; RECSYS_E_TOO_SMALL (with *needed); others as recsys_engine_set_int().
 * @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_get_str(recsys_engine *engine,
                                                                  int32_t key, char *buf,
                                                                  size_t cap, size_t *needed);

/**
 * Business rule kinds. Conditions are constraint expressions over item attributes and the
 * request context, for example
 *   category == "laptop" && price <= 1500 && !("refurbished" in tags) && available
 * (comparisons == != < <= > >=, `in` / `not in` for lists and tags, && || !, parentheses,
 * string, number and bool literals, `now`, `user.age`, `user.region`; README "Constraint
 * language" has the grammar). Every rule is checked again on the final list, after every
 * stage that could change it. @since 0.2
 */
typedef enum recsys_rule_kind {
    RECSYS_RULE_FILTER = 1,  /**< keep only items for which expr holds */
    RECSYS_RULE_BLOCK = 2,   /**< never show items for which expr holds */
    RECSYS_RULE_BOOST = 3,   /**< add value (> 0) to the ranked score of matching items */
    RECSYS_RULE_BURY = 4,    /**< matching items go after every other eligible item */
    RECSYS_RULE_PIN = 5,     /**< item_id (or the best item matching expr) at position */
    RECSYS_RULE_PROMOTE = 6  /**< at least value (0..1) of the list's slots go to matching
                                  items when enough are eligible */
} recsys_rule_kind;

/** One business rule; recsys_rule_init() fills the defaults. @since 0.2 */
typedef struct recsys_rule {
    uint32_t struct_size;
    int32_t kind;        /**< recsys_rule_kind */
    const char *expr;    /**< the condition (PIN: optional when item_id is set) */
    double value;        /**< BOOST: added score; PROMOTE: share of slots */
    int32_t position;    /**< PIN: 0-based position in the list */
    uint32_t reserved0;  /**< must be 0 */
    const char *item_id; /**< PIN: the pinned item (NULL: the best item matching expr) */
    uint64_t reserved;   /**< must be 0 */
    /* above: since 0.2 */
} recsys_rule;

/** Fills a rule with zeros and struct_size. @since 0.2 */
RECSYS_API void recsys_rule_init(recsys_rule *rule);

/** Plug-in kinds, for recsys_engine_plugin_enable(). */
typedef enum recsys_plugin_kind {
    RECSYS_PLUGIN_SOURCE = 1,
    RECSYS_PLUGIN_FILTER = 2,
    RECSYS_PLUGIN_RANKER = 3,
    RECSYS_PLUGIN_DIVERSIFIER = 4,
    RECSYS_PLUGIN_LLM = 5,
    RECSYS_PLUGIN_EMBEDDER = 6
} recsys_plugin_kind;

/**
 * Registers a candidate source under a unique name (1..63 bytes of [a-z0-9_.-]).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL, bad name, missing method, struct_size
 *         below 0.1's, named in the message); RECSYS_E_EXISTS; RECSYS_E_NOMEM. On failure
 *         destroy(ctx) has run. Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_add_source(recsys_engine *engine,
                                                                     const char *name,
                                                                     const recsys_source_vtable *vt);
/** Registers a filter; as recsys_engine_add_source(). Filters run in registration order. @since 0.1 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_add_filter(recsys_engine *engine,
                                                                     const char *name,
                                                                     const recsys_filter_vtable *vt);
/**
 * Sets the host's ranker, used by every request that does not name another
 * (recsys_request_set_ranker): the host ranker set before, if any, is replaced (destroyed);
 * the built-in rankers ("blend", "linear", "ltr") stay registered but disabled, and a request
 * may still name one. Otherwise as recsys_engine_add_source(). @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_set_ranker(recsys_engine *engine,
                                                                     const char *name,
                                                                     const recsys_ranker_vtable *vt);
/** Registers a diversifier; they run in registration order. @since 0.1 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_add_diversifier(
    recsys_engine *engine, const char *name, const recsys_diversifier_vtable *vt);
/** Sets the LLM transport, replacing the previous one. @since 0.1 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_set_llm(recsys_engine *engine,
                                                                  const char *name,
                                                                  const recsys_llm_vtable *vt);
/** What the engine's LLM calls cost and how they ended, since the engine was made. @since 0.2 */
typedef struct recsys_llm_stats {
    uint32_t struct_size;          /**< set by the caller to sizeof(recsys_llm_stats) */
    uint32_t reserved0;
    uint64_t calls;                /**< calls that reached the host's complete() */
    uint64_t prompt_tokens;        /**< as the host reported them (else bytes / 4) */
    uint64_t completion_tokens;
    uint64_t cache_hits;           /**< asks answered from the reply cache */
    uint64_t timeouts;             /**< asks skipped or replies discarded at the deadline */
    uint64_t failures;             /**< complete() returned an error */
    uint64_t fallbacks;            /**< asks the pipeline answered without the LLM */
    uint64_t rejected;             /**< replies that failed parsing or validation */
    uint64_t budget_denied;        /**< asks refused by a call or token budget */
    uint64_t breaker_open;         /**< asks refused while the circuit breaker was open */
    uint64_t explanations;         /**< LLM explanations checked */
    uint64_t explanations_failed;  /**< of those, replaced by the template (not grounded) */
    /* above: since 0.2 */
} recsys_llm_stats;

/**
 * Fills *out with the engine's LLM counters (a consistent snapshot). Thread-safe.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG for NULL or a too small struct_size. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_llm_stats(recsys_engine *engine,
                                                                    recsys_llm_stats *out);
/** Sets the text embedder, replacing the previous one. @since 0.1 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_set_embedder(
    recsys_engine *engine, const char *name, const recsys_embedder_vtable *vt);
/**
 * Sets a registered source's weight in the merge (finite, 0 to 1000; 0 keeps its candidates
 * without adding to their merged score) and its quota: the most candidates it contributes to
 * a request (0 = RECSYS_OPT_CANDIDATES_PER_SOURCE, else 1 to 100000, and then it replaces that
 * option for this source). Applies to every later request.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOT_FOUND. Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_source_configure(recsys_engine *engine,
                                                                           const char *name,
                                                                           double weight,
                                                                           size_t quota);
/**
 * Reads a registered source's weight and quota (either pointer may be NULL).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOT_FOUND. Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_source_settings(recsys_engine *engine,
                                                                          const char *name,
                                                                          double *weight,
                                                                          size_t *quota);

/**
 * Turns a registered plug-in (built-in or the host's) on or off for every later request.
 * One ranker is in use at a time: enabling a ranker disables the others (with none enabled,
 * candidates keep their merged source scores).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOT_FOUND. Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_plugin_enable(recsys_engine *engine,
                                                                        int32_t kind,
                                                                        const char *name,
                                                                        int enabled);

/**
 * Rebuilds the derived state (text index, normalisers, user preference vectors) from the
 * catalog and events, then swaps it in atomically: requests running meanwhile finish on the
 * old state. A saved copy of some state (the vector index, in a store with blobs) that could
 * not be read or saved never fails the call: it returns RECSYS_OK with recsys_last_status()
 * and recsys_last_error() describing the first such problem (a warning; both are empty after
 * a clean call). @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM (old state kept).
 * Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_refresh(recsys_engine *engine);

/**
 * Imports item factors trained elsewhere (Spark's ALS on a cluster, say) as the "ials" model:
 * item_ids[i] gets the k floats factors[i * k .. i * k + k). From the next recsys_refresh()
 * on, the "ials" source (which must be enabled) uses them instead of training: users are
 * folded in from their current events with RECSYS_OPT_IALS_REG and RECSYS_OPT_IALS_ALPHA,
 * catalog items without a factor are never proposed by it, and the "vector" source indexes
 * them as it indexes trained factors. n = 0 (item_ids and factors may then be NULL) drops the
 * import: refreshes train again. The import lives in memory: it is not kept in the store, so
 * a host imports again after opening an engine.
 * @param[in] item_ids n distinct ids of catalog items (borrowed). @param[in] factors n x k
 *            finite floats, row-major (copied). @param[in] n 0..10000000. @param[in] k 1..1024.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (named in the message: a NULL, a duplicate id, a
 *         non-finite value, k out of range); RECSYS_E_NOT_FOUND (an id not in the catalog);
 *         RECSYS_E_NOMEM. A failure keeps the previous import. Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_ials_import(recsys_engine *engine,
                                                               const char *const *item_ids,
                                                               const float *factors, size_t n,
                                                               size_t k);

/**
 * Compacts the store (if it can) after flushing it. @return RECSYS_OK or a store error.
 * Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_compact(recsys_engine *engine);

/** Counters of an engine, for recsys_engine_count(). */
typedef enum recsys_count {
    RECSYS_COUNT_ITEMS = 1,
    RECSYS_COUNT_USERS = 2,
    RECSYS_COUNT_EVENTS = 3,
    RECSYS_COUNT_REQUESTS = 4
} recsys_count;

/**
 * Reads a counter. @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL, unknown counter).
 * Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_count(recsys_engine *engine,
                                                                int32_t counter, uint64_t *out);

/** @} */

/* ------------------------------------------------------------------------------------------ */
/** @defgroup catalog Catalog, users and feedback
 *  Every mutating call writes to the store first and changes memory only once the store
 *  has accepted it; a failed call changes nothing.
 *  @{ */

/**
 * Inserts or replaces an item built with recsys_item_spec_*.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM; a store error. Thread-safe.
 * @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_catalog_upsert(recsys_engine *engine,
                                                                  const recsys_item_spec *spec);
/**
 * Inserts or replaces items from JSON: one object in the design card's shape
 * (`{"item_id":"item_456","title":"...","category":"education","tags":[...],
 * "embedding":[...]}` plus description, provider, available, min_age, regions, created,
 * attributes, embeddings, generated) or an array of them. All or nothing: one bad item
 * rejects the whole text, with the item's index and the field in the message.
 * @param[in] json, len UTF-8 text of at most RECSYS_OPT_MAX_JSON_BYTES bytes.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM; a store error. Thread-safe.
 * @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_catalog_upsert_json(recsys_engine *engine,
                                                                       const char *json,
                                                                       size_t len);
/**
 * Removes an item. Its events stay in the log; it is never recommended again.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOT_FOUND; a store error. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_catalog_remove(recsys_engine *engine,
                                                                  const char *item_id);
/**
 * Returns an item as JSON (host attributes and, apart, LLM-generated ones).
 * @param[out] out the text, freed with recsys_string_free().
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOT_FOUND; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_catalog_get_json(recsys_engine *engine,
                                                                    const char *item_id,
                                                                    char **out);

/** What one recsys_catalog_enrich() did, item by item (each item is counted once).
 *  @since 0.2 */
typedef struct recsys_enrich_report {
    uint32_t struct_size; /**< set by the caller to sizeof(recsys_enrich_report) */
    uint32_t reserved0;
    uint64_t asked;    /**< items sent to the LLM (enriched + rejected + those that changed
                            meanwhile, counted skipped) */
    uint64_t cached;   /**< items whose text had not changed since their last enrichment:
                            the stored result was kept (or put back), the LLM not asked */
    uint64_t enriched; /**< items that received a new, validated result from the LLM */
    uint64_t rejected; /**< items the LLM's reply left out or answered against the schema */
    uint64_t skipped;  /**< items not enriched for another reason: no LLM, its failure, a
                            budget or deadline spent, the item changed during the call */
    uint64_t calls;    /**< calls made to the LLM */
    uint64_t dropped;  /**< generated values left out: tags outside the vocabulary,
                            attributes not allowed or of the wrong type */
    /* above: since 0.2 */
} recsys_enrich_report;

/**
 * Asks the LLM for metadata of catalog items and stores it as their generated attributes,
 * apart from the host's (the "generated" object of recsys_catalog_get_json(): "tags",
 * "summary", "attributes", and "model", the LLM's registered name, for provenance).
 *
 * Several items go in one call (RECSYS_OPT_ENRICH_ITEMS_PER_CALL), named by local handles,
 * their text quoted as data. The reply must follow the JSON schema the call carries; an
 * item whose answer does not is counted rejected and keeps what it had. Tags must be tags
 * of the catalog (unless RECSYS_OPT_ENRICH_NEW_TAGS), attributes must be allowed
 * (RECSYS_OPT_ENRICH_ATTRIBUTES) and of the allowed type; other values are dropped.
 * The calls go through the engine's LLM guard with a budget of RECSYS_OPT_ENRICH_CALLS
 * calls, RECSYS_OPT_ENRICH_TOKENS tokens and RECSYS_OPT_ENRICH_DEADLINE_MS (each call at
 * most RECSYS_OPT_ENRICH_CALL_DEADLINE_MS); they count in recsys_engine_llm_stats().
 *
 * Results are cached by a hash of the item's text (title, description, category, provider,
 * tags, attributes) in the store, so they survive a reopen: an item whose text did not
 * change since its last enrichment is not asked again (counted cached), and an upsert that
 * dropped its generated part gets the stored result back without the LLM.
 *
 * The engine's lock is not held while the LLM runs: other calls go on meanwhile, and an
 * item upserted or removed during the call keeps its new state (counted skipped). The LLM
 * may be replaced (recsys_engine_set_llm()) while an enrichment runs on another thread: each
 * LLM call reads the engine's current LLM, so the calls after the replacement go to the new
 * one, and the old one is destroyed once no call is inside it.
 *
 * @param[in] engine the engine.
 * @param[in] item_ids n distinct ids of catalog items (borrowed); NULL (with n 0) for every
 *            item of the catalog.
 * @param[in] n 0..10000000.
 * @param[out] report the counts (may be NULL); report->struct_size must be set. Filled on
 *             failure too, with what was done until then.
 * @return RECSYS_OK, also when the LLM is missing, fails or is out of budget (the report
 *         says which items were skipped; recsys_last_status() and recsys_last_error() then
 *         describe the first problem, as a warning); RECSYS_E_INVALID_ARG (a NULL, a
 *         duplicate id, a too small struct_size, a malformed RECSYS_OPT_ENRICH_ATTRIBUTES);
 *         RECSYS_E_NOT_FOUND (an id not in the catalog; nothing is done); RECSYS_E_NOMEM or
 *         a store error, which stop the call: every item is applied all or nothing, and the
 *         items applied before stay. Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_catalog_enrich(recsys_engine *engine,
                                                                  const char *const *item_ids,
                                                                  size_t n,
                                                                  recsys_enrich_report *report);

/**
 * Inserts or replaces a user profile built with recsys_user_spec_*. Events already recorded
 * for the user are kept.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOT_FOUND (a listed item is unknown);
 *         RECSYS_E_NOMEM; a store error. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_user_upsert(recsys_engine *engine,
                                                               const recsys_user_spec *spec);
/**
 * Inserts or replaces user profiles from JSON in the design card's shape
 * (`{"user_id":"user_123","interests":[...],"recent_views":[...],"purchased_items":[...],
 * "negative_feedback":[...]}` plus age and region), one object or an array; all or nothing.
 * @return as recsys_user_upsert(). @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_user_upsert_json(recsys_engine *engine,
                                                                    const char *json, size_t len);
/**
 * Returns a user as JSON: the profile plus a read-only "history" derived from events.
 * @param[out] out freed with recsys_string_free().
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOT_FOUND; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_user_get_json(recsys_engine *engine,
                                                                 const char *user_id, char **out);
/**
 * Forgets a user: the profile, every event and every piece of derived state naming them,
 * in memory and in the store (which compacts so that no trace remains in its files).
 * Aggregate counters lose the user's contributions.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOT_FOUND; a store error. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_user_forget(recsys_engine *engine,
                                                               const char *user_id);

/**
 * Records one feedback event. An unknown user is created with an empty profile; an unknown
 * item is an error. Returns only after the store acknowledged the event.
 * @param[in] event the record (struct_size set; strings borrowed).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_UNSUPPORTED (non-zero unknown tail);
 *         RECSYS_E_NOT_FOUND (unknown item); RECSYS_E_NOMEM; a store error. Thread-safe.
 * @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_feedback(recsys_engine *engine,
                                                            const recsys_event *event);
/**
 * Records events from JSON: one object in the shape of recsys_event's comment, or an array;
 * all or nothing. @return as recsys_feedback(). Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_feedback_json(recsys_engine *engine,
                                                                 const char *json, size_t len);
/**
 * Records n events in one call, the typed form of a JSON array to recsys_feedback_json(): all
 * or nothing, one store write, so one flush under RECSYS_SYNC_FULL covers the whole batch.
 * @param[in] events n records (struct_size set; strings borrowed); NULL only when n is 0.
 * @param[in] n 0 (nothing to do) to RECSYS_FEEDBACK_BATCH_MAX.
 * @return as recsys_feedback(); a bad event is named by its index ("event 3: ...").
 *         Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_feedback_batch(recsys_engine *engine,
                                                                  const recsys_event *events,
                                                                  size_t n);
/** The most events one recsys_feedback_batch() call takes. @since 0.2 */
#define RECSYS_FEEDBACK_BATCH_MAX 1000000

/**
 * Adds or replaces a campaign: items the host promotes through the "campaign" source from
 * start (inclusive) to end (exclusive; Unix seconds, 0 = open on that side), each proposed
 * with score boost (finite, > 0). Kept in the store as a RECSYS_RECORD_CAMPAIGN record.
 * @param[in] campaign_id 1..255 bytes of UTF-8. @param[in] item_ids n (1..10000) ids of
 *            catalog items, borrowed; a duplicate is an error.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (named in the message); RECSYS_E_NOT_FOUND (an
 *         item not in the catalog); RECSYS_E_NOMEM; a store error. Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_campaign_upsert(recsys_engine *engine,
                                                                   const char *campaign_id,
                                                                   const char *const *item_ids,
                                                                   size_t n, double boost,
                                                                   int64_t start, int64_t end);
/**
 * As recsys_campaign_upsert() from JSON: {"id":"spring","items":["a","b"],"boost":1.5,
 * "start":1767225600,"end":0}; "boost" defaults to 1, "start" and "end" to 0.
 * @return as recsys_campaign_upsert(). Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_campaign_upsert_json(recsys_engine *engine,
                                                                        const char *json,
                                                                        size_t len);
/**
 * Removes a campaign (memory and store).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOT_FOUND; a store error. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_campaign_remove(recsys_engine *engine,
                                                                   const char *campaign_id);

/**
 * Adds or replaces (by name, 1..63 bytes of [a-z0-9_.-]) a business rule applied to every
 * request. The expression is parsed and its attributes checked against the catalog; the rule
 * is stored (RECSYS_RECORD_RULE) and survives a reopen.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (with the position of a syntax error, or the
 *         unknown attribute); RECSYS_E_NOMEM; a store error (nothing changed).
 * Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_rule_set(recsys_engine *engine,
                                                                   const char *name,
                                                                   const recsys_rule *rule);
/**
 * Removes a named rule. @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOT_FOUND; a store
 * error. Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_engine_rule_remove(recsys_engine *engine,
                                                                      const char *name);
/**
 * Trains a built-in learned ranker ("ltr": LambdaMART through XGBoost, natively evaluated;
 * "linear": FTRL-Proximal logistic regression) from outcomes: for each user named in
 * outcomes[0..n), the pipeline retrieves and filters candidates as recsys_recommend() would
 * at RECSYS_OPT_NOW, computes each candidate's features, and labels it with the summed label
 * weight (RECSYS_OPT_RANK_LABEL_*) of that user's outcome events on it (0: none). The events
 * are not recorded: they are held-out outcomes (for example a validation split). The model
 * replaces the ranker's current one, is saved in the store (a store with blobs) and used by
 * every later request that ranks with it.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (unknown ranker, bad event, no user with both a
 *         positive and a negative candidate); RECSYS_E_NOMEM; RECSYS_E_INTERNAL (XGBoost).
 * Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_ranker_train(recsys_engine *engine,
                                                                const char *ranker,
                                                                const recsys_event *outcomes,
                                                                size_t n);

/** @} */

/* ------------------------------------------------------------------------------------------ */
/** @defgroup request Request and result
 *  @{ */

/**
 * Creates a request: anonymous, no query, engine options.
 * @param[out] out freed with recsys_request_free(). @return RECSYS_OK; RECSYS_E_INVALID_ARG;
 * RECSYS_E_NOMEM. Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_request_new(recsys_request **out);
/** Frees a request; NULL is ignored. @since 0.1 */
RECSYS_API void recsys_request_free(recsys_request *req);
/**
 * Sets the user (copied; NULL = anonymous). An unknown user is served as a cold start.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_request_set_user(recsys_request *req,
                                                                    const char *user_id);
/**
 * Sets the free-text query (copied; NULL clears). It drives the "search" source.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (invalid UTF-8); RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_request_set_query(recsys_request *req,
                                                                     const char *text);
/**
 * Sets the request id (copied) that later feedback names; NULL lets the engine make one.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_request_set_id(recsys_request *req,
                                                                  const char *request_id);
/**
 * Makes this a "more like this" request: the list should be items similar to item_id (for
 * example on a product page). The collaborative sources then work from that item instead of
 * the user's history; the user, when set, still personalises ranking and filters. The anchor
 * itself is never recommended. NULL clears it. An id unknown to the catalog makes
 * recsys_recommend() fail with RECSYS_E_NOT_FOUND.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (empty, too long or invalid UTF-8); RECSYS_E_NOMEM.
 * @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_request_set_anchor(recsys_request *req,
                                                                      const char *item_id);
/**
 * Excludes an item from this request's results (copied).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_request_exclude(recsys_request *req,
                                                                   const char *item_id);
/**
 * Overrides an integer option for this request only; same bounds and statuses as
 * recsys_engine_set_int(). @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_request_set_int(recsys_request *req, int32_t key,
                                                                   int64_t value);
/** Overrides a double option for this request only. @since 0.1 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_request_set_double(recsys_request *req,
                                                                      int32_t key, double value);
/**
 * Restricts this request to the given items (copied; call once per item): only they can be
 * recommended, subject to every filter and rule. Ids unknown to the catalog are ignored.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_request_include(recsys_request *req,
                                                                   const char *item_id);
/**
 * Adds a business rule for this request only, on top of the engine's (recsys_engine_rule_set).
 * The expression is parsed here: a syntax error fails with RECSYS_E_INVALID_ARG and a
 * message that gives the byte position; an attribute unknown to the catalog fails
 * recsys_recommend() with RECSYS_E_INVALID_ARG.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_request_add_rule(recsys_request *req,
                                                                    const recsys_rule *rule);
/**
 * Chooses the ranker for this request by its registered name (copied; NULL = the engine's:
 * the first enabled ranker). A name that is not registered fails recsys_recommend() with
 * RECSYS_E_NOT_FOUND. @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_request_set_ranker(recsys_request *req,
                                                                      const char *name);

/**
 * Runs the pipeline (context, retrieve, filter, rank, diversify, explain, respond) for one
 * request and logs the impressions. Any number of threads may call this on one engine at
 * once, together with recsys_feedback() and recsys_refresh().
 * @param[out] out the result, freed with recsys_result_free(); NULL on failure.
 * @return RECSYS_OK (possibly with fewer results than asked when too few items qualify);
 *         RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM; RECSYS_E_CALLBACK or a plug-in's own code;
 *         a store error while logging impressions.
 * Thread-safe. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_recommend(recsys_engine *engine,
                                                             const recsys_request *req,
                                                             recsys_result **out);

/** Frees a result; NULL is ignored. @since 0.1 */
RECSYS_API void recsys_result_free(recsys_result *res);
/** Returns the number of recommended items. @since 0.1 */
RECSYS_API size_t recsys_result_count(const recsys_result *res);
/** Returns the request id (given or generated). Lives as long as res. @since 0.1 */
RECSYS_API const char *recsys_result_request_id(const recsys_result *res);
/**
 * Returns the experiment recsys_experiment_recommend() ran the request under, or NULL for a
 * result of recsys_recommend(). Lives as long as res. @since 0.2
 */
RECSYS_API const char *recsys_result_experiment(const recsys_result *res);
/**
 * Returns the user's arm in that experiment: an arm's name, "holdout", or "" when the user
 * is not enrolled; NULL for a result of recsys_recommend(). Lives as long as res. @since 0.2
 */
RECSYS_API const char *recsys_result_arm(const recsys_result *res);
/** Returns item i's id, or NULL when out of range. Lives as long as res. @since 0.1 */
RECSYS_API const char *recsys_result_item_id(const recsys_result *res, size_t i);
/** Returns item i's final score (0 when out of range). @since 0.1 */
RECSYS_API double recsys_result_score(const recsys_result *res, size_t i);
/** Returns how many sources proposed item i. @since 0.1 */
RECSYS_API size_t recsys_result_source_count(const recsys_result *res, size_t i);
/**
 * Reads source j of item i: its name and normalised score.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL, out of range). @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_result_source(const recsys_result *res,
                                                                 size_t i, size_t j,
                                                                 const char **name,
                                                                 double *score);
/** Returns item i's explanation (UTF-8), or "" when explanations are off. @since 0.1 */
RECSYS_API const char *recsys_result_explanation(const recsys_result *res, size_t i);

/** Kinds of evidence behind an explanation. */
typedef enum recsys_evidence_kind {
    RECSYS_EVIDENCE_ATTRIBUTE = 1, /**< name = attribute ("tag", "category"...), value = its value */
    RECSYS_EVIDENCE_HISTORY = 2,   /**< name = event type ("like"...), value = the history item's id */
    RECSYS_EVIDENCE_INTEREST = 3,  /**< name = "interest", value = the stated interest */
    RECSYS_EVIDENCE_POPULARITY = 4, /**< name = "popular" or "trending", value = the count */
    RECSYS_EVIDENCE_QUERY = 5      /**< name = "query", value = the matched term */
} recsys_evidence_kind;

/** Returns how many pieces of evidence item i's explanation cites. @since 0.1 */
RECSYS_API size_t recsys_result_evidence_count(const recsys_result *res, size_t i);
/**
 * Reads evidence j of item i. Every piece was checked against the item's real attributes
 * and the user's real history. Strings live as long as res.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL, out of range). @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_result_evidence(const recsys_result *res,
                                                                   size_t i, size_t j,
                                                                   int32_t *kind,
                                                                   const char **name,
                                                                   const char **value);
/** Pipeline stages, for recsys_result_stage_ns(). @since 0.2 */
typedef enum recsys_stage {
    RECSYS_STAGE_CONTEXT = 1,   /**< the user, the query, the options */
    RECSYS_STAGE_RETRIEVE = 2,  /**< every source and the merge */
    RECSYS_STAGE_FILTER = 3,
    RECSYS_STAGE_RANK = 4,      /**< the ranker and the sort */
    RECSYS_STAGE_DIVERSIFY = 5,
    RECSYS_STAGE_LLM = 6,       /**< the LLM re-ranking (0 when it did not run) */
    RECSYS_STAGE_EXPLAIN = 7,   /**< the explanations */
    RECSYS_STAGE_RESPOND = 8    /**< building the result and logging impressions */
} recsys_stage;

/**
 * Returns how long one pipeline stage took for this result, in nanoseconds of the monotonic
 * clock (0 for a stage that did not run or an unknown stage), so a host can see where a
 * request's time goes.
 * Thread-safe for distinct results. @since 0.2
 */
RECSYS_API uint64_t recsys_result_stage_ns(const recsys_result *res, int32_t stage);
/**
 * Returns how many enabled sources this request skipped because RECSYS_OPT_RETRIEVE_BUDGET_US
 * was spent before their turn (0 when the budget is off). Thread-safe for distinct results.
 * @since 0.2
 */
RECSYS_API size_t recsys_result_sources_skipped(const recsys_result *res);
/**
 * Fills *out with what this request asked of the LLM and how it went: the counters of
 * recsys_engine_llm_stats() (calls, prompt and completion tokens, cache hits, fallbacks and
 * why, explanations checked), counted for this request alone, every stage together (intent,
 * re-ranking, explanations). All 0 when the request did not ask. The same numbers go with
 * the request's impressions (recsys_event.llm_calls, llm_tokens) into the online metrics'
 * LLM cost per request. Thread-safe for distinct results.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG for NULL or a too small struct_size. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_result_llm_stats(const recsys_result *res,
                                                                    recsys_llm_stats *out);

/**
 * Returns the whole result as JSON: {"request_id":..,"items":[{"item_id","score",
 * "sources":[{"name","score"}],"explanation","evidence":[{"kind","name","value"}]}]}.
 * @param[out] out freed with recsys_string_free().
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.1
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_result_to_json(const recsys_result *res,
                                                                  char **out);

/** @} */

/* ------------------------------------------------------------------------------------------ */
/** @defgroup conversation Conversational recommendation
 *  A shopper says what they want in their own words ("a laptop for AI work under $1500");
 *  the library reads it as constraints (category, numeric ranges, required and excluded
 *  tags: rules over the catalog's own facets first, the LLM only when they leave it
 *  ambiguous, its reply checked against the catalog), asks a clarifying question about the
 *  facet whose answer tells the most (expected information gain over the current
 *  candidates; the LLM phrases it, a template when there is none), reads the answer, and
 *  recommends under the accumulated constraints through the normal recsys_recommend() path,
 *  so every filter and business rule still applies. Options: RECSYS_OPT_CLARIFY_* and the
 *  LLM budget (RECSYS_OPT_LLM_*, per turn).
 *  @{ */

/** What a turn is (recsys_turn_kind() returns one). */
typedef enum recsys_turn_type {
    RECSYS_TURN_QUESTION = 1, /**< the library asks a clarifying question (and shows the list so far) */
    RECSYS_TURN_RESULT = 2    /**< the recommendations under the constraints */
} recsys_turn_type;

/**
 * Starts a conversation on an engine, for a user (copied; NULL = anonymous).
 * The engine must outlive the conversation.
 * @param[out] out freed with recsys_conversation_free(); NULL on failure.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL engine or out, a user id that is not UTF-8
 *         or too long); RECSYS_E_NOMEM.
 * Thread-safe (for distinct conversations). @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_conversation_new(recsys_engine *engine,
                                                                    const char *user_id,
                                                                    recsys_conversation **out);
/** Frees a conversation; NULL is ignored. @since 0.2 */
RECSYS_API void recsys_conversation_free(recsys_conversation *conv);
/**
 * One turn: text (UTF-8, at most 4096 bytes) is the shopper's words: a request, a
 * refinement ("under $1200 actually" replaces the price constraint) or the answer to the
 * last question. The constraints accumulate across turns. While more than
 * RECSYS_OPT_CLARIFY_MIN_CANDIDATES candidates remain and fewer than
 * RECSYS_OPT_CLARIFY_MAX_QUESTIONS were asked, the turn is a question; else a result. Both
 * carry the recommendations under the constraints so far. A failed turn leaves the
 * conversation unchanged.
 * @param[out] out freed with recsys_turn_free(); NULL on failure.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL, bad UTF-8, too long); RECSYS_E_NOMEM; any
 *         error of recsys_recommend(). An LLM that fails or answers badly never fails a turn.
 * One thread at a time per conversation. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_conversation_say(recsys_conversation *conv,
                                                                    const char *text,
                                                                    recsys_turn **out);
/**
 * Returns the accumulated constraints as JSON: {"category":..|null,"exclude_categories":[..],
 * "ranges":[{"attribute","min","min_inclusive","max","max_inclusive"}],"equals":[{"attribute",
 * "value","negate"}],"require_tags":[..],"exclude_tags":[..],"terms":[..],"expression":".."|
 * null}, where exclude_categories are the categories the shopper ruled out ("anything but
 * tablets"; also listed while a required category makes them moot, and the expression then
 * leaves them out) and expression is the filter the requests carry (the constraint
 * expression language of recsys_rule).
 * @param[out] out freed with recsys_string_free().
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_conversation_constraints_json(
    const recsys_conversation *conv, char **out);
/** Frees a turn (and its result); NULL is ignored. @since 0.2 */
RECSYS_API void recsys_turn_free(recsys_turn *turn);
/** Returns the turn's kind (a recsys_turn_type; 0 for NULL). @since 0.2 */
RECSYS_API int32_t recsys_turn_kind(const recsys_turn *turn);
/** Returns the question (UTF-8), or "" for a result turn. Lives as long as turn. @since 0.2 */
RECSYS_API const char *recsys_turn_question(const recsys_turn *turn);
/**
 * Returns the facet the question is about: an attribute name, "category" or "tag:<tag>"
 * ("" for a result turn). Lives as long as turn. @since 0.2
 */
RECSYS_API const char *recsys_turn_facet(const recsys_turn *turn);
/** Returns how many candidates passed every filter under the constraints. @since 0.2 */
RECSYS_API size_t recsys_turn_candidates(const recsys_turn *turn);
/**
 * Returns the recommendations under the constraints so far (never NULL for a turn; read it
 * with the recsys_result_* getters, do not free it). Lives as long as turn. @since 0.2
 */
RECSYS_API const recsys_result *recsys_turn_result(const recsys_turn *turn);

/** @} */

/* ------------------------------------------------------------------------------------------ */
/** @defgroup experiments Online evaluation and experiments
 *  Named experiments whose arms override options or name a ranker; users are assigned by a
 *  hash of the experiment's salt and the user id (no stored state: the same arm in every
 *  process, replica and restart). Reports join the logged impressions (recsys_recommend logs
 *  them with their request id and position) to the feedback that answers them (by request
 *  id, else within RECSYS_OPT_ONLINE_ATTRIBUTION_WINDOW_S), and give the online metrics per
 *  arm with the difference to the control, a confidence interval and a sample-ratio check.
 *  @{ */

/**
 * Defines an experiment, or replaces the one of the same name (a new salt or split moves
 * users; the same salt and split keep every user in its arm). The definition is JSON:
 * `{"name": "rank-test", "salt": "2026-11", "holdout": 5, "start": 0, "end": 0,
 *   "arms": [{"name": "control", "percent": 47.5},
 *            {"name": "ltr", "percent": 47.5, "ranker": "ltr",
 *             "options": {"diversify.lambda": 0.7}}]}`:
 * name as a plug-in name (1..63 bytes of [a-z0-9_.-]); salt (default: the name); holdout
 * and each arm's percent of the traffic with at most two decimals (arms > 0, the total at
 * most 100; users beyond it are not enrolled); arms[0] is the control (1..16 arms, distinct
 * names, not "holdout"); options: numeric options by name, checked like
 * recsys_request_set_int/_double; ranker: the ranker the arm's requests name; start, end:
 * Unix seconds bounding the events the report reads (0 = open). Unknown keys are refused.
 * When the store keeps blobs (put_blob/get_blob: the file store does), the definitions are
 * saved there and reloaded by a later engine over the same store.
 * @param[in] json, len the text (copied; at most RECSYS_OPT_MAX_JSON_BYTES and 64 KiB).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (the message names the field); RECSYS_E_NOMEM;
 *         a store error (nothing changed). Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_experiment_set(recsys_engine *engine,
                                                                  const char *json, size_t len);
/**
 * Removes an experiment (and its saved definition); with name NULL, every experiment, the
 * saved definitions included even when they cannot be read: the way out of the
 * RECSYS_E_CORRUPT every experiment call returns while the saved definitions are damaged
 * (their bytes are then kept in the store's blob "experiments.damaged").
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (engine NULL); RECSYS_E_NOT_FOUND; a store error
 *         (nothing changed). Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_experiment_remove(recsys_engine *engine,
                                                                     const char *name);
/**
 * Returns an experiment's definition as JSON (compact, keys sorted).
 * @param[out] out freed with recsys_string_free().
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOT_FOUND; RECSYS_E_NOMEM.
 * Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_experiment_get_json(recsys_engine *engine,
                                                                       const char *name,
                                                                       char **out);
/**
 * The arm a user is in: its name, "holdout", or "" when the user is not enrolled (the
 * traffic beyond the arms and the holdout). A pure function of the definition and the id.
 * @param[in] user_id the user (non-empty UTF-8, at most 256 bytes).
 * @param[out] arm, cap the buffer (64 bytes always suffice); @param[out] needed bytes
 *             required including the NUL (may be NULL).
 * @return RECSYS_OK; RECSYS_E_TOO_SMALL (with *needed); RECSYS_E_INVALID_ARG;
 *         RECSYS_E_NOT_FOUND (no such experiment). Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_experiment_assign(recsys_engine *engine,
                                                                     const char *name,
                                                                     const char *user_id,
                                                                     char *arm, size_t cap,
                                                                     size_t *needed);
/**
 * recsys_recommend() under an experiment: the request's user is assigned, and the arm's
 * option overrides and ranker apply on top of the request's own (the arm's win where both
 * set one), the control's as any other arm's; the holdout and users not enrolled get the
 * request unchanged.
 * The request itself is not modified. An anonymous request (no user) is not enrolled.
 * @param[out] out the result, as recsys_recommend().
 * @return as recsys_recommend(); RECSYS_E_NOT_FOUND (no such experiment).
 * Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_experiment_recommend(recsys_engine *engine,
                                                                        const char *name,
                                                                        const recsys_request *req,
                                                                        recsys_result **out);
/**
 * The experiment's report as JSON, read from the events in the engine's store (between the
 * experiment's start and end): `{"experiment", "control", "users", "arms": [{"name",
 * "users", "share_expected", "share_observed", "impressions", "clicks", "coverage",
 * "metrics": {NAME: value}, "by_position": [{"position", "impressions", "ctr"}],
 * "by_source": [CUT], "by_ranker": [CUT]}], "comparisons": [{"arm", "metric",
 * "control_value", "value", "diff", "rel_diff", "ci_low", "ci_high", "significant"}], "srm": {"chi2", "p", "alpha", "pass"},
 * "attribution": {"feedback", "by_request_id", "by_window", "unattributed"}, "method",
 * "confidence", "bootstrap", "seed", "llm": {"requests", "calls_per_request",
 * "tokens_per_request"}}`. The metrics: impressions_per_user, ctr, conversion, add_to_cart,
 * dwell_per_impression, revenue_per_session, skip_rate, popularity (mean share of users
 * who interacted with the items shown), return_rate (RECSYS_OPT_ONLINE_RETURN_DAYS),
 * requests_per_user, llm_calls_per_request, llm_tokens_per_request, llm_cost_per_request
 * (each request once, its impressions' recsys_event::llm_calls and llm_tokens; the cost is
 * tokens / 1000 x RECSYS_OPT_ONLINE_LLM_COST_PER_1K_TOKENS). A CUT is `{"name",
 * "impressions", "clicks", "ctr", "conversion", "add_to_cart", "skip_rate",
 * "dwell_per_impression"}` over the impressions whose
 * recsys_event::sources name that source (an item several sources proposed counts for
 * each) or whose recsys_event::ranker is that ranker, a ranker's with `"requests",
 * "llm_calls_per_request", "llm_tokens_per_request", "llm_cost_per_request"` too;
 * impressions logged without them (before 0.2, or by a store that drops them) are in no
 * cut. Intervals bound arm - control: a percentile bootstrap over users
 * (RECSYS_OPT_EXPERIMENT_BOOTSTRAP replicates, a fixed seed: the same log gives the same
 * report) or the delta method, at RECSYS_OPT_EXPERIMENT_CONFIDENCE. The sample-ratio check
 * is Pearson's chi-square of the exposed users per arm (and holdout) against the split; it
 * passes when p >= RECSYS_OPT_EXPERIMENT_SRM_ALPHA. The "llm" object is the engine's
 * (recsys_engine_llm_stats since it started, over every request it served); the per-arm
 * LLM cost is in the metrics. Every arm, the control included, applies its options and
 * ranker. O(E log E + B U) for
 * E events, U users, B replicates; the store is scanned once.
 * @param[out] out freed with recsys_string_free().
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOT_FOUND; RECSYS_E_NOMEM; a store
 *         error. Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_experiment_report_json(recsys_engine *engine,
                                                                          const char *name,
                                                                          char **out);
/**
 * The online metrics of all traffic in [from, to) (Unix seconds; to 0 = open) as JSON, in
 * the shape of one arm of recsys_experiment_report_json() plus "attribution" and "llm":
 * `{"from", "to", "users", "impressions", "clicks", "coverage", "metrics", "by_position",
 * "by_source", "by_ranker", "attribution", "llm"}`.
 * @param[out] out freed with recsys_string_free().
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL, from < 0, to not after from);
 *         RECSYS_E_NOMEM; a store error. Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_online_metrics_json(recsys_engine *engine,
                                                                       int64_t from, int64_t to,
                                                                       char **out);

/** The most items one ranking may hold in recsys_interleave(). @since 0.2 */
#define RECSYS_INTERLEAVE_MAX 1000

/**
 * Team-draft interleaving (Radlinski et al. 2008) of two rankings for one session, a faster
 * alternative to an A/B test for comparing two rankers on the same traffic: get both lists
 * (recsys_request_set_ranker, impressions off), show the interleaved one, log its
 * impressions (recsys_feedback with RECSYS_EVENT_IMPRESSION, request id, position), and
 * credit each click to the team of the item clicked; the session goes to the ranker with
 * more credited clicks, and recsys_interleave_test() over the sessions says whether one wins
 * significantly. In each round the ranker that contributed fewer items (a coin flip from
 * seed when equal) adds its best item not yet shown. Ids are compared exactly (strcmp).
 * @param[in] a, na ranker A's item ids, best first, distinct (borrowed; na at most
 *            RECSYS_INTERLEAVE_MAX); b, nb ranker B's, the same way.
 * @param[in] k the most items to show (the list stops earlier when both are used up).
 * @param[in] seed the coin flips (e.g. a hash of the request id): the same inputs and seed
 *            give the same list.
 * @param[out] out k slots: the interleaved ids (pointers into a and b).
 * @param[out] team k slots: 0 where ranker A contributed out[i], 1 where B did.
 * @param[out] n the number of entries written.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL arrays with a non-zero count, a NULL or
 *         repeated id, a list longer than RECSYS_INTERLEAVE_MAX: named); RECSYS_E_NOMEM.
 * Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_interleave(const char *const *a, size_t na,
                                                              const char *const *b, size_t nb,
                                                              size_t k, uint64_t seed,
                                                              const char **out, uint8_t *team,
                                                              size_t *n);
/**
 * The two-sided sign test of interleaved sessions: wins_a sessions in which ranker A got more
 * credited clicks, wins_b in which B did (ties left out). *p = min(1, 2 P(X <= min(wins_a,
 * wins_b))), X binomial(wins_a + wins_b, 1/2); 1 when there are no decided sessions.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL p). Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_interleave_test(uint64_t wins_a,
                                                                   uint64_t wins_b, double *p);

/** @} */

/* ------------------------------------------------------------------------------------------ */
/** @defgroup batch Batch calls
 *  Many requests or many items in one call, for hosts (and the Python bindings) that serve
 *  or score a whole population at once.
 *  @{ */

/** The most requests one recsys_recommend_batch() call takes. @since 0.2 */
#define RECSYS_RECOMMEND_BATCH_MAX 1000000

/**
 * Runs recsys_recommend() for each of n requests, spread over up to `threads` threads (the
 * caller's included; helper threads are started for the call and joined before it
 * returns). Each slot is independent, exactly as n separate calls: results[i] receives
 * request i's result (free each with recsys_result_free()), or NULL when it failed, and
 * statuses[i] its status. The order of results is the order of reqs whatever the threads.
 * @param[in] reqs n requests (borrowed; the same request may appear several times).
 * @param[in] n 0 (nothing to do) to RECSYS_RECOMMEND_BATCH_MAX.
 * @param[in] threads 0 = one per processor, 1 = the caller alone, else at most that many
 *            (never more than n).
 * @param[out] results n slots, all written (NULL for a failed slot).
 * @param[out] statuses n slots, or NULL when the caller needs only the overall status.
 * @return RECSYS_OK when every request succeeded; else the status of the first failing
 *         request (lowest index), with its message prefixed "request <i>: ", the other
 *         slots still filled; RECSYS_E_INVALID_ARG (NULL engine, reqs, results or reqs[i],
 *         n too large: then nothing ran, and every results[i] is NULL when results is not
 *         NULL and n is within bounds).
 * Thread-safe (as recsys_recommend). @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_recommend_batch(recsys_engine *engine,
                                                                   const recsys_request *const *reqs,
                                                                   size_t n, size_t threads,
                                                                   recsys_result **results,
                                                                   recsys_status *statuses);

/**
 * Reads a result's items and scores in one call (for bindings, where a call per item costs
 * more than the copy): ids[k] and scores[k] for k < min(cap, recsys_result_count(res)).
 * The ids live as long as res. Either array may be NULL (not read).
 * @return the number of entries written (0 for a NULL res). Thread-safe for distinct
 *         results. @since 0.2
 */
RECSYS_API size_t recsys_result_items(const recsys_result *res, const char **ids,
                                      double *scores, size_t cap);

/**
 * Copies a named embedding of n catalog items into one row-major matrix: row i (dim floats
 * at out + i * dim) is item_ids[i]'s, so a host can hand the library's vectors to numpy or
 * BLAS without a copy per item.
 * @param[in] name the embedding's name ("default" when NULL).
 * @param[in] item_ids n ids (borrowed). @param[in] n 0..RECSYS_RECOMMEND_BATCH_MAX.
 * @param[in] dim the dimension every listed item's embedding must have (1..4096).
 * @param[out] out n * dim floats; partly written when the call fails.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL, dim out of range, an item whose embedding
 *         has another dimension: named); RECSYS_E_NOT_FOUND (an unknown item, or an item
 *         without that embedding: named).
 * Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_catalog_embeddings(recsys_engine *engine,
                                                                      const char *name,
                                                                      const char *const *item_ids,
                                                                      size_t n, size_t dim,
                                                                      float *out);

/** @} */

/* ------------------------------------------------------------------------------------------ */
/** @defgroup eval Offline evaluation
 *  The offline evaluation protocol (EVAL_PROTOCOL.md, version 1, the one recsys-bench eval
 *  follows): read a data set, split it per user in time (train/test, and fit/validation
 *  inside train), load a part into an engine, and score the lists the host produced for
 *  the evaluated users with the protocol's metrics. The data set gives every item and user
 *  an engine id that sorts like the protocol's id order (items: the id zero-padded, e.g.
 *  "0000242"; users: "u0000000" in id order), so the engine's tie-break by id is the
 *  protocol's. A data set and a run are not thread-safe: use each from one thread at a
 *  time (two threads may read one data set).
 *  @{ */

typedef struct recsys_eval_dataset recsys_eval_dataset; /**< interactions and their split */
typedef struct recsys_eval_run recsys_eval_run;         /**< lists being scored */

/** Parts of a data set's split. @since 0.2 */
typedef enum recsys_eval_part {
    RECSYS_EVAL_TRAIN = 1,      /**< train (= fit + validation) */
    RECSYS_EVAL_TEST = 2,       /**< the last 20% of each user with at least 5 interactions */
    RECSYS_EVAL_FIT = 3,        /**< train minus validation */
    RECSYS_EVAL_VALIDATION = 4, /**< the same rule applied to train */
    RECSYS_EVAL_ALL = 5         /**< every positive interaction */
} recsys_eval_part;

/** Which records are positive interactions. @since 0.2 */
typedef enum recsys_eval_variant {
    RECSYS_EVAL_VARIANT_ALL = 0, /**< every record */
    RECSYS_EVAL_VARIANT_GE4 = 1  /**< only ratings >= 4 */
} recsys_eval_variant;

/** recsys_eval_dataset_feed() flag: upsert the catalog (every item of the data set) first. */
#define RECSYS_EVAL_FEED_ITEMS 0x1u
/** Flag: with the items, their title, category "film" and genres as tags (when the data set
 *  has item metadata); implies RECSYS_EVAL_FEED_ITEMS. */
#define RECSYS_EVAL_FEED_METADATA 0x2u

/**
 * Reads a data set and splits it.
 * @param[in] path the ml-100k folder (u.data, u.item, u.genre), the ml-latest-small folder
 *            (ratings.csv, movies.csv), or a csv file of user_id,item_id[,timestamp[,value]].
 * @param[in] format "ml-100k", "ml-latest-small" or "csv".
 * @param[in] variant a recsys_eval_variant.
 * @param[in] items_path csv only: an optional item_id,title[,tags] file (NULL = none). Item
 *            metadata gives the calibration metric its genres; a data set without it has
 *            calibration_kl null.
 * @param[in] allocator NULL for malloc, else copied (used for everything the data set and
 *            its runs allocate).
 * @param[out] out the data set, freed with recsys_eval_dataset_free(); NULL on failure.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL, unknown format or variant, malformed data:
 *         "file:line: what"); RECSYS_E_IO (a file cannot be read); RECSYS_E_NOMEM.
 * Thread-safe. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_eval_dataset_open(const char *path,
                                                                     const char *format,
                                                                     int32_t variant,
                                                                     const char *items_path,
                                                                     const recsys_allocator *allocator,
                                                                     recsys_eval_dataset **out);
/** Frees a data set; NULL is ignored. Its runs must be freed first. @since 0.2 */
RECSYS_API void recsys_eval_dataset_free(recsys_eval_dataset *ds);
/** Returns the number of items (the catalog of the protocol). @since 0.2 */
RECSYS_API size_t recsys_eval_dataset_item_count(const recsys_eval_dataset *ds);
/**
 * Returns item i's engine id (i in id order), or NULL when out of range. Lives as long as
 * ds. @since 0.2
 */
RECSYS_API const char *recsys_eval_dataset_item_id(const recsys_eval_dataset *ds, size_t i);
/**
 * Returns the number of users with at least one interaction in part (for TEST and
 * VALIDATION: the evaluated users), or 0 for an unknown part. @since 0.2
 */
RECSYS_API size_t recsys_eval_dataset_user_count(const recsys_eval_dataset *ds, int32_t part);
/**
 * Returns the engine id of the i-th user (in id order) with interactions in part, or NULL
 * when out of range. Lives as long as ds. @since 0.2
 */
RECSYS_API const char *recsys_eval_dataset_user_id(const recsys_eval_dataset *ds, int32_t part,
                                                   size_t i);
/**
 * Describes the data set as JSON: {"format","variant","users","items","interactions",
 * "records","discarded","duplicates","train","test","fit","validation","test_users",
 * "validation_users","metadata"}.
 * @param[out] out freed with recsys_string_free().
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_eval_dataset_info_json(
    const recsys_eval_dataset *ds, char **out);
/**
 * Sets the options the protocol fixes on an engine that will be trained on part (call it
 * before recsys_eval_dataset_feed(), as the history bound applies while events arrive):
 * RECSYS_OPT_NOW = part's latest timestamp + 1, RECSYS_OPT_HISTORY_MAX large enough to keep
 * every event, RECSYS_OPT_CANDIDATES_PER_SOURCE = the catalog size (full ranking; capped at
 * the option's maximum), RECSYS_OPT_TOP_N = 20, RECSYS_OPT_FILTER_SEEN = 1,
 * RECSYS_OPT_EXPLAIN = 0, RECSYS_OPT_LOG_IMPRESSIONS = 0. Sources, rankers and the rest
 * stay the host's choice.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL, unknown part); an option error.
 * Thread-safe for distinct engines. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_eval_dataset_configure(
    const recsys_eval_dataset *ds, recsys_engine *engine, int32_t part);
/**
 * Loads part into an engine: with RECSYS_EVAL_FEED_ITEMS (or _METADATA) every item first,
 * then part's interactions as RECSYS_EVENT_VIEW events with their timestamps, in time
 * order, through recsys_feedback_batch (timestamps below 1 are shifted by one constant for
 * the whole data set, as 0 means "now" to the engine).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL, unknown part or flag); RECSYS_E_NOMEM; any
 *         error of the engine's calls (an event after the engine's clock, for one: call
 *         recsys_eval_dataset_configure() first). The events fed before a failure stay.
 * Thread-safe for distinct engines. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_eval_dataset_feed(const recsys_eval_dataset *ds,
                                                                     recsys_engine *engine,
                                                                     int32_t part, uint32_t flags);

/**
 * Starts scoring lists for the users of part: RECSYS_EVAL_TEST (the user's train items are
 * known and not candidates) or RECSYS_EVAL_VALIDATION (known = fit).
 * @param[out] out freed with recsys_eval_run_free() (before ds).
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL, another part); RECSYS_E_NOMEM. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_eval_run_new(const recsys_eval_dataset *ds,
                                                                int32_t part,
                                                                recsys_eval_run **out);
/** Frees a run; NULL is ignored. @since 0.2 */
RECSYS_API void recsys_eval_run_free(recsys_eval_run *run);
/**
 * Gives the ranked list (best first) of one evaluated user, replacing any earlier one. Ids
 * are engine ids; only the first 64 entries are looked at. An entry the protocol does not
 * allow (an id not in the data set, a known item, a repeat) is counted as a violation and
 * dropped; a list shorter than 20 is completed with the remaining candidates in id order
 * (the protocol's ties at the bottom), exactly as recsys-bench eval does.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (NULL, item_ids NULL with n > 0);
 *         RECSYS_E_NOT_FOUND (a user without interactions in the run's part); RECSYS_E_NOMEM.
 * @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_eval_run_add(recsys_eval_run *run,
                                                                const char *user_id,
                                                                const char *const *item_ids,
                                                                size_t n);
/**
 * As recsys_eval_run_add() with the items of a result, in its order.
 * @return as recsys_eval_run_add(). @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_eval_run_add_result(recsys_eval_run *run,
                                                                       const char *user_id,
                                                                       const recsys_result *res);
/**
 * Scores every evaluated user's list (a user given no list scores an empty one, completed;
 * counted in "missing") and returns the metrics as JSON, with recsys-bench eval's names:
 * {"part","users","ndcg@10","recall@10","precision@10","hit@10","map@10","coverage@10",
 * the same at 20,"ild@10","novelty@10","arp@10","calibration_kl@10" (null without genres),
 * the same at 20,"padded","dropped","violations","missing","mostpop":{the metric keys of
 * the protocol's MostPopular on the same split}}. Numbers are printed so that they read
 * back exactly. May be called again after more lists are added.
 * @param[out] out freed with recsys_string_free().
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG; RECSYS_E_NOMEM. @since 0.2
 */
RECSYS_API RECSYS_WARN_UNUSED recsys_status recsys_eval_run_metrics_json(recsys_eval_run *run,
                                                                         char **out);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* RECSYS_H */
