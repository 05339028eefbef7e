"""Checks of rendered Kubernetes manifests (deploy/k8s) against the programs' real command lines
and against each other. Each function appends messages to `errors`."""
import re

from containers import Run, check_paths, host_port, mount_of, program_of
from kustomize_lite import pod_spec

NAMESPACE = "quantd"
# quantd needs up to about 6 s after --grace-seconds to close connections and its pool
# (server/quantd_server.cc); the kubelet's SIGKILL must come later still.
SHUTDOWN_MARGIN_S = 10
MIB = 1 << 20
# docs/DEPLOY.md, "Memory": quantd's RSS stays under
#   base + caches + RSS_FACTOR x budget + calls x (2 x largest message + receive window)
# (measured by bench/soak.cc; the caches are the method limits GetInfo publishes: PVQ counting
# tables 256 MiB, Kashin transforms 512 MiB).
QUANTD_BASE_BYTES = 64 * MIB
QUANTD_CACHE_BYTES = 768 * MIB
RSS_FACTOR = 2.5
DEFAULT_WINDOW_BYTES = 1 * MIB
MEMORY_UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "": 1}


def memory_bytes(q):
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|)", str(q))
    return int(m.group(1)) * MEMORY_UNITS[m.group(2)]


def by_kind(resources, kind):
    return [r for r in resources if r["kind"] == kind]


def runs_of(resource, entrypoint):
    """One Run per container of a workload."""
    spec = pod_spec(resource)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    out = []
    for c in spec["containers"]:
        where = f"{resource['kind']}/{resource['metadata']['name']}/{c['name']}"
        program, args = program_of(c.get("command"), entrypoint)
        mounts = []
        for vm in c.get("volumeMounts", []):
            v = volumes.get(vm["name"], {})
            what = next((f"{k}:{v[k].get('secretName') or v[k].get('claimName') or ''}" for k in
                         ("secret", "persistentVolumeClaim", "emptyDir", "configMap") if k in v), "missing")
            mounts.append((vm["mountPath"], not vm.get("readOnly", False) and what.split(":")[0] in
                           ("persistentVolumeClaim", "emptyDir"), what))
        ports = [p["containerPort"] for p in c.get("ports", [])]
        env = {e["name"]: e for e in c.get("env", [])}
        out.append((c, Run(where, program, args + c.get("args", []), mounts, ports, env)))
    return out


def check_pod_security(resource, uid, gid, errors):
    spec = pod_spec(resource)
    name = f"{resource['kind']}/{resource['metadata']['name']}"
    sc = spec.get("securityContext", {})
    if sc.get("runAsNonRoot") is not True:
        errors.append(f"{name}: securityContext.runAsNonRoot must be true")
    if (sc.get("runAsUser"), sc.get("runAsGroup")) != (uid, gid):
        errors.append(f"{name}: runs as {sc.get('runAsUser')}:{sc.get('runAsGroup')}, the image's user is {uid}:{gid}")
    if spec.get("automountServiceAccountToken") is not False:
        errors.append(f"{name}: automountServiceAccountToken should be false (quantd needs no API access)")
    for c in spec["containers"]:
        csc = c.get("securityContext", {})
        if csc.get("readOnlyRootFilesystem") is not True:
            errors.append(f"{name}/{c['name']}: readOnlyRootFilesystem must be true")
        if csc.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{name}/{c['name']}: allowPrivilegeEscalation must be false")
        if csc.get("capabilities", {}).get("drop") != ["ALL"]:
            errors.append(f"{name}/{c['name']}: capabilities must drop ALL")
    for v in spec.get("volumes", []):
        # Secret files belong to root: the user reads them through fsGroup or the others' bits.
        if "secret" in v:
            mode = v["secret"].get("defaultMode", 0o644)
            if not (mode & 0o004 or (mode & 0o040 and sc.get("fsGroup") == gid)):
                errors.append(f"{name}: secret volume {v['name']} (mode {oct(mode)}) is unreadable by {uid}:{gid}")


