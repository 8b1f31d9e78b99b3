/* plan.c: chooses each weight's format and layout for the target, and places every activation of
 * a graph ([time][len] of its dtype) in one scratch arena, reusing memory whose value is dead: a value
 * lives from the op that first writes it to the last op that reads it, and two values whose lives
 * overlap never share bytes. Offsets are in floats, aligned to a cache line. */
#include <stdlib.h>
#include "ir.h"
#include "kiln_format.h"

#define ALIGN_FLOATS 16

struct live_range { int first, last; };

static void touch(struct live_range *r, int v, int i)
{
    if (v < 0)
        return;
    if (r[v].first < 0)
        r[v].first = i;
    r[v].last = i;
}

/* The arena's floats a value takes (a 2-byte one rounded up to whole floats) */
static int value_floats(const struct ir_value *v)
{
    return (int)(((long long)v->len * v->time * ir_dtype_bytes(v->dtype) + 3) / 4);
}

static void plan_graph(struct ir_graph *g)
{
    struct live_range *range = malloc((size_t)g->num_values * sizeof *range);
    for (int v = 0; v < g->num_values; v++)
        range[v] = (struct live_range){-1, -1};
    for (int i = 0; i < g->num_ops; i++) {
        const struct ir_op *op = &g->ops[i];
        if (op->dead)
            continue;
        for (int k = 0; k < 4; k++)
            touch(range, op->in[k], i);
        touch(range, op->work, i);
        touch(range, op->scale, i);
        touch(range, op->out, i);
    }
    g->scratch_floats = 0;
    for (int v = 0; v < g->num_values; v++) {
        struct ir_value *val = &g->values[v];
        val->offset = -1;
        if (val->kind != VAL_ACT || range[v].first < 0)
            continue;
        int size = (value_floats(val) + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
        /* Lowest offset that overlaps no placed value alive at the same time. */
        int offset = 0;
        for (bool moved = true; moved;) {
            moved = false;
            for (int u = 0; u < v; u++) {
                const struct ir_value *other = &g->values[u];
                if (other->offset < 0 || range[u].last < range[v].first || range[v].last < range[u].first)
                    continue;
                int other_size = value_floats(other);
                if (offset < other->offset + other_size && other->offset < offset + size) {
                    offset = (other->offset + other_size + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
                    moved = true;
                }
            }
        }
        val->offset = offset;
        if (offset + size > g->scratch_floats)
            g->scratch_floats = offset + size;
    }
    free(range);
}

void plan_buffers(struct ir_module *mod)
{
    for (int gi = 0; gi < mod->num_graphs; gi++)
        plan_graph(mod->graphs[gi]);
}

int ir_weight_panels(const struct ir_weight *w)
{
    return (int)kiln_panels_per_block(w->pack_nr, w->pack_rows, w->pack_gated);
}

int ir_matmul_work_len(const struct ir_weight *w, const struct ir_op *op)
{
    int panels = ir_weight_panels(w) * (op->epilogue == EPI_ROPE_KV ? 3 : 1);
    return panels * w->pack_nr + MATMUL_BLOCK_FLOATS / w->pack_nr;
}

long long ir_weight_storage(const struct ir_weight *w)
{
    long long numel = ir_weight_numel(w) / (w->step == STEP_TABLE ? w->steps : 1);
    return (long long)kiln_stored_elements((size_t)numel, (size_t)w->cols, w->pack_nr, w->pack_rows, w->pack_gated);
}

/* Each weight's class, for `info` and the per-class format keys (the weights of a block no op
   names, the TTT layers' after the first, are the temporal's; a norm folded into matrices is
   theirs), and whether a matmul reads it. */
static void plan_classes(struct ir_module *mod)
{
    for (int i = 0; i < mod->num_weights; i++) {
        mod->weights[i].matrix = mod->weights[i].is_embedding;
        mod->weights[i].weight_class = mod->weights[i].is_embedding ? KILN_CLASS_EMBEDDINGS : KILN_CLASS_TEMPORAL;
    }
    for (int gi = 0; gi < mod->num_graphs; gi++) {
        const struct ir_graph *g = mod->graphs[gi];
        for (int i = 0; i < g->num_ops; i++) {
            const struct ir_op *op = &g->ops[i];
            if (!op->dead && op->code == OP_MATMUL)
                mod->weights[op->weight].matrix = true;
            if (!op->dead && op->weight >= 0 && !mod->weights[op->weight].is_embedding) {
                const bool head = g->weight_class == KILN_CLASS_TEMPORAL && op->out >= 0 && g->values[op->out].kind == VAL_OUTPUT;
                mod->weights[op->weight].weight_class = head ? KILN_CLASS_TEXT_HEAD : g->weight_class;
            }
        }
    }
    for (int i = 0; i < mod->num_weights; i++)
        if (mod->weights[i].fold_alpha >= 0)
            mod->weights[mod->weights[i].fold_alpha].weight_class = mod->weights[i].weight_class;
}

int ir_requested_format(const struct ir_module *mod, const struct ir_weight *w)
{
    return ir_class_format(&mod->formats, w->weight_class);
}

/* Each weight's format: its class's (ir_requested_format). What a matmul reads and the embedding
   tables are stored in it (under q8 or q4, the tables and a matrix whose rows are not whole blocks
   in bf16: kiln_matrix_format); every other weight (norms, biases, TTT's) stays f32, its values
   rounded through bf16 or f16 under those, so that the model computes what the checkpoint in that
   format holds. */
static void plan_formats(struct ir_module *mod)
{
    plan_classes(mod);
    for (int i = 0; i < mod->num_weights; i++) {
        struct ir_weight *w = &mod->weights[i];
        const int format = ir_requested_format(mod, w);
        w->format = w->matrix ? kiln_matrix_format(format, w->is_embedding, (size_t)w->cols) : KILN_F32;
        w->rounding = w->matrix || kiln_format_is_block(format) ? KILN_F32 : format;
    }
}

/* The scratch a matmul of weights in a block format needs: x of each of the graph's rows quantized
   to q8 blocks (32 int8, then every block's f32 scale, then every block's i32 sum of its int8s) */
int ir_quantized_x_floats(int cols) { return cols / 4 + cols / 16; }

/* Every weight's format; every matmul weight of a vector target is packed in panels of two
   vectors' worth of rows; in a graph that takes several rows per call, the matmul also gets the
   scratch of its cache-blocked form (ir.h). Runs before plan_buffers. */
/* What a streaming frame multiplies with each weight: a matmul's matrix once per value and row (an
   LM's streaming call is one row, a per-step graph's steps each use their own block or entry), a
   codebook twice per value (its search's |c|^2 and r.c) */
static void count_macs(struct ir_module *mod)
{
    for (int gi = 0; gi < mod->num_graphs; gi++) {
        const struct ir_graph *g = mod->graphs[gi];
        for (int i = 0; i < g->num_ops; i++) {
            const struct ir_op *op = &g->ops[i];
            if (op->dead)
                continue;
            if (op->code == OP_MATMUL)
                mod->weights[op->weight].macs += g->multirate ? (long long)ir_op_rows(g, op) * ir_weight_numel(&mod->weights[op->weight])
                                                              : ir_weight_numel(&mod->weights[op->weight]);
            for (int j = 0; op->code == OP_VQ_ENCODE && j < op->codebooks; j++)
                mod->weights[op->weight + 2 * j].macs += 2 * ir_weight_numel(&mod->weights[op->weight + 2 * j]);
        }
    }
}

void plan_weights(struct ir_module *mod, int vector_width)
{
    plan_formats(mod);
    count_macs(mod);
    for (int gi = 0; gi < mod->num_graphs; gi++) {
        struct ir_graph *g = mod->graphs[gi];
        for (int i = 0; i < g->num_ops; i++) {
            struct ir_op *op = &g->ops[i];
            if (op->dead || op->code != OP_MATMUL)
                continue;
            struct ir_weight *w = &mod->weights[op->weight];
            const bool block = kiln_format_is_block(w->format);
            if (block) {
                op->work = ir_value(g, VAL_ACT, ir_quantized_x_floats(w->cols), "%s.xq", g->values[op->out].name);
                g->values[op->work].time = ir_op_rows(g, op);
            }
            if (vector_width <= 1)
                continue;
            w->pack_nr = 2 * vector_width;
            w->pack_gated = op->epilogue == EPI_SILU_GATE;
            w->pack_rows = op->epilogue == EPI_SILU_GATE ? w->rows / 2 : op->epilogue == EPI_ROPE_KV ? w->rows / 3 : w->rows;
            if (w->step == STEP_ROW_BLOCK)
                w->step_stride = ir_weight_storage(w) / w->steps;
            if (ir_matmul_blocked(g, op) && !block) {
                op->work = ir_value(g, VAL_ACT, ir_matmul_work_len(w, op), "%s.sums", g->values[op->out].name);
                g->values[op->work].time = ir_op_rows(g, op);
            }
        }
    }
}
