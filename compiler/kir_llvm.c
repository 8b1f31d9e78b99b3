/* kir_llvm.c: the LLVM back end's printer of the kernel IR (kir.h), through LLVM 19's C API.
 * Each function becomes an LLVM function whose variables live in stack slots (allocas) that the
 * optimizer promotes to registers; expressions become instructions, vectors <N x float>, loops
 * and ifs basic blocks. The module is verified, optimized with the new pass manager
 * (default<O2>, no fast-math: the C back end's -O2 -ffp-contract=off rounds the same way) and
 * written as an object file for the target's triple, CPU and features.
 *
 * Threads: a parallel loop takes its thread's contiguous share of the iterations (the static
 * schedule) from omp_get_thread_num / omp_get_num_threads, then waits at GOMP_barrier unless it is
 * nowait; a balanced one takes the chunks of GOMP_loop_guided_start / _next and ends with
 * GOMP_loop_end(_nowait): the entry points that gcc's `#pragma omp for` and `#pragma omp barrier`
 * use too (libgomp; clang's libomp provides them as well), so a kernel runs on the team of its
 * caller's parallel region whichever back end printed it. */
#include <stdlib.h>
#include <string.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include "kir.h"
#include "target.h"

struct loop_targets { LLVMBasicBlockRef latch, exit; };

struct printer {
    LLVMContextRef context;
    LLVMModuleRef module;
    LLVMBuilderRef builder;
    const struct kir_module *m;
    const char *cpu, *features;
    bool pairwise_sum;
    enum kir_dot4_form dot4;
    LLVMValueRef *functions;         /* per kernel IR function */
    LLVMTypeRef *function_types;
    LLVMValueRef *globals;           /* per global */
    int regions;                     /* parallel regions outlined so far (their functions' names) */
    /* the function being printed */
    const struct kir_func *f;
    LLVMValueRef function;
    LLVMValueRef *slots;             /* per variable: its alloca */
    struct loop_targets loops[32]; int num_loops;
};

static _Noreturn void unprintable(const struct printer *p, const char *what)
{
    fprintf(stderr, "kilnc: internal error: kernel %s: the LLVM back end cannot print %s\n", p->f->name, what);
    exit(2);
}

static LLVMTypeRef lane_type(const struct printer *p, enum kir_scalar s)
{
    switch (s) {
    case KIR_VOID: return LLVMVoidTypeInContext(p->context);
    case KIR_BOOL: return LLVMInt1TypeInContext(p->context);
    case KIR_I8: case KIR_U8: return LLVMInt8TypeInContext(p->context);
    case KIR_I16: return LLVMInt16TypeInContext(p->context);
    case KIR_I32: return LLVMInt32TypeInContext(p->context);
    case KIR_I64: return LLVMInt64TypeInContext(p->context);
    case KIR_F16: return LLVMHalfTypeInContext(p->context);
    case KIR_BF16: return LLVMBFloatTypeInContext(p->context);
    case KIR_F32: return LLVMFloatTypeInContext(p->context);
    case KIR_F64: return LLVMDoubleTypeInContext(p->context);
    case KIR_RECORD: break;
    }
    return NULL;
}

static LLVMTypeRef llvm_type(const struct printer *p, struct kir_type t)
{
    if (t.pointer)
        return LLVMPointerTypeInContext(p->context, 0);
    LLVMTypeRef lane = lane_type(p, (enum kir_scalar)t.scalar);
    return t.lanes > 1 ? LLVMVectorType(lane, t.lanes) : lane;
}

static unsigned lane_bytes(const struct printer *p, unsigned char scalar)
{
    return (unsigned)LLVMABISizeOfType(LLVMGetModuleDataLayout(p->module), lane_type(p, (enum kir_scalar)scalar));
}

/* What a pointer of type t points to, as an LLVM type: a lane, or a pointer (a pointer field) */
static LLVMTypeRef pointee_type(const struct printer *p, struct kir_type t)
{
    return t.pointer > 1 ? LLVMPointerTypeInContext(p->context, 0) : lane_type(p, (enum kir_scalar)t.scalar);
}

static unsigned pointee_bytes(const struct printer *p, struct kir_type t)
{
    return (unsigned)LLVMABISizeOfType(LLVMGetModuleDataLayout(p->module), pointee_type(p, t));
}

static LLVMTypeRef i32_type(const struct printer *p) { return LLVMInt32TypeInContext(p->context); }
static LLVMTypeRef i64_type(const struct printer *p) { return LLVMInt64TypeInContext(p->context); }

/* An intrinsic such as llvm.fma.<type> for the operand type `type`. */
static LLVMValueRef intrinsic(const struct printer *p, const char *name, LLVMTypeRef type, LLVMValueRef *args, int n)
{
    const unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef overloads[1] = {type};
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(p->module, id, overloads, type ? 1 : 0);
    LLVMTypeRef fn_type = LLVMIntrinsicGetType(p->context, id, overloads, type ? 1 : 0);
    return LLVMBuildCall2(p->builder, fn_type, fn, args, (unsigned)n, "");
}

