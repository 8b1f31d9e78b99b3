/* cli.c: the generated binary's command line: `NAME info | pack | forward | generate | bench`
 * (docs/contracts.md), or a codec's (codec_cli.c). Every option's value is range-checked against the
 * limits below. Exit status: 0 success, 1 bad input (a message naming the file and what is wrong),
 * 2 internal. */
#define _POSIX_C_SOURCE 200809L /* getpid, with any compiler's -std=c11 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bench.h"
#include "cli_common.h"
#include "stats.h"
#include "kiln_rt.h"
#include "npy.h"
#include "report.h"
#include "safetensors.h"

#define MAX_STEPS 1000000             /* frames of generate and bench: 22 hours at 12.5 Hz */
#define MAX_CONTEXT (1LL << 40)       /* bench --context, in frames */

static int cmd_info(const struct kiln_model_desc *d, int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error("info", "unexpected argument '%s'", argv[1]);
    char stream[32], kv[32], ttt[32];
    kiln_human_bytes(stream, sizeof stream, (double)d->stream_bytes);
    kiln_human_bytes(kv, sizeof kv, (double)kiln_state_bytes(d, KILN_STATE_KV, NULL));
    kiln_human_bytes(ttt, sizeof ttt, (double)kiln_state_bytes(d, KILN_STATE_TTT, NULL));
    cli_info_head(d, NULL);
    printf("streams        text + %d audio in, %d audio codebooks generated; delays", d->n_q, d->dep_q);
    for (int i = 0; i < d->num_streams; i++)
        printf(" %d", d->delays[i]);
    printf("\nvocabularies   text %d, audio %d\n", d->text_card, d->card);
    printf("temporal       %d layers, dim %d, %d heads, ffn hidden %d, context %d\n", d->num_layers, d->dim,
           d->num_heads, d->ffn_hidden, d->context);
    printf("layers         %s\n", d->layer_mixers ? d->layer_mixers : "");
    printf("depformer      %d layers, dim %d, %d heads, ffn hidden %d, %d steps per frame\n", d->depformer_num_layers,
           d->depformer_dim, d->depformer_num_heads, d->depformer_ffn_hidden, d->dep_q);
    printf("weights        ");
    for (int c = 0; c < KILN_NUM_CLASSES; c++) {
        size_t bytes = 0;
        for (int i = 0; i < d->num_weights; i++)
            if (d->weights[i].weight_class == c)
                bytes += kiln_weight_bytes(&d->weights[i]);
        char text[32];
        kiln_human_bytes(text, sizeof text, (double)bytes);
        printf("%s%s %s", c ? ", " : "", kiln_weight_class_name(c), text);
    }
    printf("\nstream state   %s per stream (%s of it KV cache in %s, %s TTT state)\n", stream, kv, d->kv_format, ttt);
    cli_info_tail(d);
    return 0;
}

/* Element i of an int32 or int64 array. */
static int64_t code_at(const struct npy_array *a, size_t i)
{
    return a->dtype == NPY_I32 ? ((const int32_t *)a->data)[i] : ((const int64_t *)a->data)[i];
}

