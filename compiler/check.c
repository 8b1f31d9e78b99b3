/* check.c: from the syntax tree to a checked struct model (model.h), a language model's or a codec's.
 * The kind is decided first: a description is a codec when it (or a base of it) has a seanet
 * section; each kind has its own sections and model keys. Statements run in order, base file
 * first: `let` binds a constant, `KEY = expr` evaluates the expression (in double; int()
 * truncates) and checks the value against the key's type and range at once; a variant's
 * assignment replaces its base's. When every file has run, the checks that involve several keys
 * (heads divide dim, delays match n_q, a codec's ratios make one frame, ...) are made and the
 * model is filled in, defaults included. Every error points at the most useful token.
 * Expressions are evaluated, and values checked, in check_eval.c; check_internal.h holds what the
 * two files share. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_internal.h"
#include "frontend.h"

/* ---- what may be written: keys, sections ---- */

const char *const check_scope_names[NSCOPES] = { "model", "temporal", "depformer", "seanet", "transformer", "quantizer" };
#define LM KIND(MODEL_LM)
#define CODEC KIND(MODEL_CODEC)
const unsigned check_scope_kinds[NSCOPES] = { LM | CODEC, LM, LM, CODEC, CODEC, CODEC };
const char *const check_kind_names[2] = { "language model", "codec" };

#define TOP IN(SCOPE_TOP)
#define STACKS (IN(SCOPE_TEMPORAL) | IN(SCOPE_DEPFORMER) | IN(SCOPE_TRANSFORMER))
#define SEANET IN(SCOPE_SEANET)
#define QUANTIZER IN(SCOPE_QUANTIZER)
/* name, type, range, where it may be set, whose model key it is, where it is required */
const struct key_spec check_keys[NKEYS] = {
    { "text_card", T_INT, 1, 1 << 24, TOP, LM, TOP },
    { "card", T_INT, 1, 1 << 24, TOP, LM, TOP },
    { "n_q", T_INT, 1, 1024, TOP | QUANTIZER, LM, TOP | QUANTIZER },
    { "dep_q", T_INT, 1, 1024, TOP, LM, TOP },
    { "delays", T_INT_LIST, 0, 10000, TOP, LM, TOP },
    { "frame_rate", T_POSITIVE, 0, 1000, TOP, LM | CODEC, 0 },
    { "text_padding_id", T_INT, 0, 1 << 24, TOP, LM, 0 },
    { "weights", T_WEIGHTS, 0, 0, TOP, LM | CODEC, 0 },
    { "embedding_weights", T_TABLE_WEIGHTS, 0, 0, TOP, LM, 0 },
    { "temporal_weights", T_WEIGHTS, 0, 0, TOP, LM, 0 },
    { "text_head_weights", T_WEIGHTS, 0, 0, TOP, LM, 0 },
    { "depformer_weights", T_WEIGHTS, 0, 0, TOP, LM, 0 },
    { "sample_rate", T_INT, 1, 1 << 20, TOP, CODEC, TOP },
    { "channels", T_INT, 1, 64, TOP, CODEC, 0 },
    { "num_codebooks", T_INT, 1, 1024, TOP, CODEC, TOP },
    { "dim", T_INT, 1, 65536, STACKS, 0, STACKS },
    { "num_heads", T_INT, 1, 65536, STACKS, 0, STACKS },
    { "num_layers", T_INT, 1, 1024, STACKS, 0, STACKS }, /* unrolled: 1024 compile in ~15 s */
    { "ffn", T_FFN, 0, 0, STACKS, 0, STACKS },
    { "norm", T_NORM, 0, 0, STACKS, 0, 0 },
    { "rope", T_ROPE, 0, 0, STACKS, 0, 0 },
    { "context", T_INT, 1, 1 << 24, STACKS, 0, IN(SCOPE_TEMPORAL) | IN(SCOPE_TRANSFORMER) },
    { "layer_scale", T_POSITIVE, 0, 1e6, IN(SCOPE_TRANSFORMER), 0, 0 },
    { "dimension", T_INT, 1, 65536, SEANET | QUANTIZER, 0, SEANET | QUANTIZER },
    { "n_filters", T_INT, 1, 65536, SEANET, 0, SEANET },
    { "ratios", T_INT_LIST, 1, 4096, SEANET, 0, SEANET },
    { "kernel_size", T_INT, 1, 1024, SEANET, 0, 0 },
    { "last_kernel_size", T_INT, 1, 1024, SEANET, 0, 0 },
    { "residual_kernel_size", T_INT, 1, 1024, SEANET, 0, 0 },
    { "n_residual_layers", T_INT, 1, 64, SEANET, 0, 0 },
    { "dilation_base", T_INT, 1, 64, SEANET, 0, 0 },
    { "compress", T_INT, 1, 65536, SEANET, 0, 0 },
    { "bins", T_INT, 1, 1 << 24, QUANTIZER, 0, QUANTIZER },
};

