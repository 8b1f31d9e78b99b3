/* converse.c: `NAME converse` (docs/converse.md): a conversation over files or pipes, one frame at a
 * time through kiln_conversation_step. The user's audio comes from a file (anything audio.c reads,
 * zero-padded to whole frames) or from stdin as raw PCM; the model's goes to a file at the end or to
 * stdout, raw, flushed per frame. A progress line (frame, ms, real-time factor, late frames) on
 * stderr, then a summary: per-frame p50 / p99, the share of each part of a step, the real-time
 * factor. With stdin or stdout a pipe, frame i is late when it is written more than (i + 1) frame
 * durations after the conversation's start: a live pipeline (arecord | converse | aplay) fell behind.
 * The start moves forward whenever converse had to wait for the user's audio (input slower than real
 * time is not converse falling behind); audio that was waiting in the pipe does not move it. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "audio.h"
#include "bench.h"
#include "npy.h"
#include "stats.h"
#include "system_cli.h"

#define MAX_FRAMES (1 << 24)         /* 15 days at 12.5 Hz */
#define INPUT_WAIT_S 0.002          /* a read that took longer waited for the input */
#define RSS_EARLY_FRAME 25           /* the summary's resident memory after 2 s and at the end */

struct converse_args {
    struct system_weights weights;
    struct kiln_sampling sampling;
    const char *in, *out, *text_out, *tokenizer, *format, *wav, *codes_out, *trace;
    int threads;
    bool quiet;
};

/* Raw PCM on a pipe: s16le or f32le */
struct raw_pcm {
    bool f32;
    size_t sample_bytes;
    unsigned char *bytes;            /* [frame_size * sample_bytes] */
};

/* Reads a frame of raw PCM from stdin into pcm[F] (a last partial frame zero-padded); returns the
   samples read (0 at the end) */
static int raw_read(struct raw_pcm *r, float *pcm, int F)
{
    size_t want = (size_t)F * r->sample_bytes, have = 0;
    while (have < want) {
        size_t n = fread(r->bytes + have, 1, want - have, stdin);
        if (n == 0)
            break;
        have += n;
    }
    const int samples = (int)(have / r->sample_bytes);
    for (int i = 0; i < F; i++) {
        const unsigned char *b = r->bytes + (size_t)i * r->sample_bytes;
        if (i >= samples)
            pcm[i] = 0;
        else if (r->f32) {
            uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            memcpy(&pcm[i], &u, sizeof u);
        } else
            pcm[i] = (float)(int16_t)(uint16_t)(b[0] | b[1] << 8) / 32768.0f;
    }
    return samples;
}

/* Writes pcm[F] to stdout as raw PCM and flushes; 0, or 1 when stdout is closed */
static int raw_write(struct raw_pcm *r, const float *pcm, int F)
{
    for (int i = 0; i < F; i++) {
        unsigned char *b = r->bytes + (size_t)i * r->sample_bytes;
        if (r->f32) {
            uint32_t u;
            memcpy(&u, &pcm[i], sizeof u);
            b[0] = (unsigned char)u, b[1] = (unsigned char)(u >> 8), b[2] = (unsigned char)(u >> 16), b[3] = (unsigned char)(u >> 24);
        } else {
            float x = pcm[i] > 1 ? 1 : pcm[i] < -1 ? -1 : pcm[i];
            int16_t v = (int16_t)(x * 32767.0f + (x >= 0 ? 0.5f : -0.5f));
            b[0] = (unsigned char)((uint16_t)v & 0xff), b[1] = (unsigned char)((uint16_t)v >> 8);
        }
    }
    return fwrite(r->bytes, r->sample_bytes, (size_t)F, stdout) != (size_t)F || fflush(stdout) != 0;
}

