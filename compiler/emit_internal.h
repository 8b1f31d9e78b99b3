/* emit_internal.h: shared by the emitter's files: kernels*.c build the kernels as kernel IR (each
 * once, named by what it is specialized for), glue.c the records and graph functions, descriptor.c
 * the descriptor; emit.c hands the module to a back end. */
#ifndef KILN_EMIT_INTERNAL_H
#define KILN_EMIT_INTERNAL_H
#include "emit.h"
#include "kir.h"

struct emitter {
    const struct ir_module *mod;
    const struct model *model;       /* (emit_options) */
    const struct target *target;
    bool threaded;                   /* vector targets: one OpenMP team per call, matmuls shared out */
    const char *name;                /* model name, prefixes every public symbol */
    FILE *kernels;                   /* (the C back end) the functions printed as C, in the order built */
    struct kir_module kir;           /* the model as kernel IR: kernels and graph functions in order of first
                                        use, records, globals */
    bool llvm;                       /* the LLVM back end prints the module (nothing into `kernels`) */
    int weights_record, stream_record; /* (glue.c) struct NAME_weights, struct NAME_stream */
};

/* glue.c: the weight and stream records and the graph functions; their indices in e->kir. */
struct glue_functions { int stream_reset, stream_advance, temporal, depformer_step, encode, decode; };
void glue_build(struct emitter *e, struct glue_functions *out);
/* descriptor.c: NAME_desc and its weight table, as globals */
void descriptor_build(struct emitter *e, const struct glue_functions *fn, const char *target, const char *features);

/* Every kernel processes T rows (T <= the graph's rows); each returns the kernel's symbol, the name its
   callers call it by. */
const char *kernel_matmul(struct emitter *e, const struct ir_graph *g, const struct ir_op *op); /* kernels_matmul.c */
const char *kernel_attention(struct emitter *e, const struct ir_graph *g, int q_stride);       /* kernels_attention.c */
/* kernels.c: built as kernel IR, printed into e->kernels as they are first built. */
void kernel_vocabulary(struct emitter *e); /* vf_exp, vf_rope (vector targets), once */
/* The target's vector vocabulary (target_emit_vocabulary) and the functions kernel_vocabulary adds. */
void print_vocabulary(struct emitter *e, FILE *out, bool simde);
int kernel_dot(struct emitter *e, int n);  /* these four return the kernel's index in e->kir */
int kernel_axpy(struct emitter *e, int n);
/* the same with the first vector (dot's a, axpy's x) stored in `format` (kiln_format.h) */
int kernel_dot_of(struct emitter *e, int n, int format);
int kernel_axpy_of(struct emitter *e, int n, int format);
int kernel_rope_pair(struct emitter *e, int head_dim);
const char *kernel_rms(struct emitter *e, int n, bool materialize);
const char *kernel_embed_add(struct emitter *e, int n, int format); /* a table stored in `format` */
const char *kernel_add(struct emitter *e, int n);
const char *kernel_silu_gate(struct emitter *e, int n);
/* The sampling's reductions, for the descriptor's argmax and softmax_exp (kiln_rt.h). */
void kernel_sampling(struct emitter *e);
const char *kernel_rope_qk(struct emitter *e, const struct ir_graph *g);
const char *kernel_gelu_gate(struct emitter *e, int n);
/* Closes a kernel being built, verifies it and prints it into e->kernels; returns its index. */
int kernel_finish(struct emitter *e, struct kir_func *f);
struct kir_node *silu_times(struct kir_func *f, struct kir_node *a, struct kir_node *b); /* silu(a) * b */
/* kernels_quant.c: the parts of a matmul of weights in a block format: x quantized into q8 blocks
   (shared: by the team), and a row of ggml's blocks (scalar) or K panels (vector targets) by it. */
int kernel_quantize_x(struct emitter *e, int C, bool shared);
int kernel_dot_quantized(struct emitter *e, int C, int format);
int kernel_panels_quantized(struct emitter *e, int C, int NR, int format, int K);
/* kernels_packed.c: a matmul over packed weights (vector targets). */
int packed_matmul_kernel(struct emitter *e, const struct ir_graph *g, const struct ir_op *op, const char *name);
const char *kernel_kv_write(struct emitter *e, const struct ir_graph *g);

/* kernels_codec.c: a codec's ops (ops.h), each returning the kernel's symbol */
const char *kernel_conv_window(struct emitter *e, const struct ir_graph *g, const struct ir_op *op);
const char *kernel_bias_add(struct emitter *e, int n);
const char *kernel_conv_transpose(struct emitter *e, const struct ir_graph *g, const struct ir_op *op);
const char *kernel_overlap_add(struct emitter *e, const struct ir_graph *g, const struct ir_op *op);
const char *kernel_elu(struct emitter *e, int n);
const char *kernel_gelu(struct emitter *e, int n);
const char *kernel_layer_norm(struct emitter *e, int n);
const char *kernel_scale_add(struct emitter *e, int n);
const char *kernel_vq_encode(struct emitter *e, const struct ir_op *op, int dim, int bins);
const char *kernel_vq_decode(struct emitter *e, const struct ir_op *op, int dim);

/* kernels_ttt.c: the kernel of a TTT shape (ir.h; base lr, eps and the RoPE table are arguments);
   returns its index in e->kir. Its state is the TTT op's (lower_ttt): `ready`, the inner model's
   arrays (ir.h, ttt_inner_names), `history`. */
int kernel_ttt(struct emitter *e, const struct ttt_shape *s);
void ttt_kernel_name(char *buf, size_t size, const struct ttt_shape *s);
void float_literal(char *buf, size_t size, float value);
#endif
