/* main.c: the kilnc driver. compile() is the whole pipeline, stage by stage:
 *   parse -> check -> lower -> fuse (verified after every pass) -> plan -> emit C -> cc/link.
 * `--dump=STAGE` prints a stage's output and stops there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "build.h"
#include "frontend.h"
#include "kiln_format.h"

enum dump_stage { DUMP_NONE, DUMP_AST, DUMP_MODEL, DUMP_IR, DUMP_FUSED, DUMP_PLAN, DUMP_KERNELS, DUMP_LLVM, NUM_DUMPS };
static const char *const dump_names[] = {"", "ast", "model", "ir", "fused", "plan", "kernels", "llvm"};

struct options {
    const char *input;
    const char *codec;               /* --codec MIMI.kiln: a system binary of the LM and this codec */
    enum dump_stage dump;
    bool fuse;
    int rows;                        /* frames per temporal call in a teacher-forced forward */
    int weights;                     /* --weights: enum weight_format, or -1 (the description's) */
    int kv;                          /* --kv: enum weight_format (f32, bf16 or f16) */
    struct emit_options emit;
    struct build_options build;
};

static const char usage[] =
    "usage: kilnc FILE.kiln [options]          compile a model description\n"
    "       kilnc LM.kiln --codec MIMI.kiln [options]\n"
    "                                          compile a language model and its codec into one binary\n"
    "                                          (converse, serve; docs/converse.md), named after the LM\n"
    "       kilnc import moshi CONFIG.json -o FILE.kiln [-n NAME] [--ttt-layers A..B --ttt linear|mlp ...]\n"
    "       kilnc import mimi CONFIG.json -o FILE.kiln [-n NAME]\n"
    "\n"
    "options:\n"
    "  -o DIR                 output folder (default generated/NAME)\n"
    "  --codec MIMI.kiln      the codec of a system binary: --weights, --kv and --backend are the LM's;\n"
    "                         the codec keeps its description's format and the C back end\n"
    "  --target T             native | scalar | avx2 | avx512 | avx512vnni | neon (default native)\n"
    "  --weights F            f32 | bf16 | f16 | q8 | q4: how matrices and embeddings are stored\n"
    "                         (default: the description's `weights`, else f32; q8 and q4 are ggml's\n"
    "                         q8_0 and q4_0 blocks, their embeddings bf16)\n"
    "  --kv F                 f32 | bf16 | f16: the attention caches' format (default f32, exact; f16\n"
    "                         halves what a frame reads of them)\n"
    "  --backend B            c | llvm (default c): who compiles the model; with llvm, LLVM 19 writes\n"
    "                         NAME.o itself (no C compiler needed for --emit obj)\n"
    "  --cpu NAME             the CPU --backend llvm tunes for, within the target's ISA (znver4,\n"
    "                         sapphirerapids, neoverse-n1, ...; default: the target's baseline, or\n"
    "                         this host's CPU and features for --target native)\n"
    "  --emit E               c | obj | lib | exe (default exe): NAME.{h,c}, NAME.o, libNAME.a, NAME\n"
    "                         (c: the C back end only)\n"
    "  --cc CC                C compiler, one program (default cc; another one also compiles the\n"
    "                         runtime, e.g. clang-14 or the cross compiler aarch64-linux-gnu-gcc)\n"
    "  --cflags \"FLAGS\"       more flags for every compile, split on whitespace (KILN_EXTRA_CFLAGS\n"
    "                         in the environment adds to them)\n"
    "  --simde                build a vector target's code against SIMDe's portable intrinsics\n"
    "                         (an avx512 or neon build that runs on this x86-64 host)\n"
    "  --dump=STAGE           print ast | model | ir | fused | plan | kernels (the kernel IR) | llvm (the\n"
    "                         LLVM back end's optimized module) and stop\n"
    "  --rows N               frames per temporal call in a teacher-forced forward (default 32)\n"
    "  --no-fuse              skip the fusion passes (for testing the fused kernels)\n"
    "  --print-target T       print what T resolves to (native: this host's best) and exit\n"
    "  -h, --help             this text\n";

static int option_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "kilnc: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(kilnc --help lists the options)\n");
    return 1;
}

/* The value of `flag` at argv[*i] ("FLAG VALUE" or "FLAG=VALUE"), NULL when argv[*i] is another
   option; a flag without a value (the last argument, or empty) is an error: exit status 1. */
