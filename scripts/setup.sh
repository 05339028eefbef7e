#!/usr/bin/env bash
# Installs every Debian bookworm package quantd needs to build, test and benchmark.
# Idempotent; run as root (or with sudo available). The Dockerfile's build stage and CI use it too,
# so this list is the one source of truth for dependencies (README "Dependencies" says why each).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates
  # RPC and its schema compiler
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libabsl-dev
  # task pool
  libtbb-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  # client / server utilities
  nlohmann-json3-dev libcli11-dev libxxhash-dev prometheus-cpp-dev
  # numerics: multi-word PVQ indices, DCT for Kashin
  libgmp-dev libfftw3-dev
  # independent checks run by ctest (safetensors reader, Python gRPC client, reference forward pass)
  python3 python3-numpy python3-grpcio python3-protobuf
  # YAML parser for the deployment check (tests/deploy/check_deploy.py reads deploy/ and docker-compose.yml)
  python3-yaml
  # test certificates, network-namespace test hosts, result plots
  openssl iproute2 procps gnuplot-nox
  # the sanitizer and fuzzing build of the suite (scripts/test-sanitized.sh): clang and libFuzzer
  clang-14 libclang-rt-14-dev
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
