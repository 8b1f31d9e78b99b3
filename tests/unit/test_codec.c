/* test_codec.c: the codec runtime (codec.c) and a codec binary's command line (codec_cli.c), driven
 * through a hand-written toy codec whose step functions say what they were given: a frame of 8
 * samples to 2 codes of 16 bins, a code telling the frame's index in its stream and whether it ran
 * whole, the other the frame's sum; decoded samples telling the codes, the frame's index and
 * `whole`. Checks the whole-file padding and [codebooks][T] layout, streaming, code checks, state save
 * and restore, the memory guard, and the CLI's subcommands, outputs, notes and errors (in process). */
#include "audio.h"
#include "check.h"
#include "kiln_rt.h"
#include "npy.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { RATE = 100, FRAME = 8, CODEBOOKS = 2, BINS = 16 };

struct toy_weights {
    const float *gain;               /* [1]: decoded samples are scaled by it */
};
struct toy_stream {
    int64_t encoded, decoded;        /* frames stepped each way */
};

/* codes[0]: the frame's index in the stream (mod 8), + 8 when whole; codes[1]: its sum (mod 16) */
static void toy_encode(const void *weights, void *stream, const float *pcm, int32_t *codes, int whole)
{
    (void)weights;
    struct toy_stream *s = stream;
    float sum = 0;
    for (int i = 0; i < FRAME; i++)
        sum += pcm[i];
    codes[0] = (int32_t)(s->encoded++ % 8) + (whole ? 8 : 0);
    codes[1] = (int32_t)lrintf(sum) & 15;
}

/* pcm[i] = gain * (codes[i % 2] + 16 * the frame's index) (+ 0.5 when whole) */
static void toy_decode(const void *weights, void *stream, const int32_t *codes, float *pcm, int whole)
{
    const struct toy_weights *w = weights;
    struct toy_stream *s = stream;
    for (int i = 0; i < FRAME; i++)
        pcm[i] = w->gain[0] * (float)(codes[i % 2] + 16 * s->decoded) + (whole ? 0.5f : 0.0f);
    s->decoded++;
}

static void toy_reset(void *stream) { memset(stream, 0, sizeof(struct toy_stream)); }

static const struct kiln_weight_desc toy_weight_descs[] = {
    {.name = "decoder.gain", .rank = 1, .shape = {1}, .fold_alpha = -1, .field_offset = offsetof(struct toy_weights, gain)},
};
static const struct kiln_state_desc toy_states[] = {
    {"encoded", 0, 8, KILN_STATE_COUNTER, "encoder"}, {"decoded", 8, 8, KILN_STATE_COUNTER, "decoder"},
};
static const struct kiln_graph_desc toy_graphs[] = {{"encoder", 2}, {"decoder", 2}};
static const struct kiln_model_desc toy = {
    .name = "toy", .target = "scalar", .cpu_features = "", .weight_format = "f32", .kv_format = "f32",
    .num_params = 1, .frame_rate = 12.5, .num_weights = 1, .weights = toy_weight_descs,
    .weights_struct_size = sizeof(struct toy_weights), .stream_bytes = sizeof(struct toy_stream), .num_states = 2,
    .states = toy_states, .num_graphs = 2, .graphs = toy_graphs, .stream_reset = toy_reset, .kind = KILN_MODEL_CODEC,
    .sample_rate = RATE, .frame_size = FRAME, .num_codebooks = CODEBOOKS, .bins = BINS, .encode = toy_encode,
    .decode = toy_decode,
};

static char dir[64] = "/tmp/kiln_test_codec_XXXXXX";
static float gain;                   /* of --random-weights 1 */

