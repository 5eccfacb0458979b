"""Smoke test of a scoring service: POST the stack's smoke request to /score and expect one prediction per row.

    python -m local.smoke --scoring-uri <the stack's scoring_uri output> --stack prod \
        [--app NAME --resource-group RG]                                     (needed when the stack sets `access`)
    python -m local.smoke --scoring-uri http://127.0.0.1:5001/score                     (the local rehearsal)
    python -m local.smoke --scoring-uri <models.iris.scoring_uri> --config-file examples/fleet.yaml --service iris

deploy.yml runs it after each stack's `pulumi up`, with the stack's outputs. With --stack (or --config-file) the
request is the stack's own smoke request (release.smokeRequest, through the settings model); the example
model/sample-request.json only when no stack is given, or with --sample. A stack whose `auth.enabled` is true gets a
bearer token for its first allowed audience from the Azure CLI (`az account get-access-token --resource <audience>`;
--audience names one directly), and then an anonymous POST /score must be refused with 401. A stack with `access`
admits this machine for the duration of the test through a temporary access rule named release-gate (its address:
MODEL_WEBAPP_RUNNER_IP, else what api.ipify.org reports), removed afterwards; that needs --app, --resource-group and
the subscription (--subscription, ARM_SUBSCRIPTION_ID or AZURE_SUBSCRIPTION_ID). While the container starts, App
Service answers 502/503 or not at all: those are retried until --timeout (default: the stack's
containerStartTimeLimit, else 600 s). Anything else but a 200 with one number per row fails at once. A stack whose
sites have public network access off (network.privateEndpointSubnetId) is reachable only from inside its network: when
the scoring host resolves to a public address here, or the public front end answers 403, the test stops at once saying
this machine is outside the network (a self-hosted runner in the VNet, deploy.yml's DEPLOY_RUNS_ON). A stack with
`models` is tested one service at a time: --service names it, and its own auth, access, smoke request and start
limit apply (the scoring URI is that service's, from the stack's `models` output). Behind Front Door (frontDoor) the
scoring URI is Front Door's: its 400/404 while a new endpoint's configuration reaches the edges is retried too, for
up to 90 minutes unless --timeout says otherwise.

Exit 0: the service answered as expected; 1: it did not; 2: the arguments, the request or the stack file are wrong, or
this machine is outside a private service's network.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
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

from local.services import ServiceChoiceError, pick_service
from offline.project import PROJECT_DIR
from offline.stack_config import StackFileError, load_stack_config
from providers.app_service import AzureSiteService, Site, SiteService, forbidden_from_outside, outside_network, \
    prediction_problem, resolve, runner_allowed
from settings.clouds import CLOUDS, ENVIRONMENT_KEY, cloud
from settings.stack_settings import NAMESPACE, Settings, request_rows

SAMPLE = PROJECT_DIR / "model" / "sample-request.json"
DEFAULT_TIMEOUT_SECONDS = 600.0
REQUEST_TIMEOUT_SECONDS = 30.0
RETRY_STATUSES = {502, 503, 504}  # the front end while the container is (re)starting
# Behind Front Door, a new endpoint or route answers 400/404 from the edge until its configuration has reached it,
# which takes minutes, up to 90 of them on a first deployment (fact: fd-configuration-propagation).
FRONT_DOOR_PENDING_STATUSES = {400, 404}
FRONT_DOOR_TIMEOUT_SECONDS = 90 * 60.0
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class SmokeFailure(Exception):
    """The service answered, or failed to, in a way that fails the deployment."""


class UsageError(Exception):
    """The check itself is set up wrong: the message says what to fix."""


@dataclass(frozen=True)
class StackAuth:
    audience: Optional[str]  # None: the stack takes anonymous callers
    start_limit: Optional[float]  # containerStartTimeLimit, seconds
    rows: Optional[list] = None  # the stack's smoke request; None: it sends none
    restricted: bool = False  # the stack sets `access`: this machine needs the temporary rule
    request_path: Optional[Path] = None
    cloud: Optional[str] = None  # the stack's azure-native:environment
    private: bool = False  # the sites' public network access is off: only their private endpoints answer
    front_door: bool = False  # the scoring URI is the stack's Front Door endpoint (frontDoor)


def stack_auth(stack: Optional[str], config_file: Optional[Path] = None, service: Optional[str] = None) -> StackAuth:
    """What the stack's settings (with `models`: the named service's) say about callers, start-up and the smoke
    request: through the settings model."""
    try:
        config = load_stack_config(stack, config_file)
    except StackFileError as exc:
        raise UsageError(str(exc)) from None
    raw: dict = {}
    for key, value in config.values.items():
        if key.startswith(f"{NAMESPACE}:"):
            with contextlib.suppress(ValueError):
                value = json.loads(value) if value and value.lstrip()[:1] in "{[" else value
            raw[key.split(":", 1)[1]] = value
    try:
        environment = config.values.get(ENVIRONMENT_KEY)
        settings = Settings.model_validate(raw, context={"stack": config.stack, "project_dir": PROJECT_DIR,
                                                         "cloud": environment})
    except (ValueError, ValidationError) as exc:
        raise UsageError(f"stack {config.stack}'s settings are not valid ({str(exc).splitlines()[0]}): "
                         f"`python -m offline.plan --stack {config.stack}` names the key to fix") from None
    try:
        settings = pick_service(settings, service)
    except ServiceChoiceError as exc:
        raise UsageError(str(exc)) from None
    return StackAuth(audience=settings.auth.audiences[0] if settings.auth.enabled else None,
                     start_limit=float(settings.container_start_time_limit), rows=settings.smoke_rows,
                     restricted=settings.access is not None,
                     request_path=getattr(settings, "smoke_request_path", None), cloud=settings.cloud.name,
                     private=getattr(getattr(settings, "network", None), "public_access", None) == "Disabled",
                     front_door=settings.front_door is not None)


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


def anonymous_refused(uri: str, body: bytes, timeout: float, say: Callable[[str], None] = print,
                      clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
    """On a stack with auth, /score must refuse a caller without a token: 401, nothing else."""
    # fact: auth-excluded-path-match
    deadline = clock() + timeout
    while True:
        try:
            status, payload = post(uri, body, {"Content-Type": "application/json"})
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            status, payload = 0, str(getattr(exc, "reason", exc)).encode()
        if status not in RETRY_STATUSES | {0} or clock() >= deadline:
            break
        sleep(5.0)
    if status != 401:
        raise SmokeFailure(f"an anonymous POST {uri} answered {status or 'nothing'}, not 401: /score must refuse "
                           f"callers without a token ({payload[:200].decode('utf-8', errors='replace')!r})")
    say(f"POST {uri} without a token: 401, as it must")


def smoke(uri: str, body: bytes, rows: int, token: Optional[str], timeout: float,
          say: Callable[[str], None] = print, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep, private: bool = False, cloud_name: Optional[str] = None,
          front_door: bool = False) -> list[float]:
    """Posts until the service answers for real or the time is up; returns the predictions. Behind Front Door, its
    400/404 while the configuration reaches the edges is waited out too."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    deadline, delay, attempt = clock() + timeout, 2.0, 0
    while True:
        attempt += 1
        started = clock()
        try:
            status, payload = post(uri, body, headers)
            if status == 403 and private:
                raise UsageError(forbidden_from_outside("the service", f"POST {uri}",
                                                        payload.decode("utf-8", errors="replace"), cloud(cloud_name)))
            pending = front_door and status in FRONT_DOOR_PENDING_STATUSES
            if status not in RETRY_STATUSES and not pending:
                predictions = check_answer(status, payload, rows)
                say(f"POST {uri}: 200 in {clock() - started:.2f} s, {rows} predictions: {predictions}")
                return predictions
            why = (f"{status} from Front Door (its new configuration is still reaching the edges)" if pending
                   else f"{status} (the container is starting)")
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            why = f"no answer ({getattr(exc, 'reason', exc)})"
        if clock() + delay > deadline:
            raise SmokeFailure(f"POST {uri}: still {why} after {attempt} attempt(s) in {timeout:.0f} s")
        say(f"POST {uri}: {why}; retrying in {delay:.0f} s")
        sleep(delay)
        delay = min(delay * 2, 30.0)


