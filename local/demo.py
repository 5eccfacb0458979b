"""The rehearsal of `make demo`: the local service of a stack, sent the manual procedure's own request.

    python -m local.demo --stack dev
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Optional

import requests

from .serve import LocalService, ensure_model, port_is_free, service_spec
from .smoke import SAMPLE

# The manual procedure's client, unchanged but for the URL; its two rows are model/sample-request.json (the smoke
# test after each deploy sends the same file).
TEST_SAMPLE = SAMPLE.read_text()
HEADERS = {"Content-Type": "application/json"}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--port", type=int, help="override the stack's WEBSITES_PORT")
    args = parser.parse_args(argv)
    spec = service_spec(args.stack)
    spec = replace(spec, port=args.port or spec.port)
    if not port_is_free(spec.port):
        print(f"error: port {spec.port} on 127.0.0.1 is in use: stop what holds it or pass --port", file=sys.stderr)
        return 2
    ensure_model(spec.model_dir)
    print(f"\nstarting azmlinfsrv for stack {spec.stack} on {spec.base_url} ({spec.worker_count} worker(s)) ...")
    with LocalService(spec):
        scoring_uri = spec.base_url + "/score"
        response = requests.post(scoring_uri, data=TEST_SAMPLE, headers=HEADERS, timeout=30)
        print(f"POST {scoring_uri}")
        print(response.status_code)
        print(response.elapsed)
        print(response.json())
    print("service stopped")
    return 0 if response.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
