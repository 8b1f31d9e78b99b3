/* check_internal.h: shared by the checker's two files. check_eval.c evaluates expressions to
 * values (names looked up, calls and their arguments checked) and checks a value against a type and
 * range; check.c runs the statements, makes the checks across keys and fills in the model
 * (check_model). The types of the tables of what may be written live here; the tables themselves
 * live in the file that reads them (check_keys[], read by both, in check.c). */
#ifndef KILN_CHECK_INTERNAL_H
#define KILN_CHECK_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include "ast.h"
#include "model.h"

enum { MAX_ERRORS = 50, MAX_LETS = 65536, LET_BUCKETS = 4096 };

/* ---- values ---- */

enum vkind { V_ERROR, V_NUMBER, V_BOOL, V_SYMBOL, V_LIST, V_CALL };

struct call_arg;

struct value {
    enum vkind kind;                 /* V_ERROR: already reported; stay silent */
    struct loc loc;
    double number;
    bool boolean;
    const char *symbol;              /* V_SYMBOL: an unbound name (an enum value?); V_CALL: callee */
    int count;                       /* V_LIST items, V_CALL args */
    struct value *items;             /* V_LIST */
    struct call_arg *args;           /* V_CALL */
};

struct call_arg {
    const char *name;
    struct loc loc;
    struct value value;
};

/* ---- what may be written: keys, sections, calls ---- */

/* The model's keys (SCOPE_TOP) and one scope per section: a language model's temporal and depformer,
   a codec's seanet, transformer and quantizer (scope_kinds[] in check.c says whose). */
enum scope { SCOPE_TOP, SCOPE_TEMPORAL, SCOPE_DEPFORMER, SCOPE_SEANET, SCOPE_TRANSFORMER, SCOPE_QUANTIZER, NSCOPES };

enum key_type { T_INT, T_POSITIVE, T_INT_LIST, T_WEIGHTS, T_TABLE_WEIGHTS, T_FFN, T_NORM, T_ROPE };

/* grep ORDER KEYS: key_id and check_keys[] list the same keys in the same order. */
enum key_id {
    K_TEXT_CARD, K_CARD, K_N_Q, K_DEP_Q, K_DELAYS, K_FRAME_RATE, K_TEXT_PADDING_ID, K_WEIGHTS,
    K_EMBEDDING_WEIGHTS, K_TEMPORAL_WEIGHTS, K_TEXT_HEAD_WEIGHTS, K_DEPFORMER_WEIGHTS, /* (enum weight_class's order) */
    K_SAMPLE_RATE, K_CHANNELS, K_NUM_CODEBOOKS,
    K_DIM, K_NUM_HEADS, K_NUM_LAYERS, K_FFN, K_NORM, K_ROPE, K_CONTEXT, K_LAYER_SCALE,
    K_DIMENSION, K_N_FILTERS, K_RATIOS, K_KERNEL_SIZE, K_LAST_KERNEL_SIZE, K_RESIDUAL_KERNEL_SIZE,
    K_N_RESIDUAL_LAYERS, K_DILATION_BASE, K_COMPRESS, K_BINS, NKEYS
};

struct key_spec {
    const char *name;
    enum key_type type;
    double min, max;                 /* T_INT (inclusive), T_POSITIVE (> 0, >= min, <= max), T_INT_LIST (each item) */
    unsigned scopes;                 /* bit per scope where it may be set */
    unsigned top_kinds;              /* with SCOPE_TOP in scopes: bit per enum model_kind whose key it is */
    unsigned required;               /* bit per scope */
};
extern const struct key_spec check_keys[NKEYS];   /* check.c */
#define IN(scope) (1u << (scope))
#define KIND(kind) (1u << (kind))
extern const char *const check_scope_names[NSCOPES];  /* "model", "temporal", ... (check.c) */
extern const unsigned check_scope_kinds[NSCOPES];    /* bit per enum model_kind that has the scope (check.c) */
extern const char *const check_kind_names[2];        /* "language model", "codec" (check.c) */

enum arg_type { A_INT, A_POSITIVE, A_BOOL };

struct arg_spec {
    const char *name;
    enum arg_type type;
    double min, max;                 /* A_INT: inclusive; A_POSITIVE: > 0, >= min and <= max */
};

struct call_spec {
    const char *name;
    const struct arg_spec *args;
    int nargs;
};

/* ---- the checker's state ---- */

struct setting {
    bool set;                        /* assigned, perhaps with a bad value */
    bool ok;                         /* the value passed the key's checks */
    struct value value;
    struct loc key_loc;
    const struct ast_file *file;     /* where it was assigned (duplicates are per file) */
};

struct let {
    const char *name;
    enum scope scope;
    struct value value;
    struct loc loc;
    const struct ast_file *file;
    struct let *next_in_bucket, *next_in_order;
};

struct layer_range {
    int first, last;
    struct value mixer;              /* a checked V_CALL of ttt_linear / ttt_mlp, or V_SYMBOL attention */
    struct loc loc;
    const struct ast_file *file;
    struct layer_range *next;
};

struct checker {
    struct arena *arena;
    enum model_kind kind;            /* decided before any statement runs: a codec has a seanet section */
    const struct ast_file *file;     /* the file whose statements run */
    enum scope scope;
    struct setting settings[NSCOPES][NKEYS];
    bool section_seen[NSCOPES];
    struct loc section_loc[NSCOPES]; /* first opening of each section */
    struct let *buckets[LET_BUCKETS];
    struct let *lets, *last_let;     /* in definition order, for suggestions */
    int let_count;
    struct layer_range *ranges, *last_range;
    int first_error_count;
    bool stopped;                    /* MAX_ERRORS reached */
};

/* ---- check_eval.c: names ---- */

unsigned check_hash_name(const char *s, enum scope scope);
struct let *check_find_let(struct checker *c, const char *name, enum scope scope);
int check_find_key(const char *name, int from, int to);
/* Key k may be set in scope of a model of c's kind */
bool check_key_in_scope(const struct checker *c, int k, enum scope scope);
/* Whether key k belongs anywhere in a model of this kind */
bool check_key_of_kind(int k, enum model_kind kind);
/* "a codec; this description is a language model (it has no 'seanet' section)": after "'K' is a key of " */
const char *check_other_kind(const struct checker *c, char *buf, size_t size);
const struct call_spec *check_find_call(const char *name);
/* "; did you mean 'x'?" or "" */
const char *check_suggestion(char *buf, size_t size, const char *name, const char *const *names, size_t n);
void check_unknown_name(struct checker *c, const struct value *v);

/* ---- check_eval.c: value checks and evaluation ---- */

const char *check_describe(const struct value *v, char *buf, size_t size);
bool check_int(struct checker *c, const struct value *v, const char *what, double min, double max);
/* > 0, >= min (when min > 0) and <= max */
bool check_positive(struct checker *c, const struct value *v, const char *what, double min, double max);
/* gated_silu names its size one way only; gelu needs it */
bool check_ffn_args(const struct value *call);
/* A bare name of a known call stands for the call with no arguments: `norm = rms_norm;`. */
void check_promote_symbol(struct value *v);
/* Checks that v is one of the named calls (or symbols); kind names the key's kind in messages. */
bool check_choice(const struct value *v, const char *kind, const char *const *choices, size_t n, const char *what);
/* Checks the value of a key against its type and range (and the model's kind), where it is assigned */
bool check_key_value(struct checker *c, const struct key_spec *key, struct value *v);
/* The value of e; errors are reported where they occur and give a V_ERROR value. */
struct value check_eval(struct checker *c, const struct ast_expr *e);
#endif
