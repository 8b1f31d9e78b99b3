/* import_mimi.c: `kilnc import mimi CONFIG.json -o FILE.kiln [-n NAME]`.
 * Reads a Mimi codec's settings, shaped as Moshi's loaders.py builds Mimi (_seanet_kwargs,
 * _transformer_kwargs, _quantizer_kwargs, sample_rate, frame_rate, channels) plus the codebooks
 * used (num_codebooks), from the object itself or from its "mimi_config" member (a golden's
 * config.json); fills the keys it lacks with the released Mimi's values, refuses the settings kiln
 * does not implement (naming the key and the value) and writes a description that the front end
 * checks first (import_moshi.c's shared half: import_internal.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "frontend.h"
#include "import_internal.h"

/* ---- the configuration, with the released Mimi's values ---- */

struct mimi_config {
    long long sample_rate, channels, num_codebooks;
    double frame_rate;
    struct {
        long long dimension, n_filters, kernel_size, last_kernel_size, residual_kernel_size;
        long long n_residual_layers, dilation_base, compress;
        struct json_ints ratios;
    } seanet;
    struct {
        long long d_model, num_heads, num_layers, dim_feedforward, context;
        long long input_dimension;   /* -1: not given */
        double max_period, layer_scale;   /* layer_scale NAN: null, no layer scale */
        struct json_ints output_dimensions;   /* count 0: not given */
    } transformer;
    struct {
        long long dimension, bins, n_q;
        long long input_dimension, output_dimension;   /* -1: not given */
    } quantizer;
};

static const struct mimi_config released_mimi = {
    .sample_rate = 24000, .channels = 1, .num_codebooks = 8, .frame_rate = 12.5,
    .seanet = { .dimension = 512, .n_filters = 64, .kernel_size = 7, .last_kernel_size = 3, .residual_kernel_size = 3,
                .n_residual_layers = 1, .dilation_base = 2, .compress = 2, .ratios = { 4, { 8, 6, 5, 4 } } },
    .transformer = { .d_model = 512, .num_heads = 8, .num_layers = 8, .dim_feedforward = 2048, .context = 250,
                     .input_dimension = -1, .max_period = 10000, .layer_scale = 0.01 },
    .quantizer = { .dimension = 256, .bins = 2048, .n_q = 32, .input_dimension = -1, .output_dimension = -1 },
};

/* ---- what each key means to kiln ---- */

#define FIELD(kind, name, field) JSON_FIELD(struct mimi_config, kind, name, field)
#define TABLE(keys, what) { keys, sizeof keys / sizeof *keys, what, NULL }

static const struct json_key seanet_keys[] = {
    FIELD(J_INT, "dimension", seanet.dimension),
    FIELD(J_INT, "n_filters", seanet.n_filters),
    FIELD(J_INTS, "ratios", seanet.ratios),
    FIELD(J_INT, "kernel_size", seanet.kernel_size),
    FIELD(J_INT, "last_kernel_size", seanet.last_kernel_size),
    FIELD(J_INT, "residual_kernel_size", seanet.residual_kernel_size),
    FIELD(J_INT, "n_residual_layers", seanet.n_residual_layers),
    FIELD(J_INT, "dilation_base", seanet.dilation_base),
    FIELD(J_INT, "compress", seanet.compress),
    JSON_REQUIRE("channels", "1", "1: mono audio"),
    JSON_REQUIRE("causal", "true", "true"),
    JSON_REQUIRE("pad_mode", "\"constant\"", "constant"),
    JSON_REQUIRE("norm", "\"none\"|\"weight_norm\"", "none and weight_norm"),
    JSON_REQUIRE("activation", "\"ELU\"", "ELU"),
    JSON_REQUIRE("activation_params", "{\"alpha\":1}", "{\"alpha\": 1.0}"),
    JSON_REQUIRE("true_skip", "true", "true: identity shortcuts"),
    JSON_REQUIRE("disable_norm_outer_blocks", "0", "0"),
    JSON_REQUIRE("lstm", "0", "0: no LSTM"),
    JSON_REQUIRE("final_activation", "null", "null"),
};
static const struct json_table seanet = TABLE(seanet_keys, "Mimi's SEANet options");

