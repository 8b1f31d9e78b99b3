#!/bin/sh
# cli.sh: the generated binary as a user drives it: info, bad weight files and bad codes (exact
# messages, exit status 1, no output written), packed weight files, usage errors.
. tests/lib.sh
G=tests/goldens
check "lm_attn_a compiles" "$KILNC" graphs/lm_attn_a.kiln -o "$TMP/a"
B=$TMP/a/lm_attn_a

if "$B" info >"$TMP/info" && grep -q '^parameters     431488 ' "$TMP/info"; then pass; else fail "info: $(cat "$TMP/info")"; fi
check "7b compiles" "$KILNC" graphs/moshi-7b.kiln -o "$TMP/7b"
if "$TMP/7b/moshi_7b" info >"$TMP/info7" && grep -q '^parameters     7687729152 ' "$TMP/info7"; then pass; else
  fail "7B info: $(cat "$TMP/info7")"; fi
# bytes per class: the text head is out_norm's alpha (4096 f32) and text_linear (32000 x 4096 f32),
# 500.02 MiB; the four add up to the 28.64 GiB of the parameters line
if grep -qx 'weights        embeddings 1.17 GiB, temporal 24.50 GiB, text head 500.02 MiB, depformer 2.48 GiB' \
     "$TMP/info7" && grep -q '(28.64 GiB as f32)' "$TMP/info7"; then pass; else fail "7B info by class: $(cat "$TMP/info7")"; fi

expect_error "weights of another model" 1 \
  "lm_attn_a forward: error: $G/lm_attn_c/weights.safetensors: tensor 'text_emb.weight' has shape [91, 80]; the model expects [101, 64]" \
  "$B" forward --weights $G/lm_attn_c/weights.safetensors --codes $G/lm_attn_a/codes.npy --out "$TMP/out1"
head -c 5000 $G/lm_attn_a/weights.safetensors >"$TMP/truncated.safetensors"
expect_error "truncated weights" 1 \
  "lm_attn_a forward: error: $TMP/truncated.safetensors: header length 9344 past the end of the file (5000 bytes)" \
  "$B" forward --weights "$TMP/truncated.safetensors" --codes $G/lm_attn_a/codes.npy --out "$TMP/out2"
expect_error "codes of another model" 1 \
  "lm_attn_a forward: error: $G/lm_attn_c/codes.npy: codes must have shape [B, K, T] with K = 1 + n_q = 17; it has shape [1, 9, 45]" \
  "$B" forward --weights $G/lm_attn_a/weights.safetensors --codes $G/lm_attn_c/codes.npy --out "$TMP/out3"

# edit_header OUT SED_EXPRESSION: the golden weights with their JSON header edited (same length).
edit_header() {
  local n
  n=$((8 + $(od -An -tu8 -N8 $G/lm_attn_a/weights.safetensors)))
  { head -c "$n" $G/lm_attn_a/weights.safetensors | sed "$2"; tail -c +$((n + 1)) $G/lm_attn_a/weights.safetensors; } >"$1"
}
edit_header "$TMP/renamed.safetensors" 's/"out_norm.alpha"/"out_norm.alphX"/'
expect_error "a missing tensor" 1 \
  "lm_attn_a forward: error: $TMP/renamed.safetensors: missing tensor 'out_norm.alpha' (the model expects [1, 1, 64])" \
  "$B" forward --weights "$TMP/renamed.safetensors" --codes $G/lm_attn_a/codes.npy --out "$TMP/out5"
edit_header "$TMP/dtype.safetensors" 's/\("out_norm.alpha":{"dtype":"\)F32/\1I32/'
expect_error "a tensor of the wrong dtype" 1 \
  "lm_attn_a forward: error: $TMP/dtype.safetensors: tensor 'out_norm.alpha' has dtype I32; expected F32, BF16 or F16" \
  "$B" forward --weights "$TMP/dtype.safetensors" --codes $G/lm_attn_a/codes.npy --out "$TMP/out6"

# codes.npy int32 [1, 17, 1], all 0 but codes[0, 3, 0] = 999
{ printf '\223NUMPY\001\000\166\000'
  printf "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 17, 1), }%54s\n" ''
  head -c 12 /dev/zero; printf '\347\003\000\000'; head -c 52 /dev/zero; } >"$TMP/bad_codes.npy"
expect_error "a code out of range" 1 \
  "lm_attn_a forward: error: $TMP/bad_codes.npy: codes[0, 3, 0] = 999 is outside [0, 64) and is neither -1 (zero token) nor the initial token 64" \
  "$B" forward --weights $G/lm_attn_a/weights.safetensors --codes "$TMP/bad_codes.npy" --out "$TMP/out4"