static int parse_args(int argc, char **argv, struct converse_args *a)
{
    *a = (struct converse_args){.sampling = KILN_SAMPLING_DEFAULT, .format = "s16le"};
    const struct cli_option opts[] = {
        SYSTEM_WEIGHT_OPTIONS(&a->weights),
        SYSTEM_SAMPLING_OPTIONS(&a->sampling),
        {"--in", OPT_TEXT, &a->in, 0, 0, NULL},
        {"--out", OPT_TEXT, &a->out, 0, 0, NULL},
        {"--text-out", OPT_TEXT, &a->text_out, 0, 0, NULL},
        {"--tokenizer", OPT_TEXT, &a->tokenizer, 0, 0, NULL},
        {"--format", OPT_TEXT, &a->format, 0, 0, NULL},
        {"--wav", OPT_TEXT, &a->wav, 0, 0, NULL},
        {"--codes-out", OPT_TEXT, &a->codes_out, 0, 0, NULL},
        {"--trace", OPT_TEXT, &a->trace, 0, 0, NULL},
        cli_threads_option(&a->threads),
        {"--quiet", OPT_SWITCH, &a->quiet, 0, 0, NULL},
    };
    if (cli_parse_options("converse", argc, argv, opts, CLI_NUM_OPTIONS(opts)))
        return 1;
    if (!a->in || !a->out)
        return cli_usage_error("converse", "%s", "--in (a file, or - for raw PCM on stdin) and --out (a .wav or "
                                                 ".npy file, or - for raw PCM on stdout) are required");
    if (strcmp(a->format, "s16le") != 0 && strcmp(a->format, "f32le") != 0)
        return cli_usage_error("converse", "--format wants s16le or f32le, not '%s'", a->format);
    const size_t len = strlen(a->out);
    const bool npy = len > 4 && strcmp(a->out + len - 4, ".npy") == 0, wav = len > 4 && strcmp(a->out + len - 4, ".wav") == 0;
    if (strcmp(a->out, "-") != 0 && !npy && !wav)
        return cli_usage_error("converse", "--out names a .wav or .npy file, or - (stdout), not '%s'", a->out);
    if (a->wav && (!wav || (strcmp(a->wav, "s16") != 0 && strcmp(a->wav, "f32") != 0)))
        return cli_usage_error("converse", "%s", wav ? "--wav wants s16 or f32" : "--wav is for a .wav output");
    if (a->text_out && strcmp(a->text_out, "-") == 0 && strcmp(a->out, "-") == 0)
        return cli_usage_error("converse", "%s", "--out - writes audio to stdout: the text goes to a --text-out file");
    kiln_set_threads(a->threads);
    return 0;
}

/* Where the time of a step goes (the generated code's kiln_profile_mark components) */
enum part { PART_ENCODE, PART_QUANTIZER, PART_TEMPORAL, PART_DEPFORMER, PART_SAMPLING, PART_DECODE, NUM_PARTS };
static const char *const part_names[NUM_PARTS] = {"Mimi encode (SEANet, transformer)", "Mimi quantizer (both ways)",
                                                  "temporal transformer", "depformer", "sampling",
                                                  "Mimi decode (transformer, SEANet)"};
static const enum part part_of[KILN_NUM_COMPONENTS] = {
    [KILN_EMBED] = PART_TEMPORAL, [KILN_TEMPORAL] = PART_TEMPORAL, [KILN_TEXT_HEAD] = PART_TEMPORAL,
    [KILN_DEPFORMER] = PART_DEPFORMER, [KILN_SAMPLE] = PART_SAMPLING, [KILN_SEANET_ENCODER] = PART_ENCODE,
    [KILN_ENCODER_TRANSFORMER] = PART_ENCODE, [KILN_QUANTIZER] = PART_QUANTIZER,
    [KILN_DECODER_TRANSFORMER] = PART_DECODE, [KILN_SEANET_DECODER] = PART_DECODE};

/* A line of /proc/self/status in kB ("VmRSS", "VmHWM"), or -1 */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    const size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            kb = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

/* What a run keeps: each frame's ms, the parts' totals, late frames, and (--codes-out) the codes */
struct run_record {
    double *frame_ms;                /* [capacity] */
    double part_ms[NUM_PARTS];
    int64_t frames, capacity, late;
    long rss_early_kb;               /* resident memory after RSS_EARLY_FRAME frames */
    int32_t *user_codes, *tokens;    /* [capacity][K], [capacity][1 + dep_q], or NULL */
    float *model_pcm;                /* [capacity * F] when the output is a file, else NULL */
};

