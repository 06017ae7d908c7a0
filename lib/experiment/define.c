/* define.c - experiment definitions from JSON and the deterministic assignment of users to
 * arms (experiment.h documents the format and the hash). Parsing is O(size of the text);
 * assignment O(length of the user id), no allocation. */
#include "experiment.h"
#include "../core/error.h"
#include "../core/utf8.h"
#include "../model/json_read.h"
#include <xxhash.h>

uint32_t recsys__exp_bucket(uint64_t seed, const char *user_id, size_t len)
{
    return (uint32_t)(XXH3_64bits_withSeed(user_id, len, seed) % RECSYS__EXP_BUCKETS);
}

int recsys__exp_assign(const recsys__experiment *x, const char *user_id)
{
    uint32_t b = recsys__exp_bucket(x->seed, user_id, strlen(user_id));
    if (b < x->holdout)
        return RECSYS__EXP_HOLDOUT;
    uint32_t at = x->holdout;
    for (size_t i = 0; i < x->narms; i++) {
        at += x->arms[i].buckets;
        if (b < at)
            return (int)i;
    }
    return RECSYS__EXP_OUT;
}

size_t recsys__exp_shares(const recsys__experiment *x, double *share)
{
    double total = x->holdout;
    for (size_t i = 0; i < x->narms; i++)
        total += x->arms[i].buckets;
    for (size_t i = 0; i < x->narms; i++)
        share[i] = total > 0 ? x->arms[i].buckets / total : 0;
    if (!x->holdout)
        return x->narms;
    share[x->narms] = x->holdout / total;
    return x->narms + 1;
}

void recsys__exp_free(const recsys__mem *m, recsys__experiment *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->narms; i++) {
        recsys__free(m, x->arms[i].name);
        recsys__free(m, x->arms[i].ranker);
        recsys__free(m, x->arms[i].over);
    }
    recsys__free(m, x->arms);
    recsys__free(m, x->name);
    recsys__free(m, x->salt);
    recsys__free(m, x->json);
    memset(x, 0, sizeof *x);
}

/* A copy of a required JSON string of 1..max bytes. */
static recsys_status text_field(const recsys__mem *m, const json_t *v, size_t max,
                                const char *where, const char *field, char **out)
{
    const char *s = recsys__jr_str_of(v);
    if (!s)
        return recsys__jr_failf(where, "field '%s' must be a string", field);
    if (!s[0] || strlen(s) > max)
        return recsys__jr_failf(where, "field '%s' must be 1..%zu bytes", field, max);
    *out = recsys__strdup(m, s);
    return *out ? RECSYS_OK : recsys__err(RECSYS_E_NOMEM, "out of memory reading an experiment");
}

/* A percentage with at most two decimals, in [min_excl, 100], as buckets. */
static recsys_status percent_field(const json_t *v, bool zero_ok, const char *where,
                                   const char *field, uint32_t *buckets)
{
    if (!json_is_number(v))
        return recsys__jr_failf(where, "field '%s' must be a number (percent)", field);
    double p = json_number_value(v), b = p * 100;
    if (!isfinite(p) || p < 0 || p > 100 || (!zero_ok && p == 0))
        return recsys__jr_failf(where, "field '%s': %g is not a percentage in %s..100", field, p,
                                zero_ok ? "0" : "(0");
    if (fabs(b - round(b)) > 1e-6)
        return recsys__jr_failf(where, "field '%s': %g has more than two decimals", field, p);
    *buckets = (uint32_t)round(b);
    return RECSYS_OK;
}

static recsys_status time_field(const json_t *v, const char *where, const char *field,
                                int64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return recsys__jr_failf(where, "field '%s' must be Unix seconds (an integer >= 0)",
                                field);
    *out = (int64_t)json_integer_value(v);
    return RECSYS_OK;
}

/* The option key whose dotted name is name, or -1. */
static int option_slot(const char *name)
{
    for (size_t i = 0; i < recsys__noptdefs; i++)
        if (!strcmp(recsys__optdefs[i].name, name))
            return (int)i;
    return -1;
}

static recsys_status arm_options(const recsys__mem *m, const json_t *obj, const char *where,
                                 recsys__exp_arm *arm)
{
    if (!json_is_object(obj))
        return recsys__jr_failf(where, "field 'options' must be an object of option values");
    size_t n = json_object_size(obj);
    if (n > RECSYS_OPT_SLOTS)
        return recsys__jr_failf(where, "field 'options' has %zu entries", n);
    arm->over = recsys__calloc(m, n ? n : 1, sizeof *arm->over);
    if (!arm->over)
        return recsys__err(RECSYS_E_NOMEM, "out of memory reading an experiment");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int slot = option_slot(key);
        if (slot < 0)
            return recsys__jr_failf(where, "options: unknown option '%s'", key);
        const recsys__optdef *d = &recsys__optdefs[slot];
        if (d->type == RECSYS_OPTTYPE_STR)
            return recsys__jr_failf(where, "options: '%s' is a string option; an arm overrides "
                                    "numeric options only", key);
        if (!json_is_number(v) || (d->type == RECSYS_OPTTYPE_INT && !json_is_integer(v)))
            return recsys__jr_failf(where, "options: '%s' must be %s", key,
                                    d->type == RECSYS_OPTTYPE_INT ? "an integer" : "a number");
        double num = json_number_value(v);
        int s;
        recsys_status st = recsys__opt_check_num(d->key, d->type, num, &s);
        if (st != RECSYS_OK) {
            recsys__err_prefix(where);
            return st;
        }
        arm->over[arm->nover].key = d->key;
        arm->over[arm->nover].num = num;
        arm->nover++;
    }
    return RECSYS_OK;
}

