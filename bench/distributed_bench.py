#!/usr/bin/env python3
"""Throughput of quantctl on a >= 1 GB synthetic checkpoint: in-process, and across 1, 2 and 3
local quantd servers (each pinned to a core with taskset where there are enough cores), plus
quantctl's peak RSS for each run. Prints a markdown table.

  bench/distributed_bench.py [--build build] [--gib 1.0] [--method rtn] [--params bits=4] [--keep DIR]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np


def write_checkpoint(path, gib):
    """Heavy-tailed F32 matrices of 4096 x 4096 until the file reaches `gib` GiB."""
    n = max(1, int(round(gib * (1 << 30) / (4096 * 4096 * 4))))
    rng = np.random.default_rng(7)
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for i in range(n):
        header[f"layers.{i}.weight"] = {"dtype": "F32", "shape": [4096, 4096], "data_offsets": [offset, offset + 4096 * 4096 * 4]}
        offset += 4096 * 4096 * 4
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text.encode())
        for i in range(n):
            w = (rng.standard_t(4, size=(4096, 4096)) * 0.02).astype(np.float32)
            w[:, ::1024] *= 20  # a few outlier columns
            f.write(w.tobytes())
    return os.path.getsize(path)


def run(cmd, report):
    """Runs quantctl; returns wall seconds and its peak RSS as it reports it (VmHWM: the
    rusage of a child forked from this big Python process would count Python's pages too)."""
    start = time.time()
    r = subprocess.run(cmd + ["--report", report], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.time() - start
    if r.returncode != 0:
        sys.exit("failed: " + " ".join(cmd) + "\n" + r.stderr)
    return elapsed, json.load(open(report))["peak_rss_bytes"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--method", default="rtn")
    ap.add_argument("--params", default="bits=4")
    ap.add_argument("--keep", default=None, help="folder for the synthetic checkpoint (kept)")
    args = ap.parse_args()
    quantctl = os.path.join(args.build, "bin", "quantctl")
    quantd = os.path.join(args.build, "bin", "quantd")
    work = args.keep or tempfile.mkdtemp(prefix="quantd-bench-")
    os.makedirs(work, exist_ok=True)
    ckpt = os.path.join(work, "synthetic.safetensors")
    if not os.path.exists(ckpt):
        write_checkpoint(ckpt, args.gib)
    size = os.path.getsize(ckpt)
    cores = os.cpu_count() or 1
    params = [x for kv in args.params.split(",") if kv for x in ("--param", kv)]
    base = [quantctl, "quantize", "--progress", "none", "--method", args.method, *params, ckpt]
    print(f"checkpoint {size / 1e9:.2f} GB, {cores} cores, method {args.method} {args.params}")
    print("| run | wall s | MB/s | vs in-process | quantctl peak RSS | RSS / checkpoint |")
    print("|---|---|---|---|---|---|")
    out = os.path.join(work, "out.safetensors")
    report = os.path.join(work, "report.json")
    t_local, rss = run(base + [out], report)
    ref = open(out, "rb").read()
    print(f"| in-process | {t_local:.2f} | {size / t_local / 1e6:.0f} | 1.00 | {rss / 1e6:.0f} MB | {rss / size:.1%} |")
    for n in (1, 2, 3):
        servers, addrs = [], []
        for i in range(n):
            cmd = [quantd, "--listen", "127.0.0.1:0", "--threads", "1"]
            if n <= cores:
                cmd = ["taskset", "-c", str(i % cores)] + cmd
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            addrs.append("127.0.0.1:" + p.stdout.readline().split()[-1])
            servers.append(p)
        try:
            t, rss = run(base + ["--servers", ",".join(addrs), out], report)
        finally:
            for p in servers:
                p.terminate()
                p.wait()
        same = open(out, "rb").read() == ref
        pinned = "pinned" if n <= cores else f"unpinned: {n} servers on {cores} cores"
        print(f"| {n} server(s), 1 thread each, {pinned} | {t:.2f} | {size / t / 1e6:.0f} | {t_local / t:.2f} | "
              f"{rss / 1e6:.0f} MB | {rss / size:.1%} |{'' if same else ' OUTPUT DIFFERS'}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
