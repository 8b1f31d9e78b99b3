/* threads.c: the runtime's one place that talks to OpenMP about team sizes. Generated code opens one
 * parallel region per call of a graph (`omp parallel` in C, kiln_parallel from an LLVM object) and
 * shares matmul panels and attention heads out among its threads; each output element is computed whole by one thread, so results do not depend on the
 * thread count. --threads and OMP_NUM_THREADS choose the team size. */
#include <omp.h>
#include "kiln_rt.h"

int kiln_set_threads(int threads)
{
    if (threads < 0 || threads > kiln_max_threads())
        return 1;
    if (threads > 0)
        omp_set_num_threads(threads);
    return 0;
}

int kiln_threads(void) { return omp_get_max_threads(); }

int kiln_max_threads(void) { return omp_get_num_procs(); }

void kiln_parallel(void (*body)(void *context), void *context)
{
#pragma omp parallel
    body(context);
}
