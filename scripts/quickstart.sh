#!/usr/bin/env bash
# Sets up a fresh Debian bookworm machine, builds quantd, and runs the main job on a real model:
# converts llama2.c's stories260K (from ../shared/data, or the llama2.c .bin or safetensors
# checkpoint given as the first argument) to safetensors and quantizes it with RTN 4-bit,
# printing the per-tensor report, then decodes it back.
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
"$root/build/bin/quantctl" quantize --method rtn --bits 4 --report "$out/$name-rtn4.report.json" "$@" \
  "$model" "$out/$name-rtn4.safetensors"
"$root/build/bin/quantctl" dequantize "$out/$name-rtn4.safetensors" "$out/$name-rtn4-decoded.safetensors"
echo "outputs in $out: $name-rtn4.safetensors (quantized), $name-rtn4.report.json, $name-rtn4-decoded.safetensors"
