/* emit_internal.h: shared by the C back end's files: kernels*.c build kernels as kernel IR (each once,
 * named by what it is specialized for) and print them with kir_c.c; emit_ttt.c and emit_c.c write
 * the rest (types, the graph functions, the descriptor) as C. */
#ifndef KILN_EMIT_INTERNAL_H
#define KILN_EMIT_INTERNAL_H
#include "emit.h"
#include "kir.h"

struct emitter {
    const struct ir_module *mod;
    const struct target *target;
    bool threaded;                   /* vector targets: one OpenMP team per call, matmuls shared out */
    const char *name;                /* model name, prefixes every public symbol */
    FILE *kernels;                   /* kernel definitions, in order of first use */
    struct kir_module kir;           /* the kernels built as kernel IR (kernels.c), in order of first use */
    bool llvm;                       /* the kernels go to the LLVM back end's object; `kernels` gets their
                                        declarations */
};

/* Every kernel processes T rows (T <= the graph's rows); each returns the kernel's symbol, the name its
   callers call it by. */
const char *kernel_matmul(struct emitter *e, const struct ir_graph *g, const struct ir_op *op); /* kernels_matmul.c */
const char *kernel_attention(struct emitter *e, const struct ir_graph *g, int q_stride);       /* kernels_attention.c */
/* kernels.c: built as kernel IR, printed into e->kernels as they are first built. */
void kernel_vocabulary(struct emitter *e); /* vf_exp, vf_rope (vector targets), once */
/* The target's vector vocabulary (target_emit_vocabulary) and the functions kernel_vocabulary adds. */
void print_vocabulary(struct emitter *e, FILE *out, bool simde);
int kernel_dot(struct emitter *e, int n);  /* these two return the kernel's index in e->kir */
int kernel_axpy(struct emitter *e, int n);
int kernel_rope_pair(struct emitter *e, int head_dim);
const char *kernel_rms(struct emitter *e, int n, bool materialize);
const char *kernel_embed_add(struct emitter *e, int n);
const char *kernel_add(struct emitter *e, int n);
const char *kernel_silu_gate(struct emitter *e, int n);
/* The sampling's reductions, for the descriptor's argmax and softmax_exp (kiln_rt.h). */
void kernel_sampling(struct emitter *e);
const char *kernel_rope_qk(struct emitter *e, const struct ir_graph *g);
const char *kernel_gelu_gate(struct emitter *e, int n);
/* Closes a kernel being built, verifies it and prints it into e->kernels; returns its index. */
int kernel_finish(struct emitter *e, struct kir_func *f);
struct kir_node *silu_times(struct kir_func *f, struct kir_node *a, struct kir_node *b); /* silu(a) * b */
/* kernels_packed.c: a matmul over packed weights (vector targets). */
int packed_matmul_kernel(struct emitter *e, const struct ir_graph *g, const struct ir_op *op, const char *name);
const char *kernel_kv_write(struct emitter *e, const struct ir_graph *g);

/* emit_ttt.c: a TTT kernel is specialized for its shape (ir.h); base lr, eps and the RoPE table
   are arguments (struct ttt_weights). */
void ttt_kernel_name(char *buf, size_t size, const struct ttt_shape *s);
void emit_ttt_weights_type(FILE *out);   /* struct ttt_weights */
void emit_ttt_state_type(FILE *out, const struct ttt_shape *s);
/* NAME(p, st, ...): unpacks a layer's struct ttt_weights and state for its kernel (kernels_ttt.c) */
void emit_ttt_wrapper(FILE *out, const struct ttt_shape *s, const char *kernel);
/* kernels_ttt.c: the kernel of a TTT shape; returns its index in e->kir */
int kernel_ttt(struct emitter *e, const struct ttt_shape *s);
void float_literal(char *buf, size_t size, float value);
#endif