/* DIR/name, in one of 16 buffers used in turn */
static const char *in_dir(const char *name)
{
    static char paths[16][128];
    static int next;
    char *p = paths[next++ % 16];
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

static void test_api(void)
{
    struct kiln_model model;
    char err[512] = "";
    CHECK(kiln_model_random(&toy, 1, &model, err, sizeof err) == 0, "%s", err);
    gain = ((const struct toy_weights *)model.weights.table)->gain[0];

    /* whole-file: 2.5 frames of ones, zero-padded to 3, codes [codebooks][T] */
    float pcm[20];
    for (int i = 0; i < 20; i++)
        pcm[i] = 1;
    int32_t codes[CODEBOOKS * 3];
    CHECK(kiln_codec_encode(&model, pcm, 20, codes, err, sizeof err) == 0, "%s", err);
    const int32_t want[CODEBOOKS * 3] = {8, 9, 10, 8, 8, 4};
    CHECK(memcmp(codes, want, sizeof want) == 0, "whole-file codes %d %d %d / %d %d %d", codes[0], codes[1], codes[2],
          codes[3], codes[4], codes[5]);
    float out[3 * FRAME];
    CHECK(kiln_codec_decode(&model, codes, 3, out, err, sizeof err) == 0, "%s", err);
    int wrong = 0;
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < FRAME; i++)
            wrong += out[t * FRAME + i] != gain * (float)(codes[(i % 2) * 3 + t] + 16 * t) + 0.5f;
    CHECK(wrong == 0, "%d whole-file samples differ", wrong);
    codes[5] = 16;
    CHECK(kiln_codec_decode(&model, codes, 3, out, err, sizeof err) == 1 &&
          strcmp(err, "codes[1, 2] = 16 is outside [0, 16)") == 0, "got '%s'", err);
    CHECK(kiln_codec_encode(&model, pcm, 0, codes, err, sizeof err) == 0, "no samples: %s", err);

    /* streaming, and a state saved and restored continues bit-identically */
    struct kiln_codec *c = kiln_codec_new(&model);
    CHECK(c != NULL, "kiln_codec_new");
    int32_t frame[CODEBOOKS], again[CODEBOOKS];
    for (int t = 0; t < 3; t++)
        kiln_codec_encode_step(c, pcm, frame);
    CHECK(frame[0] == 2 && frame[1] == 8, "the third streaming frame's codes %d %d", frame[0], frame[1]);
    const size_t size = kiln_codec_state_size(c);
    char *saved = malloc(size);
    kiln_codec_save(c, saved);
    kiln_codec_encode_step(c, pcm, frame);
    CHECK(kiln_codec_restore(c, saved, size) == 0, "restore");
    kiln_codec_encode_step(c, pcm, again);
    CHECK(frame[0] == 3 && memcmp(frame, again, sizeof frame) == 0, "after restore: %d, not %d", again[0], frame[0]);
    CHECK(kiln_codec_restore(c, saved, size - 1) == 1, "a state of another size restored");
    saved[0] ^= 1;
    CHECK(kiln_codec_restore(c, saved, size) == 1, "a state with another magic restored");
    free(saved);
    const int32_t bad[CODEBOOKS] = {3, -1};
    CHECK(kiln_codec_decode_step(c, bad, out) == 1, "a code of -1 decoded");
    const int32_t good[CODEBOOKS] = {3, 5};
    CHECK(kiln_codec_decode_step(c, good, out) == 0 && out[0] == gain * 3 && out[1] == gain * 5,
          "the first decoded frame (after a refused one): %g %g", out[0], out[1]);
    kiln_codec_reset(c);
    kiln_codec_encode_step(c, pcm, frame);
    CHECK(frame[0] == 0, "reset: the frame index is %d", frame[0]);
    kiln_codec_free(c);

    struct kiln_model_desc lm = toy;
    lm.kind = KILN_MODEL_LM;
    struct kiln_model not_codec = {.desc = &lm, .weights = model.weights};
    CHECK(kiln_codec_new(&not_codec) == NULL, "a codec over a language model");
    CHECK(kiln_codec_encode(&not_codec, pcm, 20, codes, err, sizeof err) == 1 && strcmp(err, "toy: not a codec") == 0,
          "got '%s'", err);
    kiln_model_free(&model);

    /* the memory guard of a descriptor that lists no other formats */
    setenv("KILN_MEM_AVAILABLE", "10", 1);
    CHECK(kiln_model_random(&toy, 1, &model, err, sizeof err) == 1 &&
          strcmp(err, "not enough memory: the weights need 64 B in f32 and a stream 16 B (80 B in all), and 10 B is "
                      "available (KILN_MEM_AVAILABLE)") == 0, "got '%s'", err);
    unsetenv("KILN_MEM_AVAILABLE");
}

/* ---- the command line, run in this process with stdout and stderr in files ---- */

