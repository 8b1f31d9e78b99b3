/* kir_ops.h: the kernel IR's op table (kir.h), one X-macro so that the enum, the names, the
 * verifier's arity and the C printer's spelling cannot drift. Adding an op: docs/kernel-ir.md.
 *
 * X(NAME, form, operands, C, precedence)
 *   form: EXPR (a value), STMT (a statement), or VEC (a value defined for vector operands only);
 *   operands: how many `arg`s the node has (-1: a call's, any number);
 *   C: the C spelling of a scalar expression: an infix operator (form EXPR, precedence > 0), a
 *      function (precedence 0), or "" where the C printer has a rule of its own; a vector op is
 *      printed as the target vocabulary's vf_<name> (compiler/target.c);
 *   precedence: C's binding strength for infix operators (higher binds tighter), 0 otherwise. */
#ifndef KIR_OPS
#define KIR_OPS(X)                                                                                               \
    /* leaves */                                                                                                  \
    X(CONST, EXPR, 0, "", 0)         /* an integer or floating constant of the node's type */                    \
    X(VAR, EXPR, 0, "", 0)           /* a parameter or local variable */                                          \
    /* arithmetic, on scalars and on vectors lane by lane */                                                     \
    X(ADD, EXPR, 2, "+", 12)                                                                                      \
    X(SUB, EXPR, 2, "-", 12)                                                                                      \
    X(MUL, EXPR, 2, "*", 13)                                                                                      \
    X(DIV, EXPR, 2, "/", 13)                                                                                      \
    X(REM, EXPR, 2, "%", 13)         /* integers only */                                                          \
    X(NEG, EXPR, 1, "-", 14)                                                                                      \
    X(MAX, EXPR, 2, "", 0)           /* a > b ? a : b: b where either is NaN (argmax and exp rely on it) */      \
    X(MIN, EXPR, 2, "", 0)           /* a < b ? a : b */                                                          \
    X(FMA, EXPR, 3, "fmaf", 0)       /* a * b + c, rounded once */                                                \
    /* bits, of integers: u8 scalars and i32 vectors (the quantized weights' bytes) */                          \
    X(BAND, EXPR, 2, "&", 8)         /* a & b */                                                                  \
    X(SHR, EXPR, 2, ">>", 11)        /* a >> b, logical (b a constant) */                                         \
    /* comparisons and logic: scalar bool */                                                                      \
    X(LT, EXPR, 2, "<", 10)                                                                                       \
    X(LE, EXPR, 2, "<=", 10)                                                                                      \
    X(GT, EXPR, 2, ">", 10)                                                                                       \
    X(GE, EXPR, 2, ">=", 10)                                                                                      \
    X(EQ, EXPR, 2, "==", 9)                                                                                       \
    X(NE, EXPR, 2, "!=", 9)                                                                                       \
    X(AND, EXPR, 2, "&&", 5)                                                                                      \
    X(OR, EXPR, 2, "||", 4)                                                                                       \
    X(SELECT, EXPR, 3, "", 3)        /* a ? b : c */                                                              \
    /* f32 math: libm's on scalars (so that both back ends call the same function), the vocabulary's on vectors */ \
    X(EXP, EXPR, 1, "expf", 0)                                                                                    \
    X(SQRT, EXPR, 1, "sqrtf", 0)                                                                                  \
    X(TANH, EXPR, 1, "tanhf", 0)                                                                                  \
    X(EXPM1, EXPR, 1, "expm1f", 0)   /* exp(a) - 1, accurate near 0 (ELU) */                                      \
    X(ERF, EXPR, 1, "erff", 0)       /* the error function (exact GELU) */                                        \
    X(FLOOR, EXPR, 1, "floorf", 0)                                                                                \
    /* conversions: to the node's type; integer widths, integer <-> f32 */                                      \
    X(CAST, EXPR, 1, "", 0)                                                                                       \
    /* memory: a pointer and an element index */                                                                  \
    X(ADDR, EXPR, 2, "", 0)          /* &p[i] */                                                                  \
    X(LOAD, EXPR, 2, "", 0)          /* p[i]; a vector type loads lanes p[i..i + lanes) (unaligned) */            \
    /* vectors */                                                                                                 \
    X(BROADCAST, VEC, 1, "set1", 0)  /* every lane = the scalar operand */                                        \
    X(REDUCE_ADD, EXPR, 1, "sum", 0) /* the lanes' sum, halving: (lo half + hi half) until one lane is left */   \
    X(REDUCE_MAX, EXPR, 1, "max_lanes", 0) /* the largest lane (lanes never NaN) */                                \
    X(SWAP_PAIRS, VEC, 1, "swap_pairs", 0) /* lanes 2i and 2i + 1 exchanged */                                    \
    X(POW2I, VEC, 1, "pow2i", 0)     /* 2^n for f32 lanes holding integers n in [-126, 127] */                    \
    X(DOT4, VEC, 3, "dot4", 0)       /* i32 lanes: a + the sum of the products of b's 4 bytes (unsigned) and  \
                                        c's (signed), exact; ivalue 1: b's bytes are below 128 */             \
    X(CALL, EXPR, -1, "", 0)         /* a function of the module, or a runtime function */                       \
    /* records and globals (kir_data.c) */                                                                         \
    X(FIELD, EXPR, 1, "", 0)         /* &arg0->field: arg0 points to a record, var is the field's index */       \
    X(GLOBAL, EXPR, 0, "", 0)        /* the address of the module's global number var */                          \
    /* statements */                                                                                              \
    X(DECL, STMT, 1, "", 0)          /* a new local variable and its first value */                               \
    X(ARRAY, STMT, 0, "", 0)         /* a new local array of ivalue elements; its variable points to it */        \
    X(ASSIGN, STMT, 1, "", 0)        /* var = arg0 */                                                             \
    X(STORE, STMT, 3, "", 0)         /* p[i] = v; a vector v stores its lanes */                                  \
    X(EVAL, STMT, 1, "", 0)          /* a call for its effect */                                                  \
    X(FOR, STMT, 2, "", 0)           /* for (var = arg0; var < arg1; var += step) body */                         \
    X(IF, STMT, 1, "", 0)            /* if (arg0) body else otherwise */                                          \
    X(BLOCK, STMT, 0, "", 0)         /* a nested scope */                                                         \
    X(RETURN, STMT, -1, "", 0)       /* return, with the function's value if it has one */                        \
    X(BREAK, STMT, 0, "", 0)                                                                                      \
    X(CONTINUE, STMT, 0, "", 0)                                                                                   \
    X(COPY, STMT, 3, "", 0)          /* memcpy(arg0, arg1, arg2 elements of arg0's type), not overlapping */      \
    X(PREFETCH, STMT, 1, "", 0)      /* a hint: the line holding arg0 into cache; ivalue: 1 for a write, else 0 */ \
    /* threads (the caller's OpenMP team; one parallel region per graph call) */                                 \
    X(BARRIER, STMT, 0, "", 0)       /* every thread of the team waits for the others */                           \
    X(SINGLE, STMT, 0, "", 0)        /* body run by one thread of the team; the others wait at its end */         \
    X(REGION, STMT, 0, "", 0)        /* body run by every thread of a new team (the graph call's one region) */
#endif
