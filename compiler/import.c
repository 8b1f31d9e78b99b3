/* import.c: what `kilnc import moshi` (import_moshi.c) and `kilnc import mimi` (import_mimi.c)
 * share (import_internal.h): the command line, the JSON reader (a table of what each key means,
 * errors at the key's line and column) and the writer, which checks the description with the front
 * end before it writes it (temp file + rename: all or nothing). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ast.h"
#include "frontend.h"
#include "import_internal.h"

/* ---- command line ---- */

/* "--name value" or "--name=value"; *i moves past what was used. */
static const char *option_value(int argc, char **argv, int *i, const char *name, bool *error)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] != 0 && argv[*i][n] != '=')
        return NULL;
    if (argv[*i][n] == '=' ? !argv[*i][n + 1] : *i + 1 >= argc || !argv[*i + 1][0]) {
        diag_error(import_no_loc, "%s needs a value", name);
        *error = true;
        return NULL;
    }
    return argv[*i][n] == '=' ? argv[*i] + n + 1 : argv[++*i];
}

static bool parse_args(int argc, char **argv, bool ttt, struct import_options *o)
{
    static const char *const valued[] = { "-o", "-n", "--name", "--ttt-layers", "--ttt-mini-batch", "--ttt-base-lr", "--ttt" };
    const char **slot[] = { &o->output, &o->name, &o->name, &o->ttt_layers, &o->ttt_mini_batch, &o->ttt_base_lr, &o->ttt_kind };
    int nvalued = ttt ? 7 : 3;
    o->importer = argv[0];
    for (int i = 1; i < argc; i++) {
        bool error = false;
        const char *value = NULL;
        int which = -1;
        for (int k = 0; k < nvalued && !value && !error; k++)
            if ((value = option_value(argc, argv, &i, valued[k], &error)))
                which = k;
        if (error)
            return false;
        if (value)
            *slot[which] = value;
        else if (ttt && strcmp(argv[i], "--ttt-gate") == 0)
            o->ttt_gate = true;
        else if (ttt && strcmp(argv[i], "--ttt-share-qk") == 0)
            o->ttt_share_qk = true;
        else if (argv[i][0] == '-' && argv[i][1] != 0) {
            diag_error(import_no_loc, "unknown option '%s' of 'kilnc import %s' (see kilnc import %s --help)", argv[i],
                       o->importer, o->importer);
            return false;
        } else if (!o->config)
            o->config = argv[i];
        else {
            diag_error(import_no_loc, "one CONFIG.json only: '%s' is a second one", argv[i]);
            return false;
        }
    }
    if (!o->config || !o->output) {
        diag_error(import_no_loc, "%s (kilnc import %s CONFIG.json -o FILE.kiln)",
                   !o->config ? "no CONFIG.json given" : "no -o FILE.kiln given", o->importer);
        return false;
    }
    return true;
}

static bool identifier_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

/* --name as given, which must be a name the language reads (not one of its keywords) */
static bool given_name(const char *given, char *name, size_t size)
{
    static const char *const keywords[] = { "model", "let", "layers", "true", "false" };
    bool ok = given[0] && strlen(given) < size;
    for (size_t i = 0; ok && given[i]; i++)
        ok = identifier_char(given[i], i == 0);
    for (size_t i = 0; ok && i < sizeof keywords / sizeof *keywords; i++)
        ok = strcmp(given, keywords[i]) != 0;
    if (!ok) {
        diag_error(import_no_loc, "--name '%s' is not a model name: letters, digits and '_', not starting with a digit, "
                                  "at most %d characters, not a keyword", given, (int)size - 1);
        return false;
    }
    snprintf(name, size, "%s", given);
    return true;
}

/* --name, else the output file's stem, every character outside [A-Za-z0-9_] turned into '_', and a
   '_' before a leading digit. */
