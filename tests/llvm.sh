#!/bin/sh
# llvm.sh: models built with --backend llvm (the kernels compiled by LLVM from the kernel IR, the
# rest by the C compiler) against the goldens and against the same models built with --backend c:
# forward logits within 1e-4 of the goldens and 1e-6 (relative) of the C back end's, greedy tokens
# identical. Targets: scalar and avx2 here; avx512 natively where /proc/cpuinfo has avx512f
# (otherwise skipped, and counted); neon cross-compiled (LLVM's aarch64 object, the C by
# aarch64-linux-gnu-gcc) and run under qemu-aarch64. Also three configurations outside the goldens
# (bitwise equal to the C back end), the options' errors, the objects' instructions and --dump=llvm.
. tests/lib.sh
G=tests/goldens
skipped=0
# (LeakSanitizer cannot run under qemu: make test-asan's cross builds check everything else)
QEMU="env ASAN_OPTIONS=detect_leaks=0 qemu-aarch64 -L /usr/aarch64-linux-gnu"

# both LABEL RUNNER DIR CASE: forward through the LLVM build DIR/llvm and the C build DIR/c.
both() {
  local label=$1 runner=$2 dir=$3 case=$4
  for backend in c llvm; do
    if ! $runner "$dir/$backend/$case" forward --weights $G/$case/weights.safetensors --codes $G/$case/codes.npy \
         --out "$dir/$backend/out-$case" 2>"$TMP/err"; then
      fail "$label $case forward ($backend): $(cat "$TMP/err")"
      return
    fi
  done
  pass
  for what in text_logits audio_logits; do
    compare "$label $case $what (llvm vs golden)" "$dir/llvm/out-$case/$what.npy" $G/$case/$what.npy 1e-4
    compare "$label $case $what (llvm vs c)" "$dir/llvm/out-$case/$what.npy" "$dir/c/out-$case/$what.npy" 1e-6
  done
}

# build LABEL DIR CASE [kilnc options]: the model with both back ends, into DIR/c and DIR/llvm.
build() {
  local label=$1 dir=$2 case=$3
  shift 3
  check "$label $case --backend c" "$KILNC" graphs/$case.kiln -o "$dir/c" "$@"
  check "$label $case --backend llvm" "$KILNC" graphs/$case.kiln -o "$dir/llvm" --backend llvm "$@"
}

# targets LABEL RUNNER [kilnc options]: every golden model on one target.
targets() {
  local label=$1 runner=$2
  shift 2
  for case in lm_attn_a lm_attn_c lm_hybrid; do
    build "$label" "$TMP/$label" $case "$@"
    both "$label" "$runner" "$TMP/$label" $case
  done
  # greedy generation: the reference's tokens, and the C back end's
  local S=$G/lm_attn_a_stream steps
  steps=$(sed -n 's/.*"N_steps": \([0-9]*\).*/\1/p' "$S/config.json")
  for backend in c llvm; do
    $runner "$TMP/$label/$backend/lm_attn_a" generate --weights $G/lm_attn_a/weights.safetensors --user "$S/user_codes.npy" \
      --steps "$steps" --temp 0 --temp-text 0 --out "$TMP/$label/$backend/tokens.npy" 2>"$TMP/err" ||
      fail "$label generate ($backend): $(cat "$TMP/err")"
  done
  compare "$label lm_attn_a greedy tokens (llvm vs golden)" "$TMP/$label/llvm/tokens.npy" "$S/lmgen_out.npy" 0
  compare "$label lm_attn_a greedy tokens (llvm vs c)" "$TMP/$label/llvm/tokens.npy" "$TMP/$label/c/tokens.npy" 0
}

targets scalar "" --target scalar
targets avx2 "" --target avx2
if grep -q avx512f /proc/cpuinfo; then
  targets avx512 "" --target avx512
  targets native "" --target native
else
  skipped=$((skipped + 2)); echo "  avx512, native: skipped (this CPU has no avx512f)"
fi
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
  targets neon "$QEMU" --target neon --cc aarch64-linux-gnu-gcc
else
  skipped=$((skipped + 1)); echo "  neon: skipped (no aarch64 cross compiler or qemu-user: make test-cross installs them)"
fi

