/* test_kernels.c: every packed matmul kernel in the file given with -include (gen_kernels' output for
 * one target) against a plain double-precision matmul, on random weights and inputs, for frame
 * counts 1 (the streaming form) to 385 (the cache-blocked form with full and partial tiles and
 * chunks), shared by a team of 3 threads, with the scratch sized exactly for T frames. The
 * shapes are odd on purpose: rows not a multiple of the panel, columns not a multiple of anything.
 * Also the sampling's reductions: softmax_exp (the vector exp) against libm's exp, argmax against
 * the scalar rule, ties, NaNs and signed zeros included. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "argmax_reference.h"
#include "bench_util.h"
#include "check.h"

static float random_uniform(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (float)(*seed >> 8) / 16777216.0f - 0.5f;
}

/* p[i] = exp(logits[i] / temp - max) and their sum, on an odd length, against exp in double. */
static void test_softmax_exp(unsigned *seed)
{
    enum { N = 2051 };
    static float logits[N], p[N];
    const float temp = 0.7f;
    float max = -INFINITY;
    for (int i = 0; i < N; i++)
        logits[i] = 20.0f * random_uniform(seed), max = fmaxf(max, logits[i]);
    const float sum = softmax_exp(logits, N, temp, max / temp, p);
    double ref_sum = 0, max_err = 0;
    for (int i = 0; i < N; i++) {
        const double ref = exp((double)(logits[i] / temp - max / temp));
        ref_sum += ref;
        max_err = fmax(max_err, fabs(p[i] - ref) / ref);
    }
    CHECK(max_err <= 2e-7, "%s softmax_exp: relative error %g", BENCH_TARGET, max_err);
    CHECK(fabs(sum - ref_sum) <= 1e-5 * ref_sum, "%s softmax_exp: sum %g, want %g", BENCH_TARGET, sum, ref_sum);
}

static void test_argmax(unsigned *seed)
{
    enum { N = 2053 };
    static float x[N];
    int mismatch = -1;
    for (int trial = 0; trial < 200; trial++) {
        const int n = 1 + trial * 10 % N;
        for (int i = 0; i < n; i++) /* few distinct values: ties are common */
            x[i] = (float)(int)(8.0f * random_uniform(seed));
        if (trial % 4 == 1)
            x[(trial * 7) % n] = NAN;
        if (trial % 8 == 2)
            x[0] = NAN;
        if (trial % 8 == 3)
            for (int i = 0; i < n; i++)
                x[i] = i % 3 ? -0.0f : (i % 2 ? 0.0f : -1.0f);
        if (argmax(x, n) != argmax_reference(x, n) && mismatch < 0)
            mismatch = trial;
    }
    CHECK(mismatch < 0, "%s argmax differs from the scalar rule, first in trial %d", BENCH_TARGET, mismatch);
}

int main(void)
{
    static const int frames[] = {1, 2, 5, 7, 13, 37, 193, 385}; /* (193, 385: past a chunk of tiles) */
    unsigned seed = 7;
    test_softmax_exp(&seed);
    test_argmax(&seed);
    for (size_t k = 0; k < sizeof bench_kernels / sizeof bench_kernels[0]; k++) {
        const int R = bench_kernels[k].rows, C = bench_kernels[k].cols, NR = BENCH_PACK_NR;
        const int panels = (R + NR - 1) / NR, T_MAX = 385;
        float *w = malloc((size_t)R * C * sizeof *w), *wp = malloc((size_t)panels * NR * C * sizeof *wp);
        float *x = malloc((size_t)T_MAX * C * sizeof *x), *y = malloc((size_t)T_MAX * R * sizeof *y);
        for (size_t i = 0; i < (size_t)R * C; i++)
            w[i] = random_uniform(&seed);
        for (size_t i = 0; i < (size_t)T_MAX * C; i++)
            x[i] = random_uniform(&seed);
        pack_panels(w, R, C, NR, wp);
        for (size_t f = 0; f < sizeof frames / sizeof frames[0]; f++) {
            const int T = frames[f];
            /* the scratch exactly as the planner sizes it for T frames; a team of 3 shares the work */
            float *sums = malloc((size_t)bench_kernels[k].scratch * T * sizeof *sums);
#pragma omp parallel num_threads(3)
            bench_kernels[k].fn(wp, x, y, sums, T);
            free(sums);
            double max_err = 0, max_ref = 0;
            for (int t = 0; t < T; t++)
                for (int r = 0; r < R; r++) {
                    double ref = 0;
                    for (int c = 0; c < C; c++)
                        ref += (double)w[(size_t)r * C + c] * x[(size_t)t * C + c];
                    max_err = fmax(max_err, fabs(y[(size_t)t * R + r] - ref));
                    max_ref = fmax(max_ref, fabs(ref));
                }
            CHECK(max_err <= 1e-5 * max_ref, "%s: %dx%d with %d frames: relative error %g", BENCH_TARGET, R, C, T,
                  max_err / max_ref);
        }
        free(w), free(wp), free(x), free(y);
    }
    return check_finish();
}
