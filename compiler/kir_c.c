/* kir_c.c: the C back end's printer of the kernel IR (kir.h). Scalars print as C expressions
 * (parentheses only where C's precedence needs them), vectors as calls of the target's vector
 * vocabulary (vf_load, vf_fma, ...: target.c writes its definitions), parallel loops as OpenMP
 * worksharing inside the caller's parallel region, barriers as `omp barrier`. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "emit_internal.h"
#include "kir.h"

static const struct {
    const char *c;
    int precedence;
} spelling[] = {
#define KIR_SPELLING(name, form, operands, c, precedence) {c, precedence},
    KIR_OPS(KIR_SPELLING)
#undef KIR_SPELLING
};

enum { PRECEDENCE_UNARY = 14, PRECEDENCE_POSTFIX = 16 };

/* The shortest C float literal that reads back as exactly `value` ("1.0f", "1e-08f", "0.797884583f"). */
void float_literal(char *buf, size_t size, float value)
{
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, size, "%.*g", digits, (double)value);
        if (strtof(buf, NULL) == value)
            break;
    }
    snprintf(buf + strlen(buf), size - strlen(buf), "%sf", strpbrk(buf, ".e") ? "" : ".0");
}

struct printer {
    FILE *out;
    const struct kir_module *m;
    const struct kir_func *f;
};

static _Noreturn void unprintable(const struct printer *p, const char *what)
{
    fprintf(stderr, "kilnc: internal error: kernel %s: the C back end cannot print %s\n", p->f->name, what);
    exit(2);
}

static const char *c_type(const struct printer *p, struct kir_type t)
{
    static const char *const names[] = {"void", "int", "int8_t", "uint8_t", "int16_t", "int", "int64_t", "uint16_t",
                                        "uint16_t", "float", "double", "struct"};
    static char record[80]; /* (one at a time: printed before the next call) */
    if (t.scalar == KIR_RECORD) {
        snprintf(record, sizeof record, "struct %s", p->m->records[t.record]->name);
        return record;
    }
    if (t.lanes > 1) {
        if ((t.scalar != KIR_F32 && t.scalar != KIR_I32) || t.lanes != p->m->width)
            unprintable(p, "a vector type other than the target's f32 and i32 vectors");
        return t.scalar == KIR_F32 ? "vf" : "vi";
    }
    return names[t.scalar];
}

/* `const float *restrict name`, `int T`, `vf x` */
static void declaration(const struct printer *p, const struct kir_var *v)
{
    struct kir_type element = v->type;
    element.pointer = 0;
    if (v->type.pointer)
        fprintf(p->out, "%s%s %.*s%s%s", v->type.readonly ? "const " : "", c_type(p, element), v->type.pointer, "**",
                v->flags & KIR_RESTRICT ? "restrict " : "", v->name);
    else
        fprintf(p->out, "%s%s %s", v->flags & KIR_CONSTANT ? "const " : "", c_type(p, v->type), v->name);
}

static void expr(const struct printer *p, const struct kir_node *n, int context);

/* Integer widenings C makes by itself go unprinted: an index (pointer arithmetic takes any
   integer), and an operand of arithmetic whose other operand is already a 64-bit value. */
static bool is_widening(const struct kir_node *n)
{
    static const int bits[] = {[KIR_I8] = 8, [KIR_U8] = 8, [KIR_I16] = 16, [KIR_I32] = 32, [KIR_I64] = 64};
    return n->op == KIR_CAST && kir_is_integer(n->type) && kir_is_integer(n->arg[0]->type) &&
           bits[n->type.scalar] > bits[n->arg[0]->type.scalar];
}

/* prints as a 64-bit C expression of itself: not a literal (C types small ones as int), and a
   choice between values only when one of them is 64-bit as printed */
static bool printed_wide(const struct kir_node *n)
{
    if (n->type.scalar != KIR_I64 || n->type.lanes != 1 || n->op == KIR_CONST || is_widening(n))
        return false;
    if (n->op == KIR_SELECT)
        return printed_wide(n->arg[1]) || is_widening(n->arg[1]) || printed_wide(n->arg[2]) || is_widening(n->arg[2]);
    if (n->op == KIR_MAX || n->op == KIR_MIN)
        return printed_wide(n->arg[0]) || is_widening(n->arg[0]) || printed_wide(n->arg[1]) || is_widening(n->arg[1]);
    return true;
}

