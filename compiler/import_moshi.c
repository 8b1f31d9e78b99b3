/* import_moshi.c: `kilnc import moshi CONFIG.json -o FILE.kiln [--ttt-layers A..B --ttt KIND ...]`.
 * Reads Moshi's LMModel keyword arguments (`_lm_kwargs`, docs/moshi.md §1.1) from a flat JSON
 * object or from its "lm_kwargs" member, fills the keys it lacks with Moshiko 7B's values, refuses
 * the options kiln does not implement (naming the key), writes a readable description, and checks
 * that description with the front end before it is written (temp file + rename: all or nothing). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ast.h"
#include "frontend.h"

/* ---- the configuration, with Moshiko's values ---- */

struct moshi_config {
    long long text_card, card, n_q, dep_q, text_padding_id;
    long long delays[1024];
    int delay_count;
    long long dim, num_heads, num_layers, context;
    double hidden_scale, max_period, norm_eps;
    bool rope;
    long long dep_dim, dep_num_heads, dep_num_layers, dep_dim_feedforward;   /* -1: int(hidden_scale * dim) */
};

static const struct moshi_config moshiko = {
    .text_card = 32000, .card = 2048, .n_q = 16, .dep_q = 8, .text_padding_id = 3,
    .delays = { 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1 }, .delay_count = 17,
    .dim = 4096, .num_heads = 32, .num_layers = 32, .context = 3000,
    .hidden_scale = 4.125, .max_period = 10000, .norm_eps = 1e-8, .rope = true,
    .dep_dim = 1024, .dep_num_heads = 16, .dep_num_layers = 6, .dep_dim_feedforward = -1,
};

/* ---- what each key means to kiln ---- */

enum key_kind {
    J_INT,                           /* an integer field */
    J_NUMBER,                        /* a number field */
    J_DELAYS,
    J_NORM,                          /* "rms_norm_f32" (eps 1e-8) or "rms_norm" (eps 1e-5) */
    J_POS_EMB,                       /* "rope" or "none" */
    J_INT_OR_NULL,                   /* depformer_dim_feedforward: null = int(hidden_scale * dim) */
    J_REQUIRE,                       /* must have one of the values in `accept` */
    J_HARMLESS,                      /* read by Moshi but changes nothing kiln computes */
    J_NOT_MODEL,                     /* names a file or a runtime setting: ignored with a note */
};

struct json_key {
    const char *name;
    enum key_kind kind;
    size_t offset;                   /* J_INT, J_NUMBER, J_INT_OR_NULL: field of struct moshi_config */
    const char *accept;              /* J_REQUIRE: accepted JSON values, '|'-separated */
    const char *supported;           /* J_REQUIRE: what kiln supports, for the message */
};

#define FIELD(kind, name, field) { name, kind, offsetof(struct moshi_config, field), NULL, NULL }
#define REQUIRE(name, accept, supported) { name, J_REQUIRE, 0, accept, supported }
#define OTHER(name, kind) { name, kind, 0, NULL, NULL }

