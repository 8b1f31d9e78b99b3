/* parser.y: the grammar of the description language (docs/language.md) and parse_file, which reads
 * a .kiln file and the chain of base files it names. Pure bison parser over the reentrant flex
 * scanner of lexer.l; builds the tree of ast.h in the file's arena; stops at the first syntax
 * error with a message that says what was expected and what was seen. */
%code requires {
#include <stdbool.h>
#include "ast.h"
#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif

enum { LEX_MAX_NESTING = 64 };

/* The scanner's state (flex's yyextra). */
struct lex_state {
    const char *file;                /* path as it appears in locations (the file's arena) */
    struct arena *arena;             /* identifiers and strings are copied here */
    int line, col;                   /* position of the next byte */
    struct loc end, prev_end;        /* just after the last token, and the one before it */
    struct loc comment_start;
    int nesting;                     /* open ( [ { */
    struct loc open[LEX_MAX_NESTING];/* where each one opened */
    bool failed;                     /* a lexical error was reported */
    char text[48];                   /* the last token's text, for "saw ..." */
};

/* The parser's state (its %parse-param). */
struct parse_state {
    struct lex_state *lex;
    struct ast_file *file;           /* being filled */
    char after[96];                  /* what a missing ';' would follow: "the value of 'dim'" */
};

/* A node's location is where its first symbol starts. */
#define YYLLOC_DEFAULT(cur, rhs, n) do { (cur) = (n) ? YYRHSLOC(rhs, 1) : YYRHSLOC(rhs, 0); } while (0)
}

