"""How long a new user's first `make demo` takes on a fresh clone: uv with an empty cache, uv with a warm cache, pip.

    python -m benchmarks.setup [--runs 3] [--modes uv-cold uv-warm pip-cold] [--source .]

Each run clones the committed HEAD of --source into a new temporary folder and times `make demo` there, end to end:
venv, install of the pinned requirements, the offline plan of dev, the local service's first request. Caches live in
temporary folders made for this script (UV_CACHE_DIR, PIP_CACHE_DIR), so nothing shared is emptied: "cold" is a new
empty cache per run, "warm" one cache filled by an unmeasured run first. Downloads come from the package index, so
the figures depend on the network of the day: compare modes from the same run.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {  # mode: (make variables, warm caches?)
    "uv-cold": ([], False),
    "uv-warm": ([], True),
    "pip-cold": (["INSTALL=pip"], False),
    "pip-warm": (["INSTALL=pip"], True),
}
CACHES = ("UV_CACHE_DIR", "PIP_CACHE_DIR")  # both, always: the uv bootstrap itself is a pip install


def make_demo(source: Path, variables: list[str], env: dict[str, str], scratch: Path) -> float:
    """Seconds for `make demo` in a fresh clone; the clone is removed afterwards."""
    clone = Path(tempfile.mkdtemp(prefix="clone-", dir=scratch))
    try:
        subprocess.run(["git", "clone", "-q", str(source), str(clone)], check=True)
        start = time.perf_counter()
        done = subprocess.run(["make", "demo", *variables], cwd=clone, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"make demo {' '.join(variables)} failed in {clone}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return elapsed
    finally:
        shutil.rmtree(clone, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.setup", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=["uv-cold", "uv-warm", "pip-cold"])
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="a git repository; its committed HEAD is cloned")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="bench-setup-"))
    # Only this script's caches: a uv on the PATH would bypass the bootstrap that a new user pays.
    base_env = {k: v for k, v in os.environ.items() if k not in ("UV_CACHE_DIR", "PIP_CACHE_DIR", "VIRTUAL_ENV")}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"source: {args.source} at {subprocess.check_output(['git', '-C', str(args.source), 'rev-parse', '--short', 'HEAD'], text=True).strip()}")
    print("| mode | runs (s) | min | median | max |")
    print("|---|---|---|---|---|")
    try:
        for mode in args.modes:
            variables, warm = MODES[mode]
            shared = {var: str(scratch / f"{mode}-{var}") for var in CACHES}
            if warm:
                make_demo(args.source, variables, {**base_env, **shared}, scratch)  # fills the caches
            times = []
            for _ in range(args.runs):
                caches = shared if warm else {var: tempfile.mkdtemp(prefix=f"{mode}-{var}-", dir=scratch)
                                              for var in CACHES}
                times.append(make_demo(args.source, variables, {**base_env, **caches}, scratch))
                if not warm:
                    for folder in caches.values():
                        shutil.rmtree(folder, ignore_errors=True)
            print(f"| {mode} | {', '.join(f'{t:.1f}' for t in times)} | {min(times):.1f} | "
                  f"{statistics.median(times):.1f} | {max(times):.1f} |", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