static const struct kir_node *index_of(const struct kir_node *index)
{
    return is_widening(index) ? index->arg[0] : index;
}

static void constant(const struct printer *p, const struct kir_node *n, int context)
{
    if (n->type.pointer)
        fprintf(p->out, "NULL");
    else if (kir_is_float(n->type) && isinf(n->fvalue)) {
        fprintf(p->out, n->fvalue < 0 ? (context >= PRECEDENCE_UNARY ? "(-INFINITY)" : "-INFINITY") : "INFINITY");
    } else if (kir_is_float(n->type)) {
        char buf[48];
        float_literal(buf, sizeof buf, (float)n->fvalue);
        fprintf(p->out, context >= PRECEDENCE_UNARY && buf[0] == '-' ? "(%s)" : "%s", buf);
    } else {
        fprintf(p->out, context >= PRECEDENCE_UNARY && n->ivalue < 0 ? "(%lld)" : "%lld", (long long)n->ivalue);
    }
}

/* A vocabulary call vf_NAME(args), or vi_NAME(args) on i32 vectors */
static void arguments(const struct printer *p, struct kir_node *const *args, int n);

static void vector_call(const struct printer *p, const char *name, const struct kir_node *n, int operands)
{
    fprintf(p->out, "%s_%s", n->type.scalar == KIR_I32 ? "vi" : "vf", name);
    arguments(p, n->arg, operands);
}

/* pointer + index, the index at additive precedence: pointer arithmetic reassociates */
static void address(const struct printer *p, const struct kir_node *pointer, const struct kir_node *index, int context)
{
    const bool zero = index->op == KIR_CONST && index->ivalue == 0;
    if (zero) {
        expr(p, pointer, context);
        return;
    }
    if (context > 12)
        fprintf(p->out, "(");
    expr(p, pointer, 12);
    fprintf(p->out, " + ");
    expr(p, index_of(index), 12);
    if (context > 12)
        fprintf(p->out, ")");
}

/* The printer's widening of bf16 or f16 to f32: kiln_format.h's on a scalar, the vocabulary's
   vf_load_bf16 / vf_load_f16 on a vector of them loaded from memory. */
static const char *widening_name(const struct kir_node *n)
{
    return n->arg[0]->type.scalar == KIR_BF16 ? "bf16" : "f16";
}

static void vector_expr(const struct printer *p, const struct kir_node *n)
{
    static const char *const names[KIR_NUM_OPS] = {[KIR_ADD] = "add", [KIR_SUB] = "sub", [KIR_MUL] = "mul",
                                                   [KIR_DIV] = "div", [KIR_MAX] = "max", [KIR_MIN] = "min",
                                                   [KIR_FMA] = "fma", [KIR_FLOOR] = "floor", [KIR_BAND] = "and"};
    switch (n->op) {
    case KIR_LOAD:
        fprintf(p->out, "%s_load(", n->type.scalar == KIR_I32 ? "vi" : "vf");
        address(p, n->arg[0], n->arg[1], 0);
        fprintf(p->out, ")");
        return;
    case KIR_SHR: /* (the vocabulary's shift takes a constant) */
        fprintf(p->out, "vi_shr(");
        expr(p, n->arg[0], 0);
        fprintf(p->out, ", %lld)", (long long)n->arg[1]->arg[0]->ivalue);
        return;
    case KIR_DOT4:
        vector_call(p, n->ivalue ? "dot4_u7" : "dot4", n, 3);
        return;
    case KIR_CAST: /* (i32 lanes to f32; or of bf16 or f16 lanes: a widening load) */
        if (n->arg[0]->type.scalar == KIR_I32) {
            fprintf(p->out, "vf_from_vi(");
            expr(p, n->arg[0], 0);
            fprintf(p->out, ")");
            return;
        }
        if (n->arg[0]->op != KIR_LOAD || (n->arg[0]->type.scalar != KIR_BF16 && n->arg[0]->type.scalar != KIR_F16))
            unprintable(p, "a vector CAST other than i32 lanes, or bf16/f16 lanes loaded from memory");
        fprintf(p->out, "vf_load_%s(", widening_name(n));
        address(p, n->arg[0]->arg[0], n->arg[0]->arg[1], 0);
        fprintf(p->out, ")");
        return;
    case KIR_BROADCAST:
        if (n->type.scalar == KIR_F32 && n->arg[0]->op == KIR_CONST && n->arg[0]->fvalue == 0 && !signbit(n->arg[0]->fvalue))
            fprintf(p->out, "vf_zero()");
        else
            vector_call(p, "set1", n, 1);
        return;
    case KIR_SWAP_PAIRS:
    case KIR_POW2I:
        vector_call(p, spelling[n->op].c, n, 1);
        return;
    default:
        if (!names[n->op])
            unprintable(p, kir_op_name(n->op));
        vector_call(p, names[n->op], n, n->op == KIR_FMA ? 3 : n->op == KIR_FLOOR ? 1 : 2);
    }
}