static const struct json_key json_keys[] = {
    FIELD(J_INT, "dim", dim),
    FIELD(J_INT, "num_heads", num_heads),
    FIELD(J_INT, "num_layers", num_layers),
    FIELD(J_NUMBER, "hidden_scale", hidden_scale),
    FIELD(J_INT, "context", context),
    FIELD(J_NUMBER, "max_period", max_period),
    FIELD(J_INT, "n_q", n_q),
    FIELD(J_INT, "dep_q", dep_q),
    FIELD(J_INT, "card", card),
    FIELD(J_INT, "text_card", text_card),
    FIELD(J_INT, "existing_text_padding_id", text_padding_id),
    OTHER("delays", J_DELAYS),
    OTHER("norm", J_NORM),
    OTHER("positional_embedding", J_POS_EMB),
    FIELD(J_INT, "depformer_dim", dep_dim),
    FIELD(J_INT, "depformer_num_heads", dep_num_heads),
    FIELD(J_INT, "depformer_num_layers", dep_num_layers),
    FIELD(J_INT_OR_NULL, "depformer_dim_feedforward", dep_dim_feedforward),
    REQUIRE("causal", "true", "true"),
    REQUIRE("layer_scale", "null", "null"),
    REQUIRE("gating", "\"silu\"", "silu"),
    REQUIRE("kv_repeat", "1", "1: no grouped-query attention"),
    REQUIRE("bias_proj", "false", "false"),
    REQUIRE("norm_emb", "false", "false"),
    REQUIRE("quantize", "false", "false; use --weights"),
    REQUIRE("cross_attention", "false", "false"),
    REQUIRE("lora", "false", "false: merge the LoRA weights first"),
    REQUIRE("demux_second_stream", "false", "false"),
    REQUIRE("demux_second_text_stream", "false", "false"),
    REQUIRE("text_card_out", "null", "null"),
    REQUIRE("extra_heads_num_heads", "0", "0"),
    REQUIRE("conditioners", "null|{}", "none"),
    REQUIRE("fuser", "null|{}", "none"),
    REQUIRE("depformer_gating", "\"silu\"", "silu"),
    REQUIRE("depformer_pos_emb", "\"none\"", "none"),
    REQUIRE("depformer_multi_linear", "true", "true"),
    REQUIRE("depformer_weights_per_step", "true", "true"),
    REQUIRE("depformer_weights_per_step_schedule", "null", "null"),
    REQUIRE("depformer_low_rank_embeddings", "null", "null"),
    REQUIRE("depformer_layer_scale", "null", "null"),
    REQUIRE("depformer_norm", "null", "null: no norm before the depformer's output heads"),
    OTHER("depformer_context", J_HARMLESS),        /* Moshi overrides it: the context is dep_q */
    OTHER("depformer_max_period", J_HARMLESS),     /* the depformer has no RoPE */
    OTHER("depformer_causal", J_HARMLESS),         /* popped by Moshi's loader */
    OTHER("existing_text_end_padding_id", J_HARMLESS), /* a token id for the caller, no weights */
    OTHER("extra_heads_dim", J_HARMLESS),          /* with extra_heads_num_heads 0 */
    OTHER("lora_rank", J_HARMLESS),
    OTHER("lora_scaling", J_HARMLESS),
    OTHER("gradient_checkpointing", J_HARMLESS),
    OTHER("mimi_name", J_NOT_MODEL),
    OTHER("moshi_name", J_NOT_MODEL),
    OTHER("tokenizer_name", J_NOT_MODEL),
    OTHER("lora_name", J_NOT_MODEL),
    OTHER("model_type", J_NOT_MODEL),
    OTHER("model_id", J_NOT_MODEL),
    OTHER("lm_gen_config", J_NOT_MODEL),
    OTHER("stt_config", J_NOT_MODEL),
    OTHER("tts_config", J_NOT_MODEL),
};
enum { NJSON_KEYS = sizeof json_keys / sizeof *json_keys };

/* ---- command line ---- */

struct import_options {
    const char *config, *output;
    const char *ttt_layers, *ttt_kind, *ttt_mini_batch, *ttt_base_lr;
    bool ttt_gate, ttt_share_qk;
    int ttt_first, ttt_last;
};

static const char usage[] =
    "usage: kilnc import moshi CONFIG.json -o FILE.kiln [TTT options]\n"
    "  Writes a description of the Moshi LM whose LMModel arguments CONFIG.json holds (a flat\n"
    "  object of Moshi's _lm_kwargs, or an object with an \"lm_kwargs\" member). Absent keys take\n"
    "  Moshiko 7B's values. The model is named after FILE's stem (moshi-7b.kiln: moshi_7b).\n"
    "TTT options (turn a range of temporal layers into TTT layers):\n"
    "  --ttt-layers A..B        the layers (inclusive), with --ttt\n"
    "  --ttt linear|mlp         TTT-Linear or TTT-MLP\n"
    "  --ttt-mini-batch N       inner-loop mini-batch size (default 16)\n"
    "  --ttt-base-lr X          base inner learning rate (default 1.0 linear, 0.1 mlp)\n"
    "  --ttt-gate               gate the TTT output (use_gate)\n"
    "  --ttt-share-qk           shared Q/K projection with causal convolutions (share_qk)\n";

static const struct loc no_loc = { NULL, 0, 0 };

/* "--name value" or "--name=value"; *i moves past what was used. */
static const char *option_value(int argc, char **argv, int *i, const char *name, bool *error)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] != 0 && argv[*i][n] != '=')
        return NULL;
    if (argv[*i][n] == '=' ? !argv[*i][n + 1] : *i + 1 >= argc || !argv[*i + 1][0]) {
        diag_error(no_loc, "%s needs a value", name);
        *error = true;
        return NULL;
    }
    return argv[*i][n] == '=' ? argv[*i] + n + 1 : argv[++*i];
}

