#!/bin/sh
# formats.sh: the weight formats against the goldens (issue: weight formats).
#   --weights bf16: the *_bf16w goldens (computed in f32 from the checkpoint rounded to bf16) within
#   1e-4, from weights.safetensors and from weights_bf16.safetensors alike; --weights f16: the f32
#   goldens within 3e-3; and per position the same largest logit as the f32 goldens (teacher-forced:
#   a free-running generation parts at its first different token) at 95% (bf16) and 99% (f16) of
#   positions or more. For lm_attn_a, lm_attn_c and lm_hybrid on scalar, avx2, avx512 (natively
#   where /proc/cpuinfo has avx512f, else skipped and counted) and neon under qemu-aarch64, with the
#   C back end, and with the LLVM back end bitwise equal to it.
#   --weights q8 / q4 (ggml's q8_0 / q4_0 blocks): on lm_attn_a and lm_hybrid, q8 within 5e-2 of the
#   f32 goldens (argmax at 90% of positions); q4 within 0.1 of the f32 path on the checkpoint rounded
#   through q4 by ggml's rule (tests/tools/rounded.c; argmax at 90%), a bound that leaves room for x's
#   own q8 rounding but not for another rounding rule (that costs ~0.25 here); on scalar, avx2,
#   avx512, avx512vnni (natively where the CPU has them) and neon under qemu, the LLVM back end
#   bitwise equal to C.
#   --kv f16 / bf16 (the attention caches in 2 bytes): lm_attn_a, lm_attn_c and lm_hybrid within 2e-3
#   (f16) and 2e-2 (bf16) of the f32 goldens, argmax at 99% / 95%, on scalar, avx2, native and neon,
#   the LLVM back end bitwise equal to C; the unfused KV write as the fused; streaming generate.
#   Also: a configuration not in the goldens, bf16 and q4 .kw files, the description's `weights`
#   key, the class keys and the options' errors.
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

# rounded CASE: DIR $TMP/rounded-CASE with the checkpoint rounded through q4 (rounded.c, built against
# the scalar q4 library) and the f32 path's logits on it (a native f32 build)
rounded() {
  local dir=$TMP/rounded-$1
  check "$1 q4 library" "$KILNC" graphs/$1.kiln --target scalar --weights q4 --emit lib -o "$dir"
  check "rounded.c for $1" ${CC:-cc} $KILN_EXTRA_CFLAGS -Iruntime -I"$dir" -DDESC=$1_desc tests/tools/rounded.c \
    "$dir/lib$1.a" -fopenmp -lm -o "$dir/rounded"
  check "$1 rounded through q4" "$dir/rounded" $G/$1/weights.safetensors "$dir/q4.safetensors"
  check "$1 f32 build" "$KILNC" graphs/$1.kiln -o "$dir/f32"
  check "$1 f32 on the rounded checkpoint" "$dir/f32/$1" forward --weights "$dir/q4.safetensors" \
    --codes $G/$1/codes.npy --out "$dir/logits"
}

# variant LABEL RUNNER DIR CASE KILNC_ARGS...: CASE built with KILNC_ARGS into DIR, its forward on the
# golden checkpoint and codes into DIR/CASE-logits; false when the forward fails
variant() {
  local label=$1 runner=$2 dir=$3 case=$4; shift 4
  check "$label: build" "$KILNC" graphs/$case.kiln "$@" -o "$dir"
  if ! $runner "$dir/$case" forward --weights $G/$case/weights.safetensors --codes $G/$case/codes.npy \
       --out "$dir/$case-logits" 2>"$TMP/err"; then
    fail "$label: forward: $(cat "$TMP/err")"
    return 1
  fi
  pass
}

# same_logits LABEL OUT OTHER: both logits of two forwards bitwise equal (the LLVM back end's and C's)
same_logits() {
  local what
  for what in text audio; do
    compare "$1 $what" "$2/${what}_logits.npy" "$3/${what}_logits.npy" 0
  done
}

