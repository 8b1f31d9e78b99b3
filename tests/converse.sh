#!/bin/sh
# converse.sh: a system binary (kilnc LM.kiln --codec MIMI.kiln; docs/converse.md) as a user drives
# it. The conversation loop on the goldens: with lm_attn_a and the mimi golden's codec (card 64 = its
# 64 bins), the user's codes LMGen reads are the golden's streaming codes exactly (the codec reset
# after the first frame, as Moshi's server does), the LM part equals `generate` on those codes, and
# the model's audio equals a streaming `decode` of its codes. Text through a SentencePiece model made
# by spm_train; pipes; bad input. Then `serve` with the test client (tests/serve/chat_client.c): two
# conversations at once with a third refused, a malformed frame, undecodable Opus, a text message,
# an unknown kind, a bad handshake and a client that stops reading, each closing only its own conversation.
. tests/lib.sh
G=tests/goldens
NPYEDIT=$KILN_BUILD/npyedit
CLIENT=$KILN_BUILD/chat_client
LMW=$G/lm_attn_a/weights.safetensors
MW=$G/mimi/weights.safetensors

check "system compiles" "$KILNC" graphs/lm_attn_a.kiln --codec graphs/tests/mimi_golden.kiln -o "$TMP/s"
B=$TMP/s/lm_attn_a
if "$B" info >"$TMP/info" && grep -q '^system         language model lm_attn_a and codec mimi_golden: one 1920-sample frame' "$TMP/info" &&
   grep -q '^model          mimi_golden' "$TMP/info" && grep -q '^parameters     431488 ' "$TMP/info"; then pass; else
  fail "info: $(cat "$TMP/info")"; fi

# The input: one frame of the golden's waveform, then the whole waveform (13.5 frames: 14, the last padded)
"$NPYEDIT" slice $G/mimi/waveform.npy 0 1920 "$TMP/first.npy" && "$NPYEDIT" cat "$TMP/first.npy" $G/mimi/waveform.npy "$TMP/in.npy"

# golden_loop LABEL BIN: the loop's three parts against the goldens and the binary's own commands
golden_loop() {
  local label=$1 bin=$2 d=$TMP/loop-$1
  mkdir -p "$d"
  if "$bin" converse --lm-weights $LMW --codec-weights $MW --in "$TMP/in.npy" --out "$d/model.npy" --codes-out "$d" \
       --seed 5 --text-out "$d/ids.txt" --quiet 2>"$d/err"; then pass; else fail "$label converse: $(cat "$d/err")"; return; fi
  "$NPYEDIT" slice "$d/user_codes.npy" 1 13 "$d/user_1_13.npy"
  compare "$label user codes (frames 1-12) = mimi codes_stream" "$d/user_1_13.npy" $G/mimi/codes_stream.npy 0
  if "$bin" generate --lm-weights $LMW --user "$d/user_codes.npy" --steps 14 --seed 5 --out "$d/gen.npy" 2>"$d/err"; then
    pass; compare "$label LM part = generate on the codes Mimi produced" "$d/gen.npy" "$d/tokens.npy" 0
  else fail "$label generate: $(cat "$d/err")"; fi
  if "$bin" decode --codec-weights $MW --codes "$d/model_codes.npy" --stream --out "$d/decoded.npy" 2>"$d/err"; then
    pass; "$NPYEDIT" slice "$d/model.npy" 1920 26880 "$d/model_1.npy"
    compare "$label model audio (frames 1-13) = streaming decode of its codes" "$d/model_1.npy" "$d/decoded.npy" 0
  else fail "$label decode: $(cat "$d/err")"; fi
  "$NPYEDIT" slice "$d/model.npy" 0 1920 "$d/model_0.npy" && "$NPYEDIT" zeros 1920 "$d/silence.npy"
  compare "$label frame 0 (before LMGen returns) is silence" "$d/model_0.npy" "$d/silence.npy" 0
}
golden_loop c "$B"
check "system compiles, LM by LLVM" "$KILNC" graphs/lm_attn_a.kiln --codec graphs/tests/mimi_golden.kiln --backend llvm -o "$TMP/l"
golden_loop llvm "$TMP/l/lm_attn_a"
check "system compiles, scalar" "$KILNC" graphs/lm_attn_a.kiln --codec graphs/tests/mimi_golden.kiln --target scalar -o "$TMP/sc"
golden_loop scalar "$TMP/sc/lm_attn_a"

