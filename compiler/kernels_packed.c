/* kernels_packed.c: the matmuls of vector targets as kernel IR (kir.h). Weights arrive packed in
 * panels of NR = 2 vectors' worth of rows, [panel][col][NR] (plan.c, ir.h); a microkernel multiplies
 * MR rows of x (frames) by one panel, keeping MR x 2 vector accumulators in registers while it
 * streams the panel once. Every output element is the sum over columns in column order, computed
 * by one thread: the result does not depend on how panels are shared among threads. The epilogue
 * (scale, store or residual add, SiLU gate, RoPE and the KV-ring write) runs on the tile before
 * anything reaches memory. */
#include <stdlib.h>
#include "kernels.h"

/* The packed x tiles one panel's block passes over at a time: what stays in L2 beside the rest. */
enum { MATMUL_CHUNK_BYTES = 192 * 1024 };

/* panels_C_NRxK(panel, stride, x, tiles): tiles[k][NR] = x[C] . panel k (at panel + k stride
   weights), registers only: one frame, the streaming form, bound by memory. The K panels are walked
   in lockstep, each column by column: K long sequential reads in flight per thread, where one
   stream leaves DRAM bandwidth unused and cutting a panel into ranges gives streams too short for
   the prefetchers to keep up with (docs/performance.md), and 2K FMA chains. */
static int streaming_kernel(struct emitter *e, int C, int NR, int format, int K)
{
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "panels%s_%d_%dx%d", format_suffix(format), C, NR, K);
    if (index >= 0)
        return index;
    const int W = e->kir.width;
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), KIR_INLINE,
                                   "tiles[%d][%d] = %d panels [%d][%d], stride weights apart, . x[%d]", K, NR, K, C, NR, C);
    struct kir_node *panel = kir_param(f, "panel", weight_ptr(format), KIR_RESTRICT), *stride = kir_param(f, "stride", i64_type(), 0);
    struct kir_node *x = kir_param(f, "x", in_ptr(), KIR_RESTRICT), *tiles = kir_param(f, "tiles", out_ptr(), KIR_RESTRICT);
    struct lockstep l = {.K = K};
    lockstep_begin(f, &l, panel, stride);
    struct kir_node *c = kir_for(f, "c", INT(0), INT(C), 1, 0);
    struct kir_node *xb = kir_decl(f, "xb", SET1(LOAD(x, c)), KIR_CONSTANT);
    for (int k = 0; k < K; k++) {
        kir_block(f);
        struct kir_node *w = kir_decl(f, "w", kir_addr(f, l.panel[k], MUL(WIDE(c), INT(NR))), KIR_CONSTANT);
        for (int half = 0; half < 2; half++)
            kir_assign(f, l.acc[k][half], kir_fma(f, xb, WVLOAD(w, INT(half * W)), l.acc[k][half]));
        kir_end(f);
    }
    kir_end(f);
    lockstep_store(f, &l, tiles, NR);
    return kernel_finish(e, f);
}

/* panelpk_MxNR(panel, xp, kw, acc, first): acc[M][NR] (= if first, else +=) x[M][0:kw] .
   panel[0:kw][NR], x packed column by column (xp[c][M]), so that the M frames' values of a column
   share a cache line where rows a multiple of 4 KiB apart would compete for one L1 set. One column
   block of a cache-blocked multiplication: each accumulator continues from the value stored, so
   the sum over columns keeps its order. Two columns per loop trip (then the odd one): the loop's
   own instructions, halved, no longer compete with the FMAs. */
