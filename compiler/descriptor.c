/* descriptor.c: the model's descriptor (runtime/kiln_rt.h's struct kiln_model_desc) and its weight
 * table as kernel IR globals, so that either back end writes them: the runtime's two structs as
 * external records (their fields in kiln_rt.h's order and types; the C back end checks their sizes
 * against the header), then their values. */
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

static struct kir_type text(void) { return kir_pointer_type(KIR_I8, true); }      /* const char * */
static struct kir_type address(void) { return kir_pointer_type(KIR_VOID, true); } /* any pointer */

static void fields(struct kir_module *m, int r, struct kir_type type, const char *names)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", names);
    for (char *save, *name = strtok_r(buf, " ", &save); name; name = strtok_r(NULL, " ", &save))
        kir_record_field(m, r, name, type, 0, 0, NULL);
}

static int weight_desc_record(struct kir_module *m)
{
    const int r = kir_record_begin(m, "kiln_weight_desc", true, NULL);
    const struct kir_type i32 = kir_scalar_type(KIR_I32), i64 = kir_scalar_type(KIR_I64);
    kir_record_field(m, r, "name", text(), 0, 0, NULL);
    kir_record_field(m, r, "rank", i32, 0, 0, NULL);
    kir_record_field(m, r, "shape", i64, 4, 0, NULL); /* KILN_MAX_RANK */
    kir_record_field(m, r, "fold_alpha", i32, 0, 0, NULL);
    fields(m, r, i64, "field_offset read_per_frame");
    fields(m, r, i32, "pack_nr pack_rows pack_gated format rounding weight_class fold transposed");
    kir_record_field(m, r, "macs_per_frame", i64, 0, 0, NULL);
    return r;
}

static int model_desc_record(struct kir_module *m)
{
    const int r = kir_record_begin(m, "kiln_model_desc", true, NULL);
    const struct kir_type i32 = kir_scalar_type(KIR_I32), i64 = kir_scalar_type(KIR_I64);
    fields(m, r, text(), "name target cpu_features weight_format kv_format");
    fields(m, r, i32, "text_card card n_q dep_q num_streams");
    kir_record_field(m, r, "delays", kir_pointer_type(KIR_I32, true), 0, 0, NULL);
    fields(m, r, i32, "dim num_heads num_layers context ffn_hidden depformer_dim depformer_num_heads depformer_num_layers "
                      "depformer_ffn_hidden");
    kir_record_field(m, r, "layer_mixers", text(), 0, 0, NULL);
    kir_record_field(m, r, "num_params", i64, 0, 0, NULL);
    kir_record_field(m, r, "frame_rate", kir_scalar_type(KIR_F64), 0, 0, NULL);
    kir_record_field(m, r, "num_weights", i32, 0, 0, NULL);
    kir_record_field(m, r, "weights", address(), 0, 0, NULL);
    kir_record_field(m, r, "weights_struct_size", i64, 0, 0, NULL);
    kir_record_field(m, r, "weight_bytes_as", i64, KILN_NUM_FORMATS, 0, NULL);
    kir_record_field(m, r, "stream_bytes", i64, 0, 0, NULL);
    fields(m, r, i32, "num_states");
    kir_record_field(m, r, "states", address(), 0, 0, NULL);
    fields(m, r, i32, "num_graphs");
    kir_record_field(m, r, "graphs", address(), 0, 0, NULL);
    kir_record_field(m, r, "stream_reset", address(), 0, 0, NULL);
    kir_record_field(m, r, "max_rows", i32, 0, 0, NULL);
    fields(m, r, address(), "temporal depformer_step stream_advance argmax softmax_exp");
    fields(m, r, i32, "kind sample_rate frame_size num_codebooks bins");
    fields(m, r, address(), "encode decode");
    return r;
}

static int state_desc_record(struct kir_module *m)
{
    const int r = kir_record_begin(m, "kiln_state_desc", true, NULL);
    kir_record_field(m, r, "name", text(), 0, 0, NULL);
    fields(m, r, kir_scalar_type(KIR_I64), "offset bytes");
    kir_record_field(m, r, "role", kir_scalar_type(KIR_I32), 0, 0, NULL);
    kir_record_field(m, r, "graph", text(), 0, 0, NULL);
    return r;
}

static int graph_desc_record(struct kir_module *m)
{
    const int r = kir_record_begin(m, "kiln_graph_desc", true, NULL);
    kir_record_field(m, r, "name", text(), 0, 0, NULL);
    kir_record_field(m, r, "max_rows", kir_scalar_type(KIR_I32), 0, 0, NULL);
    return r;
}

/* The stream's states (ir.h) as kiln_rt.h's kiln_state_desc: name, offset, bytes, role, graph */
static int state_table(struct emitter *e, int record)
{
    const struct ir_module *mod = e->mod;
    struct kir_module *m = &e->kir;
    const struct kir_record *stream = m->records[e->stream_record];
    const int g = kir_global_begin(m, "states", kir_record_type(record), mod->num_states, false,
                                   "the stream's parts: name, offset, bytes, role (enum kiln_state_role), graph");
    for (int i = 0; i < mod->num_states; i++) {
        const struct ir_state *st = &mod->states[i];
        kir_init_string(m, g, st->name);
        kir_init_offsetof(m, g, e->stream_record, kir_record_field_index(stream, st->name), 0);
        kir_init_int(m, g, ir_state_bytes(st));
        kir_init_int(m, g, st->role);
        kir_init_string(m, g, st->graph >= 0 ? mod->graphs[st->graph]->name : "");
    }
    return g;
}

