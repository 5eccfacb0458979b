"""The real __main__.py of each stack under the mock engine: what it declares, in wire form."""
from __future__ import annotations

import pytest

from tests.helpers import (AUTH, AUTOSCALE, PLATFORM, SERVICE, FTP, GROUP, IDENTITY, PLAN, ROLE_ASSIGNMENT, SCM, WEB_APP,
                           app_settings, everything, stack_values)
from offline.fake_azure import FAKE_ADMIN_PASSWORD, FakeAzure
from offline.mock_engine import SECRET, run_program
from offline.project import PACKAGE_TYPE

ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"


def test_dev_declares_the_manual_procedures_resources(dev):
    types = sorted(r.type for r in dev.registrations if r.type.startswith("azure-native:"))
    monitoring = ["azure-native:operationalinsights:Workspace", "azure-native:applicationinsights:Component",
                  "azure-native:monitor:DiagnosticSetting"] + ["azure-native:monitor:MetricAlert"] * 4
    assert types == sorted([GROUP, PLAN, IDENTITY, ROLE_ASSIGNMENT, WEB_APP, FTP, SCM, *monitoring])


def test_prod_adds_autoscale_and_auth(prod):
    types = {r.type for r in prod.registrations}
    assert {GROUP, PLAN, IDENTITY, ROLE_ASSIGNMENT, WEB_APP, FTP, SCM, AUTOSCALE, AUTH} <= types


