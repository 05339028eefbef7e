#!/usr/bin/env bash
# Builds quantd with clang under AddressSanitizer and UndefinedBehaviorSanitizer, with the libFuzzer
# targets (tests/fuzz), into build-sanitize/, and runs the whole test suite there: every unit,
# server, client and end-to-end test, then each fuzz target for QUANTD_FUZZ_SECONDS (20) from
# seeds of real encodings. scripts/test.sh runs it after the plain suite. Extra arguments go to
# ctest. Findings are written to build-sanitize/fuzz-findings-*.
#
# Left out here: the benchmarks (and the soak run, whose RSS means nothing under ASan), the CUDA
# backend, and the deploy.* tests (they check files and the image's install tree, which the plain
# run covers; the image's programs are not sanitized).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
jobs=${QUANTD_BUILD_JOBS:-$(nproc)}
if [ ! -f build-sanitize/CMakeCache.txt ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DQUANTD_SANITIZE=ON -DQUANTD_FUZZ=ON -DQUANTD_CUDA=OFF -DQUANTD_BUILD_BENCH=OFF
fi
cmake --build build-sanitize -j "$jobs"
cd build-sanitize
# halt_on_error: the first report fails its test; detect_leaks stays on for the tests.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --output-on-failure -j "$(nproc)" --timeout 900 -E '^deploy\.' "$@"
