/* ir.c: building, verifying and printing the graph IR (ir.h). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "ir.h"

static const char *const opcode_names[] = {
#define IR_NAME(e, name, arity, doc) name,
    IR_OPS(IR_NAME)
#undef IR_NAME
};
static const int opcode_arity[] = {
#define IR_ARITY(e, name, arity, doc) arity,
    IR_OPS(IR_ARITY)
#undef IR_ARITY
};

const char *ir_opcode_name(enum ir_opcode code) { return opcode_names[code]; }

static void *grow(void *items, int *cap, int need, size_t size)
{
    if (need <= *cap)
        return items;
    int cap2 = *cap ? *cap * 2 : 64;
    while (cap2 < need)
        cap2 *= 2;
    void *p = realloc(items, (size_t)cap2 * size);
    if (!p) {
        fprintf(stderr, "kilnc: out of memory\n");
        exit(2);
    }
    memset((char *)p + (size_t)*cap * size, 0, (size_t)(cap2 - *cap) * size);
    *cap = cap2;
    return p;
}

int ir_value(struct ir_graph *g, enum value_kind kind, int len, const char *fmt, ...)
{
    /* (the name first: its arguments may be other values' names, which growing moves) */
    char name[sizeof g->values->name];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    g->values = grow(g->values, &g->cap_values, g->num_values + 1, sizeof *g->values);
    struct ir_value *v = &g->values[g->num_values];
    memcpy(v->name, name, sizeof name);
    v->kind = kind;
    v->dtype = IR_F32;
    v->len = len;
    v->time = g->rows;
    v->offset = -1;
    return g->num_values++;
}

struct ir_op *ir_op(struct ir_graph *g, enum ir_opcode code, int in0, int in1, int out)
{
    g->ops = grow(g->ops, &g->cap_ops, g->num_ops + 1, sizeof *g->ops);
    struct ir_op *op = &g->ops[g->num_ops++];
    *op = (struct ir_op){.code = code, .in = {in0, in1, -1, -1}, .out = out, .weight = -1, .work = -1,
                         .layer = -1, .scale = -1, .epilogue = EPI_STORE, .epilogue_weight = -1,
                         .mark = -1};
    return op;
}

int ir_weight(struct ir_module *mod, const struct ir_weight *w)
{
    mod->weights = grow(mod->weights, &mod->cap_weights, mod->num_weights + 1, sizeof *mod->weights);
    mod->weights[mod->num_weights] = *w;
    return mod->num_weights++;
}

int ir_state(struct ir_module *mod, const struct ir_state *s)
{
    mod->states = grow(mod->states, &mod->cap_states, mod->num_states + 1, sizeof *mod->states);
    mod->states[mod->num_states] = *s;
    return mod->num_states++;
}

int ir_state_named(const struct ir_module *mod, const char *name)
{
    for (int i = 0; i < mod->num_states; i++)
        if (strcmp(mod->states[i].name, name) == 0)
            return i;
    return -1;
}

long long ir_dtype_bytes(enum ir_dtype dtype)
{
    static const int size[] = {4, 2, 2, 4, 8};
    return size[dtype];
}

long long ir_state_bytes(const struct ir_state *s) { return s->elements * ir_dtype_bytes(s->dtype); }

int ir_class_format(const struct ir_formats *f, int weight_class)
{
    return f->class_weights[weight_class] >= 0 ? f->class_weights[weight_class] : f->weights;
}

struct ir_graph *ir_graph_new(struct ir_module *mod, const char *name)
{
    mod->graphs = grow(mod->graphs, &mod->cap_graphs, mod->num_graphs + 1, sizeof *mod->graphs);
    struct ir_graph *g = calloc(1, sizeof *g);
    if (!g) {
        fprintf(stderr, "kilnc: out of memory\n");
        exit(2);
    }
    snprintf(g->name, sizeof g->name, "%s", name);
    return mod->graphs[mod->num_graphs++] = g;
}

struct ir_graph *ir_graph_named(const struct ir_module *mod, const char *name)
{
    for (int i = 0; i < mod->num_graphs; i++)
        if (strcmp(mod->graphs[i]->name, name) == 0)
            return mod->graphs[i];
    fprintf(stderr, "kilnc: internal error: the module has no graph %s\n", name);
    exit(2);
}

long long ir_weight_numel(const struct ir_weight *w)
{
    long long n = 1;
    for (int i = 0; i < w->rank; i++)
        n *= w->shape[i];
    return w->step == STEP_TABLE ? n * w->steps : n;
}

void ir_free(struct ir_module *mod)
{
    if (!mod)
        return;
    for (int i = 0; i < mod->num_graphs; i++) {
        free(mod->graphs[i]->values);
        free(mod->graphs[i]->ops);
        free(mod->graphs[i]);
    }
    free(mod->graphs);
    free(mod->states);
    free(mod->weights);
    free(mod);
}

