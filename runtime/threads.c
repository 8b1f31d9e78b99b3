/* threads.c: the runtime's one place that talks to OpenMP about team sizes. Generated code opens one
 * `omp parallel` region per call of a graph and shares matmul panels and attention heads out with
 * `omp for`; each output element is computed whole by one thread, so results do not depend on the
 * thread count. --threads and OMP_NUM_THREADS choose the team size. */
#include <omp.h>
#include "kiln_rt.h"

void kiln_set_threads(int threads)
{
    if (threads > 0)
        omp_set_num_threads(threads);
}

int kiln_threads(void) { return omp_get_max_threads(); }
