/* emit_matmul.c: the matmul kernels of vector targets, as C text in the target's vector vocabulary
 * (target.h). Weights arrive packed in panels of NR = 2 vectors' worth of rows, [panel][col][NR]
 * (plan.c, ir.h); a microkernel multiplies MR rows of x (frames) by one panel, keeping MR x 2
 * vector accumulators in registers while it streams the panel once. Every output element is the
 * sum over columns in column order, computed by one thread: the result does not depend on how
 * panels are shared among threads. The epilogue (scale, store or residual add, SiLU gate, RoPE and
 * the KV-ring write) runs on the tile before anything reaches memory. */
#include <string.h>
#include "emit_internal.h"

/* The packed x tiles one panel's block passes over at a time: what stays in L2 beside the rest. */
enum { MATMUL_CHUNK_BYTES = 192 * 1024 };
/* The column ranges the streaming form reads at once (streaming_kernel). */
enum { MATVEC_STREAMS = 4 };

/* panel_C_NR(panel, x, tile): tile[NR] = x[C] . panel[C][NR], registers only: one frame, the
   streaming form, bound by memory. The columns are cut into MATVEC_STREAMS ranges walked in lockstep:
   as many sequential reads in flight per thread, where one stream leaves DRAM bandwidth unused
   (and 2 x MATVEC_STREAMS FMA chains). The ranges' sums add up in order at the end. */
static void streaming_kernel(struct emitter *e, int C, int NR, char *name, size_t size)
{
    snprintf(name, size, "panel_%d_%d", C, NR);
    if (seen_kernel(e, name))
        return;
    FILE *k = e->kernels;
    const int S = C >= MATVEC_STREAMS ? MATVEC_STREAMS : 1, L = C / S;
    fprintf(k, "/* tile[%d] = x[%d] . panel[%d][%d], columns in %d streams of %d */\n", NR, C, C, NR, S, L);
    fprintf(k, "static inline void %s(const float *restrict panel, const float *restrict x, float *restrict tile)\n{\n",
            name);
    for (int u = 0; u < S; u++)
        fprintf(k, "    vf a%d_0 = vf_zero(), a%d_1 = vf_zero();\n", u, u);
    fprintf(k, "    for (int c = 0; c < %d; c++) {\n", L);
    for (int u = 0; u < S; u++)
        fprintf(k, "        {\n            const float *w = panel + (size_t)(c + %d) * %d;\n"
                   "            const vf xb = vf_set1(x[c + %d]);\n"
                   "            a%d_0 = vf_fma(xb, vf_load(w), a%d_0);\n            a%d_1 = vf_fma(xb, vf_load(w + VF_WIDTH), a%d_1);\n"
                   "        }\n",
                u * L, NR, u * L, u, u, u, u);
    fprintf(k, "    }\n");
    if (C > S * L) /* the columns past the streams' common length, into the last one */
        fprintf(k, "    for (int c = %d; c < %d; c++) {\n"
                   "        const vf xb = vf_set1(x[c]);\n"
                   "        a%d_0 = vf_fma(xb, vf_load(panel + (size_t)c * %d), a%d_0);\n"
                   "        a%d_1 = vf_fma(xb, vf_load(panel + (size_t)c * %d + VF_WIDTH), a%d_1);\n    }\n",
                S * L, C, S - 1, NR, S - 1, S - 1, NR, S - 1);
    for (int u = 1; u < S; u++)
        fprintf(k, "    a0_0 = vf_add(a0_0, a%d_0);\n    a0_1 = vf_add(a0_1, a%d_1);\n", u, u);
    fprintf(k, "    vf_store(tile, a0_0);\n    vf_store(tile + VF_WIDTH, a0_1);\n}\n\n");
}

