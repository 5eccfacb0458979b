"""Field hardening: autoscale owns the instance count, ABAC registries, the first pull, SSH, who may call the API."""
from __future__ import annotations

import pulumi
import pytest
from pulumi.runtime.proto import provider_pb2

from offline.fake_azure import FakeAzure
from offline.mock_engine import run_program
from offline.policy_check import evaluate, load_policy_config
from providers.role_propagation import RoleAssignmentWaitProvider
from tests.engine_harness import DynamicProviderPlugin
from tests.helpers import AUTOSCALE, PLAN, ROLE_ASSIGNMENT, WEB_APP, stack_values
from tests.helpers import problems_of

ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
REPOSITORY_READER = "b93aa761-3e63-49ed-ac28-beffa264f7ac"
WAIT = "pulumi-python:dynamic/model-webapp:RoleAssignmentWait"
FRONT_DOOR_ID = "33333333-3333-3333-3333-333333333333"


# -- autoscale owns the instance count ---------------------------------------------------------------
def test_with_autoscale_the_plan_ignores_its_capacity(dev, prod):
    assert prod.one(PLAN).options["ignoreChanges"] == ["sku.capacity"]
    assert dev.one(PLAN).options["ignoreChanges"] == []


def test_both_cpu_triggers_name_their_metric_namespace(prod):
    (profile,) = prod.one(AUTOSCALE).inputs["profiles"]
    assert [r["metricTrigger"]["metricNamespace"] for r in profile["rules"]] == ["microsoft.web/serverfarms"] * 2


# -- registries in ABAC mode ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode, role", [("LegacyRegistryPermissions", ACR_PULL), (None, ACR_PULL),
                                        ("AbacRepositoryPermissions", REPOSITORY_READER)])
def test_the_pull_role_follows_the_registrys_permission_mode(mode, role):
    run = run_program(stack_values("dev"), "dev", FakeAzure(role_assignment_mode=mode))
    (assignment,) = run.of_type(ROLE_ASSIGNMENT)
    assert assignment.inputs["roleDefinitionId"].endswith(f"/providers/Microsoft.Authorization/roleDefinitions/{role}")
    assert assignment.inputs["scope"].endswith("/providers/Microsoft.ContainerRegistry/registries/mlwmodelsregistry")
    assert assignment.urn in run.one(WEB_APP).dependencies
    (read,) = [i for i in run.invokes if i["token"] == "azure-native:resources:getResource"]
    assert read["args"]["apiVersion"] == "2025-11-01" and read["args"]["resourceType"] == "registries"


def test_an_explicit_permission_mode_is_used_without_asking_azure():
    run = run_program(stack_values("dev", registryPermissions="abac"), "dev", FakeAzure())
    assert run.one(ROLE_ASSIGNMENT).inputs["roleDefinitionId"].endswith(REPOSITORY_READER)
    assert not [i for i in run.invokes if i["token"] == "azure-native:resources:getResource"]


def test_an_unknown_permission_mode_is_a_clear_error():
    with pytest.raises(pulumi.RunError, match="roleAssignmentMode 'SomethingNew'.*registryPermissions to rbac or abac"):
        run_program(stack_values("dev"), "dev", FakeAzure(role_assignment_mode="SomethingNew"))


@pytest.mark.parametrize("role", [ACR_PULL, REPOSITORY_READER])
def test_the_least_privilege_rule_catches_a_broader_role_in_both_modes(dev, role):
    run = run_program(stack_values("dev"), "dev", FakeAzure(
        role_assignment_mode="AbacRepositoryPermissions" if role == REPOSITORY_READER else None))
    assignment = run.one(ROLE_ASSIGNMENT)
    assignment.engine_inputs["roleDefinitionId"] = assignment.engine_inputs["roleDefinitionId"].replace(
        role, "b24988ac-6180-42a0-ab88-20f7382dd24c")  # Contributor
    fired = {v["rule"] for v in evaluate(run, load_policy_config("dev")) if v["level"] == "mandatory"}
    assert "acr-pull-least-privilege" in fired


# -- the first pull ------------------------------------------------------------------------------------
def test_the_site_waits_for_its_pull_role_before_it_is_created(dev):
    assignment, wait, site = dev.one(ROLE_ASSIGNMENT), dev.one(WAIT), dev.one(WEB_APP)
    assert assignment.urn in wait.dependencies  # the wait starts from the assignment ...
    assert wait.urn in site.dependencies and assignment.urn in site.dependencies  # ... and the site after both
    assert wait.inputs["seconds"] == 90
    order = [r.urn for r in dev.registrations]
    assert order.index(assignment.urn) < order.index(wait.urn) < order.index(site.urn)


def test_no_wait_when_turned_off_or_when_pulling_by_password():
    assert not run_program(stack_values("dev", firstPullWaitSeconds="0"), "dev").of_type(WAIT)
    assert not run_program(stack_values("dev", registryAccess="adminCredentials"), "dev").of_type(WAIT)


