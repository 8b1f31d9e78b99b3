#!/bin/sh
# edges.sh: every value the checker accepts compiles and runs. Models at the edges of the ranges of
# docs/language.md, each a variant of the smallest model the checker accepts (one-row vocabularies,
# n_q = dep_q = 1, dim 2 with one head of 2, one layer, context 1, FFN hidden 1, a depformer of dim
# 1): dim 1, head_dim 1 and 2 with many heads, dims that are no multiple of any vector width, user
# streams with dep_q 1, n_q = dep_q, long delays, big vocabularies, extreme eps, RoPE periods and
# frame rates, the longest context (its ring far past a thread's stack), TTT layers at their edges
# (mini-batch 1 and 65536, conv kernels 1 and 64, heads of 512, gate, shared QK, learning rates)
# and hybrids. Each is compiled (`--emit exe`, native; some also scalar, avx512 and neon through
# SIMDe, --no-fuse, --rows 1) and run: `bench --random-weights` and a short greedy `generate` must
# exit 0, with finite logits and every token -2 or in its vocabulary. A few are also built as
# objects into tests/edges/replay.c: streaming equals `forward` (1e-5) and save/restore continues
# bit-identically (with TTT head dimensions of 4 or more there: a TTT LayerNorm over 2 values is
# ill-conditioned, and rounding differences between the two grow past 1e-5 on random weights).
# The builds run in parallel, one lane per core.
. tests/lib.sh
CC=${CC:-cc}
LANES=$(nproc 2>/dev/null || echo 2)

# The base; `edge NAME LINES...` writes the variant $TMP/NAME.kiln that adds LINES.
cat >"$TMP/edge_min.kiln" <<'EOF'
// The smallest model the checker accepts.
model edge_min;
text_card = 1;
card = 1;
n_q = 1;
dep_q = 1;
delays = [0, 0];
text_padding_id = 0;
temporal {
    dim = 2;
    num_heads = 1;
    num_layers = 1;
    ffn = gated_silu(hidden = 1);
    context = 1;
}
depformer {
    dim = 1;
    num_heads = 1;
    num_layers = 1;
    ffn = gated_silu(hidden = 1);
}
EOF
edge() {
  local name=$1; shift
  { echo "model $name : \"edge_min.kiln\";"; printf '%s\n' "$@"; } >"$TMP/$name.kiln"
}
edge dim1 'temporal { dim = 1; rope = none; }'
edge heads 'temporal { dim = 16; num_heads = 8; }' 'depformer { dim = 7; num_heads = 7; }'
edge odd_dims 'text_card = 9; card = 5; n_q = 2; delays = [0, 1, 0];' \
  'temporal { dim = 6; num_heads = 3; ffn = gated_silu(hidden = 5); context = 4; }' \
  'depformer { dim = 3; ffn = gated_silu(hidden = 7); }'
edge wide 'text_card = 33; card = 17; n_q = 3; dep_q = 2; delays = [0, 1, 1, 0];' \
  'temporal { dim = 34; num_heads = 17; ffn = gated_silu(dim_feedforward = 4 * dim); context = 3; }' \
  'depformer { dim = 33; num_heads = 3; ffn = gated_silu(dim_feedforward = 2); }'
edge n_q_is_dep_q 'n_q = 4; dep_q = 4; card = 2; delays = [1, 0, 0, 2, 3];'
edge user_streams 'n_q = 3; delays = [0, 2, 1, 0]; text_card = 4; card = 2; text_padding_id = 3;'
edge many_layers 'temporal { num_layers = 3; context = 2; }' 'depformer { num_layers = 3; }'
edge long_delays 'n_q = 2; delays = [10000, 0, 3];'
edge big_vocab 'text_card = 70001; card = 4097; text_padding_id = 70000;'
edge extreme_values 'frame_rate = 1000;' \
  'temporal { dim = 8; num_heads = 2; norm = rms_norm(eps = 1); rope = interleaved(max_period = 1e12); }' \
  'depformer { norm = rms_norm(eps = 1e-30); }'
