/* machine: this machine's own limits, the anchors the benchmarks are judged against:
 * DRAM read bandwidth (a 1 GiB array, summed; 1 thread and all threads) and the f32 FMA peak
 * (independent vector FMA chains in registers; 1 thread and all threads). Medians of repeats.
 * Built with the host's vector flags; prints one JSON object. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The widest vector the build's flags allow: 16 floats with AVX-512, else 8 (two NEON registers). */
#ifdef __AVX512F__
#define LANES 16
#else
#define LANES 8
#endif
typedef float vec __attribute__((vector_size(LANES * sizeof(float))));

#include "bench_util.h"
#include "read_probe.h"

static float sink;

/* GB/s reading a 1 GiB buffer once with `threads` threads (the read probe of bench --floor,
   runtime/read_probe.c: each thread walks its share as 4 sequential ranges in lockstep, as kiln's
   matvec and OpenBLAS's sgemv do, for more reads in flight than one stream gets); median of 7. */
static double read_bandwidth(struct read_probe *probe, int threads)
{
    double gb_s[7];
    const int team = omp_get_max_threads();
    omp_set_num_threads(threads);
    for (int r = 0; r < 7; r++)
        gb_s[r] = read_probe_gb_s(probe);
    omp_set_num_threads(team);
    return median(gb_s, 7);
}

/* GFLOP/s of FMAs with `threads` threads: 10 independent chains per thread, in registers. */
#define CHAIN(k) a##k = a##k * m + c
static double fma_peak(int threads)
{
    const long iters = 50000000;
    double t[5];
    for (int r = 0; r < 5; r++) {
        double start = now();
#pragma omp parallel num_threads(threads)
        {
            const vec m = (vec){0} + 1.0000001f, c = (vec){0} + 1e-7f;
            vec a0 = c, a1 = c * 2, a2 = c * 3, a3 = c * 4, a4 = c * 5, a5 = c * 6, a6 = c * 7, a7 = c * 8, a8 = c * 9,
               a9 = c * 10;
            for (long i = 0; i < iters; i++) {
                CHAIN(0), CHAIN(1), CHAIN(2), CHAIN(3), CHAIN(4), CHAIN(5), CHAIN(6), CHAIN(7), CHAIN(8), CHAIN(9);
            }
            vec s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9;
#pragma omp critical
            sink += s[0];
        }
        t[r] = now() - start;
    }
    return 2.0 * LANES * 10 * (double)iters * threads / median(t, 5) / 1e9;
}

int main(void)
{
    struct read_probe *probe = read_probe_new((size_t)1 << 30);
    if (!probe)
        return 1;
    int threads = omp_get_max_threads();
    printf("{\"threads\": %d, \"read_gb_s_1\": %.2f, \"read_gb_s_n\": %.2f, \"fma_gflops_1\": %.1f, \"fma_gflops_n\": %.1f}\n",
           threads, read_bandwidth(probe, 1), read_bandwidth(probe, threads), fma_peak(1), fma_peak(threads));
    read_probe_free(probe);
    return sink == 12345.0f;
}
