/* cpu.c: the runtime guard. A generated model names the CPU features its kernels use; before any
 * of them runs, the runtime checks that this CPU has each one, so a binary built for a target the
 * machine lacks stops with a message instead of dying on an illegal instruction. This file is
 * compiled without any ISA flags. */
#include <stdio.h>
#include <string.h>
#include "kiln_rt.h"

/* Whether this CPU has the feature named as in struct target's `features` list. */
static int has_feature(const char *name)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (!strcmp(name, "avx2"))
        return __builtin_cpu_supports("avx2");
    if (!strcmp(name, "fma"))
        return __builtin_cpu_supports("fma");
    if (!strcmp(name, "avx512f"))
        return __builtin_cpu_supports("avx512f");
    if (!strcmp(name, "avx512bw"))
        return __builtin_cpu_supports("avx512bw");
    if (!strcmp(name, "avx512vl"))
        return __builtin_cpu_supports("avx512vl");
    return 0;
#elif defined(__aarch64__)
    return !strcmp(name, "neon"); /* every AArch64 CPU has Advanced SIMD */
#else
    (void)name;
    return 0;
#endif
}

const char *kiln_missing_cpu_feature(const struct kiln_model_desc *desc)
{
    static char missing[32];
    const char *p = desc->cpu_features;
    while (p && *p) {
        size_t n = strcspn(p, ",");
        snprintf(missing, sizeof missing, "%.*s", (int)n, p);
        if (!has_feature(missing))
            return missing;
        p += n + (p[n] == ',');
    }
    return NULL;
}