static int tile_kernel(struct emitter *e, int M, int NR, int format)
{
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "panelpk%s_%dx%d", format_suffix(format), M, NR);
    if (index >= 0)
        return index;
    const int W = e->kir.width;
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0, NULL);
    struct kir_node *panel = kir_param(f, "panel", weight_ptr(format), KIR_RESTRICT), *xp = kir_param(f, "xp", in_ptr(), KIR_RESTRICT),
                    *kw = kir_param(f, "kw", i32_type(), 0), *acc = kir_param(f, "acc", out_ptr(), KIR_RESTRICT),
                    *first = kir_param(f, "first", i32_type(), 0);
    struct kir_node *a[16][2];
    for (int i = 0; i < M; i++)
        for (int half = 0; half < 2; half++) {
            char var[32];
            snprintf(var, sizeof var, "a%d_%d", i, half);
            a[i][half] = kir_decl(f, var, kir_select(f, kir_binary(f, KIR_NE, first, INT(0)), SET1(F32(0)),
                                                     VLOAD(acc, INT(i * NR + half * W))), 0);
        }
    struct kir_node *pairs = kir_decl(f, "pairs", MUL(DIV(kw, INT(2)), INT(2)), KIR_CONSTANT);
    for (int unroll = 2; unroll >= 1; unroll--) {
        struct kir_node *c = kir_for(f, "c", unroll == 2 ? INT(0) : pairs, unroll == 2 ? pairs : kw, unroll, 0);
        for (int u = 0; u < unroll; u++) {
            kir_block(f);
            struct kir_node *column = ADD(c, INT(u));
            struct kir_node *w0 = kir_decl(f, "w0", WVLOAD(panel, MUL(WIDE(column), INT(NR))), KIR_CONSTANT);
            struct kir_node *w1 = kir_decl(f, "w1", WVLOAD(panel, ADD(MUL(WIDE(column), INT(NR)), INT(W))), KIR_CONSTANT);
            for (int i = 0; i < M; i++) {
                kir_block(f);
                struct kir_node *xb = kir_decl(f, "xb", SET1(LOAD(xp, ADD(MUL(column, INT(M)), INT(i)))), KIR_CONSTANT);
                kir_assign(f, a[i][0], kir_fma(f, xb, w0, a[i][0]));
                kir_assign(f, a[i][1], kir_fma(f, xb, w1, a[i][1]));
                kir_end(f);
            }
            kir_end(f);
        }
        kir_end(f);
    }
    for (int i = 0; i < M; i++)
        for (int half = 0; half < 2; half++)
            kir_store(f, acc, INT(i * NR + half * W), a[i][half]);
    return kernel_finish(e, f);
}

/* What the epilogue refers to. */
struct matmul {
    const struct ir_graph *g;
    const struct ir_op *op;
    const struct ir_weight *w;
    struct kir_node *s, *out, *q, *k_ring, *v_ring, *pos0, *rope_cs;
    struct kir_node *per_row;        /* EPI_BIAS's bias, EPI_SCALE_ACCUMULATE's gain */
    int rope_pair;                   /* the scalar RoPE's kernel, or -1 */
    int vf_rope, vf_exp;
};

/* v, times the row's scale s[t] when the matmul is scaled (a vector's lanes each) */
static struct kir_node *scaled(struct kir_func *f, struct kir_node *v, struct kir_node *scale)
{
    if (!scale)
        return v;
    return MUL(v, v->type.lanes > 1 ? kir_broadcast(f, scale, v->type.lanes) : scale);
}

/* The epilogues of one tile row `acc` (frame t) of panel p; scale is s[t] or NULL. */
static void store_epilogue(struct kir_func *f, const struct matmul *mm, struct kir_node *p, struct kir_node *t,
                           struct kir_node *acc, struct kir_node *scale)
{
    const int NR = mm->w->pack_nr, rows = mm->w->pack_rows;
    struct kir_node *j = kir_for(f, "j", INT(0), INT(NR), 1, 0);
    struct kir_node *r = kir_decl(f, "r", ADD(MUL(p, INT(NR)), j), KIR_CONSTANT);
    if (rows % NR) {
        kir_if(f, kir_binary(f, KIR_GE, r, INT(rows)));
        kir_break(f);
        kir_end(f);
    }
    struct kir_node *at = ADD(MUL(WIDE(t), INT(rows)), r), *value = scaled(f, LOAD(acc, j), scale);
    const enum matmul_epilogue epilogue = mm->op->epilogue;
    if (epilogue == EPI_BIAS)
        value = ADD(value, LOAD(mm->per_row, r));
    else if (epilogue == EPI_SCALE_ACCUMULATE)
        value = MUL(LOAD(mm->per_row, r), value);
    const bool accumulate = epilogue == EPI_ACCUMULATE || epilogue == EPI_SCALE_ACCUMULATE;
    kir_store(f, mm->out, at, accumulate ? ADD(LOAD(mm->out, at), value) : value);
    kir_end(f);
}

