"""ModelWebApp: a packaged Azure ML model served from a Linux App Service web app."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_azure_native as azure_native
from pulumi_azure_native import monitor, resources, web

from .access import restriction_args
from .entra_auth import auth_settings_args
from settings.images import parse_image
from .registry import find_workspace_registry
from .registry_access import pull_with_admin_credentials, pull_with_identity
from .scaling import cpu_profile
from settings.stack_settings import Settings

HEALTH_CHECK_PATH = "/"


@dataclass
class ModelWebAppArgs:
    settings: Settings
    image: pulumi.Input[str]


def _same_registry(image: str, login_server: str) -> str:
    ref = parse_image(image)
    if ref["login_server"] != login_server:
        raise pulumi.RunError(
            f"image {image} is in registry {ref['login_server']}, but the workspace's registry is {login_server}: "
            "the web app is only granted pull access to the workspace's registry"
        )
    return image


class ModelWebApp(pulumi.ComponentResource):
    scoring_uri: pulumi.Output[str]
    app_name: pulumi.Output[str]
    resource_group_name: pulumi.Output[str]
    image: pulumi.Output[str]

    def __init__(self, name: str, args: ModelWebAppArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("model-webapp:index:ModelWebApp", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(s.tags)

        # The workspace may live in another subscription than the stack's default provider.
        workspace_provider = azure_native.Provider(
            f"{name}-workspace", subscription_id=s.workspace.subscription_id, opts=child
        )
        registry = find_workspace_registry(s, workspace_provider)

        group = resources.ResourceGroup(f"{name}-rg", location=s.location, tags=tags, opts=child)
        plan = web.AppServicePlan(
            f"{name}-plan",
            resource_group_name=group.name,
            location=s.location,
            kind="Linux",
            reserved=True,
            sku=web.SkuDescriptionArgs(name=s.sku.name, tier=s.sku.tier, capacity=s.instance_count),
            tags=tags,
            # With autoscale on, the autoscale setting owns the instance count: a refresh must not read its
            # scale-out as drift and the next up reset it. Nested paths are the engine's camelCase ones.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["sku.capacity"] if s.autoscale.enabled else None),
        )

        if s.uses_managed_identity:
            pull = pull_with_identity(name, s, registry, group, self)
        else:
            pull = pull_with_admin_credentials(s, registry, workspace_provider)
        image = pulumi.Output.all(args.image, registry.login_server).apply(lambda v: _same_registry(*v))

        app_settings = [
            web.NameValuePairArgs(name="WEBSITES_PORT", value=str(s.server_port)),
            web.NameValuePairArgs(name="WEBSITES_ENABLE_APP_SERVICE_STORAGE", value="false"),
            web.NameValuePairArgs(name="WEBSITES_CONTAINER_START_TIME_LIMIT", value=str(s.container_start_time_limit)),
            web.NameValuePairArgs(name="WORKER_COUNT", value=str(s.worker_count)),
            *pull.app_settings,
        ]
        site = web.WebApp(
            f"{name}-app",
            resource_group_name=group.name,
            location=s.location,
            server_farm_id=plan.id,
            kind="app,linux,container",
            reserved=True,
            https_only=True,
            ssh_enabled=s.ssh_enabled,
            identity=pull.identity,
            site_config=web.SiteConfigArgs(
                linux_fx_version=image.apply(lambda i: f"DOCKER|{i}"),
                app_settings=app_settings,
                min_tls_version="1.2",
                scm_min_tls_version="1.2",
                ftps_state="Disabled",
                http20_enabled=True,
                remote_debugging_enabled=False,
                always_on=s.sku.has_always_on,
                health_check_path=HEALTH_CHECK_PATH,
                **restriction_args(s.access),
                **pull.site_config,
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=pull.depends_on),
        )

        web.WebAppFtpAllowed(
            f"{name}-ftp-basic-auth", name=site.name, resource_group_name=group.name, allow=False, opts=child
        )
        web.WebAppScmAllowed(
            f"{name}-scm-basic-auth", name=site.name, resource_group_name=group.name, allow=False, opts=child
        )
        if s.autoscale.enabled:
            monitor.AutoscaleSetting(
                f"{name}-autoscale",
                resource_group_name=group.name,
                location=s.location,
                target_resource_uri=plan.id,
                enabled=True,
                profiles=[cpu_profile(s.autoscale, plan.id)],
                tags=tags,
                opts=child,
            )
        if s.auth.enabled:
            web.WebAppAuthSettingsV2(
                f"{name}-auth", name=site.name, resource_group_name=group.name, **auth_settings_args(s.auth), opts=child
            )

        self.scoring_uri = site.default_host_name.apply(lambda host: f"https://{host}/score")
        self.app_name = site.name
        self.resource_group_name = group.name
        self.image = image
        self.register_outputs({
            "scoring_uri": self.scoring_uri,
            "app_name": self.app_name,
            "resource_group_name": self.resource_group_name,
            "image": self.image,
        })
