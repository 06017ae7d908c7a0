/* gbdt.c - LambdaMART training through XGBoost's C API, the strict reader of its JSON model and
 * the native evaluator (see gbdt.h; the evaluator's layout and its measurements are in its
 * "Layout and speed" paragraph). This is the one file that calls XGBoost (STYLE B8). */
#include "gbdt.h"
#include "../core/error.h"
#include <jansson.h>
#include <xgboost/c_api.h>

_Static_assert(sizeof(unsigned) == sizeof(uint32_t), "XGBoost's group sizes are unsigned");
_Static_assert(sizeof(bst_ulong) >= sizeof(uint32_t), "bst_ulong holds a row count");

/* ------------------------------------------------------------------ the loaded model */

/* One node; a tree is breadth-first in g->nodes. Prediction reads a row through a copy of
 * twice its width: [the row with NaN as +inf | the row with NaN as -inf]. A split on feature
 * f reads column f when a missing value goes right (+inf is never < a finite condition) and
 * column nfeat + f when it goes left (-inf always is), so one compare decides every case. */
typedef struct gbdt_node {
    float value;     /* a split: its condition (left when x < value); a leaf: its value */
    uint32_t col;    /* a split: f or nfeat + f (above); a leaf: 0 */
    uint32_t kid[2]; /* left, right (indices into g->nodes); a leaf's are its own index */
} gbdt_node;
_Static_assert(sizeof(gbdt_node) == 16, "a node is 16 bytes");

struct recsys__gbdt {
    size_t nfeat, ntrees, nnodes, max_depth;
    float base;
    char objective[32];
    gbdt_node *nodes; /* nnodes */
    uint32_t *root;   /* ntrees: the index of each tree's root */
    uint32_t *depth;  /* ntrees: each tree's deepest leaf (the lock-step steps) */
};

/* ------------------------------------------------------------------ parameters */

void recsys__gbdt_params_init(recsys__gbdt_params *p)
{
    memset(p, 0, sizeof *p);
    p->trees = 100;
    p->max_depth = 6;
    p->eta = 0.1;
    p->min_child_weight = 1;
    p->lambda = 1;
    p->subsample = 1;
    p->colsample = 1;
    p->threads = 1;
}

static recsys_status check_params(const recsys__gbdt_params *p)
{
    if (p->trees < 1 || p->trees > RECSYS__GBDT_MAX_TREES)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt train: trees %d out of range (1..%d)",
                           p->trees, RECSYS__GBDT_MAX_TREES);
    if (p->max_depth < 1 || p->max_depth > RECSYS__GBDT_MAX_DEPTH)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt train: max_depth %d out of range (1..%d)",
                           p->max_depth, RECSYS__GBDT_MAX_DEPTH);
    if (p->threads < 1 || p->threads > RECSYS__GBDT_MAX_THREADS)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt train: threads %d out of range (1..%d)",
                           p->threads, RECSYS__GBDT_MAX_THREADS);
    const struct {
        const char *name;
        double v, lo, hi;
        bool lo_open;
    } r[] = {
        { "eta", p->eta, 0, 1, true },
        { "min_child_weight", p->min_child_weight, 0, 1e30, false },
        { "lambda", p->lambda, 0, 1e30, false },
        { "subsample", p->subsample, 0, 1, true },
        { "colsample", p->colsample, 0, 1, true },
    };
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(r); i++) {
        double v = r[i].v;
        if (!isfinite(v) || v > r[i].hi || v < r[i].lo || (r[i].lo_open && v == r[i].lo))
            return recsys__err(RECSYS_E_INVALID_ARG, "gbdt train: %s %g out of range (%s%g..%g)",
                               r[i].name, v, r[i].lo_open ? "above " : "", r[i].lo, r[i].hi);
    }
    return RECSYS_OK;
}

/* A double as XGBoost reads a parameter: '.' as the decimal separator whatever the locale
 * (snprintf uses the host's; the separator, one or more bytes, becomes '.'). */
static void param_num(char *out, size_t cap, double v)
{
    char t[48];
    snprintf(t, sizeof t, "%.9g", v);
    size_t n = 0;
    bool sep = false;
    for (const char *s = t; *s && n + 1 < cap; s++) {
        char c = *s;
        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e' || c == 'E') {
            out[n++] = c;
            sep = false;
        } else if (!sep) {
            out[n++] = '.';
            sep = true;
        }
    }
    out[n] = '\0';
}

/* ------------------------------------------------------------------ XGBoost errors */

/* Sets the error of a failed XGBoost call: the first line of XGBGetLastError() without its
 * "[hh:mm:ss] " stamp (the rest is a stack trace). std::bad_alloc becomes RECSYS_E_NOMEM. */
static recsys_status xgb_failed(const char *call)
{
    const char *e = XGBGetLastError();
    if (!e)
        e = "";
    if (e[0] == '[') {
        const char *close = strchr(e, ']');
        if (close && close - e <= 16) {
            e = close + 1;
            while (*e == ' ')
                e++;
        }
    }
    size_t n = strcspn(e, "\r\n");
    if (n > 400)
        n = 400;
    bool nomem = memmem(e, n, "bad_alloc", 9) != NULL;
    return recsys__err(nomem ? RECSYS_E_NOMEM : RECSYS_E_INTERNAL, "gbdt: xgboost %s failed: %.*s",
                       call, (int)n, e);
}

