/* rounded.c: a checkpoint as a compiled model holds it, in f32: every weight of the model read from
 * IN (F32, BF16 or F16) and rounded through the format the model stores it in (q8_0 and q4_0 rows
 * quantized and dequantized by kiln_format.h's copy of ggml's reference rule; bf16 and f16 rounded
 * to nearest even), written to OUT as F32 safetensors. The f32 path on OUT is what the weight
 * formats' tests hold a quantized build to (tests/formats.sh). Built against a model's library
 * (kilnc --emit lib) with -DDESC=NAME_desc. Usage: rounded IN.safetensors OUT.safetensors */
#include "kiln_format.h"
#include "model_checkpoint.h"
#include "safetensors.h"

extern const struct kiln_model_desc DESC;

/* values rounded in place through w's format (a block format row by row) or its rounding */
static void round_through(const struct kiln_weight_desc *w, float *values)
{
    const size_t n = numel_of(w), cols = (size_t)w->shape[w->rank - 1];
    if (kiln_format_is_block(w->format)) {
        uint8_t *blocks = malloc(kiln_format_bytes_of(w->format, cols));
        for (size_t r = 0; r < n / cols; r++) {
            kiln_quantize_row(w->format, values + r * cols, blocks, cols);
            for (size_t c = 0; c < cols; c++)
                values[r * cols + c] = kiln_dequantize(w->format, blocks + c / KILN_QBLOCK * kiln_unit_bytes(w->format),
                                                       (int)(c % KILN_QBLOCK));
        }
        free(blocks);
        return;
    }
    for (size_t e = 0; e < n; e++)
        values[e] = kiln_round_to(w->format != KILN_F32 ? w->format : w->rounding, values[e]);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: rounded IN.safetensors OUT.safetensors\n");
        return 1;
    }
    char err[512];
    struct st_file in;
    if (st_open(argv[1], &in, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const int count = DESC.num_weights;
    float **values = calloc((size_t)count, sizeof *values);
    for (int i = 0; i < count; i++) {
        const struct kiln_weight_desc *w = &DESC.weights[i];
        const struct st_tensor *t = st_find(&in, w->name);
        if (!t) {
            fprintf(stderr, "%s: no tensor '%s'\n", argv[1], w->name);
            return 1;
        }
        values[i] = malloc(numel_of(w) * sizeof(float));
        st_to_f32(t, values[i]);
        round_through(w, values[i]);
    }
    FILE *out = fopen(argv[2], "wb");
    if (!out) {
        perror(argv[2]);
        return 1;
    }
    write_safetensors_header(out, &DESC, "F32", sizeof(float));
    for (int i = 0; i < count; i++) {
        fwrite(values[i], sizeof(float), numel_of(&DESC.weights[i]), out);
        free(values[i]);
    }
    free(values);
    st_close(&in);
    return fclose(out) ? 1 : 0;
}
