#!/usr/bin/env python3
"""Cross-checks the deployment files against the built programs and against each other:
every YAML file under deploy/ and docker-compose.yml parses; every kustomization renders (overlays
alone and with each component); every flag that a manifest, the compose file or the Dockerfile
passes to quantd or quantctl is one their --help lists, with a valid value; ports, probes,
Services, the PodDisruptionBudget, the autoscaler, the Job's --servers and volumes, the image's
user and ports, and the Secrets docs/DEPLOY.md creates all agree. Renaming a flag in a program or
in a manifest fails this test.

  check_deploy.py --quantd BIN --quantctl BIN --source DIR
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dockerfile  # noqa: E402
import k8s_checks  # noqa: E402
from cli_help import Program  # noqa: E402
from containers import Run, check_paths, host_port, program_of  # noqa: E402
from kustomize_lite import RenderError, render  # noqa: E402

K8S = "deploy/k8s"


def check_dockerfile(src, quantd, version, errors):
    """Returns (entrypoint, uid, gid, exposed ports)."""
    args, stages = dockerfile.parse(os.path.join(src, "Dockerfile"))
    named = {s.name: s for s in stages}
    for variant in ("cpu", "cuda"):
        build, base = named.get(f"build-{variant}"), named.get(f"base-{variant}")
        if build is None or base is None:
            errors.append(f"Dockerfile: no build-{variant} / base-{variant} stage")
            continue
        # The build stage is scripts/docker-build-stage.sh and nothing else: the test suite runs
        # the same script (image_recipe_test.sh), and its packages are scripts/setup.sh's.
        runs = build.all("RUN")
        if len(runs) != 1 or not runs[0].startswith("scripts/docker-build-stage.sh /build /install"):
            errors.append(f"Dockerfile: build-{variant} must RUN only scripts/docker-build-stage.sh, runs {runs}")
        want_cuda = "-DQUANTD_CUDA=" + ("ON" if variant == "cuda" else "OFF")
        if runs and want_cuda not in runs[0]:
            errors.append(f"Dockerfile: build-{variant} does not pass {want_cuda}")
    if "nvidia/cuda" not in dockerfile.expand(named["base-cuda"].base, args) or "runtime" not in args.get(
            "CUDA_RUNTIME_IMAGE", ""):
        errors.append("Dockerfile: the CUDA variant must run on an NVIDIA CUDA runtime image")
    if args.get("VARIANT") != "cpu":
        errors.append("Dockerfile: VARIANT must default to cpu")

    runtime = stages[-1]
    if runtime.name != "runtime" or runtime.base != "base-${VARIANT}":
        errors.append("Dockerfile: the last stage must be `FROM base-${VARIANT} AS runtime`")
    if "--from=build /install/ /" not in runtime.all("COPY"):
        errors.append("Dockerfile: runtime must COPY --from=build /install/ /")
    run = " ".join(runtime.all("RUN"))
    if "xargs -a /usr/local/share/quantd/runtime-packages.txt apt-get install" not in run:
        errors.append("Dockerfile: runtime must install exactly the build stage's runtime-packages.txt")
    if "apt-get install" in run.replace("apt-get install -y -qq --no-install-recommends", "", 1):
        errors.append("Dockerfile: runtime installs packages besides runtime-packages.txt")

    (user,) = runtime.all("USER") or ["root"]
    m = re.fullmatch(r"(\d+):(\d+)", user)
    if not m or int(m.group(1)) == 0:
        errors.append(f"Dockerfile: USER {user} must be a numeric non-root uid:gid")
        uid = gid = None
    else:
        uid, gid = int(m.group(1)), int(m.group(2))
    entrypoint = json.loads(runtime.all("ENTRYPOINT")[0])
    cmd = json.loads(runtime.all("CMD")[0])
    if program_of(None, entrypoint)[0] != "quantd":
        errors.append(f"Dockerfile: ENTRYPOINT {entrypoint} is not the installed quantd")
    flags, positionals, errs = quantd.check(cmd, "Dockerfile CMD")
    errors += errs
    listens = {f: host_port(flags[f][0])[1] for f in ("--listen", "--health-listen", "--metrics-listen") if f in flags}
    exposed = {int(p) for e in runtime.all("EXPOSE") for p in e.split()}
    if set(listens.values()) != exposed or len(listens) != 3:
        errors.append(f"Dockerfile: EXPOSE {sorted(exposed)} is not the CMD's listen ports {listens}")
    return entrypoint, uid, gid, exposed


def render_all(src, errors):
    """{label: resources} for each server overlay alone and with each component, the Job alone and
    with each component, and the checkpoint volume."""
    out = {}
    components = sorted(glob.glob(os.path.join(src, K8S, "components", "*")))
    targets = sorted(glob.glob(os.path.join(src, K8S, "overlays", "*"))) + [os.path.join(src, K8S, "job")]
    for target in targets:
        label = os.path.relpath(target, os.path.join(src, K8S))
        for comp in [None] + components:
            # The Job takes only components that patch a Job (tls), not the servers' autoscaler.
            if comp and target.endswith("job") and "kind: Job" not in open(os.path.join(comp, "kustomization.yaml")).read():
                continue
            name = label + ("" if comp is None else "+" + os.path.basename(comp))
            try:
                out[name] = render(target, [comp] if comp else [])
            except (RenderError, KeyError, IndexError, ValueError) as e:
                errors.append(f"kustomize {name}: {e}")
    try:
        out["checkpoints"] = render(os.path.join(src, K8S, "checkpoints"))
    except RenderError as e:
        errors.append(f"kustomize checkpoints: {e}")
    return out


def check_k8s(src, rendered, quantd, quantctl, entrypoint, uid, gid, exposed, version, errors):
    health_services = {"", proto_service(src)}
    pvc_names = {r["metadata"]["name"] for r in rendered.get("checkpoints", []) if r["kind"] == "PersistentVolumeClaim"}
    servers = {}
    for label, resources in rendered.items():
        where = len(errors)
        k8s_checks.check_namespaces(resources, label, errors)
        for r in resources:
            if k8s_checks.pod_spec(r) is not None:
                k8s_checks.check_pod_security(r, uid, gid, errors)
                for c in k8s_checks.pod_spec(r)["containers"]:
                    want = version + ("-cuda" if label.startswith("overlays/gpu") else "")
                    if c["image"].rsplit(":", 1)[-1] != want:
                        errors.append(f"image {c['image']} is not tagged {want} (quantd --version)")
        errors[where:] = [e if e.startswith(label) else f"{label}: {e}" for e in errors[where:]]
        deps = k8s_checks.by_kind(resources, "Deployment")
        if label.startswith("overlays/"):
            if len(deps) != 1:
                errors.append(f"{label}: expected the quantd Deployment, found {len(deps)}")
                continue
            where = len(errors)
            run = k8s_checks.check_server(deps[0], resources, quantd, entrypoint, health_services, errors)
            errors[where:] = [f"{label}: {e}" for e in errors[where:]]
            servers[label] = (run, resources)
            if not run.ports <= exposed:
                errors.append(f"{label}: container ports {sorted(run.ports)} are not all EXPOSEd by the image")
            if label.startswith("overlays/gpu"):
                k8s_checks.check_gpu(deps[0], errors)
    # Each Job variant against the cpu servers with the same component (TLS on both, or neither).
    for label, resources in rendered.items():
        if not label.startswith("job"):
            continue
        jobs = k8s_checks.by_kind(resources, "Job")
        if len(jobs) != 1:
            errors.append(f"{label}: expected one Job, found {len(jobs)}")
            continue
        server = servers.get("overlays/cpu" + label[len("job"):])
        if server is None:
            errors.append(f"{label}: no overlays/cpu rendering to check it against")
            continue
        where = len(errors)
        k8s_checks.check_job(jobs[0], server[0], server[1], quantctl, entrypoint, pvc_names, errors)
        errors[where:] = [f"{label}: {e}" for e in errors[where:]]
    for r in rendered.get("checkpoints", []):
        if r["kind"] == "Pod":
            ((c, run),) = k8s_checks.runs_of(r, entrypoint)
            if run.program in ("quantd", "quantctl"):
                errors.append(f"checkpoints: the shell pod should idle, it runs {run.program}")
    return servers


def proto_service(src):
    text = "".join(open(p).read() for p in glob.glob(os.path.join(src, "proto", "**", "*.proto"), recursive=True))
    return re.search(r"^package ([\w.]+);", text, re.M).group(1) + "." + re.search(r"^service (\w+)", text, re.M).group(1)


def check_compose(src, quantd, quantctl, entrypoint, uid, gid, exposed, version, errors):
    with open(os.path.join(src, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    listen = {}
    runs = {}
    for name, s in services.items():
        where = f"docker-compose.yml {name}"
        if s.get("image") != f"quantd:{version}" or "build" not in s:
            errors.append(f"{where}: must build and use image quantd:{version}, has {s.get('image')}")
        if s.get("user") != f"{uid}:{gid}" or s.get("read_only") is not True or s.get("cap_drop") != ["ALL"]:
            errors.append(f"{where}: must run as {uid}:{gid}, read_only, cap_drop ALL")
        program, args = program_of(s.get("entrypoint"), entrypoint)
        mounts = [(t, True, "tmpfs") for t in s.get("tmpfs", [])]
        for v in s.get("volumes", []):
            parts = v.rsplit(":", 2) if v.count(":") >= 2 else v.split(":")
            mounts.append((parts[1], not (len(parts) > 2 and parts[2] == "ro"), "volume:" + parts[0]))
        run = Run(where, program, args + list(s.get("command", [])), mounts)
        runs[name] = run
        prog = quantd if program == "quantd" else quantctl
        flags, positionals, errs = prog.check(run.args, where)
        errors += errs
        check_paths(run, flags, positionals, errors)
        run.flags, run.positionals = flags, positionals
        if program == "quantd":
            ports = {f: host_port(flags[f][0])[1] for f in ("--listen", "--health-listen", "--metrics-listen") if f in flags}
            listen[name] = ports.get("--listen")
            if set(ports.values()) != exposed:
                errors.append(f"{where}: listens on {ports}, the image EXPOSEs {sorted(exposed)}")
            probe = " ".join(s.get("healthcheck", {}).get("test", []))
            if f"/dev/tcp/127.0.0.1/{ports.get('--health-listen')}" not in probe:
                errors.append(f"{where}: healthcheck does not probe --health-listen's port {ports.get('--health-listen')}")
            grace = float(flags.get("--grace-seconds", ["30"])[0])
            stop = float(str(s.get("stop_grace_period", "10s")).rstrip("s"))
            if stop < grace + k8s_checks.SHUTDOWN_MARGIN_S:
                errors.append(f"{where}: stop_grace_period {stop}s leaves under {k8s_checks.SHUTDOWN_MARGIN_S} s "
                              f"after --grace-seconds {grace}")
            for p in s.get("ports", []):
                if int(str(p).rsplit(":", 1)[-1]) not in exposed:
                    errors.append(f"{where}: publishes {p}, not a port quantd listens on")
    quantize = [r for r in runs.values() if r.program == "quantctl" and r.args[:1] == ["quantize"]]
    convert = [r for r in runs.values() if r.program == "quantctl" and r.args[:1] == ["convert-llama2c"]]
    if len(quantize) != 1 or len(convert) != 1 or len(listen) != 3:
        errors.append("docker-compose.yml: expected three quantd servers, one convert and one quantize run")
        return
    q, cv = quantize[0], convert[0]
    wanted = sorted(f"{n}:{p}" for n, p in listen.items())
    if sorted(q.flags.get("--servers", [""])[0].split(",")) != wanted:
        errors.append(f"docker-compose.yml: quantize --servers {q.flags.get('--servers')} is not the servers {wanted}")
    if cv.positionals[1:] != q.positionals[:1]:
        errors.append(f"docker-compose.yml: quantize reads {q.positionals[:1]}, convert writes {cv.positionals[1:]}")
    deps = set(services["quantize"].get("depends_on", {}))
    if deps != set(listen) | {"convert"}:
        errors.append(f"docker-compose.yml: quantize depends on {sorted(deps)}, not the servers and convert")


def check_docs(src, rendered, errors):
    """Every Secret the manifests mount is created by docs/DEPLOY.md with the keys they read, and
    every `kubectl apply -k` there names a kustomization."""
    with open(os.path.join(src, "docs", "DEPLOY.md")) as f:
        doc = f.read().replace("\\\n", " ")
    created = {}
    for m in re.finditer(r"create secret generic ([\w-]+)((?: +--from-(?:file|literal)=[^ \n]+)+)", doc):
        created[m.group(1)] = set(re.findall(r"--from-(?:file|literal)=([\w.-]+)=", m.group(2)))
    for label, resources in rendered.items():
        for r in resources:
            spec = k8s_checks.pod_spec(r)
            if spec is None:
                continue
            secrets = {v["name"]: v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
            for c in spec["containers"]:
                for vm in c.get("volumeMounts", []):
                    if vm["name"] not in secrets:
                        continue
                    secret = secrets[vm["name"]]
                    keys = {a.split("=", 1)[1][len(vm["mountPath"]) + 1:] for a in c.get("args", [])
                            if "=" in a and a.split("=", 1)[1].startswith(vm["mountPath"] + "/")}
                    if secret not in created:
                        errors.append(f"{label}: docs/DEPLOY.md never creates Secret {secret}")
                    elif keys - created[secret]:
                        errors.append(f"{label}: reads {sorted(keys - created[secret])} from Secret {secret}, "
                                      f"which docs/DEPLOY.md creates with {sorted(created[secret])}")
    for path in re.findall(r"kubectl apply -k ([\w/.-]+)", doc):
        if not os.path.isfile(os.path.join(src, path, "kustomization.yaml")):
            errors.append(f"docs/DEPLOY.md: kubectl apply -k {path}: no kustomization there")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quantd", required=True)
    ap.add_argument("--quantctl", required=True)
    ap.add_argument("--source", required=True)
    a = ap.parse_args()
    src = a.source
    errors = []
    files = sorted(glob.glob(os.path.join(src, "deploy", "**", "*.yaml"), recursive=True))
    files.append(os.path.join(src, "docker-compose.yml"))
    for path in files:
        try:
            with open(path) as f:
                list(yaml.safe_load_all(f))
        except yaml.YAMLError as e:
            errors.append(f"{path}: {e}")

    quantd = Program(a.quantd)
    quantctl = Program(a.quantctl, subcommands=True)
    version = subprocess.run([a.quantd, "--version"], capture_output=True, text=True, check=True).stdout.split()[-1]
    entrypoint, uid, gid, exposed = check_dockerfile(src, quantd, version, errors)
    rendered = render_all(src, errors)
    check_k8s(src, rendered, quantd, quantctl, entrypoint, uid, gid, exposed, version, errors)
    check_compose(src, quantd, quantctl, entrypoint, uid, gid, exposed, version, errors)
    check_docs(src, rendered, errors)

    for e in errors:
        print("FAIL: " + e)
    print(f"deploy check: {len(files)} YAML files, {len(rendered)} kustomize renderings, "
          f"{len(quantd.options)} quantd flags, {len(quantctl.subcommands)} quantctl subcommands; "
          f"{len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
