/* kir_check.c: the kernel IR's verifier and its text form (--dump=kernels). The verifier runs
 * before either back end prints a module: what it accepts, both print. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "kir.h"

struct checker {
    const struct kir_module *m;
    const struct kir_func *f;
    bool *in_scope;                  /* per variable: declared in an enclosing list already */
    int loops, parallel_loops;       /* how many loops (parallel ones) enclose the statement */
    bool innermost_parallel;         /* the innermost loop is a parallel one (OpenMP forbids leaving it by break) */
    bool in_region;                  /* inside a REGION body */
    bool failed;
};

static bool fail(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(struct checker *c, const char *fmt, ...)
{
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "kilnc: internal error: kernel %s: ", c->f->name);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    c->failed = true;
    return false;
}

static bool check_expr(struct checker *c, const struct kir_node *n)
{
    const struct kir_type t = n->type;
    for (int i = 0; i < 3 && n->arg[i]; i++)
        if (!check_expr(c, n->arg[i]))
            return false;
    const struct kir_node *a = n->arg[0], *b = n->arg[1];
    switch (n->op) {
    case KIR_CONST:
        return t.lanes == 1 && (!t.pointer || n->ivalue == 0) ? true : fail(c, "a constant of a vector type, or a pointer but null");
    case KIR_VAR:
        if (n->var < 0 || n->var >= c->f->num_vars || !c->in_scope[n->var])
            return fail(c, "variable %d used outside its scope", n->var);
        return kir_type_equal(t, c->f->vars[n->var].type) ? true : fail(c, "variable %s of another type", c->f->vars[n->var].name);
    case KIR_ADD: case KIR_SUB: case KIR_MUL: case KIR_DIV: case KIR_REM: case KIR_MAX: case KIR_MIN:
        if (!a || !b || !kir_type_equal(a->type, t) || !kir_type_equal(b->type, t) || t.pointer)
            return fail(c, "%s of mismatched types", kir_op_name(n->op));
        return n->op != KIR_REM || kir_is_integer(t) ? true : fail(c, "REM of floats");
    case KIR_BAND: case KIR_SHR:
        if (!a || !b || !kir_type_equal(a->type, t) || !kir_type_equal(b->type, t) || t.pointer || !kir_is_integer(t) ||
            (t.lanes > 1 && t.scalar != KIR_I32))
            return fail(c, "%s not of two integers, or i32 vectors, of one type", kir_op_name(n->op));
        return true;
    case KIR_DOT4:
        return t.scalar == KIR_I32 && t.lanes > 1 && !t.pointer && kir_type_equal(a->type, t) && kir_type_equal(b->type, t) &&
                       kir_type_equal(n->arg[2]->type, t) ? true : fail(c, "DOT4 not of i32 vectors");
    case KIR_LT: case KIR_LE: case KIR_GT: case KIR_GE: case KIR_EQ: case KIR_NE: case KIR_AND: case KIR_OR:
        if (!a || !b || !kir_type_equal(a->type, b->type) || a->type.lanes != 1 || t.scalar != KIR_BOOL)
            return fail(c, "%s not of two scalars of one type", kir_op_name(n->op));
        return true;
    case KIR_NEG: case KIR_EXP: case KIR_SQRT: case KIR_TANH: case KIR_EXPM1: case KIR_ERF: case KIR_FLOOR:
        return a && kir_type_equal(a->type, t) ? true : fail(c, "%s of another type", kir_op_name(n->op));
    case KIR_FMA:
        return kir_type_equal(a->type, t) && kir_type_equal(b->type, t) && kir_type_equal(n->arg[2]->type, t)
                   ? true : fail(c, "FMA of mismatched types");
    case KIR_SELECT:
        return a->type.scalar == KIR_BOOL && kir_type_equal(b->type, t) && kir_type_equal(n->arg[2]->type, t)
                   ? true : fail(c, "SELECT of mismatched types");
    case KIR_CAST:
        if (t.pointer || a->type.pointer)
            return t.pointer == 1 && a->type.pointer == 1 && (t.scalar == KIR_VOID || a->type.scalar == KIR_VOID)
                       ? true : fail(c, "CAST between pointers not through void *");
        return a && a->type.lanes == t.lanes ? true : fail(c, "CAST between vector lengths");
    case KIR_ADDR:
        return a->type.pointer && kir_type_equal(a->type, t) && kir_is_integer(b->type) ? true : fail(c, "bad ADDR");
    case KIR_LOAD:
        return a->type.pointer && kir_is_integer(b->type) && t.scalar == a->type.scalar && t.pointer == a->type.pointer - 1
                   ? true : fail(c, "bad LOAD");
    case KIR_FIELD: {
        if (a->type.pointer != 1 || a->type.scalar != KIR_RECORD || a->type.record >= c->m->num_records)
            return fail(c, "FIELD of no record pointer");
        const struct kir_record *r = c->m->records[a->type.record];
        return n->var >= 0 && n->var < r->num_fields && t.pointer == r->fields[n->var].type.pointer + 1
                   ? true : fail(c, "FIELD %d of struct %s: no such field, or of another type", n->var, r->name);
    }
    case KIR_GLOBAL:
        return n->var >= 0 && n->var < c->m->num_globals && t.pointer == 1 ? true : fail(c, "GLOBAL of no global");
    case KIR_BROADCAST:
        return a->type.lanes == 1 && t.lanes > 1 && t.scalar == a->type.scalar ? true : fail(c, "bad BROADCAST");
    case KIR_REDUCE_ADD: case KIR_REDUCE_MAX:
        return a->type.lanes > 1 && t.lanes == 1 ? true : fail(c, "%s of a scalar", kir_op_name(n->op));
    case KIR_SWAP_PAIRS: case KIR_POW2I:
        return a->type.lanes > 1 && a->type.lanes % 2 == 0 && kir_type_equal(a->type, t) ? true : fail(c, "bad %s", kir_op_name(n->op));
    case KIR_CALL: {
        if (n->var < 0 || n->var >= c->m->num_funcs)
            return fail(c, "CALL of no function");
        const struct kir_func *g = c->m->funcs[n->var];
        if (g == c->f || n->num_args != g->num_params || !kir_type_equal(t, g->result))
            return fail(c, "CALL of %s: recursive, or arguments or result of another shape", g->name);
        for (int i = 0; i < n->num_args; i++) {
            if (!check_expr(c, n->call_args[i]))
                return false;
            struct kir_type want = g->vars[i].type, have = n->call_args[i]->type;
            if (want.pointer && have.pointer && want.readonly)
                have.readonly = true;
            if (!kir_type_equal(want, have))
                return fail(c, "CALL of %s: argument %d of another type", g->name, i + 1);
        }
        return true;
    }
    default:
        return fail(c, "statement %s inside an expression", kir_op_name(n->op));
    }
}

