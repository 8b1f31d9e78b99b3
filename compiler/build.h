/* build.h: writing the generated files and calling the C compiler (build.c). */
#ifndef KILN_BUILD_H
#define KILN_BUILD_H
#include "emit.h"

enum emit_kind { EMIT_C, EMIT_OBJ, EMIT_LIB, EMIT_EXE };

struct build_options {
    const char *out_dir;             /* created if missing */
    const char *cc;                  /* one program; NULL: the host's cc, linking build/libkiln_rt.a */
    const char *cflags;              /* more flags for every compile (split on whitespace), or NULL */
    enum emit_kind emit;
};

/* Emits NAME.h/NAME.c into out_dir and builds what `emit` asks for. Files appear only complete
   (written under a temporary name, then renamed); on failure nothing new is left. Returns an exit
   status: 0; 1 when the C compiler is missing or builds for another architecture than the target
   (checked before anything is written) or a file cannot be written; 2 when the C compiler fails
   (an internal error). The target, and whether it goes through SIMDe, are the emit options'.
   On success it says on stdout what it wrote where. */
int build_model(const struct ir_module *mod, const struct emit_options *eopt, const struct build_options *bopt);
#endif
