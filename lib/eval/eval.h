/* eval.h - offline evaluation: interaction files, the per-user temporal split, full-ranking
 * metrics and the MostPopular reference model, exactly as ../shared/data/EVAL_PROTOCOL.md
 * (version 1) defines them. Internal API (recsys__eval_*): the tests and recsys-bench link it
 * from the static library; nothing here is exported from the shared library.
 *
 * Every allocation goes through the recsys__mem given; every failure returns a status and
 * sets recsys__err with a message. Bad input names the file and the 1-based line:
 * "ratings.csv:17: field 2 (item id) is empty".
 *
 * Ids. An id is the field's text: non-empty, at most RECSYS__EVAL_ID_MAX bytes, no NUL, any
 * other bytes (the fields of csv files may be quoted). A column in which every id is a
 * canonical decimal integer (digits only, no leading zero except "0" itself, below 2^64) is
 * numeric and its ids are ordered numerically, which is the protocol's "item id ascending
 * (numeric comparison)"; any other column is ordered by bytes (strcmp). Users and items get
 * dense indices 0..n-1 in that order, so comparing indices compares ids: every tie-break of
 * the protocol is a comparison of indices. The ml-100k and ml-latest-small readers require
 * decimal ids.
 *
 * Beyond accuracy (beyond.c): intra-list diversity, novelty, average recommendation
 * popularity and calibration of the lists, and the final list a model's answer gives once
 * the entries that break the protocol's rules are dropped (and counted) and it is completed.
 *
 * Timestamps are decimal integers (int64). In a generic csv file a record without one (the
 * field empty or missing) gets its 0-based line number, header excluded, as timestamp
 * (protocol section 8): the physical line on which the record starts, minus the header line.
 */
#ifndef RECSYS_EVAL_EVAL_H
#define RECSYS_EVAL_EVAL_H
#include "../core/alloc.h"

#define RECSYS__EVAL_ID_MAX 256 /* bytes of one id (the engine's limit) */
#define RECSYS__EVAL_MAX_FIELDS 64

/* ------------------------------------------------------------------ interaction files */

typedef enum recsys__eval_format {
    /* ml-100k u.data: user TAB item TAB rating TAB timestamp, no header, 4 integer fields */
    RECSYS__EVAL_ML100K = 1,
    /* ml-latest-small ratings.csv: the header userId,movieId,rating,timestamp, then those four */
    RECSYS__EVAL_MLLATEST = 2,
    /* generic csv with a header line (RFC 4180 quoting, LF or CRLF, an optional UTF-8 BOM).
     * Columns are found by header name, case-insensitively: user = user_id|userid|user,
     * item = item_id|itemid|item|movie_id|movieid, timestamp = timestamp|ts|time,
     * value = value|rating|score|weight. When the header names no user and item column, the
     * columns are positional: user_id,item_id[,timestamp[,value]]. A record may omit trailing
     * optional fields; more fields than the header has is an error. */
    RECSYS__EVAL_CSV = 3
} recsys__eval_format;

typedef enum recsys__eval_variant {
    RECSYS__EVAL_ALL = 0, /* every record is a positive interaction */
    RECSYS__EVAL_GE4 = 1  /* only records with value (rating) >= 4; the others are discarded
                             completely (a csv without values cannot be read as GE4) */
} recsys__eval_variant;

/* One positive interaction: dense user and item indices (in id order) and the timestamp. */
typedef struct recsys__eval_event {
    uint32_t user, item;
    int64_t ts;
} recsys__eval_event;

/* A set of interactions, sorted by (user, timestamp, item) and indexed by user. */
typedef struct recsys__eval_part {
    recsys__eval_event *ev;
    size_t n;
    size_t nusers; /* the data set's user count */
    size_t *off;   /* nusers + 1 entries: user u's events are ev[off[u] .. off[u + 1]) */
} recsys__eval_part;

/* The ids of one column, in id order. */
typedef struct recsys__eval_ids {
    size_t n;
    char **name;   /* the ids as written in the file */
    uint64_t *num; /* their values when numeric, else NULL */
    bool numeric;
} recsys__eval_ids;