# Configurations not in the goldens: odd widths (no multiple of any vector width), heads of 6 (RoPE
# pair by pair), a ring of 20000 slots (attention in chunks), and every kind of temporal layer mixed.
# Greedy generation on random weights: the two back ends' tokens and logits are bitwise equal.
mkdir -p "$TMP/configs"
printf '%s\n' 'model odd : "lm_attn_a.kiln";' 'text_card = 37;' 'card = 19;' \
  'temporal { dim = 42; num_heads = 7; ffn = gated_silu(hidden = 29); context = 5; }' \
  'depformer { dim = 18; num_heads = 3; ffn = gated_silu(hidden = 11); }' >"$TMP/configs/odd.kiln"
printf '%s\n' 'model ring : "lm_attn_a.kiln";' 'temporal { dim = 32; num_heads = 2; context = 20000; }' \
  >"$TMP/configs/ring.kiln"
cp graphs/lm_attn_a.kiln "$TMP/configs/"
for config in "$TMP/configs/odd.kiln" "$TMP/configs/ring.kiln" graphs/tests/hybrid_mix.kiln; do
  name=$(sed -n 's/^model \([A-Za-z0-9_]*\).*/\1/p' "$config")
  for backend in c llvm; do
    if "$KILNC" "$config" --backend $backend -o "$TMP/configs/$backend" >/dev/null 2>"$TMP/err" &&
       "$TMP/configs/$backend/$name" generate --random-weights 11 --steps 24 --temp 0 --temp-text 0 \
         --out "$TMP/configs/$backend/$name.npy" --logits-out "$TMP/configs/$backend/$name.logits" 2>"$TMP/err"; then
      pass
    else
      fail "$name --backend $backend: $(cat "$TMP/err")"
    fi
  done
  compare "$name tokens (llvm vs c)" "$TMP/configs/llvm/$name.npy" "$TMP/configs/c/$name.npy" 0
  for what in text audio; do
    compare "$name $what logits (llvm vs c)" "$TMP/configs/llvm/$name.logits/stream_${what}_logits.npy" \
      "$TMP/configs/c/$name.logits/stream_${what}_logits.npy" 0
  done
done

# The objects: AVX-512 FMAs on zmm registers, NEON's fmla on v registers (whatever the host).
# instructions LABEL OBJDUMP OBJECT PATTERN
instructions() {
  local n
  n=$($2 -d "$3" | grep -Ec "$4")
  if [ "${n:-0}" -gt 0 ]; then pass; echo "  $1: $n instructions matching $4"; else fail "$1: no '$4' in $3"; fi
}
check "avx512 object" "$KILNC" graphs/lm_attn_a.kiln --backend llvm --target avx512 --emit obj -o "$TMP/obj512"
instructions "avx512 kernels" objdump "$TMP/obj512/lm_attn_a.o" 'vfmadd[0-9a-z]*ps.*zmm'
check "znver4 object" "$KILNC" graphs/lm_attn_a.kiln --backend llvm --target avx512 --cpu znver4 --emit obj -o "$TMP/zen4"
instructions "znver4 kernels" objdump "$TMP/zen4/lm_attn_a.o" 'vfmadd[0-9a-z]*ps.*zmm'
# a NEON object needs nothing but kilnc: no C compiler on the PATH (and no C written)
check "neon object" env PATH=/nonexistent "$KILNC" graphs/lm_attn_a.kiln --backend llvm --target neon --emit obj -o "$TMP/objneon"
if [ -e "$TMP/objneon/lm_attn_a.c" ]; then fail "the neon object's build wrote C"; else pass; fi
if command -v aarch64-linux-gnu-objdump >/dev/null; then
  instructions "neon kernels" aarch64-linux-gnu-objdump "$TMP/objneon/lm_attn_a.o" 'fmla[[:space:]]+v[0-9]+\.4s'
  # the whole model is in it: the descriptor, the graph functions and their parallel region
  if aarch64-linux-gnu-objdump -t "$TMP/objneon/lm_attn_a.o" | grep -Eq '[.]data.* lm_attn_a_desc$'; then pass
  else fail "the neon object does not define lm_attn_a_desc"; fi
  instructions "neon parallel region" aarch64-linux-gnu-objdump "$TMP/objneon/lm_attn_a.o" 'bl.*kiln_parallel'
fi
# --emit lib: the archive holds LLVM's object of the model
check "llvm lib" "$KILNC" graphs/lm_attn_a.kiln --backend llvm --target avx2 --emit lib -o "$TMP/lib"
if ar t "$TMP/lib/liblm_attn_a.a" | grep -qx lm_attn_a.o; then pass; else fail "liblm_attn_a.a lacks lm_attn_a.o"; fi

