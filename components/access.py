"""Who may call the site: App Service access restrictions from model-webapp:access, default Deny when set.

App Service's own health check is sent to the site internally (Microsoft Learn, "Monitor App Service instances
using Health check"), not through the front ends where these rules apply, so it keeps working; live, unverified here
(fact: site-health-check-behind-ip-restrictions).
"""
from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi_azure_native import web

from settings.stack_settings import Access

FRONT_DOOR_TAG = "AzureFrontDoor.Backend"
# "IPv4 address ranges that start with 10. and 100. are internal to your deployment. You should allow them to connect
# to your app" (Microsoft Learn, deploy-staging-slots, Troubleshoot swaps): the swap's warm-up comes from there.
# fact: access-swap-warmup-ranges
SWAP_WARMUP_RANGES = ("10.0.0.0/8", "100.0.0.0/8")
SWAP_WARMUP_PRIORITY = 400  # after the stack's own rules: they are what a reader looks for first


def restriction_args(access: Optional[Access],
                     front_door_id: Optional[pulumi.Input[str]] = None) -> dict[str, Any]:
    """site_config arguments: the allow rules, Deny for everyone else, the SCM site under the same rules.
    `front_door_id`: the stack's own Front Door profile (several regions): then it is the only caller admitted (the
    settings refuse `access` beside it)."""
    if access is None and front_door_id is None:
        return {}
    rules = [web.IpSecurityRestrictionArgs(name=f"allow-range-{i + 1}", ip_address=cidr, action="Allow",
                                           priority=100 + i)
             for i, cidr in enumerate(access.allowed_ip_ranges or [])] if access else []
    admitted = front_door_id if front_door_id is not None else access.allow_azure_front_door_id
    if admitted:
        # The service tag admits every Front Door; the header admits only ours (Microsoft Learn, "App Service
        # access restrictions": restrict access to a specific Azure Front Door instance).
        # fact: fd-fdid-header-names-the-profile
        rules.append(web.IpSecurityRestrictionArgs(
            name="allow-front-door", tag="ServiceTag", ip_address=FRONT_DOOR_TAG, action="Allow", priority=300,
            headers={"x-azure-fdid": [admitted]}))
    return dict(ip_security_restrictions=rules, ip_security_restrictions_default_action="Deny",
                scm_ip_security_restrictions_use_main=True)


def slot_restriction_rules(access: Optional[Access], front_door_id: Optional[pulumi.Input[str]] = None
                           ) -> Optional[list[web.IpSecurityRestrictionArgs]]:
    """The slot's rules: production's, plus the swap's internal warm-up ranges. Access rules are not swapped, so these
    stay on the slot; production keeps exactly its own. None when the stack sets no access (nothing to add to)."""
    if access is None and front_door_id is None:
        return None
    # fact: access-rules-not-swapped
    warmup = [web.IpSecurityRestrictionArgs(name=f"allow-swap-warmup-{cidr.split('.')[0]}", ip_address=cidr,
                                            action="Allow", priority=SWAP_WARMUP_PRIORITY + i,
                                            description="App Service's own swap warm-up (internal addresses)")
              for i, cidr in enumerate(SWAP_WARMUP_RANGES)]
    return [*restriction_args(access, front_door_id)["ip_security_restrictions"], *warmup]
