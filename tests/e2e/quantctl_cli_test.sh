#!/usr/bin/env bash
# End-to-end test of the quantctl command line on a real model (stories260K): convert from
# llama2.c, quantize in-process with RTN 4- and 8-bit, inspect, dequantize, and check every
# file with an independent reader; then the usage and failure exit codes.
# Environment: QUANTCTL, PYTHON, DATA_DIR, CHECK (safetensors_check.py).
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

model="$DATA_DIR/stories260K/stories260K.bin"
[ -f "$model" ] || fail "missing $model"

"$QUANTCTL" convert-llama2c "$model" "$work/s.safetensors" | tee "$work/convert.txt"
grep -q "260032 parameters" "$work/convert.txt" || fail "parameter count"
"$PYTHON" "$CHECK" "$work/s.safetensors" --expect-tensors 47 --expect-metadata format=pt --expect-metadata llama2c.dim=64

for bits in 4 8; do
  "$QUANTCTL" quantize --method rtn --bits "$bits" --report "$work/r$bits.json" "$work/s.safetensors" "$work/q$bits.safetensors" > "$work/table$bits.txt"
  grep -q "layers.0.attention.wq.weight" "$work/table$bits.txt" || fail "per-tensor report missing"
  "$PYTHON" "$CHECK" "$work/q$bits.safetensors" --expect-metadata quantd.format=1
  "$QUANTCTL" inspect "$work/q$bits.safetensors" > "$work/inspect$bits.txt"
  grep -q "encoded tensors (35)" "$work/inspect$bits.txt" || fail "inspect lists 35 encoded tensors"
  "$QUANTCTL" dequantize "$work/q$bits.safetensors" "$work/d$bits.safetensors"
  floor=$([ "$bits" = 4 ] && echo 18 || echo 40)
  # Norms and the embedding are copied: bit-identical; every quantized tensor above the floor.
  "$PYTHON" "$CHECK" "$work/d$bits.safetensors" --compare "$work/s.safetensors" --min-sqnr "$floor" --exact 'norm|embed' --expect-tensors 47
  "$PYTHON" - "$work/r$bits.json" "$floor" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
q = [t for t in r["tensors"] if t["quantized"]]
assert len(q) == 35, len(q)
assert all(t["sqnr_db"] > float(sys.argv[2]) for t in q), [t["sqnr_db"] for t in q]
assert all(t["method"] == "rtn" and t["params"]["bits"] in ("4", "8") for t in q)
assert {t["reason"] for t in r["tensors"] if not t["quantized"]} == {"1-D", "embedding"}
PY
done

# Repeatable options take one value each: they may sit between INPUT and OUTPUT.
"$QUANTCTL" quantize --progress none --skip wq "$work/s.safetensors" --param bits=4 --override 'w2=rtn:bits=8' "$work/o.safetensors" > /dev/null

# Dequantize to bf16 on request.
"$QUANTCTL" dequantize --dtype bf16 "$work/q4.safetensors" "$work/d4bf.safetensors"
"$PYTHON" - "$work/d4bf.safetensors" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
h = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])
assert h["layers.0.attention.wq.weight"]["dtype"] == "BF16"
assert h["norm.weight"]["dtype"] == "F32"  # copied tensors keep their dtype
PY

