/* codec_cli.c: a codec binary's command line, `NAME encode | decode | info | bench | pack`
 * (docs/contracts.md, "A codec's binary"), over codec.c and the audio files of audio.c. Options are
 * parsed and range-checked as the language model's are (cli_common.c). Exit status: 0 success, 1 bad
 * input (nothing written), 2 internal (out of memory). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "audio.h"
#include "bench.h"
#include "cli_common.h"
#include "kiln_rt.h"
#include "npy.h"
#include "report.h"
#include "safetensors.h" /* (st_format_shape) */
#include "stats.h"

#define MAX_FRAMES (1 << 24)         /* frames of one encode or decode: 15 days at 12.5 Hz */
#define MAX_BENCH_FRAMES 1000000     /* bench's --frames and --warmup (as the language model's --steps) */

/* The options encode and decode share */
struct codec_args {
    const char *weights, *in, *out, *wav;
    uint64_t seed;
    bool random, stream, strict;
    int threads;
};

/* Parses encode's or decode's options (in_flag: --audio or --codes); 0, or 1 after a usage error */
static int parse_codec_args(const char *cmd, const char *in_flag, int argc, char **argv, struct codec_args *a)
{
    *a = (struct codec_args){0};
    const struct cli_option opts[] = {
        {"--weights", OPT_TEXT, &a->weights, 0, 0, NULL}, {"--random-weights", OPT_U64, &a->seed, 0, 0, &a->random},
        {in_flag, OPT_TEXT, &a->in, 0, 0, NULL},          {"--out", OPT_TEXT, &a->out, 0, 0, NULL},
        {"--stream", OPT_SWITCH, &a->stream, 0, 0, NULL}, {"--strict", OPT_SWITCH, &a->strict, 0, 0, NULL},
        CLI_COPY_WEIGHTS_OPTION,
        cli_threads_option(&a->threads),                  {"--wav", OPT_TEXT, &a->wav, 0, 0, NULL},
    };
    /* (--wav is decode's only) */
    if (cli_parse_options(cmd, argc, argv, opts, CLI_NUM_OPTIONS(opts) - (strcmp(cmd, "decode") != 0)))
        return 1;
    if ((!a->weights && !a->random) || !a->in || !a->out)
        return cli_usage_error(cmd, "--weights W (or --random-weights SEED), %s and --out are required", in_flag);
    kiln_set_threads(a->threads);
    return 0;
}

/* Loads the model, and a codec over it for --stream; 0, or 1 (2: out of memory) with the error printed */
static int start_codec(const struct kiln_model_desc *d, const char *cmd, const struct codec_args *a,
                       struct kiln_model *model, struct kiln_codec **codec)
{
    *codec = NULL;
    if (cli_load_model(d, cmd, a->weights, a->seed, a->random, a->strict, model))
        return 1;
    if (a->stream && !(*codec = kiln_codec_new(model))) {
        fprintf(stderr, "%s %s: error: out of memory (a stream needs %zu bytes)\n", cli_prog, cmd, d->stream_bytes);
        kiln_model_free(model);
        return 2;
    }
    return 0;
}

/* T frames of pcm through the codec's stream -> codes[num_codebooks][T]; 1 when out of memory */
static int encode_stream(const struct kiln_model_desc *d, struct kiln_codec *codec, const float *pcm, int64_t T,
                         int32_t *codes)
{
    int32_t *frame = malloc((size_t)d->num_codebooks * sizeof *frame);
    for (int64_t t = 0; frame && t < T; t++) {
        kiln_codec_encode_step(codec, pcm + t * d->frame_size, frame);
        for (int k = 0; k < d->num_codebooks; k++)
            codes[k * T + t] = frame[k];
    }
    free(frame);
    return !frame;
}

/* codes[num_codebooks][T] (checked) through the codec's stream -> pcm[T * frame_size]; 1 when out of memory */
static int decode_stream(const struct kiln_model_desc *d, struct kiln_codec *codec, const int32_t *codes, int64_t T,
                         float *pcm)
{
    int32_t *frame = malloc((size_t)d->num_codebooks * sizeof *frame);
    for (int64_t t = 0; frame && t < T; t++) {
        for (int k = 0; k < d->num_codebooks; k++)
            frame[k] = codes[k * T + t];
        kiln_codec_decode_step(codec, frame, pcm + t * d->frame_size);
    }
    free(frame);
    return !frame;
}

