"""Reading wire-form (camelCase) properties in rules: nested paths, app settings, numbers as the engine sends them."""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Iterable, Iterator, Mapping, Optional

from pulumi_policy.proxy import UnknownValueError

WEB_APP = "azure-native:web:WebApp"
WEB_APP_SLOT = "azure-native:web:WebAppSlot"
SITES = (WEB_APP, WEB_APP_SLOT)  # a slot is held to everything production is
PLAN = "azure-native:web:AppServicePlan"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
AUTOSCALE = "azure-native:monitor:AutoscaleSetting"
AUTH = "azure-native:web:WebAppAuthSettingsV2"
AUTH_SLOT = "azure-native:web:WebAppAuthSettingsV2Slot"
AUTH_SETTINGS = (AUTH, AUTH_SLOT)
FTP_ALLOWED = "azure-native:web:WebAppFtpAllowed"
SCM_ALLOWED = "azure-native:web:WebAppScmAllowed"
DIAGNOSTIC_SETTING = "azure-native:monitor:DiagnosticSetting"
APP_INSIGHTS = "azure-native:applicationinsights:Component"
BASIC_AUTH = (FTP_ALLOWED, SCM_ALLOWED, "azure-native:web:WebAppFtpAllowedSlot", "azure-native:web:WebAppScmAllowedSlot")
HOST_NAME_BINDINGS = ("azure-native:web:WebAppHostNameBinding", "azure-native:web:WebAppHostNameBindingSlot")
CERTIFICATE = "azure-native:web:Certificate"
SNI_BINDING = "pulumi-python:dynamic/model-webapp:SniBinding"  # turns SNI TLS on for a binding after its certificate
PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
# A private endpoint reaches production through group id `sites`, a slot through `sites-<slot>`, both with the app's own
# id as privateLinkServiceId (fact: net-private-endpoint-group-ids).
SITES_GROUP = "sites"
# Every cloud's site host suffix (public, Azure China, Azure US Government): the pack runs on its own and imports
# nothing of the project, so it spells what settings/clouds.py holds; tests/test_clouds.py checks they agree.
DEFAULT_HOST_SUFFIXES = (".azurewebsites.net", ".chinacloudsites.cn", ".azurewebsites.us")
# A lowercase FQDN: what App Service's managed certificate takes (the stack's settings check the same shape).
LOWERCASE_FQDN = re.compile(r"^(?=.{4,64}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")

# Azure Front Door Standard/Premium (several regions): the profile, its parts, and its WAF policy. The WAF policy of
# Front Door Standard/Premium is Microsoft.Network/FrontDoorWebApplicationFirewallPolicies (frontdoor), not
# Application Gateway's (network:WebApplicationFirewallPolicy).
FRONT_DOOR_PROFILE = "azure-native:cdn:Profile"
FRONT_DOOR_ENDPOINT = "azure-native:cdn:AFDEndpoint"
FRONT_DOOR_CUSTOM_DOMAIN = "azure-native:cdn:AFDCustomDomain"
FRONT_DOOR_ORIGIN_GROUP = "azure-native:cdn:AFDOriginGroup"
FRONT_DOOR_ORIGIN = "azure-native:cdn:AFDOrigin"
FRONT_DOOR_ROUTE = "azure-native:cdn:Route"
FRONT_DOOR_SECURITY_POLICY = "azure-native:cdn:SecurityPolicy"
FRONT_DOOR_WAF_POLICY = "azure-native:frontdoor:Policy"
FRONT_DOOR_DOMAINS = (FRONT_DOOR_ENDPOINT, FRONT_DOOR_CUSTOM_DOMAIN)  # what a security policy associates
FRONT_DOOR_SKUS = ("Standard_AzureFrontDoor", "Premium_AzureFrontDoor")  # a cdn Profile of another SKU is classic CDN
# What admits one Front Door profile and no other to a site: the service tag with the header naming the profile's
# frontDoorId. The pack imports nothing of the project, so these spell what components/access.py holds (and the swap's
# warm-up ranges, which a slot also admits); tests/test_front_door_policies.py checks they agree.
FRONT_DOOR_TAG = "AzureFrontDoor.Backend"
FRONT_DOOR_ID_HEADER = "x-azure-fdid"
SWAP_WARMUP_RANGES = ("10.0.0.0/8", "100.0.0.0/8")  # fact: access-swap-warmup-ranges

ACR_PULL_ROLE = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
REPOSITORY_READER_ROLE = "b93aa761-3e63-49ed-ac28-beffa264f7ac"  # what a registry in ABAC mode honours instead
PULL_ROLES = {ACR_PULL_ROLE: "AcrPull", REPOSITORY_READER_ROLE: "Container Registry Repository Reader"}
# Lowest to highest, as plan-minimum-sku ranks them; the tier names ARM expects (settings/skus.py cites them).
TIERS = ("Free", "Shared", "Basic", "Standard", "PremiumV2", "PremiumV3", "PremiumMV3", "PremiumV4", "PremiumMV4")
PINNED_IMAGE = re.compile(r"^DOCKER\|[a-z0-9.-]+(:\d+)?/[a-z0-9]+(?:[._/-][a-z0-9]+)*@sha256:[0-9a-f]{64}$")
REGISTRY_SCOPE = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ContainerRegistry/"
                            r"registries/[^/]+$", re.IGNORECASE)

_MISSING = object()


def value(props: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """props['a']['b'] for path 'a.b'; default when any step is absent.

    A value not known until deployment raises pulumi-policy's UnknownValueError on access (its proxy wraps
    the props, offline as live); the analyzer turns that into an advisory "can't be known during preview".
    """
    current: Any = props
    for step in path.split("."):
        if not isinstance(current, Mapping):
            return default
        current = current.get(step, _MISSING)
        if current is _MISSING or current is None:
            return default
    return current


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()  # what `known` answers for a value the engine cannot know yet (a preview)


def known(props: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """value(), but a value not known until deployment comes back as UNKNOWN instead of stopping the rule: for a stack
    rule that must still judge everything else, and that accepts an unknown where a known value would be checked."""
    try:
        return value(props, path, default)
    except UnknownValueError:
        return UNKNOWN


def known_items(items: Any) -> Iterator[Any]:
    """The elements of a list as `known` sees them: an element not known yet is UNKNOWN, the others as they are."""
    if not isinstance(items, Sequence) or isinstance(items, str):
        return
    for i in range(len(items)):
        try:
            yield items[i]
        except UnknownValueError:
            yield UNKNOWN


def last_segment(resource_id: Any) -> str:
    """The name at the end of an ARM id, lowercased as ARM compares names ("" for anything else)."""
    return str(resource_id).lower().rstrip("/").rsplit("/", 1)[-1] if isinstance(resource_id, str) else ""


def app_settings(props: Mapping[str, Any]) -> dict[str, Any]:
    settings = value(props, "siteConfig.appSettings", [])
    return {s.get("name"): s.get("value") for s in settings or [] if isinstance(s, Mapping)}


def as_number(raw: Any) -> Optional[float]:
    """A number however it arrived: 5001 from a program, 5001.0 through the engine, "5001" in an app setting."""
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def tier_rank(tier: Optional[str]) -> int:
    return TIERS.index(tier) if tier in TIERS else -1


def of_type(resources: Iterable[Any], typ: str) -> list[Any]:
    return [r for r in resources if r.resource_type == typ]