# qformats LABEL RUNNER TARGET_ARGS...: q8 and q4 on one target, both back ends
qformats() {
  local label=$1 runner=$2 backend out case format what output; shift 2
  for case in lm_attn_a lm_hybrid; do
    for format in q8 q4; do
      for backend in c llvm; do
        out=$TMP/$label-$format-$backend/$case-logits
        variant "$label $case --weights $format --backend $backend" "$runner" "$TMP/$label-$format-$backend" $case \
          --weights $format --backend $backend "$@" || continue
        if [ $backend = llvm ]; then
          same_logits "$label $case $format (llvm vs c)" "$out" "$TMP/$label-$format-c/$case-logits"
        elif [ $format = q8 ]; then
          logits "$label $case q8" "$out" "" $case 5e-2
          agreement "$label $case q8 argmax" "$out" $case 0.90
        else
          for what in text audio; do
            compare "$label $case q4 $what ~ f32 on q4-rounded weights" "$out/${what}_logits.npy" \
              "$TMP/rounded-$case/logits/${what}_logits.npy" 0.1
            if output=$("$NPYCMP" --argmax "$out/${what}_logits.npy" "$TMP/rounded-$case/logits/${what}_logits.npy" \
                        0.90 2>&1); then
              pass; echo "  $label $case q4 $what argmax: $output"
            else
              fail "$label $case q4 $what argmax: $output"
            fi
          done
        fi
      done
    done
  done
}

rounded lm_attn_a
rounded lm_hybrid
qformats scalar "" --target scalar
qformats avx2 "" --target avx2
for target in avx512 avx512vnni; do
  if "$KILNC" --print-target native | grep -q avx512 && { [ $target = avx512 ] || grep -q avx512_vnni /proc/cpuinfo; }; then
    qformats $target "" --target $target
  else
    skipped=$((skipped + 1)); echo "  $target q8/q4: skipped (this CPU lacks it)"
  fi
done
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
  qformats neon "env ASAN_OPTIONS=detect_leaks=0 qemu-aarch64 -L /usr/aarch64-linux-gnu" --target neon \
    --cc aarch64-linux-gnu-gcc
else
  skipped=$((skipped + 1)); echo "  neon q8/q4: skipped (no aarch64 cross compiler or qemu-user)"
fi

# SIMDe builds (an x86-64 host with AVX2 runs avx512 and neon kernels): q8 and q4 as the scalar target's
for target in avx512 neon; do
  for format in q8 q4; do
    dir=$TMP/simde-$target-$format
    check "$target --simde --weights $format" "$KILNC" graphs/lm_attn_a.kiln --target $target --simde --weights $format -o "$dir"
    check "$target --simde $format forward" "$dir/lm_attn_a" forward --weights $G/lm_attn_a/weights.safetensors \
      --codes $G/lm_attn_a/codes.npy --out "$dir/logits"
    compare "$target --simde $format ~ scalar" "$dir/logits/audio_logits.npy" "$TMP/scalar-$format-c/lm_attn_a-logits/audio_logits.npy" 1e-5
  done
done

# kvformats LABEL RUNNER TARGET_ARGS...: --kv f16 and bf16 on one target, both back ends
kvformats() {
  local label=$1 runner=$2 backend out case kv bound share; shift 2
  for case in lm_attn_a lm_attn_c lm_hybrid; do
    for kv in f16 bf16; do
      for backend in c llvm; do
        out=$TMP/$label-kv$kv-$backend/$case-logits
        variant "$label $case --kv $kv --backend $backend" "$runner" "$TMP/$label-kv$kv-$backend" $case \
          --kv $kv --backend $backend "$@" || continue
        if [ $backend = llvm ]; then
          same_logits "$label $case kv $kv (llvm vs c)" "$out" "$TMP/$label-kv$kv-c/$case-logits"
        else
          bound=2e-3 share=0.99
          [ $kv = bf16 ] && bound=2e-2 share=0.95
          logits "$label $case kv $kv" "$out" "" $case $bound
          agreement "$label $case kv $kv argmax" "$out" $case $share
        fi
      done
    done
  done
}

kvformats scalar "" --target scalar
kvformats avx2 "" --target avx2
kvformats native "" --target native
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
  kvformats neon "env ASAN_OPTIONS=detect_leaks=0 qemu-aarch64 -L /usr/aarch64-linux-gnu" --target neon \
    --cc aarch64-linux-gnu-gcc
else
  skipped=$((skipped + 1)); echo "  neon --kv: skipped (no aarch64 cross compiler or qemu-user)"
