/* model_checkpoint.h: what the test tools that write a checkpoint of a compiled model's weights
 * (rounded.c, checkpoint.c) share: a weight's element count, and the safetensors file's opening
 * (length, then the JSON header naming every weight of the descriptor in `dtype`, in order). */
#ifndef KILN_MODEL_CHECKPOINT_H
#define KILN_MODEL_CHECKPOINT_H
#include "kiln_rt.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t numel_of(const struct kiln_weight_desc *w)
{
    size_t n = 1;
    for (int d = 0; d < w->rank; d++)
        n *= (size_t)w->shape[d];
    return n;
}

/* Writes the length and the header {"name": {"dtype": D, "shape": [...], "data_offsets": [a, b]}, ...}
   (padded with spaces to a multiple of 8 bytes) of desc's weights, element_bytes each, to out */
static void write_safetensors_header(FILE *out, const struct kiln_model_desc *desc, const char *dtype, size_t element_bytes)
{
    size_t cap = 4096, len = 0, offset = 0;
    char *header = malloc(cap);
    len += (size_t)snprintf(header + len, cap - len, "{");
    for (int i = 0; i < desc->num_weights; i++) {
        const struct kiln_weight_desc *w = &desc->weights[i];
        if (cap - len < 512 + strlen(w->name)) {
            cap = 2 * cap + strlen(w->name);
            header = realloc(header, cap);
        }
        len += (size_t)snprintf(header + len, cap - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "", w->name, dtype);
        for (int d = 0; d < w->rank; d++)
            len += (size_t)snprintf(header + len, cap - len, "%s%lld", d ? "," : "", (long long)w->shape[d]);
        const size_t bytes = numel_of(w) * element_bytes;
        len += (size_t)snprintf(header + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", offset, offset + bytes);
        offset += bytes;
    }
    len += (size_t)snprintf(header + len, cap - len, "}");
    while (len % 8)
        header[len++] = ' ';
    const uint64_t header_bytes = len; /* (little-endian hosts only: x86-64, AArch64) */
    fwrite(&header_bytes, 8, 1, out);
    fwrite(header, 1, len, out);
    free(header);
}
#endif
