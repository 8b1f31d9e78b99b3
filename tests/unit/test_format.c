/* test_format.c: kiln_format.h's conversions on hand-computed values (ties to even, subnormals,
 * overflow, NaN), every bf16 and f16 value through a round trip, ggml's q8_0 and q4_0 blocks on
 * hand-computed ones (ties, the sign of the largest magnitude, all-zero blocks), and the packed
 * layout's sizes. */
#include "check.h"
#include "kiln_format.h"

#include <stdint.h>
#include <string.h>

static void test_bf16(void)
{
    static const struct { float x; uint16_t want; } cases[] = {
        {1.0f, 0x3f80}, {-2.5f, 0xc020}, {0.0f, 0x0000}, {-0.0f, 0x8000},
        {1.00390625f, 0x3f80},     /* 1 + 2^-8: halfway between 1 and 1 + 2^-7, to the even 1 */
        {1.01171875f, 0x3f82},     /* 1 + 3 * 2^-8: halfway, to the even 1 + 2^-6 */
        {0x1.0101p0f, 0x3f81},     /* 1 + 2^-8 + 2^-16: just past halfway, up */
        {3.4028235e38f, 0x7f80},   /* FLT_MAX rounds to infinity, as torch does */
        {INFINITY, 0x7f80}, {-INFINITY, 0xff80},
        {1e-40f, 0x0001},          /* a subnormal: bf16 keeps f32's exponent range */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(kiln_bf16_from_f32(cases[i].x) == cases[i].want, "bf16(%g) = 0x%04x, want 0x%04x", (double)cases[i].x,
              kiln_bf16_from_f32(cases[i].x), cases[i].want);
    CHECK(isnan(kiln_f32_from_bf16(kiln_bf16_from_f32(NAN))), "NaN through bf16 is no longer NaN");
    int round_trips = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const float x = kiln_f32_from_bf16((uint16_t)h);
        round_trips += isnan(x) || kiln_bf16_from_f32(x) == h;
    }
    CHECK(round_trips == 65536, "%d of 65536 bf16 values survive f32 and back", round_trips);
}

static void test_f16(void)
{
    static const struct { float x; uint16_t want; } cases[] = {
        {1.0f, 0x3c00}, {-2.0f, 0xc000}, {0.0f, 0x0000}, {-0.0f, 0x8000},
        {65504.0f, 0x7bff},        /* the largest half */
        {65519.0f, 0x7bff},        /* below the halfway point to 2^16: down */
        {65520.0f, 0x7c00},        /* the halfway point: to infinity (its even neighbour) */
        {1e6f, 0x7c00}, {-1e6f, 0xfc00},
        {0x1p-14f, 0x0400},        /* the smallest normal */
        {0x1p-24f, 0x0001},        /* the smallest subnormal */
        {0x1p-25f, 0x0000},        /* half of it: to the even 0 */
        {0x3p-25f, 0x0002},        /* 1.5 of it: to the even 2 */
        {0x1.ff8p-15f, 0x03ff},    /* the largest subnormal */
        {0x1.ffcp-15f, 0x0400},    /* half a unit past it: to the even smallest normal */
        {1.00048828125f, 0x3c00},  /* 1 + 2^-11: halfway, to the even 1 */
        {1.00146484375f, 0x3c02},  /* 1 + 3 * 2^-11: halfway, to the even 1 + 2^-9 */
        {0.1f, 0x2e66},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(kiln_f16_from_f32(cases[i].x) == cases[i].want, "f16(%a) = 0x%04x, want 0x%04x", (double)cases[i].x,
              kiln_f16_from_f32(cases[i].x), cases[i].want);
    CHECK(isnan(kiln_f32_from_f16(kiln_f16_from_f32(NAN))), "NaN through f16 is no longer NaN");
    CHECK(kiln_f32_from_f16(0x0001) == 0x1p-24f && kiln_f32_from_f16(0x7bff) == 65504.0f &&
              isinf(kiln_f32_from_f16(0xfc00)) && kiln_f32_from_f16(0xfc00) < 0,
          "f16 to f32 of a subnormal, the largest half or minus infinity");
    int round_trips = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const float x = kiln_f32_from_f16((uint16_t)h);
        round_trips += isnan(x) || kiln_f16_from_f32(x) == h;
    }
    CHECK(round_trips == 65536, "%d of 65536 f16 values survive f32 and back", round_trips);
    CHECK(kiln_round_to(KILN_F16, 0.1f) == kiln_f32_from_f16(0x2e66) && kiln_round_to(KILN_F32, 0.1f) == 0.1f,
          "kiln_round_to");
}

