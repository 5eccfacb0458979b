"""The rehearsal of `make demo`: the local service of a stack, sent the stack's own smoke request.

    python -m local.demo --stack dev
    python -m local.demo --config-file my.yaml --model-dir DIR      your entry script, your model, your request
    python -m local.demo --stack mine --download                    the stack's registered model, from Azure ML
    python -m local.demo --config-file examples/fleet.yaml --service diabetes     one model of a stack with models

The model folder is chosen as `local.serve` chooses it (--model-dir, read only; --download; or the example's
model/artifacts for the example's entry script). The request is the stack's smoke request (release.smokeRequest;
for the example stacks model/sample-request.json, the manual procedure's two rows), or --request FILE. A stack with
`models` rehearses the one --service names, with that service's own code, settings and smoke request.

Exit 0: the service answered 200; 1: it did not, or the server or the download failed; 2: the arguments, the stack,
the model folder or the request file are wrong.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

import requests

from settings.stack_settings import request_rows

from .serve import (EXIT_FAILED, EXIT_USAGE, PREPARE_ERRORS, LocalService, ModelDownloads, add_stack_arguments,
                    exit_code, port_is_free, prepare, shown)

HEADERS = {"Content-Type": "application/json"}


def request_body(path: Optional[Path], stack: str, service: Optional[str] = None) -> str:
    """The request file's text, checked to be {"data": [[...], ...]}; ValueError says what to fix."""
    if path is None:
        key = f"models.{service}.release.smokeRequest" if service else "release.smokeRequest"
        raise ValueError(f"stack {stack} sends no smoke request ({key} is empty): pass --request FILE")
    try:
        request_rows(path)
    except FileNotFoundError:
        raise ValueError(f"request file {shown(path)}: no such file (release.smokeRequest, or pass --request FILE)") \
            from None
    except ValueError as exc:
        raise ValueError(f"request file {shown(path)} must be {exc}") from None
    return path.read_text()


def main(argv: Optional[list[str]] = None, downloads: Optional[ModelDownloads] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__.splitlines()[0])
    add_stack_arguments(parser)
    parser.add_argument("--request", type=Path, metavar="FILE",
                        help='a JSON request {"data": [[...], ...]} to send instead of the stack\'s smoke request')
    args = parser.parse_args(argv)
    try:
        spec = prepare(args, downloads, lambda line: print(line, flush=True))
        body = request_body(args.request or spec.smoke_request, spec.stack, spec.service)
    except PREPARE_ERRORS as exc:
        return exit_code(exc)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not port_is_free(spec.port):
        print(f"error: port {spec.port} on 127.0.0.1 is in use: stop what holds it or pass --port", file=sys.stderr)
        return EXIT_USAGE
    print(f"\nstarting azmlinfsrv for {spec.label} on {spec.base_url} ({spec.worker_count} worker(s)) ...")
    try:
        with LocalService(spec):
            scoring_uri = spec.base_url + "/score"
            response = requests.post(scoring_uri, data=body, headers=HEADERS, timeout=30)
            print(f"POST {scoring_uri}  ({shown(args.request or spec.smoke_request)})")
            print(response.status_code)
            print(response.elapsed)
            print(response.text if "json" not in response.headers.get("Content-Type", "") else response.json())
    except RuntimeError as exc:  # the server did not start: its log's tail says why
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print("service stopped")
    return 0 if response.status_code == 200 else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
