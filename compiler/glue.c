/* glue.c: the graph functions as kernel IR, so that either back end prints them: the weight and
 * stream records (laid out by kir_data.c), stream_reset and stream_advance, and the temporal and
 * depformer functions, one kernel call per IR op inside one parallel region per call. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

/* ---- records --------------------------------------------------------------------------------- */

static void weights_record(struct emitter *e)
{
    char name[96];
    snprintf(name, sizeof name, "%s_weights", e->name);
    e->weights_record = kir_record_begin(&e->kir, name, false,
                                         "Weights: pointers into the loaded arena, named after the checkpoint tensors.\n"
                                         "   Shapes are the checkpoint's ([out, in] for matrices); (*alpha) marks a matrix whose\n"
                                         "   columns the loader scaled by the RMSNorm alpha that precedes it.");
    for (int i = 0; i < e->mod->num_weights; i++) {
        const struct ir_weight *w = &e->mod->weights[i];
        char shape[64];
        int n = snprintf(shape, sizeof shape, "[");
        for (int d = 0; d < w->rank; d++)
            n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%lld", d ? ", " : "", w->shape[d]);
        snprintf(shape + n, sizeof shape - (size_t)n, "]");
        kir_record_field(&e->kir, e->weights_record, w->field, weight_ptr(w->format), w->step == STEP_TABLE ? w->steps : 0, 0,
                         "%s %s%s%s", w->name, shape, w->fold_alpha >= 0 ? " (*alpha)" : "",
                         w->format != KILN_F32 ? (w->format == KILN_BF16 ? " bf16" : " f16") : "");
    }
}

static int scratch_floats(const struct ir_module *mod)
{
    int n = 1;
    for (int gi = 0; gi < mod->num_graphs; gi++)
        n = mod->graphs[gi]->scratch_floats > n ? mod->graphs[gi]->scratch_floats : n;
    return n;
}

/* A state's scalar type in the record */
static struct kir_type state_type(const struct ir_state *st)
{
    return kir_scalar_type(st->dtype == IR_I64 ? KIR_I64 : st->dtype == IR_I32 ? KIR_I32 : format_scalar((int)st->dtype));
}

/* The module's streaming states in the order lowered (ir.h), then the planner's scratch arena */
static void stream_record(struct emitter *e)
{
    const struct ir_graph *t = e->mod->graphs[0];
    struct kir_module *m = &e->kir;
    char name[96];
    snprintf(name, sizeof name, "%s_stream", e->name);
    char comment[256];
    snprintf(comment, sizeof comment, "One stream's whole state; the runtime allocates it KILN_ALIGN-aligned. The %s ring has\n"
                                      "   context + rows - 1 = %d slots so that a call of %d rows never evicts a key its own rows attend to.",
             t->name, t->kv_capacity, t->rows);
    const int r = e->stream_record = kir_record_begin(m, name, false, comment);
    for (int i = 0; i < e->mod->num_states; i++) {
        const struct ir_state *st = &e->mod->states[i];
        kir_record_field(m, r, st->name, state_type(st), st->elements > 1 ? st->elements : 0, st->align, "%s", st->comment);
    }
    kir_record_field(m, r, "scratch", kir_scalar_type(KIR_F32), scratch_floats(e->mod), 64,
                     "activations, placed by the planner (--dump=plan)");
}

/* ---- helpers of the graph functions ---------------------------------------------------------- */

/* The function being built and what its body refers to. */
struct glue {
    struct emitter *e;
    struct kir_func *f;
    const struct ir_graph *g;
    bool temporal;
    struct kir_node *w, *s, *a;      /* weights, stream, scratch */
    struct kir_node *pos, *rows;     /* the first row's position (the frame, or the depformer step k); rows */
    struct kir_node *horizon;        /* a codec's: the lowest position its attention sees */
    struct kir_node *params[8]; int num_params;
};

/* A function of the C library or the runtime, declared once. */
static int external(struct emitter *e, const char *name, struct kir_type result, int n, const struct kir_type *params)
{
    int index = kir_find(&e->kir, name);
    if (index >= 0)
        return index;
    struct kir_func *f = kir_begin(&e->kir, name, result, KIR_EXTERN, NULL);
    static const char *const names[] = {"a", "b", "c"};
    for (int i = 0; i < n; i++)
        kir_param(f, names[i], params[i], 0);
    return kir_end_function(f);
}

static struct kir_node *libm(struct glue *c, const char *name, struct kir_node *x, struct kir_node *y)
{
    const struct kir_type f32[2] = {kir_scalar_type(KIR_F32), kir_scalar_type(KIR_F32)};
    struct kir_node *args[2] = {x, y};
    return kir_call(c->f, external(c->e, name, f32[0], y ? 2 : 1, f32), y ? 2 : 1, args);
}

