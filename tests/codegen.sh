#!/bin/sh
# codegen.sh: the golden generated code. Each model x target below is emitted with --emit c and
# diffed (diff -u) against tests/codegen/MODEL.TARGET.{c,h}, so a change to the code generator shows
# exactly what it changes in the output, and a refactoring of it that should change nothing is
# shown to change nothing. After a change meant to alter the output, accept it with
#   UPDATE=1 sh tests/codegen.sh
# and commit the new goldens with it (their diff is part of the change's review).
. tests/lib.sh
MODELS="graphs/lm_attn_a.kiln graphs/lm_hybrid.kiln tests/codegen/lm_mlp.kiln tests/codegen/lm_bf16.kiln"
TARGETS="scalar avx2"

for model in $MODELS; do
  name=$(sed -n 's/^model \([A-Za-z0-9_]*\).*/\1/p' "$model")
  for target in $TARGETS; do
    out=$TMP/$name.$target
    if ! "$KILNC" "$model" --emit c --target "$target" -o "$out" >/dev/null 2>"$TMP/err"; then
      fail "$name $target: kilnc: $(cat "$TMP/err")"
      continue
    fi
    for ext in c h; do
      golden=tests/codegen/$name.$target.$ext
      if [ "${UPDATE:-0}" = 1 ]; then
        cp "$out/$name.$ext" "$golden" && pass && echo "  updated $golden"
      elif [ ! -f "$golden" ]; then
        fail "$golden is missing (UPDATE=1 sh tests/codegen.sh writes it)"
      elif diff -u "$golden" "$out/$name.$ext" >"$TMP/diff"; then
        pass
      else
        fail "$name $target: the generated $name.$ext differs from $golden (UPDATE=1 accepts it):"
        head -n 60 "$TMP/diff" >&2
      fi
    done
  done
done
finish
