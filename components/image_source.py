"""Where a stack's image comes from: a ready reference, another stack (build once, promote), or its own build (an
Azure ML package, or an ACR Tasks build: both hand over a pinned image and its facts the same way); and
the port its server listens on, which the site's WEBSITES_PORT routes to."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pulumi

from providers.acr_build import AcrImageBuild, file_hash
from providers.content_hash import content_hash
from providers.model_package import ModelPackage
from providers.registry_images import FACT_KEYS
from settings.clouds import cloud_input
from settings.stack_settings import Settings

# The stack output image_facts: the package's image_* outputs under shorter names.
FACT_NAMES = dict(zip(FACT_KEYS, ("port", "entrypoint", "cmd", "modelDir", "entryScript")))


@dataclass(frozen=True)
class StackImage:
    image: pulumi.Output[str]
    port: pulumi.Output[int]  # what the image's config exposes; for a ready image, the serverPort setting
    facts: Optional[pulumi.Output[dict]]  # what the image's config says it runs; None when nothing read it


def package_inputs(settings: Settings, project_dir: Path) -> dict[str, Any]:
    code = settings.code
    spec = code.environment_file
    return {
        "subscription_id": settings.workspace.subscription_id,
        "resource_group": settings.workspace.resource_group,
        "workspace_name": settings.workspace.name,
        "model_name": settings.model.name,
        "model_version": settings.model.version,
        "source_dir": code.source_dir.as_posix(),
        "entry_script": code.entry_script,
        "environment_spec": spec.as_posix() if spec is not None else None,
        "environment_asset": code.environment_asset,
        "environment_variables": dict(settings.server_environment),
        "model_mount_mode": settings.model_mount_mode,
        "content_hash": content_hash(project_dir / code.source_dir, project_dir / spec if spec is not None else None),
        "timeout_minutes": settings.package_timeout_minutes,
        **cloud_input(settings.cloud),
    }


def acr_build_inputs(settings: Settings, project_dir: Path) -> dict[str, Any]:
    """The ACR Tasks build's inputs: the package's that shape an image from a spec file, and the base image."""
    code, build = settings.code, settings.build
    spec = code.environment_file  # an asset is refused by the settings for acrTask
    return {
        "subscription_id": settings.workspace.subscription_id,
        "resource_group": settings.workspace.resource_group,
        "workspace_name": settings.workspace.name,
        "registry": build.registry,
        "model_name": settings.model.name,
        "model_version": settings.model.version,
        "source_dir": code.source_dir.as_posix(),
        "entry_script": code.entry_script,
        "environment_spec": spec.as_posix(),
        "environment_spec_hash": file_hash(project_dir / spec),
        "base_image": build.base_image,
        "environment_variables": dict(settings.server_environment),
        "content_hash": content_hash(project_dir / code.source_dir, project_dir / spec),
        "timeout_minutes": settings.package_timeout_minutes,
        **cloud_input(settings.cloud),
    }


def _upstream_port(port: Any, stack: str) -> int:
    if port is None:
        raise pulumi.RunError(f"promoteFrom {stack}: that stack exports no image_port (the port its image exposes): "
                              f"run `pulumi up` on {stack} first, then on this stack")
    return int(port)


def _upstream(outputs: dict, service: Optional[str], stack: str) -> dict:
    """The promoted stack's image outputs for this service: its models entry of the same name, else its own."""
    entry = (outputs.get("models") or {}).get(service) if service else None
    if service and outputs.get("models") and entry is None:
        raise pulumi.RunError(f"promoteFrom {stack}: that stack serves {', '.join(sorted(outputs['models']))}, not "
                              f"{service}: promote from a stack with a model of the same name")
    return entry or outputs


class ImageSources:
    """Where each service's image comes from, for one run of the program: one StackReference per promoted stack,
    however many services promote from it."""

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = project_dir
        self.references: dict[str, pulumi.StackReference] = {}

    def image(self, settings: Settings, name: str, parent: Optional[pulumi.Resource] = None) -> StackImage:
        if settings.image is not None:
            # Nothing reads a ready image's config: the serverPort setting is the statement of its port.
            return StackImage(pulumi.Output.from_input(settings.image),
                              pulumi.Output.from_input(settings.server_port), None)
        if settings.promote_from is not None:
            return self._promoted(settings)
        if settings.build.builder == "acrTask":
            package = AcrImageBuild(f"{name}-image", acr_build_inputs(settings, self.project_dir),
                                    opts=pulumi.ResourceOptions(parent=parent))
        else:
            package = ModelPackage(f"{name}-package", package_inputs(settings, self.project_dir),
                                   opts=pulumi.ResourceOptions(parent=parent))
        facts = pulumi.Output.all(*(getattr(package, key) for key in FACT_KEYS)).apply(
            lambda values: {FACT_NAMES[key]: value for key, value in zip(FACT_KEYS, values)})
        return StackImage(package.image, package.image_port, facts)

    def _promoted(self, settings: Settings) -> StackImage:
        # Build once, promote: deploy the very digest the other stack tested, never a build of our own, on the port
        # that stack read from the image. At the stack's root, as before services existed: one per promoted stack.
        stack, service = settings.promote_from, settings.service
        if stack not in self.references:
            self.references[stack] = pulumi.StackReference(stack)
        upstream = self.references[stack].outputs.apply(lambda outs: _upstream(outs, service, stack))
        # Stack outputs come back as JSON: numbers as floats.
        return StackImage(
            upstream.apply(lambda u: _required_image(u, stack)),
            upstream.apply(lambda u: _upstream_port(u.get("image_port"), stack)),
            upstream.apply(lambda u: {**u["image_facts"], "port": int(u["image_facts"]["port"])}
                           if u.get("image_facts") and u["image_facts"].get("port") is not None
                           else u.get("image_facts")))


def _required_image(outputs: dict, stack: str) -> str:
    if not outputs.get("image"):
        raise pulumi.RunError(f"promoteFrom {stack}: that stack has no image output yet: run `pulumi up` on {stack} "
                              "first, then on this stack")
    return outputs["image"]
