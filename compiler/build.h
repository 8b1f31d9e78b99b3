/* build.h: writing the generated files and calling the C compiler (build.c). */
#ifndef KILN_BUILD_H
#define KILN_BUILD_H
#include "emit.h"

enum emit_kind { EMIT_C, EMIT_OBJ, EMIT_LIB, EMIT_EXE };

struct build_options {
    const char *out_dir;             /* created if missing */
    const char *cc;                  /* NULL: the host's cc, linking build/libkiln_rt.a */
    enum emit_kind emit;
};

/* Emits NAME.h/NAME.c into out_dir and builds what `emit` asks for. Files appear only complete
   (written under a temporary name, then renamed); on failure nothing new is left. Returns an exit
   status: 0, or 2 (the C compiler failed: an internal error). The target, and whether it goes
   through SIMDe, are the emit options'. */
int build_model(const struct ir_module *mod, const struct emit_options *eopt, const struct build_options *bopt);
#endif