static bool is_comparison(const struct kir_node *n) { return n->op >= KIR_LT && n->op <= KIR_NE; }

/* The context an operand of a binary operator is printed in: a comparison inside a comparison, and
   && inside ||, in parentheses (as -Wparentheses asks) */
static int operand_context(const struct kir_node *n, const struct kir_node *operand, int precedence)
{
    if ((is_comparison(n) && is_comparison(operand)) || (n->op == KIR_OR && operand->op == KIR_AND) ||
        ((n->op == KIR_BAND || n->op == KIR_SHR) && spelling[operand->op].precedence)) /* (and arithmetic in & or >>) */
        return PRECEDENCE_POSTFIX;
    return precedence;
}

/* Prints n; parenthesized when it binds more loosely than `context` requires. */
/* (args[0], ..., args[n - 1]) */
static void arguments(const struct printer *p, struct kir_node *const *args, int n)
{
    fprintf(p->out, "(");
    for (int i = 0; i < n; i++) {
        fprintf(p->out, "%s", i ? ", " : "");
        expr(p, args[i], 0);
    }
    fprintf(p->out, ")");
}

/* `text operand`: a cast or a minus; the operand in parentheses unless it binds tighter than a
   prefix operator (never `--x`) */
static void prefix(const struct printer *p, const char *text, const struct kir_node *operand, int context)
{
    if (context > PRECEDENCE_UNARY)
        fprintf(p->out, "(");
    fprintf(p->out, "%s", text);
    expr(p, operand, PRECEDENCE_UNARY + 1);
    if (context > PRECEDENCE_UNARY)
        fprintf(p->out, ")");
}

/* cond ? a : b, the condition a node or `lhs relation rhs` */
static void conditional(const struct printer *p, const struct kir_node *cond, const struct kir_node *lhs,
                        const char *relation, const struct kir_node *rhs, const struct kir_node *a,
                        const struct kir_node *b, int context)
{
    if (context > 3)
        fprintf(p->out, "(");
    if (cond) {
        expr(p, cond, 4);
    } else {
        expr(p, lhs, 11);
        fprintf(p->out, " %s ", relation);
        expr(p, rhs, 11);
    }
    fprintf(p->out, " ? ");
    expr(p, a, 4);
    fprintf(p->out, " : ");
    expr(p, b, 3);
    if (context > 3)
        fprintf(p->out, ")");
}

/* a op b, left-associative: the right operand binds one step tighter */
static void infix(const struct printer *p, const struct kir_node *n, int context)
{
    const int precedence = spelling[n->op].precedence;
    const struct kir_node *a = n->arg[0], *b = n->arg[1];
    if (is_widening(a) && printed_wide(b))
        a = a->arg[0];
    else if (is_widening(b) && (printed_wide(a) || is_widening(a)))
        b = b->arg[0];
    if (context > precedence)
        fprintf(p->out, "(");
    expr(p, a, operand_context(n, a, precedence));
    fprintf(p->out, " %s ", spelling[n->op].c);
    expr(p, b, operand_context(n, b, precedence + 1));
    if (context > precedence)
        fprintf(p->out, ")");
}

/* A FIELD or GLOBAL node: whether what it names is an array (C: it decays to a pointer). */
static bool is_array(const struct printer *p, const struct kir_node *n)
{
    if (n->op == KIR_GLOBAL)
        return p->m->globals[n->var]->count > 0;
    return p->m->records[n->arg[0]->type.record]->fields[n->var].count > 0;
}

