/* cli_common.c: see cli_common.h. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, with any compiler's -std=c11 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "cli_common.h"
#include "kw.h"
#include "report.h"

static const char unnamed[] = "kiln";
const char *cli_prog = unnamed;

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    fprintf(stderr, "%s %s: error: ", cli_prog, cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(%s %s --help shows the usage)\n", cli_prog, cmd);
    return 1;
}

/* Parses one value of o; 0, or 1 after a usage error that says what it wants. */
static int parse_value(const char *cmd, const struct cli_option *o, const char *v)
{
    char *end;
    errno = 0;
    switch (o->kind) {
    case OPT_TEXT:
        if (!*v)
            return cli_usage_error(cmd, "%s needs a value", o->flag);
        *(const char **)o->value = v;
        return 0;
    case OPT_INT: {
        long long x = strtoll(v, &end, 10);
        if (end == v || *end || errno == ERANGE || x < o->lo || x > o->hi)
            return cli_usage_error(cmd, "%s wants an integer from %lld to %lld, not '%s'", o->flag, o->lo, o->hi, v);
        *(int *)o->value = (int)x;
        return 0;
    }
    case OPT_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (end == v || *end || errno == ERANGE || v[strspn(v, " \t")] == '-')
            return cli_usage_error(cmd, "%s wants an integer from 0 to %llu, not '%s'", o->flag,
                                   (unsigned long long)UINT64_MAX, v);
        *(uint64_t *)o->value = x;
        return 0;
    }
    case OPT_FLOAT: {
        float x = strtof(v, &end);
        if (end == v || *end || !isfinite(x) || x < 0)
            return cli_usage_error(cmd, "%s wants a finite number >= 0, not '%s'", o->flag, v);
        *(float *)o->value = x;
        return 0;
    }
    case OPT_SWITCH:
        break;
    }
    return 0;
}

static const char *alias_name, *alias_flag; /* cli_set_alias's */

void cli_set_alias(const char *alias, const char *flag) { alias_name = alias, alias_flag = flag; }

/* The length of the name at arg's start that says flag (flag itself, or its alias), else 0 */
static size_t named_flag(const char *arg, const char *flag)
{
    const char *names[2] = {flag, alias_flag && strcmp(flag, alias_flag) == 0 ? alias_name : NULL};
    for (int i = 0; i < 2; i++) {
        size_t n = names[i] ? strlen(names[i]) : 0;
        if (n && strncmp(arg, names[i], n) == 0 && (arg[n] == '\0' || arg[n] == '='))
            return n;
    }
    return 0;
}

int cli_parse_options(const char *cmd, int argc, char **argv, const struct cli_option *opts, int num_opts)
{
    for (int i = 1; i < argc; i++) {
        const struct cli_option *o = NULL;
        const char *v = NULL;
        for (int k = 0; k < num_opts && !o; k++) {
            size_t n = named_flag(argv[i], opts[k].flag);
            if (!n)
                continue;
            if (argv[i][n] == '\0')
                o = &opts[k];
            else if (argv[i][n] == '=' && opts[k].kind != OPT_SWITCH)
                o = &opts[k], v = argv[i] + n + 1;
        }
        if (!o)
            return cli_usage_error(cmd, "unknown argument '%s'", argv[i]);
        if (o->given)
            *o->given = true;
        if (o->kind == OPT_SWITCH) {
            *(bool *)o->value = true;
            continue;
        }
        if (!v && i + 1 >= argc)
            return cli_usage_error(cmd, "%s needs a value", o->flag);
        if (parse_value(cmd, o, v ? v : argv[++i]))
            return 1;
    }
    return 0;
}

struct cli_option cli_threads_option(int *threads)
{
    return (struct cli_option){"--threads", OPT_INT, threads, 1, kiln_max_threads(), NULL};
}

bool cli_copy_weights;

