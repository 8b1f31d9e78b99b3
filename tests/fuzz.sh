#!/bin/sh
# tests/fuzz.sh: replays every seed and every kept crash through the fuzz harnesses, without
# libFuzzer: each tests/fuzz/NAME.c is built (make fuzz-replay) with the host compiler, ASan and UBSan (any report is fatal, leaks
# included) and tests/fuzz/replay.c's main into $KILN_BUILD/fuzz/, then run on every file of
# tests/fuzz/corpus/NAME/ and tests/fuzz/crashes/NAME/: one check per harness. Also checks that
# the weight-file seeds are what tests/fuzz/seeds.c writes for fuzz_model.h's model.
# `make fuzz` is the fuzzing itself (docs/fuzzing.md). Ends with `RESULT passed=N failed=M`.
cd "$(dirname "$0")/.." || exit 2
. tests/lib.sh
OUT=$KILN_BUILD/fuzz
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

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
if ! make -s --no-print-directory BUILD="$KILN_BUILD" fuzz-replay >"$TMP/build.log" 2>&1; then
  fail "building the harnesses (make fuzz-replay): $(cat "$TMP/build.log")"
  finish
  exit
fi
build_end=$(date +%s)
for dir in tests/fuzz/corpus/*/; do replay "$(basename "$dir")"; done
replay_end=$(date +%s)

# The weight-file seeds must be those seeds.c writes now (else fuzz_model.h changed without them).
mkdir -p "$TMP/seeds/safetensors" "$TMP/seeds/kw"
if seeds_output=$("$OUT/seeds" "$TMP/seeds" 2>&1); then
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
