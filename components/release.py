"""The staging slot a site releases through, and the health-gated swap into production.

Per site: the slot and its swap belong to the site they release (several sites may share one plan later).
A swap does not carry identities, restrictions, basic-auth or auth settings: the slot gets its own, the same
as production's, from the same definition; with `access`, the slot's rules also admit the swap's internal warm-up.
The in-place path (no slot) gets its wait here too: `rollout` registers SiteRollout after the site.
"""
from __future__ import annotations

import copy
from typing import Any, Optional, Sequence

import pulumi
from pulumi_azure_native import authorization, web

from providers.site_rollout import SiteRollout
from providers.slot_swap import SlotSwap
from settings.clouds import cloud_input
from settings.stack_settings import Settings

from .access import slot_restriction_rules
from .entra_auth import auth_settings_args
from .monitoring import MonitoringHub, diagnostics
from .private_network import private_endpoint, slot_group
from .site import HEALTH_CHECK_PATH, WARMUP_SETTINGS


def staging_slot(name: str, s: Settings, site: web.WebApp, group_name: pulumi.Input[str], args: dict[str, Any],
                 depends_on: list[pulumi.Resource], hub: Optional[MonitoringHub], parent: pulumi.Resource,
                 front_door_id: Optional[pulumi.Input[str]] = None,
                 after: Sequence[pulumi.Resource] = ()) -> SlotSwap:
    """The slot (hardened like production), its basic-auth and auth settings, sticky names, and the swap.
    `after`: releases that must have passed first (the previous region's swap): a gate failing there stops this one."""
    slot_name = s.release.slot_name
    warmup_rules = slot_restriction_rules(s.access, front_door_id)
    if warmup_rules is not None:  # the swap's warm-up must get through the slot's default Deny
        slot_config = copy.copy(args["site_config"])
        slot_config.ip_security_restrictions = warmup_rules
        args = {**args, "site_config": slot_config}
    # Created with the image; from then on the swap writes each new image into the slot and swaps it, so after a
    # release the slot holds the previous image on purpose: not drift for a refresh to undo.
    slot = web.WebAppSlot(f"{name}-slot", name=site.name, resource_group_name=group_name, slot=slot_name, **args,
                          opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on,
                                                      ignore_changes=["siteConfig.linuxFxVersion"]))
    on_slot = pulumi.ResourceOptions(parent=parent, depends_on=[slot])
    diagnostics(f"{name}-slot", hub, slot, parent)  # a swap does not carry diagnostic settings
    guards: list[pulumi.Resource] = [
        web.WebAppFtpAllowedSlot(f"{name}-slot-ftp-basic-auth", name=site.name, resource_group_name=group_name,
                                 slot=slot_name, allow=False, opts=on_slot),
        web.WebAppScmAllowedSlot(f"{name}-slot-scm-basic-auth", name=site.name, resource_group_name=group_name,
                                 slot=slot_name, allow=False, opts=on_slot),
        # The warm-up settings govern the swap of the slot they sit on: they stay with it.
        web.WebAppSlotConfigurationNames(f"{name}-sticky-settings", name=site.name, resource_group_name=group_name,
                                         app_setting_names=list(WARMUP_SETTINGS), opts=on_slot),
    ]
    # A slot's endpoint is made on the parent site; it stays with the slot through swaps.
    endpoint = private_endpoint(f"{name}-slot-pe", s, site.id, slot_group(slot_name), group_name, parent, [slot])
    if endpoint is not None:
        guards.append(endpoint)
    if s.auth.enabled:
        guards.append(web.WebAppAuthSettingsV2Slot(f"{name}-slot-auth", name=site.name, resource_group_name=group_name,
                                                   slot=slot_name, **auth_settings_args(s.auth, HEALTH_CHECK_PATH, s.cloud),
                                                   opts=on_slot))
    return SlotSwap(f"{name}-swap", {
        **_release_inputs(s, site, group_name, args["site_config"].linux_fx_version, parent), "slot_name": slot_name,
    }, opts=pulumi.ResourceOptions(parent=parent, depends_on=[slot, *guards, *after]))


def _release_inputs(s: Settings, site: web.WebApp, group_name: pulumi.Input[str], expected_image: Any,
                    parent: pulumi.Resource) -> dict[str, Any]:
    """What both release resources are told: which site, which image, and what a healthy answer is."""
    subscription = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=parent))
    return {
        "subscription_id": subscription.subscription_id,
        "resource_group": group_name,
        "site_name": site.name,
        "expected_image": expected_image,
        "health_path": HEALTH_CHECK_PATH,
        "health_timeout_minutes": s.release.health_timeout_minutes,
        "smoke_rows": s.smoke_rows,
        "auth_audience": s.auth.audiences[0] if s.auth.enabled else None,
        **cloud_input(s.cloud),
    }

def rollout(name: str, s: Settings, site: web.WebApp, group_name: pulumi.Input[str], linux_fx_version: Any,
            depends_on: Sequence[pulumi.Resource], parent: pulumi.Resource) -> SiteRollout:
    """In place: the `up` ends when the site serves its new image (replaced whenever the linuxFxVersion changes)."""
    return SiteRollout(f"{name}-rollout", _release_inputs(s, site, group_name, linux_fx_version, parent),
                       opts=pulumi.ResourceOptions(parent=parent, depends_on=[site, *depends_on]))
