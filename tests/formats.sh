#!/bin/sh
# formats.sh: the weight formats against the goldens (issue: weight formats).
#   --weights bf16: the *_bf16w goldens (computed in f32 from the checkpoint rounded to bf16) within
#   1e-4, from weights.safetensors and from weights_bf16.safetensors alike; --weights f16: the f32
#   goldens within 3e-3; and per position the same largest logit as the f32 goldens (teacher-forced:
#   a free-running generation parts at its first different token) at 95% (bf16) and 99% (f16) of
#   positions or more. For lm_attn_a, lm_attn_c and lm_hybrid on scalar, avx2, avx512 (natively
#   where /proc/cpuinfo has avx512f, else skipped and counted) and neon under qemu-aarch64, with the
#   C back end, and with the LLVM back end bitwise equal to it. Also: a configuration not in the
#   goldens, a bf16 .kw file, the description's `weights` key and the options' errors.
. tests/lib.sh
G=tests/goldens
skipped=0

# logits LABEL OUT REFERENCE_SUFFIX CASE TOLERANCE: both logits of a forward against the goldens
logits() {
  compare "$1 text_logits" "$2/text_logits.npy" $G/$4/text_logits$3.npy "$5"
  compare "$1 audio_logits" "$2/audio_logits.npy" $G/$4/audio_logits$3.npy "$5"
}

# agreement LABEL OUT CASE MIN: per-position argmax of both logits against the f32 goldens
agreement() {
  local output what
  for what in text audio; do
    if output=$("$NPYCMP" --argmax "$2/${what}_logits.npy" $G/$3/${what}_logits.npy "$4" 2>&1); then
      pass; echo "  $1 $what: $output"
    else
      fail "$1 $what: $output"
    fi
  done
}

# formats LABEL RUNNER TARGET_ARGS...: every case and format on one target, both back ends
formats() {
  local label=$1 runner=$2 backend dir out file case format; shift 2
  for case in lm_attn_a lm_attn_c lm_hybrid; do
    for format in bf16 f16; do
      for backend in c llvm; do
        dir=$TMP/$label-$format-$backend
        check "$label $case --weights $format --backend $backend" \
          "$KILNC" graphs/$case.kiln --weights $format --backend $backend "$@" -o "$dir"
        for file in weights weights_bf16; do
          out=$dir/$case-$file
          if ! $runner "$dir/$case" forward --weights $G/$case/$file.safetensors --codes $G/$case/codes.npy \
               --out "$out" 2>"$TMP/err"; then
            fail "$label $case $format $backend forward: $(cat "$TMP/err")"
            continue
          fi
          pass
          if [ $backend = llvm ]; then
            compare "$label $case $format $file (llvm vs c)" "$out/text_logits.npy" \
              "$TMP/$label-$format-c/$case-$file/text_logits.npy" 0
          elif [ $format = bf16 ]; then
            logits "$label $case bf16 from $file" "$out" _bf16w $case 1e-4
            [ $file = weights ] && agreement "$label $case bf16 argmax" "$out" $case 0.95
          elif [ $file = weights ]; then
            logits "$label $case f16" "$out" "" $case 3e-3
            agreement "$label $case f16 argmax" "$out" $case 0.99
          fi
        done
      done
    done
  done
}

formats scalar "" --target scalar
formats avx2 "" --target avx2
if grep -q avx512f /proc/cpuinfo; then
  formats avx512 "" --target avx512
else
  skipped=$((skipped + 1)); echo "  avx512: skipped (this CPU has no avx512f)"
fi
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
  formats neon "env ASAN_OPTIONS=detect_leaks=0 qemu-aarch64 -L /usr/aarch64-linux-gnu" --target neon \
    --cc aarch64-linux-gnu-gcc
else
  skipped=$((skipped + 1)); echo "  neon: skipped (no aarch64 cross compiler or qemu-user)"
fi

# A configuration that is in no golden (odd widths, heads of 6): bf16 within bf16's rounding of f32
# (teacher-forced: a free-running generation parts at the first different token), and the LLVM
# back end bitwise equal to C, streaming too.
mkdir -p "$TMP/odd"
sed 's/^model lm_attn_a/model odd/; s/dim = 64;/dim = 36;/; s/num_heads = 4;/num_heads = 6;/' graphs/lm_attn_a.kiln \
  >"$TMP/odd/odd.kiln"
