/* options.c - the one option table (STYLE B4). */
#include "options.h"
#include "error.h"
#include "utf8.h"
#include "abi.h"

#define RECSYS_OFFSETOFEND_DESC RECSYS_OFFSETOFEND(recsys_option_desc, reserved)

#define I RECSYS_OPTTYPE_INT
#define D RECSYS_OPTTYPE_DOUBLE
#define S RECSYS_OPTTYPE_STR

/* Keep sorted by key. Never renumber or reuse a key. */
const recsys__optdef recsys__optdefs[] = {
    { RECSYS_OPT_TOP_N, I, "engine.top_n", "results per request", 1, 1000, 10, NULL },
    { RECSYS_OPT_MAX_JSON_BYTES, I, "engine.max_json_bytes", "largest JSON text accepted",
      64, 1 << 30, 64 << 20, NULL },
    { RECSYS_OPT_LOG_IMPRESSIONS, I, "engine.log_impressions",
      "log an impression event per recommended item", 0, 1, 1, NULL },
    { RECSYS_OPT_NOW, I, "engine.now", "the clock in Unix seconds; 0 = wall clock", 0, 1e13, 0,
      NULL },
    { RECSYS_OPT_LONG_HALF_LIFE_DAYS, D, "engine.long_half_life_days",
      "half-life of long-term preferences in days", 0.01, 36500, 90, NULL },
    { RECSYS_OPT_SESSION_GAP_S, I, "engine.session_gap_s", "idle seconds that end a session", 1,
      86400 * 30, 1800, NULL },
    { RECSYS_OPT_HISTORY_MAX, I, "engine.history_max",
      "most recent events kept per user in memory", 1, 1000000, 1000, NULL },
    { RECSYS_OPT_CANDIDATES_PER_SOURCE, I, "retrieve.candidates_per_source",
      "cap on each source's candidates", 1, 100000, 500, NULL },
    { RECSYS_OPT_POPULAR_HALF_LIFE_DAYS, D, "retrieve.popular_half_life_days",
      "half-life of popularity counts in days", 0.01, 36500, 30, NULL },
    { RECSYS_OPT_TRENDING_HALF_LIFE_H, D, "retrieve.trending_half_life_h",
      "half-life of the trending window in hours", 0.1, 8760, 24, NULL },
    { RECSYS_OPT_BM25_K1, D, "retrieve.bm25_k1", "BM25 term-frequency saturation", 0, 10, 1.2,
      NULL },
    { RECSYS_OPT_BM25_B, D, "retrieve.bm25_b", "BM25 length normalisation", 0, 1, 0.75, NULL },
    { RECSYS_OPT_ITEMKNN_K, I, "retrieve.itemknn_k", "neighbours kept per item (itemknn)", 1,
      10000, 150, NULL },
    { RECSYS_OPT_ITEMKNN_SHRINK, D, "retrieve.itemknn_shrink",
      "shrinkage added to the cosine denominator (itemknn)", 0, 1e6, 2, NULL },
    { RECSYS_OPT_RP3_ALPHA, D, "retrieve.rp3_alpha", "exponent of the transition probabilities (rp3beta)",
      0, 5, 0.2, NULL },
    { RECSYS_OPT_RP3_BETA, D, "retrieve.rp3_beta", "popularity penalty exponent (rp3beta)", 0, 5,
      0.7, NULL },
    { RECSYS_OPT_RP3_K, I, "retrieve.rp3_k", "neighbours kept per item (rp3beta)", 1, 10000, 200,
      NULL },
    { RECSYS_OPT_EASE_LAMBDA, D, "retrieve.ease_lambda", "L2 regularisation of EASE", 0, 1e9, 300,
      NULL },
    { RECSYS_OPT_EASE_MAX_ITEMS, I, "retrieve.ease_max_items",
      "largest catalog EASE trains on (its memory grows with the square)", 1, 200000, 10000,
      NULL },
    { RECSYS_OPT_IALS_FACTORS, I, "retrieve.ials_factors", "latent factors of iALS", 1, 1024, 64,
      NULL },
    { RECSYS_OPT_IALS_ITERATIONS, I, "retrieve.ials_iterations", "alternating sweeps of iALS", 1,
      1000, 15, NULL },
    { RECSYS_OPT_IALS_REG, D, "retrieve.ials_reg", "L2 regularisation of iALS", 0, 1e6, 10,
      NULL },
    { RECSYS_OPT_IALS_ALPHA, D, "retrieve.ials_alpha",
      "confidence scale of iALS (confidence = 1 + alpha * event weight)", 0, 1e6, 0.3, NULL },
    { RECSYS_OPT_TRAIN_THREADS, I, "retrieve.train_threads",
      "threads for model training (0 = every core)", 0, 256, 0, NULL },
    { RECSYS_OPT_VECTOR_INDEX, S, "retrieve.vector_index",
      "faiss index factory string for the vector source; empty = exact up to "
      "retrieve.vector_exact_max items, IVF beyond", 0, 0, 0, "" },
    { RECSYS_OPT_VECTOR_EXACT_MAX, I, "retrieve.vector_exact_max",
      "largest catalog the vector source searches exactly", 1, 1e9, 200000, NULL },
    { RECSYS_OPT_VECTOR_NPROBE, I, "retrieve.vector_nprobe", "IVF lists probed per query", 1,
      65536, 8, NULL },
    { RECSYS_OPT_RETRIEVE_BUDGET_US, I, "retrieve.budget_us",
      "microseconds the sources may take per request (0 = no limit); a source whose turn "
      "comes after it is spent is skipped", 0, 60e6, 0, NULL },
    { RECSYS_OPT_RETRIEVE_THREADS, I, "retrieve.threads",
      "threads one request's sources run on, the caller's included (0 = up to 2 when the "
      "machine has them; 1 = the caller alone, in registration order)", 0, 16, 0, NULL },
    { RECSYS_OPT_CONTENT_DIM, I, "retrieve.content_dim",
      "dimension of the content source's hashed text vectors, used when no item has a "
      "\"text\" embedding (0 = none: BM25 alone then)", 0, 1024, 64, NULL },
    { RECSYS_OPT_CONTENT_VECTOR_WEIGHT, D, "retrieve.content_vector_weight",
      "weight of the cosine of the profile's and the item's text vectors in the content "
      "source's score, added to BM25 relative to its best hit (0 = BM25 alone)", 0, 100, 0.5,
      NULL },
    { RECSYS_OPT_CONTENT_FUSE_DEPTH, I, "retrieve.content_fuse_depth",
      "best hits BM25 and the text vectors each bring to the content source's fused list",
      1, 100000, 128, NULL },
    { RECSYS_OPT_CONTENT_NPROBE, I, "retrieve.content_nprobe",
      "IVF lists the content source's text vectors probe per query (beyond "
      "retrieve.vector_exact_max items)", 1, 65536, 4, NULL },
    { RECSYS_OPT_RANK_W_SOURCE, D, "rank.w_source", "weight of the merged source score", 0, 100,
      1.0, NULL },
    { RECSYS_OPT_RANK_W_CATEGORY, D, "rank.w_category", "weight of category affinity", 0, 100,
      0.5, NULL },
    { RECSYS_OPT_RANK_W_TAG, D, "rank.w_tag", "weight of tag and interest affinity", 0, 100, 0.5,
      NULL },
    { RECSYS_OPT_RANK_W_SESSION, D, "rank.w_session", "weight of session (short-term) affinity",
      0, 100, 0.5, NULL },
    { RECSYS_OPT_RANK_LTR_TREES, I, "rank.ltr_trees", "boosting rounds of the ltr ranker", 1,
      5000, 100, NULL },
    { RECSYS_OPT_RANK_LTR_DEPTH, I, "rank.ltr_depth", "tree depth of the ltr ranker", 1, 16, 6,
      NULL },
    { RECSYS_OPT_RANK_LTR_ETA, D, "rank.ltr_eta", "learning rate of the ltr ranker", 1e-4, 1,
      0.1, NULL },
    { RECSYS_OPT_RANK_LINEAR_ALPHA, D, "rank.linear_alpha",
      "FTRL-Proximal learning-rate scale alpha of the linear ranker", 1e-6, 100, 0.05, NULL },
    { RECSYS_OPT_RANK_LINEAR_L1, D, "rank.linear_l1", "FTRL-Proximal L1 of the linear ranker",
      0, 1e6, 1, NULL },
    { RECSYS_OPT_RANK_LINEAR_L2, D, "rank.linear_l2", "FTRL-Proximal L2 of the linear ranker",
      0, 1e6, 1, NULL },
    { RECSYS_OPT_RANK_LABEL_IMPRESSION, D, "rank.label_impression",
      "weight of an impression without action, a negative example", 0, 1000, 1, NULL },
    { RECSYS_OPT_RANK_LABEL_CLICK, D, "rank.label_click", "label weight of a click", 0, 1000, 1,
      NULL },
    { RECSYS_OPT_RANK_LABEL_VIEW, D, "rank.label_view", "label weight of a view", 0, 1000, 1,
      NULL },
    { RECSYS_OPT_RANK_LABEL_LIKE, D, "rank.label_like", "label weight of a like", 0, 1000, 2,
      NULL },
    { RECSYS_OPT_RANK_LABEL_CART, D, "rank.label_add_to_cart", "label weight of an add-to-cart",
      0, 1000, 3, NULL },
    { RECSYS_OPT_RANK_LABEL_PURCHASE, D, "rank.label_purchase", "label weight of a purchase", 0,
      1000, 5, NULL },
    { RECSYS_OPT_RANK_LABEL_WATCH, D, "rank.label_watch",
      "label weight of watch time, dwell or a rating", 0, 1000, 1, NULL },
    { RECSYS_OPT_RANK_LINEAR_LEARN, I, "rank.linear_learn",
      "the linear ranker learns online from the feedback to the lists it ranked", 0, 1, 1,
      NULL },
    { RECSYS_OPT_FILTER_SEEN, I, "filter.seen",
      "drop items the user already viewed, clicked, bought or rated", 0, 1, 1, NULL },
    { RECSYS_OPT_FILTER_SHOWN_WINDOW_S, I, "filter.shown_window_s",
      "drop items shown to the user within this many seconds (0 = off)", 0, 86400 * 3650, 0,
      NULL },
    { RECSYS_OPT_DIVERSIFY_METHOD, I, "diversify.method", "0 none, 1 MMR, 2 DPP", 0, 2, 0,
      NULL },
    { RECSYS_OPT_DIVERSIFY_LAMBDA, D, "diversify.lambda",
      "relevance share of MMR and DPP (1 = relevance only)", 0, 1, 0.66, NULL },
    { RECSYS_OPT_DIVERSIFY_WINDOW, I, "diversify.window",
      "best candidates a diversifier chooses from", 1, 100000, 200, NULL },
    { RECSYS_OPT_DIVERSIFY_CATEGORY_CAP, I, "diversify.category_cap",
      "most items per category in a list (0 = off)", 0, 1000, 0, NULL },
    { RECSYS_OPT_DIVERSIFY_PROVIDER_CAP, I, "diversify.provider_cap",
      "most items per provider in a list (0 = off)", 0, 1000, 0, NULL },
    { RECSYS_OPT_DIVERSIFY_CALIBRATION, D, "diversify.calibration",
      "weight of calibrating the category mix to the user's history (0 = off)", 0, 1, 0, NULL },
    { RECSYS_OPT_DIVERSIFY_EXPLORE_SLOTS, I, "diversify.explore_slots",
      "slots reserved for new items with little feedback (0 = off)", 0, 100, 0, NULL },
    { RECSYS_OPT_DIVERSIFY_EXPLORE_MAX_EVENTS, D, "diversify.explore_max_events",
      "an item with at most this decayed popularity counts as new", 0, 1e9, 3, NULL },
    { RECSYS_OPT_LLM_CALLS_PER_REQUEST, I, "llm.calls_per_request",
      "most LLM calls one request may make (0 = never call the LLM)", 0, 1000, 4, NULL },
    { RECSYS_OPT_LLM_TOKENS_PER_REQUEST, I, "llm.tokens_per_request",
      "most LLM tokens (prompt and reply) one request may spend", 0, 1e9, 8000, NULL },
    { RECSYS_OPT_LLM_DEADLINE_MS, I, "llm.deadline_ms",
      "milliseconds a request's LLM work may take before the pipeline goes on without it", 1,
      600000, 2000, NULL },
    { RECSYS_OPT_LLM_RERANK_N, I, "llm.rerank_n",
      "top N the LLM re-ranks after ranking and diversity (0 = no LLM re-ranking)", 0, 1000, 0,
      NULL },
    { RECSYS_OPT_LLM_RERANK_WEIGHT, D, "llm.rerank_weight",
      "weight of the LLM's order against the model's in the final order", 0, 1, 0.5, NULL },
    { RECSYS_OPT_LLM_PROFILE_FIELDS, I, "llm.profile_fields",
      "profile fields prompts may carry: 1 interests, 2 recent history titles, 4 age, 8 region",
      0, 15, 3, NULL },
    { RECSYS_OPT_LLM_CACHE_BYTES, I, "llm.cache_bytes",
      "memory of the LLM reply cache (0 = no cache)", 0, 1073741824, 4194304, NULL },
    { RECSYS_OPT_LLM_BREAKER_FAILURES, I, "llm.breaker_failures",
      "consecutive LLM failures that open the circuit breaker (0 = no breaker)", 0, 1000, 5,
      NULL },
    { RECSYS_OPT_LLM_BREAKER_COOLDOWN_MS, I, "llm.breaker_cooldown_ms",
      "milliseconds an open breaker skips the LLM before one trial call", 1, 86400000, 30000,
      NULL },
    { RECSYS_OPT_LLM_CALLS_PER_MINUTE, I, "llm.calls_per_minute",
      "most LLM calls the engine makes in any 60 s (0 = no limit)", 0, 1e9, 0, NULL },
    { RECSYS_OPT_LLM_TOKENS_PER_MINUTE, I, "llm.tokens_per_minute",
      "most LLM tokens the engine spends in any 60 s (0 = no limit)", 0, 1e12, 0, NULL },
    { RECSYS_OPT_LLM_RERANK_WINDOW, I, "llm.rerank_window",
      "items per LLM re-ranking call (longer lists: sliding windows)", 2, 1000, 20, NULL },
    { RECSYS_OPT_LLM_RERANK_STRIDE, I, "llm.rerank_stride",
      "step between LLM re-ranking windows (at most the window)", 1, 1000, 10, NULL },
    { RECSYS_OPT_LLM_RERANK_SHUFFLES, I, "llm.rerank_shuffles",
      "LLM calls per window in shuffled orders, merged by Borda count", 1, 16, 1, NULL },
    { RECSYS_OPT_LLM_WARM_EVENTS, I, "llm.warm_events",
      "the LLM path runs only for users with fewer events (0 = every user)", 0, 1e12, 0,
      NULL },
    { RECSYS_OPT_LLM_INTENT, I, "llm.intent",
      "read a request's query text as constraints that filter the results", 0, 1, 1, NULL },
    { RECSYS_OPT_CLARIFY_MIN_CANDIDATES, I, "llm.clarify_min_candidates",
      "a conversation asks a clarifying question only while more candidates remain", 0,
      1000000, 5, NULL },
    { RECSYS_OPT_CLARIFY_MAX_QUESTIONS, I, "llm.clarify_max_questions",
      "most clarifying questions one conversation asks", 0, 100, 3, NULL },
    { RECSYS_OPT_CLARIFY_FACETS, S, "llm.clarify_facets",
      "facets a conversation may ask about, comma-separated: attribute names, category, "
      "tag:<tag> (empty = every attribute, the category and the candidates' tags)", 0, 0, 0,
      "" },
    { RECSYS_OPT_CLARIFY_MIN_GAIN, D, "llm.clarify_min_gain",
      "least expected information gain in bits worth a clarifying question", 0, 64, 0.5,
      NULL },
    { RECSYS_OPT_ENRICH_ITEMS_PER_CALL, I, "enrich.items_per_call",
      "items one enrichment call to the LLM carries", 1, 64, 8, NULL },
    { RECSYS_OPT_ENRICH_CALLS, I, "enrich.calls",
      "most LLM calls one recsys_catalog_enrich makes (0 = only stored results are applied)",
      0, 1e9, 100, NULL },
    { RECSYS_OPT_ENRICH_TOKENS, I, "enrich.tokens",
      "most LLM tokens (prompt and reply) one recsys_catalog_enrich spends", 0, 1e12, 1e6,
      NULL },
    { RECSYS_OPT_ENRICH_DEADLINE_MS, I, "enrich.deadline_ms",
      "milliseconds one recsys_catalog_enrich may spend on the LLM (0 = no limit)", 0, 864e5,
      6e5, NULL },
    { RECSYS_OPT_ENRICH_CALL_DEADLINE_MS, I, "enrich.call_deadline_ms",
      "milliseconds one enrichment call to the LLM may take", 1, 36e5, 6e4, NULL },
    { RECSYS_OPT_ENRICH_MAX_TOKENS, I, "enrich.max_tokens",
      "reply token limit of one enrichment call", 16, 1e6, 2048, NULL },
    { RECSYS_OPT_ENRICH_MAX_TAGS, I, "enrich.max_tags",
      "generated tags kept per item (0 = none asked)", 0, 64, 8, NULL },
    { RECSYS_OPT_ENRICH_NEW_TAGS, I, "enrich.new_tags",
      "keep generated tags outside the catalog's tag vocabulary", 0, 1, 0, NULL },
    { RECSYS_OPT_ENRICH_SUMMARY_MAX, I, "enrich.summary_max",
      "bytes of the generated one-sentence summary (0 = none asked)", 0, 4000, 300, NULL },
    { RECSYS_OPT_ENRICH_ATTRIBUTES, S, "enrich.attributes",
      "attributes the LLM may extract, \"name[:num|str|bool],...\" (empty = the catalog's "
      "own attribute names and types)", 0, 0, 0, "" },
    { RECSYS_OPT_EXPLAIN, I, "explain.enabled", "attach grounded explanations to results", 0, 1,
      1, NULL },
    { RECSYS_OPT_EXPLAIN_LLM, I, "explain.llm",
      "the LLM writes the explanations, each checked; a failed one is replaced by the template",
      0, 1, 0, NULL },
    { RECSYS_OPT_ONLINE_ATTRIBUTION_WINDOW_S, I, "online.attribution_window_s",
      "seconds after an impression within which feedback without a matching request id is "
      "attributed to it", 0, 2592000, 1800, NULL },
    { RECSYS_OPT_ONLINE_RETURN_DAYS, I, "online.return_days",
      "horizon in days of the return proxy (a second session within it)", 1, 365, 7, NULL },
    { RECSYS_OPT_ONLINE_REVENUE_ATTRIBUTE, S, "online.revenue_attribute",
      "numeric item attribute used as a purchase's revenue when its value is 0 (empty = none)",
      0, 0, 0, "" },
    { RECSYS_OPT_EXPERIMENT_BOOTSTRAP, I, "experiment.bootstrap",
      "bootstrap replicates of the report's intervals (0 = the delta method)", 0, 100000, 1000,
      NULL },
    { RECSYS_OPT_EXPERIMENT_CONFIDENCE, D, "experiment.confidence",
      "confidence level of the report's intervals", 0.5, 0.999, 0.95, NULL },
    { RECSYS_OPT_EXPERIMENT_SRM_ALPHA, D, "experiment.srm_alpha",
      "the sample-ratio check fails below this p-value", 1e-12, 0.5, 0.001, NULL },
    { RECSYS_OPT_ONLINE_LLM_COST_PER_1K_TOKENS, D, "online.llm_cost_per_1k_tokens",
      "price of 1000 LLM tokens in the host's currency, for the online metrics' LLM cost per "
      "request (0 = no price)", 0, 1e6, 0, NULL },
    { RECSYS_OPT_RANK_OBJ_MAIN, D, "rank.objective_main",
      "weight of the linear ranker's main (blended label) model in its score", -100, 100, 1,
      NULL },
    { RECSYS_OPT_RANK_OBJ_CLICK, D, "rank.objective_click",
      "weight of the predicted click probability in the linear ranker's score", -100, 100, 0,
      NULL },
    { RECSYS_OPT_RANK_OBJ_PURCHASE, D, "rank.objective_purchase",
      "weight of the predicted purchase probability", -100, 100, 0, NULL },
    { RECSYS_OPT_RANK_OBJ_WATCH, D, "rank.objective_watch",
      "weight of the predicted watch time / dwell probability", -100, 100, 0, NULL },
    { RECSYS_OPT_RANK_OBJ_RATING, D, "rank.objective_rating",
      "weight of the predicted probability of a like or a good rating", -100, 100, 0, NULL },
    { RECSYS_OPT_RANK_OBJ_SKIP, D, "rank.objective_skip",
      "weight of the predicted skip probability (negative to avoid skips)", -100, 100, 0, NULL },
    { RECSYS_OPT_RANK_OBJ_DISLIKE, D, "rank.objective_dislike",
      "weight of the predicted dislike probability (negative to avoid them)", -100, 100, 0,
      NULL },
};
const size_t recsys__noptdefs = RECSYS_ARRAY_LEN(recsys__optdefs);

