/* Compiles recsys.h alone (no other header first) as C99 and C11 with -pedantic -Werror. */
#include "recsys.h"
int recsys_header_c_probe(void);
int recsys_header_c_probe(void)
{
    RECSYS_INIT(recsys_source_vtable, vt, .ctx = 0);
    return (int)vt.struct_size + RECSYS_VERSION_NUMBER;
}
