"""Shared pieces of the tests: stack config as the CLI would pass it, and lookups in a run."""
from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from policies.props import AUTH, AUTOSCALE, IDENTITY, PLAN, ROLE_ASSIGNMENT, WEB_APP  # noqa: F401 (re-exported)
from policies.props import FTP_ALLOWED as FTP  # noqa: F401
from policies.props import SCM_ALLOWED as SCM  # noqa: F401
from offline.mock_engine import ProgramRun, Registration, start_mocks
from offline.stack_config import load_stack_config
from settings.stack_settings import NAMESPACE, Settings

GROUP = "azure-native:resources:ResourceGroup"
PLATFORM = "model-webapp:index:Platform"
SERVICE = "model-webapp:index:ModelService"


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


def changed(props: dict, **changes: Any) -> dict:
    """A deep copy of resource props with dotted-path changes (`a__b` for a.b); None deletes the key."""
    import copy

    props = copy.deepcopy(props)
    for path, new in changes.items():
        *parents, last = path.split("__")
        target = props
        for step in parents:
            target = target.setdefault(step, {})
        if new is None:
            target.pop(last, None)
        else:
            target[last] = new
    return props


def everything(run: ProgramRun) -> str:
    """All a run shows: wire inputs, outputs and invoke answers, as one text."""
    return json.dumps([r.as_json() for r in run.registrations]) + json.dumps(run.outputs) + json.dumps(run.invokes)


def settings_of(stack: str = "dev", **overrides: Any) -> Settings:
    """The stack's settings, read as the program reads them, with `key=value` overrides."""
    start_mocks(stack_values(stack, **overrides), stack)
    return Settings.from_config(pulumi.Config(NAMESPACE), stack=stack)


def problems_of(stack: str = "dev", **overrides: Any) -> str:
    """The one error the settings raise for these overrides: every problem, a line each."""
    with pytest.raises(pulumi.RunError) as raised:
        settings_of(stack, **overrides)
    return str(raised.value)


def assert_pickles_without(provider: Any, forbidden: tuple[bytes, ...]) -> None:
    """The provider as the engine stores it holds none of `forbidden` (clients, credentials, test doubles) and
    unpickles, in a process of its own from the project folder, as the class of its module path."""
    import base64
    import subprocess
    import sys

    from pulumi.dynamic.dynamic import serialize_provider

    from offline.project import PROJECT_DIR

    from offline.mock_engine import _pickler_state, _restore_pickler

    saved = _pickler_state()  # serialize_provider wraps pickle's methods and never unwraps them
    try:
        blob = base64.b64decode(serialize_provider(provider))
    finally:
        _restore_pickler(saved)
    assert not [f for f in forbidden if f in blob]
    script = ("import base64, sys, dill; p = dill.loads(base64.b64decode(sys.stdin.read())); "
              "print(type(p).__module__, type(p).__name__)")
    done = subprocess.run([sys.executable, "-c", script], input=base64.b64encode(blob).decode(), cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [type(provider).__module__, type(provider).__name__]
