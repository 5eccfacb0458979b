"""Smoke test of a scoring service: POST the example request to /score and expect one prediction per row.

    python -m local.smoke --scoring-uri https://<app>.azurewebsites.net/score --stack prod
    python -m local.smoke --scoring-uri http://127.0.0.1:5001/score                     (the local rehearsal)

deploy.yml runs it after each stack's `pulumi up`, with the stack's `scoring_uri` output. With --stack, a stack whose
`auth.enabled` is true gets a bearer token for its first allowed audience from the Azure CLI
(`az account get-access-token --resource <audience>`); --audience names one directly. While the container starts,
App Service answers 502/503 or not at all: those are retried until --timeout (default: the stack's
containerStartTimeLimit, else 600 s). Anything else but a 200 with one number per row fails at once.

Exit 0: the service answered as expected; 1: it did not; 2: the arguments, the sample or the stack file are wrong.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlparse

from pydantic import ValidationError

from offline.project import PROJECT_DIR
from providers.app_service import prediction_problem
from offline.stack_config import StackFileError, load_stack_config
from settings.stack_settings import NAMESPACE, EntraAuth, request_rows

SAMPLE = PROJECT_DIR / "model" / "sample-request.json"
DEFAULT_TIMEOUT_SECONDS = 600.0
REQUEST_TIMEOUT_SECONDS = 30.0
RETRY_STATUSES = {502, 503, 504}  # the front end while the container is (re)starting
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class SmokeFailure(Exception):
    """The service answered, or failed to, in a way that fails the deployment."""


class UsageError(Exception):
    """The check itself is set up wrong: the message says what to fix."""


@dataclass(frozen=True)
class StackAuth:
    audience: Optional[str]  # None: the stack takes anonymous callers
    start_limit: Optional[float]  # containerStartTimeLimit, seconds


def stack_auth(stack: str, config_file: Optional[Path] = None) -> StackAuth:
    """What the stack's settings say about callers and start-up: through the settings model, defaults included."""
    try:
        values = load_stack_config(stack, config_file).values
    except StackFileError as exc:
        raise UsageError(str(exc)) from None
    raw = values.get(f"{NAMESPACE}:auth")
    try:
        auth = EntraAuth.model_validate(json.loads(raw)) if raw else EntraAuth()
    except (ValueError, ValidationError) as exc:
        raise UsageError(f"{NAMESPACE}:auth in stack {stack} is not valid ({exc}): "
                         f"`python -m offline.plan --stack {stack}` names the key to fix") from None
    limit = values.get(f"{NAMESPACE}:containerStartTimeLimit")
    return StackAuth(audience=auth.audiences[0] if auth.enabled else None,
                     start_limit=float(limit) if limit and limit.isdigit() else None)


def azure_cli_token(audience: str) -> str:
    """An access token for the audience, from the Azure CLI session (azure/login in the workflow)."""
    az = shutil.which("az")
    if az is None:
        raise UsageError("the stack requires Entra ID tokens, but the Azure CLI (az) is not on the PATH: sign in "
                         "with `az login` (azure/login in a workflow), or pass --audience '' to call anonymously")
    done = subprocess.run([az, "account", "get-access-token", "--resource", audience, "--query", "accessToken",
                           "--output", "tsv"], capture_output=True, text=True, timeout=120)
    token = done.stdout.strip()
    if done.returncode != 0 or not token:
        reason = (done.stderr.strip().splitlines() or ["no token printed"])[-1]
        raise UsageError(f"az could not get a token for {audience}: {reason}")
    return token


def load_sample(path: Path) -> tuple[bytes, int]:
    """The request body and its number of rows, read as the settings read release.smokeRequest."""
    try:
        rows = request_rows(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except ValueError as exc:
        raise UsageError(f"{path}: must be {exc}") from None
    return path.read_bytes(), len(rows)


def post(uri: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(uri, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def check_answer(status: int, payload: bytes, rows: int) -> list[float]:
    text = payload.decode("utf-8", errors="replace")
    problem = prediction_problem(status, text, rows)  # the same rule the release gate applies to the slot
    if problem:
        raise SmokeFailure(f"POST /score {problem}")
    return json.loads(text)


def smoke(uri: str, body: bytes, rows: int, token: Optional[str], timeout: float,
          say: Callable[[str], None] = print, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> list[float]:
    """Posts until the service answers for real or the time is up; returns the predictions."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    deadline, delay, attempt = clock() + timeout, 2.0, 0
    while True:
        attempt += 1
        started = clock()
        try:
            status, payload = post(uri, body, headers)
            if status not in RETRY_STATUSES:
                predictions = check_answer(status, payload, rows)
                say(f"POST {uri}: 200 in {clock() - started:.2f} s, {rows} predictions: {predictions}")
                return predictions
            why = f"{status} (the container is starting)"
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            why = f"no answer ({getattr(exc, 'reason', exc)})"
        if clock() + delay > deadline:
            raise SmokeFailure(f"POST {uri}: still {why} after {attempt} attempt(s) in {timeout:.0f} s")
        say(f"POST {uri}: {why}; retrying in {delay:.0f} s")
        sleep(delay)
        delay = min(delay * 2, 30.0)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--scoring-uri", required=True, help="the stack's scoring_uri output")
    parser.add_argument("--stack", help="read auth and containerStartTimeLimit from Pulumi.STACK.yaml")
    parser.add_argument("--audience", help="get a token for this audience (overrides the stack's; '' for none)")
    parser.add_argument("--sample", type=Path, default=SAMPLE, help=f"request body (default {SAMPLE.name})")
    parser.add_argument("--timeout", type=float, help="seconds to keep retrying while the container starts")
    args = parser.parse_args(argv)
    try:
        if urlparse(args.scoring_uri).scheme not in ("http", "https") or not urlparse(args.scoring_uri).netloc:
            raise UsageError(f"--scoring-uri {args.scoring_uri!r} is not an http(s) URL: pass the stack's "
                             "scoring_uri output")
        body, rows = load_sample(args.sample)
        settings = stack_auth(args.stack) if args.stack else StackAuth(None, None)
        audience = args.audience if args.audience is not None else settings.audience
        token = azure_cli_token(audience) if audience else None
        timeout = args.timeout or settings.start_limit or DEFAULT_TIMEOUT_SECONDS
        smoke(args.scoring_uri, body, rows, token, timeout)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SmokeFailure as exc:
        print(f"smoke test failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
