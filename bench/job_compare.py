#!/usr/bin/env python3
"""End-to-end time of `quantctl quantize` in-process for two quantctl binaries (say, before and
after a change), interleaved on the same synthetic checkpoint, with a copy of the same bytes as
the yardstick. Checks that both write the same bytes. Prints a markdown table.

  bench/job_compare.py --old OLD/quantctl --new build/bin/quantctl [--gib 0.25] [--threads 1,2]
                       [--repeats 5] [--method rtn] [--params bits=8,group_size=32]
"""
import argparse
import hashlib
import os
import platform
import statistics
import subprocess
import tempfile
import time

import numpy as np


def write_checkpoint(path, gib):
    """Gaussian F32 matrices of 4096 x 2048 until the file holds `gib` GiB of weights."""
    n = max(1, int(round(gib * (1 << 30) / (4096 * 2048 * 4))))
    rng = np.random.default_rng(1)
    header, offset = "{", 0
    entries = []
    for i in range(n):
        entries.append(f'"layers.{i}.w":{{"dtype":"F32","shape":[4096,2048],"data_offsets":[{offset},{offset + 4096 * 2048 * 4}]}}')
        offset += 4096 * 2048 * 4
    header += ",".join(entries) + "}"
    header += " " * ((8 - len(header) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(header).to_bytes(8, "little") + header.encode())
        for i in range(n):
            f.write((rng.standard_normal((4096, 2048)) * 0.02).astype(np.float32).tobytes())
    return offset


def copy_seconds(nbytes, repeats):
    """Best time to copy `nbytes` once (numpy, one core)."""
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--gib", type=float, default=0.25)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--method", default="rtn")
    ap.add_argument("--params", default="bits=8,group_size=32")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        src = os.path.join(work, "in.safetensors")
        nbytes = write_checkpoint(src, a.gib)
        copy = copy_seconds(nbytes, 5)
        print(f"{a.method} {a.params}, {nbytes / 2**20:.0f} MiB of F32 weights; copying them once takes "
              f"{copy * 1000:.0f} ms ({nbytes / copy / 1e9:.2f} GB/s); "
              f"load average before: {os.getloadavg()[0]:.2f}; {platform.node()}\n")
        print("| threads | binary | wall s (median) | min..max | GB/s | x copy | output |")
        print("|---|---|---|---|---|---|---|")
        for threads in [int(t) for t in a.threads.split(",")]:
            times = {"old": [], "new": []}
            digests = {}
            for _ in range(a.repeats):
                for name in ("old", "new"):  # interleaved, so that drift hits both alike
                    out = os.path.join(work, f"out-{name}.safetensors")
                    cmd = [getattr(a, name), "quantize", "--threads", str(threads), "--progress", "none",
                           "--method", a.method, "--param", a.params, src, out]
                    t = time.perf_counter()
                    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    times[name].append(time.perf_counter() - t)
                    with open(out, "rb") as f:
                        digests[name] = hashlib.sha256(f.read()).hexdigest()[:16]
                    os.remove(out)
            for name in ("old", "new"):
                med = statistics.median(times[name])
                print(f"| {threads} | {name} | {med:.2f} | {min(times[name]):.2f}..{max(times[name]):.2f} | "
                      f"{nbytes / med / 1e9:.2f} | {copy / med:.3f} | {digests[name]} |")
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