/* A data set: the positive interactions after the variant and the duplicate rule. */
typedef struct recsys__eval_data {
    const recsys__mem *mem;
    recsys__eval_ids users; /* every user with a positive interaction */
    recsys__eval_ids items; /* the catalog: every item with a positive interaction */
    recsys__eval_part all;  /* the positive interactions */
    size_t records;         /* data records read (header and blank lines excluded) */
    size_t discarded;       /* records the variant dropped (GE4: value < 4) */
    size_t duplicates;      /* later copies of a (user, item) pair dropped (section 2) */
    int64_t min_ts, max_ts; /* over the positive interactions (0, 0 when there are none) */
} recsys__eval_data;

/* Parses text[0..len) (not necessarily NUL-terminated) in the given format and variant.
 * name is the file name used in messages. Duplicates of a (user, item) pair keep the one
 * with the smallest timestamp, on equal timestamps the earlier record. Returns RECSYS_OK;
 * RECSYS_E_INVALID_ARG for malformed input (message "name:line: what"), an empty result or
 * bad arguments; RECSYS_E_NOMEM. On failure *out is zeroed. */
recsys_status recsys__eval_parse(const recsys__mem *m, const char *text, size_t len,
                                 const char *name, int format, int variant,
                                 recsys__eval_data *out);
/* Reads the file at path and parses it (RECSYS_E_IO when it cannot be read). */
recsys_status recsys__eval_read(const recsys__mem *m, const char *path, int format, int variant,
                                recsys__eval_data *out);
void recsys__eval_data_free(recsys__eval_data *d);

/* Reads a whole file into a NUL-terminated buffer (freed with recsys__free). */
recsys_status recsys__eval_slurp(const recsys__mem *m, const char *path, char **text, size_t *len);

/* ------------------------------------------------------------------ splits */

/* The per-user temporal leave-last-20%-out rule (sections 3 and 4): for each user with
 * n >= 5 interactions in `in`, the last floor(n / 5) in (timestamp, item) order go to tail,
 * the rest to head; users with n < 5 keep all in head. Train/test is split(all), fit and
 * validation is split(train). head and tail are allocated with m; on failure both are
 * zeroed. */
recsys_status recsys__eval_split(const recsys__mem *m, const recsys__eval_part *in,
                                 recsys__eval_part *head, recsys__eval_part *tail);
void recsys__eval_part_free(const recsys__mem *m, recsys__eval_part *p);
/* qsort comparator of recsys__eval_event: timestamp, then user, then item (the order in
 * which a part is fed to an engine as feedback). */
int recsys__eval_event_cmp_time(const void *a, const void *b);
/* The number of users with at least one interaction in p (the evaluated users of a test or
 * validation part). */
size_t recsys__eval_part_users(const recsys__eval_part *p);
/* Sets mark[item] = v for every item of user u in p. */
void recsys__eval_part_mark(const recsys__eval_part *p, uint32_t u, uint8_t *mark, uint8_t v);

/* ------------------------------------------------------------------ metrics */

#define RECSYS__EVAL_NK 2
#define RECSYS__EVAL_KMAX 20
extern const size_t recsys__eval_k[RECSYS__EVAL_NK]; /* { 10, 20 } */

/* One user's metrics at one cutoff (section 6). */
typedef struct recsys__eval_user {
    double ndcg, recall, precision, hit, ap;
} recsys__eval_user;

/* rel[0..n) are the relevance flags (0/1) of the ranked list (n may be below k: the missing
 * positions are not relevant; entries beyond k are ignored), ntruth = |T(u)| >= 1. */
void recsys__eval_user_at(const uint8_t *rel, size_t n, size_t ntruth, size_t k,
                          recsys__eval_user *out);

/* Means over the evaluated users, and catalog coverage, at K = 10 and 20 (index 0 and 1). */
typedef struct recsys__eval_metrics {
    size_t users;  /* evaluated users */
    size_t padded; /* users whose list the ranker left shorter than KMAX (completed, see run) */
    double ndcg[RECSYS__EVAL_NK], recall[RECSYS__EVAL_NK], precision[RECSYS__EVAL_NK];
    double hit[RECSYS__EVAL_NK], map[RECSYS__EVAL_NK], coverage[RECSYS__EVAL_NK];
} recsys__eval_metrics;

