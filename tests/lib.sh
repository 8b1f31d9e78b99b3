# lib.sh: shared by the shell test scripts. Counts checks and prints "RESULT passed=N failed=M"
# (tests/run.sh adds the counts up). Source it; call pass/fail/check; end with finish.
# (POSIX sh plus `local`, which dash and bash both have.)
KILN_BUILD=${KILN_BUILD:-build}
KILNC=${KILNC:-$KILN_BUILD/kilnc}
NPYCMP=$KILN_BUILD/npycmp
passed=0
failed=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL $*" >&2; }

# check NAME CMD...: CMD must exit 0.
check() {
  local label=$1 output; shift
  if output=$("$@" 2>&1); then pass; else fail "$label: $output"; fi
}

# compare NAME GOT REF TOL: npycmp within tolerance.
compare() {
  local output
  if output=$("$NPYCMP" "$2" "$3" "$4" 2>&1); then pass; echo "  $1: $output"; else fail "$1: $output"; fi
}

# expect_error NAME STATUS EXPECTED_STDERR CMD...: CMD exits with STATUS and prints exactly EXPECTED on stderr.
expect_error() {
  local label=$1 status=$2 expected=$3 rc got; shift 3
  "$@" >"$TMP/stdout" 2>"$TMP/stderr"
  rc=$?
  got=$(cat "$TMP/stderr")
  if [ "$rc" = "$status" ] && [ "$got" = "$expected" ]; then pass; else
    fail "$label: exit $rc (want $status); stderr:"
    printf '%s\n--- expected:\n%s\n' "$got" "$expected" >&2
  fi
}

finish() {
  echo "RESULT passed=$passed failed=$failed"
  [ "$failed" = 0 ]
}