edge small_values 'frame_rate = 0.001;' 'temporal { dim = 8; num_heads = 2; rope = interleaved(max_period = 1); }'
edge long_context 'temporal { context = 16777216; }'
edge ttt_linear 'temporal { layers 0: ttt_linear(mini_batch = 1); }'
edge ttt_mlp 'temporal { layers 0: ttt_mlp(mini_batch = 1); }'
edge ttt_gate_shared 'temporal { layers 0: ttt_linear(gate = true, share_qk = true, conv_kernel = 1); }'
edge ttt_conv64 'temporal { dim = 6; num_heads = 3; layers 0: ttt_mlp(share_qk = true, conv_kernel = 64, mini_batch = 3, gate = true); }'
edge ttt_big_batch 'temporal { layers 0: ttt_linear(mini_batch = 65536); }'
edge ttt_head512 'temporal { dim = 512; layers 0: ttt_mlp(mini_batch = 2); }'
edge ttt_table 'temporal { dim = 512; layers 0: ttt_mlp(mini_batch = 65536, gate = true, share_qk = true, conv_kernel = 64); }'
edge ttt_params 'temporal { dim = 8; num_heads = 2; rope = none; layers 0: ttt_mlp(base_lr = 1e6, eps = 1, rope_base = 1); }'
edge ttt_params2 'temporal { dim = 8; num_heads = 2; layers 0: ttt_linear(base_lr = 1e-300, eps = 1e-30, rope_base = 1e12); }'
edge hybrid 'n_q = 2; delays = [0, 1, 0]; text_card = 7; card = 5;' \
  'temporal { dim = 12; num_heads = 3; num_layers = 4; context = 5;' \
  '    layers 1: ttt_linear(mini_batch = 1);' \
  '    layers 2: ttt_mlp(mini_batch = 2, gate = true, share_qk = true, conv_kernel = 2); }'
edge hybrid_all_ttt 'temporal { num_layers = 3; rope = none; layers 0..1: ttt_linear(mini_batch = 2); layers 2: ttt_mlp(mini_batch = 1); }'
edge hybrid_min 'temporal { num_layers = 2; layers 1: ttt_mlp(mini_batch = 1); }'
edge attention_window 'text_card = 7; card = 5; n_q = 2; dep_q = 2; delays = [0, 1, 2];' \
  'temporal { dim = 16; num_heads = 2; num_layers = 2; context = 5; ffn = gated_silu(hidden = 12); }' \
  'depformer { dim = 8; num_heads = 2; }'

# The jobs: NAME|MODE|KILNC OPTIONS. MODE exe: bench and generate; replay: tests/edges/replay.c.
jobs="edge_min|exe|
edge_min|exe|--no-fuse
edge_min|exe|--target scalar --rows 1
edge_min|exe|--target neon --simde
edge_min|replay|--target scalar
dim1|exe|
heads|exe|
odd_dims|exe|--target scalar
odd_dims|exe|--target avx512 --simde
odd_dims|exe|--target neon --simde
odd_dims|replay|
wide|exe|
wide|exe|--target scalar --no-fuse
n_q_is_dep_q|exe|--target scalar
user_streams|exe|--target scalar
many_layers|exe|--target scalar --rows 1
long_delays|exe|--target scalar
big_vocab|exe|
extreme_values|exe|--target scalar
small_values|exe|--target scalar
long_context|exe|
long_context|exe|--target scalar
ttt_linear|exe|--target scalar
ttt_mlp|exe|--target scalar
ttt_gate_shared|exe|
ttt_conv64|replay|
ttt_big_batch|exe|--target scalar
ttt_head512|exe|
ttt_table|exe|--target scalar
ttt_params|exe|--target scalar
ttt_params2|exe|--target scalar
hybrid|exe|
hybrid|exe|--target avx512 --simde
hybrid|replay|
hybrid_all_ttt|exe|
hybrid_min|exe|--target scalar
hybrid_min|replay|
attention_window|replay|"

# npy_data FILE: the offset of a version 1 .npy file's data (10 + its header length).
npy_data() { echo $((10 + $(od -An -tu2 -j8 -N2 "$1"))); }

# model_key KILN KEY: a field of the checked model.
model_key() { "$KILNC" "$1" --dump=model | sed -n "s/^$2 //p"; }