static const char *option_value(int argc, char **argv, int *i, const char *flag)
{
    size_t n = strlen(flag);
    const char *value;
    if (strncmp(argv[*i], flag, n) == 0 && argv[*i][n] == '=')
        value = argv[*i] + n + 1;
    else if (strcmp(argv[*i], flag) != 0)
        return NULL;
    else
        value = *i + 1 < argc ? argv[++*i] : "";
    if (!*value)
        exit(option_error("%s needs a value", flag));
    return value;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
    *opt = (struct options){.fuse = true, .rows = 32, .weights = -1, .kv = WEIGHTS_F32, .build = {.emit = EMIT_EXE}};
    const char *target = "native", *value;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if ((value = option_value(argc, argv, &i, "--print-target"))) {
            const struct target *t = target_find(value);
            if (!t)
                return option_error("unknown target '%s' (native, scalar, avx2, avx512, avx512vnni, neon)", value);
            printf("%s\n", t->name);
            exit(0);
        } else if ((value = option_value(argc, argv, &i, "-o"))) {
            opt->build.out_dir = value;
        } else if ((value = option_value(argc, argv, &i, "--codec"))) {
            opt->codec = value;
        } else if ((value = option_value(argc, argv, &i, "--target"))) {
            target = value;
        } else if ((value = option_value(argc, argv, &i, "--weights"))) {
            int k = 0;
            while (k < NUM_WEIGHT_FORMATS && strcmp(value, weight_format_names[k]) != 0)
                k++;
            if (k == NUM_WEIGHT_FORMATS)
                return option_error("unknown weight format '%s' (f32, bf16, f16, q8, q4)", value);
            opt->weights = k;
        } else if ((value = option_value(argc, argv, &i, "--kv"))) {
            int k = 0;
            while (k <= WEIGHTS_F16 && strcmp(value, weight_format_names[k]) != 0)
                k++;
            if (k > WEIGHTS_F16)
                return option_error("unknown KV cache format '%s' (f32, bf16, f16)", value);
            opt->kv = k;
        } else if ((value = option_value(argc, argv, &i, "--backend"))) {
            if (strcmp(value, "c") != 0 && strcmp(value, "llvm") != 0)
                return option_error("unknown backend '%s' (c, llvm)", value);
            opt->emit.backend = strcmp(value, "llvm") == 0 ? BACKEND_LLVM : BACKEND_C;
        } else if ((value = option_value(argc, argv, &i, "--cpu"))) {
            opt->emit.cpu = value;
        } else if ((value = option_value(argc, argv, &i, "--emit"))) {
            static const char *const kinds[] = {"c", "obj", "lib", "exe"};
            int k = 0;
            while (k < 4 && strcmp(value, kinds[k]) != 0)
                k++;
            if (k == 4)
                return option_error("unknown --emit '%s' (c, obj, lib, exe)", value);
            opt->build.emit = (enum emit_kind)k;
        } else if ((value = option_value(argc, argv, &i, "--cc"))) {
            opt->build.cc = value;
        } else if ((value = option_value(argc, argv, &i, "--cflags"))) {
            opt->build.cflags = value;
        } else if (strcmp(a, "--simde") == 0) {
            opt->emit.simde = true;
        } else if ((value = option_value(argc, argv, &i, "--dump"))) {
            int k = 1;
            while (k < NUM_DUMPS && strcmp(value, dump_names[k]) != 0)
                k++;
            if (k == NUM_DUMPS)
                return option_error("unknown --dump stage '%s' (ast, model, ir, fused, plan, kernels, llvm)", value);
            opt->dump = (enum dump_stage)k;
        } else if ((value = option_value(argc, argv, &i, "--rows"))) {
            char *end;
            long rows = strtol(value, &end, 10);
            if (*end || end == value || rows < 1 || rows > 4096)
                return option_error("--rows wants a number of frames from 1 to 4096, not '%s'", value);
            opt->rows = (int)rows;
        } else if (strcmp(a, "--no-fuse") == 0) {
            opt->fuse = false;
        } else if (a[0] == '-') {
            return option_error("unknown option '%s'", a);
        } else if (opt->input) {
            return option_error("more than one input file ('%s')", a);
        } else {
            opt->input = a;
        }
    }
    if (!opt->input)
        return option_error("%s", "no input file");
    opt->emit.target = target_find(target);
    if (!opt->emit.target)
        return option_error("unknown target '%s' (native, scalar, avx2, avx512, avx512vnni, neon)", target);
    if (opt->emit.simde && opt->emit.target->width == 1)
        return option_error("--simde is for vector targets (avx2, avx512, avx512vnni, neon), not '%s'", target);
    if (opt->emit.cpu && opt->emit.backend != BACKEND_LLVM)
        return option_error("--cpu %s chooses LLVM's CPU: it goes with --backend llvm", opt->emit.cpu);
    if (opt->emit.cpu && opt->emit.target->width == 1)
        return option_error("--cpu %s is for vector targets: scalar is the plain reference, for any CPU", opt->emit.cpu);
    if (opt->emit.cpu && strcmp(opt->emit.cpu, "native") == 0 && strcmp(target, "native") != 0)
        return option_error("--cpu native is this host's CPU: it goes with --target native, not --target %s", target);
    if (opt->emit.cpu && strcmp(opt->emit.cpu, "native") != 0 && !target_cpu_known(opt->emit.target, opt->emit.cpu))
        return option_error(strcmp(opt->emit.target->name, "neon") == 0
                                ? "LLVM 19 knows no AArch64 CPU '%s' (e.g. generic, cortex-a76, neoverse-n1, neoverse-v2, "
                                  "apple-m4; llc-19 -mtriple=aarch64 -mcpu=help lists them)"
                                : "LLVM 19 knows no x86-64 CPU '%s' (e.g. x86-64-v3, haswell, skylake-avx512, znver4, "
                                  "sapphirerapids; llc-19 -mtriple=x86_64 -mcpu=help lists them)",
                            opt->emit.cpu);
    if (opt->emit.backend == BACKEND_LLVM && opt->emit.simde)
        return option_error("%s", "--simde is for the C back end (SIMDe is a C library): LLVM compiles for the target itself");
    if (opt->emit.backend == BACKEND_LLVM && !opt->emit.cpu && strcmp(target, "native") == 0)
        opt->emit.cpu = "native"; /* (this host's CPU and features, as LLVM names them) */
    if (opt->emit.backend == BACKEND_LLVM && opt->build.emit == EMIT_C && opt->dump == DUMP_NONE)
        return option_error("%s", "--emit c writes the C back end's source; --backend llvm writes an object: use --emit "
                                  "obj, lib or exe with it (or --backend c)");
    if (opt->dump == DUMP_LLVM && opt->emit.backend != BACKEND_LLVM)
        return option_error("%s", "--dump=llvm prints the LLVM back end's module: add --backend llvm");
    if (opt->codec && opt->dump != DUMP_NONE)
        return option_error("%s", "--dump shows one description: drop --codec (and dump each on its own)");
    if (opt->codec && opt->build.emit == EMIT_OBJ)
        return option_error("%s", "--emit obj writes one model's object: a system (--codec) is built as lib or exe");
    opt->emit.source = opt->input;
    return 0;
}