static bool parse_args(int argc, char **argv, struct import_options *o)
{
    static const char *const valued[] = { "-o", "--ttt-layers", "--ttt-mini-batch", "--ttt-base-lr", "--ttt" };
    for (int i = 1; i < argc; i++) {
        bool error = false;
        const char *value = NULL;
        int which = -1;
        for (int k = 0; k < 5 && !value && !error; k++)
            if ((value = option_value(argc, argv, &i, valued[k], &error)))
                which = k;
        if (error)
            return false;
        const char **slot[] = { &o->output, &o->ttt_layers, &o->ttt_mini_batch, &o->ttt_base_lr, &o->ttt_kind };
        if (value)
            *slot[which] = value;
        else if (strcmp(argv[i], "--ttt-gate") == 0)
            o->ttt_gate = true;
        else if (strcmp(argv[i], "--ttt-share-qk") == 0)
            o->ttt_share_qk = true;
        else if (argv[i][0] == '-' && argv[i][1] != 0) {
            diag_error(no_loc, "unknown option '%s' of 'kilnc import moshi' (see kilnc import --help)", argv[i]);
            return false;
        } else if (!o->config)
            o->config = argv[i];
        else {
            diag_error(no_loc, "one CONFIG.json only: '%s' is a second one", argv[i]);
            return false;
        }
    }
    if (!o->config || !o->output) {
        diag_error(no_loc, "%s (kilnc import moshi CONFIG.json -o FILE.kiln)", !o->config ? "no CONFIG.json given" : "no -o FILE.kiln given");
        return false;
    }
    return true;
}

/* The TTT flags go together: a range and a kind, then the optional hyper-parameters. */
static bool check_ttt_args(struct import_options *o)
{
    bool extras = o->ttt_mini_batch || o->ttt_base_lr || o->ttt_gate || o->ttt_share_qk;
    if (!o->ttt_layers && !o->ttt_kind) {
        if (extras)
            diag_error(no_loc, "the --ttt-* options need --ttt-layers A..B and --ttt linear|mlp");
        return !extras;
    }
    if (!o->ttt_layers || !o->ttt_kind) {
        diag_error(no_loc, "%s", o->ttt_layers ? "--ttt-layers needs --ttt linear|mlp" : "--ttt needs --ttt-layers A..B");
        return false;
    }
    if (strcmp(o->ttt_kind, "linear") != 0 && strcmp(o->ttt_kind, "mlp") != 0) {
        diag_error(no_loc, "--ttt takes linear or mlp, not '%s'", o->ttt_kind);
        return false;
    }
    char *end;
    errno = 0;
    long first = strtol(o->ttt_layers, &end, 10), last = first;
    if (end != o->ttt_layers && strncmp(end, "..", 2) == 0) {
        const char *second = end + 2;
        last = strtol(second, &end, 10);
        if (end == second)
            end = (char *)"?";
    }
    if (errno || end == o->ttt_layers || *end || !(o->ttt_layers[0] >= '0' && o->ttt_layers[0] <= '9')
        || first > 4095 || last > 4095 || last < 0) {
        diag_error(no_loc, "--ttt-layers takes A..B (layer indices, 0-based, inclusive), not '%s'", o->ttt_layers);
        return false;
    }
    if (first > last) {
        diag_error(no_loc, "--ttt-layers %s is reversed; write %ld..%ld", o->ttt_layers, last, first);
        return false;
    }
    o->ttt_first = (int)first;
    o->ttt_last = (int)last;
    if (o->ttt_mini_batch) {
        long n = strtol(o->ttt_mini_batch, &end, 10);
        if (*end || end == o->ttt_mini_batch || n < 1 || n > 65536) {
            diag_error(no_loc, "--ttt-mini-batch takes an integer from 1 to 65536, not '%s'", o->ttt_mini_batch);
            return false;
        }
    }
    if (o->ttt_base_lr) {
        double x = strtod(o->ttt_base_lr, &end);
        if (*end || end == o->ttt_base_lr || !(x > 0) || !isfinite(x)) {
            diag_error(no_loc, "--ttt-base-lr takes a positive number, not '%s'", o->ttt_base_lr);
            return false;
        }
    }
    return true;
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

/* The config's text, to point diagnostics at the key they are about. */
struct json_source {
    const char *path, *text;
    const char *object;              /* where the options' object starts: the text, or "lm_kwargs"'s value */
};

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

/* Where key `name` of the options' object is (the whole file when it cannot be found). */
static struct loc key_loc(const struct json_source *src, const char *name)
{
    const char *p = find_key(src->object, name);
    return p ? json_error_loc(src->path, src->text, p) : (struct loc){ src->path, 0, 0 };
}

/* The JSON text of a value, shortened, for messages. */
static void json_text(const cJSON *item, char *buf, size_t size)
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

static bool read_key(const struct json_source *src, const struct json_key *key, const cJSON *item,
                     struct moshi_config *cfg)
{
    struct loc at = key_loc(src, key->name);
    char text[64];
    json_text(item, text, sizeof text);
    char *field = (char *)cfg + key->offset;
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
    case J_NUMBER:
        if (cJSON_IsNumber(item)) {
            *(double *)(void *)field = item->valuedouble;
            return true;
        }
        diag_error(at, "'%s' must be a number, got %s", key->name, text);
        return false;
    case J_DELAYS: {
        int n = cJSON_IsArray(item) ? cJSON_GetArraySize(item) : -1;
        if (n < 0 || n > 1024) {
            diag_error(at, "'delays' must be a list of at most 1024 integers, got %s", text);
            return false;
        }
        cfg->delay_count = 0;
        for (const cJSON *d = item->child; d; d = d->next) {
            if (!json_integer(d, &cfg->delays[cfg->delay_count++])) {
                diag_error(at, "'delays' must hold integers, got %s", text);
                return false;
            }
        }
        return true;
    }
    case J_NORM:
        if (cJSON_IsString(item) && (!strcmp(item->valuestring, "rms_norm_f32") || !strcmp(item->valuestring, "rms_norm"))) {
            cfg->norm_eps = strcmp(item->valuestring, "rms_norm") == 0 ? 1e-5 : 1e-8;
            return true;
        }
        diag_error(at, "unsupported 'norm': %s (kiln supports rms_norm_f32 and rms_norm)", text);
        return false;
    case J_POS_EMB:
        if (cJSON_IsString(item) && (!strcmp(item->valuestring, "rope") || !strcmp(item->valuestring, "none"))) {
            cfg->rope = strcmp(item->valuestring, "rope") == 0;
            return true;
        }
        diag_error(at, "unsupported 'positional_embedding': %s (kiln supports rope and none)", text);
        return false;
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
    }
    return false;
}

