#!/bin/sh
# run.sh: runs every test program and script, adds up their "RESULT passed=N failed=M" lines and
# ends with the one line "N passed, N failed". Exit status 1 when anything failed.
KILN_BUILD=${KILN_BUILD:-build}
export KILN_BUILD
total_passed=0
total_failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_one() {
  name=$1; shift
  printf '%-28s ' "$name"
  "$@" >"$log" 2>&1
  status=$?
  result=$(grep '^RESULT ' "$log" | tail -n 1)
  p=$(echo "$result" | sed -n 's/.*passed=\([0-9]*\).*/\1/p')
  f=$(echo "$result" | sed -n 's/.*failed=\([0-9]*\).*/\1/p')
  if [ -z "$result" ]; then p=0; f=1; fi
  if [ "$status" != 0 ] && [ "$f" = 0 ]; then f=1; fi
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
  if [ "$f" = 0 ]; then
    echo "ok ($p checks)"
  else
    echo "FAILED ($p passed, $f failed)"
    sed 's/^/    /' "$log"
  fi
}

for t in "$KILN_BUILD"/tests/*; do
  [ -x "$t" ] && run_one "$(basename "$t")" "$t"
done
for s in tests/errors.sh tests/goldens.sh tests/stream.sh tests/ttt.sh tests/kernels.sh tests/kir.sh tests/llvm.sh tests/formats.sh tests/targets.sh tests/codec.sh tests/converse.sh tests/cli.sh tests/build.sh tests/edges.sh tests/codegen.sh tests/fuzz.sh; do
  [ -f "$s" ] && run_one "$(basename "$s")" sh "$s"
done
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" = 0 ]
