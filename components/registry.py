"""The workspace's container registry, found from the workspace as Azure ML records it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import containerregistry, machinelearningservices, resources

from settings.clouds import Cloud
from settings.stack_settings import Settings, Workspace

# Built-in role ids (Microsoft Learn, "Azure built-in roles for Containers").
ACR_PULL_ROLE = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
REPOSITORY_READER_ROLE = "b93aa761-3e63-49ed-ac28-beffa264f7ac"  # Repository Reader; fact: registry-abac-roles
# roleAssignmentMode is in the registry API from 2025-03-01-preview, stable in 2025-11-01; azure-native 3.29's
# getRegistry uses 2023-01-01-preview, which lacks it, so the generic resource read asks for this version.
ROLE_MODE_API_VERSION = "2025-11-01"
ABAC_MODE = "AbacRepositoryPermissions"
REGISTRY_ID = re.compile(
    r"^/subscriptions/(?P<subscription_id>[^/]+)/resourceGroups/(?P<resource_group>[^/]+)"
    r"/providers/Microsoft\.ContainerRegistry/registries/(?P<name>[^/]+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RegistryId:
    id: str
    subscription_id: str
    resource_group: str
    name: str

    def pull_role_definition_id(self, abac: bool) -> str:
        """AcrPull, or Container Registry Repository Reader on a registry in ABAC mode (which ignores AcrPull)."""
        role = REPOSITORY_READER_ROLE if abac else ACR_PULL_ROLE
        return f"/subscriptions/{self.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"


def parse_registry_id(value: str | None, workspace: Workspace) -> RegistryId:
    where = f"workspace {workspace.name} (resource group {workspace.resource_group})"
    if not value:
        raise pulumi.RunError(
            f"{where} has no container registry yet. Azure ML creates it on the first image build: "
            "build or register an environment in the workspace once, or attach a registry to it, then run again."
        )
    match = REGISTRY_ID.match(value)
    if match is None:
        raise pulumi.RunError(f"{where} reports a container registry id that is not an ARM registry id: {value!r}")
    return RegistryId(id=value, **match.groupdict())


@dataclass(frozen=True)
class WorkspaceRegistry:
    """Outputs describing the registry; `ref` is the parsed id."""

    ref: pulumi.Output[RegistryId]
    login_server: pulumi.Output[str]
    admin_user_enabled: pulumi.Output[bool]
    abac: pulumi.Output[bool]  # repository permissions (ABAC) mode: pulls need Repository Reader, not AcrPull


def find_workspace_registry(settings: Settings, provider: pulumi.ProviderResource) -> WorkspaceRegistry:
    workspace, invoke = settings.workspace, pulumi.InvokeOutputOptions(provider=provider)
    found = machinelearningservices.get_workspace_output(
        resource_group_name=workspace.resource_group, workspace_name=workspace.name, opts=invoke
    )
    ref = found.container_registry.apply(lambda value: parse_registry_id(value, workspace))
    registry = containerregistry.get_registry_output(
        resource_group_name=ref.resource_group, registry_name=ref.name, opts=invoke
    )
    login_server = registry.login_server.apply(_require_login_server)
    reads_mode = settings.registry_permissions == "auto" and settings.uses_managed_identity
    over_vnet = settings.network is not None and settings.network.pulls_over_vnet
    # One read serves both: the permission mode, and whether a pull through the VNet can reach the registry.
    found = resources.get_resource_output(
        api_version=ROLE_MODE_API_VERSION, resource_provider_namespace="Microsoft.ContainerRegistry",
        parent_resource_path="", resource_type="registries", resource_group_name=ref.resource_group,
        resource_name=ref.name, opts=invoke) if reads_mode or over_vnet else None
    abac = found.properties.apply(_is_abac) if found is not None and reads_mode else \
        pulumi.Output.from_input(settings.registry_permissions == "abac")
    if found is not None and over_vnet:
        # Through the login server, which every site's image names, so a refusal stops the deployment.
        checked = pulumi.Output.all(found.sku, found.properties, login_server).apply(
            lambda v: _vnet_pull_problem(v[0], v[1], v[2], settings.cloud))
        login_server = pulumi.Output.all(login_server, checked).apply(lambda v: v[0])
    return WorkspaceRegistry(ref=ref, login_server=login_server, admin_user_enabled=registry.admin_user_enabled,
                             abac=abac)


def _vnet_pull_problem(sku: Any, properties: dict | None, login_server: str, cloud: Cloud) -> None:
    """With pullImageOverVnet: refuses a registry nothing on the VNet can reach, and says what the user must provide."""
    tier = (sku or {}).get("name") if isinstance(sku, dict) else getattr(sku, "name", None)
    public = (properties or {}).get("publicNetworkAccess") or "Enabled"
    where = f"the workspace's registry {login_server} ({tier or 'SKU not reported'}, public network access {public})"
    # fact: net-registry-private-link-premium
    if tier != "Premium" and public == "Disabled":
        raise pulumi.RunError(
            f"{where} cannot be reached: its public access is off, and only a Premium registry can have the private "
            f"endpoint a pull through the VNet would use. Upgrade it to Premium and give it a private endpoint reachable "
            f"from network.integrationSubnetId ({cloud.registry_private_dns_zone} linked to that VNet), or enable its "
            "public access and let the subnet's routes reach it")
    if public == "Disabled":
        pulumi.log.warn(
            f"network.pullImageOverVnet: {where} is reached only through its private endpoints: one must be reachable "
            f"from network.integrationSubnetId, with {cloud.registry_private_dns_zone} (the login server and the "
            "registry's regional data endpoint records) linked to that VNet; the stack cannot see that from here, and "
            "a wrong route shows as the site's image pull failing")
    else:
        private = "" if tier == "Premium" else " (a private endpoint needs the Premium SKU)"
        pulumi.log.warn(
            f"network.pullImageOverVnet: {where} is pulled from through the VNet, so the integration subnet's routes, "
            f"NSGs and firewall must let the sites reach its public endpoint, or give it a private endpoint{private} "
            f"reachable from network.integrationSubnetId with {cloud.registry_private_dns_zone} linked to that VNet")


def _is_abac(properties: dict | None) -> bool:
    # An older registry, or an API that predates the property, reports nothing: that is the RBAC (legacy) mode.
    mode = (properties or {}).get("roleAssignmentMode") or "LegacyRegistryPermissions"
    if mode not in (ABAC_MODE, "LegacyRegistryPermissions"):
        raise pulumi.RunError(f"the workspace's registry reports roleAssignmentMode {mode!r}, which this stack does not "
                              "know: set model-webapp:registryPermissions to rbac or abac")
    return mode == ABAC_MODE


def _require_login_server(value: str | None) -> str:
    if not value:
        raise pulumi.RunError("the workspace's container registry reports no login server")
    return value
