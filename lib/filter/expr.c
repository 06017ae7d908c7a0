/* expr.c - the constraint expression language (see expr.h): a one-token-lookahead lexer, a
 * recursive-descent parser that builds a tree of nodes over typed operands, the binder's
 * registry checks and the evaluator.
 *
 * Layout: every node and operand lives in one of the expression's arrays (nodes, operands,
 * list entries, terms of sums) and refers to others by index, so the parser may grow them
 * freely; && and || chains are one node whose children are linked through `next`, so their
 * length never deepens the recursion (only '(' and '!' do, bounded by RECSYS__EXPR_DEPTH_MAX).
 * String literals and custom attribute names are unescaped into one pool sized from the text
 * up front (an unescaped string plus its NUL never outgrows its quoted source; a name plus
 * its NUL needs at most twice its bytes), so pointers into it stay valid.
 *
 * Facet shortcuts: the catalog interns every category and tag as a facet ("c:laptop",
 * "t:gpu"; model.h) and stores the facet indices in each item it holds. Bind looks up the
 * facet of the string literal of `category == "x"` / `!=` and of `"x" in tags` / `not in`,
 * and notes how many facets existed then. Facet indices are never reused, so for an item
 * whose facet index is below that count an index comparison decides (no string is read:
 * fewer cache misses); a facet interned after bind, or an item outside any catalog (no facet
 * indices), takes the string comparison. Hence the rule that a bound expression evaluates
 * items of the catalog it was bound to (or of none). */
#include "expr.h"
#include "../core/error.h"
#include "../core/utf8.h"

#define NONE UINT32_MAX

/* Static types (the first three equal recsys__attr_type, so an attribute's type is its
 * runtime type). TY_ANY: a custom attribute (its type is the registry's business). */
enum { TY_MISSING = 0, TY_NUM = RECSYS__ATTR_NUM, TY_STR = RECSYS__ATTR_STR,
       TY_BOOL = RECSYS__ATTR_BOOL, TY_LIST = 4, TY_ANY = 5 };
#define BIT(t) (1u << (t))
#define ALL_BITS (BIT(TY_NUM) | BIT(TY_STR) | BIT(TY_BOOL))

/* Operand kinds and built-in fields. */
enum { OK_LIT, OK_FIELD, OK_ATTR, OK_NOW, OK_UAGE, OK_UREGION, OK_UID, OK_SUM };
enum { F_ID, F_TITLE, F_DESC, F_CAT, F_PROV, F_TAGS, F_REGIONS, F_AVAIL, F_MINAGE, F_CREATED };

static const struct {
    const char *name;
    uint8_t type;
} fields[] = {
    [F_ID] = { "id", TY_STR },           [F_TITLE] = { "title", TY_STR },
    [F_DESC] = { "description", TY_STR }, [F_CAT] = { "category", TY_STR },
    [F_PROV] = { "provider", TY_STR },   [F_TAGS] = { "tags", TY_LIST },
    [F_REGIONS] = { "regions", TY_LIST }, [F_AVAIL] = { "available", TY_BOOL },
    [F_MINAGE] = { "min_age", TY_NUM },  [F_CREATED] = { "created", TY_NUM },
};

/* Node operations; comparison operators. */
enum { N_AND, N_OR, N_NOT, N_CONST, N_CMP, N_IN, N_TRUTH };
enum { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE };
#define LIST_FIELD 0xFF /* node.lt of an `in tags` / `in regions` */

typedef struct opnd {
    uint8_t kind;  /* OK_* */
    uint8_t type;  /* TY_* (static) */
    uint8_t field; /* OK_FIELD: F_* */
    double num;    /* literal number, bool as 0/1 */
    const char *s; /* literal text, or OK_ATTR's name (in the pool) */
    uint32_t pos;  /* byte offset in the text */
    uint32_t guess; /* OK_ATTR: where the name likely sits in an item's sorted attributes
                       (set by bind; see attr_find), else NONE */
    uint32_t off, cnt; /* OK_SUM: its terms, terms[off .. off+cnt) */
} opnd;

/* One term of a sum: an operand (never itself a sum) added or subtracted. */
typedef struct term {
    uint32_t op;
    int32_t sign; /* +1 or -1 */
} term;

typedef struct node {
    uint8_t op;  /* N_* */
    uint8_t cmp; /* N_CMP: C_*; N_IN: 1 for `not in` */
    uint8_t lt;  /* N_IN: the list literal's type (TY_MISSING when empty) or LIST_FIELD */
    uint32_t a;  /* N_AND/N_OR: first child; N_NOT: child; N_CONST: 0/1; else operand */
    uint32_t b;  /* N_CMP: right operand; N_IN with LIST_FIELD: F_TAGS or F_REGIONS */
    uint32_t next;     /* next sibling under an N_AND / N_OR, NONE */
    uint32_t off, cnt; /* N_IN list literal: entries lits[off .. off+cnt), sorted */
    uint32_t pos;      /* byte offset of the operator (messages) */
    /* set by bind (see "facet shortcuts" below): FAST_CAT for category ==/!= a string
     * literal, FAST_TAG for a string literal in/not in tags; 0 = none */
    uint8_t fast;
    uint32_t facet;   /* the literal's facet index in the bound catalog, NONE if it had none */
    uint32_t nfacets; /* how many facets that catalog had at bind */
} node;

enum { FAST_NONE, FAST_CAT, FAST_TAG };

typedef struct lit {
    double num;
    const char *s;
} lit;

struct recsys__expr {
    const recsys__mem *mem;
    char *text; /* a NUL-terminated copy of the source */
    size_t len;
    char *pool;
    size_t pool_used, pool_cap;
    node *nodes;
    size_t nnodes, capnodes;
    opnd *ops;
    size_t nops, capops;
    lit *lits;
    size_t nlits, caplits;
    term *terms;
    size_t nterms, capterms;
    uint32_t root;
};

/* ---------------------------------------------------------------- lexer ---------------- */

enum { T_EOF, T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_COMMA, T_DOT, T_AND, T_OR, T_BANG,
       T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_STR, T_NUM, T_IDENT, T_PLUS, T_MINUS };

typedef struct tok {
    int kind;
    uint32_t pos, len; /* source span */
    double num;        /* T_NUM */
    const char *s;     /* T_STR: unescaped text in the pool */
} tok;

