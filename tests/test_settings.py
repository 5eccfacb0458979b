"""Stack settings: every bad value named, all of them at once, before any resource is declared."""
from __future__ import annotations

import pulumi
import pydantic
import pytest

from settings.stack_settings import NAMESPACE, Settings
from tests.helpers import stack_values
from offline.mock_engine import start_mocks


def settings_of(stack: str = "dev", **overrides) -> Settings:
    start_mocks(stack_values(stack, **overrides), stack)
    return Settings.from_config(pulumi.Config(NAMESPACE), stack=stack)


def problems_of(stack: str = "dev", **overrides) -> str:
    with pytest.raises(pulumi.RunError) as raised:
        settings_of(stack, **overrides)
    return str(raised.value)


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
    (dict(sku="X9"), "sku", "must be one of"),
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
    assert f"{NAMESPACE}:zzz = '1': unknown key; known keys: location, namePrefix, sku" in message


def test_our_own_words_reach_the_user_not_pydantics():
    message = problems_of("dev", sku="X9", serverPort="eighty", autoscale={"enabled": "yes", "minInstances": 0},
                          auth={"enabled": True, "allowedAudiences": []}, tags=["a"], code="model/src",
                          serverEnvironment={"bad-name": "1"}, modelMountMode="stream")
    for pydantic_words in ("Input should", "pydantic", "type=", "For further information", "Value error", "[key]"):
        assert pydantic_words not in message
    for line in ("sku = 'X9': must be one of F1,", "serverPort = 'eighty': must be a whole number from 1024 to 65535",
                 "autoscale.enabled = 'yes': must be true or false", "autoscale.minInstances = 0: must be from 1 to 30",
                 "auth.allowedAudiences = []: must not be empty", "tags = [\"a\"]: must be an object of names",
                 "code = 'model/src': must be an object", "serverEnvironment.bad-name = 'bad-name': is not an "
                 "environment variable name", "modelMountMode = 'stream': must be one of download, copy"):
        assert f"{NAMESPACE}:{line}" in message, line


def test_settings_come_from_the_model_defaults_when_keys_are_absent():
    s = settings_of("dev", location=None, namePrefix=None, serverPort=None)
    assert (s.location, s.name_prefix, s.server_port, s.code.entry_script) == ("westeurope", "mw", 5001, "score.py")