/* The epilogue of one tile row `acc` (frame t) of panel p. */
static void epilogue(FILE *k, const struct ir_graph *g, const struct ir_op *op, const struct ir_weight *w, bool scaled,
                     int width)
{
    const int NR = w->pack_nr, rows = w->pack_rows, panels = ir_weight_panels(w);
    const char *sc = scaled ? " * s[t]" : "";
    switch (op->epilogue) {
    case EPI_STORE:
    case EPI_ACCUMULATE:
        fprintf(k, "                for (int j = 0; j < %d; j++) {\n                    int r = p * %d + j;\n", NR, NR);
        if (rows % NR)
            fprintf(k, "                    if (r >= %d)\n                        break;\n", rows);
        fprintf(k, "                    out[(size_t)t * %d + r] %s acc[j]%s;\n                }\n", rows,
                op->epilogue == EPI_STORE ? "=" : "+=", sc);
        break;
    case EPI_SILU_GATE:
        /* a panel's halves are one vector each: the gate in vectors where the panel is whole */
        fprintf(k, "                if (p * %d + %d <= %d) {\n"
                   "                    const vf a = vf_mul(vf_load(acc), vf_set1(%s)), b = vf_mul(vf_load(acc + %d), vf_set1(%s));\n"
                   "                    vf_store(out + (size_t)t * %d + p * %d,\n"
                   "                             vf_mul(vf_div(a, vf_add(vf_set1(1.0f), vf_exp(vf_sub(vf_zero(), a)))), b));\n"
                   "                    continue;\n                }\n",
                NR / 2, NR / 2, rows, scaled ? "s[t]" : "1.0f", NR / 2, scaled ? "s[t]" : "1.0f", rows, NR / 2);
        fprintf(k, "                for (int j = 0; j < %d; j++) {\n                    int r = p * %d + j;\n", NR / 2, NR / 2);
        if (rows % (NR / 2))
            fprintf(k, "                    if (r >= %d)\n                        break;\n", rows);
        fprintf(k, "                    float a = acc[j]%s, b = acc[%d + j]%s;\n"
                   "                    out[(size_t)t * %d + r] = a / (1.0f + expf(-a)) * b;\n                }\n",
                sc, NR / 2, sc, rows);
        break;
    case EPI_ROPE_KV: {
        const int cap = g->kv_capacity, HD = g->head_dim;
        fprintf(k, "                const int part = p / %d, r0 = (p %% %d) * %d;\n", panels, panels, NR);
        fprintf(k, "                const int64_t slot = (pos0 + t) %% %d;\n", cap);
        /* k and v rings are head-major: channel r of the slot sits at r + (r / hd) * stride */
        fprintf(k, "                float *dst = part == 0 ? q + (size_t)t * %d : (part == 1 ? k_ring : v_ring) + slot * %d;\n"
                   "                const int stride = part == 0 ? 0 : %d;\n",
                rows, HD, (cap - 1) * HD);
        if (g->rope)
            fprintf(k, "                const float *cs = rope_cs + (size_t)t * %d; /* [cos, cos], then [-sin, sin] */\n", 2 * HD);
        if (HD % width == 0) { /* a whole panel in vectors, none straddling two heads */
            fprintf(k, "                if (r0 + %d <= %d) {\n"
                       "                    for (int v = 0; v < 2; v++) {\n"
                       "                        const int r = r0 + v * VF_WIDTH;\n"
                       "                        vf val = %s;\n",
                    NR, rows, scaled ? "vf_mul(vf_load(acc + v * VF_WIDTH), vf_set1(s[t]))" : "vf_load(acc + v * VF_WIDTH)");
            if (g->rope)
                fprintf(k, "                        if (part < 2)\n"
                           "                            val = vf_rope(val, cs + r %% %d, cs + %d + r %% %d);\n", HD, HD, HD);
            fprintf(k, "                        vf_store(dst + r + r / %d * stride, val);\n"
                       "                    }\n                    continue;\n                }\n", HD);
        }
        if (g->rope) {
            fprintf(k, "                for (int j = 0; j < %d && r0 + j < %d; j += 2) {\n", NR, rows);
            fprintf(k, "                    const int r = r0 + j;\n                    float re = acc[j]%s, im = acc[j + 1]%s;\n"
                       "                    float *o = dst + r + (r / %d) * stride;\n"
                       "                    if (part < 2) {\n"
                       "                        rope_pair_%d(o, re, im, cs + r %% %d);\n"
                       "                    } else {\n"
                       "                        o[0] = re;\n                        o[1] = im;\n"
                       "                    }\n                }\n",
                    sc, sc, HD, HD, HD);
        } else {
            fprintf(k, "                for (int j = 0; j < %d && r0 + j < %d; j++)\n"
                       "                    dst[r0 + j + (r0 + j) / %d * stride] = acc[j]%s;\n",
                    NR, rows, HD, sc);
        }
        break;
    }
    }
}

/* panelpk_MxNR(panel, xp, kw, acc, first): acc[M][NR] (= if first, else +=) x[M][0:kw] .
   panel[0:kw][NR], x packed column by column (xp[c][M]), so that the M frames' values of a column
   share a cache line where rows a multiple of 4 KiB apart would compete for one L1 set. One column
   block of a cache-blocked multiplication: each accumulator continues from the value stored, so
   the sum over columns keeps its order. */
