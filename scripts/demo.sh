#!/bin/sh
# demo.sh (make demo): compiles the demo model (graphs/moshi-mid.kiln: Moshiko's options at dim
# 1536, 12 layers, about 0.51 B weights read per frame) with the released Mimi (graphs/mimi.kiln)
# into one system binary for this host, and holds a conversation on random weights: 4 s of the
# mimi golden's waveform in, the model's audio out (generated/moshi_mid/reply.wav) and its text (token
# ids), one 80 ms frame at a time, with a live progress line and a summary. Then the LM alone
# streams (generate).
set -e
BUILD=${KILN_BUILD:-build}
OUT=generated/moshi_mid
"$BUILD/kilnc" graphs/moshi-mid.kiln --codec graphs/mimi.kiln -o $OUT
$OUT/moshi_mid info
echo
W=tests/goldens/mimi/waveform.npy
"$BUILD/npyedit" cat $W $W $OUT/two.npy && "$BUILD/npyedit" cat $OUT/two.npy $OUT/two.npy $OUT/user.npy
echo "a conversation: 4 s of audio in, the model's reply to $OUT/reply.wav, its text (ids) below"
$OUT/moshi_mid converse --random-weights 42 --in $OUT/user.npy --out $OUT/reply.wav --text-out $OUT/reply.txt
echo "text: $(cat $OUT/reply.txt)"
echo
echo "the language model alone, ${DEMO_STEPS:-25} frames (random weights, no user audio):"
$OUT/moshi_mid generate --random-weights 42 --steps ${DEMO_STEPS:-25} --progress --out $OUT/demo_out.npy
