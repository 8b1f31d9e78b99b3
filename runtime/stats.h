/* stats.h: order statistics of timings (stats.c), shared by bench and generate. */
#ifndef KILN_STATS_H
#define KILN_STATS_H
/* Sorts x[n] in place and returns its p-quantile (p in [0, 1], nearest rank). */
double quantile_of(double *x, int n, double p);
static inline double median_of(double *x, int n) { return quantile_of(x, n, 0.5); }
#endif
