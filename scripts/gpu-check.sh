#!/usr/bin/env bash
# Builds the core alone with its CUDA backend and runs what needs a GPU: the CUDA agreement tests
# (GPU encodings against the CPU's bytes) and the CUDA benchmark. For a GPU machine that has
# CUDA, CMake and Python but no gRPC, no GoogleTest and no network:
#
#   scripts/gpu-check.sh --prepare   # here: copies GoogleTest's sources and stories260K into .deps/
#   scripts/gpu-check.sh             # there (with .deps/ carried): build, Cuda* tests, cuda_bench
#
# Extra arguments go to cuda_bench (e.g. --only kashin). CUDA_ARCH picks the architecture (90 by
# default, an H100 or H200).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ "${1:-}" = "--prepare" ]; then
  mkdir -p .deps/data/stories260K
  rm -rf .deps/googletest
  cp -r /usr/src/googletest .deps/googletest
  cp ../shared/data/stories260K/stories260K.bin .deps/data/stories260K/
  echo "prepared .deps/ (carry it to the GPU machine)"
  exit 0
fi
[ -d .deps/googletest ] || { echo "no .deps/googletest: run scripts/gpu-check.sh --prepare first" >&2; exit 2; }
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
cmake -S . -B build-gpu "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DQUANTD_CORE_ONLY=ON -DQUANTD_CUDA=ON \
  -DQUANTD_GTEST_SOURCE_DIR="$PWD/.deps/googletest" -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}"
cmake --build build-gpu -j "$(nproc)" --target core_tests cuda_bench
QUANTD_DATA_DIR="$PWD/.deps/data" build-gpu/tests/core_tests --gtest_filter='Cuda*:*Kernels*'
build-gpu/bin/cuda_bench "$@"
