/* system_cli.c: a system binary's command line (kiln_system_cli_main; docs/converse.md): converse
 * and serve over both models, `pack --lm | --codec`, `info` of both, and the language model's and the
 * codec's own commands, each given its model's weights by --lm-weights or --codec-weights (or
 * --weights). What converse and serve share: loading both models and the conversation's text. */
#include <stdlib.h>
#include <string.h>
#include "system_cli.h"
#ifndef KILN_NO_SENTENCEPIECE
#include "tokenizer.h"
#endif

int system_load(const struct system_desc *s, const char *cmd, const struct system_weights *w, struct kiln_model *lm,
                struct kiln_model *codec)
{
    if ((!w->lm || !w->codec) && !w->random)
        return cli_usage_error(cmd, "give the language model --lm-weights W and the codec --codec-weights M "
                                    "(or --random-weights SEED for whichever has none)");
    if (cli_load_model(s->lm, cmd, w->lm, w->seed, !w->lm, w->strict, lm))
        return 1;
    if (cli_load_model(s->codec, cmd, w->codec, w->seed, !w->codec, w->strict, codec)) {
        kiln_model_free(lm);
        return 1;
    }
    return 0;
}

int system_text_open(const struct system_desc *s, const char *cmd, const char *path, struct system_text *t)
{
    t->tokenizer = NULL;
    if (!path)
        return 0;
#ifdef KILN_NO_SENTENCEPIECE
    (void)s;
    fprintf(stderr, "%s %s: error: --tokenizer %s: this binary was built without SentencePiece (its runtime "
                    "compiled by another C compiler): it writes token ids\n", cli_prog, cmd, path);
    return 1;
#else
    char err[1024];
    if (!(t->tokenizer = kiln_tokenizer_load(path, err, sizeof err))) {
        fprintf(stderr, "%s %s: error: %s\n", cli_prog, cmd, err);
        return 1;
    }
    if (kiln_tokenizer_size(t->tokenizer) != s->lm->text_card) {
        fprintf(stderr, "%s %s: error: %s: the tokenizer has %d pieces and %s's text vocabulary (text_card) is %d: "
                        "it is another model's tokenizer\n", cli_prog, cmd, path, kiln_tokenizer_size(t->tokenizer),
                s->lm->name, s->lm->text_card);
        system_text_close(t);
        return 1;
    }
    return 0;
#endif
}

void system_text_close(struct system_text *t)
{
#ifndef KILN_NO_SENTENCEPIECE
    kiln_tokenizer_free(t->tokenizer);
#endif
    t->tokenizer = NULL;
}

size_t system_text_of(const struct system_text *t, int32_t token, char *buf, size_t size)
{
    buf[0] = '\0';
    if (token < 0 || token == 0 || token == 3)
        return 0;
#ifndef KILN_NO_SENTENCEPIECE
    if (t->tokenizer)
        return kiln_tokenizer_piece(t->tokenizer, token, buf, size);
#else
    (void)t;
#endif
    int n = snprintf(buf, size, "%d ", (int)token);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

/* ---- the command line ---------------------------------------------------------------------- */

static int system_info(const struct system_desc *s, int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error("info", "unexpected argument '%s'", argv[1]);
    char *info[] = {"", "info", NULL};
    printf("system         language model %s and codec %s: one %d-sample frame (%g ms at %d Hz) of audio each way "
           "per step\n\n", s->lm->name, s->codec->name, s->codec->frame_size, 1000.0 / s->lm->frame_rate,
           s->codec->sample_rate);
    int rc = kiln_cli_main(s->lm, 2, info);
    printf("\n");
    return rc ? rc : kiln_codec_cli_main(s->codec, 2, info);
}

/* pack --lm IN OUT.kw | pack --codec IN OUT.kw */
static int system_pack(const struct system_desc *s, int argc, char **argv)
{
    const struct kiln_model_desc *d = NULL;
    char *args[8];
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && (strcmp(argv[i], "--lm") == 0 || strcmp(argv[i], "--codec") == 0)) {
            if (d)
                return cli_usage_error("pack", "%s", "give one of --lm and --codec");
            d = strcmp(argv[i], "--lm") == 0 ? s->lm : s->codec;
        } else if (n < 7)
            args[n++] = argv[i];
        else
            return cli_usage_error("pack", "unexpected argument '%s'", argv[i]);
    }
    if (!d)
        return cli_usage_error("pack", "%s", "--lm (the language model's weights) or --codec (the codec's) first");
    args[n] = NULL;
    return cli_pack(d, n, args);
}

