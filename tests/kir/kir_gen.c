/* kir_gen: the kernel IR's test kernels, built by the same builders kilnc uses (compiler/kernels.c)
 * and printed by both back ends, so that tests/kir/kir_test.c can run each kernel twice and compare.
 * usage: kir_gen TARGET DIR    (TARGET: scalar | avx2 | avx512 | neon)
 * writes DIR/c_kernels.c (the C back end's, every symbol prefixed c_), DIR/llvm_kernels.o (the LLVM
 * back end's, prefixed llvm_), DIR/llvm_kernels.h (its prototypes) and DIR/llvm_kernels.ll (its
 * optimized LLVM IR). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_internal.h"
#include "kiln_format.h"

/* A kernel of the test's own: two parallel loops, the second reading what other threads of the
   team wrote in the first (so the barrier between them must hold), then a nowait loop and an
   explicit barrier; the last two balanced (guided chunks; the last one's body continues). */
static void team_kernel(struct emitter *e)
{
    struct kir_func *f = kir_begin(&e->kir, "team", kir_scalar_type(KIR_VOID), 0, "parallel loops and barriers");
    struct kir_node *x = kir_param(f, "x", kir_pointer_type(KIR_F32, false), 0),
                    *y = kir_param(f, "y", kir_pointer_type(KIR_F32, false), 0), *n = kir_param(f, "n", kir_scalar_type(KIR_I32), 0);
    struct kir_node *i = kir_for(f, "i", kir_int(f, 0), n, 1, KIR_PARALLEL);
    kir_store(f, x, i, kir_cast(f, kir_scalar_type(KIR_F32), kir_binary(f, KIR_MUL, i, kir_int(f, 3))));
    kir_end(f);
    i = kir_for(f, "i", kir_int(f, 0), n, 3, KIR_PARALLEL | KIR_BALANCED | KIR_NOWAIT);
    kir_store(f, y, i, kir_load(f, x, kir_binary(f, KIR_SUB, kir_binary(f, KIR_SUB, n, kir_int(f, 1)), i), 1));
    kir_end(f);
    kir_barrier(f);
    i = kir_for(f, "i", kir_int(f, 1), n, 1, KIR_PARALLEL | KIR_BALANCED);
    kir_if(f, kir_binary(f, KIR_AND, kir_binary(f, KIR_GT, i, kir_int(f, 2)), kir_binary(f, KIR_EQ, kir_binary(f, KIR_REM, i, kir_int(f, 3)), kir_int(f, 0))));
    kir_continue(f);
    kir_end(f);
    kir_store(f, x, i, kir_binary(f, KIR_ADD, kir_load(f, y, kir_binary(f, KIR_SUB, i, kir_int(f, 1)), 1), kir_f32(f, 0.5)));
    kir_end(f);
    kir_end_function(f);
}

/* A kernel of the graph functions' means: a record reached through a void * (a scalar field, an
   array field, a field of pointers), a constant table, libm's cosf declared as an extern, and a
   parallel region (LLVM: an outlined function run through kiln_parallel) holding a parallel loop
   and a single. */
static void region_kernel(struct emitter *e, FILE *c)
{
    struct kir_module *m = &e->kir;
    const struct kir_type f32 = kir_scalar_type(KIR_F32), i64 = kir_scalar_type(KIR_I64);
    const int r = kir_record_begin(m, "test_state", false, "the region kernel's state");
    kir_record_field(m, r, "count", i64, 0, 0, "singles run");
    kir_record_field(m, r, "src", kir_pointer_type(KIR_F32, true), 2, 0, "two inputs");
    kir_record_field(m, r, "out", f32, 50, 64, "results");
    kir_print_c_record(c, m, r);
    const int table = kir_global_begin(m, "table", f32, 4, false, "a table");
    for (int i = 0; i < 4; i++)
        kir_init_float(m, table, 0.25 * i - 0.3);
    kir_print_c_global(c, m, table);
    struct kir_func *cosine = kir_begin(m, "cosf", f32, KIR_EXTERN, NULL);
    kir_param(cosine, "x", f32, 0);
    const int cos_index = kir_end_function(cosine);

    struct kir_func *f = kir_begin(m, "region", kir_scalar_type(KIR_VOID), 0, "a region over a record");
    struct kir_node *state = kir_param(f, "state", kir_pointer_type(KIR_VOID, false), 0);
    struct kir_node *n = kir_param(f, "n", kir_scalar_type(KIR_I32), 0);
    struct kir_node *s = kir_decl(f, "s", kir_pointer_cast(f, kir_record_pointer(r, false), state), KIR_CONSTANT);
    kir_parallel(f);
    struct kir_node *i = kir_for(f, "i", kir_int(f, 0), n, 1, KIR_PARALLEL);
    struct kir_node *angle = kir_cast(f, f32, i);
    struct kir_node *term = kir_binary(f, KIR_MUL, kir_load(f, kir_global_ref(f, table), kir_binary(f, KIR_REM, i, kir_int(f, 4)), 1),
                                       kir_call(f, cos_index, 1, &angle));
    struct kir_node *second = kir_load(f, kir_field(f, s, "src"), kir_int(f, 1), 1);
    kir_store(f, kir_field(f, s, "out"), i, kir_binary(f, KIR_ADD, term, kir_load(f, second, i, 1)));
    kir_end(f);
    kir_single(f);
    struct kir_node *count = kir_field(f, s, "count");
    kir_store(f, count, kir_int(f, 0), kir_binary(f, KIR_ADD, kir_load(f, count, kir_int(f, 0), 1), kir_const_int(f, KIR_I64, 1)));
    kir_end(f);
    kir_end(f);
    kir_end_function(f);
}

