/* clarify.c - the facet with the highest expected information gain, its question, and the
 * LLM's phrasing of it (see clarify.h). */
#include "clarify.h"
#include "prompt.h"
#include <ctype.h>
#include "../core/error.h"
#include "../model/json_read.h"
#include "../model/json_write.h"

/* The versioned template (prompt.h): change the version with the wording or the schema. */
static const recsys__llm_template TPL = {
    .version = "clarify/1",
    .task = RECSYS_LLM_CLARIFY,
    .system =
        "You phrase one short, friendly clarifying question for a shopper, about the facet given "
        "in the data, offering its options. " RECSYS__LLM_DATA_RULE
        " Reply with one JSON object and nothing else: {\"question\":\"...\"}.",
    .instruction = "Write the clarifying question about the facet in the data block.",
    .schema =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"question\"],"
        "\"properties\":{\"question\":{\"type\":\"string\",\"maxLength\":400}}}",
    .max_tokens = 120,
    .temperature = 0.3,
};

/* ------------------------------------------------------------ entropy */

static double entropy(const size_t *counts, size_t k, size_t total)
{
    double h = 0;
    for (size_t i = 0; i < k; i++) {
        if (!counts[i] || !total)
            continue;
        double p = (double)counts[i] / (double)total;
        h -= p * log2(p);
    }
    return h;
}

/* x rounded to two significant digits. */
static double nice_round(double x)
{
    if (x == 0 || !isfinite(x))
        return x;
    double mag = pow(10, floor(log10(fabs(x))) - 1);
    return round(x / mag) * mag;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct scratch {
    double *num;
    const char **str;
} scratch;

/* Numeric attribute: cuts and gain. */
static void score_num(const recsys__catalog *c, const uint32_t *items, size_t n, const char *name,
                      scratch *s, recsys__facet *f)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const recsys_item *it = recsys__catalog_get(c, items[i]);
        const recsys__attr *a = it ? recsys__item_attr(it, name) : NULL;
        if (a && a->type == RECSYS__ATTR_NUM && isfinite(a->num))
            s->num[k++] = a->num;
    }
    f->gain = 0;
    f->ncuts = 0;
    if (k < 2)
        return;
    qsort(s->num, k, sizeof *s->num, cmp_double);
    /* two ways to cut: at the values' tertiles, and at the distinct values' tertiles (when
     * one value dominates, "0 GB of VRAM" for most items, the first cuts coincide); the one
     * that splits better wins */
    size_t u = 1;
    for (size_t i = 1; i < k; i++)
        if (s->num[i] != s->num[i - 1])
            u++;
    double dq[2] = { 0, 0 };
    size_t want[2] = { u / 3, 2 * u / 3 }, d = 0;
    for (size_t i = 0; i < k; i++) {
        if (i && s->num[i] == s->num[i - 1])
            continue;
        for (int w = 0; w < 2; w++)
            if (d == want[w])
                dq[w] = s->num[i];
        d++;
    }
    double opts[2][2] = { { nice_round(s->num[k / 3]), nice_round(s->num[2 * k / 3]) },
                          { nice_round(dq[0]), nice_round(dq[1]) } };
    for (int o = 0; o < 2; o++) {
        double c0 = RECSYS_MIN(opts[o][0], opts[o][1]), c1 = RECSYS_MAX(opts[o][0], opts[o][1]);
        size_t ncuts = c0 == c1 ? 1 : 2;
        size_t cnt[4] = { 0 };
        for (size_t i = 0; i < k; i++) {
            double v = s->num[i];
            cnt[v < c0 ? 0 : (ncuts == 2 && v < c1) ? 1 : 2]++;
        }
        cnt[3] = n - k; /* without the attribute */
        double g = entropy(cnt, 4, n);
        if (g > f->gain + 1e-12) {
            f->gain = g;
            f->cuts[0] = c0;
            f->cuts[1] = c1;
            f->ncuts = ncuts;
        }
    }
}

