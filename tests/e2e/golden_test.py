#!/usr/bin/env python3
"""Golden decoded weights: the dequantized outputs of both real models in the data folder, for
every method at two settings each, must keep exactly these SHA-256 hashes.

A change to any encoder, decoder, parameter default or the job that joins slices shows up here as
a changed hash. Setting B of each method cuts tensors into small chunks (several slices per
tensor) or, for Kashin's matrix mode, encodes whole tensors.

  golden_test.py QUANTCTL DATA_DIR            check
  golden_test.py QUANTCTL DATA_DIR --print    print the table (to update GOLDEN after a change
                                              that is meant to alter decoded weights)
"""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

MODELS = {
    "stories260K": "stories260K/stories260K.bin",
    "en10": "en10_babyllama_tok105/model5000.bin",
}

# (name, quantctl arguments)
SETTINGS = [
    ("rtn-a", ["--method", "rtn"]),
    ("rtn-b", ["--method", "rtn", "--bits", "3", "--group-size", "32", "--scale-dtype", "f32",
               "--chunk-bytes", "2KiB"]),
    ("kashin-a", ["--method", "kashin"]),
    ("kashin-b", ["--method", "kashin", "--mode", "matrix", "--bits", "3", "--transform", "dct"]),
    ("pvq-a", ["--method", "pvq"]),
    ("pvq-b", ["--method", "pvq", "--bits", "2.5", "--group-size", "16", "--search", "greedy",
               "--chunk-bytes", "2KiB"]),
    ("crossquant-a", ["--method", "crossquant"]),
    ("crossquant-b", ["--method", "crossquant", "--bits", "4", "--alpha", "0.5", "--scale-dtype", "f16",
                      "--chunk-bytes", "2KiB"]),
]

GOLDEN = {
    "stories260K/rtn-a": "cc5c4e5119114d65b7e8cfce5f8ef1dd4fee3ad48dcb142f98a4faa5c41c7958",
    "stories260K/rtn-b": "613149eeac5a91f0fcdede1ce367dd17f615016342523fca7d7bf9196555b69d",
    "stories260K/kashin-a": "9efe23d201c89200b6732dfa99e9d2f7d666b6e27b0af159be53d0529167e0af",
    "stories260K/kashin-b": "e189ad2a3a04c0d2e0b3769a8235f33f0c47d0a7e09de7c1d579634a6af112ab",
    "stories260K/pvq-a": "fc677256f162839cf90626fb3ab6b2565202b6c1a4309bf292a21cc2f9957106",
    "stories260K/pvq-b": "1ac3004f485b10b3b1e8b553d10ba033f18542316bccf5ea0d87737831b7dd1c",
    "stories260K/crossquant-a": "29d3116f9ad928cfb12fdd6781d043895e667080b89e354815f41fe9f4ded8c6",
    "stories260K/crossquant-b": "8e4f9cbd9ebbb527b833354507a65ad65f4b4ff7ac84574fa030faf59683fae8",
    "en10/rtn-a": "13090a20608188c41584cf786fe638e58e16444b5d9dbe63600ab36a4330b4b4",
    "en10/rtn-b": "22070f2506a571ba60240c29a2ad55a8253ce81d1e6339bd21b170fd1bdf0c13",
    "en10/kashin-a": "261c55d1fca734ce005a3c17ca8ca05ae4b39d05ccb9395931969e70f916625c",
    "en10/kashin-b": "d867111b92eebc8021b398187f63bd43713b13dd29d4e2b804477028036d3245",
    "en10/pvq-a": "35245dea2d390b6953872f6f264bcb992c07bbdb890adb0b906fe17a4c13f82e",
    "en10/pvq-b": "ddf318f1a2e1844f0247110e31c2d76bcbff232cbd242092fde45b00173a458a",
    "en10/crossquant-a": "ff2d1de0c8f9f2c00ac5eb750a4740e503de64bf0bfa909657cff2e63d83c7c2",
    "en10/crossquant-b": "9f2ff04249bc9e31021dfe910f3bb912963dd25c9c4dabde315bcab4c5f918a1",
}


def decoded_hash(path):
    """SHA-256 over every tensor (name, dtype, shape, bytes) in name order."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    data = blob[8 + n:]
    h = hashlib.sha256()
    for name in sorted(header):
        t = header[name]
        b, e = t["data_offsets"]
        h.update(f"{name}|{t['dtype']}|{t['shape']}|".encode())
        h.update(data[b:e])
    return h.hexdigest()


def main():
    quantctl, data_dir = sys.argv[1], sys.argv[2]
    printing = "--print" in sys.argv[3:]
    failures = []
    with tempfile.TemporaryDirectory() as work:
        for model, rel in MODELS.items():
            src = os.path.join(work, model + ".safetensors")
            subprocess.run([quantctl, "convert-llama2c", os.path.join(data_dir, rel), src], check=True,
                           stdout=subprocess.DEVNULL)
            for name, args in SETTINGS:
                q = os.path.join(work, "q.safetensors")
                d = os.path.join(work, "d.safetensors")
                subprocess.run([quantctl, "quantize", "--progress", "none", *args, src, q], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                subprocess.run([quantctl, "dequantize", "--dtype", "f32", q, d], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                got = decoded_hash(d)
                key = f"{model}/{name}"
                if printing:
                    with open(q, "rb") as f:
                        file_hash = hashlib.sha256(f.read()).hexdigest()
                    print(f'    "{key}": "{got}",  # quantized file {file_hash[:16]}')
                elif GOLDEN.get(key) != got:
                    failures.append(f"{key}: decoded weights hash {got}, expected {GOLDEN.get(key)}")
    if failures:
        print("golden_test: decoded weights changed:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    if not printing:
        print(f"golden_test: {len(MODELS) * len(SETTINGS)} decoded checkpoints match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
