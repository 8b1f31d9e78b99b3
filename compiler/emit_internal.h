/* emit_internal.h: shared by the C back end's two files: emit_kernels.c writes kernel
 * definitions (each once, named by what it is specialized for), emit_c.c writes everything else. */
#ifndef KILN_EMIT_INTERNAL_H
#define KILN_EMIT_INTERNAL_H
#include "emit.h"

struct emitter {
    const struct ir_module *mod;
    const struct target *target;
    bool threaded;                   /* vector targets: one OpenMP team per call, matmuls shared out */
    const char *name;                /* model name, prefixes every public symbol */
    FILE *kernels;                   /* kernel definitions, in order of first use */
    char **kernel_names; int num_kernels;
};

/* Every kernel processes T rows (T <= the graph's rows); each returns the kernel's name in a
   static buffer that the next call overwrites. */
const char *kernel_matmul(struct emitter *e, const struct ir_graph *g, const struct ir_op *op);
const char *kernel_attention(struct emitter *e, const struct ir_graph *g, int q_stride);
const char *kernel_rms(struct emitter *e, int n, bool materialize);
const char *kernel_embed_add(struct emitter *e, int n);
const char *kernel_add(struct emitter *e, int n);
const char *kernel_silu_gate(struct emitter *e, int n);
/* The sampling's reductions, for the descriptor's argmax and softmax_exp (kiln_rt.h). */
void kernel_sampling(struct emitter *e);
const char *kernel_rope_qk(struct emitter *e, const struct ir_graph *g);
const char *kernel_gelu_gate(struct emitter *e, int n);
/* emit_matmul.c: a matmul over packed weights in the target's vector vocabulary. */
void packed_matmul_kernel(struct emitter *e, const struct ir_graph *g, const struct ir_op *op, const char *name);
/* True when a kernel of this name was written already; records it otherwise. */
bool seen_kernel(struct emitter *e, const char *name);
const char *kernel_kv_write(struct emitter *e, const struct ir_graph *g);
void emit_rope_table(FILE *out, const struct ir_graph *g);

/* emit_ttt.c: a TTT kernel is specialized for its shape (ir.h); base lr, eps and the RoPE table
   are arguments (struct ttt_weights). */
void ttt_kernel_name(char *buf, size_t size, const struct ttt_shape *s);
void emit_ttt_common(FILE *out, const struct target *target, bool mlp); /* mlp: with the GELU helpers */
void emit_ttt_state_type(FILE *out, const struct ttt_shape *s);
void emit_ttt_kernel(FILE *out, const struct ttt_shape *s);
void float_literal(char *buf, size_t size, float value);
#endif
