/* emit_c.c: the C back end. From the planned IR it writes
 *   NAME.h: the descriptor declaration (the runtime's entry), the model's constants, a usage note;
 *   NAME.c: the weight struct and stream struct with each field's shape, the kernels
 *           (kernels*.c as kernel IR; emit_ttt.c the TTT layers' types), the temporal and depformer functions with one commented call per IR
 *           op, and the descriptor the runtime reads. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "emit_internal.h"

/* ---- graph functions --------------------------------------------------------------------- */

/* C expression for a value: a scratch activation, or a parameter of the graph's function. */
static void value_expr(char *buf, size_t size, const struct ir_graph *g, int v)
{
    const struct ir_value *val = &g->values[v];
    if (val->kind == VAL_ACT)
        snprintf(buf, size, "a + %d", val->offset);
    else
        snprintf(buf, size, "%s", val->name);
}

static void weight_expr(char *buf, size_t size, const struct ir_weight *w)
{
    if (w->step == STEP_TABLE)
        snprintf(buf, size, "w->%s[k]", w->field);
    else if (w->step == STEP_ROW_BLOCK && w->pack_nr)
        snprintf(buf, size, "w->%s + (size_t)k * %lld", w->field, w->step_stride);
    else if (w->step == STEP_ROW_BLOCK)
        snprintf(buf, size, "w->%s + (size_t)k * %d * %d", w->field, w->rows, w->cols);
    else
        snprintf(buf, size, "w->%s", w->field);
}

static void emit_op_comment(FILE *out, const struct emitter *e, const struct ir_graph *g, const struct ir_op *op)
{
    fprintf(out, "    /* ");
    if (op->out >= 0)
        fprintf(out, "%s[%d] %s ", g->values[op->out].name, g->values[op->out].len,
                op->epilogue == EPI_ACCUMULATE ? "+=" : "=");
    fprintf(out, "%s", ir_opcode_name(op->code));
    if (op->weight >= 0)
        fprintf(out, " %s", e->mod->weights[op->weight].name);
    if (op->scale >= 0)
        fprintf(out, ", scaled by %s", g->values[op->scale].name);
    static const char *const epi[] = {"", "", ", silu gate fused", ", rope + kv write fused"};
    fprintf(out, "%s */\n", epi[op->epilogue]);
}

static bool is_ttt(const struct model *m, int layer) { return m->temporal.layers[layer].mixer != MIXER_ATTENTION; }

/* The KV ring of temporal layer l: attention layers are numbered in order, TTT layers have none. */
static int attention_index(const struct model *m, int layer)
{
    int index = 0;
    for (int l = 0; l < layer; l++)
        index += !is_ttt(m, l);
    return index;
}

static bool has_attention(const struct model *m) { return attention_index(m, m->temporal.num_layers) > 0; }

static bool same_mixer(const struct layer_spec *a, const struct layer_spec *b)
{
    return a->mixer == b->mixer && (a->mixer == MIXER_ATTENTION || a->ttt.mini_batch == b->ttt.mini_batch);
}

/* The temporal layers' mixers as runs, for `info`: "0..1 attention, 2..3 TTT-Linear (mini-batch 16)". */
static void emit_layer_mixers(FILE *out, const struct transformer_spec *t)
{
    static const char *const names[] = {"attention", "TTT-Linear", "TTT-MLP"};
    for (int first = 0, last; first < t->num_layers; first = last + 1) {
        const struct layer_spec *l = &t->layers[first];
        for (last = first; last + 1 < t->num_layers && same_mixer(l, &t->layers[last + 1]);)
            last++;
        fprintf(out, "%s%d", first ? ", " : "", first);
        if (last > first)
            fprintf(out, "..%d", last);
        fprintf(out, " %s", names[l->mixer]);
        if (l->mixer != MIXER_ATTENTION)
            fprintf(out, " (mini-batch %d)", l->ttt.mini_batch);
    }
}

/* The TTT layer whose RoPE table layer l reads: the first with the same base, head size and
   mini-batch (emit_ttt_types writes one table per such layer). */
static int ttt_rope_table_layer(const struct model *m, int l)
{
    const struct layer_spec *a = &m->temporal.layers[l];
    for (int j = 0; j < l; j++) {
        const struct layer_spec *b = &m->temporal.layers[j];
        if (is_ttt(m, j) && b->ttt.rope_base == a->ttt.rope_base && b->ttt.mini_batch == a->ttt.mini_batch)
            return j; /* (every layer has the model's head size) */
    }
    return l;
}

