"""Pulumi.yaml and the README agree with the settings code on every scalar key."""
from __future__ import annotations

from pathlib import Path

import yaml

from settings.config_schema import SCALAR_KEYS
from settings.docs import config_table

ROOT = Path(__file__).resolve().parent.parent


def test_pulumi_yaml_declares_every_scalar_key():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "model-webapp"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    declared = project["config"]
    assert list(declared) == [k.name for k in SCALAR_KEYS]
    for key in SCALAR_KEYS:
        assert declared[key.name] == {"type": key.type, "default": key.default, "description": key.description}


def test_readme_config_table_is_the_generated_one():
    # Regenerate with: python -m settings.docs
    assert config_table() in (ROOT / "README.md").read_text()


def test_readme_tells_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