# Exit codes: 0 for help, 2 for usage errors, 1 for failures; failures write no output.
"$QUANTCTL" --help > /dev/null
# (Into a file: `| grep -q` stops reading at the first match, and under pipefail the SIGPIPE that
# quantctl then gets for a help text longer than one write fails the pipeline.)
"$QUANTCTL" quantize --help > "$work/help.txt"
grep -q -- "--group-size" "$work/help.txt" || fail "quantize --help lists method flags"
set +e
"$QUANTCTL" quantize "$work/s.safetensors" > /dev/null 2>&1; [ $? -eq 2 ] || fail "missing OUTPUT must exit 2"
"$QUANTCTL" quantize --method nope "$work/s.safetensors" "$work/x.safetensors" 2> "$work/err.txt"; [ $? -eq 2 ] || fail "unknown method must exit 2"
"$QUANTCTL" quantize --bits 9 "$work/s.safetensors" "$work/x.safetensors" 2> "$work/err.txt"; [ $? -eq 2 ] || fail "bits 9 must exit 2"
grep -q "bits" "$work/err.txt" || fail "error names the parameter"
"$QUANTCTL" quantize "$work/missing.safetensors" "$work/x.safetensors" 2> "$work/err.txt"; [ $? -eq 1 ] || fail "missing input must exit 1"
grep -q "missing.safetensors" "$work/err.txt" || fail "error names the file"
head -c 1000 "$work/s.safetensors" > "$work/trunc.safetensors"
"$QUANTCTL" quantize "$work/trunc.safetensors" "$work/x.safetensors" 2> "$work/err.txt"; [ $? -eq 1 ] || fail "truncated input must exit 1"
grep -q "trunc.safetensors" "$work/err.txt" || fail "truncation error names the file"
[ ! -e "$work/x.safetensors" ] || fail "a failed run left an output file"
"$QUANTCTL" convert-llama2c "$work/trunc.safetensors" "$work/y.safetensors" 2> /dev/null; [ $? -eq 1 ] || fail "bad llama2.c input must exit 1"
"$QUANTCTL" convert-llama2c "$work/" "$work/y.safetensors" 2> "$work/err.txt"; [ $? -eq 1 ] || fail "a folder as llama2.c input must exit 1"
grep -q "not a regular file" "$work/err.txt" || fail "folder input: clear message"
# The input is never the output; bad regular expressions and unknown override methods are usage errors.
cp "$work/s.safetensors" "$work/s.bak"
"$QUANTCTL" quantize "$work/s.safetensors" "$work/s.safetensors" 2> "$work/err.txt"; [ $? -eq 2 ] || fail "output = input must exit 2"
"$QUANTCTL" quantize "$work/s.safetensors" "$work/./s.safetensors" 2> /dev/null; [ $? -eq 2 ] || fail "output resolving to input must exit 2"
cmp -s "$work/s.safetensors" "$work/s.bak" || fail "the input was modified"
"$QUANTCTL" quantize --skip '([' "$work/s.safetensors" "$work/x.safetensors" 2> /dev/null; [ $? -eq 2 ] || fail "bad --skip regex must exit 2"
"$QUANTCTL" quantize --override 'w2=nope' "$work/s.safetensors" "$work/x.safetensors" 2> /dev/null; [ $? -eq 2 ] || fail "unknown --override method must exit 2"
"$QUANTCTL" quantize "$work/q4.safetensors" "$work/x.safetensors" 2> "$work/err.txt"; [ $? -eq 1 ] || fail "quantized input must fail"
grep -q "dequantize" "$work/err.txt" || fail "quantized input: the message points to dequantize"
# An existing output folder needs --overwrite, and keeps files quantctl did not write.
mkdir -p "$work/outdir" && echo mine > "$work/outdir/notes.txt"
"$QUANTCTL" quantize --progress none "$work/s.safetensors" "$work/outdir" > /dev/null 2>&1; [ $? -eq 2 ] || fail "existing folder without --overwrite must exit 2"
[ ! -e "$work/outdir/model.safetensors" ] || fail "refused run wrote into the folder"
"$QUANTCTL" quantize --progress none --overwrite "$work/s.safetensors" "$work/outdir" > /dev/null 2>&1 || fail "--overwrite run"
[ "$(cat "$work/outdir/notes.txt")" = mine ] || fail "--overwrite deleted a file quantctl did not write"
[ -e "$work/outdir/model.safetensors" ] || fail "--overwrite wrote nothing"
set -e
echo "quantctl CLI: all checks passed"
