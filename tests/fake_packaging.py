"""An in-memory stand-in for Azure ML's packaging service, behind the same interface as AzureMLPackaging."""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from azure.core.exceptions import HttpResponseError

from providers.packaging import BuiltEnvironment, PackageRequest
from settings.stack_settings import Workspace

LOGIN_SERVER = "mlwmodelsregistry.azurecr.io"


@dataclass
class FakePackaging:
    image_form: str = "digest"  # digest | tag | bad
    fail_with: Optional[str] = None  # a non-transient build failure with this message
    transient_failures: int = 0  # 503s before a build succeeds
    build_seconds: float = 0.0
    environments: dict[tuple[str, str], BuiltEnvironment] = field(default_factory=dict)
    base_environments: dict[str, Path] = field(default_factory=dict)
    requests: list[PackageRequest] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    workspaces: list[Workspace] = field(default_factory=list)

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
        digest = hashlib.sha256(f"{request.target_name}:{request.target_version}".encode()).hexdigest()
        image = {"digest": f"{LOGIN_SERVER}/{request.target_name.lower()}@sha256:{digest}",
                 "tag": f"{LOGIN_SERVER}/{request.target_name.lower()}:{request.target_version}",
                 "bad": "package:latest"}[self.image_form]
        built = BuiltEnvironment(name=request.target_name, version=request.target_version,
                                 id=f"azureml:{request.target_name}:{request.target_version}", image=image)
        self.environments[(built.name, built.version)] = built
        return built

    def image_digest(self, login_server: str, repository: str, tag: str) -> str:
        self.calls.append("image_digest")
        return "sha256:" + hashlib.sha256(f"{login_server}/{repository}:{tag}".encode()).hexdigest()

    def archive(self, name: str, version: str) -> bool:
        self.calls.append("archive")
        found = self.environments.get((name, version))
        if found is None:
            return False
        self.environments[(name, version)] = BuiltEnvironment(found.name, found.version, found.id, found.image, True)
        return True
