#!/bin/sh
# bench_backends.sh (part of make bench): the LLVM back end against the C back end on the mid-size
# model and its TTT hybrid: one streaming frame (`bench --json`, all threads), and the teacher-forced
# forward of FRAMES frames (`bench --forward`, per frame), each in alternating blocks, c then llvm, over ROUNDS rounds
# (3 by default: a slow spell of the shared machine falls on both); the medians of the rounds, and
# their ratio. Also the time kilnc takes to compile Moshi 7B's description to an object with each
# back end. Results: build/bench/backends.json.
set -e
BUILD=${KILN_BUILD:-build}
OUT=$BUILD/bench
ROUNDS=${ROUNDS:-3}
mkdir -p "$OUT"
TARGET=$("$BUILD/kilnc" --print-target native)
FRAMES=${FRAMES:-64}
median() { grep "^$1 " "$OUT/backends_rounds.txt" | awk '{print $2}' | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# rounds NAME FIELD BENCH_ARGS...: ROUNDS rounds of c then llvm, each `NAME bench ... --json`'s FIELD;
# sets c_ms, llvm_ms (the medians) and ratio (llvm / c)
rounds() {
  local name=$1 field=$2 round backend ms
  shift 2
  : >"$OUT/backends_rounds.txt"
  for round in $(seq "$ROUNDS"); do
    for backend in c llvm; do
      ms=$("$OUT/${name}_$backend/$name" bench --random-weights 1 --json "$@" | sed "s/.*\"$field\": \([0-9.]*\).*/\1/")
      echo "$backend $ms" >>"$OUT/backends_rounds.txt"
      echo "  round $round $backend: $ms ms"
    done
  done
  c_ms=$(median c)
  llvm_ms=$(median llvm)
  ratio=$(awk -v a="$llvm_ms" -v b="$c_ms" 'BEGIN { printf "%.3f", a / b }')
  echo "  medians: c $c_ms ms, llvm $llvm_ms ms: llvm/c = $ratio"
}
results=""
for model in graphs/moshi-mid.kiln graphs/moshi-mid-hybrid.kiln; do
  name=$(sed -n 's/^model \([A-Za-z0-9_]*\).*/\1/p' "$model")
  for backend in c llvm; do
    "$BUILD/kilnc" "$model" --backend $backend -o "$OUT/${name}_$backend" >/dev/null
  done
  echo "== back ends ($TARGET, all threads): $name streaming frame, $ROUNDS rounds of c then llvm"
  rounds "$name" ms_median --steps "${STEPS:-20}"
  stream="\"ms_median_c\": $c_ms, \"ms_median_llvm\": $llvm_ms, \"ratio\": $ratio"
  echo "== back ends: $name teacher-forced forward of $FRAMES frames, ms per frame, $ROUNDS rounds"
  rounds "$name" ms_per_frame_median --forward "$FRAMES" --steps 3 --warmup 1
  results="$results\"$name\": {$stream, \"forward_ms_per_frame_c\": $c_ms, \"forward_ms_per_frame_llvm\": $llvm_ms, \"forward_ratio\": $ratio}, "
done

echo "== compile time of graphs/moshi-7b.kiln to an object ($TARGET)"
times=""
for backend in c llvm; do
  start=$(date +%s.%N)
  "$BUILD/kilnc" graphs/moshi-7b.kiln --backend $backend --emit obj -o "$OUT/obj_$backend" >/dev/null
  seconds=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
  echo "  $backend: $seconds s"
  times="$times\"compile_s_$backend\": $seconds, "
done
printf '{"target": "%s", "rounds": %d, %s%s}\n' "$TARGET" "$ROUNDS" "$results" "${times%, }" | tee "$OUT/backends.json"