/* A function of the C library or the OpenMP runtime, declared on first use. */
static LLVMValueRef runtime_call(const struct printer *p, const char *name, LLVMTypeRef result, LLVMTypeRef *params,
                                 LLVMValueRef *args, int n)
{
    LLVMTypeRef type = LLVMFunctionType(result, params, (unsigned)n, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(p->module, name);
    if (!fn)
        fn = LLVMAddFunction(p->module, name, type);
    return LLVMBuildCall2(p->builder, type, fn, args, (unsigned)n, "");
}

static LLVMValueRef expr(struct printer *p, const struct kir_node *n);

static LLVMValueRef to_i64(const struct printer *p, LLVMValueRef index, const struct kir_node *n)
{
    return n->type.scalar == KIR_I64 ? index : LLVMBuildSExt(p->builder, index, i64_type(p), "");
}

/* &pointer[index] */
static LLVMValueRef address(struct printer *p, const struct kir_node *pointer, const struct kir_node *index)
{
    LLVMValueRef base = expr(p, pointer), at = to_i64(p, expr(p, index), index);
    return LLVMBuildGEP2(p->builder, pointee_type(p, pointer->type), base, &at, 1, "");
}

/* The lanes [from, from + count) of v as a vector of count lanes, or lane `from` when count is 1. */
static LLVMValueRef lanes(const struct printer *p, LLVMValueRef v, int from, int count)
{
    if (count == 1)
        return LLVMBuildExtractElement(p->builder, v, LLVMConstInt(i32_type(p), (unsigned)from, 0), "");
    LLVMValueRef mask[64];
    for (int i = 0; i < count; i++)
        mask[i] = LLVMConstInt(i32_type(p), (unsigned)(from + i), 0);
    return LLVMBuildShuffleVector(p->builder, v, LLVMGetPoison(LLVMTypeOf(v)), LLVMConstVector(mask, (unsigned)count), "");
}

static LLVMValueRef maximum(const struct printer *p, LLVMValueRef a, LLVMValueRef b, bool is_max, bool floating)
{
    LLVMValueRef cmp = floating ? LLVMBuildFCmp(p->builder, is_max ? LLVMRealOGT : LLVMRealOLT, a, b, "")
                                : LLVMBuildICmp(p->builder, is_max ? LLVMIntSGT : LLVMIntSLT, a, b, "");
    return LLVMBuildSelect(p->builder, cmp, a, b, "");
}

/* The lanes halved until one is left, (lo half op hi half) at each step: the order of the
   vocabulary's vf_sum on x86; or with pairwise_sum (NEON's), lanes 2i and 2i + 1 at each step. */
static LLVMValueRef reduce(const struct printer *p, LLVMValueRef v, int width, enum kir_op op)
{
    for (; width > 1; width /= 2) {
        LLVMValueRef lo, hi;
        if (p->pairwise_sum && op == KIR_REDUCE_ADD) {
            LLVMValueRef even[32], odd[32];
            for (int i = 0; i < width / 2; i++) {
                even[i] = LLVMConstInt(i32_type(p), (unsigned)(2 * i), 0);
                odd[i] = LLVMConstInt(i32_type(p), (unsigned)(2 * i + 1), 0);
            }
            lo = LLVMBuildShuffleVector(p->builder, v, LLVMGetPoison(LLVMTypeOf(v)), LLVMConstVector(even, (unsigned)width / 2), "");
            hi = LLVMBuildShuffleVector(p->builder, v, LLVMGetPoison(LLVMTypeOf(v)), LLVMConstVector(odd, (unsigned)width / 2), "");
            if (width == 2) {
                lo = LLVMBuildExtractElement(p->builder, lo, LLVMConstInt(i32_type(p), 0, 0), "");
                hi = LLVMBuildExtractElement(p->builder, hi, LLVMConstInt(i32_type(p), 0, 0), "");
            }
        } else {
            lo = lanes(p, v, 0, width / 2), hi = lanes(p, v, width / 2, width / 2);
        }
        v = op == KIR_REDUCE_ADD ? LLVMBuildFAdd(p->builder, lo, hi, "") : maximum(p, lo, hi, true, true);
    }
    return v;
}

static LLVMValueRef splat(const struct printer *p, LLVMValueRef scalar, int width)
{
    LLVMTypeRef vector = LLVMVectorType(LLVMTypeOf(scalar), (unsigned)width);
    LLVMValueRef one = LLVMBuildInsertElement(p->builder, LLVMGetPoison(vector), scalar, LLVMConstInt(i32_type(p), 0, 0), "");
    return LLVMBuildShuffleVector(p->builder, one, LLVMGetPoison(vector),
                                  LLVMConstNull(LLVMVectorType(i32_type(p), (unsigned)width)), "");
}

/* a && b, a || b and c ? a : b evaluate as C does: the second (or the chosen) operand only when needed. */
static LLVMValueRef lazy(struct printer *p, const struct kir_node *n)
{
    LLVMBasicBlockRef first = LLVMAppendBasicBlockInContext(p->context, p->function, "");
    LLVMBasicBlockRef second = LLVMAppendBasicBlockInContext(p->context, p->function, "");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(p->context, p->function, "");
    LLVMValueRef cond = expr(p, n->arg[0]), values[2];
    LLVMBasicBlockRef from[2];
    if (n->op == KIR_SELECT) {
        LLVMBuildCondBr(p->builder, cond, first, second);
        LLVMPositionBuilderAtEnd(p->builder, first);
        values[0] = expr(p, n->arg[1]);
        from[0] = LLVMGetInsertBlock(p->builder);
        LLVMBuildBr(p->builder, join);
    } else { /* AND: false without b; OR: true without b */
        LLVMBuildCondBr(p->builder, cond, n->op == KIR_AND ? second : join, n->op == KIR_AND ? join : second);
        LLVMDeleteBasicBlock(first);
        values[0] = LLVMConstInt(LLVMInt1TypeInContext(p->context), n->op == KIR_OR, 0);
        from[0] = LLVMGetInsertBlock(p->builder);
    }
    LLVMPositionBuilderAtEnd(p->builder, second);
    values[1] = expr(p, n->arg[n->op == KIR_SELECT ? 2 : 1]);
    from[1] = LLVMGetInsertBlock(p->builder);
    LLVMBuildBr(p->builder, join);
    LLVMPositionBuilderAtEnd(p->builder, join);
    LLVMValueRef phi = LLVMBuildPhi(p->builder, llvm_type(p, n->type), "");
    LLVMAddIncoming(phi, values, from, 2);
    return phi;
}

/* f32 -> bf16, to nearest even, NaN kept NaN (quiet): kiln_bf16_from_f32's arithmetic */
static LLVMValueRef bf16_from_f32(struct printer *p, LLVMValueRef x)
{
    LLVMBuilderRef B = p->builder;
    LLVMTypeRef i32 = i32_type(p), i16 = LLVMInt16TypeInContext(p->context);
    LLVMValueRef u = LLVMBuildBitCast(B, x, i32, "");
    LLVMValueRef odd = LLVMBuildAnd(B, LLVMBuildLShr(B, u, LLVMConstInt(i32, 16, 0), ""), LLVMConstInt(i32, 1, 0), "");
    LLVMValueRef rounded = LLVMBuildLShr(B, LLVMBuildAdd(B, LLVMBuildAdd(B, u, LLVMConstInt(i32, 0x7fff, 0), ""), odd, ""),
                                         LLVMConstInt(i32, 16, 0), "");
    LLVMValueRef quiet = LLVMBuildOr(B, LLVMBuildLShr(B, u, LLVMConstInt(i32, 16, 0), ""), LLVMConstInt(i32, 0x40, 0), "");
    LLVMValueRef nan = LLVMBuildICmp(B, LLVMIntUGT, LLVMBuildAnd(B, u, LLVMConstInt(i32, 0x7fffffff, 0), ""),
                                     LLVMConstInt(i32, 0x7f800000, 0), "");
    LLVMValueRef bits = LLVMBuildTrunc(B, LLVMBuildSelect(B, nan, quiet, rounded, ""), i16, "");
    return LLVMBuildBitCast(B, bits, LLVMBFloatTypeInContext(p->context), "");
}

static LLVMValueRef cast(struct printer *p, const struct kir_node *n)
{
    LLVMValueRef a = expr(p, n->arg[0]);
    const struct kir_type from = n->arg[0]->type, to = n->type;
    LLVMTypeRef type = llvm_type(p, to);
    if (kir_is_integer(to) && (kir_is_integer(from) || from.scalar == KIR_BOOL)) {
        const bool unsigned_from = from.scalar == KIR_U8 || from.scalar == KIR_BOOL;
        return LLVMBuildIntCast2(p->builder, a, type, !unsigned_from, "");
    }
    if (kir_is_float(to) && kir_is_integer(from))
        return from.scalar == KIR_U8 ? LLVMBuildUIToFP(p->builder, a, type, "") : LLVMBuildSIToFP(p->builder, a, type, "");
    if (kir_is_integer(to) && kir_is_float(from))
        return to.scalar == KIR_U8 ? LLVMBuildFPToUI(p->builder, a, type, "") : LLVMBuildFPToSI(p->builder, a, type, "");
    if (to.scalar == KIR_BF16) /* (kiln_format.h's rounding in integers: LLVM's fptrunc to bfloat is a libcall
                                   that libgcc 12 lacks) */
        return bf16_from_f32(p, a);
    if (kir_is_float(to) && kir_is_float(from))
        return LLVMBuildFPCast(p->builder, a, type, "");
    unprintable(p, "this CAST");
}

static LLVMValueRef arithmetic(struct printer *p, const struct kir_node *n)
{
    LLVMValueRef a = expr(p, n->arg[0]), b = expr(p, n->arg[1]);
    const bool floating = kir_is_float(n->arg[0]->type);
    LLVMBuilderRef B = p->builder;
    switch (n->op) {
    case KIR_ADD: return floating ? LLVMBuildFAdd(B, a, b, "") : LLVMBuildAdd(B, a, b, "");
    case KIR_SUB: return floating ? LLVMBuildFSub(B, a, b, "") : LLVMBuildSub(B, a, b, "");
    case KIR_MUL: return floating ? LLVMBuildFMul(B, a, b, "") : LLVMBuildMul(B, a, b, "");
    case KIR_DIV: return floating ? LLVMBuildFDiv(B, a, b, "") : LLVMBuildSDiv(B, a, b, "");
    case KIR_REM: return LLVMBuildSRem(B, a, b, "");
    case KIR_MAX: case KIR_MIN: return maximum(p, a, b, n->op == KIR_MAX, floating);
    default: break;
    }
    /* comparisons: C's, so != is true where an operand is NaN */
    static const LLVMRealPredicate real[] = {LLVMRealOLT, LLVMRealOLE, LLVMRealOGT, LLVMRealOGE, LLVMRealOEQ, LLVMRealUNE};
    static const LLVMIntPredicate integer[] = {LLVMIntSLT, LLVMIntSLE, LLVMIntSGT, LLVMIntSGE, LLVMIntEQ, LLVMIntNE};
    const int k = (int)n->op - KIR_LT;
    return floating ? LLVMBuildFCmp(B, real[k], a, b, "") : LLVMBuildICmp(B, integer[k], a, b, "");
}

/* v's lanes as `lanes` lanes of `bits` bits */
static LLVMValueRef as_lanes(const struct printer *p, LLVMValueRef v, int bits, int lanes)
{
    return LLVMBuildBitCast(p->builder, v, LLVMVectorType(LLVMIntTypeInContext(p->context, (unsigned)bits), (unsigned)lanes), "");
}

/* A target intrinsic of two or three operands of the types of args, declared by name */
static LLVMValueRef target_intrinsic(const struct printer *p, const char *name, LLVMTypeRef result, LLVMValueRef *args, int n)
{
    LLVMTypeRef params[3];
    for (int i = 0; i < n; i++)
        params[i] = LLVMTypeOf(args[i]);
    return runtime_call(p, name, result, params, args, n);
}

/* acc + per i32 lane, the dot product of b's bytes (unsigned, below 128 if u7) and c's (signed) */
static LLVMValueRef dot4(struct printer *p, LLVMValueRef acc, LLVMValueRef b, LLVMValueRef c, bool u7, int lanes)
{
    LLVMBuilderRef B = p->builder;
    LLVMTypeRef ints = LLVMTypeOf(acc);
    LLVMValueRef bytes_c = as_lanes(p, c, 8, 4 * lanes);
    if (p->dot4 == KIR_DOT4_VNNI) {
        LLVMValueRef args[3] = {acc, b, c};
        return target_intrinsic(p, "llvm.x86.avx512.vpdpbusd.512", ints, args, 3);
    }
    if (p->dot4 == KIR_DOT4_SDOT) { /* (signed bytes: b's as b - 128, then 128 x the sum of c's added back) */
        if (u7) {
            LLVMValueRef args[3] = {acc, as_lanes(p, b, 8, 16), bytes_c};
            return target_intrinsic(p, "llvm.aarch64.neon.sdot.v4i32.v16i8", ints, args, 3);
        }
        LLVMValueRef flipped = LLVMBuildXor(B, b, splat(p, LLVMConstInt(i32_type(p), 0x80808080u, 0), lanes), "");
        LLVMValueRef args[3] = {acc, as_lanes(p, flipped, 8, 16), bytes_c};
        LLVMValueRef sum = target_intrinsic(p, "llvm.aarch64.neon.sdot.v4i32.v16i8", ints, args, 3);
        LLVMValueRef ones[3] = {LLVMConstNull(ints), as_lanes(p, splat(p, LLVMConstInt(i32_type(p), 0x01010101u, 0), lanes), 8, 16),
                                bytes_c};
        LLVMValueRef c_sum = target_intrinsic(p, "llvm.aarch64.neon.sdot.v4i32.v16i8", ints, ones, 3);
        return LLVMBuildAdd(B, sum, LLVMBuildShl(B, c_sum, splat(p, LLVMConstInt(i32_type(p), 7, 0), lanes), ""), "");
    }
    if (p->dot4 != KIR_DOT4_MADDUBS)
        unprintable(p, "DOT4 on a target without integer dot products");
    const bool wide = lanes == 16;
    const char *maddubs = wide ? "llvm.x86.avx512.pmaddubs.w.512" : "llvm.x86.avx2.pmadd.ub.sw";
    const char *madd = wide ? "llvm.x86.avx512.pmaddw.d.512" : "llvm.x86.avx2.pmadd.wd";
    LLVMTypeRef shorts = LLVMVectorType(LLVMInt16TypeInContext(p->context), (unsigned)(2 * lanes));
    LLVMValueRef ones = as_lanes(p, splat(p, LLVMConstInt(i32_type(p), 0x00010001u, 0), lanes), 16, 2 * lanes);
    LLVMValueRef parts[2] = {b, NULL};
    if (!u7) { /* low 7 bits, and the top bit (times 128 below) */
        parts[0] = LLVMBuildAnd(B, b, splat(p, LLVMConstInt(i32_type(p), 0x7f7f7f7fu, 0), lanes), "");
        parts[1] = LLVMBuildAnd(B, LLVMBuildLShr(B, b, splat(p, LLVMConstInt(i32_type(p), 7, 0), lanes), ""),
                                splat(p, LLVMConstInt(i32_type(p), 0x01010101u, 0), lanes), "");
    }
    LLVMValueRef result = acc;
    for (int k = 0; k < 2 && parts[k]; k++) {
        LLVMValueRef pair[2] = {as_lanes(p, parts[k], 8, 4 * lanes), bytes_c};
        LLVMValueRef words = target_intrinsic(p, maddubs, shorts, pair, 2);
        LLVMValueRef quad[2] = {words, ones};
        LLVMValueRef sums = target_intrinsic(p, madd, ints, quad, 2);
        if (k)
            sums = LLVMBuildShl(B, sums, splat(p, LLVMConstInt(i32_type(p), 7, 0), lanes), "");
        result = LLVMBuildAdd(B, result, sums, "");
    }
    return result;
}

static LLVMValueRef expr(struct printer *p, const struct kir_node *n)
{
    LLVMBuilderRef B = p->builder;
    LLVMTypeRef type = n->type.scalar == KIR_VOID && !n->type.pointer ? NULL : llvm_type(p, n->type);
    switch (n->op) {
    case KIR_CONST:
        if (n->type.pointer)
            return LLVMConstNull(type);
        return kir_is_float(n->type) ? LLVMConstReal(type, n->fvalue) : LLVMConstInt(type, (unsigned long long)n->ivalue, 1);
    case KIR_VAR:
        return LLVMBuildLoad2(B, type, p->slots[n->var], "");
    case KIR_ADD: case KIR_SUB: case KIR_MUL: case KIR_DIV: case KIR_REM: case KIR_MAX: case KIR_MIN:
    case KIR_LT: case KIR_LE: case KIR_GT: case KIR_GE: case KIR_EQ: case KIR_NE:
        return arithmetic(p, n);
    case KIR_AND: case KIR_OR: case KIR_SELECT:
        return lazy(p, n);
    case KIR_BAND:
        return LLVMBuildAnd(B, expr(p, n->arg[0]), expr(p, n->arg[1]), "");
    case KIR_SHR:
        return LLVMBuildLShr(B, expr(p, n->arg[0]), expr(p, n->arg[1]), "");
    case KIR_DOT4:
        return dot4(p, expr(p, n->arg[0]), expr(p, n->arg[1]), expr(p, n->arg[2]), n->ivalue != 0, n->type.lanes);
    case KIR_NEG:
        return kir_is_float(n->type) ? LLVMBuildFNeg(B, expr(p, n->arg[0]), "") : LLVMBuildNeg(B, expr(p, n->arg[0]), "");
    case KIR_FMA: {
        LLVMValueRef args[3] = {expr(p, n->arg[0]), expr(p, n->arg[1]), expr(p, n->arg[2])};
        return intrinsic(p, "llvm.fma", type, args, 3);
    }
    case KIR_SQRT: case KIR_FLOOR: {
        LLVMValueRef a = expr(p, n->arg[0]);
        return intrinsic(p, n->op == KIR_SQRT ? "llvm.sqrt" : "llvm.floor", type, &a, 1);
    }
    case KIR_EXP: case KIR_TANH: case KIR_EXPM1: case KIR_ERF: { /* libm's, as the C back end calls it */
        LLVMValueRef a = expr(p, n->arg[0]);
        return runtime_call(p, kir_op_c_spelling(n->op), type, &type, &a, 1);
    }
    case KIR_CAST: /* (between pointers: nothing to do, pointers are opaque) */
        return n->type.pointer ? expr(p, n->arg[0]) : cast(p, n);
    case KIR_FIELD: { /* the field's byte offset in kilnc's layout of the record */
        const struct kir_field *field = &p->m->records[n->arg[0]->type.record]->fields[n->var];
        LLVMValueRef offset = LLVMConstInt(i64_type(p), (unsigned long long)field->offset, 0);
        return LLVMBuildGEP2(B, LLVMInt8TypeInContext(p->context), expr(p, n->arg[0]), &offset, 1, "");
    }
    case KIR_GLOBAL:
        return p->globals[n->var];
    case KIR_ADDR:
        return address(p, n->arg[0], n->arg[1]);
    case KIR_LOAD: { /* a vector's lanes need only their own alignment (unaligned loads) */
        LLVMValueRef load = LLVMBuildLoad2(B, type, address(p, n->arg[0], n->arg[1]), "");
        LLVMSetAlignment(load, pointee_bytes(p, n->arg[0]->type));
        return load;
    }
    case KIR_BROADCAST:
        return splat(p, expr(p, n->arg[0]), n->type.lanes);
    case KIR_REDUCE_ADD: case KIR_REDUCE_MAX:
        return reduce(p, expr(p, n->arg[0]), n->arg[0]->type.lanes, n->op);
    case KIR_SWAP_PAIRS: {
        LLVMValueRef v = expr(p, n->arg[0]), mask[64];
        for (int i = 0; i < n->type.lanes; i++)
            mask[i] = LLVMConstInt(i32_type(p), (unsigned)(i ^ 1), 0);
        return LLVMBuildShuffleVector(B, v, LLVMGetPoison(type), LLVMConstVector(mask, n->type.lanes), "");
    }
    case KIR_POW2I: { /* the exponent field set directly: bits((n + 1.5 * 2^23) ...) as target.c's pow2i */
        LLVMTypeRef ints = LLVMVectorType(i32_type(p), n->type.lanes);
        LLVMValueRef biased = LLVMBuildFAdd(B, expr(p, n->arg[0]), splat(p, LLVMConstReal(lane_type(p, KIR_F32), 12582912.0), n->type.lanes), "");
        LLVMValueRef bits = LLVMBuildBitCast(B, biased, ints, "");
        bits = LLVMBuildAdd(B, bits, splat(p, LLVMConstInt(i32_type(p), (unsigned)(127 - 0x4B400000), 1), n->type.lanes), "");
        bits = LLVMBuildShl(B, bits, splat(p, LLVMConstInt(i32_type(p), 23, 0), n->type.lanes), "");
        return LLVMBuildBitCast(B, bits, type, "");
    }
    case KIR_CALL: {
        LLVMValueRef args[64];
        if (n->num_args > 64)
            unprintable(p, "a call of more than 64 arguments");
        for (int i = 0; i < n->num_args; i++)
            args[i] = expr(p, n->call_args[i]);
        return LLVMBuildCall2(B, p->function_types[n->var], p->functions[n->var], args, (unsigned)n->num_args, "");
    }
    default:
        unprintable(p, kir_op_name(n->op));
    }
}

static void statements(struct printer *p, const struct kir_node *s);

/* After a jump, the statements that follow (unreachable) go into a block of their own. */
static void continue_after_jump(struct printer *p)
{
    LLVMPositionBuilderAtEnd(p->builder, LLVMAppendBasicBlockInContext(p->context, p->function, ""));
}

/* A stack slot of `type` in the function's entry block (one per call, not one per loop trip) */
static LLVMValueRef entry_alloca(const struct printer *p, LLVMTypeRef type, const char *name)
{
    LLVMBuilderRef entry = LLVMCreateBuilderInContext(p->context);
    LLVMPositionBuilderBefore(entry, LLVMGetFirstInstruction(LLVMGetEntryBasicBlock(p->function)));
    LLVMValueRef slot = LLVMBuildAlloca(entry, type, name);
    LLVMDisposeBuilder(entry);
    return slot;
}

static LLVMValueRef omp_query(struct printer *p, const char *name)
{
    return runtime_call(p, name, i32_type(p), NULL, NULL, 0);
}

static void barrier(struct printer *p)
{
    runtime_call(p, "GOMP_barrier", LLVMVoidTypeInContext(p->context), NULL, NULL, 0);
}

/* A balanced loop's chunk from libgomp's guided schedule: `call` is GOMP_loop_guided_start (args
   from, to, step, chunk size, then where the chunk's bounds go) or GOMP_loop_guided_next (those two
   only); whether a chunk [*first, *end) was handed out */
static LLVMValueRef guided_chunk(struct printer *p, const char *call, LLVMValueRef *args, int n)
{
    LLVMTypeRef i64 = LLVMInt64TypeInContext(p->context), ptr = LLVMPointerTypeInContext(p->context, 0);
    LLVMTypeRef byte = LLVMInt8TypeInContext(p->context); /* (C's bool) */
    LLVMTypeRef params[6];
    for (int i = 0; i < n; i++)
        params[i] = i < n - 2 ? i64 : ptr;
    LLVMValueRef got = runtime_call(p, call, byte, params, args, n);
    return LLVMBuildICmp(p->builder, LLVMIntNE, got, LLVMConstInt(byte, 0, 0), "");
}

/* for (var = from; var < to; var += step): serial, or over this thread's share of the iterations:
   its contiguous share (static), or the chunks the guided schedule hands it (KIR_BALANCED). */
static void for_loop(struct printer *p, const struct kir_node *s)
{
    LLVMBuilderRef B = p->builder;
    LLVMTypeRef type = llvm_type(p, s->arg[0]->type), i64 = LLVMInt64TypeInContext(p->context);
    LLVMValueRef from = expr(p, s->arg[0]), step = LLVMConstInt(type, (unsigned long long)s->step, 1), end = NULL;
    const bool parallel = s->flags & KIR_PARALLEL, balanced = parallel && (s->flags & KIR_BALANCED);
    LLVMBasicBlockRef chunk = NULL, chunks_done = NULL;
    LLVMValueRef chunk_first = NULL, chunk_end = NULL;
    if (balanced) { /* while (a chunk [first, end) is handed out) the loop over it */
        chunk_first = entry_alloca(p, i64, "chunk_first"), chunk_end = entry_alloca(p, i64, "chunk_end");
        LLVMValueRef start[6] = {LLVMBuildSExt(B, from, i64, ""), LLVMBuildSExt(B, expr(p, s->arg[1]), i64, ""),
                                 LLVMConstInt(i64, (unsigned long long)s->step, 1), LLVMConstInt(i64, 1, 0), chunk_first,
                                 chunk_end};
        chunk = LLVMAppendBasicBlockInContext(p->context, p->function, "chunk");
        chunks_done = LLVMAppendBasicBlockInContext(p->context, p->function, "chunks_done");
        LLVMBuildCondBr(B, guided_chunk(p, "GOMP_loop_guided_start", start, 6), chunk, chunks_done);
        LLVMPositionBuilderAtEnd(B, chunk);
        from = LLVMBuildTrunc(B, LLVMBuildLoad2(B, i64, chunk_first, ""), type, "");
        end = LLVMBuildTrunc(B, LLVMBuildLoad2(B, i64, chunk_end, ""), type, "");
    } else if (parallel) { /* iterations [first, end) of count = ceil((to - from) / step), in nthreads contiguous shares */
        LLVMValueRef to = expr(p, s->arg[1]), zero = LLVMConstInt(type, 0, 0), one = LLVMConstInt(type, 1, 0);
        LLVMValueRef span = LLVMBuildSub(B, to, from, "");
        span = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSGT, span, zero, ""), span, zero, "");
        LLVMValueRef count = LLVMBuildSDiv(B, LLVMBuildAdd(B, span, LLVMBuildSub(B, step, one, ""), ""), step, "");
        LLVMValueRef id = LLVMBuildIntCast2(B, omp_query(p, "omp_get_thread_num"), type, 1, "");
        LLVMValueRef threads = LLVMBuildIntCast2(B, omp_query(p, "omp_get_num_threads"), type, 1, "");
        LLVMValueRef share = LLVMBuildSDiv(B, count, threads, ""), extra = LLVMBuildSRem(B, count, threads, "");
        LLVMValueRef before = LLVMBuildICmp(B, LLVMIntSLT, id, extra, ""); /* threads below `extra` take one more */
        LLVMValueRef first = LLVMBuildAdd(B, LLVMBuildMul(B, id, share, ""), LLVMBuildSelect(B, before, id, extra, ""), "");
        LLVMValueRef last = LLVMBuildAdd(B, first, LLVMBuildAdd(B, share, LLVMBuildZExt(B, before, type, ""), ""), "");
        end = LLVMBuildAdd(B, from, LLVMBuildMul(B, last, step, ""), "");
        from = LLVMBuildAdd(B, from, LLVMBuildMul(B, first, step, ""), "");
    }
    LLVMBuildStore(B, from, p->slots[s->var]);
    LLVMBasicBlockRef cond = LLVMAppendBasicBlockInContext(p->context, p->function, "loop");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(p->context, p->function, "body");
    LLVMBasicBlockRef latch = LLVMAppendBasicBlockInContext(p->context, p->function, "next");
    LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(p->context, p->function, "done");
    LLVMBuildBr(B, cond);
    LLVMPositionBuilderAtEnd(B, cond);
    LLVMValueRef i = LLVMBuildLoad2(B, type, p->slots[s->var], "");
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, i, parallel ? end : expr(p, s->arg[1]), ""), body, exit);
    LLVMPositionBuilderAtEnd(B, body);
    if (p->num_loops == (int)(sizeof p->loops / sizeof p->loops[0]))
        unprintable(p, "loops nested this deeply");
    p->loops[p->num_loops++] = (struct loop_targets){latch, exit};
    statements(p, s->body);
    p->num_loops--;
    LLVMBuildBr(B, latch);
    LLVMPositionBuilderAtEnd(B, latch);
    i = LLVMBuildLoad2(B, type, p->slots[s->var], "");
    LLVMBuildStore(B, LLVMBuildAdd(B, i, step, ""), p->slots[s->var]);
    LLVMBuildBr(B, cond);
    LLVMPositionBuilderAtEnd(B, exit);
    if (balanced) { /* the next chunk; then GOMP_loop_end, the barrier (or GOMP_loop_end_nowait) */
        LLVMBuildCondBr(B, guided_chunk(p, "GOMP_loop_guided_next", (LLVMValueRef[]){chunk_first, chunk_end}, 2), chunk,
                        chunks_done);
        LLVMPositionBuilderAtEnd(B, chunks_done);
        runtime_call(p, s->flags & KIR_NOWAIT ? "GOMP_loop_end_nowait" : "GOMP_loop_end", LLVMVoidTypeInContext(p->context),
                     NULL, NULL, 0);
    } else if (parallel && !(s->flags & KIR_NOWAIT))
        barrier(p);
}

