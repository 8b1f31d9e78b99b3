/* kiln_format.h: the weight storage formats, their conversions from f32 (ggml's reference rounding
 * for the q8_0 and q4_0 blocks), and the size arithmetic of a weight's packed layout, in one place
 * that the compiler (plan.c: what the kernels index) and the runtime (weights.c, kw.c: what they
 * allocate, convert and map) share; with the other enums the descriptor carries from the compiler
 * to the runtime (weight classes, stream state roles). */
#ifndef KILN_FORMAT_H
#define KILN_FORMAT_H
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* How a weight's values are stored (kiln_weight_desc.format) or rounded (.rounding). */
/* q8_0 and q4_0 are ggml's blocks of 32 weights along a row, one f16 scale d each: q8_0 holds
   round(x / d) in int8 (d = max |x| / 127), q4_0 holds x / d + 8 in 4 bits (d = the value of largest
   magnitude / -8), weight j of a block in byte j's low nibble and weight j + 16 in its high one. */
enum kiln_format { KILN_F32, KILN_BF16, KILN_F16, KILN_Q8_0, KILN_Q4_0, KILN_NUM_FORMATS };
enum { KILN_QBLOCK = 32 };

/* What a weight is for (kiln_weight_desc.weight_class): `info` reports the bytes of each. */
enum kiln_weight_class { KILN_CLASS_EMBEDDINGS, KILN_CLASS_TEMPORAL, KILN_CLASS_TEXT_HEAD, KILN_CLASS_DEPFORMER, KILN_NUM_CLASSES };

/* Stream timing components reported by `bench` (docs/contracts.md, bench --json), marked by the
   generated step functions (kiln_profile_mark) */
enum kiln_component { KILN_EMBED, KILN_TEMPORAL, KILN_TEXT_HEAD, KILN_DEPFORMER, KILN_SAMPLE, KILN_NUM_LM_COMPONENTS,
                      /* a codec's: encode, then decode (the quantizer's part of each: the resampling and the RVQ) */
                      KILN_SEANET_ENCODER = KILN_NUM_LM_COMPONENTS, KILN_ENCODER_TRANSFORMER, KILN_QUANTIZER,
                      KILN_DECODER_TRANSFORMER, KILN_SEANET_DECODER, KILN_NUM_COMPONENTS };

/* What a model is (kiln_model_desc.kind): a Moshi language model, or a Mimi codec */
enum kiln_model_kind { KILN_MODEL_LM, KILN_MODEL_CODEC };

/* A load-time fold (kiln_weight_desc.fold): how weight `fold_alpha` changes this one */
enum kiln_fold {
    KILN_FOLD_COLUMNS,               /* W[r][c] *= other[c] (an RMSNorm alpha into the matrix after it) */
    KILN_FOLD_DIVIDE_ROWS,           /* W[r][c] /= max(other[r], 1e-5) (a codebook's embedding_sum by its
                                        cluster_usage: Mimi's codebook vectors) */
};

/* What a part of a stream's state is for (kiln_state_desc.role; the graph IR's streaming states) */
enum kiln_state_role {
    KILN_STATE_POSITIONS,            /* the positions of a graph's ring slots */
    KILN_STATE_KV,                   /* a layer's k or v ring [heads][slots][head_dim] */
    KILN_STATE_TTT,                  /* a TTT layer's inner model and its `ready` flag */
    KILN_STATE_TABLE,                /* computed at reset or per call (RoPE) */
    KILN_STATE_COUNTER,              /* frames stepped */
    KILN_STATE_CONV,                 /* a codec conv's left context, or a transposed conv's overlap */
    KILN_NUM_STATE_ROLES
};

/* The columns of the matrix a weight of this shape is to its kernels: all but its first dimension
   (a conv's [out, in, kernel]: in * kernel), or a vector's length; of a transposed one (the
   checkpoint holds the matrix's transpose: a transposed conv's [in, out, kernel]) its first */
static inline size_t kiln_matrix_cols(int rank, const int64_t *shape, int transposed)
{
    if (transposed && rank >= 2)
        return (size_t)shape[0];
    size_t cols = rank ? (size_t)shape[rank - 1] : 1;
    for (int d = 1; d + 1 < rank; d++)
        cols *= (size_t)shape[d];
    return cols;
}

static inline const char *kiln_weight_class_name(int weight_class)
{
    static const char *const names[] = {"embeddings", "temporal", "text head", "depformer"};
    return weight_class >= 0 && weight_class < KILN_NUM_CLASSES ? names[weight_class] : "?";
}

static inline const char *kiln_format_name(int format)
{
    static const char *const names[] = {"f32", "bf16", "f16", "q8_0", "q4_0"};
    return format >= 0 && format < KILN_NUM_FORMATS ? names[format] : "?";
}

