#!/bin/sh
# stream.sh: streaming generation. `generate` reproduces the reference LMGen runs (greedy) token for
# token, with each step's logits within 1e-4; tests/stream/test_stream.c checks the C API against a
# model built with `kilnc --emit lib`; examples/two_streams runs.
. tests/lib.sh
G=tests/goldens
CC=${CC:-cc}

# run_api_tests LABEL KILN_FILE STREAM_GOLDEN_DIR WEIGHTS|random: tests/stream/test_stream.c against
# the model built as a library.
run_api_tests() {
  local label=$1 file=$2 golden=$3 weights=$4 name lib p f
  name=$(sed -n 's/^model \([A-Za-z0-9_]*\).*/\1/p' "$file")
  lib=$TMP/lib_$label
  check "$label --emit lib" "$KILNC" "$file" --emit lib -o "$lib"
  WRAP="-Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc -Wl,--wrap=aligned_alloc"
  if $CC -std=c11 -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L $KILN_EXTRA_CFLAGS \
       -DMODEL_HEADER="\"$name.h\"" -DMODEL_DESC=${name}_desc -I"$lib" -Iruntime -Itests \
       -o "$TMP/test_stream_$label" tests/stream/test_stream.c "$lib/lib$name.a" $WRAP -fopenmp -lm 2>"$TMP/err"; then
    pass
    echo "  $label:"
    "$TMP/test_stream_$label" "$golden" "$weights" >"$TMP/log" 2>&1
    cat "$TMP/log"
    p=$(sed -n 's/^RESULT passed=\([0-9]*\).*/\1/p' "$TMP/log"); f=$(sed -n 's/^RESULT.*failed=\([0-9]*\)/\1/p' "$TMP/log")
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
  else
    fail "test_stream $label does not compile: $(cat "$TMP/err")"
  fi
}

for case in lm_attn_a lm_attn_c; do
  S=$G/${case}_stream
  check "$case compiles" "$KILNC" graphs/$case.kiln -o "$TMP/$case"
  bin=$TMP/$case/$case
  steps=$(sed -n 's/.*"N_steps": \([0-9]*\).*/\1/p' "$S/config.json")
  if "$bin" generate --weights "$G/$case/weights.safetensors" --user "$S/user_codes.npy" --steps "$steps" \
       --temp 0 --temp-text 0 --out "$TMP/$case.out.npy" --logits-out "$TMP/$case.logits" 2>"$TMP/err"; then
    pass
    compare "$case generate tokens" "$TMP/$case.out.npy" "$S/lmgen_out.npy" 0
    compare "$case stream text logits" "$TMP/$case.logits/stream_text_logits.npy" "$S/stream_text_logits.npy" 1e-4
    compare "$case stream audio logits" "$TMP/$case.logits/stream_audio_logits.npy" "$S/stream_audio_logits.npy" 1e-4
  else
    fail "$case generate: $(cat "$TMP/err")"
  fi
  run_api_tests $case graphs/$case.kiln "$S" "$G/$case/weights.safetensors"
done

# TTT hybrids: streaming equals forward (through a replay that ends inside a mini-batch), long
# runs, save/restore; the golden lm_hybrid and a mix of every layer kind on random weights.
run_api_tests lm_hybrid graphs/lm_hybrid.kiln $G/lm_attn_a_stream $G/lm_hybrid/weights.safetensors
run_api_tests hybrid_mix graphs/tests/hybrid_mix.kiln $G/lm_attn_a_stream random

# The example embeds a generated model through its header and runs two streams side by side.
if "$KILNC" graphs/lm_attn_a.kiln --emit lib -o "$TMP/example_lib" >"$TMP/err" 2>&1 &&
   $CC -std=c11 -O2 -Wall -Wextra -Werror $KILN_EXTRA_CFLAGS -I"$TMP/example_lib" -o "$TMP/two_streams" \
     examples/two_streams.c "$TMP/example_lib/liblm_attn_a.a" -fopenmp -lm >"$TMP/err" 2>&1 &&
   "$TMP/two_streams" "$G/lm_attn_a/weights.safetensors" 12 >"$TMP/example" 2>&1 &&
   [ "$(grep -c '^frame' "$TMP/example")" = 12 ]; then
  pass
else
  fail "examples/two_streams: $(cat "$TMP/err" "$TMP/example" 2>/dev/null)"
fi
finish
