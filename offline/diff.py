"""The offline diff: two plans of one stack compared resource by resource, as `pulumi preview --diff` would.

    python -m offline.plan --stack prod --against OLD.json     (OLD.json: an earlier `--format json` plan)

Resources are matched by URN, or through an alias as the engine matches them: a new resource whose `options.aliases`
(or an alias inherited from its moved parent) names an old resource's URN is that resource, moved. Each is created,
deleted, updated or replaced; the changed input paths are listed in wire form (camelCase) with old and new values, and
a secret stays "[secret]" on both sides. Which changes force a replacement, and what a change means (the package
rebuild), is each type's rule in offline/change_rules.py.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from . import urns
from .change_rules import Verdict, rule_for
from .mock_engine import SECRET
from .project import RELEASE_TYPES

MISSING = object()  # one side has no value at this path
OPS = ("create", "update", "replace", "delete")


class PlanFileError(Exception):
    """A file that is not a plan; the message names the file and what to give instead."""


class AliasError(Exception):
    """Aliases the engine refuses: its preview fails with this message, so the offline diff does too."""


@dataclass(frozen=True)
class PropertyChange:
    path: str  # wire form: siteConfig.appSettings[3].value
    old: Any  # MISSING when added
    new: Any  # MISSING when removed
    replaces: bool = False
    ignored: bool = False  # under the resource's ignoreChanges: the engine keeps the old value

    @property
    def kind(self) -> str:
        return "add" if self.old is MISSING else "delete" if self.new is MISSING else "update"

    def as_json(self) -> dict[str, Any]:
        shown = {"path": self.path, "kind": self.kind, "replaces": self.replaces}
        if self.old is not MISSING:
            shown["old"] = self.old
        if self.new is not MISSING:
            shown["new"] = self.new
        if self.ignored:
            shown["ignored"] = True
        return shown


@dataclass
class ResourceChange:
    urn: str
    type: str
    name: str
    op: str
    properties: list[PropertyChange] = field(default_factory=list)
    verdict: Verdict = field(default_factory=lambda: Verdict("same"))
    label_source: Optional[dict[str, Any]] = None  # the inputs that name list entries (app settings) for readers
    moved_from: Optional[str] = None  # the old plan's URN of the resource this one is, through an alias
    after: Optional[str] = None  # a release: the name of the release it waits for (the previous region's)

    def as_json(self) -> dict[str, Any]:
        shown = {"urn": self.urn, "type": self.type, "name": self.name, "op": self.op,
                 "properties": [p.as_json() for p in self.properties],
                 "replaceBecause": list(self.verdict.replace_because)}
        if self.moved_from:
            shown["movedFrom"] = self.moved_from
        if self.verdict.meaning:
            shown["meaning"] = {"text": self.verdict.meaning, **self.verdict.facts}
        if self.after:
            shown["after"] = self.after
        return shown


@dataclass
class Comparison:
    stack: str
    against: str
    changes: list[ResourceChange]  # every resource that changes, in plan order, deletes last
    meanings: list[ResourceChange]  # every resource whose rule has something to say, changed or not
    same: int
    outputs: list[PropertyChange]
    moves: list[ResourceChange] = field(default_factory=list)  # every resource matched through an alias, any op

    def counts(self) -> dict[str, int]:
        return {**{op: sum(1 for c in self.changes if c.op == op) for op in OPS}, "same": self.same}

    def as_json(self) -> dict[str, Any]:
        return {"against": self.against, "changes": [c.as_json() for c in self.changes],
                "changeSummary": self.counts(),
                "moves": [{"urn": m.urn, "from": m.moved_from, "op": m.op} for m in self.moves],
                "meanings": [{"urn": m.urn, "type": m.type, "op": m.op, "text": m.verdict.meaning, **m.verdict.facts,
                              **({"after": m.after} if m.after else {})} for m in self.meanings],
                "outputChanges": [p.as_json() for p in self.outputs]}


# -- reading a plan file --------------------------------------------------------------------------------------------
def load_plan(path: Path) -> dict[str, Any]:
    """An earlier `python -m offline.plan --format json`, checked to be one."""
    hint = "give the JSON that `python -m offline.plan --stack STACK --format json` printed"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such file; {hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"{path}: cannot be read ({exc}); {hint}") from None
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path}: not JSON ({exc}); {hint}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("stack"), str) or not isinstance(doc.get("resources"), list):
        raise PlanFileError(f"{path}: not a plan (no 'stack' and 'resources'); {hint}")
    for i, r in enumerate(doc["resources"]):
        if not (isinstance(r, dict) and isinstance(r.get("urn"), str) and isinstance(r.get("type"), str)
                and isinstance(r.get("inputs"), dict)):
            raise PlanFileError(f"{path}: resources[{i}] is not a planned resource (urn, type, inputs); {hint}")
    return doc


# -- paths ------------------------------------------------------------------------------------------------------------
_IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*$")
_TOKEN = re.compile(r'\["((?:[^"\\]|\\.)*)"\]|\[(\d+|\*)\]|\.?([^.\[\]]+)')


def join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def tokens(path: str) -> list[str]:
    """`a.b[0]["c.d"]` -> ["a", "b", "0", "c.d"]: Pulumi's property path syntax, as in ignoreChanges."""
    return [json.loads(f'"{m[1]}"') if m[1] is not None else m[2] if m[2] is not None else m[3]
            for m in _TOKEN.finditer(path)]


