/* target.c: the table of target ISAs (target.h) and the vector vocabulary each one defines. */
#include <string.h>
#include "cpu.h"
#include "kir.h"
#include "target.h"

/* DOT4 without VNNI, from x86's maddubs (u8 x s8 pairs summed to saturating i16) and madd (i16
   pairs summed to i32), x the prefix (_mm256, _mm512) and bits its width: bytes below 128 directly
   (a pair's sum is at most 2 x 127 x 128, no saturation); others as their low 7 bits plus 128 x
   their top bit. */
#define DOT4_U7_MADDUBS(x) #x "_add_epi32(a, " #x "_madd_epi16(" #x "_maddubs_epi16(b, c), " #x "_set1_epi16(1)))"
#define DOT4_MADDUBS(x, bits)                                                                                       \
    #x "_add_epi32(a, " #x "_add_epi32(" #x "_madd_epi16(" #x "_maddubs_epi16(" #x "_and_si" #bits "(b, " #x      \
       "_set1_epi8(0x7f)), c), " #x "_set1_epi16(1)), " #x "_slli_epi32(" #x "_madd_epi16(" #x "_maddubs_epi16(" #x \
       "_and_si" #bits "(" #x "_srli_epi16(b, 7), " #x "_set1_epi8(1)), c), " #x "_set1_epi16(1)), 7)))"

/* The AVX-512 targets' vocabulary but for DOT4 (they differ in it) */
#define AVX512_VOCABULARY(CFLAGS, FEATURES, LLVM_FEATURES)                                                          \
    .cflags = CFLAGS, .width = 16, .tile_rows = 8, .features = FEATURES, .llvm_triple = "x86_64-pc-linux-gnu",     \
    .llvm_cpu = "x86-64", .llvm_features = LLVM_FEATURES, .include = "#include <immintrin.h>\n",                   \
    .include_simde = "#define SIMDE_ENABLE_NATIVE_ALIASES\n#include <simde/x86/avx512.h>\n", .vtype = "__m512",   \
    .load = "_mm512_loadu_ps(p)", .store = "_mm512_storeu_ps(p, v)", .set1 = "_mm512_set1_ps(x)",                 \
    .zero = "_mm512_setzero_ps()", .fma = "_mm512_fmadd_ps(a, b, c)", .add = "_mm512_add_ps(a, b)",                \
    .sub = "_mm512_sub_ps(a, b)", .mul = "_mm512_mul_ps(a, b)", .max = "_mm512_max_ps(a, b)",                      \
    .min = "_mm512_min_ps(a, b)", .div = "_mm512_div_ps(a, b)", .sum = "return _mm512_reduce_add_ps(v);",          \
    .floor = "_mm512_roundscale_ps(x, 0x09)", .swap_pairs = "_mm512_shuffle_ps(v, v, 0xB1)",                       \
    .pow2i = "_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_castps_si512(_mm512_add_ps(n, "       \
             "_mm512_set1_ps(12582912.0f))), _mm512_set1_epi32(127 - 0x4B400000)), 23))",                          \
    .load_bf16 = "_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i "  \
                 "*)p)), 16))",                                                                                     \
    .load_f16 = "_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p))", .itype = "__m512i",                     \
    .iload = "_mm512_loadu_si512(p)", .istore = "_mm512_storeu_si512(p, v)", .iset1 = "_mm512_set1_epi32(x)", .iadd = "_mm512_add_epi32(a, b)",           \
    .isub = "_mm512_sub_epi32(a, b)", .iand = "_mm512_and_si512(a, b)", .ishr = "_mm512_srli_epi32(v, n)",         \
    .f_from_i = "_mm512_cvtepi32_ps(v)"