static int cmd_encode(const struct kiln_model_desc *d, int argc, char **argv)
{
    struct codec_args a;
    if (parse_codec_args("encode", "--audio", argc, argv, &a))
        return 1;
    float *pcm;
    int64_t n;
    char err[1024];
    if (audio_read(a.in, d->sample_rate, &pcm, &n, err, sizeof err)) {
        fprintf(stderr, "%s encode: error: %s\n", cli_prog, err);
        return 1;
    }
    const int64_t F = d->frame_size, T = a.stream ? n / F : (n + F - 1) / F;
    if (T < 1 || T > MAX_FRAMES) {
        fprintf(stderr, "%s encode: error: %s: %lld samples, %s %lld\n", cli_prog, a.in, (long long)n,
                T > MAX_FRAMES ? "more frames than one encode takes: 2^24 frames of" :
                a.stream ? "less than the one whole frame --stream encodes at least: a frame is" :
                           "none to encode: a frame is", (long long)F);
        free(pcm);
        return 1;
    }
    if (a.stream && n % F)
        fprintf(stderr, "note: %s: --stream drops the last %lld samples (less than a frame of %lld)\n", a.in,
                (long long)(n % F), (long long)F);
    struct kiln_model model;
    struct kiln_codec *codec;
    int rc = start_codec(d, "encode", &a, &model, &codec);
    if (rc) {
        free(pcm);
        return rc;
    }
    const int64_t shape[3] = {1, d->num_codebooks, T};
    int32_t *codes = malloc((size_t)(shape[1] * T) * sizeof *codes);
    if (!codes || (a.stream ? encode_stream(d, codec, pcm, T, codes) : kiln_codec_encode(&model, pcm, n, codes, err, sizeof err))) {
        fprintf(stderr, "%s encode: error: %s\n", cli_prog, codes && !a.stream ? err : "out of memory");
        rc = 2;
    } else if ((rc = npy_write(a.out, NPY_I32, 3, shape, codes, err, sizeof err)))
        fprintf(stderr, "%s encode: error: %s\n", cli_prog, err);
    kiln_codec_free(codec);
    kiln_model_free(&model);
    free(pcm), free(codes);
    return rc;
}

/* What --out and --wav ask for; 0, or 1 after a usage error */
static int output_format(const struct codec_args *a, enum audio_format *format)
{
    const size_t len = strlen(a->out);
    const bool npy = len > 4 && strcmp(a->out + len - 4, ".npy") == 0, wav = len > 4 && strcmp(a->out + len - 4, ".wav") == 0;
    if (!npy && !wav)
        return cli_usage_error("decode", "--out names a .wav or a .npy file, not '%s'", a->out);
    if (a->wav && (npy || (strcmp(a->wav, "s16") != 0 && strcmp(a->wav, "f32") != 0)))
        return cli_usage_error("decode", "%s", npy ? "--wav is for a .wav output" : "--wav wants s16 or f32");
    *format = npy ? AUDIO_NPY : a->wav && strcmp(a->wav, "s16") == 0 ? AUDIO_WAV_S16 : AUDIO_WAV_F32;
    return 0;
}

/* CODES.npy: int32 or int64 [1, num_codebooks, T], every code in [0, bins), as int32 (*T frames);
   NULL after an error */
