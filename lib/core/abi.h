/* abi.h - the single home of size-prefixed record and vtable handling (STYLE B3, B8). */
#ifndef RECSYS_CORE_ABI_H
#define RECSYS_CORE_ABI_H
#include "deps.h"

#define RECSYS_OFFSETOFEND(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

/* True when the record p (with its struct_size) is large enough to hold field and the field
 * is set (non-zero/non-NULL). Use on normalised copies only for "set" checks. */
#define RECSYS_HAS(p, field) \
    ((p)->struct_size >= RECSYS_OFFSETOFEND(__typeof__(*(p)), field) && (p)->field)

/* Copies a caller record into a zero-filled full-size internal copy:
 * - src_size below min_size: RECSYS_E_INVALID_ARG;
 * - src_size above dst_size with a non-zero byte in the tail: RECSYS_E_UNSUPPORTED;
 * - otherwise min(src_size, dst_size) bytes are copied and the rest is zero.
 * what names the record in messages. */
recsys_status recsys__record_copy(void *dst, size_t dst_size, const void *src, uint32_t src_size,
                                  size_t min_size, const char *what);

/* Copies a vtable the same way, except that an oversized tail is ignored (unknown methods
 * are optional by construction). The struct_size of the copy is set to dst_size. */
recsys_status recsys__vtable_copy(void *dst, size_t dst_size, const void *src, uint32_t src_size,
                                  size_t min_size, const char *what);

#endif
