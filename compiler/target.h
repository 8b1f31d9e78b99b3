/* target.h: target ISAs as data. One instance per ISA; the code generator consults it rather than
 * being copied per ISA. */
#ifndef KILN_TARGET_H
#define KILN_TARGET_H
#include <stdbool.h>

struct target {
    const char *name;                /* scalar | avx2 | avx512 | neon */
    const char *cflags;              /* what the C compiler needs for this ISA */
    bool implemented;                /* false: refused with a message until its kernels exist */
};

/* The target named `name` ("native" resolves to the best implemented target for this host), or NULL. */
const struct target *target_find(const char *name);
/* Comma-separated names, for --help and errors. */
const char *target_names(void);
#endif