static int function_by_symbol(const struct emitter *e, const char *symbol)
{
    for (int i = 0; i < e->kir.num_funcs; i++)
        if (strcmp(e->kir.funcs[i]->symbol, symbol) == 0)
            return i;
    fprintf(stderr, "kilnc: internal error: no kernel %s\n", symbol);
    exit(2);
}

/* A call of kernel `index` for its effect; args end with NULL. */
static void call_kernel(struct glue *c, int index, struct kir_node *const *args)
{
    int n = 0;
    while (args[n])
        n++;
    kir_eval(c->f, kir_call(c->f, index, n, args));
}

#define CALL(c, index, ...) call_kernel(c, index, (struct kir_node *const[]){__VA_ARGS__, NULL})

/* A value of the graph: a scratch activation, or a parameter of the function (named alike). */
static struct kir_node *value(struct glue *c, int v)
{
    struct kir_func *f = c->f;
    const struct ir_value *val = &c->g->values[v];
    if (val->kind == VAL_ACT)
        return kir_addr(f, c->a, INT(val->offset));
    for (int i = 0; i < c->num_params; i++)
        if (strcmp(f->vars[c->params[i]->var].name, val->name) == 0)
            return c->params[i];
    fprintf(stderr, "kilnc: internal error: graph value %s is no parameter\n", val->name);
    exit(2);
}

/* w->field (k: a table's entry, or a row block's; NULL: the whole weight) */
static struct kir_node *weight(struct glue *c, const struct ir_weight *w, struct kir_node *k)
{
    struct kir_func *f = c->f;
    struct kir_node *field = kir_field(f, c->w, w->field);
    if (w->step == STEP_TABLE)
        return LOAD(field, k);
    struct kir_node *base = LOAD(field, INT(0));
    if (w->step == STEP_ROW_BLOCK) { /* (in the pointer's units: bytes for a block format) */
        const int64_t elements = w->pack_nr ? w->step_stride : (int64_t)w->rows * w->cols;
        return kir_addr(f, base, MUL(WIDE(k), kir_const_int(f, KIR_I64, weight_units(w->format, elements))));
    }
    return base;
}

static struct kir_node *stream_field(struct glue *c, const char *name) { return kir_field(c->f, c->s, name); }

/* State `id`'s field of the stream */
static struct kir_node *state(struct glue *c, int id) { return stream_field(c, c->e->mod->states[id].name); }

/* ---- one op ---------------------------------------------------------------------------------- */

/* Moshi's order: the audio streams' embeddings, then text (docs/moshi.md §3.1). */
static void embed_sum(struct glue *c, const struct ir_op *op)
{
    struct kir_func *f = c->f;
    const struct model *m = c->e->model;
    const int format = c->e->mod->weights[op->weight].format;
    const int D = c->g->dim, K = 1 + m->n_q, add = function_by_symbol(c->e, kernel_embed_add(c->e, D, format));
    struct kir_node *dst = value(c, op->out), *tokens = c->params[0];
    struct kir_node *j = kir_for(f, "j", INT(0), MUL(c->rows, INT(D)), 1, 0);
    kir_store(f, dst, j, F32(0));
    kir_end(f);
    struct kir_node *t = kir_for(f, "t", INT(0), c->rows, 1, 0);
    struct kir_node *row = kir_addr(f, dst, MUL(t, INT(D)));
    for (int i = 0; i < m->n_q; i++)
        CALL(c, add, row, weight(c, &c->e->mod->weights[op->weight + 1 + i], NULL), LOAD(tokens, ADD(MUL(t, INT(K)), INT(1 + i))));
    CALL(c, add, row, weight(c, &c->e->mod->weights[op->weight], NULL), LOAD(tokens, MUL(t, INT(K))));
    kir_end(f);
}

/* step 0 embeds the text token, step k the audio token of codebook k - 1: the table after the text
   one, which lower_depformer adds only when there are such steps (dep_q > 1) */
static void step_embed_add(struct glue *c, const struct ir_op *op)
{
    struct kir_func *f = c->f;
    struct kir_node *table = weight(c, &c->e->mod->weights[op->weight], NULL);
    if (c->e->model->dep_q > 1)
        table = kir_select(f, kir_binary(f, KIR_EQ, c->pos, INT(0)), table,
                           weight(c, &c->e->mod->weights[op->weight + 1], SUB(c->pos, INT(1))));
    CALL(c, function_by_symbol(c->e, kernel_embed_add(c->e, c->g->dim, c->e->mod->weights[op->weight].format)),
         value(c, op->out), table, c->params[1]);
}