/* pointer[index] where the pointer is a single field or global and the index 0: the member itself */
static bool is_single(const struct printer *p, const struct kir_node *pointer, const struct kir_node *index)
{
    return (pointer->op == KIR_FIELD || pointer->op == KIR_GLOBAL) && !is_array(p, pointer) && index->op == KIR_CONST &&
           index->ivalue == 0;
}

/* s->name, or a global's name */
static void member(const struct printer *p, const struct kir_node *n)
{
    if (n->op == KIR_GLOBAL) {
        fprintf(p->out, "%s", p->m->globals[n->var]->name);
        return;
    }
    expr(p, n->arg[0], PRECEDENCE_POSTFIX);
    fprintf(p->out, "->%s", p->m->records[n->arg[0]->type.record]->fields[n->var].name);
}

/* Prints n; parenthesized when it binds more loosely than `context` requires. */
static void expr(const struct printer *p, const struct kir_node *n, int context)
{
    if (n->type.lanes > 1 && n->op != KIR_VAR && n->op != KIR_CALL && n->op != KIR_SELECT) {
        vector_expr(p, n);
        return;
    }
    char text[256];
    switch (n->op) {
    case KIR_CONST:
        constant(p, n, context);
        return;
    case KIR_VAR:
        fprintf(p->out, "%s", p->f->vars[n->var].name);
        return;
    case KIR_REDUCE_ADD:
    case KIR_REDUCE_MAX:
        fprintf(p->out, "vf_%s", spelling[n->op].c);
        arguments(p, n->arg, 1);
        return;
    case KIR_ADDR:
        address(p, n->arg[0], n->arg[1], context);
        return;
    case KIR_FIELD: /* an array field decays to its first element's address; a single one is &s->x */
    case KIR_GLOBAL:
        if (is_array(p, n)) {
            member(p, n);
        } else {
            fprintf(p->out, context > PRECEDENCE_UNARY ? "(&" : "&");
            member(p, n);
            fprintf(p->out, context > PRECEDENCE_UNARY ? ")" : "");
        }
        return;
    case KIR_LOAD:
        if (is_single(p, n->arg[0], n->arg[1])) { /* s->x rather than (&s->x)[0] */
            member(p, n->arg[0]);
            return;
        }
        expr(p, n->arg[0], PRECEDENCE_POSTFIX);
        fprintf(p->out, "[");
        expr(p, index_of(n->arg[1]), 0);
        fprintf(p->out, "]");
        return;
    case KIR_CAST:
        if (n->type.pointer) { /* void * to and from other pointers: implicit in C, but from one pointer
                                   type to another through void * (a cast of a cast): explicit */
            const struct kir_node *inner = n->arg[0];
            if (n->type.scalar != KIR_VOID && inner->op == KIR_CAST && inner->type.pointer && inner->type.scalar == KIR_VOID) {
                struct kir_type element = n->type;
                element.pointer = 0;
                snprintf(text, sizeof text, "(%s%s *)", n->type.readonly ? "const " : "", c_type(p, element));
                prefix(p, text, inner->arg[0], context);
                return;
            }
            expr(p, n->arg[0], context);
            return;
        }
        if (n->arg[0]->type.scalar == KIR_BF16 || n->arg[0]->type.scalar == KIR_F16) {
            fprintf(p->out, "kiln_f32_from_%s", widening_name(n));
            arguments(p, n->arg, 1);
            return;
        }
        if (n->type.scalar == KIR_BF16 || n->type.scalar == KIR_F16) { /* (rounded to nearest even) */
            fprintf(p->out, "kiln_%s_from_f32", n->type.scalar == KIR_BF16 ? "bf16" : "f16");
            arguments(p, n->arg, 1);
            return;
        }
        snprintf(text, sizeof text, "(%s)", c_type(p, n->type));
        prefix(p, text, n->arg[0], context);
        return;
    case KIR_NEG:
        prefix(p, "-", n->arg[0], context);
        return;
    case KIR_MAX: /* a > b ? a : b, as the vocabulary's max: b where either is NaN */
    case KIR_MIN:
        conditional(p, NULL, n->arg[0], n->op == KIR_MAX ? ">" : "<", n->arg[1], n->arg[0], n->arg[1], context);
        return;
    case KIR_SELECT:
        conditional(p, n->arg[0], NULL, NULL, NULL, n->arg[1], n->arg[2], context);
        return;
    case KIR_CALL:
        fprintf(p->out, "%s", kir_symbol(p->m, n->var, text, sizeof text));
        arguments(p, n->call_args, n->num_args);
        return;
    default:
        break;
    }
    if (spelling[n->op].precedence) {
        infix(p, n, context);
    } else if (spelling[n->op].c[0]) { /* a libm function */
        fprintf(p->out, "%s", spelling[n->op].c);
        arguments(p, n->arg, n->op == KIR_FMA ? 3 : 1);
    } else {
        unprintable(p, kir_op_name(n->op));
    }
}

