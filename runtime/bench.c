/* bench.c: per-frame latency of streaming steps (temporal step, greedy text token, the depformer's
 * dep_q steps with greedy audio tokens fed back), with the median, p99, real-time factor, weight
 * bytes each frame reads and the GB/s that implies, and the time of each component; with --floor, each
 * frame and component against its floor (the bytes it reads over the read bandwidth measured just
 * before and just after it); or (--forward) the time per frame of a teacher-forced forward. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, with any compiler's -std=c11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"
#include "read_probe.h"
#include "stats.h"

static bool profiling;
static double component_ms[KILN_NUM_COMPONENTS], last_mark;
static const char *const component_names[KILN_NUM_COMPONENTS] = {
    "embed", "temporal", "text_head", "depformer", "sample",
    "seanet_encoder", "encoder_transformer", "quantizer", "decoder_transformer", "seanet_decoder"};

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

void bench_profile_begin(void)
{
    memset(component_ms, 0, sizeof component_ms);
    profiling = true;
    last_mark = now_ms();
}

void bench_profile_end(double *ms)
{
    profiling = false;
    memcpy(ms, component_ms, sizeof component_ms);
}

const char *bench_component_name(int c) { return component_names[c]; }

double bench_kv_bytes_per_frame(const struct kiln_model_desc *d, int64_t context)
{
    /* The KV ring is allocated whole; the part holding live positions grows until the window fills,
       and a frame's attention reads all of it */
    const int64_t window = context < d->context ? context : d->context;
    const double kv_bytes = (double)kiln_state_bytes(d, KILN_STATE_KV, NULL);
    return d->context > 0 ? kv_bytes * (double)window / (double)(d->context + d->max_rows - 1) : 0;
}

int64_t bench_weight_bytes_per_frame(const struct kiln_model_desc *d)
{
    int64_t bytes = 0;
    for (int i = 0; i < d->num_weights; i++)
        bytes += (int64_t)kiln_format_bytes_of(d->weights[i].format, (size_t)d->weights[i].read_per_frame);
    return bytes;
}

/* Bytes a frame's components read: their weights (by weight class: the classes are the first
   components, in the same order) and, for the temporal transformer, the live keys and values */
_Static_assert((int)KILN_CLASS_EMBEDDINGS == (int)KILN_EMBED && (int)KILN_CLASS_TEMPORAL == (int)KILN_TEMPORAL &&
                   (int)KILN_CLASS_TEXT_HEAD == (int)KILN_TEXT_HEAD && (int)KILN_CLASS_DEPFORMER == (int)KILN_DEPFORMER,
               "a weight class indexes its component");
static void component_bytes(const struct kiln_model_desc *d, double live_kv, double bytes[KILN_NUM_LM_COMPONENTS])
{
    for (int c = 0; c < KILN_NUM_LM_COMPONENTS; c++)
        bytes[c] = 0;
    for (int i = 0; i < d->num_weights; i++)
        bytes[d->weights[i].weight_class] += (double)kiln_format_bytes_of(d->weights[i].format, (size_t)d->weights[i].read_per_frame);
    bytes[KILN_TEMPORAL] += live_kv;
}

struct bench_buffers {
    void *stream;
    int32_t *tokens;
    float *text_logits, *audio_logits, *hidden;
    double *frame_ms, (*parts)[KILN_NUM_COMPONENTS], *column;
    struct read_probe *probe; /* --floor: the read bandwidth before each frame and after the last */
    double *gb_s;
};

static void free_buffers(struct bench_buffers *b)
{
    kiln_stream_free(b->stream);
    free(b->tokens), free(b->text_logits), free(b->audio_logits), free(b->hidden), free(b->frame_ms), free(b->parts),
        free(b->column), free(b->gb_s);
    read_probe_free(b->probe);
}

