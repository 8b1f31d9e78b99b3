/* lower.c: the checked model (model.h) -> the graph IR (ir.h), one op per step of the math in
 * docs/moshi.md §2-§4, unfused. The passes (passes.c) fuse; this file states the model. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "lower_internal.h"

/* A C identifier from a checkpoint name: "transformer.layers.0.norm1.alpha" -> transformer_layers_0_norm1_alpha;
   the "{k}" of a per-step table disappears (the field becomes an array). */
static void field_from_name(char *field, size_t size, const char *name)
{
    size_t n = 0;
    for (const char *p = name; *p && n + 1 < size; p++) {
        if (strncmp(p, ".{k}", 4) == 0) {
            p += 3;
            continue;
        }
        field[n++] = (*p == '.') ? '_' : *p;
    }
    field[n] = '\0';
}

int add_weight(struct ir_module *mod, enum step_select step, int steps, int rows, int cols, int rank,
                      const long long *shape, const char *fmt, ...)
{
    struct ir_weight w = {.rank = rank, .rows = rows, .cols = cols, .step = step, .steps = steps, .fold_alpha = -1};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w.name, sizeof w.name, fmt, ap);
    va_end(ap);
    memcpy(w.shape, shape, (size_t)rank * sizeof *shape);
    field_from_name(w.field, sizeof w.field, w.name);
    return ir_weight(mod, &w);
}

static int matrix(struct ir_module *mod, int rows, int cols, const char *name)
{
    return add_weight(mod, STEP_NONE, 1, rows, cols, 2, (long long[]){rows, cols}, "%s", name);
}

static int norm_alpha(struct ir_module *mod, int dim, const char *name)
{
    return add_weight(mod, STEP_NONE, 1, 1, dim, 3, (long long[]){1, 1, dim}, "%s", name);
}

/* Weights of one layer, as its graph selects them. Per-step (depformer) projections are stacked
   along dim 0 in one tensor; per-step gating is a table of tensors (docs/moshi.md §6.1). */
static int layer_matrix(struct ir_module *mod, const struct ir_graph *g, int rows, int cols, const char *name)
{
    if (!g->steps)
        return matrix(mod, rows, cols, name);
    const int steps = g->steps;
    return add_weight(mod, STEP_ROW_BLOCK, steps, rows, cols, 2, (long long[]){(long long)steps * rows, cols},
                      "%s", name);
}

static int gating_matrix(struct ir_module *mod, const struct ir_graph *g, int rows, int cols, const char *prefix,
                         const char *suffix)
{
    if (!g->steps) {
        char name[96];
        snprintf(name, sizeof name, "%s.%s", prefix, suffix);
        return matrix(mod, rows, cols, name);
    }
    return add_weight(mod, STEP_TABLE, g->steps, rows, cols, 2, (long long[]){rows, cols}, "%s.{k}.%s",
                      prefix, suffix);
}

