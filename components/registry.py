"""The workspace's container registry, found from the workspace as Azure ML records it."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import containerregistry, machinelearningservices

from settings.stack_settings import Workspace

ACR_PULL_ROLE = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
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

    @property
    def acr_pull_role_definition_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL_ROLE}"


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


def find_workspace_registry(workspace: Workspace, provider: pulumi.ProviderResource) -> WorkspaceRegistry:
    invoke = pulumi.InvokeOutputOptions(provider=provider)
    found = machinelearningservices.get_workspace_output(
        resource_group_name=workspace.resource_group, workspace_name=workspace.name, opts=invoke
    )
    ref = found.container_registry.apply(lambda value: parse_registry_id(value, workspace))
    registry = containerregistry.get_registry_output(
        resource_group_name=ref.resource_group, registry_name=ref.name, opts=invoke
    )
    login_server = registry.login_server.apply(_require_login_server)
    return WorkspaceRegistry(ref=ref, login_server=login_server, admin_user_enabled=registry.admin_user_enabled)


def _require_login_server(value: str | None) -> str:
    if not value:
        raise pulumi.RunError("the workspace's container registry reports no login server")
    return value
