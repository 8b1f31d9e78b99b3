/* passes.c: the fusion passes. Each rewrites ops in place, marking the absorbed op dead:
 *   fold_norms:    rms_norm(x) read only by matmuls -> rms_scale(x) (one scalar), the norm's alpha
 *                  folded into those matmuls' columns at load (in f32), the scalar applied to acc;
 *   fuse_residual: x = add(x, matmul(...)) -> the matmul accumulates into x;
 *   fuse_gating:   silu_gate(matmul(...)) -> the matmul's epilogue gates row i with row H + i;
 *   fuse_rope_kv:  matmul -> rope_qk -> kv_write -> attention: the matmul's epilogue ropes q and k,
 *                  writes k and v into the KV ring slot, and hands only q to attention;
 *   fuse_epilogues (a codec's): bias_add(matmul(...)) -> the matmul adds the bias (a conv's);
 *                  x = scale_add(x, matmul(...)) -> the matmul adds gain * acc into x (a layer scale). */
#include <stdlib.h>
#include <string.h>
#include "ir.h"

/* Ops (live) that read value v, written to readers[]; returns how many. */
static int readers_of(const struct ir_graph *g, int v, int *readers, int max)
{
    int n = 0;
    for (int i = 0; i < g->num_ops; i++) {
        const struct ir_op *op = &g->ops[i];
        if (op->dead)
            continue;
        if (op->in[0] == v || op->in[1] == v || op->in[2] == v || op->in[3] == v || op->scale == v) {
            if (n < max)
                readers[n] = i;
            n++;
        }
    }
    return n;
}

static int producer_of(const struct ir_graph *g, int v, int before)
{
    for (int i = before - 1; i >= 0; i--)
        if (!g->ops[i].dead && g->ops[i].out == v)
            return i;
    return -1;
}

#define MAX_READERS 16

static void fold_norms_in(struct ir_module *mod, struct ir_graph *g)
{
    for (int i = 0; i < KILN_NUM_CLASSES; i++) /* the alpha is applied to the activation: a low-precision
                                                  matrix is the checkpoint's, rounded once */
        if (ir_class_format(&mod->formats, i) != KILN_F32)
            return;
    int readers[MAX_READERS];
    for (int i = 0; i < g->num_ops; i++) {
        struct ir_op *norm = &g->ops[i];
        if (norm->dead || norm->code != OP_RMS_NORM || g->values[norm->out].kind != VAL_ACT)
            continue;
        int n = readers_of(g, norm->out, readers, MAX_READERS);
        bool all_matmul = n > 0 && n <= MAX_READERS;
        for (int r = 0; r < n && all_matmul; r++) {
            const struct ir_op *op = &g->ops[readers[r]];
            all_matmul = op->code == OP_MATMUL && op->scale < 0 && mod->weights[op->weight].fold_alpha < 0;
        }
        if (!all_matmul)
            continue;
        for (int r = 0; r < n; r++) {
            struct ir_op *mm = &g->ops[readers[r]];
            mm->scale = norm->out;
            mm->in[0] = norm->in[0];
            mod->weights[mm->weight].fold_alpha = norm->weight;
        }
        norm->code = OP_RMS_SCALE;
        g->values[norm->out].len = 1;
        g->values[norm->out].scalar = true;
        snprintf(g->values[norm->out].name + strlen(g->values[norm->out].name), 8, ".rms");
    }
}

static void fuse_residual_in(struct ir_graph *g)
{
    int readers[2];
    for (int i = 0; i < g->num_ops; i++) {
        struct ir_op *add = &g->ops[i];
        if (add->dead || add->code != OP_ADD || add->out != add->in[0])
            continue;
        int p = producer_of(g, add->in[1], i);
        if (p < 0 || g->ops[p].code != OP_MATMUL || g->ops[p].epilogue != EPI_STORE ||
            readers_of(g, add->in[1], readers, 2) != 1)
            continue;
        g->ops[p].out = add->out;
        g->ops[p].epilogue = EPI_ACCUMULATE;
        add->dead = true;
    }
}

