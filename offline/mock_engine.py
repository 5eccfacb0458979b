"""The stack program under Pulumi's own mock engine, with every registration recorded in wire form.

Pulumi's MockMonitor hands `Mocks.new_resource` the inputs after they are deserialized, which
drops the secret marks. `RecordingMonitor` reads the same request first, so the plan and the
tests see exactly what the engine would: camelCase names, SDK defaults, secrets still marked.
"""
from __future__ import annotations

import copy
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.rpc import UNKNOWN as _UNKNOWN_VALUE
from pulumi.runtime.rpc import _special_output_value_sig as _OUTPUT_SIG
from pulumi.runtime.rpc import _special_resource_sig as _RESOURCE_SIG
from pulumi.runtime.rpc import _special_secret_sig as _SECRET_SIG
from pulumi.runtime.rpc import _special_sig_key as _SIG
from pulumi.runtime.settings import SETTINGS, set_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from . import urns
from .fake_azure import FakeAzure
from .project import PROJECT, PROJECT_DIR

SECRET = "[secret]"
UNKNOWN = "[unknown]"


def wire_value(value: Any) -> Any:
    """A deserialized protobuf Struct value with secrets replaced by the SECRET marker."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG:
            return SECRET
        if sig == _RESOURCE_SIG:
            return value.get("urn")
        if sig == _OUTPUT_SIG:
            return SECRET if value.get("secret") else wire_value(value.get("value", UNKNOWN))
        return {k: wire_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire_value(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == _UNKNOWN_VALUE:
        return UNKNOWN
    return value


def plain_value(value: Any) -> Any:
    """A value of the fake service's state with secrets unwrapped: what the deployed resource itself would hold."""
    if isinstance(value, dict):
        if value.get(_SIG) == _SECRET_SIG:
            return plain_value(value.get("value"))
        return {k: plain_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_value(v) for v in value]
    return value