static void test_layout(void)
{
    /* 10 rows of 8 in panels of 4: 3 panels, the last padded */
    CHECK(kiln_stored_elements(80, 8, 4, 10, false) == 3 * 4 * 8, "panels of 10 rows");
    /* 2 blocks of 2 x 4 gated rows, panels of 4 holding 2 of each half: 2 panels a block */
    CHECK(kiln_stored_elements(128, 8, 4, 4, true) == 2 * 2 * 4 * 8, "gated panels");
    CHECK(kiln_stored_elements(80, 8, 0, 0, false) == 80, "row-major");
    CHECK(kiln_format_bytes_of(KILN_F32, 10) == 40 && kiln_format_bytes_of(KILN_BF16, 10) == 20 &&
          kiln_format_bytes_of(KILN_F16, 10) == 20 && kiln_format_bytes_of(KILN_Q8_0, 64) == 68 &&
          kiln_format_bytes_of(KILN_Q4_0, 64) == 36, "sizes");
    CHECK(kiln_slot_bytes(64, 64, 0, 0, false, KILN_Q4_0) == 64 && kiln_slot_bytes(2 * 64, 64, 0, 0, false, KILN_Q8_0) == 192,
          "block slots");
    /* a matrix whose rows are no whole blocks, and embedding tables, in bf16 under q8 and q4 */
    CHECK(kiln_matrix_format(KILN_Q8_0, false, 64) == KILN_Q8_0 && kiln_matrix_format(KILN_Q4_0, false, 48) == KILN_BF16 &&
          kiln_matrix_format(KILN_Q8_0, true, 64) == KILN_BF16 && kiln_matrix_format(KILN_F16, true, 48) == KILN_F16,
          "kiln_matrix_format");
}

/* block == the expected d (f16 bits) and quants */
static void check_block(const uint8_t *block, uint16_t d, const uint8_t *q, int n, const char *what)
{
    uint16_t have;
    memcpy(&have, block, 2);
    CHECK(have == d, "%s: d = 0x%04x, want 0x%04x", what, have, d);
    for (int j = 0; j < n; j++)
        CHECK(block[2 + j] == q[j], "%s: byte %d = 0x%02x, want 0x%02x", what, j, block[2 + j], q[j]);
}

static void test_q8_0(void)
{
    float x[32] = {127, 2.5f, -2.5f, 0.5f, -0.5f, 1.5f, 126.4f, -126.6f};
    uint8_t block[34], want[32] = {127, 3, (uint8_t)-3, 1, (uint8_t)-1, 2, 126, (uint8_t)-127};
    /* d = 127 / 127 = 1 (0x3c00); ties round away from zero, as roundf */
    kiln_quantize_q8_0(x, block);
    check_block(block, 0x3c00, want, 32, "q8_0 of ties");
    CHECK(kiln_dequantize(KILN_Q8_0, block, 2) == -3.0f && kiln_dequantize(KILN_Q8_0, block, 0) == 127.0f, "q8_0 dequantized");
    x[0] = -127; /* the largest magnitude negative: d stays positive */
    want[0] = (uint8_t)-127;
    kiln_quantize_q8_0(x, block);
    check_block(block, 0x3c00, want, 32, "q8_0 of a negative maximum");
    for (int j = 0; j < 32; j++) /* -16 .. 15: d = 16 / 127 = 0.125984 (f16 0x3008 = 0.1259766), q = round(x * 7.9375) */
        x[j] = (float)(j - 16);
    kiln_quantize_q8_0(x, block);
    CHECK(block[0] == 0x08 && block[1] == 0x30 && (int8_t)block[2] == -127 && (int8_t)block[2 + 31] == 119 &&
          (int8_t)block[2 + 17] == 8, "q8_0 of a ramp: d 0x%02x%02x, q %d %d %d", block[1], block[0], (int8_t)block[2],
          (int8_t)block[2 + 31], (int8_t)block[2 + 17]);
    memset(x, 0, sizeof x);
    memset(want, 0, sizeof want);
    kiln_quantize_q8_0(x, block);
    check_block(block, 0x0000, want, 32, "q8_0 of zeros");
}

static void test_q4_0(void)
{
    /* the largest magnitude -8: d = -8 / -8 = 1; nibble = min(15, trunc(x + 8.5)) */
    float x[32] = {-8, 7, 0.5f, -0.5f, -7.5f};
    x[16] = 7.5f;   /* 16 -> 15 */
    x[17] = 3.2f;   /* 11.7 -> 11 */
    uint8_t block[18], want[16];
    memset(want, 0x88, sizeof want);
    want[0] = 0x00 | 15 << 4, want[1] = 15 | 11 << 4, want[2] = 0x89, want[3] = 0x88, want[4] = 0x81;
    kiln_quantize_q4_0(x, block);
    check_block(block, 0x3c00, want, 16, "q4_0, negative maximum");
    CHECK(kiln_dequantize(KILN_Q4_0, block, 0) == -8.0f && kiln_dequantize(KILN_Q4_0, block, 17) == 3.0f &&
          kiln_dequantize(KILN_Q4_0, block, 1) == 7.0f, "q4_0 dequantized");
    /* the largest magnitude +8: d = -1 (0xbc00), so x = 8 -> 0, -7 -> 15, 1 -> trunc(7.5) = 7 */
    float y[32] = {8, -7, 1};
    memset(want, 0x88, sizeof want);
    want[0] = 0x80, want[1] = 0x8f, want[2] = 0x87;
    kiln_quantize_q4_0(y, block);
    check_block(block, 0xbc00, want, 16, "q4_0, positive maximum");
    /* all zero: d = 0 / -8 = -0 (0x8000), every nibble 8 */
    memset(y, 0, sizeof y);
    memset(want, 0x88, sizeof want);
    kiln_quantize_q4_0(y, block);
    check_block(block, 0x8000, want, 16, "q4_0 of zeros");
}

int main(void)
{
    test_bf16();
    test_f16();
    test_layout();
    test_q8_0();
    test_q4_0();
    return check_finish();
}