static void tile_kernel(FILE *k, int M, int NR)
{
    fprintf(k, "static void panelpk_%dx%d(const float *restrict panel, const float *restrict xp, int kw, float *restrict acc,\n"
               "    int first)\n{\n", M, NR);
    for (int i = 0; i < M; i++)
        fprintf(k, "    vf a%d_0 = first ? vf_zero() : vf_load(acc + %d), a%d_1 = first ? vf_zero() : vf_load(acc + %d + VF_WIDTH);\n",
                i, i * NR, i, i * NR);
    /* two columns per iteration (then the odd one): the loop's own instructions, halved, no
       longer compete with the FMAs */
    fprintf(k, "    int c = 0;\n");
    for (int unroll = 2; unroll >= 1; unroll--) {
        fprintf(k, "    for (; c + %d <= kw; c += %d) {\n", unroll, unroll);
        for (int u = 0; u < unroll; u++) {
            fprintf(k, "        {\n            const vf w0 = vf_load(panel + (size_t)(c + %d) * %d), w1 = vf_load(panel + (size_t)(c + %d) * %d + VF_WIDTH);\n",
                    u, NR, u, NR);
            for (int i = 0; i < M; i++)
                fprintf(k, "            { const vf xb = vf_set1(xp[(c + %d) * %d + %d]); a%d_0 = vf_fma(xb, w0, a%d_0); a%d_1 = vf_fma(xb, w1, a%d_1); }\n",
                        u, M, i, i, i, i, i);
            fprintf(k, "        }\n");
        }
        fprintf(k, "    }\n");
    }
    for (int i = 0; i < M; i++)
        fprintf(k, "    vf_store(acc + %d, a%d_0);\n    vf_store(acc + %d + VF_WIDTH, a%d_1);\n", i * NR, i, i * NR, i);
    fprintf(k, "}\n\n");
}

/* panelpk_NR[m]: the tile kernels of m = 1 to MR frames (a full tile, and the last one's rest). */
static void tile_kernels(struct emitter *e, int MR, int NR, char *name, size_t size)
{
    snprintf(name, size, "panelpk_%d", NR);
    if (seen_kernel(e, name))
        return;
    for (int m = 1; m <= MR; m++)
        tile_kernel(e->kernels, m, NR);
    fprintf(e->kernels, "static void (*const %s[%d])(const float *restrict, const float *restrict, int, float *restrict, int) = {\n"
                        "    NULL", name, MR + 1);
    for (int m = 1; m <= MR; m++)
        fprintf(e->kernels, ", panelpk_%dx%d", m, NR);
    fprintf(e->kernels, "};\n\n");
}

/* A packed matmul kernel. One frame (T == 1, streaming): each panel streams once through registers.
   Several frames (a teacher-forced chunk; graphs with rows > 1), cache-blocked as in GotoBLAS: the
   columns in blocks of KC, so that a panel's block (16 KiB) stays in L1 while tiles of MR frames
   pass over it. Per block, the threads first pack x's tiles together (xp: [tile][kw][m], m = MR
   but in a shorter last tile); then each takes its panels (static schedule: the same panels in
   every block, so the sums, [panels][T][NR] in the scratch, need no barrier), over chunks of
   tiles that stay in L2, prefetching the next panel's block into L2 as it goes. The packed x
   needs the barrier: the next block's packing overwrites it. The epilogue runs after the last. */
