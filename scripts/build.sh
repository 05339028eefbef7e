#!/usr/bin/env bash
# Configures and builds quantd into build/ (binaries in build/bin). Extra arguments go to cmake's
# configure step, e.g. scripts/build.sh -DQUANTD_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${QUANTD_BUILD_JOBS:-$(nproc)}
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
elif [ "$#" -gt 0 ]; then
  cmake -S . -B build "$@"
fi
cmake --build build -j "$jobs"
