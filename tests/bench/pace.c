/* pace: a live audio source for benchmarks (scripts/bench_converse.sh), as arecord is one: writes
 * COUNT chunks of CHUNK bytes of FILE (from its start again when it ends) to stdout, one every
 * INTERVAL_MS milliseconds on a fixed schedule (each chunk's time is start + i * interval, so no
 * delay accumulates), from one process that sleeps in between.
 *   pace FILE CHUNK INTERVAL_MS COUNT */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: pace FILE CHUNK INTERVAL_MS COUNT\n");
        return 1;
    }
    FILE *in = fopen(argv[1], "rb");
    const long chunk = atol(argv[2]), count = atol(argv[4]);
    const double interval = atof(argv[3]) * 1e-3;
    char *buf = chunk > 0 ? malloc((size_t)chunk) : NULL;
    if (!in || !buf) {
        fprintf(stderr, "pace: cannot read %s\n", argv[1]);
        return 1;
    }
    struct timespec start, at;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < count; i++) {
        if (fread(buf, 1, (size_t)chunk, in) != (size_t)chunk) {
            rewind(in);
            if (fread(buf, 1, (size_t)chunk, in) != (size_t)chunk)
                return 1;
        }
        const double t = (double)start.tv_sec + (double)start.tv_nsec * 1e-9 + (double)i * interval;
        at.tv_sec = (time_t)t;
        at.tv_nsec = (long)((t - (double)at.tv_sec) * 1e9);
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
        if (fwrite(buf, 1, (size_t)chunk, stdout) != (size_t)chunk || fflush(stdout) != 0)
            return 0; /* (the reader quit) */
    }
    return 0;
}