/* ---- verifier ---------------------------------------------------------------------------- */

static bool verify_failed;

static void violation(const struct ir_graph *g, int op_index, const char *stage, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "kilnc: internal error: IR invalid after %s: %s graph, op %d: ", stage, g->name, op_index);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    verify_failed = true;
}

static int input_len(const struct ir_graph *g, int id) { return id >= 0 ? g->values[id].len : -1; }

static void verify_matmul(const struct ir_module *mod, const struct ir_graph *g, int i, const char *stage)
{
    const struct ir_op *op = &g->ops[i];
    if (op->weight < 0 || op->weight >= mod->num_weights) {
        violation(g, i, stage, "matmul without a weight");
        return;
    }
    const struct ir_weight *w = &mod->weights[op->weight];
    if (input_len(g, op->in[0]) != w->cols)
        violation(g, i, stage, "matmul input length %d != weight cols %d", input_len(g, op->in[0]), w->cols);
    int out_len = g->values[op->out].len;
    int expect = op->epilogue == EPI_SILU_GATE ? w->rows / 2 : op->epilogue == EPI_ROPE_KV ? w->rows / 3 : w->rows;
    if (out_len != expect)
        violation(g, i, stage, "matmul output length %d, expected %d", out_len, expect);
    if (op->scale >= 0 && (!g->values[op->scale].scalar || g->values[op->scale].len != 1))
        violation(g, i, stage, "matmul scale is not a scalar");
    if (ir_epilogue_weighted(op) && (op->epilogue_weight < 0 || op->epilogue_weight >= mod->num_weights ||
                                     ir_weight_numel(&mod->weights[op->epilogue_weight]) != out_len))
        violation(g, i, stage, "matmul epilogue weight missing or of another length than its output");
}

/* A codec's op keeps its input's time, but for a strided conv's (which divides it by its stride,
   the overlap-add of a transposed one multiplies it) and the quantizer's (codes: one row) */
static void verify_rates(const struct ir_graph *g, int i, const char *stage)
{
    const struct ir_op *op = &g->ops[i];
    const int in = g->values[op->in[0]].time, out = g->values[op->out].time;
    const int expect = op->code == OP_CONV_WINDOW ? in / op->stride : op->code == OP_OVERLAP_ADD ? in * op->stride
                       : op->code == OP_VQ_ENCODE || op->code == OP_VQ_DECODE ? 1 : in;
    if (out != expect || (op->code == OP_CONV_WINDOW && in % op->stride))
        violation(g, i, stage, "%s: %d rows in, %d out", ir_opcode_name(op->code), in, out);
}

bool ir_verify(const struct ir_module *mod, const char *stage)
{
    verify_failed = false;
    for (int gi = 0; gi < mod->num_graphs; gi++) {
        const struct ir_graph *g = mod->graphs[gi];
        bool *defined = calloc((size_t)g->num_values + 1, 1);
        for (int v = 0; v < g->num_values; v++)
            defined[v] = g->values[v].kind == VAL_INPUT;
        for (int i = 0; i < g->num_ops; i++) {
            const struct ir_op *op = &g->ops[i];
            if (op->dead)
                continue;
            for (int k = 0; k < opcode_arity[op->code]; k++) {
                int in = op->in[k];
                if (in < 0 && op->code == OP_TTT && k == 1)
                    continue; /* share_qk: k comes from q_proj's output */
                if (in < 0 || in >= g->num_values)
                    violation(g, i, stage, "%s: input %d missing", ir_opcode_name(op->code), k);
                else if (!defined[in])
                    violation(g, i, stage, "%s reads '%s' before it is written", ir_opcode_name(op->code),
                              g->values[in].name);
                else if (g->values[in].scalar)
                    violation(g, i, stage, "%s reads the scalar '%s' as a vector", ir_opcode_name(op->code),
                              g->values[in].name);
            }
            if (op->scale >= 0 && !defined[op->scale])
                violation(g, i, stage, "scale '%s' read before it is written", g->values[op->scale].name);
            if (op->out >= 0 && op->out < g->num_values)
                defined[op->out] = true;
            else if (op->code != OP_KV_WRITE)
                violation(g, i, stage, "%s has no output", ir_opcode_name(op->code));
            if (op->code == OP_MATMUL)
                verify_matmul(mod, g, i, stage);
            if (op->out >= 0 && op->in[0] >= 0 && g->multirate)
                verify_rates(g, i, stage);
            if (op->out >= 0 && (op->code == OP_RMS_SCALE) != g->values[op->out].scalar)
                violation(g, i, stage, "only rms_scale produces a scalar");
            if (op->code == OP_RMS_SCALE && g->values[op->out].len != 1)
                violation(g, i, stage, "rms_scale's output has length %d, not 1", g->values[op->out].len);
            const bool stateful = op->code == OP_ATTENTION || op->code == OP_KV_WRITE || op->code == OP_ROPE_QK ||
                                  op->code == OP_TTT || op->epilogue == EPI_ROPE_KV || op->code == OP_OVERLAP_ADD;
            if ((op->code != OP_CONV_WINDOW && stateful != (op->num_states > 0)) || op->num_states > IR_OP_STATES)
                violation(g, i, stage, "%s names %d streaming states", ir_opcode_name(op->code), op->num_states);
            for (int k = 0; k < op->num_states && k < IR_OP_STATES; k++)
                if (op->states[k] < 0 || op->states[k] >= mod->num_states)
                    violation(g, i, stage, "%s: streaming state %d missing", ir_opcode_name(op->code), k);
        }
        for (int v = 0; v < g->num_values; v++)
            if (g->values[v].kind == VAL_OUTPUT && !defined[v])
                violation(g, -1, stage, "output '%s' never written", g->values[v].name);
        free(defined);
    }
    return !verify_failed;
}