int add_state(struct ir_module *mod, const struct ir_graph *g, enum ir_dtype dtype, long long elements,
                     enum ir_state_reset reset, enum kiln_state_role role, const char *name, const char *fmt, ...)
{
    struct ir_state s = {.dtype = dtype, .elements = elements, .reset = reset, .role = role, .graph = -1,
                         .align = role == KILN_STATE_KV ? 64 : 0};
    for (int i = 0; i < mod->num_graphs; i++)
        if (mod->graphs[i] == g)
            s.graph = i;
    snprintf(s.name, sizeof s.name, "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s.comment, sizeof s.comment, fmt, ap);
    va_end(ap);
    return ir_state(mod, &s);
}

/* n = rms_norm(x) with the layer's alpha (folded into its readers by pass_fold_norms). */
static int lower_norm(struct ir_module *mod, struct ir_graph *g, const struct transformer_spec *t,
                      const char *prefix, int l, const char *which, int x)
{
    char name[96];
    snprintf(name, sizeof name, "%s.layers.%d.%s.alpha", prefix, l, which);
    int n = ir_value(g, VAL_ACT, t->dim, "l%d.%s", l, which);
    struct ir_op *op = ir_op(g, OP_RMS_NORM, x, -1, n);
    op->weight = norm_alpha(mod, t->dim, name), op->eps = t->norm_eps;
    return n;
}

int lower_attention(struct ir_module *mod, struct ir_graph *g, const char *prefix, int l, int n1)
{
    const int D = g->dim;
    char name[96];
    snprintf(name, sizeof name, "%s.layers.%d.self_attn.in_proj_weight", prefix, l);
    int qkv = ir_value(g, VAL_ACT, 3 * D, "l%d.qkv", l);
    ir_op(g, OP_MATMUL, n1, -1, qkv)->weight = layer_matrix(mod, g, 3 * D, D, name);
    if (g->rope) {
        if (g->rope_table < 0) {
            char state[48];
            snprintf(state, sizeof state, "%srope_cs", g->state_prefix);
            g->rope_table = add_state(mod, g, IR_F32, (long long)g->rows * 2 * g->head_dim, RESET_NONE, KILN_STATE_TABLE, state,
                                      "[%d][2][%d]: RoPE at each position of the call: [cos_i, cos_i], [-sin_i, sin_i] per "
                                      "pair i", g->rows, g->head_dim);
        }
        struct ir_op *rope = ir_op(g, OP_ROPE_QK, qkv, -1, qkv);
        rope->states[0] = g->rope_table, rope->num_states = 1;
    }
    int ring[2];
    for (int which = 0; which < 2; which++) {
        char state[48];
        snprintf(state, sizeof state, "%skv_l%d_%c", g->state_prefix, l, "kv"[which]);
        ring[which] = add_state(mod, g, (enum ir_dtype)g->kv_format, (long long)g->heads * g->kv_capacity * g->head_dim,
                                RESET_NONE, KILN_STATE_KV, state, "layer %d's %s: [head %d][slot %d][head_dim %d]", l,
                                which ? "values" : "keys", g->heads, g->kv_capacity, g->head_dim);
    }
    const int kv_states[3] = {[KV_STATE_K] = ring[0], [KV_STATE_V] = ring[1], [KV_STATE_POSITIONS] = g->positions};
    struct ir_op *op = ir_op(g, OP_KV_WRITE, qkv, -1, -1);
    op->layer = l, op->num_states = 3;
    memcpy(op->states, kv_states, sizeof kv_states);
    int attn = ir_value(g, VAL_ACT, D, "l%d.attn", l);
    op = ir_op(g, OP_ATTENTION, qkv, -1, attn);
    op->layer = l, op->num_states = 3;
    memcpy(op->states, kv_states, sizeof kv_states);
    snprintf(name, sizeof name, "%s.layers.%d.self_attn.out_proj.weight", prefix, l);
    int proj = ir_value(g, VAL_ACT, D, "l%d.attn_out", l);
    ir_op(g, OP_MATMUL, attn, -1, proj)->weight = layer_matrix(mod, g, D, D, name);
    return proj;
}

static int ttt_matrix(struct ir_module *mod, int rows, int cols, int l, const char *what)
{
    char name[96];
    snprintf(name, sizeof name, "transformer.layers.%d.ttt.%s", l, what);
    return matrix(mod, rows, cols, name);
}

/* A ttt-lm-pytorch parameter of layer l's TTT sublayer, any rank. */
static int ttt_param(struct ir_module *mod, int l, const char *what, int rank, const long long *shape)
{
    long long n = 1;
    for (int i = 0; i < rank; i++)
        n *= shape[i];
    return add_weight(mod, STEP_NONE, 1, 1, (int)n, rank, shape, "transformer.layers.%d.ttt.%s", l, what);
}

/* The TTT layer whose RoPE table layer l reads: the first with the same base, head size and
   mini-batch (every layer has the model's head size). */
static int ttt_rope_table_layer(const struct transformer_spec *t, int l)
{
    const struct layer_spec *a = &t->layers[l];
    for (int j = 0; j < l; j++) {
        const struct layer_spec *b = &t->layers[j];
        if (b->mixer != MIXER_ATTENTION && b->ttt.rope_base == a->ttt.rope_base && b->ttt.mini_batch == a->ttt.mini_batch)
            return j;
    }
    return l;
}

/* A TTT op's state, in its kernel's order: the RoPE table (shared by the layers alike), `ready`, the
   inner model's arrays, the history of share_qk's convs. */
static void lower_ttt_states(struct ir_module *mod, const struct ir_graph *g, const struct transformer_spec *t,
                             struct ir_op *op, const struct ttt_shape *s)
{
    const int l = op->layer;
    char name[48];
    snprintf(name, sizeof name, "ttt_l%d_ready", l);
    op->states[1] = add_state(mod, g, IR_I32, 1, RESET_ZERO, KILN_STATE_TTT, name, "layer %d (TTT-%s): 0 until its inner weights "
                              "are taken from the weights", l, s->mlp ? "MLP" : "Linear");
    op->num_states = 2;
    for (int slot = 0; slot < TTT_SLOTS; slot++)
        if (ttt_inner_names[s->mlp][slot]) {
            snprintf(name, sizeof name, "ttt_l%d_%s", l, ttt_inner_names[s->mlp][slot]);
            op->states[op->num_states++] =
                add_state(mod, g, IR_F32, (long long)s->heads * ttt_slot_floats(s, slot), RESET_NONE, KILN_STATE_TTT, name,
                          slot < TTT_GW1 ? "[heads][..]: inner weights at the last mini-batch boundary"
                                         : "[heads][..]: lr-weighted gradient sums of the current mini-batch");
        }
    snprintf(name, sizeof name, "ttt_l%d_history", l);
    op->states[op->num_states++] = add_state(mod, g, IR_F32, ttt_history_floats(s), RESET_NONE, KILN_STATE_TTT, name,
                                             "share_qk: the last conv_kernel - 1 rows of q_proj's output");
    snprintf(name, sizeof name, "ttt_rope_l%d", ttt_rope_table_layer(t, l));
    op->states[0] = ir_state_named(mod, name);
    if (op->states[0] < 0)
        op->states[0] = add_state(mod, g, IR_F32, (long long)s->mini_batch * 2 * s->head_dim, RESET_NONE, KILN_STATE_TABLE, name,
                                  "[%d][2][%d]: RoPE at in-batch position p: [cos, cos] and [-sin, sin] of p / %g^(2i / %d) "
                                  "(and the later layers alike)", s->mini_batch, s->head_dim, t->layers[l].ttt.rope_base,
                                  s->head_dim);
}

/* x += o_proj(gate(TTT(q_proj(n1), k_proj(n1), v_proj(n1), lr(n1)))): ttt-lm-pytorch's TTTBase
   where Moshi's self_attn sits (docs/ttt.md §1.1-§1.2). The TTT op's
   weights are the consecutive block W1, b1, [W2, b2,] ttt_norm_weight, ttt_norm_bias,
   learnable_ttt_lr_bias, learnable_token_idx, post_norm.weight, post_norm.bias, [conv_q.weight,
   conv_q.bias, conv_k.weight, conv_k.bias]. */
static void lower_ttt(struct ir_module *mod, struct ir_graph *g, const struct transformer_spec *t, int l, int n1, int x)
{
    const struct ttt_params *tp = &t->layers[l].ttt;
    const int D = t->dim, NH = t->num_heads, HD = D / NH;
    const bool mlp = t->layers[l].mixer == MIXER_TTT_MLP;
    const int F = mlp ? 4 * HD : HD;
    int xq = ir_value(g, VAL_ACT, D, "l%d.ttt_q", l);
    ir_op(g, OP_MATMUL, n1, -1, xq)->weight = ttt_matrix(mod, D, D, l, "q_proj.weight");
    int xk = -1;
    if (!tp->share_qk) {
        xk = ir_value(g, VAL_ACT, D, "l%d.ttt_k", l);
        ir_op(g, OP_MATMUL, n1, -1, xk)->weight = ttt_matrix(mod, D, D, l, "k_proj.weight");
    }
    int xv = ir_value(g, VAL_ACT, D, "l%d.ttt_v", l);
    ir_op(g, OP_MATMUL, n1, -1, xv)->weight = ttt_matrix(mod, D, D, l, "v_proj.weight");
    int lr = ir_value(g, VAL_ACT, NH, "l%d.ttt_lr", l);
    ir_op(g, OP_MATMUL, n1, -1, lr)->weight =
        add_weight(mod, STEP_NONE, 1, NH, D, 3, (long long[]){NH, 1, D}, "transformer.layers.%d.ttt.learnable_ttt_lr_weight", l);

    int z = ir_value(g, VAL_ACT, D, "l%d.ttt_out", l);
    struct ir_op *op = ir_op(g, OP_TTT, xq, xk, z);
    op->in[2] = xv, op->in[3] = lr, op->layer = l, op->eps = tp->eps;
    op->weight = ttt_param(mod, l, "W1", 3, (long long[]){NH, HD, F});
    ttt_param(mod, l, "b1", 3, (long long[]){NH, 1, F});
    if (mlp) {
        ttt_param(mod, l, "W2", 3, (long long[]){NH, F, HD});
        ttt_param(mod, l, "b2", 3, (long long[]){NH, 1, HD});
    }
    ttt_param(mod, l, "ttt_norm_weight", 2, (long long[]){NH, HD});
    ttt_param(mod, l, "ttt_norm_bias", 2, (long long[]){NH, HD});
    ttt_param(mod, l, "learnable_ttt_lr_bias", 2, (long long[]){NH, 1});
    ttt_param(mod, l, "learnable_token_idx", 1, (long long[]){tp->mini_batch});
    ttt_param(mod, l, "post_norm.weight", 1, (long long[]){D});
    ttt_param(mod, l, "post_norm.bias", 1, (long long[]){D});
    if (tp->share_qk) {
        ttt_param(mod, l, "conv_q.weight", 3, (long long[]){D, 1, tp->conv_kernel});
        ttt_param(mod, l, "conv_q.bias", 1, (long long[]){D});
        ttt_param(mod, l, "conv_k.weight", 3, (long long[]){D, 1, tp->conv_kernel});
        ttt_param(mod, l, "conv_k.bias", 1, (long long[]){D});
    }
    op->weight_count = mod->num_weights - op->weight;
    struct ttt_shape shape;
    ttt_shape_of(t, l, &shape);
    lower_ttt_states(mod, g, t, op, &shape);
    int work_floats = ttt_work_floats(&shape, g->rows);
    g->ops[g->num_ops - 1].work = ir_value(g, VAL_ACT, (work_floats + g->rows - 1) / g->rows, "l%d.ttt_work", l);

    if (tp->use_gate) {
        int gate = ir_value(g, VAL_ACT, D, "l%d.ttt_gate", l);
        ir_op(g, OP_MATMUL, n1, -1, gate)->weight = ttt_matrix(mod, D, D, l, "g_proj.weight");
        ir_op(g, OP_GELU_GATE, z, gate, z);
    }
    int proj = ir_value(g, VAL_ACT, D, "l%d.ttt_o", l);
    ir_op(g, OP_MATMUL, z, -1, proj)->weight = ttt_matrix(mod, D, D, l, "o_proj.weight");
    ir_op(g, OP_ADD, x, proj, x);
}

/* x += linear_out(silu(h[:H]) * h[H:]), h = linear_in(n2) */
static void lower_ffn(struct ir_module *mod, struct ir_graph *g, const struct transformer_spec *t,
                      const char *prefix, int l, int n2, int x)
{
    const int D = t->dim, H = t->ffn_hidden;
    char name[96];
    snprintf(name, sizeof name, "%s.layers.%d.gating", prefix, l);
    int gate_in = ir_value(g, VAL_ACT, 2 * H, "l%d.ffn_in", l);
    ir_op(g, OP_MATMUL, n2, -1, gate_in)->weight = gating_matrix(mod, g, 2 * H, D, name, "linear_in.weight");
    int gated = ir_value(g, VAL_ACT, H, "l%d.ffn_gated", l);
    ir_op(g, OP_SILU_GATE, gate_in, -1, gated);
    int ffn_out = ir_value(g, VAL_ACT, D, "l%d.ffn_out", l);
    ir_op(g, OP_MATMUL, gated, -1, ffn_out)->weight = gating_matrix(mod, g, D, H, name, "linear_out.weight");
    ir_op(g, OP_ADD, x, ffn_out, x);
}

/* x += mixer(norm1(x)); x += ffn(norm2(x)) for every layer of one stack. */
static void lower_layers(struct ir_module *mod, struct ir_graph *g, const struct transformer_spec *t,
                         const char *prefix, int x)
{
    for (int l = 0; l < t->num_layers; l++) {
        int n1 = lower_norm(mod, g, t, prefix, l, "norm1", x);
        if (t->layers[l].mixer == MIXER_ATTENTION)
            ir_op(g, OP_ADD, x, lower_attention(mod, g, prefix, l, n1), x);
        else
            lower_ttt(mod, g, t, l, n1, x);
        int n2 = lower_norm(mod, g, t, prefix, l, "norm2", x);
        lower_ffn(mod, g, t, prefix, l, n2, x);
    }
}

static struct ir_graph *new_graph(struct ir_module *mod, const char *name, const struct transformer_spec *t, int steps,
                                  int rows, int kv_format, const char *positions)
{
    struct ir_graph *g = ir_graph_new(mod, name);
    g->weight_class = steps ? KILN_CLASS_DEPFORMER : KILN_CLASS_TEMPORAL;
    g->rows = rows;
    g->kv_capacity = t->context + rows - 1;
    g->kv_format = kv_format;
    g->dim = t->dim;
    g->heads = t->num_heads;
    g->head_dim = t->dim / t->num_heads;
    g->context = t->context;
    g->num_layers = t->num_layers;
    g->rope = t->rope;
    g->rope_max_period = t->rope_max_period;
    g->steps = steps;
    snprintf(g->state_prefix, sizeof g->state_prefix, "%s", steps ? "dep_" : "");
    char state[48];
    snprintf(state, sizeof state, "%skv_pos", g->state_prefix);
    g->positions = add_state(mod, g, IR_I64, g->kv_capacity, RESET_EMPTY, KILN_STATE_POSITIONS, state, "%s", positions);
    g->rope_table = -1;
    return g;
}

/* Temporal step: embeddings -> layers -> out_norm (its output `hidden` is the depformer's input,
   so it stays materialized) -> text head. */
static void lower_temporal(struct ir_module *mod, const struct model *m, int rows)
{
    struct ir_graph *g = new_graph(mod, "temporal", &m->temporal, 0, rows, (int)m->kv,
                                   "absolute position held by each temporal ring slot; -1: empty"); /* (enum weight_format counts as enum kiln_format) */
    const int D = m->temporal.dim;

    int x = ir_value(g, VAL_ACT, D, "x");
    struct ir_op *embed = ir_op(g, OP_EMBED_SUM, -1, -1, x);
    embed->weight = add_weight(mod, STEP_NONE, 1, m->text_card + 1, D, 2, (long long[]){m->text_card + 1, D},
                               "text_emb.weight");
    for (int i = 0; i < m->n_q; i++)
        add_weight(mod, STEP_NONE, 1, m->card + 1, D, 2, (long long[]){m->card + 1, D}, "emb.%d.weight", i);
    for (int i = embed->weight; i < mod->num_weights; i++)
        mod->weights[i].is_embedding = true;

    lower_layers(mod, g, &m->temporal, "transformer", x);

    int hidden = ir_value(g, VAL_OUTPUT, D, "hidden");
    struct ir_op *op = ir_op(g, OP_RMS_NORM, x, -1, hidden);
    op->weight = norm_alpha(mod, D, "out_norm.alpha"), op->eps = m->temporal.norm_eps;
    int logits = ir_value(g, VAL_OUTPUT, m->text_card, "text_logits");
    ir_op(g, OP_MATMUL, hidden, -1, logits)->weight = matrix(mod, m->text_card, D, "text_linear.weight");
}

/* Depformer step k: depformer_in[k](hidden) + embedding of the previous token -> layers -> linears[k]. */
static void lower_depformer(struct ir_module *mod, const struct model *m)
{
    struct ir_graph *g = new_graph(mod, "depformer", &m->depformer, m->dep_q, 1, (int)m->kv,
                                   "depformer slot k holds step k of this frame; -1: empty");
    const int D = m->depformer.dim, K = m->dep_q;

    int hidden = ir_value(g, VAL_INPUT, m->temporal.dim, "hidden");
    int x = ir_value(g, VAL_ACT, D, "x");
    ir_op(g, OP_MATMUL, hidden, -1, x)->weight =
        add_weight(mod, STEP_TABLE, K, D, m->temporal.dim, 2, (long long[]){D, m->temporal.dim}, "depformer_in.{k}.weight");
    struct ir_op *embed = ir_op(g, OP_STEP_EMBED_ADD, x, -1, x);
    embed->weight = add_weight(mod, STEP_NONE, 1, m->text_card + 1, D, 2, (long long[]){m->text_card + 1, D},
                               "depformer_text_emb.weight");
    if (K > 1)
        add_weight(mod, STEP_TABLE, K - 1, m->card + 1, D, 2, (long long[]){m->card + 1, D}, "depformer_emb.{k}.weight");
    for (int i = embed->weight; i < mod->num_weights; i++)
        mod->weights[i].is_embedding = true;

    lower_layers(mod, g, &m->depformer, "depformer", x);

    int logits = ir_value(g, VAL_OUTPUT, m->card, "logits");
    ir_op(g, OP_MATMUL, x, -1, logits)->weight =
        add_weight(mod, STEP_TABLE, K, m->card, D, 2, (long long[]){m->card, D}, "linears.{k}.weight");
}

struct ir_module *lower_model(const struct model *m, int rows)
{
    if (m->kind == MODEL_CODEC)
        return lower_codec(m);
    struct ir_module *mod = calloc(1, sizeof *mod);
    if (!mod)
        return NULL;
    snprintf(mod->name, sizeof mod->name, "%s", m->name);
    mod->formats.weights = (int)m->weights; /* (enum weight_format counts as enum kiln_format) */
    for (int i = 0; i < KILN_NUM_CLASSES; i++)
        mod->formats.class_weights[i] = m->class_weights[i];
    add_state(mod, NULL, IR_I64, 1, RESET_ZERO, KILN_STATE_COUNTER, "pos", "frames stepped: the next frame's absolute position");
    lower_temporal(mod, m, rows);
    lower_depformer(mod, m);
    return mod;
}
