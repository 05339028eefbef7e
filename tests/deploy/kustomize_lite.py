"""Renders a kustomization the way `kubectl kustomize` does, for the subset deploy/k8s uses:
resources (files and folders), components, namespace, images, and inline JSON 6902 patches
(add, remove, replace, test) with a kind/name target. Anything else in a kustomization is an
error rather than silently ignored, so a manifest this cannot render fully fails the test instead
of being checked half-applied. (No kustomize binary is needed: the test suite runs without one.)
"""
import copy
import os

import yaml

KNOWN_KEYS = {"apiVersion", "kind", "resources", "components", "namespace", "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}


class RenderError(Exception):
    pass


def load_yaml_documents(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_kustomization(folder, kind):
    path = os.path.join(folder, "kustomization.yaml")
    if not os.path.isfile(path):
        raise RenderError(f"{folder}: no kustomization.yaml")
    (k,) = load_yaml_documents(path)
    if k.get("kind") != kind:
        raise RenderError(f"{path}: kind {k.get('kind')}, expected {kind}")
    unknown = set(k) - KNOWN_KEYS
    if unknown:
        raise RenderError(f"{path}: fields this renderer does not apply: {sorted(unknown)}")
    return path, k


def render(folder, extra_components=()):
    """Returns the list of resources (dicts) that kustomization folder renders to, as if
    extra_components (folders) were listed in its components too."""
    path, k = load_kustomization(folder, "Kustomization")
    out = []
    for r in k.get("resources", []):
        p = os.path.normpath(os.path.join(folder, r))
        if os.path.isdir(p):
            out += render(p)
        elif os.path.isfile(p):
            out += load_yaml_documents(p)
        else:
            raise RenderError(f"{path}: resource {r} does not exist")
    for c in [os.path.join(folder, c) for c in k.get("components", [])] + list(extra_components):
        p = os.path.normpath(c)
        if not os.path.isdir(p):
            raise RenderError(f"{path}: component {c} does not exist")
        out = apply_component(out, p)
    for patch in k.get("patches", []):
        out = apply_patch(out, patch, path)
    if "namespace" in k:
        for r in out:
            if r["kind"] not in CLUSTER_SCOPED:
                r.setdefault("metadata", {})["namespace"] = k["namespace"]
    for image in k.get("images", []):
        set_image(out, image)
    return out


def apply_component(resources, folder):
    # A component adds its resources to, and runs its transformers over, what it is included in.
    path, k = load_kustomization(folder, "Component")
    out = copy.deepcopy(resources)
    for r in k.get("resources", []):
        out += load_yaml_documents(os.path.join(folder, r))
    for patch in k.get("patches", []):
        out = apply_patch(out, patch, path)
    return out


def apply_patch(resources, patch, where):
    if set(patch) != {"target", "patch"} or set(patch["target"]) - {"kind", "name"}:
        raise RenderError(f"{where}: only inline JSON 6902 patches with a kind/name target are supported")
    ops = yaml.safe_load(patch["patch"])
    if not isinstance(ops, list):
        raise RenderError(f"{where}: patch is not a JSON 6902 list of operations")
    t = patch["target"]
    out = []
    for r in resources:
        if r.get("kind") == t.get("kind", r.get("kind")) and r["metadata"]["name"] == t.get("name", r["metadata"]["name"]):
            r = copy.deepcopy(r)
            for op in ops:
                json_patch(r, op, where)
        out.append(r)
    # Like kustomize, a target that matches nothing is not an error: one component serves both
    # the server overlays and the Job.
    return out


def _parent(doc, pointer, where):
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    node = doc
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node.get(p)
        if node is None:
            raise RenderError(f"{where}: path {pointer} does not exist")
    return node, parts[-1]


def json_patch(doc, op, where):
    parent, key = _parent(doc, op["path"], where)
    kind = op["op"]
    if isinstance(parent, list):
        index = len(parent) if key == "-" else int(key)
        if kind == "add":
            parent.insert(index, op["value"])
        elif kind == "remove":
            del parent[index]
        elif kind == "replace":
            parent[index] = op["value"]
        elif kind == "test":
            if parent[index] != op["value"]:
                raise RenderError(f"{where}: test failed at {op['path']}: {parent[index]!r} != {op['value']!r}")
        else:
            raise RenderError(f"{where}: unsupported op {kind}")
        return
    if kind in ("remove", "replace", "test") and key not in parent:
        raise RenderError(f"{where}: {kind} of missing {op['path']}")
    if kind in ("add", "replace"):
        parent[key] = op["value"]
    elif kind == "remove":
        del parent[key]
    elif kind == "test":
        if parent[key] != op["value"]:
            raise RenderError(f"{where}: test failed at {op['path']}: {parent[key]!r} != {op['value']!r}")
    else:
        raise RenderError(f"{where}: unsupported op {kind}")


def pod_spec(resource):
    """The pod template's spec of a workload, or a Pod's spec; None for other kinds."""
    kind = resource.get("kind")
    if kind == "Pod":
        return resource["spec"]
    if kind in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        return resource["spec"]["template"]["spec"]
    return None


def set_image(resources, image):
    for r in resources:
        spec = pod_spec(r)
        for c in (spec or {}).get("containers", []):
            ref = c["image"].split("@")[0]
            # A tag is a colon in the last path part (a registry's port is earlier).
            name = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
            if name == image["name"]:
                c["image"] = image.get("newName", name) + (":" + image["newTag"] if "newTag" in image else "")
