"""A Dockerfile as a list of stages, each a list of (INSTRUCTION, text) with line continuations
joined and comments dropped; exec-form JSON arrays are decoded by the caller."""
import re


class Stage:
    def __init__(self, base, name):
        self.base, self.name = base, name
        self.instructions = []

    def all(self, instruction):
        return [text for ins, text in self.instructions if ins == instruction]


def parse(path):
    with open(path) as f:
        text = f.read()
    lines, current = [], ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#"):
            continue
        current += raw.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        if current.strip():
            lines.append(current.strip())
        current = ""
    global_args, stages = {}, []
    for line in lines:
        ins, _, rest = line.partition(" ")
        ins, rest = ins.upper(), re.sub(r"\s+", " ", rest.strip())
        if ins == "FROM":
            m = re.match(r"(\S+)(?: AS (\S+))?$", rest, re.I)
            stages.append(Stage(m.group(1), m.group(2)))
        elif not stages and ins == "ARG":
            name, _, default = rest.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append((ins, rest))
    return global_args, stages


def expand(text, args):
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), text)