/* The format as kilnc's --weights names it */
static inline const char *kiln_format_option(int format)
{
    static const char *const names[] = {"f32", "bf16", "f16", "q8", "q4"};
    return format >= 0 && format < KILN_NUM_FORMATS ? names[format] : "?";
}

static inline bool kiln_format_is_block(int format) { return format == KILN_Q8_0 || format == KILN_Q4_0; }

/* Elements of one storage unit (a block, or one value), and its bytes */
static inline size_t kiln_unit_elements(int format) { return kiln_format_is_block(format) ? KILN_QBLOCK : 1; }
static inline size_t kiln_unit_bytes(int format)
{
    static const unsigned char bytes[] = {4, 2, 2, 2 + KILN_QBLOCK, 2 + KILN_QBLOCK / 2};
    return format >= 0 && format < KILN_NUM_FORMATS ? bytes[format] : 4;
}

/* Bytes of `elements` values in `format` (a whole number of blocks for a block format) */
static inline size_t kiln_format_bytes_of(int format, size_t elements)
{
    return elements / kiln_unit_elements(format) * kiln_unit_bytes(format);
}

/* A block format's packed panel (runtime/weights.c lays it out, compiler/kernels_quant.c reads it):
   its quants in groups of 4 bytes per row (8 groups of q8_0's 32 int8, 4 of q4_0's 16 bytes), each
   byte unsigned, zero at kiln_panel_zero: q8_0's int8 offset by 128, q4_0's nibbles as ggml's (8) */
static inline size_t kiln_panel_groups(int format) { return (kiln_unit_bytes(format) - 2) / 4; }
static inline int kiln_panel_zero(int format) { return format == KILN_Q8_0 ? 128 : 8; }

/* What a matrix (or embedding table) of `cols` columns is stored in when the model's weight format
   is `model_format`: a block format needs whole blocks along a row (else bf16), and embedding tables
   are bf16 under a block format (a frame reads one of their rows, not a matmul). */
static inline int kiln_matrix_format(int model_format, bool embedding, size_t cols)
{
    if (kiln_format_is_block(model_format) && (embedding || cols % KILN_QBLOCK))
        return KILN_BF16;
    return model_format;
}

/* Panels of one block of pack_rows rows (of 2 x pack_rows interleaved ones when gated): each holds
   pack_nr rows, or pack_nr / 2 of each half when gated. */
static inline size_t kiln_panels_per_block(int pack_nr, int pack_rows, bool gated)
{
    const size_t per_panel = (size_t)(gated ? pack_nr / 2 : pack_nr);
    return ((size_t)pack_rows + per_panel - 1) / per_panel;
}

/* Elements a weight of numel values, rows of `cols`, occupies in its layout: row-major (pack_nr 0)
   or in zero-padded panels [block][panel][col][pack_nr]. */
static inline size_t kiln_stored_elements(size_t numel, size_t cols, int pack_nr, int pack_rows, bool gated)
{
    if (!pack_nr || !cols)
        return numel;
    const size_t blocks = numel / cols / (size_t)(gated ? 2 * pack_rows : pack_rows);
    return blocks * kiln_panels_per_block(pack_nr, pack_rows, gated) * (size_t)pack_nr * cols;
}

/* The bytes a weight's slot in the arena takes (64-byte aligned): its layout in its format, or its
   f32 values while they are converted in place (an f32 weight), whichever is larger. */
static inline size_t kiln_slot_bytes(size_t numel, size_t cols, int pack_nr, int pack_rows, bool gated, int format)
{
    size_t n = kiln_format_bytes_of(format, kiln_stored_elements(numel, cols, pack_nr, pack_rows, gated));
    if (format == KILN_F32 && numel * sizeof(float) > n)
        n = numel * sizeof(float);
    return (n + 63) / 64 * 64; /* (KILN_ALIGN) */
}

static inline uint32_t kiln_f32_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float kiln_f32_from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* f32 -> bf16, rounded to nearest, ties to even (as torch's .to(torch.bfloat16)); NaN stays NaN. */
static inline uint16_t kiln_bf16_from_f32(float x)
{
    const uint32_t u = kiln_f32_bits(x);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static inline float kiln_f32_from_bf16(uint16_t h) { return kiln_f32_from_bits((uint32_t)h << 16); }

/* f32 -> IEEE half, rounded to nearest, ties to even; overflow to infinity, subnormals kept. */
static inline uint16_t kiln_f16_from_f32(float x)
{
    const uint32_t u = kiln_f32_bits(x), sign = (u >> 16) & 0x8000u, abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u);
    if (abs >= 0x477ff000u) /* at or past 65520: rounds to infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (abs < 0x38800000u) { /* below 2^-14: a subnormal half, in units of 2^-24 */
        const float scaled = kiln_f32_from_bits(abs) * 0x1p24f; /* exact: a power of two */
        const uint32_t whole = (uint32_t)scaled;
        const float rest = scaled - (float)whole;
        const uint32_t rounded = whole + (rest > 0.5f || (rest == 0.5f && (whole & 1)));
        return (uint16_t)(sign | rounded);
    }
    const uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1); /* to 10 mantissa bits, ties to even */
    return (uint16_t)(sign | ((rounded - 0x38000000u) >> 13));
}

