"""ModelWebApp: a packaged Azure ML model served from a Linux App Service web app."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_azure_native as azure_native
from pulumi_azure_native import monitor, resources, web

from settings.images import parse_image
from settings.stack_settings import Settings

from .custom_domain import bind_custom_domain
from .entra_auth import auth_settings_args
from .monitoring import diagnostics, plan_alert, shared_monitoring, site_alerts, telemetry_settings
from .registry import find_workspace_registry
from .registry_access import pull_with_admin_credentials, pull_with_identity
from .release import rollout, staging_slot
from .scaling import cpu_profile
from .site import HEALTH_CHECK_PATH, site_args



@dataclass
class ModelWebAppArgs:
    settings: Settings
    image: pulumi.Input[str]
    server_port: Optional[pulumi.Input[int]] = None  # the port the image exposes; None: the serverPort setting


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
    staging_slot: pulumi.Output[Optional[str]]  # the slot releases go through, for `make rollback`; None in place
    default_host_name: pulumi.Output[str]  # <app>.azurewebsites.net, custom domain or not
    dns_records_to_create: Optional[pulumi.Output[list]]  # customDomain without dnsZoneId: what the user creates

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

        # Production is created with the image; with a slot, the swap owns it from then on, and a later up must
        # not revert a swapped image (nested paths in ignore_changes are the engine's camelCase ones).
        hub = shared_monitoring(name, s, group, self)
        args = site_args(s, pull, plan.id, image.apply(lambda i: f"DOCKER|{i}"), tags, telemetry_settings(hub),
                         args.server_port)
        site = web.WebApp(
            f"{name}-app",
            resource_group_name=group.name,
            **args,
            opts=pulumi.ResourceOptions(parent=self, depends_on=pull.depends_on,
                                        ignore_changes=["siteConfig.linuxFxVersion"] if s.uses_slot else None),
        )
        swap = staging_slot(name, s, site, group, args, pull.depends_on, hub, self) if s.uses_slot else None
        diagnostics(name, hub, site, self)
        site_alerts(name, hub, group, site, self)
        plan_alert(name, hub, group, plan, self)

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
        auth = web.WebAppAuthSettingsV2(f"{name}-auth", name=site.name, resource_group_name=group.name,
                                        **auth_settings_args(s.auth, HEALTH_CHECK_PATH), opts=child) \
            if s.auth.enabled else None
        if swap is None:  # in place: the `up` ends when the site serves the new image (after auth, for its 401 check)
            rollout(name, s, site, group, args["site_config"].linux_fx_version, [auth] if auth else [], self)

        domain = bind_custom_domain(name, s, site, plan, group, self)  # on production: custom domains do not swap
        self.default_host_name = site.default_host_name
        self.dns_records_to_create = domain.records_to_create if domain else None
        self.scoring_uri = (pulumi.Output.from_input(domain.host_name) if domain else site.default_host_name).apply(
            lambda host: f"https://{host}/score")
        self.app_name = site.name
        self.resource_group_name = group.name
        self.image = image
        self.staging_slot = pulumi.Output.from_input(s.release.slot_name if swap else None)
        self.register_outputs({
            "scoring_uri": self.scoring_uri,
            "app_name": self.app_name,
            "resource_group_name": self.resource_group_name,
            "image": self.image,
            "staging_slot": self.staging_slot,
            "default_host_name": self.default_host_name,
        })