/* Accumulates users' ranked lists into recsys__eval_metrics. */
typedef struct recsys__eval_acc {
    const recsys__mem *mem;
    size_t nitems;
    size_t users;
    double sum[RECSYS__EVAL_NK][5]; /* ndcg, recall, precision, hit, ap */
    uint8_t *seen;                  /* nitems: bit k set = in some top-recsys__eval_k[k] list */
    uint32_t *mark;                 /* nitems: == stamp for the current user's truth items */
    uint32_t stamp;
} recsys__eval_acc;

recsys_status recsys__eval_acc_init(recsys__eval_acc *a, const recsys__mem *m, size_t nitems);
/* Adds one evaluated user: list[0..n) is the ranked list (best first; only the first KMAX
 * count), truth[0..ntruth) the relevant items. Items must be < nitems and distinct within
 * list and within truth, and ntruth >= 1 (RECSYS_E_INVALID_ARG otherwise, nothing added). */
recsys_status recsys__eval_acc_add(recsys__eval_acc *a, const uint32_t *list, size_t n,
                                   const uint32_t *truth, size_t ntruth);
void recsys__eval_acc_result(const recsys__eval_acc *a, recsys__eval_metrics *out);
void recsys__eval_acc_free(recsys__eval_acc *a);

/* ------------------------------------------------------------------ running a model */

/* A model under evaluation: writes the top of user's ranking (best first, at most KMAX items)
 * to list and its length to *n. known[item] != 0 marks the user's known (train) items, which
 * are not candidates. */
typedef recsys_status (*recsys__eval_rank_fn)(void *ctx, uint32_t user, const uint8_t *known,
                                              uint32_t *list, size_t *n);

/* Evaluates rank over every user with interactions in truth (test or validation), the
 * candidates being the catalog (nitems) minus the user's items in known (train or fit).
 * A list must hold only candidates, each once (RECSYS_E_INVALID_ARG naming the user and
 * item otherwise). A list shorter than KMAX while candidates remain is completed with the
 * remaining candidates in item order - what the protocol's ranking gives when every item the
 * model did not score ties at the lowest score - and counted in out->padded. progress, when
 * not NULL, is called after each user with (done, total). */
recsys_status recsys__eval_run(const recsys__mem *m, size_t nitems, const recsys__eval_part *known,
                               const recsys__eval_part *truth, recsys__eval_rank_fn rank,
                               void *ctx, void (*progress)(void *ctx, size_t done, size_t total),
                               recsys__eval_metrics *out);

/* The k best of score[0..nitems) (descending; equal scores by item index ascending; NaN
 * ranks as -infinity), skipping items with skip[item] != 0 (skip may be NULL). Writes at
 * most k items to out and the count to *nout. */
void recsys__eval_topk(const double *score, size_t nitems, const uint8_t *skip, size_t k,
                       uint32_t *out, size_t *nout);

/* ------------------------------------------------------------------ MostPopular (section 7) */

/* score[i] = the number of distinct users with item i in train (nitems entries). */
recsys_status recsys__eval_mostpop_scores(const recsys__mem *m, size_t nitems,
                                          const recsys__eval_part *train, double **score);
/* MostPopular trained on train, evaluated on test (or fit/validation). */
recsys_status recsys__eval_mostpop(const recsys__mem *m, size_t nitems,
                                   const recsys__eval_part *train, const recsys__eval_part *test,
                                   recsys__eval_metrics *out);

/* ------------------------------------------------------------------ item metadata */

typedef struct recsys__eval_item {
    char *id;    /* as in the file */
    char *title; /* UTF-8 */
    char **tags; /* UTF-8 genre names */
    size_t ntags;
} recsys__eval_item;

typedef struct recsys__eval_items {
    const recsys__mem *mem;
    recsys__eval_item *v; /* sorted by id (bytes) */
    size_t n;
} recsys__eval_items;

/* Parses item metadata:
 * - RECSYS__EVAL_ML100K: u.item (pipe-separated, 24 fields: id|title|release date|video
 *   release date|IMDb URL|19 genre flags 0/1; titles in Latin-1, converted to UTF-8) with the
 *   genre names of u.genre (name|index lines, indices 0..18), given as genres[0..glen);
 * - RECSYS__EVAL_MLLATEST: movies.csv (header movieId,title,genres; quoted titles; genres
 *   separated by '|'; "(no genres listed)" means none);
 * - RECSYS__EVAL_CSV: a header then item_id,title[,tags] (or columns named item_id/id/
 *   movieId, title/name, tags/genres), tags separated by '|'; UTF-8.
 * Duplicate ids are an error. genres is ignored except for ML100K. */