/* Calls XGBoost function fn; on failure sets st and jumps to done. */
#define XGB(fn, ...)                                                                         \
    do {                                                                                     \
        if (fn(__VA_ARGS__) != 0) {                                                          \
            st = xgb_failed(#fn);                                                            \
            goto done;                                                                       \
        }                                                                                    \
    } while (0)

/* ------------------------------------------------------------------ training */

static recsys_status check_data(const float *x, size_t nrows, size_t nfeat, const float *labels,
                                const uint32_t *groups, size_t ngroups)
{
    if (nrows < 1 || nrows > UINT32_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt train: %zu rows out of range (1..%" PRIu32
                           ")", nrows, UINT32_MAX);
    if (nfeat < 1 || nfeat > RECSYS__GBDT_MAX_FEATURES)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt train: %zu features out of range (1..%u)",
                           nfeat, RECSYS__GBDT_MAX_FEATURES);
    if (nrows > SIZE_MAX / sizeof(float) / nfeat)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt train: %zu rows x %zu features overflow",
                           nrows, nfeat);
    if (ngroups < 1 || ngroups > nrows)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt train: %zu groups for %zu rows (expected "
                           "1..%zu)", ngroups, nrows, nrows);
    size_t sum = 0;
    for (size_t i = 0; i < ngroups; i++) {
        if (groups[i] == 0)
            return recsys__err(RECSYS_E_INVALID_ARG, "gbdt train: group %zu is empty", i);
        sum += groups[i];
        if (sum > nrows)
            break;
    }
    if (sum != nrows)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt train: the group sizes sum to %s%zu rows; "
                           "the matrix has %zu", sum > nrows ? "more than " : "", sum, nrows);
    for (size_t i = 0; i < nrows; i++) {
        float l = labels[i];
        if (!isfinite(l) || l < 0 || l > RECSYS__GBDT_MAX_LABEL || l != floorf(l))
            return recsys__err(RECSYS_E_INVALID_ARG, "gbdt train: label of row %zu is %g; labels "
                               "are whole relevance grades 0..%d", i, (double)l,
                               RECSYS__GBDT_MAX_LABEL);
    }
    for (size_t i = 0; i < nrows * nfeat; i++)
        if (isinf(x[i]))
            return recsys__err(RECSYS_E_INVALID_ARG, "gbdt train: feature %zu of row %zu is "
                               "infinite (NaN marks a missing value; infinity is not allowed)",
                               i % nfeat, i / nfeat);
    return RECSYS_OK;
}

recsys_status recsys__gbdt_train(const recsys__mem *m, const float *x, size_t nrows,
                                 size_t nfeat, const float *labels, const uint32_t *groups,
                                 size_t ngroups, const recsys__gbdt_params *p, char **json,
                                 size_t *json_len)
{
    if (json)
        *json = NULL;
    if (json_len)
        *json_len = 0;
    if (!m || !x || !labels || !groups || !p || !json || !json_len)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt train: %s is NULL",
                           !m ? "the allocator" : !x ? "the matrix" : !labels ? "labels"
                           : !groups ? "groups" : !p ? "params" : "an output");
    RECSYS_TRY(check_params(p));
    RECSYS_TRY(check_data(x, nrows, nfeat, labels, groups, ngroups));

    char num[7][48];
    snprintf(num[0], sizeof num[0], "%d", p->max_depth);
    param_num(num[1], sizeof num[1], p->eta);
    param_num(num[2], sizeof num[2], p->min_child_weight);
    param_num(num[3], sizeof num[3], p->lambda);
    param_num(num[4], sizeof num[4], p->subsample);
    param_num(num[5], sizeof num[5], p->colsample);
    snprintf(num[6], sizeof num[6], "%" PRIu32, (uint32_t)p->seed);
    char threads[16];
    snprintf(threads, sizeof threads, "%d", p->threads);
    const char *const param[][2] = {
        { "verbosity", "0" },
        { "booster", "gbtree" },
        { "objective", "rank:ndcg" },
        { "tree_method", "hist" },
        { "disable_default_eval_metric", "1" },
        { "max_depth", num[0] },
        { "eta", num[1] },
        { "min_child_weight", num[2] },
        { "lambda", num[3] },
        { "subsample", num[4] },
        { "colsample_bytree", num[5] },
        { "seed", num[6] },
        { "nthread", threads },
    };

    recsys_status st = RECSYS_OK;
    DMatrixHandle d = NULL;
    BoosterHandle b = NULL;
    char *out = NULL;
    bst_ulong len = 0;
    const char *buf = NULL;
    XGB(XGDMatrixCreateFromMat_omp, x, (bst_ulong)nrows, (bst_ulong)nfeat, NAN, &d, p->threads);
    XGB(XGDMatrixSetFloatInfo, d, "label", labels, (bst_ulong)nrows);
    XGB(XGDMatrixSetUIntInfo, d, "group", groups, (bst_ulong)ngroups);
    XGB(XGBoosterCreate, &d, 1, &b);
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(param); i++)
        XGB(XGBoosterSetParam, b, param[i][0], param[i][1]);
    int every = p->trees >= 10 ? p->trees / 10 : 1;
    for (int it = 0; it < p->trees; it++) {
        XGB(XGBoosterUpdateOneIter, b, it, d);
        if (p->progress && ((it + 1) % every == 0 || it + 1 == p->trees))
            fprintf(stderr, "gbdt: tree %d/%d\n", it + 1, p->trees);
    }
    XGB(XGBoosterSaveModelToBuffer, b, "{\"format\":\"json\"}", &len, &buf);
    if (!buf || len == 0 || len >= SIZE_MAX) {
        st = recsys__err(RECSYS_E_INTERNAL, "gbdt: xgboost saved an empty model");
        goto done;
    }
    out = recsys__alloc(m, (size_t)len + 1);
    if (!out) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    memcpy(out, buf, (size_t)len);
    out[len] = '\0';
