#!/bin/sh
# bench_llama.sh (make bench-llama LLAMA_CPP=DIR; not part of make bench: llama.cpp is not a
# Debian package): llama.cpp against kiln at equal shape and format, measured the same way, in one
# process (tests/bench/llama_vs_kiln.c). DIR is a llama.cpp source tree built with CMake into
# DIR/build (libllama and the ggml libraries in DIR/build/bin; the harness uses the C API of
# llama.cpp as of early 2025, build 4748: llama_kv_cache_clear). For q4_0 and q8_0: a GGUF of Moshi
# 7B's temporal shape (tests/bench/llama_gguf.py) against kiln's Moshi 7B at q4 / q8, ROUNDS rounds
# (default 30). Results: build/bench/llama-{q4_0,q8_0}.txt.
set -e
BUILD=${KILN_BUILD:-build}
OUT=$BUILD/bench/llama
LLAMA=${LLAMA_CPP:-}
ROUNDS=${ROUNDS:-30}
if [ -z "$LLAMA" ] || [ ! -e "$LLAMA/include/llama.h" ] || [ ! -d "$LLAMA/build/bin" ]; then
  echo "bench_llama.sh: set LLAMA_CPP to a llama.cpp source tree built into LLAMA_CPP/build" >&2
  echo "  (cmake -B build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_OPENMP=ON -DLLAMA_CURL=OFF" >&2
  echo "   && cmake --build build -j --target llama-bench)" >&2
  exit 1
fi
mkdir -p "$OUT"
for format in q4 q8; do
  gguf=$OUT/moshi-7b-shape-${format}_0.gguf
  bytes=$(python3 tests/bench/llama_gguf.py ${format}_0 "$gguf")
  "$BUILD/kilnc" graphs/moshi-7b.kiln --weights $format --emit lib -o "$OUT/kiln-$format" >/dev/null
  cc -O2 -march=native -fopenmp -D_POSIX_C_SOURCE=200809L -Iruntime -Itests/bench -I"$OUT/kiln-$format" -I"$LLAMA/include" \
    -I"$LLAMA/ggml/include" -o "$OUT/llama_vs_kiln-$format" tests/bench/llama_vs_kiln.c "$OUT/kiln-$format/libmoshi_7b.a" \
    -L"$LLAMA/build/bin" -Wl,-rpath,"$(cd "$LLAMA/build/bin" && pwd)" -lllama -lggml -lggml-base -lggml-cpu -lm
  echo "== ${format}_0: llama.cpp $(git -C "$LLAMA" rev-parse --short HEAD 2>/dev/null || echo "(no git)") against kiln ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'))"
  "$OUT/llama_vs_kiln-$format" "$gguf" "$bytes" "$ROUNDS" 2>/dev/null | tee "$BUILD/bench/llama-${format}_0.txt"
  rm -f "$gguf"
done
