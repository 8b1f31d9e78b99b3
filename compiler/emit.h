/* emit.h: the emitter (emit.c): the model as kernel IR, printed by the C back end into NAME.c or by
 * the LLVM back end into an object, with the header NAME.h for either; build.c makes an object,
 * library or binary of them. */
#ifndef KILN_EMIT_H
#define KILN_EMIT_H
#include <stdbool.h>
#include <stdio.h>
#include "lower.h"
#include "target.h"

enum backend { BACKEND_C, BACKEND_LLVM };

struct emit_options {
    const struct model *model;       /* the description the module was lowered from: the LM's facts
                                        (vocabularies, delays, TTT settings) its glue and descriptor say */
    const struct target *target;
    const char *source;              /* the .kiln file, named in the generated header comment */
    bool simde;                      /* the vector vocabulary through SIMDe (runs on any x86-64 host) */
    enum backend backend;            /* LLVM: the model through LLVM (kir_llvm.c) into llvm_object */
    const char *cpu;                 /* LLVM's CPU (--cpu), or NULL: the target's baseline */
    const char *llvm_object;         /* where the LLVM back end writes the model's object, or NULL */
    FILE *llvm_dump;                 /* --dump=llvm: the optimized LLVM IR, or NULL */
    const char *llvm_triple;         /* the triple instead of the target's (scalar: the C compiler's), or NULL */
};

/* Writes the model's header to `header`, and with the C back end its C source to `source` (the LLVM
   back end writes its object to opt->llvm_object instead). Returns false when the LLVM back end
   failed (an internal error, on stderr). */
bool emit_model(const struct ir_module *mod, const struct emit_options *opt, FILE *header, FILE *source);
/* --dump=kernels: the kernels the model's code is built from, as kernel IR (kir.h), to out; out NULL and
   opt->llvm_dump set: --dump=llvm. */
bool emit_kernels_dump(const struct ir_module *mod, const struct emit_options *opt, FILE *out);
#endif
