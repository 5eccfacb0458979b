"""ModelWebApp on its own, in the style of Pulumi's testing-unit-py: mocks per test, outputs awaited."""
from __future__ import annotations

import pulumi

from components.model_web_app import ModelWebApp, ModelWebAppArgs
from settings.stack_settings import NAMESPACE, Settings
from tests.helpers import WEB_APP, stack_values
from offline.mock_engine import start_mocks

IMAGE = "mlwmodelsregistry.azurecr.io/package@sha256:" + "1" * 64


def _settings() -> Settings:
    return Settings.from_config(pulumi.Config(NAMESPACE), stack="dev")


@pulumi.runtime.test
def test_two_instances_in_one_stack_do_not_clash():
    monitor = start_mocks(stack_values("dev"), "dev")
    settings = _settings()
    blue = ModelWebApp("blue", ModelWebAppArgs(settings, IMAGE))
    green = ModelWebApp("green", ModelWebAppArgs(settings, IMAGE))

    def check(_):
        urns = [r.urn for r in monitor.registrations]
        assert len(urns) == len(set(urns))
        sites = {r.name for r in monitor.registrations if r.type == WEB_APP}
        assert sites == {"blue-app", "green-app"}

    return pulumi.Output.all(blue.scoring_uri, green.scoring_uri).apply(check)


@pulumi.runtime.test
def test_site_runs_the_image_it_was_given_and_belongs_to_the_component():
    monitor = start_mocks(stack_values("dev"), "dev")
    app = ModelWebApp("t", ModelWebAppArgs(_settings(), pulumi.Output.from_input(IMAGE)))

    def check(args):
        image, component_urn, _uri = args
        (site,) = [r for r in monitor.registrations if r.type == WEB_APP]
        assert site.inputs["siteConfig"]["linuxFxVersion"] == f"DOCKER|{IMAGE}"
        assert site.parent == component_urn
        assert component_urn.endswith("model-webapp:index:ModelWebApp::t")
        assert image == IMAGE

    return pulumi.Output.all(app.image, app.urn, app.scoring_uri).apply(check)
