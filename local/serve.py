"""The local rehearsal: the real inference server, with the entry script, port and worker count of a stack.

    python -m local.serve --stack dev                            (or: make serve) the example, its model trained once
    python -m local.serve --config-file my.yaml --model-dir DIR  your entry script with your model's files, read only
    python -m local.serve --stack mine --download                the stack's registered model version, from Azure ML
    python -m local.serve --stack dev --telemetry                also rehearse the telemetry, into a sink on loopback
    python -m local.serve --config-file examples/fleet.yaml --service diabetes    one model of a stack with models

The port and WORKER_COUNT are read from the web app the stack plans (WEBSITES_PORT, WORKER_COUNT),
so the rehearsal runs the way the container will. The model folder (AZUREML_MODEL_DIR) is --model-dir, read and
never written; or, with --download, the stack's model version fetched with azure-ai-ml (after `az login`) into
.venv/model-cache (or --download-to, a new or empty folder); or, for the example's own entry script only,
model/artifacts, where the example model is trained when missing. With --telemetry the server also gets the web
app's telemetry app settings, the connection string's IngestionEndpoint pointed at a local sink that prints
what arrives. A stack with `models` serves one of them: --service names it (its entry script, model, port, workers and
smoke request; its own web app's settings). Ctrl-C stops it.

Exit 0: stopped; 1: the server or the download failed; 2: the arguments, the stack or the model folder are wrong.
"""
from __future__ import annotations

import argparse
import os
import shutil
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
from typing import Callable, Optional, Protocol

import pulumi

from local.services import ServiceChoiceError, pick_service
from providers.build_context import server_command, server_environment
from local.telemetry_sink import TelemetrySink

from settings.stack_settings import NAMESPACE, Settings

from offline.mock_engine import ProgramRun, Registration, plain_value, run_program
from offline.project import PROJECT_DIR
from offline.stack_config import StackFileError, load_stack_config

EXAMPLE_ENTRY_SCRIPT = PROJECT_DIR / "model" / "src" / "score.py"
EXAMPLE_MODEL_DIR = PROJECT_DIR / "model" / "artifacts"  # the only folder this rehearsal trains into
DEFAULT_MODEL_DIR = EXAMPLE_MODEL_DIR
MODEL_CACHE = PROJECT_DIR / ".venv" / "model-cache"  # --download: <workspace>/<model>/<version>/
TELEMETRY_SETTINGS = ("AML_APP_INSIGHTS_ENABLED", "AML_APP_INSIGHTS_KEY", "APPLICATIONINSIGHTS_CONNECTION_STRING",
                      "APP_INSIGHTS_LOG_RESPONSE_ENABLED")
START_TIMEOUT_SECONDS = 60.0
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The arguments, the stack or the model folder are wrong: the message says what to fix (exit 2)."""


class SignInRequired(UsageError):
    """Azure refused the credentials: `az login` first."""


class DownloadFailed(Exception):
    """Azure ML answered, but the model did not arrive (exit 1)."""


@dataclass(frozen=True)
class RegisteredModel:
    """The registered model version a stack packages, and the workspace that holds it."""
    subscription_id: str
    resource_group: str
    workspace: str
    name: str
    version: str

    def describe(self) -> str:
        return f"model {self.name} version {self.version} of workspace {self.workspace}"


@dataclass(frozen=True)
class ServiceSpec:
    stack: str
    port: int
    worker_count: int
    entry_script: Path
    model_dir: Optional[Path]  # None until a model folder is chosen (choose_model_dir)
    telemetry: tuple[tuple[str, str], ...] = ()  # the web app's telemetry app settings, as it would get them
    model: Optional[RegisteredModel] = None
    smoke_request: Optional[Path] = None  # the stack's smoke request; None: it sends none
    service: Optional[str] = None  # the models entry served; None: a one-model stack
    code_dir: Optional[Path] = None  # code.sourceDir, the image's AML_APP_ROOT; None: the entry script's folder
    server_environment: tuple[tuple[str, str], ...] = ()  # serverEnvironment, baked into the image

    @property
    def label(self) -> str:
        """How messages name what is served: "stack dev", or "stack fleet, service iris"."""
        return f"stack {self.stack}" + (f", service {self.service}" if self.service else "")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_example(self) -> bool:
        """Whether the stack serves the example's own entry script, the one the example model is trained for."""
        return self.entry_script.resolve() == EXAMPLE_ENTRY_SCRIPT.resolve()