/* The thread GOMP_single_start picks runs the body; the team meets after it. */
static void single(struct printer *p, const struct kir_node *s)
{
    LLVMBuilderRef B = p->builder;
    LLVMTypeRef byte = LLVMInt8TypeInContext(p->context);
    LLVMValueRef picked = runtime_call(p, "GOMP_single_start", byte, NULL, NULL, 0);
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(p->context, p->function, "single");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(p->context, p->function, "single_end");
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntNE, picked, LLVMConstInt(byte, 0, 0), ""), body, join);
    LLVMPositionBuilderAtEnd(B, body);
    statements(p, s->body);
    LLVMBuildBr(B, join);
    LLVMPositionBuilderAtEnd(B, join);
    barrier(p);
}

static void mark_declared(const struct kir_node *s, bool *inside)
{
    for (; s; s = s->next) {
        if (s->op == KIR_DECL || s->op == KIR_ARRAY || s->op == KIR_FOR)
            inside[s->var] = true;
        mark_declared(s->body, inside);
        mark_declared(s->otherwise, inside);
    }
}

static void target_attributes(const struct printer *p, LLVMValueRef fn);

/* A REGION body becomes a function of its own, FUNCTION.regionK(shared), that the runtime's
   kiln_parallel runs on every thread of an OpenMP team. `shared` holds the address of each of the
   enclosing function's variables (shared, as OpenMP's are); those declared inside the body get
   slots of their own in each thread (private). */