/* A TTT op: its weights gathered into a struct ttt_weights, its state the stream's. */
static void emit_ttt_call(struct emitter *e, FILE *out, const struct ir_graph *g, const struct ir_op *op,
                          const char *xq, const char *dst)
{
    const struct layer_spec *spec = &e->mod->model->temporal.layers[op->layer];
    struct ttt_shape shape;
    ttt_shape_of(e->mod->model, op->layer, &shape);
    char kernel[64], xk[64] = "NULL", xv[64], lr[64], work[64], base_lr[32], eps[32];
    ttt_kernel_name(kernel, sizeof kernel, &shape);
    const int built = e->kir.num_funcs;
    const int index = kernel_ttt(e, &shape);
    if (index >= built) /* (built by this call: its wrapper follows it) */
        emit_ttt_wrapper(e->kernels, &shape, e->kir.funcs[index]->symbol);
    if (op->in[1] >= 0)
        value_expr(xk, sizeof xk, g, op->in[1]);
    value_expr(xv, sizeof xv, g, op->in[2]);
    value_expr(lr, sizeof lr, g, op->in[3]);
    value_expr(work, sizeof work, g, op->work);
    float_literal(base_lr, sizeof base_lr, (float)spec->ttt.base_lr);
    float_literal(eps, sizeof eps, (float)spec->ttt.eps);
    /* The order of the TTT op's weight block (lower.c, lower_ttt). */
    const char *fields[14];
    int n = 0;
    fields[n++] = "W1", fields[n++] = "b1";
    if (shape.mlp)
        fields[n++] = "W2", fields[n++] = "b2";
    fields[n++] = "norm_w", fields[n++] = "norm_b", fields[n++] = "lr_bias", fields[n++] = "token_idx";
    fields[n++] = "post_w", fields[n++] = "post_b";
    if (shape.conv_kernel)
        fields[n++] = "conv_q_w", fields[n++] = "conv_q_b", fields[n++] = "conv_k_w", fields[n++] = "conv_k_b";
    fprintf(out, "    {\n        const struct ttt_weights p = {\n");
    for (int i = 0; i < n; i++)
        fprintf(out, "            .%s = w->%s,\n", fields[i], e->mod->weights[op->weight + i].field);
    fprintf(out, "            .rope_cs = &ttt_rope_cs_l%d[0][0][0], .base_lr = %s, .eps = %s};\n", ttt_rope_table_layer(e->mod->model, op->layer),
            base_lr, eps);
    fprintf(out, "        %s(&p, &s->ttt_l%d, %s, %s, %s, %s, pos, T, %s, %s);\n    }\n", kernel, op->layer, xq, xk, xv, lr,
            work, dst);
}

/* One op as a kernel call. `rows` is "T" in the temporal function, "1" in the depformer's; `pos`
   the first row's position (the frame, or the depformer step k, which is also its ring slot). */