%code {
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "frontend.h"
#include "lexer.h"

static void yyerror(YYLTYPE *loc, yyscan_t scanner, struct parse_state *ps, const char *msg);
static bool too_deep(struct loc at, int depth);
static void set_after(struct parse_state *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ARENA (ps->lex->arena)
/* Refuses a node deeper than AST_MAX_DEPTH before building it (its children stay in the arena). */
#define LIMIT_DEPTH(depth, at) do { if (too_deep((at), (depth))) YYABORT; } while (0)
}

%define api.pure full
%define api.location.type {struct loc}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%param {yyscan_t scanner}
%parse-param {struct parse_state *ps}
%initial-action { (void)yynerrs; }

%union {
    double number;
    const char *str;
    struct ast_expr *expr;
    struct ast_stmt *stmt;
    struct ast_arg *arg;
}

%token <str> IDENT "identifier"
%token <str> STRING "string"
%token <number> NUMBER "number"
%token MODEL "'model'" LET "'let'" LAYERS "'layers'" TRUE "'true'" FALSE "'false'" DOTDOT "'..'"

%type <expr> expr primary
%type <stmt> stmts stmt
%type <arg> args arg items

%left '+' '-'
%left '*' '/'
%precedence UMINUS

%%

/* file: 'model' NAME [':' "base.kiln"] ';' stmt* */
file
    : MODEL IDENT base ';' stmts
        {
            ps->file->model_name = $2;
            ps->file->model_loc = @2;
            ps->file->stmts = ast_stmt_reverse($5);
        }
    ;

base
    : %empty
    | ':' STRING                    { ps->file->base_string = $2; ps->file->base_loc = @2; }
    ;

/* Statements in reverse order (each new one in front); the rule that ends the block reverses. */
stmts
    : %empty                        { $$ = NULL; }
    | stmts stmt                    { $2->next = $1; $$ = $2; }
    ;

stmt
    /* let NAME = expr;   a named constant */
    : LET IDENT '=' { set_after(ps, "the value of '%s'", $2); } expr ';'
        {
            $$ = ast_stmt(ARENA, STMT_LET, @1, $2);
            $$->value = $5;
        }
    /* KEY = expr;   a setting of the model or of the enclosing section */
    | IDENT '=' { set_after(ps, "the value of '%s'", $1); } expr ';'
        {
            $$ = ast_stmt(ARENA, STMT_ASSIGN, @1, $1);
            $$->value = $4;
        }
    /* NAME { stmt* }   a section: temporal, depformer */
    | IDENT '{' stmts '}'
        {
            $$ = ast_stmt(ARENA, STMT_SECTION, @1, $1);
            $$->body = ast_stmt_reverse($3);
            $$->end = @4;
        }
    /* layers FIRST..LAST: MIXER;   an inclusive range of temporal layers */
    | LAYERS expr DOTDOT expr ':' { set_after(ps, "the mixer of these layers"); } expr ';'
        {
            $$ = ast_stmt(ARENA, STMT_LAYERS, @1, NULL);
            $$->first = $2;
            $$->last = $4;
            $$->value = $7;
        }
    /* layers N: MIXER;   one layer */
    | LAYERS expr ':' { set_after(ps, "the mixer of this layer"); } expr ';'
        {
            $$ = ast_stmt(ARENA, STMT_LAYERS, @1, NULL);
            $$->first = $$->last = $2;
            $$->value = $5;
        }
    ;

/* Arithmetic with the usual precedence; unary minus binds tightest. */
expr
    : primary
    | expr '+' expr                 { LIMIT_DEPTH(ast_depth_of($1, $3), @2); $$ = ast_binary(ARENA, '+', @2, $1, $3); }
    | expr '-' expr                 { LIMIT_DEPTH(ast_depth_of($1, $3), @2); $$ = ast_binary(ARENA, '-', @2, $1, $3); }
    | expr '*' expr                 { LIMIT_DEPTH(ast_depth_of($1, $3), @2); $$ = ast_binary(ARENA, '*', @2, $1, $3); }
    | expr '/' expr                 { LIMIT_DEPTH(ast_depth_of($1, $3), @2); $$ = ast_binary(ARENA, '/', @2, $1, $3); }
    | '-' expr %prec UMINUS         { LIMIT_DEPTH(ast_depth_of($2, NULL), @1); $$ = ast_neg(ARENA, @1, $2); }
    ;

primary
    : NUMBER                        { $$ = ast_number(ARENA, @1, $1); }
    | TRUE                          { $$ = ast_bool(ARENA, @1, true); }
    | FALSE                         { $$ = ast_bool(ARENA, @1, false); }
    | IDENT                         { $$ = ast_name(ARENA, @1, $1); }
    | '(' expr ')'                  { $$ = $2; }
    /* [a, b, c]   (a trailing comma is allowed) */
    | '[' ']'                       { $$ = ast_list(ARENA, @1, NULL); }
    | '[' items ']'                 { LIMIT_DEPTH(ast_args_depth($2), @1); $$ = ast_list(ARENA, @1, $2); }
    | '[' items ',' ']'             { LIMIT_DEPTH(ast_args_depth($2), @1); $$ = ast_list(ARENA, @1, $2); }
    /* name(args): int(x), gated_silu(dim_feedforward = x), ttt_linear(mini_batch = 16, ...) */
    | IDENT '(' ')'                 { $$ = ast_call(ARENA, @1, $1, NULL); }
    | IDENT '(' args ')'            { LIMIT_DEPTH(ast_args_depth($3), @1); $$ = ast_call(ARENA, @1, $1, $3); }
    | IDENT '(' args ',' ')'        { LIMIT_DEPTH(ast_args_depth($3), @1); $$ = ast_call(ARENA, @1, $1, $3); }
    ;

/* List items and call arguments, in reverse order (ast_list and ast_call put them right). */
items
    : expr                          { $$ = ast_arg(ARENA, @1, NULL, $1, NULL); }
    | items ',' expr                { $$ = ast_arg(ARENA, @3, NULL, $3, $1); }
    ;

args
    : arg                           { $$ = $1; }
    | args ',' arg                  { $3->next = $1; $$ = $3; }
    ;

/* NAME = expr (named) or expr (positional, as in int(x)) */
arg
    : IDENT '=' expr                { $$ = ast_arg(ARENA, @1, $1, $3, NULL); }
    | expr                          { $$ = ast_arg(ARENA, @1, NULL, $1, NULL); }
    ;

%%

static void set_after(struct parse_state *ps, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->after, sizeof ps->after, fmt, ap);
    va_end(ap);
}

static bool too_deep(struct loc at, int depth)
{
    if (depth <= AST_MAX_DEPTH)
        return false;
    diag_error(at, "expression nested too deeply (more than %d levels)", AST_MAX_DEPTH);
    return true;
}

/* Only reached for bison's own failures ("memory exhausted": a stack deeper than YYMAXDEPTH). */
static void yyerror(YYLTYPE *loc, yyscan_t scanner, struct parse_state *ps, const char *msg)
{
    (void)scanner;
    if (ps->lex->failed)
        return;
    if (strstr(msg, "exhausted"))
        diag_error(*loc, "the input is nested too deeply");
    else
        diag_error(*loc, "%s", msg);
}

