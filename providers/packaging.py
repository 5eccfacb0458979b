"""The thin adapter over azure-ai-ml and azure-containerregistry that ModelPackage's provider calls: find, build,
restore and archive environments; read manifests and blobs from the workspace's registry.

Everything that talks to Azure is here, behind `PackagingService`, so the provider can be tested
against an in-memory fake. Clients and credentials are made per call and never kept beyond it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Protocol

from settings.clouds import PUBLIC, Cloud
from settings.images import image_pattern, image_shape
from settings.stack_settings import Workspace

from .registry_images import Manifest

# Base image for an environment built from a conda or pip spec (Azure ML's own CPU inference base).
BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"


def tagged_image(cloud: Cloud = PUBLIC) -> re.Pattern:
    return re.compile(rf"^(?P<login_server>[a-z0-9]{{5,50}}\.{re.escape(cloud.registry_suffix)})/"
                      r"(?P<repository>[a-z0-9][a-z0-9._/-]*):(?P<tag>[\w][\w.-]{0,127})$")


@dataclass(frozen=True)
class BuiltEnvironment:
    name: str
    version: str
    id: str
    image: Optional[str]
    archived: bool = False


@dataclass(frozen=True)
class PackageRequest:
    model_name: str
    model_version: str
    source_dir: str
    entry_script: str
    base_environment: str  # azureml:<name>:<version>
    target_name: str
    target_version: str
    model_mount_mode: str = "copy"
    environment_variables: dict[str, str] = field(default_factory=dict)


class PackageBuildError(Exception):
    """The service refused or failed the build; the message carries its words and the build log link."""


class PackagingService(Protocol):
    def find_environment(self, name: str, version: str) -> Optional[BuiltEnvironment]: ...
    def ensure_base_environment(self, name: str, version: str, spec_path: Path) -> str: ...
    def base_image(self, environment: str) -> Optional[str]: ...  # azureml:<name>:<version> -> its image, if any
    def public_network_access(self) -> Optional[str]: ...  # the workspace's: Enabled, Disabled, or None if unread
    def build(self, request: PackageRequest) -> BuiltEnvironment: ...
    def restore(self, name: str, version: str) -> None: ...
    def archive(self, name: str, version: str) -> bool: ...
    # The workspace registry's data plane (registry_images.RegistryReader).
    def get_manifest(self, login_server: str, repository: str, reference: str) -> Manifest: ...
    def get_blob(self, login_server: str, repository: str, digest: str) -> bytes: ...


def package_request_object(request: PackageRequest):
    """The azure-ai-ml ModelPackage for one build. package() mutates it: make a fresh one per call."""
    from azure.ai.ml.entities import (AzureMLOnlineInferencingServer, BaseEnvironment, CodeConfiguration,
                                      ModelConfiguration, ModelPackage)

    return ModelPackage(
        # The keyword is target_environment (the docstring's target_environment_name is wrong); the
        # version is pinned only when the name is \w+ and the version digits.
        target_environment=f"azureml:{request.target_name}:{request.target_version}",
        inferencing_server=AzureMLOnlineInferencingServer(
            code_configuration=CodeConfiguration(code=request.source_dir, scoring_script=request.entry_script)
        ),
        base_environment_source=BaseEnvironment(type="EnvironmentAsset", resource_id=request.base_environment),
        environment_variables=dict(request.environment_variables),
        # Copy puts the model inside the image, the only mode that runs outside Azure ML; the SDK sends the text
        # verbatim, and Microsoft's own examples send it in lowercase.
        model_configuration=ModelConfiguration(mode=request.model_mount_mode),  # fact: pkg-copy-mode
    )


def conda_spec(spec_path: Path) -> "str | dict":
    """A conda file as it is; a pip requirements file wrapped into a conda spec."""
    if spec_path.suffix in (".yml", ".yaml"):
        return str(spec_path)
    requirements = [line.strip() for line in spec_path.read_text().splitlines()
                    if line.strip() and not line.strip().startswith("#")]
    return {"name": "scoring", "channels": ["conda-forge"],
            "dependencies": ["python=3.11", "pip", {"pip": requirements}]}


def split_image(image: Optional[str], cloud: Cloud = PUBLIC) -> tuple[str, str, Optional[str], Optional[str]]:
    """(login server, repository, digest, tag) of an image the service reported; raises on anything else."""
    pinned = image_pattern(cloud).match(image or "")
    if pinned:
        return pinned["login_server"], pinned["repository"], pinned["digest"], None
    tagged = tagged_image(cloud).match(image or "")
    if tagged:
        return tagged["login_server"], tagged["repository"], None, tagged["tag"]
    raise PackageBuildError(
        f"the package build reported image {image!r}, which is neither {image_shape(cloud)} nor "
        f"<registry>.{cloud.registry_suffix}/<repository>:<tag>; the web app cannot be pointed at it"
    )


PRIVATE_LINK = ("Azure ML does not package models for use outside Azure Machine Learning in a workspace with private "
                "link (\"Private link enabled workspaces don't support packaging models for deployment outside of "
                "Azure Machine Learning\"; copy mode \"is not supported on private link-enabled workspaces\"): build "
                "the image with ACR Tasks instead (build.builder: acrTask, which needs no packaging service), build "
                "the package in a workspace without private link, or deploy a ready image (the `image` setting)")
PRIVATE_LINK_WORDS = re.compile(r"private[ _-]?link|private[ _-]?endpoint", re.IGNORECASE)


def build_error(exc: BaseException, request: PackageRequest) -> PackageBuildError:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    links = [u for u in re.findall(r"https://[^\s\"'<>)]+", message) if "log" in u.lower()]
    text = f"packaging model {request.model_name}:{request.model_version} failed: {message}"
    if PRIVATE_LINK_WORDS.search(message):  # fact: pkg-private-link-unsupported
        text += f"\n{PRIVATE_LINK}"
    if links and links[0] not in text:
        text += f"\nbuild log: {links[0]}"
    elif not links:
        text += "\n(the service gave no build log link: see the workspace's environment build logs in Azure ML studio)"
    return PackageBuildError(text)


class AzureMLPackaging:
    """PackagingService on azure-ai-ml; one MLClient per instance, one instance per provider call."""

    def __init__(self, workspace: Workspace, cloud: Cloud = PUBLIC) -> None:
        self.workspace = workspace
        self.cloud = cloud

    def _client(self):
        from azure.ai.ml import MLClient
        from azure.identity import DefaultAzureCredential

        # Outside the public cloud azure-ai-ml needs both: its cloud's name, and a credential of that cloud's
        # authority (its docstring: "you must pass in the cloud name in kwargs and you must use an authority").
        return MLClient(DefaultAzureCredential(authority=self.cloud.authority),  # fact: cloud-ml-name
                        self.workspace.subscription_id, self.workspace.resource_group, self.workspace.name,
                        cloud=self.cloud.ml_cloud)

    def find_environment(self, name: str, version: str) -> Optional[BuiltEnvironment]:
        from azure.ai.ml.constants import ListViewType
        from azure.core.exceptions import ResourceNotFoundError

        client = self._client()
        try:
            env = client.environments.get(name=name, version=version)
        except ResourceNotFoundError:
            return None
        active = {e.version for e in client.environments.list(name=name, list_view_type=ListViewType.ACTIVE_ONLY)}
        return BuiltEnvironment(name=name, version=version, id=env.id, image=env.image,
                                archived=version not in active)

    def ensure_base_environment(self, name: str, version: str, spec_path: Path) -> str:
        from azure.ai.ml.entities import Environment

        if self.find_environment(name, version) is None:
            self._client().environments.create_or_update(
                Environment(name=name, version=version, image=BASE_IMAGE, conda_file=conda_spec(spec_path),
                            description="Scoring environment of model-webapp, named by its spec's content hash.")
            )
        return f"azureml:{name}:{version}"

    def base_image(self, environment: str) -> Optional[str]:
        from azure.core.exceptions import ResourceNotFoundError

        _, name, version = environment.split(":")
        try:
            return self._client().environments.get(name=name, version=version).image
        except ResourceNotFoundError:
            return None

    def public_network_access(self) -> Optional[str]:
        from azure.core.exceptions import HttpResponseError

        try:
            return self._client().workspaces.get(self.workspace.name).public_network_access
        except HttpResponseError:  # no right to read the workspace itself: the build's own error will tell
            return None

    def build(self, request: PackageRequest) -> BuiltEnvironment:
        env = self._client().models.package(request.model_name, request.model_version,
                                            package_request_object(request))
        return BuiltEnvironment(name=env.name, version=str(env.version), id=env.id, image=env.image)

    def restore(self, name: str, version: str) -> None:
        self._client().environments.restore(name=name, version=version)

    def _registry(self, login_server: str):
        from azure.containerregistry import ContainerRegistryClient
        from azure.identity import DefaultAzureCredential

        return ContainerRegistryClient(f"https://{login_server}", DefaultAzureCredential(authority=self.cloud.authority),
                                       audience=self.cloud.registry_audience)  # fact: cloud-registry-audience

    def get_manifest(self, login_server: str, repository: str, reference: str) -> Manifest:
        with self._registry(login_server) as registry:
            found = registry.get_manifest(repository, reference)
        return Manifest(digest=found.digest, media_type=found.media_type, content=dict(found.manifest))

    def get_blob(self, login_server: str, repository: str, digest: str) -> bytes:
        with self._registry(login_server) as registry, registry.download_blob(repository, digest) as stream:
            return b"".join(stream)

    def archive(self, name: str, version: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._client().environments.archive(name=name, version=version)
        except ResourceNotFoundError:
            return False
        return True
