/* check_eval.c: the checker's expressions (see check.c for the statements and the model).
 * An expression evaluates to a value (in double; int() truncates): a name is looked up among the
 * constants and the keys already set, a call's arguments are checked against its spec as they are
 * evaluated. The value checks here (check_int, check_positive, ...) report an error pointing at
 * the value and return false. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_internal.h"

/* ---- calls ---- */

static const struct arg_spec gated_silu_args[] = {
    { "dim_feedforward", A_INT, 1, 1 << 24 },
    { "hidden", A_INT, 1, 1 << 24 },
};
static const struct arg_spec rms_norm_args[] = { { "eps", A_POSITIVE, 0, 1 } };
/* A RoPE period is at least 1: below, the frequencies period^(-2i / head_dim) exceed 1 and soon
   overflow f32 (angles of inf, NaN outputs). */
static const struct arg_spec interleaved_args[] = { { "max_period", A_POSITIVE, 1, 1e12 } };
static const struct arg_spec ttt_args[] = {
    { "mini_batch", A_INT, 1, 65536 },
    { "base_lr", A_POSITIVE, 0, 1e6 },
    { "gate", A_BOOL, 0, 0 },
    { "share_qk", A_BOOL, 0, 0 },
    { "conv_kernel", A_INT, 1, 64 },
    { "eps", A_POSITIVE, 0, 1 },
    { "rope_base", A_POSITIVE, 1, 1e12 },
};

#define SPEC(name, args) { name, args, (int)(sizeof args / sizeof *args) }
static const struct call_spec calls[] = {
    SPEC("gated_silu", gated_silu_args),
    SPEC("rms_norm", rms_norm_args),
    SPEC("interleaved", interleaved_args),
    SPEC("ttt_linear", ttt_args),
    SPEC("ttt_mlp", ttt_args),
};
enum { NCALLS = sizeof calls / sizeof *calls };

/* ---- names ---- */

unsigned check_hash_name(const char *s, enum scope scope)
{
    unsigned h = 2166136261u ^ (unsigned)scope;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % LET_BUCKETS;
}

struct let *check_find_let(struct checker *c, const char *name, enum scope scope)
{
    for (struct let *l = c->buckets[check_hash_name(name, scope)]; l; l = l->next_in_bucket)
        if (l->scope == scope && strcmp(l->name, name) == 0)
            return l;
    return NULL;
}

int check_find_key(const char *name, int from, int to)
{
    for (int k = from; k < to; k++)
        if (strcmp(check_keys[k].name, name) == 0)
            return k;
    return -1;
}

bool check_key_in_scope(int k, enum scope scope)
{
    return scope == SCOPE_TOP ? k < FIRST_SECTION_KEY : k >= FIRST_SECTION_KEY;
}

const struct call_spec *check_find_call(const char *name)
{
    for (int i = 0; i < NCALLS; i++)
        if (strcmp(calls[i].name, name) == 0)
            return &calls[i];
    return NULL;
}

/* A name in an expression: constants of the section, then of the model, then the keys already set
   in the section, then the model's keys. */
static const struct value *lookup(struct checker *c, const char *name)
{
    static const struct value error = { .kind = V_ERROR };
    struct let *l = c->scope != SCOPE_TOP ? check_find_let(c, name, c->scope) : NULL;
    if (!l)
        l = check_find_let(c, name, SCOPE_TOP);
    if (l)
        return &l->value;
    int k = check_find_key(name, 0, NKEYS);
    enum scope scopes[2] = { c->scope, SCOPE_TOP };
    for (int i = 0; k >= 0 && i < 2; i++) {
        const struct setting *s = &c->settings[scopes[i]][k];
        if (check_key_in_scope(k, scopes[i]) && s->set)
            return s->ok ? &s->value : &error;
    }
    return NULL;
}

/* "; did you mean 'x'?" or "" */
const char *check_suggestion(char *buf, size_t size, const char *name, const char *const *names, size_t n)
{
    const char *best = diag_suggest(name, names, n);
    if (best)
        snprintf(buf, size, "; did you mean '%s'?", best);
    else
        buf[0] = 0;
    return buf;
}

void check_unknown_name(struct checker *c, const struct value *v)
{
    int k = check_find_key(v->symbol, 0, NKEYS);
    if (k >= 0 && (check_key_in_scope(k, c->scope) || check_key_in_scope(k, SCOPE_TOP))) {
        diag_error(v->loc, "'%s' is used before it is set", v->symbol);
        return;
    }
    if (k >= 0) {
        diag_error(v->loc, "'%s' is a key of the sections; it can be read only inside one", v->symbol);
        return;
    }
    size_t cap = 2 * NKEYS + (size_t)c->let_count, n = 0;
    const char **names = malloc(cap * sizeof *names);
    if (!names)
        abort();
    for (struct let *l = c->lets; l; l = l->next_in_order)
        if (l->scope == SCOPE_TOP || l->scope == c->scope)
            names[n++] = l->name;
    for (int k = 0; k < NKEYS; k++)
        if ((check_key_in_scope(k, c->scope) && c->settings[c->scope][k].set)
            || (c->scope != SCOPE_TOP && check_key_in_scope(k, SCOPE_TOP) && c->settings[SCOPE_TOP][k].set))
            names[n++] = check_keys[k].name;
    char hint[96];
    diag_error(v->loc, "unknown name '%s'%s", v->symbol, check_suggestion(hint, sizeof hint, v->symbol, names, n));
    free(names);
}

