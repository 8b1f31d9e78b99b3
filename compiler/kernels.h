/* kernels.h: shorthands for the kernel builders (kernels*.c). Each macro builds a node of the
 * function being built, which is `f` wherever they are used; vectors have the target's width. */
#ifndef KILN_KERNELS_H
#define KILN_KERNELS_H
#include "emit_internal.h"
#include "kiln_format.h"

static inline struct kir_type f32_type(void) { return kir_scalar_type(KIR_F32); }
static inline struct kir_type i32_type(void) { return kir_scalar_type(KIR_I32); }
static inline struct kir_type i64_type(void) { return kir_scalar_type(KIR_I64); }
static inline struct kir_type in_ptr(void) { return kir_pointer_type(KIR_F32, true); }   /* const float * */
static inline struct kir_type out_ptr(void) { return kir_pointer_type(KIR_F32, false); } /* float * */
static inline struct kir_type void_type(void) { return kir_scalar_type(KIR_VOID); }
/* Weights stored in `format` (kiln_format.h): their element type, and a pointer to them */
static inline enum kir_scalar format_scalar(int format)
{
    return format == KILN_BF16 ? KIR_BF16 : format == KILN_F16 ? KIR_F16 : kiln_format_is_block(format) ? KIR_U8 : KIR_F32;
}
/* How far a weight pointer moves over `elements` values: elements, or bytes in a block format */
static inline int64_t weight_units(int format, int64_t elements)
{
    return kiln_format_is_block(format) ? (int64_t)kiln_format_bytes_of(format, (size_t)elements) : elements;
}
static inline struct kir_type weight_ptr(int format) { return kir_pointer_type(format_scalar(format), true); }
/* "" for f32, else "_bf16", "_f16", "_q8_0" or "_q4_0": a kernel's name says the format of the
   weights it reads */
static inline const char *format_suffix(int format)
{
    static const char *const suffixes[] = {"", "_bf16", "_f16", "_q8_0", "_q4_0"};
    return suffixes[format];
}
/* p[i .. i + lanes) as f32: loaded, and widened where p points to bf16 or f16 */
static inline struct kir_node *load_weight(struct kir_func *f, struct kir_node *p, struct kir_node *i, int lanes)
{
    struct kir_node *v = kir_load(f, p, i, lanes);
    return v->type.scalar == KIR_F32 ? v : kir_cast(f, kir_vector_type(KIR_F32, lanes), v);
}

/* The panels a streaming matvec reads at once, in lockstep (kernels_packed.c, kernels_quant.c) */
enum { MATVEC_STREAMS = 4 };

/* Kernels are looked up by name, which says everything they are specialized for: formats the name
   into name[KERNEL_NAME] and returns the kernel's index when it is built already, else -1. */
enum { KERNEL_NAME = 96 };
int kernel_lookup(struct emitter *e, char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* n rounded down to whole steps of per_step vectors (0 on the scalar target: all of n is its tail) */
int whole_vectors(const struct emitter *e, int n, int per_step);

#define ADD(a, b) kir_binary(f, KIR_ADD, a, b)
#define SUB(a, b) kir_binary(f, KIR_SUB, a, b)
#define MUL(a, b) kir_binary(f, KIR_MUL, a, b)
#define DIV(a, b) kir_binary(f, KIR_DIV, a, b)
#define MIN(a, b) kir_binary(f, KIR_MIN, a, b)
#define INT(x) kir_int(f, x)
#define F32(x) kir_f32(f, x)
#define LOAD(p, i) kir_load(f, p, i, 1)
#define VLOAD(p, i) kir_load(f, p, i, f->module->width)
#define WLOAD(p, i) load_weight(f, p, i, 1)                 /* a weight, as f32 */
#define WVLOAD(p, i) load_weight(f, p, i, f->module->width) /* a vector of weights, as f32 */
#define SET1(x) kir_broadcast(f, x, f->module->width)
#define WIDE(x) kir_cast(f, i64_type(), x)   /* an index widened before it can overflow */
#define VF_TYPE kir_vector_type(KIR_F32, f->module->width)

/* out[i] = exp(in[i] (/ temp unless NULL) - max) for i < n, their sum added to `sum`: in vectors (vf_exp)
   then a scalar tail (libm's expf) when `vectors`, else all scalar (kernels.c; attention's softmax
   and the sampling's). */
void exp_sum(struct emitter *e, struct kir_func *f, struct kir_node *in, struct kir_node *out, struct kir_node *n,
             struct kir_node *temp, struct kir_node *max, struct kir_node *sum, bool vectors);

/* A lockstep kernel's K panels, panel + k stride (panel<k>), and the two accumulators of each
   (acc<k>_<half>, zero), declared in that order */
struct lockstep {
    int K;
    struct kir_node *panel[MATVEC_STREAMS], *acc[MATVEC_STREAMS][2];
};
static inline void lockstep_begin(struct kir_func *f, struct lockstep *l, struct kir_node *panel, struct kir_node *stride)
{
    for (int k = 0; k < l->K; k++) {
        char var[32];
        snprintf(var, sizeof var, "panel%d", k);
        l->panel[k] = kir_decl(f, var, kir_addr(f, panel, MUL(stride, kir_const_int(f, KIR_I64, k))), KIR_CONSTANT);
        for (int half = 0; half < 2; half++) {
            snprintf(var, sizeof var, "acc%d_%d", k, half);
            l->acc[k][half] = kir_decl(f, var, SET1(F32(0)), 0);
        }
    }
}

/* tiles[k][NR] = panel k's accumulators */
static inline void lockstep_store(struct kir_func *f, const struct lockstep *l, struct kir_node *tiles, int NR)
{
    for (int k = 0; k < l->K; k++)
        for (int half = 0; half < 2; half++)
            kir_store(f, tiles, INT(k * NR + half * f->module->width), l->acc[k][half]);
}

/* x (a scalar f32) as `format` stores it: itself, or rounded to bf16 or f16 (a KV ring's) */
static inline struct kir_node *store_as(struct kir_func *f, int format, struct kir_node *x)
{
    return format == KILN_F32 ? x : kir_cast(f, kir_scalar_type(format_scalar(format)), x);
}
#endif
