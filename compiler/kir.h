/* kir.h: the kernel IR. Every kernel kiln emits is built once as a function of this IR (typed
 * scalar and vector values, expression trees, counted loops, parallel loops and barriers as
 * nodes) and printed by a back end: kir_c.c prints C in the target's vector vocabulary, kir_llvm.c
 * prints LLVM IR through LLVM's C API. Neither back end holds a kernel body.
 *
 * A function is a tree of statements; a statement list is linked through `next`. Expressions are
 * trees of nodes whose leaves are constants and variables (parameters and locals, numbered in the
 * function's variable table). The builder (kir_* below) checks types as it goes and folds
 * constant arithmetic; kir_verify checks a whole module again before a back end prints it.
 * docs/kernel-ir.md says how to add an op. */
#ifndef KILN_KIR_H
#define KILN_KIR_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "kir_ops.h"

enum kir_op {
#define KIR_ENUM(name, form, operands, c, precedence) KIR_##name,
    KIR_OPS(KIR_ENUM)
#undef KIR_ENUM
    KIR_NUM_OPS
};

/* Lane (or scalar) types. bf16 and f16 are storage types: loaded, converted, stored. f64 is a
   record's field and a global's value only (the descriptor's frame rate); a record is what a
   pointer may point to (a pointer of scalar VOID points to anything: C's void *). */
enum kir_scalar { KIR_VOID, KIR_BOOL, KIR_I8, KIR_U8, KIR_I16, KIR_I32, KIR_I64, KIR_F16, KIR_BF16, KIR_F32, KIR_F64,
                  KIR_RECORD };

struct kir_type {
    unsigned char scalar;            /* enum kir_scalar: a value's, or what a pointer points to */
    unsigned char lanes;             /* 1: a scalar; more: a vector of that many lanes */
    unsigned char pointer;           /* levels of indirection: 0 a value, 1 a pointer to `scalar`s, 2 a
                                        pointer to such pointers (a record's pointer fields) */
    bool readonly;                   /* (pointers) the `scalar`s pointed to are never stored to: const */
    short record;                    /* (scalar RECORD) the record's index in the module */
};

enum kir_flags {
    KIR_RESTRICT = 1 << 0,           /* parameter: no other pointer reaches what it points to */
    KIR_CONSTANT = 1 << 1,           /* variable: never assigned after its declaration */
    KIR_INLINE = 1 << 2,             /* function: a small helper, inlined into its callers */
    KIR_PARALLEL = 1 << 3,           /* FOR: the iterations are shared among the team's threads (static:
                                        equal contiguous shares, unless KIR_BALANCED) */
    KIR_NOWAIT = 1 << 4,             /* parallel FOR: no barrier after it */
    KIR_EXTERN = 1 << 5,             /* function: declared, not defined (the C library's, the runtime's) */
    KIR_BALANCED = 1 << 6,           /* parallel FOR: handed out in shrinking chunks to whichever thread is
                                        free (guided) instead of in equal shares: for loops whose threads
                                        stream weights, which the memory system serves at uneven speeds */
};

struct kir_node {
    enum kir_op op;
    struct kir_type type;            /* an expression's type; VOID for statements */
    struct kir_node *arg[3];         /* operands */
    struct kir_node **call_args; int num_args; /* CALL's arguments */
    struct kir_node *body, *otherwise; /* FOR, IF, BLOCK: statement lists */
    struct kir_node *next;           /* the next statement of a list */
    int var;                         /* VAR, DECL, ASSIGN, FOR: the variable; CALL: the callee */
    int64_t step;                    /* FOR: the increment, a positive constant */
    int64_t ivalue;                  /* CONST of an integer type */
    double fvalue;                   /* CONST of a floating type */
    unsigned flags;                  /* enum kir_flags */
    char *comment;                   /* printed before a statement, or NULL */
};

struct kir_var {
    char *name;
    struct kir_type type;
    unsigned flags;
    bool param;
};

struct kir_func {
    char *name;
    char *comment;                   /* what the kernel computes, printed above it; NULL: none */
    struct kir_type result;          /* VOID: none */
    unsigned flags;
    struct kir_var *vars; int num_vars, num_params;
    struct kir_node *body;
    char *symbol;                    /* kir_symbol's, when the function was closed */
    /* builder state: the statement lists being filled (innermost last) */
    struct kir_node **open_tail[32]; struct kir_node *open_node[32]; int depth;
    char *pending_comment;           /* kir_comment's text, for the next statement */
    struct kir_module *module;
};