# ---- text ----
D=$TMP/loop-c
# ids: the text tokens of tokens.npy's first column, 0 and 3 dropped
if [ -s "$D/ids.txt" ] && [ "$(wc -w <"$D/ids.txt")" -ge 5 ]; then pass; else fail "ids.txt: $(cat "$D/ids.txt")"; fi
if sh tests/tools/make_tokenizer.sh "$TMP/tok" 100 >"$TMP/tok.log" 2>&1 && sh tests/tools/make_tokenizer.sh "$TMP/tok120" 120 >>"$TMP/tok.log" 2>&1; then
  pass; else fail "spm_train: $(cat "$TMP/tok.log")"; fi
spm_export_vocab --model="$TMP/tok.model" --output="$TMP/tok.vocab" 2>/dev/null
if "$B" converse --lm-weights $LMW --codec-weights $MW --in "$TMP/in.npy" --out "$TMP/t.wav" --seed 5 \
     --tokenizer "$TMP/tok.model" --text-out "$TMP/text.txt" --quiet 2>"$TMP/err"; then pass; else fail "tokenizer: $(cat "$TMP/err")"; fi
# the pieces of the same ids, each ▁ a space, from spm_export_vocab's table (line id + 1)
expected=$(for id in $(cat "$D/ids.txt"); do sed -n "$((id + 1))p" "$TMP/tok.vocab" | cut -f1; done | sed 's/▁/ /g' | tr -d '\n')
if [ "$(cat "$TMP/text.txt")" = "$expected" ]; then pass; else fail "text: '$(cat "$TMP/text.txt")', expected '$expected'"; fi
expect_error "a tokenizer of another size" 1 \
  "lm_attn_a converse: error: $TMP/tok120.model: the tokenizer has 120 pieces and lm_attn_a's text vocabulary (text_card) is 100: it is another model's tokenizer" \
  "$B" converse --random-weights 1 --in "$TMP/in.npy" --out "$TMP/x.wav" --tokenizer "$TMP/tok120.model"

# ---- pipes: raw f32le through stdin and stdout is the file run's audio exactly ----
"$NPYEDIT" raw "$TMP/in.npy" "$TMP/in.raw"
if "$B" converse --lm-weights $LMW --codec-weights $MW --in - --out - --format f32le --seed 5 --quiet <"$TMP/in.raw" \
     >"$TMP/out.raw" 2>"$TMP/pipe.err" --trace "$TMP/trace.txt"; then pass; else fail "pipe: $(cat "$TMP/pipe.err")"; fi
if [ "$(grep -c '^[0-9]*\.[0-9]*$' "$TMP/trace.txt")" = 14 ]; then pass; else fail "--trace: $(cat "$TMP/trace.txt")"; fi
"$NPYEDIT" fromraw "$TMP/out.raw" "$TMP/out.npy"
compare "pipe f32le = file" "$TMP/out.npy" "$D/model.npy" 0
# (the summary counts late frames; how many is the machine's business, not a test's)
if grep -q '^late frames: [0-9]* of 14 ' "$TMP/pipe.err" && grep -q '^14 frames (1.1 s of audio)' "$TMP/pipe.err"; then pass; else
  fail "pipe summary: $(cat "$TMP/pipe.err")"; fi
# s16le: 2 bytes a sample, one frame out per frame in
head -c 9000 "$TMP/in.raw" >"$TMP/short.raw" # (2.3 frames of s16: 3 frames, the last padded)
if "$B" converse --random-weights 3 --in - --out - --quiet <"$TMP/short.raw" >"$TMP/short.out" 2>"$TMP/err" &&
   [ "$(wc -c <"$TMP/short.out")" = 11520 ]; then pass; else fail "s16le pipe: $(wc -c <"$TMP/short.out") bytes; $(cat "$TMP/err")"; fi
# a reader that quits ends the conversation without an error
if "$B" converse --random-weights 3 --in "$TMP/in.npy" --out - --quiet 2>"$TMP/err" | head -c 100 >/dev/null &&
   grep -q 'stdout closed after' "$TMP/err"; then pass; else fail "closed stdout: $(cat "$TMP/err")"; fi