static void emit_op(struct emitter *e, FILE *out, const struct ir_graph *g, const struct ir_op *op, bool temporal)
{
    char in[64] = "", dst[64] = "", wexpr[160] = "", scale[64] = "", eps[32];
    if (op->in[0] >= 0)
        value_expr(in, sizeof in, g, op->in[0]);
    if (op->out >= 0)
        value_expr(dst, sizeof dst, g, op->out);
    if (op->weight >= 0)
        weight_expr(wexpr, sizeof wexpr, &e->mod->weights[op->weight]);
    if (op->scale >= 0) {
        value_expr(scale, sizeof scale - 2, g, op->scale);
        strcat(scale, ", ");
    }
    float_literal(eps, sizeof eps, (float)op->eps);
    const int D = g->dim;
    const char *rows = temporal ? "T" : "1", *pos = temporal ? "pos" : "k";
    char k_ring[48], v_ring[48];
    int ring = temporal && op->layer >= 0 ? attention_index(e->mod->model, op->layer) : op->layer;
    snprintf(k_ring, sizeof k_ring, "&s->%s[%d][0][0][0]", temporal ? "kv" : "dep_kv", ring);
    snprintf(v_ring, sizeof v_ring, "&s->%s[%d][1][0][0]", temporal ? "kv" : "dep_kv", ring);
    emit_op_comment(out, e, g, op);
    switch (op->code) {
    case OP_EMBED_SUM: {
        /* Moshi's order: the audio streams' embeddings, then text (docs/moshi.md §3.1). */
        const struct model *m = e->mod->model;
        const int K = 1 + m->n_q;
        const char *add = kernel_embed_add(e, D);
        fprintf(out, "    memset(%s, 0, (size_t)T * %d * sizeof(float));\n", dst, D);
        fprintf(out, "    for (int t = 0; t < T; t++) {\n");
        for (int i = 0; i < m->n_q; i++)
            fprintf(out, "        %s(%s + t * %d, w->%s, tokens[t * %d + %d]);\n", add, dst, D,
                    e->mod->weights[op->weight + 1 + i].field, K, 1 + i);
        fprintf(out, "        %s(%s + t * %d, w->%s, tokens[t * %d]);\n    }\n", add, dst, D,
                e->mod->weights[op->weight].field, K);
        break;
    }
    case OP_STEP_EMBED_ADD: {
        /* step 0 embeds the text token, step k the audio token of codebook k - 1: the table after
           the text one, which lower_depformer adds only when there are such steps (dep_q > 1) */
        const char *text = e->mod->weights[op->weight].field;
        char table[160];
        if (e->mod->model->dep_q > 1)
            snprintf(table, sizeof table, "k == 0 ? w->%s : w->%s[k - 1]", text, e->mod->weights[op->weight + 1].field);
        else
            snprintf(table, sizeof table, "w->%s", text);
        fprintf(out, "    %s(%s, %s, prev_token);\n", kernel_embed_add(e, D), dst, table);
        break;
    }
    case OP_RMS_NORM:
        fprintf(out, "    %s(%s, w->%s, %s, %s, %s);\n", kernel_rms(e, D, true), in, e->mod->weights[op->weight].field,
                eps, dst, rows);
        break;
    case OP_RMS_SCALE:
        fprintf(out, "    %s(%s, %s, %s, %s);\n", kernel_rms(e, D, false), in, eps, dst, rows);
        break;
    case OP_MATMUL: {
        char sums[72] = "";
        if (op->work >= 0) { /* the cache-blocked form's sums */
            value_expr(sums, sizeof sums - 2, g, op->work);
            strcat(sums, ", ");
        }
        if (op->epilogue == EPI_ROPE_KV)
            fprintf(out, "    %s(%s, %s, %s%s, %s, %s, %s, %s%s%s);\n", kernel_matmul(e, g, op), wexpr, in, scale, dst,
                    k_ring, v_ring, pos, g->rope ? "&s->rope_cs[0][0][0], " : "", sums, rows);
        else
            fprintf(out, "    %s(%s, %s, %s%s, %s%s);\n", kernel_matmul(e, g, op), wexpr, in, scale, dst, sums, rows);
        break;
    }
    case OP_ROPE_QK:
        fprintf(out, "    %s(%s, &s->rope_cs[0][0][0], %s);\n", kernel_rope_qk(e, g), in, rows);
        break;
    case OP_KV_WRITE:
        fprintf(out, "    %s(%s, %s, %s, %s, %s);\n", kernel_kv_write(e, g), in, k_ring, v_ring, pos, rows);
        break;
    case OP_ATTENTION:
        fprintf(out, "    %s(%s, %s, %s, %s, %s, %s, %s);\n", kernel_attention(e, g, g->values[op->in[0]].len), in, k_ring, v_ring,
                temporal ? "s->kv_pos" : "s->dep_kv_pos", pos, dst, rows);
        break;
    case OP_SILU_GATE:
        fprintf(out, "    %s(%s, %s, %s);\n", kernel_silu_gate(e, g->values[op->out].len), in, dst, rows);
        break;
    case OP_TTT:
        emit_ttt_call(e, out, g, op, in, dst);
        break;
    case OP_GELU_GATE: {
        char gate[64];
        value_expr(gate, sizeof gate, g, op->in[1]);
        fprintf(out, "    %s(%s, %s, %s);\n", kernel_gelu_gate(e, D), dst, gate, rows);
        break;
    }
    case OP_ADD: {
        char other[64];
        value_expr(other, sizeof other, g, op->in[1]);
        fprintf(out, "    %s(%s, %s, %s);\n", kernel_add(e, D), dst, other, rows);
        break;
    }
    case OP_COUNT:
        break;
    }
}

/* Kernels that share their work among the team themselves (an `omp for` inside); every other op
   runs on one thread of it (`omp single`, whose barrier orders it with what follows). */
static bool shared_by_team(const struct emitter *e, const struct ir_op *op)
{
    return (op->code == OP_MATMUL && e->mod->weights[op->weight].pack_nr) || op->code == OP_ATTENTION ||
           op->code == OP_TTT;
}

/* Copies text to out with every non-empty line indented by `spaces` more. */
static void indented(FILE *out, const char *text, int spaces)
{
    for (const char *line = text; *line;) {
        size_t n = strcspn(line, "\n");
        if (n)
            fprintf(out, "%*s%.*s", spaces, "", (int)n, line);
        fputc('\n', out);
        line += n + (line[n] == '\n');
    }
}

/* One op: on a threaded target an op that does not share its work runs in an `omp single` block. */
static void emit_op_in_team(struct emitter *e, FILE *out, const struct ir_graph *g, const struct ir_op *op, bool temporal)
{
    if (!e->threaded || shared_by_team(e, op)) {
        emit_op(e, out, g, op, temporal);
        return;
    }
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    emit_op(e, mem, g, op, temporal);
    fclose(mem);
    fprintf(out, "    #pragma omp single\n    {\n");
    indented(out, text, 4);
    fprintf(out, "    }\n");
    free(text);
}

static void emit_mark(const struct emitter *e, FILE *out, const char *component)
{
    fprintf(out, "%s    kiln_profile_mark(%s);\n", e->threaded ? "    #pragma omp single\n" : "", component);
}

/* The ops of a graph, with bench's component marks: embed | layers | out_norm + text head. On a
   threaded target the whole body is one parallel region: one fork-join per call, not per op. */
