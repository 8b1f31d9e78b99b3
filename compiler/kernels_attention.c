/* kernels_attention.c: attention over the KV ring as kernel IR (kir.h). For each row t and head h,
 * out[t][h] = softmax(q[t][h] . k^T / sqrt(hd)) v over the ring slots whose position p' satisfies
 * 0 <= (pos0 + t) - p' < window (slot_pos -1: never written) and, in a codec's, p' >= horizon (its
 * streaming semantics: a ring of exactly `window` positions). Rings are head-major,
 * [head][slot][hd], so a head's keys and values are read as one stream. The (row, head) pairs are
 * shared among the team; each is one thread's. */
#include <math.h>
#include <stdlib.h>
#include "kernels.h"

/* Rings of more than ATTENTION_CHUNK slots (contexts beyond ~16k frames): a thread's score buffers
   would outgrow its stack, so the slots are taken a chunk at a time with an online softmax (the
   sums so far rescaled whenever a chunk raises the max). Smaller rings are one chunk: one pass. */
enum { ATTENTION_CHUNK = 16384 };

/* What one (row, head) pair's code refers to. */
struct head {
    struct kir_node *k, *v, *slot_pos, *pos0, *t, *h, *qh, *weight, *slot, *n;
    struct kir_node *horizon;        /* a codec's: positions below it are not visible; NULL: 0 */
    int dot, axpy, cap, head_dim;
};

/* The visible slots j in [from, to), appended to slot[n] (n counts them). */
static void visible_slots(struct kir_func *f, const struct head *a, struct kir_node *from, struct kir_node *to, int window)
{
    struct kir_node *j = kir_for(f, "j", from, to, 1, 0);
    struct kir_node *written = LOAD(a->slot_pos, j);
    struct kir_node *age = kir_decl(f, "age", SUB(ADD(a->pos0, a->t), written), KIR_CONSTANT);
    struct kir_node *lowest = a->horizon ? a->horizon : kir_const_int(f, KIR_I64, 0);
    kir_if(f, kir_binary(f, KIR_OR, kir_binary(f, KIR_OR, kir_binary(f, KIR_LT, written, lowest),
                                                kir_binary(f, KIR_LT, age, kir_const_int(f, KIR_I64, 0))),
                         kir_binary(f, KIR_GE, age, kir_const_int(f, KIR_I64, window))));
    kir_continue(f);
    kir_end(f);
    kir_store(f, a->slot, a->n, j);
    kir_assign(f, a->n, ADD(a->n, INT(1)));
    kir_end(f);
}

/* The scores of the slots slot[0..n) into weight[0..n), their max into `max`. */
static void scores(struct kir_func *f, const struct head *a, struct kir_node *max, float scale)
{
    struct kir_node *i = kir_for(f, "i", INT(0), a->n, 1, 0);
    struct kir_node *key = kir_addr(f, a->k, MUL(ADD(MUL(WIDE(a->h), INT(a->cap)), WIDE(LOAD(a->slot, i))), INT(a->head_dim)));
    kir_store(f, a->weight, i, MUL(kir_call(f, a->dot, 2, (struct kir_node *[]){key, a->qh}), F32(scale)));
    kir_assign(f, max, kir_binary(f, KIR_MAX, LOAD(a->weight, i), max));
    kir_end(f);
}

/* oh[c] op= by for c < hd, op MUL or DIV; or oh[c] = 0 when `by` is NULL */
static void scale_head(struct kir_func *f, struct kir_node *oh, int head_dim, enum kir_op op, struct kir_node *by)
{
    struct kir_node *c = kir_for(f, "c", INT(0), INT(head_dim), 1, 0);
    kir_store(f, oh, c, by ? kir_binary(f, op, LOAD(oh, c), by) : F32(0));
    kir_end(f);
}