static bool check_list(struct checker *c, const struct kir_node *s);

/* A declaration brings `var` into scope; no other variable of its name may be there (C would see the
   inner one where the IR means the outer). */
static bool declare(struct checker *c, int var)
{
    for (int v = 0; v < c->f->num_vars; v++)
        if (c->in_scope[v] && strcmp(c->f->vars[v].name, c->f->vars[var].name) == 0)
            return fail(c, "%s declared where a variable of that name is in scope", c->f->vars[var].name);
    c->in_scope[var] = true;
    return true;
}

static bool check_statement(struct checker *c, const struct kir_node *s)
{
    if (s->type.scalar != KIR_VOID)
        return fail(c, "expression %s used as a statement", kir_op_name(s->op));
    for (int i = 0; i < 3 && s->arg[i]; i++)
        if (!check_expr(c, s->arg[i]))
            return false;
    switch (s->op) {
    case KIR_DECL:
        if (!kir_type_equal(s->arg[0]->type, c->f->vars[s->var].type))
            return fail(c, "DECL of %s of another type", c->f->vars[s->var].name);
        return declare(c, s->var);
    case KIR_ARRAY:
        if (!c->f->vars[s->var].type.pointer || s->ivalue < 1)
            return fail(c, "ARRAY %s empty", c->f->vars[s->var].name);
        return declare(c, s->var);
    case KIR_ASSIGN: {
        const struct kir_var *v = &c->f->vars[s->var];
        if (!c->in_scope[s->var] || (v->flags & KIR_CONSTANT) || !kir_type_equal(s->arg[0]->type, v->type))
            return fail(c, "ASSIGN to %s: out of scope, constant, or of another type", v->name);
        return true;
    }
    case KIR_STORE:
        if (s->arg[0]->type.pointer != 1 || s->arg[0]->type.readonly || s->arg[2]->type.scalar != s->arg[0]->type.scalar)
            return fail(c, "STORE through a read-only pointer, or of another type");
        return true;
    case KIR_EVAL:
        return s->arg[0]->op == KIR_CALL ? true : fail(c, "EVAL of no call");
    case KIR_RETURN:
        if (s->arg[0] ? !kir_type_equal(s->arg[0]->type, c->f->result) : c->f->result.scalar != KIR_VOID)
            return fail(c, "RETURN of another type than the function's");
        return !c->parallel_loops ? true : fail(c, "RETURN inside a parallel loop");
    case KIR_BREAK:
        if (c->innermost_parallel)
            return fail(c, "BREAK out of a parallel loop");
        return c->loops ? true : fail(c, "BREAK outside a loop");
    case KIR_CONTINUE:
        return c->loops ? true : fail(c, "CONTINUE outside a loop");
    case KIR_BARRIER:
        return !c->parallel_loops ? true : fail(c, "BARRIER inside a parallel loop");
    case KIR_COPY:
        return !s->arg[0]->type.readonly ? true : fail(c, "COPY into a read-only pointer");
    case KIR_PREFETCH:
        return true;
    case KIR_BLOCK:
        return check_list(c, s->body);
    case KIR_SINGLE: { /* one thread's: no barrier, parallel loop or return inside (counted as in a parallel loop) */
        if (c->parallel_loops)
            return fail(c, "SINGLE inside a parallel loop");
        c->parallel_loops++;
        const bool ok = check_list(c, s->body);
        c->parallel_loops--;
        return ok;
    }
    case KIR_REGION: { /* one region: not inside another, nor inside a loop or single of a team */
        if (c->in_region || c->parallel_loops)
            return fail(c, "REGION inside a parallel region, loop or single");
        c->in_region = true;
        const bool ok = check_list(c, s->body);
        c->in_region = false;
        return ok;
    }
    case KIR_IF:
        return check_list(c, s->body) && check_list(c, s->otherwise);
    case KIR_FOR: {
        if (!kir_is_integer(s->arg[0]->type) || s->step < 1)
            return fail(c, "FOR %s: bounds not integers, or a step below 1", c->f->vars[s->var].name);
        const bool parallel = s->flags & KIR_PARALLEL;
        if ((s->flags & (KIR_BALANCED | KIR_NOWAIT)) && !parallel)
            return fail(c, "FOR %s: balanced or nowait but not parallel", c->f->vars[s->var].name);
        if (parallel && c->parallel_loops)
            return fail(c, "a parallel loop inside a parallel loop");
        if (!declare(c, s->var))
            return false;
        const bool was_parallel = c->innermost_parallel;
        c->loops++, c->parallel_loops += parallel, c->innermost_parallel = parallel;
        const bool ok = check_list(c, s->body);
        c->loops--, c->parallel_loops -= parallel, c->innermost_parallel = was_parallel;
        c->in_scope[s->var] = false;
        return ok;
    }
    default:
        return fail(c, "%s is not a statement", kir_op_name(s->op));
    }
}

