/* checkpoint.c: writes a BF16 safetensors checkpoint with every weight a compiled model reads, under
 * its name and shape (for Moshi 7B: the names, shapes and dtype of moshiko's model.safetensors),
 * holding random values: a norm's alpha 1 + u / 16, any other weight u / sqrt(its last dimension),
 * u uniform in [-1, 1) from a hash of (tensor, element). `make test-moshiko` packs and streams from
 * it. Built against a model's library (kilnc --emit lib) with -DDESC=NAME_desc.
 * Usage: checkpoint OUT.safetensors */
#include "kiln_format.h"
#include "model_checkpoint.h"

#include <math.h>

extern const struct kiln_model_desc DESC;

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
    FILE *out = fopen(argv[1], "wb");
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    write_safetensors_header(out, &DESC, "BF16", 2);
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
    return fclose(out) ? 1 : 0;
}
