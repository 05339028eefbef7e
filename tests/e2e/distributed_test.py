#!/usr/bin/env python3
"""Integration test of quantctl across several quantd processes on loopback.

Checks: results identical to in-process; a server SIGKILLed mid-run (the job completes, output
byte-identical); quantctl SIGKILLed mid-run and re-run (completes, identical, and the journal's
finished chunks are not redone); all servers down (clear error, exit 1, no output); dns:///
resolution; bad --servers strings; a sharded input checkpoint with an index; sharded output;
skip and override rules.

  distributed_test.py QUANTCTL QUANTD
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

QUANTCTL, QUANTD = sys.argv[1], sys.argv[2]
WORK = tempfile.mkdtemp(prefix="quantd-dist-")
SERVERS = []


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def write_safetensors(path, tensors, metadata=None):
    """Minimal independent writer: (name -> (dtype, numpy array of raw values))."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, arr) in tensors.items():
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text.encode() + b"".join(blobs))


def make_checkpoint(folder):
    """Two shards with an index, mixed dtypes, plus config and tokenizer files."""
    os.makedirs(folder)
    rng = np.random.default_rng(1)
    def f32(*s): return ("F32", (rng.standard_normal(s) * 0.02).astype(np.float32))
    def f16(*s): return ("F16", (rng.standard_normal(s) * 0.02).astype(np.float16))
    def bf16(*s):
        x = (rng.standard_normal(s) * 0.02).astype(np.float32)
        return ("BF16", (x.view(np.uint32) >> 16).astype(np.uint16))
    shard1 = {"model.embed_tokens.weight": f16(256, 128), "position_ids": ("I64", np.arange(64, dtype=np.int64))}
    shard2 = {}
    for i in range(3):
        target = shard1 if i == 0 else shard2
        target[f"model.layers.{i}.mlp.up_proj.weight"] = f32(384, 128)
        target[f"model.layers.{i}.self_attn.q_proj.weight"] = bf16(128, 128)
        target[f"model.layers.{i}.mlp.down_proj.weight"] = f16(128, 384)
        target[f"model.layers.{i}.input_layernorm.weight"] = f32(128)
    write_safetensors(f"{folder}/model-00001-of-00002.safetensors", shard1, {"format": "pt"})
    write_safetensors(f"{folder}/model-00002-of-00002.safetensors", shard2, {"format": "pt"})
    wm = {n: "model-00001-of-00002.safetensors" for n in shard1}
    wm.update({n: "model-00002-of-00002.safetensors" for n in shard2})
    with open(f"{folder}/model.safetensors.index.json", "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f)
    with open(f"{folder}/config.json", "w") as f:
        f.write('{"model_type": "test"}\n')
    with open(f"{folder}/tokenizer.json", "w") as f:
        f.write('{"version": "1.0"}\n')


def start_server(delay_ms=0, extra=()):
    p = subprocess.Popen([QUANTD, "--listen", "127.0.0.1:0", "--threads", "1", "--debug-chunk-delay-ms", str(delay_ms),
                          *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    if "listening on port" not in line:
        fail("quantd did not start")
    port = int(line.split()[-1])
    SERVERS.append(p)
    return p, f"127.0.0.1:{port}"


def kill_all():
    for p in SERVERS:
        if p.poll() is None:
            p.kill()
            p.wait()
    SERVERS.clear()


def quantctl(*args, check=True, background=False):
    cmd = [QUANTCTL, "quantize", "--progress", "none", *args]
    if background:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    if check and r.returncode != 0:
        fail(f"quantctl {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r


def same_folder(a, b):
    fa, fb = sorted(os.listdir(a)), sorted(os.listdir(b))
    if fa != fb:
        fail(f"{a} and {b} hold different files: {fa} vs {fb}")
    for name in fa:
        with open(os.path.join(a, name), "rb") as x, open(os.path.join(b, name), "rb") as y:
            if x.read() != y.read():
                fail(f"{name} differs between {a} and {b}")


def journal_entries(path):
    try:
        return len([n for n in os.listdir(path) if n.endswith(".chunk")])
    except FileNotFoundError:
        return 0


def wait_for_entries(journal, n, proc, what):
    deadline = time.time() + 60
    while journal_entries(journal) < n:
        if proc.poll() is not None:
            fail(f"{what}: the run finished before it could be interrupted ({journal_entries(journal)} entries)")
        if time.time() > deadline:
            fail(f"{what}: no progress")
        time.sleep(0.01)


def main():
    src = os.path.join(WORK, "in")
    make_checkpoint(src)
    chunk = ["--chunk-bytes", "8KiB"]

    # In-process baseline (and a sharded output of the same job).
    base = os.path.join(WORK, "base")
    r = quantctl(*chunk, "--report", os.path.join(WORK, "base.json"), src, base)
    report = json.load(open(os.path.join(WORK, "base.json")))
    total_chunks = sum(t["chunks"] for t in report["tensors"] if t["quantized"])
    if sorted(os.listdir(base)) != ["config.json", "model.safetensors", "tokenizer.json"]:
        fail(f"unexpected output files {os.listdir(base)}")
    if os.path.exists(base + ".journal"):
        fail("journal left after success")
    sharded = os.path.join(WORK, "sharded")
    quantctl(*chunk, "--max-shard-size", "200KB", src, sharded)
    index = json.load(open(os.path.join(sharded, "model.safetensors.index.json")))
    shards = sorted(set(index["weight_map"].values()))
    if len(shards) < 2 or not all(os.path.exists(os.path.join(sharded, s)) for s in shards):
        fail(f"sharded output: {shards}")
    for name, f in index["weight_map"].items():  # an encoded tensor's sections stay together
        if "/" in name and index["weight_map"][name.split("/")[0] + "/slices"] != f:
            fail(f"sections of {name.split('/')[0]} are split across shards")
    print(f"baseline: {total_chunks} chunks; sharded output in {len(shards)} files")

    # Three servers: identical output.
    addrs = [start_server()[1] for _ in range(3)]
    remote = os.path.join(WORK, "remote")
    quantctl(*chunk, "--servers", ",".join(addrs), "--report", os.path.join(WORK, "remote.json"), src, remote)
    same_folder(base, remote)
    workers = {w for t in json.load(open(os.path.join(WORK, "remote.json")))["tensors"] if t["quantized"]
               for w in t["chunks_by_worker"]}
    if not workers <= set(addrs) or len(workers) < 2:
        fail(f"work was not spread over the servers: {workers}")
    print("three servers: identical to in-process")

    # Skip and override rules, remote vs in-process.
    rules = ["--skip", "q_proj", "--override", "up_proj=rtn:bits=8,group_size=64"]
    quantctl(*chunk, *rules, "--report", os.path.join(WORK, "rules.json"), src, os.path.join(WORK, "rules_local"))
    quantctl(*chunk, *rules, "--servers", ",".join(addrs), src, os.path.join(WORK, "rules_remote"))
    same_folder(os.path.join(WORK, "rules_local"), os.path.join(WORK, "rules_remote"))
    for t in json.load(open(os.path.join(WORK, "rules.json")))["tensors"]:
        if "q_proj" in t["name"] and (t["quantized"] or t["reason"] != "--skip q_proj"):
            fail(f"skip rule not applied to {t['name']}")
        if "up_proj" in t["name"] and (t["params"]["bits"] != "8" or t["params"]["group_size"] != "64"):
            fail(f"override not applied to {t['name']}")
    print("skip and override rules: applied, identical remote and in-process")

    # PVQ with per-tensor Hessians: the blobs travel once per tensor per stream; same bytes.
    hess = os.path.join(WORK, "hessians.safetensors")
    rng = np.random.default_rng(3)
    hs = {}
    for name in ("model.layers.0.mlp.up_proj.weight", "model.layers.1.mlp.down_proj.weight"):
        cols = 128 if "up_proj" in name else 384
        x = rng.standard_normal((512, cols)).astype(np.float32)
        x[:, 1:] += 0.7 * x[:, :-1]  # correlated inputs
        hs[name] = ("F32", (x.T @ x).astype(np.float32))
    write_safetensors(hess, hs)
    pvq = ["--method", "pvq", "--param", "bits=3.25", "--hessian", hess]
    quantctl(*chunk, *pvq, "--report", os.path.join(WORK, "pvq.json"), src, os.path.join(WORK, "pvq_local"))
    quantctl(*chunk, *pvq, "--servers", ",".join(addrs), src, os.path.join(WORK, "pvq_remote"))
    same_folder(os.path.join(WORK, "pvq_local"), os.path.join(WORK, "pvq_remote"))
    aware = sorted(t["name"] for t in json.load(open(os.path.join(WORK, "pvq.json")))["tensors"]
                   if t["quantized"] and t["params"].get("use_hessian") == "true")
    if aware != sorted(hs):
        fail(f"Hessian-aware tensors: {aware}")
    print("pvq with Hessians: identical remote and in-process")

    # Kashin, rows mode (chunked) and matrix mode (each tensor sent whole), remote vs in-process.
    for mode in ("rows", "matrix"):
        args = ["--method", "kashin", "--param", "bits=3", "--param", f"mode={mode}"]
        quantctl(*chunk, *args, "--report", os.path.join(WORK, "k.json"), src, os.path.join(WORK, f"k_{mode}_local"))
        quantctl(*chunk, *args, "--servers", ",".join(addrs), src, os.path.join(WORK, f"k_{mode}_remote"))
        same_folder(os.path.join(WORK, f"k_{mode}_local"), os.path.join(WORK, f"k_{mode}_remote"))
        chunks = {t["chunks"] for t in json.load(open(os.path.join(WORK, "k.json")))["tensors"] if t["quantized"]}
        if (mode == "matrix") != (chunks == {1}):
            fail(f"kashin {mode} mode: chunks per tensor {chunks}")
    print("kashin rows and matrix modes: identical remote and in-process")

    # dns:/// resolution (localhost may also resolve to ::1, where nothing listens: that backend
    # is set aside and the job still completes).
    port = addrs[0].split(":")[1]
    dns_out = os.path.join(WORK, "dns")
    quantctl(*chunk, "--servers", f"dns:///localhost:{port}", src, dns_out)
    same_folder(base, dns_out)
    print("dns:///localhost resolution: ok")
    kill_all()

    # A server SIGKILLed mid-run: the job completes with identical output.
    procs_addrs = [start_server(delay_ms=10) for _ in range(3)]
    addrs = [a for _, a in procs_addrs]
    out = os.path.join(WORK, "killed_server")
    job = quantctl(*chunk, "--window", "1", "--servers", ",".join(addrs), "--report", os.path.join(WORK, "ks.json"),
                   src, out, background=True)
    wait_for_entries(out + ".journal", total_chunks // 4, job, "server kill")
    procs_addrs[1][0].kill()
    if job.wait(timeout=120) != 0:
        fail("job did not survive a server kill: " + job.stderr.read())
    same_folder(base, out)
    ks = json.load(open(os.path.join(WORK, "ks.json")))
    retries = sum(t["retries"] for t in ks["tensors"] if t["quantized"])
    print(f"server SIGKILLed mid-run: completed, identical ({retries} chunk retries)")

    # quantctl SIGKILLed mid-run, then re-run: resumes from the journal.
    out = os.path.join(WORK, "killed_client")
    live = [a for p, a in procs_addrs if p.poll() is None]
    args = [*chunk, "--window", "1", "--servers", ",".join(live), src, out]
    job = quantctl(*args, background=True)
    wait_for_entries(out + ".journal", total_chunks // 3, job, "client kill")
    job.kill()
    job.wait()
    done = journal_entries(out + ".journal")
    if os.path.exists(out):
        fail("a killed run left an output folder")
    quantctl(*args[:-2], "--report", os.path.join(WORK, "resume.json"), src, out)
    same_folder(base, out)
    resumed = json.load(open(os.path.join(WORK, "resume.json")))["resumed_chunks"]
    if resumed != done:
        fail(f"re-run resumed {resumed} chunks, the journal held {done}")
    if os.path.exists(out + ".journal"):
        fail("journal left after the resumed run")
    print(f"quantctl SIGKILLed mid-run: re-run resumed {done} of {total_chunks} chunks, identical output")

    # All servers down: clear error, exit 1, no output.
    kill_all()
    out = os.path.join(WORK, "down")
    start = time.time()
    r = quantctl(*chunk, "--servers", ",".join(addrs), src, out, check=False)
    if r.returncode != 1 or "no quantd server could make progress" not in r.stderr or not all(a in r.stderr for a in addrs):
        fail(f"all servers down: exit {r.returncode}, {r.stderr!r}")
    if os.path.exists(out):
        fail("all servers down: output written")
    print(f"all servers down: exit 1 after {time.time() - start:.1f} s, every server named")

    # TLS with client certificates and a bearer token. The certificate names only "quantd.test",
    # as a certificate shared by the pods of a Service would: --tls-server-name makes it match.
    certs = os.path.join(WORK, "certs")
    os.makedirs(certs)
    script = (
        "set -e; cd " + certs + "; "
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca 2>/dev/null; "
        "printf 'subjectAltName=DNS:quantd.test\\n' > san.ext; "
        "openssl req -newkey rsa:2048 -nodes -keyout s.key -out s.csr -subj /CN=quantd.test 2>/dev/null; "
        "openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out s.pem -days 2 -extfile san.ext 2>/dev/null; "
        "openssl req -newkey rsa:2048 -nodes -keyout c.key -out c.csr -subj /CN=client 2>/dev/null; "
        "openssl x509 -req -in c.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out c.pem -days 2 2>/dev/null; "
        "echo s3cret > token; echo wrong > bad-token")
    subprocess.run(["bash", "-c", script], check=True)
    c = lambda n: os.path.join(certs, n)
    _, addr = start_server(extra=["--tls-cert", c("s.pem"), "--tls-key", c("s.key"), "--tls-client-ca", c("ca.pem"),
                                  "--token-file", c("token")])
    client = ["--servers", addr, "--tls-ca", c("ca.pem"), "--tls-cert", c("c.pem"), "--tls-key", c("c.key")]
    tls_out = os.path.join(WORK, "tls")
    quantctl(*chunk, *client, "--tls-server-name", "quantd.test", "--token-file", c("token"), src, tls_out)
    same_folder(base, tls_out)
    r = quantctl(*chunk, *client, "--token-file", c("token"), src, os.path.join(WORK, "tls2"), check=False)
    if r.returncode != 1 or "no quantd server could make progress" not in r.stderr:
        fail(f"TLS without --tls-server-name: exit {r.returncode}, {r.stderr}")
    r = quantctl(*chunk, *client, "--tls-server-name", "quantd.test", "--token-file", c("bad-token"), src,
                 os.path.join(WORK, "tls3"), check=False)
    if r.returncode != 1 or "UNAUTHENTICATED" not in r.stderr:
        fail(f"wrong token: exit {r.returncode}, {r.stderr}")
    kill_all()
    print("mTLS + token: identical; a certificate that does not name the server and a wrong token both fail clearly")

    # Bad --servers strings.
    for bad in ["nope", "host:", ":80", "h:99999", "http://h:1", "a:1,,b:2", "[::1:5"]:
        r = quantctl("--servers", bad, src, os.path.join(WORK, "x"), check=False)
        if r.returncode != 2 or "--servers" not in r.stderr:
            fail(f"--servers {bad!r}: exit {r.returncode}, {r.stderr}")
    r = quantctl("--servers", "dns:///no-such-host.invalid:50051", src, os.path.join(WORK, "x"), check=False)
    if r.returncode != 1 or "cannot resolve" not in r.stderr:
        fail(f"unresolvable host: exit {r.returncode}, {r.stderr}")
    print("bad --servers: exit 2; unresolvable host: exit 1")


if __name__ == "__main__":
    try:
        main()
    finally:
        kill_all()
        shutil.rmtree(WORK, ignore_errors=True)
    print("distributed: all checks passed")