/* A list's declarations go out of scope at its end. */
static bool check_list(struct checker *c, const struct kir_node *s)
{
    bool *saved = malloc((size_t)c->f->num_vars * sizeof *saved + 1);
    memcpy(saved, c->in_scope, (size_t)c->f->num_vars * sizeof *saved);
    bool ok = true;
    for (; s && ok; s = s->next)
        ok = check_statement(c, s);
    memcpy(c->in_scope, saved, (size_t)c->f->num_vars * sizeof *saved);
    free(saved);
    return ok;
}

bool kir_verify_function(const struct kir_module *m, int index)
{
    const struct kir_func *f = m->funcs[index];
    if (f->flags & KIR_EXTERN)
        return f->body ? (fprintf(stderr, "kilnc: internal error: extern function %s has a body\n", f->name), false) : true;
    struct checker c = {.m = m, .f = f, .in_scope = calloc((size_t)f->num_vars + 1, sizeof(bool))};
    for (int v = 0; v < f->num_params; v++)
        c.in_scope[v] = true;
    const bool ok = check_list(&c, f->body);
    free(c.in_scope);
    return ok;
}

bool kir_verify(const struct kir_module *m)
{
    for (int i = 0; i < m->num_funcs; i++)
        if (!kir_verify_function(m, i))
            return false;
    return true;
}

/* ---- --dump=kernels ---------------------------------------------------------------------------- */

static void dump_expr(FILE *out, const struct kir_module *m, const struct kir_func *f, const struct kir_node *n)
{
    char type[32];
    kir_type_name(type, sizeof type, n->type);
    switch (n->op) {
    case KIR_CONST:
        if (kir_is_float(n->type))
            fprintf(out, "%.9g", n->fvalue);
        else
            fprintf(out, "%lld", (long long)n->ivalue);
        return;
    case KIR_VAR:
        fprintf(out, "%s", f->vars[n->var].name);
        return;
    case KIR_FIELD:
        dump_expr(out, m, f, n->arg[0]);
        fprintf(out, "->%s", m->records[n->arg[0]->type.record]->fields[n->var].name);
        return;
    case KIR_GLOBAL:
        fprintf(out, "@%s", m->globals[n->var]->name);
        return;
    case KIR_CALL:
        fprintf(out, "call %s(", m->funcs[n->var]->name);
        for (int i = 0; i < n->num_args; i++) {
            fprintf(out, "%s", i ? ", " : "");
            dump_expr(out, m, f, n->call_args[i]);
        }
        fprintf(out, ")");
        return;
    default:
        fprintf(out, "%s.%s(", kir_op_name(n->op), type);
        for (int i = 0; i < 3 && n->arg[i]; i++) {
            fprintf(out, "%s", i ? ", " : "");
            dump_expr(out, m, f, n->arg[i]);
        }
        fprintf(out, ")");
    }
}