/* Which functions are visible outside the object they are printed into. */
enum kir_linkage {
    KIR_LINK_NONE,                   /* none but the externs (a model: its one visible symbol is a global) */
    KIR_LINK_ALL,                    /* every function (tests) */
};

/* A record: C's struct, laid out by kir_data.c with natural alignment (pointers 8 bytes: every
   target is LP64) and the alignment a field asks for; both back ends use that layout. */
struct kir_field {
    char *name;
    struct kir_type type;            /* an element's */
    int64_t count;                   /* 0: one element; more: an array of them */
    int64_t offset;                  /* bytes from the record's start */
    int align;                       /* at least the element's natural alignment */
    char *comment;
};

struct kir_record {
    char *name;                      /* C's struct tag */
    bool external;                   /* defined by a header (the runtime's kiln_rt.h): the C back end
                                        prints no definition, only a check of its size */
    char *comment;
    struct kir_field *fields; int num_fields;
    int64_t size; int align;
};

/* A global's initial value, one element of a scalar array or one field element of a record, in
   order. */
enum kir_init_kind { KIR_INIT_INT, KIR_INIT_FLOAT, KIR_INIT_STRING, KIR_INIT_FUNCTION, KIR_INIT_GLOBAL, KIR_INIT_SIZEOF,
                     KIR_INIT_OFFSETOF };
struct kir_init {
    enum kir_init_kind kind;
    int64_t ivalue;                  /* INT; OFFSETOF: the element of the field */
    double fvalue;                   /* FLOAT */
    char *string;                    /* STRING */
    int index;                       /* FUNCTION, GLOBAL: which; SIZEOF, OFFSETOF: the record */
    int field;                       /* OFFSETOF */
};

/* A constant global: a scalar array, one record, or an array of records. */
struct kir_global {
    char *name;
    char *comment;
    struct kir_type type;            /* an element's (a scalar or a record) */
    int64_t count;                   /* 0: one element; more: an array of them */
    bool exported;                   /* visible outside the object (the model's descriptor) */
    struct kir_init *values; int num_values, cap_values;
};

struct kir_module {
    const char *symbol_prefix;       /* before the symbol of every function visible outside the object */
    enum kir_linkage linkage;
    int width;                       /* the target's f32 lanes (1: scalar) */
    struct kir_func **funcs; int num_funcs;
    struct kir_record **records; int num_records;
    struct kir_global **globals; int num_globals;
    struct kir_node **nodes; int num_nodes, cap_nodes; /* every node, for freeing */
};

/* ---- types ---- */
struct kir_type kir_scalar_type(enum kir_scalar s);
struct kir_type kir_vector_type(enum kir_scalar s, int lanes);
struct kir_type kir_pointer_type(enum kir_scalar s, bool readonly);
struct kir_type kir_pointer_to(struct kir_type t);               /* one level more of indirection */
struct kir_type kir_record_pointer(int record, bool readonly);
struct kir_type kir_record_type(int record);                    /* (a global's or field's element) */
bool kir_type_equal(struct kir_type a, struct kir_type b);
bool kir_is_float(struct kir_type t);  /* f16, bf16, f32, f64 lanes */
bool kir_is_integer(struct kir_type t);
const char *kir_scalar_name(enum kir_scalar s);
const char *kir_op_name(enum kir_op op);
const char *kir_op_c_spelling(enum kir_op op); /* kir_ops.h's C column: a libm function's name ("expf") */
/* "f32", "f32x8", "const f32*" */
void kir_type_name(char *buf, size_t size, struct kir_type t);

/* ---- module and functions ---- */
void kir_module_init(struct kir_module *m, int width, const char *symbol_prefix);
/* The symbol of function `index`: the prefix and its name when it is visible outside the object,
   else its name; in buf. */
const char *kir_symbol(const struct kir_module *m, int index, char *buf, size_t size);
bool kir_visible(const struct kir_module *m, int index);
void kir_module_free(struct kir_module *m);
/* The function named `name`, or -1. */
int kir_find(const struct kir_module *m, const char *name);
/* A new function; its parameters next (kir_param), then its body. */
struct kir_func *kir_begin(struct kir_module *m, const char *name, struct kir_type result, unsigned flags,
                           const char *comment_fmt, ...) __attribute__((format(printf, 5, 6)));
/* kir_param, kir_decl and kir_for return the variable they declare, as a VAR node to use in
   expressions (a leaf: one node may stand in any number of places). */