/* Bool attribute or tag (tag != NULL): yes / no / missing. */
static void score_bool(const recsys__catalog *c, const uint32_t *items, size_t n, const char *name,
                       const char *tag, recsys__facet *f)
{
    size_t cnt[3] = { 0 };
    for (size_t i = 0; i < n; i++) {
        const recsys_item *it = recsys__catalog_get(c, items[i]);
        if (!it)
            continue;
        if (tag) {
            cnt[recsys__item_has_tag(it, tag) ? 0 : 1]++;
            continue;
        }
        const recsys__attr *a = recsys__item_attr(it, name);
        cnt[a && a->type == RECSYS__ATTR_BOOL ? (a->num != 0 ? 0 : 1) : 2]++;
    }
    f->gain = entropy(cnt, 3, n);
}

/* Text attribute (name) or category (name NULL): top two values + another + missing. The
 * three most common values go to f->values. */
static recsys_status score_str(const recsys__mem *m, const recsys__catalog *c,
                               const uint32_t *items, size_t n, const char *name, scratch *s,
                               recsys__facet *f)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const recsys_item *it = recsys__catalog_get(c, items[i]);
        if (!it)
            continue;
        const char *v = NULL;
        if (!name)
            v = it->category[0] ? it->category : NULL;
        else {
            const recsys__attr *a = recsys__item_attr(it, name);
            v = a && a->type == RECSYS__ATTR_STR && a->str && a->str[0] ? a->str : NULL;
        }
        if (v && strlen(v) < RECSYS__INTENT_VALUE_MAX)
            s->str[k++] = v;
    }
    f->gain = 0;
    if (!k)
        return RECSYS_OK;
    qsort(s->str, k, sizeof *s->str, cmp_str);
    /* the three largest runs */
    size_t top[3] = { 0 }, at[3] = { 0 }, ntop = 0;
    for (size_t i = 0; i < k;) {
        size_t j = i;
        while (j < k && !strcmp(s->str[j], s->str[i]))
            j++;
        size_t run = j - i, pos = ntop < 3 ? ntop++ : 3;
        if (pos == 3 && run > top[2])
            pos = 2;
        if (pos < 3) {
            top[pos] = run;
            at[pos] = i;
            for (; pos > 0 && top[pos] > top[pos - 1]; pos--) {
                size_t t = top[pos];
                top[pos] = top[pos - 1];
                top[pos - 1] = t;
                t = at[pos];
                at[pos] = at[pos - 1];
                at[pos - 1] = t;
            }
        }
        i = j;
    }
    size_t cnt[4] = { top[0], ntop > 1 ? top[1] : 0, 0, n - k };
    cnt[2] = k - cnt[0] - cnt[1];
    f->gain = entropy(cnt, 4, n);
    f->values = recsys__calloc(m, ntop, sizeof *f->values);
    if (!f->values)
        return RECSYS_E_NOMEM;
    for (size_t i = 0; i < ntop; i++) {
        if (!(f->values[i] = recsys__strdup(m, s->str[at[i]])))
            return RECSYS_E_NOMEM;
        f->nvalues++;
    }
    return RECSYS_OK;
}

/* ------------------------------------------------------------ the choice */

typedef struct picker {
    const recsys__mem *m;
    const recsys__catalog *c;
    const uint32_t *items;
    size_t n;
    const recsys__intent *in;
    char *const *asked;
    size_t nasked;
    scratch s;
    recsys__facet best;
} picker;

static bool was_asked(picker *P, const recsys__facet *f)
{
    char key[RECSYS__INTENT_VALUE_MAX + 8];
    if (f->kind == RECSYS__FACET_CATEGORY)
        snprintf(key, sizeof key, "category");
    else if (f->kind == RECSYS__FACET_TAG)
        snprintf(key, sizeof key, "tag:%s", f->name);
    else
        snprintf(key, sizeof key, "%s", f->name);
    for (size_t i = 0; i < P->nasked; i++)
        if (!strcmp(P->asked[i], key))
            return true;
    return false;
}

