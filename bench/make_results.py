#!/usr/bin/env python3
"""Writes bench/RESULTS.md from scratch: the machine, date and commit; the quality of every method
and setting on the real models (bench/quality_table.py, with a perplexity-vs-bits plot); the
papers' claims checked against those numbers; each method's own quality program; the speed
benchmarks of every method, of quantd against the in-process core, of quantctl across servers;
and the CUDA backend (measured here when a GPU is present, else the last GPU run's fragment).

  bench/run [--build build] [--skip-speed] [--skip-quality]   (bench/run wraps this)
  bench/make_results.py --build build --refresh rtn,crossquant,service
      reruns those speed subsections only and replaces them in the existing RESULTS.md, each
      stamped with its date, commit, machine and load
"""
import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def sh(cmd, timeout=3600, check=True):
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if check and r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return r.stdout


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        mem = int(next(l for l in open("/proc/meminfo") if l.startswith("MemTotal")).split()[1]) / 1048576
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0]
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} {platform.release()}; load average {load:.1f} at start"


def rtn_at(rtn, bpw):
    """RTN's perplexity at `bpw`, log-linear between the two nearest RTN settings; None outside."""
    import math
    for (b0, p0), (b1, p1) in zip(rtn, rtn[1:]):
        if b0 <= bpw <= b1:
            w = (bpw - b0) / (b1 - b0)
            return math.exp((1 - w) * math.log(p0) + w * math.log(p1))
    return None


def claims(rows):
    """The papers' claims, answered from the quality rows (weights quantized, default parameters)."""
    out = []
    by = {(r["model"], r["label"]): r for r in rows}
    for model in sorted({r["model"] for r in rows}):
        rtn4, k4 = by.get((model, "RTN 4-bit")), by.get((model, "Kashin 4-bit"))
        if rtn4 and k4:
            verdict = "holds" if k4["tinystories_ppl"] < rtn4["tinystories_ppl"] else "does not hold"
            out.append(f"- **Kashin beats uniform (RTN) at 4 bits** on {model}: {verdict}. Kashin 4-bit "
                       f"{k4['bpw']:.3f} bpw, ppl {k4['tinystories_ppl']:.4f}, SQNR {k4['sqnr']:.2f} dB; RTN 4-bit "
                       f"{rtn4['bpw']:.3f} bpw, ppl {rtn4['tinystories_ppl']:.4f}, SQNR {rtn4['sqnr']:.2f} dB.")
        # Pareto: each PVQ point against RTN's curve at the same bits per weight (RTN's perplexity
        # interpolated log-linearly between its neighbouring settings).
        rtn = sorted((r["bpw"], r["tinystories_ppl"]) for r in rows if r["model"] == model and r["method"] == "rtn")
        pvq = sorted((r["bpw"], r["tinystories_ppl"], r["label"]) for r in rows if r["model"] == model and r["method"] == "pvq")
        if len(rtn) >= 2 and pvq:
            verdicts = []
            for bpw, ppl, label in pvq:
                ref = rtn_at(rtn, bpw)
                if ref is None:
                    continue
                verdicts.append((ppl < ref, f"{label} at {bpw:.3f} bpw: ppl {ppl:.4f} vs RTN {ref:.4f}"))
            if verdicts:
                n = sum(b for b, _ in verdicts)
                verdict = "holds" if n == len(verdicts) else "holds in part" if n else "does not hold"
                out.append(f"- **PVQ is Pareto-better than scalar quantization at equal bits** on {model}: {verdict} "
                           "(RTN's perplexity interpolated at PVQ's bits per weight): " + "; ".join(t for _, t in verdicts) + ".")
    budgets = [(2.0, 2.75), (2.75, 3.5), (3.5, 4.6), (7.0, 9.0)]
    for model in sorted({r["model"] for r in rows}):
        picks = []
        for lo, hi in budgets:
            cand = [r for r in rows if r["model"] == model and r["method"] != "float" and lo <= r["bpw"] < hi]
            if cand:
                best = min(cand, key=lambda r: r["tinystories_ppl"])
                picks.append(f"{lo:g}–{hi:g} bpw: {best['label']} (ppl {best['tinystories_ppl']:.4f})")
        if picks:
            out.append(f"- **Best method per budget** on {model} (lowest perplexity): " + "; ".join(picks) + ".")
    return "\n".join(out)


