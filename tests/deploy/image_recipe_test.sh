#!/usr/bin/env bash
# Runs the container image's build stage, scripts/docker-build-stage.sh (the Dockerfile runs it
# and nothing else), against the suite's build tree with a throwaway DESTDIR: set-up packages,
# build step (nothing left to build, so no second build), install step. Then checks what the
# runtime stage would get:
#   - exactly quantd, quantctl and the runtime package list are installed, and both programs run;
#   - the runtime package list holds no development or build packages;
#   - the programs run in a root holding nothing but the files of those packages (a chroot, as
#     the image's user): quantd serves, quantctl quantizes stories260K on it, and quantd exits 0 on
#     SIGTERM. So the runtime image lacks no shared library. The chroot needs root; elsewhere that
#     part is skipped, saying so.
# A build tree configured with CUDA from a toolkit installed without packages (/usr/local/cuda)
# links its runtime library, which no Debian package holds: as in the image's CUDA variant, where
# the NVIDIA runtime base image brings it, the chroot then gets it from the toolkit.
# Environment: SOURCE_DIR, BUILD_DIR, DATA_DIR.
set -euo pipefail
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2> /dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cuda=""
[ -d /usr/local/cuda ] && cuda=$(readlink -f /usr/local/cuda)
RUNTIME_PACKAGES_BASE_DIRS="$cuda" "$SOURCE_DIR/scripts/docker-build-stage.sh" "$BUILD_DIR" "$work/image"

prefix="$work/image/usr/local"
installed=$(cd "$work/image" && find . -type f -o -type l | sort | tr '\n' ' ')
[ "$installed" = "./usr/local/bin/quantctl ./usr/local/bin/quantd ./usr/local/share/quantd/runtime-packages.txt " ] ||
  fail "the install step installs: $installed"
"$prefix/bin/quantd" --help | grep -q -- "--health-listen" || fail "installed quantd --help"
"$prefix/bin/quantctl" quantize --help | grep -q -- "--servers" || fail "installed quantctl quantize --help"
version=$("$prefix/bin/quantd" --version | awk '{print $2}')
[ "$("$prefix/bin/quantctl" --version | awk '{print $2}')" = "$version" ] || fail "quantd and quantctl versions differ"

packages=$(cat "$prefix/share/quantd/runtime-packages.txt")
echo "runtime packages: $(echo $packages)"
for p in $packages; do
  case "$p" in
    *-dev|build-essential|cmake|ninja-build|g++*|gcc|gcc-[0-9]*|cpp*|protobuf-compiler*|python3*)
      fail "runtime package list holds a build package: $p" ;;
  esac
  dpkg-query -W -f='${Section}\n' "$p" | grep -qx "libs" || fail "$p is not a library package"
done
# The libraries every C++ gRPC program loads must be there (guards against an empty list).
for p in libc6 libstdc++6 libgrpc++1.51 libprotobuf32; do
  grep -qx "$p" <<< "$packages" || fail "runtime package list lacks $p"
done

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIPPED PART: the runtime-root check needs root for chroot (run the suite as root to include it)"
  echo "image recipe: all checks passed"
  exit 0
fi
root="$work/root"
# Debian's merged /usr, so that /lib64/ld-linux-x86-64.so.2 and /lib/... paths resolve.
mkdir -p "$root/data" "$root/tmp" "$root/usr/lib" "$root/usr/lib64"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
# Every file of the listed packages (not their folders), and the installed programs.
for p in $packages; do
  dpkg -L "$p" | while read -r f; do
    if [ -f "$f" ] || [ -L "$f" ]; then
      dir="$root$(readlink -f "$(dirname "$f")")"
      mkdir -p "$dir"
      cp -a "$f" "$dir/"
    fi
  done
done
cp -a "$work/image/usr/local" "$root/usr/"
# The CUDA base image's libraries, when the build links them, found through ld.so.conf as there.
if [ -n "$cuda" ]; then
  mkdir -p "$root/etc"
  for lib in $(ldd "$prefix/bin/quantd" "$prefix/bin/quantctl" | awk '$2 == "=>" {print $3}' | sort -u); do
    real=$(readlink -f "$lib")
    case "$real" in
      "$cuda"/*)
        mkdir -p "$root$(dirname "$real")"
        cp -a "$real" "$root$real"
        dirname "$real" >> "$root/etc/ld.so.conf" ;;
    esac
  done
  [ -f "$root/etc/ld.so.conf" ] && ldconfig -r "$root"
fi
chown 10001:10001 "$root/data"
"$prefix/bin/quantctl" convert-llama2c "$DATA_DIR/stories260K/stories260K.bin" "$root/data/s.safetensors" > /dev/null
chmod a+r "$root/data/s.safetensors"

as_image_user() { chroot --userspec=10001:10001 "$root" "$@"; }
as_image_user /usr/local/bin/quantd --version
# chroot execs quantd, so $! is quantd itself (a function run with & would be a subshell).
chroot --userspec=10001:10001 "$root" /usr/local/bin/quantd --listen 127.0.0.1:0 --threads 1 > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  grep -q "listening on port" "$work/server.log" && break
  sleep 0.1
done
port=$(grep -o "listening on port [0-9]*" "$work/server.log" | awk '{print $4}')
[ -n "$port" ] || { cat "$work/server.log"; fail "quantd did not start in the runtime root"; }
as_image_user /usr/local/bin/quantctl quantize --servers "127.0.0.1:$port" --progress none \
  /data/s.safetensors /data/q.safetensors > /dev/null || fail "quantctl failed in the runtime root"
[ -s "$root/data/q.safetensors" ] || fail "no output from quantctl in the runtime root"
kill -TERM "$server"
wait "$server" || fail "quantd did not exit 0 on SIGTERM in the runtime root"
server=""
echo "image recipe: all checks passed"