PLATFORM_TYPES = {GROUP, PLAN, IDENTITY, ROLE_ASSIGNMENT, AUTOSCALE, "pulumi:providers:azure-native",
                  "pulumi-python:dynamic/model-webapp:RoleAssignmentWait", "azure-native:operationalinsights:Workspace",
                  "azure-native:applicationinsights:Component", "azure-native:monitor:ActionGroup"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_shared_parts_are_the_platforms_and_the_rest_the_services(stack, dev, prod):
    run = {"dev": dev, "prod": prod}[stack]
    platform, service = run.one(PLATFORM), run.one(SERVICE)
    assert platform.name == service.name == f"mw-{stack}"  # a one-model stack keeps its resource names
    for r in run.registrations:
        if r in (platform, service) or r.type == "pulumi:pulumi:StackReference":
            continue
        plan_alert = r.type == "azure-native:monitor:MetricAlert" and r.name.endswith("-alert-cpu")
        owner = platform if r.type in PLATFORM_TYPES or plan_alert else service
        assert r.parent == owner.urn, r.name
        assert r.name.startswith(f"{owner.name}-"), r.name


def test_plan_is_linux_with_the_sku(dev, prod):
    for run, sku, tier, capacity in ((dev, "B1", "Basic", 1), (prod, "P1v3", "PremiumV3", 2)):
        plan = run.one(PLAN).inputs
        assert plan["kind"] == "Linux"
        assert plan["reserved"] is True
        assert plan["sku"] == {"name": sku, "tier": tier, "capacity": capacity}


def test_site_wire_inputs_are_secure_by_default(dev):
    site = dev.one(WEB_APP).inputs
    assert site["kind"] == "app,linux,container"
    assert site["reserved"] is True and site["httpsOnly"] is True
    config = site["siteConfig"]
    assert config["linuxFxVersion"].startswith("DOCKER|mlwmodelsregistry.azurecr.io/")
    assert config["minTlsVersion"] == "1.2" and config["scmMinTlsVersion"] == "1.2"
    assert config["ftpsState"] == "Disabled"
    assert config["http20Enabled"] is True
    assert config["remoteDebuggingEnabled"] is False
    assert config["alwaysOn"] is True
    assert config["healthCheckPath"] == "/"
    assert app_settings(dev.one(WEB_APP)) == {
        "WEBSITES_PORT": "5001",
        "WEBSITES_ENABLE_APP_SERVICE_STORAGE": "false",
        "WEBSITES_CONTAINER_START_TIME_LIMIT": "600",
        "WORKER_COUNT": "1",  # B1 has one vCPU
        # telemetry (tests/test_monitoring.py): the key and connection string stay secret in the wire form
        "AML_APP_INSIGHTS_ENABLED": "true", "AML_APP_INSIGHTS_KEY": "[secret]",
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "[secret]", "APP_INSIGHTS_LOG_RESPONSE_ENABLED": "false",
    }


def test_worker_count_follows_the_sku(prod):
    assert app_settings(prod.one(WEB_APP))["WORKER_COUNT"] == "2"  # P1v3 has two vCPUs


def test_always_on_is_off_on_free_tier():
    run = run_program(stack_values("dev", sku="F1"), "dev")
    assert run.one(WEB_APP).inputs["siteConfig"]["alwaysOn"] is False


def test_basic_auth_publishing_is_disabled(dev):
    for typ in (FTP, SCM):
        assert dev.one(typ).inputs["allow"] is False
        assert dev.one(WEB_APP).urn in dev.one(typ).dependencies


def test_managed_identity_pull(dev):
    identity, assignment, site = dev.one(IDENTITY), dev.one(ROLE_ASSIGNMENT), dev.one(WEB_APP)
    a = assignment.inputs
    assert a["roleDefinitionId"].endswith(f"/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL}")
    assert a["scope"].endswith("/providers/Microsoft.ContainerRegistry/registries/mlwmodelsregistry")
    assert a["principalType"] == "ServicePrincipal"
    assert identity.urn in assignment.dependencies
    # The assignment is in place before the site's first pull.
    assert assignment.urn in site.dependencies
    s = site.inputs
    assert s["identity"]["type"] == "UserAssigned"
    assert len(s["identity"]["userAssignedIdentities"]) == 1
    assert s["siteConfig"]["acrUseManagedIdentityCreds"] is True
    assert s["siteConfig"]["acrUserManagedIdentityID"]
    assert not any(k.startswith("DOCKER_REGISTRY_SERVER") for k in app_settings(site))
    assert FAKE_ADMIN_PASSWORD not in everything(dev)
    assert not any("listRegistryCredentials" in i["token"] for i in dev.invokes)


def test_admin_credentials_pull_keeps_the_password_secret():
    run = run_program(stack_values("dev", registryAccess="adminCredentials"), "dev")
    assert not run.of_type(ROLE_ASSIGNMENT) and not run.of_type(IDENTITY)
    settings = app_settings(run.one(WEB_APP))
    assert settings["DOCKER_REGISTRY_SERVER_URL"] == "https://mlwmodelsregistry.azurecr.io"
    assert settings["DOCKER_REGISTRY_SERVER_USERNAME"] == "mlwmodelsregistry"
    assert settings["DOCKER_REGISTRY_SERVER_PASSWORD"] == SECRET
    assert FAKE_ADMIN_PASSWORD not in everything(run)
    assert run.one(WEB_APP).inputs["identity"]["type"] == "SystemAssigned"


def test_admin_credentials_need_the_admin_user():
    import pulumi
    with pytest.raises(pulumi.RunError, match="admin user disabled"):
        run_program(stack_values("dev", registryAccess="adminCredentials"), "dev", FakeAzure(admin_user_enabled=False))


def test_workspace_without_registry_is_a_clear_error():
    import pulumi
    with pytest.raises(pulumi.RunError, match="has no container registry yet"):
        run_program(stack_values("dev"), "dev", FakeAzure(container_registry=""))


def test_image_from_another_registry_is_refused():
    import pulumi
    with pytest.raises(pulumi.RunError, match="only granted pull access to the workspace's registry"):
        run_program(stack_values("dev", image="otherregistry.azurecr.io/package@sha256:" + "a" * 64), "dev")


def test_prod_autoscale_on_cpu(prod):
    setting = prod.one(AUTOSCALE).inputs
    plan = prod.one(PLAN)
    assert plan.urn in prod.one(AUTOSCALE).dependencies
    assert setting["enabled"] is True
    (profile,) = setting["profiles"]
    assert profile["capacity"] == {"minimum": "2", "maximum": "5", "default": "2"}
    triggers = {r["scaleAction"]["direction"]: r["metricTrigger"] for r in profile["rules"]}
    assert triggers["Increase"]["metricName"] == "CpuPercentage"
    assert triggers["Increase"]["operator"] == "GreaterThan" and triggers["Increase"]["threshold"] == 70
    assert triggers["Decrease"]["operator"] == "LessThan" and triggers["Decrease"]["threshold"] == 30
    assert setting["targetResourceUri"] == triggers["Increase"]["metricResourceUri"]


def test_prod_entra_auth_returns_401(prod):
    auth = prod.one(AUTH).inputs
    assert auth["platform"]["enabled"] is True
    assert auth["globalValidation"] == {"requireAuthentication": True, "unauthenticatedClientAction": "Return401",
                                        "excludedPaths": ["/"]}
    aad = auth["identityProviders"]["azureActiveDirectory"]
    assert aad["enabled"] is True
    assert aad["registration"]["clientId"] == "22222222-2222-2222-2222-222222222222"
    assert aad["registration"]["openIdIssuer"] == "https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/v2.0"
    assert aad["validation"]["allowedAudiences"] == ["api://22222222-2222-2222-2222-222222222222"]


def test_dev_has_no_autoscale_or_auth(dev):
    assert not dev.of_type(AUTOSCALE) and not dev.of_type(AUTH)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_tags_carry_the_environment(stack, dev, prod):
    run = {"dev": dev, "prod": prod}[stack]
    for typ in (GROUP, PLAN, WEB_APP, IDENTITY):
        tags = run.one(typ).inputs["tags"]
        assert tags["environment"] == stack and tags["owner"] == "ml-platform"


def test_outputs(dev):
    host = dev.one(WEB_APP)
    assert dev.outputs["scoring_uri"].startswith("https://") and dev.outputs["scoring_uri"].endswith(".azurewebsites.net/score")
    assert dev.outputs["image"] == host.inputs["siteConfig"]["linuxFxVersion"].removeprefix("DOCKER|")
    assert set(dev.outputs) >= {"scoring_uri", "app_name", "resource_group_name", "image", "staging_slot"}


def test_dev_builds_its_own_package_and_the_site_runs_it(dev):
    package = dev.one(PACKAGE_TYPE)
    assert package.inputs["model_name"] == "diabetes-ridge" and package.inputs["model_version"] == "1"
    assert package.inputs["source_dir"] == "model/src" and package.inputs["entry_script"] == "score.py"
    assert len(package.inputs["content_hash"]) == 64
    assert package.urn in dev.one(WEB_APP).dependencies
    assert dev.one(WEB_APP).inputs["siteConfig"]["linuxFxVersion"] == f"DOCKER|{dev.outputs['image']}"


def test_prod_promotes_devs_image_and_builds_nothing(dev, prod):
    assert not prod.of_type(PACKAGE_TYPE)
    (reference,) = [r for r in prod.registrations if r.type == "pulumi:pulumi:StackReference"]
    assert reference.read and reference.name == "dev"
    assert prod.one(WEB_APP).inputs["siteConfig"]["linuxFxVersion"] == f"DOCKER|{dev.outputs['image']}"


def test_a_ready_image_wins_over_building():
    image = "mlwmodelsregistry.azurecr.io/package@sha256:" + "b" * 64
    run = run_program(stack_values("dev", image=image), "dev")
    assert not run.of_type(PACKAGE_TYPE)
    assert run.one(WEB_APP).inputs["siteConfig"]["linuxFxVersion"] == f"DOCKER|{image}"


def test_a_plan_leaves_pickle_as_it_found_it():
    # pulumi's serialize_provider wraps pickle's Pickler methods at every dynamic resource and never unwraps them: a
    # process that plans again and again would nest them until an unrelated pickle hits the recursion limit.
    import pickle

    before = (pickle.Pickler, pickle._Pickler._batch_setitems, pickle._Pickler.save_dict)
    run = run_program(stack_values("dev"), "dev")
    assert run.of_type("pulumi-python:dynamic/model-webapp:ModelPackage")  # a dynamic resource was serialized
    assert (pickle.Pickler, pickle._Pickler._batch_setitems, pickle._Pickler.save_dict) == before
