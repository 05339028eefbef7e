#!/usr/bin/env bash
# Sets up a fresh Debian bookworm machine, builds quantd with its tests, and runs the whole
# test suite with ctest; then builds it again with sanitizers and fuzz targets and runs the suite
# there (scripts/test-sanitized.sh). This is what CI runs (.ci/run). QUANTD_SKIP_SANITIZED=1
# runs only the first part.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@"
if [ "${QUANTD_SKIP_SANITIZED:-0}" != 1 ]; then
  "$root/scripts/test-sanitized.sh" "$@"
fi
