/* import_moshi.c: `kilnc import moshi CONFIG.json -o FILE.kiln [-n NAME] [--ttt-layers A..B --ttt KIND ...]`.
 * Reads Moshi's LMModel keyword arguments (`_lm_kwargs`, docs/moshi.md §1.1) from a flat JSON
 * object or from its "lm_kwargs" member, fills the keys it lacks with Moshiko 7B's values, refuses
 * the options kiln does not implement (naming the key), writes a readable description, and checks
 * that description with the front end before it is written (import.c, shared with `kilnc import
 * mimi`: the command line, the JSON reader and the checked writer). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "frontend.h"
#include "import_internal.h"

/* ---- the configuration, with Moshiko's values ---- */

struct moshi_config {
    long long text_card, card, n_q, dep_q, text_padding_id;
    struct json_ints delays;
    long long dim, num_heads, num_layers, context;
    double hidden_scale, max_period, norm_eps;
    bool rope;
    long long dep_dim, dep_num_heads, dep_num_layers, dep_dim_feedforward;   /* -1: int(hidden_scale * dim) */
};

static const struct moshi_config moshiko = {
    .text_card = 32000, .card = 2048, .n_q = 16, .dep_q = 8, .text_padding_id = 3,
    .delays = { 17, { 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1 } },
    .dim = 4096, .num_heads = 32, .num_layers = 32, .context = 3000,
    .hidden_scale = 4.125, .max_period = 10000, .norm_eps = 1e-8, .rope = true,
    .dep_dim = 1024, .dep_num_heads = 16, .dep_num_layers = 6, .dep_dim_feedforward = -1,
};

/* ---- what each key means to kiln ---- */

#define FIELD(kind, name, field) JSON_FIELD(struct moshi_config, kind, name, field)
#define REQUIRE JSON_REQUIRE
#define OTHER JSON_OTHER

/* J_OWN keys: "norm" ("rms_norm_f32": eps 1e-8, "rms_norm": eps 1e-5) and "positional_embedding"
   ("rope" or "none") */
static bool read_own(struct loc at, const struct json_key *key, const cJSON *item, void *config)
{
    struct moshi_config *cfg = config;
    char text[64];
    json_text(item, text, sizeof text);
    const char *s = cJSON_IsString(item) ? item->valuestring : "";
    if (strcmp(key->name, "norm") == 0) {
        if (strcmp(s, "rms_norm_f32") == 0 || strcmp(s, "rms_norm") == 0) {
            cfg->norm_eps = strcmp(s, "rms_norm") == 0 ? 1e-5 : 1e-8;
            return true;
        }
        diag_error(at, "unsupported 'norm': %s (kiln supports rms_norm_f32 and rms_norm)", text);
        return false;
    }
    if (strcmp(s, "rope") == 0 || strcmp(s, "none") == 0) {
        cfg->rope = strcmp(s, "rope") == 0;
        return true;
    }
    diag_error(at, "unsupported 'positional_embedding': %s (kiln supports rope and none)", text);
    return false;
}

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
    FIELD(J_INTS, "delays", delays),
    OTHER("norm", J_OWN),
    OTHER("positional_embedding", J_OWN),
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
static const struct json_table lm_kwargs = {
    json_keys, sizeof json_keys / sizeof *json_keys, "Moshi's LMModel options", read_own
};

/* A golden's config.json: the options are its "lm_kwargs" (its other keys are not read) */
static const struct json_key golden_keys[] = { JSON_OBJECT("lm_kwargs", lm_kwargs) };
static const struct json_table golden = { golden_keys, 1, NULL, NULL };

/* ---- import moshi ---- */