struct kir_node *kir_param(struct kir_func *f, const char *name, struct kir_type type, unsigned flags);
/* Closes the function (every open loop, if and block closed); returns its index in the module. */
int kir_end_function(struct kir_func *f);

/* ---- expressions ---- */
struct kir_node *kir_const_int(struct kir_func *f, enum kir_scalar s, int64_t value);
struct kir_node *kir_int(struct kir_func *f, int64_t value);   /* an i32 constant */
struct kir_node *kir_null(struct kir_func *f, struct kir_type pointer); /* a null pointer (C's NULL) */
struct kir_node *kir_f32(struct kir_func *f, double value);    /* an f32 constant (rounded to f32) */
struct kir_node *kir_binary(struct kir_func *f, enum kir_op op, struct kir_node *a, struct kir_node *b);
struct kir_node *kir_unary(struct kir_func *f, enum kir_op op, struct kir_node *a);
struct kir_node *kir_fma(struct kir_func *f, struct kir_node *a, struct kir_node *b, struct kir_node *c);
/* acc + (per i32 lane) the dot product of a's 4 bytes, unsigned, and b's, signed (kir_ops.h's DOT4);
   below_128: every byte of a is (a cheaper form on x86 without VNNI and on NEON) */
struct kir_node *kir_dot4(struct kir_func *f, struct kir_node *acc, struct kir_node *a, struct kir_node *b, bool below_128);
struct kir_node *kir_select(struct kir_func *f, struct kir_node *cond, struct kir_node *a, struct kir_node *b);
struct kir_node *kir_cast(struct kir_func *f, struct kir_type to, struct kir_node *a);
struct kir_node *kir_addr(struct kir_func *f, struct kir_node *pointer, struct kir_node *index);
/* pointer[index]: a scalar, or with lanes > 1 a vector of pointer[index .. index + lanes) */
struct kir_node *kir_load(struct kir_func *f, struct kir_node *pointer, struct kir_node *index, int lanes);
struct kir_node *kir_broadcast(struct kir_func *f, struct kir_node *scalar, int lanes);
/* A call of the module's function `callee` (its index) with n arguments. */
struct kir_node *kir_call(struct kir_func *f, int callee, int n, struct kir_node *const *args);
/* &record->name: a pointer to the field's first element (record: a pointer to a record) */
struct kir_node *kir_field(struct kir_func *f, struct kir_node *record, const char *name);
/* A pointer to the first element of the module's global `index` */
struct kir_node *kir_global_ref(struct kir_func *f, int index);
/* (type) pointer: a void * as a pointer to a record, or a pointer as a void * */
struct kir_node *kir_pointer_cast(struct kir_func *f, struct kir_type to, struct kir_node *pointer);

/* ---- statements (appended to the innermost open list) ---- */
struct kir_node *kir_decl(struct kir_func *f, const char *name, struct kir_node *init, unsigned flags);
/* A local array of `count` elements (each thread of a team has its own); returns a pointer to it. */
struct kir_node *kir_array(struct kir_func *f, const char *name, enum kir_scalar element, int count);
void kir_assign(struct kir_func *f, const struct kir_node *var, struct kir_node *value);
void kir_store(struct kir_func *f, struct kir_node *pointer, struct kir_node *index, struct kir_node *value);
void kir_eval(struct kir_func *f, struct kir_node *call);
void kir_return(struct kir_func *f, struct kir_node *value); /* value NULL: a void function's return */
void kir_break(struct kir_func *f);
void kir_continue(struct kir_func *f);
void kir_copy(struct kir_func *f, struct kir_node *dst, struct kir_node *src, struct kir_node *count);
void kir_prefetch(struct kir_func *f, struct kir_node *address, bool for_write);
void kir_barrier(struct kir_func *f);
/* Opens `for (int64 or i32 name = from; name < to; name += step)`: its body is the open list until
   kir_end. Returns the counter. flags: KIR_PARALLEL, KIR_NOWAIT, KIR_BALANCED. */
struct kir_node *kir_for(struct kir_func *f, const char *name, struct kir_node *from, struct kir_node *to, int64_t step,
                         unsigned flags);