/* Room for frame `frames`; 0, or 1 when out of memory */
static int record_grow(struct run_record *r, const struct system_desc *s, bool codes, bool pcm)
{
    if (r->frames < r->capacity)
        return 0;
    int64_t cap = r->capacity ? 2 * r->capacity : 1024;
    const size_t K = (size_t)s->codec->num_codebooks, W = 1 + (size_t)s->lm->dep_q, F = (size_t)s->codec->frame_size;
    void *p;
    if (!(p = realloc(r->frame_ms, (size_t)cap * sizeof *r->frame_ms)))
        return 1;
    r->frame_ms = p;
    if (codes) {
        if (!(p = realloc(r->user_codes, (size_t)cap * K * sizeof(int32_t))))
            return 1;
        r->user_codes = p;
        if (!(p = realloc(r->tokens, (size_t)cap * W * sizeof(int32_t))))
            return 1;
        r->tokens = p;
    }
    if (pcm) {
        if (!(p = realloc(r->model_pcm, (size_t)cap * F * sizeof(float))))
            return 1;
        r->model_pcm = p;
    }
    r->capacity = cap;
    return 0;
}

static void record_free(struct run_record *r) { free(r->frame_ms), free(r->user_codes), free(r->tokens), free(r->model_pcm); }

/* --codes-out DIR: DIR/user_codes.npy [1, K, N] (what LMGen read; generate --user takes it),
   DIR/tokens.npy [N, 1 + dep_q] (what it returned, -2 before; generate --out's layout) and
   DIR/model_codes.npy [1, dep_q, M] (the audio codes of the M frames it returned: what the codec
   decoded; decode --codes takes it) */
static int write_codes(const struct system_desc *s, const char *dir, const struct run_record *r)
{
    const int64_t N = r->frames, K = s->codec->num_codebooks, W = 1 + s->lm->dep_q;
    int32_t *user = malloc((size_t)(N * K) * sizeof *user), *model = malloc((size_t)(N * W) * sizeof *model);
    char path[4096], err[1024];
    int rc = 1;
    if (!user || !model) {
        free(user), free(model);
        fprintf(stderr, "%s converse: error: out of memory\n", cli_prog);
        return 2;
    }
    for (int64_t t = 0; t < N; t++)
        for (int64_t k = 0; k < K; k++)
            user[k * N + t] = r->user_codes[t * K + k];
    int64_t M = 0; /* (the frames LMGen returned: the last M) */
    while (M < N && r->tokens[(N - 1 - M) * W] != -2)
        M++;
    for (int64_t t = 0; t < M; t++)
        for (int64_t k = 0; k < W - 1; k++)
            model[k * M + t] = r->tokens[(N - M + t) * W + 1 + k];
    const int64_t user_shape[3] = {1, K, N}, token_shape[2] = {N, W}, model_shape[3] = {1, W - 1, M};
    snprintf(path, sizeof path, "%s/user_codes.npy", dir);
    if (!npy_write(path, NPY_I32, 3, user_shape, user, err, sizeof err)) {
        snprintf(path, sizeof path, "%s/tokens.npy", dir);
        if (!npy_write(path, NPY_I32, 2, token_shape, r->tokens, err, sizeof err)) {
            snprintf(path, sizeof path, "%s/model_codes.npy", dir);
            rc = npy_write(path, NPY_I32, 3, model_shape, model, err, sizeof err);
        }
    }
    if (rc)
        fprintf(stderr, "%s converse: error: %s\n", cli_prog, err);
    free(user), free(model);
    return rc;
}

/* --trace FILE: each frame's ms, one a line, in order */
static int write_trace(const char *path, const struct run_record *r)
{
    FILE *f = fopen(path, "w");
    for (int64_t t = 0; f && t < r->frames; t++)
        fprintf(f, "%.3f\n", r->frame_ms[t]);
    if (!f || fclose(f) != 0) {
        fprintf(stderr, "%s converse: error: cannot write %s\n", cli_prog, path);
        return 1;
    }
    return 0;
}

