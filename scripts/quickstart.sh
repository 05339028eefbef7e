#!/usr/bin/env bash
# Sets up a fresh Debian bookworm machine, builds quantd, and runs the main job on a real model:
# converts llama2.c's stories260K (from ../shared/data, or the llama2.c .bin or safetensors
# checkpoint given as the first argument) to safetensors, starts three local quantd servers and
# quantizes it across them with RTN 4-bit, printing the per-tensor report, then decodes it back.
# QUANTD_SERVERS=0 runs the core in-process instead.
#   scripts/quickstart.sh [CHECKPOINT] [extra quantctl quantize flags...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"

input="${1:-$root/../shared/data/stories260K/stories260K.bin}"
shift || true
out="$root/out"
mkdir -p "$out"
case "$input" in
  *.bin)
    model="$out/$(basename "${input%.bin}").safetensors"
    "$root/build/bin/quantctl" convert-llama2c "$input" "$model" ;;
  *) model="$input" ;;
esac
name="$(basename "${model%.safetensors}")"

# Local servers on free ports; stopped (SIGTERM: they drain and exit 0) however this script ends.
servers=()
pids=()
work=$(mktemp -d)
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2> /dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
for i in $(seq 1 "${QUANTD_SERVERS:-3}"); do
  "$root/build/bin/quantd" --listen 127.0.0.1:0 --threads 1 > "$work/quantd$i.out" 2> "$work/quantd$i.log" &
  pids+=($!)
  for _ in $(seq 1 100); do grep -q "listening on port" "$work/quantd$i.out" && break; sleep 0.05; done
  servers+=("127.0.0.1:$(awk '/listening on port/ {print $NF}' "$work/quantd$i.out")")
done
remote=()
if [ "${#servers[@]}" -gt 0 ]; then remote=(--servers "$(IFS=,; echo "${servers[*]}")"); fi

"$root/build/bin/quantctl" quantize "${remote[@]}" --method rtn --bits 4 --report "$out/$name-rtn4.report.json" "$@" \
  "$model" "$out/$name-rtn4.safetensors"
"$root/build/bin/quantctl" dequantize "$out/$name-rtn4.safetensors" "$out/$name-rtn4-decoded.safetensors"
echo "outputs in $out: $name-rtn4.safetensors (quantized), $name-rtn4.report.json, $name-rtn4-decoded.safetensors"
