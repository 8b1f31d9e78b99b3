/* kir.c: the kernel IR's types, builder and verifier (kir.h). The builder checks each node as it
 * is made (a kernel builder's mistake stops kilnc at once, naming the kernel) and folds integer
 * constants and nested addresses, so that kernels can be written with general index arithmetic and
 * still print as plain C. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "kir.h"

enum kir_form { EXPR, STMT, VEC };

static const struct {
    const char *name;
    enum kir_form form;
    int operands;
    const char *c;
} op_info[] = {
#define KIR_INFO(name, form, operands, c, precedence) {#name, form, operands, c},
    KIR_OPS(KIR_INFO)
#undef KIR_INFO
};

static const char *const scalar_names[] = {"void", "bool", "i8", "u8", "i16", "i32", "i64", "f16", "bf16", "f32", "f64",
                                           "record"};

const char *kir_op_name(enum kir_op op) { return op_info[op].name; }
const char *kir_op_c_spelling(enum kir_op op) { return op_info[op].c; }
const char *kir_scalar_name(enum kir_scalar s) { return scalar_names[s]; }

struct kir_type kir_scalar_type(enum kir_scalar s) { return (struct kir_type){.scalar = (unsigned char)s, .lanes = 1}; }
struct kir_type kir_vector_type(enum kir_scalar s, int lanes)
{
    return (struct kir_type){.scalar = (unsigned char)s, .lanes = (unsigned char)lanes};
}
struct kir_type kir_pointer_type(enum kir_scalar s, bool readonly)
{
    return (struct kir_type){.scalar = (unsigned char)s, .lanes = 1, .pointer = 1, .readonly = readonly};
}
struct kir_type kir_pointer_to(struct kir_type t)
{
    t.pointer++;
    return t;
}
struct kir_type kir_record_pointer(int record, bool readonly)
{
    return (struct kir_type){.scalar = KIR_RECORD, .lanes = 1, .pointer = 1, .readonly = readonly, .record = (short)record};
}

struct kir_type kir_record_type(int record)
{
    return (struct kir_type){.scalar = KIR_RECORD, .lanes = 1, .record = (short)record};
}

bool kir_type_equal(struct kir_type a, struct kir_type b)
{
    return a.scalar == b.scalar && a.lanes == b.lanes && a.pointer == b.pointer && (!a.pointer || a.readonly == b.readonly) &&
           (a.scalar != KIR_RECORD || a.record == b.record);
}

bool kir_is_float(struct kir_type t) { return !t.pointer && t.scalar >= KIR_F16 && t.scalar <= KIR_F64; }
bool kir_is_integer(struct kir_type t) { return !t.pointer && t.scalar >= KIR_I8 && t.scalar <= KIR_I64; }

void kir_type_name(char *buf, size_t size, struct kir_type t)
{
    if (t.pointer)
        snprintf(buf, size, "%s%s%.*s", t.readonly ? "const " : "", scalar_names[t.scalar], t.pointer, "**");
    else if (t.lanes > 1)
        snprintf(buf, size, "%sx%d", scalar_names[t.scalar], t.lanes);
    else
        snprintf(buf, size, "%s", scalar_names[t.scalar]);
}

/* ---- module ---------------------------------------------------------------------------------- */

void kir_module_init(struct kir_module *m, int width, const char *symbol_prefix)
{
    memset(m, 0, sizeof *m);
    m->width = width;
    m->symbol_prefix = symbol_prefix;
}

void kir_module_free(struct kir_module *m)
{
    for (int i = 0; i < m->num_nodes; i++) {
        free(m->nodes[i]->comment);
        free(m->nodes[i]->call_args);
        free(m->nodes[i]);
    }
    for (int i = 0; i < m->num_funcs; i++) {
        struct kir_func *f = m->funcs[i];
        for (int v = 0; v < f->num_vars; v++)
            free(f->vars[v].name);
        free(f->vars);
        free(f->name);
        free(f->symbol);
        free(f->comment);
        free(f);
    }
    free(m->funcs);
    kir_free_data(m);
    free(m->nodes);
    memset(m, 0, sizeof *m);
}