static const struct target targets[] = {
    {.name = "scalar", .cflags = "", .width = 1, .tile_rows = 1, .features = "", .llvm_cpu = "generic", .llvm_features = ""},
    {.name = "avx2", .cflags = "-mavx2 -mfma -mf16c", .width = 8, .tile_rows = 6, .features = "avx2,fma,f16c",
     .llvm_triple = "x86_64-pc-linux-gnu", .llvm_cpu = "x86-64", .llvm_features = "+avx2,+fma,+f16c,-avx512f",
     .include = "#include <immintrin.h>\n",
     .include_simde = "#define SIMDE_ENABLE_NATIVE_ALIASES\n#include <simde/x86/avx2.h>\n#include <simde/x86/fma.h>\n",
     .vtype = "__m256", .load = "_mm256_loadu_ps(p)", .store = "_mm256_storeu_ps(p, v)", .set1 = "_mm256_set1_ps(x)",
     .zero = "_mm256_setzero_ps()", .fma = "_mm256_fmadd_ps(a, b, c)", .add = "_mm256_add_ps(a, b)",
     .sub = "_mm256_sub_ps(a, b)", .mul = "_mm256_mul_ps(a, b)", .max = "_mm256_max_ps(a, b)", .min = "_mm256_min_ps(a, b)",
     .div = "_mm256_div_ps(a, b)",
     .sum = "__m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));\n"
            "    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));\n"
            "    return _mm_cvtss_f32(_mm_add_ss(lo, _mm_movehdup_ps(lo)));",
     .floor = "_mm256_floor_ps(x)", .swap_pairs = "_mm256_permute_ps(v, 0xB1)",
     .pow2i = "_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(_mm256_add_ps(n, "
              "_mm256_set1_ps(12582912.0f))), _mm256_set1_epi32(127 - 0x4B400000)), 23))",
     .load_bf16 = "_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16))",
     .load_f16 = "_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p))",
     .itype = "__m256i", .iload = "_mm256_loadu_si256((const __m256i *)p)",
     .istore = "_mm256_storeu_si256((__m256i *)p, v)", .iset1 = "_mm256_set1_epi32(x)",
     .iadd = "_mm256_add_epi32(a, b)", .isub = "_mm256_sub_epi32(a, b)", .iand = "_mm256_and_si256(a, b)",
     .ishr = "_mm256_srli_epi32(v, n)", .dot4 = DOT4_MADDUBS(_mm256, 256), .dot4_u7 = DOT4_U7_MADDUBS(_mm256),
     .f_from_i = "_mm256_cvtepi32_ps(v)", .dot4_form = KIR_DOT4_MADDUBS},
    {.name = "avx512", AVX512_VOCABULARY("-mavx512f -mavx512bw -mavx512vl -mfma", "avx512f,avx512bw,avx512vl,fma",
                                         "+avx512f,+avx512bw,+avx512vl,+fma"),
     .dot4 = DOT4_MADDUBS(_mm512, 512), .dot4_u7 = DOT4_U7_MADDUBS(_mm512), .dot4_form = KIR_DOT4_MADDUBS},
    {.name = "avx512vnni", AVX512_VOCABULARY("-mavx512f -mavx512bw -mavx512vl -mfma -mavx512vnni",
                                             "avx512f,avx512bw,avx512vl,fma,avx512vnni",
                                             "+avx512f,+avx512bw,+avx512vl,+fma,+avx512vnni"),
     .dot4 = "_mm512_dpbusd_epi32(a, b, c)", .dot4_u7 = "_mm512_dpbusd_epi32(a, b, c)", .dot4_form = KIR_DOT4_VNNI},
    {.name = "neon", .cflags = "-march=armv8.2-a+dotprod+fp16", .width = 4, .tile_rows = 8, .features = "neon,asimddp,asimdhp",
     .llvm_triple = "aarch64-unknown-linux-gnu", .llvm_cpu = "generic", .llvm_features = "+v8.2a,+neon,+dotprod,+fullfp16",
     .pairwise_sum = true,
     .include = "#include <arm_neon.h>\n",
     .include_simde = "#define SIMDE_ENABLE_NATIVE_ALIASES\n#include <simde/arm/neon.h>\n",
     .vtype = "float32x4_t", .load = "vld1q_f32(p)", .store = "vst1q_f32(p, v)", .set1 = "vdupq_n_f32(x)",
     .zero = "vdupq_n_f32(0.0f)", .fma = "vfmaq_f32(c, a, b)", .add = "vaddq_f32(a, b)", .sub = "vsubq_f32(a, b)",
     .mul = "vmulq_f32(a, b)", .max = "vbslq_f32(vcgtq_f32(a, b), a, b)",
     .min = "vbslq_f32(vcltq_f32(a, b), a, b)", .div = "vdivq_f32(a, b)", .sum = "return vaddvq_f32(v);", .floor = "vrndmq_f32(x)",
     .swap_pairs = "vrev64q_f32(v)",
     .load_bf16 = "vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16))",
     .load_f16 = "vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)))",
     .pow2i = "vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vreinterpretq_s32_f32(vaddq_f32(n, "
              "vdupq_n_f32(12582912.0f))), vdupq_n_s32(127 - 0x4B400000)), 23))",
     .itype = "int32x4_t", .iload = "vld1q_s32(p)", .istore = "vst1q_s32(p, v)", .iset1 = "vdupq_n_s32(x)", .iadd = "vaddq_s32(a, b)",
     .isub = "vsubq_s32(a, b)", .iand = "vandq_s32(a, b)",
     .ishr = "vreinterpretq_s32_u32(vshrq_n_u32(vreinterpretq_u32_s32(v), n))",
     /* (sdot multiplies signed bytes: b's as b - 128, then 128 x the sum of c's added back) */
     .dot4 = "vaddq_s32(vdotq_s32(a, vreinterpretq_s8_s32(veorq_s32(b, vdupq_n_s32((int32_t)0x80808080))), "
             "vreinterpretq_s8_s32(c)), vshlq_n_s32(vdotq_s32(vdupq_n_s32(0), vdupq_n_s8(1), vreinterpretq_s8_s32(c)), 7))",
     .dot4_u7 = "vdotq_s32(a, vreinterpretq_s8_s32(b), vreinterpretq_s8_s32(c))", .f_from_i = "vcvtq_f32_s32(v)",
     .dot4_form = KIR_DOT4_SDOT},
};