fi
# the unfused KV write (kv_write) within f16's bound too; streaming generate, C as LLVM
check "--kv f16 --no-fuse" "$KILNC" graphs/lm_attn_a.kiln --kv f16 --no-fuse -o "$TMP/kv-nofuse"
check "--kv f16 --no-fuse forward" "$TMP/kv-nofuse/lm_attn_a" forward --weights $G/lm_attn_a/weights.safetensors \
  --codes $G/lm_attn_a/codes.npy --out "$TMP/kv-nofuse/logits"
logits "--kv f16 unfused" "$TMP/kv-nofuse/logits" "" lm_attn_a 2e-3
for backend in c llvm; do
  check "--kv bf16 generate ($backend)" "$TMP/native-kvbf16-$backend/lm_hybrid" generate --weights $G/lm_hybrid/weights.safetensors \
    --steps 20 --temp 0 --temp-text 0 --out "$TMP/kv-gen-$backend.npy" --logits-out "$TMP/kv-gen-$backend"
done
compare "--kv bf16 generate (llvm vs c)" "$TMP/kv-gen-llvm/stream_audio_logits.npy" "$TMP/kv-gen-c/stream_audio_logits.npy" 0
if "$TMP/native-kvf16-c/lm_hybrid" info | grep -q 'KV cache in f16'; then pass; else fail "info does not name the KV cache's format"; fi
expect_error "--kv q8" 1 "kilnc: error: unknown KV cache format 'q8' (f32, bf16, f16)
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --kv q8

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
# A q4 .kw: the same logits as its build from the safetensors file, at most a third of the f32 bytes.
for format in bf16 f32 q4; do
  check "$format build" "$KILNC" graphs/lm_attn_a.kiln --weights $format -o "$TMP/native-$format"
  check "$format pack" "$TMP/native-$format/lm_attn_a" pack $G/lm_attn_a/weights.safetensors "$TMP/a-$format.kw"
done
check "bf16 .kw forward" "$TMP/native-bf16/lm_attn_a" forward --weights "$TMP/a-bf16.kw" --codes $G/lm_attn_a/codes.npy \
  --out "$TMP/kw-out"
logits "bf16 .kw" "$TMP/kw-out" _bf16w lm_attn_a 1e-4
check "q4 .kw forward" "$TMP/native-q4/lm_attn_a" forward --weights "$TMP/a-q4.kw" --codes $G/lm_attn_a/codes.npy \
  --out "$TMP/kw-q4"
check "q4 forward" "$TMP/native-q4/lm_attn_a" forward --weights $G/lm_attn_a/weights.safetensors --codes $G/lm_attn_a/codes.npy \
  --out "$TMP/st-q4"
compare "q4 .kw = q4 from safetensors" "$TMP/kw-q4/audio_logits.npy" "$TMP/st-q4/audio_logits.npy" 0
f32_bytes=$(stat -c %s "$TMP/a-f32.kw")
q4_bytes=$(stat -c %s "$TMP/a-q4.kw")
if [ $((q4_bytes * 3)) -lt "$f32_bytes" ]; then pass; echo "  .kw: q4 $q4_bytes bytes"
else fail "the q4 .kw ($q4_bytes bytes) is not under a third of the f32 one ($f32_bytes)"; fi
bf16_bytes=$(stat -c %s "$TMP/a-bf16.kw")
if [ $((bf16_bytes * 10)) -lt $((f32_bytes * 6)) ]; then pass; echo "  .kw: f32 $f32_bytes bytes, bf16 $bf16_bytes"
else fail "the bf16 .kw ($bf16_bytes bytes) is not near half the f32 one ($f32_bytes)"; fi
expect_error "a bf16 .kw in the f32 build" 1 \
  "lm_attn_a forward: error: $TMP/a-bf16.kw: packed for lm_attn_a (target $("$KILNC" --print-target native), weights bf16), and this binary is lm_attn_a (target $("$KILNC" --print-target native), weights f32): another weight layout; pack it again with this binary" \
  "$TMP/native-f32/lm_attn_a" forward --weights "$TMP/a-bf16.kw" --codes $G/lm_attn_a/codes.npy --out "$TMP/never"