static void statements(const struct printer *p, const struct kir_node *s, int indent);

/* A list of one uncommented block: the block's statements, whose braces are the list's */
static const struct kir_node *unwrap(const struct kir_node *body)
{
    return body && !body->next && body->op == KIR_BLOCK && !body->comment ? body->body : body;
}

static bool needs_braces(const struct kir_node *body)
{
    body = unwrap(body);
    return !body || body->next || body->comment || body->op == KIR_DECL || body->op == KIR_ARRAY || body->op == KIR_IF ||
           body->op == KIR_BARRIER;
}

/* A nested list: braces unless it is one plain statement; `tail` is printed after the closing brace. */
static void nested(const struct printer *p, const struct kir_node *body, int indent, bool same_line_brace)
{
    if (needs_braces(body)) {
        body = unwrap(body);
        fprintf(p->out, "%s{\n", same_line_brace ? " " : "");
        statements(p, body, indent + 1);
        fprintf(p->out, "%*s}", 4 * indent, "");
    } else {
        fprintf(p->out, "\n");
        statements(p, unwrap(body), indent + 1);
    }
}

/* target = value, or target op= y where value is target op y; target is printed by the caller */
static void assignment(const struct printer *p, const struct kir_node *value, bool reads_target)
{
    const bool compound = reads_target && value->type.lanes == 1 && (value->op == KIR_ADD || value->op == KIR_SUB ||
                                                                     value->op == KIR_MUL || value->op == KIR_DIV);
    fprintf(p->out, compound ? " %s= " : " = ", spelling[value->op].c);
    expr(p, compound ? value->arg[1] : value, 0);
    fprintf(p->out, ";\n");
}

static void store(const struct printer *p, const struct kir_node *s)
{
    if (s->arg[2]->type.lanes > 1) {
        fprintf(p->out, "%s_store(", s->arg[2]->type.scalar == KIR_I32 ? "vi" : "vf");
        address(p, s->arg[0], s->arg[1], 0);
        fprintf(p->out, ", ");
        expr(p, s->arg[2], 0);
        fprintf(p->out, ");\n");
        return;
    }
    if (is_single(p, s->arg[0], s->arg[1])) {
        member(p, s->arg[0]);
    } else {
        expr(p, s->arg[0], PRECEDENCE_POSTFIX);
        fprintf(p->out, "[");
        expr(p, index_of(s->arg[1]), 0);
        fprintf(p->out, "]");
    }
    const struct kir_node *first = s->arg[2]->arg[0]; /* p[i] = p[i] op y prints as p[i] op= y */
    assignment(p, s->arg[2], first && first->op == KIR_LOAD && first->arg[0] == s->arg[0] && first->arg[1] == s->arg[1]);
}

static void if_statement(const struct printer *p, const struct kir_node *s, int indent)
{
    fprintf(p->out, "%*sif (", 4 * indent, "");
    expr(p, s->arg[0], 0);
    fprintf(p->out, ")");
    nested(p, s->body, indent, true);
    if (s->otherwise) {
        fprintf(p->out, "%s%*selse", needs_braces(s->body) ? " " : "", needs_braces(s->body) ? 0 : 4 * indent, "");
        nested(p, s->otherwise, indent, true);
    }
    if (needs_braces(s->otherwise ? s->otherwise : s->body))
        fprintf(p->out, "\n");
}

