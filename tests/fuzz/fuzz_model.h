/* fuzz_model.h: a tiny hand-written model descriptor for the weight-file harnesses (kw.c,
 * safetensors.c) and the seed writer (seeds.c). It has no kernels: loading only reads the name,
 * target and weight table. Its weights cover each layout and format the loader handles: a norm
 * weight folded into a matrix, a packed matrix (panels of 4 rows), a gated packed matrix in bf16, and
 * a plain embedding in f16. */
#ifndef KILN_FUZZ_MODEL_H
#define KILN_FUZZ_MODEL_H
#include <stddef.h>
#include "kiln_format.h"
#include "kiln_rt.h"

struct fuzz_model_weights {
    const float *norm;               /* [8] */
    const float *proj;               /* [10, 8], norm folded in; panels of 4 rows, the last one padded */
    const uint16_t *gate;            /* [16, 8] in bf16: blocks of 2 * 4 rows, halves paired in panels of 4 */
    const uint16_t *emb;             /* [5, 8] in f16 */
};

static const struct kiln_weight_desc fuzz_model_weights[] = {
    {"norm.alpha", 1, {8}, -1, offsetof(struct fuzz_model_weights, norm), 8, 0, 0, 0, KILN_F32, KILN_F32, KILN_CLASS_TEMPORAL, KILN_FOLD_COLUMNS, 0, 0},
    {"proj.weight", 2, {10, 8}, 0, offsetof(struct fuzz_model_weights, proj), 80, 4, 10, 0, KILN_F32, KILN_F32, KILN_CLASS_TEMPORAL, KILN_FOLD_COLUMNS, 0, 0},
    {"gate.weight", 2, {16, 8}, -1, offsetof(struct fuzz_model_weights, gate), 128, 4, 4, 1, KILN_BF16, KILN_F32, KILN_CLASS_TEMPORAL, KILN_FOLD_COLUMNS, 0, 0},
    {"emb.weight", 2, {5, 8}, -1, offsetof(struct fuzz_model_weights, emb), 8, 0, 0, 0, KILN_F16, KILN_F32, KILN_CLASS_EMBEDDINGS, KILN_FOLD_COLUMNS, 0, 0},
};

static const struct kiln_model_desc fuzz_model = {
    .name = "fuzz_model",
    .target = "scalar",
    .cpu_features = "",
    .weight_format = "f32",
    .num_weights = sizeof fuzz_model_weights / sizeof fuzz_model_weights[0],
    .weights = fuzz_model_weights,
    .weights_struct_size = sizeof(struct fuzz_model_weights),
};
#endif