void kir_if(struct kir_func *f, struct kir_node *cond);
void kir_else(struct kir_func *f);   /* the open IF's `otherwise` list from here */
void kir_block(struct kir_func *f);
void kir_single(struct kir_func *f);  /* opens a body one thread of the team runs (the others wait) */
void kir_parallel(struct kir_func *f); /* opens a body every thread of a new team runs */
void kir_end(struct kir_func *f);    /* closes the innermost FOR, IF, BLOCK or SINGLE */
/* Sets the comment printed before the next statement appended. */
void kir_comment(struct kir_func *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- records and globals (kir_data.c) ---- */
/* A new record; its fields next, in order. Returns its index. */
int kir_record_begin(struct kir_module *m, const char *name, bool external, const char *comment);
/* A field of `count` elements of `type` (0: one, not an array), aligned to at least `align` bytes
   (0: naturally); the comment is printed beside it. */
void kir_record_field(struct kir_module *m, int record, const char *name, struct kir_type type, int64_t count, int align,
                      const char *comment_fmt, ...) __attribute__((format(printf, 7, 8)));
int kir_record_field_index(const struct kir_record *r, const char *name);  /* -1: none */
int64_t kir_type_bytes(const struct kir_module *m, struct kir_type t);
int kir_type_align(const struct kir_module *m, struct kir_type t);
/* A new constant global; its values next (kir_init_*), as many as it has elements (a record: per
   field, one per element). Returns its index. */
int kir_global_begin(struct kir_module *m, const char *name, struct kir_type type, int64_t count, bool exported,
                     const char *comment);
void kir_init_int(struct kir_module *m, int global, int64_t value);
void kir_init_float(struct kir_module *m, int global, double value);
void kir_init_string(struct kir_module *m, int global, const char *value);
void kir_init_function(struct kir_module *m, int global, int function);
void kir_init_global(struct kir_module *m, int global, int other);
void kir_init_sizeof(struct kir_module *m, int global, int record);
void kir_init_offsetof(struct kir_module *m, int global, int record, int field, int64_t element);
/* Values a global holds in all: count (at least 1) times its record's field elements. */
int kir_global_values(const struct kir_module *m, const struct kir_global *g);
/* The value of a SIZEOF or OFFSETOF initializer in bytes. */
int64_t kir_init_bytes(const struct kir_module *m, const struct kir_init *v);
void kir_free_data(struct kir_module *m);   /* (kir_module_free's: the records and globals) */

/* ---- checking and printing ---- */
/* Checks every function: operand counts and types, variables declared before use and in scope,
   break/continue inside loops (no break out of a parallel loop), parallel loops, barriers and
   singles only in the function's own scope (never inside a parallel loop or a single), returns of
   the function's type. Reports the first error to stderr ("kernel NAME: ...") and returns false. */
bool kir_verify(const struct kir_module *m);
bool kir_verify_function(const struct kir_module *m, int index);
/* --dump=kernels: the module as text, one function after another. */
void kir_dump(FILE *out, const struct kir_module *m);
/* The C back end: function `index` of the module, in C written in the target's vector vocabulary
   (vf_load, vf_fma, ...; target_emit_vocabulary), parallel loops as OpenMP worksharing. */
void kir_print_c_function(FILE *out, const struct kir_module *m, int index);
/* Its prototype: `float dot_64(const float *restrict a, const float *restrict b);` */
void kir_print_c_declaration(FILE *out, const struct kir_module *m, int index);
/* A record's definition (`struct NAME { ... };` and a check of its size), or for an external one
   only the check; a global's definition. */
void kir_print_c_record(FILE *out, const struct kir_module *m, int index);
void kir_print_c_global(FILE *out, const struct kir_module *m, int index);

/* The LLVM back end (kir_llvm.c): the module through LLVM's C API, verified, optimized (O2) and
   written to object_path (NULL: none) for the triple, CPU and features; the optimized LLVM IR also
   to `dump` unless it is NULL. Returns false after a message on stderr. */
/* How a target computes DOT4 (target.h's dot4 strings, in LLVM's intrinsics) */
enum kir_dot4_form { KIR_DOT4_NONE, KIR_DOT4_MADDUBS, KIR_DOT4_VNNI, KIR_DOT4_SDOT };
struct kir_llvm_target {
    const char *triple, *cpu, *features;
    bool pairwise_sum;               /* REDUCE_ADD adds neighbouring lanes (NEON's faddp), not halves */
    enum kir_dot4_form dot4;
};
struct target;
/* The LLVM target of a kiln target (target.h); cpu replaces its baseline CPU unless NULL. */
void target_llvm(const struct target *t, const char *cpu, struct kir_llvm_target *out);
bool kir_llvm_emit(const struct kir_module *m, const struct kir_llvm_target *target, const char *object_path, FILE *dump);
#endif