/* Reads CODES.npy (int32 or int64, [B, num_streams, T]) into int32. */
static int32_t *read_codes(const struct kiln_model_desc *d, const char *path, int *B, int *T)
{
    struct npy_array a;
    char err[1024];
    if (npy_read(path, &a, err, sizeof err)) {
        fprintf(stderr, "%s forward: error: %s\n", cli_prog, err);
        return NULL;
    }
    char shape[160], problem[256] = "";
    st_format_shape(shape, sizeof shape, a.rank, a.shape);
    if (a.dtype != NPY_I32 && a.dtype != NPY_I64)
        snprintf(problem, sizeof problem, "codes must be int32 or int64");
    else if (a.rank != 3 || a.shape[1] != d->num_streams)
        snprintf(problem, sizeof problem, "codes must have shape [B, K, T] with K = 1 + n_q = %d; it has shape %s",
                 d->num_streams, shape);
    else if (a.shape[0] < 1 || a.shape[2] < 1)
        snprintf(problem, sizeof problem, "codes must hold one batch entry (B) and one frame (T) at least; it has "
                 "shape %s", shape);
    else if (a.shape[0] > 1 << 20 || a.shape[2] > 1 << 24)
        snprintf(problem, sizeof problem, "codes of shape %s are too large: B is at most 2^20 and T 2^24", shape);
    if (problem[0]) {
        fprintf(stderr, "%s forward: error: %s: %s\n", cli_prog, path, problem);
        npy_free(&a);
        return NULL;
    }
    *B = (int)a.shape[0], *T = (int)a.shape[2];
    int32_t *codes = malloc(a.count * sizeof *codes);
    for (size_t i = 0; codes && i < a.count; i++) {
        int64_t v = code_at(&a, i);
        codes[i] = v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v;
    }
    npy_free(&a);
    return codes;
}

/* The files one command writes: each under a temporary name first, all renamed into place only when
   every one is written, so that a failed run leaves nothing (a folder it made is removed again). */
#define MAX_OUTPUTS 4
struct outputs {
    const char *cmd;
    int count;
    char path[MAX_OUTPUTS][4096], part[MAX_OUTPUTS][4128];
    int made_dirs;
    char made_dir[2][4096];
};

/* DIR for files to come: created when missing (and removed again if the command fails). */
static int output_dir(struct outputs *o, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    if (mkdir(dir, 0777) != 0) {
        fprintf(stderr, "%s %s: error: cannot create %s: %s\n", cli_prog, o->cmd, dir, strerror(errno));
        return 1;
    }
    snprintf(o->made_dir[o->made_dirs++], sizeof o->made_dir[0], "%s", dir);
    return 0;
}

/* Writes DIR/FILE (dir NULL: FILE) under a temporary name. */
static int output_npy(struct outputs *o, const char *dir, const char *file, enum npy_dtype dtype, int rank,
                      const int64_t *shape, const void *data)
{
    char err[1024];
    int i = o->count++;
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", dir ? dir : "", dir ? "/" : "", file);
    snprintf(o->path[i], sizeof o->path[i], "%s", path);
    snprintf(o->part[i], sizeof o->part[i], "%s.part.%ld", path, (long)getpid());
    if (npy_write(o->part[i], dtype, rank, shape, data, err, sizeof err)) {
        fprintf(stderr, "%s %s: error: %s\n", cli_prog, o->cmd, err);
        o->part[i][0] = '\0';
        return 1;
    }
    return 0;
}

/* Removes whatever was written (and the folders made). Returns 1. */
static int outputs_discard(struct outputs *o)
{
    for (int i = 0; i < o->count; i++)
        if (o->part[i][0])
            remove(o->part[i]);
    for (int i = o->made_dirs - 1; i >= 0; i--)
        rmdir(o->made_dir[i]);
    o->count = o->made_dirs = 0;
    return 1;
}

/* Renames every file into place; 0, or 1 (and nothing left) when one cannot be. */
static int outputs_commit(struct outputs *o)
{
    for (int i = 0; i < o->count; i++) {
        if (rename(o->part[i], o->path[i]) != 0) {
            fprintf(stderr, "%s %s: error: cannot write %s: %s\n", cli_prog, o->cmd, o->path[i], strerror(errno));
            for (int j = 0; j < i; j++)
                remove(o->path[j]);
            return outputs_discard(o);
        }
    }
    return 0;
}