static int graph_table(struct emitter *e, int record)
{
    struct kir_module *m = &e->kir;
    const int g = kir_global_begin(m, "graphs", kir_record_type(record), e->mod->num_graphs, false, "name, max_rows");
    for (int i = 0; i < e->mod->num_graphs; i++) {
        kir_init_string(m, g, e->mod->graphs[i]->name);
        kir_init_int(m, g, e->mod->graphs[i]->rows);
    }
    return g;
}

static bool same_mixer(const struct layer_spec *a, const struct layer_spec *b)
{
    return a->mixer == b->mixer && (a->mixer == MIXER_ATTENTION || a->ttt.mini_batch == b->ttt.mini_batch);
}

/* The temporal layers' mixers as runs, for `info`: "0..1 attention, 2..3 TTT-Linear (mini-batch 16)". */
static void layer_mixers(char *buf, size_t size, const struct transformer_spec *t)
{
    static const char *const names[] = {"attention", "TTT-Linear", "TTT-MLP"};
    size_t n = 0;
    buf[0] = '\0';
    for (int first = 0, last; first < t->num_layers && n < size; first = last + 1) {
        const struct layer_spec *l = &t->layers[first];
        for (last = first; last + 1 < t->num_layers && same_mixer(l, &t->layers[last + 1]);)
            last++;
        n += (size_t)snprintf(buf + n, size - n, "%s%d", first ? ", " : "", first);
        if (last > first && n < size)
            n += (size_t)snprintf(buf + n, size - n, "..%d", last);
        if (n < size)
            n += (size_t)snprintf(buf + n, size - n, " %s", names[l->mixer]);
        if (l->mixer != MIXER_ATTENTION && n < size)
            n += (size_t)snprintf(buf + n, size - n, " (mini-batch %d)", l->ttt.mini_batch);
    }
}

/* The checkpoint names of a weight's entries: "{k}" replaced by the step of a table's entry */
static void entry_name(char *buf, size_t size, const struct ir_weight *w, int k)
{
    const char *hole = strstr(w->name, "{k}");
    if (hole)
        snprintf(buf, size, "%.*s%d%s", (int)(hole - w->name), w->name, k, hole + 3);
    else
        snprintf(buf, size, "%s", w->name);
}

/* The weight table: one entry per checkpoint tensor. Returns the global and the entries' count. */
static int weight_table(struct emitter *e, int record, int *entries)
{
    const struct ir_module *mod = e->mod;
    struct kir_module *m = &e->kir;
    int *first_entry = malloc((size_t)mod->num_weights * sizeof *first_entry + 1);
    *entries = 0;
    for (int i = 0; i < mod->num_weights; i++) {
        first_entry[i] = *entries;
        *entries += mod->weights[i].step == STEP_TABLE ? mod->weights[i].steps : 1;
    }
    const int g = kir_global_begin(m, "weights", kir_record_type(record), *entries, false,
                                   "name, rank, shape, index of the alpha folded into it (-1: none), field, values read per "
                                   "frame,\n   packing: panel rows, block rows, gated; storage and rounding format (see kiln_rt.h)");
    const struct kir_record *weights = m->records[e->weights_record];
    for (int i = 0; i < mod->num_weights; i++) {
        const struct ir_weight *w = &mod->weights[i];
        const int copies = w->step == STEP_TABLE ? w->steps : 1;
        for (int k = 0; k < copies; k++) {
            char name[128];
            entry_name(name, sizeof name, w, k);
            kir_init_string(m, g, name);
            kir_init_int(m, g, w->rank);
            for (int d = 0; d < 4; d++)
                kir_init_int(m, g, d < w->rank ? w->shape[d] : 0);
            kir_init_int(m, g, w->fold_alpha >= 0 ? first_entry[w->fold_alpha] : -1);
            kir_init_offsetof(m, g, e->weights_record, kir_record_field_index(weights, w->field), k);
            kir_init_int(m, g, w->is_embedding ? (long long)w->cols : ir_weight_numel(w) / copies);
            kir_init_int(m, g, w->pack_nr);
            kir_init_int(m, g, w->pack_rows);
            kir_init_int(m, g, w->pack_gated);
            kir_init_int(m, g, w->format);
            kir_init_int(m, g, w->rounding);
            kir_init_int(m, g, w->weight_class);
            kir_init_int(m, g, w->fold);
            kir_init_int(m, g, w->transposed);
            kir_init_int(m, g, w->macs / copies);
        }
    }
    free(first_entry);
    return g;
}

/* What the weights take when the model's `weights` is `format` (the runtime's arena; the classes
   whose keys name a format keep it) */
