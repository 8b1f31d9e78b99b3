/* test_format.c: kiln_format.h's conversions on hand-computed values (ties to even, subnormals,
 * overflow, NaN), every bf16 and f16 value through a round trip, and the packed layout's sizes. */
#include "check.h"
#include "kiln_format.h"

#include <stdint.h>

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
    CHECK(kiln_format_bytes(KILN_F32) == 4 && kiln_format_bytes(KILN_BF16) == 2 && kiln_format_bytes(KILN_F16) == 2,
          "element sizes");
}

int main(void)
{
    test_bf16();
    test_f16();
    test_layout();
    return check_finish();
}