/* The CPUs LLVM 19 knows that can run each family's targets (`llc-19 -mcpu=help`), for --cpu. */
static const char *const x86_64_cpus[] = {
    "alderlake", "amdfam10", "arrowlake", "arrowlake-s", "athlon64", "athlon64-sse3", "atom", "barcelona", "bdver1",
    "bdver2", "bdver3", "bdver4", "bonnell", "broadwell", "btver1", "btver2", "cannonlake", "cascadelake",
    "clearwaterforest", "cooperlake", "core-avx-i", "core-avx2", "core2", "corei7", "corei7-avx", "emeraldrapids",
    "generic", "goldmont", "goldmont-plus", "gracemont", "grandridge", "graniterapids", "graniterapids-d", "haswell",
    "icelake-client", "icelake-server", "ivybridge", "k8", "k8-sse3", "knl", "knm", "lunarlake", "meteorlake",
    "nehalem", "nocona", "opteron", "opteron-sse3", "pantherlake", "penryn", "raptorlake", "rocketlake", "sandybridge",
    "sapphirerapids", "sierraforest", "silvermont", "skx", "skylake", "skylake-avx512", "slm", "tigerlake", "tremont",
    "westmere", "x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4", "znver1", "znver2", "znver3", "znver4", "znver5", NULL};
