"""Benchmarks of the scoring service (not a test): the entry script in process, then the local service under load.

    python -m benchmarks.score [--workers 1 2] [--concurrency 1 4 16] [--seconds 5] [--max-requests 20000]

1. In process, no HTTP: the validating `run()` of model/src/score.py against the bare path it must not be slower
   than: `json.loads` + `model.predict` + `AMLResponse`, with scikit-learn's default configuration and no checks.
   Both at 2 rows (the manual procedure's request) and at 1000 rows (the per-request limit), timed alternately in
   the same run; each figure is the best of several repeats (microseconds per call).
2. Under load: azmlinfsrv on 127.0.0.1 with the dev stack's entry script, for each WORKER_COUNT (by default 1, the
   server's own default, and this machine's core count, the project's default of one per vCPU), driven by wrk (one thread, N connections, the 2-row request) for at most --seconds and
   --max-requests per level. wrk is a C load generator: it leaves the cores to the server far more than Python
   clients do. Install it with `apt-get install wrk` (Debian); without it this part is skipped with that hint.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from local.serve import LocalService, ensure_model, free_port, service_spec
from local.smoke import SAMPLE

BODY = SAMPLE.read_bytes()
LARGE_ROWS = 1000


class _Request:
    """What azmlinfsrv hands a @rawhttp run(): method, headers, get_data()."""

    method = "POST"
    headers = {"Content-Type": "application/json"}

    def __init__(self, body: bytes) -> None:
        self.body = body

    def get_data(self) -> bytes:
        return self.body


def load_entry_script(entry_script: Path, model_dir: Path):
    os.environ["AZUREML_MODEL_DIR"] = str(model_dir)
    spec = importlib.util.spec_from_file_location("score_under_bench", entry_script)
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    score.init()
    return score


def best_of(calls: dict[str, Callable[[], object]], iterations: int, repeats: int = 25) -> dict[str, float]:
    """Microseconds per call, the best repeat of each, the calls taking turns so that drift hits them alike."""
    best = {name: float("inf") for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(iterations):
                call()
            best[name] = min(best[name], (time.perf_counter() - start) / iterations * 1e6)
    return best


def in_process(entry_script: Path, model_dir: Path) -> list[str]:
    score = load_entry_script(entry_script, model_dir)
    from azureml_inference_server_http.api.aml_response import AMLResponse

    rng = np.random.default_rng(0)
    large = json.dumps({"data": rng.normal(size=(LARGE_ROWS, 10)).round(6).tolist()}).encode()
    lines = ["| rows | bare: json.loads + predict + AMLResponse (us) | validating run() (us) | run / bare |",
             "|---|---|---|---|"]
    for rows, body in ((2, BODY), (LARGE_ROWS, large)):
        request = _Request(body)

        def bare(body: bytes = body):
            return AMLResponse(score.model.predict(np.asarray(json.loads(body)["data"], dtype=float)).tolist(), 200,
                               json_str=True)

        def validating(request: _Request = request):
            return score.run(request)

        assert json.loads(bare().get_data()) == json.loads(validating().get_data())  # the same answer
        times = best_of({"bare": bare, "run": validating}, iterations=1000 if rows == 2 else 40)
        lines.append(f"| {rows} | {times['bare']:.0f} | {times['run']:.0f} | {times['run'] / times['bare']:.2f}x |")
    return lines


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[%s]==]  -- long brackets of level 2: the JSON itself holds "]]"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Connection"] = "close"  -- gunicorn's sync workers close every connection anyway: say so up front
local count, limit = 0, %d
function response(status, headers, body)
  count = count + 1
  if count >= limit then wrk.thread:stop() end
end
"""


def wrk_level(wrk: str, port: int, connections: int, seconds: float, max_requests: int, script: Path) -> dict:
    done = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s",
                           str(script), f"http://127.0.0.1:{port}/score"], capture_output=True, text=True,
                          timeout=seconds + 60)
    text = done.stdout

    def number(pattern: str, default: float = 0.0) -> float:
        found = re.search(pattern, text)
        return float(found.group(1)) if found else default

    def ms(percent: str) -> float:
        found = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
        if not found:
            return float("nan")
        return float(found.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[found.group(2)]

    errors = number(r"Non-2xx or 3xx responses: (\d+)") + sum(
        int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    return {"requests": int(number(r"(\d+) requests in")), "rps": number(r"Requests/sec:\s+([\d.]+)"),
            "p50_ms": ms("50"), "p99_ms": ms("99"), "errors": int(errors)}


def under_load(args, base) -> list[str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        return ["load: skipped, wrk is not installed (Debian: `apt-get install wrk`)"]
    lines = ["| WORKER_COUNT | connections | requests | req/s | p50 ms | p99 ms | errors |",
             "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "post.lua"
        script.write_text(WRK_SCRIPT % (BODY.decode().strip(), args.max_requests))
        warm = Path(scratch) / "warm.lua"
        warm.write_text(WRK_SCRIPT % (BODY.decode().strip(), 200))
        for workers in args.workers:
            spec = replace(base, port=free_port(), worker_count=workers)
            shown = str(workers)
            with LocalService(spec):
                wrk_level(wrk, spec.port, 2, 1.0, 200, warm)  # imports and model load in every worker
                for connections in args.concurrency:
                    r = wrk_level(wrk, spec.port, connections, args.seconds, args.max_requests, script)
                    lines.append(f"| {shown} | {connections} | {r['requests']} | {r['rps']:.0f} | {r['p50_ms']:.2f} "
                                 f"| {r['p99_ms']:.2f} | {r['errors']} |")
                    print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--workers", type=int, nargs="+", default=sorted({1, os.cpu_count() or 1}),
                        help="WORKER_COUNT values (default: 1 and one per core)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=5.0, help="per level, at most")
    parser.add_argument("--max-requests", type=int, default=20000, help="per level, at most")
    parser.add_argument("--skip-load", action="store_true", help="only the in-process comparison")
    parser.add_argument("--entry-script", type=Path,
                        help="compare another entry script in process (e.g. an earlier one: git show REV:model/src/score.py)")
    args = parser.parse_args()
    base = service_spec(args.stack)
    ensure_model(base.model_dir)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}; loopback only")
    print("\n".join(in_process(args.entry_script or base.entry_script, base.model_dir)), flush=True)
    if not args.skip_load:
        print()
        lines = under_load(args, base)
        if len(lines) == 1:
            print(lines[0])


if __name__ == "__main__":
    main()