/* a panel's halves are one vector each: the gate in vectors where the panel is whole */
static void gate_epilogue(struct kir_func *f, const struct matmul *mm, struct kir_node *p, struct kir_node *t,
                          struct kir_node *acc, struct kir_node *scale)
{
    const int NR = mm->w->pack_nr, rows = mm->w->pack_rows;
    kir_if(f, kir_binary(f, KIR_LE, ADD(MUL(p, INT(NR / 2)), INT(NR / 2)), INT(rows)));
    struct kir_node *a = kir_decl(f, "a", scaled(f, VLOAD(acc, INT(0)), scale), KIR_CONSTANT);
    struct kir_node *b = kir_decl(f, "b", scaled(f, VLOAD(acc, INT(NR / 2)), scale), KIR_CONSTANT);
    struct kir_node *negated = SUB(SET1(F32(0)), a);
    struct kir_node *sigmoid_denominator = ADD(SET1(F32(1.0)), kir_call(f, mm->vf_exp, 1, &negated));
    kir_store(f, mm->out, ADD(MUL(WIDE(t), INT(rows)), MUL(p, INT(NR / 2))), MUL(DIV(a, sigmoid_denominator), b));
    kir_continue(f);
    kir_end(f);
    struct kir_node *j = kir_for(f, "j", INT(0), INT(NR / 2), 1, 0);
    struct kir_node *r = kir_decl(f, "r", ADD(MUL(p, INT(NR / 2)), j), KIR_CONSTANT);
    if (rows % (NR / 2)) {
        kir_if(f, kir_binary(f, KIR_GE, r, INT(rows)));
        kir_break(f);
        kir_end(f);
    }
    struct kir_node *a1 = kir_decl(f, "a", scaled(f, LOAD(acc, j), scale), KIR_CONSTANT);
    struct kir_node *b1 = kir_decl(f, "b", scaled(f, LOAD(acc, ADD(INT(NR / 2), j)), scale), KIR_CONSTANT);
    kir_store(f, mm->out, ADD(MUL(WIDE(t), INT(rows)), r), silu_times(f, a1, b1));
    kir_end(f);
}

/* value into element `at` of where part (0: q, 1: k, 2: v) goes: q's row t, or the ring's slot, in the
   ring's format (a ring of f32 shares q's pointer: `dst`) */
static void store_part(struct kir_func *f, const struct matmul *mm, struct kir_node *part, struct kir_node *dst,
                       struct kir_node *ring, struct kir_node *at, struct kir_node *value)
{
    const int format = mm->g->kv_format;
    if (format == KILN_F32) {
        kir_store(f, dst, at, value);
        return;
    }
    kir_if(f, kir_binary(f, KIR_EQ, part, INT(0)));
    kir_store(f, dst, at, value);
    kir_else(f);
    kir_store(f, ring, at, store_as(f, format, value));
    kir_end(f);
}