/* Scores facet (kind, name) and keeps it when it beats the best so far. */
static recsys_status consider(picker *P, int kind, const char *name)
{
    recsys__facet f;
    memset(&f, 0, sizeof f);
    f.kind = kind;
    f.name = (char *)name; /* borrowed while scoring */
    if (recsys__intent_has_facet(P->in, &f) || was_asked(P, &f))
        return RECSYS_OK;
    recsys_status st = RECSYS_OK;
    if (kind == RECSYS__FACET_CATEGORY)
        st = score_str(P->m, P->c, P->items, P->n, NULL, &P->s, &f);
    else if (kind == RECSYS__FACET_TAG)
        score_bool(P->c, P->items, P->n, NULL, name, &f);
    else {
        unsigned types = recsys__catalog_attr_types(P->c, name);
        if (types & (1u << RECSYS__ATTR_NUM)) {
            f.type = RECSYS__ATTR_NUM;
            score_num(P->c, P->items, P->n, name, &P->s, &f);
        } else if (types & (1u << RECSYS__ATTR_BOOL)) {
            f.type = RECSYS__ATTR_BOOL;
            score_bool(P->c, P->items, P->n, name, NULL, &f);
        } else if (types & (1u << RECSYS__ATTR_STR)) {
            f.type = RECSYS__ATTR_STR;
            st = score_str(P->m, P->c, P->items, P->n, name, &P->s, &f);
        } else
            return RECSYS_OK; /* not an attribute of this catalog */
    }
    f.name = NULL;
    if (st == RECSYS_OK && f.gain > P->best.gain + 1e-12) {
        if (name && !(f.name = recsys__strdup(P->m, name)))
            st = RECSYS_E_NOMEM;
        if (st == RECSYS_OK) {
            recsys__facet_free(P->m, &P->best);
            P->best = f;
            return RECSYS_OK;
        }
    }
    recsys__facet_free(P->m, &f);
    return st;
}

recsys_status recsys__clarify_pick(const recsys__mem *m, const recsys__catalog *c,
                                   const uint32_t *items, size_t n, const char *allowed,
                                   const recsys__intent *in, char *const *asked, size_t nasked,
                                   double min_gain, recsys__facet *out)
{
    memset(out, 0, sizeof *out);
    if (n < 2)
        return RECSYS_OK;
    picker P = { .m = m, .c = c, .items = items, .n = n, .in = in, .asked = asked,
                 .nasked = nasked };
    P.best.gain = min_gain - 1e-12 > 0 ? min_gain - 2e-12 : 0;
    P.s.num = recsys__calloc(m, n, sizeof *P.s.num);
    P.s.str = recsys__calloc(m, n, sizeof *P.s.str);
    uint32_t *tagn = NULL;
    recsys_status st = P.s.num && P.s.str ? RECSYS_OK : RECSYS_E_NOMEM;
    if (st == RECSYS_OK && allowed && allowed[0]) {
        const char *p = allowed;
        while (st == RECSYS_OK && *p) {
            while (*p == ',' || *p == ' ')
                p++;
            const char *b = p;
            while (*p && *p != ',')
                p++;
            const char *e = p;
            while (e > b && e[-1] == ' ')
                e--;
            char name[RECSYS__INTENT_VALUE_MAX];
            size_t len = (size_t)(e - b);
            if (!len || len >= sizeof name)
                continue;
            memcpy(name, b, len);
            name[len] = '\0';
            if (!strcmp(name, "category"))
                st = consider(&P, RECSYS__FACET_CATEGORY, NULL);
            else if (!strncmp(name, "tag:", 4))
                st = consider(&P, RECSYS__FACET_TAG, name + 4);
            else
                st = consider(&P, RECSYS__FACET_ATTR, name);
        }
    } else if (st == RECSYS_OK) {
        st = consider(&P, RECSYS__FACET_CATEGORY, NULL);
        for (size_t i = 0; st == RECSYS_OK && c->attr_names.n <= 4096 && i < c->attr_names.n; i++) {
            const char *name = recsys__ids_name(&c->attr_names, (uint32_t)i);
            if (name && strlen(name) < RECSYS__INTENT_VALUE_MAX)
                st = consider(&P, RECSYS__FACET_ATTR, name);
        }
        /* tags some but not all candidates have */
        size_t nf = c->facets.ids.n;
        if (st == RECSYS_OK && nf && !(tagn = recsys__calloc(m, nf, sizeof *tagn)))
            st = RECSYS_E_NOMEM;
        for (size_t i = 0; st == RECSYS_OK && i < n; i++) {
            const recsys_item *it = recsys__catalog_get(c, items[i]);
            for (uint32_t k = 0; it && it->tag_facets && k < it->ntags; k++)
                if (it->tag_facets[k] < nf)
                    tagn[it->tag_facets[k]]++;
        }
        for (size_t f = 0; st == RECSYS_OK && f < nf; f++) {
            const char *s = recsys__ids_name(&c->facets.ids, (uint32_t)f);
            if (tagn[f] && tagn[f] < n && s && s[0] == 't')
                st = consider(&P, RECSYS__FACET_TAG, s + 2);
        }
    }
    recsys__free(m, P.s.num);
    recsys__free(m, P.s.str);
    recsys__free(m, tagn);
    if (st != RECSYS_OK) {
        recsys__facet_free(m, &P.best);
        return st;
    }
    if (P.best.kind)
        *out = P.best;
    return RECSYS_OK;
}

