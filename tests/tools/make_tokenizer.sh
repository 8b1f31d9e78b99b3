#!/bin/sh
# make_tokenizer.sh OUT_PREFIX VOCAB_SIZE: a small SentencePiece model for the tests, trained by
# Debian's spm_train (package sentencepiece) as a unigram model of VOCAB_SIZE pieces (100: the text
# vocabulary of the test language models) on a generated English corpus. Writes OUT_PREFIX.model,
# OUT_PREFIX.vocab, OUT_PREFIX.txt (the corpus) and OUT_PREFIX.log (spm_train's log, printed on
# failure). The corpus is the same on every run (a fixed linear congruential sequence picks the
# words), and holds 2- and 3-byte UTF-8 characters (é, ü, €) so that some pieces are multi-byte.
set -e
if [ $# != 2 ]; then
  echo "usage: sh tests/tools/make_tokenizer.sh OUT_PREFIX VOCAB_SIZE" >&2
  exit 2
fi
out=$1 vocab_size=$2
if ! command -v spm_train >/dev/null 2>&1; then
  echo "make_tokenizer.sh: spm_train not found (Debian package sentencepiece: make deps)" >&2
  exit 1
fi

awk 'BEGIN {
  n = split("the a an one two three some every this that my your our their " \
            "cat dog bird fish horse mouse river mountain city village garden kitchen window door " \
            "table chair book letter song story morning evening night winter summer spring autumn " \
            "runs walks sings reads writes opens closes finds keeps brings makes takes gives sees " \
            "quickly slowly quietly loudly happily always never often sometimes together " \
            "red green blue yellow small large old young warm cold bright dark heavy light " \
            "and but or because while after before under over near behind between through " \
            "café naïve über façade déjà résumé jalapeño crème brûlée €5 €20 prices cost " \
            "hello thanks please yes no maybe certainly question answer friend teacher doctor " \
            "computer language model speech voice listen speak think remember understand", words, " ")
  seed = 12345
  for (line = 0; line < 600; line++) {
    count = 4 + line % 9
    text = ""
    for (w = 0; w < count; w++) {
      seed = (seed * 1103515245 + 12345) % 2147483648
      text = text (w ? " " : "") words[1 + int(seed / 65536) % n]
    }
    print toupper(substr(text, 1, 1)) substr(text, 2) (line % 5 ? "." : "?")
  }
}' > "$out.txt"

if ! spm_train --input="$out.txt" --model_prefix="$out" --vocab_size="$vocab_size" --model_type=unigram \
     --character_coverage=1.0 --num_threads=1 > "$out.log" 2>&1; then
  cat "$out.log" >&2
  echo "make_tokenizer.sh: spm_train failed on $out.txt (log above)" >&2
  exit 1
fi
