"""The local rehearsal: the real inference server, with the entry script, port and worker count of a stack.

    python -m local.serve --stack dev               (or: make serve)
    python -m local.serve --stack dev --telemetry   also rehearse the telemetry, into a sink on loopback

The port and WORKER_COUNT are read from the web app the stack plans (WEBSITES_PORT, WORKER_COUNT),
so the rehearsal runs the way the container will. With --telemetry the server also gets the web app's
telemetry app settings, the connection string's IngestionEndpoint pointed at a local sink that prints
what arrives. Ctrl-C stops it.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import pulumi

from local.telemetry_sink import TelemetrySink

from settings.stack_settings import NAMESPACE, Settings

from offline.mock_engine import Registration, plain_value, run_program
from offline.project import PROJECT_DIR
from offline.stack_config import load_stack_config

DEFAULT_MODEL_DIR = PROJECT_DIR / "model" / "artifacts"
TELEMETRY_SETTINGS = ("AML_APP_INSIGHTS_ENABLED", "AML_APP_INSIGHTS_KEY", "APPLICATIONINSIGHTS_CONNECTION_STRING",
                      "APP_INSIGHTS_LOG_RESPONSE_ENABLED")
START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class ServiceSpec:
    stack: str
    port: int
    worker_count: int
    entry_script: Path
    model_dir: Path
    telemetry: tuple[tuple[str, str], ...] = ()  # the web app's telemetry app settings, as it would get them

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def service_spec(stack: str, model_dir: Path = DEFAULT_MODEL_DIR) -> ServiceSpec:
    """What the stack's web app would run, read from the planned resources."""
    config = load_stack_config(stack)
    run = run_program(config.values, config.stack, secret_keys=list(config.secret_keys))
    site = run.one("azure-native:web:WebApp")
    app_settings = {s["name"]: s["value"] for s in site.inputs["siteConfig"]["appSettings"]}

    # run_program left the stack's config in place: read the code location the same way the program does.
    settings = Settings.from_config(pulumi.Config(NAMESPACE), stack=stack, project_dir=PROJECT_DIR)
    return ServiceSpec(
        stack=stack,
        port=int(app_settings["WEBSITES_PORT"]),
        worker_count=int(app_settings["WORKER_COUNT"]),
        entry_script=PROJECT_DIR / settings.code.source_dir / settings.code.entry_script,
        model_dir=model_dir,
        telemetry=telemetry_of(site),
    )


def telemetry_of(site: Registration) -> tuple[tuple[str, str], ...]:
    """The site's telemetry app settings as the container gets them: the service's view holds secrets unwrapped."""
    plain = {s["name"]: s["value"] for s in plain_value(site.state)["siteConfig"]["appSettings"]}
    return tuple((k, v) for k, v in plain.items() if k in TELEMETRY_SETTINGS)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def ensure_model(model_dir: Path) -> None:
    sys.path.insert(0, str(PROJECT_DIR / "model"))
    try:
        from train import MODEL_FILE, train  # model/train.py
    finally:
        sys.path.pop(0)
    if not (model_dir / MODEL_FILE).is_file():
        print(f"training the example model into {model_dir} ...", flush=True)
        train(model_dir)


class LocalService:
    """azmlinfsrv on 127.0.0.1 in its own process group; a context manager that always stops it."""

    def __init__(self, spec: ServiceSpec, log_path: Optional[Path] = None,
                 telemetry_endpoint: Optional[str] = None) -> None:
        self.spec = spec
        self.telemetry_endpoint = telemetry_endpoint
        self.log_path = log_path or Path(tempfile.mkstemp(prefix="azmlinfsrv-", suffix=".log")[1])
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> "LocalService":
        env = {**os.environ, "WORKER_COUNT": str(self.spec.worker_count), "AZUREML_MODEL_DIR": str(self.spec.model_dir)}
        if self.telemetry_endpoint:
            env.update(telemetry_environment(dict(self.spec.telemetry), self.telemetry_endpoint))
        command = [sys.executable, "-m", "local.loopback_server",
                   "--entry_script", str(self.spec.entry_script), "--model_dir", str(self.spec.model_dir),
                   "--port", str(self.spec.port), "--worker_count", str(self.spec.worker_count)]
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the inference server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.spec.base_url + "/", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the inference server did not answer GET / within {START_TIMEOUT_SECONDS:.0f} s:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # gunicorn's graceful stop, to the master and its workers
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> "LocalService":
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


def telemetry_environment(settings: dict[str, str], endpoint: str) -> dict[str, str]:
    """The web app's telemetry settings, exactly, but for the connection string's IngestionEndpoint."""
    parts = dict(p.split("=", 1) for p in settings["APPLICATIONINSIGHTS_CONNECTION_STRING"].split(";") if "=" in p)
    parts["IngestionEndpoint"] = endpoint
    return {**settings, "APPLICATIONINSIGHTS_CONNECTION_STRING": ";".join(f"{k}={v}" for k, v in parts.items())}


def _interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(signum)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--port", type=int, help="override the stack's WEBSITES_PORT")
    parser.add_argument("--workers", type=int, help="override the stack's WORKER_COUNT")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--telemetry", action="store_true",
                        help="send the server's telemetry to a local sink that prints what arrives")
    args = parser.parse_args(argv)
    try:
        spec = service_spec(args.stack, args.model_dir)
    except pulumi.RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spec = replace(spec, port=args.port or spec.port, worker_count=args.workers or spec.worker_count)
    if args.telemetry and not spec.telemetry:
        print(f"error: stack {args.stack} sends no telemetry (model-webapp:monitoring.enabled is false)", file=sys.stderr)
        return 2
    ensure_model(spec.model_dir)
    sink = TelemetrySink(echo=lambda line: print(line, flush=True)) if args.telemetry else None
    if sink is not None:
        sink.__enter__()
    service = LocalService(spec, telemetry_endpoint=sink.endpoint if sink else None)
    # The server runs in its own process group: a SIGTERM to us must stop it too, as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        service.start()
        print(f"serving {spec.entry_script.relative_to(PROJECT_DIR)} at {spec.base_url}/score "
              f"({spec.worker_count} worker(s), log {service.log_path}); Ctrl-C stops", flush=True)
        service.process.wait()
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    finally:
        service.stop()
        if sink is not None:
            sink.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