static void emit_graph_ops(struct emitter *e, FILE *out, const struct ir_graph *g, bool temporal)
{
    char *text = NULL;
    size_t size = 0;
    FILE *body = e->threaded ? open_memstream(&text, &size) : out;
    for (int i = 0; i < g->num_ops; i++) {
        const struct ir_op *op = &g->ops[i];
        if (op->dead)
            continue;
        if (temporal && op->out >= 0 && g->values[op->out].kind == VAL_OUTPUT && op->code == OP_RMS_NORM)
            emit_mark(e, body, "KILN_TEMPORAL");
        emit_op_in_team(e, body, g, op, temporal);
        if (op->code == OP_EMBED_SUM)
            emit_mark(e, body, "KILN_EMBED");
    }
    emit_mark(e, body, temporal ? "KILN_TEXT_HEAD" : "KILN_DEPFORMER");
    if (!e->threaded)
        return;
    fclose(body);
    fprintf(out, "    #pragma omp parallel\n    {\n");
    indented(out, text, 4);
    fprintf(out, "    }\n");
    free(text);
}

/* ---- structs, descriptor, header --------------------------------------------------------- */

static void shape_text(char *buf, size_t size, const struct ir_weight *w)
{
    int n = snprintf(buf, size, "[");
    for (int i = 0; i < w->rank; i++)
        n += snprintf(buf + n, size - (size_t)n, "%s%lld", i ? ", " : "", w->shape[i]);
    snprintf(buf + n, size - (size_t)n, "]");
}

static void emit_weight_struct(const struct emitter *e, FILE *out)
{
    fprintf(out, "/* Weights: pointers into the loaded f32 arena, named after the checkpoint tensors.\n"
                 "   Shapes are the checkpoint's ([out, in] for matrices); (*alpha) marks a matrix whose\n"
                 "   columns the loader scaled by the RMSNorm alpha that precedes it. */\n");
    fprintf(out, "struct %s_weights {\n", e->name);
    for (int i = 0; i < e->mod->num_weights; i++) {
        const struct ir_weight *w = &e->mod->weights[i];
        char shape[64], decl[96];
        shape_text(shape, sizeof shape, w);
        if (w->step == STEP_TABLE)
            snprintf(decl, sizeof decl, "const float *%s[%d];", w->field, w->steps);
        else
            snprintf(decl, sizeof decl, "const float *%s;", w->field);
        fprintf(out, "    %-56s /* %s %s%s */\n", decl, w->name, shape, w->fold_alpha >= 0 ? " (*alpha)" : "");
    }
    fprintf(out, "};\n\n");
}

static int scratch_floats(const struct ir_module *mod)
{
    int n = mod->temporal.scratch_floats > mod->depformer.scratch_floats ? mod->temporal.scratch_floats
                                                                         : mod->depformer.scratch_floats;
    return n > 0 ? n : 1;
}

/* The TTT layers' RoPE tables, filled once, when the first stream is reset: a table holds
   mini_batch x 2 x head_dim floats (up to 65536 x 2 x 512), too many to write out as C. In f32, as
   ttt.py computes them. */
static void emit_ttt_rope_init(const struct emitter *e, FILE *out)
{
    const struct model *m = e->mod->model;
    fprintf(out, "static void ttt_rope_tables(void)\n{\n    static int ready;\n"
                 "#pragma omp critical(kiln_%s_ttt_rope)\n    if (!ready) {\n", e->name);
    for (int l = 0; l < m->temporal.num_layers; l++) {
        if (!is_ttt(m, l) || ttt_rope_table_layer(m, l) != l)
            continue;
        struct ttt_shape shape;
        ttt_shape_of(m, l, &shape);
        char base[32];
        float_literal(base, sizeof base, (float)m->temporal.layers[l].ttt.rope_base);
        fprintf(out, "        for (int pos = 0; pos < %d; pos++)\n"
                     "            for (int j = 0; j < %d; j++) {\n"
                     "                const float angle = (float)pos * (1.0f / powf(%s, (float)(j / 2 * 2) / %d.0f));\n"
                     "                ttt_rope_cs_l%d[pos][0][j] = cosf(angle);\n"
                     "                ttt_rope_cs_l%d[pos][1][j] = j %% 2 ? sinf(angle) : -sinf(angle);\n"
                     "            }\n",
                shape.mini_batch, shape.head_dim, base, shape.head_dim, l, l);
    }
    fprintf(out, "        ready = 1;\n    }\n}\n\n");
}

