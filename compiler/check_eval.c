/* check_eval.c: the checker's expressions (see check.c for the statements and the model).
 * An expression evaluates to a value (in double; int() truncates): a name is looked up among the
 * constants and the keys already set, a call's arguments are checked against its spec as they are
 * evaluated. The value checks here (check_int, check_positive, ..., check_key_value for a key's
 * value) report an error pointing at the value and return false. */
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
static const struct arg_spec gelu_args[] = { { "dim_feedforward", A_INT, 1, 1 << 24 } };
static const struct arg_spec norm_args[] = { { "eps", A_POSITIVE, 0, 1 } };      /* rms_norm, layer_norm */
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
    SPEC("gelu", gelu_args),
    SPEC("rms_norm", norm_args),
    SPEC("layer_norm", norm_args),
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

bool check_key_in_scope(const struct checker *c, int k, enum scope scope)
{
    const struct key_spec *key = &check_keys[k];
    if (!(key->scopes & IN(scope)) || !(check_scope_kinds[scope] & KIND(c->kind)))
        return false;
    return scope != SCOPE_TOP || (key->top_kinds & KIND(c->kind));
}

bool check_key_of_kind(int k, enum model_kind kind)
{
    const struct key_spec *key = &check_keys[k];
    if ((key->scopes & IN(SCOPE_TOP)) && (key->top_kinds & KIND(kind)))
        return true;
    for (int scope = SCOPE_TOP + 1; scope < NSCOPES; scope++)
        if ((key->scopes & IN(scope)) && (check_scope_kinds[scope] & KIND(kind)))
            return true;
    return false;
}

const char *check_other_kind(const struct checker *c, char *buf, size_t size)
{
    snprintf(buf, size, "a %s; this description is a %s (it has %s 'seanet' section)", check_kind_names[!c->kind],
             check_kind_names[c->kind], c->kind == MODEL_CODEC ? "a" : "no");
    return buf;
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
        if (check_key_in_scope(c, k, scopes[i]) && s->set)
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
    char other[128];
    int k = check_find_key(v->symbol, 0, NKEYS);
    if (k >= 0 && (check_key_in_scope(c, k, c->scope) || check_key_in_scope(c, k, SCOPE_TOP)))
        diag_error(v->loc, "'%s' is used before it is set", v->symbol);
    else if (k >= 0 && !check_key_of_kind(k, c->kind))
        diag_error(v->loc, "'%s' is a key of %s", v->symbol, check_other_kind(c, other, sizeof other));
    else if (k >= 0 && c->scope == SCOPE_TOP)
        diag_error(v->loc, "'%s' is a key of the sections; it can be read only inside one", v->symbol);
    else if (k >= 0)
        diag_error(v->loc, "'%s' is a key of another section; a section reads its own keys and the model's", v->symbol);
    if (k >= 0)
        return;
    size_t cap = 2 * NKEYS + (size_t)c->let_count, n = 0;
    const char **names = malloc(cap * sizeof *names);
    if (!names)
        abort();
    for (struct let *l = c->lets; l; l = l->next_in_order)
        if (l->scope == SCOPE_TOP || l->scope == c->scope)
            names[n++] = l->name;
    for (int k = 0; k < NKEYS; k++)
        if ((check_key_in_scope(c, k, c->scope) && c->settings[c->scope][k].set)
            || (c->scope != SCOPE_TOP && check_key_in_scope(c, k, SCOPE_TOP) && c->settings[SCOPE_TOP][k].set))
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

/* ---- key values ---- */

/* A bare name of a known call stands for the call with no arguments: `norm = rms_norm;`. */
void check_promote_symbol(struct value *v)
{
    if (v->kind == V_SYMBOL && check_find_call(v->symbol)) {
        v->kind = V_CALL;
        v->count = 0;
        v->args = NULL;
    }
}

bool check_choice(const struct value *v, const char *kind, const char *const *choices, size_t n,
                         const char *what)
{
    char got[64], hint[96];
    if (v->kind == V_ERROR)
        return false;
    if (v->kind == V_SYMBOL || v->kind == V_CALL) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(v->symbol, choices[i]) == 0)
                return true;
        diag_error(v->loc, "unknown %s '%s'%s", kind, v->symbol, check_suggestion(hint, sizeof hint, v->symbol, choices, n));
        return false;
    }
    char list[128] = "";
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", choices[i]);
    }
    diag_error(v->loc, "%s must be %s, got %s", what, list, check_describe(v, got, sizeof got));
    return false;
}

