/* kernels_matmul.c: the matmul kernels as kernel IR (kir.h): out = W . x[t] for T rows, with the
 * fused epilogues of ir.h (store, residual add, SiLU gate, RoPE and the KV-ring write). Weights
 * in row-major order [R][C] (the scalar target) take one dot product per output; packed weights
 * (vector targets) go to kernels_packed.c. Every output element is the sum over columns in column
 * order, computed by one thread. */
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

static const char *const epilogue_suffix[] = {"store", "acc", "silu_gate", "rope_kv", "bias", "gain_acc"};

/* What a row's dot product reads: the weights (and their format), and x's row t, or in a block
   format the row quantized (kernels_quant.c) */
struct rows {
    int dot, C, format;
    struct kir_node *W, *s;
};

/* dot_C(W row r, x row t) scaled by s[t] when the matmul is scaled */
static struct kir_node *row_dot(struct kir_func *f, const struct rows *m, struct kir_node *row, struct kir_node *xt,
                                struct kir_node *t)
{
    struct kir_node *w_row = kir_addr(f, m->W, MUL(WIDE(row), kir_const_int(f, KIR_I64, weight_units(m->format, m->C))));
    struct kir_node *value = kir_call(f, m->dot, 2, (struct kir_node *[]){w_row, xt});
    return m->s ? MUL(value, kir_load(f, m->s, t, 1)) : value;
}