/* A residual layer's dilation (dilation_base^j) is at most this */
enum { MAX_DILATION = 65536 };

/* ---- the checker's state ---- */

static bool too_many_errors(struct checker *c)
{
    if (!c->stopped && diag_error_count() - c->first_error_count >= MAX_ERRORS) {
        c->stopped = true;
        fprintf(stderr, "kilnc: too many errors; stopping\n");
    }
    return c->stopped;
}

/* ---- keys ---- */

/* The section called name, or SCOPE_TOP */
static enum scope find_section(const char *name)
{
    for (int scope = SCOPE_TOP + 1; scope < NSCOPES; scope++)
        if (strcmp(check_scope_names[scope], name) == 0)
            return (enum scope)scope;
    return SCOPE_TOP;
}

/* Says where key k belongs in a model of c's kind, called from the wrong scope: the sections that
   have it, "temporal { dim = ...; } or depformer { ... }" at the top level, "seanet or quantizer" in
   a section. */
static void report_misplaced(const struct checker *c, const struct ast_stmt *s, int k)
{
    char list[192] = "";
    for (int scope = SCOPE_TOP + 1, n = 0; scope < NSCOPES; scope++) {
        if (!check_key_in_scope(c, k, (enum scope)scope))
            continue;
        size_t used = strlen(list);
        if (c->scope != SCOPE_TOP)
            snprintf(list + used, sizeof list - used, "%s%s", n ? " or " : "", check_scope_names[scope]);
        else if (n == 0)
            snprintf(list + used, sizeof list - used, "%s { %s = ...; }", check_scope_names[scope], s->name);
        else
            snprintf(list + used, sizeof list - used, " or %s { ... }", check_scope_names[scope]);
        n++;
    }
    if (c->scope == SCOPE_TOP)
        diag_error(s->loc, "'%s' belongs in a section: %s", s->name, list);
    else
        diag_error(s->loc, "'%s' belongs in section %s, not in %s", s->name, list, check_scope_names[c->scope]);
}

/* `KEY = ...` names a key of this scope; otherwise says why not. */
static int resolve_key(struct checker *c, const struct ast_stmt *s)
{
    char hint[96];
    int k = check_find_key(s->name, 0, NKEYS);
    if (k >= 0 && check_key_in_scope(c, k, c->scope)) {
        if (c->scope == SCOPE_DEPFORMER && k == K_ROPE) {
            diag_error(s->loc, "the depformer has no positional embedding (Moshi's depformer_pos_emb is "
                               "\"none\"); remove 'rope'");
            return -1;
        }
        if (c->scope == SCOPE_DEPFORMER && k == K_CONTEXT) {
            diag_error(s->loc, "the depformer's context is dep_q (its cache restarts every frame); "
                               "remove 'context'");
            return -1;
        }
        return k;
    }
    char other[128];
    if (k >= 0 && !check_key_of_kind(k, c->kind))
        diag_error(s->loc, "'%s' is a key of %s", s->name, check_other_kind(c, other, sizeof other));
    else if (k >= 0 && c->scope != SCOPE_TOP && check_key_in_scope(c, k, SCOPE_TOP))
        diag_error(s->loc, "'%s' is a key of the whole model; set it outside the section", s->name);
    else if (k >= 0)
        report_misplaced(c, s, k);
    else if (c->scope == SCOPE_TOP && find_section(s->name) != SCOPE_TOP)
        diag_error(s->loc, "'%s' is a section: write %s { ... }", s->name, s->name);
    else {
        const char *names[NKEYS];
        size_t n = 0;
        for (int i = 0; i < NKEYS; i++)
            if (check_key_in_scope(c, i, c->scope))
                names[n++] = check_keys[i].name;
        diag_error(s->loc, "unknown key '%s'%s%s%s", s->name, c->scope == SCOPE_TOP ? "" : " in ",
                   c->scope == SCOPE_TOP ? "" : check_scope_names[c->scope],
                   check_suggestion(hint, sizeof hint, s->name, names, n));
    }
    return -1;
}

static void run_assign(struct checker *c, const struct ast_stmt *s)
{
    int k = resolve_key(c, s);
    if (k < 0)
        return;
    struct setting *set = &c->settings[c->scope][k];
    if (set->set && set->file == c->file) {
        diag_error(s->loc, "'%s' is already set at line %d", s->name, set->key_loc.line);
        diag_note(set->key_loc, "'%s' is first set here", s->name);
        return;
    }
    struct value v = check_eval(c, s->value);
    bool ok = check_key_value(c, &check_keys[k], &v);
    *set = (struct setting){ true, ok, v, s->loc, c->file };
}