done:
    /* the frees are checked too; the first error wins */
    if (b && XGBoosterFree(b) != 0 && st == RECSYS_OK)
        st = xgb_failed("XGBoosterFree");
    if (d && XGDMatrixFree(d) != 0 && st == RECSYS_OK)
        st = xgb_failed("XGDMatrixFree");
    if (st != RECSYS_OK) {
        recsys__free(m, out);
        return st;
    }
    *json = out;
    *json_len = (size_t)len;
    return RECSYS_OK;
}

/* ------------------------------------------------------------------ reading the model */

static recsys_status RECSYS_PRINTF(2, 3) bad(recsys_status st, const char *fmt, ...)
{
    char msg[RECSYS_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return recsys__err(st, "gbdt model: %s", msg);
}
#define CORRUPT(...) bad(RECSYS_E_CORRUPT, __VA_ARGS__)
#define UNSUPPORTED(...) bad(RECSYS_E_UNSUPPORTED, __VA_ARGS__)

/* obj[key] of the given type (a JSON object), or a RECSYS_E_CORRUPT naming where.key (where
 * NULL: obj is the top level). */
static recsys_status get(const json_t *obj, const char *key, json_type type, const char *where,
                         json_t **out)
{
    static const char *const tname[] = { "an object", "an array", "a string", "an integer",
                                         "a number", "true", "false", "null" };
    const char *tn = (size_t)type < RECSYS_ARRAY_LEN(tname) ? tname[type] : "of its type";
    *out = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (!*out)
        return where ? CORRUPT("%s: no field '%s'", where, key)
                     : CORRUPT("no top-level field '%s'", key);
    if (json_typeof(*out) != type)
        return where ? CORRUPT("%s.%s is not %s", where, key, tn)
                     : CORRUPT("top-level field '%s' is not %s", key, tn);
    return RECSYS_OK;
}

/* A count XGBoost writes as a decimal string ("num_nodes": "127"): digits only, <= max. */
static recsys_status get_count(const json_t *obj, const char *key, uint64_t max,
                               const char *where, uint64_t *out)
{
    json_t *v;
    RECSYS_TRY(get(obj, key, JSON_STRING, where, &v));
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    uint64_t x = 0;
    if (n == 0 || n > 20)
        return CORRUPT("%s.%s is not a count", where, key);
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CORRUPT("%s.%s is not a count", where, key);
        unsigned dgt = (unsigned)(s[i] - '0');
        if (x > (UINT64_MAX - dgt) / 10)
            return CORRUPT("%s.%s is too large", where, key);
        x = x * 10 + dgt;
    }
    if (x > max)
        return CORRUPT("%s.%s is %" PRIu64 "; at most %" PRIu64 " is allowed", where, key, x, max);
    *out = x;
    return RECSYS_OK;
}

/* An optional count that must be `want` or `also` when present. */
static recsys_status opt_count_is(const json_t *obj, const char *key, uint64_t want,
                                  uint64_t also, const char *where)
{
    if (!json_object_get(obj, key))
        return RECSYS_OK;
    uint64_t v;
    RECSYS_TRY(get_count(obj, key, UINT64_MAX, where, &v));
    if (v != want && v != also)
        return want == also ? UNSUPPORTED("%s.%s is %" PRIu64 "; only %" PRIu64 " is supported",
                                          where, key, v, want)
                            : UNSUPPORTED("%s.%s is %" PRIu64 "; only %" PRIu64 " or %" PRIu64
                                          " is supported", where, key, v, want, also);
    return RECSYS_OK;
}

/* A float XGBoost writes as a string ("base_score": "5E-1"), read as a JSON number so that
 * the host's locale plays no part. */