static void parallel_region(struct printer *p, const struct kir_node *s)
{
    LLVMBuilderRef B = p->builder;
    const int vars = p->f->num_vars;
    LLVMTypeRef ptr = LLVMPointerTypeInContext(p->context, 0), table = LLVMArrayType2(ptr, (uint64_t)vars + 1);
    LLVMValueRef shared = entry_alloca(p, table, "shared");
    for (int v = 0; v < vars; v++) {
        LLVMValueRef at = LLVMConstInt(i64_type(p), (unsigned long long)v, 0);
        LLVMBuildStore(B, p->slots[v], LLVMBuildGEP2(B, ptr, shared, &at, 1, ""));
    }
    char name[300];
    size_t length;
    snprintf(name, sizeof name, "%s.region%d", LLVMGetValueName2(p->function, &length), p->regions++);
    LLVMTypeRef body_type = LLVMFunctionType(LLVMVoidTypeInContext(p->context), &ptr, 1, 0);
    LLVMValueRef body = LLVMAddFunction(p->module, name, body_type);
    LLVMSetLinkage(body, LLVMInternalLinkage);
    target_attributes(p, body);

    LLVMValueRef outer = p->function, *outer_slots = p->slots;
    LLVMBasicBlockRef resume = LLVMGetInsertBlock(B);
    const int outer_loops = p->num_loops;
    bool *inside = calloc((size_t)vars + 1, sizeof *inside);
    mark_declared(s->body, inside);
    p->function = body;
    p->slots = calloc((size_t)vars + 1, sizeof *p->slots);
    p->num_loops = 0;
    LLVMPositionBuilderAtEnd(B, LLVMAppendBasicBlockInContext(p->context, body, "entry"));
    for (int v = 0; v < vars; v++) {
        LLVMValueRef at = LLVMConstInt(i64_type(p), (unsigned long long)v, 0);
        p->slots[v] = inside[v] ? LLVMBuildAlloca(B, llvm_type(p, p->f->vars[v].type), p->f->vars[v].name)
                                : LLVMBuildLoad2(B, ptr, LLVMBuildGEP2(B, ptr, LLVMGetParam(body, 0), &at, 1, ""), "");
    }
    statements(p, s->body);
    LLVMBuildRetVoid(B);
    free(p->slots);
    free(inside);
    p->function = outer, p->slots = outer_slots, p->num_loops = outer_loops;
    LLVMPositionBuilderAtEnd(B, resume);
    LLVMTypeRef params[2] = {ptr, ptr};
    LLVMValueRef args[2] = {body, shared};
    runtime_call(p, "kiln_parallel", LLVMVoidTypeInContext(p->context), params, args, 2);
}

