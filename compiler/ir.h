/* ir.h: the graph IR. A model lowers to two graphs, each the computation of one streaming step
 * of one stream, on vectors with static lengths:
 *   temporal:  one 80 ms frame through embeddings, the temporal layers, out_norm, the text head;
 *   depformer: one within-frame step k of the depth transformer (weights selected by k).
 * The temporal graph processes up to `rows` frames per call (one when streaming, a chunk of a
 * sequence in a teacher-forced forward); every activation is [rows][len]. Values are activations
 * (planned into the stream's scratch arena) or the call's inputs/outputs (parameters). Passes
 * rewrite ops in place (fusion marks an op dead and extends its consumer). */
#ifndef KILN_IR_H
#define KILN_IR_H
#include <stdbool.h>
#include <stdio.h>
#include "model.h"
#include "ops.h"

enum value_kind { VAL_ACT, VAL_INPUT, VAL_OUTPUT };

struct ir_value {
    char name[48];
    enum value_kind kind;
    int len;                         /* floats per row */
    bool scalar;                     /* an rms_scale's output, read only as a matmul's scale (a
                                        vector of length 1, as dim = 1 gives, is not a scalar) */
    int offset;                      /* planned: floats from the start of the scratch arena */
};

/* How a graph selects a weight that exists once per depformer step. */
enum step_select { STEP_NONE, STEP_ROW_BLOCK, STEP_TABLE };

struct ir_weight {
    char name[96];                   /* checkpoint name; for STEP_TABLE with "{k}" where k goes */
    char field[64];                  /* C field in the generated weight struct */
    int rank;
    long long shape[4];              /* checkpoint shape (one table entry's, for STEP_TABLE) */
    int rows, cols;                  /* the matrix a kernel sees (one step's block) */
    enum step_select step;
    int steps;                       /* table entries (STEP_TABLE) or row blocks (STEP_ROW_BLOCK) */
    int fold_alpha;                  /* weight whose values scale this one's columns at load, or -1 */
    bool is_embedding;               /* a lookup table: a frame reads one row of it */
    /* Layout, chosen by the planner for the target (plan.c): pack_nr 0 keeps the checkpoint's
       row-major [rows][cols]; otherwise blocks of pack_rows rows (the q/k/v thirds of an in_proj,
       one step's block, or the whole matrix) are cut into panels of pack_nr rows stored column by
       column ([panel][col][pack_nr], zero-padded), so a microkernel reads a panel as one stream.
       pack_gated panels pair rows i of the two halves of a gated FFN input (pack_nr / 2 each). */
    int pack_nr, pack_rows;
    bool pack_gated;
    long long step_stride;           /* STEP_ROW_BLOCK: elements from one step's block to the next */
    int format, rounding;            /* enum kiln_format (kiln_format.h): storage, and what an f32-stored
                                        weight's values are rounded through (plan.c, plan_formats) */
    bool matrix;                     /* read by a matmul, or an embedding table: stored in the model's
                                        weight format (the others in f32) */
    int weight_class;                /* enum kiln_weight_class (kiln_format.h), set by plan_formats */
};

enum matmul_epilogue {
    EPI_STORE,                       /* out = acc */
    EPI_ACCUMULATE,                  /* out += acc (residual add fused) */
    EPI_SILU_GATE,                   /* out[i] = silu(acc[i]) * acc[H + i] (gating fused) */
    EPI_ROPE_KV,                     /* q part roped into out; k roped, v stored into the KV ring */
};

struct ir_op {
    enum ir_opcode code;
    bool dead;                       /* removed by a pass */
    int in[4];                       /* value ids, -1 = none */
    int out;                         /* value id */
    int weight;                      /* weight id or -1 (EMBED_SUM, STEP_EMBED_ADD, TTT: the first of
                                        a block of consecutive weights, see lower.c) */
    int work;                        /* a scratch value only this op uses (TTT), or -1 */
    int weight_count;                /* TTT: the weights of its block, from `weight` on (lower_ttt's order) */
    int layer;                       /* transformer layer (for KV rings) or -1 */
    /* MATMUL fusion */
    int scale;                       /* value id of an RMS_SCALE output applied to acc, or -1 */
    enum matmul_epilogue epilogue;
    /* attributes */
    double eps;
};

