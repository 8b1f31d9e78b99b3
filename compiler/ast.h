/* ast.h: the syntax tree of a .kiln file, as the parser builds it and the checker reads it.
 * Every node lives in its file's arena and is freed with it (ast_free); a variant's file owns the
 * tree of its base. Nothing here is resolved: names are strings, values are expressions. */
#ifndef KILN_AST_H
#define KILN_AST_H
#include <stdbool.h>
#include <stddef.h>
#include "diag.h"

/* Limits that keep every later recursion shallow and every input bounded. */
#define AST_MAX_DEPTH 200            /* expression nesting (operators, calls, lists, parentheses) */
#define AST_MAX_INCLUDES 16          /* a variant of a variant of ... */
#define AST_MAX_FILE_BYTES (16 << 20)

/* A bump allocator: nodes are never freed one by one. */
struct arena;
struct arena *arena_new(void);
void *arena_alloc(struct arena *a, size_t size);     /* zeroed; aborts the process when out of memory */
char *arena_strdup(struct arena *a, const char *s);
void arena_free(struct arena *a);

enum expr_kind {
    EXPR_NUMBER,                     /* 12, 4.125, 1e-8 */
    EXPR_BOOL,                       /* true, false */
    EXPR_NAME,                       /* a constant, a key, or an enum value such as f32 */
    EXPR_NEG,                        /* -operand */
    EXPR_BINARY,                     /* lhs op rhs, op one of + - * / */
    EXPR_LIST,                       /* [items] */
    EXPR_CALL,                       /* name(args): int(x), gated_silu(dim_feedforward = x), ... */
};

struct ast_expr;

/* One list item or call argument; name is NULL for a positional one. */
struct ast_arg {
    const char *name;
    struct loc loc;                  /* of the name, or of the value when positional */
    struct ast_expr *value;
    struct ast_arg *next;
};

struct ast_expr {
    enum expr_kind kind;
    struct loc loc;                  /* where the expression starts */
    int depth;                       /* 1 for a leaf; bounded by AST_MAX_DEPTH */
    double number;                   /* EXPR_NUMBER */
    bool boolean;                    /* EXPR_BOOL */
    const char *name;                /* EXPR_NAME; EXPR_CALL: the callee */
    char op;                         /* EXPR_BINARY */
    struct loc op_loc;               /* EXPR_BINARY, EXPR_NEG: the operator */
    struct ast_expr *lhs, *rhs;      /* EXPR_BINARY; EXPR_NEG uses lhs */
    struct ast_arg *args;            /* EXPR_LIST items, EXPR_CALL arguments */
    int arg_count;
};

enum stmt_kind {
    STMT_LET,                        /* let name = value; */
    STMT_ASSIGN,                     /* name = value; */
    STMT_SECTION,                    /* name { body } */
    STMT_LAYERS,                     /* layers first..last: value;  (value is the mixer) */
};

struct ast_stmt {
    enum stmt_kind kind;
    struct loc loc;                  /* of the first token */
    const char *name;                /* LET, ASSIGN, SECTION */
    struct ast_expr *value;          /* LET, ASSIGN, LAYERS */
    struct ast_expr *first, *last;   /* LAYERS (first == last for `layers N: ...`) */
    struct ast_stmt *body;           /* SECTION */
    struct loc end;                  /* SECTION: the closing brace */
    struct ast_stmt *next;
};

struct ast_file {
    struct arena *arena;
    const char *path;                /* as opened: the include string joined to its directory */
    const char *model_name;
    struct loc model_loc;            /* of the name in `model NAME` */
    const char *base_string;         /* `model NAME : "base.kiln"`, or NULL */
    struct loc base_loc;
    struct ast_file *base;           /* the parsed base file (owned), or NULL */
    struct ast_stmt *stmts;
};

/* Constructors used by the parser (parser.y). The arena is the file's. */
struct ast_expr *ast_number(struct arena *a, struct loc loc, double value);
struct ast_expr *ast_bool(struct arena *a, struct loc loc, bool value);
struct ast_expr *ast_name(struct arena *a, struct loc loc, const char *name);
struct ast_expr *ast_neg(struct arena *a, struct loc op_loc, struct ast_expr *operand);
struct ast_expr *ast_binary(struct arena *a, char op, struct loc op_loc, struct ast_expr *lhs,
                            struct ast_expr *rhs);
/* Lists and calls: args arrive in reverse order (the parser prepends) and are put right here. */
struct ast_expr *ast_list(struct arena *a, struct loc loc, struct ast_arg *reversed);
struct ast_expr *ast_call(struct arena *a, struct loc loc, const char *callee, struct ast_arg *reversed);
struct ast_arg *ast_arg(struct arena *a, struct loc loc, const char *name, struct ast_expr *value,
                        struct ast_arg *prev);
struct ast_stmt *ast_stmt(struct arena *a, enum stmt_kind kind, struct loc loc, const char *name);
struct ast_stmt *ast_stmt_reverse(struct ast_stmt *reversed);
/* The depth of a node made of these children: the parser refuses one above AST_MAX_DEPTH. */
int ast_depth_of(const struct ast_expr *lhs, const struct ast_expr *rhs);
int ast_args_depth(const struct ast_arg *args);

/* parse_file's core, also used by `kilnc import` to check a description it is about to write:
   parses text, registered for diagnostics under path, without reading the base file it may name
   (file->base stays NULL). NULL on error. */
struct ast_file *parse_text(const char *path, const char *text, size_t len);

/* Writes v so that strtod reads back the same double, in the fewest digits. */
void ast_format_number(char *buf, size_t size, double v);
#endif
