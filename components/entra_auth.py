"""Entra ID (Azure AD) authentication for the scoring API: anonymous callers get 401."""
from __future__ import annotations

from pulumi_azure_native import web

from settings.stack_settings import EntraAuth


def auth_settings_args(auth: EntraAuth, health_path: str) -> dict:
    return dict(
        platform=web.AuthPlatformArgs(enabled=True),
        global_validation=web.GlobalValidationArgs(
            require_authentication=True,
            unauthenticated_client_action=web.UnauthenticatedClientActionV2.RETURN401,
            # Health probes and the swap's warm-up ping must reach the container, not a 401. An excluded path is
            # matched exactly (a subtree needs "/path/*", Microsoft's answer in azure-docs issue 86514), so
            # excluding "/" leaves /score protected.
            excluded_paths=[health_path],
        ),
        http_settings=web.HttpSettingsArgs(require_https=True),
        identity_providers=web.IdentityProvidersArgs(
            azure_active_directory=web.AzureActiveDirectoryArgs(
                enabled=True,
                registration=web.AzureActiveDirectoryRegistrationArgs(
                    client_id=auth.client_id,
                    open_id_issuer=f"https://login.microsoftonline.com/{auth.tenant_id}/v2.0",
                ),
                validation=web.AzureActiveDirectoryValidationArgs(allowed_audiences=list(auth.audiences)),
            )
        ),
    )
