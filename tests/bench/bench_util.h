/* bench_util.h: what the kernel benchmark and the kernel test share: a clock, a median, and
 * kiln's panel packing (kiln_rt.h, struct kiln_weight_desc) for a plain matrix. */
#ifndef KILN_BENCH_UTIL_H
#define KILN_BENCH_UTIL_H
#include <stdlib.h>
#include <time.h>

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts x[n] and returns its median. */
static inline double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, compare_doubles);
    return x[n / 2];
}
/* Row-major [rows][cols] -> panels [ceil(rows / nr)][cols][nr], zero-padded. */
static inline void pack_panels(const float *w, int rows, int cols, int nr, float *p)
{
    int panels = (rows + nr - 1) / nr;
    for (int q = 0; q < panels; q++)
        for (int c = 0; c < cols; c++)
            for (int j = 0; j < nr; j++) {
                int r = q * nr + j;
                p[((size_t)q * cols + c) * nr + j] = r < rows ? w[(size_t)r * cols + c] : 0.0f;
            }
}
#endif