static const struct json_key transformer_keys[] = {
    FIELD(J_INT, "d_model", transformer.d_model),
    FIELD(J_INT, "num_heads", transformer.num_heads),
    FIELD(J_INT, "num_layers", transformer.num_layers),
    FIELD(J_INT, "dim_feedforward", transformer.dim_feedforward),
    FIELD(J_INT, "context", transformer.context),
    FIELD(J_NUMBER, "max_period", transformer.max_period),
    FIELD(J_NUMBER_OR_NULL, "layer_scale", transformer.layer_scale),
    FIELD(J_INT, "input_dimension", transformer.input_dimension),
    FIELD(J_INTS, "output_dimensions", transformer.output_dimensions),
    JSON_REQUIRE("causal", "true", "true"),
    JSON_REQUIRE("conv_layout", "true", "true: [B, C, T] in and out"),
    JSON_REQUIRE("gating", "\"none\"", "none: a GELU FFN"),
    JSON_REQUIRE("norm", "\"layer_norm\"", "layer_norm"),
    JSON_REQUIRE("positional_embedding", "\"rope\"", "rope"),
    JSON_REQUIRE("bias_ff", "false", "false"),
    JSON_REQUIRE("bias_attn", "false", "false"),
};
static const struct json_table transformer = TABLE(transformer_keys, "Mimi's transformer options");

static const struct json_key quantizer_keys[] = {
    FIELD(J_INT, "dimension", quantizer.dimension),
    FIELD(J_INT, "bins", quantizer.bins),
    FIELD(J_INT, "n_q", quantizer.n_q),
    FIELD(J_INT, "input_dimension", quantizer.input_dimension),
    FIELD(J_INT, "output_dimension", quantizer.output_dimension),
};
static const struct json_table quantizer = TABLE(quantizer_keys, "Mimi's quantizer options");

static const struct json_key mimi_keys[] = {
    FIELD(J_INT, "sample_rate", sample_rate),
    FIELD(J_NUMBER, "frame_rate", frame_rate),
    FIELD(J_INT, "channels", channels),
    FIELD(J_INT, "num_codebooks", num_codebooks),
    JSON_OBJECT("seanet", seanet),
    JSON_OBJECT("transformer", transformer),
    JSON_OBJECT("quantizer", quantizer),
};
static const struct json_table mimi = TABLE(mimi_keys, "Mimi's options");

/* A golden's config.json: "mimi_config" and, beside it, "num_codebooks" (its other keys are not read) */
static const struct json_key golden_keys[] = {
    JSON_OBJECT("mimi_config", mimi),
    FIELD(J_INT, "num_codebooks", num_codebooks),
};
static const struct json_table golden = { golden_keys, 2, NULL, NULL };

/* ---- settings that must agree with others ---- */

/* Where each object's keys are, in the config's text */
struct mimi_sources {
    struct json_source file, mimi, seanet, transformer, quantizer;
};

/* A dimension the projections around the transformers and the quantizer take as given: they are
   identities, so the dimension must be the one they sit on. */
static bool check_dimension(const struct json_source *src, const char *key, long long value, long long need,
                            const char *need_what)
{
    if (value < 0 || value == need)
        return true;
    diag_error(json_key_loc(src, key), "unsupported '%s': %lld (kiln supports %s, %lld: Mimi's projection there "
                                       "is an identity)", key, value, need_what, need);
    return false;
}

static bool check_projections(const struct mimi_sources *src, const struct mimi_config *c)
{
    long long d_model = c->transformer.d_model, seanet_dim = c->seanet.dimension;
    bool ok = check_dimension(&src->transformer, "input_dimension", c->transformer.input_dimension, d_model, "d_model");
    const struct json_ints *out = &c->transformer.output_dimensions;
    if (out->count > 0 && (out->count != 1 || out->items[0] != d_model)) {
        char list[64] = "";
        for (int i = 0; i < out->count && i < 4; i++) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%lld", i ? ", " : "", out->items[i]);
        }
        diag_error(json_key_loc(&src->transformer, "output_dimensions"), "unsupported 'output_dimensions': [%s%s] (kiln "
                   "supports [d_model], [%lld]: one output, its projection an identity)", list, out->count > 4 ? ", ..." : "",
                   d_model);
        ok = false;
    }
    ok = check_dimension(&src->quantizer, "input_dimension", c->quantizer.input_dimension, seanet_dim,
                         "seanet's dimension") && ok;
    ok = check_dimension(&src->quantizer, "output_dimension", c->quantizer.output_dimension, seanet_dim,
                         "seanet's dimension") && ok;
    return ok;
}

/* ---- writing the description ---- */