def test_the_wait_provider_waits_once_per_new_assignment():
    slept = []
    provider = RoleAssignmentWaitProvider(sleep=slept.append)
    props = {"assignment_id": "/subscriptions/s/roleAssignments/a1", "seconds": 90.0, "why": "pull"}
    created = provider.create(props)
    assert slept == [90.0] and created.id == "wait-a1"
    assert provider.diff(created.id, props, dict(props)).changes is False
    assert provider.diff(created.id, props, {**props, "seconds": 30.0}).replaces == []
    assert provider.diff(created.id, props, {**props, "assignment_id": "/x/a2"}).replaces == ["assignment_id"]
    provider.update(created.id, props, {**props, "seconds": 30.0})
    assert slept == [90.0]  # a new duration alone waits for nothing


def test_the_wait_provider_over_grpc_as_the_engine_runs_it(dev):
    wait = dev.one(WAIT)
    plugin = DynamicProviderPlugin("dev")
    try:
        inputs, failures = plugin.check(wait.urn, {**wait.engine_inputs, "assignment_id": "/x/a1"})
        assert failures == [] and inputs["seconds"] == 90.0
        _inputs, failures = plugin.check(wait.urn, {**wait.engine_inputs, "assignment_id": "/x/a1", "seconds": 5000})
        assert [prop for prop, _ in failures] == ["seconds"]
        olds = {**wait.engine_inputs, "assignment_id": "/x/a1"}
        assert plugin.diff(wait.urn, olds, dict(olds)).changes == provider_pb2.DiffResponse.DIFF_NONE
        replaced = plugin.diff(wait.urn, olds, {**olds, "assignment_id": "/x/a2"})
        assert list(replaced.replaces) == ["assignment_id"]
    finally:
        plugin.stop()


# -- SSH -------------------------------------------------------------------------------------------------
def test_ssh_is_off_unless_a_stack_turns_it_on(dev):
    assert dev.one(WEB_APP).inputs["sshEnabled"] is False
    run = run_program(stack_values("dev", sshEnabled="true"), "dev")
    assert run.one(WEB_APP).inputs["sshEnabled"] is True
    advisory = {v["rule"]: v["level"] for v in evaluate(run, load_policy_config("dev"))}
    mandatory = {v["rule"]: v["level"] for v in evaluate(run, load_policy_config("prod"))}
    assert advisory["web-app-ssh-disabled"] == "advisory" and mandatory["web-app-ssh-disabled"] == "mandatory"


# -- who may call -----------------------------------------------------------------------------------------
def test_access_restrictions_with_default_deny_and_the_scm_site_under_the_same_rules():
    run = run_program(stack_values("dev", access={"allowedIpRanges": ["203.0.113.0/24", "2001:db8::/32"],
                                                  "allowAzureFrontDoorId": FRONT_DOOR_ID}), "dev")
    config = run.one(WEB_APP).inputs["siteConfig"]
    assert config["ipSecurityRestrictionsDefaultAction"] == "Deny"
    assert config["scmIpSecurityRestrictionsUseMain"] is True
    assert config["ipSecurityRestrictions"] == [
        {"name": "allow-range-1", "ipAddress": "203.0.113.0/24", "action": "Allow", "priority": 100},
        {"name": "allow-range-2", "ipAddress": "2001:db8::/32", "action": "Allow", "priority": 101},
        {"name": "allow-front-door", "tag": "ServiceTag", "ipAddress": "AzureFrontDoor.Backend", "action": "Allow",
         "priority": 300, "headers": {"x-azure-fdid": [FRONT_DOOR_ID]}},
    ]
    assert not [v for v in evaluate(run, load_policy_config("dev")) if v["level"] == "mandatory"]


def test_no_restrictions_without_access(dev):
    config = dev.one(WEB_APP).inputs["siteConfig"]
    assert not {"ipSecurityRestrictions", "ipSecurityRestrictionsDefaultAction",
                "scmIpSecurityRestrictionsUseMain"} & set(config)


@pytest.mark.parametrize("access, key, fragment", [
    ({"allowedIpRanges": ["10.0.0.300/24"]}, "access.allowedIpRanges.0", "CIDR range"),
    ({"allowedIpRanges": ["10.0.0.1/24"]}, "access.allowedIpRanges.0", "host bits zero"),
    ({"allowedIpRanges": ["0.0.0.0/0"]}, "access.allowedIpRanges.0", "allows every address"),
    ({"allowedIpRanges": []}, "access.allowedIpRanges", "must not be empty"),
    ({}, "access.allowedIpRanges", "is not set"),
    ({"allowAzureFrontDoorId": "my-front-door"}, "access.allowAzureFrontDoorId", "GUID"),
    ({"allowedIpRange": ["10.0.0.0/8"]}, "access.allowedIpRange", "did you mean allowedIpRanges?"),
])
def test_every_bad_access_value_is_a_settings_error_naming_its_key(access, key, fragment):
    message = problems_of("dev", access=access)
    line = next((line for line in message.splitlines() if f"model-webapp:{key} " in line), None)
    assert line is not None and fragment in line, message


@pytest.mark.parametrize("overrides, key", [(dict(registryPermissions="acl"), "registryPermissions"),
                                            (dict(firstPullWaitSeconds="3600"), "firstPullWaitSeconds"),
                                            (dict(sshEnabled="maybe"), "sshEnabled")])
def test_the_new_scalar_settings_refuse_bad_values(overrides, key):
    assert f"model-webapp:{key} = " in problems_of("dev", **overrides)
