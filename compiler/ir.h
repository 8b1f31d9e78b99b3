/* ir.h: the graph IR. A model lowers to a module of named graphs, each the computation of one
 * streaming step of one stream, on vectors with static lengths. A Moshi LM has two:
 *   temporal:  one 80 ms frame through embeddings, the temporal layers, out_norm, the text head;
 *   depformer: one within-frame step k of the depth transformer (weights selected by k).
 * The temporal graph processes up to `rows` frames per call (one when streaming, a chunk of a
 * sequence in a teacher-forced forward); an activation is [time][len] of its dtype, time the
 * graph's rows in both of the LM's graphs. Values are activations
 * (planned into the stream's scratch arena) or the call's inputs/outputs (parameters). Passes
 * rewrite ops in place (fusion marks an op dead and extends its consumer). */
#ifndef KILN_IR_H
#define KILN_IR_H
#include <stdbool.h>
#include <stdio.h>
#include "kiln_format.h"
#include "ops.h"

enum value_kind { VAL_ACT, VAL_INPUT, VAL_OUTPUT };
enum { IR_OP_STATES = 16 };
enum ir_dtype { IR_F32, IR_BF16, IR_F16, IR_I32, IR_I64 }; /* (the first three: enum kiln_format's) */
long long ir_dtype_bytes(enum ir_dtype dtype);