# ---- bad input: exit 1, a message, nothing written ----
expect_error "no weights" 1 "lm_attn_a converse: error: give the language model --lm-weights W and the codec --codec-weights M (or --random-weights SEED for whichever has none)
(lm_attn_a converse --help shows the usage)" "$B" converse --lm-weights $LMW --in "$TMP/in.npy" --out "$TMP/x.wav"
expect_error "bad --format" 1 "lm_attn_a converse: error: --format wants s16le or f32le, not 's24'
(lm_attn_a converse --help shows the usage)" "$B" converse --random-weights 1 --in - --out - --format s24
expect_error "bad --out" 1 "lm_attn_a converse: error: --out names a .wav or .npy file, or - (stdout), not '$TMP/x.txt'
(lm_attn_a converse --help shows the usage)" "$B" converse --random-weights 1 --in "$TMP/in.npy" --out "$TMP/x.txt"
"$B" converse --random-weights 1 --in "$TMP/missing.wav" --out "$TMP/x.wav" 2>"$TMP/err"
if [ $? = 1 ] && grep -q "missing.wav" "$TMP/err" && [ ! -e "$TMP/x.wav" ]; then pass; else fail "missing input: $(cat "$TMP/err")"; fi
expect_error "the LM's weights for the codec" 1 \
  "lm_attn_a converse: error: $LMW: missing tensor 'encoder.model.0.conv.conv.weight' (the model expects [4, 1, 7])" \
  "$B" converse --lm-weights $LMW --codec-weights $LMW --in "$TMP/in.npy" --out "$TMP/x.wav"
if "$B" converse --random-weights 1 --in - --out "$TMP/x.wav" </dev/null 2>"$TMP/err"; then fail "empty stdin accepted"; else
  grep -q "no audio on stdin" "$TMP/err" && [ ! -e "$TMP/x.wav" ] && pass || fail "empty stdin: $(cat "$TMP/err")"; fi

# ---- the system's other commands ----
if "$B" pack --lm $LMW "$TMP/lm.kw" >/dev/null && "$B" pack --codec $MW "$TMP/m.kw" >/dev/null &&
   "$B" converse --lm-weights "$TMP/lm.kw" --codec-weights "$TMP/m.kw" --in "$TMP/in.npy" --out "$TMP/kw.npy" --seed 5 --quiet >/dev/null 2>"$TMP/err"
then pass; compare "packed weights converse" "$TMP/kw.npy" "$D/model.npy" 0; else fail "pack: $(cat "$TMP/err")"; fi
if "$B" converse --lm-weights "$TMP/lm.kw" --codec-weights "$TMP/m.kw" --copy-weights --in "$TMP/in.npy" \
     --out "$TMP/kwc.npy" --seed 5 --quiet >/dev/null 2>"$TMP/err"
then pass; compare "copied packed weights converse" "$TMP/kwc.npy" "$D/model.npy" 0; else fail "--copy-weights: $(cat "$TMP/err")"; fi
expect_error "pack without --lm or --codec" 1 "lm_attn_a pack: error: --lm (the language model's weights) or --codec (the codec's) first
(lm_attn_a pack --help shows the usage)" "$B" pack $LMW "$TMP/x.kw"
if "$B" encode --codec-weights $MW --audio $G/mimi/waveform.npy --stream --out "$TMP/codes.npy" 2>"$TMP/err"; then pass
  compare "encode in a system binary" "$TMP/codes.npy" $G/mimi/codes_stream.npy 0; else fail "encode: $(cat "$TMP/err")"; fi

# ---- kilnc ----
expect_error "kilnc: a codec that does not fit" 1 \
  "kilnc: error: graphs/lm_attn_c.kiln generates 4 codebooks and reads 4 of the user's, and codec mimi_golden gives 8 codes a frame: they must all be equal" \
  "$KILNC" graphs/lm_attn_c.kiln --codec graphs/tests/mimi_golden.kiln -o "$TMP/x"
expect_error "kilnc: the codec first" 1 \
  "kilnc: error: graphs/tests/mimi_golden.kiln describes codec 'mimi_golden', not a language model: name the LM first, then --codec graphs/lm_attn_a.kiln" \
  "$KILNC" graphs/tests/mimi_golden.kiln --codec graphs/lm_attn_a.kiln -o "$TMP/x"
expect_error "kilnc: --emit obj" 1 "kilnc: error: --emit obj writes one model's object: a system (--codec) is built as lib or exe
(kilnc --help lists the options)" "$KILNC" graphs/lm_attn_a.kiln --codec graphs/tests/mimi_golden.kiln --emit obj -o "$TMP/x"
# the library holds the runtime without its command line: nothing of audio, text or network
if "$KILNC" graphs/lm_attn_a.kiln --codec graphs/tests/mimi_golden.kiln --emit lib -o "$TMP/lib" >/dev/null 2>"$TMP/err" &&
   nm "$TMP/lib/liblm_attn_a.a" >"$TMP/nm" 2>/dev/null && grep -q ' T kiln_conversation_step$' "$TMP/nm" &&
   grep -q ' D mimi_golden_desc$' "$TMP/nm" && ! grep -qE ' U (sf_|soxr_|lws_|opus_|ogg_)|sentencepiece' "$TMP/nm"; then pass; else
  fail "system library: $(cat "$TMP/err"; grep -E ' U (sf_|soxr_|lws_|opus_|ogg_)|sentencepiece' "$TMP/nm" | head -3)"; fi