/* q, k and v from the tile: q to q[t], k and v to their ring slot; RoPE on q and k */
static void rope_kv_epilogue(struct emitter *e, struct kir_func *f, const struct matmul *mm, struct kir_node *p,
                             struct kir_node *t, struct kir_node *acc, struct kir_node *scale)
{
    const int W = e->kir.width, NR = mm->w->pack_nr, rows = mm->w->pack_rows, panels = ir_weight_panels(mm->w);
    const struct ir_graph *g = mm->g;
    const int cap = g->kv_capacity, HD = g->head_dim;
    const bool f32_rings = g->kv_format == KILN_F32;
    struct kir_node *part = kir_decl(f, "part", DIV(p, INT(panels)), KIR_CONSTANT);
    struct kir_node *r0 = kir_decl(f, "r0", MUL(kir_binary(f, KIR_REM, p, INT(panels)), INT(NR)), KIR_CONSTANT);
    struct kir_node *slot = kir_decl(f, "slot", kir_binary(f, KIR_REM, ADD(mm->pos0, t), INT(cap)), KIR_CONSTANT);
    /* k and v rings are head-major: channel r of the slot sits at r + (r / hd) * stride */
    struct kir_node *ring = kir_select(f, kir_binary(f, KIR_EQ, part, INT(1)), mm->k_ring, mm->v_ring);
    struct kir_node *q_row = kir_addr(f, mm->q, MUL(WIDE(t), INT(rows))), *ring_slot = kir_addr(f, ring, MUL(slot, INT(HD)));
    struct kir_node *dst = kir_decl(f, "dst", f32_rings ? kir_select(f, kir_binary(f, KIR_EQ, part, INT(0)), q_row, ring_slot) : q_row,
                                    KIR_CONSTANT);
    struct kir_node *ring_dst = f32_rings ? NULL : kir_decl(f, "ring_dst", ring_slot, KIR_CONSTANT);
    struct kir_node *stride = kir_decl(f, "stride", kir_select(f, kir_binary(f, KIR_EQ, part, INT(0)), INT(0),
                                                               INT((cap - 1) * HD)), KIR_CONSTANT);
    struct kir_node *cs = NULL;
    if (g->rope) {
        kir_comment(f, "[cos, cos], then [-sin, sin]");
        cs = kir_decl(f, "cs", kir_addr(f, mm->rope_cs, MUL(WIDE(t), INT(2 * HD))), KIR_CONSTANT);
    }
    struct kir_node *roped = kir_binary(f, KIR_LT, part, INT(2));
    if (HD % W == 0) { /* a whole panel in vectors, none straddling two heads (q only, or rings of f32) */
        struct kir_node *whole = kir_binary(f, KIR_LE, ADD(r0, INT(NR)), INT(rows));
        kir_if(f, f32_rings ? whole : kir_binary(f, KIR_AND, whole, kir_binary(f, KIR_EQ, part, INT(0))));
        for (int v = 0; v < 2; v++) {
            kir_block(f);
            struct kir_node *r = kir_decl(f, "r", ADD(r0, INT(v * W)), KIR_CONSTANT);
            struct kir_node *val = kir_decl(f, "val", scaled(f, VLOAD(acc, INT(v * W)), scale), 0);
            if (g->rope) {
                kir_if(f, roped);
                struct kir_node *c = kir_addr(f, cs, kir_binary(f, KIR_REM, r, INT(HD)));
                kir_assign(f, val, kir_call(f, mm->vf_rope, 3, (struct kir_node *[]){val, c, kir_addr(f, c, INT(HD))}));
                kir_end(f);
            }
            kir_store(f, dst, ADD(r, MUL(DIV(r, INT(HD)), stride)), val);
            kir_end(f);
        }
        kir_continue(f);
        kir_end(f);
    }
    struct kir_node *j = kir_for(f, "j", INT(0), MIN(INT(NR), SUB(INT(rows), r0)), g->rope ? 2 : 1, 0);
    struct kir_node *r = kir_decl(f, "r", ADD(r0, j), KIR_CONSTANT);
    struct kir_node *at = kir_decl(f, "at", ADD(r, MUL(DIV(r, INT(HD)), stride)), KIR_CONSTANT);
    struct kir_node *re = scaled(f, LOAD(acc, j), scale);
    if (!g->rope) {
        store_part(f, mm, part, dst, ring_dst, at, re);
        kir_end(f);
        return;
    }
    struct kir_node *vre = kir_decl(f, "re", re, KIR_CONSTANT);
    struct kir_node *vim = kir_decl(f, "im", scaled(f, LOAD(acc, ADD(j, INT(1))), scale), KIR_CONSTANT);
    kir_if(f, roped);
    if (f32_rings) {
        kir_eval(f, kir_call(f, mm->rope_pair, 4, (struct kir_node *[]){kir_addr(f, dst, at), vre, vim,
                                                                        kir_addr(f, cs, kir_binary(f, KIR_REM, r, INT(HD)))}));
    } else { /* (rotated in f32, then stored as the ring's format where it is k) */
        struct kir_node *pair = kir_array(f, "pair", KIR_F32, 2);
        kir_eval(f, kir_call(f, mm->rope_pair, 4, (struct kir_node *[]){pair, vre, vim,
                                                                        kir_addr(f, cs, kir_binary(f, KIR_REM, r, INT(HD)))}));
        store_part(f, mm, part, dst, ring_dst, at, LOAD(pair, INT(0)));
        store_part(f, mm, part, dst, ring_dst, ADD(at, INT(1)), LOAD(pair, INT(1)));
    }
    kir_else(f);
    store_part(f, mm, part, dst, ring_dst, at, vre);
    store_part(f, mm, part, dst, ring_dst, ADD(at, INT(1)), vim);
    kir_end(f);
    kir_end(f);
}

