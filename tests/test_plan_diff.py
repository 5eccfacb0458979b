"""The offline diff (`python -m offline.plan --against OLD.json`): what changes between two plans of a stack, and why."""
from __future__ import annotations

import copy
import json
import shutil

import yaml

from offline import change_rules, plan
from offline.diff import compare, walk
from offline.fake_azure import FAKE_ADMIN_PASSWORD
from offline.mock_engine import SECRET
from offline.project import PACKAGE_TYPE, PROJECT_DIR, ROLLOUT_TYPE

WEB_APP = "azure-native:web:WebApp"


def run_plan(capsys, *argv: str) -> tuple[int, str, str]:
    code = plan.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def stack_file(tmp_path, name: str = "dev", **config) -> str:
    """Pulumi.<name>.yaml: the dev stack's file with model-webapp:<key> overrides (None removes a key)."""
    stack = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    for key, value in config.items():
        stack["config"].pop(f"model-webapp:{key}", None) if value is None else \
            stack["config"].__setitem__(f"model-webapp:{key}", value)
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(stack))
    return str(path)


def old_plan(capsys, tmp_path, config_file: str) -> str:
    code, out, _ = run_plan(capsys, "--config-file", config_file, "--format", "json")
    assert code == 0
    path = tmp_path / "old.json"
    path.write_text(out)
    return str(path)


