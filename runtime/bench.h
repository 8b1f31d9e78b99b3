/* bench.h: the `bench` subcommand's measurement (bench.c). */
#ifndef KILN_BENCH_H
#define KILN_BENCH_H
#include <stdbool.h>
#include <stdint.h>
#include "kiln_rt.h"

struct bench_options {
    int steps, warmup, threads;      /* threads 0: all cores */
    int64_t context;                 /* frames already in the stream before timing */
    uint64_t seed;
    bool json;
};

int bench_run(const struct kiln_model_desc *desc, const struct kiln_weights *w, const struct bench_options *opt);
#endif
