#!/bin/sh
# bench_converse.sh (make bench-converse; part of make bench): whole conversations, in one run, right
# after the machine's read bandwidth is measured: `converse` over 60 s of audio (the mimi golden's
# waveform repeated) through the released Mimi (graphs/mimi.kiln) and, with random weights, the
# mid-size LM (graphs/moshi-mid.kiln) at bf16 and q4 and Moshi 7B (graphs/moshi-7b.kiln) at q4:
# per-frame p50 / p99, each part's share, the real-time factor, and the floor the weight bytes a frame
# reads set at the measured bandwidth. Then a 10-minute conversation through a pipe (PIPE_SECONDS,
# default 600; 0 skips it) with the mid-size LM at q4: resident memory early and at the end, late
# frames. Results: build/bench/converse-*.txt (the pipe's frames' ms: converse-pipe-trace.txt).
set -e
BUILD=${KILN_BUILD:-build}
OUT=$BUILD/bench
SECONDS_OF_AUDIO=${SECONDS_OF_AUDIO:-60}
PIPE_SECONDS=${PIPE_SECONDS:-600}
mkdir -p "$OUT"
cc -O2 -march=native -ffp-contract=fast -fopenmp -Iruntime -o "$OUT/machine" tests/bench/machine.c "$BUILD/libkiln_rt.a" -lm

# The input: the golden's 1 s waveform doubled up to the length asked for
"$BUILD/npyedit" cat tests/goldens/mimi/waveform.npy tests/goldens/mimi/waveform.npy "$OUT/audio.npy"
while [ "$(($(stat -c %s "$OUT/audio.npy") / 96000))" -lt "$SECONDS_OF_AUDIO" ]; do
  "$BUILD/npyedit" cat "$OUT/audio.npy" "$OUT/audio.npy" "$OUT/audio2.npy" && mv "$OUT/audio2.npy" "$OUT/audio.npy"
done
"$BUILD/npyedit" slice "$OUT/audio.npy" 0 $((SECONDS_OF_AUDIO * 24000)) "$OUT/audio_in.npy"

# converse_run LABEL LM.kiln WEIGHTS: one conversation, its summary and its floor
converse_run() {
  local label=$1 dir=$OUT/converse-$1 bw
  "$BUILD/kilnc" "$2" --codec graphs/mimi.kiln --weights "$3" -o "$dir" >/dev/null
  bin=$(ls "$dir" | grep -v '\.' | head -n 1)
  bw=$("$OUT/machine" | sed 's/.*"read_gb_s_n": \([0-9.]*\).*/\1/')
  "$dir/$bin" converse --random-weights 1 --in "$OUT/audio_in.npy" --out "$dir/model.wav" --quiet >/dev/null \
    2>"$OUT/converse-$label.txt"
  echo "== $label: $2 at $3 with graphs/mimi.kiln, ${SECONDS_OF_AUDIO} s of audio (read bandwidth $bw GB/s just before)"
  cat "$OUT/converse-$label.txt"
  sed -n 's/^weights read per frame: language model \([0-9.]*\) MB, codec \([0-9.]*\) MB; .* \([0-9.]*\) MB at the last frame/\1 \2 \3/p' \
    "$OUT/converse-$label.txt" | awk -v bw="$bw" '{
      printf "bandwidth floor: %.1f ms a frame at the first frame (LM %.1f ms + codec %.1f ms of weight reads), %.1f ms at the last (its KV cache %.1f ms more)\n",
             ($1 + $2) / bw, $1 / bw, $2 / bw, ($1 + $2 + $3) / bw, $3 / bw }'
  echo
}
echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores"
converse_run mid-bf16 graphs/moshi-mid.kiln bf16
converse_run mid-q4 graphs/moshi-mid.kiln q4
converse_run 7b-q4 graphs/moshi-7b.kiln q4

if [ "$PIPE_SECONDS" -gt 0 ]; then
  # A conversation through pipes for PIPE_SECONDS: raw f32le in at real-time pace, one 80 ms frame at a
  # time from one process (tests/bench/pace.c), as arecord would write it, and out to a reader
  dir=$OUT/converse-mid-q4
  cc -O2 -o "$OUT/pace" tests/bench/pace.c
  "$BUILD/npyedit" raw "$OUT/audio_in.npy" "$OUT/audio.f32"
  echo "== a ${PIPE_SECONDS} s conversation through pipes (mid-size LM at q4, real-time pace)"
  "$OUT/pace" "$OUT/audio.f32" 7680 80 $((PIPE_SECONDS * 25 / 2)) |
    "$dir/moshi_mid" converse --random-weights 1 --in - --out - --format f32le --quiet --trace "$OUT/converse-pipe-trace.txt" \
      2>"$OUT/converse-pipe.txt" >/dev/null
  cat "$OUT/converse-pipe.txt"
fi