/* One of the models' own commands (argv[1]), its --weights also named weights_flag (--lm-weights,
   --codec-weights) */
static int model_command(const struct kiln_model_desc *d, const char *weights_flag, int argc, char **argv)
{
    cli_set_alias(weights_flag, "--weights");
    return d->kind == KILN_MODEL_CODEC ? kiln_codec_cli_main(d, argc, argv) : kiln_cli_main(d, argc, argv);
}

static const char *const lm_commands[] = {"forward", "generate", "bench"};
static const char *const codec_commands[] = {"encode", "decode"};

struct system_command {
    const char *name, *usage;
    int (*run)(const struct system_desc *s, int argc, char **argv);
};
static const struct system_command commands[] = {
    {"converse", CONVERSE_USAGE, converse_main},
    {"serve", SERVE_USAGE, serve_main},
    {"info", "info                      both models: configuration, target, weight formats, memory", system_info},
    {"pack", "pack --lm IN.safetensors OUT.kw | pack --codec IN.safetensors OUT.kw [--strict]\n"
             "                          one model's weights, folded and packed (--lm-weights or --codec-weights\n"
             "                          OUT.kw then loads without converting anything)", system_pack},
};
#define NUM_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void print_usage(FILE *out, const struct system_desc *s)
{
    fprintf(out, "%s: language model %s and codec %s compiled by kilnc (target %s, LM weights %s, codec weights %s)\n"
                 "usage:\n", cli_prog, s->lm->name, s->codec->name, s->lm->target, s->lm->weight_format,
            s->codec->weight_format);
    for (int i = 0; i < NUM_COMMANDS; i++)
        fprintf(out, "  %s %s\n", cli_prog, commands[i].usage);
    fprintf(out, "  %s forward | generate | bench ...   the language model's commands (%s forward --help); its\n"
                 "                          weights by --lm-weights W (or --weights W)\n"
                 "  %s encode | decode ...              the codec's commands; its weights by --codec-weights M\n"
                 "W, M: a .safetensors checkpoint (F32, BF16 or F16) or a .kw file from pack. --strict: a NaN or Inf\n"
                 "in a weight is an error. --copy-weights: a .kw copied into memory of its own (huge pages)\n"
                 "instead of read through its mapping: seconds more at start for a 7B model, faster frames.\n"
                 "--threads: 1 to %d here.\n"
                 "Exit status: 0 done, 1 bad input (nothing written), 2 internal error.\n",
            cli_prog, cli_prog, cli_prog, kiln_max_threads());
}

int kiln_system_cli_main(const struct kiln_model_desc *lm, const struct kiln_model_desc *codec, int argc, char **argv)
{
    const struct system_desc s = {lm, codec};
    cli_prog = lm->name;
    char err[512];
    if (kiln_conversation_fits(lm, codec, err, sizeof err)) {
        fprintf(stderr, "%s: internal error: %s\n", cli_prog, err);
        return 2;
    }
    if (cli_check_cpu(lm))
        return 1;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(argc < 2 ? stderr : stdout, &s);
        return argc < 2 ? 1 : 0;
    }
    for (int i = 0; i < NUM_COMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        for (int k = 2; k < argc; k++)
            if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
                printf("usage: %s %s\n", cli_prog, commands[i].usage);
                return 0;
            }
        return commands[i].run(&s, argc - 1, argv + 1);
    }
    for (int i = 0; i < (int)(sizeof lm_commands / sizeof *lm_commands); i++)
        if (strcmp(argv[1], lm_commands[i]) == 0)
            return model_command(lm, "--lm-weights", argc, argv);
    for (int i = 0; i < (int)(sizeof codec_commands / sizeof *codec_commands); i++)
        if (strcmp(argv[1], codec_commands[i]) == 0)
            return model_command(codec, "--codec-weights", argc, argv);
    fprintf(stderr, "%s: error: unknown command '%s'\n", cli_prog, argv[1]);
    print_usage(stderr, &s);
    return 1;
}
