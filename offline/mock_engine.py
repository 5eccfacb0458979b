"""The stack program under Pulumi's own mock engine, with every registration recorded in wire form.

Pulumi's MockMonitor hands `Mocks.new_resource` the inputs after they are deserialized, which
drops the secret marks. `RecordingMonitor` reads the same request first, so the plan and the
tests see exactly what the engine would: camelCase names, SDK defaults, secrets still marked.
"""
from __future__ import annotations

import hashlib
import re
import runpy
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

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

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = "model-webapp"
PACKAGE_TYPE = "pulumi-python:dynamic/model-webapp:ModelPackage"
SECRET = "[secret]"
UNKNOWN = "[unknown]"
FAKE_SUBSCRIPTION = "00000000-0000-0000-0000-00000000fake"
FAKE_ADMIN_PASSWORD = "fake-registry-admin-password-Iv0lRZQ9762LUJrF"



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


def _options(request) -> dict[str, Any]:
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
    }


def _suffix(name: str) -> str:
    # Stands in for the provider's random autoname suffix, but stable from run to run.
    return hashlib.sha1(name.encode()).hexdigest()[:7]


def _fake_guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(("model-webapp-fake",) + parts)))


@dataclass
class FakeAzure(pulumi.runtime.Mocks):
    """Realistic answers for the invokes and computed outputs the program reads. All fake."""

    container_registry: Optional[str] = None  # None: derive from the workspace; "": a workspace with no registry
    admin_user_enabled: bool = True
    admin_password: str = FAKE_ADMIN_PASSWORD
    stack_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # other stacks, for StackReference
    invokes: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def registry_name(workspace_name: str) -> str:
        return re.sub(r"[^a-z0-9]", "", workspace_name.lower()) + "registry"

    def call(self, args: pulumi_mocks.MockCallArgs):
        token, a = args.token, args.args
        if token == "azure-native:machinelearningservices:getWorkspace":
            registry = self.container_registry
            if registry is None:
                registry = (f"/subscriptions/{FAKE_SUBSCRIPTION}/resourceGroups/{a['resourceGroupName']}/providers/"
                            f"Microsoft.ContainerRegistry/registries/{self.registry_name(a['workspaceName'])}")
            answer = {"name": a["workspaceName"], "containerRegistry": registry}
        elif token == "azure-native:containerregistry:getRegistry":
            answer = {"name": a["registryName"], "loginServer": f"{a['registryName']}.azurecr.io",
                      "adminUserEnabled": self.admin_user_enabled}
        elif token == "azure-native:containerregistry:listRegistryCredentials":
            answer = {"username": a["registryName"],
                      "passwords": [{"name": "password", "value": self.admin_password},
                                    {"name": "password2", "value": self.admin_password[::-1]}]}
        else:
            raise NotImplementedError(f"the offline plan has no fake answer for invoke {token}")
        shown = {k: ("[secret]" if k == "passwords" else v) for k, v in answer.items()}
        self.invokes.append({"token": token, "args": dict(a), "answer": shown, "fake": True})
        return answer

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        state = dict(args.inputs)
        typ, name = args.typ, args.name
        if typ == PACKAGE_TYPE:
            return self._package(args.inputs)
        if typ == "pulumi:pulumi:StackReference":
            ref = args.inputs.get("name", name)
            if ref not in self.stack_outputs:
                raise pulumi.RunError(f"the offline plan has no outputs for stack {ref}")
            return f"{ref}", {"name": ref, "outputs": self.stack_outputs[ref], "secretOutputNames": []}
        physical = state.get("name") or f"{name}{_suffix(name)}"
        if typ.startswith("azure-native:") and "name" not in state and typ != "azure-native:authorization:RoleAssignment":
            state["name"] = physical
        identity = state.get("identity")
        if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
            # Inputs list the identity ids; the service answers with a map of id to identity.
            state["identity"] = {**identity, "userAssignedIdentities": {
                i: {"principalId": _fake_guid(i, "principal"), "clientId": _fake_guid(i, "client")}
                for i in identity["userAssignedIdentities"]}}
        if typ == "azure-native:web:WebApp":
            state["defaultHostName"] = f"{physical}.azurewebsites.net"
        if typ == "azure-native:managedidentity:UserAssignedIdentity":
            state["principalId"] = _fake_guid(name, "principal")
            state["clientId"] = _fake_guid(name, "client")
        resource_id = f"/subscriptions/{FAKE_SUBSCRIPTION}/resourceGroups/fake/providers/{typ}/{physical}"
        return resource_id, state


    def _package(self, inputs: dict[str, Any]):
        from components.model_package import environment_name, package_key

        name = environment_name(inputs["model_name"], package_key(inputs))
        # A placeholder digest, derived from the content hash so that an edit shows as a new image.
        digest = hashlib.sha256(f"placeholder:{inputs['content_hash']}".encode()).hexdigest()
        login_server = f"{self.registry_name(inputs['workspace_name'])}.azurecr.io"
        env_id = (f"/subscriptions/{inputs['subscription_id']}/resourceGroups/{inputs['resource_group']}/providers/"
                  f"Microsoft.MachineLearningServices/workspaces/{inputs['workspace_name']}/environments/{name}/versions/1")
        outs = {**inputs, "environment_name": name, "environment_version": "1", "environment_id": env_id,
                "login_server": login_server, "image": f"{login_server}/package@sha256:{digest}"}
        return env_id, outs


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

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            raw = json_format.MessageToDict(request.object)
            inputs = wire_value(raw)
            if "__provider" in inputs:
                inputs["__provider"] = "[the pickled dynamic provider]"
            self.registrations.append(Registration(
                urn=response.urn, type=request.type, name=request.name, parent=request.parent,
                inputs=inputs, dependencies=list(request.dependencies), custom=request.custom,
                state=dict(self.resources[response.urn].state) if response.urn in self.resources else {},
                options=_options(request), engine_inputs=engine_value(raw),
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
        runpy.run_path(str(program), run_name="__main__")
        outputs.update(await _stack_outputs())

    _sync_await(run_pulumi_func(body))
    return ProgramRun(stack=stack, registrations=monitor.registrations, outputs=outputs, invokes=mocks.invokes)


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
