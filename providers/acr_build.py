"""AcrImageBuild: the stack's image built by an ACR Tasks run from Microsoft's inference base image, only when the
inputs that shape it change. The second builder beside ModelPackage, with the same contract: content-addressed,
never built twice, pinned by digest, its image checked and its facts read back from the image itself.

The provider is pickled into the stack's state and runs later in its own process (destroy included): it keeps no
client, credential or lock, and this module declares nothing on import. Everything that talks to Azure is behind
`AcrBuildService` (the real adapter below; tests/fake_acr.py in the tests).
"""
from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, \
    UpdateResult
from pulumi.runtime.rpc import UNKNOWN

from settings.clouds import PUBLIC, Cloud, cloud
from settings.images import parse_image
from settings.stack_settings import BASE_IMAGE_PATTERN, Workspace

from .registry_images import FACT_KEYS, ImageFacts, Manifest, image_facts, read_config, resolve_digest
from .build_inputs import code_failures, rebuild_diff
from .retries import is_transient, with_retries

PROVIDER_VERSION = "1"
DEFAULT_TIMEOUT_MINUTES = 60
POLL_SECONDS = 15.0
REPOSITORY_PREFIX = "model-webapp"
DOCKERFILE = "Dockerfile"  # where providers/build_context.py writes it in the context
# ACR Tasks run states (RunStatus of the 2019-06-01-preview API). fact: acr-run-status
SUCCEEDED = "Succeeded"
FAILED = ("Failed", "Canceled", "Error", "Timeout")

# A change to any of these means a different image: replace (and so rebuild). The tag is their hash.
REBUILD_KEYS = ("subscription_id", "resource_group", "workspace_name", "registry", "model_name", "model_version",
                "content_hash", "entry_script", "environment_spec_hash", "base_image", "environment_variables",
                "cloud", "provider_version")
OUTPUT_KEYS = ("login_server", "repository", "tag", "image", "run_id") + FACT_KEYS


class AcrBuildError(Exception):
    """The build could not be made or failed; the message says why and, for a run, where its log is."""


@dataclass(frozen=True)
class RegistryRef:
    resource_group: str
    name: str
    login_server: str


@dataclass(frozen=True)
class BuildRequest:
    """One ACR Tasks Docker build of an uploaded context."""
    source_location: str  # the relative path get_build_source_upload_url gave
    image_names: tuple[str, ...]  # <repository>:<tag>, pushed to the registry that runs the build
    docker_file_path: str = DOCKERFILE
    timeout_seconds: int = 3600
    platform: tuple[str, str] = ("Linux", "amd64")  # App Service runs linux/amd64 containers


@dataclass(frozen=True)
class RunState:
    run_id: str
    status: str  # Queued, Started, Running, Succeeded, Failed, Canceled, Error, Timeout
    output_images: tuple[tuple[str, str, Optional[str]], ...] = ()  # (repository, tag, digest)
    error_message: Optional[str] = None


class AcrBuildService(Protocol):
    def registry(self, reference: Optional[str]) -> RegistryRef: ...  # None: the workspace's
    def download_model(self, name: str, version: str, dest: Path) -> Path: ...
    def context(self, *, source_dir: Path, entry_script: str, environment_spec: Path, base_image: str,
                model_dir: Optional[Path], server_environment: dict[str, str]) -> Any: ...  # a BuildContext
    def upload_source(self, registry: RegistryRef, archive: bytes) -> str: ...  # -> relative path
    def schedule_run(self, registry: RegistryRef, request: BuildRequest) -> str: ...  # -> run id
    def get_run(self, registry: RegistryRef, run_id: str) -> RunState: ...
    def log_url(self, registry: RegistryRef, run_id: str) -> Optional[str]: ...
    # The registry's data plane (registry_images.RegistryReader).
    def get_manifest(self, login_server: str, repository: str, reference: str) -> Manifest: ...
    def get_blob(self, login_server: str, repository: str, digest: str) -> bytes: ...


ServiceFactory = Callable[[Workspace], AcrBuildService]


def build_key(props: dict[str, Any]) -> str:
    """One hash of every input that shapes the image: the same inputs give the same tag."""
    material = {k: props.get(k) for k in REBUILD_KEYS}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def image_name(props: dict[str, Any]) -> tuple[str, str]:
    """(repository, tag): the repository named after the model, the tag content-addressed."""
    safe = re.sub(r"[^a-z0-9]+", "-", props["model_name"].lower()).strip("-")[:60] or "model"
    return f"{REPOSITORY_PREFIX}/{safe}", build_key(props)[:32]


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _cloud(props: dict[str, Any]) -> Cloud:
    return cloud(props.get("cloud"))


