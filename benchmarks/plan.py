"""How long the offline plan of a stack takes, end to end, as a new process each time (what `make demo` pays),
against its import floor: a new process that only imports every module the plan ends up importing.

    python -m benchmarks.plan [--stack prod] [--runs 10]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

# Runs the plan in this process, then writes the names of every module it imported.
RECORD = """
import contextlib, io, json, sys
from offline import plan
with contextlib.redirect_stdout(io.StringIO()):
    plan.main(["--stack", sys.argv[1], "--format", "json"])
json.dump(sorted(m for m in sys.modules if m != "__main__"), open(sys.argv[2], "w"))
"""
FLOOR = """
import importlib, json, sys
for name in json.load(open(sys.argv[1])):
    try:
        importlib.import_module(name)
    except Exception:
        pass
"""


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile(suffix=".json") as modules:
        subprocess.run([sys.executable, "-c", RECORD, args.stack, modules.name], check=True)
        plan_cmd = [sys.executable, "-m", "offline.plan", "--stack", args.stack, "--format", "json"]
        floor_cmd = [sys.executable, "-c", FLOOR, modules.name]
        plans, floors = [], []
        for _ in range(args.runs):  # interleaved, so load on the machine hits both alike
            plans.append(timed(plan_cmd))
            floors.append(timed(floor_cmd))
    plan, floor = statistics.median(plans), statistics.median(floors)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"offline plan of {args.stack}, {args.runs} runs: min {min(plans):.2f} s, median {plan:.2f} s, "
          f"max {max(plans):.2f} s")
    print(f"import floor (the same modules, imported only): median {floor:.2f} s")
    print(f"plan / import floor: {plan / floor:.2f}x")


if __name__ == "__main__":
    main()