def engine_value(value: Any) -> Any:
    """A deserialized request value as the engine hands it on to analyzers and providers.

    The engine resolves output values: unknown ones become the UNKNOWN string, secret ones a secret
    object around the plain value; resource references travel as their id (or URN). Numbers stay doubles.
    """
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG:
            return {_SIG: _SECRET_SIG, "value": engine_value(value.get("value"))}
        if sig == _RESOURCE_SIG:
            return value.get("id") or value.get("urn")
        if sig == _OUTPUT_SIG:
            if "value" not in value:
                return _UNKNOWN_VALUE
            inner = engine_value(value["value"])
            return {_SIG: _SECRET_SIG, "value": inner} if value.get("secret") else inner
        return {k: engine_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [engine_value(v) for v in value]
    return value


def _is_version_alias(spec, typ: str) -> bool:
    """pulumi-azure-native gives every resource a type-only alias per older API version of the same type
    (`azure-native:web/v20150801:WebApp` for `azure-native:web:WebApp`), so a stack made with a versioned module
    still matches. They say nothing about this program's moves and would bury the ones that do: they are left out."""
    if spec.name or spec.stack or spec.project or spec.parentUrn or spec.noParent:
        return False
    package, module, member = (spec.type.split(":") + ["", ""])[:3]
    return "/" in module and f"{package}:{module.split('/', 1)[0]}:{member}" == typ


def _version_alias(alias: Any, typ: str) -> bool:
    """The same test as _is_version_alias, on an alias as the program hands it to the SDK."""
    if not isinstance(alias, pulumi.Alias) or not isinstance(alias.type_, str):
        return False
    if any(getattr(alias, key) is not ... for key in ("name", "parent", "stack", "project")):
        return False
    package, module, member = (alias.type_.split(":") + ["", ""])[:3]
    return "/" in module and f"{package}:{module.split('/', 1)[0]}:{member}" == typ


def _without_version_aliases(args: pulumi.ResourceTransformationArgs) -> Optional[pulumi.ResourceTransformationResult]:
    """Offline only: pulumi-azure-native's aliases for its older API versions (two dozen on a site) cost the SDK
    several asyncio tasks each before anything is registered, most of a large stack's plan time, and the plan leaves
    them out anyway (_is_version_alias). The registrations are otherwise the same."""
    aliases = args.opts.aliases if args.opts else None
    if not aliases:
        return None
    kept = [a for a in aliases if not _version_alias(a, args.type_)]
    if len(kept) == len(aliases):
        return None
    opts = copy.copy(args.opts)
    opts.aliases = kept
    return pulumi.ResourceTransformationResult(args.props, opts)


def alias_urns(request, engine_urn: Callable[[str], str] = urns.engine_form) -> list[str]:
    """The URNs a registration asks to be known by, as the engine collapses each alias (step_generator.go,
    collapseAliasToUrn): a URN as given; a spec's empty name, type, stack and project are the resource's own, its
    parent is the resource's parent unless noParent (a parent that is the root stack means none). `engine_urn` turns a
    parent's URN as this run named it into the engine's. Not done here, because it needs the old state: the engine
    also swaps a spec's explicit parent for that parent's own matched alias, and gives children of a moved parent
    inherited aliases; offline/diff.py does the latter."""
    stack, project = pulumi.get_stack(), pulumi.get_project()
    found: list[str] = []
    for alias in getattr(request, "aliases", []):
        if alias.HasField("spec"):
            spec = alias.spec
            if _is_version_alias(spec, request.type):
                continue
            parent = "" if spec.noParent else engine_urn(spec.parentUrn or request.parent)
            found.append(urns.make(spec.stack or stack, spec.project or project, urns.chain(parent),
                                   spec.type or request.type, spec.name or request.name))
        elif alias.urn:
            found.append(alias.urn)
    found += list(getattr(request, "aliasURNs", []))  # the older protocol: URNs the SDK collapsed itself
    return list(dict.fromkeys(found))


def _options(request, engine_urn: Callable[[str], str] = urns.engine_form) -> dict[str, Any]:
    """The resource options the engine receives with a registration (or a read), named as in the protocol."""
    def has(name: str) -> bool:
        return name in request.DESCRIPTOR.fields_by_name

    return {
        "protect": bool(getattr(request, "protect", False)),
        "ignoreChanges": list(getattr(request, "ignoreChanges", [])),
        "deleteBeforeReplace": request.deleteBeforeReplace if has("deleteBeforeReplaceDefined") and
        request.deleteBeforeReplaceDefined else None,
        "replaceOnChanges": list(getattr(request, "replaceOnChanges", [])),
        "additionalSecretOutputs": list(getattr(request, "additionalSecretOutputs", [])),
        "retainOnDelete": request.retainOnDelete if has("retainOnDelete") and request.HasField("retainOnDelete")
        else None,
        "dependsOn": list(request.dependencies),
        "aliases": alias_urns(request, engine_urn) if has("aliases") else [],
    }


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    inputs: dict[str, Any]
    dependencies: list[str]
    custom: bool
    read: bool = False  # a read of an existing resource (StackReference), not a create
    state: dict[str, Any] = field(default_factory=dict)  # what the fake service answered: inputs plus outputs
    options: dict[str, Any] = field(default_factory=dict)  # protect, ignoreChanges, ... as the engine gets them
    engine_inputs: dict[str, Any] = field(default_factory=dict)  # inputs as the engine passes them on (secrets kept)

    def as_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent or None,
                "inputs": self.inputs, "dependencies": self.dependencies, "options": self.options}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.engine_urns: dict[str, str] = {}  # this run's URN -> the engine's, for aliases under a parent

    def engine_urn(self, urn: str) -> str:
        return self.engine_urns.get(urn) or urns.engine_form(urn)

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            stack, project, _, name = urns.parts(response.urn)
            self.engine_urns[response.urn] = urns.make(
                stack, project, urns.chain(self.engine_urns.get(request.parent, request.parent)), request.type, name)
            raw = json_format.MessageToDict(request.object)
            inputs = wire_value(raw)
            if "__provider" in inputs:
                inputs["__provider"] = "[the pickled dynamic provider]"
            self.registrations.append(Registration(
                urn=response.urn, type=request.type, name=request.name, parent=request.parent,
                inputs=inputs, dependencies=list(request.dependencies), custom=request.custom,
                state=dict(self.resources[response.urn].state) if response.urn in self.resources else {},
                options=_options(request, self.engine_urn), engine_inputs=engine_value(raw),
            ))
        return response

    def ReadResource(self, request):
        response = super().ReadResource(request)
        self.registrations.append(Registration(
            urn=response.urn, type=request.type, name=request.name, parent=request.parent,
            inputs=wire_value(json_format.MessageToDict(request.properties)), dependencies=list(request.dependencies),
            custom=True, read=True, options=_options(request),
        ))
        return response


