"""llama_gguf.py FORMAT OUT.gguf (scripts/bench_llama.sh): a llama-architecture GGUF for llama.cpp with
Moshi 7B's temporal shape (dim 4096, 32 layers of 32 heads, gated FFN of 11264, the text vocabulary of
32000 with its head), every matrix in FORMAT (q4_0 or q8_0) holding random quants under the scale
0.01, norms 1. Prints the bytes a decoded token reads: every tensor but the token embeddings (of
which a token reads one row). Plain Python: the format is written with struct, no numpy."""
import os
import struct
import sys

DIM, LAYERS, HEADS, FFN, VOCAB = 4096, 32, 32, 11264, 32000
GGML_F32 = 0
QUANT = {"q4_0": (2, 18, 2), "q8_0": (8, 34, 7)}  # ggml type, bytes per 32 weights, llama file type
GGUF_U32, GGUF_I32, GGUF_F32, GGUF_STRING, GGUF_ARRAY = 4, 5, 6, 8, 9
ALIGN = 32


def gguf_string(text):
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def metadata(fmt):
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(256)]
    tokens += ["t%d" % i for i in range(VOCAB - len(tokens))]
    token_types = [2, 3, 3] + [6] * 256 + [1] * (VOCAB - 259)  # unknown, control, bytes, normal
    u32 = lambda v: struct.pack("<I", GGUF_U32) + struct.pack("<I", v)
    f32 = lambda v: struct.pack("<I", GGUF_F32) + struct.pack("<f", v)
    string = lambda v: struct.pack("<I", GGUF_STRING) + gguf_string(v)
    pairs = [("general.architecture", string("llama")), ("general.name", string("moshi-7b-temporal-shape")),
             ("general.file_type", u32(QUANT[fmt][2])), ("llama.context_length", u32(4096)),
             ("llama.embedding_length", u32(DIM)), ("llama.block_count", u32(LAYERS)),
             ("llama.feed_forward_length", u32(FFN)), ("llama.attention.head_count", u32(HEADS)),
             ("llama.attention.head_count_kv", u32(HEADS)), ("llama.rope.dimension_count", u32(DIM // HEADS)),
             ("llama.rope.freq_base", f32(10000.0)), ("llama.attention.layer_norm_rms_epsilon", f32(1e-8)),
             ("tokenizer.ggml.model", string("llama")),
             ("tokenizer.ggml.tokens", struct.pack("<IIQ", GGUF_ARRAY, GGUF_STRING, VOCAB) + b"".join(map(gguf_string, tokens))),
             ("tokenizer.ggml.scores", struct.pack("<IIQ", GGUF_ARRAY, GGUF_F32, VOCAB) + struct.pack("<%df" % VOCAB, *[0.0] * VOCAB)),
             ("tokenizer.ggml.token_type", struct.pack("<IIQ", GGUF_ARRAY, GGUF_I32, VOCAB) + struct.pack("<%di" % VOCAB, *token_types)),
             ("tokenizer.ggml.bos_token_id", u32(1)), ("tokenizer.ggml.eos_token_id", u32(2))]
    return [gguf_string(key) + value for key, value in pairs]


def tensors(qtype):
    out = [("token_embd.weight", (DIM, VOCAB), qtype), ("output_norm.weight", (DIM,), GGML_F32),
           ("output.weight", (DIM, VOCAB), qtype)]
    for layer in range(LAYERS):
        p = "blk.%d." % layer
        out += [(p + "attn_norm.weight", (DIM,), GGML_F32), (p + "ffn_norm.weight", (DIM,), GGML_F32)]
        out += [(p + name + ".weight", (DIM, DIM), qtype) for name in ("attn_q", "attn_k", "attn_v", "attn_output")]
        out += [(p + "ffn_gate.weight", (DIM, FFN), qtype), (p + "ffn_up.weight", (DIM, FFN), qtype),
                (p + "ffn_down.weight", (FFN, DIM), qtype)]
    return out


def stored_bytes(shape, ggml_type, block_bytes):
    """a tensor's bytes: f32 norms, or whole blocks of 32 weights"""
    count = shape[0] * (shape[1] if len(shape) > 1 else 1)
    return count * 4 if ggml_type == GGML_F32 else count // 32 * block_bytes


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in QUANT:
        sys.exit("usage: llama_gguf.py q4_0|q8_0 OUT.gguf")
    fmt, path = sys.argv[1], sys.argv[2]
    qtype, block_bytes, _ = QUANT[fmt]
    size = lambda shape, t: stored_bytes(shape, t, block_bytes)
    infos, offset = [], 0
    for name, shape, t in tensors(qtype):
        infos.append(gguf_string(name) + struct.pack("<I%dQIQ" % len(shape), len(shape), *shape, t, offset))
        offset += (size(shape, t) + ALIGN - 1) // ALIGN * ALIGN
    # 1 MiB of whole blocks (scale 0.01 in f16, random quants), repeated through every matrix
    count = (1 << 20) // block_bytes
    quants = os.urandom(count * (block_bytes - 2))
    pattern = b"".join(struct.pack("<H", 0x211F) + quants[i * (block_bytes - 2):(i + 1) * (block_bytes - 2)]
                       for i in range(count))
    kvs = metadata(fmt)
    with open(path, "wb") as f:
        head = b"GGUF" + struct.pack("<IQQ", 3, len(infos), len(kvs)) + b"".join(kvs) + b"".join(infos)
        f.write(head + b"\0" * (-len(head) % ALIGN))
        for name, shape, t in tensors(qtype):
            if t == GGML_F32:
                f.write(struct.pack("<%df" % shape[0], *[1.0] * shape[0]))
            else:
                whole, rest = divmod(size(shape, t), len(pattern))
                f.write(pattern * whole + pattern[:rest])
            f.write(b"\0" * (-size(shape, t) % ALIGN))
    print(sum(size(shape, t) for name, shape, t in tensors(qtype) if name != "token_embd.weight"))


main()