static void run_pass(struct ir_module *mod, void (*pass)(struct ir_module *), const char *name)
{
    pass(mod);
    if (!ir_verify(mod, name))
        exit(2);
}

/* Under a block format, one note for the matrices stored in bf16 because their rows are not whole
   blocks of 32 (tiny test models have them; Moshi's and Mimi's have none) */
static void note_whole_blocks(const struct ir_module *mod)
{
    int count = 0, first = -1;
    for (int i = 0; i < mod->num_weights; i++) {
        const struct ir_weight *w = &mod->weights[i];
        if (w->matrix && !w->is_embedding && kiln_format_is_block(ir_requested_format(mod, w)) &&
            w->format != ir_requested_format(mod, w) && count++ == 0)
            first = i;
    }
    if (count)
        fprintf(stderr, "kilnc: note: %d matri%s whose rows are not whole blocks of %d values %s stored in bf16, not %s "
                        "(e.g. '%s', rows of %d)\n", count, count == 1 ? "x" : "ces", KILN_QBLOCK, count == 1 ? "is" : "are",
                weight_format_names[ir_requested_format(mod, &mod->weights[first])], mod->weights[first].name,
                mod->weights[first].cols);
}

/* One description through the front end and the passes, into *mod (the model it describes in
   *model); a --dump stops here, having printed. Returns an exit status; *mod is NULL unless it is 0
   and no dump was asked for. */
static int front_end(const char *input, struct options *opt, struct emit_options *emit, bool is_codec,
                     struct model *model, struct ir_module **mod)
{
    *mod = NULL;
    struct ast_file *ast = parse_file(input);
    if (!ast)
        return 1;
    if (opt->dump == DUMP_AST) {
        ast_dump(stdout, ast);
        ast_free(ast);
        return 0;
    }
    bool ok = check_model(ast, model);
    ast_free(ast);
    if (!ok)
        return 1;
    if (opt->dump == DUMP_MODEL) {
        model_dump(stdout, model);
        model_free(model);
        return 0;
    }
    /* (a system's codec keeps its description's format, f32 caches and the C back end) */
    if (opt->weights >= 0 && !is_codec)
        model->weights = (enum weight_format)opt->weights;
    model->kv = is_codec ? WEIGHTS_F32 : (enum weight_format)opt->kv;
    struct ir_module *m = lower_model(model, opt->rows);
    emit->model = model;
    emit->source = input;
    if (!ir_verify(m, "lower"))
        return 2;
    if (opt->dump != DUMP_IR && opt->fuse) {
        run_pass(m, pass_fold_norms, "fold_norms");
        run_pass(m, pass_fuse_residual, "fuse_residual");
        run_pass(m, pass_fuse_gating, "fuse_gating");
        run_pass(m, pass_fuse_rope_kv, "fuse_rope_kv");
        run_pass(m, pass_fuse_epilogues, "fuse_epilogues");
    }
    plan_weights(m, emit->target->width);
    note_whole_blocks(m);
    plan_buffers(m);
    int status = 0;
    if (opt->dump == DUMP_IR || opt->dump == DUMP_FUSED)
        ir_dump(stdout, m);
    else if (opt->dump == DUMP_PLAN)
        plan_dump(stdout, m);
    else if (opt->dump == DUMP_KERNELS)
        emit_kernels_dump(m, emit, stdout);
    else if (opt->dump == DUMP_LLVM) {
        emit->llvm_dump = stdout;
        status = emit_kernels_dump(m, emit, NULL) ? 0 : 2;
    } else {
        *mod = m;
        return 0;
    }
    ir_free(m);
    model_free(model);
    return status;
}

