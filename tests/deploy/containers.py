"""What the deployment files run, in one shape whatever the file: the program (quantd, quantctl
or another), its arguments, and the paths it can see, so that one set of checks covers the
Kubernetes manifests and the compose file."""
import os
import re

INSTALLED = {"/usr/local/bin/quantd": "quantd", "/usr/local/bin/quantctl": "quantctl"}


class Run:
    def __init__(self, where, program, args, mounts, ports=(), env=None):
        self.where = where
        self.program = program  # "quantd", "quantctl", or the command itself
        self.args = list(args)
        self.mounts = mounts  # [(path, writable, what)], what: "secret:NAME", "pvc:NAME", "volume:NAME", ...
        self.ports = set(ports)
        self.env = env or {}  # name -> the env entry (Kubernetes) or value
        self.flags, self.positionals = {}, []  # filled in once the arguments are parsed


def program_of(command, entrypoint):
    """Maps an exec-form command (or the image's ENTRYPOINT when none) to a program name."""
    argv = list(command) if command else list(entrypoint)
    head = argv[0]
    return INSTALLED.get(head, head), argv[1:]


def host_port(value):
    m = re.match(r"^(\[[^\]]+\]|[^:]+):(\d+)$", value)
    return (m.group(1), int(m.group(2))) if m else (None, None)


def mount_of(run, path):
    """The mount a path lies under (the longest match), or None."""
    best = None
    for m in run.mounts:
        if path == m[0] or path.startswith(m[0].rstrip("/") + "/"):
            if best is None or len(m[0]) > len(best[0]):
                best = m
    return best


# Flags whose value is a file the program reads, or writes, per program and subcommand.
READS = {"quantd": ["--token-file", "--tls-cert", "--tls-key", "--tls-client-ca"],
         "quantctl": ["--token-file", "--tls-ca", "--tls-cert", "--tls-key", "--hessian", "--column-max"]}
WRITES = {"quantctl": ["--journal", "--report"]}
POSITIONAL_IO = {"quantize": ("r", "w"), "dequantize": ("r", "w"), "convert-llama2c": ("r", "w"),
                 "inspect": ("r",)}


def check_paths(run, flags, positionals, errors):
    """Every file a program touches must be inside a mount (the root filesystem is read-only),
    and every file it writes inside a writable one."""
    wants = [(flags.get(f, []), False) for f in READS.get(run.program, [])]
    wants += [(flags.get(f, []), True) for f in WRITES.get(run.program, [])]
    if run.program == "quantctl" and run.args:
        for value, mode in zip(positionals, POSITIONAL_IO.get(run.args[0], ())):
            wants.append(([value], mode == "w"))
    for values, write in wants:
        for path in values:
            if not os.path.isabs(path):
                errors.append(f"{run.where}: {path} is not an absolute path")
                continue
            m = mount_of(run, path)
            if m is None:
                errors.append(f"{run.where}: {path} is on no mounted volume (the root filesystem is read-only)")
            elif write and not m[1]:
                errors.append(f"{run.where}: {path} is written but {m[0]} is mounted read-only")
