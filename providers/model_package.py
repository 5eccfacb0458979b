"""ModelPackage: the model package image as a resource of the stack, built with azure-ai-ml only when its inputs change.

The provider is pickled into the stack's state and runs later in its own process (destroy
included): it keeps no client, credential or lock, and this module declares nothing on import.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
from pathlib import Path
from typing import Any, Callable, Optional

import pulumi
from pulumi.runtime.rpc import UNKNOWN  # what preview passes for a value not known yet
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, \
    UpdateResult

from settings.images import parse_image
from .packaging import (AzureMLPackaging, BuiltEnvironment, PackageBuildError, PackageRequest, PackagingService,
                        build_error, split_image)
from .retries import is_transient, with_retries
from settings.stack_settings import ENVIRONMENT_ASSET, MODEL_VERSION, MOUNT_MODES, Workspace

PROVIDER_VERSION = "1"
DEFAULT_TIMEOUT_MINUTES = 60

# A change to any of these means a different image: replace (and so rebuild).
REBUILD_KEYS = ("subscription_id", "resource_group", "workspace_name", "model_name", "model_version",
                "content_hash", "entry_script", "environment_asset", "model_mount_mode", "environment_variables",
                "provider_version")
OUTPUT_KEYS = ("environment_name", "environment_version", "environment_id", "login_server", "image")
ServiceFactory = Callable[[Workspace], PackagingService]


def environment_name(model_name: str, key: str) -> str:
    """Content-addressed and \\w+ only, so azure-ai-ml pins the version instead of dropping it."""
    safe = re.sub(r"\W", "_", model_name).strip("_")[:40] or "model"
    return f"pkg_{safe}_{key[:20]}"


def package_key(props: dict[str, Any]) -> str:
    """One hash of every input that shapes the image."""
    material = {k: props.get(k) for k in REBUILD_KEYS}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _workspace(props: dict[str, Any]) -> Workspace:
    return Workspace(subscription_id=props["subscription_id"], resource_group=props["resource_group"],
                     name=props["workspace_name"])


def with_deadline(call: Callable[[], Any], minutes: float, what: str) -> Any:
    """models.package() blocks with no timeout of its own: bound it from outside."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            result["error"] = exc

    worker = threading.Thread(target=target, name="model-package-build", daemon=True)
    worker.start()
    worker.join(timeout=minutes * 60)
    if worker.is_alive():
        raise PackageBuildError(
            f"{what} did not finish within {minutes:g} minutes (packageTimeoutMinutes). The build may still be "
            "running in Azure ML: the next `pulumi up` looks for its environment first and reuses it when done."
        )
    if "error" in result:
        raise result["error"]
    return result["value"]


