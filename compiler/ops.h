/* ops.h: the IR's op table (an X-macro), so the enum, the names and the arity cannot drift.
 * X(ENUM, name, inputs, description) */
#ifndef KILN_OPS_H
#define KILN_OPS_H

#define IR_OPS(X)                                                                                \
    X(EMBED_SUM, "embed_sum", 0, "out[D] = sum over streams s of table_s[token_s] (token -1: 0)") \
    X(RMS_NORM, "rms_norm", 1, "out = x * alpha * rsqrt(eps + mean(x^2))")                        \
    X(RMS_SCALE, "rms_scale", 1, "out[1] = rsqrt(eps + mean(x^2)); alpha folded into consumers")  \
    X(STEP_EMBED_ADD, "step_embed_add", 1, "out += (k == 0 ? text table : table[k-1])[token]")    \
    X(MATMUL, "matmul", 1, "out[R] = W[R, C] . x[C], with fused prologue/epilogue")               \
    X(ROPE_QK, "rope_qk", 1, "rotate the q and k thirds of qkv[3D] in place (interleaved pairs)")  \
    X(KV_WRITE, "kv_write", 1, "store the k and v thirds of qkv[3D] at the ring slot of this step") \
    X(ATTENTION, "attention", 1, "out[D] = softmax(q k^T / sqrt(hd) + window mask) v, per head")  \
    X(SILU_GATE, "silu_gate", 1, "out[H] = silu(h[0:H]) * h[H:2H]")                             \
    X(TTT, "ttt", 4, "out[D] = post_norm(TTT inner loop(q, k, v, lr logits)), state in the stream") \
    X(GELU_GATE, "gelu_gate", 2, "x = gelu_tanh(g) * x (TTT's output gate)")                    \
    X(ADD, "add", 2, "out = a + b")                                                              \
    X(CONV_WINDOW, "conv_window", 1, "col[t][i*K+k] = [left context; x][t*S + k*dil][i]: a causal conv's windows") \
    X(BIAS_ADD, "bias_add", 1, "out[t][c] += bias[c]")                                         \
    X(CONV_TRANSPOSE, "conv_transpose", 1, "out = x[t][c] W[c] (depthwise) at stride S, overlap-added to the stored partial") \
    X(OVERLAP_ADD, "overlap_add", 1, "out = cols[t][o*K + k] added at rows t*S + k after the stored partial, + bias") \
    X(ELU, "elu", 1, "out = x > 0 ? x : exp(x) - 1")                                           \
    X(LAYER_NORM, "layer_norm", 1, "out = (x - mean) / sqrt(var + eps) * weight + bias")     \
    X(GELU, "gelu", 1, "out = x * (1 + erf(x / sqrt 2)) / 2 (exact)")                          \
    X(SCALE_ADD, "scale_add", 2, "out = a + scale * b (a layer scale)")                        \
    X(VQ_ENCODE, "vq_encode", 1, "codes[j] = the nearest entry of codebook j to r; r -= it (residual)") \
    X(VQ_DECODE, "vq_decode", 1, "out = sum over j of codebook j's entry codes[j]")

enum ir_opcode {
#define IR_ENUM(e, name, arity, doc) OP_##e,
    IR_OPS(IR_ENUM)
#undef IR_ENUM
    OP_COUNT
};

#endif
