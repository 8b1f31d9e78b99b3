/* ast.c: the syntax tree's arena, its constructors, and `kilnc --dump=ast`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ast.h"
#include "frontend.h"

/* ---- arena ---- */

struct chunk {
    struct chunk *next;
    size_t used, size;
    _Alignas(max_align_t) unsigned char data[];
};

struct arena {
    struct chunk *head;
};

enum { CHUNK_BYTES = 64 * 1024 };

struct arena *arena_new(void)
{
    struct arena *a = calloc(1, sizeof *a);
    if (!a) {
        fputs("kilnc: out of memory\n", stderr);
        exit(2);
    }
    return a;
}

void *arena_alloc(struct arena *a, size_t size)
{
    size_t align = _Alignof(max_align_t);
    size = (size + align - 1) / align * align;
    struct chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        size_t cap = size > CHUNK_BYTES ? size : CHUNK_BYTES;
        c = calloc(1, sizeof *c + cap);
        if (!c) {
            fputs("kilnc: out of memory\n", stderr);
            exit(2);
        }
        c->size = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = arena_alloc(a, n);
    memcpy(p, s, n);
    return p;
}

void arena_free(struct arena *a)
{
    if (!a)
        return;
    for (struct chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

/* ---- constructors ---- */

static struct ast_expr *new_expr(struct arena *a, enum expr_kind kind, struct loc loc)
{
    struct ast_expr *e = arena_alloc(a, sizeof *e);
    e->kind = kind;
    e->loc = loc;
    e->depth = 1;
    return e;
}

int ast_depth_of(const struct ast_expr *lhs, const struct ast_expr *rhs)
{
    int d = lhs ? lhs->depth : 0;
    if (rhs && rhs->depth > d)
        d = rhs->depth;
    return d + 1;
}

int ast_args_depth(const struct ast_arg *args)
{
    int d = 0;
    for (; args; args = args->next)
        if (args->value->depth > d)
            d = args->value->depth;
    return d + 1;
}

struct ast_expr *ast_number(struct arena *a, struct loc loc, double value)
{
    struct ast_expr *e = new_expr(a, EXPR_NUMBER, loc);
    e->number = value;
    return e;
}

struct ast_expr *ast_bool(struct arena *a, struct loc loc, bool value)
{
    struct ast_expr *e = new_expr(a, EXPR_BOOL, loc);
    e->boolean = value;
    return e;
}

struct ast_expr *ast_name(struct arena *a, struct loc loc, const char *name)
{
    struct ast_expr *e = new_expr(a, EXPR_NAME, loc);
    e->name = name;
    return e;
}

struct ast_expr *ast_neg(struct arena *a, struct loc op_loc, struct ast_expr *operand)
{
    struct ast_expr *e = new_expr(a, EXPR_NEG, op_loc);
    e->op = '-';
    e->op_loc = op_loc;
    e->lhs = operand;
    e->depth = ast_depth_of(operand, NULL);
    return e;
}

struct ast_expr *ast_binary(struct arena *a, char op, struct loc op_loc, struct ast_expr *lhs,
                            struct ast_expr *rhs)
{
    struct ast_expr *e = new_expr(a, EXPR_BINARY, lhs->loc);
    e->op = op;
    e->op_loc = op_loc;
    e->lhs = lhs;
    e->rhs = rhs;
    e->depth = ast_depth_of(lhs, rhs);
    return e;
}

static struct ast_arg *reverse_args(struct ast_arg *reversed, int *count)
{
    struct ast_arg *out = NULL;
    *count = 0;
    while (reversed) {
        struct ast_arg *next = reversed->next;
        reversed->next = out;
        out = reversed;
        reversed = next;
        ++*count;
    }
    return out;
}

struct ast_expr *ast_list(struct arena *a, struct loc loc, struct ast_arg *reversed)
{
    struct ast_expr *e = new_expr(a, EXPR_LIST, loc);
    e->args = reverse_args(reversed, &e->arg_count);
    e->depth = ast_args_depth(e->args);
    return e;
}

struct ast_expr *ast_call(struct arena *a, struct loc loc, const char *callee, struct ast_arg *reversed)
{
    struct ast_expr *e = new_expr(a, EXPR_CALL, loc);
    e->name = callee;
    e->args = reverse_args(reversed, &e->arg_count);
    e->depth = ast_args_depth(e->args);
    return e;
}

struct ast_arg *ast_arg(struct arena *a, struct loc loc, const char *name, struct ast_expr *value,
                        struct ast_arg *prev)
{
    struct ast_arg *arg = arena_alloc(a, sizeof *arg);
    arg->name = name;
    arg->loc = loc;
    arg->value = value;
    arg->next = prev;
    return arg;
}

struct ast_stmt *ast_stmt(struct arena *a, enum stmt_kind kind, struct loc loc, const char *name)
{
    struct ast_stmt *s = arena_alloc(a, sizeof *s);
    s->kind = kind;
    s->loc = loc;
    s->name = name;
    return s;
}

struct ast_stmt *ast_stmt_reverse(struct ast_stmt *reversed)
{
    struct ast_stmt *out = NULL;
    while (reversed) {
        struct ast_stmt *next = reversed->next;
        reversed->next = out;
        out = reversed;
        reversed = next;
    }
    return out;
}

void ast_free(struct ast_file *ast)
{
    while (ast) {
        struct ast_file *base = ast->base;
        arena_free(ast->arena);       /* the file node itself lives in its arena */
        ast = base;
    }
}

void ast_format_number(char *buf, size_t size, double v)
{
    if (v > -1e15 && v < 1e15 && v == (double)(long long)v) {
        snprintf(buf, size, "%lld", (long long)v);
        return;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* 1e-08 -> 1e-8, 1e+20 -> 1e20 */
    char *e = strchr(buf, 'e');
    if (e) {
        char *digits = e + 1, *src = e + 1;
        if (*src == '-')
            digits = ++src;
        else if (*src == '+')
            src++;
        while (*src == '0' && src[1])
            src++;
        memmove(digits, src, strlen(src) + 1);
    }
}

/* ---- dump: one node per line, indented by depth, with its line:col ---- */

static void indent(FILE *out, int level)
{
    fprintf(out, "%*s", 2 * level, "");
}

static void dump_expr(FILE *out, const struct ast_expr *e, int level, const char *label);

static void dump_args(FILE *out, const struct ast_arg *arg, int level)
{
    for (; arg; arg = arg->next) {
        if (arg->name) {
            indent(out, level);
            fprintf(out, "arg %s  %d:%d\n", arg->name, arg->loc.line, arg->loc.col);
            dump_expr(out, arg->value, level + 1, NULL);
        } else {
            dump_expr(out, arg->value, level, NULL);
        }
    }
}

static void dump_expr(FILE *out, const struct ast_expr *e, int level, const char *label)
{
    char num[40];
    indent(out, level);
    if (label)
        fprintf(out, "%s: ", label);
    switch (e->kind) {
    case EXPR_NUMBER:
        ast_format_number(num, sizeof num, e->number);
        fprintf(out, "number %s", num);
        break;
    case EXPR_BOOL: fprintf(out, "bool %s", e->boolean ? "true" : "false"); break;
    case EXPR_NAME: fprintf(out, "name %s", e->name); break;
    case EXPR_NEG: fputs("negate", out); break;
    case EXPR_BINARY: fprintf(out, "binary %c", e->op); break;
    case EXPR_LIST: fprintf(out, "list (%d items)", e->arg_count); break;
    case EXPR_CALL: fprintf(out, "call %s", e->name); break;
    }
    fprintf(out, "  %d:%d\n", e->loc.line, e->loc.col);
    if (e->lhs)
        dump_expr(out, e->lhs, level + 1, NULL);
    if (e->rhs)
        dump_expr(out, e->rhs, level + 1, NULL);
    dump_args(out, e->args, level + 1);
}

static void dump_stmts(FILE *out, const struct ast_stmt *s, int level)
{
    for (; s; s = s->next) {
        indent(out, level);
        switch (s->kind) {
        case STMT_LET: fprintf(out, "let %s", s->name); break;
        case STMT_ASSIGN: fprintf(out, "assign %s", s->name); break;
        case STMT_SECTION: fprintf(out, "section %s", s->name); break;
        case STMT_LAYERS: fputs("layers", out); break;
        }
        fprintf(out, "  %d:%d\n", s->loc.line, s->loc.col);
        if (s->kind == STMT_LAYERS) {
            dump_expr(out, s->first, level + 1, "first");
            dump_expr(out, s->last, level + 1, "last");
            dump_expr(out, s->value, level + 1, "mixer");
        } else if (s->value) {
            dump_expr(out, s->value, level + 1, NULL);
        }
        dump_stmts(out, s->body, level + 1);
    }
}

static void dump_file(FILE *out, const struct ast_file *ast, int level)
{
    indent(out, level);
    fprintf(out, "file %s\n", ast->path);
    indent(out, level + 1);
    fprintf(out, "model %s  %d:%d\n", ast->model_name, ast->model_loc.line, ast->model_loc.col);
    if (ast->base_string) {
        indent(out, level + 1);
        fprintf(out, "base \"%s\"  %d:%d\n", ast->base_string, ast->base_loc.line, ast->base_loc.col);
        if (ast->base)
            dump_file(out, ast->base, level + 2);
    }
    dump_stmts(out, ast->stmts, level + 1);
}

void ast_dump(FILE *out, const struct ast_file *ast)
{
    if (ast)
        dump_file(out, ast, 0);
}