typedef struct parser {
    recsys__expr *e;
    const char *src;
    size_t len, at; /* at: next byte the lexer reads */
    tok t;          /* the current token */
    int depth;
} parser;

static recsys_status fail_at(size_t pos, const char *fmt, ...) RECSYS_PRINTF(2, 3);
static recsys_status fail_at(size_t pos, const char *fmt, ...)
{
    char msg[RECSYS_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return recsys__err(RECSYS_E_INVALID_ARG, "expression: at byte %zu: %s", pos, msg);
}

/* "'&&'", "end of text", "a string" - the current token for "but found ..." (into buf). */
static const char *found(const parser *p, char *buf, size_t cap)
{
    if (p->t.kind == T_EOF)
        return "end of text";
    if (p->t.kind == T_STR)
        return "a string";
    int n = (int)RECSYS_MIN(p->t.len, 32u); /* every other token is ASCII */
    snprintf(buf, cap, "'%.*s'", n, p->src + p->t.pos);
    return buf;
}

static recsys_status expected(const parser *p, const char *what)
{
    char buf[48];
    return fail_at(p->t.pos, "expected %s but found %s", what, found(p, buf, sizeof buf));
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = is_digit(c) ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string literal starting at the opening quote; unescaped into the pool. */
static recsys_status lex_string(parser *p)
{
    recsys__expr *e = p->e;
    size_t start = p->at, i = p->at + 1;
    char *o = e->pool + e->pool_used, *o0 = o;
    for (;;) {
        if (i >= p->len)
            return fail_at(start, "the string is not closed (expected '\"')");
        unsigned char c = (unsigned char)p->src[i];
        if (c == '"')
            break;
        if (c < 0x20)
            return fail_at(i, "control byte 0x%02x in a string (write it as an escape, "
                              "such as \\n or \\u%04x)", c, c);
        if (c != '\\') {
            *o++ = (char)c;
            i++;
            continue;
        }
        if (i + 1 >= p->len)
            return fail_at(i, "the string is not closed (expected '\"')");
        char x = p->src[i + 1];
        const char *simple = strchr("\"\\/bfnrt", x);
        if (x && simple) {
            static const char to[] = "\"\\/\b\f\n\r\t";
            *o++ = to[simple - "\"\\/bfnrt"];
            i += 2;
            continue;
        }
        if (x != 'u')
            return fail_at(i, "invalid escape (expected \\\" \\\\ \\/ \\b \\f \\n \\r \\t or "
                              "\\uXXXX)");
        int cp = i + 6 <= p->len ? hex4(p->src + i + 2) : -1;
        if (cp < 0)
            return fail_at(i, "invalid \\u escape (expected four hexadecimal digits)");
        if (cp == 0)
            return fail_at(i, "\\u0000 is not allowed in a string");
        size_t esc = i;
        i += 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail_at(esc, "\\u%04X is a lone low surrogate", (unsigned)cp);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            int lo = (i + 6 <= p->len && p->src[i] == '\\' && p->src[i + 1] == 'u')
                         ? hex4(p->src + i + 2) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return fail_at(esc, "\\u%04X is a high surrogate without its low half",
                               (unsigned)cp);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        }
        o += put_utf8(o, (uint32_t)cp);
    }
    *o++ = '\0';
    p->t.kind = T_STR;
    p->t.s = o0;
    e->pool_used += (size_t)(o - o0);
    p->at = i + 1;
    return RECSYS_OK;
}

/* A number literal: '-'? digits ('.' digits)? (e sign? digits)?, at most
 * RECSYS__EXPR_NUMBER_MAX characters. Converted without the locale: the digits with the point
 * removed and the exponent adjusted ("12.5e3" -> "125e2"), a form strtod reads the same in
 * every locale. */
static recsys_status lex_number(parser *p)
{
    const char *s = p->src;
    size_t start = p->at, i = p->at, n = p->len;
    if (s[i] == '-')
        i++;
    if (i >= n || !is_digit(s[i]))
        return fail_at(i, "expected a digit after '-'");
    while (i < n && is_digit(s[i]))
        i++;
    if (i < n && s[i] == '.') {
        if (++i >= n || !is_digit(s[i]))
            return fail_at(i, "expected a digit after '.'");
        while (i < n && is_digit(s[i]))
            i++;
    }
    size_t mant_end = i;
    long ex = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int sign = 1;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            sign = s[i++] == '-' ? -1 : 1;
        if (i >= n || !is_digit(s[i]))
            return fail_at(i, "expected a digit in the exponent");
        for (; i < n && is_digit(s[i]); i++)
            if (ex < 100000) /* beyond, the value is 0 or out of range anyway */
                ex = ex * 10 + (s[i] - '0');
        ex *= sign;
    }
    if (i - start > RECSYS__EXPR_NUMBER_MAX)
        return fail_at(start, "number literal longer than %d characters",
                       RECSYS__EXPR_NUMBER_MAX);
    char buf[RECSYS__EXPR_NUMBER_MAX + 32];
    size_t k = 0;
    long frac = -1; /* digits after the point, once one was seen */
    for (size_t j = start; j < mant_end; j++) {
        if (s[j] == '.')
            frac = 0;
        else {
            buf[k++] = s[j];
            if (frac >= 0)
                frac++;
        }
    }
    snprintf(buf + k, sizeof buf - k, "e%ld", ex - (frac > 0 ? frac : 0));
    double v = strtod(buf, NULL);
    if (!isfinite(v))
        return fail_at(start, "number %.*s is out of range", (int)(i - start), s + start);
    p->t.kind = T_NUM;
    p->t.num = v + 0.0; /* -0 becomes 0 */
    p->at = i;
    return RECSYS_OK;
}

/* Reads the next token into p->t. A '-' right after a token that ends a value (a number, a
 * string, a name, ')') is subtraction; anywhere else it is the sign of a number literal
 * (x > -5, now-5, now - -5). */
