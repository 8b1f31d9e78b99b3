#!/bin/sh
# Installs the Debian packages kiln needs when one is missing (root on Debian 12; see README).
# usage: scripts/deps.sh [bench]   (bench adds what the benchmarks compare with and draw with)
set -e
# the build (llvm-19-dev: the LLVM back end; libsndfile1-dev and libsoxr-dev: a codec's audio files; libwebsockets-dev, libopus-dev, libogg-dev: serve; libsentencepiece-dev and g++: its C++ shim, sentencepiece: spm_train for the tests); SIMDe, the aarch64 cross compiler and qemu-user for the targets' tests; clang-14 (kilnc --cc clang-14 and the libFuzzer harnesses)
pkgs="gcc g++ make flex bison libcjson-dev llvm-19-dev libc6-dev libgomp1 libsndfile1-dev libsoxr-dev libwebsockets-dev libopus-dev libogg-dev libsentencepiece-dev sentencepiece libsimde-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user binutils-aarch64-linux-gnu clang-14 libclang-rt-14-dev libomp-14-dev"
[ "$1" = bench ] && pkgs="$pkgs gnuplot-nox libopenblas-dev"
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "kiln: installing missing Debian packages:$missing"
if [ "$(id -u)" != 0 ]; then
  echo "kiln: not root; install them with: apt-get install$missing" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