static void dump_list(FILE *out, const struct kir_module *m, const struct kir_func *f, const struct kir_node *s, int depth)
{
    for (; s; s = s->next) {
        if (s->comment)
            fprintf(out, "%*s# %s\n", 2 * depth, "", s->comment);
        fprintf(out, "%*s%s", 2 * depth, "", kir_op_name(s->op));
        if (s->op == KIR_ARRAY)
            fprintf(out, " %s: %s[%lld]", f->vars[s->var].name, kir_scalar_name((enum kir_scalar)f->vars[s->var].type.scalar),
                    (long long)s->ivalue);
        if (s->op == KIR_DECL || s->op == KIR_ASSIGN || s->op == KIR_FOR) {
            char type[32];
            kir_type_name(type, sizeof type, f->vars[s->var].type);
            fprintf(out, " %s: %s", f->vars[s->var].name, type);
        }
        for (int i = 0; i < 3 && s->arg[i]; i++) {
            fprintf(out, "%s", i ? ", " : " ");
            dump_expr(out, m, f, s->arg[i]);
        }
        if (s->op == KIR_FOR)
            fprintf(out, " step %lld%s%s%s", (long long)s->step, s->flags & KIR_PARALLEL ? " parallel" : "",
                    s->flags & KIR_BALANCED ? " balanced" : "", s->flags & KIR_NOWAIT ? " nowait" : "");
        fprintf(out, "\n");
        dump_list(out, m, f, s->body, depth + 1);
        if (s->otherwise) {
            fprintf(out, "%*sELSE\n", 2 * depth, "");
            dump_list(out, m, f, s->otherwise, depth + 1);
        }
    }
}

static void dump_records(FILE *out, const struct kir_module *m)
{
    char type[48];
    for (int i = 0; i < m->num_records; i++) {
        const struct kir_record *r = m->records[i];
        fprintf(out, "record %s%s: %lld bytes, align %d\n", r->name, r->external ? " (external)" : "", (long long)r->size, r->align);
        for (int j = 0; j < r->num_fields; j++) {
            const struct kir_field *fl = &r->fields[j];
            kir_type_name(type, sizeof type, fl->type);
            fprintf(out, "  %lld %s: %s", (long long)fl->offset, fl->name, type);
            if (fl->count)
                fprintf(out, "[%lld]", (long long)fl->count);
            fprintf(out, "\n");
        }
        fprintf(out, "\n");
    }
    for (int i = 0; i < m->num_globals; i++) {
        const struct kir_global *g = m->globals[i];
        kir_type_name(type, sizeof type, g->type);
        if (g->type.scalar == KIR_RECORD)
            snprintf(type, sizeof type, "%s", m->records[g->type.record]->name);
        fprintf(out, "global %s%s: %s", g->name, g->exported ? " (exported)" : "", type);
        if (g->count)
            fprintf(out, "[%lld]", (long long)g->count);
        fprintf(out, ", %d values\n\n", g->num_values);
    }
}

void kir_dump(FILE *out, const struct kir_module *m)
{
    dump_records(out, m);
    for (int i = 0; i < m->num_funcs; i++) {
        const struct kir_func *f = m->funcs[i];
        char type[32];
        if (f->flags & KIR_EXTERN)
            continue;
        if (f->comment)
            fprintf(out, "# %s\n", f->comment);
        fprintf(out, "kernel %s(", f->name);
        for (int v = 0; v < f->num_params; v++) {
            kir_type_name(type, sizeof type, f->vars[v].type);
            fprintf(out, "%s%s: %s%s", v ? ", " : "", f->vars[v].name, type, f->vars[v].flags & KIR_RESTRICT ? " restrict" : "");
        }
        kir_type_name(type, sizeof type, f->result);
        fprintf(out, ") -> %s%s\n", type, f->flags & KIR_INLINE ? " inline" : "");
        dump_list(out, m, f, f->body, 1);
        fprintf(out, "\n");
    }
}
