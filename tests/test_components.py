"""Platform and ModelService on their own, in the style of Pulumi's testing-unit-py: mocks per test, outputs awaited."""
from __future__ import annotations

import pulumi
from pulumi_azure_native import web

from components.image_source import StackImage
from components.model_service import ModelService, ModelServiceArgs
from components.platform import Hosting, Platform, PlatformArgs
from components.registry_access import RegistryPull
from offline.mock_engine import start_mocks
from settings.stack_settings import NAMESPACE, Settings
from tests.helpers import PLAN, WEB_APP, stack_values

IMAGE = "mlwmodelsregistry.azurecr.io/package@sha256:" + "1" * 64


def _settings() -> Settings:
    return Settings.from_config(pulumi.Config(NAMESPACE), stack="dev")


def _ready(image: str = IMAGE) -> StackImage:
    return StackImage(pulumi.Output.from_input(image), pulumi.Output.from_input(5001), None)


@pulumi.runtime.test
def test_two_services_on_one_platform_do_not_clash_and_share_its_plan():
    monitor = start_mocks(stack_values("dev"), "dev")
    settings = _settings()
    platform = Platform("shared", PlatformArgs(settings))
    blue = ModelService("blue", ModelServiceArgs(settings, platform.hosting, image=_ready()))
    green = ModelService("green", ModelServiceArgs(settings, platform.hosting, image=_ready()))

    def check(_):
        urns = [r.urn for r in monitor.registrations]
        assert len(urns) == len(set(urns))
        sites = {r.name: r for r in monitor.registrations if r.type == WEB_APP}
        assert set(sites) == {"blue-app", "green-app"}
        (plan,) = [r for r in monitor.registrations if r.type == PLAN]
        assert plan.name == "shared-plan"
        farms = {site.inputs["serverFarmId"] for site in sites.values()}
        assert len(farms) == 1 and "shared-plan" in farms.pop()
        assert plan.urn in sites["blue-app"].dependencies and plan.urn in sites["green-app"].dependencies

    return pulumi.Output.all(blue.scoring_uri, green.scoring_uri).apply(check)


@pulumi.runtime.test
def test_a_service_runs_on_a_plan_and_identity_from_elsewhere():
    # No Platform: the plan, group and pull identity of another stack or team, given as plain values.
    monitor = start_mocks(stack_values("dev"), "dev")
    plan_id = "/subscriptions/0/resourceGroups/shared/providers/Microsoft.Web/serverfarms/team-plan"
    identity = "/subscriptions/0/resourceGroups/shared/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pull"
    pull = RegistryPull(identity=web.ManagedServiceIdentityArgs(type="UserAssigned", user_assigned_identities=[identity]),
                        site_config={"acr_use_managed_identity_creds": True, "acr_user_managed_identity_id": "cid"})
    hosting = Hosting(resource_group_name="shared", plan_id=plan_id, registry_login_server="mlwmodelsregistry.azurecr.io",
                      pull=pull)
    app = ModelService("solo", ModelServiceArgs(_settings(), hosting, image=_ready()))

    def check(args):
        image, component_urn, _uri = args
        (site,) = [r for r in monitor.registrations if r.type == WEB_APP]
        assert site.inputs["serverFarmId"] == plan_id and site.inputs["resourceGroupName"] == "shared"
        assert site.inputs["identity"]["userAssignedIdentities"] == [identity]
        assert site.inputs["siteConfig"]["acrUserManagedIdentityID"] == "cid"
        assert site.inputs["siteConfig"]["linuxFxVersion"] == f"DOCKER|{IMAGE}"
        assert site.parent == component_urn and component_urn.endswith("model-webapp:index:ModelService::solo")
        assert not [r for r in monitor.registrations if r.type == PLAN]  # it made no plan of its own
        assert image == IMAGE

    return pulumi.Output.all(app.image, app.urn, app.scoring_uri).apply(check)
