"""Shared pieces of the tests: stack config as the CLI would pass it, and lookups in a run."""
from __future__ import annotations

import json
from typing import Any

from tools.mock_engine import ProgramRun, Registration
from tools.stack_config import load_stack_config

WEB_APP = "azure-native:web:WebApp"
PLAN = "azure-native:web:AppServicePlan"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
AUTOSCALE = "azure-native:monitor:AutoscaleSetting"
AUTH = "azure-native:web:WebAppAuthSettingsV2"
FTP = "azure-native:web:WebAppFtpAllowed"
SCM = "azure-native:web:WebAppScmAllowed"
GROUP = "azure-native:resources:ResourceGroup"
COMPONENT = "model-webapp:index:ModelWebApp"


def stack_values(stack: str, **overrides: Any) -> dict[str, str]:
    """The stack's config as text, with `key=value` overrides (objects as dicts)."""
    values = dict(load_stack_config(stack).values)
    for key, value in overrides.items():
        full = f"model-webapp:{key}"
        if value is None:
            values.pop(full, None)
        else:
            values[full] = json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)
    return values


def app_settings(site: Registration) -> dict[str, Any]:
    return {s["name"]: s.get("value") for s in site.inputs["siteConfig"]["appSettings"]}


def everything(run: ProgramRun) -> str:
    """All a run shows: wire inputs, outputs and invoke answers, as one text."""
    return json.dumps([r.as_json() for r in run.registrations]) + json.dumps(run.outputs) + json.dumps(run.invokes)
