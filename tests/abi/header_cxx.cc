// Compiles recsys.h alone as C++11 with -pedantic -Werror; C++ uses the _init functions.
#include "recsys.h"
int recsys_header_cxx_probe();
int recsys_header_cxx_probe()
{
    recsys_source_vtable vt;
    (void)&recsys_source_vtable_init;
    vt.struct_size = sizeof vt;
    return static_cast<int>(vt.struct_size) + RECSYS_VERSION_NUMBER;
}