static recsys_status get_float_str(const json_t *obj, const char *key, const char *where,
                                   float *out)
{
    json_t *v;
    RECSYS_TRY(get(obj, key, JSON_STRING, where, &v));
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    json_t *num = NULL;
    if (n > 0 && n <= 64 && s[0] != ' ' && s[0] != '[' && s[0] != '{')
        num = json_loadb(s, n, JSON_DECODE_ANY, NULL);
    double d = json_is_number(num) ? json_number_value(num) : NAN;
    json_decref(num);
    float f = (float)d;
    if (!isfinite(d) || !isfinite(f))
        return CORRUPT("%s.%s is not a finite number", where, key);
    *out = f;
    return RECSYS_OK;
}

/* Element i of a node array as an integer in [lo, hi]. */
static recsys_status node_int(const json_t *arr, const char *name, size_t t, size_t i,
                              json_int_t lo, json_int_t hi, json_int_t *out)
{
    const json_t *v = json_array_get(arr, i);
    if (!json_is_integer(v))
        return CORRUPT("trees[%zu].%s[%zu] is not an integer", t, name, i);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return CORRUPT("trees[%zu].%s[%zu] is %" JSON_INTEGER_FORMAT "; expected %"
                       JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT, t, name, i, x, lo, hi);
    *out = x;
    return RECSYS_OK;
}

static const char *const margin_objectives[] = { "rank:ndcg", "rank:pairwise", "rank:map",
                                                 "reg:squarederror" };

/* The arrays of one tree. */
typedef struct tree_json {
    json_t *left, *right, *feat, *cond, *dleft, *type, *parent;
} tree_json;

/* Scratch shared by the trees: old index -> new index, and the breadth-first queue. */
typedef struct scratch {
    uint32_t *map;
    uint32_t *queue;
} scratch;
#define UNSEEN UINT32_MAX

/* Reads tree t (n nodes, arrays checked for length) into g->nodes from index base; *used
 * gets how many nodes it reached. */
static recsys_status read_tree(recsys__gbdt *g, const tree_json *a, size_t t, size_t n,
                               size_t base, scratch *s, size_t *used)
{
    /* every node, reached or not: types, ranges, finiteness */
    for (size_t i = 0; i < n; i++) {
        json_int_t l = 0, r = 0, f = 0, dl = 0, x = 0;
        RECSYS_TRY(node_int(a->left, "left_children", t, i, -1, (json_int_t)n - 1, &l));
        RECSYS_TRY(node_int(a->right, "right_children", t, i, -1, (json_int_t)n - 1, &r));
        if ((l < 0) != (r < 0))
            return CORRUPT("trees[%zu] node %zu has one child (%" JSON_INTEGER_FORMAT ", %"
                           JSON_INTEGER_FORMAT ")", t, i, l, r);
        if (l >= 0 && (l <= (json_int_t)i || r <= (json_int_t)i || l == r))
            return CORRUPT("trees[%zu] node %zu: children %" JSON_INTEGER_FORMAT " and %"
                           JSON_INTEGER_FORMAT " must be distinct nodes after it", t, i, l, r);
        RECSYS_TRY(node_int(a->feat, "split_indices", t, i, 0, UINT32_MAX, &f));
        const json_t *dv = json_array_get(a->dleft, i);
        if (json_is_boolean(dv))
            dl = json_is_true(dv);
        else
            RECSYS_TRY(node_int(a->dleft, "default_left", t, i, 0, 1, &dl));
        if (a->type)
            RECSYS_TRY(node_int(a->type, "split_type", t, i, 0, 1, &x));
        if (a->parent)
            RECSYS_TRY(node_int(a->parent, "parents", t, i, -1, INT32_MAX, &x));
        const json_t *cv = json_array_get(a->cond, i);
        if (!json_is_number(cv))
            return CORRUPT("trees[%zu].split_conditions[%zu] is not a number", t, i);
        double c = json_number_value(cv);
        if (!isfinite(c) || !isfinite((float)c))
            return CORRUPT("trees[%zu].split_conditions[%zu] (%g) is not a finite float", t, i,
                           c);
    }
    /* breadth first from the root: new indices, depth, the checks of reached nodes */
    for (size_t i = 0; i < n; i++)
        s->map[i] = UNSEEN;
    size_t head = 0, tail = 1, level_end = 1, depth = 0;
    s->queue[0] = 0;
    s->map[0] = (uint32_t)base;
    while (head < tail) {
        size_t i = s->queue[head];
        gbdt_node *nd = &g->nodes[base + head];
        json_int_t l = json_integer_value(json_array_get(a->left, i));
        json_int_t r = json_integer_value(json_array_get(a->right, i));
        double c = json_number_value(json_array_get(a->cond, i));
        nd->value = (float)c;
        if (l < 0) {
            nd->col = 0;
            nd->kid[0] = nd->kid[1] = (uint32_t)(base + head);
        } else {
            json_int_t f = json_integer_value(json_array_get(a->feat, i));
            if ((uint64_t)f >= g->nfeat)
                return CORRUPT("trees[%zu].split_indices[%zu] is %" JSON_INTEGER_FORMAT
                               "; num_feature is %zu", t, i, f, g->nfeat);
            if (a->type && json_integer_value(json_array_get(a->type, i)) != 0)
                return UNSUPPORTED("trees[%zu] node %zu is a categorical split", t, i);
            const json_t *dv = json_array_get(a->dleft, i);
            bool dl = json_is_boolean(dv) ? json_is_true(dv) : json_integer_value(dv) != 0;
            nd->col = (uint32_t)f + (dl ? (uint32_t)g->nfeat : 0);
            const json_int_t kids[2] = { l, r };
            for (int k = 0; k < 2; k++) {
                size_t c2 = (size_t)kids[k];
                if (s->map[c2] != UNSEEN)
                    return CORRUPT("trees[%zu] node %zu has two parents", t, c2);
                if (a->parent && json_integer_value(json_array_get(a->parent, c2)) !=
                                     (json_int_t)i)
                    return CORRUPT("trees[%zu].parents[%zu] is %" JSON_INTEGER_FORMAT
                                   "; node %zu points to it", t, c2,
                                   json_integer_value(json_array_get(a->parent, c2)), i);
                s->map[c2] = (uint32_t)(base + tail);
                s->queue[tail++] = (uint32_t)c2;
                nd->kid[k] = s->map[c2];
            }
        }
        if (++head == level_end && tail > head) {
            depth++;
            level_end = tail;
        }
    }
    g->root[t] = (uint32_t)base;
    g->depth[t] = (uint32_t)depth;
    if (depth > g->max_depth)
        g->max_depth = depth;
    *used = tail;
    return RECSYS_OK;
}