recsys_status recsys__eval_parse_items(const recsys__mem *m, const char *text, size_t len,
                                       const char *name, int format, const char *genres,
                                       size_t glen, const char *gname, recsys__eval_items *out);
/* Reads the files and parses them (genre_path only for ML100K). */
recsys_status recsys__eval_read_items(const recsys__mem *m, const char *path, int format,
                                      const char *genre_path, recsys__eval_items *out);
/* The item with this id, or NULL. */
const recsys__eval_item *recsys__eval_items_find(const recsys__eval_items *it, const char *id);
void recsys__eval_items_free(recsys__eval_items *it);

/* ------------------------------------------------------------------ final lists (beyond.c) */

/* Entries of a model's answer that break a rule of the protocol (sections 5 and 6): each is
 * dropped from the list the metrics see. A correct pipeline has none. */
typedef struct recsys__eval_violations {
    size_t known;    /* a known (train) item of the user: not a candidate */
    size_t repeated; /* an item already earlier in the answer */
    size_t unknown;  /* not in the catalog (an index >= nitems; UINT32_MAX marks an id the
                        catalog does not have) */
} recsys__eval_violations;

/* The list the protocol scores, from a model's answer raw[0..nraw) (best first): every entry
 * that is not a candidate - beyond the catalog, known[item] != 0, or a repeat - is dropped
 * and counted into *v (added to; v may be NULL), the rest kept in order up to KMAX; a list
 * that is then shorter than KMAX is completed with the remaining candidates in item order
 * (what recsys__eval_run does: every item the model did not score ties at the bottom).
 * Writes out[0..*nout) (out has room for KMAX) and returns true when entries were added.
 * O(nraw * KMAX), plus O(nitems * KMAX) when completing. */
bool recsys__eval_final_list(const uint32_t *raw, size_t nraw, size_t nitems,
                             const uint8_t *known, uint32_t *out, size_t *nout,
                             recsys__eval_violations *v);

/* ------------------------------------------------------------------ beyond accuracy (beyond.c) */

/* Item genres in dense item order: item i's genres are g[off[i] .. off[i + 1]), distinct and
 * ascending; genre j is called name[j] (names sorted bytewise). */
typedef struct recsys__eval_genres {
    const recsys__mem *mem;
    size_t nitems, ngenres;
    size_t *off;  /* nitems + 1 */
    uint32_t *g;  /* off[nitems] entries */
    char **name;  /* ngenres names */
} recsys__eval_genres;

/* Genres of the catalog ids[0..nitems) (the data set's item ids in dense order) from the
 * metadata's tags; an item the metadata lacks, or one without tags, has none, and a tag
 * repeated on one item counts once. Fails (nothing allocated, *out zeroed) with
 * RECSYS_E_INVALID_ARG for NULL arguments or more than UINT32_MAX genres, RECSYS_E_NOMEM. */
recsys_status recsys__eval_genres_build(const recsys__mem *m, const recsys__eval_items *meta,
                                        char *const *ids, size_t nitems,
                                        recsys__eval_genres *out);
void recsys__eval_genres_free(recsys__eval_genres *g);

/* Beyond-accuracy metrics of the top-K lists at K = 10 and 20 (index 0 and 1), the
 * popularity and the item vectors taken from the part the model was trained on ("known":
 * train for test, fit for validation). For one user's list i_1..i_L (L = min(K, length)):
 *
 *  - ILD (intra-list diversity): the mean over the L(L-1)/2 pairs of 1 - cos(i_a, i_b), the
 *    cosine of the items' binary interaction vectors over the users of known:
 *    |U(a) & U(b)| / sqrt(|U(a)| |U(b)|); an item no user of known has has cosine 0 with
 *    everything (distance 1). Users with L < 2 have no ILD.
 *  - novelty: the mean self-information -log2(pop(i) / users) of the listed items, pop =
 *    the item's distinct users in known, users = the users with at least one interaction in
 *    known; an item with pop 0 counts as pop 1 (the largest finite value, log2(users)).
 *  - ARP (average recommendation popularity): the mean pop(i) of the listed items.
 *  - calibration KL (Steck, "Calibrated recommendations", RecSys 2018): KL(p || q~) in nats
 *    = sum_g p(g) ln(p(g) / q~(g)) with q~ = (1 - a) q + a p, a = 0.01; p is the genre
 *    distribution of the user's items in known and q that of the list, each item spreading
 *    weight 1 evenly over its genres (1/ngenres each) and each distribution normalised over
 *    the items that have genres. A list whose items have no genres has q = 0 and KL =
 *    ln(1/a). Users whose known items have no genres have no value.
 *
 * Each metric is the mean over the users that have a value (L >= 1; ILD L >= 2; calibration
 * also needs genres in the user's known items). Building is O(|known| + nitems + users of
 * known); one list costs O(sum of |U(i)| over its items + sum over its pairs of
 * |U(a) & U(b)|) for ILD (the 190 dot products of K = 20, the first 45 of which give K = 10,
 * in one inverted pass over the items' sorted user lists), plus O(|the user's known items|
 * * genres per item + ngenres) for calibration; nothing is allocated per list. */