bool kir_visible(const struct kir_module *m, int index)
{
    const struct kir_func *f = m->funcs[index];
    return m->linkage == KIR_LINK_ALL || (f->flags & KIR_EXTERN);
}

const char *kir_symbol(const struct kir_module *m, int index, char *buf, size_t size)
{
    const bool prefixed = kir_visible(m, index) && !(m->funcs[index]->flags & KIR_EXTERN);
    snprintf(buf, size, "%s%s", prefixed ? m->symbol_prefix : "", m->funcs[index]->name);
    return buf;
}

int kir_find(const struct kir_module *m, const char *name)
{
    for (int i = 0; i < m->num_funcs; i++)
        if (strcmp(m->funcs[i]->name, name) == 0)
            return i;
    return -1;
}

/* A builder's mistake: kilnc's own bug, not the user's input (exit status 2, DESIGN.md). */
static _Noreturn void builder_error(const struct kir_func *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static _Noreturn void builder_error(const struct kir_func *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kilnc: internal error: kernel %s: ", f->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static char *format_string(const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *s = malloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    return s;
}

struct kir_func *kir_begin(struct kir_module *m, const char *name, struct kir_type result, unsigned flags,
                           const char *comment_fmt, ...)
{
    struct kir_func *f = calloc(1, sizeof *f);
    f->name = strdup(name);
    f->result = result;
    f->flags = flags;
    f->module = m;
    if (comment_fmt) {
        va_list ap;
        va_start(ap, comment_fmt);
        f->comment = format_string(comment_fmt, ap);
        va_end(ap);
    }
    f->open_tail[0] = &f->body;
    f->depth = 1;
    return f;
}

int kir_end_function(struct kir_func *f)
{
    struct kir_module *m = f->module;
    if (kir_find(m, f->name) >= 0)
        builder_error(f, "defined twice");
    m->funcs = realloc(m->funcs, (size_t)(m->num_funcs + 1) * sizeof *m->funcs);
    m->funcs[m->num_funcs] = f;
    char symbol[256];
    f->symbol = strdup(kir_symbol(m, m->num_funcs, symbol, sizeof symbol));
    f->depth = 0;
    free(f->pending_comment);
    f->pending_comment = NULL;
    return m->num_funcs++;
}

static struct kir_node *new_node(struct kir_func *f, enum kir_op op, struct kir_type type)
{
    struct kir_module *m = f->module;
    if (m->num_nodes == m->cap_nodes) {
        m->cap_nodes = m->cap_nodes ? 2 * m->cap_nodes : 256;
        m->nodes = realloc(m->nodes, (size_t)m->cap_nodes * sizeof *m->nodes);
    }
    struct kir_node *n = calloc(1, sizeof *n);
    n->op = op;
    n->type = type;
    n->var = -1;
    m->nodes[m->num_nodes++] = n;
    return n;
}

static struct kir_node *new_var(struct kir_func *f, const char *name, struct kir_type type, unsigned flags, bool param)
{
    for (int i = 0; i < f->num_vars; i++)
        if (strcmp(f->vars[i].name, name) == 0 && (param || f->vars[i].param))
            builder_error(f, "variable '%s' declared twice", name);
    f->vars = realloc(f->vars, (size_t)(f->num_vars + 1) * sizeof *f->vars);
    f->vars[f->num_vars] = (struct kir_var){.name = strdup(name), .type = type, .flags = flags, .param = param};
    struct kir_node *n = new_node(f, KIR_VAR, type);
    n->var = f->num_vars++;
    return n;
}

struct kir_node *kir_param(struct kir_func *f, const char *name, struct kir_type type, unsigned flags)
{
    if (f->num_vars != f->num_params)
        builder_error(f, "parameter '%s' after the body began", name);
    f->num_params++;
    return new_var(f, name, type, flags, true);
}

/* ---- expressions ----------------------------------------------------------------------------- */

/* value as a constant of type s holds it: wrapped to the type's width (as LLVM's constants are) */
static int64_t wrap(enum kir_scalar s, int64_t value)
{
    switch (s) {
    case KIR_BOOL: return value != 0;
    case KIR_I8: return (int8_t)value;
    case KIR_U8: return (uint8_t)value;
    case KIR_I16: return (int16_t)value;
    case KIR_I32: return (int32_t)(uint32_t)value;
    default: return value;
    }
}

struct kir_node *kir_const_int(struct kir_func *f, enum kir_scalar s, int64_t value)
{
    struct kir_node *n = new_node(f, KIR_CONST, kir_scalar_type(s));
    n->ivalue = wrap(s, value);
    return n;
}

struct kir_node *kir_int(struct kir_func *f, int64_t value) { return kir_const_int(f, KIR_I32, value); }

struct kir_node *kir_f32(struct kir_func *f, double value)
{
    struct kir_node *n = new_node(f, KIR_CONST, kir_scalar_type(KIR_F32));
    n->fvalue = (float)value;
    return n;
}

static bool is_const_int(const struct kir_node *n, int64_t value)
{
    return n->op == KIR_CONST && kir_is_integer(n->type) && n->ivalue == value;
}

static void need(struct kir_func *f, bool ok, enum kir_op op, const char *what)
{
    if (!ok)
        builder_error(f, "%s: %s", kir_op_name(op), what);
}


struct kir_node *kir_null(struct kir_func *f, struct kir_type pointer)
{
    need(f, pointer.pointer > 0, KIR_CONST, "a null of a type that is no pointer");
    return new_node(f, KIR_CONST, pointer);
}

/* A scalar integer or bool narrower than i32 as an i32 (C's integer promotions). */
static struct kir_node *promote(struct kir_func *f, struct kir_node *a)
{
    const bool narrow = !a->type.pointer && a->type.lanes == 1 && (kir_is_integer(a->type) || a->type.scalar == KIR_BOOL) &&
                        a->type.scalar < KIR_I32;
    return narrow ? kir_cast(f, kir_scalar_type(KIR_I32), a) : a;
}

/* Integers of two widths meet at the wider, after the promotions (as C's usual conversions do). */
static void widen_pair(struct kir_func *f, struct kir_node **a, struct kir_node **b)
{
    *a = promote(f, *a);
    *b = promote(f, *b);
    if (kir_is_integer((*a)->type) && kir_is_integer((*b)->type) && (*a)->type.lanes == 1 && (*b)->type.lanes == 1 &&
        (*a)->type.scalar != (*b)->type.scalar) {
        if ((*a)->type.scalar < (*b)->type.scalar)
            *a = kir_cast(f, (*b)->type, *a);
        else
            *b = kir_cast(f, (*a)->type, *b);
    }
}

static int64_t fold(enum kir_op op, int64_t a, int64_t b)
{
    switch (op) {
    case KIR_ADD: return a + b;
    case KIR_SUB: return a - b;
    case KIR_MUL: return a * b;
    case KIR_DIV: return a / b;
    case KIR_REM: return a % b;
    default: return 0;
    }
}

struct kir_node *kir_binary(struct kir_func *f, enum kir_op op, struct kir_node *a, struct kir_node *b)
{
    need(f, op_info[op].operands == 2 && op != KIR_ADDR && op != KIR_LOAD, op, "not a binary operator");
    const bool logic = op == KIR_AND || op == KIR_OR;
    if (!logic)
        widen_pair(f, &a, &b);
    need(f, a->type.scalar != KIR_F16 && a->type.scalar != KIR_BF16, op,
         "f16/bf16 arithmetic (they are storage types: convert to f32 first)");
    need(f, kir_type_equal(a->type, b->type) && !a->type.pointer, op, "operands of different types, or pointers");
    const bool compare = op >= KIR_LT && op <= KIR_NE;
    if (logic)
        need(f, a->type.scalar == KIR_BOOL, op, "operands not bool");
    if (compare || logic)
        need(f, a->type.lanes == 1, op, "vector comparison");
    if (op == KIR_REM)
        need(f, kir_is_integer(a->type), op, "operands not integers");
    if (op == KIR_BAND || op == KIR_SHR)
        need(f, (a->type.lanes > 1 && a->type.scalar == KIR_I32) || (a->type.lanes == 1 && kir_is_integer(a->type)), op,
             "operands neither integers nor i32 vectors");
    if (op == KIR_SHR)
        need(f, b->op == KIR_CONST || (b->op == KIR_BROADCAST && b->arg[0]->op == KIR_CONST), op, "a shift by no constant");
    if (kir_is_integer(a->type) && a->type.lanes == 1 && op >= KIR_ADD && op <= KIR_REM) {
        if (a->op == KIR_CONST && b->op == KIR_CONST && !((op == KIR_DIV || op == KIR_REM) && b->ivalue == 0))
            return kir_const_int(f, (enum kir_scalar)a->type.scalar, fold(op, a->ivalue, b->ivalue));
        if ((op == KIR_ADD || op == KIR_SUB) && is_const_int(b, 0))
            return a;
        if (op == KIR_ADD && is_const_int(a, 0))
            return b;
        if ((op == KIR_MUL || op == KIR_DIV) && is_const_int(b, 1))
            return a;
        if (op == KIR_MUL && is_const_int(a, 1))
            return b;
        if (op == KIR_MUL && (is_const_int(a, 0) || is_const_int(b, 0)))
            return kir_const_int(f, (enum kir_scalar)a->type.scalar, 0);
    }
    struct kir_node *n = new_node(f, op, compare || logic ? kir_scalar_type(KIR_BOOL) : a->type);
    n->arg[0] = a;
    n->arg[1] = b;
    return n;
}

struct kir_node *kir_unary(struct kir_func *f, enum kir_op op, struct kir_node *a)
{
    need(f, op_info[op].operands == 1 && op != KIR_CAST && op != KIR_BROADCAST, op,
         "not a unary operator");
    need(f, !a->type.pointer, op, "a pointer operand");
    if (op >= KIR_EXP && op <= KIR_FLOOR) /* (on vectors: FLOOR; the exponential is a kernel, vf_exp) */
        need(f, a->type.scalar == KIR_F32 && (a->type.lanes == 1 || op == KIR_FLOOR), op, "not f32, or a vector");
    if (op == KIR_NEG)
        need(f, a->type.lanes == 1, op, "a vector (subtract it from zero)");
    const bool reduce = op == KIR_REDUCE_ADD || op == KIR_REDUCE_MAX;
    if (op_info[op].form == VEC || reduce)
        need(f, a->type.lanes > 1 && a->type.scalar == KIR_F32, op, "not an f32 vector");
    if (op == KIR_NEG)
        a = promote(f, a);
    if (op == KIR_NEG && a->op == KIR_CONST && kir_is_integer(a->type))
        return kir_const_int(f, (enum kir_scalar)a->type.scalar, -a->ivalue);
    struct kir_node *n = new_node(f, op, reduce ? kir_scalar_type(KIR_F32) : a->type);
    n->arg[0] = a;
    return n;
}

struct kir_node *kir_fma(struct kir_func *f, struct kir_node *a, struct kir_node *b, struct kir_node *c)
{
    need(f, kir_type_equal(a->type, b->type) && kir_type_equal(a->type, c->type) && a->type.scalar == KIR_F32, KIR_FMA,
         "operands not of one f32 type");
    struct kir_node *n = new_node(f, KIR_FMA, a->type);
    n->arg[0] = a, n->arg[1] = b, n->arg[2] = c;
    return n;
}

struct kir_node *kir_dot4(struct kir_func *f, struct kir_node *acc, struct kir_node *a, struct kir_node *b, bool below_128)
{
    need(f, acc->type.scalar == KIR_I32 && acc->type.lanes > 1 && kir_type_equal(acc->type, a->type) &&
         kir_type_equal(acc->type, b->type), KIR_DOT4, "operands not of one i32 vector type");
    struct kir_node *n = new_node(f, KIR_DOT4, acc->type);
    n->arg[0] = acc, n->arg[1] = a, n->arg[2] = b;
    n->ivalue = below_128;
    return n;
}

struct kir_node *kir_select(struct kir_func *f, struct kir_node *cond, struct kir_node *a, struct kir_node *b)
{
    widen_pair(f, &a, &b);
    need(f, cond->type.scalar == KIR_BOOL && cond->type.lanes == 1 && kir_type_equal(a->type, b->type), KIR_SELECT,
         "condition not bool, or values of different types");
    struct kir_node *n = new_node(f, KIR_SELECT, a->type);
    n->arg[0] = cond, n->arg[1] = a, n->arg[2] = b;
    return n;
}

struct kir_node *kir_cast(struct kir_func *f, struct kir_type to, struct kir_node *a)
{
    need(f, !to.pointer && !a->type.pointer && to.lanes == a->type.lanes && to.scalar != KIR_VOID, KIR_CAST,
         "between pointers, void, or vectors of other lengths");
    const bool storage_from = a->type.scalar == KIR_F16 || a->type.scalar == KIR_BF16;
    const bool storage_to = to.scalar == KIR_F16 || to.scalar == KIR_BF16;
    need(f, (!storage_to || (a->type.scalar == KIR_F32 && to.lanes == 1)) && (!storage_from || to.scalar == KIR_F32), KIR_CAST,
         "to f16/bf16 from another type than a scalar f32, or from them to another type than f32 (they are storage "
         "types: rounded to nearest even when stored, widened when loaded)");
    need(f, to.scalar != KIR_BOOL && (a->type.scalar != KIR_BOOL || kir_is_integer(to)), KIR_CAST,
         "to bool (compare instead), or from bool to a float");
    if (kir_type_equal(to, a->type))
        return a;
    if (a->op == KIR_CONST && kir_is_integer(a->type) && kir_is_integer(to))
        return kir_const_int(f, (enum kir_scalar)to.scalar, a->ivalue);
    struct kir_node *n = new_node(f, KIR_CAST, to);
    n->arg[0] = a;
    return n;
}

static void check_index(struct kir_func *f, const struct kir_node *index, enum kir_op op)
{
    need(f, kir_is_integer(index->type) && index->type.lanes == 1, op, "index not an integer");
}

struct kir_node *kir_addr(struct kir_func *f, struct kir_node *pointer, struct kir_node *index)
{
    need(f, pointer->type.pointer, KIR_ADDR, "not a pointer");
    check_index(f, index, KIR_ADDR);
    if (is_const_int(index, 0))
        return pointer;
    if (pointer->op == KIR_ADDR) /* (p + i) + j = p + (i + j) */
        return kir_addr(f, pointer->arg[0], kir_binary(f, KIR_ADD, pointer->arg[1], index));
    struct kir_node *n = new_node(f, KIR_ADDR, pointer->type);
    n->arg[0] = pointer, n->arg[1] = index;
    return n;
}

struct kir_node *kir_load(struct kir_func *f, struct kir_node *pointer, struct kir_node *index, int lanes)
{
    need(f, pointer->type.pointer, KIR_LOAD, "not a pointer");
    check_index(f, index, KIR_LOAD);
    if (pointer->op == KIR_ADDR) /* (p + i)[j] = p[i + j] */
        return kir_load(f, pointer->arg[0], kir_binary(f, KIR_ADD, pointer->arg[1], index), lanes);
    struct kir_type type = pointer->type; /* what it points to: a value, or (a pointer field) a pointer */
    type.pointer--;
    type.lanes = (unsigned char)lanes;
    need(f, lanes == 1 || (!type.pointer && type.scalar != KIR_RECORD), KIR_LOAD, "a vector of pointers or records");
    need(f, type.pointer || (type.scalar != KIR_VOID && type.scalar != KIR_RECORD), KIR_LOAD, "through a void * or a record pointer");
    if (!type.pointer)
        type.readonly = false;
    struct kir_node *n = new_node(f, KIR_LOAD, type);
    n->arg[0] = pointer, n->arg[1] = index;
    return n;
}

struct kir_node *kir_broadcast(struct kir_func *f, struct kir_node *scalar, int lanes)
{
    need(f, scalar->type.lanes == 1 && !scalar->type.pointer && lanes > 1, KIR_BROADCAST, "not a scalar");
    struct kir_node *n = new_node(f, KIR_BROADCAST, kir_vector_type((enum kir_scalar)scalar->type.scalar, lanes));
    n->arg[0] = scalar;
    return n;
}

struct kir_node *kir_call(struct kir_func *f, int callee, int n, struct kir_node *const *args)
{
    const struct kir_module *m = f->module;
    need(f, callee >= 0 && callee < m->num_funcs, KIR_CALL, "no such function");
    const struct kir_func *g = m->funcs[callee];
    if (n != g->num_params)
        builder_error(f, "CALL: %s takes %d arguments, given %d", g->name, g->num_params, n);
    struct kir_node *call = new_node(f, KIR_CALL, g->result);
    call->var = callee;
    call->num_args = n;
    call->call_args = calloc((size_t)n + 1, sizeof *call->call_args);
    for (int i = 0; i < n; i++) {
        struct kir_node *a = args[i];
        const struct kir_type want = g->vars[i].type;
        if (kir_is_integer(a->type) && kir_is_integer(want))
            a = kir_cast(f, want, a);
        /* a pointer passes where a const one of its element type is expected */
        const bool to_const = a->type.pointer && want.pointer && want.readonly && a->type.scalar == want.scalar;
        if (!to_const && !kir_type_equal(a->type, want))
            builder_error(f, "CALL: argument %d of %s has the wrong type", i + 1, g->name);
        call->call_args[i] = a;
    }
    return call;
}

struct kir_node *kir_field(struct kir_func *f, struct kir_node *record, const char *name)
{
    const struct kir_type t = record->type;
    need(f, t.pointer == 1 && t.scalar == KIR_RECORD, KIR_FIELD, "not a pointer to a record");
    const struct kir_record *r = f->module->records[t.record];
    const int field = kir_record_field_index(r, name);
    if (field < 0)
        builder_error(f, "FIELD: struct %s has no field %s", r->name, name);
    struct kir_type type = kir_pointer_to(r->fields[field].type);
    type.readonly = type.readonly || t.readonly;
    struct kir_node *n = new_node(f, KIR_FIELD, type);
    n->arg[0] = record;
    n->var = field;
    return n;
}

struct kir_node *kir_global_ref(struct kir_func *f, int index)
{
    need(f, index >= 0 && index < f->module->num_globals, KIR_GLOBAL, "no such global");
    struct kir_type type = kir_pointer_to(f->module->globals[index]->type);
    type.readonly = true;
    struct kir_node *n = new_node(f, KIR_GLOBAL, type);
    n->var = index;
    return n;
}

struct kir_node *kir_pointer_cast(struct kir_func *f, struct kir_type to, struct kir_node *pointer)
{
    const struct kir_type from = pointer->type;
    need(f, to.pointer == 1 && from.pointer == 1 && (to.scalar == KIR_VOID || from.scalar == KIR_VOID) &&
                (from.readonly <= to.readonly), KIR_CAST, "not between a void * and a pointer (keeping const)");
    struct kir_node *n = new_node(f, KIR_CAST, to);
    n->arg[0] = pointer;
    return n;
}

/* ---- statements ------------------------------------------------------------------------------ */

static struct kir_node *append(struct kir_func *f, struct kir_node *s)
{
    if (f->depth == 0)
        builder_error(f, "statement after the function's end");
    *f->open_tail[f->depth - 1] = s;
    f->open_tail[f->depth - 1] = &s->next;
    return s;
}

static struct kir_node *statement(struct kir_func *f, enum kir_op op)
{
    return new_node(f, op, kir_scalar_type(KIR_VOID));
}

void kir_comment(struct kir_func *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(f->pending_comment);
    f->pending_comment = format_string(fmt, ap);
    va_end(ap);
}

static struct kir_node *append_commented(struct kir_func *f, struct kir_node *s)
{
    s->comment = f->pending_comment;
    f->pending_comment = NULL;
    return append(f, s);
}

struct kir_node *kir_decl(struct kir_func *f, const char *name, struct kir_node *init, unsigned flags)
{
    struct kir_node *var = new_var(f, name, init->type, flags, false);
    struct kir_node *s = statement(f, KIR_DECL);
    s->var = var->var;
    s->arg[0] = init;
    append_commented(f, s);
    return var;
}

struct kir_node *kir_array(struct kir_func *f, const char *name, enum kir_scalar element, int count)
{
    need(f, count > 0 && element != KIR_VOID, KIR_ARRAY, "no elements");
    struct kir_node *var = new_var(f, name, kir_pointer_type(element, false), KIR_CONSTANT, false);
    struct kir_node *s = statement(f, KIR_ARRAY);
    s->var = var->var;
    s->ivalue = count;
    append_commented(f, s);
    return var;
}

void kir_assign(struct kir_func *f, const struct kir_node *var, struct kir_node *value)
{
    need(f, var->op == KIR_VAR && !(f->vars[var->var].flags & KIR_CONSTANT), KIR_ASSIGN, "not an assignable variable");
    if (kir_is_integer(value->type) && kir_is_integer(var->type))
        value = kir_cast(f, var->type, value);
    need(f, kir_type_equal(var->type, value->type), KIR_ASSIGN, "value of another type");
    struct kir_node *s = statement(f, KIR_ASSIGN);
    s->var = var->var;
    s->arg[0] = value;
    append_commented(f, s);
}

void kir_store(struct kir_func *f, struct kir_node *pointer, struct kir_node *index, struct kir_node *value)
{
    need(f, pointer->type.pointer && !pointer->type.readonly, KIR_STORE, "not a writable pointer");
    check_index(f, index, KIR_STORE);
    if (pointer->op == KIR_ADDR) {
        index = kir_binary(f, KIR_ADD, pointer->arg[1], index);
        pointer = pointer->arg[0];
    }
    if (kir_is_integer(value->type) && kir_is_integer(kir_scalar_type((enum kir_scalar)pointer->type.scalar)) &&
        value->type.lanes == 1)
        value = kir_cast(f, kir_scalar_type((enum kir_scalar)pointer->type.scalar), value);
    need(f, value->type.scalar == pointer->type.scalar && !value->type.pointer && pointer->type.pointer == 1, KIR_STORE,
         "value of another type");
    struct kir_node *s = statement(f, KIR_STORE);
    s->arg[0] = pointer, s->arg[1] = index, s->arg[2] = value;
    append_commented(f, s);
}

void kir_eval(struct kir_func *f, struct kir_node *call)
{
    need(f, call->op == KIR_CALL, KIR_EVAL, "not a call");
    struct kir_node *s = statement(f, KIR_EVAL);
    s->arg[0] = call;
    append_commented(f, s);
}

void kir_return(struct kir_func *f, struct kir_node *value)
{
    struct kir_node *s = statement(f, KIR_RETURN);
    if (value && kir_is_integer(value->type) && kir_is_integer(f->result))
        value = kir_cast(f, f->result, value);
    need(f, value ? kir_type_equal(value->type, f->result) : f->result.scalar == KIR_VOID, KIR_RETURN,
         "value not of the function's type");
    s->arg[0] = value;
    append_commented(f, s);
}

void kir_break(struct kir_func *f) { append_commented(f, statement(f, KIR_BREAK)); }
void kir_continue(struct kir_func *f) { append_commented(f, statement(f, KIR_CONTINUE)); }
void kir_barrier(struct kir_func *f) { append_commented(f, statement(f, KIR_BARRIER)); }

void kir_copy(struct kir_func *f, struct kir_node *dst, struct kir_node *src, struct kir_node *count)
{
    need(f, dst->type.pointer && !dst->type.readonly && src->type.pointer && src->type.scalar == dst->type.scalar,
         KIR_COPY, "not two pointers to one element type");
    struct kir_node *s = statement(f, KIR_COPY);
    check_index(f, count, KIR_COPY);
    s->arg[0] = dst, s->arg[1] = src, s->arg[2] = count;
    append_commented(f, s);
}

void kir_prefetch(struct kir_func *f, struct kir_node *address, bool for_write)
{
    need(f, address->type.pointer, KIR_PREFETCH, "not a pointer");
    struct kir_node *s = statement(f, KIR_PREFETCH);
    s->arg[0] = address;
    s->ivalue = for_write;
    append_commented(f, s);
}

/* The statements appended from here go into owner's body, until kir_end. */
static void open_list(struct kir_func *f, struct kir_node *owner)
{
    if (f->depth == (int)(sizeof f->open_tail / sizeof f->open_tail[0]))
        builder_error(f, "nested too deeply");
    f->open_node[f->depth] = owner;
    f->open_tail[f->depth++] = &owner->body;
}

struct kir_node *kir_for(struct kir_func *f, const char *name, struct kir_node *from, struct kir_node *to, int64_t step,
                         unsigned flags)
{
    widen_pair(f, &from, &to);
    need(f, kir_is_integer(from->type) && kir_type_equal(from->type, to->type) && from->type.lanes == 1 && step > 0,
         KIR_FOR, "bounds not integers of one type, or a step below 1");
    struct kir_node *var = new_var(f, name, from->type, KIR_CONSTANT, false); /* (only the loop steps it) */
    struct kir_node *s = statement(f, KIR_FOR);
    s->var = var->var;
    s->arg[0] = from, s->arg[1] = to;
    s->step = step;
    s->flags = flags;
    append_commented(f, s);
    open_list(f, s);
    return var;
}

void kir_if(struct kir_func *f, struct kir_node *cond)
{
    need(f, cond->type.scalar == KIR_BOOL && cond->type.lanes == 1, KIR_IF, "condition not bool");
    struct kir_node *s = statement(f, KIR_IF);
    s->arg[0] = cond;
    append_commented(f, s);
    open_list(f, s);
}

void kir_else(struct kir_func *f)
{
    struct kir_node *owner = f->depth > 1 ? f->open_node[f->depth - 1] : NULL;
    need(f, owner && owner->op == KIR_IF && f->open_tail[f->depth - 1] != &owner->otherwise && !owner->otherwise, KIR_IF,
         "else without an open if");
    f->open_tail[f->depth - 1] = &owner->otherwise;
}

void kir_block(struct kir_func *f) { open_list(f, append_commented(f, statement(f, KIR_BLOCK))); }
void kir_single(struct kir_func *f) { open_list(f, append_commented(f, statement(f, KIR_SINGLE))); }
void kir_parallel(struct kir_func *f) { open_list(f, append_commented(f, statement(f, KIR_REGION))); }

void kir_end(struct kir_func *f)
{
    if (f->depth <= 1)
        builder_error(f, "kir_end with nothing open");
    f->depth--;
}