/* The arrays of tree t, each of n elements (optional ones may be absent). */
static recsys_status tree_arrays(const json_t *tree, size_t t, size_t n, tree_json *a)
{
    static const struct {
        const char *name;
        size_t off;
        bool optional;
    } f[] = {
        { "left_children", offsetof(tree_json, left), false },
        { "right_children", offsetof(tree_json, right), false },
        { "split_indices", offsetof(tree_json, feat), false },
        { "split_conditions", offsetof(tree_json, cond), false },
        { "default_left", offsetof(tree_json, dleft), false },
        { "split_type", offsetof(tree_json, type), true },
        { "parents", offsetof(tree_json, parent), true },
    };
    char where[32];
    snprintf(where, sizeof where, "trees[%zu]", t);
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(f); i++) {
        json_t **slot = (json_t **)((char *)a + f[i].off);
        *slot = NULL;
        if (f[i].optional && !json_object_get(tree, f[i].name))
            continue;
        RECSYS_TRY(get(tree, f[i].name, JSON_ARRAY, where, slot));
        if (json_array_size(*slot) != n)
            return CORRUPT("%s.%s has %zu elements; num_nodes is %zu", where, f[i].name,
                           json_array_size(*slot), n);
    }
    return RECSYS_OK;
}

/* The number of nodes of tree t (tree_param.num_nodes, at least 1). */
static recsys_status tree_size(const json_t *tree, size_t t, size_t *n)
{
    char where[48];
    json_t *tp;
    uint64_t v;
    snprintf(where, sizeof where, "trees[%zu]", t);
    if (!json_is_object(tree))
        return CORRUPT("%s is not an object", where);
    RECSYS_TRY(get(tree, "tree_param", JSON_OBJECT, where, &tp));
    snprintf(where, sizeof where, "trees[%zu].tree_param", t);
    RECSYS_TRY(get_count(tp, "num_nodes", INT32_MAX, where, &v));
    if (v < 1)
        return CORRUPT("%s.num_nodes is 0", where);
    RECSYS_TRY(opt_count_is(tp, "size_leaf_vector", 0, 1, where));
    *n = (size_t)v;
    const json_t *id = json_object_get(tree, "id");
    if (id && (!json_is_integer(id) || json_integer_value(id) != (json_int_t)t))
        return CORRUPT("trees[%zu].id is not %zu", t, t);
    return RECSYS_OK;
}