/* ---- syntax error messages ---- */

/* Bison's names of the symbols, as declared above: "identifier", "'model'", "'+'", ... */
static bool named(yysymbol_kind_t k, const char *name)
{
    return strcmp(yysymbol_name(k), name) == 0;
}

static bool is_expression_start(yysymbol_kind_t k)
{
    static const char *const starts[] = { "number", "identifier", "'true'", "'false'", "'('", "'['", "'-'" };
    for (size_t i = 0; i < sizeof starts / sizeof *starts; i++)
        if (named(k, starts[i]))
            return true;
    return false;
}

static bool is_operator(yysymbol_kind_t k)
{
    return named(k, "'+'") || named(k, "'-'") || named(k, "'*'") || named(k, "'/'");
}

static bool is_statement_start(yysymbol_kind_t k)
{
    return named(k, "identifier") || named(k, "'let'") || named(k, "'layers'");
}

static bool contains(const yysymbol_kind_t *set, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (named(set[i], name))
            return true;
    return false;
}

/* "identifier 'foo'", "number 12", "';'", "end of file" */
static void describe_seen(char *buf, size_t size, yysymbol_kind_t k, const struct lex_state *lx)
{
    if (named(k, "identifier") || named(k, "number"))
        snprintf(buf, size, "%s '%s'", yysymbol_name(k), lx->text);
    else if (named(k, "string"))
        snprintf(buf, size, "string %s", lx->text);
    else
        snprintf(buf, size, "%s", yysymbol_name(k));
}

/* "a statement, '}' or end of file": expression starts become "an expression", statement starts
   "a statement", the four operators "an operator". */
static void describe_expected(char *buf, size_t size, const yysymbol_kind_t *set, int n)
{
    const char *items[YYNTOKENS];
    int count = 0;
    bool expression = contains(set, n, "number"), statement = contains(set, n, "'let'");
    bool operators = contains(set, n, "'*'");
    if (statement)
        items[count++] = "a statement";
    else if (expression)
        items[count++] = "an expression";
    for (int i = 0; i < n; i++) {
        if ((expression && is_expression_start(set[i])) || (statement && is_statement_start(set[i]))
            || (operators && is_operator(set[i])))
            continue;
        if (named(set[i], "identifier"))
            items[count++] = "a name";
        else if (named(set[i], "string"))
            items[count++] = "a file name in quotes";
        else
            items[count++] = yysymbol_name(set[i]);
    }
    if (operators)
        items[count++] = "an operator";
    buf[0] = 0;
    for (int i = 0; i < count; i++) {
        size_t used = strlen(buf);
        const char *sep = i == 0 ? "" : i == count - 1 ? " or " : ", ";
        snprintf(buf + used, size - used, "%s%s", sep, items[i]);
    }
}

static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner, struct parse_state *ps)
{
    (void)scanner;
    const struct lex_state *lx = ps->lex;
    if (lx->failed)
        return 0;
    yysymbol_kind_t expected[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, expected, YYNTOKENS);
    if (n < 0)
        return n;
    yysymbol_kind_t seen = yypcontext_token(ctx);
    struct loc at = *yypcontext_location(ctx);
    char saw[128], want[512];
    describe_seen(saw, sizeof saw, seen, lx);

    if (n == 1 && named(expected[0], "'model'")) {
        diag_error(at, "a description starts with 'model NAME;', saw %s", saw);
    } else if (named(seen, "'model'")) {
        diag_error(at, "a file describes one model: a second 'model' declaration is not allowed");
    } else if (contains(expected, n, "';'") && !named(seen, "')'") && !named(seen, "']'")) {
        diag_error(lx->prev_end, "expected ';' after %s", ps->after);
    } else if ((named(seen, "')'") || named(seen, "']'") || named(seen, "'}'")) && lx->nesting == 0) {
        diag_error(at, "unmatched %s", yysymbol_name(seen));
    } else {
        describe_expected(want, sizeof want, expected, n);
        diag_error(at, "expected %s, saw %s", want, saw);
    }
    if (seen == YYSYMBOL_YYEOF && lx->nesting > 0)
        diag_note(lx->open[lx->nesting - 1], "this bracket is not closed");
    return 0;
}

/* ---- entry points ---- */