static const char usage[] =
    "usage: kilnc import moshi CONFIG.json -o FILE.kiln [-n NAME] [TTT options]\n"
    "       kilnc import mimi CONFIG.json -o FILE.kiln [-n NAME]     (kilnc import mimi --help)\n"
    "  Writes a description of the Moshi LM whose LMModel arguments CONFIG.json holds (a flat\n"
    "  object of Moshi's _lm_kwargs, or an object with an \"lm_kwargs\" member). Absent keys take\n"
    "  Moshiko 7B's values. The model is named NAME, else after FILE's stem (moshi-7b.kiln: moshi_7b).\n"
    "TTT options (turn a range of temporal layers into TTT layers):\n"
    "  --ttt-layers A..B        the layers (inclusive), with --ttt\n"
    "  --ttt linear|mlp         TTT-Linear or TTT-MLP\n"
    "  --ttt-mini-batch N       inner-loop mini-batch size (default 16)\n"
    "  --ttt-base-lr X          base inner learning rate (default 1.0 linear, 0.1 mlp)\n"
    "  --ttt-gate               gate the TTT output (use_gate)\n"
    "  --ttt-share-qk           shared Q/K projection with causal convolutions (share_qk)\n";

/* The TTT flags go together: a range and a kind, then the optional hyper-parameters. */
static bool check_ttt_args(struct import_options *o)
{
    bool extras = o->ttt_mini_batch || o->ttt_base_lr || o->ttt_gate || o->ttt_share_qk;
    if (!o->ttt_layers && !o->ttt_kind) {
        if (extras)
            diag_error(import_no_loc, "the --ttt-* options need --ttt-layers A..B and --ttt linear|mlp");
        return !extras;
    }
    if (!o->ttt_layers || !o->ttt_kind) {
        diag_error(import_no_loc, "%s", o->ttt_layers ? "--ttt-layers needs --ttt linear|mlp" : "--ttt needs --ttt-layers A..B");
        return false;
    }
    if (strcmp(o->ttt_kind, "linear") != 0 && strcmp(o->ttt_kind, "mlp") != 0) {
        diag_error(import_no_loc, "--ttt takes linear or mlp, not '%s'", o->ttt_kind);
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
        diag_error(import_no_loc, "--ttt-layers takes A..B (layer indices, 0-based, inclusive), not '%s'", o->ttt_layers);
        return false;
    }
    if (first > last) {
        diag_error(import_no_loc, "--ttt-layers %s is reversed; write %ld..%ld", o->ttt_layers, last, first);
        return false;
    }
    o->ttt_first = (int)first;
    o->ttt_last = (int)last;
    if (o->ttt_mini_batch) {
        long n = strtol(o->ttt_mini_batch, &end, 10);
        if (*end || end == o->ttt_mini_batch || n < 1 || n > 65536) {
            diag_error(import_no_loc, "--ttt-mini-batch takes an integer from 1 to 65536, not '%s'", o->ttt_mini_batch);
            return false;
        }
    }
    if (o->ttt_base_lr) {
        double x = strtod(o->ttt_base_lr, &end);
        if (*end || end == o->ttt_base_lr || !(x > 0) || !isfinite(x)) {
            diag_error(import_no_loc, "--ttt-base-lr takes a positive number, not '%s'", o->ttt_base_lr);
            return false;
        }
    }
    return true;
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
        put(t, ", base_lr = %s", import_number(buf, strtod(o->ttt_base_lr, NULL)));
    }
    if (o->ttt_gate)
        put(t, ", gate = true");
    if (o->ttt_share_qk)
        put(t, ", share_qk = true");
    put(t, ");\n");
}