/* ------------------------------------------------------------ questions */

/* The words of an attribute name ("gpu_vram_gb" -> "GPU VRAM"), its unit apart. */
static void name_words(const char *name, char *out, size_t cap, const char **unit)
{
    static const char *const UPPER[] = { "gpu", "cpu", "ram", "ssd", "usb", "oled", "ai", "hdmi",
                                         "vram", "lcd", "led", "tv", "hdr", "nfc" };
    static const struct { const char *w, *u; } UNITS[] = {
        { "h", "hours" }, { "hours", "hours" }, { "hrs", "hours" }, { "gb", "GB" },
        { "tb", "TB" },   { "kg", "kg" },       { "lb", "lb" },     { "g", "g" },
        { "in", "inches" }, { "inch", "inches" }, { "mm", "mm" },   { "cm", "cm" },
        { "usd", "USD" }, { "eur", "EUR" },     { "w", "W" },       { "hz", "Hz" },
    };
    char parts[8][64];
    size_t np = 0;
    const char *p = name;
    while (*p && np < 8) {
        while (*p == '_' || *p == '-' || *p == '.' || *p == ' ')
            p++;
        const char *b = p;
        while (*p && *p != '_' && *p != '-' && *p != '.' && *p != ' ')
            p++;
        size_t len = (size_t)(p - b);
        if (len) {
            if (len > 63)
                len = 63;
            memcpy(parts[np], b, len);
            parts[np][len] = '\0';
            for (size_t k = 0; k < len; k++)
                parts[np][k] = (char)tolower((unsigned char)parts[np][k]);
            np++;
        }
    }
    *unit = NULL;
    if (np > 1)
        for (size_t k = 0; k < RECSYS_ARRAY_LEN(UNITS); k++)
            if (!strcmp(parts[np - 1], UNITS[k].w)) {
                *unit = UNITS[k].u;
                np--;
                break;
            }
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < np && len + 1 < cap; i++) {
        bool up = false;
        for (size_t k = 0; k < RECSYS_ARRAY_LEN(UPPER); k++)
            up |= !strcmp(parts[i], UPPER[k]);
        if (up)
            for (char *q = parts[i]; *q; q++)
                *q = (char)toupper((unsigned char)*q);
        int w = snprintf(out + len, cap - len, "%s%s", i ? " " : "", parts[i]);
        if (w < 0 || (size_t)w >= cap - len)
            break;
        len += (size_t)w;
    }
    if (!out[0])
        snprintf(out, cap, "%.*s", (int)(cap - 1), name);
}

static void num_str(char *buf, size_t cap, double v)
{
    snprintf(buf, cap, "%.15g", v);
}