_Static_assert(RECSYS_ARRAY_LEN(recsys__optdefs) <= RECSYS_OPT_SLOTS, "grow RECSYS_OPT_SLOTS");

#undef I
#undef D
#undef S

int recsys__opt_slot(int32_t key)
{
    size_t lo = 0, hi = recsys__noptdefs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (recsys__optdefs[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < recsys__noptdefs && recsys__optdefs[lo].key == key) ? (int)lo : -1;
}

void recsys__optvals_defaults(recsys__optvals *v)
{
    memset(v, 0, sizeof *v);
    for (size_t i = 0; i < recsys__noptdefs; i++)
        v->num[i] = recsys__optdefs[i].def;
}

void recsys__optvals_free(recsys__optvals *v, const recsys__mem *m)
{
    for (size_t i = 0; i < RECSYS_OPT_SLOTS; i++) {
        recsys__free(m, v->str[i]);
        v->str[i] = NULL;
    }
}

static const char *type_name(int32_t t)
{
    return t == RECSYS_OPTTYPE_INT ? "int" : t == RECSYS_OPTTYPE_DOUBLE ? "double" : "string";
}

static recsys_status lookup(int32_t key, int *slot)
{
    int s = recsys__opt_slot(key);
    if (s < 0)
        return recsys__err(RECSYS_E_UNSUPPORTED, "option %" PRId32 " is unknown to librecsys %s",
                           key, RECSYS_VERSION_STRING);
    *slot = s;
    return RECSYS_OK;
}

recsys_status recsys__opt_check_num(int32_t key, int32_t type, double value, int *slot)
{
    RECSYS_TRY(lookup(key, slot));
    const recsys__optdef *d = &recsys__optdefs[*slot];
    /* an int setter may set a double option; a double setter may not set an int option */
    if (d->type == RECSYS_OPTTYPE_STR || (d->type == RECSYS_OPTTYPE_INT && type != d->type))
        return recsys__err(RECSYS_E_INVALID_ARG, "option %" PRId32 " (%s) is of type %s, not %s",
                           key, d->name, type_name(d->type), type_name(type));
    if (!isfinite(value))
        return recsys__err(RECSYS_E_INVALID_ARG, "option %" PRId32 " (%s): value is not finite",
                           key, d->name);
    if (value < d->min)
        return recsys__err(RECSYS_E_INVALID_ARG, "option %" PRId32 " (%s): %g is below minimum %g",
                           key, d->name, value, d->min);
    if (value > d->max)
        return recsys__err(RECSYS_E_INVALID_ARG, "option %" PRId32 " (%s): %g is above maximum %g",
                           key, d->name, value, d->max);
    return RECSYS_OK;
}

recsys_status recsys__opt_check_str(int32_t key, const char *value, int *slot)
{
    RECSYS_TRY(lookup(key, slot));
    const recsys__optdef *d = &recsys__optdefs[*slot];
    if (d->type != RECSYS_OPTTYPE_STR)
        return recsys__err(RECSYS_E_INVALID_ARG, "option %" PRId32 " (%s) is of type %s, not string",
                           key, d->name, type_name(d->type));
    return recsys__check_text(value, 4096, d->name);
}

RECSYS_API recsys_status recsys_option_info(int32_t key, recsys_option_desc *out)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(out);
    if (out->struct_size < RECSYS_OFFSETOFEND_DESC)
        return recsys__err(RECSYS_E_INVALID_ARG, "recsys_option_desc: struct_size %" PRIu32
                           " is too small", out->struct_size);
    int slot = -1;
    RECSYS_TRY(lookup(key, &slot));
    const recsys__optdef *d = &recsys__optdefs[slot];
    uint32_t sz = out->struct_size;
    recsys_option_desc full;
    memset(&full, 0, sizeof full);
    full.struct_size = sz < sizeof full ? sz : (uint32_t)sizeof full;
    full.key = d->key;
    full.type = d->type;
    full.name = d->name;
    full.doc = d->doc;
    full.min_value = d->min;
    full.max_value = d->max;
    full.default_value = d->def;
    full.default_str = d->def_str;
    memcpy(out, &full, full.struct_size);
    return RECSYS_OK;
}

RECSYS_API recsys_status recsys_option_by_name(const char *name, int32_t *key)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(name);
    RECSYS_CHECK_ARG(key);
    for (size_t i = 0; i < recsys__noptdefs; i++)
        if (strcmp(recsys__optdefs[i].name, name) == 0) {
            *key = recsys__optdefs[i].key;
            return RECSYS_OK;
        }
    return recsys__err(RECSYS_E_UNSUPPORTED, "no option is named '%.200s'", name);
}

RECSYS_API recsys_status recsys_option_next(int32_t key, int32_t *next)
{
    recsys__err_clear();
    RECSYS_CHECK_ARG(next);
    if (key == 0) {
        *next = recsys__optdefs[0].key;
        return RECSYS_OK;
    }
    int slot = -1;
    RECSYS_TRY(lookup(key, &slot));
    if ((size_t)slot + 1 >= recsys__noptdefs)
        return recsys__err(RECSYS_E_NOT_FOUND, "option %" PRId32 " is the last one", key);
    *next = recsys__optdefs[slot + 1].key;
    return RECSYS_OK;
}