static bool model_name(const struct import_options *o, char *name, size_t size)
{
    if (o->name)
        return given_name(o->name, name, size);
    const char *base = strrchr(o->output, '/');
    base = base ? base + 1 : o->output;
    size_t n = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot != base)
        n = (size_t)(dot - base);
    size_t need = n + (n > 0 && base[0] >= '0' && base[0] <= '9');
    if (n == 0 || need >= size) {
        diag_error(import_no_loc, n == 0 ? "the output file '%s' has no name to name the model after"
                                         : "the output file name '%s' makes a model name longer than 63 characters",
                   o->output);
        return false;
    }
    size_t out = 0;
    if (need > n)
        name[out++] = '_';
    for (size_t i = 0; i < n; i++)
        name[out++] = identifier_char(base[i], false) ? base[i] : '_';
    name[out] = 0;
    return true;
}

int import_command_line(int argc, char **argv, const char *usage, bool ttt, struct import_options *o, char *name,
                        size_t size)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
    }
    return parse_args(argc, argv, ttt, o) && model_name(o, name, size) ? -1 : 1;
}

/* ---- reading the JSON ---- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error((struct loc){ path, 0, 0 }, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1 || n > AST_MAX_FILE_BYTES)
            break;
        cap *= 2;
        char *bigger = realloc(buf, cap);
        if (!bigger)
            free(buf);
        buf = bigger;
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf) {
        fputs("kilnc: out of memory\n", stderr);
        exit(2);
    }
    if (err || n > AST_MAX_FILE_BYTES) {
        diag_error((struct loc){ path, 0, 0 }, "%s", err ? strerror(err) : "larger than 16 MiB");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Where cJSON stopped, as a line and column of text. */
static struct loc json_error_loc(const char *path, const char *text, const char *at)
{
    struct loc loc = { path, 1, 1 };
    for (const char *p = text; at && p < at && *p; p++) {
        if (*p == '\n') {
            loc.line++;
            loc.col = 1;
        } else {
            loc.col++;
        }
    }
    return loc;
}

/* The first `"name":` in text from `from` on (its opening quote), or NULL. */
static const char *find_key(const char *from, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strchr(from, '"'); p; p = strchr(p + 1, '"')) {
        if (strncmp(p + 1, name, n) != 0 || p[n + 1] != '"')
            continue;
        const char *q = p + n + 2;
        q += strspn(q, " \t\r\n");
        if (*q == ':')
            return p;
    }
    return NULL;
}

struct loc json_key_loc(const struct json_source *src, const char *name)
{
    const char *p = find_key(src->object, name);
    return p ? json_error_loc(src->path, src->text, p) : (struct loc){ src->path, 0, 0 };
}

struct json_source json_member(const struct json_source *src, const char *name)
{
    const char *p = find_key(src->object, name);
    return (struct json_source){ src->path, src->text, p ? p : src->object };
}

void json_text(const cJSON *item, char *buf, size_t size)
{
    char *s = cJSON_PrintUnformatted(item);
    if (!s) {
        snprintf(buf, size, "?");
        return;
    }
    if (strlen(s) > 60)
        snprintf(buf, size, "%.57s...", s);
    else
        snprintf(buf, size, "%s", s);
    cJSON_free(s);
}

static bool accepted(const cJSON *item, const char *accept)
{
    char text[64];
    json_text(item, text, sizeof text);
    size_t n = strlen(text);
    for (const char *p = accept; *p;) {
        size_t len = strcspn(p, "|");
        if (len == n && strncmp(p, text, n) == 0)
            return true;
        p += len + (p[len] == '|');
    }
    return false;
}

static bool json_integer(const cJSON *item, long long *out)
{
    if (!cJSON_IsNumber(item))
        return false;
    double x = item->valuedouble;
    if (x != floor(x) || fabs(x) > 9007199254740992.0)
        return false;
    *out = (long long)x;
    return true;
}

