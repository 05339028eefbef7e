#!/usr/bin/env python3
"""The dependency rules of docs/ARCHITECTURE.md, checked on every #include of the project.

Each library may include only what sits below it:

  core (public API quantd/core/..., internals core/...)   nothing of the project but itself
  core/record                                              core
  proto (rpc)                                              core's public API, its generated code
  client/io                                                core's public API
  client/model                                             client/io, core
  client/job                                               client/io, core/record, core (no gRPC)
  client/remote                                            client/job, client/io, proto, core
  client/cli                                               every client library, proto
  server                                                   proto, core's public API
  bench                                                    core (internals too), tests/testing,
                                                           client/model, server/quantd_server.h
  tests                                                    anything

The core's public headers (core/include/quantd/core/) include no internals.

  architecture_test.py SOURCE_DIR
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

# (directory prefix, allowed include prefixes). The first matching directory applies.
RULES = [
    ("core/include/", ["quantd/core/"]),
    ("core/record/", ["quantd/core/", "core/record/"]),
    ("core/", ["quantd/core/", "core/"]),
    ("proto/", ["quantd/core/", "quantd/v1/", "proto/"]),
    ("client/io/", ["quantd/core/", "client/io/"]),
    ("client/model/", ["quantd/core/", "client/io/", "client/model/"]),
    ("client/job/", ["quantd/core/", "core/record/", "client/io/", "client/job/"]),
    ("client/remote/", ["quantd/core/", "quantd/v1/", "core/record/", "client/io/", "client/job/", "client/remote/",
                        "proto/"]),
    ("client/cli/", ["quantd/core/", "quantd/v1/", "core/record/", "client/", "proto/"]),
    ("server/", ["quantd/core/", "quantd/v1/", "proto/", "server/"]),
    ("bench/", ["quantd/core/", "core/", "tests/testing/", "client/model/", "client/io/", "server/quantd_server.h",
                "server/server_options.h", "proto/", "quantd/v1/"]),
]
SOURCES = (".h", ".cc", ".cu", ".cuh")


def main():
    root = sys.argv[1]
    problems = []
    checked = 0
    for top in ("core", "proto", "client", "server", "bench"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if not f.endswith(SOURCES):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                allowed = next(a for prefix, a in RULES if rel.startswith(prefix))
                with open(path, encoding="utf-8") as fh:
                    for inc in INCLUDE.findall(fh.read()):
                        checked += 1
                        # Bench programs include their own helpers (bench/throughput.h) by name.
                        if rel.startswith("bench/") and "/" not in inc:
                            continue
                        if not any(inc.startswith(a) for a in allowed):
                            problems.append(f"{rel} includes \"{inc}\"")
    if problems:
        print("architecture_test: includes that cross the layers of docs/ARCHITECTURE.md:\n  " +
              "\n  ".join(sorted(problems)), file=sys.stderr)
        return 1
    print(f"architecture_test: {checked} includes follow the layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