static int cmd_forward(const struct kiln_model_desc *d, int argc, char **argv)
{
    const char *weights = NULL, *codes_path = NULL, *out = NULL;
    bool strict = false, random = false;
    uint64_t seed = 0;
    const struct cli_option opts[] = {
        {"--weights", OPT_TEXT, &weights, 0, 0, NULL}, {"--random-weights", OPT_U64, &seed, 0, 0, &random},
        {"--codes", OPT_TEXT, &codes_path, 0, 0, NULL}, {"--out", OPT_TEXT, &out, 0, 0, NULL},
        {"--strict", OPT_SWITCH, &strict, 0, 0, NULL}, CLI_COPY_WEIGHTS_OPTION};
    if (cli_parse_options("forward", argc, argv, opts, CLI_NUM_OPTIONS(opts)))
        return 1;
    if ((!weights && !random) || !codes_path || !out)
        return cli_usage_error("forward", "%s", "--weights W (or --random-weights SEED), --codes and --out are required");
    int B, T;
    int32_t *codes = read_codes(d, codes_path, &B, &T);
    if (!codes)
        return 1;
    char err[1024];
    if (kiln_check_codes(d, codes, B, T, err, sizeof err)) {
        fprintf(stderr, "%s forward: error: %s: %s\n", cli_prog, codes_path, err);
        free(codes);
        return 1;
    }
    struct kiln_weights w;
    if (cli_load_weights(d, "forward", weights, seed, random, strict, &w)) {
        free(codes);
        return 1;
    }
    size_t text_n = (size_t)B * T * d->text_card, audio_n = (size_t)B * d->dep_q * T * d->card;
    float *text = malloc(text_n * sizeof *text), *audio = malloc(audio_n * sizeof *audio);
    struct outputs o = {.cmd = "forward"};
    int rc = 2;
    if (!text || !audio)
        fprintf(stderr, "%s forward: error: out of memory\n", cli_prog);
    else if (kiln_forward(d, &w, codes, B, T, text, audio, NULL, err, sizeof err))
        fprintf(stderr, "%s forward: error: %s\n", cli_prog, err), rc = 1;
    else {
        int64_t text_shape[4] = {B, 1, T, d->text_card}, audio_shape[4] = {B, d->dep_q, T, d->card};
        rc = output_dir(&o, out) || output_npy(&o, out, "text_logits.npy", NPY_F32, 4, text_shape, text) ||
                     output_npy(&o, out, "audio_logits.npy", NPY_F32, 4, audio_shape, audio)
                 ? outputs_discard(&o)
                 : outputs_commit(&o);
    }
    free(codes), free(text), free(audio), kiln_weights_free(&w);
    return rc;
}

static int32_t *read_user_codes(const struct kiln_model_desc *d, const char *path, int *frames)
{
    struct npy_array a;
    char err[1024];
    if (npy_read(path, &a, err, sizeof err)) {
        fprintf(stderr, "%s generate: error: %s\n", cli_prog, err);
        return NULL;
    }
    int users = d->n_q - d->dep_q;
    if ((a.dtype != NPY_I32 && a.dtype != NPY_I64) || a.rank != 3 || a.shape[0] != 1 || a.shape[1] != users ||
        a.shape[2] < 1 || a.shape[2] > 1 << 28) {
        fprintf(stderr, "%s generate: error: %s: user codes must be int32 or int64 of shape [1, %d, N]\n", cli_prog, path,
                users);
        npy_free(&a);
        return NULL;
    }
    int32_t *codes = malloc(a.count * sizeof *codes);
    for (size_t i = 0; codes && i < a.count; i++) {
        int64_t v = code_at(&a, i);
        if (v < -1 || v >= d->card) {
            fprintf(stderr, "%s generate: error: %s: user code [0, %zu, %zu] = %lld is outside [0, %d) and is not -1\n",
                    cli_prog, path, i / (size_t)a.shape[2], i % (size_t)a.shape[2], (long long)v, d->card);
            free(codes);
            npy_free(&a);
            return NULL;
        }
        codes[i] = (int32_t)v;
    }
    *frames = (int)a.shape[2];
    npy_free(&a);
    return codes;
}

struct generate_args {
    const char *weights, *user, *out, *logits_out;
    bool random, progress, strict;
    uint64_t weight_seed;
    int steps, threads;
    struct kiln_sampling sampling;
};