/* A TTT layer: its weights and its state in the stream, in the order its kernel takes them. */
static void ttt_call(struct glue *c, const struct ir_op *op)
{
    struct kir_func *f = c->f;
    const struct model *m = c->e->model;
    const struct layer_spec *spec = &m->temporal.layers[op->layer];
    struct ttt_shape shape;
    ttt_shape_of(&m->temporal, op->layer, &shape);
    struct kir_node *args[48];
    int n = 0;
    for (int i = 0; i < op->weight_count; i++) /* (in lower_ttt's order, the kernel's) */
        args[n++] = weight(c, &c->e->mod->weights[op->weight + i], NULL);
    args[n++] = state(c, op->states[0]); /* (the RoPE table, then the state the layer updates) */
    args[n++] = F32(spec->ttt.base_lr);
    args[n++] = F32(spec->ttt.eps);
    for (int i = 1; i < op->num_states; i++)
        args[n++] = state(c, op->states[i]);
    args[n++] = value(c, op->in[0]);
    args[n++] = op->in[1] >= 0 ? value(c, op->in[1]) : kir_null(f, in_ptr());
    args[n++] = value(c, op->in[2]);
    args[n++] = value(c, op->in[3]);
    args[n++] = c->pos;
    args[n++] = c->rows;
    args[n++] = value(c, op->work);
    args[n++] = value(c, op->out);
    args[n] = NULL;
    call_kernel(c, kernel_ttt(c->e, &shape), args);
}

/* A codebook op's weights: each codebook's embedding (its usage after it), then the rest */
static int codebook_args(struct glue *c, const struct ir_op *op, struct kir_node **args)
{
    for (int j = 0; j < op->codebooks; j++)
        args[j] = weight(c, &c->e->mod->weights[op->weight + 2 * j], NULL);
    return op->codebooks;
}

/* An op of a codec's graph (kernels_codec.c) */
static void codec_op(struct glue *c, const struct ir_op *op, struct kir_node *in, struct kir_node *dst)
{
    struct emitter *e = c->e;
    struct kir_func *f = c->f;
    const struct ir_graph *g = c->g;
    const struct ir_weight *w = op->weight >= 0 ? &e->mod->weights[op->weight] : NULL;
    const int len = g->values[op->out].len;
    struct kir_node *args[72];
    int n = 0;
    switch (op->code) {
    case OP_CONV_WINDOW:
        args[n++] = in;
        if (op->num_states)
            args[n++] = state(c, op->states[0]);
        args[n++] = dst;
        if (op->replicate)
            args[n++] = kir_select(f, kir_binary(f, KIR_EQ, c->pos, kir_const_int(f, KIR_I64, 0)), INT(1), INT(0));
        args[n] = NULL;
        call_kernel(c, function_by_symbol(e, kernel_conv_window(e, g, op)), args);
        break;
    case OP_BIAS_ADD:
        CALL(c, function_by_symbol(e, kernel_bias_add(e, len)), dst, weight(c, w, NULL), c->rows);
        break;
    case OP_CONV_TRANSPOSE:
        CALL(c, function_by_symbol(e, kernel_conv_transpose(e, g, op)), weight(c, w, NULL), in, dst, c->rows);
        break;
    case OP_OVERLAP_ADD:
        if (w)
            args[n++] = weight(c, w, NULL);
        args[n++] = state(c, op->states[0]), args[n++] = in, args[n++] = dst, args[n] = NULL;
        call_kernel(c, function_by_symbol(e, kernel_overlap_add(e, g, op)), args);
        break;
    case OP_ELU:
        CALL(c, function_by_symbol(e, kernel_elu(e, len)), in, dst, c->rows);
        break;
    case OP_GELU:
        CALL(c, function_by_symbol(e, kernel_gelu(e, len)), in, dst, c->rows);
        break;
    case OP_LAYER_NORM:
        CALL(c, function_by_symbol(e, kernel_layer_norm(e, len)), in, weight(c, w, NULL), weight(c, w + 1, NULL), F32(op->eps), dst,
             c->rows);
        break;
    case OP_SCALE_ADD:
        CALL(c, function_by_symbol(e, kernel_scale_add(e, len)), dst, value(c, op->in[1]), weight(c, w, NULL), c->rows);
        break;
    case OP_VQ_ENCODE:
        n = codebook_args(c, op, args);
        args[n++] = in, args[n++] = dst, args[n] = NULL;
        call_kernel(c, function_by_symbol(e, kernel_vq_encode(e, op, w->cols, w->rows)), args);
        break;
    case OP_VQ_DECODE:
        n = codebook_args(c, op, args);
        args[n++] = in, args[n++] = dst, args[n] = NULL;
        call_kernel(c, function_by_symbol(e, kernel_vq_decode(e, op, w->cols)), args);
        break;
    default:
        break;
    }
}

