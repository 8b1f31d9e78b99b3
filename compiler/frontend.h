/* frontend.h: from a .kiln file to a checked model.
 *   parse_file  (lexer.l + parser.y): text -> AST, syntax errors reported;
 *   check_model (check.c):            AST -> struct model, names/ranges/shapes checked.
 * Both report through diag.h and return failure when any error was reported. */
#ifndef KILN_FRONTEND_H
#define KILN_FRONTEND_H
#include <stdbool.h>
#include <stdio.h>
#include "model.h"

struct ast_file;

struct ast_file *parse_file(const char *path);   /* NULL on error */
void ast_dump(FILE *out, const struct ast_file *ast);
void ast_free(struct ast_file *ast);
bool check_model(const struct ast_file *ast, struct model *out);

/* `kilnc import moshi CONFIG.json -o FILE.kiln [-n NAME] [--ttt-layers A..B --ttt linear|mlp ...]`
   (import_moshi.c), and `kilnc import --help`: argv/argc are the arguments after "import".
   Returns the process exit status. */
int import_main(int argc, char **argv);
/* `kilnc import mimi CONFIG.json -o FILE.kiln [-n NAME]` (import_mimi.c): likewise, argv[0] "mimi". */
int import_mimi_main(int argc, char **argv);
#endif