/* The packed matmuls (vector targets) the test runs, with the names kir_test calls them by. */
static void packed_matmuls(struct emitter *e, FILE *aliases)
{
    enum { CASES = 11 };
    static struct ir_weight weights[CASES];
    static struct ir_module mod = {.weights = weights, .num_weights = CASES};
    static const struct {
        const char *alias;
        int rows, cols, graph_rows, epilogue, scaled, head_dim, capacity, rope, format;
    } cases[CASES] = {
        {"M_STORE_BLOCKED", 100, 64, 32, EPI_STORE, 0, 0, 0, 0, KILN_F32},
        {"M_ACC_SCALED", 64, 70, 1, EPI_ACCUMULATE, 1, 0, 0, 0, KILN_F32},
        {"M_GATE_BLOCKED", 88, 64, 32, EPI_SILU_GATE, 1, 0, 0, 0, KILN_F32},
        {"M_ROPE", 192, 64, 1, EPI_ROPE_KV, 1, 16, 47, 1, KILN_F32},
        {"M_ROPE_BLOCKED", 192, 64, 32, EPI_ROPE_KV, 0, 16, 47, 1, KILN_F32},
        {"M_KV_PAIRS", 144, 48, 1, EPI_ROPE_KV, 0, 6, 8, 0, KILN_F32},
        {"M_BF16_BLOCKED", 100, 64, 32, EPI_STORE, 0, 0, 0, 0, KILN_BF16},
        {"M_BF16_ACC", 64, 70, 1, EPI_ACCUMULATE, 1, 0, 0, 0, KILN_BF16},
        {"M_F16_BLOCKED", 88, 64, 32, EPI_SILU_GATE, 1, 0, 0, 0, KILN_F16},
        {"M_Q8_BLOCKED", 100, 64, 32, EPI_STORE, 0, 0, 0, 0, KILN_Q8_0},
        {"M_Q4_GATE", 88, 96, 1, EPI_SILU_GATE, 1, 0, 0, 0, KILN_Q4_0},
    };
    e->mod = &mod;
    const int NR = 2 * e->target->width;
    for (int i = 0; i < CASES; i++) {
        const int epilogue = cases[i].epilogue;
        weights[i] = (struct ir_weight){.rows = cases[i].rows, .cols = cases[i].cols, .pack_nr = NR, .fold_alpha = -1,
                                        .format = cases[i].format,
                                        .pack_gated = epilogue == EPI_SILU_GATE,
                                        .pack_rows = cases[i].rows / (epilogue == EPI_SILU_GATE ? 2 : epilogue == EPI_ROPE_KV ? 3 : 1)};
        const struct ir_graph g = {.rows = cases[i].graph_rows, .head_dim = cases[i].head_dim, .kv_capacity = cases[i].capacity,
                                   .rope = cases[i].rope};
        const struct ir_op op = {.code = OP_MATMUL, .weight = i, .scale = cases[i].scaled ? 0 : -1,
                                 .epilogue = (enum matmul_epilogue)epilogue};
        const char *symbol = kernel_matmul(e, &g, &op); /* (c_NAME: the alias names NAME) */
        fprintf(aliases, "#define %s %s\n", cases[i].alias, symbol + strlen(e->kir.symbol_prefix));
    }
}

/* dot4(a, b, c, out, out_u7, n): DOT4 on n i32 lanes (a vector target's), once on b's bytes as
   they are and once with their top bits cleared (the form for bytes below 128) */