struct ast_file *parse_text(const char *path, const char *text, size_t len)
{
    diag_add_source(path, text);
    struct arena *arena = arena_new();
    struct ast_file *file = arena_alloc(arena, sizeof *file);
    file->arena = arena;
    file->path = arena_strdup(arena, path);

    struct lex_state lx = { .file = file->path, .arena = arena, .line = 1, .col = 1 };
    struct parse_state ps = { .lex = &lx, .file = file };
    set_after(&ps, "the model declaration");
    yyscan_t scanner;
    if (yylex_init_extra(&lx, &scanner) != 0) {
        fputs("kilnc: out of memory\n", stderr);
        exit(2);
    }
    yy_scan_bytes(text, (int)len, scanner);
    int status = yyparse(scanner, &ps);
    yylex_destroy(scanner);
    if (status != 0) {
        arena_free(arena);
        return NULL;
    }
    return file;
}

/* Reads a whole file (at most AST_MAX_FILE_BYTES) into a NUL-terminated buffer; errors at `at`. */
static char *read_source(const char *path, struct loc at, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error(at, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fputs("kilnc: out of memory\n", stderr);
            exit(2);
        }
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1 || n > AST_MAX_FILE_BYTES)
            break;
        cap *= 2;
        buf = realloc(buf, cap);
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (err || n > AST_MAX_FILE_BYTES) {
        if (err)
            diag_error(at, "cannot read '%s': %s", path, strerror(err));
        else
            diag_error(at, "'%s' is larger than %d MiB", path, AST_MAX_FILE_BYTES >> 20);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* The base file's path: the string, relative to the directory of the file that names it. */
static char *base_path(const char *including, const char *name)
{
    const char *slash = strrchr(including, '/');
    size_t dir = name[0] == '/' || !slash ? 0 : (size_t)(slash - including) + 1;
    char *path = malloc(dir + strlen(name) + 1);
    if (!path) {
        fputs("kilnc: out of memory\n", stderr);
        exit(2);
    }
    memcpy(path, including, dir);
    strcpy(path + dir, name);
    return path;
}

/* The files being read, innermost last: a variant that reaches one of them again is a cycle. */
struct include_stack {
    dev_t dev[AST_MAX_INCLUDES + 1];
    ino_t ino[AST_MAX_INCLUDES + 1];
    const char *path[AST_MAX_INCLUDES + 1];
    int depth;
};

static struct ast_file *parse_chain(const char *path, struct loc at, struct include_stack *stack);

/* Parses the base named by file (if any) into file->base; false on error. */
static bool parse_base(struct ast_file *file, struct include_stack *stack)
{
    if (!file->base_string)
        return true;
    if (stack->depth > AST_MAX_INCLUDES) {
        diag_error(file->base_loc, "base files nested too deeply (more than %d levels)", AST_MAX_INCLUDES);
        return false;
    }
    char *path = base_path(file->path, file->base_string);
    file->base = parse_chain(path, file->base_loc, stack);
    free(path);
    return file->base != NULL;
}

static struct ast_file *parse_chain(const char *path, struct loc at, struct include_stack *stack)
{
    struct stat st = { 0 };
    if (stat(path, &st) == 0) {
        for (int i = 0; i < stack->depth; i++) {
            if (stack->dev[i] == st.st_dev && stack->ino[i] == st.st_ino) {
                char chain[1024] = "";
                for (int j = i; j < stack->depth; j++) {
                    size_t used = strlen(chain);
                    snprintf(chain + used, sizeof chain - used, "%s -> ", stack->path[j]);
                }
                diag_error(at, "base files form a cycle: %s%s", chain, path);
                return NULL;
            }
        }
    }
    size_t len;
    char *text = read_source(path, at, &len);
    if (!text)
        return NULL;
    struct ast_file *file = parse_text(path, text, len);
    free(text);
    if (!file)
        return NULL;
    stack->dev[stack->depth] = st.st_dev;
    stack->ino[stack->depth] = st.st_ino;
    stack->path[stack->depth] = file->path;
    stack->depth++;
    bool ok = parse_base(file, stack);
    stack->depth--;
    if (!ok) {
        ast_free(file);
        return NULL;
    }
    return file;
}

struct ast_file *parse_file(const char *path)
{
    struct include_stack stack = { .depth = 0 };
    return parse_chain(path, (struct loc){ path, 0, 0 }, &stack);
}
