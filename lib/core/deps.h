/* deps.h - the one wrapper around libc and the platform (zstd's zstd_deps.h idea). Every
 * library file includes this instead of system headers, so a port changes one file. */
#ifndef RECSYS_CORE_DEPS_H
#define RECSYS_CORE_DEPS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* POSIX, for the file store and the clocks */
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define RECSYS_BUILDING 1
#include "recsys.h"

/* Internal symbols that are not static are recsys__<module>_<name> (libuv's uv__). */
#define RECSYS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define RECSYS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RECSYS_MAX(a, b) ((a) > (b) ? (a) : (b))
#define RECSYS_UNUSED(x) ((void)(x))

#if defined(__GNUC__)
#define RECSYS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define RECSYS_PRINTF(f, a)
#endif

#endif