def check_env_refs(run, errors):
    for a in run.args:
        for var in re.findall(r"\$\((\w+)\)", a):
            if var not in run.env:
                errors.append(f"{run.where}: {a} uses $({var}), which the container's env does not define")


def check_server(dep, resources, quantd, entrypoint, health_services, errors):
    """The quantd Deployment, its Services, PodDisruptionBudget and autoscaler. Returns the Run."""
    ((c, run),) = runs_of(dep, entrypoint)
    name = run.where
    if run.program != "quantd":
        errors.append(f"{name}: runs {run.program}, not quantd")
        return run
    before = len(errors)
    flags, positionals, errs = quantd.check(run.args, name)
    errors += errs
    if positionals:
        errors.append(f"{name}: quantd takes no positional arguments: {positionals}")
    for f, values in flags.items():
        if len(values) > 1:
            errors.append(f"{name}: {f} is given {len(values)} times")
    for f in ("--listen", "--health-listen", "--metrics-listen", "--grace-seconds", "--token-file", "--threads"):
        if f not in flags:
            errors.append(f"{name}: {f} is missing")
    if len(errors) > before:
        return run
    check_env_refs(run, errors)
    check_paths(run, flags, positionals, errors)

    ports = {}
    for f in ("--listen", "--health-listen", "--metrics-listen"):
        host, port = host_port(flags[f][0])
        ports[f] = port
        if host not in ("0.0.0.0", "[::]"):
            errors.append(f"{name}: {f}={flags[f][0]} must bind every address: probes and clients come in on the pod IP")
        if port not in run.ports:
            errors.append(f"{name}: {f} port {port} is not a containerPort {sorted(run.ports)}")
    named = {p["name"]: p["containerPort"] for p in c.get("ports", [])}

    for probe in ("readinessProbe", "livenessProbe"):
        g = c.get(probe, {}).get("grpc")
        if g is None:
            errors.append(f"{name}: {probe} must be a gRPC probe on the health service")
            continue
        if g.get("port") != ports["--health-listen"]:
            errors.append(f"{name}: {probe} port {g.get('port')} is not --health-listen's {ports['--health-listen']}")
        if g.get("service", "") not in health_services:
            errors.append(f"{name}: {probe} asks for service {g.get('service')!r}; quantd serves {sorted(health_services)}")
    if c["readinessProbe"]["grpc"].get("service", "") == "":
        errors.append(f"{name}: readiness should ask for the Quantizer service, which goes NOT_SERVING on drain")

    spec = pod_spec(dep)
    grace = float(flags["--grace-seconds"][0])
    if spec.get("terminationGracePeriodSeconds", 30) < grace + SHUTDOWN_MARGIN_S:
        errors.append(f"{name}: terminationGracePeriodSeconds {spec.get('terminationGracePeriodSeconds', 30)} "
                      f"leaves under {SHUTDOWN_MARGIN_S} s after --grace-seconds {grace}")
    ann = dep["spec"]["template"]["metadata"].get("annotations", {})
    if ann.get("prometheus.io/port") != str(ports["--metrics-listen"]):
        errors.append(f"{name}: prometheus.io/port {ann.get('prometheus.io/port')} is not --metrics-listen's port")

    res = c.get("resources", {})
    if "cpu" not in res.get("requests", {}) or "memory" not in res.get("limits", {}):
        errors.append(f"{name}: needs a cpu request and a memory limit")
        return run
    missing = [f for f in ("--max-inflight-bytes", "--max-calls", "--max-message-bytes") if f not in flags]
    if missing:
        errors.append(f"{name}: set {', '.join(missing)} explicitly: they size quantd's memory")
    else:
        budget = int(flags["--max-inflight-bytes"][0])
        calls = int(flags["--max-calls"][0])
        message = int(flags["--max-message-bytes"][0])
        window = int(flags["--stream-window-bytes"][0]) if "--stream-window-bytes" in flags else DEFAULT_WINDOW_BYTES
        bound = QUANTD_BASE_BYTES + QUANTD_CACHE_BYTES + RSS_FACTOR * budget + calls * (2 * message + window)
        if bound > memory_bytes(res["limits"]["memory"]):
            errors.append(f"{name}: quantd may use up to {bound / MIB:.0f} MiB (docs/DEPLOY.md, Memory) with "
                          f"--max-inflight-bytes {budget}, --max-calls {calls}, --max-message-bytes {message}; "
                          f"the memory limit is {res['limits']['memory']}")
    threads = run.env.get("QUANTD_THREADS", {}).get("valueFrom", {}).get("resourceFieldRef", {})
    if flags["--threads"][0] == "$(QUANTD_THREADS)" and (threads.get("resource"), threads.get("containerName")) != (
            "requests.cpu", c["name"]):
        errors.append(f"{name}: QUANTD_THREADS must come from this container's requests.cpu")

    check_selectors(dep, resources, named, ports, errors)
    return run