static void if_statement(struct printer *p, const struct kir_node *s)
{
    LLVMBuilderRef B = p->builder;
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(p->context, p->function, "then");
    LLVMBasicBlockRef otherwise = LLVMAppendBasicBlockInContext(p->context, p->function, "else");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(p->context, p->function, "endif");
    LLVMBuildCondBr(B, expr(p, s->arg[0]), then, otherwise);
    LLVMPositionBuilderAtEnd(B, then);
    statements(p, s->body);
    LLVMBuildBr(B, join);
    LLVMPositionBuilderAtEnd(B, otherwise);
    statements(p, s->otherwise);
    LLVMBuildBr(B, join);
    LLVMPositionBuilderAtEnd(B, join);
}

static void statement(struct printer *p, const struct kir_node *s)
{
    LLVMBuilderRef B = p->builder;
    switch (s->op) {
    case KIR_DECL:
    case KIR_ASSIGN:
        LLVMBuildStore(B, expr(p, s->arg[0]), p->slots[s->var]);
        return;
    case KIR_ARRAY: { /* the array in the entry block (one per call, not one per loop trip) */
        LLVMTypeRef array = LLVMArrayType2(lane_type(p, (enum kir_scalar)p->f->vars[s->var].type.scalar), (uint64_t)s->ivalue);
        LLVMValueRef storage = entry_alloca(p, array, p->f->vars[s->var].name);
        LLVMBuildStore(B, storage, p->slots[s->var]);
        return;
    }
    case KIR_STORE: {
        LLVMValueRef value = expr(p, s->arg[2]);
        LLVMValueRef store = LLVMBuildStore(B, value, address(p, s->arg[0], s->arg[1]));
        LLVMSetAlignment(store, pointee_bytes(p, s->arg[0]->type));
        return;
    }
    case KIR_EVAL:
        expr(p, s->arg[0]);
        return;
    case KIR_RETURN:
        if (s->arg[0])
            LLVMBuildRet(B, expr(p, s->arg[0]));
        else
            LLVMBuildRetVoid(B);
        continue_after_jump(p);
        return;
    case KIR_BREAK:
    case KIR_CONTINUE:
        LLVMBuildBr(B, s->op == KIR_BREAK ? p->loops[p->num_loops - 1].exit : p->loops[p->num_loops - 1].latch);
        continue_after_jump(p);
        return;
    case KIR_BARRIER:
        barrier(p);
        return;
    case KIR_COPY: {
        const unsigned size = lane_bytes(p, s->arg[0]->type.scalar);
        LLVMValueRef bytes = LLVMBuildMul(B, to_i64(p, expr(p, s->arg[2]), s->arg[2]), LLVMConstInt(i64_type(p), size, 0), "");
        LLVMBuildMemCpy(B, expr(p, s->arg[0]), size, expr(p, s->arg[1]), size, bytes);
        return;
    }
    case KIR_PREFETCH: { /* (address, write, locality: 3 for a write as the C back end's, else 2; data cache) */
        LLVMValueRef args[4] = {expr(p, s->arg[0]), LLVMConstInt(i32_type(p), (unsigned long long)s->ivalue, 0),
                                LLVMConstInt(i32_type(p), s->ivalue ? 3 : 2, 0), LLVMConstInt(i32_type(p), 1, 0)};
        intrinsic(p, "llvm.prefetch", LLVMPointerTypeInContext(p->context, 0), args, 4);
        return;
    }
    case KIR_BLOCK:
        statements(p, s->body);
        return;
    case KIR_SINGLE:
        single(p, s);
        return;
    case KIR_REGION:
        parallel_region(p, s);
        return;
    case KIR_IF:
        if_statement(p, s);
        return;
    case KIR_FOR:
        for_loop(p, s);
        return;
    default:
        unprintable(p, kir_op_name(s->op));
    }
}