def _workspace(props: dict[str, Any]) -> Workspace:
    return Workspace(subscription_id=props["subscription_id"], resource_group=props["resource_group"],
                     name=props["workspace_name"])


def _not_found(exc: BaseException) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    return isinstance(exc, ResourceNotFoundError) or getattr(exc, "status_code", None) == 404


class AcrImageBuildProvider(ResourceProvider):
    serialize_as_secret_always = False  # the pickle holds no secret: nothing in it is one

    def __init__(self, service_factory: Optional[ServiceFactory] = None, clock: Optional[Callable[[], float]] = None,
                 sleep: Optional[Callable[[float], None]] = None) -> None:
        super().__init__()
        # Only tests pass these; the real ones are looked up per call, so nothing live is pickled.
        if service_factory is not None:
            self.service_factory = service_factory
        if clock is not None:
            self.clock = clock
        if sleep is not None:
            self.sleep = sleep

    def _service(self, props: dict[str, Any]) -> AcrBuildService:
        factory = getattr(self, "service_factory", None)
        return factory(_workspace(props)) if factory else AzureAcrBuild(_workspace(props), _cloud(props))

    def _now(self) -> float:
        return getattr(self, "clock", time.monotonic)()

    def _wait(self, seconds: float) -> None:
        getattr(self, "sleep", time.sleep)(seconds)

    # -- check / diff: no service calls ------------------------------------------------------------
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = code_failures(news)

        def fail(prop: str, reason: str) -> None:
            failures.append(CheckFailure(prop, reason))

        spec = news.get("environment_spec")
        if not spec:
            fail("environment_spec", "an ACR Tasks build needs an environment spec file (a conda .yml with a pip "
                 "section, or a pip .txt)")
        elif spec != UNKNOWN and not Path(spec).is_file():
            fail("environment_spec", f"environment spec {spec} does not exist")
        base = news.get("base_image")
        if base != UNKNOWN and not re.match(BASE_IMAGE_PATTERN, base or ""):
            fail("base_image", f"base image {base!r} is not one of Microsoft's inference images pinned by tag or digest")
        elif spec and spec != UNKNOWN and Path(spec).is_file() and base != UNKNOWN:
            from .build_context import BuildContextError, requirements_of

            try:  # a conda-only dependency is said at preview, not minutes into a build
                requirements_of(Path(spec))
            except BuildContextError as exc:
                fail("environment_spec", str(exc))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return rebuild_diff(olds, news, REBUILD_KEYS, OUTPUT_KEYS)

    # -- create / read / update / delete -----------------------------------------------------------
    def create(self, props: dict[str, Any]) -> CreateResult:
        service = self._service(props)
        repository, tag = image_name(props)
        what = f"building model {props['model_name']}:{props['model_version']} into image {repository}:{tag}"
        registry = with_retries(lambda: service.registry(props.get("registry")), f"finding the registry for {what}")
        # Look first: a retry after an interrupted `up`, or a run that outlived the last timeout, is not built twice.
        digest = with_retries(lambda: self._find(service, registry, repository, tag), f"looking for {what}")
        run_id = None
        if digest is None:
            run_id, digest = self._build(service, registry, repository, tag, props, what)
        else:
            pulumi.log.info(f"image {registry.login_server}/{repository}:{tag} exists: reused, not rebuilt")
        image, facts = with_retries(lambda: self._inspect(service, registry, repository, digest, props),
                                    f"reading the image of {what}")
        outs = {**props, "login_server": registry.login_server, "repository": repository, "tag": tag, "image": image,
                "run_id": run_id, **facts.outputs()}
        return CreateResult(id_=f"{registry.login_server}/{repository}:{tag}", outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        service = self._service(props)
        registry = RegistryRef("", "", props["login_server"])
        if self._find(service, registry, props["repository"], props["tag"]) is None:
            return ReadResult(id_="", outs={})  # gone: refresh drops it, the next up builds it
        return ReadResult(id_=id_, outs=props)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Only inputs that do not shape the image changed (the timeout, the folder's path): keep the image.
        return UpdateResult(outs={**news, **{k: olds.get(k) for k in OUTPUT_KEYS}})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # The image stays in the registry: a site, another stack or a rollback may still run its digest.
        pulumi.log.info(f"image {props.get('image')} is left in its registry (delete it there when nothing runs it)")

    # -- the build -------------------------------------------------------------------------------
    @staticmethod
    def _find(service: AcrBuildService, registry: RegistryRef, repository: str, tag: str) -> Optional[str]:
        try:
            return resolve_digest(service, registry.login_server, repository, tag)
        except Exception as exc:  # noqa: BLE001 - only "no such tag" means build it
            if _not_found(exc):
                return None
            raise

    def _build(self, service: AcrBuildService, registry: RegistryRef, repository: str, tag: str,
               props: dict[str, Any], what: str) -> tuple[str, str]:
        from .build_context import BuildContextError

        timeout = float(props.get("timeout_minutes") or DEFAULT_TIMEOUT_MINUTES)
        with tempfile.TemporaryDirectory(prefix="model-webapp-model-") as folder:
            model_dir = with_retries(lambda: service.download_model(
                props["model_name"], str(props["model_version"]), Path(folder)),
                f"downloading model {props['model_name']}:{props['model_version']}")
            try:
                context = service.context(source_dir=Path(props["source_dir"]), entry_script=props["entry_script"],
                                          environment_spec=Path(props["environment_spec"]),
                                          base_image=props["base_image"], model_dir=model_dir,
                                          server_environment=dict(props.get("environment_variables") or {}))
            except BuildContextError as exc:
                raise AcrBuildError(f"{what}: {exc}") from exc
            archive = context.tar_gz()
        source = with_retries(lambda: service.upload_source(registry, archive), f"uploading the context of {what}")
        request = BuildRequest(source_location=source, image_names=(f"{repository}:{tag}",),
                               timeout_seconds=int(timeout * 60))
        run_id = with_retries(lambda: service.schedule_run(registry, request), f"scheduling {what}")
        pulumi.log.info(f"{what}: ACR Tasks run {run_id} in registry {registry.name}")
        run = self._wait_for(service, registry, run_id, timeout, what)
        if run.status != SUCCEEDED:
            log = with_retries(lambda: service.log_url(registry, run_id), f"reading the log link of run {run_id}")
            reason = f": {run.error_message}" if run.error_message else ""
            raise AcrBuildError(f"{what} failed: ACR Tasks run {run_id} ended {run.status}{reason}\nbuild log: "
                                + (log or f"(none given: `az acr task logs --registry {registry.name} --run-id "
                                          f"{run_id}`)"))
        digest = next((d for r, t, d in run.output_images if r == repository and t == tag and d), None)
        # fact: acr-run-output-images
        return run_id, digest or resolve_digest(service, registry.login_server, repository, tag)

    def _wait_for(self, service: AcrBuildService, registry: RegistryRef, run_id: str, timeout_minutes: float,
                  what: str) -> RunState:
        deadline = self._now() + timeout_minutes * 60
        while True:
            run = with_retries(lambda: service.get_run(registry, run_id), f"reading run {run_id}")
            if run.status == SUCCEEDED or run.status in FAILED:
                return run
            if self._now() >= deadline:
                raise AcrBuildError(
                    f"{what}: ACR Tasks run {run_id} is still {run.status} after {timeout_minutes:g} minutes "
                    f"(packageTimeoutMinutes). It may still finish in the registry: the next `pulumi up` looks for "
                    f"its tag first and reuses the image when done (follow it with `az acr task logs --registry "
                    f"{registry.name} --run-id {run_id}`), or raise packageTimeoutMinutes.")
            self._wait(POLL_SECONDS)

    def _inspect(self, service: AcrBuildService, registry: RegistryRef, repository: str, digest: str,
                 props: dict[str, Any]) -> tuple[str, ImageFacts]:
        """The image pinned by digest, and what its config says it runs; refuses one that cannot serve the model."""
        image = parse_image(f"{registry.login_server}/{repository}@{digest}", _cloud(props)).group(0)
        facts = image_facts(read_config(service, registry.login_server, repository, digest), image=image,
                            entry_script=props["entry_script"], base_image=props["base_image"])
        return image, facts


class AcrImageBuild(pulumi.dynamic.Resource, module="model-webapp", name="AcrImageBuild"):
    login_server: pulumi.Output[str]
    repository: pulumi.Output[str]
    tag: pulumi.Output[str]
    image: pulumi.Output[str]
    run_id: pulumi.Output[Optional[str]]
    content_hash: pulumi.Output[str]
    image_port: pulumi.Output[int]
    image_entrypoint: pulumi.Output[list]
    image_cmd: pulumi.Output[list]
    image_model_dir: pulumi.Output[str]
    image_entry_script: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: Optional[pulumi.ResourceOptions] = None,
                 provider: Optional[AcrImageBuildProvider] = None) -> None:
        super().__init__(provider or AcrImageBuildProvider(), name,
                         {"provider_version": PROVIDER_VERSION, **props, **{k: None for k in OUTPUT_KEYS}}, opts)


# -- the real adapter ---------------------------------------------------------------------------------------------
REGISTRY_ID = re.compile(r"^/subscriptions/[^/]+/resource[Gg]roups/(?P<group>[^/]+)/providers/"
                         r"[Mm]icrosoft\.[Cc]ontainer[Rr]egistry/registries/(?P<name>[^/]+)$")
# ACR Tasks' runs are in the 2019-06-01-preview API of azure-mgmt-containerregistry 14. fact: acr-tasks-api-version
TASKS_API_VERSION = "2019-06-01-preview"


@dataclass
class AzureAcrBuild:
    """AcrBuildService on azure-mgmt-containerregistry and azure-ai-ml; clients made per call, never kept."""
    workspace: Workspace
    cloud: Cloud = PUBLIC

    def _credential(self):
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(authority=self.cloud.authority)

    def _acr(self):
        from azure.mgmt.containerregistry import ContainerRegistryManagementClient

        return ContainerRegistryManagementClient(self._credential(), self.workspace.subscription_id,
                                                 api_version=TASKS_API_VERSION, base_url=self.cloud.arm_endpoint,
                                                 credential_scopes=[self.cloud.arm_scope])

    def _packaging(self):
        from .packaging import AzureMLPackaging

        return AzureMLPackaging(self.workspace, self.cloud)

    def registry(self, reference: Optional[str]) -> RegistryRef:
        if not reference:  # the workspace's, as Azure ML records it
            reference = self._packaging()._client().workspaces.get(self.workspace.name).container_registry
            if not reference:
                raise AcrBuildError(f"workspace {self.workspace.name} has no container registry yet: set build.registry,"
                                    " or attach a registry to the workspace")
        client = self._acr()
        match = REGISTRY_ID.match(reference)
        if match:
            found = client.registries.get(match["group"], match["name"])
        else:
            found = next((r for r in client.registries.list() if (r.login_server or "").lower() == reference.lower()),
                         None)
            if found is None:
                raise AcrBuildError(f"no registry with login server {reference} in subscription "
                                    f"{self.workspace.subscription_id}: set build.registry to its resource id")
        group = REGISTRY_ID.match(found.id)["group"]
        return RegistryRef(resource_group=group, name=found.name, login_server=found.login_server)

    def download_model(self, name: str, version: str, dest: Path) -> Path:
        self._packaging()._client().models.download(name=name, version=version, download_path=str(dest))
        return dest

    def context(self, **kwargs: Any) -> Any:
        from .build_context import build_context

        environment = kwargs.pop("server_environment")
        return build_context(**kwargs, server_environment_vars=environment)

    def upload_source(self, registry: RegistryRef, archive: bytes) -> str:
        from azure.storage.blob import BlobClient

        # fact: acr-source-upload
        upload = self._acr().registries.get_build_source_upload_url(registry.resource_group, registry.name)
        BlobClient.from_blob_url(upload.upload_url).upload_blob(archive, overwrite=True)
        return upload.relative_path

    def schedule_run(self, registry: RegistryRef, request: BuildRequest) -> str:
        from azure.mgmt.containerregistry.v2019_06_01_preview.models import DockerBuildRequest, PlatformProperties

        os_name, architecture = request.platform
        build = DockerBuildRequest(docker_file_path=request.docker_file_path, image_names=list(request.image_names),
                                   is_push_enabled=True, source_location=request.source_location,
                                   timeout=request.timeout_seconds,
                                   platform=PlatformProperties(os=os_name, architecture=architecture))
        run = self._acr().registries.begin_schedule_run(registry.resource_group, registry.name, build).result()
        return run.run_id

    def get_run(self, registry: RegistryRef, run_id: str) -> RunState:
        run = self._acr().runs.get(registry.resource_group, registry.name, run_id)
        images = tuple((i.repository, i.tag, i.digest) for i in (run.output_images or []))
        return RunState(run_id=run.run_id, status=str(getattr(run.status, "value", run.status)), output_images=images,
                        error_message=getattr(run, "run_error_message", None))

    def log_url(self, registry: RegistryRef, run_id: str) -> Optional[str]:
        return self._acr().runs.get_log_sas_url(registry.resource_group, registry.name, run_id).log_link

    def get_manifest(self, login_server: str, repository: str, reference: str) -> Manifest:
        return self._packaging().get_manifest(login_server, repository, reference)

    def get_blob(self, login_server: str, repository: str, digest: str) -> bytes:
        return self._packaging().get_blob(login_server, repository, digest)
