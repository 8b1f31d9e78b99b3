#!/bin/sh
# build.sh: kilnc driving the C compiler as a user meets it. No path reaches a shell: an output folder,
# a description, a --cc and an installation whose paths hold spaces, quotes and `;` build and run,
# and the `touch` hidden in them never runs. --cflags and KILN_EXTRA_CFLAGS are split by kilnc; a
# missing compiler or one for another architecture is refused before anything is written; clang
# builds models that match the goldens; a --simde binary on a CPU without AVX2 (qemu -cpu Nehalem)
# stops at the CPU guard with a message instead of SIGILL.
. tests/lib.sh
G=tests/goldens
native=$("$KILNC" --print-target native)

# forward_matches LABEL BINARY CASE: forward on the golden codes, logits within 1e-4.
forward_matches() {
  if "$2" forward --weights $G/$3/weights.safetensors --codes $G/$3/codes.npy --out "$TMP/fw-$1" 2>"$TMP/err"; then
    pass
    compare "$1 text_logits" "$TMP/fw-$1/text_logits.npy" $G/$3/text_logits.npy 1e-4
    compare "$1 audio_logits" "$TMP/fw-$1/audio_logits.npy" $G/$3/audio_logits.npy 1e-4
  else
    fail "$1 forward: $(cat "$TMP/err")"
  fi
}

# not_pwned LABEL: no injected command ran.
not_pwned() {
  if [ -e "$TMP/PWNED" ]; then fail "$1: a path reached a shell"; rm -f "$TMP/PWNED"; else pass; fi
}

# ---- shell metacharacters in every path ----
evil="o x';touch $TMP/PWNED;'\"q"
mkdir -p "$TMP/d $evil"
cp graphs/lm_attn_a.kiln "$TMP/d $evil/lm attn;a.kiln"
check "-o and the description with metacharacters" "$KILNC" "$TMP/d $evil/lm attn;a.kiln" -o "$TMP/$evil"
not_pwned "-o and the description's path"
check "that binary runs" "$TMP/$evil/lm_attn_a" info
check "--emit lib into such a folder" "$KILNC" "$TMP/d $evil/lm attn;a.kiln" --emit lib -o "$TMP/$evil lib"
not_pwned "--emit lib -o"
if [ -f "$TMP/$evil lib/liblm_attn_a.a" ]; then pass; else fail "--emit lib wrote no liblm_attn_a.a"; fi

cc_dir="$TMP/c c;$evil"
mkdir -p "$cc_dir"
ln -s "$(command -v cc)" "$cc_dir/cc"
check "--cc with metacharacters" "$KILNC" graphs/lm_attn_a.kiln --cc "$cc_dir/cc" -o "$TMP/cc"
not_pwned "--cc"
forward_matches "--cc in a spaced path" "$TMP/cc/lm_attn_a" lm_attn_a

# kilnc installed under such a path: BUILD/kilnc with BUILD/libkiln_rt.a, BUILD/libkiln_cli.a and BUILD/../runtime.
inst="$TMP/inst all;$evil"
mkdir -p "$inst/build"
cp "$KILN_BUILD/kilnc" "$KILN_BUILD/libkiln_rt.a" "$KILN_BUILD/libkiln_cli.a" "$inst/build/"
cp -R runtime "$inst/runtime"
check "an installed kilnc, --emit exe" "$inst/build/kilnc" graphs/lm_attn_a.kiln -o "$TMP/inst-exe"
check "an installed kilnc, --emit lib" "$inst/build/kilnc" graphs/lm_attn_a.kiln --emit lib -o "$TMP/inst-lib"
not_pwned "the installation path"
forward_matches "installed" "$TMP/inst-exe/lm_attn_a" lm_attn_a

# ---- flags: split by kilnc, no shell ----
# ---- flags: split by kilnc, no shell ----
KILN_VERBOSE=1 "$KILNC" graphs/lm_attn_a.kiln --emit obj --cflags " -DX=1	-DY=a;b " -o "$TMP/verbose" \
  2>"$TMP/verbose.log" >/dev/null
if grep -q -- " -DX=1 '-DY=a;b' .* -c $TMP/verbose/lm_attn_a.c -o $TMP/verbose/lm_attn_a.o.tmp" "$TMP/verbose.log" &&
  [ -f "$TMP/verbose/lm_attn_a.o" ]; then pass; else
  fail "--cflags split on whitespace, shown by KILN_VERBOSE: $(cat "$TMP/verbose.log")"; fi
env -u KILN_EXTRA_CFLAGS "$KILNC" graphs/lm_attn_a.kiln --emit obj --cflags --no-such-flag -o "$TMP/badflag" 2>"$TMP/err"
rc=$?
if [ "$rc" = 2 ] && [ "$(tail -n 1 "$TMP/err")" = "kilnc: error: the C compiler failed on $TMP/badflag/lm_attn_a.c with the flags added by --cflags or KILN_EXTRA_CFLAGS (run with KILN_VERBOSE=1 to see the commands)" ] &&
  [ ! -e "$TMP/badflag/lm_attn_a.o" ]; then pass; else fail "a flag the compiler refuses: exit $rc, $(cat "$TMP/err")"; fi