static recsys_status next(parser *p)
{
    int prev = p->t.kind;
    bool after_value = prev == T_NUM || prev == T_STR || prev == T_IDENT || prev == T_RPAREN;
    while (p->at < p->len && strchr(" \t\r\n", p->src[p->at]) && p->src[p->at])
        p->at++;
    size_t i = p->at;
    p->t.pos = (uint32_t)i;
    p->t.s = NULL;
    if (i >= p->len) {
        p->t.kind = T_EOF;
        p->t.len = 0;
        return RECSYS_OK;
    }
    char c = p->src[i], d = i + 1 < p->len ? p->src[i + 1] : '\0';
    int kind = -1, w = 1;
    switch (c) {
    case '(': kind = T_LPAREN; break;
    case ')': kind = T_RPAREN; break;
    case '[': kind = T_LBRACK; break;
    case ']': kind = T_RBRACK; break;
    case ',': kind = T_COMMA; break;
    case '.': kind = T_DOT; break;
    case '+': kind = T_PLUS; break;
    case '-':
        if (after_value)
            kind = T_MINUS;
        break;
    case '&':
        if (d != '&')
            return fail_at(i, "expected '&&' (a single '&' is not an operator)");
        kind = T_AND, w = 2;
        break;
    case '|':
        if (d != '|')
            return fail_at(i, "expected '||' (a single '|' is not an operator)");
        kind = T_OR, w = 2;
        break;
    case '=':
        if (d != '=')
            return fail_at(i, "expected '==' (a single '=' is not an operator)");
        kind = T_EQ, w = 2;
        break;
    case '!':
        if (d == '=')
            kind = T_NE, w = 2;
        else
            kind = T_BANG;
        break;
    case '<':
        if (d == '=')
            kind = T_LE, w = 2;
        else
            kind = T_LT;
        break;
    case '>':
        if (d == '=')
            kind = T_GE, w = 2;
        else
            kind = T_GT;
        break;
    default: break;
    }
    if (kind >= 0) {
        p->t.kind = kind;
        p->t.len = (uint32_t)w;
        p->at = i + (size_t)w;
        return RECSYS_OK;
    }
    if (c == '"')
        RECSYS_TRY(lex_string(p));
    else if (c == '-' || is_digit(c))
        RECSYS_TRY(lex_number(p));
    else if (is_name_start(c)) {
        size_t j = i;
        while (j < p->len && is_name_char(p->src[j]))
            j++;
        p->t.kind = T_IDENT;
        p->at = j;
    } else if ((unsigned char)c >= 0x80) {
        return fail_at(i, "unexpected non-ASCII character outside a string (write names "
                          "that are not [A-Za-z_][A-Za-z0-9_]* as attr(\"name\"))");
    } else {
        return fail_at(i, "unexpected character '%c'", c);
    }
    p->t.len = (uint32_t)(p->at - i);
    return RECSYS_OK;
}

static bool tok_is(const parser *p, const char *word)
{
    size_t n = strlen(word);
    return p->t.kind == T_IDENT && p->t.len == n && memcmp(p->src + p->t.pos, word, n) == 0;
}

/* ---------------------------------------------------------------- building ------------- */