/* The epilogue of one tile row `acc` (frame t) of panel p. */
static void epilogue(struct emitter *e, struct kir_func *f, const struct matmul *mm, struct kir_node *p, struct kir_node *t,
                     struct kir_node *acc)
{
    struct kir_node *scale = mm->s ? LOAD(mm->s, t) : NULL;
    if (mm->op->epilogue == EPI_SILU_GATE)
        gate_epilogue(f, mm, p, t, acc, scale);
    else if (mm->op->epilogue == EPI_ROPE_KV)
        rope_kv_epilogue(e, f, mm, p, t, acc, scale);
    else
        store_epilogue(f, mm, p, t, acc, scale);
}

/* The cache-blocked form's shape (packed_matmul_kernel). */
struct blocking {
    int C, NR, MR, KC;               /* columns, rows per panel, frames per tile, columns per block */
    int panels, chunk, lines;        /* panels; tiles per L2 chunk; 64-byte lines in a panel's block */
    int per_line;                    /* weights in a 64-byte line */
    int tiles_of[17];                /* the tile kernel of m frames, m = 1..MR */
};

/* xp[tile][kw][m] = x's block [kc, kc + kw) of each tile's frames, column by column (the tiles shared
   out among the team) */
static void pack_tiles(struct kir_func *f, const struct blocking *b, struct kir_node *x, struct kir_node *xp,
                       struct kir_node *tiles, struct kir_node *kc, struct kir_node *kw, struct kir_node *T)
{
    const int MR = b->MR;
    struct kir_node *i = kir_for(f, "i", INT(0), tiles, 1, KIR_PARALLEL);
    kir_comment(f, "frames in tile i");
    struct kir_node *m = kir_decl(f, "m", MIN(SUB(T, MUL(i, INT(MR))), INT(MR)), KIR_CONSTANT);
    struct kir_node *c = kir_for(f, "c", INT(0), kw, 1, 0), *r = kir_for(f, "r", INT(0), m, 1, 0);
    kir_store(f, xp, ADD(ADD(MUL(MUL(WIDE(i), kw), INT(MR)), MUL(c, m)), r),
              LOAD(x, ADD(ADD(MUL(ADD(MUL(WIDE(i), INT(MR)), WIDE(r)), INT(b->C)), kc), c)));
    kir_end(f);
    kir_end(f);
    kir_end(f);
}

/* sums (+)= the block's columns of every panel by every tile: the panels shared out (nowait: each
   thread keeps its panels in every block), the tiles in L2-sized chunks, the next panel's block and
   the next tile's sums prefetched */
