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

expect_error "weights of another model" 1 \
  "lm_attn_a forward: error: $G/lm_attn_c/weights.safetensors: tensor 'text_emb.weight' has shape [91, 80]; the model expects [101, 64]" \
  "$B" forward --weights $G/lm_attn_c/weights.safetensors --codes $G/lm_attn_a/codes.npy --out "$TMP/out1"
head -c 5000 $G/lm_attn_a/weights.safetensors >"$TMP/truncated.safetensors"
expect_error "truncated weights" 1 \
  "lm_attn_a forward: error: $TMP/truncated.safetensors: header length 9344 past the end of the file (5000 bytes)" \
  "$B" forward --weights "$TMP/truncated.safetensors" --codes $G/lm_attn_a/codes.npy --out "$TMP/out2"
expect_error "codes of another model" 1 \
  "lm_attn_a forward: error: $G/lm_attn_c/codes.npy: codes must have shape [B, K, T] with K = 1 + n_q (K = 17 for this model)" \
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
for f in text_logits.npy audio_logits.npy; do
  if cmp -s "$TMP/kw/$f" "$TMP/st/$f"; then pass; else fail ".kw and .safetensors give different $f"; fi
done
check "lm_attn_c compiles" "$KILNC" graphs/lm_attn_c.kiln -o "$TMP/c"
expect_error "a .kw of another model" 1 \
  "lm_attn_c forward: error: $TMP/a.kw: packed for lm_attn_a (target $("$KILNC" --print-target native)) with another weight layout; pack it again with this binary" \
  "$TMP/c/lm_attn_c" forward --weights "$TMP/a.kw" --codes $G/lm_attn_c/codes.npy --out "$TMP/out7"
head -c 5000 "$TMP/a.kw" >"$TMP/truncated.kw"
expect_error "a truncated .kw" 1 "lm_attn_a forward: error: $TMP/truncated.kw: truncated packed weight file" \
  "$B" forward --weights "$TMP/truncated.kw" --codes $G/lm_attn_a/codes.npy --out "$TMP/out8"

expect_error "missing arguments" 1 "lm_attn_a forward: error: --weights, --codes and --out are required
(lm_attn_a forward --help shows the usage)" "$B" forward --weights x
expect_error "too many steps" 1 \
  "lm_attn_a generate: error: $G/lm_attn_a_stream/user_codes.npy holds 30 frames; --steps 300 asks for more" \
  "$B" generate --weights $G/lm_attn_a/weights.safetensors --user $G/lm_attn_a_stream/user_codes.npy --steps 300 \
  --out "$TMP/gen.npy"
if [ -e "$TMP/gen.npy" ]; then fail "gen.npy written after an error"; else pass; fi
expect_error "kilnc: unknown target" 1 "kilnc: error: unknown target 'sse9' (native, scalar, avx2, avx512, neon)
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --target sse9
expect_error "kilnc: unsupported weight format" 1 "kilnc: error: --weights q4 is not supported yet: kiln stores weights in f32 for now
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --weights q4
finish
