"""The analyzer protocol as the Pulumi engine speaks it: policy config reconciled, resources marshalled.

The offline plan and the test harness build the same requests here; the plan hands them to the pack's
own servicer in process, the harness sends them over gRPC to the pack booted as the CLI boots it. Either
way the rules see what `pulumi preview --policy-pack` gives them: numbers as doubles, secrets unwrapped,
values unknown until deployment behind pulumi-policy's unknown-checking proxy.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Optional

import jsonschema
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from .mock_engine import Registration

LEVELS = {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY,
          "remediate": analyzer_pb2.REMEDIATE, "disabled": analyzer_pb2.DISABLED}
LEVEL_NAMES = {number: name for name, number in LEVELS.items()}


def struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(dict(values), struct_pb2.Struct())


def policy_infos(info: analyzer_pb2.AnalyzerInfo) -> list[dict[str, Any]]:
    """Name, default level and config schema of each policy, from GetAnalyzerInfo."""
    return [{"name": p.name, "level": LEVEL_NAMES[p.enforcementLevel],
             "properties": json_format.MessageToDict(p.configSchema.properties),
             "required": list(p.configSchema.required)} for p in info.policies]


def reconcile(policies: Iterable[Mapping[str, Any]], given: Mapping[str, Any]) -> tuple[dict[str, dict], list[str]]:
    """The engine's ReconcilePolicyPackConfig: schema defaults, then `all`, then each policy's entry; validated.

    `given` is a policy config file's content (--policy-pack-config). Returns {policy: {level, properties}}
    and the validation errors, worded like the CLI's ("<policy>: <problem>").
    """
    result = {p["name"]: {"level": p["level"],
                          "properties": {k: s["default"] for k, s in p["properties"].items() if "default" in s}}
              for p in policies}
    errors = []
    # `all` first, then each policy's own entry over it, whatever the file's order.
    for name, entry in sorted(given.items(), key=lambda item: item[0] != "all"):
        if isinstance(entry, str):
            entry = {"enforcementLevel": entry}
        if not isinstance(entry, Mapping):
            errors.append(f"{name}: must be an enforcement level or an object")
            continue
        level = entry.get("enforcementLevel")
        if level is not None and level not in LEVELS:
            errors.append(f"{name}: {level!r} is not an enforcement level ({', '.join(LEVELS)})")
            continue
        targets = result if name == "all" else {name: result.setdefault(name, {"level": "advisory", "properties": {}})}
        for config in targets.values():
            config["level"] = level or config["level"]
            if name != "all":
                config["properties"].update({k: v for k, v in entry.items() if k != "enforcementLevel"})
    for p in policies:
        schema = {"type": "object", "properties": p["properties"], **({"required": p["required"]} if p["required"] else {})}
        for error in jsonschema.Draft7Validator(schema).iter_errors(result[p["name"]]["properties"]):
            where = ".".join(str(step) for step in error.absolute_path)
            errors.append(f"{p['name']}: {where + ': ' if where else ''}{error.message}")
    return result, errors


def configure_request(config: Mapping[str, Mapping[str, Any]]) -> analyzer_pb2.ConfigureAnalyzerRequest:
    return analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
        name: analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[c["level"]], properties=struct(c["properties"]))
        for name, c in config.items()})


def _engine_props(values: Mapping[str, Any]) -> struct_pb2.Struct:
    # The engine skips internal keys (__provider, __defaults) when it marshals for analyzers.
    return struct({k: v for k, v in values.items() if not k.startswith("__")})


def _options(r: Registration) -> analyzer_pb2.AnalyzerResourceOptions:
    o = r.options
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(o.get("protect")), ignoreChanges=o.get("ignoreChanges", []),
        deleteBeforeReplace=bool(o.get("deleteBeforeReplace")),
        deleteBeforeReplaceDefined=o.get("deleteBeforeReplace") is not None,
        additionalSecretOutputs=o.get("additionalSecretOutputs", []), parent=r.parent)


def analyze_request(r: Registration) -> analyzer_pb2.AnalyzeRequest:
    """A resource's inputs, as the engine sends them to Analyze during preview."""
    return analyzer_pb2.AnalyzeRequest(urn=r.urn, type=r.type, name=r.name, properties=_engine_props(r.engine_inputs),
                                       options=_options(r))


def analyze_stack_request(registrations: Iterable[Registration]) -> analyzer_pb2.AnalyzeStackRequest:
    """Every resource's state (the fake service's outputs with the inputs laid over them), as AnalyzeStack gets it."""
    return analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(urn=r.urn, type=r.type, name=r.name, options=_options(r), parent=r.parent,
                                      dependencies=r.dependencies,
                                      properties=_engine_props({**json.loads(json.dumps(r.state, default=str)),
                                                                **r.engine_inputs}))
        for r in registrations])


def violations(response: analyzer_pb2.AnalyzeResponse, urn: Optional[str] = None) -> list[dict[str, Any]]:
    """The response's diagnostics as the plan lists them: rule, level, resource, message (without the description)."""
    found = []
    for d in response.diagnostics:
        message = d.message.removeprefix(d.description).lstrip("\n") if d.description else d.message
        found.append({"rule": d.policyName, "level": LEVEL_NAMES[d.enforcementLevel],
                      "resource": d.urn or urn or "stack", "message": message})
    return found