typedef struct recsys__eval_beyond_metrics {
    size_t users;                             /* lists added */
    size_t ild_users[RECSYS__EVAL_NK];        /* users with an ILD value (L >= 2) */
    size_t listed_users[RECSYS__EVAL_NK];     /* users with L >= 1 (novelty, ARP) */
    size_t calibrated_users[RECSYS__EVAL_NK]; /* users with a calibration value */
    bool has_calibration;      /* genres were given (else calibration_kl is 0, meaning none) */
    double ild[RECSYS__EVAL_NK], novelty[RECSYS__EVAL_NK], arp[RECSYS__EVAL_NK];
    double calibration_kl[RECSYS__EVAL_NK];
} recsys__eval_beyond_metrics;

#define RECSYS__EVAL_CALIBRATION_ALPHA 0.01

typedef struct recsys__eval_beyond {
    const recsys__mem *mem;
    const recsys__eval_part *known;    /* borrowed */
    const recsys__eval_genres *genres; /* borrowed; NULL = no calibration */
    size_t nitems;
    uint32_t *pop;   /* nitems: distinct users of the item in known */
    size_t *uoff;    /* nitems + 1: item i's users are users[uoff[i] .. uoff[i + 1]) */
    uint32_t *users; /* ascending per item */
    uint32_t *umask; /* known->nusers: scratch of beyond_add, all zeros between calls */
    size_t nusers;   /* users with at least one interaction in known */
    double *p, *q;   /* ngenres scratch */
    size_t lists, ild_n[RECSYS__EVAL_NK], list_n[RECSYS__EVAL_NK], cal_n[RECSYS__EVAL_NK];
    double ild[RECSYS__EVAL_NK], nov[RECSYS__EVAL_NK], arp[RECSYS__EVAL_NK];
    double kl[RECSYS__EVAL_NK];
} recsys__eval_beyond;

/* Prepares the accumulator over known (borrowed, as genres when not NULL: both must outlive
 * it). RECSYS_E_INVALID_ARG for NULL arguments, an item of known beyond nitems or genres of
 * another catalog size; RECSYS_E_NOMEM. On failure *b is zeroed. */
recsys_status recsys__eval_beyond_init(recsys__eval_beyond *b, const recsys__mem *m,
                                       size_t nitems, const recsys__eval_part *known,
                                       const recsys__eval_genres *genres);
/* Adds user's final list list[0..n) (best first; only the first KMAX count). The items must
 * be < nitems and distinct and user < known->nusers (RECSYS_E_INVALID_ARG otherwise, nothing
 * added). An empty list is counted in users and has no value. */
recsys_status recsys__eval_beyond_add(recsys__eval_beyond *b, uint32_t user,
                                      const uint32_t *list, size_t n);
void recsys__eval_beyond_result(const recsys__eval_beyond *b, recsys__eval_beyond_metrics *out);
void recsys__eval_beyond_free(recsys__eval_beyond *b);

/* MostPopular (section 7) trained on train, evaluated on test, with the beyond-accuracy
 * metrics of its lists (genres may be NULL). */
recsys_status recsys__eval_mostpop_beyond(const recsys__mem *m, size_t nitems,
                                          const recsys__eval_part *train,
                                          const recsys__eval_part *test,
                                          const recsys__eval_genres *genres,
                                          recsys__eval_metrics *out,
                                          recsys__eval_beyond_metrics *bout);

#endif
