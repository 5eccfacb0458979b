"""Where a stack's image comes from: a ready reference, another stack (build once, promote), or its own build."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from providers.content_hash import content_hash
from providers.model_package import ModelPackage
from settings.stack_settings import Settings


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
    }


def stack_image(settings: Settings, name: str, project_dir: Path) -> pulumi.Output[str]:
    if settings.image is not None:
        return pulumi.Output.from_input(settings.image)
    if settings.promote_from is not None:
        # Build once, promote: deploy the very digest the other stack tested, never a build of our own.
        return pulumi.StackReference(settings.promote_from).require_output("image")
    return ModelPackage(f"{name}-package", package_inputs(settings, project_dir)).image