static void op_comment(struct glue *c, const struct ir_op *op)
{
    const struct ir_graph *g = c->g;
    static const char *const epi[] = {"", "", ", silu gate fused", ", rope + kv write fused", ", bias fused",
                                      ", layer scale and residual add fused"};
    char out[160] = "", weight[160] = "", scale[160] = "";
    if (op->out >= 0)
        snprintf(out, sizeof out, "%s[%d] %s ", g->values[op->out].name, g->values[op->out].len,
                 op->epilogue == EPI_ACCUMULATE || op->epilogue == EPI_SCALE_ACCUMULATE ? "+=" : "=");
    if (op->weight >= 0)
        snprintf(weight, sizeof weight, " %s", c->e->mod->weights[op->weight].name);
    if (op->scale >= 0)
        snprintf(scale, sizeof scale, ", scaled by %s", g->values[op->scale].name);
    kir_comment(c->f, "%s%s%s%s%s", out, ir_opcode_name(op->code), weight, scale, epi[op->epilogue]);
}

static void emit_op(struct glue *c, const struct ir_op *op)
{
    struct emitter *e = c->e;
    struct kir_func *f = c->f;
    const struct ir_graph *g = c->g;
    const int D = g->dim;
    struct kir_node *in = op->in[0] >= 0 ? value(c, op->in[0]) : NULL, *dst = op->out >= 0 ? value(c, op->out) : NULL;
    struct kir_node *eps = F32(op->eps);
    op_comment(c, op);
    switch (op->code) {
    case OP_EMBED_SUM:
        embed_sum(c, op);
        break;
    case OP_STEP_EMBED_ADD:
        step_embed_add(c, op);
        break;
    case OP_RMS_NORM:
        CALL(c, function_by_symbol(e, kernel_rms(e, D, true)), in, weight(c, &e->mod->weights[op->weight], NULL), eps, dst, c->rows);
        break;
    case OP_RMS_SCALE:
        CALL(c, function_by_symbol(e, kernel_rms(e, D, false)), in, eps, dst, c->rows);
        break;
    case OP_MATMUL: {
        struct kir_node *args[12];
        int n = 0;
        args[n++] = weight(c, &e->mod->weights[op->weight], c->pos);
        args[n++] = in;
        if (op->scale >= 0)
            args[n++] = value(c, op->scale);
        args[n++] = dst;
        if (op->epilogue == EPI_ROPE_KV) {
            args[n++] = state(c, op->states[KV_STATE_K]), args[n++] = state(c, op->states[KV_STATE_V]), args[n++] = c->pos;
            if (g->rope)
                args[n++] = state(c, op->states[KV_STATE_ROPE]);
        }
        if (ir_epilogue_weighted(op)) /* a bias or gain */
            args[n++] = weight(c, &e->mod->weights[op->epilogue_weight], NULL);
        if (op->work >= 0) /* the cache-blocked form's sums */
            args[n++] = value(c, op->work);
        args[n++] = c->rows;
        args[n] = NULL;
        call_kernel(c, function_by_symbol(e, kernel_matmul(e, g, op)), args);
        break;
    }
    case OP_ROPE_QK:
        CALL(c, function_by_symbol(e, kernel_rope_qk(e, g)), in, state(c, op->states[0]), c->rows);
        break;
    case OP_KV_WRITE:
        CALL(c, function_by_symbol(e, kernel_kv_write(e, g)), in, state(c, op->states[KV_STATE_K]), state(c, op->states[KV_STATE_V]),
             c->pos, c->rows);
        break;
    case OP_ATTENTION: {
        struct kir_node *args[10] = {in, state(c, op->states[KV_STATE_K]), state(c, op->states[KV_STATE_V]),
                                     state(c, op->states[KV_STATE_POSITIONS]), c->pos};
        int n = 5;
        if (c->horizon)
            args[n++] = c->horizon;
        args[n++] = dst, args[n++] = c->rows, args[n] = NULL;
        call_kernel(c, function_by_symbol(e, kernel_attention(e, g, g->values[op->in[0]].len)), args);
        break;
    }
    case OP_SILU_GATE:
        CALL(c, function_by_symbol(e, kernel_silu_gate(e, g->values[op->out].len)), in, dst, c->rows);
        break;
    case OP_TTT:
        ttt_call(c, op);
        break;
    case OP_GELU_GATE:
        CALL(c, function_by_symbol(e, kernel_gelu_gate(e, D)), dst, value(c, op->in[1]), c->rows);
        break;
    case OP_ADD:
        CALL(c, function_by_symbol(e, kernel_add(e, g->values[op->out].len)), dst, value(c, op->in[1]), c->rows);
        break;
    case OP_CONV_WINDOW: case OP_BIAS_ADD: case OP_CONV_TRANSPOSE: case OP_OVERLAP_ADD: case OP_ELU: case OP_LAYER_NORM:
    case OP_GELU: case OP_SCALE_ADD: case OP_VQ_ENCODE: case OP_VQ_DECODE:
        codec_op(c, op, in, dst);
        break;
    case OP_COUNT:
        break;
    }
}