static void run_let(struct checker *c, const struct ast_stmt *s)
{
    if (check_find_key(s->name, 0, NKEYS) >= 0) {
        /* it would hide the key in every expression after it (constants are looked up first) */
        diag_error(s->loc, "'%s' is the name of a key; give the constant another name", s->name);
        return;
    }
    struct let *old = check_find_let(c, s->name, c->scope);
    if (old && old->file == c->file) {
        diag_error(s->loc, "'%s' is already defined at line %d", s->name, old->loc.line);
        diag_note(old->loc, "'%s' is first defined here", s->name);
        return;
    }
    struct value v = check_eval(c, s->value);
    if (old) {                       /* a variant redefines its base's constant */
        old->value = v;
        old->loc = s->loc;
        old->file = c->file;
        return;
    }
    if (c->let_count >= MAX_LETS) {
        diag_error(s->loc, "too many constants (more than %d)", MAX_LETS);
        return;
    }
    struct let *l = arena_alloc(c->arena, sizeof *l);
    *l = (struct let){ s->name, c->scope, v, s->loc, c->file, NULL, NULL };
    unsigned h = check_hash_name(s->name, c->scope);
    l->next_in_bucket = c->buckets[h];
    c->buckets[h] = l;
    if (c->last_let)
        c->last_let->next_in_order = l;
    else
        c->lets = l;
    c->last_let = l;
    c->let_count++;
}

/* ---- layer ranges ---- */

static bool check_mixer(struct value *v)
{
    static const char *const mixers[] = { "attention", "ttt_linear", "ttt_mlp" };
    check_promote_symbol(v);
    if (v->kind == V_CALL && strcmp(v->symbol, "ttt_linear") != 0 && strcmp(v->symbol, "ttt_mlp") != 0) {
        char hint[96];
        diag_error(v->loc, "%s(...) is not a mixer%s", v->symbol, check_suggestion(hint, sizeof hint, v->symbol, mixers, 3));
        return false;
    }
    return check_choice(v, "mixer", mixers, 3, "a layer's mixer");
}

static void run_layers(struct checker *c, const struct ast_stmt *s)
{
    if (c->scope != SCOPE_TEMPORAL) {
        diag_error(s->loc, "'layers' lines belong in %s temporal section%s", c->kind == MODEL_CODEC ? "a language model's" : "the",
                   c->scope == SCOPE_DEPFORMER ? " (the depformer's layers are all attention)"
                   : c->kind == MODEL_CODEC ? " (a codec's transformer layers are all attention)" : "");
        return;
    }
    struct value first = check_eval(c, s->first);
    struct value last = s->last == s->first ? first : check_eval(c, s->last);
    struct value mixer = check_eval(c, s->value);
    bool ok = check_int(c, &first, "a layer index", 0, 4095);
    if (s->last != s->first && !check_int(c, &last, "a layer index", 0, 4095))
        ok = false;
    if (!check_mixer(&mixer) || !ok)
        return;
    int a = (int)first.number, b = (int)last.number;
    if (a > b) {
        diag_error(first.loc, "layer range %d..%d is reversed; write %d..%d", a, b, b, a);
        return;
    }
    for (struct layer_range *r = c->ranges; r; r = r->next) {
        if (r->file == c->file && a <= r->last && r->first <= b) {
            diag_error(first.loc, "layers %d..%d overlap layers %d..%d (line %d)", a, b, r->first, r->last, r->loc.line);
            diag_note(r->loc, "the earlier range");
            return;
        }
    }
    struct layer_range *r = arena_alloc(c->arena, sizeof *r);
    *r = (struct layer_range){ a, b, mixer, first.loc, c->file, NULL };
    if (c->last_range)
        c->last_range->next = r;
    else
        c->ranges = r;
    c->last_range = r;
}

/* ---- statements ---- */

static void run_stmts(struct checker *c, const struct ast_stmt *s);

static void run_section(struct checker *c, const struct ast_stmt *s)
{
    char hint[96], other[128];
    if (c->scope != SCOPE_TOP) {
        diag_error(s->loc, "section '%s' inside section '%s': sections do not nest", s->name, check_scope_names[c->scope]);
        return;
    }
    enum scope scope = find_section(s->name);
    if (scope == SCOPE_TOP) {
        const char *names[NSCOPES];
        size_t n = 0;
        for (int i = SCOPE_TOP + 1; i < NSCOPES; i++)
            if (check_scope_kinds[i] & KIND(c->kind))
                names[n++] = check_scope_names[i];
        diag_error(s->loc, "unknown section '%s'%s", s->name, check_suggestion(hint, sizeof hint, s->name, names, n));
        return;
    }
    if (!(check_scope_kinds[scope] & KIND(c->kind))) {
        diag_error(s->loc, "section '%s' belongs to %s", s->name, check_other_kind(c, other, sizeof other));
        return;
    }
    if (!c->section_seen[scope]) {
        c->section_seen[scope] = true;
        c->section_loc[scope] = s->loc;
    }
    c->scope = scope;
    run_stmts(c, s->body);
    c->scope = SCOPE_TOP;
}