def gbench(bindir, binary, filt, min_time="0.2"):
    path = os.path.join(bindir, binary)
    if not os.path.exists(path):
        return f"({binary} is not built in this configuration)\n"
    return "```\n" + sh([path, f"--benchmark_filter={filt}", f"--benchmark_min_time={min_time}",
                         "--benchmark_counters_tabular=true", "--benchmark_color=false"], timeout=3600) + "```\n"


def kernel_claim(text):
    """CrossQuant's claim from its quality program: the kernel on stories260K's activations."""
    lines, bits = [], None
    for line in text.splitlines():
        if line.startswith("### "):
            bits = line[4:].split(",")[0]
            on_activations = "activations" in line and "stories260K" in line
        elif bits and on_activations and line.startswith("| all ") and "activation" in line:
            cells = [x.strip() for x in line.strip("|").split("|")]
            per_token, cross = cells[3], cells[4]
            holds = float(cross.rstrip("%")) < float(per_token.rstrip("%"))
            lines.append(f"{bits}: per-token {per_token}, CrossQuant {cross} ({'smaller' if holds else 'not smaller'})")
    if not lines:
        return ""
    return ("- **CrossQuant's quantization kernel is smaller than per-token's**, on stories260K's real activations "
            "(inputs of every linear layer over 510 tokens): " + "; ".join(lines) +
            ". See section 2 for where it shrinks (where c_j < t_i) and for synthetic outlier channels.\n")


def recorded(name):
    """A fragment of bench/results/ one heading level down: its title becomes a level-3 section."""
    text = open(os.path.join(HERE, "results", name)).read()
    return re.sub(r"^(#+) ", lambda m: m.group(1) + "# ", text, flags=re.M)


def speed_sections(bindir):
    """The speed subsections that run here and now: name -> (title, function giving the body, or
    None when the program is not built)."""
    cores = str(os.cpu_count())

    def service():
        if not os.path.exists(os.path.join(bindir, "service_bench")):
            return None
        return (sh([os.path.join(bindir, "service_bench"), "--tensors", "2", "--threads", f"1,{cores}"]) + "\n" +
                sh([os.path.join(bindir, "service_bench"), "--tensors", "2", "--method", "crossquant",
                    "--params", "bits=8", "--threads", f"1,{cores}"]))

    return {
        "rtn": ("RTN (`build/bin/rtn_bench`), 4096 x 4096 F32", lambda: gbench(bindir, "rtn_bench", ".")),
        "crossquant": ("CrossQuant (`build/bin/crossquant_bench`), 4096 x 4096 F32",
                       lambda: gbench(bindir, "crossquant_bench", "Memcpy|Method")),
        "pvq": ("PVQ (`build/bin/pvq_bench`), 4096 x 4096 F32",
                lambda: gbench(bindir, "pvq_bench", "PvqEncode.*threads:1|PvqDecode|Memcpy", "0.05")),
        "kashin": ("Kashin (`build/bin/kashin_bench`), 4096 x 4096 F32",
                   lambda: gbench(bindir, "kashin_bench", ".", "0.05")),
        "service": ("quantd on loopback against the in-process core (`build/bin/service_bench`)", service),
    }