static int parse_generate(int argc, char **argv, struct generate_args *a)
{
    *a = (struct generate_args){.sampling = KILN_SAMPLING_DEFAULT};
    const struct cli_option opts[] = {
        {"--weights", OPT_TEXT, &a->weights, 0, 0, NULL},
        {"--random-weights", OPT_U64, &a->weight_seed, 0, 0, &a->random},
        {"--user", OPT_TEXT, &a->user, 0, 0, NULL},
        {"--steps", OPT_INT, &a->steps, 1, MAX_STEPS, NULL},
        {"--seed", OPT_U64, &a->sampling.seed, 0, 0, NULL},
        {"--temp-text", OPT_FLOAT, &a->sampling.temp_text, 0, 0, NULL},
        {"--top-k-text", OPT_INT, &a->sampling.top_k_text, 0, INT_MAX, NULL},
        {"--temp", OPT_FLOAT, &a->sampling.temp, 0, 0, NULL},
        {"--top-k", OPT_INT, &a->sampling.top_k, 0, INT_MAX, NULL},
        {"--out", OPT_TEXT, &a->out, 0, 0, NULL},
        {"--logits-out", OPT_TEXT, &a->logits_out, 0, 0, NULL},
        cli_threads_option(&a->threads),
        {"--progress", OPT_SWITCH, &a->progress, 0, 0, NULL},
        {"--strict", OPT_SWITCH, &a->strict, 0, 0, NULL},
        CLI_COPY_WEIGHTS_OPTION,
    };
    if (cli_parse_options("generate", argc, argv, opts, CLI_NUM_OPTIONS(opts)))
        return 1;
    if (!a->out || a->steps < 1 || (!a->weights && !a->random))
        return cli_usage_error("generate", "%s", "--weights W (or --random-weights SEED), --steps N and --out are required");
    kiln_set_threads(a->threads);
    return 0;
}