static recsys_status new_node(recsys__expr *e, uint8_t op, uint32_t pos, uint32_t *out)
{
    RECSYS_TRY(RECSYS_GROW(e->mem, e->nodes, e->capnodes, e->nnodes + 1));
    node *n = &e->nodes[e->nnodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->a = n->b = n->next = NONE;
    n->pos = pos;
    *out = (uint32_t)e->nnodes++;
    return RECSYS_OK;
}

static recsys_status new_opnd(recsys__expr *e, const opnd *o, uint32_t *out)
{
    RECSYS_TRY(RECSYS_GROW(e->mem, e->ops, e->capops, e->nops + 1));
    e->ops[e->nops] = *o;
    e->ops[e->nops].guess = NONE;
    *out = (uint32_t)e->nops++;
    return RECSYS_OK;
}

static const char *type_word(int t)
{
    switch (t) {
    case TY_NUM: return "a number";
    case TY_STR: return "text";
    case TY_BOOL: return "a bool";
    case TY_LIST: return "a list";
    }
    return "a value";
}

/* How an operand reads in a message: "'price'", "now", "the literal 5"... */
static void describe(const parser *p, const opnd *o, char *buf, size_t cap)
{
    switch (o->kind) {
    case OK_FIELD: snprintf(buf, cap, "%s", fields[o->field].name); break;
    case OK_ATTR: snprintf(buf, cap, "attribute '%.*s'", recsys__utf8_quote_len(o->s), o->s); break;
    case OK_NOW: snprintf(buf, cap, "now"); break;
    case OK_UAGE: snprintf(buf, cap, "user.age"); break;
    case OK_UREGION: snprintf(buf, cap, "user.region"); break;
    case OK_UID: snprintf(buf, cap, "user.id"); break;
    case OK_SUM: snprintf(buf, cap, "the sum at byte %" PRIu32, o->pos); break;
    default:
        if (o->type == TY_STR)
            snprintf(buf, cap, "the string \"%.*s\"", recsys__utf8_quote_len(o->s), o->s);
        else if (o->type == TY_BOOL)
            snprintf(buf, cap, "%s", o->num != 0 ? "true" : "false");
        else {
            int n = 0;
            size_t i = o->pos;
            while (i + (size_t)n < p->len && n < 32 &&
                   strchr("-+.eE0123456789", p->src[i + (size_t)n]))
                n++;
            snprintf(buf, cap, "the number %.*s", n, p->src + i);
        }
    }
}

/* ---------------------------------------------------------------- parser --------------- */

static recsys_status parse_or(parser *p, uint32_t *out);

/* A literal token into *o (the token is consumed). */
static recsys_status take_literal(parser *p, opnd *o)
{
    memset(o, 0, sizeof *o);
    o->kind = OK_LIT;
    o->pos = p->t.pos;
    if (p->t.kind == T_STR) {
        o->type = TY_STR;
        o->s = p->t.s;
    } else if (p->t.kind == T_NUM) {
        o->type = TY_NUM;
        o->num = p->t.num;
    } else if (tok_is(p, "true") || tok_is(p, "false")) {
        o->type = TY_BOOL;
        o->num = tok_is(p, "true");
    } else {
        return expected(p, "a literal (a string, a number, true or false)");
    }
    return next(p);
}

/* Copies n bytes of the source into the pool as a NUL-terminated name. */
static const char *pool_name(recsys__expr *e, const char *s, size_t n)
{
    char *o = e->pool + e->pool_used;
    memcpy(o, s, n);
    o[n] = '\0';
    e->pool_used += n + 1;
    return o;
}

/* value := literal | name | attr("..") | now | user.(age|region|id) */
static recsys_status parse_value(parser *p, opnd *o)
{
    memset(o, 0, sizeof *o);
    o->pos = p->t.pos;
    if (p->t.kind == T_STR || p->t.kind == T_NUM || tok_is(p, "true") || tok_is(p, "false"))
        return take_literal(p, o);
    if (p->t.kind != T_IDENT)
        return expected(p, "a value (a name, a string, a number, true, false, now or user.*)");
    if (tok_is(p, "now")) {
        o->kind = OK_NOW;
        o->type = TY_NUM;
        return next(p);
    }
    if (tok_is(p, "user")) {
        RECSYS_TRY(next(p));
        if (p->t.kind != T_DOT)
            return expected(p, "'.' after 'user' (user.age, user.region or user.id)");
        RECSYS_TRY(next(p));
        if (tok_is(p, "age"))
            o->kind = OK_UAGE, o->type = TY_NUM;
        else if (tok_is(p, "region"))
            o->kind = OK_UREGION, o->type = TY_STR;
        else if (tok_is(p, "id"))
            o->kind = OK_UID, o->type = TY_STR;
        else
            return expected(p, "age, region or id after 'user.'");
        return next(p);
    }
    if (tok_is(p, "attr")) {
        RECSYS_TRY(next(p));
        if (p->t.kind != T_LPAREN)
            return expected(p, "'(' after 'attr'");
        RECSYS_TRY(next(p));
        if (p->t.kind != T_STR)
            return expected(p, "the attribute's name as a string, as in attr(\"screen size\")");
        if (!p->t.s[0])
            return fail_at(p->t.pos, "attr(\"\"): an attribute name is not empty");
        o->kind = OK_ATTR;
        o->type = TY_ANY;
        o->s = p->t.s;
        RECSYS_TRY(next(p));
        if (p->t.kind != T_RPAREN)
            return expected(p, "')' after the attribute's name");
        return next(p);
    }
    if (tok_is(p, "in") || tok_is(p, "not"))
        return expected(p, "a value before 'in'");
    for (int f = 0; f < (int)RECSYS_ARRAY_LEN(fields); f++)
        if (tok_is(p, fields[f].name)) {
            o->kind = OK_FIELD;
            o->field = (uint8_t)f;
            o->type = fields[f].type;
            return next(p);
        }
    o->kind = OK_ATTR;
    o->type = TY_ANY;
    o->s = pool_name(p->e, p->src + p->t.pos, p->t.len);
    return next(p);
}

/* sum := value ( ('+' | '-') value )*, numbers only; a single value stays itself. */
static recsys_status parse_operand(parser *p, opnd *o)
{
    RECSYS_TRY(parse_value(p, o));
    if (p->t.kind != T_PLUS && p->t.kind != T_MINUS)
        return RECSYS_OK;
    recsys__expr *e = p->e;
    opnd sum;
    memset(&sum, 0, sizeof sum);
    sum.kind = OK_SUM;
    sum.type = TY_NUM;
    sum.pos = o->pos;
    sum.off = (uint32_t)e->nterms;
    int32_t sign = 1;
    for (;;) {
        uint32_t at = p->t.kind == T_PLUS || p->t.kind == T_MINUS ? p->t.pos : o->pos;
        if (o->type != TY_NUM && o->type != TY_ANY) {
            char d[96];
            describe(p, o, d, sizeof d);
            return fail_at(at, "'+' and '-' apply to numbers; %s is %s", d, type_word(o->type));
        }
        uint32_t oi;
        RECSYS_TRY(new_opnd(e, o, &oi));
        RECSYS_TRY(RECSYS_GROW(e->mem, e->terms, e->capterms, e->nterms + 1));
        e->terms[e->nterms].op = oi;
        e->terms[e->nterms++].sign = sign;
        sum.cnt++;
        if (p->t.kind != T_PLUS && p->t.kind != T_MINUS)
            break;
        sign = p->t.kind == T_PLUS ? 1 : -1;
        RECSYS_TRY(next(p));
        RECSYS_TRY(parse_value(p, o));
    }
    *o = sum;
    return RECSYS_OK;
}

static int cmp_lit_num(const void *a, const void *b)
{
    double x = ((const lit *)a)->num, y = ((const lit *)b)->num;
    return (x > y) - (x < y);
}

static int cmp_lit_str(const void *a, const void *b)
{
    return strcmp(((const lit *)a)->s, ((const lit *)b)->s);
}

/* '[' literal (',' literal)* ']' into node n (the '[' is current). */
static recsys_status parse_list(parser *p, uint32_t n)
{
    recsys__expr *e = p->e;
    size_t open = p->t.pos;
    uint32_t off = (uint32_t)e->nlits, cnt = 0;
    uint8_t lt = TY_MISSING;
    RECSYS_TRY(next(p));
    if (p->t.kind != T_RBRACK)
        for (;;) {
            if (cnt >= RECSYS__EXPR_LIST_MAX)
                return fail_at(p->t.pos, "the list has more than %d entries",
                               RECSYS__EXPR_LIST_MAX);
            opnd o;
            uint32_t at = p->t.pos;
            RECSYS_TRY(take_literal(p, &o));
            if (lt != TY_MISSING && o.type != lt)
                return fail_at(at, "the list mixes %s and %s (its entries have one type)",
                               type_word(lt), type_word(o.type));
            lt = o.type;
            RECSYS_TRY(RECSYS_GROW(e->mem, e->lits, e->caplits, e->nlits + 1));
            e->lits[e->nlits].num = o.num;
            e->lits[e->nlits++].s = o.s;
            cnt++;
            if (p->t.kind == T_RBRACK)
                break;
            if (p->t.kind != T_COMMA) {
                char buf[48];
                return fail_at(p->t.pos, "expected ',' or ']' in the list opened at byte %zu "
                                         "but found %s", open, found(p, buf, sizeof buf));
            }
            RECSYS_TRY(next(p));
        }
    node *nd = &e->nodes[n];
    nd->off = off;
    nd->cnt = cnt;
    nd->lt = lt;
    if (cnt > 1)
        qsort(e->lits + off, cnt, sizeof *e->lits, lt == TY_STR ? cmp_lit_str : cmp_lit_num);
    return next(p);
}

static bool ordering(int c) { return c != C_EQ && c != C_NE; }

/* Static type checks of a comparison (those involving a custom attribute wait for bind). */
static recsys_status check_cmp(const parser *p, const opnd *l, const opnd *r, int c,
                               uint32_t pos)
{
    char a[96], b[96];
    for (int side = 0; side < 2; side++) {
        const opnd *o = side ? r : l;
        if (o->type == TY_LIST) {
            describe(p, o, a, sizeof a);
            return fail_at(o->pos, "%s is a list: test a member with \"x\" in %s", a, a);
        }
        if (ordering(c) && o->type == TY_BOOL) {
            describe(p, o, a, sizeof a);
            return fail_at(pos, "%s is a bool: bools compare only with == and !=", a);
        }
    }
    if (l->type != TY_ANY && r->type != TY_ANY && l->type != r->type) {
        describe(p, l, a, sizeof a);
        describe(p, r, b, sizeof b);
        return fail_at(pos, "cannot compare %s (%s) with %s (%s)", a, type_word(l->type), b,
                       type_word(r->type));
    }
    return RECSYS_OK;
}

/* test := value [ cmp value | 'in' list | 'not' 'in' list ] */
static recsys_status parse_test(parser *p, uint32_t *out)
{
    opnd l, r;
    char a[96];
    RECSYS_TRY(parse_operand(p, &l));
    int c = -1;
    switch (p->t.kind) {
    case T_EQ: c = C_EQ; break;
    case T_NE: c = C_NE; break;
    case T_LT: c = C_LT; break;
    case T_LE: c = C_LE; break;
    case T_GT: c = C_GT; break;
    case T_GE: c = C_GE; break;
    default: break;
    }
    uint32_t pos = p->t.pos, li, n;
    if (c >= 0) {
        RECSYS_TRY(next(p));
        RECSYS_TRY(parse_operand(p, &r));
        RECSYS_TRY(check_cmp(p, &l, &r, c, pos));
        RECSYS_TRY(new_opnd(p->e, &l, &li));
        uint32_t ri;
        RECSYS_TRY(new_opnd(p->e, &r, &ri));
        RECSYS_TRY(new_node(p->e, N_CMP, pos, &n));
        p->e->nodes[n].cmp = (uint8_t)c;
        p->e->nodes[n].a = li;
        p->e->nodes[n].b = ri;
        *out = n;
        return RECSYS_OK;
    }
    bool neg = tok_is(p, "not");
    if (neg) {
        RECSYS_TRY(next(p));
        if (!tok_is(p, "in"))
            return expected(p, "'in' after 'not' (write !x for a negation)");
    }
    if (tok_is(p, "in")) {
        if (l.type == TY_LIST) {
            describe(p, &l, a, sizeof a);
            return fail_at(l.pos, "the left of 'in' is one value; %s is a list", a);
        }
        RECSYS_TRY(next(p));
        RECSYS_TRY(new_opnd(p->e, &l, &li));
        RECSYS_TRY(new_node(p->e, N_IN, pos, &n));
        p->e->nodes[n].cmp = neg;
        p->e->nodes[n].a = li;
        if (p->t.kind == T_LBRACK) {
            RECSYS_TRY(parse_list(p, n));
            uint8_t lt = p->e->nodes[n].lt;
            if (l.type != TY_ANY && lt != TY_MISSING && lt != l.type) {
                describe(p, &l, a, sizeof a);
                return fail_at(pos, "%s (%s) is never in a list of %s", a, type_word(l.type),
                               lt == TY_NUM ? "numbers" : lt == TY_STR ? "strings" : "bools");
            }
        } else if (tok_is(p, "tags") || tok_is(p, "regions")) {
            if (l.type != TY_ANY && l.type != TY_STR) {
                describe(p, &l, a, sizeof a);
                return fail_at(pos, "%s (%s) is never in %.*s, a list of text", a,
                               type_word(l.type), (int)p->t.len, p->src + p->t.pos);
            }
            p->e->nodes[n].lt = LIST_FIELD;
            p->e->nodes[n].b = tok_is(p, "tags") ? F_TAGS : F_REGIONS;
            RECSYS_TRY(next(p));
        } else {
            return expected(p, "a list after 'in': [\"a\", \"b\"], tags or regions");
        }
        *out = n;
        return RECSYS_OK;
    }
    /* a bare value: a bool condition */
    if (l.type != TY_BOOL && l.type != TY_ANY) {
        describe(p, &l, a, sizeof a);
        if (p->t.kind == T_EOF || p->t.kind == T_AND || p->t.kind == T_OR ||
            p->t.kind == T_RPAREN)
            return fail_at(l.pos, "%s is %s, not a condition: compare it (==, !=, <, <=, >, >=)"
                                  " or test it with 'in'", a, type_word(l.type));
        return expected(p, "an operator (==, !=, <, <=, >, >=, in, not in)");
    }
    if (p->t.kind != T_EOF && p->t.kind != T_AND && p->t.kind != T_OR &&
        p->t.kind != T_RPAREN)
        return expected(p, "an operator (==, !=, <, <=, >, >=, in, not in, &&, ||)");
    if (l.kind == OK_LIT) {
        RECSYS_TRY(new_node(p->e, N_CONST, l.pos, &n));
        p->e->nodes[n].a = l.num != 0;
    } else {
        RECSYS_TRY(new_opnd(p->e, &l, &li));
        RECSYS_TRY(new_node(p->e, N_TRUTH, l.pos, &n));
        p->e->nodes[n].a = li;
    }
    *out = n;
    return RECSYS_OK;
}

/* unary := '!' unary | '(' expr ')' | test */
static recsys_status parse_unary(parser *p, uint32_t *out)
{
    if (p->t.kind != T_BANG && p->t.kind != T_LPAREN)
        return parse_test(p, out);
    if (++p->depth > RECSYS__EXPR_DEPTH_MAX)
        return fail_at(p->t.pos, "nesting deeper than %d levels of '(' and '!'",
                       RECSYS__EXPR_DEPTH_MAX);
    uint32_t pos = p->t.pos;
    if (p->t.kind == T_BANG) {
        uint32_t child, n;
        RECSYS_TRY(next(p));
        RECSYS_TRY(parse_unary(p, &child));
        RECSYS_TRY(new_node(p->e, N_NOT, pos, &n));
        p->e->nodes[n].a = child;
        *out = n;
    } else {
        RECSYS_TRY(next(p));
        RECSYS_TRY(parse_or(p, out));
        if (p->t.kind != T_RPAREN) {
            char buf[48];
            return fail_at(p->t.pos, "expected ')' to close the '(' at byte %" PRIu32
                                     " but found %s", pos, found(p, buf, sizeof buf));
        }
        RECSYS_TRY(next(p));
    }
    p->depth--;
    return RECSYS_OK;
}

/* Both levels: op is N_AND with '&&' over unary, N_OR with '||' over and. */
static recsys_status parse_chain(parser *p, int op, uint32_t *out)
{
    int tk = op == N_AND ? T_AND : T_OR;
    uint32_t first;
    RECSYS_TRY(op == N_AND ? parse_unary(p, &first) : parse_chain(p, N_AND, &first));
    if (p->t.kind != tk) {
        *out = first;
        return RECSYS_OK;
    }
    uint32_t n, last = first;
    RECSYS_TRY(new_node(p->e, (uint8_t)op, p->t.pos, &n));
    p->e->nodes[n].a = first;
    while (p->t.kind == tk) {
        uint32_t child;
        RECSYS_TRY(next(p));
        RECSYS_TRY(op == N_AND ? parse_unary(p, &child) : parse_chain(p, N_AND, &child));
        p->e->nodes[last].next = child;
        last = child;
    }
    *out = n;
    return RECSYS_OK;
}

static recsys_status parse_or(parser *p, uint32_t *out)
{
    return parse_chain(p, N_OR, out);
}

/* ---------------------------------------------------------------- API ------------------ */

void recsys__expr_free(recsys__expr *e)
{
    if (!e)
        return;
    const recsys__mem *m = e->mem;
    recsys__free(m, e->text);
    recsys__free(m, e->pool);
    recsys__free(m, e->nodes);
    recsys__free(m, e->ops);
    recsys__free(m, e->lits);
    recsys__free(m, e->terms);
    recsys__free(m, e);
}

recsys_status recsys__expr_parse(const recsys__mem *m, const char *text, size_t len,
                                 recsys__expr **out)
{
    if (!out)
        return recsys__err(RECSYS_E_INVALID_ARG, "expression: out is NULL");
    *out = NULL;
    if (!m || !text)
        return recsys__err(RECSYS_E_INVALID_ARG, "expression: %s is NULL",
                           m ? "the text" : "the allocator");
    if (len > RECSYS__EXPR_TEXT_MAX)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "expression: the text is %zu bytes long; the limit is %d", len,
                           RECSYS__EXPR_TEXT_MAX);
    if (!recsys__utf8_valid(text, len))
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "expression: the text is not valid UTF-8 or holds a NUL byte");
    recsys__expr *e = recsys__calloc(m, 1, sizeof *e);
    if (!e)
        return RECSYS_E_NOMEM;
    e->mem = m;
    e->len = len;
    e->pool_cap = 2 * len + 2;
    e->text = recsys__strndup(m, text, len);
    e->pool = recsys__alloc(m, e->pool_cap);
    if (!e->text || !e->pool) {
        recsys__expr_free(e);
        return RECSYS_E_NOMEM;
    }
    parser p = { .e = e, .src = e->text, .len = len };
    recsys_status st = next(&p);
    if (st == RECSYS_OK && p.t.kind == T_EOF)
        st = fail_at(p.t.pos, "expected a condition but found end of text (the expression is "
                              "empty)");
    if (st == RECSYS_OK)
        st = parse_or(&p, &e->root);
    if (st == RECSYS_OK && p.t.kind != T_EOF) {
        if (p.t.kind == T_RPAREN)
            st = fail_at(p.t.pos, "')' without a matching '('");
        else
            st = expected(&p, "'&&', '||' or the end of the text");
    }
    if (st != RECSYS_OK) {
        recsys__expr_free(e);
        return st;
    }
    *out = e;
    return RECSYS_OK;
}