def check_selectors(dep, resources, named_ports, ports, errors):
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    selector = dep["spec"]["selector"]["matchLabels"]
    if any(pod_labels.get(k) != v for k, v in selector.items()):
        errors.append("Deployment/quantd: its selector does not match its pod labels")
    services = by_kind(resources, "Service")
    if not any(s["spec"].get("clusterIP") == "None" for s in services):
        errors.append("no headless Service (clusterIP: None) for quantctl to shard over")
    if not any(s["spec"].get("type", "ClusterIP") == "ClusterIP" and s["spec"].get("clusterIP") != "None"
               for s in services):
        errors.append("no ClusterIP Service")
    for s in services:
        sel = s["spec"].get("selector", {})
        if not sel or any(pod_labels.get(k) != v for k, v in sel.items()):
            errors.append(f"Service/{s['metadata']['name']}: selector {sel} does not select the quantd pods")
        for p in s["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            target = named_ports.get(target, target)
            if target not in named_ports.values():
                errors.append(f"Service/{s['metadata']['name']}: targetPort {p.get('targetPort')} is no container port")
        if not any(named_ports.get(p.get("targetPort"), p.get("targetPort")) == ports["--listen"]
                   for p in s["spec"]["ports"]):
            errors.append(f"Service/{s['metadata']['name']}: no port leads to --listen's {ports['--listen']}")
    pdbs = by_kind(resources, "PodDisruptionBudget")
    if len(pdbs) != 1:
        errors.append(f"expected one PodDisruptionBudget, found {len(pdbs)}")
    for p in pdbs:
        if p["spec"]["selector"].get("matchLabels") != selector:
            errors.append("PodDisruptionBudget: its selector is not the Deployment's")
        if "maxUnavailable" not in p["spec"] and "minAvailable" not in p["spec"]:
            errors.append("PodDisruptionBudget: sets neither maxUnavailable nor minAvailable")
    for h in by_kind(resources, "HorizontalPodAutoscaler"):
        ref = h["spec"]["scaleTargetRef"]
        if (ref["kind"], ref["name"]) != ("Deployment", dep["metadata"]["name"]):
            errors.append(f"HorizontalPodAutoscaler: scales {ref['kind']}/{ref['name']}, not the quantd Deployment")
        if "replicas" in dep["spec"]:
            errors.append("Deployment/quantd: with an autoscaler, a fixed replicas would be reset at every apply")
        if h["spec"].get("minReplicas", 1) < 2:
            errors.append("HorizontalPodAutoscaler: minReplicas under 2 leaves no server when one fails")


def check_job(job, server_run, server_resources, quantctl, entrypoint, pvc_names, errors):
    """The quantctl Job against the servers it talks to (one rendered server overlay)."""
    ((c, run),) = runs_of(job, entrypoint)
    name = run.where
    if run.program != "quantctl" or not run.args or run.args[0] != "quantize":
        errors.append(f"{name}: must run quantctl quantize, runs {run.program} {run.args[:1]}")
        return
    flags, positionals, errs = quantctl.check(run.args, name)
    errors += errs
    check_env_refs(run, errors)
    check_paths(run, flags, positionals, errors)
    if len(positionals) != 2:
        errors.append(f"{name}: quantize takes INPUT and OUTPUT, got {positionals}")
        return

    # --servers names the headless Service, on the port that leads to quantd's --listen.
    servers = flags.get("--servers", [""])[0]
    m = re.fullmatch(r"dns:///([\w-]+)\.([\w-]+)\.svc\.cluster\.local:(\d+)", servers)
    headless = {s["metadata"]["name"]: s for s in by_kind(server_resources, "Service") if s["spec"].get("clusterIP") == "None"}
    if not m:
        errors.append(f"{name}: --servers={servers} is not dns:///SERVICE.NAMESPACE.svc.cluster.local:PORT")
    elif m.group(1) not in headless:
        errors.append(f"{name}: --servers names {m.group(1)}, not a headless Service ({sorted(headless)})")
    else:
        svc = headless[m.group(1)]
        if m.group(2) != svc["metadata"].get("namespace"):
            errors.append(f"{name}: --servers namespace {m.group(2)} is not the Service's {svc['metadata'].get('namespace')}")
        if not any(p["port"] == int(m.group(3)) and p.get("targetPort") == "grpc" for p in svc["spec"]["ports"]):
            errors.append(f"{name}: --servers port {m.group(3)} is not the Service's gRPC port")
    server_flags = quantd_flags(server_run)
    for client_flag, server_flag in (("--token-file", "--token-file"), ("--tls-ca", "--tls-cert"),
                                     ("--tls-cert", "--tls-client-ca"), ("--tls-key", "--tls-client-ca")):
        if (client_flag in flags) != (server_flag in server_flags):
            errors.append(f"{name}: {client_flag} {'given' if client_flag in flags else 'missing'} while the "
                          f"servers {'use' if server_flag in server_flags else 'do not use'} {server_flag}")

    # The checkpoint comes from the claim, and the result, journal and report go beside it.
    src, dst = positionals
    journal = flags.get("--journal", [None])[0]
    if journal is None:
        errors.append(f"{name}: --journal must be set on the volume, so that a new pod resumes")
    for label, path in (("INPUT", src), ("OUTPUT", dst), ("--journal", journal),
                        ("--report", flags.get("--report", [None])[0])):
        if path is None:
            continue
        mount = mount_of(run, path)
        if mount is None or not mount[2].startswith("persistentVolumeClaim:"):
            errors.append(f"{name}: {label} {path} is not on the checkpoint volume")
        elif mount[2].split(":", 1)[1] not in pvc_names:
            errors.append(f"{name}: claim {mount[2]} is not one deploy/k8s/checkpoints creates ({sorted(pvc_names)})")
    if src.rsplit("/", 1)[0] != dst.rsplit("/", 1)[0]:
        errors.append(f"{name}: OUTPUT {dst} is not beside INPUT {src}")

    spec = job["spec"]
    if spec.get("backoffLimit", 6) < 1:
        errors.append(f"{name}: backoffLimit must allow a retry (it resumes from the journal)")
    if spec["template"]["spec"].get("restartPolicy") not in ("Never", "OnFailure"):
        errors.append(f"{name}: restartPolicy must be Never or OnFailure")


def quantd_flags(run):
    return {a.split("=", 1)[0] for a in run.args if a.startswith("--")}


def check_namespaces(resources, where, errors):
    for r in resources:
        if r["metadata"].get("namespace") != NAMESPACE:
            errors.append(f"{where}: {r['kind']}/{r['metadata']['name']} is in namespace "
                          f"{r['metadata'].get('namespace')}, not {NAMESPACE}")


def check_gpu(dep, errors):
    spec = pod_spec(dep)
    c = spec["containers"][0]
    if int(c["resources"].get("limits", {}).get("nvidia.com/gpu", 0)) < 1:
        errors.append("gpu overlay: the container asks for no nvidia.com/gpu")
    if not spec.get("nodeSelector"):
        errors.append("gpu overlay: no nodeSelector for GPU nodes")
    if not c["image"].endswith("-cuda"):
        errors.append(f"gpu overlay: image {c['image']} is not the CUDA variant (tag ...-cuda)")
    if "--device=cuda" not in c.get("args", []):
        errors.append("gpu overlay: quantd should run with --device=cuda (refuse to start without a GPU)")
