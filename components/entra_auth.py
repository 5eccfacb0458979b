"""Entra ID (Azure AD) authentication for the scoring API: anonymous callers get 401."""
from __future__ import annotations

from pulumi_azure_native import web

from settings.clouds import PUBLIC, Cloud
from settings.stack_settings import EntraAuth


def auth_settings_args(auth: EntraAuth, health_path: str, cloud: Cloud = PUBLIC) -> dict:
    return dict(
        platform=web.AuthPlatformArgs(enabled=True),
        global_validation=web.GlobalValidationArgs(
            require_authentication=True,
            unauthenticated_client_action=web.UnauthenticatedClientActionV2.RETURN401,
            # The swap's warm-up ping (WEBSITE_SWAP_WARMUP_PING_PATH) carries no token and must get a 200, not a 401.
            # The platform health check needs no exclusion: it "integrates with App Service's authentication and
            # authorization features. No other settings are required" (monitor-instances-health-check.md).
            # An excluded path is taken to match exactly (a subtree needs "/path/*", Microsoft's answer in azure-docs
            # issue 86514), so excluding "/" leaves /score protected: no doc says so, and every release checks that
            # an anonymous POST /score still gets 401. fact: auth-excluded-path-match
            # fact: auth-health-check-needs-no-exclusion
            excluded_paths=[health_path],
        ),
        http_settings=web.HttpSettingsArgs(require_https=True),
        identity_providers=web.IdentityProvidersArgs(
            azure_active_directory=web.AzureActiveDirectoryArgs(
                enabled=True,
                registration=web.AzureActiveDirectoryRegistrationArgs(
                    client_id=auth.client_id,
                    # The issuer of the cloud's v2.0 tokens: a token of another cloud's authority is refused.
                    open_id_issuer=cloud.issuer(auth.tenant_id),  # fact: cloud-auth-issuer
                ),
                validation=web.AzureActiveDirectoryValidationArgs(
                    allowed_audiences=list(auth.audiences),
                    default_authorization_policy=_who_may_call(auth),
                ),
            )
        ),
    )


def _who_may_call(auth: EntraAuth) -> web.DefaultAuthorizationPolicyArgs | None:
    """The built-in authorization policy: only the listed client applications (the token's appid/azp) and
    identities (its oid) get through, others get 403. Unset, any application in the tenant gets in."""
    # fact: auth-any-tenant-app-without-allowed-applications
    if not (auth.allowed_client_applications or auth.allowed_principals):
        return None  # no policy block at all: stacks that set neither keep the settings they were deployed with
    return web.DefaultAuthorizationPolicyArgs(
        allowed_applications=list(auth.allowed_client_applications) if auth.allowed_client_applications else None,
        allowed_principals=web.AllowedPrincipalsArgs(identities=list(auth.allowed_principals))
        if auth.allowed_principals else None,
    )
