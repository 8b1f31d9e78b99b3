#!/bin/sh
# tests/fuzz.sh: replays every seed and every kept crash through the fuzz harnesses, without
# libFuzzer: each tests/fuzz/NAME.c is built with gcc, ASan and UBSan (any report is fatal, leaks
# included) and tests/fuzz/replay.c's main into $KILN_BUILD/fuzz/, then run on every file of
# tests/fuzz/corpus/NAME/ and tests/fuzz/crashes/NAME/: one check per harness. Also checks that
# the weight-file seeds are what tests/fuzz/seeds.c writes for fuzz_model.h's model.
# `make fuzz` is the fuzzing itself (docs/fuzzing.md). Ends with `RESULT passed=N failed=M`.
cd "$(dirname "$0")/.." || exit 2
. tests/lib.sh
CC=${CC:-gcc}
OUT=$KILN_BUILD/fuzz
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CFLAGS="-std=c11 -O1 -g -Wall -Wextra -Wpedantic -Werror -D_POSIX_C_SOURCE=200809L $SAN"
# What the harnesses read: the Makefile's FUZZ_LIB_SRC; one archive, each harness links what it uses.
LIB_SRC=$(make -s --no-print-directory print-fuzz-LIB_SRC) || exit 2
HARNESSES=$(make -s --no-print-directory print-fuzz-HARNESSES) || exit 2
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# build_lib: the library objects in parallel (two at a time), then the archive.
build_lib() {
  mkdir -p "$OUT/gen" "$OUT/obj" || return 1
  flex -o "$OUT/gen/lexer.c" --header-file="$OUT/gen/lexer.h" compiler/lexer.l &&
    bison -d -o "$OUT/gen/parser.c" compiler/parser.y || return 1
  local pids="" src obj status=0 n=0
  for src in $LIB_SRC "$OUT/gen/lexer.c" "$OUT/gen/parser.c"; do
    obj=$OUT/obj/$(basename "$src" .c).o
    $CC $CFLAGS -Icompiler -Iruntime -I"$OUT/gen" -c "$src" -o "$obj" &
    pids="$pids $!"
    n=$((n + 1))
    if [ $((n % 2)) = 0 ]; then
      for pid in $pids; do wait "$pid" || status=1; done
      pids=""
    fi
  done
  for pid in $pids; do wait "$pid" || status=1; done
  [ $status = 0 ] && rm -f "$OUT/libfuzzed.a" && ar rcs "$OUT/libfuzzed.a" "$OUT"/obj/*.o
}

build_harness() {
  $CC $CFLAGS -Icompiler -Iruntime -I"$OUT/gen" -Itests/fuzz -o "$OUT/$1" "tests/fuzz/$1.c" tests/fuzz/replay.c \
    "$OUT/libfuzzed.a" -lcjson -lm
}

# replay NAME: every seed and kept crash of NAME (not the .gitkeep files); the log keeps the
# harness's diagnostics and, on a failure, the sanitizer's report after the last "replay: FILE".
replay() {
  local name=$1 log=$OUT/$1.log files="" f
  for f in tests/fuzz/corpus/"$name"/* tests/fuzz/crashes/"$name"/*; do
    [ -f "$f" ] && files="$files $f"
  done
  # shellcheck disable=SC2086
  if "$OUT/$name" $files > "$log" 2>&1; then
    pass
    echo "  $name: $(tail -n 1 "$log")"
  else
    fail "$name: $(grep -E '^(replay: |==[0-9]+==ERROR|SUMMARY|.*fuzz check failed|.*runtime error)' "$log" | tail -n 4)"
  fi
}

start=$(date +%s)
if ! build_lib > "$TMP/build.log" 2>&1; then
  fail "building the harnesses' library: $(cat "$TMP/build.log")"
  finish
  exit
fi
built=""
for name in $HARNESSES; do
  if output=$(build_harness "$name" 2>&1); then built="$built $name"; else fail "$name: build: $output"; fi
done
build_end=$(date +%s)
for name in $built; do replay "$name"; done
replay_end=$(date +%s)

# The weight-file seeds must be those seeds.c writes now (else fuzz_model.h changed without them).
mkdir -p "$TMP/seeds/safetensors" "$TMP/seeds/kw"
if seeds_output=$($CC $CFLAGS -Iruntime -Itests/fuzz -o "$OUT/seeds" tests/fuzz/seeds.c "$OUT/libfuzzed.a" -lm 2>&1) &&
   "$OUT/seeds" "$TMP/seeds" 2>/dev/null; then
  stale=""
  for f in "$TMP"/seeds/safetensors/* "$TMP"/seeds/kw/*; do
    kind=$(basename "$(dirname "$f")")
    cmp -s "$f" "tests/fuzz/corpus/$kind/$(basename "$f")" || stale="$stale $kind/$(basename "$f")"
  done
  if [ -z "$stale" ]; then pass; else fail "seeds out of date:$stale (run $OUT/seeds tests/fuzz/corpus)"; fi
else
  fail "seeds: $seeds_output"
fi
echo "  built in $((build_end - start)) s, replayed in $((replay_end - build_end)) s"
finish
