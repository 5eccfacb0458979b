"""The local rehearsal: the real inference server, with the entry script, port and worker count of a stack.

    python -m local.serve --stack dev        (or: make serve)

The port and WORKER_COUNT are read from the web app the stack plans (WEBSITES_PORT, WORKER_COUNT),
so the rehearsal runs the way the container will. Ctrl-C stops it.
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

from settings.stack_settings import NAMESPACE, Settings

from offline.mock_engine import run_program
from offline.project import PROJECT_DIR
from offline.stack_config import load_stack_config

DEFAULT_MODEL_DIR = PROJECT_DIR / "model" / "artifacts"
START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class ServiceSpec:
    stack: str
    port: int
    worker_count: int
    entry_script: Path
    model_dir: Path

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
    )


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

    def __init__(self, spec: ServiceSpec, log_path: Optional[Path] = None) -> None:
        self.spec = spec
        self.log_path = log_path or Path(tempfile.mkstemp(prefix="azmlinfsrv-", suffix=".log")[1])
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> "LocalService":
        env = {**os.environ, "WORKER_COUNT": str(self.spec.worker_count), "AZUREML_MODEL_DIR": str(self.spec.model_dir)}
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


def _interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(signum)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--port", type=int, help="override the stack's WEBSITES_PORT")
    parser.add_argument("--workers", type=int, help="override the stack's WORKER_COUNT")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    args = parser.parse_args(argv)
    try:
        spec = service_spec(args.stack, args.model_dir)
    except pulumi.RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spec = replace(spec, port=args.port or spec.port, worker_count=args.workers or spec.worker_count)
    ensure_model(spec.model_dir)
    service = LocalService(spec)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