static const char *const aarch64_cpus[] = {
    "a64fx", "ampere1", "ampere1a", "ampere1b", "apple-a10", "apple-a11", "apple-a12", "apple-a13", "apple-a14",
    "apple-a15", "apple-a16", "apple-a17", "apple-a7", "apple-m4", "carmel", "cortex-a34", "cortex-a35", "cortex-a510",
    "cortex-a520", "cortex-a520ae", "cortex-a53", "cortex-a55", "cortex-a57", "cortex-a65", "cortex-a65ae",
    "cortex-a710", "cortex-a715", "cortex-a72", "cortex-a720", "cortex-a720ae", "cortex-a725", "cortex-a73",
    "cortex-a75", "cortex-a76", "cortex-a76ae", "cortex-a77", "cortex-a78", "cortex-a78ae", "cortex-a78c",
    "cortex-r82", "cortex-r82ae", "cortex-x1", "cortex-x1c", "cortex-x2", "cortex-x3", "cortex-x4", "cortex-x925",
    "exynos-m3", "exynos-m4", "exynos-m5", "falkor", "generic", "kryo", "neoverse-512tvb", "neoverse-e1",
    "neoverse-n1", "neoverse-n2", "neoverse-n3", "neoverse-v1", "neoverse-v2", "neoverse-v3", "neoverse-v3ae",
    "oryon-1", "saphira", "thunderx", "thunderx2t99", "thunderx3t110", "thunderxt81", "thunderxt83", "thunderxt88",
    "tsv110", NULL};

bool target_cpu_known(const struct target *t, const char *cpu)
{
    for (const char *const *known = strcmp(t->name, "neon") == 0 ? aarch64_cpus : x86_64_cpus; *known; known++)
        if (strcmp(*known, cpu) == 0)
            return true;
    return false;
}

const struct target *target_find(const char *name)
{
    size_t count = sizeof targets / sizeof targets[0];
    if (strcmp(name, "native") == 0) {
        /* the widest vector target whose every feature this CPU has (of equal widths, the later:
           it has more) */
        const struct target *best = &targets[0];
        for (size_t i = 1; i < count; i++)
            if (targets[i].width >= best->width && !kiln_cpu_missing(targets[i].features))
                best = &targets[i];
        return best;
    }
    for (size_t i = 0; i < count; i++)
        if (strcmp(targets[i].name, name) == 0)
            return &targets[i];
    return NULL;
}