static void run_stmts(struct checker *c, const struct ast_stmt *s)
{
    for (; s && !too_many_errors(c); s = s->next) {
        switch (s->kind) {
        case STMT_LET: run_let(c, s); break;
        case STMT_ASSIGN: run_assign(c, s); break;
        case STMT_SECTION: run_section(c, s); break;
        case STMT_LAYERS: run_layers(c, s); break;
        }
    }
}

/* A variant runs its base's statements first. */
static void run_file(struct checker *c, const struct ast_file *f)
{
    if (f->base)
        run_file(c, f->base);
    c->file = f;
    c->scope = SCOPE_TOP;
    run_stmts(c, f->stmts);
}

/* ---- checks across keys, and the model ---- */

static const struct setting *get(const struct checker *c, enum scope scope, enum key_id k)
{
    return &c->settings[scope][k];
}

static bool ok(const struct checker *c, enum scope scope, enum key_id k)
{
    return c->settings[scope][k].ok;
}

static int int_of(const struct checker *c, enum scope scope, enum key_id k)
{
    return (int)c->settings[scope][k].value.number;
}

/* A key's integer, or its default when it is not set */
static int int_or(const struct checker *c, enum scope scope, enum key_id k, int fallback)
{
    return c->settings[scope][k].set ? int_of(c, scope, k) : fallback;
}

static const struct value *arg_of(const struct value *call, const char *name)
{
    for (int i = 0; call->kind == V_CALL && i < call->count; i++)
        if (strcmp(call->args[i].name, name) == 0)
            return &call->args[i].value;
    return NULL;
}

static double number_arg(const struct value *call, const char *name, double fallback)
{
    const struct value *v = arg_of(call, name);
    return v ? v->number : fallback;
}

static bool bool_arg(const struct value *call, const char *name, bool fallback)
{
    const struct value *v = arg_of(call, name);
    return v ? v->boolean : fallback;
}

static void check_required(struct checker *c, const struct ast_file *top)
{
    for (int scope = 0; scope < NSCOPES; scope++) {
        if (!(check_scope_kinds[scope] & KIND(c->kind)))
            continue;
        if (scope != SCOPE_TOP && !c->section_seen[scope]) {
            diag_error(top->model_loc, "missing section '%s' { ... }", check_scope_names[scope]);
            continue;
        }
        char list[256] = "";
        int missing = 0;
        for (int k = 0; k < NKEYS; k++) {
            if ((check_keys[k].required & IN(scope)) && check_key_in_scope(c, k, (enum scope)scope)
                && !c->settings[scope][k].set) {
                size_t used = strlen(list);
                snprintf(list + used, sizeof list - used, "%s'%s'", missing ? ", " : "", check_keys[k].name);
                missing++;
            }
        }
        if (!missing)
            continue;
        if (scope == SCOPE_TOP)
            diag_error(top->model_loc, "model '%s' is missing required key%s %s", top->model_name,
                       missing > 1 ? "s" : "", list);
        else
            diag_error(c->section_loc[scope], "section '%s' is missing required key%s %s", check_scope_names[scope],
                       missing > 1 ? "s" : "", list);
    }
}

static void check_streams(struct checker *c, const struct ast_file *top)
{
    if (ok(c, SCOPE_TOP, K_N_Q) && ok(c, SCOPE_TOP, K_DEP_Q) && int_of(c, SCOPE_TOP, K_DEP_Q) > int_of(c, SCOPE_TOP, K_N_Q))
        diag_error(get(c, SCOPE_TOP, K_DEP_Q)->value.loc, "dep_q (%d) must not exceed n_q (%d)",
                   int_of(c, SCOPE_TOP, K_DEP_Q), int_of(c, SCOPE_TOP, K_N_Q));
    if (ok(c, SCOPE_TOP, K_N_Q) && ok(c, SCOPE_TOP, K_DELAYS)) {
        const struct value *d = &get(c, SCOPE_TOP, K_DELAYS)->value;
        int n_q = int_of(c, SCOPE_TOP, K_N_Q);
        if (d->count != 1 + n_q)
            diag_error(d->loc, "'delays' has %d entries; it needs 1 + n_q = %d (the text stream, then each audio stream)",
                       d->count, 1 + n_q);
    }
    const struct setting *pad = get(c, SCOPE_TOP, K_TEXT_PADDING_ID);
    int pad_id = pad->set ? (int)pad->value.number : 3;
    if (ok(c, SCOPE_TOP, K_TEXT_CARD) && (!pad->set || pad->ok) && pad_id >= int_of(c, SCOPE_TOP, K_TEXT_CARD))
        diag_error(pad->set ? pad->value.loc : top->model_loc, "text_padding_id (%d%s) must be less than text_card (%d)",
                   pad_id, pad->set ? "" : ", the default", int_of(c, SCOPE_TOP, K_TEXT_CARD));
}