/* ---- value checks ---- */

const char *check_describe(const struct value *v, char *buf, size_t size)
{
    switch (v->kind) {
    case V_NUMBER: ast_format_number(buf, size, v->number); break;
    case V_BOOL: snprintf(buf, size, "%s", v->boolean ? "true" : "false"); break;
    case V_SYMBOL: snprintf(buf, size, "'%s'", v->symbol); break;
    case V_LIST: snprintf(buf, size, "a list"); break;
    case V_CALL: snprintf(buf, size, "%s(...)", v->symbol); break;
    case V_ERROR: snprintf(buf, size, "an invalid value"); break;
    }
    return buf;
}

/* A number, or an error naming what was found instead (an unbound name is an unknown name). */
static bool need_number(struct checker *c, const struct value *v, const char *what)
{
    char got[64];
    if (v->kind == V_NUMBER)
        return true;
    if (v->kind == V_SYMBOL)
        check_unknown_name(c, v);
    else if (v->kind != V_ERROR)
        diag_error(v->loc, "%s must be a number, got %s", what, check_describe(v, got, sizeof got));
    return false;
}

bool check_int(struct checker *c, const struct value *v, const char *what, double min, double max)
{
    char got[64];
    if (!need_number(c, v, what))
        return false;
    check_describe(v, got, sizeof got);
    if (v->number != floor(v->number)) {
        diag_error(v->loc, "%s must be an integer, got %s", what, got);
        return false;
    }
    if (v->number < min) {
        if (min == 1)
            diag_error(v->loc, "%s must be positive, got %s", what, got);
        else if (min == 0)
            diag_error(v->loc, "%s must not be negative, got %s", what, got);
        else
            diag_error(v->loc, "%s must be at least %.0f, got %s", what, min, got);
        return false;
    }
    if (v->number > max) {
        diag_error(v->loc, "%s must be at most %.0f, got %s", what, max, got);
        return false;
    }
    return true;
}

bool check_positive(struct checker *c, const struct value *v, const char *what, double min, double max)
{
    char got[64], limit[40];
    if (!need_number(c, v, what))
        return false;
    check_describe(v, got, sizeof got);
    if (!(v->number > 0)) {
        diag_error(v->loc, "%s must be positive, got %s", what, got);
        return false;
    }
    if (v->number < min) {
        ast_format_number(limit, sizeof limit, min);
        diag_error(v->loc, "%s must be at least %s, got %s", what, limit, got);
        return false;
    }
    if (v->number > max) {
        ast_format_number(limit, sizeof limit, max);
        diag_error(v->loc, "%s must be at most %s, got %s", what, limit, got);
        return false;
    }
    return true;
}

static bool check_bool(const struct value *v, const char *what)
{
    char got[64];
    if (v->kind == V_BOOL)
        return true;
    if (v->kind != V_ERROR)
        diag_error(v->loc, "%s must be true or false, got %s", what, check_describe(v, got, sizeof got));
    return false;
}

static bool check_arg(struct checker *c, const struct arg_spec *spec, const struct value *v)
{
    char what[64];
    snprintf(what, sizeof what, "'%s'", spec->name);
    switch (spec->type) {
    case A_INT: return check_int(c, v, what, spec->min, spec->max);
    case A_POSITIVE: return check_positive(c, v, what, spec->min, spec->max);
    case A_BOOL: return check_bool(v, what);
    }
    return false;
}

/* ---- evaluation ---- */

static struct value error_value(struct loc loc)
{
    return (struct value){ .kind = V_ERROR, .loc = loc };
}

static struct value number_value(struct loc loc, double x)
{
    return (struct value){ .kind = V_NUMBER, .loc = loc, .number = x };
}

