/* bench_kernels: the packed matmul kernels kilnc emits (built with -include of gen_kernels' output)
 * against OpenBLAS, in one run, all threads:
 *   matmul-vector (one frame, streaming): GB/s of weights read, beside cblas_sgemv's;
 *   matmul-matrix (T = 64..512 frames, teacher-forced): GFLOP/s, beside cblas_sgemm's.
 * Weights rotate among copies larger than the last-level cache, so matrix-vector reads come from
 * DRAM. Medians of repeats, each library's in a block of its own after a pause: OpenBLAS's
 * threads and OpenMP's spin a while after a call, and runs interleaved would compete with them
 * for the cores. Also checks each kernel's result against sgemv's. Prints a table, and JSON lines
 * to the file given as argv[1]. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

#define REPEATS 15
#define WORKING_SET ((size_t)512 << 20) /* bytes of weight copies the vector runs rotate through */

/* Waits until the other library's threads have stopped spinning. */
static void settle(void)
{
    nanosleep(&(struct timespec){.tv_nsec = 300000000}, NULL);
}

int main(int argc, char **argv)
{
    FILE *json = argc > 1 ? fopen(argv[1], "w") : NULL;
    int threads = omp_get_max_threads();
    openblas_set_num_threads(threads);
    printf("target %s, %d threads; medians of %d runs\n", BENCH_TARGET, threads, REPEATS);
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
        double t_kiln[REPEATS], t_blas[REPEATS];
        settle();
        for (int i = 0; i < REPEATS * copies; i++) {
            double start = now();
#pragma omp parallel
            bench_kernels[k].fn(wp[i % copies], x, y, sums, 1);
            if (i % copies == 0)
                t_kiln[i / copies] = now() - start;
        }
        settle();
        for (int i = 0; i < REPEATS * copies; i++) {
            double start = now();
            cblas_sgemv(CblasRowMajor, CblasNoTrans, R, C, 1.0f, w[i % copies], C, x, 1, 0.0f, y_ref, 1);
            if (i % copies == 0)
                t_blas[i / copies] = now() - start;
        }
        double gk = bytes / median(t_kiln, REPEATS) / 1e9, gb = bytes / median(t_blas, REPEATS) / 1e9;
        printf("%5dx%-6d %10.2f %10.2f %7.2f", R, C, gk, gb, gk / gb);
        if (json)
            fprintf(json, "{\"rows\": %d, \"cols\": %d, \"kiln_gb_s\": %.3f, \"sgemv_gb_s\": %.3f, \"rel_err\": %.3g}\n", R,
                    C, gk, gb, err / ref);
        for (int T = 64; T <= 512; T *= 2) {
            double tk[9], tb[9];
            settle();
            for (int r = 0; r < 9; r++) {
                double start = now();
#pragma omp parallel
                bench_kernels[k].fn(wp[0], x, y, sums, T);
                tk[r] = now() - start;
            }
            settle();
            for (int r = 0; r < 9; r++) {
                double start = now();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, R, C, 1.0f, x, C, w[0], C, 0.0f, y, R);
                tb[r] = now() - start;
            }
            double flops = 2.0 * R * C * T, fk = flops / median(tk, 9) / 1e9, fb = flops / median(tb, 9) / 1e9;
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
