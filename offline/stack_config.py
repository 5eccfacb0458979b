"""Stack config as the Pulumi CLI would hand it to the program: project defaults, then the stack file."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .project import PROJECT, PROJECT_DIR

SECRET_PLACEHOLDER = "[secret:{key}]"


class StackFileError(Exception):
    """A stack or project file that cannot be read; the message names the file and the fix."""


@dataclass(frozen=True)
class StackConfig:
    stack: str
    values: dict[str, str]
    secret_keys: tuple[str, ...]


def _as_config_text(value: Any) -> str:
    # The engine hands every value to the program as text; structured values as JSON.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StackFileError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        raise StackFileError(f"{path}: not valid YAML: {exc}") from None


def project_defaults(project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    project = _load_yaml(project_dir / "Pulumi.yaml") or {}
    defaults = {}
    for key, spec in (project.get("config") or {}).items():
        if isinstance(spec, dict) and "default" in spec:
            defaults[key if ":" in key else f"{PROJECT}:{key}"] = _as_config_text(spec["default"])
    return defaults


def load_stack_config(stack: str | None = None, config_file: Path | None = None,
                      project_dir: Path = PROJECT_DIR) -> StackConfig:
    if config_file is None:
        if not stack:
            raise StackFileError("name a stack (--stack dev) or a stack file (--config-file PATH)")
        config_file = project_dir / f"Pulumi.{stack}.yaml"
    elif not stack:
        name = config_file.name
        stack = name[len("Pulumi."):-len(".yaml")] if name.startswith("Pulumi.") and name.endswith(".yaml") \
            else config_file.stem
    document = _load_yaml(config_file)
    if document is None:
        document = {}
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise StackFileError(f"{config_file}: expected a mapping with a 'config:' mapping of keys to values")
    values = project_defaults(project_dir)
    secret_keys = []
    for key, value in (document.get("config") or {}).items():
        key = str(key)
        if ":" not in key:
            raise StackFileError(f"{config_file}: config key {key!r} needs a namespace, e.g. {PROJECT}:{key}")
        if isinstance(value, dict) and set(value) == {"secure"}:
            # Offline there is no key to decrypt with: the program sees a marked placeholder.
            values[key] = SECRET_PLACEHOLDER.format(key=key)
            secret_keys.append(key)
            continue
        values[key] = _as_config_text(value)
    return StackConfig(stack=stack, values=values, secret_keys=tuple(secret_keys))
