#!/bin/sh
# kernels.sh: the packed matmul kernels of every vector target (AVX2 natively, AVX-512 and NEON
# through SIMDe) against a plain matmul on random inputs and odd shapes (tests/kernels/test_kernels.c).
. tests/lib.sh
CC=${CC:-cc}
SHAPES="1x1 37x53 16x64 100x7 129x300 33x1025"
for spec in "avx2|-mavx2 -mfma" "avx512,simde|-mavx2 -mfma -Wno-psabi" "neon,simde|-mavx2 -mfma -Wno-psabi"; do
  target=${spec%%|*} flags=${spec#*|}
  if "$KILN_BUILD/gen_kernels" $target $SHAPES >"$TMP/kernels.h" &&
     $CC -std=c11 -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L $flags $KILN_EXTRA_CFLAGS -include "$TMP/kernels.h" \
       -Itests -Itests/bench -Iruntime -o "$TMP/test_kernels" tests/kernels/test_kernels.c -fopenmp -lm 2>"$TMP/err"; then
    pass
    "$TMP/test_kernels" >"$TMP/log" 2>&1
    echo "  $target: $(tail -n 1 "$TMP/log")"
    p=$(sed -n 's/^RESULT passed=\([0-9]*\).*/\1/p' "$TMP/log"); f=$(sed -n 's/^RESULT.*failed=\([0-9]*\)/\1/p' "$TMP/log")
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
    [ "${f:-1}" = 0 ] || cat "$TMP/log" >&2
  else
    fail "kernels for $target do not build: $(cat "$TMP/err")"
  fi
done
finish
