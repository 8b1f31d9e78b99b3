#!/bin/sh
# bench_backends.sh (part of make bench): the LLVM back end against the C back end on the mid-size
# model, one streaming frame (`bench --json`, all threads) in alternating blocks, c then llvm, over
# ROUNDS rounds (3 by default: a slow spell of the shared machine falls on both); the medians of the
# rounds' medians, and their ratio. Also the time kilnc takes to compile Moshi 7B's description to
# an object with each back end. Results: build/bench/backends.json.
set -e
BUILD=${KILN_BUILD:-build}
OUT=$BUILD/bench
ROUNDS=${ROUNDS:-3}
mkdir -p "$OUT"
TARGET=$("$BUILD/kilnc" --print-target native)
echo "== back ends ($TARGET, all threads): moshi_mid streaming frame, $ROUNDS rounds of c then llvm"
for backend in c llvm; do
  "$BUILD/kilnc" graphs/moshi-mid.kiln --backend $backend -o "$OUT/mid_$backend" >/dev/null
done
: >"$OUT/backends_rounds.txt"
for round in $(seq "$ROUNDS"); do
  for backend in c llvm; do
    ms=$("$OUT/mid_$backend/moshi_mid" bench --random-weights 1 --steps ${STEPS:-20} --json |
         sed 's/.*"ms_median": \([0-9.]*\).*/\1/')
    echo "$backend $ms" >>"$OUT/backends_rounds.txt"
    echo "  round $round $backend: $ms ms"
  done
done
median() { grep "^$1 " "$OUT/backends_rounds.txt" | awk '{print $2}' | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
c_ms=$(median c)
llvm_ms=$(median llvm)
echo "  medians: c $c_ms ms, llvm $llvm_ms ms: llvm/c = $(awk -v a="$llvm_ms" -v b="$c_ms" 'BEGIN { printf "%.3f", a / b }')"

echo "== compile time of graphs/moshi-7b.kiln to an object ($TARGET)"
times=""
for backend in c llvm; do
  start=$(date +%s.%N)
  "$BUILD/kilnc" graphs/moshi-7b.kiln --backend $backend --emit obj -o "$OUT/obj_$backend" >/dev/null
  seconds=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
  echo "  $backend: $seconds s"
  times="$times\"compile_s_$backend\": $seconds, "
done
printf '{"target": "%s", "rounds": %d, "ms_median_c": %s, "ms_median_llvm": %s, %s"ratio": %s}\n' "$TARGET" "$ROUNDS" \
  "$c_ms" "$llvm_ms" "$times" "$(awk -v a="$llvm_ms" -v b="$c_ms" 'BEGIN { printf "%.3f", a / b }')" | tee "$OUT/backends.json"