/* Kernels that share their work among the team themselves (a parallel loop inside); every other op
   runs on one thread of it (a single, whose barrier orders it with what follows). */
static bool shared_by_team(const struct emitter *e, const struct ir_op *op)
{
    switch (op->code) {
    case OP_MATMUL: return e->mod->weights[op->weight].pack_nr != 0;
    case OP_ATTENTION: case OP_TTT: case OP_CONV_WINDOW: case OP_BIAS_ADD: case OP_CONV_TRANSPOSE: case OP_OVERLAP_ADD: case OP_ELU:
    case OP_LAYER_NORM: case OP_GELU: case OP_SCALE_ADD:
        return true;
    default: return false;
    }
}

/* bench's component mark: kiln_profile_mark(component) (kiln_format.h's enum kiln_component) */
static void mark(struct glue *c, int component, const char *what)
{
    const struct kir_type i32 = kir_scalar_type(KIR_I32);
    const int profile = external(c->e, "kiln_profile_mark", kir_scalar_type(KIR_VOID), 1, &i32);
    if (c->e->threaded)
        kir_single(c->f);
    kir_comment(c->f, "bench: %s done", what);
    CALL(c, profile, kir_int(c->f, component));
    if (c->e->threaded)
        kir_end(c->f);
}

/* (a codec's components: its ops' marks) */
static const char *const codec_parts[] = {"the SEANet encoder", "the encoder transformer", "the quantizer",
                                          "the decoder transformer", "the SEANet decoder"};

/* The ops of a graph with bench's marks: embed | layers | out_norm + text head. On a threaded target
   they run in one parallel region: one fork-join per call, not per op. */
static void graph_ops(struct glue *c)
{
    const struct ir_graph *g = c->g;
    if (c->e->threaded)
        kir_parallel(c->f);
    for (int i = 0; i < g->num_ops; i++) {
        const struct ir_op *op = &g->ops[i];
        if (op->dead)
            continue;
        if (g->multirate) /* (each op its own rows) */
            c->rows = kir_int(c->f, g->values[op->in[0] >= 0 ? op->in[0] : op->out].time);
        if (c->temporal && op->out >= 0 && g->values[op->out].kind == VAL_OUTPUT && op->code == OP_RMS_NORM)
            mark(c, KILN_TEMPORAL, "the temporal layers");
        const bool single = c->e->threaded && !shared_by_team(c->e, op);
        if (single)
            kir_single(c->f);
        emit_op(c, op);
        if (single)
            kir_end(c->f);
        if (op->mark >= KILN_NUM_LM_COMPONENTS)
            mark(c, op->mark, codec_parts[op->mark - KILN_NUM_LM_COMPONENTS]);
        if (op->code == OP_EMBED_SUM)
            mark(c, KILN_EMBED, "the embeddings");
    }
    if (c->temporal)
        mark(c, KILN_TEXT_HEAD, "out_norm and the text head");
    else if (!g->multirate)
        mark(c, KILN_DEPFORMER, "the depformer step");
    if (c->e->threaded)
        kir_end(c->f);
}

/* ---- the functions --------------------------------------------------------------------------- */

/* Opens a graph function whose first two parameters are the weights and the stream, the rest as
   named and typed; declares w, s and the scratch pointer a. */
static void open_function(struct glue *c, const char *name, const char *comment, int n, const char *const *names,
                          const struct kir_type *types)
{
    struct kir_func *f = c->f = kir_begin(&c->e->kir, name, kir_scalar_type(KIR_VOID), 0, "%s", comment);
    struct kir_node *weights = NULL;
    if (c->g)
        weights = kir_param(f, "weights", kir_pointer_type(KIR_VOID, true), 0);
    struct kir_node *stream = kir_param(f, "stream", kir_pointer_type(KIR_VOID, false), 0);
    c->num_params = n;
    for (int i = 0; i < n; i++)
        c->params[i] = kir_param(f, names[i], types[i], 0);
    if (weights)
        c->w = kir_decl(f, "w", kir_pointer_cast(f, kir_record_pointer(c->e->weights_record, true), weights), KIR_CONSTANT);
    c->s = kir_decl(f, "s", kir_pointer_cast(f, kir_record_pointer(c->e->stream_record, false), stream), KIR_CONSTANT);
    if (c->g)
        c->a = kir_decl(f, "a", kir_field(f, c->s, "scratch"), KIR_CONSTANT);
}

