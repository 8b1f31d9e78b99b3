/* cli.c: the generated binary's command line: `NAME info | forward | bench` (DESIGN.md, Contracts).
 * Exit status: 0 success, 1 bad input (a message naming the file and what is wrong), 2 internal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "bench.h"
#include "kw.h"
#include "stats.h"
#include "kiln_rt.h"
#include "npy.h"

struct subcommand {
    const char *name;
    const char *usage;
    int (*run)(const struct kiln_model_desc *desc, int argc, char **argv);
};

static const char *prog = "kiln";

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s %s: error: ", prog, cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(%s %s --help shows the usage)\n", prog, cmd);
    return 1;
}

/* Matches "--flag VALUE" or "--flag=VALUE"; NULL if argv[*i] is not flag. */
static const char *flag_value(int argc, char **argv, int *i, const char *flag, bool *missing)
{
    size_t n = strlen(flag);
    if (strncmp(argv[*i], flag, n) == 0 && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (strcmp(argv[*i], flag) != 0)
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return flag;
    }
    return argv[++*i];
}

/* After a flag's value was read: a missing value, or text where a number was parsed, is a usage
   error (end: where strtol/strtof stopped, NULL for a text value). */
static int check_value(const char *cmd, bool missing, const char *v, const char *end)
{
    if (missing)
        return usage_error(cmd, "%s needs a value", v);
    if (end && (*end || end == v))
        return usage_error(cmd, "'%s' is not a number", v);
    return 0;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

static void human_bytes(char *buf, size_t size, double bytes)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4)
        bytes /= 1024, u++;
    snprintf(buf, size, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
}

static int cmd_info(const struct kiln_model_desc *d, int argc, char **argv)
{
    if (argc > 1)
        return usage_error("info", "unexpected argument '%s'", argv[1]);
    char weights[32], stream[32], kv[32], ttt[32], total[32];
    double weight_bytes = (double)d->num_params * 4;
    human_bytes(weights, sizeof weights, weight_bytes);
    human_bytes(stream, sizeof stream, (double)d->stream_bytes);
    human_bytes(kv, sizeof kv, (double)d->kv_bytes);
    human_bytes(ttt, sizeof ttt, (double)d->ttt_bytes);
    human_bytes(total, sizeof total, weight_bytes + (double)d->stream_bytes);
    printf("model          %s\n", d->name);
    printf("target         %s\n", d->target);
    printf("weight format  %s\n", d->weight_format);
    printf("parameters     %lld (%s as %s)\n", (long long)d->num_params, weights, d->weight_format);
    printf("streams        text + %d audio in, %d audio codebooks generated; delays", d->n_q, d->dep_q);
    for (int i = 0; i < d->num_streams; i++)
        printf(" %d", d->delays[i]);
    printf("\nvocabularies   text %d, audio %d\n", d->text_card, d->card);
    printf("temporal       %d layers, dim %d, %d heads, ffn hidden %d, context %d\n", d->num_layers, d->dim,
           d->num_heads, d->ffn_hidden, d->context);
    printf("depformer      %d layers, dim %d, %d heads, ffn hidden %d, %d steps per frame\n", d->depformer_num_layers,
           d->depformer_dim, d->depformer_num_heads, d->depformer_ffn_hidden, d->dep_q);
    printf("stream state   %s per stream (%s of it KV cache, %s TTT state)\n", stream, kv, ttt);
    printf("memory         %s for the weights and one stream\n", total);
    return 0;
}