/* Whether a stack applies RoPE (its default); *at: the rope key's value, if set */
static bool stack_rope(const struct checker *c, enum scope scope, struct loc *at)
{
    const struct setting *rope = get(c, scope, K_ROPE);
    *at = rope->set ? rope->value.loc : (struct loc){ 0 };
    return !rope->set || (rope->ok && rope->value.kind == V_CALL);
}

/* head_dim = dim / num_heads must be whole, and even where RoPE rotates pairs. */
static void check_heads(struct checker *c, enum scope scope, bool rope, struct loc rope_loc)
{
    if (!ok(c, scope, K_DIM) || !ok(c, scope, K_NUM_HEADS))
        return;
    int dim = int_of(c, scope, K_DIM), heads = int_of(c, scope, K_NUM_HEADS);
    struct loc at = get(c, scope, K_NUM_HEADS)->value.loc;
    if (dim % heads != 0)
        diag_error(at, "num_heads (%d) does not divide dim (%d) in %s", heads, dim, check_scope_names[scope]);
    else if (rope && (dim / heads) % 2 != 0)
        diag_error(rope_loc.line ? rope_loc : at, "interleaved RoPE needs an even head dimension; "
                   "dim / num_heads = %d / %d = %d in %s", dim, heads, dim / heads, check_scope_names[scope]);
}

/* Moshi's gating.py: H = 21 * dim / 8 when dim_feedforward == 4 * dim, else 2 * dim_feedforward / 3. */
static int ffn_hidden(const struct checker *c, enum scope scope)
{
    const struct value *ffn = &get(c, scope, K_FFN)->value;
    const struct value *hidden = arg_of(ffn, "hidden");
    if (hidden)
        return (int)hidden->number;
    int n = (int)number_arg(ffn, "dim_feedforward", 0), dim = int_of(c, scope, K_DIM);
    return n == 4 * dim ? 21 * dim / 8 : 2 * n / 3;
}

static void check_ffn(struct checker *c, enum scope scope)
{
    if (ok(c, scope, K_FFN) && ok(c, scope, K_DIM) && ffn_hidden(c, scope) <= 0)
        diag_error(get(c, scope, K_FFN)->value.loc,
                   "the FFN's hidden size 2 * dim_feedforward / 3 is 0; dim_feedforward must be at least 2");
}

static void check_layer_ranges(struct checker *c)
{
    if (!ok(c, SCOPE_TEMPORAL, K_NUM_LAYERS))
        return;
    int n = int_of(c, SCOPE_TEMPORAL, K_NUM_LAYERS);
    for (struct layer_range *r = c->ranges; r; r = r->next)
        if (r->last >= n)
            diag_error(r->loc, "layer %d is out of range: temporal has %d layer%s (0..%d)", r->last, n, n > 1 ? "s" : "", n - 1);
}

static void fill_stack(struct checker *c, enum scope scope, struct transformer_spec *t)
{
    t->dim = int_of(c, scope, K_DIM);
    t->num_heads = int_of(c, scope, K_NUM_HEADS);
    t->num_layers = int_of(c, scope, K_NUM_LAYERS);
    t->ffn_hidden = ffn_hidden(c, scope);
    const struct setting *norm = get(c, scope, K_NORM);
    const struct setting *temporal_norm = get(c, SCOPE_TEMPORAL, K_NORM);
    double default_eps = number_arg(&temporal_norm->value, "eps", 1e-8);
    t->norm_eps = norm->set ? number_arg(&norm->value, "eps", 1e-8) : default_eps;
    t->layers = calloc((size_t)t->num_layers, sizeof *t->layers);
    if (!t->layers)
        abort();
}

static void fill_ttt(const struct value *mixer, double rope_base, struct layer_spec *layer)
{
    bool mlp = strcmp(mixer->symbol, "ttt_mlp") == 0;
    layer->mixer = mlp ? MIXER_TTT_MLP : MIXER_TTT_LINEAR;
    layer->ttt = (struct ttt_params){
        .mini_batch = (int)number_arg(mixer, "mini_batch", 16),
        .base_lr = number_arg(mixer, "base_lr", mlp ? 0.1 : 1.0),
        .use_gate = bool_arg(mixer, "gate", false),
        .share_qk = bool_arg(mixer, "share_qk", false),
        .conv_kernel = (int)number_arg(mixer, "conv_kernel", 4),
        .eps = number_arg(mixer, "eps", 1e-6),
        .rope_base = number_arg(mixer, "rope_base", rope_base),
    };
}

/* The format a weights key names, or `unset` */
static int weight_format_of(const struct setting *s, int unset)
{
    for (int i = 0; s->set && i < NUM_WEIGHT_FORMATS; i++)
        if (strcmp(s->value.symbol, weight_format_names[i]) == 0)
            return i;
    return unset;
}