/* Everything above the trees: version, learner parameters, objective, booster. */
static recsys_status read_header(const json_t *root, recsys__gbdt *g, json_t **trees_out)
{
    json_t *ver, *learner, *mp, *obj, *name, *gb, *model, *gp, *trees, *info;
    if (!json_is_object(root))
        return CORRUPT("the top level is not an object");
    RECSYS_TRY(get(root, "version", JSON_ARRAY, NULL, &ver));
    const json_t *major = json_array_get(ver, 0);
    if (json_array_size(ver) != 3 || !json_is_integer(major) ||
        !json_is_integer(json_array_get(ver, 1)) || !json_is_integer(json_array_get(ver, 2)))
        return CORRUPT("version is not [major, minor, patch]");
    if (json_integer_value(major) < 1 || json_integer_value(major) > 2)
        return UNSUPPORTED("XGBoost model version %" JSON_INTEGER_FORMAT ".x (1.x and 2.x are "
                           "read)", json_integer_value(major));
    RECSYS_TRY(get(root, "learner", JSON_OBJECT, NULL, &learner));
    RECSYS_TRY(get(learner, "learner_model_param", JSON_OBJECT, "learner", &mp));
    uint64_t nfeat;
    RECSYS_TRY(get_count(mp, "num_feature", RECSYS__GBDT_MAX_FEATURES,
                         "learner.learner_model_param", &nfeat));
    if (nfeat < 1)
        return CORRUPT("learner.learner_model_param.num_feature is 0");
    g->nfeat = (size_t)nfeat;
    RECSYS_TRY(get_float_str(mp, "base_score", "learner.learner_model_param", &g->base));
    RECSYS_TRY(opt_count_is(mp, "num_class", 0, 1, "learner.learner_model_param"));
    RECSYS_TRY(opt_count_is(mp, "num_target", 1, 1, "learner.learner_model_param"));
    RECSYS_TRY(get(learner, "objective", JSON_OBJECT, "learner", &obj));
    RECSYS_TRY(get(obj, "name", JSON_STRING, "learner.objective", &name));
    const char *oname = json_string_value(name);
    bool known = false;
    for (size_t i = 0; i < RECSYS_ARRAY_LEN(margin_objectives) && !known; i++)
        known = strcmp(oname, margin_objectives[i]) == 0;
    if (!known || json_string_length(name) >= sizeof g->objective)
        return UNSUPPORTED("objective '%.40s' (its prediction is not the margin; read: rank:ndcg, "
                           "rank:pairwise, rank:map, reg:squarederror)", oname);
    snprintf(g->objective, sizeof g->objective, "%s", oname);
    RECSYS_TRY(get(learner, "gradient_booster", JSON_OBJECT, "learner", &gb));
    RECSYS_TRY(get(gb, "name", JSON_STRING, "learner.gradient_booster", &name));
    if (strcmp(json_string_value(name), "gbtree") != 0)
        return UNSUPPORTED("booster '%.40s' (only gbtree is read)", json_string_value(name));
    RECSYS_TRY(get(gb, "model", JSON_OBJECT, "learner.gradient_booster", &model));
    const char *mw = "learner.gradient_booster.model";
    RECSYS_TRY(get(model, "gbtree_model_param", JSON_OBJECT, mw, &gp));
    RECSYS_TRY(get(model, "trees", JSON_ARRAY, mw, &trees));
    RECSYS_TRY(get(model, "tree_info", JSON_ARRAY, mw, &info));
    uint64_t ntrees;
    RECSYS_TRY(get_count(gp, "num_trees", INT32_MAX, "gbtree_model_param", &ntrees));
    RECSYS_TRY(opt_count_is(gp, "size_leaf_vector", 0, 1, "gbtree_model_param"));
    if (ntrees != json_array_size(trees) || ntrees != json_array_size(info))
        return CORRUPT("num_trees is %" PRIu64 " but there are %zu trees and %zu tree_info "
                       "entries", ntrees, json_array_size(trees), json_array_size(info));
    for (size_t t = 0; t < ntrees; t++) {
        const json_t *v = json_array_get(info, t);
        if (!json_is_integer(v))
            return CORRUPT("tree_info[%zu] is not an integer", t);
        if (json_integer_value(v) != 0)
            return UNSUPPORTED("tree_info[%zu] is %" JSON_INTEGER_FORMAT " (one output only)", t,
                               json_integer_value(v));
    }
    g->ntrees = (size_t)ntrees;
    *trees_out = trees;
    return RECSYS_OK;
}

void recsys__gbdt_free(const recsys__mem *m, recsys__gbdt *g)
{
    if (!g)
        return;
    recsys__free(m, g->nodes);
    recsys__free(m, g->root);
    recsys__free(m, g->depth);
    recsys__free(m, g);
}