static void statements(struct printer *p, const struct kir_node *s)
{
    for (; s; s = s->next)
        statement(p, s);
}

static void add_attribute(const struct printer *p, LLVMValueRef fn, unsigned index, const char *name)
{
    const unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(fn, index, LLVMCreateEnumAttribute(p->context, kind, 0));
}

static void declare_function(struct printer *p, int index)
{
    const struct kir_func *f = p->m->funcs[index];
    LLVMTypeRef params[64];
    if (f->num_params > 64)
        unprintable(p, "a function of more than 64 parameters");
    for (int i = 0; i < f->num_params; i++)
        params[i] = llvm_type(p, f->vars[i].type);
    char symbol[256];
    kir_symbol(p->m, index, symbol, sizeof symbol);
    p->function_types[index] = LLVMFunctionType(llvm_type(p, f->result), params, (unsigned)f->num_params, 0);
    LLVMValueRef fn = p->functions[index] = LLVMAddFunction(p->module, symbol, p->function_types[index]);
    if (!kir_visible(p->m, index))
        LLVMSetLinkage(fn, LLVMInternalLinkage);
    for (int i = 0; i < f->num_params; i++)
        if (f->vars[i].flags & KIR_RESTRICT)
            add_attribute(p, fn, (unsigned)i + 1, "noalias");
    if (f->flags & KIR_EXTERN)
        return;
    if (f->flags & KIR_INLINE)
        add_attribute(p, fn, LLVMAttributeFunctionIndex, "alwaysinline");
    target_attributes(p, fn);
}