for d in out1 out2 out3 out4 out5 out6 out7 out8; do
  if [ -e "$TMP/$d" ]; then fail "$d was written after an error"; else pass; fi
done

# Packed weights: `pack` then forward from the .kw gives exactly the safetensors results.
check "pack" "$B" pack $G/lm_attn_a/weights.safetensors "$TMP/a.kw"
check "forward from .kw" "$B" forward --weights "$TMP/a.kw" --codes $G/lm_attn_a/codes.npy --out "$TMP/kw"
check "forward from safetensors" "$B" forward --weights $G/lm_attn_a/weights.safetensors --codes $G/lm_attn_a/codes.npy \
  --out "$TMP/st"
check "forward from a copied .kw" "$B" forward --weights "$TMP/a.kw" --copy-weights --codes $G/lm_attn_a/codes.npy \
  --out "$TMP/kwc"
for f in text_logits.npy audio_logits.npy; do
  if cmp -s "$TMP/kw/$f" "$TMP/st/$f"; then pass; else fail ".kw and .safetensors give different $f"; fi
  if cmp -s "$TMP/kwc/$f" "$TMP/st/$f"; then pass; else fail "a copied .kw and .safetensors give different $f"; fi
done
# --copy-weights takes the .kw's size in memory of its own: the memory guard weighs it (mapping needs none)
KILN_MEM_AVAILABLE=1000 "$B" forward --weights "$TMP/a.kw" --copy-weights --codes $G/lm_attn_a/codes.npy \
  --out "$TMP/kwm" 2>"$TMP/err" && fail "a copy that does not fit was made" ||
  { grep -q "lm_attn_a forward: error: not enough memory: the weights need .* and 1000 B is available (KILN_MEM_AVAILABLE)" \
      "$TMP/err" && [ ! -e "$TMP/kwm" ] && pass || fail "copy refused: $(cat "$TMP/err")"; }
check "the same .kw mapped in 1000 bytes" env KILN_MEM_AVAILABLE=1000 "$B" forward --weights "$TMP/a.kw" \
  --codes $G/lm_attn_a/codes.npy --out "$TMP/kwm"
check "lm_attn_c compiles" "$KILNC" graphs/lm_attn_c.kiln -o "$TMP/c"
expect_error "a .kw of another model" 1 \
  "lm_attn_c forward: error: $TMP/a.kw: packed for lm_attn_a (target $("$KILNC" --print-target native), weights f32), and this binary is lm_attn_c (target $("$KILNC" --print-target native), weights f32): another weight layout; pack it again with this binary" \
  "$TMP/c/lm_attn_c" forward --weights "$TMP/a.kw" --codes $G/lm_attn_c/codes.npy --out "$TMP/out7"
head -c 5000 "$TMP/a.kw" >"$TMP/truncated.kw"
expect_error "a truncated .kw" 1 "lm_attn_a forward: error: $TMP/truncated.kw: truncated packed weight file" \
  "$B" forward --weights "$TMP/truncated.kw" --codes $G/lm_attn_a/codes.npy --out "$TMP/out8"

expect_error "missing arguments" 1 "lm_attn_a forward: error: --weights W (or --random-weights SEED), --codes and --out are required
(lm_attn_a forward --help shows the usage)" "$B" forward --weights x
expect_error "too many steps" 1 \
  "lm_attn_a generate: error: $G/lm_attn_a_stream/user_codes.npy holds 30 frames; --steps 300 asks for more" \
  "$B" generate --weights $G/lm_attn_a/weights.safetensors --user $G/lm_attn_a_stream/user_codes.npy --steps 300 \
  --out "$TMP/gen.npy"
if [ -e "$TMP/gen.npy" ]; then fail "gen.npy written after an error"; else pass; fi
expect_error "kilnc: unknown target" 1 "kilnc: error: unknown target 'sse9' (native, scalar, avx2, avx512, avx512vnni, neon)
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --target sse9

