/* kernels_quant.c: the pieces of a matmul whose weights are stored in a block format (q8_0, q4_0;
 * kiln_format.h) as kernel IR. No dequantized matrix exists: x is first quantized, row by row, into
 * q8 blocks of its own (32 int8 q, an f32 scale d = max |x| / 127, and the sum of the q), and each
 * block of a row of W meets the block of x under it as an integer dot product; one f32 FMA per
 * block then adds (that sum) x d_w x d_x. The integer sums are exact, so the scalar target's
 * row-major form (ggml's blocks, signed) and the vector targets' packed form (plan.c, runtime/
 * weights.c: unsigned bytes, the offset taken back through x's sums) compute the same numbers. */
#include "kernels.h"

/* p as a pointer to `scalar`s (through void *, as C allows) */
static struct kir_node *reinterpret(struct kir_func *f, struct kir_node *p, enum kir_scalar scalar)
{
    struct kir_node *v = kir_pointer_cast(f, kir_pointer_type(KIR_VOID, p->type.readonly), p);
    return kir_pointer_cast(f, kir_pointer_type(scalar, p->type.readonly), v);
}

/* Where a quantized row of x (ir_quantized_x_floats floats from xq) keeps its parts */
struct quantized_x {
    struct kir_node *q;              /* int8 [C] */
    struct kir_node *d;              /* f32 [C / 32] */
    struct kir_node *sum;            /* i32 [C / 32] */
};

static struct quantized_x quantized_x(struct kir_func *f, struct kir_node *xq, int C)
{
    return (struct quantized_x){.q = reinterpret(f, xq, KIR_I8), .d = kir_addr(f, xq, INT(C / 4)),
                                .sum = reinterpret(f, kir_addr(f, xq, INT(C / 4 + C / KILN_QBLOCK)), KIR_I32)};
}

/* quantize_x_C(x, xq, T): each of the T rows of x [T][C] into q8 blocks, xq [T][C / 4 + C / 16]:
   d = max |x| / 127, q = floor(x (1 / d) + 1/2) (0 where d is), and the sum of the q. Shared: the
   blocks among the team, whose barrier ends it. */
int kernel_quantize_x(struct emitter *e, int C, bool shared)
{
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "quantize_x_%d%s", C, shared ? "_shared" : "");
    if (index >= 0)
        return index;
    const int blocks = C / KILN_QBLOCK, L = ir_quantized_x_floats(C);
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0,
                                   "x[T][%d] -> q8 blocks: int8 q[%d], then f32 d[%d], then i32 sum[%d] per row of xq", C, C,
                                   blocks, blocks);
    struct kir_node *x = kir_param(f, "x", in_ptr(), KIR_RESTRICT), *xq = kir_param(f, "xq", out_ptr(), KIR_RESTRICT),
                    *T = kir_param(f, "T", i32_type(), 0);
    struct kir_node *i = kir_for(f, "i", INT(0), MUL(T, INT(blocks)), 1, shared ? KIR_PARALLEL : 0);
    struct kir_node *t = kir_decl(f, "t", DIV(i, INT(blocks)), KIR_CONSTANT), *b = kir_decl(f, "b", kir_binary(f, KIR_REM, i, INT(blocks)), KIR_CONSTANT);
    struct kir_node *row = kir_decl(f, "row", kir_addr(f, xq, MUL(WIDE(t), INT(L))), KIR_CONSTANT);
    struct kir_node *xb = kir_decl(f, "xb", kir_addr(f, x, ADD(MUL(WIDE(t), INT(C)), MUL(b, INT(KILN_QBLOCK)))), KIR_CONSTANT);
    struct quantized_x out = quantized_x(f, row, C);
    struct kir_node *amax = kir_decl(f, "amax", F32(0), 0);
    struct kir_node *j = kir_for(f, "j", INT(0), INT(KILN_QBLOCK), 1, 0);
    kir_assign(f, amax, kir_binary(f, KIR_MAX, amax, kir_binary(f, KIR_MAX, LOAD(xb, j), kir_unary(f, KIR_NEG, LOAD(xb, j)))));
    kir_end(f);
    struct kir_node *d = kir_decl(f, "d", DIV(amax, F32(127)), KIR_CONSTANT);
    struct kir_node *id = kir_decl(f, "id", kir_select(f, kir_binary(f, KIR_NE, d, F32(0)), DIV(F32(1), d), F32(0)), KIR_CONSTANT);
    struct kir_node *sum = kir_decl(f, "sum", INT(0), 0);
    j = kir_for(f, "j", INT(0), INT(KILN_QBLOCK), 1, 0);
    struct kir_node *q = kir_decl(f, "q", kir_cast(f, i32_type(), kir_unary(f, KIR_FLOOR, kir_fma(f, LOAD(xb, j), id, F32(0.5)))),
                                  KIR_CONSTANT);
    kir_store(f, out.q, ADD(MUL(b, INT(KILN_QBLOCK)), j), kir_cast(f, kir_scalar_type(KIR_I8), q));
    kir_assign(f, sum, ADD(sum, q));
    kir_end(f);
    kir_store(f, out.d, b, d);
    kir_store(f, out.sum, b, sum);
    kir_end(f);
    return kernel_finish(e, f);
}