static int32_t *read_codes(const struct kiln_model_desc *d, const char *path, int64_t *T)
{
    struct npy_array a;
    char err[1024], shape[160];
    if (npy_read(path, &a, err, sizeof err)) {
        fprintf(stderr, "%s decode: error: %s\n", cli_prog, err);
        return NULL;
    }
    st_format_shape(shape, sizeof shape, a.rank, a.shape);
    if ((a.dtype != NPY_I32 && a.dtype != NPY_I64) || a.rank != 3 || a.shape[0] != 1 || a.shape[1] != d->num_codebooks ||
        a.shape[2] < 1 || a.shape[2] > MAX_FRAMES) {
        fprintf(stderr, "%s decode: error: %s: codes must be int32 or int64 of shape [1, %d, T] (1 <= T <= 2^24); they "
                "are %s of shape %s\n", cli_prog, path, d->num_codebooks,
                a.dtype == NPY_I32 ? "int32" : a.dtype == NPY_I64 ? "int64" : "not integers", shape);
        npy_free(&a);
        return NULL;
    }
    *T = a.shape[2];
    int32_t *codes = malloc(a.count * sizeof *codes);
    for (size_t i = 0; codes && i < a.count; i++) {
        const int64_t v = a.dtype == NPY_I32 ? ((const int32_t *)a.data)[i] : ((const int64_t *)a.data)[i];
        if (v < 0 || v >= d->bins) {
            fprintf(stderr, "%s decode: error: %s: codes[0, %lld, %lld] = %lld is outside [0, %d)\n", cli_prog, path,
                    (long long)(i / (size_t)*T), (long long)(i % (size_t)*T), (long long)v, d->bins);
            free(codes);
            npy_free(&a);
            return NULL;
        }
        codes[i] = (int32_t)v;
    }
    if (!codes)
        fprintf(stderr, "%s decode: error: out of memory\n", cli_prog);
    npy_free(&a);
    return codes;
}

static int cmd_decode(const struct kiln_model_desc *d, int argc, char **argv)
{
    struct codec_args a;
    enum audio_format format = AUDIO_NPY;
    if (parse_codec_args("decode", "--codes", argc, argv, &a) || output_format(&a, &format))
        return 1;
    int64_t T;
    int32_t *codes = read_codes(d, a.in, &T);
    if (!codes)
        return 1;
    struct kiln_model model;
    struct kiln_codec *codec;
    int rc = start_codec(d, "decode", &a, &model, &codec);
    if (rc) {
        free(codes);
        return rc;
    }
    const int64_t samples = T * d->frame_size;
    float *pcm = malloc((size_t)samples * sizeof *pcm);
    char err[1024];
    if (!pcm || (a.stream ? decode_stream(d, codec, codes, T, pcm) : kiln_codec_decode(&model, codes, T, pcm, err, sizeof err))) {
        fprintf(stderr, "%s decode: error: %s\n", cli_prog, pcm && !a.stream ? err : "out of memory");
        rc = 2;
    } else if ((rc = audio_write(a.out, format, pcm, samples, d->sample_rate, err, sizeof err)))
        fprintf(stderr, "%s decode: error: %s\n", cli_prog, err);
    kiln_codec_free(codec);
    kiln_model_free(&model);
    free(codes), free(pcm);
    return rc;
}

static int cmd_info(const struct kiln_model_desc *d, int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error("info", "unexpected argument '%s'", argv[1]);
    static const char *const roles[KILN_NUM_STATE_ROLES] = {"positions", "KV cache", "TTT state", "tables", "counters",
                                                            "conv state"};
    cli_info_head(d, "codec");
    printf("sample rate    %d Hz, mono\n", d->sample_rate);
    printf("frame size     %d samples (%.0f ms)\n", d->frame_size, 1000.0 * d->frame_size / d->sample_rate);
    printf("codebooks      %d, of %d bins each\n", d->num_codebooks, d->bins);
    char text[32];
    kiln_human_bytes(text, sizeof text, (double)d->stream_bytes);
    printf("stream state   %s per stream", text);
    size_t parts = 0;
    for (int r = 0; r < KILN_NUM_STATE_ROLES; r++) {
        const size_t bytes = kiln_state_bytes(d, r, NULL);
        if (!bytes)
            continue;
        kiln_human_bytes(text, sizeof text, (double)bytes);
        printf("%s%s %s%s%s", parts ? ", " : " (", text, roles[r], r == KILN_STATE_KV ? " in " : "",
               r == KILN_STATE_KV ? d->kv_format : "");
        parts += bytes;
    }
    kiln_human_bytes(text, sizeof text, (double)(d->stream_bytes - parts));
    printf("%s%s scratch)\n", parts ? ", " : " (", text);
    cli_info_tail(d);
    return 0;
}

