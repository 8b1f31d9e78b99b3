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

/* One model of a build: its module, and how it is emitted */
struct build_unit {
    const struct ir_module *mod;
    const struct emit_options *emit;
};
#define BUILD_MAX_UNITS 2

/* Emits NAME.h/NAME.c into out_dir for each of units[count] and builds what `emit` asks for: one
   model, or a system of two (a language model, then its codec: one program or library named after
   the first, whose main() is kiln_system_cli_main's, in NAME_main.c). Files appear only complete
   (written under a temporary name, then renamed); on failure nothing new is left. Returns an exit
   status: 0; 1 when the C compiler is missing or builds for another architecture than the target
   (checked before anything is written) or a file cannot be written; 2 when the C compiler fails
   (an internal error). The target, and whether it goes through SIMDe, are the emit options'.
   On success it says on stdout what it wrote where. */
int build_model(const struct build_unit *units, int count, const struct build_options *bopt);
#endif