/* One streaming frame as generate runs it, with greedy tokens fed back. */
static double bench_frame(const struct kiln_model_desc *d, const struct kiln_weights *w, struct bench_buffers *b)
{
    bench_profile_begin();
    double start = last_mark;
    d->temporal(w->table, b->stream, b->tokens, 1, b->text_logits, b->hidden);
    int32_t prev = d->argmax(b->text_logits, d->text_card);
    kiln_profile_mark(KILN_SAMPLE);
    b->tokens[0] = prev;
    for (int q = 0; q < d->dep_q; q++) {
        d->depformer_step(w->table, b->stream, q, prev, b->hidden, b->audio_logits);
        prev = d->argmax(b->audio_logits, d->card);
        kiln_profile_mark(KILN_SAMPLE);
        b->tokens[1 + q] = prev;
    }
    profiling = false;
    return now_ms() - start;
}

/* Against the floor (--floor): each frame's time, and each component's, over the time its bytes take at
   the read bandwidth around it (the mean of the probes just before and just after the frame); medians
   over the frames. ratio[c] for the components, frame_ratio for the whole frame. */
struct floor_report {
    double gb_s_median, gb_s_min, gb_s_max, floor_ms, frame_ratio, ratio[KILN_NUM_LM_COMPONENTS];
};

/* Frame s's read bandwidth: the mean of the probes just before and just after it */
static double gb_s_around(const struct bench_buffers *b, int s) { return (b->gb_s[s] + b->gb_s[s + 1]) / 2; }

static struct floor_report against_floor(const struct bench_options *opt, const double bytes[KILN_NUM_LM_COMPONENTS],
                                         double frame_bytes, struct bench_buffers *b)
{
    struct floor_report f = {0};
    for (int s = 0; s < opt->steps; s++)
        b->column[s] = b->frame_ms[s] * 1e6 * gb_s_around(b, s) / frame_bytes;
    f.frame_ratio = median_of(b->column, opt->steps);
    for (int c = 0; c < KILN_NUM_LM_COMPONENTS; c++) {
        if (bytes[c] <= 0)
            continue;
        for (int s = 0; s < opt->steps; s++)
            b->column[s] = b->parts[s][c] * 1e6 * gb_s_around(b, s) / bytes[c];
        f.ratio[c] = median_of(b->column, opt->steps);
    }
    memcpy(b->column, b->gb_s, (size_t)(opt->steps + 1) * sizeof(double));
    f.gb_s_median = median_of(b->column, opt->steps + 1);
    f.gb_s_min = b->column[0], f.gb_s_max = b->column[opt->steps]; /* (sorted by median_of) */
    f.floor_ms = frame_bytes / (f.gb_s_median * 1e9) * 1e3;
    return f;
}