def diff_json(capsys, config_file: str, old: str) -> dict:
    code, out, err = run_plan(capsys, "--config-file", config_file, "--against", old, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def change_of(doc: dict, typ: str) -> dict:
    (found,) = [c for c in doc["changes"] if c["type"] == typ]
    return found


def test_an_edit_to_the_entry_script_rebuilds_the_package_naming_content_hash(capsys, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(PROJECT_DIR / "model" / "src", source)
    shutil.copy(PROJECT_DIR / "model" / "sample-request.json", tmp_path)  # the smoke request beside the code
    config = stack_file(tmp_path, code={"sourceDir": str(source), "entryScript": "score.py",
                                        "environmentSpec": "model/environment.yml"})
    old = old_plan(capsys, tmp_path, config)
    with open(source / "score.py", "a") as script:
        script.write("\n# a comment is a change too: the image carries the file\n")
    doc = diff_json(capsys, config, old)
    package = change_of(doc, PACKAGE_TYPE)
    assert package["op"] == "replace" and package["replaceBecause"] == ["content_hash"]
    assert package["meaning"]["rebuild"] is True and package["meaning"]["because"] == ["content_hash"]
    assert [p["path"] for p in package["properties"]] == ["content_hash"]
    assert [m["rebuild"] for m in doc["meanings"] if m["type"] == PACKAGE_TYPE] == [True]
    assert [m["restart"] for m in doc["meanings"] if m["type"] == ROLLOUT_TYPE] == [True]  # a new image: in place
    code, out, _ = run_plan(capsys, "--config-file", config, "--against", old)
    assert code == 0
    assert "+-pulumi-python:dynamic/model-webapp:ModelPackage: (replace)" in out
    assert "REBUILD" in out and "because content_hash changed" in out


def test_a_worker_count_change_updates_the_app_settings_and_rebuilds_nothing(capsys, tmp_path):
    old = old_plan(capsys, tmp_path, stack_file(tmp_path))
    doc = diff_json(capsys, stack_file(tmp_path, workerCount=3), old)
    assert [c["type"] for c in doc["changes"]] == [WEB_APP]
    site = change_of(doc, WEB_APP)
    assert site["op"] == "update"
    assert site["properties"] == [{"path": "siteConfig.appSettings[3].value", "kind": "update", "replaces": False,
                                   "old": "1", "new": "3"}]
    (package,) = [r for r in doc["resources"] if r["type"] == PACKAGE_TYPE]
    assert doc["meanings"] == [{"urn": package["urn"],
                                "type": PACKAGE_TYPE, "op": "same", "text": "package image: no rebuild",
                                "rebuild": False, "because": []}]
    assert doc["changeSummary"]["update"] == 1 and doc["changeSummary"]["replace"] == 0
    code, out, _ = run_plan(capsys, "--config-file", stack_file(tmp_path, workerCount=3), "--against", old)
    assert '~ siteConfig.appSettings[3].value: "1" => "3"   (WORKER_COUNT)' in out
    assert "Package image: no rebuild" in out and "~ 1 to update" in out


def test_a_setting_that_adds_a_resource_is_a_create(capsys, tmp_path):
    old = old_plan(capsys, tmp_path, stack_file(tmp_path))
    auth = {"enabled": True, "tenantId": "11111111-1111-1111-1111-111111111111",
            "clientId": "22222222-2222-2222-2222-222222222222"}
    doc = diff_json(capsys, stack_file(tmp_path, auth=auth), old)
    created = change_of(doc, "azure-native:web:WebAppAuthSettingsV2")
    assert created["op"] == "create"
    paths = {p["path"]: p["new"] for p in created["properties"]}
    assert paths["globalValidation.unauthenticatedClientAction"] == "Return401"  # wire form, camelCase
    assert all(p["kind"] == "add" and "old" not in p for p in created["properties"])
    assert doc["changeSummary"]["create"] == 1


def test_identical_plans_have_no_changes(capsys, tmp_path):
    config = stack_file(tmp_path)
    old = old_plan(capsys, tmp_path, config)
    doc = diff_json(capsys, config, old)
    assert doc["changes"] == [] and doc["outputChanges"] == []
    assert doc["changeSummary"] == {"create": 0, "update": 0, "replace": 0, "delete": 0, "same": len(doc["resources"])}
    code, out, _ = run_plan(capsys, "--config-file", config, "--against", old, "--format", "markdown")
    assert code == 0 and out.startswith("### Stack `dev`: no changes")


def test_a_location_change_replaces_what_arm_cannot_move(capsys, tmp_path):
    old = old_plan(capsys, tmp_path, stack_file(tmp_path))
    doc = diff_json(capsys, stack_file(tmp_path, location="northeurope"), old)
    group = change_of(doc, "azure-native:resources:ResourceGroup")
    assert group["op"] == "replace" and group["replaceBecause"] == ["location"]
    assert group["properties"][0] == {"path": "location", "kind": "update", "replaces": True,
                                      "old": "westeurope", "new": "northeurope"}
    assert change_of(doc, WEB_APP)["op"] == "replace"  # it takes a location too


def test_a_removed_setting_deletes_its_resource(capsys, tmp_path):
    prod_like = stack_file(tmp_path, sku="S1", autoscale={"enabled": True, "minInstances": 1, "maxInstances": 2})
    old = old_plan(capsys, tmp_path, prod_like)
    doc = diff_json(capsys, stack_file(tmp_path, sku="S1"), old)
    deleted = change_of(doc, "azure-native:monitor:AutoscaleSetting")
    assert deleted["op"] == "delete" and all(p["kind"] == "delete" for p in deleted["properties"])
    assert doc["changes"][-1]["op"] == "delete"  # deletes come last, as the engine runs them


def test_secrets_stay_masked_in_the_diff(capsys, tmp_path):
    old = old_plan(capsys, tmp_path, stack_file(tmp_path))
    config = stack_file(tmp_path, registryAccess="adminCredentials")
    for fmt in ("json", "table", "markdown"):
        code, out, _ = run_plan(capsys, "--config-file", config, "--against", old, "--format", fmt)
        assert code == 0 and FAKE_ADMIN_PASSWORD not in out
    doc = diff_json(capsys, config, old)
    added = {p["path"]: p.get("new") for p in change_of(doc, WEB_APP)["properties"]}
    assert SECRET in added.values()
    # A value that turns secret shows neither side.
    assert list(walk({"k": "plain-before"}, {"k": SECRET})) == [("k", SECRET, SECRET)]


def test_a_file_that_is_not_a_plan_exits_2_with_a_clear_message(capsys, tmp_path):
    config = stack_file(tmp_path)
    cases = {"not-json.json": "{resources: [", "not-a-plan.json": json.dumps({"hello": "world"}),
             "bad-resource.json": json.dumps({"stack": "dev", "resources": [{"urn": 1}]})}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        code, out, err = run_plan(capsys, "--config-file", config, "--against", str(tmp_path / name))
        assert code == 2 and out == "", name
        assert str(tmp_path / name) in err and "offline.plan --stack STACK --format json" in err, err
        assert "Traceback" not in err
    code, _, err = run_plan(capsys, "--config-file", config, "--against", str(tmp_path / "missing.json"))
    assert code == 2 and "no such file" in err


def test_a_plan_of_another_stack_exits_2(capsys, tmp_path):
    old = old_plan(capsys, tmp_path, stack_file(tmp_path, name="dev"))
    code, _, err = run_plan(capsys, "--stack", "prod", "--against", old)
    assert code == 2 and "is a plan of stack 'dev', not 'prod'" in err


def test_markdown_needs_against(capsys):
    code, out, err = run_plan(capsys, "--stack", "dev", "--format", "markdown")
    assert code == 2 and out == "" and "--against" in err


def test_markdown_for_a_pull_request_summary(capsys, tmp_path):
    old = old_plan(capsys, tmp_path, stack_file(tmp_path))
    code, out, _ = run_plan(capsys, "--config-file", stack_file(tmp_path, workerCount=3), "--against", old,
                            "--format", "markdown")
    assert code == 0
    assert out.splitlines()[0] == "### Stack `dev`: 1 to update"
    assert "**Package image: no rebuild**" in out
    assert "| `~` update | `mw-dev-app` | `azure-native:web:WebApp` | `siteConfig.appSettings[3].value` |" in out
    assert "<details>" in out and "Policy violations: none" in out


# -- the rules, on plan entries made by hand -----------------------------------------------------------------------
def resource(urn: str, typ: str, inputs: dict, **options) -> dict:
    return {"urn": urn, "type": typ, "name": urn.split("::")[-1], "inputs": inputs, "options": options}


def doc(*resources) -> dict:
    return {"stack": "dev", "resources": list(resources), "outputs": {}}


def test_ignore_changes_keeps_the_old_value():
    site = resource("urn:a::site", WEB_APP, {"siteConfig": {"linuxFxVersion": "DOCKER|a", "alwaysOn": True}})
    changed = copy.deepcopy(site)
    changed["inputs"]["siteConfig"]["linuxFxVersion"] = "DOCKER|b"
    changed["options"]["ignoreChanges"] = ["siteConfig.linuxFxVersion"]
    comparison = compare(doc(site), doc(changed))
    assert comparison.changes == [] and comparison.same == 1
    changed["inputs"]["siteConfig"]["alwaysOn"] = False
    (site_change,) = compare(doc(site), doc(changed)).changes
    assert site_change.op == "update"
    assert [(p.path, p.ignored) for p in site_change.properties] == [("siteConfig.linuxFxVersion", True),
                                                                     ("siteConfig.alwaysOn", False)]


def test_an_input_in_the_arm_path_forces_a_replacement():
    before = resource("urn:a::site", WEB_APP, {"resourceGroupName": "rg-a", "httpsOnly": True})
    after = resource("urn:a::site", WEB_APP, {"resourceGroupName": "rg-b", "httpsOnly": True})
    (change,) = compare(doc(before), doc(after)).changes
    assert change.op == "replace" and change.verdict.replace_because == ("resourceGroupName",)
    assert change_rules.azure_path_inputs("azure-native:authorization:RoleAssignment") == {"roleAssignmentName", "scope"}


def test_replace_on_changes_option_is_honoured():
    before = resource("urn:a::plan", "azure-native:web:AppServicePlan", {"sku": {"name": "B1"}})
    after = resource("urn:a::plan", "azure-native:web:AppServicePlan", {"sku": {"name": "B2"}},
                     replaceOnChanges=["sku"])
    (change,) = compare(doc(before), doc(after)).changes
    assert change.op == "replace" and change.properties[0].replaces


def test_a_package_timeout_change_updates_in_place_without_a_rebuild():
    inputs = {"content_hash": "abc", "model_name": "m", "model_version": "1", "timeout_minutes": 60,
              "provider_version": "1", "__provider": "[the pickled dynamic provider]"}
    before = resource("urn:a::pkg", PACKAGE_TYPE, inputs)
    after = resource("urn:a::pkg", PACKAGE_TYPE, {**inputs, "timeout_minutes": 90})
    (change,) = compare(doc(before), doc(after)).changes
    assert change.op == "update" and change.verdict.facts == {"rebuild": False, "because": []}
    assert change.verdict.meaning == "package image: no rebuild; updated in place: timeout_minutes"
    unknown = resource("urn:a::pkg", PACKAGE_TYPE, {**inputs, "content_hash": "[unknown]"})
    (change,) = compare(doc(before), doc(unknown)).changes
    assert change.op == "replace" and change.verdict.facts["because"] == ["content_hash"]


def test_a_new_resource_type_plugs_in_its_own_meaning(monkeypatch):
    swap_type = "pulumi-python:dynamic/model-webapp:Example"

    def rule(old, new, changed):
        plain = change_rules.rule_for("unregistered:type:X")(old, new, changed)
        return change_rules.Verdict(plain.op, meaning=f"example: {'acts' if changed else 'nothing to do'}",
                                    facts={"acts": bool(changed)})

    monkeypatch.setitem(change_rules.RULES, swap_type, rule)
    before = resource("urn:a::x", swap_type, {"image": "a"})
    comparison = compare(doc(before), doc(resource("urn:a::x", swap_type, {"image": "b"})))
    assert comparison.as_json()["meanings"] == [{"urn": "urn:a::x", "type": swap_type, "op": "update",
                                                 "text": "example: acts", "acts": True}]
    assert compare(doc(before), doc(before)).as_json()["meanings"][0]["acts"] is False
