#!/bin/sh
# tests/errors.sh: the front end's golden tests.
#  1. every tests/errors/NAME.kiln (not bases/) must make `kilnc NAME.kiln -o DIR` exit 1, print
#     exactly tests/errors/NAME.err on stderr and nothing on stdout, and leave DIR empty;
#  2. every tests/import/NAME.json is imported with `kilnc import moshi NAME.json -o OUT/NAME.kiln
#     [$(cat NAME.args)]` (`import mimi` for the mimi_*.json): stderr must be exactly NAME.err (the
#     temp folder written as OUT), the exit status 1 when it holds an error (and then nothing
#     written), else 0 with a description that checks; NAME.model, when present, is its expected
#     `--dump=model` minus the name line;
#  3. imported configurations that must give the same model as a hand-written graph (the goldens'
#     config.json, Moshiko's configuration, the released Mimi's);
#  4. the graphs/*.kiln themselves check.
# Prints "FAIL ..." with a diff for each failure and ends with `RESULT passed=N failed=M`.
# Usage: tests/errors.sh  (KILNC=build-asan/kilnc, or KILN_BUILD=build-asan, for the sanitized build)
cd "$(dirname "$0")/.." || exit 2
KILNC=${KILNC:-${KILN_BUILD:-build}/kilnc}
passed=0
failed=0
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

pass() { passed=$((passed + 1)); }

# fail NAME REASON: the diff (if any) is in $tmp/diff
fail() {
    failed=$((failed + 1))
    echo "FAIL $1: $2"
    if [ -s "$tmp/diff" ]; then cat "$tmp/diff"; fi
    : > "$tmp/diff"
}

# same EXPECTED ACTUAL: true when the files are equal; the diff goes to $tmp/diff
same() { diff -u "$1" "$2" > "$tmp/diff" 2>&1; }

# dump_model KILN OUTFILE: the checked model without its name line
dump_model() { "$KILNC" "$1" --dump=model > "$tmp/dump" 2>&1 && sed 1d "$tmp/dump" > "$2"; }

