/* error.h - the thread-local last error (the buffer itself lives only in error.c). */
#ifndef RECSYS_CORE_ERROR_H
#define RECSYS_CORE_ERROR_H
#include "deps.h"

#define RECSYS_ERROR_MAX 512

/* Clears the message and status; every public entry point calls this first. */
void recsys__err_clear(void);
/* Sets status and a printf-style message; returns status. */
recsys_status recsys__err(recsys_status status, const char *fmt, ...) RECSYS_PRINTF(2, 3);
/* Prefixes the current message with "prefix: " (keeps the status). */
void recsys__err_prefix(const char *prefix);
/* The current status (RECSYS_OK when none was set). */
recsys_status recsys__err_status(void);
/* Snapshot/restore, for code that must run cleanup calls without losing the first error. */
typedef struct recsys__err_saved {
    recsys_status status;
    char msg[RECSYS_ERROR_MAX];
} recsys__err_saved;
void recsys__err_save(recsys__err_saved *s);
void recsys__err_restore(const recsys__err_saved *s);

/* Checks a public pointer argument: sets RECSYS_E_INVALID_ARG naming it. */
#define RECSYS_CHECK_ARG(p)                                                                  \
    do {                                                                                     \
        if (!(p))                                                                            \
            return recsys__err(RECSYS_E_INVALID_ARG, "%s: argument '%s' is NULL", __func__, #p); \
    } while (0)

/* Propagates a non-OK status. */
#define RECSYS_TRY(expr)                                                                     \
    do {                                                                                     \
        recsys_status recsys__st = (expr);                                                   \
        if (recsys__st != RECSYS_OK)                                                         \
            return recsys__st;                                                               \
    } while (0)

#endif