/* for (j = 0; j < count; j++) p[j] = value */
static void fill(struct kir_func *f, struct kir_node *p, int64_t count, struct kir_node *value)
{
    struct kir_node *j = kir_for(f, "j", kir_const_int(f, KIR_I64, 0), kir_const_int(f, KIR_I64, count), 1, 0);
    kir_store(f, p, j, value);
    kir_end(f);
}

/* The TTT RoPE tables (each TTT op's first state, shared by the layers alike), in f32 as ttt.py
   computes them */
static void ttt_rope_tables(struct glue *c)
{
    struct kir_func *f = c->f;
    const struct model *m = c->e->model;
    bool *done = calloc((size_t)c->e->mod->num_states, 1);
    for (int gi = 0; gi < c->e->mod->num_graphs; gi++)
        for (int i = 0; i < c->e->mod->graphs[gi]->num_ops; i++) {
            const struct ir_op *op = &c->e->mod->graphs[gi]->ops[i];
            if (op->dead || op->code != OP_TTT || done[op->states[0]])
                continue;
            done[op->states[0]] = true;
            struct ttt_shape shape;
            ttt_shape_of(&m->temporal, op->layer, &shape);
            struct kir_node *table = state(c, op->states[0]);
            const int HD = shape.head_dim;
            kir_comment(f, "layer %d's TTT RoPE table (and the later layers' alike)", op->layer);
            struct kir_node *p = kir_for(f, "p", INT(0), INT(shape.mini_batch), 1, 0);
            struct kir_node *j = kir_for(f, "j", INT(0), INT(HD), 1, 0);
            struct kir_node *power = libm(c, "powf", F32(m->temporal.layers[op->layer].ttt.rope_base),
                                          DIV(kir_cast(f, f32_type(), MUL(DIV(j, INT(2)), INT(2))), F32(HD)));
            struct kir_node *angle = kir_decl(f, "angle", MUL(kir_cast(f, f32_type(), p), DIV(F32(1), power)), KIR_CONSTANT);
            struct kir_node *row = MUL(p, INT(2 * HD));
            kir_store(f, table, ADD(row, j), libm(c, "cosf", angle, NULL));
            struct kir_node *sine = kir_decl(f, "sine", libm(c, "sinf", angle, NULL), KIR_CONSTANT);
            kir_store(f, table, ADD(ADD(row, INT(HD)), j),
                      kir_select(f, kir_binary(f, KIR_NE, kir_binary(f, KIR_REM, j, INT(2)), INT(0)), sine, kir_unary(f, KIR_NEG, sine)));
            kir_end(f);
            kir_end(f);
        }
    free(done);
}

/* Every state its reset value (ir.h: zeros, -1 for an empty ring slot's position, nothing where it
   is written before it is read), then the tables computed once */
static int stream_reset(struct emitter *e)
{
    struct glue c = {.e = e};
    open_function(&c, "stream_reset", "A stream's initial state", 0, NULL, NULL);
    struct kir_func *f = c.f;
    for (int i = 0; i < e->mod->num_states; i++) {
        const struct ir_state *st = &e->mod->states[i];
        if (st->reset == RESET_NONE)
            continue;
        struct kir_node *value = st->dtype == IR_I64 ? kir_const_int(f, KIR_I64, st->reset == RESET_EMPTY ? -1 : 0)
                                                     : kir_cast(f, state_type(st), INT(st->reset == RESET_EMPTY ? -1 : 0));
        if (st->role == KILN_STATE_TTT)
            kir_comment(f, "the inner weights restart from the learned W0");
        if (st->elements == 1)
            kir_store(f, state(&c, i), INT(0), value);
        else
            fill(f, state(&c, i), st->elements, value);
    }
    ttt_rope_tables(&c);
    return kernel_finish(e, f);
}

/* As if `frames` frames had been stepped: the temporal graph's positions and the slot of every head
   of its rings */
