#!/usr/bin/env python3
"""Independent safetensors reader, standard library only, used by the test suite to check that
quantd's files follow the format (https://github.com/huggingface/safetensors) without sharing any
of quantd's code.

  safetensors_check.py FILE [--expect-tensors N] [--expect-metadata KEY=VALUE ...]
  safetensors_check.py FILE --compare OTHER --min-sqnr DB [--exact NAME_REGEX]

Exits 0 when every check passes, 1 with a message otherwise.
"""
import argparse
import array
import json
import math
import re
import struct
import sys

SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
         "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8}


def fail(msg):
    print("safetensors_check: " + msg, file=sys.stderr)
    sys.exit(1)


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        fail(f"{path}: too short")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        fail(f"{path}: header length {n} past end")
    if n % 8 != 0:
        fail(f"{path}: header length {n} is not a multiple of 8 (data not aligned)")
    text = blob[8:8 + n].decode("utf-8")
    if text != text.rstrip(" ") + " " * (len(text) - len(text.rstrip(" "))):
        fail(f"{path}: header padding is not spaces")
    header = json.loads(text)
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        fail(f"{path}: __metadata__ must map strings to strings")
    spans = []
    for name, t in header.items():
        if set(t) != {"dtype", "shape", "data_offsets"}:
            fail(f"{path}: {name}: fields {sorted(t)}")
        if t["dtype"] not in SIZES:
            fail(f"{path}: {name}: dtype {t['dtype']}")
        count = 1
        for d in t["shape"]:
            if not isinstance(d, int) or d < 0:
                fail(f"{path}: {name}: bad dimension {d}")
            count *= d
        b, e = t["data_offsets"]
        if e - b != count * SIZES[t["dtype"]]:
            fail(f"{path}: {name}: {e - b} bytes for shape {t['shape']} {t['dtype']}")
        spans.append((b, e, name))
    spans.sort()
    pos = 0
    for b, e, name in spans:
        if b != pos:
            fail(f"{path}: {name} starts at {b}, expected {pos}")
        pos = e
    if pos != len(data):
        fail(f"{path}: tensors cover {pos} of {len(data)} data bytes")
    return header, meta, data


def floats(t, data):
    raw = data[t["data_offsets"][0]:t["data_offsets"][1]]
    dt = t["dtype"]
    if dt == "F32":
        a = array.array("f")
        a.frombytes(raw)
        return list(a)
    if dt == "F16":
        return [v[0] for v in struct.iter_unpack("<e", raw)]
    if dt == "BF16":
        return [struct.unpack("<f", struct.pack("<I", v[0] << 16))[0] for v in struct.iter_unpack("<H", raw)]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--expect-tensors", type=int)
    ap.add_argument("--expect-metadata", action="append", default=[])
    ap.add_argument("--compare")
    ap.add_argument("--min-sqnr", type=float, default=0.0)
    ap.add_argument("--exact", default=None, help="tensors matching this regex must be bit-identical")
    args = ap.parse_args()

    header, meta, data = read(args.file)
    if args.expect_tensors is not None and len(header) != args.expect_tensors:
        fail(f"{args.file}: {len(header)} tensors, expected {args.expect_tensors}")
    for kv in args.expect_metadata:
        k, v = kv.split("=", 1)
        if meta.get(k) != v:
            fail(f"{args.file}: metadata {k} = {meta.get(k)!r}, expected {v!r}")
    if args.compare:
        other, _, odata = read(args.compare)
        if set(other) != set(header):
            fail(f"tensor names differ: {sorted(set(other) ^ set(header))}")
        worst = math.inf
        for name, t in sorted(header.items()):
            o = other[name]
            if o["shape"] != t["shape"]:
                fail(f"{name}: shape {t['shape']} vs {o['shape']}")
            if args.exact and re.search(args.exact, name):
                if data[t["data_offsets"][0]:t["data_offsets"][1]] != odata[o["data_offsets"][0]:o["data_offsets"][1]]:
                    fail(f"{name}: expected bit-identical copy")
                continue
            x, y = floats(t, data), floats(o, odata)
            if x is None or y is None:
                continue
            sig = sum(v * v for v in y)
            err = sum((a - b) ** 2 for a, b in zip(x, y))
            sqnr = math.inf if err == 0 else 10 * math.log10(sig / err)
            worst = min(worst, sqnr)
            if sqnr < args.min_sqnr:
                fail(f"{name}: SQNR {sqnr:.2f} dB below {args.min_sqnr}")
        print(f"compared {len(header)} tensors, worst SQNR {worst:.2f} dB")
    print(f"{args.file}: {len(header)} tensors, {len(data)} data bytes: ok")


if __name__ == "__main__":
    main()
