#!/bin/sh
# bench.sh (make bench): kiln against this machine's limits and OpenBLAS, in one run.
#   1. the machine: DRAM read bandwidth and FMA peak, 1 thread and all threads (tests/bench/machine.c);
#   2. the packed matmul kernels kilnc emits for the native target at Moshi's shapes: matrix-vector
#      GB/s beside OpenBLAS sgemv, matrix-matrix GFLOP/s beside sgemm (tests/bench/bench_kernels.c);
#   3. whole streaming steps of the mid-size model (weights in f32, bf16, f16, q8 and q4), of a
#      7B-shaped one (4 of its 32 layers; f32 and bf16) and of the whole Moshi 7B shape (32 layers, q8
#      and q4): `bench --floor --json`, each frame and component against its weight-bytes floor at the
#      read bandwidth measured just before and just after it (the machine's drifts within a minute);
#   4. the LLVM back end against the C back end (scripts/bench_backends.sh);
#   5. the released Mimi (graphs/mimi.kiln, random weights): streaming encode + decode a frame, each
#      component beside its floors (its weight bytes / the read bandwidth and its multiply-adds / the
#      FMA peak, both measured just before);
#   6. whole conversations: converse with the mid-size LM at bf16 and q4 and Moshi 7B at q4 beside the
#      released Mimi (scripts/bench_converse.sh; its 10-minute pipe run with make bench-converse only).
# Results: build/bench/{machine.json, kernels.json, steps.json, backends.json, codec.json} and the tables printed here.
set -e
BUILD=${KILN_BUILD:-build}
OUT=$BUILD/bench
mkdir -p "$OUT"
TARGET=$("$BUILD/kilnc" --print-target native)
case $TARGET in
  avx2) ISA="-mavx2 -mfma" ;; avx512) ISA="-mavx512f -mavx512bw -mavx512vl -mfma" ;;
  avx512vnni) ISA="-mavx512f -mavx512bw -mavx512vl -mfma -mavx512vnni" ;; *) ISA="" ;;
esac

echo "== machine ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores)"
cc -O2 $ISA -ffp-contract=fast -fopenmp -Iruntime -o "$OUT/machine" tests/bench/machine.c "$BUILD/libkiln_rt.a" -lm
"$OUT/machine" | tee "$OUT/machine.json"
read_n=$(sed 's/.*"read_gb_s_n": \([0-9.]*\).*/\1/' "$OUT/machine.json")
fma_n=$(sed 's/.*"fma_gflops_n": \([0-9.]*\).*/\1/' "$OUT/machine.json")

echo
echo "== kernels ($TARGET) against OpenBLAS (bandwidth ${read_n} GB/s, FMA peak ${fma_n} GFLOP/s, all threads)"
"$BUILD/gen_kernels" "$TARGET" 12288x4096 22528x4096 4096x11264 4096x4096 3072x1024 5632x1024 1024x2816 \
  >"$OUT/kernels.h"
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L $ISA -fopenmp -include "$OUT/kernels.h" -o "$OUT/bench_kernels" \
  tests/bench/bench_kernels.c -lopenblas -lm
"$OUT/bench_kernels" "$OUT/kernels.json"
echo "against this machine (read ${read_n} GB/s, FMA ${fma_n} GFLOP/s):"
sed 's/[{}",:]/ /g' "$OUT/kernels.json" | awk -v bw="$read_n" -v peak="$fma_n" '{
    delete f; for (i = 1; i < NF; i += 2) f[$i] = $(i + 1)
    if ("kiln_gb_s" in f)
      printf "  %5dx%-6d matrix-vector %5.1f GB/s = %3.0f%% of the read bandwidth (sgemv %3.0f%%)\n", f["rows"],
             f["cols"], f["kiln_gb_s"], 100 * f["kiln_gb_s"] / bw, 100 * f["sgemv_gb_s"] / bw
    else
      printf "  %5dx%-6d T=%-4d %6.1f GFLOP/s = %3.0f%% of the FMA peak (sgemm %3.0f%%)\n", f["rows"], f["cols"], f["T"],
             f["kiln_gflops"], 100 * f["kiln_gflops"] / peak, 100 * f["sgemm_gflops"] / peak }'