/* A key kiln does not know: a file name is ignored with a note, anything else is an error. */
static bool unknown_key(const struct json_source *src, const cJSON *item)
{
    const char *name = item->string;
    struct loc at = key_loc(src, name);
    size_t n = strlen(name);
    bool names_a_file = cJSON_IsString(item) && n > 5
        && (strcmp(name + n - 5, "_name") == 0 || strcmp(name + n - 5, "_path") == 0 || strcmp(name + n - 5, "_file") == 0);
    if (names_a_file) {
        diag_note(at, "ignoring '%s' (not a model option)", name);
        return true;
    }
    const char *names[NJSON_KEYS];
    for (int i = 0; i < NJSON_KEYS; i++)
        names[i] = json_keys[i].name;
    const char *best = diag_suggest(name, names, NJSON_KEYS);
    if (best)
        diag_error(at, "unknown key '%s'; did you mean '%s'?", name, best);
    else
        diag_error(at, "unknown key '%s' (not one of Moshi's LMModel options that kiln knows)", name);
    return false;
}

static bool read_config(const struct json_source *src, const cJSON *object, struct moshi_config *cfg)
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
        for (int i = 0; i < NJSON_KEYS && !key; i++)
            if (strcmp(json_keys[i].name, item->string) == 0)
                key = &json_keys[i];
        if (!(key ? read_key(src, key, item, cfg) : unknown_key(src, item)))
            ok = false;
    }
    return ok;
}

/* Parses CONFIG.json into cfg (Moshiko's values where a key is absent). src keeps its text, for
   later diagnostics; the caller frees src->text. */