/* Whether codec is the codec of language model lm: the LM's user and generated codebooks are the
   codec's codes, and its frames the codec's; else 0 after an error naming both files */
static bool codec_fits(const struct options *opt, const struct model *lm, const struct model *codec)
{
    const char *problem = NULL;
    char text[512];
    if (lm->kind != MODEL_LM)
        snprintf(text, sizeof text, "%s describes codec '%s', not a language model: name the LM first, then --codec %s",
                 opt->input, lm->name, opt->codec), problem = text;
    else if (codec->kind != MODEL_CODEC)
        snprintf(text, sizeof text, "--codec %s describes language model '%s', not a codec", opt->codec, codec->name),
            problem = text;
    else if (strcmp(lm->name, codec->name) == 0)
        snprintf(text, sizeof text, "the language model and the codec are both named '%s': rename one (`model NAME`)",
                 lm->name), problem = text;
    else if (lm->dep_q != codec->codec.num_codebooks || lm->n_q - lm->dep_q != codec->codec.num_codebooks)
        snprintf(text, sizeof text, "%s generates %d codebooks and reads %d of the user's, and codec %s gives %d "
                 "codes a frame: they must all be equal", opt->input, lm->dep_q, lm->n_q - lm->dep_q, codec->name,
                 codec->codec.num_codebooks), problem = text;
    else if (lm->card != codec->codec.quantizer.bins)
        snprintf(text, sizeof text, "%s's audio vocabulary (card) is %d, and codec %s's codebooks have %d entries: "
                 "they must be equal", opt->input, lm->card, codec->name, codec->codec.quantizer.bins), problem = text;
    else if (lm->frame_rate != codec->frame_rate)
        snprintf(text, sizeof text, "%s runs at %g frames a second, and codec %s at %g: they must be equal", opt->input,
                 lm->frame_rate, codec->name, codec->frame_rate), problem = text;
    if (problem)
        fprintf(stderr, "kilnc: error: %s\n", problem);
    return problem == NULL;
}

static int compile(struct options *opt)
{
    struct model models[BUILD_MAX_UNITS];
    struct emit_options emits[BUILD_MAX_UNITS] = {opt->emit, opt->emit};
    struct ir_module *mods[BUILD_MAX_UNITS] = {NULL, NULL};
    const int count = opt->codec ? 2 : 1;
    emits[1].backend = BACKEND_C;
    emits[1].cpu = NULL;
    int status = front_end(opt->input, opt, &emits[0], false, &models[0], &mods[0]);
    if (!mods[0])
        return status;
    if (count == 2 && (status = front_end(opt->codec, opt, &emits[1], true, &models[1], &mods[1])) == 0 &&
        !codec_fits(opt, &models[0], &models[1]))
        status = 1;
    if (status == 0) {
        char dir[512];
        if (!opt->build.out_dir) {
            snprintf(dir, sizeof dir, "generated/%s", models[0].name);
            opt->build.out_dir = dir;
        }
        struct build_unit units[BUILD_MAX_UNITS] = {{mods[0], &emits[0]}, {mods[1], &emits[1]}};
        status = build_model(units, count, &opt->build);
    }
    for (int u = 0; u < count; u++)
        if (mods[u]) {
            ir_free(mods[u]);
            model_free(&models[u]);
        }
    return status;
}

int main(int argc, char **argv)
{
    /* (import mimi is dispatched here rather than by import_main, so that import_moshi.c links
       without import_mimi.c: the fuzz harnesses' library holds the first only) */
    if (argc >= 3 && strcmp(argv[1], "import") == 0 && strcmp(argv[2], "mimi") == 0)
        return import_mimi_main(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "import") == 0)
        return import_main(argc - 2, argv + 2);
    struct options opt;
    if (parse_options(argc, argv, &opt))
        return 1;
    return compile(&opt);
}