for spec in "f32 c" "bf16 c" "bf16 llvm"; do
  set -- $spec
  check "odd --weights $1 --backend $2" "$KILNC" "$TMP/odd/odd.kiln" --weights $1 --backend $2 -o "$TMP/odd/$1-$2"
  check "odd $1 $2 forward" "$TMP/odd/$1-$2/odd" forward --random-weights 5 --codes $G/lm_attn_a/codes.npy \
    --out "$TMP/odd/$1-$2.forward"
  check "odd $1 $2 generate" "$TMP/odd/$1-$2/odd" generate --random-weights 5 --steps 12 --temp 0 --temp-text 0 \
    --out "$TMP/odd/$1-$2.npy" --logits-out "$TMP/odd/$1-$2.logits"
done
compare "odd bf16 generate (llvm vs c)" "$TMP/odd/bf16-llvm.logits/stream_text_logits.npy" \
  "$TMP/odd/bf16-c.logits/stream_text_logits.npy" 0
compare "odd bf16 forward (llvm vs c)" "$TMP/odd/bf16-llvm.forward/audio_logits.npy" \
  "$TMP/odd/bf16-c.forward/audio_logits.npy" 0
compare "odd bf16 ~ f32 (bf16's rounding)" "$TMP/odd/bf16-c.forward/text_logits.npy" \
  "$TMP/odd/f32-c.forward/text_logits.npy" 5e-2

# A bf16 .kw: half the f32 file's weight bytes, mapped, the same logits; refused by the f32 build.
for format in bf16 f32; do
  check "$format build" "$KILNC" graphs/lm_attn_a.kiln --weights $format -o "$TMP/native-$format"
  check "$format pack" "$TMP/native-$format/lm_attn_a" pack $G/lm_attn_a/weights.safetensors "$TMP/a-$format.kw"
done
check "bf16 .kw forward" "$TMP/native-bf16/lm_attn_a" forward --weights "$TMP/a-bf16.kw" --codes $G/lm_attn_a/codes.npy \
  --out "$TMP/kw-out"
logits "bf16 .kw" "$TMP/kw-out" _bf16w lm_attn_a 1e-4
f32_bytes=$(stat -c %s "$TMP/a-f32.kw")
bf16_bytes=$(stat -c %s "$TMP/a-bf16.kw")
if [ $((bf16_bytes * 10)) -lt $((f32_bytes * 6)) ]; then pass; echo "  .kw: f32 $f32_bytes bytes, bf16 $bf16_bytes"
else fail "the bf16 .kw ($bf16_bytes bytes) is not near half the f32 one ($f32_bytes)"; fi
expect_error "a bf16 .kw in the f32 build" 1 \
  "lm_attn_a forward: error: $TMP/a-bf16.kw: packed for lm_attn_a (target $("$KILNC" --print-target native)) with another weight layout; pack it again with this binary" \
  "$TMP/native-f32/lm_attn_a" forward --weights "$TMP/a-bf16.kw" --codes $G/lm_attn_a/codes.npy --out "$TMP/never"

# The description's `weights` key, and --weights over it
sed 's/^weights = f32;/weights = f16;/' graphs/lm_attn_a.kiln >"$TMP/f16.kiln"
if grep -q '^weights = f16;' "$TMP/f16.kiln"; then pass; else fail "the test's description lacks weights = f16"; fi
check "weights = f16" "$KILNC" "$TMP/f16.kiln" -o "$TMP/key"
if "$TMP/key/lm_attn_a" info | grep -q '^weight format  f16$'; then pass; else fail "weights = f16 did not build f16"; fi
check "--weights over the key" "$KILNC" "$TMP/f16.kiln" --weights bf16 -o "$TMP/key2"
if "$TMP/key2/lm_attn_a" info | grep -q '^weight format  bf16$'; then pass; else fail "--weights bf16 did not override"; fi
expect_error "--weights q4" 1 "kilnc: error: --weights q4 is not supported yet (f32, bf16 and f16 are)
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --weights q4
expect_error "--weights f64" 1 "kilnc: error: unknown weight format 'f64' (f32, bf16, f16, q8, q4)
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --weights f64
echo "  skipped: $skipped"
finish