static void write_description(struct text *t, const char *name, const char *config, const struct mimi_sources *src,
                              const struct mimi_config *c)
{
    char a[40];
    put(t, "// %s: imported by `kilnc import mimi` from ", name);
    put_sanitized(t, config);
    put(t, "\n// (Mimi's settings; the keys it does not set take the released Mimi's values).\n");
    put(t, "model %s;\n\n", name);
    put_keyed(t, &src->mimi, "sample_rate", "sample_rate = %lld;\n", c->sample_rate);
    put_keyed(t, &src->mimi, "frame_rate", "frame_rate = %s;\n", import_number(a, c->frame_rate));
    put_keyed(t, &src->mimi, "channels", "channels = %lld;\n", c->channels);
    put_keyed(t, &src->file, "num_codebooks", "num_codebooks = %lld;\nweights = f32;\n\nseanet {\n", c->num_codebooks);
    const struct json_source *s = &src->seanet;
    put_keyed(t, s, "dimension", "    dimension = %lld;\n", c->seanet.dimension);
    put_keyed(t, s, "n_filters", "    n_filters = %lld;\n", c->seanet.n_filters);
    put_keyed(t, s, "ratios", "    ratios = [");
    for (int i = 0; i < c->seanet.ratios.count; i++)
        put(t, "%s%lld", i ? ", " : "", c->seanet.ratios.items[i]);
    put(t, "];\n");
    put_keyed(t, s, "kernel_size", "    kernel_size = %lld;\n", c->seanet.kernel_size);
    put_keyed(t, s, "last_kernel_size", "    last_kernel_size = %lld;\n", c->seanet.last_kernel_size);
    put_keyed(t, s, "residual_kernel_size", "    residual_kernel_size = %lld;\n", c->seanet.residual_kernel_size);
    put_keyed(t, s, "n_residual_layers", "    n_residual_layers = %lld;\n", c->seanet.n_residual_layers);
    put_keyed(t, s, "dilation_base", "    dilation_base = %lld;\n", c->seanet.dilation_base);
    put_keyed(t, s, "compress", "    compress = %lld;\n}\n\ntransformer {\n", c->seanet.compress);
    s = &src->transformer;
    put_keyed(t, s, "d_model", "    dim = %lld;\n", c->transformer.d_model);
    put_keyed(t, s, "num_heads", "    num_heads = %lld;\n", c->transformer.num_heads);
    put_keyed(t, s, "num_layers", "    num_layers = %lld;\n", c->transformer.num_layers);
    put_keyed(t, s, "dim_feedforward", "    ffn = gelu(dim_feedforward = %lld);\n", c->transformer.dim_feedforward);
    put_keyed(t, s, "norm", "    norm = layer_norm(eps = 1e-5);\n");
    put_keyed(t, s, "max_period", "    rope = interleaved(max_period = %s);\n", import_number(a, c->transformer.max_period));
    put_keyed(t, s, "context", "    context = %lld;\n", c->transformer.context);
    if (!isnan(c->transformer.layer_scale))
        put_keyed(t, s, "layer_scale", "    layer_scale = %s;\n", import_number(a, c->transformer.layer_scale));
    put(t, "}\n\nquantizer {\n");
    s = &src->quantizer;
    put_keyed(t, s, "dimension", "    dimension = %lld;\n", c->quantizer.dimension);
    put_keyed(t, s, "bins", "    bins = %lld;\n", c->quantizer.bins);
    put_keyed(t, s, "n_q", "    n_q = %lld;\n}\n", c->quantizer.n_q);
}

static const char usage[] =
    "usage: kilnc import mimi CONFIG.json -o FILE.kiln [-n NAME]\n"
    "  Writes a description of the Mimi codec whose settings CONFIG.json holds: an object with\n"
    "  Moshi's loaders.py settings of Mimi (\"seanet\", \"transformer\", \"quantizer\" objects,\n"
    "  \"sample_rate\", \"frame_rate\", \"channels\") and the codebooks used (\"num_codebooks\", default 8),\n"
    "  or an object with a \"mimi_config\" member (a golden's config.json; its \"num_codebooks\" is read\n"
    "  too). Absent keys take the released Mimi's values. The model is named NAME, else after FILE's\n"
    "  stem (mimi-small.kiln: mimi_small).\n";

int import_mimi_main(int argc, char **argv)
{
    struct import_options o = { 0 };
    char name[64];
    struct mimi_config cfg = released_mimi;
    struct mimi_sources src;
    int status = import_command_line(argc, argv, usage, false, &o, name, sizeof name);
    if (status >= 0)
        return status;
    if (!json_load_config(o.config, "mimi_config", &golden, &mimi, &cfg, &src.file)) {
        free((char *)src.file.text);
        return 1;
    }
    src.mimi = json_member(&src.file, "mimi_config");
    src.seanet = json_member(&src.mimi, "seanet");
    src.transformer = json_member(&src.mimi, "transformer");
    src.quantizer = json_member(&src.mimi, "quantizer");
    struct text t = { 0 };
    write_description(&t, name, o.config, &src, &cfg);
    bool ok = check_projections(&src, &cfg) && import_write_checked(o.output, o.config, &t);
    free(t.s);
    free((char *)src.file.text);
    return ok && diag_error_count() == 0 ? 0 : 1;
}
