/* test_threads.c: the runtime's team size (runtime/threads.c): kiln_set_threads takes 1 to
 * kiln_max_threads() (0: keep the default) and refuses, changing nothing, any other count; and the
 * CPU guard's feature names (runtime/cpu.c): the host's own target features are there, unknown
 * names never are. */
#include "check.h"
#include "cpu.h"
#include "kiln_rt.h"

int main(void)
{
    const int max = kiln_max_threads();
    CHECK(max >= 1, "kiln_max_threads() = %d", max);
    CHECK(kiln_set_threads(1) == 0 && kiln_threads() == 1, "1 thread: now %d", kiln_threads());
    CHECK(kiln_set_threads(0) == 0 && kiln_threads() == 1, "0 keeps the count: now %d", kiln_threads());
    CHECK(kiln_set_threads(-1) == 1 && kiln_threads() == 1, "-1 refused: now %d", kiln_threads());
    CHECK(kiln_set_threads(max + 1) == 1 && kiln_threads() == 1, "%d refused: now %d", max + 1, kiln_threads());
    CHECK(kiln_set_threads(1000000) == 1, "a million threads refused");
    CHECK(kiln_set_threads(max) == 0 && kiln_threads() == max, "%d threads: now %d", max, kiln_threads());

    CHECK(!kiln_cpu_has("") && !kiln_cpu_has("sse9") && !kiln_cpu_has("avx2,fma"), "unknown feature names");
#if defined(__x86_64__)
    CHECK(!kiln_cpu_has("neon"), "an x86-64 CPU has no NEON");
    /* every x86-64 CPU with AVX2 that kiln has met has FMA and F16C too */
    CHECK(!kiln_cpu_has("avx2") || (kiln_cpu_has("fma") && kiln_cpu_has("f16c")), "avx2 without fma or f16c");
    CHECK(!kiln_cpu_has("avx512bw") || kiln_cpu_has("avx512f"), "avx512bw without avx512f");
#elif defined(__aarch64__)
    CHECK(kiln_cpu_has("neon"), "every AArch64 CPU has NEON");
    CHECK(!kiln_cpu_has("avx2"), "an AArch64 CPU has no AVX2");
#endif
    return check_finish();
}