static char out_text[4096], err_text[4096];

static void read_into(const char *path, char *text, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, size - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    remove(path);
}

/* Runs `toy ARGS...` (NULL-terminated); its status, what it printed in out_text and err_text */
static int run(const char *first, ...)
{
    char *argv[32] = {"toy", (char *)first};
    int argc = 2;
    va_list ap;
    va_start(ap, first);
    for (char *a; (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    char out_path[128], err_path[128];
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    fflush(stdout), fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600), err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out_fd, 1), dup2(err_fd, 2);
    const int rc = kiln_cli_main(&toy, argc, argv);
    fflush(stdout), fflush(stderr);
    dup2(saved_out, 1), dup2(saved_err, 2);
    close(saved_out), close(saved_err), close(out_fd), close(err_fd);
    read_into(out_path, out_text, sizeof out_text);
    read_into(err_path, err_text, sizeof err_text);
    return rc;
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

static void check_lines(const char *text, const char *const *lines, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        CHECK(strstr(text, lines[i]) != NULL, "%s lacks the line '%s':\n%s", what, lines[i], text);
}

/* CODES.npy holds int32 [1, codebooks, T] equal to want[codebooks][T] */
static void check_codes_file(const char *path, const int32_t *want, int T, const char *what)
{
    struct npy_array a;
    char err[512];
    int ok = npy_read(path, &a, err, sizeof err) == 0;
    CHECK(ok && a.dtype == NPY_I32 && a.rank == 3 && a.shape[0] == 1 && a.shape[1] == CODEBOOKS && a.shape[2] == T &&
          memcmp(a.data, want, sizeof(int32_t) * CODEBOOKS * (size_t)T) == 0, "%s: %s", what, ok ? "other codes" : err);
    if (ok)
        npy_free(&a);
}

static void test_cli_encode(void)
{
    float pcm[20];
    for (int i = 0; i < 20; i++)
        pcm[i] = 1;
    const int64_t shape[3] = {1, 1, 20};
    char err[512], expected[512];
    const char *audio = in_dir("in.npy"), *codes = in_dir("codes.npy");
    CHECK(npy_write(audio, NPY_F32, 3, shape, pcm, err, sizeof err) == 0, "%s", err);
    CHECK(run("encode", "--random-weights", "1", "--audio", audio, "--out", codes, NULL) == 0, "encode: %s", err_text);
    const int32_t whole[] = {8, 9, 10, 8, 8, 4};
    check_codes_file(codes, whole, 3, "encode");
    CHECK(run("encode", "--random-weights", "1", "--audio", audio, "--out", codes, "--stream", "--threads", "1", NULL) == 0,
          "encode --stream: %s", err_text);
    const int32_t streamed[] = {0, 1, 8, 8};
    check_codes_file(codes, streamed, 2, "encode --stream");
    snprintf(expected, sizeof expected, "note: %s: --stream drops the last 4 samples (less than a frame of 8)\n", audio);
    CHECK(strcmp(err_text, expected) == 0, "\n  got      '%s'\n  expected '%s'", err_text, expected);

    /* a 200 Hz stereo WAV: mixed down and resampled, each said */
    float stereo[2 * 64] = {0};
    CHECK(audio_write(in_dir("mono200.wav"), AUDIO_WAV_F32, stereo, 64, 200, err, sizeof err) == 0, "%s", err);
    CHECK(run("encode", "--random-weights", "1", "--audio", in_dir("mono200.wav"), "--out", codes, NULL) == 0, "%s",
          err_text);
    snprintf(expected, sizeof expected, "note: %s: resampled from 200 Hz to 100 Hz (libsoxr)\n", in_dir("mono200.wav"));
    CHECK(strcmp(err_text, expected) == 0, "\n  got      '%s'\n  expected '%s'", err_text, expected);
    remove(in_dir("mono200.wav"));

    const int64_t short_shape[3] = {1, 1, 5};
    npy_write(audio, NPY_F32, 3, short_shape, pcm, err, sizeof err);
    remove(codes);
    snprintf(expected, sizeof expected, "toy encode: error: %s: 5 samples, less than the one whole frame --stream "
             "encodes at least: a frame is 8\n", audio);
    CHECK(run("encode", "--random-weights", "1", "--audio", audio, "--out", codes, "--stream", NULL) == 1 &&
          strcmp(err_text, expected) == 0 && !exists(codes), "\n  got      '%s'\n  expected '%s'", err_text, expected);
    CHECK(run("encode", "--random-weights", "1", "--audio", audio, NULL) == 1 &&
          strcmp(err_text, "toy encode: error: --weights W (or --random-weights SEED), --audio and --out are required\n"
                           "(toy encode --help shows the usage)\n") == 0, "got '%s'", err_text);
    CHECK(run("encode", "--random-weights", "1", "--audio", audio, "--out", codes, "--wav", "s16", NULL) == 1 &&
          strstr(err_text, "unknown argument '--wav'"), "encode --wav: '%s'", err_text);
    remove(audio);
}

static void test_cli_decode(void)
{
    const int32_t codes[] = {1, 2, 3, 15, 0, 7}; /* [2][3] */
    const int64_t shape[3] = {1, CODEBOOKS, 3};
    char err[512], expected[512];
    const char *path = in_dir("codes.npy"), *npy = in_dir("out.npy"), *wav = in_dir("out.wav");
    CHECK(npy_write(path, NPY_I32, 3, shape, codes, err, sizeof err) == 0, "%s", err);
    for (int stream = 1; stream >= 0; stream--) { /* (whole last: the .wav below is compared with it) */
        CHECK(run("decode", "--random-weights", "1", "--codes", path, "--out", npy, stream ? "--stream" : NULL, NULL) == 0,
              "decode: %s", err_text);
        float *x = NULL;
        int64_t n = 0;
        CHECK(audio_read(npy, RATE, &x, &n, err, sizeof err) == 0 && n == 3 * FRAME, "decode's .npy: %s", err);
        int wrong = 0;
        for (int t = 0; x && t < 3; t++)
            for (int i = 0; i < FRAME; i++)
                wrong += x[t * FRAME + i] != gain * (float)(codes[(i % 2) * 3 + t] + 16 * t) + (stream ? 0 : 0.5f);
        CHECK(wrong == 0, "decode%s: %d samples differ", stream ? " --stream" : "", wrong);
        free(x);
    }
    CHECK(run("decode", "--random-weights", "1", "--codes", path, "--out", wav, NULL) == 0, "decode .wav: %s", err_text);
    float *x = NULL, *y = NULL;
    int64_t n = 0, m = 0;
    CHECK(audio_read(wav, RATE, &x, &n, err, sizeof err) == 0 && audio_read(npy, RATE, &y, &m, err, sizeof err) == 0 &&
          n == m && memcmp(x, y, (size_t)n * sizeof *x) == 0, "the f32 WAV and the .npy differ");
    free(x), free(y);
    remove(npy), remove(wav);

    /* errors: nothing written */
    const int32_t bad[] = {1, 2, 3, 15, 16, 7};
    npy_write(path, NPY_I32, 3, shape, bad, err, sizeof err);
    snprintf(expected, sizeof expected, "toy decode: error: %s: codes[0, 1, 1] = 16 is outside [0, 16)\n", path);
    CHECK(run("decode", "--random-weights", "1", "--codes", path, "--out", npy, NULL) == 1 &&
          strcmp(err_text, expected) == 0 && !exists(npy), "\n  got      '%s'\n  expected '%s'", err_text, expected);
    const int64_t three[3] = {1, 3, 2};
    npy_write(path, NPY_I32, 3, three, bad, err, sizeof err);
    snprintf(expected, sizeof expected, "toy decode: error: %s: codes must be int32 or int64 of shape [1, 2, T] (1 <= T "
             "<= 2^24); they are int32 of shape [1, 3, 2]\n", path);
    CHECK(run("decode", "--random-weights", "1", "--codes", path, "--out", npy, NULL) == 1 &&
          strcmp(err_text, expected) == 0 && !exists(npy), "\n  got      '%s'\n  expected '%s'", err_text, expected);
    CHECK(run("decode", "--random-weights", "1", "--codes", path, "--out", in_dir("out.mp3"), NULL) == 1 &&
          strstr(err_text, "toy decode: error: --out names a .wav or a .npy file, not "), "got '%s'", err_text);
    CHECK(run("decode", "--random-weights", "1", "--codes", path, "--out", npy, "--wav", "s16", NULL) == 1 &&
          strstr(err_text, "toy decode: error: --wav is for a .wav output\n"), "got '%s'", err_text);
    CHECK(run("decode", "--random-weights", "1", "--codes", path, "--out", wav, "--wav", "u8", NULL) == 1 &&
          strstr(err_text, "toy decode: error: --wav wants s16 or f32\n"), "got '%s'", err_text);
    remove(path);
}

static void test_cli_others(void)
{
    CHECK(run("info", NULL) == 0, "info: %s", err_text);
    static const char *const info[] = {"model          toy\n", "kind           codec\n", "target         scalar\n",
                                       "sample rate    100 Hz, mono\n", "frame size     8 samples (80 ms)\n",
                                       "codebooks      2, of 16 bins each\n",
                                       "stream state   16 B per stream (16 B counters, 0 B scratch)\n",
                                       "step functions encoder (up to 2 rows a call), decoder (up to 2 rows a call)\n"};
    check_lines(out_text, info, 8, "info");
    CHECK(run("--help", NULL) == 0 && strstr(out_text, "toy: the toy codec compiled by kilnc") &&
          strstr(out_text, "  toy encode (--weights W") && strstr(out_text, "  toy pack IN.safetensors"), "--help: %s",
          out_text);
    CHECK(run("decode", "--help", NULL) == 0 && strncmp(out_text, "usage: toy decode (--weights W", 30) == 0, "%s", out_text);
    CHECK(run("forward", NULL) == 1 && strstr(err_text, "toy: error: unknown command 'forward'"), "%s", err_text);
    CHECK(run("bench", "--random-weights", "1", "--frames", "5", "--json", NULL) == 0 &&
          strstr(out_text, "\"frames\": 5, \"ms_median\": ") && strstr(out_text, "\"threads\": 1, \"encode_ms_median\": ") &&
          strstr(out_text, "\"components\": {"), "bench --json: %s%s", out_text, err_text);
    CHECK(run("bench", "--random-weights", "1", NULL) == 0 && strstr(out_text, "toy bench: 50 frames") &&
          strstr(out_text, "  real time     "), "bench: %s%s", out_text, err_text);
    CHECK(run("bench", "--frames", "0", "--random-weights", "1", NULL) == 1 &&
          strstr(err_text, "--frames wants an integer from 1 to 1000000, not '0'"), "%s", err_text);

    /* pack: a .kw of the toy's weights, then decoding from it */
    float one = 1;
    char header[128], err[512];
    int n = snprintf(header, sizeof header, "{\"decoder.gain\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}");
    FILE *f = fopen(in_dir("w.safetensors"), "wb");
    const uint64_t length = (uint64_t)n;
    CHECK(f && fwrite(&length, 8, 1, f) == 1 && fwrite(header, 1, (size_t)n, f) == (size_t)n && fwrite(&one, 4, 1, f) == 1 &&
          fclose(f) == 0, "cannot write the toy's weights");
    CHECK(run("pack", in_dir("w.safetensors"), in_dir("w.kw"), NULL) == 0, "pack: %s", err_text);
    const int32_t codes[] = {3, 4};
    const int64_t shape[3] = {1, CODEBOOKS, 1};
    npy_write(in_dir("c.npy"), NPY_I32, 3, shape, codes, err, sizeof err);
    CHECK(run("decode", "--weights", in_dir("w.kw"), "--codes", in_dir("c.npy"), "--out", in_dir("o.npy"), "--stream",
              NULL) == 0, "decode from a .kw: %s", err_text);
    float *x = NULL;
    int64_t m = 0;
    CHECK(audio_read(in_dir("o.npy"), RATE, &x, &m, err, sizeof err) == 0 && m == FRAME && x[0] == 3 && x[1] == 4,
          "decoded with a gain of 1: %g %g", x ? x[0] : -1, x ? x[1] : -1);
    free(x);
    static const char *const files[] = {"w.safetensors", "w.kw", "c.npy", "o.npy"};
    for (int i = 0; i < 4; i++)
        remove(in_dir(files[i]));
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_api();
    test_cli_encode();
    test_cli_decode();
    test_cli_others();
    rmdir(dir);
    return check_finish();
}