static void fill_lm(struct checker *c, struct model *m)
{
    m->text_card = int_of(c, SCOPE_TOP, K_TEXT_CARD);
    m->card = int_of(c, SCOPE_TOP, K_CARD);
    m->n_q = int_of(c, SCOPE_TOP, K_N_Q);
    m->dep_q = int_of(c, SCOPE_TOP, K_DEP_Q);
    const struct value *delays = &get(c, SCOPE_TOP, K_DELAYS)->value;
    m->delays = calloc((size_t)delays->count, sizeof *m->delays);
    if (!m->delays)
        abort();
    for (int i = 0; i < delays->count; i++)
        m->delays[i] = (int)delays->items[i].number;
    m->text_padding_id = int_or(c, SCOPE_TOP, K_TEXT_PADDING_ID, 3);
    for (int i = 0; i < NUM_WEIGHT_CLASSES; i++)
        m->class_weights[i] = weight_format_of(get(c, SCOPE_TOP, K_EMBEDDING_WEIGHTS + i), -1);

    struct transformer_spec *t = &m->temporal;
    fill_stack(c, SCOPE_TEMPORAL, t);
    struct loc unused;
    t->rope = stack_rope(c, SCOPE_TEMPORAL, &unused);
    t->rope_max_period = t->rope ? number_arg(&get(c, SCOPE_TEMPORAL, K_ROPE)->value, "max_period", 10000) : 0;
    t->context = int_of(c, SCOPE_TEMPORAL, K_CONTEXT);
    for (struct layer_range *r = c->ranges; r; r = r->next) {
        for (int i = r->first; i <= r->last; i++) {
            if (r->mixer.kind == V_CALL)
                fill_ttt(&r->mixer, t->rope ? t->rope_max_period : 10000, &t->layers[i]);
            else
                t->layers[i] = (struct layer_spec){ .mixer = MIXER_ATTENTION };
        }
    }

    struct transformer_spec *d = &m->depformer;
    fill_stack(c, SCOPE_DEPFORMER, d);
    d->rope = false;
    d->rope_max_period = 0;
    d->context = m->dep_q;
}

static void fill_codec(struct checker *c, struct codec_spec *codec)
{
    codec->sample_rate = int_of(c, SCOPE_TOP, K_SAMPLE_RATE);
    codec->channels = int_or(c, SCOPE_TOP, K_CHANNELS, 1);
    codec->num_codebooks = int_of(c, SCOPE_TOP, K_NUM_CODEBOOKS);

    struct seanet_spec *s = &codec->seanet;
    s->dimension = int_of(c, SCOPE_SEANET, K_DIMENSION);
    s->n_filters = int_of(c, SCOPE_SEANET, K_N_FILTERS);
    const struct value *ratios = &get(c, SCOPE_SEANET, K_RATIOS)->value;
    s->num_ratios = ratios->count;
    for (int i = 0; i < ratios->count; i++)
        s->ratios[i] = (int)ratios->items[i].number;
    s->kernel_size = int_or(c, SCOPE_SEANET, K_KERNEL_SIZE, 7);
    s->last_kernel_size = int_or(c, SCOPE_SEANET, K_LAST_KERNEL_SIZE, 3);
    s->residual_kernel_size = int_or(c, SCOPE_SEANET, K_RESIDUAL_KERNEL_SIZE, 3);
    s->n_residual_layers = int_or(c, SCOPE_SEANET, K_N_RESIDUAL_LAYERS, 1);
    s->dilation_base = int_or(c, SCOPE_SEANET, K_DILATION_BASE, 2);
    s->compress = int_or(c, SCOPE_SEANET, K_COMPRESS, 2);

    struct codec_transformer_spec *t = &codec->transformer;
    t->dim = int_of(c, SCOPE_TRANSFORMER, K_DIM);
    t->num_heads = int_of(c, SCOPE_TRANSFORMER, K_NUM_HEADS);
    t->num_layers = int_of(c, SCOPE_TRANSFORMER, K_NUM_LAYERS);
    t->dim_feedforward = (int)number_arg(&get(c, SCOPE_TRANSFORMER, K_FFN)->value, "dim_feedforward", 0);
    t->norm_eps = number_arg(&get(c, SCOPE_TRANSFORMER, K_NORM)->value, "eps", 1e-5);
    struct loc unused;
    t->rope = stack_rope(c, SCOPE_TRANSFORMER, &unused);
    t->rope_max_period = t->rope ? number_arg(&get(c, SCOPE_TRANSFORMER, K_ROPE)->value, "max_period", 10000) : 0;
    t->context = int_of(c, SCOPE_TRANSFORMER, K_CONTEXT);
    t->layer_scale = get(c, SCOPE_TRANSFORMER, K_LAYER_SCALE)->set;

    codec->quantizer.dimension = int_of(c, SCOPE_QUANTIZER, K_DIMENSION);
    codec->quantizer.bins = int_of(c, SCOPE_QUANTIZER, K_BINS);
    codec->quantizer.n_q = int_of(c, SCOPE_QUANTIZER, K_N_Q);
}

