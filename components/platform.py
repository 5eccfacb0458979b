"""Platform: what every model of a stack shares. One resource group, one Linux plan (its instances run every model's
container), its autoscale and CPU alert, the identity that pulls from the workspace's registry, and the monitoring hub
the sites report to. The services (components/model_service.py) are built on it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_azure_native as azure_native
from pulumi_azure_native import monitor, resources, web

from settings.clouds import provider_environment
from settings.stack_settings import Settings

from .monitoring import MonitoringHub, plan_alert, shared_monitoring
from .private_network import network_notes
from .registry import find_workspace_registry
from .registry_access import RegistryPull, pull_with_admin_credentials, pull_with_identity
from .scaling import cpu_profile

PLATFORM_TYPE = "model-webapp:index:Platform"


@dataclass
class PlatformArgs:
    settings: Settings  # the stack's: only its shared keys are read here


@dataclass(frozen=True)
class Hosting:
    """Where a service runs and how it pulls and reports: a Platform's, or any plan and identity from elsewhere."""
    resource_group_name: pulumi.Input[str]
    plan_id: pulumi.Input[str]
    registry_login_server: pulumi.Input[str]
    pull: RegistryPull
    hub: Optional[MonitoringHub] = None


class Platform(pulumi.ComponentResource):
    resource_group_name: pulumi.Output[str]
    plan_id: pulumi.Output[str]
    registry_login_server: pulumi.Output[str]

    def __init__(self, name: str, args: PlatformArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(PLATFORM_TYPE, name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(s.tags)

        # The workspace may live in another subscription than the stack's default provider.
        # ... and it is in the stack's cloud: an explicit provider does not read azure-native:environment.
        workspace_provider = azure_native.Provider(
            f"{name}-workspace", subscription_id=s.workspace.subscription_id, **provider_environment(s.cloud), opts=child
        )
        registry = find_workspace_registry(s, workspace_provider)
        for note in network_notes(s):
            pulumi.log.warn(note, resource=self)
        group = resources.ResourceGroup(f"{name}-rg", location=s.location, tags=tags, opts=child)
        plan = web.AppServicePlan(
            f"{name}-plan",
            resource_group_name=group.name,
            location=s.location,
            kind="Linux",
            reserved=True,
            sku=web.SkuDescriptionArgs(name=s.sku.name, tier=s.sku.tier, capacity=s.instance_count),
            # Left out when off, so a plan that never was zone-redundant sees no change. Switching an existing
            # plan is an update, where Azure allows it (fact: zone-existing-plan-update).
            **({"zone_redundant": True} if s.zone_redundancy else {}),
            tags=tags,
            # With autoscale on, the autoscale setting owns the instance count: a refresh must not read its
            # scale-out as drift and the next up reset it. Nested paths are the engine's camelCase ones.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["sku.capacity"] if s.autoscale.enabled else None),
        )
        if s.uses_managed_identity:
            pull = pull_with_identity(name, s, registry, group.name, self)
        else:
            pull = pull_with_admin_credentials(s, registry, workspace_provider)
        hub = shared_monitoring(name, s, group.name, self)
        plan_alert(name, hub, group.name, plan.id, self)
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

        self.hosting = Hosting(group.name, plan.id, registry.login_server, pull, hub)
        self.resource_group_name = group.name
        self.plan_id = plan.id
        self.registry_login_server = registry.login_server
        self.register_outputs({
            "resource_group_name": self.resource_group_name,
            "plan_id": self.plan_id,
            "registry_login_server": self.registry_login_server,
        })