const struct target *target_isa(const struct target *t, bool simde)
{
    return simde ? target_find("avx2") : t;
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
    fprintf(out, "static inline vf vf_sub(vf a, vf b) { return %s; }\n", t->sub);
    fprintf(out, "static inline vf vf_mul(vf a, vf b) { return %s; }\n", t->mul);
    fprintf(out, "static inline vf vf_max(vf a, vf b) { return %s; }\n", t->max);
    fprintf(out, "static inline vf vf_min(vf a, vf b) { return %s; }\n", t->min);
    if (t->div && !simde) /* (SIMDe's NEON has no vdivq_f32) */
        fprintf(out, "static inline vf vf_div(vf a, vf b) { return %s; }\n", t->div);
    else
        fprintf(out, "static inline vf vf_div(vf a, vf b)\n{\n    float x[VF_WIDTH], y[VF_WIDTH];\n"
                     "    vf_store(x, a);\n    vf_store(y, b);\n    for (int i = 0; i < VF_WIDTH; i++)\n"
                     "        x[i] /= y[i];\n    return vf_load(x);\n}\n");
    fprintf(out, "static inline vf vf_floor(vf x) { return %s; }\n", t->floor);
    fprintf(out, "static inline vf vf_pow2i(vf n) { return %s; }\n", t->pow2i);
    fprintf(out, "static inline vf vf_swap_pairs(vf v) { return %s; }\n", t->swap_pairs);
    const char *const widened[2][2] = {{"bf16", t->load_bf16}, {"f16", t->load_f16}};
    if (simde) /* (the lanes one at a time, by kiln_format.h's conversions) */
        fprintf(out, "#include \"kiln_format.h\"\n");
    /* (unused in a model of f32 weights: clang would warn of an unused static function) */
    for (int i = 0; i < 2; i++)
        if (!simde)
            fprintf(out, "__attribute__((unused)) static inline vf vf_load_%s(const uint16_t *p) { return %s; }\n",
                    widened[i][0], widened[i][1]);
        else
            fprintf(out, "__attribute__((unused)) static inline vf vf_load_%s(const uint16_t *p)\n{\n    float x[VF_WIDTH];\n"
                         "    for (int i = 0; i < VF_WIDTH; i++)\n        x[i] = kiln_f32_from_%s(p[i]);\n"
                         "    return vf_load(x);\n}\n", widened[i][0], widened[i][0]);
    fprintf(out, "typedef %s vi;\n", t->itype);
    fprintf(out, "__attribute__((unused)) static inline vi vi_load(const int32_t *p) { return %s; }\n", t->iload);
    fprintf(out, "__attribute__((unused)) static inline void vi_store(int32_t *p, vi v) { %s; }\n", t->istore);
    fprintf(out, "__attribute__((unused)) static inline vi vi_set1(int32_t x) { return %s; }\n", t->iset1);
    const char *const binary[][2] = {{"add", t->iadd}, {"sub", t->isub}, {"and", t->iand}, {"dot4", t->dot4}, {"dot4_u7", t->dot4_u7}};
    for (int i = 0; i < 5; i++)
        if (!simde || i < 3)
            fprintf(out, "__attribute__((unused)) static inline vi vi_%s(vi a, vi b%s) { return %s; }\n", binary[i][0],
                    i >= 3 ? ", vi c" : "", binary[i][1]);
        else /* (SIMDe's madd and cvtepi32 aliases are not all usable: the definitions, lane by lane) */
            fprintf(out, "__attribute__((unused)) static inline vi vi_%s(vi a, vi b, vi c)\n{\n"
                         "    int32_t x[VF_WIDTH], y[VF_WIDTH], z[VF_WIDTH];\n    vi_store(x, a), vi_store(y, b), vi_store(z, c);\n"
                         "    for (int i = 0; i < VF_WIDTH; i++)\n        for (int k = 0; k < 4; k++)\n"
                         "            x[i] += (int)((uint32_t)y[i] >> 8 * k & 0x%x) * (int8_t)((uint32_t)z[i] >> 8 * k);\n"
                         "    return vi_load(x);\n}\n", binary[i][0], i == 3 ? 0xff : 0x7f);
    fprintf(out, "#define vi_shr(v, n) (%s)\n", t->ishr);
    if (!simde)
        fprintf(out, "__attribute__((unused)) static inline vf vf_from_vi(vi v) { return %s; }\n", t->f_from_i);
    else
        fprintf(out, "__attribute__((unused)) static inline vf vf_from_vi(vi v)\n{\n    int32_t x[VF_WIDTH];\n"
                     "    float y[VF_WIDTH];\n    vi_store(x, v);\n    for (int i = 0; i < VF_WIDTH; i++)\n"
                     "        y[i] = (float)x[i];\n    return vf_load(y);\n}\n");
    if (t->sum && !simde) /* (SIMDe lacks some reductions: then through memory) */
        fprintf(out, "static inline float vf_sum(vf v)\n{\n    %s\n}\n\n", t->sum);
    else
        fprintf(out, "static inline float vf_sum(vf v)\n{\n    float lane[VF_WIDTH], s = 0.0f;\n    vf_store(lane, v);\n"
                     "    for (int i = 0; i < VF_WIDTH; i++)\n        s += lane[i];\n    return s;\n}\n\n");
    /* (no lane is NaN where the kernels take this: their order does not matter) */
    fprintf(out, "static inline float vf_max_lanes(vf v)\n{\n    float lane[VF_WIDTH], m;\n    vf_store(lane, v);\n"
                 "    m = lane[0];\n    for (int i = 1; i < VF_WIDTH; i++)\n        m = lane[i] > m ? lane[i] : m;\n"
                 "    return m;\n}\n\n");
}
