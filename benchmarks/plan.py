"""How long the offline plan of a stack takes, end to end, as a new process each time (what `make demo` pays).

    python -m benchmarks.plan [--stack prod] [--runs 10]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    command = [sys.executable, "-m", "offline.plan", "--stack", args.stack, "--format", "json"]
    seconds = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - start)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"offline plan of {args.stack}, {args.runs} runs: min {min(seconds):.2f} s, "
          f"median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s")


if __name__ == "__main__":
    main()
