/* target.c: the table of target ISAs (target.h). */
#include <string.h>
#include "target.h"

static const struct target targets[] = {
    {"scalar", "", true},
    {"avx2", "-mavx2 -mfma -mf16c", false},
    {"avx512", "-mavx512f -mavx512bw -mavx512vl -mavx512vnni", false},
    {"neon", "-march=armv8.2-a+dotprod+fp16", false},
};

const struct target *target_find(const char *name)
{
    if (strcmp(name, "native") == 0)
        return &targets[0]; /* the best implemented target this host runs: only scalar so far */
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (strcmp(targets[i].name, name) == 0)
            return &targets[i];
    return NULL;
}

const char *target_names(void) { return "native, scalar, avx2, avx512, neon"; }
