/* options.h - the option table (names, types, bounds, defaults) and option values.
 * JSON and CLI configuration are thin layers over this table (STYLE B4). */
#ifndef RECSYS_CORE_OPTIONS_H
#define RECSYS_CORE_OPTIONS_H
#include "alloc.h"

typedef struct recsys__optdef {
    int32_t key;
    int32_t type; /* recsys_option_type */
    const char *name;
    const char *doc;
    double min, max, def;
    const char *def_str;
} recsys__optdef;

/* The table, sorted by key. */
extern const recsys__optdef recsys__optdefs[];
extern const size_t recsys__noptdefs;

/* The slot of key in the table, or -1. */
int recsys__opt_slot(int32_t key);

#define RECSYS_OPT_SLOTS 160

/* Values of every option (numbers as double, ints are exact up to 2^53). */
typedef struct recsys__optvals {
    double num[RECSYS_OPT_SLOTS];
    char *str[RECSYS_OPT_SLOTS];
} recsys__optvals;

void recsys__optvals_defaults(recsys__optvals *v);
void recsys__optvals_free(recsys__optvals *v, const recsys__mem *m);

/* Validates a value for key against type and bounds (the message names option and bound). */
recsys_status recsys__opt_check_num(int32_t key, int32_t type, double value, int *slot);
recsys_status recsys__opt_check_str(int32_t key, const char *value, int *slot);

/* A sparse list of per-request overrides. */
typedef struct recsys__optover {
    int32_t key;
    double num;
} recsys__optover;

#endif