/* TTT helpers, one state type per distinct kernel shape, and the TTT layers' RoPE tables. */
static void emit_ttt_types(const struct emitter *e, FILE *out)
{
    const struct model *m = e->mod->model;
    bool any = false;
    for (int l = 0; l < m->temporal.num_layers; l++) {
        if (!is_ttt(m, l))
            continue;
        if (!any)
            emit_ttt_weights_type(out), any = true;
        struct ttt_shape shape, earlier;
        ttt_shape_of(m, l, &shape);
        char name[64], earlier_name[64];
        ttt_kernel_name(name, sizeof name, &shape);
        bool first = true;
        for (int j = 0; j < l && first; j++)
            if (is_ttt(m, j)) {
                ttt_shape_of(m, j, &earlier);
                ttt_kernel_name(earlier_name, sizeof earlier_name, &earlier);
                first = strcmp(name, earlier_name) != 0; /* the name says the whole shape */
            }
        if (first)
            emit_ttt_state_type(out, &shape);
        if (ttt_rope_table_layer(m, l) != l)
            continue; /* an earlier layer's table serves */
        const int HD = shape.head_dim, MB = shape.mini_batch;
        fprintf(out, "/* TTT RoPE of layer %d (and the later ones alike) at in-batch positions 0..%d: [cos, cos] and\n"
                     "   [-sin, sin] of pos / base^(2i / %d) per pair i, base %g (ttt_rope_tables fills it). */\n"
                     "static float ttt_rope_cs_l%d[%d][2][%d];\n\n",
                l, MB - 1, HD, m->temporal.layers[l].ttt.rope_base, l, MB, HD);
    }
    if (any)
        emit_ttt_rope_init(e, out);
}

static void emit_stream_struct(const struct emitter *e, FILE *out)
{
    const struct ir_graph *t = &e->mod->temporal, *d = &e->mod->depformer;
    fprintf(out, "/* One stream's whole state; the runtime allocates it KILN_ALIGN-aligned. The temporal ring has\n"
                 "   context + rows - 1 = %d slots so that a call of %d rows never evicts a key its own rows attend to. */\n",
            t->kv_capacity, t->rows);
    fprintf(out, "struct %s_stream {\n", e->name);
    fprintf(out, "    int64_t pos;                     /* frames stepped: the next frame's absolute position */\n");
    fprintf(out, "    int64_t kv_pos[%d];              /* absolute position held by each temporal ring slot; -1: empty */\n",
            t->kv_capacity);
    fprintf(out, "    int64_t dep_kv_pos[%d];          /* depformer slot k holds step k of this frame; -1: empty */\n",
            d->kv_capacity);
    int rings = attention_index(e->mod->model, t->num_layers);
    if (t->rope && rings > 0)
        fprintf(out, "    float rope_cs[%d][2][%d];       /* RoPE at each position of the current call: [cos_i, cos_i]\n"
                     "                                        and [-sin_i, sin_i] for each pair i of a head */\n",
                t->rows, t->head_dim);
    if (rings > 0)
        fprintf(out, "    _Alignas(64) float kv[%d][2][%d][%d];     /* temporal KV: [attention layer][k, v][head * slot][head_dim] */\n",
                rings, t->heads * t->kv_capacity, t->head_dim);
    fprintf(out, "    _Alignas(64) float dep_kv[%d][2][%d][%d];   /* depformer KV, refilled every frame, head-major too */\n",
            d->num_layers, d->heads * d->kv_capacity, d->head_dim);
    for (int l = 0; l < t->num_layers; l++)
        if (is_ttt(e->mod->model, l)) {
            struct ttt_shape shape;
            char kernel[64];
            ttt_shape_of(e->mod->model, l, &shape);
            ttt_kernel_name(kernel, sizeof kernel, &shape);
            fprintf(out, "    struct %s_state ttt_l%d;       /* layer %d's TTT state */\n", kernel, l, l);
        }
    fprintf(out, "    _Alignas(64) float scratch[%d];  /* activations, placed by the planner (--dump=plan) */\n",
            scratch_floats(e->mod));
    fprintf(out, "};\n\n");
}

