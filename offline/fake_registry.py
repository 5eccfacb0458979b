"""An in-memory container registry that answers like Azure Container Registry's data plane, for the offline plan
and the tests: images are a config blob plus a manifest, both addressed by the sha256 of their bytes; tags point at
manifests; an identity without a data-plane role is refused with 401 or 403, as ACR refuses it.

Everything it holds is made up (FAKE); only its behaviour is meant to be real.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from providers.registry_images import Manifest

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _error(kind, status: int, message: str):
    error = kind(message=message)
    error.status_code = status
    return error


@dataclass
class FakeRegistry:
    login_server: str
    refuse_with: Optional[int] = None  # 401 or 403: the caller has no data-plane role on this registry
    blobs: dict[tuple[str, str], bytes] = field(default_factory=dict)
    manifests: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)  # (repo, digest) -> type, bytes
    tags: dict[tuple[str, str], str] = field(default_factory=dict)
    reads: list[tuple[str, str, str]] = field(default_factory=list)  # (what, repository, reference)

    def push(self, repository: str, image_config: dict[str, Any], tag: Optional[str] = None) -> str:
        """Stores an image (its config blob and a one-layer manifest) and returns the manifest's digest."""
        config = json.dumps(image_config, sort_keys=True).encode()
        layer = b"FAKE layer of " + config[:64]
        self.blobs[(repository, _digest(config))] = config
        self.blobs[(repository, _digest(layer))] = layer
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": _digest(config)},
            "layers": [{"mediaType": LAYER, "size": len(layer), "digest": _digest(layer)}],
        }, sort_keys=True).encode()
        digest = _digest(manifest)
        self.manifests[(repository, digest)] = (DOCKER_MANIFEST, manifest)
        if tag is not None:
            self.tags[(repository, tag)] = digest
        return digest

    def _allowed(self, login_server: str) -> None:
        if login_server != self.login_server:
            raise ValueError(f"the fake registry is {self.login_server}, not {login_server}")
        if self.refuse_with == 401:
            raise _error(ClientAuthenticationError, 401, "unauthorized: authentication required")
        if self.refuse_with is not None:
            raise _error(HttpResponseError, self.refuse_with, "denied: requested access to the resource is denied")

    def get_manifest(self, login_server: str, repository: str, reference: str) -> Manifest:
        self.reads.append(("manifest", repository, reference))
        self._allowed(login_server)
        digest = reference if reference.startswith("sha256:") else self.tags.get((repository, reference))
        if digest is None or (repository, digest) not in self.manifests:
            raise _error(ResourceNotFoundError, 404, f"MANIFEST_UNKNOWN: manifest {repository}:{reference} unknown")
        media_type, data = self.manifests[(repository, digest)]
        return Manifest(digest=_digest(data), media_type=media_type, content=json.loads(data))

    def get_blob(self, login_server: str, repository: str, digest: str) -> bytes:
        self.reads.append(("blob", repository, digest))
        self._allowed(login_server)
        if (repository, digest) not in self.blobs:
            raise _error(ResourceNotFoundError, 404, f"BLOB_UNKNOWN: blob {digest} unknown to {repository}")
        return self.blobs[(repository, digest)]


def package_image_config(entry_script: str, model_name: str, model_version: str, *, port: int = 5001,
                         labels: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """A FAKE image config shaped like an Azure ML package's: the variables and paths of Microsoft's "extend a
    prebuilt image" Dockerfile, the inference server's port, runit as its start command. Made up, not observed."""
    return {
        "architecture": "amd64", "os": "linux",
        "config": {
            "ExposedPorts": {f"{port}/tcp": {}},
            "Env": ["PATH=/opt/miniconda/envs/azureml_env/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "AML_APP_ROOT=/var/azureml-app",
                    f"AZUREML_ENTRY_SCRIPT=/var/azureml-app/{entry_script}",
                    f"AZUREML_MODEL_DIR=/var/azureml-app/azureml-models/{model_name}/{model_version}"],
            "Cmd": ["runsvdir", "/var/runit"],
            "WorkingDir": "/var/azureml-app",
            "Labels": dict(labels or {}),
        },
        "rootfs": {"type": "layers", "diff_ids": []},
    }


def push_index(registry: FakeRegistry, repository: str, platforms: dict[tuple[str, str], str]) -> str:
    """Stores a multi-platform index of manifests already pushed, (os, architecture) -> digest; returns its digest."""
    index_type = "application/vnd.oci.image.index.v1+json"
    entries = [{"mediaType": DOCKER_MANIFEST, "digest": digest, "size": len(registry.manifests[(repository, digest)][1]),
                "platform": {"os": os_name, "architecture": arch}} for (os_name, arch), digest in platforms.items()]
    data = json.dumps({"schemaVersion": 2, "mediaType": index_type, "manifests": entries}, sort_keys=True).encode()
    registry.manifests[(repository, _digest(data))] = (index_type, data)
    return _digest(data)