def service_spec(stack: Optional[str] = None, model_dir: Optional[Path] = None,
                 config_file: Optional[Path] = None, service: Optional[str] = None) -> ServiceSpec:
    """What the stack's web app (with `models`: the named service's) would run, read from the planned resources.

    The model folder is `model_dir` when given; else model/artifacts for the example's entry script, and None
    (to be chosen) for any other. UsageError when `service` is missing, unknown, or given for a one-model stack."""
    config = load_stack_config(stack or (None if config_file else "dev"), config_file)
    run = run_program(config.values, config.stack, secret_keys=list(config.secret_keys))

    # run_program left the stack's config in place: read the code location the same way the program does.
    stack_settings = Settings.from_config(pulumi.Config(NAMESPACE), stack=config.stack, project_dir=PROJECT_DIR)
    try:
        settings = pick_service(stack_settings, service)
    except ServiceChoiceError as exc:
        raise UsageError(str(exc)) from None
    site = site_of(run, settings)
    app_settings = {s["name"]: s["value"] for s in site.inputs["siteConfig"]["appSettings"]}
    entry_script = PROJECT_DIR / settings.code.source_dir / settings.code.entry_script
    if model_dir is None and entry_script.resolve() == EXAMPLE_ENTRY_SCRIPT.resolve():
        model_dir = EXAMPLE_MODEL_DIR
    return ServiceSpec(
        stack=config.stack,
        port=int(app_settings["WEBSITES_PORT"]),
        worker_count=int(app_settings["WORKER_COUNT"]),
        entry_script=entry_script,
        model_dir=model_dir,
        telemetry=telemetry_of(site),
        model=RegisteredModel(settings.workspace.subscription_id, settings.workspace.resource_group,
                              settings.workspace.name, settings.model.name, settings.model.version),
        smoke_request=smoke_request_of(settings),
        service=settings.service,
        code_dir=PROJECT_DIR / settings.code.source_dir,
        server_environment=tuple(sorted(settings.server_environment.items())),
    )


def site_of(run: ProgramRun, settings: Settings) -> Registration:
    """The planned web app of a stack's one model, or of one service: <prefix>-<stack>[-<service>]-app."""
    name = f"{settings.resource_name()}-app"
    found = [r for r in run.of_type("azure-native:web:WebApp") if r.name == name]
    if len(found) != 1:  # the program names its sites otherwise than this reads them: a bug, not the user's
        raise RuntimeError(f"the plan of stack {run.stack} has {len(found)} web apps named {name}, not one")
    return found[0]


def smoke_request_of(settings: Settings) -> Optional[Path]:
    """The stack's smoke request file, or None when release.smokeRequest is empty (it sends none)."""
    if hasattr(settings, "smoke_request_path"):  # the settings' own answer, beside the code folder by default
        path = settings.smoke_request_path
        return None if path is None else PROJECT_DIR / path
    return PROJECT_DIR / settings.release.smoke_request if settings.release.smoke_request else None


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


def shown(path: Path) -> str:
    """A path as the user reads it: relative to the project when inside it."""
    try:
        return path.resolve().relative_to(PROJECT_DIR.resolve()).as_posix()
    except ValueError:
        return str(path)


def _example_trainer():
    sys.path.insert(0, str(PROJECT_DIR / "model"))
    try:
        import train  # model/train.py
    finally:
        sys.path.pop(0)
    return train


def holds(folder: Path, most: int = 8) -> str:
    """What a folder holds, in a few words, for a message."""
    entries = sorted(p.relative_to(folder).as_posix() + ("/" if p.is_dir() else "") for p in folder.rglob("*"))
    if not entries:
        return "it is empty"
    more = f" and {len(entries) - most} more" if len(entries) > most else ""
    return f"it holds {', '.join(entries[:most])}{more}"


# -- the model folder: chosen, checked, downloaded or (the example's only) trained; never written otherwise ----------
def ensure_model(model_dir: Optional[Path] = None, echo: Callable[[str], None] = print) -> Path:
    """The example model in model/artifacts, trained there when missing. Any other folder is only checked."""
    trainer = _example_trainer()
    model_dir = model_dir or EXAMPLE_MODEL_DIR
    if (model_dir / trainer.MODEL_FILE).is_file():
        return model_dir
    if model_dir.resolve() != EXAMPLE_MODEL_DIR.resolve():
        raise UsageError(f"no {trainer.MODEL_FILE} in {model_dir}: the example model is trained into "
                         f"{shown(EXAMPLE_MODEL_DIR)} only, never into another folder")
    echo(f"training the example model into {shown(model_dir)} ...")
    trainer.train(model_dir)
    return model_dir