static void emit_steps(struct emitter *e, FILE *out)
{
    const char *n = e->name;
    const struct ir_graph *t = &e->mod->temporal, *d = &e->mod->depformer;
    const struct model *m = e->mod->model;
    fprintf(out, "static void stream_reset(void *stream)\n{\n    struct %s_stream *s = stream;\n    s->pos = 0;\n"
                 "    for (int j = 0; j < %d; j++)\n        s->kv_pos[j] = -1;\n"
                 "    for (int j = 0; j < %d; j++)\n        s->dep_kv_pos[j] = -1;\n",
            n, t->kv_capacity, d->kv_capacity);
    bool any_ttt = false;
    for (int l = 0; l < t->num_layers; l++)
        if (is_ttt(m, l)) {
            fprintf(out, "    s->ttt_l%d.ready = 0; /* the inner weights restart from the learned W0 */\n", l);
            any_ttt = true;
        }
    if (any_ttt)
        fprintf(out, "    ttt_rope_tables();\n");
    fprintf(out, "}\n\n");
    fprintf(out, "/* As if `frames` frames had been stepped: the ring holds the last %d positions (zeros). */\n"
                 "static void stream_advance(void *stream, int64_t frames)\n{\n"
                 "    struct %s_stream *s = stream;\n    stream_reset(s);\n    s->pos = frames;\n"
                 "%s"
                 "    for (int64_t p = frames > %d ? frames - %d : 0; p < frames; p++)\n"
                 "        s->kv_pos[p %% %d] = p;\n}\n\n",
            t->context, n, has_attention(m) ? "    memset(s->kv, 0, sizeof s->kv);\n" : "", t->context, t->context,
            t->kv_capacity);

    fprintf(out, "/* T (1..%d) frames: tokens[T][%d] (each step's delayed input) -> text_logits[T][%d] and\n"
                 "   hidden[T][%d] (out_norm's output: the depformer's input). */\n",
            t->rows, 1 + m->n_q, m->text_card, t->dim);
    fprintf(out, "static void temporal(const void *weights, void *stream, const int32_t *tokens, int T, float *text_logits,\n"
                 "    float *hidden)\n{\n"
                 "    const struct %s_weights *w = weights;\n    struct %s_stream *s = stream;\n"
                 "    float *const a = s->scratch;\n    const int64_t pos = s->pos;\n"
                 "    for (int t = 0; t < T; t++)\n        s->kv_pos[(pos + t) %% %d] = pos + t;\n",
            n, n, t->kv_capacity);
    if (t->rope && has_attention(m))
        fprintf(out, "    for (int t = 0; t < T; t++) /* once per call, not per layer */\n"
                     "        for (int i = 0; i < %d; i++) {\n"
                     "            const float angle = (float)(pos + t) * rope_freq[i], c = cosf(angle), sn = sinf(angle);\n"
                     "            s->rope_cs[t][0][2 * i] = s->rope_cs[t][0][2 * i + 1] = c;\n"
                     "            s->rope_cs[t][1][2 * i] = -sn;\n            s->rope_cs[t][1][2 * i + 1] = sn;\n"
                     "        }\n",
                t->head_dim / 2);
    emit_graph_ops(e, out, t, true);
    fprintf(out, "    s->pos = pos + T;\n}\n\n");

    fprintf(out, "/* Depformer step k of a frame whose temporal output is hidden[%d]: prev_token is the text token\n"
                 "   (k == 0) or audio codebook k - 1's token -> logits[%d]. Step 0 starts the frame's state afresh. */\n",
            t->dim, m->card);
    fprintf(out, "static void depformer_step(const void *weights, void *stream, int k, int32_t prev_token,\n"
                 "    const float *hidden, float *logits)\n{\n"
                 "    const struct %s_weights *w = weights;\n    struct %s_stream *s = stream;\n"
                 "    float *const a = s->scratch;\n"
                 "    if (k == 0)\n        for (int j = 0; j < %d; j++)\n            s->dep_kv_pos[j] = -1;\n"
                 "    s->dep_kv_pos[k] = k;\n",
            n, n, d->kv_capacity);
    emit_graph_ops(e, out, d, false);
    fprintf(out, "}\n\n");
}

