/* bench_kernels: the packed matmul kernels kilnc emits (built with -include of gen_kernels' output)
 * against OpenBLAS, in one run, all threads:
 *   matmul-vector (one frame, streaming): GB/s of weights read, beside cblas_sgemv's;
 *   matmul-matrix (T = 64..512 frames, teacher-forced): GFLOP/s, beside cblas_sgemm's.
 * Weights rotate among copies larger than the last-level cache, so matrix-vector reads come from
 * DRAM. Medians of repeats, in blocks of one library's calls after a pause (OpenBLAS's threads
 * and OpenMP's spin a while after a call; calls interleaved one by one would compete with them for
 * the cores), the libraries' blocks alternating over three rounds. Also checks each kernel's
 * result against sgemv's. Prints a table, and JSON lines to the file given as argv[1]. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

#define WORKING_SET ((size_t)512 << 20) /* bytes of weight copies the vector runs rotate through */

/* Waits until the other library's threads have stopped spinning. */
static void settle(void)
{
    nanosleep(&(struct timespec){.tv_nsec = 200000000}, NULL);
}

/* One shape's operands: weights (copies, row-major for OpenBLAS and packed for kiln), x, y. */
struct operands {
    int k, R, C, copies;
    float **w, **wp, *x, *y, *sums;
};

/* Seconds of one call on weight copy `copy`, T frames: kiln's kernel, or OpenBLAS's (sgemv for one
   frame, sgemm for more). */
static double timed_call(const struct operands *o, bool blas, int copy, int T)
{
    double start = now();
    if (!blas) {
#pragma omp parallel
        bench_kernels[o->k].fn(o->wp[copy], o->x, o->y, o->sums, T);
    } else if (T == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, o->R, o->C, 1.0f, o->w[copy], o->C, o->x, 1, 0.0f, o->y, 1);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, o->R, o->C, 1.0f, o->x, o->C, o->w[copy], o->C, 0.0f,
                    o->y, o->R);
    }
    return now() - start;
}

/* Median seconds per call of kiln and of OpenBLAS, over ROUNDS rounds that each time a block of
   `calls` calls of one, then of the other (after a pause), the weight copies in turn: a slow spell
   of the shared machine falls on both. */
#define ROUNDS 3
static void compare(const struct operands *o, int T, int calls, double *kiln, double *blas)
{
    double *t[2] = {malloc((size_t)ROUNDS * calls * sizeof(double)), malloc((size_t)ROUNDS * calls * sizeof(double))};
    for (int round = 0; round < ROUNDS; round++)
        for (int side = 0; side < 2; side++) {
            settle();
            for (int i = 0; i < calls; i++)
                t[side][round * calls + i] = timed_call(o, side, i % o->copies, T);
        }
    *kiln = median(t[0], ROUNDS * calls);
    *blas = median(t[1], ROUNDS * calls);
    free(t[0]), free(t[1]);
}

int main(int argc, char **argv)
{
    FILE *json = argc > 1 ? fopen(argv[1], "w") : NULL;
    int threads = omp_get_max_threads();
    openblas_set_num_threads(threads);
    printf("target %s, %d threads; medians of %d rounds of blocks of calls\n", BENCH_TARGET, threads, ROUNDS);
    printf("%-12s %10s %10s %7s   %-5s %10s %10s %7s\n", "shape", "kiln GB/s", "sgemv", "ratio", "T", "kiln GF/s",
           "sgemm", "ratio");
    for (size_t k = 0; k < sizeof bench_kernels / sizeof bench_kernels[0]; k++) {
        const int R = bench_kernels[k].rows, C = bench_kernels[k].cols, panels = (R + BENCH_PACK_NR - 1) / BENCH_PACK_NR;
        size_t bytes = (size_t)R * C * sizeof(float), packed = (size_t)panels * BENCH_PACK_NR * C;
        int copies = (int)(WORKING_SET / bytes) + 1;
        if (copies > 64)
            copies = 64;
        float **w = malloc((size_t)copies * sizeof *w), **wp = malloc((size_t)copies * sizeof *wp);
        float *x = malloc((size_t)512 * C * sizeof *x), *y = malloc((size_t)512 * R * sizeof *y);
        float *y_ref = malloc((size_t)R * sizeof *y_ref);
        float *sums = aligned_alloc(64, (size_t)bench_kernels[k].scratch * 512 * sizeof(float)); /* blocked form */
        unsigned seed = 1;
        for (int i = 0; i < 512 * C; i++)
            x[i] = (float)((seed = seed * 1103515245u + 12345u) >> 8) / 16777216.0f - 0.5f;
        for (int c = 0; c < copies; c++) {
            w[c] = aligned_alloc(64, (bytes + 63) / 64 * 64);
            wp[c] = aligned_alloc(64, (packed * sizeof(float) + 63) / 64 * 64);
            for (size_t i = 0; i < (size_t)R * C; i++)
                w[c][i] = (float)((seed = seed * 1103515245u + 12345u) >> 8) / 16777216.0f - 0.5f;
            pack_panels(w[c], R, C, BENCH_PACK_NR, wp[c]);
        }
        /* correctness: kiln's row against sgemv's */
#pragma omp parallel
        bench_kernels[k].fn(wp[0], x, y, sums, 1);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, R, C, 1.0f, w[0], C, x, 1, 0.0f, y_ref, 1);
        double err = 0, ref = 0;
        for (int r = 0; r < R; r++)
            err = fmax(err, fabs(y[r] - y_ref[r])), ref = fmax(ref, fabs(y_ref[r]));
        const struct operands o = {.k = (int)k, .R = R, .C = C, .copies = copies, .w = w, .wp = wp, .x = x, .y = y,
                                   .sums = sums};
        double t_kiln, t_blas;
        compare(&o, 1, 5 * copies, &t_kiln, &t_blas);
        double gk = bytes / t_kiln / 1e9, gb = bytes / t_blas / 1e9;
        printf("%5dx%-6d %10.2f %10.2f %7.2f", R, C, gk, gb, gk / gb);
        if (json)
            fprintf(json, "{\"rows\": %d, \"cols\": %d, \"kiln_gb_s\": %.3f, \"sgemv_gb_s\": %.3f, \"rel_err\": %.3g}\n", R,
                    C, gk, gb, err / ref);
        for (int T = 64; T <= 512; T *= 2) {
            double tk, tb;
            compare(&o, T, 3, &tk, &tb);
            double flops = 2.0 * R * C * T, fk = flops / tk / 1e9, fb = flops / tb / 1e9;
            printf("%s   %-5d %10.1f %10.1f %7.2f\n", T == 64 ? "" : "                                           ", T,
                   fk, fb, fk / fb);
            if (json)
                fprintf(json, "{\"rows\": %d, \"cols\": %d, \"T\": %d, \"kiln_gflops\": %.2f, \"sgemm_gflops\": %.2f}\n",
                        R, C, T, fk, fb);
        }
        printf("%12s max |kiln - sgemv| / max |sgemv| = %.2g\n", "", err / ref);
        fflush(stdout); /* (a run cut short keeps the shapes done) */
        if (json)
            fflush(json);
        for (int c = 0; c < copies; c++)
            free(w[c]), free(wp[c]);
        free(w), free(wp), free(x), free(y), free(y_ref), free(sums);
    }
    if (json)
        fclose(json);
    return 0;
}
