#!/bin/sh
# kir.sh: the kernel IR's two back ends against each other. For each target, kir_gen builds the
# test kernels once (compiler/kernels.c's builders, plus a kernel of parallel loops and barriers, one
# of integer rules, and a parallel region over a record with a table and an extern function)
# and prints them with the C back end and the LLVM back end; kir_test runs both on the same inputs
# (agreement within 1e-6 relative, NaNs at the same places, argmax indices equal).
#   scalar, avx2: here; avx512: natively where /proc/cpuinfo has avx512f (otherwise skipped, and
#   counted); neon: the C side cross-compiled, the LLVM object for aarch64, run under qemu-aarch64.
#   avx512vnni: natively where it has avx512_vnni. The packed q8_0 / q4_0 matmuls among the kernels,
#   and DOT4 against its definition on every byte value.
# Also: the LLVM objects hold the target's instructions (zmm FMAs for avx512, DOT4 as vpmaddubsw
# there and as vpdpbusd for avx512vnni, fmla and sdot on v registers for neon), whatever the host.
. tests/lib.sh
skipped=0

# kernels TARGET: kir_gen's output for TARGET into $TMP/TARGET
kernels() {
  mkdir -p "$TMP/$1" && check "kir_gen $1" "$KILN_BUILD/kir_gen" "$1" "$TMP/$1"
}

# run_pair TARGET CC CFLAGS [RUNNER]: build kir_test against TARGET's two back ends and run it.
run_pair() {
  local target=$1 cc=$2 cflags=$3 runner=$4 dir=$TMP/$1
  # (-ffp-contract=off: as kilnc compiles generated C)
  if $cc -std=c11 -O2 -ffp-contract=off $cflags -fopenmp -I"$dir" -Iruntime -o "$dir/kir_test" tests/kir/kir_test.c \
       "$dir/llvm_kernels.o" -lm 2>"$TMP/err"; then
    pass
  else
    fail "$target: kir_test does not build: $(cat "$TMP/err")"
    return
  fi
  if $runner "$dir/kir_test" >"$dir/log" 2>&1; then
    pass; echo "  $target: $(grep 'bitwise equal' "$dir/log")"
  else
    fail "$target: the back ends disagree:"; grep -E 'FAIL|RESULT' "$dir/log" >&2
  fi
}

# instructions LABEL OBJDUMP OBJECT PATTERN: the LLVM object holds instructions matching PATTERN.
instructions() {
  local n
  n=$($2 -d "$3" | grep -Ec "$4")
  if [ "${n:-0}" -gt 0 ]; then pass; echo "  $1: $n instructions matching $4"; else fail "$1: no '$4' in $3"; fi
}

for target in scalar avx2 avx512 avx512vnni neon; do
  kernels $target
done
run_pair scalar "${CC:-gcc}" ""
run_pair avx2 "${CC:-gcc}" "-mavx2 -mfma -mf16c"
if grep -q avx512f /proc/cpuinfo; then
  run_pair avx512 "${CC:-gcc}" "-mavx512f -mavx512bw -mavx512vl -mfma"
else
  skipped=$((skipped + 1)); echo "  avx512: skipped (this CPU has no avx512f)"
fi
if grep -q avx512_vnni /proc/cpuinfo; then
  run_pair avx512vnni "${CC:-gcc}" "-mavx512f -mavx512bw -mavx512vl -mfma -mavx512vnni"
else
  skipped=$((skipped + 1)); echo "  avx512vnni: skipped (this CPU has no avx512_vnni)"
fi
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
  run_pair neon aarch64-linux-gnu-gcc "-march=armv8.2-a+dotprod+fp16 -static" "qemu-aarch64"
else
  skipped=$((skipped + 1)); echo "  neon: skipped (no aarch64 cross compiler or qemu-user: make test-cross installs them)"
fi
instructions "avx512 object" objdump "$TMP/avx512/llvm_kernels.o" 'vfmadd[0-9a-z]*ps.*zmm'
instructions "avx2 object" objdump "$TMP/avx2/llvm_kernels.o" 'vfmadd[0-9a-z]*ps.*ymm'
instructions "avx512vnni object" objdump "$TMP/avx512vnni/llvm_kernels.o" 'vpdpbusd.*zmm'
instructions "avx512 object" objdump "$TMP/avx512/llvm_kernels.o" 'vpmaddubsw.*zmm'
if command -v aarch64-linux-gnu-objdump >/dev/null; then
  instructions "neon object" aarch64-linux-gnu-objdump "$TMP/neon/llvm_kernels.o" 'fmla[[:space:]]+v[0-9]+\.4s'
  instructions "neon object" aarch64-linux-gnu-objdump "$TMP/neon/llvm_kernels.o" 'sdot[[:space:]]+v[0-9]+\.4s'
fi
echo "  skipped: $skipped"
finish
