#!/bin/sh
# bench_context.sh (make bench-context): per-frame latency and stream-state memory against context
# length, 0 to 45,000 frames (one hour of conversation), for the all-attention, hybrid and all-TTT
# versions of the mid-size model (graphs/moshi-mid*.kiln), as a table and a gnuplot PNG; then real
# 45,000-frame runs of small all-TTT and hybrid models (graphs/tests/long_*.kiln), comparing the last
# 1,000 frames with frames 3,001-4,000 (the hybrid's window is full from frame 3,000 on).
# Writes build/bench/context.tsv, context.png and long.tsv. Timings are medians on this machine.
set -e
BUILD=${KILN_BUILD:-build}
OUT=$BUILD/bench
mkdir -p "$OUT"
CONTEXTS=${CONTEXTS:-0,500,1000,2000,3000,5000,10000,20000,45000}
STEPS=${STEPS:-3}
LONG=${LONG:-45000}

printf 'variant\tcontext\tms_median\tms_p99\tstate_MiB\tlive_state_MiB\n' >"$OUT/context.tsv"
for v in moshi-mid moshi-mid-hybrid moshi-mid-ttt; do
  name=$(echo $v | tr - _)
  "$BUILD/kilnc" graphs/$v.kiln -o "$OUT/$name" >/dev/null
  "$OUT/$name/$name" bench --random-weights 1 --steps "$STEPS" --warmup 1 --context "$CONTEXTS" --json |
    sed 's/[{}",:]/ /g' | awk -v v=$v '{
      for (i = 1; i < NF; i++) f[$i] = $(i + 1)
      printf "%s\t%d\t%.2f\t%.2f\t%.1f\t%.1f\n", v, f["context"], f["ms_median"], f["ms_p99"],
             f["state_bytes"] / 1048576, f["live_state_bytes"] / 1048576 }' >>"$OUT/context.tsv"
done
column -t "$OUT/context.tsv"

gnuplot <<PLOT
set terminal pngcairo size 900,560 noenhanced
set output "$OUT/context.png"
set title "Per-frame latency against context (mid-size model: dim 1536, 12 layers; $(uname -m), $(nproc) threads)"
set xlabel "context (frames; 12.5 frames = 1 s)"
set ylabel "ms per frame (median)"
set key bottom right
set grid
plot for [v in "moshi-mid moshi-mid-hybrid moshi-mid-ttt"] "$OUT/context.tsv" using 2:(strcol(1) eq v ? \$3 : 1/0) with linespoints title v
PLOT
echo "wrote $OUT/context.tsv and $OUT/context.png"

printf 'model\tframes\tms_frames_3001_4000\tms_last_1000\tratio\n' >"$OUT/long.tsv"
for m in long_ttt long_hybrid; do
  "$BUILD/kilnc" graphs/tests/$m.kiln -o "$OUT/$m" >/dev/null
  "$OUT/$m/$m" bench --random-weights 1 --steps "$LONG" --warmup 0 --trace "$OUT/$m.trace" >/dev/null
  awk -v m=$m -v n=$LONG 'NR > 3000 && NR <= 4000 { a += $1 } NR > n - 1000 { b += $1 }
    END { printf "%s\t%d\t%.4f\t%.4f\t%.3f\n", m, n, a / 1000, b / 1000, (b / 1000) / (a / 1000) }' \
    "$OUT/$m.trace" >>"$OUT/long.tsv"
done
column -t "$OUT/long.tsv"