/* The row-major form of the scalar target. */
static int row_major_matmul(struct emitter *e, const struct ir_graph *g, const struct ir_op *op, const char *name)
{
    const struct ir_weight *w = &e->mod->weights[op->weight];
    const bool quantized = kiln_format_is_block(w->format);
    const int R = w->rows, C = w->cols, dot = quantized ? kernel_dot_quantized(e, C, w->format) : kernel_dot_of(e, C, w->format);
    const int quantize = quantized ? kernel_quantize_x(e, C, false) : -1, xq_len = ir_quantized_x_floats(C);
    const bool rope = op->epilogue == EPI_ROPE_KV && g->rope, scaled = op->scale >= 0;
    const int rope_pair = rope ? kernel_rope_pair(e, g->head_dim) : -1;
    const char *sc = scaled ? " * s[t]" : "";
    struct kir_func *f;
    switch (op->epilogue) {
    case EPI_STORE:
    case EPI_ACCUMULATE:
    case EPI_BIAS:
    case EPI_SCALE_ACCUMULATE:
        f = kir_begin(&e->kir, name, void_type(), 0, "out[t][%d] %s %sW[%d, %d] . x[t][%d]%s%s", R,
                      op->epilogue == EPI_STORE || op->epilogue == EPI_BIAS ? "=" : "+=",
                      op->epilogue == EPI_SCALE_ACCUMULATE ? "gain * " : "", R, C, C, sc, op->epilogue == EPI_BIAS ? " + bias" : "");
        break;
    case EPI_SILU_GATE:
        f = kir_begin(&e->kir, name, void_type(), 0,
                      "out[t][i] = silu(W[i] . x[t]) * (W[%d + i] . x[t])%s: Moshi's gated FFN, W [%d, %d]", R / 2,
                      scaled ? ", both scaled by s[t]" : "", R, C);
        break;
    default:
        f = kir_begin(&e->kir, name, void_type(), 0,
                      "[q; k; v] = W[%d, %d] . x[t]%s;%s q -> q[t]; k, v -> ring slot (pos0 + t) %% %d, whose\n"
                      "   channel r of head r / %d sits at [r / %d][slot][r %% %d] (rings are head-major)",
                      R, C, sc, rope ? " interleaved RoPE at position pos0 + t on q and k;" : "", g->kv_capacity,
                      g->head_dim, g->head_dim, g->head_dim);
    }
    struct kir_type in = in_ptr(), out_type = out_ptr();
    struct rows m = {.dot = dot, .C = C, .format = w->format};
    m.W = kir_param(f, "W", weight_ptr(w->format), KIR_RESTRICT);
    struct kir_node *x = kir_param(f, "x", in, KIR_RESTRICT);
    m.s = scaled ? kir_param(f, "s", in, KIR_RESTRICT) : NULL;
    struct kir_node *out = NULL, *q = NULL, *k_ring = NULL, *v_ring = NULL, *pos0 = NULL, *rope_cs = NULL;
    struct kir_node *per_row = NULL; /* the bias or gain */
    if (op->epilogue != EPI_ROPE_KV) {
        out = kir_param(f, "out", out_type, KIR_RESTRICT);
        if (ir_epilogue_weighted(op))
            per_row = kir_param(f, op->epilogue == EPI_BIAS ? "bias" : "gain", in, KIR_RESTRICT);
    } else {
        const struct kir_type ring = kir_pointer_type(format_scalar(g->kv_format), false);
        q = kir_param(f, "q", out_type, KIR_RESTRICT), k_ring = kir_param(f, "k_ring", ring, KIR_RESTRICT);
        v_ring = kir_param(f, "v_ring", ring, KIR_RESTRICT), pos0 = kir_param(f, "pos0", i64_type(), 0);
        rope_cs = rope ? kir_param(f, "rope_cs", in, KIR_RESTRICT) : NULL;
    }
    struct kir_node *xq = quantized ? kir_param(f, "xq", out_type, KIR_RESTRICT) : NULL;
    struct kir_node *T = kir_param(f, "T", i32_type(), 0);
    if (quantized)
        kir_eval(f, kir_call(f, quantize, 3, (struct kir_node *[]){x, xq, T}));
    struct kir_node *t = kir_for(f, "t", INT(0), T, 1, 0);
    /* the row t the dot products read: x's, or quantized */
    struct kir_node *xt = kir_decl(f, "xt", quantized ? kir_addr(f, xq, MUL(t, INT(xq_len))) : kir_addr(f, x, MUL(t, INT(C))), KIR_CONSTANT);
    if (op->epilogue != EPI_ROPE_KV) {
        if (op->epilogue == EPI_SILU_GATE) {
            struct kir_node *i = kir_for(f, "i", INT(0), INT(R / 2), 1, 0);
            struct kir_node *a = kir_decl(f, "a", row_dot(f, &m, i, xt, t), KIR_CONSTANT);
            struct kir_node *b = kir_decl(f, "b", row_dot(f, &m, ADD(INT(R / 2), i), xt, t), KIR_CONSTANT);
            kir_store(f, out, ADD(MUL(t, INT(R / 2)), i), silu_times(f, a, b));
        } else {
            struct kir_node *r = kir_for(f, "r", INT(0), INT(R), 1, 0), *at = ADD(MUL(t, INT(R)), r);
            struct kir_node *value = row_dot(f, &m, r, xt, t);
            if (op->epilogue == EPI_BIAS)
                value = ADD(value, LOAD(per_row, r));
            else if (op->epilogue == EPI_SCALE_ACCUMULATE)
                value = MUL(LOAD(per_row, r), value);
            const bool accumulate = op->epilogue == EPI_ACCUMULATE || op->epilogue == EPI_SCALE_ACCUMULATE;
            kir_store(f, out, at, accumulate ? ADD(kir_load(f, out, at, 1), value) : value);
        }
    } else {
        const int D = R / 3, cap = g->kv_capacity, HD = g->head_dim;
        struct kir_node *slot = kir_decl(f, "slot", kir_binary(f, KIR_REM, ADD(pos0, t), INT(cap)), KIR_CONSTANT);
        /* q at q[t]; k and v at their ring slot, channel r at r + (r / hd) * (cap - 1) * hd */
        struct kir_node *dst[3] = {kir_addr(f, q, MUL(t, INT(D))), kir_addr(f, k_ring, MUL(slot, INT(HD))),
                                   kir_addr(f, v_ring, MUL(slot, INT(HD)))};
        for (int part = 0; part < 3; part++) {
            const int stride = part ? (cap - 1) * HD : 0;
            const bool roped = rope && part < 2;
            struct kir_node *r = kir_for(f, "r", INT(0), INT(D), roped ? 2 : 1, 0);
            struct kir_node *at = ADD(r, MUL(DIV(r, INT(HD)), INT(stride)));
            const int format = part ? g->kv_format : KILN_F32; /* (the rings' format: k and v rounded to it) */
            if (roped) {
                struct kir_node *re = kir_decl(f, "re", row_dot(f, &m, ADD(INT(part * D), r), xt, t), KIR_CONSTANT);
                struct kir_node *im = kir_decl(f, "im", row_dot(f, &m, ADD(INT(part * D + 1), r), xt, t), KIR_CONSTANT);
                struct kir_node *cs = kir_addr(f, rope_cs, ADD(MUL(WIDE(t), INT(2 * HD)), kir_binary(f, KIR_REM, r, INT(HD))));
                if (format == KILN_F32) {
                    kir_eval(f, kir_call(f, rope_pair, 4, (struct kir_node *[]){kir_addr(f, dst[part], at), re, im, cs}));
                } else {
                    struct kir_node *pair = kir_array(f, "pair", KIR_F32, 2);
                    kir_eval(f, kir_call(f, rope_pair, 4, (struct kir_node *[]){pair, re, im, cs}));
                    kir_store(f, dst[part], at, store_as(f, format, LOAD(pair, INT(0))));
                    kir_store(f, dst[part], ADD(at, INT(1)), store_as(f, format, LOAD(pair, INT(1))));
                }
            } else {
                kir_store(f, dst[part], at, store_as(f, format, row_dot(f, &m, ADD(INT(part * D), r), xt, t)));
            }
            kir_end(f);
        }
    }
    return kernel_finish(e, f);
}

const char *kernel_matmul(struct emitter *e, const struct ir_graph *g, const struct ir_op *op)
{
    const struct ir_weight *w = &e->mod->weights[op->weight];
    const bool rope = op->epilogue == EPI_ROPE_KV && g->rope, scaled = op->scale >= 0;
    char name[KERNEL_NAME], packing[16] = "";
    if (w->pack_nr)
        snprintf(packing, sizeof packing, "_p%d%s", w->pack_nr, ir_matmul_blocked(g, op) ? "_blocked" : "");
    int index = kernel_lookup(e, name, "matmul%s_%dx%d_%s%s%s%s%s", format_suffix(w->format), w->rows, w->cols,
                              epilogue_suffix[op->epilogue], op->epilogue == EPI_ROPE_KV ? format_suffix(g->kv_format) : "",
                              rope ? "_rope" : "", scaled ? "_scaled" : "", packing);
    if (index < 0)
        index = w->pack_nr ? packed_matmul_kernel(e, g, op, name) : row_major_matmul(e, g, op, name);
    return e->kir.funcs[index]->symbol;
}