static void multiply_block(struct kir_func *f, const struct blocking *b, struct kir_node *W, struct kir_node *xp,
                           struct kir_node *sums, struct kir_node *tiles, struct kir_node *kc, struct kir_node *kw,
                           struct kir_node *T)
{
    const int C = b->C, NR = b->NR, MR = b->MR;
    struct kir_node *i0 = kir_for(f, "i0", INT(0), tiles, b->chunk, 0);
    struct kir_node *i1 = kir_decl(f, "i1", MIN(ADD(i0, INT(b->chunk)), tiles), KIR_CONSTANT);
    struct kir_node *p = kir_for(f, "p", INT(0), INT(b->panels), 1, KIR_PARALLEL | KIR_NOWAIT);
    struct kir_node *panel = kir_decl(f, "panel", kir_addr(f, W, MUL(ADD(MUL(WIDE(p), INT(C)), WIDE(kc)), INT(NR))), KIR_CONSTANT);
    struct kir_node *next = kir_decl(f, "next", kir_addr(f, panel, kir_const_int(f, KIR_I64, (int64_t)C * NR)), KIR_CONSTANT);
    struct kir_node *i = kir_for(f, "i", i0, i1, 1, 0);
    kir_comment(f, "the next panel's block into L2, spread over the tiles (%d weights a line); the next tile's sums",
                b->per_line);
    struct kir_node *spread = SUB(i1, i0), *k = SUB(i, i0);
    struct kir_node *l = kir_for(f, "l", DIV(MUL(k, INT(b->lines)), spread), DIV(MUL(ADD(k, INT(1)), INT(b->lines)), spread), 1, 0);
    kir_prefetch(f, kir_addr(f, next, MUL(l, INT(b->per_line))), false);
    kir_end(f);
    struct kir_node *m = kir_decl(f, "m", MIN(SUB(T, MUL(i, INT(MR))), INT(MR)), KIR_CONSTANT);
    struct kir_node *acc = kir_decl(f, "acc", kir_addr(f, sums, MUL(ADD(MUL(WIDE(p), T), MUL(i, INT(MR))), INT(NR))), KIR_CONSTANT);
    l = kir_for(f, "l", INT(0), MUL(m, INT(NR)), 16, 0);
    kir_prefetch(f, kir_addr(f, acc, ADD(MUL(m, INT(NR)), l)), true);
    kir_end(f);
    struct kir_node *args[5] = {panel, kir_addr(f, xp, MUL(MUL(WIDE(i), kw), INT(MR))), kw, acc,
                                kir_cast(f, i32_type(), kir_binary(f, KIR_EQ, kc, INT(0)))};
    for (int frames = MR; frames >= 1; frames--) { /* the tile kernel of m frames */
        kir_if(f, kir_binary(f, KIR_EQ, m, INT(frames)));
        kir_eval(f, kir_call(f, b->tiles_of[frames], 5, args));
        kir_end(f);
    }
    kir_end(f);
    kir_end(f);
    kir_end(f);
}

/* if (T > 1): the cache-blocked form, then the epilogue of every panel and frame; returns */
static void blocked_form(struct emitter *e, struct kir_func *f, const struct matmul *mm, const struct blocking *b,
                         struct kir_node *W, struct kir_node *x, struct kir_node *sums, struct kir_node *T)
{
    kir_if(f, kir_binary(f, KIR_GT, T, INT(1)));
    kir_comment(f, "the packed x block");
    struct kir_node *xp = kir_decl(f, "xp", kir_addr(f, sums, MUL(WIDE(T), INT(b->panels * b->NR))), KIR_CONSTANT);
    struct kir_node *tiles = kir_decl(f, "tiles", DIV(ADD(T, INT(b->MR - 1)), INT(b->MR)), KIR_CONSTANT);
    struct kir_node *kc = kir_for(f, "kc", INT(0), INT(b->C), b->KC, 0);
    struct kir_node *kw = kir_decl(f, "kw", MIN(SUB(INT(b->C), kc), INT(b->KC)), KIR_CONSTANT);
    pack_tiles(f, b, x, xp, tiles, kc, kw, T);
    multiply_block(f, b, W, xp, sums, tiles, kc, kw, T);
    kir_comment(f, "(the next block's packing overwrites xp)");
    kir_barrier(f);
    kir_end(f);
    struct kir_node *p = kir_for(f, "p", INT(0), INT(b->panels), 1, KIR_PARALLEL);
    struct kir_node *t = kir_for(f, "t", INT(0), T, 1, 0);
    struct kir_node *row = kir_decl(f, "acc", kir_addr(f, sums, MUL(ADD(MUL(WIDE(p), T), t), INT(b->NR))), KIR_CONSTANT);
    epilogue(e, f, mm, p, t, row);
    kir_end(f);
    kir_end(f);
    kir_return(f, NULL);
    kir_end(f);
}