recsys_status recsys__gbdt_load(const recsys__mem *m, const char *json, size_t len,
                                recsys__gbdt **out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt model: out is NULL");
    *out = NULL;
    if (!m || !json)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt model: %s is NULL",
                           !m ? "the allocator" : "the JSON text");
    if (len > RECSYS__GBDT_MAX_JSON)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt model: %zu bytes; the limit is %zu", len,
                           RECSYS__GBDT_MAX_JSON);
    json_error_t e;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
    if (!root) {
        for (char *p = e.text; *p; p++) /* jansson may quote the input: keep it UTF-8 */
            if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
                *p = '?';
        return CORRUPT("invalid JSON at line %d, column %d: %s", e.line, e.column, e.text);
    }
    recsys_status st;
    scratch s = { NULL, NULL };
    recsys__gbdt *g = recsys__calloc(m, 1, sizeof *g);
    if (!g) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    json_t *trees = NULL;
    st = read_header(root, g, &trees);
    if (st != RECSYS_OK)
        goto done;
    /* sizes first: one array for every node of every tree, scratch for the largest tree */
    size_t total = 0, largest = 1;
    for (size_t t = 0; t < g->ntrees; t++) {
        size_t n;
        json_t *tree = json_array_get(trees, t), *lc;
        if ((st = tree_size(tree, t, &n)) != RECSYS_OK)
            goto done;
        char where[32];
        snprintf(where, sizeof where, "trees[%zu]", t);
        if ((st = get(tree, "left_children", JSON_ARRAY, where, &lc)) != RECSYS_OK)
            goto done;
        if (json_array_size(lc) != n) {
            st = CORRUPT("trees[%zu].left_children has %zu elements; num_nodes is %zu", t,
                         json_array_size(lc), n);
            goto done;
        }
        total += n; /* n is bounded by the parsed array, so this cannot overflow */
        largest = RECSYS_MAX(largest, n);
    }
    if (total >= UINT32_MAX) {
        st = UNSUPPORTED("%zu nodes (at most %" PRIu32 ")", total, UINT32_MAX - 1);
        goto done;
    }
    g->nodes = recsys__calloc(m, total ? total : 1, sizeof *g->nodes);
    g->root = recsys__calloc(m, g->ntrees ? g->ntrees : 1, sizeof *g->root);
    g->depth = recsys__calloc(m, g->ntrees ? g->ntrees : 1, sizeof *g->depth);
    s.map = recsys__calloc(m, largest, sizeof *s.map);
    s.queue = recsys__calloc(m, largest, sizeof *s.queue);
    if (!g->nodes || !g->root || !g->depth || !s.map || !s.queue) {
        st = RECSYS_E_NOMEM;
        goto done;
    }
    size_t base = 0;
    for (size_t t = 0; t < g->ntrees; t++) {
        json_t *tree = json_array_get(trees, t);
        size_t n, used = 0;
        tree_json a;
        if ((st = tree_size(tree, t, &n)) != RECSYS_OK ||
            (st = tree_arrays(tree, t, n, &a)) != RECSYS_OK ||
            (st = read_tree(g, &a, t, n, base, &s, &used)) != RECSYS_OK)
            goto done;
        base += used;
    }
    g->nnodes = base;
done:
    recsys__free(m, s.map);
    recsys__free(m, s.queue);
    json_decref(root);
    if (st != RECSYS_OK) {
        recsys__gbdt_free(m, g);
        return st;
    }
    *out = g;
    return RECSYS_OK;
}

void recsys__gbdt_info_get(const recsys__gbdt *g, recsys__gbdt_info *out)
{
    memset(out, 0, sizeof *out);
    if (!g)
        return;
    out->nfeat = g->nfeat;
    out->ntrees = g->ntrees;
    out->nnodes = g->nnodes;
    out->max_depth = g->max_depth;
    out->base_score = g->base;
    snprintf(out->objective, sizeof out->objective, "%s", g->objective);
}

/* ------------------------------------------------------------------ prediction */

/* n rows from x (nfeat floats each; n * 2 * nfeat <= RECSYS__GBDT_ROW_FLOATS) into out:
 * copied with NaN as +inf and as -inf side by side (see gbdt_node), then tree by tree, every
 * row stepping through the tree in lock step. */
static void predict_block(const recsys__gbdt *g, const float *x, size_t n, size_t nfeat,
                          float *out)
{
    const gbdt_node *nodes = g->nodes;
    float buf[RECSYS__GBDT_ROW_FLOATS];
    uint32_t idx[RECSYS__GBDT_BLOCK];
    float acc[RECSYS__GBDT_BLOCK];
    size_t w = 2 * nfeat;
    for (size_t i = 0; i < n; i++) {
        const float *src = x + i * nfeat;
        float *hi = buf + i * w, *lo = hi + nfeat;
        for (size_t f = 0; f < nfeat; f++) {
            float v = src[f];
            bool missing = v != v;
            hi[f] = missing ? INFINITY : v;
            lo[f] = missing ? -INFINITY : v;
        }
        acc[i] = g->base;
    }
    for (size_t t = 0; t < g->ntrees; t++) {
        uint32_t root = g->root[t], depth = g->depth[t];
        for (size_t i = 0; i < n; i++)
            idx[i] = root;
        for (uint32_t d = 0; d < depth; d++) {
            for (size_t i = 0; i < n; i++) {
                const gbdt_node *nd = nodes + idx[i];
                float v = buf[i * w + nd->col];
                idx[i] = nd->kid[!(v < nd->value)];
            }
        }
        for (size_t i = 0; i < n; i++)
            acc[i] += nodes[idx[i]].value;
    }
    memcpy(out, acc, n * sizeof *out);
}

recsys_status recsys__gbdt_predict(const recsys__gbdt *g, const float *x, size_t nrows,
                                   size_t nfeat, float *out)
{
    if (!g)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt predict: the model is NULL");
    if (nrows == 0)
        return RECSYS_OK;
    if (!x || !out)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt predict: %s is NULL",
                           !x ? "the matrix" : "out");
    if (nfeat != g->nfeat)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt predict: rows have %zu features; the "
                           "model has %zu", nfeat, g->nfeat);
    /* at least one row: nfeat <= RECSYS__GBDT_MAX_FEATURES = RECSYS__GBDT_ROW_FLOATS / 2 */
    size_t rows = RECSYS_MIN((size_t)RECSYS__GBDT_BLOCK, RECSYS__GBDT_ROW_FLOATS / (2 * nfeat));
    for (size_t r = 0; r < nrows; r += rows) {
        size_t n = RECSYS_MIN(rows, nrows - r);
        predict_block(g, x + r * nfeat, n, nfeat, out + r);
    }
    return RECSYS_OK;
}

