/* cpu.c: the runtime guard. A generated model names the CPU features its code was compiled for
 * (the target's ISA flags, or with --simde the x86-64 flags SIMDe's code was built with); before any
 * of it runs, the runtime checks that this CPU has each one, so a binary built for a CPU the machine
 * is not stops with a message instead of dying on an illegal instruction. This file is compiled
 * without any ISA flags. */
#include <stdio.h>
#include <string.h>
#include "cpu.h"
#include "kiln_rt.h"
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
/* The features __builtin_cpu_supports names in both gcc and clang (which also checks that the OS
   saves the vector registers); f16c, which clang 14 does not name, from CPUID leaf 1 (ECX bit 29). */
#define X86_BUILTIN_FEATURES X(avx2) X(fma) X(avx512f) X(avx512bw) X(avx512vl) X(avx512vnni)
static bool x86_has(const char *name)
{
    __builtin_cpu_init();
#define X(f)                                                                                                   \
    if (!strcmp(name, #f))                                                                                     \
        return __builtin_cpu_supports(#f);
    X86_BUILTIN_FEATURES
#undef X
    if (!strcmp(name, "f16c")) {
        unsigned eax, ebx, ecx, edx;
        return __builtin_cpu_supports("avx") && __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx >> 29 & 1);
    }
    return false;
}
#elif defined(__aarch64__)
/* AT_HWCAP bits (the kernel's arch/arm64/include/uapi/asm/hwcap.h). */
static bool arm64_has(const char *name)
{
    static const struct { const char *name; unsigned long bit; } hwcaps[] = {
        {"neon", 1ul << 1}, {"asimdhp", 1ul << 10}, {"asimddp", 1ul << 20}};
    unsigned long hwcap = getauxval(AT_HWCAP);
    for (size_t i = 0; i < sizeof hwcaps / sizeof hwcaps[0]; i++)
        if (!strcmp(name, hwcaps[i].name))
            return (hwcap & hwcaps[i].bit) != 0;
    return false;
}
#endif

bool kiln_cpu_has(const char *feature)
{
#if defined(__x86_64__) || defined(__i386__)
    return x86_has(feature);
#elif defined(__aarch64__)
    return arm64_has(feature);
#else
    (void)feature;
    return false;
#endif
}

const char *kiln_cpu_missing(const char *features)
{
    static char missing[32];
    for (const char *p = features; p && *p;) {
        size_t n = strcspn(p, ",");
        snprintf(missing, sizeof missing, "%.*s", (int)n, p);
        if (!kiln_cpu_has(missing))
            return missing;
        p += n + (p[n] == ',');
    }
    return NULL;
}

const char *kiln_missing_cpu_feature(const struct kiln_model_desc *desc)
{
    return kiln_cpu_missing(desc->cpu_features);
}