# ---- every option's value range-checked ----
# usage_is CMD EXPECTED_MESSAGE ARGS...: exit 1 with "B CMD: error: MESSAGE" and the --help hint.
usage_is() {
  local cmd=$1 message=$2; shift 2
  expect_error "$cmd $*" 1 "lm_attn_a $cmd: error: $message
(lm_attn_a $cmd --help shows the usage)" "$B" "$cmd" "$@"
}
nproc_max=$("$B" --help | sed -n 's/.*--threads: 1 to \([0-9]*\) here.*/\1/p')
GEN="--random-weights 1 --out $TMP/gen2.npy"
usage_is generate "--steps wants an integer from 1 to 1000000, not '4294967299'" $GEN --steps 4294967299
usage_is generate "--steps wants an integer from 1 to 1000000, not '99999999999'" $GEN --steps 99999999999
usage_is generate "--steps wants an integer from 1 to 1000000, not '3x'" $GEN --steps 3x
for t in 0 -1 1000; do
  usage_is generate "--threads wants an integer from 1 to $nproc_max, not '$t'" $GEN --steps 2 --threads $t
  usage_is bench "--threads wants an integer from 1 to $nproc_max, not '$t'" --random-weights 1 --threads $t
done
usage_is generate "--temp wants a finite number >= 0, not 'nan'" $GEN --steps 2 --temp nan
usage_is generate "--temp-text wants a finite number >= 0, not 'inf'" $GEN --steps 2 --temp-text inf
usage_is generate "--temp wants a finite number >= 0, not '-0.5'" $GEN --steps 2 --temp=-0.5
usage_is generate "--seed wants an integer from 0 to 18446744073709551615, not '-1'" $GEN --steps 2 --seed -1
usage_is generate "--top-k wants an integer from 0 to 2147483647, not '4294967296'" $GEN --steps 2 --top-k 4294967296
usage_is generate "--random-weights wants an integer from 0 to 18446744073709551615, not '99999999999999999999'" \
  --random-weights 99999999999999999999 --steps 2 --out "$TMP/gen2.npy"
usage_is generate "--out needs a value" --random-weights 1 --steps 2 --out
usage_is generate "--out needs a value" --random-weights 1 --steps 2 --out=
usage_is bench "--steps wants an integer from 1 to 1000000, not '0'" --random-weights 1 --steps 0
usage_is bench "--warmup wants an integer from 0 to 1000000, not '4294967296'" --random-weights 1 --warmup 4294967296
usage_is bench "--context wants frame counts from 0 to 1099511627776, comma-separated (at most 32): '1,99999999999999999999'" \
  --random-weights 1 --context 1,99999999999999999999
if [ -e "$TMP/gen2.npy" ]; then fail "gen2.npy written after a usage error"; else pass; fi
usage_is bench "--forward wants an integer from 1 to 1000000, not '0'" --random-weights 1 --forward 0
usage_is bench "--floor judges streaming frames; a --forward run has none" --random-weights 1 --forward 4 --floor

# ---- the memory guard: weights that do not fit are refused before anything is allocated ----
out=$(KILN_MEM_AVAILABLE=1258291 "$B" bench --random-weights 1 --steps 1 2>&1)
rc=$?
if [ $rc = 1 ] && echo "$out" | grep -Eq '^lm_attn_a bench: error: not enough memory: the weights need [0-9.]+ MiB in f32 and a stream [0-9.]+ KiB \([0-9.]+ MiB in all\), and 1.20 MiB is available \(KILN_MEM_AVAILABLE\); built with kilnc --weights bf16 \([0-9.]+ KiB\) or f16 \([0-9.]+ KiB\) or q8 \([0-9.]+ KiB\) or q4 \([0-9.]+ KiB\) they would fit$'
then pass; else fail "memory guard (bench): exit $rc: $out"; fi
out=$(KILN_MEM_AVAILABLE=100000 "$B" forward --weights $G/lm_attn_a/weights.safetensors --codes $G/lm_attn_a/codes.npy \
  --out "$TMP/guard" 2>&1)
rc=$?
if [ $rc = 1 ] && echo "$out" | grep -q 'is available (KILN_MEM_AVAILABLE); no weight format kiln builds would fit$' &&
   [ ! -e "$TMP/guard" ]; then pass; else fail "memory guard (forward): exit $rc: $out"; fi
check "bf16 build for the guard" "$KILNC" graphs/lm_attn_a.kiln --weights bf16 -o "$TMP/guard-bf16"
check "the bf16 build fits where f32 did not" env KILN_MEM_AVAILABLE=1258291 "$TMP/guard-bf16/lm_attn_a" bench \
  --random-weights 1 --steps 1

# ---- bench --forward times a teacher-forced forward; forward runs on random weights too ----
if out=$("$B" bench --random-weights 1 --forward 40 --steps 2 --warmup 0 --json 2>&1) &&
   echo "$out" | grep -Eq '"forward_frames": 40, "runs": 2, "ms_per_frame_median": [0-9]*[.][0-9]*[1-9]'; then pass