/* ------------------------------------------------------------------ XGBoost's prediction */

struct recsys__gbdt_xgb {
    BoosterHandle b;
    size_t nfeat;
};

void recsys__gbdt_xgb_free(const recsys__mem *m, recsys__gbdt_xgb *h)
{
    if (!h)
        return;
    if (h->b && XGBoosterFree(h->b) != 0) /* nothing to report it to: keep the message */
        (void)xgb_failed("XGBoosterFree");
    recsys__free(m, h);
}

recsys_status recsys__gbdt_xgb_load(const recsys__mem *m, const char *json, size_t len,
                                    int nthread, recsys__gbdt_xgb **out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt xgb: out is NULL");
    *out = NULL;
    if (!m || !json || len == 0)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt xgb: %s", !m ? "the allocator is NULL"
                           : "the JSON text is NULL or empty");
    if (nthread < 1 || nthread > RECSYS__GBDT_MAX_THREADS)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt xgb: nthread %d out of range (1..%d)",
                           nthread, RECSYS__GBDT_MAX_THREADS);
    recsys__gbdt_xgb *h = recsys__calloc(m, 1, sizeof *h);
    if (!h)
        return RECSYS_E_NOMEM;
    recsys_status st = RECSYS_OK;
    char threads[16];
    bst_ulong nf = 0;
    snprintf(threads, sizeof threads, "%d", nthread);
    XGB(XGBoosterCreate, NULL, 0, &h->b);
    XGB(XGBoosterLoadModelFromBuffer, h->b, json, (bst_ulong)len);
    XGB(XGBoosterSetParam, h->b, "verbosity", "0");
    XGB(XGBoosterSetParam, h->b, "nthread", threads);
    XGB(XGBoosterGetNumFeature, h->b, &nf);
    h->nfeat = (size_t)nf;
done:
    if (st != RECSYS_OK) {
        recsys__err_saved keep;
        recsys__err_save(&keep);
        recsys__gbdt_xgb_free(m, h);
        recsys__err_restore(&keep);
        return st;
    }
    *out = h;
    return RECSYS_OK;
}

recsys_status recsys__gbdt_xgb_predict(recsys__gbdt_xgb *h, recsys__gbdt_xgb_kind kind,
                                       const float *x, size_t nrows, size_t nfeat, float *out)
{
    if (!h || (nrows && (!x || !out)))
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt xgb predict: a NULL argument");
    if (nfeat != h->nfeat)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt xgb predict: rows have %zu features; the "
                           "model has %zu", nfeat, h->nfeat);
    if (kind != RECSYS__GBDT_XGB_INPLACE && kind != RECSYS__GBDT_XGB_INPLACE_MARGIN &&
        kind != RECSYS__GBDT_XGB_DMATRIX)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt xgb predict: unknown kind %d", (int)kind);
    if (nrows == 0)
        return RECSYS_OK;
    if (nrows > UINT32_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "gbdt xgb predict: %zu rows", nrows);
    recsys_status st = RECSYS_OK;
    DMatrixHandle d = NULL;
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *res = NULL;
    const uint16_t one = 1;
    /* "missing": NaN; "cache_id": 0 is required by 1.7's inplace prediction */
    char cfg[192], arr[160];
    snprintf(cfg, sizeof cfg, "{\"type\":%d,\"training\":false,\"iteration_begin\":0,"
             "\"iteration_end\":0,\"strict_shape\":false,\"missing\":NaN,\"cache_id\":0}",
             kind == RECSYS__GBDT_XGB_INPLACE_MARGIN ? 1 : 0);
    if (kind == RECSYS__GBDT_XGB_DMATRIX) {
        XGB(XGDMatrixCreateFromMat, x, (bst_ulong)nrows, (bst_ulong)nfeat, NAN, &d);
        XGB(XGBoosterPredictFromDMatrix, h->b, d, cfg, &shape, &dim, &res);
    } else {
        snprintf(arr, sizeof arr, "{\"data\":[%" PRIuPTR ",true],\"shape\":[%zu,%zu],"
                 "\"typestr\":\"%cf4\",\"version\":3}", (uintptr_t)x, nrows, nfeat,
                 *(const uint8_t *)&one ? '<' : '>');
        XGB(XGBoosterPredictFromDense, h->b, arr, cfg, NULL, &shape, &dim, &res);
    }
    bst_ulong size = dim ? 1 : 0;
    for (bst_ulong i = 0; i < dim && shape; i++)
        size *= shape[i];
    if (!res || !shape || dim < 1 || shape[0] != nrows || size != nrows) {
        st = recsys__err(RECSYS_E_INTERNAL, "gbdt xgb predict: XGBoost returned %llu values "
                         "for %zu rows", (unsigned long long)size, nrows);
        goto done;
    }
    memcpy(out, res, nrows * sizeof *out);
done:
    if (d && XGDMatrixFree(d) != 0 && st == RECSYS_OK)
        st = xgb_failed("XGDMatrixFree");
    return st;
}
