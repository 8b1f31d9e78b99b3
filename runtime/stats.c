/* stats.c: quantiles of timings. */
#include <stdlib.h>
#include "stats.h"

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double quantile_of(double *x, int n, double p)
{
    qsort(x, (size_t)n, sizeof *x, compare_double);
    int i = (int)(p * (n - 1) + 0.5);
    return x[i < n ? i : n - 1];
}
