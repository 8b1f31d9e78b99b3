#!/bin/sh
# demo.sh (make demo): compiles the demo model (graphs/moshi-mid.kiln: moshiko's options at dim 1536,
# 12 layers) for this host and runs `bench` on random weights: per-frame latency and real-time factor.
set -e
BUILD=${KILN_BUILD:-build}
"$BUILD/kilnc" graphs/moshi-mid.kiln -o generated/moshi_mid
generated/moshi_mid/moshi_mid info
echo
generated/moshi_mid/moshi_mid bench --random-weights 42 --steps ${DEMO_STEPS:-20}