static void dot4_kernel(struct emitter *e)
{
    const int W = e->target->width;
    struct kir_type in = kir_pointer_type(KIR_I32, true), out = kir_pointer_type(KIR_I32, false);
    struct kir_func *f = kir_begin(&e->kir, "dot4", kir_scalar_type(KIR_VOID), 0, "DOT4 both ways");
    struct kir_node *a = kir_param(f, "a", in, 0), *b = kir_param(f, "b", in, 0), *c = kir_param(f, "c", in, 0),
                    *o = kir_param(f, "out", out, 0), *o7 = kir_param(f, "out_u7", out, 0),
                    *n = kir_param(f, "n", kir_scalar_type(KIR_I32), 0);
    struct kir_node *i = kir_for(f, "i", kir_int(f, 0), n, W, 0);
    struct kir_node *low7 = kir_binary(f, KIR_BAND, kir_load(f, b, i, W), kir_broadcast(f, kir_int(f, 0x7f7f7f7f), W));
    kir_store(f, o, i, kir_dot4(f, kir_load(f, a, i, W), kir_load(f, b, i, W), kir_load(f, c, i, W), false));
    kir_store(f, o7, i, kir_dot4(f, kir_load(f, a, i, W), low7, kir_load(f, c, i, W), true));
    kir_end(f);
    kir_end_function(f);
}

/* A kernel of the test's own where C's rules and LLVM's could part: a minus of a minus, 64-bit
   products of a choice between constants, constants folded past 32 bits, u8 and bool operands (C
   promotes them to int), comparisons of comparisons, a barrier and an array alone in a body. */
static void rules_kernel(struct emitter *e)
{
    struct kir_func *f = kir_begin(&e->kir, "rules", kir_scalar_type(KIR_I64), 0, "integer rules");
    struct kir_node *x = kir_param(f, "x", kir_pointer_type(KIR_I32, true), 0),
                    *u = kir_param(f, "u", kir_pointer_type(KIR_U8, true), 0), *n = kir_param(f, "n", kir_scalar_type(KIR_I32), 0);
    struct kir_type i64 = kir_scalar_type(KIR_I64);
    struct kir_node *acc = kir_decl(f, "acc", kir_const_int(f, KIR_I64, 0), 0);
    kir_if(f, kir_binary(f, KIR_GT, n, kir_int(f, 0)));
    kir_barrier(f);
    kir_end(f);
    struct kir_node *i = kir_for(f, "i", kir_int(f, 0), n, 1, 0);
    struct kir_node *xi = kir_decl(f, "xi", kir_load(f, x, i, 1), KIR_CONSTANT);
    struct kir_node *ui = kir_decl(f, "ui", kir_load(f, u, i, 1), KIR_CONSTANT);
    struct kir_node *positive = kir_binary(f, KIR_GT, xi, kir_int(f, 0)), *negative = kir_binary(f, KIR_LT, xi, kir_int(f, 0));
    struct kir_node *terms[] = {
        kir_unary(f, KIR_NEG, kir_unary(f, KIR_NEG, xi)),
        kir_binary(f, KIR_MUL, kir_cast(f, i64, xi), kir_select(f, positive, kir_const_int(f, KIR_I64, 4000000), kir_const_int(f, KIR_I64, 5000000))),
        kir_binary(f, KIR_MUL, kir_int(f, 65536), kir_int(f, 65537)),
        kir_binary(f, KIR_LT, ui, kir_const_int(f, KIR_U8, 200)),
        kir_binary(f, KIR_DIV, ui, kir_const_int(f, KIR_U8, 3)),
        kir_binary(f, KIR_MAX, ui, kir_const_int(f, KIR_U8, 100)),
        kir_binary(f, KIR_LT, positive, negative),
        kir_binary(f, KIR_OR, kir_binary(f, KIR_AND, positive, kir_binary(f, KIR_GT, ui, kir_const_int(f, KIR_U8, 7))), negative),
    };
    for (size_t k = 0; k < sizeof terms / sizeof terms[0]; k++) {
        struct kir_node *term = terms[k]->type.scalar == KIR_BOOL ? kir_cast(f, kir_scalar_type(KIR_I32), terms[k]) : terms[k];
        kir_assign(f, acc, kir_binary(f, KIR_ADD, kir_binary(f, KIR_MUL, acc, kir_const_int(f, KIR_I64, 3)), kir_cast(f, i64, term)));
    }
    kir_end(f);
    struct kir_node *j = kir_for(f, "j", kir_int(f, 0), kir_int(f, 2), 1, 0);
    struct kir_node *buf = kir_array(f, "buf", KIR_I32, 4);
    kir_store(f, buf, kir_int(f, 3), j);
    kir_assign(f, acc, kir_binary(f, KIR_ADD, acc, kir_cast(f, i64, kir_load(f, buf, kir_int(f, 3), 1))));
    kir_end(f);
    kir_return(f, acc);
    kir_end_function(f);
}