/* A parallel loop is OpenMP's worksharing loop, in the caller's parallel region */
static void for_statement(const struct printer *p, const struct kir_node *s, int indent)
{
    const struct kir_var *v = &p->f->vars[s->var];
    if (s->flags & KIR_PARALLEL)
        fprintf(p->out, "%*s#pragma omp for schedule(%s)%s\n", 4 * indent, "", s->flags & KIR_BALANCED ? "guided" : "static",
                s->flags & KIR_NOWAIT ? " nowait" : "");
    fprintf(p->out, "%*sfor (%s %s = ", 4 * indent, "", c_type(p, v->type), v->name);
    expr(p, s->arg[0], 0);
    fprintf(p->out, "; %s < ", v->name);
    expr(p, s->arg[1], 11);
    if (s->step == 1)
        fprintf(p->out, "; %s++)", v->name);
    else
        fprintf(p->out, "; %s += %lld)", v->name, (long long)s->step);
    nested(p, s->body, indent, true);
    if (needs_braces(s->body))
        fprintf(p->out, "\n");
}

static void statement(const struct printer *p, const struct kir_node *s, int indent)
{
    FILE *out = p->out;
    const int pad = 4 * indent;
    if (s->comment)
        fprintf(out, "%*s/* %s */\n", pad, "", s->comment);
    if (s->op != KIR_IF && s->op != KIR_FOR && s->op != KIR_BLOCK && s->op != KIR_BARRIER && s->op != KIR_SINGLE &&
        s->op != KIR_REGION)
        fprintf(out, "%*s", pad, "");
    const struct kir_var *v = s->var >= 0 ? &p->f->vars[s->var] : NULL;
    switch (s->op) {
    case KIR_DECL:
        declaration(p, v);
        assignment(p, s->arg[0], false);
        return;
    case KIR_ARRAY:
        fprintf(out, "%s %s[%lld];\n", c_type(p, kir_scalar_type((enum kir_scalar)v->type.scalar)), v->name, (long long)s->ivalue);
        return;
    case KIR_ASSIGN: /* x = x op y prints as x op= y */
        fprintf(out, "%s", v->name);
        assignment(p, s->arg[0], s->arg[0]->arg[0] && s->arg[0]->arg[0]->op == KIR_VAR && s->arg[0]->arg[0]->var == s->var);
        return;
    case KIR_STORE:
        store(p, s);
        return;
    case KIR_EVAL:
        expr(p, s->arg[0], 0);
        fprintf(out, ";\n");
        return;
    case KIR_RETURN:
        fprintf(out, "return%s", s->arg[0] ? " " : "");
        if (s->arg[0])
            expr(p, s->arg[0], 0);
        fprintf(out, ";\n");
        return;
    case KIR_BREAK:
    case KIR_CONTINUE:
        fprintf(out, "%s;\n", s->op == KIR_BREAK ? "break" : "continue");
        return;
    case KIR_BARRIER:
        fprintf(out, "%*s#pragma omp barrier\n", pad, "");
        return;
    case KIR_COPY:
        fprintf(out, "memcpy(");
        expr(p, s->arg[0], 0);
        fprintf(out, ", ");
        expr(p, s->arg[1], 0);
        fprintf(out, ", ");
        expr(p, s->arg[2], 13);
        fprintf(out, " * sizeof(%s));\n", c_type(p, kir_scalar_type((enum kir_scalar)s->arg[0]->type.scalar)));
        return;
    case KIR_PREFETCH:
        fprintf(out, "__builtin_prefetch(");
        expr(p, s->arg[0], 0);
        fprintf(out, ", %d, %d);\n", (int)s->ivalue, s->ivalue ? 3 : 2);
        return;
    case KIR_SINGLE:
    case KIR_REGION:
    case KIR_BLOCK:
        if (s->op != KIR_BLOCK)
            fprintf(out, "%*s#pragma omp %s\n", pad, "", s->op == KIR_SINGLE ? "single" : "parallel");
        fprintf(out, "%*s{\n", pad, "");
        statements(p, s->body, indent + 1);
        fprintf(out, "%*s}\n", pad, "");
        return;
    case KIR_IF:
        if_statement(p, s, indent);
        return;
    case KIR_FOR:
        for_statement(p, s, indent);
        return;
    default:
        unprintable(p, kir_op_name(s->op));
    }
}

static void statements(const struct printer *p, const struct kir_node *s, int indent)
{
    for (; s; s = s->next)
        statement(p, s, indent);
}

