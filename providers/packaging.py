"""The thin adapter over azure-ai-ml that ModelPackage's provider calls: find, build, resolve digest, archive.

Everything that talks to Azure is here, behind `PackagingService`, so the provider can be tested
against an in-memory fake. Clients and credentials are made per call and never kept beyond it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Protocol

from settings.images import IMAGE_PATTERN, IMAGE_SHAPE
from settings.stack_settings import Workspace

# Base image for an environment built from a conda or pip spec (Azure ML's own CPU inference base).
BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
TAGGED_IMAGE = re.compile(r"^(?P<login_server>[a-z0-9]{5,50}\.azurecr\.io)/(?P<repository>[a-z0-9][a-z0-9._/-]*):"
                          r"(?P<tag>[\w][\w.-]{0,127})$")


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
    model_mount_mode: str = "download"
    environment_variables: dict[str, str] = field(default_factory=dict)


class PackageBuildError(Exception):
    """The service refused or failed the build; the message carries its words and the build log link."""


class PackagingService(Protocol):
    def find_environment(self, name: str, version: str) -> Optional[BuiltEnvironment]: ...
    def ensure_base_environment(self, name: str, version: str, spec_path: Path) -> str: ...
    def build(self, request: PackageRequest) -> BuiltEnvironment: ...
    def image_digest(self, login_server: str, repository: str, tag: str) -> str: ...
    def archive(self, name: str, version: str) -> bool: ...


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
        # The service's enum is Copy/Download and the SDK sends the text verbatim.
        model_configuration=ModelConfiguration(mode=request.model_mount_mode.capitalize()),
    )


def conda_spec(spec_path: Path) -> "str | dict":
    """A conda file as it is; a pip requirements file wrapped into a conda spec."""
    if spec_path.suffix in (".yml", ".yaml"):
        return str(spec_path)
    requirements = [line.strip() for line in spec_path.read_text().splitlines()
                    if line.strip() and not line.strip().startswith("#")]
    return {"name": "scoring", "channels": ["conda-forge"],
            "dependencies": ["python=3.11", "pip", {"pip": requirements}]}


def split_image(image: Optional[str]) -> tuple[str, str, Optional[str], Optional[str]]:
    """(login server, repository, digest, tag) of an image the service reported; raises on anything else."""
    pinned = IMAGE_PATTERN.match(image or "")
    if pinned:
        return pinned["login_server"], pinned["repository"], pinned["digest"], None
    tagged = TAGGED_IMAGE.match(image or "")
    if tagged:
        return tagged["login_server"], tagged["repository"], None, tagged["tag"]
    raise PackageBuildError(
        f"the package build reported image {image!r}, which is neither {IMAGE_SHAPE} nor <registry>.azurecr.io/"
        "<repository>:<tag>; the web app cannot be pointed at it"
    )


def build_error(exc: BaseException, request: PackageRequest) -> PackageBuildError:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    links = [u for u in re.findall(r"https://[^\s\"'<>)]+", message) if "log" in u.lower()]
    text = f"packaging model {request.model_name}:{request.model_version} failed: {message}"
    if links and links[0] not in text:
        text += f"\nbuild log: {links[0]}"
    elif not links:
        text += "\n(the service gave no build log link: see the workspace's environment build logs in Azure ML studio)"
    return PackageBuildError(text)


class AzureMLPackaging:
    """PackagingService on azure-ai-ml; one MLClient per instance, one instance per provider call."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def _client(self):
        from azure.ai.ml import MLClient
        from azure.identity import DefaultAzureCredential

        return MLClient(DefaultAzureCredential(), self.workspace.subscription_id, self.workspace.resource_group,
                        self.workspace.name)

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

    def build(self, request: PackageRequest) -> BuiltEnvironment:
        env = self._client().models.package(request.model_name, request.model_version,
                                            package_request_object(request))
        return BuiltEnvironment(name=env.name, version=str(env.version), id=env.id, image=env.image)

    def image_digest(self, login_server: str, repository: str, tag: str) -> str:
        from azure.containerregistry import ContainerRegistryClient
        from azure.identity import DefaultAzureCredential

        with ContainerRegistryClient(f"https://{login_server}", DefaultAzureCredential(),
                                     audience="https://management.azure.com") as registry:
            return registry.get_manifest_properties(repository, tag).digest

    def archive(self, name: str, version: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._client().environments.archive(name=name, version=version)
        except ResourceNotFoundError:
            return False
        return True