static int cmd_generate(const struct kiln_model_desc *d, int argc, char **argv)
{
    struct generate_args a;
    if (parse_generate(argc, argv, &a))
        return 1;
    int frames = a.steps, users = d->n_q - d->dep_q;
    int32_t *user = NULL;
    if (a.user && !(user = read_user_codes(d, a.user, &frames)))
        return 1;
    if (a.steps > frames) {
        fprintf(stderr, "%s generate: error: %s holds %d frames; --steps %d asks for more\n", cli_prog, a.user, frames,
                a.steps);
        free(user);
        return 1;
    }
    const int N = a.steps, W = 1 + d->dep_q;
    double logit_bytes = a.logits_out ? (double)N * (d->text_card + (double)d->dep_q * d->card) * sizeof(float) : 0;
    if (logit_bytes > (double)(SIZE_MAX / 2)) {
        fprintf(stderr, "%s generate: error: --logits-out for %d steps would keep %.0f GiB of logits\n", cli_prog, N,
                logit_bytes / 1073741824.0);
        free(user);
        return 1;
    }
    struct kiln_model model;
    if (cli_load_model(d, "generate", a.weights, a.weight_seed, a.random, a.strict, &model)) {
        free(user);
        return 1;
    }
    struct kiln_gen *gen = kiln_gen_new(&model, &a.sampling);
    int32_t *out = malloc((size_t)N * W * sizeof *out), *frame_user = malloc((size_t)(users + 1) * sizeof *frame_user);
    float *text = a.logits_out ? malloc((size_t)N * d->text_card * sizeof *text) : NULL;
    float *audio = a.logits_out ? malloc((size_t)N * d->dep_q * d->card * sizeof *audio) : NULL;
    double *frame_ms = malloc((size_t)N * sizeof *frame_ms);
    struct outputs o = {.cmd = "generate"};
    int rc = 2;
    if (!gen || !out || !frame_user || !frame_ms) {
        fprintf(stderr, "%s generate: error: out of memory\n", cli_prog);
        goto done;
    }
    if (a.logits_out && (!text || !audio)) {
        fprintf(stderr, "%s generate: error: out of memory for --logits-out (%.1f GiB for %d steps)\n", cli_prog,
                logit_bytes / 1073741824.0, N);
        rc = 1;
        goto done;
    }
    for (int t = 0; t < N; t++) {
        for (int j = 0; j < users; j++)
            frame_user[j] = user ? user[(size_t)j * frames + t] : -1;
        double start = cli_seconds_now();
        if (!kiln_gen_step(gen, frame_user, out + (size_t)t * W))
            for (int k = 0; k < W; k++)
                out[(size_t)t * W + k] = -2;
        frame_ms[t] = (cli_seconds_now() - start) * 1e3;
        if (a.logits_out) {
            memcpy(text + (size_t)t * d->text_card, kiln_gen_text_logits(gen), (size_t)d->text_card * sizeof *text);
            memcpy(audio + (size_t)t * d->dep_q * d->card, kiln_gen_audio_logits(gen),
                   (size_t)d->dep_q * d->card * sizeof *audio);
        }
        if (a.progress)
            fprintf(stderr, "\r  frame %d/%d   %.2f ms/frame   real-time factor %.2fx   ", t + 1, N, frame_ms[t],
                    1000.0 / d->frame_rate / frame_ms[t]);
    }
    if (a.progress)
        fputc('\n', stderr);
    int64_t out_shape[2] = {N, W}, text_shape[2] = {N, d->text_card}, audio_shape[3] = {N, d->dep_q, d->card};
    if (output_npy(&o, NULL, a.out, NPY_I32, 2, out_shape, out) ||
        (a.logits_out && (output_dir(&o, a.logits_out) ||
                          output_npy(&o, a.logits_out, "stream_text_logits.npy", NPY_F32, 2, text_shape, text) ||
                          output_npy(&o, a.logits_out, "stream_audio_logits.npy", NPY_F32, 3, audio_shape, audio)))) {
        rc = outputs_discard(&o);
        goto done;
    }
    if ((rc = outputs_commit(&o)))
        goto done;
    if (a.progress) {
        double median = median_of(frame_ms, N);
        printf("%d frames, median %.2f ms per frame, real-time factor %.2fx (a frame is %.0f ms)\n", N, median,
               1000.0 / d->frame_rate / median, 1000.0 / d->frame_rate);
    }
done:
    kiln_gen_free(gen);
    kiln_model_free(&model);
    free(user), free(out), free(frame_user), free(text), free(audio), free(frame_ms);
    return rc;
}

/* "0,1000,3000" -> opt->contexts; returns nonzero when malformed. */
static int parse_contexts(const char *list, struct bench_options *opt)
{
    opt->num_contexts = 0;
    for (const char *p = list;; p++) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno == ERANGE || v < 0 || v > MAX_CONTEXT || opt->num_contexts == BENCH_MAX_CONTEXTS ||
            (*end && *end != ','))
            return 1;
        opt->contexts[opt->num_contexts++] = v;
        if (!*end)
            return 0;
        p = end;
    }
}

