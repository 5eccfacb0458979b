"""The pull request's summary: every stack planned at a base checkout and here, each diff as Markdown."""
from __future__ import annotations

import shutil
import sys

import yaml

from offline import base_diff
from offline.project import PROJECT_DIR

SKIP = shutil.ignore_patterns(".venv", "venv", ".git", "__pycache__", ".pytest_cache", "artifacts", "tests")


def base_checkout(tmp_path):
    """A copy of this checkout standing in for the base commit: dev ran 3 workers there, and prod did not exist yet."""
    base = tmp_path / "base"
    shutil.copytree(PROJECT_DIR, base, ignore=SKIP)
    stack = yaml.safe_load((base / "Pulumi.dev.yaml").read_text())
    stack["config"]["model-webapp:workerCount"] = 3
    (base / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    (base / "Pulumi.prod.yaml").unlink()
    shutil.copy(base / "Pulumi.dev.yaml", base / "Pulumi.old.yaml")
    return base


def test_summary_diffs_each_stack_against_the_base_checkouts_own_plan(tmp_path, capsys):
    base = base_checkout(tmp_path)
    code = base_diff.main(["--base-dir", str(base), "--base-python", sys.executable])
    out = capsys.readouterr().out
    assert code == 0
    dev = out[out.index("### Stack `dev`"):out.index("### Stack `prod`")]
    assert dev.startswith("### Stack `dev`: 1 to update")
    assert "`siteConfig.appSettings[3].value`" in dev and '"3" => "1"' in dev  # base's 3 workers, head's 1
    assert "Package image: no rebuild" in dev
    assert "`Pulumi.prod.yaml` is new in this pull request" in out
    prod = out[out.index("### Stack `prod`"):]
    assert prod.startswith("### Stack `prod`: ") and " to create" in prod.splitlines()[0]
    site_row = next(line for line in prod.splitlines() if line.startswith("| `+` create | `mw-prod-app` |"))
    assert site_row.endswith(" inputs |")  # a created resource's row counts its inputs instead of listing them
    assert "### Stack `old`: removed in this pull request" in out


def test_a_base_that_is_not_set_up_exits_2(tmp_path, capsys):
    code = base_diff.main(["--base-dir", str(tmp_path)])
    assert code == 2 and "make setup" in capsys.readouterr().err