const char *recsys__expr_text(const recsys__expr *e, size_t *len)
{
    if (len)
        *len = e ? e->len : 0;
    return e ? e->text : "";
}

/* ---------------------------------------------------------------- bind ----------------- */

/* "numbers", "text and bools"... of a type mask. */
static const char *bits_words(unsigned bits, char *buf, size_t cap)
{
    static const char *const word[] = { [TY_NUM] = "numbers", [TY_STR] = "text",
                                        [TY_BOOL] = "bools" };
    size_t n = 0;
    buf[0] = '\0';
    for (int t = TY_NUM; t <= TY_BOOL; t++)
        if (bits & BIT(t))
            n += (size_t)snprintf(buf + n, cap - RECSYS_MIN(n, cap), "%s%s", n ? " and " : "",
                                  word[t]);
    return buf;
}

/* The types an operand may have at evaluation: a fixed type's bit, or the registry's. */
static unsigned opnd_bits(const opnd *o, const recsys__catalog *c)
{
    if (o->type == TY_ANY)
        return recsys__catalog_attr_types(c, o->s) & ALL_BITS;
    return o->type <= TY_BOOL ? BIT(o->type) : 0;
}

static recsys_status known_attr(const opnd *o, const recsys__catalog *c)
{
    if (o->type == TY_ANY && !(recsys__catalog_attr_types(c, o->s) & ALL_BITS))
        return fail_at(o->pos, "unknown attribute '%.*s' (no item in the catalog has it)",
                       recsys__utf8_quote_len(o->s), o->s);
    return RECSYS_OK;
}