recsys_status recsys__clarify_template(const recsys__mem *m, const recsys__facet *f, char **out)
{
    recsys__jw b = { .m = m };
    char words[RECSYS__INTENT_VALUE_MAX + 16] = ""; /* an attribute facet without a name */
    const char *unit = NULL;
    if (f->kind == RECSYS__FACET_ATTR && f->name)
        name_words(f->name, words, sizeof words, &unit);
    if (f->kind == RECSYS__FACET_TAG) {
        recsys__jw_puts(&b, "Should it be ");
        recsys__jw_puts(&b, f->name ? f->name : "");
        recsys__jw_puts(&b, "? (yes / no / doesn't matter)");
    } else if (f->kind == RECSYS__FACET_ATTR && f->type == RECSYS__ATTR_BOOL) {
        char c0 = (char)tolower((unsigned char)words[0]);
        bool vowel = c0 == 'a' || c0 == 'e' || c0 == 'i' || c0 == 'o' || c0 == 'u';
        recsys__jw_puts(&b, vowel ? "Do you need an " : "Do you need a ");
        recsys__jw_puts(&b, words);
        recsys__jw_puts(&b, "? (yes / no / doesn't matter)");
    } else if (f->kind == RECSYS__FACET_ATTR && f->type == RECSYS__ATTR_NUM && f->ncuts) {
        char a[32], c[32];
        num_str(a, sizeof a, f->cuts[0]);
        num_str(c, sizeof c, f->cuts[f->ncuts - 1]);
        recsys__jw_puts(&b, "Which ");
        recsys__jw_puts(&b, words);
        if (unit) {
            recsys__jw_puts(&b, " (");
            recsys__jw_puts(&b, unit);
            recsys__jw_puts(&b, ")");
        }
        recsys__jw_puts(&b, " suits you: under ");
        recsys__jw_puts(&b, a);
        if (f->ncuts == 2) {
            recsys__jw_puts(&b, ", ");
            recsys__jw_puts(&b, a);
            recsys__jw_puts(&b, " to ");
            recsys__jw_puts(&b, c);
            recsys__jw_puts(&b, ",");
        }
        recsys__jw_puts(&b, " or ");
        recsys__jw_puts(&b, c);
        recsys__jw_puts(&b, " or more?");
    } else {
        recsys__jw_puts(&b, "Which ");
        recsys__jw_puts(&b, f->kind == RECSYS__FACET_CATEGORY ? "category" : words);
        recsys__jw_puts(&b, f->kind == RECSYS__FACET_CATEGORY ? " are you looking for"
                                                               : " do you prefer");
        for (size_t i = 0; i < f->nvalues; i++) {
            recsys__jw_puts(&b, i ? ", " : ": ");
            recsys__jw_puts(&b, f->values[i]);
        }
        recsys__jw_puts(&b, f->nvalues ? " or another?" : "?");
    }
    return recsys__jw_finish(&b, false, out, NULL);
}

recsys_status recsys__clarify_from_reply(const recsys__mem *m, const char *reply, size_t len,
                                         char **out)
{
    *out = NULL;
    if (!reply || len > RECSYS__INTENT_REPLY_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG, "clarify reply: missing or too long");
    const char *b = memchr(reply, '{', len), *e = NULL;
    for (size_t i = len; i > 0 && !e; i--)
        if (reply[i - 1] == '}')
            e = reply + i;
    if (!b || !e || e <= b)
        return recsys__err(RECSYS_E_INVALID_ARG, "clarify reply: no JSON object");
    json_t *root = NULL;
    RECSYS_TRY(recsys__jr_load(b, (size_t)(e - b), RECSYS__INTENT_REPLY_MAX, "clarify reply",
                               &root));
    static const char *const KEYS[] = { "question" };
    recsys_status st = json_is_object(root)
                           ? recsys__jr_check_keys(root, KEYS, 1, "clarify reply", NULL)
                           : recsys__err(RECSYS_E_INVALID_ARG, "clarify reply: not an object");
    const char *q = st == RECSYS_OK ? recsys__jr_str_of(json_object_get(root, "question")) : NULL;
    size_t ql = q ? strlen(q) : 0;
    if (st == RECSYS_OK && (!q || !ql || ql > RECSYS__CLARIFY_QUESTION_MAX))
        st = recsys__err(RECSYS_E_INVALID_ARG,
                         "clarify reply: \"question\" must be a text of 1 to %d bytes",
                         RECSYS__CLARIFY_QUESTION_MAX);
    for (size_t i = 0; st == RECSYS_OK && i < ql; i++) {
        unsigned char ch = (unsigned char)q[i];
        if (ch < 0x20 || ch == 0x7f || ch == '<' || ch == '>')
            st = recsys__err(RECSYS_E_INVALID_ARG,
                             "clarify reply: the question holds a control byte or '<' '>'");
    }
    if (st == RECSYS_OK && !(*out = recsys__strdup(m, q)))
        st = RECSYS_E_NOMEM;
    json_decref(root);
    return st;
}

