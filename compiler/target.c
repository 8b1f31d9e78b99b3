/* target.c: the table of target ISAs (target.h) and the vector vocabulary each one defines. */
#include <string.h>
#include "target.h"

static const struct target targets[] = {
    {.name = "scalar", .cflags = "", .width = 1, .tile_rows = 1, .features = ""},
    {.name = "avx2", .cflags = "-mavx2 -mfma -mf16c", .width = 8, .tile_rows = 6, .features = "avx2,fma",
     .include = "#include <immintrin.h>\n",
     .include_simde = "#define SIMDE_ENABLE_NATIVE_ALIASES\n#include <simde/x86/avx2.h>\n#include <simde/x86/fma.h>\n",
     .vtype = "__m256", .load = "_mm256_loadu_ps(p)", .store = "_mm256_storeu_ps(p, v)", .set1 = "_mm256_set1_ps(x)",
     .zero = "_mm256_setzero_ps()", .fma = "_mm256_fmadd_ps(a, b, c)", .add = "_mm256_add_ps(a, b)",
     .mul = "_mm256_mul_ps(a, b)", .max = "_mm256_max_ps(a, b)",
     .sum = "__m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));\n"
            "    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));\n"
            "    return _mm_cvtss_f32(_mm_add_ss(lo, _mm_movehdup_ps(lo)));"},
    {.name = "avx512", .cflags = "-mavx512f -mavx512bw -mavx512vl -mavx512vnni -mfma", .width = 16, .tile_rows = 8,
     .features = "avx512f,avx512bw,avx512vl",
     .include = "#include <immintrin.h>\n",
     .include_simde = "#define SIMDE_ENABLE_NATIVE_ALIASES\n#include <simde/x86/avx512.h>\n",
     .vtype = "__m512", .load = "_mm512_loadu_ps(p)", .store = "_mm512_storeu_ps(p, v)", .set1 = "_mm512_set1_ps(x)",
     .zero = "_mm512_setzero_ps()", .fma = "_mm512_fmadd_ps(a, b, c)", .add = "_mm512_add_ps(a, b)",
     .mul = "_mm512_mul_ps(a, b)", .max = "_mm512_max_ps(a, b)", .sum = "return _mm512_reduce_add_ps(v);"},
    {.name = "neon", .cflags = "-march=armv8.2-a+dotprod+fp16", .width = 4, .tile_rows = 8, .features = "neon",
     .include = "#include <arm_neon.h>\n",
     .include_simde = "#define SIMDE_ENABLE_NATIVE_ALIASES\n#include <simde/arm/neon.h>\n",
     .vtype = "float32x4_t", .load = "vld1q_f32(p)", .store = "vst1q_f32(p, v)", .set1 = "vdupq_n_f32(x)",
     .zero = "vdupq_n_f32(0.0f)", .fma = "vfmaq_f32(c, a, b)", .add = "vaddq_f32(a, b)", .mul = "vmulq_f32(a, b)",
     .max = "vmaxq_f32(a, b)", .sum = "return vaddvq_f32(v);"},
};

const struct target *target_find(const char *name)
{
    if (strcmp(name, "native") == 0) {
#if defined(__x86_64__)
        __builtin_cpu_init();
        name = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                       __builtin_cpu_supports("avx512vl")
                   ? "avx512"
               : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? "avx2"
                                                                                 : "scalar";
#elif defined(__aarch64__)
        name = "neon";
#else
        name = "scalar";
#endif
    }
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (strcmp(targets[i].name, name) == 0)
            return &targets[i];
    return NULL;
}

void target_emit_vocabulary(FILE *out, const struct target *t, bool simde)
{
    if (t->width == 1)
        return;
    fprintf(out, "/* The %s vector vocabulary the kernels are written in (compiler/target.c). */\n%s", t->name,
            simde ? t->include_simde : t->include);
    fprintf(out, "typedef %s vf;\n#define VF_WIDTH %d\n", t->vtype, t->width);
    fprintf(out, "static inline vf vf_load(const float *p) { return %s; }\n", t->load);
    fprintf(out, "static inline void vf_store(float *p, vf v) { %s; }\n", t->store);
    fprintf(out, "static inline vf vf_set1(float x) { return %s; }\n", t->set1);
    fprintf(out, "static inline vf vf_zero(void) { return %s; }\n", t->zero);
    fprintf(out, "static inline vf vf_fma(vf a, vf b, vf c) { return %s; }\n", t->fma);
    fprintf(out, "static inline vf vf_add(vf a, vf b) { return %s; }\n", t->add);
    fprintf(out, "static inline vf vf_mul(vf a, vf b) { return %s; }\n", t->mul);
    fprintf(out, "static inline vf vf_max(vf a, vf b) { return %s; }\n", t->max);
    if (t->sum && !simde) /* (SIMDe lacks some reductions: then through memory) */
        fprintf(out, "static inline float vf_sum(vf v)\n{\n    %s\n}\n\n", t->sum);
    else
        fprintf(out, "static inline float vf_sum(vf v)\n{\n    float lane[VF_WIDTH], s = 0.0f;\n    vf_store(lane, v);\n"
                     "    for (int i = 0; i < VF_WIDTH; i++)\n        s += lane[i];\n    return s;\n}\n\n");
}