echo
echo "== streaming steps ($TARGET, all threads; each frame against the read bandwidth measured just before and after it)"
: >"$OUT/steps.json"
for spec in "graphs/moshi-mid.kiln f32" "graphs/moshi-mid.kiln bf16" "graphs/moshi-mid.kiln f16" \
            "graphs/moshi-mid.kiln q8" "graphs/moshi-mid.kiln q4" \
            "graphs/tests/moshi-7b-4layers.kiln f32" "graphs/tests/moshi-7b-4layers.kiln bf16" \
            "graphs/moshi-7b.kiln q8" "graphs/moshi-7b.kiln q4"; do
  set -- $spec
  name=$(sed -n 's/^model \([A-Za-z0-9_]*\).*/\1/p' "$1")
  echo "$name, weights $2:"
  "$BUILD/kilnc" "$1" --weights $2 -o "$OUT/$name-$2" >/dev/null
  "$OUT/$name-$2/$name" bench --random-weights 1 --steps ${STEPS:-20} --floor --json | tee -a "$OUT/steps.json"
  tail -n 1 "$OUT/steps.json" | sed 's/[{}",:]/ /g' | awk '{
    for (i = 1; i < NF; i++) { if ($i == "component_floor_ratio") parts = 1; if (parts) ratio[$i] = $(i + 1); else f[$i] = $(i + 1) }
    printf "  %.1f ms per frame, %.1f GB/s; read bandwidth %.1f GB/s (%.1f-%.1f), floor %.1f ms: %.2fx it\n", f["ms_median"],
           f["gb_per_s"], f["read_gb_s_median"], f["read_gb_s_min"], f["read_gb_s_max"], f["floor_ms"], f["floor_ratio"]
    printf "  against their floors: temporal %.2fx, text head %.2fx, depformer %.2fx\n", ratio["temporal"],
           ratio["text_head"], ratio["depformer"] }'
done

echo
scripts/bench_backends.sh

echo
machine=$("$OUT/machine" | tee "$OUT/machine_codec.json")
read_n=$(echo "$machine" | sed 's/.*"read_gb_s_n": \([0-9.]*\).*/\1/')
fma_n=$(echo "$machine" | sed 's/.*"fma_gflops_n": \([0-9.]*\).*/\1/')
echo "== the Mimi codec ($TARGET, all threads; read ${read_n} GB/s, FMA peak ${fma_n} GFLOP/s now)"
"$BUILD/kilnc" graphs/mimi.kiln -o "$OUT/mimi" >/dev/null
"$OUT/mimi/mimi" bench --random-weights 1 --frames ${FRAMES:-50} --json | tee "$OUT/codec.json"
sed 's/[{}",:]/ /g' "$OUT/codec.json" | awk -v bw="$read_n" -v peak="$fma_n" '{
    for (i = 1; i < NF; i++) if ($i == "components" || $i == "component_weight_bytes" || $i == "component_macs") part = $i;
      else if (part != "" && $(i + 1) ~ /^[0-9.]+$/) v[part, $i] = $(i + 1)
    for (i = 1; i < NF; i++) f[$i] = $(i + 1)
    printf "  %.2f ms a frame (encode %.2f + decode %.2f), %.2fx real time\n", f["ms_median"], f["encode_ms_median"],
           f["decode_ms_median"], f["rtf"]
    n = split("seanet_encoder encoder_transformer quantizer decoder_transformer seanet_decoder", names, " ")
    for (k = 1; k <= n; k++) {
      c = names[k]; bytes_ms = v["component_weight_bytes", c] / (bw * 1e9) * 1e3; macs_ms = 2 * v["component_macs", c] / (peak * 1e9) * 1e3
      printf "  %-20s %6.2f ms; floors: weight bytes %5.2f ms, multiply-adds %5.2f ms\n", c, v["components", c], bytes_ms, macs_ms }
  }'

echo
PIPE_SECONDS=${PIPE_SECONDS:-0} scripts/bench_converse.sh