static inline float kiln_f32_from_f16(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ffu;
    if (exponent == 0) /* zero or subnormal: mantissa x 2^-24, exact in f32 */
        return kiln_f32_from_bits(sign | kiln_f32_bits((float)mantissa * 0x1p-24f));
    if (exponent == 31)
        return kiln_f32_from_bits(sign | 0x7f800000u | (mantissa << 13));
    return kiln_f32_from_bits(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

/* x rounded to the nearest value `format` holds */
static inline float kiln_round_to(int format, float x)
{
    if (format == KILN_BF16)
        return kiln_f32_from_bf16(kiln_bf16_from_f32(x));
    if (format == KILN_F16)
        return kiln_f32_from_f16(kiln_f16_from_f32(x));
    return x;
}

/* Element i of an array of `format` as f32; and x stored there */
static inline float kiln_load_as_f32(int format, const void *data, size_t i)
{
    if (format == KILN_F32)
        return ((const float *)data)[i];
    const uint16_t h = ((const uint16_t *)data)[i];
    return format == KILN_BF16 ? kiln_f32_from_bf16(h) : kiln_f32_from_f16(h);
}

static inline void kiln_store_from_f32(int format, void *data, size_t i, float x)
{
    if (format == KILN_F32)
        ((float *)data)[i] = x;
    else
        ((uint16_t *)data)[i] = format == KILN_BF16 ? kiln_bf16_from_f32(x) : kiln_f16_from_f32(x);
}
/* One q8_0 block of x[0..32) as ggml's quantize_row_q8_0_ref writes it: {f16 d; int8 q[32]} */
static inline void kiln_quantize_q8_0(const float *x, uint8_t block[2 + KILN_QBLOCK])
{
    float amax = 0.0f;
    for (int j = 0; j < KILN_QBLOCK; j++)
        amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
    const float d = amax / 127, id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t h = kiln_f16_from_f32(d);
    memcpy(block, &h, 2);
    for (int j = 0; j < KILN_QBLOCK; j++)
        block[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

/* One q4_0 block of x[0..32) as ggml's quantize_row_q4_0_ref writes it: {f16 d; uint8 qs[16]} */
static inline void kiln_quantize_q4_0(const float *x, uint8_t block[2 + KILN_QBLOCK / 2])
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < KILN_QBLOCK; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    const float d = max / -8, id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t h = kiln_f16_from_f32(d);
    memcpy(block, &h, 2);
    for (int j = 0; j < KILN_QBLOCK / 2; j++) {
        /* (truncated toward zero as ggml's (int8_t) cast does, then at most 15) */
        const int lo = (int)(x[j] * id + 8.5f), hi = (int)(x[j + KILN_QBLOCK / 2] * id + 8.5f);
        block[2 + j] = (uint8_t)((lo < 15 ? lo : 15) | ((hi < 15 ? hi : 15) << 4));
    }
}

/* Weight j of a q8_0 or q4_0 block, as f32 (ggml's dequantize_row_*) */
static inline float kiln_dequantize(int format, const uint8_t *block, int j)
{
    uint16_t h;
    memcpy(&h, block, 2);
    const float d = kiln_f32_from_f16(h);
    if (format == KILN_Q8_0)
        return d * (float)(int8_t)block[2 + j];
    const uint8_t byte = block[2 + j % (KILN_QBLOCK / 2)];
    return d * (float)((j < KILN_QBLOCK / 2 ? byte & 15 : byte >> 4) - 8);
}

/* A row of n values (whole blocks) quantized into `format`'s blocks, one after another */
static inline void kiln_quantize_row(int format, const float *x, uint8_t *out, size_t n)
{
    for (size_t b = 0; b < n / KILN_QBLOCK; b++) {
        if (format == KILN_Q8_0)
            kiln_quantize_q8_0(x + b * KILN_QBLOCK, out + b * kiln_unit_bytes(format));
        else
            kiln_quantize_q4_0(x + b * KILN_QBLOCK, out + b * kiln_unit_bytes(format));
    }
}
#endif