static struct value eval_arithmetic(struct checker *c, const struct ast_expr *e)
{
    char what[40];
    snprintf(what, sizeof what, "the operand of '%c'", e->op);
    struct value l = check_eval(c, e->lhs);
    if (e->kind == EXPR_NEG)
        return need_number(c, &l, what) ? number_value(e->loc, -l.number) : error_value(e->loc);
    struct value r = check_eval(c, e->rhs);
    bool ok = need_number(c, &l, what);
    if (!need_number(c, &r, what) || !ok)
        return error_value(e->loc);
    double x;
    switch (e->op) {
    case '+': x = l.number + r.number; break;
    case '-': x = l.number - r.number; break;
    case '*': x = l.number * r.number; break;
    default:
        if (r.number == 0) {
            diag_error(e->rhs->loc, "division by zero");
            return error_value(e->loc);
        }
        x = l.number / r.number;
        break;
    }
    if (!isfinite(x)) {
        diag_error(e->op_loc, "arithmetic overflow");
        return error_value(e->loc);
    }
    return number_value(e->loc, x);
}

/* int(x): truncation toward zero, as Python's int() */
static struct value eval_int(struct checker *c, const struct ast_expr *e)
{
    if (e->arg_count != 1 || e->args->name) {
        diag_error(e->loc, "int() takes one value, as in int(4.125 * dim)");
        return error_value(e->loc);
    }
    struct value v = check_eval(c, e->args->value);
    if (!need_number(c, &v, "the value of int()"))
        return error_value(e->loc);
    return number_value(e->loc, trunc(v.number));
}

/* gated_silu names its size one way only */
bool check_ffn_args(const struct value *call)
{
    if (strcmp(call->symbol, "gated_silu") != 0)
        return true;
    if (call->count == 1)
        return true;
    if (call->count == 0)
        diag_error(call->loc, "gated_silu needs dim_feedforward = N (Moshi's size) or hidden = H");
    else
        diag_error(call->loc, "gated_silu takes dim_feedforward or hidden, not both");
    return false;
}

static struct value eval_call(struct checker *c, const struct ast_expr *e)
{
    if (strcmp(e->name, "int") == 0)
        return eval_int(c, e);
    char hint[96];
    const struct call_spec *spec = check_find_call(e->name);
    if (!spec) {
        const char *names[NCALLS + 1];
        for (int i = 0; i < NCALLS; i++)
            names[i] = calls[i].name;
        names[NCALLS] = "int";
        diag_error(e->loc, "unknown function '%s'%s", e->name, check_suggestion(hint, sizeof hint, e->name, names, NCALLS + 1));
        return error_value(e->loc);
    }
    struct value v = { .kind = V_CALL, .loc = e->loc, .symbol = spec->name };
    v.args = arena_alloc(c->arena, (size_t)e->arg_count * sizeof *v.args);
    bool ok = true;
    for (const struct ast_arg *a = e->args; a; a = a->next) {
        struct value value = check_eval(c, a->value);
        const struct arg_spec *arg = NULL;
        for (int i = 0; a->name && i < spec->nargs; i++)
            if (strcmp(spec->args[i].name, a->name) == 0)
                arg = &spec->args[i];
        const char *names[8];
        for (int i = 0; i < spec->nargs; i++)
            names[i] = spec->args[i].name;
        if (!a->name) {
            diag_error(a->loc, "%s takes named arguments, such as %s = ...", spec->name, spec->args[0].name);
            ok = false;
        } else if (!arg) {
            diag_error(a->loc, "unknown argument '%s' of %s%s", a->name, spec->name,
                       check_suggestion(hint, sizeof hint, a->name, names, (size_t)spec->nargs));
            ok = false;
        } else if (!check_arg(c, arg, &value)) {
            ok = false;
        } else {
            for (int i = 0; i < v.count; i++) {
                if (strcmp(v.args[i].name, a->name) == 0) {
                    diag_error(a->loc, "argument '%s' is given twice", a->name);
                    ok = false;
                }
            }
            v.args[v.count++] = (struct call_arg){ a->name, a->loc, value };
        }
    }
    if (!ok || !check_ffn_args(&v))
        return error_value(e->loc);
    return v;
}

struct value check_eval(struct checker *c, const struct ast_expr *e)
{
    switch (e->kind) {
    case EXPR_NUMBER: return number_value(e->loc, e->number);
    case EXPR_BOOL: return (struct value){ .kind = V_BOOL, .loc = e->loc, .boolean = e->boolean };
    case EXPR_NAME: {
        const struct value *bound = lookup(c, e->name);
        if (!bound)
            return (struct value){ .kind = V_SYMBOL, .loc = e->loc, .symbol = e->name };
        struct value v = *bound;
        v.loc = e->loc;              /* errors about this use point here */
        return v;
    }
    case EXPR_NEG:
    case EXPR_BINARY: return eval_arithmetic(c, e);
    case EXPR_LIST: {
        struct value v = { .kind = V_LIST, .loc = e->loc, .count = e->arg_count };
        v.items = arena_alloc(c->arena, (size_t)e->arg_count * sizeof *v.items);
        int i = 0;
        for (const struct ast_arg *a = e->args; a; a = a->next)
            v.items[i++] = check_eval(c, a->value);
        return v;
    }
    case EXPR_CALL: return eval_call(c, e);
    }
    return error_value(e->loc);
}
