#!/bin/sh
# demo.sh (make demo): compiles the demo model (graphs/moshi-mid.kiln: Moshiko's options at dim
# 1536, 12 layers, about 0.51 B weights read per frame) for this host and streams it on random
# weights: one generate step per 80 ms frame, a live progress line, then a summary.
set -e
BUILD=${KILN_BUILD:-build}
"$BUILD/kilnc" graphs/moshi-mid.kiln -o generated/moshi_mid
generated/moshi_mid/moshi_mid info
echo
echo "streaming ${DEMO_STEPS:-25} frames (random weights, no user audio):"
generated/moshi_mid/moshi_mid generate --random-weights 42 --steps ${DEMO_STEPS:-25} --progress \
  --out generated/moshi_mid/demo_out.npy
