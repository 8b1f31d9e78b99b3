/* target.h: target ISAs as data. One instance per ISA (target.c); the code generator consults it
 * rather than being copied per ISA: kernels are written once against a small vector vocabulary
 * (vf, vf_load, vf_fma, ...) whose definitions come from the target's table. */
#ifndef KILN_TARGET_H
#define KILN_TARGET_H
#include <stdbool.h>

struct target {
    const char *name;                /* scalar | avx2 | avx512 | avx512vnni | neon */
    const char *cflags;              /* what the C compiler needs for this ISA: exactly `features` */
    int width;                       /* floats per vector; 1: the plain scalar reference */
    int tile_rows;                   /* rows (frames) a matmul microkernel keeps in registers */
    const char *features;            /* CPU features the runtime checks before running ("avx2,fma,f16c"),
                                        as runtime/cpu.c names them */
    /* The LLVM back end's target (kir_llvm.c): the same ISA as cflags, in LLVM's words */
    const char *llvm_triple;         /* NULL: the host's */
    const char *llvm_cpu;            /* the ISA's baseline CPU; --cpu replaces it */
    const char *llvm_features;
    bool pairwise_sum;               /* the vocabulary's vf_sum adds neighbouring lanes first (NEON's vaddvq) */
    /* The vector vocabulary, as C text (unused for scalar): */
    const char *include;             /* the intrinsics header, native build */
    const char *include_simde;       /* the same through SIMDe (x86-64 hosts), or NULL */
    const char *vtype;               /* vf */
    const char *load, *store;        /* (p) / (p, v) */
    const char *set1, *zero;         /* (x) / () */
    const char *fma;                 /* (a, b, c) = a * b + c */
    const char *add, *sub, *mul, *max, *min; /* (a, b); max(a, b) is a > b ? a : b, min(a, b) a < b ? a : b:
                                                b where either is NaN, on every ISA (argmax and vf_exp rely on it) */
    const char *div;                 /* (a, b), native builds; NULL or SIMDe: lane by lane */
    const char *sum;                 /* body of float vf_sum(vf v), native builds; NULL: through memory */
    const char *floor;               /* (x): round toward minus infinity */
    const char *pow2i;               /* (n): 2^n for a vector of integral n in [-126, 127] */
    const char *swap_pairs;          /* (v): lanes 2i and 2i + 1 exchanged (interleaved RoPE) */
    const char *load_bf16, *load_f16; /* (p), p a const uint16_t *: VF_WIDTH bf16 or f16 values widened
                                         to f32 (exact); native builds, else through kiln_format.h's */
    /* vi: VF_WIDTH i32 lanes, the integer dot products of quantized weights (kir_ops.h's DOT4) */
    const char *itype;
    const char *iload, *istore;      /* (p), p a const int32_t *; (p, v) */
    const char *iset1;               /* (x) */
    const char *iadd, *isub, *iand;  /* (a, b) */
    const char *ishr;                /* (v, n): logical shift right of each lane by the constant n */
    const char *dot4;                /* (a, b, c): a + per lane, b's 4 bytes (unsigned) . c's (signed) */
    const char *dot4_u7;             /* the same where b's bytes are below 128 */
    const char *f_from_i;            /* (v): the lanes converted to f32 */
    int dot4_form;                   /* the same DOT4 for the LLVM back end: enum kir_dot4_form (kir.h) */
};

/* The target named `name` ("native" resolves to the best target this host runs), or NULL. */
const struct target *target_find(const char *name);
/* The ISA a build of t is compiled for, whose cflags it gets and whose features its binary checks:
   t itself, or with SIMDe (portable intrinsics for an x86-64 host) the avx2 target's. */
const struct target *target_isa(const struct target *t, bool simde);
/* Whether LLVM 19 knows `cpu` as a CPU of t's family (x86-64 or AArch64), for --cpu. */
bool target_cpu_known(const struct target *t, const char *cpu);
/* Writes the vector vocabulary of t (typedef vf, VF_WIDTH, vf_* inline functions) to out. */
#include <stdio.h>
void target_emit_vocabulary(FILE *out, const struct target *t, bool simde);
#endif