static void emit_descriptor(const struct emitter *e, FILE *out, const struct emit_options *opt)
{
    const struct ir_module *mod = e->mod;
    const struct model *m = mod->model;
    int *first_entry = malloc((size_t)mod->num_weights * sizeof *first_entry);
    long long params = 0;
    fprintf(out, "static const int delays[%d] = {", 1 + m->n_q);
    for (int i = 0; i <= m->n_q; i++)
        fprintf(out, "%s%d", i ? ", " : "", m->delays[i]);
    fprintf(out, "};\n\n");
    int entries = 0;
    for (int i = 0; i < mod->num_weights; i++) {
        first_entry[i] = entries;
        entries += mod->weights[i].step == STEP_TABLE ? mod->weights[i].steps : 1;
        params += ir_weight_numel(&mod->weights[i]);
    }
    fprintf(out, "/* name, rank, shape, index of the alpha folded into it (-1: none), field, values read per frame,\n"
                 "   packing: panel rows, block rows, gated (see kiln_rt.h) */\n");
    fprintf(out, "static const struct kiln_weight_desc weights[%d] = {\n", entries);
    for (int i = 0; i < mod->num_weights; i++) {
        const struct ir_weight *w = &mod->weights[i];
        int copies = w->step == STEP_TABLE ? w->steps : 1;
        for (int k = 0; k < copies; k++) {
            char name[112];
            const char *hole = strstr(w->name, "{k}");
            if (hole)
                snprintf(name, sizeof name, "%.*s%d%s", (int)(hole - w->name), w->name, k, hole + 3);
            else
                snprintf(name, sizeof name, "%s", w->name);
            fprintf(out, "    {\"%s\", %d, {", name, w->rank);
            for (int d = 0; d < w->rank; d++)
                fprintf(out, "%s%lld", d ? ", " : "", w->shape[d]);
            long long numel = ir_weight_numel(w) / copies;
            fprintf(out, "}, %d, offsetof(struct %s_weights, %s) + %d * sizeof(const float *), %lld, %d, %d, %d},\n",
                    w->fold_alpha >= 0 ? first_entry[w->fold_alpha] : -1, e->name, w->field, k,
                    w->is_embedding ? (long long)w->cols : numel, w->pack_nr, w->pack_rows, w->pack_gated);
        }
    }
    fprintf(out, "};\n\n");
    const struct transformer_spec *t = &m->temporal, *d = &m->depformer;
    fprintf(out, "const struct kiln_model_desc %s_desc = {\n", e->name);
    fprintf(out, "    .name = \"%s\",\n    .target = \"%s\",\n    .cpu_features = \"%s\",\n    .weight_format = \"f32\",\n",
            e->name, opt->target->name, target_isa(opt->target, opt->simde)->features);
    fprintf(out, "    .text_card = %d, .card = %d, .n_q = %d, .dep_q = %d, .num_streams = %d, .delays = delays,\n",
            m->text_card, m->card, m->n_q, m->dep_q, 1 + m->n_q);
    fprintf(out, "    .dim = %d, .num_heads = %d, .num_layers = %d, .context = %d, .ffn_hidden = %d,\n", t->dim,
            t->num_heads, t->num_layers, t->context, t->ffn_hidden);
    fprintf(out, "    .depformer_dim = %d, .depformer_num_heads = %d, .depformer_num_layers = %d, .depformer_ffn_hidden = %d,\n",
            d->dim, d->num_heads, d->num_layers, d->ffn_hidden);
    fprintf(out, "    .layer_mixers = \"");
    emit_layer_mixers(out, t);
    fprintf(out, "\",\n    .frame_rate = %.17g,\n", m->frame_rate);
    fprintf(out, "    .num_params = %lldLL,\n    .num_weights = %d,\n    .weights = weights,\n", params, entries);
    fprintf(out, "    .weights_struct_size = sizeof(struct %s_weights),\n    .stream_bytes = sizeof(struct %s_stream),\n",
            e->name, e->name);
    fprintf(out, "    .kv_bytes = %s%s%ssizeof(((struct %s_stream *)0)->dep_kv),\n", has_attention(m) ? "sizeof(((struct " : "",
            has_attention(m) ? e->name : "", has_attention(m) ? "_stream *)0)->kv) + " : "", e->name);
    fprintf(out, "    .ttt_bytes = 0");
    for (int l = 0; l < m->temporal.num_layers; l++)
        if (is_ttt(m, l))
            fprintf(out, " + sizeof(((struct %s_stream *)0)->ttt_l%d)", e->name, l);
    fprintf(out, ",\n    .max_rows = %d,\n", mod->temporal.rows);
    fprintf(out, "    .stream_reset = stream_reset,\n    .temporal = temporal,\n"
                 "    .depformer_step = depformer_step,\n    .stream_advance = stream_advance,\n"
                 "    .argmax = %s,\n    .softmax_exp = %s,\n};\n", e->kir.funcs[kir_find(&e->kir, "argmax")]->symbol,
            e->kir.funcs[kir_find(&e->kir, "softmax_exp")]->symbol);
    free(first_entry);
}

static void emit_header(const struct emitter *e, FILE *out, const struct emit_options *opt)
{
    const struct model *m = e->mod->model;
    const char *n = e->name;
    char upper[64];
    size_t len = strlen(n);
    for (size_t i = 0; i <= len && i < sizeof upper; i++)
        upper[i] = (char)(n[i] >= 'a' && n[i] <= 'z' ? n[i] - 'a' + 'A' : n[i]);
    fprintf(out,
            "/* %s.h: generated by kilnc from %s (target %s, weights f32). Do not edit.\n"
            " *\n"
            " * Embedding the model (link libkiln_rt.a and %s.o, or the libNAME.a of `kilnc --emit lib`, with\n"
            " * -fopenmp -lm):\n"
            " *\n"
            " *     #include \"%s.h\"\n"
            " *     struct kiln_model model;\n"
            " *     char err[512];\n"
            " *     if (%s_load(\"weights.safetensors\", &model, err, sizeof err)) { fprintf(stderr, \"%%s\\n\", err); return 1; }\n"
            " *     struct kiln_gen *stream = kiln_gen_new(&model, NULL);   // NULL: Moshi's sampling defaults\n"
            " *     int32_t user[%s_USER_STREAMS], out[1 + %s_DEP_Q];\n"
            " *     while (...) {                                          // one call per 80 ms frame\n"
            " *         // user: this frame's Mimi codes of the user's audio\n"
            " *         if (kiln_gen_step(stream, user, out))              // out: text token, then audio codes\n"
            " *             ...;\n"
            " *     }\n"
            " *     kiln_gen_free(stream);\n"
            " *     kiln_model_free(&model);\n"
            " *\n"
            " * Any number of streams can share one loaded model; kiln_gen_save/kiln_gen_restore snapshot a\n"
            " * stream; kiln_gen_step never allocates. kiln_rt.h documents every call.\n"
            " */\n"
            "#ifndef KILN_MODEL_%s_H\n#define KILN_MODEL_%s_H\n#include \"kiln_rt.h\"\n\n",
            n, opt->source, opt->target->name, n, n, n, upper, upper, upper, upper);
    fprintf(out, "#define %s_TEXT_CARD %d     /* text vocabulary (logits) */\n", upper, m->text_card);
    fprintf(out, "#define %s_CARD %d          /* audio vocabulary per codebook */\n", upper, m->card);
    fprintf(out, "#define %s_N_Q %d           /* audio streams in */\n", upper, m->n_q);
    fprintf(out, "#define %s_DEP_Q %d         /* audio codebooks generated per frame */\n", upper, m->dep_q);
    fprintf(out, "#define %s_USER_STREAMS %d  /* user codebooks given per frame: n_q - dep_q */\n\n", upper,
            m->n_q - m->dep_q);
    fprintf(out, "extern const struct kiln_model_desc %s_desc;\n\n", n);
    fprintf(out, "/* Loads a checkpoint (.safetensors: F32, BF16 or F16) for this model. Returns 0, or 1 with a\n"
                 "   message naming the file and tensor in err. */\n"
                 "static inline int %s_load(const char *path, struct kiln_model *model, char *err, size_t errlen)\n{\n"
                 "    return kiln_model_load(&%s_desc, path, model, err, errlen);\n}\n\n#endif\n", n, n);
}

