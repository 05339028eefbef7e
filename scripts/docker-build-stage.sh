#!/usr/bin/env bash
# The container image's build stage: the Dockerfile runs this and nothing else, and the test suite
# runs it too (tests/deploy/image_recipe_test.sh), so a broken image recipe fails CI.
#   1. scripts/setup.sh installs the Debian packages: the same list CI and developers use.
#   2. BUILD_DIR is configured (only when it is not configured yet: the test reuses the suite's
#      build tree rather than building the project twice) and quantd and quantctl are built.
#   3. `cmake --install` puts them, stripped, under DESTDIR with prefix /usr/local.
#   4. The installed programs must run, and the packages of the shared libraries they load
#      (scripts/runtime-packages.sh) go to DESTDIR/usr/local/share/quantd/runtime-packages.txt,
#      the list the runtime stage installs.
#   scripts/docker-build-stage.sh BUILD_DIR DESTDIR [cmake configure arguments...]
set -euo pipefail
[ "$#" -ge 2 ] || { echo "usage: $0 BUILD_DIR DESTDIR [cmake arguments...]" >&2; exit 2; }
root="$(cd "$(dirname "$0")/.." && pwd)"
build=$1
dest=$2
shift 2
prefix=/usr/local

"$root/scripts/setup.sh"
if [ ! -f "$build/CMakeCache.txt" ]; then
  # Tests and benchmarks are not part of the image; Ninja comes with setup.sh.
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DQUANTD_BUILD_TESTS=OFF -DQUANTD_BUILD_BENCH=OFF "$@"
fi
cmake --build "$build" -j "${QUANTD_BUILD_JOBS:-$(nproc)}" --target quantd quantctl
DESTDIR="$dest" cmake --install "$build" --prefix "$prefix" --component runtime --strip

bin="$dest$prefix/bin"
"$bin/quantd" --version
"$bin/quantctl" --version
mkdir -p "$dest$prefix/share/quantd"
"$root/scripts/runtime-packages.sh" "$bin/quantd" "$bin/quantctl" > "$dest$prefix/share/quantd/runtime-packages.txt"
echo "docker-build-stage: installed under $dest$prefix; runtime packages:" \
  $(cat "$dest$prefix/share/quantd/runtime-packages.txt")
