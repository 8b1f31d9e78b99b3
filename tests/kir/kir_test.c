/* kir_test: each test kernel of kir_gen as the C back end printed it (c_*) and as the LLVM back end
 * compiled it (llvm_*), run on the same random inputs: both must agree within 1e-6 relative
 * (tests/kir.sh builds this once per target, with DIR holding kir_gen's output on the include path).
 * Prints one line per kernel and "RESULT passed=N failed=M". */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <omp.h>
#include "c_kernels.c"
#include "llvm_kernels.h"
#include "aliases.h"
#define PASTE2(a, b) a##b
#define PASTE(a, b) PASTE2(a, b)
#define C_(name) PASTE(c_, name)
#define LLVM_(name) PASTE(llvm_, name)

static int passed, failed, exact;

/* The runtime's (runtime/threads.c), which the LLVM back end's parallel regions call */
void kiln_parallel(void (*body)(void *context), void *context)
{
#pragma omp parallel
    body(context);
}

static unsigned seed = 12345;
static float uniform(void) /* in [-1, 1) */
{
    seed = seed * 1664525u + 1013904223u;
    return (float)(seed >> 8) / (float)(1u << 23) - 1.0f;
}
static void fill(float *x, int n)
{
    for (int i = 0; i < n; i++)
        x[i] = uniform();
}

/* max |a - b| / max |a| over n values (NaNs must sit at the same places) */
static void compare(const char *what, const float *a, const float *b, int n)
{
    double diff = 0, scale = 0;
    int nan_mismatch = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) {
            nan_mismatch += isnan(a[i]) != isnan(b[i]);
            continue;
        }
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)a[i]));
    }
    const double rel = scale > 0 ? diff / scale : diff;
    const int same = memcmp(a, b, (size_t)n * sizeof *a) == 0;
    if (rel <= 1e-6 && !nan_mismatch) {
        passed++;
        exact += same;
    } else {
        failed++;
    }
    printf("%-26s %s  relative %.2e%s\n", what, rel <= 1e-6 && !nan_mismatch ? "ok  " : "FAIL", rel, same ? " (bitwise)" : "");
}

static void compare_int(const char *what, int a, int b)
{
    if (a == b)
        passed++, exact++;
    else
        failed++;
    printf("%-26s %s  %d vs %d\n", what, a == b ? "ok  " : "FAIL", a, b);
}

#define N 1024
static float a[N], b[N], c1[N], c2[N], d1[N], d2[N];

