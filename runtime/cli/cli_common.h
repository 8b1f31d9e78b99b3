/* cli_common.h: what the language model's command line (cli.c) and the codec's (codec_cli.c) share
 * (cli_common.c): the program's name in messages, usage errors, option tables whose values are
 * range-checked, loading weights, the subcommand table and its dispatch, `pack`, and info's lines
 * about the weights. Exit status: 0 success, 1 bad input, 2 internal. */
#ifndef KILN_CLI_COMMON_H
#define KILN_CLI_COMMON_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "kiln_rt.h"

/* The binary's name in every message ("NAME CMD: error: ..."): the model's */
extern const char *cli_prog;

/* "PROG CMD: error: MESSAGE" and the --help hint on stderr; returns 1. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A subcommand's options as a table: each flag's kind, where its value goes and its range. */
enum cli_option_kind {
    OPT_TEXT,                        /* const char *: a path */
    OPT_INT,                         /* int in [lo, hi] */
    OPT_U64,                         /* uint64_t: a seed */
    OPT_FLOAT,                       /* float: finite, >= 0 */
    OPT_SWITCH,                      /* bool: no value */
};

struct cli_option {
    const char *flag;
    enum cli_option_kind kind;
    void *value;
    long long lo, hi;                /* OPT_INT */
    bool *given;                     /* set when the flag is there (may be NULL) */
};

/* Parses argv[1..argc) ("--flag VALUE" or "--flag=VALUE") into the table's values; 0, or 1 after a
   usage error (an unknown argument, a missing value, a value out of range). */
int cli_parse_options(const char *cmd, int argc, char **argv, const struct cli_option *opts, int num_opts);
#define CLI_NUM_OPTIONS(table) (int)(sizeof table / sizeof table[0])
/* One more name for a flag of every table (a system binary's --lm-weights for the LM's --weights) */
void cli_set_alias(const char *alias, const char *flag);
/* --threads: 1 to this machine's processors (more only slow a memory-bound step down). */
struct cli_option cli_threads_option(int *threads);

/* --copy-weights (every command that loads weights): a .kw copied into memory of its own instead of
   read through its mapping (kiln_set_copy_weights); cli_load_model passes it on */
extern bool cli_copy_weights;
#define CLI_COPY_WEIGHTS_OPTION {"--copy-weights", OPT_SWITCH, &cli_copy_weights, 0, 0, NULL}

/* Loads W (or random weights); --strict: a NaN or Inf in a tensor is an error, not a warning.
   Returns 0, or 1 with the error printed. */
int cli_load_weights(const struct kiln_model_desc *d, const char *cmd, const char *path, uint64_t seed, bool random,
                     bool strict, struct kiln_weights *w);
/* The same into a struct kiln_model (what the drivers over a loaded model take) */
int cli_load_model(const struct kiln_model_desc *d, const char *cmd, const char *path, uint64_t seed, bool random,
                   bool strict, struct kiln_model *model);

double cli_seconds_now(void);

/* info's first lines: "model", "kind" (when kind is not NULL), "target", "weight format" and
   "parameters" (with the weights' bytes); and its last: "step functions" and "memory" */
void cli_info_head(const struct kiln_model_desc *d, const char *kind);
void cli_info_tail(const struct kiln_model_desc *d);

/* `pack IN.safetensors OUT.kw [--strict]`, for a model of any kind */
int cli_pack(const struct kiln_model_desc *d, int argc, char **argv);
#define CLI_PACK_USAGE                                                                                \
    "pack IN.safetensors OUT.kw [--strict]\n"                                                          \
    "                          this binary's weights, folded and packed, as one mmap-able file:\n"     \
    "                          --weights OUT.kw then loads without converting anything"

struct cli_subcommand {
    const char *name;
    const char *usage;
    int (*run)(const struct kiln_model_desc *desc, int argc, char **argv);
};

/* 0, or 1 with a message when this CPU lacks a feature desc's code was compiled for */
int cli_check_cpu(const struct kiln_model_desc *desc);

/* A binary's main: refuses a CPU without the features its code needs, prints the usage of every
   command for none or --help, else runs the named one (its usage for `CMD --help`). */
int cli_dispatch(const struct kiln_model_desc *desc, const struct cli_subcommand *commands, int num_commands, int argc,
                 char **argv);
#endif