/* delays and ratios: a list of integers in the key's range */
static bool check_list(struct checker *c, const struct value *v, const struct key_spec *key)
{
    bool ratios = key == &check_keys[K_RATIOS];
    char got[64];
    if (v->kind == V_ERROR)
        return false;
    if (v->kind != V_LIST) {
        if (v->kind == V_SYMBOL)
            check_unknown_name(c, v);
        else
            diag_error(v->loc, "'%s' must be a list such as %s, got %s", key->name, ratios ? "[8, 6, 5, 4]" : "[0, 0, 1, 1]",
                       check_describe(v, got, sizeof got));
        return false;
    }
    bool ok = true;
    for (int i = 0; i < v->count; i++)
        if (!check_int(c, &v->items[i], ratios ? "a ratio" : "a delay", key->min, key->max))
            ok = false;
    if (ratios && (v->count < 1 || v->count > CODEC_MAX_RATIOS)) {
        diag_error(v->loc, "'ratios' has %d entries; a SEANet has 1 to %d", v->count, CODEC_MAX_RATIOS);
        ok = false;
    }
    return ok;
}

/* The FFN and norm calls each belong to one kind of model: `lm` to a language model, `codec` to a codec. */
static bool check_call_kind(const struct checker *c, const struct value *v, const char *lm, const char *codec,
                            const char *what)
{
    const char *own = c->kind == MODEL_CODEC ? codec : lm;
    if (strcmp(v->symbol, own) == 0)
        return true;
    diag_error(v->loc, "%s is a %s's %s; a %s's is %s(...)", v->symbol, check_kind_names[!c->kind], what,
               check_kind_names[c->kind], own);
    return false;
}

bool check_key_value(struct checker *c, const struct key_spec *key, struct value *v)
{
    static const char *const ffn_kinds[] = { "gated_silu", "gelu" };
    static const char *const norm_kinds[] = { "rms_norm", "layer_norm" };
    static const char *const rope_kinds[] = { "interleaved", "none" };
    char what[64];
    snprintf(what, sizeof what, "'%s'", key->name);
    check_promote_symbol(v);
    switch (key->type) {
    case T_INT: return check_int(c, v, what, key->min, key->max);
    case T_POSITIVE: return check_positive(c, v, what, key->min, key->max);
    case T_INT_LIST: return check_list(c, v, key);
    case T_WEIGHTS:
        if (!check_choice(v, "weight format", weight_format_names, NUM_WEIGHT_FORMATS, what))
            return false;
        if (c->kind == MODEL_CODEC && strcmp(v->symbol, "f32") != 0 && strcmp(v->symbol, "bf16") != 0) {
            diag_error(v->loc, "a codec's weights must be f32 or bf16 for now, got %s", v->symbol);
            return false;
        }
        return true;
    case T_TABLE_WEIGHTS:
        if (!check_choice(v, "weight format", weight_format_names, NUM_WEIGHT_FORMATS, what))
            return false;
        if (strcmp(v->symbol, "q8") == 0 || strcmp(v->symbol, "q4") == 0) {
            diag_error(v->loc, "%s must be f32, bf16 or f16, got %s (a frame reads one row of an embedding table, "
                               "which no matmul's blocks would speed up)", what, v->symbol);
            return false;
        }
        return true;
    case T_FFN:
        return check_choice(v, "ffn kind", ffn_kinds, 2, what) && check_call_kind(c, v, "gated_silu", "gelu", "FFN")
            && check_ffn_args(v);
    case T_NORM:
        return check_choice(v, "norm kind", norm_kinds, 2, what) && check_call_kind(c, v, "rms_norm", "layer_norm", "norm");
    case T_ROPE: return check_choice(v, "rope kind", rope_kinds, 2, what);
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

/* gated_silu names its size one way only; gelu needs it */
bool check_ffn_args(const struct value *call)
{
    bool gelu = strcmp(call->symbol, "gelu") == 0;
    if ((strcmp(call->symbol, "gated_silu") != 0 && !gelu) || call->count == 1)
        return true;
    if (gelu)
        diag_error(call->loc, "gelu needs dim_feedforward = N (the hidden size of linear1)");
    else if (call->count == 0)
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
