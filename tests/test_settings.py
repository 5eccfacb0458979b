"""Stack settings: every bad value named, all of them at once, before any resource is declared."""
from __future__ import annotations

import pulumi
import pytest

from settings.config_schema import NAMESPACE
from settings.stack_settings import Settings
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
    with pytest.raises(AttributeError):
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
