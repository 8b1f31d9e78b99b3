/* bench.h: the `bench` subcommand's measurement (bench.c). */
#ifndef KILN_BENCH_H
#define KILN_BENCH_H
#include <stdbool.h>
#include <stdint.h>
#include "kiln_rt.h"

#define BENCH_MAX_CONTEXTS 32
#define BENCH_PROBE_BYTES (256 << 20) /* --floor's read probe: 8x the largest L3 of our machines */

struct bench_options {
    int steps, warmup, threads;      /* threads 0: all cores */
    int num_contexts;
    int64_t contexts[BENCH_MAX_CONTEXTS]; /* frames already in the stream before timing; one run each */
    uint64_t seed;
    bool json;
    bool floor;                      /* measure the read bandwidth around every frame: each against its floor */
    const char *trace;               /* when set: every timed frame's ms, one per line */
    int forward;                     /* > 0: time the teacher-forced forward of this many frames instead */
};

/* The time of a step's components (the generated code's kiln_profile_mark calls): begin before the
   step, end after it, which copies each component's ms into ms[KILN_NUM_COMPONENTS] */
void bench_profile_begin(void);
void bench_profile_end(double *ms);
const char *bench_component_name(int c);
/* Bytes of weights one streaming frame reads, each in its format (an embedding table: one row) */
int64_t bench_weight_bytes_per_frame(const struct kiln_model_desc *d);
/* Bytes of keys and values a frame's attention reads after `context` frames (its window's) */
double bench_kv_bytes_per_frame(const struct kiln_model_desc *d, int64_t context);   /* "temporal", "seanet_encoder", ... (the --json keys) */

int bench_run(const struct kiln_model_desc *desc, const struct kiln_weights *w, const struct bench_options *opt);
#endif
