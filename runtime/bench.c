/* bench.c: per-frame latency of streaming steps (temporal step, greedy text token, the depformer's
 * dep_q steps with greedy audio tokens fed back), with the median, p99, real-time factor, weight
 * bytes each frame reads and the GB/s that implies, and the time of each component. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"
#include "stats.h"

static bool profiling;
static double component_ms[KILN_NUM_COMPONENTS], last_mark;
static const char *const component_names[KILN_NUM_COMPONENTS] = {"embed", "temporal", "text_head", "depformer", "sample"};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

void kiln_profile_mark(enum kiln_component c)
{
    if (!profiling)
        return;
    double t = now_ms();
    component_ms[c] += t - last_mark;
    last_mark = t;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static int64_t weight_bytes_per_frame(const struct kiln_model_desc *d)
{
    int64_t values = 0;
    for (int i = 0; i < d->num_weights; i++)
        values += d->weights[i].read_per_frame;
    return values * 4; /* f32 */
}

int bench_run(const struct kiln_model_desc *d, const struct kiln_weights *w, const struct bench_options *opt)
{
    void *stream = kiln_stream_new(d);
    int32_t *tokens = calloc((size_t)d->num_streams, sizeof *tokens);
    float *text_logits = malloc((size_t)d->text_card * sizeof *text_logits);
    float *audio_logits = malloc((size_t)d->card * sizeof *audio_logits);
    float *hidden = malloc((size_t)d->dim * sizeof *hidden);
    double *frame_ms = malloc((size_t)opt->steps * sizeof *frame_ms);
    double (*parts)[KILN_NUM_COMPONENTS] = malloc((size_t)opt->steps * sizeof *parts);
    if (!stream || !tokens || !text_logits || !audio_logits || !hidden || !frame_ms || !parts) {
        fprintf(stderr, "%s bench: error: out of memory (a stream needs %zu bytes)\n", d->name, d->stream_bytes);
        kiln_stream_free(stream), free(tokens), free(text_logits), free(audio_logits), free(hidden), free(frame_ms), free(parts);
        return 1;
    }
    if (opt->context > 0)
        d->stream_advance(stream, opt->context);
    for (int k = 0; k < d->num_streams; k++)
        tokens[k] = k == 0 ? d->text_card : d->card; /* initial tokens, then what the model produces */
    for (int step = -opt->warmup; step < opt->steps; step++) {
        memset(component_ms, 0, sizeof component_ms);
        profiling = true;
        double start = last_mark = now_ms();
        d->temporal(w->table, stream, tokens, 1, text_logits, hidden);
        int32_t prev = argmax(text_logits, d->text_card);
        kiln_profile_mark(KILN_SAMPLE);
        tokens[0] = prev;
        for (int q = 0; q < d->dep_q; q++) {
            d->depformer_step(w->table, stream, q, prev, hidden, audio_logits);
            prev = argmax(audio_logits, d->card);
            kiln_profile_mark(KILN_SAMPLE);
            tokens[1 + q] = prev;
        }
        double elapsed = now_ms() - start;
        profiling = false;
        if (step >= 0) {
            frame_ms[step] = elapsed;
            memcpy(parts[step], component_ms, sizeof component_ms);
        }
    }
    double component_median[KILN_NUM_COMPONENTS];
    double *column = malloc((size_t)opt->steps * sizeof *column);
    for (int c = 0; c < KILN_NUM_COMPONENTS; c++) {
        for (int s = 0; s < opt->steps; s++)
            column[s] = parts[s][c];
        component_median[c] = median_of(column, opt->steps);
    }
    double median = median_of(frame_ms, opt->steps), p99 = quantile_of(frame_ms, opt->steps, 0.99);
    double frame_budget_ms = 1000.0 / d->frame_rate;
    int64_t bytes = weight_bytes_per_frame(d);
    double gbps = (double)bytes / (median * 1e-3) / 1e9;
    const int threads = 1; /* the kernels are single-threaded for now */
    if (opt->json) {
        printf("{\"model\": \"%s\", \"target\": \"%s\", \"frames\": %d, \"context\": %lld, \"ms_median\": %.6f, "
               "\"ms_p99\": %.6f, \"weight_bytes_per_frame\": %lld, \"gb_per_s\": %.4f, \"rtf\": %.4f, "
               "\"threads\": %d, \"components\": {",
               d->name, d->target, opt->steps, (long long)opt->context, median, p99, (long long)bytes, gbps,
               frame_budget_ms / median, threads);
        for (int c = 0; c < KILN_NUM_COMPONENTS; c++)
            printf("%s\"%s\": %.6f", c ? ", " : "", component_names[c], component_median[c]);
        printf("}}\n");
    } else {
        printf("%s bench: %d frames after %d warm-up, context %lld, %d thread, target %s\n", d->name, opt->steps,
               opt->warmup, (long long)opt->context, threads, d->target);
        printf("  per frame     median %.3f ms, p99 %.3f ms (%.1f frames/s)\n", median, p99, 1000.0 / median);
        printf("  real time     %.2fx (a frame is %.0f ms of audio)\n", frame_budget_ms / median, frame_budget_ms);
        printf("  weights read  %.1f MB per frame, %.2f GB/s\n", (double)bytes / 1e6, gbps);
        printf("  components   ");
        for (int c = 0; c < KILN_NUM_COMPONENTS; c++)
            printf(" %s %.3f", component_names[c], component_median[c]);
        printf(" (ms, medians)\n");
    }
    free(column);
    kiln_stream_free(stream), free(tokens), free(text_logits), free(audio_logits), free(hidden), free(frame_ms), free(parts);
    return 0;
}
