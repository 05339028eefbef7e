#!/usr/bin/env python3
"""The quality table of bench/RESULTS.md: every method and setting on the real models.

For stories260K and en10 (llama2.c checkpoints in ../shared/data), quantize with each setting
(quantctl quantize, parameter defaults otherwise), then measure: bits per weight over the
quantized tensors (all overhead counted, from the report), mean SQNR, perplexity on
tinystories_val (20 windows, the data README's protocol; and wikitext2 for en10, whose tokenizer
is character-level), KL divergence from the float model and top-1 agreement (quantctl eval).
Writes the markdown table to stdout, the raw rows as JSON (--json) and a gnuplot PNG of
perplexity against bits per weight (--plot).

  bench/quality_table.py [--build build] [--data ../shared/data] [--json rows.json] [--plot ppl.png]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

# (method, label, parameters). Settings of methods this build does not register are skipped.
SETTINGS = [
    ("rtn", "RTN 8-bit", {"bits": "8"}),
    ("rtn", "RTN 4-bit", {"bits": "4"}),
    ("rtn", "RTN 3-bit", {"bits": "3"}),
    ("rtn", "RTN 2-bit", {"bits": "2"}),
    ("kashin", "Kashin 4-bit", {"bits": "4"}),
    ("kashin", "Kashin 3-bit", {"bits": "3"}),
    ("kashin", "Kashin 2-bit", {"bits": "2"}),
    ("pvq", "PVQ 4.125 bpw", {"bits": "4.125"}),
    ("pvq", "PVQ 3.25 bpw", {"bits": "3.25"}),
    ("pvq", "PVQ 2.5 bpw", {"bits": "2.5"}),
    ("crossquant", "CrossQuant 8-bit", {"bits": "8"}),
    ("crossquant", "CrossQuant 4-bit", {"bits": "4"}),
]

MODELS = [
    ("stories260K", "stories260K/stories260K.bin", "stories260K/tok512.bin",
     [("tinystories", "tinystories_val/tinystories_val_first8659lines.txt", "paragraphs")]),
    ("en10", "en10_babyllama_tok105/model5000.bin", "en10_babyllama_tok105/tok105.bin",
     [("tinystories", "tinystories_val/tinystories_val_first8659lines.txt", "paragraphs"),
      ("wikitext2", "wikitext2/wiki.test.raw", "lines")]),
]


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    return r.stdout


def methods(quantctl):
    text = run([quantctl, "quantize", "--help"])
    line = next(l for l in text.splitlines() if "--method" in l)
    return line[line.index("{") + 1:line.index("}")].split(",")


def evaluate(quantctl, model, tokenizer, text, split, reference=None):
    cmd = [quantctl, "eval", "--model", model, "--tokenizer", tokenizer, "--text", text, "--split", split, "--json"]
    if reference:
        cmd += ["--reference", reference]
    return json.loads(run(cmd))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    ap.add_argument("--json")
    ap.add_argument("--plot")
    args = ap.parse_args()
    quantctl = os.path.join(args.build, "bin", "quantctl")
    available = set(methods(quantctl))
    work = tempfile.mkdtemp(prefix="quantd-quality-")
    rows = []
    try:
        for name, binary, tok, texts in MODELS:
            fp = os.path.join(work, name + ".safetensors")
            run([quantctl, "convert-llama2c", os.path.join(args.data, binary), fp])
            tokenizer = os.path.join(args.data, tok)
            floats = {t: evaluate(quantctl, fp, tokenizer, os.path.join(args.data, path), split)
                      for t, path, split in texts}
            rows.append({"model": name, "method": "float", "label": "F32", "bpw": 32.0, "sqnr": None,
                         **{f"{t}_ppl": floats[t]["ppl"] for t, _, _ in texts},
                         **{f"{t}_kl": 0.0 for t, _, _ in texts}, **{f"{t}_top1": 1.0 for t, _, _ in texts}})
            for method, label, params in SETTINGS:
                if method not in available:
                    continue
                q = os.path.join(work, f"{name}-{method}-{'-'.join(params.values())}.safetensors")
                report = os.path.join(work, "report.json")
                flags = [x for k, v in params.items() for x in ("--param", f"{k}={v}")]
                run([quantctl, "quantize", "--progress", "none", "--method", method, *flags, "--report", report, fp, q])
                rep = json.load(open(report))
                quantized = [t for t in rep["tensors"] if t["quantized"]]
                weights = sum(t["shape"][0] * t["shape"][1] for t in quantized)
                bpw = sum(t["bits_per_weight"] * t["shape"][0] * t["shape"][1] for t in quantized) / weights
                sqnrs = [t["sqnr_db"] for t in quantized if t["sqnr_db"] is not None]
                row = {"model": name, "method": method, "label": label, "bpw": bpw,
                       "sqnr": sum(sqnrs) / len(sqnrs) if sqnrs else None}
                for t, path, split in texts:
                    e = evaluate(quantctl, q, tokenizer, os.path.join(args.data, path), split, fp)
                    row[f"{t}_ppl"], row[f"{t}_kl"], row[f"{t}_top1"] = e["ppl"], e["kl"], e["top1"]
                rows.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("| model | setting | bits/weight | mean SQNR dB | ppl tinystories | KL | top-1 | ppl wikitext2 | KL | top-1 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        def f(key, fmt):
            v = r.get(key)
            return "" if v is None else fmt.format(v)
        print(f"| {r['model']} | {r['label']} | {r['bpw']:.3f} | {f('sqnr', '{:.2f}')} | {f('tinystories_ppl', '{:.4f}')} | "
              f"{f('tinystories_kl', '{:.4f}')} | {f('tinystories_top1', '{:.3f}')} | {f('wikitext2_ppl', '{:.3f}')} | "
              f"{f('wikitext2_kl', '{:.4f}')} | {f('wikitext2_top1', '{:.3f}')} |")
    if args.json:
        with open(args.json, "w") as fjson:
            json.dump(rows, fjson, indent=1)
    if args.plot and shutil.which("gnuplot"):
        plot(rows, args.plot)


def plot(rows, path):
    """Perplexity on tinystories against bits per weight, one line per method, one panel per model."""
    data = tempfile.mkdtemp(prefix="quantd-plot-")
    panels = []
    for model in sorted({r["model"] for r in rows}):
        series = []
        for method in ["rtn", "kashin", "pvq", "crossquant"]:
            pts = sorted((r["bpw"], r["tinystories_ppl"]) for r in rows if r["model"] == model and r["method"] == method)
            if not pts:
                continue
            fn = os.path.join(data, f"{model}-{method}.dat")
            with open(fn, "w") as f:
                f.writelines(f"{b} {p}\n" for b, p in pts)
            series.append(f"'{fn}' using 1:2 with linespoints title '{method}'")
        base = next(r["tinystories_ppl"] for r in rows if r["model"] == model and r["method"] == "float")
        panels.append(f"set title '{model}: perplexity on tinystories_val vs bits per weight (float {base:.3f})'\n"
                      f"set arrow from graph 0, first {base} to graph 1, first {base} nohead dt 2\n"
                      f"plot {', '.join(series)}\nunset arrow\n")
    script = ("set terminal pngcairo size 1200,500\n" if "pngcairo" in run(["gnuplot", "-e", "set terminal"]) else
              "set terminal png size 1200,500\n")
    script += (f"set output '{path}'\nset multiplot layout 1,{len(panels)}\nset xlabel 'bits per weight'\n"
               "set termoption noenhanced\nset ylabel 'perplexity'\nset logscale y\nset key top right\nset grid\n" + "".join(panels) + "unset multiplot\n")
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