const char *kernel_attention(struct emitter *e, const struct ir_graph *g, int q_stride)
{
    const int D = g->dim, H = g->heads, HD = g->head_dim, cap = g->kv_capacity, window = g->context;
    const bool chunked = cap > ATTENTION_CHUNK;
    char name[KERNEL_NAME];
    const int found = kernel_lookup(e, name, "attention%s_%dx%d_ring%d_window%d%s%s", format_suffix(g->kv_format), H, HD, cap,
                                    window, q_stride != D ? "_in_qkv" : "", g->multirate ? "_horizon" : "");
    if (found >= 0)
        return e->kir.funcs[found]->symbol;
    struct head a = {.dot = kernel_dot_of(e, HD, g->kv_format), .axpy = kernel_axpy_of(e, HD, g->kv_format), .cap = cap,
                     .head_dim = HD};
    char chunk_note[320] = "";
    if (chunked)
        snprintf(chunk_note, sizeof chunk_note,
                 " The slots are taken %d at a time (a thread's\n   buffers stay small): each chunk's visible scores are "
                 "gathered, exponentiated against the\n   running max, and added in; a chunk that raises the max rescales "
                 "the sums so far.", ATTENTION_CHUNK);
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0,
                                   "out[t] = softmax(q[t] k^T / sqrt(%d)) v per head (%d heads), over the %d ring slots whose "
                                   "position\n   p' satisfies 0 <= (pos0 + t) - p' < %d (slot_pos -1: never written). Rings are "
                                   "head-major,\n   [head][slot][%d]%s%s; q rows are %d floats apart.%s",
                                   HD, H, cap, window, HD, g->kv_format == KILN_F32 ? "" : " in ",
                                   g->kv_format == KILN_F32 ? "" : kiln_format_name(g->kv_format), q_stride,
                                   chunked ? chunk_note : " The visible slots' scores are gathered first, so the\n"
                                                          "   exponentials run over a dense array.");
    struct kir_type in = in_ptr();
    struct kir_node *q = kir_param(f, "q", in, KIR_RESTRICT);
    a.k = kir_param(f, "k", weight_ptr(g->kv_format), KIR_RESTRICT);
    a.v = kir_param(f, "v", weight_ptr(g->kv_format), KIR_RESTRICT);
    a.slot_pos = kir_param(f, "slot_pos", kir_pointer_type(KIR_I64, true), KIR_RESTRICT);
    a.pos0 = kir_param(f, "pos0", i64_type(), 0);
    a.horizon = g->multirate ? kir_param(f, "horizon", i64_type(), 0) : NULL;
    struct kir_node *out = kir_param(f, "out", out_ptr(), KIR_RESTRICT),
                    *T = kir_param(f, "T", i32_type(), 0);
    const int buffer = chunked ? ATTENTION_CHUNK : cap;
    a.weight = kir_array(f, "weight", KIR_F32, buffer);
    a.slot = kir_array(f, "slot", KIR_I32, buffer);
    /* (one ring: the visible slots of a row listed once per thread, not once per head) */
    struct kir_node *listed_row = chunked ? NULL : kir_decl(f, "listed_row", INT(-1), 0);
    a.n = chunked ? NULL : kir_decl(f, "n", INT(0), 0);
    kir_comment(f, "(row, head) pairs: t = th / %d, h = th %% %d", H, H);
    struct kir_node *th = kir_for(f, "th", INT(0), MUL(T, INT(H)), 1, KIR_PARALLEL);
    a.t = kir_decl(f, "t", DIV(th, INT(H)), KIR_CONSTANT);
    a.h = kir_decl(f, "h", kir_binary(f, KIR_REM, th, INT(H)), KIR_CONSTANT);
    a.qh = kir_decl(f, "qh", kir_addr(f, q, ADD(MUL(a.t, INT(q_stride)), MUL(a.h, INT(HD)))), KIR_CONSTANT);
    struct kir_node *oh = kir_decl(f, "oh", kir_addr(f, out, ADD(MUL(a.t, INT(D)), MUL(a.h, INT(HD)))), KIR_CONSTANT);
    const float scale = 1.0f / sqrtf((float)HD);
    scale_head(f, oh, HD, KIR_MUL, NULL);
    if (!chunked) {
        kir_if(f, kir_binary(f, KIR_NE, a.t, listed_row));
        kir_comment(f, "the slots row t sees (slot[0..n)), for each of its heads this thread takes");
        kir_assign(f, a.n, INT(0));
        visible_slots(f, &a, INT(0), INT(cap), window);
        kir_assign(f, listed_row, a.t);
        kir_end(f);
        struct kir_node *max = kir_decl(f, "max", F32(-INFINITY), 0);
        scores(f, &a, max, scale);
        struct kir_node *sum = kir_decl(f, "sum", F32(0), 0);
        exp_sum(e, f, a.weight, a.weight, a.n, NULL, max, sum, e->kir.width > 1 && cap >= e->kir.width);
        struct kir_node *i = kir_for(f, "i", INT(0), a.n, 1, 0);
        struct kir_node *value = kir_addr(f, a.v, MUL(ADD(MUL(WIDE(a.h), INT(cap)), WIDE(LOAD(a.slot, i))), INT(HD)));
        kir_eval(f, kir_call(f, a.axpy, 3, (struct kir_node *[]){DIV(LOAD(a.weight, i), sum), value, oh}));
        const int defined = kernel_finish(e, f);
        return e->kir.funcs[defined]->symbol;
    }
    struct kir_node *max = kir_decl(f, "max", F32(-INFINITY), 0), *sum = kir_decl(f, "sum", F32(0), 0);
    struct kir_node *j0 = kir_for(f, "j0", INT(0), INT(cap), ATTENTION_CHUNK, 0);
    struct kir_node *j1 = kir_decl(f, "j1", kir_binary(f, KIR_MIN, ADD(j0, INT(ATTENTION_CHUNK)), INT(cap)), KIR_CONSTANT);
    struct kir_node *chunk_max = kir_decl(f, "chunk_max", F32(-INFINITY), 0);
    a.n = kir_decl(f, "n", INT(0), 0);
    visible_slots(f, &a, j0, j1, window);
    scores(f, &a, chunk_max, scale);
    kir_if(f, kir_binary(f, KIR_EQ, a.n, INT(0)));
    kir_continue(f);
    kir_end(f);
    kir_if(f, kir_binary(f, KIR_GT, chunk_max, max));
    kir_comment(f, "(0 for the first chunk)");
    struct kir_node *r = kir_decl(f, "r", kir_unary(f, KIR_EXP, SUB(max, chunk_max)), KIR_CONSTANT);
    kir_assign(f, sum, MUL(sum, r));
    scale_head(f, oh, HD, KIR_MUL, r);
    kir_assign(f, max, chunk_max);
    kir_end(f);
    exp_sum(e, f, a.weight, a.weight, a.n, NULL, max, sum, e->kir.width > 1 && cap >= e->kir.width);
    struct kir_node *i = kir_for(f, "i", INT(0), a.n, 1, 0);
    struct kir_node *value = kir_addr(f, a.v, MUL(ADD(MUL(WIDE(a.h), INT(cap)), WIDE(LOAD(a.slot, i))), INT(HD)));
    kir_eval(f, kir_call(f, a.axpy, 3, (struct kir_node *[]){LOAD(a.weight, i), value, oh}));
    kir_end(f);
    kir_end(f);
    kir_if(f, kir_binary(f, KIR_GT, sum, F32(0)));
    scale_head(f, oh, HD, KIR_DIV, sum);
    const int defined = kernel_finish(e, f);
    return e->kir.funcs[defined]->symbol;
}
