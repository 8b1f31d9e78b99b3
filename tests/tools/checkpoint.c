/* checkpoint.c: writes a BF16 safetensors checkpoint with every weight a compiled model reads, under
 * its name and shape (for Moshi 7B: the names, shapes and dtype of moshiko's model.safetensors),
 * holding random values: a norm's alpha 1 + u / 16, any other weight u / sqrt(its last dimension),
 * u uniform in [-1, 1) from a hash of (tensor, element). `make test-moshiko` packs and streams from
 * it. Built against a model's library (kilnc --emit lib) with -DDESC=NAME_desc.
 * Usage: checkpoint OUT.safetensors */
#include "kiln_format.h"
#include "kiln_rt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct kiln_model_desc DESC;

static size_t numel_of(const struct kiln_weight_desc *w)
{
    size_t n = 1;
    for (int d = 0; d < w->rank; d++)
        n *= (size_t)w->shape[d];
    return n;
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static int is_norm(const struct kiln_weight_desc *w)
{
    const size_t len = strlen(w->name);
    return (len >= 6 && !strcmp(w->name + len - 6, ".alpha")) || (w->rank == 3 && w->shape[0] == 1 && w->shape[1] == 1);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: checkpoint OUT.safetensors\n");
        return 1;
    }
    size_t cap = 1 << 16, len = 0, offset = 0;
    char *header = malloc(cap);
    len += (size_t)snprintf(header + len, cap - len, "{");
    for (int i = 0; i < DESC.num_weights; i++) {
        const struct kiln_weight_desc *w = &DESC.weights[i];
        if (cap - len < 512 + strlen(w->name)) {
            cap = 2 * cap + strlen(w->name);
            header = realloc(header, cap);
        }
        len += (size_t)snprintf(header + len, cap - len, "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[", i ? "," : "", w->name);
        for (int d = 0; d < w->rank; d++)
            len += (size_t)snprintf(header + len, cap - len, "%s%lld", d ? "," : "", (long long)w->shape[d]);
        len += (size_t)snprintf(header + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", offset, offset + 2 * numel_of(w));
        offset += 2 * numel_of(w);
    }
    len += (size_t)snprintf(header + len, cap - len, "}");
    while (len % 8)
        header[len++] = ' ';
    FILE *out = fopen(argv[1], "wb");
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    const uint64_t header_bytes = len; /* (little-endian hosts only: x86-64, AArch64) */
    fwrite(&header_bytes, 8, 1, out);
    fwrite(header, 1, len, out);
    enum { CHUNK = 1 << 20 };
    uint16_t *chunk = malloc(CHUNK * sizeof *chunk);
    for (int i = 0; i < DESC.num_weights; i++) {
        const struct kiln_weight_desc *w = &DESC.weights[i];
        const size_t n = numel_of(w);
        const int norm = is_norm(w);
        const float scale = norm ? 1.0f / 16 : w->rank ? 1.0f / sqrtf((float)w->shape[w->rank - 1]) : 1.0f;
        for (size_t first = 0; first < n; first += CHUNK) {
            const size_t count = n - first < CHUNK ? n - first : CHUNK;
            for (size_t e = 0; e < count; e++) {
                const uint64_t u = mix64(((uint64_t)(i + 1) << 40) ^ (first + e + 1));
                chunk[e] = kiln_bf16_from_f32((norm ? 1.0f : 0.0f) + scale * ((float)(u >> 40) * 0x1p-23f - 1.0f));
            }
            if (fwrite(chunk, 2, count, out) != count) {
                perror(argv[1]);
                return 1;
            }
        }
    }
    free(chunk);
    free(header);
    return fclose(out) ? 1 : 0;
}