struct ir_value {
    char name[48];
    enum value_kind kind;
    enum ir_dtype dtype;             /* (every value of the LM's graphs is f32) */
    int len;                         /* elements per time step: a vector's length, or channels */
    int time;                        /* time steps one call holds at most: the graph's rows, unless
                                        an op that changes the rate (a strided conv) made it */
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
    int fold_alpha;                  /* weight whose values change this one at load (`fold`), or -1 */
    int fold;                        /* enum kiln_fold (kiln_format.h): scale columns, or divide rows */
    long long macs;                  /* multiply-adds a streaming frame does with it (plan_weights) */
    bool transposed;                 /* the checkpoint holds the matrix transposed, [cols][rows] (a
                                        transposed conv's [in][out * kernel]): transposed at load */
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

/* Streaming state: what a stream keeps from one call of its graphs to the next (positions, KV rings,
   TTT's inner weights) and the tables a call computes once for its ops, each one field of the
   stream record, in the order lowered. The ops that read or write a state name it (ir_op.states,
   ir_graph's prologue states); the emitter lays out the record, its reset and stream_advance from
   these (glue.c), and save and restore copy the record whole. */
enum ir_state_reset {
    RESET_NONE,                      /* written before it is read (a ring slot whose position says
                                        so, a per-call table, TTT's inner weights until `ready`) */
    RESET_ZERO,
    RESET_EMPTY,                     /* -1: a ring slot holds no position */
};

struct ir_state {
    char name[48];                   /* the stream record's field */
    enum ir_dtype dtype;
    long long elements;
    int align;                       /* bytes, or 0: the dtype's */
    enum ir_state_reset reset;
    enum kiln_state_role role;       /* (kiln_format.h) */
    int graph;                       /* the graph whose ops own it, or -1 (shared: pos) */
    char comment[224];
};

/* Where an op of an attention layer finds its states (ir_op.states) */
enum ir_kv_state { KV_STATE_K, KV_STATE_V, KV_STATE_POSITIONS, KV_STATE_ROPE /* (a RoPE/KV matmul's) */ };

enum matmul_epilogue {
    EPI_STORE,                       /* out = acc */
    EPI_ACCUMULATE,                  /* out += acc (residual add fused) */
    EPI_SILU_GATE,                   /* out[i] = silu(acc[i]) * acc[H + i] (gating fused) */
    EPI_ROPE_KV,                     /* q part roped into out; k roped, v stored into the KV ring */
    EPI_BIAS,                        /* out = acc + bias[r] (a conv's bias fused) */
    EPI_SCALE_ACCUMULATE,            /* out += gain[r] * acc (a layer scale and its residual add fused) */
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
    int states[IR_OP_STATES];        /* the streaming state it reads or writes: ATTENTION, KV_WRITE
                                        and a RoPE/KV matmul at enum ir_kv_state's indices; ROPE_QK
                                        the RoPE table; TTT its own (lower_ttt_states' order) */
    int num_states;
    int layer;                       /* transformer layer (for KV rings) or -1 */
    /* MATMUL fusion */
    int scale;                       /* value id of an RMS_SCALE output applied to acc, or -1 */
    enum matmul_epilogue epilogue;
    int epilogue_weight;             /* EPI_BIAS's bias, EPI_SCALE_ACCUMULATE's gain (a weight id); other
                                        epilogues have none (ir_epilogue_weighted) */
    /* attributes */
    double eps;
    /* CONV_WINDOW, CONV_TRANSPOSE (a codec's): kernel size, stride, dilation (of the window) */
    int kernel, stride, dilation;
    bool replicate;                  /* CONV_WINDOW: the first call's left context repeats its first row */
    bool depthwise;                  /* CONV_TRANSPOSE: each channel its own kernel (groups = channels) */
    /* VQ_ENCODE, VQ_DECODE: the codebooks (from `weight` on, each its embedding then its usage),
       and the first code of the op's within the graph's codes */
    int codebooks, first_code;
    int mark;                        /* bench: the component (kiln_rt.h's enum kiln_component) this op
                                        ends, or -1 */
};

struct ir_graph {
    char name[32];                   /* the step function's name: "temporal", "depformer" */
    char state_prefix[8];            /* of its states' names: "dep_", "enc_", "dec_"; the temporal's none */
    int weight_class;                /* enum kiln_weight_class of the weights its ops read (a
                                        temporal graph's outputs': KILN_CLASS_TEXT_HEAD) */
    int dim, heads, head_dim, context, num_layers;
    int rows;                        /* rows (frames) one call processes at most */
    int kv_capacity;                 /* ring slots: context + rows - 1, so a call's writes never
                                        evict a key that one of its own rows still attends to */
    int kv_format;                   /* enum kiln_format of the KV rings: f32, bf16 or f16 */
    bool rope;
    double rope_max_period;
    int steps;                       /* > 0: a per-step graph (the depformer), weights selected by
                                        its step k of a frame, 0..steps - 1 */
    int positions;                   /* state: the ring slots' positions its prologue writes, or -1 */
    bool multirate;                  /* a codec's: values of many time lengths (strided ops change it);
                                        each op takes its rows from its values, and the graph call is
                                        one frame, its transformer's `rows` rows at `position` */
    int position;                    /* (multirate) state: the transformer's next position, or -1 */
    int rope_table;                  /* state: RoPE of the call's positions its prologue computes, or -1 */
    struct ir_value *values; int num_values, cap_values;
    struct ir_op *ops; int num_ops, cap_ops;
    int scratch_floats;              /* planned arena size */
};

/* What the description asks of the weights' formats (enum kiln_format): the model's, and each
   class's own where its key gives one (-1: the model's) */
struct ir_formats {
    int weights;
    int class_weights[KILN_NUM_CLASSES];
};
int ir_class_format(const struct ir_formats *f, int weight_class);

/* The graphs of a model, in the order lowered, and the weights they read (one shared table).
   Lowering (lower.h) builds it from a description; nothing here depends on which model it was. */
struct ir_module {
    char name[64];                   /* the model's C identifier: every public symbol's prefix */
    struct ir_formats formats;
    struct ir_weight *weights; int num_weights, cap_weights;
    struct ir_graph **graphs; int num_graphs, cap_graphs;
    struct ir_state *states; int num_states, cap_states;
};

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
struct ir_graph *ir_graph_new(struct ir_module *mod, const char *name);
int ir_state(struct ir_module *mod, const struct ir_state *s);
int ir_state_named(const struct ir_module *mod, const char *name);   /* -1 if none */
long long ir_state_bytes(const struct ir_state *s);
/* The graph of that name; an internal error if the module has none */
struct ir_graph *ir_graph_named(const struct ir_module *mod, const char *name);
const char *ir_opcode_name(enum ir_opcode code);
long long ir_weight_numel(const struct ir_weight *w);  /* whole tensor(s), all steps */

/* A TTT op's kernel shape (docs/ttt.md), and the scratch floats a call of `rows` rows needs. */
struct ttt_shape {
    bool mlp;
    int heads, head_dim, mini_batch;
    int conv_kernel;                 /* share_qk's causal convs, 0 without */
};
/* The inner model's state arrays, in TTT-MLP's order; TTT-Linear has the first layer's four, named
   W, c, GW, gc (ttt_inner_names[mlp][slot], NULL where the kind has none). The weights at the last
   mini-batch boundary come first (copied from the checkpoint's at the first call), the
   mini-batch's gradient sums after (zeros). */
enum { TTT_W1, TTT_C1, TTT_W2, TTT_C2, TTT_GW1, TTT_GC1, TTT_GW2, TTT_GC2, TTT_SLOTS };
extern const char *const ttt_inner_names[2][TTT_SLOTS];
int ttt_slot_floats(const struct ttt_shape *s, int slot);        /* one head's floats of a slot */
int ttt_history_floats(const struct ttt_shape *s);              /* share_qk's last conv_kernel - 1 rows */
int ttt_work_floats(const struct ttt_shape *s, int rows);
int ttt_piece_floats(const struct ttt_shape *s);

/* passes.c: the fusion passes, in the order the driver runs them. */
void pass_fold_norms(struct ir_module *mod);
void pass_fuse_residual(struct ir_module *mod);
void pass_fuse_gating(struct ir_module *mod);
void pass_fuse_rope_kv(struct ir_module *mod);
void pass_fuse_epilogues(struct ir_module *mod);
/* plan.c: liveness-based placement of activations in one scratch arena per graph, and the
   weights' layout for a target whose vectors hold `vector_width` floats. */
void plan_buffers(struct ir_module *mod);
void plan_weights(struct ir_module *mod, int vector_width);
/* Whether a matmul's epilogue reads a weight of its own (epilogue_weight: a bias or a gain) */
static inline bool ir_epilogue_weighted(const struct ir_op *op)
{
    return op->epilogue == EPI_BIAS || op->epilogue == EPI_SCALE_ACCUMULATE;
}
/* The rows an op processes at most: the graph's, or in a codec's graph (multirate) its input's */
static inline int ir_op_rows(const struct ir_graph *g, const struct ir_op *op)
{
    return g->multirate ? g->values[op->in[0] >= 0 ? op->in[0] : op->out].time : g->rows;
}
/* Whether a packed matmul has the cache-blocked form for calls of several rows: an LM graph's whose
   calls take several (a teacher-forced chunk), a codec op's of at least 4 rows (fewer: each panel
   streams through once, the rows after the first reading it from cache) */
static inline bool ir_matmul_blocked(const struct ir_graph *g, const struct ir_op *op)
{
    return g->multirate ? ir_op_rows(g, op) >= 4 : g->rows > 1;
}
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
