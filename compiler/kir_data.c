/* kir_data.c: the kernel IR's records (C structs, laid out here once for both back ends) and
 * constant globals (tables, the model's descriptor) with their initial values. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "kir.h"

static _Noreturn void data_error(const char *what, const char *name)
{
    fprintf(stderr, "kilnc: internal error: %s %s\n", what, name);
    exit(2);
}

int64_t kir_type_bytes(const struct kir_module *m, struct kir_type t)
{
    static const int bytes[] = {[KIR_BOOL] = 1, [KIR_I8] = 1, [KIR_U8] = 1, [KIR_I16] = 2, [KIR_I32] = 4, [KIR_I64] = 8,
                                [KIR_F16] = 2, [KIR_BF16] = 2, [KIR_F32] = 4, [KIR_F64] = 8};
    if (t.pointer)
        return 8;
    if (t.scalar == KIR_RECORD)
        return m->records[t.record]->size;
    return (int64_t)bytes[t.scalar] * t.lanes;
}

int kir_type_align(const struct kir_module *m, struct kir_type t)
{
    if (!t.pointer && t.scalar == KIR_RECORD)
        return m->records[t.record]->align;
    return (int)kir_type_bytes(m, t);
}

static int64_t round_up(int64_t n, int64_t align) { return (n + align - 1) / align * align; }

int kir_record_begin(struct kir_module *m, const char *name, bool external, const char *comment)
{
    struct kir_record *r = calloc(1, sizeof *r);
    r->name = strdup(name);
    r->external = external;
    r->comment = comment ? strdup(comment) : NULL;
    r->align = 1;
    m->records = realloc(m->records, (size_t)(m->num_records + 1) * sizeof *m->records);
    m->records[m->num_records] = r;
    return m->num_records++;
}

void kir_record_field(struct kir_module *m, int record, const char *name, struct kir_type type, int64_t count, int align,
                      const char *comment_fmt, ...)
{
    struct kir_record *r = m->records[record];
    if (type.lanes != 1 || (!type.pointer && (type.scalar == KIR_VOID || type.scalar == KIR_BOOL)))
        data_error("a field of no size or a vector:", name);
    const int natural = kir_type_align(m, type);
    align = align > natural ? align : natural;
    r->fields = realloc(r->fields, (size_t)(r->num_fields + 1) * sizeof *r->fields);
    struct kir_field *fl = &r->fields[r->num_fields++];
    int64_t end = r->num_fields > 1 ? fl[-1].offset + kir_type_bytes(m, fl[-1].type) * (fl[-1].count ? fl[-1].count : 1) : 0;
    *fl = (struct kir_field){.name = strdup(name), .type = type, .count = count, .offset = round_up(end, align), .align = align};
    if (comment_fmt) {
        va_list ap, again;
        va_start(ap, comment_fmt);
        va_copy(again, ap);
        const int n = vsnprintf(NULL, 0, comment_fmt, ap);
        fl->comment = malloc((size_t)n + 1);
        vsnprintf(fl->comment, (size_t)n + 1, comment_fmt, again);
        va_end(again);
        va_end(ap);
    }
    r->align = align > r->align ? align : r->align;
    r->size = round_up(fl->offset + kir_type_bytes(m, type) * (count ? count : 1), r->align);
}

int kir_record_field_index(const struct kir_record *r, const char *name)
{
    for (int i = 0; i < r->num_fields; i++)
        if (strcmp(r->fields[i].name, name) == 0)
            return i;
    return -1;
}

int kir_global_begin(struct kir_module *m, const char *name, struct kir_type type, int64_t count, bool exported,
                     const char *comment)
{
    struct kir_global *g = calloc(1, sizeof *g);
    g->name = strdup(name);
    g->comment = comment ? strdup(comment) : NULL;
    g->type = type;
    g->count = count;
    g->exported = exported;
    m->globals = realloc(m->globals, (size_t)(m->num_globals + 1) * sizeof *m->globals);
    m->globals[m->num_globals] = g;
    return m->num_globals++;
}

int kir_global_values(const struct kir_module *m, const struct kir_global *g)
{
    int per_element = 1;
    if (!g->type.pointer && g->type.scalar == KIR_RECORD) {
        const struct kir_record *r = m->records[g->type.record];
        per_element = 0;
        for (int i = 0; i < r->num_fields; i++)
            per_element += (int)(r->fields[i].count ? r->fields[i].count : 1);
    }
    return per_element * (int)(g->count ? g->count : 1);
}

static struct kir_init *push(struct kir_module *m, int global, enum kir_init_kind kind)
{
    struct kir_global *g = m->globals[global];
    if (g->num_values == kir_global_values(m, g))
        data_error("more values than elements in global", g->name);
    if (g->num_values == g->cap_values) {
        g->cap_values = g->cap_values ? 2 * g->cap_values : 16;
        g->values = realloc(g->values, (size_t)g->cap_values * sizeof *g->values);
    }
    struct kir_init *v = &g->values[g->num_values++];
    *v = (struct kir_init){.kind = kind};
    return v;
}

void kir_init_int(struct kir_module *m, int global, int64_t value) { push(m, global, KIR_INIT_INT)->ivalue = value; }
void kir_init_float(struct kir_module *m, int global, double value) { push(m, global, KIR_INIT_FLOAT)->fvalue = value; }
void kir_init_string(struct kir_module *m, int global, const char *value)
{
    push(m, global, KIR_INIT_STRING)->string = strdup(value);
}
void kir_init_function(struct kir_module *m, int global, int function) { push(m, global, KIR_INIT_FUNCTION)->index = function; }
void kir_init_global(struct kir_module *m, int global, int other) { push(m, global, KIR_INIT_GLOBAL)->index = other; }
void kir_init_sizeof(struct kir_module *m, int global, int record) { push(m, global, KIR_INIT_SIZEOF)->index = record; }
void kir_init_offsetof(struct kir_module *m, int global, int record, int field, int64_t element)
{
    struct kir_init *v = push(m, global, KIR_INIT_OFFSETOF);
    v->index = record, v->field = field, v->ivalue = element;
}

int64_t kir_init_bytes(const struct kir_module *m, const struct kir_init *v)
{
    const struct kir_record *r = m->records[v->index];
    if (v->kind == KIR_INIT_SIZEOF)
        return r->size;
    const struct kir_field *f = &r->fields[v->field];
    return f->offset + v->ivalue * kir_type_bytes(m, f->type);
}

void kir_free_data(struct kir_module *m)
{
    for (int i = 0; i < m->num_records; i++) {
        struct kir_record *r = m->records[i];
        for (int j = 0; j < r->num_fields; j++)
            free(r->fields[j].name), free(r->fields[j].comment);
        free(r->fields), free(r->name), free(r->comment), free(r);
    }
    for (int i = 0; i < m->num_globals; i++) {
        struct kir_global *g = m->globals[i];
        for (int j = 0; j < g->num_values; j++)
            free(g->values[j].string);
        free(g->values), free(g->name), free(g->comment), free(g);
    }
    free(m->records), free(m->globals);
}