static int stream_advance(struct emitter *e, int reset)
{
    const struct ir_graph *t = ir_graph_named(e->mod, "temporal");
    struct glue c = {.e = e};
    static const char *const names[] = {"frames"};
    const struct kir_type types[] = {kir_scalar_type(KIR_I64)};
    char comment[192];
    snprintf(comment, sizeof comment, "As if `frames` frames had been stepped: the ring holds the last %d positions (zeros;\n"
                                      "   the other slots are left as they are, never read).", t->context);
    open_function(&c, "stream_advance", comment, 1, names, types);
    struct kir_func *f = c.f;
    struct kir_node *frames = c.params[0];
    CALL(&c, reset, kir_pointer_cast(f, kir_pointer_type(KIR_VOID, false), c.s));
    kir_store(f, stream_field(&c, "pos"), INT(0), frames);
    struct kir_node *context = kir_const_int(f, KIR_I64, t->context);
    struct kir_node *p = kir_for(f, "p", kir_select(f, kir_binary(f, KIR_GT, frames, context), SUB(frames, context),
                                                    kir_const_int(f, KIR_I64, 0)), frames, 1, 0);
    struct kir_node *slot = kir_decl(f, "slot", kir_binary(f, KIR_REM, p, INT(t->kv_capacity)), KIR_CONSTANT);
    kir_store(f, state(&c, t->positions), slot, p);
    for (int i = 0; i < e->mod->num_states; i++) {
        const struct ir_state *st = &e->mod->states[i];
        if (st->role != KILN_STATE_KV || e->mod->graphs[st->graph] != t)
            continue;
        struct kir_node *h = kir_for(f, "h", INT(0), INT(t->heads), 1, 0);
        struct kir_node *at = kir_addr(f, state(&c, i), MUL(ADD(MUL(WIDE(h), INT(t->kv_capacity)), slot), INT(t->head_dim)));
        fill(f, at, t->head_dim, kir_cast(f, state_type(st), F32(0)));
        kir_end(f);
    }
    kir_end(f);
    return kernel_finish(e, f);
}

/* Frequencies exactly as Moshi's rope.py computes them in float32: exp(i * (-ln(period) * 2 / hd)). */
static int rope_frequencies(struct emitter *e, const struct ir_graph *g)
{
    const int half = g->head_dim / 2;
    const float step = (float)(-log(g->rope_max_period) * 2.0 / g->head_dim);
    char comment[160];
    snprintf(comment, sizeof comment, "RoPE frequencies for head_dim %d, max_period %g: expf(i * (-ln(period) * 2 / %d)) in f32.",
             g->head_dim, g->rope_max_period, g->head_dim);
    char name[32];
    snprintf(name, sizeof name, "%srope_freq", g->state_prefix);
    const int index = kir_global_begin(&e->kir, name, kir_scalar_type(KIR_F32), half, false, comment);
    for (int i = 0; i < half; i++)
        kir_init_float(&e->kir, index, expf((float)i * step));
    return index;
}

/* The call's rows' positions into the ring's slots, and RoPE at them (once per call, not per layer) */
static void call_positions(struct glue *c, int freq)
{
    struct kir_func *f = c->f;
    const struct ir_graph *g = c->g;
    struct kir_node *t = kir_for(f, "t", INT(0), c->rows, 1, 0);
    kir_store(f, state(c, g->positions), kir_binary(f, KIR_REM, ADD(c->pos, t), INT(g->kv_capacity)), ADD(c->pos, t));
    kir_end(f);
    if (freq >= 0) {
        kir_comment(f, "RoPE at the call's positions, once per call rather than per layer");
        t = kir_for(f, "t", INT(0), c->rows, 1, 0);
        struct kir_node *i = kir_for(f, "i", INT(0), INT(g->head_dim / 2), 1, 0);
        struct kir_node *angle = kir_decl(f, "angle", MUL(kir_cast(f, f32_type(), ADD(c->pos, t)), LOAD(kir_global_ref(f, freq), i)),
                                          KIR_CONSTANT);
        struct kir_node *cosine = kir_decl(f, "cosine", libm(c, "cosf", angle, NULL), KIR_CONSTANT);
        struct kir_node *sine = kir_decl(f, "sine", libm(c, "sinf", angle, NULL), KIR_CONSTANT);
        struct kir_node *cs = state(c, g->rope_table), *row = MUL(t, INT(2 * g->head_dim)), *pair = MUL(i, INT(2));
        kir_store(f, cs, ADD(row, pair), cosine);
        kir_store(f, cs, ADD(row, ADD(pair, INT(1))), cosine);
        kir_store(f, cs, ADD(ADD(row, INT(g->head_dim)), pair), kir_unary(f, KIR_NEG, sine));
        kir_store(f, cs, ADD(ADD(row, INT(g->head_dim)), ADD(pair, INT(1))), sine);
        kir_end(f);
        kir_end(f);
    }
}

static int temporal(struct emitter *e)
{
    const struct ir_graph *g = ir_graph_named(e->mod, "temporal");
    const struct model *m = e->model;
    struct glue c = {.e = e, .g = g, .temporal = true};
    static const char *const names[] = {"tokens", "T", "text_logits", "hidden"};
    const struct kir_type types[] = {kir_pointer_type(KIR_I32, true), kir_scalar_type(KIR_I32), out_ptr(), out_ptr()};
    char comment[256];
    snprintf(comment, sizeof comment, "T (1..%d) frames: tokens[T][%d] (each step's delayed input) -> text_logits[T][%d] and\n"
                                      "   hidden[T][%d] (out_norm's output: the depformer's input).", g->rows, 1 + m->n_q,
             m->text_card, g->dim);
    const int freq = g->rope_table >= 0 ? rope_frequencies(e, g) : -1;
    open_function(&c, "temporal", comment, 4, names, types);
    struct kir_func *f = c.f;
    c.rows = c.params[1];
    c.pos = kir_decl(f, "pos", LOAD(stream_field(&c, "pos"), INT(0)), KIR_CONSTANT);
    call_positions(&c, freq);
    graph_ops(&c);
    kir_store(f, stream_field(&c, "pos"), INT(0), ADD(c.pos, c.rows));
    return kernel_finish(e, f);
}

