"""What a package image really holds, read from its registry: the manifest, then the image's config blob.

No public source says which port, start command or environment variables the image that `models.package()` builds
carries, nor even that the image it reports is the package and not the base environment's. So the stack asks the
image itself, once, right after its digest is pinned, and refuses an image that cannot serve the model there and
then, naming what is missing, rather than letting App Service restart a container in a loop later.

The registry calls go through `RegistryReader` (a thin adapter in providers/packaging.py; an in-memory registry in
offline/fake_registry.py that the offline plan and the tests share); the reading and judging is here, the same code
for both.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Optional, Protocol

# fact: registry-manifest-config-blob
INDEX_TYPES = ("application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json")
INFERENCE_PORT = 5001  # azmlinfsrv's DEFAULT_PORT
MODEL_DIR_VARIABLE, ENTRY_SCRIPT_VARIABLE = "AZUREML_MODEL_DIR", "AZUREML_ENTRY_SCRIPT"  # fact: img-azureml-variables
# The resource's outputs that carry the image's facts (ModelPackage declares them; the plan shows them).
FACT_KEYS = ("image_port", "image_entrypoint", "image_cmd", "image_model_dir", "image_entry_script")
ROLE_HELP = (
    "grant the deploying identity (the one `pulumi up` runs as) read access to the registry's images: on a registry "
    "in 'RBAC Registry + ABAC Repository Permissions' mode (roleAssignmentMode AbacRepositoryPermissions) that is "
    "Container Registry Repository Reader, because AcrPull, Owner, Contributor and Reader give no image access there; "
    "on a classic registry ('RBAC Registry Permissions', LegacyRegistryPermissions) it is AcrPull. "
    "See the registry's mode with `az acr show --name {registry} --query roleAssignmentMode`"
)


@dataclass(frozen=True)
class Manifest:
    digest: str  # sha256:<hex> of the manifest's bytes, as the registry computed it
    media_type: str
    content: dict[str, Any]


class RegistryReader(Protocol):
    def get_manifest(self, login_server: str, repository: str, reference: str) -> Manifest: ...
    def get_blob(self, login_server: str, repository: str, digest: str) -> bytes: ...


class ImageCheckError(Exception):
    """The image cannot serve the model on App Service; the message lists every reason found."""


class RegistryAccessError(Exception):
    """The registry refused the deploying identity (401/403); the message names the role to grant."""


@dataclass(frozen=True)
class ImageFacts:
    port: int
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    model_dir: str
    entry_script: str

    def outputs(self) -> dict[str, Any]:
        return dict(zip(FACT_KEYS, (self.port, list(self.entrypoint), list(self.cmd), self.model_dir,
                                    self.entry_script)))


def _refused(exc: BaseException) -> Optional[int]:
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    status = getattr(exc, "status_code", None) if isinstance(exc, HttpResponseError) else None
    if isinstance(exc, ClientAuthenticationError) and status is None:
        return 401
    return status if status in (401, 403) else None


def _read(call, login_server: str, repository: str, what: str):
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - only refusals are translated; the rest pass through
        status = _refused(exc)
        if status is None:
            raise
        registry = login_server.split(".", 1)[0]
        raise RegistryAccessError(
            f"reading {what} of {login_server}/{repository} was refused (HTTP {status}): "
            + ROLE_HELP.format(registry=registry)  # fact: registry-abac-deployer-role
        ) from exc


def resolve_digest(reader: RegistryReader, login_server: str, repository: str, tag: str) -> str:
    """The digest a tag points at now: the web app is only ever given a digest."""
    found = _read(lambda: reader.get_manifest(login_server, repository, tag), login_server, repository,
                  f"the manifest of tag {tag}")
    return found.digest


def read_config(reader: RegistryReader, login_server: str, repository: str, digest: str) -> dict[str, Any]:
    """The image's config (OCI/Docker image config JSON) of the manifest at `digest`, linux/amd64 of an index."""
    def manifest(reference: str) -> Manifest:
        return _read(lambda: reader.get_manifest(login_server, repository, reference), login_server, repository,
                     f"manifest {reference}")

    found = manifest(digest)
    if found.media_type in INDEX_TYPES:  # App Service runs linux/amd64 containers
        entries = [m for m in found.content.get("manifests") or []
                   if (m.get("platform") or {}).get("os") == "linux"
                   and (m.get("platform") or {}).get("architecture") == "amd64"]
        if len(entries) != 1:
            raise ImageCheckError(f"the image {login_server}/{repository}@{digest} is a multi-platform index with "
                                  f"{len(entries)} linux/amd64 entries: App Service needs exactly one")
        found = manifest(entries[0]["digest"])
    config_digest = (found.content.get("config") or {}).get("digest")
    if not config_digest:
        raise ImageCheckError(f"the manifest of {login_server}/{repository}@{digest} ({found.media_type}) names no "
                              "config blob: it is not a container image")
    blob = _read(lambda: reader.get_blob(login_server, repository, config_digest), login_server, repository,
                 f"config blob {config_digest}")
    if "sha256:" + hashlib.sha256(blob).hexdigest() != config_digest:
        raise ImageCheckError(f"the config blob of {login_server}/{repository}@{digest} does not match its digest "
                              f"{config_digest}")
    return json.loads(blob)


