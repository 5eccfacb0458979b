"""The Makefile a newcomer reaches for: `make help` (and plain `make`) lists every target with one line each;
`make plans` plans every stack and names every failing one, not just the first."""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess

import pytest

from offline.project import PROJECT_DIR

MAKE = shutil.which("make")
MAKEFILE = PROJECT_DIR / "Makefile"
STAMP = ".venv/.installed"  # assumed up to date (-o): these tests never install anything


def make(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([MAKE, "-s", "-C", str(PROJECT_DIR), "-o", STAMP, *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def phony_targets() -> list[str]:
    line = next(line for line in MAKEFILE.read_text().splitlines() if line.startswith(".PHONY:"))
    return line.split(":", 1)[1].split()


@pytest.fixture(scope="module", autouse=True)
def needs_make():
    assert MAKE, "make is not on the PATH: install GNU make"


def test_help_lists_every_target_once_with_one_line_demo_and_test_first():
    done = make("help")
    assert done.returncode == 0, done.stderr
    rows = [re.match(r"^  make (\S+) +(\S.*)$", line) for line in done.stdout.splitlines()]
    assert all(rows), done.stdout
    listed = [row.group(1) for row in rows]
    assert listed[:2] == ["demo", "test"]
    assert sorted(listed) == sorted(phony_targets())
    assert all(len(row.group(2)) > 5 for row in rows)


def test_plain_make_prints_the_help_and_installs_nothing():
    plain, helped = make(), make("help")
    assert plain.returncode == 0 and plain.stdout == helped.stdout
    dry = subprocess.run([MAKE, "-n", "-C", str(PROJECT_DIR)], capture_output=True, text=True, timeout=60)
    assert "pip install" not in dry.stdout and "venv" not in dry.stdout


@pytest.fixture
def fake_python(tmp_path):
    """Stands in for .venv/bin/python: the plan of stack `a` exits 1, `c` and any bad.yaml exit 2, any other 0;
    each call logged."""
    log = tmp_path / "calls.log"
    script = tmp_path / "python"
    script.write_text(f"""#!/bin/sh
echo "$*" >> {log}
case "$*" in
  *"--stack a") echo "a: a mandatory policy is violated"; exit 1 ;;
  *"--stack c") echo "error: stack c has 1 configuration problem(s)" >&2; exit 2 ;;
  *"bad.yaml") echo "error: stack bad has 1 configuration problem(s)" >&2; exit 2 ;;
esac
echo "plan of $*"
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, log


def test_plans_plans_every_stack_and_names_each_failure_with_its_exit_code(fake_python):
    script, log = fake_python
    done = make("plans", f"PY={script}", "STACKS=a b c d")
    assert done.returncode != 0
    assert log.read_text().splitlines() == [f"-m offline.plan --stack {s}" for s in "abcd"]  # went on after a
    assert "make plans: failed: a (exit 1) c (exit 2)" in done.stderr
    assert "plan of -m offline.plan --stack d" in done.stdout


def test_plans_succeeds_when_every_stack_does(fake_python):
    script, log = fake_python
    done = make("plans", f"PY={script}", "STACKS=b d")
    assert done.returncode == 0, done.stderr
    assert "failed" not in done.stderr and len(log.read_text().splitlines()) == 2


def test_plans_covers_every_stack_file():
    dry = make("-n", "plans")
    assert dry.returncode == 0, dry.stderr
    stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in PROJECT_DIR.glob("Pulumi.*.yaml"))
    assert stacks and re.search(r"for stack in " + " ".join(stacks) + r";", dry.stdout)


def test_plans_plans_the_examples_by_their_files():
    dry = make("-n", "plans")
    assert dry.returncode == 0, dry.stderr
    assert re.search(r"for file in (examples/\S+\.yaml )*examples/fleet\.yaml( examples/\S+\.yaml)*;", dry.stdout)
    assert "-m offline.plan --config-file $file" in dry.stdout


def test_plans_names_a_failing_example_with_the_failing_stacks(fake_python):
    script, log = fake_python
    done = make("plans", f"PY={script}", "STACKS=a b", "EXAMPLES=examples/bad.yaml examples/good.yaml")
    assert done.returncode != 0
    assert log.read_text().splitlines() == ["-m offline.plan --stack a", "-m offline.plan --stack b",
                                            "-m offline.plan --config-file examples/bad.yaml",
                                            "-m offline.plan --config-file examples/good.yaml"]
    assert "make plans: failed: a (exit 1) examples/bad.yaml (exit 2)" in done.stderr
