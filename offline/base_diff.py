"""Every stack planned at a base checkout and here, each stack's diff as Markdown: a pull request's job summary.

    python -m offline.base_diff --base-dir BASE [--base-python PYTHON] [--stack dev ...] >> "$GITHUB_STEP_SUMMARY"

The base's plans run in the base checkout with its own code and venv (BASE/.venv by default), as a new process; this
checkout's run here. No credentials anywhere: both are offline plans. Exit: the worst exit of this checkout's plans
(0 clean, 1 a mandatory policy violated, 2 settings or files wrong), so the job fails as `make plans` would.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from . import plan
from .project import PROJECT_DIR


def stacks_in(folder: Path) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in folder.glob("Pulumi.*.yaml"))


def base_plan(stack: str, base_dir: Path, python: Path) -> tuple[Optional[dict], str]:
    """The base checkout's JSON plan of a stack, or None and why not."""
    done = subprocess.run([str(python), "-m", "offline.plan", "--stack", stack, "--format", "json"], cwd=base_dir,
                          capture_output=True, text=True)
    if done.returncode in (plan.EXIT_CLEAN, plan.EXIT_VIOLATION):  # a violation still prints the whole plan
        try:
            return json.loads(done.stdout), ""
        except json.JSONDecodeError:
            pass
    lines = (done.stderr or done.stdout).strip().splitlines()
    return None, f"exit {done.returncode}: {lines[-1] if lines else 'no output'}"


def head_markdown(stack: str, against: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = plan.main(["--stack", stack, "--against", str(against), "--format", "markdown"])
    if code == plan.EXIT_SETTINGS:
        return code, f"### Stack `{stack}`: the plan fails\n\n```text\n{err.getvalue().strip()}\n```\n"
    return code, out.getvalue()


def summary(base_dir: Path, python: Path, stacks: Optional[list[str]] = None) -> tuple[int, str]:
    heads, bases = stacks_in(PROJECT_DIR), stacks_in(base_dir)
    worst, parts = plan.EXIT_CLEAN, ["## Offline plan: what this pull request changes, stack by stack", ""]
    with tempfile.TemporaryDirectory(prefix="base-plans-") as scratch:
        for stack in stacks or heads:
            against = Path(scratch) / f"{stack}.json"
            if stack not in bases:
                against.write_text(json.dumps({"stack": stack, "resources": [], "outputs": {}}))
                parts.append(f"_`Pulumi.{stack}.yaml` is new in this pull request: everything is created._\n")
            else:
                old, why = base_plan(stack, base_dir, python)
                if old is None:
                    parts.append(f"### Stack `{stack}`: no diff\n\nThe base commit's plan failed ({why}).\n")
                    worst = max(worst, head_exit(stack))
                    continue
                against.write_text(json.dumps(old))
            code, text = head_markdown(stack, against)
            worst = max(worst, code)
            parts.append(text)
    parts += [f"### Stack `{s}`: removed in this pull request\n\nIts stack file is gone; the deployed stack stays "
              f"until `pulumi destroy -s {s}` and `pulumi stack rm {s}`.\n" for s in bases if s not in heads
              and stacks is None]
    return worst, "\n".join(parts)


def head_exit(stack: str) -> int:
    """This checkout's plan alone, for its exit code, when there is nothing to compare it with."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return plan.main(["--stack", stack, "--format", "json"])


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.base_diff", description=__doc__.splitlines()[0])
    parser.add_argument("--base-dir", type=Path, required=True, help="a checkout of the base commit, set up")
    parser.add_argument("--base-python", type=Path, help="the base's interpreter (default BASE/.venv/bin/python)")
    parser.add_argument("--stack", action="append", help="only these stacks (default: every Pulumi.*.yaml here)")
    args = parser.parse_args(argv)
    python = args.base_python or args.base_dir / ".venv" / "bin" / "python"
    if not (args.base_dir / "Pulumi.yaml").is_file() or not python.exists():
        print(f"error: {args.base_dir} is not a checkout with a venv ({python}): check out the base commit there "
              f"and run `make setup` in it", file=sys.stderr)
        return plan.EXIT_SETTINGS
    code, text = summary(args.base_dir.resolve(), python.absolute(), args.stack)
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
