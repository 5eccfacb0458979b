"""The offline plan: JSON shape for both stacks, exit codes, secrets masked."""
from __future__ import annotations

import json

import pytest
import yaml

from offline import plan
from offline.fake_azure import FAKE_ADMIN_PASSWORD
from offline.mock_engine import SECRET
from offline.project import PROJECT_DIR

DEV_POLICY = str(PROJECT_DIR / "policies" / "config" / "dev.json")


def run_plan(capsys, *argv: str) -> tuple[int, str, str]:
    code = plan.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_json_plan_of_each_stack(capsys, stack):
    code, out, _ = run_plan(capsys, "--stack", stack, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) >= {"stack", "resources", "outputs", "violations"}
    assert doc["stack"] == stack
    for r in doc["resources"]:
        assert set(r) == {"urn", "type", "name", "parent", "inputs", "dependencies", "options"}
        assert set(r["options"]) >= {"protect", "ignoreChanges", "dependsOn", "deleteBeforeReplace", "replaceOnChanges",
                                     "additionalSecretOutputs", "retainOnDelete"}
    site = next(r for r in doc["resources"] if r["type"] == "azure-native:web:WebApp")
    assert site["inputs"]["siteConfig"]["minTlsVersion"] == "1.2"  # wire form: camelCase
    assert set(doc["outputs"]) >= {"scoring_uri", "app_name", "resource_group_name", "image", "staging_slot"}
    assert all(i["fake"] for i in doc["invokes"]) and "FAKE" in doc["note"]


def test_table_nests_resources_under_the_component(capsys):
    code, out, _ = run_plan(capsys, "--stack", "dev")
    assert code == 0
    lines = out.splitlines()
    component = next(i for i, line in enumerate(lines) if "model-webapp:index:ModelService" in line)
    site = next(i for i, line in enumerate(lines) if "azure-native:web:WebApp " in line)
    def depth(line: str) -> int:
        return line.index("─ ")  # column of the tree branch: deeper children start further right

    assert depth(lines[component]) < depth(lines[site])
    assert "FAKE" in out


def test_secret_config_and_admin_password_are_masked(capsys, tmp_path):
    stack = yaml.safe_load(open("Pulumi.dev.yaml"))
    stack["config"]["model-webapp:registryAccess"] = "adminCredentials"
    stack["config"]["model-webapp:tags"] = {"owner": "ml-platform"}
    stack["config"]["azure-native:clientSecret"] = {"secure": "v1:c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3Qtc2hvdw=="}
    path = tmp_path / "Pulumi.admin.yaml"
    path.write_text(yaml.safe_dump(stack))
    code, out, _ = run_plan(capsys, "--config-file", str(path), "--format", "json", "--policy-config", DEV_POLICY)
    assert code == 0
    assert FAKE_ADMIN_PASSWORD not in out
    assert "c2VjcmV0" not in out
    doc = json.loads(out)
    site = next(r for r in doc["resources"] if r["type"] == "azure-native:web:WebApp")
    settings = {s["name"]: s["value"] for s in site["inputs"]["siteConfig"]["appSettings"]}
    assert settings["DOCKER_REGISTRY_SERVER_PASSWORD"] == SECRET


def test_broken_stack_file_exits_2_without_traceback(capsys, tmp_path):
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text("config: [\n")
    code, out, err = run_plan(capsys, "--config-file", str(path))
    assert code == 2
    assert str(path) in err and "not valid YAML" in err
    assert "Traceback" not in err and out == ""


def test_bad_settings_exit_2_listing_every_problem(capsys, tmp_path):
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text("config:\n  model-webapp:sku: X9\n  model-webapp:registryAccess: ftp\n")
    code, _, err = run_plan(capsys, "--config-file", str(path))
    assert code == 2
    for key in ("model-webapp:sku", "model-webapp:registryAccess", "model-webapp:workspace", "model-webapp:model"):
        assert key in err
    assert "Traceback" not in err


def test_missing_stack_file_exits_2(capsys):
    code, _, err = run_plan(capsys, "--stack", "nosuchstack")
    assert code == 2 and "Pulumi.nosuchstack.yaml: no such file" in err


def test_a_typo_in_a_key_exits_2_naming_it(capsys, tmp_path):
    stack = yaml.safe_load(open("Pulumi.prod.yaml"))
    stack["config"]["model-webapp:autoscal"] = stack["config"].pop("model-webapp:autoscale")
    path = tmp_path / "Pulumi.typo.yaml"
    path.write_text(yaml.safe_dump(stack))
    code, out, err = run_plan(capsys, "--config-file", str(path))
    assert code == 2 and out == ""
    assert "model-webapp:autoscal = " in err and "did you mean autoscale?" in err and "Traceback" not in err


# -- which policy config judged the plan ------------------------------------------------------------------
def test_each_plan_names_the_policy_config_it_applied(capsys):
    code, out, _ = run_plan(capsys, "--stack", "prod", "--format", "json")
    assert code == 0 and json.loads(out)["policyConfig"] == "policies/config/prod.json"
    code, out, _ = run_plan(capsys, "--stack", "dev")
    assert code == 0 and "Policy config: policies/config/dev.json" in out.splitlines()


def test_a_policy_config_that_names_no_file_exits_2(capsys, tmp_path):
    missing = tmp_path / "prod-policy.json"  # a typo must never fall back to weaker defaults
    code, out, err = run_plan(capsys, "--stack", "prod", "--policy-config", str(missing))
    assert code == 2 and out == ""
    assert f"--policy-config {missing}: no such file" in err and "Traceback" not in err


def test_a_stack_without_a_policy_config_is_judged_with_every_rule_mandatory(capsys, tmp_path):
    stack = yaml.safe_load(open("Pulumi.dev.yaml"))
    path = tmp_path / "Pulumi.staging.yaml"  # a new stack: no policies/config/staging.json
    path.write_text(yaml.safe_dump(stack))
    code, out, _ = run_plan(capsys, "--config-file", str(path), "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["policyConfig"] is None
    assert doc["violations"] and {v["level"] for v in doc["violations"]} == {"mandatory"}
    assert "require-entra-auth" in {v["rule"] for v in doc["violations"]}  # disabled by the pack's default
    code, out, _ = run_plan(capsys, "--config-file", str(path))
    assert code == 1
    assert "Policy config: none for stack 'staging', so every rule is mandatory; create policies/config/staging.json " \
           "to relax rules" in out
    # The same stack judged by dev's file passes: the rules themselves did not change, only who chose the levels.
    code, out, _ = run_plan(capsys, "--config-file", str(path), "--policy-config", DEV_POLICY, "--format", "json")
    assert code == 0 and json.loads(out)["policyConfig"] == "policies/config/dev.json"
