# syntax=docker/dockerfile:1
# quantd's container image: quantd is the entrypoint, quantctl is on PATH (run it with
# `--entrypoint quantctl`, or `command: [quantctl]` in Kubernetes). docs/DEPLOY.md has the walk-through.
#
#   docker build -t quantd:0.1.0 .                                  # CPU: Debian bookworm
#   docker build --build-arg VARIANT=cuda -t quantd:0.1.0-cuda .    # CUDA: NVIDIA CUDA runtime base
#
# The build stage runs scripts/docker-build-stage.sh and nothing else (the test suite runs the
# same script), which installs scripts/setup.sh's packages, the one list of dependencies. The
# runtime stage installs only the packages of the shared libraries the two programs load, a list
# the build stage derives with ldd, so it stays right on either base. Build and runtime stages of a
# variant share a distribution release: a program built against one release's libraries is run
# against the same ones. Needs BuildKit (the default builder since Docker 23), which builds only
# the stages the chosen variant uses.

ARG VARIANT=cpu
ARG DEBIAN_BUILD_IMAGE=debian:bookworm
ARG DEBIAN_RUNTIME_IMAGE=debian:bookworm-slim
# NVIDIA publishes no Debian-based CUDA images; Ubuntu 24.04 carries the same library versions
# (gRPC 1.51, protobuf 3.21, Abseil 20220623) under the same -dev package names.
ARG CUDA_BUILD_IMAGE=nvidia/cuda:13.0.1-devel-ubuntu24.04
ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:13.0.1-runtime-ubuntu24.04

FROM ${DEBIAN_BUILD_IMAGE} AS build-cpu
WORKDIR /src
COPY . .
RUN scripts/docker-build-stage.sh /build /install -DQUANTD_CUDA=OFF

FROM ${CUDA_BUILD_IMAGE} AS build-cuda
WORKDIR /src
COPY . .
RUN scripts/docker-build-stage.sh /build /install -DQUANTD_CUDA=ON

FROM ${DEBIAN_RUNTIME_IMAGE} AS base-cpu
FROM ${CUDA_RUNTIME_IMAGE} AS base-cuda

FROM build-${VARIANT} AS build

FROM base-${VARIANT} AS runtime
COPY --from=build /install/ /
# A numeric user, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd. /data is
# the working folder; a fresh named volume mounted there inherits its owner (docker compose).
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -qq \
 && xargs -a /usr/local/share/quantd/runtime-packages.txt apt-get install -y -qq --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 quantd \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin quantd \
 && install -d -o 10001 -g 10001 /data
USER 10001:10001
WORKDIR /data
# gRPC (--listen), plaintext health for probes (--health-listen), Prometheus (--metrics-listen).
EXPOSE 50051 50052 9464
ENTRYPOINT ["/usr/local/bin/quantd"]
CMD ["--listen=0.0.0.0:50051", "--health-listen=0.0.0.0:50052", "--metrics-listen=0.0.0.0:9464"]
