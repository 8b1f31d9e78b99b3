/* test_stream.c: the streaming API of a generated model (built against its NAME.h; the script
 * tests/stream.sh compiles it with -DMODEL_HEADER and -DMODEL_DESC). Checks:
 *   - stepping a stream equals `forward` on the replayed inputs (hidden state and text logits, 1e-5);
 *   - a 45,000-step run (an hour of frames) stays finite with flat resident memory;
 *   - a stream saved at step 5,000 and restored into a new one continues bit-identically;
 *   - two streams stepped alternately equal the same two run alone;
 *   - kiln_gen_step never allocates (malloc and friends are wrapped by the linker and counted).
 * usage: test_stream STREAM_GOLDEN_DIR WEIGHTS.safetensors|random
 * (the golden dir gives user codes and the matching replay; `random` runs on random weights). */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "npy.h"
#include MODEL_HEADER

static const struct kiln_model_desc *const desc = &MODEL_DESC;

/* ---- allocation counting (linked with -Wl,--wrap=...) ---------------------------------------- */
static long allocations;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void *__wrap_malloc(size_t n) { allocations++; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { allocations++; return __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { allocations++; return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { allocations++; return __real_aligned_alloc(a, n); }

static void *read_or_die(const char *dir, const char *file, struct npy_array *a)
{
    char path[1024], err[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (npy_read(path, a, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    return a->data;
}

/* Streaming and teacher-forced forward on the same inputs: the stream runs greedily on the golden
   user codes; the undelayed codes that make forward see exactly what each stream step saw are
   rebuilt from the stream's inputs (as tf_replay_codes.npy is for the reference model). */
static void check_replay(const struct kiln_model *model, const char *dir)
{
    struct npy_array user;
    const int32_t *user_codes = read_or_die(dir, "user_codes.npy", &user);
    const int N = (int)user.shape[2], T = N - 1, K = desc->num_streams, D = desc->dim, TC = desc->text_card;
    int32_t *inputs = malloc((size_t)N * K * sizeof *inputs), *codes = calloc((size_t)K * T, sizeof *codes);
    const int users = desc->n_q - desc->dep_q;
    struct kiln_sampling greedy = {0, 0, 0, 0, 0};
    struct kiln_gen *gen = kiln_gen_new(model, &greedy);
    float *stream_hidden = malloc((size_t)N * D * sizeof(float)), *stream_text = malloc((size_t)N * TC * sizeof(float));
    int32_t frame[64], out[64];
    for (int t = 0; t < N; t++) {
        for (int j = 0; j < users; j++)
            frame[j] = user_codes[(size_t)j * N + t];
        kiln_gen_step(gen, frame, out);
        memcpy(inputs + (size_t)t * K, kiln_gen_last_input(gen), (size_t)K * sizeof *inputs);
        memcpy(stream_hidden + (size_t)t * D, kiln_gen_hidden(gen), (size_t)D * sizeof(float));
        memcpy(stream_text + (size_t)t * TC, kiln_gen_text_logits(gen), (size_t)TC * sizeof(float));
    }
    /* forward's step s >= 1 reads codes[k][s - 1 - delay_k]: the stream's input of step s */
    for (int k = 0; k < K; k++)
        for (int t = 0; t + 1 + desc->delays[k] < N; t++)
            codes[(size_t)k * T + t] = inputs[(size_t)(t + 1 + desc->delays[k]) * K + k];
    float *hidden = malloc((size_t)T * D * sizeof(float)), *text = malloc((size_t)T * TC * sizeof(float));
    float *audio = malloc((size_t)desc->dep_q * T * desc->card * sizeof(float));
    char err[256];
    CHECK(kiln_forward(desc, &model->weights, codes, 1, T, text, audio, hidden, err, sizeof err) == 0, "%s", err);
    double e_hidden = rel_error(stream_hidden, hidden, (size_t)T * D);
    /* text delay 0: forward's text logits at t are step t's */
    double e_text = rel_error(stream_text, text, (size_t)T * TC);
    CHECK(e_hidden <= 1e-5, "stream vs forward hidden: %g", e_hidden);
    CHECK(T % 16 != 0, "the replay ends inside a mini-batch (T = %d)", T);
    CHECK(e_text <= 1e-5, "stream vs forward text logits: %g", e_text);
    printf("  stream vs forward: hidden %.3g, text logits %.3g (relative)\n", e_hidden, e_text);
    kiln_gen_free(gen);
    free(stream_hidden), free(stream_text), free(hidden), free(text), free(audio), free(inputs), free(codes);
    npy_free(&user);
}

static long resident_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    if (f)
        fclose(f);
    return resident * 4;
}

static uint32_t lcg(uint32_t *state) { return *state = *state * 1664525u + 1013904223u; }

/* One frame of pseudo-random user codes. */
static void user_frame(uint32_t *state, int32_t *frame)
{
    for (int j = 0; j < desc->n_q - desc->dep_q; j++)
        frame[j] = (int32_t)(lcg(state) >> 8) % desc->card;
}

static bool same_step(struct kiln_gen *a, struct kiln_gen *b, const int32_t *frame)
{
    int32_t out_a[64], out_b[64];
    int ra = kiln_gen_step(a, frame, out_a), rb = kiln_gen_step(b, frame, out_b);
    return ra == rb && memcmp(out_a, out_b, (size_t)(1 + desc->dep_q) * sizeof(int32_t)) == 0 &&
           memcmp(kiln_gen_text_logits(a), kiln_gen_text_logits(b), (size_t)desc->text_card * sizeof(float)) == 0 &&
           memcmp(kiln_gen_audio_logits(a), kiln_gen_audio_logits(b),
                  (size_t)desc->dep_q * desc->card * sizeof(float)) == 0;
}

static bool logits_finite(const struct kiln_gen *g)
{
    const float *t = kiln_gen_text_logits(g), *a = kiln_gen_audio_logits(g);
    for (int i = 0; i < desc->text_card; i++)
        if (!isfinite(t[i]))
            return false;
    for (int i = 0; i < desc->dep_q * desc->card; i++)
        if (!isfinite(a[i]))
            return false;
    return true;
}

/* A long sampled run (45,000 steps, an hour of conversation; KILN_LONG_STEPS overrides): finite,
   flat memory, no allocation; save/restore at 5,000. */
static void check_long_run(const struct kiln_model *model)
{
    const int steps = getenv("KILN_LONG_STEPS") ? atoi(getenv("KILN_LONG_STEPS")) : 45000;
    struct kiln_sampling sampling = KILN_SAMPLING_DEFAULT;
    sampling.seed = 11;
    struct kiln_gen *gen = kiln_gen_new(model, &sampling), *copy = kiln_gen_new(model, &sampling);
    size_t state_size = kiln_gen_state_size(gen);
    void *saved = malloc(state_size);
    uint32_t rng = 5;
    int32_t frame[64], out[64];
    bool finite = true, in_range = true, continued = true;
    long rss_early = 0, before = allocations;
    for (int t = 0; t < steps; t++) {
        user_frame(&rng, frame);
        if (t == 5000) {
            kiln_gen_save(gen, saved);
            CHECK(kiln_gen_restore(copy, saved, state_size) == 0, "restore at 5000");
            uint32_t rng_copy = rng;
            int32_t f2[64];
            memcpy(f2, frame, sizeof f2);
            for (int u = 0; u < 300 && continued; u++) {
                continued = same_step(gen, copy, f2);
                user_frame(&rng_copy, f2);
            }
            CHECK(continued, "a stream restored at step 5000 continues bit-identically for 300 steps");
            t += 299;
            rng = rng_copy;
            continue;
        }
        if (kiln_gen_step(gen, frame, out))
            for (int k = 0; k <= desc->dep_q; k++)
                in_range &= out[k] >= 0 && out[k] < (k == 0 ? desc->text_card : desc->card);
        finite &= logits_finite(gen);
        if (t == (steps > 12000 ? 6000 : steps * 3 / 4)) /* after the save/restore buffers were touched */
            rss_early = resident_kib();
    }
    long rss_late = resident_kib();
    CHECK(finite, "logits stay finite over %d steps", steps);
    CHECK(in_range, "every generated token is in its vocabulary");
    CHECK(allocations == before, "kiln_gen_step allocated %ld times", allocations - before);
    CHECK(rss_early > 0 && rss_late - rss_early <= 256, "resident memory grew by %ld KiB after step %d of %d",
          rss_late - rss_early, steps > 12000 ? 6000 : steps * 3 / 4, steps);
    printf("  %d steps: resident %ld KiB at step %d, %ld KiB at the end; %ld allocations in steps\n", steps, rss_early,
           steps > 12000 ? 6000 : steps * 3 / 4, rss_late, allocations - before);
    ((char *)saved)[0] ^= 1;
    CHECK(kiln_gen_restore(copy, saved, state_size) == 1, "restore refuses a damaged state");
    CHECK(kiln_gen_restore(copy, saved, state_size - 1) == 1, "restore refuses a state of the wrong size");
    free(saved);
    kiln_gen_free(gen), kiln_gen_free(copy);
}

/* Two streams stepped alternately equal the same two streams run one after the other. */
static void check_interleaved(const struct kiln_model *model)
{
    enum { STEPS = 200, W = 64 };
    struct kiln_sampling sa = KILN_SAMPLING_DEFAULT, sb = KILN_SAMPLING_DEFAULT;
    sa.seed = 1, sb.seed = 2;
    static int32_t alone[2][STEPS][W], together[2][STEPS][W];
    for (int mode = 0; mode < 2; mode++) {
        struct kiln_gen *g[2] = {kiln_gen_new(model, &sa), kiln_gen_new(model, &sb)};
        uint32_t rng[2] = {100, 200};
        int32_t frame[W];
        if (mode == 0) {
            for (int s = 0; s < 2; s++)
                for (int t = 0; t < STEPS; t++)
                    user_frame(&rng[s], frame), kiln_gen_step(g[s], frame, alone[s][t]);
        } else {
            for (int t = 0; t < STEPS; t++)
                for (int s = 0; s < 2; s++)
                    user_frame(&rng[s], frame), kiln_gen_step(g[s], frame, together[s][t]);
        }
        kiln_gen_free(g[0]), kiln_gen_free(g[1]);
    }
    CHECK(memcmp(alone, together, sizeof alone) == 0, "two streams stepped alternately equal two run alone");
    CHECK(memcmp(alone[0], alone[1], sizeof alone[0]) != 0, "the two streams differ from each other");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_stream STREAM_GOLDEN_DIR WEIGHTS\n");
        return 2;
    }
    struct kiln_model model, random_model;
    char err[1024];
    bool random = strcmp(argv[2], "random") == 0;
    if ((random ? kiln_model_random(desc, 9, &model, err, sizeof err)
                : kiln_model_load(desc, argv[2], &model, err, sizeof err)) ||
        kiln_model_random(desc, 3, &random_model, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    check_replay(&model, argv[1]);
    check_interleaved(&model);
    check_long_run(&random_model);
    kiln_model_free(&model), kiln_model_free(&random_model);
    return check_finish();
}
