/* error.c - the thread-local last-error buffer (the only place it lives: STYLE B5). */
#include "error.h"

static _Thread_local char tl_msg[RECSYS_ERROR_MAX];
static _Thread_local recsys_status tl_status;

void recsys__err_clear(void)
{
    tl_msg[0] = '\0';
    tl_status = RECSYS_OK;
}

recsys_status recsys__err(recsys_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tl_msg, sizeof tl_msg, fmt, ap);
    va_end(ap);
    tl_status = status;
    return status;
}

void recsys__err_prefix(const char *prefix)
{
    char tmp[RECSYS_ERROR_MAX];
    const char *rest = tl_msg[0] ? tl_msg : recsys_status_str(tl_status);
    size_t pl = strlen(prefix);
    if (pl > RECSYS_ERROR_MAX / 2)
        pl = RECSYS_ERROR_MAX / 2;
    memcpy(tmp, prefix, pl);
    tmp[pl] = ':';
    tmp[pl + 1] = ' ';
    size_t room = RECSYS_ERROR_MAX - pl - 3, rl = strlen(rest);
    if (rl > room)
        rl = room;
    memcpy(tmp + pl + 2, rest, rl);
    tmp[pl + 2 + rl] = '\0';
    memcpy(tl_msg, tmp, sizeof tl_msg);
}

recsys_status recsys__err_status(void)
{
    return tl_status;
}

void recsys__err_save(recsys__err_saved *s)
{
    s->status = tl_status;
    memcpy(s->msg, tl_msg, sizeof s->msg);
}

void recsys__err_restore(const recsys__err_saved *s)
{
    tl_status = s->status;
    memcpy(tl_msg, s->msg, sizeof tl_msg);
}

RECSYS_API const char *recsys_last_error(void)
{
    return tl_msg;
}

RECSYS_API recsys_status recsys_last_status(void)
{
    return tl_status;
}

RECSYS_API recsys_status recsys_error_set(recsys_status status, const char *message)
{
    if (status == RECSYS_OK)
        status = RECSYS_E_INVALID_ARG;
    return recsys__err(status, "%s", message ? message : recsys_status_str(status));
}

RECSYS_API const char *recsys_status_str(recsys_status status)
{
    switch (status) {
    case RECSYS_OK: return "ok";
    case RECSYS_E_INVALID_ARG: return "invalid argument";
    case RECSYS_E_NOMEM: return "out of memory";
    case RECSYS_E_NOT_FOUND: return "not found";
    case RECSYS_E_UNSUPPORTED: return "unsupported";
    case RECSYS_E_STATE: return "invalid state";
    case RECSYS_E_IO: return "i/o error";
    case RECSYS_E_CORRUPT: return "corrupt data";
    case RECSYS_E_BUDGET: return "budget exhausted";
    case RECSYS_E_TIMEOUT: return "timeout";
    case RECSYS_E_CALLBACK: return "callback failed";
    case RECSYS_E_INTERNAL: return "internal error";
    case RECSYS_E_TOO_SMALL: return "buffer too small";
    case RECSYS_E_EXISTS: return "already exists";
    }
    return "unknown status";
}

RECSYS_API int recsys_version_number(void)
{
    return RECSYS_VERSION_NUMBER;
}

RECSYS_API const char *recsys_version_string(void)
{
    return RECSYS_VERSION_STRING;
}
