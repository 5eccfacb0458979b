"""The offline plan: the real stack program under Pulumi's mock engine, no network, no credentials.

    python -m offline.plan --stack dev [--format table|json]
    python -m offline.plan --config-file path/to/Pulumi.x.yaml
    python -m offline.plan --stack prod --against OLD.json [--format table|json|markdown]   (the diff: offline/diff.py)

Exit 0: clean plan; 1: a mandatory policy is violated; 2: the stack's settings or files are wrong.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path
from typing import Any, Optional

import pulumi

from .diff import AliasError, PlanFileError, compare, load_plan, release_after
from .diff_render import render_diff_markdown, render_diff_table
from .fake_azure import FakeAzure
from .mock_engine import ProgramRun, Registration, run_program
from .project import ACR_BUILD_TYPE, PACKAGE_TYPE, ROLLOUT_TYPE, SWAP_TYPE
from .policy_check import AppliedPolicyConfig, PolicyConfigError, applied_policy_config, evaluate
from .stack_config import StackFileError, load_stack_config

EXIT_CLEAN, EXIT_VIOLATION, EXIT_SETTINGS = 0, 1, 2
FAKE_NOTE = "offline plan: invoke answers and computed outputs are FAKE, made up by offline/fake_azure.py"


def plan_document(run: ProgramRun, violations: list[dict[str, Any]],
                  policy: Optional[AppliedPolicyConfig] = None) -> dict[str, Any]:
    return {
        "stack": run.stack,
        "note": FAKE_NOTE,
        "resources": [r.as_json() for r in run.registrations],
        "outputs": run.outputs,
        "invokes": run.invokes,
        # The file the violations were judged by; null: none existed, every rule was mandatory.
        "policyConfig": policy.shown_path if policy else None,
        "violations": violations,
    }


def _tree(registrations: list[Registration], stack_urn: str) -> list[tuple[int, bool, Registration]]:
    children: dict[str, list[Registration]] = {}
    for r in registrations:
        children.setdefault(r.parent or stack_urn, []).append(r)
    lines: list[tuple[int, bool, Registration]] = []

    def walk(urn: str, depth: int) -> None:
        kids = children.get(urn, [])
        for i, kid in enumerate(kids):
            lines.append((depth, i == len(kids) - 1, kid))
            walk(kid.urn, depth + 1)

    walk(stack_urn, 1)
    return lines


def _detail(r: Registration, after: Optional[str] = None) -> str:
    if r.type == PACKAGE_TYPE:
        s = r.state  # the fake image's facts, read back by the provider's own code (providers/registry_images.py)
        return (f"content hash {r.inputs.get('content_hash', '?')[:16]}; FAKE image: port {s.get('image_port')}, "
                f"runs {' '.join(s.get('image_entrypoint') or []) + ' ' if s.get('image_entrypoint') else ''}"
                f"{' '.join(s.get('image_cmd') or []) or '?'}, model in {s.get('image_model_dir')}, entry script "
                f"{s.get('image_entry_script')}")
    if r.type == ACR_BUILD_TYPE:
        s = r.state  # the fake image's facts, read back as for the package
        return (f"ACR Tasks build from {r.inputs.get('base_image', '?')}; tag {s.get('tag')}; FAKE image: port "
                f"{s.get('image_port')}, runs {' '.join(s.get('image_cmd') or []) or '?'}, model in "
                f"{s.get('image_model_dir')}")
    # With several regions each release waits for the previous region's: the plan says which.
    then = f"; after {after}" if after else ""
    if r.type == SWAP_TYPE:
        return f"swaps {r.inputs.get('slot_name')} into production when the image changes, after the health gate{then}"
    if r.type == ROLLOUT_TYPE:
        return f"restarts the site when its image changes and waits until the new container answers{then}"
    if r.read:
        return "read"
    return ""


def _violation_lines(violations: list[dict[str, Any]]) -> list[str]:
    return (["Policy violations:" if violations else "Policy violations: none"]
            + [f"    [{v['level']}] {v['rule']}: {v['resource']}: {v['message']}" for v in violations])


def render_table(doc: dict[str, Any], run: ProgramRun) -> str:
    stack_urn = f"urn:pulumi:{run.stack}::model-webapp::pulumi:pulumi:Stack::model-webapp-{run.stack}"
    rows = [("", "pulumi:pulumi:Stack", f"model-webapp-{run.stack}", " +  ", "")]
    open_levels: set[int] = set()
    after = release_after(doc["resources"])
    for depth, last, r in _tree(run.registrations, stack_urn):
        prefix = "".join("│  " if level in open_levels else "   " for level in range(1, depth))
        prefix += "└─ " if last else "├─ "
        (open_levels.discard if last else open_levels.add)(depth)
        rows.append((prefix, r.type, r.name, " >  " if r.read else " +  ", _detail(r, after.get(r.urn))))
    width = max(len(p) + len(t) for p, t, *_ in rows) + 4
    name_width = max(len(n) for _, _, n, *_ in rows) + 4
    out = [f"Previewing update ({run.stack}) offline: {FAKE_NOTE}", "",
           f"     {'Type'.ljust(width)}Name"]
    out += [f"{op} {(p + t).ljust(width)}{n.ljust(name_width)}{d}".rstrip() for p, t, n, op, d in rows]
    out += ["", "Outputs:"]
    out += [f"    {k}: {json.dumps(v)}" for k, v in doc["outputs"].items()]
    if doc["invokes"]:
        out += ["", "Fake invoke answers used:"]
        out += [f"    {i['token']}({json.dumps(i['args'])}) -> {json.dumps(i['answer'])}" for i in doc["invokes"]]
    out += ["", doc.get("policyNote", "")] + _violation_lines(doc["violations"])
    reads = sum(1 for r in run.registrations if r.read)
    out += ["", "Resources:", f"    + {len(rows) - reads} to create"] + ([f"    > {reads} to read"] if reads else [])
    return "\n".join(out)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.plan", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", help="stack name: reads Pulumi.yaml defaults plus Pulumi.STACK.yaml")
    parser.add_argument("--config-file", type=Path, help="a stack file to read instead of Pulumi.STACK.yaml")
    parser.add_argument("--policy-config", type=Path,
                        help="policy pack config (as for --policy-pack-config); default policies/config/STACK.json, "
                             "and without that file every rule is mandatory")
    parser.add_argument("--against", type=Path, metavar="OLD.json",
                        help="an earlier --format json plan of the same stack: show what changes from it")
    parser.add_argument("--format", choices=("table", "json", "markdown"), default="table",
                        help="markdown: the diff for a pull request's summary (needs --against)")
    args = parser.parse_args(argv)
    # What the imports made (pulumi-azure-native's modules above all) lives as long as the process: out of the
    # collector's sight, it is not scanned again at every full collection while the program's resources pile up.
    gc.freeze()
    try:
        if args.format == "markdown" and args.against is None:
            raise PlanFileError("--format markdown shows a diff: add --against OLD.json")
        old = load_plan(args.against) if args.against else None
        config = load_stack_config(args.stack, args.config_file)
        if old is not None and old["stack"] != config.stack:
            raise PlanFileError(f"{args.against} is a plan of stack {old['stack']!r}, not {config.stack!r}: "
                                f"compare plans of the same stack")
        policy = applied_policy_config(config.stack, args.policy_config)
        run = run_program(config.values, config.stack, FakeAzure(), list(config.secret_keys))
    except (PlanFileError, StackFileError, PolicyConfigError, pulumi.RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    violations = evaluate(run, policy.config)
    doc = plan_document(run, violations, policy)
    try:
        comparison = compare(old, doc, str(args.against)) if old is not None else None
    except AliasError as exc:  # the engine fails the preview on it: nothing to show but why
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    if args.format == "json":
        print(json.dumps({**doc, **comparison.as_json()} if comparison else doc, indent=2))
    elif args.format == "markdown":
        print(render_diff_markdown(comparison, violations))
    elif comparison:
        print("\n".join(render_diff_table(comparison) + ["", policy.describe()] + _violation_lines(violations)))
    else:
        print(render_table({**doc, "policyNote": policy.describe()}, run))
    mandatory = [v for v in violations if v.get("level") == "mandatory"]
    return EXIT_VIOLATION if mandatory else EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
