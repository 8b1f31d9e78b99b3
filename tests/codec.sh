#!/bin/sh
# codec.sh: Mimi compiled by kilnc against the reference's outputs (tests/goldens/mimi, through
# graphs/tests/mimi_golden.kiln and through `kilnc import mimi` of the golden's config.json):
# whole-file and streaming encode (codes exactly) and decode (1e-4 relative), from the f32 weights
# and from the BF16-rounded ones, on every target with the C back end and on those this CPU runs
# with the LLVM back end. A Mimi of other dimensions (graphs/tests/mimi_other.kiln, no reference)
# gives the same codes, and decoded audio within 1e-5, on every target and back end as on scalar C.
. tests/lib.sh
G=tests/goldens/mimi

# codec_goldens LABEL BIN: the golden's runs through the codec binary BIN
codec_goldens() {
  local label=$1 bin=$2 mode suffix out=$TMP/out-$1
  mkdir -p "$out"
  for mode in whole stream; do
    suffix=; flag=
    [ $mode = stream ] && suffix=_stream flag=--stream
    if "$bin" encode --weights $G/weights.safetensors --audio $G/waveform.npy --out "$out/codes$suffix.npy" $flag 2>"$TMP/err"; then
      pass; compare "$label $mode codes" "$out/codes$suffix.npy" $G/codes$suffix.npy 0
    else fail "$label $mode encode: $(cat "$TMP/err")"; fi
    if "$bin" decode --weights $G/weights.safetensors --codes $G/codes$suffix.npy --out "$out/decoded$suffix.npy" $flag 2>"$TMP/err"; then
      pass; compare "$label $mode decoded" "$out/decoded$suffix.npy" $G/decoded$suffix.npy 1e-4
    else fail "$label $mode decode: $(cat "$TMP/err")"; fi
  done
  if "$bin" encode --weights $G/weights_bf16.safetensors --audio $G/waveform.npy --out "$out/codes_bf16w.npy" 2>"$TMP/err" &&
     "$bin" decode --weights $G/weights_bf16.safetensors --codes $G/codes_bf16w.npy --out "$out/decoded_bf16w.npy" 2>"$TMP/err"; then
    pass
    compare "$label bf16 weights codes" "$out/codes_bf16w.npy" $G/codes_bf16w.npy 0
    compare "$label bf16 weights decoded" "$out/decoded_bf16w.npy" $G/decoded_bf16w.npy 1e-4
  else fail "$label bf16 weights: $(cat "$TMP/err")"; fi
}

# other LABEL BIN: mimi_other's codes and audio of the golden's waveform, random weights, against scalar C's
other() {
  local label=$1 bin=$2 out=$TMP/other-$1
  mkdir -p "$out"
  if "$bin" encode --random-weights 7 --audio $G/waveform.npy --out "$out/codes.npy" --stream 2>"$TMP/err" &&
     "$bin" decode --random-weights 7 --codes "$out/codes.npy" --out "$out/decoded.npy" --stream 2>"$TMP/err" &&
     "$bin" encode --random-weights 7 --audio $G/waveform.npy --out "$out/codes_whole.npy" 2>"$TMP/err"; then
    pass
    if [ "$label" != scalar_c ]; then
      compare "mimi_other $label codes (vs scalar C)" "$out/codes.npy" "$TMP/other-scalar_c/codes.npy" 0
      compare "mimi_other $label whole-file codes (vs scalar C)" "$out/codes_whole.npy" "$TMP/other-scalar_c/codes_whole.npy" 0
      compare "mimi_other $label decoded (vs scalar C)" "$out/decoded.npy" "$TMP/other-scalar_c/decoded.npy" 1e-5
    fi
  else fail "mimi_other $label: $(cat "$TMP/err")"; fi
}

native_llvm=""
if grep -q avx512f /proc/cpuinfo; then native_llvm="native avx512"; fi
for spec in "scalar" "native" "avx2" "avx512 --simde" "neon --simde"; do
  set -- $spec
  label=$(echo "$spec" | tr -d ' -')
  for backend in c llvm; do
    if [ $backend = llvm ] && ! echo "scalar avx2 $native_llvm" | grep -qw "$label"; then continue; fi
    check "mimi_golden $label $backend compiles" env KILN_EXTRA_CFLAGS="${KILN_EXTRA_CFLAGS:-} -Werror" \
      "$KILNC" graphs/tests/mimi_golden.kiln --target $spec --backend $backend -o "$TMP/$label-$backend"
    codec_goldens "$label $backend" "$TMP/$label-$backend/mimi_golden"
    check "mimi_other $label $backend compiles" "$KILNC" graphs/tests/mimi_other.kiln --target $spec --backend $backend \
      -o "$TMP/$label-$backend"
    other "${label}_$backend" "$TMP/$label-$backend/mimi_other"
  done