static void report(const struct kiln_model_desc *d, const struct bench_options *opt, int64_t context,
                   struct bench_buffers *b)
{
    double component_median[KILN_NUM_LM_COMPONENTS];
    for (int c = 0; c < KILN_NUM_LM_COMPONENTS; c++) {
        for (int s = 0; s < opt->steps; s++)
            b->column[s] = b->parts[s][c];
        component_median[c] = median_of(b->column, opt->steps);
    }
    int64_t bytes = bench_weight_bytes_per_frame(d);
    const double live_kv = bench_kv_bytes_per_frame(d, context);
    double parts_bytes[KILN_NUM_LM_COMPONENTS];
    component_bytes(d, live_kv, parts_bytes);
    struct floor_report f = {0};
    if (opt->floor)
        f = against_floor(opt, parts_bytes, (double)bytes + live_kv, b);
    double median = median_of(b->frame_ms, opt->steps), p99 = quantile_of(b->frame_ms, opt->steps, 0.99);
    double frame_budget_ms = 1000.0 / d->frame_rate;
    double gbps = ((double)bytes + live_kv) / (median * 1e-3) / 1e9;
    const int threads = strcmp(d->target, "scalar") ? kiln_threads() : 1; /* the scalar reference is serial */
    if (opt->json) {
        printf("{\"model\": \"%s\", \"target\": \"%s\", \"frames\": %d, \"context\": %lld, \"ms_median\": %.6f, "
               "\"ms_p99\": %.6f, \"weight_bytes_per_frame\": %lld, \"kv_bytes_per_frame\": %.0f, \"gb_per_s\": %.4f, "
               "\"rtf\": %.4f, \"threads\": %d, \"state_bytes\": %zu, \"live_state_bytes\": %.0f, \"components\": {",
               d->name, d->target, opt->steps, (long long)context, median, p99, (long long)bytes, live_kv, gbps,
               frame_budget_ms / median, threads, d->stream_bytes, live_kv + (double)kiln_state_bytes(d, KILN_STATE_TTT, NULL));
        for (int c = 0; c < KILN_NUM_LM_COMPONENTS; c++)
            printf("%s\"%s\": %.6f", c ? ", " : "", component_names[c], component_median[c]);
        printf("}, \"component_bytes\": {");
        for (int c = 0; c < KILN_NUM_LM_COMPONENTS; c++)
            printf("%s\"%s\": %.0f", c ? ", " : "", component_names[c], parts_bytes[c]);
        printf("}");
        if (opt->floor) {
            printf(", \"read_gb_s_median\": %.4f, \"read_gb_s_min\": %.4f, \"read_gb_s_max\": %.4f, \"floor_ms\": %.6f, "
                   "\"floor_ratio\": %.4f, \"component_floor_ratio\": {", f.gb_s_median, f.gb_s_min, f.gb_s_max, f.floor_ms,
                   f.frame_ratio);
            for (int c = 0, n = 0; c < KILN_NUM_LM_COMPONENTS; c++)
                if (parts_bytes[c] > 0)
                    printf("%s\"%s\": %.4f", n++ ? ", " : "", component_names[c], f.ratio[c]);
            printf("}");
        }
        printf("}\n");
        return;
    }
    printf("%s bench: %d frames after %d warm-up, context %lld, %d thread(s), target %s\n", d->name, opt->steps,
           opt->warmup, (long long)context, threads, d->target);
    printf("  per frame     median %.3f ms, p99 %.3f ms (%.1f frames/s)\n", median, p99, 1000.0 / median);
    printf("  real time     %.2fx (a frame is %.0f ms of audio)\n", frame_budget_ms / median, frame_budget_ms);
    printf("  read          %.1f MB of weights (%s) and %.1f MB of KV cache (%s) per frame, %.2f GB/s\n", (double)bytes / 1e6,
           d->weight_format, live_kv / 1e6, d->kv_format, gbps);
    if (opt->floor)
        printf("  floor         %.3f ms at the read bandwidth's median, %.2f GB/s (%.2f to %.2f, measured before each frame\n"
               "                and after the last); each frame against the bandwidth around it: %.3fx the floor (median)\n",
               f.floor_ms, f.gb_s_median, f.gb_s_min, f.gb_s_max, f.frame_ratio);
    printf("  components   ");
    for (int c = 0; c < KILN_NUM_LM_COMPONENTS; c++)
        printf(" %s %.3f", component_names[c], component_median[c]);
    printf(" (ms, medians)\n");
    if (opt->floor) {
        printf("  against floor");
        for (int c = 0; c < KILN_NUM_LM_COMPONENTS; c++)
            if (parts_bytes[c] >= 0.01 * ((double)bytes + live_kv)) /* (not the embeddings' few rows) */
                printf(" %s %.3f (%.1f MB)", component_names[c], f.ratio[c], parts_bytes[c] / 1e6);
        printf("\n");
    }
}

/* The teacher-forced forward of one sequence of opt->forward frames (every code the text's and the
   audio's initial token), timed whole; the median per frame. */