# ---- 1. diagnostics ----
for kiln in tests/errors/*.kiln; do
    name=${kiln%.kiln}
    out=$(mktemp -d "$tmp/out.XXXXXX")
    "$KILNC" "$kiln" -o "$out" > "$tmp/stdout" 2> "$tmp/stderr"
    status=$?
    : > "$tmp/diff"
    if [ ! -f "$name.err" ]; then
        fail "$kiln" "no expected output $name.err"
    elif [ "$status" -ne 1 ]; then
        cat "$tmp/stderr" > "$tmp/diff"
        fail "$kiln" "exit status $status, expected 1"
    elif ! same "$name.err" "$tmp/stderr"; then
        fail "$kiln" "stderr differs from $name.err"
    elif [ -s "$tmp/stdout" ]; then
        cat "$tmp/stdout" > "$tmp/diff"
        fail "$kiln" "printed on stdout"
    elif [ -n "$(ls -A "$out")" ]; then
        ls -A "$out" > "$tmp/diff"
        fail "$kiln" "wrote into the output folder"
    else
        pass
    fi
done

# ---- 2. kilnc import moshi, kilnc import mimi ----
for json in tests/import/*.json; do
    name=${json%.json}
    stem=$(basename "$name")
    importer=moshi
    case $stem in mimi_*) importer=mimi ;; esac
    out=$(mktemp -d "$tmp/import.XXXXXX")
    args=""
    if [ -f "$name.args" ]; then args=$(cat "$name.args"); fi
    # shellcheck disable=SC2086 # the arguments are words
    "$KILNC" import $importer "$json" -o "$out/$stem.kiln" $args > "$tmp/stdout" 2> "$tmp/stderr.raw"
    status=$?
    sed "s#$out#OUT#g" "$tmp/stderr.raw" > "$tmp/stderr"
    expect=0
    if grep -q ': error:' "$name.err" 2>/dev/null; then expect=1; fi
    : > "$tmp/diff"
    if [ ! -f "$name.err" ]; then
        fail "$json" "no expected output $name.err"
    elif [ "$status" -ne "$expect" ]; then
        cat "$tmp/stderr" > "$tmp/diff"
        fail "$json" "exit status $status, expected $expect"
    elif ! same "$name.err" "$tmp/stderr"; then
        fail "$json" "stderr differs from $name.err"
    elif [ "$expect" -eq 1 ] && [ -n "$(ls -A "$out")" ]; then
        ls -A "$out" > "$tmp/diff"
        fail "$json" "wrote a file although it failed"
    elif [ "$expect" -eq 0 ] && ! dump_model "$out/$stem.kiln" "$tmp/model"; then
        cat "$tmp/dump" > "$tmp/diff"
        fail "$json" "the imported description does not check"
    elif [ "$expect" -eq 0 ] && [ -f "$name.model" ] && ! same "$name.model" "$tmp/model"; then
        fail "$json" "the imported model differs from $name.model"
    else
        pass
    fi
done

# A missing file and an unknown importer.
"$KILNC" import moshi tests/import/missing.json -o "$tmp/missing.kiln" > /dev/null 2> "$tmp/stderr"
status=$?
echo "tests/import/missing.json: error: cannot open: No such file or directory" > "$tmp/expected"
if [ "$status" -eq 1 ] && same "$tmp/expected" "$tmp/stderr" && [ ! -e "$tmp/missing.kiln" ]; then pass; else fail "import of a missing file" "status $status"; fi
"$KILNC" import llama x.json > /dev/null 2> "$tmp/stderr"
status=$?
echo "kilnc: error: unknown importer 'llama' (kiln imports: moshi, mimi)" > "$tmp/expected"
if [ "$status" -eq 1 ] && same "$tmp/expected" "$tmp/stderr"; then pass; else fail "import llama" "status $status"; fi
if "$KILNC" import --help | grep -q '^usage: kilnc import moshi'; then pass; else fail "import --help" "no usage"; fi
if "$KILNC" import mimi --help | grep -q '^usage: kilnc import mimi'; then pass; else fail "import mimi --help" "no usage"; fi
# -n NAME names the model (not the output file)
if "$KILNC" import mimi tests/import/mimi_small.json -o "$tmp/named.kiln" -n my_codec 2> "$tmp/diff" \
    && [ "$("$KILNC" "$tmp/named.kiln" --dump=model | sed -n 1p)" = "name my_codec" ]; then pass; else fail "import mimi -n" "model not named my_codec"; fi

# ---- 3. imports that must equal a hand-written graph ----
# same_model CONFIG STEM GRAPH [IMPORTER]
same_model() {
    if ! "$KILNC" import "${4:-moshi}" "$1" -o "$tmp/$2.kiln" 2> "$tmp/stderr"; then
        cat "$tmp/stderr" > "$tmp/diff"
        fail "import $1" "failed"
    elif ! dump_model "$3" "$tmp/expected" || ! dump_model "$tmp/$2.kiln" "$tmp/actual"; then
        cat "$tmp/dump" > "$tmp/diff"
        fail "import $1" "a model does not check"
    elif ! same "$tmp/expected" "$tmp/actual"; then
        fail "import $1" "the model differs from $3's"
    elif [ "$(sed -n 1p "$tmp/dump")" != "name $(echo "$2" | tr -c 'A-Za-z0-9_\n' '_')" ]; then
        fail "import $1" "model name $(sed -n 1p "$tmp/dump"), expected from $2"
    else
        pass
    fi
}
for case in lm_attn_a lm_attn_c; do
    config=tests/goldens/$case/config.json
    if [ -f "$config" ]; then
        same_model "$config" "$case" "graphs/$case.kiln"
    else
        echo "SKIP import of $case: no config.json"
    fi
done
same_model tests/import/moshi_7b_202409.json moshi-7b graphs/moshi-7b.kiln
same_model tests/import/moshiko_defaults.json moshi-7b graphs/moshi-7b.kiln
same_model tests/import/checkpoint_small.json lm_attn_c graphs/lm_attn_c.kiln
same_model tests/goldens/mimi/config.json mimi_golden graphs/tests/mimi_golden.kiln mimi
same_model tests/import/mimi_released.json mimi graphs/mimi.kiln mimi

# ---- 4. the graphs check ----
for kiln in graphs/*.kiln; do
    if "$KILNC" "$kiln" --dump=model > /dev/null 2> "$tmp/diff"; then pass; else fail "$kiln" "does not check"; fi
done
# A variant of a codec is a codec: its kind comes from its base's sections.
printf 'model mimi_16 : "%s/graphs/mimi.kiln";\nnum_codebooks = 16;\n' "$(pwd)" > "$tmp/mimi_16.kiln"
if dump_model "$tmp/mimi_16.kiln" "$tmp/model" && grep -qx 'kind codec' "$tmp/model" && grep -qx 'num_codebooks 16' "$tmp/model"
then pass; else cat "$tmp/dump" > "$tmp/diff"; fail "a variant of graphs/mimi.kiln" "not a codec of 16 codebooks"; fi
# graphs/mimi-bf16.kiln: the released Mimi, its weights in bf16 (a system's codec keeps its description's format)
if dump_model graphs/mimi-bf16.kiln "$tmp/model" && grep -qx 'kind codec' "$tmp/model" && grep -qx 'weights bf16' "$tmp/model"
then pass; else cat "$tmp/dump" > "$tmp/diff"; fail "graphs/mimi-bf16.kiln" "not a bf16 codec"; fi

echo "RESULT passed=$passed failed=$failed"
[ "$failed" -eq 0 ]
