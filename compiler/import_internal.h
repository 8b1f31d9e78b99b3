/* import_internal.h: what `kilnc import moshi` (import_moshi.c) and `kilnc import mimi`
 * (import_mimi.c) share, defined in import.c: the command line, a JSON configuration read
 * through a table of what each key means, and a description written as text, checked by the front
 * end (its diagnostics shown at the JSON keys its lines came from) and only then written. */
#ifndef KILN_IMPORT_INTERNAL_H
#define KILN_IMPORT_INTERNAL_H
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include "diag.h"

extern const struct loc import_no_loc;   /* a diagnostic about the command line: "kilnc: error: ..." */

/* ---- command line ---- */

struct import_options {
    const char *importer;            /* "moshi", "mimi" */
    const char *config, *output, *name;
    const char *ttt_layers, *ttt_kind, *ttt_mini_batch, *ttt_base_lr;   /* import moshi's TTT options */
    bool ttt_gate, ttt_share_qk;
    int ttt_first, ttt_last;
};

/* Reads an importer's command line (argv[0]: its name; ttt: whether the --ttt* options are allowed)
   into o, and the model's name (--name, else the output file's stem made a name) into name.
   Returns -1 to go on, else the exit status: 0 once --help has printed usage, 1 after an error. */
int import_command_line(int argc, char **argv, const char *usage, bool ttt, struct import_options *o, char *name,
                        size_t size);

/* ---- reading the JSON ---- */

/* The config's text, to point diagnostics at the key they are about. */
struct json_source {
    const char *path, *text;
    const char *object;              /* where the object being read starts in text (keys are searched from there) */
};

/* A key's position in src's object (the whole file when it cannot be found) */
struct loc json_key_loc(const struct json_source *src, const char *name);
/* The source of member `name` (an object) of src's object */
struct json_source json_member(const struct json_source *src, const char *name);
/* The JSON text of a value, shortened, for messages */
void json_text(const cJSON *item, char *buf, size_t size);

#define JSON_MAX_INTS 1024
struct json_ints {
    int count;
    long long items[JSON_MAX_INTS];
};

enum json_kind {
    J_INT,                           /* a long long field */
    J_INT_OR_NULL,                   /* likewise; null gives -1 */
    J_NUMBER,                        /* a double field */
    J_NUMBER_OR_NULL,                /* likewise; null gives NAN */
    J_INTS,                          /* a struct json_ints field */
    J_OBJECT,                        /* an object whose keys its own table reads (into the same configuration) */
    J_REQUIRE,                       /* must have one of the values in `accept` */
    J_HARMLESS,                      /* read by the reference code but changes nothing kiln computes */
    J_NOT_MODEL,                     /* names a file or a runtime setting: ignored with a note */
    J_OWN,                           /* read by the table's read_own */
};

struct json_table;

struct json_key {
    const char *name;
    enum json_kind kind;
    size_t offset;                   /* J_INT .. J_INTS: the field in the importer's configuration */
    const char *accept;              /* J_REQUIRE: accepted JSON values, '|'-separated */
    const char *supported;           /* J_REQUIRE: what kiln supports, for the message */
    const struct json_table *table;  /* J_OBJECT */
};

struct json_table {
    const struct json_key *keys;
    int count;
    const char *what;                /* for an unknown key: "Moshi's LMModel options"; NULL: keys it lacks are ignored */
    /* J_OWN keys: reads item into config, or reports an error and returns false */
    bool (*read_own)(struct loc at, const struct json_key *key, const cJSON *item, void *config);
};

#define JSON_FIELD(config, kind, name, field) { name, kind, offsetof(config, field), NULL, NULL, NULL }
#define JSON_OBJECT(name, table) { name, J_OBJECT, 0, NULL, NULL, &table }
#define JSON_REQUIRE(name, accept, supported) { name, J_REQUIRE, 0, accept, supported, NULL }
#define JSON_OTHER(name, kind) { name, kind, 0, NULL, NULL, NULL }

/* Reads every member of object into config through table; a key twice, a key the table lacks
   (but a string-valued *_name, *_path or *_file: a note) and a bad value are errors. */
bool json_read_object(const struct json_source *src, const struct json_table *table, const cJSON *object, void *config);
/* Reads the configuration in `path` into config: its object with `options`, or, when the object has
   a member `member`, with `wrapper` (which reads that member). src: the file's source (the caller
   frees src->text). Invalid JSON is an error where it fails, a value other than an object an error
   naming options->what. */
bool json_load_config(const char *path, const char *member, const struct json_table *wrapper,
                      const struct json_table *options, void *config, struct json_source *src);

/* ---- writing the description ---- */

/* A growing string; line_at[n]: the JSON key line n came from (line 0: none). */
#define MAX_KEYED_LINES 64
struct text {
    char *s;
    size_t len, cap;
    struct loc line_at[MAX_KEYED_LINES];
};

void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* put(), for a line that comes from key `key` of src's object (diagnostics about it point at the key) */
void put_keyed(struct text *t, const struct json_source *src, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Printable characters only, for the header comment */
void put_sanitized(struct text *t, const char *s);
/* x as the description writes it: the fewest digits that read back the same double */
const char *import_number(char buf[40], double x);
/* Checks the description (parse_text, check_model) and writes it to `output` atomically (a
   temporary file renamed at the end), or says why not in a note at `config`. */
bool import_write_checked(const char *output, const char *config, const struct text *t);
#endif
