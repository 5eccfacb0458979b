"""ModelPackage: the model package image as a resource of the stack, built with azure-ai-ml only when its inputs change.

The provider is pickled into the stack's state and runs later in its own process (destroy
included): it keeps no client, credential or lock, and this module declares nothing on import.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional

import pulumi
from pulumi.runtime.rpc import UNKNOWN  # what preview passes for a value not known yet
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, \
    UpdateResult

from settings.clouds import Cloud, cloud
from settings.images import parse_image
from .packaging import (PRIVATE_LINK, AzureMLPackaging, BuiltEnvironment, PackageBuildError, PackageRequest,
                        PackagingService, build_error, split_image)
from .registry_images import FACT_KEYS, ImageFacts, image_facts, read_config, resolve_digest
from .build_inputs import code_failures, rebuild_diff
from .retries import is_transient, with_retries
from settings.stack_settings import ENVIRONMENT_ASSET, Workspace

# 2: packages are built in copy mode and their image is checked; every stack rebuilds its package once.
PROVIDER_VERSION = "2"
DEFAULT_TIMEOUT_MINUTES = 60
COPY = "copy"  # the only mode whose image holds the model: download images run only on Azure ML endpoints

# A change to any of these means a different image: replace (and so rebuild).
REBUILD_KEYS = ("subscription_id", "resource_group", "workspace_name", "model_name", "model_version",
                "content_hash", "entry_script", "environment_asset", "model_mount_mode", "environment_variables",
                "provider_version")
OUTPUT_KEYS = ("environment_name", "environment_version", "environment_id", "login_server", "image") + FACT_KEYS
ARCHIVED = "environment_archived"  # set by read() when someone archived the environment: the next up restores it
ServiceFactory = Callable[[Workspace], PackagingService]


def environment_name(model_name: str, key: str) -> str:
    """Content-addressed and \\w+ only, so azure-ai-ml pins the version instead of dropping it."""
    safe = re.sub(r"\W", "_", model_name).strip("_")[:40] or "model"
    return f"pkg_{safe}_{key[:20]}"


def package_key(props: dict[str, Any]) -> str:
    """One hash of every input that shapes the image."""
    material = {k: props.get(k) for k in REBUILD_KEYS}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _cloud(props: dict[str, Any]) -> Cloud:
    # Only a stack outside the public cloud sends the input: public stacks' packages keep their inputs as they were.
    return cloud(props.get("cloud"))


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
        factory = getattr(self, "service_factory", None)
        return factory(_workspace(props)) if factory else AzureMLPackaging(_workspace(props), _cloud(props))

    # -- check / diff: no service calls ------------------------------------------------------------
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = code_failures(news)

        def fail(prop: str, reason: str) -> None:
            failures.append(CheckFailure(prop, reason))

        asset, spec = news.get("environment_asset"), news.get("environment_spec")
        if asset:
            if asset != UNKNOWN and not re.match(ENVIRONMENT_ASSET, asset):
                fail("environment_asset", f"{asset!r} is not an environment reference azureml:<name>:<version>")
        elif not spec:
            fail("environment_spec", "set an environment spec file (conda .yml or pip .txt) or an environment asset")
        elif spec != UNKNOWN and not Path(spec).is_file():
            fail("environment_spec", f"environment spec {spec} does not exist")
        mode = news.get("model_mount_mode") or COPY
        if mode not in (COPY, UNKNOWN):  # fact: pkg-copy-mode
            fail("model_mount_mode", f"model mount mode {mode!r} is refused: only copy puts the model inside the "
                 "image; a download package fetches it from Azure ML at start and runs only on Azure ML endpoints, so "
                 "on App Service its init() finds no model")
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # An environment archived since the last up is restored by update(), its image kept.
        return rebuild_diff(olds, news, REBUILD_KEYS, (*OUTPUT_KEYS, ARCHIVED), also_changed=bool(olds.get(ARCHIVED)))

    # -- create / read / update / delete -----------------------------------------------------------
    def create(self, props: dict[str, Any]) -> CreateResult:
        service = self._service(props)
        name, version = environment_name(props["model_name"], package_key(props)), "1"
        what = f"packaging model {props['model_name']}:{props['model_version']} into environment {name}:{version}"
        timeout = float(props.get("timeout_minutes") or DEFAULT_TIMEOUT_MINUTES)

        def find_or_build() -> BuiltEnvironment:
            # Look first: a retry after an interrupted `up`, or after a transient error mid-build, must not build twice.
            found = service.find_environment(name, version)
            if found is not None and found.archived:
                # An asset version is never built twice: an archived one (a destroy, or by hand) is restored.
                service.restore(name, version)  # fact: pkg-archived-environment-restore
                pulumi.log.info(f"environment {name}:{version} was archived: restored, its image reused")
                found = replace(found, archived=False)
            if found is not None and found.image:
                return found
            if service.public_network_access() == "Disabled":  # fact: pkg-private-link-unsupported
                raise PackageBuildError(f"workspace {props['workspace_name']} has public network access disabled "
                                        f"(private link only). {PRIVATE_LINK}")
            request = PackageRequest(
                model_name=props["model_name"], model_version=str(props["model_version"]),
                source_dir=props["source_dir"], entry_script=props["entry_script"],
                base_environment=self._base_environment(service, props), target_name=name, target_version=version,
                model_mount_mode=props.get("model_mount_mode") or COPY,
                environment_variables=dict(props.get("environment_variables") or {}),
            )
            try:
                return service.build(request)
            except Exception as exc:  # noqa: BLE001 - transient ones are retried, the rest explained
                if is_transient(exc):
                    raise
                raise build_error(exc, request) from exc

        built = with_deadline(lambda: with_retries(find_or_build, what), timeout, what)
        image, facts = with_retries(lambda: self._inspect(service, built, props), f"reading the image of {what}")
        outs = {**props, **self._outputs(built, image), **facts.outputs()}
        return CreateResult(id_=built.id, outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        found = self._service(props).find_environment(props["environment_name"], props["environment_version"])
        if found is None:
            return ReadResult(id_="", outs={})  # gone: refresh drops it, the next up builds it
        # Archived is not gone: the version and its image stay, and the site runs the image by digest. Refresh keeps
        # the resource and marks it, so the next up restores the environment instead of building a version twice.
        outs = {k: v for k, v in props.items() if k != ARCHIVED}
        return ReadResult(id_=id_, outs={**outs, ARCHIVED: True} if found.archived else outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Only inputs that do not shape the image changed (timeout, the folder's path), or the environment was found
        # archived: keep the image.
        if olds.get(ARCHIVED):
            self._service(news).restore(olds["environment_name"], olds["environment_version"])
        return UpdateResult(outs={**news, **{k: olds.get(k) for k in OUTPUT_KEYS}})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # Environments cannot be deleted, only archived; the image stays in the registry.
        self._service(props).archive(props["environment_name"], props["environment_version"])

    # -- helpers -----------------------------------------------------------------------------------
    @staticmethod
    def _base_name(props: dict[str, Any]) -> tuple[str, str]:
        spec_hash = hashlib.sha256(Path(props["environment_spec"]).read_bytes()).hexdigest()
        return f"scoring_env_{spec_hash[:20]}", "1"

    def _base_environment(self, service: PackagingService, props: dict[str, Any]) -> str:
        if props.get("environment_asset"):
            return props["environment_asset"]
        return service.ensure_base_environment(*self._base_name(props), Path(props["environment_spec"]))

    def _inspect(self, service: PackagingService, built: BuiltEnvironment,
                 props: dict[str, Any]) -> tuple[str, ImageFacts]:
        """The image pinned by digest, and what its config says it runs; refuses one that cannot serve the model."""
        login_server, repository, digest, tag = split_image(built.image, _cloud(props))
        if digest is None:
            digest = resolve_digest(service, login_server, repository, tag)
        image = parse_image(f"{login_server}/{repository}@{digest}", _cloud(props)).group(0)
        base = props.get("environment_asset") or "azureml:{}:{}".format(*self._base_name(props))
        facts = image_facts(read_config(service, login_server, repository, digest), image=image,
                            entry_script=props["entry_script"], base_image=service.base_image(base))
        return image, facts

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
    # What the image's own config says (providers/registry_images.py): the port WEBSITES_PORT routes to, and more.
    image_port: pulumi.Output[int]
    image_entrypoint: pulumi.Output[list]
    image_cmd: pulumi.Output[list]
    image_model_dir: pulumi.Output[str]
    image_entry_script: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: Optional[pulumi.ResourceOptions] = None,
                 provider: Optional[ModelPackageProvider] = None) -> None:
        super().__init__(provider or ModelPackageProvider(), name,
                         {"provider_version": PROVIDER_VERSION, **props, **{k: None for k in OUTPUT_KEYS}}, opts)
