/* import_moshi.c: fuzzes `kilnc import moshi CONFIG.json -o FILE.kiln` (compiler/import_moshi.c):
 * the JSON configuration reader (cJSON, then every key's type and range), the description it writes
 * and the front end's check of that description. The input is CONFIG.json; the import runs through
 * import_main as kilnc's command line does, without TTT layers and, when that writes a description,
 * again with --ttt-layers 0..0 --ttt linear. Whatever is written must parse and check. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ast.h"
#include "frontend.h"
#include "fuzz.h"

/* The output folder (one per process) and the description's path in it. */
static char out_dir[4096], out_path[4096 + 16];

static void remove_out_dir(void)
{
    unlink(out_path);
    rmdir(out_dir);
}

/* Runs the import; true when it wrote a description, which must then check as a model. */
static bool import(const char *config, bool ttt)
{
    char moshi[] = "moshi", o[] = "-o", layers_flag[] = "--ttt-layers", layers[] = "0..0", kind_flag[] = "--ttt",
         kind[] = "linear";
    char *argv[] = {moshi, (char *)config, o, out_path, layers_flag, layers, kind_flag, kind, NULL};
    import_main(ttt ? 8 : 4, argv);   /* its status counts every error of the process: not used */
    struct stat st;
    if (stat(out_path, &st) != 0)
        return false;
    struct ast_file *ast = parse_file(out_path);
    FUZZ_CHECK(ast);
    struct model model;
    FUZZ_CHECK(check_model(ast, &model));
    FUZZ_CHECK(!ttt || model.temporal.layers[0].mixer == MIXER_TTT_LINEAR);
    model_free(&model);
    ast_free(ast);
    unlink(out_path);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!out_dir[0]) {
        snprintf(out_dir, sizeof out_dir, "%s/kiln-fuzz-import-XXXXXX", fuzz_temp_dir());
        FUZZ_CHECK(mkdtemp(out_dir));
        snprintf(out_path, sizeof out_path, "%s/fuzz.kiln", out_dir);
        atexit(remove_out_dir);
    }
    if (size > AST_MAX_FILE_BYTES)
        return 0;
    const char *config = fuzz_file(data, size);
    if (import(config, false))
        import(config, true);
    return 0;
}