# ---- the compiler refused up front: nothing written ----
expect_error "--cc not installed" 1 "kilnc: error: C compiler 'nosuchcc' not found in PATH; install it or name another with --cc" \
  "$KILNC" graphs/lm_attn_a.kiln --cc nosuchcc -o "$TMP/refused1"
expect_error "--cc with flags in it" 1 \
  "kilnc: error: C compiler 'gcc -m32' not found in PATH; install it or name another with --cc (--cc names one program; flags go in --cflags)" \
  "$KILNC" graphs/lm_attn_a.kiln --cc "gcc -m32" -o "$TMP/refused2"
expect_error "--target neon with the host compiler" 1 \
  "kilnc: error: --target neon needs a C compiler for aarch64, and 'cc' compiles for x86_64: add --cc aarch64-linux-gnu-gcc (a cross compiler), --simde (to run it on this host through SIMDe) or --emit c" \
  "$KILNC" graphs/lm_attn_a.kiln --target neon -o "$TMP/refused3"
if command -v aarch64-linux-gnu-gcc >/dev/null; then
  expect_error "--target avx2 with a cross compiler" 1 \
    "kilnc: error: --target avx2 needs a C compiler for x86_64, and 'aarch64-linux-gnu-gcc' compiles for aarch64: use --target neon or scalar, or another --cc" \
    "$KILNC" graphs/lm_attn_a.kiln --target avx2 --cc aarch64-linux-gnu-gcc -o "$TMP/refused4"
fi
expect_error "-o without a value" 1 "kilnc: error: -o needs a value
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln -o
expect_error "--cc= empty" 1 "kilnc: error: --cc needs a value
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --cc= -o "$TMP/refused5"
for d in refused1 refused2 refused3 refused4 refused5; do
  if [ -e "$TMP/$d" ]; then fail "$d was written although kilnc refused"; else pass; fi
done
check "--emit c needs no compiler" "$KILNC" graphs/lm_attn_a.kiln --target neon --emit c --cc nosuchcc -o "$TMP/c-only"

# kilnc says what it wrote where.
"$KILNC" graphs/lm_attn_a.kiln --emit c -o "$TMP/said" >"$TMP/said.out" 2>&1
if [ "$(cat "$TMP/said.out")" = "kilnc: wrote $TMP/said/lm_attn_a.c (C source for target $native), beside lm_attn_a.h and kiln_rt.h" ]; then
  pass; else fail "kilnc's report: $(cat "$TMP/said.out")"; fi

# ---- clang as well as gcc ----
simde_cc=cc
if command -v clang-14 >/dev/null; then
  for case in lm_attn_a lm_hybrid; do
    check "clang-14 $case" env KILN_EXTRA_CFLAGS="${KILN_EXTRA_CFLAGS:-} -Werror" \
      "$KILNC" graphs/$case.kiln --cc clang-14 -o "$TMP/clang"
    forward_matches "clang-14 $case" "$TMP/clang/$case" $case
  done
  simde_cc=clang-14
else
  echo "  (no clang-14: make test installs it)"
fi

# ---- the CPU guard checks what the binary was compiled for ----
# (built without sanitizers, which cannot run under qemu-x86_64: --cc compiles the runtime too)
check "$simde_cc avx512 --simde" env -u KILN_EXTRA_CFLAGS \
  "$KILNC" graphs/lm_attn_a.kiln --target avx512 --simde --cc $simde_cc --cflags -Werror -o "$TMP/simde"
forward_matches "$simde_cc avx512 --simde" "$TMP/simde/lm_attn_a" lm_attn_a
if command -v qemu-x86_64 >/dev/null; then
  # (qemu prints warnings of its own: the guard's line is the one that counts)
  QEMU=qemu-x86_64
  $QEMU -cpu Nehalem "$TMP/simde/lm_attn_a" info >"$TMP/nehalem.out" 2>"$TMP/nehalem.err"
  rc=$?
  if [ "$rc" = 1 ] && grep -qx "lm_attn_a: error: this binary was built for target avx512, compiled for the CPU features avx2,fma,f16c, and this CPU lacks 'avx2'; rebuild with kilnc --target native (or scalar)" "$TMP/nehalem.err"; then
    pass; else fail "--simde binary on Nehalem: exit $rc, $(cat "$TMP/nehalem.err")"; fi
  if $QEMU -cpu Haswell "$TMP/simde/lm_attn_a" info 2>/dev/null | grep -q '^target *avx512$'; then pass; else
    fail "--simde binary on Haswell (AVX2, FMA, F16C) does not run"; fi
  check "scalar" env -u KILN_EXTRA_CFLAGS "$KILNC" graphs/lm_attn_a.kiln --target scalar --cc cc -o "$TMP/scalar"
  if $QEMU -cpu Nehalem "$TMP/scalar/lm_attn_a" info 2>/dev/null | grep -q '^target *scalar$'; then pass; else
    fail "a scalar binary does not run on Nehalem"; fi
else
  echo "  (no qemu-x86_64: make test installs qemu-user)"
fi
finish
