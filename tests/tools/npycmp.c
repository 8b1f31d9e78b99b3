/* npycmp: compares two .npy arrays as the tests require (docs/contracts.md, Numerics).
 *   npycmp GOT.npy REF.npy TOL   floats: max |got - ref| / max |ref| <= TOL, NaN exactly where ref has NaN;
 *                                ints:   every element equal (TOL ignored).
 *   npycmp --argmax GOT.npy REF.npy MIN
 *                                logits: the share of positions (rows of the last dimension, NaN rows
 *                                skipped) whose largest logit is the same in both, at least MIN.
 * Prints one line "rel_err=X max_abs_err=Y" (or "argmax agrees at N of M positions"; or the first
 * mismatch) and exits 0 when within tolerance, 1 otherwise. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "npy.h"

static double element(const struct npy_array *a, size_t i)
{
    switch (a->dtype) {
    case NPY_F32: return ((const float *)a->data)[i];
    case NPY_I32: return ((const int32_t *)a->data)[i];
    case NPY_I64: return (double)((const int64_t *)a->data)[i];
    case NPY_U8: return ((const uint8_t *)a->data)[i];
    }
    return 0;
}

/* The index of the largest of row[0..n) (the first on ties) */
static size_t argmax(const struct npy_array *a, size_t row, size_t n)
{
    size_t best = 0;
    for (size_t j = 1; j < n; j++)
        if (element(a, row * n + j) > element(a, row * n + best))
            best = j;
    return best;
}

int main(int argc, char **argv)
{
    const bool by_argmax = argc == 5 && strcmp(argv[1], "--argmax") == 0;
    if (argc != 4 && !by_argmax) {
        fprintf(stderr, "usage: npycmp GOT.npy REF.npy TOL | npycmp --argmax GOT.npy REF.npy MIN\n");
        return 2;
    }
    if (by_argmax)
        argv++;
    struct npy_array got, ref;
    char err[1024];
    if (npy_read(argv[1], &got, err, sizeof err) || npy_read(argv[2], &ref, err, sizeof err)) {
        fprintf(stderr, "npycmp: %s\n", err);
        return 1;
    }
    if (got.rank != ref.rank || got.count != ref.count) {
        printf("shape mismatch (rank %d vs %d, %zu vs %zu elements)\n", got.rank, ref.rank, got.count, ref.count);
        return 1;
    }
    for (int d = 0; d < got.rank; d++)
        if (got.shape[d] != ref.shape[d]) {
            printf("shape mismatch in dim %d: %lld vs %lld\n", d, (long long)got.shape[d], (long long)ref.shape[d]);
            return 1;
        }
    bool floats = ref.dtype == NPY_F32;
    if (by_argmax) {
        const size_t n = got.rank ? (size_t)got.shape[got.rank - 1] : 1, rows = n ? got.count / n : 0;
        size_t same = 0, counted = 0;
        for (size_t r = 0; r < rows; r++) {
            if (isnan(element(&ref, r * n)))
                continue;
            counted++;
            same += argmax(&got, r, n) == argmax(&ref, r, n);
        }
        const double share = counted ? (double)same / (double)counted : 1.0, min = atof(argv[3]);
        printf("argmax agrees at %zu of %zu positions (%.4f; at least %g)\n", same, counted, share, min);
        npy_free(&got), npy_free(&ref);
        return share >= min ? 0 : 1;
    }
    double max_ref = 0, max_err = 0;
    for (size_t i = 0; i < ref.count; i++) {
        double g = element(&got, i), r = element(&ref, i);
        if (isnan(r) != isnan(g)) {
            printf("NaN mismatch at element %zu: got %g, reference %g\n", i, g, r);
            return 1;
        }
        if (isnan(r))
            continue;
        if (!floats && g != r) {
            printf("mismatch at element %zu: got %.0f, reference %.0f\n", i, g, r);
            return 1;
        }
        max_ref = fmax(max_ref, fabs(r));
        max_err = fmax(max_err, fabs(g - r));
    }
    double rel = max_ref > 0 ? max_err / max_ref : max_err;
    double tol = atof(argv[3]);
    printf("rel_err=%.3g max_abs_err=%.3g (tolerance %g)\n", rel, max_err, floats ? tol : 0.0);
    npy_free(&got), npy_free(&ref);
    return floats && !(rel <= tol) ? 1 : 0;
}