/* dot_q8_0_C(w, xq) / dot_q4_0_C: a row of ggml's blocks (f16 d, then 32 int8 or 16 bytes of two
   nibbles) by a quantized row of x: the row-major form of the scalar target. */
int kernel_dot_quantized(struct emitter *e, int C, int format)
{
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "dot%s_%d", format_suffix(format), C);
    if (index >= 0)
        return index;
    const int unit = (int)kiln_unit_bytes(format);
    struct kir_func *f = kir_begin(&e->kir, name, f32_type(), KIR_INLINE, NULL);
    struct kir_node *w = kir_param(f, "w", weight_ptr(format), KIR_RESTRICT), *xq = kir_param(f, "xq", in_ptr(), KIR_RESTRICT);
    struct quantized_x x = quantized_x(f, xq, C);
    struct kir_node *acc = kir_decl(f, "acc", F32(0), 0);
    struct kir_node *b = kir_for(f, "b", INT(0), INT(C / KILN_QBLOCK), 1, 0);
    struct kir_node *block = kir_decl(f, "block", kir_addr(f, w, MUL(b, INT(unit))), KIR_CONSTANT);
    struct kir_node *xb = kir_decl(f, "xb", kir_addr(f, x.q, MUL(b, INT(KILN_QBLOCK))), KIR_CONSTANT);
    struct kir_node *sum = kir_decl(f, "sum", INT(0), 0);
    struct kir_node *q = kir_addr(f, block, INT(2));
    if (format == KILN_Q8_0) {
        struct kir_node *j = kir_for(f, "j", INT(0), INT(KILN_QBLOCK), 1, 0);
        kir_assign(f, sum, ADD(sum, MUL(kir_cast(f, i32_type(), LOAD(reinterpret(f, q, KIR_I8), j)), kir_cast(f, i32_type(), LOAD(xb, j)))));
        kir_end(f);
    } else { /* byte j: weight j in its low nibble, j + 16 in its high one, each offset by 8 */
        struct kir_node *j = kir_for(f, "j", INT(0), INT(KILN_QBLOCK / 2), 1, 0);
        struct kir_node *byte = kir_decl(f, "byte", LOAD(q, j), KIR_CONSTANT);
        struct kir_node *lo = SUB(kir_binary(f, KIR_BAND, byte, INT(15)), INT(8)), *hi = SUB(kir_binary(f, KIR_SHR, byte, INT(4)), INT(8));
        kir_assign(f, sum, ADD(sum, ADD(MUL(lo, kir_cast(f, i32_type(), LOAD(xb, j))),
                                        MUL(hi, kir_cast(f, i32_type(), LOAD(xb, ADD(j, INT(KILN_QBLOCK / 2))))))));
        kir_end(f);
    }
    struct kir_node *dw = WLOAD(reinterpret(f, block, KIR_F16), INT(0));
    kir_assign(f, acc, kir_fma(f, kir_cast(f, f32_type(), sum), MUL(dw, LOAD(x.d, b)), acc));
    kir_end(f);
    kir_return(f, acc);
    return kernel_finish(e, f);
}

/* What one column block of a panel adds to its accumulators (kernel_panels_quantized) */
struct panel_block {
    int NR, format;
    bool q8_halves;                  /* q8's bytes as two DOT4s (panel_block) */
    struct kir_node *panel;
    struct quantized_x x;
};

/* acc[0..1] += the panel's block b by x's block b: per half, DOT4s of the weights' bytes with x's 4
   bytes of each group broadcast, less the bytes' zero (kiln_panel_zero) times x's block sum;
   then one FMA with the two scales. With q8_halves a q8 byte v goes in as two DOT4s, of v & 0xf0
   and of v & 0x0f: the same sum, exactly, in twice the instructions. On Zen 4 that pace (q4's, which
   unpacks its nibbles) streams 8-13% more bytes a second than one DOT4 a line, whole Moshi 7B
   frames alternating in one process (docs/performance.md); set where DOT4 takes any byte in one
   instruction (VNNI), so that the halves cost nothing but the pace. */
