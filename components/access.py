"""Who may call the site: App Service access restrictions from model-webapp:access, default Deny when set.

App Service's own health check is sent to the site internally (Microsoft Learn, "Monitor App Service instances
using Health check"), not through the front ends where these rules apply, so it keeps working; live, unverified here.
"""
from __future__ import annotations

from typing import Any, Optional

from pulumi_azure_native import web

from settings.stack_settings import Access

FRONT_DOOR_TAG = "AzureFrontDoor.Backend"


def restriction_args(access: Optional[Access]) -> dict[str, Any]:
    """site_config arguments: the allow rules, Deny for everyone else, the SCM site under the same rules."""
    if access is None:
        return {}
    rules = [web.IpSecurityRestrictionArgs(name=f"allow-range-{i + 1}", ip_address=cidr, action="Allow",
                                           priority=100 + i)
             for i, cidr in enumerate(access.allowed_ip_ranges or [])]
    if access.allow_azure_front_door_id:
        # The service tag admits every Front Door; the header admits only ours (Microsoft Learn, "App Service
        # access restrictions": restrict access to a specific Azure Front Door instance).
        rules.append(web.IpSecurityRestrictionArgs(
            name="allow-front-door", tag="ServiceTag", ip_address=FRONT_DOOR_TAG, action="Allow", priority=300,
            headers={"x-azure-fdid": [access.allow_azure_front_door_id]}))
    return dict(ip_security_restrictions=rules, ip_security_restrictions_default_action="Deny",
                scm_ip_security_restrictions_use_main=True)