def check_model_dir(folder: Path, spec: ServiceSpec) -> Path:
    """A --model-dir as it is: an error naming it when it holds no model. Nothing here writes."""
    never = "this rehearsal reads it and never writes into it"
    if not folder.exists():
        raise UsageError(f"--model-dir {folder}: no such folder")
    if not folder.is_dir():
        raise UsageError(f"--model-dir {folder} is a file: name the folder that holds the model's files")
    if spec.is_example:
        model_file = _example_trainer().MODEL_FILE
        if not any(folder.rglob(model_file)):
            raise UsageError(f"--model-dir {folder} has no {model_file} for {shown(spec.entry_script)} to load "
                             f"({holds(folder)}); {never}: put the model there, or leave out --model-dir to serve "
                             f"the example model in {shown(EXAMPLE_MODEL_DIR)}")
    elif not any(p.is_file() for p in folder.rglob("*")):
        raise UsageError(f"--model-dir {folder} holds no model ({holds(folder)}); {never}: put your model's files "
                         f"there as AZUREML_MODEL_DIR will hold them, or pass --download")
    return folder


class ModelDownloads(Protocol):
    """Fetches a registered model version's files, as `MLClient.models.download` does: into <into>/<name>/."""

    def download(self, model: RegisteredModel, into: Path) -> None: ...


class AzureModelDownloads:
    """ModelDownloads on azure-ai-ml with the signed-in Azure identity; one MLClient per call."""

    def download(self, model: RegisteredModel, into: Path) -> None:
        from azure.ai.ml import MLClient
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
        from azure.identity import DefaultAzureCredential

        client = MLClient(DefaultAzureCredential(), model.subscription_id, model.resource_group, model.workspace)
        try:
            # fact: local-models-download-layout
            client.models.download(name=model.name, version=model.version, download_path=str(into))
        except ClientAuthenticationError as exc:  # fact: local-sign-in-error (CredentialUnavailableError too)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SignInRequired(f"Azure did not accept your sign-in ({first}): run `az login` (and `az account set "
                                 f"--subscription {model.subscription_id}`), then try again") from None
        except ResourceNotFoundError:
            raise DownloadFailed(f"{model.describe()} was not found (resource group {model.resource_group}, "
                                 f"subscription {model.subscription_id}): check model and workspace in the stack "
                                 f"file") from None
        except HttpResponseError as exc:
            raise DownloadFailed(f"Azure refused the download of {model.describe()}: {exc.message}") from None


def download_model(model: RegisteredModel, downloads: ModelDownloads, download_to: Optional[Path] = None,
                   cache: Optional[Path] = None, echo: Callable[[str], None] = print) -> Path:
    """The model version's folder, as AZUREML_MODEL_DIR will hold it: downloaded once into the cache, or into
    `download_to` (a new or empty folder). The download lands in a scratch folder first: a failed one leaves nothing."""
    cache = cache or MODEL_CACHE
    if download_to is not None:
        target = download_to
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise UsageError(f"--download-to {target} is not a new or empty folder, and nothing in it is ever "
                             f"overwritten: name another folder, or serve what it holds with --model-dir "
                             f"{target / model.name}")
    else:
        target = cache / model.workspace / model.name / model.version
        if (target / model.name).is_dir():  # a registered version never changes: one download is enough
            echo(f"{model.describe()}: downloaded before, into {shown(target)}")
            return target / model.name
        shutil.rmtree(target, ignore_errors=True)  # an unfinished download of ours, in our own cache
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache))
    echo(f"downloading {model.describe()} into {shown(target)} ...")
    try:
        downloads.download(model, scratch)
        if not (scratch / model.name).is_dir():
            raise DownloadFailed(f"the download of {model.describe()} has no {model.name}/ folder ({holds(scratch)})")
        target.mkdir(parents=True, exist_ok=True)
        for child in scratch.iterdir():
            shutil.move(str(child), str(target / child.name))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target / model.name


def choose_model_dir(spec: ServiceSpec, model_dir: Optional[Path] = None, download: bool = False,
                     download_to: Optional[Path] = None, downloads: Optional[ModelDownloads] = None,
                     cache: Optional[Path] = None, echo: Callable[[str], None] = print) -> Path:
    """The folder to serve as AZUREML_MODEL_DIR: --model-dir, --download, or the example's model/artifacts."""
    if model_dir is not None and (download or download_to is not None):
        raise UsageError("pass --model-dir or --download, not both")
    if model_dir is not None:
        return check_model_dir(model_dir, spec)
    if download or download_to is not None:
        return download_model(spec.model, downloads or AzureModelDownloads(), download_to, cache, echo)
    if spec.is_example:
        return ensure_model(EXAMPLE_MODEL_DIR, echo)
    model = spec.model.describe() if spec.model else "the stack's model"
    raise UsageError(f"{spec.label} serves {shown(spec.entry_script)}, not the example's: name its model "
                     f"folder with --model-dir DIR (the files AZUREML_MODEL_DIR will hold), or pass --download to "
                     f"fetch {model} (after `az login`)")


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """The stack and model arguments local.serve and local.demo share."""
    parser.add_argument("--stack", help="stack name: Pulumi.STACK.yaml (default dev, or the --config-file's name)")
    parser.add_argument("--config-file", type=Path, help="a stack file to read instead of Pulumi.STACK.yaml")
    parser.add_argument("--service", help="with models in the stack: the one to serve (a name under models)")
    parser.add_argument("--port", type=int, help="override the stack's WEBSITES_PORT")
    parser.add_argument("--model-dir", type=Path,
                        help="the model's files, served as AZUREML_MODEL_DIR; read, never written")
    parser.add_argument("--download", action="store_true",
                        help="fetch the stack's registered model version from Azure ML (az login first) into "
                             ".venv/model-cache, and serve that")
    parser.add_argument("--download-to", type=Path, metavar="DIR",
                        help="--download into this new or empty folder instead of the cache")


