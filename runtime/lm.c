/* lm.c: the language model's drivers over the generated step functions: stream memory and the
 * teacher-forced forward of Moshi's LMModel.forward (delays, initial tokens, the depformer fed the
 * next step's tokens, the outputs re-aligned to codes time with NaN where the masks are 0). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kiln_rt.h"
#include "pages.h"

void *kiln_stream_new(const struct kiln_model_desc *desc)
{
    /* (every page touched now: no step faults one in, however long the stream runs) */
    void *stream = kiln_alloc_streamed(desc->stream_bytes, NULL);
    if (stream)
        desc->stream_reset(stream);
    return stream;
}

void kiln_stream_free(void *stream) { kiln_free_streamed(stream); }

size_t kiln_state_bytes(const struct kiln_model_desc *desc, int role, const char *graph)
{
    size_t bytes = 0;
    for (int i = 0; i < desc->num_states; i++)
        if (desc->states[i].role == role && (!graph || strcmp(desc->states[i].graph, graph) == 0))
            bytes += (size_t)desc->states[i].bytes;
    return bytes;
}

int kiln_check_codes(const struct kiln_model_desc *desc, const int32_t *codes, int B, int T, char *err, size_t errlen)
{
    const int K = desc->num_streams;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < K; k++) {
            int card = k == 0 ? desc->text_card : desc->card;
            for (int t = 0; t < T; t++) {
                int32_t v = codes[((size_t)b * K + k) * T + t];
                if ((v >= 0 && v <= card) || v == -1)
                    continue;
                snprintf(err, errlen, "codes[%d, %d, %d] = %d is outside [0, %d) and is neither -1 (zero token) "
                         "nor the initial token %d", b, k, t, (int)v, card, card);
                return 1;
            }
        }
    return 0;
}

/* Input of model step s for stream k: step 0 is all initial tokens; step s >= 1 holds
   codes[k, s - 1 - delay_k], or the initial token where that index is negative. */
static int32_t step_input(const struct kiln_model_desc *desc, const int32_t *codes_b, int T, int k, int s)
{
    int32_t initial = k == 0 ? desc->text_card : desc->card;
    int t = s - 1 - desc->delays[k];
    return s == 0 || t < 0 ? initial : codes_b[(size_t)k * T + t];
}

int kiln_forward(const struct kiln_model_desc *desc, const struct kiln_weights *w, const int32_t *codes, int B,
                 int T, float *text_logits, float *audio_logits, float *hidden, char *err, size_t errlen)
{
    if (kiln_check_codes(desc, codes, B, T, err, errlen))
        return 1;
    const int K = desc->num_streams, Q = desc->dep_q, TC = desc->text_card, C = desc->card, D = desc->dim;
    const int rows = desc->max_rows;
    void *stream = kiln_stream_new(desc);
    int32_t *tokens = malloc((size_t)rows * K * sizeof *tokens);
    float *text_steps = malloc((size_t)T * TC * sizeof *text_steps);
    float *audio_steps = malloc((size_t)Q * T * C * sizeof *audio_steps);
    float *chunk_hidden = malloc((size_t)rows * D * sizeof *chunk_hidden);
    if (!stream || !tokens || !text_steps || !audio_steps || !chunk_hidden) {
        snprintf(err, errlen, "out of memory");
        kiln_stream_free(stream), free(tokens), free(text_steps), free(audio_steps), free(chunk_hidden);
        return 1;
    }
    for (int b = 0; b < B; b++) {
        const int32_t *cb = codes + (size_t)b * K * T;
        desc->stream_reset(stream);
        /* The temporal transformer takes the sequence in chunks of up to max_rows frames. */
        for (int s0 = 0; s0 < T; s0 += rows) {
            int n = T - s0 < rows ? T - s0 : rows;
            for (int r = 0; r < n; r++)
                for (int k = 0; k < K; k++)
                    tokens[r * K + k] = step_input(desc, cb, T, k, s0 + r);
            float *hid = hidden ? hidden + ((size_t)b * T + s0) * D : chunk_hidden;
            desc->temporal(w->table, stream, tokens, n, text_steps + (size_t)s0 * TC, hid);
            /* The depformer is teacher-forced with the next step's inputs (its targets). */
            for (int r = 0; r < n; r++)
                for (int q = 0; q < Q; q++)
                    desc->depformer_step(w->table, stream, q, step_input(desc, cb, T, q, s0 + r + 1), hid + (size_t)r * D,
                                         audio_steps + ((size_t)q * T + s0 + r) * C);
        }
        /* Re-align to codes time: output t of stream k is step t + delay_k. */
        for (int t = 0; t < T; t++) {
            int s = t + desc->delays[0];
            bool valid = s < T && cb[t] != -1;
            float *dst = text_logits + ((size_t)b * T + t) * TC;
            for (int i = 0; i < TC; i++)
                dst[i] = valid ? text_steps[(size_t)s * TC + i] : NAN;
        }
        for (int q = 0; q < Q; q++)
            for (int t = 0; t < T; t++) {
                int s = t + desc->delays[1 + q];
                bool valid = s < T && cb[(size_t)(1 + q) * T + t] != -1;
                float *dst = audio_logits + (((size_t)b * Q + q) * T + t) * C;
                for (int i = 0; i < C; i++)
                    dst[i] = valid ? audio_steps[((size_t)q * T + s) * C + i] : NAN;
            }
    }
    kiln_stream_free(stream), free(tokens), free(text_steps), free(audio_steps), free(chunk_hidden);
    return 0;
}
