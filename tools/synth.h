/*
 * synth.h - synthetic users and events with latent tastes, for the demo, the tests and the
 * benchmarks. This is a tool, not part of the library: it uses only the public recsys.h.
 *
 * The model. The catalog (data/catalog.json, or any JSON array of items in the library's
 * shape) gives each item a category, tags, availability, a minimum age, regions, a creation
 * time and a rating. Each synthetic user gets a latent taste:
 *   - a preference over categories (about half the users stay in one domain, the rest mix
 *     two or three),
 *   - weights over tags: a few liked tags (+0.6..1) and a few disliked ones (-0.5..-1) in
 *     each of their categories,
 *   - an age (about 10% are minors aged 13..17, 15% unknown = -1), a region (one of
 *     US CA GB DE FR IN JP BR, 4% unknown) and 1..3 stated interests: their strongest liked
 *     tags written as phrases ("machine-learning" -> "machine learning").
 * The user's affinity to an item is the sum of the weights of the item's tags divided by
 * sqrt(number of tags). Each user lives through sessions spread over [start, end): a session
 * picks a category by the category preference and a focus tag among the liked ones, may
 * open with a search whose text is made of taste words ("gaming laptop"), then browses items
 * chosen by softmax(3 * affinity + focus bonus + popularity prior) among the items the user
 * may see at that time (created, in the user's region, allowed for the user's age); one pick
 * in eight is uniform exploration. The outcome follows the affinity: a view, then a click,
 * watch_time (films), dwell, like, add_to_cart, purchase and a 1..5 rating that grows with
 * the affinity; items against the taste get skips and dislikes. Out-of-stock items are only
 * viewed. So the events carry a learnable structure: taste beats popularity.
 *
 * Held-out positives. A user's positive items are those with a click, like, add_to_cart,
 * purchase, rating >= 4 or a watch_time of at least half the film, and no dislike. With
 * opts.holdout = K, the K positive items whose last positive event is latest are held out:
 * every event of that user on those items is removed from the training events and the items
 * are returned by synth_heldout_item().
 *
 * Determinism. Everything follows from opts.seed (xoshiro256** seeded through splitmix64,
 * one stream per user, so user i does not change when more users are asked for). No rand(),
 * no clock.
 *
 * Errors. Fallible functions return a recsys_status; a failure of the generator itself sets
 * the thread's recsys_last_error() through recsys_error_set(), and a failure of the engine
 * keeps the engine's message, prefixed by what synth was doing. Print recsys_last_error().
 *
 * Threads. A synth is immutable after synth_new(); concurrent readers are fine.
 */
#ifndef RECSYS_TOOLS_SYNTH_H
#define RECSYS_TOOLS_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "recsys.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Generation options; fill with synth_opts_init() and change what you need. */
typedef struct synth_opts {
    uint64_t seed;        /**< the PRNG seed (default 42) */
    size_t users;         /**< number of synthetic users (default 300) */
    int64_t start;        /**< first possible event time, Unix seconds (default 2025-01-01) */
    int64_t end;          /**< events fall strictly before this (default 2025-07-01) */
    double sessions_mean; /**< mean sessions per user, >= 1 (default 8) */
    double items_mean;    /**< mean items browsed per session, >= 1 (default 5) */
    size_t holdout;       /**< positive items held out per user (default 0 = none) */
    const char *id_prefix; /**< user ids are prefix + 4 digits (default "user-"); copied */
} synth_opts;

/** Fills opts with the defaults above. */
void synth_opts_init(synth_opts *opts);

/** A generated world: the catalog's features, the users and their events. */
typedef struct synth synth;

/**
 * Parses the catalog (a JSON array of items, at least one), draws the users and simulates
 * their events. Events are ordered by time.
 * @param[in] catalog_json, len the catalog text (not retained).
 * @param[in] opts NULL for the defaults.
 * @param[out] out the world, freed with synth_free(); NULL on failure.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG (bad options or JSON, with a message);
 *         RECSYS_E_NOMEM.
 */
recsys_status synth_new(const char *catalog_json, size_t len, const synth_opts *opts,
                        synth **out);
/** Frees a world; NULL is ignored. */
void synth_free(synth *s);

/* ---- users ---- */

/** Number of users. */
size_t synth_user_count(const synth *s);
/** User u's id ("user-0007"), or NULL when out of range. Lives as long as s. */
const char *synth_user_id(const synth *s, size_t u);
/** User u's age, -1 when unknown (or u out of range). */
int synth_user_age(const synth *s, size_t u);
/** User u's region ("GB"), or NULL when unknown. */
const char *synth_user_region(const synth *s, size_t u);
/** Number of stated interests of user u. */
size_t synth_user_interest_count(const synth *s, size_t u);
/** Stated interest j of user u ("machine learning"), or NULL when out of range. */
const char *synth_user_interest(const synth *s, size_t u, size_t j);
/**
 * Share (0..1) of user u's sessions expected in the category ("film"); the shares of a user
 * sum to 1. 0 for an unknown category or u out of range.
 */
double synth_user_category_share(const synth *s, size_t u, const char *category);
/** The category with user u's largest share, or NULL when u is out of range. */
const char *synth_user_top_category(const synth *s, size_t u);
/**
 * User u's latent affinity to an item (sum of tag weights / sqrt(tag count)): > 0 means the
 * item matches the taste, < 0 that it goes against it. 0 for an unknown item.
 */
double synth_user_affinity(const synth *s, size_t u, const char *item_id);
/** Number of training events of user u (held-out events excluded). */
size_t synth_user_event_count(const synth *s, size_t u);
/** Index of the user with this id, or (size_t)-1. */
size_t synth_user_find(const synth *s, const char *user_id);

/* ---- held-out positives ---- */

/** Number of items held out for user u (at most opts.holdout; fewer for quiet users). */
size_t synth_heldout_count(const synth *s, size_t u);
/** Held-out item j of user u, latest first; NULL when out of range. Lives as long as s. */
const char *synth_heldout_item(const synth *s, size_t u, size_t j);

/* ---- events ---- */

/** Number of training events (all users, held-out events excluded), in time order. */
size_t synth_event_count(const synth *s);
/**
 * Reads training event i as a typed record (struct_size set, position -1). Its strings are
 * borrowed from s and live as long as s.
 * @return RECSYS_OK; RECSYS_E_INVALID_ARG for NULL or i out of range.
 */
recsys_status synth_event_get(const synth *s, size_t i, recsys_event *ev);

/* ---- loading into an engine ---- */

/**
 * Upserts every user's profile (stated interests, age, region) with the spec builder.
 * @return RECSYS_OK or the engine's status (message prefixed with the user id).
 */
recsys_status synth_load_users(const synth *s, recsys_engine *engine);
/**
 * Records every training event with recsys_feedback(), in time order, with explicit
 * timestamps. The catalog must already be loaded in the engine.
 * @return RECSYS_OK or the engine's status (message prefixed with the event index).
 */
recsys_status synth_load_events(const synth *s, recsys_engine *engine);

#ifdef __cplusplus
}
#endif

#endif /* RECSYS_TOOLS_SYNTH_H */