/* `static void name(params)`, the parameters wrapped onto a second line past 120 columns */
static void signature(const struct printer *p, int index)
{
    const struct kir_func *f = p->f;
    char symbol[256];
    const bool visible = kir_visible(p->m, index);
    kir_symbol(p->m, index, symbol, sizeof symbol);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    const struct printer into = {.out = out, .m = p->m, .f = f};
    fprintf(out, "%s%s %s(", visible ? "" : f->flags & KIR_INLINE ? "static inline " : "static ", c_type(p, f->result), symbol);
    long line_start = 0;
    for (int i = 0; i < f->num_params; i++) {
        const long before = ftell(out);
        if (i)
            fprintf(out, ", ");
        declaration(&into, &f->vars[i]);
        if (ftell(out) - line_start > 118 && i) { /* the parameter onto a new line instead */
            fseek(out, before, SEEK_SET);
            fprintf(out, ",\n    ");
            line_start = ftell(out) - 4;
            declaration(&into, &f->vars[i]);
        }
    }
    fprintf(out, "%s)", f->num_params ? "" : "void");
    fclose(out);
    fputs(text, p->out);
    free(text);
}

void kir_print_c_declaration(FILE *out, const struct kir_module *m, int index)
{
    const struct printer p = {.out = out, .m = m, .f = m->funcs[index]};
    signature(&p, index);
    fprintf(out, ";\n");
}

/* Whether variable `var` occurs in the tree or statement list at n. */
static bool uses(const struct kir_node *n, int var)
{
    for (; n; n = n->next) {
        if ((n->op == KIR_VAR || n->op == KIR_ASSIGN) && n->var == var)
            return true;
        for (int i = 0; i < 3; i++)
            if (n->arg[i] && uses(n->arg[i], var))
                return true;
        for (int i = 0; i < n->num_args; i++)
            if (uses(n->call_args[i], var))
                return true;
        if (uses(n->body, var) || uses(n->otherwise, var))
            return true;
    }
    return false;
}

void kir_print_c_function(FILE *out, const struct kir_module *m, int index)
{
    const struct printer p = {.out = out, .m = m, .f = m->funcs[index]};
    if (p.f->flags & KIR_EXTERN) /* (a header declares it) */
        return;
    if (p.f->comment)
        fprintf(out, "/* %s */\n", p.f->comment);
    signature(&p, index);
    fprintf(out, "\n{\n");
    for (int i = 0; i < p.f->num_params; i++) /* (a parameter this specialization does not need) */
        if (!uses(p.f->body, i))
            fprintf(out, "    (void)%s;\n", p.f->vars[i].name);
    statements(&p, p.f->body, 1);
    fprintf(out, "}\n\n");
}

/* ---- records and globals --------------------------------------------------------------------- */

/* `const float *name[4]`: a field or global of `count` elements (0: one) */
static void member_declaration(const struct printer *p, struct kir_type type, const char *name, int64_t count)
{
    struct kir_type element = type;
    element.pointer = 0;
    fprintf(p->out, "%s%s %.*s%s", type.readonly ? "const " : "", c_type(p, element), type.pointer, "**", name);
    if (count)
        fprintf(p->out, "[%lld]", (long long)count);
}

void kir_print_c_record(FILE *out, const struct kir_module *m, int index)
{
    const struct kir_record *r = m->records[index];
    if (!r->external) {
        if (r->comment)
            fprintf(out, "/* %s */\n", r->comment);
        fprintf(out, "struct %s {\n", r->name);
        for (int i = 0; i < r->num_fields; i++) {
            const struct kir_field *fl = &r->fields[i];
            char *text = NULL;
            size_t size = 0;
            FILE *decl = open_memstream(&text, &size);
            const struct printer into = {.out = decl, .m = m};
            if (fl->align > kir_type_align(m, fl->type))
                fprintf(decl, "_Alignas(%d) ", fl->align);
            member_declaration(&into, fl->type, fl->name, fl->count);
            fprintf(decl, ";");
            fclose(decl);
            if (fl->comment)
                fprintf(out, "    %-48s /* %s */\n", text, fl->comment);
            else
                fprintf(out, "    %s\n", text);
            free(text);
        }
        fprintf(out, "};\n");
    }
    fprintf(out, "_Static_assert(sizeof(struct %s) == %lld, \"struct %s: the layout kilnc computed\");\n\n", r->name,
            (long long)r->size, r->name);
}

static void string_literal(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++)
        fprintf(out, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
    fputc('"', out);
}