def under(path: str, prefix: str) -> bool:
    want, have = tokens(prefix), tokens(path)
    return len(have) >= len(want) and all(w in ("*", h) for w, h in zip(want, have))


def walk(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every leaf path whose value differs, with both values (MISSING where one side has none)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            yield from walk(old.get(key, MISSING), new.get(key, MISSING), join(path, key))
    elif isinstance(old, list) and isinstance(new, list):
        for i in range(max(len(old), len(new))):
            yield from walk(old[i] if i < len(old) else MISSING, new[i] if i < len(new) else MISSING, join(path, i))
    elif old is MISSING and isinstance(new, (dict, list)) and new:
        yield from walk(type(new)(), new, path)
    elif new is MISSING and isinstance(old, (dict, list)) and old:
        yield from walk(old, type(old)(), path)
    elif old != new:
        if SECRET in (old, new):  # a secret on either side: show neither value
            old, new = (SECRET if v is not MISSING else v for v in (old, new))
        yield path, old, new


# -- comparing ------------------------------------------------------------------------------------------------------
def _compare_resource(old: Optional[dict], new: Optional[dict]) -> ResourceChange:
    either = new or old
    ignore = (new or {}).get("options", {}).get("ignoreChanges") or []
    replace_on = (new or {}).get("options", {}).get("replaceOnChanges") or []
    props = [PropertyChange(p, o, n, ignored=any(under(p, i) for i in ignore))
             for p, o, n in walk((old or {}).get("inputs", {}), (new or {}).get("inputs", {}))]
    props = [p for p in props if p.path != "__provider"]
    counted = [p.path for p in props if not p.ignored]
    verdict = rule_for(either["type"])(old, new, counted)
    engine_replace = tuple(p for p in counted if any(under(p, r) for r in replace_on))  # replaceOnChanges option
    if engine_replace and verdict.op in ("update", "same"):
        verdict = Verdict("replace", engine_replace, verdict.meaning, verdict.facts)
    because = set(verdict.replace_because) | set(engine_replace)
    props = [PropertyChange(p.path, p.old, p.new, replaces=p.path in because or any(
        p.path.startswith(b + ".") or p.path.startswith(b + "[") for b in because), ignored=p.ignored) for p in props]
    return ResourceChange(urn=either["urn"], type=either["type"], name=either.get("name") or either["urn"].split("::")[-1],
                          op=verdict.op, properties=props, verdict=verdict, label_source=either.get("inputs"))


def _inherited_alias(alias: str, parent_name: str, parent_old: str) -> str:
    """The alias a child gets from its parent's matched alias (step_generator.go, inheritedChildAlias): the alias's
    last type and name under the parent's old type chain, with the parent's old name in place of its new one where
    the name starts with the parent's."""
    split, old_parent = urns.parts(alias), urns.parts(parent_old)
    if split is None or old_parent is None:
        return alias
    name = old_parent[3] + split[3][len(parent_name):] if split[3].startswith(parent_name) else split[3]
    return urns.make(old_parent[0], old_parent[1], urns.chain(parent_old), split[2].split("$")[-1], name)


def match(old_resources: list[dict[str, Any]], new_resources: list[dict[str, Any]]) -> dict[str, str]:
    """New plan URN -> the old plan URN it is, found as the engine finds it (pkg/resource/deploy/step_generator.go,
    generateSteps): in registration order, the resource's own URN first, then its aliases in order, then those it
    inherits from a parent that was itself matched through an alias; the first URN the old state holds wins, and
    an alias that names no old resource is ignored. Matching is on the engine's URNs (offline/urns.py).

    The engine refuses two things (pulumi/pulumi#11212 made the second one an error; #3107 shows the first in a
    preview): two resources claiming one old resource through aliases, and an alias claiming an old resource that
    the program also declares as itself. An alias naming a URN already declared, or already claimed, fails with
    diag 2008, "Duplicate resource alias '<old>' applied to resource with URN '<new>' conflicting with resource with
    URN '<other>'" (pkg/diag/errors.go); a resource declared under a URN that an earlier one claimed through an alias
    fails with diag GetDuplicateResourceAliasedError. Either fails the preview, so either raises AliasError here."""
    old_engine = urns.engine_urns(old_resources)
    olds = {old_engine[r["urn"]]: r["urn"] for r in old_resources}
    new_engine = urns.engine_urns(new_resources)
    names = {r["urn"]: r.get("name") or r["urn"].split("::")[-1] for r in new_resources}
    declared: dict[str, str] = {}  # engine URN -> the new resource declared under it
    aliased: dict[str, str] = {}  # old engine URN -> the new resource that claimed it through an alias
    moved_to_old: dict[str, str] = {}  # new plan URN -> the old engine URN it matched through an alias
    found: dict[str, str] = {}
    for r in new_resources:
        own = new_engine[r["urn"]]
        if own in aliased:
            raise AliasError(f"resource with URN '{r['urn']}' is declared as '{own}', which resource with URN "
                             f"'{aliased[own]}' already claims through an alias: one of them must go")
        declared[own] = r["urn"]
        candidates = [own] + list((r.get("options") or {}).get("aliases") or [])
        parent = r.get("parent") or ""
        if parent in moved_to_old:
            candidates += [_inherited_alias(c, names.get(parent, parent.split("::")[-1]), moved_to_old[parent])
                           for c in candidates]
        for candidate in candidates:
            if candidate not in olds:
                continue
            if candidate != own:
                other = declared.get(candidate) or aliased.get(candidate)
                if other:
                    raise AliasError(f"Duplicate resource alias '{candidate}' applied to resource with URN "
                                     f"'{r['urn']}' conflicting with resource with URN '{other}'")
                aliased[candidate] = r["urn"]
                moved_to_old[r["urn"]] = candidate
            found[r["urn"]] = olds[candidate]
            break
    return found


def compare(old_doc: dict[str, Any], new_doc: dict[str, Any], against: str = "") -> Comparison:
    """What changes from the old plan to the new one, resource by resource (matched by URN or alias)."""
    olds = {r["urn"]: r for r in old_doc["resources"]}
    matched = match(old_doc["resources"], new_doc["resources"])
    after = release_after(new_doc["resources"])
    results = []
    for r in new_doc["resources"]:
        old_urn = matched.get(r["urn"])
        change = _compare_resource(olds[old_urn] if old_urn else None, r)
        change.moved_from = old_urn if old_urn and old_urn != r["urn"] else None
        change.after = after.get(r["urn"])
        results.append(change)
    taken = set(matched.values())
    results += [_compare_resource(r, None) for urn, r in olds.items() if urn not in taken]
    outputs = [PropertyChange(p, o, n) for p, o, n in walk(old_doc.get("outputs") or {}, new_doc.get("outputs") or {})]
    return Comparison(stack=new_doc["stack"], against=against, changes=[c for c in results if c.op != "same"],
                      meanings=[c for c in results if c.verdict.meaning], same=sum(c.op == "same" for c in results),
                      outputs=outputs, moves=[c for c in results if c.moved_from])


def release_after(resources: list[dict[str, Any]]) -> dict[str, str]:
    """Release resource URN -> the name of the release it depends on: with several regions, each region's release
    waits for the previous region's (a gate failing there stops the release before this region)."""
    releases = {r["urn"]: r.get("name") or r["urn"].split("::")[-1] for r in resources if r["type"] in RELEASE_TYPES}
    return {r["urn"]: releases[d] for r in resources if r["urn"] in releases
            for d in (r.get("dependencies") or []) if d in releases}


def label(inputs: Optional[dict[str, Any]], path: str) -> Optional[str]:
    """The name of the list entry a path runs through (an app setting's name), for readers of index paths."""
    value, found = inputs, None
    for token in tokens(path):
        if isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
            if isinstance(value, dict) and isinstance(value.get("name"), str):
                found = value["name"]
        elif isinstance(value, dict) and token in value:
            value = value[token]
        else:
            break
    return found