static int cmd_bench(const struct kiln_model_desc *d, int argc, char **argv)
{
    struct bench_options opt = {.steps = 100, .warmup = 5, .threads = 0, .num_contexts = 1};
    const char *weights = NULL, *contexts = NULL;
    bool random = false, strict = false;
    const struct cli_option opts[] = {
        {"--weights", OPT_TEXT, &weights, 0, 0, NULL},
        {"--random-weights", OPT_U64, &opt.seed, 0, 0, &random},
        {"--steps", OPT_INT, &opt.steps, 1, MAX_STEPS, NULL},
        {"--warmup", OPT_INT, &opt.warmup, 0, MAX_STEPS, NULL},
        cli_threads_option(&opt.threads),
        {"--context", OPT_TEXT, &contexts, 0, 0, NULL},
        {"--trace", OPT_TEXT, &opt.trace, 0, 0, NULL},
        {"--json", OPT_SWITCH, &opt.json, 0, 0, NULL},
        {"--floor", OPT_SWITCH, &opt.floor, 0, 0, NULL},
        {"--strict", OPT_SWITCH, &strict, 0, 0, NULL},
        CLI_COPY_WEIGHTS_OPTION,
        {"--forward", OPT_INT, &opt.forward, 1, MAX_STEPS, NULL},
    };
    if (cli_parse_options("bench", argc, argv, opts, CLI_NUM_OPTIONS(opts)))
        return 1;
    if (contexts && parse_contexts(contexts, &opt))
        return cli_usage_error("bench", "--context wants frame counts from 0 to %lld, comma-separated (at most %d): '%s'",
                           MAX_CONTEXT, BENCH_MAX_CONTEXTS, contexts);
    if (!weights && !random)
        return cli_usage_error("bench", "%s", "give --weights W or --random-weights SEED");
    if (opt.floor && opt.forward)
        return cli_usage_error("bench", "%s", "--floor judges streaming frames; a --forward run has none");
    kiln_set_threads(opt.threads);
    struct kiln_weights w;
    if (cli_load_weights(d, "bench", weights, opt.seed, random, strict, &w))
        return 1;
    int rc = bench_run(d, &w, &opt);
    kiln_weights_free(&w);
    return rc;
}

static const struct cli_subcommand subcommands[] = {
    {"info", "info                      the compiled configuration, target, layers, weight format, memory", cmd_info},
    {"pack", CLI_PACK_USAGE, cli_pack},
    {"forward", "forward (--weights W | --random-weights SEED) --codes CODES.npy --out DIR [--strict]\n"
                "                          [--copy-weights]\n"
                "                          teacher-forced logits (Moshi's LMModel.forward). CODES.npy: int32 or\n"
                "                          int64 [B, 1 + n_q, T], undelayed (row 0 text, -1: zero token). Writes\n"
                "                          DIR/text_logits.npy [B, 1, T, text_card] and DIR/audio_logits.npy\n"
                "                          [B, dep_q, T, card], float32, NaN where Moshi masks", cmd_forward},
    {"generate", "generate --weights W --user USER.npy --steps N --out OUT.npy [--seed S] [--temp-text 0.7]\n"
                 "                          [--top-k-text 25] [--temp 0.8] [--top-k 250] [--logits-out DIR] [--threads T]\n"
                 "                          [--progress] [--strict] [--copy-weights]\n"
                 "                          streaming generation, one LMGen step per frame (temperature 0: greedy).\n"
                 "                          USER.npy: [1, n_q - dep_q, N] (without --user: all -1, Moshi's zero\n"
                 "                          token); --random-weights SEED instead of --weights. OUT.npy: int32\n"
                 "                          [N, 1 + dep_q], per step the text token then the audio tokens; the\n"
                 "                          first max(delays) rows are -2 (nothing generated yet). --logits-out\n"
                 "                          DIR adds stream_text_logits.npy and stream_audio_logits.npy", cmd_generate},
    {"bench", "bench [--weights W | --random-weights SEED] [--steps N] [--warmup N] [--threads T]\n"
              "                          [--context C[,C...]] [--json] [--trace FILE] [--floor] [--strict]\n"
              "                          [--copy-weights] [--forward T]\n"
              "                          per-frame latency of streaming steps after C frames of context (one\n"
              "                          report, or JSON line, per C); --trace writes every frame's ms; --floor\n"
              "                          reads a 256 MiB buffer before each frame and after the last, and puts\n"
              "                          each frame and component against its bytes over that read bandwidth;\n"
              "                          --forward T: the time per frame of a teacher-forced forward of T frames\n"
              "                          (--steps runs of it)", cmd_bench}
};

int kiln_cli_main(const struct kiln_model_desc *desc, int argc, char **argv)
{
    if (desc->kind == KILN_MODEL_CODEC)
        return kiln_codec_cli_main(desc, argc, argv);
    return cli_dispatch(desc, subcommands, CLI_NUM_OPTIONS(subcommands), argc, argv);
}