static void print_summary(const struct system_desc *s, struct run_record *r, bool live)
{
    const double frame = 1000.0 / s->lm->frame_rate, total = r->frames * frame / 1000.0;
    double sum = 0;
    for (int64_t t = 0; t < r->frames; t++)
        sum += r->frame_ms[t];
    const double p50 = quantile_of(r->frame_ms, (int)r->frames, 0.5), p99 = quantile_of(r->frame_ms, (int)r->frames, 0.99);
    fprintf(stderr, "%lld frames (%.1f s of audio) in %.1f s: per frame p50 %.2f ms, p99 %.2f ms, max %.2f ms (a frame "
                    "is %.0f ms); real-time factor %.2fx (p50), %s\n", (long long)r->frames, total, sum / 1000.0, p50,
            p99, r->frame_ms[r->frames - 1], frame, frame / p50,
            p99 < frame ? "real time (p99 under a frame)" : "NOT real time (p99 over a frame)");
    double parts = 0;
    for (int p = 0; p < NUM_PARTS; p++)
        parts += r->part_ms[p];
    fprintf(stderr, "per frame:");
    for (int p = 0; p < NUM_PARTS; p++)
        fprintf(stderr, "%s %s %.2f ms (%.0f%%)", p ? "," : "", part_names[p], r->part_ms[p] / r->frames,
                parts > 0 ? 100.0 * r->part_ms[p] / parts : 0.0);
    fprintf(stderr, "\n");
    fprintf(stderr, "weights read per frame: language model %.1f MB, codec %.1f MB; the LM's KV cache (%s) %.1f MB "
                    "at the last frame\n", (double)bench_weight_bytes_per_frame(s->lm) / 1e6,
            (double)bench_weight_bytes_per_frame(s->codec) / 1e6, s->lm->kv_format,
            bench_kv_bytes_per_frame(s->lm, r->frames - 1) / 1e6);
    if (r->rss_early_kb > 0)
        fprintf(stderr, "resident memory: %.1f MB after frame %d, %.1f MB at the end (peak %.1f MB)\n",
                r->rss_early_kb / 1024.0, RSS_EARLY_FRAME, status_kb("VmRSS") / 1024.0, status_kb("VmHWM") / 1024.0);
    if (live)
        fprintf(stderr, "late frames: %lld of %lld (written more than a frame after real time)\n", (long long)r->late,
                (long long)r->frames);
}

