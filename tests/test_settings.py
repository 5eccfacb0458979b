"""Stack settings: every bad value named, all of them at once, before any resource is declared."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pulumi
import pydantic
import pytest
import yaml

from offline import plan
from offline.mock_engine import run_program, start_mocks
from offline.project import PACKAGE_TYPE
from offline.stack_config import load_stack_config
from settings.stack_settings import NAMESPACE, PROJECT_DIR, Settings
from tests.helpers import problems_of, settings_of, stack_values

SECOND = PROJECT_DIR / "tests" / "fixtures" / "second-model"
EXAMPLE_ROWS = json.loads((PROJECT_DIR / "model" / "sample-request.json").read_text())["data"]



def test_dev_and_prod_settings():
    dev, prod = settings_of("dev"), settings_of("prod")
    assert (dev.sku.name, dev.sku.tier, dev.worker_count, dev.instance_count) == ("B1", "Basic", 1, 1)
    assert (prod.sku.name, prod.sku.tier, prod.worker_count, prod.instance_count) == ("P1v3", "PremiumV3", 2, 2)
    assert dev.uses_managed_identity and prod.uses_managed_identity
    assert prod.auth.enabled and prod.autoscale.enabled and not dev.auth.enabled
    assert dev.server_port == 5001
    assert dev.tags["environment"] == "dev"


def test_settings_are_immutable():
    s = settings_of("dev")
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        s.sku = None  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.tags["environment"] = "prod"  # type: ignore[index]


@pytest.mark.parametrize("overrides, key, fragment", [
    (dict(sku="X9"), "sku", "is not an App Service Linux SKU; Linux SKUs: F1, B1,"),
    (dict(sku="P1V3"), "sku", "is not an App Service Linux SKU; did you mean P1v3?"),
    (dict(location="westeruope"), "location", "is not an Azure region name; did you mean westeurope?"),
    (dict(location="mars"), "location", "settings/regions.py"),
    (dict(sshEnabled="yes"), "sshEnabled", "must be true or false"),
    (dict(sshEnabled="True"), "sshEnabled", "must be true or false"),
    (dict(monitoring={"logResponses": "1"}), "monitoring.logResponses", "must be true or false"),
    (dict(code={"environmentSpec": "model/env.toml"}), "code.environmentSpec", "conda file (.yml or .yaml), a pip "
     "requirements file (.txt), or an environment asset"),
    (dict(code={"environmentSpec": "azureml:env"}), "code.environmentSpec", "azureml:<name>:<version>"),
    (dict(modelMountMode="download"), "modelMountMode", "download packages only run on Azure ML endpoints"),
    (dict(auth={"enabled": True, "tenantId": "11111111-1111-1111-1111-111111111111",
                "clientId": "22222222-2222-2222-2222-222222222222", "allowedClientApplications": ["my-client"]}),
     "auth.allowedClientApplications.0", "GUID"),
    (dict(auth={"allowedClientApplications": ["33333333-3333-3333-3333-333333333333"]}),
     "auth.allowedClientApplications", "has no effect while auth.enabled is false"),
    (dict(auth={"enabled": True, "tenantId": "11111111-1111-1111-1111-111111111111",
                "clientId": "22222222-2222-2222-2222-222222222222",
                "allowedPrincipals": [f"{i:08d}-0000-0000-0000-000000000000" for i in range(14)]}),
     "auth.allowedPrincipals", "at most 500 characters"),
    (dict(sku="B1", autoscale={"enabled": True, "minInstances": 1, "maxInstances": 2}), "autoscale.enabled", "Basic"),
    (dict(sku="S1", autoscale={"enabled": True, "minInstances": 4, "maxInstances": 2}), "autoscale.minInstances",
     "must not exceed"),
    (dict(sku="S1", autoscale={"enabled": True, "scaleOutCpuPercent": 30, "scaleInCpuPercent": 50}),
     "autoscale.scaleInCpuPercent", "below"),
    (dict(sku="S1", autoscale={"enabled": True, "maxInstances": 11}), "autoscale.maxInstances", "from 1 to 10"),
    (dict(image="mlwmodelsregistry.azurecr.io/package:latest"), "image", "pinned by digest"),
    (dict(image="mlwmodelsregistry.azurecr.io/package@sha256:20190827151241"), "image", "64 hex"),
    (dict(image="docker.io/library/python@sha256:" + "a" * 64), "image", "azurecr.io"),
    (dict(model={"name": "diabetes-ridge"}), "model.version", "is not set"),
    (dict(model={"name": "diabetes-ridge", "version": "latest"}), "model.version", "not a label"),
    (dict(model=None), "model", "is not set"),
    (dict(workspace={"subscriptionId": "not-a-guid", "resourceGroup": "rg", "name": "ws1"}),
     "workspace.subscriptionId", "GUID"),
    (dict(auth={"enabled": True, "tenantId": "11111111-1111-1111-1111-111111111111"}), "auth.clientId",
     "is not set"),
    (dict(registryAccess="password"), "registryAccess", "managedIdentity, adminCredentials"),
    (dict(serverPort="80"), "serverPort", "from 1024 to 65535"),
    (dict(workerCount="many"), "workerCount", "whole number"),
    (dict(containerStartTimeLimit="5000"), "containerStartTimeLimit", "from 60 to 1800"),
    (dict(namePrefix="Model_App"), "namePrefix", "lowercase"),
    (dict(autoscale={"enabled": "yes"}), "autoscale.enabled", "true or false"),
    (dict(autoscale={"enabeld": True}), "autoscale.enabeld", "unknown key"),
    (dict(tags={"owner": {"nested": 1}}), "tags.owner", "text value"),
])
def test_each_bad_value_names_its_key(overrides, key, fragment):
    message = problems_of("dev", **overrides)
    line = next((line for line in message.splitlines() if f"{NAMESPACE}:{key} " in line), None)
    assert line is not None, message
    assert fragment in line


def test_every_problem_is_reported_at_once():
    message = problems_of("dev", sku="X9", image="a.azurecr.io/b:latest", registryAccess="ftp",
                          model={"name": "m"}, auth={"enabled": True})
    for key in ("sku", "image", "registryAccess", "model.version", "auth.tenantId", "auth.clientId"):
        assert f"{NAMESPACE}:{key} " in message
    assert "6 configuration problem(s)" in message
    assert "Traceback" not in message


def test_bad_value_is_shown_so_the_user_can_find_it():
    assert "'X9'" in problems_of("dev", sku="X9")


def test_building_needs_the_inference_code_on_disk(tmp_path):
    message = problems_of("dev", image=None, code={"sourceDir": "no-such-dir"})
    assert f"{NAMESPACE}:code.sourceDir = 'no-such-dir': no such folder" in message


def test_worker_count_can_be_set_explicitly():
    assert settings_of("prod", workerCount="3").worker_count == 3


def test_an_unknown_sku_is_reported_once_not_judged_as_another_sku():
    message = problems_of("prod", sku="P9v9")
    assert "model-webapp:sku = 'P9v9'" in message
    assert "1 configuration problem(s)" in message


def test_an_unknown_top_level_key_is_refused_naming_the_nearest_known_one():
    message = problems_of("prod", autoscal={"enabled": True})
    assert f"{NAMESPACE}:autoscal = " in message and "unknown key; did you mean autoscale?" in message


def test_an_unknown_key_with_no_near_match_lists_the_known_keys():
    message = problems_of("dev", zzz="1")
    assert f"{NAMESPACE}:zzz = '1': unknown key; known keys: location, regions, namePrefix, sku" in message


def test_our_own_words_reach_the_user_not_pydantics():
    message = problems_of("dev", sku="X9", serverPort="eighty", autoscale={"enabled": "yes", "minInstances": 0},
                          auth={"enabled": True, "allowedAudiences": []}, tags=["a"], code="model/src",
                          serverEnvironment={"bad-name": "1"}, modelMountMode="stream")
    for pydantic_words in ("Input should", "pydantic", "type=", "For further information", "Value error", "[key]"):
        assert pydantic_words not in message
    for line in ("sku = 'X9': is not an App Service Linux SKU; Linux SKUs: F1,", "serverPort = 'eighty': must be a whole number from 1024 to 65535",
                 "autoscale.enabled = 'yes': must be true or false", "autoscale.minInstances = 0: must be from 1 to 30",
                 "auth.allowedAudiences = []: must not be empty", "tags = [\"a\"]: must be an object of names",
                 "code = 'model/src': must be an object", "serverEnvironment.bad-name = 'bad-name': is not an "
                 "environment variable name", "modelMountMode = 'stream': must be copy"):
        assert f"{NAMESPACE}:{line}" in message, line


def test_settings_come_from_the_model_defaults_when_keys_are_absent():
    s = settings_of("dev", location=None, namePrefix=None, serverPort=None)
    assert (s.location, s.name_prefix, s.server_port, s.code.entry_script) == ("westeurope", "mw", 5001, "score.py")


# -- what Azure offers and what a package can serve ---------------------------------------------------------
@pytest.mark.parametrize("name, tier, vcpus, memory", [
    ("P1mv3", "PremiumMV3", 2, 16), ("P5mv3", "PremiumMV3", 32, 256), ("P0v4", "PremiumV4", 1, 4),
    ("P3v4", "PremiumV4", 8, 32), ("P1mv4", "PremiumMV4", 2, 16), ("P5mv4", "PremiumMV4", 32, 256),
])
def test_the_memory_optimised_and_v4_skus_are_accepted_with_their_shape(name, tier, vcpus, memory):
    s = settings_of("prod", sku=name)
    assert (s.sku.tier, s.sku.vcpus, s.sku.memory_gib, s.worker_count) == (tier, vcpus, memory, vcpus)
    assert s.sku.supports_autoscale and s.sku.supports_slots and s.uses_slot and s.sku.max_instances == 30


def test_flags_take_true_and_false_as_pulumi_writes_them():
    assert settings_of("dev", sshEnabled="true").ssh_enabled is True
    assert settings_of("dev", sshEnabled="false").ssh_enabled is False


def test_a_region_may_be_written_as_azure_displays_it():
    assert settings_of("dev", location="West Europe").location == "West Europe"
    assert settings_of("dev", location="swedencentral").location == "swedencentral"


def test_packages_are_built_in_copy_mode_by_default():
    assert settings_of("dev", modelMountMode=None).model_mount_mode == "copy"


def test_eight_mistakes_in_one_file_including_a_missing_folder_are_listed_in_one_message():
    message = problems_of("dev", sku="P1V3", location="westeruope", sshEnabled="yes", modelMountMode="download",
                          code={"sourceDir": "no-such-dir", "environmentSpec": "model/env.toml"},
                          auth={"allowedClientApplications": ["not-a-guid"]}, autoscale={"enabled": "yes"})
    assert "8 configuration problem(s)" in message, message
    for key in ("sku", "location", "sshEnabled", "modelMountMode", "code.sourceDir", "code.environmentSpec",
                "auth.allowedClientApplications.0", "autoscale.enabled"):
        assert f"{NAMESPACE}:{key} " in message, key
    assert f"{NAMESPACE}:code.sourceDir = 'no-such-dir': no such folder" in message


# -- the smoke request belongs to the model -----------------------------------------------------------------
def test_the_smoke_request_defaults_to_the_file_beside_the_code_folder():
    for stack in ("dev", "prod"):  # in place (dev) and through the slot (prod): every stack sends it
        s = settings_of(stack)
        assert s.smoke_request_path == (PROJECT_DIR / "model" / "sample-request.json").resolve()
        assert s.smoke_rows == EXAMPLE_ROWS


def test_a_stack_that_builds_its_code_without_a_smoke_request_is_told_which_file_to_create(tmp_path):
    code = tmp_path / "my-model"
    shutil.copytree(PROJECT_DIR / "model" / "src", code / "src")
    message = problems_of("dev", code={"sourceDir": str(code / "src"), "entryScript": "score.py",
                                       "environmentSpec": "model/environment.yml"})
    assert "1 configuration problem(s)" in message
    assert (f"{NAMESPACE}:release.smokeRequest is not set: no smoke request for this stack's code: create "
            f"{(code / 'sample-request.json').as_posix()}") in message
    assert 'or set it to "" to send none' in message


def test_an_empty_smoke_request_sends_none_and_an_image_stack_needs_none(tmp_path):
    s = settings_of("dev", release={"smokeRequest": ""})
    assert s.smoke_rows is None and s.smoke_request_path is None
    image = "mlwmodelsregistry.azurecr.io/package@sha256:" + "a" * 64
    s = settings_of("dev", image=image, code={"sourceDir": str(tmp_path / "src")})  # no code, no request: none
    assert s.smoke_rows is None and s.smoke_request_path is None


def test_a_named_smoke_request_must_exist_whatever_the_stack(tmp_path):
    image = "mlwmodelsregistry.azurecr.io/package@sha256:" + "a" * 64
    message = problems_of("dev", image=image, release={"smokeRequest": "nope.json"})
    assert f"{NAMESPACE}:release.smokeRequest = 'nope.json': no such file" in message
    bad = tmp_path / "sample-request.json"
    bad.write_text('{"data": [1, 2]}')
    message = problems_of("dev", release={"smokeRequest": str(bad)})
    assert "must be a JSON file" in message


# -- a second model: another folder, entry script, pip environment and request size -----------------------------
def test_the_second_models_settings_are_its_own():
    config = load_stack_config(config_file=SECOND / "Pulumi.second.yaml")
    start_mocks(config.values, config.stack)
    s = Settings.from_config(pulumi.Config(NAMESPACE), stack=config.stack)
    assert (s.model.name, s.model.version, s.code.entry_script) == ("churn-linear", "3", "predict.py")
    assert s.code.environment_file == Path("tests/fixtures/second-model/requirements.txt")
    assert s.smoke_request_path == (SECOND / "sample-request.json").resolve()
    assert [len(row) for row in s.smoke_rows] == [4, 4, 4] and s.smoke_rows != EXAMPLE_ROWS


def test_the_second_model_plans_with_its_own_smoke_request(capsys):
    code = plan.main(["--config-file", str(SECOND / "Pulumi.second.yaml"), "--policy-config",
                      str(PROJECT_DIR / "policies" / "config" / "dev.json"), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    rows = json.loads((SECOND / "sample-request.json").read_text())["data"]
    package = next(r for r in doc["resources"] if r["type"] == PACKAGE_TYPE)
    assert (package["inputs"]["model_name"], package["inputs"]["entry_script"], package["inputs"]["model_mount_mode"]) \
        == ("churn-linear", "predict.py", "copy")
    carried = [r["inputs"]["smoke_rows"] for r in doc["resources"] if "smoke_rows" in r["inputs"]]
    assert carried == [rows]  # S1: the slot's gate, and nothing else sends the example's request


def test_the_second_model_in_place_sends_its_own_request_too():
    config = load_stack_config(config_file=SECOND / "Pulumi.second.yaml")
    values = {**config.values, f"{NAMESPACE}:release": json.dumps({"strategy": "inPlace"})}
    run = run_program(values, config.stack)
    rows = json.loads((SECOND / "sample-request.json").read_text())["data"]
    assert [r.inputs["smoke_rows"] for r in run.registrations if "smoke_rows" in r.inputs] == [rows]


def test_the_second_model_without_a_smoke_request_is_a_settings_error_naming_the_file(tmp_path, capsys):
    model = tmp_path / "second-model"
    shutil.copytree(SECOND, model, ignore=shutil.ignore_patterns("sample-request.json", "__pycache__"))
    stack = yaml.safe_load((SECOND / "Pulumi.second.yaml").read_text())
    stack["config"]["model-webapp:code"] = {"sourceDir": str(model / "src"), "entryScript": "predict.py",
                                            "environmentSpec": str(model / "requirements.txt")}
    path = tmp_path / "Pulumi.second.yaml"
    path.write_text(yaml.safe_dump(stack))
    assert plan.main(["--config-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"release.smokeRequest is not set: no smoke request for this stack's code: create " \
           f"{(model / 'sample-request.json').as_posix()}" in err
    assert "model/sample-request.json" not in err.replace((model / "sample-request.json").as_posix(), "")


# -- several models: models.<service> -------------------------------------------------------------------------------
CHURN = {"model": {"name": "churn-linear", "version": "3"},
          "code": {"sourceDir": "tests/fixtures/second-model/src", "entryScript": "predict.py",
                   "environmentSpec": "tests/fixtures/second-model/requirements.txt"}}
DIABETES = {"model": {"name": "diabetes-ridge", "version": "1"}}


def fleet(**models) -> dict:
    return dict(model=None, code=None, models=models)


def test_each_service_is_a_one_model_view_with_the_shared_keys():
    settings = settings_of("prod", promoteFrom=None, auth=None, **fleet(diabetes=DIABETES, churn=CHURN))
    diabetes, churn = settings.services
    assert (diabetes.service, churn.service) == ("diabetes", "churn")
    assert (diabetes.resource_name(), churn.resource_name()) == ("mw-prod-diabetes", "mw-prod-churn")
    assert churn.code.entry_script == "predict.py" and churn.model.version == "3"
    assert churn.smoke_rows != diabetes.smoke_rows and len(churn.smoke_rows[0]) == 4  # each its own request
    assert {s.sku.name for s in settings.services} == {"P1v3"} and all(s.autoscale.enabled for s in settings.services)
    assert [s.worker_count for s in settings.services] == [1, 1]  # P1v3's 2 vCPUs shared by two models
    dev = settings_of("dev")
    assert dev.services == (dev,) and dev.service is None and dev.resource_name() == "mw-dev"


def test_a_services_own_worker_count_is_kept():
    settings = settings_of("prod", promoteFrom=None, auth=None,
                           **fleet(diabetes={**DIABETES, "workerCount": 5}, churn=CHURN))
    assert [s.worker_count for s in settings.services] == [5, 1]


def test_both_forms_at_once_are_refused_naming_each_key_to_move():
    text = problems_of("dev", models={"diabetes": DIABETES})
    assert "model-webapp:model" in text and "is a key of one model" in text
    assert "model-webapp:code" in text  # dev's stack file sets code too


@pytest.mark.parametrize("models, key, fragment", [
    ({"Diabetes": DIABETES}, "models.Diabetes", "must be a service name"),
    ({"a" * 50: DIABETES}, "models." + "a" * 50, "longer than App Service's 60"),
    ({"one": {**DIABETES, "customDomain": {"hostName": "score.contoso.com"}},
      "two": {**CHURN, "customDomain": {"hostName": "score.contoso.com"}}},
     "models.two.customDomain.hostName", "is also models.one's custom domain"),
    ({}, "models", "lists no model"),
])
def test_a_bad_models_map_names_the_key(models, key, fragment):
    text = problems_of("dev", **fleet(**models)) if models else problems_of("dev", model=None, code=None, models={})
    assert f"model-webapp:{key}" in text and fragment in text


def test_every_problem_of_several_services_is_listed_at_once():
    text = problems_of("dev", sku="X9", **fleet(one={"model": {"name": "a"}}, two={**CHURN, "sshEnabled": "yes"},
                                                three={"model": DIABETES["model"], "code": {"sourceDir": "nope"}}))
    for line in ("model-webapp:sku", "models.one.model.version", "models.two.sshEnabled",
                 "models.three.code.sourceDir"):
        assert f"model-webapp:{line}" in text or line in text
    assert text.count("\n  - ") >= 4