def _environment(config: dict[str, Any]) -> dict[str, str]:
    pairs = (entry.split("=", 1) for entry in (config.get("Env") or []) if "=" in entry)
    return {name: value for name, value in pairs}


def _tcp_ports(config: dict[str, Any]) -> list[int]:
    ports = []
    for spec in config.get("ExposedPorts") or {}:
        number, _, protocol = spec.partition("/")
        if (protocol or "tcp") == "tcp" and number.isdigit():
            ports.append(int(number))
    return sorted(set(ports))


def _same_script(declared: str, entry_script: str) -> bool:
    """AZUREML_ENTRY_SCRIPT may be relative to the code folder or absolute in the image: compare the tail."""
    want = PurePosixPath(entry_script.replace("\\", "/")).parts
    have = PurePosixPath(declared).parts
    return len(have) >= len(want) and have[-len(want):] == want


def image_facts(image_config: dict[str, Any], *, image: str, entry_script: str,
                base_image: Optional[str] = None) -> ImageFacts:
    """What the image runs and where, or ImageCheckError listing everything that keeps it from serving the model.

    `image` is the pinned reference (<registry>/<repository>@sha256:...); `base_image` the base environment's image,
    which the package must not be.
    """
    config = image_config.get("config") or {}
    problems = []
    ports = _tcp_ports(config)
    if len(ports) > 1 and INFERENCE_PORT in ports:
        # Azure ML's inference images expose 5001 8883 8888; 5001 is the inference server's. fact: img-inference-ports
        ports = [INFERENCE_PORT]
    if not ports:  # fact: img-exposed-port
        problems.append("it exposes no TCP port (ExposedPorts is empty), so the port its server listens on, which "
                        "App Service must be told in WEBSITES_PORT, cannot be read from it")
    elif len(ports) > 1:
        problems.append(f"it exposes several TCP ports ({', '.join(map(str, ports))}), so which one serves /score "
                        "is ambiguous")
    env = _environment(config)
    model_dir, script = env.get(MODEL_DIR_VARIABLE), env.get(ENTRY_SCRIPT_VARIABLE)
    if not model_dir:
        problems.append(f"{MODEL_DIR_VARIABLE} is not set in its environment, so the entry script's init() has no "
                        "model folder (a package built in download mode only gets one on an Azure ML endpoint)")
    if not script:
        problems.append(f"{ENTRY_SCRIPT_VARIABLE} is not set in its environment, so the inference server has no "
                        "scoring script to load")
    elif not _same_script(script, entry_script):
        problems.append(f"{ENTRY_SCRIPT_VARIABLE} is {script!r}, not the stack's entry script {entry_script!r}: "
                        "the image was not built from this stack's code")
    if base_image and _repository(base_image) == _repository(image):  # fact: pkg-package-returns-image
        problems.append(f"its repository {_repository(image)} is the base environment's ({base_image}): the build "
                        "reported the base image, which holds no model and no scoring code, not the package")
    if problems:
        raise ImageCheckError(f"the package image {image} cannot serve the model on App Service: "
                              + "; ".join(problems) + ". Its config: ExposedPorts "
                              + json.dumps(sorted(config.get("ExposedPorts") or {})) + ", Env names "
                              + json.dumps(sorted(env)) + ".")
    return ImageFacts(port=ports[0], entrypoint=tuple(config.get("Entrypoint") or ()),
                      cmd=tuple(config.get("Cmd") or ()), model_dir=model_dir, entry_script=script)


def _repository(image: str) -> str:
    """<registry>/<repository> of a reference with a tag, a digest or neither."""
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition("/")
    if ":" in tail:
        tail = tail.split(":", 1)[0]
    return f"{head}/{tail}".lower() if head else tail.lower()