static void fill_model(struct checker *c, const struct ast_file *top, struct model *m)
{
    snprintf(m->name, sizeof m->name, "%s", top->model_name);
    m->kind = c->kind;
    const struct setting *s = get(c, SCOPE_TOP, K_FRAME_RATE);
    m->frame_rate = s->set ? s->value.number : 12.5;
    m->weights = (enum weight_format)weight_format_of(get(c, SCOPE_TOP, K_WEIGHTS), WEIGHTS_F32);
    m->kv = WEIGHTS_F32;
    for (int i = 0; i < NUM_WEIGHT_CLASSES; i++)
        m->class_weights[i] = -1;
    if (c->kind == MODEL_CODEC)
        fill_codec(c, &m->codec);
    else
        fill_lm(c, m);
}

/* TTT layers rotate pairs within each head (RoPE), so their heads need an even size too; their
   kernels keep a head's rows on every thread's stack (kernels_ttt.c), for heads up to TTT_MAX_HEAD_DIM. */
static void check_ttt_heads(struct checker *c)
{
    if (!ok(c, SCOPE_TEMPORAL, K_DIM) || !ok(c, SCOPE_TEMPORAL, K_NUM_HEADS))
        return;
    int dim = int_of(c, SCOPE_TEMPORAL, K_DIM), heads = int_of(c, SCOPE_TEMPORAL, K_NUM_HEADS), hd = dim / heads;
    if (dim % heads != 0 || (hd % 2 == 0 && hd <= TTT_MAX_HEAD_DIM))
        return;
    for (struct layer_range *r = c->ranges; r; r = r->next) {
        if (r->mixer.kind != V_CALL)
            continue;
        if (hd % 2)
            diag_error(r->loc, "TTT layers need an even head dimension (they apply RoPE); dim / num_heads = %d", hd);
        else
            diag_error(r->loc, "TTT layers support head dimensions up to %d; dim / num_heads = %d",
                       TTT_MAX_HEAD_DIM, hd);
        return;
    }
}

static void check_lm(struct checker *c, const struct ast_file *top)
{
    check_streams(c, top);
    struct loc rope_loc;
    bool rope = stack_rope(c, SCOPE_TEMPORAL, &rope_loc);
    check_heads(c, SCOPE_TEMPORAL, rope, rope_loc);
    check_heads(c, SCOPE_DEPFORMER, false, (struct loc){ 0 });
    check_ffn(c, SCOPE_TEMPORAL);
    check_ffn(c, SCOPE_DEPFORMER);
    check_layer_ranges(c);
    check_ttt_heads(c);
}

/* A key that is unset (its default holds) or set to a good value */
static bool usable(const struct checker *c, enum scope scope, enum key_id k)
{
    return !c->settings[scope][k].set || c->settings[scope][k].ok;
}

/* A frame is sample_rate / frame_rate samples, which SEANet's strides (the ratios) and Mimi's learnt
   downsampling by 2 after the encoder's transformer turn into one step of codes. */
static void check_codec_frame(struct checker *c)
{
    if (!ok(c, SCOPE_TOP, K_SAMPLE_RATE) || !usable(c, SCOPE_TOP, K_FRAME_RATE))
        return;
    const struct setting *rate = get(c, SCOPE_TOP, K_FRAME_RATE);
    double sample_rate = get(c, SCOPE_TOP, K_SAMPLE_RATE)->value.number, frame_rate = rate->set ? rate->value.number : 12.5;
    double samples = sample_rate / frame_rate;
    char sr[40], fr[40], frame[40];
    ast_format_number(sr, sizeof sr, sample_rate);
    ast_format_number(fr, sizeof fr, frame_rate);
    ast_format_number(frame, sizeof frame, samples);
    if (samples != floor(samples)) {
        diag_error(rate->set ? rate->value.loc : get(c, SCOPE_TOP, K_SAMPLE_RATE)->value.loc,
                   "a frame must be a whole number of samples: sample_rate / frame_rate = %s / %s = %s", sr, fr, frame);
        return;
    }
    if (!ok(c, SCOPE_SEANET, K_RATIOS))
        return;
    const struct value *ratios = &get(c, SCOPE_SEANET, K_RATIOS)->value;
    char product[128] = "2", hop_text[40];
    double hop = 2;
    for (int i = 0; i < ratios->count; i++) {
        hop *= ratios->items[i].number;
        size_t used = strlen(product);
        snprintf(product + used, sizeof product - used, " * %d", (int)ratios->items[i].number);
    }
    ast_format_number(hop_text, sizeof hop_text, hop);
    if (hop != samples)
        diag_error(ratios->loc, "the ratios make a frame of %s = %s samples (SEANet's strides, then Mimi's "
                                "downsampling by 2), but sample_rate / frame_rate = %s / %s = %s",
                   product, hop_text, sr, fr, frame);
}