static bool load_config(const char *path, struct moshi_config *cfg, struct json_source *src)
{
    size_t len;
    char *text = read_file(path, &len);
    *src = (struct json_source){ path, text, text };
    if (!text)
        return false;
    diag_add_source(path, text);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    bool ok = false;
    if (!root) {
        diag_error(json_error_loc(path, text, end), "invalid JSON");
    } else if (!cJSON_IsObject(root)) {
        diag_error((struct loc){ path, 0, 0 }, "expected a JSON object of Moshi's LMModel options");
    } else {
        const cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(root, "lm_kwargs");
        const char *at = kwargs ? find_key(text, "lm_kwargs") : NULL;
        if (at)
            src->object = at;
        if (kwargs && !cJSON_IsObject(kwargs))
            diag_error(key_loc(src, "lm_kwargs"), "'lm_kwargs' must be an object");
        else
            ok = read_config(src, kwargs ? kwargs : root, cfg);
    }
    cJSON_Delete(root);
    return ok;
}

/* ---- writing the description ---- */

/* The model's name: the output file's stem, every character outside [A-Za-z0-9_] turned into '_',
   and a '_' before a leading digit. */
static bool model_name(const char *output, char *name, size_t size)
{
    const char *base = strrchr(output, '/');
    base = base ? base + 1 : output;
    size_t n = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot != base)
        n = (size_t)(dot - base);
    size_t need = n + (n > 0 && base[0] >= '0' && base[0] <= '9');
    if (n == 0 || need >= size) {
        diag_error(no_loc, n == 0 ? "the output file '%s' has no name to name the model after"
                                  : "the output file name '%s' makes a model name longer than 63 characters", output);
        return false;
    }
    size_t out = 0;
    if (need > n)
        name[out++] = '_';
    for (size_t i = 0; i < n; i++) {
        char c = base[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        name[out++] = ok ? c : '_';
    }
    name[out] = 0;
    return true;
}