struct ir_graph {
    const char *name;                /* "temporal" | "depformer" */
    int dim, heads, head_dim, context, num_layers;
    int rows;                        /* rows (frames) one call processes at most */
    int kv_capacity;                 /* ring slots: context + rows - 1, so a call's writes never
                                        evict a key that one of its own rows still attends to */
    int kv_format;                   /* enum kiln_format of the KV rings: f32, bf16 or f16 */
    bool rope;
    double rope_max_period;
    bool per_step;                   /* depformer: weights selected by step k */
    struct ir_value *values; int num_values, cap_values;
    struct ir_op *ops; int num_ops, cap_ops;
    int scratch_floats;              /* planned arena size */
};

/* Both graphs of a model and the weights they read (shared table). */
struct ir_module {
    const struct model *model;
    struct ir_weight *weights; int num_weights, cap_weights;
    struct ir_graph temporal, depformer;
};

/* rows: the most frames one call of the temporal graph processes (teacher-forced chunks). */
struct ir_module *lower_model(const struct model *m, int rows);
void ir_free(struct ir_module *mod);
/* Checks every invariant the emitter relies on; reports violations as internal errors. */
bool ir_verify(const struct ir_module *mod, const char *after_stage);
void ir_dump(FILE *out, const struct ir_module *mod);
void plan_dump(FILE *out, const struct ir_module *mod);

/* Builders used by lowering and passes. */
int ir_value(struct ir_graph *g, enum value_kind kind, int len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
struct ir_op *ir_op(struct ir_graph *g, enum ir_opcode code, int in0, int in1, int out);
int ir_weight(struct ir_module *mod, const struct ir_weight *w);
const char *ir_opcode_name(enum ir_opcode code);
long long ir_weight_numel(const struct ir_weight *w);  /* whole tensor(s), all steps */

/* A TTT op's kernel shape (docs/ttt.md), and the scratch floats a call of `rows` rows needs. */
struct ttt_shape {
    bool mlp;
    int heads, head_dim, mini_batch;
    int conv_kernel;                 /* share_qk's causal convs, 0 without */
};
void ttt_shape_of(const struct model *m, int layer, struct ttt_shape *s);
int ttt_work_floats(const struct ttt_shape *s, int rows);
int ttt_piece_floats(const struct ttt_shape *s);

/* passes.c: the fusion passes, in the order the driver runs them. */
void pass_fold_norms(struct ir_module *mod);
void pass_fuse_residual(struct ir_module *mod);
void pass_fuse_gating(struct ir_module *mod);
void pass_fuse_rope_kv(struct ir_module *mod);
/* plan.c: liveness-based placement of activations in one scratch arena per graph, and the
   weights' layout for a target whose vectors hold `vector_width` floats. */
void plan_buffers(struct ir_module *mod);
void plan_weights(struct ir_module *mod, int vector_width);
/* The format w's class asks for (the model's, or its class key's); w->format is what it got */
int ir_requested_format(const struct ir_module *mod, const struct ir_weight *w);
/* Floats one (table entry of a) weight occupies in its planned layout. */
long long ir_weight_storage(const struct ir_weight *w);
/* Panels of a packed weight's block. */
int ir_weight_panels(const struct ir_weight *w);
/* The cache-blocked matmul (kernels_packed.c) takes the columns in blocks of MATMUL_BLOCK_FLOATS / NR,
   so that a panel's block fills 16 KiB of L1. Its scratch, per frame of the graph's rows: the
   sums of every panel, then one block of the frame's x, packed. */
#define MATMUL_BLOCK_FLOATS 4096
int ir_matmul_work_len(const struct ir_weight *w, const struct ir_op *op);
/* A matmul of weights in a block format (q8_0, q4_0) first quantizes each row of x into q8 blocks
   in its scratch: the floats one row takes (plan.c) */
int ir_quantized_x_floats(int cols);
#endif
