"""Load benchmark of the local scoring service (not a test): loopback only, bounded in time and requests.

    python -m benchmarks.score [--workers 1 2] [--concurrency 1 4 16] [--seconds 5] [--max-requests 5000]

For each WORKER_COUNT it starts azmlinfsrv on 127.0.0.1 with the dev stack's entry script, then drives
POST /score with the manual procedure's payload from N client processes, and prints requests/s, p50/p99
latency and errors, beside the cost of the scoring function alone (parse + predict) in the same run.
"""
from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import multiprocessing
import os
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path

from local.demo import TEST_SAMPLE
from local.serve import LocalService, ensure_model, free_port, service_spec

BODY = TEST_SAMPLE.encode()
HEADERS = {"Content-Type": "application/json"}


def _client(port: int, deadline: float, budget: int, queue) -> None:
    latencies, errors = [], 0
    for _ in range(budget):
        if time.monotonic() >= deadline:
            break
        start = time.perf_counter()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("POST", "/score", body=BODY, headers=HEADERS)
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status != 200:
                errors += 1
        except (OSError, http.client.HTTPException):
            errors += 1
        latencies.append(time.perf_counter() - start)
    queue.put((latencies, errors))


def drive(port: int, concurrency: int, seconds: float, max_requests: int) -> dict:
    queue = multiprocessing.Queue()
    deadline = time.monotonic() + seconds
    budget = max(1, max_requests // concurrency)
    clients = [multiprocessing.Process(target=_client, args=(port, deadline, budget, queue)) for _ in range(concurrency)]
    start = time.perf_counter()
    for c in clients:
        c.start()
    results = [queue.get(timeout=seconds + 60) for _ in clients]
    elapsed = time.perf_counter() - start
    for c in clients:
        c.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(e for _, e in results)
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3  # noqa: E731
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50_ms": p(0.50), "p99_ms": p(0.99),
            "errors": errors}


def scoring_function_cost(entry_script: Path, model_dir: Path, iterations: int = 2000) -> float:
    """Microseconds per call of parse + predict, in this process, no HTTP."""
    os.environ["AZUREML_MODEL_DIR"] = str(model_dir)
    spec = importlib.util.spec_from_file_location("score_under_bench", entry_script)
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    score.init()
    for _ in range(100):
        score.predict(score.parse_rows(BODY, "application/json"))
    start = time.perf_counter()
    for _ in range(iterations):
        score.predict(score.parse_rows(BODY, "application/json"))
    return (time.perf_counter() - start) / iterations * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=5.0, help="per level, at most")
    parser.add_argument("--max-requests", type=int, default=5000, help="per level, at most")
    args = parser.parse_args()
    base = service_spec(args.stack)
    ensure_model(base.model_dir)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"payload: the manual procedure's 2-row request; loopback only")
    print(f"scoring function alone (parse + predict): {scoring_function_cost(base.entry_script, base.model_dir):.0f} us/call")
    print("| WORKER_COUNT | concurrency | requests | req/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for workers in args.workers:
        spec = replace(base, port=free_port(), worker_count=workers)
        with LocalService(spec):
            drive(spec.port, 2, 1.0, 200)  # warm-up: imports and model load in every worker
            for concurrency in args.concurrency:
                r = drive(spec.port, concurrency, args.seconds, args.max_requests)
                print(f"| {workers} | {concurrency} | {r['requests']} | {r['rps']:.0f} | {r['p50_ms']:.1f} | "
                      f"{r['p99_ms']:.1f} | {r['errors']} |", flush=True)


if __name__ == "__main__":
    main()