def prepare(args: argparse.Namespace, downloads: Optional[ModelDownloads] = None,
            echo: Callable[[str], None] = print) -> ServiceSpec:
    """The stack's service with its model folder chosen; raises UsageError, StackFileError, pulumi.RunError or
    DownloadFailed."""
    spec = service_spec(args.stack, config_file=args.config_file, service=args.service)
    spec = replace(spec, port=args.port or spec.port,
                   model_dir=choose_model_dir(spec, args.model_dir, args.download, args.download_to, downloads,
                                              echo=echo))
    echo(f"{spec.label}: entry script {shown(spec.entry_script)}, model folder {shown(spec.model_dir)} "
         f"(AZUREML_MODEL_DIR)")
    return spec


def exit_code(exc: BaseException) -> int:
    """Prints what went wrong; the exit code it deserves."""
    print(f"error: {exc}", file=sys.stderr)
    return EXIT_FAILED if isinstance(exc, DownloadFailed) else EXIT_USAGE


PREPARE_ERRORS = (UsageError, StackFileError, pulumi.RunError, DownloadFailed)


class LocalService:
    """azmlinfsrv on 127.0.0.1 in its own process group; a context manager that always stops it."""

    def __init__(self, spec: ServiceSpec, log_path: Optional[Path] = None,
                 telemetry_endpoint: Optional[str] = None) -> None:
        self.spec = spec
        self.telemetry_endpoint = telemetry_endpoint
        self.log_path = log_path or Path(tempfile.mkstemp(prefix="azmlinfsrv-", suffix=".log")[1])
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> "LocalService":
        if self.spec.model_dir is None:
            raise UsageError(f"no model folder chosen for {self.spec.label}: see choose_model_dir")
        env = {**os.environ, **self.environment()}
        if self.telemetry_endpoint:
            env.update(telemetry_environment(dict(self.spec.telemetry), self.telemetry_endpoint))
        command = self.command()
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        self._wait_healthy()
        return self

    def command(self) -> list[str]:
        """The image's CMD with local paths and port; azmlinfsrv bound to loopback (local.loopback_server)."""
        image_command = server_command(str(self.spec.entry_script), str(self.spec.model_dir), self.spec.port)
        return [sys.executable, "-m", "local.loopback_server", *image_command[1:]]

    def environment(self) -> dict[str, str]:
        """The image's ENV with local paths, and the web app's WORKER_COUNT as App Service sets it."""
        return server_environment(str(self.spec.entry_script), str(self.spec.model_dir),
                                  str(self.spec.code_dir or self.spec.entry_script.parent),
                                  worker_count=self.spec.worker_count, extra=dict(self.spec.server_environment))

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


def main(argv: Optional[list[str]] = None, downloads: Optional[ModelDownloads] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.serve", description=__doc__.splitlines()[0])
    add_stack_arguments(parser)
    parser.add_argument("--workers", type=int, help="override the stack's WORKER_COUNT")
    parser.add_argument("--telemetry", action="store_true",
                        help="send the server's telemetry to a local sink that prints what arrives")
    args = parser.parse_args(argv)
    echo = lambda line: print(line, flush=True)  # noqa: E731
    try:
        spec = prepare(args, downloads, echo)
    except PREPARE_ERRORS as exc:
        return exit_code(exc)
    spec = replace(spec, worker_count=args.workers or spec.worker_count)
    if args.telemetry and not spec.telemetry:
        print(f"error: {spec.label} sends no telemetry (model-webapp:monitoring.enabled is false)", file=sys.stderr)
        return EXIT_USAGE
    sink = TelemetrySink(echo=echo) if args.telemetry else None
    if sink is not None:
        sink.__enter__()
    service = LocalService(spec, telemetry_endpoint=sink.endpoint if sink else None)
    # The server runs in its own process group: a SIGTERM to us must stop it too, as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        service.start()
        echo(f"serving {shown(spec.entry_script)} at {spec.base_url}/score "
             f"({spec.worker_count} worker(s), log {service.log_path}); Ctrl-C stops")
        service.process.wait()
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        service.stop()
        if sink is not None:
            sink.__exit__(None, None, None)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