# The description's `weights` key, and --weights over it
sed 's/^weights = f32;/weights = f16;/' graphs/lm_attn_a.kiln >"$TMP/f16.kiln"
if grep -q '^weights = f16;' "$TMP/f16.kiln"; then pass; else fail "the test's description lacks weights = f16"; fi
check "weights = f16" "$KILNC" "$TMP/f16.kiln" -o "$TMP/key"
if "$TMP/key/lm_attn_a" info | grep -q '^weight format  f16$'; then pass; else fail "weights = f16 did not build f16"; fi
check "--weights over the key" "$KILNC" "$TMP/f16.kiln" --weights bf16 -o "$TMP/key2"
if "$TMP/key2/lm_attn_a" info | grep -q '^weight format  bf16$'; then pass; else fail "--weights bf16 did not override"; fi
sed 's/^weights = f32;/weights = q4;/' graphs/lm_attn_a.kiln >"$TMP/q4.kiln"
check "weights = q4" "$KILNC" "$TMP/q4.kiln" -o "$TMP/key3"
if "$TMP/key3/lm_attn_a" info | grep -q '^weight format  q4$'; then pass; else fail "weights = q4 did not build q4"; fi
# The class keys override `weights`, --weights overrides `weights` alone: every class bf16 under
# `weights = q4` computes as --weights bf16; `depformer_weights = q8` under --weights q8 as q8 alone
sed 's/^weights = f32;/weights = q4; embedding_weights = bf16; temporal_weights = bf16; text_head_weights = bf16; depformer_weights = bf16;/' \
  graphs/lm_attn_a.kiln >"$TMP/classes.kiln"
sed 's/^weights = f32;/weights = f32; depformer_weights = q8;/' graphs/lm_attn_a.kiln >"$TMP/classes2.kiln"
check "every class bf16" "$KILNC" "$TMP/classes.kiln" -o "$TMP/classes"
check "depformer_weights = q8, --weights q8" "$KILNC" "$TMP/classes2.kiln" --weights q8 -o "$TMP/classes2"
check "--weights q8" "$KILNC" graphs/lm_attn_a.kiln --weights q8 -o "$TMP/q8-native"
for dir in classes classes2 native-bf16 q8-native; do
  check "$dir forward" "$TMP/$dir/lm_attn_a" forward --weights $G/lm_attn_a/weights.safetensors --codes $G/lm_attn_a/codes.npy \
    --out "$TMP/$dir.logits"
done
compare "every class bf16 = bf16" "$TMP/classes.logits/text_logits.npy" "$TMP/native-bf16.logits/text_logits.npy" 0
compare "depformer q8 under --weights q8 = q8" "$TMP/classes2.logits/audio_logits.npy" "$TMP/q8-native.logits/audio_logits.npy" 0
if "$TMP/classes2/lm_attn_a" info | grep -qx 'weight format  q8'; then pass; else fail "info of --weights q8 over depformer_weights = q8"; fi
sed 's/^weights = f32;/weights = q4; text_head_weights = q8; depformer_weights = bf16;/' graphs/lm_attn_a.kiln >"$TMP/classes3.kiln"
check "classes of three formats" "$KILNC" "$TMP/classes3.kiln" -o "$TMP/classes3"
if "$TMP/classes3/lm_attn_a" info | grep -qx 'weight format  q4 with text head q8, depformer bf16'; then pass
else fail "info of classes: $("$TMP/classes3/lm_attn_a" info | grep 'weight format')"; fi

# the matrices whose rows are not whole blocks: one note, and they are bf16
"$KILNC" graphs/lm_attn_a.kiln --weights q8 -o "$TMP/note" 2>"$TMP/note.err" >/dev/null
if grep -qx "kilnc: note: 4 matrices whose rows are not whole blocks of 32 values are stored in bf16, not q8 (e.g. 'transformer.layers.0.gating.linear_out.weight', rows of 176)" "$TMP/note.err"
then pass; else fail "the note on bf16 matrices under q8: $(cat "$TMP/note.err")"; fi
expect_error "--weights f64" 1 "kilnc: error: unknown weight format 'f64' (f32, bf16, f16, q8, q4)
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --weights f64
echo "  skipped: $skipped"
finish