recsys_status recsys__clarify_question(const recsys__mem *m, const recsys__facet *f,
                                       const char *context, const recsys__intent_llm *llm,
                                       char **out, bool *from_llm)
{
    *out = NULL;
    *from_llm = false;
    char *tpl = NULL;
    RECSYS_TRY(recsys__clarify_template(m, f, &tpl));
    if (!llm || !llm->vt || !llm->guard || (!llm->budget && !llm->get_budget)) {
        *out = tpl;
        return RECSYS_OK;
    }
    recsys__jw b = { .m = m };
    recsys__jw_puts(&b, TPL.instruction);
    recsys__jw_puts(&b, "\n");
    recsys__llm_data_open(&b);
    recsys__jw_puts(&b, "{\"facet\":");
    char words[RECSYS__INTENT_VALUE_MAX + 16];
    const char *unit = NULL;
    if (f->kind == RECSYS__FACET_ATTR && f->name)
        name_words(f->name, words, sizeof words, &unit);
    else
        snprintf(words, sizeof words, "%s",
                 f->kind == RECSYS__FACET_CATEGORY ? "category" : f->name ? f->name : "");
    recsys__llm_quote(&b, words, RECSYS__LLM_WORD_MAX);
    recsys__jw_puts(&b, ",\"name\":");
    recsys__llm_quote(&b, f->kind == RECSYS__FACET_CATEGORY ? "category" : f->name,
                      RECSYS__LLM_WORD_MAX);
    if (unit) {
        recsys__jw_puts(&b, ",\"unit\":");
        recsys__llm_quote(&b, unit, RECSYS__LLM_WORD_MAX);
    }
    recsys__jw_puts(&b, ",\"template\":");
    recsys__llm_quote(&b, tpl, RECSYS__LLM_QUERY_MAX);
    recsys__jw_puts(&b, "}\n{\"shopper_said\":");
    recsys__llm_quote(&b, context ? context : "", RECSYS__LLM_QUERY_MAX);
    recsys__jw_puts(&b, "}\n");
    recsys__llm_data_close(&b);
    char *prompt = NULL;
    recsys_status st = recsys__jw_finish(&b, false, &prompt, NULL);
    if (st != RECSYS_OK) {
        recsys__free(m, tpl);
        return st;
    }
    recsys__llm_ask ask = { .task = TPL.task, .system = TPL.system, .prompt = prompt,
                            .schema = TPL.schema, .max_tokens = TPL.max_tokens,
                            .temperature = TPL.temperature };
    char *reply = NULL, *q = NULL;
    size_t len = 0;
    recsys__llm_budget *budget = recsys__intent_llm_budget(llm);
    st = budget ? recsys__llm_ask_run(llm->guard, llm->vt, llm->opt, budget, &ask, m, &reply, &len)
                : RECSYS_E_BUDGET;
    if (st == RECSYS_OK) {
        st = recsys__clarify_from_reply(m, reply, len, &q);
        if (st == RECSYS_E_INVALID_ARG)
            recsys__llm_reject(llm->guard, budget, &ask);
    }
    recsys__free(m, reply);
    recsys__free(m, prompt);
    if (st == RECSYS_OK) {
        recsys__free(m, tpl);
        *out = q;
        *from_llm = true;
        return RECSYS_OK;
    }
    if (st == RECSYS_E_NOMEM) {
        recsys__free(m, tpl);
        return st;
    }
    recsys__err_clear(); /* the template then */
    *out = tpl;
    return RECSYS_OK;
}
