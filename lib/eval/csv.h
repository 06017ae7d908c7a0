/* csv.h - the record reader behind the eval file formats (private to lib/eval).
 *
 * Splits text into records of fields on one separator. With quotes on, a field that starts
 * with '"' runs to the matching '"' ("" inside is one quote; separators and line breaks
 * inside are data), as RFC 4180. Records end at LF; a CR right before the LF (or the end of
 * the text) is dropped. Fields are copied, unquoted and NUL-terminated, into a scratch
 * buffer owned by the reader and valid until the next record. */
#ifndef RECSYS_EVAL_CSV_H
#define RECSYS_EVAL_CSV_H
#include "eval.h"

typedef struct recsys__csv {
    const recsys__mem *mem;
    const char *name;      /* the file, for messages */
    const char *p, *end;   /* the rest of the text */
    char sep;
    bool quotes;
    size_t line;           /* 1-based line on which the current record starts */
    size_t next_line;      /* the line p is on */
    char *buf;             /* the current record's fields */
    size_t cap;
    size_t nf;             /* fields of the current record */
    char *f[RECSYS__EVAL_MAX_FIELDS];
    size_t flen[RECSYS__EVAL_MAX_FIELDS];
    bool quoted[RECSYS__EVAL_MAX_FIELDS];
} recsys__csv;

/* Starts reading text[0..len). A UTF-8 byte-order mark at the start is skipped. */
void recsys__csv_init(recsys__csv *r, const recsys__mem *m, const char *name, const char *text,
                      size_t len, char sep, bool quotes);
void recsys__csv_free(recsys__csv *r);
/* Reads the next record; *eof is set (and nothing read) at the end of the text. Blank
 * records (one empty unquoted field) are returned too: see recsys__csv_blank. */
recsys_status recsys__csv_next(recsys__csv *r, bool *eof);
/* True when the current record is a blank line. */
bool recsys__csv_blank(const recsys__csv *r);
/* Sets RECSYS_E_INVALID_ARG with "name:line: " and the formatted text; returns it. */
recsys_status recsys__csv_fail(const recsys__csv *r, const char *fmt, ...) RECSYS_PRINTF(2, 3);
/* Field i as a checked id: an unquoted field loses surrounding ASCII spaces and tabs, then
 * it must be non-empty, at most RECSYS__EVAL_ID_MAX bytes and free of NUL bytes; what names
 * it in messages ("user id"). */
recsys_status recsys__csv_id(recsys__csv *r, size_t i, const char *what, const char **id,
                             size_t *len);
/* Field i as a decimal int64 (optional '-', digits, surrounding spaces allowed). */
recsys_status recsys__csv_int(const recsys__csv *r, size_t i, const char *what, int64_t *out);
/* Field i as a finite decimal number. */
recsys_status recsys__csv_num(const recsys__csv *r, size_t i, const char *what, double *out);
/* True when s[0..len) is a canonical decimal integer below 2^64 (value in *v). */
bool recsys__eval_decimal(const char *s, size_t len, uint64_t *v);
/* Field i with surrounding ASCII spaces and tabs removed (in place); its length in *len. */
char *recsys__csv_trim(recsys__csv *r, size_t i, size_t *len);
/* Lower-cases ASCII letters of s in place. */
void recsys__csv_lower(char *s);

#endif
