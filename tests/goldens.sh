#!/bin/sh
# goldens.sh: models compiled by kilnc against the reference outputs (tests/goldens/README.md).
# lm_attn_a through the hand-written graph and through `kilnc import moshi`, lm_attn_c through the
# importer; f32 and bf16 checkpoints; fused and unfused kernels. Tolerance 1e-4 relative (docs/contracts.md, Numerics).
. tests/lib.sh
G=tests/goldens

# run_forward MODEL_BIN CASE WEIGHTS SUFFIX LABEL
run_forward() {
  bin=$1 case=$2 weights=$3 suffix=$4 label=$5
  out=$TMP/out-$label
  if "$bin" forward --weights "$G/$case/$weights" --codes "$G/$case/codes.npy" --out "$out" 2>"$TMP/err"; then
    pass
    compare "$label text_logits$suffix" "$out/text_logits.npy" "$G/$case/text_logits$suffix.npy" 1e-4
    compare "$label audio_logits$suffix" "$out/audio_logits.npy" "$G/$case/audio_logits$suffix.npy" 1e-4
  else
    fail "$label forward: $(cat "$TMP/err")"
  fi
}

# build_model LABEL KILN_FILE [kilnc options]: compiles into $TMP/LABEL.
build_model() {
  label=$1 file=$2; shift 2
  check "$label compiles" "$KILNC" "$file" -o "$TMP/$label" "$@"
}

build_model graph_a graphs/lm_attn_a.kiln
run_forward "$TMP/graph_a/lm_attn_a" lm_attn_a weights.safetensors "" "lm_attn_a (graph)"
run_forward "$TMP/graph_a/lm_attn_a" lm_attn_a weights_bf16.safetensors _bf16w "lm_attn_a (graph, bf16)"

build_model unfused_a graphs/lm_attn_a.kiln --no-fuse
run_forward "$TMP/unfused_a/lm_attn_a" lm_attn_a weights.safetensors "" "lm_attn_a (unfused)"

build_model graph_hybrid graphs/lm_hybrid.kiln
run_forward "$TMP/graph_hybrid/lm_hybrid" lm_hybrid weights.safetensors "" "lm_hybrid (graph)"
run_forward "$TMP/graph_hybrid/lm_hybrid" lm_hybrid weights_bf16.safetensors _bf16w "lm_hybrid (graph, bf16)"

mkdir -p "$TMP/imported"
for case in lm_attn_a lm_attn_c; do
  check "import $case" "$KILNC" import moshi "$G/$case/config.json" -o "$TMP/imported/$case.kiln"
  build_model "import_$case" "$TMP/imported/$case.kiln"
  run_forward "$TMP/import_$case/$case" $case weights.safetensors "" "$case (imported)"
  run_forward "$TMP/import_$case/$case" $case weights_bf16.safetensors _bf16w "$case (imported, bf16)"
done
# A batch of two: forward on codes [2, K, T] (the golden codes twice) gives the golden logits twice.
# double_batch IN OUT: the .npy IN with its leading dimension 1 -> 2 and its data repeated.
double_batch() {
  local header
  header=$((10 + $(od -An -tu2 -j8 -N2 "$1")))
  head -c "$header" "$1" | sed 's/(1, /(2, /' >"$2"
  tail -c +$((header + 1)) "$1" >>"$2"
  tail -c +$((header + 1)) "$1" >>"$2"
}
for f in codes text_logits audio_logits; do double_batch $G/lm_attn_a/$f.npy "$TMP/batch2_$f.npy"; done
if "$TMP/graph_a/lm_attn_a" forward --weights $G/lm_attn_a/weights.safetensors --codes "$TMP/batch2_codes.npy" \
     --out "$TMP/batch2" 2>"$TMP/err"; then
  pass
  compare "lm_attn_a batch of 2 text_logits" "$TMP/batch2/text_logits.npy" "$TMP/batch2_text_logits.npy" 1e-4
  compare "lm_attn_a batch of 2 audio_logits" "$TMP/batch2/audio_logits.npy" "$TMP/batch2_audio_logits.npy" 1e-4
else
  fail "batch of 2: $(cat "$TMP/err")"
fi

# The hybrid through the importer, as a user makes it from a Moshi config.
check "import lm_hybrid" "$KILNC" import moshi "$G/lm_attn_a/config.json" -o "$TMP/imported/lm_hybrid.kiln" \
  --ttt-layers 1..1 --ttt linear
build_model import_hybrid "$TMP/imported/lm_hybrid.kiln"
run_forward "$TMP/import_hybrid/lm_hybrid" lm_hybrid weights.safetensors "" "lm_hybrid (imported)"
finish