#define DOT_AXPY(n)                                                                                             \
    do {                                                                                                        \
        fill(a, n), fill(b, n);                                                                                 \
        c1[0] = c_dot_##n(a, b), c2[0] = llvm_dot_##n(a, b);                                                    \
        compare("dot_" #n, c1, c2, 1);                                                                          \
        memcpy(c1, b, sizeof b), memcpy(c2, b, sizeof b);                                                       \
        c_axpy_##n(0.75f, a, c1), llvm_axpy_##n(0.75f, a, c2);                                                  \
        compare("axpy_" #n, c1, c2, n);                                                                         \
    } while (0)

int main(void)
{
    DOT_AXPY(1);
    DOT_AXPY(5);
    DOT_AXPY(16);
    DOT_AXPY(64);
    DOT_AXPY(70);
    DOT_AXPY(100);

    fill(a, 3 * 70), fill(b, 70);
    c_rms_scale_64(a, 1e-5f, c1, 3), llvm_rms_scale_64(a, 1e-5f, c2, 3);
    compare("rms_scale_64", c1, c2, 3);
    c_rms_norm_70(a, b, 1e-5f, c1, 3), llvm_rms_norm_70(a, b, 1e-5f, c2, 3);
    compare("rms_norm_70", c1, c2, 3 * 70);

    fill(a, 4 * 70);
    for (int token = -1; token < 3; token += 3) {
        fill(c1, 70), memcpy(c2, c1, 70 * sizeof *c1);
        c_embed_add_70(c1, a, token), llvm_embed_add_70(c2, a, token);
        compare(token < 0 ? "embed_add_70 (token -1)" : "embed_add_70", c1, c2, 70);
    }

    /* weights in bf16 and f16 (their conversion from f32: kiln_format.h's), widened as they are read */
    static uint16_t wh[2][4 * 100];
    fill(a, 4 * 100), fill(b, 100);
    for (int i = 0; i < 4 * 100; i++)
        wh[0][i] = kiln_bf16_from_f32(a[i]), wh[1][i] = kiln_f16_from_f32(a[i]);
    c1[0] = c_dot_bf16_100(wh[0], b), c2[0] = llvm_dot_bf16_100(wh[0], b);
    compare("dot_bf16_100", c1, c2, 1);
    c1[0] = c_dot_f16_100(wh[1], b), c2[0] = llvm_dot_f16_100(wh[1], b);
    compare("dot_f16_100", c1, c2, 1);
    double want = 0; /* (and the sum they both approximate) */
    for (int i = 0; i < 100; i++)
        want += (double)kiln_f32_from_bf16(wh[0][i]) * b[i];
    compare_int("dot_bf16_100 ~ the sum", fabs(want - c_dot_bf16_100(wh[0], b)) < 1e-4, 1);
    fill(c1, 70), memcpy(c2, c1, 70 * sizeof *c1);
    c_embed_add_bf16_70(c1, wh[0], 2), llvm_embed_add_bf16_70(c2, wh[0], 2);
    compare("embed_add_bf16_70", c1, c2, 70);
    c_embed_add_f16_70(c1, wh[1], 3), llvm_embed_add_f16_70(c2, wh[1], 3);
    compare("embed_add_f16_70", c1, c2, 70);

    fill(a, 3 * 70), fill(b, 3 * 70), memcpy(c1, a, sizeof a), memcpy(c2, a, sizeof a);
    c_add_70(c1, b, 3), llvm_add_70(c2, b, 3);
    compare("add_70", c1, c2, 3 * 70);
    c_gelu_gate_70(c1, b, 3), llvm_gelu_gate_70(c2, b, 3);
    compare("gelu_gate_70", c1, c2, 3 * 70);
    fill(a, 2 * 176);
    c_silu_gate_88(a, c1, 2), llvm_silu_gate_88(a, c2, 2);
    compare("silu_gate_88", c1, c2, 2 * 88);

    fill(a, 2 * 192), fill(b, 2 * 2 * 16), memcpy(c1, a, sizeof a), memcpy(c2, a, sizeof a);
    c_rope_qk_64(c1, b, 2), llvm_rope_qk_64(c2, b, 2);
    compare("rope_qk_64 (head 16)", c1, c2, 2 * 192);
    fill(a, 2 * 144), fill(b, 2 * 2 * 6), memcpy(c1, a, sizeof a), memcpy(c2, a, sizeof a);
    c_rope_qk_48(c1, b, 2), llvm_rope_qk_48(c2, b, 2);
    compare("rope_qk_48 (head 6)", c1, c2, 2 * 144);

    static float k1[4 * 47 * 16], v1[4 * 47 * 16], k2[4 * 47 * 16], v2[4 * 47 * 16];
    fill(a, 3 * 192), fill(k1, 4 * 47 * 16), fill(v1, 4 * 47 * 16);
    memcpy(k2, k1, sizeof k1), memcpy(v2, v1, sizeof v1);
    c_kv_write_64_ring47(a, k1, v1, 45, 3), llvm_kv_write_64_ring47(a, k2, v2, 45, 3);
    compare("kv_write_64_ring47 k", k1, k2, 4 * 47 * 16);
    compare("kv_write_64_ring47 v", v1, v2, 4 * 47 * 16);

    /* argmax: ties (the first wins), NaNs (never chosen unless x[0] is one), every length to 40 */
    for (int n = 1; n <= 40; n++) {
        fill(a, n);
        a[n / 2] = 2.0f, a[n - 1] = 2.0f, a[n / 3] = NAN;
        char what[32];
        snprintf(what, sizeof what, "argmax n=%d", n);
        compare_int(what, c_argmax(a, n), llvm_argmax(a, n));
    }
    a[0] = NAN;
    compare_int("argmax x[0] NaN", c_argmax(a, 37), llvm_argmax(a, 37));
    fill(a, 37);
    c1[40] = c_softmax_exp(a, 37, 0.7f, 1.0f / 0.7f, c1), c2[40] = llvm_softmax_exp(a, 37, 0.7f, 1.0f / 0.7f, c2);
    compare("softmax_exp n=37 (p)", c1, c2, 37);
    compare("softmax_exp n=37 (sum)", c1 + 40, c2 + 40, 1);

    /* attention: rows 45..47 of a ring of 47 with slots written up to position 47 (some left empty);
       then the chunked kernel over 16400 slots whose positions reach back past its window */
    static float q[3 * 192], o1[3 * 64], o2[3 * 64];
    static int64_t slot_pos[16400];
    fill(q, 3 * 192), fill(k1, 4 * 47 * 16), fill(v1, 4 * 47 * 16);
    for (int j = 0; j < 47; j++)
        slot_pos[j] = j % 5 == 3 ? -1 : j;
    #pragma omp parallel num_threads(3)
    c_attention_4x16_ring47_window16_in_qkv(q, k1, v1, slot_pos, 45, o1, 3);
    #pragma omp parallel num_threads(3)
    llvm_attention_4x16_ring47_window16_in_qkv(q, k1, v1, slot_pos, 45, o2, 3);
    compare("attention one pass", o1, o2, 3 * 64);
    static float kc[2 * 16400 * 16], vc[2 * 16400 * 16];
    fill(kc, 2 * 16400 * 16), fill(vc, 2 * 16400 * 16);
    for (int j = 0; j < 16400; j++)
        slot_pos[j] = j < 16000 ? j + 16400 : j; /* (slots from 16000 on hold older frames) */
    #pragma omp parallel num_threads(3)
    c_attention_2x16_ring16400_window16390(q, kc, vc, slot_pos, 32398, o1, 2);
    #pragma omp parallel num_threads(3)
    llvm_attention_2x16_ring16400_window16390(q, kc, vc, slot_pos, 32398, o2, 2);
    compare("attention in chunks", o1, o2, 2 * 32);

#ifdef M_STORE_BLOCKED
    /* the packed matmuls (any values stand in for packed weights: both back ends read the same) */
    static float Wp[3 * 13 * 70 * 32], xs[32 * 70], scale[32], sums1[1 << 16], sums2[1 << 16], r1[32 * 192], r2[32 * 192];
    fill(Wp, 3 * 13 * 70 * 32), fill(xs, 32 * 70), fill(scale, 32);
    for (int T = 1; T <= 13; T += 12) {
        #pragma omp parallel num_threads(3)
        C_(M_STORE_BLOCKED)(Wp, xs, r1, sums1, T);
        #pragma omp parallel num_threads(3)
        LLVM_(M_STORE_BLOCKED)(Wp, xs, r2, sums2, T);
        compare(T == 1 ? "matmul store (one frame)" : "matmul store (13 frames)", r1, r2, T * 100);
    }
    fill(r1, 64), memcpy(r2, r1, 64 * sizeof *r1);
    #pragma omp parallel num_threads(3)
    C_(M_ACC_SCALED)(Wp, xs, scale, r1, 1);
    #pragma omp parallel num_threads(3)
    LLVM_(M_ACC_SCALED)(Wp, xs, scale, r2, 1);
    compare("matmul += scaled (stream)", r1, r2, 64);
    #pragma omp parallel num_threads(3)
    C_(M_GATE_BLOCKED)(Wp, xs, scale, r1, sums1, 7);
    #pragma omp parallel num_threads(3)
    LLVM_(M_GATE_BLOCKED)(Wp, xs, scale, r2, sums2, 7);
    compare("matmul silu gate (7 frames)", r1, r2, 7 * 44);
    static float cs[32 * 32];
    fill(cs, 32 * 32);
    memset(k1, 0, sizeof k1), memset(v1, 0, sizeof v1), memset(k2, 0, sizeof k2), memset(v2, 0, sizeof v2);
    #pragma omp parallel num_threads(3)
    C_(M_ROPE)(Wp, xs, scale, r1, k1, v1, 45, cs, 1);
    #pragma omp parallel num_threads(3)
    LLVM_(M_ROPE)(Wp, xs, scale, r2, k2, v2, 45, cs, 1);
    compare("matmul rope kv: q", r1, r2, 64);
    compare("matmul rope kv: k", k1, k2, 4 * 47 * 16);
    compare("matmul rope kv: v", v1, v2, 4 * 47 * 16);
    #pragma omp parallel num_threads(3)
    C_(M_ROPE_BLOCKED)(Wp, xs, r1, k1, v1, 40, cs, sums1, 5);
    #pragma omp parallel num_threads(3)
    LLVM_(M_ROPE_BLOCKED)(Wp, xs, r2, k2, v2, 40, cs, sums2, 5);
    compare("matmul rope kv (5 frames): q", r1, r2, 5 * 64);
    compare("matmul rope kv (5 frames): k", k1, k2, 4 * 47 * 16);
    #pragma omp parallel num_threads(3)
    C_(M_KV_PAIRS)(Wp, xs, r1, k1, v1, 13, 1);
    #pragma omp parallel num_threads(3)
    LLVM_(M_KV_PAIRS)(Wp, xs, r2, k2, v2, 13, 1);
    compare("matmul kv, head 6: q", r1, r2, 48);
    compare("matmul kv, head 6: k", k1, k2, 8 * 8 * 6);
    /* bf16 and f16 panels of random values */
    static uint16_t Wh[3 * 13 * 70 * 32], Wf[3 * 13 * 70 * 32];
    for (int i = 0; i < 3 * 13 * 70 * 32; i++)
        Wh[i] = kiln_bf16_from_f32(uniform()), Wf[i] = kiln_f16_from_f32(uniform());
    for (int T = 1; T <= 13; T += 12) {
        #pragma omp parallel num_threads(3)
        C_(M_BF16_BLOCKED)(Wh, xs, r1, sums1, T);
        #pragma omp parallel num_threads(3)
        LLVM_(M_BF16_BLOCKED)(Wh, xs, r2, sums2, T);
        compare(T == 1 ? "matmul bf16 (one frame)" : "matmul bf16 (13 frames)", r1, r2, T * 100);
        #pragma omp parallel num_threads(3)
        C_(M_F16_BLOCKED)(Wf, xs, scale, r1, sums1, T);
        #pragma omp parallel num_threads(3)
        LLVM_(M_F16_BLOCKED)(Wf, xs, scale, r2, sums2, T);
        compare(T == 1 ? "matmul f16 gate (one frame)" : "matmul f16 gate (13 frames)", r1, r2, T * 44);
    }
    fill(r1, 64), memcpy(r2, r1, 64 * sizeof *r1);
    #pragma omp parallel num_threads(3)
    C_(M_BF16_ACC)(Wh, xs, scale, r1, 1);
    #pragma omp parallel num_threads(3)
    LLVM_(M_BF16_ACC)(Wh, xs, scale, r2, 1);
    compare("matmul bf16 acc scaled", r1, r2, 64);
    /* q8_0 and q4_0 panels of random bytes whose f16 scales are finite (no byte has bit 6) */
    static uint8_t Wq[3 * 13 * 96 * 32 * 2];
    for (size_t i = 0; i < sizeof Wq; i++)
        Wq[i] = (uint8_t)(seed = seed * 1664525u + 1013904223u, (seed >> 16) & 0xbf);
    fill(xs, 32 * 70);
    for (int T = 1; T <= 13; T += 12) {
        #pragma omp parallel num_threads(3)
        C_(M_Q8_BLOCKED)(Wq, xs, r1, sums1, T);
        #pragma omp parallel num_threads(3)
        LLVM_(M_Q8_BLOCKED)(Wq, xs, r2, sums2, T);
        compare(T == 1 ? "matmul q8_0 (one frame)" : "matmul q8_0 (13 frames)", r1, r2, T * 100);
    }
    #pragma omp parallel num_threads(3)
    C_(M_Q4_GATE)(Wq, xs, scale, r1, sums1, 1);
    #pragma omp parallel num_threads(3)
    LLVM_(M_Q4_GATE)(Wq, xs, scale, r2, sums2, 1);
    compare("matmul q4_0 gate scaled", r1, r2, 44);
#endif
#ifdef HAS_DOT4
    /* DOT4 against its definition, on every byte value (a's and b's of the test both ways) */
    enum { LANES = 1024 };
    static int32_t da[LANES], db[LANES], dc[LANES], defined[LANES], defined7[LANES], o[2][LANES], o7[2][LANES];
    for (int i = 0; i < LANES; i++) {
        da[i] = (int32_t)(seed = seed * 1664525u + 1013904223u);
        db[i] = (int32_t)(i < 64 ? 0x01010101u * (uint32_t)(4 * i) : (seed = seed * 1664525u + 1013904223u));
        dc[i] = (int32_t)(i < 64 ? 0x01010101u * (uint32_t)(4 * i + 2) : (seed = seed * 1664525u + 1013904223u));
        defined[i] = defined7[i] = da[i];
        for (int k = 0; k < 4; k++) {
            const int bk = (int)(((uint32_t)db[i] >> (8 * k)) & 0xff), ck = (int8_t)(((uint32_t)dc[i] >> (8 * k)) & 0xff);
            defined[i] += bk * ck, defined7[i] += (bk & 0x7f) * ck;
        }
    }
    c_dot4(da, db, dc, o[0], o7[0], LANES);
    llvm_dot4(da, db, dc, o[1], o7[1], LANES);
    for (int side = 0; side < 2; side++) {
        const int ok = !memcmp(o[side], defined, sizeof defined) && !memcmp(o7[side], defined7, sizeof defined7);
        passed += ok, exact += ok, failed += !ok;
        printf("%-26s %s\n", side ? "dot4 (llvm) = definition" : "dot4 (c) = definition", ok ? "ok  " : "FAIL");
    }
#endif

    for (int threads = 1; threads <= 3; threads += 2) {
        memset(c1, 0, sizeof c1), memset(c2, 0, sizeof c2), memset(d1, 0, sizeof d1), memset(d2, 0, sizeof d2);
        #pragma omp parallel num_threads(threads)
        c_team(c1, d1, 50);
        #pragma omp parallel num_threads(threads)
        llvm_team(c2, d2, 50);
        compare(threads == 1 ? "team x (1 thread)" : "team x (3 threads)", c1, c2, 50);
        compare(threads == 1 ? "team y (1 thread)" : "team y (3 threads)", d1, d2, 50);
        float x[50], y[50] = {0}; /* (the kernel's definition, serially) */
        for (int i = 0; i < 50; i++)
            x[i] = (float)(3 * i);
        for (int i = 0; i < 50; i += 3)
            y[i] = x[49 - i];
        for (int i = 1; i < 50; i++)
            if (!(i > 2 && i % 3 == 0))
                x[i] = y[i - 1] + 0.5f;
        compare(threads == 1 ? "team x = definition (1)" : "team x = definition (3)", c1, x, 50);
        compare(threads == 1 ? "team y = definition (1)" : "team y = definition (3)", d1, y, 50);
    }
    /* a parallel region over a record, with a table and libm: run twice (the count goes to 2) */
    static float srcs[2][50];
    fill(srcs[0], 50), fill(srcs[1], 50);
    for (int threads = 1; threads <= 3; threads += 2) {
        static struct test_state s1, s2;
        memset(&s1, 0, sizeof s1), memset(&s2, 0, sizeof s2);
        s1.src[0] = s2.src[0] = srcs[0], s1.src[1] = s2.src[1] = srcs[1];
        omp_set_num_threads(threads);
        c_region(&s1, 50), c_region(&s1, 50);
        llvm_region(&s2, 50), llvm_region(&s2, 50);
        compare(threads == 1 ? "region (1 thread)" : "region (3 threads)", s1.out, s2.out, 50);
        const int counted = s1.count == 2 && s2.count == 2;
        passed += counted, exact += counted, failed += !counted;
        printf("%-26s %s  %lld and %lld singles\n", "region count", counted ? "ok  " : "FAIL", (long long)s1.count,
               (long long)s2.count);
    }
    /* the integer rules, on values either side of zero and of 200 */
    static int32_t xs_int[64];
    static uint8_t us[64];
    for (int i = 0; i < 64; i++)
        xs_int[i] = (int32_t)(uniform() * 2e9f), us[i] = (uint8_t)(i * 37 + 11);
    xs_int[5] = 0;
    const long long rules_c = c_rules(xs_int, us, 64), rules_llvm = llvm_rules(xs_int, us, 64);
    if (rules_c == rules_llvm)
        passed++, exact++;
    else
        failed++;
    printf("%-26s %s  %lld vs %lld\n", "integer rules", rules_c == rules_llvm ? "ok  " : "FAIL", rules_c, rules_llvm);
    printf("%d of %d bitwise equal\n", exact, passed + failed);
    printf("RESULT passed=%d failed=%d\n", passed, failed);
    return failed != 0;
}
