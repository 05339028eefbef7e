#!/usr/bin/env bash
# End-to-end check of the `crossquant` layout in docs/FORMAT.md on a real model (stories260K):
# quantize with several parameter sets (row chunks, F16 maxima, every alpha endpoint), dequantize,
# and decode independently (tests/python/crossquant_decode.py): the values must agree bit for
# bit. Also checks the kernel counts in the report.
# Environment: QUANTCTL, PYTHON, DATA_DIR, DECODE (crossquant_decode.py).
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

model="$DATA_DIR/stories260K/stories260K.bin"
[ -f "$model" ] || fail "missing $model"
"$QUANTCTL" convert-llama2c "$model" "$work/s.safetensors" > /dev/null

run=0
for args in "--bits 8 --alpha 0.15" "--bits 4 --alpha 0.37 --scale-dtype f16" "--bits 3 --alpha 1 --chunk-bytes 4096" \
            "--bits 7 --alpha 0 --quantize-embeddings --chunk-bytes 20000" "--bits 2 --alpha 0.5"; do
  run=$((run + 1))
  # shellcheck disable=SC2086
  "$QUANTCTL" quantize --method crossquant $args --report "$work/r$run.json" "$work/s.safetensors" "$work/q$run.safetensors" > /dev/null
  "$QUANTCTL" dequantize "$work/q$run.safetensors" "$work/d$run.safetensors" > /dev/null
  "$PYTHON" "$DECODE" "$work/q$run.safetensors" "$work/d$run.safetensors" || fail "independent decode ($args)"
  "$PYTHON" - "$work/r$run.json" "$args" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
q = [t for t in r["tensors"] if t["quantized"]]
assert q and all(t["method"] == "crossquant" for t in q)
for t in q:
    s = t["stats"]
    n = 1
    for d in t["shape"]:
        n *= d
    assert s["nonzero_count"] == n, (t["name"], s)  # trained weights have no exact zeros
    assert 0 <= s["kernel_count"] <= s["nonzero_count"], s
    assert s["clamp_count"] == 0, s  # the maxima come from the data itself
    if "--alpha 1 " in sys.argv[2] + " ":
        assert s["kernel_count"] == s["per_token_kernel_count"], s
PY
done
echo "crossquant format: OK ($run parameter sets)"
