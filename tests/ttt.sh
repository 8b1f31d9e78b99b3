#!/bin/sh
# ttt.sh: the TTT kernels kilnc emits, one layer at a time, against ttt-lm-pytorch's outputs
# (tests/goldens/ttt_linear, ttt_mlp): dual form, decode one by one, prefill then decode; 1e-5;
# with the scalar inner loop and in the vector vocabulary (AVX2; AVX-512 and NEON through SIMDe).
. tests/lib.sh
CC=${CC:-cc}
# target: its extra gen_ttt arguments and C flags (the scalar reference, AVX2, NEON through SIMDe)
for spec in "scalar|" "avx2|-mavx2 -mfma" "avx512 simde|-mavx2 -mfma -Wno-psabi" "neon simde|-mavx2 -mfma -Wno-psabi"; do
for kind in linear mlp; do
  target=${spec%%|*} flags=${spec#*|}
  if "$KILN_BUILD/gen_ttt" $kind 4 16 16 0 $target >"$TMP/ttt_$kind.h" &&
     $CC -std=c11 -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L $flags $KILN_EXTRA_CFLAGS -include "$TMP/ttt_$kind.h" \
       -Iruntime -Itests -o "$TMP/test_ttt_$kind" tests/ttt/test_ttt_layer.c "$KILN_BUILD/libkiln_rt.a" -fopenmp -lm \
       2>"$TMP/err"; then
    pass
    echo "  ($target)"
    "$TMP/test_ttt_$kind" tests/goldens/ttt_$kind $kind 4 16 >"$TMP/log" 2>&1
    cat "$TMP/log"
    p=$(sed -n 's/^RESULT passed=\([0-9]*\).*/\1/p' "$TMP/log"); f=$(sed -n 's/^RESULT.*failed=\([0-9]*\)/\1/p' "$TMP/log")
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
  else
    fail "ttt $kind kernel ($target) does not build: $(cat "$TMP/err")"
  fi
done
done
finish