int converse_main(const struct system_desc *s, int argc, char **argv)
{
    struct converse_args a;
    if (parse_args(argc, argv, &a))
        return 1;
    const int F = s->codec->frame_size, W = 1 + s->lm->dep_q, K = s->codec->num_codebooks;
    const bool in_pipe = strcmp(a.in, "-") == 0, out_pipe = strcmp(a.out, "-") == 0;
    struct system_text text;
    if (system_text_open(s, "converse", a.tokenizer, &text))
        return 1;
    float *user = NULL;
    int64_t n = 0;
    char err[1024];
    if (!in_pipe && audio_read(a.in, s->codec->sample_rate, &user, &n, err, sizeof err)) {
        fprintf(stderr, "%s converse: error: %s\n", cli_prog, err);
        system_text_close(&text);
        return 1;
    }
    if (!in_pipe && (n < 1 || (n + F - 1) / F > MAX_FRAMES)) {
        fprintf(stderr, "%s converse: error: %s: %lld samples: %s\n", cli_prog, a.in, (long long)n,
                n < 1 ? "no audio to answer" : "more than 2^24 frames");
        free(user), system_text_close(&text);
        return 1;
    }
    FILE *text_file = a.text_out ? fopen(a.text_out, "w") : out_pipe ? NULL : stdout;
    if (a.text_out && !text_file) {
        fprintf(stderr, "%s converse: error: cannot write %s: %s\n", cli_prog, a.text_out, strerror(errno));
        free(user), system_text_close(&text);
        return 1;
    }
    struct kiln_model lm, codec;
    if (system_load(s, "converse", &a.weights, &lm, &codec)) {
        free(user), system_text_close(&text);
        if (a.text_out)
            fclose(text_file), remove(a.text_out);
        return 1;
    }
    struct kiln_conversation *c = kiln_conversation_new(&lm, &codec, &a.sampling);
    struct raw_pcm raw = {.f32 = strcmp(a.format, "f32le") == 0};
    raw.sample_bytes = raw.f32 ? 4 : 2;
    raw.bytes = malloc((size_t)F * raw.sample_bytes);
    float *in_frame = malloc((size_t)F * sizeof *in_frame), *out_frame = malloc((size_t)F * sizeof *out_frame);
    struct run_record r = {0};
    int rc = 2;
    if (!c || !raw.bytes || !in_frame || !out_frame) {
        fprintf(stderr, "%s converse: error: out of memory\n", cli_prog);
        goto done;
    }
    if (out_pipe)
        signal(SIGPIPE, SIG_IGN); /* (a reader that quits ends the conversation, below) */
    const double frame_s = 1.0 / s->lm->frame_rate;
    const bool live = in_pipe || out_pipe;
    double start = 0;
    for (;; r.frames++) {
        const double read_start = cli_seconds_now();
        if (in_pipe ? raw_read(&raw, in_frame, F) == 0 : r.frames * F >= n)
            break;
        const double read_end = cli_seconds_now();
        if (r.frames == 0)
            start = read_end;
        else if (read_end - read_start > INPUT_WAIT_S && read_end - (double)r.frames * frame_s > start)
            start = read_end - (double)r.frames * frame_s; /* (converse waited for the input) */
        if (!in_pipe) {
            const int64_t have = n - r.frames * F < F ? n - r.frames * F : F;
            memcpy(in_frame, user + r.frames * F, (size_t)have * sizeof *in_frame);
            memset(in_frame + have, 0, (size_t)(F - have) * sizeof *in_frame);
        }
        if (r.frames == MAX_FRAMES || record_grow(&r, s, a.codes_out != NULL, !out_pipe)) {
            fprintf(stderr, "%s converse: error: %s after %lld frames\n", cli_prog,
                    r.frames == MAX_FRAMES ? "too long a conversation" : "out of memory", (long long)r.frames);
            goto done;
        }
        const double t0 = cli_seconds_now();
        double parts[KILN_NUM_COMPONENTS];
        bench_profile_begin();
        const int32_t token = kiln_conversation_step(c, in_frame, out_frame);
        bench_profile_end(parts);
        const double t1 = cli_seconds_now();
        r.frame_ms[r.frames] = (t1 - t0) * 1e3;
        for (int k = 0; k < KILN_NUM_COMPONENTS; k++)
            r.part_ms[part_of[k]] += parts[k];
        if (a.codes_out) {
            memcpy(r.user_codes + r.frames * K, kiln_conversation_user_codes(c), (size_t)K * sizeof(int32_t));
            memcpy(r.tokens + r.frames * W, kiln_conversation_tokens(c), (size_t)W * sizeof(int32_t));
        }
        if (out_pipe && raw_write(&raw, out_frame, F)) {
            fprintf(stderr, "\n%s converse: note: stdout closed after %lld frames: the conversation ends\n", cli_prog,
                    (long long)r.frames);
            r.frames++;
            break;
        }
        if (!out_pipe)
            memcpy(r.model_pcm + r.frames * F, out_frame, (size_t)F * sizeof *out_frame);
        if (live && cli_seconds_now() > start + (double)(r.frames + 1) * frame_s)
            r.late++;
        if (r.frames + 1 == RSS_EARLY_FRAME)
            r.rss_early_kb = status_kb("VmRSS");
        char piece[256];
        if (text_file && system_text_of(&text, token, piece, sizeof piece)) {
            fputs(piece, text_file);
            fflush(text_file);
        }
        if (!a.quiet)
            fprintf(stderr, "\r  frame %lld   %.2f ms   real-time factor %.2fx   ", (long long)r.frames + 1,
                    r.frame_ms[r.frames], frame_s * 1e3 / r.frame_ms[r.frames]);
        if (!a.quiet && live && r.late)
            fprintf(stderr, "late %lld   ", (long long)r.late);
    }
    if (!a.quiet)
        fputc('\n', stderr);
    if (text_file == stdout && !a.quiet)
        fputc('\n', stdout);
    rc = 1;
    if (r.frames == 0) {
        fprintf(stderr, "%s converse: error: no audio on stdin\n", cli_prog);
        goto done;
    }
    if (!out_pipe) {
        const size_t len = strlen(a.out);
        enum audio_format format = strcmp(a.out + len - 4, ".npy") == 0 ? AUDIO_NPY
                                   : a.wav && strcmp(a.wav, "s16") == 0 ? AUDIO_WAV_S16 : AUDIO_WAV_F32;
        if (audio_write(a.out, format, r.model_pcm, r.frames * F, s->codec->sample_rate, err, sizeof err)) {
            fprintf(stderr, "%s converse: error: %s\n", cli_prog, err);
            goto done;
        }
    }
    if (a.codes_out && (rc = write_codes(s, a.codes_out, &r)))
        goto done;
    if (a.trace && (rc = write_trace(a.trace, &r)))
        goto done;
    print_summary(s, &r, live);
    rc = 0;
done:
    if (text_file && text_file != stdout && fclose(text_file) != 0 && rc == 0) {
        fprintf(stderr, "%s converse: error: cannot write %s\n", cli_prog, a.text_out);
        rc = 1;
    }
    kiln_conversation_free(c);
    kiln_model_free(&lm), kiln_model_free(&codec);
    system_text_close(&text);
    record_free(&r);
    free(user), free(raw.bytes), free(in_frame), free(out_frame);
    return rc;
}