static int depformer_step(struct emitter *e)
{
    const struct ir_graph *g = ir_graph_named(e->mod, "depformer");
    const struct model *m = e->model;
    struct glue c = {.e = e, .g = g};
    static const char *const names[] = {"k", "prev_token", "hidden", "logits"};
    const struct kir_type types[] = {kir_scalar_type(KIR_I32), kir_scalar_type(KIR_I32), in_ptr(), out_ptr()};
    char comment[256];
    snprintf(comment, sizeof comment, "Depformer step k of a frame whose temporal output is hidden[%d]: prev_token is the text token\n"
                                      "   (k == 0) or audio codebook k - 1's token -> logits[%d]. Step 0 starts the frame's state afresh.",
             m->temporal.dim, m->card);
    open_function(&c, "depformer_step", comment, 4, names, types);
    struct kir_func *f = c.f;
    c.pos = c.params[0];
    c.rows = INT(1);
    kir_if(f, kir_binary(f, KIR_EQ, c.pos, INT(0)));
    fill(f, state(&c, g->positions), g->kv_capacity, kir_const_int(f, KIR_I64, -1));
    kir_end(f);
    kir_store(f, state(&c, g->positions), c.pos, c.pos);
    graph_ops(&c);
    return kernel_finish(e, f);
}

/* A codec's step function: one frame, pcm[frame] -> codes[num_codebooks] (encode) or back. */
static int codec_step(struct emitter *e, const char *graph)
{
    const struct ir_graph *g = ir_graph_named(e->mod, graph);
    const bool encode = strcmp(graph, "encode") == 0;
    struct glue c = {.e = e, .g = g};
    const char *const names[] = {encode ? "pcm" : "codes", encode ? "codes" : "pcm", "whole"};
    const struct kir_type types[] = {encode ? in_ptr() : kir_pointer_type(KIR_I32, true),
                                     encode ? kir_pointer_type(KIR_I32, false) : out_ptr(), kir_scalar_type(KIR_I32)};
    const int frame = codec_frame_size(e->model), n = e->model->codec.num_codebooks;
    char comment[320], what[64];
    snprintf(what, sizeof what, encode ? "pcm[%d] -> codes[%d]" : "codes[%d] -> pcm[%d]", encode ? frame : n, encode ? n : frame);
    snprintf(comment, sizeof comment, "One frame: %s. whole: each of the transformer's %d rows sees its\n"
                                      "   whole context of %d (a whole-file call); 0: the positions a ring of exactly %d holds (streaming).",
             what, g->rows, g->context, g->context);
    const int freq = g->rope_table >= 0 ? rope_frequencies(e, g) : -1;
    open_function(&c, graph, comment, 3, names, types);
    struct kir_func *f = c.f;
    c.rows = INT(g->rows);
    c.pos = kir_decl(f, "pos", LOAD(state(&c, g->position), INT(0)), KIR_CONSTANT);
    struct kir_node *zero = kir_const_int(f, KIR_I64, 0);
    c.horizon = kir_decl(f, "horizon", kir_select(f, kir_binary(f, KIR_NE, c.params[2], INT(0)), zero,
                                                  kir_binary(f, KIR_MAX, SUB(ADD(c.pos, INT(g->rows)), INT(g->context)), zero)),
                         KIR_CONSTANT);
    call_positions(&c, freq);
    graph_ops(&c);
    kir_store(f, state(&c, g->position), INT(0), ADD(c.pos, INT(g->rows)));
    return kernel_finish(e, f);
}

void glue_build(struct emitter *e, struct glue_functions *out)
{
    weights_record(e);
    stream_record(e);
    *out = (struct glue_functions){.stream_reset = stream_reset(e), .stream_advance = -1, .temporal = -1, .depformer_step = -1,
                                   .encode = -1, .decode = -1};
    if (e->model->kind == MODEL_CODEC) {
        out->encode = codec_step(e, "encode");
        out->decode = codec_step(e, "decode");
        return;
    }
    out->stream_advance = stream_advance(e, out->stream_reset);
    out->temporal = temporal(e);
    out->depformer_step = depformer_step(e);
}
