"""A small evaluator of Azure Policy's rule language, enough for the vendored App Service definitions, on an offline plan.

The plan holds azure-native's wire inputs, which flatten ARM's `properties`: the alias `Microsoft.Web/sites/<path>` (and
`Microsoft.Web/sites/slots/<path>`) is the site's (slot's) input at <path>. A site's `privateEndpointConnections` are
made from the plan's PrivateEndpoint resources that connect to it with group `sites`: a connection through
privateLinkServiceConnections is Approved on creation, a manual one Pending
(fact: net-private-endpoint-auto-approval). String comparisons ignore case, as Azure Policy's do. An alias or operator
it does not know raises, so no definition passes by being misread.
"""
from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from offline.mock_engine import ProgramRun, Registration
from policies.props import PRIVATE_ENDPOINT, WEB_APP, WEB_APP_SLOT

DEFINITIONS_DIR = Path(__file__).resolve().parent / "azure_policy"
ARM_TYPES = {WEB_APP: "Microsoft.Web/sites", WEB_APP_SLOT: "Microsoft.Web/sites/slots"}
CONNECTIONS = "Microsoft.Web/sites/privateEndpointConnections"
_MISSING = object()


class UnsupportedPolicy(Exception):
    """The definition uses an alias, operator or effect this evaluator does not model."""


@dataclass
class ArmResource:
    """A resource as a policy sees it: its ARM type, name, kind and (flattened) properties."""
    type: str
    name: str
    urn: str
    properties: dict[str, Any]
    kind: Optional[str] = None
    related: dict[str, list["ArmResource"]] = field(default_factory=dict)  # child type -> children


def definitions() -> dict[str, dict[str, Any]]:
    """Every vendored definition, by its name (the definition's GUID)."""
    found = {}
    for path in sorted(DEFINITIONS_DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        found[doc["name"]] = doc
    return found


def _name(r: Registration) -> str:
    return str(r.state.get("name") or r.inputs.get("name") or r.name)


def _targets(endpoint: Registration, app: Registration, connection: dict[str, Any]) -> bool:
    if app.urn in endpoint.dependencies:
        return True
    return str(connection.get("privateLinkServiceId", "")).lower().rstrip("/").rsplit("/", 1)[-1] == _name(app).lower()


def arm_resources(run: ProgramRun) -> list[ArmResource]:
    endpoints = run.of_type(PRIVATE_ENDPOINT)
    resources = []
    for r in run.registrations:
        if r.type not in ARM_TYPES:
            continue
        props = {**r.state, **r.inputs}
        resource = ArmResource(ARM_TYPES[r.type], _name(r), r.urn, props, props.get("kind"))
        if r.type == WEB_APP:
            connections = []
            for e in endpoints:
                for key, status in (("privateLinkServiceConnections", "Approved"),
                                    ("manualPrivateLinkServiceConnections", "Pending")):
                    for c in e.inputs.get(key) or []:
                        if "sites" in (c.get("groupIds") or []) and _targets(e, r, c):
                            connections.append(ArmResource(
                                CONNECTIONS, c.get("name", e.name), e.urn,
                                {"privateLinkServiceConnectionState": {"status": status},
                                 "privateEndpoint": {"id": e.urn}}))
            resource.related[CONNECTIONS] = connections
        resources.append(resource)
    return resources


def _path(props: dict[str, Any], path: str) -> Any:
    current: Any = props
    for step in path.split("."):
        if not isinstance(current, dict) or step not in current or current[step] is None:
            return _MISSING
        current = current[step]
    return current


def field_value(resource: ArmResource, name: str) -> Any:
    if name == "type":
        return resource.type
    if name == "name":
        return resource.name
    if name == "kind":
        return resource.kind if resource.kind is not None else _MISSING
    prefix = resource.type + "/"
    if not name.lower().startswith(prefix.lower()) or "[*]" in name or "/" in name[len(prefix):]:
        raise UnsupportedPolicy(f"alias {name} on a {resource.type}")
    return _path(resource.properties, name[len(prefix):])


def _text(v: Any) -> str:
    return str(v).lower()  # True -> "true", as the rule language writes booleans


def _equals(a: Any, b: Any) -> bool:
    if a is _MISSING:
        return False
    return _text(a) == _text(b) if isinstance(a, (str, bool)) or isinstance(b, str) else a == b


def condition(resource: ArmResource, rule: dict[str, Any]) -> bool:
    if "allOf" in rule:
        return all(condition(resource, r) for r in rule["allOf"])
    if "anyOf" in rule:
        return any(condition(resource, r) for r in rule["anyOf"])
    if "not" in rule:
        return not condition(resource, rule["not"])
    if "field" not in rule:
        raise UnsupportedPolicy(f"condition {sorted(rule)}")
    actual = field_value(resource, rule["field"])
    (operator,) = [k for k in rule if k != "field"]
    expected = rule[operator]
    if operator == "exists":
        return (actual is not _MISSING) == (_text(expected) == "true")
    if operator == "equals":
        return _equals(actual, expected)
    if operator == "notEquals":
        return not _equals(actual, expected)
    if operator in ("in", "notIn"):
        found = any(_equals(actual, e) for e in expected)
        return found if operator == "in" else not found
    if operator in ("contains", "notContains"):
        found = actual is not _MISSING and _text(expected) in _text(actual)
        return found if operator == "contains" else not found
    if operator in ("like", "notLike"):
        found = actual is not _MISSING and fnmatch.fnmatchcase(_text(actual), _text(expected))
        return found if operator == "like" else not found
    raise UnsupportedPolicy(f"operator {operator}")


def effect(definition: dict[str, Any]) -> str:
    """The effect as assigned with the definition's defaults: "[parameters('effect')]" is the parameter's default."""
    raw = definition["properties"]["policyRule"]["then"]["effect"]
    match = re.fullmatch(r"\[parameters\('(\w+)'\)\]", raw)
    if match:
        return definition["properties"]["parameters"][match.group(1)]["defaultValue"]
    return raw


def fires(definition: dict[str, Any], resource: ArmResource) -> bool:
    """Whether the definition's effect applies to the resource: it is non-compliant (Audit, Deny, AuditIfNotExists)."""
    rule = definition["properties"]["policyRule"]
    if not condition(resource, rule["if"]):
        return False
    kind = effect(definition).lower()
    if kind in ("audit", "deny"):
        return True
    if kind == "auditifnotexists":
        details = rule["then"]["details"]
        if details["type"] not in resource.related:
            raise UnsupportedPolicy(f"related resources of type {details['type']}")
        test = details.get("existenceCondition")
        return not any(test is None or condition(child, test) for child in resource.related[details["type"]])
    raise UnsupportedPolicy(f"effect {kind}")


def evaluate(run: ProgramRun) -> list[tuple[str, str, str]]:
    """(definition GUID, resource URN, effect) for every vendored definition that fires on the plan."""
    return [(name, r.urn, effect(d)) for name, d in definitions().items() for r in arm_resources(run) if fires(d, r)]
