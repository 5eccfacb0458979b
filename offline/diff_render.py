"""The offline diff for people: a text view that reads like `pulumi preview --diff`, and Markdown for a PR summary."""
from __future__ import annotations

import json
from typing import Any, Optional

from .diff import Comparison, PropertyChange, ResourceChange, label

SYMBOL = {"create": "+ ", "update": "~ ", "replace": "+-", "delete": "- ", "same": "  "}
PHRASE = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete"}


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def property_line(p: PropertyChange, names: Optional[dict[str, Any]] = None) -> str:
    if p.kind == "add":
        text = f"+ {p.path}: {_value(p.new)}"
    elif p.kind == "delete":
        text = f"- {p.path}: {_value(p.old)}"
    else:
        text = f"~ {p.path}: {_value(p.old)} => {_value(p.new)}"
    notes = [n for n in (label(names, p.path), "forces replacement" if p.replaces else None,
                         "ignored: ignoreChanges" if p.ignored else None) if n]
    return text + (f"   ({'; '.join(notes)})" if notes else "")


def resource_block(change: ResourceChange) -> list[str]:
    lines = [f"    {SYMBOL[change.op]}{change.type}: ({change.op})", f"        [urn={change.urn}]"]
    if change.moved_from:
        lines.append(f"        (moved from {change.moved_from})")
    lines += [f"      {property_line(p, change.label_source)}" for p in change.properties]
    if change.verdict.meaning:
        lines.append(f"        => {change.verdict.meaning}")
    return lines


def summary_lines(comparison: Comparison) -> list[str]:
    counts = comparison.counts()
    lines = ["Resources:"] + [f"    {SYMBOL[op]}{counts[op]} {PHRASE[op]}" for op in PHRASE if counts[op]]
    changed = len(comparison.changes)
    lines.append(f"    {changed} change{'s' if changed != 1 else ''}. {counts['same']} unchanged" if changed
                 else f"    no changes. {counts['same']} unchanged")
    if comparison.moves:  # counted above by what happens to them; this says how many kept their state by an alias
        still = sum(1 for m in comparison.moves if m.op == "same")
        lines.append(f"    {len(comparison.moves)} moved through aliases ({still} of them unchanged)")
    return lines


def moved_unchanged_lines(comparison: Comparison) -> list[str]:
    """Moves with nothing else to show: `pulumi preview` lists them as same; a reader of an upgrade wants them."""
    return [line for m in comparison.moves if m.op == "same" for line in
            (f"    {SYMBOL['same']}{m.type}: (same)", f"        [urn={m.urn}]", f"        (moved from {m.moved_from})")]


def render_diff_table(comparison: Comparison) -> list[str]:
    """The diff as `pulumi preview --diff` lays it out: each changing resource, its changed paths, then counts."""
    stack = comparison.stack
    out = [f"Previewing update ({stack}) offline, against {comparison.against}:", "",
           "  pulumi:pulumi:Stack: (same)", f"    [urn=urn:pulumi:{stack}::model-webapp::pulumi:pulumi:Stack::model-webapp-{stack}]"]
    for change in comparison.changes:
        out += resource_block(change)
    out += moved_unchanged_lines(comparison)
    if comparison.outputs:
        out += ["", "Outputs:"] + [f"  {property_line(p)}" for p in comparison.outputs]
    if comparison.meanings:
        out += [""] + _meaning_lines(comparison)
    out += [""] + summary_lines(comparison)
    return out


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _meaning_lines(comparison: Comparison) -> list[str]:
    """What each package and release will do; with several of a kind (a stack of several models), which one."""
    kinds = [m.type for m in comparison.meanings]
    return [(f"{m.name}: {m.verdict.meaning}" if kinds.count(m.type) > 1 else _sentence(m.verdict.meaning))
            + (f" (once {m.after} has passed its gate)" if m.after else "") for m in comparison.meanings]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_diff_markdown(comparison: Comparison, violations: list[dict[str, Any]]) -> str:
    """One stack's diff for $GITHUB_STEP_SUMMARY: headline, a table of what changes, the full diff folded."""
    counts = comparison.counts()
    parts = [f"{counts[op]} {PHRASE[op]}" for op in PHRASE if counts[op]] or ["no changes"]
    meanings = "; ".join(_meaning_lines(comparison))
    out = [f"### Stack `{comparison.stack}`: {', '.join(parts)}", ""]
    if meanings:
        out += [f"**{_cell(meanings)}**", ""]
    if comparison.moves:
        still = sum(1 for m in comparison.moves if m.op == "same")
        out += [f"{len(comparison.moves)} resources moved to new URNs through aliases, keeping their state "
                f"({still} of them otherwise unchanged).", ""]
    if comparison.changes:
        out += ["| | Resource | Type | Changed inputs |", "|---|---|---|---|"]
        for c in comparison.changes:
            if c.op in ("create", "delete"):  # every input is new or gone: the count says enough here
                paths = f"{len(c.properties)} inputs"
            else:
                paths = ", ".join(f"`{p.path}`" + (" (replaces)" if p.replaces else "") for p in c.properties
                                  if not p.ignored) or "-"
            moved = f" (moved from `{c.moved_from}`)" if c.moved_from else ""
            out.append(f"| `{SYMBOL[c.op].strip()}` {c.op} | `{c.name}`{_cell(moved)} | `{c.type}` | {_cell(paths)} |")
        out += ["", "<details><summary>Diff, as <code>pulumi preview --diff</code> shows it</summary>", "", "```text"]
        out += render_diff_table(comparison)
        out += ["```", "", "</details>", ""]
    mandatory = [v for v in violations if v.get("level") == "mandatory"]
    if violations:
        out.append(f"Policy violations: {len(violations)} ({len(mandatory)} mandatory)")
        out += [f"- [{v['level']}] `{v['rule']}`: {_cell(v['resource'])}: {_cell(v['message'])}" for v in violations]
    else:
        out.append("Policy violations: none")
    out += ["", "_Offline plan against the base commit's plan: invoke answers and computed outputs are fake; "
                "`pulumi preview` in the PR check has the last word._", ""]
    return "\n".join(out)