/* The streaming form, and a block format's only one: each panel by every row of x (of xq, x
   quantized first, in a block format: kernels_quant.c), K panels a quarter of the matrix apart in
   lockstep (the panels of a quad i are i, i + Q, i + 2Q, i + 3Q), the panels past the quads one at
   a time; the panel is read from DRAM for the first row, from cache for the others. The quads are
   balanced (guided): the threads' streams are served at uneven speeds, and equal shares left the
   first one done waiting at the barrier for the other (docs/performance.md). */
static void streaming_form(struct emitter *e, struct kir_func *f, const struct matmul *mm, const struct blocking *b,
                           struct kir_node *W, struct kir_node *x, struct kir_node *xq, struct kir_node *T)
{
    const int C = b->C, NR = b->NR, format = mm->w->format, K = b->panels >= MATVEC_STREAMS ? MATVEC_STREAMS : 1;
    const int Q = b->panels / K, quantized = kiln_format_is_block(format);
    const int64_t panel_units = weight_units(format, (int64_t)C * NR);
    if (quantized)
        kir_eval(f, kir_call(f, kernel_quantize_x(e, C, true), 3, (struct kir_node *[]){x, xq, T}));
    for (int pass = 0; pass < 2; pass++) {
        const int first = pass ? K * Q : 0, count = pass ? b->panels - K * Q : Q, lockstep = pass ? 1 : K;
        if (!count)
            continue;
        const int kernel = quantized ? kernel_panels_quantized(e, C, NR, format, lockstep) : streaming_kernel(e, C, NR, format, lockstep);
        struct kir_node *i = kir_for(f, "i", INT(first), INT(first + count), 1,
                                     KIR_PARALLEL | KIR_BALANCED | (pass || K * Q == b->panels ? 0 : KIR_NOWAIT));
        struct kir_node *t = kir_for(f, "t", INT(0), T, 1, 0);
        struct kir_node *tiles = kir_array(f, "tiles", KIR_F32, lockstep * NR);
        struct kir_node *row = quantized ? kir_addr(f, xq, MUL(t, INT(ir_quantized_x_floats(C)))) : kir_addr(f, x, MUL(t, INT(C)));
        struct kir_node *args[4] = {kir_addr(f, W, MUL(WIDE(i), kir_const_int(f, KIR_I64, panel_units))),
                                    kir_const_int(f, KIR_I64, Q * panel_units), row, tiles};
        kir_eval(f, kir_call(f, kernel, 4, args));
        struct kir_node *k = kir_for(f, "k", INT(0), INT(lockstep), 1, 0);
        epilogue(e, f, mm, ADD(i, MUL(k, INT(Q))), t, kir_addr(f, tiles, MUL(k, INT(NR))));
        kir_end(f);
        kir_end(f);
        kir_end(f);
    }
}

/* A packed matmul kernel. One frame (T == 1, streaming): each panel streams once through registers,
   4 at a time (streaming_form).
   Several frames (a teacher-forced chunk; graphs with rows > 1), cache-blocked as in GotoBLAS: the
   columns in blocks of KC, so that a panel's block (16 KiB) stays in L1 while tiles of MR frames
   pass over it. Per block, the threads first pack x's tiles together (xp: [tile][kw][m], m = MR
   but in a shorter last tile); then each takes its panels (static schedule: the same panels in
   every block, so the sums, [panels][T][NR] in the scratch, need no barrier), over chunks of
   tiles that stay in L2, prefetching the next panel's block into L2 as it goes. The packed x
   needs the barrier: the next block's packing overwrites it. The epilogue runs after the last. */