/* The target's instructions for every function (and so for what is inlined into it) */
static void target_attributes(const struct printer *p, LLVMValueRef fn)
{
    add_attribute(p, fn, LLVMAttributeFunctionIndex, "nounwind");
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateStringAttribute(p->context, "target-cpu", 10, p->cpu, (unsigned)strlen(p->cpu)));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(p->context, "target-features", 15, p->features, (unsigned)strlen(p->features)));
}

/* ---- globals ---- */

/* A string as a private constant array of its bytes and a NUL */
static LLVMValueRef string_constant(const struct printer *p, const char *s)
{
    LLVMValueRef bytes = LLVMConstStringInContext(p->context, s, (unsigned)strlen(s), 0);
    LLVMValueRef g = LLVMAddGlobal(p->module, LLVMTypeOf(bytes), ".str");
    LLVMSetInitializer(g, bytes);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    return g;
}

static LLVMValueRef init_constant(const struct printer *p, const struct kir_init *v, struct kir_type type)
{
    LLVMTypeRef llvm = llvm_type(p, type);
    switch (v->kind) {
    case KIR_INIT_INT:
        return type.pointer ? LLVMConstNull(llvm) : LLVMConstInt(llvm, (unsigned long long)v->ivalue, 1);
    case KIR_INIT_FLOAT: return LLVMConstReal(llvm, v->fvalue);
    case KIR_INIT_STRING: return string_constant(p, v->string);
    case KIR_INIT_FUNCTION: return p->functions[v->index];
    case KIR_INIT_GLOBAL: return p->globals[v->index];
    case KIR_INIT_SIZEOF:
    case KIR_INIT_OFFSETOF: return LLVMConstInt(llvm, (unsigned long long)kir_init_bytes(p->m, v), 0);
    }
    return NULL;
}

/* `n` zero bytes of padding */
static LLVMValueRef padding(const struct printer *p, int64_t n)
{
    return LLVMConstNull(LLVMArrayType2(LLVMInt8TypeInContext(p->context), (uint64_t)n));
}

/* A record's values from *next on, as a packed struct with kilnc's layout's padding spelled out (so
   that the object's layout is the one the C back end's static assertions check). */
static LLVMValueRef record_constant(const struct printer *p, const struct kir_record *r, const struct kir_init **next)
{
    LLVMValueRef *parts = calloc(2 * (size_t)r->num_fields + 1, sizeof *parts);
    int n = 0;
    int64_t at = 0;
    for (int i = 0; i < r->num_fields; i++) {
        const struct kir_field *fl = &r->fields[i];
        if (fl->offset > at)
            parts[n++] = padding(p, fl->offset - at);
        if (fl->count) {
            LLVMValueRef *elements = calloc((size_t)fl->count, sizeof *elements);
            for (int64_t k = 0; k < fl->count; k++)
                elements[k] = init_constant(p, (*next)++, fl->type);
            parts[n++] = LLVMConstArray2(llvm_type(p, fl->type), elements, (uint64_t)fl->count);
            free(elements);
        } else {
            parts[n++] = init_constant(p, (*next)++, fl->type);
        }
        at = fl->offset + kir_type_bytes(p->m, fl->type) * (fl->count ? fl->count : 1);
    }
    if (r->size > at)
        parts[n++] = padding(p, r->size - at);
    LLVMValueRef value = LLVMConstStructInContext(p->context, parts, (unsigned)n, 1);
    free(parts);
    return value;
}