static recsys_status parse_arm(const recsys__mem *m, const json_t *o, size_t i,
                               recsys__exp_arm *arm)
{
    static const char *const known[] = { "name", "percent", "ranker", "options" };
    char where[48];
    snprintf(where, sizeof where, "experiment arm %zu", i);
    if (!json_is_object(o))
        return recsys__jr_failf(where, "must be an object");
    RECSYS_TRY(recsys__jr_check_keys(o, known, RECSYS_ARRAY_LEN(known), where, NULL));
    RECSYS_TRY(text_field(m, json_object_get(o, "name"), 63, where, "name", &arm->name));
    if (!strcmp(arm->name, "holdout"))
        return recsys__jr_failf(where, "the name 'holdout' is reserved for the holdout group");
    RECSYS_TRY(percent_field(json_object_get(o, "percent"), false, where, "percent",
                             &arm->buckets));
    const json_t *r = json_object_get(o, "ranker");
    if (r && !json_is_null(r))
        RECSYS_TRY(text_field(m, r, 63, where, "ranker", &arm->ranker));
    const json_t *opts = json_object_get(o, "options");
    if (opts)
        RECSYS_TRY(arm_options(m, opts, where, arm));
    return RECSYS_OK;
}

static recsys_status parse(const recsys__mem *m, const json_t *root, recsys__experiment *x)
{
    static const char *const known[] = { "name", "salt", "holdout", "start", "end", "arms" };
    const char *where = "experiment";
    if (!json_is_object(root))
        return recsys__jr_failf(where, "must be a JSON object");
    RECSYS_TRY(recsys__jr_check_keys(root, known, RECSYS_ARRAY_LEN(known), where, NULL));
    RECSYS_TRY(text_field(m, json_object_get(root, "name"), 63, where, "name", &x->name));
    const json_t *salt = json_object_get(root, "salt");
    RECSYS_TRY(text_field(m, salt ? salt : json_object_get(root, "name"), 256, where, "salt",
                          &x->salt));
    x->seed = XXH3_64bits(x->salt, strlen(x->salt));
    const json_t *h = json_object_get(root, "holdout");
    if (h)
        RECSYS_TRY(percent_field(h, true, where, "holdout", &x->holdout));
    const json_t *t = json_object_get(root, "start");
    if (t)
        RECSYS_TRY(time_field(t, where, "start", &x->start));
    if ((t = json_object_get(root, "end")))
        RECSYS_TRY(time_field(t, where, "end", &x->end));
    if (x->end && x->end <= x->start)
        return recsys__jr_failf(where, "field 'end' (%" PRId64 ") is not after 'start' (%" PRId64
                                ")", x->end, x->start);
    const json_t *arms = json_object_get(root, "arms");
    if (!json_is_array(arms) || json_array_size(arms) < 1 ||
        json_array_size(arms) > RECSYS__EXP_ARMS_MAX)
        return recsys__jr_failf(where, "field 'arms' must be an array of 1..%d arms",
                                RECSYS__EXP_ARMS_MAX);
    size_t n = json_array_size(arms);
    x->arms = recsys__calloc(m, n, sizeof *x->arms);
    if (!x->arms)
        return recsys__err(RECSYS_E_NOMEM, "out of memory reading an experiment");
    uint32_t total = x->holdout;
    for (size_t i = 0; i < n; i++) {
        x->narms = i + 1; /* so that a failure frees what arm i got */
        RECSYS_TRY(parse_arm(m, json_array_get(arms, i), i, &x->arms[i]));
        for (size_t j = 0; j < i; j++)
            if (!strcmp(x->arms[j].name, x->arms[i].name))
                return recsys__jr_failf(where, "arms %zu and %zu are both named '%s'", j, i,
                                        x->arms[i].name);
        total += x->arms[i].buckets;
    }
    if (total > RECSYS__EXP_BUCKETS)
        return recsys__jr_failf(where, "the holdout and the arms add up to %.2f %% (at most 100)",
                                total / 100.0);
    char *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    if (text) {
        x->json = recsys__strdup(m, text);
        free(text); /* jansson's allocation */
    }
    return x->json ? RECSYS_OK : recsys__err(RECSYS_E_NOMEM, "out of memory reading an experiment");
}

recsys_status recsys__exp_parse(const recsys__mem *m, const char *json, size_t len,
                                size_t max_len, recsys__experiment *out)
{
    memset(out, 0, sizeof *out);
    json_t *root = NULL;
    if (max_len > RECSYS__EXP_JSON_MAX)
        max_len = RECSYS__EXP_JSON_MAX;
    RECSYS_TRY(recsys__jr_load(json, len, max_len, "experiment", &root));
    recsys_status st = parse(m, root, out);
    json_decref(root);
    if (st != RECSYS_OK)
        recsys__exp_free(m, out);
    return st;
}
