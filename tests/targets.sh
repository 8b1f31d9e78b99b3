#!/bin/sh
# targets.sh: every target against the goldens.
#   scalar (the plain reference kernels), native and avx2 here; avx512 and neon through SIMDe's portable intrinsics; neon also
#   cross-compiled for aarch64 and run under qemu-aarch64 (when the cross compiler is installed).
# Also: the instructions each target is for are in its hot kernel (the disassembly of the matmul
# microkernel, as Halide's simd_op_check does), and 1 and 2 threads give bitwise identical outputs.
. tests/lib.sh
G=tests/goldens

# forward_goldens LABEL RUNNER MODEL_DIR CASE: forward through RUNNER ("" or a qemu command line).
forward_goldens() {
  local label=$1 runner=$2 dir=$3 case=$4 out=$TMP/out-$1-$4
  if $runner "$dir/$case" forward --weights $G/$case/weights.safetensors --codes $G/$case/codes.npy --out "$out" \
       2>"$TMP/err"; then
    pass
    compare "$label $case text_logits" "$out/text_logits.npy" $G/$case/text_logits.npy 1e-4
    compare "$label $case audio_logits" "$out/audio_logits.npy" $G/$case/audio_logits.npy 1e-4
  else
    fail "$label $case forward: $(cat "$TMP/err")"
  fi
}

# disassembly LABEL OBJDUMP BINARY PATTERN: the packed matmul kernel of the attention output
# projection (a hot kernel of every layer) contains PATTERN.
disassembly() {
  local label=$1 objdump=$2 bin=$3 pattern=$4 fn n
  fn=$($objdump -d "$bin" | grep -o '<matmul_64x64_acc_p[0-9]*_blocked[^>]*>:' | head -n 1)
  n=$($objdump -d "$bin" | sed -n "/$fn/,/^\$/p" | grep -Ec "$pattern")
  if [ -n "$fn" ] && [ "${n:-0}" -gt 0 ]; then
    pass; echo "  $label: $fn has $n instructions matching $pattern"
  else
    fail "$label: no '$pattern' in the matmul kernel ${fn:-(not found)}"
  fi
}

for spec in "scalar" "native" "avx2" "avx512 --simde" "neon --simde"; do
  set -- $spec
  label=$(echo "$spec" | tr -d ' -')
  for case in lm_attn_a lm_attn_c lm_hybrid; do
    # (warnings are errors: what kilnc hands the C compiler compiles cleanly on every target)
    check "$label $case compiles" env KILN_EXTRA_CFLAGS="${KILN_EXTRA_CFLAGS:-} -Werror" \
      "$KILNC" graphs/$case.kiln --target $spec -o "$TMP/$label"
    forward_goldens "$label" "" "$TMP/$label" $case
  done
done

# AVX-512 natively compiled: its instructions are there (it runs on the device machine's CPU).
check "avx512 native build" "$KILNC" graphs/lm_attn_a.kiln --target avx512 -o "$TMP/avx512"
disassembly avx512 objdump "$TMP/avx512/lm_attn_a" 'vfmadd[0-9a-z]*ps.*zmm'
disassembly avx2 objdump "$TMP/avx2/lm_attn_a" 'vfmadd[0-9a-z]*ps.*ymm'
if grep -q avx512f /proc/cpuinfo; then
  forward_goldens avx512-native "" "$TMP/avx512" lm_attn_a
else
  # the runtime guard: a clear message and exit status 1, not SIGILL
  expect_error "avx512 binary on a CPU without it" 1 \
    "lm_attn_a: error: this binary was built for target avx512, compiled for the CPU features avx512f,avx512bw,avx512vl,fma, and this CPU lacks 'avx512f'; rebuild with kilnc --target native (or scalar)" \
    "$TMP/avx512/lm_attn_a" info
fi

# NEON for real: cross-compiled, run under qemu-aarch64.
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
  # (LeakSanitizer cannot run under qemu: a sanitized cross build checks everything else)
  QEMU="env ASAN_OPTIONS=detect_leaks=0 qemu-aarch64 -L /usr/aarch64-linux-gnu"
  for case in lm_attn_a lm_hybrid; do
    check "neon cross $case compiles" "$KILNC" graphs/$case.kiln --target neon --cc aarch64-linux-gnu-gcc -o "$TMP/neon"
    forward_goldens neon-qemu "$QEMU" "$TMP/neon" $case
  done
  disassembly neon aarch64-linux-gnu-objdump "$TMP/neon/lm_attn_a" 'fmla[[:space:]]+v[0-9]+\.4s'
else
  echo "  (no aarch64 cross compiler or qemu-user: make test-cross installs them)"
fi

# Threads: 1 and 2 give bitwise identical logits and tokens.
bin=$TMP/avx2/lm_hybrid
for t in 1 2; do
  OMP_NUM_THREADS=$t "$bin" forward --weights $G/lm_hybrid/weights.safetensors --codes $G/lm_hybrid/codes.npy \
    --out "$TMP/threads$t" && OMP_NUM_THREADS=$t "$bin" generate --weights $G/lm_hybrid/weights.safetensors \
    --user $G/lm_attn_a_stream/user_codes.npy --steps 30 --seed 3 --out "$TMP/threads$t/gen.npy" \
    --logits-out "$TMP/threads$t"
done
for f in text_logits.npy audio_logits.npy gen.npy stream_text_logits.npy stream_audio_logits.npy; do
  if cmp -s "$TMP/threads1/$f" "$TMP/threads2/$f"; then pass; else fail "1 vs 2 threads: $f differs"; fi
done
finish
