#!/bin/sh
# test_moshiko.sh (make test-moshiko; not part of make test: it writes a 15.4 GB file): Moshi 7B from
# a checkpoint shaped as moshiko's model.safetensors (every name and shape, BF16, random values;
# tests/tools/checkpoint.c), on this machine:
#   1. `pack` to q4: the peak anonymous memory (RssAnon, sampled every 50 ms) stays under the .kw's
#      size + 2 GiB;
#   2. `bench --weights moshiko-q4.kw` maps it and streams: the time to its first frame;
#   3. the f32 build of the same model is refused, naming memory, before it allocates anything.
# Files in $KILN_BUILD/moshiko (the checkpoint is kept between runs: delete it to write it again).
. tests/lib.sh
DIR=$KILN_BUILD/moshiko
mkdir -p "$DIR"
GiB=1073741824

# peak_anon CMD...: runs CMD, prints its peak RssAnon in bytes on fd 3; CMD's status is returned
peak_anon() {
  "$@" &
  local pid=$! peak=0 kb
  while kill -0 $pid 2>/dev/null; do
    kb=$(sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$pid/status 2>/dev/null)
    [ -n "$kb" ] && [ "$kb" -gt "$peak" ] && peak=$kb
    sleep 0.05
  done
  wait $pid
  local rc=$?
  echo $((peak * 1024)) >&3
  return $rc
}

check "q4 build" "$KILNC" graphs/moshi-7b.kiln --weights q4 -o "$DIR/q4"
check "q4 library" "$KILNC" graphs/moshi-7b.kiln --weights q4 --emit lib -o "$DIR/lib"
check "checkpoint writer" ${CC:-cc} -O2 -Iruntime -I"$DIR/lib" -DDESC=moshi_7b_desc tests/tools/checkpoint.c \
  "$DIR/lib/libmoshi_7b.a" -fopenmp -lm -o "$DIR/checkpoint"
if [ ! -s "$DIR/model.safetensors" ]; then
  echo "writing $DIR/model.safetensors ..."
  check "checkpoint" "$DIR/checkpoint" "$DIR/model.safetensors"
fi
echo "  checkpoint: $(stat -c %s "$DIR/model.safetensors") bytes"

start=$(date +%s.%N)
if peak_anon "$DIR/q4/moshi_7b" pack "$DIR/model.safetensors" "$DIR/moshiko-q4.kw" 3>"$TMP/peak" >"$TMP/pack.out" 2>&1
then pass; else fail "pack: $(cat "$TMP/pack.out")"; fi
end=$(date +%s.%N)
peak=$(cat "$TMP/peak")
kw=$(stat -c %s "$DIR/moshiko-q4.kw")
echo "  pack to q4: $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s, .kw $kw bytes, peak RssAnon $peak bytes"
if [ "$peak" -le $((kw + 2 * GiB)) ]; then pass; else fail "pack held $peak bytes of anonymous memory (> $kw + 2 GiB)"; fi

# a warm start: the .kw's pages in the page cache from the run before
"$DIR/q4/moshi_7b" bench --weights "$DIR/moshiko-q4.kw" --steps 1 --warmup 0 >/dev/null 2>&1
start=$(date +%s.%N)
if peak_anon "$DIR/q4/moshi_7b" bench --weights "$DIR/moshiko-q4.kw" --steps 1 --warmup 0 --json 3>"$TMP/peak" \
     >"$TMP/bench.out" 2>&1; then pass; else fail "bench: $(cat "$TMP/bench.out")"; fi
end=$(date +%s.%N)
frame=$(sed -n 's/.*"ms_median": \([0-9.]*\).*/\1/p' "$TMP/bench.out")
echo "  bench from the .kw: $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }') s to run one frame" \
     "($frame ms of it the frame), peak RssAnon $(cat "$TMP/peak") bytes"
startup=$(awk -v a="$start" -v b="$end" -v f="${frame:-0}" 'BEGIN { print (b - a - f / 1000 < 1.0) ? 1 : 0 }')
if [ "$startup" = 1 ]; then pass; else fail "bench took more than a second besides its frame"; fi

check "f32 build" "$KILNC" graphs/moshi-7b.kiln --weights f32 -o "$DIR/f32"
"$DIR/f32/moshi_7b" bench --weights "$DIR/model.safetensors" --steps 1 >"$TMP/f32.out" 2>&1
rc=$?
if [ $rc = 1 ] && grep -q "error: not enough memory: the weights need .* in f32" "$TMP/f32.out"; then
  pass; echo "  f32: $(cat "$TMP/f32.out")"
else
  fail "the f32 build was not refused for memory (exit $rc): $(cat "$TMP/f32.out")"
fi
finish
