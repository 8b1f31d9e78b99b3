/* read_probe.h: the machine's read bandwidth now, measured between bench's frames (read_probe.c). */
#ifndef KILN_READ_PROBE_H
#define KILN_READ_PROBE_H
#include <stddef.h>

struct read_probe;
/* A probe over a buffer of `bytes` (far more than the caches hold; its pages are touched here), or
   NULL when there is no memory for it */
struct read_probe *read_probe_new(size_t bytes);
void read_probe_free(struct read_probe *p);
/* GB/s of one read of the whole buffer by the OpenMP team (the same threads the frames use) */
double read_probe_gb_s(struct read_probe *p);
#endif