@dataclass
class ProgramRun:
    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any]
    invokes: list[dict[str, Any]]

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == typ]

    def one(self, typ: str) -> Registration:
        found = self.of_type(typ)
        if len(found) != 1:
            raise AssertionError(f"expected one {typ}, found {len(found)}")
        return found[0]


def start_mocks(config: dict[str, str], stack: str, mocks: Optional[FakeAzure] = None,
                secret_keys: Optional[list[str]] = None) -> RecordingMonitor:
    """Configures the runtime for one program run: fresh root stack, config, mocks and recorder."""
    mocks = mocks if mocks is not None else FakeAzure()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_all_config(dict(config), list(secret_keys or []))
    set_root_resource(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    # A run that failed leaves its failed outputs queued; the next run must not inherit them.
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    return monitor


async def _stack_outputs() -> dict[str, Any]:
    root = pulumi.runtime.get_root_resource()
    shown: dict[str, Any] = {}
    for key, value in (root.outputs if root else {}).items():
        output = pulumi.Output.from_input(value)
        resolved = await output.future()
        shown[key] = SECRET if await output.is_secret() else resolved
    return shown


def run_program(config: dict[str, str], stack: str, mocks: Optional[FakeAzure] = None,
                secret_keys: Optional[list[str]] = None, program: Path = PROJECT_DIR / "__main__.py") -> ProgramRun:
    """Runs the real __main__.py under the mock engine and returns what it declared."""
    mocks = mocks if mocks is not None else FakeAzure()
    promote_from = config.get(f"{PROJECT}:promoteFrom")
    if promote_from and promote_from not in mocks.stack_outputs:
        mocks.stack_outputs[promote_from] = _upstream_outputs(promote_from, program)
    monitor = start_mocks(config, stack, mocks, secret_keys)
    outputs: dict[str, Any] = {}

    async def body() -> None:
        pulumi.runtime.register_stack_transformation(_without_version_aliases)
        runpy.run_path(str(program), run_name="__main__")
        outputs.update(await _stack_outputs())

    saved = _pickler_state()
    try:
        _sync_await(run_pulumi_func(body))
    finally:
        # Every dynamic resource registered runs pulumi's serialize_provider, which wraps pickle's Pickler methods once
        # more and never unwraps them: a process that plans again and again (the tests, the local rehearsal, the
        # benchmarks) would nest them until an unrelated pickle (joblib's dump of a model) hits the recursion limit.
        _restore_pickler(saved)
    return ProgramRun(stack=stack, registrations=monitor.registrations, outputs=outputs, invokes=mocks.invokes)


def _pickler_state() -> tuple:
    import pickle

    return pickle.Pickler, pickle._Pickler._batch_setitems, pickle._Pickler.save_dict


def _restore_pickler(state: tuple) -> None:
    import pickle

    pickle.Pickler, pickle._Pickler._batch_setitems, pickle._Pickler.save_dict = state


def _upstream_outputs(reference: str, program: Path) -> dict[str, Any]:
    """Offline stand-in for a StackReference: the outputs of the referenced stack's own offline run."""
    from .stack_config import StackFileError, load_stack_config

    stack = reference.rsplit("/", 1)[-1]
    try:
        upstream = load_stack_config(stack)
    except StackFileError as exc:
        raise pulumi.RunError(f"promoteFrom {reference}: the offline plan reads that stack from its file: {exc}") from None
    if upstream.values.get(f"{PROJECT}:promoteFrom"):
        raise pulumi.RunError(f"promoteFrom {reference}: that stack promotes from another one; promote from the "
                              "stack that builds the image")
    return run_program(upstream.values, upstream.stack, FakeAzure(), list(upstream.secret_keys), program).outputs