else fail "bench --forward: $out"; fi
# ---- bench --floor: the read bandwidth around every frame; the components' bytes add up to the frame's,
# and the floor is those bytes over the bandwidth's median ----
if out=$("$B" bench --random-weights 1 --steps 3 --warmup 0 --floor --json 2>&1) &&
   echo "$out" | sed 's/.*"weight_bytes_per_frame": \([0-9]*\).*"component_bytes": {\([^}]*\)}.*"read_gb_s_median": \([0-9.]*\), "read_gb_s_min": \([0-9.]*\), "read_gb_s_max": \([0-9.]*\), "floor_ms": \([0-9.]*\), "floor_ratio": \([0-9.]*\).*/\1 \3 \4 \5 \6 \7 \2/' |
   sed 's/"[a-z_]*": //g; s/,//g' | awk '{ parts = 0; for (i = 7; i <= NF; i++) parts += $i
     ok = NF == 11 && parts == $1 && $3 > 0 && $3 <= $2 && $2 <= $4 && $6 > 0
     ok = ok && ($5 - $1 / ($2 * 1e9) * 1e3) ^ 2 < (1e-3 * $5) ^ 2; exit !ok }'; then pass
else fail "bench --floor: $out"; fi
for run in 1 2; do
  check "forward --random-weights ($run)" "$B" forward --random-weights 7 --codes $G/lm_attn_a/codes.npy --out "$TMP/random$run"
done
compare "forward --random-weights is deterministic" "$TMP/random1/text_logits.npy" "$TMP/random2/text_logits.npy" 0

# ---- a failed run leaves no output ----
: >"$TMP/a_file"
expect_error "generate: --logits-out cannot be made" 1 \
  "lm_attn_a generate: error: cannot create $TMP/a_file/logits: Not a directory" \
  "$B" generate --random-weights 1 --steps 3 --out "$TMP/gen3.npy" --logits-out "$TMP/a_file/logits"
if [ -e "$TMP/gen3.npy" ] || ls "$TMP" | grep -q 'gen3.npy'; then fail "gen3.npy written although generate failed"; else pass; fi
mkdir -p "$TMP/ro_out/text_logits.npy"
expect_error "forward: an output cannot be written" 1 \
  "lm_attn_a forward: error: cannot write $TMP/ro_out/text_logits.npy: Is a directory" \
  "$B" forward --weights $G/lm_attn_a/weights.safetensors --codes $G/lm_attn_a/codes.npy --out "$TMP/ro_out"
if [ -e "$TMP/ro_out/audio_logits.npy" ] || ls "$TMP/ro_out" | grep -q part; then
  fail "forward left audio_logits.npy or a part file after failing"; else pass; fi
cp $G/lm_attn_a/weights.safetensors "$TMP/same.safetensors"
ln -f "$TMP/same.safetensors" "$TMP/link.safetensors"
expect_error "pack onto its input" 1 \
  "lm_attn_a pack: error: $TMP/same.safetensors and $TMP/same.safetensors are the same file: packing would overwrite its own input
(lm_attn_a pack --help shows the usage)" "$B" pack "$TMP/same.safetensors" "$TMP/same.safetensors"
expect_error "pack onto a hard link of its input" 1 \
  "lm_attn_a pack: error: $TMP/same.safetensors and $TMP/link.safetensors are the same file: packing would overwrite its own input
(lm_attn_a pack --help shows the usage)" "$B" pack "$TMP/same.safetensors" "$TMP/link.safetensors"
if cmp -s "$TMP/same.safetensors" $G/lm_attn_a/weights.safetensors; then pass; else fail "pack overwrote its input"; fi

# ---- messages ----
edit_header "$TMP/meta.safetensors" 's/"format":"pt"/"format":1234/'
expect_error "a __metadata__ value that is not a string" 1 \
  "lm_attn_a forward: error: $TMP/meta.safetensors: __metadata__ 'format' is not a string (byte 9324): safetensors metadata maps strings to strings" \
  "$B" forward --weights "$TMP/meta.safetensors" --codes $G/lm_attn_a/codes.npy --out "$TMP/out9"
edit_header "$TMP/ctrl.safetensors" 's/"out_norm.alpha":{"dtype":"F32"/"\\u0007\\u001brm.alpha":{"dtype":"X32"/'
expect_error "a tensor name with control characters, escaped" 1 \
  "lm_attn_a forward: error: $TMP/ctrl.safetensors: tensor '\\x07\\x1brm.alpha': unknown dtype 'X32'" \
  "$B" forward --weights "$TMP/ctrl.safetensors" --codes $G/lm_attn_a/codes.npy --out "$TMP/out10"
{ printf '\223NUMPY\001\000\166\000'
  printf "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 17, 0), }%54s\n" ''; } >"$TMP/no_frames.npy"
