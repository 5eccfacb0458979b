"""The workspace's container registry, found from the workspace as Azure ML records it."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import containerregistry, machinelearningservices, resources

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
    if settings.registry_permissions != "auto" or not settings.uses_managed_identity:
        abac = pulumi.Output.from_input(settings.registry_permissions == "abac")
    else:
        found = resources.get_resource_output(
            api_version=ROLE_MODE_API_VERSION, resource_provider_namespace="Microsoft.ContainerRegistry",
            parent_resource_path="", resource_type="registries", resource_group_name=ref.resource_group,
            resource_name=ref.name, opts=invoke)
        abac = found.properties.apply(_is_abac)
    return WorkspaceRegistry(ref=ref, login_server=login_server, admin_user_enabled=registry.admin_user_enabled,
                             abac=abac)


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
