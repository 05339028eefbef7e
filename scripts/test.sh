#!/usr/bin/env bash
# Sets up a fresh Debian bookworm machine, builds quantd with its tests, and runs the whole
# test suite with ctest. This is what CI runs (.ci/run).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@"