# --dump=llvm prints the optimized module; the options' errors
if "$KILNC" graphs/lm_attn_a.kiln --backend llvm --target avx2 --dump=llvm >"$TMP/module.ll" 2>"$TMP/err" &&
   grep -q '^define internal .*@attention_' "$TMP/module.ll" && grep -q 'fmuladd\|llvm.fma' "$TMP/module.ll" &&
   grep -q '^@lm_attn_a_desc = .*constant' "$TMP/module.ll" && grep -q 'call void @kiln_parallel' "$TMP/module.ll"; then
  pass
else
  fail "--dump=llvm: $(head -c 300 "$TMP/err")"
fi
# an avx2 object tuned for an AVX-512 CPU holds no AVX-512 instruction (the binary's CPU guard checks avx2's)
check "avx2 tuned for znver4" "$KILNC" graphs/lm_attn_a.kiln --backend llvm --target avx2 --cpu znver4 --emit obj -o "$TMP/avx2z4"
if objdump -d "$TMP/avx2z4/lm_attn_a.o" | grep -q zmm; then fail "avx2 --cpu znver4 uses zmm registers"; else pass; fi
# the scalar target's object is for the C compiler's architecture: a cross build links and runs
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
  check "scalar cross" "$KILNC" graphs/lm_attn_a.kiln --backend llvm --target scalar --cc aarch64-linux-gnu-gcc -o "$TMP/scalar-cross"
  if $QEMU "$TMP/scalar-cross/lm_attn_a" forward --weights $G/lm_attn_a/weights.safetensors \
       --codes $G/lm_attn_a/codes.npy --out "$TMP/scalar-cross/out" 2>"$TMP/err"; then
    compare "scalar cross text_logits" "$TMP/scalar-cross/out/text_logits.npy" $G/lm_attn_a/text_logits.npy 1e-4
  else
    fail "scalar cross forward: $(cat "$TMP/err")"
  fi
fi
expect_error "unknown --cpu" 1 "kilnc: error: LLVM 19 knows no x86-64 CPU 'foobar' (e.g. x86-64-v3, haswell, skylake-avx512, znver4, sapphirerapids; llc-19 -mtriple=x86_64 -mcpu=help lists them)
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --backend llvm --target avx2 --cpu foobar -o "$TMP/never"
[ ! -e "$TMP/never" ] && pass || fail "a refused --cpu wrote $TMP/never"
expect_error "an x86 --cpu for neon" 1 "kilnc: error: LLVM 19 knows no AArch64 CPU 'znver4' (e.g. generic, cortex-a76, neoverse-n1, neoverse-v2, apple-m4; llc-19 -mtriple=aarch64 -mcpu=help lists them)
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --backend llvm --target neon --cpu znver4
expect_error "--cpu native for avx2" 1 "kilnc: error: --cpu native is this host's CPU: it goes with --target native, not --target avx2
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --backend llvm --target avx2 --cpu native
expect_error "--cpu for scalar" 1 "kilnc: error: --cpu znver4 is for vector targets: scalar is the plain reference, for any CPU
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --backend llvm --target scalar --cpu znver4
expect_error "a neon program without a cross compiler" 1 "kilnc: error: --target neon needs a C compiler for aarch64, and 'cc' compiles for $(cc -dumpmachine | cut -d- -f1): add --cc aarch64-linux-gnu-gcc (a cross compiler), or --emit obj (LLVM's object needs no C compiler)" \
  "$KILNC" graphs/lm_attn_a.kiln --backend llvm --target neon -o "$TMP/neon-nocc"
expect_error "--emit c with llvm" 1 "kilnc: error: --emit c writes the C back end's source; --backend llvm writes an object: use --emit obj, lib or exe with it (or --backend c)
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --backend llvm --emit c
expect_error "--cpu without llvm" 1 "kilnc: error: --cpu znver4 chooses LLVM's CPU: it goes with --backend llvm
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --cpu znver4
expect_error "--simde with llvm" 1 "kilnc: error: --simde is for the C back end (SIMDe is a C library): LLVM compiles for the target itself
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --backend llvm --target neon --simde
expect_error "--dump=llvm without llvm" 1 "kilnc: error: --dump=llvm prints the LLVM back end's module: add --backend llvm
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --dump=llvm
echo "  skipped: $skipped"
finish