/* A growing string; line_key[n]: the JSON key line n came from (NULL: none). */
#define MAX_KEYED_LINES 64
struct text {
    char *s;
    size_t len, cap;
    const char *line_key[MAX_KEYED_LINES];
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
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

/* put(), for a line that comes from JSON key `key` (diagnostics about it point at the key). */
static void put_keyed(struct text *t, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put_keyed(struct text *t, const char *key, const char *fmt, ...)
{
    int line = 1;
    for (size_t i = 0; i < t->len; i++)
        line += t->s[i] == '\n';
    if (line < MAX_KEYED_LINES)
        t->line_key[line] = key;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put(t, "%s", buf);
}

static const char *number(char *buf, double x)
{
    ast_format_number(buf, 40, x);
    return buf;
}

/* Printable characters only, for the header comment. */
static void put_sanitized(struct text *t, const char *s)
{
    for (; *s; s++)
        put(t, "%c", (unsigned char)*s >= 0x20 && *s != 0x7f ? *s : '?');
}

static void write_ttt(struct text *t, const struct import_options *o)
{
    if (o->ttt_first == o->ttt_last)
        put(t, "    layers %d: ttt_%s(", o->ttt_first, o->ttt_kind);
    else
        put(t, "    layers %d..%d: ttt_%s(", o->ttt_first, o->ttt_last, o->ttt_kind);
    put(t, "mini_batch = %s", o->ttt_mini_batch ? o->ttt_mini_batch : "16");
    if (o->ttt_base_lr) {
        char buf[40];
        put(t, ", base_lr = %s", number(buf, strtod(o->ttt_base_lr, NULL)));
    }
    if (o->ttt_gate)
        put(t, ", gate = true");
    if (o->ttt_share_qk)
        put(t, ", share_qk = true");
    put(t, ");\n");
}

static void write_description(struct text *t, const char *name, const struct moshi_config *c, const struct import_options *o)
{
    char a[40], b[40];
    put(t, "// %s: imported by `kilnc import moshi` from ", name);
    put_sanitized(t, o->config);
    put(t, "\n// (Moshi's LMModel options; the keys it does not set take Moshiko 7B's values).\n");
    put(t, "model %s;\n\n", name);
    put_keyed(t, "text_card", "text_card = %lld;\n", c->text_card);
    put_keyed(t, "card", "card = %lld;\n", c->card);
    put_keyed(t, "n_q", "n_q = %lld;\n", c->n_q);
    put_keyed(t, "dep_q", "dep_q = %lld;\n", c->dep_q);
    put_keyed(t, "delays", "delays = [");
    for (int i = 0; i < c->delay_count; i++)
        put(t, "%s%lld", i ? ", " : "", c->delays[i]);
    put(t, "];\nframe_rate = 12.5;\n");
    put_keyed(t, "existing_text_padding_id", "text_padding_id = %lld;\nweights = f32;\n\n", c->text_padding_id);
    put_keyed(t, "hidden_scale", "let hidden_scale = %s;\n\ntemporal {\n", number(a, c->hidden_scale));
    put_keyed(t, "dim", "    dim = %lld;\n", c->dim);
    put_keyed(t, "num_heads", "    num_heads = %lld;\n", c->num_heads);
    put_keyed(t, "num_layers", "    num_layers = %lld;\n", c->num_layers);
    put_keyed(t, "hidden_scale", "    ffn = gated_silu(dim_feedforward = int(hidden_scale * dim));\n");
    put_keyed(t, "norm", "    norm = rms_norm(eps = %s);\n", number(a, c->norm_eps));
    if (c->rope) {
        put_keyed(t, "max_period", "    rope = interleaved(max_period = %s);\n", number(b, c->max_period));
    } else {
        put_keyed(t, "positional_embedding", "    rope = none;\n");
    }
    put_keyed(t, "context", "    context = %lld;\n", c->context);
    if (o->ttt_kind)
        write_ttt(t, o);
    put(t, "}\n\ndepformer {\n");
    put_keyed(t, "depformer_dim", "    dim = %lld;\n", c->dep_dim);
    put_keyed(t, "depformer_num_heads", "    num_heads = %lld;\n", c->dep_num_heads);
    put_keyed(t, "depformer_num_layers", "    num_layers = %lld;\n", c->dep_num_layers);
    if (c->dep_dim_feedforward < 0)
        put_keyed(t, "hidden_scale", "    ffn = gated_silu(dim_feedforward = int(hidden_scale * dim));\n}\n");
    else
        put_keyed(t, "depformer_dim_feedforward", "    ffn = gated_silu(dim_feedforward = %lld);\n}\n",
                  c->dep_dim_feedforward);
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

/* The description must check to a model (and its TTT range fit it) before it is written. */
/* A diagnostic at a line of the generated description: shown at the JSON key the line came from,
   when the config has that key (otherwise at the description's line, whose text it quotes). */
struct keyed_text {
    const struct text *t;
    const struct json_source *src;
};

static struct loc relocate_to_key(struct loc loc, void *ctx)
{
    const struct keyed_text *k = ctx;
    const char *key = loc.line < MAX_KEYED_LINES ? k->t->line_key[loc.line] : NULL;
    struct loc at = key ? key_loc(k->src, key) : (struct loc){ NULL, 0, 0 };
    return at.line > 0 ? at : (struct loc){ NULL, 0, 0 };
}

static bool check_description(const char *output, const struct json_source *src, const struct text *t,
                              const struct moshi_config *c, const struct import_options *o)
{
    const char *config = src->path;
    if (o->ttt_kind && o->ttt_last >= c->num_layers) {
        diag_error(no_loc, "--ttt-layers %s: the model has %lld layers (0..%lld)", o->ttt_layers, c->num_layers, c->num_layers - 1);
        return false;
    }
    struct keyed_text keyed = { t, src };
    diag_set_relocation(output, relocate_to_key, &keyed);
    struct ast_file *ast = parse_text(output, t->s, t->len);
    struct model m;
    bool ok = ast && check_model(ast, &m);
    ast_free(ast);
    diag_set_relocation(NULL, NULL, NULL);
    if (ok)
        model_free(&m);
    else
        diag_note((struct loc){ config, 0, 0 }, "the description it would write to %s is not valid (see above); "
                                                "nothing was written", output);
    return ok;
}

int import_main(int argc, char **argv)
{
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc < 1) {
        fputs(usage, stderr);
        return 1;
    }
    if (strcmp(argv[0], "moshi") != 0) {
        diag_error(no_loc, "unknown importer '%s' (kiln imports: moshi)", argv[0]);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
    }
    struct import_options o = { 0 };
    char name[64];
    struct moshi_config cfg = moshiko;
    if (!parse_args(argc, argv, &o) || !check_ttt_args(&o) || !model_name(o.output, name, sizeof name))
        return 1;
    struct json_source src;
    if (!load_config(o.config, &cfg, &src)) {
        free((char *)src.text);
        return 1;
    }
    struct text t = { 0 };
    write_description(&t, name, &cfg, &o);
    bool ok = check_description(o.output, &src, &t, &cfg, &o) && write_atomically(o.output, t.s, t.len);
    free(t.s);
    free((char *)src.text);
    return ok && diag_error_count() == 0 ? 0 : 1;
}
