"""README.zh-CN.md, the quickstart for readers of Microsoft's zh-CN article: what it names exists."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from offline.project import PROJECT_DIR
from settings.stack_settings import Settings

README_ZH = PROJECT_DIR / "README.zh-CN.md"
TEXT = README_ZH.read_text()


def test_the_readme_links_the_chinese_quickstart_at_its_top():
    top = (PROJECT_DIR / "README.md").read_text().split("\n## ", 1)[0]
    assert "README.zh-CN.md" in top


def test_every_make_target_it_names_exists():
    makefile = (PROJECT_DIR / "Makefile").read_text()
    targets = set(re.findall(r"\bmake (\w[\w-]*)", TEXT))
    assert {"demo", "test", "plans"} <= targets
    missing = [t for t in targets if not re.search(rf"^{re.escape(t)}:", makefile, flags=re.MULTILINE)]
    assert not missing


def test_every_config_key_it_names_is_a_key_of_the_stack():
    keys = {f.alias or name for name, f in Settings.model_fields.items()}
    named = set(re.findall(r"model-webapp:(\w+)", TEXT))
    assert {"image", "serverPort", "models", "workspace", "code"} <= named
    assert named <= keys, named - keys
    assert set(re.findall(r"azure-native:(\w+)", TEXT)) <= {"location", "environment"}


@pytest.mark.parametrize("module", ["offline.plan", "local.demo"])
def test_every_flag_it_passes_a_command_exists(module):
    flags = set(re.findall(rf"-m {re.escape(module)}\b[^\n]*?((?:--[\w-]+[^\n]*?)+)(?:#|$)", TEXT, flags=re.MULTILINE))
    named = {f for line in flags for f in re.findall(r"--[\w-]+", line)}
    assert named, f"the quickstart runs {module} with no flag"
    helped = subprocess.run([sys.executable, "-m", module, "--help"], cwd=PROJECT_DIR, capture_output=True,
                            text=True, timeout=120).stdout
    assert not [f for f in named if f not in helped]


def test_every_file_it_names_exists():
    paths = set(re.findall(r"\b((?:docs|model|examples|policies/config)/[\w./-]+\.(?:md|py|yaml|json))", TEXT))
    assert {"examples/china.yaml", "model/src/score.py", "docs/azure-facts.md"} <= paths
    assert not [p for p in paths if "mymodel" not in p and not (PROJECT_DIR / p).exists()]  # mymodel: the reader's