/* The globals, in order: a global's values may name functions and the globals before it. */
static void define_globals(struct printer *p)
{
    const struct kir_module *m = p->m;
    LLVMValueRef *values = calloc((size_t)m->num_globals + 1, sizeof *values);
    p->globals = calloc((size_t)m->num_globals + 1, sizeof *p->globals);
    for (int i = 0; i < m->num_globals; i++) {
        const struct kir_global *g = m->globals[i];
        const bool record = g->type.scalar == KIR_RECORD && !g->type.pointer;
        const struct kir_init *next = g->values;
        LLVMValueRef *elements = calloc((size_t)g->num_values + 1, sizeof *elements);
        const int64_t count = g->count ? g->count : 1;
        for (int64_t k = 0; k < count; k++)
            elements[k] = record ? record_constant(p, m->records[g->type.record], &next) : init_constant(p, next++, g->type);
        values[i] = g->count ? LLVMConstArray2(LLVMTypeOf(elements[0]), elements, (uint64_t)g->count) : elements[0];
        free(elements);
        p->globals[i] = LLVMAddGlobal(p->module, LLVMTypeOf(values[i]), g->name);
        LLVMSetAlignment(p->globals[i], (unsigned)(record ? m->records[g->type.record]->align : kir_type_align(m, g->type)));
        LLVMSetGlobalConstant(p->globals[i], 1);
        if (!g->exported)
            LLVMSetLinkage(p->globals[i], LLVMInternalLinkage);
        LLVMSetInitializer(p->globals[i], values[i]);
    }
    free(values);
}

static void define_function(struct printer *p, int index)
{
    const struct kir_func *f = p->f = p->m->funcs[index];
    p->function = p->functions[index];
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(p->context, p->function, "entry");
    LLVMPositionBuilderAtEnd(p->builder, entry);
    p->slots = calloc((size_t)f->num_vars + 1, sizeof *p->slots);
    for (int v = 0; v < f->num_vars; v++) {
        p->slots[v] = LLVMBuildAlloca(p->builder, llvm_type(p, f->vars[v].type), f->vars[v].name);
        if (v < f->num_params) {
            LLVMValueRef param = LLVMGetParam(p->function, (unsigned)v);
            LLVMSetValueName2(param, f->vars[v].name, strlen(f->vars[v].name));
            LLVMBuildStore(p->builder, param, p->slots[v]);
        }
    }
    p->num_loops = 0;
    statements(p, f->body);
    /* the end of the body: a void function returns; a function with a value returned before */
    if (f->result.scalar == KIR_VOID)
        LLVMBuildRetVoid(p->builder);
    else
        LLVMBuildUnreachable(p->builder);
    free(p->slots);
}

void target_llvm(const struct target *t, const char *cpu, struct kir_llvm_target *out)
{
    static char *host, *host_cpu, *host_features; /* (kept: they outlive any one module) */
    if (!host) {
        host = LLVMGetDefaultTargetTriple();
        host_cpu = LLVMGetHostCPUName();
        host_features = LLVMGetHostCPUFeatures();
    }
    const bool native = cpu && strcmp(cpu, "native") == 0;
    *out = (struct kir_llvm_target){.triple = t->llvm_triple ? t->llvm_triple : host,
                                    .cpu = native ? host_cpu : cpu ? cpu : t->llvm_cpu,
                                    .features = native ? host_features : t->llvm_features,
                                    .pairwise_sum = t->pairwise_sum, .dot4 = (enum kir_dot4_form)t->dot4_form};
}

bool kir_llvm_emit(const struct kir_module *m, const struct kir_llvm_target *target, const char *object_path, FILE *dump)
{
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();
    char *error = NULL;
    LLVMTargetRef llvm_target;
    if (LLVMGetTargetFromTriple(target->triple, &llvm_target, &error)) {
        fprintf(stderr, "kilnc: LLVM has no target for %s: %s\n", target->triple, error);
        LLVMDisposeMessage(error);
        return false;
    }
    LLVMTargetMachineRef machine = LLVMCreateTargetMachine(llvm_target, target->triple, target->cpu, target->features,
                                                           LLVMCodeGenLevelDefault, LLVMRelocPIC, LLVMCodeModelDefault);
    struct printer p = {.context = LLVMContextCreate(), .m = m, .cpu = target->cpu, .features = target->features,
                        .pairwise_sum = target->pairwise_sum, .dot4 = target->dot4};
    p.module = LLVMModuleCreateWithNameInContext("kiln", p.context);
    p.builder = LLVMCreateBuilderInContext(p.context);
    LLVMSetTarget(p.module, target->triple);
    LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(machine);
    LLVMSetModuleDataLayout(p.module, layout);
    p.functions = calloc((size_t)m->num_funcs + 1, sizeof *p.functions);
    p.function_types = calloc((size_t)m->num_funcs + 1, sizeof *p.function_types);
    for (int i = 0; i < m->num_funcs; i++)
        declare_function(&p, i);
    define_globals(&p);
    for (int i = 0; i < m->num_funcs; i++)
        if (!(m->funcs[i]->flags & KIR_EXTERN))
            define_function(&p, i);
    bool ok = true;
    if (LLVMVerifyModule(p.module, LLVMReturnStatusAction, &error)) {
        fprintf(stderr, "kilnc: internal error: the LLVM module does not verify: %s\n", error);
        ok = false;
    }
    LLVMDisposeMessage(error);
    error = NULL;
    LLVMPassBuilderOptionsRef options = LLVMCreatePassBuilderOptions();
    LLVMErrorRef failure = ok ? LLVMRunPasses(p.module, "default<O2>", machine, options) : NULL;
    if (failure) {
        char *message = LLVMGetErrorMessage(failure);
        fprintf(stderr, "kilnc: internal error: LLVM's optimizer: %s\n", message);
        LLVMDisposeErrorMessage(message);
        ok = false;
    }
    LLVMDisposePassBuilderOptions(options);
    if (ok && dump) {
        char *text = LLVMPrintModuleToString(p.module);
        fputs(text, dump);
        LLVMDisposeMessage(text);
    }
    if (ok && object_path && LLVMTargetMachineEmitToFile(machine, p.module, object_path, LLVMObjectFile, &error)) {
        fprintf(stderr, "kilnc: %s: %s\n", object_path, error);
        LLVMDisposeMessage(error);
        ok = false;
    }
    free(p.functions);
    free(p.function_types);
    free(p.globals);
    LLVMDisposeBuilder(p.builder);
    LLVMDisposeModule(p.module);
    LLVMDisposeTargetData(layout);
    LLVMContextDispose(p.context);
    LLVMDisposeTargetMachine(machine);
    return ok;
}