# run_job NAME MODE OPTIONS: prints "PASS label" or "FAIL label: why" lines.
run_job() {
  local name=$1 mode=$2 opts=$3 label dir bin steps text_card card dep_q off bad
  label="$name${opts:+ ($opts)}"
  [ "$mode" = replay ] && label="$label, replay"
  dir=$TMP/out/$name$(echo "$mode $opts" | tr -c 'A-Za-z0-9\n' '_')
  if [ "$mode" = replay ]; then
    # shellcheck disable=SC2086 # the options are words
    if ! "$KILNC" "$TMP/$name.kiln" --emit obj -o "$dir" $opts >"$dir.log" 2>&1; then
      echo "FAIL $label: kilnc:"; sed 's/^/    /' "$dir.log"; return
    fi
    if ! $CC -std=c11 -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L $KILN_EXTRA_CFLAGS \
         -DMODEL_HEADER="\"$name.h\"" -DMODEL_DESC="${name}_desc" -I"$dir" -Iruntime -Itests \
         -o "$dir/replay" tests/edges/replay.c "$dir/$name.o" "$KILN_BUILD/libkiln_rt.a" -fopenmp -lm >"$dir.log" 2>&1; then
      echo "FAIL $label: replay.c does not build:"; sed 's/^/    /' "$dir.log"; return
    fi
    if "$dir/replay" 75 >"$dir.log" 2>&1; then echo "PASS $label"; grep -v '^RESULT' "$dir.log"; else
      echo "FAIL $label:"; sed 's/^/    /' "$dir.log"; fi
    return
  fi
  # shellcheck disable=SC2086
  if ! "$KILNC" "$TMP/$name.kiln" -o "$dir" $opts >"$dir.log" 2>&1; then
    echo "FAIL $label: kilnc:"; sed 's/^/    /' "$dir.log"; return
  fi
  echo "PASS $label compiles"
  bin=$dir/$name
  if "$bin" bench --random-weights 1 --steps 2 --warmup 1 --context 0,1,3 --json >"$dir.bench" 2>&1 &&
     [ "$(grep -c '"ms_median"' "$dir.bench")" = 3 ]; then
    echo "PASS $label bench"
  else
    echo "FAIL $label bench:"; sed 's/^/    /' "$dir.bench"
  fi
  steps=6
  if ! "$bin" generate --random-weights 2 --steps $steps --temp 0 --temp-text 0 --out "$dir/tokens.npy" \
         --logits-out "$dir/logits" >"$dir.gen" 2>&1; then
    echo "FAIL $label generate:"; sed 's/^/    /' "$dir.gen"; return
  fi
  bad=0
  for f in "$dir/logits/stream_text_logits.npy" "$dir/logits/stream_audio_logits.npy"; do
    off=$(npy_data "$f")
    if od -An -tf4 -v -j "$off" "$f" | grep -qi 'nan\|inf'; then echo "FAIL $label generate: $f is not finite"; bad=1; fi
  done
  text_card=$(model_key "$TMP/$name.kiln" text_card) card=$(model_key "$TMP/$name.kiln" card)
  dep_q=$(model_key "$TMP/$name.kiln" dep_q)
  off=$(npy_data "$dir/tokens.npy")
  if ! od -An -td4 -v -j "$off" "$dir/tokens.npy" | awk -v w=$((1 + dep_q)) -v tc="$text_card" -v c="$card" -v n=$((steps * (1 + dep_q))) '
       { for (i = 1; i <= NF; i++) { v = $i; top = (seen % w == 0) ? tc : c; seen++
           if (v != -2 && (v < 0 || v >= top)) bad = 1 } }
       END { exit (bad || seen != n) }'; then
    echo "FAIL $label generate: a token out of its vocabulary (or not $steps rows): $(od -An -td4 -v -j "$off" "$dir/tokens.npy" | tr -s ' \n' ' ')"
    bad=1
  fi
  [ $bad = 0 ] && echo "PASS $label generate"
}

mkdir -p "$TMP/out"
start=$(date +%s)
lane=0
echo "$jobs" | while IFS= read -r job; do
  echo "$job" >>"$TMP/lane$lane"
  lane=$(((lane + 1) % LANES))
done
for f in "$TMP"/lane*; do
  (while IFS='|' read -r name mode opts; do run_job "$name" "$mode" "$opts"; done <"$f" >"$f.out" 2>&1) &
done
wait
cat "$TMP"/lane*.out >"$TMP/results"
while IFS= read -r line; do
  case $line in
    PASS*) pass ;;
    FAIL*) fail "${line#FAIL }" ;;
    *) echo "$line" ;;
  esac
done <"$TMP/results"
echo "  $(echo "$jobs" | wc -l) builds of $(ls "$TMP"/*.kiln | wc -l) models in $(($(date +%s) - start)) s"

# Attention over a ring of more than 16384 slots takes its slots a chunk at a time (an online
# softmax, compiler/kernels_attention.c): while every frame is still visible, it must give what the
# one-pass kernel of a small ring gives, on the same (random) weights.
for ctx in 20000 64; do
  edge ring$ctx 'text_card = 7; card = 5; n_q = 2; delays = [0, 1, 0];' \
    "temporal { dim = 8; num_heads = 2; ffn = gated_silu(hidden = 6); context = $ctx; }"
  if "$KILNC" "$TMP/ring$ctx.kiln" -o "$TMP/ring$ctx" >/dev/null 2>"$TMP/ring.err" &&
     "$TMP/ring$ctx/ring$ctx" generate --random-weights 3 --steps 40 --temp 0 --temp-text 0 \
       --out "$TMP/ring$ctx/tokens.npy" --logits-out "$TMP/ring$ctx" 2>"$TMP/ring.err"; then pass; else
    fail "context $ctx: $(cat "$TMP/ring.err")"; fi
done
compare "chunked attention text logits" "$TMP/ring20000/stream_text_logits.npy" "$TMP/ring64/stream_text_logits.npy" 1e-5
compare "chunked attention audio logits" "$TMP/ring20000/stream_audio_logits.npy" "$TMP/ring64/stream_audio_logits.npy" 1e-5
if cmp -s "$TMP/ring20000/tokens.npy" "$TMP/ring64/tokens.npy"; then pass; else fail "chunked attention: other tokens"; fi
finish