expect_error "codes without frames" 1 \
  "lm_attn_a forward: error: $TMP/no_frames.npy: codes must hold one batch entry (B) and one frame (T) at least; it has shape [1, 17, 0]" \
  "$B" forward --weights $G/lm_attn_a/weights.safetensors --codes "$TMP/no_frames.npy" --out "$TMP/out11"

# NaN and Inf in a weight: a warning naming the tensor, an error under --strict.
cp $G/lm_attn_a/weights.safetensors "$TMP/nan.safetensors"
at=$((8 + $(od -An -tu8 -N8 "$TMP/nan.safetensors") + 1271808)) # out_norm.alpha's data_offsets begin
printf '\000\000\300\177\000\000\200\177' | dd of="$TMP/nan.safetensors" bs=1 seek=$at conv=notrunc 2>/dev/null
"$B" forward --weights "$TMP/nan.safetensors" --codes $G/lm_attn_a/codes.npy --out "$TMP/nan_out" 2>"$TMP/nan.err"
if [ "$(cat "$TMP/nan.err")" = "$TMP/nan.safetensors: warning: tensor 'out_norm.alpha' holds 2 NaN or Inf values (of 64)" ]; then
  pass; else fail "NaN weights: $(cat "$TMP/nan.err")"; fi
for cmd in "forward --codes $G/lm_attn_a/codes.npy --out $TMP/out12" "generate --steps 2 --out $TMP/out12.npy" \
           "bench --steps 1" "pack"; do
  set -- $cmd
  sub=$1; shift
  if [ "$sub" = pack ]; then set -- "$TMP/nan.safetensors" "$TMP/out12.kw" --strict; else set -- --weights "$TMP/nan.safetensors" "$@" --strict; fi
  expect_error "$sub --strict" 1 \
    "lm_attn_a $sub: error: $TMP/nan.safetensors: tensor 'out_norm.alpha' holds 2 NaN or Inf values (of 64); strict loading refuses them" \
    "$B" "$sub" "$@"
done
for f in out9 out10 out11 out12 out12.npy out12.kw; do
  if [ -e "$TMP/$f" ]; then fail "$f was written after an error"; else pass; fi
done
check "pack warns and packs" "$B" pack "$TMP/nan.safetensors" "$TMP/nan.kw"
expect_error "a .kw holding NaN, --strict" 1 \
  "lm_attn_a forward: error: $TMP/nan.kw: tensor 'out_norm.alpha' holds 2 NaN or Inf values (of 64); strict loading refuses them" \
  "$B" forward --weights "$TMP/nan.kw" --codes $G/lm_attn_a/codes.npy --out "$TMP/out13" --strict

# info names the mixer of every temporal layer.
check "lm_hybrid compiles" "$KILNC" graphs/lm_hybrid.kiln -o "$TMP/h"
if "$TMP/h/lm_hybrid" info | grep -qx 'layers         0 attention, 1 TTT-Linear (mini-batch 16)'; then pass; else
  fail "info on a hybrid: $("$TMP/h/lm_hybrid" info)"; fi
# the stream's parts as the descriptor lists them: layer 0's rings, 2 x 4 heads x 47 slots x 16 floats
# (24064 bytes), and the depformer's, 2 layers x 2 x 2 heads x 8 slots x 16 (4096): 27.50 KiB; layer
# 1's TTT-Linear state, `ready` and W, c, GW, gc (4 heads x (16 x 16 + 16) x 2) and the conv history
# (4 x 16): 4 + 8704 + 256 bytes = 8.75 KiB
"$TMP/h/lm_hybrid" info >"$TMP/info_h"
if grep -qx 'stream state   132.88 KiB per stream (27.50 KiB of it KV cache in f32, 8.75 KiB TTT state)' "$TMP/info_h" &&
   grep -qx 'step functions temporal (up to 32 rows a call), depformer (up to 1 row a call)' "$TMP/info_h"; then pass; else
  fail "info's stream state on a hybrid: $(cat "$TMP/info_h")"; fi
expect_error "import -o= empty" 1 "kilnc: error: -o needs a value" "$KILNC" import moshi tests/import/moshiko_defaults.json -o=
expect_error "import -o last" 1 "kilnc: error: -o needs a value" "$KILNC" import moshi tests/import/moshiko_defaults.json -o
usage_is pack "unknown argument '--bogus'" --bogus $G/lm_attn_a/weights.safetensors "$TMP/bogus.kw"
check "pack --strict before the files" "$B" pack --strict $G/lm_attn_a/weights.safetensors "$TMP/strict_first.kw"
finish
