/* frontend.c: fuzzes the description front end: the lexer and parser (compiler/lexer.l, parser.y)
 * and the checker (check.c, check_eval.c). Any bytes are a .kiln file, parsed from memory
 * (parse_text: a base file that `model NAME : "base.kiln"` names is not read) and checked; what
 * parses is dumped (ast.c) and what checks is dumped as a model (model.c), to /dev/null. */
#include <stdlib.h>
#include <string.h>
#include "ast.h"
#include "frontend.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink)
        sink = fopen("/dev/null", "w");
    FUZZ_CHECK(sink);
    if (size > AST_MAX_FILE_BYTES)
        return 0;
    char *text = malloc(size + 1);         /* NUL-terminated, as read_source gives it */
    FUZZ_CHECK(text);
    memcpy(text, data, size);
    text[size] = 0;
    struct ast_file *ast = parse_text("fuzz.kiln", text, size);
    free(text);
    if (!ast)
        return 0;
    FUZZ_CHECK(ast->model_name && !ast->base);
    ast_dump(sink, ast);
    struct model model;
    if (check_model(ast, &model)) {
        FUZZ_CHECK(model.temporal.num_layers > 0 && model.temporal.layers && model.delays);
        model_dump(sink, &model);
        model_free(&model);
    }
    ast_free(ast);
    return 0;
}