static bool read_key(const struct json_source *src, const struct json_table *table, const struct json_key *key,
                     const cJSON *item, void *config)
{
    struct loc at = json_key_loc(src, key->name);
    char text[64];
    json_text(item, text, sizeof text);
    char *field = (char *)config + key->offset;
    switch (key->kind) {
    case J_INT_OR_NULL:
        if (cJSON_IsNull(item)) {
            *(long long *)(void *)field = -1;
            return true;
        }
        /* fall through */
    case J_INT:
        if (json_integer(item, (long long *)(void *)field))
            return true;
        if (cJSON_IsNumber(item) && item->valuedouble == floor(item->valuedouble))
            diag_error(at, "'%s' is too large: %s", key->name, text);
        else if (cJSON_IsNull(item) && strcmp(key->name, "context") == 0)
            diag_error(at, "unsupported 'context': null (kiln needs a finite attention context)");
        else
            diag_error(at, "'%s' must be an integer, got %s", key->name, text);
        return false;
    case J_NUMBER_OR_NULL:
        if (cJSON_IsNull(item)) {
            *(double *)(void *)field = NAN;
            return true;
        }
        /* fall through */
    case J_NUMBER:
        if (cJSON_IsNumber(item)) {
            *(double *)(void *)field = item->valuedouble;
            return true;
        }
        diag_error(at, "'%s' must be a number, got %s", key->name, text);
        return false;
    case J_INTS: {
        struct json_ints *ints = (struct json_ints *)(void *)field;
        int n = cJSON_IsArray(item) ? cJSON_GetArraySize(item) : -1;
        if (n < 0 || n > JSON_MAX_INTS) {
            diag_error(at, "'%s' must be a list of at most %d integers, got %s", key->name, JSON_MAX_INTS, text);
            return false;
        }
        ints->count = 0;
        for (const cJSON *d = item->child; d; d = d->next) {
            if (!json_integer(d, &ints->items[ints->count++])) {
                diag_error(at, "'%s' must hold integers, got %s", key->name, text);
                return false;
            }
        }
        return true;
    }
    case J_OBJECT: {
        if (!cJSON_IsObject(item)) {
            diag_error(at, "'%s' must be an object, got %s", key->name, text);
            return false;
        }
        struct json_source member = json_member(src, key->name);
        return json_read_object(&member, key->table, item, config);
    }
    case J_REQUIRE:
        if (accepted(item, key->accept))
            return true;
        diag_error(at, "unsupported '%s': %s (kiln supports %s)", key->name, text, key->supported);
        return false;
    case J_HARMLESS:
        return true;
    case J_NOT_MODEL:
        diag_note(at, "ignoring '%s' (not a model option)", key->name);
        return true;
    case J_OWN:
        return table->read_own(at, key, item, config);
    }
    return false;
}

/* A key kiln does not know: a file name is ignored with a note, anything else is an error. */
static bool unknown_key(const struct json_source *src, const struct json_table *table, const cJSON *item)
{
    const char *name = item->string;
    struct loc at = json_key_loc(src, name);
    size_t n = strlen(name);
    bool names_a_file = cJSON_IsString(item) && n > 5
        && (strcmp(name + n - 5, "_name") == 0 || strcmp(name + n - 5, "_path") == 0 || strcmp(name + n - 5, "_file") == 0);
    if (names_a_file) {
        diag_note(at, "ignoring '%s' (not a model option)", name);
        return true;
    }
    const char **names = malloc((size_t)table->count * sizeof *names);
    if (!names)
        abort();
    for (int i = 0; i < table->count; i++)
        names[i] = table->keys[i].name;
    const char *best = diag_suggest(name, names, (size_t)table->count);
    if (best)
        diag_error(at, "unknown key '%s'; did you mean '%s'?", name, best);
    else
        diag_error(at, "unknown key '%s' (not one of %s that kiln knows)", name, table->what);
    free(names);
    return false;
}

bool json_read_object(const struct json_source *src, const struct json_table *table, const cJSON *object, void *config)
{
    bool ok = true;
    for (const cJSON *item = object->child; item; item = item->next) {
        for (const cJSON *prev = object->child; prev != item; prev = prev->next) {
            if (strcmp(prev->string, item->string) == 0) {
                diag_error((struct loc){ src->path, 0, 0 }, "key '%s' appears twice", item->string);
                ok = false;
            }
        }
        const struct json_key *key = NULL;
        for (int i = 0; i < table->count && !key; i++)
            if (strcmp(table->keys[i].name, item->string) == 0)
                key = &table->keys[i];
        if (!key && !table->what)
            continue;
        if (!(key ? read_key(src, table, key, item, config) : unknown_key(src, table, item)))
            ok = false;
    }
    return ok;
}