/* Frequencies exactly as Moshi's rope.py computes them in float32: exp(i * (-ln(period) * 2 / hd)). */
static void emit_rope_table(FILE *out, const struct ir_graph *g)
{
    const int half = g->head_dim / 2;
    const float step = (float)(-log(g->rope_max_period) * 2.0 / g->head_dim);
    fprintf(out, "/* RoPE frequencies for head_dim %d, max_period %g: expf(i * (-ln(period) * 2 / %d)) in f32. */\n",
            g->head_dim, g->rope_max_period, g->head_dim);
    fprintf(out, "static const float rope_freq[%d] = {", half);
    for (int i = 0; i < half; i++)
        fprintf(out, "%s%a", i == 0 ? "\n    " : i % 6 ? ", " : ",\n    ", (double)expf((float)i * step));
    fprintf(out, "\n};\n\n");
}

static bool emit_c_and_dump(const struct ir_module *mod, const struct emit_options *opt, FILE *header, FILE *source,
                            FILE *dump);

bool emit_c(const struct ir_module *mod, const struct emit_options *opt, FILE *header, FILE *source)
{
    return emit_c_and_dump(mod, opt, header, source, NULL);
}

bool emit_kernels_dump(const struct ir_module *mod, const struct emit_options *opt, FILE *out)
{
    char *text = NULL;
    size_t size = 0;
    FILE *discard = open_memstream(&text, &size);
    if (!discard) {
        fprintf(stderr, "kilnc: out of memory\n");
        exit(2);
    }
    const bool ok = emit_c_and_dump(mod, opt, discard, discard, out); /* (out NULL: only the LLVM back end's dump) */
    fclose(discard);
    free(text);
    return ok;
}

static bool emit_c_and_dump(const struct ir_module *mod, const struct emit_options *opt, FILE *header, FILE *source,
                            FILE *dump)
{
    struct emitter e = {.mod = mod, .target = opt->target, .threaded = opt->target->width > 1, .name = mod->model->name};
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s_", e.name);
    kir_module_init(&e.kir, opt->target->width, prefix);
    if (opt->backend == BACKEND_LLVM) { /* the kernels into an object of their own, the model's name before theirs */
        e.llvm = true;
        e.kir.linkage = KIR_LINK_ENTRIES;
    }
    char *kernels_text = NULL, *steps_text = NULL;
    size_t kernels_size = 0, steps_size = 0;
    e.kernels = open_memstream(&kernels_text, &kernels_size);
    FILE *steps = open_memstream(&steps_text, &steps_size);
    if (!e.kernels || !steps) {
        fprintf(stderr, "kilnc: out of memory\n");
        exit(2);
    }
    kernel_vocabulary(&e);
    emit_steps(&e, steps);
    kernel_sampling(&e);
    fclose(e.kernels);
    fclose(steps);

    emit_header(&e, header, opt);
    fprintf(source, "/* %s.c: generated by kilnc from %s for target %s. Do not edit.\n"
                    " * Shape-fixed kernels and the two step functions of model %s; see %s.h. */\n",
            e.name, opt->source, opt->target->name, e.name, e.name);
    fprintf(source, "#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n"
                    "#include \"%s.h\"\n\n", e.name);
    print_vocabulary(&e, source, opt->simde);
    emit_weight_struct(&e, source);
    emit_ttt_types(&e, source);
    emit_stream_struct(&e, source);
    if (mod->temporal.rope && has_attention(mod->model))
        emit_rope_table(source, &mod->temporal);
    fputs(kernels_text, source);
    fputs(steps_text, source);
    emit_descriptor(&e, source, opt);
    free(kernels_text);
    free(steps_text);
    if (dump)
        kir_dump(dump, &e.kir);
    bool ok = true;
    if (e.llvm && (opt->llvm_object || opt->llvm_dump)) {
        struct kir_llvm_target llvm;
        target_llvm(opt->target, opt->cpu, &llvm);
        if (opt->llvm_triple)
            llvm.triple = opt->llvm_triple;
        ok = kir_llvm_emit(&e.kir, &llvm, opt->llvm_object, opt->llvm_dump);
    }
    kir_module_free(&e.kir);
    return ok;
}
