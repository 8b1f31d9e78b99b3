/* read_probe.c: this machine's DRAM read bandwidth at this moment, for `bench --floor`: a buffer
 * far larger than the caches, read once by the team that runs the frames, each thread walking its
 * share as 4 ranges in lockstep (as the streaming matvec walks its panels and as tests/bench/machine.c
 * reads), with the widest vector loads this CPU has. On a shared machine the bandwidth drifts by
 * tens of percent within a minute, so bench measures it between frames rather than once. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, with any compiler's -std=c11 */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cpu.h"
#include "pages.h"
#include "read_probe.h"

/* Bytes a walk reads: 8 vectors of the widest kind per step, so a multiple of 512 */
#define WALK_STEP 512

/* The sum of p[0..n) (n a multiple of 4 * WALK_STEP) as 4 ranges in lockstep, two vectors of each per
   step, in vectors of `bytes` bytes; under `attr` (a target attribute, or nothing) */
#define DEFINE_WALK(name, attr, bytes)                                                                       \
    attr static uint64_t name(const unsigned char *p, size_t n)                                              \
    {                                                                                                        \
        typedef uint64_t vec __attribute__((vector_size(bytes)));                                            \
        const vec *a = (const vec *)(const void *)p;                                                         \
        const size_t q = n / 4 / (bytes);                                                                    \
        vec s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0}, s6 = {0}, s7 = {0};                   \
        for (size_t i = 0; i < q; i += 2) {                                                                  \
            s0 += a[i], s1 += a[i + 1], s2 += a[q + i], s3 += a[q + i + 1];                                  \
            s4 += a[2 * q + i], s5 += a[2 * q + i + 1], s6 += a[3 * q + i], s7 += a[3 * q + i + 1];          \
        }                                                                                                    \
        const vec s = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;                                                 \
        uint64_t total = 0;                                                                                  \
        for (size_t k = 0; k < (bytes) / sizeof(uint64_t); k++)                                              \
            total += s[k];                                                                                   \
        return total;                                                                                        \
    }

DEFINE_WALK(walk_portable, , 16)
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
DEFINE_WALK(walk_avx2, __attribute__((target("avx2"))), 32)
DEFINE_WALK(walk_avx512, __attribute__((target("avx512f"))), 64)
#endif

typedef uint64_t walk_fn(const unsigned char *p, size_t n);

static walk_fn *widest_walk(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (kiln_cpu_has("avx512f"))
        return walk_avx512;
    if (kiln_cpu_has("avx2"))
        return walk_avx2;
#endif
    return walk_portable;
}

struct read_probe {
    unsigned char *buffer;
    size_t bytes;
    walk_fn *walk;
    volatile uint64_t sink; /* (so that the sums, and the reads, are kept) */
};

struct read_probe *read_probe_new(size_t bytes)
{
    struct read_probe *p = calloc(1, sizeof *p);
    bytes = bytes / (4 * WALK_STEP) * (4 * WALK_STEP);
    if (!p || bytes == 0 || !(p->buffer = kiln_alloc_streamed(bytes, NULL))) {
        free(p);
        return NULL;
    }
    p->bytes = bytes;
    p->walk = widest_walk();
    return p;
}

void read_probe_free(struct read_probe *p)
{
    if (p)
        kiln_free_streamed(p->buffer);
    free(p);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double read_probe_gb_s(struct read_probe *p)
{
    uint64_t total = 0;
    size_t read = 0;
    const double start = seconds();
#pragma omp parallel reduction(+ : total, read)
    {
        const size_t share = p->bytes / (size_t)omp_get_num_threads() / (4 * WALK_STEP) * (4 * WALK_STEP);
        total += p->walk(p->buffer + share * (size_t)omp_get_thread_num(), share);
        read += share;
    }
    const double elapsed = seconds() - start;
    p->sink = total;
    return (double)read / elapsed / 1e9;
}