int packed_matmul_kernel(struct emitter *e, const struct ir_graph *g, const struct ir_op *op, const char *name)
{
    const struct ir_weight *w = &e->mod->weights[op->weight];
    struct blocking b = {.C = w->cols, .NR = w->pack_nr, .MR = e->target->tile_rows, .KC = MATMUL_BLOCK_FLOATS / w->pack_nr};
    const int C = b.C, NR = b.NR, chunk_bytes = b.KC * b.MR * (int)sizeof(float);
    const bool quantized = kiln_format_is_block(w->format);
    b.panels = ir_weight_panels(w) * (op->epilogue == EPI_ROPE_KV ? 3 : 1);
    b.per_line = 64 / (int)kiln_unit_bytes(w->format); /* (the blocked form's; a block format has none) */
    b.lines = b.KC * NR / b.per_line;
    b.chunk = MATMUL_CHUNK_BYTES > chunk_bytes ? MATMUL_CHUNK_BYTES / chunk_bytes : 1;
    const bool scaled = op->scale >= 0, blocked = ir_matmul_blocked(g, op) && !quantized;
    struct matmul mm = {.g = g, .op = op, .w = w, .rope_pair = -1};
    if (blocked)
        for (int m = 1; m <= b.MR; m++)
            b.tiles_of[m] = tile_kernel(e, m, NR, w->format);
    if (op->epilogue == EPI_ROPE_KV && g->rope)
        mm.rope_pair = kernel_rope_pair(e, g->head_dim);
    mm.vf_rope = kir_find(&e->kir, "vf_rope");
    mm.vf_exp = kir_find(&e->kir, "vf_exp");
    static const char *const what[] = {"out = acc", "out += acc", "out = silu(a) * b", "q, k and v from acc", "out = acc + bias",
                                       "out += gain * acc"};
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0,
                                   "matmul of packed W [%d panels][%d][%d] by x[T][%d]%s; epilogue: %s%s", b.panels, C, NR, C,
                                   scaled ? ", scaled by s[t]" : "", what[op->epilogue],
                                   quantized ? "\n   (W in blocks of 32 columns; x quantized into xq first, then panels by "
                                               "every row of it)" : "");
    struct kir_node *W = kir_param(f, "W", weight_ptr(w->format), KIR_RESTRICT), *x = kir_param(f, "x", in_ptr(), KIR_RESTRICT);
    mm.s = scaled ? kir_param(f, "s", in_ptr(), KIR_RESTRICT) : NULL;
    if (op->epilogue == EPI_ROPE_KV) {
        mm.q = kir_param(f, "q", out_ptr(), KIR_RESTRICT);
        mm.k_ring = kir_param(f, "k_ring", kir_pointer_type(format_scalar(g->kv_format), false), KIR_RESTRICT);
        mm.v_ring = kir_param(f, "v_ring", kir_pointer_type(format_scalar(g->kv_format), false), KIR_RESTRICT);
        mm.pos0 = kir_param(f, "pos0", i64_type(), 0);
        mm.rope_cs = g->rope ? kir_param(f, "rope_cs", in_ptr(), KIR_RESTRICT) : NULL;
    } else {
        mm.out = kir_param(f, "out", out_ptr(), KIR_RESTRICT);
        if (ir_epilogue_weighted(op))
            mm.per_row = kir_param(f, op->epilogue == EPI_BIAS ? "bias" : "gain", in_ptr(), KIR_RESTRICT);
    }
    struct kir_node *work = blocked || quantized ? kir_param(f, quantized ? "xq" : "sums", out_ptr(), KIR_RESTRICT) : NULL;
    struct kir_node *T = kir_param(f, "T", i32_type(), 0);
    if (blocked)
        blocked_form(e, f, &mm, &b, W, x, work, T);
    streaming_form(e, f, &mm, &b, W, x, work, T);
    return kernel_finish(e, f);
}
