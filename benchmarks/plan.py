"""How long the offline plan of a stack takes, end to end, as a new process each time (what `make demo` pays),
against its import floor: a new process that only imports every module the plan ends up importing.

    python -m benchmarks.plan [--stack prod] [--runs 10]
    python -m benchmarks.plan --fleet 10 [--runs 10]   a stack of 10 models against the same stack with 1
    python -m benchmarks.plan --regions [--runs 10]    2 regions x 2 models behind Front Door against 1 region x 1

Both are timed interleaved in one run, so their ratio holds whatever else the machine is doing.
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


def fleet_file(folder: str, models: int, regions: int = 1) -> str:
    """A stack file of `models` services on prod's shared plan (slots, autoscale, auth), each building the example's
    package: the same work per model as a one-model stack. With several regions: each in every region, behind one
    Premium Front Door."""
    import json

    service = {"model": {"name": "diabetes-ridge", "version": "1"},
               "code": {"sourceDir": "model/src", "entryScript": "score.py", "environmentSpec": "model/environment.yml"},
               "auth": {"enabled": True, "tenantId": "11111111-1111-1111-1111-111111111111",
                        "clientId": "22222222-2222-2222-2222-222222222222",
                        "allowedClientApplications": ["33333333-3333-3333-3333-333333333333"]}}
    config = {"model-webapp:location": "westeurope", "model-webapp:sku": "P1v3",
              "model-webapp:workspace": {"subscriptionId": "00000000-0000-0000-0000-000000000000",
                                         "resourceGroup": "rg-aml", "name": "mlw-models"},
              "model-webapp:autoscale": {"enabled": True, "minInstances": 2, "maxInstances": 5},
              "model-webapp:models": {f"m{i}": service for i in range(1, models + 1)}}
    if regions > 1:
        del config["model-webapp:location"]
        config["model-webapp:regions"] = ["westeurope", "northeurope", "swedencentral", "francecentral"][:regions]
        config["model-webapp:frontDoor"] = {"sku": "Premium_AzureFrontDoor"}
    path = os.path.join(folder, f"Pulumi.fleet{models}x{regions}.yaml")
    with open(path, "w") as f:
        json.dump({"config": config}, f)  # JSON is YAML
    return path


def fleet(runs: int, models: int, regions: int = 1) -> None:
    labels = {(1, 1): "1 model in 1 region", (models, regions): f"{models} models in {regions} region(s)"}
    with tempfile.TemporaryDirectory() as folder:
        commands = {shape: [sys.executable, "-m", "offline.plan", "--config-file", fleet_file(folder, *shape),
                            "--format", "json", "--policy-config", "policies/config/prod.json"] for shape in labels}
        times: dict[tuple[int, int], list[float]] = {shape: [] for shape in labels}
        for _ in range(runs):  # interleaved, as above
            for shape, command in commands.items():
                times[shape].append(timed(command))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for shape, measured in times.items():
        print(f"offline plan of {labels[shape]}, {runs} runs: min {min(measured):.2f} s, median "
              f"{statistics.median(measured):.2f} s, max {max(measured):.2f} s")
    big, small = statistics.median(times[(models, regions)]), statistics.median(times[(1, 1)])
    print(f"{labels[(models, regions)]} / {labels[(1, 1)]}: {big / small:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--fleet", type=int, metavar="N", help="time a stack of N models against one of 1")
    parser.add_argument("--regions", action="store_true",
                        help="time 2 models in 2 regions behind Front Door against 1 model in 1 region")
    args = parser.parse_args()
    if args.regions:
        fleet(args.runs, 2, 2)
        return
    if args.fleet:
        fleet(args.runs, args.fleet)
        return
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
