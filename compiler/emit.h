/* emit.h: the back ends. emit_c writes NAME.h and NAME.c (shape-fixed kernels, the step functions
 * and the descriptor the runtime reads); build.c turns them into an object, library or binary. */
#ifndef KILN_EMIT_H
#define KILN_EMIT_H
#include <stdbool.h>
#include <stdio.h>
#include "ir.h"
#include "target.h"

enum backend { BACKEND_C, BACKEND_LLVM };

struct emit_options {
    const struct target *target;
    const char *source;              /* the .kiln file, named in the generated header comment */
    bool simde;                      /* the vector vocabulary through SIMDe (runs on any x86-64 host) */
    enum backend backend;            /* LLVM: the kernels through LLVM (kir_llvm.c) into llvm_object */
    const char *cpu;                 /* LLVM's CPU (--cpu), or NULL: the target's baseline */
    const char *llvm_object;         /* where the LLVM back end writes the kernels' object, or NULL */
    FILE *llvm_dump;                 /* --dump=llvm: the optimized LLVM IR, or NULL */
    const char *llvm_triple;         /* the triple instead of the target's (scalar: the C compiler's), or NULL */
};

/* Writes the model's header and C source to the two streams (and with the LLVM back end, its kernels'
   object). Returns false when the LLVM back end failed (an internal error, on stderr). */
bool emit_c(const struct ir_module *mod, const struct emit_options *opt, FILE *header, FILE *source);
/* --dump=kernels: the kernels the model's code is built from, as kernel IR (kir.h), to out; out NULL and
   opt->llvm_dump set: --dump=llvm. */
bool emit_kernels_dump(const struct ir_module *mod, const struct emit_options *opt, FILE *out);
#endif
