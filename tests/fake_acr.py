"""An in-memory stand-in for ACR Tasks and Azure ML's model download, behind the same interface as AzureAcrBuild.

A run goes Queued -> Running -> Succeeded (or Failed) as the injected clock advances; when it succeeds, the image the
uploaded context's Dockerfile describes (its ENV, EXPOSE and CMD) is pushed into a fake registry that answers like
ACR, so the provider finds, pins and checks it the way it reads a real one. Throttling (429) and server errors (503)
are raised on demand, per operation.
"""
from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from azure.core.exceptions import HttpResponseError

from offline.fake_registry import FakeRegistry
from providers.acr_build import BuildRequest, RegistryRef, RunState
from providers.registry_images import Manifest
from settings.stack_settings import Workspace

LOGIN_SERVER = "mlwmodelsregistry.azurecr.io"
REGISTRY = RegistryRef(resource_group="rg-aml", name="mlwmodelsregistry", login_server=LOGIN_SERVER)
LOG_LINK = "https://mlwmodelsregistry.blob.core.windows.net/logs/{run_id}/rawtext.log?sv=FAKE"


@dataclass
class FakeClock:
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class FakeRun:
    run_id: str
    request: BuildRequest
    archive: bytes
    scheduled_at: float
    pushed: Optional[str] = None  # the digest, once the run succeeded


def _transient(status: int) -> HttpResponseError:
    error = HttpResponseError(message="Too Many Requests" if status == 429 else "Service Unavailable")
    error.status_code = status
    return error


def dockerfile_config(dockerfile: str) -> dict[str, Any]:
    """The image config a Docker build of this Dockerfile would give (ENV, EXPOSE, CMD, ENTRYPOINT)."""
    env, ports, cmd, entrypoint = [], {}, [], []
    for line in dockerfile.splitlines():
        word, _, rest = line.partition(" ")
        if word == "ENV":
            name, _, value = rest.partition("=")
            env.append(f"{name}={json.loads(value.replace(chr(92) + '$', '$'))}")
        elif word == "EXPOSE":
            ports[f"{rest.strip()}/tcp"] = {}
        elif word == "CMD":
            cmd = json.loads(rest)
        elif word == "ENTRYPOINT":
            entrypoint = json.loads(rest)
    return {"architecture": "amd64", "os": "linux",
            "config": {"Env": env, "ExposedPorts": ports, "Cmd": cmd, "Entrypoint": entrypoint or None},
            "rootfs": {"type": "layers", "diff_ids": []}}


@dataclass
class FakeAcr:
    clock: FakeClock = field(default_factory=FakeClock)
    queue_seconds: float = 20.0
    build_seconds: float = 100.0
    fail_with: Optional[str] = None  # the run ends Failed with this message
    report_digest: bool = True  # whether the run's output images carry the digest
    transient: dict[str, int] = field(default_factory=dict)  # operation -> how many 429/503 before it answers
    model_files: dict[str, bytes] = field(default_factory=lambda: {"model.joblib": b"FAKE model bytes"})
    images: FakeRegistry = field(default_factory=lambda: FakeRegistry(LOGIN_SERVER))
    runs: dict[str, FakeRun] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    registries_asked: list[Optional[str]] = field(default_factory=list)
    downloads: list[tuple[str, str]] = field(default_factory=list)
    uploads: list[bytes] = field(default_factory=list)
    workspaces: list[Workspace] = field(default_factory=list)

    def factory(self, workspace: Workspace) -> "FakeAcr":
        self.workspaces.append(workspace)
        return self

    def _call(self, operation: str) -> None:
        self.calls.append(operation)
        left = self.transient.get(operation, 0)
        if left:
            self.transient[operation] = left - 1
            raise _transient(429 if left % 2 else 503)

    @property
    def builds(self) -> int:
        return len(self.runs)

    # -- AcrBuildService ---------------------------------------------------------------------------
    def registry(self, reference: Optional[str]) -> RegistryRef:
        self._call("registry")
        self.registries_asked.append(reference)
        return REGISTRY

    def download_model(self, name: str, version: str, dest: Path) -> Path:
        self._call("download_model")
        self.downloads.append((name, version))
        folder = dest / name  # azure-ai-ml writes a folder named after the model
        folder.mkdir(parents=True)
        for relative, data in self.model_files.items():
            (folder / relative).write_bytes(data)
        return dest

    def context(self, **kwargs: Any) -> Any:
        from providers.build_context import build_context

        self.calls.append("context")
        environment = kwargs.pop("server_environment")
        return build_context(**kwargs, server_environment_vars=environment)

    def upload_source(self, registry: RegistryRef, archive: bytes) -> str:
        self._call("upload_source")
        self.uploads.append(archive)
        return f"source/{len(self.uploads):03d}/context.tar.gz"

    def schedule_run(self, registry: RegistryRef, request: BuildRequest) -> str:
        self._call("schedule_run")
        run_id = f"ca{len(self.runs) + 1}"
        archive = self.uploads[int(request.source_location.split("/")[1]) - 1]
        self.runs[run_id] = FakeRun(run_id, request, archive, self.clock())
        return run_id

    def get_run(self, registry: RegistryRef, run_id: str) -> RunState:
        self._call("get_run")
        run = self.runs[run_id]
        elapsed = self.clock() - run.scheduled_at
        if elapsed < self.queue_seconds:
            return RunState(run_id, "Queued")
        if elapsed < self.queue_seconds + self.build_seconds:
            return RunState(run_id, "Running")
        if self.fail_with is not None:
            return RunState(run_id, "Failed", error_message=self.fail_with)
        repository, tag = run.request.image_names[0].split(":")
        if run.pushed is None:
            run.pushed = self.images.push(repository, dockerfile_config(self.dockerfile(run)), tag=tag)
        return RunState(run_id, "Succeeded",
                        output_images=((repository, tag, run.pushed if self.report_digest else None),))

    def log_url(self, registry: RegistryRef, run_id: str) -> Optional[str]:
        self._call("log_url")
        return LOG_LINK.format(run_id=run_id)

    def get_manifest(self, login_server: str, repository: str, reference: str) -> Manifest:
        self._call("get_manifest")
        return self.images.get_manifest(login_server, repository, reference)

    def get_blob(self, login_server: str, repository: str, digest: str) -> bytes:
        self._call("get_blob")
        return self.images.get_blob(login_server, repository, digest)

    # -- what the tests read -----------------------------------------------------------------------
    @staticmethod
    def files(run: FakeRun) -> dict[str, bytes]:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(run.archive))) as tar:
            return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}

    def dockerfile(self, run: FakeRun) -> str:
        return self.files(run)["Dockerfile"].decode()
