/* cpu.h: what this CPU runs (cpu.c), for the runtime's guard and for kilnc's `--target native`. */
#ifndef KILN_CPU_H
#define KILN_CPU_H
#include <stdbool.h>

/* Whether this CPU (and its OS) runs the feature named as in struct target's `features` list:
   avx2, fma, f16c, avx512f, avx512bw, avx512vl on x86-64; neon, asimddp, asimdhp on AArch64 (as
   /proc/cpuinfo names them). An unknown name, or one of another architecture: false. */
bool kiln_cpu_has(const char *feature);
/* The first feature of a comma-separated list ("avx2,fma,f16c") this CPU lacks, or NULL. */
const char *kiln_cpu_missing(const char *features);
#endif