/* bench's test signal: two tones and a little noise, the same every run */
static void test_signal(float *x, int64_t n, int sample_rate)
{
    uint32_t state = 12345;
    for (int64_t i = 0; i < n; i++) {
        const double t = (double)i / sample_rate;
        state = state * 1664525u + 1013904223u;
        const double noise = (double)(state >> 8) / (1 << 24) - 0.5;
        x[i] = (float)(0.3 * sin(6.283185307179586 * 220 * t) + 0.2 * sin(6.283185307179586 * 1375 * t) +
                       0.02 * noise);
    }
}

/* The component a codec's weight belongs to, by its checkpoint name (docs/mimi.md §1) */
static int weight_component(const char *name)
{
    static const struct { const char *prefix; int component; } parts[] = {
        {"encoder_transformer.", KILN_ENCODER_TRANSFORMER}, {"decoder_transformer.", KILN_DECODER_TRANSFORMER},
        {"encoder.", KILN_SEANET_ENCODER}, {"decoder.", KILN_SEANET_DECODER}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (strncmp(name, parts[i].prefix, strlen(parts[i].prefix)) == 0)
            return parts[i].component;
    return KILN_QUANTIZER; /* (the quantizer and the resampling) */
}

/* What a frame's components read and compute, for their floors: weight bytes (in the binary's
   formats) and multiply-adds */
static void component_work(const struct kiln_model_desc *d, int64_t *bytes, int64_t *macs)
{
    for (int c = 0; c < KILN_NUM_COMPONENTS; c++)
        bytes[c] = macs[c] = 0;
    for (int i = 0; i < d->num_weights; i++) {
        const struct kiln_weight_desc *w = &d->weights[i];
        const int c = weight_component(w->name);
        bytes[c] += (int64_t)kiln_format_bytes_of(w->format, (size_t)w->read_per_frame);
        macs[c] += w->macs_per_frame;
    }
}

/* The report: medians and p99 (the arrays are sorted); each component's median (parts: [frames][KILN_NUM_COMPONENTS],
   a frame's encode and decode together) */
static void bench_report(const struct kiln_model_desc *d, int frames, int warmup, bool json, double *encode_ms,
                         double *decode_ms, double *frame_ms, double (*parts)[KILN_NUM_COMPONENTS])
{
    double component[KILN_NUM_COMPONENTS];
    int64_t bytes[KILN_NUM_COMPONENTS], macs[KILN_NUM_COMPONENTS];
    component_work(d, bytes, macs);
    for (int c = KILN_NUM_LM_COMPONENTS; c < KILN_NUM_COMPONENTS; c++) {
        for (int t = 0; t < frames; t++)
            frame_ms[t] = parts[t][c]; /* (the column, sorted by median_of; frame_ms is refilled below) */
        component[c] = median_of(frame_ms, frames);
    }
    for (int t = 0; t < frames; t++)
        frame_ms[t] = encode_ms[t] + decode_ms[t];
    const double frame_budget_ms = 1000.0 * d->frame_size / d->sample_rate;
    const double frame_median = median_of(frame_ms, frames), frame_p99 = quantile_of(frame_ms, frames, 0.99);
    const double encode_median = median_of(encode_ms, frames), encode_p99 = quantile_of(encode_ms, frames, 0.99);
    const double decode_median = median_of(decode_ms, frames), decode_p99 = quantile_of(decode_ms, frames, 0.99);
    const double rtf = frame_budget_ms / (encode_median + decode_median);
    const int threads = strcmp(d->target, "scalar") ? kiln_threads() : 1; /* (the scalar reference is serial) */
    if (json) {
        printf("{\"model\": \"%s\", \"target\": \"%s\", \"frames\": %d, \"ms_median\": %.6f, \"ms_p99\": %.6f, "
               "\"rtf\": %.4f, \"threads\": %d, \"encode_ms_median\": %.6f, \"encode_ms_p99\": %.6f, "
               "\"decode_ms_median\": %.6f, \"decode_ms_p99\": %.6f, \"components\": {", d->name, d->target, frames,
               frame_median, frame_p99, rtf, threads, encode_median, encode_p99, decode_median, decode_p99);
        for (int c = KILN_NUM_LM_COMPONENTS; c < KILN_NUM_COMPONENTS; c++)
            printf("%s\"%s\": %.6f", c > KILN_NUM_LM_COMPONENTS ? ", " : "", bench_component_name(c), component[c]);
        printf("}, \"component_weight_bytes\": {");
        for (int c = KILN_NUM_LM_COMPONENTS; c < KILN_NUM_COMPONENTS; c++)
            printf("%s\"%s\": %lld", c > KILN_NUM_LM_COMPONENTS ? ", " : "", bench_component_name(c), (long long)bytes[c]);
        printf("}, \"component_macs\": {");
        for (int c = KILN_NUM_LM_COMPONENTS; c < KILN_NUM_COMPONENTS; c++)
            printf("%s\"%s\": %lld", c > KILN_NUM_LM_COMPONENTS ? ", " : "", bench_component_name(c), (long long)macs[c]);
        printf("}}\n");
        return;
    }
    printf("%s bench: %d frames encoded, then decoded, streaming, after %d warm-up, %d thread(s), target %s\n", d->name,
           frames, warmup, threads, d->target);
    printf("  encode        median %.3f ms, p99 %.3f ms\n", encode_median, encode_p99);
    printf("  decode        median %.3f ms, p99 %.3f ms\n", decode_median, decode_p99);
    printf("  per frame     median %.3f ms, p99 %.3f ms (encode + decode)\n", frame_median, frame_p99);
    printf("  real time     %.2fx (a frame is %.0f ms of audio)\n", rtf, frame_budget_ms);
    printf("  components    (medians; the quantizer's: both ways, with the resampling)\n");
    for (int c = KILN_NUM_LM_COMPONENTS; c < KILN_NUM_COMPONENTS; c++)
        printf("    %-20s %7.3f ms  reads %6.1f MB of weights, %6.1f M multiply-adds\n", bench_component_name(c), component[c],
               (double)bytes[c] / 1e6, (double)macs[c] / 1e6);
}

/* warmup + frames frames of pcm encoded through the codec's stream, then their codes decoded; the
   last `frames` timed: ms[0..frames) encode, ms[frames..2 frames) decode, then their sums; each
   frame's components (encode's and decode's added) into parts */
static void time_frames(const struct kiln_model_desc *d, struct kiln_codec *codec, const float *pcm, int32_t *codes,
                        float *out, int warmup, int frames, double *ms, double (*parts)[KILN_NUM_COMPONENTS])
{
    double step[KILN_NUM_COMPONENTS];
    const int64_t F = d->frame_size, K = d->num_codebooks;
    for (int way = 0; way < 2; way++)
        for (int t = -warmup; t < frames; t++) {
            const int64_t frame = warmup + t;
            const double start = cli_seconds_now();
            bench_profile_begin();
            if (way == 0)
                kiln_codec_encode_step(codec, pcm + frame * F, codes + frame * K);
            else
                kiln_codec_decode_step(codec, codes + frame * K, out);
            bench_profile_end(step);
            if (t < 0)
                continue;
            ms[way * frames + t] = (cli_seconds_now() - start) * 1e3;
            for (int c = 0; c < KILN_NUM_COMPONENTS; c++)
                parts[t][c] = (way ? parts[t][c] : 0) + step[c];
        }
    for (int t = 0; t < frames; t++)
        ms[2 * frames + t] = ms[t] + ms[frames + t];
}

static int cmd_bench(const struct kiln_model_desc *d, int argc, char **argv)
{
    struct codec_args a = {.stream = true};
    bool json = false;
    int frames = 50, warmup = 5;
    const struct cli_option opts[] = {
        {"--weights", OPT_TEXT, &a.weights, 0, 0, NULL}, {"--random-weights", OPT_U64, &a.seed, 0, 0, &a.random},
        {"--frames", OPT_INT, &frames, 1, MAX_BENCH_FRAMES, NULL}, {"--warmup", OPT_INT, &warmup, 0, MAX_BENCH_FRAMES, NULL},
        cli_threads_option(&a.threads), {"--json", OPT_SWITCH, &json, 0, 0, NULL},
        {"--strict", OPT_SWITCH, &a.strict, 0, 0, NULL}, CLI_COPY_WEIGHTS_OPTION,
    };
    if (cli_parse_options("bench", argc, argv, opts, CLI_NUM_OPTIONS(opts)))
        return 1;
    if (!a.weights && !a.random)
        return cli_usage_error("bench", "%s", "give --weights W or --random-weights SEED");
    kiln_set_threads(a.threads);
    struct kiln_model model;
    struct kiln_codec *codec;
    int rc = start_codec(d, "bench", &a, &model, &codec);
    if (rc)
        return rc;
    const int64_t F = d->frame_size, K = d->num_codebooks, total = (int64_t)warmup + frames;
    float *pcm = malloc((size_t)(total * F) * sizeof *pcm), *out = malloc((size_t)F * sizeof *out);
    int32_t *codes = malloc((size_t)(total * K) * sizeof *codes);
    double *ms = malloc(3 * (size_t)frames * sizeof *ms), (*parts)[KILN_NUM_COMPONENTS] = malloc((size_t)frames * sizeof *parts);
    if (!pcm || !out || !codes || !ms || !parts) {
        fprintf(stderr, "%s bench: error: out of memory for %lld frames\n", cli_prog, (long long)total);
        rc = 2;
    } else {
        test_signal(pcm, total * F, d->sample_rate);
        time_frames(d, codec, pcm, codes, out, warmup, frames, ms, parts);
        bench_report(d, frames, warmup, json, ms, ms + frames, ms + 2 * frames, parts);
    }
    kiln_codec_free(codec);
    kiln_model_free(&model);
    free(pcm), free(out), free(codes), free(ms), free(parts);
    return rc;
}

static const struct cli_subcommand subcommands[] = {
    {"encode", "encode (--weights W | --random-weights SEED) --audio IN --out CODES.npy [--stream] [--threads T]\n"
               "                          [--strict] [--copy-weights]\n"
               "                          audio to codes. IN: a .wav (or any file libsndfile reads: mixed down to\n"
               "                          mono, resampled to the codec's rate) or a float32 .npy [1, 1, N] at that\n"
               "                          rate. CODES.npy: int32 [1, codebooks, T], T = ceil(N / frame size), the\n"
               "                          input zero-padded to whole frames; --stream: frame by frame with the\n"
               "                          streaming semantics, T = floor(N / frame size)", cmd_encode},
    {"decode", "decode (--weights W | --random-weights SEED) --codes CODES.npy --out OUT.wav|OUT.npy [--stream]\n"
               "                          [--wav f32|s16] [--threads T] [--strict]\n"
               "                          [--copy-weights]\n"
               "                          codes to audio. CODES.npy: int32 or int64 [1, codebooks, T]; OUT: T x\n"
               "                          frame size samples, a WAV of 32-bit floats (--wav s16: 16-bit PCM) or a\n"
               "                          float32 .npy [1, 1, T x frame size]; --stream: the streaming semantics", cmd_decode},
    {"info", "info                      the compiled configuration, target, weight format, memory", cmd_info},
    {"bench", "bench (--weights W | --random-weights SEED) [--frames 50] [--warmup 5] [--threads T] [--json]\n"
              "                          [--strict] [--copy-weights]\n"
              "                          per-frame latency of streaming encode, then decode, of a test signal\n"
              "                          (the first --warmup frames each way not timed)", cmd_bench},
    {"pack", CLI_PACK_USAGE, cli_pack},
};

int kiln_codec_cli_main(const struct kiln_model_desc *desc, int argc, char **argv)
{
    if (desc->kind != KILN_MODEL_CODEC) {
        fprintf(stderr, "%s: internal error: not a codec (kiln_cli_main runs a language model)\n", desc->name);
        return 2;
    }
    return cli_dispatch(desc, subcommands, CLI_NUM_OPTIONS(subcommands), argc, argv);
}
