"""The policy pack, evaluated offline against a planned stack, through the analyzer protocol the engine uses.

The pack's own servicer (the object `PolicyPack` serves over gRPC) gets the same Configure, Analyze and
AnalyzeStack requests the engine would send, built by policy_protocol: config reconciled over the schema
defaults, numbers as doubles, secrets unwrapped. Offline and live judge alike. One check runs only here:
whether secret app settings are still marked secret, which no rule can see under the engine.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer  # what PolicyPack serves; pinned pulumi-policy 1.21

from policies.pack import PACK_NAME, POLICIES
from policies.resource_rules import RULE_TYPES
from policies.stack_rules import STACK_RULE_TYPES
from policies.props import WEB_APP

from .mock_engine import SECRET, ProgramRun, Registration
from .project import PROJECT_DIR
from .policy_protocol import analyze_request, analyze_stack_request, configure_request, reconcile, violations

POLICY_CONFIG_DIR = PROJECT_DIR / "policies" / "config"
SECRET_SETTING = re.compile(r"PASSWORD|SECRET", re.IGNORECASE)
SECRETS_MARKED = "app-setting-secrets-marked"  # the offline-only check


class PolicyConfigError(Exception):
    pass


def pack_policy_infos() -> list[dict[str, Any]]:
    """What GetAnalyzerInfo reports, read from the rule objects: name, default level, config schema."""
    return [{"name": p.name, "level": p.enforcement_level.value,
             "properties": dict(p.config_schema.properties) if p.config_schema else {},
             "required": list(p.config_schema.required or []) if p.config_schema else []} for p in POLICIES]


@dataclass(frozen=True)
class AppliedPolicyConfig:
    """The policy config a plan is judged by, and where it came from (None: no file, every rule mandatory)."""
    config: dict[str, dict[str, Any]]
    path: Optional[Path]
    stack: str

    @property
    def shown_path(self) -> Optional[str]:
        if self.path is None:
            return None
        resolved = self.path.resolve()
        return str(resolved.relative_to(PROJECT_DIR)) if resolved.is_relative_to(PROJECT_DIR) else str(self.path)

    def describe(self) -> str:
        if self.path is not None:
            return f"Policy config: {self.shown_path}"
        return (f"Policy config: none for stack {self.stack!r}, so every rule is mandatory; create "
                f"policies/config/{self.stack}.json to relax rules (or pass --policy-config PATH)")


def applied_policy_config(stack: str, path: Optional[Path] = None) -> AppliedPolicyConfig:
    """The named file (it must exist), else policies/config/<stack>.json, else every rule mandatory.

    A stack is never judged by another stack's file or by the pack's advisory defaults: a missing file would
    silently weaken the rules a stack was meant to meet."""
    if path is not None and not path.is_file():
        raise PolicyConfigError(f"--policy-config {path}: no such file (name an existing policy config, or leave "
                                f"it out to use policies/config/{stack}.json)")
    default = POLICY_CONFIG_DIR / f"{stack}.json"
    path = path or (default if default.is_file() else None)
    return AppliedPolicyConfig(_reconciled(path), path, stack)


def load_policy_config(stack: str, path: Optional[Path] = None) -> dict[str, dict[str, Any]]:
    """The stack's policy config reconciled as the engine does it (see applied_policy_config)."""
    return applied_policy_config(stack, path).config


def _reconciled(path: Optional[Path]) -> dict[str, dict[str, Any]]:
    """A policy config file reconciled over the pack's schema defaults; every problem raised at once."""
    given: Any = {"all": "mandatory"}
    if path is not None:
        try:
            given = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise PolicyConfigError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(given, dict):
            raise PolicyConfigError(f"{path}: expected an object of policy names to levels or settings")
    names = {p.name for p in POLICIES} | {"all"}
    problems = [f"unknown policy name {name!r}; the pack has {', '.join(sorted(names))}"
                for name in sorted(set(given) - names)]
    config, errors = reconcile(pack_policy_infos(), given)
    problems += errors
    if problems:
        raise PolicyConfigError(f"{path}: " + "; ".join(problems))
    return config


def _unmarked_secret_settings(r: Registration) -> list[dict[str, Any]]:
    """Registry passwords and the like must reach the engine as secrets; the plan's wire form still shows the mark."""
    if r.type != WEB_APP:
        return []
    settings = (r.inputs.get("siteConfig") or {}).get("appSettings") or []
    return [{"rule": SECRETS_MARKED, "level": "mandatory", "resource": r.urn,
             "message": f"app setting {s.get('name')} must be a secret: wrap its value in pulumi.Output.secret()."}
            for s in settings if SECRET_SETTING.search(str(s.get("name"))) and s.get("value") != SECRET]


def _servicer(policies: list, config: dict[str, dict[str, Any]]) -> _PolicyAnalyzerServicer:
    servicer = _PolicyAnalyzerServicer(PACK_NAME, "0.0.1", policies, EnforcementLevel.ADVISORY)
    servicer.Configure(configure_request(config), None)
    return servicer


def evaluate(run: ProgramRun, config: Optional[dict[str, dict[str, Any]]] = None) -> list[dict[str, Any]]:
    """Every rule's verdict on the run. Each resource goes to a servicer of the resource rules that look at its type
    (RULE_TYPES, from the rules' own type filter): the pack converts a resource's inputs once per rule it holds, and
    most resources concern two or three rules of twenty. Stack rules see the resources of the types they read
    (STACK_RULE_TYPES)."""
    config = config if config is not None else reconcile(pack_policy_infos(), {})[0]
    servicer = _servicer(POLICIES, config)
    by_type: dict[str, Optional[_PolicyAnalyzerServicer]] = {}
    found: list[dict[str, Any]] = []
    for r in run.registrations:
        if r.type not in by_type:
            rules = [p for p in POLICIES if p.name in RULE_TYPES and r.type in RULE_TYPES[p.name]]
            by_type[r.type] = _servicer(rules, config) if rules else None
        if by_type[r.type] is not None:
            found += violations(by_type[r.type].Analyze(analyze_request(r), None), r.urn)
        found += _unmarked_secret_settings(r)
    stack = [r for r in run.registrations if r.type in STACK_RULE_TYPES]
    found += violations(servicer.AnalyzeStack(analyze_stack_request(stack), None))
    return [v if v["resource"] != "stack" else {**v, "resource": f"stack {run.stack}"} for v in found]

