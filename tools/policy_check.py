"""The policy pack, evaluated offline against a planned stack: the same rule objects `pulumi preview` runs.

Resource rules see each resource's wire-form inputs (secrets as "[secret]"); stack rules see the fake
service's answer with those inputs laid over it, as the engine hands outputs to stack policies.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from pulumi_policy import (EnforcementLevel, PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions,
                           ResourceValidationArgs, StackValidationArgs, StackValidationPolicy)

from policies.pack import POLICIES
from policies.props import UnknownValue

from .mock_engine import PROJECT_DIR, ProgramRun, Registration

POLICY_CONFIG_DIR = PROJECT_DIR / "policies" / "config"
SKIPPED_TYPES = ("pulumi:providers:", "model-webapp:index:", "pulumi:pulumi:StackReference")


class PolicyConfigError(Exception):
    pass


def load_policy_config(stack: str, path: Optional[Path] = None) -> dict[str, Any]:
    path = path or POLICY_CONFIG_DIR / f"{stack}.json"
    if not path.exists():
        return {}
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PolicyConfigError(f"{path}: not valid JSON: {exc}") from None
    names = {p.name for p in POLICIES} | {"all"}
    unknown = sorted(set(config) - names)
    if unknown:
        raise PolicyConfigError(f"{path}: unknown policy name(s) {', '.join(unknown)}; the pack has {', '.join(sorted(names))}")
    return config


def _level(policy, config: dict[str, Any]) -> str:
    level = (policy.enforcement_level or EnforcementLevel.ADVISORY).value
    for key in ("all", policy.name):
        entry = config.get(key)
        if isinstance(entry, str):
            level = entry
        elif isinstance(entry, dict) and "enforcementLevel" in entry:
            level = entry["enforcementLevel"]
    return level


def _settings(policy, config: dict[str, Any]) -> dict[str, Any]:
    schema = policy.config_schema.properties if policy.config_schema else {}
    values = {k: v["default"] for k, v in schema.items() if "default" in v}
    entry = config.get(policy.name)
    if isinstance(entry, dict):
        values.update({k: v for k, v in entry.items() if k != "enforcementLevel"})
    return values


def _options(parent: str) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[],
                                 parent=parent or None)


def _stack_resources(registrations: list[Registration]) -> list[PolicyResource]:
    by_urn = {r.urn: PolicyResource(r.type, {**r.state, **r.inputs}, r.urn, r.name, _options(r.parent), None, None,
                                    [], {}) for r in registrations}
    for r in registrations:
        by_urn[r.urn].dependencies = [by_urn[d] for d in r.dependencies if d in by_urn]
        by_urn[r.urn].parent = by_urn.get(r.parent)
    return list(by_urn.values())


def evaluate(run: ProgramRun, config: Optional[dict[str, Any]] = None) -> list[dict[str, Any]]:
    config = config or {}
    checked = [r for r in run.registrations if not r.type.startswith(SKIPPED_TYPES)]
    stack_resources = _stack_resources(checked)
    violations: list[dict[str, Any]] = []
    for policy in POLICIES:
        level = _level(policy, config)
        if level == "disabled":
            continue
        settings = _settings(policy, config)

        def record(message: str, urn: Optional[str], level: str = level) -> None:
            violations.append({"rule": policy.name, "level": level, "resource": urn or f"stack {run.stack}",
                               "message": message})

        def unknown(exc: UnknownValue, urn: Optional[str]) -> None:
            record(f"not checked: {exc.path} is not known until deployment", urn, "advisory")

        if isinstance(policy, StackValidationPolicy):
            try:
                policy.validate(StackValidationArgs(stack_resources, settings), record)
            except UnknownValue as exc:
                unknown(exc, None)
            continue
        for r in checked:
            args = ResourceValidationArgs(r.type, r.inputs, r.urn, r.name, _options(r.parent), None, settings)
            try:
                policy.validate(args, lambda message, _urn=None, urn=r.urn: record(message, urn))
            except UnknownValue as exc:
                unknown(exc, r.urn)
    return violations
