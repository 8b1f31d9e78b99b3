/* replay.c: a model at the edges of what the checker allows, on random weights (tests/edges.sh builds
 * it against the model's NAME.h and NAME.o from `kilnc --emit obj`, with -DMODEL_HEADER and
 * -DMODEL_DESC). Checks:
 *   - STEPS streamed steps (greedy, pseudo-random user codes) keep every logit finite and every
 *     token in its vocabulary;
 *   - stepping equals `forward` on the replayed inputs (hidden state and text logits, 1e-5), across
 *     the context window, the temporal rows of one forward call and TTT mini-batches;
 *   - a stream saved halfway and restored into a new one continues bit-identically.
 * usage: replay STEPS */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include MODEL_HEADER

static const struct kiln_model_desc *const desc = &MODEL_DESC;

static bool all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return false;
    return true;
}

static uint32_t lcg(uint32_t *state) { return *state = *state * 1664525u + 1013904223u; }

static void *must(void *p)
{
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

int main(int argc, char **argv)
{
    const int N = argc == 2 ? atoi(argv[1]) : 0;
    if (N < 2) {
        fprintf(stderr, "usage: replay STEPS (>= 2)\n");
        return 2;
    }
    struct kiln_model model;
    char err[1024];
    if (kiln_model_random(desc, 7, &model, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const int K = desc->num_streams, D = desc->dim, TC = desc->text_card, T = N - 1;
    const int users = desc->n_q - desc->dep_q, half = N / 2;
    const size_t audio = (size_t)desc->dep_q * desc->card;
    int32_t *user = must(calloc((size_t)N * users + 1, sizeof *user)), *out = must(malloc((1 + (size_t)desc->dep_q) * sizeof *out));
    int32_t *out2 = must(malloc((1 + (size_t)desc->dep_q) * sizeof *out2));
    int32_t *inputs = must(malloc((size_t)N * K * sizeof *inputs)), *codes = must(calloc((size_t)K * T, sizeof *codes));
    float *stream_hidden = must(malloc((size_t)N * D * sizeof(float))), *stream_text = must(malloc((size_t)N * TC * sizeof(float)));
    uint32_t rng = 12345;
    for (size_t i = 0; i < (size_t)N * users; i++)
        user[i] = (int32_t)((lcg(&rng) >> 8) % (uint32_t)desc->card);

    struct kiln_sampling greedy = {0, 0, 0, 0, 0};
    struct kiln_gen *gen = must(kiln_gen_new(&model, &greedy)), *copy = must(kiln_gen_new(&model, &greedy));
    size_t state_size = kiln_gen_state_size(gen);
    void *saved = must(malloc(state_size));
    bool finite = true, in_range = true, continued = true;
    for (int t = 0; t < N; t++) {
        if (t == half) {
            kiln_gen_save(gen, saved);
            CHECK(kiln_gen_restore(copy, saved, state_size) == 0, "restore at step %d", t);
        }
        int produced = kiln_gen_step(gen, user + (size_t)t * users, out);
        if (t >= half) {
            int produced2 = kiln_gen_step(copy, user + (size_t)t * users, out2);
            continued &= produced == produced2 && (!produced || memcmp(out, out2, (1 + (size_t)desc->dep_q) * sizeof *out) == 0) &&
                         memcmp(kiln_gen_text_logits(gen), kiln_gen_text_logits(copy), (size_t)TC * sizeof(float)) == 0 &&
                         memcmp(kiln_gen_audio_logits(gen), kiln_gen_audio_logits(copy), audio * sizeof(float)) == 0;
        }
        for (int k = 0; produced && k <= desc->dep_q; k++)
            in_range &= out[k] >= 0 && out[k] < (k == 0 ? TC : desc->card);
        finite &= all_finite(kiln_gen_text_logits(gen), (size_t)TC) && all_finite(kiln_gen_audio_logits(gen), audio) &&
                  all_finite(kiln_gen_hidden(gen), (size_t)D);
        memcpy(inputs + (size_t)t * K, kiln_gen_last_input(gen), (size_t)K * sizeof *inputs);
        memcpy(stream_hidden + (size_t)t * D, kiln_gen_hidden(gen), (size_t)D * sizeof(float));
        memcpy(stream_text + (size_t)t * TC, kiln_gen_text_logits(gen), (size_t)TC * sizeof(float));
    }
    CHECK(finite, "logits and hidden states stay finite over %d steps", N);
    CHECK(in_range, "every generated token is in its vocabulary");
    CHECK(continued, "a stream restored at step %d continues bit-identically", half);

    /* forward's step s >= 1 reads codes[k][s - 1 - delay_k]: the stream's input of step s */
    for (int k = 0; k < K; k++)
        for (int t = 0; t + 1 + desc->delays[k] < N; t++)
            codes[(size_t)k * T + t] = inputs[(size_t)(t + 1 + desc->delays[k]) * K + k];
    float *hidden = must(malloc((size_t)T * D * sizeof(float))), *text = must(malloc((size_t)T * TC * sizeof(float)));
    float *audio_logits = must(malloc(audio * T * sizeof(float)));
    CHECK(kiln_forward(desc, &model.weights, codes, 1, T, text, audio_logits, hidden, err, sizeof err) == 0, "%s", err);
    double e_hidden = rel_error(stream_hidden, hidden, (size_t)T * D), e_text = rel_error(stream_text, text, (size_t)T * TC);
    CHECK(e_hidden <= 1e-5, "stream vs forward hidden: %g", e_hidden);
    CHECK(e_text <= 1e-5, "stream vs forward text logits: %g", e_text);
    printf("  %s: %d steps, stream vs forward: hidden %.3g, text logits %.3g (relative)\n", desc->name, N, e_hidden, e_text);

    kiln_gen_free(gen), kiln_gen_free(copy), kiln_model_free(&model);
    free(user), free(out), free(out2), free(inputs), free(codes), free(stream_hidden), free(stream_text);
    free(hidden), free(text), free(audio_logits), free(saved);
    return check_finish();
}