done

# The description `kilnc import mimi` writes from the golden's config.json compiles to the same codec.
check "import mimi" "$KILNC" import mimi $G/config.json -o "$TMP/imported.kiln"
check "imported mimi compiles" "$KILNC" "$TMP/imported.kiln" -o "$TMP/imported"
codec_goldens imported "$TMP/imported/$(sed -n 's/^model \([a-z_0-9]*\).*/\1/p' "$TMP/imported.kiln")"

# Streaming semantics: the first frame is the same either way (its rows see all there is); later
# frames differ where the reference's do (codes_stream vs codes: 7% in the reference).
if "$TMP/native-c/mimi_golden" encode --weights $G/weights.safetensors --audio $G/waveform.npy --out "$TMP/w.npy" 2>"$TMP/err" &&
   "$TMP/native-c/mimi_golden" encode --weights $G/weights.safetensors --audio $G/waveform.npy --out "$TMP/s.npy" --stream 2>"$TMP/err"; then
  if cmp -s "$TMP/w.npy" "$TMP/s.npy"; then fail "whole-file and streaming codes are identical: the semantics are not told apart"
  else pass; fi
else fail "semantics: $(cat "$TMP/err")"; fi

# Built with weights = bf16 (the matmuls' matrices in bf16, every other weight rounded through it, a
# codebook's sums and usages each rounded, then divided in f32): from the F32 checkpoint, the
# reference's outputs on BF16-rounded weights.
check "mimi_golden bf16 compiles" "$KILNC" graphs/tests/mimi_golden.kiln --weights bf16 -o "$TMP/bf16"
if "$TMP/bf16/mimi_golden" encode --weights $G/weights.safetensors --audio $G/waveform.npy --out "$TMP/bf16/codes.npy" 2>"$TMP/err" &&
   "$TMP/bf16/mimi_golden" decode --weights $G/weights.safetensors --codes $G/codes_bf16w.npy --out "$TMP/bf16/decoded.npy" 2>"$TMP/err"; then
  pass
  compare "bf16 build codes (vs codes_bf16w)" "$TMP/bf16/codes.npy" $G/codes_bf16w.npy 0
  compare "bf16 build decoded (vs decoded_bf16w)" "$TMP/bf16/decoded.npy" $G/decoded_bf16w.npy 1e-4
else fail "bf16 build: $(cat "$TMP/err")"; fi

# The fusions (a conv's bias and a layer scale into their matmuls' epilogues) change no bit.
check "mimi_golden unfused compiles" "$KILNC" graphs/tests/mimi_golden.kiln --no-fuse -o "$TMP/unfused"
for mode in "" --stream; do
  "$TMP/unfused/mimi_golden" encode --weights $G/weights.safetensors --audio $G/waveform.npy --out "$TMP/u$mode.npy" $mode 2>/dev/null
  "$TMP/native-c/mimi_golden" encode --weights $G/weights.safetensors --audio $G/waveform.npy --out "$TMP/f$mode.npy" $mode 2>/dev/null
  "$TMP/unfused/mimi_golden" decode --weights $G/weights.safetensors --codes $G/codes.npy --out "$TMP/ud$mode.npy" $mode 2>/dev/null
  "$TMP/native-c/mimi_golden" decode --weights $G/weights.safetensors --codes $G/codes.npy --out "$TMP/fd$mode.npy" $mode 2>/dev/null
  check "fused and unfused: the same codes ${mode:-whole}" cmp "$TMP/u$mode.npy" "$TMP/f$mode.npy"
  check "fused and unfused: the same audio ${mode:-whole}" cmp "$TMP/ud$mode.npy" "$TMP/fd$mode.npy"
done

# 1 and 2 threads give bitwise identical codes and audio (each value is one thread's, in a fixed order).
for threads in 1 2; do
  "$TMP/native-c/mimi_golden" encode --weights $G/weights.safetensors --audio $G/waveform.npy --out "$TMP/t$threads.npy" \
    --threads $threads 2>/dev/null
  "$TMP/native-c/mimi_golden" decode --weights $G/weights.safetensors --codes $G/codes.npy --out "$TMP/d$threads.npy" \
    --threads $threads 2>/dev/null
done
check "1 and 2 threads: the same codes" cmp "$TMP/t1.npy" "$TMP/t2.npy"
check "1 and 2 threads: the same audio" cmp "$TMP/d1.npy" "$TMP/d2.npy"

finish