class ModelPackageProvider(ResourceProvider):
    serialize_as_secret_always = False  # the pickle holds no secret: nothing in it is one

    def __init__(self, service_factory: Optional[ServiceFactory] = None) -> None:
        super().__init__()
        # Only tests pass a factory; the real one is looked up per call, so nothing live is pickled.
        if service_factory is not None:
            self.service_factory = service_factory

    def _service(self, props: dict[str, Any]) -> PackagingService:
        factory = getattr(self, "service_factory", None) or AzureMLPackaging
        return factory(_workspace(props))

    # -- check / diff: no service calls ------------------------------------------------------------
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []

        def fail(prop: str, reason: str) -> None:
            failures.append(CheckFailure(prop, reason))

        def known(prop: str) -> bool:
            return news.get(prop) not in (None, UNKNOWN)

        source_dir = Path(news.get("source_dir") or "")
        if known("source_dir") and not source_dir.is_dir():
            fail("source_dir", f"inference code folder {source_dir} does not exist")
        elif known("entry_script") and known("source_dir") and not (source_dir / news["entry_script"]).is_file():
            fail("entry_script", f"entry script {news['entry_script']} is not in {source_dir}")
        asset, spec = news.get("environment_asset"), news.get("environment_spec")
        if asset:
            if asset != UNKNOWN and not re.match(ENVIRONMENT_ASSET, asset):
                fail("environment_asset", f"{asset!r} is not an environment reference azureml:<name>:<version>")
        elif not spec:
            fail("environment_spec", "set an environment spec file (conda .yml or pip .txt) or an environment asset")
        elif spec != UNKNOWN and not Path(spec).is_file():
            fail("environment_spec", f"environment spec {spec} does not exist")
        version = str(news.get("model_version", ""))
        if version != UNKNOWN and not re.match(MODEL_VERSION, version):
            fail("model_version", f"model version {version!r} is not a version number such as 1")
        if news.get("model_mount_mode", "download") not in MOUNT_MODES + (UNKNOWN,):
            fail("model_mount_mode", f"model mount mode must be one of {', '.join(MOUNT_MODES)}")
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        unknown = [k for k in REBUILD_KEYS if news.get(k) == UNKNOWN]
        replaces = [k for k in REBUILD_KEYS if k in unknown or olds.get(k) != news.get(k)]
        others = [k for k in set(news) | set(olds)
                  if k not in REBUILD_KEYS and k not in OUTPUT_KEYS and k != "__provider" and olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(replaces or others), replaces=replaces, delete_before_replace=False)

    # -- create / read / update / delete -----------------------------------------------------------
    def create(self, props: dict[str, Any]) -> CreateResult:
        service = self._service(props)
        name, version = environment_name(props["model_name"], package_key(props)), "1"
        what = f"packaging model {props['model_name']}:{props['model_version']} into environment {name}:{version}"
        timeout = float(props.get("timeout_minutes") or DEFAULT_TIMEOUT_MINUTES)

        def find_or_build() -> BuiltEnvironment:
            # Look first: a retry after an interrupted `up`, or after a transient error mid-build, must not build twice.
            found = service.find_environment(name, version)
            if found is not None and found.image and not found.archived:
                return found
            request = PackageRequest(
                model_name=props["model_name"], model_version=str(props["model_version"]),
                source_dir=props["source_dir"], entry_script=props["entry_script"],
                base_environment=self._base_environment(service, props), target_name=name, target_version=version,
                model_mount_mode=props.get("model_mount_mode") or "download",
                environment_variables=dict(props.get("environment_variables") or {}),
            )
            try:
                return service.build(request)
            except Exception as exc:  # noqa: BLE001 - transient ones are retried, the rest explained
                if is_transient(exc):
                    raise
                raise build_error(exc, request) from exc

        built = with_deadline(lambda: with_retries(find_or_build, what), timeout, what)
        image = self._pinned_image(service, built)
        outs = {**props, **self._outputs(built, image)}
        return CreateResult(id_=built.id, outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        found = self._service(props).find_environment(props["environment_name"], props["environment_version"])
        if found is None or found.archived:
            return ReadResult(id_="", outs={})  # gone: refresh drops it, the next up rebuilds
        return ReadResult(id_=id_, outs=props)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Only inputs that do not shape the image changed (timeout, the folder's path): keep the image.
        return UpdateResult(outs={**news, **{k: olds[k] for k in OUTPUT_KEYS}})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # Environments cannot be deleted, only archived; the image stays in the registry.
        self._service(props).archive(props["environment_name"], props["environment_version"])

    # -- helpers -----------------------------------------------------------------------------------
    @staticmethod
    def _base_environment(service: PackagingService, props: dict[str, Any]) -> str:
        if props.get("environment_asset"):
            return props["environment_asset"]
        spec = Path(props["environment_spec"])
        spec_hash = hashlib.sha256(spec.read_bytes()).hexdigest()
        return service.ensure_base_environment(f"scoring_env_{spec_hash[:20]}", "1", spec)

    @staticmethod
    def _pinned_image(service: PackagingService, built: BuiltEnvironment) -> str:
        login_server, repository, digest, tag = split_image(built.image)
        if digest is None:
            digest = service.image_digest(login_server, repository, tag)
        return parse_image(f"{login_server}/{repository}@{digest}").group(0)

    @staticmethod
    def _outputs(built: BuiltEnvironment, image: str) -> dict[str, Any]:
        return {"environment_name": built.name, "environment_version": built.version,
                "environment_id": built.id, "login_server": image.split("/", 1)[0], "image": image}


class ModelPackage(pulumi.dynamic.Resource, module="model-webapp", name="ModelPackage"):
    environment_name: pulumi.Output[str]
    environment_version: pulumi.Output[str]
    environment_id: pulumi.Output[str]
    login_server: pulumi.Output[str]
    image: pulumi.Output[str]
    content_hash: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: Optional[pulumi.ResourceOptions] = None,
                 provider: Optional[ModelPackageProvider] = None) -> None:
        super().__init__(provider or ModelPackageProvider(), name,
                         {"provider_version": PROVIDER_VERSION, **props, **{k: None for k in OUTPUT_KEYS}}, opts)