static int64_t weight_bytes_as(const struct ir_module *mod, int format)
{
    struct ir_formats built_as = mod->formats;
    built_as.weights = format;
    int64_t bytes = 0;
    for (int i = 0; i < mod->num_weights; i++) {
        const struct ir_weight *w = &mod->weights[i];
        const int copies = w->step == STEP_TABLE ? w->steps : 1;
        const long long numel = ir_weight_numel(w) / copies;
        const int as = ir_class_format(&built_as, w->weight_class);
        const int64_t shape[4] = {w->shape[0], w->shape[1], w->shape[2], w->shape[3]};
        bytes += copies * (int64_t)kiln_slot_bytes((size_t)numel, kiln_matrix_cols(w->rank, shape, w->transposed), w->pack_nr, w->pack_rows,
                                                   w->pack_gated,
                                                   w->matrix ? kiln_matrix_format(as, w->is_embedding, (size_t)w->cols) : KILN_F32);
    }
    return bytes;
}

/* A function pointer of the descriptor: the function's, or NULL (index -1: the model has none) */
static void init_function(struct kir_module *m, int global, int function)
{
    if (function >= 0)
        kir_init_function(m, global, function);
    else
        kir_init_int(m, global, 0);
}

void descriptor_build(struct emitter *e, const struct glue_functions *fn, const char *target, const char *features)
{
    struct kir_module *m = &e->kir;
    const struct model *mod = e->model;
    const int weight_desc = weight_desc_record(m), state_desc = state_desc_record(m), graph_desc = graph_desc_record(m);
    const int model_desc = model_desc_record(m);
    const bool codec = mod->kind == MODEL_CODEC;
    const int delays = codec ? -1 : kir_global_begin(m, "delays", kir_scalar_type(KIR_I32), 1 + mod->n_q, false, NULL);
    for (int i = 0; !codec && i <= mod->n_q; i++)
        kir_init_int(m, delays, mod->delays[i]);
    int entries;
    const int table = weight_table(e, weight_desc, &entries), states = state_table(e, state_desc),
              graphs = graph_table(e, graph_desc);
    long long params = 0;
    for (int i = 0; i < e->mod->num_weights; i++)
        params += ir_weight_numel(&e->mod->weights[i]);
    char name[96], mixers[512];
    snprintf(name, sizeof name, "%s_desc", e->name);
    layer_mixers(mixers, sizeof mixers, &mod->temporal);
    const struct transformer_spec *t = &mod->temporal, *d = &mod->depformer;
    const int g = kir_global_begin(m, name, kir_record_type(model_desc), 0, true, NULL);
    kir_init_string(m, g, e->name);
    kir_init_string(m, g, target);
    kir_init_string(m, g, features);
    char formats[160];
    model_weights_text(mod, formats, sizeof formats);
    if (codec)
        snprintf(formats, sizeof formats, "%s", weight_format_names[mod->weights]);
    kir_init_string(m, g, formats);
    kir_init_string(m, g, weight_format_names[mod->kv]);
    const int ints[] = {mod->text_card, mod->card, mod->n_q, mod->dep_q, 1 + mod->n_q};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        kir_init_int(m, g, ints[i]);
    if (codec)
        kir_init_int(m, g, 0);
    else
        kir_init_global(m, g, delays);
    const int shape[] = {t->dim, t->num_heads, t->num_layers, t->context, t->ffn_hidden,
                         d->dim, d->num_heads, d->num_layers, d->ffn_hidden};
    for (size_t i = 0; i < sizeof shape / sizeof shape[0]; i++)
        kir_init_int(m, g, shape[i]);
    kir_init_string(m, g, mixers);
    kir_init_int(m, g, params);
    kir_init_float(m, g, mod->frame_rate);
    kir_init_int(m, g, entries);
    kir_init_global(m, g, table);
    kir_init_sizeof(m, g, e->weights_record);
    for (int format = 0; format < KILN_NUM_FORMATS; format++)
        kir_init_int(m, g, weight_bytes_as(e->mod, format));
    kir_init_sizeof(m, g, e->stream_record);
    kir_init_int(m, g, e->mod->num_states);
    kir_init_global(m, g, states);
    kir_init_int(m, g, e->mod->num_graphs);
    kir_init_global(m, g, graphs);
    kir_init_function(m, g, fn->stream_reset);
    kir_init_int(m, g, codec ? 1 : ir_graph_named(e->mod, "temporal")->rows);
    const int step_functions[] = {fn->temporal, fn->depformer_step, fn->stream_advance, kir_find(m, "argmax"),
                                  kir_find(m, "softmax_exp")};
    for (size_t i = 0; i < sizeof step_functions / sizeof step_functions[0]; i++)
        init_function(m, g, step_functions[i]);
    const struct codec_spec *c = &mod->codec;
    const int facts[] = {codec ? KILN_MODEL_CODEC : KILN_MODEL_LM, c->sample_rate,
                         codec ? codec_frame_size(mod) : 0, c->num_codebooks, c->quantizer.bins};
    for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++)
        kir_init_int(m, g, facts[i]);
    init_function(m, g, fn->encode);
    init_function(m, g, fn->decode);
}