# ---- serve ----
# (one thread: a test shares its machine, where a team's barriers can cost a time slice each)
"$B" serve --random-weights 1 --port 0 --max-conversations 2 --threads 1 --tokenizer "$TMP/tok.model" >"$TMP/serve.out" \
  2>"$TMP/serve.err" &
server=$!
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
  port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/api/chat.*|\1|p' "$TMP/serve.out")
  [ -n "$port" ] && break
  sleep 0.5
done
if [ -n "$port" ]; then pass; else fail "serve did not start: $(cat "$TMP/serve.err")"; port=1; fi
expect_error "a port in use" 1 "lm_attn_a serve: error: cannot listen on localhost port $port: Address already in use" \
  "$B" serve --random-weights 1 --port "$port" --host localhost
# two conversations at once (80 ms a frame, 3 s each), a third refused while they go on
"$CLIENT" --port "$port" --frames 38 --expect-audio-frames 37 --realtime --timeout 60 >"$TMP/c1" 2>&1 &
c1=$!
"$CLIENT" --port "$port" --frames 38 --expect-audio-frames 37 --realtime --timeout 60 >"$TMP/c2" 2>&1 &
c2=$!
sleep 1
if "$CLIENT" --port "$port" --mode expect-refusal --timeout 30 >"$TMP/c3" 2>&1 &&
   grep -q '^refused: status 1013 "2 conversations already (--max-conversations 2): try again later"' "$TMP/c3"; then pass; else
  fail "a third conversation: $(cat "$TMP/c3")"; fi
for c in 1 2; do
  if wait $(eval echo \$c$c) && grep -q '^done: 38 frames sent, 37 audio frames (71040 samples) received' "$TMP/c$c" &&
     [ "$(grep -c '^audio frame' "$TMP/c$c")" = 37 ] && grep -q '^handshake' "$TMP/c$c"; then pass; else
    fail "conversation $c: $(tail -n 5 "$TMP/c$c")"; fi
  # text as the tokenizer's pieces (not ids), as they come
  if [ "$(grep -c '^text "' "$TMP/c$c")" -ge 5 ] && ! grep -q '^text "[0-9]* "$' "$TMP/c$c"; then pass; else
    fail "conversation $c's text: $(grep '^text' "$TMP/c$c" | head -n 5)"; fi
done
# each bad client closes its own conversation only
for mode in malformed-frame bad-opus text-message unknown-kind bad-handshake; do
  if "$CLIENT" --port "$port" --mode $mode --timeout 30 >"$TMP/bad" 2>&1; then pass; else fail "$mode: $(cat "$TMP/bad")"; fi
  echo "  $mode: $(grep '^closed\|^rejected' "$TMP/bad" | tr '\n' ' ')"
done
if "$CLIENT" --port "$port" --mode bad-opus --timeout 30 | grep -q '^closed: status 1007 "packet 2 does not decode as Opus'; then pass; else fail "bad opus's reason"; fi
if "$CLIENT" --port "$port" --mode unknown-kind --timeout 30 | grep -q '^closed: status 1003 "unknown message kind 127"'; then pass; else
  fail "unknown kind's reason"; fi
# a client that stops reading while another converses
"$CLIENT" --port "$port" --mode stop-reading --frames 3000 --timeout 8 >"$TMP/stuck" 2>&1 &
stuck=$!
sleep 1
if "$CLIENT" --port "$port" --frames 25 --expect-audio-frames 24 --timeout 60 >"$TMP/c4" 2>&1 &&
   grep -q '^done: 25 frames sent, 24 audio frames' "$TMP/c4"; then pass; else fail "beside a stuck client: $(tail -n 3 "$TMP/c4")"; fi
wait $stuck
if kill -0 $server 2>/dev/null; then pass; else fail "the server died: $(cat "$TMP/serve.err")"; fi
kill -TERM $server
wait $server
status=$?
if [ $status = 0 ] && grep -q 'serve: stopped after' "$TMP/serve.err" && ! grep -q 'Sanitizer' "$TMP/serve.err"; then pass; else
  fail "serve's exit ($status): $(tail -n 20 "$TMP/serve.err")"; fi
echo "  serve's log: $(grep -c 'opened' "$TMP/serve.err") conversations opened, $(grep -c 'closed (' "$TMP/serve.err") closed by the server"
finish
