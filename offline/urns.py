"""URNs as the Pulumi engine forms them, beside the ones the mock engine gives the offline plan.

The engine names a resource `urn:pulumi:STACK::PROJECT::<parent's type chain>$<type>::NAME`, where the chain is
the parent's whole qualified type and a resource parented to the stack has no chain at all
(pkg/resource/urn.go, NewURN: the root stack's type is left out). Pulumi's MockMonitor (pulumi/runtime/mocks.py,
make_urn) differs on both counts: it keeps `pulumi:pulumi:Stack$` in front of a top-level resource, and it chains
only the parent's last type, so from the third level down its URNs lose the grandparents.

Aliases must name URNs as the engine will look them up in the real state, so they are computed and matched in the
engine's form; the plan's own `urn` fields stay the mock's, as every test and baseline knows them.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
PREFIX = "urn:pulumi:"


def parts(urn: str) -> Optional[tuple[str, str, str, str]]:
    """(stack, project, qualified type, name), or None for a string that is not a Pulumi URN."""
    if not urn.startswith(PREFIX):
        return None
    found = urn[len(PREFIX):].split("::", 3)  # a name may itself contain "::"; the first three separators cannot
    return tuple(found) if len(found) == 4 else None  # type: ignore[return-value]


def make(stack: str, project: str, parent_chain: str, typ: str, name: str) -> str:
    return f"{PREFIX}{stack}::{project}::{parent_chain + '$' if parent_chain else ''}{typ}::{name}"


def chain(urn: str) -> str:
    """The type chain a child of this URN's resource is named under: "" for the root stack (or no parent)."""
    split = parts(urn) if urn else None
    if split is None:
        return ""
    types = split[2].split("$")
    if types[0] == ROOT_STACK_TYPE:  # the mock's top-level form, or the stack itself
        types = types[1:]
    return "$".join(types)


def engine_form(urn: str) -> str:
    """A URN whose resource this run does not know (an old parent, a hand-written alias), in the engine's form:
    only the mock's root-stack prefix can be undone; a lost grandparent cannot."""
    split = parts(urn)
    return make(split[0], split[1], "", chain(urn), split[3]) if split else urn


def engine_urns(resources: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Each planned resource's URN -> the URN the engine gives it, rebuilt from the parent links (plan order:
    a parent is registered before its children)."""
    found: dict[str, str] = {}
    for r in resources:
        split = parts(r["urn"])
        parent = r.get("parent") or ""
        if split is None:
            found[r["urn"]] = r["urn"]
        elif parent in found:
            found[r["urn"]] = make(split[0], split[1], chain(found[parent]), r["type"], split[3])
        else:  # parented to the stack, or a hand-made entry without its parent: its own URN says enough
            found[r["urn"]] = engine_form(r["urn"])
    return found