int main(int argc, char **argv)
{
    const struct target *t = argc == 3 ? target_find(argv[1]) : NULL;
    if (!t) {
        fprintf(stderr, "usage: kir_gen scalar|avx2|avx512|avx512vnni|neon DIR\n");
        return 2;
    }
    struct emitter e = {.target = t};
    kir_module_init(&e.kir, t->width, "c_");
    e.kir.linkage = KIR_LINK_ALL;
    char path[4096];
    snprintf(path, sizeof path, "%s/c_kernels.c", argv[2]);
    FILE *c = fopen(path, "w");
    if (!c) {
        perror(path);
        return 2;
    }
    e.kernels = c;
    fprintf(c, "#include <math.h>\n#include <stdint.h>\n#include <string.h>\n#include \"kiln_format.h\"\n");
    print_vocabulary(&e, c, false);
    static const int sizes[] = {1, 5, 16, 64, 70, 100};
    for (int i = 0; i < 6; i++) {
        kernel_dot(&e, sizes[i]);
        kernel_axpy(&e, sizes[i]);
    }
    kernel_rms(&e, 64, false);
    kernel_rms(&e, 70, true);
    kernel_embed_add(&e, 70, KILN_F32);
    kernel_embed_add(&e, 70, KILN_BF16); /* (and axpy_bf16_70: a table in bf16) */
    kernel_embed_add(&e, 70, KILN_F16);
    kernel_dot_of(&e, 100, KILN_BF16);   /* the scalar target's row-major matmul of bf16 or f16 weights */
    kernel_dot_of(&e, 100, KILN_F16);
    kernel_add(&e, 70);
    kernel_silu_gate(&e, 88);
    kernel_gelu_gate(&e, 70);
    const struct ir_graph vectors = {.dim = 64, .head_dim = 16, .heads = 4, .kv_capacity = 47};
    const struct ir_graph pairs = {.dim = 48, .head_dim = 6, .heads = 8, .kv_capacity = 5};
    kernel_rope_qk(&e, &vectors);
    kernel_rope_qk(&e, &pairs);
    kernel_kv_write(&e, &vectors);
    /* attention in one pass, and over a ring long enough to be taken in chunks */
    const struct ir_graph one_pass = {.dim = 64, .heads = 4, .head_dim = 16, .kv_capacity = 47, .context = 16};
    const struct ir_graph chunked = {.dim = 32, .heads = 2, .head_dim = 16, .kv_capacity = 16400, .context = 16390};
    kernel_attention(&e, &one_pass, 192);
    kernel_attention(&e, &chunked, 32);
    kernel_sampling(&e);
    snprintf(path, sizeof path, "%s/aliases.h", argv[2]);
    FILE *aliases = fopen(path, "w");
    if (!aliases) {
        perror(path);
        return 2;
    }
    if (t->width > 1) {
        packed_matmuls(&e, aliases);
        dot4_kernel(&e);
        kir_print_c_function(c, &e.kir, kir_find(&e.kir, "dot4"));
        fprintf(aliases, "#define HAS_DOT4 1\n");
    }
    fclose(aliases);
    team_kernel(&e);
    kir_print_c_function(c, &e.kir, kir_find(&e.kir, "team"));
    rules_kernel(&e);
    kir_print_c_function(c, &e.kir, kir_find(&e.kir, "rules"));
    region_kernel(&e, c);
    kir_print_c_function(c, &e.kir, kir_find(&e.kir, "region"));
    fclose(c);
    if (!kir_verify(&e.kir))
        return 2;

    snprintf(path, sizeof path, "%s/llvm_kernels.h", argv[2]);
    FILE *h = fopen(path, "w");
    if (!h) {
        perror(path);
        return 2;
    }
    e.kir.symbol_prefix = "llvm_";
    for (int i = 0; i < e.kir.num_funcs; i++)
        if (!(e.kir.funcs[i]->flags & KIR_EXTERN))
            kir_print_c_declaration(h, &e.kir, i);
    fclose(h);

    snprintf(path, sizeof path, "%s/llvm_kernels.ll", argv[2]);
    FILE *ll = fopen(path, "w");
    snprintf(path, sizeof path, "%s/llvm_kernels.o", argv[2]);
    struct kir_llvm_target llvm;
    target_llvm(t, NULL, &llvm);
    const bool ok = ll && kir_llvm_emit(&e.kir, &llvm, path, ll);
    if (ll)
        fclose(ll);
    kir_module_free(&e.kir);
    return ok ? 0 : 1;
}
