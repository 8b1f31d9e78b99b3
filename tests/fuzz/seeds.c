/* seeds.c: writes the weight-file seeds of tests/fuzz/corpus/ for fuzz_model.h's model, so that they
 * can be made again when the model changes (tests/fuzz.sh checks that they are up to date):
 *   seeds DIR  ->  DIR/safetensors/{f32,bf16_metadata,f16_extra}.safetensors, DIR/kw/fuzz_model.kw
 * The values are small multiples of 1/8, exact in F32, BF16 and F16. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_model.h"
#include "kw.h"
#include "safetensors.h"

enum format { F32, BF16, F16 };

/* One value of weight i, element e: deterministic, small, exact in every format. */
static float value(int i, size_t e)
{
    return (float)((int)((e * 7 + (size_t)i * 3) % 17) - 8) / 8.0f;
}

static size_t numel(const struct kiln_weight_desc *w)
{
    size_t n = 1;
    for (int d = 0; d < w->rank; d++)
        n *= (size_t)w->shape[d];
    return n;
}

static void put_element(FILE *f, float x, enum format format)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    if (format == F32) {
        fwrite(&bits, 4, 1, f);
    } else if (format == BF16) {
        uint16_t half = (uint16_t)(bits >> 16);
        fwrite(&half, 2, 1, f);
    } else {                         /* every value is k / 8 with |k| <= 8: a normal half */
        uint32_t sign = bits >> 31, exponent = bits >> 23 & 0xFF, mantissa = bits >> 13 & 0x3FF;
        uint16_t half = (uint16_t)(sign << 15 | (exponent ? (exponent - 112) << 10 | mantissa : 0));
        fwrite(&half, 2, 1, f);
    }
}

/* A checkpoint of every weight (and, with extra, an unused I64 tensor and an empty one). */
static int write_safetensors(const char *path, enum format format, const char *metadata, int extra)
{
    static const char *const dtype[] = {"F32", "BF16", "F16"};
    size_t item = format == F32 ? 4 : 2, offset = 0;
    char header[4096];
    int len = snprintf(header, sizeof header, "{%s", metadata);
    for (int i = 0; i < fuzz_model.num_weights; i++) {
        const struct kiln_weight_desc *w = &fuzz_model.weights[i];
        size_t bytes = numel(w) * item;
        char shape[64];
        st_format_shape(shape, sizeof shape, w->rank, w->shape);
        len += snprintf(header + len, sizeof header - (size_t)len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":%s,"
                        "\"data_offsets\":[%zu,%zu]}", len > 1 ? "," : "", w->name, dtype[format], shape,
                        offset, offset + bytes);
        offset += bytes;
    }
    if (extra)
        len += snprintf(header + len, sizeof header - (size_t)len, ",\"step\\u00e9\":{\"dtype\":\"I64\",\"shape\":[],"
                        "\"data_offsets\":[%zu,%zu]},\"empty\":{\"dtype\":\"F32\",\"shape\":[0, 3],"
                        "\"data_offsets\":[%zu,%zu]}", offset, offset + 8, offset + 8, offset + 8);
    len += snprintf(header + len, sizeof header - (size_t)len, "}");
    while (len % 8)
        header[len++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f)
        return 1;
    uint64_t n = (uint64_t)len;
    fwrite(&n, 8, 1, f);
    fwrite(header, 1, (size_t)len, f);
    for (int i = 0; i < fuzz_model.num_weights; i++)
        for (size_t e = 0; e < numel(&fuzz_model.weights[i]); e++)
            put_element(f, value(i, e), format);
    if (extra) {
        int64_t step = 42;
        fwrite(&step, 8, 1, f);
    }
    return fclose(f) != 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seeds DIR\n");
        return 2;
    }
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/safetensors/f32.safetensors", argv[1]);
    if (write_safetensors(path, F32, "", 0))
        return perror(path), 1;
    snprintf(path, sizeof path, "%s/safetensors/bf16_metadata.safetensors", argv[1]);
    if (write_safetensors(path, BF16, "\"__metadata__\":{\"format\":\"pt\",\"note\":\"a \\\"quoted\\\" \\ud83d\\ude00\"}", 0))
        return perror(path), 1;
    snprintf(path, sizeof path, "%s/safetensors/f16_extra.safetensors", argv[1]);
    if (write_safetensors(path, F16, "", 1))
        return perror(path), 1;
    /* the .kw: the F32 checkpoint loaded (folded and packed), then packed */
    struct kiln_weights w;
    snprintf(path, sizeof path, "%s/safetensors/f32.safetensors", argv[1]);
    if (kiln_weights_load(&fuzz_model, path, &w, err, sizeof err))
        return fprintf(stderr, "%s\n", err), 1;
    snprintf(path, sizeof path, "%s/kw/fuzz_model.kw", argv[1]);
    int rc = kw_write(&fuzz_model, &w, path, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    kiln_weights_free(&w);
    return rc;
}