static void fuse_gating_in(struct ir_graph *g)
{
    int readers[2];
    for (int i = 0; i < g->num_ops; i++) {
        struct ir_op *gate = &g->ops[i];
        if (gate->dead || gate->code != OP_SILU_GATE)
            continue;
        int p = producer_of(g, gate->in[0], i);
        if (p < 0 || g->ops[p].code != OP_MATMUL || g->ops[p].epilogue != EPI_STORE ||
            readers_of(g, gate->in[0], readers, 2) != 1)
            continue;
        g->ops[p].out = gate->out;
        g->ops[p].epilogue = EPI_SILU_GATE;
        gate->dead = true;
    }
}

/* Finds matmul(->qkv), [rope_qk(qkv)], kv_write(qkv), attention(qkv) with no other reader. */
static void fuse_rope_kv_in(struct ir_graph *g)
{
    int readers[4];
    for (int i = 0; i < g->num_ops; i++) {
        struct ir_op *mm = &g->ops[i];
        if (mm->dead || mm->code != OP_MATMUL || mm->epilogue != EPI_STORE)
            continue;
        int qkv = mm->out;
        int n = readers_of(g, qkv, readers, 4);
        int rope = -1, kv = -1, attn = -1;
        for (int r = 0; r < n && r < 4; r++) {
            enum ir_opcode c = g->ops[readers[r]].code;
            if (c == OP_ROPE_QK)
                rope = readers[r];
            else if (c == OP_KV_WRITE)
                kv = readers[r];
            else if (c == OP_ATTENTION)
                attn = readers[r];
        }
        if (kv < 0 || attn < 0 || n != 2 + (rope >= 0) || (g->rope && rope < 0))
            continue;
        int q = ir_value(g, VAL_ACT, g->dim, "l%d.q", g->ops[kv].layer);
        mm->out = q;
        mm->epilogue = EPI_ROPE_KV;
        mm->layer = g->ops[kv].layer;
        mm->num_states = g->ops[kv].num_states; /* its rings and positions, then the RoPE table */
        memcpy(mm->states, g->ops[kv].states, sizeof mm->states);
        if (rope >= 0)
            mm->states[KV_STATE_ROPE] = g->ops[rope].states[0], mm->num_states = KV_STATE_ROPE + 1;
        g->ops[attn].in[0] = q;
        g->ops[kv].dead = true;
        if (rope >= 0)
            g->ops[rope].dead = true;
    }
}

void pass_fold_norms(struct ir_module *mod)
{
    for (int gi = 0; gi < mod->num_graphs; gi++)
        fold_norms_in(mod, mod->graphs[gi]);
}

void pass_fuse_residual(struct ir_module *mod)
{
    for (int gi = 0; gi < mod->num_graphs; gi++)
        fuse_residual_in(mod->graphs[gi]);
}

void pass_fuse_gating(struct ir_module *mod)
{
    for (int gi = 0; gi < mod->num_graphs; gi++)
        fuse_gating_in(mod->graphs[gi]);
}

void pass_fuse_rope_kv(struct ir_module *mod)
{
    for (int gi = 0; gi < mod->num_graphs; gi++)
        fuse_rope_kv_in(mod->graphs[gi]);
}

static void fuse_epilogues_in(struct ir_graph *g)
{
    int readers[2];
    for (int i = 0; i < g->num_ops; i++) {
        struct ir_op *op = &g->ops[i];
        if (op->dead || (op->code != OP_BIAS_ADD && op->code != OP_SCALE_ADD) || op->out != op->in[0])
            continue;
        const int product = op->code == OP_BIAS_ADD ? op->in[0] : op->in[1];
        const int p = producer_of(g, product, i);
        if (p < 0 || g->ops[p].code != OP_MATMUL || g->ops[p].epilogue != EPI_STORE ||
            (op->code == OP_SCALE_ADD && readers_of(g, product, readers, 2) != 1))
            continue;
        struct ir_op *mm = &g->ops[p];
        mm->epilogue = op->code == OP_BIAS_ADD ? EPI_BIAS : EPI_SCALE_ACCUMULATE;
        mm->epilogue_weight = op->weight;
        mm->out = op->out;
        if (op->mark >= 0)
            mm->mark = op->mark; /* (bench's mark moves with it, but the fused op ends its part anyway) */
        op->dead = true;
    }
}

void pass_fuse_epilogues(struct ir_module *mod)
{
    for (int gi = 0; gi < mod->num_graphs; gi++)
        fuse_epilogues_in(mod->graphs[gi]);
}