/* An operand's names are known; a sum's attributes have held numbers. */
static recsys_status known(const recsys__expr *e, const opnd *o, const recsys__catalog *c)
{
    if (o->kind != OK_SUM)
        return known_attr(o, c);
    for (uint32_t i = 0; i < o->cnt; i++) {
        const opnd *t = &e->ops[e->terms[o->off + i].op];
        RECSYS_TRY(known_attr(t, c));
        unsigned bits = opnd_bits(t, c);
        if (!(bits & BIT(TY_NUM))) {
            char w[64];
            return fail_at(t->pos, "attribute '%.*s' (%s in the catalog) is not a number; "
                                   "'+' and '-' apply to numbers", recsys__utf8_quote_len(t->s),
                           t->s, bits_words(bits, w, sizeof w));
        }
    }
    return RECSYS_OK;
}

/* attribute 'x' (holds numbers) / now (a number) - for type messages. */
static void bound_desc(const recsys__expr *e, const opnd *o, unsigned bits, char *buf,
                       size_t cap)
{
    char w[64];
    if (o->type == TY_ANY)
        snprintf(buf, cap, "attribute '%.*s' (%s in the catalog)", recsys__utf8_quote_len(o->s),
                 o->s, bits_words(bits, w, sizeof w));
    else {
        parser p = { .src = e->text, .len = e->len };
        char d[96];
        describe(&p, o, d, sizeof d);
        snprintf(buf, cap, "%s (%s)", d, type_word(o->type));
    }
}