int cli_load_model(const struct kiln_model_desc *d, const char *cmd, const char *path, uint64_t seed, bool random,
                   bool strict, struct kiln_model *model)
{
    char err[1024];
    kiln_set_strict_weights(strict);
    kiln_set_copy_weights(cli_copy_weights);
    int rc = random ? kiln_model_random(d, seed, model, err, sizeof err) : kiln_model_load(d, path, model, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s %s: error: %s\n", cli_prog, cmd, err);
    return rc;
}

int cli_load_weights(const struct kiln_model_desc *d, const char *cmd, const char *path, uint64_t seed, bool random,
                     bool strict, struct kiln_weights *w)
{
    struct kiln_model model; /* (its CPU check passed already: cli_dispatch's) */
    const int rc = cli_load_model(d, cmd, path, seed, random, strict, &model);
    *w = model.weights;
    return rc;
}

double cli_seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_info_head(const struct kiln_model_desc *d, const char *kind)
{
    char weights[32];
    kiln_human_bytes(weights, sizeof weights, (double)kiln_weights_bytes(d));
    printf("model          %s\n", d->name);
    if (kind)
        printf("kind           %s\n", kind);
    printf("target         %s\n", d->target);
    printf("weight format  %s\n", d->weight_format);
    printf("parameters     %lld (%s as %s)\n", (long long)d->num_params, weights, d->weight_format);
}

void cli_info_tail(const struct kiln_model_desc *d)
{
    char total[32];
    kiln_human_bytes(total, sizeof total, (double)kiln_weights_bytes(d) + (double)d->stream_bytes);
    printf("step functions ");
    for (int i = 0; i < d->num_graphs; i++)
        printf("%s%s (up to %d row%s a call)", i ? ", " : "", d->graphs[i].name, d->graphs[i].max_rows,
               d->graphs[i].max_rows == 1 ? "" : "s");
    printf("\nmemory         %s for the weights and one stream\n", total);
}

int cli_pack(const struct kiln_model_desc *d, int argc, char **argv)
{
    const char *files[2];
    int num_files = 0;
    bool strict = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--strict") == 0)
            strict = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error("pack", "unknown argument '%s'", argv[i]);
        else if (num_files < 2)
            files[num_files++] = argv[i];
        else
            num_files = 3;
    }
    if (num_files != 2)
        return cli_usage_error("pack", "%s", "wants IN.safetensors and OUT.kw (and optionally --strict)");
    const char *in = files[0], *out_path = files[1];
    if (kw_is_kw(in))
        return cli_usage_error("pack", "%s is packed already", in);
    struct stat a, b;
    if (stat(in, &a) == 0 && stat(out_path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return cli_usage_error("pack", "%s and %s are the same file: packing would overwrite its own input", in, out_path);
    struct kiln_weights w;
    char err[1024];
    if (cli_load_weights(d, "pack", in, 0, false, strict, &w))
        return 1;
    int rc = kw_write(d, &w, out_path, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s pack: error: %s\n", cli_prog, err);
    else
        printf("%s: %d tensors, %.1f MiB, packed for target %s (mapped at load, nothing to convert)\n", out_path,
               d->num_weights, (double)w.arena_bytes / 1048576, d->target);
    kiln_weights_free(&w);
    return rc;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

static void print_usage(FILE *out, const struct kiln_model_desc *d, const struct cli_subcommand *commands,
                        int num_commands)
{
    fprintf(out, "%s: the %s %s compiled by kilnc (target %s, weights %s)\nusage:\n", cli_prog, d->name,
            d->kind == KILN_MODEL_CODEC ? "codec" : "model", d->target, d->weight_format);
    for (int i = 0; i < num_commands; i++)
        fprintf(out, "  %s %s\n", cli_prog, commands[i].usage);
    fprintf(out, "W: a .safetensors checkpoint (F32, BF16 or F16) or a .kw file from pack. --strict: a NaN or Inf\n"
                 "in a weight is an error (otherwise a warning naming the tensor). --copy-weights: a .kw copied\n"
                 "into memory of its own (huge pages) instead of read through its mapping: seconds more at start\n"
                 "for a 7B model, faster frames. --threads: 1 to %d here.\n"
                 "Exit status: 0 done, 1 bad input (nothing written), 2 internal error.\n", kiln_max_threads());
}

int cli_check_cpu(const struct kiln_model_desc *desc)
{
    const char *missing = kiln_missing_cpu_feature(desc);
    if (missing)
        fprintf(stderr, "%s: error: this binary was built for target %s, compiled for the CPU features %s, and this "
                        "CPU lacks '%s'; rebuild with kilnc --target native (or scalar)\n", cli_prog, desc->target,
                desc->cpu_features, missing);
    return missing != NULL;
}

int cli_dispatch(const struct kiln_model_desc *desc, const struct cli_subcommand *commands, int num_commands, int argc,
                 char **argv)
{
    if (cli_prog == unnamed) /* (a system binary's is its language model's) */
        cli_prog = desc->name;
    if (cli_check_cpu(desc))
        return 1;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(argc < 2 ? stderr : stdout, desc, commands, num_commands);
        return argc < 2 ? 1 : 0;
    }
    for (int i = 0; i < num_commands; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if (wants_help(argc - 1, argv + 1)) {
            printf("usage: %s %s\n", cli_prog, commands[i].usage);
            return 0;
        }
        return commands[i].run(desc, argc - 1, argv + 1);
    }
    fprintf(stderr, "%s: error: unknown command '%s'\n", cli_prog, argv[1]);
    print_usage(stderr, desc, commands, num_commands);
    return 1;
}