static void panel_block(struct kir_func *f, const struct panel_block *pb, struct kir_node *b, struct kir_node *acc[2])
{
    const int W = f->module->width, NR = pb->NR, unit = (int)kiln_unit_bytes(pb->format), groups = (int)kiln_panel_groups(pb->format);
    const bool q4 = pb->format == KILN_Q4_0;
    kir_block(f);
    struct kir_node *block = kir_decl(f, "block", kir_addr(f, pb->panel, MUL(WIDE(b), INT(unit * NR))), KIR_CONSTANT);
    struct kir_node *q = kir_decl(f, "q", reinterpret(f, kir_addr(f, block, INT(2 * NR)), KIR_I32), KIR_CONSTANT);
    struct kir_node *xb = kir_decl(f, "xb", reinterpret(f, kir_addr(f, pb->x.q, MUL(b, INT(KILN_QBLOCK))), KIR_I32), KIR_CONSTANT);
    struct kir_node *sum[2] = {kir_decl(f, "sum0", kir_broadcast(f, INT(0), W), 0), kir_decl(f, "sum1", kir_broadcast(f, INT(0), W), 0)};
    struct kir_node *nibbles = q4 || pb->q8_halves ? kir_decl(f, "nibbles", kir_broadcast(f, INT(0x0f0f0f0f), W), KIR_CONSTANT) : NULL;
    struct kir_node *high_mask = pb->q8_halves ? kir_decl(f, "high_mask", kir_broadcast(f, INT(~0x0f0f0f0f), W), KIR_CONSTANT) : NULL;
    for (int g = 0; g < groups; g++) {
        kir_block(f);
        struct kir_node *x4 = kir_decl(f, "x4", kir_broadcast(f, LOAD(xb, INT(g)), W), KIR_CONSTANT);
        struct kir_node *x4_high = q4 ? kir_decl(f, "x4_high", kir_broadcast(f, LOAD(xb, INT(g + groups)), W), KIR_CONSTANT) : NULL;
        for (int half = 0; half < 2; half++) {
            struct kir_node *bytes = kir_load(f, q, INT((2 * g + half) * W), W);
            if (!q4 && !pb->q8_halves) {
                kir_assign(f, sum[half], kir_dot4(f, sum[half], bytes, x4, false));
                continue;
            }
            kir_block(f);
            struct kir_node *v = kir_decl(f, "v", bytes, KIR_CONSTANT);
            if (q4) {
                kir_assign(f, sum[half], kir_dot4(f, sum[half], kir_binary(f, KIR_BAND, v, nibbles), x4, true));
                struct kir_node *high = kir_binary(f, KIR_BAND, kir_binary(f, KIR_SHR, v, kir_broadcast(f, INT(4), W)), nibbles);
                kir_assign(f, sum[half], kir_dot4(f, sum[half], high, x4_high, true));
            } else {
                kir_assign(f, sum[half], kir_dot4(f, sum[half], kir_binary(f, KIR_BAND, v, high_mask), x4, false));
                kir_assign(f, sum[half], kir_dot4(f, sum[half], kir_binary(f, KIR_BAND, v, nibbles), x4, true));
            }
            kir_end(f);
        }
        kir_end(f);
    }
    struct kir_node *offset = kir_decl(f, "offset", kir_broadcast(f, MUL(LOAD(pb->x.sum, b), INT(kiln_panel_zero(pb->format))), W), KIR_CONSTANT);
    struct kir_node *dx = kir_decl(f, "dx", SET1(LOAD(pb->x.d, b)), KIR_CONSTANT);
    struct kir_node *scales = reinterpret(f, block, KIR_F16);
    for (int half = 0; half < 2; half++)
        kir_assign(f, acc[half], kir_fma(f, kir_cast(f, VF_TYPE, SUB(sum[half], offset)), MUL(WVLOAD(scales, INT(half * W)), dx), acc[half]));
    kir_end(f);
}

/* panels_q8_0_C_NRxK(panel, stride, xq, tiles) / panels_q4_0: tiles[k][NR] = panel k (at panel +
   k stride bytes) of NR rows (plan.c's layout: per column block, NR f16 scales, then groups of 4
   columns of the two halves' W rows) by a quantized row of x, block by block (panel_block), the K
   panels in lockstep: K sequential reads in flight, where one stream a thread leaves its loads
   waiting on DRAM (kernels_packed.c's streaming_form). */
int kernel_panels_quantized(struct emitter *e, int C, int NR, int format, int K)
{
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "panels%s_%d_%dx%d", format_suffix(format), C, NR, K);
    if (index >= 0)
        return index;
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), KIR_INLINE,
                                   "tiles[%d][%d] = %d panels [%d][%d], stride bytes apart, . x[%d], quantized", K, NR, K, NR, C, C);
    struct kir_node *panel = kir_param(f, "panel", weight_ptr(format), KIR_RESTRICT), *stride = kir_param(f, "stride", i64_type(), 0);
    struct kir_node *xq = kir_param(f, "xq", in_ptr(), KIR_RESTRICT), *tiles = kir_param(f, "tiles", out_ptr(), KIR_RESTRICT);
    struct lockstep l = {.K = K};
    lockstep_begin(f, &l, panel, stride);
    struct panel_block pb = {.NR = NR, .format = format, .x = quantized_x(f, xq, C),
                             .q8_halves = format == KILN_Q8_0 && e->target->dot4_form == KIR_DOT4_VNNI};
    struct kir_node *b = kir_for(f, "b", INT(0), INT(C / KILN_QBLOCK), 1, 0);
    for (int k = 0; k < K; k++) {
        pb.panel = l.panel[k];
        panel_block(f, &pb, b, l.acc[k]);
    }
    kir_end(f);
    lockstep_store(f, &l, tiles, NR);
    return kernel_finish(e, f);
}