/* The facet index of "<prefix>:<text>" in c, or NONE (also when too long for the buffer:
 * the shortcut is then simply not taken). */
static uint32_t facet_of(const recsys__catalog *c, char prefix, const char *text, bool *usable)
{
    char buf[512];
    size_t len = strlen(text);
    *usable = len > 0 && len + 3 <= sizeof buf;
    if (!*usable)
        return NONE;
    buf[0] = prefix;
    buf[1] = ':';
    memcpy(buf + 2, text, len);
    return recsys__ids_find(&c->facets.ids, buf, len + 2);
}

/* Attribute guesses: an item's attributes are sorted by name, and in a catalog whose items
 * share one attribute set a name sits at the same position in every item: its rank among
 * the registry's names. attr_find probes there first (one string read instead of a binary
 * search's log2(n)); when the item's set differs it goes on as a binary search, at most one
 * probe more. Bind ranks each name against at most GUESS_NAMES_MAX registry names. */
#define GUESS_NAMES_MAX 4096

static void bind_guesses(recsys__expr *e, const recsys__catalog *c)
{
    const recsys__ids *names = &c->attr_names;
    for (size_t i = 0; i < e->nops; i++) {
        opnd *o = &e->ops[i];
        o->guess = NONE;
        if (o->kind != OK_ATTR || names->n > GUESS_NAMES_MAX)
            continue;
        uint32_t rank = 0;
        for (size_t k = 0; k < names->n; k++)
            rank += names->names[k] && strcmp(names->names[k], o->s) < 0;
        o->guess = rank;
    }
}

/* Records the facet shortcuts (see the top of the file) of every node. */
static void bind_facets(recsys__expr *e, const recsys__catalog *c)
{
    for (size_t i = 0; i < e->nnodes; i++) {
        node *n = &e->nodes[i];
        n->fast = FAST_NONE;
        bool usable = false;
        if (n->op == N_CMP && (n->cmp == C_EQ || n->cmp == C_NE)) {
            const opnd *l = &e->ops[n->a], *r = &e->ops[n->b];
            const opnd *f = l->kind == OK_FIELD ? l : r, *other = f == l ? r : l;
            if (f->kind == OK_FIELD && f->field == F_CAT && other->kind == OK_LIT) {
                n->facet = facet_of(c, 'c', other->s, &usable);
                n->fast = usable ? FAST_CAT : FAST_NONE;
            }
        } else if (n->op == N_IN && n->lt == LIST_FIELD && n->b == F_TAGS &&
                   e->ops[n->a].kind == OK_LIT) {
            n->facet = facet_of(c, 't', e->ops[n->a].s, &usable);
            n->fast = usable ? FAST_TAG : FAST_NONE;
        }
        n->nfacets = (uint32_t)c->facets.ids.n;
    }
}

recsys_status recsys__expr_bind(recsys__expr *e, const recsys__catalog *c)
{
    if (!e || !c)
        return recsys__err(RECSYS_E_INVALID_ARG, "expression bind: %s is NULL",
                           e ? "the catalog" : "the expression");
    char a[200], b[200];
    for (size_t i = 0; i < e->nnodes; i++) {
        const node *n = &e->nodes[i];
        if (n->op == N_CMP) {
            const opnd *l = &e->ops[n->a], *r = &e->ops[n->b];
            RECSYS_TRY(known(e, l, c));
            RECSYS_TRY(known(e, r, c));
            unsigned lb = opnd_bits(l, c), rb = opnd_bits(r, c);
            unsigned allowed = ordering(n->cmp) ? BIT(TY_NUM) | BIT(TY_STR) : ALL_BITS;
            if (!(lb & rb & allowed)) {
                bound_desc(e, l, lb, a, sizeof a);
                bound_desc(e, r, rb, b, sizeof b);
                if (lb & rb)
                    return fail_at(n->pos, "%s and %s share only bools, which compare only "
                                           "with == and !=", a, b);
                return fail_at(n->pos, "%s can never be compared with %s", a, b);
            }
        } else if (n->op == N_IN) {
            const opnd *l = &e->ops[n->a];
            RECSYS_TRY(known(e, l, c));
            unsigned lb = opnd_bits(l, c);
            unsigned need = n->lt == LIST_FIELD ? BIT(TY_STR)
                            : n->lt == TY_MISSING ? ALL_BITS : BIT(n->lt);
            if (!(lb & need)) {
                bound_desc(e, l, lb, a, sizeof a);
                return fail_at(n->pos, "%s is never in a list of %s", a,
                               bits_words(need, b, sizeof b));
            }
        } else if (n->op == N_TRUTH) {
            const opnd *l = &e->ops[n->a];
            RECSYS_TRY(known(e, l, c));
            if (!(opnd_bits(l, c) & BIT(TY_BOOL))) {
                bound_desc(e, l, opnd_bits(l, c), a, sizeof a);
                return fail_at(l->pos, "%s is not a condition: only bools stand alone; "
                                       "compare it (==, !=, <, <=, >, >=)", a);
            }
        }
    }
    bind_facets(e, c);
    bind_guesses(e, c);
    return RECSYS_OK;
}

/* ---------------------------------------------------------------- eval ----------------- */

/* The item's attribute named o->s: a binary search over the sorted attributes whose first
 * probe is the bound guess (see bind_guesses). */
static const recsys__attr *attr_find(const recsys_item *it, const opnd *o)
{
    uint32_t lo = 0, hi = it->nattrs;
    uint32_t mid = o->guess < hi ? o->guess : hi / 2;
    while (lo < hi) {
        int d = strcmp(it->attrs[mid].name, o->s);
        if (d == 0)
            return &it->attrs[mid];
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
        mid = lo + (hi - lo) / 2;
    }
    return NULL;
}

