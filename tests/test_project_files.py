"""The files generated from the settings model are current, and the stack files validate against their schema."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from settings import docs
from settings.stack_settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_generated_files_are_current():
    # Regenerate with: python -m settings.docs --write
    stale = [str(path) for path, text in docs.generated().items() if path.read_text() != text]
    assert stale == []


def test_pulumi_yaml_declares_every_scalar_key_with_the_models_default():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    fields = {f.alias or n: f for n, f in Settings.model_fields.items()}
    assert {"sku", "serverPort", "workerCount", "image"} <= set(project["config"])
    for key, spec in project["config"].items():
        default = fields[key].default
        assert spec["default"] == (getattr(default, "name", default) if default is not None else "")


def test_each_stack_file_points_editors_at_the_schema():
    for path in ROOT.glob("Pulumi.*.yaml"):
        assert path.read_text().splitlines()[0] == "# yaml-language-server: $schema=settings/stack-file.schema.json"


def check_jsonschema(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--schemafile",
                           str(ROOT / "settings" / "stack-file.schema.json"), *map(str, files)],
                          capture_output=True, text=True)


def test_both_stack_files_validate_against_the_schema():
    result = check_jsonschema(ROOT / "Pulumi.dev.yaml", ROOT / "Pulumi.prod.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("key, value, fragment", [
    ("model-webapp:autoscale", {"enabled": "yes"}, "autoscale"),            # wrong type
    ("model-webapp:autoscal", {"enabled": True}, "model-webapp:autoscal"),  # unknown key (a typo)
    ("model-webapp:serverPort", 80, "serverPort"),                          # out of range
    ("model-webapp:workspace", {"subscriptionId": "x", "resourceGroup": "rg", "name": "ws1", "extra": 1}, "workspace"),
])
def test_the_schema_refuses_what_the_settings_refuse(tmp_path, key, value, fragment):
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    stack["config"][key] = value
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(yaml.safe_dump(stack))
    result = check_jsonschema(path)
    assert result.returncode == 1 and fragment in result.stdout, result.stdout


def test_text_forms_of_numbers_are_accepted_as_pulumi_config_set_writes_them(tmp_path):
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    stack["config"].update({"model-webapp:serverPort": "8080", "model-webapp:image": {"secure": "v1:abc"}})
    path = tmp_path / "Pulumi.text.yaml"
    path.write_text(yaml.safe_dump(stack))
    assert check_jsonschema(path).returncode == 0


def test_readme_tells_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


# -- the rooms -------------------------------------------------------------------------------------
ROOMS = ("settings", "providers", "components", "policies", "offline", "local", "benchmarks")
# Each room may import only from the rooms listed before it here (the policy pack from none: own venv).
MAY_IMPORT = {"settings": set(), "providers": {"settings"}, "components": {"settings", "providers"}, "policies": set(),
              "offline": {"settings", "providers", "components", "policies"},
              "local": {"settings", "providers", "offline"}, "benchmarks": {"offline", "local"}}


def imported_rooms(room: str) -> set[str]:
    found = set()
    for path in (ROOT / room).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            found |= {n.split(".")[0] for n in names if n.split(".")[0] in ROOMS}
    return found - {room}


@pytest.mark.parametrize("room", ROOMS)
def test_rooms_import_only_the_rooms_below_them(room):
    assert imported_rooms(room) <= MAY_IMPORT[room]
    assert not (ROOT / "tools").exists()


def _requirement_names(path: Path) -> set[str]:
    lines = [line.split("==")[0].strip().lower() for line in path.read_text().splitlines()]
    return {line.replace("_", "-") for line in lines if line and not line.startswith(("#", "-r"))}


def _closure(names: set[str]) -> set[str]:
    """The distributions and everything they require, as installed here."""
    from importlib import metadata
    import re as _re

    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0].lower().replace("_", "-")
                 for r in requires if "extra ==" not in r]
    return seen


def test_what_the_deployed_program_imports_is_in_requirements_txt():
    """`pulumi up` installs requirements.txt only: every module the program's rooms import must come from it."""
    from importlib import metadata

    distributions = {k: [d.lower().replace("_", "-") for d in v] for k, v in metadata.packages_distributions().items()}
    available = _closure(_requirement_names(ROOT / "requirements.txt"))
    missing = set()
    for path in [ROOT / "__main__.py", *[p for room in ("settings", "providers", "components") for p in (ROOT / room).glob("*.py")]]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            for top in {n.split(".")[0] for n in names} - set(ROOMS) - set(sys.stdlib_module_names):
                if not set(distributions.get(top, [top])) & available:
                    missing.add(f"{path.relative_to(ROOT)}: {top}")
    assert missing == set()