static int bench_forward(const struct kiln_model_desc *d, const struct kiln_weights *w, const struct bench_options *opt)
{
    const int T = opt->forward;
    int32_t *codes = malloc((size_t)d->num_streams * T * sizeof *codes);
    float *text = malloc((size_t)T * d->text_card * sizeof *text), *audio = malloc((size_t)d->dep_q * T * d->card * sizeof *audio);
    double *ms = malloc((size_t)opt->steps * sizeof *ms);
    int rc = 1;
    if (!codes || !text || !audio || !ms) {
        fprintf(stderr, "%s bench: error: out of memory for a forward of %d frames\n", d->name, T);
        goto done;
    }
    for (int k = 0; k < d->num_streams; k++)
        for (int t = 0; t < T; t++)
            codes[(size_t)k * T + t] = k == 0 ? d->text_card : d->card;
    char err[256];
    for (int step = -opt->warmup; step < opt->steps; step++) {
        const double start = now_ms();
        if (kiln_forward(d, w, codes, 1, T, text, audio, NULL, err, sizeof err)) {
            fprintf(stderr, "%s bench: error: %s\n", d->name, err);
            goto done;
        }
        if (step >= 0)
            ms[step] = (now_ms() - start) / T;
    }
    const double median = median_of(ms, opt->steps);
    if (opt->json)
        printf("{\"model\": \"%s\", \"target\": \"%s\", \"forward_frames\": %d, \"runs\": %d, \"ms_per_frame_median\": %.6f, "
               "\"threads\": %d}\n", d->name, d->target, T, opt->steps, median, kiln_threads());
    else
        printf("%s bench: teacher-forced forward of %d frames, %d runs after %d warm-up, target %s\n"
               "  per frame     median %.3f ms\n", d->name, T, opt->steps, opt->warmup, d->target, median);
    rc = 0;
done:
    free(codes), free(text), free(audio), free(ms);
    return rc;
}

int bench_run(const struct kiln_model_desc *d, const struct kiln_weights *w, const struct bench_options *opt)
{
    if (opt->forward > 0)
        return bench_forward(d, w, opt);
    struct bench_buffers b = {
        .stream = kiln_stream_new(d), .tokens = calloc((size_t)d->num_streams, sizeof(int32_t)),
        .text_logits = malloc((size_t)d->text_card * sizeof(float)), .audio_logits = malloc((size_t)d->card * sizeof(float)),
        .hidden = malloc((size_t)d->dim * sizeof(float)), .frame_ms = malloc((size_t)opt->steps * sizeof(double)),
        .parts = malloc((size_t)opt->steps * sizeof *b.parts), .column = malloc((size_t)(opt->steps + 1) * sizeof(double))};
    if (!b.stream || !b.tokens || !b.text_logits || !b.audio_logits || !b.hidden || !b.frame_ms || !b.parts || !b.column) {
        fprintf(stderr, "%s bench: error: out of memory (a stream needs %zu bytes)\n", d->name, d->stream_bytes);
        free_buffers(&b);
        return 1;
    }
    if (opt->floor && (!(b.gb_s = malloc((size_t)(opt->steps + 1) * sizeof(double))) ||
                       !(b.probe = read_probe_new(BENCH_PROBE_BYTES)))) {
        fprintf(stderr, "%s bench: error: out of memory for --floor's read probe (%d MiB)\n", d->name, BENCH_PROBE_BYTES >> 20);
        free_buffers(&b);
        return 1;
    }
    FILE *trace = NULL;
    if (opt->trace && !(trace = fopen(opt->trace, "w"))) {
        fprintf(stderr, "%s bench: error: cannot write %s\n", d->name, opt->trace);
        free_buffers(&b);
        return 1;
    }
    for (int i = 0; i < opt->num_contexts; i++) {
        d->stream_advance(b.stream, opt->contexts[i]);
        for (int k = 0; k < d->num_streams; k++)
            b.tokens[k] = k == 0 ? d->text_card : d->card; /* initial tokens, then what the model produces */
        for (int step = -opt->warmup; step < opt->steps; step++) {
            if (step >= 0 && b.probe)
                b.gb_s[step] = read_probe_gb_s(b.probe);
            double ms = bench_frame(d, w, &b);
            if (step < 0)
                continue;
            b.frame_ms[step] = ms;
            memcpy(b.parts[step], component_ms, sizeof component_ms);
            if (trace)
                fprintf(trace, "%.6f\n", ms);
        }
        if (b.probe)
            b.gb_s[opt->steps] = read_probe_gb_s(b.probe);
        report(d, opt, opt->contexts[i], &b);
        fflush(stdout);
    }
    if (trace)
        fclose(trace);
    free_buffers(&b);
    return 0;
}