static void write_description(struct text *t, const char *name, const struct json_source *src,
                              const struct moshi_config *c, const struct import_options *o)
{
    char a[40], b[40];
    put(t, "// %s: imported by `kilnc import moshi` from ", name);
    put_sanitized(t, o->config);
    put(t, "\n// (Moshi's LMModel options; the keys it does not set take Moshiko 7B's values).\n");
    put(t, "model %s;\n\n", name);
    put_keyed(t, src, "text_card", "text_card = %lld;\n", c->text_card);
    put_keyed(t, src, "card", "card = %lld;\n", c->card);
    put_keyed(t, src, "n_q", "n_q = %lld;\n", c->n_q);
    put_keyed(t, src, "dep_q", "dep_q = %lld;\n", c->dep_q);
    put_keyed(t, src, "delays", "delays = [");
    for (int i = 0; i < c->delays.count; i++)
        put(t, "%s%lld", i ? ", " : "", c->delays.items[i]);
    put(t, "];\nframe_rate = 12.5;\n");
    put_keyed(t, src, "existing_text_padding_id", "text_padding_id = %lld;\nweights = f32;\n\n", c->text_padding_id);
    put_keyed(t, src, "hidden_scale", "let hidden_scale = %s;\n\ntemporal {\n", import_number(a, c->hidden_scale));
    put_keyed(t, src, "dim", "    dim = %lld;\n", c->dim);
    put_keyed(t, src, "num_heads", "    num_heads = %lld;\n", c->num_heads);
    put_keyed(t, src, "num_layers", "    num_layers = %lld;\n", c->num_layers);
    put_keyed(t, src, "hidden_scale", "    ffn = gated_silu(dim_feedforward = int(hidden_scale * dim));\n");
    put_keyed(t, src, "norm", "    norm = rms_norm(eps = %s);\n", import_number(a, c->norm_eps));
    if (c->rope) {
        put_keyed(t, src, "max_period", "    rope = interleaved(max_period = %s);\n", import_number(b, c->max_period));
    } else {
        put_keyed(t, src, "positional_embedding", "    rope = none;\n");
    }
    put_keyed(t, src, "context", "    context = %lld;\n", c->context);
    if (o->ttt_kind)
        write_ttt(t, o);
    put(t, "}\n\ndepformer {\n");
    put_keyed(t, src, "depformer_dim", "    dim = %lld;\n", c->dep_dim);
    put_keyed(t, src, "depformer_num_heads", "    num_heads = %lld;\n", c->dep_num_heads);
    put_keyed(t, src, "depformer_num_layers", "    num_layers = %lld;\n", c->dep_num_layers);
    if (c->dep_dim_feedforward < 0)
        put_keyed(t, src, "hidden_scale", "    ffn = gated_silu(dim_feedforward = int(hidden_scale * dim));\n}\n");
    else
        put_keyed(t, src, "depformer_dim_feedforward", "    ffn = gated_silu(dim_feedforward = %lld);\n}\n",
                  c->dep_dim_feedforward);
}

/* `kilnc import [--help | moshi ...]`; `kilnc import mimi` is import_mimi_main's (main.c dispatches it). */
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
        diag_error(import_no_loc, "unknown importer '%s' (kiln imports: moshi, mimi)", argv[0]);
        return 1;
    }
    struct import_options o = { 0 };
    char name[64];
    struct moshi_config cfg = moshiko;
    int status = import_command_line(argc, argv, usage, true, &o, name, sizeof name);
    if (status >= 0)
        return status;
    if (!check_ttt_args(&o))
        return 1;
    struct json_source src;
    if (!json_load_config(o.config, "lm_kwargs", &golden, &lm_kwargs, &cfg, &src)) {
        free((char *)src.text);
        return 1;
    }
    struct json_source options = json_member(&src, "lm_kwargs");
    bool ok = !o.ttt_kind || o.ttt_last < cfg.num_layers;
    if (!ok)
        diag_error(import_no_loc, "--ttt-layers %s: the model has %lld layers (0..%lld)", o.ttt_layers, cfg.num_layers,
                   cfg.num_layers - 1);
    struct text t = { 0 };
    write_description(&t, name, &options, &cfg, &o);
    ok = ok && import_write_checked(o.output, o.config, &t);
    free(t.s);
    free((char *)src.text);
    return ok && diag_error_count() == 0 ? 0 : 1;
}

/* ==== shared with import_mimi.c (import_internal.h) ==== */

const struct loc import_no_loc = { NULL, 0, 0 };