static bool json_load(const char *path, const char *what, struct json_source *src, cJSON **root)
{
    size_t len;
    char *text = read_file(path, &len);
    *src = (struct json_source){ path, text, text };
    *root = NULL;
    if (!text)
        return false;
    diag_add_source(path, text);
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!*root) {
        diag_error(json_error_loc(path, text, end), "invalid JSON");
        return false;
    }
    if (!cJSON_IsObject(*root)) {
        diag_error((struct loc){ path, 0, 0 }, "expected a JSON object of %s", what);
        return false;
    }
    return true;
}

bool json_load_config(const char *path, const char *member, const struct json_table *wrapper,
                      const struct json_table *options, void *config, struct json_source *src)
{
    cJSON *root;
    bool ok = json_load(path, options->what, src, &root);
    if (ok)
        ok = json_read_object(src, cJSON_GetObjectItemCaseSensitive(root, member) ? wrapper : options, root, config);
    cJSON_Delete(root);
    return ok;
}

/* ---- writing the description ---- */

void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = 2 * (t->len + (size_t)n + 1);
        t->s = realloc(t->s, t->cap);
        if (!t->s) {
            fputs("kilnc: out of memory\n", stderr);
            exit(2);
        }
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

void put_keyed(struct text *t, const struct json_source *src, const char *key, const char *fmt, ...)
{
    int line = 1;
    for (size_t i = 0; i < t->len; i++)
        line += t->s[i] == '\n';
    if (line < MAX_KEYED_LINES)
        t->line_at[line] = json_key_loc(src, key);
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put(t, "%s", buf);
}

const char *import_number(char buf[40], double x)
{
    ast_format_number(buf, 40, x);
    return buf;
}

void put_sanitized(struct text *t, const char *s)
{
    for (; *s; s++)
        put(t, "%c", (unsigned char)*s >= 0x20 && *s != 0x7f ? *s : '?');
}

/* Writes text to path through a temporary file in the same folder, renamed over it at the end. */
static bool write_atomically(const char *path, const char *text, size_t len)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 12);
    if (!tmp)
        return false;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmpXXXXXX", 11);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        diag_error((struct loc){ path, 0, 0 }, "cannot write: %s", strerror(errno));
        free(tmp);
        return false;
    }
    fchmod(fd, 0644);
    FILE *f = fdopen(fd, "wb");
    bool ok = f && fwrite(text, 1, len, f) == len;
    if (f)
        ok = fclose(f) == 0 && ok;
    else
        close(fd);
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok) {
        diag_error((struct loc){ path, 0, 0 }, "cannot write: %s", strerror(errno));
        remove(tmp);
    }
    free(tmp);
    return ok;
}

/* A diagnostic at a line of the generated description: shown at the JSON key the line came from,
   when the config has that key (otherwise at the description's line, whose text it quotes). */
static struct loc relocate_to_key(struct loc loc, void *ctx)
{
    const struct text *t = ctx;
    struct loc at = loc.line < MAX_KEYED_LINES ? t->line_at[loc.line] : (struct loc){ NULL, 0, 0 };
    return at.line > 0 ? at : (struct loc){ NULL, 0, 0 };
}

bool import_write_checked(const char *output, const char *config, const struct text *t)
{
    diag_set_relocation(output, relocate_to_key, (void *)t);
    struct ast_file *ast = parse_text(output, t->s, t->len);
    struct model m;
    bool ok = ast && check_model(ast, &m);
    ast_free(ast);
    diag_set_relocation(NULL, NULL, NULL);
    if (!ok) {
        diag_note((struct loc){ config, 0, 0 }, "the description it would write to %s is not valid (see above); "
                                                "nothing was written", output);
        return false;
    }
    model_free(&m);
    return write_atomically(output, t->s, t->len);
}