void packed_matmul_kernel(struct emitter *e, const struct ir_graph *g, const struct ir_op *op, const char *name)
{
    const struct ir_weight *w = &e->mod->weights[op->weight];
    const int C = w->cols, NR = w->pack_nr, MR = e->target->tile_rows, KC = MATMUL_BLOCK_FLOATS / NR;
    const int panels = ir_weight_panels(w) * (op->epilogue == EPI_ROPE_KV ? 3 : 1);
    const int chunk_bytes = KC * MR * (int)sizeof(float), lines = KC * NR * (int)sizeof(float) / 64;
    const int chunk = MATMUL_CHUNK_BYTES > chunk_bytes ? MATMUL_CHUNK_BYTES / chunk_bytes : 1; /* tiles */
    const bool scaled = op->scale >= 0, blocked = g->rows > 1;
    char one[64], tiles[64];
    streaming_kernel(e, C, NR, one, sizeof one);
    if (blocked)
        tile_kernels(e, MR, NR, tiles, sizeof tiles);
    FILE *k = e->kernels;
    static const char *const what[] = {"out = acc", "out += acc", "out = silu(a) * b", "q, k and v from acc"};
    fprintf(k, "/* matmul of packed W [%d panels][%d][%d] by x[T][%d]%s; epilogue: %s */\n", panels, C, NR, C,
            scaled ? ", scaled by s[t]" : "", what[op->epilogue]);
    const char *sparam = scaled ? "const float *restrict s, " : "", *accparam = blocked ? "float *restrict sums, " : "";
    if (op->epilogue == EPI_ROPE_KV)
        fprintf(k, "static void %s(const float *restrict W, const float *restrict x, %sfloat *restrict q,\n"
                   "    float *restrict k_ring, float *restrict v_ring, int64_t pos0, %s%sint T)\n{\n",
                name, sparam, g->rope ? "const float *restrict rope_cs, " : "", accparam);
    else
        fprintf(k, "static void %s(const float *restrict W, const float *restrict x, %sfloat *restrict out, %sint T)\n{\n",
                name, sparam, accparam);
    if (blocked) {
        /* the shape as names, so that the loops below read as the comment above */
        fprintf(k, "    if (T > 1) {\n"
                   "        enum { COLS = %d, NR = %d, MR = %d, KC = %d, PANELS = %d, CHUNK = %d, LINES = %d };\n",
                C, NR, MR, KC, panels, chunk, lines);
        fprintf(k, "        float *restrict xp = sums + (size_t)T * PANELS * NR; /* the packed x block */\n"
                   "        const int tiles = (T + MR - 1) / MR;\n"
                   "        for (int kc = 0; kc < COLS; kc += KC) {\n"
                   "            const int kw = COLS - kc < KC ? COLS - kc : KC;\n"
                   "            #pragma omp for schedule(static)\n"
                   "            for (int i = 0; i < tiles; i++) {\n"
                   "                const int m = T - i * MR < MR ? T - i * MR : MR; /* frames in tile i */\n"
                   "                for (int c = 0; c < kw; c++)\n"
                   "                    for (int r = 0; r < m; r++)\n"
                   "                        xp[(size_t)i * kw * MR + c * m + r] = x[((size_t)i * MR + r) * COLS + kc + c];\n"
                   "            }\n"
                   "            for (int i0 = 0; i0 < tiles; i0 += CHUNK) {\n"
                   "                const int i1 = i0 + CHUNK < tiles ? i0 + CHUNK : tiles;\n"
                   "                #pragma omp for schedule(static) nowait\n"
                   "                for (int p = 0; p < PANELS; p++) {\n"
                   "                    const float *panel = W + ((size_t)p * COLS + kc) * NR;\n"
                   "                    const char *next = (const char *)(panel + (size_t)COLS * NR);\n"
                   "                    for (int i = i0; i < i1; i++) {\n"
                   "                        /* the next panel's block into L2, spread over the tiles; the next tile's sums */\n"
                   "                        for (int l = (i - i0) * LINES / (i1 - i0); l < (i - i0 + 1) * LINES / (i1 - i0); l++)\n"
                   "                            __builtin_prefetch(next + l * 64, 0, 2);\n"
                   "                        const int m = T - i * MR < MR ? T - i * MR : MR;\n"
                   "                        float *acc = sums + ((size_t)p * T + i * MR) * NR;\n"
                   "                        for (int l = 0; l < m * NR; l += 16)\n"
                   "                            __builtin_prefetch(acc + m * NR + l, 1, 3);\n"
                   "                        %s[m](panel, xp + (size_t)i * kw * MR, kw, acc, kc == 0);\n"
                   "                    }\n"
                   "                }\n"
                   "            }\n"
                   "            #pragma omp barrier\n"
                   "        }\n"
                   "        #pragma omp for schedule(static)\n"
                   "        for (int p = 0; p < PANELS; p++)\n"
                   "            for (int t = 0; t < T; t++) {\n"
                   "                const float *acc = sums + ((size_t)p * T + t) * NR;\n",
                tiles);
        epilogue(k, g, op, w, scaled, e->target->width);
        fprintf(k, "            }\n        return;\n    }\n");
    }
    if (!blocked)
        fprintf(k, "    (void)T; /* one frame per call */\n");
    fprintf(k, "    #pragma omp for schedule(static)\n"
               "    for (int p = 0; p < %d; p++) {\n"
               "        float acc[%d];\n"
               "        %s(W + (size_t)p * %d * %d, x, acc);\n"
               "        {\n            const int t = 0;\n            {\n",
            panels, NR, one, C, NR);
    epilogue(k, g, op, w, scaled, e->target->width);
    fprintf(k, "            }\n        }\n    }\n}\n\n");
}
