"""An in-memory stand-in for Azure ML's packaging service and its workspace registry, behind the same interface as
AzureMLPackaging: a build pushes a real-shaped image (config blob, manifest) into a fake registry that answers like
ACR, so the provider reads it the way it reads a real one."""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

from azure.core.exceptions import HttpResponseError

from offline.fake_registry import FakeRegistry, package_image_config
from providers.packaging import BASE_IMAGE, BuiltEnvironment, PackageRequest
from providers.registry_images import Manifest
from settings.stack_settings import Workspace

LOGIN_SERVER = "mlwmodelsregistry.azurecr.io"
BASE_REPOSITORY = "azureml/azureml_base0123456789"  # an environment asset whose image is in the workspace registry


@dataclass
class FakePackaging:
    image_form: str = "digest"  # digest | tag | bad | base (the build reports the base environment's image)
    edit_config: Optional[Callable[[dict[str, Any]], None]] = None  # changes the built image's config in place
    fail_with: Optional[str] = None  # a non-transient build failure with this message
    transient_failures: int = 0  # 503s before a build succeeds
    build_seconds: float = 0.0
    public_access: Optional[str] = "Enabled"  # the workspace's publicNetworkAccess; None: not readable
    environments: dict[tuple[str, str], BuiltEnvironment] = field(default_factory=dict)
    base_environments: dict[str, Path] = field(default_factory=dict)
    asset_images: dict[str, str] = field(default_factory=dict)  # environment assets named in settings -> their image
    requests: list[PackageRequest] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    workspaces: list[Workspace] = field(default_factory=list)
    registry: FakeRegistry = field(default_factory=lambda: FakeRegistry(LOGIN_SERVER))

    def factory(self, workspace: Workspace) -> "FakePackaging":
        self.workspaces.append(workspace)
        return self

    @property
    def builds(self) -> int:
        return self.calls.count("build")

    def find_environment(self, name: str, version: str) -> Optional[BuiltEnvironment]:
        self.calls.append("find")
        return self.environments.get((name, version))

    def ensure_base_environment(self, name: str, version: str, spec_path: Path) -> str:
        self.calls.append("ensure_base")
        self.base_environments[f"{name}:{version}"] = spec_path
        return f"azureml:{name}:{version}"

    def base_image(self, environment: str) -> Optional[str]:
        self.calls.append("base_image")
        if environment.removeprefix("azureml:") in self.base_environments:
            return BASE_IMAGE  # what ensure_base_environment gave it
        return self.asset_images.get(environment)

    def public_network_access(self) -> Optional[str]:
        self.calls.append("public_network_access")
        return self.public_access

    def build(self, request: PackageRequest) -> BuiltEnvironment:
        self.calls.append("build")
        self.requests.append(request)
        if self.transient_failures > 0:
            self.transient_failures -= 1
            error = HttpResponseError(message="Service Unavailable")
            error.status_code = 503
            raise error
        if self.fail_with is not None:
            error = HttpResponseError(message=self.fail_with)
            error.status_code = 400
            raise error
        time.sleep(self.build_seconds)
        config = package_image_config(request.entry_script, request.model_name, request.model_version)
        if self.edit_config is not None:
            self.edit_config(config)
        repository = BASE_REPOSITORY if self.image_form == "base" else request.target_name.lower()
        digest = self.registry.push(repository, config, tag=request.target_version)
        image = {"digest": f"{LOGIN_SERVER}/{repository}@{digest}",
                 "base": f"{LOGIN_SERVER}/{repository}@{digest}",
                 "tag": f"{LOGIN_SERVER}/{repository}:{request.target_version}",
                 "bad": "package:latest"}[self.image_form]
        built = BuiltEnvironment(name=request.target_name, version=request.target_version,
                                 id=f"azureml:{request.target_name}:{request.target_version}", image=image)
        self.environments[(built.name, built.version)] = built
        return built

    def restore(self, name: str, version: str) -> None:
        self.calls.append("restore")
        found = self.environments[(name, version)]  # the real service has nothing to restore either
        self.environments[(name, version)] = replace(found, archived=False)

    def archive(self, name: str, version: str) -> bool:
        self.calls.append("archive")
        found = self.environments.get((name, version))
        if found is None:
            return False
        self.environments[(name, version)] = replace(found, archived=True)
        return True

    def get_manifest(self, login_server: str, repository: str, reference: str) -> Manifest:
        self.calls.append("get_manifest")
        return self.registry.get_manifest(login_server, repository, reference)

    def get_blob(self, login_server: str, repository: str, digest: str) -> bytes:
        self.calls.append("get_blob")
        return self.registry.get_blob(login_server, repository, digest)
