/* expr.h - the constraint expression language of business rules (rules.h) and request
 * constraints: parsed once into a small tree, checked against the catalog's attribute
 * registry (bind), then evaluated per candidate with no allocation.
 *
 * Grammar (whitespace: space, tab, CR, LF; keywords and names are case-sensitive):
 *
 *   expr     := and ( '||' and )*
 *   and      := unary ( '&&' unary )*
 *   unary    := '!' unary | '(' expr ')' | test
 *   test     := sum [ cmp sum | 'in' list | 'not' 'in' list ]
 *   sum      := value ( ( '+' | '-' ) value )*        (numbers only)
 *   cmp      := '==' | '!=' | '<' | '<=' | '>' | '>='
 *   list     := '[' [ literal ( ',' literal )* ] ']' | 'tags' | 'regions'
 *   value    := literal | name | 'attr' '(' string ')' | 'now'
 *             | 'user' '.' ( 'age' | 'region' | 'id' )
 *   literal  := string | number | 'true' | 'false'
 *   string   := '"' ... '"'  with the JSON escapes \" \\ \/ \b \f \n \r \t \uXXXX (surrogate
 *               pairs joined; \u0000, lone surrogates and raw control bytes are errors)
 *   number   := '-'? digit+ ( '.' digit+ )? ( ( 'e' | 'E' ) ( '+' | '-' )? digit+ )?
 *   name     := [A-Za-z_][A-Za-z0-9_]*
 *
 * Precedence: + and - inside a test, then the test's comparison; ! applies to the test that
 * follows it whole (!price > 5 is !(price > 5)); then &&, then ||. Comparisons are not
 * chained. A '-' right after a value (a number, a string, a name, ')') subtracts; anywhere
 * else it is the sign of a number: `created >= now - 604800`, `x > -5`, `now-5`.
 *
 * Values and their types:
 * - built-in item fields: id, title, description, category, provider (text; never missing,
 *   "" when unset), tags and regions (lists of text, only right of `in`), available (bool),
 *   min_age and created (numbers);
 * - every other name is a custom attribute of the item (recsys__attr: number, text or bool);
 *   attr("any name") reaches one whose name is not a plain name or is a built-in or keyword
 *   (attr("category") is the custom attribute, category the built-in field);
 * - now (the request time, Unix seconds), user.age (number), user.region and user.id (text);
 * - reserved words: true false now in not user attr.
 * A test without comparison must be a bool: a bool field or attribute (available, on_sale),
 * or true / false.
 *
 * Semantics:
 * - A comparison, `in` or `not in` with a missing value is false: an item without that
 *   attribute, an item whose attribute has another type than the comparison needs, a user of
 *   unknown age or region, an anonymous request's user.id, a sum with a missing or
 *   non-number term. (!(x == 1) is then true.)
 * - + and - add and subtract doubles (a sum too large becomes +-infinity, never NaN).
 * - Numbers are IEEE doubles compared exactly (== is bit-exact up to -0 == 0; integers are
 *   exact up to 2^53). Text compares byte by byte, exact and case-sensitive; < <= > >= on
 *   text are byte-wise lexicographic. Bools support only == and !=.
 * - `x in [..]` holds when x equals an entry; `x in tags` / `x in regions` when x equals one
 *   of the item's tags / regions (an item without regions has an empty list here: the
 *   built-in region filter's "everywhere" does not apply). `not in` is the negation for a
 *   present x of the list's type.
 * - Type errors between fixed types (a built-in field, user.*, now, a literal) are parse
 *   errors; those involving a custom attribute are bind errors where the registry decides
 *   them (the name never had a type the comparison can use), otherwise false at evaluation.
 *
 * Errors: RECSYS_E_INVALID_ARG with "expression: at byte N: expected ')' but found '&&'"
 * (N counts bytes from 0). Limits: RECSYS__EXPR_TEXT_MAX bytes of text, RECSYS__EXPR_DEPTH_MAX
 * nested '(' and '!', RECSYS__EXPR_LIST_MAX entries per list literal, number literals of at
 * most RECSYS__EXPR_NUMBER_MAX characters and finite.
 *
 * Cost: parse O(length + L log L) for list literals of L entries (sorted for binary search);
 * bind O(1) registry and facet lookups per name and literal, plus each custom attribute's
 * rank among the registry's R names (O(R), skipped when R > 4096; expr.c "attribute
 * guesses"); eval O(nodes): a custom attribute is a binary search in the item's sorted
 * attributes whose first probe is that rank, a list literal a binary search, `in tags` a scan
 * of the item's tag facet indices (after bind) or tags. No allocation, no lock, no global
 * state: one bound expression may be evaluated from many threads at once.
 */
#ifndef RECSYS_FILTER_EXPR_H
#define RECSYS_FILTER_EXPR_H
#include "../model/model.h"

#define RECSYS__EXPR_TEXT_MAX RECSYS__TEXT_MAX /* bytes of expression text (65536) */
#define RECSYS__EXPR_DEPTH_MAX 64   /* nested parentheses and '!' */
#define RECSYS__EXPR_LIST_MAX 1024  /* entries of one [..] list */
#define RECSYS__EXPR_NUMBER_MAX 64  /* characters of one number literal */

typedef struct recsys__expr recsys__expr;

/* What an expression reads of the request. */
typedef struct recsys__expr_ctx {
    int64_t now;             /* `now`, Unix seconds */
    int user_age;            /* `user.age`; < 0: unknown (missing) */
    const char *user_region; /* `user.region`; NULL: unknown (missing) */
    const char *user_id;     /* `user.id`; NULL: anonymous (missing) */
} recsys__expr_ctx;

/* The context of a request: q->now, the known user's age and region, q->user_id. */
void recsys__expr_ctx_of_query(const recsys_query *q, recsys__expr_ctx *ctx);

/* Parses text[0..len) (UTF-8, no NUL byte) into *out (NULL on failure). Type errors between
 * fixed types are reported here. RECSYS_E_INVALID_ARG with the byte position; NOMEM. */
recsys_status recsys__expr_parse(const recsys__mem *m, const char *text, size_t len,
                                 recsys__expr **out);
/* Checks every custom attribute against the catalog's registry (model.h attr_names): an
 * unknown name, or one that never had a type its use needs, gives RECSYS_E_INVALID_ARG
 * naming it and its byte position. On success it also notes the facet indices of the string
 * literals compared with category or tested in tags, so that evaluation compares indices
 * instead of strings (expr.c, "facet shortcuts"). The expression then stays correct as items
 * come and go (names are kept, and a facet interned later takes the string path) provided it
 * evaluates items of this catalog (or items in no catalog); bind again to move it to another.
 * Reads the catalog; writes e: not while another thread evaluates or binds e (bind under the
 * lock that orders catalog writes, or on a per-request expression). Evaluating does not
 * require a bind: an unbound unknown name is missing, and strings are compared. */
recsys_status recsys__expr_bind(recsys__expr *e, const recsys__catalog *c);
/* True when the condition holds for item it (NULL: false) in ctx. */
bool recsys__expr_eval(const recsys__expr *e, const recsys_item *it, const recsys__expr_ctx *ctx);
/* The source text (NUL-terminated, owned by e) and its length. */
const char *recsys__expr_text(const recsys__expr *e, size_t *len);
void recsys__expr_free(recsys__expr *e);

#endif