def main(argv: Optional[list[str]] = None, factory: Callable[[Site], SiteService] = AzureSiteService,
         resolver: Callable[[str], list[str]] = resolve) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--scoring-uri", required=True, help="the stack's scoring_uri output")
    parser.add_argument("--stack", help="read auth, access, the smoke request and containerStartTimeLimit from "
                                        "Pulumi.STACK.yaml")
    parser.add_argument("--config-file", type=Path, help="a stack file to read instead of Pulumi.STACK.yaml")
    parser.add_argument("--service", help="with models in the stack: the service whose scoring URI this is")
    parser.add_argument("--audience", help="get a token for this audience (overrides the stack's; '' for none)")
    parser.add_argument("--sample", type=Path, help=f"request body (default: the stack's smoke request, else "
                                                    f"{SAMPLE.name})")
    parser.add_argument("--timeout", type=float, help="seconds to keep retrying while the container starts")
    parser.add_argument("--app", help="the stack's app_name output (for the temporary access rule)")
    parser.add_argument("--resource-group", help="the stack's resource_group_name output (likewise)")
    parser.add_argument("--slot", help="test this slot's access rules instead of production's")
    parser.add_argument("--cloud", choices=list(CLOUDS), default=None,
                        help="the stack's cloud (azure-native:environment), for the temporary access rule; default: "
                        "the stack's, else public")
    parser.add_argument("--subscription", default=os.environ.get("ARM_SUBSCRIPTION_ID")
                        or os.environ.get("AZURE_SUBSCRIPTION_ID"))
    args = parser.parse_args(argv)
    try:
        if urlparse(args.scoring_uri).scheme not in ("http", "https") or not urlparse(args.scoring_uri).netloc:
            raise UsageError(f"--scoring-uri {args.scoring_uri!r} is not an http(s) URL: pass the stack's "
                             "scoring_uri output")
        from_stack = bool(args.stack or args.config_file)
        if args.service is not None and not from_stack:
            raise UsageError(f"--service {args.service} picks a service of a stack: name the stack too (--stack or "
                             "--config-file)")
        settings = stack_auth(args.stack, args.config_file, args.service) if from_stack else StackAuth(None, None)
        if args.sample:
            body, rows = load_sample(args.sample)
        elif from_stack:
            if not settings.rows:
                key = f"models.{args.service}.release.smokeRequest" if args.service else "release.smokeRequest"
                raise UsageError(f"the stack sends no smoke request ({key} is empty): pass --sample")
            body, rows = json.dumps({"data": settings.rows}).encode(), len(settings.rows)
        else:
            body, rows = load_sample(SAMPLE)
        audience = args.audience if args.audience is not None else settings.audience
        token = azure_cli_token(audience) if audience else None
        timeout = args.timeout or (FRONT_DOOR_TIMEOUT_SECONDS if settings.front_door else None) \
            or settings.start_limit or DEFAULT_TIMEOUT_SECONDS
        if settings.private:
            host = urlparse(args.scoring_uri).hostname or ""
            problem = outside_network("the service", host, "Disabled", resolver(host), cloud(settings.cloud))
            if problem:
                raise UsageError(problem)
        with runner_rule(args, settings, factory):
            smoke(args.scoring_uri, body, rows, token, timeout, private=settings.private, cloud_name=settings.cloud,
                  front_door=settings.front_door)
            if audience:
                anonymous_refused(args.scoring_uri, body, timeout)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SmokeFailure as exc:
        print(f"smoke test failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


@contextlib.contextmanager
def runner_rule(args: argparse.Namespace, settings: StackAuth, factory: Callable[[Site], SiteService]):
    """On a stack with `access`, this machine is admitted by a temporary rule while the test runs."""
    if not settings.restricted:
        yield
        return
    missing = [n for n, v in (("--app", args.app), ("--resource-group", args.resource_group),
                              ("--subscription (or ARM_SUBSCRIPTION_ID)", args.subscription)) if not v]
    if missing:
        raise UsageError(f"the stack sets `access`, so this machine must be admitted for the test: pass "
                         f"{', '.join(missing)} (deploy.yml passes the stack's app_name and resource_group_name)")
    service = factory(Site(args.subscription, args.resource_group, args.app, cloud(args.cloud or settings.cloud)))
    try:
        with runner_allowed(service, args.slot, print):
            yield
    except RuntimeError as exc:  # the runner's address could not be found
        raise UsageError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