/* One initial value, for an element of type `type` */
static void init_value(const struct printer *p, const struct kir_init *v, struct kir_type type)
{
    char buf[256];
    const struct kir_module *m = p->m;
    switch (v->kind) {
    case KIR_INIT_INT:
        fprintf(p->out, "%lld%s", (long long)v->ivalue, v->ivalue > INT32_MAX || v->ivalue < INT32_MIN ? "LL" : "");
        return;
    case KIR_INIT_FLOAT:
        if (type.scalar == KIR_F64) {
            fprintf(p->out, "%.17g", v->fvalue);
        } else {
            float_literal(buf, sizeof buf, (float)v->fvalue);
            fprintf(p->out, "%s", buf);
        }
        return;
    case KIR_INIT_STRING:
        string_literal(p->out, v->string);
        return;
    case KIR_INIT_FUNCTION:
        fprintf(p->out, "%s", kir_symbol(m, v->index, buf, sizeof buf));
        return;
    case KIR_INIT_GLOBAL:
        fprintf(p->out, "%s", m->globals[v->index]->name);
        return;
    case KIR_INIT_SIZEOF:
        fprintf(p->out, "sizeof(struct %s)", m->records[v->index]->name);
        return;
    case KIR_INIT_OFFSETOF: {
        const struct kir_field *fl = &m->records[v->index]->fields[v->field];
        fprintf(p->out, "offsetof(struct %s, %s)", m->records[v->index]->name, fl->name);
        if (v->ivalue) {
            fprintf(p->out, " + %lld * sizeof(", (long long)v->ivalue);
            member_declaration(p, fl->type, "", 0);
            fprintf(p->out, ")");
        }
        return;
    }
    }
}

/* One record's values from *next on: `{a, {b, c}, d}`, or with `designated` one `.field = ` a line. */
static void record_values(const struct printer *p, const struct kir_record *r, const struct kir_init **next, bool designated)
{
    fprintf(p->out, designated ? "{\n" : "{");
    for (int i = 0; i < r->num_fields; i++) {
        const struct kir_field *fl = &r->fields[i];
        if (designated)
            fprintf(p->out, "    .%s = ", fl->name);
        else if (i)
            fprintf(p->out, ", ");
        fprintf(p->out, fl->count ? "{" : "");
        for (int64_t k = 0; k < (fl->count ? fl->count : 1); k++) {
            fprintf(p->out, k ? ", " : "");
            init_value(p, (*next)++, fl->type);
        }
        fprintf(p->out, fl->count ? "}" : "");
        if (designated)
            fprintf(p->out, ",\n");
    }
    fprintf(p->out, "}");
}

void kir_print_c_global(FILE *out, const struct kir_module *m, int index)
{
    const struct kir_global *g = m->globals[index];
    const struct printer p = {.out = out, .m = m};
    if (g->num_values != kir_global_values(m, g)) {
        fprintf(stderr, "kilnc: internal error: global %s has %d of its %d values\n", g->name, g->num_values, kir_global_values(m, g));
        exit(2);
    }
    if (g->comment)
        fprintf(out, "/* %s */\n", g->comment);
    fprintf(out, "%sconst ", g->exported ? "" : "static ");
    member_declaration(&p, g->type, g->name, g->count);
    fprintf(out, " = ");
    const struct kir_init *next = g->values;
    if (g->type.scalar == KIR_RECORD && !g->count) {
        record_values(&p, m->records[g->type.record], &next, true);
    } else if (g->type.scalar == KIR_RECORD) {
        fprintf(out, "{\n");
        for (int64_t i = 0; i < g->count; i++) {
            fprintf(out, "    ");
            record_values(&p, m->records[g->type.record], &next, false);
            fprintf(out, ",\n");
        }
        fprintf(out, "}");
    } else { /* scalars, six a line; f32 in hexadecimal (exact) */
        fprintf(out, "{");
        for (int i = 0; i < g->num_values; i++) {
            fprintf(out, "%s", i == 0 ? "\n    " : i % 6 ? ", " : ",\n    ");
            if (g->values[i].kind == KIR_INIT_FLOAT && g->type.scalar == KIR_F32)
                fprintf(out, "%a", (double)(float)g->values[i].fvalue);
            else
                init_value(&p, &g->values[i], g->type);
        }
        fprintf(out, "\n}");
    }
    fprintf(out, ";\n\n");
}
