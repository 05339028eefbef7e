"""The command lines quantd and quantctl really accept, read from their --help output (CLI11's
format), and a checker for one argument list against them."""
import re
import subprocess

OPTION = re.compile(r"^\s+(?:-\w,)?(--[A-Za-z0-9][\w-]*)(?:\s+(\S+))?")


class Option:
    def __init__(self, name, spec):
        self.name = name
        # CLI11 prints a type (TEXT, INT:..., UINT:...) after options that take a value.
        self.takes_value = bool(spec) and re.match(r"(TEXT|INT|UINT|FLOAT)", spec) is not None
        m = re.search(r":\{([^}]*)\}", spec or "")
        self.choices = set(m.group(1).split(",")) if m else None
        m = re.search(r"in \[([-\d.]+) - ([-\d.]+)\]", spec or "")
        self.range = (float(m.group(1)), float(m.group(2))) if m else None
        self.size = "SIZE" in (spec or "")  # also takes units: 4MiB


def _help(argv):
    out = subprocess.run(argv + ["--help"], capture_output=True, text=True, check=True).stdout
    options = {}
    for line in out.splitlines():
        m = OPTION.match(line)
        if m and m.group(1) not in ("--help", "--version"):
            options[m.group(1)] = Option(m.group(1), m.group(2))
    return out, options


class Program:
    """quantd (no subcommands) or quantctl (one option set per subcommand)."""

    def __init__(self, binary, subcommands=False):
        text, self.options = _help([binary])
        self.subcommands = {}
        if subcommands:
            section = text.split("Subcommands:", 1)[1]
            for name in re.findall(r"^\s+([a-z][\w-]*)\s", section, re.M):
                self.subcommands[name] = _help([binary, name])[1]

    def check(self, args, where):
        """Parses args as the program would; returns ({flag: [values]}, [positionals], [errors])."""
        errors, flags, positionals = [], {}, []
        options = self.options
        rest = list(args)
        if self.subcommands:
            if not rest or rest[0] not in self.subcommands:
                return flags, positionals, [f"{where}: first argument {rest[:1]} is not a quantctl subcommand "
                                            f"({', '.join(sorted(self.subcommands))})"]
            options = self.subcommands[rest.pop(0)]
        while rest:
            a = rest.pop(0)
            if not a.startswith("--"):
                positionals.append(a)
                continue
            name, eq, value = a.partition("=")
            opt = options.get(name)
            if opt is None:
                errors.append(f"{where}: {name} is not a flag of this program (see --help)")
                continue
            if opt.takes_value and not eq:
                if not rest:
                    errors.append(f"{where}: {name} needs a value")
                    continue
                value = rest.pop(0)
            elif not opt.takes_value and eq:
                errors.append(f"{where}: {name} takes no value")
            flags.setdefault(name, []).append(value)
            if "$(" in value:
                continue  # filled in by Kubernetes from env; checked against env elsewhere
            if opt.choices and value not in opt.choices:
                errors.append(f"{where}: {name}={value} is not one of {sorted(opt.choices)}")
            if opt.range:
                try:
                    v = float(value)
                    if not opt.range[0] <= v <= opt.range[1]:
                        errors.append(f"{where}: {name}={value} is outside {opt.range}")
                except ValueError:
                    if not opt.size:
                        errors.append(f"{where}: {name}={value} is not a number")
        return flags, positionals, errors