/* ---- printing ---------------------------------------------------------------------------- */

static const char *const epilogue_names[] = {"", " += (residual)", " -> silu gate", " -> rope, kv write", " + bias",
                                             " * gain += (residual)"};

static void dump_graph(FILE *out, const struct ir_module *mod, const struct ir_graph *g)
{
    fprintf(out, "graph %s (dim %d, heads %d, layers %d)\n", g->name, g->dim, g->heads, g->num_layers);
    for (int i = 0; i < g->num_ops; i++) {
        const struct ir_op *op = &g->ops[i];
        if (op->dead)
            continue;
        fprintf(out, "  %3d  ", i);
        if (op->out >= 0)
            fprintf(out, "%s[%d] = ", g->values[op->out].name, g->values[op->out].len);
        fprintf(out, "%s(", ir_opcode_name(op->code));
        for (int k = 0, first = 1; k < 4; k++)
            if (op->in[k] >= 0)
                fprintf(out, "%s%s", first ? "" : ", ", g->values[op->in[k]].name), first = 0;
        if (op->weight >= 0) {
            const struct ir_weight *w = &mod->weights[op->weight];
            fprintf(out, "%s%s [%d, %d]%s", op->in[0] >= 0 ? ", " : "", w->name, w->rows, w->cols,
                    w->fold_alpha >= 0 ? " (norm folded)" : "");
        }
        fprintf(out, ")");
        if (op->scale >= 0)
            fprintf(out, " * %s", g->values[op->scale].name);
        fprintf(out, "%s", epilogue_names[op->epilogue]);
        if (op->layer >= 0)
            fprintf(out, "  layer %d", op->layer);
        fputc('\n', out);
    }
}

void ir_dump(FILE *out, const struct ir_module *mod)
{
    for (int gi = 0; gi < mod->num_graphs; gi++)
        dump_graph(out, mod, mod->graphs[gi]);
}

void plan_dump(FILE *out, const struct ir_module *mod)
{
    static const char *const dtypes[] = {"f32", "bf16", "f16", "i32", "i64"};
    for (int gi = 0; gi < mod->num_graphs; gi++) {
        const struct ir_graph *g = mod->graphs[gi];
        fprintf(out, "graph %s: up to %d rows per call, scratch %d floats\n", g->name, g->rows, g->scratch_floats);
        for (int v = 0; v < g->num_values; v++) {
            const struct ir_value *val = &g->values[v];
            if (val->kind == VAL_ACT && val->offset >= 0)
                fprintf(out, "  %-24s [%d][%d]%s%s  at %d\n", val->name, val->time, val->len, val->dtype == IR_F32 ? "" : " ",
                        val->dtype == IR_F32 ? "" : dtypes[val->dtype], val->offset);
        }
    }
    static const char *const resets[] = {"", ", reset 0", ", reset -1"};
    fprintf(out, "streaming state (the stream record, in this order, then the scratch):\n");
    for (int i = 0; i < mod->num_states; i++) {
        const struct ir_state *s = &mod->states[i];
        fprintf(out, "  %-24s %s[%lld]%s%s%s\n", s->name, dtypes[s->dtype], s->elements, resets[s->reset],
                s->graph >= 0 ? ", graph " : "", s->graph >= 0 ? mod->graphs[s->graph]->name : "");
    }
    long long total = 0;
    fprintf(out, "weights:\n");
    for (int i = 0; i < mod->num_weights; i++) {
        const struct ir_weight *w = &mod->weights[i];
        total += ir_weight_numel(w);
        fprintf(out, "  %-56s %10lld floats%s%s\n", w->name, ir_weight_numel(w),
                w->fold_alpha >= 0 ? ", alpha of " : "", w->fold_alpha >= 0 ? mod->weights[w->fold_alpha].name : "");
    }
    fprintf(out, "  total %lld parameters\n", total);
}