def refresh(path, bindir, names, stamp):
    """Reruns the named speed subsections and replaces them in the existing results file, each
    with a line saying when, on which commit and machine, and at what load it was measured."""
    text = open(path).read()
    sections = speed_sections(bindir)
    for name in names:
        if name not in sections:
            sys.exit(f"--refresh: unknown section '{name}' (known: {', '.join(sections)})")
        title, run = sections[name]
        head = f"### {title}\n"
        start = text.find(head)
        if start < 0:
            sys.exit(f"--refresh: {path} has no section '{title}'")
        m = re.compile(r"^##+ ", re.M).search(text, start + len(head))
        end = m.start() if m else len(text)
        body = run()
        if body is None:
            sys.exit(f"--refresh: the program of '{name}' is not built in {bindir}")
        text = text[:start] + head + f"\nRefreshed {stamp}.\n\n" + body + "\n" + text[end:]
    open(path, "w").write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--refresh", help="comma-separated speed sections (rtn, crossquant, pvq, kashin, service) to "
                    "rerun and replace in the existing --out, leaving the rest as it is")
    args = ap.parse_args()
    bindir = os.path.join(ROOT, args.build, "bin")
    commit = sh(["git", "rev-parse", "--short", "HEAD"]).strip()
    dirty = " (with uncommitted changes)" if sh(["git", "status", "--porcelain", "--untracked-files=no"]).strip() else ""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if args.refresh:
        refresh(args.out, bindir, args.refresh.split(","), f"{now}, commit `{commit}`{dirty}, on {machine()}")
        return
    parts = [f"# quantd benchmark results\n\nGenerated by `bench/run` on {now}, commit `{commit}`{dirty}.\n"
             f"Machine: {machine()}. Release build, no `-march` (portable x86-64; ISA-specific kernels are picked at "
             f"run time). Timings on a machine shared with other work are noisy: ratios measured in the same run "
             f"(to memcpy, to the in-process core) are the figures to compare.\n"]

    if not args.skip_quality:
        rows_json = os.path.join(ROOT, args.build, "quality_rows.json")
        table = sh([PY, os.path.join(HERE, "quality_table.py"), "--build", args.build, "--json", rows_json,
                    "--plot", os.path.join(HERE, "ppl_vs_bpw.png")])
        rows = json.load(open(rows_json))
        parts.append("## 1. Quality on real models\n\n"
                     "Every quantized tensor of stories260K and en10 (all linear layers; embeddings and norms are copied, "
                     "as by default), each method with its default parameters but the bits. Bits per weight count every "
                     "stored byte and parameter of the quantized tensors. Perplexity follows the data README's protocol "
                     "(tinystories_val, 20 windows of 255 tokens; wikitext2 by lines for en10, our own protocol, "
                     "docs/EVAL.md); KL is KL(float || quantized) of the next-token distributions, top-1 the share of "
                     "positions where both pick the same token.\n\n" + table +
                     "\n![perplexity against bits per weight](ppl_vs_bpw.png)\n\n### The papers' claims\n\n" + claims(rows) + "\n")
        sections = []
        for prog, title, extra in (("kashin_quality", "Kashin", []), ("pvq_quality", "PVQ", []),
                                   ("crossquant_quality", "CrossQuant", [])):
            p = os.path.join(bindir, prog)
            if os.path.exists(p):
                text = sh([p, *extra], timeout=7200)
                sections.append(f"### {title} (`build/bin/{prog}`)\n\n" + text)
                if prog == "crossquant_quality":
                    parts[-1] += kernel_claim(text)
        if sections:
            parts.append("## 2. Each method against RTN on weights (the methods' own quality programs)\n\n" + "\n".join(sections))

    if not args.skip_speed:
        speed = ["## 3. Speed\n"]
        for title, run in speed_sections(bindir).values():
            body = run()
            if body is not None:
                speed.append(f"### {title}\n\n" + body)
        if os.path.exists(os.path.join(bindir, "quantd")):
            speed.append("### quantctl across local servers, a 1 GiB checkpoint (`bench/distributed_bench.py`)\n\n" +
                         sh([PY, os.path.join(HERE, "distributed_bench.py"), "--build", args.build], timeout=7200))
        # Recorded runs with their own machine, date and command: a before/after comparison (it
        # needs the old build), and the soak and fuzz runs (long, and the fuzzers need clang).
        speed.append(recorded("job.md"))
        speed.append(recorded("speed.md"))
        speed.append(recorded("hardening.md"))
        parts.append("\n".join(speed))

    cuda = ["## 4. CUDA backend\n"]
    out = sh([os.path.join(bindir, "cuda_bench")], check=False) if os.path.exists(os.path.join(bindir, "cuda_bench")) else ""
    if out and "no CUDA device" not in out:
        cuda.append("Measured in this run (`build/bin/cuda_bench`):\n\n" + out)
    else:
        cuda.append("No GPU on this machine; the last measurement on a GPU machine (bench/results/cuda.md), with its own "
                    "machine, date and command:\n\n" +
                    open(os.path.join(HERE, "results", "cuda.md")).read().split("\n", 1)[1].lstrip("\n"))
    parts.append("\n".join(cuda))
    with open(args.out, "w") as f:
        f.write("\n".join(parts))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