static void check_codec(struct checker *c)
{
    check_codec_frame(c);
    if (ok(c, SCOPE_TOP, K_NUM_CODEBOOKS) && ok(c, SCOPE_QUANTIZER, K_N_Q)
        && int_of(c, SCOPE_TOP, K_NUM_CODEBOOKS) > int_of(c, SCOPE_QUANTIZER, K_N_Q))
        diag_error(get(c, SCOPE_TOP, K_NUM_CODEBOOKS)->value.loc, "num_codebooks (%d) must not exceed the quantizer's n_q (%d)",
                   int_of(c, SCOPE_TOP, K_NUM_CODEBOOKS), int_of(c, SCOPE_QUANTIZER, K_N_Q));
    if (ok(c, SCOPE_TOP, K_CHANNELS) && int_of(c, SCOPE_TOP, K_CHANNELS) != 1)
        diag_error(get(c, SCOPE_TOP, K_CHANNELS)->value.loc, "channels must be 1 for now, got %d: the codec runs on "
                   "mono audio (the binary mixes stereo down)", int_of(c, SCOPE_TOP, K_CHANNELS));
    struct loc rope_loc;
    bool rope = stack_rope(c, SCOPE_TRANSFORMER, &rope_loc);
    check_heads(c, SCOPE_TRANSFORMER, rope, rope_loc);
    if (ok(c, SCOPE_TRANSFORMER, K_DIM) && ok(c, SCOPE_SEANET, K_DIMENSION)
        && int_of(c, SCOPE_TRANSFORMER, K_DIM) != int_of(c, SCOPE_SEANET, K_DIMENSION))
        diag_error(get(c, SCOPE_TRANSFORMER, K_DIM)->value.loc, "the transformer's dim (%d) must equal seanet's dimension "
                   "(%d): Mimi's projections into and out of its transformers are identities",
                   int_of(c, SCOPE_TRANSFORMER, K_DIM), int_of(c, SCOPE_SEANET, K_DIMENSION));
    /* The residual blocks have n_filters * 2^i channels, i < len(ratios): the first one's must divide. */
    int compress = int_or(c, SCOPE_SEANET, K_COMPRESS, 2);
    if (ok(c, SCOPE_SEANET, K_N_FILTERS) && usable(c, SCOPE_SEANET, K_COMPRESS)
        && int_of(c, SCOPE_SEANET, K_N_FILTERS) % compress != 0)
        diag_error(get(c, SCOPE_SEANET, get(c, SCOPE_SEANET, K_COMPRESS)->set ? K_COMPRESS : K_N_FILTERS)->value.loc,
                   "compress (%d) must divide n_filters (%d): a residual block's hidden channels are its channels / "
                   "compress, and the first block's channels are n_filters", compress, int_of(c, SCOPE_SEANET, K_N_FILTERS));
    int base = int_or(c, SCOPE_SEANET, K_DILATION_BASE, 2), layers = int_or(c, SCOPE_SEANET, K_N_RESIDUAL_LAYERS, 1);
    double dilation = pow(base, layers - 1);
    if (usable(c, SCOPE_SEANET, K_DILATION_BASE) && usable(c, SCOPE_SEANET, K_N_RESIDUAL_LAYERS) && dilation > MAX_DILATION)
        diag_error(get(c, SCOPE_SEANET, get(c, SCOPE_SEANET, K_N_RESIDUAL_LAYERS)->set ? K_N_RESIDUAL_LAYERS : K_DILATION_BASE)->value.loc,
                   "the last residual layer's dilation, dilation_base^(n_residual_layers - 1) = %d^%d, is more than %d",
                   base, layers - 1, MAX_DILATION);
}

/* A description is a codec when it, or a base of it, has a seanet section. */
static enum model_kind kind_of(const struct ast_file *f)
{
    for (; f; f = f->base)
        for (const struct ast_stmt *s = f->stmts; s; s = s->next)
            if (s->kind == STMT_SECTION && strcmp(s->name, "seanet") == 0)
                return MODEL_CODEC;
    return MODEL_LM;
}

bool check_model(const struct ast_file *ast, struct model *out)
{
    memset(out, 0, sizeof *out);
    if (!ast)
        return false;
    struct checker *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->arena = arena_new();
    c->kind = kind_of(ast);
    c->first_error_count = diag_error_count();
    if (strlen(ast->model_name) >= sizeof out->name)
        diag_error(ast->model_loc, "the model's name is longer than %d characters", (int)sizeof out->name - 1);
    run_file(c, ast);
    if (!c->stopped) {
        check_required(c, ast);
        if (c->kind == MODEL_CODEC)
            check_codec(c);
        else
            check_lm(c, ast);
    }
    bool good = diag_error_count() == c->first_error_count;
    if (good)
        fill_model(c, ast, out);
    arena_free(c->arena);
    free(c);
    return good;
}
