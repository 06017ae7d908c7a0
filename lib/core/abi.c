/* abi.c - validate-and-copy of size-prefixed records and vtables. */
#include "abi.h"
#include "error.h"

recsys_status recsys__record_copy(void *dst, size_t dst_size, const void *src, uint32_t src_size,
                                  size_t min_size, const char *what)
{
    if (src_size < min_size)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "%s: struct_size %" PRIu32 " is below the minimum %zu (set it with "
                           "RECSYS_INIT or the _init function)", what, src_size, min_size);
    if (src_size > dst_size) {
        const unsigned char *tail = (const unsigned char *)src + dst_size;
        for (size_t i = 0; i < src_size - dst_size; i++)
            if (tail[i])
                return recsys__err(RECSYS_E_UNSUPPORTED,
                                   "%s: struct_size %" PRIu32 " has non-zero fields beyond the "
                                   "%zu bytes this library (%s) knows", what, src_size, dst_size,
                                   RECSYS_VERSION_STRING);
    }
    memset(dst, 0, dst_size);
    memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
    *(uint32_t *)dst = (uint32_t)dst_size;
    return RECSYS_OK;
}

recsys_status recsys__vtable_copy(void *dst, size_t dst_size, const void *src, uint32_t src_size,
                                  size_t min_size, const char *what)
{
    if (src_size < min_size)
        return recsys__err(RECSYS_E_INVALID_ARG,
                           "%s: struct_size %" PRIu32 " is below the minimum %zu (set it with "
                           "RECSYS_INIT or the _init function)", what, src_size, min_size);
    memset(dst, 0, dst_size);
    memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
    *(uint32_t *)dst = (uint32_t)dst_size;
    return RECSYS_OK;
}