typedef struct val {
    int t; /* TY_MISSING, TY_NUM, TY_STR, TY_BOOL */
    double num;
    const char *s;
} val;

static val fetch(const recsys__expr *e, const opnd *o, const recsys_item *it,
                 const recsys__expr_ctx *ctx)
{
    val v = { TY_MISSING, 0, NULL };
    switch (o->kind) {
    case OK_SUM: {
        double acc = 0; /* finite terms: the sum is finite or +-inf, never NaN */
        for (uint32_t i = 0; i < o->cnt; i++) {
            const term *t = &e->terms[o->off + i];
            val x = fetch(e, &e->ops[t->op], it, ctx);
            if (x.t != TY_NUM)
                return v; /* a missing or non-number term: the sum is missing */
            acc += t->sign * x.num;
        }
        v.t = TY_NUM;
        v.num = acc;
        break;
    }
    case OK_LIT:
        v.t = o->type;
        v.num = o->num;
        v.s = o->s;
        break;
    case OK_FIELD:
        v.t = o->type;
        switch (o->field) {
        case F_ID: v.s = it->id; break;
        case F_TITLE: v.s = it->title; break;
        case F_DESC: v.s = it->description; break;
        case F_CAT: v.s = it->category; break;
        case F_PROV: v.s = it->provider; break;
        case F_AVAIL: v.num = it->available != 0; break;
        case F_MINAGE: v.num = it->min_age; break;
        case F_CREATED: v.num = (double)it->created; break;
        default: v.t = TY_MISSING; break;
        }
        break;
    case OK_ATTR: {
        const recsys__attr *a = attr_find(it, o);
        if (a && a->type >= TY_NUM && a->type <= TY_BOOL) {
            v.t = a->type;
            v.num = a->num;
            v.s = a->str;
        }
        break;
    }
    case OK_NOW:
        v.t = TY_NUM;
        v.num = (double)ctx->now;
        break;
    case OK_UAGE:
        if (ctx->user_age >= 0) {
            v.t = TY_NUM;
            v.num = ctx->user_age;
        }
        break;
    case OK_UREGION:
        if (ctx->user_region) {
            v.t = TY_STR;
            v.s = ctx->user_region;
        }
        break;
    case OK_UID:
        if (ctx->user_id) {
            v.t = TY_STR;
            v.s = ctx->user_id;
        }
        break;
    }
    return v;
}

static bool compare(int c, val l, val r)
{
    if (l.t == TY_MISSING || l.t != r.t)
        return false;
    int d;
    if (l.t == TY_STR) {
        d = strcmp(l.s, r.s);
    } else {
        if (l.t == TY_BOOL && ordering(c))
            return false;
        d = (l.num > r.num) - (l.num < r.num);
    }
    switch (c) {
    case C_EQ: return d == 0;
    case C_NE: return d != 0;
    case C_LT: return d < 0;
    case C_LE: return d <= 0;
    case C_GT: return d > 0;
    default: return d >= 0;
    }
}

static bool in_lits(const lit *v, uint32_t n, val x)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int d = x.t == TY_STR ? strcmp(v[mid].s, x.s)
                              : (v[mid].num > x.num) - (v[mid].num < x.num);
        if (d == 0)
            return true;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool eval_in(const recsys__expr *e, const node *n, const recsys_item *it,
                    const recsys__expr_ctx *ctx)
{
    val x = fetch(e, &e->ops[n->a], it, ctx);
    if (x.t == TY_MISSING)
        return false;
    bool member = false;
    if (n->fast == FAST_TAG && it->tag_facets) {
        for (uint32_t i = 0; i < it->ntags && !member; i++) {
            uint32_t f = it->tag_facets[i];
            member = f < n->nfacets ? f == n->facet : strcmp(it->tags[i], x.s) == 0;
        }
    } else if (n->lt == LIST_FIELD) {
        if (x.t != TY_STR)
            return false;
        char **v = n->b == F_TAGS ? it->tags : it->regions;
        uint32_t cnt = n->b == F_TAGS ? it->ntags : it->nregions;
        for (uint32_t i = 0; i < cnt && !member; i++)
            member = strcmp(v[i], x.s) == 0;
    } else if (n->cnt) {
        if (x.t != n->lt)
            return false;
        member = in_lits(e->lits + n->off, n->cnt, x);
    }
    return member != (n->cmp != 0);
}

static bool eval_node(const recsys__expr *e, uint32_t i, const recsys_item *it,
                      const recsys__expr_ctx *ctx)
{
    const node *n = &e->nodes[i];
    switch (n->op) {
    case N_AND:
        for (uint32_t k = n->a; k != NONE; k = e->nodes[k].next)
            if (!eval_node(e, k, it, ctx))
                return false;
        return true;
    case N_OR:
        for (uint32_t k = n->a; k != NONE; k = e->nodes[k].next)
            if (eval_node(e, k, it, ctx))
                return true;
        return false;
    case N_NOT: return !eval_node(e, n->a, it, ctx);
    case N_CONST: return n->a != 0;
    case N_CMP:
        if (n->fast == FAST_CAT && it->category_facet < n->nfacets) /* NONE: no facet */
            return (it->category_facet == n->facet) == (n->cmp == C_EQ);
        return compare(n->cmp, fetch(e, &e->ops[n->a], it, ctx), fetch(e, &e->ops[n->b], it, ctx));
    case N_IN: return eval_in(e, n, it, ctx);
    case N_TRUTH: {
        val v = fetch(e, &e->ops[n->a], it, ctx);
        return v.t == TY_BOOL && v.num != 0;
    }
    }
    return false;
}

bool recsys__expr_eval(const recsys__expr *e, const recsys_item *it, const recsys__expr_ctx *ctx)
{
    static const recsys__expr_ctx none = { 0, -1, NULL, NULL };
    if (!e || !it)
        return false;
    return eval_node(e, e->root, it, ctx ? ctx : &none);
}

void recsys__expr_ctx_of_query(const recsys_query *q, recsys__expr_ctx *ctx)
{
    ctx->now = q ? q->now : 0;
    ctx->user_age = q && q->user ? q->user->age : -1;
    ctx->user_region = q && q->user ? q->user->region : NULL;
    ctx->user_id = q ? q->user_id : NULL;
}
