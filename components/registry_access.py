"""How the web app pulls its image: a user-assigned identity with AcrPull, or the registry's admin user."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_azure_native import authorization, containerregistry, managedidentity, resources, web

from .registry import WorkspaceRegistry
from settings.stack_settings import Settings


@dataclass
class RegistryPull:
    """What the site needs for its pull: identity, site_config arguments, app settings, dependencies."""

    identity: web.ManagedServiceIdentityArgs
    site_config: dict[str, Any] = field(default_factory=dict)
    app_settings: list[web.NameValuePairArgs] = field(default_factory=list)
    depends_on: list[pulumi.Resource] = field(default_factory=list)


def pull_with_identity(name: str, settings: Settings, registry: WorkspaceRegistry,
                       group: resources.ResourceGroup, parent: pulumi.Resource) -> RegistryPull:
    identity = managedidentity.UserAssignedIdentity(
        f"{name}-pull-identity",
        resource_group_name=group.name,
        location=settings.location,
        tags=dict(settings.tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    # The assignment must exist before the site's first pull, or that pull is refused.
    acr_pull = authorization.RoleAssignment(
        f"{name}-acr-pull",
        scope=registry.ref.id,
        role_definition_id=registry.ref.acr_pull_role_definition_id,
        principal_id=identity.principal_id,
        principal_type="ServicePrincipal",
        description="Lets the model web app pull its image from the Azure ML workspace registry.",
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return RegistryPull(
        identity=web.ManagedServiceIdentityArgs(type="UserAssigned", user_assigned_identities=[identity.id]),
        site_config=dict(acr_use_managed_identity_creds=True, acr_user_managed_identity_id=identity.client_id),
        depends_on=[acr_pull],
    )


def pull_with_admin_credentials(settings: Settings, registry: WorkspaceRegistry,
                                provider: pulumi.ProviderResource) -> RegistryPull:
    def require_admin_user(enabled: bool | None) -> str:
        if not enabled:
            raise pulumi.RunError(
                "registryAccess is adminCredentials but the workspace's registry has its admin user disabled: "
                "enable it (az acr update --admin-enabled true) or set model-webapp:registryAccess managedIdentity"
            )
        return "enabled"

    checked = registry.admin_user_enabled.apply(require_admin_user)
    credentials = containerregistry.list_registry_credentials_output(
        resource_group_name=pulumi.Output.all(registry.ref, checked).apply(lambda r: r[0].resource_group),
        registry_name=registry.ref.name,
        opts=pulumi.InvokeOutputOptions(provider=provider),
    )
    password = pulumi.Output.secret(credentials.passwords.apply(_first_password))
    return RegistryPull(
        # The site still gets an identity of its own, for Key Vault references and the policy that wants one.
        identity=web.ManagedServiceIdentityArgs(type="SystemAssigned"),
        app_settings=[
            web.NameValuePairArgs(name="DOCKER_REGISTRY_SERVER_URL",
                                  value=registry.login_server.apply(lambda s: f"https://{s}")),
            web.NameValuePairArgs(name="DOCKER_REGISTRY_SERVER_USERNAME", value=credentials.username),
            web.NameValuePairArgs(name="DOCKER_REGISTRY_SERVER_PASSWORD", value=password),
        ],
    )


def _first_password(passwords: list | None) -> str:
    values = [p.value for p in passwords or [] if getattr(p, "value", None)]
    if not values:
        raise pulumi.RunError("the workspace's registry returned no admin password")
    return values[0]