static int load_weights(const struct kiln_model_desc *d, const char *cmd, const char *path, uint64_t seed,
                        bool random, struct kiln_weights *w)
{
    char err[1024];
    int rc = random ? kiln_weights_random(d, seed, w, err, sizeof err) : kiln_weights_load(d, path, w, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s %s: error: %s\n", prog, cmd, err);
    return rc;
}

/* Reads CODES.npy (int32 or int64, [B, num_streams, T]) into int32. */
/* Element i of an int32 or int64 array. */
static int64_t code_at(const struct npy_array *a, size_t i)
{
    return a->dtype == NPY_I32 ? ((const int32_t *)a->data)[i] : ((const int64_t *)a->data)[i];
}

static int32_t *read_codes(const struct kiln_model_desc *d, const char *path, int *B, int *T)
{
    struct npy_array a;
    char err[1024];
    if (npy_read(path, &a, err, sizeof err)) {
        fprintf(stderr, "%s forward: error: %s\n", prog, err);
        return NULL;
    }
    const char *problem = NULL;
    if (a.dtype != NPY_I32 && a.dtype != NPY_I64)
        problem = "must hold int32 or int64 codes";
    else if (a.rank != 3 || a.shape[1] != d->num_streams || a.shape[0] < 1 || a.shape[2] < 1)
        problem = "must have shape [B, K, T] with K = 1 + n_q";
    else if (a.shape[0] > 1 << 20 || a.shape[2] > 1 << 24)
        problem = "is too large";
    if (problem) {
        fprintf(stderr, "%s forward: error: %s: codes %s (K = %d for this model)\n", prog, path, problem, d->num_streams);
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

static int write_output(const char *cmd, const char *dir, const char *file, int rank, const int64_t *shape,
                        const float *data)
{
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (npy_write(path, NPY_F32, rank, shape, data, err, sizeof err)) {
        fprintf(stderr, "%s %s: error: %s\n", prog, cmd, err);
        return 1;
    }
    return 0;
}

static int cmd_forward(const struct kiln_model_desc *d, int argc, char **argv)
{
    const char *weights = NULL, *codes_path = NULL, *out = NULL, *v;
    bool missing = false;
    for (int i = 1; i < argc; i++) {
        if ((v = flag_value(argc, argv, &i, "--weights", &missing)))
            weights = v;
        else if ((v = flag_value(argc, argv, &i, "--codes", &missing)))
            codes_path = v;
        else if ((v = flag_value(argc, argv, &i, "--out", &missing)))
            out = v;
        else
            return usage_error("forward", "unknown argument '%s'", argv[i]);
        if (check_value("forward", missing, v, NULL))
            return 1;
    }
    if (!weights || !codes_path || !out)
        return usage_error("forward", "%s", "--weights, --codes and --out are required");
    int B, T;
    int32_t *codes = read_codes(d, codes_path, &B, &T);
    if (!codes)
        return 1;
    char err[1024];
    if (kiln_check_codes(d, codes, B, T, err, sizeof err)) {
        fprintf(stderr, "%s forward: error: %s: %s\n", prog, codes_path, err);
        free(codes);
        return 1;
    }
    struct kiln_weights w;
    if (load_weights(d, "forward", weights, 0, false, &w)) {
        free(codes);
        return 1;
    }
    struct stat st;
    if (stat(out, &st) != 0 && mkdir(out, 0777) != 0) {
        fprintf(stderr, "%s forward: error: cannot create %s: %s\n", prog, out, strerror(errno));
        free(codes), kiln_weights_free(&w);
        return 1;
    }
    size_t text_n = (size_t)B * T * d->text_card, audio_n = (size_t)B * d->dep_q * T * d->card;
    float *text = malloc(text_n * sizeof *text), *audio = malloc(audio_n * sizeof *audio);
    int rc = 2;
    if (!text || !audio)
        fprintf(stderr, "%s forward: error: out of memory\n", prog);
    else if (kiln_forward(d, &w, codes, B, T, text, audio, NULL, err, sizeof err))
        fprintf(stderr, "%s forward: error: %s\n", prog, err), rc = 1;
    else {
        int64_t text_shape[4] = {B, 1, T, d->text_card}, audio_shape[4] = {B, d->dep_q, T, d->card};
        rc = write_output("forward", out, "text_logits.npy", 4, text_shape, text) ||
             write_output("forward", out, "audio_logits.npy", 4, audio_shape, audio);
    }
    free(codes), free(text), free(audio), kiln_weights_free(&w);
    return rc;
}

/* Reads USER.npy (int32 or int64 [1, n_q - dep_q, N]) into int32 [n_q - dep_q][N]. */
static int32_t *read_user_codes(const struct kiln_model_desc *d, const char *path, int *frames)
{
    struct npy_array a;
    char err[1024];
    if (npy_read(path, &a, err, sizeof err)) {
        fprintf(stderr, "%s generate: error: %s\n", prog, err);
        return NULL;
    }
    int users = d->n_q - d->dep_q;
    if ((a.dtype != NPY_I32 && a.dtype != NPY_I64) || a.rank != 3 || a.shape[0] != 1 || a.shape[1] != users ||
        a.shape[2] < 1 || a.shape[2] > 1 << 28) {
        fprintf(stderr, "%s generate: error: %s: user codes must be int32 or int64 of shape [1, %d, N]\n", prog, path,
                users);
        npy_free(&a);
        return NULL;
    }
    int32_t *codes = malloc(a.count * sizeof *codes);
    for (size_t i = 0; codes && i < a.count; i++) {
        int64_t v = code_at(&a, i);
        if (v < -1 || v >= d->card) {
            fprintf(stderr, "%s generate: error: %s: user code [0, %zu, %zu] = %lld is outside [0, %d) and is not -1\n",
                    prog, path, i / (size_t)a.shape[2], i % (size_t)a.shape[2], (long long)v, d->card);
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
    bool random, progress;
    uint64_t weight_seed;
    int steps;
    struct kiln_sampling sampling;
};

static int parse_generate(int argc, char **argv, struct generate_args *a)
{
    *a = (struct generate_args){.sampling = KILN_SAMPLING_DEFAULT};
    const char *v;
    bool missing = false;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if ((v = flag_value(argc, argv, &i, "--weights", &missing)))
            a->weights = v;
        else if ((v = flag_value(argc, argv, &i, "--random-weights", &missing)))
            a->random = true, a->weight_seed = strtoull(v, &end, 10);
        else if ((v = flag_value(argc, argv, &i, "--user", &missing)))
            a->user = v;
        else if ((v = flag_value(argc, argv, &i, "--steps", &missing)))
            a->steps = (int)strtol(v, &end, 10);
        else if ((v = flag_value(argc, argv, &i, "--seed", &missing)))
            a->sampling.seed = strtoull(v, &end, 10);
        else if ((v = flag_value(argc, argv, &i, "--temp-text", &missing)))
            a->sampling.temp_text = strtof(v, &end);
        else if ((v = flag_value(argc, argv, &i, "--top-k-text", &missing)))
            a->sampling.top_k_text = (int)strtol(v, &end, 10);
        else if ((v = flag_value(argc, argv, &i, "--temp", &missing)))
            a->sampling.temp = strtof(v, &end);
        else if ((v = flag_value(argc, argv, &i, "--top-k", &missing)))
            a->sampling.top_k = (int)strtol(v, &end, 10);
        else if ((v = flag_value(argc, argv, &i, "--out", &missing)))
            a->out = v;
        else if ((v = flag_value(argc, argv, &i, "--logits-out", &missing)))
            a->logits_out = v;
        else if ((v = flag_value(argc, argv, &i, "--threads", &missing)))
            kiln_set_threads((int)strtol(v, &end, 10));
        else if (strcmp(argv[i], "--progress") == 0)
            a->progress = true;
        else
            return usage_error("generate", "unknown argument '%s'", argv[i]);
        if (check_value("generate", missing, v, end))
            return 1;
    }
    if (!a->out || a->steps < 1 || (!a->weights && !a->random))
        return usage_error("generate", "%s", "--weights W (or --random-weights SEED), --steps N >= 1 and --out are required");
    if (a->sampling.temp_text < 0 || a->sampling.temp < 0 || a->sampling.top_k_text < 0 || a->sampling.top_k < 0)
        return usage_error("generate", "%s", "temperatures and top-k must be >= 0");
    return 0;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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
        fprintf(stderr, "%s generate: error: %s holds %d frames; --steps %d asks for more\n", prog, a.user, frames,
                a.steps);
        free(user);
        return 1;
    }
    struct kiln_model model;
    char err[1024];
    if (a.random ? kiln_model_random(d, a.weight_seed, &model, err, sizeof err)
                 : kiln_model_load(d, a.weights, &model, err, sizeof err)) {
        fprintf(stderr, "%s generate: error: %s\n", prog, err);
        free(user);
        return 1;
    }
    const int N = a.steps, W = 1 + d->dep_q;
    struct kiln_gen *gen = kiln_gen_new(&model, &a.sampling);
    int32_t *out = malloc((size_t)N * W * sizeof *out), *frame_user = malloc((size_t)users * sizeof *frame_user);
    float *text = a.logits_out ? malloc((size_t)N * d->text_card * sizeof *text) : NULL;
    float *audio = a.logits_out ? malloc((size_t)N * d->dep_q * d->card * sizeof *audio) : NULL;
    double *frame_ms = malloc((size_t)N * sizeof *frame_ms);
    int rc = 2;
    if (!gen || !out || !frame_user || !frame_ms || (a.logits_out && (!text || !audio))) {
        fprintf(stderr, "%s generate: error: out of memory\n", prog);
        goto done;
    }
    for (int t = 0; t < N; t++) {
        for (int j = 0; j < users; j++)
            frame_user[j] = user ? user[(size_t)j * frames + t] : -1;
        double start = seconds_now();
        if (!kiln_gen_step(gen, frame_user, out + (size_t)t * W))
            for (int k = 0; k < W; k++)
                out[(size_t)t * W + k] = -2;
        frame_ms[t] = (seconds_now() - start) * 1e3;
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
    rc = 1;
    if (npy_write(a.out, NPY_I32, 2, out_shape, out, err, sizeof err)) {
        fprintf(stderr, "%s generate: error: %s\n", prog, err);
        goto done;
    }
    if (a.logits_out) {
        struct stat st;
        if (stat(a.logits_out, &st) != 0 && mkdir(a.logits_out, 0777) != 0) {
            fprintf(stderr, "%s generate: error: cannot create %s: %s\n", prog, a.logits_out, strerror(errno));
            goto done;
        }
        if (write_output("generate", a.logits_out, "stream_text_logits.npy", 2, text_shape, text) ||
            write_output("generate", a.logits_out, "stream_audio_logits.npy", 3, audio_shape, audio))
            goto done;
    }
    if (a.progress) {
        double median = median_of(frame_ms, N);
        printf("%d frames, median %.2f ms per frame, real-time factor %.2fx (a frame is %.0f ms)\n", N, median,
               1000.0 / d->frame_rate / median, 1000.0 / d->frame_rate);
    }
    rc = 0;
done:
    kiln_gen_free(gen);
    kiln_model_free(&model);
    free(user), free(out), free(frame_user), free(text), free(audio), free(frame_ms);
    return rc;
}

static int cmd_pack(const struct kiln_model_desc *d, int argc, char **argv)
{
    if (argc != 3)
        return usage_error("pack", "%s", "wants IN.safetensors and OUT.kw");
    if (kw_is_kw(argv[1]))
        return usage_error("pack", "%s is packed already", argv[1]);
    struct kiln_weights w;
    char err[1024];
    if (load_weights(d, "pack", argv[1], 0, false, &w))
        return 1;
    int rc = kw_write(d, &w, argv[2], err, sizeof err);
    if (rc)
        fprintf(stderr, "%s pack: error: %s\n", prog, err);
    else
        printf("%s: %d tensors, %.1f MiB, packed for target %s (mapped at load, nothing to convert)\n", argv[2],
               d->num_weights, (double)w.arena_floats * 4 / 1048576, d->target);
    kiln_weights_free(&w);
    return rc;
}

/* "0,1000,3000" -> opt->contexts; returns nonzero when malformed. */
static int parse_contexts(const char *list, struct bench_options *opt)
{
    opt->num_contexts = 0;
    for (const char *p = list;; p++) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || opt->num_contexts == BENCH_MAX_CONTEXTS || (*end && *end != ','))
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
    const char *weights = NULL, *v;
    bool random = false, missing = false;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if ((v = flag_value(argc, argv, &i, "--weights", &missing)))
            weights = v;
        else if ((v = flag_value(argc, argv, &i, "--random-weights", &missing)))
            random = true, opt.seed = strtoull(v, &end, 10);
        else if ((v = flag_value(argc, argv, &i, "--steps", &missing)))
            opt.steps = (int)strtol(v, &end, 10);
        else if ((v = flag_value(argc, argv, &i, "--warmup", &missing)))
            opt.warmup = (int)strtol(v, &end, 10);
        else if ((v = flag_value(argc, argv, &i, "--threads", &missing)))
            opt.threads = (int)strtol(v, &end, 10);
        else if ((v = flag_value(argc, argv, &i, "--context", &missing))) {
            if (!missing && parse_contexts(v, &opt))
                return usage_error("bench", "--context wants frame counts >= 0, comma-separated (at most 32): '%s'", v);
        } else if ((v = flag_value(argc, argv, &i, "--trace", &missing)))
            opt.trace = v;
        else if (strcmp(argv[i], "--json") == 0)
            opt.json = true;
        else
            return usage_error("bench", "unknown argument '%s'", argv[i]);
        if (check_value("bench", missing, v, end))
            return 1;
    }
    if (opt.steps < 1 || opt.threads < 0 || opt.warmup < 0)
        return usage_error("bench", "%s", "--steps must be >= 1; --threads and --warmup >= 0");
    kiln_set_threads(opt.threads);
    if (!weights && !random)
        return usage_error("bench", "%s", "give --weights W or --random-weights SEED");
    struct kiln_weights w;
    if (load_weights(d, "bench", weights, opt.seed, random, &w))
        return 1;
    int rc = bench_run(d, &w, &opt);
    kiln_weights_free(&w);
    return rc;
}

static const struct subcommand subcommands[] = {
    {"info", "info                      the compiled configuration, target, weight format, memory", cmd_info},
    {"pack", "pack IN.safetensors OUT.kw     this binary's weights, folded and packed, as one mmap-able file:\n"
             "                          --weights OUT.kw then loads without converting anything", cmd_pack},
    {"forward", "forward --weights W --codes CODES.npy --out DIR\n"
                "                          teacher-forced logits (Moshi's LMModel.forward)", cmd_forward},
    {"generate", "generate --weights W --user USER.npy --steps N --out OUT.npy [--seed S] [--temp-text 0.7]\n"
                 "                          [--top-k-text 25] [--temp 0.8] [--top-k 250] [--logits-out DIR] [--threads T]\n"
                 "                          [--progress]\n"
                 "                          streaming generation, one LMGen step per frame (temperature 0: greedy);\n"
                 "                          --random-weights SEED instead of --weights; without --user the user's\n"
                 "                          streams get -1 (Moshi's zero token)", cmd_generate},
    {"bench", "bench [--weights W | --random-weights SEED] [--steps N] [--warmup N] [--threads T]\n"
              "                          [--context C[,C...]] [--json] [--trace FILE]\n"
              "                          per-frame latency of streaming steps after C frames of context (one\n"
              "                          report, or JSON line, per C); --trace writes every frame's ms", cmd_bench},
};
#define NUM_SUBCOMMANDS (int)(sizeof subcommands / sizeof subcommands[0])

static void print_usage(FILE *out, const struct kiln_model_desc *d)
{
    fprintf(out, "%s: the %s model compiled by kilnc (target %s, weights %s)\nusage:\n", prog, d->name, d->target,
            d->weight_format);
    for (int i = 0; i < NUM_SUBCOMMANDS; i++)
        fprintf(out, "  %s %s\n", prog, subcommands[i].usage);
}

int kiln_cli_main(const struct kiln_model_desc *desc, int argc, char **argv)
{
    prog = desc->name;
    const char *missing = kiln_missing_cpu_feature(desc);
    if (missing) {
        fprintf(stderr, "%s: error: this binary was built for target %s and needs the CPU feature '%s', which this "
                        "CPU lacks; rebuild with kilnc --target native (or scalar)\n", prog, desc->target, missing);
        return 1;
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(argc < 2 ? stderr : stdout, desc);
        return argc < 2 ? 1 : 0;
    }
    for (int i = 0; i < NUM_SUBCOMMANDS; i++) {
        if (strcmp(argv[1], subcommands[i].name) != 0)
            continue;
        if (wants_help(argc - 1, argv + 1)) {
            printf("usage: %s %s\n", prog, subcommands[i].usage);
            return 0;
        }
        return subcommands[i].run(desc, argc - 1, argv + 1);
    }
    fprintf(stderr, "%s: error: unknown command '%s'\n", prog, argv[1]);
    print_usage(stderr, desc);
    return 1;
}
