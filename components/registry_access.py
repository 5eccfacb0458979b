"""How the web app pulls its image: a user-assigned identity with a pull role (AcrPull, or Repository Reader on an
ABAC registry) and a wait for it to take effect, or the registry's admin user."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_azure_native import authorization, containerregistry, managedidentity, web

from providers.role_propagation import RoleAssignmentWait
from settings.stack_settings import Settings

from .registry import WorkspaceRegistry


@dataclass
class RegistryPull:
    """What the site needs for its pull: identity, site_config arguments, app settings, dependencies."""

    identity: web.ManagedServiceIdentityArgs
    site_config: dict[str, Any] = field(default_factory=dict)
    app_settings: list[web.NameValuePairArgs] = field(default_factory=list)
    depends_on: list[pulumi.Resource] = field(default_factory=list)


def pull_with_identity(name: str, settings: Settings, registry: WorkspaceRegistry,
                       group_name: pulumi.Input[str], parent: pulumi.Resource) -> RegistryPull:
    identity = managedidentity.UserAssignedIdentity(
        f"{name}-pull-identity",
        resource_group_name=group_name,
        location=settings.location,
        tags=dict(settings.tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    # The assignment must exist before the site's first pull, or that pull is refused.
    pull_role = authorization.RoleAssignment(
        f"{name}-registry-pull",
        scope=registry.ref.id,
        role_definition_id=pulumi.Output.all(registry.ref, registry.abac).apply(
            lambda v: v[0].pull_role_definition_id(abac=v[1])),
        principal_id=identity.principal_id,
        principal_type="ServicePrincipal",
        description="Lets the model web app pull its image from the Azure ML workspace registry.",
        # Named -acr-pull before registries in ABAC mode got a different role: existing stacks keep theirs.
        opts=pulumi.ResourceOptions(parent=parent, aliases=[pulumi.Alias(name=f"{name}-acr-pull")]),
    )
    depends_on: list[pulumi.Resource] = [pull_role]
    if settings.first_pull_wait_seconds:
        depends_on.append(RoleAssignmentWait(
            f"{name}-registry-pull-wait", pull_role.id, settings.first_pull_wait_seconds,
            "the site identity's pull role on the registry", opts=pulumi.ResourceOptions(parent=parent)))
    return RegistryPull(
        identity=web.ManagedServiceIdentityArgs(type="UserAssigned", user_assigned_identities=[identity.id]),
        # fact: registry-acr-pull-identity-settings
        site_config=dict(acr_use_managed_identity_creds=True, acr_user_managed_identity_id=identity.client_id),
        depends_on=depends_on,
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
