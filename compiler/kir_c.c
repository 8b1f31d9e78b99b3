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
                                        "uint16_t", "float"};
    if (t.lanes > 1) {
        if (t.scalar != KIR_F32 || t.lanes != p->m->width)
            unprintable(p, "a vector type other than the target's f32 vector");
        return "vf";
    }
    return names[t.scalar];
}

/* `const float *restrict name`, `int T`, `vf x` */
static void declaration(const struct printer *p, const struct kir_var *v)
{
    if (v->type.pointer)
        fprintf(p->out, "%s%s *%s%s", v->type.readonly ? "const " : "", c_type(p, kir_scalar_type((enum kir_scalar)v->type.scalar)),
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
    if (kir_is_float(n->type) && isinf(n->fvalue)) {
        fprintf(p->out, n->fvalue < 0 ? (context >= PRECEDENCE_UNARY ? "(-INFINITY)" : "-INFINITY") : "INFINITY");
    } else if (kir_is_float(n->type)) {
        char buf[48];
        float_literal(buf, sizeof buf, (float)n->fvalue);
        fprintf(p->out, context >= PRECEDENCE_UNARY && buf[0] == '-' ? "(%s)" : "%s", buf);
    } else {
        fprintf(p->out, context >= PRECEDENCE_UNARY && n->ivalue < 0 ? "(%lld)" : "%lld", (long long)n->ivalue);
    }
}

/* A vocabulary call vf_NAME(args) */
static void vector_call(const struct printer *p, const char *name, const struct kir_node *n, int operands)
{
    fprintf(p->out, "vf_%s(", name);
    for (int i = 0; i < operands; i++) {
        if (i)
            fprintf(p->out, ", ");
        expr(p, n->arg[i], 0);
    }
    fprintf(p->out, ")");
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

static void vector_expr(const struct printer *p, const struct kir_node *n)
{
    static const char *const names[KIR_NUM_OPS] = {[KIR_ADD] = "add", [KIR_SUB] = "sub", [KIR_MUL] = "mul",
                                                   [KIR_DIV] = "div", [KIR_MAX] = "max", [KIR_MIN] = "min",
                                                   [KIR_FMA] = "fma", [KIR_FLOOR] = "floor"};
    switch (n->op) {
    case KIR_LOAD:
        fprintf(p->out, "vf_load(");
        address(p, n->arg[0], n->arg[1], 0);
        fprintf(p->out, ")");
        return;
    case KIR_BROADCAST:
        if (n->arg[0]->op == KIR_CONST && n->arg[0]->fvalue == 0 && !signbit(n->arg[0]->fvalue))
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
    if ((is_comparison(n) && is_comparison(operand)) || (n->op == KIR_OR && operand->op == KIR_AND))
        return PRECEDENCE_POSTFIX;
    return precedence;
}

/* Prints n; parenthesized when it binds more loosely than `context` requires. */
static void expr(const struct printer *p, const struct kir_node *n, int context)
{
    if (n->type.lanes > 1 && n->op != KIR_VAR && n->op != KIR_CALL && n->op != KIR_SELECT) {
        vector_expr(p, n);
        return;
    }
    const int precedence = spelling[n->op].precedence;
    switch (n->op) {
    case KIR_CONST:
        constant(p, n, context);
        return;
    case KIR_VAR:
        fprintf(p->out, "%s", p->f->vars[n->var].name);
        return;
    case KIR_REDUCE_ADD:
    case KIR_REDUCE_MAX:
        fprintf(p->out, "vf_%s(", spelling[n->op].c);
        expr(p, n->arg[0], 0);
        fprintf(p->out, ")");
        return;
    case KIR_ADDR:
        address(p, n->arg[0], n->arg[1], context);
        return;
    case KIR_LOAD:
        expr(p, n->arg[0], PRECEDENCE_POSTFIX);
        fprintf(p->out, "[");
        expr(p, index_of(n->arg[1]), 0);
        fprintf(p->out, "]");
        return;
    case KIR_CAST:
        if (context > PRECEDENCE_UNARY)
            fprintf(p->out, "(");
        fprintf(p->out, "(%s)", c_type(p, n->type));
        expr(p, n->arg[0], PRECEDENCE_UNARY);
        if (context > PRECEDENCE_UNARY)
            fprintf(p->out, ")");
        return;
    case KIR_NEG: /* (the operand of a minus in parentheses unless it binds tighter: never `--x`) */
        if (context > PRECEDENCE_UNARY)
            fprintf(p->out, "(");
        fprintf(p->out, "-");
        expr(p, n->arg[0], PRECEDENCE_UNARY + 1);
        if (context > PRECEDENCE_UNARY)
            fprintf(p->out, ")");
        return;
    case KIR_MAX:
    case KIR_MIN: /* a > b ? a : b, as the vocabulary's max: b where either is NaN */
        if (context > 3)
            fprintf(p->out, "(");
        expr(p, n->arg[0], 11);
        fprintf(p->out, n->op == KIR_MAX ? " > " : " < ");
        expr(p, n->arg[1], 11);
        fprintf(p->out, " ? ");
        expr(p, n->arg[0], 4);
        fprintf(p->out, " : ");
        expr(p, n->arg[1], 3);
        if (context > 3)
            fprintf(p->out, ")");
        return;
    case KIR_SELECT:
        if (context > 3)
            fprintf(p->out, "(");
        expr(p, n->arg[0], 4);
        fprintf(p->out, " ? ");
        expr(p, n->arg[1], 4);
        fprintf(p->out, " : ");
        expr(p, n->arg[2], 3);
        if (context > 3)
            fprintf(p->out, ")");
        return;
    case KIR_CALL: {
        char symbol[256];
        fprintf(p->out, "%s(", kir_symbol(p->m, n->var, symbol, sizeof symbol));
        for (int i = 0; i < n->num_args; i++) {
            fprintf(p->out, "%s", i ? ", " : "");
            expr(p, n->call_args[i], 0);
        }
        fprintf(p->out, ")");
        return;
    }
    default:
        break;
    }
    if (precedence == 0) { /* a libm function */
        if (!spelling[n->op].c[0])
            unprintable(p, kir_op_name(n->op));
        fprintf(p->out, "%s(", spelling[n->op].c);
        for (int i = 0; n->arg[i] && i < 3; i++) {
            fprintf(p->out, "%s", i ? ", " : "");
            expr(p, n->arg[i], 0);
        }
        fprintf(p->out, ")");
        return;
    }
    const struct kir_node *a = n->arg[0], *b = n->arg[1];
    if (is_widening(a) && printed_wide(b))
        a = a->arg[0];
    else if (is_widening(b) && (printed_wide(a) || is_widening(a)))
        b = b->arg[0];
    if (context > precedence) /* left-associative: the right operand binds one step tighter */
        fprintf(p->out, "(");
    expr(p, a, operand_context(n, a, precedence));
    fprintf(p->out, " %s ", spelling[n->op].c);
    expr(p, b, operand_context(n, b, precedence + 1));
    if (context > precedence)
        fprintf(p->out, ")");
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

static void statement(const struct printer *p, const struct kir_node *s, int indent)
{
    FILE *out = p->out;
    const int pad = 4 * indent;
    if (s->comment)
        fprintf(out, "%*s/* %s */\n", pad, "", s->comment);
    switch (s->op) {
    case KIR_DECL:
        fprintf(out, "%*s", pad, "");
        declaration(p, &p->f->vars[s->var]);
        fprintf(out, " = ");
        expr(p, s->arg[0], 0);
        fprintf(out, ";\n");
        return;
    case KIR_ARRAY: {
        const struct kir_var *v = &p->f->vars[s->var];
        fprintf(out, "%*s%s %s[%lld];\n", pad, "", c_type(p, kir_scalar_type((enum kir_scalar)v->type.scalar)), v->name,
                (long long)s->ivalue);
        return;
    }
    case KIR_ASSIGN: {
        const struct kir_node *v = s->arg[0];
        fprintf(out, "%*s%s ", pad, "", p->f->vars[s->var].name);
        /* x = x op y prints as x op= y */
        if (v->type.lanes == 1 && v->arg[0] && v->arg[0]->op == KIR_VAR && v->arg[0]->var == s->var &&
            (v->op == KIR_ADD || v->op == KIR_SUB || v->op == KIR_MUL || v->op == KIR_DIV)) {
            fprintf(out, "%s= ", spelling[v->op].c);
            expr(p, v->arg[1], 0);
        } else {
            fprintf(out, "= ");
            expr(p, v, 0);
        }
        fprintf(out, ";\n");
        return;
    }
    case KIR_STORE:
        fprintf(out, "%*s", pad, "");
        if (s->arg[2]->type.lanes > 1) {
            fprintf(out, "vf_store(");
            address(p, s->arg[0], s->arg[1], 0);
            fprintf(out, ", ");
            expr(p, s->arg[2], 0);
            fprintf(out, ");\n");
            return;
        }
        expr(p, s->arg[0], PRECEDENCE_POSTFIX);
        fprintf(out, "[");
        expr(p, index_of(s->arg[1]), 0);
        /* p[i] = p[i] op y prints as p[i] op= y */
        const struct kir_node *v = s->arg[2];
        if ((v->op == KIR_ADD || v->op == KIR_MUL) && v->arg[0]->op == KIR_LOAD && v->arg[0]->arg[0] == s->arg[0] &&
            v->arg[0]->arg[1] == s->arg[1]) {
            fprintf(out, "] %s= ", spelling[v->op].c);
            expr(p, v->arg[1], 0);
        } else {
            fprintf(out, "] = ");
            expr(p, v, 0);
        }
        fprintf(out, ";\n");
        return;
    case KIR_EVAL:
        fprintf(out, "%*s", pad, "");
        expr(p, s->arg[0], 0);
        fprintf(out, ";\n");
        return;
    case KIR_RETURN:
        fprintf(out, "%*sreturn", pad, "");
        if (s->arg[0]) {
            fprintf(out, " ");
            expr(p, s->arg[0], 0);
        }
        fprintf(out, ";\n");
        return;
    case KIR_BREAK:
        fprintf(out, "%*sbreak;\n", pad, "");
        return;
    case KIR_CONTINUE:
        fprintf(out, "%*scontinue;\n", pad, "");
        return;
    case KIR_BARRIER:
        fprintf(out, "%*s#pragma omp barrier\n", pad, "");
        return;
    case KIR_COPY:
        fprintf(out, "%*smemcpy(", pad, "");
        expr(p, s->arg[0], 0);
        fprintf(out, ", ");
        expr(p, s->arg[1], 0);
        fprintf(out, ", ");
        expr(p, s->arg[2], 13);
        fprintf(out, " * sizeof(%s));\n", c_type(p, kir_scalar_type((enum kir_scalar)s->arg[0]->type.scalar)));
        return;
    case KIR_PREFETCH:
        fprintf(out, "%*s__builtin_prefetch(", pad, "");
        expr(p, s->arg[0], 0);
        fprintf(out, ", %d, %d);\n", (int)s->ivalue, s->ivalue ? 3 : 2);
        return;
    case KIR_BLOCK:
        fprintf(out, "%*s{\n", pad, "");
        statements(p, s->body, indent + 1);
        fprintf(out, "%*s}\n", pad, "");
        return;
    case KIR_IF:
        fprintf(out, "%*sif (", pad, "");
        expr(p, s->arg[0], 0);
        fprintf(out, ")");
        nested(p, s->body, indent, true);
        if (s->otherwise) {
            fprintf(out, "%s%*selse", needs_braces(s->body) ? " " : "", needs_braces(s->body) ? 0 : pad, "");
            nested(p, s->otherwise, indent, true);
        }
        if (needs_braces(s->otherwise ? s->otherwise : s->body))
            fprintf(out, "\n");
        return;
    case KIR_FOR: {
        const struct kir_var *v = &p->f->vars[s->var];
        if (s->flags & KIR_PARALLEL)
            fprintf(out, "%*s#pragma omp for schedule(static)%s\n", pad, "", s->flags & KIR_NOWAIT ? " nowait" : "");
        fprintf(out, "%*sfor (%s %s = ", pad, "", c_type(p, v->type), v->name);
        expr(p, s->arg[0], 0);
        fprintf(out, "; %s < ", v->name);
        expr(p, s->arg[1], 11);
        if (s->step == 1)
            fprintf(out, "; %s++)", v->name);
        else
            fprintf(out, "; %s += %lld)", v->name, (long long)s->step);
        nested(p, s->body, indent, true);
        if (needs_braces(s->body))
            fprintf(out, "\n");
        return;
    }
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
